/* test_gemm.c - the GEMM layer (src/ops/gemm.h) against src/ref on seeded inputs: every path
 * (CLBlast, own tiled kernel, fused 4-bit kernel) forced explicitly, every product (nn, nt, tn,
 * tt, batched), every weight dtype (f32, f16, bf16, NF4/FP4 with and without double quant), alpha,
 * beta, offsets and leading dimensions, ragged shapes, bad arguments, and the measured path choice
 * with its decision file. Tiny shapes and small tiles under Oclgrind (CLFT_TEST_TINY). */
#include <dirent.h>
#include <unistd.h>

#include "gemm_tutil.h"

static clft_context *ctx;

static clft_buf upload(const void *host, size_t bytes) { return gt_upload(ctx, host, bytes); }
static void download(const clft_buf *b, float *host, size_t n) { gt_download(ctx, b, host, n); }

/* 4-bit block size of the weights made below: blocks run over the flattened (rows, cols) weight as
 * in bitsandbytes, so with cols not a multiple of it they start mid-row */
static int g_q4_blocksize = 64;

static host_weight make_weight(clft_dtype dt, int64_t rows, int64_t cols, int dq, tu_rng *r) {
    return gt_make_weight(ctx, dt, rows, cols, dq, g_q4_blocksize, r);
}
static void free_weight(host_weight *h) { gt_free_weight(ctx, h); }

/* ---- generic GEMM check ------------------------------------------------------------------- */

static const char *PATHS[] = {"auto", "clblast", "tiled", "fused", "hgemm", "gemv"};

/* One (batched) clft_gemm_f32 call vs the reference, with offsets and padded leading dims. */
static void check_gemm(clft_gemm_path path, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t batch, float alpha,
                       float beta, int pad, uint64_t salt) {
    gt_check_gemm(ctx, PATHS[path], path, path, ta, tb, M, N, K, batch, alpha, beta, pad, salt);
}

/* Linear-layer products with a weight of dtype dt: 0 = fwd, 1 = bwd_data. */
static void check_linear(clft_gemm_path path, int which, clft_dtype dt, int dq, int64_t M, int64_t N, int64_t K,
                         float beta, int pad, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    host_weight hw = make_weight(dt, N, K, dq, &r);
    const int64_t in = which == 0 ? K : N, out = which == 0 ? N : K;
    const int64_t ldx = in + pad, ldy = out + pad;
    const size_t offX = (size_t)pad, offY = (size_t)pad * 2;
    const size_t nX = offX + (size_t)(M * ldx), nY = offY + (size_t)(M * ldy);
    float *hX = malloc(nX * 4 + 4), *hY = malloc(nY * 4 + 4), *ref = malloc(nY * 4 + 4), *got = malloc(nY * 4 + 4);
    tu_fill(&r, hX, nX, -1, 1);
    tu_fill(&r, hY, nY, -1, 1);
    memcpy(ref, hY, nY * 4);
    clft_ref_gemm_f32(0, which == 0, M, out, in, 1.0f, hX + offX, ldx, hw.deq, K, beta, ref + offY, ldy);
    clft_buf X = upload(hX, nX * 4), Y = upload(hY, nY * 4);
    clft_mat mX = {&X, offX, ldx}, mY = {&Y, offY, ldy};
    char what[160];
    snprintf(what, sizeof what, "%s linear_%s %s%s bs%d M%lld N%lld K%lld beta%g pad%d", PATHS[path],
             which == 0 ? "fwd" : "bwd_data", clft_dtype_name(dt), dq ? "+dq" : "", hw.w.blocksize, (long long)M,
             (long long)N, (long long)K, beta, pad);
    gt_trace(what);
    TU_OK(clft_gemm_set_path(ctx, path));
    clft_status st =
        which == 0 ? clft_linear_fwd(ctx, mY, mX, &hw.w, M, beta) : clft_linear_bwd_data(ctx, mY, mX, &hw.w, M, beta);
    TU_CHECK(st == CLFT_OK, "linear: %s: %s", clft_status_string(st), clft_last_error());
    download(&Y, got, nY);
    if (path == CLFT_GEMM_HGEMM) /* X rounded to f16 and fp16 accumulation (where it runs at all) */
        tu_close(what, got, ref, nY, 0.05, 0.02, 1e-4);
    else
        tu_close(what, got, ref, nY, 1e-5 + 1e-6 * (double)(N > K ? N : K), 1e-4, 1e-9);
    clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
    free(hX), free(hY), free(ref), free(got);
    free_weight(&hw);
}

