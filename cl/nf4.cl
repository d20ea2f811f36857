/* nf4.cl - dequantization of bitsandbytes 4-bit weights (NF4 and FP4: the code table is an
 * argument) and conversion of 16-bit weight storage, for the layout of src/ops/weight.h.
 *
 * Kernels (one work-item per NF4_GROUPS groups of 16 elements; global size
 * ceil(numel / (16 * NF4_GROUPS))):
 *   dequant_nf4_{f32,f16,bf16}(out[numel], packed[(numel+1)/2] uchar, code[16] f32,
 *                              absmax[nblocks] f32, numel ulong, blocksize_log2 uint)
 *   dequant_nf4_{f32,f16,bf16}_dq(out[numel], packed, code[16],
 *                              qabsmax[nblocks] uchar, nested_absmax[ceil(nblocks/nbs)] f32,
 *                              nested_code[256] f32, offset f32, numel ulong, blocksize_log2 uint,
 *                              nested_blocksize_log2 uint)
 *   convert_f16_to_f32(out[n] f32, in[n] half bits, n ulong)     (vload_half: no cl_khr_fp16)
 *   convert_bf16_to_f32(out[n] f32, in[n] ushort, n ulong)
 * Element e has code nibble (packed[e/2] >> 4) for even e, (packed[e/2] & 15) for odd e, and
 * value code[nibble] * absmax[e >> blocksize_log2]; with double quantization
 * absmax[b] = nested_code[qabsmax[b]] * nested_absmax[b >> nested_log2] + offset (two roundings:
 * FP_CONTRACT is off so the results match src/quant/quant.c bit for bit). f16 and bf16 outputs
 * round the f32 value to nearest even (vstore_half_rte, clft_f32_to_bf16).
 * A group of 16 never straddles a block (blocksizes are powers of two >= 32); the last, partial
 * group takes a scalar path. The 16 nibbles are unpacked with one variable shift of a uint16 and
 * looked up in the code table held in a float16 (no per-element loads):
 * Tunable NF4_LUT: how the lookup is done. 0 (default) picks: 3 on a CPU device whose compiler
 * targets AVX-512 (one vpermps through a clang x86 built-in: PoCL), 2 on AVX2 (two vpermps and a
 * blend), else 1: the portable shuffle() built-in, which GPUs do in registers but PoCL compiles to
 * 16 scalar extracts (3x slower there). 3 or 2 asked of a compiler without that target falls back
 * (nf4_lut_variant(out[1] int) writes the one built).
 * Tunable NF4_STORE (below): plain, aligned or non-temporal stores; f16 output always uses
 * vstore_half16_rte. Tunable NF4_GROUPS (default 1; the host passes 4, or 2 for blocksize 32):
 * groups per work-item, all in one block. No extensions needed. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef NF4_LUT
#define NF4_LUT 0
#endif
/* a requested x86 permute the device's compiler does not target falls back to the next one (the
 * kernel nf4_lut_variant reports what was built) */
#if NF4_LUT == 3 && !(defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX512F__))
#undef NF4_LUT
#define NF4_LUT 0
#endif
#if NF4_LUT == 2 && !(defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX2__))
#undef NF4_LUT
#define NF4_LUT 0
#endif
#if NF4_LUT == 0 /* auto */
#undef NF4_LUT
#if defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX512F__)
#define NF4_LUT 3
#elif defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX2__)
#define NF4_LUT 2
#else
#define NF4_LUT 1
#endif
#endif

/* How a group of 16 outputs is stored: 0 vstore (any alignment), 1 aligned vector store,
 * 2 non-temporal aligned vector store (a CPU writes the output without first reading it into the
 * cache: the output of a whole layer is larger than the cache and is read back by the GEMM later).
 * 1 and 2 need `out` 64-byte aligned (a whole buffer: the host passes 0 otherwise). */
