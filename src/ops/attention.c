/* attention.c - launchers of cl/attention.cl: causal GQA attention with a sliding window and
 * optional segment ids (packed rows), flash-style forward (online softmax, lse saved) and a backward
 * that recomputes probabilities; and the blocked path through the GEMM layer. Also the inference
 * attention against a KV cache (cl/attention_kv.cl), with the keys split in chunks when few queries
 * would leave the device idle (flash-decoding). */
#include <math.h>
#include <stdio.h>

#include "ops/gemm.h"
#include "ops/launch.h"

static clft_status attn_check(const char *op, const clft_attn_dims *d) {
    if (!d || d->B <= 0 || d->T <= 0 || d->H <= 0 || d->KV <= 0 || d->D <= 0 || d->window < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: bad dims", op);
    if (d->H % d->KV)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: %lld query heads are not a multiple of %lld kv heads", op,
                          (long long)d->H, (long long)d->KV);
    if (d->D > 512) return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: head dim %lld above 512", op, (long long)d->D);
    if (d->B * d->T * d->H > INT_MAX) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: too many rows", op);
    if (d->seg.buf) CLFT_CHECK(clft_dv_check(op, "seg", d->seg, (size_t)(d->B * d->T), 4));
    return CLFT_OK;
}

static void attn_defs(char *buf, size_t cap, const clft_attn_dims *d) {
    snprintf(buf, cap, "-DATT_D=%lld%s", (long long)d->D, d->seg.buf ? " -DATT_SEG=1" : "");
}

/* The seg argument: the ids, or (ATT_SEG=0 builds never read it) any valid buffer standing in. */
static clft_dv attn_seg(const clft_attn_dims *d, clft_dv stand_in) { return d->seg.buf ? d->seg : stand_in; }

/* The views of the forward and of the backward hold what the dims need. */
static clft_status attn_check_fwd(const char *op, const clft_attn_dims *d, clft_dv out, clft_dv lse, clft_dv q,
                                  clft_dv k, clft_dv v) {
    CLFT_CHECK(attn_check(op, d));
    size_t nq = (size_t)(d->B * d->T * d->H * d->D), nk = (size_t)(d->B * d->T * d->KV * d->D);
    CLFT_CHECK(clft_dv_check(op, "out", out, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "lse", lse, (size_t)(d->B * d->H * d->T), 4));
    CLFT_CHECK(clft_dv_check(op, "q", q, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "k", k, nk, 4));
    return clft_dv_check(op, "v", v, nk, 4);
}

static clft_status attn_check_bwd(const char *op, const clft_attn_dims *d, clft_dv dq, clft_dv dk, clft_dv dv,
                                  clft_dv d_out, clft_dv q, clft_dv k, clft_dv v, clft_dv out, clft_dv lse,
                                  clft_dv delta) {
    CLFT_CHECK(attn_check_fwd(op, d, out, lse, q, k, v));
    size_t nq = (size_t)(d->B * d->T * d->H * d->D), nk = (size_t)(d->B * d->T * d->KV * d->D);
    CLFT_CHECK(clft_dv_check(op, "dq", dq, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "dk", dk, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "dv", dv, nk, 4));
    CLFT_CHECK(clft_dv_check(op, "d_out", d_out, nq, 4));
    return clft_dv_check(op, "delta", delta, (size_t)(d->B * d->H * d->T), 4);
}

/* delta (B,H,T) = rowwise d_out . out, shared by both backward paths */
static clft_status attn_delta(clft_context *ctx, const char *op, clft_dv delta, clft_dv d_out, clft_dv out,
                              const clft_attn_dims *d) {
    char defs[64];
    attn_defs(defs, sizeof defs, d);
    cl_kernel kd;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_delta_f32", &kd));
    cl_int B = (cl_int)d->B, T = (cl_int)d->T, H = (cl_int)d->H;
    CLFT_CHECK(clft_cl_args(kd, op, CLFT_ARG_DV(delta), CLFT_ARG_DV(d_out), CLFT_ARG_DV(out), sizeof B, &B, sizeof T,
                            &T, sizeof H, &H, (size_t)0));
    return clft_launch_nd(ctx, kd, 3, (size_t)d->T, (size_t)d->H, (size_t)d->B, op);
}

