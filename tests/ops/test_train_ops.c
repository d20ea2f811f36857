/* test_train_ops.c - every training-op kernel (RMSNorm, SwiGLU, residual, bias, RoPE, embedding,
 * attention, AdamW, sum of squares) against its src/ref twin, forward and backward, over several
 * shapes including ragged ones (T not a multiple of anything, heads not a power of two, GQA ratios
 * 1, 2 and 4, sliding windows, segment ids of packed rows with padding). Tiny shapes under Oclgrind
 * (CLFT_TEST_TINY). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ref/ops_ref.h"
#include "ref/ref.h"
#include "tutil.h"

static clft_context *ctx;

/* device buffer from host floats (or zeros when src is NULL) */
static clft_buf up(const void *src, size_t bytes) {
    clft_buf b = {0};
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, bytes, &b));
    if (src)
        TU_OK(clft_buf_write(ctx, &b, 0, src, bytes));
    else
        TU_OK(clft_buf_fill_zero(ctx, &b));
    return b;
}
static float *down(const clft_buf *b, size_t n) {
    float *h = malloc(n * sizeof *h);
    TU_OK(clft_buf_read(ctx, b, 0, h, n * sizeof *h));
    return h;
}
static float *rnd(tu_rng *r, size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    tu_fill(r, x, n, lo, hi);
    return x;
}
#define DV(b) clft_dv_of(&(b), 0)

static void test_rmsnorm(int64_t N, int64_t C) {
    tu_rng r = tu_rng_make((uint64_t)(N * 1000 + C));
    float *x = rnd(&r, N * C, -2, 2), *w = rnd(&r, C, 0.5f, 1.5f), *g = rnd(&r, N * C, -1, 1);
    float *out = malloc(N * C * 4), *rstd = malloc(N * 4), *dx = malloc(N * C * 4), *dw = calloc(C, 4);
    for (int64_t c = 0; c < C; c++)
        dw[c] = 0.25f; /* accumulation is checked too */
    clft_ref_rmsnorm_fwd_f32(out, rstd, x, w, N, C, 1e-5);
    clft_ref_rmsnorm_bwd_f32(dx, dw, g, x, w, rstd, N, C);
    clft_buf bx = up(x, N * C * 4), bw = up(w, C * 4), bg = up(g, N * C * 4), bo = up(NULL, N * C * 4),
             br = up(NULL, N * 4), bdx = up(NULL, N * C * 4), bdw = up(NULL, C * 4);
    float *quarter = malloc(C * 4);
    for (int64_t c = 0; c < C; c++)
        quarter[c] = 0.25f;
    TU_OK(clft_buf_write(ctx, &bdw, 0, quarter, C * 4));
    TU_OK(clft_rmsnorm_fwd(ctx, DV(bo), DV(br), DV(bx), DV(bw), N, C, 1e-5f));
    TU_OK(clft_rmsnorm_bwd(ctx, DV(bdx), DV(bdw), DV(bg), DV(bx), DV(bw), DV(br), N, C));
    float *o = down(&bo, N * C), *rs = down(&br, N), *gx = down(&bdx, N * C), *gw = down(&bdw, C);
    tu_close("rmsnorm out", o, out, N * C, 1e-5, 1e-5, 1e-10);
    tu_close("rmsnorm rstd", rs, rstd, N, 1e-6, 1e-5, 1e-10);
    tu_close("rmsnorm dx", gx, dx, N * C, 1e-5, 1e-4, 1e-9);
    tu_close("rmsnorm dw", gw, dw, C, 1e-4, 1e-4, 1e-9);
    clft_buf *bs[] = {&bx, &bw, &bg, &bo, &br, &bdx, &bdw};
    for (size_t i = 0; i < 7; i++)
        clft_buf_free(ctx, bs[i]);
    free(x), free(w), free(g), free(out), free(rstd), free(dx), free(dw), free(o), free(rs), free(gx), free(gw);
    free(quarter);
}

