/* tok_gguf.c - the tokenizer of a GGUF file, from llama.cpp's tokenizer.ggml.* metadata, built into
 * the same structure a tokenizer.json fills (tok_internal.h), so encoding, decoding, added tokens
 * and the chat code are the ones of the tokenizer.json path.
 *
 * The ids are those of transformers' GGUF tokenizer (AutoTokenizer.from_pretrained(dir,
 * gguf_file=...); integrations/gguf/gguf_tokenizer_mapping.py in transformers 5.x), which the tests
 * check on real vocabularies:
 *   model "gpt2"  byte-level BPE: tokens (a token whose chars are not all in the GPT-2 byte alphabet
 *                 is respelled from its UTF-8 bytes) and merges ("a b", rank = index; required);
 *                 the pre-tokenizer by tokenizer.ggml.pre: a Split regex (llama3 / llama-bpe, qwen2,
 *                 ... the table below) then ByteLevel without its regex, or ByteLevel with GPT-2's
 *                 regex for default, gpt2 and smollm; no normalizer, the ByteLevel decoder.
 *   model "llama" SentencePiece-style BPE with byte fallback (<0xNN>) and fused unknowns, the
 *                 Metaspace pre-tokenizer ("▁", prepended to the first piece only, no split) and
 *                 decoder Replace("▁", " "), ByteFallback, Fuse, Strip(1 leading space); merges from
 *                 tokenizer.ggml.merges or, as transformers' generate_merges does, from the
 *                 vocabulary: every split of a token into two tokens, ranked by the token's score
 *                 (tokenizer.ggml.scores), then the longer left part, then the longer right part.
 *   added tokens  token_type CONTROL (3) as special tokens (for gpt2 only those spelled in the byte
 *                 alphabet), USER_DEFINED (4) as non-special ones, and the BOS/EOS/UNK/PAD tokens as
 *                 special ones: matched in the raw text before splitting.
 *   BOS/EOS/PAD   tokenizer.ggml.{bos,eos,padding}_token_id; add_bos_token (default: true for
 *                 llama, false for gpt2) and add_eos_token (default false) make the post-processor.
 *   chat template tokenizer.chat_template.
 * Where llama.cpp (src/llama-vocab.cpp) tokenizes differently, clft follows transformers:
 *   - smollm: llama.cpp first cuts every digit alone (\p{N}), transformers does not (on SmolLM2's
 *     vocabulary, which has no token of two digits, the ids are the same);
 *   - llama-bpe: llama.cpp looks a whole pre-token up in the vocabulary before merging
 *     (ignore_merges), transformers' GGUF tokenizer merges;
 *   - llama (SentencePiece): llama.cpp prepends the space after every special token too, and only
 *     when tokenizer.ggml.add_space_prefix is true; transformers prepends it to the text's first
 *     piece whatever the key says;
 *   - UNKNOWN-type tokens other than the unknown token are plain vocabulary in both.
 * Other tokenizer.ggml.model values (bert, t5, rwkv, none, ...) and pre-tokenizer names outside the
 * table are refused by name; a missing tokenizer.ggml.pre means default, as llama.cpp does (with a
 * warning). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "tokenizer/tok_internal.h"

#define K_MODEL  "tokenizer.ggml.model"
#define K_PRE    "tokenizer.ggml.pre"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_TYPES  "tokenizer.ggml.token_type"
#define K_SCORES "tokenizer.ggml.scores"
#define K_MERGES "tokenizer.ggml.merges"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* Split regexes transformers puts before ByteLevel, by tokenizer.ggml.pre
 * (GGUF_PRE_TOKENIZER_SPLITS); NULL: ByteLevel with GPT-2's regex. */
