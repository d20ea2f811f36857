/* test_dataset.c - the datasets module (src/data) on the real test tokenizers: every format with its
 * labels checked against an independent computation (prompt tokens never labelled; chat: the token
 * mask of clft_chat_render's byte mask), train_on_prompt, text windows and stride, packing
 * (positions restart, segment ids, padding), truncation and drop counts, seeded shuffling and resume,
 * grouping by length, the validation split, the on-disk cache (hit, invalidation, a damaged file),
 * and every bad input with its message.
 * argv[1]: tests/data/tokenizers, argv[2]: tests/dataset (fixtures). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tutil.h"

static const char *g_tok_dir, *g_fix;
static char g_tmp[256];
static clft_tokenizer *g_llama2, *g_llama3, *g_qwen3;

static char *fix(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_fix, name);
    return buf[k];
}
static char *tmp(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}
static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}
static void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }
static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)l + 1);
    *n = fread(b, 1, (size_t)l, f);
    b[*n] = '\0';
    fclose(f);
    return b;
}

static clft_dataset_params base_params(int seq_len) {
    clft_dataset_params p = clft_dataset_default_params();
    p.seq_len = seq_len;
    p.shuffle = 0;
    p.cache = 0;
    return p;
}

static clft_dataset *load(const char *path, const clft_tokenizer *tok, const clft_dataset_params *p) {
    clft_dataset *ds = NULL;
    clft_status st = clft_dataset_load(path, tok, p, &ds);
    TU_CHECK(st == CLFT_OK, "load %s: %s: %s", path, clft_status_string(st), clft_last_error());
    return ds;
}

/* Expect a load failure with status st and a message containing every needle. */
static void expect_error(const char *path, const clft_tokenizer *tok, const clft_dataset_params *p, clft_status want,
                         const char *needle1, const char *needle2) {
    clft_dataset *ds = NULL;
    clft_status st = clft_dataset_load(path, tok, p, &ds);
    const char *msg = clft_last_error();
    TU_CHECK(st == want, "%s: status %s, want %s (%s)", path, clft_status_string(st), clft_status_string(want), msg);
    TU_CHECK(ds == NULL, "%s: no dataset on failure", path);
    TU_CHECK(strstr(msg, needle1) != NULL, "%s: message '%s' lacks '%s'", path, msg, needle1);
    if (needle2) TU_CHECK(strstr(msg, needle2) != NULL, "%s: message '%s' lacks '%s'", path, msg, needle2);
    if (st == CLFT_OK) clft_dataset_free(ds);
}

/* The JSON string value of key on a JSONL line (fixtures use no escapes except \n and \'). */
static char *json_field(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *a = strstr(line, pat);
    if (!a) return NULL;
    a += strlen(pat);
    char *out = malloc(strlen(a) + 1);
    size_t n = 0;
    for (; *a && *a != '"'; a++) {
        if (*a == '\\') {
            a++;
            out[n++] = *a == 'n' ? '\n' : *a;
        } else
            out[n++] = *a;
    }
    out[n] = '\0';
    return out;
}
/* Line i (0-based) of a file, malloc'd, or NULL. */
static char *nth_line(const char *path, int i) {
    size_t n;
    char *t = read_all(path, &n), *s = t;
    for (int k = 0; k < i && s; k++) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    char *r = NULL;
    if (s && *s) {
        char *e = strchr(s, '\n');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        r = malloc(l + 1);
        memcpy(r, s, l);
        r[l] = '\0';
    }
    free(t);
    return r;
}

/* Row r of a batch: the number of non-padding tokens. */
static int row_len(const clft_batch *b, int r) {
    int n = 0;
    for (int t = 0; t < b->seq_len; t++)
        n += b->segments[r * b->seq_len + t] >= 0;
    return n;
}

/* Expected ids/labels of one unpacked supervised row: prefix BOS (label -100), tokens of text with
 * their byte mask, optional EOS (labelled). Compares row 0 of b. */
static void check_row(const char *what, const clft_tokenizer *tok, const clft_batch *b, const char *text, size_t len,
                      const uint8_t *bmask, int bos, int eos) {
    int32_t *ids = NULL;
    size_t *offs = NULL, n = 0;
    TU_OK(clft_tokenize_offsets(tok, text, len, 0, &ids, &offs, &n));
    uint8_t *tm = malloc(n + 1);
    clft_token_mask_from_bytes(offs, n, bmask, len, tm);
    size_t want = n + (bos ? 1 : 0) + (eos ? 1 : 0), k = 0;
    TU_CHECK((size_t)row_len(b, 0) == want, "%s: row length %d, want %zu", what, row_len(b, 0), want);
    int ok_ids = 1, ok_lab = 1;
    if (bos) {
        ok_ids &= b->ids[0] == clft_tokenizer_bos_id(tok);
        ok_lab &= b->labels[0] == -100;
        k = 1;
    }
    for (size_t i = 0; i < n && k < (size_t)b->seq_len; i++, k++) {
        ok_ids &= b->ids[k] == ids[i];
        int32_t lab = (k > 0 && tm[i]) ? ids[i] : -100;
        if (b->labels[k] != lab) {
            if (ok_lab)
                fprintf(stderr, "  %s: token %zu (id %d, bytes %zu..%zu) label %d want %d\n", what, k, ids[i],
                        offs[2 * i], offs[2 * i + 1], b->labels[k], lab);
            ok_lab = 0;
        }
    }
    if (eos && k < (size_t)b->seq_len) {
        ok_ids &= b->ids[k] == clft_tokenizer_eos_id(tok);
        ok_lab &= b->labels[k] == clft_tokenizer_eos_id(tok);
    }
    TU_CHECK(ok_ids, "%s: ids differ from the tokenizer's", what);
    TU_CHECK(ok_lab, "%s: labels differ from the prompt/response mask", what);
    for (int t = (int)want; t < b->seq_len; t++)
        if (b->labels[t] != -100 || b->segments[t] != -1 || b->positions[t] != t) {
            TU_CHECK(0, "%s: padding at %d: label %d segment %d position %d", what, t, b->labels[t], b->segments[t],
                     b->positions[t]);
            break;
        }
    free(ids);
    free(offs);
    free(tm);
}

