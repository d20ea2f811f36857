/* export_gguf.c - clft_export_gguf: a LoRA adapter as a llama.cpp LoRA GGUF, or the merged model as a
 * GGUF model llama.cpp runs, from a Hugging Face model folder or a .gguf base, on the host.
 *
 * Names and layout (FORMATS.md 4.2-4.4): Hugging Face names map onto llama.cpp's (token_embd,
 * blk.N.attn_q, ..., output_norm, output); for the "llama" architecture (Llama, Mistral) the rows of
 * q and k (and their biases) are permuted from transformers' rotate-half order to the interleaved
 * pairs llama.cpp's RoPE uses, per head, with the kv heads for k: gguf row h*hd + 2i comes from row
 * h*hd + i and row h*hd + 2i + 1 from h*hd + hd/2 + i. Qwen2 (NEOX RoPE) is not permuted. For a
 * LoRA, B's rows take the permutation and A is unchanged (P (B A) = (P B) A). A GGUF base is already
 * in llama.cpp's names and order, so only B needs it.
 *
 * Memory: tensors are produced one at a time while the file is written (the writer's callback): the
 * merged f32 of one tensor (permuted in place by clft_gguf_permute_qk, the loader's own permutation) and
 * its stored bytes, never the whole model. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/io_util.h"
#include "lora/lora.h"
#include "quant/ggml_blocks.h"

/* llama.cpp's names of the seven projections, by CLFT_LORA_* target index */
static const char *const GG_STEM[CLFT_LORA_NT] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                  "ffn_gate", "ffn_up", "ffn_down"};

clft_gguf_export_params clft_gguf_export_default_params(void) {
    clft_gguf_export_params p;
    memset(&p, 0, sizeof p);
    p.kind = CLFT_GGUF_EXPORT_ADAPTER;
    p.dtype = CLFT_DTYPE_F32;
    p.merge_base = -1;
    return p;
}

static clft_ggml_type ggml_of(clft_dtype d) {
    switch (d) {
    case CLFT_DTYPE_F16: return CLFT_GGML_F16;
    case CLFT_DTYPE_BF16: return CLFT_GGML_BF16;
    case CLFT_DTYPE_Q8_0: return CLFT_GGML_Q8_0;
    case CLFT_DTYPE_Q4_0: return CLFT_GGML_Q4_0;
    default: return CLFT_GGML_F32;
    }
}

/* llama.cpp's llama_ftype of a file whose weights are mostly of dtype d */
static uint32_t file_type_of(clft_dtype d) {
    switch (d) {
    case CLFT_DTYPE_F16: return 1;
    case CLFT_DTYPE_Q4_0: return 2;
    case CLFT_DTYPE_Q8_0: return 7;
    case CLFT_DTYPE_BF16: return 32;
    default: return 0;
    }
}

/* The stored type of a merged-model tensor (llama.cpp's converter and llama-quantize): 1-d tensors
 * and norms f32; the output weight (token_embd when tied) Q8_0 for Q4_0 files; a row that is not a
 * whole number of blocks F16. */
static clft_ggml_type merged_type(clft_dtype d, const char *name, int ndim, int64_t ne0, int is_output) {
    const size_t n = strlen(name);
    if (ndim <= 1 || (n > 12 && !strcmp(name + n - 12, "_norm.weight"))) return CLFT_GGML_F32;
    clft_ggml_type t = ggml_of(d);
    if (t == CLFT_GGML_Q4_0 && is_output) t = CLFT_GGML_Q8_0;
    if (clft_ggml_block_elems(t) > 1 && ne0 % clft_ggml_block_elems(t) != 0) t = CLFT_GGML_F16;
    return t;
}

/* ---- the base: a model folder or a GGUF file ------------------------------------------------------ */
typedef struct xbase {
    const char *path;
    int is_gguf;
    clft_gguf *g;       /* GGUF base */
    clft_merge_src *ms; /* folder base, merged export */
    clft_model_config cfg;
    const char *arch; /* "llama" or "qwen2" */
    int permute;
    int64_t n_layers, n_head, n_head_kv;
} xbase;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static clft_status gguf_u(const clft_gguf *g, const char *arch, const char *key, int64_t *v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return clft_gguf_get_i64(g, k, v);
}

