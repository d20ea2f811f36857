/* gguf.h - reading and writing GGUF v3 files (llama.cpp's model format; FORMATS.md section 4).
 *
 * Reader: maps the file read-only and validates it completely before handing anything out: magic,
 * version (2 or 3), counts against the file size, every metadata key and value (types, string and
 * array lengths inside the file, nesting), tensor infos (name length, n_dims <= 4, each ne >= 1, the
 * product of ne not overflowing, ne[0] a multiple of the type's block size, offset a multiple of the
 * alignment, data inside the file, no duplicate names), general.alignment (a power of two).
 * Metadata and tensor views are zero-copy pointers into the mapping, valid until clft_gguf_free.
 * Every error names the file, the key or tensor and the problem.
 *
 * Writer: builds a file in memory order (header, metadata, tensor infos, padding, data, each tensor
 * padded to the alignment), written to a temporary name and renamed.
 *
 * Block formats (ggml-common.h): see ggml.c in src/quant (dequantization of every supported type to
 * f32, the plain-C twin of the native-storage kernels, and quantization to Q8_0 / Q4_0 / Q4_1).
 */
#ifndef CLFT_IO_GGUF_H
#define CLFT_IO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

/* metadata value types (gguf.h enum gguf_type) */
typedef enum clft_gguf_vtype {
    CLFT_GGUF_UINT8 = 0,
    CLFT_GGUF_INT8 = 1,
    CLFT_GGUF_UINT16 = 2,
    CLFT_GGUF_INT16 = 3,
    CLFT_GGUF_UINT32 = 4,
    CLFT_GGUF_INT32 = 5,
    CLFT_GGUF_FLOAT32 = 6,
    CLFT_GGUF_BOOL = 7,
    CLFT_GGUF_STRING = 8,
    CLFT_GGUF_ARRAY = 9,
    CLFT_GGUF_UINT64 = 10,
    CLFT_GGUF_INT64 = 11,
    CLFT_GGUF_FLOAT64 = 12,
    CLFT_GGUF_VTYPE_COUNT
} clft_gguf_vtype;

/* tensor data types (ggml.h enum ggml_type); only the ones listed here are read */
typedef enum clft_ggml_type {
    CLFT_GGML_F32 = 0,
    CLFT_GGML_F16 = 1,
    CLFT_GGML_Q4_0 = 2,
    CLFT_GGML_Q4_1 = 3,
    CLFT_GGML_Q5_0 = 6,
    CLFT_GGML_Q5_1 = 7,
    CLFT_GGML_Q8_0 = 8,
    CLFT_GGML_Q2_K = 10,
    CLFT_GGML_Q3_K = 11,
    CLFT_GGML_Q4_K = 12,
    CLFT_GGML_Q5_K = 13,
    CLFT_GGML_Q6_K = 14,
    CLFT_GGML_BF16 = 30
} clft_ggml_type;

#define CLFT_GGUF_MAX_DIMS          4
#define CLFT_GGUF_DEFAULT_ALIGNMENT 32

/* One metadata entry. For arrays, `type` is CLFT_GGUF_ARRAY, `elem` the element type and `count`
 * the number of elements; `data` points at the first value (for a string: its bytes, length in
 * `count`; for an array of numbers: the packed little-endian values; for an array of strings use
 * clft_gguf_arr_str). */
typedef struct clft_gguf_kv {
    const char *key; /* NUL-terminated copy */
    clft_gguf_vtype type;
    clft_gguf_vtype elem; /* arrays only */
    uint64_t count;       /* arrays: elements; strings: bytes; scalars: 1 */
    const void *data;
} clft_gguf_kv;

typedef struct clft_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    clft_ggml_type type;
    int ndim;
    int64_t ne[CLFT_GGUF_MAX_DIMS]; /* ne[0] fastest-varying (= torch shape reversed); unused = 1 */
    int64_t numel;
    uint64_t offset;  /* relative to the start of the data section */
    const void *data; /* into the mapping */
    size_t bytes;
} clft_gguf_tensor;

typedef struct clft_gguf clft_gguf;

/* Open and validate a .gguf file. *out owned: clft_gguf_free. */
clft_status clft_gguf_open(const char *path, clft_gguf **out);
/* The same over an in-memory image (data must outlive the handle); `label` names it in errors. */
clft_status clft_gguf_open_memory(const char *label, const void *data, size_t size, clft_gguf **out);
void clft_gguf_free(clft_gguf *g);
const char *clft_gguf_path(const clft_gguf *g);
uint32_t clft_gguf_version(const clft_gguf *g);
uint32_t clft_gguf_alignment(const clft_gguf *g);

size_t clft_gguf_kv_count(const clft_gguf *g);
const clft_gguf_kv *clft_gguf_kv_at(const clft_gguf *g, size_t i); /* file order */
const clft_gguf_kv *clft_gguf_find(const clft_gguf *g, const char *key); /* NULL when absent */

/* Typed getters: CLFT_STATUS_NOT_FOUND when absent (error names file and key), CLFT_STATUS_FORMAT
 * when the value has another type (integers convert between integer types when the value fits). */
clft_status clft_gguf_get_str(const clft_gguf *g, const char *key, const char **s, size_t *len);
clft_status clft_gguf_get_i64(const clft_gguf *g, const char *key, int64_t *v);
clft_status clft_gguf_get_f64(const clft_gguf *g, const char *key, double *v); /* f32, f64 or integer */
clft_status clft_gguf_get_bool(const clft_gguf *g, const char *key, int *v);
/* Arrays: element i of an array kv of strings, integers or floats. */
clft_status clft_gguf_arr_str(const clft_gguf_kv *kv, uint64_t i, const char **s, size_t *len);
int64_t clft_gguf_arr_i64(const clft_gguf_kv *kv, uint64_t i); /* any integer or bool element type */
double clft_gguf_arr_f64(const clft_gguf_kv *kv, uint64_t i);  /* any numeric element type */