static void check_bwd_weight(clft_gemm_path path, int64_t M, int64_t N, int64_t K, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    float *dY = malloc((size_t)(M * N) * 4 + 4), *X = malloc((size_t)(M * K) * 4 + 4),
          *dW = malloc((size_t)(N * K) * 4 + 4), *ref = malloc((size_t)(N * K) * 4 + 4),
          *got = malloc((size_t)(N * K) * 4 + 4);
    tu_fill(&r, dY, (size_t)(M * N), -1, 1);
    tu_fill(&r, X, (size_t)(M * K), -1, 1);
    tu_fill(&r, dW, (size_t)(N * K), -1, 1);
    memcpy(ref, dW, (size_t)(N * K) * 4);
    clft_ref_gemm_f32(1, 0, N, K, M, 1.0f, dY, N, X, K, 1.0f, ref, K);
    clft_buf bY = upload(dY, (size_t)(M * N) * 4), bX = upload(X, (size_t)(M * K) * 4),
             bW = upload(dW, (size_t)(N * K) * 4);
    TU_OK(clft_gemm_set_path(ctx, path));
    TU_OK(clft_linear_bwd_weight(ctx, (clft_mat){&bW, 0, K}, (clft_mat){&bY, 0, N}, (clft_mat){&bX, 0, K}, M, N, K));
    download(&bW, got, (size_t)(N * K));
    char what[128];
    snprintf(what, sizeof what, "%s linear_bwd_weight M%lld N%lld K%lld", PATHS[path], (long long)M, (long long)N,
             (long long)K);
    tu_close(what, got, ref, (size_t)(N * K), 1e-5 + 1e-6 * (double)M, 1e-4, 1e-9);
    clft_buf_free(ctx, &bY), clft_buf_free(ctx, &bX), clft_buf_free(ctx, &bW);
    free(dY), free(X), free(dW), free(ref), free(got);
}

/* beta == 0 must overwrite C even when it holds NaN (arena memory is not cleared). */
static void check_nan_overwrite(clft_gemm_path path) {
    const int64_t M = 3, N = 5, K = 4;
    float a[12], b[20], c[15], ref[15], got[15];
    tu_rng r = tu_rng_make(77);
    tu_fill(&r, a, 12, -1, 1);
    tu_fill(&r, b, 20, -1, 1);
    for (int i = 0; i < 15; i++)
        c[i] = NAN;
    clft_ref_gemm_f32(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, ref, N);
    clft_buf A = upload(a, sizeof a), B = upload(b, sizeof b), C = upload(c, sizeof c);
    TU_OK(clft_gemm_set_path(ctx, path));
    TU_OK(clft_gemm_f32(ctx, 0, 0, M, N, K, 1.0f, (clft_mat){&A, 0, K}, (clft_mat){&B, 0, N}, 0.0f,
                        (clft_mat){&C, 0, N}));
    download(&C, got, 15);
    char what[64];
    snprintf(what, sizeof what, "%s beta=0 over NaN", PATHS[path]);
    tu_close(what, got, ref, 15, 1e-5, 1e-5, 1e-9);
    clft_buf_free(ctx, &A), clft_buf_free(ctx, &B), clft_buf_free(ctx, &C);
}

