/* test_gc_loss.c - gradcheck (central differences in double) of the reference cross-entropy fused with
 * the final projection: ignored labels, chunk sizes that do not divide N, chunk invariance, forward
 * against a naive full-logits log-softmax, the f32 variant against the f64 one, and bad labels. */
#include "gcutil.h"

typedef struct {
    double *lse, *h, *W;
    const int32_t *labels;
    int64_t N, C, V, chunk;
    double dloss;
} xent_ctx;
static double xent_loss(void *p) {
    xent_ctx *c = p;
    double loss = 0;
    clft_ref_xent_fwd_f64(&loss, c->lse, c->h, c->labels, c->W, c->N, c->C, c->V, c->chunk);
    return c->dloss * loss;
}

static void test_xent(int64_t N, int64_t C, int64_t V, int64_t chunk, int n_ignored, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    int32_t *labels = gc_alloc_bytes((size_t)N * sizeof(int32_t));
    int64_t want_valid = 0;
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)(tu_next(&r) % (uint64_t)V);
    for (int k = 0; k < n_ignored; k++)
        labels[(k * 5 + 1) % N] = CLFT_REF_IGNORE_INDEX;
    for (int64_t i = 0; i < N; i++)
        want_valid += labels[i] != CLFT_REF_IGNORE_INDEX;
    xent_ctx c = {gc_d(N), gc_d(N * C), gc_d(V * C), labels, N, C, V, chunk, 1.7};
    gc_fill(&r, c.h, N * C, -1, 1);
    gc_fill(&r, c.W, V * C, -1, 1);
    double loss = 0;
    int64_t nv = clft_ref_xent_fwd_f64(&loss, c.lse, c.h, labels, c.W, N, C, V, chunk);
    TU_CHECK(nv == want_valid, "xent n_valid %lld want %lld", (long long)nv, (long long)want_valid);
    /* naive: full (N,V) logits, log-softmax, mean over valid */
    double tot = 0;
    for (int64_t n = 0; n < N; n++) {
        if (labels[n] == CLFT_REF_IGNORE_INDEX) continue;
        double mx = -INFINITY, s = 0, *lg = gc_d(V);
        for (int64_t v = 0; v < V; v++) {
            lg[v] = gc_dot(c.h + n * C, c.W + v * C, C);
            mx = fmax(mx, lg[v]);
        }
        for (int64_t v = 0; v < V; v++)
            s += exp(lg[v] - mx);
        tot += mx + log(s) - lg[labels[n]];
    }
    double naive = want_valid ? tot / (double)want_valid : 0;
    TU_CHECK(fabs(loss - naive) < 1e-12, "xent loss %.15g naive %.15g", loss, naive);
    /* analytic grads: dh assigns (prefill garbage), dW accumulates (prefill and subtract) */
    double *dh = gc_d(N * C), *dW0 = gc_d(V * C);
    for (int64_t i = 0; i < N * C; i++)
        dh[i] = 42;
    gc_fill(&r, dW0, V * C, -1, 1);
    double *dW = gc_copy(dW0, V * C), *gW = gc_d(V * C);
    TU_OK(clft_ref_xent_bwd_f64(dh, dW, c.dloss, c.h, labels, c.W, c.lse, N, C, V, chunk));
    for (int64_t i = 0; i < V * C; i++)
        gW[i] = dW[i] - dW0[i];
    char name[64];
    snprintf(name, sizeof name, "xent dh (N%lld chunk %lld)", (long long)N, (long long)chunk);
    gc_check(name, xent_loss, &c, c.h, dh, N * C);
    snprintf(name, sizeof name, "xent dW (N%lld chunk %lld)", (long long)N, (long long)chunk);
    gc_check(name, xent_loss, &c, c.W, gW, V * C);
    for (int k = 0; k < n_ignored; k++) {
        int64_t n = (k * 5 + 1) % N;
        TU_CHECK(dh[n * C] == 0 && dh[n * C + C - 1] == 0 && c.lse[n] == 0, "ignored token %lld has no grad",
                 (long long)n);
    }
    /* chunk invariance */
    int64_t chunks[4] = {1, 3, N, N + 5};
    for (int i = 0; i < 4; i++) {
        double l2 = 0, *lse2 = gc_d(N), *dh2 = gc_d(N * C), *dW2 = gc_copy(dW0, V * C);
        int64_t nv2 = clft_ref_xent_fwd_f64(&l2, lse2, c.h, labels, c.W, N, C, V, chunks[i]);
        TU_OK(clft_ref_xent_bwd_f64(dh2, dW2, c.dloss, c.h, labels, c.W, lse2, N, C, V, chunks[i]));
        TU_CHECK(nv2 == nv && fabs(l2 - loss) < 1e-14, "xent chunk %lld: loss %.15g vs %.15g", (long long)chunks[i], l2,
                 loss);
        gc_cmp64("xent dh chunk invariance", dh2, dh, N * C, 1e-14);
        gc_cmp64("xent dW chunk invariance", dW2, dW, V * C, 1e-14);
    }
    /* f32 twin */
    float l32 = 0, *lse32 = gc_f(N), *h32 = gc_to_f32(c.h, N * C), *W32 = gc_to_f32(c.W, V * C), *dh32 = gc_f(N * C);
    float *dW32 = gc_to_f32(dW0, V * C);
    int64_t nv32 = clft_ref_xent_fwd_f32(&l32, lse32, h32, labels, W32, N, C, V, chunk);
    TU_CHECK(nv32 == nv && fabs(l32 - loss) <= 1e-6 * (1 + fabs(loss)), "xent f32 loss %.9g vs %.9g", l32, loss);
    gc_cmp32("xent lse f32", lse32, c.lse, N, 1e-6, 1e-6);
    TU_OK(clft_ref_xent_bwd_f32(dh32, dW32, c.dloss, h32, labels, W32, lse32, N, C, V, chunk));
    gc_cmp32("xent dh f32", dh32, dh, N * C, 1e-6, 1e-5);
    gc_cmp32("xent dW f32", dW32, dW, V * C, 1e-6, 1e-5);
    gc_free_all();
}

