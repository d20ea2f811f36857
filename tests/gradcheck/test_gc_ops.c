/* test_gc_ops.c - gradchecks (central differences in double) of the reference embedding, RMSNorm,
 * RoPE, SwiGLU, residual, bias add and LoRA projection; the f32 variants against the f64 ones on the
 * same inputs; RoPE inv_freq (default and llama3); LoRA init and scaling. */
#include "gcutil.h"

/* ---- embedding ---- */
typedef struct {
    double *out, *table, *w;
    const int32_t *ids;
    int64_t N, V, C;
} emb_ctx;
static double emb_loss(void *p) {
    emb_ctx *c = p;
    clft_ref_embedding_fwd_f64(c->out, c->ids, c->table, c->N, c->V, c->C);
    return gc_dot(c->out, c->w, c->N * c->C);
}

static void test_embedding(void) {
    tu_rng r = tu_rng_make(1);
    const int64_t N = 11, V = 7, C = 5;
    int32_t ids[11] = {3, 0, 6, 3, 3, 1, 6, 2, 0, 5, 3}; /* repeats; id 4 unused */
    emb_ctx c = {gc_d(N * C), gc_d(V * C), gc_d(N * C), ids, N, V, C};
    gc_fill(&r, c.table, V * C, -1, 1);
    gc_fill(&r, c.w, N * C, -1, 1);
    double *g = gc_d(V * C), *pre = gc_d(V * C);
    gc_fill(&r, pre, V * C, -1, 1);
    for (int64_t i = 0; i < V * C; i++)
        g[i] = pre[i];
    clft_ref_embedding_bwd_f64(g, c.w, ids, N, V, C, -1); /* accumulates onto pre */
    for (int64_t i = 0; i < V * C; i++)
        g[i] -= pre[i];
    gc_check("embedding d_table", emb_loss, &c, c.table, g, V * C);
    TU_CHECK(g[4 * C] == 0 && g[4 * C + C - 1] == 0, "unused row has no grad");
    /* f32 twin */
    float *o32 = gc_f(N * C), *g32 = gc_to_f32(pre, V * C);
    clft_ref_embedding_fwd_f32(o32, ids, gc_to_f32(c.table, V * C), N, V, C);
    gc_cmp32("embedding fwd f32", o32, c.out, N * C, 0, 0);
    clft_ref_embedding_bwd_f32(g32, gc_to_f32(c.w, N * C), ids, N, V, C, -1);
    for (int64_t i = 0; i < V * C; i++)
        g[i] += pre[i];
    gc_cmp32("embedding bwd f32", g32, g, V * C, 1e-6, 1e-6);
    /* out-of-range ids: zero rows, counted, skipped by bwd */
    int32_t bad_ids[3] = {-1, 2, 7};
    int64_t nbad = clft_ref_embedding_fwd_f64(c.out, bad_ids, c.table, 3, V, C);
    TU_CHECK(nbad == 2 && c.out[0] == 0 && c.out[2 * C] == 0 && c.out[C] == c.table[2 * C], "bad ids: %lld",
             (long long)nbad);
    gc_free_all();
}

/* ---- RMSNorm ---- */
typedef struct {
    double *out, *rstd, *x, *w, *dout;
    int64_t N, C;
    double eps;
} rms_ctx;
static double rms_loss(void *p) {
    rms_ctx *c = p;
    clft_ref_rmsnorm_fwd_f64(c->out, c->rstd, c->x, c->w, c->N, c->C, c->eps);
    return gc_dot(c->out, c->dout, c->N * c->C);
}

