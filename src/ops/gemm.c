/* gemm.c - the GEMM layer (src/ops/gemm.h): argument validation, the execution paths, and the
 * per-shape choice between them from timings taken on first use.
 *   tiled   cl/gemm.cl: op(B) (or a weight of any dtype, converted/dequantized on the way) is packed
 *           into zero-padded column panels, then the register-blocked panel kernel runs; on a CPU
 *           both run one work-item per work-group with explicit vectors (PoCL would otherwise try
 *           to vectorize across work-items). Ragged M, N, K are handled in the kernels.
 *   clblast CLBlastSgemm / CLBlastSgemmStridedBatched, called column-major with swapped operands
 *           (C not "rotated", PERF.md 1.5); non-f32 weights are first converted to an f32 scratch.
 *   fused   cl/gemm.cl: 4-bit linear forward that dequantizes W chunks in registers (small M); the
 *           same for GGUF block weights (Q8_0, Q4_0, Q4_1: native storage), a block at a time.
 *   hgemm   CLBlast HGEMM for f16 weights, where cl_khr_fp16 exists and a probe HGEMM runs; the
 *           measured choice takes it only when the probe was also accurate (NMSE <= 1e-5).
 *   gemv    cl/gemv.cl: the linear forward with up to CLFT_GEMV_MAX_M rows (decoding) with W of any
 *           dtype read once in place, and f32 products A * B^T of as few rows; no scratch. CPUs run
 *           a work-item per few rows of W with explicit vectors along K (4-bit weights on Intel's
 *           CPU runtime: a subgroup per rows, its shuffle being the code lookup), GPUs a work-group
 *           per row(s) with a local-memory reduction (clft_gemv_tiles.variant).
 * The choice is timed once per shape class on the call's own operands (rows capped), kept in
 * memory and in <cache_dir>/gemm-paths-<device hash>.txt (temp file + rename); $CLFT_GEMM or
 * clft_gemm_set_path() override it. Per-context state (scratch buffers, decisions) lives in a
 * small registry keyed by the context (clrt.h has no slot for it); ops/blas.c frees it with the
 * context. Scratch buffers grow on first use of a bigger shape and are then reused. */
#include <clblast_c.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/gemm.h"
#include "ops/selfcheck.h"
#include "ref/ref.h"

/* ---- per-context state ---------------------------------------------------------------------- */

#define GEMM_TUNE_MAX_M 256 /* autotune runs use at most this many rows of the real operands */
#define GEMM_PACK_KC    256 /* k values per work-item of the transposing pack kernels (-DGEMM_PACK_KC) */
/* the HGEMM probe: X (M,K) f32 and W (N,K) f16 in [-1,1], accurate when NMSE <= the limit */
#define HGEMM_PROBE_M  64
#define HGEMM_PROBE_N  64
#define HGEMM_PROBE_K  4096
#define HGEMM_NMSE_MAX 1e-5

typedef struct gemm_decision {
    char key[96];
    clft_gemm_path path;
} gemm_decision;

typedef struct gemm_state {
    clft_context *ctx;
    struct gemm_state *next;
    clft_gemm_path forced;
    clft_gemm_path last;
    clft_gemm_tiles tiles;
    clft_gemv_tiles gemv;
    char defines[160];
    clft_buf pack;         /* packed panels of op(B) */
    clft_buf conv;         /* f32 copy of a non-f32 weight (CLBlast path) */
    clft_buf tuneC;        /* output of autotune runs */
    clft_buf halfA, halfC; /* f16 staging for CLBlast HGEMM */
    clft_buf blasTmp;      /* CLBlast's temporary buffer (indirect GEMM kernels) */
    int hgemm;             /* 0: not probed yet, 1: accurate (the measured choice may take it),
                            * 2: runs but less accurate than HGEMM_NMSE_MAX (only when forced),
                            * -1: not available (no cl_khr_fp16, or the probe failed to run) */
    double hgemm_nmse;     /* the probe's NMSE; -1 when it did not run */
    int hgemm_warned;      /* a forced HGEMM on a state-2 device was logged */
    gemm_decision *dec;    /* every shape class decided so far (grows: a dropped decision would be
                            * re-timed, and could change the path and the rounding of later calls) */
    int ndec, capdec;
    int loaded;
    int64_t counts[CLFT_GEMM_PATH_COUNT]; /* calls per path that ran (autotune timing runs excluded) */
    int keep_blas;                        /* CLBlast's temporary was reserved: kept when CLBlast loses */
    size_t slice_bytes;                   /* a weight's rows are packed / converted this many bytes at a
                                           * time (clft_gemm_set_slice_bytes; CLFT_GEMM_SLICE_BYTES) */
} gemm_state;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static gemm_state *g_states = NULL;

static void default_tiles(const clft_context *ctx, clft_gemm_tiles *t) {
    if (strstr(ctx->caps.info.name, "Oclgrind") || strstr(ctx->caps.info.platform, "Oclgrind")) {
        /* an interpreter: small register tiles (Oclgrind has crashed on big private arrays) */
        *t = (clft_gemm_tiles){2, 4, 2, 2, 2, 4, 8, 2};
    } else if (ctx->caps.is_cpu) {
        /* 6 x 64 tile = 24 AVX-512 accumulators; a 256 x 64 panel block (64 KiB) stays in L2 over
         * 8 row tiles; fused 4-bit 8 x 2 (measured best on PoCL 3.1, Zen 5) */
        *t = (clft_gemm_tiles){6, 16, 4, 8, 2, 16, 256, 8};
    } else {
        /* untuned for GPUs (CLBlast is normally measured faster there): no K blocking */
        *t = (clft_gemm_tiles){4, 4, 2, 2, 2, 8, 1 << 30, 1};
    }
}

static void default_gemv(const clft_context *ctx, clft_gemv_tiles *t) {
    if (ctx->caps.is_oclgrind) {
        /* small private arrays for the interpreter; M > 4 takes several passes */
        *t = (clft_gemv_tiles){1, 4, 2, 4, 16};
    } else if (ctx->caps.is_cpu) {
        /* Intel's CPU runtime compiles shuffle() of the 4-bit lookup lane by lane, but a subgroup
         * shuffle into one permute: 4-bit weights take the subgroup kernels there */
        const int sg = clft_has_extension(ctx->caps.info.extensions, "cl_intel_subgroups");
        *t = (clft_gemv_tiles){sg ? 3 : 1, CLFT_GEMV_MAX_M, 0, 16, 64};
    } else {
        size_t wg = 128;
        while (ctx->caps.max_wg > 0 && wg > ctx->caps.max_wg)
            wg /= 2;
        *t = (clft_gemv_tiles){2, CLFT_GEMV_MAX_M, 0, 16, (int)wg};
    }
}

static void compose_defines(gemm_state *s) {
    snprintf(s->defines, sizeof s->defines,
             "-DGEMM_MR=%d -DGEMM_VW=%d -DGEMM_NV=%d -DGEMM_QM=%d -DGEMM_QN=%d -DGEMM_QV=%d -DGEMM_KB=%d -DGEMM_MG=%d "
             "-DGEMM_PACK_KC=%d",
             s->tiles.mr, s->tiles.vw, s->tiles.nv, s->tiles.qm, s->tiles.qn, s->tiles.qv, s->tiles.kb, s->tiles.mg,
             GEMM_PACK_KC);
}

static gemm_state *state_get(clft_context *ctx) {
    pthread_mutex_lock(&g_lock);
    gemm_state *s = g_states;
    while (s && s->ctx != ctx)
        s = s->next;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (s) {
            s->ctx = ctx;
            default_tiles(ctx, &s->tiles);
            default_gemv(ctx, &s->gemv);
            compose_defines(s);
            s->slice_bytes = CLFT_GEMM_SLICE_BYTES;
            s->next = g_states;
            g_states = s;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (!s) clft_error(CLFT_STATUS_HOST_OOM, "gemm: cannot allocate the per-context state");
    return s;
}

void clft_gemm_release(clft_context *ctx) {
    pthread_mutex_lock(&g_lock);
    gemm_state **pp = &g_states;
    while (*pp && (*pp)->ctx != ctx)
        pp = &(*pp)->next;
    gemm_state *s = *pp;
    if (s) *pp = s->next;
    pthread_mutex_unlock(&g_lock);
    if (!s) return;
    clft_buf_free(ctx, &s->pack);
    clft_buf_free(ctx, &s->conv);
    clft_buf_free(ctx, &s->tuneC);
    clft_buf_free(ctx, &s->halfA);
    clft_buf_free(ctx, &s->halfC);
    clft_buf_free(ctx, &s->blasTmp);
    free(s->dec);
    free(s);
}

const char *clft_gemm_path_name(clft_gemm_path path) {
    switch (path) {
    case CLFT_GEMM_AUTO: return "auto";
    case CLFT_GEMM_CLBLAST: return "clblast";
    case CLFT_GEMM_TILED: return "tiled";
    case CLFT_GEMM_FUSED: return "fused";
    case CLFT_GEMM_HGEMM: return "hgemm";
    case CLFT_GEMM_GEMV: return "gemv";
    }
    return "?";
}

clft_status clft_gemm_set_path(clft_context *ctx, clft_gemm_path path) {
    if (!ctx || path < CLFT_GEMM_AUTO || path > CLFT_GEMM_GEMV)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_set_path: bad context or path %d", (int)path);
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    s->forced = path;
    return CLFT_OK;
}

clft_gemm_path clft_gemm_last_path(clft_context *ctx) {
    gemm_state *s = ctx ? state_get(ctx) : NULL;
    return s ? s->last : CLFT_GEMM_AUTO;
}

void clft_gemm_counts(clft_context *ctx, int64_t counts[CLFT_GEMM_PATH_COUNT]) {
    gemm_state *s = ctx ? state_get(ctx) : NULL;
    for (int i = 0; i < CLFT_GEMM_PATH_COUNT; i++)
        counts[i] = s ? s->counts[i] : 0;
}

void clft_gemm_counts_reset(clft_context *ctx) {
    gemm_state *s = ctx ? state_get(ctx) : NULL;
    if (s) memset(s->counts, 0, sizeof s->counts);
}

clft_status clft_gemm_set_slice_bytes(clft_context *ctx, size_t bytes) {
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_set_slice_bytes: NULL context");
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    s->slice_bytes = bytes > 0 ? bytes : CLFT_GEMM_SLICE_BYTES;
    return CLFT_OK;
}

clft_status clft_gemm_set_tiles(clft_context *ctx, const clft_gemm_tiles *t) {
    if (!ctx || !t) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_set_tiles: NULL argument");
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    clft_gemm_tiles d;
    default_tiles(ctx, &d);
    clft_gemm_tiles n = {t->mr ? t->mr : d.mr, t->vw ? t->vw : d.vw, t->nv ? t->nv : d.nv, t->qm ? t->qm : d.qm,
                         t->qn ? t->qn : d.qn, t->qv ? t->qv : d.qv, t->kb ? t->kb : d.kb, t->mg ? t->mg : d.mg};
    int vw_ok = n.vw == 1 || n.vw == 2 || n.vw == 4 || n.vw == 8 || n.vw == 16;
    if (n.mr < 1 || n.mr > 16 || !vw_ok || n.nv < 1 || n.nv > 8 || n.qm < 1 || n.qm > 8 || n.qn < 1 || n.qn > 8 ||
        (n.qv != 4 && n.qv != 8 && n.qv != 16) || n.kb < 1 || n.mg < 1 || n.mg > 64)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_gemm_set_tiles: mr %d (1..16), vw %d (1,2,4,8,16), nv %d (1..8), qm %d, qn %d (1..8), "
                          "qv %d (4,8,16), kb %d (>= 1), mg %d (1..64) out of range",
                          n.mr, n.vw, n.nv, n.qm, n.qn, n.qv, n.kb, n.mg);
    s->tiles = n;
    compose_defines(s);
    return CLFT_OK;
}

