/* infer_common.c - see infer_common.h. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "infer_common.h"
#include "train_config.h"

int infer_parse_dtype(const char *cmd, const char *s, clft_dtype *out) {
    if ((int)(*out = train_config_dtype(s)) >= 0) return 1;
    cli_usage_error(cmd, "--base-dtype '%s': use f32, f16, bf16 (LoRA storage), nf4, fp4 (QLoRA) or q8_0, q4_0, q4_1 "
                         "(GGUF blocks)", s);
    return 0;
}

static int is_4bit(clft_dtype d) { return d == CLFT_DTYPE_NF4 || d == CLFT_DTYPE_FP4; }

int infer_prepare(const char *cmd, const infer_opts *o, infer_model *im) {
    memset(im, 0, sizeof *im);
    clft_status st = clft_model_config_load(o->model, &im->cfg);
    if (st != CLFT_OK) return cli_usage_error(cmd, "--model %s: %s", o->model, clft_last_error());
    st = clft_tokenizer_load(o->model, &im->tok);
    if (st != CLFT_OK) return cli_usage_error(cmd, "--model %s: no usable tokenizer: %s", o->model, clft_last_error());
    /* storage: the flag, else how the adapter was trained, else a 4-bit folder as stored, else f32 */
    clft_dtype dt = CLFT_DTYPE_F32;
    int have_dt = 0;
    if (o->base_dtype && !strcmp(o->base_dtype, "native")) { /* --base-storage native: the file's blocks */
        st = clft_gguf_native_dtype(o->model, &dt);
        if (st != CLFT_OK) return cli_usage_error(cmd, "--base-storage native: %s", clft_last_error());
        have_dt = 1;
    } else if (o->base_dtype) {
        if (!infer_parse_dtype(cmd, o->base_dtype, &dt)) return 2;
        have_dt = 1;
    }
    int blocksize = 64, dq = 1;
    if (o->adapter) {
        st = clft_adapter_info_read(o->adapter, &im->adapter);
        if (st != CLFT_OK) return cli_usage_error(cmd, "--adapter %s: %s", o->adapter, clft_last_error());
        im->has_adapter = 1;
        if (im->adapter.from_clft && !have_dt) {
            dt = im->adapter.base_dtype;
            have_dt = 1;
        }
        if (im->adapter.from_clft && im->adapter.method == CLFT_METHOD_QLORA) {
            blocksize = im->adapter.qlora_blocksize;
            dq = im->adapter.qlora_double_quant;
        }
    }
    if (!have_dt && im->cfg.has_quantization_config) dt = CLFT_DTYPE_NF4; /* a bitsandbytes folder: its 4-bit */
    const int q4 = is_4bit(dt);
    im->tp = clft_train_default_params(q4 ? CLFT_METHOD_QLORA : CLFT_METHOD_LORA);
    im->tp.inference = 1;
    im->tp.base_dtype = dt;
    im->tp.qlora_blocksize = blocksize;
    im->tp.qlora_double_quant = dq;
    im->tp.lora.targets = 0;
    if (im->has_adapter) {
        im->tp.lora = im->adapter.lora;
        im->tp.lora.dropout = 0.0f;
    }
    if (o->embed_dtype && o->embed_dtype[0] && strcmp(o->embed_dtype, "auto")) {
        const clft_dtype e = train_config_dtype(o->embed_dtype);
        if (e != CLFT_DTYPE_F32 && e != CLFT_DTYPE_BF16 && e != CLFT_DTYPE_F16)
            return cli_usage_error(cmd, "--embed-dtype '%s': use auto, f32, bf16 or f16", o->embed_dtype);
        im->tp.embed_dtype = (int)e;
    }
    if (o->batch > 0) {
        im->tp.batch = o->batch;
        im->tp.seq_len = o->seq_len;
    }
    snprintf(im->storage, sizeof im->storage, "%s%s", clft_dtype_name(dt),
             im->has_adapter ? (q4 ? " base, QLoRA adapter" : " base, LoRA adapter") : "");
    clft_memory_plan plan;
    st = clft_memory_plan_compute(&im->cfg, &im->tp, &plan);
    if (st != CLFT_OK) return cli_usage_error(cmd, "%s", clft_last_error());
    return 0;
}

int infer_open(const char *cmd, const infer_opts *o, infer_model *im) {
    clft_status st;
    clft_context_params cp = clft_context_default_params();
    cp.device = o->device;
    if ((st = clft_context_create(&cp, &im->ctx)) != CLFT_OK ||
        (st = clft_model_create(im->ctx, &im->cfg, &im->tp, &im->model)) != CLFT_OK ||
        (st = clft_model_load_weights(im->model, o->model)) != CLFT_OK)
        return st == CLFT_STATUS_NOT_FOUND || st == CLFT_STATUS_SHAPE_MISMATCH || st == CLFT_STATUS_FORMAT ||
                       st == CLFT_STATUS_NO_DEVICE
                   ? cli_usage_error(cmd, "%s", clft_last_error())
                   : cli_fail(cmd, st);
    if (im->has_adapter && (st = clft_model_load_adapter(im->model, o->adapter)) != CLFT_OK)
        return st == CLFT_STATUS_HOST_OOM || st == CLFT_STATUS_DEVICE_OOM || st == CLFT_STATUS_OPENCL
                   ? cli_fail(cmd, st)
                   : cli_usage_error(cmd, "--adapter %s: %s", o->adapter, clft_last_error());
    if (o->batch > 0 && (st = clft_trainer_create(im->model, &im->tr)) != CLFT_OK) return cli_fail(cmd, st);
    return 0;
}

void infer_close(infer_model *im) {
    clft_trainer_free(im->tr);
    clft_model_free(im->model);
    clft_context_free(im->ctx);
    clft_tokenizer_free(im->tok);
    memset(im, 0, sizeof *im);
}

void infer_generation_eos(const char *dir, int32_t *ids, size_t *n, size_t cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[65536];
    const size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "eos_token_id");
    if (cJSON_IsNumber(e) && *n < cap) ids[(*n)++] = (int32_t)e->valuedouble;
    if (cJSON_IsArray(e))
        for (const cJSON *x = e->child; x; x = x->next)
            if (cJSON_IsNumber(x) && *n < cap) ids[(*n)++] = (int32_t)x->valuedouble;
    cJSON_Delete(j);
}
