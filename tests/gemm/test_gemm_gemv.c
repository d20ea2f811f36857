/* test_gemm_gemv.c - the GEMV path (cl/gemv.cl through src/ops/gemm.c) against src/ref on seeded inputs.
 * Forced with clft_gemm_set_path, in both kernel designs (a work-item per rows of W: the CPU
 * default; a work-group per rows with a local-memory reduction: the GPU default, run here on the
 * CPU) and other tile settings (vector widths 4/8/16, rows per item, several passes over W):
 *   - linear forward with every weight dtype: f32, f16, bf16, NF4 and FP4 with and without double
 *     quantization in blocks of 64 and 128 (straddling rows: K is not a multiple of the block), M in
 *     {1,2,3,5,8,16}, ragged N and K (N 1..1536, K 1..1000, odd ones included), beta 0 and 1, X and Y
 *     with offsets and leading dimensions, NaN in Y with beta 0;
 *   - f32 products C = alpha * A * B^T + beta * C with offsets, ldb != K and batches;
 *   - several weights in one call (clft_linear_fwd_multi: 2 and 3 weights of every dtype, ragged N
 *     each, one X or an X per weight, alpha, every design): the bits of one call per weight, close
 *     to src/ref;
 *   - the fallbacks (M > CLFT_GEMV_MAX_M, backward-data, untransposed B: the tiled path), the
 *     measured choice (GEMV is a timed candidate and its decision is followed), bad tile settings.
 * Tiny shapes, small tiles and both designs under Oclgrind (CLFT_TEST_TINY). */
#include "gemm_tutil.h"

static clft_context *ctx;

static void expect_path(clft_gemm_path want, const char *what) {
    const clft_gemm_path got = clft_gemm_last_path(ctx);
    TU_CHECK(got == want, "%s: ran %s, expected %s", what, clft_gemm_path_name(got), clft_gemm_path_name(want));
}

/* One linear forward Y (M,N) = X (M,K) * W^T + beta * Y with the GEMV path forced; nan: the (M,N)
 * view of Y holds NaN (beta must be 0: it is overwritten, never read). `expect`: the path that must
 * run (GEMV, or the tiled fallback). */
static void check_fwd(const char *cfg, clft_gemm_path expect, clft_dtype dt, int dq, int bs, int64_t M, int64_t N,
                      int64_t K, float beta, int pad, int nan, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    host_weight hw = gt_make_weight(ctx, dt, N, K, dq, bs, &r);
    const int64_t ldx = K + pad, ldy = N + 2 * pad;
    const size_t offX = (size_t)pad * 3, offY = (size_t)pad * 5;
    const size_t nX = offX + (size_t)(M * ldx), nY = offY + (size_t)(M * ldy);
    float *hX = malloc(nX * 4 + 4), *hY = malloc(nY * 4 + 4), *ref = malloc(nY * 4 + 4), *got = malloc(nY * 4 + 4);
    tu_fill(&r, hX, nX, -1, 1);
    tu_fill(&r, hY, nY, -1, 1);
    for (int64_t i = 0; nan && i < M; i++)
        for (int64_t j = 0; j < N; j++)
            hY[offY + (size_t)(i * ldy + j)] = NAN;
    memcpy(ref, hY, nY * 4);
    clft_ref_gemm_f32(0, 1, M, N, K, 1.0f, hX + offX, ldx, hw.deq, K, beta, ref + offY, ldy);
    clft_buf X = gt_upload(ctx, hX, nX * 4), Y = gt_upload(ctx, hY, nY * 4);
    char what[192];
    snprintf(what, sizeof what, "gemv[%s] linear_fwd %s%s bs%d M%lld N%lld K%lld beta%g pad%d%s", cfg,
             clft_dtype_name(dt), dq ? "+dq" : "", hw.w.blocksize, (long long)M, (long long)N, (long long)K, beta, pad,
             nan ? " NaN-in-Y" : "");
    gt_trace(what);
    TU_OK(clft_gemm_set_path(ctx, CLFT_GEMM_GEMV));
    clft_status st = clft_linear_fwd(ctx, (clft_mat){&Y, offY, ldy}, (clft_mat){&X, offX, ldx}, &hw.w, M, beta);
    TU_CHECK(st == CLFT_OK, "%s: %s: %s", what, clft_status_string(st), clft_last_error());
    expect_path(expect, what);
    gt_download(ctx, &Y, got, nY);
    /* the whole buffer: also proves nothing outside the (M,N) view was written */
    tu_close(what, got, ref, nY, 1e-5 + 1e-6 * (double)K, 1e-4, 1e-9);
    clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
    free(hX), free(hY), free(ref), free(got);
    gt_free_weight(ctx, &hw);
}

