/* rope.cl - rotary position embedding, rotate-half convention (HF apply_rotary_pos_emb), f32.
 *   rope_fwd_f32 (out (N,H,D), x (N,H,D), pos (N) int, inv_freq (D/2), N, H, D, sign)
 * NDRange (D/2, H, N): one work-item per (token, head, i < D/2) rotates the pair (i, i + D/2) by the angle
 * a = pos * inv_freq[i] (formed in f32 as HF does); sign = -1 applies the inverse rotation, which is
 * the backward. out may alias x. Every buffer argument is followed by its offset in elements. */

__kernel void rope_fwd_f32(__global float *out, ulong out_off, __global const float *x, ulong x_off,
                           __global const int *pos, ulong pos_off, __global const float *inv_freq, ulong f_off,
                           int N, int H, int D, float sign) {
    const int hd = D / 2;
    const int i = (int)get_global_id(0), h = (int)get_global_id(1), n = (int)get_global_id(2);
    if (i >= hd || h >= H || n >= N) return;
    const size_t nh = (size_t)n * H + h;
    const float a = (float)pos[pos_off + n] * inv_freq[f_off + i];
    const float c = cos(a), s = sign * sin(a);
    const size_t base = nh * (size_t)D;
    const float x0 = x[x_off + base + i], x1 = x[x_off + base + i + hd];
    out[out_off + base + i] = x0 * c - x1 * s;
    out[out_off + base + i + hd] = x1 * c + x0 * s;
}
