/* bench.h - shared pieces of the benchmarks: timing (warm-up, repetitions, min/median/max, OpenCL
 * profiling events where the context profiles), the versioned result document every suite writes
 * ("schema": "clft-bench/1", bench_report.c), and the suites' sections. Each section measures one
 * thing on the context's device and adds its results to a JSON object and, when a report is given,
 * entries to it. `clft bench device|kernels|train|compare` and the bench_* programs use these. */
#ifndef CLFT_BENCH_H
#define CLFT_BENCH_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "cl/clrt.h"
#include "io/io_util.h"
#include "ops/weight.h"

#define BENCH_SCHEMA "clft-bench/1"

typedef struct bench_opts {
    int quick;     /* small sizes, few repetitions (CI smoke run) */
    int reps;      /* timed repetitions per measurement */
    cJSON *report; /* clft-bench/1 document the entries go to (NULL: none) */
} bench_opts;

/* A section fills `out` (its own object); `root` holds earlier sections' results (e.g. "peak"). */
typedef clft_status (*bench_section_fn)(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);

/* min/median/max of n measurements */
typedef struct bench_stats {
    double min, median, max;
    int n;
} bench_stats;
/* Statistics of v[0..n) (v is sorted in place). */
bench_stats bench_stats_of(double *v, int n);
/* amount / seconds for each statistic (the fastest run gives the max rate). */
bench_stats bench_rate(bench_stats seconds, double amount);

/* Seconds of `reps` runs of fn(arg) (each run ends with clFinish) after `warmup` runs. Each run is
 * timed by the device time of its commands (OpenCL profiling events summed, profile.c) when
 * device_time is set and the context profiles, else by the wall clock from enqueue to completion. */
typedef clft_status (*bench_run_fn)(clft_context *ctx, void *arg);
clft_status bench_time(clft_context *ctx, int warmup, int reps, int device_time, bench_run_fn fn, void *arg,
                       bench_stats *seconds);
/* The fastest of `reps` wall-clock runs after one warm-up (bench_time's min). */
clft_status bench_best_seconds(clft_context *ctx, int reps, bench_run_fn fn, void *arg, double *best);

/* ---- the result document (bench_report.c) ----------------------------------------------------
 * { "schema", "suite", "device": {name, vendor, platform, driver_version, opencl_version, ...},
 *   "clft": {version, git_revision}, "settings": {...}, "repetitions", "warmup",
 *   "limits": {NAME: {value, unit}}, "entries": [{name, group, unit, min, median, max, n,
 *   [limit, fraction_of_limit], [seconds: {min, median, max}], ...}] } */
cJSON *bench_report_new(clft_context *ctx, const char *suite, int quick, int reps, int warmup);
cJSON *bench_report_settings(cJSON *report);
void bench_report_limit(cJSON *report, const char *name, double value, const char *unit);
/* A limit's value (0 when absent). */
double bench_report_limit_value(const cJSON *report, const char *name);
/* Add an entry of statistics v in unit; with limit (the name of one of the report's limits) its
 * fraction_of_limit is median / limit. seconds may be NULL. Returns the entry for extra fields. */
cJSON *bench_entry_add(cJSON *report, const char *name, const char *group, const char *unit, bench_stats v,
                       const char *limit, const bench_stats *seconds);
/* A string member of o ("" when absent or not a string) and a number member (dflt when absent or
 * not a number); o may be NULL. */
const char *bench_json_str(const cJSON *o, const char *key);
double bench_json_num(const cJSON *o, const char *key, double dflt);
/* The entries as a Markdown table (malloc'd text; NULL when out of memory). */
char *bench_report_markdown(const cJSON *report);
/* Print the Markdown table to stdout, write the JSON and the Markdown to the given paths (either may
 * be NULL) through the atomic writer; 0 on success, else 1 with a one-line error on stderr. */
int bench_report_finish(const cJSON *report, const char *json_path, const char *md_path, const char *prog);
/* A one-line-per-problem parse of the common options --device SPEC --quick --reps N --json FILE
 * --md FILE; returns the index of an unknown argument (the suite's own), or 0 when all were known. */
typedef struct bench_cli {
    const char *device, *json, *md;
    int quick, reps;
} bench_cli;
int bench_cli_arg(bench_cli *c, int argc, char **argv, int *i);
/* Context on the device spec (profiling on), or NULL after printing the error. */
clft_context *bench_context(const char *device, const char *prog);

/* ---- sections -------------------------------------------------------------------------------- */
/* The device's limits (cl/bench.cl microkernels): read/write/copy bandwidth, fp32 and fp16 FMA,
 * launch latency, host<->device transfers. Writes read_gbs, write_gbs, copy_gbs, fp32_gflops,
 * fp16_gflops (0: unsupported) into out, and entries and limits into o->report. */
clft_status bench_section_peak(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
/* NF4 and GGUF-block dequantization GB/s at LLM weight shapes, as a fraction of peak copy_gbs. */
clft_status bench_section_nf4(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
/* Every GEMM path per weight storage at LLM projection shapes (GFLOP/s vs fp32_gflops). */
clft_status bench_section_gemm(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
/* Decoding (M = 1) linear forward per path and weight dtype (f32, bf16, NF4 double quant) in GB/s of
 * weight bytes read, as a fraction of peak copy_gbs; run by the gemm section into its "gemv" object. */
clft_status bench_section_gemv(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
/* A (N,K) weight of any storage with deterministic pseudo-random contents (NF4: random codes and
 * statistics, double_quant as asked; GGUF blocks: random codes, small scales), and the bytes a
 * linear forward reads of it. */
clft_status bench_weight_make(clft_context *ctx, clft_dtype dt, int64_t N, int64_t K, int double_quant, clft_weight *w);
double bench_weight_bytes(const clft_weight *w);
#define BENCH_NSTORAGES 7
extern const clft_dtype BENCH_STORAGES[BENCH_NSTORAGES]; /* f32 bf16 f16 nf4 q8_0 q4_0 q4_1 */
/* Attention forward/backward, fused cross-entropy, AdamW (bench_train_ops.c). */
clft_status bench_section_train_ops(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);

/* Entry points of the suites (bench_* programs and `clft bench ...`). */
int clft_bench_device_main(int argc, char **argv);
int clft_bench_kernels_main(int argc, char **argv);
int clft_bench_train_main(int argc, char **argv);
int clft_bench_compare_main(int argc, char **argv);

#endif
