/* attention.c - launchers of cl/attention.cl: causal GQA attention with a sliding window,
 * flash-style forward (online softmax, lse saved) and a backward that recomputes probabilities. */
#include <math.h>
#include <stdio.h>

#include "ops/launch.h"

static clft_status attn_check(const char *op, const clft_attn_dims *d) {
    if (!d || d->B <= 0 || d->T <= 0 || d->H <= 0 || d->KV <= 0 || d->D <= 0 || d->window < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: bad dims", op);
    if (d->H % d->KV)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: %lld query heads are not a multiple of %lld kv heads", op,
                          (long long)d->H, (long long)d->KV);
    if (d->D > 512) return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: head dim %lld above 512", op, (long long)d->D);
    if (d->B * d->T * d->H > INT_MAX) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: too many rows", op);
    return CLFT_OK;
}

static void attn_defs(char *buf, size_t cap, const clft_attn_dims *d) {
    snprintf(buf, cap, "-DATT_D=%lld", (long long)d->D);
}

#define ATT_DIM_ARGS                                                                                                  \
    sizeof B, &B, sizeof T, &T, sizeof H, &H, sizeof KV, &KV, sizeof W, &W, sizeof scale, &scale

clft_status clft_attention_fwd(clft_context *ctx, clft_dv out, clft_dv lse, clft_dv q, clft_dv k, clft_dv v,
                               const clft_attn_dims *d) {
    const char *op = "attention_fwd";
    CLFT_CHECK(attn_check(op, d));
    size_t nq = (size_t)(d->B * d->T * d->H * d->D), nk = (size_t)(d->B * d->T * d->KV * d->D);
    CLFT_CHECK(clft_dv_check(op, "out", out, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "lse", lse, (size_t)(d->B * d->H * d->T), 4));
    CLFT_CHECK(clft_dv_check(op, "q", q, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "k", k, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "v", v, nk, 4));
    char defs[64];
    attn_defs(defs, sizeof defs, d);
    cl_kernel kr;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_fwd_f32", &kr));
    cl_int B = (cl_int)d->B, T = (cl_int)d->T, H = (cl_int)d->H, KV = (cl_int)d->KV, W = (cl_int)d->window;
    float scale = (float)(1.0 / sqrt((double)d->D));
    CLFT_CHECK(clft_cl_args(kr, op, CLFT_ARG_DV(out), CLFT_ARG_DV(lse), CLFT_ARG_DV(q), CLFT_ARG_DV(k), CLFT_ARG_DV(v),
                            ATT_DIM_ARGS, (size_t)0));
    return clft_launch_nd(ctx, kr, 3, (size_t)d->T, (size_t)d->H, (size_t)d->B, op);
}

clft_status clft_attention_bwd(clft_context *ctx, clft_dv dq, clft_dv dk, clft_dv dv, clft_dv d_out, clft_dv q, clft_dv k,
                               clft_dv v, clft_dv out, clft_dv lse, clft_dv delta, const clft_attn_dims *d) {
    const char *op = "attention_bwd";
    CLFT_CHECK(attn_check(op, d));
    size_t nq = (size_t)(d->B * d->T * d->H * d->D), nk = (size_t)(d->B * d->T * d->KV * d->D);
    size_t nl = (size_t)(d->B * d->H * d->T);
    CLFT_CHECK(clft_dv_check(op, "dq", dq, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "dk", dk, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "dv", dv, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "d_out", d_out, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "q", q, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "k", k, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "v", v, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "out", out, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "lse", lse, nl, 4));
    CLFT_CHECK(clft_dv_check(op, "delta", delta, nl, 4));
    char defs[64];
    attn_defs(defs, sizeof defs, d);
    cl_int B = (cl_int)d->B, T = (cl_int)d->T, H = (cl_int)d->H, KV = (cl_int)d->KV, W = (cl_int)d->window;
    float scale = (float)(1.0 / sqrt((double)d->D));
    cl_kernel kd, kq, kkv;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_delta_f32", &kd));
    CLFT_CHECK(clft_cl_args(kd, op, CLFT_ARG_DV(delta), CLFT_ARG_DV(d_out), CLFT_ARG_DV(out), sizeof B, &B, sizeof T, &T,
                            sizeof H, &H, (size_t)0));
    CLFT_CHECK(clft_launch_nd(ctx, kd, 3, (size_t)d->T, (size_t)d->H, (size_t)d->B, op));
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_bwd_dq_f32", &kq));
    CLFT_CHECK(clft_cl_args(kq, op, CLFT_ARG_DV(dq), CLFT_ARG_DV(d_out), CLFT_ARG_DV(q), CLFT_ARG_DV(k), CLFT_ARG_DV(v),
                            CLFT_ARG_DV(lse), CLFT_ARG_DV(delta), ATT_DIM_ARGS, (size_t)0));
    CLFT_CHECK(clft_launch_nd(ctx, kq, 3, (size_t)d->T, (size_t)d->H, (size_t)d->B, op));
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_bwd_dkv_f32", &kkv));
    CLFT_CHECK(clft_cl_args(kkv, op, CLFT_ARG_DV(dk), CLFT_ARG_DV(dv), CLFT_ARG_DV(d_out), CLFT_ARG_DV(q), CLFT_ARG_DV(k),
                            CLFT_ARG_DV(v), CLFT_ARG_DV(lse), CLFT_ARG_DV(delta), ATT_DIM_ARGS, (size_t)0));
    return clft_launch_nd(ctx, kkv, 3, (size_t)d->T, (size_t)d->KV, (size_t)d->B, op);
}
