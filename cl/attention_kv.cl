/* attention_kv.cl - attention of n new queries against a KV cache (inference, one sequence), f32, with
 * an online softmax. For few queries (decoding) the keys are split in chunks, each computed by its own
 * work-item or work-group, and the chunks are combined afterwards (flash-decoding).
 * Layout: q, out (n,H,D): the queries of positions past .. past+n-1 (RoPE applied); kc, vc (cap,KV,D)
 * row-major by position, rows 0 .. past+n-1 valid (rows beyond are never read). Query head h reads kv
 * head h / rep (rep = H/KV). Query t (position p = past+t) sees key u iff u <= p and (window == 0 or
 * u > p - window). Chunk c covers keys [k_lo + c*csize, k_lo + (c+1)*csize), k_lo being the first key
 * that any of the n queries sees; each query clips that range to its own keys (a chunk may hold none).
 * nsplit == 1: out (n,H,D) is assigned directly. Otherwise chunk c writes its partials to part:
 * acc (n,H,nsplit,D) = sum_u e^(s_u - m) v_u, then m (n,H,nsplit) (the chunk's max score, -inf when it
 * holds no key) at part + P*D, and l (n,H,nsplit) = sum_u e^(s_u - m) at part + P*(D+1), P = n*H*nsplit.
 *   attention_kv_fwd_f32_item  one work-item per (h, c, t), NDRange (H, nsplit, n), for CPUs: the
 *                              chunk's keys in blocks of 8 (their scores in vectors of KV_VEC floats,
 *                              the block's maximum, one vector exp, then the value rows), no barriers
 *                              (the CPU runtimes run a barrier kernel's work-items as loops between
 *                              barriers: the group kernel is 2-4x slower there).
 *   attention_kv_fwd_f32_group one work-group of KV_WG work-items per (h, c, t), NDRange
 *                              (H*KV_WG, nsplit, n), for GPUs: the work-items take KV_WG keys at a
 *                              time, each scoring one key against the query (held in local memory);
 *                              the block's max and probabilities pass through local memory, then each
 *                              work-item updates its own head dims (d = lid, lid + KV_WG, ...) from the
 *                              block's value rows (coalesced). Few registers per work-item, whatever D.
 *   attention_kv_combine_f32   one work-item per (d, h, t), NDRange (D, H, n): with M = max_c m_c,
 *                              out = sum_c e^(m_c - M) acc_c / sum_c e^(m_c - M) l_c.
 * Every reduction runs in a fixed order: deterministic, no atomics. No index divisions but the GQA head
 * h / rep (see attention.cl). Every buffer argument is followed by its offset in elements.
 * Tunables: ATT_D (head dim; must match the dims, default 64), KV_WG (work-group size of the group
 * kernel, default 64), KV_VEC (vector width of the item kernel, 16, 8, 4 or 1 dividing ATT_D; default
 * the widest that does, up to KV_VEC_MAX, default 16). */
#ifndef ATT_D
#define ATT_D 64
#endif
#ifndef KV_WG
#define KV_WG 64
#endif

#define KV_ARGS                                                                                                   \
    __global float *out, ulong out_off, __global float *part, ulong part_off, __global const float *q, ulong q_off, \
        __global const float *kc, ulong kc_off, __global const float *vc, ulong vc_off, int n, int past, int H,     \
        int KV, int rep, int window, int nsplit, int csize, int k_lo, float scale

/* ---- one work-item per (h, c, t) ---------------------------------------------------------------- */
/* vector width of the work-item kernel: the widest of 16 (at most KV_VEC_MAX), 8, 4 that divides the
 * head dim, else 1. Oclgrind 21.10's uninitialized-value checker reports float16 values as
 * uninitialized (whatever fills them) and crashes on single-lane reads (c.x + c.y ...) of vectors:
 * the host caps the width at 8 there, and kv_hsum adds lanes by halves and a dot product with ones. */