static clft_status open_base(xbase *b, const char *path, const char *adapter, const clft_gguf_export_params *p) {
    memset(b, 0, sizeof *b);
    b->path = path;
    b->is_gguf = ends_with(path, ".gguf") && !clft_io_is_dir(path);
    if (b->is_gguf) {
        CLFT_CHECK(clft_gguf_open(path, &b->g));
        const char *arch = NULL;
        size_t n = 0;
        CLFT_CHECK(clft_gguf_get_str(b->g, "general.architecture", &arch, &n));
        if (n == 5 && !memcmp(arch, "llama", 5))
            b->arch = "llama";
        else if (n == 5 && !memcmp(arch, "qwen2", 5))
            b->arch = "qwen2";
        else
            return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: general.architecture '%.*s' (llama or qwen2)", path, (int)n,
                              arch);
        CLFT_CHECK(gguf_u(b->g, b->arch, "block_count", &b->n_layers));
        CLFT_CHECK(gguf_u(b->g, b->arch, "attention.head_count", &b->n_head));
        if (gguf_u(b->g, b->arch, "attention.head_count_kv", &b->n_head_kv) != CLFT_OK) {
            clft_error_clear();
            b->n_head_kv = b->n_head;
        }
        if (b->n_layers < 1 || b->n_head < 1 || b->n_head_kv < 1)
            return clft_error(CLFT_STATUS_FORMAT, "%s: %s.block_count / attention.head_count(_kv) below 1", path,
                              b->arch);
    } else {
        if (!clft_io_is_dir(path))
            return clft_error(CLFT_STATUS_IO, "%s: no such model folder or .gguf file", path);
        if (p->kind == CLFT_GGUF_EXPORT_MERGED) {
            CLFT_CHECK(clft_merge_src_open(path, adapter, p->merge_base, &b->ms));
            b->cfg = *clft_merge_src_config(b->ms);
        } else {
            CLFT_CHECK(clft_model_config_load(path, &b->cfg));
        }
        b->arch = b->cfg.arch == CLFT_ARCH_QWEN2 ? "qwen2" : "llama";
        b->n_layers = b->cfg.num_layers;
        b->n_head = b->cfg.num_heads;
        b->n_head_kv = b->cfg.num_kv_heads;
    }
    b->permute = !strcmp(b->arch, "llama");
    return CLFT_OK;
}

static void close_base(xbase *b) {
    clft_gguf_free(b->g);
    clft_merge_src_close(b->ms);
}

/* heads of the permutation of target t (0: none) */
static int64_t perm_heads(const xbase *b, int t) {
    if (!b->permute) return 0;
    return t == 0 ? b->n_head : t == 1 ? b->n_head_kv : 0;
}

/* An adapter against a GGUF base: every adapted projection's tensor exists with A's columns and B's
 * rows (an adapter for another base is refused naming the tensor). */
static clft_status check_adapter_gguf(const xbase *b, const clft_adapter *ad) {
    for (int64_t l = 0; l < ad->nlayers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!ad->ab[l][t][0]) continue;
            char name[96];
            snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)l, GG_STEM[t]);
            const clft_gguf_tensor *w = clft_gguf_tensor_find(b->g, name);
            const int64_t in = ad->ab[l][t][0]->shape[1], out = ad->ab[l][t][1]->shape[0];
            if (!w)
                return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: no tensor '%s' for the adapter's layer %lld %s", b->path,
                                  name, (long long)l, CLFT_LORA_PROJ[t]);
            if (w->ndim != 2 || w->ne[0] != in || w->ne[1] != out)
                return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                                  "%s: tensor '%s' is [%lld, %lld], the adapter's layer %lld %s is %lld -> %lld "
                                  "(an adapter for another base?)",
                                  b->path, name, (long long)w->ne[0], (long long)w->ne[1], (long long)l,
                                  CLFT_LORA_PROJ[t], (long long)in, (long long)out);
        }
    return CLFT_OK;
}

