/* merge.c - the fp32 LoRA merge W = W0 + scale * (B @ A) on the host, threads over output rows.
 * Every element is accumulated in the same order (k = 0 .. r-1, then one multiply by scale, then the
 * add to W0) whatever the thread count or column tiling, so the result does not depend on the
 * machine. Columns are processed in tiles so that the tile of A stays in cache across rows. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "lora/lora.h"

#define MERGE_TILE 1024 /* columns per tile: r x 1024 floats of A (256 KiB at r = 64) */

typedef struct merge_job {
    float *W;
    const void *src;
    clft_st_dtype dt;
    const float *A, *B;
    int64_t in, r;
    float scale;
} merge_job;

/* f16 -> f32, exact (as clft_ref_f16_to_f32, inlined for the merge's inner loop) */
static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    uint32_t bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); /* inf / NaN */
    } else if (e != 0) {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m == 0) {
        bits = sign;
    } else { /* subnormal: normalize */
        uint32_t ee = 113u, mm = m;
        while (!(mm & 0x400u)) {
            mm <<= 1;
            ee--;
        }
        bits = sign | (ee << 23) | ((mm & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void load_row(float *dst, const void *src, clft_st_dtype dt, int64_t row, int64_t in) {
    if (dt == CLFT_ST_F32) {
        memcpy(dst, (const char *)src + (size_t)(row * in) * 4, (size_t)in * 4);
        return;
    }
    const unsigned char *p = (const unsigned char *)src + (size_t)(row * in) * 2;
    if (dt == CLFT_ST_BF16) {
        for (int64_t i = 0; i < in; i++) {
            const uint32_t bits = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16; /* little-endian, unaligned */
            memcpy(&dst[i], &bits, 4);
        }
        return;
    }
    for (int64_t i = 0; i < in; i++)
        dst[i] = half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}

/* acc (MR rows x NR columns) = sum over k of B[row][k] * A[k][col], k ascending from 0.0f, then
 * W += acc * scale: the register tile of the merge (the compiler keeps acc in vector registers). */
#define MR 8
#define NR 8

static void tile_full(const merge_job *j, int64_t o, int64_t c) {
    float acc[MR][NR];
    for (int m = 0; m < MR; m++)
        for (int x = 0; x < NR; x++)
            acc[m][x] = 0.0f;
    for (int64_t k = 0; k < j->r; k++) {
        const float *a = j->A + k * j->in + c;
        for (int m = 0; m < MR; m++) {
            const float b = j->B[(o + m) * j->r + k];
            for (int x = 0; x < NR; x++)
                acc[m][x] += b * a[x];
        }
    }
    for (int m = 0; m < MR; m++) {
        float *w = j->W + (o + m) * j->in + c;
        for (int x = 0; x < NR; x++)
            w[x] += acc[m][x] * j->scale;
    }
}

/* the same for rows [o, o+nr) and columns [c, c+nc), element by element (edges) */
static void tile_edge(const merge_job *j, int64_t o, int64_t nr, int64_t c, int64_t nc) {
    for (int64_t m = o; m < o + nr; m++)
        for (int64_t x = c; x < c + nc; x++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < j->r; k++)
                acc += j->B[m * j->r + k] * j->A[k * j->in + x];
            j->W[m * j->in + x] += acc * j->scale;
        }
}

/* rows [row0, row1) of W */
static void merge_rows(void *arg, int64_t row0, int64_t row1) {
    const merge_job *j = arg;
    if (j->src)
        for (int64_t o = row0; o < row1; o++)
            load_row(j->W + o * j->in, j->src, j->dt, o, j->in);
    if (!j->B) return;
    for (int64_t c0 = 0; c0 < j->in; c0 += MERGE_TILE) { /* a tile of A's columns stays in cache */
        const int64_t c1 = j->in - c0 < MERGE_TILE ? j->in : c0 + MERGE_TILE;
        const int64_t cfull = c0 + (c1 - c0) / NR * NR;
        int64_t o = row0;
        for (; o + MR <= row1; o += MR) {
            for (int64_t c = c0; c < cfull; c += NR)
                tile_full(j, o, c);
            if (cfull < c1) tile_edge(j, o, MR, cfull, c1 - cfull);
        }
        if (o < row1) tile_edge(j, o, row1 - o, c0, c1 - c0);
    }
}

clft_status clft_lora_merge(float *W, const void *src, clft_st_dtype src_dtype, const float *A, const float *B,
                            int64_t out, int64_t in, int64_t r, float scale, int threads) {
    if (!W || out < 0 || in < 0 || (B && (!A || r < 1)))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "LoRA merge: bad arguments");
    if (src && src_dtype != CLFT_ST_F32 && src_dtype != CLFT_ST_F16 && src_dtype != CLFT_ST_BF16)
        return clft_error(CLFT_STATUS_UNSUPPORTED, "LoRA merge: base dtype %s (F32, F16 or BF16)",
                          clft_st_dtype_name(src_dtype));
    if (threads <= 0) threads = clft_cpu_count();
    /* about 1M multiply-adds per thread at least: small tensors are not worth a thread */
    const double work = (double)out * (double)in * (double)(B ? r + 1 : 1);
    if (work < (double)threads * 1048576.0) threads = (int)(work / 1048576.0) + 1;
    if (threads > out) threads = out > 0 ? (int)out : 1;
    merge_job job = {W, src, src_dtype, A, B, in, r, scale};
    clft_parallel_ranges(out, threads, merge_rows, &job);
    return CLFT_OK;
}
