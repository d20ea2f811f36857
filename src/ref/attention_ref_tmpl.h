/* attention_ref_tmpl.h - body of the reference causal GQA attention (optional sliding window and segment
 * ids) for one storage type; included twice by attention_ref.c (see ops_ref.h). No include guard on purpose.
 * Rows of scores are recomputed instead of stored: O(T^2 D) work per head, O(D) scratch. */
#if !defined(CLFT_REF_T) || !defined(CLFT_REF_FN)
#error "attention_ref_tmpl.h is included by attention_ref.c only"
#endif
#define real CLFT_REF_T

/* scaled score q[t] . k[u] / sqrt(D) for batch b, query head h (kv head j) */
static double CLFT_REF_FN(attn_score)(const real *q, const real *k, const clft_ref_attn_dims *d, int64_t b, int64_t h,
                                      int64_t j, int64_t t, int64_t u, double scale) {
    const real *qr = q + ((b * d->T + t) * d->H + h) * d->D;
    const real *kr = k + ((b * d->T + u) * d->KV + j) * d->D;
    double acc = 0;
    for (int64_t i = 0; i < d->D; i++)
        acc += (double)qr[i] * kr[i];
    return acc * scale;
}

clft_status CLFT_REF_FN(clft_ref_attention_fwd)(real *out, real *lse, const real *q, const real *k, const real *v,
                                                const clft_ref_attn_dims *d) {
    CLFT_CHECK(ref_attn_check(d));
    const int64_t T = d->T, H = d->H, KV = d->KV, D = d->D, rep = H / KV;
    const double scale = 1.0 / sqrt((double)D);
    double *acc = clft_malloc((size_t)D * sizeof(double));
    if (!acc) return CLFT_STATUS_HOST_OOM;
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < H; h++) {
            int64_t j = h / rep;
            for (int64_t t = 0; t < T; t++) {
                int64_t u0 = ref_attn_first_key(d, t);
                double mx = -INFINITY, sum = 0;
                for (int64_t u = u0; u <= t; u++)
                    if (ref_attn_visible(d, b, t, u))
                        mx = fmax(mx, CLFT_REF_FN(attn_score)(q, k, d, b, h, j, t, u, scale));
                for (int64_t u = u0; u <= t; u++)
                    if (ref_attn_visible(d, b, t, u))
                        sum += exp(CLFT_REF_FN(attn_score)(q, k, d, b, h, j, t, u, scale) - mx);
                double l = mx + log(sum);
                for (int64_t i = 0; i < D; i++)
                    acc[i] = 0;
                for (int64_t u = u0; u <= t; u++) {
                    if (!ref_attn_visible(d, b, t, u)) continue;
                    double p = exp(CLFT_REF_FN(attn_score)(q, k, d, b, h, j, t, u, scale) - l);
                    const real *vr = v + ((b * T + u) * KV + j) * D;
                    for (int64_t i = 0; i < D; i++)
                        acc[i] += p * vr[i];
                }
                lse[(b * H + h) * T + t] = (real)l;
                real *o = out + ((b * T + t) * H + h) * D;
                for (int64_t i = 0; i < D; i++)
                    o[i] = (real)acc[i];
            }
        }
    free(acc);
    return CLFT_OK;
}

/* delta[t] = d_out[t] . out[t] for batch b, head h */
static double CLFT_REF_FN(attn_delta)(const real *d_out, const real *out, const clft_ref_attn_dims *d, int64_t b,
                                      int64_t h, int64_t t) {
    const int64_t o = ((b * d->T + t) * d->H + h) * d->D;
    double acc = 0;
    for (int64_t i = 0; i < d->D; i++)
        acc += (double)d_out[o + i] * out[o + i];
    return acc;
}

/* p and ds = p*(dp - delta) for query t (head h) and key u (kv head j) */
static void CLFT_REF_FN(attn_p_ds)(double *p, double *ds, const real *d_out, const real *q, const real *k,
                                   const real *v, const real *lse, const clft_ref_attn_dims *d, int64_t b, int64_t h,
                                   int64_t j, int64_t t, int64_t u, double scale, double delta) {
    double s = CLFT_REF_FN(attn_score)(q, k, d, b, h, j, t, u, scale);
    *p = exp(s - (double)lse[(b * d->H + h) * d->T + t]);
    const real *gr = d_out + ((b * d->T + t) * d->H + h) * d->D;
    const real *vr = v + ((b * d->T + u) * d->KV + j) * d->D;
    double dp = 0;
    for (int64_t i = 0; i < d->D; i++)
        dp += (double)gr[i] * vr[i];
    *ds = *p * (dp - delta);
}

