/* gguf.c - the GGUF reader of gguf.h (FORMATS.md 4.1): maps the file read-only, validates all of it
 * before handing anything out, and gives zero-copy views of metadata and tensors.
 *
 * Validation, in file order (each failure is one line naming the file, the key or tensor, and the
 * problem with its byte offset where that helps):
 *   header      magic "GGUF"; version 2 or 3 (1 used 32-bit counts; a byte-swapped version is a
 *               big-endian file, which clft does not read); tensor and key counts no larger than
 *               the rest of the file could hold (so a count never drives a huge allocation)
 *   metadata    key: length 1..65535 inside the file, no NUL byte, not seen before; value type
 *               known; scalars, string bytes and array elements inside the file; arrays of arrays
 *               refused (ggml reads none, no model file has them); every string of an array of
 *               strings walked (their starts are kept so element i is found in O(1))
 *   alignment   general.alignment, when present, an integer that is a power of two (default 32)
 *   tensors     name 1..63 bytes (ggml's GGML_MAX_NAME) without NUL, not seen before; n_dims <= 4;
 *               each ne >= 1 and their product <= INT64_MAX; a type this reader knows
 *               (ggml_blocks.h); ne[0] a multiple of the type's block; offset a multiple of the
 *               alignment; [data start + offset, + bytes) inside the file, where the data section
 *               starts at the end of the tensor infos padded to the alignment.
 * ggml additionally requires the tensors to be stored in info order without gaps; gguf-py's reader
 * does not, and neither does this one (any in-bounds placement is readable).
 * All integers are little-endian and read byte by byte (the mapping has no alignment guarantee for
 * an in-memory image). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/core.h"
#include "io/gguf.h"
#include "io/io_util.h"
#include "quant/ggml_blocks.h"

#define GGUF_MAGIC     0x46554747u
#define GGUF_MAX_KEY   65535u
#define GGUF_MAX_NAME  63u
#define GGUF_MIN_KV    14u /* key length + 1-byte key + type + 1-byte value */
#define GGUF_MIN_TINFO 25u /* name length + 1-byte name + n_dims + type + offset */

/* a kv with what the public struct cannot hold: the start of each string of an array of strings */
typedef struct gguf_kv {
    clft_gguf_kv pub; /* first: clft_gguf_kv pointers handed out are gguf_kv pointers */
    const uint8_t **strs;
} gguf_kv;

struct clft_gguf {
    char *path; /* the path or label, for messages */
    const uint8_t *base;
    size_t size;
    int mapped;
    uint32_t version, alignment;
    gguf_kv *kv;
    size_t nkv;
    size_t *kv_sorted; /* indices into kv sorted by key */
    clft_gguf_tensor *t;
    size_t nt;
    size_t *t_sorted; /* indices into t sorted by name */
    uint64_t data_start;
};

/* ---- cursor over the image --------------------------------------------------------------------- */

typedef struct cursor {
    const clft_gguf *g;
    uint64_t pos;
} cursor;

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int has(const cursor *c, uint64_t n) { return c->pos <= c->g->size && n <= c->g->size - c->pos; }

static clft_status truncated(const cursor *c, const char *what, const char *name) {
    if (name)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s '%s' runs past the end of the file (byte %llu, file size %zu)",
                          c->g->path, what, name, (unsigned long long)c->pos, c->g->size);
    return clft_error(CLFT_STATUS_FORMAT, "%s: truncated: %s runs past the end of the file (byte %llu, file size %zu)",
                      c->g->path, what, (unsigned long long)c->pos, c->g->size);
}

/* n-byte little-endian unsigned integer; `what`/`name` name it when the file ends first */
static clft_status rd_uint(cursor *c, int n, uint64_t *v, const char *what, const char *name) {
    *v = 0;
    if (!has(c, (uint64_t)n)) return truncated(c, what, name);
    *v = rd_le(c->g->base + c->pos, n);
    c->pos += (uint64_t)n;
    return CLFT_OK;
}

/* ---- value types ------------------------------------------------------------------------------- */

static const char *const VTYPE_NAMES[CLFT_GGUF_VTYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array",
    "uint64", "int64", "float64"};

