/* test_gguf.c - the GGUF reader (src/io/gguf.c).
 *
 *   data/meta.gguf, written by PyPI gguf's GGUFWriter (tests/gguf/make_fixtures.py): every metadata
 *   value type, arrays of strings / integers / floats / bools, alignment 64, tensors of 1..4 dims in
 *   13 types: read back equal to meta.json (checked there against gguf-py's GGUFReader) and to
 *   meta_tensors.safetensors (raw bytes, gguf.quants.dequantize); the same image as version 2;
 *   bad input, each refused with a one-line error naming the file and the key or tensor: every
 *   prefix of the file, offsets/sizes past the end, misaligned offsets, unknown tensor and value
 *   types, string lengths past the end, nested arrays, duplicate keys and tensors, ne[0] not a
 *   multiple of the block, n_dims > 4, overflowing element counts, bad alignment, bad magic/version,
 *   counts larger than the file.
 * usage: test_gguf DATA_DIR */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "tutil.h"

/* ---- the GGUFWriter file ----------------------------------------------------------------------- */

static void check_value(const clft_gguf *g, const clft_gguf_kv *kv, const cJSON *e) {
    const char *key = kv->key;
    int type = cJSON_GetObjectItem(e, "type")->valueint;
    const cJSON *v = cJSON_GetObjectItem(e, "value");
    TU_CHECK((int)kv->type == type, "%s: type %d, expected %d", key, (int)kv->type, type);
    if (type == CLFT_GGUF_STRING) {
        const char *s = NULL;
        size_t len = 0;
        TU_OK(clft_gguf_get_str(g, key, &s, &len));
        TU_CHECK(len == strlen(v->valuestring) && !memcmp(s, v->valuestring, len), "%s: string", key);
    } else if (type == CLFT_GGUF_BOOL) {
        int b = -1;
        TU_OK(clft_gguf_get_bool(g, key, &b));
        TU_CHECK(b == cJSON_IsTrue(v), "%s: bool %d", key, b);
    } else if (type == CLFT_GGUF_FLOAT32 || type == CLFT_GGUF_FLOAT64) {
        double d = 0;
        TU_OK(clft_gguf_get_f64(g, key, &d));
        TU_CHECK(d == v->valuedouble, "%s: %.17g, expected %.17g", key, d, v->valuedouble);
        TU_CHECK(clft_gguf_get_i64(g, key, NULL) == CLFT_STATUS_FORMAT, "%s: a float is not an integer", key);
    } else if (type == CLFT_GGUF_ARRAY) {
        int elem = cJSON_GetObjectItem(e, "elem")->valueint;
        TU_CHECK((int)kv->elem == elem, "%s: element type %d, expected %d", key, (int)kv->elem, elem);
        TU_CHECK(kv->count == (uint64_t)cJSON_GetArraySize(v), "%s: %llu elements", key,
                 (unsigned long long)kv->count);
        uint64_t i = 0;
        for (const cJSON *x = v->child; x && i < kv->count; x = x->next, i++) {
            if (elem == CLFT_GGUF_STRING) {
                const char *s = NULL;
                size_t len = 0;
                TU_OK(clft_gguf_arr_str(kv, i, &s, &len));
                TU_CHECK(len == strlen(x->valuestring) && !memcmp(s, x->valuestring, len), "%s[%llu]", key,
                         (unsigned long long)i);
            } else if (elem == CLFT_GGUF_FLOAT32 || elem == CLFT_GGUF_FLOAT64) {
                TU_CHECK(clft_gguf_arr_f64(kv, i) == x->valuedouble, "%s[%llu]", key, (unsigned long long)i);
            } else if (elem == CLFT_GGUF_BOOL) {
                TU_CHECK(clft_gguf_arr_i64(kv, i) == cJSON_IsTrue(x), "%s[%llu]", key, (unsigned long long)i);
            } else if (elem == CLFT_GGUF_UINT64) {
                TU_CHECK((uint64_t)clft_gguf_arr_i64(kv, i) == strtoull(x->valuestring, NULL, 10) ||
                             strtoull(x->valuestring, NULL, 10) > (uint64_t)INT64_MAX,
                         "%s[%llu]", key, (unsigned long long)i);
                TU_CHECK(clft_gguf_arr_f64(kv, i) == (double)strtoull(x->valuestring, NULL, 10), "%s[%llu] f64", key,
                         (unsigned long long)i);
            } else {
                TU_CHECK(clft_gguf_arr_i64(kv, i) == strtoll(x->valuestring, NULL, 10), "%s[%llu] = %lld", key,
                         (unsigned long long)i, (long long)clft_gguf_arr_i64(kv, i));
                TU_CHECK(clft_gguf_arr_f64(kv, i) == (double)strtoll(x->valuestring, NULL, 10), "%s[%llu] f64", key,
                         (unsigned long long)i);
            }
        }
        TU_CHECK(clft_gguf_arr_str(kv, kv->count, NULL, NULL) != CLFT_OK, "%s: element past the end", key);
    } else { /* integers */
        int64_t x = 0;
        clft_status s = clft_gguf_get_i64(g, key, &x);
        if (type == CLFT_GGUF_UINT64 && strtoull(v->valuestring, NULL, 10) > (uint64_t)INT64_MAX) {
            TU_CHECK(s == CLFT_STATUS_FORMAT && strstr(clft_last_error(), key), "%s: too big for int64: %s", key,
                     clft_last_error());
        } else {
            TU_CHECK(s == CLFT_OK && x == strtoll(v->valuestring, NULL, 10), "%s: %lld, expected %s", key,
                     (long long)x, v->valuestring);
        }
        double d = 0;
        TU_OK(clft_gguf_get_f64(g, key, &d));
        TU_CHECK(d == strtod(v->valuestring, NULL), "%s: as f64 %.17g", key, d);
        TU_CHECK(clft_gguf_get_str(g, key, NULL, NULL) == CLFT_STATUS_FORMAT, "%s: not a string", key);
        TU_CHECK(clft_gguf_get_bool(g, key, NULL) == CLFT_STATUS_FORMAT, "%s: not a bool", key);
    }
}

