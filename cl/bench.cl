/* bench.cl - microkernels that measure a device's limits for the kernel benchmark.
 *   bench_copy_f32   (dst[n4] float4, src[n4] float4): dst = src            -> copy bandwidth
 *   bench_fma_f32    (out[global] float, iters int, seed float): chains of fma -> fp32 peak
 * Tunables: BENCH_CHAINS (independent fma chains per work-item, default 16). */
#ifndef BENCH_CHAINS
#define BENCH_CHAINS 16
#endif

__kernel void bench_copy_f32(__global float4 *restrict dst, __global const float4 *restrict src, ulong n4) {
    size_t i = get_global_id(0);
    if (i < n4) dst[i] = src[i];
}

/* Each work-item runs BENCH_CHAINS independent chains of `iters` fused multiply-adds
 * (2 FLOP each). The result is stored so that nothing is optimized away. */
__kernel void bench_fma_f32(__global float *restrict out, int iters, float seed) {
    float a = seed + (float)get_global_id(0) * 1e-7f;
    float acc[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) acc[c] = a + (float)c;
    const float m = 0.999f, k = 1e-4f;
    for (int it = 0; it < iters; it++) {
#pragma unroll
        for (int c = 0; c < BENCH_CHAINS; c++) acc[c] = fma(acc[c], m, k);
    }
    float s = 0.0f;
    for (int c = 0; c < BENCH_CHAINS; c++) s += acc[c];
    out[get_global_id(0)] = s;
}
