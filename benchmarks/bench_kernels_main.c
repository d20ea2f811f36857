/* bench_kernels_main.c - standalone `bench_kernels` program (same as `clft bench kernels`). */
int clft_bench_kernels_main(int argc, char **argv);
int main(int argc, char **argv) { return clft_bench_kernels_main(argc, argv); }