#ifndef KV_VEC_MAX
#define KV_VEC_MAX 16
#endif
#ifndef KV_VEC
#if ATT_D % 16 == 0 && KV_VEC_MAX >= 16
#define KV_VEC 16
#elif ATT_D % 8 == 0
#define KV_VEC 8
#elif ATT_D % 4 == 0
#define KV_VEC 4
#else
#define KV_VEC 1
#endif
#endif
#if KV_VEC == 16
typedef float16 kvvec;
#define KV_HINT           float16
#define KV_LOAD(i, p)     vload16(i, p)
#define KV_STORE(x, i, p) vstore16(x, i, p)
inline float kv_hsum(float16 a) {
    const float8 b = a.lo + a.hi;
    return dot(b.lo + b.hi, (float4)(1.0f));
}
#elif KV_VEC == 8
typedef float8 kvvec;
#define KV_HINT           float8
#define KV_LOAD(i, p)     vload8(i, p)
#define KV_STORE(x, i, p) vstore8(x, i, p)
inline float kv_hsum(float8 a) {
    return dot(a.lo + a.hi, (float4)(1.0f));
}
#elif KV_VEC == 4
typedef float4 kvvec;
#define KV_HINT           float4
#define KV_LOAD(i, p)     vload4(i, p)
#define KV_STORE(x, i, p) vstore4(x, i, p)
inline float kv_hsum(float4 c) { return dot(c, (float4)(1.0f)); }
#else
typedef float kvvec;
#define KV_HINT           float
#define KV_LOAD(i, p)     (p)[i]
#define KV_STORE(x, i, p) ((p)[i] = (x))
inline float kv_hsum(float a) { return a; }
#endif
#define KV_NV (ATT_D / KV_VEC)

/* (the hint tells the Intel runtime's vectorizer that the kernel is vectorized already) */
__kernel __attribute__((vec_type_hint(KV_HINT))) void attention_kv_fwd_f32_item(KV_ARGS) {
    const int h = (int)get_global_id(0), c = (int)get_global_id(1), t = (int)get_global_id(2);
    if (h >= H || c >= nsplit || t >= n) return;
    const int p = past + t, kvh = h / rep;
    const size_t qrow = ((size_t)t * H + h) * ATT_D, kvstride = (size_t)KV * ATT_D;
    kvvec qv[KV_NV], acc[KV_NV];
#pragma unroll
    for (int i = 0; i < KV_NV; i++) {
        qv[i] = KV_LOAD(i, q + q_off + qrow) * scale;
        acc[i] = 0.0f;
    }
    int u0 = k_lo + c * csize;
    const int u1 = min(u0 + csize, p + 1); /* exclusive */
    if (window > 0) u0 = max(u0, p - window + 1);
    __global const float *kr = kc + kc_off + (size_t)kvh * ATT_D + (size_t)u0 * kvstride;
    __global const float *vr = vc + vc_off + (size_t)kvh * ATT_D + (size_t)u0 * kvstride;
    float m = -INFINITY, l = 0.0f;
    /* blocks of 8 keys: the 8 scores first (independent dot products), then the block's maximum, one
     * vector exp for its probabilities and one for the rescale, then the value rows: no chain of
     * compare, exp and rescale from key to key */
    for (int ub = u0; ub < u1; ub += 8) {
        const int nb = min(8, u1 - ub);
        float sc[8], pb[8];
        float mb = m;
        for (int j = 0; j < 8; j++) {
            float s = -INFINITY; /* past the chunk: no key (its row is not read), probability 0 */
            if (j < nb) {
                __global const float *kj = kr + (size_t)j * kvstride;
                kvvec sv = 0.0f;
#pragma unroll
                for (int i = 0; i < KV_NV; i++) sv = fma(qv[i], KV_LOAD(i, kj), sv);
                s = kv_hsum(sv);
                mb = fmax(mb, s);
            }
            sc[j] = s;
        }
        const float corr = exp(m - mb); /* exp(-inf) = 0 on the first block */
        vstore8(exp(vload8(0, sc) - mb), 0, pb);
        float lb = 0.0f;
#pragma unroll
        for (int i = 0; i < KV_NV; i++) acc[i] *= corr;
        for (int j = 0; j < nb; j++) {
            lb += pb[j];
            __global const float *vj = vr + (size_t)j * kvstride;
#pragma unroll
            for (int i = 0; i < KV_NV; i++) acc[i] = fma(pb[j], KV_LOAD(i, vj), acc[i]);
        }
        l = l * corr + lb;
        m = mb;
        kr += 8 * kvstride;
        vr += 8 * kvstride;
    }
    if (nsplit == 1) {
        const float inv = 1.0f / l;
        for (int i = 0; i < KV_NV; i++) KV_STORE(acc[i] * inv, i, out + out_off + qrow);
        return;
    }
    const size_t prow = ((size_t)t * H + h) * nsplit + c, P = (size_t)n * H * nsplit;
    for (int i = 0; i < KV_NV; i++) KV_STORE(acc[i], i, part + part_off + prow * ATT_D);
    part[part_off + P * ATT_D + prow] = m;
    part[part_off + P * (ATT_D + 1) + prow] = l;
}

/* ---- one work-group per (h, c, t) --------------------------------------------------------------- */
#define KV_ACC ((ATT_D + KV_WG - 1) / KV_WG) /* head dims per work-item */

