/* safetensors.h - reading and writing Hugging Face .safetensors files (FORMATS.md section 3).
 *
 * Reader: maps each file read-only, validates the header completely (length, size limit, JSON,
 * dtypes, shapes, offsets contiguous and inside the buffer, byte counts, no duplicates, string
 * metadata) and hands out zero-copy views into the mapping. A sharded model is opened through its
 * model.safetensors.index.json: every shard is opened once and the tensors of all shards form one
 * table sorted by name. Every error message names the file, the tensor or key, and the problem.
 *
 * Writer: produces byte for byte what the Python safetensors library (Rust `prepare`) writes:
 * tensors sorted by dtype (descending enum order) then name, compact header with __metadata__
 * first, padded with spaces to a multiple of 8. Files are written to a temporary name and renamed,
 * so a reader never sees a half-written file. Sharded writing follows huggingface_hub's greedy split
 * and writes the index as json.dumps(indent=2, sort_keys=True) + "\n".
 *
 * The opaque handle is the public clft_safetensors (include/clft.h); this header adds the internal
 * accessors used by the rest of the library.
 */
#ifndef CLFT_IO_SAFETENSORS_H
#define CLFT_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

#define CLFT_ST_MAX_HEADER 100000000ULL /* the reference implementation's limit on N */
#define CLFT_ST_MAX_DIMS   16

/* In the enum order of safetensors/src/tensor.rs: the writer sorts by it (descending). */
typedef enum clft_st_dtype {
    CLFT_ST_BOOL = 0,
    CLFT_ST_F4,
    CLFT_ST_F6_E2M3,
    CLFT_ST_F6_E3M2,
    CLFT_ST_U8,
    CLFT_ST_I8,
    CLFT_ST_F8_E5M2,
    CLFT_ST_F8_E4M3,
    CLFT_ST_F8_E8M0,
    CLFT_ST_F8_E4M3FNUZ,
    CLFT_ST_F8_E5M2FNUZ,
    CLFT_ST_I16,
    CLFT_ST_U16,
    CLFT_ST_F16,
    CLFT_ST_BF16,
    CLFT_ST_I32,
    CLFT_ST_U32,
    CLFT_ST_F32,
    CLFT_ST_C64,
    CLFT_ST_F64,
    CLFT_ST_I64,
    CLFT_ST_U64,
    CLFT_ST_DTYPE_COUNT
} clft_st_dtype;

const char *clft_st_dtype_name(clft_st_dtype dtype);
/* 1 and *out set when name is one of the spec's dtype strings (case-sensitive), else 0. */
int clft_st_dtype_parse(const char *name, clft_st_dtype *out);
/* Bits per element (4 for F4, 6 for F6_*, 8 ... 64). */
int clft_st_dtype_bits(clft_st_dtype dtype);
/* Map to the engine's element types (F32, F16, BF16, U8, I32); 0 when there is no equivalent. */
int clft_st_dtype_to_clft(clft_st_dtype dtype, clft_dtype *out);
int clft_st_dtype_from_clft(clft_dtype dtype, clft_st_dtype *out);

