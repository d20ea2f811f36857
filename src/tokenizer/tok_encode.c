/* tok_encode.c - text -> ids: added-token extraction, normalizers (with a byte alignment back to
 * the input so that every token knows its span), pre-tokenizers (PCRE2 regex splits, ByteLevel,
 * Metaspace) and the BPE merge loop (binary heap on (rank, position), as the Rust crate's
 * word.rs: lowest rank first, ties to the leftmost pair). A per-call cache remembers the tokens of
 * every pre-token word already seen. Character classes come from PCRE2 and utf8proc: characters
 * assigned after their Unicode version (PCRE2 10.42: Unicode 14) may split differently from the
 * Rust crate. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

typedef struct heap_item {
    uint32_t rank, pos;
    int32_t a, b, m;
} heap_item;

typedef struct match3 {
    size_t s, e;
    int32_t id;
} match3;

typedef struct sbuf {
    char *s;
    size_t *al;
    size_t n, cap;
} sbuf;

typedef struct enc {
    const clft_tokenizer *tok;
    /* output */
    int32_t *ids;
    size_t *offs; /* 2 per token */
    size_t n, cap;
    /* nb: normalized segment (two buffers, swapped by every normalizer); wb: the pre-tokenizer's
     * working copy of one range of it. al[i]: input offset of byte i, al[n]: end of the range. */
    sbuf nb[2], wb[2];
    /* pieces [ps, pe) in wb[0] */
    size_t *ps, *pe, *ps2, *pe2;
    size_t np, pcap, np2, pcap2;
    /* added-token matches */
    match3 *mraw, *mnorm;
    size_t nraw, craw, nnorm, cnorm;
    /* BPE scratch */
    int32_t *sid;
    uint32_t *ss, *se;
    int32_t *sprev, *snext;
    size_t scap;
    heap_item *heap;
    size_t hn, hcap;
    char *tmp;
    size_t tmp_cap;
    pcre2_match_data *md;
    /* word cache: the tokenizer's shared one when its lock was free, else a per-call one */
    tok_cache local, *c;
} enc;

#define GROW(ptr, cap, need)                                                                                           \
    do {                                                                                                               \
        if ((need) > (cap)) {                                                                                          \
            size_t nc_ = (cap) ? (cap) : 16;                                                                           \
            while (nc_ < (need))                                                                                       \
                nc_ *= 2;                                                                                              \
            void *np_ = realloc((ptr), sizeof(*(ptr)) * nc_);                                                          \
            if (!np_) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");                       \
            (ptr) = np_;                                                                                               \
            (cap) = nc_;                                                                                               \
        }                                                                                                              \
    } while (0)

void tok_cache_free(tok_cache *c) {
    if (!c) return;
    free(c->cslots);
    free(c->cent);
    free(c->ckeys);
    free(c->ctoks);
    memset(c, 0, sizeof *c);
}

static void enc_free(enc *st) {
    free(st->ids);
    free(st->offs);
    for (int i = 0; i < 2; i++)
        free(st->nb[i].s), free(st->nb[i].al), free(st->wb[i].s), free(st->wb[i].al);
    free(st->ps);
    free(st->pe);
    free(st->ps2);
    free(st->pe2);
    free(st->mraw);
    free(st->mnorm);
    free(st->sid);
    free(st->ss);
    free(st->se);
    free(st->sprev);
    free(st->snext);
    free(st->heap);
    free(st->tmp);
    if (st->md) pcre2_match_data_free(st->md);
    tok_cache_free(&st->local);
}

static clft_status emit(enc *st, int32_t id, size_t s, size_t e) {
    if (st->n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        int32_t *ids = realloc(st->ids, sizeof(int32_t) * cap);
        if (!ids) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->ids = ids;
        size_t *offs = realloc(st->offs, sizeof(size_t) * 2 * cap);
        if (!offs) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->offs = offs;
        st->cap = cap;
    }
    st->ids[st->n] = id;
    st->offs[2 * st->n] = s;
    st->offs[2 * st->n + 1] = e;
    st->n++;
    return CLFT_OK;
}

/* ---- character classes (utf8proc) ------------------------------------------------------------- */
static int is_ws(int32_t c) {
    if (c == ' ' || (c >= 9 && c <= 13) || c == 0x85) return 1;
    if (c < 0x80) return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}
static int is_word(int32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}
/* Code point ending just before s+i (i > 0). */
static int32_t cp_before(const unsigned char *s, size_t i, size_t *len) {
    size_t j = i - 1;
    while (j > 0 && (s[j] & 0xC0) == 0x80)
        j--;
    int32_t c;
    tok_utf8_decode(s + j, &c);
    *len = i - j;
    return c;
}

/* ---- added tokens ----------------------------------------------------------------------------- */
/* Find the added tokens of m in s[0, n): leftmost, longest first; lstrip/rstrip widen the match
 * over whitespace, single_word refuses matches inside words. Appends to *out. */
static clft_status find_added(enc *st, const tok_matcher *m, const char *s, size_t n, match3 **out, size_t *cnt,
                              size_t *cap) {
    const clft_tokenizer *tok = st->tok;
    const unsigned char *u = (const unsigned char *)s;
    *cnt = 0;
    if (!m->n) return CLFT_OK;
    size_t prev_end = 0, p = 0;
    while (p < n) {
        unsigned char c = u[p];
        uint32_t a = m->start[c], b = m->start[c + 1];
        if (a == b || (!m->single[c] && (p + 1 >= n || !(m->second[c][u[p + 1] >> 6] >> (u[p + 1] & 63) & 1)))) {
            p++;
            continue;
        }
        int found = 0;
        for (uint32_t k = a; k < b; k++) {
            const tok_added *t = &tok->added[m->order[k]];
            if (t->mlen > n - p || memcmp(s + p, t->match, t->mlen) != 0) continue;
            size_t ms = p, me = p + t->mlen, l;
            if (t->single_word) {
                int32_t cb = ms > 0 ? cp_before(u, ms, &l) : ' ';
                int32_t ca = ' ';
                if (me < n) tok_utf8_decode(u + me, &ca);
                if (is_word(cb) || is_word(ca)) continue;
            }
            if (t->lstrip)
                while (ms > prev_end) {
                    int32_t cb = cp_before(u, ms, &l);
                    if (!is_ws(cb)) break;
                    ms -= l;
                }
            if (t->rstrip)
                while (me < n) {
                    int32_t ca;
                    size_t cl = tok_utf8_decode(u + me, &ca);
                    if (!is_ws(ca)) break;
                    me += cl;
                }
            GROW(*out, *cap, *cnt + 1);
            (*out)[*cnt].s = ms;
            (*out)[*cnt].e = me;
            (*out)[*cnt].id = t->id;
            (*cnt)++;
            prev_end = p = me;
            found = 1;
            break;
        }
        if (!found) p++;
    }
    return CLFT_OK;
}

/* ---- aligned string buffers ------------------------------------------------------------------- */
static clft_status sb_reserve(sbuf *b, size_t need) {
    need += 1; /* al[n] */
    if (need <= b->cap) return CLFT_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
    b->s = s;
    size_t *al = realloc(b->al, sizeof(size_t) * cap);
    if (!al) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
    b->al = al;
    b->cap = cap;
    return CLFT_OK;
}
/* Append n bytes all aligned to one input offset (inserted or rewritten text). */
static clft_status sb_put(sbuf *b, const char *s, size_t n, size_t align) {
    CLFT_CHECK(sb_reserve(b, b->n + n));
    memcpy(b->s + b->n, s, n);
    for (size_t i = 0; i < n; i++)
        b->al[b->n + i] = align;
    b->n += n;
    return CLFT_OK;
}
/* Append src[from, from + n) keeping its alignment. */
static clft_status sb_copy(sbuf *b, const sbuf *src, size_t from, size_t n) {
    CLFT_CHECK(sb_reserve(b, b->n + n));
    memcpy(b->s + b->n, src->s + from, n);
    memcpy(b->al + b->n, src->al + from, sizeof(size_t) * n);
    b->n += n;
    return CLFT_OK;
}
static void sb_swap(sbuf *a, sbuf *b) {
    sbuf t = *a;
    *a = *b;
    *b = t;
}

/* ---- normalizers ------------------------------------------------------------------------------ */
static int all_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* Unicode normal form, cluster by cluster (canonical composition never crosses an extended
 * grapheme cluster boundary), so that every output byte stays aligned to its cluster. */
static clft_status norm_unicode(enc *st, const sbuf *in, sbuf *out, utf8proc_option_t opts) {
    const unsigned char *s = (const unsigned char *)in->s;
    size_t n = in->n, i = 0;
    while (i < n) {
        int32_t c, d;
        size_t j = i + tok_utf8_decode(s + i, &c);
        int32_t state = 0;
        while (j < n) {
            size_t l = tok_utf8_decode(s + j, &d);
            if (utf8proc_grapheme_break_stateful(c, d, &state)) break;
            c = d;
            j += l;
        }
        if (all_ascii(in->s + i, j - i)) {
            CLFT_CHECK(sb_copy(out, in, i, j - i));
        } else {
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t r = utf8proc_map(s + i, (utf8proc_ssize_t)(j - i), &dst, opts);
            if (r < 0) {
                free(dst);
                return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "normalizing the text at byte %zu: %s", in->al[i],
                                  utf8proc_errmsg(r));
            }
            clft_status e = ((size_t)r == j - i && memcmp(dst, s + i, j - i) == 0)
                                ? sb_copy(out, in, i, j - i)
                                : sb_put(out, (const char *)dst, (size_t)r, in->al[i]);
            free(dst);
            CLFT_CHECK(e);
        }
        i = j;
    }
    return CLFT_OK;
}

static clft_status apply_norm(enc *st, const tok_norm *nm) {
    sbuf *in = &st->nb[0], *out = &st->nb[1];
    out->n = 0;
    size_t n = in->n;
    switch (nm->kind) {
    case TOK_NORM_NFC:
    case TOK_NORM_NFD:
    case TOK_NORM_NFKC:
    case TOK_NORM_NFKD: {
        if (all_ascii(in->s, n)) return CLFT_OK; /* ASCII is invariant under every normal form */
        utf8proc_option_t o = UTF8PROC_STABLE;
        if (nm->kind == TOK_NORM_NFC)
            o |= UTF8PROC_COMPOSE;
        else if (nm->kind == TOK_NORM_NFD)
            o |= UTF8PROC_DECOMPOSE;
        else if (nm->kind == TOK_NORM_NFKC)
            o |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        else
            o |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        CLFT_CHECK(norm_unicode(st, in, out, o));
        break;
    }
    case TOK_NORM_LOWERCASE: {
        size_t i = 0;
        while (i < n) {
            int32_t c;
            size_t l = tok_utf8_decode((const unsigned char *)in->s + i, &c);
            int32_t lc = utf8proc_tolower(c);
            if (lc == c)
                CLFT_CHECK(sb_copy(out, in, i, l));
            else {
                char buf[4];
                CLFT_CHECK(sb_put(out, buf, tok_utf8_encode(lc, buf), in->al[i]));
            }
            i += l;
        }
        break;
    }
    case TOK_NORM_PREPEND:
        if (n == 0) return CLFT_OK;
        CLFT_CHECK(sb_put(out, nm->str, nm->len, in->al[0]));
        CLFT_CHECK(sb_copy(out, in, 0, n));
        break;
    case TOK_NORM_REPLACE: {
        size_t i = 0, last = 0;
        while (i + nm->len <= n) {
            if (in->s[i] == nm->str[0] && memcmp(in->s + i, nm->str, nm->len) == 0) {
                CLFT_CHECK(sb_copy(out, in, last, i - last));
                CLFT_CHECK(sb_put(out, nm->str2, nm->len2, in->al[i]));
                i += nm->len;
                last = i;
            } else
                i++;
        }
        CLFT_CHECK(sb_copy(out, in, last, n - last));
        break;
    }
    case TOK_NORM_STRIP: {
        const unsigned char *u = (const unsigned char *)in->s;
        size_t a = 0, b = n, l;
        while (nm->left && a < b) {
            int32_t c;
            size_t k = tok_utf8_decode(u + a, &c);
            if (!is_ws(c)) break;
            a += k;
        }
        while (nm->right && b > a) {
            if (!is_ws(cp_before(u, b, &l))) break;
            b -= l;
        }
        CLFT_CHECK(sb_copy(out, in, a, b - a));
        out->al[out->n] = in->al[b];
        sb_swap(in, out);
        return CLFT_OK;
    }
    }
    out->al[out->n] = in->al[n];
    sb_swap(in, out);
    return CLFT_OK;
}

clft_status tok_normalize(const clft_tokenizer *tok, const char *s, size_t n, char **out, size_t *out_len) {
    enc st;
    memset(&st, 0, sizeof st);
    st.tok = tok;
    clft_status r = sb_reserve(&st.nb[0], n);
    if (r == CLFT_OK) {
        memcpy(st.nb[0].s, s, n);
        for (size_t i = 0; i <= n; i++)
            st.nb[0].al[i] = i;
        st.nb[0].n = n;
        for (size_t i = 0; r == CLFT_OK && i < tok->n_norms; i++)
            r = apply_norm(&st, &tok->norms[i]);
    }
    if (r == CLFT_OK && !(*out = malloc(st.nb[0].n + 1))) r = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    if (r == CLFT_OK) {
        memcpy(*out, st.nb[0].s, st.nb[0].n);
        (*out)[st.nb[0].n] = '\0';
        *out_len = st.nb[0].n;
    }
    enc_free(&st);
    return r;
}

/* ---- pre-tokenizers --------------------------------------------------------------------------- */
static clft_status piece_push(size_t **ps, size_t **pe, size_t *np, size_t *cap, size_t a, size_t b) {
    if (a >= b) return CLFT_OK; /* empty pieces are dropped */
    if (*np + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        size_t *x = realloc(*ps, sizeof(size_t) * c);
        if (!x) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        *ps = x;
        x = realloc(*pe, sizeof(size_t) * c);
        if (!x) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        *pe = x;
        *cap = c;
    }
    (*ps)[*np] = a;
    (*pe)[*np] = b;
    (*np)++;
    return CLFT_OK;
}
#define PUSH2(a, b) CLFT_CHECK(piece_push(&st->ps2, &st->pe2, &st->np2, &st->pcap2, (a), (b)))

static void pieces_swap(enc *st) {
    size_t *t = st->ps;
    st->ps = st->ps2, st->ps2 = t;
    t = st->pe, st->pe = st->pe2, st->pe2 = t;
    size_t c = st->pcap;
    st->pcap = st->pcap2, st->pcap2 = c;
    st->np = st->np2;
    st->np2 = 0;
}

/* Split every piece with the pre-tokenizer's regex (matches = delimiters, or the kept parts when
 * inverted) and the given behaviour. */
static clft_status split_regex(enc *st, const tok_pre *p) {
    const char *w = st->wb[0].s;
    st->np2 = 0;
    if (!st->md) {
        st->md = pcre2_match_data_create(4, NULL);
        if (!st->md) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
    }
    for (size_t k = 0; k < st->np; k++) {
        size_t a = st->ps[k], b = st->pe[k], len = b - a, pos = 0, last = 0;
        const PCRE2_SPTR subj = (PCRE2_SPTR)(w + a);
        int pending = 0;             /* MERGED_NEXT: a delimiter waiting for the next part, from pending_s */
        size_t pending_s = 0;        /* start of the pending delimiter */
        int last_delim = 0;          /* the previous part was a delimiter */
        size_t first_part = st->np2; /* parts of this piece start here */
        size_t seg[2][2];
        while (pos <= len) {
            int rc = p->jit ? pcre2_jit_match(p->re, subj, len, pos, 0, st->md, NULL)
                            : pcre2_match(p->re, subj, len, pos, PCRE2_NO_UTF_CHECK, st->md, NULL);
            size_t ms = len, me = len;
            if (rc == PCRE2_ERROR_NOMATCH) {
                ms = me = len;
            } else if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "pre-tokenizer regex failed at byte %zu: %s",
                                  st->wb[0].al[a + pos], (const char *)msg);
            } else {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
                ms = ov[0], me = ov[1];
                if (me == ms) { /* empty match: not a split point */
                    if (ms >= len) {
                        ms = me = len;
                    } else {
                        pos = ms + tok_utf8_len((unsigned char)w[a + ms]);
                        continue;
                    }
                }
            }
            /* two parts: the gap [last, ms) and the match [ms, me) */
            seg[0][0] = last, seg[0][1] = ms;
            seg[1][0] = ms, seg[1][1] = me;
            for (int q = 0; q < 2; q++) {
                size_t x = seg[q][0], y = seg[q][1];
                if (x >= y) continue;
                int delim = (q == 1) != (p->invert != 0);
                switch (p->behavior) {
                case TOK_SPLIT_REMOVED:
                    if (!delim) PUSH2(a + x, a + y);
                    break;
                case TOK_SPLIT_ISOLATED: PUSH2(a + x, a + y); break;
                /* as the Rust crate's NormalizedString::split: a delimiter merges with its
                 * neighbour only when that neighbour is not a delimiter itself */
                case TOK_SPLIT_CONTIGUOUS: /* runs of parts of the same kind are merged */
                    if (delim == last_delim && st->np2 > first_part)
                        st->pe2[st->np2 - 1] = a + y;
                    else
                        PUSH2(a + x, a + y);
                    break;
                case TOK_SPLIT_MERGED_PREV:
                    if (delim && !last_delim && st->np2 > first_part)
                        st->pe2[st->np2 - 1] = a + y;
                    else
                        PUSH2(a + x, a + y);
                    break;
                case TOK_SPLIT_MERGED_NEXT:
                    if (delim) {
                        if (pending) PUSH2(pending_s, a + x); /* two delimiters in a row: the first stays alone */
                        pending_s = a + x;
                        pending = 1;
                    } else {
                        PUSH2(pending ? pending_s : a + x, a + y);
                        pending = 0;
                    }
                    break;
                }
                last_delim = delim;
            }
            last = me;
            if (me >= len) break;
            pos = me;
        }
        if (pending) PUSH2(pending_s, b);
    }
    pieces_swap(st);
    return CLFT_OK;
}