/* bytes of one scalar value, by clft_gguf_vtype; 0 for string and array */
static const uint8_t VTYPE_SIZE[CLFT_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static int vtype_size(clft_gguf_vtype t) { return (unsigned)t < CLFT_GGUF_VTYPE_COUNT ? VTYPE_SIZE[t] : 0; }

static int vtype_is_int(clft_gguf_vtype t) {
    return t == CLFT_GGUF_UINT8 || t == CLFT_GGUF_INT8 || t == CLFT_GGUF_UINT16 || t == CLFT_GGUF_INT16 ||
           t == CLFT_GGUF_UINT32 || t == CLFT_GGUF_INT32 || t == CLFT_GGUF_UINT64 || t == CLFT_GGUF_INT64;
}

/* ggml type names (ggml.c type_traits) for messages about types this reader does not handle */
static const char *ggml_any_type_name(uint32_t type) {
    static const char *const names[] = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
        "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16",
        "I32", "I64", "F64", "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4",
        "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
    return type < sizeof names / sizeof names[0] ? names[type] : NULL;
}

/* ---- handle ------------------------------------------------------------------------------------ */

void clft_gguf_free(clft_gguf *g) {
    if (!g) return;
    if (g->mapped && g->base) munmap((void *)(uintptr_t)g->base, g->size);
    for (size_t i = 0; i < g->nkv; i++) {
        free((char *)(uintptr_t)g->kv[i].pub.key);
        free(g->kv[i].strs);
    }
    for (size_t i = 0; i < g->nt; i++) free((char *)(uintptr_t)g->t[i].name);
    free(g->kv);
    free(g->kv_sorted);
    free(g->t);
    free(g->t_sorted);
    free(g->path);
    free(g);
}

const char *clft_gguf_path(const clft_gguf *g) { return g ? g->path : NULL; }
uint32_t clft_gguf_version(const clft_gguf *g) { return g ? g->version : 0; }
uint32_t clft_gguf_alignment(const clft_gguf *g) { return g ? g->alignment : 0; }
size_t clft_gguf_kv_count(const clft_gguf *g) { return g ? g->nkv : 0; }
const clft_gguf_kv *clft_gguf_kv_at(const clft_gguf *g, size_t i) {
    return g && i < g->nkv ? &g->kv[i].pub : NULL;
}
size_t clft_gguf_tensor_count(const clft_gguf *g) { return g ? g->nt : 0; }
const clft_gguf_tensor *clft_gguf_tensor_at(const clft_gguf *g, size_t i) {
    return g && i < g->nt ? &g->t[i] : NULL;
}

/* ---- sorted lookup (duplicates and find) ------------------------------------------------------- */

typedef const char *(*name_of_fn)(const clft_gguf *g, size_t i);
static const char *kv_name(const clft_gguf *g, size_t i) { return g->kv[i].pub.key; }
static const char *t_name(const clft_gguf *g, size_t i) { return g->t[i].name; }

/* indices 0..n-1 sorted by name (insertion into a merge sort's buffer: n log n, no qsort context) */
static void sort_indices(const clft_gguf *g, size_t *idx, size_t *tmp, size_t n, name_of_fn name) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = strcmp(name(g, idx[b]), name(g, idx[a])) < 0 ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

static long find_sorted(const clft_gguf *g, const size_t *idx, size_t n, name_of_fn name, const char *key) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name(g, idx[mid]), key);
        if (c == 0) return (long)idx[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* sort and refuse a name that occurs twice */
static clft_status index_names(clft_gguf *g, size_t **out, size_t n, name_of_fn name, const char *what) {
    size_t *idx = clft_malloc((n ? n : 1) * sizeof *idx), *tmp = clft_malloc((n ? n : 1) * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx);
        free(tmp);
        return clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory indexing %zu %ss", g->path, n, what);
    }
    sort_indices(g, idx, tmp, n, name);
    free(tmp);
    *out = idx;
    for (size_t i = 1; i < n; i++)
        if (!strcmp(name(g, idx[i - 1]), name(g, idx[i])))
            return clft_error(CLFT_STATUS_FORMAT, "%s: duplicate %s '%s'", g->path, what, name(g, idx[i]));
    return CLFT_OK;
}

const clft_gguf_kv *clft_gguf_find(const clft_gguf *g, const char *key) {
    if (!g || !key || !g->kv_sorted) return NULL;
    long i = find_sorted(g, g->kv_sorted, g->nkv, kv_name, key);
    return i < 0 ? NULL : &g->kv[i].pub;
}