static void test_rmsnorm(int64_t N, int64_t C, double eps, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    rms_ctx c = {gc_d(N * C), gc_d(N), gc_d(N * C), gc_d(C), gc_d(N * C), N, C, eps};
    gc_fill(&r, c.x, N * C, -2, 2);
    gc_fill(&r, c.w, C, 0.5, 1.5);
    gc_fill(&r, c.dout, N * C, -1, 1);
    double *dx = gc_d(N * C), *dw = gc_d(C), *dw0 = gc_d(C);
    gc_fill(&r, dw0, C, -1, 1);
    memcpy(dw, dw0, (size_t)C * sizeof(double));
    rms_loss(&c);
    clft_ref_rmsnorm_bwd_f64(dx, dw, c.dout, c.x, c.w, c.rstd, N, C);
    double *dwd = gc_d(C);
    for (int64_t i = 0; i < C; i++)
        dwd[i] = dw[i] - dw0[i];
    gc_check("rmsnorm dx", rms_loss, &c, c.x, dx, N * C);
    gc_check("rmsnorm dw", rms_loss, &c, c.w, dwd, C);
    /* independent forward: HF formula */
    double max_err = 0;
    for (int64_t n = 0; n < N; n++) {
        double ms = 0;
        for (int64_t i = 0; i < C; i++)
            ms += c.x[n * C + i] * c.x[n * C + i] / (double)C;
        for (int64_t i = 0; i < C; i++)
            max_err = fmax(max_err, fabs(c.out[n * C + i] - c.w[i] * c.x[n * C + i] / sqrt(ms + eps)));
    }
    TU_CHECK(max_err < 1e-12, "rmsnorm fwd vs formula %.3g", max_err);
    /* f32 twin */
    float *x32 = gc_to_f32(c.x, N * C), *w32 = gc_to_f32(c.w, C), *o32 = gc_f(N * C), *rs32 = gc_f(N);
    float *dx32 = gc_f(N * C), *dw32 = gc_to_f32(dw0, C);
    clft_ref_rmsnorm_fwd_f32(o32, rs32, x32, w32, N, C, eps);
    gc_cmp32("rmsnorm fwd f32", o32, c.out, N * C, 1e-6, 1e-5);
    gc_cmp32("rmsnorm rstd f32", rs32, c.rstd, N, 0, 1e-6);
    clft_ref_rmsnorm_bwd_f32(dx32, dw32, gc_to_f32(c.dout, N * C), x32, w32, rs32, N, C);
    if (C > 1) {
        gc_cmp32("rmsnorm dx f32", dx32, dx, N * C, 1e-6, 1e-5);
    } else { /* C = 1: dx = w*g*eps/(x^2+eps)^1.5 is all cancellation; the rounded f32 rstd is amplified
                by x^2/eps, so only an elementwise relative bound makes sense */
        float *dxr = gc_to_f32(dx, N);
        tu_close("rmsnorm dx f32 (C=1)", dx32, dxr, (size_t)N, 1e-6, 1e-2, 1.0);
    }
    gc_cmp32("rmsnorm dw f32", dw32, dw, C, 1e-6, 1e-5);
    /* in place (out aliases x) */
    clft_ref_rmsnorm_fwd_f32(x32, rs32, x32, w32, N, C, eps);
    gc_cmp32("rmsnorm in place", x32, c.out, N * C, 1e-6, 1e-5);
    gc_free_all();
}

/* ---- RoPE ---- */
typedef struct {
    double *out, *x, *dout;
    const int32_t *pos;
    const float *inv;
    int64_t N, H, D;
} rope_ctx;
static double rope_loss(void *p) {
    rope_ctx *c = p;
    clft_ref_rope_fwd_f64(c->out, c->x, c->pos, c->inv, c->N, c->H, c->D);
    return gc_dot(c->out, c->dout, c->N * c->H * c->D);
}

