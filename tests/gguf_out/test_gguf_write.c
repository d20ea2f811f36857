/* test_gguf_write.c - the GGUF writer (src/io/gguf_write.c) against gguf-py's GGUFWriter: the files of
 * make_fixtures.py written again by clft from the same content must be the same bytes (metadata of
 * every type, arrays of strings, tensors of every written type, padding, general.alignment); read
 * back with clft's reader they hold what was written; bad input is refused with a one-line error and
 * a failed write leaves nothing behind.
 * usage: test_gguf_write DATA_DIR SCRATCH_DIR */
#include <unistd.h>

#include "io/gguf.h"
#include "quant/ggml_blocks.h"
#include "tutil.h"
#include "gguf_out_tutil.h"

static const char *data_dir;

static void values(float *x, int64_t n, int k) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((int)((i * 7 + k * 3) % 23) - 11) / 8.0f;
}

typedef struct tdesc {
    const char *name;
    clft_ggml_type type;
    int ndim;
    int64_t ne[4];
} tdesc;

/* make_fixtures.py's TENSORS, shapes reversed (ne[0] fastest) */
static const tdesc TENSORS[] = {
    {"t.f32_1d", CLFT_GGML_F32, 1, {5}},        {"t.f32_2d", CLFT_GGML_F32, 2, {4, 3}},
    {"t.f32_3d", CLFT_GGML_F32, 3, {2, 3, 2}},  {"t.f32_4d", CLFT_GGML_F32, 4, {3, 2, 1, 2}},
    {"t.f16", CLFT_GGML_F16, 2, {7, 3}},        {"t.bf16", CLFT_GGML_BF16, 2, {5, 2}},
    {"t.q8_0", CLFT_GGML_Q8_0, 2, {64, 3}},     {"t.q4_0", CLFT_GGML_Q4_0, 2, {32, 2}},
    {"t.q4_1", CLFT_GGML_Q4_1, 2, {96, 2}},
};
#define NT (sizeof TENSORS / sizeof TENSORS[0])

static int64_t numel(const tdesc *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->ne[d];
    return n;
}

/* the values of tensor k of the list as stored bytes */
typedef struct fill_state {
    const tdesc *list;
    int calls;
    int fail_at; /* -1: never */
} fill_state;

static clft_status fill(void *user, size_t index, void *dst, size_t bytes) {
    fill_state *f = user;
    f->calls++;
    if ((int)index == f->fail_at) return CLFT_STATUS_IO;
    const tdesc *t = &f->list[index];
    int64_t n = numel(t);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return CLFT_STATUS_HOST_OOM;
    values(x, n, (int)index);
    clft_status s = clft_ggml_quantize(t->type, x, n, dst);
    free(x);
    if (!s && bytes != clft_ggml_row_bytes(t->type, t->ne[0]) * (size_t)(n / t->ne[0])) s = CLFT_STATUS_INVALID_ARGUMENT;
    return s;
}

