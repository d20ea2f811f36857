/* test_stream.c - the streaming detokenizer (src/model/stream.h) with the repository's real
 * tokenizers (tests/data/tokenizers: llama2 = SentencePiece with byte fallback, llama3 and qwen3 =
 * byte-level) and the byte-level tokenizer `clft init` writes: the pieces of encoded texts and of
 * random id sequences (byte tokens, split characters, special tokens) put together equal
 * clft_detokenize of all the ids, every piece is whole UTF-8 characters, plain text comes out
 * without delay, stop strings (inside a token, across tokens, at the start, twice, a beginning that
 * never completes, several, completed only at the end, special token texts) cut where generation
 * semantics say; and the cost per token over 4096 tokens (printed). argv: tests/data/tokenizers,
 * a scratch parent folder. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clft.h"
#include "core/core.h"
#include "model/stream.h"
#include "tutil.h"

static int utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80                 ? 0
                   : c >= 0xC2 && c <= 0xDF ? 1
                   : c >= 0xE0 && c <= 0xEF ? 2
                   : c >= 0xF0 && c <= 0xF4 ? 3
                                            : 9;
        if (k == 9 || k > n - i - 1) return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static char *detok(const clft_tokenizer *tok, const int32_t *ids, size_t n, int skip, size_t *len) {
    char *t = NULL;
    TU_OK(clft_detokenize(tok, ids, n, skip, &t, len));
    return t;
}

/* What generation gives with stop strings: the first prefix of the ids whose text holds a stop
 * string is cut at the earliest one in it. *stopped set when one appeared. */
static char *ref_stop(const clft_tokenizer *tok, const int32_t *ids, size_t n, int skip, const char *const *stops,
                      size_t ns, int *stopped, size_t *len) {
    *stopped = 0;
    for (size_t i = 1; i <= n; i++) {
        size_t l;
        char *t = detok(tok, ids, i, skip, &l);
        size_t cut = SIZE_MAX;
        for (size_t k = 0; k < ns; k++) {
            char *f = strstr(t, stops[k]);
            if (f && (size_t)(f - t) < cut) cut = (size_t)(f - t);
        }
        if (cut != SIZE_MAX || i == n) {
            if (cut != SIZE_MAX) {
                t[cut] = '\0';
                l = cut;
                *stopped = 1;
            }
            *len = l;
            return t;
        }
        clft_free(t);
    }
    *len = 0;
    return detok(tok, ids, 0, skip, len);
}

typedef struct run_out {
    char *text; /* pieces put together */
    size_t len;
    int stopped;
    int bad_piece;   /* a piece that is not whole UTF-8 characters */
    int mismatch;    /* clft_streamer_text differs from the pieces */
    size_t max_held; /* largest lag behind clft_detokenize of the ids so far, in bytes */
} run_out;

/* Push ids one by one (then finish), collecting pieces. lag: also measure how far the text lags
 * behind clft_detokenize of the ids so far. */
static run_out run_stream(const clft_tokenizer *tok, const int32_t *ids, size_t n, int skip, const char *const *stops,
                          size_t ns, int lag) {
    run_out r = {0};
    r.text = calloc(1, 1);
    clft_streamer *s = NULL;
    TU_OK(clft_streamer_create(tok, skip, stops, ns, &s));
    if (!s) return r;
    for (size_t i = 0; i <= n; i++) {
        const char *p = NULL;
        size_t pl = 0;
        int st = 0;
        if (i < n)
            TU_OK(clft_streamer_push(s, ids[i], &p, &pl, &st));
        else
            TU_OK(clft_streamer_finish(s, &p, &pl, &st));
        if (!utf8_ok((const unsigned char *)p, pl)) r.bad_piece++;
        r.text = realloc(r.text, r.len + pl + 1);
        memcpy(r.text + r.len, p, pl);
        r.len += pl;
        r.text[r.len] = '\0';
        r.stopped = st;
        size_t tl = 0;
        const char *t = clft_streamer_text(s, &tl);
        if (tl != r.len || memcmp(t, r.text, tl)) r.mismatch++;
        if (lag && i < n && !st) {
            size_t dl;
            char *d = detok(tok, ids, i + 1, skip, &dl);
            if (dl >= r.len && dl - r.len > r.max_held) r.max_held = dl - r.len;
            clft_free(d);
        }
    }
    clft_streamer_free(s);
    return r;
}

