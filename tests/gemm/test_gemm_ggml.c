/* test_gemm_ggml.c - native storage of GGUF blocks (Q8_0, Q4_0, Q4_1; src/ops/weight.h) against the
 * plain-C twins: the weights are random f32 quantized by src/quant/ggml_blocks.c (ggml's reference
 * quantizers), their reference values that file's dequantizer, and the products src/ref's GEMM on
 * them. Checked:
 *   - dequantization on the device (cl/ggml_blocks.cl) to f32 bit for bit, to f16 / bf16 after the
 *     same rounding; clft_weight_to_f32;
 *   - the linear forward Y = X * W^T + beta*Y on every path forced (tiled pack, fused, GEMV in the
 *     work-item and work-group designs, CLBlast on the f32 copy) and the measured choice, ragged
 *     shapes M in {1,3,17,70}, N in {1,31,257}, K in {32,96,800}, offsets and leading dimensions;
 *   - the backward-data product dX = dY * W + beta*dX (LoRA training through the frozen base) on the
 *     tiled and CLBlast paths, and against central differences of the device forward;
 *   - several weights in one GEMV launch (clft_linear_fwd_multi) equal to one call per weight;
 *   - bad inputs: rows that are not whole blocks, a wrong byte count, a non-block dtype.
 * Tiny shapes and tiles under Oclgrind (CLFT_TEST_TINY). */
#include "gemm_tutil.h"
#include "quant/ggml_blocks.h"

static clft_context *ctx;
static const clft_dtype TYPES[3] = {CLFT_DTYPE_Q8_0, CLFT_DTYPE_Q4_0, CLFT_DTYPE_Q4_1};

/* A zeroed device buffer */
static clft_buf zbuf(size_t bytes) {
    clft_buf b = {0};
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &b));
    TU_OK(clft_buf_fill_zero(ctx, &b));
    return b;
}

/* A (rows, cols) native weight of random values (a spread of row scales) and its f32 values. */
static host_weight make_gg(clft_dtype dt, int64_t rows, int64_t cols, tu_rng *r) {
    host_weight h;
    memset(&h, 0, sizeof h);
    const size_t n = (size_t)rows * (size_t)cols;
    float *x = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = tu_uniform(r, -1.0f, 1.0f) * (0.05f + (float)(i / (size_t)cols % 7));
    const int gt = clft_dtype_ggml_type(dt);
    const size_t bytes = clft_ggml_row_bytes(gt, (int64_t)n);
    void *blocks = malloc(bytes);
    h.deq = malloc(n * 4);
    TU_OK(clft_ggml_quantize(gt, x, (int64_t)n, blocks));
    TU_OK(clft_ggml_dequantize(gt, blocks, (int64_t)n, h.deq));
    TU_OK(clft_weight_upload_blocks(ctx, CLFT_MEM_SCRATCH, dt, rows, cols, blocks, bytes, &h.w));
    free(x), free(blocks);
    return h;
}

