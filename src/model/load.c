/* load.c - weights of a Hugging Face model folder into a clft model: every tensor the config implies
 * is checked (name, shape), converted to f32 one at a time and stored in the model's storage type
 * (quantized to NF4 for QLoRA), so host memory stays near one tensor plus the mapped shards.
 * bitsandbytes 4-bit folders (clft quantize or bitsandbytes itself) are read directly: for a QLoRA
 * model with the same block size the packed codes go to the device as they are, otherwise they are
 * dequantized first. A llama.cpp GGUF file (load_gguf) is read tensor by tensor under its GGUF names,
 * dequantized to f32 (the Q/K rows of arch llama/mistral put back in Hugging Face order) and stored
 * the same way. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnb4.h"
#include "io/gguf_model.h"
#include "model/model.h"

clft_status clft_model_set_q4(clft_model *m, const char *name, const clft_q4 *q); /* model.c */

/* remembered for base_model_name_or_path of saved adapters and the tokenizer files */
static void set_source(clft_model *m, const char *path) {
    char abs[4096];
    if (!realpath(path, abs)) snprintf(abs, sizeof abs, "%s", path);
    snprintf(m->source, sizeof m->source, "%s", abs);
}

/* ---- GGUF ---------------------------------------------------------------------------------------
 * Every tensor is first offered to clft_model_gguf_native (native.c) with the file's raw blocks; when
 * the model keeps the weight in the tensor's own block type it takes them (*taken = 1), otherwise the
 * loader dequantizes to f32, puts llama/mistral Q/K rows back in HF order and calls
 * clft_model_set_weight. */

/* the HF shape of a config tensor reversed = the GGUF ne */
static clft_status gguf_check_shape(const char *path, const clft_hf_tensor *ht, const clft_gguf_tensor *t) {
    int ok = t->ndim == ht->ndim;
    for (int d = 0; d < ht->ndim && ok; d++) ok = t->ne[d] == ht->shape[ht->ndim - 1 - d];
    if (ok) return CLFT_OK;
    char want[64], got[96];
    if (ht->ndim == 2) snprintf(want, sizeof want, "[%lld, %lld]", (long long)ht->shape[1], (long long)ht->shape[0]);
    else snprintf(want, sizeof want, "[%lld]", (long long)ht->shape[0]);
    int n = snprintf(got, sizeof got, "[");
    for (int d = 0; d < t->ndim && n < (int)sizeof got - 24; d++)
        n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    snprintf(got + n, sizeof got - (size_t)n, "]");
    return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: tensor '%s' has ne %s, the config needs %s (for %s)", path,
                      t->name, got, want, ht->name);
}

/* Q/K heads whose rows llama.cpp permuted (0: none): q by head_count, k by head_count_kv */
static int64_t gguf_qk_heads(const clft_model *m, int permutes, const char *hf) {
    if (!permutes) return 0;
    if (strstr(hf, ".self_attn.q_proj.")) return m->cfg.num_heads;
    if (strstr(hf, ".self_attn.k_proj.")) return m->cfg.num_kv_heads;
    return 0;
}