/* Stream the ids and compare with the reference; returns 1 when equal. */
static int check_ids(const char *what, const clft_tokenizer *tok, const int32_t *ids, size_t n, int skip,
                     const char *const *stops, size_t ns, int want_no_lag) {
    int stopped = 0;
    size_t wl = 0;
    char *want = ns ? ref_stop(tok, ids, n, skip, stops, ns, &stopped, &wl) : detok(tok, ids, n, skip, &wl);
    run_out r = run_stream(tok, ids, n, skip, stops, ns, want_no_lag);
    int ok = r.len == wl && !memcmp(r.text, want, wl) && r.stopped == stopped;
    TU_CHECK(ok, "%s (skip %d): streamed '%s'%s, want '%s'%s", what, skip, r.text, r.stopped ? " (stopped)" : "", want,
             stopped ? " (stopped)" : "");
    TU_CHECK(!r.bad_piece, "%s: %d pieces end inside a UTF-8 character", what, r.bad_piece);
    TU_CHECK(!r.mismatch, "%s: clft_streamer_text differs from the pieces %d times", what, r.mismatch);
    if (want_no_lag) TU_CHECK(r.max_held == 0, "%s: text held back %zu bytes", what, r.max_held);
    free(r.text);
    clft_free(want);
    return ok;
}

static int32_t *encode(const clft_tokenizer *tok, const char *text, int add_special, size_t *n) {
    int32_t *ids = NULL;
    TU_OK(clft_tokenize(tok, text, strlen(text), add_special, &ids, n));
    return ids;
}

static const char *const TEXTS[] = {
    "Hello, world! This is a test.",
    "  leading spaces and trailing  ",
    " a",
    "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and a family "
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7!",
    "CJK: \xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6\xEF\xBC\x8C\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
    "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
    "combining: e\xCC\x81 a\xCC\x88 n\xCC\x83 \xC3\x85 \xE1\xBA\xBF",
    "code:\n\tint main(void) {\n\t\treturn 0; // \xCE\xBB\n\t}\n\n",
    "\n\nline\n\n\nbreaks\r\n",
    "rare: \xE2\xBF\xB0 \xF0\x9D\x94\x98\xF0\x9D\x94\xAB\xF0\x9D\x94\xA6 \xEA\x99\xAE \xF0\x93\x80\x80 "
    "\xC2\xBF\xC2\xA1",
    "\xE2\x96\x81 a literal metaspace \xE2\x96\x81\xE2\x96\x81 char",
    "numbers 1234567890 3.14159 and <0x41> text",
};

static void test_texts(const char *name, const clft_tokenizer *tok) {
    char what[128];
    for (size_t t = 0; t < sizeof TEXTS / sizeof TEXTS[0]; t++)
        for (int add = 0; add <= 1; add++)
            for (int skip = 0; skip <= 1; skip++) {
                size_t n = 0;
                int32_t *ids = encode(tok, TEXTS[t], add, &n);
                snprintf(what, sizeof what, "%s text %zu (add_special %d)", name, t, add);
                /* ASCII-only texts come out without delay, unless spelled with byte-fallback tokens
                 * (Llama-2's "\n"): their run is final only when the next token is not one */
                int ascii = 1;
                for (const char *c = TEXTS[t]; *c; c++)
                    ascii &= (unsigned char)*c < 0x80;
                for (size_t i = 0; i < n; i++) {
                    const char *tt = clft_tokenizer_id_to_token(tok, ids[i]);
                    ascii &= !(strlen(tt) == 6 && !strncmp(tt, "<0x", 3));
                }
                check_ids(what, tok, ids, n, skip, NULL, 0, ascii);
                clft_free(ids);
            }
}

/* Ids of the 256 byte tokens: "<0xAB>" (byte fallback) or the byte-level character; -1 missing. */
static void byte_ids(const clft_tokenizer *tok, int32_t out[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        out[b] = clft_tokenizer_token_to_id(tok, name);
    }
    if (out[0x41] >= 0) return;
    for (int b = 0; b < 256; b++) {
        int cp = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE) ? b : 256 + n++;
        char u[4] = {0};
        if (cp < 0x80)
            u[0] = (char)cp;
        else
            u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
        out[b] = clft_tokenizer_token_to_id(tok, u);
    }
}

/* Random id sequences: vocabulary ids, byte tokens (whole characters split into bytes, lone lead
 * and continuation bytes), special tokens; both skip_special values. */
