/* decode_ref.h - plain C twins of cl/decode.cl (ops/decode.h): the generator's fused ops written as the
 * training references they fuse (ref/ops_ref.h), which is their specification. */
#ifndef CLFT_REF_DECODE_REF_H
#define CLFT_REF_DECODE_REF_H

#include "ref/ops_ref.h"

/* q = rope(q), k = rope(k) at the same positions: clft_ref_rope_fwd_f32 on each, in place. */
void clft_ref_rope_qk_fwd_f32(float *q /* (N,H,D) */, float *k /* (N,KV,D) */, const int32_t *pos /* (N) */,
                              const float *inv_freq /* (D/2) */, int64_t N, int64_t H, int64_t KV, int64_t D);

#endif
