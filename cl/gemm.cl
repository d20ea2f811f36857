/* gemm.cl - clft's own f32 GEMM kernels (fp32 accumulation everywhere).
 *
 * The main kernel multiplies a strided A by a B that a pre-pass has packed into column panels:
 *   gemm_pack_<f32|f16|bf16>  (Bp, B, b_off, sbk, sbj, K, N, strideB, strideBp)
 *        op(B) (K,N), element (k,j) at B[b_off + b*strideB + k*sbk + j*sbj] (any storage type)
 *        -> Bp: panels of GEMM_NR columns, panel p holds (K, GEMM_NR) row-major, zero-padded past N;
 *           batch b at Bp + b*strideBp. Global (roundup(N, NR), K, batch).
 *   gemm_packt_<f32|f16|bf16> (Bp, B, b_off, sbj, K, N, strideB, strideBp)  the same when sbk == 1
 *        (rows of a linear layer's W, or of a transposed B, contiguous along k): reads vectors along
 *        k and transposes them in registers. Global (roundup(N,NR)/VW, ceil(K/GEMM_PACK_KC), batch).
 *   gemm_packt_q4 / gemm_packt_q4dq  the same for a 4-bit W (N,K) with K % GEMM_VW == 0.
 *   gemm_pack_q4 / gemm_pack_q4dq  the same for an NF4/FP4 W (bitsandbytes layout, see
 *        src/ops/weight.h): element (k,j) is flattened weight element eoff + k*sbk + j*sbj;
 *        dequantized as code[nibble] * absmax[e / blocksize] (q4dq: absmax from the double
 *        quantization). gemm_pack_<q8_0|q4_0|q4_1>: the same for GGUF blocks.
 *        eoff (an element offset into the weight, a multiple of its row length) lets the GEMM layer
 *        pack a slice of the weight's rows at a time, bounding the scratch (src/ops/gemm.c).
 *   gemm_f32_panel  (M, N, K, alpha, A, a_off, sai, sak, strideA, Bp, strideBp, beta, C, c_off,
 *                    ldc, strideC)
 *        C (M,N) = alpha * op(A) (M,K) * Bp (K,N) + beta * C; op(A) element (i,k) at
 *        A[a_off + b*strideA + i*sai + k*sak] (so transA is just swapped strides); C row-major
 *        with ldc. beta == 0 overwrites C without reading it. Global (ceil(M/(MR*MG)), N/NR, batch).
 *        Each work-item keeps a GEMM_MR x GEMM_NR tile of C in GEMM_MR*GEMM_NV vector registers:
 *        per k it loads GEMM_NV vectors of the panel and broadcasts GEMM_MR values of A. A
 *        work-item does GEMM_MG row tiles, K in blocks of GEMM_KB so that the panel block stays
 *        in cache (partial sums go through C: first block alpha*acc + beta*C, then += alpha*acc). Written
 *        for explicit vectors within one work-item (a CPU runs it with local size 1; PoCL's
 *        across-work-item vectorizer then has nothing to do), it also runs on GPUs, where CLBlast
 *        is normally chosen instead.
 *   gemm_f32_nt_q4 / gemm_f32_nt_q4dq (M, N, K, alpha, X, x_off, ldx, packed, code, absmax, ...,
 *                    beta, Y, y_off, ldy)
 *        fused 4-bit linear forward Y (M,N) = alpha * X (M,K) * W^T + beta * Y, W (N,K) NF4/FP4:
 *        each work-item computes GEMM_QM x GEMM_QN outputs as dot products along K in chunks of
 *        GEMM_QV, dequantizing the W chunk in registers (W is never expanded in memory).
 *   gemm_convert_<f16|bf16|q4|q4dq>  (out, in, ..., eoff, n): weight elements eoff .. eoff+n-1 to
 *        f32 (CLBlast path scratch, a slice of rows at a time; GGUF blocks: cl/ggml_blocks.cl).
 *   gemm_stage_f16 / gemm_unstage_f16: f32 <-> f16 copies around CLBlast HGEMM (fp16 devices).
 *
 * Tunables (-D, defaults below): GEMM_MR (rows per work-item), GEMM_VW (vector width 1,2,4,8,16),
 * GEMM_NV (vectors per row; GEMM_NR = GEMM_VW * GEMM_NV), GEMM_KU (k-loop unroll), GEMM_KB (K block),
 * GEMM_MG (row tiles per work-item), GEMM_PACK_KC (k values per transposing-pack work-item),
 * GEMM_QM, GEMM_QN, GEMM_QV (fused 4-bit kernel tile and K chunk: 4, 8 or 16).
 * Extensions: none (f16 weights are read with vload_half, bf16 as ushort).
 * Sizes: M, N, K < 2^31; element offsets and strides are 64-bit.                                */