const clft_gguf_tensor *clft_gguf_tensor_find(const clft_gguf *g, const char *name) {
    if (!g || !name || !g->t_sorted) return NULL;
    long i = find_sorted(g, g->t_sorted, g->nt, t_name, name);
    return i < 0 ? NULL : &g->t[i];
}

/* ---- parsing ----------------------------------------------------------------------------------- */

/* a length-prefixed name (key or tensor name) copied NUL-terminated; what: "key" / "tensor name" */
static clft_status rd_name(cursor *c, uint64_t max, const char *what, char **out) {
    uint64_t len = 0;
    CLFT_CHECK(rd_uint(c, 8, &len, what, NULL));
    if (len == 0) return clft_error(CLFT_STATUS_FORMAT, "%s: empty %s at byte %llu", c->g->path, what,
                                    (unsigned long long)(c->pos - 8));
    if (len > max)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s at byte %llu is %llu bytes long (at most %llu)", c->g->path, what,
                          (unsigned long long)(c->pos - 8), (unsigned long long)len, (unsigned long long)max);
    if (!has(c, len)) return truncated(c, what, NULL);
    const uint8_t *p = c->g->base + c->pos;
    if (memchr(p, 0, (size_t)len))
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s at byte %llu contains a NUL byte", c->g->path, what,
                          (unsigned long long)c->pos);
    char *s = clft_malloc((size_t)len + 1);
    if (!s) return CLFT_STATUS_HOST_OOM;
    memcpy(s, p, (size_t)len);
    s[len] = 0;
    c->pos += len;
    *out = s;
    return CLFT_OK;
}

static clft_status rd_vtype(cursor *c, const char *key, const char *what, clft_gguf_vtype *t) {
    uint64_t v = 0;
    CLFT_CHECK(rd_uint(c, 4, &v, "value type of key", key));
    if (v >= CLFT_GGUF_VTYPE_COUNT)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s': unknown %s %llu (0..12)", c->g->path, key, what,
                          (unsigned long long)v);
    *t = (clft_gguf_vtype)v;
    return CLFT_OK;
}

/* a string value: u64 length + bytes inside the file */
static clft_status rd_string(cursor *c, const char *key, const uint8_t **bytes, uint64_t *len) {
    *bytes = NULL;
    CLFT_CHECK(rd_uint(c, 8, len, "string length of key", key));
    if (!has(c, *len))
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: key '%s': string of %llu bytes at byte %llu runs past the end of the file (size %zu)",
                          c->g->path, key, (unsigned long long)*len, (unsigned long long)c->pos, c->g->size);
    *bytes = c->g->base + c->pos;
    c->pos += *len;
    return CLFT_OK;
}

static clft_status rd_value(cursor *c, gguf_kv *kv) {
    clft_gguf_kv *p = &kv->pub;
    const char *key = p->key;
    CLFT_CHECK(rd_vtype(c, key, "value type", &p->type));
    if (p->type == CLFT_GGUF_STRING) {
        const uint8_t *b = NULL;
        CLFT_CHECK(rd_string(c, key, &b, &p->count));
        p->data = b;
        return CLFT_OK;
    }
    if (p->type != CLFT_GGUF_ARRAY) {
        int sz = vtype_size(p->type);
        if (!has(c, (uint64_t)sz)) return truncated(c, "value of key", key);
        p->count = 1;
        p->data = c->g->base + c->pos;
        c->pos += (uint64_t)sz;
        return CLFT_OK;
    }
    CLFT_CHECK(rd_vtype(c, key, "array element type", &p->elem));
    CLFT_CHECK(rd_uint(c, 8, &p->count, "array length of key", key));
    if (p->elem == CLFT_GGUF_ARRAY)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s': arrays of arrays are not supported (nesting depth > 1)",
                          c->g->path, key);
    p->data = c->g->base + c->pos;
    uint64_t left = c->g->size - c->pos;
    if (p->elem != CLFT_GGUF_STRING) {
        uint64_t sz = (uint64_t)vtype_size(p->elem);
        if (p->count > left / sz)
            return clft_error(CLFT_STATUS_FORMAT,
                              "%s: key '%s': array of %llu %s values at byte %llu runs past the end of the file "
                              "(size %zu)",
                              c->g->path, key, (unsigned long long)p->count, VTYPE_NAMES[p->elem],
                              (unsigned long long)c->pos, c->g->size);
        c->pos += p->count * sz;
        return CLFT_OK;
    }
    if (p->count > left / 8)
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: key '%s': array of %llu strings at byte %llu runs past the end of the file (size %zu)",
                          c->g->path, key, (unsigned long long)p->count, (unsigned long long)c->pos, c->g->size);
    kv->strs = clft_malloc((size_t)(p->count ? p->count : 1) * sizeof *kv->strs);
    if (!kv->strs) return clft_error(CLFT_STATUS_HOST_OOM, "%s: key '%s': out of memory", c->g->path, key);
    for (uint64_t i = 0; i < p->count; i++) {
        kv->strs[i] = c->g->base + c->pos;
        uint64_t len;
        if (!has(c, 8) || (len = rd_le(c->g->base + c->pos, 8)) > c->g->size - c->pos - 8)
            return clft_error(CLFT_STATUS_FORMAT,
                              "%s: key '%s': string %llu of %llu at byte %llu runs past the end of the file (size %zu)",
                              c->g->path, key, (unsigned long long)i, (unsigned long long)p->count,
                              (unsigned long long)c->pos, c->g->size);
        c->pos += 8 + len;
    }
    return CLFT_OK;
}

