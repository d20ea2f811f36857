/* weight.c - weights on the device (layout in weight.h): upload of f32 host matrices as F32, F16
 * or BF16 storage, upload of host-quantized NF4/FP4 tensors (src/quant) and of GGUF blocks (native
 * storage, repacked here), and conversion or dequantization of any of them to f32 / f16 / bf16 with
 * the kernels of cl/nf4.cl and cl/ggml_blocks.cl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/selfcheck.h"
#include "ops/weight.h"
#include "ref/ref.h"

static int is_q4(clft_dtype t) { return t == CLFT_DTYPE_NF4 || t == CLFT_DTYPE_FP4; }

static uint32_t log2_u32(uint32_t v) {
    uint32_t r = 0;
    while ((1u << r) < v)
        r++;
    return r;
}

static clft_status check_shape(const char *fn, int64_t rows, int64_t cols) {
    if (rows < 1 || cols < 1 || rows > INT64_MAX / cols || (uint64_t)(rows * cols) > (uint64_t)(SIZE_MAX / 4))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: bad shape (%lld, %lld)", fn, (long long)rows,
                          (long long)cols);
    return CLFT_OK;
}

clft_status clft_weight_upload(clft_context *ctx, clft_mem_class cls, clft_dtype dtype, int64_t rows, int64_t cols,
                               const float *host, clft_weight *out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_upload: NULL output");
    memset(out, 0, sizeof *out);
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_upload: NULL argument");
    CLFT_CHECK(check_shape("clft_weight_upload", rows, cols));
    if (dtype != CLFT_DTYPE_F32 && dtype != CLFT_DTYPE_F16 && dtype != CLFT_DTYPE_BF16)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_weight_upload: dtype %s is not f32, f16 or bf16 (quantize with clft_q4_quantize "
                          "and use clft_weight_upload_q4)",
                          clft_dtype_name(dtype));
    const size_t n = (size_t)(rows * cols);
    const size_t esz = dtype == CLFT_DTYPE_F32 ? 4 : 2;
    clft_weight w;
    memset(&w, 0, sizeof w);
    w.dtype = dtype;
    w.rows = rows;
    w.cols = cols;
    CLFT_CHECK(clft_buf_alloc(ctx, cls, n * esz, &w.data));
    clft_status st;
    if (!host) {
        st = clft_buf_fill_zero(ctx, &w.data);
    } else if (dtype == CLFT_DTYPE_F32) {
        st = clft_buf_write(ctx, &w.data, 0, host, n * 4);
    } else {
        uint16_t *tmp = clft_malloc(n * 2);
        if (!tmp) {
            st = CLFT_STATUS_HOST_OOM;
        } else {
            for (size_t i = 0; i < n; i++)
                tmp[i] = dtype == CLFT_DTYPE_F16 ? clft_ref_f32_to_f16(host[i]) : clft_ref_f32_to_bf16(host[i]);
            st = clft_buf_write(ctx, &w.data, 0, tmp, n * 2);
            free(tmp);
        }
    }
    if (st != CLFT_OK) {
        clft_weight_free(ctx, &w);
        return st;
    }
    *out = w;
    return CLFT_OK;
}

clft_status clft_weight_upload_q4(clft_context *ctx, clft_mem_class cls, const clft_q4 *q, int64_t rows, int64_t cols,
                                  clft_weight *out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_upload_q4: NULL output");
    memset(out, 0, sizeof *out);
    if (!ctx || !q || !q->packed)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_upload_q4: NULL argument");
    CLFT_CHECK(check_shape("clft_weight_upload_q4", rows, cols));
    if (!is_q4(q->type) || q->blocksize < 32 || q->blocksize > 4096 || (q->blocksize & (q->blocksize - 1)))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_weight_upload_q4: not a valid 4-bit tensor (%s, blocksize %d)",
                          clft_dtype_name(q->type), q->blocksize);
    if (q->numel != rows * cols)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "clft_weight_upload_q4: %lld quantized elements for a (%lld, %lld) weight",
                          (long long)q->numel, (long long)rows, (long long)cols);
    if (q->double_quant ? (!q->qabsmax || !q->nested_absmax || q->nested_blocksize < 1 ||
                           (q->nested_blocksize & (q->nested_blocksize - 1)))
                        : !q->absmax)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_weight_upload_q4: absmax arrays missing or bad nested blocksize");
    clft_weight w;
    memset(&w, 0, sizeof w);
    w.dtype = q->type;
    w.rows = rows;
    w.cols = cols;
    w.blocksize = q->blocksize;
    w.double_quant = q->double_quant;
    w.nested_blocksize = q->nested_blocksize;
    w.nested_offset = q->nested_offset;
    const size_t npacked = (size_t)(q->numel + 1) / 2, nb = (size_t)q->nblocks;
    clft_status st = clft_buf_alloc(ctx, cls, npacked, &w.data);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w.data, 0, q->packed, npacked);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, cls, sizeof q->code, &w.code);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w.code, 0, q->code, sizeof q->code);
    if (!q->double_quant) {
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, cls, nb * sizeof(float), &w.absmax);
        if (st == CLFT_OK) st = clft_buf_write(ctx, &w.absmax, 0, q->absmax, nb * sizeof(float));
    } else {
        const size_t nn = (nb + (size_t)q->nested_blocksize - 1) / (size_t)q->nested_blocksize;
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, cls, nb, &w.absmax);
        if (st == CLFT_OK) st = clft_buf_write(ctx, &w.absmax, 0, q->qabsmax, nb);
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, cls, nn * sizeof(float), &w.nested_absmax);
        if (st == CLFT_OK) st = clft_buf_write(ctx, &w.nested_absmax, 0, q->nested_absmax, nn * sizeof(float));
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, cls, sizeof q->nested_code, &w.nested_code);
        if (st == CLFT_OK) st = clft_buf_write(ctx, &w.nested_code, 0, q->nested_code, sizeof q->nested_code);
    }
    if (st != CLFT_OK) {
        clft_weight_free(ctx, &w);
        return st;
    }
    *out = w;
    return CLFT_OK;
}

int clft_dtype_is_ggml(clft_dtype t) {
    return t == CLFT_DTYPE_Q8_0 || t == CLFT_DTYPE_Q4_0 || t == CLFT_DTYPE_Q4_1;
}

int clft_dtype_ggml_type(clft_dtype t) {
    return t == CLFT_DTYPE_Q4_0 ? 2 : t == CLFT_DTYPE_Q4_1 ? 3 : t == CLFT_DTYPE_Q8_0 ? 8 : -1;
}

clft_dtype clft_dtype_of_ggml_type(int ggml_type) {
    return ggml_type == 2 ? CLFT_DTYPE_Q4_0 : ggml_type == 3 ? CLFT_DTYPE_Q4_1 : ggml_type == 8 ? CLFT_DTYPE_Q8_0
                                                                                                : CLFT_DTYPE_F32;
}

void clft_weight_ggml_bytes(clft_dtype t, int64_t rows, int64_t cols, size_t *codes, size_t *scales) {
    const size_t nb = (size_t)rows * (size_t)cols / 32;
    *codes = nb * (t == CLFT_DTYPE_Q8_0 ? 32 : 16);
    *scales = nb * (t == CLFT_DTYPE_Q4_1 ? 4 : 2);
}

/* The file's blocks (d, [m,] codes) split into the codes and the scales of native storage. */
static void ggml_repack(clft_dtype t, const uint8_t *blocks, size_t nb, uint8_t *codes, uint8_t *scales) {
    const size_t nq = t == CLFT_DTYPE_Q8_0 ? 32 : 16, ns = t == CLFT_DTYPE_Q4_1 ? 4 : 2, bb = nq + ns;
    for (size_t b = 0; b < nb; b++) {
        memcpy(scales + b * ns, blocks + b * bb, ns);
        memcpy(codes + b * nq, blocks + b * bb + ns, nq);
    }
}

