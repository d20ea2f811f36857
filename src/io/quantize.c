/* quantize.c - `clft quantize`: a 4-bit copy of a Hugging Face model folder in the layout
 * bitsandbytes saves (FORMATS.md 1.7): every projection weight of the decoder becomes the six
 * tensors of Linear4bit._save_to_state_dict, byte-for-byte what bitsandbytes' CPU path produces
 * for the same weights; embeddings, norms, biases and lm_head keep their dtype; config.json gains
 * the quantization_config block transformers writes; tokenizer and generation files are copied.
 * The weight writer it uses (clft_hf_writer, io_util.h) is shared with clft_export_merged and
 * clft_model_save_pretrained (src/lora): one code path for every model folder clft writes from
 * values it computes, 4-bit or float. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/bnb4.h"
#include "io/io_util.h"
#include "model/config.h"
#include "ref/ref.h"

clft_quantize_params clft_quantize_default_params(void) {
    clft_quantize_params p;
    memset(&p, 0, sizeof p);
    p.quant_type = CLFT_DTYPE_NF4;
    p.blocksize = 64;
    p.double_quant = 1;
    return p;
}

static const char *torch_dtype_name(clft_st_dtype d) {
    switch (d) {
    case CLFT_ST_BF16: return "bfloat16";
    case CLFT_ST_F16: return "float16";
    default: return "float32";
    }
}

/* ---- the shared weight writer (io_util.h) ------------------------------------------------------ */
struct clft_hf_writer {
    const clft_hf_out *t;
    size_t n;
    clft_hf_q4 q4;
    clft_hf_values_fn values;
    void *user;
    clft_q4 *qs;           /* per input: the 4-bit state of a quantized weight (packed codes freed unless kept) */
    clft_bnb4_out *desc;   /* per input: its six tensors */
    clft_st_out_tensor *o; /* the tensors written, in input order (a 4-bit weight expanded in place) */
    size_t *src, no;       /* per output: its input */
    float *vals;           /* the values of one input */
    size_t vals_index;     /* which (SIZE_MAX: none) */
    clft_q4 cur;           /* the full quantization of one input, for its packed codes */
    size_t cur_index;
};

