/* ggml_blocks.cl - dequantization of weights kept in llama.cpp's GGUF blocks on the device (native
 * storage, layout in src/ops/weight.h; the values are clft_ggml_value / clft_ggml_piece of
 * common.cl, which the GEMM kernels of gemm.cl and gemv.cl share):
 *   ggml_dequant_<q8_0|q4_0|q4_1>_<f32|f16|bf16> (out, qs, sc, b0, nblocks)
 *        out[32*b + i] = element i of block b0 + b, for b < nblocks (whole rows of the (rows, K)
 *        weight, K a multiple of 32: blocks never straddle rows), stored as f32, f16 or bf16 (round
 *        to nearest even). One work-item per block. For merges and exports (clft_weight_to_f32) and
 *        the CLBlast path's f32 copy of a slice of rows.
 * Tunables: none. Extensions: none (the f16 scales are read with vload_half). */

#define GGML_DEQUANT_KERNEL(NAME, GT, T, STORE)                                                                        \
    __kernel void NAME(__global T *restrict out, __global const uchar *restrict qs, __global const half *restrict sc,  \
                       ulong b0, ulong nblocks) {                                                                      \
        const size_t b = get_global_id(0);                                                                             \
        if (b >= nblocks) return;                                                                                      \
        float d, m;                                                                                                    \
        clft_ggml_scales(GT, sc, b0 + b, &d, &m);                                                                      \
        for (int c = 0; c < CLFT_GGML_NP; c++) {                                                                       \
            clft_ggml_vec lo, hi;                                                                                      \
            clft_ggml_piece(GT, qs, b0 + b, c, d, m, &lo, &hi);                                                        \
            STORE(lo, 32 * b + c * CLFT_GGML_VW, out);                                                                 \
            STORE(hi, 32 * b + 16 + c * CLFT_GGML_VW, out);                                                            \
        }                                                                                                              \
    }

/* a piece at element offset e */
inline void ggml_store_f32(clft_ggml_vec v, size_t e, __global float *out) {
    CLFT_GGML_CAT(vstore, CLFT_GGML_VW)(v, 0, out + e);
}
inline void ggml_store_f16(clft_ggml_vec v, size_t e, __global half *out) {
    CLFT_GGML_CAT(vstore_half, CLFT_GGML_CAT(CLFT_GGML_VW, _rte))(v, 0, out + e);
}
inline void ggml_store_bf16(clft_ggml_vec v, size_t e, __global ushort *out) {
    float f[CLFT_GGML_VW];
    CLFT_GGML_CAT(vstore, CLFT_GGML_VW)(v, 0, f);
    for (int l = 0; l < CLFT_GGML_VW; l++)
        out[e + l] = clft_f32_to_bf16(f[l]);
}

#define GGML_DEQUANT_KERNELS(NAME, GT)                                                                                 \
    GGML_DEQUANT_KERNEL(ggml_dequant_##NAME##_f32, GT, float, ggml_store_f32)                                          \
    GGML_DEQUANT_KERNEL(ggml_dequant_##NAME##_f16, GT, half, ggml_store_f16)                                           \
    GGML_DEQUANT_KERNEL(ggml_dequant_##NAME##_bf16, GT, ushort, ggml_store_bf16)

GGML_DEQUANT_KERNELS(q8_0, 0)
GGML_DEQUANT_KERNELS(q4_0, 1)
GGML_DEQUANT_KERNELS(q4_1, 2)