/* Rewrite every piece into wb[1]: an optional prefix, and ' ' -> repl when repl is given. */
static clft_status rewrite_pieces(enc *st, const tok_pre *p) {
    sbuf *in = &st->wb[0], *out = &st->wb[1];
    out->n = 0;
    st->np2 = 0;
    for (size_t k = 0; k < st->np; k++) {
        size_t a = st->ps[k], b = st->pe[k], start = out->n;
        if (p->kind == TOK_PRE_BYTELEVEL) {
            if (in->s[a] != ' ') CLFT_CHECK(sb_put(out, " ", 1, in->al[a]));
            CLFT_CHECK(sb_copy(out, in, a, b - a));
        } else {
            int starts = (b - a >= 1 && in->s[a] == ' ') ||
                         (b - a >= p->repl_len && memcmp(in->s + a, p->repl, p->repl_len) == 0);
            int pre = !starts && (p->prepend_scheme == TOK_PREPEND_ALWAYS ||
                                  (p->prepend_scheme == TOK_PREPEND_FIRST && in->al[a] == 0));
            if (pre) CLFT_CHECK(sb_put(out, p->repl, p->repl_len, in->al[a]));
            size_t last = a;
            for (size_t i = a; i < b; i++)
                if (in->s[i] == ' ') {
                    CLFT_CHECK(sb_copy(out, in, last, i - last));
                    CLFT_CHECK(sb_put(out, p->repl, p->repl_len, in->al[i]));
                    last = i + 1;
                }
            CLFT_CHECK(sb_copy(out, in, last, b - last));
        }
        PUSH2(start, out->n);
        /* the end of this piece maps to where the input piece ended */
        CLFT_CHECK(sb_reserve(out, out->n));
        out->al[out->n] = in->al[b];
    }
    out->al[out->n] = in->al[in->n];
    sb_swap(in, out);
    pieces_swap(st);
    return CLFT_OK;
}

