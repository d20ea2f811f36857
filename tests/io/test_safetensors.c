/* test_safetensors.c - safetensors reader and writer: byte equality with files written by the Python
 * safetensors library (tests/reference/safetensors_reference.py), round trips, sharded models, and
 * every kind of malformed input giving FORMAT with a message naming the file and the tensor/key.
 * argv[1]: tests/io/data, argv[2]: a scratch folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_util.h"
#include "io/safetensors.h"
#include "ref/ref.h"
#include "tutil.h"

static const char *g_data, *g_scratch;

/* mirrors MIXED / NAMES in safetensors_reference.py */
typedef struct spec {
    const char *name;
    clft_st_dtype dtype;
    int ndim;
    int64_t shape[3];
} spec;
static const spec MIXED[] = {
    {"b.f32", CLFT_ST_F32, 2, {2, 3}}, {"a.f32", CLFT_ST_F32, 1, {4}},  {"z.f16", CLFT_ST_F16, 2, {3, 2}},
    {"i64", CLFT_ST_I64, 1, {2}},      {"i32", CLFT_ST_I32, 1, {3}},    {"u8", CLFT_ST_U8, 1, {5}},
    {"i8", CLFT_ST_I8, 2, {2, 2}},     {"f64", CLFT_ST_F64, 1, {1}},    {"flag", CLFT_ST_BOOL, 1, {3}},
    {"i16", CLFT_ST_I16, 1, {2}},      {"u16", CLFT_ST_U16, 1, {2}},    {"u32", CLFT_ST_U32, 1, {1}},
    {"u64", CLFT_ST_U64, 1, {1}},      {"scalar", CLFT_ST_F32, 0, {0}}, {"empty", CLFT_ST_F32, 2, {0, 3}},
};
static const spec NAMES[] = {
    {"model.layers.10.w", CLFT_ST_F32, 1, {2}}, {"model.layers.2.w", CLFT_ST_F32, 1, {3}},
    {"\xc3\xa9t\xc3\xa9", CLFT_ST_F32, 1, {1}}, {"quote\"name", CLFT_ST_F32, 1, {1}},
    {"tab\tname", CLFT_ST_F32, 1, {2}},
};
#define NMIXED (sizeof MIXED / sizeof MIXED[0])
#define NNAMES (sizeof NAMES / sizeof NAMES[0])

/* the reference formula, written as the dtype's bytes */
static void ref_value(const spec *s, int k, int64_t i, unsigned char *dst) {
    long long sv = ((i + k) % 7) - 2, uv = (i + k) % 7;
    double fv = (double)sv * 0.5;
    switch (s->dtype) {
    case CLFT_ST_F32: {
        float f = (float)fv;
        memcpy(dst, &f, 4);
        break;
    }
    case CLFT_ST_F64: memcpy(dst, &fv, 8); break;
    case CLFT_ST_F16: {
        uint16_t h = clft_ref_f32_to_f16((float)fv);
        memcpy(dst, &h, 2);
        break;
    }
    case CLFT_ST_BF16: {
        uint16_t h = clft_ref_f32_to_bf16((float)fv);
        memcpy(dst, &h, 2);
        break;
    }
    case CLFT_ST_I64: {
        int64_t v = sv;
        memcpy(dst, &v, 8);
        break;
    }
    case CLFT_ST_I32: {
        int32_t v = (int32_t)sv;
        memcpy(dst, &v, 4);
        break;
    }
    case CLFT_ST_I16: {
        int16_t v = (int16_t)sv;
        memcpy(dst, &v, 2);
        break;
    }
    case CLFT_ST_I8: {
        int8_t v = (int8_t)sv;
        memcpy(dst, &v, 1);
        break;
    }
    case CLFT_ST_U64: {
        uint64_t v = (uint64_t)uv;
        memcpy(dst, &v, 8);
        break;
    }
    case CLFT_ST_U32: {
        uint32_t v = (uint32_t)uv;
        memcpy(dst, &v, 4);
        break;
    }
    case CLFT_ST_U16: {
        uint16_t v = (uint16_t)uv;
        memcpy(dst, &v, 2);
        break;
    }
    case CLFT_ST_U8: dst[0] = (unsigned char)uv; break;
    case CLFT_ST_BOOL: dst[0] = (unsigned char)((i + k) % 2 == 0); break;
    default: break;
    }
}

