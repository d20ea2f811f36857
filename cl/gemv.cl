/* gemv.cl - the linear forward with few rows (decoding with a KV cache): fp32 accumulation of
 *   Y (M,N) = alpha * X (M,K) * W^T + beta * Y,   W (N,K) of any storage type, read in place once
 * for up to GEMV_MT rows of X (M is small: the host uses it for M <= 16).
 *
 * Kernels: gemv_fwd_<dtype>_<design>, dtype f32 | f16 | bf16 | q4 | q4dq, design wi | wg (| sg for
 * q4, q4dq). Every kernel starts with the same 13 arguments
 *     (M, N, K, alpha, X, x_off, ldx, sx, beta, Y, y_off, ldy, sy)
 *   X (M,K) f32, element (m,k) at X[x_off + b*sx + m*ldx + k]; Y (M,N) f32 at
 *   Y[y_off + b*sy + m*ldy + n]; b = get_global_id(1) runs over a batch of independent products
 *   (1 for a linear layer). beta == 0 overwrites Y without reading it (NaN there does not leak).
 * followed by the weight:
 *   f32 / f16 / bf16: (W, w_off, ldw, sw): element (n,k) at W[w_off + b*sw + n*ldw + k], stored as
 *        float, half bits (read with vload_half: no cl_khr_fp16 needed) or bf16 (ushort).
 *   q4:   (packed, code[16], absmax[nblocks] f32, blocksize_log2)
 *   q4dq: (packed, code[16], qabsmax[nblocks] uchar, nested_absmax f32, nested_code[256] f32,
 *          nested_blocksize, nested_log2 (-1 when nested_blocksize is not a power of two),
 *          nested_offset, blocksize_log2)   (log2 from the host: shifts, no division per block)
 *        NF4/FP4 in the bitsandbytes layout of src/ops/weight.h (batch 1, ldw = K): flattened
 *        element e = n*K + k has the code nibble packed[e/2] >> 4 (even e) or packed[e/2] & 15
 *        (odd e) and the value code[nibble] * absmax[e >> blocksize_log2]; with double quantization
 *        absmax[i] = nested_code[qabsmax[i]] * nested_absmax[i / nested_blocksize] + nested_offset.
 *        Blocks run over the flattened weight: they may start mid-row, and rows mid-byte (K odd).
 *
 * Designs:
 *   _wi  one work-item per GEMV_NR rows of W, for CPUs (local size 1 as in gemm.cl: PoCL vectorizes
 *        across work-items poorly, explicit vectors work): dot products along K in float GEMV_VW
 *        vectors, GEMV_NR rows of W in lock step sharing each load of X. 4-bit: with
 *        K % (2*VW) == 0 and blocksize >= 2*VW every row starts on a piece of 2*VW codes (VW bytes,
 *        inside one block): the VW high and VW low nibbles are looked up at once (GEMV_LUT) and
 *        multiplied with the even and odd elements of X, and a block's absmax is computed once per
 *        row (its products summed unscaled and scaled once when few accumulators allow: GEMV_FOLD);
 *        otherwise each row takes scalar head and tail elements around its aligned chunks of VW
 *        codes. Global (G, batch) with G <= ceil(N/NR): work-item g takes the groups of NR rows g,
 *        g + G, ... (the host caps G on CPUs); 4-bit: a contiguous range of ceil(groups/G) groups
 *        instead, its bytes one stream in memory order, prefetched GEMV_PF bytes ahead.
 *   _wg  a work-group of GEMV_WG work-items per GEMV_NR rows, for GPUs: neighbouring work-items read
 *        neighbouring pieces of a row (8 values: 32 bytes f32, 16 bytes f16/bf16, 4 bytes 4-bit), and
 *        the MT*NR partial sums are reduced in local memory (a tree with barriers: no subgroup
 *        extension needed). Global (ceil(N/NR) * WG, batch), local (WG, 1).
 *   _sg  4-bit only, where the compiler has cl_intel_subgroups (Intel's CPU runtime; Intel GPUs): a
 *        subgroup of 16 work-items per GEMV_NR rows; lane l holds code[l] and reads byte l of every
 *        16 bytes, its two codes looked up with intel_sub_group_shuffle (one permute for the 16 lanes,
 *        which that runtime's vectorizer makes of the work-items), sums by sub_group_reduce_add.
 *        Global (S * 16, 1), local (16, 1), S <= ceil(N/NR): subgroup s takes a contiguous range of
 *        ceil(groups/S) groups of NR rows (the host caps S on CPUs), prefetched as _wi.
 * Rows of X past M (in the last pass) re-read row M-1 and rows of W past N re-read row N-1: valid
 * memory, never stored.
 *
 * Tunables (-D): GEMV_MT (rows of X per pass over W; M > MT takes ceil(M/MT) passes), GEMV_NR (rows
 * of W per work-item / work-group), GEMV_VW (_wi vector width: 4, 8 or 16), GEMV_WG (_wg work-group
 * size, a power of two), GEMV_LUT (_wi 4-bit lookup of 16 codes as nf4.cl's NF4_LUT: 0 auto, 1 the
 * portable shuffle(), 2 AVX2 permutes, 3 one AVX-512 permute; 2 and 3 fall back where the device's
 * compiler does not target them), GEMV_PF (_wi and _sg 4-bit: prefetch distance in bytes, 0 none;
 * the prefetch address stays inside the weight).
 * Extensions: none needed; cl_intel_subgroups for the _sg kernels (compiled only where the
 * compiler defines it). No fast math; FP_CONTRACT OFF (the double-quantized absmax rounds as in
 * src/quant; the products use fma() explicitly). Sizes: M, N, K < 2^31, offsets and strides 64-bit. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef GEMV_MT
#define GEMV_MT 1
#endif
#ifndef GEMV_NR
#define GEMV_NR 4
#endif
#ifndef GEMV_VW
#define GEMV_VW 16
#endif
#ifndef GEMV_WG
#define GEMV_WG 64
#endif
#ifndef GEMV_LUT
#define GEMV_LUT 0
#endif
#ifndef GEMV_PF
#define GEMV_PF 0
#endif

/* a cache-line prefetch (x86 prefetcht0 from a CPU clang), OpenCL's prefetch() elsewhere */
#if defined(CLFT_DEVICE_CPU) && defined(__clang__)
#define GEMV_PREFETCH(p) __builtin_prefetch(p)
#else
#define GEMV_PREFETCH(p) prefetch(p, 1)
#endif

/* _wi 4-bit: sum a block's products unscaled and scale them once (twice the accumulators) */
#define GEMV_FOLD (GEMV_MT * GEMV_NR <= 8)

#if GEMV_VW != 4 && GEMV_VW != 8 && GEMV_VW != 16
#error "GEMV_VW must be 4, 8 or 16"
#endif
#if GEMV_WG < 1 || (GEMV_WG & (GEMV_WG - 1))
#error "GEMV_WG must be a power of two"
#endif

#define GEMV_CAT_(a, b) a##b
#define GEMV_CAT(a, b)  GEMV_CAT_(a, b)

