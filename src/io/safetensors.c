/* safetensors.c - validating, zero-copy safetensors reader (single files and sharded models) and
 * a writer byte-identical to the Python safetensors library. Format: FORMATS.md section 3. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/io_util.h"
#include "ref/ref.h"

/* ---- dtypes ------------------------------------------------------------------------------------ */
static const struct {
    const char *name;
    int bits;
} DTYPES[CLFT_ST_DTYPE_COUNT] = {
    {"BOOL", 8},    {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6},     {"U8", 8},          {"I8", 8},
    {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},
    {"U16", 16},    {"F16", 16},    {"BF16", 16},   {"I32", 32},        {"U32", 32},        {"F32", 32},
    {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
};

const char *clft_st_dtype_name(clft_st_dtype dtype) {
    return (unsigned)dtype < CLFT_ST_DTYPE_COUNT ? DTYPES[dtype].name : "?";
}

int clft_st_dtype_parse(const char *name, clft_st_dtype *out) {
    for (int i = 0; i < CLFT_ST_DTYPE_COUNT; i++)
        if (!strcmp(name, DTYPES[i].name)) {
            *out = (clft_st_dtype)i;
            return 1;
        }
    return 0;
}

int clft_st_dtype_bits(clft_st_dtype dtype) { return (unsigned)dtype < CLFT_ST_DTYPE_COUNT ? DTYPES[dtype].bits : 0; }

int clft_st_dtype_to_clft(clft_st_dtype dtype, clft_dtype *out) {
    switch (dtype) {
    case CLFT_ST_F32: *out = CLFT_DTYPE_F32; return 1;
    case CLFT_ST_F16: *out = CLFT_DTYPE_F16; return 1;
    case CLFT_ST_BF16: *out = CLFT_DTYPE_BF16; return 1;
    case CLFT_ST_U8: *out = CLFT_DTYPE_U8; return 1;
    case CLFT_ST_I32: *out = CLFT_DTYPE_I32; return 1;
    default: return 0;
    }
}

int clft_st_dtype_from_clft(clft_dtype dtype, clft_st_dtype *out) {
    switch (dtype) {
    case CLFT_DTYPE_F32: *out = CLFT_ST_F32; return 1;
    case CLFT_DTYPE_F16: *out = CLFT_ST_F16; return 1;
    case CLFT_DTYPE_BF16: *out = CLFT_ST_BF16; return 1;
    case CLFT_DTYPE_U8: *out = CLFT_ST_U8; return 1;
    case CLFT_DTYPE_I32: *out = CLFT_ST_I32; return 1;
    default: return 0;
    }
}

/* ---- handle ------------------------------------------------------------------------------------ */
typedef struct st_file {
    char *name;                /* as shown in messages: the file name (shards) or the given label */
    const unsigned char *base; /* whole file image */
    size_t size;
    int mapped;  /* 1: munmap on free */
    char **meta; /* key, value pairs */
    size_t nmeta;
} st_file;

struct clft_safetensors {
    st_file *files;
    size_t nfiles;
    clft_st_tensor *tensors;
    size_t ntensors, cap;
};

static void st_file_release(st_file *f) {
    if (f->mapped && f->base) munmap((void *)(uintptr_t)f->base, f->size);
    for (size_t i = 0; i < 2 * f->nmeta; i++)
        free(f->meta[i]);
    free(f->meta);
    free(f->name);
}

void clft_safetensors_free(clft_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->nfiles; i++)
        st_file_release(&st->files[i]);
    for (size_t i = 0; i < st->ntensors; i++)
        free((char *)(uintptr_t)st->tensors[i].name);
    free(st->files);
    free(st->tensors);
    free(st);
}

static clft_status st_add_file(clft_safetensors *st, const char *name, int *index) {
    st_file *nf = realloc(st->files, (st->nfiles + 1) * sizeof *nf);
    if (!nf) return clft_error(CLFT_STATUS_HOST_OOM, "out of memory opening %s", name);
    st->files = nf;
    memset(&nf[st->nfiles], 0, sizeof *nf);
    nf[st->nfiles].name = clft_strdup(name);
    if (!nf[st->nfiles].name) return CLFT_STATUS_HOST_OOM;
    *index = (int)st->nfiles++;
    return CLFT_OK;
}

static clft_status st_map(st_file *f, const char *path) {
    const uint8_t *base = NULL;
    CLFT_CHECK(clft_io_map_file(path, &base, &f->size));
    f->base = base;
    f->mapped = base != NULL;
    return CLFT_OK;
}

