/* bench_kernels.c - the kernel benchmark: device limits measured with own microkernels, NF4
 * dequantization bandwidth, GEMM throughput at LLM shapes. Prints one JSON object.
 * Entry point shared by the `bench_kernels` program and `clft bench kernels`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Sections, in order; later sections may read earlier results from the root object. */
static const struct {
    const char *name;
    bench_section_fn fn;
} SECTIONS[] = {
    {"peak", bench_section_peak},
    {"nf4_dequant", bench_section_nf4},
    {"gemm", bench_section_gemm},
};

clft_status bench_best_seconds(clft_context *ctx, int reps, bench_run_fn fn, void *arg, double *best) {
    *best = 1e30;
    CLFT_CHECK(fn(ctx, arg)); /* warm-up: compiles work-group functions, touches pages */
    CLFT_CHECK(clft_context_finish(ctx));
    for (int r = 0; r < (reps > 0 ? reps : 1); r++) {
        double t0 = clft_now_seconds();
        CLFT_CHECK(fn(ctx, arg));
        CLFT_CHECK(clft_context_finish(ctx));
        double dt = clft_now_seconds() - t0;
        if (dt < *best) *best = dt;
    }
    return CLFT_OK;
}

static void log_stderr(clft_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    fprintf(stderr, "[clft] %s\n", msg);
}

int clft_bench_kernels_main(int argc, char **argv) {
    const char *device = NULL, *out_path = NULL, *only = NULL;
    bench_opts o = {0, 5};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            o.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            o.quick = 1;
        else if (!strcmp(argv[i], "-v"))
            clft_set_log_callback(log_stderr, NULL, CLFT_LOG_INFO);
        else {
            fprintf(stderr,
                    "usage: bench_kernels [--device SPEC] [--quick] [--reps N] [--only SECTION] [--out FILE]\n");
            return 2;
        }
    }
    if (o.quick && o.reps > 2) o.reps = 2;
    clft_context_params p = clft_context_default_params();
    p.device = device;
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&p, &ctx);
    if (st != CLFT_OK) {
        fprintf(stderr, "bench kernels: %s: %s\n", clft_status_string(st), clft_last_error());
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *dev = cJSON_AddObjectToObject(root, "device");
    const clft_device_info *d = &ctx->caps.info;
    cJSON_AddStringToObject(dev, "name", d->name);
    cJSON_AddStringToObject(dev, "platform", d->platform);
    cJSON_AddStringToObject(dev, "driver_version", d->driver_version);
    cJSON_AddStringToObject(dev, "type", d->type);
    cJSON_AddNumberToObject(dev, "compute_units", d->compute_units);
    cJSON_AddStringToObject(root, "clft_version", clft_version_string());
    cJSON_AddBoolToObject(root, "quick", o.quick);
    int rc = 0;
    for (size_t i = 0; i < sizeof SECTIONS / sizeof SECTIONS[0]; i++) {
        if (only && strcmp(only, SECTIONS[i].name) != 0) continue;
        cJSON *sec = cJSON_AddObjectToObject(root, SECTIONS[i].name);
        double t0 = clft_now_seconds();
        st = SECTIONS[i].fn(ctx, &o, root, sec);
        cJSON_AddNumberToObject(sec, "section_seconds", clft_now_seconds() - t0);
        if (st != CLFT_OK) {
            fprintf(stderr, "bench kernels: section %s: %s: %s\n", SECTIONS[i].name, clft_status_string(st),
                    clft_last_error());
            cJSON_AddStringToObject(sec, "error", clft_last_error());
            rc = 1;
        }
    }
    char *s = cJSON_Print(root);
    if (out_path) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", s) < 0 || fclose(f) != 0 || rename(tmp, out_path) != 0) {
            fprintf(stderr, "bench kernels: cannot write %s\n", out_path);
            rc = 1;
        }
    }
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(root);
    clft_context_free(ctx);
    return rc;
}
