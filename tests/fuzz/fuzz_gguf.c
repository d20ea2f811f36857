/* fuzz_gguf.c - libFuzzer target for the GGUF reader (clft_gguf_open_memory): any input must give
 * CLFT_OK or an error status, never a crash, a leak or an out-of-bounds read; when it is accepted,
 * every metadata value and tensor view must lie inside the input, every lookup must find what the
 * listing holds, and small tensors are converted to f32 (reading every byte of their blocks). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *data, size_t size, const void *p, uint64_t bytes) {
    const uint8_t *q = p;
    if (bytes == 0) return;
    if (q < data || bytes > size || q + bytes > data + size) abort(); /* a view outside the buffer is a bug */
    volatile uint8_t sink = (uint8_t)(q[0] ^ q[bytes - 1]);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clft_gguf *g = NULL;
    if (clft_gguf_open_memory("fuzz.gguf", data, size, &g) != CLFT_OK) return 0;
    uint32_t align = clft_gguf_alignment(g);
    if (align == 0 || (align & (align - 1))) abort();
    for (size_t i = 0; i < clft_gguf_kv_count(g); i++) {
        const clft_gguf_kv *kv = clft_gguf_kv_at(g, i);
        if (clft_gguf_find(g, kv->key) != kv) abort();
        if (kv->type == CLFT_GGUF_STRING) {
            inside(data, size, kv->data, kv->count);
        } else if (kv->type == CLFT_GGUF_ARRAY) {
            for (uint64_t j = 0; j < kv->count && j < 64; j++) {
                if (kv->elem == CLFT_GGUF_STRING) {
                    const char *s = NULL;
                    size_t len = 0;
                    if (clft_gguf_arr_str(kv, j, &s, &len) != CLFT_OK) abort();
                    inside(data, size, s, len);
                } else {
                    (void)clft_gguf_arr_i64(kv, j);
                    (void)clft_gguf_arr_f64(kv, j);
                }
            }
        } else {
            int64_t v;
            double d;
            int b;
            (void)clft_gguf_get_i64(g, kv->key, &v);
            (void)clft_gguf_get_f64(g, kv->key, &d);
            (void)clft_gguf_get_bool(g, kv->key, &b);
        }
    }
    for (size_t i = 0; i < clft_gguf_tensor_count(g); i++) {
        const clft_gguf_tensor *t = clft_gguf_tensor_at(g, i);
        if (clft_gguf_tensor_find(g, t->name) != t) abort();
        if (t->ndim < 0 || t->ndim > CLFT_GGUF_MAX_DIMS || t->numel < 1) abort();
        inside(data, size, t->data, t->bytes);
        if (t->numel <= 65536) {
            float *f = malloc((size_t)t->numel * sizeof *f);
            if (f && clft_gguf_to_f32(g, t, f) != CLFT_OK) abort();
            free(f);
        }
    }
    clft_gguf_free(g);
    return 0;
}
