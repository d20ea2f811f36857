/* bench_gemv_main.c - the decoding GEMV (Y (M,N) = X (M,K) * W^T, M = 1 by default) per shape and
 * weight storage, through the GEMM layer with the GEMV path forced: microseconds per call and GB/s of
 * weight bytes read, both with the weight resident in the caches (one copy, called back to back: the
 * fixed cost per call shows) and streamed from memory (copies rotated past 256 MiB). Kernel work
 * without bench_generate's model around it. Prints JSON.
 * A shape N0+N1[+N2]xK times several weights against one X: one call per weight and one
 * clft_linear_fwd_multi (a decoding step's q, k, v and gate, up).
 *   bench_gemv [--device SPEC] [--shapes NxK|N0+N1[+N2]xK,...|smollm2]
 *              [--storage nf4,f32,bf16,f16,fp4,q8_0,q4_0,q4_1] [--m M] [--weight resident|streamed|both]
 *              [--calls N] [--reps R] [--variant V] [--nr R] [--vw W] [--mt T] [--path P]
 * Defaults: the decode shapes of the `small` preset and of a 4096-wide model, nf4 (double quantized,
 * blocks of 64), M 1, both weight placements, 50 calls per timing, best of 5. --variant/--nr/--vw/--mt:
 * clft_gemm_set_gemv_tiles (0 keeps the device default); --path: gemv (default), tiled, fused,
 * clblast, hgemm or auto. q8_0/q4_0/q4_1: native storage of GGUF blocks (ggml's reference quantizer);
 * --shapes smollm2: SmolLM2-135M's projections (576x576 q/o, 192x576 k/v, 1536x576 gate/up,
 * 576x1536 down) and its tied output head 49152x576. --m up to 4096: with --path tiled (or auto) the
 * prefill and training product; "gflops" reports 2 M N K per second next to the weight GB/s.
 * The issue 10 table: --shapes smollm2 --storage q8_0,q4_0,q4_1,nf4,bf16, once with --m 1 and once
 * with --m 512 --path tiled --weight resident --calls 2 --reps 3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/gemm.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"

#define ROTATE_BYTES (256.0 * 1048576.0)
#define MAX_COPIES   256

typedef struct gv_arg {
    clft_mat Y[CLFT_LINEAR_MULTI_MAX], X;
    const clft_weight *w; /* copies x nw weights, copy-major */
    int nw, copies, calls, multi;
    int64_t M;
} gv_arg;

static clft_status run_calls(clft_context *ctx, void *arg) {
    gv_arg *a = arg;
    for (int i = 0; i < a->calls; i++) {
        const clft_weight *w = &a->w[(size_t)(i % a->copies) * (size_t)a->nw];
        if (a->multi) {
            const clft_weight *W[CLFT_LINEAR_MULTI_MAX];
            for (int j = 0; j < a->nw; j++)
                W[j] = &w[j];
            const clft_mat X[CLFT_LINEAR_MULTI_MAX] = {a->X, a->X, a->X};
            CLFT_CHECK(clft_linear_fwd_multi(ctx, a->nw, a->Y, X, W, a->M, 1.0f, 0.0f));
        } else {
            for (int j = 0; j < a->nw; j++)
                CLFT_CHECK(clft_linear_fwd(ctx, a->Y[j], a->X, &w[j], a->M, 0.0f));
        }
    }
    return CLFT_OK;
}

/* every buffer of the weight: codes, and the scales of 4-bit and GGUF block storage (empty otherwise) */
static double weight_bytes(const clft_weight *w) {
    return (double)w->data.bytes + (double)w->absmax.bytes + (double)w->nested_absmax.bytes + (double)w->code.bytes +
           (double)w->nested_code.bytes;
}

/* the weight storage or GEMM path of a name (clft_dtype_name, clft_gemm_path_name); -1 if none */
static int parse_dtype(const char *s) {
    const clft_dtype dts[] = {CLFT_DTYPE_F32, CLFT_DTYPE_F16,  CLFT_DTYPE_BF16, CLFT_DTYPE_NF4,
                              CLFT_DTYPE_FP4, CLFT_DTYPE_Q8_0, CLFT_DTYPE_Q4_0, CLFT_DTYPE_Q4_1};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++)
        if (!strcmp(s, clft_dtype_name(dts[i]))) return (int)dts[i];
    return -1;
}
static int parse_path(const char *s) {
    for (int p = 0; p < CLFT_GEMM_PATH_COUNT; p++)
        if (!strcmp(s, clft_gemm_path_name((clft_gemm_path)p))) return p;
    return -1;
}

/* one shape (nw weights of N[j] rows, the same K) and storage: resident and streamed timings into arr,
 * of one call per weight and, for several weights, of one clft_linear_fwd_multi */
