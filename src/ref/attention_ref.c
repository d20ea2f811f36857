/* attention_ref.c - reference causal self-attention with GQA, Mistral sliding window and segment ids
 * of packed rows, forward and backward; and its inference form against a KV cache. Bodies in
 * attention_ref_tmpl.h, compiled for float (_f32) and double (_f64). */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "ref/ops_ref.h"

static clft_status ref_attn_check(const clft_ref_attn_dims *d) {
    if (!d || d->B < 0 || d->T < 0 || d->H < 1 || d->KV < 1 || d->D < 1 || d->window < 0 || d->H % d->KV)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "attention ref: bad dims (H %lld must be a multiple of KV %lld)", d ? (long long)d->H : 0LL,
                          d ? (long long)d->KV : 0LL);
    return CLFT_OK;
}

/* first key visible from query t: 0, or t - window + 1 with a sliding window */
static int64_t ref_attn_first_key(const clft_ref_attn_dims *d, int64_t t) {
    return d->window > 0 && t - d->window + 1 > 0 ? t - d->window + 1 : 0;
}

/* key u visible from query t of row b: causal, the sliding window, and the segments (see ops_ref.h) */
static int ref_attn_visible(const clft_ref_attn_dims *d, int64_t b, int64_t t, int64_t u) {
    if (u > t || (d->window > 0 && u <= t - d->window)) return 0;
    if (!d->seg || u == t) return 1;
    const int32_t st = d->seg[b * d->T + t];
    return st >= 0 && d->seg[b * d->T + u] == st;
}

static clft_status ref_attn_kv_check(const clft_ref_attn_kv_dims *d) {
    if (!d || d->n < 0 || d->past < 0 || d->H < 1 || d->KV < 1 || d->D < 1 || d->window < 0 || d->H % d->KV)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "attention kv ref: bad dims (H %lld must be a multiple of KV %lld)",
                          d ? (long long)d->H : 0LL, d ? (long long)d->KV : 0LL);
    return CLFT_OK;
}

#define CLFT_REF_T        float
#define CLFT_REF_FN(name) name##_f32
#include "ref/attention_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

#define CLFT_REF_T        double
#define CLFT_REF_FN(name) name##_f64
#include "ref/attention_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN
