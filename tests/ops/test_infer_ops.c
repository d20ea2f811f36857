/* test_infer_ops.c - the inference kernels against their src/ref twins: attention of n new queries
 * against a KV cache (prefill and decode; both kernels, one work-item (CPUs) and one work-group (GPUs)
 * per query head and chunk; the chunked flash-decoding split forced to several counts and left
 * automatic; GQA ratios 1, 2, 3 and 5; sliding windows; head dims 7, 40, 64, 80, 96, 100, 128, 256 and
 * 512, i.e. every vector width of the work-item kernel; NaN in the cache rows past the valid ones;
 * nonzero view offsets and untouched elements around the output view), tied to the training kernel
 * clft_attention_fwd over the whole sequence (and the f64 twin to the training reference); the
 * workspace size rule; bad input; and the argmax of logit rows (ties, NaN, -inf, +inf, V from 1 to
 * 128256+3); RoPE of queries and keys in one launch (cl/decode.cl) against its twin and against the
 * training kernel run on each (views at offsets, untouched elements around them, head dims 2 to 256,
 * positions up to 4098, no key or no query heads). Tiny shapes under Oclgrind (CLFT_TEST_TINY). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/decode.h"
#include "ops/ops.h"
#include "ref/decode_ref.h"
#include "ref/ops_ref.h"
#include "tutil.h"

static clft_context *ctx;

/* device buffer from host data (or zeros when src is NULL) */
static clft_buf up(const void *src, size_t bytes) {
    clft_buf b = {0};
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes ? bytes : 4, &b));
    if (src)
        TU_OK(clft_buf_write(ctx, &b, 0, src, bytes));
    else
        TU_OK(clft_buf_fill_zero(ctx, &b));
    return b;
}
static void *down(const clft_buf *b, size_t off, size_t n) { /* n 4-byte elements from element off */
    void *h = malloc(n * 4);
    TU_OK(clft_buf_read(ctx, b, off * 4, h, n * 4));
    return h;
}
static float *rnd(tu_rng *r, size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    tu_fill(r, x, n, lo, hi);
    return x;
}
/* n floats at element off of a fresh array of off+n+tail floats filled with `fill` */
static float *padded(const float *x, size_t off, size_t n, size_t tail, float fill) {
    if (n > ((size_t)1 << 36)) return NULL; /* (tells GCC's object-size checks that n is sane) */
    float *p = malloc((off + n + tail) * sizeof *p);
    for (size_t i = 0; i < off + n + tail; i++)
        p[i] = fill;
    memcpy(p + off, x, n * sizeof *p);
    return p;
}

enum { OQ = 5, OK_ = 7, OV = 3, OO = 11, GUARD = 6 }; /* view offsets (elements) and guard after out */
#define SENTINEL 12345.0f

/* Attention against a KV cache: kernel (every split in `splits`) vs reference, and (equiv) vs the
 * training kernel over the whole sequence. The cache has cap = past+n+3 rows; the rows after past+n
 * hold NaN, which must never be read. */