static int64_t numel_of(const spec *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= s->shape[d];
    return n;
}

/* build out-tensors with data for a spec list; buffers freed by the caller (bufs[i]) */
static void build(const spec *sp, size_t n, clft_st_out_tensor *out, unsigned char **bufs) {
    for (size_t k = 0; k < n; k++) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].name = sp[k].name;
        out[k].dtype = sp[k].dtype;
        out[k].ndim = sp[k].ndim;
        for (int d = 0; d < sp[k].ndim; d++)
            out[k].shape[d] = sp[k].shape[d];
        int64_t ne = numel_of(&sp[k]);
        int esz = clft_st_dtype_bits(sp[k].dtype) / 8;
        bufs[k] = calloc((size_t)(ne * esz) + 1, 1);
        for (int64_t i = 0; i < ne; i++)
            ref_value(&sp[k], (int)k, i, bufs[k] + i * esz);
        out[k].data = bufs[k];
    }
}

static char *path_in(const char *dir, const char *name) { return clft_io_join(dir, name); }

static int files_equal(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    if (clft_io_read_file(a, &x, &nx) || clft_io_read_file(b, &y, &ny)) {
        free(x);
        free(y);
        return 0;
    }
    int eq = nx == ny && memcmp(x, y, nx) == 0;
    if (!eq) fprintf(stderr, "  %s (%zu bytes) differs from %s (%zu bytes)\n", a, nx, b, ny);
    free(x);
    free(y);
    return eq;
}

static void test_python_equality(void) {
    clft_st_out_tensor out[NMIXED];
    unsigned char *bufs[NMIXED];
    build(MIXED, NMIXED, out, bufs);
    clft_st_kv meta = {"format", "pt"};
    char *mine = path_in(g_scratch, "mixed.safetensors"), *ref = path_in(g_data, "ref_mixed.safetensors");
    TU_OK(clft_st_write_file(mine, out, NMIXED, &meta, 1, NULL, NULL));
    TU_CHECK(files_equal(mine, ref), "writer output differs from python safetensors (mixed)");

    /* the reader: every value, the metadata */
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open(ref, &st));
    if (st) {
        TU_CHECK(clft_st_count(st) == NMIXED, "count %zu", clft_st_count(st));
        TU_CHECK(clft_st_metadata(st, 0, "format") && !strcmp(clft_st_metadata(st, 0, "format"), "pt"), "metadata");
        for (size_t k = 0; k < NMIXED; k++) {
            const clft_st_tensor *t = NULL;
            TU_OK(clft_st_get(st, MIXED[k].name, &t));
            if (!t) continue;
            TU_CHECK(t->dtype == MIXED[k].dtype && t->ndim == MIXED[k].ndim, "%s dtype/ndim", MIXED[k].name);
            for (int d = 0; d < t->ndim; d++)
                TU_CHECK(t->shape[d] == MIXED[k].shape[d], "%s shape", MIXED[k].name);
            TU_CHECK(t->bytes == (size_t)(numel_of(&MIXED[k]) * clft_st_dtype_bits(t->dtype) / 8), "%s bytes",
                     MIXED[k].name);
            TU_CHECK(t->bytes == 0 || memcmp(t->data, bufs[k], t->bytes) == 0, "%s data", MIXED[k].name);
        }
        const clft_st_tensor *t = clft_st_find(st, "z.f16");
        float f[6];
        if (t) {
            TU_OK(clft_st_to_f32(st, t, f));
            for (int i = 0; i < 6; i++)
                TU_CHECK(f[i] == (float)((((i + 2) % 7) - 2) * 0.5), "f16 -> f32 [%d]", i);
        }
        t = clft_st_find(st, "u64");
        if (t) {
            clft_status s = clft_st_to_f32(st, t, f);
            TU_CHECK(s == CLFT_STATUS_UNSUPPORTED && strstr(clft_last_error(), "'u64'") &&
                         strstr(clft_last_error(), "ref_mixed.safetensors"),
                     "U64 conversion refused: %s", clft_last_error());
        }
        const clft_st_tensor *missing = NULL;
        TU_CHECK(clft_st_get(st, "nope", &missing) == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "'nope'"),
                 "missing tensor: %s", clft_last_error());
        /* public view */
        clft_tensor_view v;
        TU_OK(clft_safetensors_find(st, "b.f32", &v));
        TU_CHECK(!strcmp(v.dtype, "F32") && v.ndim == 2 && v.shape[1] == 3 && v.bytes == 24, "public view");
    }
    clft_safetensors_free(st);
    for (size_t k = 0; k < NMIXED; k++)
        free(bufs[k]);
    free(mine);
    free(ref);

    clft_st_out_tensor on[NNAMES];
    unsigned char *nb[NNAMES];
    build(NAMES, NNAMES, on, nb);
    mine = path_in(g_scratch, "names.safetensors");
    ref = path_in(g_data, "ref_names.safetensors");
    TU_OK(clft_st_write_file(mine, on, NNAMES, NULL, 0, NULL, NULL));
    TU_CHECK(files_equal(mine, ref), "writer output differs from python safetensors (names)");
    st = NULL;
    TU_OK(clft_st_open(mine, &st));
    TU_CHECK(st && clft_st_find(st, "\xc3\xa9t\xc3\xa9") && clft_st_find(st, "tab\tname"), "escaped names read back");
    clft_safetensors_free(st);
    for (size_t k = 0; k < NNAMES; k++)
        free(nb[k]);
    free(mine);
    free(ref);
}

