/* bench_gemm.c - GEMM throughput at LLM linear-layer shapes, Y (M,N) = X (M,K) * W^T with W (N,K):
 * every path (tiled, clblast, fused for 4-bit and GGUF-block weights, hgemm for f16 where the device
 * has it, gemv for few rows) per weight storage (f32, bf16, f16, nf4, q8_0, q4_0, q4_1) at SmolLM2-135M
 * and Llama-7B projection shapes with M = 256 tokens (--quick: small shapes, M = 32). Each result is
 * the whole layer call (packing and conversion passes included) from enqueue to completion, in
 * GFLOP/s, and as a fraction of the fp32 FMA limit the device section measured in the same process.
 * Sub-object "gemv" (bench_section_gemv): the decoding case M = 1, every path, in GB/s of weight
 * bytes read and as a fraction of the copy limit. bench_weight_make builds the weights of any
 * storage for these and the dequantization section (bench_nf4.c). */
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

static clft_status run_linear(clft_context *ctx, void *arg) {
    gemm_arg *a = arg;
    return clft_linear_fwd(ctx, a->Y, a->X, a->W, a->M, 0.0f);
}

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

clft_status bench_weight_make(clft_context *ctx, clft_dtype dt, int64_t N, int64_t K, int double_quant,
                              clft_weight *w) {
    memset(w, 0, sizeof *w);
    const size_t n = (size_t)N * (size_t)K;
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    clft_status st = CLFT_OK;
    if (dt == CLFT_DTYPE_F32 || dt == CLFT_DTYPE_BF16 || dt == CLFT_DTYPE_F16) {
        float *h = malloc(n * sizeof *h);
        if (!h) return clft_error(CLFT_STATUS_HOST_OOM, "bench: %zu floats of host memory", n);
        for (size_t i = 0; i < n; i++)
            h[i] = (float)(xorshift(&s) >> 40) * (1.0f / 16777216.0f) - 0.5f;
        st = clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, dt, N, K, h, w);
        free(h);
        return st;
    }
    if (clft_dtype_is_ggml(dt)) { /* random codes, scales a small normal f16 (0x2000) */
        size_t codes = 0, scales = 0;
        clft_weight_ggml_bytes(dt, N, K, &codes, &scales);
        const size_t nb = n / 32, ns = dt == CLFT_DTYPE_Q4_1 ? 4 : 2, bb = (codes + scales) / nb;
        uint8_t *b = malloc(codes + scales);
        if (!b) return clft_error(CLFT_STATUS_HOST_OOM, "bench: %zu bytes of host memory", codes + scales);
        for (size_t i = 0; i < nb; i++) {
            uint8_t *blk = b + i * bb;
            for (size_t j = 0; j < ns; j += 2) {
                blk[j] = 0x00;
                blk[j + 1] = 0x20;
            }
            for (size_t j = ns; j < bb; j++)
                blk[j] = (uint8_t)(xorshift(&s) >> 32);
        }
        st = clft_weight_upload_blocks(ctx, CLFT_MEM_WEIGHTS, dt, N, K, b, codes + scales, w);
        free(b);
        return st;
    }
    /* NF4 in the bitsandbytes layout, blocksize 64: random packed codes and statistics (speed does
     * not depend on the values; quantizing 45M values on the host would only slow the bench down) */
    clft_q4 q;
    memset(&q, 0, sizeof q);
    q.type = CLFT_DTYPE_NF4;
    q.numel = (int64_t)n;
    q.blocksize = 64;
    q.nblocks = (q.numel + 63) / 64;
    q.double_quant = double_quant;
    q.nested_blocksize = 256;
    q.nested_offset = 0.02f;
    memcpy(q.code, CLFT_NF4_CODE, sizeof q.code);
    clft_dynamic_map_signed(q.nested_code);
    const size_t npacked = (n + 1) / 2, nb = (size_t)q.nblocks, nn = (nb + 255) / 256;
    q.packed = malloc(npacked);
    q.absmax = double_quant ? NULL : malloc(nb * sizeof(float));
    q.qabsmax = double_quant ? malloc(nb) : NULL;
    q.nested_absmax = double_quant ? malloc(nn * sizeof(float)) : NULL;
    if (!q.packed || (double_quant ? (!q.qabsmax || !q.nested_absmax) : !q.absmax)) {
        st = clft_error(CLFT_STATUS_HOST_OOM, "bench nf4: out of host memory");
    } else {
        for (size_t i = 0; i < npacked; i++)
            q.packed[i] = (uint8_t)(xorshift(&s) >> 32);
        for (size_t b = 0; b < nb; b++) {
            if (double_quant)
                q.qabsmax[b] = q.packed[b];
            else
                q.absmax[b] = 0.01f + 0.001f * (float)(q.packed[b] & 15);
        }
        for (size_t b = 0; double_quant && b < nn; b++)
            q.nested_absmax[b] = 0.01f;
        st = clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, N, K, w);
    }
    clft_q4_free(&q);
    return st;
}