static clft_status check_blocks(const char *fn, clft_dtype t, int64_t rows, int64_t cols, size_t bytes) {
    if (!clft_dtype_is_ggml(t))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: dtype %s is not q8_0, q4_0 or q4_1", fn,
                          clft_dtype_name(t));
    CLFT_CHECK(check_shape(fn, rows, cols));
    if (cols % 32)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: (%lld, %lld) %s weight: the row length is not a multiple "
                          "of the 32-element block", fn, (long long)rows, (long long)cols, clft_dtype_name(t));
    size_t nq, ns;
    clft_weight_ggml_bytes(t, rows, cols, &nq, &ns);
    if (bytes != nq + ns)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: %zu bytes of %s blocks for a (%lld, %lld) weight, which "
                          "needs %zu", fn, bytes, clft_dtype_name(t), (long long)rows, (long long)cols, nq + ns);
    return CLFT_OK;
}

clft_status clft_weight_write_blocks(clft_context *ctx, clft_weight *w, const void *blocks, size_t bytes) {
    if (!ctx || !w || !blocks) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_write_blocks: NULL argument");
    CLFT_CHECK(check_blocks("clft_weight_write_blocks", w->dtype, w->rows, w->cols, bytes));
    size_t nq, ns;
    clft_weight_ggml_bytes(w->dtype, w->rows, w->cols, &nq, &ns);
    if (w->data.bytes < nq || w->absmax.bytes < ns)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "clft_weight_write_blocks: the weight's buffers are too small");
    uint8_t *tmp = clft_malloc(nq + ns);
    if (!tmp) return CLFT_STATUS_HOST_OOM;
    ggml_repack(w->dtype, blocks, (size_t)w->rows * (size_t)w->cols / 32, tmp, tmp + nq);
    clft_status st = clft_buf_write(ctx, &w->data, 0, tmp, nq);
    if (st == CLFT_OK) st = clft_buf_write(ctx, &w->absmax, 0, tmp + nq, ns);
    free(tmp);
    return st;
}