static void test_meta(const char *dir, unsigned char **image, size_t *image_len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    char *text = tu_read_file(path, NULL);
    TU_CHECK(text != NULL, "read %s", path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    TU_CHECK(j != NULL, "parse meta.json");
    snprintf(path, sizeof path, "%s/meta_tensors.safetensors", dir);
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open(path, &st));
    snprintf(path, sizeof path, "%s/meta.gguf", dir);
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(path, &g));
    if (!g || !j || !st) goto done;
    TU_CHECK(!strcmp(clft_gguf_path(g), path), "path");
    TU_CHECK(clft_gguf_version(g) == 3, "version %u", clft_gguf_version(g));
    TU_CHECK(clft_gguf_alignment(g) == 64, "alignment %u", clft_gguf_alignment(g));
    const cJSON *kvs = cJSON_GetObjectItem(j, "kv"), *ts = cJSON_GetObjectItem(j, "tensors");
    TU_CHECK(clft_gguf_kv_count(g) == (size_t)cJSON_GetArraySize(kvs), "%zu keys", clft_gguf_kv_count(g));
    size_t i = 0;
    for (const cJSON *e = kvs->child; e; e = e->next, i++) {
        const clft_gguf_kv *kv = clft_gguf_kv_at(g, i);
        const char *key = cJSON_GetObjectItem(e, "key")->valuestring;
        TU_CHECK(kv && !strcmp(kv->key, key), "key %zu is %s, expected %s", i, kv ? kv->key : "-", key);
        if (!kv) continue;
        TU_CHECK(clft_gguf_find(g, key) == kv, "find %s", key);
        check_value(g, kv, e);
    }
    TU_CHECK(clft_gguf_kv_at(g, i) == NULL, "no key past the end");
    TU_CHECK(clft_gguf_find(g, "test.nope") == NULL, "absent key");
    TU_CHECK(clft_gguf_get_i64(g, "test.nope", NULL) == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "test.nope") &&
                 strstr(clft_last_error(), "meta.gguf"),
             "absent key message: %s", clft_last_error());
    TU_CHECK(clft_gguf_get_i64(g, "test.string", NULL) == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "test.string"),
             "a string is not an integer: %s", clft_last_error());
    TU_CHECK(clft_gguf_get_str(g, "test.arr.str", NULL, NULL) == CLFT_STATUS_FORMAT, "an array is not a string");

    TU_CHECK(clft_gguf_tensor_count(g) == (size_t)cJSON_GetArraySize(ts), "%zu tensors", clft_gguf_tensor_count(g));
    i = 0;
    for (const cJSON *e = ts->child; e; e = e->next, i++) {
        const clft_gguf_tensor *t = clft_gguf_tensor_at(g, i);
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        TU_CHECK(t && !strcmp(t->name, name), "tensor %zu is %s, expected %s", i, t ? t->name : "-", name);
        if (!t) continue;
        TU_CHECK(clft_gguf_tensor_find(g, name) == t, "find %s", name);
        TU_CHECK((int)t->type == cJSON_GetObjectItem(e, "type")->valueint, "%s: type %d", name, (int)t->type);
        TU_CHECK(t->offset == (uint64_t)cJSON_GetObjectItem(e, "offset")->valuedouble, "%s: offset %llu", name,
                 (unsigned long long)t->offset);
        const cJSON *ne = cJSON_GetObjectItem(e, "ne");
        TU_CHECK(t->ndim == cJSON_GetArraySize(ne), "%s: ndim %d", name, t->ndim);
        int64_t numel = 1;
        for (int d = 0; d < CLFT_GGUF_MAX_DIMS; d++) {
            int64_t want = d < cJSON_GetArraySize(ne) ? (int64_t)cJSON_GetArrayItem(ne, d)->valuedouble : 1;
            TU_CHECK(t->ne[d] == want, "%s: ne[%d] = %lld, expected %lld", name, d, (long long)t->ne[d], (long long)want);
            numel *= want;
        }
        TU_CHECK(t->numel == numel, "%s: numel", name);
        TU_CHECK(((uintptr_t)t->data - (uintptr_t)clft_gguf_tensor_at(g, 0)->data) % 64 == 0, "%s: aligned", name);
        char sn[128];
        snprintf(sn, sizeof sn, "%s.raw", name);
        const clft_st_tensor *raw = clft_st_find(st, sn);
        snprintf(sn, sizeof sn, "%s.f32", name);
        const clft_st_tensor *f = clft_st_find(st, sn);
        TU_CHECK(raw && f, "%s: fixture tensors", name);
        if (!raw || !f) continue;
        TU_CHECK(t->bytes == raw->bytes && !memcmp(t->data, raw->data, raw->bytes), "%s: %zu raw bytes", name,
                 t->bytes);
        float *x = malloc((size_t)t->numel * sizeof *x);
        TU_OK(clft_gguf_to_f32(g, t, x));
        TU_CHECK(f->numel == t->numel && !memcmp(x, f->data, (size_t)t->numel * sizeof *x),
                 "%s: f32 values equal gguf.quants.dequantize", name);
        free(x);
    }
    TU_CHECK(clft_gguf_tensor_find(g, "t.nope") == NULL, "absent tensor");
    /* the whole image, for the bad-input tests */
    snprintf(path, sizeof path, "%s/meta.gguf", dir);
    *image = (unsigned char *)tu_read_file(path, image_len);
