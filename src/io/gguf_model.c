/* gguf_model.c - a llama.cpp GGUF model as a clft model config, the GGUF tensor names, and the Q/K
 * row permutation (declarations and the key list: gguf_model.h).
 *
 * Keys (llama.cpp src/llama-arch.cpp LLM_KV_*, gguf-py constants.py Keys.LLM / Keys.Attention /
 * Keys.Rope) are read as transformers' GGUF loader (integrations/ggml.py GGUF_CONFIG_MAPPING) maps
 * them onto LlamaConfig / Qwen2Config; what they leave out defaults as those classes do. Mistral
 * models converted by llama.cpp carry general.architecture "llama" (its converter maps Mistral onto
 * the Llama graph: no sliding window, rows permuted); a file saying "mistral" is read the same way
 * with its keys under "mistral.". */
#include "io/gguf_model.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "io/io_util.h"
#include "model/config.h"

int clft_gguf_is_model_file(const char *path) {
    if (!path || clft_io_is_dir(path)) return 0;
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".gguf")) return 1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    char magic[4] = {0};
    ssize_t got = read(fd, magic, 4);
    close(fd);
    return got == 4 && !memcmp(magic, "GGUF", 4);
}

int clft_gguf_arch_permutes_qk(const char *arch) { return !strcmp(arch, "llama") || !strcmp(arch, "mistral"); }

/* ---- config ------------------------------------------------------------------------------------ */

typedef struct kctx {
    const clft_gguf *g;
    const char *arch;
} kctx;

/* <arch>.<suffix> as an integer into *v; absent: *v unchanged unless required */
static clft_status key_int(const kctx *c, const char *suffix, int required, int64_t *v) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    if (!clft_gguf_find(c->g, key)) {
        if (!required) return CLFT_OK;
        return clft_error(CLFT_STATUS_FORMAT, "%s: missing required key '%s'", clft_gguf_path(c->g), key);
    }
    return clft_gguf_get_i64(c->g, key, v);
}

static clft_status key_num(const kctx *c, const char *suffix, double *v) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    if (!clft_gguf_find(c->g, key)) return CLFT_OK;
    return clft_gguf_get_f64(c->g, key, v);
}

/* tokenizer.ggml.<name>_token_id into *id (left unchanged when absent) */
static clft_status token_id(const clft_gguf *g, const char *name, int64_t *id) {
    char key[96];
    snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", name);
    if (!clft_gguf_find(g, key)) return CLFT_OK;
    return clft_gguf_get_i64(g, key, id);
}

static clft_status config_rope(const kctx *c, clft_model_config *cfg) {
    const char *path = clft_gguf_path(c->g);
    CLFT_CHECK(key_num(c, "rope.freq_base", &cfg->rope_theta));
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch);
    const char *type = NULL;
    size_t tlen = 0;
    if (clft_gguf_find(c->g, key)) CLFT_CHECK(clft_gguf_get_str(c->g, key, &type, &tlen));
    if (type && !(tlen == 4 && !memcmp(type, "none", 4))) {
        if (!(tlen == 6 && !memcmp(type, "linear", 6)))
            return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' = '%.*s': rope scaling of this type is not supported "
                              "(none, linear)", path, key, (int)(tlen > 64 ? 64 : tlen), type);
        cfg->rope_scaling.type = CLFT_ROPE_LINEAR;
        snprintf(key, sizeof key, "%s.rope.scaling.factor", c->arch);
        CLFT_CHECK(clft_gguf_get_f64(c->g, key, &cfg->rope_scaling.factor));
    } else {
        /* older files: rope.scale_linear */
        double f = 1.0;
        CLFT_CHECK(key_num(c, "rope.scale_linear", &f));
        if (f != 1.0) {
            cfg->rope_scaling.type = CLFT_ROPE_LINEAR;
            cfg->rope_scaling.factor = f;
        }
    }
    if (clft_gguf_tensor_find(c->g, "rope_freqs.weight"))
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor 'rope_freqs.weight' (per-dimension rope factors, Llama-3.1 "
                          "rope scaling) is not supported", path);
    return CLFT_OK;
}