static const char RE_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
                                "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                               "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN35[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"
                                "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_TEKKEN[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT4O[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const struct {
    const char *name, *re;
} PRE_NAMES[] = {
    {"default", NULL},
    {"gpt2", NULL},
    {"gpt-2", NULL}, /* llama.cpp's name for the GPT-2 split (what clft export --gguf writes for a plain ByteLevel) */
    {"smollm", NULL},
    {"llama3", RE_LLAMA3},
    {"llama-v3", RE_LLAMA3},
    {"llama-bpe", RE_LLAMA3},
    {"falcon3", RE_LLAMA3},
    {"falcon-h1", RE_LLAMA3},
    {"pixtral", RE_LLAMA3},
    {"midm-2.0", RE_LLAMA3},
    {"lfm2", RE_LLAMA3},
    {"jina-v5-nano", RE_LLAMA3},
    {"dbrx", RE_LLAMA3},
    {"smaug-bpe", RE_LLAMA3},
    {"tekken", RE_TEKKEN},
    {"qwen2", RE_QWEN2},
    {"deepseek-r1-qwen", RE_QWEN2},
    {"kormo", RE_QWEN2},
    {"f2llmv2", RE_QWEN2},
    {"megrez", RE_QWEN2},
    {"qwen35", RE_QWEN35},
    {"gpt-4o", RE_GPT4O},
    {"llama4", RE_GPT4O},
    {"kanana2", RE_GPT4O},
    {"talkie", RE_GPT4O},
    {"minimax-m2", RE_GPT4O},
};

typedef struct gload {
    const clft_gguf *g;
    const char *path;
    clft_tokenizer *tok;
    int byte_level;
    uint64_t n; /* tokens */
    const clft_gguf_kv *tokens, *types, *scores, *merges;
} gload;

static clft_status oom(void) { return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory"); }

static int is_int_type(clft_gguf_vtype t) {
    return t == CLFT_GGUF_UINT8 || t == CLFT_GGUF_INT8 || t == CLFT_GGUF_UINT16 || t == CLFT_GGUF_INT16 ||
           t == CLFT_GGUF_UINT32 || t == CLFT_GGUF_INT32 || t == CLFT_GGUF_UINT64 || t == CLFT_GGUF_INT64;
}

/* An array metadata entry: NULL when absent (an error when required); elements of the wanted
 * kind ('s' strings, 'i' integers, 'f' numbers); `count` elements unless it is 0. */
static clft_status get_array(gload *L, const char *key, char kind, int required, uint64_t count,
                             const clft_gguf_kv **out) {
    const clft_gguf_kv *kv = clft_gguf_find(L->g, key);
    *out = NULL;
    if (!kv) return required ? clft_error(CLFT_STATUS_FORMAT, "%s: %s is missing", L->path, key) : CLFT_OK;
    int ok = kv->type == CLFT_GGUF_ARRAY &&
             (kind == 's'   ? kv->elem == CLFT_GGUF_STRING
              : kind == 'i' ? is_int_type(kv->elem)
                            : is_int_type(kv->elem) || kv->elem == CLFT_GGUF_FLOAT32 || kv->elem == CLFT_GGUF_FLOAT64);
    if (!ok)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s is not an array of %s", L->path, key,
                          kind == 's'   ? "strings"
                          : kind == 'i' ? "integers"
                                        : "numbers");
    /* An empty merges list is a real vocabulary (a byte-level tokenizer with no merges, as `clft init`
     * writes; llama.cpp loads it); every other array must hold something. */
    if (kv->count == 0 && strcmp(key, K_MERGES) != 0)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s is empty", L->path, key);
    if (count && kv->count != count)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s has %llu entries but %s has %llu", L->path, key,
                          (unsigned long long)kv->count, K_TOKENS, (unsigned long long)count);
    *out = kv;
    return CLFT_OK;
}

/* Optional string (NULL when absent). */
static clft_status get_opt_str(gload *L, const char *key, const char **s, size_t *len) {
    *s = NULL;
    *len = 0;
    if (!clft_gguf_find(L->g, key)) return CLFT_OK;
    return clft_gguf_get_str(L->g, key, s, len);
}

