/* selfcheck.h - per-op-family self-checks: run the kernels on small seeded inputs and compare with
 * src/ref. Each returns CLFT_OK and adds to r->checks / r->failures; a hard error (build failure,
 * OpenCL error) is returned as its status. */
#ifndef CLFT_OPS_SELFCHECK_H
#define CLFT_OPS_SELFCHECK_H
#include "cl/clrt.h"

typedef clft_status (*clft_selfcheck_fn)(clft_context *ctx, clft_selfcheck_result *r);

clft_status clft_selfcheck_runtime(clft_context *ctx, clft_selfcheck_result *r);
clft_status clft_selfcheck_gemm(clft_context *ctx, clft_selfcheck_result *r); /* ops/gemm.c */
/* NF4/FP4 dequantization and 16-bit weight conversion (src/ops/weight.c). */
clft_status clft_selfcheck_q4(clft_context *ctx, clft_selfcheck_result *r);

/* Training-op kernels: norm, SwiGLU, RoPE, attention, cross-entropy rows, AdamW (ops/selfcheck_train.c). */
clft_status clft_selfcheck_train_ops(clft_context *ctx, clft_selfcheck_result *r);

/* Compare n floats; logs the first mismatches with `what`; returns the number of mismatches. */
size_t clft_compare_f32(const char *what, const float *got, const float *ref, size_t n, float atol, float rtol,
                        double *nmse_out);
#endif