/* C (M,N) = alpha * A (M,K) * B^T + beta * C with B (N,K): offsets, leading dimensions past the
 * columns (pad > 0) and batch strides. */
static void check_nt(const char *cfg, int64_t M, int64_t N, int64_t K, int64_t batch, float alpha, float beta, int pad,
                     uint64_t salt) {
    char tag[96];
    snprintf(tag, sizeof tag, "gemv[%s]", cfg);
    gt_check_gemm(ctx, tag, CLFT_GEMM_GEMV, CLFT_GEMM_GEMV, 0, 1, M, N, K, batch, alpha, beta, pad, salt);
}

/* Weights: dtype, double quantization, block size (4-bit) */
static const struct {
    clft_dtype dt;
    int dq, bs;
} WEIGHTS[] = {{CLFT_DTYPE_F32, 0, 0},   {CLFT_DTYPE_F16, 0, 0},   {CLFT_DTYPE_BF16, 0, 0}, {CLFT_DTYPE_NF4, 0, 64},
               {CLFT_DTYPE_NF4, 1, 64},  {CLFT_DTYPE_FP4, 0, 64},  {CLFT_DTYPE_FP4, 1, 64}, {CLFT_DTYPE_NF4, 0, 128},
               {CLFT_DTYPE_NF4, 1, 128}, {CLFT_DTYPE_FP4, 0, 128}, {CLFT_DTYPE_FP4, 1, 128}};
#define NWEIGHTS (int)(sizeof WEIGHTS / sizeof WEIGHTS[0])

/* Several weights of the same storage and K in one call (clft_linear_fwd_multi), against one X or
 * (sep_x) each against its own X side by side in one buffer (the LoRA intermediates): the same bits
 * as one call per weight (the rows are the one-weight kernels' code; the fused launch where the
 * design is a CPU one, one call per weight elsewhere) and close to src/ref. Every output with its own
 * buffer, offset and leading dimension; beta 0 over NaN and beta 1; alpha. */
