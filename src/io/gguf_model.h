/* gguf_model.h - a llama.cpp model file as a clft model: the config from its `<arch>.*` and
 * `tokenizer.ggml.*` metadata, the GGUF names of the Hugging Face tensors (FORMATS.md 4.3), and
 * llama.cpp's Q/K row permutation (FORMATS.md 4.4), undone when loading and redone when exporting.
 * Implementation: src/io/gguf_model.c; the weights loader is in src/model/load.c. */
#ifndef CLFT_IO_GGUF_MODEL_H
#define CLFT_IO_GGUF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"
#include "io/gguf.h"

/* 1 when path names a GGUF file: it ends in ".gguf" or begins with the magic "GGUF" (a folder or
 * an unreadable path: 0). */
int clft_gguf_is_model_file(const char *path);

/* The model config of an opened GGUF (general.architecture llama, mistral or qwen2; others refused
 * by name). Required: <arch>.block_count, embedding_length, feed_forward_length,
 * attention.head_count; optional with transformers' defaults: attention.head_count_kv,
 * attention.layer_norm_rms_epsilon, rope.freq_base, context_length, vocab_size (else the length of
 * tokenizer.ggml.tokens, else token_embd.weight's rows), attention.key_length (head_dim; value_length
 * must equal it), rope.dimension_count (must equal head_dim), rope.scaling.type none/linear
 * (+ factor). tie_word_embeddings when there is no output.weight; Qwen2 q/k/v biases; BOS, EOS and
 * PAD from tokenizer.ggml.bos_token_id / eos_token_id / padding_token_id. Refused by name: mixture
 * of experts (expert_count > 0), rope_freqs.weight (Llama-3.1 per-dimension rope factors), other rope
 * scaling types, Qwen2 sliding windows. Errors name the file and the key. */
clft_status clft_gguf_model_config(const clft_gguf *g, clft_model_config *cfg);
/* Open path and read its config (what clft_model_config_load does for a GGUF path). */
clft_status clft_gguf_config_load(const char *path, clft_model_config *cfg);

/* The GGUF name of a Hugging Face tensor name of the config (model.embed_tokens.weight ->
 * token_embd.weight, model.layers.N.self_attn.q_proj.weight -> blk.N.attn_q.weight, ...,
 * lm_head.weight -> output.weight). 0 and out = "" when the name has no GGUF counterpart. */
int clft_gguf_name_from_hf(const char *hf, char *out, size_t cap);

/* The row permutation of q_proj / k_proj for arch llama (and mistral): HF rows h*hd + i and
 * h*hd + hd/2 + i (i < hd/2) become GGUF rows h*hd + 2i and h*hd + 2i + 1, hd = rows / n_head
 * (n_head: head_count for q, head_count_kv for k). Applied in place to `rows` rows of row_bytes
 * bytes each (f32 values, or whole rows of GGUF blocks); tmp holds rows / n_head * row_bytes bytes.
 * to_gguf 1: HF -> GGUF (export); 0: GGUF -> HF (loading). rows must be a multiple of 2 * n_head. */
void clft_gguf_permute_qk(void *data, int64_t rows, size_t row_bytes, int64_t n_head, int to_gguf, void *tmp);
/* 1 when the Q/K rows of a GGUF of this general.architecture are permuted (llama, mistral; not qwen2). */
int clft_gguf_arch_permutes_qk(const char *arch);

#endif
