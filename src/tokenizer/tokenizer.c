/* tokenizer.c - loading a Hugging Face tokenizer.json (BPE model) and tokenizer_config.json,
 * decoding (decoder chains) and the public accessors. Encoding lives in tok_encode.c.
 * Format notes: shared/reference/FORMATS.md section 5; behaviour follows the Rust `tokenizers`
 * crate (models/bpe, normalizers, pre_tokenizers, decoders), re-implemented here. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "tokenizer/tok_internal.h"

/* ---- UTF-8 ------------------------------------------------------------------------------------ */
size_t tok_utf8_check(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return i;
        if (n - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return n;
}

size_t tok_utf8_decode(const unsigned char *s, int32_t *cp) {
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        *cp = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

size_t tok_utf8_encode(int32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- growable byte buffer --------------------------------------------------------------------- */
typedef struct tbuf {
    char *p;
    size_t n, cap;
} tbuf;
static int tbuf_put(tbuf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            clft_error(CLFT_STATUS_HOST_OOM, "out of host memory (%zu bytes)", cap);
            return 0;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 1;
}

/* ---- file reading ----------------------------------------------------------------------------- */
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A file that starts with the GGUF magic. */
static int is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4] = {0};
    size_t r = fread(m, 1, 4, f);
    fclose(f);
    return r == 4 && memcmp(m, "GGUF", 4) == 0;
}

/* Read a whole file (decompressing .zst). *out is NUL-terminated, owned by the caller. */
static clft_status read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return clft_error(CLFT_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    tbuf b = {0};
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!tbuf_put(&b, chunk, r)) {
            fclose(f);
            free(b.p);
            return CLFT_STATUS_HOST_OOM;
        }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(b.p);
        return clft_error(CLFT_STATUS_IO, "%s: read error", path);
    }
    if (!b.p && !tbuf_put(&b, "", 0)) return CLFT_STATUS_HOST_OOM;
    if (ends_with(path, ".zst")) {
        unsigned long long sz = ZSTD_getFrameContentSize(b.p, b.n);
        tbuf d = {0};
        ZSTD_DStream *ds = ZSTD_createDStream();
        if (!ds) {
            free(b.p);
            return clft_error(CLFT_STATUS_HOST_OOM, "%s: cannot create a zstd stream", path);
        }
        if (sz != ZSTD_CONTENTSIZE_UNKNOWN && sz != ZSTD_CONTENTSIZE_ERROR && sz < ((size_t)1 << 31)) {
            d.p = malloc((size_t)sz + 1);
            d.cap = d.p ? (size_t)sz + 1 : 0;
        }
        ZSTD_inBuffer in = {b.p, b.n, 0};
        size_t ret = 1;
        clft_status st = CLFT_OK;
        while (in.pos < in.size) {
            ZSTD_outBuffer o = {chunk, sizeof chunk, 0};
            ret = ZSTD_decompressStream(ds, &o, &in);
            if (ZSTD_isError(ret)) {
                st = clft_error(CLFT_STATUS_FORMAT, "%s: zstd: %s", path, ZSTD_getErrorName(ret));
                break;
            }
            if (!tbuf_put(&d, chunk, o.pos)) {
                st = CLFT_STATUS_HOST_OOM;
                break;
            }
            if (o.pos == 0 && ret != 0 && in.pos == in.size) break;
        }
        for (int guard = 0; st == CLFT_OK && ret != 0 && guard < 1000000; guard++) { /* flush */
            ZSTD_outBuffer o = {chunk, sizeof chunk, 0};
            ret = ZSTD_decompressStream(ds, &o, &in);
            if (ZSTD_isError(ret)) {
                st = clft_error(CLFT_STATUS_FORMAT, "%s: zstd: %s", path, ZSTD_getErrorName(ret));
                break;
            }
            if (!tbuf_put(&d, chunk, o.pos)) st = CLFT_STATUS_HOST_OOM;
            if (o.pos == 0) break;
        }
        if (st == CLFT_OK && ret != 0) st = clft_error(CLFT_STATUS_FORMAT, "%s: truncated zstd frame", path);
        ZSTD_freeDStream(ds);
        free(b.p);
        if (st != CLFT_OK) {
            free(d.p);
            return st;
        }
        if (!d.p && !tbuf_put(&d, "", 0)) return CLFT_STATUS_HOST_OOM;
        b = d;
    }
    *out = b.p;
    *len = b.n;
    return CLFT_OK;
}

/* ---- maps ------------------------------------------------------------------------------------- */
static uint32_t pow2_at_least(size_t n) {
    uint32_t c = 16;
    while (c < n * 2)
        c <<= 1;
    return c;
}

clft_status tok_strmap_init(tok_strmap *m, size_t n) {
    uint32_t cap = pow2_at_least(n);
    m->slots = malloc(sizeof(int32_t) * cap);
    if (!m->slots) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    memset(m->slots, 0xff, sizeof(int32_t) * cap);
    m->mask = cap - 1;
    return CLFT_OK;
}

/* Insert id (its text is already in the arena); an existing equal key keeps the first id. */
void tok_strmap_put(const clft_tokenizer *tok, tok_strmap *m, int32_t id) {
    const char *s = tok->arena + tok->tok_off[id];
    size_t n = tok->tok_len[id];
    uint32_t i = (uint32_t)tok_hash(s, n) & m->mask;
    while (m->slots[i] >= 0) {
        int32_t o = m->slots[i];
        if (tok->tok_len[o] == n && memcmp(tok->arena + tok->tok_off[o], s, n) == 0) return;
        i = (i + 1) & m->mask;
    }
    m->slots[i] = id;
}

clft_status tok_pairmap_init(tok_pairmap *m, size_t n) {
    uint32_t cap = pow2_at_least(n);
    m->slots = malloc(sizeof(tok_pair_slot) * cap);
    if (!m->slots) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    for (uint32_t i = 0; i < cap; i++)
        m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
    return CLFT_OK;
}

/* A later duplicate replaces the earlier one (the Rust crate collects merges into a HashMap). */
void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t i = (uint32_t)tok_hash64(key) & m->mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    m->slots[i].key = key;
    m->slots[i].rank = rank;
    m->slots[i].merged = merged;
}

/* ---- arena ------------------------------------------------------------------------------------ */
static clft_status arena_add(clft_tokenizer *tok, const char *s, size_t n, uint32_t *off) {
    if (tok->arena_len + n + 1 > tok->arena_cap) {
        size_t cap = tok->arena_cap ? tok->arena_cap * 2 : 1 << 16;
        while (tok->arena_len + n + 1 > cap)
            cap *= 2;
        if (cap > UINT32_MAX) return clft_error(CLFT_STATUS_FORMAT, "%s: vocabulary text too large", tok->name);
        char *p = realloc(tok->arena, cap);
        if (!p) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        tok->arena = p;
        tok->arena_cap = cap;
    }
    memcpy(tok->arena + tok->arena_len, s, n);
    tok->arena[tok->arena_len + n] = '\0';
    *off = (uint32_t)tok->arena_len;
    tok->arena_len += n + 1;
    return CLFT_OK;
}

/* ---- JSON helpers ----------------------------------------------------------------------------- */
static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jbool(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}
/* A token given as "text" or {"content": "text", ...} (tokenizer_config.json). */
static const char *jtoken(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return jstr(v, "content");
    return NULL;
}

