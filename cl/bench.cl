/* bench.cl - microkernels that measure a device's limits for the kernel benchmark.
 *   bench_copy_f32   (dst[n4] float4, src[n4] float4, n4 ulong): dst = src        -> copy bandwidth
 *   bench_copy16_f32 (dst[n16] float16, src[n16] float16, n16 ulong): the same, one float16 per
 *                    work-item (what CPU devices move best: one 64-byte vector load and store)
 *   bench_copy16x_f32 (same arguments): BENCH_COPY_CHUNK float16 per work-item
 *   bench_copy16nt_f32 (same arguments): one float16 per work-item, non-temporal store
 *   bench_fill16nt_f32 (dst[n16] float16, v float, n16 ulong): dst = v            -> write bandwidth
 *   bench_fma_f32    (out[global] float, iters int, seed float): chains of fma    -> fp32 peak
 *   bench_fma_f16    the same in half precision, built with -DBENCH_HALF=1 (needs cl_khr_fp16)
 *   bench_read16_f32 (out[global] float, src[n16] float16, n16 ulong): each work-item sums
 *                    BENCH_READ_CHUNK consecutive float16 (CPUs) or, with -DBENCH_READ_STRIDED=1,
 *                    float16s a global size apart (GPUs: neighbours read neighbours) -> read bandwidth
 *   bench_fill16_f32 (dst[n16] float16, v float, n16 ulong): dst = v, plain stores
 *   bench_empty      (): nothing                                                  -> launch latency
 * Tunables: BENCH_CHAINS (independent fma chains per work-item, 1..16, default 8) and
 * BENCH_VEC (their vector width: 1, 2, 4, 8 or 16, default 16), BENCH_HALF (0 or 1),
 * BENCH_READ_CHUNK (float16 per work-item, default 16), BENCH_READ_STRIDED (0 or 1).
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

#ifndef BENCH_HALF
#define BENCH_HALF 0
#endif
#if BENCH_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#define bscalar          half
#define BENCH_FMA_KERNEL bench_fma_f16
#else
#define bscalar          float
#define BENCH_FMA_KERNEL bench_fma_f32
#endif
#define BS(x) ((bscalar)(x))

#define BV_CAT_(a, b) a##b
#define BV_CAT(a, b) BV_CAT_(a, b)
#if BENCH_VEC == 1
#define bvec bscalar
#else
#define bvec BV_CAT(bscalar, BENCH_VEC)
#endif

__kernel void bench_empty(void) {}

#ifndef BENCH_READ_CHUNK
#define BENCH_READ_CHUNK 16
#endif
#ifndef BENCH_READ_STRIDED
#define BENCH_READ_STRIDED 0
#endif
/* read bandwidth: the sum is stored (one float per work-item, BENCH_READ_CHUNK * 64 bytes read) so
 * that no load can be dropped */
__kernel void bench_read16_f32(__global float *restrict out, __global const float16 *restrict src, ulong n16) {
    const size_t g = get_global_id(0);
    float16 acc = (float16)(0.0f);
#if BENCH_READ_STRIDED == 1
    const size_t step = get_global_size(0);
    for (size_t j = 0; j < BENCH_READ_CHUNK; j++)
        if (g + j * step < n16) acc += src[g + j * step];
#elif BENCH_READ_STRIDED == 2 /* a work-group reads one block, its work-items a local size apart; the
                               * host makes the blocks tile the buffer (no bounds checks to vectorize) */
    const uint step = (uint)get_local_size(0);
    uint i = (uint)get_group_id(0) * step * BENCH_READ_CHUNK + (uint)get_local_id(0);
    for (int j = 0; j < BENCH_READ_CHUNK; j++, i += step)
        acc += src[i];
#else
    const size_t i0 = g * BENCH_READ_CHUNK;
    for (size_t j = 0; j < BENCH_READ_CHUNK; j++)
        if (i0 + j < n16) acc += src[i0 + j];
#endif
    const float8 h = acc.lo + acc.hi;
    const float4 q = h.lo + h.hi;
    out[g] = (q.x + q.y) + (q.z + q.w);
}

__kernel void bench_fill16_f32(__global float16 *restrict dst, float v, ulong n16) {
    size_t i = get_global_id(0);
    if (i < n16) dst[i] = (float16)(v);
}

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
__kernel void BENCH_FMA_KERNEL(__global float *restrict out, int iters, float seed) {
    const bvec a = (bvec)(BS(seed + (float)get_global_id(0) * 1e-7f));
    const bvec m = (bvec)(BS(0.999f)), k = (bvec)(BS(1e-4f));
    bvec a0 = a, a1 = a + BS(1.0f), a2 = a + BS(2.0f), a3 = a + BS(3.0f), a4 = a + BS(4.0f), a5 = a + BS(5.0f),
         a6 = a + BS(6.0f), a7 = a + BS(7.0f), a8 = a + BS(8.0f), a9 = a + BS(9.0f), a10 = a + BS(10.0f),
         a11 = a + BS(11.0f), a12 = a + BS(12.0f), a13 = a + BS(13.0f), a14 = a + BS(14.0f), a15 = a + BS(15.0f);
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
    out[get_global_id(0)] = (float)s;
#else
    float t = 0.0f;
    for (int l = 0; l < BENCH_VEC; l++) t += (float)((bscalar *)&s)[l];
    out[get_global_id(0)] = t;
#endif
}
