/* decode.h - launchers of cl/decode.cl: ops of the generator's passes (src/model/generate.c) that fuse
 * what training runs as separate launches. Each mirrors its src/ref twin in ref/decode_ref.h. */
#ifndef CLFT_OPS_DECODE_H
#define CLFT_OPS_DECODE_H

#include "ops/ops.h"

/* RoPE (rotate-half, +angle) of the queries and the keys of the same N tokens, in place, in one launch:
 * the same rotation as clft_rope_fwd on q and then on k. pos (N) int32, inv_freq (D/2) f32. */
clft_status clft_rope_qk_fwd(clft_context *ctx, clft_dv q /* (N,H,D) */, clft_dv k /* (N,KV,D) */, clft_dv pos,
                             clft_dv inv_freq, int64_t N, int64_t H, int64_t KV, int64_t D);

#endif
