/* clft.h - the one public header of clft, a vendor-neutral LLM fine-tuning engine on OpenCL.
 *
 * C11, no OpenCL types, clft_ prefix, opaque handles. Every fallible function returns clft_status
 * (CLFT_OK == 0) and gives results through out-parameters; clft_last_error() holds the detailed
 * message of the last failure on the calling thread. The library never exits, aborts or prints:
 * logging goes through clft_set_log_callback(). Every _create / _load function has a _free accepting NULL.
 * Parameter structs come with clft_*_default_params(); fields are only ever added at the end.
 */
#ifndef CLFT_H
#define CLFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLFT_VERSION_MAJOR  0
#define CLFT_VERSION_MINOR  1
#define CLFT_VERSION_PATCH  0
#define CLFT_VERSION_NUMBER (CLFT_VERSION_MAJOR * 10000 + CLFT_VERSION_MINOR * 100 + CLFT_VERSION_PATCH)

#if defined(_WIN32) && defined(CLFT_SHARED_BUILD)
#define CLFT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLFT_API __attribute__((visibility("default")))
#else
#define CLFT_API
#endif

/* ---- status codes: values are pinned once released; groups of 100 ---------------------------- */
typedef enum clft_status {
    CLFT_OK = 0,
    /* argument */
    CLFT_STATUS_INVALID_ARGUMENT = 100,
    CLFT_STATUS_NOT_FOUND = 101,      /* a named thing (device, tensor, key) does not exist */
    CLFT_STATUS_SHAPE_MISMATCH = 102, /* shapes do not fit each other or the config */
    /* host memory */
    CLFT_STATUS_HOST_OOM = 200,
    /* device memory */
    CLFT_STATUS_DEVICE_OOM = 300, /* allocation larger than the device allows or has left */
    /* device unsupported */
    CLFT_STATUS_NO_PLATFORM = 400, /* no OpenCL platform (ICD loader without a driver) */
    CLFT_STATUS_NO_DEVICE = 401,   /* no device, or none matching the selection */
    CLFT_STATUS_UNSUPPORTED = 402, /* not supported: a device feature, a model shape, a tokenizer or dtype */
    /* kernel build */
    CLFT_STATUS_KERNEL_BUILD = 500,
    CLFT_STATUS_KERNEL_NOT_FOUND = 501,
    /* OpenCL runtime */
    CLFT_STATUS_OPENCL = 600,
    CLFT_STATUS_BLAS = 601,
    /* I/O */
    CLFT_STATUS_IO = 700,
    /* format */
    CLFT_STATUS_FORMAT = 800,
    /* numerical */
    CLFT_STATUS_NUMERICAL = 900, /* NaN/Inf, or a result outside tolerance in a self-check */
    /* aborted */
    CLFT_STATUS_ABORTED = 1000
} clft_status;

/* Static text for a status code (never NULL). */
CLFT_API const char *clft_status_string(clft_status status);
/* Detailed message of the last failure on this thread ("" if none). Valid until the next call
 * into clft on this thread. */
CLFT_API const char *clft_last_error(void);
CLFT_API const char *clft_version_string(void);
/* How many processes an MPI launcher (mpirun, mpiexec, srun) started this one among, from the
 * environment it gives its ranks (OMPI_COMM_WORLD_SIZE, PMI_SIZE; 1 with only PMI_RANK/PMIX_RANK);
 * 0 when no launcher started it. The library links no MPI: `clft train` uses this to know whether
 * to join a data-parallel run. */
CLFT_API int clft_mpi_launch_size(void);

/* ---- logging ---------------------------------------------------------------------------------- */
typedef enum clft_log_level {
    CLFT_LOG_ERROR = 0,
    CLFT_LOG_WARN = 1,
    CLFT_LOG_INFO = 2,
    CLFT_LOG_DEBUG = 3
} clft_log_level;
typedef void (*clft_log_fn)(clft_log_level level, const char *message, void *user);
/* Install a process-wide log callback (NULL: silent, the default). Messages above max_level are
 * dropped before formatting. */
CLFT_API void clft_set_log_callback(clft_log_fn fn, void *user, clft_log_level max_level);

/* ---- element types ---------------------------------------------------------------------------- */
typedef enum clft_dtype {
    CLFT_DTYPE_F32 = 0,
    CLFT_DTYPE_F16 = 1,
    CLFT_DTYPE_BF16 = 2,
    CLFT_DTYPE_NF4 = 3, /* bitsandbytes NF4: packed codes + blockwise absmax (optionally double-quantized) */
    CLFT_DTYPE_FP4 = 4, /* bitsandbytes FP4 */
    CLFT_DTYPE_U8 = 5,
    CLFT_DTYPE_I32 = 6,
    /* llama.cpp's GGUF blocks of 32 along a row, kept as such on the device (--base-storage native):
     * Q8_0 int8 codes * f16 scale, Q4_0 (4-bit code - 8) * f16 scale, Q4_1 4-bit code * f16 scale +
     * f16 minimum (FORMATS.md 4.5) */
    CLFT_DTYPE_Q8_0 = 7,
    CLFT_DTYPE_Q4_0 = 8,
    CLFT_DTYPE_Q4_1 = 9
} clft_dtype;
CLFT_API const char *clft_dtype_name(clft_dtype dtype);

/* ---- devices ---------------------------------------------------------------------------------- */
typedef struct clft_device_info {
    int index; /* position in the flattened list of all platforms' devices */
    char platform[128];
    char name[128];
    char vendor[128];
    char type[16]; /* "gpu", "cpu", "accelerator" or "other" */
    char driver_version[64];
    char device_version[128];
    char opencl_c_version[64];
    uint32_t compute_units;
    uint32_t clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_work_group_size;
    int fp16;              /* cl_khr_fp16 advertised (fp16 arithmetic) */
    int fp64;              /* cl_khr_fp64 advertised */
    int subgroups;         /* cl_khr_subgroups or cl_intel_subgroups */
    char extensions[8192]; /* space separated, as the driver reports them */
} clft_device_info;

/* Enumerate every device of every platform. *out is owned by the caller: clft_devices_free().
 * No platform at all gives CLFT_STATUS_NO_PLATFORM with a message saying how to install one. */
CLFT_API clft_status clft_devices_list(clft_device_info **out, size_t *count);
CLFT_API void clft_devices_free(clft_device_info *devices);
/* Pick a device by spec: an index ("0"), a type ("gpu", "cpu", "accelerator") or a case-insensitive
 * substring of the device name ("rx7900"). NULL or "" uses $CLFT_DEVICE, else the first GPU, else
 * the first device. No match gives CLFT_STATUS_NO_DEVICE; the message lists what exists. */
CLFT_API clft_status clft_device_find(const char *spec, int *index);

/* ---- context ---------------------------------------------------------------------------------- */
typedef struct clft_context clft_context;

typedef struct clft_context_params {
    const char *device;    /* device spec as for clft_device_find(); NULL: default */
    const char *cache_dir; /* program binary cache; NULL: $CLFT_CACHE_DIR or the user cache dir */
    int disk_cache;        /* 1 (default): cache compiled programs on disk; 0: memory only */
    int profiling;         /* 1: enable queue profiling (benchmarks); default 0 */
} clft_context_params;

CLFT_API clft_context_params clft_context_default_params(void);
/* Create a context (OpenCL context + in-order queue) on one device. *out owned: clft_context_free. */
CLFT_API clft_status clft_context_create(const clft_context_params *params, clft_context **out);
CLFT_API void clft_context_free(clft_context *ctx);
CLFT_API clft_status clft_context_device_info(const clft_context *ctx, clft_device_info *out);
/* Wait for all queued device work. */
CLFT_API clft_status clft_context_finish(clft_context *ctx);

/* Device memory classes counted by the context's arenas. */
typedef enum clft_mem_class {
    CLFT_MEM_WEIGHTS = 0,   /* frozen weights */
    CLFT_MEM_TRAINABLE = 1, /* trainable weights (and adapters) */
    CLFT_MEM_GRADIENTS = 2,
    CLFT_MEM_OPTIMIZER = 3,
    CLFT_MEM_ACTIVATIONS = 4,
    CLFT_MEM_SCRATCH = 5,
    CLFT_MEM_CLASS_COUNT = 6
} clft_mem_class;
CLFT_API const char *clft_mem_class_name(clft_mem_class cls);

typedef struct clft_mem_stats {
    uint64_t current_bytes[CLFT_MEM_CLASS_COUNT];
    uint64_t peak_bytes[CLFT_MEM_CLASS_COUNT];
    uint64_t current_total;
    uint64_t peak_total;
    uint64_t allocations; /* number of device allocations made since creation */
} clft_mem_stats;
CLFT_API clft_status clft_context_mem_stats(const clft_context *ctx, clft_mem_stats *out);
/* Restart the peak counters from the current allocation (to measure one phase). */
CLFT_API clft_status clft_context_reset_peak(clft_context *ctx);

