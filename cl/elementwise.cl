/* elementwise.cl - element-wise ops of the Llama block, f32. One work-item per element.
 *   swiglu_fwd_f32     (out, gate, up, n)            out = silu(gate) * up
 *   swiglu_bwd_f32     (d_gate =, d_up =, d_out, gate, up, n)
 *   add_fwd_f32        (out, a, b, n)                out = a + b        (residual; out may alias a)
 *   bias_add_fwd_f32   (out, x, bias, N, C)          out[n,c] = x[n,c] + bias[c]   NDRange (C, N)
 *   bias_grad_f32      (dbias (C) +=, d_out (N,C), N, C)   one work-item per column
 *   scale_f32          (x, s, n)                     x *= s
 *   axpy_f32           (y, a, x, n)                  y += a * x
 * Every buffer argument is followed by its offset in elements. */

inline float clft_sigmoid(float g) { return 1.0f / (1.0f + exp(-g)); }

__kernel void swiglu_fwd_f32(__global float *out, ulong out_off, __global const float *gate, ulong g_off,
                             __global const float *up, ulong u_off, ulong n) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float g = gate[g_off + i];
    out[out_off + i] = g * clft_sigmoid(g) * up[u_off + i];
}

__kernel void swiglu_bwd_f32(__global float *d_gate, ulong dg_off, __global float *d_up, ulong du_off,
                             __global const float *d_out, ulong dout_off, __global const float *gate, ulong g_off,
                             __global const float *up, ulong u_off, ulong n) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float g = gate[g_off + i], u = up[u_off + i], d = d_out[dout_off + i];
    const float s = clft_sigmoid(g);
    d_gate[dg_off + i] = d * u * s * (1.0f + g * (1.0f - s));
    d_up[du_off + i] = d * g * s;
}

__kernel void add_fwd_f32(__global float *out, ulong out_off, __global const float *a, ulong a_off,
                          __global const float *b, ulong b_off, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n) out[out_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void bias_add_fwd_f32(__global float *out, ulong out_off, __global const float *x, ulong x_off,
                               __global const float *bias, ulong b_off, ulong N, int C) {
    const size_t c = get_global_id(0), n = get_global_id(1);
    if (c < (size_t)C && n < N) out[out_off + n * C + c] = x[x_off + n * C + c] + bias[b_off + c];
}

__kernel void bias_grad_f32(__global float *dbias, ulong db_off, __global const float *d_out, ulong dout_off,
                            int N, int C) {
    const int c = (int)get_global_id(0);
    if (c >= C) return;
    float acc = 0.0f;
    for (int n = 0; n < N; n++) acc += d_out[dout_off + (size_t)n * (size_t)C + (size_t)c];
    dbias[db_off + c] += acc;
}

__kernel void scale_f32(__global float *x, ulong x_off, float s, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n) x[x_off + i] *= s;
}

__kernel void axpy_f32(__global float *y, ulong y_off, float a, __global const float *x, ulong x_off, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n) y[y_off + i] += a * x[x_off + i];
}

/* dropout_f32 (out, x, n, p, seed): out = keep ? x / (1-p) : 0 with keep = hash(seed, i) >= p.
 * Counter-based (no state), so backward regenerates the same mask from the same seed. */
inline uint clft_hash_u32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

__kernel void dropout_f32(__global float *out, ulong out_off, __global const float *x, ulong x_off, ulong n, float p,
                          uint seed) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const uint h = clft_hash_u32((uint)i * 0x9e3779b9u ^ clft_hash_u32(seed ^ (uint)(i >> 32)));
    const float u = (float)(h >> 8) * (1.0f / 16777216.0f);
    out[out_off + i] = u >= p ? x[x_off + i] / (1.0f - p) : 0.0f;
}
