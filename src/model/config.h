/* config.h - the model configuration of a Llama-family checkpoint (Llama, Mistral, Qwen2) as read
 * from / written to a Hugging Face config.json, and the HF tensor names and shapes it implies.
 * Implementation: src/io/model_config.c. FORMATS.md section 7 lists the keys and real values. */
#ifndef CLFT_MODEL_CONFIG_H
#define CLFT_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

typedef enum clft_arch {
    CLFT_ARCH_LLAMA = 0,   /* LlamaForCausalLM, model_type "llama" */
    CLFT_ARCH_MISTRAL = 1, /* MistralForCausalLM, model_type "mistral" */
    CLFT_ARCH_QWEN2 = 2    /* Qwen2ForCausalLM, model_type "qwen2": q/k/v biases */
} clft_arch;

typedef enum clft_rope_type {
    CLFT_ROPE_NONE = 0,   /* plain RoPE ("default" or no rope_scaling) */
    CLFT_ROPE_LLAMA3 = 1, /* Llama-3.1 frequency-dependent scaling */
    CLFT_ROPE_LINEAR = 2  /* positions divided by factor */
} clft_rope_type;

#define CLFT_CONFIG_MAX_EOS 8

typedef struct clft_model_config {
    clft_arch arch;
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t num_layers;   /* num_hidden_layers */
    int64_t num_heads;    /* num_attention_heads */
    int64_t num_kv_heads; /* num_key_value_heads (default num_heads; Mistral's class default 8) */
    int64_t head_dim;     /* config head_dim, else hidden_size / num_heads */
    double rms_norm_eps;
    double rope_theta;
    struct {
        clft_rope_type type;
        double factor;
        double low_freq_factor;  /* llama3 */
        double high_freq_factor; /* llama3 */
        int64_t original_max_position_embeddings; /* llama3 */
    } rope_scaling;
    int64_t max_position_embeddings;
    int tie_word_embeddings;
    int attention_bias; /* Llama: bias on q/k/v/o; Qwen2 always has q/k/v bias (qkv_bias below) */
    int qkv_bias;       /* derived: 1 for Qwen2, or attention_bias */
    int o_bias;         /* derived: attention_bias for Llama/Mistral, 0 for Qwen2 */
    int mlp_bias;
    int64_t sliding_window;    /* 0: none. Qwen2: only when use_sliding_window is true */
    int64_t max_window_layers; /* Qwen2: layers with index >= this use the sliding window */
    int64_t bos_token_id;      /* -1: none */
    int64_t eos_token_ids[CLFT_CONFIG_MAX_EOS];
    int n_eos;
    int64_t pad_token_id; /* -1: none */
    double initializer_range;
    char torch_dtype[16]; /* "float32", "float16", "bfloat16" or "" when absent */
    int has_quantization_config;
    char quant_method[32]; /* quantization_config.quant_method ("bitsandbytes"), "" when absent */
} clft_model_config;

const char *clft_arch_name(clft_arch arch);       /* "LlamaForCausalLM", ... */
const char *clft_arch_model_type(clft_arch arch); /* "llama", "mistral", "qwen2" */

/* The defaults of the transformers config class of arch (LlamaConfig(), MistralConfig(), Qwen2Config()). */
void clft_model_config_defaults(clft_arch arch, clft_model_config *cfg);
/* Check the values fit together (positive sizes, heads divisible by kv heads, ...). `what` names the
 * source in messages. */
clft_status clft_model_config_validate(const clft_model_config *cfg, const char *what);

/* Parse config.json text. `what` names the file in messages ("config.json"). Unknown architectures,
 * missing required keys (architectures or model_type, vocab_size, hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads), wrongly typed values and unsupported features (hidden_act
 * other than silu, rope_scaling types other than default/linear/llama3) give CLFT_STATUS_FORMAT naming
 * the file and key. Values the transformers class would default are defaulted the same way. */
clft_status clft_model_config_parse(const char *json, size_t len, const char *what, clft_model_config *cfg);
/* Read DIR/config.json or the named file. */
clft_status clft_model_config_load(const char *path, clft_model_config *cfg);

/* config.json as transformers' save_pretrained writes it (json.dumps(indent=2, sort_keys=True)+"\n").
 * *out malloc'd. */
clft_status clft_model_config_to_json(const clft_model_config *cfg, char **out);
/* generation_config.json (_from_model_config, bos/eos/pad ids). *out malloc'd. */
clft_status clft_generation_config_to_json(const clft_model_config *cfg, char **out);
/* Write both files into dir (temp + rename). */
clft_status clft_model_config_write(const char *dir, const clft_model_config *cfg);

/* The config of a named preset (clft_model_preset_name(); src/io/model_init.c). NOT_FOUND lists the
 * names when there is no such preset. */
clft_status clft_model_preset_config(const char *name, clft_model_config *cfg);

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
int64_t clft_model_config_num_params(const clft_model_config *cfg);

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
