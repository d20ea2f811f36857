/* train_ops.c - launchers of the per-token ops of the Llama block: RMSNorm, SwiGLU, residual and
 * bias add, scale/axpy, RoPE, embedding (cl/norm.cl, elementwise.cl, rope.cl, embed.cl). */
#include <stdlib.h>
#include <string.h>

#include "ops/launch.h"

clft_status clft_rmsnorm_fwd(clft_context *ctx, clft_dv out, clft_dv rstd, clft_dv x, clft_dv w, int64_t N, int64_t C,
                             float eps) {
    const char *op = "rmsnorm_fwd";
    CLFT_CHECK(clft_dims_check(op, N, C));
    if (N == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "out", out, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "rstd", rstd, (size_t)N, 4));
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "w", w, (size_t)C, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "norm.cl", CLFT_NORM_DEFS, "rmsnorm_fwd_f32", &k));
    cl_int c = (cl_int)C;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(rstd), CLFT_ARG_DV(x), CLFT_ARG_DV(w), sizeof c, &c,
                            sizeof eps, &eps, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)N * CLFT_NORM_WG, CLFT_NORM_WG, op);
}

clft_status clft_rmsnorm_bwd(clft_context *ctx, clft_dv dx, clft_dv dw, clft_dv d_out, clft_dv x, clft_dv w,
                             clft_dv rstd, int64_t N, int64_t C) {
    const char *op = "rmsnorm_bwd";
    CLFT_CHECK(clft_dims_check(op, N, C));
    if (N == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "d_out", d_out, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "w", w, (size_t)C, 4));
    CLFT_CHECK(clft_dv_check(op, "rstd", rstd, (size_t)N, 4));
    cl_int c = (cl_int)C, n = (cl_int)N;
    cl_kernel k;
    if (dx.buf) {
        CLFT_CHECK(clft_dv_check(op, "dx", dx, (size_t)(N * C), 4));
        CLFT_CHECK(clft_cl_kernel(ctx, "norm.cl", CLFT_NORM_DEFS, "rmsnorm_bwd_f32", &k));
        CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(dx), CLFT_ARG_DV(d_out), CLFT_ARG_DV(x), CLFT_ARG_DV(w),
                                CLFT_ARG_DV(rstd), sizeof c, &c, (size_t)0));
        CLFT_CHECK(clft_launch_1d(ctx, k, (size_t)N * CLFT_NORM_WG, CLFT_NORM_WG, op));
    }
    if (dw.buf) {
        CLFT_CHECK(clft_dv_check(op, "dw", dw, (size_t)C, 4));
        CLFT_CHECK(clft_cl_kernel(ctx, "norm.cl", CLFT_NORM_DEFS, "rmsnorm_dw_f32", &k));
        CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(dw), CLFT_ARG_DV(d_out), CLFT_ARG_DV(x), CLFT_ARG_DV(rstd), sizeof n,
                                &n, sizeof c, &c, (size_t)0));
        CLFT_CHECK(clft_launch_1d(ctx, k, (size_t)C, 64, op));
    }
    return CLFT_OK;
}

/* A 1-D kernel of cl/elementwise.cl whose arguments are `nv` views of n floats, then n. */
static clft_status ew_launch(clft_context *ctx, const char *op, const char *kname, int64_t n, int nv, const clft_dv *v,
                             const char *const *names) {
    if (n < 0) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: negative size", op);
    if (n == 0) return CLFT_OK;
    for (int i = 0; i < nv; i++)
        CLFT_CHECK(clft_dv_check(op, names[i], v[i], (size_t)n, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "elementwise.cl", "", kname, &k));
    cl_uint a = 0;
    for (int i = 0; i < nv; i++) {
        cl_ulong off = v[i].off;
        CLFT_CL_CHECK(clSetKernelArg(k, a++, sizeof(cl_mem), &v[i].buf->mem), op);
        CLFT_CL_CHECK(clSetKernelArg(k, a++, sizeof off, &off), op);
    }
    cl_ulong nn = (cl_ulong)n;
    CLFT_CL_CHECK(clSetKernelArg(k, a, sizeof nn, &nn), op);
    return clft_launch_1d(ctx, k, (size_t)n, 64, op);
}

clft_status clft_swiglu_fwd(clft_context *ctx, clft_dv out, clft_dv gate, clft_dv up, int64_t n) {
    const clft_dv v[] = {out, gate, up};
    const char *const names[] = {"out", "gate", "up"};
    return ew_launch(ctx, "swiglu_fwd", "swiglu_fwd_f32", n, 3, v, names);
}

clft_status clft_swiglu_bwd(clft_context *ctx, clft_dv d_gate, clft_dv d_up, clft_dv d_out, clft_dv gate, clft_dv up,
                            int64_t n) {
    const clft_dv v[] = {d_gate, d_up, d_out, gate, up};
    const char *const names[] = {"d_gate", "d_up", "d_out", "gate", "up"};
    return ew_launch(ctx, "swiglu_bwd", "swiglu_bwd_f32", n, 5, v, names);
}

