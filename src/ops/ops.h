/* ops.h - host launchers of the training ops (cl/norm.cl, elementwise.cl, rope.cl, embed.cl,
 * attention.cl, optim.cl). Each mirrors its src/ref twin in ref/ops_ref.h: same shapes, same
 * argument order (_fwd(out, saved, in, dims), _bwd(d_in, d_param, d_out, in, saved, dims)), the
 * same assign (=) / accumulate (+=) contract. Tensors are f32 views into device buffers. */
#ifndef CLFT_OPS_OPS_H
#define CLFT_OPS_OPS_H

#include "cl/clrt.h"

/* A view of device data: element `off` of `buf` onwards (floats, or int32 for ids/positions). */
typedef struct clft_dv {
    const clft_buf *buf;
    size_t off;
} clft_dv;
static inline clft_dv clft_dv_of(const clft_buf *b, size_t off) {
    clft_dv v = {b, off};
    return v;
}

/* RMSNorm. fwd: out = w * x * rstd, rstd saved. bwd: dx = (assign, skipped when dx.buf NULL),
 * dw += (skipped when dw.buf NULL). */
clft_status clft_rmsnorm_fwd(clft_context *ctx, clft_dv out /* (N,C) */, clft_dv rstd /* (N) */, clft_dv x /* (N,C) */,
                             clft_dv w /* (C) */, int64_t N, int64_t C, float eps);
clft_status clft_rmsnorm_bwd(clft_context *ctx, clft_dv dx /* (N,C) = */, clft_dv dw /* (C) += */,
                             clft_dv d_out /* (N,C) */, clft_dv x /* (N,C) */, clft_dv w /* (C) */,
                             clft_dv rstd /* (N) */, int64_t N, int64_t C);

/* SwiGLU: out = silu(gate) * up; bwd assigns d_gate and d_up. */
clft_status clft_swiglu_fwd(clft_context *ctx, clft_dv out, clft_dv gate, clft_dv up, int64_t n);
clft_status clft_swiglu_bwd(clft_context *ctx, clft_dv d_gate, clft_dv d_up, clft_dv d_out, clft_dv gate, clft_dv up,
                            int64_t n);
/* out = a + b (residual). */
clft_status clft_add_fwd(clft_context *ctx, clft_dv out, clft_dv a, clft_dv b, int64_t n);
/* out[n,c] = x[n,c] + bias[c]; bwd: dbias += column sums of d_out (dx = d_out is the caller's alias). */
clft_status clft_bias_add_fwd(clft_context *ctx, clft_dv out, clft_dv x, clft_dv bias, int64_t N, int64_t C);
clft_status clft_bias_add_bwd(clft_context *ctx, clft_dv dbias /* (C) += */, clft_dv d_out /* (N,C) */, int64_t N,
                              int64_t C);
/* x = 0 over n elements. */
clft_status clft_zero(clft_context *ctx, clft_dv x, int64_t n);
/* x *= s;  y += a * x. */
clft_status clft_scale(clft_context *ctx, clft_dv x, float s, int64_t n);
clft_status clft_axpy(clft_context *ctx, clft_dv y, float a, clft_dv x, int64_t n);

/* RoPE, rotate-half. fwd rotates by +angle, bwd by -angle (assigns; out may alias x).
 * pos (N) int32, inv_freq (D/2) f32 on the device. */
clft_status clft_rope_fwd(clft_context *ctx, clft_dv out /* (N,H,D) */, clft_dv x /* (N,H,D) */, clft_dv pos,
                          clft_dv inv_freq, int64_t N, int64_t H, int64_t D);
clft_status clft_rope_bwd(clft_context *ctx, clft_dv dx /* (N,H,D) = */, clft_dv d_out /* (N,H,D) */, clft_dv pos,
                          clft_dv inv_freq, int64_t N, int64_t H, int64_t D);

/* Embedding. fwd: out[n] = table[ids[n]] (rows of out-of-range ids are zero); the table is f32, or a
 * frozen bf16/f16 one (dtype; offsets in its elements) widened exactly to f32.
 * bwd: d_table += grouped sums; the grouping (clft_embedding_group) is made on the host from the ids. */