static clft_status st_push_tensor(clft_safetensors *st, const clft_st_tensor *t) {
    if (st->ntensors == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        clft_st_tensor *p = realloc(st->tensors, cap * sizeof *p);
        if (!p) return clft_error(CLFT_STATUS_HOST_OOM, "out of memory reading a safetensors header");
        st->tensors = p;
        st->cap = cap;
    }
    st->tensors[st->ntensors++] = *t;
    return CLFT_OK;
}

/* ---- header parsing ---------------------------------------------------------------------------- */
static int utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            goto fail;
        if (len > n - i) goto fail;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) goto fail;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto fail;
        i += len;
    }
    return 1;
fail:
    *bad = i;
    return 0;
}

/* A JSON number that is a non-negative integer exactly representable (<= 2^53). */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0)) return 0;
    uint64_t u = (uint64_t)v;
    if ((double)u != v) return 0;
    *out = u;
    return 1;
}

static void shape_text(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const clft_st_tensor *)a)->name, ((const clft_st_tensor *)b)->name);
}

static int cmp_tensor_offsets(const void *a, const void *b) {
    const clft_st_tensor *x = *(const clft_st_tensor *const *)a, *y = *(const clft_st_tensor *const *)b;
    uint64_t xe = x->begin + x->bytes, ye = y->begin + y->bytes;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (xe != ye) return xe < ye ? -1 : 1;
    return 0;
}

static clft_status parse_tensor(const char *fn, const cJSON *e, const unsigned char *data, uint64_t dsize,
                                clft_st_tensor *t) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': entry is not a JSON object", fn, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!jd) return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': missing \"dtype\"", fn, name);
    if (!js) return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': missing \"shape\"", fn, name);
    if (!jo) return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", fn, name);
    if (!cJSON_IsString(jd))
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", fn, name);
    if (!clft_st_dtype_parse(jd->valuestring, &t->dtype))
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': unknown dtype '%s'", fn, name, jd->valuestring);
    if (!cJSON_IsArray(js))
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': \"shape\" is not an array", fn, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > CLFT_ST_MAX_DIMS)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': %d dimensions (at most %d supported)", fn, name, nd,
                          CLFT_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_uint(cJSON_GetArrayItem(js, i), &d))
            return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer", fn,
                              name, i);
        t->shape[i] = (int64_t)d;
        if (d != 0 && numel > UINT64_MAX / 8 / d)
            overflow = 1;
        else
            numel *= d;
    }
    char sh[256];
    shape_text(sh, sizeof sh, t->shape, nd);
    if (overflow)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': shape %s has too many elements", fn, name, sh);
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &b) ||
        !json_uint(cJSON_GetArrayItem(jo, 1), &en))
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: tensor '%s': \"data_offsets\" is not a pair of non-negative integers", fn, name);
    if (en < b)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", fn,
                          name, (unsigned long long)b, (unsigned long long)en);
    if (en > dsize)
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu, %llu] extend past the data buffer (%llu bytes)", fn,
                          name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)dsize);
    uint64_t bits = numel * (uint64_t)clft_st_dtype_bits(t->dtype);
    if (bits % 8)
        return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': dtype %s shape %s is not a whole number of bytes", fn,
                          name, clft_st_dtype_name(t->dtype), sh);
    if (en - b != bits / 8)
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu, %llu] do not match dtype %s shape %s (%llu bytes)", fn,
                          name, (unsigned long long)b, (unsigned long long)en, clft_st_dtype_name(t->dtype), sh,
                          (unsigned long long)(bits / 8));
    t->numel = (int64_t)numel;
    t->begin = b;
    t->bytes = (size_t)(en - b);
    t->data = data + b;
    return CLFT_OK;
}