static void test_random(const char *name, const clft_tokenizer *tok, int rounds) {
    int32_t bytes[256];
    byte_ids(tok, bytes);
    size_t V = clft_tokenizer_vocab_size(tok);
    int32_t specials[8];
    int nsp = 0;
    for (size_t id = 0; id < V && nsp < 8; id++)
        if (clft_tokenizer_is_special(tok, (int32_t)id)) specials[nsp++] = (int32_t)id;
    tu_rng r = tu_rng_make(0x57ea + V);
    int32_t ids[96];
    int fails = 0;
    for (int round = 0; round < rounds && fails < 3; round++) {
        size_t n = 1 + tu_next(&r) % 80;
        size_t i = 0;
        while (i < n) {
            unsigned k = (unsigned)(tu_next(&r) % 10);
            if (k < 4) { /* any id */
                int32_t id;
                do
                    id = (int32_t)(tu_next(&r) % V);
                while (!clft_tokenizer_id_to_token(tok, id));
                ids[i++] = id;
            } else if (k < 7) { /* a whole character as bytes */
                static const char *const chars[] = {"\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xE2\x96\x81",
                                                    "A",        "\xCE\xBB",     "\xEF\xBF\xBD",     " "};
                const char *c = chars[tu_next(&r) % 8];
                for (; *c && i < n; c++)
                    if (bytes[(unsigned char)*c] >= 0) ids[i++] = bytes[(unsigned char)*c];
            } else if (k < 9) { /* a random byte: lone leads and continuations */
                int32_t id = bytes[0x80 + tu_next(&r) % 0x80];
                if (id >= 0) ids[i++] = id;
            } else if (nsp) {
                ids[i++] = specials[tu_next(&r) % (uint64_t)nsp];
            }
        }
        char what[96];
        snprintf(what, sizeof what, "%s random ids %d", name, round);
        int skip = (int)(tu_next(&r) & 1);
        if (!check_ids(what, tok, ids, n, skip, NULL, 0, 0)) {
            fails++;
            fprintf(stderr, "    ids:");
            for (size_t j = 0; j < n; j++)
                fprintf(stderr, " %d", (int)ids[j]);
            fprintf(stderr, "\n");
        }
    }
}

