/* plan.c - the memory plan: bytes per class that clft_model_create + clft_trainer_create allocate,
 * computed from the config and training parameters alone (no device), so that a run can be sized
 * (or refused) for models far larger than the machine. It mirrors model.c and trainer.c buffer by
 * buffer; tests/train (test_train, test_plan_peak) checks that it matches what the arenas count, class
 * by class. The GEMM layer's scratch (packed panels and f32 copies of a weight a slice of rows at a
 * time, autotune outputs, CLBlast's temporary) is sized here from the step's products and reserved
 * at these sizes by the trainer, so that steps allocate nothing beyond the plan. */
#include <string.h>

#include "model/model.h"

typedef struct plan_acc {
    uint64_t b[CLFT_MEM_CLASS_COUNT];
    uint64_t partials; /* grad-norm partial sums: one range per trainable tensor */
} plan_acc;

static void add(plan_acc *p, clft_mem_class c, uint64_t bytes) { p->b[c] += bytes ? bytes : 4; }

static void add_param(plan_acc *p, int64_t n, int trainable) {
    add(p, trainable ? CLFT_MEM_TRAINABLE : CLFT_MEM_WEIGHTS, (uint64_t)n * 4);
    if (trainable) {
        p->partials += clft_sumsq_partials(n);
        add(p, CLFT_MEM_GRADIENTS, (uint64_t)n * 4);
        add(p, CLFT_MEM_OPTIMIZER, (uint64_t)n * 8);
    }
}

static uint64_t q4_bytes_and_add(plan_acc *p, int64_t n, int blocksize, int double_quant) {
    const int64_t nb = (n + blocksize - 1) / blocksize, nn = (nb + 255) / 256;
    add(p, CLFT_MEM_WEIGHTS, (uint64_t)(n + 1) / 2); /* packed codes */
    add(p, CLFT_MEM_WEIGHTS, 16 * 4);                /* code */
    if (!double_quant) {
        add(p, CLFT_MEM_WEIGHTS, (uint64_t)nb * 4); /* f32 absmax */
        return 0;
    }
    add(p, CLFT_MEM_WEIGHTS, (uint64_t)nb);     /* quantized absmax */
    add(p, CLFT_MEM_WEIGHTS, (uint64_t)nn * 4); /* nested absmax */
    add(p, CLFT_MEM_WEIGHTS, 256 * 4);          /* nested code */
    return 0;
}

/* Bytes of CLBlast's temporary for an (M,K) x (K,N) product with every dimension padded to 128. */
static uint64_t blas_tmp_bound(int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0 || K <= 0) return 0;
    const uint64_t pm = (uint64_t)(M + 127) / 128 * 128, pn = (uint64_t)(N + 127) / 128 * 128,
                   pk = (uint64_t)(K + 127) / 128 * 128;
    return (pm * pk + pk * pn + pm * pn) * 4;
}

/* The GEMM layer's scratch for every product of a step (src/ops/gemm.c): the largest request of each
 * buffer - packed panels of op(B) (panels of CLFT_PLAN_NR columns, the widest a device uses; a
 * weight a slice of CLFT_GEMM_SLICE_BYTES at a time), the autotune output (clft_gemm_tune_rows
 * rows), the f32 copy of a slice of a non-f32 weight (CLBlast path) - and a bound on CLBlast's
 * temporary buffer (padded copies of the operands, every dimension padded to 128). Each at least
 * 1 MiB (the layer's smallest allocation); the trainer reserves exactly these (clft_gemm_reserve_scratch). */
#define CLFT_PLAN_NR 64
typedef struct gemm_acc {
    uint64_t v[CLFT_PLAN_GEMM_COUNT];
} gemm_acc;
static uint64_t rup(uint64_t x, uint64_t m) { return (x + m - 1) / m * m; }
static void gmax(gemm_acc *a, int i, uint64_t bytes) {
    if (bytes > a->v[i]) a->v[i] = bytes;
}
/* a product C (M,N) = op(A) (M,K) op(B) (K,N), batch; B an activation (weight 0) or rows of a weight
 * (wtrans: N of them, else K) with w_cols columns and f32 (w_f32) or other storage */
