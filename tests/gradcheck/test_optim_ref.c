/* test_optim_ref.c - the reference AdamW against a hand-computed two-step example and torch semantics
 * (decoupled decay before the moment update, bias correction, eps outside the sqrt), the f32 variant
 * against the f64 one, and global grad-norm clipping semantics (torch clip_grad_norm_). */
#include "gcutil.h"

static void test_adamw_hand(void) {
    /* lr 0.1, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01; p0 = 1, g1 = 0.5, g2 = -0.25.
     * step 1: p = 1*(1 - 0.1*0.01) = 0.999; m = 0.1*0.5 = 0.05; v = 0.001*0.25 = 0.00025;
     *         m_hat = 0.05/0.1 = 0.5; v_hat = 0.00025/0.001 = 0.25; p = 0.999 - 0.1*0.5/(0.5 + 1e-8)
     *         = 0.999 - 0.099999998 = 0.899000002
     * step 2: p = 0.899000002*0.999 = 0.898101001998; m = 0.9*0.05 + 0.1*(-0.25) = 0.02;
     *         v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225; m_hat = 0.02/0.19 = 0.1052631578947;
     *         v_hat = 0.00031225/0.001999 = 0.1562031015508; sqrt = 0.3952253809...;
     *         p = 0.898101001998 - 0.1*0.1052631578947/(0.3952253809 + 1e-8) = 0.8714672987058 */
    clft_ref_adamw_params hp = {0.1, 0.9, 0.999, 1e-8, 0.01};
    double p = 1, m = 0, v = 0, g1 = 0.5, g2 = -0.25;
    TU_OK(clft_ref_adamw_step_f64(&p, &m, &v, &g1, 1, &hp, 1));
    TU_CHECK(fabs(p - 0.899000002) < 1e-15 && fabs(m - 0.05) < 1e-16 && fabs(v - 0.00025) < 1e-18,
             "adamw step 1: p %.15g m %.15g v %.15g", p, m, v);
    TU_OK(clft_ref_adamw_step_f64(&p, &m, &v, &g2, 1, &hp, 2));
    TU_CHECK(fabs(p - 0.8714672987058463) < 1e-14 && fabs(m - 0.02) < 1e-16 && fabs(v - 0.00031225) < 1e-18,
             "adamw step 2: p %.15g m %.15g v %.15g", p, m, v);
    float pf = 1, mf = 0, vf = 0, g1f = 0.5f, g2f = -0.25f;
    TU_OK(clft_ref_adamw_step_f32(&pf, &mf, &vf, &g1f, 1, &hp, 1));
    TU_OK(clft_ref_adamw_step_f32(&pf, &mf, &vf, &g2f, 1, &hp, 2));
    TU_CHECK(fabsf(pf - 0.8714673f) < 1e-7f, "adamw f32 2 steps: %.9g", pf);
    TU_CHECK(clft_ref_adamw_step_f64(&p, &m, &v, &g1, 1, &hp, 0) == CLFT_STATUS_INVALID_ARGUMENT, "step 0 rejected");
    clft_ref_adamw_params dp = clft_ref_adamw_default_params();
    TU_CHECK(dp.lr == 1e-3 && dp.beta1 == 0.9 && dp.beta2 == 0.999 && dp.eps == 1e-8 && dp.weight_decay == 1e-2,
             "torch defaults");
}