/* ---- tensors of the output ------------------------------------------------------------------------ */
typedef struct xtensor {
    int src;        /* merged folder: index into the merge list; GGUF base: tensor index; -1: rope_freqs */
    int layer, target; /* adapter tensors / adapted weights: layer and target, else -1 */
    int is_b;       /* adapter export: 1 for lora_b */
    int64_t heads;  /* permute the rows with this many heads (0: no) */
    clft_ggml_type type;
    char name[64];
    int ndim;
    int64_t ne[2];
} xtensor;

typedef struct xctx {
    xbase *b;
    const clft_adapter *ad;
    const xtensor *t;
    clft_gguf_writer *w;
    float scale;
    float *x, *y, *A, *B; /* scratch */
    size_t xcap, ycap, acap, bcap;
} xctx;

/* the rope_freqs.weight factors of Llama-3.1's rope scaling (llama.cpp's converter computes them) */
static void llama3_rope_freqs(const clft_model_config *cfg, float *out) {
    const double base = cfg->rope_theta, factor = cfg->rope_scaling.factor;
    const double lo = cfg->rope_scaling.low_freq_factor, hi = cfg->rope_scaling.high_freq_factor;
    const double old = (double)cfg->rope_scaling.original_max_position_embeddings;
    const double lo_wl = old / lo, hi_wl = old / hi;
    const int64_t hd = cfg->head_dim;
    for (int64_t i = 0; i < hd / 2; i++) {
        const double freq = 1.0 / pow(base, (double)(2 * i) / (double)hd), wl = 2.0 * M_PI / freq;
        double f = 1.0;
        if (wl > lo_wl) {
            f = factor;
        } else if (wl >= hi_wl) {
            const double smooth = (old / wl - lo) / (hi - lo);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}

static clft_status fill_tensor(void *user, size_t index, void *dst, size_t bytes) {
    xctx *c = user;
    const xtensor *t = &c->t[index];
    (void)bytes;
    const int64_t numel = t->ndim == 2 ? t->ne[0] * t->ne[1] : t->ne[0];
    const int64_t rows = t->ndim == 2 ? t->ne[1] : t->ne[0], cols = t->ndim == 2 ? t->ne[0] : 1;
    CLFT_CHECK(clft_lora_grow(&c->x, &c->xcap, (size_t)numel));
    if (c->ad && t->src < 0 && t->layer >= 0) { /* adapter export: A (r, in) or B (out, r) */
        CLFT_CHECK(clft_adapter_get(c->ad, t->layer, t->target, t->is_b ? NULL : c->x, t->is_b ? c->x : NULL));
    } else if (t->src < 0) {
        llama3_rope_freqs(&c->b->cfg, c->x);
    } else if (c->b->ms) {
        CLFT_CHECK(clft_merge_src_values(c->b->ms, (size_t)t->src, c->x));
    } else {
        const clft_gguf_tensor *g = clft_gguf_tensor_at(c->b->g, (size_t)t->src);
        CLFT_CHECK(clft_gguf_to_f32(c->b->g, g, c->x));
        if (c->ad && t->layer >= 0) { /* W (gguf order) += scale * (P B) A */
            const int64_t r = c->ad->info.lora.r;
            CLFT_CHECK(clft_lora_grow(&c->A, &c->acap, (size_t)(r * cols)));
            CLFT_CHECK(clft_lora_grow(&c->B, &c->bcap, (size_t)(r * rows)));
            CLFT_CHECK(clft_adapter_get(c->ad, t->layer, t->target, c->A, c->B));
            const int64_t heads = perm_heads(c->b, t->target);
            if (heads) { /* B's rows in llama.cpp's order, in place (c->y: one head of rows) */
                CLFT_CHECK(clft_lora_grow(&c->y, &c->ycap, (size_t)(rows / heads * r)));
                clft_gguf_permute_qk(c->B, rows, (size_t)r * sizeof(float), heads, 1, c->y);
            }
            CLFT_CHECK(clft_lora_merge(c->x, NULL, CLFT_ST_F32, c->A, c->B, rows, cols, r, c->scale, 0));
        }
    }
    if (t->heads) { /* the rows in llama.cpp's order, in place (c->y: one head of rows) */
        CLFT_CHECK(clft_lora_grow(&c->y, &c->ycap, (size_t)(rows / t->heads * cols)));
        clft_gguf_permute_qk(c->x, rows, (size_t)cols * sizeof(float), t->heads, 1, c->y);
    }
    return clft_ggml_quantize((int)t->type, c->x, numel, dst);
}

/* A Hugging Face tensor name as llama.cpp names it (0 when it has no GGUF name); *target the
 * projection it belongs to (-1 for others) */
static int gguf_name_of(const char *hf, char *out, size_t cap, int *target) {
    static const char *const MAP[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.", "attn_q."},
        {"self_attn.k_proj.", "attn_k."},
        {"self_attn.v_proj.", "attn_v."},
        {"self_attn.o_proj.", "attn_output."},
        {"mlp.gate_proj.", "ffn_gate."},
        {"mlp.up_proj.", "ffn_up."},
        {"mlp.down_proj.", "ffn_down."},
    };
    *target = -1;
    if (!strcmp(hf, "model.embed_tokens.weight")) return snprintf(out, cap, "token_embd.weight") > 0;
    if (!strcmp(hf, "model.norm.weight")) return snprintf(out, cap, "output_norm.weight") > 0;
    if (!strcmp(hf, "lm_head.weight")) return snprintf(out, cap, "output.weight") > 0;
    int layer = 0, used = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &used) != 1 || used == 0) return 0;
    const char *rest = hf + used;
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++) {
        size_t k = strlen(MAP[i][0]);
        if (strncmp(rest, MAP[i][0], k)) continue;
        if (i >= 2) *target = (int)i - 2;
        return snprintf(out, cap, "blk.%d.%s%s", layer, MAP[i][1], rest + k) < (int)cap;
    }
    return 0;
}