/* ---- formats ------------------------------------------------------------------------------------- */
static void test_completion(void) {
    clft_dataset_params p = base_params(96);
    clft_dataset *ds = load(fix("completion.jsonl"), g_llama2, &p);
    if (!ds) return;
    clft_dataset_stats s;
    TU_OK(clft_dataset_get_stats(ds, &s));
    TU_CHECK(s.format == CLFT_DATASET_COMPLETION, "detected %s", clft_dataset_format_name(s.format));
    TU_CHECK(s.examples == 6 && s.rows == 6 && s.lines == 6, "examples %lld rows %lld", (long long)s.examples,
             (long long)s.rows);
    TU_CHECK(s.masked_share > 0.3 && s.masked_share < 0.95, "masked share %g", s.masked_share);
    clft_batch b = {0};
    for (int i = 0; i < 6; i++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        char *line = nth_line(fix("completion.jsonl"), i);
        char *pr = json_field(line, "prompt"), *co = json_field(line, "completion");
        size_t lp = strlen(pr), lc = strlen(co);
        char *text = malloc(lp + lc + 1);
        uint8_t *bm = malloc(lp + lc + 1);
        memcpy(text, pr, lp);
        memcpy(text + lp, co, lc);
        text[lp + lc] = '\0';
        memset(bm, 0, lp);
        memset(bm + lp, 1, lc);
        char what[64];
        snprintf(what, sizeof what, "completion line %d", i + 1);
        check_row(what, g_llama2, &b, text, lp + lc, bm, 1, 1);
        /* no loss on a prompt token: the labelled tokens decode to the completion (+ EOS) */
        int32_t lab[128];
        size_t nl = 0;
        for (int t = 0; t < b.seq_len; t++)
            if (b.labels[t] != -100) lab[nl++] = b.labels[t];
        char *dec = NULL;
        TU_OK(clft_detokenize(g_llama2, lab, nl, 1, &dec, NULL));
        const char *c0 = co[0] == ' ' ? co + 1 : co;
        TU_CHECK(dec && strstr(dec, c0) != NULL && strlen(dec) <= strlen(co) + 1, "%s: labelled text '%s' vs '%s'",
                 what, dec ? dec : "", co);
        TU_CHECK(b.end_of_epoch == (i == 5), "end_of_epoch at %d", i);
        clft_free(dec);
        free(line), free(pr), free(co), free(text), free(bm);
    }
    clft_batch_free(&b);
    clft_dataset_free(ds);
}

static void test_alpaca(void) {
    clft_dataset_params p = base_params(128);
    clft_dataset *ds = load(fix("alpaca.jsonl"), g_llama2, &p);
    if (!ds) return;
    clft_dataset_stats s;
    TU_OK(clft_dataset_get_stats(ds, &s));
    TU_CHECK(s.format == CLFT_DATASET_ALPACA && s.examples == 4, "format %s examples %lld",
             clft_dataset_format_name(s.format), (long long)s.examples);
    clft_batch b = {0};
    for (int i = 0; i < 4; i++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        char *line = nth_line(fix("alpaca.jsonl"), i);
        char *in = json_field(line, "instruction"), *inp = json_field(line, "input"), *out = json_field(line, "output");
        clft_chat_message m[3];
        size_t n = 0;
        m[n++] = (clft_chat_message){"user", in};
        if (inp && inp[0]) m[n++] = (clft_chat_message){"input", inp};
        m[n++] = (clft_chat_message){"assistant", out};
        char *text = NULL;
        uint8_t *bm = NULL;
        size_t len = 0;
        TU_OK(clft_chat_render("alpaca", m, n, "<s>", "</s>", 0, &text, &len, &bm));
        char what[64];
        snprintf(what, sizeof what, "alpaca line %d", i + 1);
        if (text) check_row(what, g_llama2, &b, text, len, bm, 1, 0);
        /* the labelled tokens end with EOS; "### Response" is never labelled */
        int last = row_len(&b, 0) - 1;
        TU_CHECK(b.labels[last] == clft_tokenizer_eos_id(g_llama2), "%s: EOS labelled", what);
        clft_free(text), clft_free(bm);
        free(line), free(in), free(inp), free(out);
    }
    clft_batch_free(&b);
    clft_dataset_free(ds);
}

/* Chat rows against clft_chat_render's byte mask through the tokenizer's offsets. */
static void check_chat(const char *what, const clft_tokenizer *tok, const char *tpl, const char *bos, const char *eos,
                       const char *ds_template) {
    clft_dataset_params p = base_params(160);
    p.chat_template = ds_template;
    clft_dataset *ds = load(fix("chat.jsonl"), tok, &p);
    if (!ds) return;
    clft_dataset_stats s;
    TU_OK(clft_dataset_get_stats(ds, &s));
    TU_CHECK(s.format == CLFT_DATASET_CHAT && s.examples == 4, "%s: format %s", what,
             clft_dataset_format_name(s.format));
    /* the conversations of chat.jsonl */
    static const char *conv[4][5][2] = {
        {{"system", "You are a concise assistant."},
         {"user", "What is the capital of Norway?"},
         {"assistant", "Oslo."}},
        {{"user", "Hello"},
         {"assistant", "Hi there! How can I help?"},
         {"user", "Tell me a fun fact."},
         {"assistant", "Octopuses have three hearts."}},
        {{"user", "Spell 'cat' backwards."}, {"assistant", "tac"}},
        {{"system", "Answer in one word."}, {"user", "Opposite of hot?"}, {"assistant", "Cold."}}};
    static const int nm[4] = {3, 4, 2, 3};
    clft_batch b = {0};
    for (int i = 0; i < 4; i++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        clft_chat_message m[5];
        for (int k = 0; k < nm[i]; k++)
            m[k] = (clft_chat_message){conv[i][k][0], conv[i][k][1]};
        char *text = NULL;
        uint8_t *bm = NULL;
        size_t len = 0;
        TU_OK(clft_chat_render(tpl, m, (size_t)nm[i], bos, eos, 0, &text, &len, &bm));
        char w[96];
        snprintf(w, sizeof w, "%s conversation %d", what, i + 1);
        if (text) check_row(w, tok, &b, text, len, bm, 0, 0);
        clft_free(text), clft_free(bm);
    }
    clft_batch_free(&b);
    clft_dataset_free(ds);
}