/* many elements, several steps: f32 against f64, and zero grad with wd 0 keeps p (m = v = 0 stays 0) */
static void test_adamw_vector(void) {
    tu_rng r = tu_rng_make(7);
    const int64_t n = 37;
    clft_ref_adamw_params hp = {2e-3, 0.9, 0.95, 1e-6, 0.1};
    double *p = gc_d(n), *m = gc_d(n), *v = gc_d(n), *g = gc_d(n);
    float *pf, *mf = gc_f(n), *vf = gc_f(n);
    gc_fill(&r, p, n, -1, 1);
    pf = gc_to_f32(p, n);
    for (int64_t t = 1; t <= 5; t++) {
        gc_fill(&r, g, n, -0.1, 0.1);
        TU_OK(clft_ref_adamw_step_f64(p, m, v, g, n, &hp, t));
        TU_OK(clft_ref_adamw_step_f32(pf, mf, vf, gc_to_f32(g, n), n, &hp, t));
    }
    gc_cmp32("adamw p f32", pf, p, n, 1e-6, 1e-6);
    gc_cmp32("adamw m f32", mf, m, n, 1e-8, 1e-5);
    gc_cmp32("adamw v f32", vf, v, n, 1e-10, 1e-5);
    double q[3] = {0.5, -2, 0}, z[3] = {0, 0, 0}, mz[3] = {0}, vz[3] = {0};
    clft_ref_adamw_params nowd = hp;
    nowd.weight_decay = 0;
    TU_OK(clft_ref_adamw_step_f64(q, mz, vz, z, 3, &nowd, 1));
    TU_CHECK(q[0] == 0.5 && q[1] == -2 && q[2] == 0, "zero grad, no decay: p unchanged");
    gc_free_all();
}

static void test_clip(void) {
    double a[2] = {3, 4}, b[1] = {12}; /* global norm 13 */
    double *list[2] = {a, b};
    const double *clist[2] = {a, b};
    int64_t sizes[2] = {2, 1};
    TU_CHECK(clft_ref_grad_norm_f64(clist, sizes, 2) == 13.0, "grad norm 13");
    double n = clft_ref_clip_grad_norm_f64(list, sizes, 2, 100.0);
    TU_CHECK(n == 13.0 && a[0] == 3 && a[1] == 4 && b[0] == 12, "below max_norm: unchanged");
    n = clft_ref_clip_grad_norm_f64(list, sizes, 2, 6.5);
    double coef = 6.5 / (13.0 + 1e-6);
    TU_CHECK(n == 13.0 && a[0] == 3 * coef && a[1] == 4 * coef && b[0] == 12 * coef, "clipped by 6.5/(13+1e-6): %.17g",
             a[0]);
    TU_CHECK(fabs(clft_ref_grad_norm_f64(clist, sizes, 2) - 6.5) < 1e-6, "norm after clip ~ max_norm");
    /* max_norm equal to the norm still scales by max/(norm+1e-6) < 1, as torch */
    double c[1] = {2};
    double *cl[1] = {c};
    int64_t cs[1] = {1};
    clft_ref_clip_grad_norm_f64(cl, cs, 1, 2.0);
    TU_CHECK(c[0] < 2 && c[0] == 2 * (2.0 / (2.0 + 1e-6)), "max_norm == norm: %.17g", c[0]);
    /* non-finite: NaN propagates to every grad, inf norm gives coef 0 */
    double d[2] = {NAN, 1}, e[1] = {5};
    double *dl[2] = {d, e};
    int64_t ds[2] = {2, 1};
    n = clft_ref_clip_grad_norm_f64(dl, ds, 2, 1.0);
    TU_CHECK(isnan(n) && isnan(d[1]) && isnan(e[0]), "NaN norm poisons the grads");
    double f[2] = {INFINITY, 1};
    double *fl[1] = {f};
    int64_t fs[1] = {2};
    n = clft_ref_clip_grad_norm_f64(fl, fs, 1, 1.0);
    TU_CHECK(isinf(n) && f[1] == 0, "inf norm: coef 0 (finite grads become 0)");
    /* f32 twin: the norm is accumulated in double */
    float gf[5] = {3, 4, 0, 0, 12};
    float *gl[1] = {gf};
    const float *cgl[1] = {gf};
    int64_t gs[1] = {5};
    TU_CHECK(clft_ref_grad_norm_f32(cgl, gs, 1) == 13.0, "f32 grad norm");
    n = clft_ref_clip_grad_norm_f32(gl, gs, 1, 1.0);
    TU_CHECK(n == 13.0 && gf[4] == (float)(12 * (1.0 / (13 + 1e-6))), "f32 clip");
}

int main(void) {
    tu_init_seed();
    test_adamw_hand();
    test_adamw_vector();
    test_clip();
    return tu_finish("test_optim_ref");
}