/* fill callback: deterministic bytes per (tensor, offset) */
static clft_status fill_pattern(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    (void)user;
    unsigned char *p = dst;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)((index * 31 + offset + i) * 2654435761u >> 13);
    return CLFT_OK;
}

static void test_round_trip(void) {
    tu_rng r = tu_rng_make(7);
    enum { N = 6 };
    clft_st_out_tensor t[N];
    float *bufs[N] = {0};
    const clft_st_dtype dts[N] = {CLFT_ST_F32, CLFT_ST_BF16, CLFT_ST_F16, CLFT_ST_F32, CLFT_ST_U8, CLFT_ST_I32};
    char names[N][32];
    for (int k = 0; k < N; k++) {
        memset(&t[k], 0, sizeof t[k]);
        snprintf(names[k], sizeof names[k], "layer.%d.weight", k);
        t[k].name = names[k];
        t[k].dtype = dts[k];
        t[k].ndim = 2;
        t[k].shape[0] = 3 + k;
        t[k].shape[1] = 1000 + 7 * k;
        if (k % 2 == 0) { /* half of them from memory, half from the callback */
            size_t n = (size_t)(t[k].shape[0] * t[k].shape[1]);
            bufs[k] = malloc(n * 4);
            tu_fill(&r, bufs[k], n, -1, 1);
            t[k].data = bufs[k];
        }
    }
    char *p = path_in(g_scratch, "rt.safetensors");
    TU_OK(clft_st_write_file(p, t, N, NULL, 0, fill_pattern, NULL));
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open(p, &st));
    for (int k = 0; st && k < N; k++) {
        const clft_st_tensor *v = clft_st_find(st, names[k]);
        TU_CHECK(v != NULL, "%s present", names[k]);
        if (!v) continue;
        uint64_t bytes;
        TU_OK(clft_st_out_bytes(&t[k], &bytes));
        TU_CHECK(v->bytes == bytes && v->dtype == dts[k], "%s size/dtype", names[k]);
        unsigned char *want = malloc((size_t)bytes);
        if (t[k].data)
            memcpy(want, t[k].data, (size_t)bytes);
        else
            fill_pattern(NULL, (size_t)k, 0, want, (size_t)bytes);
        TU_CHECK(memcmp(want, v->data, (size_t)bytes) == 0, "%s bytes identical", names[k]);
        free(want);
    }
    clft_safetensors_free(st);
    /* duplicate names are refused and nothing is left behind */
    char *d = path_in(g_scratch, "dup.safetensors");
    t[1].name = t[0].name;
    TU_CHECK(clft_st_write_file(d, t, N, NULL, 0, fill_pattern, NULL) == CLFT_STATUS_INVALID_ARGUMENT,
             "duplicate refused");
    TU_CHECK(access(d, F_OK) != 0, "no file written");
    free(d);
    free(p);
    for (int k = 0; k < N; k++)
        free(bufs[k]);
}

