/* model.c - building the device model: weights per method and storage type, LoRA adapters,
 * gradients and AdamW state; weights by Hugging Face name; random init; adapter access. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"
#include "ref/ref.h"
#include "ref/ops_ref.h"

const char *const CLFT_TARGET_NAMES[CLFT_NTARGETS] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"};

const char *clft_method_name(clft_method method) {
    switch (method) {
    case CLFT_METHOD_FULL: return "full";
    case CLFT_METHOD_LORA: return "lora";
    case CLFT_METHOD_QLORA: return "qlora";
    }
    return "unknown";
}

clft_train_params clft_train_default_params(clft_method method) {
    clft_train_params p;
    memset(&p, 0, sizeof p);
    p.method = method;
    p.base_dtype = method == CLFT_METHOD_QLORA ? CLFT_DTYPE_NF4 : CLFT_DTYPE_F32;
    p.qlora_blocksize = 64;
    p.qlora_double_quant = 1;
    p.lora.r = 8;
    p.lora.alpha = 16.0f;
    p.lora.dropout = 0.0f;
    p.lora.targets = CLFT_LORA_ALL;
    p.batch = 1;
    p.seq_len = 512;
    p.lr = 1e-4f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.eps = 1e-8f;
    p.weight_decay = 0.0f;
    p.max_grad_norm = 1.0f;
    p.checkpointing = -1;
    p.max_bad_steps = 5;
    p.seed = 42;
    p.embed_dtype = -1;
    return p;
}

clft_dtype clft_train_embed_dtype(const clft_train_params *tp) {
    if (!tp || tp->method == CLFT_METHOD_FULL) return CLFT_DTYPE_F32;
    if (tp->embed_dtype >= 0) return (clft_dtype)tp->embed_dtype;
    if (tp->method == CLFT_METHOD_QLORA || clft_dtype_is_ggml(tp->base_dtype)) return CLFT_DTYPE_BF16;
    return tp->base_dtype == CLFT_DTYPE_F16 || tp->base_dtype == CLFT_DTYPE_BF16 ? tp->base_dtype : CLFT_DTYPE_F32;
}

/* ---- validation shared with the memory plan --------------------------------------------------- */
clft_status clft_train_params_check(const clft_model_config *cfg, const clft_train_params *tp) {
    if (!cfg || !tp) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "NULL config or training parameters");
    CLFT_CHECK(clft_model_config_validate(cfg, "model config"));
    if (cfg->head_dim % 2)
        return clft_error(CLFT_STATUS_UNSUPPORTED, "model config: head_dim %lld must be even for RoPE",
                          (long long)cfg->head_dim);
    if (tp->method != CLFT_METHOD_FULL && tp->method != CLFT_METHOD_LORA && tp->method != CLFT_METHOD_QLORA)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "training parameters: unknown method %d", (int)tp->method);
    /* native storage of GGUF blocks (Q8_0, Q4_0, Q4_1) serves LoRA and QLoRA alike: rows of whole blocks */
    const int native = clft_dtype_is_ggml(tp->base_dtype) && tp->method != CLFT_METHOD_FULL;
    if (native && (cfg->hidden_size % 32 || cfg->intermediate_size % 32 || (cfg->num_heads * cfg->head_dim) % 32))
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "training parameters: %s base storage needs layer inputs that are multiples of 32 (hidden %lld, "
                          "intermediate %lld, heads x head_dim %lld)",
                          clft_dtype_name(tp->base_dtype), (long long)cfg->hidden_size,
                          (long long)cfg->intermediate_size, (long long)(cfg->num_heads * cfg->head_dim));
    if (!native && tp->method == CLFT_METHOD_LORA && tp->base_dtype != CLFT_DTYPE_F32 &&
        tp->base_dtype != CLFT_DTYPE_F16 && tp->base_dtype != CLFT_DTYPE_BF16)
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "training parameters: LoRA base weights must be f32, f16, bf16 (or q8_0, q4_0, q4_1), not %s",
                          clft_dtype_name(tp->base_dtype));
    if (!native && tp->method == CLFT_METHOD_QLORA && tp->base_dtype != CLFT_DTYPE_NF4 &&
        tp->base_dtype != CLFT_DTYPE_FP4)
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "training parameters: QLoRA base weights must be nf4, fp4 (or q8_0, q4_0, q4_1), not %s",
                          clft_dtype_name(tp->base_dtype));
    if (tp->method == CLFT_METHOD_QLORA && tp->qlora_double_quant != 0 && tp->qlora_double_quant != 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "training parameters: qlora_double_quant %d (use 0 or 1)",
                          tp->qlora_double_quant);
    if (tp->method == CLFT_METHOD_QLORA &&
        (tp->qlora_blocksize < 32 || tp->qlora_blocksize > 4096 || (tp->qlora_blocksize & (tp->qlora_blocksize - 1))))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "training parameters: 4-bit block size %d (use 32..4096, a power of two)",
                          tp->qlora_blocksize);
    if (tp->embed_dtype != -1 && tp->embed_dtype != CLFT_DTYPE_F32 && tp->embed_dtype != CLFT_DTYPE_BF16 &&
        tp->embed_dtype != CLFT_DTYPE_F16)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "training parameters: embedding/head storage %d (use f32, bf16 or f16)", tp->embed_dtype);
    if (tp->method == CLFT_METHOD_FULL && tp->embed_dtype != -1 && tp->embed_dtype != CLFT_DTYPE_F32)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "training parameters: full fine-tuning keeps the embeddings and head in f32, not %s",
                          clft_dtype_name((clft_dtype)tp->embed_dtype));
    if (tp->inference != 0 && tp->inference != 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "training parameters: inference %d (use 0 or 1)",
                          tp->inference);
    /* an inference model may have no adapters at all (the base alone) */
    if (tp->method != CLFT_METHOD_FULL && !(tp->inference && tp->lora.targets == 0)) {
        if (!(tp->lora.targets & CLFT_LORA_ALL) || (tp->lora.targets & ~CLFT_LORA_ALL))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "LoRA: target mask 0x%x selects no valid projection",
                              tp->lora.targets);
        int64_t minin = cfg->hidden_size;
        if (cfg->intermediate_size < minin) minin = cfg->intermediate_size;
        if (cfg->num_heads * cfg->head_dim < minin) minin = cfg->num_heads * cfg->head_dim;
        if (cfg->num_kv_heads * cfg->head_dim < minin) minin = cfg->num_kv_heads * cfg->head_dim;
        if (tp->lora.r < 1 || tp->lora.r > minin)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "LoRA: rank %d must be between 1 and the smallest layer dimension (%lld)", tp->lora.r,
                              (long long)minin);
        if (!(tp->lora.dropout >= 0.0f && tp->lora.dropout < 1.0f))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "LoRA: dropout %g must be in [0, 1)",
                              (double)tp->lora.dropout);
        if (!(tp->lora.alpha > 0.0f)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "LoRA: alpha must be positive");
    }
    if (tp->batch < 1 || tp->seq_len < 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "training parameters: batch %d x seq_len %d", tp->batch,
                          tp->seq_len);
    if (!(tp->lr >= 0.0f) || !(tp->beta1 >= 0.0f && tp->beta1 < 1.0f) || !(tp->beta2 >= 0.0f && tp->beta2 < 1.0f) ||
        !(tp->eps > 0.0f) || !(tp->weight_decay >= 0.0f))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "training parameters: bad AdamW hyper-parameters");
    return CLFT_OK;
}

