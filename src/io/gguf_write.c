/* gguf_write.c - the GGUF v3 writer of gguf.h (FORMATS.md 4.1): metadata of every type, tensor infos,
 * alignment, and the data streamed tensor by tensor into a temporary file that is renamed into place.
 *
 * Metadata is serialized as it is added (a growable buffer: keys and values exactly as they go into
 * the file), tensor infos are kept as a list and serialized at write time, when the offsets are laid
 * out. The layout is the one of gguf-py's GGUFWriter and ggml's gguf_write_to_file: the header's
 * counts, the metadata in the order added, the tensor infos in the order added with offsets
 * relative to the data section, zero padding to the alignment, then each tensor's bytes followed by
 * zero padding to the alignment. All integers little-endian (the hosts clft runs on). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/gguf.h"
#include "io/io_util.h"
#include "quant/ggml_blocks.h"

#define GGUF_MAGIC      0x46554747u
#define GGUF_VERSION    3u
#define GGUF_MAX_KEY    65535u
#define GGUF_MAX_NAME   63u
#define GGUF_MAX_ALIGN  (1u << 20)

typedef struct wtensor {
    char *name;
    clft_ggml_type type;
    int ndim;
    int64_t ne[CLFT_GGUF_MAX_DIMS];
    size_t bytes;
    const void *data;
} wtensor;

struct clft_gguf_writer {
    clft_sbuf kv; /* the serialized metadata */
    uint64_t nkv;
    char **keys; /* for duplicate checks */
    size_t nkeys, kcap;
    wtensor *t;
    size_t nt, tcap;
    uint32_t alignment;
};

clft_status clft_gguf_writer_create(clft_gguf_writer **out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf_writer_create: NULL output");
    clft_gguf_writer *w = clft_calloc(1, sizeof *w);
    if (!w) return CLFT_STATUS_HOST_OOM;
    clft_sbuf_init(&w->kv);
    w->alignment = CLFT_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return CLFT_OK;
}

void clft_gguf_writer_free(clft_gguf_writer *w) {
    if (!w) return;
    clft_sbuf_free(&w->kv);
    for (size_t i = 0; i < w->nkeys; i++)
        free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->nt; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}

/* ---- serialization ------------------------------------------------------------------------------ */
static void put_u32(clft_sbuf *b, uint32_t v) {
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    clft_sbuf_put(b, x, 4);
}

static void put_u64(clft_sbuf *b, uint64_t v) {
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    clft_sbuf_put(b, x, 8);
}

static void put_str(clft_sbuf *b, const char *s, size_t n) {
    put_u64(b, (uint64_t)n);
    clft_sbuf_put(b, s, n);
}

