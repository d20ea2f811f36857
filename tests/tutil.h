/* tutil.h - tiny test harness shared by clft's C tests: seeded RNG, tolerance comparison with
 * NMSE, check macros, device context creation (a test without a device FAILS, never skips). */
#ifndef CLFT_TUTIL_H
#define CLFT_TUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clft.h"

static int tu_failures = 0, tu_passes = 0;
static uint64_t tu_seed = 0x5eed1234abcdULL;

static inline void tu_init_seed(void) {
    const char *s = getenv("CLFT_TEST_SEED");
    if (s && s[0]) tu_seed = strtoull(s, NULL, 0);
}

typedef struct tu_rng {
    uint64_t s;
} tu_rng;
static inline tu_rng tu_rng_make(uint64_t salt) {
    tu_rng r = {tu_seed ^ (salt * 0x9e3779b97f4a7c15ULL)};
    return r;
}
static inline uint64_t tu_next(tu_rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float tu_uniform(tu_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(tu_next(r) >> 40) / (double)(1ULL << 24));
}
static inline float tu_normal(tu_rng *r) {
    double u1 = ((double)(tu_next(r) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(tu_next(r) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static inline void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = tu_uniform(r, lo, hi);
}

/* Segment ids (B,T) of packed rows for the attention tests. mode 1: contiguous examples of 1..T/2+1
 * tokens (ids 0, 1, ... per row), the last example of every other row replaced by padding (-1);
 * mode 2: ids drawn from {-1, 0, 1, 2} per token (interleaved, padding anywhere). */
static inline void tu_segments(tu_rng *r, int32_t *seg, int64_t B, int64_t T, int mode) {
    for (int64_t b = 0; b < B; b++) {
        int32_t id = 0;
        int64_t left = 0, start = 0;
        for (int64_t t = 0; t < T; t++) {
            if (mode == 2) {
                seg[b * T + t] = (int32_t)(tu_next(r) % 4) - 1;
                continue;
            }
            if (left == 0) {
                left = 1 + (int64_t)(tu_next(r) % (uint64_t)(T / 2 + 1));
                id += t > 0;
                start = t;
            }
            seg[b * T + t] = id;
            left--;
        }
        if (mode == 1 && b % 2 == 1 && start > 0)
            for (int64_t t = start; t < T; t++)
                seg[b * T + t] = -1;
    }
}

#define TU_CHECK(cond, ...)                                                                                            \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            tu_passes++;                                                                                               \
        } else {                                                                                                       \
            tu_failures++;                                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, " (seed 0x%llx)\n", (unsigned long long)tu_seed);                                          \
        }                                                                                                              \
    } while (0)

#define TU_OK(expr)                                                                                                    \
    do {                                                                                                               \
        clft_status tu_st_ = (expr);                                                                                   \
        TU_CHECK(tu_st_ == CLFT_OK, "%s -> %s: %s", #expr, clft_status_string(tu_st_), clft_last_error());             \
    } while (0)

/* |got-ref| <= atol + rtol*|ref| elementwise and NMSE <= max_nmse. Prints the first mismatches. */
static inline int tu_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol,
                           double max_nmse) {
    size_t bad = 0;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
        if (!(fabs(d) <= atol + rtol * fabs((double)ref[i])) && !(isnan(got[i]) && isnan(ref[i]))) {
            if (bad < 8)
                fprintf(stderr, "  %s[%zu]: got %.9g ref %.9g diff %.3g\n", what, i, (double)got[i], (double)ref[i],
                        fabs(d));
            bad++;
        }
    }
    double nmse = den > 0 ? num / den : num;
    int ok = bad == 0 && nmse <= max_nmse;
    TU_CHECK(ok, "%s: %zu/%zu outside atol %.2g rtol %.2g, nmse %.3g (max %.3g)", what, bad, n, atol, rtol, nmse,
             max_nmse);
    return ok;
}

static void tu_log(clft_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "[clft %d] %s\n", (int)level, msg);
}

/* A context on $CLFT_TEST_DEVICE (default device otherwise). Exits 1 when there is none. */
static inline clft_context *tu_context(void) {
    clft_set_log_callback(tu_log, NULL, getenv("CLFT_TEST_VERBOSE") ? CLFT_LOG_DEBUG : CLFT_LOG_WARN);
    clft_context_params p = clft_context_default_params();
    p.device = getenv("CLFT_TEST_DEVICE");
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&p, &ctx);
    if (st != CLFT_OK) {
        fprintf(stderr, "FAIL: no OpenCL context for the test: %s: %s\n", clft_status_string(st), clft_last_error());
        exit(1);
    }
    return ctx;
}

/* Tiny mode: set by the Oclgrind runs (CLFT_TEST_TINY=1) to shrink shapes. */
static inline int tu_tiny(void) { return getenv("CLFT_TEST_TINY") != NULL; }

/* A whole file, NUL-terminated (*len, when given, without the NUL); NULL when it cannot be read. */
static inline char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = 0;
        if (len) *len = (size_t)n;
    }
    return p;
}

/* A fresh folder PARENT/PREFIX_XXXXXX (PARENT is created if missing); NULL, with a message, when it
 * cannot be made. The returned path stays valid for the whole test. */
static inline const char *tu_scratch_dir(const char *parent, const char *prefix) {
    static char dir[4096];
    mkdir(parent, 0755);
    snprintf(dir, sizeof dir, "%s/%s_XXXXXX", parent, prefix);
    if (!mkdtemp(dir)) {
        perror(dir);
        return NULL;
    }
    return dir;
}

/* Remove a scratch folder when every check passed (it is kept for inspection otherwise). */
static inline void tu_scratch_done(const char *dir) {
    if (tu_failures || !dir) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static inline int tu_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tu_passes, tu_failures);
    return tu_failures ? 1 : 0;
}

#endif