/* ---- parameters ------------------------------------------------------------------------------- */
static clft_status param_alloc(clft_context *ctx, clft_param *p, int64_t n, int trainable) {
    memset(p, 0, sizeof *p);
    p->n = n;
    CLFT_CHECK(clft_buf_alloc(ctx, trainable ? CLFT_MEM_TRAINABLE : CLFT_MEM_WEIGHTS, (size_t)n * 4, &p->w));
    CLFT_CHECK(clft_buf_fill_zero(ctx, &p->w));
    if (trainable) {
        CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_GRADIENTS, (size_t)n * 4, &p->g));
        CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_OPTIMIZER, (size_t)n * 4, &p->m));
        CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_OPTIMIZER, (size_t)n * 4, &p->v));
        CLFT_CHECK(clft_buf_fill_zero(ctx, &p->g));
        CLFT_CHECK(clft_buf_fill_zero(ctx, &p->m));
        CLFT_CHECK(clft_buf_fill_zero(ctx, &p->v));
    }
    return CLFT_OK;
}

static void param_free(clft_context *ctx, clft_param *p) {
    clft_buf_free(ctx, &p->w);
    clft_buf_free(ctx, &p->g);
    clft_buf_free(ctx, &p->m);
    clft_buf_free(ctx, &p->v);
}

clft_weight clft_weight_f32_view(const clft_buf *b, int64_t rows, int64_t cols) {
    clft_weight w;
    memset(&w, 0, sizeof w);
    w.dtype = CLFT_DTYPE_F32;
    w.rows = rows;
    w.cols = cols;
    w.data = *b; /* a view: never freed through the weight */
    return w;
}

static uint32_t target_bit(int t) { return 1u << t; }

