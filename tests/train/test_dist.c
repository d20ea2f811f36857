/* test_dist.c - data-parallel steps of the trainer (clft_trainer_set_comm, src/train/dist.c) without
 * MPI: two ranks as two threads, each with its own context, model and trainer, joined by an
 * in-process clft_comm (a barrier and shared pointers). Two steps of the ranks on the halves of a
 * batch of 4 rows = two steps of one trainer on the whole batch (loss, labelled tokens, grad norm and
 * weights to fp32 tolerance), for LoRA and full fine-tuning, with the batch split 2+2, 3+1 (micro-
 * batches of fewer rows than planned) and 4+0 (a rank without rows); rank 1, its trainable tensors
 * initialized differently, takes rank 0's state from clft_trainer_broadcast_state; a tiny bucket splits tensors
 * across buckets. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "train_tutil.h"

#define B TT_ROWS
#define T TT_SEQ
#define V TT_VOCAB

typedef struct shared {
    pthread_barrier_t bar;
    void *p[2];
} shared;

typedef struct rank_user {
    shared *s;
    int rank;
} rank_user;

/* sum of both ranks' arrays, the same on both (rank 0's + rank 1's) */
#define SUM_OF(type)                                                                                                   \
    do {                                                                                                               \
        rank_user *u = user;                                                                                           \
        u->s->p[u->rank] = x;                                                                                          \
        pthread_barrier_wait(&u->s->bar);                                                                              \
        type *tmp = malloc(n * sizeof(type) + 1);                                                                      \
        for (size_t i = 0; i < n; i++)                                                                                 \
            tmp[i] = ((type *)u->s->p[0])[i] + ((type *)u->s->p[1])[i];                                                \
        pthread_barrier_wait(&u->s->bar);                                                                              \
        memcpy(x, tmp, n * sizeof(type));                                                                              \
        free(tmp);                                                                                                     \
        pthread_barrier_wait(&u->s->bar);                                                                              \
    } while (0)

static clft_status sum_f32(void *user, float *x, size_t n, void **req) {
    SUM_OF(float);
    *req = NULL;
    return CLFT_OK;
}
static clft_status wait_none(void *user, void *req) {
    (void)user, (void)req;
    return CLFT_OK;
}
static clft_status sum_f64(void *user, double *x, size_t n) {
    SUM_OF(double);
    return CLFT_OK;
}
static clft_status bcast(void *user, void *x, size_t bytes) {
    rank_user *u = user;
    if (u->rank == 0) u->s->p[0] = x;
    pthread_barrier_wait(&u->s->bar);
    if (u->rank != 0) memcpy(x, u->s->p[0], bytes);
    pthread_barrier_wait(&u->s->bar);
    return CLFT_OK;
}

/* clipping on (every rank must clip by the same factor); LoRA: one frozen base, adapters from seed */
static int make(clft_context *ctx, clft_method method, int batch, uint64_t seed, clft_model **m, clft_trainer **tr) {
    return tt_make(ctx, CLFT_ARCH_LLAMA, method, batch, method == CLFT_METHOD_FULL ? seed : 9, (int)seed, 0.5f, m, tr);
}

typedef struct job {
    clft_trainer *tr;
    clft_batch micro[B];
    int n;
    clft_step_stats s[2];
    clft_status st;
    int broadcast;
} job;

static void *rank_main(void *arg) {
    job *j = arg;
    if (j->broadcast) j->st = clft_trainer_broadcast_state(j->tr);
    for (int k = 0; k < 2 && j->st == CLFT_OK; k++)
        j->st = clft_trainer_step_accum(j->tr, j->micro, j->n, &j->s[k]);
    return NULL;
}

/* the rows [r0, r0 + rows) of the batch as micro-batches of at most `planned` rows */
static int share(clft_batch *out, int32_t *ids, int32_t *labels, int r0, int rows, int planned) {
    int n = 0;
    for (int at = 0; at < rows; at += planned) {
        memset(&out[n], 0, sizeof out[n]);
        out[n].ids = ids + (r0 + at) * T;
        out[n].labels = labels + (r0 + at) * T;
        out[n].batch = rows - at < planned ? rows - at : planned;
        out[n].seq_len = T;
        n++;
    }
    return n;
}