clft_status clft_gemm_set_gemv_tiles(clft_context *ctx, const clft_gemv_tiles *t) {
    if (!ctx || !t) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_set_gemv_tiles: NULL argument");
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    clft_gemv_tiles d;
    default_gemv(ctx, &d);
    clft_gemv_tiles n = {t->variant ? t->variant : d.variant, t->mt ? t->mt : d.mt, t->nr ? t->nr : d.nr,
                         t->vw ? t->vw : d.vw, t->wg ? t->wg : d.wg};
    const int pow2_mt = n.mt >= 1 && n.mt <= CLFT_GEMV_MAX_M && !(n.mt & (n.mt - 1));
    const int pow2_wg =
        n.wg >= 1 && n.wg <= 256 && !(n.wg & (n.wg - 1)) && (ctx->caps.max_wg == 0 || (size_t)n.wg <= ctx->caps.max_wg);
    if (n.variant == 3 && !clft_has_extension(ctx->caps.info.extensions, "cl_intel_subgroups"))
        return clft_error(CLFT_STATUS_UNSUPPORTED, "clft_gemm_set_gemv_tiles: variant 3 needs cl_intel_subgroups");
    if (n.variant < 1 || n.variant > 3 || !pow2_mt || n.nr < 0 || n.nr > 8 || (n.vw != 4 && n.vw != 8 && n.vw != 16) ||
        !pow2_wg)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_gemm_set_gemv_tiles: variant %d (1..3), mt %d (1..%d, power of two), nr %d (0..8), vw "
                          "%d (4, 8, 16), wg %d (power of two, 1..256, device max %zu) out of range",
                          n.variant, n.mt, CLFT_GEMV_MAX_M, n.nr, n.vw, n.wg, ctx->caps.max_wg);
    s->gemv = n;
    return CLFT_OK;
}

/* Grow a scratch buffer to at least `bytes` (contents are not kept): at least 1 MiB, and by half
 * again at a time, so that a run with varying shapes settles after a few allocations. The new
 * buffer is allocated before the old one is freed. (Oclgrind 21.10 has reported reads of
 * uninitialised values from a buffer reallocated this way after several small reallocations in a
 * row, although every element read was written by the pack kernel and all results match.) */
static clft_status scratch(clft_context *ctx, clft_buf *b, size_t bytes, int zero) {
    if (b->mem && b->bytes >= bytes) return CLFT_OK;
    const size_t need = bytes;
    if (bytes < ((size_t)1 << 20)) bytes = (size_t)1 << 20;
    if (b->mem && bytes < b->bytes + b->bytes / 2) bytes = b->bytes + b->bytes / 2;
    /* the growth must not push a fitting request over the device's allocation limit */
    if (bytes > need && ctx->caps.info.max_alloc_bytes > 0 && bytes > ctx->caps.info.max_alloc_bytes)
        bytes = need > ctx->caps.info.max_alloc_bytes ? need : (size_t)ctx->caps.info.max_alloc_bytes;
    clft_buf nb = {0};
    CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &nb));
    clft_log(CLFT_LOG_DEBUG, "gemm scratch grows from %zu to %zu bytes (%zu asked)", b->bytes, bytes, need);
    /* zero: for a buffer CLBlast reads, whose direct kernels load whole tiles and may touch the
     * unused tail (the runtime's fill kernel, not clEnqueueFillBuffer: see cl/runtime.cl). */
    clft_status st = CLFT_OK;
    if (zero) st = clft_buf_fill_zero(ctx, &nb);
    if (st != CLFT_OK) {
        clft_buf_free(ctx, &nb);
        return st;
    }
    clft_buf_free(ctx, b);
    *b = nb;
    return CLFT_OK;
}

clft_status clft_gemm_reserve_scratch(clft_context *ctx, size_t pack, size_t tune, size_t conv, size_t blas) {
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_reserve_scratch: NULL context");
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    if (pack) CLFT_CHECK(scratch(ctx, &s->pack, pack, 0));
    if (tune) CLFT_CHECK(scratch(ctx, &s->tuneC, tune, 1));
    if (conv) CLFT_CHECK(scratch(ctx, &s->conv, conv, 1));
    if (blas) {
        CLFT_CHECK(scratch(ctx, &s->blasTmp, blas, 1));
        s->keep_blas = 1;
    }
    return CLFT_OK;
}

static size_t roundup(size_t x, size_t m) { return (x + m - 1) / m * m; }
static clft_status check_dims(const char *fn, int64_t M, int64_t N, int64_t K, int64_t batch);

/* Sizes of the three scratch buffers for products up to (M, N, K, batch) with these tiles. */
static void scratch_sizes(const clft_gemm_tiles *t, int64_t M, int64_t N, int64_t K, int64_t batch, size_t out[3]) {
    const size_t NR = (size_t)t->vw * (size_t)t->nv;
    const size_t tm = (size_t)(M < GEMM_TUNE_MAX_M ? M : GEMM_TUNE_MAX_M);
    out[0] = roundup((size_t)N, NR) * (size_t)K * (size_t)batch * sizeof(float); /* pack */
    out[1] = (size_t)N * (size_t)K * sizeof(float);                              /* weight conversion */
    out[2] = tm * (size_t)N * (size_t)batch * sizeof(float);                     /* autotune output */
}

size_t clft_gemm_scratch_bytes(const clft_context *ctx, int64_t M, int64_t N, int64_t K, int64_t batch) {
    if (!ctx || M < 0 || N < 0 || K < 0 || batch < 0) return 0;
    clft_gemm_tiles t;
    default_tiles(ctx, &t);
    pthread_mutex_lock(&g_lock);
    for (const gemm_state *s = g_states; s; s = s->next)
        if (s->ctx == ctx) t = s->tiles;
    pthread_mutex_unlock(&g_lock);
    size_t b[3];
    scratch_sizes(&t, M, N, K, batch, b);
    return b[0] + b[1] + b[2];
}

clft_status clft_gemm_reserve(clft_context *ctx, int64_t M, int64_t N, int64_t K, int64_t batch) {
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_reserve: NULL context");
    CLFT_CHECK(check_dims("clft_gemm_reserve", M, N, K, batch));
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    size_t b[3];
    scratch_sizes(&s->tiles, M, N, K, batch, b);
    /* CLBlast's temporary buffer: the largest over the transpose combinations at these sizes */
    size_t tmp = 0;
    for (int t = 0; M > 0 && N > 0 && K > 0 && t < 4; t++) {
        const CLBlastTranspose ta = (t & 1) ? CLBlastTransposeYes : CLBlastTransposeNo;
        const CLBlastTranspose tb = (t & 2) ? CLBlastTransposeYes : CLBlastTransposeNo;
        size_t one = 0;
        if (CLBlastSGemmTempBufferSize(CLBlastLayoutColMajor, ta, tb, (size_t)N, (size_t)M, (size_t)K, 0,
                                       (size_t)((t & 1) ? K : N), 0, (size_t)((t & 2) ? M : K), 0, (size_t)N,
                                       &ctx->queue, &one) == CLBlastSuccess &&
            one > tmp)
            tmp = one;
    }
    ctx->blas_ready = 1;
    return clft_gemm_reserve_scratch(ctx, b[0], b[2], b[1], tmp);
}

/* ---- validation ----------------------------------------------------------------------------- */

/* A (rows, cols) view, `batch` matrices `stride` floats apart, `esize`-byte elements. */
static clft_status check_view(const char *fn, const char *name, const clft_buf *buf, size_t offset, int64_t ld,
                              int64_t rows, int64_t cols, int64_t batch, int64_t stride, size_t esize) {
    if (!buf || !buf->mem) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: %s has no buffer", fn, name);
    if (ld < (cols > 1 ? cols : 1))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: %s (%lld,%lld): ld %lld is smaller than its %lld columns",
                          fn, name, (long long)rows, (long long)cols, (long long)ld, (long long)cols);
    if (rows == 0 || cols == 0 || batch == 0) return CLFT_OK;
    if (batch > 1 && stride < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: %s: negative batch stride %lld", fn, name,
                          (long long)stride);
    /* last element + 1, in elements; every term is < 2^62 after the checks on the dims */
    double last =
        (double)offset + (double)(batch - 1) * (double)stride + (double)(rows - 1) * (double)ld + (double)cols;
    if (last * (double)esize > (double)buf->bytes)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "%s: %s (%lld,%lld) with ld %lld, offset %zu, batch %lld x stride %lld needs %.0f bytes; "
                          "the buffer has %zu",
                          fn, name, (long long)rows, (long long)cols, (long long)ld, offset, (long long)batch,
                          (long long)stride, last * (double)esize, buf->bytes);
    return CLFT_OK;
}

static clft_status check_dims(const char *fn, int64_t M, int64_t N, int64_t K, int64_t batch) {
    if (M < 0 || N < 0 || K < 0 || batch < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: negative size M %lld N %lld K %lld batch %lld", fn,
                          (long long)M, (long long)N, (long long)K, (long long)batch);
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || batch > INT_MAX)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: size above 2^31-1: M %lld N %lld K %lld batch %lld", fn,
                          (long long)M, (long long)N, (long long)K, (long long)batch);
    return CLFT_OK;
}

/* ---- one GEMM problem, path-independent description ----------------------------------------- */

/* C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, batched. B is either an f32 matrix view
 * (w == NULL) or a weight W, used as op(B)(k,j) = W[j,k] (wtrans: linear forward) or W[k,j]. */
typedef struct gemm_problem {
    const char *fn; /* API function name for messages and the decision key */
    int transA, transB;
    int64_t M, N, K, batch;
    float alpha, beta;
    clft_mat A, B, C;
    int64_t sA, sB, sC;
    const clft_weight *w;
    int wtrans;
    int64_t wrow0; /* the product uses rows wrow0 .. of W (N of them under wtrans, else K): a slice */
} gemm_problem;

static clft_status blas_fail(CLBlastStatusCode code, const gemm_problem *p) {
    return clft_error(CLFT_STATUS_BLAS, "%s: CLBlast SGEMM failed with status %d (M %lld N %lld K %lld batch %lld)",
                      p->fn, (int)code, (long long)p->M, (long long)p->N, (long long)p->K, (long long)p->batch);
}

static int is_q4(const clft_weight *w) { return w && (w->dtype == CLFT_DTYPE_NF4 || w->dtype == CLFT_DTYPE_FP4); }
static int is_gg(const clft_weight *w) { return w && clft_dtype_is_ggml(w->dtype); }

/* Convert rows row0 .. row0+nrows-1 of a non-f32 weight to f32 (same row layout) into `out`. */
static clft_status weight_convert(clft_context *ctx, gemm_state *s, const clft_weight *w, int64_t row0, int64_t nrows,
                                  clft_buf *out) {
    const size_t n = (size_t)nrows * (size_t)w->cols;
    CLFT_CHECK(scratch(ctx, out, n * sizeof(float), 1));
    cl_kernel k = NULL;
    cl_ulong nn = n, eoff = (cl_ulong)row0 * (cl_ulong)w->cols;
    size_t g = n, l = 64;
    switch (w->dtype) {
    case CLFT_DTYPE_F16:
    case CLFT_DTYPE_BF16: {
        const char *name = w->dtype == CLFT_DTYPE_F16 ? "gemm_convert_f16" : "gemm_convert_bf16";
        CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, name, &k));
        CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem, sizeof eoff, &eoff,
                                sizeof nn, &nn, (size_t)0));
        return clft_cl_launch(ctx, k, 1, &g, &l, name);
    }
    case CLFT_DTYPE_NF4:
    case CLFT_DTYPE_FP4: {
        cl_int bs = w->blocksize;
        if (!w->double_quant) {
            CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_convert_q4", &k));
            CLFT_CHECK(clft_cl_args(k, "gemm_convert_q4", sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem,
                                    sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof bs, &bs,
                                    sizeof eoff, &eoff, sizeof nn, &nn, (size_t)0));
            return clft_cl_launch(ctx, k, 1, &g, &l, "gemm_convert_q4");
        }
        cl_int nbs = w->nested_blocksize;
        cl_float noff = w->nested_offset;
        CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_convert_q4dq", &k));
        CLFT_CHECK(clft_cl_args(k, "gemm_convert_q4dq", sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem,
                                sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof(cl_mem),
                                &w->nested_absmax.mem, sizeof(cl_mem), &w->nested_code.mem, sizeof nbs, &nbs,
                                sizeof noff, &noff, sizeof bs, &bs, sizeof eoff, &eoff, sizeof nn, &nn, (size_t)0));
        return clft_cl_launch(ctx, k, 1, &g, &l, "gemm_convert_q4dq");
    }
    case CLFT_DTYPE_Q8_0:
    case CLFT_DTYPE_Q4_0:
    case CLFT_DTYPE_Q4_1: return clft_weight_dequant_ggml_rows(ctx, w, CLFT_DTYPE_F32, row0, nrows, out);
    default:
        return clft_error(CLFT_STATUS_UNSUPPORTED, "gemm: weight dtype %s cannot be converted",
                          clft_dtype_name(w->dtype));
    }
}

