/* test_sample.c - clft_sample: every processor alone and combined on hand-made logits with known
 * results, greedy, determinism, the distribution of many draws, -inf/NaN/+inf inputs, bad
 * parameters, top-p on large vocabularies against a plain full-sort reference, and the processed
 * scores of transformers' own logits processors (the tests/reference/hf_sampling.py fixture). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clft.h"
#include "core/core.h"
#include "tutil.h"

static clft_sampling_params plain(void) { /* every processor off */
    clft_sampling_params p = clft_sampling_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.0f;
    return p;
}

static int is_ninf(float v) { return isinf(v) && v < 0; }

/* got == want: the same -inf mask, finite values to rtol */
static int same_scores(const char *what, const float *got, const float *want, size_t n, double rtol) {
    for (size_t i = 0; i < n; i++) {
        int gi = is_ninf(got[i]), wi = is_ninf(want[i]);
        double d = fabs((double)got[i] - (double)want[i]);
        if (gi != wi || (!gi && got[i] != want[i] && !(d <= rtol * fabs((double)want[i])))) {
            TU_CHECK(0, "%s: score %zu is %.9g, want %.9g", what, i, (double)got[i], (double)want[i]);
            return 0;
        }
    }
    tu_passes++;
    return 1;
}

static int32_t sample(float *x, size_t n, const int32_t *hist, size_t nh, const clft_sampling_params *p,
                      uint64_t *rng) {
    int32_t tok = -1;
    TU_OK(clft_sample(x, n, hist, nh, p, rng, &tok));
    return tok;
}

#define NINF (-INFINITY)

/* ---- parameters --------------------------------------------------------------------------------- */
static void expect_bad(clft_sampling_params p, const char *name) {
    clft_status st = clft_sampling_check(&p);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), name), "bad %s: status %d, message '%s'",
             name, (int)st, clft_last_error());
    float x[3] = {1, 2, 3};
    int32_t tok = -1;
    uint64_t rng = 1;
    st = clft_sample(x, 3, NULL, 0, &p, &rng, &tok);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), name) && tok == -1,
             "clft_sample with bad %s: %d '%s'", name, (int)st, clft_last_error());
}

