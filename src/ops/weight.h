/* weight.h - a weight matrix on the device in any storage type, as the GEMM layer consumes it.
 * W is (rows, cols) = (out_features, in_features), row-major, like an HF nn.Linear weight.
 *   F32  : data = float[rows*cols]
 *   F16  : data = half bits [rows*cols]   (read with vload_half: works without cl_khr_fp16)
 *   BF16 : data = ushort [rows*cols]       (high half of an f32)
 *   NF4/FP4 : data = packed codes, (rows*cols+1)/2 bytes, even element in the high nibble;
 *          code = float[16]; absmax = float[nblocks] (no double quant) or
 *          uchar[nblocks] + nested_absmax float[ceil(nblocks/nested_blocksize)] + nested_code float[256]
 *          + nested_offset (double quant): absmax[b] = nested_code[q[b]] * nested_absmax[b/nbs] + offset.
 *   Q8_0/Q4_0/Q4_1 (native storage of GGUF blocks; cols a multiple of 32, so a row is whole blocks):
 *          data = the codes of block b (b = row * cols/32 + k/32) at 32*b (Q8_0, int8) or 16*b (Q4: byte
 *          j holds element j in its low nibble and j + 16 in its high one, as in the file);
 *          absmax = the f16 scales: d[b] (Q8_0, Q4_0) or pairs (d, m)[b] (Q4_1). The bytes of the
 *          file's blocks (34, 18, 20 per 32 elements), repacked by the host so that codes and scales
 *          are each contiguous and aligned (16- and 32-byte code loads, 2-byte scale loads; the
 *          file's blocks put Q8_0 and Q4_0 codes at 2 bytes past an even address). Values:
 *          q * d, (q - 8) * d, q * d + m (ggml's dequantize_row_*; src/quant/ggml_blocks.c). */
#ifndef CLFT_OPS_WEIGHT_H
#define CLFT_OPS_WEIGHT_H

#include "cl/clrt.h"
#include "quant/quant.h"

typedef struct clft_weight {
    clft_dtype dtype;
    int64_t rows, cols;
    clft_buf data;
    /* 4-bit only */
    int blocksize;
    int double_quant;
    clft_buf code;          /* f32[16] */
    clft_buf absmax;        /* f32[nblocks] or u8[nblocks] */
    clft_buf nested_absmax; /* f32 */
    clft_buf nested_code;   /* f32[256] */
    int nested_blocksize;
    float nested_offset;
} clft_weight;

/* Upload a (rows, cols) f32 host matrix, converted to dtype F32, F16 or BF16 (round to nearest even);
 * host NULL: all zeros (allocated and cleared on the device, no host copy). */
clft_status clft_weight_upload(clft_context *ctx, clft_mem_class cls, clft_dtype dtype, int64_t rows, int64_t cols,
                               const float *host, clft_weight *out);
/* Upload an already quantized host tensor (q->numel must equal rows*cols). */
clft_status clft_weight_upload_q4(clft_context *ctx, clft_mem_class cls, const clft_q4 *q, int64_t rows, int64_t cols,
                                  clft_weight *out);
/* GGUF block storage: the dtypes Q8_0, Q4_0, Q4_1 (1) or not (0); bytes of the codes and of the
 * scales of a (rows, cols) weight of such a dtype (their sum: the bytes in the file). */
int clft_dtype_is_ggml(clft_dtype t);
/* ggml's type id of such a dtype (clft_ggml_type of io/gguf.h: Q4_0 2, Q4_1 3, Q8_0 8; -1 for any
 * other dtype), and the dtype of a ggml type id (CLFT_DTYPE_F32 when it has no native storage). */
int clft_dtype_ggml_type(clft_dtype t);
clft_dtype clft_dtype_of_ggml_type(int ggml_type);
void clft_weight_ggml_bytes(clft_dtype t, int64_t rows, int64_t cols, size_t *codes, size_t *scales);
/* Upload a (rows, cols) weight given as the file's blocks (rows * cols / 32 of them, row after row;
 * bytes must be their size) as native storage of dtype Q8_0, Q4_0 or Q4_1 (cols a multiple of 32). */
clft_status clft_weight_upload_blocks(clft_context *ctx, clft_mem_class cls, clft_dtype dtype, int64_t rows,
                                      int64_t cols, const void *blocks, size_t bytes, clft_weight *out);
/* The same into an existing native weight of that dtype and shape. */
clft_status clft_weight_write_blocks(clft_context *ctx, clft_weight *w, const void *blocks, size_t bytes);
void clft_weight_free(clft_context *ctx, clft_weight *w);
/* Dequantize/convert the whole weight to f32 on the device: out must hold rows*cols floats. */
clft_status clft_weight_to_f32(clft_context *ctx, const clft_weight *w, clft_buf *out);
/* Dequantize a 4-bit weight (cl/nf4.cl) or a GGUF block weight (cl/ggml_blocks.cl) to F32, F16 or
 * BF16 storage (f16/bf16 round to nearest even): out must hold rows*cols elements of out_dtype. The
 * work is enqueued, not waited for. */
clft_status clft_weight_dequant(clft_context *ctx, const clft_weight *w, clft_dtype out_dtype, clft_buf *out);
/* The same for rows row0 .. row0+nrows-1 of a GGUF block weight (out holds nrows*cols elements; the
 * GEMM layer's CLBlast path converts a weight a slice of rows at a time). */
clft_status clft_weight_dequant_ggml_rows(clft_context *ctx, const clft_weight *w, clft_dtype out_dtype, int64_t row0,
                                          int64_t nrows, clft_buf *out);
/* The same with a chosen code-lookup implementation of cl/nf4.cl (NF4_LUT: 0 auto, 1 portable
 * shuffle(), 2 AVX2 permutes, 3 AVX-512 permute; 2 and 3 only on x86 CPU devices with clang -
 * PoCL - that target AVX2 / AVX-512, else the kernel falls back to the next one). For tests and
 * benchmarks. */
clft_status clft_weight_dequant_lut(clft_context *ctx, const clft_weight *w, clft_dtype out_dtype, int lut,
                                    clft_buf *out);
/* The lookup implementation (1..3) that cl/nf4.cl builds with NF4_LUT=lut on this device. */
clft_status clft_weight_lut_built(clft_context *ctx, int lut, int *built);
/* The -D options of cl/nf4.cl's dequantization program for a blocksize and NF4_LUT (0: auto), composed
 * in this one function for the launcher and clft_context_prepare_kernels; cap of 80 is enough. The
 * conversions of 16-bit weights use the program without options (""). */
void clft_nf4_defines(const clft_context *ctx, int blocksize, int lut, char *buf, size_t cap);

#endif
