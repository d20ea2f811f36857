/* test_quant.c - host NF4/FP4 quantization (src/quant): fixed vectors worked out by hand from the
 * specification (FORMATS.md section 1), the dynamic map against the table printed there, bad
 * arguments, and byte-for-byte agreement with bitsandbytes itself on the fixtures that
 * tests/reference/bnb_quant_reference.py wrote (packed codes, absmax, qabsmax, nested absmax,
 * offset, code maps, dequantized values). usage: test_quant FIXTURE_FILE */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "tutil.h"

/* FORMATS.md 1.5: create_dynamic_map(signed=True) "float32 emulation of the scalar linspace path"
 * (two roundings per linspace element), rows of 4. */
static const float FORMATS_DYNAMIC_MAP[256] = {
    -0.992968738f,    -0.978906274f,    -0.96484375f,     -0.950781226f,
    -0.936718762f,    -0.922656238f,    -0.908593774f,    -0.89453125f,
    -0.880468726f,    -0.866406262f,    -0.852343738f,    -0.838281274f,
    -0.82421875f,     -0.810156226f,    -0.796093762f,    -0.782031238f,
    -0.767968774f,    -0.75390625f,     -0.739843786f,    -0.725781262f,
    -0.711718738f,    -0.697656274f,    -0.68359375f,     -0.669531286f,
    -0.655468762f,    -0.641406238f,    -0.627343774f,    -0.61328125f,
    -0.599218786f,    -0.585156262f,    -0.571093738f,    -0.557031274f,
    -0.54296875f,     -0.528906226f,    -0.514843762f,    -0.500781238f,
    -0.486718714f,    -0.47265625f,     -0.458593726f,    -0.444531232f,
    -0.430468738f,    -0.416406214f,    -0.40234375f,     -0.388281226f,
    -0.374218762f,    -0.360156238f,    -0.346093714f,    -0.33203125f,
    -0.317968726f,    -0.303906262f,    -0.289843738f,    -0.275781244f,
    -0.26171875f,     -0.247656241f,    -0.233593747f,    -0.219531253f,
    -0.205468744f,    -0.19140625f,     -0.177343741f,    -0.163281247f,
    -0.149218753f,    -0.135156244f,    -0.12109375f,     -0.107031256f,
    -0.0985937491f,   -0.0957812592f,   -0.0929687545f,   -0.0901562497f,
    -0.0873437524f,   -0.0845312476f,   -0.0817187577f,   -0.078906253f,
    -0.0760937557f,   -0.0732812509f,   -0.0704687461f,   -0.0676562563f,
    -0.0648437515f,   -0.0620312504f,   -0.0592187531f,   -0.0564062484f,
    -0.0535937548f,   -0.05078125f,     -0.047968749f,    -0.0451562479f,
    -0.0423437469f,   -0.0395312496f,   -0.0367187522f,   -0.0339062475f,
    -0.0310937501f,   -0.0282812472f,   -0.0254687499f,   -0.0226562507f,
    -0.0198437497f,   -0.0170312505f,   -0.0142187504f,   -0.0114062503f,
    -0.00971874967f,  -0.00915624946f,  -0.00859375019f,  -0.00803124998f,
    -0.00746874977f,  -0.00690625003f,  -0.00634375028f,  -0.00578125007f,
    -0.00521875033f,  -0.00465624966f,  -0.00409374991f,  -0.00353124971f,
    -0.00296874996f,  -0.00240624999f,  -0.00184375001f,  -0.00128124992f,
    -0.000943750085f, -0.000831249985f, -0.00071875006f,  -0.000606250076f,
    -0.000493749976f, -0.000381249993f, -0.000268750038f, -0.000156250011f,
    -8.87499991e-05f, -6.62500024e-05f, -4.37499984e-05f, -2.12499981e-05f,
    -7.7499999e-06f,  -3.25000019e-06f, -5.50000038e-07f, 0.0f,
    5.50000038e-07f,  3.25000019e-06f,  7.7499999e-06f,   2.12499981e-05f,
    4.37499984e-05f,  6.62500024e-05f,  8.87499991e-05f,  0.000156250011f,
    0.000268750038f,  0.000381249993f,  0.000493749976f,  0.000606250076f,
    0.00071875006f,   0.000831249985f,  0.000943750085f,  0.00128124992f,
    0.00184375001f,   0.00240624999f,   0.00296874996f,   0.00353124971f,
    0.00409374991f,   0.00465624966f,   0.00521875033f,   0.00578125007f,
    0.00634375028f,   0.00690625003f,   0.00746874977f,   0.00803124998f,
    0.00859375019f,   0.00915624946f,   0.00971874967f,   0.0114062503f,
    0.0142187504f,    0.0170312505f,    0.0198437497f,    0.0226562507f,
    0.0254687499f,    0.0282812472f,    0.0310937501f,    0.0339062475f,
    0.0367187522f,    0.0395312496f,    0.0423437469f,    0.0451562479f,
    0.047968749f,     0.05078125f,      0.0535937548f,    0.0564062484f,
    0.0592187531f,    0.0620312504f,    0.0648437515f,    0.0676562563f,
    0.0704687461f,    0.0732812509f,    0.0760937557f,    0.078906253f,
    0.0817187577f,    0.0845312476f,    0.0873437524f,    0.0901562497f,
    0.0929687545f,    0.0957812592f,    0.0985937491f,    0.107031256f,
    0.12109375f,      0.135156244f,     0.149218753f,     0.163281247f,
    0.177343741f,     0.19140625f,      0.205468744f,     0.219531253f,
    0.233593747f,     0.247656241f,     0.26171875f,      0.275781244f,
    0.289843738f,     0.303906262f,     0.317968726f,     0.33203125f,
    0.346093714f,     0.360156238f,     0.374218762f,     0.388281226f,
    0.40234375f,      0.416406214f,     0.430468738f,     0.444531232f,
    0.458593726f,     0.47265625f,      0.486718714f,     0.500781238f,
    0.514843762f,     0.528906226f,     0.54296875f,      0.557031274f,
    0.571093738f,     0.585156262f,     0.599218786f,     0.61328125f,
    0.627343774f,     0.641406238f,     0.655468762f,     0.669531286f,
    0.68359375f,      0.697656274f,     0.711718738f,     0.725781262f,
    0.739843786f,     0.75390625f,      0.767968774f,     0.782031238f,
    0.796093762f,     0.810156226f,     0.82421875f,      0.838281274f,
    0.852343738f,     0.866406262f,     0.880468726f,     0.89453125f,
    0.908593774f,     0.922656238f,     0.936718762f,     0.950781226f,
    0.96484375f,      0.978906274f,     0.992968738f,     1.0f,
};

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---- fixed vectors from the specification ------------------------------------------------- */
static void test_tables(void) {
    static const uint32_t NF4_BITS[16] = {0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f,
                                          0xbdba7871, 0x00000000, 0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a,
                                          0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000};
    for (int i = 0; i < 16; i++)
        TU_CHECK(bits(CLFT_NF4_CODE[i]) == NF4_BITS[i], "NF4[%d] bits 0x%08x", i, (unsigned)bits(CLFT_NF4_CODE[i]));
    /* CUDA dQuantizeNF4 thresholds equal the f32 midpoints */
    static const double NF4_T[15] = {
        -0.8480964004993439,  -0.6106329262256622,   -0.4599952697753906, -0.33967943489551544, -0.23460740596055984,
        -0.13791173323988914, -0.045525018125772476, 0.03979014977812767, 0.1202552504837513,   0.2035212516784668,
        0.2920137718319893,   0.3893125355243683,    0.5016634166240692,  0.6427869200706482,   0.8614784181118011};
    for (int i = 0; i < 15; i++) {
        float s = CLFT_NF4_CODE[i] + CLFT_NF4_CODE[i + 1];
        float m = s / 2.0f;
        TU_CHECK(m == (float)NF4_T[i], "NF4 midpoint %d: %.9g vs %.9g", i, (double)m, NF4_T[i]);
    }
    static const double FP4_RAW[16] = {0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3};
    for (int i = 0; i < 16; i++) {
        float v = (float)FP4_RAW[i] / 12.0f;
        TU_CHECK(bits(CLFT_FP4_CODE[i]) == bits(v), "FP4[%d] = %.9g, want %.9g", i, (double)CLFT_FP4_CODE[i],
                 (double)v);
    }
    float map[256], unf[256];
    clft_dynamic_map_signed(map);
    clft_dynamic_map_signed_unfused(unf);
    int same = 0, diff = 0;
    for (int i = 0; i < 256; i++) {
        same += bits(unf[i]) == bits(FORMATS_DYNAMIC_MAP[i]);
        if (bits(map[i]) != bits(unf[i])) {
            diff++;
            TU_CHECK(fabsf(map[i] - unf[i]) <= 2e-7f * fabsf(unf[i]), "map[%d] %.9g vs unfused %.9g: more than 2 ulp",
                     i, (double)map[i], (double)unf[i]);
        }
    }
    TU_CHECK(same == 256, "unfused dynamic map equals the FORMATS.md table in %d of 256 entries", same);
    TU_CHECK(diff == 42, "fused (torch) map differs from the unfused one in %d entries, expected 42", diff);
    TU_CHECK(map[127] == 0.0f && map[255] == 1.0f && map[0] > -1.0f, "map[0]=%g map[127]=%g map[255]=%g",
             (double)map[0], (double)map[127], (double)map[255]);
    for (int i = 1; i < 256; i++)
        TU_CHECK(map[i - 1] < map[i], "map sorted at %d", i);
}

