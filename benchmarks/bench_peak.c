/* bench_peak.c - the device suite (`clft bench device`): the device's measured limits with clft's
 * own microkernels (cl/bench.cl). These are the denominators of every "fraction of limit" the
 * other suites report, so they must be honest:
 *   - bandwidth buffers are far larger than any last-level cache (512 MiB each, 32 MiB with --quick;
 *     a 32 MiB buffer on a CPU with a 32 MiB L3 measures the cache, not memory), capped by the
 *     device's single-allocation limit and a quarter of its memory;
 *   - read (a sum of float16 loads, consecutive per work-item for CPUs or a global size apart for
 *     GPUs), write (plain and non-temporal fills) and copy (the driver's clEnqueueCopyBuffer and
 *     float4, float16, 1 KiB-per-work-item and non-temporal-store kernels) each report the best of
 *     their variants (the dequantization kernels store non-temporally on CPUs, so the copy limit
 *     must include that; a kernel that writes far more than it reads is bounded by write);
 *   - the FMA kernels keep independent vector chains in registers and run in a few chain/vector
 *     width configurations, the best of which is reported (wide-SIMD CPUs and scalar-lane GPUs),
 *     fp16 only where cl_khr_fp16 is advertised ("unsupported" otherwise);
 *   - launch latency of an empty kernel: enqueue-to-completion (one launch, then wait) and
 *     back-to-back (many launches, one wait; per launch);
 *   - host<->device transfers of a pageable host buffer: clEnqueueWrite/ReadBuffer and through
 *     clEnqueueMapBuffer + memcpy (what a CPU device or an integrated GPU does best).
 * Kernels are timed with OpenCL profiling events (the context profiles), after a warm-up run, over
 * the repetitions (min/median/max); latency and transfers by the host's clock (what a caller sees).
 * Each limit is the fastest run of the best variant (what the device reaches); the entries keep the
 * min/median/max of that variant. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct launch_arg {
    cl_kernel k;
    size_t global, local;
    const char *name;
} launch_arg;

static clft_status run_launch(clft_context *ctx, void *arg) {
    launch_arg *a = arg;
    return clft_cl_launch(ctx, a->k, 1, &a->global, a->local ? &a->local : NULL, a->name);
}

static size_t copy_bytes(const clft_context *ctx, int quick) {
    size_t bytes = quick ? ((size_t)32 << 20) : ((size_t)512 << 20);
    const uint64_t max_alloc = ctx->caps.info.max_alloc_bytes, quarter = ctx->caps.info.global_mem_bytes / 4;
    if (bytes > max_alloc) bytes = (size_t)max_alloc;
    if (bytes > quarter) bytes = (size_t)quarter;
    return bytes / 1024 * 1024;
}

/* The best variant of one measurement: the highest rate of its fastest run (a limit is what the
 * device reaches at best; on a shared machine the median includes other processes' load). */
typedef struct best_of {
    bench_stats rate, secs;
    const char *variant;
} best_of;

static void keep_best(best_of *b, bench_stats secs, double amount, const char *variant, cJSON *detail) {
    bench_stats r = bench_rate(secs, amount);
    if (detail) cJSON_AddNumberToObject(detail, variant, r.max);
    if (!b->variant || r.max > b->rate.max) {
        b->rate = r;
        b->secs = secs;
        b->variant = variant;
    }
}

/* Time a kernel (arguments already set) by its events; reps from the options. */
static clft_status time_kernel(clft_context *ctx, const bench_opts *o, cl_kernel k, size_t global, size_t local,
                               const char *name, bench_stats *secs) {
    launch_arg a = {k, global, local, name};
    return bench_time(ctx, 1, o->reps, 1, run_launch, &a, secs);
}

typedef struct copybuf_arg {
    const clft_buf *src, *dst;
} copybuf_arg;