/* Metaspace split: cut before every replacement char (MergedWithNext). */
static clft_status split_metaspace(enc *st, const tok_pre *p) {
    const char *w = st->wb[0].s;
    st->np2 = 0;
    for (size_t k = 0; k < st->np; k++) {
        size_t a = st->ps[k], b = st->pe[k], last = a;
        for (size_t i = a + 1; i + p->repl_len <= b; i++)
            if (w[i] == p->repl[0] && memcmp(w + i, p->repl, p->repl_len) == 0) {
                PUSH2(last, i);
                last = i;
            }
        PUSH2(last, b);
    }
    pieces_swap(st);
    return CLFT_OK;
}

/* ---- BPE -------------------------------------------------------------------------------------- */
static int heap_less(const heap_item *x, const heap_item *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}
static clft_status heap_push(enc *st, uint32_t rank, uint32_t pos, int32_t a, int32_t b, int32_t m) {
    GROW(st->heap, st->hcap, st->hn + 1);
    size_t i = st->hn++;
    heap_item it = {rank, pos, a, b, m};
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!heap_less(&it, &st->heap[par])) break;
        st->heap[i] = st->heap[par];
        i = par;
    }
    st->heap[i] = it;
    return CLFT_OK;
}
static heap_item heap_pop(enc *st) {
    heap_item top = st->heap[0], last = st->heap[--st->hn];
    size_t i = 0, n = st->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&st->heap[c + 1], &st->heap[c])) c++;
        if (!heap_less(&st->heap[c], &last)) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n) st->heap[i] = last;
    return top;
}