typedef struct clft_kernel_stats {
    uint32_t programs_built;     /* compiled from source in this process */
    uint32_t programs_from_disk; /* loaded from the on-disk binary cache */
    double build_seconds;        /* wall time spent in building/loading programs */
} clft_kernel_stats;
CLFT_API clft_status clft_context_kernel_stats(const clft_context *ctx, clft_kernel_stats *out);
/* Build the kernel programs now (otherwise each is built on first use), cached in memory for the
 * context and on disk (unless disk_cache is 0) for later processes; runs no self-check. Programs
 * specialised to a model's shapes (attention per head dim) are still built on first use. */
CLFT_API clft_status clft_context_prepare_kernels(clft_context *ctx);

/* ---- self-check --------------------------------------------------------------------------------- */
typedef struct clft_selfcheck_result {
    int checks;   /* number of kernel-vs-reference comparisons run */
    int failures; /* number that were outside tolerance */
    double seconds;
    /* the paths this device takes (what ran is what a test log should say): */
    int fp16;            /* 1: the device advertises cl_khr_fp16 (fp16 arithmetic) */
    int hgemm;           /* CLBlast HGEMM for f16 weights: 1 accurate (the measured GEMM choice may
                          * take it), 0 runs but its probe was less accurate than NMSE 1e-5 (fp16
                          * accumulation: only CLFT_GEMM=hgemm runs it), -1 not available; f16
                          * weights otherwise go through the f32 paths (read with vload_half) */
    double hgemm_nmse;   /* the HGEMM probe's NMSE against fp32 (K = 4096); -1 when it did not run */
    char gemm_paths[64]; /* the GEMM paths compared with the reference, e.g. "tiled clblast fused" */
} clft_selfcheck_result;
/* Run every kernel on small seeded inputs and compare with the plain-C reference. Failures are
 * logged (CLFT_LOG_ERROR) with the kernel, shape and first mismatch; the status is
 * CLFT_STATUS_NUMERICAL if any check failed. */
CLFT_API clft_status clft_selfcheck(clft_context *ctx, clft_selfcheck_result *out);

/* ---- Hugging Face model files: safetensors and model folders (src/io) --------------------------- */
/* A read-only, validated set of safetensors tensors: one file, or every shard of a sharded model.
 * Views point into the mapped files and stay valid until clft_safetensors_free(). */
typedef struct clft_safetensors clft_safetensors;
typedef struct clft_tensor_view {
    const char *name;
    const char *dtype; /* safetensors dtype string: "F32", "F16", "BF16", "U8", "I64", ... */
    int ndim;
    const int64_t *shape; /* ndim entries */
    const void *data;     /* little-endian, C order, zero-copy */
    uint64_t bytes;
} clft_tensor_view;
/* path: a .safetensors file, a model.safetensors.index.json, or a model folder. Every header is
 * validated in full; errors name the file, the tensor or key, and the problem. *out owned. */
CLFT_API clft_status clft_safetensors_open(const char *path, clft_safetensors **out);
CLFT_API void clft_safetensors_free(clft_safetensors *st);
CLFT_API size_t clft_safetensors_count(const clft_safetensors *st);
/* Tensors are in name order. */
CLFT_API clft_status clft_safetensors_tensor(const clft_safetensors *st, size_t index, clft_tensor_view *out);
CLFT_API clft_status clft_safetensors_find(const clft_safetensors *st, const char *name, clft_tensor_view *out);

/* Write a random-initialized Hugging Face model folder (config.json, generation_config.json,
 * model.safetensors or shards + index, tokenizer.json, tokenizer_config.json) that transformers can
 * load. Weights as HF initializes them: normal(0, initializer_range) for linear and embedding
 * weights, ones for norms, zeros for biases; deterministic for a seed. */
typedef struct clft_model_init_params {
    const char *preset;        /* a name from clft_model_preset_name(), or NULL when config_path is set */
    const char *config_path;   /* start from this config.json instead of a preset */
    const char *tokenizer_dir; /* copy the tokenizer files of this folder; NULL: a byte-level tokenizer */
    uint64_t seed;             /* default 0 */
    clft_dtype dtype;          /* CLFT_DTYPE_F32 (default), F16 or BF16 */
    int config_only;           /* 1: write everything except the weights (for planning) */
    int force;                 /* 1: write into a non-empty folder, replacing the files */
    uint64_t max_shard_bytes;  /* shard above this many bytes; 0: 2,000,000,000 */
    int threads;               /* threads generating weights (same output for any count); 0: all cores */
} clft_model_init_params;
CLFT_API clft_model_init_params clft_model_init_default_params(void);
/* dir is created when missing; a non-empty dir is refused (CLFT_STATUS_INVALID_ARGUMENT) unless force,
 * which also removes stale model*.safetensors / index files first. Every file is written to a temporary
 * name and renamed. vocab_size grows to the tokenizer's size when smaller. */
CLFT_API clft_status clft_model_init_write(const char *dir, const clft_model_init_params *params);
/* A 4-bit copy of a model folder in the layout bitsandbytes saves (packed U8 weight, absmax,
 * quant_map, nested_absmax, nested_quant_map, quant_state.bitsandbytes__nf4 per projection; the
 * quantization_config block in config.json), byte-for-byte what bitsandbytes' CPU path writes for
 * the same weights. Embeddings, norms, biases and lm_head keep their dtype. The quantized weights
 * are held in host memory (about 0.52 bytes per parameter) until written. */
typedef struct clft_quantize_params {
    clft_dtype quant_type;    /* CLFT_DTYPE_NF4 (default) or CLFT_DTYPE_FP4 */
    int blocksize;            /* default 64 */
    int double_quant;         /* default 1 (compress_statistics) */
    int force;                /* write into a non-empty folder */
    uint64_t max_shard_bytes; /* 0: 5,000,000,000 */
} clft_quantize_params;
CLFT_API clft_quantize_params clft_quantize_default_params(void);
CLFT_API clft_status clft_model_quantize(const char *src_dir, const char *dst_dir, const clft_quantize_params *params);
/* Preset names ("tiny", "small", "llama-2-7b", ...); NULL past the end. */
CLFT_API const char *clft_model_preset_name(size_t index);

/* ---- model configuration (Llama, Mistral, Qwen2) ------------------------------------------------
 * Read from / written to a Hugging Face config.json (clft_model_config_load in the models API). */
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
        double low_freq_factor;                   /* llama3 */
        double high_freq_factor;                  /* llama3 */
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

/* "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM" */
CLFT_API const char *clft_arch_name(clft_arch arch);
/* The defaults of the transformers config class (LlamaConfig(), MistralConfig(), Qwen2Config()). */
CLFT_API void clft_model_config_defaults(clft_arch arch, clft_model_config *cfg);
/* Check that the values fit together; `what` names the source in messages. */
CLFT_API clft_status clft_model_config_validate(const clft_model_config *cfg, const char *what);
/* Read DIR/config.json or the named file (Llama, Mistral, Qwen2; other architectures are refused). */
CLFT_API clft_status clft_model_config_load(const char *path, clft_model_config *cfg);
/* A named preset ("tiny", "small", "llama-2-7b", ...; see clft_model_preset_name). */
CLFT_API clft_status clft_model_preset_config(const char *name, clft_model_config *cfg);
/* Total parameter count (tied lm_head counted once). */
CLFT_API int64_t clft_model_config_num_params(const clft_model_config *cfg);

/* ---- training core ------------------------------------------------------------------------------
 * One training step (forward, fused chunked cross-entropy, backward, grad-norm clipping, AdamW) of a
 * Llama-family decoder with every op an OpenCL kernel, in three methods. */
typedef enum clft_method {
    CLFT_METHOD_FULL = 0, /* every weight trainable: fp32 master weights and AdamW state */
    CLFT_METHOD_LORA = 1, /* frozen base (f32, f16 or bf16 storage) + low-rank adapters */
    CLFT_METHOD_QLORA = 2 /* frozen NF4 base with double quantization + fp32 adapters */
} clft_method;
CLFT_API const char *clft_method_name(clft_method method);

/* LoRA targets (bit mask) */
#define CLFT_LORA_Q    0x01u
#define CLFT_LORA_K    0x02u
#define CLFT_LORA_V    0x04u
#define CLFT_LORA_O    0x08u
#define CLFT_LORA_GATE 0x10u
#define CLFT_LORA_UP   0x20u
#define CLFT_LORA_DOWN 0x40u
#define CLFT_LORA_ALL  0x7fu

typedef struct clft_lora_params {
    int r;            /* rank (default 8) */
    float alpha;      /* scale = alpha / r (default 16) */
    float dropout;    /* on the adapter input only, in [0, 1) (default 0) */
    int use_rslora;   /* scale = alpha / sqrt(r) */
    uint32_t targets; /* CLFT_LORA_* mask (default all seven) */
} clft_lora_params;