#ifndef GEMM_MR
#define GEMM_MR 6
#endif
#ifndef GEMM_VW
#define GEMM_VW 16
#endif
#ifndef GEMM_NV
#define GEMM_NV 4
#endif
#ifndef GEMM_KU
#define GEMM_KU 1
#endif
#ifndef GEMM_KB
#define GEMM_KB 256
#endif
#ifndef GEMM_MG
#define GEMM_MG 8
#endif
#ifndef GEMM_QM
#define GEMM_QM 8
#endif
#ifndef GEMM_QN
#define GEMM_QN 2
#endif
#ifndef GEMM_QV
#define GEMM_QV 16
#endif

#define GEMM_NR (GEMM_VW * GEMM_NV)

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b)  GEMM_CAT_(a, b)

#if GEMM_VW == 1
typedef float gemm_vec;
#define GEMM_VLOAD(i, p)     ((p)[i])
#define GEMM_VSTORE(x, i, p) ((p)[i] = (x))
#else
typedef GEMM_CAT(float, GEMM_VW) gemm_vec;
#define GEMM_VLOAD(i, p)     GEMM_CAT(vload, GEMM_VW)(i, p)
#define GEMM_VSTORE(x, i, p) GEMM_CAT(vstore, GEMM_VW)(x, i, p)
#endif

/* ---- packing op(B) into panels ------------------------------------------------------------- */

inline size_t gemm_panel_index(size_t j, size_t k, size_t K) {
    return (j / GEMM_NR) * K * GEMM_NR + k * GEMM_NR + (j % GEMM_NR);
}

#define GEMM_PACK_KERNEL(NAME, T, LOAD)                                                                                \
    __kernel void NAME(__global float *restrict Bp, __global const T *restrict B, ulong b_off, long sbk, long sbj,     \
                       int K, int N, long strideB, long strideBp) {                                                    \
        const size_t j = get_global_id(0), k = get_global_id(1), b = get_global_id(2);                                 \
        const size_t npad = ((size_t)N + GEMM_NR - 1) / GEMM_NR * GEMM_NR;                                             \
        if (j >= npad || k >= (size_t)K) return;                                                                       \
        float v = 0.0f;                                                                                                \
        if (j < (size_t)N) {                                                                                           \
            const size_t idx = b_off + b * strideB + k * sbk + j * sbj;                                                \
            v = LOAD;                                                                                                  \
        }                                                                                                              \
        Bp[b * strideBp + gemm_panel_index(j, k, (size_t)K)] = v;                                                      \
    }

GEMM_PACK_KERNEL(gemm_pack_f32, float, B[idx])
GEMM_PACK_KERNEL(gemm_pack_f16, half, vload_half(idx, B))
GEMM_PACK_KERNEL(gemm_pack_bf16, ushort, clft_bf16_to_f32(B[idx]))

/* Transposing pack for a B whose rows of op(B)^T are contiguous along k (sbk == 1: a linear
 * layer's W (N,K), or a transposed B): a work-item takes GEMM_VW rows j and GEMM_PACK_KC values
 * of k, reads each row as vectors along k and writes vectors of GEMM_VW consecutive j. The
 * generic pack above gathers across rows instead. Global (roundup(N,NR)/VW, ceil(K/KC), batch). */
#ifndef GEMM_PACK_KC
#define GEMM_PACK_KC 256
#endif

#if GEMM_VW == 1
#define GEMM_VLOAD_HALF(i, p) vload_half(i, p)
#define GEMM_VLOAD_BF16(i, p) clft_bf16_to_f32((p)[i])
#else
#define GEMM_VLOAD_HALF(i, p) GEMM_CAT(vload_half, GEMM_VW)(i, p)
#define GEMM_VLOAD_BF16(i, p)                                                                                          \
    GEMM_CAT(as_float, GEMM_VW)(GEMM_CAT(convert_uint, GEMM_VW)(GEMM_CAT(vload, GEMM_VW)(i, p)) << 16)
#endif