static void run(clft_context *c0, clft_context *c1, clft_method method, int rows0, size_t bucket) {
    int32_t ids[B * T], labels[B * T];
    tt_fill(ids, labels);
    clft_model *m4, *ma, *mb;
    clft_trainer *t4, *ta, *tb;
    const int planned = 2;
    if (!make(c0, method, B, 9, &m4, &t4) || !make(c0, method, planned, 9, &ma, &ta) ||
        !make(c1, method, planned, 10, &mb, &tb))
        return;
    clft_step_stats s4[2];
    for (int k = 0; k < 2; k++)
        TU_OK(clft_trainer_step(t4, ids, labels, &s4[k]));
    shared sh;
    pthread_barrier_init(&sh.bar, NULL, 2);
    rank_user ua = {&sh, 0}, ub = {&sh, 1};
    clft_comm ca = {0, 2, &ua, sum_f32, wait_none, sum_f64, bcast}, cb = ca;
    cb.rank = 1;
    cb.user = &ub;
    TU_OK(clft_trainer_set_comm(ta, &ca, bucket));
    TU_OK(clft_trainer_set_comm(tb, &cb, bucket));
    job ja, jb;
    memset(&ja, 0, sizeof ja);
    memset(&jb, 0, sizeof jb);
    ja.tr = ta, jb.tr = tb;
    ja.broadcast = jb.broadcast = 1;
    ja.n = share(ja.micro, ids, labels, 0, rows0, planned);
    jb.n = share(jb.micro, ids, labels, rows0, B - rows0, planned);
    pthread_t th;
    pthread_create(&th, NULL, rank_main, &jb);
    rank_main(&ja);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&sh.bar);
    TU_OK(ja.st);
    TU_OK(jb.st);
    const char *name = clft_method_name(method);
    for (int k = 0; k < 2 && ja.st == CLFT_OK && jb.st == CLFT_OK; k++) {
        TU_CHECK(ja.s[k].tokens == s4[k].tokens && jb.s[k].tokens == s4[k].tokens, "%s %d+%d step %d: tokens %lld",
                 name, rows0, B - rows0, k + 1, (long long)ja.s[k].tokens);
        TU_CHECK(ja.s[k].local_tokens + jb.s[k].local_tokens == s4[k].tokens, "local tokens add up");
        TU_CHECK(fabs(ja.s[k].loss - s4[k].loss) <= 1e-5 * s4[k].loss && ja.s[k].loss == jb.s[k].loss,
                 "%s %d+%d step %d: loss %.9g / %.9g, one trainer %.9g", name, rows0, B - rows0, k + 1, ja.s[k].loss,
                 jb.s[k].loss, s4[k].loss);
        TU_CHECK(fabs(ja.s[k].grad_norm - s4[k].grad_norm) <= 1e-5 * s4[k].grad_norm &&
                     ja.s[k].grad_norm == jb.s[k].grad_norm,
                 "%s step %d: grad norm %.9g / %.9g vs %.9g", name, k + 1, ja.s[k].grad_norm, jb.s[k].grad_norm,
                 s4[k].grad_norm);
        TU_CHECK(ja.s[k].step == k + 1 && jb.s[k].step == k + 1, "optimizer steps %lld %lld", (long long)ja.s[k].step,
                 (long long)jb.s[k].step);
    }
    float a[40 * 24], b[40 * 24], c[40 * 24];
    if (method == CLFT_METHOD_FULL) {
        TU_OK(clft_model_get_weight(m4, "model.layers.1.mlp.up_proj.weight", a, 40 * 24));
        TU_OK(clft_model_get_weight(ma, "model.layers.1.mlp.up_proj.weight", b, 40 * 24));
        TU_OK(clft_model_get_weight(mb, "model.layers.1.mlp.up_proj.weight", c, 40 * 24));
        tu_close("full: rank 0's up_proj", b, a, 40 * 24, 1e-6, 1e-5, 1e-12);
        tu_close("full: rank 1's up_proj", c, a, 40 * 24, 1e-6, 1e-5, 1e-12);
    } else {
        TU_OK(clft_model_lora_get(m4, 0, CLFT_LORA_GATE, a, NULL));
        TU_OK(clft_model_lora_get(ma, 0, CLFT_LORA_GATE, b, NULL));
        TU_OK(clft_model_lora_get(mb, 0, CLFT_LORA_GATE, c, NULL));
        tu_close("lora: rank 0's gate A", b, a, 4 * 24, 1e-6, 1e-5, 1e-12);
        tu_close("lora: rank 1's gate A", c, a, 4 * 24, 1e-6, 1e-5, 1e-12);
    }
    clft_trainer_free(t4), clft_trainer_free(ta), clft_trainer_free(tb);
    clft_model_free(m4), clft_model_free(ma), clft_model_free(mb);
}

int main(void) {
    tu_init_seed();
    clft_context *c0 = tu_context(), *c1 = tu_context();
    if (!c0 || !c1) return tu_finish("test_dist");
    run(c0, c1, CLFT_METHOD_LORA, 2, 0);
    run(c0, c1, CLFT_METHOD_LORA, 3, 4096);
    run(c0, c1, CLFT_METHOD_FULL, 2, 4096); /* 1024-float buckets: tensors span buckets */
    run(c0, c1, CLFT_METHOD_FULL, 4, 0);
    run(c0, c1, CLFT_METHOD_QLORA, 1, 0);
    /* bad arguments */
    clft_comm bad = {0, 2, NULL, NULL, NULL, NULL, NULL};
    TU_CHECK(clft_trainer_set_comm(NULL, &bad, 0) == CLFT_STATUS_INVALID_ARGUMENT, "NULL trainer refused");
    clft_context_free(c0);
    clft_context_free(c1);
    return tu_finish("test_dist");
}
