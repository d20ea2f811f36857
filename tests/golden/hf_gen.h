/* hf_gen.h - the deterministic test-weight generator of tests/reference/hf_reference.py, in C.
 * Both sides compute the same f32 values, so the transformers fixtures need not hold the weights:
 * element i of tensor NAME is u = (k - 2^23) / 2^23, k the top 24 bits of
 * splitmix64(fnv1a(NAME) ^ (seed * golden) + i * 0xd1b54a32d192ed03), exact in double; the value
 * (norms 1 + u/8, LoRA A u/8, everything else u/16) is rounded once to f32. */
#ifndef CLFT_HF_GEN_H
#define CLFT_HF_GEN_H

#include <stdint.h>
#include <string.h>

static inline uint64_t hfg_fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static inline uint64_t hfg_splitmix(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline double hfg_uniform(uint64_t h, uint64_t i) {
    const uint64_t k = hfg_splitmix(h + i * 0xd1b54a32d192ed03ULL) >> 40;
    return ((double)k - 8388608.0) / 8388608.0;
}

static inline uint64_t hfg_hash(const char *name, uint64_t seed) {
    return hfg_fnv1a(name) ^ (seed * 0x9e3779b97f4a7c15ULL);
}

static inline int hfg_ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The n values of the tensor called name (its Hugging Face / PEFT name). */
static inline void hfg_weight(const char *name, int64_t n, uint64_t seed, float *out) {
    const uint64_t h = hfg_hash(name, seed);
    const int norm = hfg_ends_with(name, "norm.weight"), lora_a = strstr(name, "lora_A") != NULL;
    for (int64_t i = 0; i < n; i++) {
        const double u = hfg_uniform(h, (uint64_t)i);
        out[i] = (float)(norm ? 1.0 + u / 8.0 : lora_a ? u / 8.0 : u / 16.0);
    }
}

#endif