#define GEMM_PACKT_KERNEL(NAME, T, VLOAD, SLOAD)                                                                       \
    __kernel void NAME(__global float *restrict Bp, __global const T *restrict B, ulong b_off, long sbj, int K, int N, \
                       long strideB, long strideBp) {                                                                  \
        const int j0 = (int)get_global_id(0) * GEMM_VW, kc0 = (int)get_global_id(1) * GEMM_PACK_KC;                    \
        const size_t b = get_global_id(2);                                                                             \
        if (kc0 >= K) return; /* j0 >= N: zero columns of the last panel */                                            \
        const int kc1 = min(kc0 + GEMM_PACK_KC, K);                                                                    \
        __global const T *Bb = B + b_off + b * strideB;                                                                \
        __global float *out = Bp + b * strideBp;                                                                       \
        size_t rows[GEMM_VW];                                                                                          \
        _Pragma("unroll") for (int r = 0; r < GEMM_VW; r++) rows[r] = (size_t)min(j0 + r, N - 1) * sbj;                \
        int k = kc0;                                                                                                   \
        for (; k + GEMM_VW <= kc1; k += GEMM_VW) {                                                                     \
            float t[GEMM_VW][GEMM_VW];                                                                                 \
            _Pragma("unroll") for (int r = 0; r < GEMM_VW; r++) {                                                      \
                gemm_vec v = VLOAD(0, Bb + rows[r] + k);                                                               \
                if (j0 + r >= N) v = (gemm_vec)(0.0f);                                                                 \
                GEMM_VSTORE(v, 0, t[r]);                                                                               \
            }                                                                                                          \
            _Pragma("unroll") for (int kk = 0; kk < GEMM_VW; kk++) {                                                   \
                float col[GEMM_VW];                                                                                    \
                _Pragma("unroll") for (int r = 0; r < GEMM_VW; r++) col[r] = t[r][kk];                                 \
                GEMM_VSTORE(GEMM_VLOAD(0, col), 0, out + gemm_panel_index((size_t)j0, (size_t)(k + kk), (size_t)K));   \
            }                                                                                                          \
        }                                                                                                              \
        for (; k < kc1; k++)                                                                                           \
            for (int r = 0; r < GEMM_VW; r++)                                                                          \
                out[gemm_panel_index((size_t)(j0 + r), (size_t)k, (size_t)K)] =                                        \
                    j0 + r < N ? SLOAD(Bb, rows[r] + k) : 0.0f;                                                        \
    }

#define GEMM_SLOAD_F32(p, i)  ((p)[i])
#define GEMM_SLOAD_F16(p, i)  vload_half(i, p)
#define GEMM_SLOAD_BF16(p, i) clft_bf16_to_f32((p)[i])
GEMM_PACKT_KERNEL(gemm_packt_f32, float, GEMM_VLOAD, GEMM_SLOAD_F32)
GEMM_PACKT_KERNEL(gemm_packt_f16, half, GEMM_VLOAD_HALF, GEMM_SLOAD_F16)
GEMM_PACKT_KERNEL(gemm_packt_bf16, ushort, GEMM_VLOAD_BF16, GEMM_SLOAD_BF16)

/* 4-bit element e of a bitsandbytes-layout tensor (even element in the high nibble). */
inline float gemm_q4_value(__global const uchar *packed, __global const float *code, size_t e, float absmax) {
    const uchar byte = packed[e >> 1];
    const uint nib = (e & 1) ? (byte & 15u) : (byte >> 4);
    return code[nib] * absmax;
}
/* absmax of block blk under double quantization. */
inline float gemm_q4dq_absmax(__global const uchar *qabsmax, __global const float *nested_absmax,
                              __global const float *nested_code, int nested_blocksize, float nested_offset,
                              size_t blk) {
    return nested_code[qabsmax[blk]] * nested_absmax[blk / (size_t)nested_blocksize] + nested_offset;
}

/* absmax of block blk: plain f32 table, or reconstructed from the double quantization */
inline float gemm_q4_block_absmax(int dq, __global const float *absmax_f, __global const uchar *qabsmax,
                                  __global const float *nested_absmax, __global const float *nested_code, int nbs,
                                  float noff, size_t blk) {
    return dq ? gemm_q4dq_absmax(qabsmax, nested_absmax, nested_code, nbs, noff, blk) : absmax_f[blk];
}