done:
    clft_gguf_free(g);
    clft_safetensors_free(st);
    cJSON_Delete(j);
}

/* Version 2 has the layout of version 3 (both little-endian with 64-bit counts). */
static void test_v2(const unsigned char *img, size_t len) {
    unsigned char *c = malloc(len);
    memcpy(c, img, len);
    c[4] = 2;
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open_memory("v2.gguf", c, len, &g));
    TU_CHECK(g && clft_gguf_version(g) == 2 && clft_gguf_tensor_count(g) == 13, "version 2 image");
    clft_gguf_free(g);
    free(c);
}

/* ---- bad input ----------------------------------------------------------------------------------- */

/* refused with status `want` (0: any error) and a one-line message naming the label and `needle` */
static void expect_bad(const char *label, const void *data, size_t len, const char *needle) {
    clft_gguf *g = NULL;
    clft_status s = clft_gguf_open_memory(label, data, len, &g);
    const char *m = clft_last_error();
    TU_CHECK(s == CLFT_STATUS_FORMAT && g == NULL, "%s: status %s (%s)", label, clft_status_string(s), m);
    TU_CHECK(strstr(m, label) == m, "%s: message starts with the file: %s", label, m);
    TU_CHECK(!needle || strstr(m, needle), "%s: message names '%s': %s", label, needle, m);
    TU_CHECK(!strchr(m, '\n'), "%s: one line: %s", label, m);
    clft_gguf_free(g);
}

/* Every prefix that ends before the last tensor's data is refused as truncated; the ones that only
 * cut the zero padding after it are complete files (ggml and gguf-py read them too). */