clft_status clft_weight_upload_blocks(clft_context *ctx, clft_mem_class cls, clft_dtype dtype, int64_t rows,
                                      int64_t cols, const void *blocks, size_t bytes, clft_weight *out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_upload_blocks: NULL output");
    memset(out, 0, sizeof *out);
    if (!ctx || !blocks) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_upload_blocks: NULL argument");
    CLFT_CHECK(check_blocks("clft_weight_upload_blocks", dtype, rows, cols, bytes));
    clft_weight w;
    memset(&w, 0, sizeof w);
    w.dtype = dtype;
    w.rows = rows;
    w.cols = cols;
    w.blocksize = 32;
    size_t nq, ns;
    clft_weight_ggml_bytes(dtype, rows, cols, &nq, &ns);
    clft_status st = clft_buf_alloc(ctx, cls, nq, &w.data);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, cls, ns, &w.absmax);
    if (st == CLFT_OK) st = clft_weight_write_blocks(ctx, &w, blocks, bytes);
    if (st != CLFT_OK) {
        clft_weight_free(ctx, &w);
        return st;
    }
    *out = w;
    return CLFT_OK;
}

void clft_weight_free(clft_context *ctx, clft_weight *w) {
    if (!ctx || !w) return;
    clft_buf_free(ctx, &w->data);
    clft_buf_free(ctx, &w->code);
    clft_buf_free(ctx, &w->absmax);
    clft_buf_free(ctx, &w->nested_absmax);
    clft_buf_free(ctx, &w->nested_code);
    memset(w, 0, sizeof *w);
}

static size_t dtype_bytes(clft_dtype t) { return t == CLFT_DTYPE_F32 ? 4 : 2; }

/* Groups of 16 outputs per work-item of the dequantization kernels. CPUs: 4 groups of 16 (2 for
 * blocksize 32: a work-item stays in one block), so the block's absmax is computed once per 64
 * outputs; GPUs: 1, the most work-items. */
static int nf4_groups(const clft_context *ctx, int blocksize) {
    return !ctx->caps.is_cpu ? 1 : blocksize >= 64 ? 4 : 2;
}

void clft_nf4_defines(const clft_context *ctx, int blocksize, int lut, char *buf, size_t cap) {
    char lutdef[24] = "";
    if (lut) snprintf(lutdef, sizeof lutdef, " -DNF4_LUT=%d", lut);
    /* aligned/non-temporal group stores need 64-byte aligned buffers */
    snprintf(buf, cap, "-DNF4_GROUPS=%d%s%s", nf4_groups(ctx, blocksize),
             ctx->caps.mem_base_align_bytes < 64 ? " -DNF4_STORE=0" : "", lutdef);
}

clft_status clft_weight_dequant(clft_context *ctx, const clft_weight *w, clft_dtype out_dtype, clft_buf *out) {
    return clft_weight_dequant_lut(ctx, w, out_dtype, 0, out);
}