typedef GEMV_CAT(float, GEMV_VW) gemv_vec;
typedef GEMV_CAT(uint, GEMV_VW) gemv_idx;
#define GEMV_VLOAD(p)      GEMV_CAT(vload, GEMV_VW)(0, p)
#define GEMV_VLOAD_HALF(p) GEMV_CAT(vload_half, GEMV_VW)(0, p)
#define GEMV_VLOAD_BF16(p) GEMV_CAT(as_float, GEMV_VW)(GEMV_CAT(convert_uint, GEMV_VW)(GEMV_VLOAD(p)) << 16)

/* a requested x86 permute the device's compiler does not target falls back to shuffle() */
#if GEMV_LUT == 3 && !(defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX512F__))
#undef GEMV_LUT
#define GEMV_LUT 0
#endif
#if GEMV_LUT == 2 && !(defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX2__))
#undef GEMV_LUT
#define GEMV_LUT 0
#endif
#if GEMV_LUT == 0
#undef GEMV_LUT
#if defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX512F__)
#define GEMV_LUT 3
#elif defined(CLFT_DEVICE_CPU) && defined(__clang__) && defined(__AVX2__)
#define GEMV_LUT 2
#else
#define GEMV_LUT 1
#endif
#endif

/* (dot(), not lane by lane: LLVM turns that into shufflevectors with undef lanes, on which Oclgrind
 * 21.10's --uninitialized check crashes) */
inline float gemv_sum4(float4 v) { return dot(v, (float4)(1.0f)); }
inline float gemv_hsum(gemv_vec v) {
#if GEMV_VW == 16
    const float8 h = v.lo + v.hi;
    return gemv_sum4(h.lo + h.hi);
#elif GEMV_VW == 8
    return gemv_sum4(v.lo + v.hi);
#else
    return gemv_sum4(v);
#endif
}
inline float gemv_dot8(float8 x, float8 w) {
    float8 p = x * w;
    return gemv_sum4(p.lo + p.hi);
}

/* y = alpha * s + beta * y (y not read when beta == 0) */
inline void gemv_put(__global float *y, float s, float alpha, float beta) {
    float o = alpha * s;
    if (beta != 0.0f) o = fma(beta, *y, o);
    *y = o;
}

/* Y[m0 + i, n0 + r] = alpha * s[i][r] + beta * Y (s flattened [MT][NR]) inside the (M,N) view. */
inline void gemv_put_tile(const float *s, int m0, int n0, int M, int N, float alpha, float beta, __global float *Yb,
                          long ldy) {
#pragma unroll
    for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
        for (int r = 0; r < GEMV_NR; r++)
            if (m0 + i < M && n0 + r < N)
                gemv_put(Yb + (size_t)(m0 + i) * ldy + n0 + r, s[i * GEMV_NR + r], alpha, beta);
}

/* Element index of W[n0 + r, 0] for the NR rows of W of a work-item / group (past N: row N-1). */
inline void gemv_w_rows(size_t *w, size_t off, int n0, int N, size_t ld) {
#pragma unroll
    for (int r = 0; r < GEMV_NR; r++)
        w[r] = off + (size_t)min(n0 + r, N - 1) * ld;
}
/* The MT rows of X of the pass starting at row m0 (past M: row M-1). */
inline void gemv_x_rows(__global const float **x, __global const float *Xb, int m0, int M, long ldx) {
#pragma unroll
    for (int i = 0; i < GEMV_MT; i++)
        x[i] = Xb + (size_t)min(m0 + i, M - 1) * ldx;
}

/* ---- dense weights ------------------------------------------------------------------------- */

/* dt: 0 f32, 1 f16, 2 bf16 (a constant after inlining: the branches fold away). W is the byte
 * address of the weight; idx counts elements. */
inline gemv_vec gemv_loadv(int dt, __global const uchar *W, size_t idx) {
    if (dt == 0) return GEMV_VLOAD((__global const float *)W + idx);
    if (dt == 1) return GEMV_VLOAD_HALF((__global const half *)W + idx);
    return GEMV_VLOAD_BF16((__global const ushort *)W + idx);
}
inline float8 gemv_load8(int dt, __global const uchar *W, size_t idx) {
    if (dt == 0) return vload8(0, (__global const float *)W + idx);
    if (dt == 1) return vload_half8(0, (__global const half *)W + idx);
    return as_float8(convert_uint8(vload8(0, (__global const ushort *)W + idx)) << 16);
}
inline float gemv_load1(int dt, __global const uchar *W, size_t idx) {
    if (dt == 0) return ((__global const float *)W)[idx];
    if (dt == 1) return vload_half(idx, (__global const half *)W);
    return clft_bf16_to_f32(((__global const ushort *)W)[idx]);
}

/* The rows n0 = g*NR .. n0+NR-1 of W (batch b), one work-item. */
inline void gemv_dense_wi_group(int dt, int M, int N, int K, float alpha, __global const float *X, ulong x_off,
                                long ldx, long sx, float beta, __global float *Y, ulong y_off, long ldy, long sy,
                                __global const uchar *W, ulong w_off, long ldw, long sw, size_t b, size_t g) {
    const int n0 = (int)(g * GEMV_NR);
    size_t wr[GEMV_NR]; /* element index of W[n, 0] */
    gemv_w_rows(wr, w_off + b * sw, n0, N, (size_t)ldw);
    __global const float *Xb = X + x_off + b * sx;
    __global float *Yb = Y + y_off + b * sy;
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, Xb, m0, M, ldx);
        gemv_vec acc[GEMV_MT][GEMV_NR];
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                acc[i][r] = (gemv_vec)(0.0f);
        int k = 0;
        for (; k + GEMV_VW <= K; k += GEMV_VW) {
            gemv_vec w[GEMV_NR];
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                w[r] = gemv_loadv(dt, W, wr[r] + (size_t)k);
#pragma unroll
            for (int i = 0; i < GEMV_MT; i++) {
                const gemv_vec x = GEMV_VLOAD(xr[i] + k);
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++)
                    acc[i][r] = fma(x, w[r], acc[i][r]);
            }
        }
        float s[GEMV_MT][GEMV_NR];
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                s[i][r] = gemv_hsum(acc[i][r]);
        for (; k < K; k++) {
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++) {
                const float w = gemv_load1(dt, W, wr[r] + (size_t)k);
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++)
                    s[i][r] = fma(xr[i][k], w, s[i][r]);
            }
        }
        gemv_put_tile(&s[0][0], m0, n0, M, N, alpha, beta, Yb, ldy);
    }
}

inline void gemv_dense_wi(int dt, int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx,
                          long sx, float beta, __global float *Y, ulong y_off, long ldy, long sy,
                          __global const uchar *W, ulong w_off, long ldw, long sw) {
    /* groups of NR rows, strided over the work-items (on a CPU the host launches a few dozen: a
     * work-group costs PoCL a call, and a work-item per group made it a large part of the time) */
    for (size_t g = get_global_id(0); g * GEMV_NR < (size_t)N; g += get_global_size(0))
        gemv_dense_wi_group(dt, M, N, K, alpha, X, x_off, ldx, sx, beta, Y, y_off, ldy, sy, W, w_off, ldw, sw,
                            get_global_id(1), g);
}

/* The MT*NR partial sums of every work-item (acc, flattened [i][r]) summed over the work-group in
 * red[MT*NR*WG], stored by the first MT*NR work-items. Called by the whole work-group. */