typedef struct clft_train_params {
    clft_method method;
    clft_dtype base_dtype; /* LoRA: f32 (default), f16 or bf16 storage of the frozen projections;
                            * QLoRA: CLFT_DTYPE_NF4 (default) or CLFT_DTYPE_FP4; either method:
                            * CLFT_DTYPE_Q8_0 / Q4_0 / Q4_1 native storage of GGUF blocks (layer
                            * inputs multiples of 32; clft_model_set_blocks stores a file's blocks) */
    int qlora_blocksize;   /* QLoRA: 4-bit block size (default 64; 32..4096, a power of two). Blocks run
                            * over the flattened weight, as in bitsandbytes: they may start mid-row */
    clft_lora_params lora;
    int batch, seq_len;                        /* micro-batch shape the step buffers are planned for */
    float lr, beta1, beta2, eps, weight_decay; /* AdamW (defaults 1e-4, 0.9, 0.999, 1e-8, 0) */
    float max_grad_norm;                       /* clip the global L2 norm (default 1.0; <= 0 disables) */
    int checkpointing;                         /* -1 (default): on for LoRA/QLoRA, off for full; 0 off; 1 on */
    int xent_chunk;                            /* tokens per cross-entropy chunk (default 0: automatic) */
    int max_bad_steps;                         /* consecutive non-finite steps before the trainer stops (default 5) */
    uint64_t seed;                             /* adapter init and dropout (default 42) */
    int qlora_double_quant; /* QLoRA: 1 (default) absmax double-quantized (8-bit, nested blocks of 256)
                             * as bitsandbytes' compress_statistics; 0: f32 absmax per block */
    int inference;          /* 1: nothing is trained - no gradients, no optimizer state (evaluation and
                             * generation): weights and adapters are frozen (full: f32 weights; LoRA/
                             * QLoRA: the base in its storage type, adapters f32); lora.targets may then
                             * be 0 (the base alone). A trainer of such a model evaluates
                             * (clft_trainer_eval_batch*) but refuses to step. Default 0. */
    int embed_dtype;        /* LoRA/QLoRA: storage of the frozen token embeddings and LM head, computed
                             * in f32: -1 (clft_train_default_params) automatic - bf16 under QLoRA and
                             * for GGUF-native bases, the base's type for f16/bf16 LoRA bases, else
                             * f32 -, or a clft_dtype: CLFT_DTYPE_F32 (what zeroed params mean), _BF16,
                             * _F16. Full fine-tuning trains them: f32 only. */
} clft_train_params;
CLFT_API clft_train_params clft_train_default_params(clft_method method);
/* The storage type tp->embed_dtype resolves to (the automatic choice made explicit). */
CLFT_API clft_dtype clft_train_embed_dtype(const clft_train_params *tp);

/* Bytes per memory class that a model + trainer will allocate on the device; computed without a
 * device (for models far larger than the machine). */
typedef struct clft_memory_plan {
    uint64_t bytes[CLFT_MEM_CLASS_COUNT];
    uint64_t total;
    int64_t base_params;      /* parameters of the model */
    int64_t trainable_params; /* parameters updated by the optimizer */
} clft_memory_plan;
CLFT_API clft_status clft_memory_plan_compute(const clft_model_config *cfg, const clft_train_params *tp,
                                              clft_memory_plan *out);

typedef struct clft_model clft_model;
/* Build a model on ctx: allocates weights (storage per method), adapters, gradients and optimizer
 * state; weights start at zero until set or randomized. *out owned: clft_model_free. */
CLFT_API clft_status clft_model_create(clft_context *ctx, const clft_model_config *cfg, const clft_train_params *tp,
                                       clft_model **out);
CLFT_API void clft_model_free(clft_model *model);
/* Adapters as PEFT initializes them: A Kaiming-uniform (bound 1/sqrt(in)), B zero, deterministic
 * for clft_train_params.seed. clft_model_create already does this; call it to start over. */
CLFT_API clft_status clft_model_init_adapters(clft_model *model);
/* Random init as transformers does (normal(0, std) for embeddings and projections, ones for norms,
 * zeros for biases); adapters: A Kaiming-uniform (bound 1/sqrt(in)), B zero. */
CLFT_API clft_status clft_model_init_random(clft_model *model, uint64_t seed, float std);
/* Set a weight by its Hugging Face name ("model.layers.0.self_attn.q_proj.weight", ...) from f32
 * host data (converted to the storage type, quantized to NF4 for QLoRA). */
CLFT_API clft_status clft_model_set_weight(clft_model *model, const char *name, const float *data, int64_t numel);
/* The same from llama.cpp blocks (type CLFT_DTYPE_Q8_0, Q4_0 or Q4_1; bytes = numel / 32 blocks of 34,
 * 18 or 20 bytes, row after row, as in a GGUF file): a frozen projection with native storage (base_dtype
 * Q8_0/Q4_0/Q4_1) keeps them as they are (in this type, also when it differs from base_dtype); any
 * other tensor is dequantized as ggml does and set as with clft_model_set_weight. */
CLFT_API clft_status clft_model_set_blocks(clft_model *model, const char *name, clft_dtype type, const void *data,
                                           size_t bytes);
/* The native storage type (CLFT_DTYPE_Q8_0, Q4_0 or Q4_1) of a GGUF file's projections, taken from
 * blk.0.attn_q.weight, for clft_train_params.base_dtype; CLFT_STATUS_UNSUPPORTED (naming the type)
 * when they are of another type. */
CLFT_API clft_status clft_gguf_native_dtype(const char *path, clft_dtype *out);
/* Load every weight of a Hugging Face model folder (or .safetensors / index file) written for the
 * same config: names and shapes are checked, tensors converted one at a time (host memory stays near
 * one tensor plus the mapped shards) and stored in the model's storage type (NF4 for QLoRA).
 * bitsandbytes 4-bit checkpoints (clft quantize, or saved by bitsandbytes) load directly. */
CLFT_API clft_status clft_model_load_weights(clft_model *model, const char *path);
/* Read a weight back as f32 (dequantized). */
CLFT_API clft_status clft_model_get_weight(clft_model *model, const char *name, float *data, int64_t numel);
/* Adapters of one projection: A (r,in) and B (out,r), f32. target is one CLFT_LORA_* bit. */
CLFT_API clft_status clft_model_lora_get(clft_model *model, int layer, uint32_t target, float *A, float *B);
CLFT_API clft_status clft_model_lora_set(clft_model *model, int layer, uint32_t target, const float *A, const float *B);
/* Gradients of the adapters after clft_trainer_compute_grads. */
CLFT_API clft_status clft_model_lora_grad_get(clft_model *model, int layer, uint32_t target, float *dA, float *dB);
/* Gradient of a weight by HF name (full fine-tuning) after clft_trainer_compute_grads. */
CLFT_API clft_status clft_model_get_weight_grad(clft_model *model, const char *name, float *data, int64_t numel);

typedef struct clft_trainer clft_trainer;
typedef struct clft_step_stats {
    int64_t step;     /* optimizer steps taken so far */
    double loss;      /* mean cross-entropy over the counted tokens */
    double grad_norm; /* global L2 norm before clipping */
    int64_t tokens;   /* counted (label != -100) tokens */
    int skipped;      /* 1: NaN/Inf in the loss or gradients, the update was skipped */
    double seconds;
    /* data-parallel steps (clft_trainer_set_comm): this rank's forward + backward seconds and its
     * labelled targets, and the seconds of the gradient all-reduce (staging copies included) */
    double compute_seconds;
    int64_t local_tokens;
    double comm_seconds;
} clft_step_stats;
/* One micro-batch: row-major (batch, seq_len) host arrays, read during the call only (not kept).
 *   ids        token ids, each in [0, vocab).
 *   labels     Hugging Face labels: unshifted, -100 = ignored. Token t of a row is trained to predict
 *              labels[t+1] of the same row, and only when t+1 lies in the same segment as t (see
 *              segments); every other target is -100, so an example's first label is never predicted
 *              from the previous example's last token.
 *   positions  RoPE position ids, each >= 0; NULL: the index in the row (0 .. seq_len-1). Packed rows
 *              restart them at 0 at each example.
 *   segments   segment (example) ids of packed rows; NULL: the whole row is one segment. Attention
 *              never crosses a segment: key u is visible from query t (u <= t, within the sliding
 *              window) only when segments[u] == segments[t]. Ids need not be contiguous or ordered;
 *              a negative id marks padding: it attends only to itself, is seen by no other token,
 *              predicts nothing, and its label is never a target.
 *   batch, seq_len  must equal the trainer's planned shape (clft_train_params batch and seq_len; the
 *              step buffers and the GEMM and attention scratch are sized for it): pad shorter data
 *              with ids of any valid token, labels -100 and segment -1. Anything else is refused
 *              with CLFT_STATUS_SHAPE_MISMATCH. */