static void check_dequant(clft_dtype dt, int64_t rows, int64_t cols, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    host_weight hw = make_gg(dt, rows, cols, &r);
    const size_t n = (size_t)(rows * cols);
    float *got = malloc(n * 4), *ref = malloc(n * 4);
    uint16_t *h = malloc(n * 2);
    clft_buf out = zbuf(n * 4);
    char what[96];
    for (int o = 0; o < 3; o++) {
        const clft_dtype od = o == 0 ? CLFT_DTYPE_F32 : o == 1 ? CLFT_DTYPE_F16 : CLFT_DTYPE_BF16;
        snprintf(what, sizeof what, "dequant %s -> %s (%lld, %lld)", clft_dtype_name(dt), clft_dtype_name(od),
                 (long long)rows, (long long)cols);
        gt_trace(what);
        TU_OK(clft_weight_dequant(ctx, &hw.w, od, &out));
        if (od == CLFT_DTYPE_F32) {
            gt_download(ctx, &out, got, n);
            memcpy(ref, hw.deq, n * 4);
        } else {
            TU_OK(clft_buf_read(ctx, &out, 0, h, n * 2));
            for (size_t i = 0; i < n; i++) {
                got[i] = od == CLFT_DTYPE_F16 ? clft_ref_f16_to_f32(h[i]) : clft_ref_bf16_to_f32(h[i]);
                ref[i] = od == CLFT_DTYPE_F16 ? clft_ref_f16_to_f32(clft_ref_f32_to_f16(hw.deq[i]))
                                              : clft_ref_bf16_to_f32(clft_ref_f32_to_bf16(hw.deq[i]));
            }
        }
        tu_close(what, got, ref, n, 0, 0, 0);
    }
    TU_OK(clft_weight_to_f32(ctx, &hw.w, &out));
    gt_download(ctx, &out, got, n);
    tu_close("clft_weight_to_f32", got, hw.deq, n, 0, 0, 0);
    clft_buf_free(ctx, &out);
    free(got), free(ref), free(h);
    gt_free_weight(ctx, &hw);
}

/* Y (M,N) = X * W^T + beta*Y with `path` forced (AUTO: measured), X and Y views with offsets and
 * padded leading dimensions; `ran`: the path that must run (AUTO: any). */
static void check_fwd(clft_gemm_path path, clft_gemm_path ran, clft_dtype dt, int64_t M, int64_t N, int64_t K,
                      float beta, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    host_weight hw = make_gg(dt, N, K, &r);
    const int pad = (int)(salt % 3);
    const int64_t ldx = K + pad, ldy = N + 2 * pad;
    const size_t offX = (size_t)pad * 3, offY = (size_t)pad * 5;
    const size_t nX = offX + (size_t)(M * ldx), nY = offY + (size_t)(M * ldy);
    float *hX = malloc(nX * 4), *hY = malloc(nY * 4), *ref = malloc(nY * 4), *got = malloc(nY * 4);
    tu_fill(&r, hX, nX, -1, 1);
    tu_fill(&r, hY, nY, -1, 1);
    memcpy(ref, hY, nY * 4);
    clft_ref_gemm_f32(0, 1, M, N, K, 1.0f, hX + offX, ldx, hw.deq, K, beta, ref + offY, ldy);
    clft_buf X = gt_upload(ctx, hX, nX * 4), Y = gt_upload(ctx, hY, nY * 4);
    char what[160];
    snprintf(what, sizeof what, "linear_fwd %s %s M%lld N%lld K%lld beta%g pad%d", clft_gemm_path_name(path),
             clft_dtype_name(dt), (long long)M, (long long)N, (long long)K, beta, pad);
    gt_trace(what);
    TU_OK(clft_gemm_set_path(ctx, path));
    clft_status st = clft_linear_fwd(ctx, (clft_mat){&Y, offY, ldy}, (clft_mat){&X, offX, ldx}, &hw.w, M, beta);
    TU_CHECK(st == CLFT_OK, "%s: %s: %s", what, clft_status_string(st), clft_last_error());
    if (ran != CLFT_GEMM_AUTO)
        TU_CHECK(clft_gemm_last_path(ctx) == ran, "%s: ran %s", what, clft_gemm_path_name(clft_gemm_last_path(ctx)));
    gt_download(ctx, &Y, got, nY);
    tu_close(what, got, ref, nY, 1e-5 + 2e-6 * (double)K, 1e-4, 1e-9);
    clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
    free(hX), free(hY), free(ref), free(got);
    gt_free_weight(ctx, &hw);
}

/* dX (M,K) = dY (M,N) * W + beta*dX, and (tiled path) central differences of the device forward:
 * for f = sum(G .* (X W^T)), df/dX = G W. */
