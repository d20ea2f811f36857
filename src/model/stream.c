/* stream.c - streaming detokenizer with stop strings (stream.h).
 *
 * The text must be what clft_detokenize gives for all the ids, which is not the concatenation of
 * the tokens decoded one by one: the decoder chains (src/tokenizer/tokenizer.c) have effects at the
 * start of the text (Metaspace drops "▁" in the first token, Strip removes the leading space after
 * Fuse), group runs of byte-fallback tokens ("<0xE4><0xB8><0xAD>" is one character; an invalid run
 * is one U+FFFD per token) and join the bytes of byte-level tokens before the UTF-8 conversion (a
 * character split across tokens). Decoding every id again per token would cost O(n) per token.
 *
 * Instead the ids are cut at boundaries. A boundary before token q is clean when token q's text is
 * not empty, is not a byte-fallback token, and does not begin with a byte-level character that
 * stands for a UTF-8 continuation byte (0x80..0xBF): then no byte-fallback run and no UTF-8
 * sequence crosses it, and every decoder step of the chain is local on either side, so
 *     detok(ids[0..n)) = detok(ids[0..q)) ++ detok'(ids[q..n))
 * where detok' is decoding "as not the first token": detok([g] ++ ids[q..n)) without the text of
 * g, a guard token of plain one-character text ("a") that takes the start-of-text effects (a
 * token-joining chain without decoders is covered too: the separator after g stays). The first
 * boundary also needs a non-empty detok(ids[0..q)) (so that a Strip of the leading space is done
 * with). The streamer keeps the final text before the last boundary and decodes only the window of
 * ids after it (plus the guard): usually one to three tokens. The conditions look at the token
 * texts (clft_tokenizer_id_to_token) the same way for every chain, so they are conservative: a
 * token of a SentencePiece vocabulary that begins with a character in U+00A1..U+00BF merely moves
 * no boundary. The chain itself is checked once (chain_is_local). Without a guard token, with a
 * chain that is not local, or in a long run of byte tokens, the window grows (O(n) per token then;
 * still correct).
 *
 * Inside the window the text that can still change is held back: the text of a trailing run of
 * byte-fallback tokens (valid UTF-8 so far may turn into U+FFFDs when the run goes on) and trailing
 * U+FFFDs (an unfinished byte-level sequence). Then stop strings: the text is searched from the
 * first byte not yet given out (no stop string can begin earlier: a suffix that is the beginning of
 * a stop string is never given out) and a suffix that begins a stop string is held back. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/stream.h"
#include "tokenizer/tok_internal.h"

static const char GUARDS[][2] = {"a", "e", "x", "0", "!"};

struct clft_streamer {
    const clft_tokenizer *tok;
    int skip_special;
    char **stops;
    size_t *stop_len;
    size_t n_stops, max_stop;
    int32_t guard; /* -1: none (the window then always starts at the first token) */
    char guard_char;
    /* the window: win[0] = guard, win[1 .. 1 + nw) the ids since the last boundary */
    int32_t *win;
    size_t *wlen;    /* wlen[j]: length of the window's text after its first j tokens */
    uint8_t *wbyte;  /* wbyte[j]: token j of the window is a byte-fallback token */
    size_t nw, wcap; /* wcap: capacity of wbyte and (wcap + 1) of win and wlen */
    int at_start;    /* no boundary yet: the window starts at the first token, decoded without guard */
    char *wdec;      /* the last decode of the window; its text is wdec + woff, wtext_len bytes */
    size_t woff, wtext_len;
    /* text[0, base): final text before the window; text[base, len): the stable part of the
     * window's text; text[0, emitted): given out */
    char *text;
    size_t base, len, cap, emitted;
    int stopped, finished;
};

static int hexdig(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }
/* "<0xAB>": a byte-fallback token */
static int byte_token(const char *t) {
    return t[0] == '<' && t[1] == '0' && t[2] == 'x' && hexdig(t[3]) && hexdig(t[4]) && t[5] == '>' && !t[6];
}