static void test_chat(void) {
    /* template from tokenizer_config.json (qwen3 and llama3 recognised), and one named explicitly */
    check_chat("qwen3", g_qwen3, "qwen3", NULL, "<|im_end|>", NULL);
    check_chat("llama3", g_llama3, "llama3", "<|begin_of_text|>", "<|end_of_text|>", NULL);
    check_chat("llama2 named", g_llama2, "llama2", "<s>", "</s>", "llama2");
    /* chatml: the labelled tokens are exactly the assistant contents and their end-of-turn tokens */
    clft_dataset_params p = base_params(160);
    p.chat_template = "chatml";
    clft_dataset *ds = load(fix("chat.jsonl"), g_qwen3, &p);
    if (!ds) return;
    clft_batch b = {0};
    TU_OK(clft_dataset_next_batch(ds, 1, &b));
    TU_OK(clft_dataset_next_batch(ds, 1, &b));
    int32_t lab[160];
    size_t nl = 0;
    for (int t = 0; t < b.seq_len; t++)
        if (b.labels[t] != -100) lab[nl++] = b.labels[t];
    char *dec = NULL;
    TU_OK(clft_detokenize(g_qwen3, lab, nl, 0, &dec, NULL));
    TU_CHECK(dec && !strcmp(dec, "Hi there! How can I help?<|im_end|>Octopuses have three hearts.<|im_end|>"),
             "chatml assistant-only labels decode to '%s'", dec ? dec : "");
    clft_free(dec);
    clft_batch_free(&b);
    clft_dataset_free(ds);
}

static void test_train_on_prompt(void) {
    clft_dataset_params p = base_params(96);
    p.train_on_prompt = 1;
    clft_dataset *ds = load(fix("completion.jsonl"), g_llama2, &p);
    if (!ds) return;
    clft_batch b = {0};
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        int n = row_len(&b, 0);
        for (int t = 0; t < b.seq_len; t++)
            ok &= b.labels[t] == ((t > 0 && t < n) ? b.ids[t] : -100);
    }
    TU_CHECK(ok, "train_on_prompt: every token but the first labelled");
    clft_dataset_stats s;
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.label_tokens == s.tokens - s.examples, "label tokens %lld of %lld", (long long)s.label_tokens,
             (long long)s.tokens);
    clft_batch_free(&b);
    clft_dataset_free(ds);
    /* chat: every token too */
    p.seq_len = 160;
    ds = load(fix("chat.jsonl"), g_qwen3, &p);
    if (!ds) return;
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.label_tokens == s.tokens - s.examples, "chat train_on_prompt: %lld of %lld", (long long)s.label_tokens,
             (long long)s.tokens);
    clft_dataset_free(ds);
}

/* The token stream of the text fixture: per document BOS + tokens + EOS. */
static int32_t *text_stream(const clft_tokenizer *tok, const char *const *docs, int nd, size_t *n) {
    int32_t *all = malloc(65536 * sizeof *all);
    *n = 0;
    for (int d = 0; d < nd; d++) {
        int32_t *ids = NULL;
        size_t k = 0;
        clft_tokenize(tok, docs[d], strlen(docs[d]), 0, &ids, &k);
        if (clft_tokenizer_bos_id(tok) >= 0 && tok == g_llama2) all[(*n)++] = clft_tokenizer_bos_id(tok);
        memcpy(all + *n, ids, k * sizeof *ids);
        *n += k;
        all[(*n)++] = clft_tokenizer_eos_id(tok);
        clft_free(ids);
    }
    return all;
}

static void check_windows(const char *what, const char *path, const char *const *docs, int nd, int L, int S) {
    size_t T = 0;
    int32_t *stream = text_stream(g_llama2, docs, nd, &T);
    clft_dataset_params p = base_params(L);
    p.stride = S;
    clft_dataset *ds = load(path, g_llama2, &p);
    if (!ds) {
        free(stream);
        return;
    }
    int step = S ? S : L;
    size_t rows = (T - (size_t)L) / (size_t)step + 1;
    clft_dataset_stats s;
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.format == CLFT_DATASET_TEXT, "%s: format", what);
    TU_CHECK(s.examples == nd && (size_t)s.rows == rows, "%s: %lld docs, %lld rows (want %d, %zu)", what,
             (long long)s.examples, (long long)s.rows, nd, rows);
    TU_CHECK((size_t)s.unused_tokens == T - ((rows - 1) * (size_t)step + (size_t)L), "%s: unused %lld", what,
             (long long)s.unused_tokens);
    clft_batch b = {0};
    int ok_ids = 1, ok_lab = 1, ok_seg = 1;
    size_t counted = 0;
    for (size_t r = 0; r < rows; r++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        size_t st = r * (size_t)step;
        for (int t = 0; t < L; t++) {
            ok_ids &= b.ids[t] == stream[st + (size_t)t];
            int ctx = r ? L - step : 0;
            ok_lab &= b.labels[t] == ((t == 0 || t < ctx) ? -100 : b.ids[t]);
            ok_seg &= b.segments[t] == 0 && b.positions[t] == t;
            counted += b.labels[t] != -100;
        }
    }
    TU_CHECK(ok_ids, "%s: windows are slices of the document stream", what);
    TU_CHECK(ok_lab, "%s: window labels (stride context masked)", what);
    TU_CHECK(ok_seg, "%s: one segment, positions 0..L-1", what);
    TU_CHECK(counted == (size_t)s.label_tokens, "%s: label count", what);
    if (S) /* with overlap every covered token is counted once (the first of the first window excepted) */
        TU_CHECK(counted == (rows - 1) * (size_t)step + (size_t)L - 1, "%s: overlap counted once (%zu)", what, counted);
    clft_batch_free(&b);
    clft_dataset_free(ds);
    free(stream);
}