static void test_rope(int64_t N, int64_t H, int64_t D, const clft_ref_rope_params *rp, int max_pos, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    const int64_t n = N * H * D;
    int32_t *pos = gc_alloc_bytes((size_t)N * sizeof(int32_t));
    for (int64_t i = 0; i < N; i++)
        pos[i] = (int32_t)(tu_next(&r) % (uint64_t)(max_pos + 1));
    float *inv = gc_f(D / 2);
    TU_OK(clft_ref_rope_inv_freq(inv, D, rp));
    rope_ctx c = {gc_d(n), gc_d(n), gc_d(n), pos, inv, N, H, D};
    gc_fill(&r, c.x, n, -1, 1);
    gc_fill(&r, c.dout, n, -1, 1);
    double *dx = gc_d(n);
    clft_ref_rope_bwd_f64(dx, c.dout, pos, inv, N, H, D);
    gc_check("rope dx", rope_loss, &c, c.x, dx, n);
    /* bwd is the inverse rotation: bwd(fwd(x)) == x; in place */
    double *y = gc_copy(c.x, n);
    clft_ref_rope_fwd_f64(y, y, pos, inv, N, H, D);
    gc_cmp64("rope in-place fwd", y, c.out, n, 1e-15);
    clft_ref_rope_bwd_f64(y, y, pos, inv, N, H, D);
    gc_cmp64("rope bwd(fwd(x))", y, c.x, n, 1e-13);
    /* independent forward: HF rotate_half with cos/sin of cat(freqs, freqs) */
    double max_err = 0;
    for (int64_t t = 0; t < N; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < D; i++) {
                const double *xr = c.x + (t * H + h) * D;
                double a = (double)pos[t] * (double)inv[i % (D / 2)];
                double rot = i < D / 2 ? -xr[i + D / 2] : xr[i - D / 2];
                max_err = fmax(max_err, fabs(c.out[(t * H + h) * D + i] - (xr[i] * cos(a) + rot * sin(a))));
            }
    TU_CHECK(max_err < 1e-12, "rope fwd vs rotate_half formula %.3g", max_err);
    /* f32 twin: the angle is formed in f32 (as HF), so allow for |pos|*ulp of the angle */
    float *o32 = gc_f(n), *d32 = gc_f(n);
    clft_ref_rope_fwd_f32(o32, gc_to_f32(c.x, n), pos, inv, N, H, D);
    double tol = 2e-7 * (1 + max_pos);
    gc_cmp32("rope fwd f32", o32, c.out, n, tol, 1e-6);
    clft_ref_rope_bwd_f32(d32, gc_to_f32(c.dout, n), pos, inv, N, H, D);
    gc_cmp32("rope bwd f32", d32, dx, n, tol, 1e-6);
    gc_free_all();
}

static void test_rope_inv_freq(void) {
    clft_ref_rope_params p = clft_ref_rope_default_params();
    float inv[64];
    TU_OK(clft_ref_rope_inv_freq(inv, 6, &p));
    TU_CHECK(inv[0] == 1.0f && fabs(inv[1] - pow(10000.0, -2.0 / 6)) < 1e-7 &&
                 fabs(inv[2] - pow(10000.0, -4.0 / 6)) < 1e-9,
             "default inv_freq %g %g %g", inv[0], inv[1], inv[2]);
    TU_CHECK(clft_ref_rope_inv_freq(inv, 7, &p) == CLFT_STATUS_INVALID_ARGUMENT, "odd head_dim rejected");
    /* llama3 (Llama-3.1: theta 5e5, factor 8, low 1, high 4, original 8192), head_dim 128 */
    p.theta = 500000.0;
    p.type = CLFT_REF_ROPE_LLAMA3;
    float base[64];
    clft_ref_rope_params pd = p;
    pd.type = CLFT_REF_ROPE_DEFAULT;
    TU_OK(clft_ref_rope_inv_freq(base, 128, &pd));
    TU_OK(clft_ref_rope_inv_freq(inv, 128, &p));
    int n_high = 0, n_low = 0, n_mid = 0, bad = 0;
    for (int i = 0; i < 64; i++) {
        double f = base[i], wl = 2 * 3.14159265358979323846 / f, want;
        if (wl < 8192.0 / 4) { /* high frequency: unchanged */
            want = f;
            n_high++;
        } else if (wl > 8192.0) { /* low frequency: divided by factor */
            want = f / 8;
            n_low++;
        } else { /* smooth interpolation */
            double s = (8192.0 / wl - 1.0) / (4.0 - 1.0);
            want = (1 - s) * f / 8 + s * f;
            n_mid++;
        }
        if (!(fabs(inv[i] - want) <= 2e-6 * want)) {
            if (bad++ < 4) fprintf(stderr, "  llama3 inv_freq[%d] = %.9g want %.9g\n", i, inv[i], want);
        }
    }
    TU_CHECK(bad == 0 && n_high > 0 && n_low > 0 && n_mid > 0, "llama3 inv_freq: %d bad (high %d mid %d low %d)", bad,
             n_high, n_mid, n_low);
    p.factor = 0;
    TU_CHECK(clft_ref_rope_inv_freq(inv, 128, &p) == CLFT_STATUS_INVALID_ARGUMENT, "bad llama3 factor rejected");
}

