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

/* Work-group sizes baked into the shape-independent programs, and those programs' -D options: one
 * definition for the launchers and for clft_context_prepare_kernels (ops/prepare.c), so that the
 * program prepared ahead of use is the one a launcher asks for. */
#define CLFT_DEFS_STR_(x) #x
#define CLFT_DEFS_STR(x)  CLFT_DEFS_STR_(x)
#define CLFT_NORM_WG      64  /* cl/norm.cl */
#define CLFT_LOSS_WG      64  /* cl/loss.cl */
#define CLFT_SUMSQ_WG     256 /* cl/optim.cl, sum of squares */
#define CLFT_ATT_WG       64  /* cl/attention.cl, blocked-path softmax */
#define CLFT_NORM_DEFS    "-DNORM_WG=" CLFT_DEFS_STR(CLFT_NORM_WG)
#define CLFT_LOSS_DEFS    "-DLOSS_WG=" CLFT_DEFS_STR(CLFT_LOSS_WG)
#define CLFT_SUMSQ_DEFS   "-DSUMSQ_WG=" CLFT_DEFS_STR(CLFT_SUMSQ_WG)
#define CLFT_ATT_WG_DEFS  "-DATT_WG=" CLFT_DEFS_STR(CLFT_ATT_WG)
#define CLFT_ATT_SEG_DEFS CLFT_ATT_WG_DEFS " -DATT_SEG=1" /* the same, masking by segment ids */

#define CLFT_ARG_DV(v)                                                                                                 \
    sizeof(cl_mem), &(v).buf->mem, sizeof(cl_ulong), &(cl_ulong) { (cl_ulong)(v).off }

#endif
