/* test_export_gguf.c - clft_export_gguf (src/lora/export_gguf.c): a clft init base and LoRA adapters
 * written as a llama.cpp LoRA GGUF and as merged GGUF models in every dtype, read back with clft's
 * GGUF reader: names, shapes, types, metadata (adapter.lora.alpha, rsLoRA's alpha * sqrt(r), hparams,
 * file type, tokenizer), the Q/K row permutation (B of q and k permuted against the PEFT file, the
 * merged q/k against the merged Hugging Face folder), merged values equal to clft_export_merged's f32
 * merge (f16/bf16 within rounding, q8_0/q4_0 the bytes of the reference quantizer and within a step),
 * a GGUF base giving the same bytes as the folder it was made from, tied embeddings, Qwen2 (no
 * permutation, biases); bad input refused in one line with nothing written.
 * usage: test_export_gguf SCRATCH_DIR */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/core.h"
#include "io/gguf.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "lora/lora.h"
#include "quant/ggml_blocks.h"
#include "tutil.h"
#include "gguf_out_tutil.h"

static char g_dir[4096];

static const char *sub(const char *name) {
    static char buf[8][4200];
    static int k = 0;
    char *p = buf[k++ % 8];
    snprintf(p, 4200, "%s/%s", g_dir, name);
    return p;
}

/* ---- fixtures: bases and adapters ----------------------------------------------------------------- */
static void write_text(const char *path, const char *text) {
    TU_OK(clft_io_write_atomic(path, text, strlen(text)));
}

static void make_base(const char *dir, const char *config_json) {
    const char *cfgp = sub("cfg.json");
    write_text(cfgp, config_json);
    clft_model_init_params ip = clft_model_init_default_params();
    ip.config_path = cfgp;
    ip.seed = 11;
    ip.threads = 1;
    TU_OK(clft_model_init_write(dir, &ip));
}