static clft_status linear_build(clft_model *m, clft_linear *lin, int layer, int t, int64_t in, int64_t out,
                                int has_bias) {
    clft_context *ctx = m->ctx;
    const clft_train_params *tp = &m->tp;
    lin->in = in;
    lin->out = out;
    lin->has_bias = has_bias;
    const int train = !tp->inference;
    if (tp->method == CLFT_METHOD_FULL) {
        CLFT_CHECK(param_alloc(ctx, &lin->p, in * out, train));
        lin->base = clft_weight_f32_view(&lin->p.w, out, in);
        if (has_bias) {
            CLFT_CHECK(param_alloc(ctx, &lin->pb, out, train));
            lin->bias = lin->pb.w;
        }
    } else {
        if (clft_dtype_is_ggml(tp->base_dtype)) { /* native GGUF blocks, zero until loaded */
            size_t nq, ns;
            clft_weight_ggml_bytes(tp->base_dtype, out, in, &nq, &ns);
            void *zeros = clft_calloc(nq + ns, 1);
            if (!zeros) return CLFT_STATUS_HOST_OOM;
            clft_status st =
                clft_weight_upload_blocks(ctx, CLFT_MEM_WEIGHTS, tp->base_dtype, out, in, zeros, nq + ns, &lin->base);
            free(zeros);
            CLFT_CHECK(st);
        } else if (tp->method == CLFT_METHOD_QLORA) {
            float *zeros = clft_calloc((size_t)(in * out), sizeof(float));
            if (!zeros) return CLFT_STATUS_HOST_OOM;
            clft_q4 q;
            clft_status st =
                clft_q4_quantize(zeros, in * out, tp->base_dtype, tp->qlora_blocksize, tp->qlora_double_quant, &q);
            free(zeros);
            CLFT_CHECK(st);
            st = clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, out, in, &lin->base);
            clft_q4_free(&q);
            CLFT_CHECK(st);
        } else {
            CLFT_CHECK(clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, tp->base_dtype, out, in, NULL, &lin->base));
        }
        if (has_bias) {
            CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, (size_t)out * 4, &lin->bias));
            CLFT_CHECK(clft_buf_fill_zero(ctx, &lin->bias));
        }
        if (tp->lora.targets & target_bit(t)) {
            lin->has_lora = 1;
            lin->r = tp->lora.r;
            lin->scale = (float)clft_ref_lora_scale(tp->lora.alpha, tp->lora.r, tp->lora.use_rslora);
            lin->dropout_salt = (uint32_t)(layer * CLFT_NTARGETS + t + 1) * 0x85ebca6bu;
            CLFT_CHECK(param_alloc(ctx, &lin->A, lin->r * in, train));
            CLFT_CHECK(param_alloc(ctx, &lin->B, out * lin->r, train));
        }
    }
    return CLFT_OK;
}

static void linear_free(clft_context *ctx, clft_linear *lin) {
    if (lin->p.w.mem) {
        param_free(ctx, &lin->p);
        param_free(ctx, &lin->pb);
        memset(&lin->base, 0, sizeof lin->base);
        memset(&lin->bias, 0, sizeof lin->bias);
    } else {
        clft_weight_free(ctx, &lin->base);
        clft_buf_free(ctx, &lin->bias);
    }
    param_free(ctx, &lin->A);
    param_free(ctx, &lin->B);
}

void clft_model_free(clft_model *m) {
    if (!m) return;
    clft_model_step_free(m); /* a trainer still attached loses its buffers (free the trainer first) */
    for (int64_t l = 0; m->layers && l < m->L; l++) {
        param_free(m->ctx, &m->layers[l].ln1);
        param_free(m->ctx, &m->layers[l].ln2);
        for (int t = 0; t < CLFT_NTARGETS; t++)
            linear_free(m->ctx, &m->layers[l].lin[t]);
    }
    free(m->layers);
    if (m->embed_w.dtype != CLFT_DTYPE_F32) { /* own 16-bit weights (else views of the parameters) */
        if (!m->cfg.tie_word_embeddings) clft_weight_free(m->ctx, &m->head_w);
        clft_weight_free(m->ctx, &m->embed_w);
    }
    param_free(m->ctx, &m->embed);
    param_free(m->ctx, &m->norm_f);
    param_free(m->ctx, &m->head);
    clft_buf_free(m->ctx, &m->inv_freq);
    free(m);
}