/* The byte a byte-level (GPT-2 bytes_to_unicode) character stands for, or -1 when cp is not one
 * that stands for another byte (printable Latin-1 characters stand for themselves). */
static int byte_level_byte(int32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    int k = (int)cp - 256; /* the other bytes in order: 0x00..0x20, 0x7F..0xA0, 0xAD */
    return k <= 32 ? k : k <= 66 ? 0x7F + (k - 33) : 0xAD;
}

/* A boundary may go before a token with this text (see the top of the file). */
static int clean_start(const char *t) {
    const unsigned char *u = (const unsigned char *)t;
    if (!u[0] || byte_token(t)) return 0;
    int32_t cp;
    if (u[0] < 0x80)
        cp = u[0];
    else if (u[0] >= 0xE0)
        return 1; /* three or four bytes: U+0800 and above, no byte-level character */
    else if (u[0] >= 0xC2 && (u[1] & 0xC0) == 0x80)
        cp = (int32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    else
        return 0;
    int b = byte_level_byte(cp);
    return !(b >= 0x80 && b <= 0xBF);
}

/* The proof above holds for the decoder steps of tokenizer.c that act on each token alone (Replace,
 * Strip, Metaspace, the runs of ByteFallback) or that join the tokens (Fuse, ByteLevel) with at most
 * a Strip of the text's start after the join. A Replace after the join could match across a
 * boundary and a Strip of the text's end is not local: then no boundary is used (every push decodes
 * all the ids; the text is checked to grow by appending). */
static int chain_is_local(const clft_tokenizer *tok) {
    int joined = 0;
    for (size_t i = 0; i < tok->n_decs; i++) {
        const tok_dec *d = &tok->decs[i];
        if (d->kind == TOK_DEC_FUSE || d->kind == TOK_DEC_BYTELEVEL) joined = 1;
        if (joined && (d->kind == TOK_DEC_REPLACE || (d->kind == TOK_DEC_STRIP && d->stop > 0))) return 0;
    }
    return 1;
}

clft_status clft_streamer_create(const clft_tokenizer *tok, int skip_special, const char *const *stops, size_t n_stops,
                                 clft_streamer **out) {
    if (!tok || !out || (!stops && n_stops))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_streamer_create: NULL argument");
    *out = NULL;
    for (size_t i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0])
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "stop string %zu is %s", i, stops[i] ? "empty" : "NULL");
        const size_t len = strlen(stops[i]);
        if (tok_utf8_check((const unsigned char *)stops[i], len) != len) /* tokenizer's UTF-8 validation */
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "stop string %zu is not valid UTF-8", i);
    }
    clft_streamer *s = clft_calloc(1, sizeof *s);
    if (!s) return CLFT_STATUS_HOST_OOM;
    s->tok = tok;
    s->skip_special = skip_special ? 1 : 0;
    s->at_start = 1;
    s->guard = -1;
    s->cap = 256;
    s->wcap = 16;
    s->text = clft_malloc(s->cap);
    s->win = clft_malloc((s->wcap + 1) * sizeof *s->win);
    s->wlen = clft_malloc((s->wcap + 1) * sizeof *s->wlen);
    s->wbyte = clft_malloc(s->wcap);
    if (n_stops) {
        s->stops = clft_calloc(n_stops, sizeof *s->stops);
        s->stop_len = clft_calloc(n_stops, sizeof *s->stop_len);
    }
    if (!s->text || !s->win || !s->wlen || !s->wbyte || (n_stops && (!s->stops || !s->stop_len))) {
        clft_streamer_free(s);
        return CLFT_STATUS_HOST_OOM;
    }
    s->n_stops = n_stops;
    for (size_t i = 0; i < n_stops; i++) {
        s->stops[i] = clft_strdup(stops[i]);
        if (!s->stops[i]) {
            clft_streamer_free(s);
            return CLFT_STATUS_HOST_OOM;
        }
        s->stop_len[i] = strlen(stops[i]);
        if (s->stop_len[i] > s->max_stop) s->max_stop = s->stop_len[i];
    }
    s->text[0] = '\0';
    s->wlen[0] = 0;
    /* the guard: a plain token that decodes to its own one-character text */
    for (size_t g = 0; g < sizeof GUARDS / sizeof GUARDS[0] && s->guard < 0 && chain_is_local(tok); g++) {
        int32_t id = clft_tokenizer_token_to_id(tok, GUARDS[g]);
        if (id < 0 || clft_tokenizer_is_special(tok, id)) continue;
        char *d = NULL;
        size_t dl = 0;
        clft_status st = clft_detokenize(tok, &id, 1, s->skip_special, &d, &dl);
        if (st == CLFT_STATUS_HOST_OOM) {
            clft_streamer_free(s);
            return st;
        }
        if (st == CLFT_OK && dl == 1 && d[0] == GUARDS[g][0]) {
            s->guard = id;
            s->guard_char = d[0];
        }
        clft_free(d);
    }
    clft_error_clear();
    s->win[0] = s->guard;
    *out = s;
    return CLFT_OK;
}