static void check_bytes(const char *what, const uint8_t *got, const uint8_t *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ == 0) first = i;
    TU_CHECK(bad == 0, "%s: %zu of %zu bytes differ, first at %zu: 0x%02x want 0x%02x", what, bad, n, first,
             bad ? got[first] : 0, bad ? want[first] : 0);
}
static void check_f32(const char *what, const float *got, const float *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (bits(got[i]) != bits(want[i]) && !(isnan(got[i]) && isnan(want[i])) && bad++ == 0) first = i;
    TU_CHECK(bad == 0, "%s: %zu of %zu floats differ, first at %zu: %.9g want %.9g", what, bad, n, first,
             bad ? (double)got[first] : 0.0, bad ? (double)want[first] : 0.0);
}

static void test_hand_vectors(void) {
    clft_q4 q;
    /* NF4, one tail block (5 < 32), absmax 1: 1->15, -1->0, 0->7, 0.5->12 (midpoint 0.50166),
     * 0.04->8 (midpoint 0.03979), pad->7 */
    const float x1[5] = {1.0f, -1.0f, 0.0f, 0.5f, 0.04f};
    TU_OK(clft_q4_quantize(x1, 5, CLFT_DTYPE_NF4, 32, 0, &q));
    const uint8_t p1[3] = {0xF0, 0x7C, 0x87};
    check_bytes("nf4 hand packed", q.packed, p1, 3);
    TU_CHECK(q.nblocks == 1 && q.absmax[0] == 1.0f, "absmax %g", q.absmax ? (double)q.absmax[0] : -1.0);
    float d[5];
    clft_q4_dequantize(&q, d);
    const float d1[5] = {1.0f, -1.0f, 0.0f, CLFT_NF4_CODE[12], CLFT_NF4_CODE[8]};
    check_f32("nf4 hand dequant", d, d1, 5);
    clft_q4_free(&q);
    clft_q4_free(&q); /* twice is fine */

    /* a value exactly on a midpoint goes to the lower code; one ulp above goes up */
    float mid = (CLFT_NF4_CODE[7] + CLFT_NF4_CODE[8]) / 2.0f;
    float x2[4] = {1.0f, mid, nextafterf(mid, 1.0f), -mid};
    TU_OK(clft_q4_quantize(x2, 4, CLFT_DTYPE_NF4, 64, 0, &q));
    const uint8_t p2[2] = {0xF7, 0x87};
    check_bytes("nf4 ties", q.packed, p2, 2);
    clft_q4_free(&q);

    /* FP4: 1->3, -1->11, 0.5->5, +1e-4->8 (argsort puts the two zeros 0 then 8), -1e-4->0, 0->0 */
    const float x3[6] = {1.0f, -1.0f, 0.5f, 1e-4f, -1e-4f, 0.0f};
    TU_OK(clft_q4_quantize(x3, 6, CLFT_DTYPE_FP4, 64, 0, &q));
    const uint8_t p3[3] = {0x3B, 0x58, 0x00};
    check_bytes("fp4 hand packed", q.packed, p3, 3);
    clft_q4_free(&q);

    /* all-zero blocks: a full block stores absmax 0 and code 7; the tail stores 1e-38 (clamped) */
    float x4[64 + 3] = {0};
    TU_OK(clft_q4_quantize(x4, 67, CLFT_DTYPE_NF4, 64, 0, &q));
    TU_CHECK(q.nblocks == 2 && q.absmax[0] == 0.0f && q.absmax[1] == 1e-38f, "zero absmax %g %g", (double)q.absmax[0],
             (double)q.absmax[1]);
    for (int j = 0; j < 34; j++)
        TU_CHECK(q.packed[j] == 0x77, "zero packed[%d] = 0x%02x", j, q.packed[j]);
    clft_q4_free(&q);

    /* double quant of two blocks, absmax 2 and 4: offset 3, centered -1 and 1 -> nested absmax 1,
     * codes 0 is map[0] = -0.9929..., so -1 snaps to index 0 and +1 to 255 */
    float x5[128];
    for (int i = 0; i < 128; i++)
        x5[i] = (i < 64 ? 2.0f : 4.0f) * (i % 2 ? 1.0f : -0.25f);
    TU_OK(clft_q4_quantize(x5, 128, CLFT_DTYPE_NF4, 64, 1, &q));
    TU_CHECK(q.double_quant && q.absmax == NULL && q.nested_offset == 3.0f && q.nested_absmax[0] == 1.0f &&
                 q.qabsmax[0] == 0 && q.qabsmax[1] == 255,
             "dq: offset %g nested %g q %d %d", (double)q.nested_offset, (double)q.nested_absmax[0], q.qabsmax[0],
             q.qabsmax[1]);
    TU_CHECK(clft_q4_block_absmax(&q, 1) == 4.0f, "block 1 absmax %g", (double)clft_q4_block_absmax(&q, 1));
    clft_q4_free(&q);
}