/* Optional token id (-1 when absent); must name a token. */
static clft_status get_opt_id(gload *L, const char *key, int32_t *id) {
    *id = -1;
    if (!clft_gguf_find(L->g, key)) return CLFT_OK;
    int64_t v = 0;
    CLFT_CHECK(clft_gguf_get_i64(L->g, key, &v));
    if (v < 0 || (uint64_t)v >= L->n)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s = %lld is not a token id (%llu tokens)", L->path, key,
                          (long long)v, (unsigned long long)L->n);
    *id = (int32_t)v;
    return CLFT_OK;
}

static clft_status get_opt_bool(gload *L, const char *key, int dflt, int *v) {
    *v = dflt;
    if (!clft_gguf_find(L->g, key)) return CLFT_OK;
    return clft_gguf_get_bool(L->g, key, v);
}

static clft_status token_text(gload *L, uint64_t i, const char **s, size_t *n) {
    CLFT_CHECK(clft_gguf_arr_str(L->tokens, i, s, n));
    if (tok_utf8_check((const unsigned char *)*s, *n) != *n)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s[%llu] is not valid UTF-8", L->path, K_TOKENS,
                          (unsigned long long)i);
    return CLFT_OK;
}

/* Every char of s in the GPT-2 byte alphabet (bytes_to_unicode's values: U+0021-007E, U+00A1-00AC,
 * U+00AE-0143). */
static int in_byte_alphabet(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int32_t c;
        i += tok_utf8_decode((const unsigned char *)s + i, &c);
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0x143))) return 0;
    }
    return 1;
}

static int token_type(const gload *L, uint64_t i) { return L->types ? (int)clft_gguf_arr_i64(L->types, i) : TT_NORMAL; }

/* ---- vocabulary ------------------------------------------------------------------------------- */
static clft_status load_vocab(gload *L) {
    clft_tokenizer *tok = L->tok;
    tok->n_ids = (size_t)L->n;
    tok->tok_off = malloc(sizeof(uint32_t) * tok->n_ids);
    tok->tok_len = malloc(sizeof(uint32_t) * tok->n_ids);
    tok->is_special = calloc(tok->n_ids, 1);
    if (!tok->tok_off || !tok->tok_len || !tok->is_special) return oom();
    CLFT_CHECK(tok_strmap_init(&tok->vocab, tok->n_ids));
    char *sp = NULL; /* respelled text */
    size_t sp_cap = 0;
    for (uint64_t i = 0; i < L->n; i++) {
        const char *s;
        size_t n;
        clft_status st = token_text(L, i, &s, &n);
        if (st == CLFT_OK && L->byte_level && !in_byte_alphabet(s, n)) {
            if (n * 2 + 1 > sp_cap) {
                sp_cap = n * 2 + 64;
                char *p = realloc(sp, sp_cap);
                if (!p) st = oom();
                sp = p ? p : sp;
            }
            size_t m = 0;
            for (size_t k = 0; st == CLFT_OK && k < n; k++) {
                unsigned char b = (unsigned char)s[k];
                memcpy(sp + m, tok->byte_char[b], tok->byte_char_len[b]);
                m += tok->byte_char_len[b];
            }
            s = sp, n = m;
        }
        if (st == CLFT_OK) st = tok_set_token(tok, (int32_t)i, s, n);
        if (st != CLFT_OK) {
            free(sp);
            return st;
        }
        tok->content_hash = clft_fnv1a(tok->content_hash, &n, sizeof n);
        tok->content_hash = clft_fnv1a(tok->content_hash, s, n);
    }
    free(sp);
    /* a text given twice: the later id (a Python dict built in id order) */
    for (uint64_t i = L->n; i-- > 0;)
        tok_strmap_put(tok, &tok->vocab, (int32_t)i);
    if (L->types)
        for (uint64_t i = 0; i < L->n; i++) {
            int t = token_type(L, i);
            tok->content_hash = clft_fnv1a(tok->content_hash, &t, sizeof t);
        }
    return CLFT_OK;
}