static clft_status config_dims(const kctx *c, clft_model_config *cfg) {
    const char *path = clft_gguf_path(c->g);
    CLFT_CHECK(key_int(c, "block_count", 1, &cfg->num_layers));
    CLFT_CHECK(key_int(c, "embedding_length", 1, &cfg->hidden_size));
    CLFT_CHECK(key_int(c, "feed_forward_length", 1, &cfg->intermediate_size));
    CLFT_CHECK(key_int(c, "attention.head_count", 1, &cfg->num_heads));
    cfg->num_kv_heads = cfg->num_heads;
    CLFT_CHECK(key_int(c, "attention.head_count_kv", 0, &cfg->num_kv_heads));
    CLFT_CHECK(key_int(c, "context_length", 0, &cfg->max_position_embeddings));
    CLFT_CHECK(key_num(c, "attention.layer_norm_rms_epsilon", &cfg->rms_norm_eps));
    if (cfg->num_heads <= 0 || cfg->hidden_size <= 0)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s.attention.head_count' / embedding_length must be positive",
                          path, c->arch);
    int64_t expert = 0;
    CLFT_CHECK(key_int(c, "expert_count", 0, &expert));
    if (expert > 0)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s.expert_count' = %lld: mixture-of-experts models are not "
                          "supported", path, c->arch, (long long)expert);
    /* head_dim: attention.key_length when present (value_length must agree), else hidden / heads */
    int64_t hd = cfg->hidden_size / cfg->num_heads, kl = -1, vl = -1, rot = -1;
    CLFT_CHECK(key_int(c, "attention.key_length", 0, &kl));
    CLFT_CHECK(key_int(c, "attention.value_length", 0, &vl));
    if (kl > 0) hd = kl;
    else if (cfg->hidden_size % cfg->num_heads)
        return clft_error(CLFT_STATUS_FORMAT, "%s: embedding_length %lld is not a multiple of head_count %lld", path,
                          (long long)cfg->hidden_size, (long long)cfg->num_heads);
    if (vl > 0 && vl != hd)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s.attention.value_length' = %lld differs from the key "
                          "length %lld (not supported)", path, c->arch, (long long)vl, (long long)hd);
    cfg->head_dim = hd;
    CLFT_CHECK(key_int(c, "rope.dimension_count", 0, &rot));
    if (rot > 0 && rot != hd)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s.rope.dimension_count' = %lld: rotary embedding of part of "
                          "the head (head_dim %lld) is not supported", path, c->arch, (long long)rot, (long long)hd);
    return CLFT_OK;
}

static clft_status config_vocab(const kctx *c, clft_model_config *cfg) {
    int64_t v = -1;
    CLFT_CHECK(key_int(c, "vocab_size", 0, &v));
    if (v <= 0) {
        const clft_gguf_kv *tok = clft_gguf_find(c->g, "tokenizer.ggml.tokens");
        const clft_gguf_tensor *e = clft_gguf_tensor_find(c->g, "token_embd.weight");
        if (tok && tok->type == CLFT_GGUF_ARRAY) v = (int64_t)tok->count;
        else if (e && e->ndim == 2) v = e->ne[1];
        else
            return clft_error(CLFT_STATUS_FORMAT, "%s: no vocabulary size (no key '%s.vocab_size', "
                              "'tokenizer.ggml.tokens' or tensor 'token_embd.weight')", clft_gguf_path(c->g), c->arch);
    }
    cfg->vocab_size = v;
    cfg->bos_token_id = -1;
    cfg->pad_token_id = -1;
    cfg->n_eos = 0;
    int64_t eos = -1;
    CLFT_CHECK(token_id(c->g, "bos", &cfg->bos_token_id));
    CLFT_CHECK(token_id(c->g, "eos", &eos));
    CLFT_CHECK(token_id(c->g, "padding", &cfg->pad_token_id));
    if (eos >= 0) cfg->eos_token_ids[cfg->n_eos++] = eos;
    return CLFT_OK;
}