static void test_elementwise(int64_t N, int64_t C) {
    tu_rng r = tu_rng_make((uint64_t)(N * 77 + C));
    size_t n = (size_t)(N * C);
    float *ga = rnd(&r, n, -4, 4), *u = rnd(&r, n, -2, 2), *d = rnd(&r, n, -1, 1), *bias = rnd(&r, C, -1, 1);
    float *out = malloc(n * 4), *dg = malloc(n * 4), *du = malloc(n * 4), *add = malloc(n * 4), *ba = malloc(n * 4);
    float *db = malloc(C * 4);
    for (int64_t c = 0; c < C; c++)
        db[c] = 0.5f;
    clft_ref_swiglu_fwd_f32(out, ga, u, (int64_t)n);
    clft_ref_swiglu_bwd_f32(dg, du, d, ga, u, (int64_t)n);
    clft_ref_residual_fwd_f32(add, ga, u, (int64_t)n);
    clft_ref_bias_add_fwd_f32(ba, ga, bias, N, C);
    clft_ref_bias_add_bwd_f32(NULL, db, d, N, C);
    clft_buf bga = up(ga, n * 4), bu = up(u, n * 4), bd = up(d, n * 4), bb = up(bias, C * 4), bo = up(NULL, n * 4),
             bdg = up(NULL, n * 4), bdu = up(NULL, n * 4), badd = up(NULL, n * 4), bba = up(NULL, n * 4),
             bdb = up(NULL, C * 4);
    float *half = malloc(C * 4);
    for (int64_t c = 0; c < C; c++)
        half[c] = 0.5f;
    TU_OK(clft_buf_write(ctx, &bdb, 0, half, C * 4));
    TU_OK(clft_swiglu_fwd(ctx, DV(bo), DV(bga), DV(bu), (int64_t)n));
    TU_OK(clft_swiglu_bwd(ctx, DV(bdg), DV(bdu), DV(bd), DV(bga), DV(bu), (int64_t)n));
    TU_OK(clft_add_fwd(ctx, DV(badd), DV(bga), DV(bu), (int64_t)n));
    TU_OK(clft_bias_add_fwd(ctx, DV(bba), DV(bga), DV(bb), N, C));
    TU_OK(clft_bias_add_bwd(ctx, DV(bdb), DV(bd), N, C));
    float *o = down(&bo, n), *g1 = down(&bdg, n), *g2 = down(&bdu, n), *a = down(&badd, n), *b2 = down(&bba, n),
          *g3 = down(&bdb, C);
    tu_close("swiglu out", o, out, n, 1e-6, 1e-5, 1e-10);
    tu_close("swiglu d_gate", g1, dg, n, 1e-6, 1e-5, 1e-10);
    tu_close("swiglu d_up", g2, du, n, 1e-6, 1e-5, 1e-10);
    tu_close("residual", a, add, n, 0, 0, 0);
    tu_close("bias add", b2, ba, n, 0, 0, 0);
    tu_close("bias grad", g3, db, C, 1e-5, 1e-5, 1e-10);
    /* scale and axpy */
    TU_OK(clft_scale(ctx, DV(bo), -2.0f, (int64_t)n));
    TU_OK(clft_axpy(ctx, DV(bo), 2.0f, DV(bga), (int64_t)n)); /* bo = -2*swiglu + 2*gate */
    float *sa = down(&bo, n), *want = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        want[i] = -2.0f * o[i] + 2.0f * ga[i];
    tu_close("scale+axpy", sa, want, n, 1e-5, 1e-6, 1e-10);
    clft_buf *bs[] = {&bga, &bu, &bd, &bb, &bo, &bdg, &bdu, &badd, &bba, &bdb};
    for (size_t i = 0; i < 10; i++)
        clft_buf_free(ctx, bs[i]);
    free(ga), free(u), free(d), free(bias), free(out), free(dg), free(du), free(add), free(ba), free(db), free(half);
    free(o), free(g1), free(g2), free(a), free(b2), free(g3), free(sa), free(want);
}

