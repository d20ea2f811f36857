/* cmd_bench.c - `clft bench kernels [options]`: forwards to the benchmark programs' entry points. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int clft_bench_kernels_main(int argc, char **argv); /* benchmarks/bench_kernels.c */

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: clft bench kernels [--device SPEC] [--quick] [--out FILE]\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "kernels")) return clft_bench_kernels_main(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark '%s' (available: kernels)", argv[1]);
}