static const char CFG_LLAMA[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"vocab_size\": 320, \"hidden_size\": "
    "64, \"intermediate_size\": 96, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": "
    "2, \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, "
    "\"tie_word_embeddings\": false, \"initializer_range\": 0.05, \"bos_token_id\": 256, \"eos_token_id\": 257}";
static const char CFG_TIED[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"vocab_size\": 320, \"hidden_size\": "
    "64, \"intermediate_size\": 96, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": "
    "2, \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, "
    "\"tie_word_embeddings\": true, \"initializer_range\": 0.05}";
static const char CFG_QWEN2[] =
    "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\", \"vocab_size\": 320, \"hidden_size\": "
    "64, \"intermediate_size\": 96, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": "
    "2, \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, "
    "\"tie_word_embeddings\": false, \"initializer_range\": 0.05}";

/* adapter values: a fixed function of (tensor, element), so any chunking fills the same numbers */
static float adapter_value(size_t index, uint64_t i) {
    uint64_t s = (uint64_t)index * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;
    return (float)((double)(clft_splitmix64(&s) >> 40) / (double)(1ULL << 24) - 0.5) * 0.4f;
}

static clft_status adapter_fill(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    (void)user;
    float *x = dst;
    for (size_t k = 0; k < bytes / 4; k++)
        x[k] = adapter_value(index, offset / 4 + k);
    return CLFT_OK;
}

static void make_adapter(const char *dir, const char *base, int r, float alpha, int rslora, uint32_t targets) {
    clft_model_config cfg;
    TU_OK(clft_model_config_load(base, &cfg));
    clft_adapter_write_params p;
    memset(&p, 0, sizeof p);
    p.lora.r = r;
    p.lora.alpha = alpha;
    p.lora.use_rslora = rslora;
    p.lora.targets = targets;
    p.base_model = base;
    p.method = CLFT_METHOD_LORA;
    p.base_dtype = CLFT_DTYPE_F32;
    p.qlora_blocksize = 64;
    p.qlora_double_quant = 1;
    p.cfg = &cfg;
    TU_OK(clft_adapter_write(dir, &p, adapter_fill, NULL));
}

/* ---- reading back --------------------------------------------------------------------------------- */
static float *tensor_f32(const clft_gguf *g, const char *name, const clft_gguf_tensor **out) {
    const clft_gguf_tensor *t = clft_gguf_tensor_find(g, name);
    TU_CHECK(t != NULL, "%s: no tensor '%s'", clft_gguf_path(g), name);
    if (out) *out = t;
    if (!t) return NULL;
    float *x = malloc((size_t)t->numel * sizeof *x);
    TU_OK(clft_gguf_to_f32(g, t, x));
    return x;
}

static int64_t get_i(const clft_gguf *g, const char *key) {
    int64_t v = -1;
    TU_OK(clft_gguf_get_i64(g, key, &v));
    return v;
}

static int str_is(const clft_gguf *g, const char *key, const char *want) {
    const char *s = NULL;
    size_t n = 0;
    if (clft_gguf_get_str(g, key, &s, &n) != CLFT_OK) return 0;
    return n == strlen(want) && !memcmp(s, want, n);
}

/* the gguf row of HF row `row` of a q/k weight with n_head heads of hd rows */
static int64_t perm_row(int64_t row, int64_t hd) {
    const int64_t h = row / hd, i = row % hd, half = hd / 2;
    return h * hd + (i < half ? 2 * i : 2 * (i - half) + 1);
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    return m;
}

/* ---- the LoRA adapter GGUF ------------------------------------------------------------------------ */
static void test_adapter(void) {
    const char *base = sub("llama"), *ad = sub("ad_lora"), *out = sub("lora.gguf");
    make_adapter(ad, base, 4, 8.0f, 0, CLFT_LORA_ALL);
    clft_gguf_export_params p = clft_gguf_export_default_params();
    TU_OK(clft_export_gguf(base, ad, out, &p));
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(out, &g));
    if (!g) return;
    TU_CHECK(str_is(g, "general.type", "adapter") && str_is(g, "general.architecture", "llama") &&
                 str_is(g, "adapter.type", "lora"),
             "adapter metadata");
    double alpha = 0;
    TU_OK(clft_gguf_get_f64(g, "adapter.lora.alpha", &alpha));
    TU_CHECK(alpha == 8.0, "adapter.lora.alpha %g", alpha);
    TU_CHECK(clft_gguf_tensor_count(g) == 2 * 2 * 7, "%zu tensors", clft_gguf_tensor_count(g));
    /* every tensor against the PEFT file: A as is, B with q/k rows permuted */
    clft_adapter *a = NULL;
    TU_OK(clft_adapter_open(ad, 2, &a));
    static const char *const stem[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int l = 0; l < 2 && a; l++)
        for (int t = 0; t < 7; t++) {
            char na[96], nb[96];
            snprintf(na, sizeof na, "blk.%d.%s.weight.lora_a", l, stem[t]);
            snprintf(nb, sizeof nb, "blk.%d.%s.weight.lora_b", l, stem[t]);
            const clft_gguf_tensor *ta = NULL, *tb = NULL;
            float *ga = tensor_f32(g, na, &ta), *gb = tensor_f32(g, nb, &tb);
            const int64_t in = a->ab[l][t][0]->shape[1], outd = a->ab[l][t][1]->shape[0];
            TU_CHECK(ta && ta->type == CLFT_GGML_F32 && ta->ne[0] == in && ta->ne[1] == 4, "%s shape", na);
            TU_CHECK(tb && tb->type == CLFT_GGML_F32 && tb->ne[0] == 4 && tb->ne[1] == outd, "%s shape", nb);
            float *A = malloc((size_t)(4 * in) * 4), *B = malloc((size_t)(4 * outd) * 4);
            TU_OK(clft_adapter_get(a, l, t, A, B));
            if (ga) TU_CHECK(!memcmp(ga, A, (size_t)(4 * in) * 4), "%s differs from lora_A", na);
            const int64_t heads = t == 0 ? 4 : t == 1 ? 2 : 0, hd = 16;
            int bad = 0;
            for (int64_t row = 0; gb && row < outd; row++) {
                const int64_t grow = heads ? perm_row(row, hd) : row;
                bad += memcmp(gb + grow * 4, B + row * 4, 16) != 0;
            }
            TU_CHECK(gb && bad == 0, "%s: %d rows not where the permutation puts them", nb, bad);
            free(A);
            free(B);
            free(ga);
            free(gb);
        }
    clft_adapter_close(a);
    clft_gguf_free(g);

    /* rsLoRA: llama.cpp scales by alpha / r, so alpha * sqrt(r); f16 and bf16 storage */
    const char *ad2 = sub("ad_rslora"), *out2 = sub("rslora.gguf");
    make_adapter(ad2, base, 4, 6.0f, 1, CLFT_LORA_Q | CLFT_LORA_DOWN);
    const clft_dtype dts[2] = {CLFT_DTYPE_F16, CLFT_DTYPE_BF16};
    const clft_ggml_type gts[2] = {CLFT_GGML_F16, CLFT_GGML_BF16};
    for (int k = 0; k < 2; k++) {
        p.dtype = dts[k];
        p.force = 1;
        TU_OK(clft_export_gguf(base, ad2, out2, &p));
        g = NULL;
        TU_OK(clft_gguf_open(out2, &g));
        if (!g) continue;
        TU_OK(clft_gguf_get_f64(g, "adapter.lora.alpha", &alpha));
        TU_CHECK(fabs(alpha - 12.0) < 1e-6, "rsLoRA adapter.lora.alpha %g (6 * sqrt(4) = 12)", alpha);
        TU_CHECK(clft_gguf_tensor_count(g) == 2 * 2 * 2, "%zu tensors", clft_gguf_tensor_count(g));
        const clft_gguf_tensor *t = clft_gguf_tensor_find(g, "blk.1.ffn_down.weight.lora_a");
        TU_CHECK(t && t->type == gts[k] && t->ne[0] == 96 && t->ne[1] == 4, "down lora_a in %s",
                 clft_dtype_name(dts[k]));
        TU_CHECK(!clft_gguf_tensor_find(g, "blk.0.attn_k.weight.lora_a"), "k is not a target");
        clft_gguf_free(g);
    }
}

/* ---- merged models -------------------------------------------------------------------------------- */
static const char *const MERGED_NAMES[] = {"token_embd.weight",         "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                           "blk.0.attn_v.weight",       "blk.0.attn_output.weight",
                                           "blk.0.ffn_gate.weight",     "blk.0.ffn_up.weight", "blk.0.ffn_down.weight",
                                           "blk.0.attn_norm.weight",    "blk.0.ffn_norm.weight",
                                           "output_norm.weight",        "output.weight"};
static const char *const HF_NAMES[] = {"model.embed_tokens.weight",
                                       "model.layers.0.self_attn.q_proj.weight",
                                       "model.layers.0.self_attn.k_proj.weight",
                                       "model.layers.0.self_attn.v_proj.weight",
                                       "model.layers.0.self_attn.o_proj.weight",
                                       "model.layers.0.mlp.gate_proj.weight",
                                       "model.layers.0.mlp.up_proj.weight",
                                       "model.layers.0.mlp.down_proj.weight",
                                       "model.layers.0.input_layernorm.weight",
                                       "model.layers.0.post_attention_layernorm.weight",
                                       "model.norm.weight",
                                       "lm_head.weight"};

static void test_merged(void) {
    const char *base = sub("llama"), *ad = sub("ad_lora"), *hf = sub("merged_hf");
    clft_export_params ep = clft_export_default_params();
    TU_OK(clft_export_merged(base, ad, hf, &ep)); /* the f32 merge to compare with */
    clft_safetensors *st = NULL;
    char *stp = clft_io_join(hf, "model.safetensors");
    TU_OK(clft_safetensors_open(stp, &st));
    free(stp);
    if (!st) return;
    static const clft_dtype dts[] = {CLFT_DTYPE_F32, CLFT_DTYPE_F16, CLFT_DTYPE_BF16, CLFT_DTYPE_Q8_0, CLFT_DTYPE_Q4_0};
    static const clft_ggml_type gts[] = {CLFT_GGML_F32, CLFT_GGML_F16, CLFT_GGML_BF16, CLFT_GGML_Q8_0, CLFT_GGML_Q4_0};
    static const int64_t ftype[] = {0, 1, 32, 7, 2};
    for (int k = 0; k < 5; k++) {
        char out[4200];
        snprintf(out, sizeof out, "%s/merged-%s.gguf", g_dir, clft_dtype_name(dts[k]));
        clft_gguf_export_params p = clft_gguf_export_default_params();
        p.kind = CLFT_GGUF_EXPORT_MERGED;
        p.dtype = dts[k];
        TU_OK(clft_export_gguf(base, ad, out, &p));
        clft_gguf *g = NULL;
        TU_OK(clft_gguf_open(out, &g));
        if (!g) continue;
        TU_CHECK(str_is(g, "general.architecture", "llama") && str_is(g, "general.type", "model"), "general.*");
        TU_CHECK(get_i(g, "general.file_type") == ftype[k], "general.file_type %lld for %s",
                 (long long)get_i(g, "general.file_type"), clft_dtype_name(dts[k]));
        TU_CHECK(get_i(g, "llama.block_count") == 2 && get_i(g, "llama.embedding_length") == 64 &&
                     get_i(g, "llama.feed_forward_length") == 96 && get_i(g, "llama.attention.head_count") == 4 &&
                     get_i(g, "llama.attention.head_count_kv") == 2 && get_i(g, "llama.rope.dimension_count") == 16 &&
                     get_i(g, "llama.context_length") == 128 && get_i(g, "llama.vocab_size") == 320,
                 "llama.* hyperparameters");
        TU_CHECK(clft_gguf_tensor_count(g) == 3 + 2 * 9, "%zu tensors", clft_gguf_tensor_count(g));
        /* tokenizer: clft init's byte-level tokenizer as gpt2 */
        const clft_gguf_kv *toks = clft_gguf_find(g, "tokenizer.ggml.tokens");
        TU_CHECK(str_is(g, "tokenizer.ggml.model", "gpt2") && str_is(g, "tokenizer.ggml.pre", "gpt-2"),
                 "tokenizer model / pre");
        TU_CHECK(toks && toks->count == 320, "tokenizer.ggml.tokens: %llu", toks ? (unsigned long long)toks->count : 0);
        TU_CHECK(clft_gguf_find(g, "tokenizer.ggml.merges") && clft_gguf_find(g, "tokenizer.ggml.token_type") &&
                     clft_gguf_find(g, "tokenizer.chat_template"),
                 "merges, token_type, chat_template");
        TU_CHECK(get_i(g, "tokenizer.ggml.bos_token_id") == 256 && get_i(g, "tokenizer.ggml.eos_token_id") == 257,
                 "bos/eos");
        if (toks) {
            const char *s = NULL;
            size_t n = 0;
            TU_OK(clft_gguf_arr_str(toks, 257, &s, &n));
            TU_CHECK(n == 4 && !memcmp(s, "</s>", 4), "token 257 '%.*s'", (int)n, s);
            TU_OK(clft_gguf_arr_str(toks, 319, &s, &n));
            TU_CHECK(n == 8 && !memcmp(s, "[PAD319]", 8), "token 319 '%.*s'", (int)n, s);
            const clft_gguf_kv *tt = clft_gguf_find(g, "tokenizer.ggml.token_type");
            TU_CHECK(tt && clft_gguf_arr_i64(tt, 32) == 1 && clft_gguf_arr_i64(tt, 256) == 3 &&
                         clft_gguf_arr_i64(tt, 319) == 5,
                     "token types normal / control / unused");
        }
        for (size_t i = 0; i < sizeof MERGED_NAMES / sizeof MERGED_NAMES[0]; i++) {
            const clft_gguf_tensor *t = NULL;
            float *got = tensor_f32(g, MERGED_NAMES[i], &t);
            const clft_st_tensor *h = clft_st_find(st, HF_NAMES[i]);
            if (!got || !h) {
                free(got);
                continue;
            }
            const int is1d = h->ndim == 1 || strstr(MERGED_NAMES[i], "_norm");
            const clft_ggml_type want = is1d ? CLFT_GGML_F32
                                        : dts[k] == CLFT_DTYPE_Q4_0 && !strcmp(MERGED_NAMES[i], "output.weight")
                                            ? CLFT_GGML_Q8_0
                                            : gts[k];
            TU_CHECK(t->type == want, "%s in %s: type %d, want %d", MERGED_NAMES[i], clft_dtype_name(dts[k]),
                     (int)t->type, (int)want);
            TU_CHECK(t->numel == h->numel && t->ne[0] == h->shape[h->ndim - 1], "%s shape", MERGED_NAMES[i]);
            float *ref = malloc((size_t)h->numel * 4), *refp = malloc((size_t)h->numel * 4);
            TU_OK(clft_st_to_f32(st, h, ref));
            const int64_t rows = h->ndim == 2 ? h->shape[0] : 1, cols = h->numel / rows;
            const int64_t hd = 16;
            const int perm = i == 1 || i == 2;
            for (int64_t r = 0; r < rows; r++)
                memcpy(refp + (perm ? perm_row(r, hd) : r) * cols, ref + r * cols, (size_t)cols * 4);
            const double amax = max_abs(refp, h->numel);
            const double tol = want == CLFT_GGML_F32    ? 0
                               : want == CLFT_GGML_F16  ? amax / 1024
                               : want == CLFT_GGML_BF16 ? amax / 128
                               : want == CLFT_GGML_Q8_0 ? amax / 127
                                                        : amax / 7;
            char what[160];
            snprintf(what, sizeof what, "%s (%s)", MERGED_NAMES[i], clft_dtype_name(dts[k]));
            tu_close(what, got, refp, (size_t)h->numel, tol, 0, 1);
            if (want == CLFT_GGML_Q8_0 || want == CLFT_GGML_Q4_0) { /* the reference quantizer's bytes */
                size_t nb = clft_ggml_row_bytes(want, cols) * (size_t)rows;
                void *q = malloc(nb);
                TU_OK(clft_ggml_quantize(want, refp, h->numel, q));
                TU_CHECK(t->bytes == nb && !memcmp(q, t->data, nb), "%s: not the bytes of clft_ggml_quantize", what);
                free(q);
            }
            free(ref);
            free(refp);
            free(got);
        }
        clft_gguf_free(g);
    }
    clft_safetensors_free(st);

    /* the same merge from a GGUF base made from the folder: the same bytes (f32 and q8_0) */
    const char *bg = sub("base.gguf");
    clft_gguf_export_params p = clft_gguf_export_default_params();
    p.kind = CLFT_GGUF_EXPORT_MERGED;
    TU_OK(clft_export_gguf(base, NULL, bg, &p));
    const clft_dtype two[2] = {CLFT_DTYPE_F32, CLFT_DTYPE_Q8_0};
    for (int k = 0; k < 2; k++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/merged-%s.gguf", g_dir, clft_dtype_name(two[k]));
        snprintf(b, sizeof b, "%s/from-gguf-%s.gguf", g_dir, clft_dtype_name(two[k]));
        p.dtype = two[k];
        TU_OK(clft_export_gguf(bg, ad, b, &p));
        size_t na = 0, nb = 0;
        char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
        TU_CHECK(x && y && na == nb && !memcmp(x, y, na), "merged from the GGUF base differs from the folder's (%s)",
                 clft_dtype_name(two[k]));
        free(x);
        free(y);
    }
    /* the adapter exported against the GGUF base: the same file as against the folder */
    const char *la = sub("lora-from-gguf.gguf");
    p = clft_gguf_export_default_params();
    TU_OK(clft_export_gguf(bg, ad, la, &p));
    size_t na = 0, nb = 0;
    char *x = tu_read_file(la, &na), *y = tu_read_file(sub("lora.gguf"), &nb);
    TU_CHECK(x && y && na == nb && !memcmp(x, y, na), "adapter GGUF against the GGUF base differs");
    free(x);
    free(y);
}

/* tied embeddings (no output.weight; q4_0 keeps token_embd Q8_0) and Qwen2 (no permutation, biases) */
static void test_tied_qwen2(void) {
    const char *tied = sub("tied"), *out = sub("tied-q4_0.gguf");
    make_base(tied, CFG_TIED);
    clft_gguf_export_params p = clft_gguf_export_default_params();
    p.kind = CLFT_GGUF_EXPORT_MERGED;
    p.dtype = CLFT_DTYPE_Q4_0;
    TU_OK(clft_export_gguf(tied, NULL, out, &p));
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(out, &g));
    if (g) {
        TU_CHECK(!clft_gguf_tensor_find(g, "output.weight"), "tied: an output.weight was written");
        const clft_gguf_tensor *t = clft_gguf_tensor_find(g, "token_embd.weight");
        TU_CHECK(t && t->type == CLFT_GGML_Q8_0, "tied token_embd type %d", t ? (int)t->type : -1);
        t = clft_gguf_tensor_find(g, "blk.0.ffn_up.weight");
        TU_CHECK(t && t->type == CLFT_GGML_Q4_0, "ffn_up type %d", t ? (int)t->type : -1);
        clft_gguf_free(g);
    }

    const char *qw = sub("qwen2"), *qad = sub("ad_qwen2"), *qout = sub("qwen2.gguf"), *qlora = sub("qwen2-lora.gguf");
    make_base(qw, CFG_QWEN2);
    make_adapter(qad, qw, 2, 4.0f, 0, CLFT_LORA_Q | CLFT_LORA_K);
    p.dtype = CLFT_DTYPE_F32;
    TU_OK(clft_export_gguf(qw, qad, qout, &p));
    p.kind = CLFT_GGUF_EXPORT_ADAPTER;
    TU_OK(clft_export_gguf(qw, qad, qlora, &p));
    g = NULL;
    TU_OK(clft_gguf_open(qout, &g));
    clft_merge_src *m = NULL;
    TU_OK(clft_merge_src_open(qw, qad, -1, &m));
    if (g && m) {
        TU_CHECK(str_is(g, "general.architecture", "qwen2") && get_i(g, "qwen2.block_count") == 1, "qwen2 metadata");
        size_t n = 0;
        const clft_hf_tensor *hl = clft_merge_src_tensors(m, &n);
        for (size_t i = 0; i < n; i++) {
            const char *want = !strcmp(hl[i].name, "model.layers.0.self_attn.q_proj.weight")  ? "blk.0.attn_q.weight"
                               : !strcmp(hl[i].name, "model.layers.0.self_attn.k_proj.bias") ? "blk.0.attn_k.bias"
                                                                                              : NULL;
            if (!want) continue;
            const int64_t numel = hl[i].ndim == 2 ? hl[i].shape[0] * hl[i].shape[1] : hl[i].shape[0];
            float *ref = malloc((size_t)numel * 4);
            TU_OK(clft_merge_src_values(m, i, ref));
            float *got = tensor_f32(g, want, NULL);
            TU_CHECK(got && !memcmp(got, ref, (size_t)numel * 4), "qwen2 %s: not the merge, unpermuted", want);
            free(got);
            free(ref);
        }
    }
    clft_merge_src_close(m);
    clft_gguf_free(g);
    g = NULL;
    TU_OK(clft_gguf_open(qlora, &g));
    clft_adapter *a = NULL;
    TU_OK(clft_adapter_open(qad, 1, &a));
    if (g && a) {
        float *gb = tensor_f32(g, "blk.0.attn_q.weight.lora_b", NULL), *B = malloc(64 * 2 * 4);
        TU_OK(clft_adapter_get(a, 0, 0, NULL, B));
        TU_CHECK(gb && !memcmp(gb, B, 64 * 2 * 4), "qwen2 lora_b of q: not as in the adapter (it must not be permuted)");
        free(gb);
        free(B);
    }
    clft_adapter_close(a);
    clft_gguf_free(g);
}