typedef struct clft_batch {
    int32_t *ids, *labels, *positions, *segments; /* read only by the trainer */
    int batch, seq_len;
    /* filled by clft_dataset_next_batch (the trainer ignores them) */
    int rows;             /* rows holding data; the last rows of an epoch's last batch may be padding */
    int max_len;          /* longest row without its trailing padding */
    int64_t tokens;       /* non-padding tokens */
    int64_t label_tokens; /* labels != -100 */
    uint64_t epoch;       /* epoch and index (in the epoch's row order) of the first row */
    uint64_t index;
    int end_of_epoch; /* 1: this batch holds the epoch's last row */
} clft_batch;
/* A trainer for model: allocates every step buffer now (nothing is allocated inside a step). */
CLFT_API clft_status clft_trainer_create(clft_model *model, clft_trainer **out);
CLFT_API void clft_trainer_free(clft_trainer *trainer);
/* One step on a batch: forward, loss (mean over the labelled targets), backward, clipping, AdamW.
 * A non-finite loss or gradient skips the update and is reported in stats; after max_bad_steps in a
 * row the step returns CLFT_STATUS_NUMERICAL. stats may be NULL. */
CLFT_API clft_status clft_trainer_step_batch(clft_trainer *trainer, const clft_batch *batch, clft_step_stats *stats);
/* Forward, loss and gradients without an update (evaluation and checks). loss and logits may be
 * NULL; logits, else (batch, seq_len, vocab). */
CLFT_API clft_status clft_trainer_compute_grads_batch(clft_trainer *trainer, const clft_batch *batch, double *loss,
                                                      float *logits);
/* The same on the planned (batch, seq_len) shape with default positions and one segment per row:
 * ids and labels as in clft_batch. */
CLFT_API clft_status clft_trainer_step(clft_trainer *trainer, const int32_t *ids, const int32_t *labels,
                                       clft_step_stats *stats);
CLFT_API clft_status clft_trainer_compute_grads(clft_trainer *trainer, const int32_t *ids, const int32_t *labels,
                                                double *loss, float *logits);
CLFT_API clft_status clft_trainer_mem_stats(const clft_trainer *trainer, clft_mem_stats *out);
/* One optimizer step over n micro-batches (gradient accumulation): their gradients add up, the loss
 * is the mean over the labelled targets of all n together (as transformers >= 4.46 normalizes by
 * the items of the whole accumulated batch), then one clip and one AdamW update. 4 micro-batches of
 * 1 row give the step of one batch of 4 rows (to fp32 rounding). LoRA dropout draws a new mask per
 * micro-batch. stats->tokens counts the labelled targets of all n. A step without any labelled
 * target is reported skipped (no update, not a bad step). clft_trainer_step_batch is n = 1. */
CLFT_API clft_status clft_trainer_step_accum(clft_trainer *trainer, const clft_batch *micro, int n,
                                             clft_step_stats *stats);
/* Set the AdamW learning rate of the following steps (a schedule calls this before each step:
 * clft_lr_at). */
CLFT_API clft_status clft_trainer_set_lr(clft_trainer *trainer, double lr);
/* Evaluation: forward and loss only (no gradients, no dropout): *loss_sum the sum of the token
 * losses and *tokens the labelled targets, so that a data set's loss is sum / tokens over its
 * batches. Either may be NULL. */
CLFT_API clft_status clft_trainer_eval_batch(clft_trainer *trainer, const clft_batch *batch, double *loss_sum,
                                             int64_t *tokens);
/* The same, plus *correct (may be NULL): the labelled targets whose argmax logit (the first index
 * of the largest value, as torch.argmax) is the target - the next-token accuracy is correct/tokens. */
CLFT_API clft_status clft_trainer_eval_batch_acc(clft_trainer *trainer, const clft_batch *batch, double *loss_sum,
                                                 int64_t *tokens, int64_t *correct);

/* Save the whole training state - trainable weights, AdamW moments, optimizer step, bad-step
 * count; dropout masks follow from the seed and the step - into the checkpoint folder dir
 * (crash-safe, see below), with user_json (may be NULL: the caller's own state, e.g. data-loader
 * position and schedule) stored beside it. */
CLFT_API clft_status clft_trainer_save(clft_trainer *trainer, const char *dir, const char *user_json);
/* Restore a state saved by clft_trainer_save into a trainer of the same model, method and LoRA
 * shape (else CLFT_STATUS_SHAPE_MISMATCH saying what differs; a damaged or truncated checkpoint
 * gives CLFT_STATUS_FORMAT/IO with the reason). *user_json (may be NULL) receives the stored caller
 * state or NULL (clft_free). */
CLFT_API clft_status clft_trainer_load(clft_trainer *trainer, const char *dir, char **user_json);

/* ---- data-parallel training (src/train/dist.c) -----------------------------------------------------
 * A trainer can be one rank of a data-parallel run: every rank holds the whole model, steps on its
 * own share of each global batch, and what must be global is summed through the caller's
 * communicator (the library links no MPI; `clft train` implements it with MPI). With a communicator
 * of size > 1, clft_trainer_step_accum (n may be 0: a rank without rows this step; micro-batches may
 * hold fewer rows than the planned batch) normalizes the loss by the labelled targets of every
 * rank's micro-batches, sums the trainable gradients over the ranks in host float buffers of
 * bucket_bytes (a layer's gradients start their all-reduce once the backward of the step's last
 * micro-batch is done with that layer, while the layers below run), takes the global gradient
 * norm on the host from the summed values (the same on every rank), then clips and steps AdamW as
 * one device would: N ranks x b rows give the update of one device with N x b rows, to fp32
 * summation order. LoRA dropout masks are drawn per rank and micro-batch, so they
 * differ from a single device's. A callback that fails (a dead or hung rank, a timeout) ends the
 * step with its status; the caller stops the run. */
typedef struct clft_comm {
    int rank, size;
    void *user;
    /* start the in-place sum of n floats over every rank; *req names it for allreduce_wait */
    clft_status (*allreduce_start)(void *user, float *data, size_t n, void **req);
    clft_status (*allreduce_wait)(void *user, void *req);
    /* in-place sum of n doubles over every rank (blocking) */
    clft_status (*allreduce_f64)(void *user, double *data, size_t n);
    /* rank 0's bytes to every rank (blocking) */
    clft_status (*broadcast)(void *user, void *data, size_t bytes);
} clft_comm;
/* Attach comm (copied; NULL detaches) to trainer; bucket_bytes 0: 16 MiB. */
CLFT_API clft_status clft_trainer_set_comm(clft_trainer *trainer, const clft_comm *comm, size_t bucket_bytes);
/* Rank 0's trainable weights, AdamW moments, optimizer step and bad-step count to every rank (after
 * a start or a resume on rank 0, and to undo drift between devices that round differently). */
CLFT_API clft_status clft_trainer_broadcast_state(clft_trainer *trainer);

/* ==== adapters and model files for the ecosystem (src/lora) =====================================
 * PEFT LoRA adapters: a folder with adapter_config.json (json.dumps(asdict(LoraConfig), indent=2,
 * sort_keys=True) as PEFT writes it: peft_type LORA, task_type CAUSAL_LM, r, lora_alpha,
 * lora_dropout, target_modules, use_rslora, bias "none", fan_in_fan_out false,
 * base_model_name_or_path, revision, modules_to_save, ...) and adapter_model.safetensors (metadata
 * {"format": "pt"}; tensors base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight (r, in)
 * and ...lora_B.weight (out, r), f32). clft adds how the adapter was trained to the safetensors
 * metadata (keys "clft.*", ignored by PEFT), so that generation, evaluation and export use the base
 * in the storage it was trained with (a QLoRA adapter runs on, and merges into, the NF4 base). */
typedef struct clft_adapter_info {
    clft_lora_params lora; /* r, lora_alpha, lora_dropout, use_rslora, targets (from target_modules) */
    char base_model[4096]; /* base_model_name_or_path ("" when null) */
    char dtype[8];         /* safetensors dtype of the adapter tensors ("F32", "BF16", "F16") */
    int from_clft;         /* 1: the clft.* metadata is there, and the fields below come from it */
    clft_method method;    /* CLFT_METHOD_LORA or CLFT_METHOD_QLORA (0 when not from clft) */
    clft_dtype base_dtype; /* the base's storage during training (f32/f16/bf16, nf4/fp4) */
    int qlora_blocksize;   /* QLoRA: 4-bit block size and double quantization of the base */
    int qlora_double_quant;
} clft_adapter_info;
/* Read and check an adapter folder (written by clft or by PEFT). target_modules is resolved as PEFT
 * does against the module names of a Llama-family model ("model.layers.0.self_attn.q_proj", ...): a
 * list matches a name equal to an entry or ending in "." + entry, a string is a regular expression
 * that must match the whole name (re.fullmatch), "all-linear" is every projection, null is PEFT's
 * default for Llama (q_proj, v_proj); exclude_modules removes names the same way. The tensors must
 * be exactly those of the targets in every layer, rank r, F32/F16/BF16. Refused by name, with
 * CLFT_STATUS_UNSUPPORTED: peft_type other than LORA, task_type other than CAUSAL_LM (or null),
 * use_dora, modules_to_save, layers_to_transform, layers_pattern, rank_pattern/alpha_pattern with
 * entries, bias other than "none", lora_bias, fan_in_fan_out, trainable_token_indices,
 * layer_replication, use_qalora, alora_invocation_tokens, target_parameters, use_bdlora,
 * arrow_config, kasa_config, monteclora_config, init_lora_weights that changes the base (pissa*,
 * olora, corda, loftq), targets outside the seven projections (lm_head, embed_tokens, norms; also
 * when only found as tensors), an adapter that adapts different projections in different layers,
 * adapter_model.bin (pickle) without safetensors. Missing files CLFT_STATUS_IO; malformed JSON or
 * tensors, and tensors that do not match the config, CLFT_STATUS_FORMAT, naming file and key. */