static void test_rope(int64_t N, int64_t H, int64_t D, int llama3) {
    tu_rng r = tu_rng_make((uint64_t)(N * 31 + H * 7 + D));
    size_t n = (size_t)(N * H * D);
    float *x = rnd(&r, n, -1, 1), *g = rnd(&r, n, -1, 1), *out = malloc(n * 4), *dx = malloc(n * 4);
    float *inv = malloc(D / 2 * 4);
    int32_t *pos = malloc(N * 4);
    for (int64_t i = 0; i < N; i++)
        pos[i] = (int32_t)(i * 37 % 4099); /* large positions too */
    clft_ref_rope_params rp = clft_ref_rope_default_params();
    if (llama3) {
        rp.type = CLFT_REF_ROPE_LLAMA3;
        rp.theta = 500000.0;
    }
    TU_OK(clft_ref_rope_inv_freq(inv, D, &rp));
    clft_ref_rope_fwd_f32(out, x, pos, inv, N, H, D);
    clft_ref_rope_bwd_f32(dx, g, pos, inv, N, H, D);
    clft_buf bx = up(x, n * 4), bg = up(g, n * 4), bp = up(pos, N * 4), bi = up(inv, D / 2 * 4), bo = up(NULL, n * 4);
    TU_OK(clft_rope_fwd(ctx, DV(bo), DV(bx), DV(bp), DV(bi), N, H, D));
    float *o = down(&bo, n);
    TU_OK(clft_rope_bwd(ctx, DV(bg), DV(bg), DV(bp), DV(bi), N, H, D)); /* in place */
    float *gx = down(&bg, n);
    tu_close("rope fwd", o, out, n, 2e-5, 1e-4, 1e-9);
    tu_close("rope bwd", gx, dx, n, 2e-5, 1e-4, 1e-9);
    TU_CHECK(clft_rope_fwd(ctx, DV(bo), DV(bx), DV(bp), DV(bi), N, H, D + 1) != CLFT_OK, "odd head dim refused");
    clft_buf *bs[] = {&bx, &bg, &bp, &bi, &bo};
    for (size_t i = 0; i < 5; i++)
        clft_buf_free(ctx, bs[i]);
    free(x), free(g), free(out), free(dx), free(inv), free(pos), free(o), free(gx);
}

static void test_embedding(int64_t N, int64_t V, int64_t C, int64_t pad) {
    tu_rng r = tu_rng_make((uint64_t)(N + V * 3 + C));
    float *table = rnd(&r, V * C, -1, 1), *g = rnd(&r, N * C, -1, 1), *out = malloc(N * C * 4);
    float *dt = malloc(V * C * 4);
    int32_t *ids = malloc(N * 4), *rows = malloc(N * 4), *offs = malloc((N + 1) * 4), *toks = malloc(N * 4);
    for (int64_t i = 0; i < N; i++)
        ids[i] = (int32_t)(tu_next(&r) % (uint64_t)(V < 5 ? V : 5)); /* many repeats */
    ids[N / 2] = (int32_t)(V - 1);
    for (int64_t i = 0; i < V * C; i++)
        dt[i] = 0.125f;
    clft_ref_embedding_fwd_f32(out, ids, table, N, V, C);
    clft_ref_embedding_bwd_f32(dt, g, ids, N, V, C, pad);
    int64_t U = clft_embedding_group(ids, N, V, pad, rows, offs, toks);
    TU_CHECK(U > 0, "groups %lld", (long long)U);
    clft_buf bt = up(table, V * C * 4), bg = up(g, N * C * 4), bi = up(ids, N * 4), bo = up(NULL, N * C * 4),
             bdt = up(NULL, V * C * 4), br = up(rows, N * 4), bof = up(offs, (N + 1) * 4), btk = up(toks, N * 4);
    float *eighth = malloc(V * C * 4);
    for (int64_t i = 0; i < V * C; i++)
        eighth[i] = 0.125f;
    TU_OK(clft_buf_write(ctx, &bdt, 0, eighth, V * C * 4));
    TU_OK(clft_embedding_fwd(ctx, DV(bo), DV(bi), DV(bt), CLFT_DTYPE_F32, N, V, C));
    TU_OK(clft_embedding_bwd(ctx, DV(bdt), DV(bg), DV(br), DV(bof), DV(btk), U, C));
    float *o = down(&bo, N * C), *gt = down(&bdt, V * C);
    tu_close("embedding fwd", o, out, N * C, 0, 0, 0);
    /* frozen 16-bit tables: the C reference on the table widened from bf16 / f16, exactly; the rows
     * of out-of-range ids are zero in both */
    for (int d = 0; d < 2; d++) {
        uint16_t *t16 = malloc(V * C * 2);
        float *wide = malloc(V * C * 4), *ref16 = malloc(N * C * 4);
        for (int64_t i = 0; i < V * C; i++) {
            t16[i] = d ? clft_ref_f32_to_f16(table[i]) : clft_ref_f32_to_bf16(table[i]);
            wide[i] = d ? clft_ref_f16_to_f32(t16[i]) : clft_ref_bf16_to_f32(t16[i]);
        }
        int32_t *ids2 = malloc(N * 4);
        memcpy(ids2, ids, N * 4);
        ids2[0] = (int32_t)V; /* out of range */
        clft_ref_embedding_fwd_f32(ref16, ids2, wide, N, V, C);
        clft_buf b16 = up(t16, V * C * 2), bi2 = up(ids2, N * 4);
        TU_OK(clft_embedding_fwd(ctx, DV(bo), DV(bi2), DV(b16), d ? CLFT_DTYPE_F16 : CLFT_DTYPE_BF16, N, V, C));
        float *o16 = down(&bo, N * C);
        tu_close(d ? "embedding fwd (f16 table)" : "embedding fwd (bf16 table)", o16, ref16, N * C, 0, 0, 0);
        TU_CHECK(clft_embedding_fwd(ctx, DV(bo), DV(bi2), DV(b16), CLFT_DTYPE_NF4, N, V, C) ==
                     CLFT_STATUS_INVALID_ARGUMENT,
                 "embedding fwd: an nf4 table is refused");
        clft_buf_free(ctx, &b16), clft_buf_free(ctx, &bi2);
        free(t16), free(wide), free(ref16), free(ids2), free(o16);
    }
    tu_close("embedding bwd", gt, dt, V * C, 1e-5, 1e-5, 1e-10);
    if (pad >= 0) { /* the padding row is used by the ids but gets no gradient */
        int used = 0, same = 1;
        for (int64_t i = 0; i < N; i++)
            used |= ids[i] == pad;
        for (int64_t c = 0; c < C; c++)
            same &= gt[pad * C + c] == 0.125f;
        TU_CHECK(used && same, "embedding bwd: padding row %lld (used %d) was changed", (long long)pad, used);
    }
    clft_buf *bs[] = {&bt, &bg, &bi, &bo, &bdt, &br, &bof, &btk};
    for (size_t i = 0; i < 8; i++)
        clft_buf_free(ctx, bs[i]);
    free(table), free(g), free(out), free(dt), free(ids), free(rows), free(offs), free(toks), free(eighth), free(o),
        free(gt);
}