static int cmp_meta_pair(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Parse file fi's header and append its tensors to st. */
static clft_status parse_file(clft_safetensors *st, int fi) {
    st_file *f = &st->files[fi];
    const char *fn = f->name;
    if (f->size < 8)
        return clft_error(CLFT_STATUS_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length", fn,
                          f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->base[i];
    if (n > CLFT_ST_MAX_HEADER)
        return clft_error(CLFT_STATUS_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes", fn,
                          (unsigned long long)n, (unsigned long long)CLFT_ST_MAX_HEADER);
    if (n > f->size - 8)
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: header length %llu runs past the end of the file (%zu bytes; truncated?)", fn,
                          (unsigned long long)n, f->size);
    const unsigned char *hdr = f->base + 8;
    if (n == 0 || hdr[0] != '{')
        return clft_error(CLFT_STATUS_FORMAT, "%s: header does not start with '{' (not a safetensors file?)", fn);
    size_t bad = 0;
    if (!utf8_valid(hdr, (size_t)n, &bad))
        return clft_error(CLFT_STATUS_FORMAT, "%s: header is not valid UTF-8 (at header byte %zu)", fn, bad);
    char *text = clft_malloc((size_t)n + 1);
    if (!text) return CLFT_STATUS_HOST_OOM;
    memcpy(text, hdr, (size_t)n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    clft_status s = CLFT_OK;
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        s = clft_error(CLFT_STATUS_FORMAT, "%s: header is not valid JSON (near header byte %zu)", fn, at);
        goto out;
    }
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = clft_error(CLFT_STATUS_FORMAT, "%s: unexpected bytes after the header JSON (at header byte %zu)", fn,
                           (size_t)(p - text));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        s = clft_error(CLFT_STATUS_FORMAT, "%s: header is not a JSON object", fn);
        goto out;
    }
    const unsigned char *data = hdr + n;
    uint64_t dsize = f->size - 8 - n;
    size_t first = st->ntensors;
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++) {
                s = clft_error(CLFT_STATUS_FORMAT, "%s: duplicate key '__metadata__' in the header", fn);
                goto out;
            }
            if (cJSON_IsNull(e)) continue;
            if (!cJSON_IsObject(e)) {
                s = clft_error(CLFT_STATUS_FORMAT, "%s: __metadata__ is not a JSON object", fn);
                goto out;
            }
            size_t k = 0;
            for (const cJSON *m = e->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    s = clft_error(CLFT_STATUS_FORMAT, "%s: __metadata__ key '%s': value is not a string", fn,
                                   m->string);
                    goto out;
                }
                k++;
            }
            f->meta = clft_calloc(2 * k + 1, sizeof(char *));
            if (!f->meta) {
                s = CLFT_STATUS_HOST_OOM;
                goto out;
            }
            for (const cJSON *m = e->child; m; m = m->next) {
                f->meta[2 * f->nmeta] = clft_strdup(m->string);
                f->meta[2 * f->nmeta + 1] = clft_strdup(m->valuestring);
                f->nmeta++;
                if (!f->meta[2 * f->nmeta - 2] || !f->meta[2 * f->nmeta - 1]) {
                    s = CLFT_STATUS_HOST_OOM;
                    goto out;
                }
            }
            /* duplicate keys: sort the pairs by key (n log n; a header may hold millions) */
            if (f->nmeta > 1) qsort(f->meta, f->nmeta, 2 * sizeof(char *), cmp_meta_pair);
            for (size_t i = 1; i < f->nmeta; i++)
                if (!strcmp(f->meta[2 * i], f->meta[2 * i - 2])) {
                    s = clft_error(CLFT_STATUS_FORMAT, "%s: __metadata__: duplicate key '%s'", fn, f->meta[2 * i]);
                    goto out;
                }
            continue;
        }
        clft_st_tensor t;
        memset(&t, 0, sizeof t);
        t.file = fi;
        s = parse_tensor(fn, e, data, dsize, &t);
        if (s) goto out;
        t.name = clft_strdup(e->string);
        if (!t.name) {
            s = CLFT_STATUS_HOST_OOM;
            goto out;
        }
        s = st_push_tensor(st, &t);
        if (s) {
            free((char *)(uintptr_t)t.name);
            goto out;
        }
    }
    size_t cnt = st->ntensors - first;
    clft_st_tensor *ts = cnt ? st->tensors + first : NULL; /* no tensors: the array may not exist */
    if (cnt > 1) qsort(ts, cnt, sizeof *ts, cmp_tensor_name);
    for (size_t i = 1; i < cnt; i++)
        if (!strcmp(ts[i].name, ts[i - 1].name)) {
            s = clft_error(CLFT_STATUS_FORMAT, "%s: duplicate tensor '%s' in the header", fn, ts[i].name);
            goto out;
        }
    /* contiguity: sorted by offsets, each tensor starts where the previous one ended */
    const clft_st_tensor **by = clft_malloc((cnt ? cnt : 1) * sizeof *by);
    if (!by) {
        s = CLFT_STATUS_HOST_OOM;
        goto out;
    }
    for (size_t i = 0; i < cnt; i++)
        by[i] = &ts[i];
    if (cnt > 1) qsort(by, cnt, sizeof *by, cmp_tensor_offsets);
    uint64_t expect = 0;
    for (size_t i = 0; i < cnt && !s; i++) {
        const clft_st_tensor *t = by[i];
        unsigned long long b = t->begin, e = t->begin + t->bytes;
        if (t->begin < expect)
            s = clft_error(CLFT_STATUS_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' (ends at %llu)", fn, t->name,
                           b, e, by[i - 1]->name, (unsigned long long)expect);
        else if (t->begin > expect)
            s = clft_error(CLFT_STATUS_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] leave a hole of %llu unindexed bytes before it",
                           fn, t->name, b, e, (unsigned long long)(t->begin - expect));
        expect = t->begin + t->bytes;
    }
    free(by);
    if (s) goto out;
    if (expect != dsize)
        s = clft_error(CLFT_STATUS_FORMAT,
                       "%s: the tensors cover %llu bytes of the %llu-byte data buffer (the rest is not indexed)", fn,
                       (unsigned long long)expect, (unsigned long long)dsize);