static clft_status load_gguf(clft_model *m, const char *path) {
    clft_gguf *g = NULL;
    CLFT_CHECK(clft_gguf_open(path, &g));
    const char *arch = NULL;
    size_t alen = 0;
    char a[32] = "";
    if (clft_gguf_get_str(g, "general.architecture", &arch, &alen) == CLFT_OK && alen < sizeof a)
        memcpy(a, arch, alen), a[alen] = 0;
    int permutes = clft_gguf_arch_permutes_qk(a);
    clft_hf_tensor *list = NULL;
    size_t n = 0;
    clft_status s = clft_hf_tensor_list(&m->cfg, &list, &n);
    float *buf = NULL, *tmp = NULL;
    size_t cap = 0, tcap = 0;
    for (size_t i = 0; i < n && !s; i++) {
        char gname[96];
        const clft_gguf_tensor *t = NULL;
        if (!clft_gguf_name_from_hf(list[i].name, gname, sizeof gname) || !(t = clft_gguf_tensor_find(g, gname))) {
            s = clft_error(CLFT_STATUS_NOT_FOUND, "%s: no tensor '%s' (the config needs it for %s)", path,
                           gname[0] ? gname : "?", list[i].name);
            break;
        }
        s = gguf_check_shape(path, &list[i], t);
        int64_t heads = gguf_qk_heads(m, permutes, list[i].name);
        if (!s && heads && (t->ne[t->ndim - 1] % (2 * heads)))
            s = clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: tensor '%s': %lld rows are not %lld heads of an even size",
                           path, t->name, (long long)t->ne[t->ndim - 1], (long long)heads);
        int taken = 0;
        if (!s) s = clft_model_gguf_native(m, list[i].name, t, heads, &taken);
        if (s || taken) continue;
        if ((size_t)t->numel > cap) {
            float *nb = realloc(buf, (size_t)t->numel * sizeof *nb);
            if (!nb) {
                s = clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory for tensor '%s'", path, t->name);
                break;
            }
            buf = nb, cap = (size_t)t->numel;
        }
        s = clft_gguf_to_f32(g, t, buf);
        if (!s && heads) {
            int64_t rows = t->ne[t->ndim - 1], cols = t->numel / rows;
            size_t need = (size_t)(rows / heads * cols);
            if (need > tcap) {
                free(tmp);
                tcap = need;
                tmp = clft_malloc(tcap * sizeof *tmp);
                if (!tmp) {
                    tcap = 0;
                    s = CLFT_STATUS_HOST_OOM;
                    break;
                }
            }
            clft_gguf_permute_qk(buf, rows, (size_t)cols * sizeof(float), heads, 0, tmp);
        }
        if (!s) s = clft_model_set_weight(m, list[i].name, buf, t->numel);
    }
    if (!s) set_source(m, path);
    free(buf);
    free(tmp);
    free(list);
    clft_gguf_free(g);
    return s;
}

clft_status clft_model_load_weights(clft_model *m, const char *path) {
    if (!m || !path) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_load_weights: NULL argument");
    if (clft_gguf_is_model_file(path)) return load_gguf(m, path);
    clft_safetensors *st = NULL;
    CLFT_CHECK(clft_st_open(path, &st));
    clft_model_config cfg = m->cfg;
    int quantized = 0;
    for (size_t i = 0; i < clft_st_count(st) && !quantized; i++)
        quantized = strstr(clft_st_at(st, i)->name, ".quant_state.bitsandbytes__") != NULL;
    cfg.has_quantization_config = quantized; /* let the check accept the 4-bit layout */
    clft_hf_tensor *list = NULL;
    size_t n = 0;
    clft_status s = clft_model_check_tensors(&cfg, st);
    if (!s) s = clft_hf_tensor_list(&m->cfg, &list, &n);
    float *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n && !s; i++) {
        const char *name = list[i].name;
        if (clft_bnb4_is_quantized(st, name)) {
            clft_q4 q;
            int64_t rows = 0, cols = 0;
            s = clft_bnb4_read(st, name, &q, &rows, &cols);
            if (!s && (rows != list[i].shape[0] || cols != list[i].shape[1]))
                s = clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                               "%s: 4-bit weight '%s' has shape [%lld, %lld], the config needs [%lld, %lld]", path,
                               name, (long long)rows, (long long)cols, (long long)list[i].shape[0],
                               (long long)list[i].shape[1]);
            if (!s) s = clft_model_set_q4(m, name, &q);
            clft_q4_free(&q);
            continue;
        }
        const clft_st_tensor *t = NULL;
        s = clft_st_get(st, name, &t);
        if (s) break;
        s = clft_st_to_f32_reuse(st, t, &buf, &cap);
        if (!s) s = clft_model_set_weight(m, name, buf, t->numel);
    }
    if (s) clft_error_prefix(s, "loading %s", path);
    if (!s) set_source(m, path);
    free(buf);
    free(list);
    clft_safetensors_free(st);
    return s;
}