static clft_status add_tensor(xctx *c, xtensor *list, size_t *n, const xtensor *t) {
    list[*n] = *t;
    (*n)++;
    return clft_gguf_add_tensor(c->w, t->name, t->type, t->ndim, t->ne, NULL);
}

/* the adapter's tensors (lora_a, lora_b of every layer and target, in that order) */
static clft_status adapter_tensors(xctx *c, clft_dtype dtype, xtensor *list, size_t *n) {
    const clft_adapter *ad = c->ad;
    const int64_t r = ad->info.lora.r;
    for (int64_t l = 0; l < ad->nlayers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!ad->ab[l][t][0]) continue;
            const int64_t in = ad->ab[l][t][0]->shape[1], out = ad->ab[l][t][1]->shape[0];
            for (int isb = 0; isb < 2; isb++) {
                xtensor x;
                memset(&x, 0, sizeof x);
                x.src = -1;
                x.layer = (int)l;
                x.target = t;
                x.is_b = isb;
                x.heads = isb ? perm_heads(c->b, t) : 0;
                x.type = ggml_of(dtype);
                x.ndim = 2;
                x.ne[0] = isb ? r : in;
                x.ne[1] = isb ? out : r;
                snprintf(x.name, sizeof x.name, "blk.%lld.%s.weight.lora_%c", (long long)l, GG_STEM[t], isb ? 'b' : 'a');
                CLFT_CHECK(add_tensor(c, list, n, &x));
            }
        }
    return CLFT_OK;
}

