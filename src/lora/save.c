/* save.c - clft_model_save_pretrained: a device model as a Hugging Face model folder (what `clft
 * train --method full` writes, and a merged LoRA/QLoRA model): every weight read back as f32
 * (dequantized for a 4-bit base), adapters merged in fp32 on the host (merge.c), stored in F32, F16
 * or BF16 through the weight writer shared with clft quantize and clft export (io_util.h). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/io_util.h"
#include "lora/lora.h"
#include "model/model.h"

int clft_lora_target_of(const char *name, int *layer) {
    int l = -1, off = 0;
    if (sscanf(name, "model.layers.%d.%n", &l, &off) != 1 || off == 0 || l < 0) return -1;
    for (int t = 0; t < CLFT_LORA_NT; t++) {
        char w[96];
        snprintf(w, sizeof w, "%s.%s.weight", CLFT_LORA_BLOCK[t], CLFT_LORA_PROJ[t]);
        if (!strcmp(name + off, w)) {
            *layer = l;
            return t;
        }
    }
    return -1;
}

clft_status clft_lora_outs(const clft_hf_tensor *list, size_t n, clft_st_dtype dtype, int quantize, clft_hf_out **out) {
    clft_hf_out *o = clft_calloc(n ? n : 1, sizeof *o);
    *out = o;
    if (!o) return CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; i < n; i++) {
        o[i].name = list[i].name;
        o[i].dtype = dtype;
        o[i].ndim = list[i].ndim;
        o[i].shape[0] = list[i].shape[0];
        o[i].shape[1] = list[i].shape[1];
        o[i].quantize = quantize && list[i].role == CLFT_ROLE_LINEAR;
    }
    return CLFT_OK;
}

clft_status clft_lora_folder_files(const char *dir, const char *src, const clft_model_config *cfg, clft_dtype dtype,
                                   const clft_hf_q4 *q4) {
    clft_model_config c = *cfg;
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s",
             dtype == CLFT_DTYPE_BF16  ? "bfloat16"
             : dtype == CLFT_DTYPE_F16 ? "float16"
                                       : "float32");
    c.has_quantization_config = 0;
    c.quant_method[0] = '\0';
    CLFT_CHECK(clft_hf_write_config(dir, &c, q4));
    char *gen = src ? clft_io_join(src, "generation_config.json") : NULL;
    const int copy_gen = gen && access(gen, F_OK) == 0;
    free(gen);
    if (copy_gen) {
        CLFT_CHECK(clft_io_copy_if_present(src, dir, "generation_config.json"));
    } else {
        char *text = NULL, *path = clft_io_join(dir, "generation_config.json");
        clft_status s = path ? clft_generation_config_to_json(&c, &text) : CLFT_STATUS_HOST_OOM;
        if (!s) s = clft_io_write_atomic(path, text, strlen(text));
        free(text);
        free(path);
        CLFT_CHECK(s);
    }
    return src ? clft_io_copy_tokenizer(src, dir) : CLFT_OK;
}

typedef struct save_src {
    clft_model *m;
    const clft_hf_tensor *list;
    float *A, *B;
    size_t acap, bcap;
} save_src;

static clft_status save_values(void *user, size_t index, float *dst) {
    save_src *c = user;
    const clft_hf_tensor *h = &c->list[index];
    const int64_t numel = h->shape[0] * (h->ndim == 2 ? h->shape[1] : 1);
    CLFT_CHECK(clft_model_get_weight(c->m, h->name, dst, numel));
    int layer = -1;
    const int t = h->role == CLFT_ROLE_LINEAR ? clft_lora_target_of(h->name, &layer) : -1;
    if (t < 0) return CLFT_OK;
    const clft_linear *lin = &c->m->layers[layer].lin[t];
    if (!lin->has_lora) return CLFT_OK;
    const size_t na = (size_t)lin->A.n, nb = (size_t)lin->B.n;
    if (na > c->acap) {
        float *p = realloc(c->A, na * 4);
        if (!p) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        c->A = p, c->acap = na;
    }
    if (nb > c->bcap) {
        float *p = realloc(c->B, nb * 4);
        if (!p) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        c->B = p, c->bcap = nb;
    }
    CLFT_CHECK(clft_model_lora_get(c->m, layer, 1u << t, c->A, c->B));
    return clft_lora_merge(dst, NULL, CLFT_ST_F32, c->A, c->B, lin->out, lin->in, lin->r, lin->scale, 0);
}

/* 1 when dir holds a model (config.json or weight files) */
static int holds_model(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        found = !strcmp(n, "config.json") || !strcmp(n, "model.safetensors.index.json") ||
                (!strncmp(n, "model", 5) && len > 12 && !strcmp(n + len - 12, ".safetensors"));
    }
    closedir(d);
    return found;
}

clft_status clft_model_save_pretrained(clft_model *m, const char *dir, clft_dtype dtype, uint64_t max_shard_bytes,
                                       int force) {
    if (!m || !dir) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_save_pretrained: NULL argument");
    clft_st_dtype odt;
    if ((dtype != CLFT_DTYPE_F32 && dtype != CLFT_DTYPE_F16 && dtype != CLFT_DTYPE_BF16) ||
        !clft_st_dtype_from_clft(dtype, &odt))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "save_pretrained: dtype %s (f32, f16 or bf16)",
                          clft_dtype_name(dtype));
    if (!force && holds_model(dir))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s already holds a model (force replaces it)", dir);
    clft_hf_tensor *list = NULL;
    size_t n = 0;
    CLFT_CHECK(clft_hf_tensor_list(&m->cfg, &list, &n));
    clft_hf_out *outs = NULL;
    clft_status s = clft_lora_outs(list, n, odt, 0, &outs);
    save_src src = {m, list, NULL, NULL, 0, 0};
    clft_hf_writer *w = NULL;
    if (!s) s = clft_hf_writer_create(outs, n, NULL, 0, save_values, &src, &w);
    if (!s) s = clft_io_prepare_dir(dir, 1); /* created when missing; stale weight files removed */
    if (!s) s = clft_hf_writer_write(w, dir, max_shard_bytes);
    /* the folder the weights came from: its tokenizer and generation settings */
    char from[4096] = "";
    if (m->source[0]) {
        struct stat sb;
        snprintf(from, sizeof from, "%s", m->source);
        if (stat(from, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            char *slash = strrchr(from, '/');
            if (slash && slash != from)
                *slash = '\0';
            else
                snprintf(from, sizeof from, "%s", slash ? "/" : ".");
        }
    }
    if (!s) s = clft_lora_folder_files(dir, from[0] && strcmp(from, dir) != 0 ? from : NULL, &m->cfg, dtype, NULL);
    if (s) clft_error_prefix(s, "saving the model to %s", dir);
    clft_hf_writer_free(w);
    free(src.A);
    free(src.B);
    free(outs);
    free(list);
    return s;
}