/* ---- SwiGLU, residual, bias add ---- */
typedef struct {
    double *out, *a, *b, *dout;
    int64_t N, C, op; /* op 0 swiglu, 1 residual, 2 bias add (b is (C)) */
} ew_ctx;
static double ew_loss(void *p) {
    ew_ctx *c = p;
    if (c->op == 0) clft_ref_swiglu_fwd_f64(c->out, c->a, c->b, c->N * c->C);
    if (c->op == 1) clft_ref_residual_fwd_f64(c->out, c->a, c->b, c->N * c->C);
    if (c->op == 2) clft_ref_bias_add_fwd_f64(c->out, c->a, c->b, c->N, c->C);
    return gc_dot(c->out, c->dout, c->N * c->C);
}

static void test_elementwise(void) {
    tu_rng r = tu_rng_make(3);
    const int64_t N = 5, C = 7, n = N * C;
    static const char *names[3][2] = {
        {"swiglu d_gate", "swiglu d_up"}, {"residual da", "residual db"}, {"bias dx", "bias dbias"}};
    for (int op = 0; op < 3; op++) {
        int64_t nb = op == 2 ? C : n;
        ew_ctx c = {gc_d(n), gc_d(n), gc_d(nb), gc_d(n), N, C, op};
        gc_fill(&r, c.a, n, -5, 5);
        gc_fill(&r, c.b, nb, -2, 2);
        gc_fill(&r, c.dout, n, -1, 1);
        double *da = gc_d(n), *db = gc_d(nb);
        if (op == 0) clft_ref_swiglu_bwd_f64(da, db, c.dout, c.a, c.b, n);
        if (op == 1) clft_ref_residual_bwd_f64(da, db, c.dout, n);
        if (op == 2) clft_ref_bias_add_bwd_f64(da, db, c.dout, N, C);
        gc_check(names[op][0], ew_loss, &c, c.a, da, n);
        gc_check(names[op][1], ew_loss, &c, c.b, db, nb);
        /* f32 twins */
        float *a32 = gc_to_f32(c.a, n), *b32 = gc_to_f32(c.b, nb), *g32 = gc_to_f32(c.dout, n);
        float *o32 = gc_f(n), *da32 = gc_f(n), *db32 = gc_f(nb);
        if (op == 0) {
            clft_ref_swiglu_fwd_f32(o32, a32, b32, n);
            clft_ref_swiglu_bwd_f32(da32, db32, g32, a32, b32, n);
        } else if (op == 1) {
            clft_ref_residual_fwd_f32(o32, a32, b32, n);
            clft_ref_residual_bwd_f32(da32, db32, g32, n);
        } else {
            clft_ref_bias_add_fwd_f32(o32, a32, b32, N, C);
            clft_ref_bias_add_bwd_f32(da32, db32, g32, N, C);
        }
        gc_cmp32("elementwise fwd f32", o32, c.out, n, 1e-6, 1e-6);
        gc_cmp32("elementwise bwd f32 a", da32, da, n, 1e-6, 1e-6);
        gc_cmp32("elementwise bwd f32 b", db32, db, nb, 1e-6, 1e-6);
    }
    /* swiglu against the formula, including a large negative gate (no overflow to NaN) */
    double g[3] = {-800.0, 0.0, 3.0}, u[3] = {2.0, 5.0, -1.0}, o[3];
    clft_ref_swiglu_fwd_f64(o, g, u, 3);
    TU_CHECK(o[0] == 0 && o[1] == 0 && fabs(o[2] + 3.0 / (1 + exp(-3.0))) < 1e-15, "swiglu values %g %g %g", o[0], o[1],
             o[2]);
    gc_free_all();
}

/* ---- LoRA ---- */
typedef struct {
    double *y, *u, *x, *A, *B, *dy;
    const uint8_t *keep;
    clft_ref_lora_dims d;
} lora_ctx;
static double lora_loss(void *p) {
    lora_ctx *c = p;
    memset(c->y, 0, (size_t)(c->d.N * c->d.out) * sizeof(double));
    clft_ref_lora_fwd_f64(c->y, c->u, c->x, c->keep, c->A, c->B, &c->d);
    return gc_dot(c->y, c->dy, c->d.N * c->d.out);
}