static void check_bwd(clft_gemm_path path, clft_dtype dt, int64_t M, int64_t N, int64_t K, float beta, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    host_weight hw = make_gg(dt, N, K, &r);
    const size_t nG = (size_t)(M * N), nX = (size_t)(M * K);
    float *hG = malloc(nG * 4), *hdX = malloc(nX * 4), *ref = malloc(nX * 4), *got = malloc(nX * 4);
    tu_fill(&r, hG, nG, -1, 1);
    tu_fill(&r, hdX, nX, -1, 1);
    memcpy(ref, hdX, nX * 4);
    clft_ref_gemm_f32(0, 0, M, K, N, 1.0f, hG, N, hw.deq, K, beta, ref, K);
    clft_buf G = gt_upload(ctx, hG, nG * 4), dX = gt_upload(ctx, hdX, nX * 4);
    char what[160];
    snprintf(what, sizeof what, "linear_bwd_data %s %s M%lld N%lld K%lld beta%g", clft_gemm_path_name(path),
             clft_dtype_name(dt), (long long)M, (long long)N, (long long)K, beta);
    gt_trace(what);
    TU_OK(clft_gemm_set_path(ctx, path));
    TU_OK(clft_linear_bwd_data(ctx, (clft_mat){&dX, 0, K}, (clft_mat){&G, 0, N}, &hw.w, M, beta));
    gt_download(ctx, &dX, got, nX);
    tu_close(what, got, ref, nX, 1e-5 + 2e-6 * (double)N, 1e-4, 1e-9);
    if (path == CLFT_GEMM_TILED && beta == 0.0f) {
        /* central differences of the forward on a few elements of X (f is linear in X: h = 1/8 is
         * exact up to the rounding of the sums) */
        float *hX = malloc(nX * 4), *hY = malloc(nG * 4);
        tu_fill(&r, hX, nX, -1, 1);
        clft_buf X = gt_upload(ctx, hX, nX * 4), Y = zbuf(nG * 4);
        for (int t = 0; t < 4; t++) {
            const size_t e = (size_t)(tu_next(&r) % nX);
            double f[2];
            for (int s = 0; s < 2; s++) {
                const float x0 = hX[e];
                hX[e] = x0 + (s ? -0.125f : 0.125f);
                TU_OK(clft_buf_write(ctx, &X, 0, hX, nX * 4));
                hX[e] = x0;
                TU_OK(clft_linear_fwd(ctx, (clft_mat){&Y, 0, N}, (clft_mat){&X, 0, K}, &hw.w, M, 0.0f));
                gt_download(ctx, &Y, hY, nG);
                f[s] = 0;
                for (size_t i = 0; i < nG; i++)
                    f[s] += (double)hG[i] * hY[i];
            }
            const double fd = (f[0] - f[1]) / 0.25;
            TU_CHECK(fabs(fd - got[e]) <= 1e-3 * (1.0 + fabs(fd)), "%s: finite difference at %zu: %.6g vs dX %.6g",
                     what, e, fd, (double)got[e]);
        }
        clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
        free(hX), free(hY);
    }
    clft_buf_free(ctx, &G), clft_buf_free(ctx, &dX);
    free(hG), free(hdX), free(ref), free(got);
    gt_free_weight(ctx, &hw);
}