inline void gemv_wg_finish(const float *acc, __local float *red, int m0, int n0, int M, int N, float alpha, float beta,
                           __global float *Yb, long ldy) {
    const int lid = (int)get_local_id(0);
#pragma unroll
    for (int o = 0; o < GEMV_MT * GEMV_NR; o++)
        red[o * GEMV_WG + lid] = acc[o];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = GEMV_WG / 2; h > 0; h >>= 1) {
        if (lid < h)
            for (int o = 0; o < GEMV_MT * GEMV_NR; o++)
                red[o * GEMV_WG + lid] += red[o * GEMV_WG + lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    /* (not o / NR and o % NR: LLVM pairs them with a freeze instruction, which Oclgrind 21.10's
     * --uninitialized check does not support) */
    for (int i = 0; i < GEMV_MT; i++)
        for (int r = 0; r < GEMV_NR; r++) {
            const int o = i * GEMV_NR + r;
            if ((o & (GEMV_WG - 1)) == lid && m0 + i < M && n0 + r < N)
                gemv_put(Yb + (size_t)(m0 + i) * ldy + n0 + r, red[o * GEMV_WG], alpha, beta);
        }
    barrier(CLK_LOCAL_MEM_FENCE); /* red is written again by the next pass */
}

inline void gemv_dense_wg(int dt, int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx,
                          long sx, float beta, __global float *Y, ulong y_off, long ldy, long sy,
                          __global const uchar *W, ulong w_off, long ldw, long sw, __local float *red) {
    const int lid = (int)get_local_id(0);
    const int n0 = (int)get_group_id(0) * GEMV_NR;
    const size_t b = get_global_id(1);
    if (n0 >= N) return; /* the whole work-group */
    size_t wr[GEMV_NR];
    gemv_w_rows(wr, w_off + b * sw, n0, N, (size_t)ldw);
    __global const float *Xb = X + x_off + b * sx;
    const int kv = K / 8 * 8; /* the vector part of K */
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, Xb, m0, M, ldx);
        float acc[GEMV_MT * GEMV_NR];
#pragma unroll
        for (int o = 0; o < GEMV_MT * GEMV_NR; o++)
            acc[o] = 0.0f;
        for (int k = lid * 8; k < kv; k += GEMV_WG * 8) {
            float8 w[GEMV_NR];
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                w[r] = gemv_load8(dt, W, wr[r] + (size_t)k);
#pragma unroll
            for (int i = 0; i < GEMV_MT; i++) {
                const float8 x = vload8(0, xr[i] + k);
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++)
                    acc[i * GEMV_NR + r] += gemv_dot8(x, w[r]);
            }
        }
        for (int k = kv + lid; k < K; k += GEMV_WG) {
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++) {
                const float w = gemv_load1(dt, W, wr[r] + (size_t)k);
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++)
                    acc[i * GEMV_NR + r] = fma(xr[i][k], w, acc[i * GEMV_NR + r]);
            }
        }
        gemv_wg_finish(acc, red, m0, n0, M, N, alpha, beta, Y + y_off + b * sy, ldy);
    }
}

#define GEMV_DENSE_KERNELS(DT, NAME, T)                                                                                \
    __kernel void gemv_fwd_##NAME##_wi(int M, int N, int K, float alpha, __global const float *restrict X,             \
                                       ulong x_off, long ldx, long sx, float beta, __global float *restrict Y,         \
                                       ulong y_off, long ldy, long sy, __global const T *restrict W, ulong w_off,      \
                                       long ldw, long sw) {                                                            \
        gemv_dense_wi(DT, M, N, K, alpha, X, x_off, ldx, sx, beta, Y, y_off, ldy, sy, (__global const uchar *)W,       \
                      w_off, ldw, sw);                                                                                 \
    }                                                                                                                  \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_fwd_##NAME##_wg(                           \
        int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx, long sx,            \
        float beta, __global float *restrict Y, ulong y_off, long ldy, long sy, __global const T *restrict W,          \
        ulong w_off, long ldw, long sw) {                                                                              \
        __local float red[GEMV_MT * GEMV_NR * GEMV_WG];                                                                \
        gemv_dense_wg(DT, M, N, K, alpha, X, x_off, ldx, sx, beta, Y, y_off, ldy, sy, (__global const uchar *)W,       \
                      w_off, ldw, sw, red);                                                                            \
    }

GEMV_DENSE_KERNELS(0, f32, float)
GEMV_DENSE_KERNELS(1, f16, half)
GEMV_DENSE_KERNELS(2, bf16, ushort)

/* weight j's argument a##j (j uniform over the work-item or subgroup: one call of the group function,
 * which Intel's compiler keeps in vector lanes where three calls made it run lane by lane) */
#define GEMV_PICK(a) (j == 0 ? a##0 : j == 1 ? a##1 : a##2)

/* gemv_fwd_<f32|f16|bf16>_wi3: three weights of the same storage and K in one launch (batch 1), each
 * against its own X_j (M,K) in the same buffer (the same X, or the LoRA intermediates of q, k and v
 * side by side), their groups of NR rows numbered one after the other and strided over the
 * work-items as one weight's; each row computed by gemv_dense_wi_group, as the one-weight kernel.
 * Arguments: (M, K, alpha, X, ldx, beta) and per weight j = 0, 1, 2
 * (N_j, x_off_j, Y_j, y_off_j, ldy_j, W_j, w_off_j, ldw_j); a weight with N_j = 0 is not read. */
#define GEMV_DW(T, j)                                                                                                  \
    int N##j, ulong x_off##j, __global float *restrict Y##j, ulong y_off##j, long ldy##j,                              \
        __global const T *restrict W##j, ulong w_off##j, long ldw##j
#define GEMV_DW_ARGS(DT)                                                                                               \
    DT, M, GEMV_PICK(N), K, alpha, X, GEMV_PICK(x_off), ldx, 0, beta, GEMV_PICK(Y), GEMV_PICK(y_off), GEMV_PICK(ldy),  \
        0, (__global const uchar *)GEMV_PICK(W), GEMV_PICK(w_off), GEMV_PICK(ldw), 0, 0
#define GEMV_DENSE_MULTI(DT, NAME, T)                                                                                  \
    __kernel void gemv_fwd_##NAME##_wi3(int M, int K, float alpha, __global const float *restrict X, long ldx,         \
                                        float beta, GEMV_DW(T, 0), GEMV_DW(T, 1), GEMV_DW(T, 2)) {                     \
        const size_t ng0 = ((size_t)N0 + GEMV_NR - 1) / GEMV_NR, ng1 = ((size_t)N1 + GEMV_NR - 1) / GEMV_NR;           \
        const size_t ng = ng0 + ng1 + ((size_t)N2 + GEMV_NR - 1) / GEMV_NR;                                            \
        for (size_t g = get_global_id(0); g < ng; g += get_global_size(0)) {                                           \
            const int j = g < ng0 ? 0 : g < ng0 + ng1 ? 1 : 2;                                                         \
            gemv_dense_wi_group(GEMV_DW_ARGS(DT), g - (j > 0 ? ng0 : 0) - (j > 1 ? ng1 : 0));                          \
        }                                                                                                              \
    }

GEMV_DENSE_MULTI(0, f32, float)
GEMV_DENSE_MULTI(1, f16, half)
GEMV_DENSE_MULTI(2, bf16, ushort)

