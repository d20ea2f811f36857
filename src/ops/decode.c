/* decode.c - launchers of cl/decode.cl (ops/decode.h): fused ops of the generator's passes. */
#include "ops/decode.h"
#include "ops/launch.h"

clft_status clft_rope_qk_fwd(clft_context *ctx, clft_dv q, clft_dv k, clft_dv pos, clft_dv inv_freq, int64_t N,
                             int64_t H, int64_t KV, int64_t D) {
    const char *op = "rope_qk_fwd";
    CLFT_CHECK(clft_dims_check(op, N, H * D));
    CLFT_CHECK(clft_dims_check(op, N, KV * D));
    if (D <= 0 || D % 2)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: head dim %lld must be even and positive", op,
                          (long long)D);
    if (H < 0 || KV < 0) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: negative head count", op);
    if (N == 0 || H + KV == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "q", q, (size_t)(N * H * D), 4));
    CLFT_CHECK(clft_dv_check(op, "k", k, (size_t)(N * KV * D), 4));
    CLFT_CHECK(clft_dv_check(op, "pos", pos, (size_t)N, 4));
    CLFT_CHECK(clft_dv_check(op, "inv_freq", inv_freq, (size_t)(D / 2), 4));
    cl_kernel kr;
    CLFT_CHECK(clft_cl_kernel(ctx, "decode.cl", "", "rope_qk_fwd_f32", &kr));
    cl_int n = (cl_int)N, h = (cl_int)H, kv = (cl_int)KV, d = (cl_int)D;
    CLFT_CHECK(clft_cl_args(kr, op, CLFT_ARG_DV(q), CLFT_ARG_DV(k), CLFT_ARG_DV(pos), CLFT_ARG_DV(inv_freq), sizeof n,
                            &n, sizeof h, &h, sizeof kv, &kv, sizeof d, &d, (size_t)0));
    /* a work-group of (up to 64) pair indices per token: one group for a decoded token, whose pairs a
     * CPU runtime then runs as the lanes of a vector (sin and cos included) */
    const size_t hd = (size_t)(D / 2), l0 = hd < 64 ? hd : 64;
    size_t g[2] = {hd, (size_t)N}, l[2] = {l0, 1};
    return clft_cl_launch(ctx, kr, 2, g, l, op);
}
