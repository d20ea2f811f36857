/* selfcheck.c - clft_selfcheck(): every kernel family's check against its plain-C reference
 * (clft_context_prepare_kernels, which only builds the programs, is in ops/prepare.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/selfcheck.h"

static const clft_selfcheck_fn CHECKS[] = {
    clft_selfcheck_runtime,
    clft_selfcheck_q4,
    clft_selfcheck_gemm,
    clft_selfcheck_train_ops,
};

size_t clft_compare_f32(const char *what, const float *got, const float *ref, size_t n, float atol, float rtol,
                        double *nmse_out) {
    size_t bad = 0;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
        int ok = fabs(d) <= atol + rtol * fabs((double)ref[i]);
        if (!ok || isnan(got[i]) != isnan(ref[i])) {
            if (bad < 5)
                clft_log(CLFT_LOG_ERROR, "%s: mismatch at %zu: got %.9g, ref %.9g (|diff| %.3g > %.3g)", what, i,
                         (double)got[i], (double)ref[i], fabs(d), (double)(atol + rtol * fabsf(ref[i])));
            bad++;
        }
    }
    if (nmse_out) *nmse_out = den > 0 ? num / den : num;
    if (bad) clft_log(CLFT_LOG_ERROR, "%s: %zu of %zu values outside tolerance", what, bad, n);
    return bad;
}

/* The runtime itself: a program from the embedded sources builds, launches and moves data. */
clft_status clft_selfcheck_runtime(clft_context *ctx, clft_selfcheck_result *r) {
    const size_t n4 = 1000;
    float *in = clft_malloc(n4 * 16), *out = clft_malloc(n4 * 16);
    clft_buf a = {0}, b = {0};
    cl_kernel k = NULL;
    clft_status st = (in && out) ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; st == CLFT_OK && i < n4 * 4; i++)
        in[i] = (float)i * 0.25f - 100.0f;
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, n4 * 16, &a);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, n4 * 16, &b);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &a, 0, in, n4 * 16);
    if (st == CLFT_OK) st = clft_cl_kernel(ctx, "bench.cl", "", "bench_copy_f32", &k);
    cl_ulong n = n4;
    if (st == CLFT_OK)
        st = clft_cl_args(k, "bench_copy_f32", sizeof(cl_mem), &b.mem, sizeof(cl_mem), &a.mem, sizeof n, &n, (size_t)0);
    size_t g = n4, l = 64;
    if (st == CLFT_OK) st = clft_cl_launch(ctx, k, 1, &g, &l, "bench_copy_f32");
    if (st == CLFT_OK) st = clft_buf_read(ctx, &b, 0, out, n4 * 16);
    if (st == CLFT_OK) {
        r->checks++;
        if (clft_compare_f32("runtime copy", out, in, n4 * 4, 0.0f, 0.0f, NULL)) r->failures++;
    }
    clft_buf_free(ctx, &a);
    clft_buf_free(ctx, &b);
    free(in);
    free(out);
    return st;
}

clft_status clft_selfcheck(clft_context *ctx, clft_selfcheck_result *out) {
    if (!ctx || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_selfcheck: NULL argument");
    memset(out, 0, sizeof *out);
    double t0 = clft_now_seconds();
    for (size_t i = 0; i < sizeof CHECKS / sizeof CHECKS[0]; i++) {
        clft_status st = CHECKS[i](ctx, out);
        if (st != CLFT_OK) {
            out->seconds = clft_now_seconds() - t0;
            return st;
        }
    }
    out->seconds = clft_now_seconds() - t0;
    if (out->failures)
        return clft_error(CLFT_STATUS_NUMERICAL, "%d of %d kernel self-checks failed (details in the log)",
                          out->failures, out->checks);
    return CLFT_OK;
}