static clft_status run_clblast(clft_context *ctx, gemm_state *s, const gemm_problem *p) {
    clft_mat B = p->B;
    int transB = p->transB;
    if (p->w) {
        if (p->w->dtype == CLFT_DTYPE_F32) {
            B.buf = &p->w->data;
            B.offset = (size_t)p->wrow0 * (size_t)p->w->cols;
        } else {
            CLFT_CHECK(weight_convert(ctx, s, p->w, p->wrow0, p->wtrans ? p->N : p->K, &s->conv));
            B.buf = &s->conv;
            B.offset = 0;
        }
        B.ld = p->w->cols;
        transB = p->wtrans;
    }
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: C is then not "rotated"
     * (CLBlast's GEMMK=0 kernels want column-major C), which saves one of its transpose passes. */
    const CLBlastTranspose ta = transB ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = p->transA ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode rc;
    cl_event ev = NULL; /* kept for the profile when profiling (no cost otherwise) */
    if (p->batch == 1) {
        /* CLBlast's indirect path needs a temporary buffer; pass a kept one instead of letting it
         * call clCreateBuffer on every GEMM (PERF.md 1.5) */
        size_t tmp = 0;
        rc = CLBlastSGemmTempBufferSize(CLBlastLayoutColMajor, ta, tb, (size_t)p->N, (size_t)p->M, (size_t)p->K,
                                        B.offset, (size_t)B.ld, p->A.offset, (size_t)p->A.ld, p->C.offset,
                                        (size_t)p->C.ld, &ctx->queue, &tmp);
        if (rc != CLBlastSuccess) return blas_fail(rc, p);
        if (tmp > 0) {
            CLFT_CHECK(scratch(ctx, &s->blasTmp, tmp, 1));
            rc = CLBlastSgemmWithTempBuffer(CLBlastLayoutColMajor, ta, tb, (size_t)p->N, (size_t)p->M, (size_t)p->K,
                                            p->alpha, B.buf->mem, B.offset, (size_t)B.ld, p->A.buf->mem, p->A.offset,
                                            (size_t)p->A.ld, p->beta, p->C.buf->mem, p->C.offset, (size_t)p->C.ld,
                                            &ctx->queue, clft_cl_profile_event(ctx, &ev), s->blasTmp.mem);
        } else {
            rc =
                CLBlastSgemm(CLBlastLayoutColMajor, ta, tb, (size_t)p->N, (size_t)p->M, (size_t)p->K, p->alpha,
                             B.buf->mem, B.offset, (size_t)B.ld, p->A.buf->mem, p->A.offset, (size_t)p->A.ld, p->beta,
                             p->C.buf->mem, p->C.offset, (size_t)p->C.ld, &ctx->queue, clft_cl_profile_event(ctx, &ev));
        }
    } else
        rc = CLBlastSgemmStridedBatched(CLBlastLayoutColMajor, ta, tb, (size_t)p->N, (size_t)p->M, (size_t)p->K,
                                        p->alpha, B.buf->mem, B.offset, (size_t)B.ld, (size_t)p->sB, p->A.buf->mem,
                                        p->A.offset, (size_t)p->A.ld, (size_t)p->sA, p->beta, p->C.buf->mem,
                                        p->C.offset, (size_t)p->C.ld, (size_t)p->sC, (size_t)p->batch, &ctx->queue,
                                        clft_cl_profile_event(ctx, &ev));
    ctx->blas_ready = 1;
    if (rc != CLBlastSuccess) return blas_fail(rc, p);
    if (ev) CLFT_CHECK(clft_cl_profile_record(ctx, "clblast_sgemm", ev));
    s->last = CLFT_GEMM_CLBLAST;
    return CLFT_OK;
}

/* Pack op(B) of every batch into panels of NR columns in s->pack. */
static clft_status pack_b(clft_context *ctx, gemm_state *s, const gemm_problem *p) {
    const size_t NR = (size_t)s->tiles.vw * (size_t)s->tiles.nv;
    const size_t npad = roundup((size_t)p->N, NR);
    const size_t per = npad * (size_t)p->K;
    CLFT_CHECK(scratch(ctx, &s->pack, per * (size_t)p->batch * sizeof(float), 0));
    if (p->K == 0) return CLFT_OK;
    cl_int K = (cl_int)p->K, N = (cl_int)p->N;
    size_t g[3] = {npad, (size_t)p->K, (size_t)p->batch}, l[3] = {NR < 64 ? NR : 64, 1, 1};
    cl_kernel k = NULL;
    const clft_weight *w = p->w;
    /* transposing pack (rows of W / of a transposed B contiguous along k): global over groups of
     * VW columns and chunks of GEMM_PACK_KC (256) values of k; one work-item per group on a CPU */
    const size_t VW = (size_t)s->tiles.vw, KC = GEMM_PACK_KC;
    size_t gt[3] = {npad / VW, ((size_t)p->K + KC - 1) / KC, (size_t)p->batch}, one[3] = {1, 1, 1};
    const size_t *lt = ctx->caps.is_cpu ? one : NULL;
    const cl_ulong eoff = w ? (cl_ulong)p->wrow0 * (cl_ulong)w->cols : 0; /* the slice's first element */
    if (w && (w->dtype == CLFT_DTYPE_NF4 || w->dtype == CLFT_DTYPE_FP4) && p->wtrans && p->K % (int64_t)VW == 0) {
        cl_int bs = w->blocksize;
        gt[2] = 1;
        if (!w->double_quant) {
            CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_packt_q4", &k));
            CLFT_CHECK(clft_cl_args(k, "gemm_packt_q4", sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &w->data.mem,
                                    sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof bs, &bs,
                                    sizeof eoff, &eoff, sizeof K, &K, sizeof N, &N, (size_t)0));
            return clft_cl_launch(ctx, k, 3, gt, lt, "gemm_packt_q4");
        }
        cl_int nbs = w->nested_blocksize;
        cl_float noff = w->nested_offset;
        CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_packt_q4dq", &k));
        CLFT_CHECK(clft_cl_args(k, "gemm_packt_q4dq", sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &w->data.mem,
                                sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof(cl_mem),
                                &w->nested_absmax.mem, sizeof(cl_mem), &w->nested_code.mem, sizeof nbs, &nbs,
                                sizeof noff, &noff, sizeof bs, &bs, sizeof eoff, &eoff, sizeof K, &K, sizeof N, &N,
                                (size_t)0));
        return clft_cl_launch(ctx, k, 3, gt, lt, "gemm_packt_q4dq");
    }
    if (is_gg(w)) { /* op(B)(k,j) = W[j,k] (linear forward) or W[k,j] (backward-data) */
        cl_long sbk = p->wtrans ? 1 : w->cols, sbj = p->wtrans ? w->cols : 1;
        char name[32];
        snprintf(name, sizeof name, "gemm_pack_%s", clft_dtype_name(w->dtype));
        CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, name, &k));
        CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &w->data.mem, sizeof(cl_mem),
                                &w->absmax.mem, sizeof eoff, &eoff, sizeof sbk, &sbk, sizeof sbj, &sbj, sizeof K, &K,
                                sizeof N, &N, (size_t)0));
        g[2] = 1;
        return clft_cl_launch(ctx, k, 3, g, l, name);
    }
    if (is_q4(w)) {
        /* op(B)(k,j) = W[j,k] (linear forward) or W[k,j] */
        cl_long sbk = p->wtrans ? 1 : w->cols, sbj = p->wtrans ? w->cols : 1;
        cl_int bs = w->blocksize;
        if (!w->double_quant) {
            CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_pack_q4", &k));
            CLFT_CHECK(clft_cl_args(k, "gemm_pack_q4", sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &w->data.mem,
                                    sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof bs, &bs,
                                    sizeof eoff, &eoff, sizeof sbk, &sbk, sizeof sbj, &sbj, sizeof K, &K, sizeof N, &N,
                                    (size_t)0));
        } else {
            cl_int nbs = w->nested_blocksize;
            cl_float noff = w->nested_offset;
            CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_pack_q4dq", &k));
            CLFT_CHECK(clft_cl_args(k, "gemm_pack_q4dq", sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &w->data.mem,
                                    sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof(cl_mem),
                                    &w->nested_absmax.mem, sizeof(cl_mem), &w->nested_code.mem, sizeof nbs, &nbs,
                                    sizeof noff, &noff, sizeof bs, &bs, sizeof eoff, &eoff, sizeof sbk, &sbk,
                                    sizeof sbj, &sbj, sizeof K, &K, sizeof N, &N, (size_t)0));
        }
        g[2] = 1;
        return clft_cl_launch(ctx, k, 3, g, l, "gemm_pack_q4");
    }
    const char *name = "gemm_pack_f32";
    const clft_buf *src = p->B.buf;
    cl_ulong off = p->B.offset;
    cl_long sbk = p->transB ? 1 : p->B.ld, sbj = p->transB ? p->B.ld : 1, sB = p->sB, sBp = (cl_long)per;
    if (w) {
        name = w->dtype == CLFT_DTYPE_F16    ? "gemm_pack_f16"
               : w->dtype == CLFT_DTYPE_BF16 ? "gemm_pack_bf16"
                                             : "gemm_pack_f32";
        src = &w->data;
        off = eoff;
        sbk = p->wtrans ? 1 : w->cols;
        sbj = p->wtrans ? w->cols : 1;
        sB = 0;
    }
    if (sbk == 1) {
        char tname[32];
        snprintf(tname, sizeof tname, "gemm_packt_%s", name + strlen("gemm_pack_"));
        CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, tname, &k));
        CLFT_CHECK(clft_cl_args(k, tname, sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &src->mem, sizeof off, &off,
                                sizeof sbj, &sbj, sizeof K, &K, sizeof N, &N, sizeof sB, &sB, sizeof sBp, &sBp,
                                (size_t)0));
        return clft_cl_launch(ctx, k, 3, gt, lt, tname);
    }
    CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, name, &k));
    CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &s->pack.mem, sizeof(cl_mem), &src->mem, sizeof off, &off,
                            sizeof sbk, &sbk, sizeof sbj, &sbj, sizeof K, &K, sizeof N, &N, sizeof sB, &sB, sizeof sBp,
                            &sBp, (size_t)0));
    return clft_cl_launch(ctx, k, 3, g, l, name);
}

static clft_status run_tiled(clft_context *ctx, gemm_state *s, const gemm_problem *p) {
    CLFT_CHECK(pack_b(ctx, s, p));
    const size_t NR = (size_t)s->tiles.vw * (size_t)s->tiles.nv;
    const size_t npad = roundup((size_t)p->N, NR);
    cl_int M = (cl_int)p->M, N = (cl_int)p->N, K = (cl_int)p->K;
    cl_ulong aoff = p->A.offset, coff = p->C.offset;
    cl_long sai = p->transA ? 1 : p->A.ld, sak = p->transA ? p->A.ld : 1, sA = p->sA, sC = p->sC, ldc = p->C.ld;
    cl_long sBp = (cl_long)(npad * (size_t)p->K);
    cl_float alpha = p->alpha, beta = p->beta;
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_f32_panel", &k));
    CLFT_CHECK(clft_cl_args(k, "gemm_f32_panel", sizeof M, &M, sizeof N, &N, sizeof K, &K, sizeof alpha, &alpha,
                            sizeof(cl_mem), &p->A.buf->mem, sizeof aoff, &aoff, sizeof sai, &sai, sizeof sak, &sak,
                            sizeof sA, &sA, sizeof(cl_mem), &s->pack.mem, sizeof sBp, &sBp, sizeof beta, &beta,
                            sizeof(cl_mem), &p->C.buf->mem, sizeof coff, &coff, sizeof ldc, &ldc, sizeof sC, &sC,
                            (size_t)0));
    const size_t tiles_m = ((size_t)p->M + (size_t)s->tiles.mr - 1) / (size_t)s->tiles.mr;
    size_t g[3] = {(tiles_m + (size_t)s->tiles.mg - 1) / (size_t)s->tiles.mg, npad / NR, (size_t)p->batch};
    /* CPU: one work-item per work-group; the kernel is explicitly vectorized (PERF.md 5) */
    size_t one[3] = {1, 1, 1};
    CLFT_CHECK(clft_cl_launch(ctx, k, 3, g, ctx->caps.is_cpu ? one : NULL, "gemm_f32_panel"));
    s->last = CLFT_GEMM_TILED;
    return CLFT_OK;
}

