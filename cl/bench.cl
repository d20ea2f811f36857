/* bench.cl - microkernels that measure a device's limits for the kernel benchmark.
 *   bench_copy_f32   (dst[n4] float4, src[n4] float4, n4 ulong): dst = src        -> copy bandwidth
 *   bench_copy16_f32 (dst[n16] float16, src[n16] float16, n16 ulong): the same, one float16 per
 *                    work-item (what CPU devices move best: one 64-byte vector load and store)
 *   bench_copy16x_f32 (same arguments): BENCH_COPY_CHUNK float16 per work-item
 *   bench_copy16nt_f32 (same arguments): one float16 per work-item, non-temporal store
 *   bench_fill16nt_f32 (dst[n16] float16, v float, n16 ulong): dst = v            -> write bandwidth
 *   bench_fma_f32    (out[global] float, iters int, seed float): chains of fma    -> fp32 peak
 * Tunables: BENCH_CHAINS (independent fma chains per work-item, 1..16, default 8) and
 * BENCH_VEC (their vector width: 1, 2, 4, 8 or 16, default 16).
 * Each chain is its own named variable (no private array, which a compiler may keep in memory),
 * and each step is one vector fma, so a CPU compiler emits one SIMD FMA per chain per step
 * without having to vectorize across work-items (PoCL only does that for innermost loops, and the
 * chains are a loop-carried dependency). With 8 chains of float16 there are 8 independent FMAs in
 * flight per core: enough to cover the latency of two FMA pipes. On GPUs use BENCH_VEC 1..4. */
#ifndef BENCH_CHAINS
#define BENCH_CHAINS 8
#endif
#ifndef BENCH_VEC
#define BENCH_VEC 16
#endif

#define BV_CAT_(a, b) a##b
#define BV_CAT(a, b) BV_CAT_(a, b)
#if BENCH_VEC == 1
#define bvec float
#else
#define bvec BV_CAT(float, BENCH_VEC)
#endif

__kernel void bench_copy_f32(__global float4 *restrict dst, __global const float4 *restrict src, ulong n4) {
    size_t i = get_global_id(0);
    if (i < n4) dst[i] = src[i];
}

__kernel void bench_copy16_f32(__global float *restrict dst, __global const float *restrict src, ulong n16) {
    size_t i = get_global_id(0);
    if (i < n16) vstore16(vload16(i, src), i, dst);
}

/* BENCH_COPY_CHUNK consecutive float16 per work-item (a CPU thread streams through 1 KiB
 * instead of paying the work-item loop once per 64 bytes) */
#ifndef BENCH_COPY_CHUNK
#define BENCH_COPY_CHUNK 16
#endif
__kernel void bench_copy16x_f32(__global float *restrict dst, __global const float *restrict src, ulong n16) {
    const size_t i0 = get_global_id(0) * BENCH_COPY_CHUNK;
    for (size_t j = 0; j < BENCH_COPY_CHUNK; j++)
        if (i0 + j < n16) vstore16(vload16(i0 + j, src), i0 + j, dst);
}

/* the same with non-temporal stores (CPUs: no read-for-ownership of dst), where the compiler has
 * the clang built-in; the dequantization kernels use such stores, so the copy limit must too */
__kernel void bench_copy16nt_f32(__global float16 *restrict dst, __global const float16 *restrict src, ulong n16) {
    size_t i = get_global_id(0);
#if defined(__clang__)
    if (i < n16) __builtin_nontemporal_store(src[i], dst + i);
#else
    if (i < n16) dst[i] = src[i];
#endif
}

/* write-only bandwidth: dst = v with non-temporal stores where available (a dequantization that
 * writes 4 bytes per 0.5 byte read is bounded by this rather than by the copy bandwidth) */
__kernel void bench_fill16nt_f32(__global float16 *restrict dst, float v, ulong n16) {
    size_t i = get_global_id(0);
#if defined(__clang__)
    if (i < n16) __builtin_nontemporal_store((float16)(v), dst + i);
#else
    if (i < n16) dst[i] = (float16)(v);
#endif
}

/* Each work-item runs BENCH_CHAINS independent chains of `iters` fused multiply-adds on
 * BENCH_VEC lanes (2 FLOP per lane). The result is stored so that nothing is optimized away. */
#define BENCH_STEP(c) a##c = fma(a##c, m, k)
__kernel void bench_fma_f32(__global float *restrict out, int iters, float seed) {
    const bvec a = (bvec)(seed + (float)get_global_id(0) * 1e-7f);
    const bvec m = (bvec)(0.999f), k = (bvec)(1e-4f);
    bvec a0 = a, a1 = a + 1.0f, a2 = a + 2.0f, a3 = a + 3.0f, a4 = a + 4.0f, a5 = a + 5.0f, a6 = a + 6.0f,
         a7 = a + 7.0f, a8 = a + 8.0f, a9 = a + 9.0f, a10 = a + 10.0f, a11 = a + 11.0f, a12 = a + 12.0f,
         a13 = a + 13.0f, a14 = a + 14.0f, a15 = a + 15.0f;
    for (int it = 0; it < iters; it++) {
        BENCH_STEP(0);
#if BENCH_CHAINS > 1
        BENCH_STEP(1);
#endif
#if BENCH_CHAINS > 2
        BENCH_STEP(2);
#endif
#if BENCH_CHAINS > 3
        BENCH_STEP(3);
#endif
#if BENCH_CHAINS > 4
        BENCH_STEP(4);
#endif
#if BENCH_CHAINS > 5
        BENCH_STEP(5);
#endif
#if BENCH_CHAINS > 6
        BENCH_STEP(6);
#endif
#if BENCH_CHAINS > 7
        BENCH_STEP(7);
#endif
#if BENCH_CHAINS > 8
        BENCH_STEP(8);
#endif
#if BENCH_CHAINS > 9
        BENCH_STEP(9);
#endif
#if BENCH_CHAINS > 10
        BENCH_STEP(10);
#endif
#if BENCH_CHAINS > 11
        BENCH_STEP(11);
#endif
#if BENCH_CHAINS > 12
        BENCH_STEP(12);
#endif
#if BENCH_CHAINS > 13
        BENCH_STEP(13);
#endif
#if BENCH_CHAINS > 14
        BENCH_STEP(14);
#endif
#if BENCH_CHAINS > 15
        BENCH_STEP(15);
#endif
    }
    /* chains not stepped are sums of constants: fold all 16 so each stepped chain is used */
    bvec s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15));
#if BENCH_VEC == 1
    out[get_global_id(0)] = s;
#else
    float t = 0.0f;
    for (int l = 0; l < BENCH_VEC; l++) t += ((float *)&s)[l];
    out[get_global_id(0)] = t;
#endif
}