/* ---- added tokens ----------------------------------------------------------------------------- */
static clft_status add_token(gload *L, int32_t id, int special) {
    clft_tokenizer *tok = L->tok;
    const char *s;
    size_t n;
    CLFT_CHECK(token_text(L, (uint64_t)id, &s, &n));
    if (n == 0) return CLFT_OK;
    int32_t vid = tok_map_get(tok, &tok->vocab, s, n);
    if (vid < 0) return CLFT_OK; /* not spelled as a vocabulary token (transformers would give it a new id) */
    int32_t have = tok->added_map.slots ? tok_map_get(tok, &tok->added_map, s, n) : -1;
    if (have >= 0) {
        if (special) tok->is_special[have] = 1;
        for (size_t i = 0; special && i < tok->n_added; i++)
            if (tok->added[i].id == have) tok->added[i].special = 1;
        return CLFT_OK;
    }
    tok_added *a = &tok->added[tok->n_added];
    memset(a, 0, sizeof *a);
    a->id = vid;
    a->len = n;
    a->content = malloc(n + 1);
    if (!a->content) return oom();
    memcpy(a->content, s, n);
    a->content[n] = '\0';
    a->special = special;
    tok->n_added++;
    tok_strmap_put(tok, &tok->added_map, vid);
    if (special) tok->is_special[vid] = 1;
    return CLFT_OK;
}

static clft_status load_added(gload *L) {
    clft_tokenizer *tok = L->tok;
    size_t cap = 4;
    for (uint64_t i = 0; L->types && i < L->n; i++) {
        int t = token_type(L, i);
        cap += t == TT_CONTROL || t == TT_USER_DEFINED;
    }
    tok->added = calloc(cap, sizeof *tok->added);
    if (!tok->added) return oom();
    CLFT_CHECK(tok_strmap_init(&tok->added_map, cap));
    for (uint64_t i = 0; L->types && i < L->n; i++) {
        if (token_type(L, i) != TT_CONTROL) continue;
        const char *s;
        size_t n;
        CLFT_CHECK(token_text(L, i, &s, &n));
        /* a control token outside the byte alphabet is a mislabelled byte-level token: skipped */
        if (L->byte_level && !in_byte_alphabet(s, n)) continue;
        CLFT_CHECK(add_token(L, (int32_t)i, 1));
    }
    for (uint64_t i = 0; L->types && i < L->n; i++)
        if (token_type(L, i) == TT_USER_DEFINED) CLFT_CHECK(add_token(L, (int32_t)i, 0));
    int32_t unk = -1;
    CLFT_CHECK(get_opt_id(L, "tokenizer.ggml.unknown_token_id", &unk));
    int32_t ids[4] = {tok->bos_id, tok->eos_id, unk, tok->pad_id};
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0) CLFT_CHECK(add_token(L, ids[k], 1));
    return CLFT_OK;
}

/* ---- merges ----------------------------------------------------------------------------------- */
static clft_status load_merges(gload *L) {
    clft_tokenizer *tok = L->tok;
    const clft_gguf_kv *kv = L->merges;
    CLFT_CHECK(tok_pairmap_init(&tok->merges, (size_t)kv->count));
    char *cat = NULL;
    size_t cat_cap = 0;
    clft_status st = CLFT_OK;
    for (uint64_t i = 0; st == CLFT_OK && i < kv->count; i++) {
        const char *s;
        size_t n;
        st = clft_gguf_arr_str(kv, i, &s, &n);
        if (st != CLFT_OK) break;
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) {
            st = clft_error(CLFT_STATUS_FORMAT, "%s: %s[%llu] '%.*s' is not \"left right\"", L->path, K_MERGES,
                            (unsigned long long)i, (int)(n > 64 ? 64 : n), s);
            break;
        }
        size_t la = (size_t)(sp - s), lb = n - la - 1;
        if (la + lb > cat_cap) {
            cat_cap = (la + lb) * 2 + 64;
            char *p = realloc(cat, cat_cap);
            if (!p) {
                st = oom();
                break;
            }
            cat = p;
        }
        memcpy(cat, s, la);
        memcpy(cat + la, sp + 1, lb);
        int32_t ia = tok_map_get(tok, &tok->vocab, s, la), ib = tok_map_get(tok, &tok->vocab, sp + 1, lb),
                im = tok_map_get(tok, &tok->vocab, cat, la + lb);
        if (ia < 0 || ib < 0 || im < 0) {
            st = clft_error(CLFT_STATUS_FORMAT, "%s: %s[%llu] ('%.*s' + '%.*s'): %s is not in %s", L->path, K_MERGES,
                            (unsigned long long)i, (int)(la > 64 ? 64 : la), s, (int)(lb > 64 ? 64 : lb), sp + 1,
                            ia < 0   ? "the left token"
                            : ib < 0 ? "the right token"
                                     : "the merged token",
                            K_TOKENS);
            break;
        }
        tok->content_hash = clft_fnv1a(tok->content_hash, s, n + 1); /* with the NUL: one merge each */
        tok_pairmap_put(&tok->merges, ia, ib, (uint32_t)i, im);
    }
    free(cat);
    return st;
}

