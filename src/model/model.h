/* model.h - the Llama-family decoder on the device: weights of every storage type, LoRA adapters,
 * their gradients and AdamW state, the activation plan, forward and backward. The trainer
 * (src/train) drives a step; the memory plan (plan.c) sizes everything before allocation. */
#ifndef CLFT_MODEL_MODEL_H
#define CLFT_MODEL_MODEL_H

#include "model/config.h"
#include "ops/gemm.h"
#include "ops/ops.h"

#define CLFT_NTARGETS 7                                    /* q, k, v, o, gate, up, down */
extern const char *const CLFT_TARGET_NAMES[CLFT_NTARGETS]; /* "q_proj", ... */

/* A trainable f32 tensor with its gradient and AdamW moments (full fine-tuning, adapters). */
typedef struct clft_param {
    clft_buf w, g, m, v;
    int64_t n;
} clft_param;

typedef struct clft_linear {
    int64_t in, out;
    clft_weight base; /* frozen (any dtype) or, for full fine-tuning, f32 and mirrored by p */
    clft_param p;     /* full fine-tuning: p.w is base.data */
    int has_bias;
    clft_buf bias; /* (out) f32; frozen unless full fine-tuning */
    clft_param pb; /* full fine-tuning: the bias as a parameter */
    /* LoRA: A (r,in), B (out,r) */
    int has_lora;
    int64_t r;
    float scale;
    clft_param A, B;
    uint32_t dropout_salt;
} clft_linear;

typedef struct clft_layer {
    clft_param ln1, ln2; /* RMSNorm weights (C); trainable only in full fine-tuning */
    clft_linear lin[CLFT_NTARGETS];
    int64_t window; /* sliding window for this layer (0: none) */
} clft_layer;

/* Per-layer activations kept for backward. With checkpointing only x (the layer input) is kept for
 * every layer and the rest lives in one shared set that is recomputed layer by layer. */
typedef struct clft_layer_acts {
    clft_buf x;                  /* (N,C) layer input */
    clft_buf h1, rstd1, q, k, v; /* (N,C) (N) (N,QD) (N,KD) (N,KD)  q,k after RoPE */
    clft_buf att, lse;           /* (N,QD) (B,H,T) */
    clft_buf xmid, h2, rstd2;    /* (N,C) (N,C) (N) */
    clft_buf g, u, a;            /* (N,F) x3 */
    clft_buf lu[CLFT_NTARGETS];  /* LoRA u = x A^T (N,r) */
} clft_layer_acts;

/* The step buffers: every device and host buffer of a training step for the planned (B, T). Owned
 * by the trainer (src/train/trainer.c allocates and frees them, exactly as src/model/plan.c counts
 * them); the model's forward/backward uses the set attached to it (m->sb). */
typedef struct clft_step_bufs {
    int64_t B, T, N, chunk;
    clft_buf ids, pos, seg, targets, emb_rows, emb_offs, emb_toks; /* (N) int32 each but emb_offs (N+1) */
    int pos_custom;        /* m->pos holds a batch's positions, not the default index in the row */
    int has_seg;           /* m->seg holds this batch's segment ids (0: one segment per row) */
    clft_layer_acts *acts; /* L entries (checkpointing: only x in each, the rest in acts_shared) */
    clft_layer_acts shared;
    clft_buf xf, hf, rstdf;       /* final hidden (N,C), normed (N,C), rstd (N) */
    clft_buf logits, row_loss;    /* (chunk,V), (N) */
    clft_buf amax;                /* (N) int32: argmax of each row's logits (evaluation accuracy) */
    clft_buf dx, dxmid, dh, dtmp; /* (N,C) x4 */
    clft_buf dq, dk, dv, datt;    /* (N,QD) (N,KD) (N,KD) (N,QD) */
    clft_buf dg, du, da;          /* (N,F) x3 */
    clft_buf delta;               /* (B,H,T) */
    clft_buf attn_ws;             /* blocked attention scores (clft_attention_workspace_floats) */
    clft_buf ldu, lxd;            /* LoRA scratch: (N,r) and dropout input (N,max(in)) */
    clft_buf sumsq_part;          /* partial sums of squares, one range per trainable tensor */
    size_t sumsq_count;
    int allocated;
    int32_t *h_ids, *h_rows, *h_offs, *h_toks, *h_targets; /* host scratch, sized at allocation */
    int32_t *h_pos;                                        /* (N) default positions n % T */
    int32_t *h_amax;                                       /* (N) argmax read back */
    float *h_row_loss;
} clft_step_bufs;

