/* test_model_ref.c - whole-model gradients from the OpenCL path against the reference path: the
 * same decoder composed from the src/ref ops in double precision on the host (weights read back
 * from the device, so NF4 / bf16 bases are compared as stored). Checks the loss and the gradient
 * of every LoRA A and B (LoRA, QLoRA) or of every weight (full fine-tuning), on shapes with odd
 * sizes: T = 7, 3 query heads per kv head, sliding window, q/k/v bias, tied embeddings; and packed
 * rows (clft_batch with position ids restarting per example, segment ids and padding). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ops_ref.h"
#include "tutil.h"

static const char *TGT[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

typedef struct lin {
    int64_t in, out;
    double *W, *dW, *b, *db; /* (out,in), bias (out) or NULL */
    double *A, *B, *dA, *dB; /* LoRA or NULL */
    double *u;               /* (N,r) saved */
    char wname[128], bname[128];
} lin;

typedef struct ref_model {
    clft_model_config cfg;
    int64_t C, D, H, KV, QD, KD, F, V, L, N, B, T, r;
    double scale;
    int full, lora;
    double *embed, *dembed, *head, *dhead, *normf, *dnormf;
    double *ln1[8], *ln2[8], *dln1[8], *dln2[8];
    lin lins[8][7];
    float *inv_freq;
} ref_model;

static double *dalloc(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

static double *fetch(clft_model *m, const char *name, int64_t n) {
    float *f = malloc((size_t)n * 4);
    double *d = dalloc(n);
    TU_OK(clft_model_get_weight(m, name, f, n));
    for (int64_t i = 0; i < n; i++)
        d[i] = f[i];
    free(f);
    return d;
}

/* Y (N,out) = X (N,in) W^T (+b) */
static void mm_nt(double *Y, const double *X, const double *W, const double *b, int64_t N, int64_t in, int64_t out) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++)
                s += X[n * in + i] * W[o * in + i];
            Y[n * out + o] = s;
        }
}

static void lin_fwd(ref_model *rm, lin *l, double *Y, const double *X) {
    mm_nt(Y, X, l->W, l->b, rm->N, l->in, l->out);
    if (l->A) {
        clft_ref_lora_dims d = {rm->N, l->in, l->out, rm->r, rm->scale, 0.0};
        TU_OK(clft_ref_lora_fwd_f64(Y, l->u, X, NULL, l->A, l->B, &d));
    }
}

/* dX (N,in) (=, or += when acc), dW += dY^T X, db += colsum dY, LoRA grads */
static void lin_bwd(ref_model *rm, lin *l, double *dX, int acc, const double *dY, const double *X) {
    const int64_t N = rm->N;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < l->in; i++) {
            double s = 0;
            for (int64_t o = 0; o < l->out; o++)
                s += dY[n * l->out + o] * l->W[o * l->in + i];
            dX[n * l->in + i] = (acc ? dX[n * l->in + i] : 0.0) + s;
        }
    if (l->dW)
        for (int64_t o = 0; o < l->out; o++)
            for (int64_t i = 0; i < l->in; i++) {
                double s = 0;
                for (int64_t n = 0; n < N; n++)
                    s += dY[n * l->out + o] * X[n * l->in + i];
                l->dW[o * l->in + i] += s;
            }
    if (l->db)
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < l->out; o++)
                l->db[o] += dY[n * l->out + o];
    if (l->A) {
        clft_ref_lora_dims d = {N, l->in, l->out, rm->r, rm->scale, 0.0};
        TU_OK(clft_ref_lora_bwd_f64(dX, l->dA, l->dB, dY, X, NULL, l->A, l->B, l->u, &d));
    }
}

typedef struct acts {
    double *x, *h1, *rstd1, *q, *k, *v, *att, *lse, *xmid, *h2, *rstd2, *g, *u, *a;
} acts;

