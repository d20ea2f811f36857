/* test_gc_attention.c - gradcheck (central differences in double) of the reference causal GQA attention
 * with and without sliding window and segment ids (packed rows, padding), its forward against a naive
 * materialized-mask softmax (HF repeat_kv + mask semantics), and the f32 variant against the f64 one. */
#include "gcutil.h"

typedef struct {
    double *out, *lse, *q, *k, *v, *dout;
    clft_ref_attn_dims d;
} attn_ctx;
static double attn_loss(void *p) {
    attn_ctx *c = p;
    clft_ref_attention_fwd_f64(c->out, c->lse, c->q, c->k, c->v, &c->d);
    return gc_dot(c->out, c->dout, c->d.B * c->d.T * c->d.H * c->d.D);
}

/* naive: expand kv heads (repeat_interleave), full T x T scores with -inf outside the mask, softmax */
static double naive_max_err(const attn_ctx *c) {
    const clft_ref_attn_dims *d = &c->d;
    const int64_t T = d->T, H = d->H, KV = d->KV, D = d->D, rep = H / KV;
    double *s = gc_d(T * T), worst = 0;
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < H; h++) {
            int64_t j = h / rep;
            for (int64_t t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t u = 0; u < T; u++) {
                    int allowed = u <= t && (d->window == 0 || u > t - d->window);
                    if (d->seg && u != t) {
                        const int32_t st = d->seg[b * T + t], su = d->seg[b * T + u];
                        allowed = allowed && st >= 0 && su == st; /* padding (< 0) sees only itself */
                    }
                    double acc = 0;
                    for (int64_t i = 0; i < D; i++)
                        acc += c->q[((b * T + t) * H + h) * D + i] * c->k[((b * T + u) * KV + j) * D + i];
                    s[t * T + u] = allowed ? acc / sqrt((double)D) : -INFINITY;
                    mx = fmax(mx, s[t * T + u]);
                }
                for (int64_t u = 0; u < T; u++)
                    sum += exp(s[t * T + u] - mx);
                worst = fmax(worst, fabs(mx + log(sum) - c->lse[(b * H + h) * T + t]));
                for (int64_t i = 0; i < D; i++) {
                    double o = 0;
                    for (int64_t u = 0; u < T; u++)
                        o += exp(s[t * T + u] - mx) / sum * c->v[((b * T + u) * KV + j) * D + i];
                    worst = fmax(worst, fabs(o - c->out[((b * T + t) * H + h) * D + i]));
                }
            }
        }
    return worst;
}

/* segs: 0 none, else the tu_segments mode */
static void test_attention(int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D, int64_t window, int segs,
                           uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    int32_t *seg = segs ? gc_alloc_bytes((size_t)(B * T) * sizeof(int32_t)) : NULL;
    if (seg) tu_segments(&r, seg, B, T, segs);
    clft_ref_attn_dims d = {B, T, H, KV, D, window, seg};
    const int64_t nq = B * T * H * D, nk = B * T * KV * D;
    attn_ctx c = {gc_d(nq), gc_d(B * H * T), gc_d(nq), gc_d(nk), gc_d(nk), gc_d(nq), d};
    gc_fill(&r, c.q, nq, -1.5, 1.5);
    gc_fill(&r, c.k, nk, -1.5, 1.5);
    gc_fill(&r, c.v, nk, -1, 1);
    gc_fill(&r, c.dout, nq, -1, 1);
    TU_OK(clft_ref_attention_fwd_f64(c.out, c.lse, c.q, c.k, c.v, &d));
    double err = naive_max_err(&c);
    TU_CHECK(err < 1e-12, "attention B%lld T%lld H%lld KV%lld D%lld W%lld seg %d vs naive: %.3g", (long long)B,
             (long long)T, (long long)H, (long long)KV, (long long)D, (long long)window, segs, err);
    double *dq = gc_d(nq), *dk = gc_d(nk), *dv = gc_d(nk);
    for (int64_t i = 0; i < nk; i++)
        dk[i] = dv[i] = 99; /* bwd assigns */
    TU_OK(clft_ref_attention_bwd_f64(dq, dk, dv, c.dout, c.q, c.k, c.v, c.out, c.lse, &d));
    char name[96];
    snprintf(name, sizeof name, "attention dq (H%lld KV%lld W%lld seg %d)", (long long)H, (long long)KV,
             (long long)window, segs);
    gc_check(name, attn_loss, &c, c.q, dq, nq);
    snprintf(name, sizeof name, "attention dk (H%lld KV%lld W%lld seg %d)", (long long)H, (long long)KV,
             (long long)window, segs);
    gc_check(name, attn_loss, &c, c.k, dk, nk);
    snprintf(name, sizeof name, "attention dv (H%lld KV%lld W%lld seg %d)", (long long)H, (long long)KV,
             (long long)window, segs);
    gc_check(name, attn_loss, &c, c.v, dv, nk);
    /* f32 twin on the same inputs */
    float *q32 = gc_to_f32(c.q, nq), *k32 = gc_to_f32(c.k, nk), *v32 = gc_to_f32(c.v, nk);
    float *o32 = gc_f(nq), *l32 = gc_f(B * H * T), *dq32 = gc_f(nq), *dk32 = gc_f(nk), *dv32 = gc_f(nk);
    TU_OK(clft_ref_attention_fwd_f32(o32, l32, q32, k32, v32, &d));
    gc_cmp32("attention out f32", o32, c.out, nq, 1e-6, 1e-5);
    gc_cmp32("attention lse f32", l32, c.lse, B * H * T, 1e-6, 1e-6);
    TU_OK(clft_ref_attention_bwd_f32(dq32, dk32, dv32, gc_to_f32(c.dout, nq), q32, k32, v32, o32, l32, &d));
    gc_cmp32("attention dq f32", dq32, dq, nq, 1e-5, 1e-4);
    gc_cmp32("attention dk f32", dk32, dk, nk, 1e-5, 1e-4);
    gc_cmp32("attention dv f32", dv32, dv, nk, 1e-5, 1e-4);
    /* one segment per row is the same as no segments */
    if (!seg) {
        int32_t *zero = gc_alloc_bytes((size_t)(B * T) * sizeof(int32_t));
        memset(zero, 0, (size_t)(B * T) * sizeof(int32_t));
        clft_ref_attn_dims dz = d;
        dz.seg = zero;
        double *o2 = gc_d(nq), *l2 = gc_d(B * H * T);
        TU_OK(clft_ref_attention_fwd_f64(o2, l2, c.q, c.k, c.v, &dz));
        gc_cmp64("attention one segment == none", o2, c.out, nq, 0);
    }
    /* a window at least T long is plain causal */
    if (window == 0) {
        clft_ref_attn_dims dw = d;
        dw.window = T;
        double *o2 = gc_d(nq), *l2 = gc_d(B * H * T);
        TU_OK(clft_ref_attention_fwd_f64(o2, l2, c.q, c.k, c.v, &dw));
        gc_cmp64("attention window T == causal", o2, c.out, nq, 0);
    }
    gc_free_all();
}