static clft_status try_pair(enc *st, int32_t i) {
    if (i < 0 || st->snext[i] < 0) return CLFT_OK;
    const tok_pair_slot *p = tok_pair_get(&st->tok->merges, st->sid[i], st->sid[st->snext[i]]);
    if (p) CLFT_CHECK(heap_push(st, p->rank, (uint32_t)i, st->sid[i], st->sid[st->snext[i]], p->merged));
    return CLFT_OK;
}

/* Tokens of one word s[0, n): written to sid/ss/se[0, *k) (spans relative to s). */
static clft_status bpe_word(enc *st, const char *s, size_t n, size_t *k_out) {
    const clft_tokenizer *tok = st->tok;
    const unsigned char *u = (const unsigned char *)s;
    if (n + 1 > st->scap) {
        size_t c = st->scap ? st->scap : 64;
        while (c < n + 1)
            c *= 2;
        int32_t *a = realloc(st->sid, sizeof(int32_t) * c);
        if (!a) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->sid = a;
        uint32_t *b = realloc(st->ss, sizeof(uint32_t) * c);
        if (!b) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->ss = b;
        b = realloc(st->se, sizeof(uint32_t) * c);
        if (!b) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->se = b;
        a = realloc(st->sprev, sizeof(int32_t) * c);
        if (!a) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->sprev = a;
        a = realloc(st->snext, sizeof(int32_t) * c);
        if (!a) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        st->snext = a;
        st->scap = c;
    }
    size_t k = 0;
    if (tok->ignore_merges) {
        int32_t id;
        if (tok->byte_level) {
            GROW(st->tmp, st->tmp_cap, n * 2 + 1);
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                memcpy(st->tmp + m, tok->byte_char[u[i]], tok->byte_char_len[u[i]]);
                m += tok->byte_char_len[u[i]];
            }
            id = tok_map_get(tok, &tok->vocab, st->tmp, m);
        } else
            id = tok_map_get(tok, &tok->vocab, s, n);
        if (id >= 0) {
            st->sid[0] = id, st->ss[0] = 0, st->se[0] = (uint32_t)n;
            *k_out = 1;
            return CLFT_OK;
        }
    }
    if (tok->byte_level) {
        for (size_t i = 0; i < n; i++) {
            int32_t id = tok->byte_char_id[u[i]];
            if (id < 0) { /* a byte without its token (SmolLM2 has none for some controls): unk or dropped */
                if (tok->unk_id < 0) continue;
                if (tok->fuse_unk && k > 0 && st->sid[k - 1] == tok->unk_id && st->se[k - 1] == i) {
                    st->se[k - 1] = (uint32_t)(i + 1);
                    continue;
                }
                id = tok->unk_id;
            }
            st->sid[k] = id, st->ss[k] = (uint32_t)i, st->se[k++] = (uint32_t)(i + 1);
        }
    } else {
        size_t i = 0;
        while (i < n) {
            size_t cl = tok_utf8_len(u[i]);
            if (cl > n - i) cl = n - i;
            int32_t id = u[i] < 0x80 ? tok->ascii_id[u[i]] : tok_map_get(tok, &tok->vocab, s + i, cl);
            if (id >= 0) {
                st->sid[k] = id, st->ss[k] = (uint32_t)i, st->se[k++] = (uint32_t)(i + cl);
            } else {
                int all = tok->byte_fallback;
                for (size_t j = 0; all && j < cl; j++)
                    all = tok->byte_tok[u[i + j]] >= 0;
                if (all) {
                    for (size_t j = 0; j < cl; j++)
                        st->sid[k] = tok->byte_tok[u[i + j]], st->ss[k] = (uint32_t)(i + j),
                        st->se[k++] = (uint32_t)(i + j + 1);
                } else if (tok->unk_id >= 0) {
                    if (tok->fuse_unk && k > 0 && st->sid[k - 1] == tok->unk_id && st->se[k - 1] == i)
                        st->se[k - 1] = (uint32_t)(i + cl);
                    else
                        st->sid[k] = tok->unk_id, st->ss[k] = (uint32_t)i, st->se[k++] = (uint32_t)(i + cl);
                } /* else: dropped, as the Rust crate does without an unk token */
            }
            i += cl;
        }
    }
    if (k > 1) {
        for (size_t i = 0; i < k; i++)
            st->sprev[i] = (int32_t)i - 1, st->snext[i] = i + 1 < k ? (int32_t)i + 1 : -1;
        st->hn = 0;
        for (size_t i = 0; i + 1 < k; i++)
            CLFT_CHECK(try_pair(st, (int32_t)i));
        while (st->hn) {
            heap_item t = heap_pop(st);
            int32_t i = (int32_t)t.pos, j = st->snext[i];
            if (st->sid[i] != t.a || j < 0 || st->sid[j] != t.b || st->se[i] == 0) continue;
            st->sid[i] = t.m;
            st->se[i] = st->se[j];
            st->se[j] = 0; /* dead */
            st->sid[j] = -1;
            st->snext[i] = st->snext[j];
            if (st->snext[j] >= 0) st->sprev[st->snext[j]] = i;
            CLFT_CHECK(try_pair(st, st->sprev[i]));
            CLFT_CHECK(try_pair(st, i));
        }
        size_t m = 0;
        for (int32_t i = 0; i >= 0; i = st->snext[i]) {
            st->sid[m] = st->sid[i], st->ss[m] = st->ss[i], st->se[m] = st->se[i];
            m++;
        }
        k = m;
    }
    *k_out = k;
    return CLFT_OK;
}