/* ---- bad input ------------------------------------------------------------------------------------ */

static void refused(clft_status st, clft_status want, const char *what, const char *needle) {
    const char *msg = clft_last_error();
    TU_CHECK(st == want, "%s: %s, want %s (%s)", what, clft_status_string(st), clft_status_string(want), msg);
    TU_CHECK(msg && msg[0] && !strchr(msg, '\n'), "%s: not a one-line message: '%s'", what, msg ? msg : "");
    if (needle) TU_CHECK(msg && strstr(msg, needle), "%s: the message does not say '%s': %s", what, needle, msg);
}

static void test_bad_input(void) {
    const char *base = sub("llama"), *ad = sub("ad_lora");
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad", g_dir);
    mkdir(bad, 0755);
    char out[4300];
    snprintf(out, sizeof out, "%s/x.gguf", bad);
    clft_gguf_export_params p = clft_gguf_export_default_params();

    /* the output exists: refused without force, left as it was */
    write_text(out, "old");
    refused(clft_export_gguf(base, ad, out, &p), CLFT_STATUS_INVALID_ARGUMENT, "existing output", "already exists");
    size_t n = 0;
    char *old = tu_read_file(out, &n);
    TU_CHECK(old && n == 3, "the existing output was changed");
    free(old);
    unlink(out);
    /* dtypes */
    p.dtype = CLFT_DTYPE_NF4;
    refused(clft_export_gguf(base, ad, out, &p), CLFT_STATUS_INVALID_ARGUMENT, "adapter dtype nf4", "nf4");
    p.dtype = CLFT_DTYPE_Q8_0;
    refused(clft_export_gguf(base, ad, out, &p), CLFT_STATUS_INVALID_ARGUMENT, "adapter dtype q8_0", "q8_0");
    p.kind = CLFT_GGUF_EXPORT_MERGED;
    p.dtype = CLFT_DTYPE_Q4_1;
    refused(clft_export_gguf(base, ad, out, &p), CLFT_STATUS_INVALID_ARGUMENT, "merged dtype q4_1", "q4_1");
    p = clft_gguf_export_default_params();
    refused(clft_export_gguf(base, NULL, out, &p), CLFT_STATUS_INVALID_ARGUMENT, "adapter kind without adapter",
            "adapter");
    /* an adapter for another base: against the folder and against a GGUF base */
    const char *tied = sub("tied"), *tg = sub("tied.gguf");
    refused(clft_export_gguf(tied, ad, out, &p), CLFT_STATUS_SHAPE_MISMATCH, "adapter for another base (folder)",
            NULL);
    clft_gguf_export_params pm = clft_gguf_export_default_params();
    pm.kind = CLFT_GGUF_EXPORT_MERGED;
    TU_OK(clft_export_gguf(tied, NULL, tg, &pm));
    clft_status st = clft_export_gguf(tg, ad, out, &p);
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH || st == CLFT_STATUS_INVALID_ARGUMENT || st == CLFT_STATUS_FORMAT,
             "adapter for another base (GGUF): %s: %s", clft_status_string(st), clft_last_error());
    refused(clft_export_gguf(tg, ad, out, &pm), st, "merged: adapter for another base (GGUF)", NULL);
    /* lm_head as a LoRA target on a tied-embedding base: not representable, refused by name */
    const char *lm = sub("ad_lmhead");
    make_adapter(lm, tied, 2, 4.0f, 0, CLFT_LORA_Q);
    char *cp = clft_io_join(lm, "adapter_config.json");
    char *cfg = tu_read_file(cp, &n);
    char *q = cfg ? strstr(cfg, "\"q_proj\"") : NULL;
    if (q) {
        char *fixed = malloc(n + 32);
        snprintf(fixed, n + 32, "%.*s\"q_proj\", \"lm_head\"%s", (int)(q - cfg), cfg, q + 8);
        write_text(cp, fixed);
        free(fixed);
    }
    TU_CHECK(q != NULL, "no q_proj in %s", cp);
    free(cfg);
    free(cp);
    st = clft_export_gguf(tied, lm, out, &p);
    refused(st, CLFT_STATUS_UNSUPPORTED, "lm_head LoRA", "lm_head");
    /* the output is the base */
    pm.force = 1;
    refused(clft_export_gguf(tg, NULL, tg, &pm), CLFT_STATUS_INVALID_ARGUMENT, "output is the base", "base");
    /* nothing half-written */
    TU_CHECK(go_count_entries(bad) == 0, "%d files left in %s", go_count_entries(bad), bad);
    /* force replaces */
    write_text(out, "old");
    p.force = 1;
    TU_OK(clft_export_gguf(base, ad, out, &p));
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(out, &g));
    clft_gguf_free(g);
}

