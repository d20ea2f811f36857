/* tok_internal.h - internal structures of the tokenizer: vocabulary and merge hash maps, the
 * normalizer / pre-tokenizer / decoder pipelines as parsed from tokenizer.json, and the shared
 * helpers of tokenizer.c (loading, decoding, public accessors) and tok_encode.c (encoding). */
#ifndef CLFT_TOK_INTERNAL_H
#define CLFT_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"

/* ---- string -> id hash map (open addressing, keys live in the tokenizer's string arena) ------- */
typedef struct tok_strmap {
    int32_t *slots; /* id, or -1 when empty */
    uint32_t mask;  /* capacity - 1 (power of two) */
} tok_strmap;

/* ---- (left id, right id) -> (rank, merged id) --------------------------------------------------- */
typedef struct tok_pair_slot {
    uint64_t key; /* (left << 32) | right; UINT64_MAX when empty */
    uint32_t rank;
    int32_t merged;
} tok_pair_slot;
typedef struct tok_pairmap {
    tok_pair_slot *slots;
    uint32_t mask;
} tok_pairmap;

/* ---- word cache: pre-token bytes -> tokens (id, start, end relative to the word) ------------ */
typedef struct tok_cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len, tok_off, tok_n;
} tok_cache_entry;
typedef struct tok_cache {
    uint32_t *cslots; /* entry index + 1, 0 = empty */
    uint32_t cmask;
    tok_cache_entry *cent;
    size_t cn, ccap;
    char *ckeys;
    size_t ckn, ckcap;
    int32_t *ctoks; /* (id, start, end) triples */
    size_t ctn, ctcap;
} tok_cache;
#define TOK_CACHE_MAX_WORDS 131072 /* then it starts over (~10 MB) */
void tok_cache_free(tok_cache *c);

/* ---- pipeline steps --------------------------------------------------------------------------- */
typedef enum tok_norm_kind {
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE,
    TOK_NORM_PREPEND, /* str */
    TOK_NORM_REPLACE, /* str -> str2 (literal) */
    TOK_NORM_STRIP    /* left/right */
} tok_norm_kind;
typedef struct tok_norm {
    tok_norm_kind kind;
    char *str, *str2;
    size_t len, len2;
    int left, right;
} tok_norm;

typedef enum tok_split_behavior {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
} tok_split_behavior;

typedef enum tok_pre_kind {
    TOK_PRE_SPLIT,     /* regex (or literal string compiled as an escaped regex) */
    TOK_PRE_BYTELEVEL, /* add_prefix_space, use_regex (GPT-2 regex) */
    TOK_PRE_METASPACE, /* replacement, prepend_scheme, split */
    TOK_PRE_WHITESPACE_SPLIT
} tok_pre_kind;
enum { TOK_PREPEND_ALWAYS = 0, TOK_PREPEND_FIRST = 1, TOK_PREPEND_NEVER = 2 };
typedef struct tok_pre {
    tok_pre_kind kind;
    pcre2_code *re; /* SPLIT, BYTELEVEL with use_regex */
    int jit;        /* re was JIT-compiled */
    tok_split_behavior behavior;
    int invert;
    int add_prefix_space;
    char repl[8]; /* METASPACE replacement (UTF-8) */
    size_t repl_len;
    int prepend_scheme;
    int split;
} tok_pre;

typedef enum tok_dec_kind {
    TOK_DEC_REPLACE, /* str -> str2 in every token */
    TOK_DEC_BYTEFALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_STRIP, /* str (one char), start, stop */
    TOK_DEC_BYTELEVEL,
    TOK_DEC_METASPACE /* str = replacement, prepend (scheme != never) */
} tok_dec_kind;
typedef struct tok_dec {
    tok_dec_kind kind;
    char *str, *str2;
    size_t len, len2;
    int start, stop;
    int prepend;
} tok_dec;

typedef struct tok_added {
    int32_t id;
    char *content;
    size_t len;
    char *match; /* what is matched: content, or content through the normalizers (normalized) */
    size_t mlen;
    int single_word, lstrip, rstrip, normalized, special;
} tok_added;

/* Set of added tokens to match in a text: leftmost, then longest match. */
typedef struct tok_matcher {
    int32_t *order; /* indices into tok->added, grouped by first byte, longest first */
    uint32_t start[257];
    size_t n;
    uint64_t second[256][4]; /* second bytes present after each first byte */
    uint8_t single[256];     /* a one-byte token exists for this byte */
} tok_matcher;

