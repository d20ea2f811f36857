/* bench_nf4.c - dequantization bandwidth at LLM weight shapes: NF4 (cl/nf4.cl, plain and double
 * quantized, to f32/f16/bf16) and the GGUF blocks Q8_0, Q4_0, Q4_1 (cl/ggml_blocks.cl) to f32, via
 * clft_weight_dequant: bytes read (codes plus statistics) plus bytes written, per second, and as a
 * fraction of the device's measured copy bandwidth (root["peak"]["copy_gbs"]). The weights are
 * random codes and statistics (bench_weight_make): dequantization speed does not depend on the
 * values. The headline variant (double-quantized NF4 to f32) is also timed alternately with a
 * same-sized non-temporal copy ("fraction_of_copy_alongside"): on a shared machine the device
 * section's copy was measured at another moment, under another load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/weight.h"

typedef struct dq_arg {
    const clft_weight *w;
    clft_dtype out_dtype;
    clft_buf *out;
} dq_arg;

static clft_status run_dequant(clft_context *ctx, void *arg) {
    dq_arg *a = arg;
    return clft_weight_dequant(ctx, a->w, a->out_dtype, a->out);
}

static size_t out_size(clft_dtype t) { return t == CLFT_DTYPE_F32 ? 4 : 2; }

static double seconds_of(clft_context *ctx, bench_run_fn fn, void *arg, clft_status *st) {
    double t0 = clft_now_seconds();
    *st = fn(ctx, arg);
    if (*st == CLFT_OK) *st = clft_context_finish(ctx);
    return clft_now_seconds() - t0;
}

typedef struct copy_arg {
    cl_kernel k;
    size_t n16;
} copy_arg;

static clft_status run_copy(clft_context *ctx, void *arg) {
    copy_arg *a = arg;
    size_t local = 64;
    return clft_cl_launch(ctx, a->k, 1, &a->n16, &local, "bench_copy16nt_f32");
}

/* Best-of timing of the dequantization and of a same-sized non-temporal copy, run alternately so
 * that both see the same machine (a shared machine's load changes from second to second). */
static clft_status interleaved(clft_context *ctx, int reps, dq_arg *dq, copy_arg *cp, double *t_dq, double *t_cp) {
    clft_status st = CLFT_OK;
    *t_dq = *t_cp = 1e30;
    for (int r = 0; st == CLFT_OK && r <= reps; r++) { /* r == 0 warms up */
        double a = seconds_of(ctx, run_dequant, dq, &st);
        double b = st == CLFT_OK ? seconds_of(ctx, run_copy, cp, &st) : 0;
        if (r > 0 && a < *t_dq) *t_dq = a;
        if (r > 0 && b < *t_cp) *t_cp = b;
    }
    return st;
}

clft_status bench_section_nf4(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(root, "peak");
    const double copy_gbs = bench_json_num(peak, "copy_gbs", 0.0), write_gbs = bench_json_num(peak, "write_gbs", 0.0);
    static const int64_t FULL[][2] = {{4096, 4096}, {4096, 11008}}, QUICK[][2] = {{512, 1024}};
    const int64_t(*SHAPES)[2] = o->quick ? QUICK : FULL;
    static const struct {
        clft_dtype dt;
        int dq;
        clft_dtype out;
        const char *key;
    } VARIANTS[] = {
        {CLFT_DTYPE_NF4, 1, CLFT_DTYPE_F32, "nf4_dq_to_f32"},  {CLFT_DTYPE_Q8_0, 0, CLFT_DTYPE_F32, "q8_0_to_f32"},
        {CLFT_DTYPE_Q4_0, 0, CLFT_DTYPE_F32, "q4_0_to_f32"},   {CLFT_DTYPE_Q4_1, 0, CLFT_DTYPE_F32, "q4_1_to_f32"},
        {CLFT_DTYPE_NF4, 0, CLFT_DTYPE_F32, "nf4_to_f32"},     {CLFT_DTYPE_NF4, 1, CLFT_DTYPE_F16, "nf4_dq_to_f16"},
        {CLFT_DTYPE_NF4, 1, CLFT_DTYPE_BF16, "nf4_dq_to_bf16"}};
    const size_t nshapes = o->quick ? 1 : 2, nvariants = o->quick ? 4 : 7;
    if (copy_gbs > 0) cJSON_AddNumberToObject(out, "copy_gbs", copy_gbs);
    cJSON *shapes = cJSON_AddArrayToObject(out, "shapes");
    clft_status st = CLFT_OK;
    double worst_fraction = -1;
    for (size_t s = 0; st == CLFT_OK && s < nshapes; s++) {
        const int64_t rows = SHAPES[s][0], cols = SHAPES[s][1], n = rows * cols;
        cJSON *js = cJSON_CreateObject();
        cJSON_AddItemToArray(shapes, js);
        cJSON_AddNumberToObject(js, "rows", (double)rows);
        cJSON_AddNumberToObject(js, "cols", (double)cols);
        clft_buf obuf = {0}, cbuf = {0};
        st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)n * 4, &obuf);
        if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &obuf);
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)n * 4, &cbuf);
        if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &cbuf);
        copy_arg ca = {NULL, (size_t)n / 16};
        const cl_ulong n16 = (cl_ulong)n / 16;
        if (st == CLFT_OK) st = clft_cl_kernel(ctx, "bench.cl", "", "bench_copy16nt_f32", &ca.k);
        if (st == CLFT_OK)
            st = clft_cl_args(ca.k, "bench_copy16nt_f32", sizeof(cl_mem), &obuf.mem, sizeof(cl_mem), &cbuf.mem,
                              sizeof n16, &n16, (size_t)0);
        for (size_t v = 0; st == CLFT_OK && v < nvariants; v++) {
            clft_weight w;
            st = bench_weight_make(ctx, VARIANTS[v].dt, rows, cols, VARIANTS[v].dq, &w);
            if (st != CLFT_OK) break;
            dq_arg a = {&w, VARIANTS[v].out, &obuf};
            double t = 0, tc = 0;
            bench_stats secs = {0};
            const double rd = bench_weight_bytes(&w), wr = (double)n * (double)out_size(VARIANTS[v].out);
            if (v == 0)
                st = interleaved(ctx, o->reps < 3 ? 3 : 2 * o->reps, &a, &ca, &t, &tc);
            else
                st = bench_time(ctx, 1, o->reps, 0, run_dequant, &a, &secs);
            if (v > 0) t = secs.min;
            if (st == CLFT_OK && o->report) {
                char name[96];
                snprintf(name, sizeof name, "dequant %s %lldx%lld", VARIANTS[v].key, (long long)rows, (long long)cols);
                if (v == 0) secs.min = secs.median = secs.max = t, secs.n = 1;
                bench_entry_add(o->report, name, "dequant", "GB/s", bench_rate(secs, (rd + wr) / 1e9), "copy_gbs",
                                &secs);
            }
            if (st == CLFT_OK) {
                const double gbs = (rd + wr) / t / 1e9;
                cJSON *jv = cJSON_AddObjectToObject(js, VARIANTS[v].key);
                cJSON_AddNumberToObject(jv, "seconds", t);
                cJSON_AddNumberToObject(jv, "bytes", rd + wr);
                cJSON_AddNumberToObject(jv, "gbs", gbs);
                cJSON_AddNumberToObject(jv, "gelems_per_s", (double)n / t / 1e9);
                if (v == 0) { /* the same-sized non-temporal copy, timed alternately with it */
                    const double cg = 8.0 * (double)(n / 16 * 16) / tc / 1e9;
                    cJSON_AddNumberToObject(jv, "copy_gbs_alongside", cg);
                    cJSON_AddNumberToObject(jv, "fraction_of_copy_alongside", gbs / cg);
                }
                if (write_gbs > 0) /* bytes written per second vs the write-only limit */
                    cJSON_AddNumberToObject(jv, "write_fraction_of_write_gbs", wr / t / 1e9 / write_gbs);
                if (copy_gbs > 0) {
                    cJSON_AddNumberToObject(jv, "fraction_of_copy", gbs / copy_gbs);
                    if (v == 0 && (worst_fraction < 0 || gbs / copy_gbs < worst_fraction))
                        worst_fraction = gbs / copy_gbs;
                }
            }
            clft_weight_free(ctx, &w);
        }
        clft_buf_free(ctx, &obuf);
        clft_buf_free(ctx, &cbuf);
    }
    if (st == CLFT_OK && worst_fraction >= 0) {
        /* the headline: NF4 double-quant dequantization to f32, worst shape, vs copy bandwidth */
        cJSON_AddNumberToObject(out, "fraction_of_copy", worst_fraction);
        cJSON_AddNumberToObject(out, "target_fraction", 0.70);
    }
    return st;
}