static void gemm_product(gemm_acc *a, int64_t M, int64_t N, int64_t K, int64_t batch, int weight, int wtrans,
                         int64_t w_cols, int w_f32) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    int64_t tm = clft_gemm_tune_rows(N, K, batch);
    if (tm > M) tm = M;
    gmax(a, CLFT_PLAN_GEMM_TUNE, (uint64_t)(tm * N * batch) * 4);
    if (K <= 0) return;
    const uint64_t slice = CLFT_GEMM_SLICE_BYTES;
    int64_t n = N, k = K;
    if (weight) { /* the slices of run_sliced (gemm.c): tiled, then CLBlast */
        const int64_t rows = wtrans ? N : K;
        const uint64_t per = (wtrans ? (uint64_t)K : rup((uint64_t)N, CLFT_PLAN_NR)) * 4;
        const int64_t step = clft_gemm_slice_rows(slice, per, rows, wtrans ? CLFT_PLAN_NR : 0);
        if (wtrans)
            gmax(a, CLFT_PLAN_GEMM_PACK, rup((uint64_t)step, CLFT_PLAN_NR) * (uint64_t)K * 4);
        else
            gmax(a, CLFT_PLAN_GEMM_PACK, rup((uint64_t)N, CLFT_PLAN_NR) * (uint64_t)step * 4);
        const int64_t cstep = clft_gemm_slice_rows(slice, (uint64_t)w_cols * 4, rows, 0);
        if (!w_f32) gmax(a, CLFT_PLAN_GEMM_CONVERT, (uint64_t)(cstep * w_cols) * 4);
        if (wtrans)
            n = cstep;
        else
            k = cstep;
    } else {
        gmax(a, CLFT_PLAN_GEMM_PACK, rup((uint64_t)N, CLFT_PLAN_NR) * (uint64_t)K * (uint64_t)batch * 4);
    }
    gmax(a, CLFT_PLAN_GEMM_BLAS, blas_tmp_bound(M, n, k)); /* the autotune runs' tm <= M rows need no more */
}

void clft_plan_gemm_scratch(const clft_model_config *cfg, const clft_train_params *tp, uint64_t out[CLFT_PLAN_GEMM_COUNT]) {
    gemm_acc a;
    memset(&a, 0, sizeof a);
    const int full = tp->method == CLFT_METHOD_FULL, train = !tp->inference;
    const int64_t C = cfg->hidden_size, D = cfg->head_dim, H = cfg->num_heads, KV = cfg->num_kv_heads;
    const int64_t QD = H * D, KD = KV * D, F = cfg->intermediate_size, V = cfg->vocab_size;
    const int64_t B = tp->batch, T = tp->seq_len, N = B * T, r = tp->lora.r;
    const int64_t io[CLFT_NTARGETS][2] = {{C, QD}, {C, KD}, {C, KD}, {QD, C}, {C, F}, {C, F}, {F, C}};
    const int base_f32 = full || (tp->method == CLFT_METHOD_LORA && tp->base_dtype == CLFT_DTYPE_F32);
    for (int t = 0; t < CLFT_NTARGETS; t++) {
        const int64_t in = io[t][0], o = io[t][1];
        gemm_product(&a, N, o, in, 1, 1, 1, in, base_f32); /* forward */
        if (!train) continue;
        gemm_product(&a, N, in, o, 1, 1, 0, in, base_f32); /* backward-data */
        if (full) gemm_product(&a, o, in, N, 1, 0, 0, 0, 1); /* weight gradient: op(B) = X */
        if (!full && (tp->lora.targets & (1u << t))) { /* forward.c's adapter products */
            gemm_product(&a, N, r, in, 1, 0, 0, 0, 1);
            gemm_product(&a, N, o, r, 1, 0, 0, 0, 1);
            gemm_product(&a, N, r, o, 1, 0, 0, 0, 1);
            gemm_product(&a, r, in, N, 1, 0, 0, 0, 1);
            gemm_product(&a, o, r, N, 1, 0, 0, 0, 1);
            gemm_product(&a, N, in, r, 1, 0, 0, 0, 1);
        }
    }
    /* the head, a logits chunk of rows at a time */
    const int64_t chunk = clft_xent_chunk(cfg, tp, N);
    const int head_f32 = clft_train_embed_dtype(tp) == CLFT_DTYPE_F32;
    gemm_product(&a, chunk, V, C, 1, 1, 1, C, head_f32);
    if (train) gemm_product(&a, chunk, C, V, 1, 1, 0, C, head_f32);
    if (train && full) gemm_product(&a, V, C, chunk, 1, 0, 0, 0, 1);
    /* attention (ops/attention.c): blocks of query rows against at most T keys, batched over the
     * KV heads - scores, probabilities times V and their backward (bounded over the block sizes) */
    gemm_product(&a, T, T, D, KV, 0, 0, 0, 1);
    gemm_product(&a, T, D, T, KV, 0, 0, 0, 1);
    if (train) gemm_product(&a, T, D, T, KV, 0, 0, 0, 1);
    const uint64_t mib = (uint64_t)1 << 20;
    for (int i = 0; i < CLFT_PLAN_GEMM_COUNT; i++)
        out[i] = a.v[i] == 0 ? 0 : a.v[i] > mib ? a.v[i] : mib;
}