clft_status clft_add_fwd(clft_context *ctx, clft_dv out, clft_dv a, clft_dv b, int64_t n) {
    const clft_dv v[] = {out, a, b};
    const char *const names[] = {"out", "a", "b"};
    return ew_launch(ctx, "add_fwd", "add_fwd_f32", n, 3, v, names);
}

clft_status clft_bias_add_fwd(clft_context *ctx, clft_dv out, clft_dv x, clft_dv bias, int64_t N, int64_t C) {
    const char *op = "bias_add_fwd";
    CLFT_CHECK(clft_dims_check(op, N, C));
    if (N == 0 || C == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "out", out, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "bias", bias, (size_t)C, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "elementwise.cl", "", "bias_add_fwd_f32", &k));
    cl_ulong nn = (cl_ulong)N;
    cl_int c = (cl_int)C;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(x), CLFT_ARG_DV(bias), sizeof nn, &nn, sizeof c, &c,
                            (size_t)0));
    return clft_launch_nd(ctx, k, 2, (size_t)C, (size_t)N, 1, op);
}

clft_status clft_bias_add_bwd(clft_context *ctx, clft_dv dbias, clft_dv d_out, int64_t N, int64_t C) {
    const char *op = "bias_add_bwd";
    CLFT_CHECK(clft_dims_check(op, N, C));
    if (C == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "dbias", dbias, (size_t)C, 4));
    CLFT_CHECK(clft_dv_check(op, "d_out", d_out, (size_t)(N * C), 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "elementwise.cl", "", "bias_grad_f32", &k));
    cl_int n = (cl_int)N, c = (cl_int)C;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(dbias), CLFT_ARG_DV(d_out), sizeof n, &n, sizeof c, &c, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)C, 64, op);
}

clft_status clft_scale(clft_context *ctx, clft_dv x, float s, int64_t n) {
    const char *op = "scale";
    if (n <= 0) return n < 0 ? clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: negative size", op) : CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)n, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "elementwise.cl", "", "scale_f32", &k));
    cl_ulong nn = (cl_ulong)n;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(x), sizeof s, &s, sizeof nn, &nn, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)n, 64, op);
}

clft_status clft_axpy(clft_context *ctx, clft_dv y, float a, clft_dv x, int64_t n) {
    const char *op = "axpy";
    if (n <= 0) return n < 0 ? clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: negative size", op) : CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "y", y, (size_t)n, 4));
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)n, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "elementwise.cl", "", "axpy_f32", &k));
    cl_ulong nn = (cl_ulong)n;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(y), sizeof a, &a, CLFT_ARG_DV(x), sizeof nn, &nn, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)n, 64, op);
}

static clft_status rope(clft_context *ctx, const char *op, clft_dv out, clft_dv x, clft_dv pos, clft_dv inv_freq,
                        int64_t N, int64_t H, int64_t D, float sign) {
    CLFT_CHECK(clft_dims_check(op, N, H * D));
    if (D <= 0 || D % 2)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: head dim %lld must be even and positive", op,
                          (long long)D);
    if (N == 0 || H == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "out", out, (size_t)(N * H * D), 4));
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)(N * H * D), 4));
    CLFT_CHECK(clft_dv_check(op, "pos", pos, (size_t)N, 4));
    CLFT_CHECK(clft_dv_check(op, "inv_freq", inv_freq, (size_t)(D / 2), 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "rope.cl", "", "rope_fwd_f32", &k));
    cl_int n = (cl_int)N, h = (cl_int)H, d = (cl_int)D;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(x), CLFT_ARG_DV(pos), CLFT_ARG_DV(inv_freq), sizeof n,
                            &n, sizeof h, &h, sizeof d, &d, sizeof sign, &sign, (size_t)0));
    return clft_launch_nd(ctx, k, 3, (size_t)(D / 2), (size_t)H, (size_t)N, op);
}

clft_status clft_rope_fwd(clft_context *ctx, clft_dv out, clft_dv x, clft_dv pos, clft_dv inv_freq, int64_t N,
                          int64_t H, int64_t D) {
    return rope(ctx, "rope_fwd", out, x, pos, inv_freq, N, H, D, 1.0f);
}

clft_status clft_rope_bwd(clft_context *ctx, clft_dv dx, clft_dv d_out, clft_dv pos, clft_dv inv_freq, int64_t N,
                          int64_t H, int64_t D) {
    return rope(ctx, "rope_bwd", dx, d_out, pos, inv_freq, N, H, D, -1.0f);
}