clft_status clft_embedding_fwd(clft_context *ctx, clft_dv out /* (N,C) */, clft_dv ids /* (N) int32 */,
                               clft_dv table /* (V,C) */, clft_dtype dtype, int64_t N, int64_t V, int64_t C);
/* Groups token positions by id: rows (U) ids, offsets (U+1), tokens (N) positions; returns U.
 * Out-of-range ids, and padding_idx (the config's pad_token_id; -1: none), are left out: as
 * torch's nn.Embedding(padding_idx=...) in transformers, the padding row gets no gradient from the
 * lookup. Arrays are caller-allocated with N, N+1 and N entries. */
int64_t clft_embedding_group(const int32_t *ids, int64_t N, int64_t V, int64_t padding_idx, int32_t *rows,
                             int32_t *offsets, int32_t *tokens);
clft_status clft_embedding_bwd(clft_context *ctx, clft_dv d_table /* (V,C) += */, clft_dv d_out /* (N,C) */,
                               clft_dv rows /* (U) */, clft_dv offsets /* (U+1) */, clft_dv tokens /* (N) */, int64_t U,
                               int64_t C);

/* Attention dims: as clft_ref_attn_dims. seg is the device view of the (B,T) int32 segment ids of
 * packed rows (same rule as the reference: seg[u] == seg[t] >= 0, or u == t for padding, seg < 0);
 * seg.buf NULL means one segment per row, and the kernels are then built without the segment test
 * (-DATT_SEG=0), so unpacked batches pay nothing for it. */
typedef struct clft_attn_dims {
    int64_t B, T, H, KV, D, window;
    int64_t block; /* blocked path: queries per block (0: automatic, from a scores budget) */
    clft_dv seg;   /* (B,T) int32 or {NULL, 0} */
} clft_attn_dims;
/* fwd: out (B,T,H,D), lse (B,H,T) saved; bwd assigns dq, dk, dv; delta (B,H,T) is scratch. */
clft_status clft_attention_fwd(clft_context *ctx, clft_dv out, clft_dv lse, clft_dv q, clft_dv k, clft_dv v,
                               const clft_attn_dims *d);
clft_status clft_attention_bwd(clft_context *ctx, clft_dv dq, clft_dv dk, clft_dv dv, clft_dv d_out, clft_dv q,
                               clft_dv k, clft_dv v, clft_dv out, clft_dv lse, clft_dv delta, const clft_attn_dims *d);

/* Cross-entropy rows: logits (R,V) become dscale*(softmax - onehot) in place when grad; row_loss (R)
 * = lse - logit[target] (0 for target -100). */
clft_status clft_xent_rows(clft_context *ctx, clft_dv logits, clft_dv targets, clft_dv row_loss, int64_t R, int64_t V,
                           float dscale, int grad);
/* LoRA dropout: out = x * keep / (1-p) with keep drawn from a counter-based hash of
 * (seed, index) — the same mask is recomputed in backward. */
clft_status clft_dropout_fwd(clft_context *ctx, clft_dv out, clft_dv x, int64_t n, float p, uint32_t seed);

/* Blocked attention through the GEMM layer: S = Q K^T for a block of queries against the keys it
 * can see, a masked softmax kernel, then P V; the backward recomputes P from the saved lse. Only
 * KV x block x T scores exist at a time (the block shrinks as T grows). Same contract as the direct
 * kernels above; ws must hold clft_attention_workspace_floats(d) floats. */
size_t clft_attention_workspace_floats(const clft_attn_dims *d);
clft_status clft_attention_fwd_blocked(clft_context *ctx, clft_dv out, clft_dv lse, clft_dv q, clft_dv k, clft_dv v,
                                       const clft_buf *ws, const clft_attn_dims *d);
clft_status clft_attention_bwd_blocked(clft_context *ctx, clft_dv dq, clft_dv dk, clft_dv dv, clft_dv d_out, clft_dv q,
                                       clft_dv k, clft_dv v, clft_dv out, clft_dv lse, clft_dv delta,
                                       const clft_buf *ws, const clft_attn_dims *d);

