/* decode_ref.c - plain C twins of cl/decode.cl (see decode_ref.h). */
#include "ref/decode_ref.h"

void clft_ref_rope_qk_fwd_f32(float *q, float *k, const int32_t *pos, const float *inv_freq, int64_t N, int64_t H,
                              int64_t KV, int64_t D) {
    /* (rope_rotate reads a pair before it writes it: in place is its documented use, out may alias x) */
    clft_ref_rope_fwd_f32(q, q, pos, inv_freq, N, H, D);
    clft_ref_rope_fwd_f32(k, k, pos, inv_freq, N, KV, D);
}
