/* merge.c - the fp32 LoRA merge W = W0 + scale * (B @ A) on the host, threads over output rows.
 * Every element is accumulated in the same order (k = 0 .. r-1, then one multiply by scale, then the
 * add to W0) whatever the thread count or column tiling, so the result does not depend on the
 * machine. Columns are processed in tiles so that the tile of A stays in cache across rows. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "lora/lora.h"
#include "ref/ref.h"

#define MERGE_TILE 1024 /* columns per tile: r x 1024 floats of A (256 KiB at r = 64) */

int clft_lora_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

typedef struct merge_job {
    float *W;
    const void *src;
    clft_st_dtype dt;
    const float *A, *B;
    int64_t in, r, row0, row1;
    float scale;
} merge_job;

static void load_row(float *dst, const void *src, clft_st_dtype dt, int64_t row, int64_t in) {
    if (dt == CLFT_ST_F32) {
        memcpy(dst, (const char *)src + (size_t)(row * in) * 4, (size_t)in * 4);
        return;
    }
    const unsigned char *p = (const unsigned char *)src + (size_t)(row * in) * 2;
    for (int64_t i = 0; i < in; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)); /* little-endian, unaligned */
        dst[i] = dt == CLFT_ST_F16 ? clft_ref_f16_to_f32(h) : clft_ref_bf16_to_f32(h);
    }
}

static void *merge_rows(void *arg) {
    const merge_job *j = arg;
    float tmp[MERGE_TILE];
    if (j->src)
        for (int64_t o = j->row0; o < j->row1; o++)
            load_row(j->W + o * j->in, j->src, j->dt, o, j->in);
    if (!j->B) return NULL;
    for (int64_t c0 = 0; c0 < j->in; c0 += MERGE_TILE) {
        const int64_t nc = j->in - c0 < MERGE_TILE ? j->in - c0 : MERGE_TILE;
        for (int64_t o = j->row0; o < j->row1; o++) {
            const float *b = j->B + o * j->r;
            for (int64_t i = 0; i < nc; i++)
                tmp[i] = 0.0f;
            for (int64_t k = 0; k < j->r; k++) {
                const float bk = b[k];
                const float *a = j->A + k * j->in + c0;
                for (int64_t i = 0; i < nc; i++)
                    tmp[i] += bk * a[i];
            }
            float *w = j->W + o * j->in + c0;
            for (int64_t i = 0; i < nc; i++)
                w[i] += tmp[i] * j->scale;
        }
    }
    return NULL;
}

clft_status clft_lora_merge(float *W, const void *src, clft_st_dtype src_dtype, const float *A, const float *B,
                            int64_t out, int64_t in, int64_t r, float scale, int threads) {
    if (!W || out < 0 || in < 0 || (B && (!A || r < 1)))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "LoRA merge: bad arguments");
    if (src && src_dtype != CLFT_ST_F32 && src_dtype != CLFT_ST_F16 && src_dtype != CLFT_ST_BF16)
        return clft_error(CLFT_STATUS_UNSUPPORTED, "LoRA merge: base dtype %s (F32, F16 or BF16)",
                          clft_st_dtype_name(src_dtype));
    if (threads <= 0) threads = clft_lora_cores();
    /* about 1M multiply-adds per thread at least: small tensors are not worth a thread */
    const double work = (double)out * (double)in * (double)(B ? r + 1 : 1);
    if (work < (double)threads * 1048576.0) threads = (int)(work / 1048576.0) + 1;
    if (threads > out) threads = out > 0 ? (int)out : 1;
    merge_job jobs[256];
    pthread_t tid[256];
    int started[256] = {0};
    if (threads > 256) threads = 256;
    for (int t = 0; t < threads; t++) {
        merge_job *j = &jobs[t];
        j->W = W;
        j->src = src;
        j->dt = src_dtype;
        j->A = A;
        j->B = B;
        j->in = in;
        j->r = r;
        j->scale = scale;
        j->row0 = out * t / threads;
        j->row1 = out * (t + 1) / threads;
    }
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, merge_rows, &jobs[t]) == 0;
    merge_rows(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            merge_rows(&jobs[t]); /* no thread: do its rows here */
    }
    return CLFT_OK;
}