static clft_status rd_header(cursor *c, uint64_t *nt, uint64_t *nkv) {
    clft_gguf *g = (clft_gguf *)(uintptr_t)c->g;
    uint64_t magic = 0, version = 0;
    CLFT_CHECK(rd_uint(c, 4, &magic, "the magic", NULL));
    if (magic != GGUF_MAGIC)
        return clft_error(CLFT_STATUS_FORMAT, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                          g->path, g->base[0], g->base[1], g->base[2], g->base[3]);
    CLFT_CHECK(rd_uint(c, 4, &version, "the version", NULL));
    if (version != 2 && version != 3) {
        if ((version & 0xffff) == 0 && version)
            return clft_error(CLFT_STATUS_FORMAT, "%s: big-endian GGUF (version bytes %08llx) is not supported",
                              g->path, (unsigned long long)version);
        return clft_error(CLFT_STATUS_FORMAT, "%s: GGUF version %llu is not supported (2 or 3)", g->path,
                          (unsigned long long)version);
    }
    g->version = (uint32_t)version;
    CLFT_CHECK(rd_uint(c, 8, nt, "the tensor count", NULL));
    CLFT_CHECK(rd_uint(c, 8, nkv, "the metadata count", NULL));
    uint64_t left = g->size - c->pos;
    if (*nkv > left / GGUF_MIN_KV)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %llu metadata keys cannot fit in the %llu bytes left", g->path,
                          (unsigned long long)*nkv, (unsigned long long)left);
    if (*nt > left / GGUF_MIN_TINFO)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %llu tensors cannot fit in the %llu bytes left", g->path,
                          (unsigned long long)*nt, (unsigned long long)left);
    return CLFT_OK;
}

static clft_status rd_metadata(cursor *c, clft_gguf *g, uint64_t nkv) {
    g->kv = clft_calloc((size_t)(nkv ? nkv : 1), sizeof *g->kv);
    if (!g->kv) return clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory for %llu keys", g->path,
                                  (unsigned long long)nkv);
    for (uint64_t i = 0; i < nkv; i++) {
        char *key = NULL;
        CLFT_CHECK(rd_name(c, GGUF_MAX_KEY, "key", &key));
        g->kv[g->nkv++].pub.key = key;
        CLFT_CHECK(rd_value(c, &g->kv[g->nkv - 1]));
    }
    CLFT_CHECK(index_names(g, &g->kv_sorted, g->nkv, kv_name, "key"));
    g->alignment = CLFT_GGUF_DEFAULT_ALIGNMENT;
    const clft_gguf_kv *a = clft_gguf_find(g, "general.alignment");
    if (a) {
        int64_t v = 0;
        if (a->type == CLFT_GGUF_ARRAY || !vtype_is_int(a->type) || clft_gguf_get_i64(g, a->key, &v) != CLFT_OK)
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'general.alignment' is a %s, not an integer", g->path,
                              VTYPE_NAMES[a->type]);
        if (v <= 0 || v > (int64_t)1 << 30 || (v & (v - 1)))
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'general.alignment' = %lld is not a power of two", g->path,
                              (long long)v);
        g->alignment = (uint32_t)v;
    }
    return CLFT_OK;
}

