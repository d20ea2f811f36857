/* ggml_blocks.h - llama.cpp's tensor block formats on the host (ggml-common.h; FORMATS.md 4.5):
 * dequantization of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K..Q6_K to f32
 * (as ggml's dequantize_row_* and the PyPI gguf package's gguf.quants compute them), and
 * quantization of f32 to Q8_0, Q4_0 and Q4_1 as ggml's quantize_row_*_ref does (the bytes llama.cpp's
 * reference quantizer writes). The dequantizers are the plain-C twins of the native-storage kernels
 * (cl/ggml_blocks.cl). Part of clft_ref: never links OpenCL. Types use the values of clft_ggml_type
 * (io/gguf.h). */
#ifndef CLFT_QUANT_GGML_BLOCKS_H
#define CLFT_QUANT_GGML_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

/* "F32", "Q4_K", ...; NULL for a type this file does not handle */
const char *clft_ggml_type_name(int type);
/* elements per block (1 for F32/F16/BF16, 32, or 256 for K-quants); 0 when unknown */
int clft_ggml_block_elems(int type);
/* bytes per block; 0 when unknown */
int clft_ggml_block_bytes(int type);
/* bytes of n elements (n a multiple of the block size); 0 when unknown or not a multiple */
size_t clft_ggml_row_bytes(int type, int64_t n);

/* n elements (a multiple of the block size) from src to f32. CLFT_STATUS_UNSUPPORTED for a type
 * not listed above, CLFT_STATUS_INVALID_ARGUMENT for a bad n. */
clft_status clft_ggml_dequantize(int type, const void *src, int64_t n, float *dst);
/* f32 to Q8_0, Q4_0, Q4_1, F16, BF16 or F32 (n a multiple of the block size). */
clft_status clft_ggml_quantize(int type, const float *src, int64_t n, void *dst);

#endif