/* ---- 4-bit weights (NF4/FP4, optional double quantization) ---------------------------------- */

/* absmax of block i: the f32 table, or rebuilt from the double quantization (dq) */
inline float gemv_q4_absmax(int dq, __global const float *absmax_f, __global const uchar *qabsmax,
                            __global const float *nabs, __global const float *ncode, int nbs, int nbsl, float noff,
                            size_t i) {
    if (!dq) return absmax_f[i];
    /* a shift for the usual power-of-two nested block (256, nbsl = 8): no division per block */
    const size_t j = nbsl >= 0 ? i >> nbsl : i / (size_t)nbs;
    const float t = ncode[qabsmax[i]] * nabs[j];
    return t + noff;
}

/* value of flattened element e with its block's absmax */
inline float gemv_q4_one(__global const uchar *packed, __global const float *code, size_t e, float am) {
    const uchar by = packed[e >> 1];
    return code[(e & 1) ? (by & 15) : (by >> 4)] * am;
}

/* t[i] += X[i][k] * (element er + k of W) for k in [k0, k1), one by one (the ends of a ragged row) */
inline void gemv_q4_span(float *t, __global const float **xr, int k0, int k1, size_t er, __global const uchar *packed,
                         __global const float *code, int dq, __global const float *absmax_f,
                         __global const uchar *qabsmax, __global const float *nabs, __global const float *ncode,
                         int nbs, int nbsl, float noff, int bsl) {
    for (int k = k0; k < k1; k++) {
        const size_t e = er + (size_t)k;
        const float w =
            gemv_q4_one(packed, code, e, gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl));
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
            t[i] = fma(xr[i][k], w, t[i]);
    }
}

/* the GEMV_VW codes of the chunk starting at the even element e, in element order */
inline gemv_idx gemv_q4_codes(__global const uchar *packed, size_t e) {
#if GEMV_VW == 16
    /* little-endian: byte i is bits 8i..8i+7 of its word; lanes 0-7 read word 0, 8-15 word 1
     * (written out: Oclgrind 21.10 crashes on the (uint16)((uint8)x, (uint8)y) form) */
    const uint2 w = as_uint2(vload8(0, packed + (e >> 1)));
    const uint16 src =
        (uint16)(w.s0, w.s0, w.s0, w.s0, w.s0, w.s0, w.s0, w.s0, w.s1, w.s1, w.s1, w.s1, w.s1, w.s1, w.s1, w.s1);
    return (src >> (uint16)(4, 0, 12, 8, 20, 16, 28, 24, 4, 0, 12, 8, 20, 16, 28, 24)) & (uint16)15u;
#elif GEMV_VW == 8
    const uint w = as_uint(vload4(0, packed + (e >> 1)));
    return ((uint8)(w) >> (uint8)(4, 0, 12, 8, 20, 16, 28, 24)) & (uint8)15u;
#else
    const uint w = (uint)as_ushort(vload2(0, packed + (e >> 1)));
    return ((uint4)(w) >> (uint4)(4, 0, 12, 8)) & (uint4)15u;
#endif
}

/* tbl[idx] in every lane */
inline gemv_vec gemv_q4_lookup(float16 tbl, gemv_idx idx) {
#if GEMV_VW == 16 && GEMV_LUT == 3 /* one AVX-512 vpermps */
    return __builtin_ia32_permvarsf512(tbl, as_int16(idx));
#elif GEMV_VW == 16 && GEMV_LUT == 2 /* two AVX2 vpermps per half and a blend on bit 3 */
    const int16 i = as_int16(idx);
    const float8 lo0 = __builtin_ia32_permvarsf256(tbl.lo, i.lo), hi0 = __builtin_ia32_permvarsf256(tbl.hi, i.lo);
    const float8 lo1 = __builtin_ia32_permvarsf256(tbl.lo, i.hi), hi1 = __builtin_ia32_permvarsf256(tbl.hi, i.hi);
    return select((float16)(lo0, lo1), (float16)(hi0, hi1), i << 28);
#else
    return shuffle(tbl, idx);
#endif
}

/* the low nibbles of bytes widened to uint lanes: the x86 permutes read only the index bits they
 * need (4, or 3 and bit 3 as a sign after << 28); shuffle() is given them masked */
#if GEMV_LUT == 1
#define GEMV_LOW4(c) ((c)&15u)
#else
#define GEMV_LOW4(c) (c)
#endif

/* the argument list of one 4-bit weight and its output, as the kernels take them (a macro: the
 * kernels of several weights take it once per weight) */
#define GEMV_Q4_PARAMS                                                                                                 \
    int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx, float beta, __global float *Y,   \
        ulong y_off, long ldy, __global const uchar *packed, __global const float *code,                               \
        __global const float *absmax_f, __global const uchar *qabsmax, __global const float *nabs,                     \
        __global const float *ncode, int nbs, int nbsl, float noff, int bsl
#define GEMV_Q4_ARGS                                                                                                   \
    M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, \
        bsl

/* The rows n0 = g*NR .. n0+NR-1 of a 4-bit weight, one work-item. */
inline void gemv_q4_wi_group(int dq, GEMV_Q4_PARAMS, size_t g) {
    const int n0 = (int)(g * GEMV_NR);
    size_t e0[GEMV_NR]; /* flattened index of W[n, 0] */
    gemv_w_rows(e0, 0, n0, N, (size_t)K);
    const float16 tbl = vload16(0, code);
    const size_t bsm = ((size_t)1 << bsl) - 1; /* blocks of 2^bsl */
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, X + x_off, m0, M, ldx);
        float s[GEMV_MT][GEMV_NR];
        if (K % (2 * GEMV_VW) == 0 && (1 << bsl) >= 2 * GEMV_VW) {
            /* lock step in pieces of 2*VW codes (VW bytes: on a byte, inside one block). A byte's
             * high nibbles are the even elements and its low nibbles the odd ones, so X is split
             * into its even and odd elements (once for all NR rows) instead of interleaving the
             * looked-up weights of every row. With few accumulators a block's products are summed
             * unscaled and scaled by its absmax once (GEMV_FOLD). */
            gemv_vec acc[GEMV_MT][GEMV_NR];
#if GEMV_FOLD
            gemv_vec bacc[GEMV_MT][GEMV_NR];
#endif
#pragma unroll
            for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
                    acc[i][r] = (gemv_vec)(0.0f);
#if GEMV_FOLD
                    bacc[i][r] = (gemv_vec)(0.0f);
#endif
                }
            float am[GEMV_NR];
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                am[r] = 0.0f;
#if GEMV_PF
            /* prefetch: the bytes of W GEMV_PF ahead of this piece of the first row, in memory
             * order (NR*VW bytes per piece, as read), running on into the next groups' rows;
             * kept inside the weight */
            const size_t pend = ((size_t)N * (size_t)K - 1) >> 1;
            size_t pf = (e0[0] >> 1) + GEMV_PF;
