/* gcutil.h - helpers for the gradcheck tests: scratch allocation freed in one call, random fills,
 * central finite differences in double against an analytic gradient, and f32-vs-f64 comparison of
 * the two storage variants of a reference op on identical (float-representable) inputs. */
#ifndef CLFT_GCUTIL_H
#define CLFT_GCUTIL_H

#include "ref/ops_ref.h"
#include "tutil.h"

#define GC_MAX_ALLOCS 256
static void *gc_allocs[GC_MAX_ALLOCS];
static int gc_nallocs = 0;

/* zeroed scratch, released by gc_free_all(); exits on failure (test only) */
static inline void *gc_alloc_bytes(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p || gc_nallocs == GC_MAX_ALLOCS) {
        fprintf(stderr, "FAIL: test allocation\n");
        exit(1);
    }
    gc_allocs[gc_nallocs++] = p;
    return p;
}
static inline double *gc_d(int64_t n) { return gc_alloc_bytes((size_t)n * sizeof(double)); }
static inline float *gc_f(int64_t n) { return gc_alloc_bytes((size_t)n * sizeof(float)); }
static inline void gc_free_all(void) {
    while (gc_nallocs)
        free(gc_allocs[--gc_nallocs]);
}

/* uniform in [lo,hi), rounded to float so that the f32 and f64 variants can share the values */
static inline void gc_fill(tu_rng *r, double *x, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (double)tu_uniform(r, (float)lo, (float)hi);
}
static inline double gc_dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}
static inline float *gc_to_f32(const double *x, int64_t n) {
    float *y = gc_f(n);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)x[i];
    return y;
}
static inline double *gc_copy(const double *x, int64_t n) {
    double *y = gc_d(n);
    memcpy(y, x, (size_t)n * sizeof(double));
    return y;
}

/* Central differences of f() (a scalar loss computed in double) with respect to every element of x
 * (steps 1e-5 and 5e-6, Richardson-extrapolated so that curvature does not count), compared with
 * analytic (n): |a - num| <= 1e-7 + 1e-6*max(|a|,|num|). Checks at most 600 elements
 * (a seeded random subset beyond that). Returns 1 when all agree. */
static inline int gc_check(const char *what, double (*f)(void *), void *ctx, double *x, const double *analytic,
                           int64_t n) {
    const double h = 1e-5, atol = 1e-7, rtol = 1e-6;
    tu_rng r = tu_rng_make((uint64_t)n * 7919u + (uint64_t)strlen(what));
    int64_t checks = n < 600 ? n : 600, bad = 0;
    double worst = 0;
    for (int64_t c = 0; c < checks; c++) {
        int64_t i = n <= 600 ? c : (int64_t)(tu_next(&r) % (uint64_t)n);
        double x0 = x[i], dh[2];
        for (int s = 0; s < 2; s++) { /* central differences at h and h/2, Richardson-combined: O(h^4) */
            double hs = s ? h / 2 : h;
            x[i] = x0 + hs;
            double fp = f(ctx);
            x[i] = x0 - hs;
            double fm = f(ctx);
            dh[s] = (fp - fm) / (2 * hs);
        }
        x[i] = x0;
        double num = (4 * dh[1] - dh[0]) / 3, a = analytic[i], err = fabs(a - num);
        double lim = atol + rtol * fmax(fabs(a), fabs(num));
        if (err / lim > worst) worst = err / lim;
        if (!(err <= lim)) {
            if (bad < 6) fprintf(stderr, "  %s[%lld]: analytic %.12g numeric %.12g\n", what, (long long)i, a, num);
            bad++;
        }
    }
    f(ctx); /* leave the outputs of the unperturbed inputs behind */
    TU_CHECK(bad == 0, "gradcheck %s: %lld/%lld elements off (worst err/limit %.3g)", what, (long long)bad,
             (long long)checks, worst);
    return bad == 0;
}

/* f32 result against the f64 result of the same inputs: |a-b| <= atol + rtol*|ref| and NMSE <= 1e-8.
 * When the reference is tiny (RMS below 100*atol, e.g. RMSNorm's dx at C = 1, all cancellation) the
 * relative NMSE means nothing and only the elementwise bound applies. */
static inline int gc_cmp32(const char *what, const float *got, const double *ref, int64_t n, double atol, double rtol) {
    float *rf = gc_to_f32(ref, n);
    double ms = n ? gc_dot(ref, ref, n) / (double)n : 0;
    return tu_close(what, got, rf, (size_t)n, atol, rtol, sqrt(ms) < 100 * atol ? 1.0 : 1e-8);
}

/* exact or near-exact comparison of two double arrays */
static inline int gc_cmp64(const char *what, const double *got, const double *ref, int64_t n, double tol) {
    int64_t bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]);
        if (e > worst) worst = e;
        if (!(e <= tol * (1 + fabs(ref[i])))) {
            if (bad < 6) fprintf(stderr, "  %s[%lld]: got %.15g ref %.15g\n", what, (long long)i, got[i], ref[i]);
            bad++;
        }
    }
    TU_CHECK(bad == 0, "%s: %lld/%lld differ (worst %.3g, tol %.2g)", what, (long long)bad, (long long)n, worst, tol);
    return bad == 0;
}

#endif