static clft_status run_copy_buffer(clft_context *ctx, void *arg) {
    copybuf_arg *a = arg;
    cl_event ev = NULL;
    CLFT_CL_CHECK(clEnqueueCopyBuffer(ctx->queue, a->src->mem, a->dst->mem, 0, 0, a->src->bytes, 0, NULL,
                                      clft_cl_profile_event(ctx, &ev)),
                  "clEnqueueCopyBuffer");
    return ev ? clft_cl_profile_record(ctx, "copy_buffer", ev) : CLFT_OK;
}

static void add_best(const bench_opts *o, cJSON *out, const char *name, const char *key, const char *unit,
                     const best_of *b, const char *limit_name) {
    cJSON_AddNumberToObject(out, key, b->rate.max);
    if (!o->report) return;
    bench_report_limit(o->report, limit_name, b->rate.max, unit);
    cJSON *e = bench_entry_add(o->report, name, "device", unit, b->rate, limit_name, &b->secs);
    if (e) cJSON_AddStringToObject(e, "variant", b->variant);
}

static clft_status bandwidth(clft_context *ctx, const bench_opts *o, cJSON *out) {
    const size_t bytes = copy_bytes(ctx, o->quick);
    const cl_ulong n16 = bytes / 64;
    clft_buf src = {0}, dst = {0}, red = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &src);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &dst);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)n16 * 4, &red);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &src);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &dst); /* touch every page before timing */
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &red);
    cJSON_AddNumberToObject(out, "buffer_bytes", (double)bytes);
    /* read */
    /* contiguous chunks per work-item; work-item g reads g + j * global size; a work-group reads a
     * block with its work-items a local size apart (clpeak's pattern) - in work-groups of 64 or of the
     * device's largest (clpeak's choice) */
    static const struct {
        const char *name, *defs;
        size_t chunk;
        int maxwg;
    } READS[] = {{"chunk16", "-DBENCH_READ_CHUNK=16", 16, 0},
                 {"chunk64", "-DBENCH_READ_CHUNK=64", 64, 0},
                 {"strided16", "-DBENCH_READ_CHUNK=16 -DBENCH_READ_STRIDED=1", 16, 0},
                 {"strided16_maxwg", "-DBENCH_READ_CHUNK=16 -DBENCH_READ_STRIDED=1", 16, 1},
                 {"blocked16_maxwg", "-DBENCH_READ_CHUNK=16 -DBENCH_READ_STRIDED=2", 16, 1}};
    best_of rd = {0};
    cJSON *rdet = cJSON_AddObjectToObject(out, "read_kernels_gbs");
    for (size_t v = 0; st == CLFT_OK && v < sizeof READS / sizeof READS[0]; v++) {
        cl_kernel k = NULL;
        bench_stats s;
        st = clft_cl_kernel(ctx, "bench.cl", READS[v].defs, "bench_read16_f32", &k);
        if (st == CLFT_OK)
            st = clft_cl_args(k, "bench_read16_f32", sizeof(cl_mem), &red.mem, sizeof(cl_mem), &src.mem, sizeof n16,
                              &n16, (size_t)0);
        size_t local = 64, global = (size_t)(n16 + READS[v].chunk - 1) / READS[v].chunk;
        if (READS[v].maxwg && ctx->caps.max_wg > 64) local = ctx->caps.max_wg;
        if (strstr(READS[v].defs, "STRIDED=2") && (n16 % (local * READS[v].chunk) || n16 > UINT32_MAX)) continue;
        global = (global + local - 1) / local * local; /* the other kernels skip indices past the buffer */
        if (st == CLFT_OK) st = time_kernel(ctx, o, k, global, local, "bench_read16_f32", &s);
        if (st == CLFT_OK) keep_best(&rd, s, (double)bytes / 1e9, READS[v].name, rdet);
    }
    if (st == CLFT_OK) add_best(o, out, "memory read", "read_gbs", "GB/s", &rd, "read_gbs");
    /* write */
    static const char *const FILLS[] = {"bench_fill16_f32", "bench_fill16nt_f32"};
    best_of wr = {0};
    cJSON *wdet = cJSON_AddObjectToObject(out, "write_kernels_gbs");
    for (size_t v = 0; st == CLFT_OK && v < 2; v++) {
        cl_kernel k = NULL;
        bench_stats s;
        const float val = 1.0f;
        st = clft_cl_kernel(ctx, "bench.cl", "", FILLS[v], &k);
        if (st == CLFT_OK)
            st = clft_cl_args(k, FILLS[v], sizeof(cl_mem), &dst.mem, sizeof val, &val, sizeof n16, &n16, (size_t)0);
        if (st == CLFT_OK) st = time_kernel(ctx, o, k, (size_t)n16, 64, FILLS[v], &s);
        if (st == CLFT_OK) keep_best(&wr, s, (double)bytes / 1e9, FILLS[v], wdet);
    }
    if (st == CLFT_OK) add_best(o, out, "memory write", "write_gbs", "GB/s", &wr, "write_gbs");
    /* copy: read + write bytes */
    static const struct {
        const char *name;
        size_t elem, per_item;
    } COPIES[] = {{"bench_copy_f32", 16, 1},
                  {"bench_copy16_f32", 64, 1},
                  {"bench_copy16x_f32", 64, 16},
                  {"bench_copy16nt_f32", 64, 1}};
    best_of cp = {0};
    cJSON *cdet = cJSON_AddObjectToObject(out, "copy_kernels_gbs");
    if (st == CLFT_OK) {
        copybuf_arg ca = {&src, &dst};
        bench_stats s;
        st = bench_time(ctx, 1, o->reps, 1, run_copy_buffer, &ca, &s);
        if (st == CLFT_OK) keep_best(&cp, s, 2.0 * (double)bytes / 1e9, "clEnqueueCopyBuffer", cdet);
    }
    for (size_t c = 0; st == CLFT_OK && c < sizeof COPIES / sizeof COPIES[0]; c++) {
        cl_kernel k = NULL;
        bench_stats s;
        cl_ulong n = bytes / COPIES[c].elem;
        st = clft_cl_kernel(ctx, "bench.cl", "", COPIES[c].name, &k);
        if (st == CLFT_OK)
            st = clft_cl_args(k, COPIES[c].name, sizeof(cl_mem), &dst.mem, sizeof(cl_mem), &src.mem, sizeof n, &n,
                              (size_t)0);
        if (st == CLFT_OK)
            st = time_kernel(ctx, o, k, (size_t)(n + COPIES[c].per_item - 1) / COPIES[c].per_item, 64, COPIES[c].name,
                             &s);
        if (st == CLFT_OK) keep_best(&cp, s, 2.0 * (double)bytes / 1e9, COPIES[c].name, cdet);
    }
    if (st == CLFT_OK) add_best(o, out, "memory copy", "copy_gbs", "GB/s", &cp, "copy_gbs");
    clft_buf_free(ctx, &src);
    clft_buf_free(ctx, &dst);
    clft_buf_free(ctx, &red);
    return st;
}

