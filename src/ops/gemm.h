/* gemm.h - the GEMM layer the model code calls. All matrices are row-major f32 on the device
 * unless a clft_weight is given; accumulation is always fp32. The layer chooses per shape and
 * device between CLBlast and clft's own kernels (cl/gemm.cl) from measurements.
 *
 * Linear-layer products (W is (N,K) = (out,in), any storage type):
 *   forward       Y (M,N)  = X (M,K) * W^T          [+ beta*Y]
 *   backward-data dX (M,K) = dY (M,N) * W           [+ beta*dX]
 *   backward-wt   dW (N,K) += dY^T (N,M) * X (M,K)  (f32 W only; parameter grads accumulate)   */
#ifndef CLFT_OPS_GEMM_H
#define CLFT_OPS_GEMM_H

#include "ops/weight.h"

/* A view of an f32 matrix inside a device buffer: element (i,j) at offset + i*ld + j (in floats). */
typedef struct clft_mat {
    const clft_buf *buf;
    size_t offset;
    int64_t ld;
} clft_mat;
static inline clft_mat clft_mat_of(const clft_buf *buf, size_t offset, int64_t ld) {
    clft_mat m = {buf, offset, ld};
    return m;
}

/* C = alpha * op(A) * op(B) + beta * C, op(A) (M,K), op(B) (K,N). */
clft_status clft_gemm_f32(clft_context *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                          clft_mat A, clft_mat B, float beta, clft_mat C);
/* batch of independent GEMMs with fixed element strides between consecutive matrices. */
clft_status clft_gemm_f32_batched(clft_context *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K,
                                  float alpha, clft_mat A, int64_t strideA, clft_mat B, int64_t strideB, float beta,
                                  clft_mat C, int64_t strideC, int64_t batch);

/* Y (M,N) = X (M,K) * W^T + beta*Y, W (N,K) = (W->rows, W->cols) of any dtype. */
clft_status clft_linear_fwd(clft_context *ctx, clft_mat Y, clft_mat X, const clft_weight *W, int64_t M, float beta);
/* Y_j (M,N_j) = alpha * X_j (M,K) * W_j^T + beta*Y_j for n (1..CLFT_LINEAR_MULTI_MAX) weights of the
 * same K: the results of n products of clft_linear_fwd (alpha 1) / clft_gemm_f32 (f32 A * B^T), each
 * taking its own measured path; in one launch where all of them take the GEMV path on a CPU design,
 * the weights share a storage type and the X_j are views of one buffer with one leading dimension (a
 * decoding step's q, k and v, or gate and up, of the same X; the LoRA B products of q, k and v:
 * fewer, larger launches). */
#define CLFT_LINEAR_MULTI_MAX 3
clft_status clft_linear_fwd_multi(clft_context *ctx, int n, const clft_mat *Y /* (n) */, const clft_mat *X /* (n) */,
                                  const clft_weight *const *W /* (n) */, int64_t M, float alpha, float beta);
/* dX (M,K) = dY (M,N) * W + beta*dX (activation grads assign with beta = 0). */
clft_status clft_linear_bwd_data(clft_context *ctx, clft_mat dX, clft_mat dY, const clft_weight *W, int64_t M,
                                 float beta);
/* dW (N,K) += dY^T (N,M) * X (M,K) (parameter grads accumulate). */
clft_status clft_linear_bwd_weight(clft_context *ctx, clft_mat dW, clft_mat dY, clft_mat X, int64_t M, int64_t N,
                                   int64_t K);

/* ---- path selection and tuning (tests, benchmarks, self-check) --------------------------------
 * Path precedence: clft_gemm_set_path() (when not AUTO) > $CLFT_GEMM (clblast|tiled|auto) > the
 * measured choice ($CLFT_GEMM also takes fused, hgemm and gemv). AUTO times the candidate paths once per shape class
 * (op, weight dtype, N, K, batch and M rounded up to a power of two) on the call's own operands with M capped, keeps
 * the winner in memory and in <cache_dir>/gemm-paths.txt (per device). FUSED is the fused 4-bit kernel (linear forward
 * with an NF4/FP4 or a GGUF block (Q8_0/Q4_0/Q4_1) weight only; elsewhere it means TILED). */