clft_status clft_model_build(clft_context *ctx, const clft_model_config *cfg, const clft_train_params *tp,
                             clft_model **out) {
    CLFT_CHECK(clft_train_params_check(cfg, tp));
    clft_model *m = clft_calloc(1, sizeof *m);
    if (!m) return CLFT_STATUS_HOST_OOM;
    m->ctx = ctx;
    m->cfg = *cfg;
    m->tp = *tp;
    if (m->tp.checkpointing < 0) m->tp.checkpointing = tp->method != CLFT_METHOD_FULL;
    m->C = cfg->hidden_size;
    m->D = cfg->head_dim;
    m->H = cfg->num_heads;
    m->KV = cfg->num_kv_heads;
    m->QD = m->H * m->D;
    m->KD = m->KV * m->D;
    m->F = cfg->intermediate_size;
    m->V = cfg->vocab_size;
    m->L = cfg->num_layers;
    const int full = tp->method == CLFT_METHOD_FULL && !tp->inference; /* embeddings, norms, head trainable */
    clft_status st = CLFT_OK;
    m->layers = clft_calloc((size_t)m->L, sizeof *m->layers);
    if (!m->layers) st = CLFT_STATUS_HOST_OOM;
    /* the embeddings and head: f32 parameters, or frozen weights in a 16-bit storage */
    const clft_dtype edt = clft_train_embed_dtype(&m->tp);
    if (st == CLFT_OK && edt == CLFT_DTYPE_F32) {
        st = param_alloc(ctx, &m->embed, m->V * m->C, full);
        if (st == CLFT_OK && !cfg->tie_word_embeddings) st = param_alloc(ctx, &m->head, m->V * m->C, full);
        if (st == CLFT_OK) {
            m->embed_w = clft_weight_f32_view(&m->embed.w, m->V, m->C);
            m->head_w = clft_weight_f32_view(cfg->tie_word_embeddings ? &m->embed.w : &m->head.w, m->V, m->C);
        }
    } else if (st == CLFT_OK) {
        st = clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, edt, m->V, m->C, NULL, &m->embed_w);
        if (st == CLFT_OK && !cfg->tie_word_embeddings)
            st = clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, edt, m->V, m->C, NULL, &m->head_w);
        else if (st == CLFT_OK)
            m->head_w = m->embed_w; /* shared, freed once */
    }
    if (st == CLFT_OK) st = param_alloc(ctx, &m->norm_f, m->C, full);
    const int64_t io[CLFT_NTARGETS][2] = {{m->C, m->QD}, {m->C, m->KD}, {m->C, m->KD}, {m->QD, m->C},
                                          {m->C, m->F},  {m->C, m->F},  {m->F, m->C}};
    for (int64_t l = 0; st == CLFT_OK && l < m->L; l++) {
        clft_layer *ly = &m->layers[l];
        st = param_alloc(ctx, &ly->ln1, m->C, full);
        if (st == CLFT_OK) st = param_alloc(ctx, &ly->ln2, m->C, full);
        for (int t = 0; st == CLFT_OK && t < CLFT_NTARGETS; t++) {
            int bias = t < 3 ? cfg->qkv_bias : t == 3 ? cfg->o_bias : cfg->mlp_bias;
            st = linear_build(m, &ly->lin[t], (int)l, t, io[t][0], io[t][1], bias);
        }
        ly->window = cfg->sliding_window;
        if (cfg->arch == CLFT_ARCH_QWEN2 && cfg->sliding_window > 0 && l < cfg->max_window_layers) ly->window = 0;
    }
    /* RoPE frequencies */
    if (st == CLFT_OK) {
        clft_ref_rope_params rp = clft_ref_rope_default_params();
        rp.theta = cfg->rope_theta;
        if (cfg->rope_scaling.type == CLFT_ROPE_LLAMA3) {
            rp.type = CLFT_REF_ROPE_LLAMA3;
            rp.factor = cfg->rope_scaling.factor;
            rp.low_freq_factor = cfg->rope_scaling.low_freq_factor;
            rp.high_freq_factor = cfg->rope_scaling.high_freq_factor;
            rp.original_max_position = (double)cfg->rope_scaling.original_max_position_embeddings;
        }
        float *inv = clft_malloc((size_t)(m->D / 2) * sizeof(float));
        if (!inv) st = CLFT_STATUS_HOST_OOM;
        if (st == CLFT_OK) st = clft_ref_rope_inv_freq(inv, m->D, &rp);
        if (st == CLFT_OK && cfg->rope_scaling.type == CLFT_ROPE_LINEAR)
            for (int64_t i = 0; i < m->D / 2; i++)
                inv[i] = (float)(inv[i] / cfg->rope_scaling.factor);
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, (size_t)(m->D / 2) * 4, &m->inv_freq);
        if (st == CLFT_OK) st = clft_buf_write(ctx, &m->inv_freq, 0, inv, (size_t)(m->D / 2) * 4);
        free(inv);
    }
    if (st != CLFT_OK) {
        clft_model_free(m);
        return st;
    }
    *out = m;
    return CLFT_OK;
}