struct clft_tokenizer {
    char *name; /* file path for messages */
    /* vocabulary: id -> (offset, length) in arena; NUL-terminated strings */
    char *arena;
    size_t arena_len, arena_cap;
    uint32_t *tok_off;
    uint32_t *tok_len;
    uint8_t *is_special; /* per id */
    size_t n_ids;        /* max id + 1 */
    tok_strmap vocab;    /* model vocabulary */
    tok_pairmap merges;
    int32_t unk_id;
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_tok[256]; /* <0xXX> ids (byte fallback), -1 when absent */
    int32_t ascii_id[128]; /* vocabulary id of each one-byte token, -1 when absent */
    /* byte-level */
    int byte_level;            /* a ByteLevel pre-tokenizer is present: BPE works on mapped bytes */
    int32_t byte_char_id[256]; /* id of the one-char token of every mapped byte */
    char byte_char[256][3];    /* byte -> UTF-8 of its mapped char */
    uint8_t byte_char_len[256];
    int16_t char_byte[324]; /* mapped char (code point < 324) -> byte, -1 when not a mapped char */
    /* SentencePiece-style: words may be split before a "▁" that follows another char (no vocab
     * token contains "x▁" with x != "▁"), which lets long unsplit texts be merged piecewise */
    int sp_split_ok;
    char sp_mark[8];
    size_t sp_mark_len;
    /* pipeline */
    tok_norm *norms;
    size_t n_norms;
    tok_pre *pres;
    size_t n_pres;
    tok_dec *decs;
    size_t n_decs;
    /* added tokens */
    tok_added *added;
    size_t n_added;
    tok_strmap added_map;
    tok_matcher match_raw, match_norm;
    /* post-processing / special ids */
    int32_t prefix_ids[4], suffix_ids[4];
    size_t n_prefix, n_suffix;
    int32_t bos_id, eos_id, pad_id;
    char *chat_template;
    uint64_t content_hash; /* FNV-1a of the tokenizer.json and tokenizer_config.json texts */
    /* word cache shared by the calls on this tokenizer; a call that finds it locked by another
     * thread uses a private one (encoding results never depend on the cache) */
    tok_cache *cache;
    pthread_mutex_t *cache_lock; /* NULL when it could not be created: no shared cache */
};

/* Hash of a byte string. */
static inline uint64_t tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

static inline uint64_t tok_hash64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* Look up a string in a map whose keys are token texts of tok. -1 when absent. */
static inline int32_t tok_map_get(const clft_tokenizer *tok, const tok_strmap *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint32_t i = (uint32_t)tok_hash(s, n) & m->mask;
    for (;;) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        if (tok->tok_len[id] == n && memcmp(tok->arena + tok->tok_off[id], s, n) == 0) return id;
        i = (i + 1) & m->mask;
    }
}

static inline const tok_pair_slot *tok_pair_get(const tok_pairmap *m, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t i = (uint32_t)tok_hash64(key) & m->mask;
    for (;;) {
        const tok_pair_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* Length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes). */
static inline size_t tok_utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }
/* Offset of the first invalid byte of s, or n when s is valid UTF-8. */
size_t tok_utf8_check(const unsigned char *s, size_t n);
/* Decode one code point at s (valid UTF-8 assumed); returns its length. */
size_t tok_utf8_decode(const unsigned char *s, int32_t *cp);
size_t tok_utf8_encode(int32_t cp, char *out);

/* The text through the tokenizer's normalizers; *out owned by the caller (free). */
clft_status tok_normalize(const clft_tokenizer *tok, const char *s, size_t n, char **out, size_t *out_len);

/* ---- building a tokenizer (tokenizer.c), shared by the tokenizer.json and GGUF loaders -------- */
/* A tokenizer with no vocabulary yet (ids -1, word cache); NULL when out of memory. */
clft_tokenizer *tok_new(const char *name);
/* Maps over n keys (all slots empty). */
clft_status tok_strmap_init(tok_strmap *m, size_t n);
clft_status tok_pairmap_init(tok_pairmap *m, size_t n);
/* Insert id, whose text is set already (an equal key present keeps its id). */
void tok_strmap_put(const clft_tokenizer *tok, tok_strmap *m, int32_t id);
/* (a, b) -> (rank, merged); a later equal pair replaces the earlier. */
void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);
/* Text of id (copied into the arena; tok_off/tok_len must hold n_ids entries). */
clft_status tok_set_token(clft_tokenizer *tok, int32_t id, const char *s, size_t n);
/* Compile an Oniguruma-syntax pattern (or a literal) into p->re. */
clft_status tok_compile_regex(clft_tokenizer *tok, const char *pattern, int literal, tok_pre *p);
/* Append a pre-tokenizer step (takes p's regex; frees it on failure). */
clft_status tok_push_pre(clft_tokenizer *tok, const tok_pre *p);
/* The GPT-2 byte <-> char map (byte_char, char_byte; byte_char_id from the vocabulary as it is). */
void tok_build_byte_map(clft_tokenizer *tok);
/* GPT-2's pre-tokenizer pattern (ByteLevel with use_regex). */
extern const char TOK_GPT2_RE[];
/* Id of an added token or vocabulary entry, -1 when neither. */
int32_t tok_lookup_any(const clft_tokenizer *tok, const char *s);
/* After the vocabulary, merges, pipeline and added tokens are set: one-byte and <0xXX> token ids,
 * the byte-level map (and its check), added-token matchers and the SentencePiece split check. */
clft_status tok_finish(clft_tokenizer *tok);

/* The tokenizer of a GGUF file's tokenizer.ggml.* metadata (tok_gguf.c). */
clft_status tok_load_gguf(const char *path, clft_tokenizer **out);

/* Encoding entry point (tok_encode.c). */
clft_status tok_encode(const clft_tokenizer *tok, const char *text, size_t len, int add_special, int32_t **ids,
                       size_t **offsets, size_t *n);

#endif