static clft_status rd_tensor_info(cursor *c, clft_gguf *g, clft_gguf_tensor *t) {
    char *name = NULL;
    CLFT_CHECK(rd_name(c, GGUF_MAX_NAME, "tensor name", &name));
    t->name = name;
    uint64_t ndim = 0, type = 0;
    CLFT_CHECK(rd_uint(c, 4, &ndim, "n_dims of tensor", name));
    if (ndim > CLFT_GGUF_MAX_DIMS)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': n_dims %llu (at most %d)", g->path, name,
                          (unsigned long long)ndim, CLFT_GGUF_MAX_DIMS);
    t->ndim = (int)ndim;
    int64_t numel = 1;
    for (int d = 0; d < CLFT_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t ne = 0;
        CLFT_CHECK(rd_uint(c, 8, &ne, "shape of tensor", name));
        if (ne < 1 || ne > (uint64_t)INT64_MAX)
            return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': ne[%d] = %llu (must be >= 1)", g->path, name, d,
                              (unsigned long long)ne);
        if ((int64_t)ne > INT64_MAX / numel)
            return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': the element count overflows (ne[%d] = %llu)",
                              g->path, name, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        numel *= (int64_t)ne;
    }
    t->numel = numel;
    CLFT_CHECK(rd_uint(c, 4, &type, "type of tensor", name));
    int belems = type <= 0xffff ? clft_ggml_block_elems((int)type) : 0;
    if (belems == 0) {
        const char *tn = ggml_any_type_name((uint32_t)type);
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: tensor '%s': %s type %s (%llu) is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, "
                          "Q5_1, Q8_0, Q2_K..Q6_K are)",
                          g->path, name, tn ? "ggml" : "unknown", tn ? tn : "?", (unsigned long long)type);
    }
    t->type = (clft_ggml_type)type;
    if (t->ne[0] % belems)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': ne[0] = %lld is not a multiple of the %s block (%d)",
                          g->path, name, (long long)t->ne[0], clft_ggml_type_name((int)type), belems);
    size_t row = clft_ggml_row_bytes((int)type, t->ne[0]);
    int64_t rows = numel / t->ne[0];
    if (row == 0 || (uint64_t)rows > (uint64_t)SIZE_MAX / row)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': the byte size overflows", g->path, name);
    t->bytes = row * (size_t)rows;
    CLFT_CHECK(rd_uint(c, 8, &t->offset, "offset of tensor", name));
    if (t->offset % g->alignment)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the alignment %u",
                          g->path, name, (unsigned long long)t->offset, g->alignment);
    return CLFT_OK;
}

static clft_status rd_tensors(cursor *c, clft_gguf *g, uint64_t nt) {
    g->t = clft_calloc((size_t)(nt ? nt : 1), sizeof *g->t);
    if (!g->t) return clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory for %llu tensors", g->path,
                                 (unsigned long long)nt);
    for (uint64_t i = 0; i < nt; i++) {
        g->nt++;
        CLFT_CHECK(rd_tensor_info(c, g, &g->t[i]));
    }
    CLFT_CHECK(index_names(g, &g->t_sorted, g->nt, t_name, "tensor"));
    uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    g->data_start = c->pos + pad;
    if (nt == 0) return CLFT_OK;
    if (g->data_start > g->size)
        return clft_error(CLFT_STATUS_FORMAT, "%s: truncated: the data section (byte %llu) starts past the end of the "
                          "file (size %zu)", g->path, (unsigned long long)g->data_start, g->size);
    uint64_t avail = g->size - g->data_start;
    for (size_t i = 0; i < g->nt; i++) {
        clft_gguf_tensor *t = &g->t[i];
        if (t->offset > avail || t->bytes > avail - t->offset)
            return clft_error(CLFT_STATUS_FORMAT,
                              "%s: tensor '%s': data [%llu, +%zu) runs past the end of the file (data section of %llu "
                              "bytes at byte %llu)",
                              g->path, t->name, (unsigned long long)t->offset, t->bytes, (unsigned long long)avail,
                              (unsigned long long)g->data_start);
        t->data = g->base + g->data_start + t->offset;
    }
    return CLFT_OK;
}

