/* infer_common.h - opening a model for inference in the command line (`clft generate`, `clft eval`,
 * and the samples of `clft train`): the folder's config and tokenizer, an optional PEFT adapter
 * (its rank, alpha, targets, and - for adapters clft trained - the base storage it was trained with,
 * so a QLoRA adapter runs on the NF4 base), an inference-only model on a device. */
#ifndef CLFT_TOOL_INFER_COMMON_H
#define CLFT_TOOL_INFER_COMMON_H

#include "clft.h"

typedef struct infer_opts {
    const char *model;      /* model folder (required) */
    const char *adapter;    /* adapter folder or NULL */
    const char *base_dtype; /* f32|f16|bf16|nf4|fp4 or NULL: the adapter's training storage, else f32 */
    const char *device;     /* device spec or NULL */
    int batch, seq_len;     /* trainer shape (eval); 0: no trainer */
    const char *embed_dtype; /* auto|f32|bf16|f16 storage of the embeddings and head, or NULL (auto: as
                              * clft train chooses for that base) */
} infer_opts;

typedef struct infer_model {
    clft_model_config cfg;
    clft_train_params tp;
    clft_adapter_info adapter; /* valid when opts.adapter */
    int has_adapter;
    clft_tokenizer *tok;
    clft_context *ctx;
    clft_model *model;
    clft_trainer *tr; /* when batch and seq_len were given */
    char storage[48]; /* "f32", "nf4 (QLoRA adapter)", ... for messages */
} infer_model;

/* Parse a --base-dtype value; 0 and an error printed on a bad one. */
int infer_parse_dtype(const char *cmd, const char *s, clft_dtype *out);
/* The host side: config, tokenizer, adapter, the storage and the training parameters (no device;
 * bad input is found before any device work). Returns 0, or an exit code after printing one line
 * "clft CMD: ..." (2 bad input: folders, adapter, dtype). */
int infer_prepare(const char *cmd, const infer_opts *o, infer_model *im);
/* Then the device: context, model, weights, adapter, and a trainer when o->batch. 0 or an exit code
 * (2 a folder or adapter that does not fit, 1 a device or memory failure). infer_close in every case. */
int infer_open(const char *cmd, const infer_opts *o, infer_model *im);
void infer_close(infer_model *im);
/* The EOS ids of DIR/generation_config.json's eos_token_id (int or list) appended to ids[*n] (cap);
 * a missing file adds nothing. */
void infer_generation_eos(const char *dir, int32_t *ids, size_t *n, size_t cap);

#endif