static int64_t out_numel(const clft_hf_out *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

static clft_status writer_values(clft_hf_writer *w, size_t i) {
    if (w->vals_index == i) return CLFT_OK;
    w->vals_index = SIZE_MAX;
    CLFT_CHECK(w->values(w->user, i, w->vals));
    w->vals_index = i;
    return CLFT_OK;
}

static clft_status writer_fill(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    clft_hf_writer *w = user;
    const size_t i = w->src[index];
    const clft_hf_out *t = &w->t[i];
    CLFT_CHECK(writer_values(w, i));
    if (!t->quantize) {
        const int es = t->dtype == CLFT_ST_F32 ? 4 : 2;
        const float *v = w->vals + offset / (uint64_t)es;
        const size_t n = bytes / (size_t)es;
        if (es == 4) {
            memcpy(dst, v, bytes);
            return CLFT_OK;
        }
        unsigned char *p = dst;
        if (t->dtype == CLFT_ST_BF16) { /* clft_ref_f32_to_bf16 inlined: round to nearest even, NaN quiet */
            for (size_t k = 0; k < n; k++) {
                uint32_t u;
                memcpy(&u, &v[k], 4);
                u = (u & 0x7fffffffu) > 0x7f800000u ? (u | 0x400000u) : u + 0x7fffu + ((u >> 16) & 1u);
                p[2 * k] = (unsigned char)(u >> 16 & 0xff);
                p[2 * k + 1] = (unsigned char)(u >> 24);
            }
            return CLFT_OK;
        }
        for (size_t k = 0; k < n; k++) {
            uint16_t h = clft_ref_f32_to_f16(v[k]);
            p[2 * k] = (unsigned char)(h & 0xff);
            p[2 * k + 1] = (unsigned char)(h >> 8);
        }
        return CLFT_OK;
    }
    /* the packed codes (every other part of a 4-bit weight has its data from the first pass) */
    if (w->cur_index != i) {
        clft_q4_free(&w->cur);
        w->cur_index = SIZE_MAX;
        CLFT_CHECK(clft_q4_quantize(w->vals, out_numel(t), w->q4.type, w->q4.blocksize, w->q4.double_quant, &w->cur));
        const clft_q4 *q = &w->qs[i];
        int same = w->cur.nblocks == q->nblocks && w->cur.nested_offset == q->nested_offset;
        if (same && q->double_quant)
            same = !memcmp(w->cur.qabsmax, q->qabsmax, (size_t)q->nblocks);
        else if (same)
            same = !memcmp(w->cur.absmax, q->absmax, (size_t)q->nblocks * 4);
        if (!same)
            return clft_error(CLFT_STATUS_NUMERICAL, "4-bit weight '%s': its values changed between two passes",
                              t->name);
        w->cur_index = i;
    }
    memcpy(dst, w->cur.packed + offset, bytes);
    return CLFT_OK;
}

void clft_hf_writer_free(clft_hf_writer *w) {
    if (!w) return;
    for (size_t i = 0; w->qs && i < w->n; i++)
        clft_q4_free(&w->qs[i]);
    clft_q4_free(&w->cur);
    free(w->qs);
    free(w->desc);
    free(w->o);
    free(w->src);
    free(w->vals);
    free(w);
}

clft_status clft_hf_writer_create(const clft_hf_out *t, size_t n, const clft_hf_q4 *q4, int keep_packed,
                                  clft_hf_values_fn values, void *user, clft_hf_writer **out) {
    *out = NULL;
    clft_hf_writer *w = clft_calloc(1, sizeof *w);
    if (!w) return CLFT_STATUS_HOST_OOM;
    w->t = t;
    w->n = n;
    if (q4) w->q4 = *q4;
    w->values = values;
    w->user = user;
    w->vals_index = w->cur_index = SIZE_MAX;
    w->qs = clft_calloc(n ? n : 1, sizeof *w->qs);
    w->desc = clft_calloc(n ? n : 1, sizeof *w->desc);
    w->o = clft_calloc(n ? n * 6 : 1, sizeof *w->o);
    w->src = clft_calloc(n ? n * 6 : 1, sizeof *w->src);
    clft_status s = w->qs && w->desc && w->o && w->src ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    int64_t maxn = 1;
    for (size_t i = 0; i < n && !s; i++) {
        if (t[i].raw) continue;
        if (!values)
            s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "weight writer: tensor '%s' has no data", t[i].name);
        else if (t[i].quantize && (!q4 || t[i].ndim != 2))
            s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "weight writer: tensor '%s' cannot be stored as 4-bit",
                           t[i].name);
        else if (!t[i].quantize && t[i].dtype != CLFT_ST_F32 && t[i].dtype != CLFT_ST_F16 && t[i].dtype != CLFT_ST_BF16)
            s = clft_error(CLFT_STATUS_UNSUPPORTED, "weight writer: tensor '%s': dtype %s (F32, F16 or BF16)",
                           t[i].name, clft_st_dtype_name(t[i].dtype));
        if (out_numel(&t[i]) > maxn) maxn = out_numel(&t[i]);
    }
    if (!s && !(w->vals = clft_malloc((size_t)maxn * sizeof(float)))) s = CLFT_STATUS_HOST_OOM;
    /* first pass: the 4-bit state of every quantized weight (its quant_state text sizes the header) */
    for (size_t i = 0; i < n && !s; i++) {
        const clft_hf_out *x = &t[i];
        if (x->raw) {
            clft_st_out_tensor *o = &w->o[w->no];
            o->name = x->name;
            o->dtype = x->dtype;
            o->ndim = x->ndim;
            memcpy(o->shape, x->shape, sizeof o->shape);
            o->data = x->raw;
            w->src[w->no++] = i;
            continue;
        }
        if (!x->quantize) {
            clft_st_out_tensor *o = &w->o[w->no];
            o->name = x->name;
            o->dtype = x->dtype;
            o->ndim = x->ndim;
            memcpy(o->shape, x->shape, sizeof o->shape);
            w->src[w->no++] = i;
            continue;
        }
        s = writer_values(w, i);
        if (!s) s = clft_q4_quantize(w->vals, out_numel(x), w->q4.type, w->q4.blocksize, w->q4.double_quant, &w->qs[i]);
        if (s) break;
        if (!keep_packed) {
            free(w->qs[i].packed);
            w->qs[i].packed = NULL; /* made again while writing */
        }
        s = clft_bnb4_describe(&w->qs[i], x->name, x->shape[0], x->shape[1], torch_dtype_name(x->dtype), &w->desc[i]);
        for (int k = 0; !s && k < w->desc[i].count; k++) {
            w->src[w->no] = i;
            w->o[w->no++] = w->desc[i].t[k];
        }
    }
    if (s) {
        clft_hf_writer_free(w);
        return s;
    }
    *out = w;
    return CLFT_OK;
}

clft_status clft_hf_writer_write(clft_hf_writer *w, const char *dir, uint64_t max_shard_bytes) {
    clft_st_kv meta = {"format", "pt"};
    return clft_st_write_model(dir, w->o, w->no, &meta, 1, max_shard_bytes, writer_fill, w, NULL);
}