#define ATT_DIM_ARGS sizeof B, &B, sizeof T, &T, sizeof H, &H, sizeof KV, &KV, sizeof W, &W, sizeof scale, &scale

clft_status clft_attention_fwd(clft_context *ctx, clft_dv out, clft_dv lse, clft_dv q, clft_dv k, clft_dv v,
                               const clft_attn_dims *d) {
    const char *op = "attention_fwd";
    CLFT_CHECK(attn_check_fwd(op, d, out, lse, q, k, v));
    char defs[64];
    attn_defs(defs, sizeof defs, d);
    cl_kernel kr;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_fwd_f32", &kr));
    cl_int B = (cl_int)d->B, T = (cl_int)d->T, H = (cl_int)d->H, KV = (cl_int)d->KV, W = (cl_int)d->window;
    float scale = (float)(1.0 / sqrt((double)d->D));
    clft_dv seg = attn_seg(d, q);
    CLFT_CHECK(clft_cl_args(kr, op, CLFT_ARG_DV(out), CLFT_ARG_DV(lse), CLFT_ARG_DV(q), CLFT_ARG_DV(k), CLFT_ARG_DV(v),
                            CLFT_ARG_DV(seg), ATT_DIM_ARGS, (size_t)0));
    return clft_launch_nd(ctx, kr, 3, (size_t)d->T, (size_t)d->H, (size_t)d->B, op);
}

clft_status clft_attention_bwd(clft_context *ctx, clft_dv dq, clft_dv dk, clft_dv dv, clft_dv d_out, clft_dv q,
                               clft_dv k, clft_dv v, clft_dv out, clft_dv lse, clft_dv delta, const clft_attn_dims *d) {
    const char *op = "attention_bwd";
    CLFT_CHECK(attn_check_bwd(op, d, dq, dk, dv, d_out, q, k, v, out, lse, delta));
    char defs[64];
    attn_defs(defs, sizeof defs, d);
    cl_int B = (cl_int)d->B, T = (cl_int)d->T, H = (cl_int)d->H, KV = (cl_int)d->KV, W = (cl_int)d->window;
    float scale = (float)(1.0 / sqrt((double)d->D));
    cl_kernel kq, kkv;
    clft_dv seg = attn_seg(d, q);
    CLFT_CHECK(attn_delta(ctx, op, delta, d_out, out, d));
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_bwd_dq_f32", &kq));
    CLFT_CHECK(clft_cl_args(kq, op, CLFT_ARG_DV(dq), CLFT_ARG_DV(d_out), CLFT_ARG_DV(q), CLFT_ARG_DV(k), CLFT_ARG_DV(v),
                            CLFT_ARG_DV(lse), CLFT_ARG_DV(delta), CLFT_ARG_DV(seg), ATT_DIM_ARGS, (size_t)0));
    CLFT_CHECK(clft_launch_nd(ctx, kq, 3, (size_t)d->T, (size_t)d->H, (size_t)d->B, op));
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", defs, "attention_bwd_dkv_f32", &kkv));
    CLFT_CHECK(clft_cl_args(kkv, op, CLFT_ARG_DV(dk), CLFT_ARG_DV(dv), CLFT_ARG_DV(d_out), CLFT_ARG_DV(q),
                            CLFT_ARG_DV(k), CLFT_ARG_DV(v), CLFT_ARG_DV(lse), CLFT_ARG_DV(delta), CLFT_ARG_DV(seg),
                            ATT_DIM_ARGS, (size_t)0));
    return clft_launch_nd(ctx, kkv, 3, (size_t)d->T, (size_t)d->KV, (size_t)d->B, op);
}

/* ---- blocked path (GEMM layer + masked softmax kernels) ---------------------------------------- */

#define ATT_SCORES_BUDGET ((int64_t)4 << 20) /* floats of S per buffer */

static int64_t att_block_rows(const clft_attn_dims *d) {
    if (d->block > 0) return d->block < d->T ? d->block : d->T;
    int64_t rows = ATT_SCORES_BUDGET / (d->KV * d->T);
    if (rows >= d->T) return d->T;
    rows = rows / 16 * 16;
    return rows < 16 ? (d->T < 16 ? d->T : 16) : rows;
}

size_t clft_attention_workspace_floats(const clft_attn_dims *d) {
    return 2 * (size_t)d->KV * (size_t)att_block_rows(d) * (size_t)d->T;
}