static clft_status run_fused(clft_context *ctx, gemm_state *s, const gemm_problem *p) {
    const clft_weight *w = p->w;
    cl_int M = (cl_int)p->M, N = (cl_int)p->N, K = (cl_int)p->K, bs = w->blocksize;
    cl_ulong xoff = p->A.offset, yoff = p->C.offset;
    cl_long ldx = p->A.ld, ldy = p->C.ld;
    cl_float alpha = p->alpha, beta = p->beta;
    cl_kernel k = NULL;
    char gname[32];
    snprintf(gname, sizeof gname, "gemm_f32_nt_%s", clft_dtype_name(w->dtype));
    const char *name = is_gg(w) ? gname : w->double_quant ? "gemm_f32_nt_q4dq" : "gemm_f32_nt_q4";
    CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, name, &k));
    if (is_gg(w)) {
        CLFT_CHECK(clft_cl_args(k, name, sizeof M, &M, sizeof N, &N, sizeof K, &K, sizeof alpha, &alpha, sizeof(cl_mem),
                                &p->A.buf->mem, sizeof xoff, &xoff, sizeof ldx, &ldx, sizeof(cl_mem), &w->data.mem,
                                sizeof(cl_mem), &w->absmax.mem, sizeof beta, &beta, sizeof(cl_mem), &p->C.buf->mem,
                                sizeof yoff, &yoff, sizeof ldy, &ldy, (size_t)0));
    } else if (!w->double_quant) {
        CLFT_CHECK(clft_cl_args(k, name, sizeof M, &M, sizeof N, &N, sizeof K, &K, sizeof alpha, &alpha, sizeof(cl_mem),
                                &p->A.buf->mem, sizeof xoff, &xoff, sizeof ldx, &ldx, sizeof(cl_mem), &w->data.mem,
                                sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof bs, &bs,
                                sizeof beta, &beta, sizeof(cl_mem), &p->C.buf->mem, sizeof yoff, &yoff, sizeof ldy,
                                &ldy, (size_t)0));
    } else {
        cl_int nbs = w->nested_blocksize;
        cl_float noff = w->nested_offset;
        CLFT_CHECK(clft_cl_args(k, name, sizeof M, &M, sizeof N, &N, sizeof K, &K, sizeof alpha, &alpha, sizeof(cl_mem),
                                &p->A.buf->mem, sizeof xoff, &xoff, sizeof ldx, &ldx, sizeof(cl_mem), &w->data.mem,
                                sizeof(cl_mem), &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof(cl_mem),
                                &w->nested_absmax.mem, sizeof(cl_mem), &w->nested_code.mem, sizeof nbs, &nbs,
                                sizeof noff, &noff, sizeof bs, &bs, sizeof beta, &beta, sizeof(cl_mem), &p->C.buf->mem,
                                sizeof yoff, &yoff, sizeof ldy, &ldy, (size_t)0));
    }
    /* dim 0 runs over output columns so that neighbouring work-items share the X rows */
    size_t g[2] = {((size_t)p->N + (size_t)s->tiles.qn - 1) / (size_t)s->tiles.qn,
                   ((size_t)p->M + (size_t)s->tiles.qm - 1) / (size_t)s->tiles.qm};
    size_t l[2] = {ctx->caps.is_cpu ? 1 : 16, 1};
    CLFT_CHECK(clft_cl_launch(ctx, k, 2, g, l, name));
    s->last = CLFT_GEMM_FUSED;
    return CLFT_OK;
}

/* The GEMV path applies to the linear forward (W^T, batch 1) and to f32 products A * B^T (any
 * batch), both with at most CLFT_GEMV_MAX_M rows. */
static int gemv_applies(const gemm_problem *p) {
    if (p->M < 1 || p->M > CLFT_GEMV_MAX_M) return 0;
    return p->w ? p->wtrans && p->batch == 1 : !p->transA && p->transB;
}

/* Rows of W per work-item (variant 1: 8 rows of W for one row of X, 8 vector accumulators in all
 * (the 4-bit kernel keeps twice that)), work-group (2: 4 sums) or subgroup (3: 2 sums; measured on
 * Intel's CPU runtime, where 4 for one row of X ran 7x slower). */
static int gemv_rows(int variant, int nr_set, int mt) {
    if (nr_set) return nr_set;
    const int nr = (variant == 1 ? 8 : variant == 2 ? 4 : 2) / mt;
    return nr > 1 ? nr : 1;
}

/* The kernel, its options and its launch shape for a GEMV problem (one weight, or several of the same
 * storage and K against the same X: multi). */
typedef struct gemv_cfg {
    int variant, mt, nr, q4, gg; /* q4: NF4/FP4; gg: GGUF blocks (Q8_0, Q4_0, Q4_1) */
    size_t lsize;
    char defs[112], name[40];
} gemv_cfg;

static void gemv_config(const clft_context *ctx, const gemm_state *s, const gemm_problem *p, int multi, gemv_cfg *c) {
    const clft_gemv_tiles *t = &s->gemv;
    const clft_weight *w = p->w;
    const clft_dtype dt = w ? w->dtype : CLFT_DTYPE_F32;
    c->q4 = is_q4(w);
    c->gg = is_gg(w);
    /* variant 3: subgroup kernels for 4-bit weights, the work-item kernels for the others */
    c->variant = t->variant == 3 && !c->q4 ? 1 : t->variant;
    /* variant 3: Intel's CPU compiler (2026.22) runs the subgroup kernel work-item by work-item, 7x
     * slower, once a work-item holds more than about 4 sums: at most 4 rows of X per pass */
    const int mtmax = c->variant == 3 && t->mt > 4 ? 4 : t->mt;
    c->mt = 1;
    while (c->mt < p->M && c->mt < mtmax)
        c->mt *= 2;
    c->nr = gemv_rows(c->variant, t->nr, c->mt);
    c->lsize = c->variant == 3 ? 16 : c->variant == 2 ? (size_t)t->wg : 1;
    /* 4-bit on a CPU (not Oclgrind): each work-item (1) or subgroup (3) reads a contiguous range of
     * rows and prefetches the bytes GEMV_PF ahead in memory order (the hardware prefetchers follow
     * the interleaved short rows poorly: K = 768 rows streamed from memory ran at half the speed of
     * the same rows in cache). A group's bytes ahead, 8-16 KiB (measured on Zen 4). GGUF blocks
     * (variant 1) alike: SmolLM2's 576x576 Q8_0 streamed 90 -> 36 us on PoCL, 82 -> 28 us on Intel's. */
    int pf = 0;
    if ((c->q4 || c->gg) && c->variant != 2 && ctx->caps.is_cpu && !ctx->caps.is_oclgrind) {
        const int64_t gb = (int64_t)c->nr * (c->gg ? p->K / 32 * (dt == CLFT_DTYPE_Q8_0 ? 32 : 16) : p->K / 2);
        pf = gb > 8192 ? 16384 : 8192;
    }
    if (c->variant == 2)
        snprintf(c->defs, sizeof c->defs, "-DGEMV_MT=%d -DGEMV_NR=%d -DGEMV_WG=%d", c->mt, c->nr, t->wg);
    else
        snprintf(c->defs, sizeof c->defs, "-DGEMV_MT=%d -DGEMV_NR=%d -DGEMV_VW=%d -DGEMV_PF=%d", c->mt, c->nr, t->vw,
                 pf);
    const char *wname = c->q4                   ? (w->double_quant ? "q4dq" : "q4")
                        : c->gg                 ? clft_dtype_name(dt)
                        : dt == CLFT_DTYPE_F16  ? "f16"
                        : dt == CLFT_DTYPE_BF16 ? "bf16"
                                                : "f32";
    snprintf(c->name, sizeof c->name, "gemv_fwd_%s_%s%s", wname,
             c->variant == 3   ? "sg"
             : c->variant == 2 ? "wg"
                               : "wi",
             multi ? "3" : "");
}

static clft_status gemv_arg(cl_kernel k, const char *name, cl_uint *i, size_t size, const void *ptr) {
    const cl_int err = clSetKernelArg(k, *i, size, ptr);
    if (err != CL_SUCCESS) {
        char what[80];
        snprintf(what, sizeof what, "clSetKernelArg(%s, arg %u)", name, *i);
        return clft_cl_fail(err, what);
    }
    (*i)++;
    return CLFT_OK;
}

/* The weight's arguments: dense (W, w_off, ldw[, sw]) (sw: the one-weight kernels' batch stride),
 * 4-bit (packed, code, absmax, blocksize_log2) or with double quantization (packed, code, qabsmax,
 * nested_absmax, nested_code, nested_blocksize, nested_log2, nested_offset, blocksize_log2). */
static clft_status gemv_weight_args(cl_kernel k, const char *name, cl_uint *i, const gemm_problem *p, int with_sw) {
    const clft_weight *w = p->w;
    const cl_mem *wmem = w ? &w->data.mem : &p->B.buf->mem;
    CLFT_CHECK(gemv_arg(k, name, i, sizeof(cl_mem), wmem));
    if (is_gg(w)) return gemv_arg(k, name, i, sizeof(cl_mem), &w->absmax.mem); /* (qs, sc) */
    if (!is_q4(w)) {
        const cl_ulong woff = w ? 0 : p->B.offset;
        const cl_long ldw = w ? w->cols : p->B.ld, sw = w ? 0 : p->sB;
        CLFT_CHECK(gemv_arg(k, name, i, sizeof woff, &woff));
        CLFT_CHECK(gemv_arg(k, name, i, sizeof ldw, &ldw));
        return with_sw ? gemv_arg(k, name, i, sizeof sw, &sw) : CLFT_OK;
    }
    cl_int bsl = 0, nbsl = -1;
    const cl_int nbs = w->nested_blocksize;
    const cl_float noff = w->nested_offset;
    while ((1 << bsl) < w->blocksize) /* a power of two (check_weight) */
        bsl++;
    for (int l = 0; l < 31 && nbsl < 0; l++)
        if ((1 << l) == nbs) nbsl = l;
    CLFT_CHECK(gemv_arg(k, name, i, sizeof(cl_mem), &w->code.mem));
    CLFT_CHECK(gemv_arg(k, name, i, sizeof(cl_mem), &w->absmax.mem));
    if (w->double_quant) {
        CLFT_CHECK(gemv_arg(k, name, i, sizeof(cl_mem), &w->nested_absmax.mem));
        CLFT_CHECK(gemv_arg(k, name, i, sizeof(cl_mem), &w->nested_code.mem));
        CLFT_CHECK(gemv_arg(k, name, i, sizeof nbs, &nbs));
        CLFT_CHECK(gemv_arg(k, name, i, sizeof nbsl, &nbsl));
        CLFT_CHECK(gemv_arg(k, name, i, sizeof noff, &noff));
    }
    return gemv_arg(k, name, i, sizeof bsl, &bsl);
}

/* Launch `groups` groups of rows (all weights') with batch `batch`, `work` multiply-adds in all. */
#define GEMV_MIN_ITEM_MACS 16384
#define GEMV_ROW_MACS      32 /* a row's own cost (sum of the vector lanes, store) in multiply-adds */
static clft_status gemv_launch(clft_context *ctx, cl_kernel k, const gemv_cfg *c, size_t groups, size_t batch,
                               size_t work) {
    /* on a CPU, variant 1: at most 64 work-items per compute unit, each striding over groups of rows,
     * and no more than one per GEMV_MIN_ITEM_MACS multiply-adds (`work`: a LoRA product of rank 16
     * ran in 128 work-groups of 256 each, at twice the time of 4);
     * 4-bit weights (variants 1 and 3) and GGUF blocks (1): 8 work-items or subgroups per compute unit, each over a
     * contiguous range of groups (measured best of 2 to 64 on 2 Zen 4 cores, PoCL and Intel's runtime:
     * fewer leave a core idle at the end, more cut the streams the prefetch runs ahead on) */
    const size_t cus = (size_t)(ctx->caps.info.compute_units > 0 ? ctx->caps.info.compute_units : 1);
    size_t items = (c->q4 || c->gg ? 8 : 64) * cus;
    if (!c->q4 && !c->gg && work / GEMV_MIN_ITEM_MACS < items)
        items = work / GEMV_MIN_ITEM_MACS > cus ? work / GEMV_MIN_ITEM_MACS : cus;
    const int wg = c->variant != 1;
    if ((!wg || (c->variant == 3 && c->q4)) && ctx->caps.is_cpu && groups > items) groups = items;
    size_t g[2] = {groups * c->lsize, batch};
    size_t l[2] = {c->lsize, 1};
    /* variant 1 on a CPU: one work-item per work-group (explicit vectors, PERF.md 5) */
    return clft_cl_launch(ctx, k, 2, g, wg || ctx->caps.is_cpu ? l : NULL, c->name);
}