clft_status clft_memory_plan_compute(const clft_model_config *cfg, const clft_train_params *tp_in,
                                     clft_memory_plan *out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_memory_plan_compute: NULL output");
    memset(out, 0, sizeof *out);
    CLFT_CHECK(clft_train_params_check(cfg, tp_in));
    clft_train_params tp = *tp_in;
    if (tp.checkpointing < 0) tp.checkpointing = tp.method != CLFT_METHOD_FULL;
    const int full = tp.method == CLFT_METHOD_FULL, train = !tp.inference;
    const int64_t C = cfg->hidden_size, D = cfg->head_dim, H = cfg->num_heads, KV = cfg->num_kv_heads;
    const int64_t QD = H * D, KD = KV * D, F = cfg->intermediate_size, V = cfg->vocab_size, L = cfg->num_layers;
    const int64_t B = tp.batch, T = tp.seq_len, N = B * T, r = tp.lora.r;
    plan_acc p;
    memset(&p, 0, sizeof p);
    int64_t trainable = 0;
    /* model: embeddings and head as f32 parameters or frozen 16-bit weights */
    const clft_dtype edt = clft_train_embed_dtype(&tp);
    const int ntop = cfg->tie_word_embeddings ? 1 : 2;
    for (int i = 0; i < ntop; i++) {
        if (edt == CLFT_DTYPE_F32)
            add_param(&p, V * C, full && train);
        else
            add(&p, CLFT_MEM_WEIGHTS, (uint64_t)(V * C) * 2);
    }
    add_param(&p, C, full && train);
    if (full && train) trainable += V * C * (cfg->tie_word_embeddings ? 1 : 2) + C;
    const int64_t io[CLFT_NTARGETS][2] = {{C, QD}, {C, KD}, {C, KD}, {QD, C}, {C, F}, {C, F}, {F, C}};
    int nlora = 0;
    for (int64_t l = 0; l < L; l++) {
        add_param(&p, C, full && train);
        add_param(&p, C, full && train);
        if (full && train) trainable += 2 * C;
        for (int t = 0; t < CLFT_NTARGETS; t++) {
            const int64_t in = io[t][0], o = io[t][1], n = in * o;
            const int bias = t < 3 ? cfg->qkv_bias : t == 3 ? cfg->o_bias : cfg->mlp_bias;
            if (full) {
                add_param(&p, n, train);
                if (bias) add_param(&p, o, train);
                if (train) trainable += n + (bias ? o : 0);
                continue;
            }
            if (clft_dtype_is_ggml(tp.base_dtype)) { /* native GGUF blocks: the file's bytes */
                size_t nq, ns;
                clft_weight_ggml_bytes(tp.base_dtype, o, in, &nq, &ns);
                add(&p, CLFT_MEM_WEIGHTS, (uint64_t)(nq + ns));
            } else if (tp.method == CLFT_METHOD_QLORA)
                q4_bytes_and_add(&p, n, tp.qlora_blocksize, tp.qlora_double_quant);
            else
                add(&p, CLFT_MEM_WEIGHTS, (uint64_t)n * (tp.base_dtype == CLFT_DTYPE_F32 ? 4 : 2));
            if (bias) add(&p, CLFT_MEM_WEIGHTS, (uint64_t)o * 4);
            if (tp.lora.targets & (1u << t)) {
                add_param(&p, r * in, train);
                add_param(&p, o * r, train);
                if (train) trainable += r * (in + o);
                if (l == 0) nlora++;
            }
        }
    }
    add(&p, CLFT_MEM_WEIGHTS, (uint64_t)(D / 2) * 4); /* RoPE inverse frequencies */
    /* step buffers */
    const uint64_t f = 4;
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)N * 4); /* ids */
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)N * 4); /* positions */
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)N * 4); /* segment ids */
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)N * 4); /* targets */
    const int64_t sets = tp.checkpointing ? 1 : L;
    for (int64_t l = 0; l < L; l++)
        add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)(N * C) * f); /* layer inputs */
    for (int64_t s = 0; s < sets; s++) {
        const int64_t sizes[] = {N * C, N,     N * QD, N * KD, N * KD, N * QD, B * H * T,
                                 N * C, N * C, N,      N * F,  N * F,  N * F};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)sizes[i] * f);
        for (int i = 0; i < nlora; i++)
            add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)(N * r) * f);
    }
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)(N * C) * f); /* xf */
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)(N * C) * f); /* hf */
    add(&p, CLFT_MEM_ACTIVATIONS, (uint64_t)N * f);       /* rstdf */
    const int64_t chunk = clft_xent_chunk(cfg, &tp, N);
    const int64_t scr[] = {chunk * V, N,      N,      N * C, N * C, N * C, N * C,    N * QD,
                           N * KD,    N * KD, N * QD, N * F, N * F, N * F, B * H * T};
    for (size_t i = 0; i < sizeof scr / sizeof scr[0]; i++)
        add(&p, CLFT_MEM_SCRATCH, (uint64_t)scr[i] * f);
    clft_attn_dims ad = {B, T, H, KV, D, 0, 0, {NULL, 0}};
    add(&p, CLFT_MEM_SCRATCH, (uint64_t)clft_attention_workspace_floats(&ad) * f);
    if (!full) {
        add(&p, CLFT_MEM_SCRATCH, (uint64_t)(N * r) * f);
        if (tp.lora.dropout > 0.0f) {
            int64_t w = F > QD ? (F > C ? F : C) : QD;
            add(&p, CLFT_MEM_SCRATCH, (uint64_t)(N * w) * f);
        }
    } else {
        add(&p, CLFT_MEM_SCRATCH, (uint64_t)N * 4);
        add(&p, CLFT_MEM_SCRATCH, (uint64_t)(N + 1) * 4);
        add(&p, CLFT_MEM_SCRATCH, (uint64_t)N * 4);
    }
    add(&p, CLFT_MEM_SCRATCH, p.partials * 4);
    /* the GEMM layer's scratch, reserved by the trainer at these sizes (clft_plan_gemm_scratch) */
    uint64_t g[CLFT_PLAN_GEMM_COUNT];
    clft_plan_gemm_scratch(cfg, &tp, g);
    for (int i = 0; i < CLFT_PLAN_GEMM_COUNT; i++)
        add(&p, CLFT_MEM_SCRATCH, g[i]);
    /* f16 bases on fp16 devices: the HGEMM probe's operands and the f16 staging of X and C */
    int64_t max_dim = F > QD ? F : QD;
    if (C > max_dim) max_dim = C;
    if (tp.method == CLFT_METHOD_LORA && tp.base_dtype == CLFT_DTYPE_F16)
        add(&p, CLFT_MEM_SCRATCH, clft_gemm_hgemm_scratch_bytes(N, max_dim));
    for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++) {
        out->bytes[c] = p.b[c];
        out->total += p.b[c];
    }
    out->base_params = clft_model_config_num_params(cfg);
    out->trainable_params = trainable;
    return CLFT_OK;
}
