/* ggml_blocks.c - llama.cpp's block formats on the host: every supported type to f32, and f32 to
 * Q8_0 / Q4_0 / Q4_1 / F16 / BF16 / F32 as ggml's reference quantizers write them.
 *
 * Layouts (ggml-common.h; FORMATS.md 4.5), all little-endian, d/m/dmin fp16:
 *   Q4_0  d, qs[16]                   q = nibble - 8; element j < 16 in the low nibble of qs[j],
 *                                     element j + 16 in its high nibble
 *   Q4_1  d, m, qs[16]                q * d + m
 *   Q5_0  d, qh[4], qs[16]            the 5th bit of element j is bit j of qh (a u32); q - 16
 *   Q5_1  d, m, qh[4], qs[16]         q * d + m
 *   Q8_0  d, int8 qs[32]              qs * d
 *   Q2_K  scales[16], qs[64], d, dmin                        (super-block of 256)
 *   Q3_K  hmask[32], qs[64], scales[12], d
 *   Q4_K  d, dmin, scales[12], qs[128]
 *   Q5_K  d, dmin, scales[12], qh[32], qs[128]
 *   Q6_K  ql[128], qh[64], int8 scales[16], d
 * In the K-quants, element e of a super-block sits in "lanes" of 32: the 2-bit quants of Q2_K/Q3_K
 * take bits 2k..2k+1 of byte (e / 128) * 32 + e % 32 with k = (e / 32) % 4; the 4-bit quants of
 * Q4_K/Q5_K the low (even group) or high (odd group) nibble of byte (e / 64) * 32 + e % 32; the extra
 * bit of Q3_K/Q5_K is bit e / 32 of byte e % 32; Q6_K's low nibbles and high pairs are laid out the
 * same way per half of 128 (see dq_q6_k).
 *
 * Arithmetic: every product and sum is its own statement in f32, in the order ggml's
 * dequantize_row_* and gguf-py's gguf.quants use (the scale first: d * sc, then (d * sc) * q,
 * then - dmin * m), so the results are bit-identical to both; no statement holds a multiply and an
 * add that a compiler could contract into an FMA.
 *
 * Quantization follows quantize_row_*_ref (and gguf.quants, which is bit-exact with it):
 *   Q8_0  d = max|x| / 127, id = d ? 1/d : 0, q = roundf(x * id) (half away from zero)
 *   Q4_0  the first element of largest |x| is `max` (sign kept), d = max / -8, id = d ? 1/d : 0,
 *         q = min(15, (int)(x * id + 8.5))  (truncation)
 *   Q4_1  d = (max - min) / 15, id = d ? 1/d : 0, q = min(15, (int)((x - min) * id + 0.5)); m = min
 *   d and m are rounded to fp16 after the quants are computed from the f32 values. */
#include "quant/ggml_blocks.h"

#include <math.h>
#include <string.h>

#include "core/core.h"
#include "ref/ref.h"

#define QK   32  /* elements per simple block */
#define QK_K 256 /* elements per K-quant super-block */

typedef struct type_info {
    int type;
    const char *name;
    int elems;
    int bytes;
} type_info;

