/* ops_ref_decl.h - declarations of the reference training ops for one storage type. Included twice by
 * ops_ref.h with CLFT_REF_T (float | double) and CLFT_REF_FN(name) (name##_f32 | name##_f64); no
 * include guard on purpose. T below means CLFT_REF_T. Read ops_ref.h first for the conventions. */
#if !defined(CLFT_REF_T) || !defined(CLFT_REF_FN)
#error "include ref/ops_ref.h, not ops_ref_decl.h"
#endif

/* ---- embedding ------------------------------------------------------------------------------
 * fwd: out[n] = table[ids[n]]. Returns how many ids lie outside [0,V); their rows are set to zero.
 * bwd: d_table[ids[n]] += d_out[n] (accumulates; ids may repeat; ids outside [0,V) and ids equal to
 * padding_idx (-1: none) are skipped, as nn.Embedding(padding_idx=pad_token_id) in transformers). */
int64_t CLFT_REF_FN(clft_ref_embedding_fwd)(CLFT_REF_T *out /* (N,C) */, const int32_t *ids /* (N) */,
                                            const CLFT_REF_T *table /* (V,C) */, int64_t N, int64_t V, int64_t C);
void CLFT_REF_FN(clft_ref_embedding_bwd)(CLFT_REF_T *d_table /* (V,C) += */, const CLFT_REF_T *d_out /* (N,C) */,
                                         const int32_t *ids /* (N) */, int64_t N, int64_t V, int64_t C,
                                         int64_t padding_idx);

/* ---- RMSNorm (HF LlamaRMSNorm) ----------------------------------------------------------------
 * fwd: rstd[n] = 1/sqrt(mean_c(x[n,c]^2) + eps), out[n,c] = w[c] * (x[n,c] * rstd[n]). out may alias x.
 * bwd: dx = rstd*(g - x*rstd^2*mean_c(g*x)) with g = d_out*w  (assigns; NULL skips)
 *      dw[c] += sum_n d_out[n,c]*x[n,c]*rstd[n]               (accumulates; NULL skips: frozen norm) */
void CLFT_REF_FN(clft_ref_rmsnorm_fwd)(CLFT_REF_T *out /* (N,C) */, CLFT_REF_T *rstd /* (N) saved */,
                                       const CLFT_REF_T *x /* (N,C) */, const CLFT_REF_T *w /* (C) */, int64_t N,
                                       int64_t C, double eps);
void CLFT_REF_FN(clft_ref_rmsnorm_bwd)(CLFT_REF_T *dx /* (N,C) = */, CLFT_REF_T *dw /* (C) += */,
                                       const CLFT_REF_T *d_out /* (N,C) */, const CLFT_REF_T *x /* (N,C) */,
                                       const CLFT_REF_T *w /* (C) */, const CLFT_REF_T *rstd /* (N) */, int64_t N,
                                       int64_t C);

/* ---- RoPE, rotate-half (HF apply_rotary_pos_emb) -------------------------------------------------
 * For token n, head h, i < D/2, with a = pos[n]*inv_freq[i] formed in T (f32 in the f32 variant, as HF
 * computes freqs in f32), c = cos(a), s = sin(a) (in double, from that a):
 *   out[i] = x[i]*c - x[i+D/2]*s,   out[i+D/2] = x[i+D/2]*c + x[i]*s.
 * Applies to q (N,H,D) and to k (N,KV,D) alike (pass the head count as H). D even. out may alias x.
 * bwd is the inverse rotation (angle -a): dx (assigns; may alias d_out). No saved tensors. */
void CLFT_REF_FN(clft_ref_rope_fwd)(CLFT_REF_T *out /* (N,H,D) */, const CLFT_REF_T *x /* (N,H,D) */,
                                    const int32_t *pos /* (N) */, const float *inv_freq /* (D/2) */, int64_t N,
                                    int64_t H, int64_t D);
void CLFT_REF_FN(clft_ref_rope_bwd)(CLFT_REF_T *dx /* (N,H,D) = */, const CLFT_REF_T *d_out /* (N,H,D) */,
                                    const int32_t *pos /* (N) */, const float *inv_freq /* (D/2) */, int64_t N,
                                    int64_t H, int64_t D);

