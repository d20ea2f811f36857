/* attention.cl - causal self-attention with GQA and an optional sliding window, f32, computed
 * flash-attention style: one pass over the keys with an online softmax, no T x T matrix.
 * Layout: q, out, d_out (B,T,H,D); k, v (B,T,KV,D) (the projection outputs, no transpose);
 * lse, delta (B,H,T); seg (B,T) int segment ids of packed rows. Query head h reads kv head h / (H/KV).
 * Key u is visible from query t iff u <= t and (window == 0 or u > t - window), and, built with
 * ATT_SEG=1, seg[u] == seg[t] >= 0 or u == t (a negative id is padding: it sees only itself).
 * NDRange (T, H, B) (or (T, KV, B) for dkv): no index divisions (Oclgrind cannot check LLVM's
 * freeze, which div/rem pairs produce).
 *   attention_fwd_f32      one work-item per (b, h, t): out (B,T,H,D), lse (B,H,T)
 *   attention_delta_f32    one work-item per (b, h, t): delta = sum_d d_out * out
 *   attention_bwd_dq_f32   one work-item per (b, h, t): dq (assigns)
 *   attention_bwd_dkv_f32  one work-item per (b, kv head, u): dk, dv (assign), summed over the
 *                          query heads of the group and the queries that see u
 * The backward recomputes the probabilities from q, k and the saved lse. Deterministic (no atomics).
 * Every buffer argument is followed by its offset in elements.
 * Tunables: ATT_D (head dim; required to match the D argument, default 64); ATT_SEG (1: mask by the
 * seg argument; 0, the default: one segment per row, seg is never read and may be any buffer). */
#ifndef ATT_D
#define ATT_D 64
#endif
#ifndef ATT_SEG
#define ATT_SEG 0
#endif

#define ATT_ARGS_DIMS int B, int T, int H, int KV, int window, float scale

inline int att_first_key(int t, int window) { return window > 0 ? max(0, t - window + 1) : 0; }

/* the segment rule for key u of query t, sq = seg[t], su = seg[u] (ATT_SEG builds only) */
inline int att_same_seg(int t, int u, int sq, int su) { return u == t || (sq >= 0 && su == sq); }