clft_status clft_model_create(clft_context *ctx, const clft_model_config *cfg, const clft_train_params *tp,
                              clft_model **out) {
    if (!ctx || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_create: NULL argument");
    *out = NULL;
    /* refuse up front, with the plan's numbers, what the device cannot hold */
    clft_memory_plan plan;
    CLFT_CHECK(clft_memory_plan_compute(cfg, tp, &plan));
    clft_device_info info;
    clft_mem_stats ms;
    CLFT_CHECK(clft_context_device_info(ctx, &info));
    CLFT_CHECK(clft_context_mem_stats(ctx, &ms));
    if (plan.total + ms.current_total > info.global_mem_bytes)
        return clft_error(
            CLFT_STATUS_DEVICE_OOM,
            "%s of %s needs %.2f GiB on the device (frozen weights %.2f, trainable %.2f, gradients %.2f, "
            "optimizer %.2f, activations %.2f, scratch %.2f GiB) but '%s' has %.2f GiB (%.2f GiB in use); "
            "use QLoRA, a smaller batch or sequence, or checkpointing",
            clft_method_name(tp->method), clft_arch_name(cfg->arch), (double)plan.total / 1073741824.0,
            (double)plan.bytes[CLFT_MEM_WEIGHTS] / 1073741824.0, (double)plan.bytes[CLFT_MEM_TRAINABLE] / 1073741824.0,
            (double)plan.bytes[CLFT_MEM_GRADIENTS] / 1073741824.0,
            (double)plan.bytes[CLFT_MEM_OPTIMIZER] / 1073741824.0,
            (double)plan.bytes[CLFT_MEM_ACTIVATIONS] / 1073741824.0,
            (double)plan.bytes[CLFT_MEM_SCRATCH] / 1073741824.0, info.name,
            (double)info.global_mem_bytes / 1073741824.0, (double)ms.current_total / 1073741824.0);
    CLFT_CHECK(clft_model_build(ctx, cfg, tp, out));
    /* adapters start as PEFT starts them, so a model whose base is then loaded trains at once */
    clft_status st = clft_model_init_adapters(*out);
    if (st != CLFT_OK) {
        clft_model_free(*out);
        *out = NULL;
    }
    return st;
}

clft_status clft_model_init_adapters(clft_model *m) {
    if (!m) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_init_adapters: NULL model");
    for (int64_t l = 0; l < m->L; l++)
        for (int t = 0; t < CLFT_NTARGETS; t++) {
            clft_linear *lin = &m->layers[l].lin[t];
            if (!lin->has_lora) continue;
            float *A = clft_malloc((size_t)lin->A.n * 4), *B = clft_malloc((size_t)lin->B.n * 4);
            if (!A || !B) {
                free(A);
                free(B);
                return CLFT_STATUS_HOST_OOM;
            }
            uint64_t s =
                m->tp.seed * 0x2545f4914f6cdd1dULL ^ (uint64_t)(l * CLFT_NTARGETS + t + 1) * 0x9e3779b97f4a7c15ULL;
            clft_ref_lora_init_f32(A, B, lin->r, lin->in, lin->out, clft_splitmix64(&s));
            clft_status st = clft_model_lora_set(m, (int)l, target_bit(t), A, B);
            free(A);
            free(B);
            CLFT_CHECK(st);
        }
    return CLFT_OK;
}

clft_status clft_model_each_param(clft_model *m, clft_param_fn fn, void *user) {
    clft_param *top[3] = {&m->embed, &m->norm_f, &m->head};
    for (int i = 0; i < 3; i++)
        if (top[i]->g.mem) CLFT_CHECK(fn(m, top[i], user));
    for (int64_t l = 0; l < m->L; l++) {
        clft_layer *ly = &m->layers[l];
        if (ly->ln1.g.mem) CLFT_CHECK(fn(m, &ly->ln1, user));
        if (ly->ln2.g.mem) CLFT_CHECK(fn(m, &ly->ln2, user));
        for (int t = 0; t < CLFT_NTARGETS; t++) {
            clft_linear *lin = &ly->lin[t];
            clft_param *ps[4] = {&lin->p, &lin->pb, &lin->A, &lin->B};
            for (int i = 0; i < 4; i++)
                if (ps[i]->g.mem) CLFT_CHECK(fn(m, ps[i], user));
        }
    }
    return CLFT_OK;
}

clft_status clft_model_each_param_named(clft_model *m, clft_named_param_fn fn, void *user) {
    char name[160];
    const char *top_names[3] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
    clft_param *top[3] = {&m->embed, &m->norm_f, &m->head};
    for (int i = 0; i < 3; i++)
        if (top[i]->g.mem) CLFT_CHECK(fn(m, top[i], top_names[i], user));
    for (int64_t l = 0; l < m->L; l++) {
        clft_layer *ly = &m->layers[l];
        snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
        if (ly->ln1.g.mem) CLFT_CHECK(fn(m, &ly->ln1, name, user));
        snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        if (ly->ln2.g.mem) CLFT_CHECK(fn(m, &ly->ln2, name, user));
        for (int t = 0; t < CLFT_NTARGETS; t++) {
            clft_linear *lin = &ly->lin[t];
            const char *blk = t < 4 ? "self_attn" : "mlp";
            static const char *const what[4] = {"weight", "bias", "lora_A.weight", "lora_B.weight"};
            clft_param *ps[4] = {&lin->p, &lin->pb, &lin->A, &lin->B};
            for (int i = 0; i < 4; i++) {
                if (!ps[i]->g.mem) continue;
                snprintf(name, sizeof name, "%smodel.layers.%lld.%s.%s.%s", i >= 2 ? "base_model.model." : "",
                         (long long)l, blk, CLFT_TARGET_NAMES[t], what[i]);
                CLFT_CHECK(fn(m, ps[i], name, user));
            }
        }
    }
    return CLFT_OK;
}

/* ---- weights by Hugging Face name ---------------------------------------------------------------- */
typedef struct named {
    clft_param *param; /* f32 parameter (embed, norms, head, full-FT linears and biases) */
    clft_weight *w;    /* frozen weight: base of a projection, or 16-bit embeddings / head (LoRA/QLoRA) */
    clft_buf *bias;    /* frozen bias */
    int64_t numel;
} named;

static clft_status find_named(clft_model *m, const char *name, named *out) {
    memset(out, 0, sizeof *out);
    const int own16 = m->embed_w.dtype != CLFT_DTYPE_F32;
    if (!strcmp(name, "model.embed_tokens.weight")) {
        if (own16)
            out->w = &m->embed_w;
        else
            out->param = &m->embed;
        out->numel = m->V * m->C;
    } else if (!strcmp(name, "model.norm.weight")) {
        out->param = &m->norm_f;
    } else if (!strcmp(name, "lm_head.weight")) {
        if (own16)
            out->w = &m->head_w;
        else
            out->param = m->cfg.tie_word_embeddings ? &m->embed : &m->head;
        out->numel = m->V * m->C;
    } else {
        int layer = -1, off = 0;
        if (sscanf(name, "model.layers.%d.%n", &layer, &off) != 1 || layer < 0 || layer >= m->L || off == 0)
            return clft_error(CLFT_STATUS_NOT_FOUND, "no tensor '%s' in this model", name);
        const char *rest = name + off;
        clft_layer *ly = &m->layers[layer];
        if (!strcmp(rest, "input_layernorm.weight"))
            out->param = &ly->ln1;
        else if (!strcmp(rest, "post_attention_layernorm.weight"))
            out->param = &ly->ln2;
        else {
            for (int t = 0; t < CLFT_NTARGETS && !out->param && !out->w && !out->bias; t++) {
                char w[96], b[96];
                const char *mod = t < 4 ? "self_attn" : "mlp";
                snprintf(w, sizeof w, "%s.%s.weight", mod, CLFT_TARGET_NAMES[t]);
                snprintf(b, sizeof b, "%s.%s.bias", mod, CLFT_TARGET_NAMES[t]);
                clft_linear *lin = &ly->lin[t];
                if (!strcmp(rest, w)) {
                    if (lin->p.w.mem)
                        out->param = &lin->p;
                    else
                        out->w = &lin->base;
                    out->numel = lin->in * lin->out;
                } else if (!strcmp(rest, b) && lin->has_bias) {
                    if (lin->pb.w.mem)
                        out->param = &lin->pb;
                    else
                        out->bias = &lin->bias;
                    out->numel = lin->out;
                }
            }
            if (!out->param && !out->w && !out->bias)
                return clft_error(CLFT_STATUS_NOT_FOUND, "no tensor '%s' in this model", name);
        }
    }
    if (out->param) out->numel = out->param->n;
    return CLFT_OK;
}

/* Write host 4-bit data into an existing device weight of the same layout (sizes equal). */
static clft_status q4_upload(clft_model *m, clft_weight *w, const clft_q4 *q) {
    size_t nb = (size_t)q->nblocks;
    clft_status st = clft_buf_write(m->ctx, &w->data, 0, q->packed, (size_t)(q->numel + 1) / 2);
    if (st == CLFT_OK) st = clft_buf_write(m->ctx, &w->code, 0, q->code, sizeof q->code);
    if (st == CLFT_OK && q->double_quant) {
        size_t nn = (nb + (size_t)q->nested_blocksize - 1) / (size_t)q->nested_blocksize;
        st = clft_buf_write(m->ctx, &w->absmax, 0, q->qabsmax, nb);
        if (st == CLFT_OK) st = clft_buf_write(m->ctx, &w->nested_absmax, 0, q->nested_absmax, nn * 4);
        if (st == CLFT_OK) st = clft_buf_write(m->ctx, &w->nested_code, 0, q->nested_code, sizeof q->nested_code);
        w->nested_offset = q->nested_offset;
    } else if (st == CLFT_OK) {
        st = clft_buf_write(m->ctx, &w->absmax, 0, q->absmax, nb * 4);
    }
    return st;
}

/* Replace the contents of an existing 4-bit weight with the quantization of data. */
static clft_status q4_write(clft_model *m, clft_weight *w, const float *data, int64_t n) {
    clft_q4 q;
    CLFT_CHECK(clft_q4_quantize(data, n, w->dtype, w->blocksize, w->double_quant, &q));
    clft_status st = q4_upload(m, w, &q);
    clft_q4_free(&q);
    return st;
}

clft_status clft_model_set_weight(clft_model *m, const char *name, const float *data, int64_t numel) {
    if (!m || !name || !data) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_set_weight: NULL argument");
    named nd;
    CLFT_CHECK(find_named(m, name, &nd));
    if (numel != nd.numel)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "tensor '%s' has %lld elements, %lld given", name,
                          (long long)nd.numel, (long long)numel);
    if (nd.param) return clft_buf_write(m->ctx, &nd.param->w, 0, data, (size_t)numel * 4);
    if (nd.bias) return clft_buf_write(m->ctx, nd.bias, 0, data, (size_t)numel * 4);
    clft_weight *w = nd.w;
    if (w->dtype == CLFT_DTYPE_NF4 || w->dtype == CLFT_DTYPE_FP4) return q4_write(m, w, data, numel);
    if (clft_dtype_is_ggml(w->dtype)) { /* quantized to the weight's blocks as ggml's reference quantizer */
        size_t nq, ns;
        clft_weight_ggml_bytes(w->dtype, w->rows, w->cols, &nq, &ns);
        void *blocks = clft_malloc(nq + ns);
        if (!blocks) return CLFT_STATUS_HOST_OOM;
        clft_status st = clft_ggml_quantize(clft_dtype_ggml_type(w->dtype), data, numel, blocks);
        if (st == CLFT_OK) st = clft_weight_write_blocks(m->ctx, w, blocks, nq + ns);
        free(blocks);
        return st;
    }
    if (w->dtype == CLFT_DTYPE_F32) return clft_buf_write(m->ctx, &w->data, 0, data, (size_t)numel * 4);
    uint16_t *tmp = clft_malloc((size_t)numel * 2);
    if (!tmp) return CLFT_STATUS_HOST_OOM;
    for (int64_t i = 0; i < numel; i++)
        tmp[i] = w->dtype == CLFT_DTYPE_F16 ? clft_ref_f32_to_f16(data[i]) : clft_ref_f32_to_bf16(data[i]);
    clft_status st = clft_buf_write(m->ctx, &w->data, 0, tmp, (size_t)numel * 2);
    free(tmp);
    return st;
}