/* segs: 0 none, else the tu_segments mode (1 packed examples + padding rows, 2 interleaved ids) */
static void test_attention(int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D, int64_t window, int segs) {
    tu_rng r = tu_rng_make((uint64_t)(B * 100000 + T * 1000 + H * 100 + KV * 10 + D + window + segs * 7919));
    size_t nq = (size_t)(B * T * H * D), nk = (size_t)(B * T * KV * D), nl = (size_t)(B * H * T);
    int32_t *seg = NULL;
    clft_buf bs_ = {0};
    if (segs) {
        seg = malloc((size_t)(B * T) * sizeof *seg);
        tu_segments(&r, seg, B, T, segs);
        bs_ = up(seg, (size_t)(B * T) * sizeof *seg);
    }
    float *q = rnd(&r, nq, -1, 1), *k = rnd(&r, nk, -1, 1), *v = rnd(&r, nk, -1, 1), *g = rnd(&r, nq, -1, 1);
    float *out = malloc(nq * 4), *lse = malloc(nl * 4), *dq = malloc(nq * 4), *dk = malloc(nk * 4),
          *dv = malloc(nk * 4);
    clft_ref_attn_dims rd = {B, T, H, KV, D, window, seg};
    TU_OK(clft_ref_attention_fwd_f32(out, lse, q, k, v, &rd));
    TU_OK(clft_ref_attention_bwd_f32(dq, dk, dv, g, q, k, v, out, lse, &rd));
    clft_buf bq = up(q, nq * 4), bk = up(k, nk * 4), bv = up(v, nk * 4), bg = up(g, nq * 4), bo = up(NULL, nq * 4),
             bl = up(NULL, nl * 4), bdq = up(NULL, nq * 4), bdk = up(NULL, nk * 4), bdv = up(NULL, nk * 4),
             bde = up(NULL, nl * 4);
    clft_attn_dims d = {B, T, H, KV, D, window, 0, clft_dv_of(seg ? &bs_ : NULL, 0)};
    TU_OK(clft_attention_fwd(ctx, DV(bo), DV(bl), DV(bq), DV(bk), DV(bv), &d));
    TU_OK(clft_attention_bwd(ctx, DV(bdq), DV(bdk), DV(bdv), DV(bg), DV(bq), DV(bk), DV(bv), DV(bo), DV(bl), DV(bde),
                             &d));
    float *o = down(&bo, nq), *l = down(&bl, nl), *gq = down(&bdq, nq), *gk = down(&bdk, nk), *gv = down(&bdv, nk);
    char what[96];
    snprintf(what, sizeof what, "attention B%lld T%lld H%lld KV%lld D%lld W%lld seg %d", (long long)B, (long long)T,
             (long long)H, (long long)KV, (long long)D, (long long)window, segs);
    fprintf(stderr, "%s\n", what);
    tu_close("attn out", o, out, nq, 1e-5, 1e-4, 1e-9);
    tu_close("attn lse", l, lse, nl, 1e-5, 1e-5, 1e-10);
    tu_close("attn dq", gq, dq, nq, 1e-5, 1e-3, 1e-8);
    tu_close("attn dk", gk, dk, nk, 1e-5, 1e-3, 1e-8);
    tu_close("attn dv", gv, dv, nk, 1e-5, 1e-3, 1e-8);
    /* the blocked path (GEMM layer + masked softmax), with blocks that do not divide T */
    for (int blk = 0; blk < 2; blk++) {
        clft_attn_dims db = d;
        db.block = blk ? 3 : 0;
        clft_buf ws = up(NULL, clft_attention_workspace_floats(&db) * 4), bo2 = up(NULL, nq * 4),
                 bl2 = up(NULL, nl * 4);
        TU_OK(clft_attention_fwd_blocked(ctx, DV(bo2), DV(bl2), DV(bq), DV(bk), DV(bv), &ws, &db));
        TU_OK(clft_attention_bwd_blocked(ctx, DV(bdq), DV(bdk), DV(bdv), DV(bg), DV(bq), DV(bk), DV(bv), DV(bo2),
                                         DV(bl2), DV(bde), &ws, &db));
        float *o2 = down(&bo2, nq), *l2 = down(&bl2, nl), *q2 = down(&bdq, nq), *k2 = down(&bdk, nk),
              *v2 = down(&bdv, nk);
        tu_close("blocked attn out", o2, out, nq, 1e-5, 1e-4, 1e-9);
        tu_close("blocked attn lse", l2, lse, nl, 1e-5, 1e-5, 1e-10);
        tu_close("blocked attn dq", q2, dq, nq, 1e-5, 1e-3, 1e-8);
        tu_close("blocked attn dk", k2, dk, nk, 1e-5, 1e-3, 1e-8);
        tu_close("blocked attn dv", v2, dv, nk, 1e-5, 1e-3, 1e-8);
        free(o2), free(l2), free(q2), free(k2), free(v2);
        clft_buf_free(ctx, &ws);
        clft_buf_free(ctx, &bo2);
        clft_buf_free(ctx, &bl2);
    }
    clft_attn_dims bad = d;
    bad.KV = H + 1;
    TU_CHECK(clft_attention_fwd(ctx, DV(bo), DV(bl), DV(bq), DV(bk), DV(bv), &bad) != CLFT_OK, "bad GQA refused");
    if (seg) { /* segment ids that do not cover B x T are refused */
        bad = d;
        bad.seg.off = 1;
        TU_CHECK(clft_attention_fwd(ctx, DV(bo), DV(bl), DV(bq), DV(bk), DV(bv), &bad) != CLFT_OK,
                 "short segment ids refused");
    }
    clft_buf *bs[] = {&bq, &bk, &bv, &bg, &bo, &bl, &bdq, &bdk, &bdv, &bde, &bs_};
    for (size_t i = 0; i < 11; i++)
        clft_buf_free(ctx, bs[i]);
    free(q), free(k), free(v), free(g), free(out), free(lse), free(dq), free(dk), free(dv), free(seg);
    free(o), free(l), free(gq), free(gk), free(gv);
}

