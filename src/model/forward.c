/* forward.c - one forward + fused chunked cross-entropy + backward of the Llama-family decoder,
 * every op an OpenCL kernel or a GEMM-layer call; the batch's targets (label shift by segment),
 * positions and segment ids are prepared here. The order of work is visible in
 * clft_model_fwd_bwd(); layer_fwd/layer_bwd hold the block. With activation checkpointing only
 * each layer's input is kept and the block is recomputed before its backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static clft_dv DV(const clft_buf *b) { return clft_dv_of(b, 0); }

static uint32_t mix32(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* The dropout mask of a projection: a function of the seed, the optimizer step, the micro-batch
 * within the step (gradient accumulation) and the projection, so a resumed run draws the same. */
static uint32_t dropout_seed(const clft_model *m, const clft_linear *lin) {
    return mix32(m->tp.seed * 0x9e3779b97f4a7c15ULL ^ (uint64_t)m->step * 0x100000001b3ULL ^
                 (uint64_t)m->micro * 0xc2b2ae3d27d4eb4fULL ^ lin->dropout_salt);
}

/* Y (N,out) = X W^T (+ bias) (+ scale * dropout(X) A^T B^T), u (N,r) saved. */
static clft_status linear_fwd(clft_model *m, clft_linear *lin, const clft_buf *Y, const clft_buf *X,
                              const clft_buf *u) {
    clft_context *ctx = m->ctx;
    const int64_t N = m->sb->N;
    CLFT_CHECK(clft_linear_fwd(ctx, clft_mat_of(Y, 0, lin->out), clft_mat_of(X, 0, lin->in), &lin->base, N, 0.0f));
    if (lin->has_bias) CLFT_CHECK(clft_bias_add_fwd(ctx, DV(Y), DV(Y), DV(&lin->bias), N, lin->out));
    if (!lin->has_lora) return CLFT_OK;
    const clft_buf *xd = X;
    if (m->tp.lora.dropout > 0.0f && !m->eval_mode) {
        CLFT_CHECK(
            clft_dropout_fwd(ctx, DV(&m->sb->lxd), DV(X), N * lin->in, m->tp.lora.dropout, dropout_seed(m, lin)));
        xd = &m->sb->lxd;
    }
    CLFT_CHECK(clft_gemm_f32(ctx, 0, 1, N, lin->r, lin->in, 1.0f, clft_mat_of(xd, 0, lin->in),
                             clft_mat_of(&lin->A.w, 0, lin->in), 0.0f, clft_mat_of(u, 0, lin->r)));
    return clft_gemm_f32(ctx, 0, 1, N, lin->out, lin->r, lin->scale, clft_mat_of(u, 0, lin->r),
                         clft_mat_of(&lin->B.w, 0, lin->r), 1.0f, clft_mat_of(Y, 0, lin->out));
}

/* dX (N,in) = dY W (beta 0) or += (beta 1); parameter grads accumulate. */
static clft_status linear_bwd(clft_model *m, clft_linear *lin, const clft_buf *dX, float beta, const clft_buf *dY,
                              const clft_buf *X, const clft_buf *u) {
    clft_context *ctx = m->ctx;
    const int64_t N = m->sb->N;
    CLFT_CHECK(
        clft_linear_bwd_data(ctx, clft_mat_of(dX, 0, lin->in), clft_mat_of(dY, 0, lin->out), &lin->base, N, beta));
    if (lin->p.g.mem)
        CLFT_CHECK(clft_linear_bwd_weight(ctx, clft_mat_of(&lin->p.g, 0, lin->in), clft_mat_of(dY, 0, lin->out),
                                          clft_mat_of(X, 0, lin->in), N, lin->out, lin->in));
    if (lin->pb.g.mem) CLFT_CHECK(clft_bias_add_bwd(ctx, DV(&lin->pb.g), DV(dY), N, lin->out));
    if (!lin->has_lora) return CLFT_OK;
    const int drop = m->tp.lora.dropout > 0.0f && !m->eval_mode;
    const clft_buf *xd = X;
    if (drop) {
        CLFT_CHECK(
            clft_dropout_fwd(ctx, DV(&m->sb->lxd), DV(X), N * lin->in, m->tp.lora.dropout, dropout_seed(m, lin)));
        xd = &m->sb->lxd;
    }
    /* du = scale * dY B  (N,r) */
    CLFT_CHECK(clft_gemm_f32(ctx, 0, 0, N, lin->r, lin->out, lin->scale, clft_mat_of(dY, 0, lin->out),
                             clft_mat_of(&lin->B.w, 0, lin->r), 0.0f, clft_mat_of(&m->sb->ldu, 0, lin->r)));
    /* dA += du^T xd  (r,in);  dB += scale * dY^T u  (out,r) */
    CLFT_CHECK(clft_gemm_f32(ctx, 1, 0, lin->r, lin->in, N, 1.0f, clft_mat_of(&m->sb->ldu, 0, lin->r),
                             clft_mat_of(xd, 0, lin->in), 1.0f, clft_mat_of(&lin->A.g, 0, lin->in)));
    CLFT_CHECK(clft_gemm_f32(ctx, 1, 0, lin->out, lin->r, N, lin->scale, clft_mat_of(dY, 0, lin->out),
                             clft_mat_of(u, 0, lin->r), 1.0f, clft_mat_of(&lin->B.g, 0, lin->r)));
    /* dX += (du A) * keep/(1-p) */
    if (!drop)
        return clft_gemm_f32(ctx, 0, 0, N, lin->in, lin->r, 1.0f, clft_mat_of(&m->sb->ldu, 0, lin->r),
                             clft_mat_of(&lin->A.w, 0, lin->in), 1.0f, clft_mat_of(dX, 0, lin->in));
    CLFT_CHECK(clft_gemm_f32(ctx, 0, 0, N, lin->in, lin->r, 1.0f, clft_mat_of(&m->sb->ldu, 0, lin->r),
                             clft_mat_of(&lin->A.w, 0, lin->in), 0.0f, clft_mat_of(&m->sb->lxd, 0, lin->in)));
    CLFT_CHECK(
        clft_dropout_fwd(ctx, DV(&m->sb->lxd), DV(&m->sb->lxd), N * lin->in, m->tp.lora.dropout, dropout_seed(m, lin)));
    return clft_axpy(ctx, DV(dX), 1.0f, DV(&m->sb->lxd), N * lin->in);
}

static clft_layer_acts *acts_of(clft_model *m, int64_t l) {
    return m->tp.checkpointing ? &m->sb->shared : &m->sb->acts[l];
}

/* The segment ids of this batch for the attention ops, or none (m->sb->has_seg 0: unpacked rows). */
static clft_dv seg_view(const clft_model *m) { return clft_dv_of(m->sb->has_seg ? &m->sb->seg : NULL, 0); }

/* Y (N,C) = block(X); X is m->sb->acts[l].x. */
static clft_status layer_fwd(clft_model *m, int64_t l, const clft_buf *Y) {
    clft_context *ctx = m->ctx;
    clft_layer *ly = &m->layers[l];
    clft_layer_acts *a = acts_of(m, l);
    const clft_buf *X = &m->sb->acts[l].x;
    const int64_t N = m->sb->N;
    CLFT_CHECK(
        clft_rmsnorm_fwd(ctx, DV(&a->h1), DV(&a->rstd1), DV(X), DV(&ly->ln1.w), N, m->C, (float)m->cfg.rms_norm_eps));
    CLFT_CHECK(linear_fwd(m, &ly->lin[0], &a->q, &a->h1, &a->lu[0]));
    CLFT_CHECK(linear_fwd(m, &ly->lin[1], &a->k, &a->h1, &a->lu[1]));
    CLFT_CHECK(linear_fwd(m, &ly->lin[2], &a->v, &a->h1, &a->lu[2]));
    CLFT_CHECK(clft_rope_fwd(ctx, DV(&a->q), DV(&a->q), DV(&m->sb->pos), DV(&m->inv_freq), N, m->H, m->D));
    CLFT_CHECK(clft_rope_fwd(ctx, DV(&a->k), DV(&a->k), DV(&m->sb->pos), DV(&m->inv_freq), N, m->KV, m->D));
    clft_attn_dims ad = {m->sb->B, m->sb->T, m->H, m->KV, m->D, ly->window, 0, seg_view(m)};
    CLFT_CHECK(clft_attention_fwd_blocked(ctx, DV(&a->att), DV(&a->lse), DV(&a->q), DV(&a->k), DV(&a->v),
                                          &m->sb->attn_ws, &ad));
    CLFT_CHECK(linear_fwd(m, &ly->lin[3], &a->xmid, &a->att, &a->lu[3]));
    CLFT_CHECK(clft_add_fwd(ctx, DV(&a->xmid), DV(&a->xmid), DV(X), N * m->C));
    CLFT_CHECK(clft_rmsnorm_fwd(ctx, DV(&a->h2), DV(&a->rstd2), DV(&a->xmid), DV(&ly->ln2.w), N, m->C,
                                (float)m->cfg.rms_norm_eps));
    CLFT_CHECK(linear_fwd(m, &ly->lin[4], &a->g, &a->h2, &a->lu[4]));
    CLFT_CHECK(linear_fwd(m, &ly->lin[5], &a->u, &a->h2, &a->lu[5]));
    CLFT_CHECK(clft_swiglu_fwd(ctx, DV(&a->a), DV(&a->g), DV(&a->u), N * m->F));
    CLFT_CHECK(linear_fwd(m, &ly->lin[6], Y, &a->a, &a->lu[6]));
    return clft_add_fwd(ctx, DV(Y), DV(Y), DV(&a->xmid), N * m->C);
}

/* m->sb->dx holds dL/dY on entry and dL/dX on return. */
static clft_status layer_bwd(clft_model *m, int64_t l) {
    clft_context *ctx = m->ctx;
    clft_layer *ly = &m->layers[l];
    clft_layer_acts *a = acts_of(m, l);
    const clft_buf *X = &m->sb->acts[l].x;
    const int64_t N = m->sb->N;
    if (m->tp.checkpointing) CLFT_CHECK(layer_fwd(m, l, &m->sb->dtmp)); /* recompute; the output is not needed */
    /* MLP */
    CLFT_CHECK(linear_bwd(m, &ly->lin[6], &m->sb->da, 0.0f, &m->sb->dx, &a->a, &a->lu[6]));
    CLFT_CHECK(clft_swiglu_bwd(ctx, DV(&m->sb->dg), DV(&m->sb->du), DV(&m->sb->da), DV(&a->g), DV(&a->u), N * m->F));
    CLFT_CHECK(linear_bwd(m, &ly->lin[4], &m->sb->dh, 0.0f, &m->sb->dg, &a->h2, &a->lu[4]));
    CLFT_CHECK(linear_bwd(m, &ly->lin[5], &m->sb->dh, 1.0f, &m->sb->du, &a->h2, &a->lu[5]));
    clft_dv dln2 = clft_dv_of(ly->ln2.g.mem ? &ly->ln2.g : NULL, 0);
    CLFT_CHECK(clft_rmsnorm_bwd(ctx, DV(&m->sb->dtmp), dln2, DV(&m->sb->dh), DV(&a->xmid), DV(&ly->ln2.w),
                                DV(&a->rstd2), N, m->C));
    CLFT_CHECK(clft_add_fwd(ctx, DV(&m->sb->dxmid), DV(&m->sb->dx), DV(&m->sb->dtmp), N * m->C));
    /* attention */
    CLFT_CHECK(linear_bwd(m, &ly->lin[3], &m->sb->datt, 0.0f, &m->sb->dxmid, &a->att, &a->lu[3]));
    clft_attn_dims ad = {m->sb->B, m->sb->T, m->H, m->KV, m->D, ly->window, 0, seg_view(m)};
    CLFT_CHECK(clft_attention_bwd_blocked(ctx, DV(&m->sb->dq), DV(&m->sb->dk), DV(&m->sb->dv), DV(&m->sb->datt),
                                          DV(&a->q), DV(&a->k), DV(&a->v), DV(&a->att), DV(&a->lse), DV(&m->sb->delta),
                                          &m->sb->attn_ws, &ad));
    CLFT_CHECK(clft_rope_bwd(ctx, DV(&m->sb->dq), DV(&m->sb->dq), DV(&m->sb->pos), DV(&m->inv_freq), N, m->H, m->D));
    CLFT_CHECK(clft_rope_bwd(ctx, DV(&m->sb->dk), DV(&m->sb->dk), DV(&m->sb->pos), DV(&m->inv_freq), N, m->KV, m->D));
    CLFT_CHECK(linear_bwd(m, &ly->lin[0], &m->sb->dh, 0.0f, &m->sb->dq, &a->h1, &a->lu[0]));
    CLFT_CHECK(linear_bwd(m, &ly->lin[1], &m->sb->dh, 1.0f, &m->sb->dk, &a->h1, &a->lu[1]));
    CLFT_CHECK(linear_bwd(m, &ly->lin[2], &m->sb->dh, 1.0f, &m->sb->dv, &a->h1, &a->lu[2]));
    clft_dv dln1 = clft_dv_of(ly->ln1.g.mem ? &ly->ln1.g : NULL, 0);
    CLFT_CHECK(
        clft_rmsnorm_bwd(ctx, DV(&m->sb->dtmp), dln1, DV(&m->sb->dh), DV(X), DV(&ly->ln1.w), DV(&a->rstd1), N, m->C));
    return clft_add_fwd(ctx, DV(&m->sb->dx), DV(&m->sb->dxmid), DV(&m->sb->dtmp), N * m->C);
}

/* Loss over the chunks of hf; with want_grads the chunk gradients go to m->sb->dh and the head. */
static clft_status loss_and_head(clft_model *m, int64_t valid, int want_grads, float *logits_out) {
    clft_context *ctx = m->ctx;
    const int64_t N = m->sb->N, V = m->V, C = m->C;
    /* the mean over the labelled targets of this batch, or of the whole accumulated step */
    const int64_t denom = m->loss_denom > 0 ? m->loss_denom : valid;
    const float dscale = denom > 0 ? (float)(1.0 / (double)denom) : 0.0f;
    clft_param *headp = m->cfg.tie_word_embeddings ? &m->embed : &m->head;
    for (int64_t n0 = 0; n0 < N; n0 += m->sb->chunk) {
        const int64_t R = N - n0 < m->sb->chunk ? N - n0 : m->sb->chunk;
        CLFT_CHECK(clft_linear_fwd(ctx, clft_mat_of(&m->sb->logits, 0, V), clft_mat_of(&m->sb->hf, (size_t)(n0 * C), C),
                                   &m->head_w, R, 0.0f));
        if (logits_out)
            CLFT_CHECK(clft_buf_read(ctx, &m->sb->logits, 0, logits_out + n0 * V, (size_t)(R * V) * sizeof(float)));
        if (m->want_correct) /* before the cross-entropy, which may turn the logits into gradients */
            CLFT_CHECK(
                clft_argmax_rows(ctx, clft_dv_of(&m->sb->amax, (size_t)n0), clft_dv_of(&m->sb->logits, 0), R, V));
        CLFT_CHECK(clft_xent_rows(ctx, clft_dv_of(&m->sb->logits, 0), clft_dv_of(&m->sb->targets, (size_t)n0),
                                  clft_dv_of(&m->sb->row_loss, (size_t)n0), R, V, dscale, want_grads));
        if (!want_grads) continue;
        CLFT_CHECK(clft_linear_bwd_data(ctx, clft_mat_of(&m->sb->dh, (size_t)(n0 * C), C),
                                        clft_mat_of(&m->sb->logits, 0, V), &m->head_w, R, 0.0f));
        if (headp->g.mem)
            CLFT_CHECK(clft_linear_bwd_weight(ctx, clft_mat_of(&headp->g, 0, C), clft_mat_of(&m->sb->logits, 0, V),
                                              clft_mat_of(&m->sb->hf, (size_t)(n0 * C), C), R, V, C));
    }
    return CLFT_OK;
}

/* The inputs of one batch. Targets are made here and only here: the HF causal-LM shift, token n of
 * a row predicts labels[n+1] when n+1 is in the same row and the same segment, and the segment is not
 * padding (< 0); every other target is -100. Positions (default n % T) and segment ids are uploaded
 * with the ids; *valid counts the labelled targets. */
static clft_status batch_targets(clft_model *m, const clft_batch *bt, int64_t *valid_out) {
    const int64_t N = m->sb->N, T = m->sb->T;
    const int32_t *ids = bt->ids, *labels = bt->labels, *seg = bt->segments, *pos = bt->positions;
    int64_t valid = 0;
    for (int64_t n = 0; n < N; n++) {
        if (ids[n] < 0 || ids[n] >= m->V)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "input id %d at position %lld is outside the vocabulary (%lld)", ids[n], (long long)n,
                              (long long)m->V);
        if (pos && pos[n] < 0)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "position id %d at position %lld is negative", pos[n],
                              (long long)n);
        const int64_t t = n % T;
        const int same = t + 1 < T && (!seg || (seg[n] >= 0 && seg[n + 1] == seg[n]));
        const int32_t lab = same ? labels[n + 1] : -100;
        if (lab != -100 && (lab < 0 || lab >= m->V))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "label %d at position %lld is outside the vocabulary (%lld) and not -100", lab,
                              (long long)(n + 1), (long long)m->V);
        m->sb->h_targets[n] = lab;
        valid += lab != -100;
    }
    *valid_out = valid;
    return CLFT_OK;
}

clft_status clft_model_count_targets(clft_model *m, const clft_batch *bt, int64_t *valid) {
    return batch_targets(m, bt, valid);
}

static clft_status batch_inputs(clft_model *m, const clft_batch *bt, int64_t *valid_out) {
    clft_context *ctx = m->ctx;
    const int64_t N = m->sb->N;
    const int32_t *ids = bt->ids, *seg = bt->segments, *pos = bt->positions;
    int64_t valid = 0;
    CLFT_CHECK(batch_targets(m, bt, &valid));
    CLFT_CHECK(clft_buf_write(ctx, &m->sb->ids, 0, ids, (size_t)N * 4));
    CLFT_CHECK(clft_buf_write(ctx, &m->sb->targets, 0, m->sb->h_targets, (size_t)N * 4));
    if (pos || m->sb->pos_custom) { /* the default positions are rewritten only after custom ones */
        m->sb->pos_custom = 1;
        CLFT_CHECK(clft_buf_write(ctx, &m->sb->pos, 0, pos ? pos : m->sb->h_pos, (size_t)N * 4));
        m->sb->pos_custom = pos != NULL;
    }
    if (seg) CLFT_CHECK(clft_buf_write(ctx, &m->sb->seg, 0, seg, (size_t)N * 4));
    m->sb->has_seg = seg != NULL;
    *valid_out = valid;
    return CLFT_OK;
}

clft_status clft_model_fwd_bwd(clft_model *m, const clft_batch *bt, int want_grads, double *loss, int64_t *valid_out,
                               float *logits_out) {
    clft_context *ctx = m->ctx;
    const int64_t N = m->sb->N, C = m->C;
    const int32_t *ids = bt->ids;
    int64_t valid = 0;
    CLFT_CHECK(batch_inputs(m, bt, &valid));
    /* forward */
    CLFT_CHECK(clft_embedding_fwd(ctx, DV(&m->sb->acts[0].x), DV(&m->sb->ids), DV(&m->embed_w.data), m->embed_w.dtype, N, m->V, C));
    for (int64_t l = 0; l < m->L; l++)
        CLFT_CHECK(layer_fwd(m, l, l + 1 < m->L ? &m->sb->acts[l + 1].x : &m->sb->xf));
    CLFT_CHECK(clft_rmsnorm_fwd(ctx, DV(&m->sb->hf), DV(&m->sb->rstdf), DV(&m->sb->xf), DV(&m->norm_f.w), N, C,
                                (float)m->cfg.rms_norm_eps));
    CLFT_CHECK(loss_and_head(m, valid, want_grads, logits_out));
    CLFT_CHECK(clft_buf_read(ctx, &m->sb->row_loss, 0, m->sb->h_row_loss, (size_t)N * 4));
    double s = 0.0;
    for (int64_t n = 0; n < N; n++)
        s += (double)m->sb->h_row_loss[n];
    *loss = valid > 0 ? s / (double)valid : 0.0;
    m->last_loss_sum = s;
    m->last_correct = 0;
    if (m->want_correct) {
        CLFT_CHECK(clft_buf_read(ctx, &m->sb->amax, 0, m->sb->h_amax, (size_t)N * 4));
        for (int64_t n = 0; n < N; n++)
            m->last_correct += m->sb->h_targets[n] != -100 && m->sb->h_amax[n] == m->sb->h_targets[n];
    }
    *valid_out = valid;
    if (!want_grads) return CLFT_OK;
    /* backward */
    clft_dv dnf = clft_dv_of(m->norm_f.g.mem ? &m->norm_f.g : NULL, 0);
    CLFT_CHECK(clft_rmsnorm_bwd(ctx, DV(&m->sb->dx), dnf, DV(&m->sb->dh), DV(&m->sb->xf), DV(&m->norm_f.w),
                                DV(&m->sb->rstdf), N, C));
    for (int64_t l = m->L - 1; l >= 0; l--) {
        CLFT_CHECK(layer_bwd(m, l));
        if (m->layer_grads_done) CLFT_CHECK(m->layer_grads_done(m, l, m->layer_grads_user));
    }
    if (m->embed.g.mem) {
        int64_t U =
            clft_embedding_group(ids, N, m->V, m->cfg.pad_token_id, m->sb->h_rows, m->sb->h_offs, m->sb->h_toks);
        if (U < 0) return clft_error(CLFT_STATUS_HOST_OOM, "embedding backward grouping");
        CLFT_CHECK(clft_buf_write(ctx, &m->sb->emb_rows, 0, m->sb->h_rows, (size_t)U * 4));
        CLFT_CHECK(clft_buf_write(ctx, &m->sb->emb_offs, 0, m->sb->h_offs, (size_t)(U + 1) * 4));
        CLFT_CHECK(clft_buf_write(ctx, &m->sb->emb_toks, 0, m->sb->h_toks, (size_t)N * 4));
        CLFT_CHECK(clft_embedding_bwd(ctx, DV(&m->embed.g), DV(&m->sb->dx), DV(&m->sb->emb_rows), DV(&m->sb->emb_offs),
                                      DV(&m->sb->emb_toks), U, C));
    }
    return CLFT_OK;
}