/* A 4-bit tensor as read from a checkpoint: stored as is when the model keeps this weight in the
 * same 4-bit layout, else dequantized and set as f32 (converted / re-quantized as the model needs). */
clft_status clft_model_set_q4(clft_model *m, const char *name, const clft_q4 *q);
clft_status clft_model_set_q4(clft_model *m, const char *name, const clft_q4 *q) {
    named nd;
    CLFT_CHECK(find_named(m, name, &nd));
    if (q->numel != nd.numel)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "tensor '%s' has %lld elements, the 4-bit data %lld", name,
                          (long long)nd.numel, (long long)q->numel);
    clft_weight *w = nd.w;
    if (w && w->dtype == q->type && w->blocksize == q->blocksize && w->double_quant == q->double_quant &&
        (!q->double_quant || w->nested_blocksize == q->nested_blocksize))
        return q4_upload(m, w, q);
    float *x = clft_malloc((size_t)q->numel * sizeof(float));
    if (!x) return CLFT_STATUS_HOST_OOM;
    clft_q4_dequantize(q, x);
    clft_status st = clft_model_set_weight(m, name, x, q->numel);
    free(x);
    return st;
}

clft_status clft_model_set_blocks(clft_model *m, const char *name, clft_dtype type, const void *data, size_t bytes) {
    if (!m || !name || !data) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_set_blocks: NULL argument");
    if (!clft_dtype_is_ggml(type))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_set_blocks: '%s': type %s is not q8_0, q4_0 or q4_1",
                          name, clft_dtype_name(type));
    named nd;
    CLFT_CHECK(find_named(m, name, &nd));
    const size_t need = clft_ggml_row_bytes(clft_dtype_ggml_type(type), nd.numel);
    if (need == 0 || bytes != need)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "clft_model_set_blocks: tensor '%s' (%lld elements) needs %zu bytes of %s blocks, %zu given",
                          name, (long long)nd.numel, need, clft_dtype_name(type), bytes);
    clft_weight *w = nd.w;
    if (w && clft_dtype_is_ggml(w->dtype)) {
        if (w->dtype == type) return clft_weight_write_blocks(m->ctx, w, data, bytes);
        /* another block type than the model's (a file that mixes them): this weight takes it */
        clft_weight nw;
        CLFT_CHECK(clft_weight_upload_blocks(m->ctx, CLFT_MEM_WEIGHTS, type, w->rows, w->cols, data, bytes, &nw));
        clft_weight_free(m->ctx, w);
        *w = nw;
        return CLFT_OK;
    }
    /* f32 parameters (embeddings, norms, head) and bases of other storage: dequantized */
    float *x = clft_malloc((size_t)nd.numel * sizeof(float));
    if (!x) return CLFT_STATUS_HOST_OOM;
    clft_status st = clft_ggml_dequantize(clft_dtype_ggml_type(type), data, nd.numel, x);
    if (st == CLFT_OK) st = clft_model_set_weight(m, name, x, nd.numel);
    free(x);
    return st;
}