__kernel void gemm_pack_q4(__global float *restrict Bp, __global const uchar *restrict packed,
                           __global const float *restrict code, __global const float *restrict absmax, int blocksize,
                           ulong eoff, long sbk, long sbj, int K, int N) {
    const size_t j = get_global_id(0), k = get_global_id(1);
    const size_t npad = ((size_t)N + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    if (j >= npad || k >= (size_t)K) return;
    float v = 0.0f;
    if (j < (size_t)N) {
        const size_t e = eoff + k * sbk + j * sbj;
        v = gemm_q4_value(packed, code, e, absmax[e / (size_t)blocksize]);
    }
    Bp[gemm_panel_index(j, k, (size_t)K)] = v;
}

__kernel void gemm_pack_q4dq(__global float *restrict Bp, __global const uchar *restrict packed,
                             __global const float *restrict code, __global const uchar *restrict qabsmax,
                             __global const float *restrict nested_absmax, __global const float *restrict nested_code,
                             int nested_blocksize, float nested_offset, int blocksize, ulong eoff, long sbk, long sbj,
                             int K, int N) {
    const size_t j = get_global_id(0), k = get_global_id(1);
    const size_t npad = ((size_t)N + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    if (j >= npad || k >= (size_t)K) return;
    float v = 0.0f;
    if (j < (size_t)N) {
        const size_t e = eoff + k * sbk + j * sbj;
        const float am = gemm_q4dq_absmax(qabsmax, nested_absmax, nested_code, nested_blocksize, nested_offset,
                                          e / (size_t)blocksize);
        v = gemm_q4_value(packed, code, e, am);
    }
    Bp[gemm_panel_index(j, k, (size_t)K)] = v;
}

/* Transposing 4-bit pack for a linear layer's W (N,K) with K % GEMM_VW == 0 (so each chunk of
 * GEMM_VW codes starts on a byte and lies inside one quantization block). */
inline void gemm_packt_q4_body(__global float *restrict Bp, __global const uchar *restrict packed,
                               __global const float *restrict code, int dq, __global const float *absmax_f,
                               __global const uchar *qabsmax, __global const float *nested_absmax,
                               __global const float *nested_code, int nbs, float noff, int blocksize, ulong eoff, int K,
                               int N) {
    const int j0 = (int)get_global_id(0) * GEMM_VW, kc0 = (int)get_global_id(1) * GEMM_PACK_KC;
    if (kc0 >= K) return;
    const int kc1 = min(kc0 + GEMM_PACK_KC, K);
    float lut[16];
    for (int i = 0; i < 16; i++)
        lut[i] = code[i];
    for (int k = kc0; k < kc1; k += GEMM_VW) {
        float t[GEMM_VW][GEMM_VW];
#pragma unroll
        for (int r = 0; r < GEMM_VW; r++) {
            const size_t e0 = eoff + (size_t)min(j0 + r, N - 1) * (size_t)K + (size_t)k;
            const float am = j0 + r < N ? gemm_q4_block_absmax(dq, absmax_f, qabsmax, nested_absmax, nested_code, nbs,
                                                               noff, e0 / (size_t)blocksize)
                                        : 0.0f;
#pragma unroll
            for (int i = 0; i < GEMM_VW; i++) {
                const uchar byte = packed[(e0 >> 1) + (size_t)(i >> 1)];
                t[r][i] = lut[(i & 1) ? (byte & 15u) : (byte >> 4)] * am;
            }
        }
#pragma unroll
        for (int kk = 0; kk < GEMM_VW; kk++) {
            float col[GEMM_VW];
#pragma unroll
            for (int r = 0; r < GEMM_VW; r++)
                col[r] = t[r][kk];
            GEMM_VSTORE(GEMM_VLOAD(0, col), 0, Bp + gemm_panel_index((size_t)j0, (size_t)(k + kk), (size_t)K));
        }
    }
}

__kernel void gemm_packt_q4(__global float *restrict Bp, __global const uchar *restrict packed,
                            __global const float *restrict code, __global const float *restrict absmax, int blocksize,
                            ulong eoff, int K, int N) {
    gemm_packt_q4_body(Bp, packed, code, 0, absmax, packed, absmax, absmax, 1, 0.0f, blocksize, eoff, K, N);
}

__kernel void gemm_packt_q4dq(__global float *restrict Bp, __global const uchar *restrict packed,
                              __global const float *restrict code, __global const uchar *restrict qabsmax,
                              __global const float *restrict nested_absmax, __global const float *restrict nested_code,
                              int nested_blocksize, float nested_offset, int blocksize, ulong eoff, int K, int N) {
    gemm_packt_q4_body(Bp, packed, code, 1, nested_absmax, qabsmax, nested_absmax, nested_code, nested_blocksize,
                       nested_offset, blocksize, eoff, K, N);
}

/* ---- elementwise conversion to f32 (scratch for the CLBlast path) ---------------------------- */


__kernel void gemm_convert_f16(__global float *restrict out, __global const half *restrict in, ulong eoff, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n) out[i] = vload_half(eoff + i, in);
}
__kernel void gemm_convert_bf16(__global float *restrict out, __global const ushort *restrict in, ulong eoff, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n) out[i] = clft_bf16_to_f32(in[eoff + i]);
}
__kernel void gemm_convert_q4(__global float *restrict out, __global const uchar *restrict packed,
                              __global const float *restrict code, __global const float *restrict absmax, int blocksize,
                              ulong eoff, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n) out[i] = gemm_q4_value(packed, code, eoff + i, absmax[(eoff + i) / (size_t)blocksize]);
}
__kernel void gemm_convert_q4dq(__global float *restrict out, __global const uchar *restrict packed,
                                __global const float *restrict code, __global const uchar *restrict qabsmax,
                                __global const float *restrict nested_absmax,
                                __global const float *restrict nested_code, int nested_blocksize, float nested_offset,
                                int blocksize, ulong eoff, ulong n) {
    const size_t i = get_global_id(0);
    if (i < n)
        out[i] = gemm_q4_value(packed, code, eoff + i,
                               gemm_q4dq_absmax(qabsmax, nested_absmax, nested_code, nested_blocksize, nested_offset,
                                                (eoff + i) / (size_t)blocksize));
}