/* Encode the word wb[0][a, b) (through the cache) and emit its tokens. */
static clft_status model_word(enc *st, size_t a, size_t b) {
    const sbuf *w = &st->wb[0];
    const char *s = w->s + a;
    size_t n = b - a;
    tok_cache *c = st->c;
    int cacheable = n <= 128;
    uint64_t h = 0;
    uint32_t slot = 0;
    if (cacheable) {
        h = tok_hash(s, n);
        if (!c->cslots) {
            c->cmask = 4095;
            c->cslots = calloc(c->cmask + 1, sizeof(uint32_t));
            if (!c->cslots) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        }
        slot = (uint32_t)h & c->cmask;
        while (c->cslots[slot]) {
            const tok_cache_entry *e = &c->cent[c->cslots[slot] - 1];
            if (e->hash == h && e->key_len == n && memcmp(c->ckeys + e->key_off, s, n) == 0) {
                const int32_t *t = c->ctoks + e->tok_off;
                for (uint32_t i = 0; i < e->tok_n; i++)
                    CLFT_CHECK(
                        emit(st, t[3 * i], w->al[a + (uint32_t)t[3 * i + 1]], w->al[a + (uint32_t)t[3 * i + 2]]));
                return CLFT_OK;
            }
            slot = (slot + 1) & c->cmask;
        }
    }
    size_t k = 0;
    CLFT_CHECK(bpe_word(st, s, n, &k));
    for (size_t i = 0; i < k; i++)
        CLFT_CHECK(emit(st, st->sid[i], w->al[a + st->ss[i]], w->al[a + st->se[i]]));
    if (!cacheable) return CLFT_OK;
    /* remember it; a full cache starts over */
    if (c->cn >= TOK_CACHE_MAX_WORDS) {
        c->cn = c->ckn = c->ctn = 0;
        memset(c->cslots, 0, sizeof(uint32_t) * ((size_t)c->cmask + 1));
        slot = (uint32_t)h & c->cmask;
    }
    GROW(c->cent, c->ccap, c->cn + 1);
    GROW(c->ckeys, c->ckcap, c->ckn + n);
    GROW(c->ctoks, c->ctcap, c->ctn + 3 * k);
    tok_cache_entry *e = &c->cent[c->cn];
    e->hash = h, e->key_off = (uint32_t)c->ckn, e->key_len = (uint32_t)n, e->tok_off = (uint32_t)c->ctn,
    e->tok_n = (uint32_t)k;
    memcpy(c->ckeys + c->ckn, s, n);
    c->ckn += n;
    for (size_t i = 0; i < k; i++) {
        c->ctoks[c->ctn++] = st->sid[i];
        c->ctoks[c->ctn++] = (int32_t)st->ss[i];
        c->ctoks[c->ctn++] = (int32_t)st->se[i];
    }
    c->cslots[slot] = (uint32_t)++c->cn;
    if (c->cn * 2 > c->cmask) { /* grow and rehash */
        uint32_t nm = c->cmask * 2 + 1;
        uint32_t *ns = calloc((size_t)nm + 1, sizeof(uint32_t));
        if (!ns) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory in tokenize");
        for (size_t i = 0; i < c->cn; i++) {
            uint32_t q = (uint32_t)c->cent[i].hash & nm;
            while (ns[q])
                q = (q + 1) & nm;
            ns[q] = (uint32_t)i + 1;
        }
        free(c->cslots);
        c->cslots = ns;
        c->cmask = nm;
    }
    return CLFT_OK;
}

