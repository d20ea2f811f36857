/* ops_ref.h - plain scalar C reference of the training ops: forward/backward pairs for embedding,
 * RMSNorm, RoPE, causal GQA attention (and its inference form against a KV cache), SwiGLU, residual
 * and bias add, LoRA projection, fused cross-entropy with the final projection, row argmax, AdamW,
 * gradient norm and clipping, LoRA init.
 *
 * This is the specification the OpenCL kernels are tested against (CONVENTIONS.md "Ops and training").
 *
 * Two variants of every op, same source (the src/ref *_tmpl.h bodies compiled twice):
 *   clft_ref_<op>_<fwd|bwd>_f32   storage float: what the kernels are compared with;
 *   clft_ref_<op>_<fwd|bwd>_f64   storage double: what tests/gradcheck checks against finite differences.
 * Both compute every sum, softmax and transcendental in double and round once to the storage type when
 * storing (so the f32 variant is the f64 math with float inputs, outputs and saved tensors). The one
 * deliberate exception is the RoPE angle pos*inv_freq, which is formed in the storage type, as HF does
 * in f32 (see rope below).
 *
 * Argument order: _fwd(out, saved, in, params, dims); _bwd(d_in, d_param, d_out, in, params, saved,
 * dims). Inputs are const. Tensors are row-major, a shape comment on each; sizes are int64_t. Each _bwd
 * says which grads it assigns (=, activation grads) and which it accumulates (+=, parameter grads).
 * A NULL grad pointer documented as "NULL skips" is not computed (frozen parameters, unneeded inputs).
 * Letters: N tokens (= B*T), C model width, V vocabulary, F MLP width, B batch, T sequence, H query
 * heads, KV key/value heads, D head dim, r LoRA rank. */
#ifndef CLFT_OPS_REF_H
#define CLFT_OPS_REF_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

/* labels equal to this are ignored by the cross-entropy (HF / torch ignore_index) */
#define CLFT_REF_IGNORE_INDEX (-100)

/* ---- RoPE frequencies (type independent) ------------------------------------------------- */
typedef enum clft_ref_rope_type {
    CLFT_REF_ROPE_DEFAULT = 0, /* inv_freq[i] = 1 / theta^(2i/D) */
    CLFT_REF_ROPE_LLAMA3 = 1   /* rope_scaling {"rope_type": "llama3", ...} (Llama-3.1 and later) */
} clft_ref_rope_type;

typedef struct clft_ref_rope_params {
    double theta; /* rope_theta: 10000 Llama-2/Mistral, 500000 Llama-3, 1e6 Qwen2 */
    clft_ref_rope_type type;
    double factor;                /* llama3: factor (8.0 for Llama-3.1) */
    double low_freq_factor;       /* llama3: low_freq_factor (1.0) */
    double high_freq_factor;      /* llama3: high_freq_factor (4.0) */
    double original_max_position; /* llama3: original_max_position_embeddings (8192) */
} clft_ref_rope_params;

/* theta 10000, no scaling; llama3 fields preset to the Llama-3.1 values (used only when type is LLAMA3) */
clft_ref_rope_params clft_ref_rope_default_params(void);

/* inv_freq (D/2) for head_dim D (even), in f32 step by step as HF's _compute_default_rope_parameters
 * and _compute_llama3_parameters do (FORMATS.md section 7). Returns CLFT_STATUS_INVALID_ARGUMENT for an
 * odd or non-positive head_dim or bad llama3 factors. The attention scaling factor of both rope types
 * is 1.0, so nothing else is needed. */
clft_status clft_ref_rope_inv_freq(float *inv_freq /* (D/2) */, int64_t head_dim, const clft_ref_rope_params *p);

/* ---- attention, LoRA, AdamW parameter structs -------------------------------------------- */
typedef struct clft_ref_attn_dims {
    int64_t B, T;   /* batch, sequence length */
    int64_t H, KV;  /* query heads, key/value heads; H % KV == 0, kv head j serves q heads j*H/KV .. */
    int64_t D;      /* head dim; scale is 1/sqrt(D) */
    int64_t window; /* 0: plain causal; > 0: key u visible from query t iff u <= t and u > t - window */
    /* (B,T) segment ids of packed rows, or NULL: one segment per row. Key u is visible from query t
     * only when seg[b,u] == seg[b,t] as well; a negative id marks padding, which sees only itself
     * (and is seen by no other query), so every softmax row keeps its diagonal and stays finite. */
    const int32_t *seg;
} clft_ref_attn_dims;

/* Attention of n new queries against a KV cache (inference): see clft_ref_attention_kv_fwd. */
typedef struct clft_ref_attn_kv_dims {
    int64_t n, past; /* new queries, at positions past .. past+n-1 */
    int64_t H, KV;   /* query heads, key/value heads; H % KV == 0 */
    int64_t D;       /* head dim; scale is 1/sqrt(D) */
    int64_t window;  /* 0: plain causal; > 0: key u visible from position p iff u <= p and u > p - window */
} clft_ref_attn_kv_dims;

typedef struct clft_ref_lora_dims {
    int64_t N;      /* tokens */
    int64_t in;     /* in_features */
    int64_t out;    /* out_features */
    int64_t r;      /* rank */
    double scale;   /* alpha/r or alpha/sqrt(r): clft_ref_lora_scale() */
    double dropout; /* p in [0,1): kept inputs are multiplied by 1/(1-p); unused when keep is NULL */
} clft_ref_lora_dims;

typedef struct clft_ref_adamw_params {
    double lr, beta1, beta2, eps, weight_decay;
} clft_ref_adamw_params;

/* torch.optim.AdamW defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2 */
clft_ref_adamw_params clft_ref_adamw_default_params(void);

/* PEFT scaling: alpha/sqrt(r) when use_rslora, else alpha/r. */
double clft_ref_lora_scale(double alpha, int64_t r, int use_rslora);

/* ---- argmax of rows (greedy decoding, next-token accuracy) ---------------------------------
 * out[r] = the first index of the largest value of row r of logits (R,V), as torch.argmax: NaN counts
 * as larger than any number (the first NaN of a row wins); a row of -inf gives 0. Returns
 * CLFT_STATUS_INVALID_ARGUMENT for R < 0 or V < 1. */
clft_status clft_ref_argmax_rows(int32_t *out /* (R) */, const float *logits /* (R,V) */, int64_t R, int64_t V);

/* ---- the ops, declared once per storage type ---------------------------------------------- */
#define CLFT_REF_T        float
#define CLFT_REF_FN(name) name##_f32
#include "ref/ops_ref_decl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

#define CLFT_REF_T        double
#define CLFT_REF_FN(name) name##_f64
#include "ref/ops_ref_decl.h"
#undef CLFT_REF_T
#undef CLFT_REF_FN

#endif
