/* ops_ref_tmpl.h - bodies of the elementwise/row reference ops (embedding, RMSNorm, RoPE, SwiGLU,
 * residual, bias add, LoRA projection and init) for one storage type. Included twice by ops_ref.c with
 * CLFT_REF_T and CLFT_REF_FN set (see ops_ref.h); no include guard on purpose. Arithmetic is in double;
 * `real` is the storage type. */
#if !defined(CLFT_REF_T) || !defined(CLFT_REF_FN)
#error "ops_ref_tmpl.h is included by ops_ref.c only"
#endif
#define real CLFT_REF_T

/* ---- embedding ---- */
int64_t CLFT_REF_FN(clft_ref_embedding_fwd)(real *out, const int32_t *ids, const real *table, int64_t N, int64_t V,
                                            int64_t C) {
    int64_t bad = 0;
    for (int64_t n = 0; n < N; n++) {
        int64_t id = ids[n];
        if (id < 0 || id >= V) {
            for (int64_t c = 0; c < C; c++)
                out[n * C + c] = 0;
            bad++;
            continue;
        }
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = table[id * C + c];
    }
    return bad;
}

void CLFT_REF_FN(clft_ref_embedding_bwd)(real *d_table, const real *d_out, const int32_t *ids, int64_t N, int64_t V,
                                         int64_t C, int64_t padding_idx) {
    for (int64_t n = 0; n < N; n++) {
        int64_t id = ids[n];
        if (id < 0 || id >= V || id == padding_idx) continue;
        for (int64_t c = 0; c < C; c++)
            d_table[id * C + c] = (real)((double)d_table[id * C + c] + d_out[n * C + c]);
    }
}

/* ---- RMSNorm ---- */
void CLFT_REF_FN(clft_ref_rmsnorm_fwd)(real *out, real *rstd, const real *x, const real *w, int64_t N, int64_t C,
                                       double eps) {
    for (int64_t n = 0; n < N; n++) {
        const real *xr = x + n * C;
        double ss = 0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)xr[c] * xr[c];
        real r = (real)(1.0 / sqrt(ss / (double)C + eps));
        rstd[n] = r;
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (real)((double)w[c] * ((double)xr[c] * r));
    }
}

void CLFT_REF_FN(clft_ref_rmsnorm_bwd)(real *dx, real *dw, const real *d_out, const real *x, const real *w,
                                       const real *rstd, int64_t N, int64_t C) {
    if (dx) {
        for (int64_t n = 0; n < N; n++) {
            const real *xr = x + n * C, *gr = d_out + n * C;
            double r = rstd[n], gx = 0;
            for (int64_t c = 0; c < C; c++)
                gx += (double)gr[c] * w[c] * xr[c];
            double k = r * r * gx / (double)C;
            for (int64_t c = 0; c < C; c++)
                dx[n * C + c] = (real)(r * ((double)gr[c] * w[c] - (double)xr[c] * k));
        }
    }
    if (dw) { /* column-wise so that each dw[c] is one double sum over all rows */
        for (int64_t c = 0; c < C; c++) {
            double acc = 0;
            for (int64_t n = 0; n < N; n++)
                acc += (double)d_out[n * C + c] * x[n * C + c] * rstd[n];
            dw[c] = (real)((double)dw[c] + acc);
        }
    }
}

/* ---- RoPE ---- */
/* rotate every head of token n by angle sign * pos[n] * inv_freq (sign +1 forward, -1 inverse) */
static void CLFT_REF_FN(rope_rotate)(real *out, const real *x, const int32_t *pos, const float *inv_freq, int64_t N,
                                     int64_t H, int64_t D, double sign) {
    int64_t half = D / 2;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t i = 0; i < half; i++) {
            /* HF: freqs = inv_freq (f32) @ position_ids (f32): one product in the storage type */
            real a = (real)pos[n] * (real)inv_freq[i];
            double c = cos((double)a), s = sign * sin((double)a);
            for (int64_t h = 0; h < H; h++) {
                int64_t o = (n * H + h) * D;
                double x1 = x[o + i], x2 = x[o + i + half];
                out[o + i] = (real)(x1 * c - x2 * s);
                out[o + i + half] = (real)(x2 * c + x1 * s);
            }
        }
    }
}

void CLFT_REF_FN(clft_ref_rope_fwd)(real *out, const real *x, const int32_t *pos, const float *inv_freq, int64_t N,
                                    int64_t H, int64_t D) {
    CLFT_REF_FN(rope_rotate)(out, x, pos, inv_freq, N, H, D, 1.0);
}

void CLFT_REF_FN(clft_ref_rope_bwd)(real *dx, const real *d_out, const int32_t *pos, const float *inv_freq, int64_t N,
                                    int64_t H, int64_t D) {
    /* the rotation is orthogonal: its transpose is the rotation by -a */
    CLFT_REF_FN(rope_rotate)(dx, d_out, pos, inv_freq, N, H, D, -1.0);
}

/* ---- SwiGLU ---- */
void CLFT_REF_FN(clft_ref_swiglu_fwd)(real *out, const real *gate, const real *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (real)(g / (1.0 + exp(-g)) * up[i]);
    }
}

