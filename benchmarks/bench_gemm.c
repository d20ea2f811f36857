/* bench_gemm.c - GEMM throughput at LLM linear-layer shapes, Y (M,N) = X (M,K) * W^T with W (N,K):
 * CLBlast and clft's own tiled kernel with an f32 W, and a 4-bit (NF4) W through the fused kernel
 * and through dequant-pack + tiled kernel. Each result is the whole layer call (packing and
 * conversion passes included) in GFLOP/s, and as a fraction of root.peak.fp32_gflops when the
 * peak section ran. Big shapes are timed once after one warm-up per (K,N) and path.
 * Sub-object "gemv" (bench_section_gemv): the decoding case M = 1, every path, in GB/s of weight
 * bytes read and as a fraction of root.peak.copy_gbs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/gemm.h"
#include "quant/quant.h"

typedef struct gemm_arg {
    clft_mat Y, X;
    const clft_weight *W;
    int64_t M;
} gemm_arg;

/* bitsandbytes' NF4 table (FORMATS.md 1.1); a local copy so the bench does not need src/quant */
static const float BENCH_NF4[16] = {-1.0f,
                                    -0.6961928009986877f,
                                    -0.5250730514526367f,
                                    -0.39491748809814453f,
                                    -0.28444138169288635f,
                                    -0.18477343022823334f,
                                    -0.09105003625154495f,
                                    0.0f,
                                    0.07958029955625534f,
                                    0.16093020141124725f,
                                    0.24611230194568634f,
                                    0.33791524171829224f,
                                    0.44070982933044434f,
                                    0.5626170039176941f,
                                    0.7229568362236023f,
                                    1.0f};

static clft_status run_linear(clft_context *ctx, void *arg) {
    gemm_arg *a = arg;
    return clft_linear_fwd(ctx, a->Y, a->X, a->W, a->M, 0.0f);
}

/* A weight (N,K) of dtype F32 or NF4 with deterministic pseudo-random contents (bench only: the
 * NF4 codes and scales are random, not a quantization of anything). */
static clft_status make_weight(clft_context *ctx, clft_dtype dt, int64_t N, int64_t K, clft_weight *w) {
    memset(w, 0, sizeof *w);
    w->dtype = dt;
    w->rows = N;
    w->cols = K;
    const size_t n = (size_t)N * (size_t)K;
    uint32_t s = 12345u;
    if (dt == CLFT_DTYPE_F32) {
        float *h = clft_malloc(n * 4);
        if (!h) return CLFT_STATUS_HOST_OOM;
        for (size_t i = 0; i < n; i++)
            h[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
        clft_status st = clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, n * 4, &w->data);
        if (st == CLFT_OK) st = clft_buf_write(ctx, &w->data, 0, h, n * 4);
        free(h);
        return st;
    }
    const int bs = 64;
    const size_t nb = (n + bs - 1) / bs;
    uint8_t *p = clft_malloc((n + 1) / 2);
    float *am = clft_malloc(nb * 4);
    clft_status st = (p && am) ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; st == CLFT_OK && i < (n + 1) / 2; i++)
        p[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    for (size_t i = 0; st == CLFT_OK && i < nb; i++)
        am[i] = 0.01f + (float)(i % 7) * 0.001f;
    w->blocksize = bs;
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, (n + 1) / 2, &w->data);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w->data, 0, p, (n + 1) / 2);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, 64, &w->code);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w->code, 0, BENCH_NF4, 64);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, nb * 4, &w->absmax);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w->absmax, 0, am, nb * 4);
    free(p);
    free(am);
    return st;
}

static void free_weight(clft_context *ctx, clft_weight *w) {
    clft_buf_free(ctx, &w->data);
    clft_buf_free(ctx, &w->code);
    clft_buf_free(ctx, &w->absmax);
}

/* Time `reps` runs (best of), after a warm-up run when `warm`. */
static clft_status time_runs(clft_context *ctx, gemm_arg *a, int warm, int reps, double *best) {
    *best = 1e30;
    if (warm) {
        CLFT_CHECK(run_linear(ctx, a));
        CLFT_CHECK(clft_context_finish(ctx));
    }
    for (int r = 0; r < reps; r++) {
        double t0 = clft_now_seconds();
        CLFT_CHECK(run_linear(ctx, a));
        CLFT_CHECK(clft_context_finish(ctx));
        double dt = clft_now_seconds() - t0;
        if (dt < *best) *best = dt;
    }
    return CLFT_OK;
}

