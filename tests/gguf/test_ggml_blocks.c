/* test_ggml_blocks.c - llama.cpp's block formats (src/quant/ggml_blocks.c) against PyPI gguf's
 * gguf.quants (fixtures by tests/gguf/make_fixtures.py: data/ggml_blocks.safetensors).
 *
 *   dequantization of every type == gguf.quants.dequantize bit for bit (NaN payloads included;
 *   gguf.quants and ggml compute each value with the same f32 operations in the same order);
 *   quantization to Q8_0 / Q4_0 / Q4_1 / F16 / BF16 == gguf.quants.quantize byte for byte (gguf-py
 *   says its Q8_0 is bit-exact with ggml's quantize_row_q8_0_ref; Q4_0/Q4_1 follow the same formulas);
 *   sizes, names, a round trip, and bad n / unknown types refused.
 * usage: test_ggml_blocks DATA_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "quant/ggml_blocks.h"
#include "tutil.h"

static const struct {
    int type;
    const char *name;
    int elems, bytes;
} TYPES[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},       {8, "Q8_0", 32, 34},    {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210},
    {30, "BF16", 1, 2},
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

static const clft_st_tensor *get(const clft_safetensors *st, const char *name) {
    const clft_st_tensor *t = NULL;
    clft_status s = clft_st_get(st, name, &t);
    TU_CHECK(s == CLFT_OK, "fixture tensor %s: %s", name, clft_last_error());
    return s == CLFT_OK ? t : NULL;
}

static void test_sizes(void) {
    for (size_t i = 0; i < NTYPES; i++) {
        TU_CHECK(clft_ggml_type_name(TYPES[i].type) && !strcmp(clft_ggml_type_name(TYPES[i].type), TYPES[i].name),
                 "name of %d", TYPES[i].type);
        TU_CHECK(clft_ggml_block_elems(TYPES[i].type) == TYPES[i].elems, "%s elems", TYPES[i].name);
        TU_CHECK(clft_ggml_block_bytes(TYPES[i].type) == TYPES[i].bytes, "%s bytes", TYPES[i].name);
        TU_CHECK(clft_ggml_row_bytes(TYPES[i].type, (int64_t)TYPES[i].elems * 7) == (size_t)TYPES[i].bytes * 7,
                 "%s row bytes", TYPES[i].name);
        if (TYPES[i].elems > 1)
            TU_CHECK(clft_ggml_row_bytes(TYPES[i].type, TYPES[i].elems + 1) == 0, "%s ragged row", TYPES[i].name);
    }
    int unknown[] = {4, 5, 9, 15, 16, 20, 24, 28, 29, 31, 39, -1, 1000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        TU_CHECK(clft_ggml_type_name(unknown[i]) == NULL && clft_ggml_block_bytes(unknown[i]) == 0 &&
                     clft_ggml_block_elems(unknown[i]) == 0 && clft_ggml_row_bytes(unknown[i], 256) == 0,
                 "type %d unknown", unknown[i]);
    }
    TU_CHECK(clft_ggml_row_bytes(2, -32) == 0, "negative n");
    TU_CHECK(clft_ggml_row_bytes(0, INT64_MAX) == 0, "overflowing n");
}

static void test_dequantize(const clft_safetensors *st) {
    char name[64];
    for (size_t i = 0; i < NTYPES; i++) {
        snprintf(name, sizeof name, "deq.%s.src", TYPES[i].name);
        const clft_st_tensor *src = get(st, name);
        snprintf(name, sizeof name, "deq.%s.out", TYPES[i].name);
        const clft_st_tensor *ref = get(st, name);
        if (!src || !ref) continue;
        int64_t n = ref->numel;
        TU_CHECK(clft_ggml_row_bytes(TYPES[i].type, n) == src->bytes, "%s: %zu bytes for %lld values",
                 TYPES[i].name, src->bytes, (long long)n);
        float *got = malloc((size_t)n * sizeof(float));
        TU_OK(clft_ggml_dequantize(TYPES[i].type, src->data, n, got));
        int64_t bad = 0;
        for (int64_t j = 0; j < n; j++) {
            uint32_t a, b;
            memcpy(&a, &got[j], 4);
            memcpy(&b, (const char *)ref->data + 4 * j, 4);
            if (a != b) {
                if (bad < 5)
                    fprintf(stderr, "  %s[%lld]: got %.9g (0x%08x) ref 0x%08x\n", TYPES[i].name, (long long)j,
                            (double)got[j], a, b);
                bad++;
            }
        }
        TU_CHECK(bad == 0, "%s: %lld of %lld values differ from gguf.quants.dequantize", TYPES[i].name, (long long)bad,
                 (long long)n);
        printf("dequantize %-5s %6lld values: %s\n", TYPES[i].name, (long long)n, bad ? "DIFFER" : "bit-exact");
        free(got);
    }
}

static void test_quantize(const clft_safetensors *st) {
    static const int QTYPES[] = {8, 2, 3, 1, 30};
    char name[64];
    for (size_t k = 0; k < sizeof QTYPES / sizeof QTYPES[0]; k++) {
        int type = QTYPES[k];
        const char *tn = clft_ggml_type_name(type);
        snprintf(name, sizeof name, "q.%s.src", tn);
        const clft_st_tensor *src = get(st, name);
        snprintf(name, sizeof name, "q.%s.out", tn);
        const clft_st_tensor *ref = get(st, name);
        if (!src || !ref) continue;
        int64_t n = src->numel;
        size_t bytes = clft_ggml_row_bytes(type, n);
        TU_CHECK(bytes == ref->bytes, "%s: %zu bytes, reference %zu", tn, bytes, ref->bytes);
        uint8_t *got = malloc(bytes);
        float *x = malloc((size_t)n * sizeof(float));
        memcpy(x, src->data, (size_t)n * sizeof(float));
        TU_OK(clft_ggml_quantize(type, x, n, got));
        size_t bad = 0, first = 0;
        for (size_t j = 0; j < bytes && j < ref->bytes; j++)
            if (got[j] != ((const uint8_t *)ref->data)[j] && bad++ == 0) first = j;
        TU_CHECK(bad == 0, "%s: %zu of %zu bytes differ from gguf.quants.quantize (first at byte %zu, block %zu)", tn,
                 bad, bytes, first, first / (size_t)clft_ggml_block_bytes(type));
        printf("quantize   %-5s %6lld values: %s\n", tn, (long long)n, bad ? "DIFFER" : "byte-exact");
        /* the round trip reproduces the dequantization of the reference bytes */
        float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
        TU_OK(clft_ggml_dequantize(type, got, n, a));
        TU_OK(clft_ggml_dequantize(type, ref->data, n, b));
        TU_CHECK(!memcmp(a, b, (size_t)n * sizeof(float)), "%s round trip", tn);
        free(a);
        free(b);
        free(x);
        free(got);
    }
}