/* Attention of n new queries against a KV cache (inference, one sequence). q (n,H,D): the queries of
 * positions past .. past+n-1 (RoPE applied); kc, vc (cap,KV,D) row-major by position: keys and values
 * of positions 0 .. past+n-1 (the n new ones already written; rows from past+n on are never read, and
 * the views need only hold past+n rows); out (n,H,D) assigned. Query t (position past+t) sees key u
 * when u <= past+t and (window == 0 or u > past+t-window); GQA: query head h reads kv head h / (H/KV);
 * scale 1/sqrt(D); f32 with an online softmax (cl/attention_kv.cl). When n*H work-groups would leave
 * the device idle (decoding), the keys are split in chunks computed in parallel, each writing its max,
 * sum and weighted values to ws, and a second kernel combines them (flash-decoding); the chunk count
 * comes from the device (CPU or GPU, compute units) and the number of keys. ws holds
 * clft_attention_kv_workspace_floats(d) floats (0: ws unused, may be NULL). That size depends on n, H
 * and D only, not on past or the device, and for given H and D it is largest at n = 1: size it once
 * with n = 1 for every call of a model. Head dims up to 512. */
typedef struct clft_attn_kv_dims {
    int64_t n, past, H, KV, D, window;
} clft_attn_kv_dims;
size_t clft_attention_kv_workspace_floats(const clft_attn_kv_dims *d);
clft_status clft_attention_kv_fwd(clft_context *ctx, clft_dv out /* (n,H,D) */, clft_dv q /* (n,H,D) */,
                                  clft_dv kc /* (cap,KV,D) */, clft_dv vc /* (cap,KV,D) */, const clft_buf *ws,
                                  const clft_attn_kv_dims *d);
/* The same with the kernel and the chunk count forced (tests, benchmarks). kernel: 0 the device's
 * choice, 1 one work-item per (query, head, chunk) (what CPUs run), 2 one work-group per (query, head,
 * chunk) (what GPUs run); split: 0 automatic, 1 one pass over the keys (no workspace use), > 1 that
 * many chunks per query head (at most one per key, and no more than clft_attention_kv_workspace_floats(d)
 * can take). */
clft_status clft_attention_kv_fwd_forced(clft_context *ctx, clft_dv out, clft_dv q, clft_dv kc, clft_dv vc,
                                         const clft_buf *ws, const clft_attn_kv_dims *d, int kernel, int64_t split);
/* Argmax of every row of logits (R,V) (cl/loss.cl, one work-group per row): out (R) int32, the first
 * index of the largest value (a row holding NaN gives the index of its first NaN, as torch.argmax;
 * a row of -inf gives 0). V >= 1. */
clft_status clft_argmax_rows(clft_context *ctx, clft_dv out /* (R) int32 */, clft_dv logits /* (R,V) */, int64_t R,
                             int64_t V);

/* AdamW (torch semantics), step >= 1. */
typedef struct clft_adamw_hparams {
    float lr, beta1, beta2, eps, weight_decay;
} clft_adamw_hparams;
clft_status clft_adamw_step(clft_context *ctx, clft_dv p, clft_dv m, clft_dv v, clft_dv g, int64_t n,
                            const clft_adamw_hparams *hp, int64_t step);
/* Sum of squares of n floats: per-work-group partials on the device (partial must hold
 * clft_sumsq_partials(n) floats), summed on the host in double. */
size_t clft_sumsq_partials(int64_t n);
clft_status clft_sumsq(clft_context *ctx, clft_dv x, int64_t n, clft_dv partial, double *out);
/* The two halves, for many tensors with one host read: launch each tensor's partials into its own
 * range of one buffer, then add `count` partials in double. */
clft_status clft_sumsq_launch(clft_context *ctx, clft_dv x, int64_t n, clft_dv partial);
clft_status clft_sumsq_read(clft_context *ctx, clft_dv partial, size_t count, double *out);

#endif
