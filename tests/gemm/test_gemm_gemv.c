/* test_gemm_gemv.c - the GEMV path (cl/gemv.cl through src/ops/gemm.c) against src/ref on seeded inputs.
 * Forced with clft_gemm_set_path, in both kernel designs (a work-item per rows of W: the CPU
 * default; a work-group per rows with a local-memory reduction: the GPU default, run here on the
 * CPU) and other tile settings (vector widths 4/8/16, rows per item, several passes over W):
 *   - linear forward with every weight dtype: f32, f16, bf16, NF4 and FP4 with and without double
 *     quantization in blocks of 64 and 128 (straddling rows: K is not a multiple of the block), M in
 *     {1,2,3,5,8,16}, ragged N and K (N 1..1536, K 1..1000, odd ones included), beta 0 and 1, X and Y
 *     with offsets and leading dimensions, NaN in Y with beta 0;
 *   - f32 products C = alpha * A * B^T + beta * C with offsets, ldb != K and batches;
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
    check_measured(&salt);
    printf("test_gemm_gemv: %.1f s\n", clft_now_seconds() - t0);
    clft_context_free(ctx);
    return tu_finish("test_gemm_gemv");
}