/* A merge derived from the vocabulary (transformers' generate_merges). */
typedef struct gmerge {
    double score;
    uint32_t left_chars, right_chars;
    int32_t left, right, merged;
    uint32_t seq;
} gmerge;

static int gmerge_cmp(const void *pa, const void *pb) {
    const gmerge *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1; /* best score first */
    if (a->left_chars != b->left_chars) return a->left_chars > b->left_chars ? -1 : 1;
    if (a->right_chars != b->right_chars) return a->right_chars > b->right_chars ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq; /* stable */
}

static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Every token that is two tokens joined gives a merge, ranked by its score (see the top). */
static clft_status derive_merges(gload *L) {
    clft_tokenizer *tok = L->tok;
    gmerge *m = NULL;
    size_t nm = 0, cap = 0;
    clft_status st = CLFT_OK;
    for (uint64_t i = 0; st == CLFT_OK && i < L->n; i++) {
        const char *s = tok->arena + tok->tok_off[i];
        size_t n = tok->tok_len[i];
        if (tok_map_get(tok, &tok->vocab, s, n) != (int32_t)i) continue; /* a repeated text: its last id */
        double score = clft_gguf_arr_f64(L->scores, i);
        if (isnan(score)) {
            st = clft_error(CLFT_STATUS_FORMAT, "%s: %s[%llu] is NaN", L->path, K_SCORES, (unsigned long long)i);
            break;
        }
        tok->content_hash = clft_fnv1a(tok->content_hash, &score, sizeof score);
        size_t first = nm;
        for (size_t k = 1; k < n; k++) {
            if (((unsigned char)s[k] & 0xC0) == 0x80) continue; /* inside a char */
            int32_t a = tok_map_get(tok, &tok->vocab, s, k), b = tok_map_get(tok, &tok->vocab, s + k, n - k);
            if (a < 0 || b < 0) continue;
            if (nm == cap) {
                cap = cap ? cap * 2 : 65536;
                gmerge *p = realloc(m, sizeof *m * cap);
                if (!p) {
                    st = oom();
                    break;
                }
                m = p;
            }
            gmerge g = {score, (uint32_t)utf8_chars(s, k), (uint32_t)utf8_chars(s + k, n - k), a, b, (int32_t)i, 0};
            /* within one token: by (left id, right id) */
            size_t j = nm++;
            while (j > first && (m[j - 1].left > a || (m[j - 1].left == a && m[j - 1].right > b))) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = g;
        }
    }
    for (size_t i = 0; i < nm; i++)
        m[i].seq = (uint32_t)i;
    if (st == CLFT_OK) {
        qsort(m, nm, sizeof *m, gmerge_cmp);
        st = tok_pairmap_init(&tok->merges, nm);
    }
    for (size_t i = 0; st == CLFT_OK && i < nm; i++)
        tok_pairmap_put(&tok->merges, m[i].left, m[i].right, (uint32_t)i, m[i].merged);
    free(m);
    return st;
}