static void test_kv(int64_t n, int64_t past, int64_t H, int64_t KV, int64_t D, int64_t window, const int64_t *splits,
                    int nsplits, int equiv) {
    tu_rng r = tu_rng_make((uint64_t)(n * 1000003 + past * 1009 + H * 101 + KV * 11 + D * 7 + window));
    const int64_t T = past + n, cap = T + 3;
    const size_t nq = (size_t)(n * H * D), nk = (size_t)(cap * KV * D), nvalid = (size_t)(T * KV * D);
    float *q = rnd(&r, nq, -1, 1), *k = rnd(&r, nk, -1.5f, 1.5f), *v = rnd(&r, nk, -1, 1);
    for (size_t i = nvalid; i < nk; i++)
        k[i] = v[i] = NAN;
    float *want = malloc(nq * sizeof *want);
    clft_ref_attn_kv_dims rd = {n, past, H, KV, D, window};
    TU_OK(clft_ref_attention_kv_fwd_f32(want, q, k, v, &rd));
    float *hq = padded(q, OQ, nq, 2, 0.5f), *hk = padded(k, OK_, nk, 0, NAN), *hv = padded(v, OV, nk, 1, NAN);
    float *ho = padded(want, OO, nq, GUARD, SENTINEL);
    for (size_t i = 0; i < nq; i++)
        ho[OO + i] = SENTINEL;
    clft_buf bq = up(hq, (OQ + nq + 2) * 4), bk = up(hk, (OK_ + nk) * 4), bv = up(hv, (OV + nk + 1) * 4),
             bo = up(ho, (OO + nq + GUARD) * 4);
    clft_attn_kv_dims d = {n, past, H, KV, D, window};
    const size_t wsf = clft_attention_kv_workspace_floats(&d);
    clft_buf ws = up(NULL, wsf * 4);
    char what[128];
    snprintf(what, sizeof what, "attention_kv n%lld past%lld H%lld KV%lld D%lld W%lld", (long long)n, (long long)past,
             (long long)H, (long long)KV, (long long)D, (long long)window);
    for (int kernel = 1; kernel <= 2; kernel++) /* the work-item (CPU) and work-group (GPU) kernels */
        for (int i = 0; i < nsplits; i++) {
            TU_OK(clft_buf_write(ctx, &bo, 0, ho, (OO + nq + GUARD) * 4));
            TU_OK(clft_attention_kv_fwd_forced(ctx, clft_dv_of(&bo, OO), clft_dv_of(&bq, OQ), clft_dv_of(&bk, OK_),
                                               clft_dv_of(&bv, OV), wsf ? &ws : NULL, &d, kernel, splits[i]));
            float *got = down(&bo, 0, OO + nq + GUARD);
            char w2[160];
            snprintf(w2, sizeof w2, "%s %s split %lld", what, kernel == 1 ? "item" : "group", (long long)splits[i]);
            if (!tu_close(w2, got + OO, want, nq, 1e-5, 1e-4, 1e-9)) fprintf(stderr, "  (%s)\n", w2);
            int guard = 1;
            for (size_t j = 0; j < OO; j++)
                guard &= got[j] == SENTINEL;
            for (size_t j = 0; j < GUARD; j++)
                guard &= got[OO + nq + j] == SENTINEL;
            TU_CHECK(guard, "%s: elements outside the out view were written", w2);
            free(got);
        }
    if (equiv && T <= 100) { /* the f64 twin, and the training reference over the whole sequence */
        const size_t tq = (size_t)(T * H * D), nv = (size_t)(T * KV * D);
        double *dq = malloc(tq * sizeof *dq), *dk = malloc(nv * sizeof *dk), *dv = malloc(nv * sizeof *dv),
               *dout = malloc(tq * sizeof *dout), *dlse = malloc((size_t)(H * T) * sizeof *dlse),
               *kvout = malloc(nq * sizeof *kvout);
        for (size_t i = 0; i < tq; i++)
            dq[i] = i < (size_t)(past * H * D) ? 0.25 : q[i - (size_t)(past * H * D)];
        for (size_t i = 0; i < nv; i++)
            dk[i] = k[i], dv[i] = v[i];
        clft_ref_attn_dims fd = {1, T, H, KV, D, window, NULL};
        TU_OK(clft_ref_attention_fwd_f64(dout, dlse, dq, dk, dv, &fd));
        TU_OK(clft_ref_attention_kv_fwd_f64(kvout, dq + (size_t)(past * H * D), dk, dv, &rd));
        double worst = 0, worst32 = 0;
        for (size_t i = 0; i < nq; i++) {
            worst = fmax(worst, fabs(kvout[i] - dout[(size_t)(past * H * D) + i]));
            worst32 = fmax(worst32, fabs(kvout[i] - (double)want[i]));
        }
        TU_CHECK(worst <= 1e-12 && worst32 <= 1e-6, "%s: f64 twin vs training reference %.3g, vs f32 twin %.3g", what,
                 worst, worst32);
        free(dq), free(dk), free(dv), free(dout), free(dlse), free(kvout);
    }
    if (equiv) { /* the training kernel over the whole sequence gives the same last n rows */
        const size_t tq = (size_t)(T * H * D);
        float *fq = rnd(&r, tq, -1, 1);
        memcpy(fq + (size_t)(past * H * D), q, nq * sizeof *fq);
        clft_buf bfq = up(fq, tq * 4), bfk = up(k, nvalid * 4), bfv = up(v, nvalid * 4), bfo = up(NULL, tq * 4),
                 bfl = up(NULL, (size_t)(H * T) * 4);
        clft_attn_dims ad = {1, T, H, KV, D, window, 0, {NULL, 0}};
        TU_OK(clft_attention_fwd(ctx, clft_dv_of(&bfo, 0), clft_dv_of(&bfl, 0), clft_dv_of(&bfq, 0),
                                 clft_dv_of(&bfk, 0), clft_dv_of(&bfv, 0), &ad));
        float *full = down(&bfo, (size_t)(past * H * D), nq);
        TU_OK(clft_attention_kv_fwd(ctx, clft_dv_of(&bo, OO), clft_dv_of(&bq, OQ), clft_dv_of(&bk, OK_),
                                    clft_dv_of(&bv, OV), wsf ? &ws : NULL, &d));
        float *got = down(&bo, OO, nq);
        char w2[160];
        snprintf(w2, sizeof w2, "%s vs attention_fwd", what);
        if (!tu_close(w2, got, full, nq, 1e-5, 1e-4, 1e-9)) fprintf(stderr, "  (%s)\n", w2);
        clft_buf *bs[] = {&bfq, &bfk, &bfv, &bfo, &bfl};
        for (size_t i = 0; i < 5; i++)
            clft_buf_free(ctx, bs[i]);
        free(fq), free(full), free(got);
    }
    clft_buf *bs[] = {&bq, &bk, &bv, &bo, &ws};
    for (size_t i = 0; i < 5; i++)
        clft_buf_free(ctx, bs[i]);
    free(q), free(k), free(v), free(want), free(hq), free(hk), free(hv), free(ho);
}

