/* bnb4.h - the bitsandbytes 4-bit checkpoint layout (FORMATS.md 1.7): for a quantized Linear with
 * prefix P, the tensors P.weight (packed U8 [(n+1)/2, 1]), P.weight.absmax, P.weight.quant_map,
 * P.weight.nested_absmax, P.weight.nested_quant_map and P.weight.quant_state.bitsandbytes__nf4|fp4
 * (the UTF-8 JSON of the non-tensor state). Reading gives a clft_q4; writing produces the exact
 * tensors bitsandbytes' Linear4bit._save_to_state_dict saves. */
#ifndef CLFT_IO_BNB4_H
#define CLFT_IO_BNB4_H

#include "io/safetensors.h"
#include "quant/quant.h"

/* 1 when the tensor `name` (".weight") of st is stored as bitsandbytes 4-bit. */
int clft_bnb4_is_quantized(const clft_safetensors *st, const char *name);
/* Read the 4-bit tensor `name` into *q (owned: clft_q4_free); rows/cols from its quant_state.
 * Errors name the tensor and the key that is missing or wrong. */
clft_status clft_bnb4_read(const clft_safetensors *st, const char *name, clft_q4 *q, int64_t *rows, int64_t *cols);

/* The six tensors (and their storage) for a quantized weight of shape (rows, cols) whose original
 * dtype is `dtype_name` ("float32", "bfloat16", "float16"). */
typedef struct clft_bnb4_out {
    char names[6][192];
    char state_json[512];
    clft_st_out_tensor t[6];
    int count;
    int64_t nblocks, nnested;
} clft_bnb4_out;
/* Fill out for q (which must stay alive while out is used). */
clft_status clft_bnb4_describe(const clft_q4 *q, const char *name, int64_t rows, int64_t cols, const char *dtype_name,
                               clft_bnb4_out *out);

#endif