CLFT_API clft_status clft_adapter_info_read(const char *dir, clft_adapter_info *out);
/* Set the model's adapters from an adapter folder: the model must be LoRA/QLoRA with the adapter's
 * rank, targets and scale (create it with clft_adapter_info's lora parameters; scale = alpha/r or
 * alpha/sqrt(r) comes from the adapter), else CLFT_STATUS_INVALID_ARGUMENT saying what differs. A
 * shape that does not fit this model's layers (an adapter for another base) gives
 * CLFT_STATUS_SHAPE_MISMATCH naming the tensor and both shapes; f16/bf16 tensors are widened.
 * Everything is checked before the first adapter is set (a refused load changes nothing). */
CLFT_API clft_status clft_model_load_adapter(clft_model *model, const char *dir);
/* Write the model's adapters as a PEFT adapter folder `dir` (created when missing; each file
 * written to a temporary name and renamed, adapter_config.json last). base_model_name_or_path is the
 * folder the model's weights were loaded from (clft_model_load_weights), else null. PEFT's
 * PeftModel.from_pretrained loads it as its own. */
CLFT_API clft_status clft_model_save_adapter(clft_model *model, const char *dir);
/* Write the model as a Hugging Face model folder `dir` (created when missing; refused with
 * CLFT_STATUS_INVALID_ARGUMENT when it holds a model - config.json or weight files - unless force;
 * other files, such as a training run's, are left alone; every file temp + rename): config.json
 * (torch_dtype = dtype, no quantization_config), generation_config.json (that of the folder the
 * weights were loaded from, else made from the config), model.safetensors or shards of at most
 * max_shard_bytes (0: 5,000,000,000) with model.safetensors.index.json, and the tokenizer files of
 * the folder the weights were loaded from. dtype F32, F16 or BF16 (round to nearest even). Adapters,
 * when the model has them, are merged: W = W0 + scale * B A in fp32 (W0 dequantized for a 4-bit
 * base), the same bytes clft_export_merged writes for the saved adapter. */
CLFT_API clft_status clft_model_save_pretrained(clft_model *model, const char *dir, clft_dtype dtype,
                                                uint64_t max_shard_bytes, int force);

/* Merge an adapter into its base without a device (host only, fp32; rows in threads): every adapted
 * projection W = W0 + scale * B A, where W0 is, for an adapter trained with QLoRA (clft metadata) or
 * a bitsandbytes 4-bit base folder, the dequantized 4-bit weight (a float base quantized as training
 * did: the adapter's 4-bit type, block size and double quantization) - what PEFT's merge computes on
 * a 4-bit model and what clft computes while training and generating. The output holds the tensors
 * of the config: in dtype, or with quantize set the projections as bitsandbytes 4-bit (the layout of
 * clft_model_quantize, quantized from the merged f32 weight, config.json with quantization_config)
 * and the rest in dtype; generation_config.json and the tokenizer files are copied. The adapter is
 * checked against the base (layers, targets, shapes: CLFT_STATUS_SHAPE_MISMATCH naming the tensor
 * and both shapes) before anything is written. out_dir must not exist (unless force; it may not be
 * or hold the base or the adapter): the folder is written as a sibling OUT.tmp-XXXXXX, fsynced and
 * renamed (force: the old folder is moved aside first and removed after), so it is complete or
 * absent, also after a SIGKILL (which may leave the .tmp- sibling). Host memory: about one tensor in
 * f32 (plus the mapped shards); a 4-bit output merges each projection twice (its 4-bit state sizes
 * the file header before the data is written). */
typedef struct clft_export_params {
    clft_dtype dtype;         /* F32 (default), F16 or BF16 */
    clft_dtype quantize;      /* CLFT_DTYPE_F32 (default): no; CLFT_DTYPE_NF4 or CLFT_DTYPE_FP4 */
    int blocksize;            /* quantize: 4-bit block size (default 64) */
    int double_quant;         /* quantize: default 1 */
    int merge_base;           /* -1 (default): from the adapter (QLoRA: the dequantized 4-bit base);
                               * 0: the base weights as stored in the folder; 1: the base quantized to
                               * 4-bit with the adapter's settings (or nf4/64/double quant) and back */
    int force;                /* replace an existing out_dir */
    uint64_t max_shard_bytes; /* 0: 5,000,000,000 */
} clft_export_params;
CLFT_API clft_export_params clft_export_default_params(void);
CLFT_API clft_status clft_export_merged(const char *model_dir, const char *adapter_dir, const char *out_dir,
                                        const clft_export_params *params);

/* Export to llama.cpp's GGUF (src/lora/export_gguf.c; FORMATS.md 4), host only. `model` is a Hugging
 * Face model folder or a .gguf file; the output is one file, written to a temporary name and renamed
 * (complete or absent), refused when it exists unless force.
 *  CLFT_GGUF_EXPORT_ADAPTER: the adapter as a llama.cpp LoRA adapter (general.type "adapter",
 *    adapter.type "lora", adapter.lora.alpha = lora_alpha, times sqrt(r) for rsLoRA since llama.cpp
 *    scales by alpha / r; tensors blk.N.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>
 *    .weight.lora_a (ne [in, r]) and .lora_b (ne [r, out]); for the "llama" architecture (Llama,
 *    Mistral) the rows of B of q and k permuted as llama.cpp's converter permutes the weights) for
 *    `llama-cli -m BASE.gguf --lora FILE`; dtype F32 (default), F16 or BF16.
 *  CLFT_GGUF_EXPORT_MERGED: the merged model (W0 + scale * B A in fp32, as clft_export_merged; adapter
 *    may be NULL: the base converted) as a complete GGUF model: general.* and <arch>.* metadata,
 *    tensors under llama.cpp's names with q/k permuted for "llama", no output.weight when the
 *    embeddings are tied, 1-d tensors f32; dtype F32, F16, BF16, Q8_0 or Q4_0 (Q4_0: the output
 *    weight - token_embd when tied - Q8_0, where llama-quantize picks Q6_K or Q8_0; a row that is not
 *    a whole number of blocks F16, as llama.cpp's converter falls back); the tokenizer metadata
 *    copied from a GGUF base, else made from tokenizer.json (clft_gguf_add_hf_tokenizer). */
typedef enum clft_gguf_export_kind {
    CLFT_GGUF_EXPORT_ADAPTER = 0,
    CLFT_GGUF_EXPORT_MERGED = 1
} clft_gguf_export_kind;
typedef struct clft_gguf_export_params {
    clft_gguf_export_kind kind; /* default ADAPTER */
    clft_dtype dtype;           /* default F32 */
    int merge_base;             /* merged from a model folder: as clft_export_params (default -1) */
    int force;                  /* replace an existing output file */
} clft_gguf_export_params;
CLFT_API clft_gguf_export_params clft_gguf_export_default_params(void);
CLFT_API clft_status clft_export_gguf(const char *model, const char *adapter_dir, const char *out_path,
                                      const clft_gguf_export_params *params);

/* ==== generation (src/model/generate.c, sample.c) =================================================
 * A generator runs a model for inference with a KV cache on the device: the prompt is prefilled in
 * one pass (every token through every layer as one batch, its keys and values written to the
 * cache), then one token per step attends to the cache. LoRA adapters are applied unmerged, on the
 * base in the model's storage (a QLoRA model generates from its NF4 base). It shares the model's
 * weights (also with a trainer attached: it sees the adapters as they are now) and owns the KV
 * cache and its buffers. */
typedef struct clft_generator clft_generator;
typedef struct clft_tokenizer clft_tokenizer; /* the tokenizer API below (C11 allows the repeat) */
typedef struct clft_generator_params {
    int max_context; /* tokens the KV cache holds (prompt + generated); 0 (default): the model's
                      * max_position_embeddings, at most 4096 */
    int max_prefill; /* tokens per prefill pass (sizes the activation buffers); 0 (default):
                      * max_context; longer prompts are prefilled in passes of this size */
} clft_generator_params;
CLFT_API clft_generator_params clft_generator_default_params(void);
/* *out owned: clft_generator_free (before the model). Refuses, with the plan's numbers, a cache that
 * does not fit the device. */
