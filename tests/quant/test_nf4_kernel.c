/* test_nf4_kernel.c - cl/nf4.cl through src/ops/weight.c against the C reference
 * (clft_q4_dequantize, clft_ref_f32_to_f16/bf16): NF4 and FP4, with and without double
 * quantization, every output storage type, ragged shapes (odd numel, partial blocks and groups),
 * several blocksizes; f16/bf16/f32 weight upload and conversion back; bad arguments. Results must
 * match bit for bit. Tiny shapes under Oclgrind (CLFT_TEST_TINY). */
#include "cl/clrt.h"
#include "ops/weight.h"
#include "ref/ref.h"
#include "tutil.h"

static size_t esize(clft_dtype t) { return t == CLFT_DTYPE_F32 ? 4 : 2; }

static float round_to(clft_dtype t, float v) {
    if (t == CLFT_DTYPE_F16) return clft_ref_f16_to_f32(clft_ref_f32_to_f16(v));
    if (t == CLFT_DTYPE_BF16) return clft_ref_bf16_to_f32(clft_ref_f32_to_bf16(v));
    return v;
}
static float from_bits(clft_dtype t, const void *p, size_t i) {
    if (t == CLFT_DTYPE_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == CLFT_DTYPE_F16 ? clft_ref_f16_to_f32(h) : clft_ref_bf16_to_f32(h);
}

static void check_dequant(clft_context *ctx, int64_t rows, int64_t cols, clft_dtype type, int bs, int dq,
                          clft_dtype out_t, uint64_t salt, int lut) {
    const size_t n = (size_t)(rows * cols);
    tu_rng rng = tu_rng_make(salt);
    float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    void *raw = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = tu_normal(&rng) * (0.01f + 0.1f * (float)((i / 97) % 5));
    if (n > 200) memset(x + 64, 0, 64 * sizeof(float)); /* an all-zero block for bs <= 64 */
    clft_q4 q;
    clft_weight w;
    clft_buf out = {0};
    TU_OK(clft_q4_quantize(x, (int64_t)n, type, bs, dq, &q));
    TU_OK(clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, rows, cols, &w));
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, n * esize(out_t), &out));
    if (lut)
        TU_OK(clft_weight_dequant_lut(ctx, &w, out_t, lut, &out));
    else if (out_t == CLFT_DTYPE_F32)
        TU_OK(clft_weight_to_f32(ctx, &w, &out));
    else
        TU_OK(clft_weight_dequant(ctx, &w, out_t, &out));
    TU_OK(clft_buf_read(ctx, &out, 0, raw, n * esize(out_t)));
    clft_q4_dequantize(&q, ref);
    for (size_t i = 0; i < n; i++) {
        ref[i] = round_to(out_t, ref[i]);
        got[i] = from_bits(out_t, raw, i);
    }
    char what[128];
    snprintf(what, sizeof what, "%s bs%d%s -> %s (%lld,%lld) lut %d", clft_dtype_name(type), bs, dq ? " dq" : "",
             clft_dtype_name(out_t), (long long)rows, (long long)cols, lut);
    size_t bitdiff = 0;
    for (size_t i = 0; i < n; i++)
        bitdiff += memcmp(&got[i], &ref[i], 4) != 0;
    TU_CHECK(bitdiff == 0, "%s: %zu values differ in their bits", what, bitdiff);
    tu_close(what, got, ref, n, 0.0, 0.0, 0.0);
    clft_buf_free(ctx, &out);
    clft_weight_free(ctx, &w);
    clft_q4_free(&q);
    free(x);
    free(ref);
    free(got);
    free(raw);
}

static void check_upload(clft_context *ctx, clft_dtype t, int64_t rows, int64_t cols) {
    const size_t n = (size_t)(rows * cols);
    tu_rng rng = tu_rng_make(77 + (uint64_t)t);
    float *x = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = tu_normal(&rng) * 3.0f;
    x[0] = 1.0f + 1.0f / 2048.0f; /* an f16 tie: rounds to even */
    x[n - 1] = 65519.0f;          /* the largest value that still rounds to f16 max 65504 */
    clft_weight w;
    clft_buf out = {0};
    TU_OK(clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, t, rows, cols, x, &w));
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, n * 4, &out));
    TU_OK(clft_weight_to_f32(ctx, &w, &out));
    TU_OK(clft_buf_read(ctx, &out, 0, got, n * 4));
    for (size_t i = 0; i < n; i++)
        ref[i] = round_to(t, x[i]);
    char what[64];
    snprintf(what, sizeof what, "upload %s (%lld,%lld)", clft_dtype_name(t), (long long)rows, (long long)cols);
    tu_close(what, got, ref, n, 0.0, 0.0, 0.0);
    clft_buf_free(ctx, &out);
    clft_weight_free(ctx, &w);
    free(x);
    free(got);
    free(ref);
}