struct clft_model {
    clft_context *ctx;
    clft_model_config cfg;
    clft_train_params tp;
    int64_t C, QD, KD, F, V, L, D, H, KV;
    clft_param embed;    /* (V,C) f32; trainable in full fine-tuning; no buffer when stored below f32 */
    clft_param norm_f;   /* (C) */
    clft_param head;     /* (V,C) unless tied; no buffer when stored below f32 */
    clft_weight embed_w; /* the table as stored: an f32 view of embed.w, or an own bf16/f16 weight
                          * (clft_train_embed_dtype) */
    clft_weight head_w;  /* the same for the head (embed_w when tied), for the GEMM layer */
    clft_layer *layers;
    clft_buf inv_freq;    /* (D/2) */
    clft_step_bufs *sb;   /* the trainer's step buffers (NULL without a trainer) */
    int64_t step;         /* optimizer steps taken */
    int64_t loss_denom;   /* > 0: the loss is a mean over this many targets (an accumulated step) */
    int micro;            /* micro-batch index within the step (dropout masks) */
    int eval_mode;        /* 1: no dropout (evaluation) */
    double last_loss_sum; /* sum of the token losses of the last forward */
    int want_correct;     /* 1: the forward also counts the targets its argmax hits (evaluation) */
    int64_t last_correct; /* that count for the last forward */
    int bad_steps;        /* consecutive non-finite steps */
    char source[4096];    /* the folder (or file) clft_model_load_weights read, absolute; "" when none */
    /* data-parallel training (src/train/dist.c), last micro-batch of a step: called once layer l's
     * backward is enqueued, so that its parameter gradients start their all-reduce; NULL: none */
    clft_status (*layer_grads_done)(clft_model *m, int64_t layer, void *user);
    void *layer_grads_user;
};

/* An f32 (rows, cols) matrix in a buffer as a weight of the GEMM layer (a view: not freed through it). */
clft_weight clft_weight_f32_view(const clft_buf *b, int64_t rows, int64_t cols);
/* Build the device model for cfg and tp (allocates weights, adapters, grads, optimizer state). */
clft_status clft_model_build(clft_context *ctx, const clft_model_config *cfg, const clft_train_params *tp,
                             clft_model **out);
/* Allocate the step buffers m->sb (the trainer's, attached) for B x T (trainer.c, once). */
clft_status clft_model_alloc_step(clft_model *m, int64_t B, int64_t T);
/* Forward + fused loss + backward for one batch of the planned shape (checked by the trainer);
 * grads accumulate into the (zeroed) gradients. Labels unshifted (HF), positions and segments
 * optional (clft_batch in clft.h). Returns the loss and the count of labelled targets. */
clft_status clft_model_fwd_bwd(clft_model *m, const clft_batch *batch, int want_grads, double *loss, int64_t *valid,
                               float *logits_out);
/* The labelled targets of a batch after the shift (checks ids and labels as the forward does). */
clft_status clft_model_count_targets(clft_model *m, const clft_batch *batch, int64_t *valid);
/* Free the step buffers (trainer.c). */
void clft_model_step_free(clft_model *m);
/* Tokens per chunk of the fused cross-entropy for N tokens. */
int64_t clft_xent_chunk(const clft_model_config *cfg, const clft_train_params *tp, int64_t N);
/* The GEMM layer's scratch a step of this config needs, per buffer (plan.c; what the memory plan
 * counts and clft_model_alloc_step reserves with clft_gemm_reserve_scratch). */
enum { CLFT_PLAN_GEMM_PACK, CLFT_PLAN_GEMM_TUNE, CLFT_PLAN_GEMM_CONVERT, CLFT_PLAN_GEMM_BLAS, CLFT_PLAN_GEMM_COUNT };
void clft_plan_gemm_scratch(const clft_model_config *cfg, const clft_train_params *tp,
                            uint64_t out[CLFT_PLAN_GEMM_COUNT]);
/* Validation shared by the model and the memory plan (model.c). */
clft_status clft_train_params_check(const clft_model_config *cfg, const clft_train_params *tp);

/* Iterate every trainable parameter (fn returns nonzero status to stop). */
typedef clft_status (*clft_param_fn)(clft_model *m, clft_param *p, void *user);
clft_status clft_model_each_param(clft_model *m, clft_param_fn fn, void *user);
/* The same, in the same order, with each parameter's name: Hugging Face names for full
 * fine-tuning, PEFT's saved names (base_model.model....lora_A.weight) for adapters. */
typedef clft_status (*clft_named_param_fn)(clft_model *m, clft_param *p, const char *name, void *user);
clft_status clft_model_each_param_named(clft_model *m, clft_named_param_fn fn, void *user);
/* The model a trainer drives (trainer.c). */
clft_model *clft_trainer_model_of(clft_trainer *tr);

/* native storage of GGUF blocks (model.c, native.c): 1 when `name` is a frozen projection kept as
 * blocks; the loader's step for a GGUF tensor (t: io/gguf.h) that stores its blocks as they are when
 * the model keeps that weight natively and the tensor is Q8_0/Q4_0/Q4_1 (*taken = 1; Q/K rows of
 * qk_heads > 0 heads put back in HF order), else leaves it to the f32 path (*taken = 0). */
int clft_model_weight_native(clft_model *m, const char *name);
struct clft_gguf_tensor;
clft_status clft_model_gguf_native(clft_model *m, const char *name, const struct clft_gguf_tensor *t,
                                   int64_t qk_heads, int *taken);

#endif