CLFT_API clft_status clft_generator_create(clft_model *model, const clft_generator_params *params,
                                           clft_generator **out);
CLFT_API void clft_generator_free(clft_generator *gen);
/* Empty the cache (the next feed starts at position 0). */
CLFT_API clft_status clft_generator_reset(clft_generator *gen);
/* Tokens in the cache. */
CLFT_API int64_t clft_generator_length(const clft_generator *gen);
/* Append n tokens (positions length .. length+n-1) and compute; logits (may be NULL; vocab floats)
 * receives the next-token logits after the last of them. More than max_context tokens in all:
 * CLFT_STATUS_INVALID_ARGUMENT (the cache is unchanged). */
CLFT_API clft_status clft_generator_feed(clft_generator *gen, const int32_t *ids, size_t n, float *logits);
/* Bytes the generator allocates on the device for a model config and params (no device needed). */
CLFT_API clft_status clft_generator_plan(const clft_model_config *cfg, const clft_train_params *tp,
                                         const clft_generator_params *params, uint64_t *bytes);

/* Sampling, in Hugging Face generate's order: repetition penalty over the previous tokens (a logit
 * l of a token seen before becomes l / penalty when l > 0, l * penalty otherwise), temperature,
 * top-k, top-p (the smallest set of tokens whose probability reaches top_p; at least one), min-p
 * (tokens below min_p times the largest probability go), then a draw. Temperature 0 is greedy: the
 * first index of the largest (penalized) logit, deterministic. */
typedef struct clft_sampling_params {
    float temperature;        /* >= 0; 0: greedy (default 0.8) */
    int top_k;                /* >= 0; 0: off (default 40) */
    float top_p;              /* (0, 1]; 1: off (default 0.95) */
    float min_p;              /* [0, 1]; 0: off (default 0.05) */
    float repetition_penalty; /* > 0; 1: off (default 1) */
    uint64_t seed;            /* the draws (default 0) */
} clft_sampling_params;
CLFT_API clft_sampling_params clft_sampling_default_params(void);
/* CLFT_STATUS_INVALID_ARGUMENT naming the value out of range. */
CLFT_API clft_status clft_sampling_check(const clft_sampling_params *params);
/* The next token from logits (vocab floats, overwritten with the processed scores), given the
 * tokens so far (history, for the repetition penalty; may be NULL when n_history is 0). *rng is the
 * draw state (start it at params->seed; it advances per draw). */
CLFT_API clft_status clft_sample(float *logits, size_t vocab, const int32_t *history, size_t n_history,
                                 const clft_sampling_params *params, uint64_t *rng, int32_t *token);

/* Text generation: the cache is reset, the prompt prefilled, then tokens are drawn until max_tokens,
 * an end token (stop_ids, and the model's EOS ids unless ignore_eos) or a stop string. Text is
 * streamed as it is made: on_text gets each new piece (whole UTF-8 characters; text that could be
 * the start of a stop string is held back until it is not) and may return nonzero to stop. The stop
 * token or string itself is not part of the text. A prompt that does not fit the cache with room
 * for one token: CLFT_STATUS_INVALID_ARGUMENT. */
typedef int (*clft_text_fn)(const char *piece, size_t len, void *user);
typedef struct clft_generate_params {
    clft_sampling_params sampling;
    int max_tokens;          /* >= 1 (default 256) */
    const int32_t *stop_ids; /* extra tokens that end generation (e.g. a chat end of turn) */
    size_t n_stop_ids;
    const char *const *stop_strings; /* texts that end generation */
    size_t n_stop_strings;
    int ignore_eos;   /* 1: the model's EOS does not stop generation */
    int skip_special; /* 1 (default): special tokens are not written to the text */
} clft_generate_params;
CLFT_API clft_generate_params clft_generate_default_params(void);
typedef enum clft_stop_reason {
    CLFT_STOP_MAX_TOKENS = 0,
    CLFT_STOP_TOKEN = 1,    /* an EOS or stop id */
    CLFT_STOP_STRING = 2,   /* a stop string */
    CLFT_STOP_CALLBACK = 3, /* on_text returned nonzero */
    CLFT_STOP_CONTEXT = 4   /* the cache is full */
} clft_stop_reason;
typedef struct clft_generate_result {
    int64_t prompt_tokens, generated_tokens; /* generated: drawn tokens, the stop token included */
    double prefill_seconds, decode_seconds;  /* prompt pass; the generated tokens after the first */
    clft_stop_reason stop_reason;
    int32_t *ids; /* the generated ids (generated_tokens), clft_free */
    char *text;   /* the generated text, NUL-terminated, clft_free */
} clft_generate_result;
/* out may be NULL; otherwise free its arrays with clft_generate_result_free. */
CLFT_API clft_status clft_generate(clft_generator *gen, const clft_tokenizer *tok, const int32_t *prompt,
                                   size_t n_prompt, const clft_generate_params *params, clft_text_fn on_text,
                                   void *user, clft_generate_result *out);
CLFT_API void clft_generate_result_free(clft_generate_result *result);

/* ---- checkpoints (src/io/checkpoint.c) -----------------------------------------------------------
 * A checkpoint is a folder OUT/checkpoint-STEP of zstd-compressed files and a manifest.json (sizes
 * and a checksum per file), written to a temporary folder, fsynced and renamed into place: it is
 * complete or absent, also after a SIGKILL. */
/* Every file listed decompresses to its size and checksum; else the reason (missing manifest,
 * truncated or damaged file) in clft_last_error(). */
CLFT_API clft_status clft_checkpoint_verify(const char *dir);
/* The newest complete checkpoint-STEP folder of out_dir (damaged ones are skipped, with a warning
 * naming the reason): its path in path[cap] and its step; CLFT_STATUS_NOT_FOUND when none. */
CLFT_API clft_status clft_checkpoint_latest(const char *out_dir, char *path, size_t cap, int64_t *step);
/* Remove all but the newest `keep` checkpoint-STEP folders of out_dir; `protect` (a folder name or
 * path, may be NULL: e.g. the best one under early stopping) is never removed nor counted. A folder
 * is renamed before it is emptied (never seen half-removed); leftovers of interrupted saves and
 * removals (checkpoint-STEP.tmp, .old, .deleting) are removed too. */
CLFT_API clft_status clft_checkpoint_prune(const char *out_dir, int keep, const char *protect);

/* ---- learning-rate schedules (src/optim/schedule.c) ----------------------------------------------
 * As transformers' get_scheduler: `step` counts optimizer steps taken before this one (0 for the
 * first update). Linear warmup from 0: lr * step / warmup for step < warmup (so the first update of
 * a warmup uses LR 0, as in transformers). After it, with p = (step - warmup) / (total - warmup):
 *   constant  lr
 *   linear    min_lr + (lr - min_lr) * max(0, 1 - p)
 *   cosine    min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * min(p, 1)))
 * (min_lr 0 gives transformers' "linear" and "cosine"; min_lr > 0 its "cosine_with_min_lr"). */
typedef enum clft_lr_schedule_type {
    CLFT_LR_CONSTANT = 0,
    CLFT_LR_LINEAR = 1,
    CLFT_LR_COSINE = 2
} clft_lr_schedule_type;
typedef struct clft_lr_schedule {
    clft_lr_schedule_type type;
    double lr;            /* peak learning rate (> 0) */
    double min_lr;        /* floor of the decay, in [0, lr] (default 0) */
    int64_t warmup_steps; /* >= 0, < total_steps when the schedule decays */
    int64_t total_steps;  /* optimizer steps of the run (> 0) */
} clft_lr_schedule;
/* "constant", "linear", "cosine"; NULL for an unknown value. */
CLFT_API const char *clft_lr_schedule_name(clft_lr_schedule_type type);
/* Parse a name ("constant", "linear", "cosine"); CLFT_STATUS_INVALID_ARGUMENT naming the choices. */
CLFT_API clft_status clft_lr_schedule_parse(const char *name, clft_lr_schedule_type *out);
/* Check the values; CLFT_STATUS_INVALID_ARGUMENT says which one is wrong. */
CLFT_API clft_status clft_lr_schedule_check(const clft_lr_schedule *s);
/* The learning rate of the update after `step` optimizer steps (0-based; steps past total_steps
 * keep the final value). A schedule that fails clft_lr_schedule_check gives 0. */
CLFT_API double clft_lr_at(const clft_lr_schedule *s, int64_t step);

