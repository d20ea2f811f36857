/* fuzz_safetensors_header.c - libFuzzer target for the safetensors header parser and validator
 * (clft_st_open_memory): any input must give CLFT_OK or an error status, never a crash, a leak or an
 * out-of-bounds read; when it is accepted, every tensor view must lie inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clft_safetensors *st = NULL;
    if (clft_st_open_memory("fuzz.safetensors", data, size, &st) != CLFT_OK) return 0;
    for (size_t i = 0; i < clft_st_count(st); i++) {
        const clft_st_tensor *t = clft_st_at(st, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->bytes > data + size) abort(); /* a view outside the buffer is a bug */
        if (clft_st_find(st, t->name) != t) abort();
        volatile uint8_t sink = 0;
        if (t->bytes) sink = (uint8_t)(p[0] ^ p[t->bytes - 1]);
        (void)sink;
        if (t->numel > 0 && t->numel <= 4096) {
            float *f = malloc((size_t)t->numel * sizeof *f);
            if (f) (void)clft_st_to_f32(st, t, f);
            free(f);
        }
    }
    (void)clft_st_metadata(st, 0, "format");
    clft_safetensors_free(st);
    return 0;
}
