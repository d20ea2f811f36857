/* bnb4.c - reading and writing bitsandbytes 4-bit checkpoints (see bnb4.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/bnb4.h"
#include "core/core.h"
#include "io/io_util.h"

static const clft_st_tensor *sub(const clft_safetensors *st, const char *name, const char *suffix) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", name, suffix);
    return clft_st_find(st, key);
}

static const clft_st_tensor *state_tensor(const clft_safetensors *st, const char *name, clft_dtype *type) {
    const clft_st_tensor *t = sub(st, name, "quant_state.bitsandbytes__nf4");
    if (t) {
        *type = CLFT_DTYPE_NF4;
        return t;
    }
    t = sub(st, name, "quant_state.bitsandbytes__fp4");
    if (t) *type = CLFT_DTYPE_FP4;
    return t;
}

int clft_bnb4_is_quantized(const clft_safetensors *st, const char *name) {
    const clft_st_tensor *w = clft_st_find(st, name);
    clft_dtype type;
    return w && w->dtype == CLFT_ST_U8 && state_tensor(st, name, &type) != NULL;
}

static clft_status need(const clft_safetensors *st, const char *name, const char *suffix, clft_st_dtype dtype,
                        int64_t numel, const clft_st_tensor **out) {
    const clft_st_tensor *t = sub(st, name, suffix);
    if (!t)
        return clft_error(CLFT_STATUS_NOT_FOUND, "4-bit weight '%s': tensor '%s.%s' is missing", name, name, suffix);
    if (t->dtype != dtype || (numel >= 0 && t->numel != numel))
        return clft_error(CLFT_STATUS_FORMAT,
                          "4-bit weight '%s': tensor '%s.%s' has dtype %s and %lld elements, expected %s and %lld",
                          name, name, suffix, clft_st_dtype_name(t->dtype), (long long)t->numel,
                          clft_st_dtype_name(dtype), (long long)numel);
    *out = t;
    return CLFT_OK;
}

clft_status clft_bnb4_read(const clft_safetensors *st, const char *name, clft_q4 *q, int64_t *rows, int64_t *cols) {
    memset(q, 0, sizeof *q);
    clft_dtype type;
    const clft_st_tensor *w = clft_st_find(st, name), *js = state_tensor(st, name, &type);
    if (!w || !js)
        return clft_error(CLFT_STATUS_NOT_FOUND, "'%s' is not a bitsandbytes 4-bit weight (no quant_state)", name);
    char *text = clft_malloc(js->bytes + 1);
    if (!text) return CLFT_STATUS_HOST_OOM;
    memcpy(text, js->data, js->bytes);
    text[js->bytes] = '\0';
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return clft_error(CLFT_STATUS_FORMAT, "4-bit weight '%s': quant_state is not a JSON object", name);
    }
    clft_status s = CLFT_OK;
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(j, "blocksize"),
                *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *nbs = cJSON_GetObjectItemCaseSensitive(j, "nested_blocksize"),
                *noff = cJSON_GetObjectItemCaseSensitive(j, "nested_offset");
    if (!cJSON_IsNumber(bs) || !cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != 2) {
        s = clft_error(CLFT_STATUS_FORMAT, "4-bit weight '%s': quant_state lacks blocksize or a 2-d shape", name);
    } else {
        *rows = (int64_t)cJSON_GetArrayItem(shape, 0)->valuedouble;
        *cols = (int64_t)cJSON_GetArrayItem(shape, 1)->valuedouble;
        q->type = type;
        q->blocksize = bs->valueint;
        q->numel = *rows * *cols;
        q->nblocks = (q->numel + q->blocksize - 1) / q->blocksize;
        q->double_quant = cJSON_IsNumber(nbs) && cJSON_IsNumber(noff);
    }
    const clft_st_tensor *tp = NULL, *ta = NULL, *tm = NULL, *tn = NULL, *tnm = NULL;
    if (!s && (w->numel != (q->numel + 1) / 2 || w->dtype != CLFT_ST_U8))
        s = clft_error(CLFT_STATUS_FORMAT, "4-bit weight '%s': %lld packed bytes for shape [%lld, %lld]", name,
                       (long long)w->numel, (long long)*rows, (long long)*cols);
    tp = w;
    if (!s) s = need(st, name, "quant_map", CLFT_ST_F32, 16, &tm);
    if (!s && q->double_quant) {
        q->nested_blocksize = nbs->valueint;
        q->nested_offset = (float)noff->valuedouble;
        int64_t nn = (q->nblocks + q->nested_blocksize - 1) / q->nested_blocksize;
        s = need(st, name, "absmax", CLFT_ST_U8, q->nblocks, &ta);
        if (!s) s = need(st, name, "nested_absmax", CLFT_ST_F32, nn, &tn);
        if (!s) s = need(st, name, "nested_quant_map", CLFT_ST_F32, 256, &tnm);
    } else if (!s) {
        s = need(st, name, "absmax", CLFT_ST_F32, q->nblocks, &ta);
    }
    if (!s) {
        q->packed = clft_malloc((size_t)tp->bytes);
        if (q->double_quant) {
            q->qabsmax = clft_malloc((size_t)q->nblocks);
            q->nested_absmax = clft_malloc(tn->bytes);
        } else {
            q->absmax = clft_malloc((size_t)q->nblocks * 4);
        }
        if (!q->packed || (q->double_quant ? !q->qabsmax || !q->nested_absmax : !q->absmax)) {
            s = CLFT_STATUS_HOST_OOM;
        } else {
            memcpy(q->packed, tp->data, tp->bytes);
            memcpy(q->code, tm->data, sizeof q->code);
            if (q->double_quant) {
                memcpy(q->qabsmax, ta->data, (size_t)q->nblocks);
                memcpy(q->nested_absmax, tn->data, tn->bytes);
                memcpy(q->nested_code, tnm->data, sizeof q->nested_code);
            } else {
                memcpy(q->absmax, ta->data, (size_t)q->nblocks * 4);
            }
        }
    }
    cJSON_Delete(j);
    if (s) clft_q4_free(q);
    return s;
}

clft_status clft_bnb4_describe(const clft_q4 *q, const char *name, int64_t rows, int64_t cols, const char *dtype_name,
                               clft_bnb4_out *out) {
    memset(out, 0, sizeof *out);
    const char *qt = q->type == CLFT_DTYPE_FP4 ? "fp4" : "nf4";
    out->nblocks = q->nblocks;
    out->nnested = q->double_quant ? (q->nblocks + q->nested_blocksize - 1) / q->nested_blocksize : 0;
    /* quant_state: json.dumps of QuantState.as_dict(packed=True)'s non-tensor items, in order */
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_printf(&b, "{\"quant_type\": \"%s\", \"blocksize\": %d, \"dtype\": \"%s\", \"shape\": [%lld, %lld]", qt,
                     q->blocksize, dtype_name, (long long)rows, (long long)cols);
    if (q->double_quant) {
        clft_sbuf_printf(
            &b, ", \"nested_blocksize\": %d, \"nested_dtype\": \"float32\", \"nested_offset\": ", q->nested_blocksize);
        clft_json_py_float(&b, (double)q->nested_offset);
    }
    clft_sbuf_puts(&b, "}");
    clft_status s = clft_sbuf_status(&b);
    if (!s && b.len >= sizeof out->state_json) s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "quant_state too long");
    if (!s) memcpy(out->state_json, b.data, b.len + 1);
    size_t jlen = b.len;
    clft_sbuf_free(&b);
    if (s) return s;
    int n = 0;