/* ==== tokenizer (src/tokenizer) ================================================================
 * Hugging Face tokenizer.json with a BPE model: SentencePiece-style (Llama-2, Mistral: byte
 * fallback, "▁") and byte-level (GPT-2, Llama-3, Qwen2/3). tokenizer_config.json next to it (when
 * present) gives BOS/EOS/PAD and add_bos_token/add_eos_token and the chat template
 * (special_tokens_map.json, when present, the BOS/EOS/PAD it leaves unset). A path ending
 * in ".zst" (or a directory holding only tokenizer.json.zst) is decompressed transparently.
 * A loaded tokenizer may be used by several threads at once (its word cache is locked; a call that
 * finds it busy uses a private one). */
typedef struct clft_tokenizer clft_tokenizer;

/* dir_or_file: a directory holding tokenizer.json[.zst] (+ tokenizer_config.json), the path
 * of a tokenizer.json[.zst] file, or a GGUF file (its tokenizer.ggml.* metadata: "gpt2" byte-level
 * and "llama" SentencePiece-style vocabularies, ids as transformers' GGUF tokenizer gives them).
 * *out owned by the caller: clft_tokenizer_free(). Unsupported
 * models (WordPiece, Unigram, ...) give CLFT_STATUS_UNSUPPORTED; malformed files CLFT_STATUS_FORMAT,
 * with the file and the problem in clft_last_error(). */
CLFT_API clft_status clft_tokenizer_load(const char *dir_or_file, clft_tokenizer **out);
/* Same from memory: tokenizer_json (required) and config_json (tokenizer_config.json, or NULL);
 * name is used in error messages. */
CLFT_API clft_status clft_tokenizer_load_from_memory(const char *tokenizer_json, size_t tokenizer_len,
                                                     const char *config_json, size_t config_len, const char *name,
                                                     clft_tokenizer **out);
CLFT_API void clft_tokenizer_free(clft_tokenizer *tok);

/* Encode UTF-8 text (len bytes; need not be NUL-terminated). Added/special tokens written in the
 * text are recognised. add_special: add BOS/EOS as the tokenizer's post-processor and
 * tokenizer_config.json say. *ids owned by the caller: clft_free(). Invalid UTF-8 gives
 * CLFT_STATUS_INVALID_ARGUMENT naming the byte offset. */
CLFT_API clft_status clft_tokenize(const clft_tokenizer *tok, const char *text, size_t len, int add_special,
                                   int32_t **ids, size_t *n);
/* As clft_tokenize, plus the byte span of every token in text: offsets[2*i] = start,
 * offsets[2*i+1] = end (end == start for tokens with no text of their own, e.g. an added BOS or a
 * prepended "▁"). Both arrays owned by the caller: clft_free(). */
CLFT_API clft_status clft_tokenize_offsets(const clft_tokenizer *tok, const char *text, size_t len, int add_special,
                                           int32_t **ids, size_t **offsets, size_t *n);
/* Decode ids to UTF-8 text through the tokenizer's decoder chain (invalid byte sequences become
 * U+FFFD as in Hugging Face tokenizers). skip_special: drop special tokens. *text is
 * NUL-terminated, owned by the caller: clft_free(); *len excludes the NUL (len may be NULL). */
CLFT_API clft_status clft_detokenize(const clft_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                                     char **text, size_t *len);
/* Free memory returned by the tokenizer and chat functions (accepts NULL). */
CLFT_API void clft_free(void *p);

/* Number of ids (max id + 1 over the vocabulary and the added tokens). */
CLFT_API size_t clft_tokenizer_vocab_size(const clft_tokenizer *tok);
/* Token text of an id as stored in the vocabulary (e.g. "ĠHello", "▁Hello", "<0x0A>"), NUL-terminated,
 * owned by the tokenizer; NULL for an unknown id. */
CLFT_API const char *clft_tokenizer_id_to_token(const clft_tokenizer *tok, int32_t id);
/* Id of a token text (vocabulary or added token), or -1. */
CLFT_API int32_t clft_tokenizer_token_to_id(const clft_tokenizer *tok, const char *token);
/* Special token ids, -1 when the tokenizer has none. */
CLFT_API int32_t clft_tokenizer_bos_id(const clft_tokenizer *tok);
CLFT_API int32_t clft_tokenizer_eos_id(const clft_tokenizer *tok);
CLFT_API int32_t clft_tokenizer_pad_id(const clft_tokenizer *tok);
/* 1 if the id is a special added token. */
CLFT_API int clft_tokenizer_is_special(const clft_tokenizer *tok, int32_t id);
/* The chat_template string of tokenizer_config.json, or NULL. */
CLFT_API const char *clft_tokenizer_chat_template(const clft_tokenizer *tok);
/* A 64-bit fingerprint of the tokenizer: a hash of the tokenizer.json and tokenizer_config.json texts
 * and the BOS/EOS/PAD ids (so special_tokens_map.json counts too). Keys caches of tokenized data. */
CLFT_API uint64_t clft_tokenizer_fingerprint(const clft_tokenizer *tok);

/* ---- chat templates (src/tokenizer/chat.c) ----------------------------------------------------
 * Built-in renderers, byte-exact with the Hugging Face Jinja templates they stand for:
 *   chatml        <|im_start|>ROLE\nCONTENT<|im_end|>\n ...        (OpenHermes and other plain ChatML)
 *   qwen2         chatml, plus the default system message when the first message is not a system one
 *   qwen3         Qwen3 (no tools): chatml; assistant turns after the last user message get a think
 *                 block ("<think>\n\n</think>\n\n" when empty, in the mask); role "tool" supported
 *   llama3        Llama-3-Instruct (<|start_header_id|>...; content trimmed; BOS text first)
 *   llama2        Llama-2-chat ([INST] with <<SYS>>; BOS text before every user turn)
 *   mistral       Mistral-7B-Instruct-v0.2 / Mixtral: [INST] u [/INST]a</s>[INST] ... (no system role)
 *   mistral-v0.1  Mistral-7B-Instruct-v0.1: as mistral with "</s> " (a space after EOS)
 *   alpaca        Stanford Alpaca prompt; user = instruction, optional role "input" = input,
 *                 assistant = response followed by EOS; a system message replaces the preamble line
 *   plain         contents one per line; assistant content followed by the EOS text
 * Roles must alternate user/assistant where the real template raises (llama2, mistral*; the error
 * text is the template's); alpaca takes [system] user [input] [assistant]; the mask of llama2 also
 * covers the space it writes between the content and EOS.
 * The rendered text already holds BOS where the template writes it: tokenize it with add_special 0. */
typedef struct clft_chat_message {
    const char *role; /* "system", "user", "assistant" (chatml, qwen2, llama3 take any role text) */
    const char *content;
} clft_chat_message;

/* Render messages with the named template. bos/eos: the token texts ({{ bos_token }},
 * {{ eos_token }}); NULL uses the template family's usual ones. add_generation_prompt: append the
 * assistant header (chatml, qwen2, qwen3, llama3; the others have none). *text (NUL-terminated) and
 * *mask (one byte per text byte: 1 = part of an assistant turn - its content and end-of-turn token
 * text -, 0 = prompt) are owned by the caller: clft_free(); mask may be NULL. Unknown names give
 * CLFT_STATUS_NOT_FOUND listing the built-in ones; role errors CLFT_STATUS_INVALID_ARGUMENT. */
CLFT_API clft_status clft_chat_render(const char *template_name, const clft_chat_message *messages, size_t n,
                                      const char *bos, const char *eos, int add_generation_prompt, char **text,
                                      size_t *len, uint8_t **mask);
/* Render with the template and tokenize the text (add_special 0): *ids and *mask (1 = assistant
 * token, from clft_token_mask_from_bytes) of *n tokens, owned by the caller: clft_free(). BOS/EOS
 * texts are the tokenizer's (bos_token/eos_token), else the family's usual ones. */
CLFT_API clft_status clft_chat_tokenize(const clft_tokenizer *tok, const char *template_name,
                                        const clft_chat_message *messages, size_t n, int add_generation_prompt,
                                        int32_t **ids, uint8_t **mask, size_t *n_tokens);
/* Comma separated names of the built-in templates (static text). */
CLFT_API const char *clft_chat_template_names(void);
/* Recognise a Jinja chat_template string (e.g. clft_tokenizer_chat_template()) as one of the
 * built-in templates; *name is static text. Unknown: CLFT_STATUS_NOT_FOUND. */
CLFT_API clft_status clft_chat_template_detect(const char *jinja, const char **name);
/* The token text that ends an assistant turn of a built-in template ("<|im_end|>" for chatml, qwen2
 * and qwen3, "<|eot_id|>" for llama3), or NULL where the turn ends with the EOS token (llama2,
 * mistral*, alpaca, plain) or the name is unknown. Static text. */
CLFT_API const char *clft_chat_end_of_turn(const char *template_name);
/* Per-token loss mask from a per-byte mask: token i gets 1 when any byte of its span
 * [offsets[2i], offsets[2i+1]) is 1 (an empty span takes the byte at its start). out: n bytes. */