/* ---- causal self-attention with GQA and optional sliding window ----------------------------------
 * Layout: q and out (B,T,H,D), k and v (B,T,KV,D), i.e. exactly the q/k/v projection outputs
 * (B,T,H*D) with no transpose; lse (B,H,T), one row per (batch, head) for the kernels' query blocks.
 * Query head h reads kv head h/(H/KV) (HF repeat_kv). For query t the visible keys are u <= t, and
 * u > t - window when window > 0 (Mistral sliding window; u = t is always visible), and with segment
 * ids (d->seg) those of the same segment: seg[u] == seg[t] >= 0, or u = t (padding, seg < 0).
 *   s[t,u] = (q[t].k[u]) / sqrt(D);  lse[t] = log sum_u exp(s[t,u]);  out[t] = sum_u exp(s - lse) v[u]
 * bwd (all three assign): with p = exp(s - lse), delta[t] = d_out[t].out[t], dp = d_out[t].v[u],
 *   ds = p*(dp - delta): dq[t] = sum_u ds k[u]/sqrt(D), dk[u] = sum_{h in group, t} ds q[t]/sqrt(D),
 *   dv[u] = sum_{h in group, t} p d_out[t]. Saved: out and lse from the forward.
 * No T x T matrix is kept (rows are recomputed). Returns CLFT_STATUS_INVALID_ARGUMENT for bad dims,
 * CLFT_STATUS_HOST_OOM when the O(D) scratch cannot be allocated. */
clft_status CLFT_REF_FN(clft_ref_attention_fwd)(CLFT_REF_T *out /* (B,T,H,D) */, CLFT_REF_T *lse /* (B,H,T) saved */,
                                                const CLFT_REF_T *q /* (B,T,H,D) */,
                                                const CLFT_REF_T *k /* (B,T,KV,D) */,
                                                const CLFT_REF_T *v /* (B,T,KV,D) */, const clft_ref_attn_dims *d);
clft_status CLFT_REF_FN(clft_ref_attention_bwd)(
    CLFT_REF_T *dq /* (B,T,H,D) = */, CLFT_REF_T *dk /* (B,T,KV,D) = */, CLFT_REF_T *dv /* (B,T,KV,D) = */,
    const CLFT_REF_T *d_out /* (B,T,H,D) */, const CLFT_REF_T *q /* (B,T,H,D) */, const CLFT_REF_T *k /* (B,T,KV,D) */,
    const CLFT_REF_T *v /* (B,T,KV,D) */, const CLFT_REF_T *out /* (B,T,H,D) saved */,
    const CLFT_REF_T *lse /* (B,H,T) saved */, const clft_ref_attn_dims *d);

/* ---- attention against a KV cache (inference, one sequence) ----------------------------------------
 * q and out (n,H,D): the queries of positions past .. past+n-1; kc, vc (>= past+n rows,KV,D): keys and
 * values by position (rows past+n on are not read). Query t sees key u iff u <= past+t and (window == 0
 * or u > past+t-window). With p = past+t and kv head j = h/(H/KV):
 *   s[u] = (q[t,h].kc[u,j]) / sqrt(D);  out[t,h] = sum_u softmax(s)[u] vc[u,j]
 * a full softmax over the visible keys of each query, in double. The same as rows past .. past+n-1 of
 * clft_ref_attention_fwd over the whole sequence (B = 1, T = past+n, no segments). Returns
 * CLFT_STATUS_INVALID_ARGUMENT for bad dims, CLFT_STATUS_HOST_OOM when the O(past+n+D) scratch fails. */
clft_status CLFT_REF_FN(clft_ref_attention_kv_fwd)(CLFT_REF_T *out /* (n,H,D) */, const CLFT_REF_T *q /* (n,H,D) */,
                                                   const CLFT_REF_T *kc /* (past+n,KV,D) */,
                                                   const CLFT_REF_T *vc /* (past+n,KV,D) */,
                                                   const clft_ref_attn_kv_dims *d);

/* ---- SwiGLU (HF LlamaMLP act_fn(gate) * up) ------------------------------------------------------
 * fwd: out = silu(gate) * up, silu(g) = g * sigmoid(g). Elementwise over n = N*F values.
 * bwd: d_gate = d_out*up*sig*(1 + gate*(1-sig)), d_up = d_out*silu(gate) (both assign; NULL skips). */