static void check_bad_arguments(void) {
    float h[64] = {0};
    clft_buf A = upload(h, sizeof h);
    clft_mat m = {&A, 0, 8};
    clft_status st = clft_gemm_f32(ctx, 0, 0, -1, 2, 2, 1, m, m, 0, m);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "negative M -> %s", clft_status_string(st));
    st = clft_gemm_f32(ctx, 0, 0, 2, 2, 9, 1, m, (clft_mat){&A, 0, 2}, 0, m);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "ld < cols of A (M,K=9) with ld 8 -> %s", clft_status_string(st));
    TU_CHECK(strstr(clft_last_error(), "A (M,K)") != NULL, "message names the operand: %s", clft_last_error());
    st = clft_gemm_f32(ctx, 0, 0, 9, 8, 8, 1, m, m, 0, m);
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH, "A (9,8) in 64 floats -> %s", clft_status_string(st));
    st = clft_gemm_f32(ctx, 0, 0, 2, 2, 2, 1, m, m, 0, (clft_mat){&A, 60, 8});
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH, "C offset past the end -> %s", clft_status_string(st));
    st = clft_gemm_f32(ctx, 0, 0, 2, 2, 2, 1, m, (clft_mat){NULL, 0, 8}, 0, m);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "NULL B -> %s", clft_status_string(st));
    st = clft_gemm_f32_batched(ctx, 0, 0, 2, 2, 2, 1, m, 0, m, 0, 0, m, 0, 3);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "overlapping C batches -> %s", clft_status_string(st));
    clft_weight w = {0};
    w.dtype = CLFT_DTYPE_F32;
    w.rows = 9;
    w.cols = 8;
    w.data = A;
    st = clft_linear_fwd(ctx, m, m, &w, 1, 0);
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH, "weight (9,8) in 64 floats -> %s", clft_status_string(st));
    w.rows = 2;
    w.dtype = CLFT_DTYPE_NF4;
    w.blocksize = 64;
    st = clft_linear_fwd(ctx, m, m, &w, 1, 0);
    TU_CHECK(st == CLFT_STATUS_SHAPE_MISMATCH, "NF4 weight without code/absmax -> %s", clft_status_string(st));
    TU_CHECK(clft_gemm_set_path(ctx, (clft_gemm_path)9) == CLFT_STATUS_INVALID_ARGUMENT, "bad path");
    clft_gemm_tiles t = {0, 3, 0, 0, 0, 0, 0, 0};
    TU_CHECK(clft_gemm_set_tiles(ctx, &t) == CLFT_STATUS_INVALID_ARGUMENT, "vector width 3 refused");
    clft_buf_free(ctx, &A);
}

/* The measured choice is written to <cache_dir>/gemm-paths-*.txt; CLFT_GEMM overrides it. */
static void check_decisions_file(void) {
    char dir[] = "/tmp/clft-gemm-test-XXXXXX";
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    clft_context_params p = clft_context_default_params();
    p.device = getenv("CLFT_TEST_DEVICE");
    p.cache_dir = dir;
    clft_context *c2 = NULL;
    TU_OK(clft_context_create(&p, &c2));
    if (!c2) return;
    clft_context *saved = ctx;
    ctx = c2;
    check_gemm(CLFT_GEMM_AUTO, 1, 0, 33, 40, 24, 1, 1.0f, 0.0f, 0, 991);
    char path[512] = "", line[256];
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "gemm-paths-", 11)) snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (d) closedir(d);
    TU_CHECK(path[0] != 0, "no gemm-paths-*.txt written in %s", dir);
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "clft_gemm_f32:10:f32:M64:N40:K24:B1 ")) found = 1;
    if (f) fclose(f);
    TU_CHECK(found, "decision for the shape class not in %s", path);
    /* environment override beats the stored decision */
    setenv("CLFT_GEMM", "clblast", 1);
    check_gemm(CLFT_GEMM_AUTO, 1, 0, 33, 40, 24, 1, 1.0f, 0.0f, 0, 992);
    TU_CHECK(clft_gemm_last_path(ctx) == CLFT_GEMM_CLBLAST, "CLFT_GEMM=clblast ran %s",
             PATHS[clft_gemm_last_path(ctx)]);
    setenv("CLFT_GEMM", "tiled", 1);
    check_gemm(CLFT_GEMM_AUTO, 1, 0, 33, 40, 24, 1, 1.0f, 0.0f, 0, 993);
    TU_CHECK(clft_gemm_last_path(ctx) == CLFT_GEMM_TILED, "CLFT_GEMM=tiled ran %s", PATHS[clft_gemm_last_path(ctx)]);
    setenv("CLFT_GEMM", "bogus", 1);
    float h[4] = {0};
    clft_buf b = upload(h, sizeof h);
    clft_status st =
        clft_gemm_f32(ctx, 0, 0, 1, 1, 1, 1, (clft_mat){&b, 0, 1}, (clft_mat){&b, 1, 1}, 0, (clft_mat){&b, 2, 1});
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "CLFT_GEMM=bogus -> %s", clft_status_string(st));
    clft_buf_free(ctx, &b);
    unsetenv("CLFT_GEMM");
    ctx = saved;
    clft_context_free(c2);
    /* the temporary cache holds the decisions file and compiled programs */
    d = opendir(dir);
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char fp[600];
        snprintf(fp, sizeof fp, "%s/%s", dir, e->d_name);
        remove(fp);
    }
    if (d) closedir(d);
    TU_CHECK(rmdir(dir) == 0, "cannot remove %s", dir);
}

