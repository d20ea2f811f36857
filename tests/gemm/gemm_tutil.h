/* gemm_tutil.h - helpers shared by the GEMM tests (test_gemm.c, test_gemm_gemv.c): device upload and
 * download, and weight matrices of every storage dtype built on the host (this folder's own copy of
 * the layout in src/ops/weight.h) together with the f32 values the kernels must see. */
#ifndef CLFT_TESTS_GEMM_TUTIL_H
#define CLFT_TESTS_GEMM_TUTIL_H

#include "tutil.h"

#include "ops/gemm.h"
#include "ref/ref.h"

static inline clft_buf gt_upload(clft_context *ctx, const void *host, size_t bytes) {
    clft_buf b = {0};
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes ? bytes : 4, &b));
    if (bytes) TU_OK(clft_buf_write(ctx, &b, 0, host, bytes));
    return b;
}
static inline void gt_download(clft_context *ctx, const clft_buf *b, float *host, size_t n) {
    TU_OK(clft_buf_read(ctx, b, 0, host, n * 4));
}

typedef struct host_weight {
    clft_weight w;
    float *deq; /* (rows, cols) f32: what the kernels must see */
} host_weight;

/* A (rows, cols) weight of dtype dt with random values in [-1,1] (16-bit: rounded, deq holds the
 * rounded values). 4-bit: random codes and scales on a sorted random code table (not NF4 itself),
 * blocks of bs elements over the flattened weight as in bitsandbytes (with cols not a multiple of bs
 * they start mid-row), double quantized (dq) with nested blocks of 4. */
static inline host_weight gt_make_weight(clft_context *ctx, clft_dtype dt, int64_t rows, int64_t cols, int dq, int bs,
                                         tu_rng *r) {
    host_weight h;
    memset(&h, 0, sizeof h);
    const size_t n = (size_t)rows * (size_t)cols;
    h.deq = malloc((n ? n : 1) * 4);
    h.w.dtype = dt;
    h.w.rows = rows;
    h.w.cols = cols;
    if (dt == CLFT_DTYPE_F32 || dt == CLFT_DTYPE_F16 || dt == CLFT_DTYPE_BF16) {
        uint16_t *u16 = malloc((n ? n : 1) * 2);
        for (size_t i = 0; i < n; i++) {
            float v = tu_uniform(r, -1.0f, 1.0f);
            if (dt == CLFT_DTYPE_F16) u16[i] = clft_ref_f32_to_f16(v), v = clft_ref_f16_to_f32(u16[i]);
            if (dt == CLFT_DTYPE_BF16) u16[i] = clft_ref_f32_to_bf16(v), v = clft_ref_bf16_to_f32(u16[i]);
            h.deq[i] = v;
        }
        h.w.data = dt == CLFT_DTYPE_F32 ? gt_upload(ctx, h.deq, n * 4) : gt_upload(ctx, u16, n * 2);
        free(u16);
        return h;
    }
    const int nbs = 4;
    const size_t nblocks = (n + bs - 1) / bs, nnested = (nblocks + nbs - 1) / nbs;
    uint8_t *packed = calloc((n + 1) / 2 + 1, 1), *q = malloc(nblocks + 1);
    float code[16], *absmax = malloc((nblocks + 1) * 4), ncode[256], *nabs = malloc((nnested + 1) * 4);
    for (int i = 0; i < 16; i++)
        code[i] = -1.0f + (float)i * (2.0f / 15.0f) + tu_uniform(r, -0.03f, 0.03f);
    for (int i = 0; i < 256; i++)
        ncode[i] = tu_uniform(r, -1.0f, 1.0f);
    for (size_t i = 0; i < nnested; i++)
        nabs[i] = tu_uniform(r, 0.1f, 0.5f);
    const float noff = 0.6f;
    for (size_t b = 0; b < nblocks; b++) {
        q[b] = (uint8_t)(tu_next(r) & 255);
        absmax[b] = dq ? ncode[q[b]] * nabs[b / nbs] + noff : tu_uniform(r, 0.2f, 1.5f);
    }
    for (size_t e = 0; e < n; e++) {
        unsigned c = (unsigned)(tu_next(r) & 15);
        packed[e / 2] |= (uint8_t)((e & 1) ? c : c << 4);
        h.deq[e] = code[c] * absmax[e / bs];
    }
    h.w.data = gt_upload(ctx, packed, (n + 1) / 2);
    h.w.blocksize = bs;
    h.w.double_quant = dq;
    h.w.code = gt_upload(ctx, code, sizeof code);
    if (dq) {
        h.w.absmax = gt_upload(ctx, q, nblocks);
        h.w.nested_absmax = gt_upload(ctx, nabs, nnested * 4);
        h.w.nested_code = gt_upload(ctx, ncode, sizeof ncode);
        h.w.nested_blocksize = nbs;
        h.w.nested_offset = noff;
    } else {
        h.w.absmax = gt_upload(ctx, absmax, nblocks * 4);
    }
    free(packed), free(q), free(absmax), free(nabs);
    return h;
}
static inline void gt_free_weight(clft_context *ctx, host_weight *h) {
    clft_buf_free(ctx, &h->w.data);
    clft_buf_free(ctx, &h->w.code);
    clft_buf_free(ctx, &h->w.absmax);
    clft_buf_free(ctx, &h->w.nested_absmax);
    clft_buf_free(ctx, &h->w.nested_code);
    free(h->deq);
}

