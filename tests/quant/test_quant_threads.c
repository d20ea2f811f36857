/* test_quant_threads.c - the threaded host quantization (src/quant) gives the same bytes for every
 * thread count: clft_q4_quantize_threads and clft_q4_dequantize_threads with 2, 3, 7, 16 threads and
 * the automatic count against a forced single thread, on ragged sizes (tails, odd numel, several
 * nested blocks), every block size, NF4 and FP4, double quantization off and in both nested modes,
 * with NaN, infinities, zeros, subnormals and all-zero blocks in the input. The single-thread 4-bit
 * result is also checked against a plain transcription of the rules at the top of quant.c (binary
 * search on the clamped value), and several callers quantizing at once get what they get alone. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "tutil.h"

static const int BLOCKSIZES[] = {32, 64, 128, 256, 512, 1024, 2048, 4096};
static const int THREADS[] = {2, 3, 7, 16, 0};

/* seeded values: normal with a per-block scale, some blocks all zero, specials sprinkled in */
static void fill(tu_rng *r, float *x, int64_t n, int specials) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t blk = i / 32;
        const float scale = (float)(1 + blk % 5) * 0.02f;
        x[i] = (blk % 11 == 3) ? 0.0f : tu_normal(r) * scale;
        if (!specials) continue;
        const uint64_t u = tu_next(r) % 512;
        if (u == 0) x[i] = NAN;
        if (u == 1) x[i] = INFINITY;
        if (u == 2) x[i] = -INFINITY;
        if (u == 3) x[i] = -0.0f;
        if (u == 4) x[i] = 1e-39f; /* subnormal */
        if (u == 5) x[i] = -3e-41f;
    }
}