/* the merged model's tensors from a model folder (in transformers' order; rope_freqs first) */
static clft_status folder_tensors(xctx *c, clft_dtype dtype, xtensor *list, size_t *n) {
    size_t nh = 0;
    const clft_hf_tensor *hf = clft_merge_src_tensors(c->b->ms, &nh);
    const clft_model_config *cfg = &c->b->cfg;
    if (cfg->rope_scaling.type == CLFT_ROPE_LLAMA3) {
        xtensor x;
        memset(&x, 0, sizeof x);
        x.src = -1;
        x.layer = x.target = -1;
        x.type = CLFT_GGML_F32;
        x.ndim = 1;
        x.ne[0] = cfg->head_dim / 2;
        x.ne[1] = 1;
        snprintf(x.name, sizeof x.name, "rope_freqs.weight");
        CLFT_CHECK(add_tensor(c, list, n, &x));
    }
    for (size_t i = 0; i < nh; i++) {
        xtensor x;
        memset(&x, 0, sizeof x);
        if (!gguf_name_of(hf[i].name, x.name, sizeof x.name, &x.target))
            return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: tensor '%s' has no llama.cpp name", c->b->path, hf[i].name);
        x.src = (int)i;
        x.layer = -1; /* merged by clft_merge_src_values */
        x.heads = x.target >= 0 ? perm_heads(c->b, x.target) : 0;
        x.ndim = hf[i].ndim;
        x.ne[0] = hf[i].ndim == 2 ? hf[i].shape[1] : hf[i].shape[0];
        x.ne[1] = hf[i].ndim == 2 ? hf[i].shape[0] : 1;
        const int is_output =
            !strcmp(x.name, "output.weight") || (cfg->tie_word_embeddings && !strcmp(x.name, "token_embd.weight"));
        x.type = merged_type(dtype, x.name, x.ndim, x.ne[0], is_output);
        CLFT_CHECK(add_tensor(c, list, n, &x));
    }
    return CLFT_OK;
}

/* the merged model's tensors from a GGUF base (its order, names and shapes) */
static clft_status gguf_tensors(xctx *c, clft_dtype dtype, xtensor *list, size_t *n) {
    const clft_gguf *g = c->b->g;
    const int tied = clft_gguf_tensor_find(g, "output.weight") == NULL;
    for (size_t i = 0; i < clft_gguf_tensor_count(g); i++) {
        const clft_gguf_tensor *t = clft_gguf_tensor_at(g, i);
        if (t->ndim > 2)
            return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: tensor '%s' has %d dims (a llama model has 1 or 2)",
                              c->b->path, t->name, t->ndim);
        xtensor x;
        memset(&x, 0, sizeof x);
        snprintf(x.name, sizeof x.name, "%s", t->name);
        x.src = (int)i;
        x.layer = x.target = -1;
        int l = -1, used = 0;
        char stem[32];
        if (c->ad && sscanf(t->name, "blk.%d.%31[a-z_].weight%n", &l, stem, &used) == 2 && t->name[used] == '\0')
            for (int k = 0; k < CLFT_LORA_NT; k++)
                if (!strcmp(stem, GG_STEM[k]) && l < c->ad->nlayers && c->ad->ab[l][k][0]) {
                    x.layer = l;
                    x.target = k;
                }
        x.ndim = t->ndim;
        x.ne[0] = t->ne[0];
        x.ne[1] = t->ndim == 2 ? t->ne[1] : 1;
        const int is_output = !strcmp(x.name, "output.weight") || (tied && !strcmp(x.name, "token_embd.weight"));
        x.type = merged_type(dtype, x.name, x.ndim, x.ne[0], is_output);
        CLFT_CHECK(add_tensor(c, list, n, &x));
    }
    return CLFT_OK;
}

