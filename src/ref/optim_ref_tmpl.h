/* optim_ref_tmpl.h - bodies of the reference AdamW step, gradient norm and clipping for one storage type;
 * included twice by optim_ref.c (see ops_ref.h). No include guard on purpose. */
#if !defined(CLFT_REF_T) || !defined(CLFT_REF_FN)
#error "optim_ref_tmpl.h is included by optim_ref.c only"
#endif
#define real CLFT_REF_T

clft_status CLFT_REF_FN(clft_ref_adamw_step)(real *p, real *m, real *v, const real *g, int64_t n,
                                             const clft_ref_adamw_params *hp, int64_t step) {
    if (!hp || step < 1 || n < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "adamw ref: step %lld must be >= 1", (long long)step);
    const double b1 = hp->beta1, b2 = hp->beta2;
    const double bc1 = 1.0 - pow(b1, (double)step), bc2_sqrt = sqrt(1.0 - pow(b2, (double)step));
    const double decay = 1.0 - hp->lr * hp->weight_decay, step_size = hp->lr / bc1;
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i];
        double pi = (double)p[i] * decay;
        double mi = b1 * m[i] + (1.0 - b1) * gi;
        double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = (real)mi;
        v[i] = (real)vi;
        p[i] = (real)(pi - step_size * mi / (sqrt(vi) / bc2_sqrt + hp->eps));
    }
    return CLFT_OK;
}

double CLFT_REF_FN(clft_ref_grad_norm)(const real *const *grads, const int64_t *sizes, int64_t count) {
    double ss = 0;
    for (int64_t t = 0; t < count; t++)
        for (int64_t i = 0; i < sizes[t]; i++)
            ss += (double)grads[t][i] * grads[t][i];
    return sqrt(ss);
}

double CLFT_REF_FN(clft_ref_clip_grad_norm)(real *const *grads, const int64_t *sizes, int64_t count, double max_norm) {
    double ss = 0;
    for (int64_t t = 0; t < count; t++)
        for (int64_t i = 0; i < sizes[t]; i++)
            ss += (double)grads[t][i] * grads[t][i];
    double norm = sqrt(ss);
    double coef = ref_clip_coef(norm, max_norm);
    if (coef != 1.0)
        for (int64_t t = 0; t < count; t++)
            for (int64_t i = 0; i < sizes[t]; i++)
                grads[t][i] = (real)(grads[t][i] * coef);
    return norm;
}

#undef real