void clft_streamer_free(clft_streamer *s) {
    if (!s) return;
    for (size_t i = 0; s->stops && i < s->n_stops; i++)
        free(s->stops[i]);
    free(s->stops);
    free(s->stop_len);
    free(s->win);
    free(s->wlen);
    free(s->wbyte);
    clft_free(s->wdec);
    free(s->text);
    free(s);
}

static int text_reserve(clft_streamer *s, size_t need) {
    if (need + 1 <= s->cap) return 1;
    size_t cap = s->cap * 2;
    while (cap < need + 1)
        cap *= 2;
    char *t = realloc(s->text, cap);
    if (!t) return 0;
    s->text = t;
    s->cap = cap;
    return 1;
}

/* Give out what is final in text[emitted, len): up to the earliest stop string (then stopped), else
 * all but a suffix that begins a stop string (unless final). */
static void release(clft_streamer *s, int final, const char **piece, size_t *plen) {
    size_t from = s->emitted, end = s->len;
    for (size_t pos = from; pos < end && s->n_stops; pos++)
        for (size_t k = 0; k < s->n_stops; k++)
            if (s->stop_len[k] <= end - pos && !memcmp(s->text + pos, s->stops[k], s->stop_len[k])) {
                s->stopped = 1;
                s->len = s->emitted = pos;
                s->text[pos] = '\0';
                *piece = s->text + from;
                *plen = pos - from;
                return;
            }
    size_t hold = 0;
    if (!final && s->max_stop > 1) {
        size_t h = end - from < s->max_stop - 1 ? end - from : s->max_stop - 1;
        for (; h > 0 && !hold; h--)
            for (size_t k = 0; k < s->n_stops; k++)
                if (s->stop_len[k] > h && !memcmp(s->text + end - h, s->stops[k], h)) {
                    hold = h;
                    break;
                }
    }
    s->emitted = end - hold;
    *piece = s->text + from;
    *plen = s->emitted - from;
}