/* CLFT_TEST_VERBOSE: name each check before it runs (to place Oclgrind reports) */
static inline void gt_trace(const char *what) {
    if (getenv("CLFT_TEST_VERBOSE")) fprintf(stderr, "check: %s\n", what);
}

/* One (batched) clft_gemm_f32 call with `path` forced (AUTO: the measured choice) vs the reference,
 * with offsets, padded leading dimensions (pad > 0: ld past the columns) and batch strides; a forced
 * call with M, N, K > 0 must have run `ran`. `tag` starts the check's name. */
static inline void gt_check_gemm(clft_context *ctx, const char *tag, clft_gemm_path path, clft_gemm_path ran, int ta,
                                 int tb, int64_t M, int64_t N, int64_t K, int64_t batch, float alpha, float beta,
                                 int pad, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const int64_t lda = ac + pad, ldb = bc + 2 * pad, ldc = N + pad;
    const size_t offA = (size_t)pad * 3, offB = (size_t)pad * 5, offC = (size_t)pad * 7;
    const int64_t sA = ar * lda + pad, sB = br * ldb, sC = M * ldc + 2 * pad;
    const size_t nA = offA + (size_t)(sA * batch), nB = offB + (size_t)(sB * batch), nC = offC + (size_t)(sC * batch);
    float *hA = malloc(nA * 4 + 4), *hB = malloc(nB * 4 + 4), *hC = malloc(nC * 4 + 4), *ref = malloc(nC * 4 + 4),
          *got = malloc(nC * 4 + 4);
    tu_fill(&r, hA, nA, -1, 1);
    tu_fill(&r, hB, nB, -1, 1);
    tu_fill(&r, hC, nC, -1, 1);
    memcpy(ref, hC, nC * 4);
    for (int64_t b = 0; b < batch; b++)
        clft_ref_gemm_f32(ta, tb, M, N, K, alpha, hA + offA + b * sA, lda, hB + offB + b * sB, ldb, beta,
                          ref + offC + b * sC, ldc);
    clft_buf A = gt_upload(ctx, hA, nA * 4), B = gt_upload(ctx, hB, nB * 4), C = gt_upload(ctx, hC, nC * 4);
    clft_mat mA = {&A, offA, lda}, mB = {&B, offB, ldb}, mC = {&C, offC, ldc};
    char what[160];
    snprintf(what, sizeof what, "%s gemm t%d%d M%lld N%lld K%lld b%lld a%g b%g pad%d", tag, ta, tb, (long long)M,
             (long long)N, (long long)K, (long long)batch, alpha, beta, pad);
    gt_trace(what);
    TU_OK(clft_gemm_set_path(ctx, path));
    clft_status st = batch == 1
                         ? clft_gemm_f32(ctx, ta, tb, M, N, K, alpha, mA, mB, beta, mC)
                         : clft_gemm_f32_batched(ctx, ta, tb, M, N, K, alpha, mA, sA, mB, sB, beta, mC, sC, batch);
    TU_CHECK(st == CLFT_OK, "gemm %s: %s", clft_status_string(st), clft_last_error());
    if (path != CLFT_GEMM_AUTO && M && N && K)
        TU_CHECK(clft_gemm_last_path(ctx) == ran, "%s: forced %s, ran %s", what, clft_gemm_path_name(path),
                 clft_gemm_path_name(clft_gemm_last_path(ctx)));
    gt_download(ctx, &C, got, nC);
    /* the whole buffer: also proves nothing outside the (M,N) views was written */
    tu_close(what, got, ref, nC, 1e-5 + 1e-6 * (double)K, 1e-4, 1e-9);
    clft_buf_free(ctx, &A), clft_buf_free(ctx, &B), clft_buf_free(ctx, &C);
    free(hA), free(hB), free(hC), free(ref), free(got);
}

#endif