clft_status clft_embedding_fwd(clft_context *ctx, clft_dv out, clft_dv ids, clft_dv table, clft_dtype dtype,
                               int64_t N, int64_t V, int64_t C) {
    const char *op = "embedding_fwd";
    CLFT_CHECK(clft_dims_check(op, N, C));
    CLFT_CHECK(clft_dims_check(op, V, C));
    if (dtype != CLFT_DTYPE_F32 && dtype != CLFT_DTYPE_BF16 && dtype != CLFT_DTYPE_F16)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: table dtype %s is not f32, bf16 or f16", op,
                          clft_dtype_name(dtype));
    if (N == 0 || C == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "out", out, (size_t)(N * C), 4));
    CLFT_CHECK(clft_dv_check(op, "ids", ids, (size_t)N, 4));
    CLFT_CHECK(clft_dv_check(op, "table", table, (size_t)(V * C), dtype == CLFT_DTYPE_F32 ? 4 : 2));
    cl_kernel k;
    const char *name = dtype == CLFT_DTYPE_F32    ? "embedding_fwd_f32"
                       : dtype == CLFT_DTYPE_BF16 ? "embedding_fwd_bf16"
                                                  : "embedding_fwd_f16";
    CLFT_CHECK(clft_cl_kernel(ctx, "embed.cl", "", name, &k));
    cl_int n = (cl_int)N, v = (cl_int)V, c = (cl_int)C;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(ids), CLFT_ARG_DV(table), sizeof n, &n, sizeof v, &v,
                            sizeof c, &c, (size_t)0));
    return clft_launch_nd(ctx, k, 2, (size_t)C, (size_t)N, 1, op);
}

int64_t clft_embedding_group(const int32_t *ids, int64_t N, int64_t V, int64_t padding_idx, int32_t *rows,
                             int32_t *offsets, int32_t *tokens) {
    /* counting sort by id, stable in token order: deterministic sums on the device */
    int64_t U = 0, pos = 0;
    int32_t *count = calloc((size_t)V + 1, sizeof *count);
    if (!count) return -1;
    for (int64_t n = 0; n < N; n++)
        if (ids[n] >= 0 && ids[n] < V) count[ids[n]]++;
    if (padding_idx >= 0 && padding_idx < V) count[padding_idx] = 0;
    for (int64_t id = 0; id < V; id++) {
        if (!count[id]) continue;
        rows[U] = (int32_t)id;
        offsets[U] = (int32_t)pos;
        pos += count[id];
        count[id] = offsets[U]; /* becomes the write cursor */
        U++;
    }
    offsets[U] = (int32_t)pos;
    for (int64_t n = 0; n < N; n++)
        if (ids[n] >= 0 && ids[n] < V && ids[n] != padding_idx) tokens[count[ids[n]]++] = (int32_t)n;
    free(count);
    return U;
}

clft_status clft_embedding_bwd(clft_context *ctx, clft_dv d_table, clft_dv d_out, clft_dv rows, clft_dv offsets,
                               clft_dv tokens, int64_t U, int64_t C) {
    const char *op = "embedding_bwd";
    CLFT_CHECK(clft_dims_check(op, U, C));
    if (U == 0 || C == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "rows", rows, (size_t)U, 4));
    CLFT_CHECK(clft_dv_check(op, "offsets", offsets, (size_t)U + 1, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "embed.cl", "", "embedding_bwd_f32", &k));
    cl_int u = (cl_int)U, c = (cl_int)C;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(d_table), CLFT_ARG_DV(d_out), CLFT_ARG_DV(rows), CLFT_ARG_DV(offsets),
                            CLFT_ARG_DV(tokens), sizeof u, &u, sizeof c, &c, (size_t)0));
    return clft_launch_nd(ctx, k, 2, (size_t)C, (size_t)U, 1, op);
}

clft_status clft_dropout_fwd(clft_context *ctx, clft_dv out, clft_dv x, int64_t n, float p, uint32_t seed) {
    const char *op = "dropout";
    if (n < 0 || !(p >= 0.0f && p < 1.0f))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: bad size or p %g", op, (double)p);
    if (n == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "out", out, (size_t)n, 4));
    CLFT_CHECK(clft_dv_check(op, "x", x, (size_t)n, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "elementwise.cl", "", "dropout_f32", &k));
    cl_ulong nn = (cl_ulong)n;
    cl_uint s = seed;
    CLFT_CHECK(
        clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(x), sizeof nn, &nn, sizeof p, &p, sizeof s, &s, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)n, 64, op);
}

clft_status clft_zero(clft_context *ctx, clft_dv x, int64_t n) {
    if (n <= 0) return n < 0 ? clft_error(CLFT_STATUS_INVALID_ARGUMENT, "zero: negative size") : CLFT_OK;
    CLFT_CHECK(clft_dv_check("zero", "x", x, (size_t)n, 4));
    return clft_buf_fill_words(ctx, x.buf, x.off, (size_t)n, 0); /* 0.0f is all-zero bits */
}