void CLFT_REF_FN(clft_ref_swiglu_fwd)(CLFT_REF_T *out /* (N,F) */, const CLFT_REF_T *gate /* (N,F) */,
                                      const CLFT_REF_T *up /* (N,F) */, int64_t n);
void CLFT_REF_FN(clft_ref_swiglu_bwd)(CLFT_REF_T *d_gate /* (N,F) = */, CLFT_REF_T *d_up /* (N,F) = */,
                                      const CLFT_REF_T *d_out /* (N,F) */, const CLFT_REF_T *gate /* (N,F) */,
                                      const CLFT_REF_T *up /* (N,F) */, int64_t n);

/* ---- residual add --------------------------------------------------------------------------------
 * fwd: out = a + b (out may alias a or b). bwd: da = d_out, db = d_out (assign; NULL skips). */
void CLFT_REF_FN(clft_ref_residual_fwd)(CLFT_REF_T *out /* (N,C) */, const CLFT_REF_T *a /* (N,C) */,
                                        const CLFT_REF_T *b /* (N,C) */, int64_t n);
void CLFT_REF_FN(clft_ref_residual_bwd)(CLFT_REF_T *da /* (N,C) = */, CLFT_REF_T *db /* (N,C) = */,
                                        const CLFT_REF_T *d_out /* (N,C) */, int64_t n);

/* ---- bias add (Qwen2 q/k/v_proj bias) --------------------------------------------------------------
 * fwd: out[n,c] = x[n,c] + bias[c] (out may alias x).
 * bwd: dx = d_out (assigns; NULL skips), dbias[c] += sum_n d_out[n,c] (accumulates; NULL skips). */
void CLFT_REF_FN(clft_ref_bias_add_fwd)(CLFT_REF_T *out /* (N,C) */, const CLFT_REF_T *x /* (N,C) */,
                                        const CLFT_REF_T *bias /* (C) */, int64_t N, int64_t C);
void CLFT_REF_FN(clft_ref_bias_add_bwd)(CLFT_REF_T *dx /* (N,C) = */, CLFT_REF_T *dbias /* (C) += */,
                                        const CLFT_REF_T *d_out /* (N,C) */, int64_t N, int64_t C);

/* ---- LoRA projection branch (PEFT Linear.forward) ------------------------------------------------
 * xd = x * keep/(1-p) (inverted dropout; xd = x when keep is NULL), u = xd A^T, y += scale * u B^T.
 * fwd ACCUMULATES into y (N,out): the base projection writes y first, as PEFT's result + lora(...);
 *   zero y for the branch alone. Saves u (N,r) (unscaled).
 * bwd: du = scale * dy B (internal),
 *   dA += du^T xd, dB += scale * dy^T u   (parameter grads: accumulate),
 *   dx += (du A) * keep/(1-p)             (ACCUMULATES although dx is an activation grad: the base
 *                                          path x W^T writes dx first; NULL skips).
 * Returns CLFT_STATUS_INVALID_ARGUMENT for bad dims or p outside [0,1), HOST_OOM for scratch (N*r). */
clft_status CLFT_REF_FN(clft_ref_lora_fwd)(CLFT_REF_T *y /* (N,out) += */, CLFT_REF_T *u /* (N,r) saved */,
                                           const CLFT_REF_T *x /* (N,in) */, const uint8_t *keep /* (N,in) or NULL */,
                                           const CLFT_REF_T *A /* (r,in) */, const CLFT_REF_T *B /* (out,r) */,
                                           const clft_ref_lora_dims *d);
clft_status CLFT_REF_FN(clft_ref_lora_bwd)(CLFT_REF_T *dx /* (N,in) += */, CLFT_REF_T *dA /* (r,in) += */,
                                           CLFT_REF_T *dB /* (out,r) += */, const CLFT_REF_T *dy /* (N,out) */,
                                           const CLFT_REF_T *x /* (N,in) */, const uint8_t *keep /* (N,in) or NULL */,
                                           const CLFT_REF_T *A /* (r,in) */, const CLFT_REF_T *B /* (out,r) */,
                                           const CLFT_REF_T *u /* (N,r) saved */, const clft_ref_lora_dims *d);