static clft_status parse(clft_gguf *g) {
    cursor c = {g, 0};
    uint64_t nt = 0, nkv = 0;
    CLFT_CHECK(rd_header(&c, &nt, &nkv));
    CLFT_CHECK(rd_metadata(&c, g, nkv));
    return rd_tensors(&c, g, nt);
}

static clft_status new_handle(const char *label, clft_gguf **out) {
    *out = NULL;
    clft_gguf *g = clft_calloc(1, sizeof *g);
    if (!g) return CLFT_STATUS_HOST_OOM;
    g->path = clft_strdup(label ? label : "(memory)");
    if (!g->path) {
        free(g);
        return CLFT_STATUS_HOST_OOM;
    }
    *out = g;
    return CLFT_OK;
}

static clft_status finish(clft_gguf *g, clft_gguf **out) {
    clft_status s = parse(g);
    if (s != CLFT_OK) {
        clft_gguf_free(g);
        return s;
    }
    *out = g;
    return CLFT_OK;
}

clft_status clft_gguf_open_memory(const char *label, const void *data, size_t size, clft_gguf **out) {
    if (!out || (!data && size)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf_open_memory: NULL argument");
    clft_gguf *g;
    CLFT_CHECK(new_handle(label, &g));
    g->base = data;
    g->size = size;
    return finish(g, out);
}

clft_status clft_gguf_open(const char *path, clft_gguf **out) {
    if (!path || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf_open: NULL argument");
    *out = NULL;
    clft_gguf *g;
    CLFT_CHECK(new_handle(path, &g));
    clft_status s = clft_io_map_file(path, &g->base, &g->size);
    if (s != CLFT_OK) {
        clft_gguf_free(g);
        return s;
    }
    g->mapped = 1;
    return finish(g, out);
}

/* ---- typed getters ----------------------------------------------------------------------------- */

static clft_status lookup(const clft_gguf *g, const char *key, const clft_gguf_kv **kv) {
    if (!g || !key) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf getter: NULL argument");
    *kv = clft_gguf_find(g, key);
    if (!*kv) return clft_error(CLFT_STATUS_NOT_FOUND, "%s: no key '%s'", g->path, key);
    return CLFT_OK;
}

static clft_status wrong_type(const clft_gguf *g, const clft_gguf_kv *kv, const char *want) {
    if (kv->type == CLFT_GGUF_ARRAY)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' is an array of %s, not %s", g->path, kv->key,
                          VTYPE_NAMES[kv->elem], want);
    return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' is a %s, not %s", g->path, kv->key, VTYPE_NAMES[kv->type],
                      want);
}

/* a scalar integer of type t at p: as int64 (*v) and whether it is a uint64 above INT64_MAX */
static int64_t int_at(clft_gguf_vtype t, const uint8_t *p, int *too_big) {
    uint64_t u = rd_le(p, vtype_size(t));
    *too_big = 0;
    switch (t) {
    case CLFT_GGUF_INT8: return (int8_t)u;
    case CLFT_GGUF_INT16: return (int16_t)u;
    case CLFT_GGUF_INT32: return (int32_t)u;
    case CLFT_GGUF_INT64: return (int64_t)u;
    case CLFT_GGUF_UINT64: *too_big = u > (uint64_t)INT64_MAX; return (int64_t)(u & (uint64_t)INT64_MAX);
    default: return (int64_t)u; /* unsigned of up to 32 bits, bool */
    }
}

