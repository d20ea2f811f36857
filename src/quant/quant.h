/* quant.h - host-side 4-bit quantization (NF4 / FP4) byte-for-byte as bitsandbytes does it on the
 * CPU, with double quantization of the absmax values; plain-C dequantization is the reference twin
 * of cl/nf4.cl. Exact format: shared reference FORMATS.md section 1; the choices where bitsandbytes'
 * backends disagree are written at the top of quant.c. Part of clft_ref: never links OpenCL. */
#ifndef CLFT_QUANT_H
#define CLFT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

extern const float CLFT_NF4_CODE[16]; /* bitsandbytes NF4 table (quant_map) */
extern const float CLFT_FP4_CODE[16]; /* bitsandbytes FP4 table (bit-pattern order, divided by 12) */

#define CLFT_Q4_DEFAULT_BLOCKSIZE 64
#define CLFT_Q4_NESTED_BLOCKSIZE  256

/* A quantized tensor on the host. Elements are the flattened row-major tensor in blocks of
 * `blocksize`; two 4-bit codes per byte, the even element in the HIGH nibble. */
typedef struct clft_q4 {
    clft_dtype type; /* CLFT_DTYPE_NF4 or CLFT_DTYPE_FP4 */
    int64_t numel;
    int blocksize;   /* 32..4096, power of two; bitsandbytes default 64 */
    int64_t nblocks; /* ceil(numel / blocksize) */
    uint8_t *packed; /* (numel + 1) / 2 bytes */
    float code[16];  /* quant_map */
    /* first-level absmax: f32 when !double_quant */
    float *absmax; /* nblocks, or NULL when double_quant */
    /* double quantization (compress_statistics=True) */
    int double_quant;
    uint8_t *qabsmax;       /* nblocks: index into nested_code of (absmax - nested_offset) */
    float *nested_absmax;   /* ceil(nblocks / nested_blocksize) */
    int nested_blocksize;   /* 256 */
    float nested_offset;    /* mean of the first-level absmax */
    float nested_code[256]; /* signed dynamic map (nested_quant_map) */
} clft_q4;

/* How the absmax values are rounded to the 8-bit dynamic map in double quantization. The two
 * bitsandbytes implementations differ in rare values near a midpoint (see quant.c). */
typedef enum clft_q4_nested_mode {
    /* bitsandbytes' native CPU library (libbitsandbytes_cpu, what a pip-installed bitsandbytes
     * runs on CPU tensors): scaled value snapped to a 65536-entry lookup table. Default. */
    CLFT_Q4_NESTED_BNB_CPU = 0,
    /* exact nearest map entry, ties to the lower index: bitsandbytes' pure-torch default backend
     * (bucketize on f32 midpoints) and, up to tie handling, its CUDA kernel. */
    CLFT_Q4_NESTED_NEAREST = 1
} clft_q4_nested_mode;

/* Quantize n floats (n >= 1) with the nested mode CLFT_Q4_NESTED_BNB_CPU. *out is filled (caller
 * frees with clft_q4_free; it is zeroed on failure). Bad type, blocksize (not a power of two in
 * 32..4096), n < 1 or NULL pointers give CLFT_STATUS_INVALID_ARGUMENT. */
clft_status clft_q4_quantize(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant, clft_q4 *out);
clft_status clft_q4_quantize_ex(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant,
                                clft_q4_nested_mode nested_mode, clft_q4 *out);
/* The same on `threads` threads (at most one per block); threads < 1 (what the two above use): one
 * per online core, fewer for small tensors (about 128K elements per thread at least). The bytes do
 * not depend on the thread count; a thread that cannot be started leaves its blocks to the calling
 * thread. Safe to call from several threads at once (no shared state). */
clft_status clft_q4_quantize_threads(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant,
                                     clft_q4_nested_mode nested_mode, int threads, clft_q4 *out);
/* Frees the arrays and zeroes *q; accepts NULL and an already freed/zeroed struct. */
void clft_q4_free(clft_q4 *q);
/* The absmax of block b (reconstructed from the double quantization when present):
 * nested_code[qabsmax[b]] * nested_absmax[b / 256] + nested_offset, in f32, two roundings. */
float clft_q4_block_absmax(const clft_q4 *q, int64_t b);
/* Reference dequantization of all elements to f32 (clft_ref twin of cl/nf4.cl):
 * out[i] = code[nibble(i)] * absmax(i / blocksize), one f32 multiply. */
void clft_q4_dequantize(const clft_q4 *q, float *out);
/* The same on `threads` threads; threads < 1 (what clft_q4_dequantize uses): one per online core,
 * fewer for small tensors (about 1M elements per thread at least). Same values for any count. */
void clft_q4_dequantize_threads(const clft_q4 *q, float *out, int threads);
/* The 256-entry signed dynamic map of bitsandbytes' create_dynamic_map(signed=True), exactly as
 * PyTorch computes it: its CPU linspace evaluates start + step*i with one rounding (fused). */
void clft_dynamic_map_signed(float out[256]);
/* The same map with linspace evaluated with two roundings (separate multiply and add): this is
 * the table printed in FORMATS.md 1.5; it differs from PyTorch's in 42 entries by one ulp. */
void clft_dynamic_map_signed_unfused(float out[256]);
/* Mean of n floats in the order PyTorch's CPU float32 mean takes when it runs on one thread
 * (cascade sum over 8-wide vectors, then sum / n): see quant.c. */
float clft_q4_torch_mean_f32(const float *x, int64_t n);

#endif