static const type_info TYPES[] = {
    {0, "F32", 1, 4},
    {1, "F16", 1, 2},
    {2, "Q4_0", QK, 2 + QK / 2},
    {3, "Q4_1", QK, 4 + QK / 2},
    {6, "Q5_0", QK, 6 + QK / 2},
    {7, "Q5_1", QK, 8 + QK / 2},
    {8, "Q8_0", QK, 2 + QK},
    {10, "Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 4},
    {11, "Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2},
    {12, "Q4_K", QK_K, 4 + 12 + QK_K / 2},
    {13, "Q5_K", QK_K, 4 + 12 + QK_K / 8 + QK_K / 2},
    {14, "Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2},
    {30, "BF16", 1, 2},
};

static const type_info *find_type(int type) {
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (TYPES[i].type == type) return &TYPES[i];
    return NULL;
}

const char *clft_ggml_type_name(int type) {
    const type_info *t = find_type(type);
    return t ? t->name : NULL;
}

int clft_ggml_block_elems(int type) {
    const type_info *t = find_type(type);
    return t ? t->elems : 0;
}

int clft_ggml_block_bytes(int type) {
    const type_info *t = find_type(type);
    return t ? t->bytes : 0;
}

size_t clft_ggml_row_bytes(int type, int64_t n) {
    const type_info *t = find_type(type);
    if (!t || n < 0 || n % t->elems) return 0;
    uint64_t blocks = (uint64_t)n / (uint64_t)t->elems;
    if (blocks > SIZE_MAX / (uint64_t)t->bytes) return 0;
    return (size_t)(blocks * (uint64_t)t->bytes);
}

/* ---- helpers ----------------------------------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static float rd_f16(const uint8_t *p) { return clft_ref_f16_to_f32(rd16(p)); }
static void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

/* y = d * q for one value (two statements keep it one rounding per operation) */
static float mul(float d, float q) { return d * q; }
/* y = a * q - b with the product rounded first */
static float mul_sub(float a, float q, float b) {
    float p = a * q;
    return p - b;
}
/* y = a * q + b with the product rounded first */
static float mul_add(float a, float q, float b) {
    float p = a * q;
    return p + b;
}

/* ---- simple blocks of 32 ----------------------------------------------------------------------- */

static void dq_q4_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = mul(d, (float)((qs[j] & 0x0f) - 8));
        y[j + QK / 2] = mul(d, (float)((qs[j] >> 4) - 8));
    }
}

static void dq_q4_1(const uint8_t *b, float *y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = mul_add(d, (float)(qs[j] & 0x0f), m);
        y[j + QK / 2] = mul_add(d, (float)(qs[j] >> 4), m);
    }
}

/* the 5-bit value of element j of a Q5 block (qh: the 4 high-bit bytes, qs: the nibbles) */
static int q5_value(const uint8_t *qh, const uint8_t *qs, int j) {
    uint32_t h = (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
    int lo = j < QK / 2 ? (qs[j] & 0x0f) : (qs[j - QK / 2] >> 4);
    return lo | (int)(((h >> j) & 1u) << 4);
}

static void dq_q5_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    for (int j = 0; j < QK; j++) y[j] = mul(d, (float)(q5_value(b + 2, b + 6, j) - 16));
}

static void dq_q5_1(const uint8_t *b, float *y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    for (int j = 0; j < QK; j++) y[j] = mul_add(d, (float)q5_value(b + 4, b + 8, j), m);
}

static void dq_q8_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    for (int j = 0; j < QK; j++) y[j] = mul(d, (float)(int8_t)b[2 + j]);
}

/* ---- K-quants (super-blocks of 256) ------------------------------------------------------------ */

static void dq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *scales = b, *qs = b + QK_K / 16;
    float d = rd_f16(b + QK_K / 16 + QK_K / 4), dmin = rd_f16(b + QK_K / 16 + QK_K / 4 + 2);
    for (int e = 0; e < QK_K; e++) {
        uint8_t sc = scales[e / 16];
        float dl = mul(d, (float)(sc & 0x0f));
        float ml = mul(dmin, (float)(sc >> 4));
        int q = (qs[(e / 128) * 32 + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        y[e] = mul_sub(dl, (float)q, ml);
    }
}

/* the sixteen 6-bit scales of Q3_K (stored as 4 low bits in bytes 0..7, 2 high bits in 8..11), -32 */
static void q3_k_scales(const uint8_t *s, int out[16]) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? (s[i] & 0x0f) : (s[i - 8] >> 4);
        int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (lo | (hi << 4)) - 32;
    }
}

