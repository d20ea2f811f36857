/* bench_peak.c - the device's measured limits with clft's own microkernels (cl/bench.cl):
 * device-to-device copy bandwidth (read + write bytes / s) and fp32 FMA throughput. These are the
 * denominators for every "fraction of peak" the benchmarks report. */
#include "bench.h"

typedef struct copy_arg {
    cl_kernel k;
    size_t n4;
} copy_arg;

static clft_status run_copy(clft_context *ctx, void *arg) {
    copy_arg *a = arg;
    size_t g = a->n4, l = 64;
    return clft_cl_launch(ctx, a->k, 1, &g, &l, "bench_copy_f32");
}

typedef struct fma_arg {
    cl_kernel k;
    size_t items;
} fma_arg;

static clft_status run_fma(clft_context *ctx, void *arg) {
    fma_arg *a = arg;
    size_t l = 64;
    return clft_cl_launch(ctx, a->k, 1, &a->items, &l, "bench_fma_f32");
}

clft_status bench_section_peak(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    (void)root;
    const int chains = 16;
    /* copy: a buffer well beyond any cache */
    size_t bytes = o->quick ? ((size_t)32 << 20) : ((size_t)256 << 20);
    if (bytes * 2 > ctx->caps.info.max_alloc_bytes * 2 || bytes > ctx->caps.info.max_alloc_bytes)
        bytes = (size_t)ctx->caps.info.max_alloc_bytes / 2 / 16 * 16;
    clft_buf src = {0}, dst = {0}, fout = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &src);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &dst);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &src);
    cl_kernel kc = NULL, kf = NULL;
    if (st == CLFT_OK) st = clft_cl_kernel(ctx, "bench.cl", "", "bench_copy_f32", &kc);
    copy_arg ca = {kc, bytes / 16};
    cl_ulong n4 = ca.n4;
    if (st == CLFT_OK)
        st = clft_cl_args(kc, "bench_copy_f32", sizeof(cl_mem), &dst.mem, sizeof(cl_mem), &src.mem, sizeof n4, &n4,
                          (size_t)0);
    double t = 0;
    if (st == CLFT_OK) st = bench_best_seconds(ctx, o->reps, run_copy, &ca, &t);
    if (st == CLFT_OK) {
        cJSON_AddNumberToObject(out, "copy_bytes", (double)bytes);
        cJSON_AddNumberToObject(out, "copy_gbs", 2.0 * (double)bytes / t / 1e9);
    }
    /* fma: enough work-items to fill every compute unit many times over */
    size_t items = (size_t)ctx->caps.info.compute_units * (ctx->caps.is_cpu ? 1024 : 16384);
    int iters = o->quick ? 256 : 2048;
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, items * sizeof(float), &fout);
    if (st == CLFT_OK) st = clft_cl_kernel(ctx, "bench.cl", "-DBENCH_CHAINS=16", "bench_fma_f32", &kf);
    float seed = 0.5f;
    if (st == CLFT_OK)
        st = clft_cl_args(kf, "bench_fma_f32", sizeof(cl_mem), &fout.mem, sizeof iters, &iters, sizeof seed, &seed,
                          (size_t)0);
    fma_arg fa = {kf, items};
    if (st == CLFT_OK) st = bench_best_seconds(ctx, o->reps, run_fma, &fa, &t);
    if (st == CLFT_OK) {
        double flops = 2.0 * (double)items * (double)iters * chains;
        cJSON_AddNumberToObject(out, "fp32_gflops", flops / t / 1e9);
    }
    clft_buf_free(ctx, &src);
    clft_buf_free(ctx, &dst);
    clft_buf_free(ctx, &fout);
    return st;
}
