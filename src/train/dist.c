/* dist.c - data-parallel training: the trainable gradients of every rank summed through the
 * caller's clft_comm (clft.h; `clft train` implements it with MPI, the library links none).
 * Gradients travel in host float buckets of at most `bucket` floats, one group of buckets per
 * layer (its tensors; a tensor may span buckets) and one for the rest (embeddings, final norm,
 * head). During the backward pass of a step's last micro-batch the model calls back when a layer's
 * backward is enqueued (m->layer_grads_done): that layer's gradients are copied to the host and
 * their all-reduce starts while the device runs the layers below. A ring of STAGES staging buffers
 * bounds the host memory: when it is full the oldest sum is waited for and written back. Every
 * rank starts the groups in one order (layers L-1 .. 0, then the rest; a rank without rows in a
 * step starts them all after its empty backward), which is what matches the collectives. The global
 * gradient norm is taken here from the summed values in that same order, so every rank clips by the
 * same factor whatever device it runs on. */
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"

#define STAGES 4 /* staging buffers in flight */

typedef struct range {
    size_t p;    /* parameter index */
    int64_t off; /* first element */
    int64_t n;   /* elements */
} range;

typedef struct stage {
    float *x;
    range *r; /* the ranges it holds */
    size_t nr, len;
    void *req;
} stage;

struct clft_dist {
    clft_model *m;
    clft_comm c;
    size_t bucket;    /* floats per bucket */
    stage st[STAGES]; /* a ring: st[(head + i) % STAGES], i < inflight, are in flight, oldest first */
    int head, inflight;
    clft_param **p;
    size_t np;
    size_t *ord;   /* parameter indices grouped: layer L-1, ..., layer 0, then the rest */
    size_t *group; /* group g holds ord[group[g] .. group[g+1]); g = L-1-l for layer l, L for the rest */
    char *sent;    /* group started in this step */
    double sumsq;  /* of the summed gradients waited for so far in this step */
};

static clft_status count_param(clft_model *m, clft_param *p, void *user) {
    (void)m, (void)p;
    ((clft_dist *)user)->np++;
    return CLFT_OK;
}
static clft_status list_param(clft_model *m, clft_param *p, void *user) {
    (void)m;
    clft_dist *d = user;
    d->p[d->np++] = p;
    return CLFT_OK;
}

/* The layer a parameter belongs to (its struct lies inside m->layers[l]), -1 for the others. */
static int64_t layer_of(const clft_model *m, const clft_param *p) {
    const char *a = (const char *)p, *lo = (const char *)m->layers, *hi = (const char *)(m->layers + m->L);
    return a >= lo && a < hi ? (int64_t)((a - lo) / (ptrdiff_t)sizeof *m->layers) : -1;
}

void clft_dist_free(clft_dist *d) {
    if (!d) return;
    for (int i = 0; i < STAGES; i++) {
        free(d->st[i].x);
        free(d->st[i].r);
    }
    free(d->p), free(d->ord), free(d->group), free(d->sent);
    free(d);
}

clft_status clft_dist_create(clft_model *m, const clft_comm *comm, size_t bucket_bytes, clft_dist **out) {
    *out = NULL;
    if (!comm->allreduce_start || !comm->allreduce_wait || !comm->allreduce_f64 || !comm->broadcast || comm->size < 1 ||
        comm->rank < 0 || comm->rank >= comm->size)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_set_comm: rank %d of %d, or a NULL callback",
                          comm->rank, comm->size);
    clft_dist *d = calloc(1, sizeof *d);
    if (!d) return clft_error(CLFT_STATUS_HOST_OOM, "clft_trainer_set_comm: out of host memory");
    d->m = m;
    d->c = *comm;
    d->bucket = (bucket_bytes ? bucket_bytes : (size_t)16 << 20) / sizeof(float);
    if (d->bucket < 1024) d->bucket = 1024;
    clft_status st = clft_model_each_param(m, count_param, d);
    const size_t np = d->np, ng = (size_t)m->L + 1;
    d->np = 0;
    if (st == CLFT_OK) {
        d->p = calloc(np + 1, sizeof *d->p);
        d->ord = calloc(np + 1, sizeof *d->ord);
        d->group = calloc(ng + 1, sizeof *d->group);
        d->sent = calloc(ng, 1);
        int ok = d->p && d->ord && d->group && d->sent;
        for (int i = 0; i < STAGES; i++) {
            d->st[i].x = malloc(d->bucket * sizeof(float));
            d->st[i].r = calloc(np + 1, sizeof(range)); /* a bucket holds at most one range per tensor */
            ok = ok && d->st[i].x && d->st[i].r;
        }
        if (!ok)
            st = clft_error(CLFT_STATUS_HOST_OOM, "clft_trainer_set_comm: out of host memory for %zu-float buckets",
                            d->bucket);
    }
    if (st == CLFT_OK) st = clft_model_each_param(m, list_param, d);
    if (st != CLFT_OK) {
        clft_dist_free(d);
        return st;
    }
    size_t k = 0; /* ord: the groups in the order their gradients become final in the backward */
    for (size_t g = 0; g < ng; g++) {
        const int64_t want = g + 1 < ng ? m->L - 1 - (int64_t)g : -1;
        d->group[g] = k;
        for (size_t i = 0; i < np; i++)
            if (layer_of(m, d->p[i]) == want) d->ord[k++] = i;
    }
    d->group[ng] = k;
    *out = d;
    return CLFT_OK;
}