/* ---- a plain transcription of the 4-bit rules (quant.c header) -------------------------------- */
static int ref_bucketize(float s, const float *bounds) { /* first i with bounds[i] >= s, NaN -> 15 */
    int lo = 0, hi = 15;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (!(bounds[mid] >= s))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static float ref_clamp(float s) { return isnan(s) ? s : s < -1.0f ? -1.0f : s > 1.0f ? 1.0f : s; }

static void ref_q4(const float *x, int64_t n, clft_dtype type, int bs, uint8_t *packed, float *absmax) {
    const float *code = type == CLFT_DTYPE_NF4 ? CLFT_NF4_CODE : CLFT_FP4_CODE;
    int order[16]; /* stable argsort of the code (+0 at index 0 before the 0 at index 8) */
    for (int i = 0; i < 16; i++) {
        int j = i;
        while (j > 0 && code[order[j - 1]] > code[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    float bounds[15];
    for (int i = 0; i < 15; i++) {
        float s = code[order[i]] + code[order[i + 1]];
        bounds[i] = s / 2.0f;
    }
    const int64_t nb = (n + bs - 1) / bs;
    uint8_t *codes = malloc((size_t)n + 1);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t s0 = b * bs, s1 = s0 + bs < n ? s0 + bs : n;
        float m = 0.0f;
        for (int64_t i = s0; i < s1; i++) {
            float a = fabsf(x[i]);
            m = (isnan(m) || isnan(a)) ? NAN : a > m ? a : m;
        }
        const float c = isnan(m) ? m : m < 1e-38f ? 1e-38f : m;
        absmax[b] = s1 - s0 == bs ? m : c;
        const float rcp = 1.0f / c;
        for (int64_t i = s0; i < s1; i++) {
            float s;
            if (s1 - s0 == bs)
                s = x[i] * rcp;
            else
                s = x[i] / c;
            codes[i] = (uint8_t)order[ref_bucketize(ref_clamp(s), bounds)];
        }
    }
    codes[n] = (uint8_t)order[ref_bucketize(0.0f, bounds)];
    for (int64_t j = 0; j < (n + 1) / 2; j++)
        packed[j] = (uint8_t)((codes[2 * j] << 4) | codes[2 * j + 1]);
    free(codes);
}

/* ---- comparisons ------------------------------------------------------------------------------- */
static int64_t first_diff(const void *a, const void *b, size_t n) {
    const uint8_t *p = a, *q = b;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i]) return (int64_t)i;
    return -1;
}

#define SAME(what, a, b, bytes)                                                                                        \
    do {                                                                                                               \
        int64_t d_ = first_diff((a), (b), (bytes));                                                                    \
        TU_CHECK(d_ < 0, "%s: %s differs at byte %lld (n %lld bs %d %s dq %d mode %d threads %d)", tag, what,          \
                 (long long)d_, (long long)n, bs, clft_dtype_name(type), dq, mode, threads);                           \
    } while (0)

static void same_q4(const char *tag, const clft_q4 *got, const clft_q4 *want, int64_t n, int bs, clft_dtype type,
                    int dq, int mode, int threads) {
    TU_CHECK(got->nblocks == want->nblocks && got->numel == want->numel && got->double_quant == want->double_quant,
             "%s: header differs (n %lld bs %d threads %d)", tag, (long long)n, bs, threads);
    if (got->nblocks != want->nblocks) return;
    SAME("packed", got->packed, want->packed, (size_t)(n + 1) / 2);
    SAME("code", got->code, want->code, sizeof got->code);
    if (!dq) {
        SAME("absmax", got->absmax, want->absmax, (size_t)want->nblocks * sizeof(float));
        return;
    }
    SAME("qabsmax", got->qabsmax, want->qabsmax, (size_t)want->nblocks);
    SAME("nested_absmax", got->nested_absmax, want->nested_absmax,
         (size_t)((want->nblocks + 255) / 256) * sizeof(float));
    SAME("nested_offset", &got->nested_offset, &want->nested_offset, sizeof(float));
    SAME("nested_code", got->nested_code, want->nested_code, sizeof got->nested_code);
}

/* every thread count against one thread, for one input */
static void check_size(tu_rng *r, int64_t n, int specials, int all_blocksizes) {
    float *x = malloc((size_t)n * sizeof(float));
    float *d1 = malloc((size_t)n * sizeof(float)), *dt = malloc((size_t)n * sizeof(float));
    uint8_t *rp = malloc((size_t)(n + 1) / 2);
    float *ra = malloc((size_t)(n + 31) / 32 * sizeof(float));
    fill(r, x, n, specials);
    char tag[64];
    snprintf(tag, sizeof tag, "n=%lld%s", (long long)n, specials ? " specials" : "");
    for (size_t bi = 0; bi < sizeof BLOCKSIZES / sizeof BLOCKSIZES[0]; bi++) {
        const int bs = BLOCKSIZES[bi];
        if (!all_blocksizes && bs != 32 && bs != 64 && bs != 4096) continue;
        for (int t = 0; t < 2; t++) {
            const clft_dtype type = t ? CLFT_DTYPE_FP4 : CLFT_DTYPE_NF4;
            for (int v = 0; v < 3; v++) { /* double quant off, bnb-cpu, nearest */
                const int dq = v > 0, mode = v == 2 ? CLFT_Q4_NESTED_NEAREST : CLFT_Q4_NESTED_BNB_CPU;
                clft_q4 one;
                int threads = 1;
                clft_status st = clft_q4_quantize_threads(x, n, type, bs, dq, (clft_q4_nested_mode)mode, 1, &one);
                TU_CHECK(st == CLFT_OK, "%s: one thread: %s", tag, clft_last_error());
                if (st) continue;
                if (!dq) { /* the single-thread path against the plain rules */
                    ref_q4(x, n, type, bs, rp, ra);
                    SAME("packed vs plain rules", one.packed, rp, (size_t)(n + 1) / 2);
                    SAME("absmax vs plain rules", one.absmax, ra, (size_t)one.nblocks * sizeof(float));
                }
                clft_q4_dequantize_threads(&one, d1, 1);
                for (size_t ti = 0; ti < sizeof THREADS / sizeof THREADS[0]; ti++) {
                    threads = THREADS[ti];
                    clft_q4 q;
                    st = clft_q4_quantize_threads(x, n, type, bs, dq, (clft_q4_nested_mode)mode, threads, &q);
                    TU_CHECK(st == CLFT_OK, "%s: %d threads: %s", tag, threads, clft_last_error());
                    if (st) continue;
                    same_q4(tag, &q, &one, n, bs, type, dq, mode, threads);
                    memset(dt, 0x7f, (size_t)n * sizeof(float));
                    clft_q4_dequantize_threads(&q, dt, threads);
                    SAME("dequantized", dt, d1, (size_t)n * sizeof(float));
                    clft_q4_free(&q);
                }
                if (!dq && mode == CLFT_Q4_NESTED_BNB_CPU) { /* the default entry points: automatic */
                    clft_q4 q;
                    threads = -1;
                    TU_OK(clft_q4_quantize(x, n, type, bs, 0, &q));
                    same_q4(tag, &q, &one, n, bs, type, dq, mode, threads);
                    clft_q4_dequantize(&q, dt);
                    SAME("dequantized", dt, d1, (size_t)n * sizeof(float));
                    clft_q4_free(&q);
                }
                clft_q4_free(&one);
            }
        }
    }
    free(x);
    free(d1);
    free(dt);
    free(rp);
    free(ra);
}

/* ---- several callers at once ------------------------------------------------------------------- */
typedef struct caller {
    const float *x;
    int64_t n;
    clft_dtype type;
    int bs;
    clft_q4 q;
    clft_status st;
} caller;

static void *caller_run(void *arg) {
    caller *c = arg;
    c->st = clft_q4_quantize_threads(c->x, c->n, c->type, c->bs, 1, CLFT_Q4_NESTED_BNB_CPU, 3, &c->q);
    return NULL;
}

static void test_concurrent_callers(tu_rng *r) {
    enum { NC = 4 };
    const int64_t n = 64 * 300 + 17;
    float *x = malloc((size_t)(NC * n) * sizeof(float));
    fill(r, x, NC * n, 1);
    caller c[NC];
    pthread_t tid[NC];
    int started[NC];
    for (int k = 0; k < NC; k++) {
        c[k] = (caller){x + k * n, n, k % 2 ? CLFT_DTYPE_FP4 : CLFT_DTYPE_NF4, 32 << k, {0}, CLFT_OK};
        started[k] = pthread_create(&tid[k], NULL, caller_run, &c[k]) == 0;
        TU_CHECK(started[k], "pthread_create for caller %d", k);
    }
    for (int k = 0; k < NC; k++) {
        if (!started[k]) continue;
        pthread_join(tid[k], NULL);
        TU_CHECK(c[k].st == CLFT_OK, "caller %d: %s", k, clft_status_string(c[k].st));
        clft_q4 alone;
        TU_OK(clft_q4_quantize_threads(c[k].x, n, c[k].type, c[k].bs, 1, CLFT_Q4_NESTED_BNB_CPU, 1, &alone));
        if (c[k].st == CLFT_OK) same_q4("concurrent", &c[k].q, &alone, n, c[k].bs, c[k].type, 1, 0, 3);
        clft_q4_free(&alone);
        clft_q4_free(&c[k].q);
    }
    free(x);
}

static void test_bad_arguments(void) {
    float x[8] = {0};
    clft_q4 q;
    TU_CHECK(clft_q4_quantize_threads(x, 8, CLFT_DTYPE_NF4, 64, 0, CLFT_Q4_NESTED_BNB_CPU, 4, NULL) ==
                 CLFT_STATUS_INVALID_ARGUMENT,
             "NULL out");
    TU_CHECK(clft_q4_quantize_threads(NULL, 8, CLFT_DTYPE_NF4, 64, 0, CLFT_Q4_NESTED_BNB_CPU, 4, &q) ==
                 CLFT_STATUS_INVALID_ARGUMENT,
             "NULL x");
    TU_CHECK(clft_q4_quantize_threads(x, 8, CLFT_DTYPE_NF4, 48, 0, CLFT_Q4_NESTED_BNB_CPU, 4, &q) ==
                 CLFT_STATUS_INVALID_ARGUMENT,
             "blocksize 48");
    TU_CHECK(q.packed == NULL && q.absmax == NULL, "output zeroed on failure");
}

int main(void) {
    tu_init_seed();
    tu_rng r = tu_rng_make(41);
    /* ragged: below one chunk, around block and nested-block edges, odd, several nested blocks at
     * blocksize 32 (256 * 32 elements each), and big enough for the automatic count to use threads */
    const int64_t sizes[] = {
        1, 2, 31, 33, 64, 95, 4095, 4097, 8193, 32 * 256 * 3 + 5, 64 * 1000 + 1, 4096 * 7 + 2048 + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_size(&r, sizes[i], 0, 1);
        check_size(&r, sizes[i], 1, 1);
    }
    check_size(&r, ((int64_t)1 << 19) + 4096 + 333, 1, 0);
    test_concurrent_callers(&r);
    test_bad_arguments();
    return tu_finish("test_quant_threads");
}