typedef struct att_blk {
    int64_t b, g, q0, rows, k0, nk;
} att_blk;

/* S (KV x rows x nk) = scale * Q_blk K_range^T, batched over kv heads for query heads kvh*rep+g */
static clft_status att_scores(clft_context *ctx, const clft_buf *ws, size_t ws_off, clft_dv q, clft_dv k,
                              const clft_attn_dims *d, const att_blk *z, float scale) {
    const int64_t rep = d->H / d->KV, D = d->D;
    return clft_gemm_f32_batched(
        ctx, 0, 1, z->rows, z->nk, D, scale,
        clft_mat_of(q.buf, q.off + (size_t)(((z->b * d->T + z->q0) * d->H + z->g) * D), d->H * D), rep * D,
        clft_mat_of(k.buf, k.off + (size_t)((z->b * d->T + z->k0) * d->KV * D), d->KV * D), D, 0.0f,
        clft_mat_of(ws, ws_off, z->nk), z->rows * z->nk, d->KV);
}

static clft_status att_softmax_kernel(clft_context *ctx, cl_kernel k, const char *what, const clft_buf *ws,
                                      size_t s_off, const clft_buf *dp, size_t dp_off, clft_dv lse, clft_dv delta,
                                      const clft_attn_dims *d, const att_blk *z) {
    cl_int rows = (cl_int)z->rows, nk = (cl_int)z->nk, q0 = (cl_int)z->q0, k0 = (cl_int)z->k0, b = (cl_int)z->b,
           g = (cl_int)z->g, rep = (cl_int)(d->H / d->KV), H = (cl_int)d->H, T = (cl_int)d->T, W = (cl_int)d->window;
    cl_ulong so = s_off;
    clft_dv seg = attn_seg(d, lse);
    if (!dp) {
        CLFT_CHECK(clft_cl_args(k, what, sizeof(cl_mem), &ws->mem, sizeof so, &so, CLFT_ARG_DV(lse), CLFT_ARG_DV(seg),
                                sizeof rows, &rows, sizeof nk, &nk, sizeof q0, &q0, sizeof k0, &k0, sizeof b, &b,
                                sizeof g, &g, sizeof rep, &rep, sizeof H, &H, sizeof T, &T, sizeof W, &W, (size_t)0));
        size_t gl[2] = {(size_t)z->rows * CLFT_ATT_WG, (size_t)d->KV}, lo[2] = {CLFT_ATT_WG, 1};
        return clft_cl_launch(ctx, k, 2, gl, lo, what);
    }
    cl_ulong dpo = dp_off;
    CLFT_CHECK(clft_cl_args(k, what, sizeof(cl_mem), &ws->mem, sizeof so, &so, sizeof(cl_mem), &dp->mem, sizeof dpo,
                            &dpo, CLFT_ARG_DV(lse), CLFT_ARG_DV(delta), CLFT_ARG_DV(seg), sizeof rows, &rows, sizeof nk,
                            &nk, sizeof q0, &q0, sizeof k0, &k0, sizeof b, &b, sizeof g, &g, sizeof rep, &rep, sizeof H,
                            &H, sizeof T, &T, sizeof W, &W, (size_t)0));
    return clft_launch_nd(ctx, k, 3, (size_t)z->nk, (size_t)z->rows, (size_t)d->KV, what);
}

static void att_range(const clft_attn_dims *d, int64_t q0, int64_t rows, att_blk *z) {
    z->q0 = q0;
    z->rows = rows;
    z->k0 = d->window > 0 && q0 - d->window + 1 > 0 ? q0 - d->window + 1 : 0;
    z->nk = q0 + rows - z->k0;
}

static clft_status att_ws_check(const char *op, const clft_buf *ws, const clft_attn_dims *d) {
    if (!ws || !ws->mem || ws->bytes < clft_attention_workspace_floats(d) * sizeof(float))
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: workspace must hold %zu floats", op,
                          clft_attention_workspace_floats(d));
    return CLFT_OK;
}