/* NaN and Inf follow torch's semantics (max propagates NaN; bucketize puts NaN past the last
 * bound): no crash, a NaN absmax for the block holding a NaN, finite blocks unaffected */
static void test_non_finite(void) {
    float x[96];
    for (int i = 0; i < 96; i++)
        x[i] = (float)(i % 7) - 3.0f;
    x[5] = NAN;
    x[70] = INFINITY;
    clft_q4 q;
    TU_OK(clft_q4_quantize(x, 96, CLFT_DTYPE_NF4, 32, 0, &q));
    TU_CHECK(isnan(q.absmax[0]) && q.absmax[1] == 3.0f && isinf(q.absmax[2]), "absmax %g %g %g", (double)q.absmax[0],
             (double)q.absmax[1], (double)q.absmax[2]);
    TU_CHECK((q.packed[2] >> 4) == 15, "NaN block codes 0x%02x", q.packed[2]);
    clft_q4_free(&q);
    TU_OK(clft_q4_quantize(x, 96, CLFT_DTYPE_FP4, 32, 1, &q));
    clft_q4_free(&q);
}

static void test_bad_arguments(void) {
    float x[8] = {0};
    clft_q4 q;
    const int bad_bs[] = {0, 16, 48, 96, 8192, -64};
    for (size_t i = 0; i < sizeof bad_bs / sizeof bad_bs[0]; i++) {
        clft_status st = clft_q4_quantize(x, 8, CLFT_DTYPE_NF4, bad_bs[i], 0, &q);
        TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "blocksize %d -> %d", bad_bs[i], st);
        TU_CHECK(strstr(clft_last_error(), "blocksize") != NULL, "message: %s", clft_last_error());
        TU_CHECK(q.packed == NULL, "output zeroed on failure");
    }
    TU_CHECK(clft_q4_quantize(NULL, 8, CLFT_DTYPE_NF4, 64, 0, &q) == CLFT_STATUS_INVALID_ARGUMENT, "NULL x");
    TU_CHECK(clft_q4_quantize(x, 8, CLFT_DTYPE_NF4, 64, 0, NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL out");
    TU_CHECK(clft_q4_quantize(x, 0, CLFT_DTYPE_NF4, 64, 0, &q) == CLFT_STATUS_INVALID_ARGUMENT, "n = 0");
    TU_CHECK(clft_q4_quantize(x, -3, CLFT_DTYPE_NF4, 64, 0, &q) == CLFT_STATUS_INVALID_ARGUMENT, "n < 0");
    TU_CHECK(clft_q4_quantize(x, 8, CLFT_DTYPE_F16, 64, 0, &q) == CLFT_STATUS_INVALID_ARGUMENT, "type f16");
    TU_CHECK(clft_q4_quantize_ex(x, 8, CLFT_DTYPE_NF4, 64, 1, (clft_q4_nested_mode)7, &q) ==
                 CLFT_STATUS_INVALID_ARGUMENT,
             "nested mode");
    const int good_bs[] = {32, 64, 128, 256, 512, 1024, 2048, 4096};
    for (size_t i = 0; i < 8; i++) {
        TU_OK(clft_q4_quantize(x, 8, CLFT_DTYPE_FP4, good_bs[i], 1, &q));
        clft_q4_free(&q);
    }
    clft_q4_free(NULL);
}

/* ---- bitsandbytes fixtures ------------------------------------------------------------------ */
typedef struct rd {
    const uint8_t *p, *end;
    int bad;
} rd;
static const void *take(rd *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const void *v = r->p;
    r->p += n;
    return v;
}
static uint32_t u32(rd *r) {
    const uint8_t *b = take(r, 4);
    return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}
static uint64_t u64(rd *r) {
    uint64_t lo = u32(r);
    return lo | (uint64_t)u32(r) << 32;
}
static float f32(rd *r) {
    uint32_t u = u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double f64(rd *r) {
    uint64_t u = u64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static void f32s(rd *r, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = f32(r);
}

/* the generator of bnb_quant_reference.py (exact integer and double arithmetic) */
static void gen(uint64_t seed, size_t n, double scale, float *out) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i++) {
        int64_t acc = 0;
        for (int k = 0; k < 4; k++) {
            s += 0x9E3779B97F4A7C15ULL;
            uint64_t z = s;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z ^= z >> 31;
            acc += (int64_t)(z >> 40);
        }
        double v = (double)(acc - 2 * (1 << 24)) / (double)(1 << 24);
        v = v * 1.7320508;
        v = v * scale;
        out[i] = (float)v;
    }
}

static void test_fixtures(const char *path) {
    FILE *f = fopen(path, "rb");
    TU_CHECK(f != NULL, "cannot open fixture %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)sz);
    size_t got = buf ? fread(buf, 1, (size_t)sz, f) : 0;
    fclose(f);
    TU_CHECK(got == (size_t)sz, "read %s", path);
    rd r = {buf, buf + got, 0};
    const char *magic = take(&r, 8);
    TU_CHECK(magic && !memcmp(magic, "CLFTQ4FX", 8), "fixture magic");
    uint32_t version = u32(&r), ncases = u32(&r), nmeans = u32(&r);
    const char *info = take(&r, 120);
    TU_CHECK(version == 1 && !r.bad, "fixture version %u", version);
    if (info) printf("fixtures: %u cases, %u means from %.120s\n", ncases, nmeans, info);
    for (uint32_t c = 0; c < ncases && !r.bad; c++) {
        char name[33] = {0};
        const char *nm = take(&r, 32);
        if (nm) memcpy(name, nm, 32);
        uint32_t type = u32(&r), bs = u32(&r), dq = u32(&r), mode = u32(&r);
        uint64_t n = u64(&r);
        uint32_t xsrc = u32(&r);
        if (r.bad || n == 0 || n > 100000000) break;
        float *x = malloc(n * sizeof(float));
        if (xsrc == 0) {
            f32s(&r, x, n);
        } else {
            uint64_t seed = u64(&r);
            double scale = f64(&r);
            gen(seed, n, scale, x);
            if (xsrc == 2)
                for (uint64_t b = 0; b < n / 64; b += 7)
                    for (uint64_t i = b * 64; i < (b + 1) * 64; i++)
                        x[i] *= (float)(1.0 + (double)(b % 13));
        }
        const uint8_t *packed = take(&r, (n + 1) / 2);
        float code[16];
        f32s(&r, code, 16);
        uint64_t nb = u64(&r);
        clft_q4 q;
        clft_status st =
            clft_q4_quantize_ex(x, (int64_t)n, (clft_dtype)type, (int)bs, (int)dq, (clft_q4_nested_mode)mode, &q);
        TU_CHECK(st == CLFT_OK, "%s: quantize: %s", name, clft_last_error());
        char what[96];
        if (st == CLFT_OK && packed) {
            snprintf(what, sizeof what, "%s packed", name);
            check_bytes(what, q.packed, packed, (n + 1) / 2);
            snprintf(what, sizeof what, "%s code", name);
            check_f32(what, q.code, code, 16);
            TU_CHECK((uint64_t)q.nblocks == nb, "%s: nblocks %lld want %llu", name, (long long)q.nblocks,
                     (unsigned long long)nb);
        }
        if (!dq) {
            float *am = malloc(nb * sizeof(float));
            f32s(&r, am, nb);
            snprintf(what, sizeof what, "%s absmax", name);
            if (st == CLFT_OK && !r.bad) check_f32(what, q.absmax, am, nb);
            free(am);
        } else {
            const uint8_t *qa = take(&r, nb);
            uint64_t nn = u64(&r);
            float *na = malloc((nn ? nn : 1) * sizeof(float)), off, nc[256];
            f32s(&r, na, nn);
            off = f32(&r);
            f32s(&r, nc, 256);
            if (st == CLFT_OK && !r.bad) {
                snprintf(what, sizeof what, "%s offset", name);
                check_f32(what, &q.nested_offset, &off, 1);
                snprintf(what, sizeof what, "%s nested_code", name);
                check_f32(what, q.nested_code, nc, 256);
                snprintf(what, sizeof what, "%s qabsmax", name);
                check_bytes(what, q.qabsmax, qa, nb);
                TU_CHECK(nn == (uint64_t)((q.nblocks + 255) / 256), "%s: nested count", name);
                snprintf(what, sizeof what, "%s nested_absmax", name);
                check_f32(what, q.nested_absmax, na, nn);
            }
            free(na);
        }
        uint32_t has_deq = u32(&r);
        if (has_deq) {
            float *dq_ref = malloc(n * sizeof(float)), *dq_got = malloc(n * sizeof(float));
            f32s(&r, dq_ref, n);
            if (st == CLFT_OK && !r.bad) {
                clft_q4_dequantize(&q, dq_got);
                snprintf(what, sizeof what, "%s dequantized", name);
                check_f32(what, dq_got, dq_ref, n);
            }
            free(dq_ref);
            free(dq_got);
        }
        clft_q4_free(&q);
        free(x);
    }
    for (uint32_t m = 0; m < nmeans && !r.bad; m++) {
        uint64_t n = u64(&r);
        if (r.bad || n > 1000000) break;
        float *x = malloc(n * sizeof(float));
        f32s(&r, x, n);
        float want = f32(&r), have = clft_q4_torch_mean_f32(x, (int64_t)n);
        TU_CHECK(bits(have) == bits(want), "torch mean of %llu values: %.9g want %.9g", (unsigned long long)n,
                 (double)have, (double)want);
        free(x);
    }
    TU_CHECK(!r.bad && r.p == r.end, "fixture file parsed to its end");
    free(buf);
}

int main(int argc, char **argv) {
    tu_init_seed();
    test_tables();
    test_hand_vectors();
    test_non_finite();
    test_bad_arguments();
    if (argc > 1)
        test_fixtures(argv[1]);
    else
        TU_CHECK(0, "usage: test_quant FIXTURE_FILE");
    return tu_finish("test_quant");
}
