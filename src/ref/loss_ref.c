/* loss_ref.c - reference cross-entropy fused with the final projection (chunked logits, ignore index,
 * mean over valid tokens), body in loss_ref_tmpl.h, compiled for float (_f32) and double (_f64); and
 * the argmax of f32 logit rows. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "ref/ops_ref.h"

/* number of valid labels, or -1 (error recorded) for bad sizes or a label outside [0,V) */
static int64_t ref_xent_check(const int32_t *labels, int64_t N, int64_t C, int64_t V, int64_t chunk) {
    if (N < 0 || C < 1 || V < 1 || chunk < 1) {
        clft_error(CLFT_STATUS_INVALID_ARGUMENT, "xent ref: bad sizes N %lld C %lld V %lld chunk %lld", (long long)N,
                   (long long)C, (long long)V, (long long)chunk);
        return -1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < N; i++) {
        if (labels[i] == CLFT_REF_IGNORE_INDEX) continue;
        if (labels[i] < 0 || labels[i] >= V) {
            clft_error(CLFT_STATUS_INVALID_ARGUMENT, "xent ref: label %d at token %lld outside [0,%lld)",
                       (int)labels[i], (long long)i, (long long)V);
            return -1;
        }
        n++;
    }
    return n;
}

/* rows of the logits buffer: chunk, but no more than N (and at least 1) */
static int64_t ref_xent_rows(int64_t N, int64_t chunk) { return chunk < N ? chunk : (N > 0 ? N : 1); }

#define CLFT_REF_T        float
#define CLFT_REF_FN(name) name##_f32
#include "ref/loss_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

#define CLFT_REF_T        double
#define CLFT_REF_FN(name) name##_f64
#include "ref/loss_ref_tmpl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

clft_status clft_ref_argmax_rows(int32_t *out, const float *logits, int64_t R, int64_t V) {
    if (R < 0 || V < 1 || V > INT32_MAX)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "argmax ref: bad sizes R %lld V %lld", (long long)R,
                          (long long)V);
    for (int64_t r = 0; r < R; r++) {
        const float *x = logits + r * V;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if ((isnan(x[v]) && !isnan(x[best])) || x[v] > x[best]) best = v; /* NaN > x is false */
        out[r] = (int32_t)best;
    }
    return CLFT_OK;
}
