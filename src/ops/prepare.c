/* prepare.c - clft_context_prepare_kernels(): build the kernel programs the ops use (cached in memory
 * for the context and on disk for later processes) ahead of their first launch, without running the
 * self-check. */
#include "ops/gemm.h"
#include "ops/launch.h"
#include "ops/weight.h"

/* The shape-independent programs, with the options their launchers ask for (ops/launch.h). The flash
 * attention programs are specialised to a head dim (-DATT_D) and are built on first use. */
static const struct {
    const char *file, *defines;
} PROGRAMS[] = {
    {"runtime.cl", ""}, /* cl/arena.c: clft_buf_fill_words */
    {"norm.cl", CLFT_NORM_DEFS},
    {"elementwise.cl", ""},
    {"rope.cl", ""},
    {"embed.cl", ""},
    {"loss.cl", CLFT_LOSS_DEFS},
    {"optim.cl", ""},                    /* AdamW */
    {"optim.cl", CLFT_SUMSQ_DEFS},       /* sum of squares of the grad norm */
    {"attention.cl", CLFT_ATT_WG_DEFS},  /* softmax kernels of the blocked path */
    {"attention.cl", CLFT_ATT_SEG_DEFS}, /* the same with segment ids (packed rows) */
    {"nf4.cl", ""},                      /* f16/bf16 weight conversions */
};

/* bitsandbytes' default blocksize, the one `clft quantize` and QLoRA use unless told otherwise; the
 * dequantization program of another blocksize (CPUs group 32-blocks differently) is built on use. */
#define PREPARE_Q4_BLOCKSIZE 64

/* cl/gemm.cl is built with the GEMM layer's per-context tile options, which only ops/gemm.c composes
 * and which it does not hand out; one 1x1x1 product on the tiled path builds that program with them
 * (three 4-byte buffers, freed again; the layer keeps its grown panel scratch as it would after any
 * product). The path is forced for the call so that no autotune runs, then set back to automatic: a
 * path forced with clft_gemm_set_path (tests, benchmarks) before this call has to be forced again. */
static clft_status prepare_gemm(clft_context *ctx) {
    clft_buf a = {0}, b = {0}, c = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, 4, &a);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, 4, &b);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, 4, &c);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &a);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &b);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &c);
    if (st == CLFT_OK) st = clft_gemm_set_path(ctx, CLFT_GEMM_TILED);
    if (st == CLFT_OK) {
        st = clft_gemm_f32(ctx, 0, 0, 1, 1, 1, 1.0f, clft_mat_of(&a, 0, 1), clft_mat_of(&b, 0, 1), 0.0f,
                           clft_mat_of(&c, 0, 1));
        clft_status st2 = clft_gemm_set_path(ctx, CLFT_GEMM_AUTO);
        if (st == CLFT_OK) st = st2;
    }
    if (st == CLFT_OK) st = clft_context_finish(ctx);
    clft_buf_free(ctx, &a);
    clft_buf_free(ctx, &b);
    clft_buf_free(ctx, &c);
    return st;
}

clft_status clft_context_prepare_kernels(clft_context *ctx) {
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_prepare_kernels: NULL context");
    cl_program prog = NULL;
    for (size_t i = 0; i < sizeof PROGRAMS / sizeof PROGRAMS[0]; i++)
        CLFT_CHECK(clft_cl_program(ctx, PROGRAMS[i].file, PROGRAMS[i].defines, &prog));
    char defs[80];
    clft_nf4_defines(ctx, PREPARE_Q4_BLOCKSIZE, 0, defs, sizeof defs);
    CLFT_CHECK(clft_cl_program(ctx, "nf4.cl", defs, &prog));
    return prepare_gemm(ctx);
}
