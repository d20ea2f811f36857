/* bench_peak.c - the device's measured limits with clft's own microkernels (cl/bench.cl):
 * device-to-device copy bandwidth (read + write bytes / s) and fp32 FMA throughput. These are the
 * denominators for every "fraction of peak" the benchmarks report, so they must be honest:
 *   - copy buffers are far larger than any last-level cache (512 MiB each, 128 MiB with --quick;
 *     a 32 MiB buffer on a CPU with a 32 MiB L3 measures the cache, not memory), capped by the
 *     device's single-allocation limit and a quarter of its memory;
 *   - copy is measured with the driver's clEnqueueCopyBuffer and with float4, float16,
 *     1 KiB-per-work-item and non-temporal-store kernels, and the best of them is reported (the
 *     dequantization kernels store non-temporally on CPUs, so the limit must include that);
 *   - write-only bandwidth (non-temporal fill) is reported too: a kernel that writes far more than
 *     it reads (NF4 dequantization: 4 bytes out per 0.5 in) is bounded by it, not by the copy;
 *   - the FMA kernel keeps independent vector chains in registers (see cl/bench.cl) and is run in
 *     a few chain/vector-width configurations, the best of which is reported, so that both CPUs
 *     (wide SIMD, PoCL vectorizing only innermost loops) and GPUs (scalar lanes) reach their peak. */
#include <stdio.h>

#include "bench.h"

typedef struct launch_arg {
    cl_kernel k;
    size_t global, local;
    const char *name;
} launch_arg;

static clft_status run_launch(clft_context *ctx, void *arg) {
    launch_arg *a = arg;
    return clft_cl_launch(ctx, a->k, 1, &a->global, &a->local, a->name);
}

static size_t copy_bytes(const clft_context *ctx, int quick) {
    size_t bytes = quick ? ((size_t)128 << 20) : ((size_t)512 << 20);
    const uint64_t max_alloc = ctx->caps.info.max_alloc_bytes, quarter = ctx->caps.info.global_mem_bytes / 4;
    if (bytes > max_alloc) bytes = (size_t)max_alloc;
    if (bytes > quarter) bytes = (size_t)quarter;
    return bytes / 64 * 64;
}