static clft_status attention_fwd_blocked(clft_context *ctx, clft_dv out, clft_dv lse, clft_dv q, clft_dv k, clft_dv v,
                                         const clft_buf *ws, const clft_attn_dims *d) {
    const char *op = "attention_fwd_blocked";
    CLFT_CHECK(attn_check_fwd(op, d, out, lse, q, k, v));
    CLFT_CHECK(att_ws_check(op, ws, d));
    cl_kernel ks;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", d->seg.buf ? CLFT_ATT_SEG_DEFS : CLFT_ATT_WG_DEFS,
                              "attention_softmax_f32", &ks));
    const int64_t rep = d->H / d->KV, D = d->D, Bq = att_block_rows(d);
    const float scale = (float)(1.0 / sqrt((double)D));
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t g = 0; g < rep; g++)
            for (int64_t q0 = 0; q0 < d->T; q0 += Bq) {
                att_blk z = {b, g, 0, 0, 0, 0};
                att_range(d, q0, d->T - q0 < Bq ? d->T - q0 : Bq, &z);
                CLFT_CHECK(att_scores(ctx, ws, 0, q, k, d, &z, scale));
                CLFT_CHECK(att_softmax_kernel(ctx, ks, op, ws, 0, NULL, 0, lse, lse, d, &z));
                CLFT_CHECK(clft_gemm_f32_batched(
                    ctx, 0, 0, z.rows, D, z.nk, 1.0f, clft_mat_of(ws, 0, z.nk), z.rows * z.nk,
                    clft_mat_of(v.buf, v.off + (size_t)((b * d->T + z.k0) * d->KV * D), d->KV * D), D, 0.0f,
                    clft_mat_of(out.buf, out.off + (size_t)(((b * d->T + q0) * d->H + g) * D), d->H * D), rep * D,
                    d->KV));
            }
    return CLFT_OK;
}

static clft_status attention_bwd_blocked(clft_context *ctx, clft_dv dq, clft_dv dk, clft_dv dv, clft_dv d_out,
                                         clft_dv q, clft_dv k, clft_dv v, clft_dv out, clft_dv lse, clft_dv delta,
                                         const clft_buf *ws, const clft_attn_dims *d) {
    const char *op = "attention_bwd_blocked";
    CLFT_CHECK(attn_check_bwd(op, d, dq, dk, dv, d_out, q, k, v, out, lse, delta));
    CLFT_CHECK(att_ws_check(op, ws, d));
    const size_t nkv = (size_t)(d->B * d->T * d->KV * d->D);
    cl_kernel kds;
    CLFT_CHECK(attn_delta(ctx, op, delta, d_out, out, d));
    CLFT_CHECK(clft_cl_kernel(ctx, "attention.cl", d->seg.buf ? CLFT_ATT_SEG_DEFS : CLFT_ATT_WG_DEFS,
                              "attention_dsoftmax_f32", &kds));
    CLFT_CHECK(clft_zero(ctx, dk, (int64_t)nkv));
    CLFT_CHECK(clft_zero(ctx, dv, (int64_t)nkv));
    const int64_t rep = d->H / d->KV, D = d->D, Bq = att_block_rows(d);
    const size_t half = clft_attention_workspace_floats(d) / 2;
    const float scale = (float)(1.0 / sqrt((double)D));
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t g = 0; g < rep; g++)
            for (int64_t q0 = 0; q0 < d->T; q0 += Bq) {
                att_blk z = {b, g, 0, 0, 0, 0};
                att_range(d, q0, d->T - q0 < Bq ? d->T - q0 : Bq, &z);
                const size_t qoff = (size_t)(((b * d->T + q0) * d->H + g) * D);
                const size_t kvoff = (size_t)((b * d->T + z.k0) * d->KV * D);
                const int64_t sS = z.rows * z.nk;
                /* S = scale Q K^T ; dP = dO V^T ; then P and dS = P (dP - delta) */
                CLFT_CHECK(att_scores(ctx, ws, 0, q, k, d, &z, scale));
                CLFT_CHECK(clft_gemm_f32_batched(
                    ctx, 0, 1, z.rows, z.nk, D, 1.0f, clft_mat_of(d_out.buf, d_out.off + qoff, d->H * D), rep * D,
                    clft_mat_of(v.buf, v.off + kvoff, d->KV * D), D, 0.0f, clft_mat_of(ws, half, z.nk), sS, d->KV));
                CLFT_CHECK(att_softmax_kernel(ctx, kds, op, ws, 0, ws, half, lse, delta, d, &z));
                /* dV += P^T dO ; dQ = scale dS K ; dK += scale dS^T Q */
                CLFT_CHECK(clft_gemm_f32_batched(ctx, 1, 0, z.nk, D, z.rows, 1.0f, clft_mat_of(ws, 0, z.nk), sS,
                                                 clft_mat_of(d_out.buf, d_out.off + qoff, d->H * D), rep * D, 1.0f,
                                                 clft_mat_of(dv.buf, dv.off + kvoff, d->KV * D), D, d->KV));
                CLFT_CHECK(clft_gemm_f32_batched(ctx, 0, 0, z.rows, D, z.nk, scale, clft_mat_of(ws, half, z.nk), sS,
                                                 clft_mat_of(k.buf, k.off + kvoff, d->KV * D), D, 0.0f,
                                                 clft_mat_of(dq.buf, dq.off + qoff, d->H * D), rep * D, d->KV));
                CLFT_CHECK(clft_gemm_f32_batched(ctx, 1, 0, z.nk, D, z.rows, scale, clft_mat_of(ws, half, z.nk), sS,
                                                 clft_mat_of(q.buf, q.off + qoff, d->H * D), rep * D, 1.0f,
                                                 clft_mat_of(dk.buf, dk.off + kvoff, d->KV * D), D, d->KV));
            }
    return CLFT_OK;
}