size_t clft_gguf_tensor_count(const clft_gguf *g);
const clft_gguf_tensor *clft_gguf_tensor_at(const clft_gguf *g, size_t i); /* file order */
const clft_gguf_tensor *clft_gguf_tensor_find(const clft_gguf *g, const char *name);

/* A tensor to f32 (dst holds numel floats); every type of clft_ggml_type. */
clft_status clft_gguf_to_f32(const clft_gguf *g, const clft_gguf_tensor *t, float *dst);


/* ---- writer (gguf_write.c) -----------------------------------------------------------------------
 * Metadata and tensor infos are collected first (keys and tensors in the order added, as gguf-py's
 * GGUFWriter and ggml's gguf_write_to_file keep them), then the file is written in one pass through
 * a temporary name (clft_io_afile: fsync, rename): header, metadata, tensor infos, zero padding to
 * the alignment, and each tensor's data padded to the alignment (the last one too). A tensor's bytes
 * come from the caller's pointer or, when that is NULL, from a callback asked for the whole tensor
 * while writing, so a model converted tensor by tensor never sits in memory as a whole. The bytes
 * equal those of gguf-py's GGUFWriter for the same keys and tensors in the same order. */
typedef struct clft_gguf_writer clft_gguf_writer;

/* *out owned: clft_gguf_writer_free. Alignment 32 until clft_gguf_set_alignment. */
clft_status clft_gguf_writer_create(clft_gguf_writer **out);
void clft_gguf_writer_free(clft_gguf_writer *w);

/* Metadata. A key added twice, an empty key or one over 65535 bytes is refused
 * (CLFT_STATUS_INVALID_ARGUMENT naming it). Scalars: `value` points at one value of `type`
 * (uint8_t for BOOL; not STRING or ARRAY). */
clft_status clft_gguf_add_scalar(clft_gguf_writer *w, const char *key, clft_gguf_vtype type, const void *value);
clft_status clft_gguf_add_u32(clft_gguf_writer *w, const char *key, uint32_t v);
clft_status clft_gguf_add_i32(clft_gguf_writer *w, const char *key, int32_t v);
clft_status clft_gguf_add_f32(clft_gguf_writer *w, const char *key, float v);
clft_status clft_gguf_add_bool(clft_gguf_writer *w, const char *key, int v);
clft_status clft_gguf_add_str(clft_gguf_writer *w, const char *key, const char *s);
/* A string of n bytes (not NUL-terminated, may hold any bytes). */
clft_status clft_gguf_add_strn(clft_gguf_writer *w, const char *key, const char *s, size_t n);
/* An array of `count` numbers or bools of type elem, packed little-endian in data. */
clft_status clft_gguf_add_arr(clft_gguf_writer *w, const char *key, clft_gguf_vtype elem, const void *data,
                              uint64_t count);
/* An array of strings: strs[i] of lens[i] bytes (lens NULL: NUL-terminated). */
clft_status clft_gguf_add_arr_str(clft_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                  uint64_t count);
/* A copy of a metadata entry read by clft_gguf_open (any type; arrays of strings too). */
clft_status clft_gguf_add_kv(clft_gguf_writer *w, const clft_gguf_kv *kv);
/* general.alignment (u32) added at this point and used for the layout (a power of two, 8..2^20). */
clft_status clft_gguf_set_alignment(clft_gguf_writer *w, uint32_t alignment);

/* A tensor: ne[0] fastest-varying (torch shape reversed), ndim 1..4, ne[0] a multiple of the type's
 * block. data: its clft_ggml_row_bytes(type, ne[0]) * rows bytes, which must outlive the writer; NULL:
 * asked from the callback while writing. Names over 63 bytes and duplicates are refused. */
clft_status clft_gguf_add_tensor(clft_gguf_writer *w, const char *name, clft_ggml_type type, int ndim,
                                 const int64_t *ne, const void *data);
size_t clft_gguf_writer_tensor_count(const clft_gguf_writer *w);
/* bytes of tensor i in the file (without padding) */
size_t clft_gguf_writer_tensor_bytes(const clft_gguf_writer *w, size_t i);

/* Fills dst with the `bytes` bytes of tensor `index` (the order of clft_gguf_add_tensor). */
typedef clft_status (*clft_gguf_fill_fn)(void *user, size_t index, void *dst, size_t bytes);
/* Write the file (temp + fsync + rename; path is replaced when it exists: callers check first).
 * fill may be NULL when every tensor has data. On failure nothing is left at path. */
clft_status clft_gguf_writer_write(clft_gguf_writer *w, const char *path, clft_gguf_fill_fn fill, void *user);


/* The tokenizer.* metadata of a Hugging Face model folder's tokenizer.json and tokenizer_config.json
 * (gguf_vocab.c): byte-level BPE as "gpt2" with tokenizer.ggml.pre, SentencePiece BPE as "llama";
 * tokens padded to cfg->vocab_size, BOS/EOS/PAD from cfg, add_bos/add_eos from tokenizer_config.json
 * or the post-processor, the chat template from tokenizer_config.json. A pre-tokenizer llama.cpp has
 * no name for is refused (UNSUPPORTED). */
clft_status clft_gguf_add_hf_tokenizer(clft_gguf_writer *w, const char *dir, const clft_model_config *cfg);

#endif
