/* selfcheck_train.c - self-check of the training-op kernels (norm, elementwise, rope, embed,
 * attention, loss, optim) and of the inference ones (attention against a KV cache, row argmax) on
 * small seeded inputs against their src/ref twins. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/selfcheck.h"
#include "ref/ops_ref.h"

/* Every device buffer of the check, one node each: a list grows with the checks (no fixed count to
 * overflow) and the clft_buf handed out stays where it is while more are added. */
typedef struct sc_buf {
    clft_buf b;
    struct sc_buf *next;
} sc_buf;

typedef struct sc {
    clft_context *ctx;
    clft_selfcheck_result *r;
    sc_buf *bufs; /* newest first; freed by clft_selfcheck_train_ops */
    uint64_t seed;
} sc;

static float rndf(sc *s) {
    s->seed = s->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((s->seed >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

/* device buffer with n floats from host (random when x is NULL and fill set) */
static clft_status upload(sc *s, const void *x, size_t bytes, clft_buf **out) {
    sc_buf *node = clft_calloc(1, sizeof *node);
    if (!node) return CLFT_STATUS_HOST_OOM; /* clft_calloc recorded the error */
    node->next = s->bufs;
    s->bufs = node;
    clft_buf *b = &node->b;
    CLFT_CHECK(clft_buf_alloc(s->ctx, CLFT_MEM_SCRATCH, bytes, b));
    if (x)
        CLFT_CHECK(clft_buf_write(s->ctx, b, 0, x, bytes));
    else
        CLFT_CHECK(clft_buf_fill_zero(s->ctx, b));
    *out = b;
    return CLFT_OK;
}

static clft_status compare(sc *s, const char *what, const clft_buf *b, const float *ref, size_t n, float atol,
                           float rtol) {
    float *got = clft_malloc(n * sizeof(float));
    if (!got) return CLFT_STATUS_HOST_OOM;
    clft_status st = clft_buf_read(s->ctx, b, 0, got, n * sizeof(float));
    if (st == CLFT_OK) {
        s->r->checks++;
        if (clft_compare_f32(what, got, ref, n, atol, rtol, NULL)) s->r->failures++;
    }
    free(got);
    return st;
}

static clft_status run(sc *s) {
    enum { N = 8, C = 10, H = 3, KV = 1, D = 4, B = 2, T = 3, V = 11 };
    float x[N * C], w[C], out[N * C], rstd[N], g[N * C], dx[N * C], dw[C];
    for (int i = 0; i < N * C; i++)
        x[i] = rndf(s), g[i] = rndf(s);
    for (int i = 0; i < C; i++)
        w[i] = 1.0f + 0.5f * rndf(s), dw[i] = 0.0f;
    clft_buf *bx, *bw, *bo, *br, *bg, *bdx, *bdw;
    CLFT_CHECK(upload(s, x, sizeof x, &bx));
    CLFT_CHECK(upload(s, w, sizeof w, &bw));
    CLFT_CHECK(upload(s, NULL, sizeof out, &bo));
    CLFT_CHECK(upload(s, NULL, sizeof rstd, &br));
    CLFT_CHECK(upload(s, g, sizeof g, &bg));
    CLFT_CHECK(upload(s, NULL, sizeof dx, &bdx));
    CLFT_CHECK(upload(s, NULL, sizeof dw, &bdw));
    /* RMSNorm */
    clft_ref_rmsnorm_fwd_f32(out, rstd, x, w, N, C, 1e-5);
    clft_ref_rmsnorm_bwd_f32(dx, dw, g, x, w, rstd, N, C);
    CLFT_CHECK(clft_rmsnorm_fwd(s->ctx, clft_dv_of(bo, 0), clft_dv_of(br, 0), clft_dv_of(bx, 0), clft_dv_of(bw, 0), N,
                                C, 1e-5f));
    CLFT_CHECK(clft_rmsnorm_bwd(s->ctx, clft_dv_of(bdx, 0), clft_dv_of(bdw, 0), clft_dv_of(bg, 0), clft_dv_of(bx, 0),
                                clft_dv_of(bw, 0), clft_dv_of(br, 0), N, C));
    CLFT_CHECK(compare(s, "rmsnorm_fwd", bo, out, N * C, 1e-5f, 1e-4f));
    CLFT_CHECK(compare(s, "rmsnorm_bwd dx", bdx, dx, N * C, 1e-5f, 1e-4f));
    CLFT_CHECK(compare(s, "rmsnorm_bwd dw", bdw, dw, C, 1e-5f, 1e-4f));
    /* SwiGLU (x as gate, g as up) */
    clft_ref_swiglu_fwd_f32(out, x, g, N * C);
    CLFT_CHECK(clft_swiglu_fwd(s->ctx, clft_dv_of(bo, 0), clft_dv_of(bx, 0), clft_dv_of(bg, 0), N * C));
    CLFT_CHECK(compare(s, "swiglu_fwd", bo, out, N * C, 1e-6f, 1e-5f));
    /* RoPE on (N, 2 heads... ) : x as (N, C/D=2.5) -> use (N, 2, 4) = 48 values */
    float inv[D / 2];
    int32_t pos[N];
    for (int i = 0; i < N; i++)
        pos[i] = i * 5;
    clft_ref_rope_params rp = clft_ref_rope_default_params();
    CLFT_CHECK(clft_ref_rope_inv_freq(inv, D, &rp));
    clft_buf *bi, *bp;
    CLFT_CHECK(upload(s, inv, sizeof inv, &bi));
    CLFT_CHECK(upload(s, pos, sizeof pos, &bp));
    clft_ref_rope_fwd_f32(out, x, pos, inv, N, 2, D);
    CLFT_CHECK(
        clft_rope_fwd(s->ctx, clft_dv_of(bo, 0), clft_dv_of(bx, 0), clft_dv_of(bp, 0), clft_dv_of(bi, 0), N, 2, D));
    CLFT_CHECK(compare(s, "rope_fwd", bo, out, N * 2 * D, 1e-5f, 1e-4f));
    /* attention: q (B,T,H,D) = 24 values from x, k/v (B,T,KV,D) = 8 values from g */
    float att[B * T * H * D], lse[B * H * T];
    clft_ref_attn_dims rd = {B, T, H, KV, D, 2, NULL};
    CLFT_CHECK(clft_ref_attention_fwd_f32(att, lse, x, g, g + 8, &rd));
    clft_buf *bgv, *bl;
    CLFT_CHECK(upload(s, g + 8, sizeof(float) * B * T * KV * D, &bgv));
    CLFT_CHECK(upload(s, NULL, sizeof lse, &bl));
    clft_attn_dims ad = {B, T, H, KV, D, 2, 0, {NULL, 0}};
    CLFT_CHECK(clft_attention_fwd(s->ctx, clft_dv_of(bo, 0), clft_dv_of(bl, 0), clft_dv_of(bx, 0), clft_dv_of(bg, 0),
                                  clft_dv_of(bgv, 0), &ad));
    CLFT_CHECK(compare(s, "attention_fwd", bo, att, B * T * H * D, 1e-5f, 1e-4f));
    CLFT_CHECK(compare(s, "attention_fwd lse", bl, lse, B * H * T, 1e-5f, 1e-5f));
    /* the same with segment ids: row 0 packs two examples, row 1 ends in padding */
    const int32_t sg[B * T] = {0, 1, 1, 4, 4, -1};
    clft_buf *bsg;
    CLFT_CHECK(upload(s, sg, sizeof sg, &bsg));
    rd.seg = sg;
    CLFT_CHECK(clft_ref_attention_fwd_f32(att, lse, x, g, g + 8, &rd));
    ad.seg = clft_dv_of(bsg, 0);
    CLFT_CHECK(clft_attention_fwd(s->ctx, clft_dv_of(bo, 0), clft_dv_of(bl, 0), clft_dv_of(bx, 0), clft_dv_of(bg, 0),
                                  clft_dv_of(bgv, 0), &ad));
    CLFT_CHECK(compare(s, "attention_fwd segments", bo, att, B * T * H * D, 1e-5f, 1e-4f));
    CLFT_CHECK(compare(s, "attention_fwd segments lse", bl, lse, B * H * T, 1e-5f, 1e-5f));
    /* attention against a KV cache: q (n,H,D) from x, caches (past+n,KV,D) from g; decoding split in
     * chunks (forced: the automatic choice keeps so few keys in one pass), then a windowed prefill */
    {
        enum { P = 6, NQ = 3 };
        float kvo[NQ * H * D];
        clft_buf *bws, *bkv;
        clft_attn_kv_dims kd = {1, P, H, KV, D, 0};
        clft_ref_attn_kv_dims rk = {1, P, H, KV, D, 0};
        CLFT_CHECK(upload(s, g + 40, sizeof(float) * (P + 1) * KV * D, &bkv));
        CLFT_CHECK(upload(s, NULL, clft_attention_kv_workspace_floats(&kd) * sizeof(float), &bws));
        CLFT_CHECK(clft_ref_attention_kv_fwd_f32(kvo, x, g, g + 40, &rk));
        CLFT_CHECK(clft_attention_kv_fwd_forced(s->ctx, clft_dv_of(bo, 0), clft_dv_of(bx, 0), clft_dv_of(bg, 0),
                                                clft_dv_of(bkv, 0), bws, &kd, 0, 3));
        CLFT_CHECK(compare(s, "attention_kv_fwd decode", bo, kvo, H * D, 1e-5f, 1e-4f));
        kd.n = rk.n = NQ, kd.past = rk.past = P - NQ + 1, kd.window = rk.window = 2;
        CLFT_CHECK(clft_ref_attention_kv_fwd_f32(kvo, x, g, g + 40, &rk));
        CLFT_CHECK(clft_attention_kv_fwd(s->ctx, clft_dv_of(bo, 0), clft_dv_of(bx, 0), clft_dv_of(bg, 0),
                                         clft_dv_of(bkv, 0), bws, &kd));
        CLFT_CHECK(compare(s, "attention_kv_fwd prefill", bo, kvo, NQ * H * D, 1e-5f, 1e-4f));
    }
    /* cross-entropy rows: logits (N, V) from x/g, targets with one ignored */
    float logits[N * V], dl[N * V], rl[N];
    int32_t tg[N] = {1, -100, 10, 0, 5, 7, -100, 3};
    for (int i = 0; i < N * V; i++)
        logits[i] = 2.0f * rndf(s);
    double sum = 0;
    int valid = 0;
    for (int n = 0; n < N; n++) {
        double mx = -1e30, se = 0;
        for (int j = 0; j < V; j++)
            mx = fmax(mx, logits[n * V + j]);
        for (int j = 0; j < V; j++)
            se += exp(logits[n * V + j] - mx);
        double l = mx + log(se);
        rl[n] = tg[n] >= 0 ? (float)(l - logits[n * V + tg[n]]) : 0.0f;
        for (int j = 0; j < V; j++)
            dl[n * V + j] = tg[n] >= 0 ? (float)((exp(logits[n * V + j] - l) - (j == tg[n])) * 0.2) : 0.0f;
        sum += rl[n];
        valid += tg[n] >= 0;
    }
    (void)sum;
    (void)valid;
    clft_buf *blg, *btg, *brl;
    CLFT_CHECK(upload(s, logits, sizeof logits, &blg));
    CLFT_CHECK(upload(s, tg, sizeof tg, &btg));
    CLFT_CHECK(upload(s, NULL, sizeof rl, &brl));
    CLFT_CHECK(clft_xent_rows(s->ctx, clft_dv_of(blg, 0), clft_dv_of(btg, 0), clft_dv_of(brl, 0), N, V, 0.2f, 1));
    CLFT_CHECK(compare(s, "xent_rows loss", brl, rl, N, 1e-5f, 1e-5f));
    CLFT_CHECK(compare(s, "xent_rows grad", blg, dl, N * V, 1e-6f, 1e-4f));
    /* argmax of the same logits, with a tie of the max in row 1 and NaN in row 2 (the first wins) */
    logits[1 * V + 9] = logits[1 * V + 4] = 5.0f;
    logits[2 * V + 7] = logits[2 * V + 3] = NAN;
    int32_t am[N], am_ref[N];
    clft_buf *bam;
    CLFT_CHECK(clft_ref_argmax_rows(am_ref, logits, N, V));
    CLFT_CHECK(clft_buf_write(s->ctx, blg, 0, logits, sizeof logits));
    CLFT_CHECK(upload(s, NULL, sizeof am, &bam));
    CLFT_CHECK(clft_argmax_rows(s->ctx, clft_dv_of(bam, 0), clft_dv_of(blg, 0), N, V));
    CLFT_CHECK(clft_buf_read(s->ctx, bam, 0, am, sizeof am));
    s->r->checks++;
    if (memcmp(am, am_ref, sizeof am) || am_ref[1] != 4 || am_ref[2] != 3) {
        s->r->failures++;
        clft_log(CLFT_LOG_ERROR, "argmax_rows: rows differ from the reference (row 1: %d, ref %d; row 2: %d, ref %d)",
                 (int)am[1], (int)am_ref[1], (int)am[2], (int)am_ref[2]);
    }
    /* AdamW, one step */
    float p[C], m[C], v[C];
    memcpy(p, w, sizeof p);
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    clft_ref_adamw_params hp = clft_ref_adamw_default_params();
    CLFT_CHECK(clft_ref_adamw_step_f32(p, m, v, x, C, &hp, 1));
    clft_buf *bm, *bv;
    CLFT_CHECK(upload(s, NULL, sizeof m, &bm));
    CLFT_CHECK(upload(s, NULL, sizeof v, &bv));
    clft_adamw_hparams h = {(float)hp.lr, (float)hp.beta1, (float)hp.beta2, (float)hp.eps, (float)hp.weight_decay};
    CLFT_CHECK(
        clft_adamw_step(s->ctx, clft_dv_of(bw, 0), clft_dv_of(bm, 0), clft_dv_of(bv, 0), clft_dv_of(bx, 0), C, &h, 1));
    CLFT_CHECK(compare(s, "adamw_step", bw, p, C, 1e-6f, 1e-5f));
    return CLFT_OK;
}

clft_status clft_selfcheck_train_ops(clft_context *ctx, clft_selfcheck_result *r) {
    sc s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.r = r;
    s.seed = 0x5eedULL;
    clft_status st = run(&s);
    while (s.bufs) {
        sc_buf *next = s.bufs->next;
        clft_buf_free(ctx, &s.bufs->b);
        free(s.bufs);
        s.bufs = next;
    }
    return st;
}