#endif
            for (int k = 0; k < K; k += 2 * GEMV_VW) {
#if GEMV_PF
#pragma unroll
                for (int j = 0; j < GEMV_NR * GEMV_VW; j += 64)
                    GEMV_PREFETCH(packed + min(pf + (size_t)j, pend));
                pf += GEMV_NR * GEMV_VW;
#endif
                gemv_vec xe[GEMV_MT], xo[GEMV_MT];
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++) {
                    const gemv_vec x0 = GEMV_VLOAD(xr[i] + k), x1 = GEMV_VLOAD(xr[i] + k + GEMV_VW);
                    xe[i] = (gemv_vec)(x0.even, x1.even);
                    xo[i] = (gemv_vec)(x0.odd, x1.odd);
                }
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
                    const size_t e = e0[r] + (size_t)k;
                    if (k == 0 || (e & bsm) == 0) {
#if GEMV_FOLD
#pragma unroll
                        for (int i = 0; i < GEMV_MT; i++) {
                            acc[i][r] = fma((gemv_vec)(am[r]), bacc[i][r], acc[i][r]);
                            bacc[i][r] = (gemv_vec)(0.0f);
                        }
#endif
                        am[r] = gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl);
                    }
                    const gemv_idx c = GEMV_CAT(convert_uint, GEMV_VW)(GEMV_VLOAD(packed + (e >> 1)));
#if GEMV_FOLD
                    const gemv_vec wh = gemv_q4_lookup(tbl, c >> 4), wl = gemv_q4_lookup(tbl, GEMV_LOW4(c));
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        bacc[i][r] = fma(xo[i], wl, fma(xe[i], wh, bacc[i][r]));
#else
                    const gemv_vec wh = gemv_q4_lookup(tbl, c >> 4) * am[r];
                    const gemv_vec wl = gemv_q4_lookup(tbl, GEMV_LOW4(c)) * am[r];
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        acc[i][r] = fma(xo[i], wl, fma(xe[i], wh, acc[i][r]));
#endif
                }
            }
#pragma unroll
            for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
#if GEMV_FOLD
                    acc[i][r] = fma((gemv_vec)(am[r]), bacc[i][r], acc[i][r]);
#endif
                    s[i][r] = gemv_hsum(acc[i][r]);
                }
        } else {
            /* ragged K: rows start anywhere; each row runs scalar up to its first chunk boundary,
             * chunks, then a scalar tail */
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++) {
                const size_t er = e0[r];
                const int head = min(K, (int)((GEMV_VW - er % GEMV_VW) % GEMV_VW));
                float t[GEMV_MT];
                gemv_vec acc[GEMV_MT];
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++) {
                    t[i] = 0.0f;
                    acc[i] = (gemv_vec)(0.0f);
                }
                gemv_q4_span(t, xr, 0, head, er, packed, code, dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff,
                             bsl);
                int k = head;
                float am = 0.0f;
                for (; k + GEMV_VW <= K; k += GEMV_VW) {
                    const size_t e = er + (size_t)k;
                    if (k == head || (e & bsm) == 0)
                        am = gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl);
                    const gemv_vec w = gemv_q4_lookup(tbl, gemv_q4_codes(packed, e)) * am;
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        acc[i] = fma(GEMV_VLOAD(xr[i] + k), w, acc[i]);
                }
                gemv_q4_span(t, xr, k, K, er, packed, code, dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, bsl);
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++)
                    s[i][r] = t[i] + gemv_hsum(acc[i]);
            }
        }
        gemv_put_tile(&s[0][0], m0, n0, M, N, alpha, beta, Y + y_off, ldy);
    }
}

/* The groups [g0, g1) of this work-item: a contiguous range of ceil(groups / G) of the `ng` groups of
 * NR rows, so that its bytes of W are one stream in memory order, which the prefetch of the group
 * functions runs ahead of (the host launches a few work-items per core). */
inline void gemv_range(size_t ng, size_t id, size_t count, size_t *g0, size_t *g1) {
    const size_t per = (ng + count - 1) / count;
    *g0 = min(ng, id * per);
    *g1 = min(ng, *g0 + per);
}

inline void gemv_q4_wi(int dq, GEMV_Q4_PARAMS) {
    size_t g0, g1;
    gemv_range(((size_t)N + GEMV_NR - 1) / GEMV_NR, get_global_id(0), get_global_size(0), &g0, &g1);
    for (size_t g = g0; g < g1; g++)
        gemv_q4_wi_group(dq, GEMV_Q4_ARGS, g);
}

inline void gemv_q4_wg(int dq, int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx,
                       float beta, __global float *Y, ulong y_off, long ldy, __global const uchar *packed,
                       __global const float *code, __global const float *absmax_f, __global const uchar *qabsmax,
                       __global const float *nabs, __global const float *ncode, int nbs, int nbsl, float noff, int bsl,
                       __local float *red, __local float *lut) {
    const int lid = (int)get_local_id(0);
    const int n0 = (int)get_group_id(0) * GEMV_NR;
    if (n0 >= N) return; /* the whole work-group */
    for (int c = lid; c < 16; c += GEMV_WG)
        lut[c] = code[c];
    barrier(CLK_LOCAL_MEM_FENCE);
    size_t e0[GEMV_NR];
    gemv_w_rows(e0, 0, n0, N, (size_t)K);
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, X + x_off, m0, M, ldx);
        float acc[GEMV_MT * GEMV_NR];
#pragma unroll
        for (int o = 0; o < GEMV_MT * GEMV_NR; o++)
            acc[o] = 0.0f;
        if (K % 8 == 0) {
            /* pieces of 8 codes (4 bytes) per work-item: on a byte, inside one block */
            for (int k = lid * 8; k < K; k += GEMV_WG * 8) {
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
                    const size_t e = e0[r] + (size_t)k;
                    const float am = gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl);
                    const uchar4 q = vload4(0, packed + (e >> 1));
                    const float8 w = (float8)(lut[q.s0 >> 4], lut[q.s0 & 15], lut[q.s1 >> 4], lut[q.s1 & 15],
                                              lut[q.s2 >> 4], lut[q.s2 & 15], lut[q.s3 >> 4], lut[q.s3 & 15]) *
                                     am;
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        acc[i * GEMV_NR + r] += gemv_dot8(vload8(0, xr[i] + k), w);
                }
            }
        } else {
            /* ragged K: element by element */
            for (int k = lid; k < K; k += GEMV_WG) {
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
                    const size_t e = e0[r] + (size_t)k;
                    const uchar by = packed[e >> 1];
                    const float w = lut[(e & 1) ? (by & 15) : (by >> 4)] *
                                    gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl);
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        acc[i * GEMV_NR + r] = fma(xr[i][k], w, acc[i * GEMV_NR + r]);
                }
            }
        }
        gemv_wg_finish(acc, red, m0, n0, M, N, alpha, beta, Y + y_off, ldy);
    }
}

/* the batch strides sx, sy are accepted for a common argument list; 4-bit weights have batch 1 */
__kernel void gemv_fwd_q4_wi(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx,
                             long sx, float beta, __global float *restrict Y, ulong y_off, long ldy, long sy,
                             __global const uchar *restrict packed, __global const float *restrict code,
                             __global const float *restrict absmax, int blocksize_log2) {
    gemv_q4_wi(0, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, absmax, packed, absmax, absmax, 1,
               0, 0.0f, blocksize_log2);
}