static void check_multi(const char *cfg, clft_dtype dt, int dq, int bs, int n, const int64_t *Ns, int64_t K, int64_t M,
                        float alpha, float beta, int sep_x, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    host_weight hw[3];
    const clft_weight *W[3];
    clft_buf Yf[3], Ys[3];
    clft_mat Ym[3];
    float *ref[3], *got = NULL, *sep = NULL;
    const int64_t ldx = (sep_x ? n : 1) * K + 3;
    const size_t nX = 5 + (size_t)(M * ldx);
    float *hX = calloc(nX, 4);
    tu_fill(&r, hX, nX, -1, 1);
    clft_buf X = gt_upload(ctx, hX, nX * 4);
    size_t nY[3];
    for (int j = 0; j < n; j++) {
        hw[j] = gt_make_weight(ctx, dt, Ns[j], K, dq, bs, &r);
        W[j] = &hw[j].w;
        const int64_t ldy = Ns[j] + 2 * j;
        nY[j] = (size_t)(7 * j) + (size_t)(M * ldy) + 1;
        float *hY = malloc(nY[j] * 4);
        tu_fill(&r, hY, nY[j], -1, 1);
        ref[j] = malloc(nY[j] * 4);
        if (beta == 0.0f)
            for (int64_t i = 0; i < M; i++)
                for (int64_t c = 0; c < Ns[j]; c++)
                    hY[(size_t)(7 * j) + (size_t)(i * ldy + c)] = NAN;
        memcpy(ref[j], hY, nY[j] * 4);
        clft_ref_gemm_f32(0, 1, M, Ns[j], K, alpha, hX + 5 + (sep_x ? j * K : 0), ldx, hw[j].deq, K, beta,
                          ref[j] + 7 * j, ldy);
        Yf[j] = gt_upload(ctx, hY, nY[j] * 4);
        Ys[j] = gt_upload(ctx, hY, nY[j] * 4);
        Ym[j] = (clft_mat){&Yf[j], (size_t)(7 * j), ldy};
        free(hY);
    }
    char what[192];
    snprintf(what, sizeof what,
             "gemv[%s] linear_fwd_multi %d x %s%s bs%d N %lld,%lld,%lld K%lld M%lld alpha%g beta%g%s", cfg, n,
             clft_dtype_name(dt), dq ? "+dq" : "", bs, (long long)Ns[0], (long long)(n > 1 ? Ns[1] : 0),
             (long long)(n > 2 ? Ns[2] : 0), (long long)K, (long long)M, alpha, beta, sep_x ? " X per weight" : "");
    gt_trace(what);
    TU_OK(clft_gemm_set_path(ctx, CLFT_GEMM_GEMV));
    clft_mat Xm[3];
    for (int j = 0; j < 3; j++)
        Xm[j] = (clft_mat){&X, (size_t)(5 + (sep_x && j < n ? j * K : 0)), ldx};
    const clft_status st = clft_linear_fwd_multi(ctx, n, Ym, Xm, W, M, alpha, beta);
    TU_CHECK(st == CLFT_OK, "%s: %s: %s", what, clft_status_string(st), clft_last_error());
    expect_path(CLFT_GEMM_GEMV, what);
    for (int j = 0; j < n; j++) { /* one call per weight */
        const clft_mat Y1 = {&Ys[j], (size_t)(7 * j), Ym[j].ld};
        if (alpha == 1.0f)
            TU_OK(clft_linear_fwd(ctx, Y1, Xm[j], W[j], M, beta));
        else
            TU_OK(clft_linear_fwd_multi(ctx, 1, &Y1, &Xm[j], &W[j], M, alpha, beta));
    }
    for (int j = 0; j < n; j++) {
        got = realloc(got, nY[j] * 4);
        sep = realloc(sep, nY[j] * 4);
        gt_download(ctx, &Yf[j], got, nY[j]);
        gt_download(ctx, &Ys[j], sep, nY[j]);
        char w2[220];
        snprintf(w2, sizeof w2, "%s: weight %d", what, j);
        /* the whole buffer: nothing outside the (M, N_j) view was written */
        tu_close(w2, got, ref[j], nY[j], 1e-5 + 1e-6 * (double)K, 1e-4, 1e-9);
        TU_CHECK(memcmp(got, sep, nY[j] * 4) == 0, "%s: differs from its one-weight call", w2);
        clft_buf_free(ctx, &Yf[j]), clft_buf_free(ctx, &Ys[j]);
        free(ref[j]);
        gt_free_weight(ctx, &hw[j]);
    }
    clft_buf_free(ctx, &X);
    free(hX), free(got), free(sep);
}

/* The storages, weight counts and shapes of check_multi (ragged N, a one-row weight, K odd), and the
 * refusals. */
static void run_multi(const char *cfg, uint64_t *salt) {
    static const int64_t full[][4] = {{576, 192, 192, 576}, {131, 7, 1, 67}, {1536, 1536, 0, 64}, {33, 9, 100, 1000}},
                         tiny[][4] = {{7, 3, 13, 19}, {5, 2, 0, 32}};
    const int t = tu_tiny(), nshape = t ? 2 : 4;
    const int64_t Ms[] = {1, 3, 16};
    for (int w = 0; w < NWEIGHTS; w++)
        for (int i = 0; i < nshape; i++) {
            const int64_t *sh = t ? tiny[i] : full[i];
            const int n = sh[2] ? 3 : 2;
            check_multi(cfg, WEIGHTS[w].dt, WEIGHTS[w].dq, WEIGHTS[w].bs, n, sh, sh[3], Ms[(w + i) % (t ? 2 : 3)],
                        (w + i) % 3 ? 1.0f : 0.5f, (w + i) & 1 ? 1.0f : 0.0f, (w + 2 * i) % 3 == 1, (*salt)++);
        }
}