static clft_status run_gemv(clft_context *ctx, gemm_state *s, const gemm_problem *p) {
    gemv_cfg c;
    gemv_config(ctx, s, p, 0, &c);
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "gemv.cl", c.defs, c.name, &k));
    const cl_int M = (cl_int)p->M, N = (cl_int)p->N, K = (cl_int)p->K;
    const cl_float alpha = p->alpha, beta = p->beta;
    const cl_ulong xoff = p->A.offset, yoff = p->C.offset;
    const cl_long ldx = p->A.ld, sx = p->sA, ldy = p->C.ld, sy = p->sC;
    cl_uint i = 0;
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof M, &M));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof N, &N));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof K, &K));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof alpha, &alpha));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof(cl_mem), &p->A.buf->mem));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof xoff, &xoff));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof ldx, &ldx));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof sx, &sx));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof beta, &beta));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof(cl_mem), &p->C.buf->mem));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof yoff, &yoff));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof ldy, &ldy));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof sy, &sy));
    CLFT_CHECK(gemv_weight_args(k, c.name, &i, p, 1));
    CLFT_CHECK(gemv_launch(ctx, k, &c, ((size_t)p->N + (size_t)c.nr - 1) / (size_t)c.nr, (size_t)p->batch,
                           (size_t)p->M * (size_t)p->N * ((size_t)p->K + GEMV_ROW_MACS) * (size_t)p->batch));
    s->last = CLFT_GEMM_GEMV;
    return CLFT_OK;
}

/* Several linear forwards of weights of the same storage and K, against X views of one buffer and
 * leading dimension (p[0..n), n <= 3, the same M, alpha and beta; checked by the caller) in one
 * launch of a *_wi3 / *_sg3 kernel; a missing third weight is given as the last with N = 0. */
static clft_status run_gemv_multi(clft_context *ctx, gemm_state *s, const gemm_problem *p, int n) {
    gemv_cfg c;
    gemv_config(ctx, s, &p[0], 1, &c);
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "gemv.cl", c.defs, c.name, &k));
    const cl_int M = (cl_int)p[0].M, K = (cl_int)p[0].K;
    const cl_float alpha = p[0].alpha, beta = p[0].beta;
    const cl_long ldx = p[0].A.ld;
    cl_uint i = 0;
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof M, &M));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof K, &K));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof alpha, &alpha));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof(cl_mem), &p[0].A.buf->mem));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof ldx, &ldx));
    CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof beta, &beta));
    size_t groups = 0, work = 0;
    for (int j = 0; j < 3; j++) {
        const gemm_problem *q = &p[j < n ? j : n - 1];
        const cl_int N = j < n ? (cl_int)q->N : 0;
        const cl_ulong xoff = q->A.offset, yoff = q->C.offset;
        const cl_long ldy = q->C.ld;
        CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof N, &N));
        CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof xoff, &xoff));
        CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof(cl_mem), &q->C.buf->mem));
        CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof yoff, &yoff));
        CLFT_CHECK(gemv_arg(k, c.name, &i, sizeof ldy, &ldy));
        CLFT_CHECK(gemv_weight_args(k, c.name, &i, q, 0));
        groups += ((size_t)N + (size_t)c.nr - 1) / (size_t)c.nr;
        work += (size_t)M * (size_t)N * ((size_t)K + GEMV_ROW_MACS);
    }
    CLFT_CHECK(gemv_launch(ctx, k, &c, groups, 1, work));
    s->last = CLFT_GEMM_GEMV;
    return CLFT_OK;
}

/* CLBlast HGEMM for an f16 weight: X staged to f16, C = alpha * H + beta * C after. */
static clft_status run_hgemm(clft_context *ctx, gemm_state *s, const gemm_problem *p) {
    const clft_weight *w = p->w;
    const size_t nA = (size_t)p->M * (size_t)p->K, nC = (size_t)p->M * (size_t)p->N;
    CLFT_CHECK(scratch(ctx, &s->halfA, nA * 2, 0));
    CLFT_CHECK(scratch(ctx, &s->halfC, nC * 2, 0));
    cl_kernel k = NULL;
    cl_int rows = (cl_int)p->M, cols = (cl_int)p->K;
    cl_ulong aoff = p->A.offset, coff = p->C.offset;
    cl_long lda = p->A.ld, ldc = p->C.ld;
    CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_stage_f16", &k));
    CLFT_CHECK(clft_cl_args(k, "gemm_stage_f16", sizeof(cl_mem), &s->halfA.mem, sizeof(cl_mem), &p->A.buf->mem,
                            sizeof aoff, &aoff, sizeof lda, &lda, sizeof rows, &rows, sizeof cols, &cols, (size_t)0));
    size_t g[2] = {(size_t)p->K, (size_t)p->M}, l[2] = {16, 1};
    CLFT_CHECK(clft_cl_launch(ctx, k, 2, g, l, "gemm_stage_f16"));
    const cl_half one = 0x3c00, zero = 0;
    cl_event ev = NULL; /* kept for the profile when profiling */
    CLBlastStatusCode rc =
        CLBlastHgemm(CLBlastLayoutColMajor, p->wtrans ? CLBlastTransposeYes : CLBlastTransposeNo, CLBlastTransposeNo,
                     (size_t)p->N, (size_t)p->M, (size_t)p->K, one, w->data.mem, 0, (size_t)w->cols, s->halfA.mem, 0,
                     (size_t)p->K, zero, s->halfC.mem, 0, (size_t)p->N, &ctx->queue, clft_cl_profile_event(ctx, &ev));
    ctx->blas_ready = 1;
    if (rc != CLBlastSuccess)
        return clft_error(CLFT_STATUS_BLAS, "%s: CLBlast HGEMM failed with status %d (M %lld N %lld K %lld)", p->fn,
                          (int)rc, (long long)p->M, (long long)p->N, (long long)p->K);
    if (ev) CLFT_CHECK(clft_cl_profile_record(ctx, "clblast_hgemm", ev));
    cl_int crow = (cl_int)p->M, ccol = (cl_int)p->N;
    cl_float alpha = p->alpha, beta = p->beta;
    CLFT_CHECK(clft_cl_kernel(ctx, "gemm.cl", s->defines, "gemm_unstage_f16", &k));
    CLFT_CHECK(clft_cl_args(k, "gemm_unstage_f16", sizeof(cl_mem), &p->C.buf->mem, sizeof coff, &coff, sizeof ldc, &ldc,
                            sizeof(cl_mem), &s->halfC.mem, sizeof crow, &crow, sizeof ccol, &ccol, sizeof alpha, &alpha,
                            sizeof beta, &beta, (size_t)0));
    size_t gc[2] = {(size_t)p->N, (size_t)p->M};
    CLFT_CHECK(clft_cl_launch(ctx, k, 2, gc, l, "gemm_unstage_f16"));
    s->last = CLFT_GEMM_HGEMM;
    return CLFT_OK;
}

/* One probe HGEMM against a reference of the same f16 values; sets s->hgemm and s->hgemm_nmse. The
 * f16 staging buffers are freed again unless the measured choice may take HGEMM. */
