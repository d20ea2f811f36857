/* optim_ref.c - reference AdamW (torch.optim.AdamW semantics), global gradient L2 norm and clipping
 * (torch clip_grad_norm_ semantics), and the torch defaults. Bodies in optim_ref_tmpl.h, compiled for
 * float (_f32) and double (_f64). */
#include <math.h>

#include "core/core.h"
#include "ref/ops_ref.h"

clft_ref_adamw_params clft_ref_adamw_default_params(void) {
    clft_ref_adamw_params p = {1e-3, 0.9, 0.999, 1e-8, 1e-2};
    return p;
}

/* torch: clip_coef = max_norm / (total_norm + 1e-6); clamp(clip_coef, max=1.0). NaN stays NaN
 * (torch.clamp propagates it), +inf norm gives 0. */
static double ref_clip_coef(double norm, double max_norm) {
    double coef = max_norm / (norm + 1e-6);
    if (isnan(coef)) return coef;
    return coef < 1.0 ? coef : 1.0;
}

#define CLFT_REF_T        float
#define CLFT_REF_FN(name) name##_f32
#include "ref/optim_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

#define CLFT_REF_T        double
#define CLFT_REF_FN(name) name##_f64
#include "ref/optim_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN
