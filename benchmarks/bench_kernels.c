/* bench_kernels.c - the kernel suite (`clft bench kernels`, the bench_kernels program): the device's
 * limits first (the device section, bench_peak.c, in the same process: the denominators of every
 * fraction), then NF4 and GGUF-block dequantization, every GEMM path per weight storage at model
 * shapes (and M = 1 decoding), attention forward/backward, fused cross-entropy and AdamW. Writes
 * the clft-bench/1 document (suite "kernels") and prints its Markdown table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Sections, in order; later sections may read earlier results from the root object. */
static const struct {
    const char *name;
    bench_section_fn fn;
} SECTIONS[] = {
    {"nf4_dequant", bench_section_nf4},
    {"gemm", bench_section_gemm},
    {"train_ops", bench_section_train_ops},
};

static void log_stderr(clft_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    fprintf(stderr, "[clft] %s\n", msg);
}

int clft_bench_kernels_main(int argc, char **argv) {
    bench_cli c = {0};
    c.reps = 3;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!bench_cli_arg(&c, argc, argv, &i)) continue;
        if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "-v"))
            clft_set_log_callback(log_stderr, NULL, CLFT_LOG_INFO);
        else {
            fprintf(stderr, "usage: clft bench kernels [--device SPEC] [--quick] [--reps N] [--only "
                            "peak|nf4_dequant|gemm|train_ops] [--json FILE] [--md FILE]\n");
            return 2;
        }
    }
    if (only) { /* a section's name, or peak: the device limits alone */
        int known = !strcmp(only, "peak");
        for (size_t i = 0; i < sizeof SECTIONS / sizeof SECTIONS[0]; i++)
            known = known || !strcmp(only, SECTIONS[i].name);
        if (!known) {
            fprintf(stderr, "clft bench kernels: --only '%s': use peak, nf4_dequant, gemm or train_ops\n", only);
            return 2;
        }
    }
    if (c.reps < 1) c.reps = 1;
    if (c.quick && c.reps > 2) c.reps = 2;
    clft_context *ctx = bench_context(c.device, "bench kernels");
    if (!ctx) return 1;
    cJSON *report = bench_report_new(ctx, "kernels", c.quick, c.reps, 1);
    if (only) cJSON_AddStringToObject(bench_report_settings(report), "only", only);
    cJSON_AddStringToObject(bench_report_settings(report), "timer", "wall clock, enqueue to completion");
    cJSON *root = cJSON_AddObjectToObject(report, "details");
    bench_opts o = {c.quick, c.reps, NULL};
    int rc = 0;
    /* the limits (no entries of their own here: `clft bench device` reports them) */
    cJSON *peak = cJSON_AddObjectToObject(root, "peak");
    clft_status st = bench_section_peak(ctx, &o, root, peak);
    static const struct {
        const char *key, *unit;
    } LIMITS[] = {{"read_gbs", "GB/s"},
                  {"write_gbs", "GB/s"},
                  {"copy_gbs", "GB/s"},
                  {"fp32_gflops", "GFLOP/s"},
                  {"fp16_gflops", "GFLOP/s"}};
    for (size_t i = 0; st == CLFT_OK && i < sizeof LIMITS / sizeof LIMITS[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(peak, LIMITS[i].key);
        if (cJSON_IsNumber(v) && v->valuedouble > 0)
            bench_report_limit(report, LIMITS[i].key, v->valuedouble, LIMITS[i].unit);
    }
    if (st != CLFT_OK) {
        fprintf(stderr, "bench kernels: device limits: %s: %s\n", clft_status_string(st), clft_last_error());
        rc = 1;
    }
    o.report = report;
    for (size_t i = 0; rc == 0 && i < sizeof SECTIONS / sizeof SECTIONS[0]; i++) {
        if (only && strcmp(only, SECTIONS[i].name) != 0) continue;
        cJSON *sec = cJSON_AddObjectToObject(root, SECTIONS[i].name);
        double t0 = clft_now_seconds();
        st = SECTIONS[i].fn(ctx, &o, root, sec);
        cJSON_AddNumberToObject(sec, "section_seconds", clft_now_seconds() - t0);
        if (st != CLFT_OK) {
            fprintf(stderr, "bench kernels: section %s: %s: %s\n", SECTIONS[i].name, clft_status_string(st),
                    clft_last_error());
            rc = 1;
        }
    }
    if (rc == 0) rc = bench_report_finish(report, c.json, c.md, "bench kernels");
    cJSON_Delete(report);
    clft_context_free(ctx);
    return rc;
}
