/* optim.cl - optimizer and gradient-norm kernels, f32.
 *   adamw_step_f32 (p, m, v, g, n, lr, b1, b2, eps, wd, bc1, bc2)  torch.optim.AdamW update; the host
 *       passes the bias corrections bc1 = 1 - b1^step, bc2 = 1 - b2^step
 *   sumsq_partial_f32 (partial (groups), x, n)  per work-group sum of squares (the host adds the
 *       partials in double, deterministic); also propagates NaN/Inf
 * Every buffer argument is followed by its offset in elements.
 * Tunables: SUMSQ_WG (work-group size, power of two, default 256). */
#ifndef SUMSQ_WG
#define SUMSQ_WG 256
#endif

__kernel void adamw_step_f32(__global float *p, ulong p_off, __global float *m, ulong m_off, __global float *v,
                             ulong v_off, __global const float *g, ulong g_off, ulong n, float lr, float b1, float b2,
                             float eps, float wd, float bc1, float bc2) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    float pi = p[p_off + i];
    const float gi = g[g_off + i];
    pi -= lr * wd * pi;
    const float mi = b1 * m[m_off + i] + (1.0f - b1) * gi;
    const float vi = b2 * v[v_off + i] + (1.0f - b2) * gi * gi;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    pi -= lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
    p[p_off + i] = pi;
}

__kernel __attribute__((reqd_work_group_size(SUMSQ_WG, 1, 1)))
void sumsq_partial_f32(__global float *partial, ulong part_off, __global const float *x, ulong x_off, ulong n) {
    __local float scratch[SUMSQ_WG];
    const int l = (int)get_local_id(0);
    const size_t groups = get_num_groups(0);
    float acc = 0.0f;
    for (size_t i = get_group_id(0) * SUMSQ_WG + (size_t)l; i < n; i += groups * SUMSQ_WG) {
        const float xi = x[x_off + i];
        acc += xi * xi;
    }
    scratch[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = SUMSQ_WG / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) partial[part_off + get_group_id(0)] = scratch[0];
}