#define T(suffix, dt, nd, d0, d1, ptr)                                                                                 \
    do {                                                                                                               \
        snprintf(out->names[n], sizeof out->names[n], "%s%s", name, suffix);                                           \
        out->t[n].name = out->names[n];                                                                                \
        out->t[n].dtype = dt;                                                                                          \
        out->t[n].ndim = nd;                                                                                           \
        out->t[n].shape[0] = d0;                                                                                       \
        out->t[n].shape[1] = d1;                                                                                       \
        out->t[n].data = ptr;                                                                                          \
        n++;                                                                                                           \
    } while (0)
    T("", CLFT_ST_U8, 2, (q->numel + 1) / 2, 1, q->packed);
    if (q->double_quant) {
        T(".absmax", CLFT_ST_U8, 1, q->nblocks, 0, q->qabsmax);
        T(".nested_absmax", CLFT_ST_F32, 1, out->nnested, 0, q->nested_absmax);
        T(".nested_quant_map", CLFT_ST_F32, 1, 256, 0, q->nested_code);
    } else {
        T(".absmax", CLFT_ST_F32, 1, q->nblocks, 0, q->absmax);
    }
    T(".quant_map", CLFT_ST_F32, 1, 16, 0, q->code);
    char suffix[64];
    snprintf(suffix, sizeof suffix, ".quant_state.bitsandbytes__%s", qt);
    T(suffix, CLFT_ST_U8, 1, (int64_t)jlen, 0, out->state_json);
#undef T
    out->count = n;
    return CLFT_OK;
}