clft_status clft_dist_sum_f64(clft_dist *d, double *x, size_t n) { return d->c.allreduce_f64(d->c.user, x, n); }

static clft_buf *buf_of(clft_param *p, int which) {
    return which == 0 ? &p->w : which == 1 ? &p->g : which == 2 ? &p->m : &p->v;
}

/* The next bucket of ord[*oi .. end) from element *off of buffer `which` of each tensor (0 w, 1 g,
 * 2 m, 3 v) into s; read from the device on every rank for gradients, else on rank 0 only (the
 * sender of a broadcast). */
static clft_status fill(clft_dist *d, stage *s, int which, size_t *oi, size_t end, int64_t *off) {
    s->len = 0;
    s->nr = 0;
    while (*oi < end && s->len < d->bucket) {
        clft_param *p = d->p[d->ord[*oi]];
        int64_t n = p->n - *off;
        if (n > (int64_t)(d->bucket - s->len)) n = (int64_t)(d->bucket - s->len);
        if (n > 0 && (which == 1 || d->c.rank == 0))
            CLFT_CHECK(clft_buf_read(d->m->ctx, buf_of(p, which), (size_t)*off * 4, s->x + s->len, (size_t)n * 4));
        s->r[s->nr++] = (range){d->ord[*oi], *off, n};
        s->len += (size_t)n;
        *off += n;
        if (*off >= p->n) {
            (*oi)++;
            *off = 0;
        }
    }
    return CLFT_OK;
}

/* Staging buffer s back into buffer `which` of its tensors. */
static clft_status drain(clft_dist *d, const stage *s, int which) {
    size_t at = 0;
    for (size_t i = 0; i < s->nr; i++) {
        const range *r = &s->r[i];
        CLFT_CHECK(
            clft_buf_write(d->m->ctx, buf_of(d->p[r->p], which), (size_t)r->off * 4, s->x + at, (size_t)r->n * 4));
        at += (size_t)r->n;
    }
    return CLFT_OK;
}

/* Wait for the oldest sum in flight, add its squares, write it back, free its buffer. */
static clft_status finish_oldest(clft_dist *d) {
    stage *s = &d->st[d->head];
    CLFT_CHECK(d->c.allreduce_wait(d->c.user, s->req));
    for (size_t i = 0; i < s->len; i++)
        d->sumsq += (double)s->x[i] * (double)s->x[i];
    CLFT_CHECK(drain(d, s, 1));
    d->head = (d->head + 1) % STAGES;
    d->inflight--;
    return CLFT_OK;
}

/* Start the sums of group g's gradients, bucket by bucket. */
static clft_status send_group(clft_dist *d, size_t g) {
    size_t oi = d->group[g];
    int64_t off = 0;
    d->sent[g] = 1;
    while (oi < d->group[g + 1]) {
        if (d->inflight == STAGES) CLFT_CHECK(finish_oldest(d));
        stage *s = &d->st[(d->head + d->inflight) % STAGES]; /* the ring's next free buffer */
        CLFT_CHECK(fill(d, s, 1, &oi, d->group[g + 1], &off));
        if (!s->len) continue; /* tensors of no elements */
        CLFT_CHECK(d->c.allreduce_start(d->c.user, s->x, s->len, &s->req));
        d->inflight++;
    }
    return CLFT_OK;
}

/* m->layer_grads_done: layer l's backward is enqueued; its gradients are final once it has run. */
static clft_status layer_done(clft_model *m, int64_t l, void *user) {
    clft_dist *d = user;
    return send_group(d, (size_t)(m->L - 1 - l));
}

void clft_dist_overlap(clft_dist *d, int on) {
    d->m->layer_grads_done = on ? layer_done : NULL;
    d->m->layer_grads_user = on ? d : NULL;
}

clft_status clft_dist_allreduce_grads(clft_dist *d, double *sumsq, double *seconds) {
    const double t0 = clft_now_seconds();
    const size_t ng = (size_t)d->m->L + 1;
    clft_status st = CLFT_OK;
    for (size_t g = 0; g < ng && st == CLFT_OK; g++) /* the groups the backward did not start, in order */
        if (!d->sent[g]) st = send_group(d, g);
    while (st == CLFT_OK && d->inflight > 0)
        st = finish_oldest(d);
    *sumsq = d->sumsq;
    d->sumsq = 0;
    d->inflight = 0;
    memset(d->sent, 0, ng);
    if (seconds) *seconds = clft_now_seconds() - t0;
    return st;
}

clft_status clft_dist_broadcast_state(clft_dist *d) {
    clft_model *m = d->m;
    CLFT_CHECK(clft_context_finish(m->ctx));
    int64_t hdr[2] = {m->step, m->bad_steps};
    CLFT_CHECK(d->c.broadcast(d->c.user, hdr, sizeof hdr));
    m->step = hdr[0];
    m->bad_steps = (int)hdr[1];
    static const int which[3] = {0, 2, 3}; /* weights, first and second moments */
    stage *s = &d->st[0];
    for (int k = 0; k < 3; k++) {
        size_t oi = 0;
        int64_t off = 0;
        for (;;) {
            CLFT_CHECK(fill(d, s, which[k], &oi, d->np, &off));
            if (!s->len) break;
            CLFT_CHECK(d->c.broadcast(d->c.user, s->x, s->len * sizeof(float)));
            if (d->c.rank != 0) CLFT_CHECK(drain(d, s, which[k]));
        }
    }
    return clft_context_finish(m->ctx);
}