/* workspace size rule and bad input */
static void test_kv_contract(void) {
    const int64_t Hs[] = {1, 5, 6, 9, 32, 64};
    for (size_t i = 0; i < sizeof Hs / sizeof Hs[0]; i++) {
        clft_attn_kv_dims one = {1, 0, Hs[i], 1, 128, 0};
        const size_t w1 = clft_attention_kv_workspace_floats(&one);
        TU_CHECK(w1 > 0, "decoding with H %lld has a workspace", (long long)Hs[i]);
        for (int64_t n = 1; n <= 4096; n = n < 64 ? n + 1 : n * 2)
            for (int64_t past = 0; past <= 8192; past = past ? past * 4 : 1) {
                clft_attn_kv_dims d = {n, past, Hs[i], 1, 128, 0};
                const size_t w = clft_attention_kv_workspace_floats(&d);
                d.past = past + 1;
                d.window = 5;
                TU_CHECK(w <= w1 && clft_attention_kv_workspace_floats(&d) == w,
                         "workspace of n %lld past %lld H %lld: %zu (n = 1: %zu)", (long long)n, (long long)past,
                         (long long)Hs[i], w, w1);
            }
    }
    clft_attn_kv_dims big = {4096, 0, 32, 8, 128, 0};
    TU_CHECK(clft_attention_kv_workspace_floats(&big) == 0, "a large prefill needs no workspace");
    /* bad input */
    const int64_t n = 1, past = 9, H = 4, KV = 2, D = 8;
    clft_buf bq = up(NULL, (size_t)(n * H * D) * 4), bk = up(NULL, (size_t)((past + n) * KV * D) * 4),
             bo = up(NULL, (size_t)(n * H * D) * 4);
    clft_attn_kv_dims d = {n, past, H, KV, D, 0};
    clft_buf ws = up(NULL, clft_attention_kv_workspace_floats(&d) * 4);
    clft_dv o = clft_dv_of(&bo, 0), q = clft_dv_of(&bq, 0), k = clft_dv_of(&bk, 0);
    TU_OK(clft_attention_kv_fwd(ctx, o, q, k, k, &ws, &d));
    clft_attn_kv_dims bad = d;
    bad.KV = 3;
    TU_CHECK(clft_attention_kv_fwd(ctx, o, q, k, k, &ws, &bad) != CLFT_OK, "H not a multiple of KV refused");
    bad = d;
    bad.past = past + 1;
    TU_CHECK(clft_attention_kv_fwd(ctx, o, q, k, k, &ws, &bad) != CLFT_OK, "a cache shorter than past+n refused");
    bad = d;
    bad.D = 1024;
    TU_CHECK(clft_attention_kv_fwd(ctx, o, q, k, k, &ws, &bad) != CLFT_OK, "head dim 1024 refused");
    bad = d;
    bad.window = -1;
    TU_CHECK(clft_attention_kv_fwd(ctx, o, q, k, k, &ws, &bad) != CLFT_OK, "negative window refused");
    TU_CHECK(clft_attention_kv_fwd(ctx, o, q, k, k, NULL, &d) != CLFT_OK, "missing workspace refused");
    TU_CHECK(clft_attention_kv_fwd(ctx, clft_dv_of(&bo, 1), q, k, k, &ws, &d) != CLFT_OK, "short out view refused");
    clft_buf *bs[] = {&bq, &bk, &bo, &ws};
    for (size_t i = 0; i < 4; i++)
        clft_buf_free(ctx, bs[i]);
}