static clft_status parse_json(const char *name, const char *text, size_t len, cJSON **out) {
    const char *end = NULL;
    /* valid UTF-8 throughout (JSON requires it; cJSON does not check): every string taken from
     * the file is then valid UTF-8 too (its \u escapes are checked by cJSON) */
    size_t bad = tok_utf8_check((const unsigned char *)text, len);
    if (bad < len) return clft_error(CLFT_STATUS_FORMAT, "%s: invalid UTF-8 at byte %zu", name, bad);
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        const char *e = cJSON_GetErrorPtr();
        size_t off = (e && e >= text && e <= text + len) ? (size_t)(e - text) : len, line = 1, col = 1;
        for (size_t i = 0; i < off; i++)
            col = text[i] == '\n' ? (line++, 1) : col + 1;
        return clft_error(CLFT_STATUS_FORMAT, "%s: malformed JSON near byte %zu of %zu (line %zu, column %zu)%s", name,
                          off, len, line, col, off >= len ? ": truncated?" : "");
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return clft_error(CLFT_STATUS_FORMAT, "%s: the top level is not a JSON object", name);
    }
    *out = j;
    return CLFT_OK;
}

/* ---- regexes ---------------------------------------------------------------------------------- */
/* Convert the Oniguruma (Ruby syntax) constructs that PCRE2 reads differently: \h/\H (hex digit in
 * Oniguruma, horizontal space in PCRE2), \w/\W (Oniguruma's word includes marks) and (?m) (dot-all
 * in Ruby syntax). The rest of what HF
 * tokenizers use (\p{L}, \p{N}, (?i:...), (?!...), {m,n}) means the same in both. */
static char *onig_to_pcre2(const char *re) {
    tbuf b = {0};
    size_t n = strlen(re);
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            char d = re[i + 1];
            if (d == 'w') { /* Oniguruma's Unicode word: Letter | Mark | Decimal_Number | Connector_Punctuation */
                const char *w = in_class ? "\\p{L}\\p{M}\\p{Nd}\\p{Pc}" : "[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
                if (!tbuf_put(&b, w, strlen(w))) goto oom;
            } else if (d == 'W' && !in_class) {
                if (!tbuf_put(&b, "[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]", 25)) goto oom;
            } else if (d == 'h') {
                if (!tbuf_put(&b, in_class ? "0-9a-fA-F" : "[0-9a-fA-F]", in_class ? 9 : 11)) goto oom;
            } else if (d == 'H' && !in_class) {
                if (!tbuf_put(&b, "[^0-9a-fA-F]", 12)) goto oom;
            } else if (!tbuf_put(&b, re + i, 2))
                goto oom;
            i++;
            continue;
        }
        if (c == '[')
            in_class++;
        else if (c == ']' && in_class)
            in_class--;
        if (!in_class && c == '(' && i + 2 < n && re[i + 1] == '?') {
            /* flag group: map m -> s */
            size_t j = i + 2;
            if (re[j] != ':' && re[j] != '=' && re[j] != '!' && re[j] != '<' && re[j] != '>' && re[j] != '#') {
                if (!tbuf_put(&b, "(?", 2)) goto oom;
                for (; j < n && re[j] != ')' && re[j] != ':'; j++) {
                    char f = re[j] == 'm' ? 's' : re[j];
                    if (!tbuf_put(&b, &f, 1)) goto oom;
                }
                i = j - 1;
                continue;
            }
        }
        if (!tbuf_put(&b, &c, 1)) goto oom;
    }
    if (!b.p && !tbuf_put(&b, "", 0)) goto oom;
    return b.p;
oom:
    free(b.p);
    return NULL;
}

clft_status tok_compile_regex(clft_tokenizer *tok, const char *pattern, int literal, tok_pre *p) {
    char *conv = literal ? clft_strdup(pattern) : onig_to_pcre2(pattern);
    if (!conv) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    int err = 0;
    PCRE2_SIZE eoff = 0;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP); /* UCP is refused with LITERAL */
    p->re = pcre2_compile((PCRE2_SPTR)conv, PCRE2_ZERO_TERMINATED, opts, &err, &eoff, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        clft_status st =
            clft_error(CLFT_STATUS_UNSUPPORTED, "%s: pre_tokenizer regex '%s' does not compile (at %zu): %s", tok->name,
                       pattern, (size_t)eoff, (const char *)msg);
        free(conv);
        return st;
    }
    free(conv);
    p->jit = pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) == 0;
    return CLFT_OK;
}

/* GPT-2's pattern, used by ByteLevel with use_regex (tokenizers pre_tokenizers/byte_level.rs). */
const char TOK_GPT2_RE[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- pipeline parsing ------------------------------------------------------------------------- */
static clft_status unsupported(clft_tokenizer *tok, const char *what, const char *type) {
    return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: unsupported %s type '%s'", tok->name, what, type ? type : "(none)");
}

static clft_status malformed(clft_tokenizer *tok, const char *what) {
    return clft_error(CLFT_STATUS_FORMAT, "%s: %s", tok->name, what);
}

static clft_status add_norm(clft_tokenizer *tok, const cJSON *n) {
    if (cJSON_IsNull(n) || !n) return CLFT_OK;
    if (!cJSON_IsObject(n)) return malformed(tok, "\"normalizer\" is not an object");
    const char *type = jstr(n, "type");
    if (!type) return malformed(tok, "normalizer without a \"type\"");
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(arr)) return malformed(tok, "Sequence normalizer without a \"normalizers\" array");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) CLFT_CHECK(add_norm(tok, e));
        return CLFT_OK;
    }
    tok_norm nm;
    memset(&nm, 0, sizeof nm);
    if (!strcmp(type, "NFC"))
        nm.kind = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD"))
        nm.kind = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC"))
        nm.kind = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD"))
        nm.kind = TOK_NORM_NFKD;
    else if (!strcmp(type, "Lowercase"))
        nm.kind = TOK_NORM_LOWERCASE;
    else if (!strcmp(type, "Prepend")) {
        const char *s = jstr(n, "prepend");
        if (!s) return malformed(tok, "Prepend normalizer without a \"prepend\" string");
        nm.kind = TOK_NORM_PREPEND;
        nm.str = clft_strdup(s);
        nm.len = strlen(s);
        if (!nm.str) return CLFT_STATUS_HOST_OOM;
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *s = jstr(pat, "String"), *c = jstr(n, "content");
        if (!s && jstr(pat, "Regex")) return unsupported(tok, "normalizer", "Replace with a Regex pattern");
        if (!s || !c) return malformed(tok, "Replace normalizer needs pattern.String and content");
        if (!s[0]) return malformed(tok, "Replace normalizer with an empty pattern");
        nm.kind = TOK_NORM_REPLACE;
        nm.str = clft_strdup(s);
        nm.str2 = clft_strdup(c);
        nm.len = strlen(s);
        nm.len2 = strlen(c);
        if (!nm.str || !nm.str2) {
            free(nm.str);
            free(nm.str2);
            return CLFT_STATUS_HOST_OOM;
        }
    } else if (!strcmp(type, "Strip")) {
        nm.kind = TOK_NORM_STRIP;
        nm.left = jbool(n, "strip_left", 1);
        nm.right = jbool(n, "strip_right", 1);
    } else
        return unsupported(tok, "normalizer", type);
    tok_norm *p = realloc(tok->norms, sizeof *p * (tok->n_norms + 1));
    if (!p) {
        free(nm.str);
        free(nm.str2);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    tok->norms = p;
    tok->norms[tok->n_norms++] = nm;
    return CLFT_OK;
}

