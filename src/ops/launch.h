/* launch.h - small helpers shared by the op launchers: argument checks and 1-D launches. */
#ifndef CLFT_OPS_LAUNCH_H
#define CLFT_OPS_LAUNCH_H

#include <limits.h>

#include "ops/ops.h"

/* A view must name a buffer that holds `count` elements of `elem` bytes from its offset. */
static inline clft_status clft_dv_check(const char *op, const char *name, clft_dv v, size_t count, size_t elem) {
    if (!v.buf || !v.buf->mem) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: %s has no device buffer", op, name);
    if ((v.off + count) * elem > v.buf->bytes)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "%s: %s needs %zu elements from offset %zu but its buffer holds %zu bytes", op, name, count,
                          v.off, v.buf->bytes);
    return CLFT_OK;
}

static inline clft_status clft_dims_check(const char *op, int64_t a, int64_t b) {
    if (a < 0 || b < 0 || a > INT_MAX || b > INT_MAX)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: sizes %lld x %lld out of range", op, (long long)a,
                          (long long)b);
    return CLFT_OK;
}

static inline clft_status clft_launch_1d(clft_context *ctx, cl_kernel k, size_t n, size_t local, const char *what) {
    size_t g = n, l = local;
    return clft_cl_launch(ctx, k, 1, &g, local ? &l : NULL, what);
}

/* 2-D / 3-D launch with the driver's choice of work-group (global sizes exact). */
static inline clft_status clft_launch_nd(clft_context *ctx, cl_kernel k, cl_uint dims, size_t g0, size_t g1, size_t g2,
                                         const char *what) {
    size_t g[3] = {g0, g1, g2};
    return clft_cl_launch(ctx, k, dims, g, NULL, what);
}

#define CLFT_ARG_DV(v)                                                                                                 \
    sizeof(cl_mem), &(v).buf->mem, sizeof(cl_ulong), &(cl_ulong) { (cl_ulong)(v).off }

#endif