/* 2 or 3 weights of one type in one call: the bits of one call per weight. */
static void check_multi(clft_dtype dt, int n, int64_t M, int64_t K, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    const int64_t Ns[3] = {31, 5, 17};
    host_weight hw[3];
    const clft_weight *W[3];
    clft_buf Ya[3], Yb[3];
    clft_mat ma[3], mb[3], mx[3];
    const size_t nX = (size_t)(M * K);
    float *hX = malloc(nX * 4);
    tu_fill(&r, hX, nX, -1, 1);
    clft_buf X = gt_upload(ctx, hX, nX * 4);
    TU_OK(clft_gemm_set_path(ctx, CLFT_GEMM_GEMV));
    for (int j = 0; j < n; j++) {
        hw[j] = make_gg(dt, Ns[j], K, &r);
        W[j] = &hw[j].w;
        Ya[j] = zbuf((size_t)(M * Ns[j]) * 4);
        Yb[j] = zbuf((size_t)(M * Ns[j]) * 4);
        ma[j] = (clft_mat){&Ya[j], 0, Ns[j]};
        mb[j] = (clft_mat){&Yb[j], 0, Ns[j]};
        mx[j] = (clft_mat){&X, 0, K};
        TU_OK(clft_linear_fwd(ctx, mb[j], mx[j], W[j], M, 0.0f));
    }
    TU_OK(clft_linear_fwd_multi(ctx, n, ma, mx, W, M, 1.0f, 0.0f));
    for (int j = 0; j < n; j++) {
        const size_t ny = (size_t)(M * Ns[j]);
        float *a = malloc(ny * 4), *b = malloc(ny * 4);
        gt_download(ctx, &Ya[j], a, ny);
        gt_download(ctx, &Yb[j], b, ny);
        char what[96];
        snprintf(what, sizeof what, "linear_fwd_multi %d x %s M%lld K%lld weight %d", n, clft_dtype_name(dt),
                 (long long)M, (long long)K, j);
        tu_close(what, a, b, ny, 0, 0, 0);
        free(a), free(b);
        clft_buf_free(ctx, &Ya[j]), clft_buf_free(ctx, &Yb[j]);
        gt_free_weight(ctx, &hw[j]);
    }
    clft_buf_free(ctx, &X);
    free(hX);
}

static void check_bad(void) {
    uint8_t blocks[34 * 4] = {0};
    clft_weight w;
    clft_status st = clft_weight_upload_blocks(ctx, CLFT_MEM_SCRATCH, CLFT_DTYPE_Q8_0, 2, 48, blocks, 34 * 3, &w);
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH, "rows of 48: %s", clft_status_string(st));
    printf("test_gemm_ggml: refused: %s\n", clft_last_error());
    st = clft_weight_upload_blocks(ctx, CLFT_MEM_SCRATCH, CLFT_DTYPE_Q8_0, 2, 64, blocks, 34 * 3, &w);
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH, "3 blocks for 4: %s", clft_status_string(st));
    printf("test_gemm_ggml: refused: %s\n", clft_last_error());
    st = clft_weight_upload_blocks(ctx, CLFT_MEM_SCRATCH, CLFT_DTYPE_NF4, 2, 64, blocks, 34 * 4, &w);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "nf4 as blocks: %s", clft_status_string(st));
    TU_OK(clft_weight_upload_blocks(ctx, CLFT_MEM_SCRATCH, CLFT_DTYPE_Q8_0, 2, 64, blocks, 34 * 4, &w));
    w.cols = 48; /* a hand-made weight whose rows are not whole blocks */
    clft_buf X = zbuf(64 * 4), Y = zbuf(64 * 4);
    st = clft_linear_fwd(ctx, (clft_mat){&Y, 0, 2}, (clft_mat){&X, 0, 48}, &w, 1, 0.0f);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "linear_fwd, cols 48: %s", clft_status_string(st));
    printf("test_gemm_ggml: refused: %s\n", clft_last_error());
    w.cols = 64;
    clft_weight_free(ctx, &w);
    clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
}