static void test_text(void) {
    static const char *docs[4] = {
        "The mitral valve separates the left atrium from the left ventricle. When it fails to close fully, blood "
        "flows backwards into the atrium during systole.",
        "A lease agreement should state the monthly rent, the deposit, the notice period and who is responsible for "
        "repairs to the heating system.",
        "Soil moisture sensors let farmers irrigate only when the root zone is actually dry, which saves water and "
        "reduces fertilizer run-off into nearby streams.",
        "In distributed databases, a quorum read contacts a majority of replicas so that it always overlaps with the "
        "most recent quorum write."};
    check_windows("text.jsonl", fix("text.jsonl"), docs, 4, 16, 0);
    check_windows("text.jsonl stride 10", fix("text.jsonl"), docs, 4, 16, 10);
    static const char *files[3] = {
        "Chapter one. The lighthouse keeper climbed the spiral stairs every evening at dusk.\nHe trimmed the wick and "
        "polished the great lens until it shone.\n",
        "# Field notes\n\nThe estuary birds arrive in late autumn, when the tide pools are rich with small crabs.\n",
        "Appendix. Maintenance log of the lamp: oil replaced, glass cleaned, clockwork wound.\n"};
    /* a folder: a.txt, b.md, notes/c.txt in name order; ignored.csv left out */
    check_windows("docs folder", fix("docs"), files, 3, 12, 0);
    check_windows("one .txt", fix("docs/a.txt"), files, 1, 8, 0);
}

/* ---- packing ------------------------------------------------------------------------------------- */
static void test_packing(void) {
    clft_dataset_params p = base_params(64);
    clft_dataset *one = load(fix("completion.jsonl"), g_llama2, &p);
    p.pack = 1;
    clft_dataset *ds = load(fix("completion.jsonl"), g_llama2, &p);
    if (!ds || !one) {
        clft_dataset_free(one);
        clft_dataset_free(ds);
        return;
    }
    clft_dataset_stats s1, s;
    clft_dataset_get_stats(one, &s1);
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.rows < s1.rows, "packing makes fewer rows (%lld < %lld)", (long long)s.rows, (long long)s1.rows);
    TU_CHECK(s.tokens == s1.tokens && s.label_tokens == s1.label_tokens, "packing keeps every token and label");
    /* every unpacked example (ids + labels) must appear as exactly one segment */
    int32_t ex_ids[6][64], ex_lab[6][64];
    int ex_len[6], found[6] = {0};
    clft_batch b = {0};
    for (int i = 0; i < 6; i++) {
        TU_OK(clft_dataset_next_batch(one, 1, &b));
        ex_len[i] = row_len(&b, 0);
        memcpy(ex_ids[i], b.ids, 64 * 4);
        memcpy(ex_lab[i], b.labels, 64 * 4);
    }
    int ok_struct = 1;
    for (int64_t r = 0; r < s.rows; r++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        int t = 0, seg = 0;
        while (t < 64 && b.segments[t] >= 0) {
            int a = t;
            if (b.segments[t] != seg) ok_struct = 0;
            while (t < 64 && b.segments[t] == seg) {
                if (b.positions[t] != t - a) ok_struct = 0; /* positions restart per example */
                t++;
            }
            if (b.labels[a] != -100) ok_struct = 0; /* no label predicted across the boundary */
            int hit = -1;
            for (int e = 0; e < 6; e++)
                if (!found[e] && ex_len[e] == t - a && !memcmp(ex_ids[e], b.ids + a, (size_t)(t - a) * 4) &&
                    !memcmp(ex_lab[e], b.labels + a, (size_t)(t - a) * 4))
                    hit = e;
            if (hit < 0)
                ok_struct = 0;
            else
                found[hit] = 1;
            seg++;
        }
        for (int k = t; k < 64; k++) /* padding: only at the end, no labels */
            if (b.segments[k] != -1 || b.labels[k] != -100 || b.ids[k] != clft_tokenizer_eos_id(g_llama2))
                ok_struct = 0;
        if (seg < 1) ok_struct = 0;
    }
    int all = 1;
    for (int e = 0; e < 6; e++)
        all &= found[e];
    TU_CHECK(ok_struct, "packed rows: segment ids 0,1,.. restart positions, -100 at boundaries, padding last");
    TU_CHECK(all, "every example is one segment of a packed row");
    clft_batch_free(&b);
    clft_dataset_free(one);
    clft_dataset_free(ds);
    /* chat packs too (qwen3 pad id is <|endoftext|>) */
    p.seq_len = 256;
    ds = load(fix("chat.jsonl"), g_qwen3, &p);
    if (ds) {
        clft_dataset_get_stats(ds, &s);
        TU_CHECK(s.rows == 1 && s.examples == 4, "chat: 4 conversations in one row (%lld rows)", (long long)s.rows);
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        TU_CHECK(b.ids[255] == clft_tokenizer_pad_id(g_qwen3) && b.segments[255] == -1, "qwen3 pad id");
        int maxseg = 0;
        for (int t = 0; t < 256; t++)
            if (b.segments[t] > maxseg) maxseg = b.segments[t];
        TU_CHECK(maxseg == 3, "four segments (max id %d)", maxseg);
        clft_batch_free(&b);
        clft_dataset_free(ds);
    }
}

