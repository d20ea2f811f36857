/* attention.cl - causal self-attention with GQA and an optional sliding window, f32, computed
 * flash-attention style: one pass over the keys with an online softmax, no T x T matrix.
 * Layout: q, out, d_out (B,T,H,D); k, v (B,T,KV,D) (the projection outputs, no transpose);
 * lse, delta (B,H,T). Query head h reads kv head h / (H/KV). Key u is visible from query t iff
 * u <= t and (window == 0 or u > t - window).
 * NDRange (T, H, B) (or (T, KV, B) for dkv): no index divisions (Oclgrind cannot check LLVM's
 * freeze, which div/rem pairs produce).
 *   attention_fwd_f32      one work-item per (b, h, t): out (B,T,H,D), lse (B,H,T)
 *   attention_delta_f32    one work-item per (b, h, t): delta = sum_d d_out * out
 *   attention_bwd_dq_f32   one work-item per (b, h, t): dq (assigns)
 *   attention_bwd_dkv_f32  one work-item per (b, kv head, u): dk, dv (assign), summed over the
 *                          query heads of the group and the queries that see u
 * The backward recomputes the probabilities from q, k and the saved lse. Deterministic (no atomics).
 * Every buffer argument is followed by its offset in elements.
 * Tunables: ATT_D (head dim; required to match the D argument, default 64). */
#ifndef ATT_D
#define ATT_D 64
#endif

#define ATT_ARGS_DIMS int B, int T, int H, int KV, int window, float scale

inline int att_first_key(int t, int window) { return window > 0 ? max(0, t - window + 1) : 0; }

__kernel void attention_fwd_f32(__global float *out, ulong out_off, __global float *lse, ulong lse_off,
                                __global const float *q, ulong q_off, __global const float *k, ulong k_off,
                                __global const float *v, ulong v_off, ATT_ARGS_DIMS) {
    const int t = (int)get_global_id(0), h = (int)get_global_id(1), b = (int)get_global_id(2);
    if (t >= T || h >= H || b >= B) return;
    const size_t gid = ((size_t)b * H + h) * T + t; /* row of lse / delta */
    const int kvh = h / (H / KV);
    __global const float *qr = q + q_off + (((size_t)b * T + t) * H + h) * ATT_D;
    float qv[ATT_D], acc[ATT_D];
    for (int d = 0; d < ATT_D; d++) {
        qv[d] = qr[d] * scale;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int u = att_first_key(t, window); u <= t; u++) {
        const size_t kvrow = (((size_t)b * T + u) * KV + kvh) * ATT_D;
        __global const float *kr = k + k_off + kvrow;
        __global const float *vr = v + v_off + kvrow;
        float s = 0.0f;
        for (int d = 0; d < ATT_D; d++) s += qv[d] * kr[d];
        const float mn = fmax(m, s);
        const float corr = exp(m - mn); /* exp(-inf) = 0 on the first key */
        const float p = exp(s - mn);
        l = l * corr + p;
        for (int d = 0; d < ATT_D; d++) acc[d] = acc[d] * corr + p * vr[d];
        m = mn;
    }
    const float inv = 1.0f / l;
    __global float *orow = out + out_off + (((size_t)b * T + t) * H + h) * ATT_D;
    for (int d = 0; d < ATT_D; d++) orow[d] = acc[d] * inv;
    lse[lse_off + gid] = m + log(l);
}

__kernel void attention_delta_f32(__global float *delta, ulong delta_off, __global const float *d_out,
                                  ulong dout_off, __global const float *out, ulong out_off, int B, int T, int H) {
    const int t = (int)get_global_id(0), h = (int)get_global_id(1), b = (int)get_global_id(2);
    if (t >= T || h >= H || b >= B) return;
    const size_t gid = ((size_t)b * H + h) * T + t; /* row of lse / delta */
    const size_t row = (((size_t)b * T + t) * H + h) * ATT_D;
    float s = 0.0f;
    for (int d = 0; d < ATT_D; d++) s += d_out[dout_off + row + d] * out[out_off + row + d];
    delta[delta_off + gid] = s; /* gid == (b*H + h)*T + t */
}