/* general.* and <arch>.* of a model folder's config, as llama.cpp's converter writes them */
static clft_status folder_metadata(clft_gguf_writer *w, const xbase *b, clft_dtype dtype) {
    const clft_model_config *cfg = &b->cfg;
    char k[128];
    const char *a = b->arch;
#define AKEY(s) (snprintf(k, sizeof k, "%s.%s", a, s), k)
    CLFT_CHECK(clft_gguf_add_str(w, "general.architecture", a));
    CLFT_CHECK(clft_gguf_add_str(w, "general.type", "model"));
    CLFT_CHECK(clft_gguf_add_str(w, "general.name", clft_io_basename(b->path)));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("block_count"), (uint32_t)cfg->num_layers));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("context_length"), (uint32_t)cfg->max_position_embeddings));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("embedding_length"), (uint32_t)cfg->hidden_size));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("feed_forward_length"), (uint32_t)cfg->intermediate_size));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("attention.head_count"), (uint32_t)cfg->num_heads));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("attention.head_count_kv"), (uint32_t)cfg->num_kv_heads));
    CLFT_CHECK(clft_gguf_add_f32(w, AKEY("rope.freq_base"), (float)cfg->rope_theta));
    CLFT_CHECK(clft_gguf_add_f32(w, AKEY("attention.layer_norm_rms_epsilon"), (float)cfg->rms_norm_eps));
    if (cfg->head_dim * cfg->num_heads != cfg->hidden_size) {
        CLFT_CHECK(clft_gguf_add_u32(w, AKEY("attention.key_length"), (uint32_t)cfg->head_dim));
        CLFT_CHECK(clft_gguf_add_u32(w, AKEY("attention.value_length"), (uint32_t)cfg->head_dim));
    }
    CLFT_CHECK(clft_gguf_add_u32(w, "general.file_type", file_type_of(dtype)));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("vocab_size"), (uint32_t)cfg->vocab_size));
    CLFT_CHECK(clft_gguf_add_u32(w, AKEY("rope.dimension_count"), (uint32_t)cfg->head_dim));
    if (cfg->rope_scaling.type == CLFT_ROPE_LINEAR) {
        CLFT_CHECK(clft_gguf_add_str(w, AKEY("rope.scaling.type"), "linear"));
        CLFT_CHECK(clft_gguf_add_f32(w, AKEY("rope.scaling.factor"), (float)cfg->rope_scaling.factor));
    }
#undef AKEY
    CLFT_CHECK(clft_gguf_add_u32(w, "general.quantization_version", 2));
    return clft_gguf_add_hf_tokenizer(w, b->path, cfg);
}

/* a GGUF base's metadata as it is (tokenizer, chat template, hparams), with the new file type */
static clft_status gguf_metadata(clft_gguf_writer *w, const xbase *b, clft_dtype dtype) {
    int have_ft = 0;
    for (size_t i = 0; i < clft_gguf_kv_count(b->g); i++) {
        const clft_gguf_kv *kv = clft_gguf_kv_at(b->g, i);
        if (!strcmp(kv->key, "general.file_type")) {
            CLFT_CHECK(clft_gguf_add_u32(w, kv->key, file_type_of(dtype)));
            have_ft = 1;
        } else if (!strcmp(kv->key, "general.alignment")) {
            CLFT_CHECK(clft_gguf_set_alignment(w, clft_gguf_alignment(b->g)));
        } else {
            CLFT_CHECK(clft_gguf_add_kv(w, kv));
        }
    }
    if (!have_ft) CLFT_CHECK(clft_gguf_add_u32(w, "general.file_type", file_type_of(dtype)));
    return CLFT_OK;
}

static clft_status check_params(const clft_gguf_export_params *p, const char *adapter) {
    if (p->kind != CLFT_GGUF_EXPORT_ADAPTER && p->kind != CLFT_GGUF_EXPORT_MERGED)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF export: kind %d (adapter or merged)", (int)p->kind);
    const clft_dtype d = p->dtype;
    const int flt = d == CLFT_DTYPE_F32 || d == CLFT_DTYPE_F16 || d == CLFT_DTYPE_BF16;
    if (p->kind == CLFT_GGUF_EXPORT_ADAPTER && !flt)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF export: an adapter is f32, f16 or bf16, not %s",
                          clft_dtype_name(d));
    if (!flt && d != CLFT_DTYPE_Q8_0 && d != CLFT_DTYPE_Q4_0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF export: dtype %s (f32, f16, bf16, q8_0 or q4_0)",
                          clft_dtype_name(d));
    if (p->kind == CLFT_GGUF_EXPORT_ADAPTER && !adapter)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF export: an adapter export needs the adapter folder");
    if (p->merge_base < -1 || p->merge_base > 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF export: merge_base %d (-1, 0 or 1)", p->merge_base);
    return CLFT_OK;
}