clft_status clft_weight_dequant_ggml_rows(clft_context *ctx, const clft_weight *w, clft_dtype out_dtype, int64_t row0,
                                          int64_t nrows, clft_buf *out) {
    /* cl/ggml_blocks.cl: a work-item per block of 32; rows are whole blocks */
    if (!ctx || !w || !out || !out->mem || !w->data.mem || !clft_dtype_is_ggml(w->dtype))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_dequant_ggml_rows: NULL argument or not GGUF blocks");
    if (w->cols % 32 || !w->absmax.mem)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "clft_weight_dequant: %s weight (%lld, %lld) without whole blocks of 32 per row or without "
                          "scales",
                          clft_dtype_name(w->dtype), (long long)w->rows, (long long)w->cols);
    if (row0 < 0 || nrows < 0 || row0 + nrows > w->rows)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_dequant: rows %lld..%lld of a %lld-row weight",
                          (long long)row0, (long long)(row0 + nrows), (long long)w->rows);
    const cl_ulong per_row = (cl_ulong)w->cols / 32, b0 = (cl_ulong)row0 * per_row, nb = (cl_ulong)nrows * per_row;
    if (out->bytes < nb * 32 * dtype_bytes(out_dtype))
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "clft_weight_dequant: output of %zu bytes cannot hold %llu %s values", out->bytes,
                          (unsigned long long)(nb * 32), clft_dtype_name(out_dtype));
    char name[48];
    snprintf(name, sizeof name, "ggml_dequant_%s_%s", clft_dtype_name(w->dtype), clft_dtype_name(out_dtype));
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "ggml_blocks.cl", "", name, &k));
    CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem, sizeof(cl_mem),
                            &w->absmax.mem, sizeof b0, &b0, sizeof nb, &nb, (size_t)0));
    const size_t items = (size_t)nb;
    return nb ? clft_cl_launch(ctx, k, 1, &items, NULL, name) : CLFT_OK;
}

clft_status clft_weight_dequant_lut(clft_context *ctx, const clft_weight *w, clft_dtype out_dtype, int lut,
                                    clft_buf *out) {
    if (lut < 0 || lut > 3)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_dequant: NF4_LUT %d not in 0..3", lut);
    if (!ctx || !w || !out || !out->mem || !w->data.mem)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_dequant: NULL argument");
    if (!is_q4(w->dtype) && !clft_dtype_is_ggml(w->dtype))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_dequant: weight is %s, not nf4/fp4/q8_0/q4_0/q4_1",
                          clft_dtype_name(w->dtype));
    if (out_dtype != CLFT_DTYPE_F32 && out_dtype != CLFT_DTYPE_F16 && out_dtype != CLFT_DTYPE_BF16)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_dequant: output dtype %s is not f32, f16 or bf16",
                          clft_dtype_name(out_dtype));
    const cl_ulong numel = (cl_ulong)(w->rows * w->cols);
    if (out->bytes < numel * dtype_bytes(out_dtype))
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "clft_weight_dequant: output of %zu bytes cannot hold %llu %s values", out->bytes,
                          (unsigned long long)numel, clft_dtype_name(out_dtype));
    char name[48];
    if (clft_dtype_is_ggml(w->dtype)) return clft_weight_dequant_ggml_rows(ctx, w, out_dtype, 0, w->rows, out);
    snprintf(name, sizeof name, "dequant_nf4_%s%s", clft_dtype_name(out_dtype), w->double_quant ? "_dq" : "");
    cl_kernel k = NULL;
    const int groups = nf4_groups(ctx, w->blocksize);
    char defs[80];
    clft_nf4_defines(ctx, w->blocksize, lut, defs, sizeof defs);
    CLFT_CHECK(clft_cl_kernel(ctx, "nf4.cl", defs, name, &k));
    const cl_uint bl = log2_u32((uint32_t)w->blocksize);
    if (!w->double_quant) {
        CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem, sizeof(cl_mem),
                                &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof numel, &numel, sizeof bl, &bl,
                                (size_t)0));
    } else {
        const cl_uint nl = log2_u32((uint32_t)w->nested_blocksize);
        const cl_float off = w->nested_offset;
        CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem, sizeof(cl_mem),
                                &w->code.mem, sizeof(cl_mem), &w->absmax.mem, sizeof(cl_mem), &w->nested_absmax.mem,
                                sizeof(cl_mem), &w->nested_code.mem, sizeof off, &off, sizeof numel, &numel, sizeof bl,
                                &bl, sizeof nl, &nl, (size_t)0));
    }
    /* one work-item per 16 * groups elements; work-groups of 64 keep dozens per CPU thread */
    const size_t items = (size_t)((numel + 16 * (cl_ulong)groups - 1) / (16 * (cl_ulong)groups)), local = 64;
    return clft_cl_launch(ctx, k, 1, &items, &local, name);
}

