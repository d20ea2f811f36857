/* quant.h - host-side 4-bit quantization (NF4 / FP4) byte-for-byte as bitsandbytes does it, with
 * double quantization of the absmax values; plain-C dequantization is the reference twin of
 * cl/nf4.cl. Exact format: shared reference FORMATS.md section 1. Never links OpenCL. */
#ifndef CLFT_QUANT_H
#define CLFT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

extern const float CLFT_NF4_CODE[16];  /* bitsandbytes NF4 table (quant_map) */
extern const float CLFT_FP4_CODE[16];  /* bitsandbytes FP4 table */

/* A quantized tensor on the host. Elements are the flattened row-major tensor in blocks of
 * `blocksize`; two 4-bit codes per byte, the even element in the HIGH nibble. */
typedef struct clft_q4 {
    clft_dtype type;   /* CLFT_DTYPE_NF4 or CLFT_DTYPE_FP4 */
    int64_t numel;
    int blocksize;     /* 32..4096, power of two; bitsandbytes default 64 */
    int64_t nblocks;   /* ceil(numel / blocksize) */
    uint8_t *packed;   /* (numel + 1) / 2 bytes */
    float code[16];    /* quant_map */
    /* first-level absmax: f32 when !double_quant */
    float *absmax;     /* nblocks, or NULL when double_quant */
    /* double quantization (compress_statistics=True) */
    int double_quant;
    uint8_t *qabsmax;        /* nblocks: index into nested_code of (absmax - nested_offset) */
    float *nested_absmax;    /* ceil(nblocks / nested_blocksize) */
    int nested_blocksize;    /* 256 */
    float nested_offset;     /* mean of the first-level absmax */
    float nested_code[256];  /* signed dynamic map (nested_quant_map) */
} clft_q4;

/* Quantize n floats. *out is filled (caller frees with clft_q4_free). */
clft_status clft_q4_quantize(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant, clft_q4 *out);
void clft_q4_free(clft_q4 *q);
/* The absmax of block b (reconstructed from the double quantization when present). */
float clft_q4_block_absmax(const clft_q4 *q, int64_t b);
/* Reference dequantization of all elements to f32 (clft_ref twin of cl/nf4.cl). */
void clft_q4_dequantize(const clft_q4 *q, float *out);
/* The 256-entry signed dynamic map of bitsandbytes' create_dynamic_map(signed=True). */
void clft_dynamic_map_signed(float out[256]);

#endif
