/* ops_ref.c - reference embedding, RMSNorm, RoPE (with HF's inv_freq and llama3 scaling), SwiGLU,
 * residual and bias add, LoRA projection and init. The op bodies live in ops_ref_tmpl.h, compiled here
 * once for float (_f32) and once for double (_f64) so that both variants are the same math. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "ref/ops_ref.h"

/* ---- type-independent helpers ---- */
static double ref_uniform01(uint64_t *s) { /* splitmix64 -> [0,1) with 53 bits */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static clft_status ref_lora_check(const clft_ref_lora_dims *d) {
    if (!d || d->N < 0 || d->in < 1 || d->out < 1 || d->r < 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "lora ref: bad dims");
    if (!(d->dropout >= 0.0 && d->dropout < 1.0))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "lora ref: dropout %g outside [0,1)", d->dropout);
    return CLFT_OK;
}

static double ref_keep_factor(double p) { return 1.0 / (1.0 - p); }

clft_ref_rope_params clft_ref_rope_default_params(void) {
    clft_ref_rope_params p;
    p.theta = 10000.0;
    p.type = CLFT_REF_ROPE_DEFAULT;
    p.factor = 8.0;
    p.low_freq_factor = 1.0;
    p.high_freq_factor = 4.0;
    p.original_max_position = 8192.0;
    return p;
}

clft_status clft_ref_rope_inv_freq(float *inv_freq, int64_t head_dim, const clft_ref_rope_params *p) {
    if (!p || head_dim < 2 || head_dim % 2 || !(p->theta > 0))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "rope ref: head_dim %lld must be even and positive, theta > 0",
                          (long long)head_dim);
    /* HF: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), every step in f32 */
    for (int64_t i = 0; i < head_dim / 2; i++) {
        float e = (float)(2 * i) / (float)head_dim;
        float pw = (float)pow((double)(float)p->theta, (double)e);
        inv_freq[i] = 1.0f / pw;
    }
    if (p->type == CLFT_REF_ROPE_DEFAULT) return CLFT_OK;
    if (p->type != CLFT_REF_ROPE_LLAMA3)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "rope ref: unknown rope type %d", (int)p->type);
    if (!(p->factor > 0) || !(p->high_freq_factor > p->low_freq_factor) || !(p->low_freq_factor > 0) ||
        !(p->original_max_position > 0))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "rope ref: bad llama3 rope_scaling factors");
    /* HF _compute_llama3_parameters, tensor math in f32 (Python scalars meet f32 tensors as f32) */
    const float factor = (float)p->factor, lff = (float)p->low_freq_factor, hff = (float)p->high_freq_factor;
    const float old_ctx = (float)p->original_max_position;
    const float low_wl = (float)(p->original_max_position / p->low_freq_factor);
    const float high_wl = (float)(p->original_max_position / p->high_freq_factor);
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int64_t i = 0; i < head_dim / 2; i++) {
        float f = inv_freq[i];
        float wavelen = two_pi / f;
        float inv_l = wavelen > low_wl ? f / factor : f;
        if (!(wavelen < high_wl) && !(wavelen > low_wl)) {
            float smooth = (old_ctx / wavelen - lff) / (hff - lff);
            inv_l = (1.0f - smooth) * inv_l / factor + smooth * inv_l;
        }
        inv_freq[i] = inv_l;
    }
    return CLFT_OK;
}

double clft_ref_lora_scale(double alpha, int64_t r, int use_rslora) {
    return use_rslora ? alpha / sqrt((double)r) : alpha / (double)r;
}

/* ---- the two storage variants ---- */
#define CLFT_REF_T        float
#define CLFT_REF_FN(name) name##_f32
#include "ref/ops_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

#define CLFT_REF_T        double
#define CLFT_REF_FN(name) name##_f64
#include "ref/ops_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN
