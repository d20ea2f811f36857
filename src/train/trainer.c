/* trainer.c - the training step: step buffers allocated once, then per step zero grads,
 * forward + loss + backward, global grad norm, NaN/Inf check (skip the update), clipping, AdamW.
 * The step order is visible in clft_trainer_step_batch(). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "train/dist.h"

struct clft_trainer {
    clft_model *m;
    clft_step_bufs sb; /* the step buffers (attached to the model as m->sb while the trainer lives) */
    double last_norm;
    clft_dist *dist; /* one rank of a data-parallel run (clft_trainer_set_comm), else NULL */
};

static clft_status act(clft_context *ctx, clft_buf *b, int64_t n) {
    return clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)n * 4, b);
}
static clft_status scr(clft_context *ctx, clft_buf *b, int64_t n) {
    return clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)n * 4, b);
}

/* The recomputable part of a layer's activations (everything but x). */
static clft_status acts_alloc(clft_model *m, clft_layer_acts *a) {
    clft_context *ctx = m->ctx;
    const int64_t N = m->sb->N;
    CLFT_CHECK(act(ctx, &a->h1, N * m->C));
    CLFT_CHECK(act(ctx, &a->rstd1, N));
    CLFT_CHECK(act(ctx, &a->q, N * m->QD));
    CLFT_CHECK(act(ctx, &a->k, N * m->KD));
    CLFT_CHECK(act(ctx, &a->v, N * m->KD));
    CLFT_CHECK(act(ctx, &a->att, N * m->QD));
    CLFT_CHECK(act(ctx, &a->lse, m->sb->B * m->H * m->sb->T));
    CLFT_CHECK(act(ctx, &a->xmid, N * m->C));
    CLFT_CHECK(act(ctx, &a->h2, N * m->C));
    CLFT_CHECK(act(ctx, &a->rstd2, N));
    CLFT_CHECK(act(ctx, &a->g, N * m->F));
    CLFT_CHECK(act(ctx, &a->u, N * m->F));
    CLFT_CHECK(act(ctx, &a->a, N * m->F));
    for (int t = 0; t < CLFT_NTARGETS; t++)
        if (m->layers[0].lin[t].has_lora) CLFT_CHECK(act(ctx, &a->lu[t], N * m->tp.lora.r));
    return CLFT_OK;
}

static void acts_free(clft_context *ctx, clft_layer_acts *a) {
    clft_buf *bs[] = {&a->x,   &a->h1,   &a->rstd1, &a->q,     &a->k, &a->v, &a->att,
                      &a->lse, &a->xmid, &a->h2,    &a->rstd2, &a->g, &a->u, &a->a};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        clft_buf_free(ctx, bs[i]);
    for (int t = 0; t < CLFT_NTARGETS; t++)
        clft_buf_free(ctx, &a->lu[t]);
}

int64_t clft_xent_chunk(const clft_model_config *cfg, const clft_train_params *tp, int64_t N) {
    int64_t chunk = tp->xent_chunk > 0 ? tp->xent_chunk : 0;
    if (!chunk) { /* about 64 MiB of logits, at least 1 token */
        chunk = ((int64_t)64 << 20) / 4 / (cfg->vocab_size > 0 ? cfg->vocab_size : 1);
        if (chunk < 1) chunk = 1;
    }
    return chunk < N ? chunk : N;
}

void clft_model_step_free(clft_model *m) {
    if (!m || !m->sb) return;
    clft_context *ctx = m->ctx;
    for (int64_t l = 0; m->sb->acts && l < m->L; l++)
        acts_free(ctx, &m->sb->acts[l]);
    free(m->sb->acts);
    m->sb->acts = NULL;
    acts_free(ctx, &m->sb->shared);
    clft_buf *bs[] = {&m->sb->ids,      &m->sb->pos,      &m->sb->seg,        &m->sb->targets, &m->sb->emb_rows,
                      &m->sb->emb_offs, &m->sb->emb_toks, &m->sb->xf,         &m->sb->hf,      &m->sb->rstdf,
                      &m->sb->logits,   &m->sb->row_loss, &m->sb->dx,         &m->sb->dxmid,   &m->sb->dh,
                      &m->sb->dtmp,     &m->sb->dq,       &m->sb->dk,         &m->sb->dv,      &m->sb->datt,
                      &m->sb->dg,       &m->sb->du,       &m->sb->da,         &m->sb->delta,   &m->sb->attn_ws,
                      &m->sb->ldu,      &m->sb->lxd,      &m->sb->sumsq_part, &m->sb->amax};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        clft_buf_free(ctx, bs[i]);
    free(m->sb->h_ids);
    free(m->sb->h_rows);
    free(m->sb->h_offs);
    free(m->sb->h_toks);
    free(m->sb->h_targets);
    free(m->sb->h_row_loss);
    free(m->sb->h_pos);
    free(m->sb->h_amax);
    m->sb->h_ids = m->sb->h_rows = m->sb->h_offs = m->sb->h_toks = m->sb->h_targets = m->sb->h_pos = NULL;
    m->sb->h_amax = NULL;
    m->sb->h_row_loss = NULL;
    m->sb->allocated = 0;
    m->sb->pos_custom = m->sb->has_seg = 0;
}

/* One range of the partial-sums buffer per trainable tensor (the global norm needs one read). */
static clft_status count_partials(clft_model *m, clft_param *p, void *user) {
    (void)m;
    *(size_t *)user += clft_sumsq_partials(p->n);
    return CLFT_OK;
}

clft_status clft_model_alloc_step(clft_model *m, int64_t B, int64_t T) {
    clft_context *ctx = m->ctx;
    m->sb->B = B;
    m->sb->T = T;
    m->sb->N = B * T;
    const int64_t N = m->sb->N;
    m->sb->chunk = clft_xent_chunk(&m->cfg, &m->tp, N);
    clft_status st = CLFT_OK;
#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        if (st == CLFT_OK) st = (x);                                                                                   \
    } while (0)
    m->sb->acts = clft_calloc((size_t)m->L, sizeof *m->sb->acts);
    if (!m->sb->acts) return CLFT_STATUS_HOST_OOM;
    TRY(clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)N * 4, &m->sb->ids));
    TRY(clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)N * 4, &m->sb->pos));
    TRY(clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)N * 4, &m->sb->seg));
    TRY(clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, (size_t)N * 4, &m->sb->targets));
    for (int64_t l = 0; l < m->L; l++) {
        TRY(act(ctx, &m->sb->acts[l].x, N * m->C));
        if (!m->tp.checkpointing) TRY(acts_alloc(m, &m->sb->acts[l]));
    }
    if (m->tp.checkpointing) TRY(acts_alloc(m, &m->sb->shared));
    TRY(act(ctx, &m->sb->xf, N * m->C));
    TRY(act(ctx, &m->sb->hf, N * m->C));
    TRY(act(ctx, &m->sb->rstdf, N));
    TRY(scr(ctx, &m->sb->logits, m->sb->chunk * m->V));
    TRY(scr(ctx, &m->sb->row_loss, N));
    TRY(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)N * 4, &m->sb->amax));
    TRY(scr(ctx, &m->sb->dx, N * m->C));
    TRY(scr(ctx, &m->sb->dxmid, N * m->C));
    TRY(scr(ctx, &m->sb->dh, N * m->C));
    TRY(scr(ctx, &m->sb->dtmp, N * m->C));
    TRY(scr(ctx, &m->sb->dq, N * m->QD));
    TRY(scr(ctx, &m->sb->dk, N * m->KD));
    TRY(scr(ctx, &m->sb->dv, N * m->KD));
    TRY(scr(ctx, &m->sb->datt, N * m->QD));
    TRY(scr(ctx, &m->sb->dg, N * m->F));
    TRY(scr(ctx, &m->sb->du, N * m->F));
    TRY(scr(ctx, &m->sb->da, N * m->F));
    TRY(scr(ctx, &m->sb->delta, B * m->H * T));
    clft_attn_dims ad = {B, T, m->H, m->KV, m->D, 0, 0, {NULL, 0}};
    TRY(scr(ctx, &m->sb->attn_ws, (int64_t)clft_attention_workspace_floats(&ad)));
    if (m->tp.method != CLFT_METHOD_FULL) {
        TRY(scr(ctx, &m->sb->ldu, N * m->tp.lora.r));
        if (m->tp.lora.dropout > 0.0f)
            TRY(scr(ctx, &m->sb->lxd, N * (m->F > m->QD ? (m->F > m->C ? m->F : m->C) : m->QD)));
    }
    if (m->tp.method == CLFT_METHOD_FULL) {
        TRY(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)N * 4, &m->sb->emb_rows));
        TRY(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)(N + 1) * 4, &m->sb->emb_offs));
        TRY(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, (size_t)N * 4, &m->sb->emb_toks));
    }
    size_t partials = 0;
    TRY(clft_model_each_param(m, count_partials, &partials));
    TRY(scr(ctx, &m->sb->sumsq_part, (int64_t)partials));
    m->sb->sumsq_count = partials;
    uint64_t g[CLFT_PLAN_GEMM_COUNT]; /* the GEMM layer's scratch, as planned: steps allocate nothing */
    clft_plan_gemm_scratch(&m->cfg, &m->tp, g);
    TRY(clft_gemm_reserve_scratch(ctx, (size_t)g[CLFT_PLAN_GEMM_PACK], (size_t)g[CLFT_PLAN_GEMM_TUNE],
                                  (size_t)g[CLFT_PLAN_GEMM_CONVERT], (size_t)g[CLFT_PLAN_GEMM_BLAS]));
#undef TRY
    m->sb->h_ids = clft_malloc((size_t)N * 4);
    m->sb->h_rows = clft_malloc((size_t)N * 4);
    m->sb->h_offs = clft_malloc((size_t)(N + 1) * 4);
    m->sb->h_toks = clft_malloc((size_t)N * 4);
    m->sb->h_targets = clft_malloc((size_t)N * 4);
    m->sb->h_row_loss = clft_malloc((size_t)N * 4);
    m->sb->h_pos = clft_malloc((size_t)N * 4);
    m->sb->h_amax = clft_malloc((size_t)N * 4);
    if (st == CLFT_OK && (!m->sb->h_ids || !m->sb->h_rows || !m->sb->h_offs || !m->sb->h_toks || !m->sb->h_targets ||
                          !m->sb->h_row_loss || !m->sb->h_pos || !m->sb->h_amax))
        st = CLFT_STATUS_HOST_OOM;
    if (st == CLFT_OK) {
        for (int64_t n = 0; n < N; n++)
            m->sb->h_pos[n] = (int32_t)(n % T);
        st = clft_buf_write(ctx, &m->sb->pos, 0, m->sb->h_pos, (size_t)N * 4);
        m->sb->pos_custom = 0;
    }
    if (st != CLFT_OK) {
        clft_model_step_free(m);
        return st;
    }
    m->sb->allocated = 1;
    return CLFT_OK;
}

clft_status clft_trainer_create(clft_model *m, clft_trainer **out) {
    if (!m || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_create: NULL argument");
    *out = NULL;
    if (m->sb) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_create: the model already has a trainer");
    clft_trainer *tr = clft_calloc(1, sizeof *tr);
    if (!tr) return CLFT_STATUS_HOST_OOM;
    tr->m = m;
    m->sb = &tr->sb;
    clft_status st = clft_model_alloc_step(m, m->tp.batch, m->tp.seq_len);
    if (st != CLFT_OK) {
        m->sb = NULL;
        free(tr);
        return st;
    }
    *out = tr;
    return CLFT_OK;
}

void clft_trainer_free(clft_trainer *tr) {
    if (!tr) return;
    clft_dist_free(tr->dist);
    if (tr->m && tr->m->sb == &tr->sb) {
        clft_model_step_free(tr->m);
        tr->m->sb = NULL;
    }
    free(tr);
}

static clft_status zero_grad(clft_model *m, clft_param *p, void *user) {
    (void)user;
    return clft_buf_fill_zero(m->ctx, &p->g);
}

static clft_status launch_sumsq(clft_model *m, clft_param *p, void *user) {
    size_t *off = user;
    CLFT_CHECK(clft_sumsq_launch(m->ctx, clft_dv_of(&p->g, 0), p->n, clft_dv_of(&m->sb->sumsq_part, *off)));
    *off += clft_sumsq_partials(p->n);
    return CLFT_OK;
}

static clft_status scale_grad(clft_model *m, clft_param *p, void *user) {
    return clft_scale(m->ctx, clft_dv_of(&p->g, 0), *(float *)user, p->n);
}

static clft_status adamw(clft_model *m, clft_param *p, void *user) {
    (void)user;
    clft_adamw_hparams hp = {m->tp.lr, m->tp.beta1, m->tp.beta2, m->tp.eps, m->tp.weight_decay};
    return clft_adamw_step(m->ctx, clft_dv_of(&p->w, 0), clft_dv_of(&p->m, 0), clft_dv_of(&p->v, 0),
                           clft_dv_of(&p->g, 0), p->n, &hp, m->step);
}

/* A batch has ids and labels and the planned shape (the step buffers are sized for it). */
static clft_status check_batch_rows(clft_trainer *tr, const clft_batch *b, int fewer) {
    if (!tr || !b || !b->ids || !b->labels)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "trainer step: NULL trainer, batch, ids or labels");
    /* a data-parallel rank's share may end in a micro-batch of fewer rows (see fewer_rows) */
    const int fewer_ok = fewer && tr->dist && b->batch >= 1 && b->batch < tr->m->sb->B;
    if ((b->batch != tr->m->sb->B && !fewer_ok) || b->seq_len != tr->m->sb->T)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "trainer step: a %d x %d batch for a trainer planned for %lld x %lld (pad shorter rows "
                          "with labels -100 and segment -1)",
                          b->batch, b->seq_len, (long long)tr->m->sb->B, (long long)tr->m->sb->T);
    return CLFT_OK;
}
static clft_status check_batch(clft_trainer *tr, const clft_batch *b) { return check_batch_rows(tr, b, 0); }

static clft_batch plain_batch(const clft_trainer *tr, const int32_t *ids, const int32_t *labels) {
    clft_batch b;
    memset(&b, 0, sizeof b);
    b.ids = (int32_t *)(uintptr_t)ids; /* the trainer only reads a batch */
    b.labels = (int32_t *)(uintptr_t)labels;
    b.batch = tr ? (int)tr->m->sb->B : 0;
    b.seq_len = tr ? (int)tr->m->sb->T : 0;
    return b;
}

clft_status clft_trainer_compute_grads_batch(clft_trainer *tr, const clft_batch *batch, double *loss, float *logits) {
    CLFT_CHECK(check_batch(tr, batch));
    clft_model *m = tr->m;
    CLFT_CHECK(clft_model_each_param(m, zero_grad, NULL));
    int64_t valid = 0;
    double l = 0.0;
    CLFT_CHECK(clft_model_fwd_bwd(m, batch, 1, &l, &valid, logits));
    if (loss) *loss = l;
    return clft_context_finish(m->ctx);
}

clft_status clft_trainer_compute_grads(clft_trainer *tr, const int32_t *ids, const int32_t *labels, double *loss,
                                       float *logits) {
    clft_batch b = plain_batch(tr, ids, labels);
    return clft_trainer_compute_grads_batch(tr, &b, loss, logits);
}

clft_status clft_trainer_step(clft_trainer *tr, const int32_t *ids, const int32_t *labels, clft_step_stats *stats) {
    clft_batch b = plain_batch(tr, ids, labels);
    return clft_trainer_step_batch(tr, &b, stats);
}

clft_status clft_trainer_step_batch(clft_trainer *tr, const clft_batch *batch, clft_step_stats *stats) {
    return clft_trainer_step_accum(tr, batch, 1, stats);
}

clft_status clft_trainer_set_lr(clft_trainer *tr, double lr) {
    if (!tr || !(lr >= 0) || !isfinite(lr))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_set_lr: learning rate %g", lr);
    tr->m->tp.lr = (float)lr;
    return CLFT_OK;
}

clft_status clft_trainer_eval_batch_acc(clft_trainer *tr, const clft_batch *batch, double *loss_sum, int64_t *tokens,
                                        int64_t *correct) {
    CLFT_CHECK(check_batch(tr, batch));
    clft_model *m = tr->m;
    double l = 0.0;
    int64_t valid = 0;
    m->eval_mode = 1;
    m->loss_denom = 0;
    m->want_correct = correct != NULL;
    clft_status st = clft_model_fwd_bwd(m, batch, 0, &l, &valid, NULL);
    m->eval_mode = 0;
    m->want_correct = 0;
    CLFT_CHECK(st);
    if (loss_sum) *loss_sum = m->last_loss_sum;
    if (tokens) *tokens = valid;
    if (correct) *correct = m->last_correct;
    return clft_context_finish(m->ctx);
}

clft_status clft_trainer_eval_batch(clft_trainer *tr, const clft_batch *batch, double *loss_sum, int64_t *tokens) {
    return clft_trainer_eval_batch_acc(tr, batch, loss_sum, tokens, NULL);
}

/* A micro-batch of fewer rows than planned runs on the leading rows of the step buffers (they are
 * sized for the planned batch): the step's shape is narrowed for its call, and the planned one,
 * returned here, put back after (planned_rows). */
typedef struct step_rows {
    int64_t B, N, chunk;
} step_rows;
static step_rows fewer_rows(clft_model *m, int64_t rows) {
    const step_rows planned = {m->sb->B, m->sb->N, m->sb->chunk};
    if (rows < planned.B) {
        m->sb->B = rows;
        m->sb->N = rows * m->sb->T;
        if (m->sb->chunk > m->sb->N) m->sb->chunk = m->sb->N;
    }
    return planned;
}
static void planned_rows(clft_model *m, step_rows planned) {
    m->sb->B = planned.B;
    m->sb->N = planned.N;
    m->sb->chunk = planned.chunk;
}

clft_status clft_trainer_set_comm(clft_trainer *tr, const clft_comm *comm, size_t bucket_bytes) {
    if (!tr) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_set_comm: NULL trainer");
    clft_dist_free(tr->dist);
    tr->dist = NULL;
    if (!comm || comm->size <= 1) return CLFT_OK;
    return clft_dist_create(tr->m, comm, bucket_bytes, &tr->dist);
}

clft_status clft_trainer_broadcast_state(clft_trainer *tr) {
    if (!tr) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_broadcast_state: NULL trainer");
    return tr->dist ? clft_dist_broadcast_state(tr->dist) : CLFT_OK;
}

/* The step order, in one place: 1. count the labelled targets of every micro-batch  2. zero the
 * gradients  3. forward + loss + backward of each micro-batch, adding into the gradients with the
 * loss normalized by the targets of the whole step (as transformers >= 4.46)  4. global gradient
 * norm  5. skip the update on a non-finite loss or norm  6. clip  7. AdamW. */
clft_status clft_trainer_step_accum(clft_trainer *tr, const clft_batch *micro, int n, clft_step_stats *stats) {
    if (!tr || (!micro && n > 0) || n < (tr && tr->dist ? 0 : 1))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "trainer step: NULL trainer or batches, or %d micro-batches",
                          n);
    clft_model *m = tr->m;
    if (m->tp.inference)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "trainer step: the model was created for inference (clft_train_params.inference): it has "
                          "no gradients to train");
    double t0 = clft_now_seconds();
    clft_step_stats s;
    memset(&s, 0, sizeof s);
    /* 1. */
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        CLFT_CHECK(check_batch_rows(tr, &micro[k], 1));
        int64_t v = 0;
        const step_rows planned = fewer_rows(m, micro[k].batch);
        const clft_status cs = clft_model_count_targets(m, &micro[k], &v);
        planned_rows(m, planned);
        CLFT_CHECK(cs);
        total += v;
    }
    s.local_tokens = total;
    if (tr->dist) { /* the targets of every rank's share: the loss is their mean */
        double g = (double)total;
        CLFT_CHECK(clft_dist_sum_f64(tr->dist, &g, 1));
        total = (int64_t)g;
    }
    /* 2. 3. */
    CLFT_CHECK(clft_model_each_param(m, zero_grad, NULL));
    double loss_sum = 0.0;
    clft_status st = CLFT_OK;
    m->loss_denom = total > 0 ? total : 1;
    for (int k = 0; k < n && st == CLFT_OK; k++) {
        double l = 0.0;
        int64_t v = 0;
        m->micro = k;
        const step_rows planned = fewer_rows(m, micro[k].batch);
        if (tr->dist && k == n - 1) clft_dist_overlap(tr->dist, 1); /* all-reduce layer by layer */
        st = clft_model_fwd_bwd(m, &micro[k], 1, &l, &v, NULL);
        if (tr->dist) clft_dist_overlap(tr->dist, 0);
        planned_rows(m, planned);
        loss_sum += m->last_loss_sum;
    }
    m->loss_denom = 0;
    m->micro = 0;
    CLFT_CHECK(st);
    double sq = 0.0;
    if (tr->dist) { /* 3b. the sums over the ranks: gradients (and from them the norm of 4.), loss */
        CLFT_CHECK(clft_context_finish(m->ctx));
        s.compute_seconds = clft_now_seconds() - t0;
        CLFT_CHECK(clft_dist_allreduce_grads(tr->dist, &sq, &s.comm_seconds));
        CLFT_CHECK(clft_dist_sum_f64(tr->dist, &loss_sum, 1));
    }
    s.tokens = total;
    s.loss = total > 0 ? loss_sum / (double)total : 0.0;
    /* 4. */
    size_t off = 0;
    if (!tr->dist) {
        CLFT_CHECK(clft_model_each_param(m, launch_sumsq, &off));
        CLFT_CHECK(clft_sumsq_read(m->ctx, clft_dv_of(&m->sb->sumsq_part, 0), m->sb->sumsq_count, &sq));
    }
    s.grad_norm = sqrt(sq);
    /* 5. no labelled token (nothing to learn, not a bad step) or a non-finite loss or norm */
    const int bad = total > 0 && (!isfinite(s.loss) || !isfinite(s.grad_norm));
    if (total == 0 || bad) {
        s.skipped = 1;
        s.step = m->step;
        s.seconds = clft_now_seconds() - t0;
        if (stats) *stats = s;
        if (!bad) {
            clft_log(CLFT_LOG_WARN, "step %lld skipped: no labelled token in its batches", (long long)m->step + 1);
            return CLFT_OK;
        }
        m->bad_steps++;
        clft_log(CLFT_LOG_WARN, "step %lld skipped: loss %g, grad norm %g (%d in a row)", (long long)m->step + 1,
                 s.loss, s.grad_norm, m->bad_steps);
        if (m->tp.max_bad_steps > 0 && m->bad_steps >= m->tp.max_bad_steps)
            return clft_error(CLFT_STATUS_NUMERICAL,
                              "%d consecutive steps had a non-finite loss or gradient (last loss %g, grad norm %g); "
                              "lower the learning rate or check the data",
                              m->bad_steps, s.loss, s.grad_norm);
        return CLFT_OK;
    }
    m->bad_steps = 0;
    /* 6. */
    if (m->tp.max_grad_norm > 0.0f) {
        double coef = (double)m->tp.max_grad_norm / (s.grad_norm + 1e-6);
        if (coef < 1.0) {
            float c = (float)coef;
            CLFT_CHECK(clft_model_each_param(m, scale_grad, &c));
        }
    }
    /* 7. */
    m->step++;
    CLFT_CHECK(clft_model_each_param(m, adamw, NULL));
    CLFT_CHECK(clft_context_finish(m->ctx));
    s.step = m->step;
    s.seconds = clft_now_seconds() - t0;
    if (stats) *stats = s;
    return CLFT_OK;
}

clft_model *clft_trainer_model_of(clft_trainer *tr) { return tr ? tr->m : NULL; }

clft_status clft_trainer_mem_stats(const clft_trainer *tr, clft_mem_stats *out) {
    if (!tr) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_mem_stats: NULL trainer");
    return clft_context_mem_stats(tr->m->ctx, out);
}
