/* cmd_bench.c - `clft bench device|kernels|train|compare [options]`: forwards to the benchmark
 * suites' entry points (benchmarks/, linked as clft_bench). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int clft_bench_device_main(int argc, char **argv);  /* benchmarks/bench_peak.c */
int clft_bench_kernels_main(int argc, char **argv); /* benchmarks/bench_kernels.c */
int clft_bench_train_main(int argc, char **argv);   /* benchmarks/bench_train.c */
int clft_bench_compare_main(int argc, char **argv); /* benchmarks/bench_compare.c */

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: clft bench device  [--device SPEC] [--quick] [--reps N] [--json FILE] [--md FILE]\n"
               "       clft bench kernels [--device SPEC] [--quick] [--reps N] [--only SECTION] [--json FILE] "
               "[--md FILE]\n"
               "       clft bench train   [--device SPEC] [--preset NAME | --model DIR|FILE.gguf] "
               "[--method full,lora,qlora]\n"
               "                          [--seq-len T] [--batch B] [--steps N] [--checkpointing -1|0|1] [--quick]\n"
               "                          [--json FILE] [--md FILE]\n"
               "       clft bench compare A.json B.json ... [--html OUT.html]\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "device")) return clft_bench_device_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "kernels")) return clft_bench_kernels_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return clft_bench_train_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "compare")) return clft_bench_compare_main(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark '%s' (available: device, kernels, train, compare)", argv[1]);
}