static void test_sharded(void) {
    clft_st_out_tensor out[NMIXED];
    unsigned char *bufs[NMIXED];
    build(MIXED, NMIXED, out, bufs);
    clft_st_kv meta = {"format", "pt"};
    char *dir = path_in(g_scratch, "sharded");
    mkdir(dir, 0755);
    int nsh = 0;
    TU_OK(clft_st_write_model(dir, out, NMIXED, &meta, 1, 40, NULL, NULL, &nsh));
    TU_CHECK(nsh == 4, "4 shards, got %d", nsh);
    const char *files[] = {"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                           "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                           "model.safetensors.index.json"};
    char *refdir = path_in(g_data, "ref_sharded");
    for (int i = 0; i < 5; i++) {
        char *a = path_in(dir, files[i]), *b = path_in(refdir, files[i]);
        TU_CHECK(files_equal(a, b), "%s equals the python-written one", files[i]);
        free(a);
        free(b);
    }
    /* keys that need escaping in the index, and oversized tensors getting shards of their own */
    clft_st_out_tensor on[NNAMES];
    unsigned char *nb[NNAMES];
    build(NAMES, NNAMES, on, nb);
    char *dirn = path_in(g_scratch, "sharded_names"), *refn = path_in(g_data, "ref_sharded_names");
    mkdir(dirn, 0755);
    TU_OK(clft_st_write_model(dirn, on, NNAMES, &meta, 1, 8, NULL, NULL, &nsh));
    TU_CHECK(nsh == 4, "4 shards for the names, got %d", nsh);
    for (int i = 0; i < 5; i++) {
        char *a = path_in(dirn, files[i]), *b = path_in(refn, files[i]);
        TU_CHECK(files_equal(a, b), "names: %s equals the python-written one", files[i]);
        free(a);
        free(b);
    }
    for (size_t k = 0; k < NNAMES; k++)
        free(nb[k]);
    free(dirn);
    free(refn);
    /* reading: folder, index path, and the reference folder */
    const char *opens[3];
    char *idx = path_in(refdir, "model.safetensors.index.json");
    opens[0] = dir;
    opens[1] = idx;
    opens[2] = refdir;
    for (int o = 0; o < 3; o++) {
        clft_safetensors *st = NULL;
        TU_OK(clft_st_open(opens[o], &st));
        TU_CHECK(st && clft_st_count(st) == NMIXED && clft_st_file_count(st) == 4, "sharded open %s", opens[o]);
        for (size_t k = 0; st && k < NMIXED; k++) {
            const clft_st_tensor *t = clft_st_find(st, MIXED[k].name);
            TU_CHECK(t && (t->bytes == 0 || !memcmp(t->data, bufs[k], t->bytes)), "%s via shards", MIXED[k].name);
        }
        clft_safetensors_free(st);
    }
    /* an index naming a tensor its shard lacks, and a missing shard */
    char *bad = path_in(g_scratch, "sharded/bad.index.json");
    const char *j1 = "{\"weight_map\": {\"ghost\": \"model-00001-of-00004.safetensors\"}}";
    clft_io_write_atomic(bad, j1, strlen(j1));
    clft_safetensors *st = NULL;
    clft_status s = clft_st_open(bad, &st);
    TU_CHECK(s == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "'ghost'") &&
                 strstr(clft_last_error(), "model-00001-of-00004.safetensors"),
             "ghost tensor: %s", clft_last_error());
    const char *j2 = "{\"weight_map\": {\"a.f32\": \"model-00009-of-00009.safetensors\"}}";
    clft_io_write_atomic(bad, j2, strlen(j2));
    s = clft_st_open(bad, &st);
    TU_CHECK(s == CLFT_STATUS_IO && strstr(clft_last_error(), "model-00009-of-00009.safetensors"), "missing shard: %s",
             clft_last_error());
    const char *j3 = "{\"weight_map\": {\"a.f32\": \"../x.safetensors\"}}";
    clft_io_write_atomic(bad, j3, strlen(j3));
    s = clft_st_open(bad, &st);
    TU_CHECK(s == CLFT_STATUS_FORMAT, "path escaping the folder refused: %s", clft_last_error());
    /* a single small model gets model.safetensors */
    char *dir2 = path_in(g_scratch, "single");
    mkdir(dir2, 0755);
    TU_OK(clft_st_write_model(dir2, out, NMIXED, &meta, 1, 0, NULL, NULL, &nsh));
    char *one = path_in(dir2, "model.safetensors"), *refone = path_in(g_data, "ref_mixed.safetensors");
    TU_CHECK(nsh == 1 && files_equal(one, refone), "single file model");
    free(one);
    free(refone);
    free(dir2);
    free(bad);
    free(idx);
    free(refdir);
    free(dir);
    for (size_t k = 0; k < NMIXED; k++)
        free(bufs[k]);
}