/* ---- cross-entropy fused with the final projection ------------------------------------------------
 * logits = h W^T (W (V,C): lm_head, or the embedding table when tied), computed `chunk` tokens at a time
 * (a chunk x V buffer; the full (N,V) logits never exist). Labels equal to CLFT_REF_IGNORE_INDEX are
 * skipped (their lse is set to 0); the caller has already shifted labels for causal LM.
 * fwd: *loss = mean over valid tokens of lse[n] - logits[n,labels[n]] (0 when none is valid);
 *      returns the number of valid tokens, or -1 (with clft_last_error) for a label outside [0,V) other
 *      than the ignore index, a bad size, or a failed allocation.
 * bwd: for dL/dloss = dloss: dlogits = dloss*(softmax - onehot)/n_valid on valid rows, 0 on ignored;
 *      dh = dlogits W (assigns; NULL skips), dW += dlogits^T h (accumulates; NULL skips: frozen head).
 *      For gradient accumulation over micro-batches normalized by the total count, pass
 *      dloss = n_valid_here / n_valid_total. */
int64_t CLFT_REF_FN(clft_ref_xent_fwd)(CLFT_REF_T *loss /* (1) */, CLFT_REF_T *lse /* (N) saved */,
                                       const CLFT_REF_T *h /* (N,C) */, const int32_t *labels /* (N) */,
                                       const CLFT_REF_T *W /* (V,C) */, int64_t N, int64_t C, int64_t V, int64_t chunk);
clft_status CLFT_REF_FN(clft_ref_xent_bwd)(CLFT_REF_T *dh /* (N,C) = */, CLFT_REF_T *dW /* (V,C) += */, double dloss,
                                           const CLFT_REF_T *h /* (N,C) */, const int32_t *labels /* (N) */,
                                           const CLFT_REF_T *W /* (V,C) */, const CLFT_REF_T *lse /* (N) saved */,
                                           int64_t N, int64_t C, int64_t V, int64_t chunk);

/* ---- AdamW (torch.optim.AdamW, non-amsgrad, non-maximize) -------------------------------------------
 * step is the 1-based count of this update (the caller increments it once per optimizer step, before
 * the call; m and v start at zero). For each element:
 *   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *   p -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps)
 * Returns CLFT_STATUS_INVALID_ARGUMENT for step < 1. */
clft_status CLFT_REF_FN(clft_ref_adamw_step)(CLFT_REF_T *p /* (n) */, CLFT_REF_T *m /* (n) */, CLFT_REF_T *v /* (n) */,
                                             const CLFT_REF_T *g /* (n) */, int64_t n, const clft_ref_adamw_params *hp,
                                             int64_t step);

/* ---- global gradient norm and clipping (torch.nn.utils.clip_grad_norm_, norm_type 2) ---------------
 * grad_norm: sqrt(sum over the count tensors grads[i] (sizes[i]) of g^2), accumulated in double.
 * clip_grad_norm: norm as above; coef = max_norm/(norm + 1e-6) clamped to at most 1; every gradient is
 *   multiplied by coef (skipped when coef == 1). A NaN norm makes coef NaN and the grads NaN, as torch
 *   with error_if_nonfinite=False; an infinite norm gives coef 0. Returns the norm before clipping. */
double CLFT_REF_FN(clft_ref_grad_norm)(const CLFT_REF_T *const *grads, const int64_t *sizes, int64_t count);
double CLFT_REF_FN(clft_ref_clip_grad_norm)(CLFT_REF_T *const *grads, const int64_t *sizes, int64_t count,
                                            double max_norm);

/* ---- LoRA init (PEFT init_lora_weights=True) --------------------------------------------------------
 * A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform_ with a=sqrt(5)), B = 0. Values come from a splitmix64
 * stream seeded by seed (not torch's generator); the f32 and f64 variants draw the same doubles. */
void CLFT_REF_FN(clft_ref_lora_init)(CLFT_REF_T *A /* (r,in) */, CLFT_REF_T *B /* (out,r) */, int64_t r, int64_t in,
                                     int64_t out, uint64_t seed);