clft_status bench_section_peak(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    (void)root;
    const size_t bytes = copy_bytes(ctx, o->quick);
    clft_buf src = {0}, dst = {0}, fout = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &src);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &dst);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &src);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &dst); /* touch every page before timing */
    double best_copy = 0;                                  /* the best of the driver's copy and our copy kernels */
    cJSON *copies = cJSON_AddObjectToObject(out, "copy_kernels_gbs");
    /* the driver's own copy as a cross-check */
    if (st == CLFT_OK) {
        double t = 1e30;
        for (int r = 0; st == CLFT_OK && r <= (o->reps > 0 ? o->reps : 1); r++) {
            double t0 = clft_now_seconds();
            cl_int err = clEnqueueCopyBuffer(ctx->queue, src.mem, dst.mem, 0, 0, bytes, 0, NULL, NULL);
            if (err != CL_SUCCESS) st = clft_cl_fail(err, "clEnqueueCopyBuffer");
            if (st == CLFT_OK) st = clft_context_finish(ctx);
            double dt = clft_now_seconds() - t0;
            if (r > 0 && dt < t) t = dt; /* run 0 is the warm-up */
        }
        if (st == CLFT_OK) {
            best_copy = 2.0 * (double)bytes / t / 1e9;
            cJSON_AddNumberToObject(copies, "clEnqueueCopyBuffer", best_copy);
        }
    }
    static const struct {
        const char *name;
        size_t elem, per_item;
    } COPIES[] = {{"bench_copy_f32", 16, 1},
                  {"bench_copy16_f32", 64, 1},
                  {"bench_copy16x_f32", 64, 16},
                  {"bench_copy16nt_f32", 64, 1}};
    for (size_t c = 0; st == CLFT_OK && c < sizeof COPIES / sizeof COPIES[0]; c++) {
        cl_kernel k = NULL;
        st = clft_cl_kernel(ctx, "bench.cl", "", COPIES[c].name, &k);
        cl_ulong n = bytes / COPIES[c].elem;
        if (st == CLFT_OK)
            st = clft_cl_args(k, COPIES[c].name, sizeof(cl_mem), &dst.mem, sizeof(cl_mem), &src.mem, sizeof n, &n,
                              (size_t)0);
        launch_arg a = {k, (size_t)(n + COPIES[c].per_item - 1) / COPIES[c].per_item, 64, COPIES[c].name};
        double t = 0;
        if (st == CLFT_OK) st = bench_best_seconds(ctx, o->reps, run_launch, &a, &t);
        if (st == CLFT_OK) {
            double gbs = 2.0 * (double)bytes / t / 1e9;
            cJSON_AddNumberToObject(copies, COPIES[c].name, gbs);
            if (gbs > best_copy) best_copy = gbs;
        }
    }
    if (st == CLFT_OK) {
        cJSON_AddNumberToObject(out, "copy_bytes", (double)bytes);
        cJSON_AddNumberToObject(out, "copy_gbs", best_copy);
    }
    /* write-only bandwidth (bytes written / s) */
    if (st == CLFT_OK) {
        cl_kernel k = NULL;
        const cl_ulong n16 = bytes / 64;
        const float v = 1.0f;
        st = clft_cl_kernel(ctx, "bench.cl", "", "bench_fill16nt_f32", &k);
        if (st == CLFT_OK)
            st = clft_cl_args(k, "bench_fill16nt_f32", sizeof(cl_mem), &dst.mem, sizeof v, &v, sizeof n16, &n16,
                              (size_t)0);
        launch_arg a = {k, (size_t)n16, 64, "bench_fill16nt_f32"};
        double t = 0;
        if (st == CLFT_OK) st = bench_best_seconds(ctx, o->reps, run_launch, &a, &t);
        if (st == CLFT_OK) cJSON_AddNumberToObject(out, "write_gbs", (double)bytes / t / 1e9);
    }
    clft_buf_free(ctx, &src);
    clft_buf_free(ctx, &dst);

    /* fma: enough work-items to fill every compute unit many times over */
    const size_t items = (size_t)ctx->caps.info.compute_units * (ctx->caps.is_cpu ? 256 : 16384);
    const int iters = o->quick ? 1024 : 4096;
    static const struct { int chains, vec; } FMAS[] = {{8, 16}, {12, 16}, {16, 4}, {16, 1}};
    double best_fma = 0;
    cJSON *fmas = cJSON_AddObjectToObject(out, "fma_kernels_gflops");
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, items * sizeof(float), &fout);
    for (size_t c = 0; st == CLFT_OK && c < sizeof FMAS / sizeof FMAS[0]; c++) {
        char defs[64], key[32];
        snprintf(defs, sizeof defs, "-DBENCH_CHAINS=%d -DBENCH_VEC=%d", FMAS[c].chains, FMAS[c].vec);
        snprintf(key, sizeof key, "chains%d_vec%d", FMAS[c].chains, FMAS[c].vec);
        cl_kernel k = NULL;
        st = clft_cl_kernel(ctx, "bench.cl", defs, "bench_fma_f32", &k);
        const float seed = 0.5f;
        if (st == CLFT_OK)
            st = clft_cl_args(k, "bench_fma_f32", sizeof(cl_mem), &fout.mem, sizeof iters, &iters, sizeof seed, &seed,
                              (size_t)0);
        /* scalar chains need more work-items to fill a GPU; the same count is fine on a CPU */
        launch_arg a = {k, items, 64, "bench_fma_f32"};
        double t = 0;
        if (st == CLFT_OK) st = bench_best_seconds(ctx, o->reps, run_launch, &a, &t);
        if (st == CLFT_OK) {
            double flops = 2.0 * (double)items * (double)iters * FMAS[c].chains * FMAS[c].vec;
            double g = flops / t / 1e9;
            cJSON_AddNumberToObject(fmas, key, g);
            if (g > best_fma) best_fma = g;
        }
    }
    if (st == CLFT_OK) cJSON_AddNumberToObject(out, "fp32_gflops", best_fma);
    clft_buf_free(ctx, &fout);
    return st;
}