/* ---- tokenizer.json variants: pre-tokenizer names, add_bos from the post-processor, SentencePiece ---- */
/* base's tokenizer.json with pre_tokenizer replaced by pre (JSON; NULL: kept), post_processor removed
 * when drop_post, model.byte_fallback set when spm; exported merged (f32) to out; tokenizer.json is
 * restored afterwards (tokenizer_config.json stays removed) */
static clft_status export_with_tokenizer(const char *base, const char *pre, int drop_post, int spm, const char *out) {
    char *tp = clft_io_join(base, "tokenizer.json"), *tcp = clft_io_join(base, "tokenizer_config.json");
    size_t n = 0;
    char *text = tu_read_file(tp, &n);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    TU_CHECK(root != NULL, "%s", tp);
    clft_status st = CLFT_STATUS_IO;
    if (root) {
        if (pre) cJSON_ReplaceItemInObject(root, "pre_tokenizer", cJSON_Parse(pre));
        if (drop_post) cJSON_ReplaceItemInObject(root, "post_processor", cJSON_CreateNull());
        if (spm) cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "model"), "byte_fallback", cJSON_CreateTrue());
        char *js = cJSON_PrintUnformatted(root);
        write_text(tp, js);
        free(js);
        unlink(tcp); /* add_bos from the post-processor */
        clft_gguf_export_params p = clft_gguf_export_default_params();
        p.kind = CLFT_GGUF_EXPORT_MERGED;
        p.force = 1;
        st = clft_export_gguf(base, NULL, out, &p);
        cJSON_Delete(root);
        char *err = clft_strdup(clft_last_error()); /* the next write clears it */
        write_text(tp, text);                       /* the next case starts from the original */
        if (st) clft_error(st, "%s", err ? err : "");
        free(err);
    }
    free(text);
    free(tp);
    free(tcp);
    return st;
}