static int prepend_scheme(const cJSON *o) {
    const char *s = jstr(o, "prepend_scheme");
    if (s)
        return !strcmp(s, "first") ? TOK_PREPEND_FIRST : !strcmp(s, "never") ? TOK_PREPEND_NEVER : TOK_PREPEND_ALWAYS;
    return jbool(o, "add_prefix_space", 1) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
}

clft_status tok_push_pre(clft_tokenizer *tok, const tok_pre *pp) {
    tok_pre *p = realloc(tok->pres, sizeof *p * (tok->n_pres + 1));
    if (!p) {
        if (pp->re) pcre2_code_free(pp->re);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    tok->pres = p;
    tok->pres[tok->n_pres++] = *pp;
    return CLFT_OK;
}

static clft_status add_pre(clft_tokenizer *tok, const cJSON *n) {
    if (cJSON_IsNull(n) || !n) return CLFT_OK;
    if (tok->byte_level && cJSON_IsObject(n) && jstr(n, "type") && strcmp(jstr(n, "type"), "Sequence") != 0)
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: a pre_tokenizer after ByteLevel ('%s') is not supported",
                          tok->name, jstr(n, "type"));
    if (!cJSON_IsObject(n)) return malformed(tok, "\"pre_tokenizer\" is not an object");
    const char *type = jstr(n, "type");
    if (!type) return malformed(tok, "pre_tokenizer without a \"type\"");
    tok_pre p;
    memset(&p, 0, sizeof p);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "pretokenizers");
        if (!cJSON_IsArray(arr)) return malformed(tok, "Sequence pre_tokenizer without a \"pretokenizers\" array");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) CLFT_CHECK(add_pre(tok, e));
        return CLFT_OK;
    } else if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *re = jstr(pat, "Regex"), *lit = jstr(pat, "String"), *beh = jstr(n, "behavior");
        if (!re && !lit) return malformed(tok, "Split pre_tokenizer needs pattern.Regex or pattern.String");
        if (!beh) return malformed(tok, "Split pre_tokenizer without a \"behavior\"");
        p.kind = TOK_PRE_SPLIT;
        if (!strcmp(beh, "Removed"))
            p.behavior = TOK_SPLIT_REMOVED;
        else if (!strcmp(beh, "Isolated"))
            p.behavior = TOK_SPLIT_ISOLATED;
        else if (!strcmp(beh, "MergedWithPrevious"))
            p.behavior = TOK_SPLIT_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext"))
            p.behavior = TOK_SPLIT_MERGED_NEXT;
        else if (!strcmp(beh, "Contiguous"))
            p.behavior = TOK_SPLIT_CONTIGUOUS;
        else
            return unsupported(tok, "Split behavior", beh);
        p.invert = jbool(n, "invert", 0);
        if (re && !re[0]) return malformed(tok, "Split pre_tokenizer with an empty pattern");
        if (lit && !lit[0]) return malformed(tok, "Split pre_tokenizer with an empty pattern");
        CLFT_CHECK(tok_compile_regex(tok, re ? re : lit, re == NULL, &p));
    } else if (!strcmp(type, "ByteLevel")) {
        p.kind = TOK_PRE_BYTELEVEL;
        p.add_prefix_space = jbool(n, "add_prefix_space", 1);
        if (jbool(n, "use_regex", 1)) CLFT_CHECK(tok_compile_regex(tok, TOK_GPT2_RE, 0, &p));
        tok->byte_level = 1;
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = jstr(n, "replacement");
        if (!r) r = "\xe2\x96\x81";
        size_t rl = strlen(r);
        if (rl == 0 || rl >= sizeof p.repl || tok_utf8_check((const unsigned char *)r, rl) != rl ||
            tok_utf8_len((unsigned char)r[0]) != rl)
            return malformed(tok, "Metaspace replacement must be one character");
        p.kind = TOK_PRE_METASPACE;
        memcpy(p.repl, r, rl);
        p.repl_len = rl;
        p.prepend_scheme = prepend_scheme(n);
        p.split = jbool(n, "split", 1);
    } else if (!strcmp(type, "Whitespace")) { /* \w+|[^\w\s]+ with Rust regex's Unicode \w and \s */
        p.kind = TOK_PRE_SPLIT;
        CLFT_CHECK(tok_compile_regex(tok,
                                     "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]+|"
                                     "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}\\p{White_Space}]+",
                                     0, &p));
        p.behavior = TOK_SPLIT_REMOVED;
        p.invert = 1;
    } else if (!strcmp(type, "Digits")) { /* numeric chars: each alone, or runs */
        p.kind = TOK_PRE_SPLIT;
        CLFT_CHECK(tok_compile_regex(tok, "\\p{N}", 0, &p));
        p.behavior = jbool(n, "individual_digits", 0) ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS;
    } else if (!strcmp(type, "Punctuation")) { /* ASCII punctuation or Unicode P*, one char each */
        const char *beh = jstr(n, "behavior");
        p.kind = TOK_PRE_SPLIT;
        p.behavior = TOK_SPLIT_ISOLATED;
        if (beh && !strcmp(beh, "Removed"))
            p.behavior = TOK_SPLIT_REMOVED;
        else if (beh && !strcmp(beh, "MergedWithPrevious"))
            p.behavior = TOK_SPLIT_MERGED_PREV;
        else if (beh && !strcmp(beh, "MergedWithNext"))
            p.behavior = TOK_SPLIT_MERGED_NEXT;
        else if (beh && !strcmp(beh, "Contiguous"))
            p.behavior = TOK_SPLIT_CONTIGUOUS;
        else if (beh && strcmp(beh, "Isolated"))
            return unsupported(tok, "Punctuation behavior", beh);
        CLFT_CHECK(tok_compile_regex(tok, "[\\p{P}!-/:-@\\[-`{-~]", 0, &p));
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p.kind = TOK_PRE_WHITESPACE_SPLIT;
        CLFT_CHECK(tok_compile_regex(tok, "\\S+", 0, &p));
        p.behavior = TOK_SPLIT_REMOVED;
        p.invert = 1;
    } else
        return unsupported(tok, "pre_tokenizer", type);
    return tok_push_pre(tok, &p);
}