out:
    cJSON_Delete(root);
    free(text);
    return s;
}

/* ---- opening ----------------------------------------------------------------------------------- */
static clft_status finish_open(clft_safetensors *st) {
    if (st->ntensors > 1) qsort(st->tensors, st->ntensors, sizeof *st->tensors, cmp_tensor_name);
    for (size_t i = 1; i < st->ntensors; i++)
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name))
            return clft_error(CLFT_STATUS_FORMAT, "tensor '%s' is in both %s and %s", st->tensors[i].name,
                              st->files[st->tensors[i - 1].file].name, st->files[st->tensors[i].file].name);
    return CLFT_OK;
}

clft_status clft_st_open_memory(const char *label, const void *data, size_t size, clft_safetensors **out) {
    *out = NULL;
    clft_safetensors *st = clft_calloc(1, sizeof *st);
    if (!st) return CLFT_STATUS_HOST_OOM;
    int fi;
    clft_status s = st_add_file(st, label ? label : "<memory>", &fi);
    if (!s) {
        st->files[fi].base = data;
        st->files[fi].size = size;
        s = parse_file(st, fi);
    }
    if (!s) s = finish_open(st);
    if (s) {
        clft_safetensors_free(st);
        return s;
    }
    *out = st;
    return CLFT_OK;
}

static clft_status open_single(clft_safetensors *st, const char *path, const char *label) {
    int fi;
    CLFT_CHECK(st_add_file(st, label, &fi));
    CLFT_CHECK(st_map(&st->files[fi], path));
    return parse_file(st, fi);
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static clft_status open_index(clft_safetensors *st, const char *path) {
    const char *iname = clft_io_basename(path);
    char *text = NULL, *dir = NULL;
    size_t len;
    CLFT_CHECK(clft_io_read_file(path, &text, &len));
    clft_status s = CLFT_OK;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!root || !cJSON_IsObject(root)) {
        s = clft_error(CLFT_STATUS_FORMAT, "%s: not a JSON object", iname);
        goto out;
    }
    if (!wm || !cJSON_IsObject(wm)) {
        s = clft_error(CLFT_STATUS_FORMAT, "%s: missing \"weight_map\" object", iname);
        goto out;
    }
    dir = clft_strdup(path);
    if (!dir) {
        s = CLFT_STATUS_HOST_OOM;
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    for (const cJSON *e = wm->child; e && !s; e = e->next) {
        if (!cJSON_IsString(e)) {
            s = clft_error(CLFT_STATUS_FORMAT, "%s: weight_map entry '%s' is not a string", iname, e->string);
            break;
        }
        const char *shard = e->valuestring;
        if (!shard[0] || shard[0] == '/' || strstr(shard, "..")) {
            s = clft_error(CLFT_STATUS_FORMAT, "%s: weight_map entry '%s': shard name '%s' is not a file in the folder",
                           iname, e->string, shard);
            break;
        }
        int known = 0;
        for (size_t i = 0; i < st->nfiles && !known; i++)
            known = !strcmp(st->files[i].name, shard);
        if (known) continue;
        char *full = clft_io_join(dir[0] ? dir : ".", shard);
        if (!full) {
            s = CLFT_STATUS_HOST_OOM;
            break;
        }
        s = open_single(st, full, shard);
        if (s) clft_error_prefix(s, "%s names shard %s", iname, shard);
        free(full);
    }
    if (!s) s = finish_open(st);
    for (const cJSON *e = wm->child; e && !s; e = e->next) {
        const clft_st_tensor *t = clft_st_find(st, e->string);
        if (!t)
            s = clft_error(CLFT_STATUS_FORMAT, "%s: weight_map names tensor '%s' in %s, which does not hold it", iname,
                           e->string, e->valuestring);
        else if (strcmp(st->files[t->file].name, e->valuestring))
            s = clft_error(CLFT_STATUS_FORMAT, "%s: weight_map puts tensor '%s' in %s but it is in %s", iname,
                           e->string, e->valuestring, st->files[t->file].name);
    }
out:
    cJSON_Delete(root);
    free(text);
    free(dir);
    return s;
}

clft_status clft_st_open(const char *path, clft_safetensors **out) {
    *out = NULL;
    if (!path) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "safetensors: NULL path");
    clft_safetensors *st = clft_calloc(1, sizeof *st);
    if (!st) return CLFT_STATUS_HOST_OOM;
    clft_status s;
    if (clft_io_is_dir(path)) {
        char *idx = clft_io_join(path, "model.safetensors.index.json");
        char *one = clft_io_join(path, "model.safetensors");
        if (!idx || !one)
            s = CLFT_STATUS_HOST_OOM;
        else if (access(idx, F_OK) == 0)
            s = open_index(st, idx);
        else if (access(one, F_OK) == 0)
            s = open_single(st, one, "model.safetensors");
        else
            s = clft_error(CLFT_STATUS_NOT_FOUND,
                           "%s: the folder has neither model.safetensors nor model.safetensors.index.json", path);
        free(idx);
        free(one);
    } else if (has_suffix(path, ".json")) {
        s = open_index(st, path);
    } else {
        s = open_single(st, path, clft_io_basename(path));
    }
    if (!s && st->nfiles == 1) s = finish_open(st);
    if (s) {
        clft_safetensors_free(st);
        return s;
    }
    *out = st;
    return CLFT_OK;
}