static void dq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hmask = b, *qs = b + QK_K / 8, *sc = b + QK_K / 8 + QK_K / 4;
    float d = rd_f16(sc + 12);
    int scales[16];
    q3_k_scales(sc, scales);
    for (int e = 0; e < QK_K; e++) {
        float dl = mul(d, (float)scales[e / 16]);
        int lo = (qs[(e / 128) * 32 + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        int high = (hmask[e % 32] >> (e / 32)) & 1;
        y[e] = mul(dl, (float)(lo - (high ? 0 : 4)));
    }
}

/* scale and min of sub-block j (0..7) of Q4_K/Q5_K: six bits each, packed in 12 bytes */
static void k4_scale_min(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K (qh NULL) and Q5_K: 8 sub-blocks of 32 with their own scale and min */
static void dq_q45_k(float d, float dmin, const uint8_t *scales, const uint8_t *qh, const uint8_t *qs, float *y) {
    for (int g = 0; g < 8; g++) {
        int sc, m;
        k4_scale_min(scales, g, &sc, &m);
        float d1 = mul(d, (float)sc), m1 = mul(dmin, (float)m);
        const uint8_t *src = qs + (g / 2) * 32;
        for (int j = 0; j < 32; j++) {
            int q = (g & 1) ? (src[j] >> 4) : (src[j] & 0x0f);
            if (qh) q |= ((qh[j] >> g) & 1) << 4;
            y[g * 32 + j] = mul_sub(d1, (float)q, m1);
        }
    }
}

static void dq_q4_k(const uint8_t *b, float *y) {
    dq_q45_k(rd_f16(b), rd_f16(b + 2), b + 4, NULL, b + 16, y);
}

static void dq_q5_k(const uint8_t *b, float *y) {
    dq_q45_k(rd_f16(b), rd_f16(b + 2), b + 4, b + 16, b + 16 + QK_K / 8, y);
}

static void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + QK_K / 2;
    const int8_t *scales = (const int8_t *)(b + QK_K / 2 + QK_K / 4);
    float d = rd_f16(b + QK_K / 2 + QK_K / 4 + QK_K / 16);
    for (int e = 0; e < QK_K; e++) {
        int half = e / 128, r = e % 128;
        int lo = r < 64 ? (ql[half * 64 + r] & 0x0f) : (ql[half * 64 + r - 64] >> 4);
        int hi = (qh[half * 32 + r % 32] >> (2 * (r / 32))) & 3;
        float ds = mul(d, (float)scales[e / 16]);
        y[e] = mul(ds, (float)((lo | (hi << 4)) - 32));
    }
}

typedef void (*dq_block_fn)(const uint8_t *b, float *y);

static dq_block_fn block_dequantizer(int type) {
    switch (type) {
    case 2: return dq_q4_0;
    case 3: return dq_q4_1;
    case 6: return dq_q5_0;
    case 7: return dq_q5_1;
    case 8: return dq_q8_0;
    case 10: return dq_q2_k;
    case 11: return dq_q3_k;
    case 12: return dq_q4_k;
    case 13: return dq_q5_k;
    case 14: return dq_q6_k;
    default: return NULL;
    }
}

static clft_status check_n(const char *what, int type, const void *src, int64_t n, const void *dst,
                           const type_info **ti) {
    *ti = find_type(type);
    if (!*ti) return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: ggml type %d is not supported", what, type);
    if (n < 0 || n % (*ti)->elems)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: %lld elements is not a multiple of the %s block of %d",
                          what, (long long)n, (*ti)->name, (*ti)->elems);
    if (n > 0 && (!src || !dst)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: NULL buffer", what);
    return CLFT_OK;
}

clft_status clft_ggml_dequantize(int type, const void *src, int64_t n, float *dst) {
    const type_info *ti;
    CLFT_CHECK(check_n("clft_ggml_dequantize", type, src, n, dst, &ti));
    const uint8_t *s = (const uint8_t *)src;
    switch (type) {
    case 0: memcpy(dst, src, (size_t)n * sizeof(float)); return CLFT_OK;
    case 1:
        for (int64_t i = 0; i < n; i++) dst[i] = clft_ref_f16_to_f32(rd16(s + 2 * i));
        return CLFT_OK;
    case 30:
        for (int64_t i = 0; i < n; i++) dst[i] = clft_ref_bf16_to_f32(rd16(s + 2 * i));
        return CLFT_OK;
    default: break;
    }
    dq_block_fn fn = block_dequantizer(type);
    int64_t blocks = n / ti->elems;
    for (int64_t i = 0; i < blocks; i++) fn(s + i * ti->bytes, dst + i * ti->elems);
    return CLFT_OK;
}

/* ---- quantization ------------------------------------------------------------------------------ */

static void q_q8_0(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) {
        float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    wr16(b, clft_ref_f32_to_f16(d));
    for (int j = 0; j < QK; j++) {
        float v = x[j] * id;
        int q = v != v ? 0 : v >= 127.0f ? 127 : v <= -127.0f ? -127 : (int)roundf(v);
        b[2 + j] = (uint8_t)(int8_t)q;
    }
}

/* q = min(15, (int)(v + bias)) with v + bias rounded to f32 first (truncation, as ggml's cast to
 * int8_t); out-of-range and NaN values (only from non-finite inputs or subnormal scales, where
 * ggml's cast is undefined) give 15 and 0 instead of undefined behaviour */
static uint8_t nibble(float v, float bias) {
    float s = v + bias;
    if (!(s >= 0.0f)) return 0;
    if (s >= 15.0f) return 15;
    return (uint8_t)(int)s;
}

static void q_q4_0(const float *x, uint8_t *b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        float a = fabsf(x[j]);
        if (amax < a) {
            amax = a;
            max = x[j];
        }
    }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    wr16(b, clft_ref_f32_to_f16(d));
    for (int j = 0; j < QK / 2; j++) {
        uint8_t lo = nibble(x[j] * id, 8.5f), hi = nibble(x[j + QK / 2] * id, 8.5f);
        b[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

static void q_q4_1(const float *x, uint8_t *b) {
    float min = INFINITY, max = -INFINITY;
    for (int j = 0; j < QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    float d = (max - min) / 15.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    wr16(b, clft_ref_f32_to_f16(d));
    wr16(b + 2, clft_ref_f32_to_f16(min));
    for (int j = 0; j < QK / 2; j++) {
        float a = x[j] - min, c = x[j + QK / 2] - min;
        uint8_t lo = nibble(a * id, 0.5f), hi = nibble(c * id, 0.5f);
        b[4 + j] = (uint8_t)(lo | (hi << 4));
    }
}

clft_status clft_ggml_quantize(int type, const float *src, int64_t n, void *dst) {
    const type_info *ti;
    CLFT_CHECK(check_n("clft_ggml_quantize", type, src, n, dst, &ti));
    uint8_t *o = (uint8_t *)dst;
    void (*fn)(const float *, uint8_t *) = NULL;
    switch (type) {
    case 0: memcpy(dst, src, (size_t)n * sizeof(float)); return CLFT_OK;
    case 1:
        for (int64_t i = 0; i < n; i++) wr16(o + 2 * i, clft_ref_f32_to_f16(src[i]));
        return CLFT_OK;
    case 30:
        for (int64_t i = 0; i < n; i++) wr16(o + 2 * i, clft_ref_f32_to_bf16(src[i]));
        return CLFT_OK;
    case 2: fn = q_q4_0; break;
    case 3: fn = q_q4_1; break;
    case 8: fn = q_q8_0; break;
    default:
        return clft_error(CLFT_STATUS_UNSUPPORTED, "clft_ggml_quantize: no quantizer for %s (Q8_0, Q4_0, Q4_1, F16, "
                                                   "BF16 and F32 are written)", ti->name);
    }
    int64_t blocks = n / QK;
    for (int64_t i = 0; i < blocks; i++) fn(src + i * QK, o + i * ti->bytes);
    return CLFT_OK;
}