/* The public blocked entry points run in the "attention" profiling scope: with a profiling context
 * their GEMMs count as attention, not as GEMMs of activations (clft bench train's op split). */
clft_status clft_attention_fwd_blocked(clft_context *ctx, clft_dv out, clft_dv lse, clft_dv q, clft_dv k, clft_dv v,
                                       const clft_buf *ws, const clft_attn_dims *d) {
    const char *scope = clft_cl_profile_set_scope(ctx, "attention");
    clft_status st = attention_fwd_blocked(ctx, out, lse, q, k, v, ws, d);
    clft_cl_profile_set_scope(ctx, scope);
    return st;
}

clft_status clft_attention_bwd_blocked(clft_context *ctx, clft_dv dq, clft_dv dk, clft_dv dv, clft_dv d_out, clft_dv q,
                                       clft_dv k, clft_dv v, clft_dv out, clft_dv lse, clft_dv delta,
                                       const clft_buf *ws, const clft_attn_dims *d) {
    const char *scope = clft_cl_profile_set_scope(ctx, "attention");
    clft_status st = attention_bwd_blocked(ctx, dq, dk, dv, d_out, q, k, v, out, lse, delta, ws, d);
    clft_cl_profile_set_scope(ctx, scope);
    return st;
}

/* ---- inference: attention against a KV cache (cl/attention_kv.cl) ------------------------------ */

/* Partial rows (query, head, chunk) the workspace is sized for: a split uses at most
 * ATT_KV_MAX_PARTS / (n*H) chunks per query head (and none when that is below 2). Far more than the
 * automatic choice asks for on any device (on a GPU of 132 compute units with 9 heads: 118). */
#define ATT_KV_MAX_PARTS ((int64_t)16384)
#define ATT_KV_MIN_KEYS  64 /* keys per chunk at least, in the automatic choice */

static int64_t att_kv_max_split(const clft_attn_kv_dims *d) {
    const int64_t s = ATT_KV_MAX_PARTS / (d->n * d->H);
    return s >= 2 ? s : 1;
}

/* Depends on n, H and D only (not on past, window or the device): constant in past+n, and for given
 * H and D largest at n = 1 (n*H*floor(M/(n*H)) <= H*floor(M/H)), so sizing it once for n = 1 covers
 * every call with the same H and D; never above ATT_KV_MAX_PARTS * (D+2). */
size_t clft_attention_kv_workspace_floats(const clft_attn_kv_dims *d) {
    if (!d || d->n <= 0 || d->H <= 0 || d->D <= 0 || d->n > ATT_KV_MAX_PARTS || d->H > ATT_KV_MAX_PARTS) return 0;
    const int64_t s = att_kv_max_split(d);
    return s >= 2 ? (size_t)(d->n * d->H * s) * (size_t)(d->D + 2) : 0;
}

enum { ATT_KV_AUTO = 0, ATT_KV_ITEM = 1, ATT_KV_GROUP = 2 };

