/* tok_cases.h - helpers of the tokenizer tests that compare ids with reference cases in JSON
 * (test_tokenizer.c: tokenizer.json; test_gguf_tokenizer.c: GGUF metadata). */
#ifndef CLFT_TEST_TOK_CASES_H
#define CLFT_TEST_TOK_CASES_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "tutil.h"

static inline int ids_equal(const int32_t *a, size_t na, const cJSON *arr) {
    if ((size_t)cJSON_GetArraySize(arr) != na) return 0;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if ((int32_t)e->valuedouble != a[i++]) return 0;
    return 1;
}

static inline void print_ids(const char *what, const int32_t *a, size_t n) {
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", (int)a[i]);
    fprintf(stderr, "\n");
}

/* A file, or when it is absent the same path + ".zst" decompressed; NUL-terminated, free(). */
static inline char *read_maybe_zst(const char *path, size_t *len) {
    char *s = tu_read_file(path, len);
    if (s) return s;
    char p[1024];
    snprintf(p, sizeof p, "%s.zst", path);
    size_t zl = 0;
    char *z = tu_read_file(p, &zl);
    unsigned long long full = z ? ZSTD_getFrameContentSize(z, zl) : 0;
    if (z && full != ZSTD_CONTENTSIZE_UNKNOWN && full != ZSTD_CONTENTSIZE_ERROR) {
        s = malloc((size_t)full + 1);
        size_t r = s ? ZSTD_decompress(s, (size_t)full, z, zl) : 0;
        if (!s || ZSTD_isError(r)) {
            free(s);
            s = NULL;
        } else {
            s[r] = 0;
            if (len) *len = r;
        }
    }
    free(z);
    TU_CHECK(s != NULL, "read %s", path);
    return s;
}

#endif
