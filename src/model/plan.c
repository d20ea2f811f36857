/* plan.c - the memory plan: bytes per class that clft_model_create + clft_trainer_create allocate,
 * computed from the config and training parameters alone (no device), so that a run can be sized
 * (or refused) for models far larger than the machine. It mirrors model.c and trainer.c buffer by
 * buffer; tests/train checks that it matches what the arenas count. The GEMM layer's scratch
 * (packed panels, dequantized weights on the CLBlast path, tuning outputs) is an upper estimate. */
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
    /* GEMM layer scratch (ops/gemm.c): three buffers that grow on demand to at least 1 MiB and by at
     * least 1.5x, each bounded here by its largest request or 2.25x (two growth steps) of the
     * largest earlier, smaller one: packed panels of op(B) (columns padded to the kernel's panel
     * width, at most 128), the autotune output (at most 256 rows), and - for non-f32 bases - a
     * weight converted to f32 for the CLBlast path. The LM head, when it is the largest operand,
     * comes last in the forward pass and is reserved exactly. */
    const uint64_t mib = (uint64_t)1 << 20;
    int64_t max_proj = 0, max_dim = F > QD ? F : QD;
    for (int t = 0; t < CLFT_NTARGETS; t++)
        if (io[t][0] * io[t][1] > max_proj) max_proj = io[t][0] * io[t][1];
    if (C > max_dim) max_dim = C;
    const int64_t npadV = (V + 127) / 128 * 128, npadD = (max_dim + 127) / 128 * 128;
    uint64_t head_pack = (uint64_t)(npadV * C) * 4, other_pack = (uint64_t)(npadD * max_dim) * 4;
    if (full) { /* weight gradients: op(B) = X with K = tokens */
        uint64_t wg = (uint64_t)(npadD * N) * 4;
        if (wg > other_pack) other_pack = wg;
    }
    uint64_t attn_pack = (uint64_t)(((T + 127) / 128 * 128) * (D > T ? D : T) * KV) * 4;
    if (attn_pack > other_pack) other_pack = attn_pack;
    uint64_t pack = head_pack > other_pack * 9 / 4 ? head_pack : other_pack * 9 / 4;
    /* autotune outputs: rows (clft_gemm_tune_rows, never more than the product's M) x N x batch */
    int64_t th = clft_gemm_tune_rows(V, C, 1), tp_ = clft_gemm_tune_rows(max_dim, max_dim, 1);
    int64_t ta = clft_gemm_tune_rows(T, D, KV);
    if (th > chunk) th = chunk;
    if (tp_ > N) tp_ = N;
    if (ta > T) ta = T;
    uint64_t tune_head = (uint64_t)(th * V) * 4, tune_other = (uint64_t)(tp_ * max_dim) * 4;
    if ((uint64_t)(ta * T * KV) * 4 > tune_other) tune_other = (uint64_t)(ta * T * KV) * 4;
    uint64_t tune = tune_head > tune_other * 9 / 4 ? tune_head : tune_other * 9 / 4;
    add(&p, CLFT_MEM_SCRATCH, pack > mib ? pack : mib);
    add(&p, CLFT_MEM_SCRATCH, tune > mib ? tune : mib);
    /* timing the CLBlast candidate (first step with an empty cache) makes CLBlast allocate a
     * temporary holding padded copies of the operands of the largest product it is timed on; freed
     * again when CLBlast loses. Its kernels pad M, N and K to their work-group tiles, which differ
     * by device (tuned per device in CLBlast's database; up to 128 in every dimension), so the bound
     * pads all three to 128: A (M,K) + B (K,N) + C (M,N) of the head, a projection, attention
     * scores and - for full fine-tuning - a weight gradient (K = the tokens). */
    uint64_t blas_tmp = head_pack > other_pack ? head_pack + 2 * tune_head : other_pack + 2 * tune_other;
    const int64_t prods[4][3] = {{th, V, C}, {tp_, max_dim, max_dim}, {ta, T, D}, {max_dim, max_dim, full ? N : 0}};
    for (int i = 0; i < 4; i++) {
        const uint64_t b = blas_tmp_bound(prods[i][0], prods[i][1], prods[i][2]);
        if (b > blas_tmp) blas_tmp = b;
    }
    add(&p, CLFT_MEM_SCRATCH, blas_tmp);
    if (!full && !(tp.method == CLFT_METHOD_LORA && tp.base_dtype == CLFT_DTYPE_F32)) {
        uint64_t conv = (uint64_t)max_proj * 4 * 9 / 4;
        add(&p, CLFT_MEM_SCRATCH, conv > mib ? conv : mib);
    }
    /* f16 bases on fp16 devices: the HGEMM probe's operands and the f16 staging of X and C */
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