int main(void) {
    tu_init_seed();
    test_attention(2, 7, 6, 6, 5, 0, 0, 1);   /* MHA (ratio 1), odd head dim */
    test_attention(1, 9, 6, 3, 4, 3, 0, 2);   /* ratio 2, sliding window 3 < T */
    test_attention(2, 5, 4, 1, 3, 0, 0, 3);   /* ratio 4 (MQA-like), odd D */
    test_attention(1, 11, 12, 3, 2, 4, 0, 4); /* ratio 4, 12 heads, window 4 */
    test_attention(1, 6, 3, 3, 8, 1, 0, 5);   /* window 1: each query sees only itself */
    test_attention(1, 1, 2, 1, 4, 0, 0, 6);   /* T = 1 */
    /* segment ids: packed examples with padding rows, and interleaved ids with padding anywhere */
    test_attention(2, 13, 6, 2, 5, 0, 1, 7);  /* ratio 3, odd D, packed + padding */
    test_attention(2, 11, 4, 4, 4, 4, 1, 8);  /* MHA, window 4 across segment starts */
    test_attention(2, 9, 4, 1, 3, 0, 2, 9);   /* ratio 4, interleaved */
    test_attention(1, 12, 6, 3, 4, 5, 2, 10); /* ratio 2, window 5, interleaved */
    /* seeded random shapes (CLFT_TEST_SEED changes them) */
    tu_rng r = tu_rng_make(99);
    for (int it = 0; it < 4; it++) {
        int64_t KV = 1 + (int64_t)(tu_next(&r) % 3), rep = (int64_t[]){1, 2, 4}[tu_next(&r) % 3];
        int64_t T = 1 + (int64_t)(tu_next(&r) % 12), D = 1 + (int64_t)(tu_next(&r) % 8),
                B = 1 + (int64_t)(tu_next(&r) % 2);
        int64_t W = tu_next(&r) % 2 ? 1 + (int64_t)(tu_next(&r) % (uint64_t)T) : 0;
        int segs = (int)(tu_next(&r) % 3);
        printf("random attention: B %lld T %lld H %lld KV %lld D %lld window %lld segments %d\n", (long long)B,
               (long long)T, (long long)(KV * rep), (long long)KV, (long long)D, (long long)W, segs);
        test_attention(B, T, KV * rep, KV, D, W, segs, 100 + (uint64_t)it);
    }
    clft_ref_attn_dims bad = {1, 4, 6, 4, 8, 0, NULL};
    double x[1];
    TU_CHECK(clft_ref_attention_fwd_f64(x, x, x, x, x, &bad) == CLFT_STATUS_INVALID_ARGUMENT, "H %% KV != 0 rejected");
    return tu_finish("test_gc_attention");
}
