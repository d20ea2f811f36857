/* bench_gemv_main.c - the decoding GEMV (Y (M,N) = X (M,K) * W^T, M = 1 by default) per shape and
 * weight storage, through the GEMM layer with the GEMV path forced: microseconds per call and GB/s of
 * weight bytes read, both with the weight resident in the caches (one copy, called back to back: the
 * fixed cost per call shows) and streamed from memory (copies rotated past 256 MiB). Kernel work
 * without bench_generate's model around it. Prints JSON.
 *   bench_gemv [--device SPEC] [--shapes NxK,...] [--storage nf4,f32,bf16,f16,fp4] [--m M]
 *              [--calls N] [--reps R] [--variant V] [--nr R] [--vw W] [--mt T] [--path P]
 * Defaults: the decode shapes of the `small` preset and of a 4096-wide model, nf4 (double quantized,
 * blocks of 64), 50 calls per timing, best of 5. --variant/--nr/--vw/--mt: clft_gemm_set_gemv_tiles
 * (0 keeps the device default); --path: gemv (default), tiled, fused, clblast, hgemm or auto. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/gemm.h"
#include "quant/quant.h"

#define ROTATE_BYTES (256.0 * 1048576.0)
#define MAX_COPIES   256

typedef struct gv_arg {
    clft_mat Y, X;
    const clft_weight *w;
    int copies, calls;
    int64_t M;
} gv_arg;

static clft_status run_calls(clft_context *ctx, void *arg) {
    gv_arg *a = arg;
    for (int i = 0; i < a->calls; i++)
        CLFT_CHECK(clft_linear_fwd(ctx, a->Y, a->X, &a->w[i % a->copies], a->M, 0.0f));
    return CLFT_OK;
}

static double weight_bytes(const clft_weight *w) {
    double b = (double)w->data.bytes;
    if (w->dtype == CLFT_DTYPE_NF4 || w->dtype == CLFT_DTYPE_FP4)
        b += (double)w->absmax.bytes + (double)w->nested_absmax.bytes + (double)w->code.bytes +
             (double)w->nested_code.bytes;
    return b;
}

/* the weight storage or GEMM path of a name (clft_dtype_name, clft_gemm_path_name); -1 if none */
static int parse_dtype(const char *s) {
    const clft_dtype dts[] = {CLFT_DTYPE_F32, CLFT_DTYPE_F16, CLFT_DTYPE_BF16, CLFT_DTYPE_NF4, CLFT_DTYPE_FP4};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++)
        if (!strcmp(s, clft_dtype_name(dts[i]))) return (int)dts[i];
    return -1;
}
static int parse_path(const char *s) {
    for (int p = 0; p < CLFT_GEMM_PATH_COUNT; p++)
        if (!strcmp(s, clft_gemm_path_name((clft_gemm_path)p))) return p;
    return -1;
}

/* one shape and storage: resident and streamed timings into arr */
static clft_status bench_one(clft_context *ctx, clft_dtype dt, int64_t M, int64_t N, int64_t K, int calls, int reps,
                             cJSON *arr) {
    const size_t n = (size_t)(N * K);
    float *h = clft_malloc(n * 4), *hx = clft_malloc((size_t)(M * K) * 4);
    if (!h || !hx) {
        free(h), free(hx);
        return clft_error(CLFT_STATUS_HOST_OOM, "bench_gemv: %zu floats", n);
    }
    uint32_t r = 12345u;
    for (size_t i = 0; i < n; i++)
        h[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
    for (size_t i = 0; i < (size_t)(M * K); i++)
        hx[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) * (1.0f / 16777216.0f) - 0.5f;
    const int q4 = dt == CLFT_DTYPE_NF4 || dt == CLFT_DTYPE_FP4;
    clft_q4 q;
    memset(&q, 0, sizeof q);
    clft_status st = q4 ? clft_q4_quantize(h, (int64_t)n, dt, 64, 1, &q) : CLFT_OK;
    clft_weight *w = calloc(MAX_COPIES, sizeof *w);
    clft_buf X = {0}, Y = {0};
    if (!w) st = CLFT_STATUS_HOST_OOM;
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(M * K) * 4, &X);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &X, 0, hx, (size_t)(M * K) * 4);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)(M * N) * 4, &Y);
    int copies = 0;
    double wb = 0;
    while (st == CLFT_OK && copies < MAX_COPIES && (copies == 0 || wb * copies < ROTATE_BYTES)) {
        st = q4 ? clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, N, K, &w[copies])
                : clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, dt, N, K, h, &w[copies]);
        if (st == CLFT_OK) wb = weight_bytes(&w[copies++]);
    }
    for (int cold = 0; st == CLFT_OK && cold < 2; cold++) {
        gv_arg a = {{&Y, 0, N}, {&X, 0, K}, w, cold ? copies : 1, cold ? (calls > copies ? calls : copies) : calls, M};
        double t = 0;
        st = bench_best_seconds(ctx, reps, run_calls, &a, &t);
        if (st != CLFT_OK) break;
        const double per = t / a.calls;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "storage", clft_dtype_name(dt));
        cJSON_AddNumberToObject(j, "M", (double)M);
        cJSON_AddNumberToObject(j, "N", (double)N);
        cJSON_AddNumberToObject(j, "K", (double)K);
        cJSON_AddStringToObject(j, "weight", cold ? "streamed" : "resident");
        cJSON_AddStringToObject(j, "path_ran", clft_gemm_path_name(clft_gemm_last_path(ctx)));
        cJSON_AddNumberToObject(j, "us", round(per * 1e7) / 10);
        cJSON_AddNumberToObject(j, "gbs", round(wb / per / 1e7) / 100);
        cJSON_AddItemToArray(arr, j);
    }
    for (int c = 0; c < copies; c++)
        clft_weight_free(ctx, &w[c]);
    free(w);
    clft_buf_free(ctx, &X);
    clft_buf_free(ctx, &Y);
    clft_q4_free(&q);
    free(h), free(hx);
    return st;
}

int main(int argc, char **argv) {
    const char *device = NULL, *shapes = "768x768,256x768,2048x768,768x2048,4096x4096,11008x4096,4096x11008",
               *storages = "nf4", *path_s = "gemv";
    int calls = 50, reps = 5;
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
        else
            goto usage;
        i++;
    }
    if (M < 1 || M > 256 || calls < 1 || reps < 1 || parse_path(path_s) < 0) goto usage;
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
            fprintf(stderr, "bench_gemv: --storage %s: use f32, f16, bf16, nf4, fp4\n", d);
            st = CLFT_STATUS_INVALID_ARGUMENT;
            break;
        }
        snprintf(slist, sizeof slist, "%s", shapes);
        for (char *ss = NULL, *s = strtok_r(slist, ",", &ss); st == CLFT_OK && s; s = strtok_r(NULL, ",", &ss)) {
            long long N = 0, K = 0;
            if (sscanf(s, "%lldx%lld", &N, &K) != 2 || N < 1 || K < 1) {
                fprintf(stderr, "bench_gemv: --shapes %s: use NxK\n", s);
                st = CLFT_STATUS_INVALID_ARGUMENT;
                break;
            }
            st = bench_one(ctx, (clft_dtype)dt, M, N, K, calls, reps, arr);
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
    fprintf(stderr, "usage: bench_gemv [--device SPEC] [--shapes NxK,...] [--storage nf4,f32,bf16,f16,fp4] [--m M] "
                    "[--calls N] [--reps R] [--variant V] [--nr R] [--vw W] [--mt T] [--path P]\n");
    return 2;
}
