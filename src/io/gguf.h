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

#endif
