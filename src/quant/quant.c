/* quant.c - NF4/FP4 blockwise quantization with optional double quantization, byte-for-byte as
 * bitsandbytes (0.50.x) produces it for CPU tensors, and the reference dequantization.
 *
 * Where bitsandbytes' backends disagree we follow the CPU path (verified against PyPI bitsandbytes
 * 0.50.2 + torch 2.15 by tests/reference/bnb_quant_reference.py -> tests/quant/fixtures/):
 *
 * 4-bit (bitsandbytes/backends/default/ops.py quantize_4bit; the CPU has no native 4-bit quantizer)
 *   - full blocks:  absmax = max|x| (NaN propagates); s = x * (1 / max(absmax, 1e-38f)); the
 *     stored absmax is NOT clamped, so an all-zero block stores absmax 0 and codes of 0.0.
 *   - the tail block (numel % blocksize elements): absmax = max(max|x|, 1e-38f) is stored clamped
 *     and s = x / absmax (a true division, not a reciprocal multiply).
 *   - s is clamped to [-1, 1] and bucketized on the f32 midpoints of the sorted code
 *     (torch.bucketize, right=False: a value equal to a midpoint goes to the LOWER code).
 *   - FP4: the codes are sorted with torch.argsort (order below); +0 (index 0) and the second
 *     "zero" (index 8, also +0.0 because bitsandbytes writes it as the Python int -0) tie and
 *     argsort puts 0 first, so s == 0 gives code 0 and 0 < s <= 0.0026 gives code 8.
 *   - odd numel: the missing last element is quantized as 0.0 (NF4 code 7, FP4 code 0).
 *   - CUDA differs only for all-zero blocks (1/0 = inf, 0*inf = NaN -> code 0) and tails.
 * Double quantization (functional.py quantize_4bit, compress_statistics=True)
 *   - offset = absmax.mean() in float32: PyTorch's CPU cascade sum (SumKernel.cpp) over 8-wide
 *     float vectors (the width its float kernels use on AVX2 and AVX-512 machines alike), then
 *     sum / n. This matches torch exactly when the reduction runs on one thread, which torch does
 *     up to 32768 values (numel <= 2M at blocksize 64); above that torch splits the sum by its
 *     thread count and may differ in the last bit. A GPU-made checkpoint may differ too; readers
 *     always use the stored offset.
 *   - x = absmax - offset (f32), blocks of 256, nested absmax = max|x| per block.
 *   - CLFT_Q4_NESTED_BNB_CPU (default): libbitsandbytes_cpu's quantize_cpu_impl: s = x * (1/absmax)
 *     clamped, index = (uint16)trunc(fma((s + 1) * 0.5, 65535, 0.5)) into a 65536-entry table built
 *     from the map's midpoints; an all-zero block gives absmax 0 and codes 0.
 *   - CLFT_Q4_NESTED_NEAREST: the pure-torch default backend: same rule as the 4-bit path above
 *     (clamped tail, division) with bucketize on the 255 midpoints of the dynamic map.
 *   - the dynamic map is create_dynamic_map(signed=True) with torch's linspace, which evaluates
 *     start + step * i with a fused multiply-add on CPU (see clft_dynamic_map_signed).
 * Reconstruction: absmax[b] = nested_code[q[b]] * nested_absmax[b / 256] + offset (two f32
 * roundings, never fused); value = code[nibble] * absmax[b] (one f32 rounding).
 *
 * Arithmetic: every f32 operation is written as its own statement so that no compiler contracts a
 * multiply and an add into an FMA (C11 allows contraction within one expression).
 * Threads: the 4-bit blocks, the nested blocks and the dequantization are split over threads in
 * whole blocks, each computed by the same code; the offset (a mean over all blocks) stays one
 * sequential sum in torch's order. The bytes are the same for every thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "quant/quant.h"

/* clang-format off */
const float CLFT_NF4_CODE[16] = {
    -1.0f,                 -0.6961928009986877f,  -0.5250730514526367f,  -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f,  0.16093020141124725f,  0.24611230194568634f,  0.33791524171829224f,
    0.44070982933044434f,  0.5626170039176941f,   0.7229568362236023f,   1.0f};