static void test_lora(int64_t N, int64_t in, int64_t out, int64_t rank, double p, int use_keep, uint64_t salt) {
    tu_rng r = tu_rng_make(salt);
    clft_ref_lora_dims d = {N, in, out, rank, clft_ref_lora_scale(16.0, rank, (int)(salt & 1)), p};
    uint8_t *keep = NULL;
    if (use_keep) {
        keep = gc_alloc_bytes((size_t)(N * in));
        for (int64_t i = 0; i < N * in; i++)
            keep[i] = tu_uniform(&r, 0, 1) >= p;
    }
    lora_ctx c = {gc_d(N * out),    gc_d(N * rank), gc_d(N * in), gc_d(rank * in),
                  gc_d(out * rank), gc_d(N * out),  keep,         d};
    gc_fill(&r, c.x, N * in, -1, 1);
    gc_fill(&r, c.A, rank * in, -0.5, 0.5);
    gc_fill(&r, c.B, out * rank, -0.5, 0.5);
    gc_fill(&r, c.dy, N * out, -1, 1);
    lora_loss(&c);
    double *dx0 = gc_d(N * in), *dA0 = gc_d(rank * in), *dB0 = gc_d(out * rank);
    gc_fill(&r, dx0, N * in, -1, 1); /* prior contents: the base path's dx, earlier micro-batches' dA/dB */
    gc_fill(&r, dA0, rank * in, -1, 1);
    gc_fill(&r, dB0, out * rank, -1, 1);
    double *dx = gc_copy(dx0, N * in), *dA = gc_copy(dA0, rank * in), *dB = gc_copy(dB0, out * rank);
    TU_OK(clft_ref_lora_bwd_f64(dx, dA, dB, c.dy, c.x, keep, c.A, c.B, c.u, &d));
    double *gx = gc_d(N * in), *gA = gc_d(rank * in), *gB = gc_d(out * rank);
    for (int64_t i = 0; i < N * in; i++)
        gx[i] = dx[i] - dx0[i];
    for (int64_t i = 0; i < rank * in; i++)
        gA[i] = dA[i] - dA0[i];
    for (int64_t i = 0; i < out * rank; i++)
        gB[i] = dB[i] - dB0[i];
    gc_check("lora dx", lora_loss, &c, c.x, gx, N * in);
    gc_check("lora dA", lora_loss, &c, c.A, gA, rank * in);
    gc_check("lora dB", lora_loss, &c, c.B, gB, out * rank);
    /* independent forward: merged delta weight (PEFT get_delta_weight) on the dropped-out input */
    double max_err = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t i = 0; i < in; i++) {
                double wd = 0;
                for (int64_t k = 0; k < rank; k++)
                    wd += c.B[o * rank + k] * c.A[k * in + i];
                double xd = keep ? (keep[n * in + i] ? c.x[n * in + i] / (1 - p) : 0) : c.x[n * in + i];
                acc += xd * wd * d.scale;
            }
            max_err = fmax(max_err, fabs(acc - c.y[n * out + o]));
        }
    TU_CHECK(max_err < 1e-12, "lora fwd vs merged weight %.3g", max_err);
    /* fwd accumulates into y */
    double *ya = gc_d(N * out);
    for (int64_t i = 0; i < N * out; i++)
        ya[i] = 1.0;
    TU_OK(clft_ref_lora_fwd_f64(ya, c.u, c.x, keep, c.A, c.B, &d));
    for (int64_t i = 0; i < N * out; i++)
        ya[i] -= 1.0;
    gc_cmp64("lora fwd accumulates", ya, c.y, N * out, 1e-14);
    /* f32 twin */
    float *x32 = gc_to_f32(c.x, N * in), *A32 = gc_to_f32(c.A, rank * in), *B32 = gc_to_f32(c.B, out * rank);
    float *y32 = gc_f(N * out), *u32 = gc_f(N * rank);
    TU_OK(clft_ref_lora_fwd_f32(y32, u32, x32, keep, A32, B32, &d));
    gc_cmp32("lora fwd f32", y32, c.y, N * out, 1e-6, 1e-5);
    gc_cmp32("lora u f32", u32, c.u, N * rank, 1e-6, 1e-5);
    float *dx32 = gc_to_f32(dx0, N * in), *dA32 = gc_to_f32(dA0, rank * in), *dB32 = gc_to_f32(dB0, out * rank);
    TU_OK(clft_ref_lora_bwd_f32(dx32, dA32, dB32, gc_to_f32(c.dy, N * out), x32, keep, A32, B32, u32, &d));
    gc_cmp32("lora dx f32", dx32, dx, N * in, 1e-5, 1e-5);
    gc_cmp32("lora dA f32", dA32, dA, rank * in, 1e-5, 1e-5);
    gc_cmp32("lora dB f32", dB32, dB, out * rank, 1e-5, 1e-5);
    /* bad dropout rejected */
    d.dropout = 1.0;
    TU_CHECK(clft_ref_lora_fwd_f64(c.y, c.u, c.x, keep, c.A, c.B, &d) == CLFT_STATUS_INVALID_ARGUMENT, "p=1 rejected");
    gc_free_all();
}

