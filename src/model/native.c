/* native.c - native storage of a GGUF file's weights (--base-storage native): the block type a file's
 * projections have (clft_gguf_native_dtype, for the command line before a model exists), and the
 * loader's step that hands a projection's blocks to the model as they are (Q/K rows put back in
 * Hugging Face order by moving whole rows of blocks) instead of dequantizing them. */
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "io/gguf_model.h"
#include "model/model.h"
#include "quant/ggml_blocks.h"

clft_status clft_gguf_native_dtype(const char *path, clft_dtype *out) {
    if (!path || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf_native_dtype: NULL argument");
    *out = CLFT_DTYPE_F32;
    clft_gguf *g = NULL;
    CLFT_CHECK(clft_gguf_open(path, &g));
    /* the type of the first layer's q projection: the one most of a file's projections have */
    const clft_gguf_tensor *t = clft_gguf_tensor_find(g, "blk.0.attn_q.weight");
    clft_status st = CLFT_OK;
    if (!t) {
        st = clft_error(CLFT_STATUS_NOT_FOUND, "%s: no tensor blk.0.attn_q.weight to take the base storage from", path);
    } else {
        const clft_dtype dt = clft_dtype_of_ggml_type((int)t->type);
        const char *tn = clft_ggml_type_name((int)t->type);
        if (!clft_dtype_is_ggml(dt))
            st = clft_error(CLFT_STATUS_UNSUPPORTED,
                            "%s: native base storage keeps Q8_0, Q4_0 or Q4_1 blocks; the projections of this file "
                            "are %s (use --base-dtype, or --method qlora to requantize to NF4)",
                            path, tn ? tn : "of an unknown type");
        else
            *out = dt;
    }
    clft_gguf_free(g);
    return st;
}

clft_status clft_model_gguf_native(clft_model *m, const char *name, const clft_gguf_tensor *t, int64_t qk_heads,
                                   int *taken) {
    *taken = 0;
    const clft_dtype dt = clft_dtype_of_ggml_type((int)t->type);
    if (!clft_dtype_is_ggml(m->tp.base_dtype) || !clft_model_weight_native(m, name)) return CLFT_OK;
    if (!clft_dtype_is_ggml(dt)) { /* a K-quant or float tensor among native ones: into the model's type */
        const char *tn = clft_ggml_type_name((int)t->type);
        clft_log(CLFT_LOG_INFO, "native storage: %s is %s, requantized to %s", t->name, tn ? tn : "?",
                 clft_dtype_name(m->tp.base_dtype));
        return CLFT_OK;
    }
    if (!qk_heads) {
        CLFT_CHECK(clft_model_set_blocks(m, name, dt, t->data, t->bytes));
        *taken = 1;
        return CLFT_OK;
    }
    const int64_t rows = t->ne[t->ndim - 1];
    const size_t rb = clft_ggml_row_bytes((int)t->type, t->ne[0]);
    uint8_t *copy = clft_malloc(t->bytes), *tmp = clft_malloc((size_t)(rows / qk_heads) * rb);
    clft_status st = copy && tmp ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    if (st == CLFT_OK) {
        memcpy(copy, t->data, t->bytes);
        clft_gguf_permute_qk(copy, rows, rb, qk_heads, 0, tmp);
        st = clft_model_set_blocks(m, name, dt, copy, t->bytes);
    }
    free(copy);
    free(tmp);
    if (st == CLFT_OK) *taken = 1;
    return st;
}