/* Work-group size of the group kernel: small under Oclgrind (tiny tests then cover several blocks). */
static int att_kv_wg(const clft_context *ctx) { return ctx->caps.is_oclgrind ? 4 : 64; }

/* The program's options: the head dim, the group kernel's work-group and, under Oclgrind, vectors of
 * at most 8 floats in the item kernel (its checker mis-tracks float16: see cl/attention_kv.cl). */
static void att_kv_defs(const clft_context *ctx, char *buf, size_t cap, int64_t D) {
    snprintf(buf, cap, "-DATT_D=%lld -DKV_WG=%d%s", (long long)D, att_kv_wg(ctx),
             ctx->caps.is_oclgrind ? " -DKV_VEC_MAX=8" : "");
}

static int64_t att_kv_ceil(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Chunks per query head when the caller leaves it to us (measured on two CPU runtimes, PoCL and
 * Intel's; the GPU rule is the usual flash-decoding one, not measured here):
 *  - GPU (group kernel): about 8 work-groups per compute unit, each chunk at least two blocks of
 *    the work-group;
 *  - CPU (item kernel): a chunk's keys and values should stay in a core's L2 (~256 KiB) while the
 *    GQA group's query heads, neighbours in the NDRange, read them again (a chunk costs a few
 *    microseconds more: the rounding is down), and there should be 4 work-items per compute unit;
 *    a chunk holds ATT_KV_MIN_KEYS keys at least. */
static int64_t att_kv_auto_split(const clft_context *ctx, const clft_attn_kv_dims *d, int64_t keys, int kernel,
                                 int wg) {
    const int64_t cus = ctx->caps.info.compute_units ? (int64_t)ctx->caps.info.compute_units : 1, rows = d->n * d->H;
    if (kernel == ATT_KV_GROUP) {
        const int64_t by_keys = att_kv_ceil(keys, 2 * (int64_t)wg), by_cus = 8 * cus / rows;
        return by_cus < by_keys ? by_cus : by_keys;
    }
    const int64_t l2_keys = (int64_t)(32768 / d->D) > ATT_KV_MIN_KEYS ? (int64_t)(32768 / d->D) : ATT_KV_MIN_KEYS;
    const int64_t by_cache = keys / l2_keys, by_cus = att_kv_ceil(4 * cus, rows);
    return by_cache > by_cus ? by_cache : by_cus;
}

static clft_status att_kv_check(const char *op, const clft_attn_kv_dims *d, clft_dv out, clft_dv q, clft_dv kc,
                                clft_dv vc) {
    if (!d || d->n < 0 || d->past < 0 || d->H <= 0 || d->KV <= 0 || d->D <= 0 || d->window < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: bad dims", op);
    if (d->H % d->KV)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: %lld query heads are not a multiple of %lld kv heads", op,
                          (long long)d->H, (long long)d->KV);
    if (d->D > 512) return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: head dim %lld above 512", op, (long long)d->D);
    if (d->n > INT_MAX / 2 || d->past > INT_MAX / 2 - d->n || d->H > INT_MAX / 64 || d->n * d->H > INT_MAX / 64)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: %lld queries of %lld heads after %lld positions: too many",
                          op, (long long)d->n, (long long)d->H, (long long)d->past);
    const size_t nq = (size_t)(d->n * d->H * d->D), nk = (size_t)((d->past + d->n) * d->KV * d->D);
    CLFT_CHECK(clft_dv_check(op, "out", out, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "q", q, nq, 4));
    CLFT_CHECK(clft_dv_check(op, "kc", kc, nk, 4));
    return clft_dv_check(op, "vc", vc, nk, 4);
}