/* A zero-copy view of one tensor. Pointers stay valid until the clft_safetensors is freed. */
typedef struct clft_st_tensor {
    const char *name;
    clft_st_dtype dtype;
    int ndim;
    int64_t shape[CLFT_ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* little-endian, C order; not aligned beyond 1 byte in general */
    size_t bytes;
    uint64_t begin; /* data_offsets relative to the file's data buffer */
    int file;       /* index of the file (shard) holding it */
} clft_st_tensor;

/* Open a .safetensors file, a model.safetensors.index.json, or a folder (which uses its
 * model.safetensors.index.json if present, else model.safetensors). *out owned: clft_safetensors_free. */
clft_status clft_st_open(const char *path, clft_safetensors **out);
/* Parse and validate an in-memory file image (header + buffer) without copying it. `label` names
 * it in error messages; `data` must outlive the handle. Used by the fuzzer and by tests. */
clft_status clft_st_open_memory(const char *label, const void *data, size_t size, clft_safetensors **out);

size_t clft_st_count(const clft_safetensors *st);
/* Tensors in name order (bytewise). */
const clft_st_tensor *clft_st_at(const clft_safetensors *st, size_t index);
/* NULL when absent (no error recorded). */
const clft_st_tensor *clft_st_find(const clft_safetensors *st, const char *name);
/* As clft_st_find but records CLFT_STATUS_NOT_FOUND naming the tensor and the file(s). */
clft_status clft_st_get(const clft_safetensors *st, const char *name, const clft_st_tensor **out);
/* Files (shards) opened, their display names and __metadata__ (may be NULL: no metadata). */
size_t clft_st_file_count(const clft_safetensors *st);
const char *clft_st_file_name(const clft_safetensors *st, int file);
/* Value of a __metadata__ key of a file, NULL when absent. */
const char *clft_st_metadata(const clft_safetensors *st, int file, const char *key);

/* Convert a tensor to float32 (dst holds numel floats). Supports F32, F16, BF16, F64, U8, I8, I16,
 * I32, I64; any other dtype gives CLFT_STATUS_UNSUPPORTED naming the tensor and dtype. */
clft_status clft_st_to_f32(const clft_safetensors *st, const clft_st_tensor *t, float *dst);
/* The same into a caller-owned scratch (*buf, *cap floats) that grows when a tensor is larger: for
 * converting a model's tensors one at a time. Free *buf when done. */
clft_status clft_st_to_f32_reuse(const clft_safetensors *st, const clft_st_tensor *t, float **buf, size_t *cap);

/* ---- writing --------------------------------------------------------------------------------- */
/* Produces `bytes` bytes of tensor `index` starting at byte `offset` into dst. offset and bytes are
 * multiples of the element size (whole tensor at once for sub-byte dtypes). */
typedef clft_status (*clft_st_fill_fn)(void *user, size_t index, uint64_t offset, void *dst, size_t bytes);

typedef struct clft_st_out_tensor {
    const char *name;
    clft_st_dtype dtype;
    int ndim;
    int64_t shape[CLFT_ST_MAX_DIMS];
    const void *data; /* the bytes; NULL: obtained from the fill callback */
} clft_st_out_tensor;

typedef struct clft_st_kv {
    const char *key;
    const char *value;
} clft_st_kv;

/* Byte size of a tensor (numel * bits / 8); 0 and an error when it overflows or is not a whole
 * number of bytes. */
clft_status clft_st_out_bytes(const clft_st_out_tensor *t, uint64_t *bytes);

/* Build the header exactly as Python safetensors does, padded to a multiple of 8. *header is
 * malloc'd (clft_malloc); *order receives the tensor indices in file order (malloc'd, n entries). */
clft_status clft_st_build_header(const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta, size_t nmeta,
                                 char **header, size_t *header_len, size_t **order);

/* Write one file (temp + rename). `fill` may be NULL when every tensor has data. Duplicate names
 * are refused. */
clft_status clft_st_write_file(const char *path, const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta,
                               size_t nmeta, clft_st_fill_fn fill, void *user);

/* The whole file image in memory (8-byte length, header, data; every tensor must have data):
 * *out malloc'd (free), *len its size. */
clft_status clft_st_build_image(const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta, size_t nmeta,
                                void **out, size_t *len);

/* Write a model's weights into dir: "model.safetensors" when the total is at most max_shard_bytes
 * (0: 5,000,000,000 as huggingface_hub), else "model-0000i-of-0000n.safetensors" split greedily in
 * the given order plus model.safetensors.index.json. Every file gets `meta`. fill's index refers to
 * the `tensors` array. *nshards (may be NULL) receives the number of files. */
clft_status clft_st_write_model(const char *dir, const clft_st_out_tensor *tensors, size_t n, const clft_st_kv *meta,
                                size_t nmeta, uint64_t max_shard_bytes, clft_st_fill_fn fill, void *user, int *nshards);

#endif