clft_status clft_export_gguf(const char *model, const char *adapter_dir, const char *out_path,
                             const clft_gguf_export_params *params) {
    if (!model || !out_path) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_export_gguf: NULL path");
    const clft_gguf_export_params p = params ? *params : clft_gguf_export_default_params();
    CLFT_CHECK(check_params(&p, adapter_dir));
    struct stat sb;
    if (lstat(out_path, &sb) == 0) {
        if (!p.force) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s already exists (force replaces it)", out_path);
        if (!S_ISREG(sb.st_mode)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s exists and is not a file", out_path);
        char ra[PATH_MAX], rb[PATH_MAX];
        if (realpath(out_path, ra) && realpath(model, rb) && !strcmp(ra, rb))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s is the base model: write elsewhere", out_path);
    }

    /* everything is opened and checked before the file is started */
    xbase b;
    xctx c;
    memset(&c, 0, sizeof c);
    clft_adapter *ad = NULL;
    xtensor *list = NULL;
    size_t n = 0;
    clft_status s = open_base(&b, model, adapter_dir, &p);
    if (!s && adapter_dir) {
        if (b.ms) {
            ad = NULL; /* the merge source holds it, checked against the config */
            c.ad = clft_merge_src_adapter(b.ms);
        } else {
            s = clft_adapter_open(adapter_dir, b.n_layers, &ad);
            if (!s && b.g) s = check_adapter_gguf(&b, ad);
            if (!s && !b.g) s = clft_adapter_check_config(ad, &b.cfg);
            if (s) clft_error_prefix(s, "adapter %s for the model %s", adapter_dir, model);
            c.ad = ad;
        }
    }
    if (!s && c.ad) c.scale = (float)c.ad->scale;
    if (!s) s = clft_gguf_writer_create(&c.w);
    size_t cap = 0;
    if (!s) {
        cap = 8 + (b.g ? clft_gguf_tensor_count(b.g) : 0) + (size_t)b.n_layers * 2 * CLFT_LORA_NT + 16 +
              (size_t)b.n_layers * 16;
        list = clft_calloc(cap, sizeof *list);
        if (!list) s = CLFT_STATUS_HOST_OOM;
    }
    c.b = &b;
    c.t = list;
    if (!s && p.kind == CLFT_GGUF_EXPORT_ADAPTER) {
        /* llama.cpp scales by alpha / r: rsLoRA's alpha / sqrt(r) is alpha * sqrt(r) / r */
        const clft_lora_params *lp = &c.ad->info.lora;
        const double alpha = lp->use_rslora ? lp->alpha * sqrt((double)lp->r) : lp->alpha;
        s = clft_gguf_add_str(c.w, "general.architecture", b.arch);
        if (!s) s = clft_gguf_add_str(c.w, "general.type", "adapter");
        if (!s) s = clft_gguf_add_str(c.w, "adapter.type", "lora");
        if (!s) s = clft_gguf_add_f32(c.w, "adapter.lora.alpha", (float)alpha);
        if (!s) s = adapter_tensors(&c, p.dtype, list, &n);
    } else if (!s) {
        s = b.g ? gguf_metadata(c.w, &b, p.dtype) : folder_metadata(c.w, &b, p.dtype);
        if (!s) s = b.g ? gguf_tensors(&c, p.dtype, list, &n) : folder_tensors(&c, p.dtype, list, &n);
    }
    double t0 = clft_now_seconds();
    if (!s) s = clft_gguf_writer_write(c.w, out_path, fill_tensor, &c);
    if (!s)
        clft_log(CLFT_LOG_INFO, "export: wrote %s (%zu tensors) in %.1f s", out_path, n, clft_now_seconds() - t0);
    clft_gguf_writer_free(c.w);
    free(list);
    free(c.x);
    free(c.y);
    free(c.A);
    free(c.B);
    clft_adapter_close(ad);
    close_base(&b);
    return s;
}
