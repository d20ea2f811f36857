/* gemm.h - the GEMM layer the model code calls. All matrices are row-major f32 on the device
 * unless a clft_weight is given; accumulation is always fp32. The layer chooses per shape and
 * device between CLBlast and clft's own kernels (cl/gemm.cl) from measurements.
 *
 * Linear-layer products (W is (N,K) = (out,in), any storage type):
 *   forward       Y (M,N)  = X (M,K) * W^T          [+ beta*Y]
 *   backward-data dX (M,K) = dY (M,N) * W           [+ beta*dX]
 *   backward-wt   dW (N,K) += dY^T (N,M) * X (M,K)  (f32 W only; parameter grads accumulate)   */
#ifndef CLFT_OPS_GEMM_H
#define CLFT_OPS_GEMM_H

#include "ops/weight.h"

/* A view of an f32 matrix inside a device buffer: element (i,j) at offset + i*ld + j (in floats). */
typedef struct clft_mat {
    const clft_buf *buf;
    size_t offset;
    int64_t ld;
} clft_mat;

/* C = alpha * op(A) * op(B) + beta * C, op(A) (M,K), op(B) (K,N). */
clft_status clft_gemm_f32(clft_context *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                          clft_mat A, clft_mat B, float beta, clft_mat C);
/* batch of independent GEMMs with fixed element strides between consecutive matrices. */
clft_status clft_gemm_f32_batched(clft_context *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K,
                                  float alpha, clft_mat A, int64_t strideA, clft_mat B, int64_t strideB, float beta,
                                  clft_mat C, int64_t strideC, int64_t batch);

clft_status clft_linear_fwd(clft_context *ctx, clft_mat Y, clft_mat X, const clft_weight *W, int64_t M, float beta);
clft_status clft_linear_bwd_data(clft_context *ctx, clft_mat dX, clft_mat dY, const clft_weight *W, int64_t M,
                                 float beta);
clft_status clft_linear_bwd_weight(clft_context *ctx, clft_mat dW, clft_mat dY, clft_mat X, int64_t M, int64_t N,
                                   int64_t K);

#endif