static void test_optim(int64_t n) {
    tu_rng r = tu_rng_make((uint64_t)n);
    float *p = rnd(&r, n, -1, 1), *g = rnd(&r, n, -1, 1), *m = calloc(n, 4), *v = calloc(n, 4);
    clft_buf bp = up(p, n * 4), bg = up(g, n * 4), bm = up(NULL, n * 4), bv = up(NULL, n * 4);
    clft_ref_adamw_params rp = clft_ref_adamw_default_params();
    rp.lr = 1e-2;
    clft_adamw_hparams hp = {(float)rp.lr, (float)rp.beta1, (float)rp.beta2, (float)rp.eps, (float)rp.weight_decay};
    for (int64_t step = 1; step <= 3; step++) {
        TU_OK(clft_ref_adamw_step_f32(p, m, v, g, n, &rp, step));
        TU_OK(clft_adamw_step(ctx, DV(bp), DV(bm), DV(bv), DV(bg), n, &hp, step));
    }
    float *pp = down(&bp, n), *mm = down(&bm, n), *vv = down(&bv, n);
    tu_close("adamw p", pp, p, n, 1e-6, 1e-5, 1e-10);
    tu_close("adamw m", mm, m, n, 1e-7, 1e-5, 1e-10);
    tu_close("adamw v", vv, v, n, 1e-9, 1e-4, 1e-9);
    TU_CHECK(clft_adamw_step(ctx, DV(bp), DV(bm), DV(bv), DV(bg), n, &hp, 0) == CLFT_STATUS_INVALID_ARGUMENT, "step 0");
    clft_buf part = up(NULL, clft_sumsq_partials(n) * 4);
    double s = 0;
    TU_OK(clft_sumsq(ctx, DV(bg), n, DV(part), &s));
    const float *gs[1] = {g};
    double ref = clft_ref_grad_norm_f32(gs, &n, 1);
    TU_CHECK(fabs(sqrt(s) - ref) <= 1e-5 * ref + 1e-7, "grad norm %.9g vs %.9g", sqrt(s), ref);
    /* a NaN anywhere shows in the norm */
    /* (the whole buffer is rewritten: Oclgrind 21.10's uninitialized-value checker mis-tracks
     * writes at an offset and would report the later reads) */
    g[n / 2] = NAN;
    TU_OK(clft_buf_write(ctx, &bg, 0, g, (size_t)n * 4));
    TU_OK(clft_sumsq(ctx, DV(bg), n, DV(part), &s));
    TU_CHECK(isnan(s), "NaN propagates to the norm");
    clft_buf *bs[] = {&bp, &bg, &bm, &bv, &part};
    for (size_t i = 0; i < 5; i++)
        clft_buf_free(ctx, bs[i]);
    free(p), free(g), free(m), free(v), free(pp), free(mm), free(vv);
}

