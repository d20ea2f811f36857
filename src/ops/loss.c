/* loss.c - launchers of cl/loss.cl: the per-row part of the fused chunked cross-entropy (the
 * projections around it are GEMMs issued by the model), and the argmax of logit rows (greedy decoding,
 * next-token accuracy). */
#include "ops/launch.h"

clft_status clft_xent_rows(clft_context *ctx, clft_dv logits, clft_dv targets, clft_dv row_loss, int64_t R, int64_t V,
                           float dscale, int grad) {
    const char *op = "xent_rows";
    CLFT_CHECK(clft_dims_check(op, R, V));
    if (R == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "logits", logits, (size_t)(R * V), 4));
    CLFT_CHECK(clft_dv_check(op, "targets", targets, (size_t)R, 4));
    CLFT_CHECK(clft_dv_check(op, "row_loss", row_loss, (size_t)R, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "loss.cl", CLFT_LOSS_DEFS, "xent_rows_f32", &k));
    cl_int v = (cl_int)V, g = grad ? 1 : 0;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(logits), CLFT_ARG_DV(targets), CLFT_ARG_DV(row_loss), sizeof v, &v,
                            sizeof dscale, &dscale, sizeof g, &g, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)R * CLFT_LOSS_WG, CLFT_LOSS_WG, op);
}

clft_status clft_argmax_rows(clft_context *ctx, clft_dv out, clft_dv logits, int64_t R, int64_t V) {
    const char *op = "argmax_rows";
    CLFT_CHECK(clft_dims_check(op, R, V));
    if (V < 1) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: rows of %lld values", op, (long long)V);
    if (R == 0) return CLFT_OK;
    CLFT_CHECK(clft_dv_check(op, "out", out, (size_t)R, 4));
    CLFT_CHECK(clft_dv_check(op, "logits", logits, (size_t)R * (size_t)V, 4));
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "loss.cl", CLFT_LOSS_DEFS, "argmax_rows_f32", &k));
    cl_int v = (cl_int)V;
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(logits), sizeof v, &v, (size_t)0));
    return clft_launch_1d(ctx, k, (size_t)R * CLFT_LOSS_WG, CLFT_LOSS_WG, op);
}