static void test_prefixes(const unsigned char *img, size_t len) {
    clft_gguf *full = NULL;
    TU_OK(clft_gguf_open_memory("full.gguf", img, len, &full));
    if (!full) return;
    size_t end = 0;
    for (size_t i = 0; i < clft_gguf_tensor_count(full); i++) {
        const clft_gguf_tensor *t = clft_gguf_tensor_at(full, i);
        size_t e = (size_t)((const unsigned char *)t->data - img) + t->bytes;
        if (e > end) end = e;
    }
    clft_gguf_free(full);
    TU_CHECK(end > 0 && end < len, "data ends at %zu of %zu (padding after the last tensor)", end, len);
    size_t bad = 0;
    for (size_t n = 0; n < len; n++) {
        clft_gguf *g = NULL;
        clft_error_clear();
        clft_status s = clft_gguf_open_memory("cut.gguf", img, n, &g);
        const char *m = clft_last_error();
        int ok = n >= end ? s == CLFT_OK && g
                          : s == CLFT_STATUS_FORMAT && !g && strstr(m, "cut.gguf") == m && !strchr(m, '\n') &&
                                (strstr(m, "past the end") || strstr(m, "cannot fit"));
        if (!ok && bad++ < 5) fprintf(stderr, "  prefix %zu: %s: %s\n", n, clft_status_string(s), m);
        clft_gguf_free(g);
    }
    TU_CHECK(bad == 0, "%zu of %zu prefixes not handled (refused as truncated below byte %zu, read above)", bad, len,
             end);
}

/* a small image builder */
typedef struct img {
    unsigned char b[4096];
    size_t n;
} img;
static void put(img *m, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) m->b[m->n++] = (unsigned char)(v >> (8 * i));
}
static void put_str(img *m, const char *s) {
    put(m, strlen(s), 8);
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}
static void header(img *m, uint64_t nt, uint64_t nkv) {
    m->n = 0;
    put(m, 0x46554747u, 4);
    put(m, 3, 4);
    put(m, nt, 8);
    put(m, nkv, 8);
}
static void kv_u32(img *m, const char *key, uint32_t v) {
    put_str(m, key);
    put(m, CLFT_GGUF_UINT32, 4);
    put(m, v, 4);
}
/* a tensor info: name, ne (n of them), type, offset */
static void tinfo(img *m, const char *name, int n, const uint64_t *ne, uint32_t type, uint64_t offset) {
    put_str(m, name);
    put(m, (uint64_t)n, 4);
    for (int i = 0; i < n; i++) put(m, ne[i], 8);
    put(m, type, 4);
    put(m, offset, 8);
}
/* pad to the alignment and add `bytes` of data */
static void data(img *m, size_t align, size_t bytes) {
    while (m->n % align) m->b[m->n++] = 0;
    memset(m->b + m->n, 0x11, bytes);
    m->n += bytes;
}