/* ---- access ------------------------------------------------------------------------------------ */
size_t clft_st_count(const clft_safetensors *st) { return st ? st->ntensors : 0; }

const clft_st_tensor *clft_st_at(const clft_safetensors *st, size_t index) {
    return st && index < st->ntensors ? &st->tensors[index] : NULL;
}

const clft_st_tensor *clft_st_find(const clft_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    size_t lo = 0, hi = st->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (c == 0) return &st->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

clft_status clft_st_get(const clft_safetensors *st, const char *name, const clft_st_tensor **out) {
    *out = clft_st_find(st, name);
    if (*out) return CLFT_OK;
    const char *where = st && st->nfiles == 1 ? st->files[0].name : "the model's safetensors files";
    return clft_error(CLFT_STATUS_NOT_FOUND, "%s: no tensor '%s'", where, name ? name : "(null)");
}

size_t clft_st_file_count(const clft_safetensors *st) { return st ? st->nfiles : 0; }

const char *clft_st_file_name(const clft_safetensors *st, int file) {
    return st && file >= 0 && (size_t)file < st->nfiles ? st->files[file].name : NULL;
}

const char *clft_st_metadata(const clft_safetensors *st, int file, const char *key) {
    if (!st || file < 0 || (size_t)file >= st->nfiles) return NULL;
    const st_file *f = &st->files[file];
    for (size_t i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

clft_status clft_st_to_f32_reuse(const clft_safetensors *st, const clft_st_tensor *t, float **buf, size_t *cap) {
    if ((size_t)t->numel > *cap || !*buf) {
        free(*buf);
        *cap = 0;
        *buf = clft_malloc(((size_t)t->numel ? (size_t)t->numel : 1) * sizeof(float));
        if (!*buf) return CLFT_STATUS_HOST_OOM;
        *cap = (size_t)t->numel;
    }
    return clft_st_to_f32(st, t, *buf);
}

clft_status clft_st_to_f32(const clft_safetensors *st, const clft_st_tensor *t, float *dst) {
    const unsigned char *p = t->data;
    size_t n = (size_t)t->numel;
    /* little-endian hosts only (as the format); memcpy avoids unaligned access */
    switch (t->dtype) {
    case CLFT_ST_F32: memcpy(dst, p, n * 4); return CLFT_OK;
    case CLFT_ST_F16:
    case CLFT_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == CLFT_ST_F16 ? clft_ref_f16_to_f32(h) : clft_ref_bf16_to_f32(h);
        }
        return CLFT_OK;
    case CLFT_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return CLFT_OK;
    case CLFT_ST_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)p[i];
        return CLFT_OK;
    case CLFT_ST_I8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int8_t)p[i];
        return CLFT_OK;
    case CLFT_ST_I16:
        for (size_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, p + 2 * i, 2);
            dst[i] = (float)v;
        }
        return CLFT_OK;
    case CLFT_ST_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = (float)v;
        }
        return CLFT_OK;
    case CLFT_ST_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            dst[i] = (float)v;
        }
        return CLFT_OK;
    default:
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: tensor '%s': cannot convert dtype %s to float32",
                          st ? st->files[t->file].name : "safetensors", t->name, clft_st_dtype_name(t->dtype));
    }
}

/* ---- public wrappers (include/clft.h) ---------------------------------------------------------- */
clft_status clft_safetensors_open(const char *path, clft_safetensors **out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_safetensors_open: NULL out");
    return clft_st_open(path, out);
}

size_t clft_safetensors_count(const clft_safetensors *st) { return clft_st_count(st); }

static void to_view(const clft_st_tensor *t, clft_tensor_view *v) {
    v->name = t->name;
    v->dtype = clft_st_dtype_name(t->dtype);
    v->ndim = t->ndim;
    v->shape = t->shape;
    v->data = t->data;
    v->bytes = t->bytes;
}

