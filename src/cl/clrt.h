/* clrt.h - internal OpenCL runtime: the context structure, device caps, programs and kernels
 * (built from embedded or on-disk sources, cached in memory and on disk), and device buffers
 * allocated through per-class arenas. Used by src/ops and above; never exposed in clft.h. */
#ifndef CLFT_CLRT_H
#define CLFT_CLRT_H

#include <CL/cl.h>

#include "core/core.h"

/* Device capabilities, probed once at context creation. */
typedef struct clft_caps {
    clft_device_info info;
    int cl_c_major, cl_c_minor; /* OpenCL C version the compiler accepts */
    int is_cpu, is_gpu;
    int vendor_nvidia, vendor_amd, vendor_intel, vendor_pocl, is_oclgrind;
    size_t max_wg;
    cl_uint mem_base_align_bytes;
} clft_caps;

typedef struct clft_program_entry {
    char file[64];
    char *options; /* user -D options (the composed full options are derived) */
    cl_program program;
    struct clft_kernel_entry *kernels;
    size_t nkernels, capkernels;
} clft_program_entry;

typedef struct clft_prof clft_prof; /* profile.c */

typedef struct clft_kernel_entry {
    char name[96];
    cl_kernel kernel;
} clft_kernel_entry;

struct clft_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    clft_caps caps;
    char cache_dir[1024];
    int disk_cache;
    int profiling;
    /* programs */
    clft_program_entry *programs;
    size_t nprograms, capprograms;
    clft_kernel_stats kstats;
    /* arenas */
    clft_mem_stats mem;
    /* Oclgrind only: released buffers are kept until the context goes (see arena.c) */
    cl_mem *deferred;
    size_t ndeferred, capdeferred;
    /* CLBlast state */
    int blas_ready;
    /* per-kernel device time when profiling (profile.c); NULL until first used */
    clft_prof *prof;
};

/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *clft_cl_error_name(cl_int err);
/* Record an OpenCL failure: "<what>: <CL_ERROR_NAME> (<code>)". */
clft_status clft_cl_fail(cl_int err, const char *what);
#define CLFT_CL_CHECK(call, what)                                                                                      \
    do {                                                                                                               \
        cl_int clft_cl_err_ = (call);                                                                                  \
        if (clft_cl_err_ != CL_SUCCESS) return clft_cl_fail(clft_cl_err_, what);                                       \
    } while (0)

/* Whole-word extension match. */
int clft_has_extension(const char *extensions, const char *ext);

/* ---- programs and kernels --------------------------------------------------------------------- */
/* Source text of cl/<file> (embedded, or from $CLFT_KERNEL_DIR). Caller frees *text. */
clft_status clft_cl_source(const char *file, char **text, size_t *size);
/* The full build options for a program: composed in this one function from the device caps and
 * the caller's -D values (which may be NULL). *out is caller-owned. */
clft_status clft_cl_build_options(const clft_context *ctx, const char *defines, char **out);
/* Program of cl/common.cl + cl/<file> built with the given -D defines; cached in memory for the
 * context and on disk for later processes. */
clft_status clft_cl_program(clft_context *ctx, const char *file, const char *defines, cl_program *out);
/* A kernel from such a program; cached, owned by the context (do not release). Kernels are not
 * thread-safe to set arguments on concurrently: one context per host thread. */
clft_status clft_cl_kernel(clft_context *ctx, const char *file, const char *defines, const char *name, cl_kernel *out);
/* Enqueue an NDRange kernel (1-3 dims); local may be NULL. Global sizes are rounded up to local. */
clft_status clft_cl_launch(clft_context *ctx, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                           const char *what);
/* Set kernel args in order: pairs of (size, pointer), terminated by size 0. */
clft_status clft_cl_args(cl_kernel k, const char *what, ...);

/* ---- device buffers ------------------------------------------------------------------------- */
typedef struct clft_buf {
    cl_mem mem;
    size_t bytes;
    clft_mem_class cls;
} clft_buf;
/* Allocate a device buffer of the given class. Refuses (CLFT_STATUS_DEVICE_OOM, with the bytes
 * asked for and the device's limits) a size above max_alloc or above what is left. */
clft_status clft_buf_alloc(clft_context *ctx, clft_mem_class cls, size_t bytes, clft_buf *out);
void clft_buf_free(clft_context *ctx, clft_buf *buf);
clft_status clft_buf_write(clft_context *ctx, clft_buf *buf, size_t offset, const void *src, size_t bytes);
clft_status clft_buf_read(clft_context *ctx, const clft_buf *buf, size_t offset, void *dst, size_t bytes);
clft_status clft_buf_fill_zero(clft_context *ctx, clft_buf *buf);
/* Set `words` 32-bit words from word `word_off` to `value` (a kernel: cl/runtime.cl). */
clft_status clft_buf_fill_words(clft_context *ctx, const clft_buf *buf, size_t word_off, size_t words,
                                uint32_t value);

/* ---- profiling (profile.c): per-kernel device time, only for contexts created with profiling ---
 * Totals per (tag, name): the launches and the device seconds (event END - START) of the commands
 * clft_cl_launch, clft_buf_write/read and the GEMM layer's CLBlast calls enqueued. */
typedef struct clft_prof_entry {
    char name[96]; /* the launch's name (kernel name; "write_buffer", "read_buffer", "clblast_sgemm"...) */
    char tag[24];  /* the scope it ran in ("" or e.g. the GEMM weight's storage type "nf4") */
    uint64_t launches;
    double device_seconds;
} clft_prof_entry;
/* Where an enqueue should return its event: slot when profiling, NULL otherwise (no cost when off). */
cl_event *clft_cl_profile_event(clft_context *ctx, cl_event *slot);
/* Keep ev (ownership passes; NULL is ignored) under name and the current tag. */
clft_status clft_cl_profile_record(clft_context *ctx, const char *name, cl_event ev);
/* Set the tag of later launches (a static string or NULL); returns the previous one to restore. */
const char *clft_cl_profile_set_tag(clft_context *ctx, const char *tag);
/* Set the scope of later launches (static or NULL): while set it is their tag, whatever the tag
 * (an op built on the GEMM layer - blocked attention - counts its GEMMs as its own). Returns the
 * previous scope. */
const char *clft_cl_profile_set_scope(clft_context *ctx, const char *scope);
/* Finish the queue, resolve every pending event and return the totals (owned by the context, valid
 * until the next profiling call). Fails on a context without profiling. */
clft_status clft_cl_profile_collect(clft_context *ctx, const clft_prof_entry **entries, size_t *count);
/* Sum of the device seconds of every entry (collecting first); -1 without profiling. */
double clft_cl_profile_total(clft_context *ctx);
/* Drop the totals (pending events are resolved first). */
void clft_cl_profile_reset(clft_context *ctx);
/* Free the profiling state (runtime.c calls it on free). */
void clft_cl_profile_release(clft_context *ctx);

/* Release every cached program and kernel of the context (runtime.c calls it on free). */
void clft_programs_release(clft_context *ctx);
/* Release CLBlast's caches tied to the context (ops/blas.c). */
void clft_blas_release(clft_context *ctx);

#endif