static void check_bad(clft_context *ctx) {
    float x[64] = {0};
    clft_q4 q;
    clft_weight w;
    TU_OK(clft_q4_quantize(x, 64, CLFT_DTYPE_NF4, 32, 1, &q));
    TU_CHECK(clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, 8, 9, &w) == CLFT_STATUS_SHAPE_MISMATCH,
             "numel mismatch");
    TU_CHECK(clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, NULL, 8, 8, &w) == CLFT_STATUS_INVALID_ARGUMENT, "NULL q");
    TU_CHECK(clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, 0, 64, &w) == CLFT_STATUS_INVALID_ARGUMENT, "rows 0");
    TU_CHECK(clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, CLFT_DTYPE_NF4, 8, 8, x, &w) == CLFT_STATUS_INVALID_ARGUMENT,
             "upload as nf4");
    /* no host data: a zero weight, in every 16/32-bit storage */
    for (int d = 0; d < 3; d++) {
        const clft_dtype dts[3] = {CLFT_DTYPE_F32, CLFT_DTYPE_BF16, CLFT_DTYPE_F16};
        clft_buf o = {0};
        float got[64];
        memset(got, 0x7f, sizeof got);
        TU_OK(clft_weight_upload(ctx, CLFT_MEM_WEIGHTS, dts[d], 8, 8, NULL, &w));
        TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, 64 * 4, &o));
        TU_OK(clft_buf_fill_zero(ctx, &o));
        TU_OK(clft_weight_to_f32(ctx, &w, &o));
        TU_OK(clft_buf_read(ctx, &o, 0, got, sizeof got));
        int zeros = 0;
        for (int i = 0; i < 64; i++)
            zeros += got[i] == 0.0f;
        TU_CHECK(zeros == 64 && w.dtype == dts[d], "upload NULL: %d of 64 zeros (%s)", zeros, clft_dtype_name(dts[d]));
        clft_buf_free(ctx, &o);
        clft_weight_free(ctx, &w);
    }
    TU_OK(clft_weight_upload_q4(ctx, CLFT_MEM_WEIGHTS, &q, 8, 8, &w));
    clft_buf small = {0};
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, 63 * 4, &small));
    TU_CHECK(clft_weight_to_f32(ctx, &w, &small) == CLFT_STATUS_SHAPE_MISMATCH, "output too small");
    TU_CHECK(clft_weight_dequant(ctx, &w, CLFT_DTYPE_U8, &small) == CLFT_STATUS_INVALID_ARGUMENT, "u8 output");
    clft_buf_free(ctx, &small);
    clft_weight_free(ctx, &w);
    clft_weight_free(ctx, &w); /* twice is fine */
    clft_q4_free(&q);
}

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    const int tiny = tu_tiny();
    const clft_dtype outs[3] = {CLFT_DTYPE_F32, CLFT_DTYPE_F16, CLFT_DTYPE_BF16};
    const clft_dtype types[2] = {CLFT_DTYPE_NF4, CLFT_DTYPE_FP4};
    const int64_t shapes[][2] = {{1, 1}, {3, 5}, {7, 33}, {16, 64}, {33, 97}, {64, 256}, {129, 301}};
    const int nshapes = tiny ? 4 : 7;
    const int bss[] = {32, 64, 128, 4096};
    uint64_t salt = 1;
    for (int s = 0; s < nshapes; s++)
        for (int t = 0; t < 2; t++)
            for (int dq = 0; dq < 2; dq++)
                for (int o = 0; o < 3; o++) {
                    int bs = bss[(s + t + o) % (tiny ? 2 : 4)];
                    check_dequant(ctx, shapes[s][0], shapes[s][1], types[t], bs, dq, outs[o], salt++, 0);
                }
    if (!tiny)
        check_dequant(ctx, 300, 1000, CLFT_DTYPE_NF4, 64, 1, CLFT_DTYPE_F32, salt++, 0); /* > 256 blocks */
    else
        check_dequant(ctx, 9, 1000, CLFT_DTYPE_NF4, 32, 1, CLFT_DTYPE_F32, salt++, 0); /* 282 blocks */
    /* every lookup implementation the device can build: the portable one everywhere, the x86
     * permutes on PoCL's CPU device (what the automatic choice does not pick is tested here) */
    const int nlut = (ctx->caps.is_cpu && ctx->caps.vendor_pocl) ? 3 : 1;
    for (int lut = 0; lut <= 3; lut++) { /* which one each request builds on this device */
        int built = 0;
        TU_OK(clft_weight_lut_built(ctx, lut, &built));
        TU_CHECK(built >= 1 && built <= 3 && (lut == 0 || built <= lut), "NF4_LUT=%d built variant %d", lut, built);
#if defined(__x86_64__) || defined(__i386__)
        /* PoCL compiles for the host CPU: a variant it has must be built as asked */
        if (ctx->caps.is_cpu && ctx->caps.vendor_pocl && lut >= 2)
            TU_CHECK(built == lut || !(lut == 3 ? __builtin_cpu_supports("avx512f") : __builtin_cpu_supports("avx2")),
                     "NF4_LUT=%d fell back to %d on a CPU that has it", lut, built);
#endif
        printf("NF4_LUT=%d: variant %d built (%s)\n", lut, built,
               built == 3   ? "AVX-512 permute"
               : built == 2 ? "AVX2 permutes"
                            : "portable shuffle()");
    }
    for (int lut = 1; lut <= nlut; lut++)
        for (int o = 0; o < 3; o++)
            for (int dq = 0; dq < 2; dq++)
                check_dequant(ctx, 33, 97, o == 1 ? CLFT_DTYPE_FP4 : CLFT_DTYPE_NF4, 32 << o, dq, outs[o], salt++, lut);
    for (int o = 0; o < 3; o++)
        check_upload(ctx, outs[o], tiny ? 3 : 45, tiny ? 7 : 77);
    check_bad(ctx);
    clft_selfcheck_result r;
    TU_OK(clft_selfcheck(ctx, &r));
    clft_context_free(ctx);
    return tu_finish("test_nf4_kernel");
}