/* ---- fp16 staging for CLBlast HGEMM (used only where cl_khr_fp16 exists and a probe passed) -- */

/* out (rows, cols) contiguous half = in (rows, cols) f32 with ld, rounded to nearest even */
__kernel void gemm_stage_f16(__global half *restrict out, __global const float *restrict in, ulong in_off, long ld,
                             int rows, int cols) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1);
    if (i >= rows || j >= cols) return;
    vstore_half_rte(in[in_off + (size_t)i * ld + j], (size_t)i * cols + j, out);
}
/* C (rows, cols) = alpha * H + beta * C (C not read when beta == 0); H contiguous half */
__kernel void gemm_unstage_f16(__global float *restrict C, ulong c_off, long ldc, __global const half *restrict H,
                               int rows, int cols, float alpha, float beta) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1);
    if (i >= rows || j >= cols) return;
    __global float *c = C + c_off + (size_t)i * ldc + j;
    float o = alpha * vload_half((size_t)i * cols + j, H);
    if (beta != 0.0f) o = fma(beta, *c, o);
    *c = o;
}

/* ---- the register-blocked panel kernel ----------------------------------------------------- */

__kernel void gemm_f32_panel(int M, int N, int K, float alpha, __global const float *restrict A, ulong a_off, long sai,
                             long sak, long strideA, __global const float *restrict Bp, long strideBp, float beta,
                             __global float *restrict C, ulong c_off, long ldc, long strideC) {
    const int mg = (int)get_global_id(0) * GEMM_MG, p = (int)get_global_id(1);
    const size_t b = get_global_id(2);
    if (mg * GEMM_MR >= M || (size_t)p * GEMM_NR >= (size_t)N) return;
    __global const float *Ab = A + a_off + b * strideA;
    __global const float *bp = Bp + b * strideBp + (size_t)p * (size_t)K * GEMM_NR;
    __global float *Cb = C + c_off + b * strideC;
    /* K in blocks of GEMM_KB (the block of the panel stays in cache across the GEMM_MG row tiles);
     * the first block writes alpha*acc + beta*C, later ones add alpha*acc. K == 0 still runs one
     * (empty) block so that C = beta*C. */
    for (int kb = 0; kb < max(K, 1); kb += GEMM_KB) {
        const int ke = min(kb + GEMM_KB, K);
        const int first = kb == 0;
        for (int g = 0; g < GEMM_MG; g++) {
            const int m0 = (mg + g) * GEMM_MR;
            if (m0 >= M) break;
            /* rows past M re-read row M-1 (valid memory); their results are never stored */
            __global const float *ar[GEMM_MR];
#pragma unroll
            for (int i = 0; i < GEMM_MR; i++)
                ar[i] = Ab + (long)min(m0 + i, M - 1) * sai;

            gemm_vec acc[GEMM_MR][GEMM_NV];
#pragma unroll
            for (int i = 0; i < GEMM_MR; i++)
#pragma unroll
                for (int v = 0; v < GEMM_NV; v++)
                    acc[i][v] = (gemm_vec)(0.0f);

#pragma unroll GEMM_KU
            for (int k = kb; k < ke; k++) {
                gemm_vec bv[GEMM_NV];
#pragma unroll
                for (int v = 0; v < GEMM_NV; v++)
                    bv[v] = GEMM_VLOAD(v, bp + (size_t)k * GEMM_NR);
#pragma unroll
                for (int i = 0; i < GEMM_MR; i++) {
                    const gemm_vec a = (gemm_vec)(ar[i][(long)k * sak]);
#pragma unroll
                    for (int v = 0; v < GEMM_NV; v++)
                        acc[i][v] = fma(a, bv[v], acc[i][v]);
                }
            }

            /* C scale: beta on the first block (not read when 0), 1 afterwards */
            const float cs = first ? beta : 1.0f;
#pragma unroll
            for (int i = 0; i < GEMM_MR; i++) {
                const int r = m0 + i;
                if (r >= M) break;
                __global float *crow = Cb + (long)r * ldc;
#pragma unroll
                for (int v = 0; v < GEMM_NV; v++) {
                    const int c0 = p * GEMM_NR + v * GEMM_VW;
                    if (c0 + GEMM_VW <= N) {
                        gemm_vec o = (gemm_vec)(alpha)*acc[i][v];
                        if (cs != 0.0f) o = fma((gemm_vec)(cs), GEMM_VLOAD(0, crow + c0), o);
                        GEMM_VSTORE(o, 0, crow + c0);
                    } else {
                        float t[GEMM_VW];
                        GEMM_VSTORE(acc[i][v], 0, t);
                        for (int l = 0; l < GEMM_VW && c0 + l < N; l++) {
                            float o = alpha * t[l];
                            if (cs != 0.0f) o = fma(cs, crow[c0 + l], o);
                            crow[c0 + l] = o;
                        }
                    }
                }
            }
        }
    }
}