static clft_status add_dec(clft_tokenizer *tok, const cJSON *n) {
    if (cJSON_IsNull(n) || !n) return CLFT_OK;
    if (!cJSON_IsObject(n)) return malformed(tok, "\"decoder\" is not an object");
    const char *type = jstr(n, "type");
    if (!type) return malformed(tok, "decoder without a \"type\"");
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "decoders");
        if (!cJSON_IsArray(arr)) return malformed(tok, "Sequence decoder without a \"decoders\" array");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) CLFT_CHECK(add_dec(tok, e));
        return CLFT_OK;
    }
    tok_dec d;
    memset(&d, 0, sizeof d);
    if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *s = jstr(pat, "String"), *c = jstr(n, "content");
        if (!s && jstr(pat, "Regex")) return unsupported(tok, "decoder", "Replace with a Regex pattern");
        if (!s || !c || !s[0]) return malformed(tok, "Replace decoder needs pattern.String and content");
        d.kind = TOK_DEC_REPLACE;
        d.str = clft_strdup(s);
        d.str2 = clft_strdup(c);
        d.len = strlen(s);
        d.len2 = strlen(c);
    } else if (!strcmp(type, "ByteFallback"))
        d.kind = TOK_DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse"))
        d.kind = TOK_DEC_FUSE;
    else if (!strcmp(type, "Strip")) {
        const char *c = jstr(n, "content");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(n, "start"), *b = cJSON_GetObjectItemCaseSensitive(n, "stop");
        if (!c || !c[0] || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble < 0 || b->valuedouble < 0)
            return malformed(tok, "Strip decoder needs content, start and stop");
        d.kind = TOK_DEC_STRIP;
        d.str = clft_strdup(c);
        d.len = strlen(c);
        d.start = a->valuedouble > 1e6 ? 1000000 : (int)a->valuedouble;
        d.stop = b->valuedouble > 1e6 ? 1000000 : (int)b->valuedouble;
    } else if (!strcmp(type, "ByteLevel"))
        d.kind = TOK_DEC_BYTELEVEL;
    else if (!strcmp(type, "Metaspace")) {
        const char *r = jstr(n, "replacement");
        if (r && (!r[0] || tok_utf8_len((unsigned char)r[0]) != strlen(r)))
            return malformed(tok, "Metaspace decoder replacement must be one character");
        d.kind = TOK_DEC_METASPACE;
        d.str = clft_strdup(r ? r : "\xe2\x96\x81");
        d.len = strlen(d.str ? d.str : "");
        d.prepend = prepend_scheme(n) != TOK_PREPEND_NEVER;
    } else
        return unsupported(tok, "decoder", type);
    if ((d.kind == TOK_DEC_REPLACE && (!d.str || !d.str2)) ||
        ((d.kind == TOK_DEC_STRIP || d.kind == TOK_DEC_METASPACE) && !d.str)) {
        free(d.str);
        free(d.str2);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    tok_dec *p = realloc(tok->decs, sizeof *p * (tok->n_decs + 1));
    if (!p) {
        free(d.str);
        free(d.str2);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    tok->decs = p;
    tok->decs[tok->n_decs++] = d;
    return CLFT_OK;
}

/* Ids of a special token named in a TemplateProcessing post-processor. */
static int template_ids(const cJSON *specials, const char *name, int32_t *out, size_t *n, size_t cap) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(t, "ids"), *e;
    if (!cJSON_IsArray(ids)) return 0;
    cJSON_ArrayForEach(e, ids) {
        if (!cJSON_IsNumber(e) || *n >= cap) return 0;
        out[(*n)++] = (int32_t)e->valuedouble;
    }
    return 1;
}

static clft_status parse_post(clft_tokenizer *tok, const cJSON *n) {
    if (!cJSON_IsObject(n)) return CLFT_OK;
    const char *type = jstr(n, "type");
    if (!type) return CLFT_OK;
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "processors"), *e;
        cJSON_ArrayForEach(e, arr) CLFT_CHECK(parse_post(tok, e));
        return CLFT_OK;
    }
    if (strcmp(type, "TemplateProcessing") != 0) return CLFT_OK; /* ByteLevel etc.: no special tokens */
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(n, "single"),
                *specials = cJSON_GetObjectItemCaseSensitive(n, "special_tokens");
    const cJSON *e;
    int seen_a = 0;
    cJSON_ArrayForEach(e, single) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
            seen_a = 1;
            continue;
        }
        const char *id = jstr(sp, "id");
        if (!id) return malformed(tok, "post_processor.single: an item is neither SpecialToken nor Sequence");
        int ok = seen_a ? template_ids(specials, id, tok->suffix_ids, &tok->n_suffix, 4)
                        : template_ids(specials, id, tok->prefix_ids, &tok->n_prefix, 4);
        if (!ok)
            return clft_error(CLFT_STATUS_FORMAT, "%s: post_processor special token '%s' has no ids", tok->name, id);
    }
    return CLFT_OK;
}

/* ---- model ------------------------------------------------------------------------------------ */
clft_status tok_set_token(clft_tokenizer *tok, int32_t id, const char *s, size_t n) {
    uint32_t off = 0;
    CLFT_CHECK(arena_add(tok, s, n, &off));
    tok->tok_off[id] = off;
    tok->tok_len[id] = (uint32_t)n;
    return CLFT_OK;
}