#ifndef NF4_STORE
#if defined(CLFT_DEVICE_CPU) && defined(__clang__)
#define NF4_STORE 2
#else
#define NF4_STORE 0
#endif
#endif
#if NF4_STORE == 2
#define NF4_VSTORE(v, p) __builtin_nontemporal_store((v), (p))
#else
#define NF4_VSTORE(v, p) (*(p) = (v))
#endif

/* the 16 element codes of 8 packed bytes: element 2i is the high nibble of byte i */
inline uint16 nf4_nibbles16(uchar8 b) {
    const uint2 w = as_uint2(b); /* little-endian: byte i is bits 8i..8i+7 of its word */
    /* lanes 0-7 read word 0, lanes 8-15 word 1 (written out: Oclgrind 21.10 crashes in its
     * --uninitialized check on the (uint16)((uint8)x, (uint8)y) form) */
    const uint16 src = (uint16)(w.s0, w.s0, w.s0, w.s0, w.s0, w.s0, w.s0, w.s0, w.s1, w.s1, w.s1, w.s1, w.s1, w.s1, w.s1,
                                w.s1);
    const uint16 sh = (uint16)(4, 0, 12, 8, 20, 16, 28, 24, 4, 0, 12, 8, 20, 16, 28, 24);
    return (src >> sh) & (uint16)15u;
}

/* tbl[idx] for 16 lanes */
inline float16 nf4_lookup16(float16 tbl, uint16 idx) {
#if NF4_LUT == 3 /* one AVX-512 vpermps */
    return __builtin_ia32_permvarsf512(tbl, as_int16(idx));
#elif NF4_LUT == 2 /* two AVX2 vpermps of the table halves and a blend on bit 3 */
    const int16 i = as_int16(idx);
    const float8 lo0 = __builtin_ia32_permvarsf256(tbl.lo, i.lo), hi0 = __builtin_ia32_permvarsf256(tbl.hi, i.lo);
    const float8 lo1 = __builtin_ia32_permvarsf256(tbl.lo, i.hi), hi1 = __builtin_ia32_permvarsf256(tbl.hi, i.hi);
    const int16 up = i << 28; /* bit 3 to the sign bit */
    return select((float16)(lo0, lo1), (float16)(hi0, hi1), up);
#else /* portable: the shuffle() built-in (GPUs index registers; CPU compilers may go scalar) */
    return shuffle(tbl, idx);
#endif
}

/* 16 codes of 8 packed bytes, scaled by a */
inline float16 nf4_group16(uchar8 b, float16 tbl, float a) { return nf4_lookup16(tbl, nf4_nibbles16(b)) * a; }

inline float nf4_code_at(__global const uchar *packed, __global const float *code, ulong e) {
    const uchar byte = packed[e >> 1];
    return code[(e & 1) ? (byte & 15) : (byte >> 4)];
}

inline float nf4_absmax_dq(__global const uchar *qabsmax, __global const float *nested_absmax,
                           __global const float *nested_code, float offset, ulong b, uint nested_log2) {
    const float t = nested_code[qabsmax[b]] * nested_absmax[b >> nested_log2];
    return t + offset;
}

inline ushort16 nf4_to_bf16_16(float16 v) { /* clft_f32_to_bf16 on 16 lanes, integer ops only */
    const uint16 u = as_uint16(v);
    const uint16 r = (u + (uint16)0x7fffu + ((u >> 16) & (uint16)1u)) >> 16;
    const uint16 q = (u >> 16) | (uint16)0x40u;
    const int16 nan_ = (u & (uint16)0x7fffffffu) > (uint16)0x7f800000u; /* -1 where NaN */
    return convert_ushort16(select(r, q, nan_));
}

/* Groups of 16 per work-item: all in one block (the host passes NF4_GROUPS <= blocksize / 16), so
 * the block's absmax, which costs three dependent loads with double quantization, is computed once. */
#ifndef NF4_GROUPS
#define NF4_GROUPS 1
#endif