int clft_model_weight_native(clft_model *m, const char *name) {
    named nd;
    if (!m || !name || find_named(m, name, &nd) != CLFT_OK) {
        clft_error_clear();
        return 0;
    }
    return nd.w && clft_dtype_is_ggml(nd.w->dtype);
}

clft_status clft_model_get_weight(clft_model *m, const char *name, float *data, int64_t numel) {
    if (!m || !name || !data) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_get_weight: NULL argument");
    named nd;
    CLFT_CHECK(find_named(m, name, &nd));
    if (numel != nd.numel)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "tensor '%s' has %lld elements, %lld asked", name,
                          (long long)nd.numel, (long long)numel);
    if (nd.param) return clft_buf_read(m->ctx, &nd.param->w, 0, data, (size_t)numel * 4);
    if (nd.bias) return clft_buf_read(m->ctx, nd.bias, 0, data, (size_t)numel * 4);
    clft_buf tmp = {0};
    CLFT_CHECK(clft_buf_alloc(m->ctx, CLFT_MEM_SCRATCH, (size_t)numel * 4, &tmp));
    clft_status st = clft_weight_to_f32(m->ctx, nd.w, &tmp);
    if (st == CLFT_OK) st = clft_buf_read(m->ctx, &tmp, 0, data, (size_t)numel * 4);
    clft_buf_free(m->ctx, &tmp);
    return st;
}

clft_status clft_model_get_weight_grad(clft_model *m, const char *name, float *data, int64_t numel) {
    if (!m || !name || !data)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_get_weight_grad: NULL argument");
    named nd;
    CLFT_CHECK(find_named(m, name, &nd));
    if (!nd.param || !nd.param->g.mem)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor '%s' is frozen in this model (method %s)", name,
                          clft_method_name(m->tp.method));
    if (numel != nd.numel)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "tensor '%s' has %lld elements, %lld asked", name,
                          (long long)nd.numel, (long long)numel);
    return clft_buf_read(m->ctx, &nd.param->g, 0, data, (size_t)numel * 4);
}