/* ---- pipeline --------------------------------------------------------------------------------- */
static clft_status push_dec(clft_tokenizer *tok, tok_dec_kind kind, const char *str, const char *str2, int start) {
    tok_dec d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.start = start;
    if ((str && !(d.str = clft_strdup(str))) || (str2 && !(d.str2 = clft_strdup(str2)))) {
        free(d.str);
        return oom();
    }
    d.len = str ? strlen(str) : 0;
    d.len2 = str2 ? strlen(str2) : 0;
    tok_dec *p = realloc(tok->decs, sizeof *p * (tok->n_decs + 1));
    if (!p) {
        free(d.str);
        free(d.str2);
        return oom();
    }
    tok->decs = p;
    tok->decs[tok->n_decs++] = d;
    return CLFT_OK;
}

static clft_status load_pipeline(gload *L, const char *pre, size_t pre_len) {
    clft_tokenizer *tok = L->tok;
    tok_pre p;
    memset(&p, 0, sizeof p);
    if (!L->byte_level) { /* pre is not used by SentencePiece vocabularies (llama.cpp neither) */
        p.kind = TOK_PRE_METASPACE;
        memcpy(p.repl, "\xe2\x96\x81", 3);
        p.repl_len = 3;
        p.prepend_scheme = TOK_PREPEND_FIRST;
        p.split = 0;
        CLFT_CHECK(tok_push_pre(tok, &p));
        tok->byte_fallback = 1;
        tok->fuse_unk = 1;
        CLFT_CHECK(push_dec(tok, TOK_DEC_REPLACE, "\xe2\x96\x81", " ", 0));
        CLFT_CHECK(push_dec(tok, TOK_DEC_BYTEFALLBACK, NULL, NULL, 0));
        CLFT_CHECK(push_dec(tok, TOK_DEC_FUSE, NULL, NULL, 0));
        CLFT_CHECK(push_dec(tok, TOK_DEC_STRIP, " ", NULL, 1));
        return CLFT_OK;
    }
    size_t k = 0, np = sizeof PRE_NAMES / sizeof PRE_NAMES[0];
    if (!pre) {
        clft_log(CLFT_LOG_WARN, "%s: no %s, using 'default' (GPT-2's regex)", L->path, K_PRE);
    } else {
        while (k < np && !(strlen(PRE_NAMES[k].name) == pre_len && !memcmp(PRE_NAMES[k].name, pre, pre_len)))
            k++;
        if (k == np)
            return clft_error(CLFT_STATUS_UNSUPPORTED,
                              "%s: %s '%.*s' is not supported (clft knows default, gpt2, smollm, llama3/llama-bpe, "
                              "qwen2, qwen35, tekken, gpt-4o, llama4 and their aliases)",
                              L->path, K_PRE, (int)(pre_len > 64 ? 64 : pre_len), pre);
    }
    tok->byte_level = 1;
    const char *re = pre ? PRE_NAMES[k].re : NULL;
    if (re) {
        p.kind = TOK_PRE_SPLIT;
        p.behavior = TOK_SPLIT_ISOLATED;
        CLFT_CHECK(tok_compile_regex(tok, re, 0, &p));
        CLFT_CHECK(tok_push_pre(tok, &p));
        memset(&p, 0, sizeof p);
    } else
        CLFT_CHECK(tok_compile_regex(tok, TOK_GPT2_RE, 0, &p));
    p.kind = TOK_PRE_BYTELEVEL;
    CLFT_CHECK(tok_push_pre(tok, &p));
    return push_dec(tok, TOK_DEC_BYTELEVEL, NULL, NULL, 0);
}