static clft_status bench_one(clft_context *ctx, clft_dtype dt, int64_t M, int nw, const int64_t *N, int64_t K,
                             int calls, int reps, int placements, cJSON *arr) {
    int64_t maxN = 0;
    for (int j = 0; j < nw; j++)
        maxN = N[j] > maxN ? N[j] : maxN;
    const size_t n = (size_t)(maxN * K);
    float *h = clft_malloc(n * 4), *hx = clft_malloc((size_t)(M * K) * 4);
    clft_weight *w = calloc((size_t)MAX_COPIES * (size_t)nw, sizeof *w);
    if (!h || !hx || !w) {
        free(h), free(hx), free(w);
        return clft_error(CLFT_STATUS_HOST_OOM, "bench_gemv: %zu floats", n);
    }
    uint32_t r = 12345u;
    for (size_t i = 0; i < n; i++)
        h[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
    for (size_t i = 0; i < (size_t)(M * K); i++)
        hx[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
    const int q4 = dt == CLFT_DTYPE_NF4 || dt == CLFT_DTYPE_FP4;
    const int gg = clft_dtype_is_ggml(dt);
    clft_q4 q[CLFT_LINEAR_MULTI_MAX];
    memset(q, 0, sizeof q);
    void *blocks[CLFT_LINEAR_MULTI_MAX] = {0}; /* GGUF blocks of weight j, as in a file */
    size_t nblk[CLFT_LINEAR_MULTI_MAX] = {0};
    clft_status st = CLFT_OK;
    for (int j = 0; st == CLFT_OK && q4 && j < nw; j++)
        st = clft_q4_quantize(h, N[j] * K, dt, 64, 1, &q[j]);
    for (int j = 0; st == CLFT_OK && gg && j < nw; j++) {
        nblk[j] = clft_ggml_row_bytes(clft_dtype_ggml_type(dt), N[j] * K);
        blocks[j] = clft_malloc(nblk[j] ? nblk[j] : 1);
        st = !nblk[j]     ? clft_error(CLFT_STATUS_INVALID_ARGUMENT, "bench_gemv: %s needs K a multiple of 32",
                                       clft_dtype_name(dt))
             : !blocks[j] ? CLFT_STATUS_HOST_OOM
                          : clft_ggml_quantize(clft_dtype_ggml_type(dt), h, N[j] * K, blocks[j]);
    }
    clft_buf X = {0}, Y[CLFT_LINEAR_MULTI_MAX] = {{0}};
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(M * K) * 4, &X);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &X, 0, hx, (size_t)(M * K) * 4);
    for (int j = 0; st == CLFT_OK && j < nw; j++)
        st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(M * N[j]) * 4, &Y[j]);
    int copies = 0;
    double wb = 0; /* bytes of one copy of the nw weights */
    while (st == CLFT_OK && copies < (placements & 2 ? MAX_COPIES : 1) && (copies == 0 || wb * copies < ROTATE_BYTES)) {
        double b = 0;
        for (int j = 0; st == CLFT_OK && j < nw; j++) {
            clft_weight *wj = &w[(size_t)copies * (size_t)nw + (size_t)j];
            st = q4   ? clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q[j], N[j], K, wj)
                 : gg ? clft_weight_upload_blocks(ctx, CLFT_MEM_WEIGHTS, dt, N[j], K, blocks[j], nblk[j], wj)
                      : clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, dt, N[j], K, h, wj);
            if (st == CLFT_OK) b += weight_bytes(wj);
        }
        if (st == CLFT_OK) copies++, wb = b;
    }
    char shape[96];
    int len = 0;
    for (int j = 0; j < nw; j++)
        len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%lld", j ? "+" : "", (long long)N[j]);
    snprintf(shape + len, sizeof shape - (size_t)len, "x%lld", (long long)K);
    for (int multi = 0; multi < (nw > 1 ? 2 : 1); multi++)
        for (int cold = 0; st == CLFT_OK && cold < 2; cold++) {
            if (!(placements & (1 << cold))) continue;
            gv_arg a = {{{0}}, {&X, 0, K}, w, nw, cold ? copies : 1, cold ? (calls > copies ? calls : copies) : calls,
                        multi, M};
            for (int j = 0; j < nw; j++)
                a.Y[j] = (clft_mat){&Y[j], 0, N[j]};
            double t = 0;
            st = bench_best_seconds(ctx, reps, run_calls, &a, &t);
            if (st != CLFT_OK) break;
            const double per = t / a.calls;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "storage", clft_dtype_name(dt));
            cJSON_AddNumberToObject(o, "M", (double)M);
            cJSON_AddStringToObject(o, "shape", shape);
            cJSON_AddStringToObject(o, "calls", multi ? "multi" : nw > 1 ? "one per weight" : "one");
            cJSON_AddStringToObject(o, "weight", cold ? "streamed" : "resident");
            cJSON_AddStringToObject(o, "path_ran", clft_gemm_path_name(clft_gemm_last_path(ctx)));
            cJSON_AddNumberToObject(o, "us", round(per * 1e7) / 10);
            cJSON_AddNumberToObject(o, "gbs", round(wb / per / 1e7) / 100);
            double flop = 0;
            for (int j = 0; j < nw; j++)
                flop += 2.0 * (double)M * (double)N[j] * (double)K;
            cJSON_AddNumberToObject(o, "gflops", round(flop / per / 1e7) / 100);
            cJSON_AddItemToArray(arr, o);
        }
    for (int c = 0; c < copies * nw; c++)
        clft_weight_free(ctx, &w[c]);
    free(w);
    clft_buf_free(ctx, &X);
    for (int j = 0; j < nw; j++) {
        clft_buf_free(ctx, &Y[j]);
        clft_q4_free(&q[j]);
        free(blocks[j]);
    }
    free(h), free(hx);
    return st;
}