/* ---- fused 4-bit linear forward (dot products along K, W dequantized in registers) ---------- */

#if GEMM_QV == 16
typedef float16 gemm_qvec;
typedef uchar8 gemm_qbytes;
#define GEMM_QLOAD  vload16
#define GEMM_QBLOAD vload8
#define GEMM_QIDX(h, l)                                                                                                \
    (uint16)(h.s0, l.s0, h.s1, l.s1, h.s2, l.s2, h.s3, l.s3, h.s4, l.s4, h.s5, l.s5, h.s6, l.s6, h.s7, l.s7)
#define GEMM_QWIDEN convert_uint8
typedef uint8 gemm_qidx;
#define GEMM_QSUM(v) gemm_sum8((v).lo + (v).hi)
#elif GEMM_QV == 8
typedef float8 gemm_qvec;
typedef uchar4 gemm_qbytes;
#define GEMM_QLOAD      vload8
#define GEMM_QBLOAD     vload4
#define GEMM_QIDX(h, l) (uint8)(h.s0, l.s0, h.s1, l.s1, h.s2, l.s2, h.s3, l.s3)
#define GEMM_QWIDEN     convert_uint4
typedef uint4 gemm_qidx;
#define GEMM_QSUM(v)    gemm_sum8(v)
#elif GEMM_QV == 4
typedef float4 gemm_qvec;
typedef uchar2 gemm_qbytes;
#define GEMM_QLOAD      vload4
#define GEMM_QBLOAD     vload2
#define GEMM_QIDX(h, l) (uint4)(h.s0, l.s0, h.s1, l.s1)
#define GEMM_QWIDEN     convert_uint2
typedef uint2 gemm_qidx;
#define GEMM_QSUM(v)    dot((v), (float4)(1.0f))
#else
#error "GEMM_QV must be 4, 8 or 16"
#endif

inline float gemm_sum8(float8 v) { return dot(v.lo + v.hi, (float4)(1.0f)); }