static clft_status lora_of(clft_model *m, int layer, uint32_t target, clft_linear **out) {
    int t = -1;
    for (int i = 0; i < CLFT_NTARGETS; i++)
        if (target == target_bit(i)) t = i;
    if (!m || layer < 0 || layer >= m->L || t < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "LoRA: bad layer %d or target 0x%x (one CLFT_LORA_* bit)",
                          layer, target);
    clft_linear *lin = &m->layers[layer].lin[t];
    if (!lin->has_lora)
        return clft_error(CLFT_STATUS_NOT_FOUND, "layer %d %s has no LoRA adapter", layer, CLFT_TARGET_NAMES[t]);
    *out = lin;
    return CLFT_OK;
}

clft_status clft_model_lora_get(clft_model *m, int layer, uint32_t target, float *A, float *B) {
    clft_linear *lin;
    CLFT_CHECK(lora_of(m, layer, target, &lin));
    if (A) CLFT_CHECK(clft_buf_read(m->ctx, &lin->A.w, 0, A, (size_t)lin->A.n * 4));
    if (B) CLFT_CHECK(clft_buf_read(m->ctx, &lin->B.w, 0, B, (size_t)lin->B.n * 4));
    return CLFT_OK;
}

clft_status clft_model_lora_set(clft_model *m, int layer, uint32_t target, const float *A, const float *B) {
    clft_linear *lin;
    CLFT_CHECK(lora_of(m, layer, target, &lin));
    if (A) CLFT_CHECK(clft_buf_write(m->ctx, &lin->A.w, 0, A, (size_t)lin->A.n * 4));
    if (B) CLFT_CHECK(clft_buf_write(m->ctx, &lin->B.w, 0, B, (size_t)lin->B.n * 4));
    return CLFT_OK;
}

clft_status clft_model_lora_grad_get(clft_model *m, int layer, uint32_t target, float *dA, float *dB) {
    clft_linear *lin;
    CLFT_CHECK(lora_of(m, layer, target, &lin));
    if (dA) CLFT_CHECK(clft_buf_read(m->ctx, &lin->A.g, 0, dA, (size_t)lin->A.n * 4));
    if (dB) CLFT_CHECK(clft_buf_read(m->ctx, &lin->B.g, 0, dB, (size_t)lin->B.n * 4));
    return CLFT_OK;
}

/* ---- random init ---------------------------------------------------------------------------------- */
static float normal01(uint64_t *s) {
    double u1 = ((double)(clft_splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(clft_splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static clft_status set_filled(clft_model *m, const char *name, int64_t n, int kind, float std, uint64_t *s) {
    float *x = clft_malloc((size_t)n * sizeof(float));
    if (!x) return CLFT_STATUS_HOST_OOM;
    for (int64_t i = 0; i < n; i++)
        x[i] = kind == 0 ? std * normal01(s) : kind == 1 ? 1.0f : 0.0f;
    clft_status st = clft_model_set_weight(m, name, x, n);
    free(x);
    return st;
}

clft_status clft_model_init_random(clft_model *m, uint64_t seed, float std) {
    if (!m) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_init_random: NULL model");
    uint64_t s = seed * 0x2545f4914f6cdd1dULL + 1;
    char name[128];
    CLFT_CHECK(set_filled(m, "model.embed_tokens.weight", m->V * m->C, 0, std, &s));
    CLFT_CHECK(set_filled(m, "model.norm.weight", m->C, 1, 0, &s));
    if (!m->cfg.tie_word_embeddings) CLFT_CHECK(set_filled(m, "lm_head.weight", m->V * m->C, 0, std, &s));
    for (int64_t l = 0; l < m->L; l++) {
        snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
        CLFT_CHECK(set_filled(m, name, m->C, 1, 0, &s));
        snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        CLFT_CHECK(set_filled(m, name, m->C, 1, 0, &s));
        for (int t = 0; t < CLFT_NTARGETS; t++) {
            clft_linear *lin = &m->layers[l].lin[t];
            const char *mod = t < 4 ? "self_attn" : "mlp";
            snprintf(name, sizeof name, "model.layers.%lld.%s.%s.weight", (long long)l, mod, CLFT_TARGET_NAMES[t]);
            CLFT_CHECK(set_filled(m, name, lin->in * lin->out, 0, std, &s));
            if (lin->has_bias) {
                snprintf(name, sizeof name, "model.layers.%lld.%s.%s.bias", (long long)l, mod, CLFT_TARGET_NAMES[t]);
                CLFT_CHECK(set_filled(m, name, lin->out, 2, 0, &s));
            }
            if (lin->has_lora) {
                float *A = clft_malloc((size_t)lin->A.n * 4), *B = clft_malloc((size_t)lin->B.n * 4);
                if (!A || !B) {
                    free(A);
                    free(B);
                    return CLFT_STATUS_HOST_OOM;
                }
                clft_ref_lora_init_f32(A, B, lin->r, lin->in, lin->out, clft_splitmix64(&s) ^ m->tp.seed);
                clft_status st = clft_model_lora_set(m, (int)l, target_bit(t), A, B);
                free(A);
                free(B);
                CLFT_CHECK(st);
            }
        }
    }
    return CLFT_OK;
}