/* ---- truncation and drop ------------------------------------------------------------------------- */
static void test_truncation(void) {
    clft_dataset_params p = base_params(18);
    clft_dataset *ds = load(fix("completion.jsonl"), g_llama2, &p);
    if (!ds) return;
    clft_dataset_stats s;
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.truncated >= 2 && s.dropped_long == 0, "truncated %lld", (long long)s.truncated);
    int64_t kept = s.examples, trunc = s.truncated, nolab = s.dropped_no_labels;
    TU_CHECK(kept + nolab == 6, "kept %lld + no labels %lld", (long long)kept, (long long)nolab);
    clft_batch b = {0};
    int full = 0;
    for (int64_t i = 0; i < s.rows; i++) {
        TU_OK(clft_dataset_next_batch(ds, 1, &b));
        full += row_len(&b, 0) == 18;
    }
    TU_CHECK(full >= trunc - nolab, "truncated rows are full (%d)", full);
    clft_batch_free(&b);
    clft_dataset_free(ds);
    p.drop_long = 1;
    ds = load(fix("completion.jsonl"), g_llama2, &p);
    if (!ds) return;
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.dropped_long == trunc && s.truncated == 0 && s.examples == 6 - trunc,
             "drop_long: %lld dropped, %lld kept", (long long)s.dropped_long, (long long)s.examples);
    clft_dataset_free(ds);
    /* a prompt longer than seq_len leaves no labelled token: dropped and counted */
    p.drop_long = 0;
    p.seq_len = 12;
    ds = load(fix("completion.jsonl"), g_llama2, &p);
    if (ds) {
        clft_dataset_get_stats(ds, &s);
        TU_CHECK(s.dropped_no_labels >= 3 && s.examples >= 1 && s.examples + s.dropped_no_labels == 6,
                 "no-label drops %lld, kept %lld", (long long)s.dropped_no_labels, (long long)s.examples);
        clft_dataset_free(ds);
    }
    p.seq_len = 6; /* all of them: an empty dataset that says why */
    expect_error(fix("completion.jsonl"), g_llama2, &p, CLFT_STATUS_FORMAT, "empty dataset",
                 "6 without a labelled token");
}

/* ---- shuffling, grouping, resume ----------------------------------------------------------------- */
static void epoch_rows(clft_dataset *ds, int bs, int32_t *first_ids, int n) {
    clft_batch b = {0};
    int k = 0;
    do {
        TU_OK(clft_dataset_next_batch(ds, bs, &b));
        for (int r = 0; r < b.rows && k < n; r++) { /* a hash of the row's ids */
            uint32_t h = 2166136261u;
            for (int t = 0; t < b.seq_len; t++)
                h = (h ^ (uint32_t)b.ids[r * b.seq_len + t]) * 16777619u;
            first_ids[k++] = (int32_t)(h >> 1);
        }
    } while (!b.end_of_epoch);
    clft_batch_free(&b);
}

static void test_shuffle(void) {
    /* 40 short completion examples, so that orders differ for sure */
    char buf[8192];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "{\"prompt\": \"Item %d is\", \"completion\": \" number %d%s\"}\n", i, i,
                              i % 3 ? "" : " indeed, truly");
    write_str(tmp("many.jsonl"), buf);
    clft_dataset_params p = base_params(32);
    p.shuffle = 1;
    p.group_by_length = 0;
    clft_dataset *a = load(tmp("many.jsonl"), g_llama2, &p), *b = load(tmp("many.jsonl"), g_llama2, &p);
    p.seed = 7;
    clft_dataset *c = load(tmp("many.jsonl"), g_llama2, &p);
    if (!a || !b || !c) goto done;
    int32_t a0[40], a1[40], b0[40], b1[40], c0[40];
    epoch_rows(a, 4, a0, 40);
    epoch_rows(a, 4, a1, 40);
    epoch_rows(b, 4, b0, 40);
    epoch_rows(b, 4, b1, 40);
    epoch_rows(c, 4, c0, 40);
    TU_CHECK(!memcmp(a0, b0, sizeof a0) && !memcmp(a1, b1, sizeof a1), "same seed, same order every epoch");
    TU_CHECK(memcmp(a0, a1, sizeof a0) != 0, "epochs 0 and 1 differ");
    TU_CHECK(memcmp(a0, c0, sizeof a0) != 0, "another seed, another order");
    /* a permutation: the same multiset */
    long sa = 0, sb = 0;
    for (int i = 0; i < 40; i++)
        sa += a0[i], sb += a1[i];
    TU_CHECK(sa == sb, "each epoch serves every row once");
    /* resume: save the position mid-epoch 1, read on, restore into a fresh dataset */
    clft_dataset_position pos;
    clft_batch x = {0}, y = {0};
    TU_OK(clft_dataset_next_batch(c, 4, &x)); /* epoch 1 starts */
    TU_OK(clft_dataset_next_batch(c, 4, &x));
    TU_OK(clft_dataset_get_position(c, &pos));
    TU_CHECK(pos.epoch == 1 && pos.index == 8, "position %llu/%llu", (unsigned long long)pos.epoch,
             (unsigned long long)pos.index);
    TU_OK(clft_dataset_next_batch(c, 4, &x));
    clft_dataset *d = load(tmp("many.jsonl"), g_llama2, &p);
    if (d) {
        TU_OK(clft_dataset_set_position(d, &pos));
        TU_OK(clft_dataset_next_batch(d, 4, &y));
        TU_CHECK(!memcmp(x.ids, y.ids, 4 * 32 * 4) && !memcmp(x.labels, y.labels, 4 * 32 * 4) && x.epoch == y.epoch &&
                     x.index == y.index,
                 "resumed batch equals the uninterrupted one");
        clft_dataset_position bad = {0, 1000};
        TU_CHECK(clft_dataset_set_position(d, &bad) == CLFT_STATUS_INVALID_ARGUMENT, "position past the epoch");
        clft_dataset_free(d);
    }
    clft_batch_free(&x);
    clft_batch_free(&y);
    /* last batch of an epoch: 40 rows in batches of 6 -> 7 batches, the last with 4 rows + 2 padding rows */
    TU_CHECK(clft_dataset_batches_per_epoch(a, 6) == 7, "batches per epoch");
    {
        clft_dataset_position z = {5, 36};
        clft_dataset_set_position(a, &z);
        TU_OK(clft_dataset_next_batch(a, 6, &x));
        TU_CHECK(x.rows == 4 && x.end_of_epoch && x.segments[5 * 32] == -1 && x.labels[5 * 32 + 3] == -100,
                 "padding rows end the epoch (%d rows)", x.rows);
        TU_OK(clft_dataset_next_batch(a, 6, &x));
        TU_CHECK(x.epoch == 6 && x.index == 0, "then the next epoch");
        clft_batch_free(&x);
    }
    /* grouping by length: rows of a batch have similar lengths, order still seeded */
    clft_dataset_free(b);
    p.group_by_length = 1;
    b = load(tmp("many.jsonl"), g_llama2, &p);
    if (b) {
        clft_batch g = {0};
        TU_OK(clft_dataset_next_batch(b, 4, &g));
        int ok = 1;
        for (int r = 1; r < 4; r++)
            ok &= row_len(&g, r) <= row_len(&g, r - 1);
        TU_CHECK(ok, "grouped by length: the rows of a batch sorted longest first");
        clft_batch_free(&g);
    }
