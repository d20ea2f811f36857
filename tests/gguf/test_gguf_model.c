/* test_gguf_model.c - a llama.cpp GGUF as a clft model (src/io/gguf_model.c, src/model/load.c).
 *
 *   config: clft_model_config_load on data/tiny_llama.gguf and data/tiny_qwen2.gguf (made by
 *   make_fixtures.py with gguf-py's GGUFWriter the way llama.cpp's converter lays models out);
 *   logits: each tiny model loaded with clft_model_load_weights (f32 base) equals the logits
 *   transformers computes after loading the same GGUF (tiny_logits.safetensors) within 1e-4 of the
 *   largest logit: the names, the tensor types and, for llama with 4 heads over 2 KV heads, the
 *   undone Q/K permutation (qwen2: not permuted, q/k/v biases, untied output); the QLoRA (NF4) load;
 *   the GGUF names of the HF tensors and the permutation round trip;
 *   bad input: other architectures, a missing key, mixture of experts, unsupported rope scaling,
 *   rope_freqs.weight, a missing tensor, a wrong shape - one-line errors naming the file and key or
 *   tensor.
 * usage: test_gguf_model DATA_DIR SCRATCH_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "quant/quant.h"
#include "tutil.h"

static const char *data_dir, *scratch;

static void test_config(void) {
    char path[4096];
    clft_model_config c;
    snprintf(path, sizeof path, "%s/tiny_llama.gguf", data_dir);
    TU_CHECK(clft_gguf_is_model_file(path), "is a GGUF");
    TU_OK(clft_model_config_load(path, &c));
    TU_CHECK(c.arch == CLFT_ARCH_LLAMA && c.vocab_size == 160 && c.hidden_size == 64 && c.intermediate_size == 96 &&
                 c.num_layers == 2 && c.num_heads == 4 && c.num_kv_heads == 2 && c.head_dim == 16,
             "llama dims");
    TU_CHECK(c.rms_norm_eps == (double)1e-5f && c.rope_theta == 10000.0 && c.max_position_embeddings == 128,
             "llama eps %g rope %g ctx %lld", c.rms_norm_eps, c.rope_theta, (long long)c.max_position_embeddings);
    TU_CHECK(c.tie_word_embeddings == 1 && c.qkv_bias == 0 && c.o_bias == 0 && c.mlp_bias == 0, "llama tied, no bias");
    TU_CHECK(c.bos_token_id == 1 && c.n_eos == 1 && c.eos_token_ids[0] == 2 && c.pad_token_id == -1, "llama ids");
    TU_CHECK(c.rope_scaling.type == CLFT_ROPE_NONE && c.sliding_window == 0, "llama rope, window");

    snprintf(path, sizeof path, "%s/tiny_qwen2.gguf", data_dir);
    TU_OK(clft_model_config_load(path, &c));
    TU_CHECK(c.arch == CLFT_ARCH_QWEN2 && c.vocab_size == 160 && c.num_heads == 4 && c.num_kv_heads == 2, "qwen2 dims "
             "(vocabulary from tokenizer.ggml.tokens)");
    TU_CHECK(c.tie_word_embeddings == 0 && c.qkv_bias == 1 && c.o_bias == 0, "qwen2 untied, q/k/v bias");

    /* a GGUF without the suffix is recognized by its magic; folders and other files are not GGUF */
    snprintf(path, sizeof path, "%s/model_no_suffix", scratch);
    char src[4096];
    snprintf(src, sizeof src, "%s/tiny_llama.gguf", data_dir);
    size_t len = 0;
    char *img = tu_read_file(src, &len);
    FILE *f = fopen(path, "wb");
    TU_CHECK(img && f && fwrite(img, 1, len, f) == len, "copy");
    if (f) fclose(f);
    free(img);
    TU_CHECK(clft_gguf_is_model_file(path), "magic without suffix");
    TU_OK(clft_model_config_load(path, &c));
    TU_CHECK(!clft_gguf_is_model_file(data_dir), "a folder");
    snprintf(path, sizeof path, "%s/meta.json", data_dir);
    TU_CHECK(!clft_gguf_is_model_file(path), "a JSON file");
}

