/* config.h - the model configuration of a Llama-family checkpoint (Llama, Mistral, Qwen2) as read
 * from / written to a Hugging Face config.json, and the HF tensor names and shapes it implies.
 * Implementation: src/io/model_config.c. FORMATS.md section 7 lists the keys and real values. */
#ifndef CLFT_MODEL_CONFIG_H
#define CLFT_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

/* clft_arch, clft_rope_type and clft_model_config are public: see include/clft.h. */

/* public: clft_arch_name in clft.h */            /* "LlamaForCausalLM", ... */
const char *clft_arch_model_type(clft_arch arch); /* "llama", "mistral", "qwen2" */

/* The defaults of the transformers config class of arch (LlamaConfig(), MistralConfig(), Qwen2Config()). */
/* public: clft_model_config_defaults in clft.h */
/* Check the values fit together (positive sizes, heads divisible by kv heads, ...). `what` names the
 * source in messages. */
/* public: clft_model_config_validate in clft.h */

/* Parse config.json text. `what` names the file in messages ("config.json"). Unknown architectures,
 * missing required keys (architectures or model_type, vocab_size, hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads), wrongly typed values and unsupported features (hidden_act
 * other than silu, rope_scaling types other than default/linear/llama3) give CLFT_STATUS_FORMAT naming
 * the file and key. Values the transformers class would default are defaulted the same way. */
clft_status clft_model_config_parse(const char *json, size_t len, const char *what, clft_model_config *cfg);
/* Read DIR/config.json or the named file. */
/* public: clft_model_config_load in clft.h */

/* config.json as transformers' save_pretrained writes it (json.dumps(indent=2, sort_keys=True)+"\n").
 * *out malloc'd. */
clft_status clft_model_config_to_json(const clft_model_config *cfg, char **out);
/* generation_config.json (_from_model_config, bos/eos/pad ids). *out malloc'd. */
clft_status clft_generation_config_to_json(const clft_model_config *cfg, char **out);
/* Write both files into dir (temp + rename). */
clft_status clft_model_config_write(const char *dir, const clft_model_config *cfg);

/* The config of a named preset (clft_model_preset_name(); src/io/model_init.c). NOT_FOUND lists the
 * names when there is no such preset. */
/* public: clft_model_preset_config in clft.h */

/* ---- Hugging Face tensor names ------------------------------------------------------------------ */
typedef enum clft_tensor_role {
    CLFT_ROLE_EMBEDDING = 0, /* model.embed_tokens.weight (vocab, hidden) */
    CLFT_ROLE_LINEAR = 1,    /* a projection weight (out, in) */
    CLFT_ROLE_BIAS = 2,      /* (out) */
    CLFT_ROLE_NORM = 3,      /* RMSNorm weight (hidden) */
    CLFT_ROLE_LM_HEAD = 4    /* lm_head.weight (vocab, hidden), absent when tied */
} clft_tensor_role;

typedef struct clft_hf_tensor {
    char name[96];
    clft_tensor_role role;
    int layer; /* -1 for embed/norm/lm_head */
    int ndim;
    int64_t shape[2];
} clft_hf_tensor;

/* Every tensor of the model in transformers' state_dict order: embed_tokens, per layer q/k/v/o (with
 * biases where the config has them), gate/up/down, input_layernorm, post_attention_layernorm; then
 * model.norm and lm_head unless tied. *out malloc'd (*n entries). */
clft_status clft_hf_tensor_list(const clft_model_config *cfg, clft_hf_tensor **out, size_t *n);
/* Total parameter count (tied lm_head counted once). */
/* public: clft_model_config_num_params in clft.h */

/* Check that st holds every tensor of the config with the right shape and a float dtype (F32, F16,
 * BF16; with quantization_config, linear weights may instead be bitsandbytes 4-bit U8 [(n+1)/2, 1]
 * with their .absmax and .quant_map). A missing tensor gives CLFT_STATUS_NOT_FOUND naming it; a wrong
 * shape CLFT_STATUS_SHAPE_MISMATCH; a wrong dtype CLFT_STATUS_FORMAT. Extra tensors are allowed. */
clft_status clft_model_check_tensors(const clft_model_config *cfg, const clft_safetensors *st);

/* Open a Hugging Face model folder: DIR/config.json into *cfg, its weights (model.safetensors or the
 * shards of model.safetensors.index.json) into *st, and check them with clft_model_check_tensors.
 * *st owned by the caller (clft_safetensors_free); NULL on failure. */
clft_status clft_model_folder_open(const char *dir, clft_model_config *cfg, clft_safetensors **st);

#endif
