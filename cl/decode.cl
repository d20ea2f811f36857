/* decode.cl - kernels of the generator's passes (src/model/generate.c) that fuse what training runs as
 * separate launches.
 *   rope_qk_fwd_f32 (q (N,H,D), k (N,KV,D), pos (N) int, inv_freq (D/2), N, H, KV, D)
 *       RoPE (rotate-half, as rope_fwd_f32 of cl/rope.cl, sign +1) of the queries and the keys of the
 *       same N tokens in place, in one launch: NDRange (D/2, N), one work-item per (i < D/2, token)
 *       forms the angle pos * inv_freq[i] and its cos and sin once and rotates the pair (i, i + D/2)
 *       of every query head and then every key head. rope_fwd_f32 computes them once per head: a
 *       decoded token of 12 query and 4 key heads took PoCL 85 us there, most of it in sin and cos.
 * Every buffer argument is followed by its offset in elements. No tunables, no extensions. */

/* (the same expressions as rope_fwd_f32: the same rounding where the compiler contracts alike) */
inline void rope_qk_rotate(__global float *x, size_t base, int i, int hd, float c, float s) {
    const float x0 = x[base + i], x1 = x[base + i + hd];
    x[base + i] = x0 * c - x1 * s;
    x[base + i + hd] = x1 * c + x0 * s;
}

__kernel void rope_qk_fwd_f32(__global float *q, ulong q_off, __global float *k, ulong k_off, __global const int *pos,
                              ulong pos_off, __global const float *inv_freq, ulong f_off, int N, int H, int KV, int D) {
    const int hd = D / 2;
    const int i = (int)get_global_id(0), n = (int)get_global_id(1);
    if (i >= hd || n >= N) return;
    const float a = (float)pos[pos_off + n] * inv_freq[f_off + i];
    const float c = cos(a), s = sin(a);
    for (int h = 0; h < H; h++)
        rope_qk_rotate(q, q_off + ((size_t)n * H + h) * (size_t)D, i, hd, c, s);
    for (int h = 0; h < KV; h++)
        rope_qk_rotate(k, k_off + ((size_t)n * KV + h) * (size_t)D, i, hd, c, s);
}