clft_status clft_gguf_model_config(const clft_gguf *g, clft_model_config *cfg) {
    if (!g || !cfg) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf_model_config: NULL argument");
    const char *path = clft_gguf_path(g), *a = NULL;
    size_t alen = 0;
    if (!clft_gguf_find(g, "general.architecture"))
        return clft_error(CLFT_STATUS_FORMAT, "%s: missing required key 'general.architecture'", path);
    CLFT_CHECK(clft_gguf_get_str(g, "general.architecture", &a, &alen));
    char arch[32];
    if (alen >= sizeof arch || memchr(a, 0, alen))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'general.architecture' = '%.*s' is not supported (llama, "
                          "mistral, qwen2)", path, (int)(alen > 64 ? 64 : alen), a);
    memcpy(arch, a, alen);
    arch[alen] = 0;
    clft_arch ca;
    if (!strcmp(arch, "llama")) ca = CLFT_ARCH_LLAMA;
    else if (!strcmp(arch, "mistral")) ca = CLFT_ARCH_MISTRAL;
    else if (!strcmp(arch, "qwen2")) ca = CLFT_ARCH_QWEN2;
    else
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'general.architecture' = '%s' is not supported (llama, "
                          "mistral, qwen2)", path, arch);
    const char *gt = NULL;
    size_t gtlen = 0;
    if (clft_gguf_find(g, "general.type") && clft_gguf_get_str(g, "general.type", &gt, &gtlen) == CLFT_OK &&
        !(gtlen == 5 && !memcmp(gt, "model", 5)))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'general.type' = '%.*s': not a model (an adapter?)", path,
                          (int)(gtlen > 64 ? 64 : gtlen), gt);
    clft_model_config_defaults(ca, cfg);
    kctx c = {g, arch};
    CLFT_CHECK(config_dims(&c, cfg));
    CLFT_CHECK(config_rope(&c, cfg));
    CLFT_CHECK(config_vocab(&c, cfg));
    cfg->tie_word_embeddings = clft_gguf_tensor_find(g, "output.weight") == NULL;
    cfg->sliding_window = 0; /* llama.cpp's llama graph has none; Qwen2's is refused below */
    if (ca == CLFT_ARCH_QWEN2) {
        int64_t sw = 0;
        CLFT_CHECK(key_int(&c, "attention.sliding_window", 0, &sw));
        if (sw > 0)
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'qwen2.attention.sliding_window' = %lld: sliding-window "
                              "attention in a GGUF is not supported", path, (long long)sw);
        cfg->qkv_bias = 1;
        cfg->max_window_layers = cfg->num_layers;
    } else {
        /* Llama with attention_bias: llama.cpp writes attn_q.bias etc. when the HF model has them */
        cfg->attention_bias = clft_gguf_tensor_find(g, "blk.0.attn_q.bias") != NULL;
        cfg->qkv_bias = cfg->o_bias = cfg->attention_bias;
        cfg->mlp_bias = clft_gguf_tensor_find(g, "blk.0.ffn_up.bias") != NULL;
    }
    return clft_model_config_validate(cfg, path);
}

clft_status clft_gguf_config_load(const char *path, clft_model_config *cfg) {
    clft_gguf *g = NULL;
    CLFT_CHECK(clft_gguf_open(path, &g));
    clft_status s = clft_gguf_model_config(g, cfg);
    clft_gguf_free(g);
    return s;
}

/* ---- tensor names ------------------------------------------------------------------------------ */

int clft_gguf_name_from_hf(const char *hf, char *out, size_t cap) {
    static const char *const MAP[][2] = {
        {"self_attn.q_proj.", "attn_q."},     {"self_attn.k_proj.", "attn_k."},
        {"self_attn.v_proj.", "attn_v."},     {"self_attn.o_proj.", "attn_output."},
        {"mlp.gate_proj.", "ffn_gate."},      {"mlp.up_proj.", "ffn_up."},
        {"mlp.down_proj.", "ffn_down."},      {"input_layernorm.", "attn_norm."},
        {"post_attention_layernorm.", "ffn_norm."}};
    if (cap) out[0] = 0;
    if (!hf || !cap) return 0;
    int n = -1;
    if (!strcmp(hf, "model.embed_tokens.weight")) n = snprintf(out, cap, "token_embd.weight");
    else if (!strcmp(hf, "model.norm.weight")) n = snprintf(out, cap, "output_norm.weight");
    else if (!strcmp(hf, "lm_head.weight")) n = snprintf(out, cap, "output.weight");
    else if (!strncmp(hf, "model.layers.", 13)) {
        char *end = NULL;
        long layer = strtol(hf + 13, &end, 10);
        if (end == hf + 13 || *end != '.' || layer < 0) return 0;
        const char *rest = end + 1;
        for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++) {
            size_t k = strlen(MAP[i][0]);
            if (!strncmp(rest, MAP[i][0], k) && (!strcmp(rest + k, "weight") || !strcmp(rest + k, "bias"))) {
                n = snprintf(out, cap, "blk.%ld.%s%s", layer, MAP[i][1], rest + k);
                break;
            }
        }
    }
    if (n < 0 || (size_t)n >= cap) {
        out[0] = 0;
        return 0;
    }
    return 1;
}

/* ---- Q/K permutation --------------------------------------------------------------------------- */

void clft_gguf_permute_qk(void *data, int64_t rows, size_t row_bytes, int64_t n_head, int to_gguf, void *tmp) {
    if (!data || !tmp || n_head <= 0 || rows % (2 * n_head)) return;
    int64_t hd = rows / n_head, half = hd / 2;
    unsigned char *d = data, *t = tmp;
    for (int64_t h = 0; h < n_head; h++) {
        unsigned char *head = d + (size_t)(h * hd) * row_bytes;
        memcpy(t, head, (size_t)hd * row_bytes);
        for (int64_t i = 0; i < half; i++)
            for (int a = 0; a < 2; a++) {
                int64_t hf = a * half + i, gg = 2 * i + a; /* HF row and GGUF row inside the head */
                int64_t dst = to_gguf ? gg : hf, src = to_gguf ? hf : gg;
                memcpy(head + (size_t)dst * row_bytes, t + (size_t)src * row_bytes, row_bytes);
            }
    }
}