__kernel void gemv_fwd_q4dq_wi(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off,
                               long ldx, long sx, float beta, __global float *restrict Y, ulong y_off, long ldy,
                               long sy, __global const uchar *restrict packed, __global const float *restrict code,
                               __global const uchar *restrict qabsmax, __global const float *restrict nested_absmax,
                               __global const float *restrict nested_code, int nested_blocksize, int nested_log2,
                               float nested_offset, int blocksize_log2) {
    gemv_q4_wi(1, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, nested_absmax, qabsmax,
               nested_absmax, nested_code, nested_blocksize, nested_log2, nested_offset, blocksize_log2);
}

__kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void
gemv_fwd_q4_wg(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx, long sx,
               float beta, __global float *restrict Y, ulong y_off, long ldy, long sy,
               __global const uchar *restrict packed, __global const float *restrict code,
               __global const float *restrict absmax, int blocksize_log2) {
    __local float red[GEMV_MT * GEMV_NR * GEMV_WG];
    __local float lut[16];
    gemv_q4_wg(0, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, absmax, packed, absmax, absmax, 1,
               0, 0.0f, blocksize_log2, red, lut);
}

__kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void
gemv_fwd_q4dq_wg(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx, long sx,
                 float beta, __global float *restrict Y, ulong y_off, long ldy, long sy,
                 __global const uchar *restrict packed, __global const float *restrict code,
                 __global const uchar *restrict qabsmax, __global const float *restrict nested_absmax,
                 __global const float *restrict nested_code, int nested_blocksize, int nested_log2, float nested_offset,
                 int blocksize_log2) {
    __local float red[GEMV_MT * GEMV_NR * GEMV_WG];
    __local float lut[16];
    gemv_q4_wg(1, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, nested_absmax, qabsmax,
               nested_absmax, nested_code, nested_blocksize, nested_log2, nested_offset, blocksize_log2, red, lut);
}

/* ---- several 4-bit weights against the same X, one launch -------------------------------------- */

/* gemv_fwd_<q4|q4dq>_<wi|sg>3: Y_j (M, N_j) = alpha * X_j (M,K) * W_j^T + beta * Y_j for three
 * weights of the same storage and K (the decoder's q, k and v projections; gate and up with N_2 = 0),
 * X_j at its own offset of one buffer, their groups of NR rows numbered one after the other and
 * ranged over the work-items (subgroups) as one weight's: each row is computed by the code of the
 * one-weight kernels, so the results are theirs.
 * Arguments: (M, K, alpha, X, ldx, beta) and then per weight j = 0, 1, 2
 *   q4:   (N_j, x_off_j, Y_j, y_off_j, ldy_j, packed_j, code_j, absmax_j, blocksize_log2_j)
 *   q4dq: (N_j, x_off_j, Y_j, y_off_j, ldy_j, packed_j, code_j, qabsmax_j, nested_absmax_j,
 *          nested_code_j, nested_blocksize_j, nested_log2_j, nested_offset_j, blocksize_log2_j)
 * A weight with N_j = 0 is not read (its buffers may be any other weight's). */
#define GEMV_Q4W(j)                                                                                                    \
    int N##j, ulong x_off##j, __global float *restrict Y##j, ulong y_off##j, long ldy##j,                              \
        __global const uchar *restrict packed##j, __global const float *restrict code##j,                              \
        __global const float *restrict absmax##j, int bsl##j
#define GEMV_Q4DQW(j)                                                                                                  \
    int N##j, ulong x_off##j, __global float *restrict Y##j, ulong y_off##j, long ldy##j,                              \
        __global const uchar *restrict packed##j, __global const float *restrict code##j,                              \
        __global const uchar *restrict qabsmax##j, __global const float *restrict nabs##j,                             \
        __global const float *restrict ncode##j, int nbs##j, int nbsl##j, float noff##j, int bsl##j
#define GEMV_Q4W_ARGS                                                                                                  \
    M, GEMV_PICK(N), K, alpha, X, GEMV_PICK(x_off), ldx, beta, GEMV_PICK(Y), GEMV_PICK(y_off), GEMV_PICK(ldy),         \
        GEMV_PICK(packed), GEMV_PICK(code), GEMV_PICK(absmax), GEMV_PICK(packed), GEMV_PICK(absmax),                   \
        GEMV_PICK(absmax), 1, 0, 0.0f, GEMV_PICK(bsl)
#define GEMV_Q4DQW_ARGS                                                                                                \
    M, GEMV_PICK(N), K, alpha, X, GEMV_PICK(x_off), ldx, beta, GEMV_PICK(Y), GEMV_PICK(y_off), GEMV_PICK(ldy),         \
        GEMV_PICK(packed), GEMV_PICK(code), GEMV_PICK(nabs), GEMV_PICK(qabsmax), GEMV_PICK(nabs), GEMV_PICK(ncode),    \
        GEMV_PICK(nbs), GEMV_PICK(nbsl), GEMV_PICK(noff), GEMV_PICK(bsl)
/* the group loop of the three weights: DESIGN wi or sg, ID / COUNT this work-item's (subgroup's) */
#define GEMV_Q4_MULTI(DESIGN, DQ, ARGS, ID, COUNT)                                                                     \
    const size_t ng0 = ((size_t)N0 + GEMV_NR - 1) / GEMV_NR, ng1 = ((size_t)N1 + GEMV_NR - 1) / GEMV_NR;               \
    const size_t ng2 = ((size_t)N2 + GEMV_NR - 1) / GEMV_NR;                                                           \
    size_t g0, g1;                                                                                                     \
    gemv_range(ng0 + ng1 + ng2, ID, COUNT, &g0, &g1);                                                                  \
    for (size_t g = g0; g < g1; g++) {                                                                                 \
        const int j = g < ng0 ? 0 : g < ng0 + ng1 ? 1 : 2;                                                             \
        gemv_q4_##DESIGN##_group(DQ, ARGS, g - (j > 0 ? ng0 : 0) - (j > 1 ? ng1 : 0));                                 \
    }

__kernel void gemv_fwd_q4_wi3(int M, int K, float alpha, __global const float *restrict X, long ldx, float beta,
                              GEMV_Q4W(0), GEMV_Q4W(1), GEMV_Q4W(2)) {
    GEMV_Q4_MULTI(wi, 0, GEMV_Q4W_ARGS, get_global_id(0), get_global_size(0));
}

__kernel void gemv_fwd_q4dq_wi3(int M, int K, float alpha, __global const float *restrict X, long ldx, float beta,
                                GEMV_Q4DQW(0), GEMV_Q4DQW(1), GEMV_Q4DQW(2)) {
    GEMV_Q4_MULTI(wi, 1, GEMV_Q4DQW_ARGS, get_global_id(0), get_global_size(0));
}

/* ---- 4-bit, a subgroup of 16 work-items per rows (cl_intel_subgroups) ------------------------ */

#ifdef cl_intel_subgroups
/* Lane l holds code[l], so the lookup of every lane's code is one sub_group shuffle (a permute on
 * a CPU, where the runtime runs the 16 work-items as the lanes of one vector), and reads byte l of
 * each piece of 16 bytes: elements 2l (high nibble) and 2l+1 (low) against X's pair at 2l. */
