/* test_gc_block.c - the reference ops chained into a tiny Llama-style model (tied embeddings, one
 * decoder block with GQA + sliding window, RoPE, SwiGLU, a LoRA adapter on q_proj, final norm, fused
 * cross-entropy), backpropagated by hand with the documented assign/accumulate rules, and checked by
 * central differences in double. It shows that the _bwd conventions compose: LoRA's dx += onto the
 * base projection's dx, the residual grads summed by the caller, the tied table's grad receiving both
 * the head's dW += and the embedding scatter-add. */
#include "gcutil.h"

enum { B_ = 2, T_ = 5, N_ = B_ * T_, C_ = 6, V_ = 11, H_ = 4, KV_ = 2, D_ = 4, F_ = 7, R_ = 2, CHUNK_ = 3 };

/* y (N,O) = x (N,I) W^T, W (O,I) */
static void lin_fwd(double *y, const double *x, const double *W, int64_t N, int64_t I, int64_t O) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            y[n * O + o] = gc_dot(x + n * I, W + o * I, I);
}
/* dx (N,I) = dy W (assigns; NULL skips), dW (O,I) += dy^T x */
static void lin_bwd(double *dx, double *dW, const double *dy, const double *x, const double *W, int64_t N, int64_t I,
                    int64_t O) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < I; i++) {
            double acc = 0;
            for (int64_t o = 0; o < O; o++) {
                acc += dy[n * O + o] * W[o * I + i];
                if (dW) dW[o * I + i] += dy[n * O + o] * x[n * I + i];
            }
            if (dx) dx[n * I + i] = acc;
        }
}

typedef struct {
    /* parameters */
    double E[V_ * C_], w1[C_], w2[C_], w3[C_], Wq[H_ * D_ * C_], Wk[KV_ * D_ * C_], Wv[KV_ * D_ * C_];
    double Wo[C_ * H_ * D_], Wg[F_ * C_], Wu[F_ * C_], Wd[C_ * F_], A[R_ * C_], Bl[H_ * D_ * R_];
    /* activations */
    double x0[N_ * C_], n1[N_ * C_], r1[N_], q[N_ * H_ * D_], k[N_ * KV_ * D_], v[N_ * KV_ * D_], uq[N_ * R_];
    double qr[N_ * H_ * D_], kr[N_ * KV_ * D_], a[N_ * H_ * D_], lse[B_ * H_ * T_], o[N_ * C_], x1[N_ * C_];
    double n2[N_ * C_], r2[N_], g[N_ * F_], u[N_ * F_], m[N_ * F_], dd[N_ * C_], x2[N_ * C_], n3[N_ * C_], r3[N_];
    double xlse[N_];
    int32_t ids[N_], labels[N_], pos[N_];
    uint8_t keep[N_ * C_];
    float inv[D_ / 2];
    clft_ref_attn_dims ad;
    clft_ref_lora_dims ld;
} model;

static double model_loss(void *p) {
    model *M = p;
    const double eps = 1e-5;
    clft_ref_embedding_fwd_f64(M->x0, M->ids, M->E, N_, V_, C_);
    clft_ref_rmsnorm_fwd_f64(M->n1, M->r1, M->x0, M->w1, N_, C_, eps);
    lin_fwd(M->q, M->n1, M->Wq, N_, C_, H_ * D_);
    clft_ref_lora_fwd_f64(M->q, M->uq, M->n1, M->keep, M->A, M->Bl, &M->ld); /* q += lora */
    lin_fwd(M->k, M->n1, M->Wk, N_, C_, KV_ * D_);
    lin_fwd(M->v, M->n1, M->Wv, N_, C_, KV_ * D_);
    clft_ref_rope_fwd_f64(M->qr, M->q, M->pos, M->inv, N_, H_, D_);
    clft_ref_rope_fwd_f64(M->kr, M->k, M->pos, M->inv, N_, KV_, D_);
    clft_ref_attention_fwd_f64(M->a, M->lse, M->qr, M->kr, M->v, &M->ad);
    lin_fwd(M->o, M->a, M->Wo, N_, H_ * D_, C_);
    clft_ref_residual_fwd_f64(M->x1, M->x0, M->o, N_ * C_);
    clft_ref_rmsnorm_fwd_f64(M->n2, M->r2, M->x1, M->w2, N_, C_, eps);
    lin_fwd(M->g, M->n2, M->Wg, N_, C_, F_);
    lin_fwd(M->u, M->n2, M->Wu, N_, C_, F_);
    clft_ref_swiglu_fwd_f64(M->m, M->g, M->u, N_ * F_);
    lin_fwd(M->dd, M->m, M->Wd, N_, F_, C_);
    clft_ref_residual_fwd_f64(M->x2, M->x1, M->dd, N_ * C_);
    clft_ref_rmsnorm_fwd_f64(M->n3, M->r3, M->x2, M->w3, N_, C_, eps);
    double loss = 0;
    clft_ref_xent_fwd_f64(&loss, M->xlse, M->n3, M->labels, M->E, N_, C_, V_, CHUNK_);
    return loss;
}

int main(void) {
    tu_init_seed();
    tu_rng r = tu_rng_make(5);
    model *M = calloc(1, sizeof *M);
    if (!M) return 1;
    double *all[] = {M->E, M->Wq, M->Wk, M->Wv, M->Wo, M->Wg, M->Wu, M->Wd, M->A, M->Bl};
    int64_t sizes[] = {V_ * C_, H_ * D_ * C_, KV_ * D_ * C_, KV_ * D_ * C_, C_ * H_ * D_,
                       F_ * C_, F_ * C_,      C_ * F_,       R_ * C_,       H_ * D_ * R_};
    for (int i = 0; i < 10; i++)
        gc_fill(&r, all[i], sizes[i], -0.6, 0.6);
    gc_fill(&r, M->w1, C_, 0.8, 1.2);
    gc_fill(&r, M->w2, C_, 0.8, 1.2);
    gc_fill(&r, M->w3, C_, 0.8, 1.2);
    for (int n = 0; n < N_; n++) {
        M->ids[n] = (int32_t)(tu_next(&r) % V_);
        M->pos[n] = n % T_;
        M->labels[n] = n % T_ == T_ - 1 || n == 2 ? CLFT_REF_IGNORE_INDEX : (int32_t)(tu_next(&r) % V_);
    }
    for (int i = 0; i < N_ * C_; i++)
        M->keep[i] = tu_uniform(&r, 0, 1) >= 0.2f;
    clft_ref_rope_params rp = clft_ref_rope_default_params();
    TU_OK(clft_ref_rope_inv_freq(M->inv, D_, &rp));
    M->ad = (clft_ref_attn_dims){B_, T_, H_, KV_, D_, 3, NULL};
    M->ld = (clft_ref_lora_dims){N_, C_, H_ * D_, R_, clft_ref_lora_scale(4, R_, 0), 0.2};
    model_loss(M);

    /* backward, in reverse order; parameter grads start at zero and accumulate */
    double *dE = gc_d(V_ * C_), *dw1 = gc_d(C_), *dWk = gc_d(KV_ * D_ * C_), *dA = gc_d(R_ * C_);
    double *dBl = gc_d(H_ * D_ * R_), *dw2 = gc_d(C_), *dWg = gc_d(F_ * C_), *dWo = gc_d(C_ * H_ * D_);
    double *scratch = gc_d(H_ * D_ * C_ + F_ * C_ + C_ * F_ + 2 * KV_ * D_ * C_ + C_); /* grads not checked */
    double *dWq = scratch, *dWu = dWq + H_ * D_ * C_, *dWd = dWu + F_ * C_, *dWv = dWd + C_ * F_;
    double *dw3 = dWv + KV_ * D_ * C_;
    double *dn3 = gc_d(N_ * C_), *dx2 = gc_d(N_ * C_), *dx1 = gc_d(N_ * C_), *tmp = gc_d(N_ * C_);
    double *ddd = gc_d(N_ * C_), *dm = gc_d(N_ * F_), *dg = gc_d(N_ * F_), *du = gc_d(N_ * F_);
    double *dn2 = gc_d(N_ * C_), *dn2b = gc_d(N_ * C_), *do_ = gc_d(N_ * C_), *da = gc_d(N_ * H_ * D_);
    double *dqr = gc_d(N_ * H_ * D_), *dkr = gc_d(N_ * KV_ * D_), *dv = gc_d(N_ * KV_ * D_);
    double *dq = gc_d(N_ * H_ * D_), *dk = gc_d(N_ * KV_ * D_), *dn1 = gc_d(N_ * C_), *dn1b = gc_d(N_ * C_);
    double *dx0 = gc_d(N_ * C_);
    TU_OK(clft_ref_xent_bwd_f64(dn3, dE, 1.0, M->n3, M->labels, M->E, M->xlse, N_, C_, V_, CHUNK_)); /* tied: dE += */
    clft_ref_rmsnorm_bwd_f64(dx2, dw3, dn3, M->x2, M->w3, M->r3, N_, C_);
    clft_ref_residual_bwd_f64(dx1, ddd, dx2, N_ * C_); /* x2 = x1 + dd */
    lin_bwd(dm, dWd, ddd, M->m, M->Wd, N_, F_, C_);
    clft_ref_swiglu_bwd_f64(dg, du, dm, M->g, M->u, N_ * F_);
    lin_bwd(dn2, dWg, dg, M->n2, M->Wg, N_, C_, F_);
    lin_bwd(dn2b, dWu, du, M->n2, M->Wu, N_, C_, F_);
    for (int i = 0; i < N_ * C_; i++)
        dn2[i] += dn2b[i];
    clft_ref_rmsnorm_bwd_f64(tmp, dw2, dn2, M->x1, M->w2, M->r2, N_, C_);
    for (int i = 0; i < N_ * C_; i++)
        dx1[i] += tmp[i]; /* both uses of x1 */
    double *dx0r = gc_d(N_ * C_);
    clft_ref_residual_bwd_f64(dx0r, do_, dx1, N_ * C_); /* x1 = x0 + o */
    lin_bwd(da, dWo, do_, M->a, M->Wo, N_, H_ * D_, C_);
    TU_OK(clft_ref_attention_bwd_f64(dqr, dkr, dv, da, M->qr, M->kr, M->v, M->a, M->lse, &M->ad));
    clft_ref_rope_bwd_f64(dq, dqr, M->pos, M->inv, N_, H_, D_);
    clft_ref_rope_bwd_f64(dk, dkr, M->pos, M->inv, N_, KV_, D_);
    lin_bwd(dn1, dWq, dq, M->n1, M->Wq, N_, C_, H_ * D_);                                       /* base q path: dn1 = */
    TU_OK(clft_ref_lora_bwd_f64(dn1, dA, dBl, dq, M->n1, M->keep, M->A, M->Bl, M->uq, &M->ld)); /* dn1 += */
    lin_bwd(dn1b, dWk, dk, M->n1, M->Wk, N_, C_, KV_ * D_);
    for (int i = 0; i < N_ * C_; i++)
        dn1[i] += dn1b[i];
    lin_bwd(dn1b, dWv, dv, M->n1, M->Wv, N_, C_, KV_ * D_);
    for (int i = 0; i < N_ * C_; i++)
        dn1[i] += dn1b[i];
    clft_ref_rmsnorm_bwd_f64(dx0, dw1, dn1, M->x0, M->w1, M->r1, N_, C_);
    for (int i = 0; i < N_ * C_; i++)
        dx0[i] += dx0r[i];
    clft_ref_embedding_bwd_f64(dE, dx0, M->ids, N_, V_, C_, -1); /* tied: dE += */

    gc_check("block dE (tied embedding + head)", model_loss, M, M->E, dE, V_ * C_);
    gc_check("block lora dA", model_loss, M, M->A, dA, R_ * C_);
    gc_check("block lora dB", model_loss, M, M->Bl, dBl, H_ * D_ * R_);
    gc_check("block dw1", model_loss, M, M->w1, dw1, C_);
    gc_check("block dw2", model_loss, M, M->w2, dw2, C_);
    gc_check("block dWk", model_loss, M, M->Wk, dWk, KV_ * D_ * C_);
    gc_check("block dWo", model_loss, M, M->Wo, dWo, C_ * H_ * D_);
    gc_check("block dWg", model_loss, M, M->Wg, dWg, F_ * C_);
    gc_free_all();
    free(M);
    return tu_finish("test_gc_block");
}