__kernel void attention_fwd_f32(__global float *out, ulong out_off, __global float *lse, ulong lse_off,
                                __global const float *q, ulong q_off, __global const float *k, ulong k_off,
                                __global const float *v, ulong v_off, __global const int *seg, ulong seg_off,
                                ATT_ARGS_DIMS) {
    const int t = (int)get_global_id(0), h = (int)get_global_id(1), b = (int)get_global_id(2);
    if (t >= T || h >= H || b >= B) return;
    const size_t gid = ((size_t)b * H + h) * T + t; /* row of lse / delta */
    const int kvh = h / (H / KV);
    __global const int *sr = seg + seg_off + (size_t)b * T;
    const int sq = ATT_SEG ? sr[t] : 0;
    __global const float *qr = q + q_off + (((size_t)b * T + t) * H + h) * ATT_D;
    float qv[ATT_D], acc[ATT_D];
    for (int d = 0; d < ATT_D; d++) {
        qv[d] = qr[d] * scale;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int u = ATT_SEG && sq < 0 ? t : att_first_key(t, window); u <= t; u++) {
        if (ATT_SEG && !att_same_seg(t, u, sq, sr[u])) continue;
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
                                   __global const float *delta, ulong delta_off, __global const int *seg,
                                   ulong seg_off, ATT_ARGS_DIMS) {
    const int t = (int)get_global_id(0), h = (int)get_global_id(1), b = (int)get_global_id(2);
    if (t >= T || h >= H || b >= B) return;
    const size_t gid = ((size_t)b * H + h) * T + t; /* row of lse / delta */
    const int kvh = h / (H / KV);
    __global const int *sr = seg + seg_off + (size_t)b * T;
    const int sq = ATT_SEG ? sr[t] : 0;
    const size_t row = (((size_t)b * T + t) * H + h) * ATT_D;
    float qv[ATT_D], go[ATT_D], acc[ATT_D];
    for (int d = 0; d < ATT_D; d++) {
        qv[d] = q[q_off + row + d] * scale;
        go[d] = d_out[dout_off + row + d];
        acc[d] = 0.0f;
    }
    const float L = lse[lse_off + gid], dl = delta[delta_off + gid];
    for (int u = ATT_SEG && sq < 0 ? t : att_first_key(t, window); u <= t; u++) {
        if (ATT_SEG && !att_same_seg(t, u, sq, sr[u])) continue;
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
                                    ulong delta_off, __global const int *seg, ulong seg_off, ATT_ARGS_DIMS) {
    const int u = (int)get_global_id(0), kvh = (int)get_global_id(1), b = (int)get_global_id(2);
    if (u >= T || kvh >= KV || b >= B) return;
    const int rep = H / KV;
    __global const int *sr = seg + seg_off + (size_t)b * T;
    const int su = ATT_SEG ? sr[u] : 0;
    const size_t kvrow = (((size_t)b * T + u) * KV + kvh) * ATT_D;
    float kv_[ATT_D], vv[ATT_D], dka[ATT_D], dva[ATT_D];
    for (int d = 0; d < ATT_D; d++) {
        kv_[d] = k[k_off + kvrow + d] * scale;
        vv[d] = v[v_off + kvrow + d];
        dka[d] = 0.0f;
        dva[d] = 0.0f;
    }
    const int t_end = ATT_SEG && su < 0 ? u : window > 0 ? min(T - 1, u + window - 1) : T - 1;
    for (int h = kvh * rep; h < (kvh + 1) * rep; h++) {
        for (int t = u; t <= t_end; t++) {
            if (ATT_SEG && !att_same_seg(t, u, sr[t], su)) continue;
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

/* ---- blocked path: the GEMM layer computes S = Q K^T for a block of queries, these kernels do the
 * masked softmax in between. S holds KV matrices of (rows, nk): row i is query t = q0 + i of head
 * h = kvh * rep + g, column j is key u = k0 + j.
 *   attention_softmax_f32  (S -> P in place, lse (B,H,T))       one work-group per (row, kvh)
 *   attention_dsoftmax_f32 (S -> P, dP -> dS in place)           one work-item per element
 * Both take seg (B,T) and mask as the direct kernels do (ATT_SEG). */
#ifndef ATT_WG
#define ATT_WG 64
#endif

inline int att_visible(int t, int u, int window) { return u <= t && (window <= 0 || u > t - window); }
/* ... and, in ATT_SEG builds, in the segment of query t (sq = seg[t]; sr: the row's segment ids) */
inline int att_visible_seg(int t, int u, int window, int sq, __global const int *sr) {
    return att_visible(t, u, window) && (!ATT_SEG || att_same_seg(t, u, sq, sr[u]));
}

__kernel __attribute__((reqd_work_group_size(ATT_WG, 1, 1)))
void attention_softmax_f32(__global float *S, ulong s_off, __global float *lse, ulong lse_off,
                           __global const int *seg, ulong seg_off, int rows, int nk, int q0, int k0, int b, int g,
                           int rep, int H, int T, int window) {
    __local float scratch[ATT_WG];
    const int i = (int)get_group_id(0), kvh = (int)get_group_id(1), l = (int)get_local_id(0);
    const int t = q0 + i;
    __global const int *sr = seg + seg_off + (size_t)b * T;
    const int sq = ATT_SEG ? sr[t] : 0;
    __global float *row = S + s_off + ((size_t)kvh * rows + i) * (size_t)nk;
    float mx = -INFINITY;
    for (int j = l; j < nk; j += ATT_WG)
        if (att_visible_seg(t, k0 + j, window, sq, sr)) mx = fmax(mx, row[j]);
    scratch[l] = mx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ATT_WG / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] = fmax(scratch[l], scratch[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    mx = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float se = 0.0f;
    for (int j = l; j < nk; j += ATT_WG)
        if (att_visible_seg(t, k0 + j, window, sq, sr)) se += exp(row[j] - mx);
    scratch[l] = se;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ATT_WG / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float L = mx + log(scratch[0]);
    for (int j = l; j < nk; j += ATT_WG) row[j] = att_visible_seg(t, k0 + j, window, sq, sr) ? exp(row[j] - L) : 0.0f;
    if (l == 0) lse[lse_off + ((size_t)b * H + (size_t)(kvh * rep + g)) * T + t] = L;
}

__kernel void attention_dsoftmax_f32(__global float *S, ulong s_off, __global float *dP, ulong dp_off,
                                     __global const float *lse, ulong lse_off, __global const float *delta,
                                     ulong delta_off, __global const int *seg, ulong seg_off, int rows, int nk, int q0,
                                     int k0, int b, int g, int rep, int H, int T, int window) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1), kvh = (int)get_global_id(2);
    if (j >= nk || i >= rows) return;
    const int t = q0 + i;
    const size_t e = ((size_t)kvh * rows + i) * (size_t)nk + j;
    const size_t st = ((size_t)b * H + (size_t)(kvh * rep + g)) * T + t;
    __global const int *sr = seg + seg_off + (size_t)b * T;
    const int sq = ATT_SEG ? sr[t] : 0;
    const float p = att_visible_seg(t, k0 + j, window, sq, sr) ? exp(S[s_off + e] - lse[lse_off + st]) : 0.0f;
    S[s_off + e] = p;
    dP[dp_off + e] = p * (dP[dp_off + e] - delta[delta_off + st]);
}