static clft_status att_kv_fwd(clft_context *ctx, clft_dv out, clft_dv q, clft_dv kc, clft_dv vc, const clft_buf *ws,
                              const clft_attn_kv_dims *d, int kernel, int64_t split) {
    const char *op = "attention_kv_fwd";
    if (split < 0 || kernel < ATT_KV_AUTO || kernel > ATT_KV_GROUP)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: bad kernel %d or split %lld", op, kernel,
                          (long long)split);
    CLFT_CHECK(att_kv_check(op, d, out, q, kc, vc));
    if (d->n == 0) return CLFT_OK;
    const size_t need = clft_attention_kv_workspace_floats(d);
    if (need && (!ws || !ws->mem || ws->bytes < need * sizeof(float)))
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: workspace must hold %zu floats", op, need);
    if (kernel == ATT_KV_AUTO) kernel = ctx->caps.is_gpu ? ATT_KV_GROUP : ATT_KV_ITEM;
    const int wg = att_kv_wg(ctx);
    /* keys [k_lo, past+n): the first key the first query sees, to the last query's own */
    const int64_t k_lo = d->window > 0 && d->past - d->window + 1 > 0 ? d->past - d->window + 1 : 0;
    const int64_t keys = d->past + d->n - k_lo, max_split = att_kv_max_split(d);
    int64_t s = split;
    if (!s) {
        s = att_kv_auto_split(ctx, d, keys, kernel, wg);
        if (s > att_kv_ceil(keys, ATT_KV_MIN_KEYS)) s = att_kv_ceil(keys, ATT_KV_MIN_KEYS);
    }
    if (s > max_split) s = max_split;
    if (s > keys) s = keys;
    if (s < 1) s = 1;
    const int64_t csize = att_kv_ceil(keys, s);
    s = att_kv_ceil(keys, csize); /* no empty trailing chunk */
    char defs[80];
    att_kv_defs(ctx, defs, sizeof defs, d->D);
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention_kv.cl", defs,
                              kernel == ATT_KV_GROUP ? "attention_kv_fwd_f32_group" : "attention_kv_fwd_f32_item", &k));
    cl_int n = (cl_int)d->n, past = (cl_int)d->past, H = (cl_int)d->H, KV = (cl_int)d->KV, rep = (cl_int)(d->H / d->KV),
           W = (cl_int)d->window, ns = (cl_int)s, cs = (cl_int)csize, klo = (cl_int)k_lo;
    float scale = (float)(1.0 / sqrt((double)d->D));
    clft_dv part = s > 1 ? clft_dv_of(ws, 0) : out; /* nsplit == 1 never touches part */
    CLFT_CHECK(clft_cl_args(k, op, CLFT_ARG_DV(out), CLFT_ARG_DV(part), CLFT_ARG_DV(q), CLFT_ARG_DV(kc),
                            CLFT_ARG_DV(vc), sizeof n, &n, sizeof past, &past, sizeof H, &H, sizeof KV, &KV, sizeof rep,
                            &rep, sizeof W, &W, sizeof ns, &ns, sizeof cs, &cs, sizeof klo, &klo, sizeof scale, &scale,
                            (size_t)0));
    /* the item kernel runs one work-item per work-group: a CPU runtime spreads work-groups over its
     * threads, and left to choose it may put all of a decoding step's few work-items in one (also
     * measured as fast as the runtime's choice, or faster, for prefills of 16-512 queries) */
    size_t gl[3] = {(size_t)d->H, (size_t)s, (size_t)d->n}, lo[3] = {1, 1, 1};
    if (kernel == ATT_KV_GROUP) gl[0] *= (size_t)wg, lo[0] = (size_t)wg;
    CLFT_CHECK(clft_cl_launch(ctx, k, 3, gl, lo, op));
    if (s == 1) return CLFT_OK;
    cl_kernel kcomb;
    CLFT_CHECK(clft_cl_kernel(ctx, "attention_kv.cl", defs, "attention_kv_combine_f32", &kcomb));
    CLFT_CHECK(clft_cl_args(kcomb, op, CLFT_ARG_DV(out), CLFT_ARG_DV(part), sizeof n, &n, sizeof H, &H, sizeof ns, &ns,
                            (size_t)0));
    return clft_launch_nd(ctx, kcomb, 3, (size_t)d->D, (size_t)d->H, (size_t)d->n, op);
}

clft_status clft_attention_kv_fwd(clft_context *ctx, clft_dv out, clft_dv q, clft_dv kc, clft_dv vc, const clft_buf *ws,
                                  const clft_attn_kv_dims *d) {
    return att_kv_fwd(ctx, out, q, kc, vc, ws, d, ATT_KV_AUTO, 0);
}

clft_status clft_attention_kv_fwd_forced(clft_context *ctx, clft_dv out, clft_dv q, clft_dv kc, clft_dv vc,
                                         const clft_buf *ws, const clft_attn_kv_dims *d, int kernel, int64_t split) {
    return att_kv_fwd(ctx, out, q, kc, vc, ws, d, kernel, split);
}