/* Argmax: R rows of V values; row kinds: 0 random, 1 a tie of the max (first wins), 2 NaN at two
 * places (the first wins), 3 all -inf, 4 -inf but one finite value, 5 +inf twice, 6 all equal,
 * 7 random below -1e30 and a NaN at the last index. */
static void test_argmax(int64_t V) {
    tu_rng r = tu_rng_make((uint64_t)V * 7 + 3);
    const int64_t R = 8;
    const size_t nl = (size_t)(R * V), OL = 13, OA = 3;
    float *x = rnd(&r, nl, -8, 8);
    for (int64_t row = 0; row < R; row++) {
        float *xr = x + row * V;
        const int64_t a = (int64_t)(tu_next(&r) % (uint64_t)V), b = (int64_t)(tu_next(&r) % (uint64_t)V);
        switch (row) {
        case 1:
            xr[a] = xr[b] = 9.0f;
            xr[V - 1] = 9.0f;
            break;
        case 2:
            xr[a] = NAN;
            xr[b] = NAN;
            xr[(a + b) / 2] = INFINITY;
            break;
        case 3:
            for (int64_t j = 0; j < V; j++)
                xr[j] = -INFINITY;
            break;
        case 4:
            for (int64_t j = 0; j < V; j++)
                xr[j] = -INFINITY;
            xr[a] = -1e38f;
            break;
        case 5: xr[a] = xr[b] = INFINITY; break;
        case 6:
            for (int64_t j = 0; j < V; j++)
                xr[j] = 0.25f;
            break;
        case 7:
            for (int64_t j = 0; j < V; j++)
                xr[j] -= 1e31f;
            xr[V - 1] = NAN;
            break;
        default: break;
        }
    }
    int32_t *want = malloc((size_t)R * sizeof *want);
    TU_OK(clft_ref_argmax_rows(want, x, R, V));
    TU_CHECK(want[6] == 0 && want[3] == 0 && want[7] == V - 1, "reference argmax of special rows");
    float *hx = padded(x, OL, nl, 1, NAN);
    int32_t *hout = malloc((OA + (size_t)R + 2) * sizeof *hout);
    for (size_t i = 0; i < OA + (size_t)R + 2; i++)
        hout[i] = -7;
    clft_buf bx = up(hx, (OL + nl + 1) * 4), bo = up(hout, (OA + (size_t)R + 2) * 4);
    TU_OK(clft_argmax_rows(ctx, clft_dv_of(&bo, OA), clft_dv_of(&bx, OL), R, V));
    int32_t *got = down(&bo, 0, OA + (size_t)R + 2);
    int bad = 0;
    for (int64_t row = 0; row < R; row++)
        if (got[OA + row] != want[row]) {
            if (bad++ < 8)
                fprintf(stderr, "  argmax V %lld row %lld: got %d ref %d\n", (long long)V, (long long)row,
                        (int)got[OA + row], (int)want[row]);
        }
    TU_CHECK(bad == 0, "argmax V %lld: %d of %lld rows differ", (long long)V, bad, (long long)R);
    TU_CHECK(got[0] == -7 && got[OA - 1] == -7 && got[OA + R] == -7 && got[OA + R + 1] == -7,
             "argmax V %lld wrote outside its view", (long long)V);
    TU_CHECK(clft_argmax_rows(ctx, clft_dv_of(&bo, OA), clft_dv_of(&bx, OL), R, 0) != CLFT_OK, "V = 0 refused");
    TU_CHECK(clft_argmax_rows(ctx, clft_dv_of(&bo, OA), clft_dv_of(&bx, OL + 2), R, V) != CLFT_OK,
             "short logits view refused");
    clft_buf_free(ctx, &bx);
    clft_buf_free(ctx, &bo);
    free(x), free(want), free(hx), free(hout), free(got);
}

/* RoPE of q (N,H,D) and k (N,KV,D) in one launch vs the twin, and vs clft_rope_fwd on each (the
 * generator ran that before: the same rounding is expected, within a few ulp where a compiler
 * contracts the two programs differently). Views at offsets; the guard elements around them stay. */