static clft_status model_piece(enc *st, size_t a, size_t b) {
    const clft_tokenizer *tok = st->tok;
    if (!tok->sp_split_ok) return model_word(st, a, b);
    /* cut before every mark that follows another char (see check_sp_split) */
    const char *w = st->wb[0].s, *mk = tok->sp_mark;
    size_t ml = tok->sp_mark_len, last = a;
    for (size_t i = a + 1; i + ml <= b; i++) {
        if (w[i] != mk[0] || memcmp(w + i, mk, ml) != 0) continue;
        if (i >= a + ml && memcmp(w + i - ml, mk, ml) == 0) continue;
        CLFT_CHECK(model_word(st, last, i));
        last = i;
    }
    return model_word(st, last, b);
}

/* Pre-tokenize nb[0][r0, r1) and run the model on every piece. */
static clft_status pretok_model(enc *st, size_t r0, size_t r1) {
    const clft_tokenizer *tok = st->tok;
    if (r0 >= r1) return CLFT_OK;
    sbuf *w = &st->wb[0];
    w->n = 0;
    CLFT_CHECK(sb_copy(w, &st->nb[0], r0, r1 - r0));
    w->al[w->n] = st->nb[0].al[r1];
    st->np = 0;
    CLFT_CHECK(piece_push(&st->ps, &st->pe, &st->np, &st->pcap, 0, w->n));
    for (size_t i = 0; i < tok->n_pres; i++) {
        const tok_pre *p = &tok->pres[i];
        switch (p->kind) {
        case TOK_PRE_SPLIT:
        case TOK_PRE_WHITESPACE_SPLIT: CLFT_CHECK(split_regex(st, p)); break;
        case TOK_PRE_BYTELEVEL:
            if (p->add_prefix_space) CLFT_CHECK(rewrite_pieces(st, p));
            if (p->re) {
                tok_pre iso = *p;
                iso.behavior = TOK_SPLIT_ISOLATED;
                iso.invert = 0;
                CLFT_CHECK(split_regex(st, &iso));
            }
            break;
        case TOK_PRE_METASPACE:
            CLFT_CHECK(rewrite_pieces(st, p));
            if (p->split) CLFT_CHECK(split_metaspace(st, p));
            break;
        }
    }
    for (size_t k = 0; k < st->np; k++)
        CLFT_CHECK(model_piece(st, st->ps[k], st->pe[k]));
    return CLFT_OK;
}

