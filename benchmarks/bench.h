/* bench.h - shared pieces of the kernel benchmark (benchmarks/bench_kernels.c drives the sections).
 * Each section measures one thing on the context's device and adds its results to a JSON object. */
#ifndef CLFT_BENCH_H
#define CLFT_BENCH_H

#include <cjson/cJSON.h>

#include "cl/clrt.h"

typedef struct bench_opts {
    int quick; /* small sizes, few repetitions (CI smoke run) */
    int reps;  /* timed repetitions per measurement (best-of is reported) */
} bench_opts;

/* A section fills `out` (its own object); `root` holds earlier sections' results (e.g. "peak"). */
typedef clft_status (*bench_section_fn)(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);

/* Seconds of the fastest of `reps` runs of fn(arg) (each run ends with clFinish). */
typedef clft_status (*bench_run_fn)(clft_context *ctx, void *arg);
clft_status bench_best_seconds(clft_context *ctx, int reps, bench_run_fn fn, void *arg, double *best);

/* Sections (one file each), run in the order of the table in bench_kernels.c. */
clft_status bench_section_peak(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
/* NF4 dequantization GB/s at 4096x4096 and 4096x11008, as a fraction of peak copy_gbs. */
clft_status bench_section_nf4(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
clft_status bench_section_gemm(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);
/* Decoding (M = 1) linear forward per path and weight dtype (f32, bf16, NF4 double quant) in GB/s of
 * weight bytes read, as a fraction of peak copy_gbs; run by the gemm section into its "gemv" object. */
clft_status bench_section_gemv(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out);

/* Entry point of the kernel benchmark (bench_kernels program and `clft bench kernels`). */
int clft_bench_kernels_main(int argc, char **argv);

#endif