/* STORE16(v, g) stores the 16 values of group g, STORE1(x, e) one value at element e */
#define NF4_BODY(STORE16, STORE1)                                                                        \
    const float16 tbl = vload16(0, code);                                                                \
    for (int j = 0; j < NF4_GROUPS; j++) {                                                               \
        const ulong g = g0 + j, e = g * 16;                                                              \
        if (e + 16 <= numel) {                                                                           \
            STORE16(nf4_group16(vload8(g, packed), tbl, a), g);                                          \
        } else {                                                                                         \
            for (ulong i = e; i < numel; i++) {                                                          \
                const float x = nf4_code_at(packed, code, i) * a;                                        \
                STORE1(x, i);                                                                            \
            }                                                                                            \
            break;                                                                                       \
        }                                                                                                \
    }

#define NF4_KERNELS(SUFFIX, OUT_T, STORE16, STORE1)                                                     \
    __kernel void dequant_nf4_##SUFFIX(__global OUT_T *restrict out, __global const uchar *restrict packed, \
                                        __global const float *restrict code,                             \
                                        __global const float *restrict absmax, ulong numel,              \
                                        uint blocksize_log2) {                                           \
        const ulong g0 = get_global_id(0) * NF4_GROUPS;                                                  \
        if (g0 * 16 >= numel) return;                                                                    \
        const float a = absmax[(g0 * 16) >> blocksize_log2];                                             \
        NF4_BODY(STORE16, STORE1)                                                                        \
    }                                                                                                    \
    __kernel void dequant_nf4_##SUFFIX##_dq(                                                             \
        __global OUT_T *restrict out, __global const uchar *restrict packed, __global const float *restrict code, \
        __global const uchar *restrict qabsmax, __global const float *restrict nested_absmax,           \
        __global const float *restrict nested_code, float offset, ulong numel, uint blocksize_log2,      \
        uint nested_log2) {                                                                              \
        const ulong g0 = get_global_id(0) * NF4_GROUPS;                                                  \
        if (g0 * 16 >= numel) return;                                                                    \
        const float a = nf4_absmax_dq(qabsmax, nested_absmax, nested_code, offset, (g0 * 16) >> blocksize_log2, \
                                      nested_log2);                                                      \
        NF4_BODY(STORE16, STORE1)                                                                        \
    }

#if NF4_STORE
#define ST16_F32(v, g) NF4_VSTORE((v), (__global float16 *)out + (g))
#define ST16_BF16(v, g) NF4_VSTORE(nf4_to_bf16_16(v), (__global ushort16 *)out + (g))
#else
#define ST16_F32(v, g) vstore16((v), (g), out)
#define ST16_BF16(v, g) vstore16(nf4_to_bf16_16(v), (g), out)
#endif
#define ST1_F32(x, e) out[(e)] = (x)
#define ST16_F16(v, g) vstore_half16_rte((v), (g), out)
#define ST1_F16(x, e) vstore_half_rte((x), (e), out)
#define ST1_BF16(x, e) out[(e)] = clft_f32_to_bf16(x)

NF4_KERNELS(f32, float, ST16_F32, ST1_F32)
NF4_KERNELS(f16, half, ST16_F16, ST1_F16)
NF4_KERNELS(bf16, ushort, ST16_BF16, ST1_BF16)

/* The lookup implementation this build uses (1, 2 or 3), for tests and logs. */
__kernel void nf4_lut_variant(__global int *out) {
    if (get_global_id(0) == 0) out[0] = NF4_LUT;
}

__kernel void convert_f16_to_f32(__global float *restrict out, __global const half *restrict in, ulong n) {
    const ulong i = get_global_id(0);
    if (i < n) out[i] = vload_half(i, in);
}

__kernel void convert_bf16_to_f32(__global float *restrict out, __global const ushort *restrict in, ulong n) {
    const ulong i = get_global_id(0);
    if (i < n) out[i] = clft_bf16_to_f32(in[i]);
}
