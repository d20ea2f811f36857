/* dist.c - data-parallel training: the trainable gradients of every rank summed through the
 * caller's clft_comm (clft.h; `clft train` implements it with MPI, the library links none).
 * Gradients travel in host float buckets: the parameters in clft_model_each_param order are cut
 * into runs of at most `bucket` floats (a tensor may span buckets); while bucket i is summed over
 * the network, bucket i+1 is copied from the device, and bucket i-1's sums go back to it. The global
 * gradient norm is taken here from the summed values in one order, so every rank clips by the same
 * factor whatever device it runs on. */
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"

typedef struct range {
    size_t p;    /* parameter index */
    int64_t off; /* first element */
    int64_t n;   /* elements */
} range;

struct clft_dist {
    clft_model *m;
    clft_comm c;
    size_t bucket; /* floats per bucket */
    float *stage[2];
    range *r[2]; /* the ranges held by each staging buffer */
    size_t nr[2];
    clft_param **p;
    size_t np;
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

void clft_dist_free(clft_dist *d) {
    if (!d) return;
    for (int i = 0; i < 2; i++) {
        free(d->stage[i]);
        free(d->r[i]);
    }
    free(d->p);
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
    const size_t np = d->np;
    d->np = 0;
    if (st == CLFT_OK) {
        d->p = calloc(np + 1, sizeof *d->p);
        for (int i = 0; i < 2; i++) {
            d->stage[i] = malloc(d->bucket * sizeof(float));
            d->r[i] = calloc(np + 1, sizeof(range)); /* a bucket holds at most one range per tensor */
        }
        if (!d->p || !d->stage[0] || !d->stage[1] || !d->r[0] || !d->r[1])
            st = clft_error(CLFT_STATUS_HOST_OOM, "clft_trainer_set_comm: out of host memory for %zu-float buckets",
                            d->bucket);
    }
    if (st == CLFT_OK) st = clft_model_each_param(m, list_param, d);
    if (st != CLFT_OK) {
        clft_dist_free(d);
        return st;
    }
    *out = d;
    return CLFT_OK;
}

clft_status clft_dist_sum_f64(clft_dist *d, double *x, size_t n) { return d->c.allreduce_f64(d->c.user, x, n); }

/* The next bucket from the cursor (parameter *pi, element *off) of buffer `which` of each tensor
 * (0 w, 1 g, 2 m, 3 v) into staging buffer s: *len floats (0 at the end). */
static clft_status fill(clft_dist *d, int s, int which, size_t *pi, int64_t *off, size_t *len) {
    *len = 0;
    d->nr[s] = 0;
    while (*pi < d->np && *len < d->bucket) {
        clft_param *p = d->p[*pi];
        const clft_buf *b = which == 0 ? &p->w : which == 1 ? &p->g : which == 2 ? &p->m : &p->v;
        int64_t n = p->n - *off;
        if (n > (int64_t)(d->bucket - *len)) n = (int64_t)(d->bucket - *len);
        if (n > 0 && (which == 1 || d->c.rank == 0)) /* grads: every rank; else the sender */
            CLFT_CHECK(clft_buf_read(d->m->ctx, b, (size_t)*off * 4, d->stage[s] + *len, (size_t)n * 4));
        d->r[s][d->nr[s]++] = (range){*pi, *off, n};
        *len += (size_t)n;
        *off += n;
        if (*off >= p->n) {
            (*pi)++;
            *off = 0;
        }
    }
    return CLFT_OK;
}

/* Staging buffer s back into buffer `which` of its tensors. */
static clft_status drain(clft_dist *d, int s, int which) {
    size_t at = 0;
    for (size_t i = 0; i < d->nr[s]; i++) {
        const range *r = &d->r[s][i];
        clft_param *p = d->p[r->p];
        clft_buf *b = which == 0 ? &p->w : which == 1 ? &p->g : which == 2 ? &p->m : &p->v;
        CLFT_CHECK(clft_buf_write(d->m->ctx, b, (size_t)r->off * 4, d->stage[s] + at, (size_t)r->n * 4));
        at += (size_t)r->n;
    }
    return CLFT_OK;
}

clft_status clft_dist_allreduce_grads(clft_dist *d, double *sumsq, double *seconds) {
    const double t0 = clft_now_seconds();
    CLFT_CHECK(clft_context_finish(d->m->ctx));
    double sq = 0.0;
    size_t pi = 0, len[2] = {0, 0};
    int64_t off = 0;
    void *req[2] = {NULL, NULL};
    int pending = -1; /* the staging buffer whose sum is in flight */
    for (int s = 0;; s ^= 1) {
        CLFT_CHECK(fill(d, s, 1, &pi, &off, &len[s]));
        if (len[s]) CLFT_CHECK(d->c.allreduce_start(d->c.user, d->stage[s], len[s], &req[s]));
        if (pending >= 0) {
            CLFT_CHECK(d->c.allreduce_wait(d->c.user, req[pending]));
            const float *x = d->stage[pending];
            for (size_t i = 0; i < len[pending]; i++)
                sq += (double)x[i] * (double)x[i];
            CLFT_CHECK(drain(d, pending, 1));
            pending = -1;
        }
        if (!len[s]) break;
        pending = s;
    }
    *sumsq = sq;
    if (seconds) *seconds = clft_now_seconds() - t0;
    return CLFT_OK;
}

clft_status clft_dist_broadcast_state(clft_dist *d) {
    clft_model *m = d->m;
    CLFT_CHECK(clft_context_finish(m->ctx));
    int64_t hdr[2] = {m->step, m->bad_steps};
    CLFT_CHECK(d->c.broadcast(d->c.user, hdr, sizeof hdr));
    m->step = hdr[0];
    m->bad_steps = (int)hdr[1];
    static const int which[3] = {0, 2, 3}; /* weights, first and second moments */
    for (int k = 0; k < 3; k++) {
        size_t pi = 0, len = 0;
        int64_t off = 0;
        for (;;) {
            CLFT_CHECK(fill(d, 0, which[k], &pi, &off, &len));
            if (!len) break;
            CLFT_CHECK(d->c.broadcast(d->c.user, d->stage[0], len * sizeof(float)));
            if (d->c.rank != 0) CLFT_CHECK(drain(d, 0, which[k]));
        }
    }
    return clft_context_finish(m->ctx);
}