clft_status clft_safetensors_tensor(const clft_safetensors *st, size_t index, clft_tensor_view *out) {
    const clft_st_tensor *t = clft_st_at(st, index);
    if (!t || !out)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor index %zu out of range (%zu tensors)", index,
                          clft_st_count(st));
    to_view(t, out);
    return CLFT_OK;
}

clft_status clft_safetensors_find(const clft_safetensors *st, const char *name, clft_tensor_view *out) {
    const clft_st_tensor *t;
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_safetensors_find: NULL out");
    CLFT_CHECK(clft_st_get(st, name, &t));
    to_view(t, out);
    return CLFT_OK;
}

/* ---- writing ----------------------------------------------------------------------------------- */
clft_status clft_st_out_bytes(const clft_st_out_tensor *t, uint64_t *bytes) {
    *bytes = 0;
    if ((unsigned)t->dtype >= CLFT_ST_DTYPE_COUNT)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor '%s': invalid dtype %d", t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > CLFT_ST_MAX_DIMS)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor '%s': %d dimensions", t->name, t->ndim);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor '%s': negative dimension", t->name);
        uint64_t d = (uint64_t)t->shape[i];
        if (d && numel > UINT64_MAX / 64 / d)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor '%s': too many elements", t->name);
        numel *= d;
    }
    uint64_t bits = numel * (uint64_t)clft_st_dtype_bits(t->dtype);
    if (bits % 8)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "tensor '%s': %s data is not a whole number of bytes", t->name,
                          clft_st_dtype_name(t->dtype));
    *bytes = bits / 8;
    return CLFT_OK;
}

typedef struct sort_item {
    const clft_st_out_tensor *t;
    size_t index;
} sort_item;

static int cmp_write_order(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    if (x->t->dtype != y->t->dtype) return x->t->dtype > y->t->dtype ? -1 : 1; /* dtype descending */
    return strcmp(x->t->name, y->t->name);
}

clft_status clft_st_build_header(const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta, size_t nmeta,
                                 char **header, size_t *header_len, size_t **order) {
    *header = NULL;
    *header_len = 0;
    if (order) *order = NULL;
    sort_item *items = clft_malloc((n ? n : 1) * sizeof *items);
    if (!items) return CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; i < n; i++) {
        if (!tensors[i].name) {
            free(items);
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "safetensors writer: tensor %zu has no name", i);
        }
        items[i].t = &tensors[i];
        items[i].index = i;
    }
    if (n > 1) qsort(items, n, sizeof *items, cmp_write_order);
    clft_status s = CLFT_OK;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(items[i].t->name, "__metadata__")) {
            s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "safetensors writer: a tensor cannot be named __metadata__");
            break;
        }
        for (size_t j = 0; j < i; j++) /* duplicates sort next to each other only within one dtype */
            if (!strcmp(items[j].t->name, items[i].t->name)) {
                s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "safetensors writer: duplicate tensor '%s'",
                               items[i].t->name);
                break;
            }
        if (s) break;
    }
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_put(&b, "{", 1);
    int first = 1;
    if (!s && nmeta > 0) {
        clft_sbuf_puts(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i) clft_sbuf_put(&b, ",", 1);
            clft_json_serde_string(&b, meta[i].key);
            clft_sbuf_put(&b, ":", 1);
            clft_json_serde_string(&b, meta[i].value);
        }
        clft_sbuf_put(&b, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n && !s; i++) {
        const clft_st_out_tensor *t = items[i].t;
        uint64_t bytes;
        s = clft_st_out_bytes(t, &bytes);
        if (s) break;
        if (!first) clft_sbuf_put(&b, ",", 1);
        first = 0;
        clft_json_serde_string(&b, t->name);
        clft_sbuf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", clft_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            clft_sbuf_printf(&b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        clft_sbuf_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                         (unsigned long long)(off + bytes));
        off += bytes;
    }
    clft_sbuf_put(&b, "}", 1);
    while (!s && b.len % 8)
        clft_sbuf_put(&b, " ", 1);
    if (!s) s = clft_sbuf_status(&b);
    if (!s && b.len > CLFT_ST_MAX_HEADER)
        s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "safetensors writer: header of %zu bytes exceeds the limit",
                       b.len);
    if (!s && order) {
        *order = clft_malloc((n ? n : 1) * sizeof **order);
        if (!*order)
            s = CLFT_STATUS_HOST_OOM;
        else
            for (size_t i = 0; i < n; i++)
                (*order)[i] = items[i].index;
    }
    free(items);
    if (s) {
        clft_sbuf_free(&b);
        return s;
    }
    *header = b.data;
    *header_len = b.len;
    return CLFT_OK;
}

#define ST_CHUNK (8u << 20) /* bytes per fill call while writing */