/* After clft_gemm_reserve() the layer allocates nothing for products within the reserved sizes. */
static void check_reserve(void) {
    /* big enough for CLBlast's indirect (temp buffer) kernels, except under Oclgrind */
    const int tiny = tu_tiny();
    const int64_t M = tiny ? 5 : 200, N = tiny ? 9 : 300, K = tiny ? 7 : 1000;
    tu_rng r = tu_rng_make(4242);
    host_weight hw = make_weight(CLFT_DTYPE_BF16, N, K, 0, &r);
    float *h = calloc((size_t)(M * (N > K ? N : K)), 4);
    clft_buf X = upload(h, (size_t)(M * K) * 4), Y = upload(h, (size_t)(M * N) * 4);
    const size_t want = clft_gemm_scratch_bytes(ctx, M, N > K ? N : K, N > K ? N : K, 1);
    TU_CHECK(want > 0, "scratch bytes");
    TU_OK(clft_gemm_reserve(ctx, M, N > K ? N : K, N > K ? N : K, 1));
    clft_mem_stats before, after;
    TU_OK(clft_context_mem_stats(ctx, &before));
    const clft_gemm_path paths[] = {CLFT_GEMM_TILED, CLFT_GEMM_CLBLAST};
    for (int i = 0; i < 2; i++) {
        TU_OK(clft_gemm_set_path(ctx, paths[i]));
        TU_OK(clft_linear_fwd(ctx, (clft_mat){&Y, 0, N}, (clft_mat){&X, 0, K}, &hw.w, M, 0.0f));
        TU_OK(clft_linear_bwd_data(ctx, (clft_mat){&X, 0, K}, (clft_mat){&Y, 0, N}, &hw.w, M, 0.0f));
    }
    TU_OK(clft_context_mem_stats(ctx, &after));
    TU_CHECK(after.allocations == before.allocations, "%llu allocations after reserve",
             (unsigned long long)(after.allocations - before.allocations));
    clft_buf_free(ctx, &X), clft_buf_free(ctx, &Y);
    free(h);
    free_weight(&hw);
}