static void add_result(cJSON *arr, const char *variant, clft_context *ctx, int64_t M, int64_t K, int64_t N, double t,
                       double peak_gflops) {
    const double gf = 2.0 * (double)M * (double)N * (double)K / t / 1e9;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "variant", variant);
    cJSON_AddStringToObject(r, "path_ran", clft_gemm_path_name(clft_gemm_last_path(ctx)));
    cJSON_AddNumberToObject(r, "M", (double)M);
    cJSON_AddNumberToObject(r, "K", (double)K);
    cJSON_AddNumberToObject(r, "N", (double)N);
    cJSON_AddNumberToObject(r, "ms", t * 1e3);
    cJSON_AddNumberToObject(r, "gflops", gf);
    if (peak_gflops > 0) cJSON_AddNumberToObject(r, "fraction_of_peak", gf / peak_gflops);
    cJSON_AddItemToArray(arr, r);
}

clft_status bench_section_gemm(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    static const int64_t full_M[] = {512, 2048},
                         full_KN[][2] = {{2048, 2048}, {4096, 4096}, {4096, 11008}, {11008, 4096}};
    static const int64_t quick_M[] = {64}, quick_KN[][2] = {{256, 256}};
    const int64_t *Ms = o->quick ? quick_M : full_M;
    const int64_t(*KN)[2] = o->quick ? quick_KN : full_KN;
    const int nM = o->quick ? 1 : 2, nKN = o->quick ? 1 : 4;
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "peak"), "fp32_gflops");
    const double peak_gflops = cJSON_IsNumber(peak) ? peak->valuedouble : 0.0;
    int64_t maxM = 0, maxK = 0, maxN = 0;
    for (int i = 0; i < nM; i++)
        maxM = Ms[i] > maxM ? Ms[i] : maxM;
    for (int i = 0; i < nKN; i++) {
        maxK = KN[i][0] > maxK ? KN[i][0] : maxK;
        maxN = KN[i][1] > maxN ? KN[i][1] : maxN;
    }
    clft_buf X = {0}, Y = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(maxM * maxK) * 4, &X);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(maxM * maxN) * 4, &Y);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &X);
    cJSON *arr = cJSON_AddArrayToObject(out, "results");
    static const struct {
        const char *name;
        clft_dtype dt;
        clft_gemm_path path;
    } VARIANTS[] = {{"clblast_f32", CLFT_DTYPE_F32, CLFT_GEMM_CLBLAST},
                    {"tiled_f32", CLFT_DTYPE_F32, CLFT_GEMM_TILED},
                    {"fused_nf4", CLFT_DTYPE_NF4, CLFT_GEMM_FUSED},
                    {"tiled_nf4", CLFT_DTYPE_NF4, CLFT_GEMM_TILED}};
    double best_target = 0.0; /* best path at M=2048, K=N=4096 */
    for (int s = 0; st == CLFT_OK && s < nKN; s++) {
        const int64_t K = KN[s][0], N = KN[s][1];
        for (size_t v = 0; st == CLFT_OK && v < sizeof VARIANTS / sizeof VARIANTS[0]; v++) {
            clft_weight w;
            st = make_weight(ctx, VARIANTS[v].dt, N, K, &w);
            if (st == CLFT_OK) st = clft_gemm_set_path(ctx, VARIANTS[v].path);
            for (int m = 0; st == CLFT_OK && m < nM; m++) {
                const int64_t M = Ms[m];
                gemm_arg a = {{&Y, 0, N}, {&X, 0, K}, &w, M};
                const double flops = 2.0 * (double)M * (double)N * (double)K;
                /* reps (best of): all for the tiled path and small problems, one for big problems on
                 * the slow paths (CLBlast ~10-20 s each on a 2-core CPU) */
                int reps = flops > 2e10 && VARIANTS[v].path != CLFT_GEMM_TILED ? 1 : (o->reps > 0 ? o->reps : 1);
                if (o->quick && reps > 2) reps = 2;
                double t = 0;
                st = time_runs(ctx, &a, m == 0, reps, &t);
                if (st != CLFT_OK) break;
                const double gf = flops / t / 1e9;
                add_result(arr, VARIANTS[v].name, ctx, M, K, N, t, peak_gflops);
                if (M == 2048 && K == 4096 && N == 4096 && gf > best_target) best_target = gf;
            }
            free_weight(ctx, &w);
        }
    }
    /* few tokens (M = 16): where the fused 4-bit kernel, which never expands W, is meant to win */
    for (size_t v = 2; st == CLFT_OK && !o->quick && v < 4; v++) {
        const int64_t M = 16, K = 4096, N = 4096;
        clft_weight w;
        st = make_weight(ctx, VARIANTS[v].dt, N, K, &w);
        if (st == CLFT_OK) st = clft_gemm_set_path(ctx, VARIANTS[v].path);
        gemm_arg a = {{&Y, 0, N}, {&X, 0, K}, &w, M};
        double t = 0;
        if (st == CLFT_OK) st = time_runs(ctx, &a, 1, o->reps > 0 ? o->reps : 1, &t);
        if (st == CLFT_OK) add_result(arr, VARIANTS[v].name, ctx, M, K, N, t, peak_gflops);
        free_weight(ctx, &w);
    }
    clft_gemm_set_path(ctx, CLFT_GEMM_AUTO);
    if (st == CLFT_OK && !o->quick) cJSON_AddNumberToObject(out, "best_gflops_M2048_K4096_N4096", best_target);
    clft_buf_free(ctx, &X);
    clft_buf_free(ctx, &Y);
    if (st == CLFT_OK) st = bench_section_gemv(ctx, o, root, cJSON_AddObjectToObject(out, "gemv"));
    return st;
}

