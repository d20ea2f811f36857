/* status.c - status strings, the per-thread last-error message, version, small helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"

#define CLFT_ERR_MAX 4096
static _Thread_local char tl_error[CLFT_ERR_MAX];

const char *clft_status_string(clft_status status) {
    switch (status) {
    case CLFT_OK: return "ok";
    case CLFT_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case CLFT_STATUS_NOT_FOUND: return "not found";
    case CLFT_STATUS_SHAPE_MISMATCH: return "shape mismatch";
    case CLFT_STATUS_HOST_OOM: return "out of host memory";
    case CLFT_STATUS_DEVICE_OOM: return "out of device memory";
    case CLFT_STATUS_NO_PLATFORM: return "no OpenCL platform";
    case CLFT_STATUS_NO_DEVICE: return "no matching OpenCL device";
    case CLFT_STATUS_UNSUPPORTED: return "unsupported";
    case CLFT_STATUS_KERNEL_BUILD: return "kernel build failed";
    case CLFT_STATUS_KERNEL_NOT_FOUND: return "kernel not found";
    case CLFT_STATUS_OPENCL: return "OpenCL runtime error";
    case CLFT_STATUS_BLAS: return "BLAS (CLBlast) error";
    case CLFT_STATUS_IO: return "I/O error";
    case CLFT_STATUS_FORMAT: return "invalid format";
    case CLFT_STATUS_NUMERICAL: return "numerical error";
    case CLFT_STATUS_ABORTED: return "aborted";
    }
    return "unknown status";
}

const char *clft_last_error(void) { return tl_error; }

const char *clft_version_string(void) {
#define CLFT_STR2(x) #x
#define CLFT_STR(x)  CLFT_STR2(x)
    return CLFT_STR(CLFT_VERSION_MAJOR) "." CLFT_STR(CLFT_VERSION_MINOR) "." CLFT_STR(CLFT_VERSION_PATCH);
}

clft_status clft_error(clft_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_error, sizeof tl_error, fmt, ap);
    va_end(ap);
    clft_log(CLFT_LOG_DEBUG, "error (%s): %s", clft_status_string(status), tl_error);
    return status;
}

clft_status clft_error_prefix(clft_status status, const char *fmt, ...) {
    char prefix[1024], old[CLFT_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tl_error, sizeof old);
    const char *rest = old[0] ? old : clft_status_string(status);
    size_t lp = strlen(prefix), lr = strlen(rest), cap = sizeof tl_error - 1;
    if (lp > cap) lp = cap;
    memcpy(tl_error, prefix, lp);
    size_t pos = lp;
    if (pos + 2 <= cap) {
        memcpy(tl_error + pos, ": ", 2);
        pos += 2;
    }
    if (lr > cap - pos) lr = cap - pos;
    memcpy(tl_error + pos, rest, lr);
    tl_error[pos + lr] = '\0';
    return status;
}

void clft_error_clear(void) { tl_error[0] = '\0'; }

const char *clft_dtype_name(clft_dtype dtype) {
    switch (dtype) {
    case CLFT_DTYPE_F32: return "f32";
    case CLFT_DTYPE_F16: return "f16";
    case CLFT_DTYPE_BF16: return "bf16";
    case CLFT_DTYPE_NF4: return "nf4";
    case CLFT_DTYPE_FP4: return "fp4";
    case CLFT_DTYPE_U8: return "u8";
    case CLFT_DTYPE_I32: return "i32";
    case CLFT_DTYPE_Q8_0: return "q8_0";
    case CLFT_DTYPE_Q4_0: return "q4_0";
    case CLFT_DTYPE_Q4_1: return "q4_1";
    }
    return "unknown";
}

const char *clft_mem_class_name(clft_mem_class cls) {
    static const char *names[CLFT_MEM_CLASS_COUNT] = {"weights",   "trainable",   "gradients",
                                                      "optimizer", "activations", "scratch"};
    return (unsigned)cls < CLFT_MEM_CLASS_COUNT ? names[cls] : "unknown";
}

void *clft_malloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) clft_error(CLFT_STATUS_HOST_OOM, "host allocation of %zu bytes failed", bytes);
    return p;
}

void *clft_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) clft_error(CLFT_STATUS_HOST_OOM, "host allocation of %zu x %zu bytes failed", n, size);
    return p;
}

char *clft_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = clft_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

uint64_t clft_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

double clft_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int clft_mkdir_p(const char *path) {
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}