int main(int argc, char **argv) {
    const char *device = NULL,
               *shapes = "768x768,256x768,2048x768,768x2048,768+256+256x768,2048+2048x768,4096x4096,"
                         "11008x4096,4096x11008",
               *storages = "nf4", *path_s = "gemv";
    int calls = 50, reps = 5, placements = 3; /* bit 0: resident, bit 1: streamed */
    int64_t M = 1;
    clft_gemv_tiles tiles = {0, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--shapes"))
            shapes = v;
        else if (!strcmp(a, "--storage"))
            storages = v;
        else if (!strcmp(a, "--m"))
            M = atoi(v);
        else if (!strcmp(a, "--calls"))
            calls = atoi(v);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v);
        else if (!strcmp(a, "--variant"))
            tiles.variant = atoi(v);
        else if (!strcmp(a, "--nr"))
            tiles.nr = atoi(v);
        else if (!strcmp(a, "--vw"))
            tiles.vw = atoi(v);
        else if (!strcmp(a, "--mt"))
            tiles.mt = atoi(v);
        else if (!strcmp(a, "--path"))
            path_s = v;
        else if (!strcmp(a, "--weight"))
            placements = !strcmp(v, "resident") ? 1 : !strcmp(v, "streamed") ? 2 : !strcmp(v, "both") ? 3 : 0;
        else
            goto usage;
        i++;
    }
    if (!strcmp(shapes, "smollm2")) shapes = "576x576,192x576,1536x576,576x1536,49152x576";
    if (M < 1 || M > 4096 || calls < 1 || reps < 1 || !placements || parse_path(path_s) < 0) goto usage;
    clft_context_params cp = clft_context_default_params();
    cp.device = device;
    clft_context *ctx = NULL;
    if (clft_context_create(&cp, &ctx) != CLFT_OK) {
        fprintf(stderr, "bench_gemv: %s\n", clft_last_error());
        return 1;
    }
    clft_status st = clft_gemm_set_path(ctx, (clft_gemm_path)parse_path(path_s));
    if (st == CLFT_OK) st = clft_gemm_set_gemv_tiles(ctx, &tiles);
    cJSON *root = cJSON_CreateObject();
    clft_device_info di;
    clft_context_device_info(ctx, &di);
    cJSON_AddStringToObject(root, "device", di.name);
    cJSON_AddStringToObject(root, "path", path_s);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    char slist[512], dlist[128];
    snprintf(dlist, sizeof dlist, "%s", storages);
    for (char *ds = NULL, *d = strtok_r(dlist, ",", &ds); st == CLFT_OK && d; d = strtok_r(NULL, ",", &ds)) {
        const int dt = parse_dtype(d);
        if (dt < 0) {
            fprintf(stderr, "bench_gemv: --storage %s: use f32, f16, bf16, nf4, fp4, q8_0, q4_0, q4_1\n", d);
            st = CLFT_STATUS_INVALID_ARGUMENT;
            break;
        }
        snprintf(slist, sizeof slist, "%s", shapes);
        for (char *ss = NULL, *s = strtok_r(slist, ",", &ss); st == CLFT_OK && s; s = strtok_r(NULL, ",", &ss)) {
            /* NxK, or N0+N1[+N2]xK: weights of the same K against one X */
            int64_t N[CLFT_LINEAR_MULTI_MAX];
            long long v = 0, K = 0;
            int nw = 0, used = 0;
            const char *c = s;
            while (nw < CLFT_LINEAR_MULTI_MAX && sscanf(c, "%lld%n", &v, &used) == 1 && v > 0) {
                N[nw++] = v;
                c += used;
                if (*c != '+') break;
                c++;
            }
            if (nw == 0 || sscanf(c, "x%lld%n", &K, &used) != 1 || c[used] != 0 || K < 1) {
                fprintf(stderr, "bench_gemv: --shapes %s: use NxK or N0+N1[+N2]xK\n", s);
                st = CLFT_STATUS_INVALID_ARGUMENT;
                break;
            }
            st = bench_one(ctx, (clft_dtype)dt, M, nw, N, K, calls, reps, placements, arr);
        }
    }
    if (st != CLFT_OK) fprintf(stderr, "bench_gemv: %s: %s\n", clft_status_string(st), clft_last_error());
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    clft_context_free(ctx);
    return st == CLFT_OK ? 0 : 1;
usage:
    fprintf(stderr,
            "usage: bench_gemv [--device SPEC] [--shapes NxK|N0+N1[+N2]xK,...|smollm2] "
            "[--storage nf4,f32,bf16,f16,fp4,q8_0,q4_0,q4_1] [--m M (1..4096)] [--weight resident|streamed|both] "
            "[--calls N] [--reps R] [--variant V] [--nr R] [--vw W] [--mt T] [--path P]\n");
    return 2;
}