/* ---- decoding: M = 1 ------------------------------------------------------------------------ */

/* Copies of one weight, called in turn so that the timed calls read weights the previous calls did
 * not leave in the cache (decoding reads every layer's weights once per token): at least
 * GEMV_ROTATE_BYTES in all (4x a 32 MiB last-level cache), at most GEMV_MAX_COPIES copies. */
#define GEMV_ROTATE_BYTES ((double)(128 << 20))
#define GEMV_MAX_COPIES   32

typedef struct gemv_arg {
    clft_mat Y, X;
    clft_weight *w; /* copies */
    int copies;
} gemv_arg;

static clft_status run_gemv_copies(clft_context *ctx, void *arg) {
    gemv_arg *a = arg;
    for (int c = 0; c < a->copies; c++)
        CLFT_CHECK(clft_linear_fwd(ctx, a->Y, a->X, &a->w[c], 1, 0.0f));
    return CLFT_OK;
}

/* Bytes a linear forward reads of W: elements, or packed codes + absmax (u8) + nested absmax. */
static double weight_bytes(const clft_weight *w) {
    const double n = (double)w->rows * (double)w->cols;
    if (w->dtype == CLFT_DTYPE_F32) return 4.0 * n;
    if (w->dtype == CLFT_DTYPE_BF16 || w->dtype == CLFT_DTYPE_F16) return 2.0 * n;
    const double nb = ceil(n / w->blocksize);
    return ceil(n / 2.0) + (w->double_quant ? nb + 4.0 * ceil(nb / w->nested_blocksize) : 4.0 * nb);
}