static void test_stops(const char *name, const clft_tokenizer *tok) {
    const char *text = "The quick brown fox jumps over the lazy dog. Another fox!\nUser: hi";
    size_t n = 0;
    int32_t *ids = encode(tok, text, 0, &n);
    struct {
        const char *what;
        const char *stops[3];
        size_t ns;
        const char *want; /* the text given out */
        int stopped;
    } cases[] = {
        {"inside one token", {"uic"}, 1, "The q", 1},
        {"across tokens", {"brown fox"}, 1, "The quick ", 1},
        {"at the very start", {"The"}, 1, "", 1},
        {"appearing twice", {"fox"}, 1, "The quick brown ", 1},
        {"a beginning that never completes", {"lazy cat"}, 1, text, 0},
        {"several", {"jumps", "\nUser:", "brown"}, 3, "The quick ", 1},
        {"the last characters", {"hi"}, 1, "The quick brown fox jumps over the lazy dog. Another fox!\nUser: ", 1},
        {"a newline", {"\n"}, 1, "The quick brown fox jumps over the lazy dog. Another fox!", 1},
        {"longer than the text", {"The quick brown fox jumps over the lazy dog. Another fox!\nUser: hi!"}, 1, text, 0},
        {"nested beginnings", {"dog. Anz", "og. A"}, 2, "The quick brown fox jumps over the lazy d", 1},
    };
    char what[160];
    size_t dl;
    char *d = detok(tok, ids, n, 1, &dl);
    int round_trip = d && !strcmp(d, text); /* the table's texts hold only then */
    clft_free(d);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(what, sizeof what, "%s stop %s", name, cases[c].what);
        check_ids(what, tok, ids, n, 1, cases[c].stops, cases[c].ns, 0);
        if (!round_trip) continue;
        run_out r = run_stream(tok, ids, n, 1, cases[c].stops, cases[c].ns, 1);
        TU_CHECK(!strcmp(r.text, cases[c].want) && r.stopped == cases[c].stopped, "%s: '%s' (stopped %d), want '%s'",
                 what, r.text, r.stopped, cases[c].want);
        if (c == 4) /* "lazy " was held back on the way, then given out */
            TU_CHECK(r.max_held >= 4, "%s: held back only %zu bytes", what, r.max_held);
        free(r.text);
    }
    /* after a stop: empty pieces, stopped; after finish: refused */
    clft_streamer *s = NULL;
    const char *stop1[] = {"quick"};
    TU_OK(clft_streamer_create(tok, 1, stop1, 1, &s));
    const char *p;
    size_t pl;
    int st = 0;
    size_t i = 0;
    while (i < n && !st)
        TU_OK(clft_streamer_push(s, ids[i++], &p, &pl, &st));
    TU_CHECK(st == 1, "stopped");
    TU_OK(clft_streamer_push(s, ids[i], &p, &pl, &st));
    TU_CHECK(pl == 0 && st == 1, "a push after the stop gives nothing");
    TU_OK(clft_streamer_finish(s, &p, &pl, &st));
    TU_CHECK(pl == 0 && st == 1, "finish after the stop gives nothing");
    size_t tl;
    const char *t = clft_streamer_text(s, &tl);
    if (round_trip) TU_CHECK(tl == 4 && !strcmp(t, "The "), "text after the stop: '%s'", t);
    TU_CHECK(clft_streamer_push(s, ids[0], &p, &pl, &st) == CLFT_STATUS_INVALID_ARGUMENT, "push after finish");
    clft_streamer_free(s);
    clft_free(ids);

    /* special tokens in the stream, and a stop string that is a special token's text */
    int32_t eos = clft_tokenizer_eos_id(tok);
    for (int32_t id = 0; eos < 0 && (size_t)id < clft_tokenizer_vocab_size(tok); id++) /* no tokenizer_config.json */
        if (clft_tokenizer_is_special(tok, id)) eos = id;
    const char *eos_text = clft_tokenizer_id_to_token(tok, eos);
    size_t n1, n2;
    int32_t *a = encode(tok, "first part", 1, &n1), *b = encode(tok, " second part", 0, &n2);
    int32_t *all = malloc((n1 + n2 + 2) * sizeof *all);
    memcpy(all, a, n1 * sizeof *all);
    all[n1] = eos;
    memcpy(all + n1 + 1, b, n2 * sizeof *all);
    all[n1 + 1 + n2] = eos;
    size_t na = n1 + n2 + 2;
    for (int skip = 0; skip <= 1; skip++) {
        snprintf(what, sizeof what, "%s special tokens", name);
        check_ids(what, tok, all, na, skip, NULL, 0, 0);
        const char *se[] = {eos_text};
        snprintf(what, sizeof what, "%s stop at the EOS text", name);
        check_ids(what, tok, all, na, skip, se, 1, 0);
        run_out r = run_stream(tok, all, na, skip, se, 1, 0);
        TU_CHECK(r.stopped == !skip, "%s: stopped %d with skip_special %d", what, r.stopped, skip);
        free(r.text);
    }
    free(all);
    clft_free(a);
    clft_free(b);
}

/* A stop completed by the text held back at the end (a byte-fallback run) is found by finish. */
static void test_stop_at_finish(const clft_tokenizer *tok) {
    const char *text = "abc \xE2\xBF\xB0"; /* a character Llama-2's vocabulary spells with byte tokens */
    size_t n;
    int32_t *ids = encode(tok, text, 0, &n);
    int32_t bytes[256];
    byte_ids(tok, bytes);
    TU_CHECK(n >= 3 && ids[n - 1] == bytes[0xB0], "the text ends in byte tokens");
    const char *stops[] = {"\xE2\xBF\xB0"};
    clft_streamer *s = NULL;
    TU_OK(clft_streamer_create(tok, 1, stops, 1, &s));
    const char *p;
    size_t pl;
    int st = 0;
    for (size_t i = 0; i < n; i++) {
        TU_OK(clft_streamer_push(s, ids[i], &p, &pl, &st));
        TU_CHECK(!st, "not stopped before the end");
    }
    TU_OK(clft_streamer_finish(s, &p, &pl, &st));
    size_t tl;
    const char *t = clft_streamer_text(s, &tl);
    TU_CHECK(st == 1 && !strcmp(t, "abc "), "finish finds the stop: '%s' %d", t, st);
    clft_streamer_free(s);
    /* an unfinished character at the end comes out as clft_detokenize writes it (U+FFFD) */
    int32_t cut[64];
    memcpy(cut, ids, (n - 1) * sizeof *cut);
    check_ids("llama2 unfinished byte run at the end", tok, cut, n - 1, 1, NULL, 0, 0);
    clft_free(ids);
}

