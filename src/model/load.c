/* load.c - weights of a Hugging Face model folder into a clft model: every tensor the config implies
 * is checked (name, shape), converted to f32 one at a time and stored in the model's storage type
 * (quantized to NF4 for QLoRA), so host memory stays near one tensor plus the mapped shards.
 * bitsandbytes 4-bit folders (clft quantize or bitsandbytes itself) are read directly: for a QLoRA
 * model with the same block size the packed codes go to the device as they are, otherwise they are
 * dequantized first. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnb4.h"
#include "model/model.h"

clft_status clft_model_set_q4(clft_model *m, const char *name, const clft_q4 *q); /* model.c */

clft_status clft_model_load_weights(clft_model *m, const char *path) {
    if (!m || !path) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_load_weights: NULL argument");
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
    if (!s) { /* remembered for base_model_name_or_path of saved adapters and the tokenizer files */
        char abs[4096];
        if (!realpath(path, abs)) snprintf(abs, sizeof abs, "%s", path);
        snprintf(m->source, sizeof m->source, "%s", abs);
    }
    free(buf);
    free(list);
    clft_safetensors_free(st);
    return s;
}
