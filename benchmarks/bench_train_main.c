/* bench_train_main.c - standalone `bench_train` program (same as `clft bench train`). */
int clft_bench_train_main(int argc, char **argv);
int main(int argc, char **argv) { return clft_bench_train_main(argc, argv); }