inline void gemm_nt_q4_body(int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx,
                            __global const uchar *packed, __global const float *code, int dq,
                            __global const float *absmax_f, __global const uchar *qabsmax,
                            __global const float *nested_absmax, __global const float *nested_code, int nbs, float noff,
                            int blocksize, float beta, __global float *Y, ulong y_off, long ldy) {
    const int n0 = (int)get_global_id(0) * GEMM_QN, m0 = (int)get_global_id(1) * GEMM_QM;
    if (n0 >= N || m0 >= M) return;
    __global const float *xr[GEMM_QM];
#pragma unroll
    for (int i = 0; i < GEMM_QM; i++)
        xr[i] = X + x_off + (long)min(m0 + i, M - 1) * ldx;
    size_t wrow[GEMM_QN]; /* flattened index of W[n, 0] */
#pragma unroll
    for (int j = 0; j < GEMM_QN; j++)
        wrow[j] = (size_t)min(n0 + j, N - 1) * (size_t)K;
    float sum[GEMM_QM][GEMM_QN];
    if (K % GEMM_QV == 0) {
        /* every chunk starts on a byte and lies inside one quantization block (blocksize is a
         * power of two >= 16 and a multiple of GEMM_QV) */
        const float16 lut = vload16(0, code);
        gemm_qvec acc[GEMM_QM][GEMM_QN];
#pragma unroll
        for (int i = 0; i < GEMM_QM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_QN; j++)
                acc[i][j] = (gemm_qvec)(0.0f);
        for (int k = 0; k < K; k += GEMM_QV) {
            gemm_qvec xv[GEMM_QM];
#pragma unroll
            for (int i = 0; i < GEMM_QM; i++)
                xv[i] = GEMM_QLOAD(0, xr[i] + k);
#pragma unroll
            for (int j = 0; j < GEMM_QN; j++) {
                const size_t e = wrow[j] + (size_t)k;
                const gemm_qbytes by = GEMM_QBLOAD(0, packed + (e >> 1));
                const gemm_qbytes hb = by >> (uchar)4, lb = by & (uchar)15;
                const gemm_qidx h = GEMM_QWIDEN(hb), l = GEMM_QWIDEN(lb);
                const float am = gemm_q4_block_absmax(dq, absmax_f, qabsmax, nested_absmax, nested_code, nbs, noff,
                                                      e / (size_t)blocksize);
                const gemm_qvec w = shuffle(lut, GEMM_QIDX(h, l)) * am;
#pragma unroll
                for (int i = 0; i < GEMM_QM; i++)
                    acc[i][j] = fma(xv[i], w, acc[i][j]);
            }
        }
#pragma unroll
        for (int i = 0; i < GEMM_QM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_QN; j++)
                sum[i][j] = GEMM_QSUM(acc[i][j]);
    } else {
        /* ragged K: element by element (rows start mid-byte and mid-block) */
#pragma unroll
        for (int i = 0; i < GEMM_QM; i++)
#pragma unroll
            for (int j = 0; j < GEMM_QN; j++)
                sum[i][j] = 0.0f;
        for (int k = 0; k < K; k++) {
#pragma unroll
            for (int j = 0; j < GEMM_QN; j++) {
                const size_t e = wrow[j] + (size_t)k;
                const float w = gemm_q4_value(packed, code, e,
                                              gemm_q4_block_absmax(dq, absmax_f, qabsmax, nested_absmax, nested_code,
                                                                   nbs, noff, e / (size_t)blocksize));
#pragma unroll
                for (int i = 0; i < GEMM_QM; i++)
                    sum[i][j] = fma(xr[i][k], w, sum[i][j]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < GEMM_QM; i++) {
        if (m0 + i >= M) break;
        __global float *yr = Y + y_off + (long)(m0 + i) * ldy;
#pragma unroll
        for (int j = 0; j < GEMM_QN; j++) {
            if (n0 + j >= N) break;
            float o = alpha * sum[i][j];
            if (beta != 0.0f) o = fma(beta, yr[n0 + j], o);
            yr[n0 + j] = o;
        }
    }
}

__kernel void gemm_f32_nt_q4(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx,
                             __global const uchar *restrict packed, __global const float *restrict code,
                             __global const float *restrict absmax, int blocksize, float beta,
                             __global float *restrict Y, ulong y_off, long ldy) {
    gemm_nt_q4_body(M, N, K, alpha, X, x_off, ldx, packed, code, 0, absmax, packed, absmax, absmax, 1, 0.0f, blocksize,
                    beta, Y, y_off, ldy);
}

__kernel void gemm_f32_nt_q4dq(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off,
                               long ldx, __global const uchar *restrict packed, __global const float *restrict code,
                               __global const uchar *restrict qabsmax, __global const float *restrict nested_absmax,
                               __global const float *restrict nested_code, int nested_blocksize, float nested_offset,
                               int blocksize, float beta, __global float *restrict Y, ulong y_off, long ldy) {
    gemm_nt_q4_body(M, N, K, alpha, X, x_off, ldx, packed, code, 1, nested_absmax, qabsmax, nested_absmax, nested_code,
                    nested_blocksize, nested_offset, blocksize, beta, Y, y_off, ldy);
}

/* ---- GGUF blocks (native storage: Q8_0, Q4_0, Q4_1; layout in src/ops/weight.h) -------------
 *   gemm_pack_<q8_0|q4_0|q4_1> (Bp, qs, sc, sbk, sbj, K, N): as gemm_pack_q4, element (k,j) of op(B)
 *        is flattened weight element k*sbk + j*sbj (the linear forward's W^T, or W itself for the
 *        backward-data product dX = dY * W), its value clft_ggml_value (common.cl).
 *   gemm_f32_nt_<q8_0|q4_0|q4_1> (M, N, K, alpha, X, x_off, ldx, qs, sc, beta, Y, y_off, ldy): as
 *        gemm_f32_nt_q4 (GEMM_QM x GEMM_QN outputs per work-item), W's blocks of 32 dequantized in
 *        registers (clft_ggml_piece) a piece of a block of each of the QN rows at a time (K % 32 == 0). */

inline void gemm_nt_gg_body(int gt, int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx,
                            __global const uchar *qs, __global const half *sc, float beta, __global float *Y,
                            ulong y_off, long ldy) {
    const int n0 = (int)get_global_id(0) * GEMM_QN, m0 = (int)get_global_id(1) * GEMM_QM;
    if (n0 >= N || m0 >= M) return;
    const size_t nbk = (size_t)K >> 5;
    __global const float *xr[GEMM_QM];
#pragma unroll
    for (int i = 0; i < GEMM_QM; i++)
        xr[i] = X + x_off + (long)min(m0 + i, M - 1) * ldx;
    size_t b0[GEMM_QN]; /* block index of W[n, 0] */
#pragma unroll
    for (int j = 0; j < GEMM_QN; j++)
        b0[j] = (size_t)min(n0 + j, N - 1) * nbk;
    clft_ggml_vec acc[GEMM_QM][GEMM_QN];
#pragma unroll
    for (int i = 0; i < GEMM_QM; i++)
#pragma unroll
        for (int j = 0; j < GEMM_QN; j++)
            acc[i][j] = (clft_ggml_vec)(0.0f);
    for (size_t kb = 0; kb < nbk; kb++)
        CLFT_GGML_ACC_BLOCK(gt, qs, sc, xr, GEMM_QM, b0, GEMM_QN, kb, acc);
#pragma unroll
    for (int i = 0; i < GEMM_QM; i++) {
        if (m0 + i >= M) break;
        __global float *yr = Y + y_off + (long)(m0 + i) * ldy;
#pragma unroll
        for (int j = 0; j < GEMM_QN; j++) {
            if (n0 + j >= N) break;
            float o = alpha * clft_ggml_hsum(acc[i][j]);
            if (beta != 0.0f) o = fma(beta, yr[n0 + j], o);
            yr[n0 + j] = o;
        }
    }
}

#define GEMM_GG_KERNELS(NAME, GT)                                                                                      \
    __kernel void gemm_pack_##NAME(__global float *restrict Bp, __global const uchar *restrict qs,                     \
                                   __global const half *restrict sc, ulong eoff, long sbk, long sbj, int K, int N) {   \
        const size_t j = get_global_id(0), k = get_global_id(1);                                                       \
        const size_t npad = ((size_t)N + GEMM_NR - 1) / GEMM_NR * GEMM_NR;                                             \
        if (j >= npad || k >= (size_t)K) return;                                                                       \
        Bp[gemm_panel_index(j, k, (size_t)K)] =                                                                        \
            j < (size_t)N ? clft_ggml_value(GT, qs, sc, eoff + k * sbk + j * sbj) : 0.0f;                              \
    }                                                                                                                  \
    __kernel void gemm_f32_nt_##NAME(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off,  \
                                     long ldx, __global const uchar *restrict qs, __global const half *restrict sc,    \
                                     float beta, __global float *restrict Y, ulong y_off, long ldy) {                  \
        gemm_nt_gg_body(GT, M, N, K, alpha, X, x_off, ldx, qs, sc, beta, Y, y_off, ldy);                               \
    }

GEMM_GG_KERNELS(q8_0, 0)
GEMM_GG_KERNELS(q4_0, 1)
GEMM_GG_KERNELS(q4_1, 2)
