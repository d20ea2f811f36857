/* bench_train_ops.c - the training ops besides GEMM, at model shapes: causal attention forward and
 * backward (the blocked path the model runs: GEMM layer + masked softmax kernels; SmolLM2-135M heads
 * 9/3 x 64 at T = 512, Llama-7B 32 x 128 at T = 512; --quick: 4/2 x 32 at T = 64) in GFLOP/s against
 * the fp32 FMA limit, the fused cross-entropy (softmax - one-hot in place; SmolLM2's vocabulary, 256
 * rows) and AdamW (16M parameters) in GB/s of bytes moved against the copy limit. Times are from
 * enqueue to completion (wall clock), min/median/max over the repetitions after a warm-up. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/ops.h"

typedef struct att_arg {
    clft_buf q, k, v, out, lse, dout, dq, dk, dv, delta, ws;
    clft_attn_dims d;
    int bwd;
} att_arg;

static clft_status run_att(clft_context *ctx, void *arg) {
    att_arg *a = arg;
    if (!a->bwd)
        return clft_attention_fwd_blocked(ctx, clft_dv_of(&a->out, 0), clft_dv_of(&a->lse, 0), clft_dv_of(&a->q, 0),
                                          clft_dv_of(&a->k, 0), clft_dv_of(&a->v, 0), &a->ws, &a->d);
    return clft_attention_bwd_blocked(ctx, clft_dv_of(&a->dq, 0), clft_dv_of(&a->dk, 0), clft_dv_of(&a->dv, 0),
                                      clft_dv_of(&a->dout, 0), clft_dv_of(&a->q, 0), clft_dv_of(&a->k, 0),
                                      clft_dv_of(&a->v, 0), clft_dv_of(&a->out, 0), clft_dv_of(&a->lse, 0),
                                      clft_dv_of(&a->delta, 0), &a->ws, &a->d);
}

/* Allocate and zero-fill each buffer of a list (sizes in floats). */
static clft_status alloc_zero(clft_context *ctx, clft_buf **bufs, const size_t *floats, int n) {
    for (int i = 0; i < n; i++) {
        CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, floats[i] * 4, bufs[i]));
        CLFT_CHECK(clft_buf_fill_zero(ctx, bufs[i]));
    }
    return CLFT_OK;
}

static void free_all(clft_context *ctx, clft_buf **bufs, int n) {
    for (int i = 0; i < n; i++)
        clft_buf_free(ctx, bufs[i]);
}

static clft_status attention(clft_context *ctx, const bench_opts *o, cJSON *out) {
    static const struct {
        const char *name;
        int64_t T, H, KV, D;
    } FULL[] = {{"smollm2", 512, 9, 3, 64}, {"llama7b", 512, 32, 32, 128}}, QUICK[] = {{"small", 64, 4, 2, 32}};
    const int n = o->quick ? 1 : 2;
    clft_status st = CLFT_OK;
    cJSON *arr = cJSON_AddArrayToObject(out, "attention");
    for (int s = 0; st == CLFT_OK && s < n; s++) {
        const int64_t T = o->quick ? QUICK[s].T : FULL[s].T, H = o->quick ? QUICK[s].H : FULL[s].H;
        const int64_t KV = o->quick ? QUICK[s].KV : FULL[s].KV, D = o->quick ? QUICK[s].D : FULL[s].D;
        const char *sname = o->quick ? QUICK[s].name : FULL[s].name;
        att_arg a;
        memset(&a, 0, sizeof a);
        a.d.B = 1;
        a.d.T = T;
        a.d.H = H;
        a.d.KV = KV;
        a.d.D = D;
        clft_buf *bufs[] = {&a.q, &a.k, &a.v, &a.out, &a.lse, &a.dout, &a.dq, &a.dk, &a.dv, &a.delta, &a.ws};
        const size_t qn = (size_t)(T * H * D), kn = (size_t)(T * KV * D), hn = (size_t)(H * T);
        const size_t sizes[] = {qn, kn, kn, qn, hn, qn, qn, kn, kn, hn, clft_attention_workspace_floats(&a.d)};
        st = alloc_zero(ctx, bufs, sizes, 11);
        /* causal: half of the T x T scores; fwd QK^T and PV (4 T^2 H D / 2), bwd 2.5x that */
        const double fwd_gflop = 2.0 * (double)T * (double)T * (double)H * (double)D / 1e9;
        for (int bwd = 0; st == CLFT_OK && bwd < 2; bwd++) {
            a.bwd = bwd;
            bench_stats secs;
            st = bench_time(ctx, 1, o->reps, 0, run_att, &a, &secs);
            if (st != CLFT_OK) break;
            const double gflop = bwd ? 2.5 * fwd_gflop : fwd_gflop;
            char name[96];
            snprintf(name, sizeof name, "attention %s %s T%lld H%lld/%lld D%lld", bwd ? "bwd" : "fwd", sname,
                     (long long)T, (long long)H, (long long)KV, (long long)D);
            bench_stats r = bench_rate(secs, gflop);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "name", name);
            cJSON_AddNumberToObject(j, "gflops", r.median);
            cJSON_AddItemToArray(arr, j);
            if (o->report) bench_entry_add(o->report, name, "attention", "GFLOP/s", r, "fp32_gflops", &secs);
        }
        free_all(ctx, bufs, 11);
    }
    return st;
}