static clft_status fma_peak(clft_context *ctx, const bench_opts *o, int half, cJSON *out) {
    /* enough work-items to fill every compute unit many times over */
    const size_t items = (size_t)ctx->caps.info.compute_units * (ctx->caps.is_cpu ? 256 : 16384);
    const int iters = o->quick ? 256 : 4096;
    static const struct { int chains, vec; } FMAS[] = {{8, 16}, {12, 16}, {16, 8}, {16, 4}, {16, 1}};
    const char *kname = half ? "bench_fma_f16" : "bench_fma_f32";
    best_of b = {0};
    cJSON *det = cJSON_AddObjectToObject(out, half ? "fp16_kernels_gflops" : "fma_kernels_gflops");
    clft_buf fout = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, items * sizeof(float), &fout);
    static char keys[sizeof FMAS / sizeof FMAS[0]][32];
    for (size_t c = 0; st == CLFT_OK && c < sizeof FMAS / sizeof FMAS[0]; c++) {
        char defs[96];
        snprintf(defs, sizeof defs, "-DBENCH_CHAINS=%d -DBENCH_VEC=%d -DBENCH_HALF=%d", FMAS[c].chains, FMAS[c].vec,
                 half);
        snprintf(keys[c], sizeof keys[c], "chains%d_vec%d", FMAS[c].chains, FMAS[c].vec);
        cl_kernel k = NULL;
        bench_stats s;
        const float seed = 0.5f;
        st = clft_cl_kernel(ctx, "bench.cl", defs, kname, &k);
        if (st == CLFT_OK)
            st = clft_cl_args(k, kname, sizeof(cl_mem), &fout.mem, sizeof iters, &iters, sizeof seed, &seed, (size_t)0);
        if (st == CLFT_OK) st = time_kernel(ctx, o, k, items, 64, kname, &s);
        const double gflop = 2.0 * (double)items * (double)iters * FMAS[c].chains * FMAS[c].vec / 1e9;
        if (st == CLFT_OK) keep_best(&b, s, gflop, keys[c], det);
    }
    clft_buf_free(ctx, &fout);
    if (st == CLFT_OK)
        add_best(o, out, half ? "fma fp16" : "fma fp32", half ? "fp16_gflops" : "fp32_gflops", "GFLOP/s", &b,
                 half ? "fp16_gflops" : "fp32_gflops");
    return st;
}