static void add_meta(clft_gguf_writer *w) {
    const uint8_t u8 = 200;
    const int8_t i8 = -100;
    const uint16_t u16 = 60000;
    const int16_t i16 = -30000;
    const int64_t i64 = -9000000000000000000LL;
    const uint64_t u64 = 18000000000000000000ULL;
    const double f64 = -2.5e-300;
    TU_OK(clft_gguf_add_scalar(w, "v.u8", CLFT_GGUF_UINT8, &u8));
    TU_OK(clft_gguf_add_scalar(w, "v.i8", CLFT_GGUF_INT8, &i8));
    TU_OK(clft_gguf_add_scalar(w, "v.u16", CLFT_GGUF_UINT16, &u16));
    TU_OK(clft_gguf_add_scalar(w, "v.i16", CLFT_GGUF_INT16, &i16));
    TU_OK(clft_gguf_add_u32(w, "v.u32", 4000000000u));
    TU_OK(clft_gguf_add_i32(w, "v.i32", -2000000000));
    TU_OK(clft_gguf_add_f32(w, "v.f32", 0.1f));
    TU_OK(clft_gguf_add_bool(w, "v.bool", 1));
    TU_OK(clft_gguf_add_str(w, "v.str", "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c"));
    TU_OK(clft_gguf_add_scalar(w, "v.u64", CLFT_GGUF_UINT64, &u64));
    TU_OK(clft_gguf_add_scalar(w, "v.i64", CLFT_GGUF_INT64, &i64));
    TU_OK(clft_gguf_add_scalar(w, "v.f64", CLFT_GGUF_FLOAT64, &f64));
    const int32_t ai[] = {1, -2, 3};
    const float af[] = {0.5f, -1.25f};
    const uint8_t au[] = {0, 255, 7}, ab[] = {1, 0, 1};
    const uint64_t a64[] = {1, 1ULL << 63};
    const char *as[] = {"a", "", "\xc4\xa0the", "<|im_end|>"};
    TU_OK(clft_gguf_add_arr(w, "a.i32", CLFT_GGUF_INT32, ai, 3));
    TU_OK(clft_gguf_add_arr(w, "a.f32", CLFT_GGUF_FLOAT32, af, 2));
    TU_OK(clft_gguf_add_arr(w, "a.u8", CLFT_GGUF_UINT8, au, 3));
    TU_OK(clft_gguf_add_arr(w, "a.bool", CLFT_GGUF_BOOL, ab, 3));
    TU_OK(clft_gguf_add_arr_str(w, "a.str", as, NULL, 4));
    TU_OK(clft_gguf_add_arr(w, "a.u64", CLFT_GGUF_UINT64, a64, 2));
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    if (x && y && !same) {
        size_t i = 0;
        while (i < na && i < nb && x[i] == y[i])
            i++;
        fprintf(stderr, "  %s (%zu bytes) and %s (%zu bytes) differ first at byte %zu\n", a, na, b, nb, i);
    }
    free(x);
    free(y);
    return same;
}