static clft_status parse_model(clft_tokenizer *tok, const cJSON *root) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return malformed(tok, "no \"model\" object");
    const char *type = jstr(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (type && strcmp(type, "BPE") != 0)
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "%s: unsupported tokenizer model type '%s' (clft supports BPE: Llama-2/Mistral "
                          "SentencePiece-style and GPT-2/Llama-3/Qwen byte-level)",
                          tok->name, type);
    if (!type && !(cJSON_IsObject(vocab) && cJSON_IsArray(merges)))
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: model without \"type\" that is not a BPE (vocab + merges)",
                          tok->name);
    if (!cJSON_IsObject(vocab)) return malformed(tok, "model.vocab is not an object");
    if (!cJSON_IsArray(merges)) return malformed(tok, "model.merges is not an array");
    const char *cp = jstr(model, "continuing_subword_prefix"), *ew = jstr(model, "end_of_word_suffix");
    if ((cp && cp[0]) || (ew && ew[0]))
        return unsupported(tok, "BPE option", cp && cp[0] ? "continuing_subword_prefix" : "end_of_word_suffix");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        clft_log(CLFT_LOG_WARN, "%s: BPE dropout %.3g ignored (deterministic encoding)", tok->name,
                 dropout->valuedouble);
    tok->fuse_unk = jbool(model, "fuse_unk", 0);
    tok->byte_fallback = jbool(model, "byte_fallback", 0);
    tok->ignore_merges = jbool(model, "ignore_merges", 0);

    /* ids: max over vocab and added tokens */
    int64_t max_id = -1;
    size_t n_vocab = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 16777216.0 ||
            e->valuedouble != (double)(int64_t)e->valuedouble)
            return clft_error(CLFT_STATUS_FORMAT, "%s: model.vocab entry '%.64s' has no valid id", tok->name,
                              e->string ? e->string : "");
        if ((int64_t)e->valuedouble > max_id) max_id = (int64_t)e->valuedouble;
        n_vocab++;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return malformed(tok, "\"added_tokens\" is not an array");
    size_t n_added = 0;
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *content = jstr(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 16777216.0 || !content)
            return clft_error(CLFT_STATUS_FORMAT, "%s: added_tokens[%zu] needs a valid \"id\" and \"content\"",
                              tok->name, n_added);
        if (!content[0])
            return clft_error(CLFT_STATUS_FORMAT, "%s: added_tokens[%zu] has empty content", tok->name, n_added);
        if ((int64_t)id->valuedouble > max_id) max_id = (int64_t)id->valuedouble;
        n_added++;
    }
    if (max_id < 0) return malformed(tok, "empty vocabulary");
    tok->n_ids = (size_t)max_id + 1;
    tok->tok_off = malloc(sizeof(uint32_t) * tok->n_ids);
    tok->tok_len = malloc(sizeof(uint32_t) * tok->n_ids);
    tok->is_special = calloc(tok->n_ids, 1);
    if (!tok->tok_off || !tok->tok_len || !tok->is_special)
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    for (size_t i = 0; i < tok->n_ids; i++)
        tok->tok_off[i] = UINT32_MAX, tok->tok_len[i] = 0;
    CLFT_CHECK(tok_strmap_init(&tok->vocab, n_vocab));
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = (int32_t)e->valuedouble;
        if (tok->tok_off[id] != UINT32_MAX)
            return clft_error(CLFT_STATUS_FORMAT, "%s: model.vocab id %d is used twice", tok->name, (int)id);
        CLFT_CHECK(tok_set_token(tok, id, e->string, strlen(e->string)));
        tok_strmap_put(tok, &tok->vocab, id);
    }
    /* added tokens */
    if (n_added) {
        tok->added = calloc(n_added, sizeof *tok->added);
        if (!tok->added) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        CLFT_CHECK(tok_strmap_init(&tok->added_map, n_added));
    }
    cJSON_ArrayForEach(e, added) {
        tok_added *a = &tok->added[tok->n_added];
        a->id = (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
        const char *content = jstr(e, "content");
        a->len = strlen(content);
        a->content = clft_strdup(content);
        if (!a->content) return CLFT_STATUS_HOST_OOM;
        /* content already in the model's vocabulary: that id wins (as the Rust crate does, with
         * the same warning) */
        int32_t vid = tok_map_get(tok, &tok->vocab, content, a->len);
        if (vid >= 0 && vid != a->id) {
            clft_log(CLFT_LOG_WARN, "%s: added token '%s' was expected to have id %d but the vocabulary gives %d",
                     tok->name, content, (int)a->id, (int)vid);
            a->id = vid;
        }
        tok->n_added++;
        a->single_word = jbool(e, "single_word", 0);
        a->lstrip = jbool(e, "lstrip", 0);
        a->rstrip = jbool(e, "rstrip", 0);
        a->normalized = jbool(e, "normalized", !jbool(e, "special", 0));
        a->special = jbool(e, "special", 0);
        /* the added token's text is what id_to_token gives (it wins over the model's) */
        if (tok->tok_off[a->id] == UINT32_MAX || tok->tok_len[a->id] != a->len ||
            memcmp(tok->arena + tok->tok_off[a->id], content, a->len) != 0)
            CLFT_CHECK(tok_set_token(tok, a->id, content, a->len));
        tok_strmap_put(tok, &tok->added_map, a->id);
        if (a->special) tok->is_special[a->id] = 1;
    }
    /* unk and byte fallback */
    tok->unk_id = -1;
    const char *unk = jstr(model, "unk_token");
    if (unk) {
        tok->unk_id = tok_map_get(tok, &tok->vocab, unk, strlen(unk));
        if (tok->unk_id < 0)
            return clft_error(CLFT_STATUS_FORMAT, "%s: model.unk_token '%s' is not in the vocabulary", tok->name, unk);
    }
    /* merges */
    size_t n_merges = (size_t)cJSON_GetArraySize(merges);
    CLFT_CHECK(tok_pairmap_init(&tok->merges, n_merges));
    uint32_t rank = 0;
    size_t idx = 0;
    char *cat = NULL;
    size_t cat_cap = 0;
    clft_status st = CLFT_OK;
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring;
            if (idx == 0 && !strncmp(s, "#version", 8)) {
                idx++;
                continue;
            }
            const char *sp = strchr(s, ' ');
            if (!sp) {
                st = clft_error(CLFT_STATUS_FORMAT, "%s: model.merges[%zu] '%.64s' is not \"left right\"", tok->name,
                                idx, s);
                break;
            }
            a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(sp + 1);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a = e->child->valuestring, la = strlen(a);
            b = e->child->next->valuestring, lb = strlen(b);
        } else {
            st = clft_error(CLFT_STATUS_FORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]",
                            tok->name, idx);
            break;
        }
        int32_t ia = tok_map_get(tok, &tok->vocab, a, la), ib = tok_map_get(tok, &tok->vocab, b, lb);
        if (la + lb > cat_cap) {
            cat_cap = (la + lb) * 2 + 64;
            char *p = realloc(cat, cat_cap);
            if (!p) {
                st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
                break;
            }
            cat = p;
        }
        memcpy(cat, a, la);
        memcpy(cat + la, b, lb);
        int32_t im = tok_map_get(tok, &tok->vocab, cat, la + lb);
        if (ia < 0 || ib < 0 || im < 0) {
            st = clft_error(CLFT_STATUS_FORMAT, "%s: model.merges[%zu] ('%.*s' + '%.*s'): %s is not in the vocabulary",
                            tok->name, idx, (int)(la > 64 ? 64 : la), a, (int)(lb > 64 ? 64 : lb), b,
                            ia < 0   ? "the left token"
                            : ib < 0 ? "the right token"
                                     : "the merged token");
            break;
        }
        tok_pairmap_put(&tok->merges, ia, ib, rank++, im);
        idx++;
    }
    free(cat);
    return st;
}

/* The GPT-2 byte <-> char map (bytes_to_unicode): printable Latin-1 bytes map to themselves, the
 * other 68 to U+0100 + n in increasing byte order. */
void tok_build_byte_map(clft_tokenizer *tok) {
    int n = 0;
    for (int c = 0; c < 324; c++)
        tok->char_byte[c] = -1;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int32_t cp = keep ? b : 256 + n++;
        tok->char_byte[cp] = (int16_t)b;
        tok->byte_char_len[b] = (uint8_t)tok_utf8_encode(cp, tok->byte_char[b]);
        tok->byte_char_id[b] = tok_map_get(tok, &tok->vocab, tok->byte_char[b], tok->byte_char_len[b]);
    }
}

/* Added-token matcher over a subset (normalized or not): grouped by first byte, longest first. */
static clft_status tok_build_matcher(clft_tokenizer *tok, tok_matcher *m, int normalized) {
    m->order = malloc(sizeof(int32_t) * (tok->n_added + 1));
    if (!m->order) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    m->n = 0;
    for (size_t i = 0; i < tok->n_added; i++)
        if (!!tok->added[i].normalized == !!normalized && tok->added[i].mlen) m->order[m->n++] = (int32_t)i;
    /* insertion sort: qsort has no user pointer in C11 */
    for (size_t i = 1; i < m->n; i++) {
        int32_t v = m->order[i];
        size_t j = i;
        while (j > 0) {
            const tok_added *a = &tok->added[v], *b = &tok->added[m->order[j - 1]];
            unsigned char fa = (unsigned char)a->match[0], fb = (unsigned char)b->match[0];
            int less = fa < fb || (fa == fb && a->mlen > b->mlen);
            if (!less) break;
            m->order[j] = m->order[j - 1];
            j--;
        }
        m->order[j] = v;
    }
    memset(m->second, 0, sizeof m->second);
    memset(m->single, 0, sizeof m->single);
    for (size_t i = 0; i < m->n; i++) {
        const tok_added *a = &tok->added[m->order[i]];
        unsigned char c0 = (unsigned char)a->match[0];
        if (a->mlen == 1)
            m->single[c0] = 1;
        else {
            unsigned char c1 = (unsigned char)a->match[1];
            m->second[c0][c1 >> 6] |= 1ULL << (c1 & 63);
        }
    }
    uint32_t k = 0;
    for (int c = 0; c < 256; c++) {
        m->start[c] = k;
        while (k < m->n && (unsigned char)tok->added[m->order[k]].match[0] == c)
            k++;
    }
    m->start[256] = k;
    return CLFT_OK;
}

