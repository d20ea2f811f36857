/* loss_ref_tmpl.h - body of the reference cross-entropy fused with the final projection, for one storage
 * type; included twice by loss_ref.c (see ops_ref.h). No include guard on purpose. */
#if !defined(CLFT_REF_T) || !defined(CLFT_REF_FN)
#error "loss_ref_tmpl.h is included by loss_ref.c only"
#endif
#define real CLFT_REF_T

/* logits (rows,V) in double for tokens n0 .. n0+rows-1; ignored tokens get no row computed */
static void CLFT_REF_FN(xent_logits)(double *logits, const real *h, const int32_t *labels, const real *W, int64_t n0,
                                     int64_t rows, int64_t C, int64_t V) {
    for (int64_t r = 0; r < rows; r++) {
        if (labels[n0 + r] == CLFT_REF_IGNORE_INDEX) continue;
        const real *hr = h + (n0 + r) * C;
        for (int64_t v = 0; v < V; v++) {
            const real *wr = W + v * C;
            double acc = 0;
            for (int64_t c = 0; c < C; c++)
                acc += (double)hr[c] * wr[c];
            logits[r * V + v] = acc;
        }
    }
}

int64_t CLFT_REF_FN(clft_ref_xent_fwd)(real *loss, real *lse, const real *h, const int32_t *labels, const real *W,
                                       int64_t N, int64_t C, int64_t V, int64_t chunk) {
    int64_t n_valid = ref_xent_check(labels, N, C, V, chunk);
    if (n_valid < 0) return -1;
    double *logits = clft_malloc((size_t)(ref_xent_rows(N, chunk) * V) * sizeof(double)); /* (chunk,V) */
    if (!logits) return -1;
    double total = 0;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        int64_t rows = N - n0 < chunk ? N - n0 : chunk;
        CLFT_REF_FN(xent_logits)(logits, h, labels, W, n0, rows, C, V);
        for (int64_t r = 0; r < rows; r++) {
            int32_t y = labels[n0 + r];
            if (y == CLFT_REF_IGNORE_INDEX) {
                lse[n0 + r] = 0;
                continue;
            }
            const double *lr = logits + r * V;
            double mx = -INFINITY, sum = 0;
            for (int64_t v = 0; v < V; v++)
                mx = fmax(mx, lr[v]);
            for (int64_t v = 0; v < V; v++)
                sum += exp(lr[v] - mx);
            double l = mx + log(sum);
            lse[n0 + r] = (real)l;
            total += l - lr[y];
        }
    }
    free(logits);
    *loss = (real)(n_valid ? total / (double)n_valid : 0.0);
    return n_valid;
}

clft_status CLFT_REF_FN(clft_ref_xent_bwd)(real *dh, real *dW, double dloss, const real *h, const int32_t *labels,
                                           const real *W, const real *lse, int64_t N, int64_t C, int64_t V,
                                           int64_t chunk) {
    int64_t n_valid = ref_xent_check(labels, N, C, V, chunk);
    if (n_valid < 0) return CLFT_STATUS_INVALID_ARGUMENT;
    double *logits = clft_malloc((size_t)(ref_xent_rows(N, chunk) * V) * sizeof(double)); /* (chunk,V): dlogits */
    if (!logits) return CLFT_STATUS_HOST_OOM;
    const double k = n_valid ? dloss / (double)n_valid : 0.0;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        int64_t rows = N - n0 < chunk ? N - n0 : chunk;
        CLFT_REF_FN(xent_logits)(logits, h, labels, W, n0, rows, C, V);
        for (int64_t r = 0; r < rows; r++) {
            int32_t y = labels[n0 + r];
            double *lr = logits + r * V;
            if (y == CLFT_REF_IGNORE_INDEX) {
                for (int64_t v = 0; v < V; v++)
                    lr[v] = 0;
                continue;
            }
            double l = lse[n0 + r];
            for (int64_t v = 0; v < V; v++)
                lr[v] = k * (exp(lr[v] - l) - (v == y ? 1.0 : 0.0));
        }
        if (dh) {
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < C; c++) {
                    double acc = 0;
                    for (int64_t v = 0; v < V; v++)
                        acc += logits[r * V + v] * W[v * C + c];
                    dh[(n0 + r) * C + c] = (real)acc;
                }
        }
        if (dW) {
            for (int64_t v = 0; v < V; v++)
                for (int64_t c = 0; c < C; c++) {
                    double acc = 0;
                    for (int64_t r = 0; r < rows; r++)
                        acc += logits[r * V + v] * h[(n0 + r) * C + c];
                    dW[v * C + c] = (real)((double)dW[v * C + c] + acc);
                }
        }
    }
    free(logits);
    return CLFT_OK;
}

#undef real