static void test_xent_edges(void) {
    const int64_t N = 4, C = 3, V = 5;
    double h[12], W[15], lse[4], dh[12], dW[15], loss = -1;
    for (int i = 0; i < 12; i++)
        h[i] = 0.1 * i;
    for (int i = 0; i < 15; i++)
        W[i] = 0.05 * i - 0.3;
    int32_t none[4] = {-100, -100, -100, -100};
    int64_t nv = clft_ref_xent_fwd_f64(&loss, lse, h, none, W, N, C, V, 3);
    TU_CHECK(nv == 0 && loss == 0, "all ignored: n %lld loss %g", (long long)nv, loss);
    memset(dW, 0, sizeof dW);
    for (int i = 0; i < 12; i++)
        dh[i] = 5;
    TU_OK(clft_ref_xent_bwd_f64(dh, dW, 1.0, h, none, W, lse, N, C, V, 3));
    int nz = 0;
    for (int i = 0; i < 12; i++)
        nz += dh[i] != 0;
    for (int i = 0; i < 15; i++)
        nz += dW[i] != 0;
    TU_CHECK(nz == 0, "all ignored gives zero grads (%d nonzero)", nz);
    int32_t bad[4] = {1, 5, 0, -100};
    TU_CHECK(clft_ref_xent_fwd_f64(&loss, lse, h, bad, W, N, C, V, 3) == -1, "label == V rejected");
    int32_t neg[4] = {1, -1, 0, -100};
    TU_CHECK(clft_ref_xent_fwd_f64(&loss, lse, h, neg, W, N, C, V, 3) == -1, "label -1 rejected");
    TU_CHECK(clft_ref_xent_bwd_f64(dh, dW, 1, h, neg, W, lse, N, C, V, 3) == CLFT_STATUS_INVALID_ARGUMENT,
             "bwd rejects bad labels");
    /* uniform logits: loss = log V */
    double hz[12] = {0};
    int32_t lab[4] = {0, 1, 2, 3};
    clft_ref_xent_fwd_f64(&loss, lse, hz, lab, W, N, C, V, 2);
    TU_CHECK(fabs(loss - log(5.0)) < 1e-15, "zero hidden: loss %.17g want log(5)", loss);
}

int main(void) {
    tu_init_seed();
    test_xent(13, 6, 11, 4, 3, 1); /* chunk 4 does not divide 13, 3 ignored */
    test_xent(7, 5, 17, 7, 0, 2);  /* one chunk, none ignored */
    test_xent(10, 4, 9, 3, 1, 3);  /* chunk 3 does not divide 10 */
    test_xent(1, 3, 4, 2, 0, 4);   /* one token, chunk larger than N */
    tu_rng r = tu_rng_make(99);    /* seeded random shapes (CLFT_TEST_SEED changes them) */
    for (int it = 0; it < 4; it++) {
        int64_t N = 1 + (int64_t)(tu_next(&r) % 20), C = 1 + (int64_t)(tu_next(&r) % 8),
                V = 2 + (int64_t)(tu_next(&r) % 19);
        int64_t chunk = 1 + (int64_t)(tu_next(&r) % (uint64_t)(N + 2));
        int ign = (int)(tu_next(&r) % (uint64_t)(N < 4 ? N : 4));
        printf("random xent: N %lld C %lld V %lld chunk %lld ignored %d\n", (long long)N, (long long)C, (long long)V,
               (long long)chunk, ign);
        test_xent(N, C, V, chunk, ign, 100 + (uint64_t)it);
    }
    test_xent_edges();
    return tu_finish("test_gc_loss");
}