typedef enum clft_gemm_path {
    CLFT_GEMM_AUTO = 0,
    CLFT_GEMM_CLBLAST = 1, /* CLBlast SGEMM (non-f32 weights converted to an f32 scratch first) */
    CLFT_GEMM_TILED = 2,   /* cl/gemm.cl: pack op(B) into panels (converting), register-blocked kernel */
    CLFT_GEMM_FUSED = 3,   /* cl/gemm.cl: fused 4-bit dequant + dot-product kernel */
    CLFT_GEMM_HGEMM = 4,   /* CLBlast HGEMM for an f16 weight (X staged to f16, fp16 accumulation):
                            * forced, wherever the probe HGEMM runs (clft_gemm_hgemm_probe() >= 0);
                            * measured, only where it was also accurate (== 1); elsewhere CLBLAST */
    CLFT_GEMM_GEMV = 5     /* cl/gemv.cl: matrix-vector kernel for the linear forward with few rows
                            * (decoding), any weight dtype read in place (4-bit dequantized in
                            * registers), and for f32 products A * B^T (transB, transA == 0, any
                            * batch), both with M <= CLFT_GEMV_MAX_M; elsewhere it means TILED */
} clft_gemm_path;
/* Most rows of X the GEMV path takes (W is read once per 16 rows; measured candidate up to here). */
#define CLFT_GEMV_MAX_M      16
#define CLFT_GEMM_PATH_COUNT 6
const char *clft_gemm_path_name(clft_gemm_path path);
clft_status clft_gemm_set_path(clft_context *ctx, clft_gemm_path path);
/* A weight product on the tiled or CLBlast path packs / converts the weight's rows at most this
 * many f32 bytes at a time (a slice of C's columns, or of K, per pass); the memory plan counts it.
 * clft_gemm_set_slice_bytes changes it for a context (tests: small slices; 0: the default). */
#define CLFT_GEMM_SLICE_BYTES ((size_t)64 << 20)
clft_status clft_gemm_set_slice_bytes(clft_context *ctx, size_t bytes);
/* Rows of a weight one such pass takes: slice_bytes / per_row (whole panels of `panel` rows when more
 * than a panel fits, panel 0: any count), at least 1 and at most rows (the memory plan's too). */
int64_t clft_gemm_slice_rows(size_t slice_bytes, size_t per_row, int64_t rows, int64_t panel);
/* Hold the scratch buffers at least this large from now on (0: leave one as it is): packed panels,
 * autotune output, f32 weight slices, CLBlast's temporary (then kept also where CLBlast loses).
 * For a caller that planned its products up front (the trainer, with src/model/plan.c's sizes), so
 * that its steps allocate nothing and hold what the memory plan says. */
clft_status clft_gemm_reserve_scratch(clft_context *ctx, size_t pack, size_t tune, size_t conv, size_t blas);

/* -D tunables of cl/gemm.cl (0 = keep the device default). Small tiles for Oclgrind. */
typedef struct clft_gemm_tiles {
    int mr, vw, nv; /* panel kernel: rows per work-item, vector width, vectors per row */
    int qm, qn, qv; /* fused 4-bit kernel: rows, columns per work-item, K chunk (4, 8 or 16) */
    int kb, mg;     /* panel kernel: K block (cache blocking), row tiles per work-item */
} clft_gemm_tiles;
clft_status clft_gemm_set_tiles(clft_context *ctx, const clft_gemm_tiles *tiles);
/* -D tunables of cl/gemv.cl (0 = keep the device default). Tests force the GPU design on CPUs and
 * small sizes under Oclgrind. */