static double float_at(clft_gguf_vtype t, const uint8_t *p) {
    if (t == CLFT_GGUF_FLOAT32) {
        uint32_t u = (uint32_t)rd_le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    if (t == CLFT_GGUF_FLOAT64) {
        uint64_t u = rd_le(p, 8);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    int big;
    int64_t v = int_at(t, p, &big);
    return big ? (double)rd_le(p, 8) : (double)v;
}

clft_status clft_gguf_get_str(const clft_gguf *g, const char *key, const char **s, size_t *len) {
    const clft_gguf_kv *kv;
    CLFT_CHECK(lookup(g, key, &kv));
    if (kv->type != CLFT_GGUF_STRING) return wrong_type(g, kv, "a string");
    if (s) *s = kv->data;
    if (len) *len = (size_t)kv->count;
    return CLFT_OK;
}

clft_status clft_gguf_get_i64(const clft_gguf *g, const char *key, int64_t *v) {
    const clft_gguf_kv *kv;
    CLFT_CHECK(lookup(g, key, &kv));
    if (!vtype_is_int(kv->type)) return wrong_type(g, kv, "an integer");
    int big;
    int64_t x = int_at(kv->type, kv->data, &big);
    if (big)
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' = %llu does not fit in a signed 64-bit integer", g->path,
                          key, (unsigned long long)rd_le(kv->data, 8));
    if (v) *v = x;
    return CLFT_OK;
}

clft_status clft_gguf_get_f64(const clft_gguf *g, const char *key, double *v) {
    const clft_gguf_kv *kv;
    CLFT_CHECK(lookup(g, key, &kv));
    if (kv->type != CLFT_GGUF_FLOAT32 && kv->type != CLFT_GGUF_FLOAT64 && !vtype_is_int(kv->type))
        return wrong_type(g, kv, "a number");
    if (v) *v = float_at(kv->type, kv->data);
    return CLFT_OK;
}

clft_status clft_gguf_get_bool(const clft_gguf *g, const char *key, int *v) {
    const clft_gguf_kv *kv;
    CLFT_CHECK(lookup(g, key, &kv));
    if (kv->type != CLFT_GGUF_BOOL) return wrong_type(g, kv, "a bool");
    if (v) *v = ((const uint8_t *)kv->data)[0] != 0;
    return CLFT_OK;
}

clft_status clft_gguf_arr_str(const clft_gguf_kv *kv, uint64_t i, const char **s, size_t *len) {
    if (!kv || kv->type != CLFT_GGUF_ARRAY || kv->elem != CLFT_GGUF_STRING)
        return clft_error(CLFT_STATUS_FORMAT, "key '%s' is not an array of strings", kv ? kv->key : "(null)");
    if (i >= kv->count)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "key '%s': element %llu of %llu", kv->key,
                          (unsigned long long)i, (unsigned long long)kv->count);
    const uint8_t *p = ((const gguf_kv *)kv)->strs[i];
    if (len) *len = (size_t)rd_le(p, 8);
    if (s) *s = (const char *)(p + 8);
    return CLFT_OK;
}

int64_t clft_gguf_arr_i64(const clft_gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != CLFT_GGUF_ARRAY || i >= kv->count) return 0;
    if (!vtype_is_int(kv->elem) && kv->elem != CLFT_GGUF_BOOL) return 0;
    int big;
    return int_at(kv->elem, (const uint8_t *)kv->data + i * (uint64_t)vtype_size(kv->elem), &big);
}

double clft_gguf_arr_f64(const clft_gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != CLFT_GGUF_ARRAY || i >= kv->count) return 0.0;
    if (kv->elem == CLFT_GGUF_STRING || kv->elem == CLFT_GGUF_ARRAY) return 0.0;
    return float_at(kv->elem, (const uint8_t *)kv->data + i * (uint64_t)vtype_size(kv->elem));
}

/* ---- tensor data ------------------------------------------------------------------------------- */

typedef struct deq_job {
    const clft_gguf_tensor *t;
    float *dst;
    int belems, bbytes;
} deq_job;

static void deq_range(void *user, int64_t b0, int64_t b1) {
    const deq_job *j = user;
    (void)clft_ggml_dequantize((int)j->t->type, (const uint8_t *)j->t->data + b0 * j->bbytes,
                               (b1 - b0) * j->belems, j->dst + b0 * j->belems);
}

clft_status clft_gguf_to_f32(const clft_gguf *g, const clft_gguf_tensor *t, float *dst) {
    if (!g || !t || !dst) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_gguf_to_f32: NULL argument");
    deq_job j = {t, dst, clft_ggml_block_elems((int)t->type), clft_ggml_block_bytes((int)t->type)};
    if (j.belems == 0 || t->numel % j.belems)
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: tensor '%s': cannot convert type %d to f32", g->path,
                          t->name, (int)t->type);
    int64_t blocks = t->numel / j.belems;
    /* the type and size were validated at open: every range converts; threads for large tensors */
    int threads = t->numel >= (1 << 20) ? clft_cpu_count() : 1;
    clft_parallel_ranges(blocks, threads, deq_range, &j);
    return CLFT_OK;
}