done:
    clft_dataset_free(a);
    clft_dataset_free(b);
    clft_dataset_free(c);
}

/* ---- validation split ---------------------------------------------------------------------------- */
static void test_split(void) {
    clft_dataset_params p = base_params(32);
    p.val_split = 0.25;
    p.subset = CLFT_DATASET_TRAIN;
    clft_dataset *tr = load(tmp("many.jsonl"), g_llama2, &p);
    p.subset = CLFT_DATASET_VAL;
    clft_dataset *va = load(tmp("many.jsonl"), g_llama2, &p), *va2 = load(tmp("many.jsonl"), g_llama2, &p);
    if (tr && va && va2) {
        clft_dataset_stats st, sv;
        clft_dataset_get_stats(tr, &st);
        clft_dataset_get_stats(va, &sv);
        TU_CHECK(st.examples == 30 && sv.examples == 10, "split 30/10, got %lld/%lld", (long long)st.examples,
                 (long long)sv.examples);
        int32_t t0[40], v0[40], v1[40];
        epoch_rows(tr, 1, t0, 30);
        epoch_rows(va, 1, v0, 10);
        epoch_rows(va2, 1, v1, 10);
        TU_CHECK(!memcmp(v0, v1, 10 * 4), "the split is deterministic");
        int overlap = 0;
        for (int i = 0; i < 10; i++)
            for (int k = 0; k < 30; k++)
                overlap += v0[i] == t0[k];
        TU_CHECK(overlap == 0, "train and validation are disjoint (%d shared)", overlap);
    }
    clft_dataset_free(tr);
    clft_dataset_free(va);
    clft_dataset_free(va2);
    p.val_split = 0;
    expect_error(tmp("many.jsonl"), g_llama2, &p, CLFT_STATUS_INVALID_ARGUMENT, "val_split > 0", NULL);
}

/* ---- cache --------------------------------------------------------------------------------------- */
static void cache_load(const char *path, clft_dataset_params *p, int want_hit, const char *what,
                       clft_dataset_stats *out) {
    clft_dataset *ds = load(path, g_llama2, p);
    if (!ds) return;
    clft_dataset_stats s;
    clft_dataset_get_stats(ds, &s);
    TU_CHECK(s.cache_hit == want_hit, "%s: cache_hit %d, want %d", what, s.cache_hit, want_hit);
    TU_CHECK(s.cache_written == !want_hit, "%s: cache_written %d", what, s.cache_written);
    if (out) *out = s;
    clft_dataset_free(ds);
}