/* bytes of one scalar of type t; 0 for STRING, ARRAY and unknown types */
static size_t scalar_size(clft_gguf_vtype t) {
    switch (t) {
    case CLFT_GGUF_UINT8:
    case CLFT_GGUF_INT8:
    case CLFT_GGUF_BOOL: return 1;
    case CLFT_GGUF_UINT16:
    case CLFT_GGUF_INT16: return 2;
    case CLFT_GGUF_UINT32:
    case CLFT_GGUF_INT32:
    case CLFT_GGUF_FLOAT32: return 4;
    case CLFT_GGUF_UINT64:
    case CLFT_GGUF_INT64:
    case CLFT_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* the key checked, remembered and written with its value type */
static clft_status begin_kv(clft_gguf_writer *w, const char *key, clft_gguf_vtype type) {
    if (!w || !key) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: NULL writer or key");
    size_t n = strlen(key);
    if (n == 0 || n > GGUF_MAX_KEY)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: metadata key of %zu bytes (1..65535)", n);
    for (size_t i = 0; i < w->nkeys; i++)
        if (!strcmp(w->keys[i], key))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: metadata key '%s' added twice", key);
    if (w->nkeys == w->kcap) {
        size_t cap = w->kcap ? 2 * w->kcap : 32;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return clft_error(CLFT_STATUS_HOST_OOM, "GGUF writer: out of host memory");
        w->keys = k;
        w->kcap = cap;
    }
    char *copy = clft_strdup(key);
    if (!copy) return CLFT_STATUS_HOST_OOM;
    w->keys[w->nkeys++] = copy;
    put_str(&w->kv, key, n);
    put_u32(&w->kv, (uint32_t)type);
    w->nkv++;
    return CLFT_OK;
}

static clft_status end_kv(clft_gguf_writer *w, const char *key) {
    if (clft_sbuf_status(&w->kv))
        return clft_error(CLFT_STATUS_HOST_OOM, "GGUF writer: out of host memory adding '%s'", key);
    return CLFT_OK;
}

clft_status clft_gguf_add_scalar(clft_gguf_writer *w, const char *key, clft_gguf_vtype type, const void *value) {
    size_t sz = scalar_size(type);
    if (!sz || !value)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: '%s': not a scalar type (%d) or no value",
                          key ? key : "?", (int)type);
    CLFT_CHECK(begin_kv(w, key, type));
    if (type == CLFT_GGUF_BOOL) {
        unsigned char b = *(const unsigned char *)value ? 1 : 0;
        clft_sbuf_put(&w->kv, &b, 1);
    } else {
        clft_sbuf_put(&w->kv, value, sz);
    }
    return end_kv(w, key);
}

clft_status clft_gguf_add_u32(clft_gguf_writer *w, const char *key, uint32_t v) {
    return clft_gguf_add_scalar(w, key, CLFT_GGUF_UINT32, &v);
}
clft_status clft_gguf_add_i32(clft_gguf_writer *w, const char *key, int32_t v) {
    return clft_gguf_add_scalar(w, key, CLFT_GGUF_INT32, &v);
}
clft_status clft_gguf_add_f32(clft_gguf_writer *w, const char *key, float v) {
    return clft_gguf_add_scalar(w, key, CLFT_GGUF_FLOAT32, &v);
}
clft_status clft_gguf_add_bool(clft_gguf_writer *w, const char *key, int v) {
    unsigned char b = v ? 1 : 0;
    return clft_gguf_add_scalar(w, key, CLFT_GGUF_BOOL, &b);
}

clft_status clft_gguf_add_strn(clft_gguf_writer *w, const char *key, const char *s, size_t n) {
    if (!s && n) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: '%s': NULL string", key ? key : "?");
    CLFT_CHECK(begin_kv(w, key, CLFT_GGUF_STRING));
    put_str(&w->kv, s, n);
    return end_kv(w, key);
}

clft_status clft_gguf_add_str(clft_gguf_writer *w, const char *key, const char *s) {
    if (!s) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: '%s': NULL string", key ? key : "?");
    return clft_gguf_add_strn(w, key, s, strlen(s));
}

clft_status clft_gguf_add_arr(clft_gguf_writer *w, const char *key, clft_gguf_vtype elem, const void *data,
                              uint64_t count) {
    size_t sz = scalar_size(elem);
    if (!sz || (!data && count))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: '%s': array of type %d (numbers or bools)",
                          key ? key : "?", (int)elem);
    CLFT_CHECK(begin_kv(w, key, CLFT_GGUF_ARRAY));
    put_u32(&w->kv, (uint32_t)elem);
    put_u64(&w->kv, count);
    if (elem == CLFT_GGUF_BOOL) {
        const unsigned char *b = data;
        for (uint64_t i = 0; i < count; i++) {
            unsigned char v = b[i] ? 1 : 0;
            clft_sbuf_put(&w->kv, &v, 1);
        }
    } else if (count) {
        clft_sbuf_put(&w->kv, data, (size_t)count * sz);
    }
    return end_kv(w, key);
}