static void compare_grad(const char *what, const double *ref, const float *got, int64_t n) {
    float *r = malloc((size_t)n * 4);
    double mx = 0;
    for (int64_t i = 0; i < n; i++) {
        r[i] = (float)ref[i];
        mx = fmax(mx, fabs(ref[i]));
    }
    tu_close(what, got, r, (size_t)n, 1e-4 * mx + 1e-9, 1e-3, 1e-6);
    free(r);
}

static void run(clft_context *ctx, clft_method method, clft_dtype base, int tied, int bias, int64_t window,
                int packed) {
    clft_model_config cfg;
    clft_model_config_defaults(bias ? CLFT_ARCH_QWEN2 : CLFT_ARCH_MISTRAL, &cfg);
    cfg.vocab_size = 37;
    cfg.hidden_size = 24;
    cfg.num_layers = 2;
    cfg.num_heads = 6;
    cfg.num_kv_heads = 2;
    cfg.head_dim = 4;
    cfg.intermediate_size = 20;
    cfg.tie_word_embeddings = tied;
    cfg.qkv_bias = bias;
    cfg.o_bias = 0;
    cfg.mlp_bias = 0;
    cfg.sliding_window = window;
    cfg.max_window_layers = 0;
    cfg.rope_theta = 1000.0;
    cfg.pad_token_id = 1; /* ids[3] is 1: its row gets no gradient from the lookup (nn.Embedding padding_idx) */
    clft_train_params tp = clft_train_default_params(method);
    if (method == CLFT_METHOD_LORA) tp.base_dtype = base;
    tp.batch = 2;
    tp.seq_len = 7;
    tp.lora.r = 3;
    tp.lora.alpha = 5.0f;
    tp.xent_chunk = 5;
    fprintf(stderr, "model vs reference: %s base %s tied %d bias %d window %lld packed %d\n", clft_method_name(method),
            clft_dtype_name(base), tied, bias, (long long)window, packed);
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_init_random(m, 77, 0.3f));
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) {
        clft_model_free(m);
        return;
    }
    ref_model R;
    memset(&R, 0, sizeof R);
    R.cfg = cfg;
    R.C = 24, R.D = 4, R.H = 6, R.KV = 2, R.QD = 24, R.KD = 8, R.F = 20, R.V = 37, R.L = 2, R.B = 2, R.T = 7, R.N = 14;
    R.r = 3;
    R.full = method == CLFT_METHOD_FULL;
    R.lora = !R.full;
    R.scale = 5.0 / 3.0;
    /* LoRA B starts at zero: give it values so that every gradient is exercised */
    const int64_t io[7][2] = {{24, 24}, {24, 8}, {24, 8}, {24, 24}, {24, 20}, {24, 20}, {20, 24}};
    for (int l = 0; l < 2 && R.lora; l++)
        for (int t = 0; t < 7; t++) {
            float *Bv = malloc((size_t)(io[t][1] * 3) * 4);
            for (int64_t i = 0; i < io[t][1] * 3; i++)
                Bv[i] = 0.05f * (float)(((i + 1) * (t + 3) * (l + 2)) % 13 - 6);
            TU_OK(clft_model_lora_set(m, l, 1u << t, NULL, Bv));
            free(Bv);
        }
    R.embed = fetch(m, "model.embed_tokens.weight", R.V * R.C);
    R.head = tied ? R.embed : fetch(m, "lm_head.weight", R.V * R.C);
    R.normf = fetch(m, "model.norm.weight", R.C);
    char name[160];
    for (int l = 0; l < 2; l++) {
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        R.ln1[l] = fetch(m, name, R.C);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        R.ln2[l] = fetch(m, name, R.C);
        R.dln1[l] = dalloc(R.C);
        R.dln2[l] = dalloc(R.C);
        for (int t = 0; t < 7; t++) {
            lin *L = &R.lins[l][t];
            L->in = io[t][0];
            L->out = io[t][1];
            snprintf(L->wname, sizeof L->wname, "model.layers.%d.%s.%s.weight", l, t < 4 ? "self_attn" : "mlp", TGT[t]);
            snprintf(L->bname, sizeof L->bname, "model.layers.%d.%s.%s.bias", l, t < 4 ? "self_attn" : "mlp", TGT[t]);
            L->W = fetch(m, L->wname, L->in * L->out);
            if (bias && t < 3) L->b = fetch(m, L->bname, L->out);
            if (R.full) {
                L->dW = dalloc(L->in * L->out);
                if (L->b) L->db = dalloc(L->out);
            } else {
                float *A = malloc((size_t)(3 * L->in) * 4), *Bm = malloc((size_t)(3 * L->out) * 4);
                TU_OK(clft_model_lora_get(m, l, 1u << t, A, Bm));
                L->A = dalloc(3 * L->in);
                L->B = dalloc(3 * L->out);
                for (int64_t i = 0; i < 3 * L->in; i++)
                    L->A[i] = A[i];
                for (int64_t i = 0; i < 3 * L->out; i++)
                    L->B[i] = Bm[i];
                L->dA = dalloc(3 * L->in);
                L->dB = dalloc(3 * L->out);
                L->u = dalloc(R.N * 3);
                free(A);
                free(Bm);
            }
        }
    }
    R.dembed = dalloc(R.V * R.C);
    R.dhead = tied ? R.dembed : dalloc(R.V * R.C);
    R.dnormf = dalloc(R.C);
    float inv[2];
    clft_ref_rope_params rp = clft_ref_rope_default_params();
    rp.theta = 1000.0;
    TU_OK(clft_ref_rope_inv_freq(inv, R.D, &rp));
    /* packed: row 0 holds examples of 3 and 4 tokens, row 1 one of 5 and two padding tokens (whose
     * labels are left set: padding is never a target) */
    static int32_t pseg[14] = {0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, -1, -1};
    static int32_t ppos[14] = {0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 0};
    int32_t ids[14], labels[14], pos[14], targets[14];
    for (int i = 0; i < 14; i++) {
        ids[i] = (int32_t)((i * 11 + 5) % 37);
        labels[i] = ids[i];
        pos[i] = packed ? ppos[i] : i % 7;
    }
    labels[2] = -100;
    labels[9] = -100;
    int64_t want_valid = 0;
    for (int i = 0; i < 14; i++) {
        int same = i % 7 + 1 < 7 && (!packed || (pseg[i] >= 0 && pseg[i + 1] == pseg[i]));
        targets[i] = same ? labels[i + 1] : -100;
        want_valid += targets[i] != -100;
    }
    /* ---- reference forward ---- */
    const int64_t N = R.N, C = R.C;
    acts A[2];
    double *x = dalloc(N * C);
    clft_ref_embedding_fwd_f64(x, ids, R.embed, N, R.V, C);
    clft_ref_attn_dims ad = {2, 7, 6, 2, 4, window, packed ? pseg : NULL};
    for (int l = 0; l < 2; l++) {
        acts *a = &A[l];
        a->x = x;
        a->h1 = dalloc(N * C), a->rstd1 = dalloc(N), a->q = dalloc(N * R.QD), a->k = dalloc(N * R.KD);
        a->v = dalloc(N * R.KD), a->att = dalloc(N * R.QD), a->lse = dalloc(2 * 6 * 7), a->xmid = dalloc(N * C);
        a->h2 = dalloc(N * C), a->rstd2 = dalloc(N), a->g = dalloc(N * R.F), a->u = dalloc(N * R.F),
        a->a = dalloc(N * R.F);
        clft_ref_rmsnorm_fwd_f64(a->h1, a->rstd1, a->x, R.ln1[l], N, C, cfg.rms_norm_eps);
        lin_fwd(&R, &R.lins[l][0], a->q, a->h1);
        lin_fwd(&R, &R.lins[l][1], a->k, a->h1);
        lin_fwd(&R, &R.lins[l][2], a->v, a->h1);
        clft_ref_rope_fwd_f64(a->q, a->q, pos, inv, N, 6, 4);
        clft_ref_rope_fwd_f64(a->k, a->k, pos, inv, N, 2, 4);
        TU_OK(clft_ref_attention_fwd_f64(a->att, a->lse, a->q, a->k, a->v, &ad));
        lin_fwd(&R, &R.lins[l][3], a->xmid, a->att);
        clft_ref_residual_fwd_f64(a->xmid, a->xmid, a->x, N * C);
        clft_ref_rmsnorm_fwd_f64(a->h2, a->rstd2, a->xmid, R.ln2[l], N, C, cfg.rms_norm_eps);
        lin_fwd(&R, &R.lins[l][4], a->g, a->h2);
        lin_fwd(&R, &R.lins[l][5], a->u, a->h2);
        clft_ref_swiglu_fwd_f64(a->a, a->g, a->u, N * R.F);
        x = dalloc(N * C);
        lin_fwd(&R, &R.lins[l][6], x, a->a);
        clft_ref_residual_fwd_f64(x, x, a->xmid, N * C);
    }
    double *hf = dalloc(N * C), *rstdf = dalloc(N), loss = 0, *lse = dalloc(N);
    clft_ref_rmsnorm_fwd_f64(hf, rstdf, x, R.normf, N, C, cfg.rms_norm_eps);
    int64_t valid = clft_ref_xent_fwd_f64(&loss, lse, hf, targets, R.head, N, C, R.V, 4);
    /* ---- reference backward ---- */
    double *dh = dalloc(N * C), *dx = dalloc(N * C), *dtmp = dalloc(N * C), *dxmid = dalloc(N * C);
    TU_OK(clft_ref_xent_bwd_f64(dh, R.full ? R.dhead : NULL, 1.0, hf, targets, R.head, lse, N, C, R.V, 4));
    clft_ref_rmsnorm_bwd_f64(dx, R.full ? R.dnormf : NULL, dh, x, R.normf, rstdf, N, C);
    double *da = dalloc(N * R.F), *dg = dalloc(N * R.F), *du = dalloc(N * R.F);
    double *datt = dalloc(N * R.QD), *dq = dalloc(N * R.QD), *dk = dalloc(N * R.KD), *dv = dalloc(N * R.KD);
    for (int l = 1; l >= 0; l--) {
        acts *a = &A[l];
        lin_bwd(&R, &R.lins[l][6], da, 0, dx, a->a);
        clft_ref_swiglu_bwd_f64(dg, du, da, a->g, a->u, N * R.F);
        lin_bwd(&R, &R.lins[l][4], dh, 0, dg, a->h2);
        lin_bwd(&R, &R.lins[l][5], dh, 1, du, a->h2);
        clft_ref_rmsnorm_bwd_f64(dtmp, R.full ? R.dln2[l] : NULL, dh, a->xmid, R.ln2[l], a->rstd2, N, C);
        for (int64_t i = 0; i < N * C; i++)
            dxmid[i] = dx[i] + dtmp[i];
        lin_bwd(&R, &R.lins[l][3], datt, 0, dxmid, a->att);
        TU_OK(clft_ref_attention_bwd_f64(dq, dk, dv, datt, a->q, a->k, a->v, a->att, a->lse, &ad));
        clft_ref_rope_bwd_f64(dq, dq, pos, inv, N, 6, 4);
        clft_ref_rope_bwd_f64(dk, dk, pos, inv, N, 2, 4);
        lin_bwd(&R, &R.lins[l][0], dh, 0, dq, a->h1);
        lin_bwd(&R, &R.lins[l][1], dh, 1, dk, a->h1);
        lin_bwd(&R, &R.lins[l][2], dh, 1, dv, a->h1);
        clft_ref_rmsnorm_bwd_f64(dtmp, R.full ? R.dln1[l] : NULL, dh, a->x, R.ln1[l], a->rstd1, N, C);
        for (int64_t i = 0; i < N * C; i++)
            dx[i] = dxmid[i] + dtmp[i];
    }
    if (R.full) clft_ref_embedding_bwd_f64(R.dembed, dx, ids, N, R.V, C, cfg.pad_token_id);
    /* ---- device ---- */
    double dloss = 0;
    if (packed) {
        clft_batch bt = {.ids = ids, .labels = labels, .positions = ppos, .segments = pseg, .batch = 2, .seq_len = 7};
        TU_OK(clft_trainer_compute_grads_batch(tr, &bt, &dloss, NULL));
    } else {
        TU_OK(clft_trainer_compute_grads(tr, ids, labels, &dloss, NULL));
    }
    TU_CHECK(valid == want_valid && want_valid == (packed ? 7 : 10), "valid tokens %lld", (long long)valid);
    TU_CHECK(fabs(dloss - loss) <= 2e-5 * fabs(loss), "loss %.9f vs reference %.9f", dloss, loss);
    float *got = malloc((size_t)(R.V * C) * 4);
    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 7; t++) {
            lin *L = &R.lins[l][t];
            if (R.full) {
                TU_OK(clft_model_get_weight_grad(m, L->wname, got, L->in * L->out));
                compare_grad(L->wname, L->dW, got, L->in * L->out);
                if (L->db) {
                    TU_OK(clft_model_get_weight_grad(m, L->bname, got, L->out));
                    compare_grad(L->bname, L->db, got, L->out);
                }
            } else {
                snprintf(name, sizeof name, "%s lora_A", L->wname);
                TU_OK(clft_model_lora_grad_get(m, l, 1u << t, got, NULL));
                compare_grad(name, L->dA, got, 3 * L->in);
                snprintf(name, sizeof name, "%s lora_B", L->wname);
                TU_OK(clft_model_lora_grad_get(m, l, 1u << t, NULL, got));
                compare_grad(name, L->dB, got, 3 * L->out);
            }
        }
    if (R.full) {
        TU_OK(clft_model_get_weight_grad(m, "model.embed_tokens.weight", got, R.V * C));
        compare_grad("embed_tokens (incl. tied head)", R.dembed, got, R.V * C);
        if (!tied) {
            TU_OK(clft_model_get_weight_grad(m, "lm_head.weight", got, R.V * C));
            compare_grad("lm_head", R.dhead, got, R.V * C);
        }
        TU_OK(clft_model_get_weight_grad(m, "model.norm.weight", got, C));
        compare_grad("norm", R.dnormf, got, C);
        for (int l = 0; l < 2; l++) {
            snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
            TU_OK(clft_model_get_weight_grad(m, name, got, C));
            compare_grad(name, R.dln1[l], got, C);
            snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
            TU_OK(clft_model_get_weight_grad(m, name, got, C));
            compare_grad(name, R.dln2[l], got, C);
        }
    }
    /* (the reference buffers are process-lifetime test allocations; freed by exit) */
    free(got);
    clft_trainer_free(tr);
    clft_model_free(m);
}

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    run(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 0, 0, 0, 0);
    run(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_BF16, 1, 1, 3, 0);
    run(ctx, CLFT_METHOD_QLORA, CLFT_DTYPE_NF4, 0, 1, 4, 0);
    run(ctx, CLFT_METHOD_FULL, CLFT_DTYPE_F32, 0, 1, 0, 0);
    run(ctx, CLFT_METHOD_FULL, CLFT_DTYPE_F32, 1, 0, 5, 0);
    run(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 0, 1, 0, 1);
    run(ctx, CLFT_METHOD_QLORA, CLFT_DTYPE_NF4, 1, 0, 2, 1);
    run(ctx, CLFT_METHOD_FULL, CLFT_DTYPE_F32, 0, 1, 3, 1);
    clft_context_free(ctx);
    return tu_finish("test_model_ref");
}