static void test_cache(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cache", g_tmp);
    size_t n;
    char *orig = read_all(fix("completion.jsonl"), &n);
    write_str(tmp("c.jsonl"), orig);
    clft_dataset_params p = base_params(64);
    p.cache = 1;
    p.cache_dir = dir;
    p.pack = 1;
    clft_dataset_stats s1, s2;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    cache_load(tmp("c.jsonl"), &p, 0, "first load", &s1);
    cache_load(tmp("c.jsonl"), &p, 1, "second load", &s2);
    TU_CHECK(s1.tokens == s2.tokens && s1.label_tokens == s2.label_tokens && s1.rows == s2.rows &&
                 s1.examples == s2.examples && s1.lines == s2.lines,
             "a cache hit gives the same dataset");
    /* same batches from the cache */
    {
        clft_dataset *a = NULL, *b = NULL;
        p.cache = 0;
        TU_OK(clft_dataset_load(tmp("c.jsonl"), g_llama2, &p, &a));
        p.cache = 1;
        TU_OK(clft_dataset_load(tmp("c.jsonl"), g_llama2, &p, &b));
        if (a && b) {
            clft_batch x = {0}, y = {0};
            TU_OK(clft_dataset_next_batch(a, 2, &x));
            TU_OK(clft_dataset_next_batch(b, 2, &y));
            TU_CHECK(!memcmp(x.ids, y.ids, 2 * 64 * 4) && !memcmp(x.labels, y.labels, 2 * 64 * 4) &&
                         !memcmp(x.segments, y.segments, 2 * 64 * 4),
                     "cached and fresh batches are identical");
            clft_batch_free(&x);
            clft_batch_free(&y);
        }
        clft_dataset_free(a);
        clft_dataset_free(b);
    }
    /* packing / shuffling settings are applied after the cache: still a hit */
    p.pack = 0;
    cache_load(tmp("c.jsonl"), &p, 1, "pack off (rows only)", NULL);
    /* the same content under another name: still a hit (the key is the content) */
    write_str(tmp("renamed.jsonl"), orig);
    cache_load(tmp("renamed.jsonl"), &p, 1, "renamed copy", NULL);
    /* a folder of documents is cached too */
    {
        clft_dataset_params q = p;
        q.seq_len = 12;
        cache_load(fix("docs"), &q, 0, "folder first", NULL);
        cache_load(fix("docs"), &q, 1, "folder second", NULL);
    }
    /* a changed file: miss */
    char *more = malloc(n + 128);
    snprintf(more, n + 128, "%s{\"prompt\": \"One more:\", \"completion\": \" yes\"}\n", orig);
    write_str(tmp("c.jsonl"), more);
    cache_load(tmp("c.jsonl"), &p, 0, "changed file", NULL);
    cache_load(tmp("c.jsonl"), &p, 1, "changed file again", NULL);
    /* a changed setting: miss */
    p.seq_len = 48;
    cache_load(tmp("c.jsonl"), &p, 0, "seq_len changed", NULL);
    p.train_on_prompt = 1;
    cache_load(tmp("c.jsonl"), &p, 0, "train_on_prompt changed", &s1);
    /* another tokenizer: miss */
    {
        clft_dataset *ds = NULL;
        TU_OK(clft_dataset_load(tmp("c.jsonl"), g_llama3, &p, &ds));
        clft_dataset_stats s;
        if (ds) {
            clft_dataset_get_stats(ds, &s);
            TU_CHECK(!s.cache_hit && s.cache_key != s1.cache_key, "another tokenizer misses");
        }
        clft_dataset_free(ds);
    }
    /* a damaged cache file is ignored and rewritten: truncated, then bytes flipped, then garbage */
    char cpath[1024];
    snprintf(cpath, sizeof cpath, "%s/datasets/%016llx.clftds", dir, (unsigned long long)s1.cache_key);
    size_t cn = 0;
    char *cdata = read_all(cpath, &cn);
    TU_CHECK(cdata != NULL && cn > 40, "cache file %s exists", cpath);
    if (cdata) {
        write_file(cpath, cdata, cn / 2);
        cache_load(tmp("c.jsonl"), &p, 0, "truncated cache", NULL);
        cache_load(tmp("c.jsonl"), &p, 1, "rewritten cache", NULL);
        cdata[cn - 5] ^= 0x5a;
        cdata[40] ^= 0x11;
        write_file(cpath, cdata, cn);
        cache_load(tmp("c.jsonl"), &p, 0, "corrupted cache", NULL);
        write_str(cpath, "garbage");
        cache_load(tmp("c.jsonl"), &p, 0, "garbage cache", NULL);
        cache_load(tmp("c.jsonl"), &p, 1, "rewritten cache again", NULL);
    }
    /* no temporary files left behind */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls %s/datasets | grep -c tmp > /dev/null", dir);
    TU_CHECK(system(cmd) != 0, "no temporary files left in the cache folder");
    free(cdata);
    free(orig);
    free(more);
}

