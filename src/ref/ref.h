/* ref.h - plain scalar C reference of every op: the specification the OpenCL kernels are tested
 * against. Never links OpenCL. Shapes are row-major; a comment on each gives them. */
#ifndef CLFT_REF_H
#define CLFT_REF_H

#include <stddef.h>
#include <stdint.h>

/* ---- storage conversions ----------------------------------------------------------------- */
float clft_ref_f16_to_f32(uint16_t h);
uint16_t clft_ref_f32_to_f16(float f); /* round to nearest even, overflow to inf, NaN kept */
float clft_ref_bf16_to_f32(uint16_t h);
uint16_t clft_ref_f32_to_bf16(float f); /* round to nearest even, NaN kept quiet */

/* ---- GEMM ---------------------------------------------------------------------------------- */
/* C (M,N) = alpha * op(A) * op(B) + beta * C, op(A) (M,K), op(B) (K,N); A is (M,K) with leading
 * dimension lda, or (K,M) when transA; B is (K,N), or (N,K) when transB. Accumulates in double.
 * beta == 0 overwrites C (NaN in C is not propagated). */
void clft_ref_gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