/* Normalize input[a, b), extract normalized added tokens, pre-tokenize, run the model. */
static clft_status encode_text(enc *st, const char *text, size_t a, size_t b) {
    const clft_tokenizer *tok = st->tok;
    if (a >= b) return CLFT_OK;
    sbuf *nb = &st->nb[0];
    nb->n = 0;
    CLFT_CHECK(sb_reserve(nb, b - a));
    memcpy(nb->s, text + a, b - a);
    for (size_t i = 0; i <= b - a; i++)
        nb->al[i] = a + i;
    nb->n = b - a;
    for (size_t i = 0; i < tok->n_norms; i++)
        CLFT_CHECK(apply_norm(st, &tok->norms[i]));
    nb = &st->nb[0];
    if (!tok->match_norm.n) return pretok_model(st, 0, nb->n);
    CLFT_CHECK(find_added(st, &tok->match_norm, nb->s, nb->n, &st->mnorm, &st->nnorm, &st->cnorm));
    size_t last = 0;
    for (size_t i = 0; i < st->nnorm; i++) {
        match3 m = st->mnorm[i];
        CLFT_CHECK(pretok_model(st, last, m.s));
        CLFT_CHECK(emit(st, m.id, st->nb[0].al[m.s], st->nb[0].al[m.e]));
        last = m.e;
    }
    return pretok_model(st, last, st->nb[0].n);
}

clft_status tok_encode(const clft_tokenizer *tok, const char *text, size_t len, int add_special, int32_t **ids,
                       size_t **offsets, size_t *n) {
    if (!tok || !ids || !n || (!text && len))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_tokenize: NULL argument");
    *ids = NULL;
    *n = 0;
    if (offsets) *offsets = NULL;
    if (!text) text = "";
    size_t bad = tok_utf8_check((const unsigned char *)text, len);
    if (bad < len)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_tokenize: invalid UTF-8 at byte offset %zu (byte 0x%02X)",
                          bad, (unsigned)(unsigned char)text[bad]);
    enc st;
    memset(&st, 0, sizeof st);
    st.tok = tok;
    /* the shared word cache when no other thread holds it */
    tok_cache *shared = NULL;
    if (tok->cache && pthread_mutex_trylock(tok->cache_lock) == 0) shared = tok->cache;
    st.c = shared ? shared : &st.local;
    clft_status s = CLFT_OK;
    for (size_t i = 0; s == CLFT_OK && add_special && i < tok->n_prefix; i++)
        s = emit(&st, tok->prefix_ids[i], 0, 0);
    if (s == CLFT_OK) s = find_added(&st, &tok->match_raw, text, len, &st.mraw, &st.nraw, &st.craw);
    size_t last = 0;
    for (size_t i = 0; s == CLFT_OK && i < st.nraw; i++) {
        match3 m = st.mraw[i];
        s = encode_text(&st, text, last, m.s);
        if (s == CLFT_OK) s = emit(&st, m.id, m.s, m.e);
        last = m.e;
    }
    if (s == CLFT_OK) s = encode_text(&st, text, last, len);
    for (size_t i = 0; s == CLFT_OK && add_special && i < tok->n_suffix; i++)
        s = emit(&st, tok->suffix_ids[i], len, len);
    if (s == CLFT_OK && st.n == 0) s = emit(&st, 0, 0, 0), st.n = 0; /* allocate a non-NULL empty result */
    if (shared) pthread_mutex_unlock(tok->cache_lock);
    if (s != CLFT_OK) {
        enc_free(&st);
        return s;
    }
    *ids = st.ids;
    *n = st.n;
    st.ids = NULL;
    if (offsets) {
        *offsets = st.offs;
        st.offs = NULL;
    }
    enc_free(&st);
    return CLFT_OK;
}

clft_status clft_tokenize(const clft_tokenizer *tok, const char *text, size_t len, int add_special, int32_t **ids,
                          size_t *n) {
    return tok_encode(tok, text, len, add_special, ids, NULL, n);
}

clft_status clft_tokenize_offsets(const clft_tokenizer *tok, const char *text, size_t len, int add_special,
                                  int32_t **ids, size_t **offsets, size_t *n) {
    if (!offsets) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_tokenize_offsets: offsets is NULL");
    return tok_encode(tok, text, len, add_special, ids, offsets, n);
}