/* The rows n0 = g*NR .. n0+NR-1 of a 4-bit weight, one subgroup. */
inline void gemv_q4_sg_group(int dq, GEMV_Q4_PARAMS, size_t g) {
    const int lane = (int)get_sub_group_local_id();
    const float tl = code[lane];
    const int n0 = (int)g * GEMV_NR;
    size_t e0[GEMV_NR];
    gemv_w_rows(e0, 0, n0, N, (size_t)K);
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, X + x_off, m0, M, ldx);
        float acc[GEMV_MT][GEMV_NR];
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                acc[i][r] = 0.0f;
        if (K % 32 == 0 && bsl >= 5) {
            /* pieces of 32 codes: on a byte, inside one block (one absmax per row and piece) */
#if GEMV_PF
            const size_t pend = ((size_t)N * (size_t)K - 1) >> 1;
            size_t pf = (e0[0] >> 1) + GEMV_PF;
#endif
            for (int k = 0; k < K; k += 32) {
#if GEMV_PF
                GEMV_PREFETCH(packed + min(pf, pend)); /* the same address in every lane */
                pf += GEMV_NR * 16;
#endif
                float2 x[GEMV_MT];
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++)
                    x[i] = vload2(0, xr[i] + k + 2 * lane);
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
                    const size_t e = e0[r] + (size_t)k;
                    const float am = gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl);
                    const uint by = packed[(e >> 1) + (size_t)lane];
                    const float wh = intel_sub_group_shuffle(tl, by >> 4) * am;
                    const float wl = intel_sub_group_shuffle(tl, by & 15u) * am;
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        acc[i][r] = fma(x[i].s1, wl, fma(x[i].s0, wh, acc[i][r]));
                }
            }
        } else {
            /* ragged: element kk + lane; every lane takes part in the shuffle (past K with 0) */
            for (int kk = 0; kk < K; kk += 16) {
                const int k = min(kk + lane, K - 1);
#pragma unroll
                for (int r = 0; r < GEMV_NR; r++) {
                    const size_t e = e0[r] + (size_t)k;
                    const uint by = packed[e >> 1];
                    const float w = intel_sub_group_shuffle(tl, (e & 1) ? (by & 15u) : (by >> 4)) *
                                    gemv_q4_absmax(dq, absmax_f, qabsmax, nabs, ncode, nbs, nbsl, noff, e >> bsl);
                    const float wv = kk + lane < K ? w : 0.0f;
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++)
                        acc[i][r] = fma(xr[i][k], wv, acc[i][r]);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++) {
                const float t = sub_group_reduce_add(acc[i][r]);
                if (lane == 0 && m0 + i < M && n0 + r < N)
                    gemv_put(Y + y_off + (size_t)(m0 + i) * ldy + n0 + r, t, alpha, beta);
            }
    }
}

/* a contiguous range of groups of NR rows per subgroup, as gemv_q4_wi */
inline void gemv_q4_sg(int dq, GEMV_Q4_PARAMS) {
    size_t g0, g1;
    gemv_range(((size_t)N + GEMV_NR - 1) / GEMV_NR, get_group_id(0), get_num_groups(0), &g0, &g1);
    for (size_t g = g0; g < g1; g++)
        gemv_q4_sg_group(dq, GEMV_Q4_ARGS, g);
}

__kernel __attribute__((reqd_work_group_size(16, 1, 1))) __attribute__((intel_reqd_sub_group_size(16))) void
gemv_fwd_q4_sg(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx, long sx,
               float beta, __global float *restrict Y, ulong y_off, long ldy, long sy,
               __global const uchar *restrict packed, __global const float *restrict code,
               __global const float *restrict absmax, int blocksize_log2) {
    gemv_q4_sg(0, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, absmax, packed, absmax, absmax, 1,
               0, 0.0f, blocksize_log2);
}

__kernel __attribute__((reqd_work_group_size(16, 1, 1))) __attribute__((intel_reqd_sub_group_size(16))) void
gemv_fwd_q4dq_sg(int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx, long sx,
                 float beta, __global float *restrict Y, ulong y_off, long ldy, long sy,
                 __global const uchar *restrict packed, __global const float *restrict code,
                 __global const uchar *restrict qabsmax, __global const float *restrict nested_absmax,
                 __global const float *restrict nested_code, int nested_blocksize, int nested_log2, float nested_offset,
                 int blocksize_log2) {
    gemv_q4_sg(1, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, packed, code, nested_absmax, qabsmax,
               nested_absmax, nested_code, nested_blocksize, nested_log2, nested_offset, blocksize_log2);
}

__kernel __attribute__((reqd_work_group_size(16, 1, 1))) __attribute__((intel_reqd_sub_group_size(16))) void
gemv_fwd_q4_sg3(int M, int K, float alpha, __global const float *restrict X, long ldx, float beta, GEMV_Q4W(0),
                GEMV_Q4W(1), GEMV_Q4W(2)) {
    GEMV_Q4_MULTI(sg, 0, GEMV_Q4W_ARGS, get_group_id(0), get_num_groups(0));
}

__kernel __attribute__((reqd_work_group_size(16, 1, 1))) __attribute__((intel_reqd_sub_group_size(16))) void
gemv_fwd_q4dq_sg3(int M, int K, float alpha, __global const float *restrict X, long ldx, float beta, GEMV_Q4DQW(0),
                  GEMV_Q4DQW(1), GEMV_Q4DQW(2)) {
    GEMV_Q4_MULTI(sg, 1, GEMV_Q4DQW_ARGS, get_group_id(0), get_num_groups(0));
}
#endif

/* ---- GGUF blocks (native storage: Q8_0, Q4_0, Q4_1) ------------------------------------------ */

/* gemv_fwd_<q8_0|q4_0|q4_1>_<wi|wg>: the 13 common arguments, then (qs, sc): the codes and f16
 * scales of src/ops/weight.h (batch 1, K a multiple of 32: a row is whole blocks, block b of the
 * weight holds elements 32*(b % (K/32)).. of row b / (K/32)). Each block is dequantized in registers
 * as common.cl's clft_ggml_piece computes it (the values src/quant/ggml_blocks.c gives), in pieces of
 * CLFT_GGML_VW values, and multiplied with X by fma. _wi: NR rows of W per work-item in lock step over
 * the blocks (MT rows of X share each block's values), a contiguous range of groups of rows per
 * work-item as the 4-bit kernels (one stream in memory order; codes and scales prefetched GEMV_PF
 * and GEMV_PF/8 bytes ahead); _wg: a work-group per NR rows, block b of a row to work-item b % WG, reduced
 * in local memory as the dense _wg kernel. gemv_fwd_<type>_wi3: three weights of one type and K,
 * arguments as gemv_fwd_<f32|f16|bf16>_wi3 with (qs_j, sc_j) for (W_j, w_off_j, ldw_j). */
#define GEMV_GG_PARAMS                                                                                                 \
    int M, int N, int K, float alpha, __global const float *X, ulong x_off, long ldx, float beta, __global float *Y,   \
        ulong y_off, long ldy, __global const uchar *qs, __global const half *sc