int main(void) {
    tu_init_seed();
    ctx = tu_context();
    int tiny = tu_tiny();
    test_rmsnorm(3, 5);
    test_rmsnorm(4, 64);
    if (!tiny) test_rmsnorm(33, 300);
    test_elementwise(3, 7);
    if (!tiny) test_elementwise(65, 130);
    test_rope(5, 3, 8, 0);
    test_rope(3, 2, 6, 1);
    if (!tiny) test_rope(37, 6, 64, 1);
    test_embedding(9, 7, 5, -1);
    test_embedding(9, 7, 5, 2);
    if (!tiny) test_embedding(200, 50, 33, -1);
    if (!tiny) test_embedding(200, 50, 33, 3);
    test_attention(1, 5, 2, 1, 4, 0, 0);
    test_attention(2, 7, 4, 2, 6, 3, 0);
    test_attention(2, 7, 4, 2, 6, 0, 1); /* packed examples + a padding row, GQA */
    test_attention(1, 6, 2, 1, 4, 2, 2); /* interleaved ids with padding, window */
    if (!tiny) {
        test_attention(2, 37, 6, 6, 16, 0, 0);  /* GQA ratio 1, heads not a power of two */
        test_attention(1, 50, 8, 2, 32, 0, 0);  /* ratio 4 */
        test_attention(2, 45, 6, 3, 64, 11, 0); /* ratio 2, sliding window */
        test_attention(1, 64, 4, 1, 8, 1, 0);   /* window 1: only itself */
        test_attention(2, 37, 6, 6, 16, 0, 1);  /* packed, ratio 1, ragged T */
        test_attention(3, 50, 8, 2, 32, 0, 1);  /* packed, ratio 4 */
        test_attention(2, 45, 6, 3, 64, 11, 1); /* packed, ratio 2, window */
        test_attention(2, 29, 6, 2, 8, 5, 2);   /* interleaved, ratio 3, window */
    }
    test_optim(tiny ? 100 : 100003);
    test_optim(tiny ? 300 : 4099);
    clft_context_free(ctx);
    return tu_finish("test_train_ops");
}