static void test_tokenizer_variants(void) {
    static const char LLAMA3_SPLIT[] =
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
        "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
        "\"trim_offsets\":true,\"use_regex\":false}]}";
    static const char DIGITS[] = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":"
                                 "true},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}]}";
    const char *base = sub("tokvar"), *out = sub("tokvar.gguf");
    make_base(base, CFG_TIED);
    TU_OK(export_with_tokenizer(base, LLAMA3_SPLIT, 1, 0, out));
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(out, &g));
    if (g) {
        TU_CHECK(str_is(g, "tokenizer.ggml.pre", "llama-bpe"), "the Llama-3 split: tokenizer.ggml.pre");
        int v = -1;
        TU_OK(clft_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v));
        TU_CHECK(v == 0, "no post-processor: add_bos_token %d", v);
    }
    clft_gguf_free(g);
    TU_OK(export_with_tokenizer(base, DIGITS, 0, 0, out));
    g = NULL;
    TU_OK(clft_gguf_open(out, &g));
    if (g) TU_CHECK(str_is(g, "tokenizer.ggml.pre", "smollm"), "Digits + ByteLevel: tokenizer.ggml.pre");
    clft_gguf_free(g);
    /* SentencePiece BPE (byte_fallback): "llama", scores, no merges, add_space_prefix */
    TU_OK(export_with_tokenizer(base, "null", 0, 1, out));
    g = NULL;
    TU_OK(clft_gguf_open(out, &g));
    if (g) {
        TU_CHECK(str_is(g, "tokenizer.ggml.model", "llama") && !clft_gguf_find(g, "tokenizer.ggml.pre") &&
                     !clft_gguf_find(g, "tokenizer.ggml.merges"),
                 "SentencePiece: model llama, no pre, no merges");
        const clft_gguf_kv *sc = clft_gguf_find(g, "tokenizer.ggml.scores");
        TU_CHECK(sc && sc->count == 320 && sc->elem == CLFT_GGUF_FLOAT32, "scores");
        int v = -1;
        TU_OK(clft_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v));
        TU_CHECK(v == 1, "the <s> template: add_bos_token %d", v);
        TU_OK(clft_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &v));
        TU_CHECK(v == 0, "no Prepend normalizer or Metaspace: add_space_prefix %d", v);
    }
    clft_gguf_free(g);
    /* a pre-tokenizer llama.cpp has no name for: refused, nothing written */
    unlink(out);
    refused(export_with_tokenizer(base, "{\"type\":\"Whitespace\"}", 0, 0, out), CLFT_STATUS_UNSUPPORTED,
            "unknown pre-tokenizer", "pre_tokenizer");
    TU_CHECK(access(out, F_OK) != 0, "%s written for a refused tokenizer", out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    tu_init_seed();
    clft_set_log_callback(NULL, NULL, CLFT_LOG_ERROR);
    const char *scratch = tu_scratch_dir(argv[1], "export_gguf");
    if (!scratch) return 1;
    snprintf(g_dir, sizeof g_dir, "%s", scratch);
    make_base(sub("llama"), CFG_LLAMA);
    test_adapter();
    test_merged();
    test_tied_qwen2();
    test_bad_input();
    test_tokenizer_variants();
    tu_scratch_done(scratch);
    return tu_finish("test_export_gguf");
}
