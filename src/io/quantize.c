/* quantize.c - `clft quantize`: a 4-bit copy of a Hugging Face model folder in the layout
 * bitsandbytes saves (FORMATS.md 1.7): every projection weight of the decoder becomes the six
 * tensors of Linear4bit._save_to_state_dict, byte-for-byte what bitsandbytes' CPU path produces
 * for the same weights; embeddings, norms, biases and lm_head keep their dtype; config.json gains
 * the quantization_config block transformers writes; tokenizer and generation files are copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/bnb4.h"
#include "io/io_util.h"
#include "model/config.h"

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

/* config.json as clft writes it (transformers' sorted, indent-2 form) with quantization_config */
static clft_status write_config(const char *dir, const clft_model_config *cfg, const clft_quantize_params *p) {
    char *text = NULL;
    CLFT_CHECK(clft_model_config_to_json(cfg, &text));
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
             cfg->torch_dtype[0] ? cfg->torch_dtype : "float32", p->quant_type == CLFT_DTYPE_FP4 ? "fp4" : "nf4",
             p->double_quant ? "true" : "false");
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
    const size_t nin = clft_st_count(st);
    clft_q4 *qs = clft_calloc(nin, sizeof *qs);
    clft_bnb4_out *desc = clft_calloc(nin, sizeof *desc);
    clft_st_out_tensor *out = clft_calloc(nin * 6, sizeof *out);
    if (!s && (!qs || !desc || !out)) s = CLFT_STATUS_HOST_OOM;
    size_t nout = 0;
    float *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < nin && !s; i++) {
        const clft_st_tensor *t = clft_st_at(st, i);
        int linear = 0;
        for (size_t k = 0; k < nlist && !linear; k++)
            linear = list[k].role == CLFT_ROLE_LINEAR && !strcmp(list[k].name, t->name);
        if (!linear) { /* copied as it is */
            clft_st_out_tensor *o = &out[nout++];
            o->name = t->name;
            o->dtype = t->dtype;
            o->ndim = t->ndim;
            memcpy(o->shape, t->shape, sizeof o->shape);
            o->data = t->data;
            continue;
        }
        s = clft_st_to_f32_reuse(st, t, &buf, &cap);
        if (!s) s = clft_q4_quantize(buf, t->numel, p.quant_type, p.blocksize, p.double_quant, &qs[i]);
        if (!s) s = clft_bnb4_describe(&qs[i], t->name, t->shape[0], t->shape[1], torch_dtype_name(t->dtype), &desc[i]);
        for (int k = 0; !s && k < desc[i].count; k++)
            out[nout++] = desc[i].t[k];
    }
    free(buf);
    if (!s) s = clft_io_prepare_dir(dst, p.force);
    clft_st_kv meta = {"format", "pt"};
    if (!s) s = clft_st_write_model(dst, out, nout, &meta, 1, p.max_shard_bytes, NULL, NULL, NULL);
    if (!s) {
        clft_model_config qcfg = cfg;
        s = write_config(dst, &qcfg, &p);
    }
    if (!s) s = clft_io_copy_tokenizer(src, dst);
    if (!s) s = clft_io_copy_if_present(src, dst, "generation_config.json");
    for (size_t i = 0; qs && i < nin; i++)
        clft_q4_free(&qs[i]);
    free(qs);
    free(desc);
    free(out);
    free(list);
    clft_safetensors_free(st);
    return s;
}