/* launch latency of the empty kernel, in microseconds (host clock) */
typedef struct latency_arg {
    cl_kernel k;
    int launches;
} latency_arg;

static clft_status run_empty(clft_context *ctx, void *arg) {
    latency_arg *a = arg;
    const size_t one = 1;
    for (int i = 0; i < a->launches; i++)
        CLFT_CHECK(clft_cl_launch(ctx, a->k, 1, &one, &one, "bench_empty"));
    return CLFT_OK;
}

static clft_status latency(clft_context *ctx, const bench_opts *o, cJSON *out) {
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "bench.cl", "", "bench_empty", &k));
    const int samples = o->quick ? 20 : 200, batch = o->quick ? 20 : 200;
    latency_arg one = {k, 1}, many = {k, batch};
    bench_stats s1, sb;
    CLFT_CHECK(bench_time(ctx, 5, samples, 0, run_empty, &one, &s1));
    CLFT_CHECK(bench_time(ctx, 1, o->reps, 0, run_empty, &many, &sb));
    bench_stats us1 = {s1.min * 1e6, s1.median * 1e6, s1.max * 1e6, s1.n};
    bench_stats usb = {sb.min * 1e6 / batch, sb.median * 1e6 / batch, sb.max * 1e6 / batch, sb.n};
    cJSON_AddNumberToObject(out, "launch_us", us1.min);
    cJSON_AddNumberToObject(out, "launch_back_to_back_us", usb.median);
    if (o->report) {
        bench_report_limit(o->report, "launch_us", us1.min, "us");
        bench_entry_add(o->report, "launch latency (enqueue to completion)", "device", "us", us1, NULL, NULL);
        cJSON *e = bench_entry_add(o->report, "launch latency (back to back)", "device", "us", usb, NULL, NULL);
        if (e) cJSON_AddNumberToObject(e, "launches_per_sample", batch);
    }
    return CLFT_OK;
}

/* host <-> device transfers of a pageable host buffer, GB/s by the host clock */
typedef struct xfer_arg {
    clft_buf *buf;
    void *host;
    int dir; /* 0 write (host to device), 1 read */
    int mapped;
} xfer_arg;

static clft_status run_xfer(clft_context *ctx, void *arg) {
    xfer_arg *a = arg;
    const size_t n = a->buf->bytes;
    if (!a->mapped)
        return a->dir ? clft_buf_read(ctx, a->buf, 0, a->host, n) : clft_buf_write(ctx, a->buf, 0, a->host, n);
    cl_int err = CL_SUCCESS;
    void *p = clEnqueueMapBuffer(ctx->queue, a->buf->mem, CL_TRUE,
                                 a->dir ? CL_MAP_READ : CL_MAP_WRITE_INVALIDATE_REGION, 0, n, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS) return clft_cl_fail(err, "clEnqueueMapBuffer");
    if (a->dir)
        memcpy(a->host, p, n);
    else
        memcpy(p, a->host, n);
    CLFT_CL_CHECK(clEnqueueUnmapMemObject(ctx->queue, a->buf->mem, p, 0, NULL, NULL), "clEnqueueUnmapMemObject");
    return CLFT_OK;
}