__kernel void attention_bwd_dq_f32(__global float *dq, ulong dq_off, __global const float *d_out, ulong dout_off,
                                   __global const float *q, ulong q_off, __global const float *k, ulong k_off,
                                   __global const float *v, ulong v_off, __global const float *lse, ulong lse_off,
                                   __global const float *delta, ulong delta_off, ATT_ARGS_DIMS) {
    const int t = (int)get_global_id(0), h = (int)get_global_id(1), b = (int)get_global_id(2);
    if (t >= T || h >= H || b >= B) return;
    const size_t gid = ((size_t)b * H + h) * T + t; /* row of lse / delta */
    const int kvh = h / (H / KV);
    const size_t row = (((size_t)b * T + t) * H + h) * ATT_D;
    float qv[ATT_D], go[ATT_D], acc[ATT_D];
    for (int d = 0; d < ATT_D; d++) {
        qv[d] = q[q_off + row + d] * scale;
        go[d] = d_out[dout_off + row + d];
        acc[d] = 0.0f;
    }
    const float L = lse[lse_off + gid], dl = delta[delta_off + gid];
    for (int u = att_first_key(t, window); u <= t; u++) {
        const size_t kvrow = (((size_t)b * T + u) * KV + kvh) * ATT_D;
        __global const float *kr = k + k_off + kvrow;
        __global const float *vr = v + v_off + kvrow;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < ATT_D; d++) {
            s += qv[d] * kr[d];
            dp += go[d] * vr[d];
        }
        const float ds = exp(s - L) * (dp - dl);
        for (int d = 0; d < ATT_D; d++) acc[d] += ds * kr[d];
    }
    for (int d = 0; d < ATT_D; d++) dq[dq_off + row + d] = acc[d] * scale;
}

__kernel void attention_bwd_dkv_f32(__global float *dk, ulong dk_off, __global float *dv, ulong dv_off,
                                    __global const float *d_out, ulong dout_off, __global const float *q, ulong q_off,
                                    __global const float *k, ulong k_off, __global const float *v, ulong v_off,
                                    __global const float *lse, ulong lse_off, __global const float *delta,
                                    ulong delta_off, ATT_ARGS_DIMS) {
    const int u = (int)get_global_id(0), kvh = (int)get_global_id(1), b = (int)get_global_id(2);
    if (u >= T || kvh >= KV || b >= B) return;
    const int rep = H / KV;
    const size_t kvrow = (((size_t)b * T + u) * KV + kvh) * ATT_D;
    float kv_[ATT_D], vv[ATT_D], dka[ATT_D], dva[ATT_D];
    for (int d = 0; d < ATT_D; d++) {
        kv_[d] = k[k_off + kvrow + d] * scale;
        vv[d] = v[v_off + kvrow + d];
        dka[d] = 0.0f;
        dva[d] = 0.0f;
    }
    const int t_end = window > 0 ? min(T - 1, u + window - 1) : T - 1;
    for (int h = kvh * rep; h < (kvh + 1) * rep; h++) {
        for (int t = u; t <= t_end; t++) {
            const size_t row = (((size_t)b * T + t) * H + h) * ATT_D;
            __global const float *qr = q + q_off + row;
            __global const float *gr = d_out + dout_off + row;
            const size_t st = ((size_t)b * H + h) * T + t;
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < ATT_D; d++) {
                s += qr[d] * kv_[d];
                dp += gr[d] * vv[d];
            }
            const float p = exp(s - lse[lse_off + st]);
            const float ds = p * (dp - delta[delta_off + st]);
            for (int d = 0; d < ATT_D; d++) {
                dva[d] += p * gr[d];
                dka[d] += ds * qr[d];
            }
        }
    }
    for (int d = 0; d < ATT_D; d++) {
        dk[dk_off + kvrow + d] = dka[d] * scale;
        dv[dv_off + kvrow + d] = dva[d];
    }
}