typedef struct clft_gemv_tiles {
    int variant; /* 1: a work-item per nr rows of W with vectors along K (CPU default), 2: a
                  * work-group per nr rows, reduced in local memory (GPU default), 3: 4-bit weights
                  * by a subgroup of 16 per nr rows with cl_intel_subgroups (default on CPUs that
                  * have it: Intel's runtime), other weights as 1 */
    int mt;      /* most rows of X per pass over W (1, 2, 4, 8, 16): a call's M rounds up to a power
                  * of two capped here; more rows take more passes */
    int nr;      /* rows of W per work-item (1), work-group (2) or subgroup (3), 1..8; 0: by the rows
                  * of X */
    int vw;      /* variant 1: vector width along K (4, 8, 16) */
    int wg;      /* variant 2: work-group size (a power of two, 1..256, at most the device's) */
} clft_gemv_tiles;
clft_status clft_gemm_set_gemv_tiles(clft_context *ctx, const clft_gemv_tiles *tiles);
/* A probe HGEMM (64 x 64, K = 4096, values in [-1,1]) where the device advertises cl_khr_fp16,
 * measured once per context: 1 it matches the fp32 reference within NMSE 1e-5 (the measured choice
 * may take HGEMM), 0 it runs but is less accurate (CLBlast's HGEMM accumulates in half, so this is
 * the usual result for training-sized K: HGEMM then runs only when forced), -1 not available (no
 * cl_khr_fp16, or it failed). *nmse (may be NULL): the probe's NMSE, -1 when it did not run. */
int clft_gemm_hgemm_probe(clft_context *ctx, double *nmse);
int clft_gemm_hgemm_usable(clft_context *ctx); /* clft_gemm_hgemm_probe(ctx, NULL) == 1 */
/* Device scratch bound for HGEMM on products of up to M rows whose weights have at most max_dim
 * rows and columns: the f16 staging of X and C and the probe's operands (the memory plan adds it
 * for f16 bases; device independent). */
size_t clft_gemm_hgemm_scratch_bytes(int64_t M, int64_t max_dim);
/* The path the last GEMM call of this context ran (tests check that a forced path was taken). */
clft_gemm_path clft_gemm_last_path(clft_context *ctx);
/* The path decisions this context has taken ("KEY PATH" lines, malloc'd, NULL on failure), and the
 * same put back (replacing decisions of the same keys): a resumed run takes the paths, and so the
 * rounding, of the run it continues, whatever other processes wrote to the cache meanwhile. */
char *clft_gemm_decisions_export(clft_context *ctx);
clft_status clft_gemm_decisions_import(clft_context *ctx, const char *text);
/* GEMM calls of this context per path actually run (index: clft_gemm_path; autotune timing runs
 * not counted), since the context was made or the last reset: tests report which paths ran. */
void clft_gemm_counts(clft_context *ctx, int64_t counts[CLFT_GEMM_PATH_COUNT]);
void clft_gemm_counts_reset(clft_context *ctx);

/* Device scratch the layer uses for products up to these sizes (M rows, N output columns, K inner,
 * batch; for linear layers pass the largest of a weight's rows and cols as both N and K), and a
 * call that allocates it now (clft_gemm_reserve_scratch with these sizes), so that later calls
 * inside a training step allocate nothing. The bytes are counted in CLFT_MEM_SCRATCH. */
/* Rows of the real operands an autotune run of an (M, N, K, batch) product times (at most 256);
 * its output (rows x N x batch floats) is one of the scratch buffers. Device independent. */
int64_t clft_gemm_tune_rows(int64_t N, int64_t K, int64_t batch);
size_t clft_gemm_scratch_bytes(const clft_context *ctx, int64_t M, int64_t N, int64_t K, int64_t batch);
clft_status clft_gemm_reserve(clft_context *ctx, int64_t M, int64_t N, int64_t K, int64_t batch);

/* Free the GEMM layer's per-context state (scratch buffers, decisions); ops/blas.c calls it when
 * the context goes away. */
void clft_gemm_release(clft_context *ctx);

#endif