static void test_names(void) {
    static const char *const pairs[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
        {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
        {"model.layers.12.self_attn.k_proj.bias", "blk.12.attn_k.bias"},
        {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
        {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
        {"model.layers.29.mlp.gate_proj.weight", "blk.29.ffn_gate.weight"},
        {"model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"},
        {"model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"},
        {"model.layers.7.input_layernorm.weight", "blk.7.attn_norm.weight"},
        {"model.layers.7.post_attention_layernorm.weight", "blk.7.ffn_norm.weight"},
    };
    char out[96];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        TU_CHECK(clft_gguf_name_from_hf(pairs[i][0], out, sizeof out) && !strcmp(out, pairs[i][1]), "%s -> %s",
                 pairs[i][0], out);
    const char *none[] = {"model.layers.x.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.lora_A", "foo", ""};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        TU_CHECK(!clft_gguf_name_from_hf(none[i], out, sizeof out) && !out[0], "no name for '%s'", none[i]);
    TU_CHECK(!clft_gguf_name_from_hf("model.layers.123456.mlp.up_proj.weight", out, 12), "too small a buffer");
    TU_CHECK(clft_gguf_arch_permutes_qk("llama") && clft_gguf_arch_permutes_qk("mistral") &&
                 !clft_gguf_arch_permutes_qk("qwen2"),
             "which architectures permute");

    /* the permutation: GGUF row h*hd + 2i + a = HF row h*hd + a*hd/2 + i; and back */
    enum { HEADS = 3, HD = 8, ROWS = HEADS * HD, COLS = 5 };
    float w[ROWS * COLS], p[ROWS * COLS], tmp[HD * COLS];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (float)i;
    memcpy(p, w, sizeof w);
    clft_gguf_permute_qk(p, ROWS, COLS * sizeof(float), HEADS, 1, tmp);
    int bad = 0;
    for (int h = 0; h < HEADS; h++)
        for (int i = 0; i < HD / 2; i++)
            for (int a = 0; a < 2; a++)
                for (int c = 0; c < COLS; c++)
                    bad += p[(h * HD + 2 * i + a) * COLS + c] != w[(h * HD + a * HD / 2 + i) * COLS + c];
    TU_CHECK(bad == 0, "HF -> GGUF rows (%d wrong)", bad);
    clft_gguf_permute_qk(p, ROWS, COLS * sizeof(float), HEADS, 0, tmp);
    TU_CHECK(!memcmp(p, w, sizeof w), "GGUF -> HF undoes it");
}

#define QNAME "model.layers.1.self_attn.k_proj.weight"
#define QNUMEL (32 * 64)

/* logits of the model in `file` through the public API, compared with transformers' (LoRA: f32
 * base); q_out (may be NULL) receives the weight QNAME as the model holds it */
static void check_logits(clft_context *ctx, const clft_safetensors *ref, const char *arch, clft_method method,
                         float *q_out) {
    char path[4096], key[64];
    snprintf(path, sizeof path, "%s/tiny_%s.gguf", data_dir, arch);
    snprintf(key, sizeof key, "%s.ids", arch);
    const clft_st_tensor *ids_t = clft_st_find(ref, key);
    snprintf(key, sizeof key, "%s.logits", arch);
    const clft_st_tensor *lg_t = clft_st_find(ref, key);
    TU_CHECK(ids_t && lg_t, "%s: reference tensors", arch);
    if (!ids_t || !lg_t) return;
    int T = (int)ids_t->numel;
    int32_t ids[64];
    memcpy(ids, ids_t->data, (size_t)T * 4);
    clft_model_config cfg;
    TU_OK(clft_model_config_load(path, &cfg));
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = 1;
    tp.seq_len = T;
    tp.checkpointing = 0;
    if (method == CLFT_METHOD_QLORA) tp.qlora_blocksize = 64;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    if (!m) return;
    TU_OK(clft_model_load_weights(m, path));
    TU_CHECK(m->source[0] == '/' && strstr(m->source, arch), "%s: source %s", arch, m->source);
    if (q_out) TU_OK(clft_model_get_weight(m, QNAME, q_out, QNUMEL));
    TU_OK(clft_trainer_create(m, &tr));
    float *lg = malloc((size_t)T * (size_t)cfg.vocab_size * sizeof *lg);
    double loss = 0;
    if (tr) TU_OK(clft_trainer_compute_grads(tr, ids, ids, &loss, lg));
    const float *want = lg_t->data;
    double maxd = 0, maxr = 0;
    for (int64_t i = 0; i < lg_t->numel; i++) {
        double d = fabs((double)lg[i] - (double)want[i]);
        if (d > maxd || d != d) maxd = d;
        if (fabs((double)want[i]) > maxr) maxr = fabs((double)want[i]);
    }
    double rel = maxd / maxr;
    printf("%s %s: max |clft - transformers| / max |transformers| = %.3g (max |logit| %.3g)\n", arch,
           clft_method_name(method), rel, maxr);
    /* QLoRA re-quantizes the GGUF weights to NF4: its logits are only printed (the weights are
     * checked against clft's own NF4 quantization of the f32 ones in test_logits) */
    if (method != CLFT_METHOD_QLORA)
        TU_CHECK(rel <= 1e-4, "%s %s: relative logits difference %.3g > 1e-4", arch, clft_method_name(method), rel);
    free(lg);
    clft_trainer_free(tr);
    clft_model_free(m);
}

static void test_logits(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tiny_logits.safetensors", data_dir);
    clft_safetensors *ref = NULL;
    TU_OK(clft_st_open(path, &ref));
    if (!ref) return;
    clft_context *ctx = tu_context();
    static float wf[QNUMEL], wq[QNUMEL], wr[QNUMEL];
    check_logits(ctx, ref, "llama", CLFT_METHOD_LORA, wf);
    check_logits(ctx, ref, "qwen2", CLFT_METHOD_LORA, NULL);
    check_logits(ctx, ref, "llama", CLFT_METHOD_QLORA, wq);
    /* the QLoRA base holds exactly the NF4 quantization of the weight the f32 model holds */
    clft_train_params qp = clft_train_default_params(CLFT_METHOD_QLORA);
    clft_q4 q;
    TU_OK(clft_q4_quantize(wf, QNUMEL, CLFT_DTYPE_NF4, 64, qp.qlora_double_quant, &q));
    clft_q4_dequantize(&q, wr);
    clft_q4_free(&q);
    TU_CHECK(!memcmp(wq, wr, sizeof wq), "QLoRA %s is the NF4 of the f32 model's", QNAME);

    /* weights that do not fit the model: a model made for another config */
    clft_model_config cfg;
    snprintf(path, sizeof path, "%s/tiny_llama.gguf", data_dir);
    TU_OK(clft_model_config_load(path, &cfg));
    cfg.intermediate_size = 128;
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.batch = 1;
    tp.seq_len = 8;
    clft_model *m = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    clft_status s = m ? clft_model_load_weights(m, path) : CLFT_STATUS_INVALID_ARGUMENT;
    TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH && strstr(clft_last_error(), "tiny_llama.gguf") &&
                 strstr(clft_last_error(), "blk.0.ffn_gate.weight"),
             "shape mismatch: %s", clft_last_error());
    clft_model_free(m);
    /* qwen2's config (biases) against the llama file: its q bias is missing */
    snprintf(path, sizeof path, "%s/tiny_qwen2.gguf", data_dir);
    TU_OK(clft_model_config_load(path, &cfg));
    cfg.tie_word_embeddings = 1;
    m = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    snprintf(path, sizeof path, "%s/tiny_llama.gguf", data_dir);
    s = m ? clft_model_load_weights(m, path) : CLFT_STATUS_INVALID_ARGUMENT;
    TU_CHECK(s == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "blk.0.attn_q.bias") &&
                 strstr(clft_last_error(), "tiny_llama.gguf"),
             "missing tensor: %s", clft_last_error());
    clft_model_free(m);
    clft_context_free(ctx);
    clft_safetensors_free(ref);
}

/* a config-only GGUF: tokens, keys and tensors as given (H4's writer), then the expected refusal */
typedef struct bad_case {
    const char *name, *arch, *extra_key, *extra_str, *tensor, *needle;
    int64_t extra_int;
    int drop_block_count;
} bad_case;

static void test_bad_config(void) {
    static const bad_case cases[] = {
        {"gpt2", "gpt2", NULL, NULL, NULL, "'gpt2'", 0, 0},
        {"phi3", "phi3", NULL, NULL, NULL, "general.architecture", 0, 0},
        {"noblocks", "llama", NULL, NULL, NULL, "llama.block_count", 0, 1},
        {"moe", "llama", "llama.expert_count", NULL, NULL, "llama.expert_count", 8, 0},
        {"yarn", "llama", "llama.rope.scaling.type", "yarn", NULL, "yarn", 0, 0},
        {"rope_freqs", "llama", NULL, NULL, "rope_freqs.weight", "rope_freqs.weight", 0, 0},
        {"partial_rope", "llama", "llama.rope.dimension_count", NULL, NULL, "llama.rope.dimension_count", 8, 0},
        {"adapter", "llama", "general.type", "adapter", NULL, "general.type", 0, 0},
        {"heads", "llama", "llama.attention.head_count_kv", NULL, NULL, "num_key_value_heads", 3, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *b = &cases[i];
        clft_gguf_writer *w = NULL;
        TU_OK(clft_gguf_writer_create(&w));
        if (!w) return;
        char key[96];
        clft_gguf_add_str(w, "general.architecture", b->arch);
        if (b->extra_key && b->extra_str) clft_gguf_add_str(w, b->extra_key, b->extra_str);
        if (b->extra_key && !b->extra_str) clft_gguf_add_u32(w, b->extra_key, (uint32_t)b->extra_int);
        const struct {
            const char *k;
            uint32_t v;
        } dims[] = {{"block_count", 2}, {"embedding_length", 64}, {"feed_forward_length", 96},
                    {"attention.head_count", 4}, {"vocab_size", 160}};
        for (size_t d = 0; d < 5; d++) {
            if (d == 0 && b->drop_block_count) continue;
            snprintf(key, sizeof key, "%s.%s", b->arch, dims[d].k);
            if (!b->extra_key || strcmp(key, b->extra_key)) clft_gguf_add_u32(w, key, dims[d].v);
        }
        float one[32] = {1};
        int64_t ne[1] = {32};
        if (b->tensor) clft_gguf_add_tensor(w, b->tensor, CLFT_GGML_F32, 1, ne, one);
        char path[4096];
        snprintf(path, sizeof path, "%s/bad_%s.gguf", scratch, b->name);
        TU_OK(clft_gguf_writer_write(w, path, NULL, NULL));
        clft_gguf_writer_free(w);
        clft_model_config c;
        clft_status s = clft_model_config_load(path, &c);
        const char *m = clft_last_error();
        TU_CHECK(s == CLFT_STATUS_FORMAT && strstr(m, path) && strstr(m, b->needle) && !strchr(m, '\n'),
                 "%s: %s: %s", b->name, clft_status_string(s), m);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    scratch = tu_scratch_dir(argv[2], "gguf_model");
    if (!scratch) return 1;
    test_names();
    test_config();
    test_bad_config();
    test_logits();
    tu_scratch_done(scratch);
    return tu_finish("test_gguf_model");
}