static void test_rope_qk(int64_t N, int64_t H, int64_t KV, int64_t D, int llama3) {
    tu_rng r = tu_rng_make((uint64_t)(N * 131 + H * 17 + KV * 5 + D + llama3));
    const size_t nq = (size_t)(N * H * D), nk = (size_t)(N * KV * D);
    float *q = rnd(&r, nq, -1, 1), *k = rnd(&r, nk, -2, 2), *inv = malloc((size_t)(D / 2) * 4);
    int32_t *pos = malloc((size_t)N * 4);
    for (int64_t i = 0; i < N; i++)
        pos[i] = (int32_t)((i * 1237 + 11) % 4099);
    clft_ref_rope_params rp = clft_ref_rope_default_params();
    if (llama3) {
        rp.type = CLFT_REF_ROPE_LLAMA3;
        rp.theta = 500000.0;
    }
    TU_OK(clft_ref_rope_inv_freq(inv, D, &rp));
    float *wq = malloc((nq ? nq : 1) * 4), *wk = malloc((nk ? nk : 1) * 4);
    memcpy(wq, q, nq * 4);
    memcpy(wk, k, nk * 4);
    clft_ref_rope_qk_fwd_f32(wq, wk, pos, inv, N, H, KV, D);
    float *hq = padded(q, OQ, nq, GUARD, SENTINEL), *hk = padded(k, OK_, nk, GUARD, SENTINEL);
    clft_buf bq = up(hq, (OQ + nq + GUARD) * 4), bk = up(hk, (OK_ + nk + GUARD) * 4), bp = up(pos, (size_t)N * 4),
             bi = up(inv, (size_t)(D / 2) * 4), tq = up(hq, (OQ + nq + GUARD) * 4), tk = up(hk, (OK_ + nk + GUARD) * 4);
    char what[96];
    snprintf(what, sizeof what, "rope_qk N%lld H%lld KV%lld D%lld%s", (long long)N, (long long)H, (long long)KV,
             (long long)D, llama3 ? " llama3" : "");
    TU_OK(clft_rope_qk_fwd(ctx, clft_dv_of(&bq, OQ), clft_dv_of(&bk, OK_), clft_dv_of(&bp, 0), clft_dv_of(&bi, 0), N, H,
                           KV, D));
    /* the training kernel, once per tensor */
    if (H)
        TU_OK(clft_rope_fwd(ctx, clft_dv_of(&tq, OQ), clft_dv_of(&tq, OQ), clft_dv_of(&bp, 0), clft_dv_of(&bi, 0), N, H,
                            D));
    if (KV)
        TU_OK(clft_rope_fwd(ctx, clft_dv_of(&tk, OK_), clft_dv_of(&tk, OK_), clft_dv_of(&bp, 0), clft_dv_of(&bi, 0), N,
                            KV, D));
    float *gq = down(&bq, 0, OQ + nq + GUARD), *gk = down(&bk, 0, OK_ + nk + GUARD);
    float *eq = down(&tq, 0, OQ + nq + GUARD), *ek = down(&tk, 0, OK_ + nk + GUARD);
    char w2[140];
    snprintf(w2, sizeof w2, "%s q vs ref", what);
    tu_close(w2, gq + OQ, wq, nq, 2e-5, 1e-4, 1e-9);
    snprintf(w2, sizeof w2, "%s k vs ref", what);
    tu_close(w2, gk + OK_, wk, nk, 2e-5, 1e-4, 1e-9);
    snprintf(w2, sizeof w2, "%s q vs rope_fwd", what);
    tu_close(w2, gq, eq, OQ + nq + GUARD, 1e-6, 1e-6, 1e-12);
    snprintf(w2, sizeof w2, "%s k vs rope_fwd", what);
    tu_close(w2, gk, ek, OK_ + nk + GUARD, 1e-6, 1e-6, 1e-12);
    int guards = 1;
    for (size_t i = 0; i < OQ; i++)
        guards &= gq[i] == SENTINEL;
    for (size_t i = 0; i < OK_; i++)
        guards &= gk[i] == SENTINEL;
    for (size_t i = 0; i < GUARD; i++)
        guards &= gq[OQ + nq + i] == SENTINEL && gk[OK_ + nk + i] == SENTINEL;
    TU_CHECK(guards, "%s: wrote outside its views", what);
    TU_CHECK(clft_rope_qk_fwd(ctx, clft_dv_of(&bq, OQ), clft_dv_of(&bk, OK_), clft_dv_of(&bp, 0), clft_dv_of(&bi, 0), N,
                              H, KV, D + 1) != CLFT_OK,
             "%s: odd head dim refused", what);
    TU_CHECK(clft_rope_qk_fwd(ctx, clft_dv_of(&bq, OQ + GUARD + 1), clft_dv_of(&bk, OK_), clft_dv_of(&bp, 0),
                              clft_dv_of(&bi, 0), N, H, KV, D) != CLFT_OK ||
                 H == 0,
             "%s: a q view past its buffer refused", what);
    clft_buf *bs[] = {&bq, &bk, &bp, &bi, &tq, &tk};
    for (size_t i = 0; i < 6; i++)
        clft_buf_free(ctx, bs[i]);
    free(q), free(k), free(inv), free(pos), free(wq), free(wk), free(hq), free(hk), free(gq), free(gk), free(eq),
        free(ek);
}