static void test_same_bytes(const char *scratch) {
    char path[4200], ref[4200];
    /* every type, tensors from the callback */
    clft_gguf_writer *w = NULL;
    TU_OK(clft_gguf_writer_create(&w));
    TU_OK(clft_gguf_add_str(w, "general.architecture", "llama"));
    add_meta(w);
    for (size_t k = 0; k < NT; k++)
        TU_OK(clft_gguf_add_tensor(w, TENSORS[k].name, TENSORS[k].type, TENSORS[k].ndim, TENSORS[k].ne, NULL));
    fill_state fs = {TENSORS, 0, -1};
    snprintf(path, sizeof path, "%s/writer.gguf", scratch);
    snprintf(ref, sizeof ref, "%s/writer_ref.gguf", data_dir);
    TU_OK(clft_gguf_writer_write(w, path, fill, &fs));
    TU_CHECK(fs.calls == (int)NT, "%d fill calls", fs.calls);
    TU_CHECK(same_file(path, ref), "clft's writer and gguf-py's GGUFWriter wrote different bytes");
    clft_gguf_writer_free(w);

    /* read back with clft's reader */
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(path, &g));
    if (g) {
        TU_CHECK(clft_gguf_kv_count(g) == 19, "%zu kvs", clft_gguf_kv_count(g));
        TU_CHECK(clft_gguf_tensor_count(g) == NT, "%zu tensors", clft_gguf_tensor_count(g));
        int64_t v = 0;
        double f = 0;
        const char *s = NULL;
        size_t sl = 0;
        TU_OK(clft_gguf_get_i64(g, "v.i64", &v));
        TU_CHECK(v == -9000000000000000000LL, "v.i64 %lld", (long long)v);
        TU_OK(clft_gguf_get_i64(g, "v.u32", &v));
        TU_CHECK(v == 4000000000LL, "v.u32 %lld", (long long)v);
        TU_OK(clft_gguf_get_f64(g, "v.f64", &f));
        TU_CHECK(f == -2.5e-300, "v.f64 %g", f);
        TU_OK(clft_gguf_get_str(g, "v.str", &s, &sl));
        TU_CHECK(s && sl == 13 && !memcmp(s, "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c", 13), "v.str");
        const clft_gguf_kv *kv = clft_gguf_find(g, "a.str");
        TU_CHECK(kv && kv->type == CLFT_GGUF_ARRAY && kv->elem == CLFT_GGUF_STRING && kv->count == 4, "a.str");
        if (kv && kv->count == 4) {
            TU_OK(clft_gguf_arr_str(kv, 1, &s, &sl));
            TU_CHECK(sl == 0, "a.str[1] has %zu bytes", sl);
            TU_OK(clft_gguf_arr_str(kv, 3, &s, &sl));
            TU_CHECK(sl == 10 && !memcmp(s, "<|im_end|>", 10), "a.str[3]");
        }
        kv = clft_gguf_find(g, "a.i32");
        TU_CHECK(kv && kv->count == 3 && clft_gguf_arr_i64(kv, 1) == -2, "a.i32");
        for (size_t k = 0; k < NT && k < clft_gguf_tensor_count(g); k++) {
            const clft_gguf_tensor *t = clft_gguf_tensor_at(g, k);
            const tdesc *d = &TENSORS[k];
            TU_CHECK(!strcmp(t->name, d->name) && t->type == d->type && t->ndim == d->ndim && t->ne[0] == d->ne[0] &&
                         t->numel == numel(d),
                     "tensor %zu: %s", k, t->name);
            float *got = malloc((size_t)t->numel * sizeof *got), *want = malloc((size_t)t->numel * sizeof *want);
            values(want, t->numel, (int)k);
            TU_OK(clft_gguf_to_f32(g, t, got));
            /* exact for F32/F16/BF16 (values are multiples of 1/8); block types within a step */
            double tol = d->type == CLFT_GGML_Q4_0 || d->type == CLFT_GGML_Q4_1 ? 0.2 : d->type == CLFT_GGML_Q8_0 ? 0.01 : 0;
            tu_close(d->name, got, want, (size_t)t->numel, tol, 0, 1);
            free(got);
            free(want);
        }
        clft_gguf_free(g);
    }

    /* general.alignment 64, data given as pointers */
    TU_OK(clft_gguf_writer_create(&w));
    TU_OK(clft_gguf_add_str(w, "general.architecture", "llama"));
    TU_OK(clft_gguf_set_alignment(w, 64));
    TU_OK(clft_gguf_add_str(w, "v.str", "x"));
    float a[12], b[12];
    values(a, 12, 0);
    values(b, 12, 1);
    TU_OK(clft_gguf_add_tensor(w, TENSORS[1].name, CLFT_GGML_F32, 2, TENSORS[1].ne, a));
    TU_OK(clft_gguf_add_tensor(w, TENSORS[2].name, CLFT_GGML_F32, 3, TENSORS[2].ne, b));
    snprintf(path, sizeof path, "%s/writer_a64.gguf", scratch);
    snprintf(ref, sizeof ref, "%s/writer_ref_a64.gguf", data_dir);
    TU_OK(clft_gguf_writer_write(w, path, NULL, NULL));
    TU_CHECK(same_file(path, ref), "alignment 64: different bytes from gguf-py");
    clft_gguf_writer_free(w);
    g = NULL;
    TU_OK(clft_gguf_open(path, &g));
    if (g) TU_CHECK(clft_gguf_alignment(g) == 64, "alignment %u", clft_gguf_alignment(g));
    clft_gguf_free(g);
}

static void expect_fail(clft_status st, clft_status want, const char *what) {
    const char *msg = clft_last_error();
    TU_CHECK(st == want, "%s: %s (%s)", what, clft_status_string(st), msg);
    TU_CHECK(msg && msg[0] && !strchr(msg, '\n'), "%s: not a one-line message: '%s'", what, msg ? msg : "");
}