static void test_bad(void) {
    img m;
    uint64_t ne2[2] = {32, 2}, ne1[1] = {8};

    /* a good base case first, so that the refusals below are caused by what each one changes */
    header(&m, 2, 1);
    kv_u32(&m, "a.b", 7);
    tinfo(&m, "w", 2, ne2, CLFT_GGML_Q8_0, 0);
    tinfo(&m, "v", 1, ne1, CLFT_GGML_F32, 96);
    data(&m, 32, 96 + 32);
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open_memory("good.gguf", m.b, m.n, &g));
    TU_CHECK(g && clft_gguf_tensor_count(g) == 2 && clft_gguf_tensor_find(g, "v")->bytes == 32, "good image");
    clft_gguf_free(g);

    header(&m, 2, 1);
    kv_u32(&m, "a.b", 7);
    tinfo(&m, "w", 2, ne2, CLFT_GGML_Q8_0, 0);
    tinfo(&m, "v", 1, ne1, CLFT_GGML_F32, 96);
    data(&m, 32, 96 + 31);
    expect_bad("size-past-end.gguf", m.b, m.n, "'v'");

    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne2, CLFT_GGML_Q8_0, 1024);
    data(&m, 32, 68);
    expect_bad("offset-past-end.gguf", m.b, m.n, "'w'");

    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne2, CLFT_GGML_Q8_0, UINT64_MAX - 31);
    data(&m, 32, 68);
    expect_bad("offset-huge.gguf", m.b, m.n, "'w'");

    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne2, CLFT_GGML_Q8_0, 16);
    data(&m, 32, 128);
    expect_bad("misaligned.gguf", m.b, m.n, "not a multiple of the alignment");

    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne2, 20 /* IQ4_NL */, 0);
    data(&m, 32, 128);
    expect_bad("iq4nl.gguf", m.b, m.n, "IQ4_NL");
    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne2, 1000, 0);
    data(&m, 32, 128);
    expect_bad("type1000.gguf", m.b, m.n, "1000");

    header(&m, 0, 1);
    put_str(&m, "k.bad");
    put(&m, 13, 4);
    put(&m, 0, 8);
    expect_bad("vtype.gguf", m.b, m.n, "'k.bad'");
    header(&m, 0, 1);
    put_str(&m, "k.arr");
    put(&m, CLFT_GGUF_ARRAY, 4);
    put(&m, 99, 4);
    put(&m, 1, 8);
    expect_bad("elemtype.gguf", m.b, m.n, "'k.arr'");

    header(&m, 0, 1);
    put_str(&m, "k.s");
    put(&m, CLFT_GGUF_STRING, 4);
    put(&m, 1000, 8);
    put(&m, 0x41414141, 4);
    expect_bad("strlen.gguf", m.b, m.n, "'k.s'");
    header(&m, 0, 1);
    put_str(&m, "k.s");
    put(&m, CLFT_GGUF_STRING, 4);
    put(&m, UINT64_MAX, 8);
    expect_bad("strlen-huge.gguf", m.b, m.n, "'k.s'");
    header(&m, 0, 1);
    put_str(&m, "k.as");
    put(&m, CLFT_GGUF_ARRAY, 4);
    put(&m, CLFT_GGUF_STRING, 4);
    put(&m, 2, 8);
    put_str(&m, "ok");
    put(&m, 5000, 8);
    put(&m, 0, 8);
    expect_bad("arrstr.gguf", m.b, m.n, "'k.as'");
    header(&m, 0, 1);
    put_str(&m, "k.ai");
    put(&m, CLFT_GGUF_ARRAY, 4);
    put(&m, CLFT_GGUF_INT32, 4);
    put(&m, UINT64_MAX / 2, 8);
    put(&m, 0, 8);
    expect_bad("arrlen.gguf", m.b, m.n, "'k.ai'");
    /* a key whose length runs past the end */
    header(&m, 0, 1);
    put(&m, 300, 8);
    put(&m, 0, 8);
    put(&m, 0, 8);
    expect_bad("keylen.gguf", m.b, m.n, "past the end");

    header(&m, 0, 1);
    put_str(&m, "k.nested");
    put(&m, CLFT_GGUF_ARRAY, 4);
    put(&m, CLFT_GGUF_ARRAY, 4);
    put(&m, 1, 8);
    put(&m, CLFT_GGUF_UINT8, 4);
    put(&m, 1, 8);
    put(&m, 0, 1);
    expect_bad("nested.gguf", m.b, m.n, "'k.nested'");

    header(&m, 0, 2);
    kv_u32(&m, "a.b", 1);
    kv_u32(&m, "a.b", 2);
    expect_bad("dupkey.gguf", m.b, m.n, "duplicate key 'a.b'");
    header(&m, 2, 0);
    tinfo(&m, "w", 1, ne1, CLFT_GGML_F32, 0);
    tinfo(&m, "w", 1, ne1, CLFT_GGML_F32, 32);
    data(&m, 32, 64);
    expect_bad("duptensor.gguf", m.b, m.n, "duplicate tensor 'w'");

    uint64_t ne_rag[2] = {48, 2};
    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne_rag, CLFT_GGML_Q4_0, 0);
    data(&m, 32, 128);
    expect_bad("ragged.gguf", m.b, m.n, "'w'");
    uint64_t ne_k[1] = {128};
    header(&m, 1, 0);
    tinfo(&m, "w", 1, ne_k, CLFT_GGML_Q4_K, 0);
    data(&m, 32, 256);
    expect_bad("ragged-k.gguf", m.b, m.n, "Q4_K");

    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    header(&m, 1, 0);
    tinfo(&m, "w", 5, ne5, CLFT_GGML_F32, 0);
    data(&m, 32, 32);
    expect_bad("ndims.gguf", m.b, m.n, "n_dims");
    uint64_t ne0[2] = {0, 4};
    header(&m, 1, 0);
    tinfo(&m, "w", 2, ne0, CLFT_GGML_F32, 0);
    data(&m, 32, 32);
    expect_bad("ne0.gguf", m.b, m.n, "'w'");
    uint64_t nebig[3] = {1ull << 32, 1ull << 32, 1ull << 2};
    header(&m, 1, 0);
    tinfo(&m, "w", 3, nebig, CLFT_GGML_F32, 0);
    data(&m, 32, 32);
    expect_bad("overflow.gguf", m.b, m.n, "overflow");
    uint64_t nebytes[2] = {1ull << 32, 1ull << 30};
    header(&m, 1, 0);
    tinfo(&m, "w", 2, nebytes, CLFT_GGML_F32, 0);
    data(&m, 32, 32);
    expect_bad("bytes-overflow.gguf", m.b, m.n, "'w'");
    uint64_t neneg[1] = {UINT64_MAX};
    header(&m, 1, 0);
    tinfo(&m, "w", 1, neneg, CLFT_GGML_F32, 0);
    data(&m, 32, 32);
    expect_bad("ne-negative.gguf", m.b, m.n, "'w'");

    uint32_t aligns[3] = {0, 3, 48};
    for (int i = 0; i < 3; i++) {
        header(&m, 0, 1);
        kv_u32(&m, "general.alignment", aligns[i]);
        expect_bad("align.gguf", m.b, m.n, "general.alignment");
    }
    header(&m, 0, 1);
    put_str(&m, "general.alignment");
    put(&m, CLFT_GGUF_STRING, 4);
    put_str(&m, "32");
    expect_bad("align-str.gguf", m.b, m.n, "general.alignment");
    /* alignment 8: offsets multiple of 8 accepted, data at the padded start */
    header(&m, 1, 1);
    kv_u32(&m, "general.alignment", 8);
    tinfo(&m, "w", 1, ne1, CLFT_GGML_F32, 8);
    data(&m, 8, 64);
    TU_OK(clft_gguf_open_memory("align8.gguf", m.b, m.n, &g));
    TU_CHECK(g && clft_gguf_alignment(g) == 8, "alignment 8");
    clft_gguf_free(g);

    header(&m, 0, 0);
    m.b[0] = 'F';
    expect_bad("magic.gguf", m.b, m.n, "not a GGUF file");
    header(&m, 0, 0);
    m.b[4] = 1;
    expect_bad("v1.gguf", m.b, m.n, "version 1");
    header(&m, 0, 0);
    m.b[4] = 0;
    m.b[7] = 3;
    expect_bad("bigendian.gguf", m.b, m.n, "big-endian");
    header(&m, UINT64_MAX, 0);
    expect_bad("ntensors.gguf", m.b, m.n, "cannot fit");
    header(&m, 0, 1ull << 40);
    expect_bad("nkv.gguf", m.b, m.n, "cannot fit");

    header(&m, 1, 0);
    put_str(&m, "a_tensor_name_that_is_longer_than_sixty_three_bytes_which_ggml_refuses");
    expect_bad("longname.gguf", m.b, m.n, "tensor name");
    header(&m, 0, 1);
    put(&m, 3, 8);
    memcpy(m.b + m.n, "a\0b", 3);
    m.n += 3;
    put(&m, CLFT_GGUF_UINT8, 4);
    put(&m, 0, 1);
    expect_bad("nulkey.gguf", m.b, m.n, "NUL");
    header(&m, 0, 1);
    put(&m, 0, 8);
    put(&m, CLFT_GGUF_UINT8, 4);
    put(&m, 0, 8);
    expect_bad("emptykey.gguf", m.b, m.n, "empty key");

    /* a file on disk that is not there / a folder */
    TU_CHECK(clft_gguf_open("/nonexistent/x.gguf", &g) == CLFT_STATUS_IO && strstr(clft_last_error(), "x.gguf"),
             "missing file: %s", clft_last_error());
    TU_CHECK(clft_gguf_open("/", &g) == CLFT_STATUS_IO, "a folder");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    unsigned char *image = NULL;
    size_t len = 0;
    test_meta(argv[1], &image, &len);
    if (image) {
        test_v2(image, len);
        test_prefixes(image, len);
    }
    free(image);
    test_bad();
    return tu_finish("test_gguf");
}