int main(void) {
    tu_init_seed();
    ctx = tu_context();
    const int tiny = tu_tiny();
    const int64_t splits[] = {0, 1, 2, 3, 7, 64, 100000}; /* auto, one pass, forced chunk counts */
    const int nsp = tiny ? 4 : 7;
    test_kv_contract();
    if (tiny) {
        const int64_t np[][2] = {{1, 0}, {1, 9}, {3, 5}, {2, 0}};
        for (size_t i = 0; i < 4; i++) {
            test_kv(np[i][0], np[i][1], 2, 1, 8, i == 1 ? 3 : 0, splits, nsp, i == 2);
            test_kv(np[i][0], np[i][1], 3, 3, 5, i == 2 ? 2 : 0, splits, nsp, 0);
            test_kv(np[i][0], np[i][1], 2, 2, i % 2 ? 12 : 16, i == 3 ? 1 : 0, splits, nsp, 0); /* vectors 4, 16 */
        }
    } else {
        const int64_t np[][2] = {{1, 0}, {1, 1}, {1, 37}, {1, 200}, {1, 1000}, {3, 5}, {7, 0}, {17, 33}, {64, 0}};
        const int64_t Ds[] = {64, 96, 128, 80}, hk[][2] = {{6, 6}, {6, 3}, {9, 3}, {5, 1}}, Ws[] = {0, 1, 5, 64};
        for (size_t i = 0; i < 9; i++)
            for (size_t j = 0; j < 4; j++)
                for (size_t g = 0; g < 4; g++)
                    for (size_t w = 0; w < 4; w++) {
                        /* every split on a quarter of the shapes, the automatic one on all */
                        const int all = (i + j + g + w) % 4 == 0;
                        test_kv(np[i][0], np[i][1], hk[g][0], hk[g][1], Ds[j], Ws[w], splits, all ? nsp : 1,
                                (i + j + g + w) % 4 == 1);
                    }
        test_kv(1, 300, 6, 3, 256, 0, splits, nsp, 1);
        test_kv(3, 130, 6, 2, 40, 0, splits, nsp, 1);   /* vectors of 8 in the work-item kernel */
        test_kv(1, 129, 4, 4, 100, 33, splits, nsp, 1); /* vectors of 4 */
        test_kv(5, 20, 3, 1, 7, 6, splits, nsp, 1);     /* scalars */
        test_kv(2, 70, 4, 2, 512, 9, splits, nsp, 1);
        test_kv(1, 4095, 32, 8, 128, 0, splits, 4, 0);
    }
    if (tiny) {
        test_rope_qk(1, 2, 1, 4, 0);
        test_rope_qk(3, 1, 2, 6, 1);
    } else {
        const int64_t rq[][4] = {{1, 12, 4, 64}, {1, 32, 8, 128}, {5, 3, 3, 2},    {17, 6, 2, 96},
                                 {1, 4, 0, 8},   {2, 0, 3, 10},   {64, 9, 3, 256}, {3, 5, 1, 130}};
        for (size_t i = 0; i < 8; i++)
            test_rope_qk(rq[i][0], rq[i][1], rq[i][2], rq[i][3], (int)(i % 2));
    }
    const int64_t Vs[] = {1, 2, 131, 1000, 49152, 128256 + 3};
    for (size_t i = 0; i < (tiny ? 4u : 6u); i++)
        test_argmax(Vs[i]);
    clft_context_free(ctx);
    return tu_finish("test_infer_ops");
}