int main(void) {
    tu_init_seed();
    ctx = tu_context();
    const int tiny = tu_tiny();
    double t0 = clft_now_seconds();
    uint64_t salt = 1;
    if (tiny) {
        clft_gemm_tiles t = {2, 4, 2, 2, 2, 4, 8, 2};
        TU_OK(clft_gemm_set_tiles(ctx, &t));
    }
    check_bad();
    for (int t = 0; t < 3; t++)
        check_dequant(TYPES[t], tiny ? 3 : 37, tiny ? 64 : 96, salt++);
    const int64_t Ms[] = {1, 3, 17, 70}, Ns[] = {1, 31, 257}, Ks[] = {32, 96, 800};
    const int64_t tMs[] = {1, 3}, tNs[] = {1, 5}, tKs[] = {32, 64};
    const int nm = tiny ? 2 : 4, nn = tiny ? 2 : 3, nk = tiny ? 2 : 3;
    const clft_gemv_tiles wi = {1, 0, 0, 0, 0}, wg = {2, 2, 3, 0, tiny ? 8 : 32}, dflt = {0, 0, 0, 0, 0};
    for (int t = 0; t < 3; t++)
        for (int a = 0; a < nm; a++)
            for (int b = 0; b < nn; b++)
                for (int c = 0; c < nk; c++) {
                    const int64_t M = tiny ? tMs[a] : Ms[a], N = tiny ? tNs[b] : Ns[b], K = tiny ? tKs[c] : Ks[c];
                    const float beta = (a + b + c) % 2 ? 1.0f : 0.0f;
                    check_fwd(CLFT_GEMM_TILED, CLFT_GEMM_TILED, TYPES[t], M, N, K, beta, salt++);
                    check_fwd(CLFT_GEMM_FUSED, CLFT_GEMM_FUSED, TYPES[t], M, N, K, beta, salt++);
                    const clft_gemm_path gv = M <= CLFT_GEMV_MAX_M ? CLFT_GEMM_GEMV : CLFT_GEMM_TILED;
                    TU_OK(clft_gemm_set_gemv_tiles(ctx, &wi));
                    check_fwd(CLFT_GEMM_GEMV, gv, TYPES[t], M, N, K, beta, salt++);
                    TU_OK(clft_gemm_set_gemv_tiles(ctx, &dflt));
                    TU_OK(clft_gemm_set_gemv_tiles(ctx, &wg));
                    check_fwd(CLFT_GEMM_GEMV, gv, TYPES[t], M, N, K, beta, salt++);
                    TU_OK(clft_gemm_set_gemv_tiles(ctx, &dflt));
                    if (!tiny) check_fwd(CLFT_GEMM_CLBLAST, CLFT_GEMM_CLBLAST, TYPES[t], M, N, K, beta, salt++);
                    check_bwd(CLFT_GEMM_TILED, TYPES[t], M, N, K, beta, salt++);
                    if (!tiny) check_bwd(CLFT_GEMM_CLBLAST, TYPES[t], M, N, K, beta, salt++);
                }
    /* the weight a slice of rows at a time (tiled and CLBlast: panels / f32 copies of a few rows) */
    TU_OK(clft_gemm_set_slice_bytes(ctx, tiny ? 300 : 4000));
    for (int t = 0; t < 3; t++)
        for (int p = 0; p < (tiny ? 1 : 2); p++) {
            const clft_gemm_path path = p ? CLFT_GEMM_CLBLAST : CLFT_GEMM_TILED;
            check_fwd(path, path, TYPES[t], tiny ? 3 : 17, tiny ? 5 : 31, tiny ? 64 : 96, 0.5f, salt++);
            check_bwd(path, TYPES[t], tiny ? 3 : 17, tiny ? 5 : 31, tiny ? 64 : 96, p ? 1.0f : 0.0f, salt++);
        }
    TU_OK(clft_gemm_set_slice_bytes(ctx, 0));
    for (int t = 0; t < 3; t++) {
        check_multi(TYPES[t], 3, tiny ? 1 : 2, tiny ? 32 : 96, salt++);
        check_multi(TYPES[t], 2, 1, tiny ? 64 : 800, salt++);
        if (!tiny) check_fwd(CLFT_GEMM_AUTO, CLFT_GEMM_AUTO, TYPES[t], 3, 257, 800, 0.0f, salt++);
    }
    printf("test_gemm_ggml: %.1f s\n", clft_now_seconds() - t0);
    clft_context_free(ctx);
    return tu_finish("test_gemm_ggml");
}