static void hgemm_measure(clft_context *ctx, gemm_state *s) {
    const int64_t M = HGEMM_PROBE_M, N = HGEMM_PROBE_N, K = HGEMM_PROBE_K;
    float *x = clft_malloc((size_t)(M * K) * 4), *wf = clft_malloc((size_t)(N * K) * 4),
          *y = clft_malloc((size_t)(M * N) * 4), *ref = clft_malloc((size_t)(M * N) * 4);
    uint16_t *wh = clft_malloc((size_t)(N * K) * 2);
    clft_buf bx = {0}, by = {0};
    clft_weight w;
    memset(&w, 0, sizeof w);
    w.dtype = CLFT_DTYPE_F16;
    w.rows = N;
    w.cols = K;
    uint32_t r = 0x9e3779b9u;
    s->hgemm = -1;
    s->hgemm_nmse = -1;
    clft_status st = (x && wf && y && ref && wh) ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    for (int64_t i = 0; st == CLFT_OK && i < M * K; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = clft_ref_f16_to_f32(clft_ref_f32_to_f16((float)(r >> 8) * (2.0f / 16777216.0f) - 1.0f));
    }
    for (int64_t i = 0; st == CLFT_OK && i < N * K; i++) {
        r = r * 1664525u + 1013904223u;
        wh[i] = clft_ref_f32_to_f16((float)(r >> 8) * (2.0f / 16777216.0f) - 1.0f);
        wf[i] = clft_ref_f16_to_f32(wh[i]);
    }
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)(M * K) * 4, &bx);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)(M * N) * 4, &by);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)(N * K) * 2, &w.data);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &bx, 0, x, (size_t)(M * K) * 4);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w.data, 0, wh, (size_t)(N * K) * 2);
    gemm_problem p = {"hgemm probe", 0, 1, M, N, K, 1, 1.0f, 0.0f, {&bx, 0, K}, {0}, {&by, 0, N}, 0, 0, 0, &w, 1, 0};
    if (st == CLFT_OK) st = run_hgemm(ctx, s, &p);
    if (st == CLFT_OK) st = clft_buf_read(ctx, &by, 0, y, (size_t)(M * N) * 4);
    if (st == CLFT_OK) {
        clft_ref_gemm_f32(0, 1, M, N, K, 1.0f, x, K, wf, K, 0.0f, ref, N);
        double num = 0, den = 0;
        for (int64_t i = 0; i < M * N; i++) {
            num += ((double)y[i] - ref[i]) * ((double)y[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        s->hgemm_nmse = den > 0 ? num / den : num;
        s->hgemm = s->hgemm_nmse <= HGEMM_NMSE_MAX ? 1 : 2;
        clft_log(CLFT_LOG_INFO, "gemm: HGEMM probe NMSE %.3g (limit %.0e): %s", s->hgemm_nmse, HGEMM_NMSE_MAX,
                 s->hgemm == 1 ? "usable" : "runs only when forced");
    } else {
        clft_log(CLFT_LOG_INFO, "gemm: HGEMM probe failed (%s): not used", clft_last_error());
        clft_error_clear();
    }
    if (s->hgemm != 1) clft_buf_free(ctx, &s->halfA), clft_buf_free(ctx, &s->halfC);
    clft_buf_free(ctx, &bx), clft_buf_free(ctx, &by), clft_buf_free(ctx, &w.data);
    free(x), free(wf), free(y), free(ref), free(wh);
}

int clft_gemm_hgemm_probe(clft_context *ctx, double *nmse) {
    gemm_state *s = ctx ? state_get(ctx) : NULL;
    if (nmse) *nmse = -1;
    if (!s) return -1;
    if (s->hgemm == 0) {
        if (ctx->caps.info.fp16)
            hgemm_measure(ctx, s);
        else
            s->hgemm = -1, s->hgemm_nmse = -1;
    }
    if (nmse) *nmse = s->hgemm_nmse;
    return s->hgemm == 1 ? 1 : s->hgemm == 2 ? 0 : -1;
}

int clft_gemm_hgemm_usable(clft_context *ctx) { return clft_gemm_hgemm_probe(ctx, NULL) == 1; }

size_t clft_gemm_hgemm_scratch_bytes(int64_t M, int64_t max_dim) {
    /* X and C staged as f16, each growing like every scratch buffer (at least 1 MiB, 1.5x steps:
     * at most 9/4 of the largest request), plus the probe's own operands while it runs */
    const size_t mib = (size_t)1 << 20, stage = (size_t)M * (size_t)max_dim * 2 * 9 / 4;
    const size_t probe = (size_t)HGEMM_PROBE_M * HGEMM_PROBE_K * 4 + (size_t)HGEMM_PROBE_M * HGEMM_PROBE_N * 4 +
                         (size_t)HGEMM_PROBE_N * HGEMM_PROBE_K * 2;
    return 2 * (stage > mib ? stage : mib) + probe;
}

/* The HGEMM path applies to a linear layer with an f16 weight on a device where the probe ran;
 * `accurate`: only where it was also accurate (the measured choice). */
static int hgemm_applies(clft_context *ctx, const gemm_problem *p, int accurate) {
    return p->w && p->w->dtype == CLFT_DTYPE_F16 && p->transA == 0 && p->batch == 1 && p->K > 0 &&
           clft_gemm_hgemm_probe(ctx, NULL) >= accurate;
}

int64_t clft_gemm_slice_rows(size_t slice_bytes, size_t per_row, int64_t rows, int64_t panel) {
    int64_t step = per_row > 0 ? (int64_t)(slice_bytes / per_row) : rows;
    if (panel > 0 && step > panel) step -= step % panel; /* whole panels */
    return step < 1 ? 1 : step > rows ? rows : step;
}

/* A weight product on the tiled or CLBlast path with the weight's rows a slice at a time, so that
 * the packed panels or the f32 copy hold at most s->slice_bytes (the LM head of a 128k vocabulary
 * would take 2 GiB at once): under wtrans a slice of W's rows is a block of C's columns, else a
 * block of K (A's columns), accumulated into C with beta 1 after the first. */
static clft_status run_sliced(clft_context *ctx, gemm_state *s, const gemm_problem *p, int clblast) {
    const int64_t rows = p->wtrans ? p->N : p->K;
    const size_t NR = (size_t)s->tiles.vw * (size_t)s->tiles.nv;
    /* bytes per row of W: its f32 copy (CLBlast), or its packed column / panel row (tiled) */
    const size_t per_row =
        (clblast ? (size_t)p->w->cols : p->wtrans ? (size_t)p->K : roundup((size_t)p->N, NR)) * sizeof(float);
    const int64_t step = clft_gemm_slice_rows(s->slice_bytes, per_row, rows, p->wtrans && !clblast ? (int64_t)NR : 0);
    if (step >= rows) return clblast ? run_clblast(ctx, s, p) : run_tiled(ctx, s, p);
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
        gemm_problem q = *p;
        const int64_t n = rows - r0 < step ? rows - r0 : step;
        q.wrow0 = p->wrow0 + r0;
        if (p->wtrans) {
            q.N = n;
            q.C.offset += (size_t)r0;
        } else {
            q.K = n;
            q.A.offset += (size_t)r0 * (size_t)(p->transA ? p->A.ld : 1);
            if (r0 > 0) q.beta = 1.0f;
        }
        CLFT_CHECK(clblast ? run_clblast(ctx, s, &q) : run_tiled(ctx, s, &q));
    }
    return CLFT_OK;
}

static clft_status run_path(clft_context *ctx, gemm_state *s, const gemm_problem *p, clft_gemm_path path) {
    if (path == CLFT_GEMM_HGEMM && hgemm_applies(ctx, p, 0)) {
        if (s->hgemm == 2 && !s->hgemm_warned) {
            s->hgemm_warned = 1;
            clft_log(CLFT_LOG_WARN, "gemm: HGEMM forced although its probe NMSE %.3g is above %.0e (fp16 accumulation)",
                     s->hgemm_nmse, HGEMM_NMSE_MAX);
        }
        return run_hgemm(ctx, s, p);
    }
    /* CLBlast refuses K == 0 (C = beta*C); the own kernel does it */
    if ((path == CLFT_GEMM_CLBLAST || path == CLFT_GEMM_HGEMM) && p->K > 0)
        return p->w ? run_sliced(ctx, s, p, 1) : run_clblast(ctx, s, p);
    if (path == CLFT_GEMM_FUSED && (is_q4(p->w) || is_gg(p->w)) && p->wtrans && p->batch == 1)
        return run_fused(ctx, s, p);
    if (path == CLFT_GEMM_GEMV && gemv_applies(p)) return run_gemv(ctx, s, p);
    return p->w ? run_sliced(ctx, s, p, 0) : run_tiled(ctx, s, p);
}

/* ---- measured path choice ------------------------------------------------------------------- */

static void decisions_path(const clft_context *ctx, char *out, size_t cap) {
    uint64_t h = clft_fnv1a(CLFT_FNV_INIT, ctx->caps.info.name, strlen(ctx->caps.info.name));
    h = clft_fnv1a(h, ctx->caps.info.driver_version, strlen(ctx->caps.info.driver_version));
    h = clft_fnv1a(h, ctx->caps.info.platform, strlen(ctx->caps.info.platform));
    snprintf(out, cap, "%s/gemm-paths-%016llx.txt", ctx->cache_dir, (unsigned long long)h);
}

/* Remember a decision (a failed allocation only costs a re-timing later). */
static void decision_add(gemm_state *s, const char *key, clft_gemm_path path) {
    if (s->ndec == s->capdec) {
        int cap = s->capdec ? 2 * s->capdec : 64;
        gemm_decision *d = realloc(s->dec, (size_t)cap * sizeof *d);
        if (!d) return;
        s->dec = d;
        s->capdec = cap;
    }
    snprintf(s->dec[s->ndec].key, sizeof s->dec[s->ndec].key, "%s", key);
    s->dec[s->ndec++].path = path;
}

static clft_gemm_path path_from_name(const char *name) {
    return !strcmp(name, "clblast") ? CLFT_GEMM_CLBLAST
           : !strcmp(name, "tiled") ? CLFT_GEMM_TILED
           : !strcmp(name, "fused") ? CLFT_GEMM_FUSED
           : !strcmp(name, "hgemm") ? CLFT_GEMM_HGEMM
           : !strcmp(name, "gemv")  ? CLFT_GEMM_GEMV
                                    : CLFT_GEMM_AUTO;
}

char *clft_gemm_decisions_export(clft_context *ctx) {
    gemm_state *s = ctx ? state_get(ctx) : NULL;
    if (!s) return NULL;
    size_t cap = (size_t)s->ndec * 112 + 1, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[0] = 0;
    for (int i = 0; i < s->ndec; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s %s\n", s->dec[i].key, clft_gemm_path_name(s->dec[i].path));
    return out;
}

clft_status clft_gemm_decisions_import(clft_context *ctx, const char *text) {
    gemm_state *s = ctx ? state_get(ctx) : NULL;
    if (!s || !text) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gemm_decisions_import: NULL argument");
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[256], key[96], name[32];
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = 0;
            if (line[0] != '#' && sscanf(line, "%95s %31s", key, name) == 2 && path_from_name(name) != CLFT_GEMM_AUTO) {
                int found = 0;
                for (int i = 0; i < s->ndec && !found; i++)
                    if (!strcmp(s->dec[i].key, key)) {
                        s->dec[i].path = path_from_name(name);
                        found = 1;
                    }
                if (!found) decision_add(s, key, path_from_name(name));
            }
        }
        p += n + (nl ? 1 : 0);
    }
    return CLFT_OK;
}

static void decisions_load(clft_context *ctx, gemm_state *s) {
    s->loaded = 1;
    if (!ctx->disk_cache || !ctx->cache_dir[0]) return;
    char path[1200];
    decisions_path(ctx, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256], key[96], name[32];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%95s %31s", key, name) != 2) continue;
        const clft_gemm_path pth = path_from_name(name);
        if (pth == CLFT_GEMM_AUTO) continue;
        decision_add(s, key, pth);
    }
    fclose(f);
}

/* Rewrite the whole file (temp file + rename), so concurrent writers never leave a torn file. */
static void decisions_save(clft_context *ctx, gemm_state *s) {
    if (!ctx->disk_cache || !ctx->cache_dir[0]) return;
    mkdir(ctx->cache_dir, 0755);
    char path[1200], tmp[1300];
    decisions_path(ctx, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        clft_log(CLFT_LOG_DEBUG, "gemm: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(f, "# clft GEMM path per shape class, measured on %s (%s)\n", ctx->caps.info.name,
            ctx->caps.info.driver_version);
    for (int i = 0; i < s->ndec; i++)
        fprintf(f, "%s %s\n", s->dec[i].key, clft_gemm_path_name(s->dec[i].path));
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        clft_log(CLFT_LOG_DEBUG, "gemm: cannot replace %s", path);
    }
}

static void shape_key(const gemm_problem *p, char *out, size_t cap) {
    int64_t mb = 1;
    while (mb < p->M)
        mb *= 2;
    int64_t bb = 1;
    while (bb < p->batch)
        bb *= 2;
    snprintf(out, cap, "%s:%d%d:%s:M%lld:N%lld:K%lld:B%lld", p->fn, p->transA, p->w ? p->wtrans : p->transB,
             p->w ? clft_dtype_name(p->w->dtype) : "f32", (long long)mb, (long long)p->N, (long long)p->K,
             (long long)bb);
}

int64_t clft_gemm_tune_rows(int64_t N, int64_t K, int64_t batch) {
    /* up to GEMM_TUNE_MAX_M, fewer for big N*K (about 2 GFLOP, so that a slow candidate costs a
     * fraction of a second on a CPU), at least 32 */
    double rows = 1e9 / ((double)(N > 0 ? N : 1) * (double)(K > 0 ? K : 1) * (double)(batch > 0 ? batch : 1));
    return rows > GEMM_TUNE_MAX_M ? GEMM_TUNE_MAX_M : rows < 32 ? 32 : (int64_t)rows / 8 * 8;
}

/* Seconds of one run of the path after a warm-up. Runs under a millisecond (decoding's products) are
 * timed as the best of 3 batches of 8 back to back, as a generator issues them: one run with its
 * own wait is mostly the wake-up of the runtime's threads, and on a core shared with another
 * process a single sample decided the LoRA B products of a 768-wide model for the two launches of
 * the tiled path over the one of GEMV (8.6 vs 5.0 us back to back on PoCL), for good. */
static clft_status time_path(clft_context *ctx, gemm_state *s, const gemm_problem *p, clft_gemm_path path,
                             double *secs) {
    CLFT_CHECK(run_path(ctx, s, p, path)); /* warm-up: builds programs, sizes scratch */
    CLFT_CHECK(clft_context_finish(ctx));
    double t0 = clft_now_seconds();
    CLFT_CHECK(run_path(ctx, s, p, path));
    CLFT_CHECK(clft_context_finish(ctx));
    *secs = clft_now_seconds() - t0;
    for (int b = 0; b < 3 && *secs < 1e-3; b++) {
        t0 = clft_now_seconds();
        for (int r = 0; r < 8; r++)
            CLFT_CHECK(run_path(ctx, s, p, path));
        CLFT_CHECK(clft_context_finish(ctx));
        const double t = (clft_now_seconds() - t0) / 8;
        if (b == 0 || t < *secs) *secs = t;
    }
    return CLFT_OK;
}

/* Time each candidate on the call's own A and B (M capped) writing a scratch C with beta = 0. */
static clft_status autotune(clft_context *ctx, gemm_state *s, const gemm_problem *p, clft_gemm_path *out) {
    gemm_problem t = *p;
    const int64_t tm = clft_gemm_tune_rows(p->N, p->K, p->batch);
    t.M = p->M < tm ? p->M : tm;
    t.beta = 0.0f;
    t.C.offset = 0;
    t.C.ld = p->N;
    t.sC = t.M * p->N;
    CLFT_CHECK(scratch(ctx, &s->tuneC, (size_t)t.sC * (size_t)p->batch * sizeof(float), 1));
    t.C.buf = &s->tuneC;
    clft_gemm_path cands[4] = {CLFT_GEMM_TILED, CLFT_GEMM_CLBLAST, CLFT_GEMM_FUSED};
    int ncand = 2;
    if ((is_q4(p->w) || is_gg(p->w)) && p->wtrans && p->batch == 1)
        ncand = 3;
    else if (hgemm_applies(ctx, p, 1))
        cands[ncand++] = CLFT_GEMM_HGEMM;
    if (gemv_applies(p)) cands[ncand++] = CLFT_GEMM_GEMV;
    double best = 1e30, secs[4] = {0, 0, 0, 0};
    *out = CLFT_GEMM_TILED;
    for (int i = 0; i < ncand; i++) {
        clft_status st = time_path(ctx, s, &t, cands[i], &secs[i]);
        if (st != CLFT_OK) { /* a failing candidate is skipped, not fatal */
            clft_log(CLFT_LOG_WARN, "gemm autotune: %s path failed: %s", clft_gemm_path_name(cands[i]),
                     clft_last_error());
            clft_error_clear();
            continue;
        }
        if (secs[i] < best) {
            best = secs[i];
            *out = cands[i];
        }
    }
    char key[96], times[160] = "";
    shape_key(p, key, sizeof key);
    for (int i = 0, n = 0; i < ncand && n >= 0 && (size_t)n < sizeof times; i++)
        n += snprintf(times + n, sizeof times - (size_t)n, "%s %s %.3f ms", i ? "," : "", clft_gemm_path_name(cands[i]),
                      secs[i] * 1e3);
    clft_log(CLFT_LOG_INFO, "gemm autotune %s:%s -> %s", key, times, clft_gemm_path_name(*out));
    return CLFT_OK;
}

