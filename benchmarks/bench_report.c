/* bench_report.c - what every benchmark suite shares: timing runs (warm-up, repetitions, min/median/
 * max, OpenCL profiling events where the context profiles), the versioned result document
 * ("schema": "clft-bench/1"; bench.h describes it) with the device, the clft version and git
 * revision (compile time: bench_git.h, written by benchmarks/git_revision.cmake at every build), the
 * settings, the limits the fractions refer to and one entry per measurement, its Markdown table,
 * and the common command-line options. Files are written through the atomic writer. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_git.h"
#include "io/io_util.h"

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bench_stats bench_stats_of(double *v, int n) {
    bench_stats s = {0, 0, 0, n};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

bench_stats bench_rate(bench_stats sec, double amount) {
    bench_stats r = {amount / sec.max, amount / sec.median, amount / sec.min, sec.n};
    return r;
}

clft_status bench_time(clft_context *ctx, int warmup, int reps, int device_time, bench_run_fn fn, void *arg,
                       bench_stats *seconds) {
    if (reps < 1) reps = 1;
    const int dev = device_time && ctx->profiling;
    for (int w = 0; w < warmup; w++) { /* compiles work-group functions, touches pages */
        CLFT_CHECK(fn(ctx, arg));
        CLFT_CHECK(clft_context_finish(ctx));
    }
    double *v = malloc((size_t)reps * sizeof *v);
    if (!v) return clft_error(CLFT_STATUS_HOST_OOM, "bench: out of host memory");
    clft_status st = CLFT_OK;
    for (int r = 0; st == CLFT_OK && r < reps; r++) {
        if (dev) clft_cl_profile_reset(ctx);
        double t0 = clft_now_seconds();
        st = fn(ctx, arg);
        if (st == CLFT_OK) st = clft_context_finish(ctx);
        v[r] = clft_now_seconds() - t0;
        if (st == CLFT_OK && dev) {
            double d = clft_cl_profile_total(ctx);
            if (d > 0) v[r] = d; /* else: no profiled command (the wall clock stands) */
        }
    }
    if (st == CLFT_OK) *seconds = bench_stats_of(v, reps);
    free(v);
    return st;
}

clft_status bench_best_seconds(clft_context *ctx, int reps, bench_run_fn fn, void *arg, double *best) {
    bench_stats s;
    CLFT_CHECK(bench_time(ctx, 1, reps, 0, fn, arg, &s));
    *best = s.min;
    return CLFT_OK;
}

/* ---- the document --------------------------------------------------------------------------- */

cJSON *bench_report_new(clft_context *ctx, const char *suite, int quick, int reps, int warmup) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "schema", BENCH_SCHEMA);
    cJSON_AddStringToObject(r, "suite", suite);
    cJSON *dev = cJSON_AddObjectToObject(r, "device");
    const clft_device_info *d = &ctx->caps.info;
    cJSON_AddStringToObject(dev, "name", d->name);
    cJSON_AddStringToObject(dev, "vendor", d->vendor);
    cJSON_AddStringToObject(dev, "platform", d->platform);
    cJSON_AddStringToObject(dev, "driver_version", d->driver_version);
    cJSON_AddStringToObject(dev, "opencl_version", d->device_version);
    cJSON_AddStringToObject(dev, "opencl_c_version", d->opencl_c_version);
    cJSON_AddStringToObject(dev, "type", d->type);
    cJSON_AddNumberToObject(dev, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(dev, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(dev, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddBoolToObject(dev, "fp16", d->fp16);
    cJSON_AddBoolToObject(dev, "profiling_events", ctx->profiling);
    cJSON *v = cJSON_AddObjectToObject(r, "clft");
    cJSON_AddStringToObject(v, "version", clft_version_string());
    cJSON_AddStringToObject(v, "git_revision", CLFT_GIT_REVISION);
    cJSON *s = cJSON_AddObjectToObject(r, "settings");
    cJSON_AddBoolToObject(s, "quick", quick);
    cJSON_AddNumberToObject(r, "repetitions", reps);
    cJSON_AddNumberToObject(r, "warmup", warmup);
    cJSON_AddObjectToObject(r, "limits");
    cJSON_AddArrayToObject(r, "entries");
    return r;
}

cJSON *bench_report_settings(cJSON *report) { return cJSON_GetObjectItemCaseSensitive(report, "settings"); }

void bench_report_limit(cJSON *report, const char *name, double value, const char *unit) {
    cJSON *lim = cJSON_GetObjectItemCaseSensitive(report, "limits");
    if (!lim) return;
    cJSON_DeleteItemFromObjectCaseSensitive(lim, name);
    cJSON *l = cJSON_AddObjectToObject(lim, name);
    cJSON_AddNumberToObject(l, "value", value);
    cJSON_AddStringToObject(l, "unit", unit);
}

double bench_report_limit_value(const cJSON *report, const char *name) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(report, "limits"), name);
    return bench_json_num(l, "value", 0.0);
}