static void test_bad(const clft_tokenizer *tok) {
    clft_streamer *s = NULL;
    const char *empty[] = {""}, *invalid[] = {"ab\xE4"}, *null1[] = {NULL};
    TU_CHECK(clft_streamer_create(tok, 1, empty, 1, &s) == CLFT_STATUS_INVALID_ARGUMENT && !s, "empty stop");
    TU_CHECK(clft_streamer_create(tok, 1, invalid, 1, &s) == CLFT_STATUS_INVALID_ARGUMENT && !s, "invalid UTF-8 stop");
    TU_CHECK(clft_streamer_create(tok, 1, null1, 1, &s) == CLFT_STATUS_INVALID_ARGUMENT && !s, "NULL stop");
    TU_CHECK(clft_streamer_create(NULL, 1, NULL, 0, &s) == CLFT_STATUS_INVALID_ARGUMENT, "NULL tokenizer");
    TU_CHECK(clft_streamer_create(tok, 1, NULL, 2, &s) == CLFT_STATUS_INVALID_ARGUMENT, "NULL stops");
    TU_OK(clft_streamer_create(tok, 1, NULL, 0, &s));
    const char *p;
    size_t pl;
    int st;
    TU_CHECK(clft_streamer_push(s, -1, &p, &pl, &st) == CLFT_STATUS_INVALID_ARGUMENT, "negative id");
    TU_CHECK(clft_streamer_push(s, (int32_t)clft_tokenizer_vocab_size(tok), &p, &pl, &st) ==
                 CLFT_STATUS_INVALID_ARGUMENT,
             "id past the vocabulary");
    TU_OK(clft_streamer_finish(s, &p, &pl, &st));
    TU_CHECK(pl == 0 && st == 0, "finish of nothing");
    clft_streamer_free(s);
    clft_streamer_free(NULL);
}

/* 4096 tokens of mixed text: the streamed text equals clft_detokenize; the cost per token is printed */
static void test_cost(const char *name, const clft_tokenizer *tok) {
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    text[0] = '\0';
    for (size_t k = 0; len + 512 < cap; k++) {
        const char *t = TEXTS[k % (sizeof TEXTS / sizeof TEXTS[0])];
        len += (size_t)snprintf(text + len, cap - len, "%s %zu ", t, k);
    }
    size_t n;
    int32_t *ids = encode(tok, text, 0, &n);
    if (n > 4096) n = 4096;
    const char *stops[] = {"never appears in it", "\n\n\n\nxyz"};
    clft_streamer *s = NULL;
    TU_OK(clft_streamer_create(tok, 1, stops, 2, &s));
    double t0 = clft_now_seconds();
    const char *p;
    size_t pl;
    int st;
    for (size_t i = 0; i < n; i++)
        TU_OK(clft_streamer_push(s, ids[i], &p, &pl, &st));
    double t1 = clft_now_seconds();
    TU_OK(clft_streamer_finish(s, &p, &pl, &st));
    size_t tl, dl;
    const char *t = clft_streamer_text(s, &tl);
    char *d = detok(tok, ids, n, 1, &dl);
    TU_CHECK(tl == dl && !memcmp(t, d, dl), "%s: 4096 tokens streamed differ from clft_detokenize", name);
    /* for scale: one clft_detokenize of all the ids (what decoding everything per token costs, each) */
    double t2 = clft_now_seconds();
    clft_free(detok(tok, ids, n, 1, &dl));
    double t3 = clft_now_seconds();
    printf("  %s: %zu tokens, %.2f us per token streamed (one full decode of all of them: %.0f us)\n", name, n,
           (t1 - t0) / (double)n * 1e6, (t3 - t2) * 1e6);
    clft_free(d);
    clft_streamer_free(s);
    clft_free(ids);
    free(text);
}

/* clft_chat_end_of_turn: the token that ends an assistant turn, a special token of the family's
 * tokenizer; NULL where EOS ends it */