static clft_status transfers(clft_context *ctx, const bench_opts *o, cJSON *out) {
    size_t bytes = copy_bytes(ctx, 1) * (o->quick ? 1 : 4); /* 32 MiB quick, 128 MiB */
    clft_buf buf = {0};
    char *host = malloc(bytes);
    if (!host) return clft_error(CLFT_STATUS_HOST_OOM, "bench device: %zu bytes of host memory", bytes);
    memset(host, 1, bytes);
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &buf);
    static const struct {
        const char *name, *key;
        int dir, mapped;
    } X[] = {{"host to device (write buffer)", "h2d_gbs", 0, 0},
             {"device to host (read buffer)", "d2h_gbs", 1, 0},
             {"host to device (map + memcpy)", "h2d_map_gbs", 0, 1},
             {"device to host (map + memcpy)", "d2h_map_gbs", 1, 1}};
    for (size_t i = 0; st == CLFT_OK && i < sizeof X / sizeof X[0]; i++) {
        xfer_arg a = {&buf, host, X[i].dir, X[i].mapped};
        bench_stats s;
        st = bench_time(ctx, 1, o->reps, 0, run_xfer, &a, &s);
        if (st != CLFT_OK) break;
        bench_stats r = bench_rate(s, (double)bytes / 1e9);
        cJSON_AddNumberToObject(out, X[i].key, r.max);
        if (o->report) {
            if (!X[i].mapped) bench_report_limit(o->report, X[i].key, r.max, "GB/s");
            bench_entry_add(o->report, X[i].name, "transfer", "GB/s", r, X[i].mapped ? NULL : X[i].key, &s);
        }
    }
    cJSON_AddNumberToObject(out, "transfer_bytes", (double)bytes);
    clft_buf_free(ctx, &buf);
    free(host);
    return st;
}

clft_status bench_section_peak(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    (void)root;
    CLFT_CHECK(bandwidth(ctx, o, out));
    CLFT_CHECK(fma_peak(ctx, o, 0, out));
    if (ctx->caps.info.fp16) {
        CLFT_CHECK(fma_peak(ctx, o, 1, out));
    } else {
        cJSON_AddNumberToObject(out, "fp16_gflops", 0);
        if (o->report) {
            cJSON *notes = cJSON_GetObjectItemCaseSensitive(o->report, "notes");
            if (!notes) notes = cJSON_AddArrayToObject(o->report, "notes");
            cJSON_AddItemToArray(notes, cJSON_CreateString("fma fp16: unsupported (the device has no cl_khr_fp16)"));
        }
    }
    CLFT_CHECK(latency(ctx, o, out));
    return transfers(ctx, o, out);
}

int clft_bench_device_main(int argc, char **argv) {
    bench_cli c = {0};
    c.reps = 5;
    for (int i = 1; i < argc; i++)
        if (bench_cli_arg(&c, argc, argv, &i)) {
            fprintf(stderr,
                    "usage: clft bench device [--device SPEC] [--quick] [--reps N] [--json FILE] [--md FILE]\n");
            return 2;
        }
    if (c.reps < 1) c.reps = 1;
    if (c.quick && c.reps > 3) c.reps = 3;
    clft_context *ctx = bench_context(c.device, "bench device");
    if (!ctx) return 1;
    bench_opts o = {c.quick, c.reps, bench_report_new(ctx, "device", c.quick, c.reps, 1)};
    cJSON *detail = cJSON_AddObjectToObject(o.report, "details");
    clft_status st = bench_section_peak(ctx, &o, NULL, detail);
    int rc = 0;
    if (st != CLFT_OK) {
        fprintf(stderr, "bench device: %s: %s\n", clft_status_string(st), clft_last_error());
        rc = 1;
    } else {
        rc = bench_report_finish(o.report, c.json, c.md, "bench device");
    }
    cJSON_Delete(o.report);
    clft_context_free(ctx);
    return rc;
}