clft_status clft_weight_lut_built(clft_context *ctx, int lut, int *built) {
    if (!ctx || !built || lut < 0 || lut > 3)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_lut_built: bad argument");
    *built = 0;
    char defs[80]; /* the options of the dequantization program itself: no extra build */
    clft_nf4_defines(ctx, 64, lut, defs, sizeof defs);
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "nf4.cl", defs, "nf4_lut_variant", &k));
    clft_buf b = {0};
    CLFT_CHECK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, sizeof(cl_int), &b));
    clft_status st = clft_cl_args(k, "nf4_lut_variant", sizeof(cl_mem), &b.mem, (size_t)0);
    const size_t one = 1;
    cl_int v = 0;
    if (st == CLFT_OK) st = clft_cl_launch(ctx, k, 1, &one, NULL, "nf4_lut_variant");
    if (st == CLFT_OK) st = clft_buf_read(ctx, &b, 0, &v, sizeof v);
    clft_buf_free(ctx, &b);
    *built = (int)v;
    return st;
}

clft_status clft_weight_to_f32(clft_context *ctx, const clft_weight *w, clft_buf *out) {
    if (!ctx || !w || !out || !out->mem || !w->data.mem)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_to_f32: NULL argument");
    if (is_q4(w->dtype) || clft_dtype_is_ggml(w->dtype)) return clft_weight_dequant(ctx, w, CLFT_DTYPE_F32, out);
    const cl_ulong n = (cl_ulong)(w->rows * w->cols);
    if (out->bytes < n * 4)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "clft_weight_to_f32: output of %zu bytes cannot hold %llu floats",
                          out->bytes, (unsigned long long)n);
    if (w->dtype == CLFT_DTYPE_F32) {
        CLFT_CL_CHECK(clEnqueueCopyBuffer(ctx->queue, w->data.mem, out->mem, 0, 0, (size_t)n * 4, 0, NULL, NULL),
                      "clEnqueueCopyBuffer (weight to f32)");
        return CLFT_OK;
    }
    if (w->dtype != CLFT_DTYPE_F16 && w->dtype != CLFT_DTYPE_BF16)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_weight_to_f32: weight dtype %s is not supported",
                          clft_dtype_name(w->dtype));
    const char *name = w->dtype == CLFT_DTYPE_F16 ? "convert_f16_to_f32" : "convert_bf16_to_f32";
    cl_kernel k = NULL;
    CLFT_CHECK(clft_cl_kernel(ctx, "nf4.cl", "", name, &k));
    CLFT_CHECK(clft_cl_args(k, name, sizeof(cl_mem), &out->mem, sizeof(cl_mem), &w->data.mem, sizeof n, &n, (size_t)0));
    const size_t g = (size_t)n, local = 256;
    return clft_cl_launch(ctx, k, 1, &g, &local, name);
}

/* ---- self-check ------------------------------------------------------------------------------ */
/* One dequantization on the device against clft_q4_dequantize, compared bit for bit (after the
 * same rounding to f16/bf16 on the host). */