clft_status CLFT_REF_FN(clft_ref_attention_bwd)(real *dq, real *dk, real *dv, const real *d_out, const real *q,
                                                const real *k, const real *v, const real *out, const real *lse,
                                                const clft_ref_attn_dims *d) {
    CLFT_CHECK(ref_attn_check(d));
    const int64_t T = d->T, H = d->H, KV = d->KV, D = d->D, rep = H / KV;
    const double scale = 1.0 / sqrt((double)D);
    double *acc = clft_malloc((size_t)(2 * D) * sizeof(double)), *acc2 = acc + D;
    if (!acc) return CLFT_STATUS_HOST_OOM;
    double p, ds;
    /* dq: one query row at a time */
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < H; h++) {
            int64_t j = h / rep;
            for (int64_t t = 0; t < T; t++) {
                double delta = CLFT_REF_FN(attn_delta)(d_out, out, d, b, h, t);
                for (int64_t i = 0; i < D; i++)
                    acc[i] = 0;
                for (int64_t u = ref_attn_first_key(d, t); u <= t; u++) {
                    if (!ref_attn_visible(d, b, t, u)) continue;
                    CLFT_REF_FN(attn_p_ds)(&p, &ds, d_out, q, k, v, lse, d, b, h, j, t, u, scale, delta);
                    const real *kr = k + ((b * T + u) * KV + j) * D;
                    for (int64_t i = 0; i < D; i++)
                        acc[i] += ds * kr[i];
                }
                real *o = dq + ((b * T + t) * H + h) * D;
                for (int64_t i = 0; i < D; i++)
                    o[i] = (real)(acc[i] * scale);
            }
        }
    /* dk, dv: one key row at a time, summed over the query heads of its group and the queries that see it */
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t j = 0; j < KV; j++)
            for (int64_t u = 0; u < T; u++) {
                for (int64_t i = 0; i < D; i++)
                    acc[i] = acc2[i] = 0;
                int64_t t1 = d->window > 0 && u + d->window - 1 < T - 1 ? u + d->window - 1 : T - 1;
                for (int64_t h = j * rep; h < (j + 1) * rep; h++)
                    for (int64_t t = u; t <= t1; t++) {
                        if (!ref_attn_visible(d, b, t, u)) continue;
                        double delta = CLFT_REF_FN(attn_delta)(d_out, out, d, b, h, t);
                        CLFT_REF_FN(attn_p_ds)(&p, &ds, d_out, q, k, v, lse, d, b, h, j, t, u, scale, delta);
                        const real *qr = q + ((b * T + t) * H + h) * D;
                        const real *gr = d_out + ((b * T + t) * H + h) * D;
                        for (int64_t i = 0; i < D; i++) {
                            acc[i] += ds * qr[i];
                            acc2[i] += p * gr[i];
                        }
                    }
                real *ok = dk + ((b * T + u) * KV + j) * D, *ov = dv + ((b * T + u) * KV + j) * D;
                for (int64_t i = 0; i < D; i++) {
                    ok[i] = (real)(acc[i] * scale);
                    ov[i] = (real)acc2[i];
                }
            }
    free(acc);
    return CLFT_OK;
}

clft_status CLFT_REF_FN(clft_ref_attention_kv_fwd)(real *out, const real *q, const real *kc, const real *vc,
                                                   const clft_ref_attn_kv_dims *d) {
    CLFT_CHECK(ref_attn_kv_check(d));
    const int64_t H = d->H, KV = d->KV, D = d->D, rep = H / KV, keys = d->past + d->n;
    const double scale = 1.0 / sqrt((double)D);
    double *s = clft_malloc((size_t)(keys + D) * sizeof(double)), *acc = s + keys; /* scores, then out row */
    if (!s) return CLFT_STATUS_HOST_OOM;
    for (int64_t t = 0; t < d->n; t++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t p = d->past + t, j = h / rep;
            const int64_t u0 = d->window > 0 && p - d->window + 1 > 0 ? p - d->window + 1 : 0;
            const real *qr = q + (t * H + h) * D;
            double mx = -INFINITY, sum = 0;
            for (int64_t u = u0; u <= p; u++) {
                const real *kr = kc + (u * KV + j) * D;
                double dot = 0;
                for (int64_t i = 0; i < D; i++)
                    dot += (double)qr[i] * kr[i];
                s[u] = dot * scale;
                mx = fmax(mx, s[u]);
            }
            for (int64_t u = u0; u <= p; u++)
                sum += exp(s[u] - mx);
            for (int64_t i = 0; i < D; i++)
                acc[i] = 0;
            for (int64_t u = u0; u <= p; u++) {
                const double w = exp(s[u] - mx) / sum;
                const real *vr = vc + (u * KV + j) * D;
                for (int64_t i = 0; i < D; i++)
                    acc[i] += w * vr[i];
            }
            real *o = out + (t * H + h) * D;
            for (int64_t i = 0; i < D; i++)
                o[i] = (real)acc[i];
        }
    free(s);
    return CLFT_OK;
}

#undef real