/* SentencePiece-style fast path: safe to cut a word before the mark when it follows another char. */
static void tok_check_sp_split(clft_tokenizer *tok) {
    tok->sp_split_ok = 0;
    if (tok->byte_level || tok->ignore_merges) return;
    memcpy(tok->sp_mark, "\xe2\x96\x81", 3);
    tok->sp_mark_len = 3;
    for (size_t i = 0; i < tok->n_pres; i++)
        if (tok->pres[i].kind == TOK_PRE_METASPACE) {
            memcpy(tok->sp_mark, tok->pres[i].repl, tok->pres[i].repl_len);
            tok->sp_mark_len = tok->pres[i].repl_len;
        }
    const char *mk = tok->sp_mark;
    size_t ml = tok->sp_mark_len;
    /* the mark must be a token itself, or unknown chars around it could be fused across the cut */
    if (tok_map_get(tok, &tok->vocab, mk, ml) < 0) return;
    for (size_t id = 0; id < tok->n_ids; id++) {
        if (tok->tok_off[id] == UINT32_MAX) continue;
        const char *s = tok->arena + tok->tok_off[id];
        size_t n = tok->tok_len[id];
        for (size_t i = 1; i + ml <= n; i++) {
            if (memcmp(s + i, mk, ml) != 0) continue;
            /* the char before: is it the mark itself? */
            if (i >= ml && memcmp(s + i - ml, mk, ml) == 0) continue;
            if (tok->added_map.slots && tok_map_get(tok, &tok->added_map, s, n) == (int32_t)id) break; /* not merged */
            return;
        }
    }
    tok->sp_split_ok = 1;
}

int32_t tok_lookup_any(const clft_tokenizer *tok, const char *s) {
    size_t n = strlen(s);
    int32_t id = tok_map_get(tok, &tok->added_map, s, n);
    return id >= 0 ? id : tok_map_get(tok, &tok->vocab, s, n);
}

