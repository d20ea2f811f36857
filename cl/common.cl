/* common.cl - prepended to every clft program. Helpers shared by all kernel families.
 * Build macros set by the host (src/cl/program.c, clft_cl_build_options):
 *   CLFT_DEVICE_GPU/CPU/OTHER, CLFT_HAS_FP16, CLFT_HAS_FP64, CLFT_HAS_SUBGROUPS,
 *   CLFT_VENDOR_NVIDIA/AMD/INTEL, CLFT_POCL, CLFT_OCLGRIND. Kernels use fp16 *storage* through vload_half /
 *   vstore_half (core OpenCL 1.2) and never need cl_khr_fp16 unless a variant says so. */
#ifndef CLFT_COMMON_CL
#define CLFT_COMMON_CL

/* bf16 storage: the high 16 bits of an IEEE float32; stores round to nearest even (NaN kept quiet). */
inline float clft_bf16_to_f32(ushort h) { return as_float(((uint)h) << 16); }
inline ushort clft_f32_to_bf16(float f) {
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}

/* GGUF blocks of 32 along a row, native storage (layout in src/ops/weight.h): gt 0 Q8_0, 1 Q4_0,
 * 2 Q4_1; qs the codes (Q8_0 int8, 32 per block; Q4 16 bytes per block, byte j holding element j in
 * its low nibble and element j + 16 in its high one, as in the file), sc the f16 scales (Q8_0, Q4_0:
 * d per block; Q4_1: d, m per block). Values as ggml computes them: q * d, (q - 8) * d, q * d + m
 * (a product and a sum, never contracted to an fma). */
inline float clft_ggml_value(int gt, __global const uchar *qs, __global const half *sc, size_t e) {
#pragma OPENCL FP_CONTRACT OFF
    const size_t b = e >> 5;
    const uint j = (uint)e & 31u;
    if (gt == 0) return (float)((__global const char *)qs)[e] * vload_half(b, sc);
    const uint by = qs[(b << 4) + (j & 15u)];
    const float q = (float)(j < 16u ? by & 15u : by >> 4);
    if (gt == 1) return (q - 8.0f) * vload_half(b, sc);
    return q * vload_half(2 * b, sc) + vload_half(2 * b + 1, sc);
}
/* Vector width of the block kernels' pieces (16; 4 under Oclgrind, whose uninitialised-value check
 * reports the lane shuffles of float16 sums) and the pieces c = 0 .. 16/VW - 1 of block b: elements
 * c*VW .. c*VW+VW-1 in lo, 16 + c*VW .. in hi, with the block's scales d, m (clft_ggml_scales). */
#ifndef CLFT_GGML_VW
#ifdef CLFT_OCLGRIND
#define CLFT_GGML_VW 4
#else
#define CLFT_GGML_VW 16
#endif
#endif
#define CLFT_GGML_CAT_(a, b) a##b
#define CLFT_GGML_CAT(a, b)  CLFT_GGML_CAT_(a, b)
#define CLFT_GGML_NP         (16 / CLFT_GGML_VW)
typedef CLFT_GGML_CAT(float, CLFT_GGML_VW) clft_ggml_vec;
inline void clft_ggml_scales(int gt, __global const half *sc, size_t b, float *d, float *m) {
    *d = vload_half(gt == 2 ? 2 * b : b, sc);
    *m = gt == 2 ? vload_half(2 * b + 1, sc) : 0.0f;
}
inline void clft_ggml_piece(int gt, __global const uchar *qs, size_t b, int c, float d, float m, clft_ggml_vec *lo,
                            clft_ggml_vec *hi) {
#pragma OPENCL FP_CONTRACT OFF
    if (gt == 0) {
        __global const char *q = (__global const char *)qs + 32 * b;
        *lo = CLFT_GGML_CAT(convert_float, CLFT_GGML_VW)(CLFT_GGML_CAT(vload, CLFT_GGML_VW)(c, q)) * d;
        *hi = CLFT_GGML_CAT(convert_float, CLFT_GGML_VW)(CLFT_GGML_CAT(vload, CLFT_GGML_VW)(c + CLFT_GGML_NP, q)) * d;
        return;
    }
    const CLFT_GGML_CAT(uchar, CLFT_GGML_VW) by = CLFT_GGML_CAT(vload, CLFT_GGML_VW)(c, qs + 16 * b);
    const clft_ggml_vec l = CLFT_GGML_CAT(convert_float, CLFT_GGML_VW)(by & (uchar)15);
    const clft_ggml_vec h = CLFT_GGML_CAT(convert_float, CLFT_GGML_VW)(by >> (uchar)4);
    if (gt == 1) {
        *lo = (l - 8.0f) * d;
        *hi = (h - 8.0f) * d;
    } else {
        *lo = l * d + m;
        *hi = h * d + m;
    }
}
/* acc[i][r] += (X row xr[i], the 32 values of block kb) * (the values of block b0[r] + kb of W), vector
 * by vector, for i < NX and r < NW (the GEMV and fused kernels' inner step; NX, NW constants). */
#define CLFT_GGML_ACC_BLOCK(gt, qs, sc, xr, NX, b0, NW, kb, acc)                                                       \
    do {                                                                                                               \
        float d_[NW], m_[NW];                                                                                          \
        _Pragma("unroll") for (int r_ = 0; r_ < NW; r_++) clft_ggml_scales(gt, sc, b0[r_] + kb, &d_[r_], &m_[r_]);     \
        _Pragma("unroll") for (int c_ = 0; c_ < CLFT_GGML_NP; c_++) {                                                  \
            clft_ggml_vec wl_[NW], wh_[NW];                                                                            \
            _Pragma("unroll") for (int r_ = 0; r_ < NW; r_++)                                                          \
                clft_ggml_piece(gt, qs, b0[r_] + kb, c_, d_[r_], m_[r_], &wl_[r_], &wh_[r_]);                          \
            _Pragma("unroll") for (int i_ = 0; i_ < NX; i_++) {                                                        \
                __global const float *x_ = xr[i_] + 32 * (kb) + c_ * CLFT_GGML_VW;                                     \
                const clft_ggml_vec xl_ = CLFT_GGML_CAT(vload, CLFT_GGML_VW)(0, x_);                                   \
                const clft_ggml_vec xh_ = CLFT_GGML_CAT(vload, CLFT_GGML_VW)(0, x_ + 16);                              \
                _Pragma("unroll") for (int r_ = 0; r_ < NW; r_++) acc[i_][r_] =                                        \
                    fma(xh_, wh_[r_], fma(xl_, wl_[r_], acc[i_][r_]));                                                 \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)
inline float clft_ggml_hsum(clft_ggml_vec v) {
#if CLFT_GGML_VW == 16
    const float8 h = v.lo + v.hi;
    return dot(h.lo + h.hi, (float4)(1.0f));
#elif CLFT_GGML_VW == 8
    return dot(v.lo + v.hi, (float4)(1.0f));
#else
    return dot(v, (float4)(1.0f));
#endif
}

#endif