/* Bytes a linear forward reads of W: elements, packed codes + statistics, or GGUF blocks. */
double bench_weight_bytes(const clft_weight *w) {
    const double n = (double)w->rows * (double)w->cols;
    if (w->dtype == CLFT_DTYPE_F32) return 4.0 * n;
    if (w->dtype == CLFT_DTYPE_BF16 || w->dtype == CLFT_DTYPE_F16) return 2.0 * n;
    if (clft_dtype_is_ggml(w->dtype)) {
        size_t codes = 0, scales = 0;
        clft_weight_ggml_bytes(w->dtype, w->rows, w->cols, &codes, &scales);
        return (double)(codes + scales);
    }
    const double nb = ceil(n / w->blocksize);
    return ceil(n / 2.0) + (w->double_quant ? nb + 4.0 * ceil(nb / w->nested_blocksize) : 4.0 * nb);
}

const clft_dtype BENCH_STORAGES[BENCH_NSTORAGES] = {CLFT_DTYPE_F32,  CLFT_DTYPE_BF16, CLFT_DTYPE_F16, CLFT_DTYPE_NF4,
                                                    CLFT_DTYPE_Q8_0, CLFT_DTYPE_Q4_0, CLFT_DTYPE_Q4_1};

/* The paths worth timing for a storage type (fused: 4-bit and GGUF blocks; hgemm: f16 where it runs). */
static int path_applies(clft_context *ctx, clft_gemm_path path, clft_dtype dt, int64_t M) {
    const int q = dt == CLFT_DTYPE_NF4 || clft_dtype_is_ggml(dt);
    if (path == CLFT_GEMM_FUSED) return q;
    if (path == CLFT_GEMM_HGEMM) return dt == CLFT_DTYPE_F16 && clft_gemm_hgemm_probe(ctx, NULL) >= 0;
    if (path == CLFT_GEMM_GEMV) return M <= CLFT_GEMV_MAX_M;
    return 1;
}