clft_status clft_st_build_image(const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta, size_t nmeta,
                                void **out, size_t *len) {
    if (!out || !len) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_st_build_image: NULL output");
    *out = NULL;
    *len = 0;
    char *header = NULL;
    size_t hlen = 0, *order = NULL;
    CLFT_CHECK(clft_st_build_header(tensors, n, meta, nmeta, &header, &hlen, &order));
    uint64_t total = 8 + (uint64_t)hlen;
    clft_status s = CLFT_OK;
    for (size_t k = 0; k < n && !s; k++) {
        uint64_t bytes = 0;
        s = clft_st_out_bytes(&tensors[k], &bytes);
        if (!s && !tensors[k].data && bytes)
            s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_st_build_image: tensor '%s' has no data",
                           tensors[k].name);
        total += bytes;
    }
    unsigned char *img = s ? NULL : malloc((size_t)total);
    if (!s && !img)
        s = clft_error(CLFT_STATUS_HOST_OOM, "clft_st_build_image: out of memory (%llu bytes)",
                       (unsigned long long)total);
    if (!s) {
        for (int i = 0; i < 8; i++)
            img[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        memcpy(img + 8, header, hlen);
        size_t at = 8 + hlen;
        for (size_t k = 0; k < n; k++) {
            const clft_st_out_tensor *t = &tensors[order[k]];
            uint64_t bytes = 0;
            clft_st_out_bytes(t, &bytes);
            if (bytes) memcpy(img + at, t->data, (size_t)bytes);
            at += (size_t)bytes;
        }
        *out = img;
        *len = (size_t)total;
    }
    free(header);
    free(order);
    return s;
}

clft_status clft_st_write_file(const char *path, const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta,
                               size_t nmeta, clft_st_fill_fn fill, void *user) {
    char *header = NULL;
    size_t hlen = 0, *order = NULL;
    CLFT_CHECK(clft_st_build_header(tensors, n, meta, nmeta, &header, &hlen, &order));
    unsigned char *chunk = NULL;
    clft_io_afile f;
    clft_status s = clft_io_afile_open(&f, path);
    if (s) goto out;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    s = clft_io_afile_write(&f, len8, 8);
    if (!s) s = clft_io_afile_write(&f, header, hlen);
    for (size_t k = 0; k < n && !s; k++) {
        const clft_st_out_tensor *t = &tensors[order[k]];
        uint64_t bytes;
        s = clft_st_out_bytes(t, &bytes);
        if (s) break;
        if (t->data) {
            s = clft_io_afile_write(&f, t->data, (size_t)bytes);
            continue;
        }
        if (!fill) {
            s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: tensor '%s' has no data and no fill callback", path,
                           t->name);
            break;
        }
        int whole = clft_st_dtype_bits(t->dtype) % 8 != 0;
        size_t cap = whole ? (size_t)bytes : (bytes < ST_CHUNK ? (size_t)bytes : ST_CHUNK);
        unsigned char *buf = realloc(chunk, cap ? cap : 1);
        if (!buf) {
            s = clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory for a %zu-byte write buffer", path, cap);
            break;
        }
        chunk = buf;
        for (uint64_t off = 0; off < bytes && !s; off += cap) {
            size_t step = bytes - off < cap ? (size_t)(bytes - off) : cap;
            s = fill(user, order[k], off, chunk, step);
            if (!s) s = clft_io_afile_write(&f, chunk, step);
        }
    }
    if (!s) s = clft_io_afile_commit(&f);
    if (s) clft_io_afile_abort(&f);
out:
    free(chunk);
    free(header);
    free(order);
    return s;
}

typedef struct shard_fill {
    const size_t *map; /* local index -> caller's index */
    clft_st_fill_fn fill;
    void *user;
} shard_fill;

static clft_status shard_fill_fn(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    shard_fill *sf = user;
    return sf->fill(sf->user, sf->map[index], offset, dst, bytes);
}

static int cmp_item_name(const void *a, const void *b) {
    return strcmp(((const sort_item *)a)->t->name, ((const sort_item *)b)->t->name);
}