typedef struct xent_arg {
    clft_buf logits, targets, loss;
    int64_t R, V;
} xent_arg;

static clft_status run_xent(clft_context *ctx, void *arg) {
    xent_arg *a = arg;
    return clft_xent_rows(ctx, clft_dv_of(&a->logits, 0), clft_dv_of(&a->targets, 0), clft_dv_of(&a->loss, 0), a->R,
                          a->V, 1.0f / (float)a->R, 1);
}

typedef struct adamw_arg {
    clft_buf p, m, v, g;
    int64_t n;
} adamw_arg;

static clft_status run_adamw(clft_context *ctx, void *arg) {
    adamw_arg *a = arg;
    const clft_adamw_hparams hp = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f};
    return clft_adamw_step(ctx, clft_dv_of(&a->p, 0), clft_dv_of(&a->m, 0), clft_dv_of(&a->v, 0), clft_dv_of(&a->g, 0),
                           a->n, &hp, 10);
}

clft_status bench_section_train_ops(clft_context *ctx, const bench_opts *o, const cJSON *root, cJSON *out) {
    (void)root;
    CLFT_CHECK(attention(ctx, o, out));
    /* fused cross-entropy: logits read and the gradient written in place */
    xent_arg x;
    memset(&x, 0, sizeof x);
    x.R = o->quick ? 32 : 256;
    x.V = o->quick ? 4096 : 49152;
    clft_buf *xb[] = {&x.logits, &x.targets, &x.loss};
    const size_t xs[] = {(size_t)(x.R * x.V), (size_t)x.R, (size_t)x.R};
    clft_status st = alloc_zero(ctx, xb, xs, 3); /* targets 0: a valid class */
    if (st == CLFT_OK) {
        bench_stats secs;
        st = bench_time(ctx, 1, o->reps, 0, run_xent, &x, &secs);
        char name[96];
        snprintf(name, sizeof name, "cross-entropy fused R%lld V%lld", (long long)x.R, (long long)x.V);
        const double gb = 2.0 * 4.0 * (double)x.R * (double)x.V / 1e9;
        if (st == CLFT_OK) cJSON_AddNumberToObject(out, "xent_gbs", bench_rate(secs, gb).median);
        if (st == CLFT_OK && o->report)
            bench_entry_add(o->report, name, "loss", "GB/s", bench_rate(secs, gb), "copy_gbs", &secs);
    }
    free_all(ctx, xb, 3);
    /* AdamW: p, m, v read and written, g read */
    adamw_arg a;
    memset(&a, 0, sizeof a);
    a.n = o->quick ? ((int64_t)1 << 20) : ((int64_t)16 << 20);
    clft_buf *ab[] = {&a.p, &a.m, &a.v, &a.g};
    const size_t as[] = {(size_t)a.n, (size_t)a.n, (size_t)a.n, (size_t)a.n};
    if (st == CLFT_OK) st = alloc_zero(ctx, ab, as, 4);
    if (st == CLFT_OK) {
        bench_stats secs;
        st = bench_time(ctx, 1, o->reps, 0, run_adamw, &a, &secs);
        char name[96];
        snprintf(name, sizeof name, "adamw n%lld", (long long)a.n);
        const double gb = 7.0 * 4.0 * (double)a.n / 1e9;
        if (st == CLFT_OK) cJSON_AddNumberToObject(out, "adamw_gbs", bench_rate(secs, gb).median);
        if (st == CLFT_OK && o->report)
            bench_entry_add(o->report, name, "optimizer", "GB/s", bench_rate(secs, gb), "copy_gbs", &secs);
    }
    free_all(ctx, ab, 4);
    return st;
}