static clft_status choose_path(clft_context *ctx, gemm_state *s, const gemm_problem *p, clft_gemm_path *out) {
    if (s->forced != CLFT_GEMM_AUTO) {
        *out = s->forced;
        return CLFT_OK;
    }
    const char *env = clft_env(CLFT_ENV_GEMM);
    if (env && strcmp(env, "auto") != 0) {
        *out = path_from_name(env);
        if (*out == CLFT_GEMM_AUTO)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "CLFT_GEMM=%s: expected clblast, tiled, fused, hgemm, gemv or auto", env);
        return CLFT_OK;
    }
    if (!s->loaded) decisions_load(ctx, s);
    char key[96];
    shape_key(p, key, sizeof key);
    for (int i = 0; i < s->ndec; i++)
        if (!strcmp(s->dec[i].key, key)) {
            *out = s->dec[i].path;
            return CLFT_OK;
        }
    CLFT_CHECK(autotune(ctx, s, p, out));
    /* CLBlast's temporary buffer, sized by timing its candidate on a large product, is not kept
     * when CLBlast lost: the steady state of a run that never uses CLBlast does not hold it */
    if (*out != CLFT_GEMM_CLBLAST && *out != CLFT_GEMM_HGEMM && !s->keep_blas) {
        int used = 0;
        for (int i = 0; i < s->ndec && !used; i++)
            used = s->dec[i].path == CLFT_GEMM_CLBLAST || s->dec[i].path == CLFT_GEMM_HGEMM;
        if (!used) clft_buf_free(ctx, &s->blasTmp);
    }
    decision_add(s, key, *out);
    decisions_save(ctx, s);
    return CLFT_OK;
}

static clft_status gemm_run_path(clft_context *ctx, gemm_state *s, const gemm_problem *p, clft_gemm_path path) {
    /* profiling: the launches count under the weight's storage type ("act": a product of activations) */
    const char *tag = clft_cl_profile_set_tag(ctx, p->w ? clft_dtype_name(p->w->dtype) : "act");
    clft_status st = run_path(ctx, s, p, path);
    clft_cl_profile_set_tag(ctx, tag);
    if (st != CLFT_OK)
        return clft_error_prefix(st, "%s (M %lld N %lld K %lld batch %lld, %s path)", p->fn, (long long)p->M,
                                 (long long)p->N, (long long)p->K, (long long)p->batch, clft_gemm_path_name(path));
    if (s->last >= 0 && s->last < CLFT_GEMM_PATH_COUNT) s->counts[s->last]++;
    return CLFT_OK;
}

static clft_status gemm_run(clft_context *ctx, const gemm_problem *p) {
    if (p->M == 0 || p->N == 0 || p->batch == 0) return CLFT_OK;
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    clft_gemm_path path = CLFT_GEMM_TILED;
    CLFT_CHECK(choose_path(ctx, s, p, &path));
    return gemm_run_path(ctx, s, p, path);
}

/* ---- API ------------------------------------------------------------------------------------ */

clft_status clft_gemm_f32_batched(clft_context *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K,
                                  float alpha, clft_mat A, int64_t strideA, clft_mat B, int64_t strideB, float beta,
                                  clft_mat C, int64_t strideC, int64_t batch) {
    const char *fn = batch == 1 ? "clft_gemm_f32" : "clft_gemm_f32_batched";
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: NULL context", fn);
    CLFT_CHECK(check_dims(fn, M, N, K, batch));
    CLFT_CHECK(check_view(fn, transA ? "A (K,M)" : "A (M,K)", A.buf, A.offset, A.ld, transA ? K : M, transA ? M : K,
                          batch, strideA, 4));
    CLFT_CHECK(check_view(fn, transB ? "B (N,K)" : "B (K,N)", B.buf, B.offset, B.ld, transB ? N : K, transB ? K : N,
                          batch, strideB, 4));
    CLFT_CHECK(check_view(fn, "C (M,N)", C.buf, C.offset, C.ld, M, N, batch, strideC, 4));
    /* outputs must not overlap: consecutive matrices one after the other, or side by side within
     * each row (e.g. the heads of a (T, H*D) activation) */
    if (batch > 1 && M > 0 && N > 0 && strideC < (M - 1) * C.ld + N &&
        !(M == 1 ? strideC >= N : (strideC >= N && (batch - 1) * strideC + N <= C.ld)))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "%s: C batch stride %lld makes the (%lld,%lld) outputs with ld %lld overlap", fn,
                          (long long)strideC, (long long)M, (long long)N, (long long)C.ld);
    gemm_problem p = {fn, transA ? 1 : 0, transB ? 1 : 0, M,       N,    K, batch, alpha, beta, A, B,
                      C,  strideA,        strideB,        strideC, NULL, 0, 0};
    return gemm_run(ctx, &p);
}

clft_status clft_gemm_f32(clft_context *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                          clft_mat A, clft_mat B, float beta, clft_mat C) {
    return clft_gemm_f32_batched(ctx, transA, transB, M, N, K, alpha, A, 0, B, 0, beta, C, 0, 1);
}

static clft_status check_weight(const char *fn, const clft_weight *W) {
    if (!W) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: NULL weight", fn);
    if (W->rows < 0 || W->cols < 0 || W->rows > INT_MAX || W->cols > INT_MAX)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: weight shape (%lld,%lld) out of range", fn,
                          (long long)W->rows, (long long)W->cols);
    const size_t n = (size_t)W->rows * (size_t)W->cols;
    if (!W->data.mem) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: weight has no data buffer", fn);
    size_t need;
    switch (W->dtype) {
    case CLFT_DTYPE_F32: need = n * 4; break;
    case CLFT_DTYPE_F16:
    case CLFT_DTYPE_BF16: need = n * 2; break;
    case CLFT_DTYPE_NF4:
    case CLFT_DTYPE_FP4: {
        if (W->blocksize < 16 || (W->blocksize & (W->blocksize - 1)))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: 4-bit weight blocksize %d is not a power of two >= 16",
                              fn, W->blocksize);
        need = (n + 1) / 2;
        const size_t nblocks = (n + (size_t)W->blocksize - 1) / (size_t)W->blocksize;
        if (!W->code.mem || W->code.bytes < 16 * 4 || !W->absmax.mem ||
            W->absmax.bytes < nblocks * (W->double_quant ? 1 : 4))
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                              "%s: 4-bit weight (%lld,%lld): code (16 floats) or absmax (%zu blocks) buffer missing or "
                              "too small",
                              fn, (long long)W->rows, (long long)W->cols, nblocks);
        if (W->double_quant) {
            if (W->nested_blocksize < 1 || !W->nested_code.mem || W->nested_code.bytes < 256 * 4 ||
                !W->nested_absmax.mem ||
                W->nested_absmax.bytes < (nblocks + (size_t)W->nested_blocksize - 1) / (size_t)W->nested_blocksize * 4)
                return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                                  "%s: 4-bit weight (%lld,%lld): double-quantization buffers missing or too small", fn,
                                  (long long)W->rows, (long long)W->cols);
        }
        break;
    }
    case CLFT_DTYPE_Q8_0:
    case CLFT_DTYPE_Q4_0:
    case CLFT_DTYPE_Q4_1: {
        if (W->cols % 32)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "%s: %s weight (%lld,%lld): rows are not whole blocks of 32", fn,
                              clft_dtype_name(W->dtype), (long long)W->rows, (long long)W->cols);
        size_t ns;
        clft_weight_ggml_bytes(W->dtype, W->rows, W->cols, &need, &ns);
        if (!W->absmax.mem || W->absmax.bytes < ns)
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                              "%s: %s weight (%lld,%lld): scale buffer missing or below %zu "
                              "bytes",
                              fn, clft_dtype_name(W->dtype), (long long)W->rows, (long long)W->cols, ns);
        break;
    }
    default:
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: weight dtype %s is not supported", fn,
                          clft_dtype_name(W->dtype));
    }
    if (W->data.bytes < need)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: weight (%lld,%lld) %s needs %zu bytes; its buffer has %zu",
                          fn, (long long)W->rows, (long long)W->cols, clft_dtype_name(W->dtype), need, W->data.bytes);
    return CLFT_OK;
}

clft_status clft_linear_fwd(clft_context *ctx, clft_mat Y, clft_mat X, const clft_weight *W, int64_t M, float beta) {
    const char *fn = "clft_linear_fwd";
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: NULL context", fn);
    CLFT_CHECK(check_weight(fn, W));
    const int64_t N = W->rows, K = W->cols;
    CLFT_CHECK(check_dims(fn, M, N, K, 1));
    CLFT_CHECK(check_view(fn, "X (M,K)", X.buf, X.offset, X.ld, M, K, 1, 0, 4));
    CLFT_CHECK(check_view(fn, "Y (M,N)", Y.buf, Y.offset, Y.ld, M, N, 1, 0, 4));
    gemm_problem p = {fn, 0, 1, M, N, K, 1, 1.0f, beta, X, {0}, Y, 0, 0, 0, W, 1, 0};
    return gemm_run(ctx, &p);
}

clft_status clft_linear_fwd_multi(clft_context *ctx, int n, const clft_mat *Y, const clft_mat *X,
                                  const clft_weight *const *W, int64_t M, float alpha, float beta) {
    const char *fn = "clft_linear_fwd"; /* the products' own name: their decisions are the one-weight calls' */
    if (!ctx || !Y || !X || !W) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_linear_fwd_multi: NULL argument");
    if (n < 1 || n > CLFT_LINEAR_MULTI_MAX)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_linear_fwd_multi: %d weights (1..%d)", n,
                          CLFT_LINEAR_MULTI_MAX);
    gemm_problem p[CLFT_LINEAR_MULTI_MAX];
    int one_x = 1; /* every X a view of the same buffer with the same leading dimension */
    for (int j = 0; j < n; j++) {
        CLFT_CHECK(check_weight(fn, W[j]));
        const int64_t N = W[j]->rows, K = W[j]->cols;
        if (K != W[0]->cols)
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                              "clft_linear_fwd_multi: weight %d has %lld columns, weight 0 %lld", j, (long long)K,
                              (long long)W[0]->cols);
        CLFT_CHECK(check_dims(fn, M, N, K, 1));
        CLFT_CHECK(check_view(fn, "X (M,K)", X[j].buf, X[j].offset, X[j].ld, M, K, 1, 0, 4));
        CLFT_CHECK(check_view(fn, "Y (M,N)", Y[j].buf, Y[j].offset, Y[j].ld, M, N, 1, 0, 4));
        p[j] = (gemm_problem){fn, 0, 1, M, N, K, 1, alpha, beta, X[j], {0}, Y[j], 0, 0, 0, W[j], 1, 0};
        one_x = one_x && X[j].buf->mem == X[0].buf->mem && X[j].ld == X[0].ld;
    }
    if (M == 0) return CLFT_OK;
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    /* one launch where every product alone would take the GEMV path of a CPU design (work-item or
     * subgroup kernels) and the weights share a storage type; otherwise one product after the other */
    clft_gemm_path path[CLFT_LINEAR_MULTI_MAX];
    int fuse = n > 1 && one_x && s->gemv.variant != 2;
    for (int j = 0; j < n; j++) {
        CLFT_CHECK(choose_path(ctx, s, &p[j], &path[j]));
        fuse = fuse && path[j] == CLFT_GEMM_GEMV && gemv_applies(&p[j]) && p[j].N > 0 && W[j]->dtype == W[0]->dtype &&
               W[j]->double_quant == W[0]->double_quant;
    }
    if (!fuse) {
        for (int j = 0; j < n; j++)
            if (p[j].N > 0) CLFT_CHECK(gemm_run_path(ctx, s, &p[j], path[j]));
        return CLFT_OK;
    }
    clft_status st = run_gemv_multi(ctx, s, p, n);
    if (st != CLFT_OK)
        return clft_error_prefix(st, "clft_linear_fwd_multi (%d weights, M %lld K %lld, gemv path)", n, (long long)M,
                                 (long long)p[0].K);
    s->counts[CLFT_GEMM_GEMV] += n;
    return CLFT_OK;
}