static void check_multi_refused(uint64_t *salt) {
    tu_rng r = tu_rng_make((*salt)++);
    host_weight a = gt_make_weight(ctx, CLFT_DTYPE_F32, 4, 8, 0, 0, &r),
                b = gt_make_weight(ctx, CLFT_DTYPE_F32, 4, 9, 0, 0, &r);
    float z[64] = {0};
    clft_buf X = gt_upload(ctx, z, sizeof z), Y = gt_upload(ctx, z, sizeof z);
    const clft_weight *W[4] = {&a.w, &b.w, &a.w, &a.w};
    clft_mat Ym[4] = {{&Y, 0, 4}, {&Y, 4, 4}, {&Y, 8, 4}, {&Y, 12, 4}};
    const clft_mat Xm[4] = {{&X, 0, 8}, {&X, 0, 8}, {&X, 0, 8}, {&X, 0, 8}};
    TU_CHECK(clft_linear_fwd_multi(ctx, 2, Ym, Xm, W, 1, 1.0f, 0.0f) == CLFT_STATUS_SHAPE_MISMATCH,
             "multi: weights of different K accepted");
    W[1] = &a.w;
    TU_CHECK(clft_linear_fwd_multi(ctx, 4, Ym, Xm, W, 1, 1.0f, 0.0f) == CLFT_STATUS_INVALID_ARGUMENT,
             "multi: 4 weights accepted");
    TU_CHECK(clft_linear_fwd_multi(ctx, 0, Ym, Xm, W, 1, 1.0f, 0.0f) == CLFT_STATUS_INVALID_ARGUMENT,
             "multi: 0 weights accepted");
    TU_CHECK(clft_linear_fwd_multi(ctx, 2, NULL, Xm, W, 1, 1.0f, 0.0f) == CLFT_STATUS_INVALID_ARGUMENT,
             "multi: NULL outputs accepted");
    Ym[1].offset = 62; /* past the buffer */
    TU_CHECK(clft_linear_fwd_multi(ctx, 2, Ym, Xm, W, 1, 1.0f, 0.0f) != CLFT_OK,
             "multi: an output view past its buffer accepted");
    clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
    gt_free_weight(ctx, &a), gt_free_weight(ctx, &b);
}

/* Every weight dtype x every M x two (N,K) shapes (the lists walked out of step, so that over the
 * weights and settings every N meets every K), beta and padding alternating; then A * B^T. */
static void run_matrix(const char *cfg, int setting, uint64_t *salt) {
    static const int64_t Ms[] = {1, 2, 3, 5, 8, 16}, Ns[] = {1, 7, 131, 576, 1536}, Ks[] = {1, 3, 64, 67, 576, 1000};
    static const int64_t tMs[] = {1, 2, 5}, tNs[] = {1, 7, 13}, tKs[] = {1, 3, 19, 32};
    const int tiny = tu_tiny();
    const int64_t *ms = tiny ? tMs : Ms, *ns = tiny ? tNs : Ns, *ks = tiny ? tKs : Ks;
    const int nm = tiny ? 3 : 6, nn = tiny ? 3 : 5, nk = tiny ? 4 : 6, per = tiny ? 1 : 2;
    for (int w = 0; w < NWEIGHTS; w++)
        for (int i = 0; i < nm; i++)
            for (int j = 0; j < per; j++) {
                const int64_t N = ns[(i + w + 2 * j) % nn], K = ks[(i + 2 * w + 3 * j + setting) % nk];
                const int odd = (i + j + w) & 1;
                check_fwd(cfg, CLFT_GEMM_GEMV, WEIGHTS[w].dt, WEIGHTS[w].dq, WEIGHTS[w].bs, ms[i], N, K,
                          odd ? 1.0f : 0.0f, odd ? 0 : 2, 0, (*salt)++);
            }
    /* beta 0 over NaN */
    check_fwd(cfg, CLFT_GEMM_GEMV, CLFT_DTYPE_NF4, 1, 64, tiny ? 2 : 3, tiny ? 7 : 131, tiny ? 32 : 576, 0.0f, 1, 1,
              (*salt)++);
    check_fwd(cfg, CLFT_GEMM_GEMV, CLFT_DTYPE_BF16, 0, 0, 1, tiny ? 7 : 131, tiny ? 19 : 67, 0.0f, 0, 1, (*salt)++);
    /* A * B^T: alpha != 1, batches, the LoRA shapes of decoding (K = r small, N = r small) */
    check_nt(cfg, 1, tiny ? 7 : 576, tiny ? 3 : 16, 1, 0.75f, 1.0f, 1, (*salt)++);
    check_nt(cfg, tiny ? 2 : 3, tiny ? 5 : 16, tiny ? 19 : 576, 1, -1.5f, 0.0f, 2, (*salt)++);
    check_nt(cfg, tiny ? 5 : 8, tiny ? 13 : 131, tiny ? 32 : 67, tiny ? 2 : 3, 0.5f, 0.5f, 1, (*salt)++);
    if (!tiny) check_nt(cfg, 16, 7, 1000, 2, 2.0f, 0.0f, 3, (*salt)++);
    check_nt(cfg, 1, tiny ? 3 : 9, 0, 1, 1.0f, 0.25f, 1, (*salt)++); /* K = 0: C = beta * C */
    run_multi(cfg, salt);
}