static clft_status parse_config(clft_tokenizer *tok, const cJSON *cfg, const char *cfg_name) {
    const char *bos = jtoken(cfg, "bos_token"), *eos = jtoken(cfg, "eos_token"), *pad = jtoken(cfg, "pad_token");
    if (bos) tok->bos_id = tok_lookup_any(tok, bos);
    if (eos) tok->eos_id = tok_lookup_any(tok, eos);
    if (pad) tok->pad_id = tok_lookup_any(tok, pad);
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token");
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token");
    /* transformers' Llama/Gemma fast tokenizers rebuild the post-processor from these flags */
    if (cJSON_IsBool(ab)) {
        tok->n_prefix = 0;
        if (cJSON_IsTrue(ab) && tok->bos_id >= 0) tok->prefix_ids[tok->n_prefix++] = tok->bos_id;
    }
    if (cJSON_IsBool(ae)) {
        tok->n_suffix = 0;
        if (cJSON_IsTrue(ae) && tok->eos_id >= 0) tok->suffix_ids[tok->n_suffix++] = tok->eos_id;
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    const char *tpl = NULL;
    if (cJSON_IsString(ct))
        tpl = ct->valuestring;
    else if (cJSON_IsArray(ct)) { /* [{"name": "default", "template": "..."}, ...] */
        const cJSON *e;
        cJSON_ArrayForEach(e, ct) {
            const char *nm = jstr(e, "name"), *t = jstr(e, "template");
            if (t && (!tpl || (nm && !strcmp(nm, "default")))) tpl = t;
        }
    }
    if (tpl && !(tok->chat_template = clft_strdup(tpl))) return CLFT_STATUS_HOST_OOM;
    (void)cfg_name;
    return CLFT_OK;
}

clft_tokenizer *tok_new(const char *name) {
    clft_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->bos_id = tok->eos_id = tok->pad_id = tok->unk_id = -1;
    tok->cache_lock = malloc(sizeof *tok->cache_lock);
    if (tok->cache_lock && pthread_mutex_init(tok->cache_lock, NULL) != 0) {
        free(tok->cache_lock);
        tok->cache_lock = NULL;
    }
    tok->cache = tok->cache_lock ? calloc(1, sizeof *tok->cache) : NULL;
    tok->name = clft_strdup(name);
    if (!tok->name) {
        clft_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

clft_status tok_finish(clft_tokenizer *tok) {
    for (int b = 0; b < 128; b++) {
        char c = (char)b;
        tok->ascii_id[b] = tok_map_get(tok, &tok->vocab, &c, 1);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        tok->byte_tok[b] = tok_map_get(tok, &tok->vocab, s, 6);
    }
    /* a byte-level vocabulary may lack bytes (SmolLM2: some control characters): encoding gives the
     * unknown token or drops them, as the Rust crate does */
    tok_build_byte_map(tok);
    /* normalized added tokens are matched in the normalized text, as their normalized content */
    for (size_t i = 0; i < tok->n_added; i++) {
        tok_added *a = &tok->added[i];
        if (a->normalized)
            CLFT_CHECK(tok_normalize(tok, a->content, a->len, &a->match, &a->mlen));
        else if (!(a->match = clft_strdup(a->content)))
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        else
            a->mlen = a->len;
    }
    CLFT_CHECK(tok_build_matcher(tok, &tok->match_raw, 0));
    CLFT_CHECK(tok_build_matcher(tok, &tok->match_norm, 1));
    tok_check_sp_split(tok);
    return CLFT_OK;
}

clft_status clft_tokenizer_load_from_memory(const char *tokenizer_json, size_t tokenizer_len, const char *config_json,
                                            size_t config_len, const char *name, clft_tokenizer **out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_tokenizer_load: out is NULL");
    *out = NULL;
    if (!tokenizer_json) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_tokenizer_load: no tokenizer.json text");
    if (!name) name = "tokenizer.json";
    clft_tokenizer *tok = tok_new(name);
    if (!tok) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    tok->content_hash = clft_fnv1a(CLFT_FNV_INIT, tokenizer_json, tokenizer_len);
    tok->content_hash = clft_fnv1a(tok->content_hash, &config_len, sizeof config_len);
    if (config_json) tok->content_hash = clft_fnv1a(tok->content_hash, config_json, config_len);
    cJSON *root = NULL, *cfg = NULL;
    clft_status st = parse_json(name, tokenizer_json, tokenizer_len, &root);
    if (st == CLFT_OK) st = parse_model(tok, root);
    if (st == CLFT_OK) st = add_norm(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"));
    if (st == CLFT_OK) st = add_pre(tok, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"));
    if (st == CLFT_OK) st = add_dec(tok, cJSON_GetObjectItemCaseSensitive(root, "decoder"));
    if (st == CLFT_OK) st = parse_post(tok, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    if (st == CLFT_OK) st = tok_finish(tok);
    if (st == CLFT_OK) {
        if (tok->n_prefix) tok->bos_id = tok->prefix_ids[0];
        if (tok->n_suffix) tok->eos_id = tok->suffix_ids[tok->n_suffix - 1];
    }
    if (st == CLFT_OK && config_json) {
        char cname[1100];
        snprintf(cname, sizeof cname, "%s (tokenizer_config.json)", name);
        st = parse_json(cname, config_json, config_len, &cfg);
        if (st == CLFT_OK) st = parse_config(tok, cfg, cname);
    }
    for (size_t i = 0; st == CLFT_OK && i < tok->n_prefix + tok->n_suffix; i++) {
        int32_t id = i < tok->n_prefix ? tok->prefix_ids[i] : tok->suffix_ids[i - tok->n_prefix];
        if (id < 0 || (size_t)id >= tok->n_ids || tok->tok_off[id] == UINT32_MAX)
            st = clft_error(CLFT_STATUS_FORMAT, "%s: post-processor special token id %d is not in the vocabulary", name,
                            (int)id);
    }
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    if (st != CLFT_OK) {
        clft_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return CLFT_OK;
}

/* special_tokens_map.json (older repositories keep bos/eos/pad there): fills the ids that
 * tokenizer_config.json left unset. */
static clft_status apply_special_map(clft_tokenizer *tok, const char *path) {
    char *txt = NULL;
    size_t len = 0;
    cJSON *j = NULL;
    clft_status st = read_file(path, &txt, &len);
    if (st == CLFT_OK) st = parse_json(path, txt, len, &j);
    if (st == CLFT_OK) {
        const char *bos = jtoken(j, "bos_token"), *eos = jtoken(j, "eos_token"), *pad = jtoken(j, "pad_token");
        if (tok->bos_id < 0 && bos) tok->bos_id = tok_lookup_any(tok, bos);
        if (tok->eos_id < 0 && eos) tok->eos_id = tok_lookup_any(tok, eos);
        if (tok->pad_id < 0 && pad) tok->pad_id = tok_lookup_any(tok, pad);
    }
    cJSON_Delete(j);
    free(txt);
    return st;
}

clft_status clft_tokenizer_load(const char *dir_or_file, clft_tokenizer **out) {
    if (!out || !dir_or_file) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_tokenizer_load: NULL argument");
    *out = NULL;
    size_t pl = strlen(dir_or_file);
    char *tj = malloc(pl + 64), *cj = malloc(pl + 64);
    if (!tj || !cj) {
        free(tj);
        free(cj);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    struct stat sb;
    if (stat(dir_or_file, &sb) != 0) {
        free(tj);
        free(cj);
        return clft_error(CLFT_STATUS_IO, "%s: %s", dir_or_file, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode) && is_gguf(dir_or_file)) {
        free(tj);
        free(cj);
        return tok_load_gguf(dir_or_file, out);
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(tj, pl + 64, "%s/tokenizer.json", dir_or_file);
        if (!file_exists(tj)) snprintf(tj, pl + 64, "%s/tokenizer.json.zst", dir_or_file);
        if (!file_exists(tj)) {
            free(tj);
            free(cj);
            return clft_error(CLFT_STATUS_IO, "%s: no tokenizer.json (or tokenizer.json.zst) in this directory",
                              dir_or_file);
        }
        snprintf(cj, pl + 64, "%s/tokenizer_config.json", dir_or_file);
    } else {
        memcpy(tj, dir_or_file, pl + 1);
        const char *slash = strrchr(dir_or_file, '/');
        size_t dl = slash ? (size_t)(slash - dir_or_file) : 0;
        if (slash)
            snprintf(cj, pl + 64, "%.*s/tokenizer_config.json", (int)dl, dir_or_file);
        else
            snprintf(cj, pl + 64, "tokenizer_config.json");
    }
    if (!file_exists(cj)) {
        size_t l = strlen(cj);
        memcpy(cj + l, ".zst", 5);
        if (!file_exists(cj)) cj[0] = '\0';
    }
    char *tt = NULL, *ct = NULL;
    size_t tl = 0, cl = 0;
    clft_status st = read_file(tj, &tt, &tl);
    if (st == CLFT_OK && cj[0]) st = read_file(cj, &ct, &cl);
    if (st == CLFT_OK) st = clft_tokenizer_load_from_memory(tt, tl, ct, cl, tj, out);
    if (st == CLFT_OK && ((*out)->bos_id < 0 || (*out)->eos_id < 0 || (*out)->pad_id < 0)) {
        /* cj holds ".../tokenizer_config.json[.zst]" or ""; the map sits in the same folder */
        const char *slash = strrchr(tj, '/');
        size_t dl = slash ? (size_t)(slash - tj) : 0;
        char *sm = malloc(dl + 32);
        if (!sm)
            st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        else {
            if (slash)
                snprintf(sm, dl + 32, "%.*s/special_tokens_map.json", (int)dl, tj);
            else
                snprintf(sm, dl + 32, "special_tokens_map.json");
            if (file_exists(sm)) st = apply_special_map(*out, sm);
            free(sm);
        }
        if (st != CLFT_OK) {
            clft_tokenizer_free(*out);
            *out = NULL;
        }
    }
    free(tt);
    free(ct);
    free(tj);
    free(cj);
    return st;
}

void clft_tokenizer_free(clft_tokenizer *tok) {
    if (!tok) return;
    free(tok->name);
    free(tok->arena);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->is_special);
    free(tok->vocab.slots);
    free(tok->merges.slots);
    for (size_t i = 0; i < tok->n_norms; i++)
        free(tok->norms[i].str), free(tok->norms[i].str2);
    free(tok->norms);
    for (size_t i = 0; i < tok->n_pres; i++)
        if (tok->pres[i].re) pcre2_code_free(tok->pres[i].re);
    free(tok->pres);
    for (size_t i = 0; i < tok->n_decs; i++)
        free(tok->decs[i].str), free(tok->decs[i].str2);
    free(tok->decs);
    for (size_t i = 0; i < tok->n_added; i++)
        free(tok->added[i].content), free(tok->added[i].match);
    free(tok->added);
    free(tok->added_map.slots);
    free(tok->match_raw.order);
    free(tok->match_norm.order);
    free(tok->chat_template);
    tok_cache_free(tok->cache);
    free(tok->cache);
    if (tok->cache_lock) pthread_mutex_destroy(tok->cache_lock);
    free(tok->cache_lock);
    free(tok);
}

void clft_free(void *p) { free(p); }

/* ---- accessors -------------------------------------------------------------------------------- */
size_t clft_tokenizer_vocab_size(const clft_tokenizer *tok) { return tok ? tok->n_ids : 0; }

const char *clft_tokenizer_id_to_token(const clft_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || (size_t)id >= tok->n_ids || tok->tok_off[id] == UINT32_MAX) return NULL;
    return tok->arena + tok->tok_off[id];
}

int32_t clft_tokenizer_token_to_id(const clft_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    return tok_lookup_any(tok, token);
}

int32_t clft_tokenizer_bos_id(const clft_tokenizer *tok) { return tok ? tok->bos_id : -1; }
int32_t clft_tokenizer_eos_id(const clft_tokenizer *tok) { return tok ? tok->eos_id : -1; }
int32_t clft_tokenizer_pad_id(const clft_tokenizer *tok) { return tok ? tok->pad_id : -1; }
int clft_tokenizer_is_special(const clft_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && (size_t)id < tok->n_ids && tok->is_special[id];
}
const char *clft_tokenizer_chat_template(const clft_tokenizer *tok) { return tok ? tok->chat_template : NULL; }
uint64_t clft_tokenizer_fingerprint(const clft_tokenizer *tok) {
    if (!tok) return 0;
    int32_t sp[3] = {tok->bos_id, tok->eos_id, tok->pad_id};
    return clft_fnv1a(tok->content_hash, sp, sizeof sp);
}

/* ---- decoding --------------------------------------------------------------------------------- */
/* The decoder chain works on a list of token strings, as in the Rust crate: each step maps the
 * list to a new list. Strings live in one buffer per list; tokens are (offset, length) pairs. */
typedef struct tlist {
    tbuf text;
    size_t *off, *len;
    size_t n, cap;
} tlist;

static int tlist_push(tlist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *o = realloc(l->off, sizeof(size_t) * cap), *q;
        if (!o) return 0;
        l->off = o;
        q = realloc(l->len, sizeof(size_t) * cap);
        if (!q) return 0;
        l->len = q;
        l->cap = cap;
    }
    l->off[l->n] = l->text.n;
    l->len[l->n] = n;
    if (!tbuf_put(&l->text, s, n)) return 0;
    l->n++;
    return 1;
}
/* Append to the last token. */
static int tlist_append(tlist *l, const char *s, size_t n) {
    if (!tbuf_put(&l->text, s, n)) return 0;
    l->len[l->n - 1] += n;
    return 1;
}
static void tlist_free(tlist *l) {
    free(l->text.p);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}
#define TL_S(l, i) ((l)->text.p + (l)->off[i])

static int hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}
/* "<0xAB>" -> 0xAB, else -1 */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int h = hexval(s[3]), l = hexval(s[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/* Append bytes, turning invalid UTF-8 into U+FFFD (one per maximal invalid prefix, like
 * String::from_utf8_lossy). */
static int put_lossy(tbuf *b, const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t bad = tok_utf8_check(s + i, n - i);
        if (!tbuf_put(b, s + i, bad)) return 0;
        i += bad;
        if (i >= n) break;
        /* skip the maximal prefix of a valid sequence (at least one byte) */
        unsigned char c = s[i];
        size_t k = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
        size_t j = 1;
        while (j <= k && i + j < n && (s[i + j] & 0xC0) == 0x80) {
            /* second-byte range restrictions */
            if (j == 1 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
                           (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F)))
                break;
            j++;
        }
        if (!tbuf_put(b, "\xef\xbf\xbd", 3)) return 0;
        i += j;
    }
    return 1;
}

static int dec_step(const clft_tokenizer *tok, const tok_dec *d, tlist *in, tlist *out) {
    switch (d->kind) {
    case TOK_DEC_REPLACE:
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = TL_S(in, i);
            size_t n = in->len[i], j = 0;
            if (!tlist_push(out, "", 0)) return 0;
            const char *to = d->kind == TOK_DEC_REPLACE ? d->str2 : " ";
            size_t tl = d->kind == TOK_DEC_REPLACE ? d->len2 : 1;
            while (j < n) {
                if (j + d->len <= n && memcmp(s + j, d->str, d->len) == 0) {
                    /* Metaspace: every replacement char of the first token is dropped (as the
                     * Rust crate's decode_chain does), not only a leading one */
                    if (!(d->kind == TOK_DEC_METASPACE && d->prepend && i == 0))
                        if (!tlist_append(out, to, tl)) return 0;
                    j += d->len;
                } else {
                    if (!tlist_append(out, s + j, 1)) return 0;
                    j++;
                }
            }
        }
        return 1;
    case TOK_DEC_BYTEFALLBACK: {
        tbuf bytes = {0};
        size_t i = 0;
        while (i < in->n) {
            if (byte_token(TL_S(in, i), in->len[i]) < 0) {
                if (!tlist_push(out, TL_S(in, i), in->len[i])) return 0;
                i++;
                continue;
            }
            bytes.n = 0;
            size_t j = i;
            int b;
            while (j < in->n && (b = byte_token(TL_S(in, j), in->len[j])) >= 0) {
                unsigned char c = (unsigned char)b;
                if (!tbuf_put(&bytes, &c, 1)) {
                    free(bytes.p);
                    return 0;
                }
                j++;
            }
            if (tok_utf8_check((const unsigned char *)bytes.p, bytes.n) == bytes.n) {
                if (!tlist_push(out, bytes.p, bytes.n)) {
                    free(bytes.p);
                    return 0;
                }
            } else {
                for (size_t k = i; k < j; k++)
                    if (!tlist_push(out, "\xef\xbf\xbd", 3)) {
                        free(bytes.p);
                        return 0;
                    }
            }
            i = j;
        }
        free(bytes.p);
        return 1;
    }
    case TOK_DEC_FUSE:
        if (!tlist_push(out, "", 0)) return 0;
        for (size_t i = 0; i < in->n; i++)
            if (!tlist_append(out, TL_S(in, i), in->len[i])) return 0;
        return 1;
    case TOK_DEC_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = TL_S(in, i);
            size_t a = 0, b = in->len[i];
            for (int k = 0; k < d->start && a + d->len <= b && !memcmp(s + a, d->str, d->len); k++)
                a += d->len;
            for (int k = 0; k < d->stop && b >= a + d->len && !memcmp(s + b - d->len, d->str, d->len); k++)
                b -= d->len;
            if (!tlist_push(out, s + a, b - a)) return 0;
        }
        return 1;
    case TOK_DEC_BYTELEVEL: {
        /* every char maps back to a byte; a token with an unmapped char is kept as it is */
        tbuf bytes = {0};
        for (size_t i = 0; i < in->n; i++) {
            const unsigned char *s = (const unsigned char *)TL_S(in, i);
            size_t n = in->len[i], j = 0, mark = bytes.n;
            int ok = 1;
            while (j < n) {
                int32_t cp;
                j += tok_utf8_decode(s + j, &cp);
                int b = cp >= 0 && cp < 324 ? tok->char_byte[cp] : -1;
                if (b < 0) {
                    ok = 0;
                    break;
                }
                unsigned char c = (unsigned char)b;
                if (!tbuf_put(&bytes, &c, 1)) {
                    free(bytes.p);
                    return 0;
                }
            }
            if (!ok) {
                bytes.n = mark;
                if (!tbuf_put(&bytes, s, n)) {
                    free(bytes.p);
                    return 0;
                }
            }
        }
        tbuf lossy = {0};
        int r = put_lossy(&lossy, (const unsigned char *)bytes.p, bytes.n) &&
                tlist_push(out, lossy.p ? lossy.p : "", lossy.n);
        free(bytes.p);
        free(lossy.p);
        return r;
    }
    }
    return 0;
}

clft_status clft_detokenize(const clft_tokenizer *tok, const int32_t *ids, size_t n, int skip_special, char **text,
                            size_t *len) {
    if (!tok || !text || (!ids && n)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_detokenize: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    tlist a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= tok->n_ids || tok->tok_off[id] == UINT32_MAX) {
            tlist_free(&a);
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "clft_detokenize: id %d at position %zu is not in the vocabulary (size %zu)", (int)id, i,
                              tok->n_ids);
        }
        if (skip_special && tok->is_special[id]) continue;
        if (!tlist_push(&a, tok->arena + tok->tok_off[id], tok->tok_len[id])) {
            tlist_free(&a);
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        }
    }
    for (size_t k = 0; k < tok->n_decs; k++) {
        if (!dec_step(tok, &tok->decs[k], &a, &b)) {
            tlist_free(&a);
            tlist_free(&b);
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        }
        tlist_free(&a);
        a = b;
        memset(&b, 0, sizeof b);
    }
    tbuf out = {0};
    for (size_t i = 0; i < a.n; i++)
        if ((i && !tok->n_decs && !tbuf_put(&out, " ", 1)) || /* no decoder: tokens joined by spaces */
            !tbuf_put(&out, TL_S(&a, i), a.len[i])) {
            tlist_free(&a);
            free(out.p);
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        }
    tlist_free(&a);
    if (!out.p && !tbuf_put(&out, "", 0)) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    /* a chain without ByteLevel may still hold raw bytes: make it valid UTF-8 */
    if (tok_utf8_check((const unsigned char *)out.p, out.n) != out.n) {
        tbuf l = {0};
        if (!put_lossy(&l, (const unsigned char *)out.p, out.n) || (!l.p && !tbuf_put(&l, "", 0))) {
            free(out.p);
            free(l.p);
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        }
        free(out.p);
        out = l;
    }
    *text = out.p;
    if (len) *len = out.n;
    return CLFT_OK;
}