/* ---- entry ------------------------------------------------------------------------------------ */
static clft_status build(gload *L) {
    clft_tokenizer *tok = L->tok;
    const char *model, *pre;
    size_t model_len, pre_len;
    if (!clft_gguf_find(L->g, K_MODEL))
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s is missing (no tokenizer in this GGUF file)", L->path, K_MODEL);
    CLFT_CHECK(clft_gguf_get_str(L->g, K_MODEL, &model, &model_len));
    int gpt2 = model_len == 4 && !memcmp(model, "gpt2", 4), llama = model_len == 5 && !memcmp(model, "llama", 5);
    if (!gpt2 && !llama)
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "%s: %s '%.*s' is not supported (clft reads 'gpt2' byte-level BPE and 'llama' "
                          "SentencePiece-style vocabularies)",
                          L->path, K_MODEL, (int)(model_len > 64 ? 64 : model_len), model);
    L->byte_level = gpt2;
    tok->content_hash = clft_fnv1a(tok->content_hash, model, model_len);
    CLFT_CHECK(get_opt_str(L, K_PRE, &pre, &pre_len));
    if (pre && gpt2) tok->content_hash = clft_fnv1a(tok->content_hash, pre, pre_len);
    CLFT_CHECK(get_array(L, K_TOKENS, 's', 1, 0, &L->tokens));
    L->n = L->tokens->count;
    if (L->n > 16777216)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s has %llu tokens (at most 16777216)", L->path, K_TOKENS,
                          (unsigned long long)L->n);
    CLFT_CHECK(get_array(L, K_TYPES, 'i', 0, L->n, &L->types));
    CLFT_CHECK(get_array(L, K_MERGES, 's', 0, 0, &L->merges));
    if (gpt2 && !L->merges)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s is missing (a gpt2 vocabulary needs its merges)", L->path,
                          K_MERGES);
    if (llama) CLFT_CHECK(get_array(L, K_SCORES, 'f', !L->merges, L->n, &L->scores));
    tok_build_byte_map(tok); /* the byte alphabet, for respelling */
    CLFT_CHECK(load_vocab(L));
    CLFT_CHECK(L->merges ? load_merges(L) : derive_merges(L));
    CLFT_CHECK(load_pipeline(L, pre, pre_len));
    CLFT_CHECK(get_opt_id(L, "tokenizer.ggml.bos_token_id", &tok->bos_id));
    CLFT_CHECK(get_opt_id(L, "tokenizer.ggml.eos_token_id", &tok->eos_id));
    CLFT_CHECK(get_opt_id(L, "tokenizer.ggml.padding_token_id", &tok->pad_id));
    CLFT_CHECK(load_added(L));
    int add_bos, add_eos;
    CLFT_CHECK(get_opt_bool(L, "tokenizer.ggml.add_bos_token", llama, &add_bos));
    CLFT_CHECK(get_opt_bool(L, "tokenizer.ggml.add_eos_token", 0, &add_eos));
    if (add_bos && tok->bos_id >= 0) tok->prefix_ids[tok->n_prefix++] = tok->bos_id;
    if (add_eos && tok->eos_id >= 0) tok->suffix_ids[tok->n_suffix++] = tok->eos_id;
    int32_t sp[3] = {tok->bos_id, tok->eos_id, add_bos * 2 + add_eos};
    tok->content_hash = clft_fnv1a(tok->content_hash, sp, sizeof sp);
    const char *tpl;
    size_t tpl_len;
    CLFT_CHECK(get_opt_str(L, "tokenizer.chat_template", &tpl, &tpl_len));
    if (tpl) {
        if (!(tok->chat_template = malloc(tpl_len + 1))) return oom();
        memcpy(tok->chat_template, tpl, tpl_len);
        tok->chat_template[tpl_len] = '\0';
        tok->content_hash = clft_fnv1a(tok->content_hash, tpl, tpl_len);
    }
    return tok_finish(tok);
}

clft_status tok_load_gguf(const char *path, clft_tokenizer **out) {
    *out = NULL;
    clft_gguf *g = NULL;
    CLFT_CHECK(clft_gguf_open(path, &g));
    gload L;
    memset(&L, 0, sizeof L);
    L.g = g;
    L.path = path;
    L.tok = tok_new(path);
    clft_status st = L.tok ? CLFT_OK : oom();
    if (st == CLFT_OK) {
        L.tok->content_hash = CLFT_FNV_INIT;
        st = build(&L);
    }
    clft_gguf_free(g);
    if (st != CLFT_OK) {
        clft_tokenizer_free(L.tok);
        return st;
    }
    *out = L.tok;
    return CLFT_OK;
}