int main(void) {
    tu_init_seed();
    ctx = tu_context();
    const int tiny = tu_tiny();
    double t0 = clft_now_seconds();
    if (tiny) { /* small register tiles for the interpreter */
        clft_gemm_tiles t = {2, 4, 2, 2, 2, 4, 8, 2};
        TU_OK(clft_gemm_set_tiles(ctx, &t));
    }
    check_bad_arguments();
    check_reserve(); /* first, while the scratch buffers are still empty */

    static const int64_t Ms[] = {1, 3, 17, 65}, NKs[] = {1, 5, 33, 100, 130};
    static const int64_t tMs[] = {1, 3}, tNKs[] = {1, 5, 9};
    const int64_t *ms = tiny ? tMs : Ms, *nks = tiny ? tNKs : NKs;
    const int nm = tiny ? 2 : 4, nnk = tiny ? 3 : 5;
    const clft_gemm_path paths[] = {CLFT_GEMM_TILED, CLFT_GEMM_CLBLAST};
    uint64_t salt = 1;
    for (int pi = 0; pi < 2; pi++) {
        const clft_gemm_path path = paths[pi];
        check_nan_overwrite(path);
        /* every transpose combination over the ragged shape grid (N and K walk the list out of step) */
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < nm; i++)
                for (int j = 0; j < nnk; j++)
                    check_gemm(path, t >> 1, t & 1, ms[i], nks[j], nks[(j + i + t) % nnk], 1, 1.0f, 0.0f, 0, salt++);
        /* alpha/beta, offsets and padded leading dimensions, empty K, batched */
        const int64_t m = tiny ? 3 : 17, n = tiny ? 5 : 33, k = tiny ? 9 : 100;
        for (int t = 0; t < 4; t++) {
            check_gemm(path, t >> 1, t & 1, m, n, k, 1, 0.5f, -1.5f, 3, salt++);
            check_gemm(path, t >> 1, t & 1, m, n, k, 3, -2.0f, 1.0f, 2, salt++);
        }
        check_gemm(path, 0, 0, m, n, 0, 1, 1.0f, 0.25f, 1, salt++);
        check_gemm(path, 0, 1, tiny ? 4 : 65, tiny ? 9 : 130, tiny ? 5 : 64, tiny ? 2 : 12, 1.0f, 0.0f, 0, salt++);
        /* linear layers: every weight dtype, forward and backward-data, ragged and with padding; then
         * the weight a slice of rows at a time (a few rows per pass, the last one ragged): slices of
         * C's columns (forward) and of K accumulated with beta (backward-data), 4-bit slices starting
         * mid-block */
        const clft_dtype dts[] = {CLFT_DTYPE_F32, CLFT_DTYPE_F16, CLFT_DTYPE_BF16, CLFT_DTYPE_NF4, CLFT_DTYPE_NF4};
        for (int sliced = 0; sliced < 2; sliced++) {
            TU_OK(clft_gemm_set_slice_bytes(ctx, sliced ? (tiny ? 150 : 3000) : 0));
            for (int d = 0; d < 5; d++)
                for (int which = 0; which < 2; which++) {
                    check_linear(path, which, dts[d], d == 4, tiny ? 3 : 17, tiny ? 5 : 33, tiny ? 9 : 130, 0.0f, 0,
                                 salt++);
                    check_linear(path, which, dts[d], d == 4, tiny ? 2 : 65, tiny ? 8 : 100, tiny ? 16 : 128,
                                 sliced ? 0.5f : 1.0f, 2, salt++);
                }
        }
        TU_OK(clft_gemm_set_slice_bytes(ctx, 0));
        check_bwd_weight(path, tiny ? 5 : 65, tiny ? 3 : 33, tiny ? 7 : 100, salt++);
    }
    if (!tiny) { /* other tile shapes: K blocks of 16 (partial sums through C), 3 row tiles per item, VW 8 */
        clft_gemm_tiles t = {5, 8, 3, 3, 3, 8, 16, 3};
        TU_OK(clft_gemm_set_tiles(ctx, &t));
        for (int t2 = 0; t2 < 4; t2++) {
            check_gemm(CLFT_GEMM_TILED, t2 >> 1, t2 & 1, 65, 33, 100, 1, 0.5f, -1.5f, 3, salt++);
            check_gemm(CLFT_GEMM_TILED, t2 >> 1, t2 & 1, 17, 130, 33, 2, 1.0f, 0.0f, 1, salt++);
        }
        check_gemm(CLFT_GEMM_TILED, 0, 0, 17, 5, 0, 1, 1.0f, 0.25f, 1, salt++);
        for (int d = 0; d < 2; d++) {
            check_linear(CLFT_GEMM_TILED, 0, CLFT_DTYPE_NF4, d, 17, 33, 128, 1.0f, 1, salt++);
            check_linear(CLFT_GEMM_FUSED, 0, CLFT_DTYPE_NF4, d, 17, 33, 128, 1.0f, 1, salt++);
            check_linear(CLFT_GEMM_TILED, 0, CLFT_DTYPE_BF16, d, 17, 33, 100, 0.0f, 0, salt++);
        }
        clft_gemm_tiles dflt = {0, 0, 0, 0, 0, 0, 0, 0};
        TU_OK(clft_gemm_set_tiles(ctx, &dflt));
    }
    /* the fused 4-bit kernel: K multiple of the chunk (vector path) and ragged K (scalar path) */
    for (int dq = 0; dq < 2; dq++)
        for (int i = 0; i < nm; i++) {
            check_linear(CLFT_GEMM_FUSED, 0, CLFT_DTYPE_NF4, dq, ms[i], tiny ? 5 : 33, tiny ? 16 : 128, 0.0f, 0,
                         salt++);
            check_linear(CLFT_GEMM_FUSED, 0, CLFT_DTYPE_FP4, dq, ms[i], tiny ? 3 : 17, tiny ? 9 : 100, 1.0f, 1, salt++);
        }
    /* every 4-bit path with other block sizes: blocks of 32, 128 and 256 straddling rows (K = 96,
     * 100, 160: not multiples of the block), FP4 and NF4, with and without double quantization */
    {
        const int bss[] = {32, 128, 256};
        const clft_gemm_path q4paths[] = {CLFT_GEMM_TILED, CLFT_GEMM_FUSED, CLFT_GEMM_CLBLAST};
        for (int b = 0; b < 3; b++) {
            g_q4_blocksize = bss[b];
            for (int p = 0; p < 3; p++)
                for (int dq = 0; dq < 2; dq++) {
                    check_linear(q4paths[p], 0, dq ? CLFT_DTYPE_NF4 : CLFT_DTYPE_FP4, dq, tiny ? 3 : 9, tiny ? 5 : 40,
                                 tiny ? 24 : (b == 1 ? 100 : 96), 0.0f, 0, salt++);
                    if (!tiny) check_linear(q4paths[p], 1, CLFT_DTYPE_NF4, dq, 7, 48, 160, 1.0f, 1, salt++);
                }
        }
        g_q4_blocksize = 64;
    }
    /* HGEMM: needs cl_khr_fp16 and a probe that runs; forced, it runs wherever the probe ran (also
     * where the probe found fp16 accumulation too coarse for the measured choice); elsewhere the
     * forced path runs SGEMM. Which one ran is printed: the fp16 path of this device. */
    {
        double nmse = -1;
        const int probe = clft_gemm_hgemm_probe(ctx, &nmse);
        clft_device_info info;
        TU_OK(clft_context_device_info(ctx, &info));
        TU_CHECK(info.fp16 || probe < 0, "HGEMM runs without cl_khr_fp16");
        TU_CHECK(clft_gemm_hgemm_usable(ctx) == (probe == 1), "usable means an accurate probe");
        if (!tiny) {
            const clft_gemm_path want = probe >= 0 ? CLFT_GEMM_HGEMM : CLFT_GEMM_CLBLAST;
            for (int which = 0; which < 2; which++) {
                check_linear(CLFT_GEMM_HGEMM, which, CLFT_DTYPE_F16, 0, 17, 33, 100, 0.5f, 1, salt++);
                TU_CHECK(clft_gemm_last_path(ctx) == want, "forced hgemm (%s) ran %s (probe %d)",
                         which ? "bwd_data" : "fwd", PATHS[clft_gemm_last_path(ctx)], probe);
            }
            printf("test_gemm: fp16 %s; forced hgemm ran %s (HGEMM probe %s, NMSE %.3g)\n",
                   info.fp16 ? "cl_khr_fp16" : "none", PATHS[want],
                   probe == 1   ? "accurate: a measured candidate"
                   : probe == 0 ? "too coarse: forced only"
                                : "not run",
                   nmse);
        }
    }
    /* measured choice: decisions are taken, persisted, and results stay right */
    check_gemm(CLFT_GEMM_AUTO, 0, 1, tiny ? 3 : 65, tiny ? 8 : 100, tiny ? 8 : 128, 1, 1.0f, 0.0f, 0, salt++);
    check_linear(CLFT_GEMM_AUTO, 0, CLFT_DTYPE_NF4, 0, tiny ? 2 : 17, tiny ? 5 : 33, tiny ? 16 : 128, 0.0f, 0, salt++);
    TU_CHECK(clft_gemm_last_path(ctx) != CLFT_GEMM_AUTO, "auto ran a real path");
    if (!tiny) check_decisions_file();
    printf("test_gemm: %.1f s\n", clft_now_seconds() - t0);
    clft_context_free(ctx);
    return tu_finish("test_gemm");
}