/* ---- malformed input ------------------------------------------------------------------------- */
static unsigned char *mk(const char *header, uint64_t n_override, size_t data_bytes, size_t *size) {
    size_t h = strlen(header);
    *size = 8 + h + data_bytes;
    unsigned char *b = calloc(*size + 1, 1);
    uint64_t n = n_override ? n_override : h;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

static void expect_bad(const char *what, const char *header, uint64_t n_override, size_t data_bytes,
                       const char *needle1, const char *needle2) {
    size_t size;
    unsigned char *b = mk(header, n_override, data_bytes, &size);
    clft_safetensors *st = NULL;
    clft_status s = clft_st_open_memory("bad.safetensors", b, size, &st);
    const char *msg = clft_last_error();
    TU_CHECK(s == CLFT_STATUS_FORMAT && st == NULL && strstr(msg, "bad.safetensors") &&
                 (!needle1 || strstr(msg, needle1)) && (!needle2 || strstr(msg, needle2)),
             "%s: status %s message '%s'", what, clft_status_string(s), msg);
    if (getenv("CLFT_TEST_VERBOSE")) printf("  %s -> %s\n", what, msg);
    clft_safetensors_free(st);
    free(b);
}

static void test_bad_inputs(void) {
    const char *ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t size;
    unsigned char *b = mk(ok, 0, 8, &size);
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open_memory("good.safetensors", b, size, &st));
    clft_safetensors_free(st);
    /* too short, past EOF, over the limit */
    st = NULL;
    TU_CHECK(clft_st_open_memory("bad.safetensors", b, 5, &st) == CLFT_STATUS_FORMAT &&
                 strstr(clft_last_error(), "bad.safetensors") && strstr(clft_last_error(), "8-byte"),
             "short file: %s", clft_last_error());
    free(b);
    expect_bad("header length past EOF", ok, 4096, 8, "runs past the end", NULL);
    expect_bad("header over the limit", ok, 100000001, 8, "exceeds the limit", NULL);
    expect_bad("not JSON", "{\"x\":{\"dtype\":\"F32\",", 0, 0, "not valid JSON", NULL);
    expect_bad("no brace", "[1,2,3]", 0, 0, "'{'", NULL);
    expect_bad("not UTF-8", "{\"\xff\":1}", 0, 0, "UTF-8", NULL);
    expect_bad("trailing junk", "{} x", 0, 0, "after the header JSON", NULL);
    expect_bad("offsets out of range", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8, "'x'",
               "extend past");
    expect_bad("overlapping",
               "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               0, 12, "'y'", "overlap");
    expect_bad("hole",
               "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               0, 12, "'y'", "hole");
    expect_bad("first tensor not at 0", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8, "'x'",
               "hole");
    expect_bad("byte count mismatch", "{\"x.weight\":{\"dtype\":\"F32\",\"shape\":[5,6],\"data_offsets\":[0,100]}}", 0,
               100, "'x.weight'", "data_offsets [0, 100] do not match dtype F32 shape [5, 6] (120 bytes)");
    expect_bad("duplicate key",
               "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               0, 8, "duplicate", "'x'");
    expect_bad("non-string metadata", "{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}", 0, 0, "'step'",
               "not a string");
    expect_bad("duplicate metadata key", "{\"__metadata__\":{\"b\":\"1\",\"a\":\"2\",\"b\":\"3\"}}", 0, 0,
               "duplicate key 'b'", NULL);
    expect_bad("metadata not an object", "{\"__metadata__\":[1]}", 0, 0, "__metadata__", NULL);
    expect_bad("unknown dtype", "{\"x\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0, 1, "'x'", "'Q4'");
    expect_bad("negative shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, 0, "'x'",
               "shape");
    expect_bad("fractional offset", "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,0.5]}}", 0, 1, "'x'",
               "data_offsets");
    expect_bad("missing shape", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, "'x'", "shape");
    expect_bad("entry not an object", "{\"x\":3}", 0, 0, "'x'", NULL);
    expect_bad("unindexed tail", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 12,
               "not indexed", NULL);
    expect_bad("sub-byte not whole", "{\"x\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 0, 2, "'x'",
               "whole number");
    expect_bad("huge shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 0,
               4, "'x'", NULL);
    /* listing-only dtypes are accepted by the reader */
    b = mk("{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],\"data_offsets\":[0,3]},"
           "\"y\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[3,5]}}",
           0, 5, &size);
    st = NULL;
    TU_OK(clft_st_open_memory("fp8.safetensors", b, size, &st));
    TU_CHECK(st && clft_st_count(st) == 2, "fp8/fp4 listed");
    clft_safetensors_free(st);
    free(b);

    /* a truncated real file, through the file API */
    char *ref = path_in(g_data, "ref_mixed.safetensors"), *cut = path_in(g_scratch, "truncated.safetensors");
    char *bytes = NULL;
    size_t n = 0;
    TU_OK(clft_io_read_file(ref, &bytes, &n));
    TU_OK(clft_io_write_atomic(cut, bytes, n - 2));
    st = NULL;
    clft_status s = clft_st_open(cut, &st);
    TU_CHECK(s == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "truncated.safetensors") &&
                 strstr(clft_last_error(), "'flag'"),
             "truncated: %s", clft_last_error());
    TU_OK(clft_io_write_atomic(cut, bytes, 100));
    s = clft_st_open(cut, &st);
    TU_CHECK(s == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "truncated.safetensors") &&
                 strstr(clft_last_error(), "past the end"),
             "truncated header: %s", clft_last_error());
    s = clft_st_open("/nonexistent/x.safetensors", &st);
    TU_CHECK(s == CLFT_STATUS_IO && strstr(clft_last_error(), "/nonexistent/x.safetensors"), "missing file: %s",
             clft_last_error());
    free(bytes);
    free(ref);
    free(cut);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    tu_init_seed();
    g_data = argv[1];
    g_scratch = tu_scratch_dir(argv[2], "st");
    if (!g_scratch) return 1;
    test_python_equality();
    test_round_trip();
    test_sharded();
    test_bad_inputs();
    tu_scratch_done(g_scratch);
    return tu_finish("test_safetensors");
}