clft_status bench_section_gemv(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    static const int64_t full_NK[][2] = {{576, 576},   {1536, 576},   {576, 1536},
                                         {4096, 4096}, {11008, 4096}, {4096, 11008}};
    static const int64_t quick_NK[][2] = {{576, 576}, {1536, 576}};
    const int64_t(*NK)[2] = o->quick ? quick_NK : full_NK;
    const int nNK = o->quick ? 2 : 6;
    static const struct {
        const char *name;
        clft_dtype dt;
    } DTYPES[] = {{"f32", CLFT_DTYPE_F32}, {"bf16", CLFT_DTYPE_BF16}, {"nf4_dq", CLFT_DTYPE_NF4}};
    static const clft_gemm_path PATHS[] = {CLFT_GEMM_GEMV, CLFT_GEMM_TILED, CLFT_GEMM_FUSED, CLFT_GEMM_CLBLAST};
    const cJSON *copy = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "peak"), "copy_gbs");
    const double copy_gbs = cJSON_IsNumber(copy) ? copy->valuedouble : 0.0;
    if (copy_gbs > 0) cJSON_AddNumberToObject(out, "copy_gbs", copy_gbs);
    cJSON_AddNumberToObject(out, "M", 1);
    cJSON_AddNumberToObject(out, "rotate_bytes", GEMV_ROTATE_BYTES);
    cJSON *arr = cJSON_AddArrayToObject(out, "results");
    int64_t maxN = 0, maxK = 0;
    for (int i = 0; i < nNK; i++) {
        maxN = NK[i][0] > maxN ? NK[i][0] : maxN;
        maxK = NK[i][1] > maxK ? NK[i][1] : maxK;
    }
    clft_buf X = {0}, Y = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)maxK * 4, &X);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)maxN * 4, &Y);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &X);
    double worst = -1; /* smallest fraction of copy_gbs of the GEMV path, 4096-class shapes, bf16 and NF4 */
    for (int s = 0; st == CLFT_OK && s < nNK; s++) {
        const int64_t N = NK[s][0], K = NK[s][1];
        const size_t n = (size_t)(N * K);
        float *h = clft_malloc(n * 4);
        if (!h) st = clft_error(CLFT_STATUS_HOST_OOM, "bench gemv: %zu floats", n);
        uint32_t r = 12345u;
        for (size_t i = 0; st == CLFT_OK && i < n; i++)
            h[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
        for (size_t d = 0; st == CLFT_OK && d < sizeof DTYPES / sizeof DTYPES[0]; d++) {
            clft_q4 q;
            memset(&q, 0, sizeof q);
            if (DTYPES[d].dt == CLFT_DTYPE_NF4) st = clft_q4_quantize(h, (int64_t)n, CLFT_DTYPE_NF4, 64, 1, &q);
            clft_weight w[GEMV_MAX_COPIES];
            memset(w, 0, sizeof w);
            int copies = 0;
            double wb = 0;
            while (st == CLFT_OK && copies < GEMV_MAX_COPIES && (copies == 0 || wb * copies < GEMV_ROTATE_BYTES)) {
                st = DTYPES[d].dt == CLFT_DTYPE_NF4
                         ? clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, N, K, &w[copies])
                         : clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, DTYPES[d].dt, N, K, h, &w[copies]);
                if (st == CLFT_OK) wb = weight_bytes(&w[copies++]);
            }
            clft_q4_free(&q);
            for (size_t pi = 0; st == CLFT_OK && pi < sizeof PATHS / sizeof PATHS[0]; pi++) {
                const clft_gemm_path path = PATHS[pi];
                if (path == CLFT_GEMM_FUSED && DTYPES[d].dt != CLFT_DTYPE_NF4) continue;
                gemv_arg a = {{&Y, 0, N}, {&X, 0, K}, w, copies};
                double t = 0;
                st = clft_gemm_set_path(ctx, path);
                if (st == CLFT_OK) st = bench_best_seconds(ctx, o->reps > 0 ? o->reps : 1, run_gemv_copies, &a, &t);
                if (st != CLFT_OK) break;
                const double per = t / copies, gbs = wb / per / 1e9;
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "dtype", DTYPES[d].name);
                cJSON_AddStringToObject(j, "path", clft_gemm_path_name(path));
                cJSON_AddStringToObject(j, "path_ran", clft_gemm_path_name(clft_gemm_last_path(ctx)));
                cJSON_AddNumberToObject(j, "N", (double)N);
                cJSON_AddNumberToObject(j, "K", (double)K);
                cJSON_AddNumberToObject(j, "weight_bytes", wb);
                cJSON_AddNumberToObject(j, "copies", copies);
                cJSON_AddNumberToObject(j, "us", per * 1e6);
                cJSON_AddNumberToObject(j, "gbs", gbs);
                if (copy_gbs > 0) {
                    cJSON_AddNumberToObject(j, "fraction_of_copy", gbs / copy_gbs);
                    if (path == CLFT_GEMM_GEMV && DTYPES[d].dt != CLFT_DTYPE_F32 && N >= 4096 && K >= 4096 &&
                        (worst < 0 || gbs / copy_gbs < worst))
                        worst = gbs / copy_gbs;
                }
                cJSON_AddItemToArray(arr, j);
            }
            for (int c = 0; c < copies; c++)
                clft_weight_free(ctx, &w[c]);
        }
        free(h);
    }
    clft_gemm_set_path(ctx, CLFT_GEMM_AUTO);
    if (worst >= 0) {
        /* the headline: GEMV with a bf16 or double-quantized NF4 weight, 4096-class shapes, worst case */
        cJSON_AddNumberToObject(out, "fraction_of_copy", worst);
        cJSON_AddNumberToObject(out, "target_fraction", 0.60);
    }
    clft_buf_free(ctx, &X);
    clft_buf_free(ctx, &Y);
    return st;
}