static clft_status check_one_q4(clft_context *ctx, clft_selfcheck_result *r, const float *x, int64_t rows, int64_t cols,
                                clft_dtype type, int blocksize, int dq, clft_dtype out_dtype) {
    const size_t n = (size_t)(rows * cols);
    clft_q4 q;
    clft_weight w;
    clft_buf out = {0};
    memset(&w, 0, sizeof w);
    float *ref = clft_malloc(n * sizeof(float)), *got = clft_malloc(n * sizeof(float));
    uint16_t *h = clft_malloc(n * 2);
    clft_status st = (ref && got && h) ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    if (st == CLFT_OK)
        st = clft_q4_quantize(x, (int64_t)n, type, blocksize, dq, &q);
    else
        memset(&q, 0, sizeof q);
    if (st == CLFT_OK) st = clft_weight_upload_q4(ctx, CLFT_MEM_SCRATCH, &q, rows, cols, &w);
    if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, n * dtype_bytes(out_dtype), &out);
    if (st == CLFT_OK) st = clft_weight_dequant(ctx, &w, out_dtype, &out);
    if (st == CLFT_OK)
        st = clft_buf_read(ctx, &out, 0, out_dtype == CLFT_DTYPE_F32 ? (void *)got : (void *)h,
                           n * dtype_bytes(out_dtype));
    if (st == CLFT_OK) {
        clft_q4_dequantize(&q, ref);
        for (size_t i = 0; out_dtype != CLFT_DTYPE_F32 && i < n; i++) {
            if (out_dtype == CLFT_DTYPE_F16) {
                got[i] = clft_ref_f16_to_f32(h[i]);
                ref[i] = clft_ref_f16_to_f32(clft_ref_f32_to_f16(ref[i]));
            } else {
                got[i] = clft_ref_bf16_to_f32(h[i]);
                ref[i] = clft_ref_bf16_to_f32(clft_ref_f32_to_bf16(ref[i]));
            }
        }
        char what[96];
        snprintf(what, sizeof what, "dequant %s bs%d%s -> %s (%lld, %lld)", clft_dtype_name(type), blocksize,
                 dq ? " dq" : "", clft_dtype_name(out_dtype), (long long)rows, (long long)cols);
        r->checks++;
        if (clft_compare_f32(what, got, ref, n, 0.0f, 0.0f, NULL)) r->failures++;
    }
    clft_buf_free(ctx, &out);
    clft_weight_free(ctx, &w);
    clft_q4_free(&q);
    free(ref);
    free(got);
    free(h);
    return st;
}

clft_status clft_selfcheck_q4(clft_context *ctx, clft_selfcheck_result *r) {
    const int64_t rows = 37, cols = 61; /* odd numel, a partial last block and a partial last group */
    const size_t n = (size_t)(rows * cols);
    float *x = clft_malloc(n * sizeof(float));
    if (!x) return CLFT_STATUS_HOST_OOM;
    uint64_t s = 0x5eedf00dULL;
    for (size_t i = 0; i < n; i++) { /* xorshift: uniform in [-1, 1), scaled per row */
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = ((float)(s >> 40) / 8388608.0f - 1.0f) * (0.01f + 0.05f * (float)(i / (size_t)cols));
    }
    clft_status st = check_one_q4(ctx, r, x, rows, cols, CLFT_DTYPE_NF4, 64, 1, CLFT_DTYPE_F32);
    if (st == CLFT_OK) st = check_one_q4(ctx, r, x, rows, cols, CLFT_DTYPE_NF4, 64, 0, CLFT_DTYPE_F16);
    if (st == CLFT_OK) st = check_one_q4(ctx, r, x, rows, cols, CLFT_DTYPE_FP4, 128, 1, CLFT_DTYPE_BF16);
    /* 16-bit storage back to f32 */
    for (int t = 0; st == CLFT_OK && t < 2; t++) {
        const clft_dtype dt = t ? CLFT_DTYPE_BF16 : CLFT_DTYPE_F16;
        clft_weight w;
        clft_buf out = {0};
        float *got = clft_malloc(n * sizeof(float)), *ref = clft_malloc(n * sizeof(float));
        st = (got && ref) ? CLFT_OK : CLFT_STATUS_HOST_OOM;
        if (st == CLFT_OK)
            st = clft_weight_upload(ctx, CLFT_MEM_SCRATCH, dt, rows, cols, x, &w);
        else
            memset(&w, 0, sizeof w);
        if (st == CLFT_OK) st = clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, n * sizeof(float), &out);
        if (st == CLFT_OK) st = clft_weight_to_f32(ctx, &w, &out);
        if (st == CLFT_OK) st = clft_buf_read(ctx, &out, 0, got, n * sizeof(float));
        if (st == CLFT_OK) {
            for (size_t i = 0; i < n; i++)
                ref[i] = t ? clft_ref_bf16_to_f32(clft_ref_f32_to_bf16(x[i]))
                           : clft_ref_f16_to_f32(clft_ref_f32_to_f16(x[i]));
            r->checks++;
            if (clft_compare_f32(t ? "bf16 weight to f32" : "f16 weight to f32", got, ref, n, 0.0f, 0.0f, NULL))
                r->failures++;
        }
        clft_buf_free(ctx, &out);
        clft_weight_free(ctx, &w);
        free(got);
        free(ref);
    }
    free(x);
    return st;
}