static void test_lora_init(void) {
    const int64_t rank = 4, in = 37, out = 9;
    float *A32 = gc_f(rank * in), *B32 = gc_f(out * rank);
    double *A = gc_d(rank * in), *B = gc_d(out * rank);
    for (int64_t i = 0; i < out * rank; i++)
        B32[i] = B[i] = 7;
    clft_ref_lora_init_f32(A32, B32, rank, in, out, 42);
    clft_ref_lora_init_f64(A, B, rank, in, out, 42);
    double bound = 1 / sqrt((double)in), mean = 0, mx = 0;
    int bad = 0;
    for (int64_t i = 0; i < rank * in; i++) {
        bad += !(fabs(A[i]) <= bound) || A32[i] != (float)A[i];
        mean += A[i] / (double)(rank * in);
        mx = fmax(mx, fabs(A[i]));
    }
    for (int64_t i = 0; i < out * rank; i++)
        bad += B[i] != 0 || B32[i] != 0;
    TU_CHECK(bad == 0 && fabs(mean) < 0.2 * bound && mx > 0.8 * bound, "lora init: %d bad, mean %g max %g bound %g",
             bad, mean, mx, bound);
    TU_CHECK(clft_ref_lora_scale(16, 8, 0) == 2.0 && fabs(clft_ref_lora_scale(16, 8, 1) - 16 / sqrt(8.0)) < 1e-15,
             "lora scale");
    gc_free_all();
}

int main(void) {
    tu_init_seed();
    test_embedding();
    test_rmsnorm(5, 13, 1e-5, 10);
    test_rmsnorm(3, 64, 1e-6, 11);
    test_rmsnorm(1, 1, 1e-5, 12);
    clft_ref_rope_params rp = clft_ref_rope_default_params();
    test_rope(9, 3, 6, &rp, 40, 20);
    rp.theta = 1e6;
    test_rope(7, 6, 8, &rp, 300, 21);
    rp.theta = 500000.0;
    rp.type = CLFT_REF_ROPE_LLAMA3;
    rp.original_max_position = 64; /* small so that the three llama3 bands all occur at head_dim 16 */
    test_rope(5, 2, 16, &rp, 100, 22);
    test_rope_inv_freq();
    test_elementwise();
    test_lora(7, 9, 5, 3, 0.25, 1, 30);
    test_lora(4, 6, 11, 2, 0.0, 0, 31);
    test_lora(3, 5, 4, 1, 0.5, 1, 32);
    test_lora_init();
    tu_rng r = tu_rng_make(99); /* seeded random shapes (CLFT_TEST_SEED changes them) */
    for (int it = 0; it < 3; it++) {
        int64_t N = 1 + (int64_t)(tu_next(&r) % 9), C = 1 + (int64_t)(tu_next(&r) % 20);
        int64_t H = 1 + (int64_t)(tu_next(&r) % 6), D = 2 * (1 + (int64_t)(tu_next(&r) % 6));
        int64_t in = 1 + (int64_t)(tu_next(&r) % 12), out = 1 + (int64_t)(tu_next(&r) % 12),
                rk = 1 + (int64_t)(tu_next(&r) % 4);
        printf("random ops: rmsnorm N %lld C %lld; rope H %lld D %lld; lora in %lld out %lld r %lld\n", (long long)N,
               (long long)C, (long long)H, (long long)D, (long long)in, (long long)out, (long long)rk);
        test_rmsnorm(N, C, 1e-5, 200 + (uint64_t)it);
        rp = clft_ref_rope_default_params();
        test_rope(N, H, D, &rp, 1000, 210 + (uint64_t)it);
        test_lora(N, in, out, rk, 0.1, 1, 220 + (uint64_t)it);
    }
    return tu_finish("test_gc_ops");
}