clft_status clft_gguf_add_arr_str(clft_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                  uint64_t count) {
    if (!strs && count) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: '%s': NULL strings", key ? key : "?");
    for (uint64_t i = 0; i < count; i++)
        if (!strs[i] && !(lens && lens[i] == 0))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: '%s': string %llu is NULL", key ? key : "?",
                              (unsigned long long)i);
    CLFT_CHECK(begin_kv(w, key, CLFT_GGUF_ARRAY));
    put_u32(&w->kv, (uint32_t)CLFT_GGUF_STRING);
    put_u64(&w->kv, count);
    for (uint64_t i = 0; i < count; i++)
        put_str(&w->kv, strs[i], lens ? lens[i] : strlen(strs[i]));
    return end_kv(w, key);
}

clft_status clft_gguf_add_kv(clft_gguf_writer *w, const clft_gguf_kv *kv) {
    if (!kv) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: NULL metadata entry");
    if (kv->type == CLFT_GGUF_STRING) return clft_gguf_add_strn(w, kv->key, kv->data, (size_t)kv->count);
    if (kv->type != CLFT_GGUF_ARRAY) return clft_gguf_add_scalar(w, kv->key, kv->type, kv->data);
    if (kv->elem != CLFT_GGUF_STRING) return clft_gguf_add_arr(w, kv->key, kv->elem, kv->data, kv->count);
    CLFT_CHECK(begin_kv(w, kv->key, CLFT_GGUF_ARRAY));
    put_u32(&w->kv, (uint32_t)CLFT_GGUF_STRING);
    put_u64(&w->kv, kv->count);
    for (uint64_t i = 0; i < kv->count; i++) {
        const char *s = NULL;
        size_t n = 0;
        CLFT_CHECK(clft_gguf_arr_str(kv, i, &s, &n));
        put_str(&w->kv, s, n);
    }
    return end_kv(w, kv->key);
}

clft_status clft_gguf_set_alignment(clft_gguf_writer *w, uint32_t alignment) {
    if (!w || alignment < 8 || alignment > GGUF_MAX_ALIGN || (alignment & (alignment - 1)))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: alignment %u (a power of two, 8..%u)", alignment,
                          GGUF_MAX_ALIGN);
    CLFT_CHECK(clft_gguf_add_u32(w, "general.alignment", alignment));
    w->alignment = alignment;
    return CLFT_OK;
}

/* ---- tensors ------------------------------------------------------------------------------------- */
clft_status clft_gguf_add_tensor(clft_gguf_writer *w, const char *name, clft_ggml_type type, int ndim,
                                 const int64_t *ne, const void *data) {
    if (!w || !name || !ne) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: NULL tensor argument");
    size_t n = strlen(name);
    if (n == 0 || n > GGUF_MAX_NAME)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: tensor name '%s' of %zu bytes (1..%u)", name, n,
                          GGUF_MAX_NAME);
    if (ndim < 1 || ndim > CLFT_GGUF_MAX_DIMS)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: tensor '%s' has %d dims (1..4)", name, ndim);
    if (!clft_ggml_type_name(type))
        return clft_error(CLFT_STATUS_UNSUPPORTED, "GGUF writer: tensor '%s': ggml type %d", name, (int)type);
    int64_t rows = 1;
    for (int d = 0; d < ndim; d++) {
        if (ne[d] < 1 || (d > 0 && rows > INT64_MAX / ne[d]))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: tensor '%s': bad ne[%d] = %lld", name, d,
                              (long long)ne[d]);
        if (d > 0) rows *= ne[d];
    }
    size_t row = clft_ggml_row_bytes(type, ne[0]);
    if (!row)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "GGUF writer: tensor '%s': ne[0] = %lld is not a multiple of the %s block (%d)", name,
                          (long long)ne[0], clft_ggml_type_name(type), clft_ggml_block_elems(type));
    if ((uint64_t)rows > SIZE_MAX / row)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: tensor '%s' is too large", name);
    for (size_t i = 0; i < w->nt; i++)
        if (!strcmp(w->t[i].name, name))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: tensor '%s' added twice", name);
    if (w->nt == w->tcap) {
        size_t cap = w->tcap ? 2 * w->tcap : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return clft_error(CLFT_STATUS_HOST_OOM, "GGUF writer: out of host memory");
        w->t = t;
        w->tcap = cap;
    }
    wtensor *t = &w->t[w->nt];
    memset(t, 0, sizeof *t);
    t->name = clft_strdup(name);
    if (!t->name) return CLFT_STATUS_HOST_OOM;
    t->type = type;
    t->ndim = ndim;
    for (int d = 0; d < CLFT_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < ndim ? ne[d] : 1;
    t->bytes = row * (size_t)rows;
    t->data = data;
    w->nt++;
    return CLFT_OK;
}