static void test_bad_input(const char *scratch) {
    clft_gguf_writer *w = NULL;
    TU_OK(clft_gguf_writer_create(&w));
    TU_OK(clft_gguf_add_u32(w, "k", 1));
    expect_fail(clft_gguf_add_u32(w, "k", 2), CLFT_STATUS_INVALID_ARGUMENT, "duplicate key");
    TU_CHECK(strstr(clft_last_error(), "'k'") != NULL, "message names the key: %s", clft_last_error());
    expect_fail(clft_gguf_add_u32(w, "", 2), CLFT_STATUS_INVALID_ARGUMENT, "empty key");
    expect_fail(clft_gguf_add_scalar(w, "s", CLFT_GGUF_STRING, "x"), CLFT_STATUS_INVALID_ARGUMENT, "string as scalar");
    expect_fail(clft_gguf_add_arr(w, "arr", CLFT_GGUF_ARRAY, NULL, 0), CLFT_STATUS_INVALID_ARGUMENT, "nested array");
    expect_fail(clft_gguf_set_alignment(w, 48), CLFT_STATUS_INVALID_ARGUMENT, "alignment 48");
    const int64_t ne[2] = {40, 2}, ne1[1] = {4};
    expect_fail(clft_gguf_add_tensor(w, "q", CLFT_GGML_Q8_0, 2, ne, NULL), CLFT_STATUS_INVALID_ARGUMENT,
                "Q8_0 row of 40");
    expect_fail(clft_gguf_add_tensor(w, "x", CLFT_GGML_F32, 5, ne, NULL), CLFT_STATUS_INVALID_ARGUMENT, "5 dims");
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    expect_fail(clft_gguf_add_tensor(w, longname, CLFT_GGML_F32, 1, ne1, NULL), CLFT_STATUS_INVALID_ARGUMENT,
                "64-byte name");
    expect_fail(clft_gguf_add_tensor(w, "t", (clft_ggml_type)99, 1, ne1, NULL), CLFT_STATUS_UNSUPPORTED, "type 99");
    TU_OK(clft_gguf_add_tensor(w, "t", CLFT_GGML_F32, 1, ne1, NULL));
    expect_fail(clft_gguf_add_tensor(w, "t", CLFT_GGML_F32, 1, ne1, NULL), CLFT_STATUS_INVALID_ARGUMENT,
                "duplicate tensor");
    TU_OK(clft_gguf_add_tensor(w, "u", CLFT_GGML_F32, 1, ne1, NULL));

    /* no callback; a failing callback: nothing at the path, no temporary file left */
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/fail", scratch);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/out.gguf", dir);
    expect_fail(clft_gguf_writer_write(w, path, NULL, NULL), CLFT_STATUS_INVALID_ARGUMENT, "no fill callback");
    static const tdesc two[] = {{"t", CLFT_GGML_F32, 1, {4}}, {"u", CLFT_GGML_F32, 1, {4}}};
    fill_state fs = {two, 0, 1};
    clft_status st = clft_gguf_writer_write(w, path, fill, &fs);
    TU_CHECK(st == CLFT_STATUS_IO, "failing callback: %s", clft_status_string(st));
    TU_CHECK(strstr(clft_last_error(), "'u'") != NULL, "message names the tensor: %s", clft_last_error());
    TU_CHECK(access(path, F_OK) != 0, "a failed write left %s", path);
    TU_CHECK(go_count_entries(dir) == 0, "a failed write left %d files in %s", go_count_entries(dir), dir);
    /* an existing file stays as it was when the write fails */
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("old", f);
        fclose(f);
    }
    fs.fail_at = 0;
    TU_CHECK(clft_gguf_writer_write(w, path, fill, &fs) != CLFT_OK, "failing callback");
    size_t n = 0;
    char *old = tu_read_file(path, &n);
    TU_CHECK(old && n == 3 && !memcmp(old, "old", 3), "the old file was changed by a failed write");
    free(old);
    TU_CHECK(go_count_entries(dir) == 1, "%d files in %s", go_count_entries(dir), dir);
    fs.fail_at = -1;
    TU_OK(clft_gguf_writer_write(w, path, fill, &fs));
    clft_gguf *g = NULL;
    TU_OK(clft_gguf_open(path, &g));
    clft_gguf_free(g);
    clft_gguf_writer_free(w);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    tu_init_seed();
    data_dir = argv[1];
    const char *scratch = tu_scratch_dir(argv[2], "gguf_write");
    if (!scratch) return 1;
    test_same_bytes(scratch);
    test_bad_input(scratch);
    tu_scratch_done(scratch);
    return tu_finish("test_gguf_write");
}