/* config.json as clft writes it (transformers' sorted, indent-2 form) with quantization_config */
clft_status clft_hf_write_config(const char *dir, const clft_model_config *cfg, const clft_hf_q4 *q4) {
    char *text = NULL;
    CLFT_CHECK(clft_model_config_to_json(cfg, &text));
    if (!q4) {
        char *path = clft_io_join(dir, "config.json");
        clft_status s = path ? clft_io_write_atomic(path, text, strlen(text)) : CLFT_STATUS_HOST_OOM;
        free(path);
        free(text);
        return s;
    }
    char block[1024];
    snprintf(block, sizeof block,
             "  \"quantization_config\": {\n"
             "    \"_load_in_4bit\": true,\n"
             "    \"_load_in_8bit\": false,\n"
             "    \"bnb_4bit_compute_dtype\": \"%s\",\n"
             "    \"bnb_4bit_quant_storage\": \"uint8\",\n"
             "    \"bnb_4bit_quant_type\": \"%s\",\n"
             "    \"bnb_4bit_use_double_quant\": %s,\n"
             "    \"llm_int8_enable_fp32_cpu_offload\": false,\n"
             "    \"llm_int8_has_fp16_weight\": false,\n"
             "    \"llm_int8_skip_modules\": null,\n"
             "    \"llm_int8_threshold\": 6.0,\n"
             "    \"load_in_4bit\": true,\n"
             "    \"load_in_8bit\": false,\n"
             "    \"quant_method\": \"bitsandbytes\"\n"
             "  },\n",
             cfg->torch_dtype[0] ? cfg->torch_dtype : "float32", q4->type == CLFT_DTYPE_FP4 ? "fp4" : "nf4",
             q4->double_quant ? "true" : "false");
    /* insert before the first top-level key that sorts after "quantization_config" */
    clft_sbuf b;
    clft_sbuf_init(&b);
    int done = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        if (!done && !strncmp(line, "  \"", 3) && strncmp(line + 3, "quantization_config", 19) > 0) {
            clft_sbuf_puts(&b, block);
            done = 1;
        }
        if (!done && !strncmp(line, "}", 1)) { /* last key: add a comma to the previous line */
            if (b.len >= 1 && b.data[b.len - 1] == '\n') {
                b.len--;
                clft_sbuf_puts(&b, ",\n");
            }
            clft_sbuf_put(&b, block, strlen(block) - 2);
            clft_sbuf_puts(&b, "\n");
            done = 1;
        }
        clft_sbuf_put(&b, line, len);
        line += len;
    }
    free(text);
    clft_status s = clft_sbuf_status(&b);
    char *path = clft_io_join(dir, "config.json");
    if (!s) s = path ? clft_io_write_atomic(path, b.data, b.len) : CLFT_STATUS_HOST_OOM;
    free(path);
    clft_sbuf_free(&b);
    return s;
}

/* ---- clft quantize ---------------------------------------------------------------------------- */
typedef struct quantize_src {
    const clft_safetensors *st;
} quantize_src;

static clft_status quantize_values(void *user, size_t index, float *dst) {
    const quantize_src *q = user;
    return clft_st_to_f32(q->st, clft_st_at(q->st, index), dst);
}

clft_status clft_model_quantize(const char *src, const char *dst, const clft_quantize_params *params) {
    if (!src || !dst) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_quantize: NULL folder");
    clft_quantize_params p = params ? *params : clft_quantize_default_params();
    if (p.quant_type != CLFT_DTYPE_NF4 && p.quant_type != CLFT_DTYPE_FP4)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "quantize: quant type must be nf4 or fp4");
    clft_model_config cfg;
    clft_safetensors *st = NULL;
    CLFT_CHECK(clft_model_folder_open(src, &cfg, &st));
    clft_status s = CLFT_OK;
    if (cfg.has_quantization_config)
        s = clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: the model is already quantized (%s)", src, cfg.quant_method);
    clft_hf_tensor *list = NULL;
    size_t nlist = 0;
    if (!s) s = clft_hf_tensor_list(&cfg, &list, &nlist);
    /* every tensor of the folder in name order: the projections quantized, the rest copied as it is */
    const size_t nin = clft_st_count(st);
    clft_hf_out *out = clft_calloc(nin ? nin : 1, sizeof *out);
    if (!s && !out) s = CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; i < nin && !s; i++) {
        const clft_st_tensor *t = clft_st_at(st, i);
        int linear = 0;
        for (size_t k = 0; k < nlist && !linear; k++)
            linear = list[k].role == CLFT_ROLE_LINEAR && !strcmp(list[k].name, t->name);
        out[i].name = t->name;
        out[i].dtype = t->dtype;
        out[i].ndim = t->ndim;
        memcpy(out[i].shape, t->shape, sizeof out[i].shape);
        out[i].raw = linear ? NULL : t->data;
        out[i].quantize = linear;
    }
    clft_hf_q4 q4 = {p.quant_type, p.blocksize, p.double_quant};
    quantize_src qs = {st};
    clft_hf_writer *w = NULL;
    /* the packed codes stay in memory (0.52 bytes per parameter): every weight is quantized once */
    if (!s) s = clft_hf_writer_create(out, nin, &q4, 1, quantize_values, &qs, &w);
    if (!s) s = clft_io_prepare_dir(dst, p.force);
    if (!s) s = clft_hf_writer_write(w, dst, p.max_shard_bytes);
    if (!s) s = clft_hf_write_config(dst, &cfg, &q4);
    if (!s) s = clft_io_copy_tokenizer(src, dst);
    if (!s) s = clft_io_copy_if_present(src, dst, "generation_config.json");
    clft_hf_writer_free(w);
    free(out);
    free(list);
    clft_safetensors_free(st);
    return s;
}