/* The rows n0 = g*NR .. n0+NR-1 of a block weight (gt: 0 Q8_0, 1 Q4_0, 2 Q4_1), one work-item. */
inline void gemv_gg_wi_group(int gt, GEMV_GG_PARAMS, size_t g) {
    const int n0 = (int)(g * GEMV_NR);
    const size_t nbk = (size_t)K >> 5; /* blocks per row */
    size_t b0[GEMV_NR];                /* block index of W[n, 0] */
    gemv_w_rows(b0, 0, n0, N, nbk);
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, X + x_off, m0, M, ldx);
        clft_ggml_vec acc[GEMV_MT][GEMV_NR];
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                acc[i][r] = (clft_ggml_vec)(0.0f);
#if GEMV_PF
        /* the group's codes and scales are each one stream (its rows are consecutive): prefetched
         * ahead of the first row's block, advancing by what a step reads, kept inside the weight */
        const size_t cb = gt == 0 ? 32 : 16, sb = gt == 2 ? 4 : 2; /* bytes per block */
        const size_t qend = (size_t)N * nbk * cb - 1, send = (size_t)N * nbk * sb - 1;
        size_t pf = b0[0] * cb + GEMV_PF, spf = b0[0] * sb + GEMV_PF / 8;
#endif
        for (size_t kb = 0; kb < nbk; kb++) {
#if GEMV_PF
            for (size_t j = 0; j < GEMV_NR * cb; j += 64)
                GEMV_PREFETCH(qs + min(pf + j, qend));
            GEMV_PREFETCH((__global const uchar *)sc + min(spf, send));
            pf += GEMV_NR * cb;
            spf += GEMV_NR * sb;
#endif
            CLFT_GGML_ACC_BLOCK(gt, qs, sc, xr, GEMV_MT, b0, GEMV_NR, kb, acc);
        }
        float s[GEMV_MT][GEMV_NR];
#pragma unroll
        for (int i = 0; i < GEMV_MT; i++)
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++)
                s[i][r] = clft_ggml_hsum(acc[i][r]);
        gemv_put_tile(&s[0][0], m0, n0, M, N, alpha, beta, Y + y_off, ldy);
    }
}

inline void gemv_gg_wi(int gt, GEMV_GG_PARAMS) {
    size_t g0, g1;
    gemv_range(((size_t)N + GEMV_NR - 1) / GEMV_NR, get_global_id(0), get_global_size(0), &g0, &g1);
    for (size_t g = g0; g < g1; g++)
        gemv_gg_wi_group(gt, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, qs, sc, g);
}

inline void gemv_gg_wg(int gt, GEMV_GG_PARAMS, __local float *red) {
    const int lid = (int)get_local_id(0);
    const int n0 = (int)get_group_id(0) * GEMV_NR;
    if (n0 >= N) return; /* the whole work-group */
    const size_t nbk = (size_t)K >> 5;
    size_t b0[GEMV_NR];
    gemv_w_rows(b0, 0, n0, N, nbk);
    for (int m0 = 0; m0 < M; m0 += GEMV_MT) {
        __global const float *xr[GEMV_MT];
        gemv_x_rows(xr, X + x_off, m0, M, ldx);
        float acc[GEMV_MT * GEMV_NR];
#pragma unroll
        for (int o = 0; o < GEMV_MT * GEMV_NR; o++)
            acc[o] = 0.0f;
        for (size_t kb = (size_t)lid; kb < nbk; kb += GEMV_WG) {
#pragma unroll
            for (int r = 0; r < GEMV_NR; r++) {
                float d, mn;
                clft_ggml_scales(gt, sc, b0[r] + kb, &d, &mn);
                clft_ggml_vec p[GEMV_MT];
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++)
                    p[i] = (clft_ggml_vec)(0.0f);
#pragma unroll
                for (int c = 0; c < CLFT_GGML_NP; c++) {
                    clft_ggml_vec wl, wh;
                    clft_ggml_piece(gt, qs, b0[r] + kb, c, d, mn, &wl, &wh);
#pragma unroll
                    for (int i = 0; i < GEMV_MT; i++) {
                        __global const float *x = xr[i] + 32 * kb + c * CLFT_GGML_VW;
                        p[i] = fma(CLFT_GGML_CAT(vload, CLFT_GGML_VW)(0, x + 16), wh,
                                   fma(CLFT_GGML_CAT(vload, CLFT_GGML_VW)(0, x), wl, p[i]));
                    }
                }
#pragma unroll
                for (int i = 0; i < GEMV_MT; i++)
                    acc[i * GEMV_NR + r] += clft_ggml_hsum(p[i]);
            }
        }
        gemv_wg_finish(acc, red, m0, n0, M, N, alpha, beta, Y + y_off, ldy);
    }
}

#define GEMV_GG_KERNELS(NAME, GT)                                                                                      \
    __kernel void gemv_fwd_##NAME##_wi(int M, int N, int K, float alpha, __global const float *restrict X,             \
                                       ulong x_off, long ldx, long sx, float beta, __global float *restrict Y,         \
                                       ulong y_off, long ldy, long sy, __global const uchar *restrict qs,              \
                                       __global const half *restrict sc) {                                             \
        gemv_gg_wi(GT, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, qs, sc);                                    \
    }                                                                                                                  \
    __kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1))) void gemv_fwd_##NAME##_wg(                           \
        int M, int N, int K, float alpha, __global const float *restrict X, ulong x_off, long ldx, long sx,            \
        float beta, __global float *restrict Y, ulong y_off, long ldy, long sy, __global const uchar *restrict qs,     \
        __global const half *restrict sc) {                                                                            \
        __local float red[GEMV_MT * GEMV_NR * GEMV_WG];                                                                \
        gemv_gg_wg(GT, M, N, K, alpha, X, x_off, ldx, beta, Y, y_off, ldy, qs, sc, red);                               \
    }                                                                                                                  \
    __kernel void gemv_fwd_##NAME##_wi3(int M, int K, float alpha, __global const float *restrict X, long ldx,         \
                                        float beta, GEMV_GGW(0), GEMV_GGW(1), GEMV_GGW(2)) {                           \
        const size_t ng0 = ((size_t)N0 + GEMV_NR - 1) / GEMV_NR, ng1 = ((size_t)N1 + GEMV_NR - 1) / GEMV_NR;           \
        size_t g0_, g1_;                                                                                               \
        gemv_range(ng0 + ng1 + ((size_t)N2 + GEMV_NR - 1) / GEMV_NR, get_global_id(0), get_global_size(0), &g0_,       \
                   &g1_);                                                                                              \
        for (size_t g = g0_; g < g1_; g++) {                                                                           \
            const int j = g < ng0 ? 0 : g < ng0 + ng1 ? 1 : 2;                                                         \
            gemv_gg_wi_group(GT, M, GEMV_PICK(N), K, alpha, X, GEMV_PICK(x_off), ldx, beta, GEMV_PICK(Y),              \
                             GEMV_PICK(y_off), GEMV_PICK(ldy), GEMV_PICK(qs), GEMV_PICK(sc),                           \
                             g - (j > 0 ? ng0 : 0) - (j > 1 ? ng1 : 0));                                               \
        }                                                                                                              \
    }
#define GEMV_GGW(j)                                                                                                    \
    int N##j, ulong x_off##j, __global float *restrict Y##j, ulong y_off##j, long ldy##j,                              \
        __global const uchar *restrict qs##j, __global const half *restrict sc##j

GEMV_GG_KERNELS(q8_0, 0)
GEMV_GG_KERNELS(q4_0, 1)
GEMV_GG_KERNELS(q4_1, 2)