clft_status clft_linear_bwd_data(clft_context *ctx, clft_mat dX, clft_mat dY, const clft_weight *W, int64_t M,
                                 float beta) {
    const char *fn = "clft_linear_bwd_data";
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: NULL context", fn);
    CLFT_CHECK(check_weight(fn, W));
    const int64_t N = W->rows, K = W->cols;
    CLFT_CHECK(check_dims(fn, M, N, K, 1));
    CLFT_CHECK(check_view(fn, "dY (M,N)", dY.buf, dY.offset, dY.ld, M, N, 1, 0, 4));
    CLFT_CHECK(check_view(fn, "dX (M,K)", dX.buf, dX.offset, dX.ld, M, K, 1, 0, 4));
    /* GEMM (M,K) = dY (M,N) * W (N,K): inner dimension N */
    gemm_problem p = {fn, 0, 0, M, K, N, 1, 1.0f, beta, dY, {0}, dX, 0, 0, 0, W, 0, 0};
    return gemm_run(ctx, &p);
}

clft_status clft_linear_bwd_weight(clft_context *ctx, clft_mat dW, clft_mat dY, clft_mat X, int64_t M, int64_t N,
                                   int64_t K) {
    const char *fn = "clft_linear_bwd_weight";
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: NULL context", fn);
    CLFT_CHECK(check_dims(fn, M, N, K, 1));
    CLFT_CHECK(check_view(fn, "dY (M,N)", dY.buf, dY.offset, dY.ld, M, N, 1, 0, 4));
    CLFT_CHECK(check_view(fn, "X (M,K)", X.buf, X.offset, X.ld, M, K, 1, 0, 4));
    CLFT_CHECK(check_view(fn, "dW (N,K)", dW.buf, dW.offset, dW.ld, N, K, 1, 0, 4));
    /* GEMM (N,K) = dY^T (N,M) * X (M,K) + dW: inner dimension M */
    gemm_problem p = {fn, 1, 0, N, K, M, 1, 1.0f, 1.0f, dY, X, dW, 0, 0, 0, NULL, 0, 0};
    return gemm_run(ctx, &p);
}

/* ---- self-check ----------------------------------------------------------------------------- */

typedef struct sc_ctx {
    clft_context *ctx;
    clft_selfcheck_result *r;
    uint32_t rng;
} sc_ctx;

static float sc_rand(sc_ctx *c) {
    c->rng = c->rng * 1664525u + 1013904223u;
    return (float)(c->rng >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

/* Upload n floats of host data (or n random ones into host when fill) to a new scratch buffer. */
static clft_status sc_upload(sc_ctx *c, float *host, size_t n, int fill, clft_buf *out) {
    if (fill)
        for (size_t i = 0; i < n; i++)
            host[i] = sc_rand(c);
    CLFT_CHECK(clft_buf_alloc(c->ctx, CLFT_MEM_SCRATCH, n * 4, out));
    return clft_buf_write(c->ctx, out, 0, host, n * 4);
}

/* One linear forward (weight dtype dt, path) or plain GEMM (dt < 0, transposes ta/tb) of a small
 * ragged shape against clft_ref_gemm_f32. */
static clft_status sc_one(sc_ctx *c, clft_gemm_path path, int dt, int ta, int tb, int64_t M, int64_t N, int64_t K) {
    clft_context *ctx = c->ctx;
    const size_t nA = (size_t)(M * K), nB = (size_t)(N * K), nC = (size_t)(M * N);
    float *hA = clft_malloc(nA * 4 + 4), *hB = clft_malloc(nB * 4 + 4), *hC = clft_malloc(nC * 4 + 4),
          *got = clft_malloc(nC * 4 + 4);
    uint16_t *h16 = clft_malloc(nB * 2 + 2);
    uint8_t *q = clft_malloc(nB / 2 + 2);
    clft_buf A = {0}, B = {0}, C = {0}, code = {0}, absmax = {0};
    clft_weight w;
    memset(&w, 0, sizeof w);
    clft_status st = (hA && hB && hC && got && h16 && q) ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    if (st == CLFT_OK) st = sc_upload(c, hA, nA, 1, &A);
    if (st == CLFT_OK) st = sc_upload(c, hC, nC, 1, &C);
    if (st == CLFT_OK) {
        for (size_t i = 0; i < nB; i++)
            hB[i] = sc_rand(c);
        w.dtype = dt < 0 ? CLFT_DTYPE_F32 : (clft_dtype)dt;
        w.rows = N;
        w.cols = K;
        if (dt == CLFT_DTYPE_F16 || dt == CLFT_DTYPE_BF16) {
            for (size_t i = 0; i < nB; i++) {
                h16[i] = dt == CLFT_DTYPE_F16 ? clft_ref_f32_to_f16(hB[i]) : clft_ref_f32_to_bf16(hB[i]);
                hB[i] = dt == CLFT_DTYPE_F16 ? clft_ref_f16_to_f32(h16[i]) : clft_ref_bf16_to_f32(h16[i]);
            }
            st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, nB * 2, &B);
            if (st == CLFT_OK) st = clft_buf_write(ctx, &B, 0, h16, nB * 2);
        } else if (dt == CLFT_DTYPE_NF4) {
            /* random codes on a uniform 16-entry table, one absmax per 16-element block */
            float tab[16], am[64];
            for (int i = 0; i < 16; i++)
                tab[i] = -1.0f + (float)i * (2.0f / 15.0f);
            const size_t nb = (nB + 15) / 16;
            for (size_t b = 0; b < nb && b < 64; b++)
                am[b] = 0.5f + 0.5f * fabsf(sc_rand(c));
            memset(q, 0, nB / 2 + 2);
            for (size_t e = 0; e < nB; e++) {
                unsigned v = (c->rng = c->rng * 1664525u + 1013904223u) >> 28;
                q[e / 2] |= (uint8_t)((e & 1) ? v : v << 4);
                hB[e] = tab[v] * am[e / 16];
            }
            w.blocksize = 16;
            st = nb <= 64 ? CLFT_OK : clft_error(CLFT_STATUS_INVALID_ARGUMENT, "gemm self-check: shape too big");
            if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (nB + 1) / 2, &B);
            if (st == CLFT_OK) st = clft_buf_write(ctx, &B, 0, q, (nB + 1) / 2);
            if (st == CLFT_OK) st = sc_upload(c, tab, 16, 0, &code);
            if (st == CLFT_OK) st = sc_upload(c, am, nb, 0, &absmax);
        } else {
            st = sc_upload(c, hB, nB, 0, &B);
        }
    }
    w.data = B;
    w.code = code;
    w.absmax = absmax;
    if (st == CLFT_OK) {
        if (dt < 0) { /* plain GEMM: B holds op(B) as (K,N), or (N,K) when tb */
            clft_ref_gemm_f32(ta, tb, M, N, K, 0.75f, hA, ta ? M : K, hB, tb ? K : N, 0.5f, hC, N);
            st = clft_gemm_set_path(ctx, path);
            if (st == CLFT_OK)
                st = clft_gemm_f32(ctx, ta, tb, M, N, K, 0.75f, (clft_mat){&A, 0, ta ? M : K},
                                   (clft_mat){&B, 0, tb ? K : N}, 0.5f, (clft_mat){&C, 0, N});
        } else {
            clft_ref_gemm_f32(0, 1, M, N, K, 1.0f, hA, K, hB, K, 0.0f, hC, N);
            st = clft_gemm_set_path(ctx, path);
            if (st == CLFT_OK) st = clft_linear_fwd(ctx, (clft_mat){&C, 0, N}, (clft_mat){&A, 0, K}, &w, M, 0.0f);
        }
    }
    if (st == CLFT_OK) st = clft_buf_read(ctx, &C, 0, got, nC * 4);
    if (st == CLFT_OK && clft_gemm_last_path(ctx) != path) { /* a forced path must be the one that ran */
        clft_log(CLFT_LOG_ERROR, "gemm self-check: the forced %s path ran %s", clft_gemm_path_name(path),
                 clft_gemm_path_name(clft_gemm_last_path(ctx)));
        c->r->failures++;
    }
    if (st == CLFT_OK) {
        char what[128];
        snprintf(what, sizeof what, "gemm self-check %s %s t%d%d M%lld N%lld K%lld", clft_gemm_path_name(path),
                 dt < 0 ? "f32" : clft_dtype_name((clft_dtype)dt), ta, tb, (long long)M, (long long)N, (long long)K);
        c->r->checks++;
        /* HGEMM: X rounded to f16, fp16 accumulation over K = 64 and an f16 result */
        const float atol = path == CLFT_GEMM_HGEMM ? 0.05f : 1e-4f, rtol = path == CLFT_GEMM_HGEMM ? 0.01f : 1e-4f;
        if (clft_compare_f32(what, got, hC, nC, atol, rtol, NULL)) c->r->failures++;
    }
    clft_buf_free(ctx, &A), clft_buf_free(ctx, &B), clft_buf_free(ctx, &C);
    clft_buf_free(ctx, &code), clft_buf_free(ctx, &absmax);
    free(hA), free(hB), free(hC), free(got), free(h16), free(q);
    return st;
}

/* Appends a path's name to r->gemm_paths once its checks ran. */
static void sc_ran(clft_selfcheck_result *r, clft_gemm_path path) {
    const size_t n = strlen(r->gemm_paths);
    snprintf(r->gemm_paths + n, sizeof r->gemm_paths - n, "%s%s", n ? " " : "", clft_gemm_path_name(path));
}

clft_status clft_selfcheck_gemm(clft_context *ctx, clft_selfcheck_result *r) {
    gemm_state *s = state_get(ctx);
    if (!s) return CLFT_STATUS_HOST_OOM;
    const clft_gemm_path saved = s->forced;
    sc_ctx c = {ctx, r, 0x2545f491u};
    clft_status st = CLFT_OK;
    r->gemm_paths[0] = '\0';
    static const clft_gemm_path paths[] = {CLFT_GEMM_TILED, CLFT_GEMM_CLBLAST};
    for (int pi = 0; st == CLFT_OK && pi < 2; pi++) {
        for (int t = 0; st == CLFT_OK && t < 4; t++)
            st = sc_one(&c, paths[pi], -1, t >> 1, t & 1, 17, 33, 19);
        for (int dt = CLFT_DTYPE_F32; st == CLFT_OK && dt <= CLFT_DTYPE_NF4; dt++)
            st = sc_one(&c, paths[pi], dt, 0, 1, 5, 7, 64);
        if (st == CLFT_OK) sc_ran(r, paths[pi]);
    }
    if (st == CLFT_OK) st = sc_one(&c, CLFT_GEMM_FUSED, CLFT_DTYPE_NF4, 0, 1, 3, 9, 48);
    if (st == CLFT_OK) sc_ran(r, CLFT_GEMM_FUSED);
    /* GEMV: A * B^T (alpha, beta), every weight dtype, an NF4 weight with rows starting mid-block
     * and mid-byte (K = 19) */
    if (st == CLFT_OK) st = sc_one(&c, CLFT_GEMM_GEMV, -1, 0, 1, 3, 33, 19);
    for (int dt = CLFT_DTYPE_F32; st == CLFT_OK && dt <= CLFT_DTYPE_NF4; dt++)
        st = sc_one(&c, CLFT_GEMM_GEMV, dt, 0, 1, 5, 7, 64);
    if (st == CLFT_OK) st = sc_one(&c, CLFT_GEMM_GEMV, CLFT_DTYPE_NF4, 0, 1, 1, 9, 19);
    if (st == CLFT_OK) sc_ran(r, CLFT_GEMM_GEMV);
    /* fp16 arithmetic: HGEMM wherever it runs, accurate or not (it then runs only when forced,
     * which is not worth the warning here) */
    r->fp16 = ctx->caps.info.fp16;
    r->hgemm = clft_gemm_hgemm_probe(ctx, &r->hgemm_nmse);
    const int warned = s->hgemm_warned;
    s->hgemm_warned = 1;
    if (st == CLFT_OK && r->hgemm >= 0) {
        st = sc_one(&c, CLFT_GEMM_HGEMM, CLFT_DTYPE_F16, 0, 1, 5, 7, 64);
        if (st == CLFT_OK) sc_ran(r, CLFT_GEMM_HGEMM);
    }
    s->hgemm_warned = warned;
    s->forced = saved;
    return st;
}