static void test_params(void) {
    clft_sampling_params p = clft_sampling_default_params();
    TU_CHECK(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f &&
                 p.repetition_penalty == 1.0f && p.seed == 0,
             "defaults");
    TU_OK(clft_sampling_check(&p));
    clft_sampling_params q;
    const float bad_t[] = {-1.0f, NAN, INFINITY, -0.001f};
    for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++)
        q = p, q.temperature = bad_t[i], expect_bad(q, "temperature");
    q = p, q.top_k = -1, expect_bad(q, "top_k");
    const float bad_p[] = {0.0f, -0.5f, 1.0001f, NAN};
    for (size_t i = 0; i < sizeof bad_p / sizeof bad_p[0]; i++)
        q = p, q.top_p = bad_p[i], expect_bad(q, "top_p");
    const float bad_m[] = {-0.01f, 1.01f, NAN};
    for (size_t i = 0; i < sizeof bad_m / sizeof bad_m[0]; i++)
        q = p, q.min_p = bad_m[i], expect_bad(q, "min_p");
    const float bad_r[] = {0.0f, -1.0f, INFINITY, NAN};
    for (size_t i = 0; i < sizeof bad_r / sizeof bad_r[0]; i++)
        q = p, q.repetition_penalty = bad_r[i], expect_bad(q, "repetition_penalty");
    /* the edges are fine */
    q = p, q.temperature = 0, q.top_k = 0, q.top_p = 1, q.min_p = 0;
    TU_OK(clft_sampling_check(&q));
    q.min_p = 1, q.top_p = 1e-6f, q.repetition_penalty = 1e-3f;
    TU_OK(clft_sampling_check(&q));
    TU_CHECK(clft_sampling_check(NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL params");
    /* other arguments */
    float x[2] = {0, 1};
    int32_t tok;
    uint64_t rng = 0;
    TU_CHECK(clft_sample(x, 0, NULL, 0, &p, &rng, &tok) == CLFT_STATUS_INVALID_ARGUMENT, "vocab 0");
    TU_CHECK(clft_sample(NULL, 2, NULL, 0, &p, &rng, &tok) == CLFT_STATUS_INVALID_ARGUMENT, "NULL logits");
    TU_CHECK(clft_sample(x, 2, NULL, 3, &p, &rng, &tok) == CLFT_STATUS_INVALID_ARGUMENT, "NULL history");
    TU_CHECK(clft_sample(x, 2, NULL, 0, &p, NULL, &tok) == CLFT_STATUS_INVALID_ARGUMENT, "NULL rng");
    TU_CHECK(clft_sample(x, 2, NULL, 0, &p, &rng, NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL token");
    q = p, q.temperature = 0; /* greedy needs no rng */
    TU_OK(clft_sample(x, 2, NULL, 0, &q, NULL, &tok));
    TU_CHECK(tok == 1, "greedy without rng: %d", (int)tok);
}

/* ---- each processor alone ----------------------------------------------------------------------- */
static void test_penalty_and_greedy(void) {
    clft_sampling_params p = plain();
    p.temperature = 0;
    p.repetition_penalty = 2.0f;
    float x[6] = {2.0f, -2.0f, 1.0f, 0.0f, -0.5f, 1.5f};
    const int32_t hist[] = {0, 1, 1, 0, 3, 0, 99, -5}; /* repeats count once; out of range ignored */
    uint64_t rng = 12345;
    int32_t tok = sample(x, 6, hist, 8, &p, &rng);
    const float want[6] = {1.0f, -4.0f, 1.0f, 0.0f, -0.5f, 1.5f};
    same_scores("penalty 2", x, want, 6, 0);
    TU_CHECK(tok == 5 && rng == 12345, "greedy after the penalty: %d (rng %llu)", (int)tok, (unsigned long long)rng);
    /* penalty < 1 rewards: negative scores shrink, positive ones grow */
    float y[3] = {-3.0f, 3.0f, 1.0f};
    p.repetition_penalty = 0.5f;
    const int32_t h2[] = {0, 1};
    tok = sample(y, 3, h2, 2, &p, &rng);
    const float want2[3] = {-1.5f, 6.0f, 1.0f};
    same_scores("penalty 0.5", y, want2, 3, 0);
    TU_CHECK(tok == 1, "greedy %d", (int)tok);
    /* greedy ignores the warpers and takes the first of equal maxima */
    clft_sampling_params g = clft_sampling_default_params();
    g.temperature = 0;
    g.top_k = 1;
    g.top_p = 0.01f;
    g.min_p = 1;
    float z[5] = {1, 4, 2, 4, 4};
    tok = sample(z, 5, NULL, 0, &g, NULL);
    const float wz[5] = {1, 4, 2, 4, 4};
    same_scores("greedy leaves the scores", z, wz, 5, 0);
    TU_CHECK(tok == 1, "greedy takes the first maximum: %d", (int)tok);
}

static void test_temperature(void) {
    clft_sampling_params p = plain();
    p.temperature = 0.5f;
    float x[4] = {1.0f, -2.0f, 0.25f, NINF};
    uint64_t rng = 7;
    int32_t tok = sample(x, 4, NULL, 0, &p, &rng);
    const float want[4] = {2.0f, -4.0f, 0.5f, NINF};
    same_scores("temperature 0.5", x, want, 4, 0);
    TU_CHECK(tok >= 0 && tok < 3 && rng != 7, "draw %d", (int)tok);
    p.temperature = 3.0f;
    float y[2] = {3.0f, 1.0f};
    sample(y, 2, NULL, 0, &p, &rng);
    TU_CHECK(y[0] == 3.0f / 3.0f && y[1] == 1.0f / 3.0f, "float division: %.9g %.9g", (double)y[0], (double)y[1]);
}

static void test_top_k(void) {
    clft_sampling_params p = plain();
    uint64_t rng = 1;
    p.top_k = 2; /* the 2nd largest is 3: every 3 stays */
    float x[6] = {1, 3, 3, 2, 3, 0};
    for (int r = 0; r < 50; r++) {
        float y[6];
        memcpy(y, x, sizeof y);
        int32_t tok = sample(y, 6, NULL, 0, &p, &rng);
        TU_CHECK(tok == 1 || tok == 2 || tok == 4, "top-k draw %d", (int)tok);
        if (r == 0) {
            const float want[6] = {NINF, 3, 3, NINF, 3, NINF};
            same_scores("top_k 2 with ties", y, want, 6, 0);
        }
    }
    p.top_k = 4;
    float y[6];
    memcpy(y, x, sizeof y);
    sample(y, 6, NULL, 0, &p, &rng);
    const float w4[6] = {NINF, 3, 3, 2, 3, NINF};
    same_scores("top_k 4", y, w4, 6, 0);
    p.top_k = 6; /* k >= vocab: nothing goes */
    memcpy(y, x, sizeof y);
    sample(y, 6, NULL, 0, &p, &rng);
    same_scores("top_k = vocab", y, x, 6, 0);
    p.top_k = 1000;
    memcpy(y, x, sizeof y);
    sample(y, 6, NULL, 0, &p, &rng);
    same_scores("top_k > vocab", y, x, 6, 0);
    p.top_k = 1;
    float z[5] = {NINF, 5, NINF, 4, 5};
    sample(z, 5, NULL, 0, &p, &rng);
    const float w1[5] = {NINF, 5, NINF, NINF, 5};
    same_scores("top_k 1 with a tie at the top", z, w1, 5, 0);
    p.top_k = 4; /* fewer finite scores than k */
    float u[5] = {NINF, 5, NINF, 4, NINF};
    sample(u, 5, NULL, 0, &p, &rng);
    const float wu[5] = {NINF, 5, NINF, 4, NINF};
    same_scores("top_k past the finite scores", u, wu, 5, 0);
}

static void test_top_p(void) {
    clft_sampling_params p = plain();
    uint64_t rng = 3;
    /* four equal scores: probabilities 0.25 exactly, cumulative 0.25 0.5 0.75 1 (ascending, the
     * lower index first): top_p 0.75 removes the sum <= 0.25 (index 0), 0.5 two, 0.25 three */
    struct {
        float top_p;
        int removed;
    } cases[] = {{0.75f, 1}, {0.5f, 2}, {0.25f, 3}, {0.76f, 0}, {0.74f, 1}, {1e-6f, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        p.top_p = cases[c].top_p;
        float x[7] = {0, NINF, 0, 0, NINF, 0, NINF};
        const int order[4] = {0, 2, 3, 5};
        int32_t tok = sample(x, 7, NULL, 0, &p, &rng);
        float want[7] = {NINF, NINF, 0, 0, NINF, 0, NINF};
        want[0] = 0;
        for (int r = 0; r < cases[c].removed; r++)
            want[order[r]] = NINF;
        char what[64];
        snprintf(what, sizeof what, "top_p %g on equal scores", (double)cases[c].top_p);
        same_scores(what, x, want, 7, 0);
        TU_CHECK(!is_ninf(x[tok]), "%s: drew the removed %d", what, (int)tok);
    }
    /* the largest always stays (with a tie at the top, the higher index) */
    p.top_p = 0.1f;
    float y[3] = {5, 5, 1};
    int32_t tok = sample(y, 3, NULL, 0, &p, &rng);
    const float wy[3] = {NINF, 5, NINF};
    same_scores("top_p keeps one", y, wy, 3, 0);
    TU_CHECK(tok == 1, "top_p keeps one: %d", (int)tok);
    /* probabilities 0.5 0.25 0.125 0.125 (logits exact powers of two in the softmax only up to
     * rounding, so the thresholds sit between the sums) */
    float l[4] = {logf(4), logf(2), 0, 0};
    p.top_p = 0.7f; /* ascending sums .125 .25 .5 1; <= 0.3 goes: the two 0.125 */
    float z[4];
    memcpy(z, l, sizeof z);
    sample(z, 4, NULL, 0, &p, &rng);
    const float wz[4] = {l[0], l[1], NINF, NINF};
    same_scores("top_p 0.7", z, wz, 4, 0);
    p.top_p = 0.8f; /* <= 0.2 goes: only the first 0.125 (index 2) */
    memcpy(z, l, sizeof z);
    sample(z, 4, NULL, 0, &p, &rng);
    const float wz2[4] = {l[0], l[1], NINF, 0};
    same_scores("top_p 0.8", z, wz2, 4, 0);
}

static void test_min_p(void) {
    clft_sampling_params p = plain();
    uint64_t rng = 5;
    float l[5] = {0, logf(0.5f), logf(0.1f), logf(0.04f), NINF}; /* probability ratios 1 .5 .1 .04 */
    float x[5];
    p.min_p = 0.2f;
    memcpy(x, l, sizeof x);
    sample(x, 5, NULL, 0, &p, &rng);
    const float w1[5] = {l[0], l[1], NINF, NINF, NINF};
    same_scores("min_p 0.2", x, w1, 5, 0);
    p.min_p = 0.05f;
    memcpy(x, l, sizeof x);
    sample(x, 5, NULL, 0, &p, &rng);
    const float w2[5] = {l[0], l[1], l[2], NINF, NINF};
    same_scores("min_p 0.05", x, w2, 5, 0);
    p.min_p = 1.0f; /* only the maxima */
    float y[4] = {2, 1, 2, 1.9999f};
    sample(y, 4, NULL, 0, &p, &rng);
    const float w3[4] = {2, NINF, 2, NINF};
    same_scores("min_p 1", y, w3, 4, 0);
}

/* ---- combined, by hand ---------------------------------------------------------------------------- */
static void test_combined(void) {
    /* penalty 2 on ids 0 and 3, temperature 0.5, top-k 3, min-p 0.3 */
    clft_sampling_params p = plain();
    p.repetition_penalty = 2.0f;
    p.temperature = 0.5f;
    p.top_k = 3;
    p.min_p = 0.3f;
    float x[6] = {4.0f, 1.0f, 0.5f, -1.0f, 1.25f, 0.0f};
    const int32_t h[] = {3, 0, 3};
    uint64_t rng = 9;
    /* penalty: 2 1 .5 -2 1.25 0; temperature: 4 2 1 -4 2.5 0; top-3: 4 2 . . 2.5 .;
     * softmax ratios to the max: 1, e^-2 = .135, e^-1.5 = .223: min_p 0.3 leaves only id 0 */
    int32_t tok = sample(x, 6, h, 3, &p, &rng);
    const float want[6] = {4, NINF, NINF, NINF, NINF, NINF};
    same_scores("combined", x, want, 6, 0);
    TU_CHECK(tok == 0, "combined draw %d", (int)tok);
    /* the same without min-p, then top-p 0.9: probs of 4, 2.5, 2 ~ .736 .164 .100; ascending sums
     * .100 .264 1: <= 0.1 goes - only up to rounding, so take 0.85 (<= 0.15 goes: id 1) */
    p.min_p = 0;
    p.top_p = 0.85f;
    float y[6] = {4.0f, 1.0f, 0.5f, -1.0f, 1.25f, 0.0f};
    sample(y, 6, h, 3, &p, &rng);
    const float wy[6] = {4, NINF, NINF, NINF, 2.5f, NINF};
    same_scores("combined top-p", y, wy, 6, 0);
}

/* ---- inputs --------------------------------------------------------------------------------------- */
static void test_special_inputs(void) {
    clft_sampling_params p = plain();
    uint64_t rng = 11;
    float x[4] = {NAN, 1, NINF, 0.5f};
    for (int r = 0; r < 100; r++) {
        float y[4];
        memcpy(y, x, sizeof y);
        int32_t tok = sample(y, 4, NULL, 0, &p, &rng);
        TU_CHECK(tok == 1 || tok == 3, "NaN/-inf drawn: %d", (int)tok);
        TU_CHECK(is_ninf(y[0]) && is_ninf(y[2]), "NaN becomes -inf");
    }
    clft_sampling_params g = p;
    g.temperature = 0;
    float z[4] = {NAN, 1, NINF, 0.5f};
    TU_CHECK(sample(z, 4, NULL, 0, &g, NULL) == 1, "greedy skips NaN");
    /* nothing finite */
    float n[3] = {NAN, NINF, NAN};
    int32_t tok = -1;
    TU_CHECK(clft_sample(n, 3, NULL, 0, &p, &rng, &tok) == CLFT_STATUS_NUMERICAL, "all -inf/NaN: sampling");
    float n2[3] = {NAN, NINF, NAN};
    TU_CHECK(clft_sample(n2, 3, NULL, 0, &g, &rng, &tok) == CLFT_STATUS_NUMERICAL, "all -inf/NaN: greedy");
    /* +inf wins, uniformly */
    int counts[3] = {0, 0, 0};
    clft_sampling_params d = clft_sampling_default_params();
    d.seed = 4;
    rng = d.seed;
    for (int r = 0; r < 2000; r++) {
        float y[3] = {INFINITY, 100, INFINITY};
        counts[sample(y, 3, NULL, 0, &d, &rng)]++;
    }
    TU_CHECK(counts[1] == 0 && counts[0] > 900 && counts[2] > 900, "+inf: %d %d %d", counts[0], counts[1], counts[2]);
    /* vocabulary of one */
    float one[1] = {-3};
    TU_CHECK(sample(one, 1, NULL, 0, &d, &rng) == 0, "vocab 1");
    float one2[1] = {-3};
    TU_CHECK(sample(one2, 1, NULL, 0, &g, NULL) == 0, "vocab 1 greedy");
}

/* ---- draws ---------------------------------------------------------------------------------------- */
static void test_determinism(void) {
    tu_rng r = tu_rng_make(21);
    float l[50];
    tu_fill(&r, l, 50, -2, 2);
    clft_sampling_params p = clft_sampling_default_params();
    p.top_k = 0;
    p.min_p = 0;
    int32_t a[200], b[200], c[200];
    for (int s = 0; s < 3; s++) {
        uint64_t rng = s == 2 ? 43 : 42;
        for (int i = 0; i < 200; i++) {
            float x[50];
            memcpy(x, l, sizeof x);
            (s == 0 ? a : s == 1 ? b : c)[i] = sample(x, 50, NULL, 0, &p, &rng);
        }
    }
    TU_CHECK(!memcmp(a, b, sizeof a), "the same seed gives the same tokens");
    TU_CHECK(memcmp(a, c, sizeof a) != 0, "another seed gives other tokens");
}

/* Draw n times from logits l (processed by p) and compare the frequencies with the softmax of the
 * processed scores: max |freq - p| and a chi-square over the cells that can be drawn. */
static void check_distribution(const char *what, const float *l, size_t V, const clft_sampling_params *p, int n) {
    float *proc = malloc(V * sizeof *proc), *x = malloc(V * sizeof *x);
    long *cnt = calloc(V, sizeof *cnt);
    memcpy(proc, l, V * sizeof *proc);
    uint64_t rng = p->seed;
    sample(proc, V, NULL, 0, p, &rng);
    double m = -INFINITY, z = 0;
    for (size_t i = 0; i < V; i++)
        if (proc[i] > m) m = proc[i];
    for (size_t i = 0; i < V; i++)
        z += exp((double)proc[i] - m);
    for (int k = 0; k < n; k++) {
        memcpy(x, l, V * sizeof *x);
        cnt[sample(x, V, NULL, 0, p, &rng)]++;
    }
    double maxdiff = 0, chi = 0;
    int df = -1, bad = 0;
    for (size_t i = 0; i < V; i++) {
        double pi = exp((double)proc[i] - m) / z, f = (double)cnt[i] / n;
        if (pi == 0) {
            bad += cnt[i] != 0;
            continue;
        }
        maxdiff = fmax(maxdiff, fabs(f - pi));
        chi += (cnt[i] - n * pi) * (cnt[i] - n * pi) / (n * pi);
        df++;
    }
    /* chi-square: mean df, sd sqrt(2 df); 6 sd is far in the tail (seeded: no flakiness) */
    double lim = df + 6 * sqrt(2.0 * (df > 0 ? df : 1));
    printf("  %s: %d cells, max |freq - p| %.5f, chi2 %.1f (df %d)\n", what, df + 1, maxdiff, chi, df);
    TU_CHECK(bad == 0, "%s: %d filtered tokens drawn", what, bad);
    TU_CHECK(maxdiff < 0.005 && chi < lim, "%s: max diff %.5f chi2 %.1f > %.1f", what, maxdiff, chi, lim);
    free(proc);
    free(x);
    free(cnt);
}

static void test_distribution(void) {
    const int n = 200000;
    float l[10] = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.0f, 1.5f, 0.2f, NINF, -2.5f};
    clft_sampling_params p = plain();
    p.seed = 77;
    check_distribution("softmax", l, 10, &p, n);
    p.temperature = 0.7f;
    p.top_k = 5;
    p.seed = 78;
    check_distribution("temperature 0.7, top-k 5", l, 10, &p, n);
    p = clft_sampling_default_params();
    p.seed = 79;
    tu_rng r = tu_rng_make(5);
    float big[300];
    tu_fill(&r, big, 300, -3, 3);
    check_distribution("defaults, vocab 300", big, 300, &p, n);
}

/* ---- large vocabularies: top-p against a plain full sort ------------------------------------------ */
typedef struct kv {
    float v;
    uint32_t i;
} kv;
static int cmp_kv(const void *a, const void *b) {
    const kv *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* transformers' TopPLogitsWarper with a stable ascending sort, in double, sums rounded to float */
static void ref_top_p(float *x, size_t V, float top_p) {
    kv *a = malloc(V * sizeof *a);
    double m = -INFINITY, z = 0;
    for (size_t i = 0; i < V; i++) {
        a[i].v = x[i], a[i].i = (uint32_t)i;
        if (x[i] > m) m = x[i];
    }
    for (size_t i = 0; i < V; i++)
        z += exp((double)x[i] - m);
    qsort(a, V, sizeof *a, cmp_kv);
    const float thr = (float)(1.0 - (double)top_p);
    double cum = 0;
    for (size_t j = 0; j + 1 < V; j++) {
        cum += exp((double)a[j].v - m) / z;
        if ((float)cum <= thr) x[a[j].i] = NINF;
    }
    free(a);
}

static void test_large_vocab(void) {
    const size_t V = 150000;
    float *l = malloc(V * sizeof *l), *x = malloc(V * sizeof *x), *y = malloc(V * sizeof *y);
    tu_rng r = tu_rng_make(33);
    const float scales[] = {0.05f, 1.0f, 4.0f, 12.0f}; /* nearly flat .. very peaked */
    const float tops[] = {0.95f, 0.5f, 0.99f, 0.8f};
    for (size_t c = 0; c < 4; c++) {
        for (size_t i = 0; i < V; i++)
            l[i] = scales[c] * tu_normal(&r);
        for (size_t i = 0; i < V; i += 97) /* ties */
            l[i] = l[(i * 7919) % V];
        clft_sampling_params p = plain();
        p.top_p = tops[c];
        uint64_t rng = c;
        memcpy(x, l, V * sizeof *x);
        memcpy(y, l, V * sizeof *y);
        double t0 = clft_now_seconds();
        sample(x, V, NULL, 0, &p, &rng);
        double t1 = clft_now_seconds();
        ref_top_p(y, V, p.top_p);
        size_t kept = 0;
        for (size_t i = 0; i < V; i++)
            kept += !is_ninf(y[i]);
        char what[96];
        snprintf(what, sizeof what, "top_p %.2f on vocab %zu (scale %g, %zu kept)", (double)p.top_p, V,
                 (double)scales[c], kept);
        same_scores(what, x, y, V, 0);
        printf("  %s: %.2f ms\n", what, (t1 - t0) * 1e3);
    }
    /* cost of the default parameters and of a plain draw at this size (printed, not checked) */
    for (int k = 0; k < 3; k++) {
        clft_sampling_params p = k == 0 ? clft_sampling_default_params() : plain();
        if (k == 2) p.top_p = 0.9f, p.repetition_penalty = 1.1f;
        int32_t hist[512];
        for (int i = 0; i < 512; i++)
            hist[i] = (int32_t)(tu_next(&r) % V);
        for (size_t i = 0; i < V; i++)
            l[i] = 3.0f * tu_normal(&r);
        uint64_t rng = 1;
        double t0 = clft_now_seconds();
        const int reps = 20;
        for (int i = 0; i < reps; i++) {
            memcpy(x, l, V * sizeof *x);
            sample(x, V, hist, 512, &p, &rng);
        }
        double t = (clft_now_seconds() - t0) / reps;
        printf("  vocab %zu, %s: %.3f ms per token (with a 600 KB copy of the logits)\n", V,
               k == 0   ? "default parameters"
               : k == 1 ? "temperature 1 only"
                        : "top-p 0.9 + penalty over 512 ids",
               t * 1e3);
    }
    free(l);
    free(x);
    free(y);
}

/* ---- transformers' processors --------------------------------------------------------------------- */
static float *read_scores(const cJSON *arr, size_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (i < n) x[i] = cJSON_IsNull(e) ? NINF : (float)e->valuedouble;
        i++;
    }
    TU_CHECK(i == n, "fixture row of %zu values, want %zu", i, n);
    return x;
}

static void test_hf_fixture(void) {
    size_t len = 0;
    char *txt = tu_read_file(SAMPLING_FIXTURE, &len);
    TU_CHECK(txt != NULL, "cannot read %s", SAMPLING_FIXTURE);
    if (!txt) return;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    TU_CHECK(j != NULL, "bad JSON in %s", SAMPLING_FIXTURE);
    if (!j) return;
    const cJSON *sets = cJSON_GetObjectItem(j, "sets"), *c;
    int n = 0, ok = 0, greedy = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        const cJSON *set = cJSON_GetArrayItem(sets, cJSON_GetObjectItem(c, "set")->valueint);
        size_t V = (size_t)cJSON_GetObjectItem(set, "vocab")->valueint;
        float *x = read_scores(cJSON_GetObjectItem(set, "logits"), V);
        float *want = read_scores(cJSON_GetObjectItem(c, "scores"), V);
        const cJSON *ha = cJSON_GetObjectItem(set, "history"), *e;
        size_t nh = (size_t)cJSON_GetArraySize(ha), k = 0;
        int32_t *hist = malloc((nh ? nh : 1) * sizeof *hist);
        cJSON_ArrayForEach(e, ha) hist[k++] = (int32_t)e->valueint;
        clft_sampling_params p = clft_sampling_default_params();
        p.temperature = (float)cJSON_GetObjectItem(c, "temperature")->valuedouble;
        p.top_k = cJSON_GetObjectItem(c, "top_k")->valueint;
        p.top_p = (float)cJSON_GetObjectItem(c, "top_p")->valuedouble;
        p.min_p = (float)cJSON_GetObjectItem(c, "min_p")->valuedouble;
        p.repetition_penalty = (float)cJSON_GetObjectItem(c, "repetition_penalty")->valuedouble;
        uint64_t rng = 5;
        int32_t tok = -1;
        int before = tu_failures;
        TU_OK(clft_sample(x, V, hist, nh, &p, &rng, &tok));
        char what[160];
        snprintf(what, sizeof what, "hf case %d (vocab %zu, t %g, k %d, p %g, min_p %g, penalty %g)", n, V,
                 (double)p.temperature, p.top_k, (double)p.top_p, (double)p.min_p, (double)p.repetition_penalty);
        same_scores(what, x, want, V, 1e-6);
        const cJSON *am = cJSON_GetObjectItem(c, "argmax");
        if (am) {
            greedy++;
            TU_CHECK(tok == am->valueint, "%s: greedy token %d, torch.argmax %d", what, (int)tok, am->valueint);
        } else {
            TU_CHECK(tok >= 0 && (size_t)tok < V && !is_ninf(want[tok]), "%s: drew the filtered %d", what, (int)tok);
        }
        ok += tu_failures == before;
        n++;
        free(x);
        free(want);
        free(hist);
    }
    printf("  transformers %s fixture: %d/%d cases match (%d greedy)\n",
           cJSON_GetObjectItem(j, "transformers")->valuestring, ok, n, greedy);
    TU_CHECK(n >= 80, "fixture holds %d cases", n);
    cJSON_Delete(j);
}

int main(void) {
    tu_init_seed();
    test_params();
    test_penalty_and_greedy();
    test_temperature();
    test_top_k();
    test_top_p();
    test_min_p();
    test_combined();
    test_special_inputs();
    test_determinism();
    test_distribution();
    test_large_vocab();
    test_hf_fixture();
    return tu_finish("test_sample");
}