void CLFT_REF_FN(clft_ref_swiglu_bwd)(real *d_gate, real *d_up, const real *d_out, const real *gate, const real *up,
                                      int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double g = gate[i], sg = 1.0 / (1.0 + exp(-g)), dy = d_out[i];
        if (d_gate) d_gate[i] = (real)(dy * up[i] * sg * (1.0 + g * (1.0 - sg)));
        if (d_up) d_up[i] = (real)(dy * g * sg);
    }
}

/* ---- residual ---- */
void CLFT_REF_FN(clft_ref_residual_fwd)(real *out, const real *a, const real *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = (real)((double)a[i] + b[i]);
}

void CLFT_REF_FN(clft_ref_residual_bwd)(real *da, real *db, const real *d_out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (da) da[i] = d_out[i];
        if (db) db[i] = d_out[i];
    }
}

/* ---- bias add ---- */
void CLFT_REF_FN(clft_ref_bias_add_fwd)(real *out, const real *x, const real *bias, int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (real)((double)x[n * C + c] + bias[c]);
}

void CLFT_REF_FN(clft_ref_bias_add_bwd)(real *dx, real *dbias, const real *d_out, int64_t N, int64_t C) {
    if (dx)
        for (int64_t i = 0; i < N * C; i++)
            dx[i] = d_out[i];
    if (dbias) {
        for (int64_t c = 0; c < C; c++) {
            double acc = 0;
            for (int64_t n = 0; n < N; n++)
                acc += d_out[n * C + c];
            dbias[c] = (real)((double)dbias[c] + acc);
        }
    }
}

/* ---- LoRA ---- */
void CLFT_REF_FN(clft_ref_lora_init)(real *A, real *B, int64_t r, int64_t in, int64_t out, uint64_t seed) {
    uint64_t s = seed;
    double bound = 1.0 / sqrt((double)in);
    for (int64_t i = 0; i < r * in; i++)
        A[i] = (real)(bound * (2.0 * ref_uniform01(&s) - 1.0));
    for (int64_t i = 0; i < out * r; i++)
        B[i] = 0;
}

clft_status CLFT_REF_FN(clft_ref_lora_fwd)(real *y, real *u, const real *x, const uint8_t *keep, const real *A,
                                           const real *B, const clft_ref_lora_dims *d) {
    CLFT_CHECK(ref_lora_check(d));
    int64_t N = d->N, in = d->in, out = d->out, r = d->r;
    double kf = ref_keep_factor(d->dropout);
    for (int64_t n = 0; n < N; n++) {
        const real *xr = x + n * in;
        const uint8_t *kr = keep ? keep + n * in : NULL;
        for (int64_t k = 0; k < r; k++) {
            double acc = 0;
            for (int64_t i = 0; i < in; i++) {
                double xd = kr ? (kr[i] ? (double)xr[i] * kf : 0.0) : (double)xr[i];
                acc += xd * A[k * in + i];
            }
            u[n * r + k] = (real)acc;
        }
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t k = 0; k < r; k++)
                acc += (double)u[n * r + k] * B[o * r + k];
            y[n * out + o] = (real)((double)y[n * out + o] + d->scale * acc);
        }
    }
    return CLFT_OK;
}

clft_status CLFT_REF_FN(clft_ref_lora_bwd)(real *dx, real *dA, real *dB, const real *dy, const real *x,
                                           const uint8_t *keep, const real *A, const real *B, const real *u,
                                           const clft_ref_lora_dims *d) {
    CLFT_CHECK(ref_lora_check(d));
    int64_t N = d->N, in = d->in, out = d->out, r = d->r;
    double kf = ref_keep_factor(d->dropout), sc = d->scale;
    double *du = clft_malloc((size_t)(N * r > 0 ? N * r : 1) * sizeof(double)); /* (N,r) */
    if (!du) return CLFT_STATUS_HOST_OOM;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < r; k++) {
            double acc = 0;
            for (int64_t o = 0; o < out; o++)
                acc += (double)dy[n * out + o] * B[o * r + k];
            du[n * r + k] = sc * acc;
        }
    if (dB) {
        for (int64_t o = 0; o < out; o++)
            for (int64_t k = 0; k < r; k++) {
                double acc = 0;
                for (int64_t n = 0; n < N; n++)
                    acc += (double)dy[n * out + o] * u[n * r + k];
                dB[o * r + k] = (real)((double)dB[o * r + k] + sc * acc);
            }
    }
    if (dA) {
        for (int64_t k = 0; k < r; k++)
            for (int64_t i = 0; i < in; i++) {
                double acc = 0;
                for (int64_t n = 0; n < N; n++) {
                    double xd = keep ? (keep[n * in + i] ? (double)x[n * in + i] * kf : 0.0) : (double)x[n * in + i];
                    acc += du[n * r + k] * xd;
                }
                dA[k * in + i] = (real)((double)dA[k * in + i] + acc);
            }
    }
    if (dx) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < in; i++) {
                double f = keep ? (keep[n * in + i] ? kf : 0.0) : 1.0;
                if (f == 0.0) continue;
                double acc = 0;
                for (int64_t k = 0; k < r; k++)
                    acc += du[n * r + k] * A[k * in + i];
                dx[n * in + i] = (real)((double)dx[n * in + i] + f * acc);
            }
    }
    free(du);
    return CLFT_OK;
}

#undef real
