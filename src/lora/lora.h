/* lora.h - internal interface of src/lora: PEFT adapter folders read and checked (peft.c), the fp32
 * merge W = W0 + scale * (B @ A) over row ranges in threads (merge.c), shared by the adapter loader,
 * clft_model_save_pretrained (save.c) and clft_export_merged (export.c). Formats: FORMATS.md 2.4. */
#ifndef CLFT_LORA_LORA_H
#define CLFT_LORA_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "model/config.h"

#define CLFT_LORA_NT 7 /* q, k, v, o, gate, up, down: bit t of a CLFT_LORA_* mask */

/* "q_proj", ... and the block they sit in ("self_attn" / "mlp"), by target index. */
extern const char *const CLFT_LORA_PROJ[CLFT_LORA_NT];
extern const char *const CLFT_LORA_BLOCK[CLFT_LORA_NT];

/* The PEFT version whose adapter_config.json key set clft writes (the "peft_version" value). */
#define CLFT_PEFT_VERSION "0.21.2"

/* An adapter folder opened and checked: its config, the mapped adapter_model.safetensors and the
 * tensors of every (layer, target). */
typedef struct clft_adapter {
    clft_adapter_info info;
    char config_path[4200];  /* DIR/adapter_config.json (messages) */
    char weights_path[4200]; /* DIR/adapter_model.safetensors */
    int64_t nlayers;         /* layers checked: 0 .. nlayers-1 */
    uint32_t targets;        /* CLFT_LORA_* mask, the same in every layer */
    double scale;            /* alpha / r, or alpha / sqrt(r) with use_rslora */
    clft_safetensors *st;
    const clft_st_tensor *(*ab)[CLFT_LORA_NT][2]; /* [layer][target][0: lora_A, 1: lora_B]; NULL when not adapted */
} clft_adapter;

/* Open DIR: parse adapter_config.json (refusing what clft cannot run, see clft_adapter_info_read),
 * resolve target_modules against the module names of a Llama-family model with nlayers layers (0:
 * as many as the tensors hold) and check that adapter_model.safetensors holds exactly those
 * tensors, float dtypes and rank r. *out owned: clft_adapter_close. */
clft_status clft_adapter_open(const char *dir, int64_t nlayers, clft_adapter **out);
void clft_adapter_close(clft_adapter *a);
/* Every tensor's shape against a model config: CLFT_STATUS_SHAPE_MISMATCH naming the tensor and both
 * shapes (an adapter made for another base), also when the config has other layer counts. */
clft_status clft_adapter_check_config(const clft_adapter *a, const clft_model_config *cfg);
/* lora_A (r, in) and lora_B (out, r) of one projection widened to f32 (either may be NULL). */
clft_status clft_adapter_get(const clft_adapter *a, int64_t layer, int target, float *A, float *B);

/* Write an adapter folder dir (created when missing): adapter_model.safetensors - the lora_A (r, in)
 * and lora_B (out, r) F32 tensors of every layer of cfg and every target, their bytes from fill in the
 * order layer, target (q, k, v, o, gate, up, down), A then B; metadata {"format": "pt"} and the
 * clft.* keys - then adapter_config.json as PEFT writes it. Each file temp + rename. */
typedef struct clft_adapter_write_params {
    clft_lora_params lora;  /* r, alpha, dropout, use_rslora, targets */
    const char *base_model; /* base_model_name_or_path; NULL: null */
    clft_method method;     /* clft.method: LORA or QLORA */
    clft_dtype base_dtype;  /* clft.base_dtype */
    int qlora_blocksize, qlora_double_quant;
    const clft_model_config *cfg; /* layers and projection sizes */
} clft_adapter_write_params;
clft_status clft_adapter_write(const char *dir, const clft_adapter_write_params *p, clft_st_fill_fn fill, void *user);

/* (in, out) of projection t of a config. */
void clft_lora_proj_dims(const clft_model_config *cfg, int t, int64_t *in, int64_t *out);

/* W (out, in) = W0 + scale * (B @ A) with B (out, r), A (r, in), all f32 row-major: for each row the
 * product is accumulated in f32 over k = 0 .. r-1, multiplied by scale, then added (PEFT's
 * get_delta_weight order). W0 comes from `src` in dtype src_dtype (F32, F16, BF16; NULL: W already
 * holds W0). Rows are split over threads (0: every core); B may be NULL (no adapter: W = W0). */
clft_status clft_lora_merge(float *W, const void *src, clft_st_dtype src_dtype, const float *A, const float *B,
                            int64_t out, int64_t in, int64_t r, float scale, int threads);

/* ---- model folders (save.c) ---- */
/* The projection index of a Hugging Face weight name ("model.layers.N.<block>.<proj>.weight") and
 * its layer in *layer; -1 for any other name. */
int clft_lora_target_of(const char *name, int *layer);
/* The tensors of a config (clft_hf_tensor_list) as weight-writer entries stored in dtype, the
 * projections as 4-bit when quantize. *out malloc'd. */
clft_status clft_lora_outs(const clft_hf_tensor *list, size_t n, clft_st_dtype dtype, int quantize, clft_hf_out **out);
/* The files of a model folder beside its weights, into dir: config.json (cfg with torch_dtype of
 * dtype, quantization_config when q4), generation_config.json (src's when it has one, else made from
 * cfg) and the tokenizer files of src (NULL: none). */
clft_status clft_lora_folder_files(const char *dir, const char *src, const clft_model_config *cfg, clft_dtype dtype,
                                   const clft_hf_q4 *q4);


/* ---- the merged weights of a base folder (export.c; used by clft_export_merged and export_gguf.c) --
 * A Hugging Face model folder opened with an adapter (NULL: none), checked against each other, and
 * the f32 values of every tensor of clft_hf_tensor_list(cfg) computed one at a time: W0 + scale * B A
 * for the adapted projections, W0 chosen by merge_base as in clft_export_params. *out owned:
 * clft_merge_src_close. */
typedef struct clft_merge_src clft_merge_src;
/* *p (*cap floats) grown by realloc to hold at least n floats; CLFT_STATUS_HOST_OOM when it cannot */
clft_status clft_lora_grow(float **p, size_t *cap, size_t n);
clft_status clft_merge_src_open(const char *model_dir, const char *adapter_dir, int merge_base, clft_merge_src **out);
const clft_model_config *clft_merge_src_config(const clft_merge_src *m);
const clft_adapter *clft_merge_src_adapter(const clft_merge_src *m); /* NULL without an adapter */
const clft_hf_tensor *clft_merge_src_tensors(const clft_merge_src *m, size_t *n);
/* tensor `index` of clft_merge_src_tensors as f32 (its numel floats) into dst */
clft_status clft_merge_src_values(clft_merge_src *m, size_t index, float *dst);
void clft_merge_src_close(clft_merge_src *m);

#endif