clft_status bench_section_gemm(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    (void)root;
    static const int64_t full_KN[][2] = {{576, 576},   {576, 1536},   {1536, 576},
                                         {4096, 4096}, {4096, 11008}, {11008, 4096}};
    static const char *const full_names[] = {"smollm2 q/o", "smollm2 gate/up", "smollm2 down",
                                             "llama7b q/o", "llama7b gate/up", "llama7b down"};
    static const int64_t quick_KN[][2] = {{256, 256}, {256, 512}};
    static const char *const quick_names[] = {"small", "small up"};
    const int64_t(*KN)[2] = o->quick ? quick_KN : full_KN;
    const char *const *names = o->quick ? quick_names : full_names;
    const int nKN = o->quick ? 2 : 6;
    const int64_t Ms[] = {o->quick ? 32 : 256, 8}; /* prompt-sized, and few rows (the gemv path) */
    int64_t maxK = 0, maxN = 0;
    for (int i = 0; i < nKN; i++) {
        maxK = KN[i][0] > maxK ? KN[i][0] : maxK;
        maxN = KN[i][1] > maxN ? KN[i][1] : maxN;
    }
    clft_buf X = {0}, Y = {0};
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(Ms[0] * maxK) * 4, &X);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(Ms[0] * maxN) * 4, &Y);
    if (st == CLFT_OK) st = clft_buf_fill_zero(ctx, &X);
    cJSON *arr = cJSON_AddArrayToObject(out, "results");
    static const clft_gemm_path PATHS[] = {CLFT_GEMM_TILED, CLFT_GEMM_CLBLAST, CLFT_GEMM_FUSED, CLFT_GEMM_HGEMM,
                                           CLFT_GEMM_GEMV};
    for (int sh = 0; st == CLFT_OK && sh < nKN; sh++) {
        const int64_t K = KN[sh][0], N = KN[sh][1];
        for (int d = 0; st == CLFT_OK && d < BENCH_NSTORAGES; d++) {
            const clft_dtype dt = BENCH_STORAGES[d];
            clft_weight w;
            st = bench_weight_make(ctx, dt, N, K, 1, &w);
            for (size_t pi = 0; st == CLFT_OK && pi < sizeof PATHS / sizeof PATHS[0]; pi++) {
                const clft_gemm_path path = PATHS[pi];
                const int64_t M = path == CLFT_GEMM_GEMV ? Ms[1] : Ms[0];
                if (!path_applies(ctx, path, dt, M)) continue;
                gemm_arg a = {{&Y, 0, N}, {&X, 0, K}, &w, M};
                const double gflop = 2.0 * (double)M * (double)N * (double)K / 1e9;
                /* big problems on the slow paths (CLBlast on a CPU: seconds each) get fewer runs */
                int reps = o->reps > 0 ? o->reps : 1;
                if (gflop > 10 && path == CLFT_GEMM_CLBLAST && reps > 2) reps = 2;
                bench_stats secs;
                st = clft_gemm_set_path(ctx, path);
                if (st == CLFT_OK) st = bench_time(ctx, 1, reps, 0, run_linear, &a, &secs);
                if (st != CLFT_OK) break;
                const bench_stats r = bench_rate(secs, gflop);
                const char *ran = clft_gemm_path_name(clft_gemm_last_path(ctx));
                char name[128];
                snprintf(name, sizeof name, "gemm %s %s %s M%lld N%lld K%lld", clft_gemm_path_name(path),
                         clft_dtype_name(dt), names[sh], (long long)M, (long long)N, (long long)K);
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "name", name);
                cJSON_AddStringToObject(j, "path_ran", ran);
                cJSON_AddNumberToObject(j, "gflops", r.median);
                cJSON_AddItemToArray(arr, j);
                if (o->report) {
                    cJSON *e = bench_entry_add(o->report, name, "gemm", "GFLOP/s", r, "fp32_gflops", &secs);
                    if (e) {
                        cJSON_AddStringToObject(e, "path", clft_gemm_path_name(path));
                        cJSON_AddStringToObject(e, "path_ran", ran);
                        cJSON_AddStringToObject(e, "storage", clft_dtype_name(dt));
                        cJSON_AddNumberToObject(e, "M", (double)M);
                        cJSON_AddNumberToObject(e, "N", (double)N);
                        cJSON_AddNumberToObject(e, "K", (double)K);
                    }
                }
            }
            clft_weight_free(ctx, &w);
        }
    }
    clft_gemm_set_path(ctx, CLFT_GEMM_AUTO);
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
    const double copy_gbs = bench_json_num(cJSON_GetObjectItemCaseSensitive(root, "peak"), "copy_gbs", 0.0);
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
                if (st == CLFT_OK) wb = bench_weight_bytes(&w[copies++]);
            }
            clft_q4_free(&q);
            for (size_t pi = 0; st == CLFT_OK && pi < sizeof PATHS / sizeof PATHS[0]; pi++) {
                const clft_gemm_path path = PATHS[pi];
                if (path == CLFT_GEMM_FUSED && DTYPES[d].dt != CLFT_DTYPE_NF4) continue;
                gemv_arg a = {{&Y, 0, N}, {&X, 0, K}, w, copies};
                bench_stats secs;
                st = clft_gemm_set_path(ctx, path);
                if (st == CLFT_OK) st = bench_time(ctx, 1, o->reps > 0 ? o->reps : 1, 0, run_gemv_copies, &a, &secs);
                if (st != CLFT_OK) break;
                const double per = secs.min / copies, gbs = wb / per / 1e9;
                if (o->report) {
                    char name[128];
                    snprintf(name, sizeof name, "gemv M1 %s %s N%lld K%lld (weights streamed)",
                             clft_gemm_path_name(path), DTYPES[d].name, (long long)N, (long long)K);
                    cJSON *e = bench_entry_add(o->report, name, "gemv", "GB/s", bench_rate(secs, wb * copies / 1e9),
                                               "copy_gbs", NULL);
                    if (e) cJSON_AddStringToObject(e, "path_ran", clft_gemm_path_name(clft_gemm_last_path(ctx)));
                }
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