/* {0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3} / 12 in f32 */
const float CLFT_FP4_CODE[16] = {
    0.0f,                  0.0052083334885537624f,  0.6666666865348816f,  1.0f,
    0.3333333432674408f,   0.5f,                    0.1666666716337204f,  0.25f,
    0.0f,                  -0.0052083334885537624f, -0.6666666865348816f, -1.0f,
    -0.3333333432674408f,  -0.5f,                   -0.1666666716337204f, -0.25f};
/* clang-format on */

/* torch.argsort(FP4 code) as bitsandbytes' _get_4bit_quantize_bounds gets it */
static const int FP4_ORDER[16] = {11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3};

#define CLAMP_MIN_ABSMAX 1e-38f /* torch clamp(min=1e-38) in f32 (a subnormal) */

/* ---- small f32 helpers with torch's NaN semantics ------------------------------------------- */
static float nan_max(float a, float b) { /* torch max: NaN wins */
    if (isnan(a) || isnan(b)) return NAN;
    return a > b ? a : b;
}
static float clamp_min_nan(float a, float lo) { return isnan(a) ? a : (a < lo ? lo : a); }
static float clamp_pm1(float s) { /* torch.clamp(s, -1, 1): NaN stays NaN */
    if (isnan(s)) return s;
    if (s < -1.0f) return -1.0f;
    if (s > 1.0f) return 1.0f;
    return s;
}
/* torch.bucketize(s, bounds, right=False): first i with bounds[i] >= s (NaN -> nb). */
static int bucketize(float s, const float *bounds, int nb) {
    int lo = 0, hi = nb;
    while (lo < hi) {
        int mid = lo + ((hi - lo) >> 1);
        if (!(bounds[mid] >= s))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- PyTorch's float32 CPU mean (single thread) ---------------------------------------------- */
#define TORCH_VEC 8 /* Vectorized<float>::size() of the kernels torch dispatches for sum */

static int64_t ceil_log2(int64_t x) {
    if (x <= 2) return 1;
    uint64_t v = (uint64_t)x - 1;
    int64_t r = 0;
    while (v) {
        r++;
        v >>= 1;
    }
    return r;
}

/* multi_row_sum + row_sum of SumKernel.cpp: `units` units of L floats each, viewed as rows of 4
 * units; the cascade of 4 levels; returns the L-lane partial sum in ps[0..L). */
static void torch_row_sum(const float *x, int64_t units, int L, float *ps) {
    enum { LEVELS = 4, MAXR = 4 * TORCH_VEC };
    const int R = 4 * L;
    const int64_t size = units / 4;
    float acc[LEVELS][MAXR];
    memset(acc, 0, sizeof acc);
    const int64_t lp = ceil_log2(size) / LEVELS > 4 ? ceil_log2(size) / LEVELS : 4;
    const int64_t step = (int64_t)1 << lp, mask0 = step - 1;
    int64_t i = 0;
    while (i + step <= size) {
        for (int64_t j = 0; j < step; j++, i++)
            for (int k = 0; k < R; k++)
                acc[0][k] += x[i * R + k];
        for (int j = 1; j < LEVELS; j++) {
            for (int k = 0; k < R; k++) {
                acc[j][k] += acc[j - 1][k];
                acc[j - 1][k] = 0.0f;
            }
            if ((i & (mask0 << (j * lp))) != 0) break;
        }
    }
    for (; i < size; i++)
        for (int k = 0; k < R; k++)
            acc[0][k] += x[i * R + k];
    for (int j = 1; j < LEVELS; j++)
        for (int k = 0; k < R; k++)
            acc[0][k] += acc[j][k];
    /* partial_sums[u] = acc[0][u*L .. u*L+L) */
    for (int l = 0; l < L; l++)
        ps[l] = acc[0][l];
    for (int64_t u = size * 4; u < units; u++)
        for (int l = 0; l < L; l++)
            ps[l] += x[u * L + l];
    for (int u = 1; u < 4; u++)
        for (int l = 0; l < L; l++)
            ps[l] += acc[0][u * L + l];
}

float clft_q4_torch_mean_f32(const float *x, int64_t n) {
    if (n <= 0) return NAN;
    float sum;
    if (n >= TORCH_VEC) { /* vectorized_inner_sum */
        int64_t nvec = n / TORCH_VEC;
        float ps[TORCH_VEC];
        torch_row_sum(x, nvec, TORCH_VEC, ps);
        float fin = 0.0f;
        for (int64_t k = nvec * TORCH_VEC; k < n; k++)
            fin += x[k];
        for (int l = 0; l < TORCH_VEC; l++)
            fin += ps[l];
        sum = fin;
    } else { /* scalar_inner_sum */
        float ps[1];
        torch_row_sum(x, n, 1, ps);
        sum = ps[0];
    }
    sum = 0.0f + sum; /* the output starts at 0 and is accumulated into */
    return sum / (float)n;
}

/* ---- the dynamic map ------------------------------------------------------------------------ */
/* torch.linspace(0.1, 1, steps, float32) on CPU: step = (end - start) / (steps - 1);
 * i < steps/2: start + step*i, else end - step*(steps-1-i); fused says whether the multiply-add
 * is rounded once (PyTorch's compiled kernel) or twice. */
static float linspace_at(int64_t i, int64_t steps, int fused) {
    const float start = 0.1f, end = 1.0f;
    const float step = (end - start) / (float)(steps - 1);
    if (i < steps / 2) {
        if (fused) return fmaf(step, (float)i, start);
        float t = step * (float)i;
        return start + t;
    }
    if (fused) return fmaf(-step, (float)(steps - i - 1), end);
    float t = step * (float)(steps - i - 1);
    return end - t;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void dynamic_map(float out[256], int fused) {
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int64_t items = ((int64_t)1 << i) + 1; /* 2,3,5,...,65 boundaries */
        /* 10 ** (-6 + i) as a Python number, then converted to f32 by the tensor multiply */
        float scale = (float)pow(10.0, (double)(i - 6));
        for (int64_t k = 0; k + 1 < items; k++) {
            float a = linspace_at(k, items, fused), b = linspace_at(k + 1, items, fused);
            float sum = a + b;
            float mean = sum / 2.0f;
            float v = scale * mean;
            out[n++] = v;
            float negscale = -scale;
            out[n++] = negscale * mean;
        }
    }
    out[n++] = 0.0f;
    out[n++] = 1.0f;
    qsort(out, 256, sizeof(float), cmp_float); /* n == 256 */
}

void clft_dynamic_map_signed(float out[256]) { dynamic_map(out, 1); }
void clft_dynamic_map_signed_unfused(float out[256]) { dynamic_map(out, 0); }

/* ---- threads -------------------------------------------------------------------------------- */
/* Blocks are independent, so a tensor is cut into contiguous ranges of whole blocks, one per thread;
 * each block is computed by the same code whatever range it falls in, so the bytes do not depend on
 * the thread count. Nothing is shared between calls: two threads may quantize at once. */
#define Q4_MAX_THREADS 256
/* automatic thread count: at least this many elements per thread, a few hundred microseconds of
 * work (quantization about 300 M elements/s per core, dequantization about 3 G/s), well above the
 * tens of microseconds a thread costs to start and join */
#define Q4_MIN_ELEMS_PER_THREAD     ((int64_t)1 << 17)
#define Q4_MIN_DEQ_ELEMS_PER_THREAD ((int64_t)1 << 20)

/* threads >= 1: that many (at most one per block); otherwise one per online core, fewer so that
 * each has min_elems elements (a small tensor stays on the calling thread). */
static int q4_thread_count(int threads, int64_t nblocks, int64_t numel, int64_t min_elems) {
    int64_t t = threads;
    if (t < 1) {
        t = clft_cpu_count();
        if (numel / min_elems < t) t = numel / min_elems > 1 ? numel / min_elems : 1;
    }
    if (t > Q4_MAX_THREADS) t = Q4_MAX_THREADS;
    if (t > nblocks) t = nblocks > 1 ? nblocks : 1;
    return (int)t;
}

/* ---- 4-bit blockwise quantization ----------------------------------------------------------- */
#define Q4_CHUNK 32 /* every full block is a whole number of chunks (blocksize >= 32) */

typedef struct q4_ctx {
    const float *x;
    int64_t n;
    int bs;
    float bounds[15];  /* midpoints of the sorted code, all inside (-1, 1) */
    uint8_t pair[256]; /* (sorted position of the even element) * 16 + that of the odd -> packed byte */
    uint8_t *packed;
    float *absmax;
} q4_ctx;

/* Q4_CHUNK values s = x * r, bucketized and packed into Q4_CHUNK / 2 bytes. torch.bucketize(s,
 * bounds, right=False) (first i with bounds[i] >= s) is the number of bounds for which that test
 * fails: they are sorted, so it fails on a prefix; NaN fails them all and gives 15, as the binary
 * search does. torch clamps s to [-1, 1] first: the bounds lie strictly inside, so clamping changes
 * no count and is left out. Fixed-length and branch-free, so that the compiler vectorizes it. */
static void q4_chunk(const float *x, float r, const float *bounds, const uint8_t *pair, uint8_t *out) {
    float s[Q4_CHUNK];
    int acc[Q4_CHUNK];
    for (int i = 0; i < Q4_CHUNK; i++) {
        s[i] = x[i] * r;
        acc[i] = 0;
    }
    for (int j = 0; j < 15; j++) {
        const float b = bounds[j];
        for (int i = 0; i < Q4_CHUNK; i++)
            acc[i] += !(b >= s[i]);
    }
    for (int i = 0; i < Q4_CHUNK / 2; i++)
        out[i] = pair[acc[2 * i] * 16 + acc[2 * i + 1]];
}

/* blocks [b0, b1) of the 4-bit quantization (the rules at the top of this file) */
static void q4_range(void *arg, int64_t b0, int64_t b1) {
    const q4_ctx *c = arg;
    for (int64_t b = b0; b < b1; b++) {
        const int64_t s0 = b * c->bs;
        const float *xb = c->x + s0;
        uint8_t *pb = c->packed + s0 / 2; /* s0 is even (blocksize >= 32) */
        if (s0 + c->bs <= c->n) {         /* a full block */
            /* absmax = max|x|, NaN winning: lane-wise maxima, then over the lanes (a max of
             * non-negative numbers does not depend on the order) */
            float mx[Q4_CHUNK];
            int nn[Q4_CHUNK];
            for (int i = 0; i < Q4_CHUNK; i++) {
                mx[i] = 0.0f;
                nn[i] = 0;
            }
            for (int i0 = 0; i0 < c->bs; i0 += Q4_CHUNK)
                for (int i = 0; i < Q4_CHUNK; i++) {
                    const float a = fabsf(xb[i0 + i]);
                    nn[i] |= !(a == a);
                    mx[i] = a > mx[i] ? a : mx[i];
                }
            float m = 0.0f;
            int nan = 0;
            for (int i = 0; i < Q4_CHUNK; i++) {
                m = mx[i] > m ? mx[i] : m;
                nan |= nn[i];
            }
            if (nan) m = NAN;
            c->absmax[b] = m; /* stored unclamped; s = x * (1 / clamped absmax) */
            const float r = 1.0f / clamp_min_nan(m, CLAMP_MIN_ABSMAX);
            for (int i0 = 0; i0 < c->bs; i0 += Q4_CHUNK)
                q4_chunk(xb + i0, r, c->bounds, c->pair, pb + i0 / 2);
            continue;
        }
        /* the tail block: absmax stored clamped, s = x / absmax (a true division); padded with 0.0
         * to whole chunks (the odd numel's missing element is quantized as 0.0) */
        const int len = (int)(c->n - s0);
        float m = 0.0f;
        for (int i = 0; i < len; i++)
            m = nan_max(m, fabsf(xb[i]));
        const float cl = clamp_min_nan(m, CLAMP_MIN_ABSMAX);
        c->absmax[b] = cl;
        float s[4096];
        uint8_t bytes[2048];
        const int lenc = (len + Q4_CHUNK - 1) / Q4_CHUNK * Q4_CHUNK;
        for (int i = 0; i < len; i++)
            s[i] = xb[i] / cl;
        for (int i = len; i < lenc; i++)
            s[i] = 0.0f;
        for (int i0 = 0; i0 < lenc; i0 += Q4_CHUNK) /* x * 1.0f is x exactly */
            q4_chunk(s + i0, 1.0f, c->bounds, c->pair, bytes + i0 / 2);
        memcpy(pb, bytes, (size_t)(len + 1) / 2);
    }
}

/* ---- 8-bit blockwise quantization of the absmax values -------------------------------------- */
/* libbitsandbytes_cpu: the 65536-entry table of nearest map indices */
static void build_bnb_lut(const float code[256], uint8_t *lut) {
    float mid[255];
    for (int i = 0; i < 255; i++) {
        float s = code[i] + code[i + 1];
        mid[i] = 0.5f * s;
    }
    int c = 0;
    for (int i = 0; i < 65536; i++) {
        float t = (2.0f * (float)i) / 65535.0f;
        float val = -1.0f + t;
        while (c < 255 && mid[c] < val)
            c++;
        lut[i] = (uint8_t)c;
    }
}

/* blocks [b0, b1) of bs values of x[0..n) */
static void quantize_8bit_bnb_cpu(const float *x, int64_t n, int bs, const uint8_t *lut, uint8_t *q, float *absmax,
                                  int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
        int64_t s0 = b * bs, s1 = s0 + bs < n ? s0 + bs : n;
        float m = 0.0f;
        for (int64_t i = s0; i < s1; i++) {
            float a = fabsf(x[i]);
            m = (m < a) ? a : m; /* std::max: a NaN is skipped */
        }
        absmax[b] = m;
        if (m == 0.0f) {
            for (int64_t i = s0; i < s1; i++)
                q[i] = 0;
            continue;
        }
        float inv = 1.0f / m;
        for (int64_t i = s0; i < s1; i++) {
            float s = x[i] * inv;
            s = (s < -1.0f) ? -1.0f : (1.0f < s) ? 1.0f : s; /* std::clamp */
            float t = s + 1.0f;
            t = t * 0.5f;
            float f = fmaf(t, 65535.0f, 0.5f);
            int32_t idx = isnan(f) ? INT32_MIN : (int32_t)f; /* cvttss2si: NaN -> 0x80000000 */
            q[i] = lut[(uint16_t)idx];
        }
    }
}

/* bitsandbytes' torch default backend for an 8-bit code given by its sorted midpoints bounds[nb]:
 * blocks [b0, b1) of bs values of x[0..n). */
static void quantize_blockwise_torch(const float *x, int64_t n, int bs, const float *bounds, int nbounds, uint8_t *q,
                                     float *absmax, int64_t b0, int64_t b1) {
    int64_t nfull = n / bs;
    for (int64_t b = b0; b < b1; b++) {
        int64_t s0 = b * bs, s1 = s0 + bs < n ? s0 + bs : n;
        float m = 0.0f;
        for (int64_t i = s0; i < s1; i++)
            m = nan_max(m, fabsf(x[i]));
        if (b < nfull) {
            absmax[b] = m;
            float c = clamp_min_nan(m, CLAMP_MIN_ABSMAX);
            float r = 1.0f / c;
            for (int64_t i = s0; i < s1; i++) {
                float s = x[i] * r;
                q[i] = (uint8_t)bucketize(clamp_pm1(s), bounds, nbounds);
            }
        } else {
            float c = clamp_min_nan(m, CLAMP_MIN_ABSMAX);
            absmax[b] = c;
            for (int64_t i = s0; i < s1; i++) {
                float s = x[i] / c;
                q[i] = (uint8_t)bucketize(clamp_pm1(s), bounds, nbounds);
            }
        }
    }
}

/* double quantization, nested blocks [b0, b1): centre their absmax values, then quantize them */
typedef struct dq_ctx {
    const float *absmax; /* nblocks first-level values */
    float *centered;     /* nblocks: absmax - offset */
    int64_t nblocks;
    int nbs;
    float offset;
    clft_q4_nested_mode mode;
    const uint8_t *lut; /* CLFT_Q4_NESTED_BNB_CPU */
    float mid[255];     /* CLFT_Q4_NESTED_NEAREST */
    uint8_t *qabsmax;
    float *nested_absmax;
} dq_ctx;

static void dq_range(void *arg, int64_t b0, int64_t b1) {
    const dq_ctx *c = arg;
    const int64_t i0 = b0 * c->nbs, i1 = b1 * c->nbs < c->nblocks ? b1 * c->nbs : c->nblocks;
    for (int64_t i = i0; i < i1; i++)
        c->centered[i] = c->absmax[i] - c->offset;
    if (c->mode == CLFT_Q4_NESTED_BNB_CPU)
        quantize_8bit_bnb_cpu(c->centered, c->nblocks, c->nbs, c->lut, c->qabsmax, c->nested_absmax, b0, b1);
    else
        quantize_blockwise_torch(c->centered, c->nblocks, c->nbs, c->mid, 255, c->qabsmax, c->nested_absmax, b0, b1);
}

/* ---- public API ----------------------------------------------------------------------------- */
void clft_q4_free(clft_q4 *q) {
    if (!q) return;
    free(q->packed);
    free(q->absmax);
    free(q->qabsmax);
    free(q->nested_absmax);
    memset(q, 0, sizeof *q);
}

clft_status clft_q4_quantize(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant,
                             clft_q4 *out) {
    return clft_q4_quantize_threads(x, n, type, blocksize, double_quant, CLFT_Q4_NESTED_BNB_CPU, 0, out);
}

clft_status clft_q4_quantize_ex(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant,
                                clft_q4_nested_mode nested_mode, clft_q4 *out) {
    return clft_q4_quantize_threads(x, n, type, blocksize, double_quant, nested_mode, 0, out);
}

clft_status clft_q4_quantize_threads(const float *x, int64_t n, clft_dtype type, int blocksize, int double_quant,
                                     clft_q4_nested_mode nested_mode, int threads, clft_q4 *out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_q4_quantize: NULL output");
    memset(out, 0, sizeof *out);
    if (!x) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_q4_quantize: NULL input");
    if (n < 1) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_q4_quantize: numel %lld < 1", (long long)n);
    if (type != CLFT_DTYPE_NF4 && type != CLFT_DTYPE_FP4)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_q4_quantize: type %s is not nf4 or fp4",
                          clft_dtype_name(type));
    if (blocksize < 32 || blocksize > 4096 || (blocksize & (blocksize - 1)) != 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_q4_quantize: blocksize %d is not a power of two in 32..4096", blocksize);
    if (nested_mode != CLFT_Q4_NESTED_BNB_CPU && nested_mode != CLFT_Q4_NESTED_NEAREST)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_q4_quantize: unknown nested mode %d", (int)nested_mode);
    if ((uint64_t)n > (uint64_t)(SIZE_MAX / 2))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_q4_quantize: numel %lld too large", (long long)n);

    clft_q4 q;
    memset(&q, 0, sizeof q);
    q.type = type;
    q.numel = n;
    q.blocksize = blocksize;
    q.nblocks = (n + blocksize - 1) / blocksize;
    q.double_quant = double_quant ? 1 : 0;
    q.nested_blocksize = CLFT_Q4_NESTED_BLOCKSIZE;
    memcpy(q.code, type == CLFT_DTYPE_NF4 ? CLFT_NF4_CODE : CLFT_FP4_CODE, sizeof q.code);

    float *absmax = clft_malloc((size_t)q.nblocks * sizeof(float));
    q.packed = clft_malloc((size_t)(n + 1) / 2);
    if (!absmax || !q.packed) goto oom;

    /* 4-bit codes: bounds on the sorted code */
    q4_ctx c4;
    c4.x = x;
    c4.n = n;
    c4.bs = blocksize;
    c4.packed = q.packed;
    c4.absmax = absmax;
    float sorted[16];
    int nibble[16]; /* sorted position -> code index */
    for (int i = 0; i < 16; i++) {
        nibble[i] = type == CLFT_DTYPE_FP4 ? FP4_ORDER[i] : i;
        sorted[i] = q.code[nibble[i]];
    }
    for (int i = 0; i < 15; i++) {
        float s = sorted[i] + sorted[i + 1];
        c4.bounds[i] = s / 2.0f;
    }
    for (int i = 0; i < 256; i++)
        c4.pair[i] = (uint8_t)((nibble[i >> 4] << 4) | nibble[i & 15]);
    clft_parallel_ranges(q.nblocks, q4_thread_count(threads, q.nblocks, n, Q4_MIN_ELEMS_PER_THREAD), q4_range, &c4);

    if (!q.double_quant) {
        q.absmax = absmax;
        *out = q;
        return CLFT_OK;
    }

    /* double quantization of the absmax: the offset is one sequential sum (torch's order), the
     * nested blocks are independent */
    clft_dynamic_map_signed(q.nested_code);
    q.nested_offset = clft_q4_torch_mean_f32(absmax, q.nblocks);
    const int64_t nnb = (q.nblocks + q.nested_blocksize - 1) / q.nested_blocksize;
    dq_ctx cd;
    memset(&cd, 0, sizeof cd);
    cd.absmax = absmax;
    cd.nblocks = q.nblocks;
    cd.nbs = q.nested_blocksize;
    cd.offset = q.nested_offset;
    cd.mode = nested_mode;
    cd.centered = clft_malloc((size_t)q.nblocks * sizeof(float));
    q.qabsmax = clft_malloc((size_t)q.nblocks);
    q.nested_absmax = clft_malloc((size_t)nnb * sizeof(float));
    uint8_t *lut = NULL;
    if (nested_mode == CLFT_Q4_NESTED_BNB_CPU) lut = clft_malloc(65536);
    if (!cd.centered || !q.qabsmax || !q.nested_absmax || (nested_mode == CLFT_Q4_NESTED_BNB_CPU && !lut)) {
        free(cd.centered);
        free(lut);
        goto oom;
    }
    if (lut) {
        build_bnb_lut(q.nested_code, lut);
        cd.lut = lut;
    } else {
        for (int i = 0; i < 255; i++) {
            float s = q.nested_code[i] + q.nested_code[i + 1];
            cd.mid[i] = s / 2.0f;
        }
    }
    cd.qabsmax = q.qabsmax;
    cd.nested_absmax = q.nested_absmax;
    clft_parallel_ranges(nnb, q4_thread_count(threads, nnb, q.nblocks, Q4_MIN_ELEMS_PER_THREAD), dq_range, &cd);
    free(lut);
    free(cd.centered);
    free(absmax);
    *out = q;
    return CLFT_OK;

oom:
    free(absmax);
    clft_q4_free(&q);
    return clft_error(CLFT_STATUS_HOST_OOM, "clft_q4_quantize: out of host memory for %lld elements", (long long)n);
}

float clft_q4_block_absmax(const clft_q4 *q, int64_t b) {
    if (!q->double_quant) return q->absmax[b];
    float t = q->nested_code[q->qabsmax[b]] * q->nested_absmax[b / q->nested_blocksize];
    return t + q->nested_offset;
}

/* blocks [b0, b1) of the dequantization */
typedef struct deq_ctx {
    const clft_q4 *q;
    float *out;
} deq_ctx;

static void deq_range(void *arg, int64_t b0, int64_t b1) {
    const deq_ctx *c = arg;
    const clft_q4 *q = c->q;
    for (int64_t b = b0; b < b1; b++) {
        const float a = clft_q4_block_absmax(q, b);
        const int64_t s0 = b * q->blocksize, s1 = s0 + q->blocksize < q->numel ? s0 + q->blocksize : q->numel;
        const uint8_t *pb = q->packed + s0 / 2; /* s0 is even (blocksize >= 32) */
        float *o = c->out + s0;
        const int64_t len = s1 - s0;
        for (int64_t j = 0; j < len / 2; j++) {
            const uint8_t byte = pb[j];
            o[2 * j] = q->code[byte >> 4] * a;
            o[2 * j + 1] = q->code[byte & 0x0f] * a;
        }
        if (len & 1) o[len - 1] = q->code[pb[len / 2] >> 4] * a;
    }
}

void clft_q4_dequantize(const clft_q4 *q, float *out) { clft_q4_dequantize_threads(q, out, 0); }

void clft_q4_dequantize_threads(const clft_q4 *q, float *out, int threads) {
    deq_ctx c = {q, out};
    clft_parallel_ranges(q->nblocks, q4_thread_count(threads, q->nblocks, q->numel, Q4_MIN_DEQ_ELEMS_PER_THREAD),
                         deq_range, &c);
}