/* Outside its domain the forced GEMV path runs the tiled kernel (and stays right). */
static void check_fallbacks(uint64_t *salt) {
    const int tiny = tu_tiny();
    check_fwd("fallback", CLFT_GEMM_TILED, CLFT_DTYPE_NF4, 1, 64, CLFT_GEMV_MAX_M + 1, tiny ? 5 : 33, tiny ? 16 : 128,
              1.0f, 1, 0, (*salt)++);
    tu_rng r = tu_rng_make((*salt)++);
    const int64_t M = 2, N = tiny ? 5 : 33, K = tiny ? 7 : 40;
    host_weight hw = gt_make_weight(ctx, CLFT_DTYPE_BF16, N, K, 0, 0, &r);
    float *dy = malloc((size_t)(M * N) * 4), *ref = malloc((size_t)(M * K) * 4), *got = malloc((size_t)(M * K) * 4);
    tu_fill(&r, dy, (size_t)(M * N), -1, 1);
    clft_ref_gemm_f32(0, 0, M, K, N, 1.0f, dy, N, hw.deq, K, 0.0f, ref, K);
    clft_buf dY = gt_upload(ctx, dy, (size_t)(M * N) * 4), dX = gt_upload(ctx, ref, (size_t)(M * K) * 4);
    TU_OK(clft_gemm_set_path(ctx, CLFT_GEMM_GEMV));
    TU_OK(clft_linear_bwd_data(ctx, (clft_mat){&dX, 0, K}, (clft_mat){&dY, 0, N}, &hw.w, M, 0.0f));
    expect_path(CLFT_GEMM_TILED, "forced gemv, linear_bwd_data");
    gt_download(ctx, &dX, got, (size_t)(M * K));
    tu_close("forced gemv, linear_bwd_data", got, ref, (size_t)(M * K), 1e-5, 1e-4, 1e-9);
    /* untransposed B (K,N): not a GEMV */
    clft_buf B = gt_upload(ctx, hw.deq, (size_t)(N * K) * 4);
    TU_OK(clft_gemm_f32(ctx, 0, 0, M, K, N, 1.0f, (clft_mat){&dY, 0, N}, (clft_mat){&B, 0, K}, 0.0f,
                        (clft_mat){&dX, 0, K}));
    expect_path(CLFT_GEMM_TILED, "forced gemv, gemm nn");
    gt_download(ctx, &dX, got, (size_t)(M * K));
    tu_close("forced gemv, gemm nn", got, ref, (size_t)(M * K), 1e-5, 1e-4, 1e-9);
    clft_buf_free(ctx, &dY), clft_buf_free(ctx, &dX), clft_buf_free(ctx, &B);
    free(dy), free(ref), free(got);
    gt_free_weight(ctx, &hw);
}

static int has_subgroups(void) {
    clft_device_info info;
    TU_OK(clft_context_device_info(ctx, &info));
    const char *e = strstr(info.extensions, "cl_intel_subgroups");
    return e && (e[18] == ' ' || e[18] == '\0');
}

