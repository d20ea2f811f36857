/* norm.cl - RMSNorm (HF LlamaRMSNorm), forward and backward, f32.
 *   rmsnorm_fwd_f32   (out (N,C), rstd (N), x (N,C), w (C), C, eps)   one work-group per row
 *   rmsnorm_bwd_f32   (dx (N,C) =, d_out (N,C), x (N,C), w (C), rstd (N), C)  one work-group per row
 *   rmsnorm_dw_f32    (dw (C) +=, d_out (N,C), x (N,C), rstd (N), N, C)     one work-item per column
 * Every buffer argument is followed by its offset in elements. Row reductions go through local
 * memory in a fixed order, so results are deterministic.
 * Tunables: NORM_WG (work-group size of the row kernels, power of two, default 64). */
#ifndef NORM_WG
#define NORM_WG 64
#endif

/* Sum of `v` over the work-group (NORM_WG items), returned to every item. */
inline float norm_wg_sum(float v, __local float *scratch) {
    const int l = (int)get_local_id(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = NORM_WG / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void rmsnorm_fwd_f32(__global float *out, ulong out_off, __global float *rstd, ulong rstd_off,
                     __global const float *x, ulong x_off, __global const float *w, ulong w_off, int C,
                     float eps) {
    __local float scratch[NORM_WG];
    const size_t row = get_group_id(0);
    const int l = (int)get_local_id(0);
    __global const float *xr = x + x_off + row * (size_t)C;
    __global float *orow = out + out_off + row * (size_t)C;
    float ss = 0.0f;
    for (int c = l; c < C; c += NORM_WG) ss += xr[c] * xr[c];
    ss = norm_wg_sum(ss, scratch);
    const float r = rsqrt(ss / (float)C + eps);
    if (l == 0) rstd[rstd_off + row] = r;
    for (int c = l; c < C; c += NORM_WG) orow[c] = w[w_off + c] * (xr[c] * r);
}

__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void rmsnorm_bwd_f32(__global float *dx, ulong dx_off, __global const float *d_out, ulong dout_off,
                     __global const float *x, ulong x_off, __global const float *w, ulong w_off,
                     __global const float *rstd, ulong rstd_off, int C) {
    __local float scratch[NORM_WG];
    const size_t row = get_group_id(0);
    const int l = (int)get_local_id(0);
    __global const float *xr = x + x_off + row * (size_t)C;
    __global const float *gr = d_out + dout_off + row * (size_t)C;
    __global float *dr = dx + dx_off + row * (size_t)C;
    const float r = rstd[rstd_off + row];
    float dot = 0.0f;
    for (int c = l; c < C; c += NORM_WG) dot += gr[c] * w[w_off + c] * xr[c];
    dot = norm_wg_sum(dot, scratch);
    const float k = r * r * dot / (float)C;
    for (int c = l; c < C; c += NORM_WG) dr[c] = r * (gr[c] * w[w_off + c] - xr[c] * k);
}

__kernel void rmsnorm_dw_f32(__global float *dw, ulong dw_off, __global const float *d_out, ulong dout_off,
                             __global const float *x, ulong x_off, __global const float *rstd, ulong rstd_off,
                             int N, int C) {
    const int c = (int)get_global_id(0);
    if (c >= C) return;
    float acc = 0.0f;
    for (int n = 0; n < N; n++) {
        const size_t i = (size_t)n * (size_t)C + (size_t)c;
        acc += d_out[dout_off + i] * x[x_off + i] * rstd[rstd_off + n];
    }
    dw[dw_off + c] += acc;
}