/* ---- bad input ----------------------------------------------------------------------------------- */
static void test_bad_input(void) {
    clft_dataset_params p = base_params(64);
    const char *f = tmp("bad.jsonl");
    write_str(f, "{\"prompt\": \"a\", \"completion\": \" b\"}\n{\"prompt\": \"a\", \"completion\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:2: not valid JSON", NULL);
    write_str(f, "{\"prompt\": \"a\", \"completion\": \" b\"}\n\n{\"prompt\": \"only a prompt\"}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:3: missing key \"completion\"", "detected from");
    write_str(f, "{\"prompt\": \"a\", \"completion\": 5}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: \"completion\" is not a string", NULL);
    write_str(f, "{\"instruction\": \"Say yes.\", \"input\": null, \"output\": \"Yes.\"}\n");
    {
        clft_dataset *ok = load(f, g_llama2, &p); /* a null optional "input" is no input */
        clft_dataset_free(ok);
    }
    write_str(f, "{\"instruction\": \"Say yes.\", \"input\": 3, \"output\": \"Yes.\"}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: \"input\" is not a string", NULL);
    write_str(f, "[1, 2]\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: not a JSON object", NULL);
    write_str(f, "{\"question\": \"a\", \"answer\": \"b\"}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: no known keys", NULL);
    /* invalid UTF-8: file, line and byte offset */
    write_str(f, "{\"text\": \"fine\"}\n{\"text\": \"caf\xC3\x28\"}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:2: invalid UTF-8 at byte offset 13",
                 "byte 30 of the file");
    /* skip_bad_lines: counted and reported */
    write_str(f, "{\"prompt\": \"a\", \"completion\": \" b\"}\nnot json\n{\"prompt\": \"x\"}\n"
                 "{\"prompt\": \"c\", \"completion\": \" d\"}\n");
    p.skip_bad_lines = 1;
    clft_dataset *ds = load(f, g_llama2, &p);
    if (ds) {
        clft_dataset_stats s;
        clft_dataset_get_stats(ds, &s);
        TU_CHECK(s.skipped_lines == 2 && s.examples == 2 && s.lines == 4, "skipped %lld, kept %lld",
                 (long long)s.skipped_lines, (long long)s.examples);
        TU_CHECK(strstr(s.first_skipped, "bad.jsonl:2: not valid JSON") != NULL, "first skipped: %s", s.first_skipped);
        clft_dataset_free(ds);
    }
    /* a bad first line is skipped before the format is detected */
    write_str(f, "garbage\n{\"text\": \"hello world, this is a document of some length for a window\"}\n");
    p.seq_len = 4;
    ds = load(f, g_llama2, &p);
    if (ds) {
        clft_dataset_stats s;
        clft_dataset_get_stats(ds, &s);
        TU_CHECK(s.format == CLFT_DATASET_TEXT && s.skipped_lines == 1, "detected past a bad line");
        clft_dataset_free(ds);
    }
    p.seq_len = 64;
    write_str(f, "garbage\nmore garbage\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "empty dataset", NULL);
    p.skip_bad_lines = 0;
    /* empty dataset */
    write_str(f, "");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "empty dataset", NULL);
    write_str(f, "\n   \n\r\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "empty dataset", NULL);
    write_str(f, "{\"text\": \"too short\"}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "empty dataset", "fewer than one full window");
    mkdir(tmp("emptydir"), 0755);
    expect_error(tmp("emptydir"), g_llama2, &p, CLFT_STATUS_FORMAT, "empty dataset", "no .txt or .md");
    /* missing file */
    expect_error(tmp("nope.jsonl"), g_llama2, &p, CLFT_STATUS_IO, "nope.jsonl: cannot open the dataset",
                 "No such file");
    /* chat: no assistant turn, unknown role, a template that cannot render the roles */
    p.chat_template = "chatml";
    write_str(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": "
                 "\"yo\"}]}\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
    expect_error(f, g_qwen3, &p, CLFT_STATUS_FORMAT, "bad.jsonl:2: chat example has no assistant turn", NULL);
    write_str(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"bot\", \"content\": "
                 "\"yo\"}]}\n");
    expect_error(f, g_qwen3, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: message 1 has unknown role 'bot'", NULL);
    write_str(f, "{\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n");
    expect_error(f, g_qwen3, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: message 0 needs string", NULL);
    write_str(f, "{\"messages\": \"hello\"}\n");
    expect_error(f, g_qwen3, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: \"messages\" is not an array", NULL);
    p.chat_template = "mistral";
    write_str(f, "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": "
                 "\"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "bad.jsonl:1: chat template mistral cannot render",
                 "no system role");
    p.chat_template = "llama2";
    write_str(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"tool\", \"content\": "
                 "\"42\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n");
    expect_error(f, g_llama2, &p, CLFT_STATUS_FORMAT, "chat template llama2 cannot render role 'tool'", NULL);
    p.chat_template = "nosuch";
    expect_error(fix("chat.jsonl"), g_llama2, &p, CLFT_STATUS_NOT_FOUND, "unknown chat template 'nosuch'", NULL);
    p.chat_template = NULL; /* llama2's tokenizer_config.json has no chat_template */
    expect_error(fix("chat.jsonl"), g_llama2, &p, CLFT_STATUS_INVALID_ARGUMENT, "no chat_template", "llama3");
    /* a forced format that the lines do not have */
    p.format = CLFT_DATASET_ALPACA;
    expect_error(fix("completion.jsonl"), g_llama2, &p, CLFT_STATUS_FORMAT,
                 "completion.jsonl:1: missing key \"instruction\" (format alpaca)", NULL);
    p.format = CLFT_DATASET_CHAT;
    expect_error(fix("docs"), g_llama2, &p, CLFT_STATUS_INVALID_ARGUMENT, "needs JSONL", NULL);
    p.format = CLFT_DATASET_AUTO;
    /* parameters */
    p.seq_len = 1;
    expect_error(fix("completion.jsonl"), g_llama2, &p, CLFT_STATUS_INVALID_ARGUMENT, "seq_len", NULL);
    p.seq_len = 64;
    p.stride = 65;
    expect_error(fix("completion.jsonl"), g_llama2, &p, CLFT_STATUS_INVALID_ARGUMENT, "stride", NULL);
    p.stride = 0;
    p.val_split = 1.0;
    expect_error(fix("completion.jsonl"), g_llama2, &p, CLFT_STATUS_INVALID_ARGUMENT, "val_split", NULL);
    clft_dataset_format fm;
    TU_CHECK(clft_dataset_format_parse("chat", &fm) == CLFT_OK && fm == CLFT_DATASET_CHAT, "format parse");
    TU_CHECK(clft_dataset_format_parse("sharegpt", &fm) == CLFT_STATUS_INVALID_ARGUMENT, "unknown format name");
}

int main(int argc, char **argv) {
    g_tok_dir = argc > 1 ? argv[1] : "tests/data/tokenizers";
    g_fix = argc > 2 ? argv[2] : "tests/dataset";
    snprintf(g_tmp, sizeof g_tmp, "/tmp/clft-test-dataset-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/llama2", g_tok_dir);
    clft_status s1 = clft_tokenizer_load(path, &g_llama2);
    snprintf(path, sizeof path, "%s/llama3", g_tok_dir);
    clft_status s2 = clft_tokenizer_load(path, &g_llama3);
    snprintf(path, sizeof path, "%s/qwen3", g_tok_dir);
    clft_status s3 = clft_tokenizer_load(path, &g_qwen3);
    if (s1 || s2 || s3) {
        fprintf(stderr, "cannot load the test tokenizers from %s: %s\n", g_tok_dir, clft_last_error());
        return 1;
    }
    test_completion();
    test_alpaca();
    test_chat();
    test_train_on_prompt();
    test_text();
    test_packing();
    test_truncation();
    test_shuffle();
    test_split();
    test_cache();
    test_bad_input();
    clft_tokenizer_free(g_llama2);
    clft_tokenizer_free(g_llama3);
    clft_tokenizer_free(g_qwen3);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    printf("test_dataset: %d passed, %d failed\n", tu_passes, tu_failures);
    return tu_failures ? 1 : 0;
}