static void check_bad_tiles(void) {
    const clft_gemv_tiles bad[] = {{4, 0, 0, 0, 0}, {0, 3, 0, 0, 0},  {0, 32, 0, 0, 0}, {0, 0, 9, 0, 0},
                                   {0, 0, 0, 2, 0}, {0, 0, 0, 0, 48}, {0, 0, 0, 0, 512}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TU_CHECK(clft_gemm_set_gemv_tiles(ctx, &bad[i]) == CLFT_STATUS_INVALID_ARGUMENT, "bad gemv tiles %zu accepted",
                 i);
    TU_CHECK(clft_gemm_set_gemv_tiles(ctx, NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL gemv tiles accepted");
    /* the subgroup design only where the device has cl_intel_subgroups */
    const clft_gemv_tiles sg = {3, 0, 0, 0, 0};
    const clft_status st = clft_gemm_set_gemv_tiles(ctx, &sg);
    TU_CHECK(st == (has_subgroups() ? CLFT_OK : CLFT_STATUS_UNSUPPORTED), "variant 3 -> %s", clft_status_string(st));
    const clft_gemv_tiles dflt = {0, 0, 0, 0, 0};
    TU_OK(clft_gemm_set_gemv_tiles(ctx, &dflt));
}

/* log messages of the measured choice */
static char g_log[4096];
static void capture_log(clft_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    if (!strstr(msg, "gemm autotune")) return;
    const size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
}

/* The measured choice: GEMV is timed among the candidates of a linear forward with few rows (the
 * winner depends on the machine; the result is right either way), and a decision for GEMV - from
 * the decisions of a run being resumed, or from $CLFT_GEMM - is followed. A context of its own
 * without the disk cache, so that no decision of an earlier run is found. */
static void check_measured(uint64_t *salt) {
    clft_context_params p = clft_context_default_params();
    p.device = getenv("CLFT_TEST_DEVICE");
    p.disk_cache = 0;
    clft_context *c2 = NULL;
    TU_OK(clft_context_create(&p, &c2));
    if (!c2) return;
    clft_context *saved = ctx;
    ctx = c2;
    if (tu_tiny()) { /* the interpreter's tile sizes for the other paths too */
        clft_gemm_tiles t = {2, 4, 2, 2, 2, 4, 8, 2};
        TU_OK(clft_gemm_set_tiles(ctx, &t));
    }
    const int64_t N = tu_tiny() ? 7 : 96, K = tu_tiny() ? 32 : 256;
    tu_rng r = tu_rng_make((*salt)++);
    const clft_dtype dts[] = {CLFT_DTYPE_F32, CLFT_DTYPE_NF4};
    for (int d = 0; d < 2; d++) {
        host_weight hw = gt_make_weight(ctx, dts[d], N, K, d, 64, &r);
        float *x = malloc((size_t)K * 4), *ref = malloc((size_t)N * 4), *got = malloc((size_t)N * 4);
        tu_fill(&r, x, (size_t)K, -1, 1);
        clft_ref_gemm_f32(0, 1, 1, N, K, 1.0f, x, K, hw.deq, K, 0.0f, ref, N);
        clft_buf X = gt_upload(ctx, x, (size_t)K * 4), Y = gt_upload(ctx, ref, (size_t)N * 4);
        char what[96];
        snprintf(what, sizeof what, "measured choice, linear_fwd %s M1 N%lld K%lld", clft_dtype_name(dts[d]),
                 (long long)N, (long long)K);
        g_log[0] = 0;
        clft_set_log_callback(capture_log, NULL, CLFT_LOG_INFO);
        TU_OK(clft_gemm_set_path(ctx, CLFT_GEMM_AUTO));
        TU_OK(clft_linear_fwd(ctx, (clft_mat){&Y, 0, N}, (clft_mat){&X, 0, K}, &hw.w, 1, 0.0f));
        clft_set_log_callback(tu_log, NULL, getenv("CLFT_TEST_VERBOSE") ? CLFT_LOG_DEBUG : CLFT_LOG_WARN);
        TU_CHECK(strstr(g_log, " gemv ") != NULL, "%s: gemv not among the timed candidates: %s", what, g_log);
        printf("test_gemm_gemv: %s", g_log);
        gt_download(ctx, &Y, got, (size_t)N);
        tu_close(what, got, ref, (size_t)N, 1e-5 + 1e-6 * (double)K, 1e-4, 1e-9);
        /* the decision taken, replaced by gemv as a resumed run would put it back */
        char *dec = clft_gemm_decisions_export(ctx);
        TU_CHECK(dec != NULL, "decisions export");
        char key[128] = "";
        for (const char *l = dec; l && *l;) {
            const char *nl = strchr(l, '\n');
            char line[200];
            const size_t n = nl ? (size_t)(nl - l) : strlen(l);
            snprintf(line, sizeof line, "%.*s", (int)n, l);
            if (strstr(line, "clft_linear_fwd:01:") && strstr(line, clft_dtype_name(dts[d])))
                sscanf(line, "%127s", key);
            l += n + (nl ? 1 : 0);
        }
        free(dec);
        TU_CHECK(key[0] != 0, "%s: no decision recorded", what);
        char imp[160];
        snprintf(imp, sizeof imp, "%s gemv\n", key);
        TU_OK(clft_gemm_decisions_import(ctx, imp));
        TU_OK(clft_linear_fwd(ctx, (clft_mat){&Y, 0, N}, (clft_mat){&X, 0, K}, &hw.w, 1, 0.0f));
        expect_path(CLFT_GEMM_GEMV, "decision gemv");
        gt_download(ctx, &Y, got, (size_t)N);
        tu_close(what, got, ref, (size_t)N, 1e-5 + 1e-6 * (double)K, 1e-4, 1e-9);
        clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
        free(x), free(ref), free(got);
        gt_free_weight(ctx, &hw);
    }
    /* $CLFT_GEMM=gemv */
    setenv("CLFT_GEMM", "gemv", 1);
    TU_OK(clft_gemm_set_path(ctx, CLFT_GEMM_AUTO));
    gt_check_gemm(ctx, "CLFT_GEMM=gemv", CLFT_GEMM_AUTO, CLFT_GEMM_GEMV, 0, 1, 2, 9, 17, 1, 0.5f, 1.0f, 1, (*salt)++);
    expect_path(CLFT_GEMM_GEMV, "CLFT_GEMM=gemv");
    unsetenv("CLFT_GEMM");
    ctx = saved;
    clft_context_free(c2);
}

int main(void) {
    tu_init_seed();
    ctx = tu_context();
    const int tiny = tu_tiny();
    double t0 = clft_now_seconds();
    uint64_t salt = 1;
    check_bad_tiles();
    /* the device's own design and tiles */
    run_matrix("default", 0, &salt);
    /* the other designs and other tiles: work-group reduction (nr by M; 3 rows, 2 rows of X per
     * pass), work-item with vector width 8 and 4, odd rows per item, several passes; the subgroup
     * design (4-bit weights) where the device has it */
    const clft_gemv_tiles full[] = {{2, 0, 0, 0, 64}, {2, 2, 3, 0, 32}, {1, 4, 3, 8, 0},
                                    {1, 16, 1, 4, 0}, {3, 0, 0, 0, 0},  {3, 2, 3, 0, 0}};
    const clft_gemv_tiles small[] = {{2, 0, 0, 0, 16}, {2, 2, 3, 0, 8}};
    const clft_gemv_tiles *set = tiny ? small : full;
    const int nset = tiny ? 2 : has_subgroups() ? 6 : 4;
    for (int i = 0; i < nset; i++) {
        char cfg[64];
        snprintf(cfg, sizeof cfg, "variant %d mt %d nr %d vw %d wg %d", set[i].variant, set[i].mt, set[i].nr, set[i].vw,
                 set[i].wg);
        const clft_gemv_tiles dflt = {0, 0, 0, 0, 0};
        TU_OK(clft_gemm_set_gemv_tiles(ctx, &dflt));
        TU_OK(clft_gemm_set_gemv_tiles(ctx, &set[i]));
        run_matrix(cfg, i + 1, &salt);
    }
    const clft_gemv_tiles dflt = {0, 0, 0, 0, 0};
    TU_OK(clft_gemm_set_gemv_tiles(ctx, &dflt));
    check_fallbacks(&salt);
    check_multi_refused(&salt);
    check_measured(&salt);
    printf("test_gemm_gemv: %.1f s\n", clft_now_seconds() - t0);
    clft_context_free(ctx);
    return tu_finish("test_gemm_gemv");
}
