/* io_util.h - small helpers shared by the io writers: a growable byte buffer, JSON string and number
 * formatting that match Python's json.dumps (ensure_ascii, float repr) and serde_json, whole-file
 * reading, atomic (temp + rename) writing, path joining. */
#ifndef CLFT_IO_UTIL_H
#define CLFT_IO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"
#include "io/safetensors.h"

typedef struct clft_sbuf {
    char *data; /* NUL-terminated while ok */
    size_t len, cap;
    int failed; /* an allocation failed: every later append is a no-op */
} clft_sbuf;

void clft_sbuf_init(clft_sbuf *b);
void clft_sbuf_free(clft_sbuf *b);
void clft_sbuf_put(clft_sbuf *b, const void *data, size_t n);
void clft_sbuf_puts(clft_sbuf *b, const char *s);
void clft_sbuf_printf(clft_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* CLFT_STATUS_HOST_OOM (recorded) when an append failed, else CLFT_OK. */
clft_status clft_sbuf_status(const clft_sbuf *b);

/* A JSON string literal as Python's json.dumps writes it (ensure_ascii=True: non-ASCII as \uXXXX
 * with surrogate pairs; invalid UTF-8 bytes as \u00XX). */
void clft_json_py_string(clft_sbuf *b, const char *s);
/* A JSON string literal as serde_json writes it (UTF-8 kept, only '"', '\\' and controls escaped). */
void clft_json_serde_string(clft_sbuf *b, const char *s);
/* A float as Python's repr() (shortest round trip: 1e-05, 0.02, 10000.0, 1000000.0, 1e+16). */
void clft_json_py_float(clft_sbuf *b, double v);

/* Read a whole file; *out is NUL-terminated and malloc'd; *size excludes the NUL. */
clft_status clft_io_read_file(const char *path, char **out, size_t *size);
/* Map a regular file read-only (MAP_PRIVATE); an empty file gives base NULL, size 0. munmap(base, size). */
clft_status clft_io_map_file(const char *path, const uint8_t **base, size_t *size);
/* Write bytes to path through a temporary file in the same folder, then rename it into place. */
clft_status clft_io_write_atomic(const char *path, const void *data, size_t size);
/* A file written in pieces through a temporary name in the same folder (PATH.tmp.XXXXXX): opened,
 * appended to, then committed (fsync, rename into place, fsync of the folder) or aborted (removed).
 * Until commit, path is untouched; after a failure or a kill, at most the temporary file is left. */
typedef struct clft_io_afile {
    int fd;          /* -1 when closed */
    char *tmp;       /* the temporary name (malloc'd) */
    const char *path; /* the final name (the caller's string, must outlive the handle) */
    uint64_t written;
} clft_io_afile;
clft_status clft_io_afile_open(clft_io_afile *f, const char *path);
clft_status clft_io_afile_write(clft_io_afile *f, const void *data, size_t n);
clft_status clft_io_afile_commit(clft_io_afile *f);
/* Close and remove the temporary file (a no-op after commit or on a zeroed handle with fd -1). */
void clft_io_afile_abort(clft_io_afile *f);

/* Last path component. */
const char *clft_io_basename(const char *path);
/* dir + "/" + name, malloc'd (NULL and HOST_OOM recorded on failure). */
char *clft_io_join(const char *dir, const char *name);
/* 1 when path is an existing directory. */
int clft_io_is_dir(const char *path);

/* Create a model folder (mkdir -p); refuse a non-empty one unless force, which first removes stale
 * model*.safetensors and index files (model_init.c). */
clft_status clft_io_prepare_dir(const char *dir, int force);
/* Copy src_dir/name to dst_dir/name (temp + rename) when it exists; a missing file is not an error. */
clft_status clft_io_copy_if_present(const char *src_dir, const char *dst_dir, const char *name);
/* Copy the tokenizer files (tokenizer.json, tokenizer_config.json, ...) present in src to dir. */
clft_status clft_io_copy_tokenizer(const char *src, const char *dir);

/* ---- model weights written one tensor at a time (quantize.c) -----------------------------------
 * Shared by clft_model_quantize, clft_export_merged and clft_model_save_pretrained: each tensor is a
 * raw copy, f32 values from a callback stored as F32/F16/BF16 (round to nearest even), or a
 * projection weight stored as bitsandbytes 4-bit (the six tensors of bnb4.h, byte-exact with
 * bitsandbytes). Host memory stays near one tensor: the 4-bit state (absmax, quant_state) of every
 * quantized weight is computed in a first pass (it decides the header), the packed codes again
 * while writing (or kept from the first pass, see keep_packed). */
typedef struct clft_hf_out {
    const char *name;
    clft_st_dtype dtype; /* stored dtype (F32, F16, BF16 for values; any for raw); for a 4-bit weight the
                          * dtype whose torch name goes into its quant_state ("bfloat16", ...) */
    int ndim;
    int64_t shape[CLFT_ST_MAX_DIMS];
    const void *raw; /* bytes copied as they are; NULL: values from the callback */
    int quantize;    /* 1: stored as bitsandbytes 4-bit (a 2-d weight) */
} clft_hf_out;
/* The f32 values of tensor `index` (numel of its shape) into dst. */
typedef clft_status (*clft_hf_values_fn)(void *user, size_t index, float *dst);
typedef struct clft_hf_q4 {
    clft_dtype type; /* CLFT_DTYPE_NF4 or CLFT_DTYPE_FP4 */
    int blocksize;
    int double_quant;
} clft_hf_q4;
typedef struct clft_hf_writer clft_hf_writer;
/* Check the tensors and run the 4-bit pass (q4 may be NULL when nothing is quantized). keep_packed:
 * keep the packed codes of that pass in memory (about 0.5 byte per quantized parameter) instead of
 * quantizing every weight again while writing. The arrays and the callback's state must outlive the
 * writer. *out owned: clft_hf_writer_free. */
clft_status clft_hf_writer_create(const clft_hf_out *tensors, size_t n, const clft_hf_q4 *q4, int keep_packed,
                                  clft_hf_values_fn values, void *user, clft_hf_writer **out);
/* model.safetensors (or shards + index, clft_st_write_model) with metadata {"format": "pt"} in dir. */
clft_status clft_hf_writer_write(clft_hf_writer *w, const char *dir, uint64_t max_shard_bytes);
void clft_hf_writer_free(clft_hf_writer *w);
/* config.json (clft_model_config_to_json) into dir, with transformers' bitsandbytes
 * quantization_config block when q4 is not NULL (bnb_4bit_compute_dtype = cfg->torch_dtype). */
clft_status clft_hf_write_config(const char *dir, const clft_model_config *cfg, const clft_hf_q4 *q4);

#endif
