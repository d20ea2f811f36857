/* arena.c - device buffers through per-class arenas: current/peak bytes per class, refusal with a
 * clear CLFT_STATUS_DEVICE_OOM before the driver fails (or crashes) on an impossible request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/clrt.h"

static void fmt_bytes(char *out, size_t cap, uint64_t b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024.0 && i < 4) {
        v /= 1024.0;
        i++;
    }
    snprintf(out, cap, "%.1f %s", v, u[i]);
}

clft_status clft_buf_alloc(clft_context *ctx, clft_mem_class cls, size_t bytes, clft_buf *out) {
    memset(out, 0, sizeof *out);
    if ((unsigned)cls >= CLFT_MEM_CLASS_COUNT)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "bad memory class %d", (int)cls);
    const clft_device_info *d = &ctx->caps.info;
    size_t req = bytes ? bytes : 4; /* OpenCL forbids zero-sized buffers */
    char a[32], b[32], c[32], e[32];
    if ((uint64_t)req > d->max_alloc_bytes) {
        fmt_bytes(a, sizeof a, req);
        fmt_bytes(b, sizeof b, d->max_alloc_bytes);
        fmt_bytes(c, sizeof c, d->global_mem_bytes);
        return clft_error(CLFT_STATUS_DEVICE_OOM,
                          "%s buffer of %zu bytes (%s) is larger than the device's single-allocation limit %s "
                          "(global memory %s) on '%s'; use a smaller batch/sequence or a larger device",
                          clft_mem_class_name(cls), req, a, b, c, d->name);
    }
    if ((uint64_t)req + ctx->mem.current_total > d->global_mem_bytes) {
        fmt_bytes(a, sizeof a, req);
        fmt_bytes(b, sizeof b, ctx->mem.current_total);
        fmt_bytes(c, sizeof c, d->global_mem_bytes);
        fmt_bytes(e, sizeof e, d->max_alloc_bytes);
        return clft_error(CLFT_STATUS_DEVICE_OOM,
                          "%s buffer of %zu bytes (%s) does not fit: %s already allocated of %s global memory "
                          "(max single allocation %s) on '%s'",
                          clft_mem_class_name(cls), req, a, b, c, e, d->name);
    }
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, req, NULL, &err);
    if (err != CL_SUCCESS || !m) {
        fmt_bytes(a, sizeof a, req);
        clft_cl_fail(err, "clCreateBuffer");
        return clft_error_prefix(CLFT_STATUS_DEVICE_OOM, "allocating %s buffer of %s on '%s'", clft_mem_class_name(cls),
                                 a, d->name);
    }
    out->mem = m;
    out->bytes = bytes;
    out->cls = cls;
    ctx->mem.current_bytes[cls] += req;
    ctx->mem.current_total += req;
    if (ctx->mem.current_bytes[cls] > ctx->mem.peak_bytes[cls]) ctx->mem.peak_bytes[cls] = ctx->mem.current_bytes[cls];
    if (ctx->mem.current_total > ctx->mem.peak_total) ctx->mem.peak_total = ctx->mem.current_total;
    ctx->mem.allocations++;
    return CLFT_OK;
}

void clft_buf_free(clft_context *ctx, clft_buf *buf) {
    if (!buf || !buf->mem) return;
    size_t req = buf->bytes ? buf->bytes : 4;
    /* Oclgrind 21.10 reuses a released buffer's id without resetting its uninitialized-value
     * shadow, so a larger buffer that gets the id reports false "uninitialized" reads past the old
     * size. Under Oclgrind only, release buffers when the context goes instead. */
    int deferred = 0;
    if (ctx->caps.is_oclgrind) {
        if (ctx->ndeferred == ctx->capdeferred) {
            size_t cap = ctx->capdeferred ? ctx->capdeferred * 2 : 64;
            cl_mem *a = realloc(ctx->deferred, cap * sizeof *a);
            if (a) {
                ctx->deferred = a;
                ctx->capdeferred = cap;
            }
        }
        if (ctx->ndeferred < ctx->capdeferred) {
            ctx->deferred[ctx->ndeferred++] = buf->mem;
            deferred = 1;
        }
    }
    if (!deferred) clReleaseMemObject(buf->mem);
    ctx->mem.current_bytes[buf->cls] -= req;
    ctx->mem.current_total -= req;
    memset(buf, 0, sizeof *buf);
}

clft_status clft_buf_write(clft_context *ctx, clft_buf *buf, size_t offset, const void *src, size_t bytes) {
    if (offset + bytes > buf->bytes)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "buffer write of %zu bytes at %zu past end (%zu)", bytes,
                          offset, buf->bytes);
    if (!bytes) return CLFT_OK;
    cl_event ev = NULL;
    CLFT_CL_CHECK(clEnqueueWriteBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, src, 0, NULL,
                                       clft_cl_profile_event(ctx, &ev)),
                  "clEnqueueWriteBuffer");
    return ev ? clft_cl_profile_record(ctx, "write_buffer", ev) : CLFT_OK;
}

clft_status clft_buf_read(clft_context *ctx, const clft_buf *buf, size_t offset, void *dst, size_t bytes) {
    if (offset + bytes > buf->bytes)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "buffer read of %zu bytes at %zu past end (%zu)", bytes, offset,
                          buf->bytes);
    if (!bytes) return CLFT_OK;
    cl_event ev = NULL;
    CLFT_CL_CHECK(clEnqueueReadBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL,
                                      clft_cl_profile_event(ctx, &ev)),
                  "clEnqueueReadBuffer");
    return ev ? clft_cl_profile_record(ctx, "read_buffer", ev) : CLFT_OK;
}

clft_status clft_buf_fill_words(clft_context *ctx, const clft_buf *buf, size_t word_off, size_t words,
                                uint32_t value) {
    if (!words) return CLFT_OK;
    if ((word_off + words) * 4 > buf->bytes)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "fill of %zu words at %zu past the end of a %zu-byte buffer",
                          words, word_off, buf->bytes);
    cl_kernel k;
    CLFT_CHECK(clft_cl_kernel(ctx, "runtime.cl", "", "fill_u32", &k));
    cl_ulong off = word_off, n = words;
    cl_uint v = value;
    CLFT_CHECK(clft_cl_args(k, "fill_u32", sizeof(cl_mem), &buf->mem, sizeof off, &off, sizeof n, &n, sizeof v, &v,
                            (size_t)0));
    size_t local = 64;
    return clft_cl_launch(ctx, k, 1, &words, &local, "fill_u32");
}

clft_status clft_buf_fill_zero(clft_context *ctx, clft_buf *buf) {
    if (!buf->bytes) return CLFT_OK;
    /* whole words with the runtime's fill kernel, the last 1-3 bytes from the host */
    size_t words = buf->bytes / 4, tail = buf->bytes % 4;
    CLFT_CHECK(clft_buf_fill_words(ctx, buf, 0, words, 0));
    if (tail) {
        static const unsigned char zeros[4] = {0, 0, 0, 0};
        CLFT_CHECK(clft_buf_write(ctx, buf, words * 4, zeros, tail));
    }
    return CLFT_OK;
}