static void test_bad(void) {
    float x[512] = {0}, y[512];
    uint8_t buf[4096] = {0};
    TU_CHECK(clft_ggml_dequantize(2, buf, 33, y) == CLFT_STATUS_INVALID_ARGUMENT, "Q4_0 n 33");
    TU_CHECK(clft_ggml_dequantize(12, buf, 255, y) == CLFT_STATUS_INVALID_ARGUMENT, "Q4_K n 255");
    TU_CHECK(clft_ggml_dequantize(12, buf, 32, y) == CLFT_STATUS_INVALID_ARGUMENT, "Q4_K n 32");
    TU_CHECK(clft_ggml_dequantize(0, buf, -1, y) == CLFT_STATUS_INVALID_ARGUMENT, "n -1");
    TU_CHECK(strstr(clft_last_error(), "-1") != NULL, "message names n: %s", clft_last_error());
    TU_CHECK(clft_ggml_dequantize(20, buf, 32, y) == CLFT_STATUS_UNSUPPORTED, "IQ4_NL");
    TU_CHECK(strstr(clft_last_error(), "20") != NULL, "message names the type: %s", clft_last_error());
    TU_CHECK(clft_ggml_dequantize(2, NULL, 32, y) == CLFT_STATUS_INVALID_ARGUMENT, "NULL src");
    TU_CHECK(clft_ggml_dequantize(2, buf, 0, y) == CLFT_OK, "n 0");
    TU_CHECK(clft_ggml_quantize(8, x, 31, buf) == CLFT_STATUS_INVALID_ARGUMENT, "Q8_0 n 31");
    TU_CHECK(clft_ggml_quantize(12, x, 256, buf) == CLFT_STATUS_UNSUPPORTED, "no Q4_K quantizer");
    TU_CHECK(strstr(clft_last_error(), "Q4_K") != NULL, "message names Q4_K: %s", clft_last_error());
    TU_CHECK(clft_ggml_quantize(6, x, 32, buf) == CLFT_STATUS_UNSUPPORTED, "no Q5_0 quantizer");
    TU_CHECK(clft_ggml_quantize(99, x, 32, buf) == CLFT_STATUS_UNSUPPORTED, "unknown type");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/ggml_blocks.safetensors", argv[1]);
    clft_safetensors *st = NULL;
    clft_status s = clft_st_open(path, &st);
    TU_CHECK(s == CLFT_OK, "open %s: %s", path, clft_last_error());
    test_sizes();
    if (st) {
        test_dequantize(st);
        test_quantize(st);
    }
    test_bad();
    clft_safetensors_free(st);
    return tu_finish("test_ggml_blocks");
}