clft_status clft_streamer_push(clft_streamer *s, int32_t id, const char **piece, size_t *len, int *stopped) {
    if (!s || !piece || !len) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_streamer_push: NULL argument");
    *piece = s->text + s->emitted;
    *len = 0;
    if (stopped) *stopped = s->stopped;
    if (s->finished) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_streamer_push: the streamer has finished");
    const char *t = clft_tokenizer_id_to_token(s->tok, id);
    if (!t)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_streamer_push: id %d is not in the vocabulary (size %zu)",
                          (int)id, clft_tokenizer_vocab_size(s->tok));
    if (s->stopped || (s->skip_special && clft_tokenizer_is_special(s->tok, id))) return CLFT_OK;

    /* a clean boundary before this token: the window's whole text is final */
    if (s->nw > 0 && s->guard >= 0 && clean_start(t) && (!s->at_start || s->wtext_len > 0)) {
        if (!text_reserve(s, s->base + s->wtext_len)) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        memcpy(s->text + s->base, s->wdec + s->woff, s->wtext_len);
        s->base += s->wtext_len;
        s->len = s->base;
        s->text[s->len] = '\0';
        s->nw = 0;
        s->at_start = 0;
        s->wtext_len = 0;
    }
    if (s->nw == s->wcap) {
        size_t cap = s->wcap * 2;
        int32_t *w = realloc(s->win, (cap + 1) * sizeof *w);
        if (w) s->win = w;
        size_t *l = w ? realloc(s->wlen, (cap + 1) * sizeof *l) : NULL;
        if (l) s->wlen = l;
        uint8_t *b = l ? realloc(s->wbyte, cap) : NULL;
        if (!b) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        s->wbyte = b;
        s->wcap = cap;
    }
    s->win[1 + s->nw] = id;
    s->wbyte[s->nw] = (uint8_t)byte_token(t);

    const int32_t *ids = s->at_start ? s->win + 1 : s->win;
    size_t n = s->nw + 1 + (s->at_start ? 0 : 1);
    char *d = NULL;
    size_t dl = 0;
    CLFT_CHECK(clft_detokenize(s->tok, ids, n, s->skip_special, &d, &dl));
    size_t off = s->at_start ? 0 : 1;
    if (off && (dl < 1 || d[0] != s->guard_char)) {
        clft_free(d);
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "streaming detokenizer: the decoder does not keep the guard token's text in front");
    }
    const char *w = d + off;
    size_t wl = dl - off;
    /* the stable part of the window's text: without a trailing byte-fallback run and without
     * trailing U+FFFD */
    size_t st = wl;
    if (s->wbyte[s->nw]) {
        size_t j = s->nw;
        while (j > 0 && s->wbyte[j - 1])
            j--;
        st = s->wlen[j];
    }
    while (st >= 3 && !memcmp(w + st - 3, "\xEF\xBF\xBD", 3))
        st -= 3;
    /* what was given out must stay the beginning of the text (it does for the decoders of
     * tokenizer.c; anything else is a decoder this streamer does not support) */
    size_t given = s->emitted > s->base ? s->emitted - s->base : 0;
    if (st < given || memcmp(s->text + s->base, w, given) != 0) {
        clft_free(d);
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "streaming detokenizer: the text of earlier tokens changed with token %d", (int)id);
    }
    if (!text_reserve(s, s->base + st)) {
        clft_free(d);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    memcpy(s->text + s->base, w, st);
    s->len = s->base + st;
    s->text[s->len] = '\0';
    clft_free(s->wdec);
    s->wdec = d;
    s->woff = off;
    s->wtext_len = wl;
    s->nw++;
    s->wlen[s->nw] = wl;
    release(s, 0, piece, len);
    if (stopped) *stopped = s->stopped;
    return CLFT_OK;
}

clft_status clft_streamer_finish(clft_streamer *s, const char **piece, size_t *len, int *stopped) {
    if (!s || !piece || !len) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_streamer_finish: NULL argument");
    *piece = s->text + s->emitted;
    *len = 0;
    if (!s->finished && !s->stopped) {
        if (!text_reserve(s, s->base + s->wtext_len)) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        memcpy(s->text + s->base, s->wdec ? s->wdec + s->woff : "", s->wtext_len);
        s->len = s->base + s->wtext_len;
        s->text[s->len] = '\0';
        release(s, 1, piece, len);
    }
    s->finished = 1;
    s->text[s->len] = '\0';
    if (stopped) *stopped = s->stopped;
    return CLFT_OK;
}

const char *clft_streamer_text(const clft_streamer *s, size_t *len) {
    if (len) *len = s ? s->emitted : 0;
    return s ? s->text : "";
}