size_t clft_gguf_writer_tensor_count(const clft_gguf_writer *w) { return w ? w->nt : 0; }

size_t clft_gguf_writer_tensor_bytes(const clft_gguf_writer *w, size_t i) {
    return w && i < w->nt ? w->t[i].bytes : 0;
}

static uint64_t pad_to(uint64_t n, uint32_t a) { return (n + a - 1) / a * a; }

static clft_status write_pad(clft_io_afile *f, uint32_t alignment) {
    static const unsigned char zeros[64];
    uint64_t want = pad_to(f->written, alignment) - f->written;
    while (want > 0) {
        size_t step = want < sizeof zeros ? (size_t)want : sizeof zeros;
        CLFT_CHECK(clft_io_afile_write(f, zeros, step));
        want -= step;
    }
    return CLFT_OK;
}

clft_status clft_gguf_writer_write(clft_gguf_writer *w, const char *path, clft_gguf_fill_fn fill, void *user) {
    if (!w || !path) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "GGUF writer: NULL writer or path");
    for (size_t i = 0; i < w->nt; i++)
        if (!w->t[i].data && !fill)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: tensor '%s' has no data and no fill callback", path,
                              w->t[i].name);
    clft_sbuf head;
    clft_sbuf_init(&head);
    put_u32(&head, GGUF_MAGIC);
    put_u32(&head, GGUF_VERSION);
    put_u64(&head, (uint64_t)w->nt);
    put_u64(&head, w->nkv);
    clft_sbuf_put(&head, w->kv.data, w->kv.len);
    uint64_t off = 0;
    size_t maxbytes = 0;
    for (size_t i = 0; i < w->nt; i++) {
        const wtensor *t = &w->t[i];
        put_str(&head, t->name, strlen(t->name));
        put_u32(&head, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++)
            put_u64(&head, (uint64_t)t->ne[d]);
        put_u32(&head, (uint32_t)t->type);
        put_u64(&head, off);
        off += pad_to(t->bytes, w->alignment);
        if (!t->data && t->bytes > maxbytes) maxbytes = t->bytes;
    }
    clft_status s = clft_sbuf_status(&head);
    if (s) {
        clft_sbuf_free(&head);
        return clft_error(s, "%s: out of host memory for the GGUF header", path);
    }
    clft_io_afile f;
    s = clft_io_afile_open(&f, path);
    if (s) {
        clft_sbuf_free(&head);
        return s;
    }
    s = clft_io_afile_write(&f, head.data, head.len);
    clft_sbuf_free(&head);
    if (!s) s = write_pad(&f, w->alignment);
    void *buf = NULL;
    if (!s && maxbytes) {
        buf = malloc(maxbytes);
        if (!buf) s = clft_error(CLFT_STATUS_HOST_OOM, "%s: out of host memory for a %zu-byte tensor", path, maxbytes);
    }
    for (size_t i = 0; i < w->nt && !s; i++) {
        const wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            s = fill(user, i, buf, t->bytes);
            if (s) {
                clft_error_prefix(s, "%s: tensor '%s'", path, t->name);
                break;
            }
            src = buf;
        }
        s = clft_io_afile_write(&f, src, t->bytes);
        if (!s) s = write_pad(&f, w->alignment);
    }
    free(buf);
    if (!s) s = clft_io_afile_commit(&f);
    if (s) clft_io_afile_abort(&f);
    return s;
}