static void add_stats(cJSON *o, bench_stats v) {
    cJSON_AddNumberToObject(o, "min", v.min);
    cJSON_AddNumberToObject(o, "median", v.median);
    cJSON_AddNumberToObject(o, "max", v.max);
}

cJSON *bench_entry_add(cJSON *report, const char *name, const char *group, const char *unit, bench_stats v,
                       const char *limit, const bench_stats *seconds) {
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(report, "entries");
    if (!arr) return NULL;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "group", group);
    cJSON_AddStringToObject(e, "unit", unit);
    add_stats(e, v);
    cJSON_AddNumberToObject(e, "n", v.n);
    const double lv = limit ? bench_report_limit_value(report, limit) : 0.0;
    if (limit && lv > 0) {
        cJSON_AddStringToObject(e, "limit", limit);
        cJSON_AddNumberToObject(e, "fraction_of_limit", v.median / lv);
    }
    if (seconds) add_stats(cJSON_AddObjectToObject(e, "seconds"), *seconds);
    cJSON_AddItemToArray(arr, e);
    return e;
}

/* ---- Markdown ------------------------------------------------------------------------------- */

const char *bench_json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double bench_json_num(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

char *bench_report_markdown(const cJSON *report) {
    clft_sbuf b = {0};
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(report, "device");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(report, "clft");
    clft_sbuf_printf(&b, "## clft bench %s: %s (%s, %s)\n\n", bench_json_str(report, "suite"),
                     bench_json_str(dev, "name"), bench_json_str(dev, "platform"),
                     bench_json_str(dev, "driver_version"));
    clft_sbuf_printf(&b, "clft %s (%s), %g repetitions after %g warm-up\n\n", bench_json_str(ver, "version"),
                     bench_json_str(ver, "git_revision"), bench_json_num(report, "repetitions", 0),
                     bench_json_num(report, "warmup", 0));
    clft_sbuf_printf(&b, "| entry | group | unit | min | median | max | fraction of limit |\n");
    clft_sbuf_printf(&b, "|---|---|---|---:|---:|---:|---:|\n");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(report, "entries")) {
        char frac[48] = "";
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fraction_of_limit");
        if (cJSON_IsNumber(f)) snprintf(frac, sizeof frac, "%.3f (%s)", f->valuedouble, bench_json_str(e, "limit"));
        clft_sbuf_printf(&b, "| %s | %s | %s | %.4g | %.4g | %.4g | %s |\n", bench_json_str(e, "name"),
                         bench_json_str(e, "group"), bench_json_str(e, "unit"), bench_json_num(e, "min", 0),
                         bench_json_num(e, "median", 0), bench_json_num(e, "max", 0), frac);
    }
    const cJSON *note;
    cJSON_ArrayForEach(note, cJSON_GetObjectItemCaseSensitive(report, "notes")) {
        if (cJSON_IsString(note)) clft_sbuf_printf(&b, "\n- %s", note->valuestring);
    }
    clft_sbuf_printf(&b, "\n");
    if (b.failed) {
        clft_sbuf_free(&b);
        return NULL;
    }
    return b.data;
}

int bench_report_finish(const cJSON *report, const char *json_path, const char *md_path, const char *prog) {
    char *md = bench_report_markdown(report);
    char *js = cJSON_Print(report);
    int rc = 0;
    if (!md || !js) {
        fprintf(stderr, "%s: out of host memory\n", prog);
        rc = 1;
    }
    if (rc == 0) fputs(md, stdout);
    if (rc == 0 && json_path) {
        size_t n = strlen(js);
        js[n] = '\n'; /* cJSON_Print leaves no newline; the terminator becomes one */
        if (clft_io_write_atomic(json_path, js, n + 1) != CLFT_OK) {
            fprintf(stderr, "%s: %s\n", prog, clft_last_error());
            rc = 1;
        }
        js[n] = '\0';
    }
    if (rc == 0 && md_path && clft_io_write_atomic(md_path, md, strlen(md)) != CLFT_OK) {
        fprintf(stderr, "%s: %s\n", prog, clft_last_error());
        rc = 1;
    }
    free(md);
    cJSON_free(js);
    return rc;
}

/* ---- command line --------------------------------------------------------------------------- */

int bench_cli_arg(bench_cli *c, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const int has = *i + 1 < argc;
    if (!strcmp(a, "--device") && has)
        c->device = argv[++*i];
    else if (!strcmp(a, "--json") && has)
        c->json = argv[++*i];
    else if (!strcmp(a, "--md") && has)
        c->md = argv[++*i];
    else if (!strcmp(a, "--reps") && has)
        c->reps = atoi(argv[++*i]);
    else if (!strcmp(a, "--quick"))
        c->quick = 1;
    else
        return *i;
    return 0;
}

clft_context *bench_context(const char *device, const char *prog) {
    clft_context_params p = clft_context_default_params();
    p.device = device;
    p.profiling = 1;
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&p, &ctx);
    if (st != CLFT_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, clft_status_string(st), clft_last_error());
        return NULL;
    }
    return ctx;
}