CLFT_API void clft_token_mask_from_bytes(const size_t *offsets, size_t n, const uint8_t *byte_mask, size_t text_len,
                                         uint8_t *out);
/* ==== end tokenizer ============================================================================ */

/* ==== datasets (src/data) =======================================================================
 * Host-side training data: a JSONL file (or .txt/.md files, or a folder of them) tokenized into
 * fixed-size rows of seq_len tokens, served as batches with ids, labels, position ids and segment
 * ids. Formats, detected from the keys of the first valid JSONL line unless params.format forces one:
 *   text        {"text": ...}, and .txt/.md files (one document each) - unsupervised: documents are
 *               tokenized (BOS as the tokenizer adds it), each followed by EOS, concatenated and cut
 *               into full windows of seq_len tokens (the tail that fills no window is left out).
 *               With stride < seq_len windows overlap: the first seq_len - stride tokens of every
 *               window after the first are context only (label -100), so each token is counted once
 *   completion  {"prompt": ..., "completion": ...} - text = prompt + completion (as TRL), BOS as the
 *               tokenizer adds it, EOS appended; loss on the completion (and EOS) only
 *   alpaca      {"instruction": ..., "input": ..., "output": ...} ("input" optional) - rendered with
 *               the built-in "alpaca" chat template, BOS as the tokenizer adds it; loss on the output+EOS
 *   chat        {"messages": [{"role": ..., "content": ...}, ...]} - rendered with the chat template
 *               (params.chat_template, else tokenizer_config.json's chat_template recognised by
 *               clft_chat_template_detect), tokenized as clft_chat_tokenize does; loss on the
 *               assistant turns only (clft_chat_render's byte mask). Roles: system, user, assistant, tool.
 * train_on_prompt puts every token in the loss (any format). Labels follow Hugging Face: unshifted,
 * -100 = ignored; the first token of every example (segment) has label -100, so the shifted loss
 * never predicts one example's first token from the previous one's last.
 * Examples longer than seq_len are cut at the end (or dropped with drop_long); an example left with
 * no labelled token is dropped. Both are counted in the stats.
 * Rows: text windows are full rows (one segment). Other formats: with pack, examples are packed into
 * rows (best-fit decreasing, done once per load); position ids restart at 0 at every example and
 * segment ids number the examples of a row 0, 1, 2, ...; without pack, one example per row. The
 * rest of a row is padding: id = the tokenizer's pad id (else EOS), label -100, segment id -1,
 * position ids counting on from the last token (so an unpacked row has position ids 0..seq_len-1,
 * as transformers uses). Attention must not cross segment ids; a padding token (segment -1) should
 * attend only to itself.
 * Tokenized examples are cached on disk (zstd) under cache_dir/datasets/, keyed by the content of the
 * data file(s), clft_tokenizer_fingerprint() and the settings that change the tokens; a damaged cache
 * file is ignored and rewritten. Every error of a data line reads "FILE:LINE: what is wrong" with
 * CLFT_STATUS_FORMAT (a missing file: CLFT_STATUS_IO); skip_bad_lines skips and counts such lines
 * instead (each logged at CLFT_LOG_WARN). */
typedef enum clft_dataset_format {
    CLFT_DATASET_AUTO = 0, /* detect from the first valid line (.txt/.md: text) */
    CLFT_DATASET_TEXT = 1,
    CLFT_DATASET_COMPLETION = 2,
    CLFT_DATASET_ALPACA = 3,
    CLFT_DATASET_CHAT = 4
} clft_dataset_format;
/* "auto", "text", "completion", "alpaca", "chat" (static text). */
CLFT_API const char *clft_dataset_format_name(clft_dataset_format format);
/* Parse a format name as above; unknown: CLFT_STATUS_INVALID_ARGUMENT listing the names. */
CLFT_API clft_status clft_dataset_format_parse(const char *name, clft_dataset_format *out);

typedef enum clft_dataset_subset {
    CLFT_DATASET_ALL = 0,   /* every example (val_split ignored) */
    CLFT_DATASET_TRAIN = 1, /* the examples not held out by val_split */
    CLFT_DATASET_VAL = 2    /* the held-out examples */
} clft_dataset_subset;

typedef struct clft_dataset_params {
    clft_dataset_format format; /* CLFT_DATASET_AUTO (default) */
    int seq_len;                /* tokens per row (default 512) */
    int stride;                 /* text: tokens between window starts, 1..seq_len; 0 (default): seq_len */
    int pack;                   /* 1: pack several examples per row (not for text); default 0 */
    int train_on_prompt;        /* 1: loss on every token; default 0 */
    int drop_long;              /* 1: drop over-long examples instead of truncating them; default 0 */
    int skip_bad_lines;         /* 1: skip (and count) bad lines instead of failing; default 0 */
    int shuffle;                /* 1 (default): rows in a seeded random order, new every epoch */
    int group_by_length;        /* without pack: batches of similar lengths (seeded); default 1 */
    uint64_t seed;              /* shuffling and the validation split (default 42) */
    const char *chat_template;  /* chat: a built-in template name; NULL (default): the tokenizer's */
    double val_split;           /* fraction of examples held out for validation, [0, 1) (default 0) */
    clft_dataset_subset subset; /* which part to serve (default CLFT_DATASET_ALL) */
    const char *cache_dir;      /* NULL (default): the clft cache folder ($CLFT_CACHE_DIR, ...) */
    int cache;                  /* 1 (default): read and write the on-disk cache; 0: neither */
} clft_dataset_params;
CLFT_API clft_dataset_params clft_dataset_default_params(void);

typedef struct clft_dataset_stats {
    clft_dataset_format format; /* the format used (detected or forced) */
    int64_t lines;              /* non-empty lines (or files) read */
    int64_t skipped_lines;      /* bad lines skipped (skip_bad_lines) */
    int64_t examples;           /* examples (documents for text) in the served subset */
    int64_t rows;               /* rows per epoch */
    int64_t tokens;             /* tokens in the rows, padding excluded */
    int64_t label_tokens;       /* tokens with a label (!= -100) */
    int64_t pad_tokens;         /* padding tokens in the rows */
    int64_t truncated;          /* examples cut to seq_len (whole file) */
    int64_t dropped_long;       /* examples dropped by drop_long (whole file) */
    int64_t dropped_no_labels;  /* examples left without a labelled token (whole file) */
    int64_t unused_tokens;      /* text: tail tokens that fill no window */
    double masked_share;        /* fraction of the (non-padding) tokens with label -100 */
    int cache_hit;              /* 1: the tokens came from the on-disk cache */
    int cache_written;          /* 1: a cache file was written by this load */
    uint64_t cache_key;         /* the cache key (also the cache file name) */
    char first_skipped[512];    /* message of the first skipped line ("" if none) */
} clft_dataset_stats;

/* Batches (clft_batch, defined with the trainer API above) come from clft_dataset_next_batch: start
 * from a zeroed struct; it (re)allocates the arrays it needs (reusing them while the shape stays)
 * and fills the loader fields; clft_batch_free releases them. */
CLFT_API void clft_batch_free(clft_batch *batch);

/* Where the loader is: the next row is row `index` of epoch `epoch`'s order. Save it with a
 * checkpoint and set it back to resume; the order depends on the seed, the epoch and (when grouping
 * by length) batch_size, so resume with the same settings. */
typedef struct clft_dataset_position {
    uint64_t epoch;
    uint64_t index;
} clft_dataset_position;

typedef struct clft_dataset clft_dataset;
/* Load path (a .jsonl file, a .txt/.md file, or a folder of .txt/.md files, read recursively in
 * name order) with tok. params NULL: defaults. *out owned by the caller: clft_dataset_free().
 * tok is only used while loading. An empty dataset is CLFT_STATUS_FORMAT. */
CLFT_API clft_status clft_dataset_load(const char *path, const clft_tokenizer *tok, const clft_dataset_params *params,
                                       clft_dataset **out);
CLFT_API void clft_dataset_free(clft_dataset *ds);
CLFT_API clft_status clft_dataset_get_stats(const clft_dataset *ds, clft_dataset_stats *out);
/* Rows per epoch, and batches per epoch for a batch size (the last one may be partly padding). */
CLFT_API int64_t clft_dataset_rows(const clft_dataset *ds);
CLFT_API int64_t clft_dataset_batches_per_epoch(const clft_dataset *ds, int batch_size);
/* The next batch_size rows; an epoch's last batch ends at its last row (padding rows fill it up) and
 * the following call starts the next epoch. */
CLFT_API clft_status clft_dataset_next_batch(clft_dataset *ds, int batch_size, clft_batch *batch);
CLFT_API clft_status clft_dataset_get_position(const clft_dataset *ds, clft_dataset_position *out);
CLFT_API clft_status clft_dataset_set_position(clft_dataset *ds, const clft_dataset_position *pos);
/* ==== end datasets ============================================================================= */

#ifdef __cplusplus
}
#endif
#endif /* CLFT_H */