static void test_end_of_turn(const clft_tokenizer *llama3, const clft_tokenizer *qwen3) {
    const char *names = clft_chat_template_names();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    int n = 0;
    for (char *t = strtok(buf, ", "); t; t = strtok(NULL, ", "), n++) {
        const char *e = clft_chat_end_of_turn(t);
        const char *want = !strcmp(t, "chatml") || !strcmp(t, "qwen2") || !strcmp(t, "qwen3") ? "<|im_end|>"
                           : !strcmp(t, "llama3")                                             ? "<|eot_id|>"
                                                                                              : NULL;
        TU_CHECK(want ? e && !strcmp(e, want) : !e, "end of turn of %s: %s", t, e ? e : "NULL");
    }
    TU_CHECK(n == 9, "%d template names", n);
    TU_CHECK(!clft_chat_end_of_turn("nope") && !clft_chat_end_of_turn(NULL), "unknown names");
    const clft_tokenizer *toks[2] = {llama3, qwen3};
    const char *tpl[2] = {"llama3", "qwen3"};
    for (int i = 0; i < 2; i++) {
        if (!toks[i]) continue;
        int32_t id = clft_tokenizer_token_to_id(toks[i], clft_chat_end_of_turn(tpl[i]));
        TU_CHECK(id >= 0 && clft_tokenizer_is_special(toks[i], id), "%s end of turn is special token %d", tpl[i],
                 (int)id);
        const char *det = NULL;
        TU_CHECK(clft_chat_template_detect(clft_tokenizer_chat_template(toks[i]), &det) == CLFT_OK && det &&
                     !strcmp(det, tpl[i]),
                 "%s template detected as %s", tpl[i], det ? det : "nothing");
    }
}

/* llama2's tokenizer.json with another decoder (JSON text, or "null") */
static clft_tokenizer *llama2_variant(const char *dir, const char *decoder) {
    char path[2048];
    snprintf(path, sizeof path, "%s/llama2/tokenizer.json", dir);
    char *src = tu_read_file(path, NULL);
    TU_CHECK(src != NULL, "read %s", path);
    if (!src) return NULL;
    cJSON *j = cJSON_Parse(src);
    free(src);
    cJSON_ReplaceItemInObject(j, "decoder", cJSON_Parse(decoder));
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load_from_memory(txt, strlen(txt), NULL, 0, "llama2-variant", &tok));
    free(txt);
    return tok;
}

static clft_tokenizer *load(const char *dir, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(path, &tok));
    return tok;
}

int main(int argc, char **argv) {
    tu_init_seed();
    if (argc < 3) {
        fprintf(stderr, "usage: test_stream TOKENIZERS_DIR SCRATCH_PARENT\n");
        return 2;
    }
    const char *scratch = tu_scratch_dir(argv[2], "test_stream");
    clft_model_init_params ip = clft_model_init_default_params();
    ip.preset = "tiny";
    ip.config_only = 1;
    ip.force = 1;
    TU_OK(clft_model_init_write(scratch, &ip));
    struct {
        const char *name;
        clft_tokenizer *tok;
    } toks[] = {
        {"llama2", load(argv[1], "llama2")},
        {"llama3", load(argv[1], "llama3")},
        {"qwen3", load(argv[1], "qwen3")},
        {"clft-init", load(scratch, ".")},
        /* decoder chains the real files do not have: Metaspace (legacy=False Llama-2), none (tokens
         * joined by spaces), a Strip of two leading spaces, and a Strip of the end (not local: the
         * streamer decodes everything per token) */
        {"llama2-metaspace",
         llama2_variant(argv[1], "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Metaspace\",\"replacement\":"
                                 "\"\xE2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":false},"
                                 "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}")},
        {"llama2-no-decoder", llama2_variant(argv[1], "null")},
        {"llama2-strip2",
         llama2_variant(argv[1], "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{"
                                 "\"String\":\"\xE2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},"
                                 "{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":2,"
                                 "\"stop\":0}]}")},
        {"llama2-strip-end",
         llama2_variant(argv[1], "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{"
                                 "\"String\":\"\xE2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},"
                                 "{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,"
                                 "\"stop\":1}]}")},
    };
    for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) {
        if (!toks[t].tok) continue;
        test_texts(toks[t].name, toks[t].tok);
        test_random(toks[t].name, toks[t].tok, 300);
        test_stops(toks[t].name, toks[t].tok);
    }
    if (toks[0].tok) test_stop_at_finish(toks[0].tok);
    if (toks[1].tok) test_bad(toks[1].tok);
    test_end_of_turn(toks[1].tok, toks[2].tok);
    for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++)
        if (toks[t].tok) test_cost(toks[t].name, toks[t].tok);
    for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++)
        clft_tokenizer_free(toks[t].tok);
    tu_scratch_done(scratch);
    return tu_finish("test_stream");
}