clft_status clft_st_write_model(const char *dir, const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta,
                                size_t nmeta, uint64_t max_shard_bytes, clft_st_fill_fn fill, void *user,
                                int *nshards) {
    if (nshards) *nshards = 0;
    if (max_shard_bytes == 0) max_shard_bytes = 5000000000ULL;
    uint64_t *bytes = clft_malloc((n ? n : 1) * sizeof *bytes);
    int *shard_of = clft_malloc((n ? n : 1) * sizeof *shard_of);
    clft_status s = CLFT_OK;
    if (!bytes || !shard_of) {
        s = CLFT_STATUS_HOST_OOM;
        goto out0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n && !s; i++) {
        s = clft_st_out_bytes(&tensors[i], &bytes[i]);
        total += bytes[i];
    }
    if (s) goto out0;
    /* huggingface_hub split_state_dict_into_shards_factory: greedy in the given order; a tensor larger
     * than the limit gets a shard of its own (appended at once, before the current one closes). */
    int count = 0, cur = -1;
    uint64_t cur_size = 0;
    int *order_of_shard = clft_malloc((n + 1) * sizeof *order_of_shard); /* creation order -> final number */
    if (!order_of_shard) {
        s = CLFT_STATUS_HOST_OOM;
        goto out0;
    }
    /* hf appends oversize tensors to the list immediately and the running shard when it closes; shards
     * are numbered in list order. Reproduce it with two passes: assign provisional ids, then order. */
    int *list = order_of_shard;
    int nlist = 0;
    for (size_t i = 0; i < n; i++) {
        if (bytes[i] > max_shard_bytes) {
            shard_of[i] = count;
            list[nlist++] = count++;
            continue;
        }
        if (cur >= 0 && cur_size + bytes[i] > max_shard_bytes) {
            list[nlist++] = cur;
            cur = -1;
        }
        if (cur < 0) {
            cur = count++;
            cur_size = 0;
        }
        shard_of[i] = cur;
        cur_size += bytes[i];
    }
    if (cur >= 0) list[nlist++] = cur;
    if (n == 0) list[nlist++] = count++; /* an empty model still gets one (empty) file */
    if (total <= max_shard_bytes || nlist == 1) {
        free(order_of_shard);
        char *path = clft_io_join(dir, "model.safetensors");
        if (!path)
            s = CLFT_STATUS_HOST_OOM;
        else
            s = clft_st_write_file(path, tensors, n, meta, nmeta, fill, user);
        free(path);
        if (!s && nshards) *nshards = 1;
        goto out0;
    }
    /* final number of provisional shard p = its position in list */
    int *final_no = clft_malloc((size_t)count * sizeof *final_no);
    clft_st_out_tensor *sub = clft_malloc(n * sizeof *sub);
    size_t *map = clft_malloc(n * sizeof *map);
    sort_item *keys = clft_malloc(n * sizeof *keys);
    char(*names)[64] = clft_malloc((size_t)nlist * sizeof *names);
    if (!final_no || !sub || !map || !keys || !names) {
        s = CLFT_STATUS_HOST_OOM;
        goto out1;
    }
    for (int k = 0; k < nlist; k++)
        final_no[list[k]] = k;
    for (int k = 0; k < nlist; k++)
        snprintf(names[k], sizeof names[k], "model-%05d-of-%05d.safetensors", k + 1, nlist);
    for (int k = 0; k < nlist && !s; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (final_no[shard_of[i]] == k) {
                sub[m] = tensors[i];
                map[m++] = i;
            }
        shard_fill sf = {map, fill, user};
        char *path = clft_io_join(dir, names[k]);
        if (!path) {
            s = CLFT_STATUS_HOST_OOM;
            break;
        }
        clft_log(CLFT_LOG_INFO, "writing %s (%zu tensors)", path, m);
        s = clft_st_write_file(path, sub, m, meta, nmeta, fill ? shard_fill_fn : NULL, &sf);
        free(path);
    }
    if (s) goto out1;
    /* index: json.dumps({"metadata": {"total_size": T}, "weight_map": {...}}, indent=2, sort_keys=True) + "\n" */
    for (size_t i = 0; i < n; i++)
        keys[i].t = &tensors[i], keys[i].index = i;
    if (n > 1) qsort(keys, n, sizeof *keys, cmp_item_name);
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {",
                     (unsigned long long)total);
    for (size_t i = 0; i < n; i++) {
        size_t ti = keys[i].index;
        clft_sbuf_puts(&b, i ? ",\n    " : "\n    ");
        clft_json_py_string(&b, keys[i].t->name);
        clft_sbuf_puts(&b, ": ");
        clft_json_py_string(&b, names[final_no[shard_of[ti]]]);
    }
    clft_sbuf_puts(&b, n ? "\n  }\n}\n" : "}\n}\n");
    s = clft_sbuf_status(&b);
    if (!s) {
        char *path = clft_io_join(dir, "model.safetensors.index.json");
        if (!path)
            s = CLFT_STATUS_HOST_OOM;
        else
            s = clft_io_write_atomic(path, b.data, b.len);
        free(path);
    }
    clft_sbuf_free(&b);
    if (!s && nshards) *nshards = nlist;
out1:
    free(final_no);
    free(sub);
    free(map);
    free(keys);
    free(names);
    free(order_of_shard);
out0:
    free(bytes);
    free(shard_of);
    return s;
}
