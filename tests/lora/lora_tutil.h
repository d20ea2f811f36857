/* lora_tutil.h - helpers shared by the lora tests: a safetensors tensor as f32, largest |x| and |a-b|. */
#ifndef CLFT_LORA_TUTIL_H
#define CLFT_LORA_TUTIL_H

#include "io/safetensors.h"
#include "tutil.h"

/* A tensor of st as f32 in memory the caller frees (NULL, with a failure, when absent). */
static inline float *lt_tensor_f32(const clft_safetensors *st, const char *name, int64_t *n) {
    const clft_st_tensor *t = clft_st_find(st, name);
    TU_CHECK(t != NULL, "tensor %s missing", name);
    if (!t) return NULL;
    float *x = malloc((size_t)t->numel * 4 + 4);
    TU_OK(clft_st_to_f32(st, t, x));
    if (n) *n = t->numel;
    return x;
}

static inline double lt_maxabs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    return m;
}

static inline double lt_maxdiff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

#endif