__kernel __attribute__((reqd_work_group_size(KV_WG, 1, 1))) void attention_kv_fwd_f32_group(KV_ARGS) {
    __local float qs[ATT_D];
    __local float ps[KV_WG];
    const int lid = (int)get_local_id(0), h = (int)get_group_id(0), c = (int)get_group_id(1),
              t = (int)get_group_id(2);
    const int p = past + t, kvh = h / rep;
    const size_t qrow = ((size_t)t * H + h) * ATT_D, kvstride = (size_t)KV * ATT_D;
    for (int d = lid; d < ATT_D; d += KV_WG) qs[d] = q[q_off + qrow + d] * scale;
    int u0 = k_lo + c * csize;
    const int u1 = min(u0 + csize, p + 1); /* exclusive */
    if (window > 0) u0 = max(u0, p - window + 1);
    __global const float *kb0 = kc + kc_off + (size_t)kvh * ATT_D;
    __global const float *vb0 = vc + vc_off + (size_t)kvh * ATT_D;
    float m = -INFINITY, l = 0.0f, acc[KV_ACC];
    for (int i = 0; i < KV_ACC; i++) acc[i] = 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int kb = u0; kb < u1; kb += KV_WG) {
        const int u = kb + lid, nb = min(KV_WG, u1 - kb);
        float s = -INFINITY;
        if (u < u1) {
            __global const float *kr = kb0 + (size_t)u * kvstride;
            s = 0.0f;
            for (int d = 0; d < ATT_D; d++) s += qs[d] * kr[d];
        }
        ps[lid] = s;
        barrier(CLK_LOCAL_MEM_FENCE);
        float mn = m;
        for (int j = 0; j < nb; j++) mn = fmax(mn, ps[j]);
        barrier(CLK_LOCAL_MEM_FENCE);
        ps[lid] = exp(s - mn); /* 0 past the block's last key */
        barrier(CLK_LOCAL_MEM_FENCE);
        const float corr = exp(m - mn); /* exp(-inf) = 0 on the first block */
        float lb = 0.0f;
        for (int j = 0; j < nb; j++) lb += ps[j];
        l = l * corr + lb;
        __global const float *vr = vb0 + (size_t)kb * kvstride;
        for (int i = 0; i < KV_ACC; i++) {
            const int d = lid + i * KV_WG;
            if (d < ATT_D) {
                float a = acc[i] * corr;
                for (int j = 0; j < nb; j++) a += ps[j] * vr[(size_t)j * kvstride + d];
                acc[i] = a;
            }
        }
        m = mn;
        barrier(CLK_LOCAL_MEM_FENCE); /* ps is rewritten by the next block */
    }
    if (nsplit == 1) {
        const float inv = 1.0f / l;
        for (int i = 0; i < KV_ACC; i++) {
            const int d = lid + i * KV_WG;
            if (d < ATT_D) out[out_off + qrow + d] = acc[i] * inv;
        }
        return;
    }
    const size_t prow = ((size_t)t * H + h) * nsplit + c, P = (size_t)n * H * nsplit;
    for (int i = 0; i < KV_ACC; i++) {
        const int d = lid + i * KV_WG;
        if (d < ATT_D) part[part_off + prow * ATT_D + d] = acc[i];
    }
    if (lid == 0) {
        part[part_off + P * ATT_D + prow] = m;
        part[part_off + P * (ATT_D + 1) + prow] = l;
    }
}

/* ---- combine the chunks ---------------------------------------------------------------------- */
__kernel void attention_kv_combine_f32(__global float *out, ulong out_off, __global const float *part,
                                       ulong part_off, int n, int H, int nsplit) {
    const int d = (int)get_global_id(0), h = (int)get_global_id(1), t = (int)get_global_id(2);
    if (d >= ATT_D || h >= H || t >= n) return;
    const size_t row = (size_t)t * H + h, P = (size_t)n * H * nsplit;
    __global const float *pm = part + part_off + P * ATT_D + row * nsplit;
    __global const float *pl = pm + P;
    __global const float *pa = part + part_off + row * nsplit * ATT_D + d;
    float M = -INFINITY;
    for (int c = 0; c < nsplit; c++) M = fmax(M, pm[c]);
    float num = 0.0f, den = 0.0f;
    for (int c = 0; c < nsplit; c++) {
        const float w = exp(pm[c] - M); /* 0 for a chunk without keys */
        num += w * pa[(size_t)c * ATT_D];
        den += w * pl[c];
    }
    out[out_off + row * ATT_D + d] = num / den;
}
