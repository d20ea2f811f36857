/* optim.c - launchers of cl/optim.cl: AdamW and the sum of squares behind the global grad norm. */
#include <math.h>
#include <stdlib.h>

#include "ops/launch.h"

#define SUMSQ_MAX_GROUPS 256

clft_status clft_adamw_step(clft_context *ctx, clft_dv p, clft_dv m, clft_dv v, clft_dv g, int64_t n,
                            const clft_adamw_hparams *hp, int64_t step) {
    const char *op = "adamw_step";
    if (!hp || step < 1 || n < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: step %lld must be >= 1", op, (long long)step);
    if (n == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "p", p, (size_t)n, 4));
    CLFT_CHECK(clft_dv_check(op, "m", m, (size_t)n, 4));
    CLFT_CHECK(clft_dv_check(op, "v", v, (size_t)n, 4));
    CLFT_CHECK(clft_dv_check(op, "g", g, (size_t)n, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "optim.cl", "", "adamw_step_f32", &k));
    cl_ulong nn = (cl_ulong)n;
    float bc1 = (float)(1.0 - pow((double)hp->beta1, (double)step));
    float bc2 = (float)(1.0 - pow((double)hp->beta2, (double)step));
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(p), CLFT_ARG_DV(m), CLFT_ARG_DV(v), CLFT_ARG_DV(g), sizeof nn, &nn,
                            sizeof(float), &hp->lr, sizeof(float), &hp->beta1, sizeof(float), &hp->beta2, sizeof(float),
                            &hp->eps, sizeof(float), &hp->weight_decay, sizeof bc1, &bc1, sizeof bc2, &bc2, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)n, 64, op);
}

size_t clft_sumsq_partials(int64_t n) {
    size_t groups = ((size_t)(n > 0 ? n : 1) + CLFT_SUMSQ_WG - 1) / CLFT_SUMSQ_WG;
    return groups < SUMSQ_MAX_GROUPS ? groups : SUMSQ_MAX_GROUPS;
}

clft_status clft_sumsq_launch(clft_context *ctx, clft_dv x, int64_t n, clft_dv partial) {
    const char *op = "sumsq";
    if (n < 0) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: negative size", op);
    if (n == 0) return CLFT_OK;
    size_t groups = clft_sumsq_partials(n);
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)n, 4));
    CLFT_CHECK(clft_dv_check(op, "partial", partial, groups, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "optim.cl", CLFT_SUMSQ_DEFS, "sumsq_partial_f32", &k));
    cl_ulong nn = (cl_ulong)n;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(partial), CLFT_ARG_DV(x), sizeof nn, &nn, (size_t)0));
    return clft_launch_1d(ctx, k, groups * CLFT_SUMSQ_WG, CLFT_SUMSQ_WG, op);
}

clft_status clft_sumsq_read(clft_context *ctx, clft_dv partial, size_t count, double *out) {
    *out = 0.0;
    if (!count) return CLFT_OK;
    float *host = clft_malloc(count * sizeof(float));
    if (!host) return CLFT_STATUS_HOST_OOM;
    clft_status st = clft_buf_read(ctx, partial.buf, partial.off * 4, host, count * sizeof(float));
    double s = 0.0;
    for (size_t i = 0; st == CLFT_OK && i < count; i++)
        s += (double)host[i];
    free(host);
    *out = s;
    return st;
}

clft_status clft_sumsq(clft_context *ctx, clft_dv x, int64_t n, clft_dv partial, double *out) {
    *out = 0.0;
    CLFT_CHECK(clft_sumsq_launch(ctx, x, n, partial));
    return clft_sumsq_read(ctx, partial, n > 0 ? clft_sumsq_partials(n) : 0, out);
}
