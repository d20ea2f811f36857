/* test_gguf_tokenizer.c - the tokenizer built from GGUF metadata (src/tokenizer/tok_gguf.c) against
 * transformers' GGUF tokenizer (tests/data/tokenizers/gguf_cases.json, written by
 * tests/reference/gguf_tokenizer_cases.py):
 *   smollm2  the real SmolLM2-135M-Instruct tokenizer (gpt2 / smollm), every tokenizer.* key of the
 *            model file in a tokenizer-only GGUF (smollm2.gguf.zst);
 *   llama2 (llama, SentencePiece-style; merges derived from the scores), llama3 (gpt2 / llama-bpe),
 *   qwen3 (gpt2 / qwen2): tokenizer-only GGUF files written here from the tokenizer.json of
 *            tests/data/tokenizers/<name> as the script writes them with gguf's GGUFWriter; their size
 *            and FNV-1a must equal the script's, so they are the files transformers was run on.
 * Then special ids, the chat template, and bad metadata (one-line errors naming the file and key).
 * argv[1]: tests/data/tokenizers. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "clft.h"
#include "core/core.h"
#include "tok_cases.h"
#include "tutil.h"

static const char *g_dir;
static const char *g_pre = "smollm"; /* tokenizer.ggml.pre of the tiny gpt2 vocabulary */

/* ---- a GGUF metadata image (what gguf-py's GGUFWriter writes for keys and no tensors) ---------- */
typedef struct gbuf {
    unsigned char *p;
    size_t n, cap;
    uint64_t kv; /* entries */
} gbuf;

static void gb_put(gbuf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void gb_u32(gbuf *b, uint32_t v) { gb_put(b, &v, 4); } /* little-endian hosts */
static void gb_u64(gbuf *b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_str(gbuf *b, const char *s, size_t n) {
    gb_u64(b, n);
    gb_put(b, s, n);
}
static void gb_key(gbuf *b, const char *key, uint32_t type) {
    gb_str(b, key, strlen(key));
    gb_u32(b, type);
    b->kv++;
}
static void kv_str(gbuf *b, const char *key, const char *s) {
    gb_key(b, key, 8);
    gb_str(b, s, strlen(s));
}
static void kv_u32(gbuf *b, const char *key, uint32_t v) {
    gb_key(b, key, 4);
    gb_u32(b, v);
}
static void kv_bool(gbuf *b, const char *key, int v) {
    unsigned char c = (unsigned char)!!v;
    gb_key(b, key, 7);
    gb_put(b, &c, 1);
}
static void kv_arr_head(gbuf *b, const char *key, uint32_t elem, uint64_t n) {
    gb_key(b, key, 9);
    gb_u32(b, elem);
    gb_u64(b, n);
}
static void kv_arr_str(gbuf *b, const char *key, char **s, size_t n) {
    kv_arr_head(b, key, 8, n);
    for (size_t i = 0; i < n; i++)
        gb_str(b, s[i], strlen(s[i]));
}
/* Header + entries + zero padding to 32; written to path. Returns the image (free). */
static unsigned char *gb_file(gbuf *kvs, const char *path, size_t *len) {
    gbuf f = {0};
    gb_put(&f, "GGUF", 4);
    gb_u32(&f, 3);
    gb_u64(&f, 0);
    gb_u64(&f, kvs->kv);
    gb_put(&f, kvs->p, kvs->n);
    static const unsigned char zero[32];
    if (f.n % 32) gb_put(&f, zero, 32 - f.n % 32);
    FILE *o = fopen(path, "wb");
    TU_CHECK(o && fwrite(f.p, 1, f.n, o) == f.n, "write %s", path);
    if (o) fclose(o);
    free(kvs->p);
    memset(kvs, 0, sizeof *kvs);
    *len = f.n;
    return f.p;
}

/* ---- files -------------------------------------------------------------------------------------- */
static const char *jtok(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItem(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* tests/data/tokenizers/<name> as a tokenizer-only GGUF at path, laid out as
 * gguf_tokenizer_cases.py's write_tokenizer_gguf lays it out. */
static unsigned char *make_gguf(const char *name, const char *arch, const char *path, size_t *len) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/tokenizer.json", g_dir, name);
    char *tj = read_maybe_zst(p, NULL);
    snprintf(p, sizeof p, "%s/%s/tokenizer_config.json", g_dir, name);
    char *cj = read_maybe_zst(p, NULL);
    if (!tj || !cj) return NULL;
    cJSON *root = cJSON_Parse(tj), *cfg = cJSON_Parse(cj);
    free(tj);
    free(cj);
    const cJSON *model = cJSON_GetObjectItem(root, "model"), *vocab = cJSON_GetObjectItem(model, "vocab"),
                *added = cJSON_GetObjectItem(root, "added_tokens"), *e;
    int n = 0;
    cJSON_ArrayForEach(e, vocab) if ((int)e->valuedouble + 1 > n) n = (int)e->valuedouble + 1;
    cJSON_ArrayForEach(e, added) {
        int id = (int)cJSON_GetObjectItem(e, "id")->valuedouble;
        if (id + 1 > n) n = id + 1;
    }
    char **tokens = calloc((size_t)n, sizeof *tokens);
    int32_t *types = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        types[i] = 1;
    cJSON_ArrayForEach(e, vocab) tokens[(int)e->valuedouble] = e->string;
    cJSON_ArrayForEach(e, added) {
        int id = (int)cJSON_GetObjectItem(e, "id")->valuedouble;
        tokens[id] = cJSON_GetObjectItem(e, "content")->valuestring;
        types[id] = cJSON_IsTrue(cJSON_GetObjectItem(e, "special")) ? 3 : 4;
    }
    int byte_level = !cJSON_IsTrue(cJSON_GetObjectItem(model, "byte_fallback"));
    gbuf b = {0};
    kv_str(&b, "general.architecture", arch);
    kv_str(&b, "tokenizer.ggml.model", byte_level ? "gpt2" : "llama");
    kv_str(&b, "tokenizer.ggml.pre",
           !strcmp(name, "llama3")  ? "llama-bpe"
           : !strcmp(name, "qwen3") ? "qwen2"
                                    : "default");
    kv_arr_str(&b, "tokenizer.ggml.tokens", tokens, (size_t)n);
    if (!byte_level) {
        const cJSON *unk = cJSON_GetObjectItem(model, "unk_token");
        for (int i = 0; i < n; i++) {
            const char *t = tokens[i];
            if (cJSON_IsString(unk) && !strcmp(t, unk->valuestring))
                types[i] = 2;
            else if (strlen(t) == 6 && !strncmp(t, "<0x", 3) && t[5] == '>')
                types[i] = 6;
        }
        kv_arr_head(&b, "tokenizer.ggml.scores", 6, (uint64_t)n);
        for (int i = 0; i < n; i++) {
            float s = types[i] == 1 ? (float)-i : 0.0f;
            gb_put(&b, &s, 4);
        }
    }
    kv_arr_head(&b, "tokenizer.ggml.token_type", 5, (uint64_t)n);
    gb_put(&b, types, sizeof(int32_t) * (size_t)n);
    if (byte_level) {
        const cJSON *merges = cJSON_GetObjectItem(model, "merges");
        kv_arr_head(&b, "tokenizer.ggml.merges", 8, (uint64_t)cJSON_GetArraySize(merges));
        cJSON_ArrayForEach(e, merges) {
            if (cJSON_IsString(e)) {
                gb_str(&b, e->valuestring, strlen(e->valuestring));
            } else {
                const char *l = e->child->valuestring, *r = e->child->next->valuestring;
                size_t ll = strlen(l), rl = strlen(r);
                gb_u64(&b, ll + 1 + rl);
                gb_put(&b, l, ll);
                gb_put(&b, " ", 1);
                gb_put(&b, r, rl);
            }
        }
    }
    static const char *const keys[4][2] = {{"bos_token", "tokenizer.ggml.bos_token_id"},
                                           {"eos_token", "tokenizer.ggml.eos_token_id"},
                                           {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                           {"pad_token", "tokenizer.ggml.padding_token_id"}};
    for (int k = 0; k < 4; k++) {
        const char *t = jtok(cfg, keys[k][0]);
        for (int i = 0; t && i < n; i++)
            if (!strcmp(tokens[i], t)) {
                kv_u32(&b, keys[k][1], (uint32_t)i);
                break;
            }
    }
    const cJSON *ab = cJSON_GetObjectItem(cfg, "add_bos_token"), *ae = cJSON_GetObjectItem(cfg, "add_eos_token"),
                *ct = cJSON_GetObjectItem(cfg, "chat_template");
    if (cJSON_IsBool(ab)) kv_bool(&b, "tokenizer.ggml.add_bos_token", cJSON_IsTrue(ab));
    if (cJSON_IsBool(ae)) kv_bool(&b, "tokenizer.ggml.add_eos_token", cJSON_IsTrue(ae));
    if (cJSON_IsString(ct)) kv_str(&b, "tokenizer.chat_template", ct->valuestring);
    unsigned char *img = gb_file(&b, path, len);
    free(tokens);
    free(types);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return img;
}

/* ---- reference cases -------------------------------------------------------------------------- */
/* Every case of one tokenizer: ids without and with special tokens, and decoding. */
static void run_cases(const char *name, const char *path, const cJSON *ref, const unsigned char *img, size_t len) {
    char want_hash[32];
    snprintf(want_hash, sizeof want_hash, "%016llx", (unsigned long long)clft_fnv1a(CLFT_FNV_INIT, img, len));
    const char *h = cJSON_GetObjectItem(ref, "gguf_fnv1a")->valuestring;
    size_t want_len = (size_t)cJSON_GetObjectItem(ref, "gguf_bytes")->valuedouble;
    TU_CHECK(len == want_len && !strcmp(h, want_hash),
             "%s: the GGUF written here (%zu bytes, %s) is not the one "
             "transformers read (%zu bytes, %s)",
             name, len, want_hash, want_len, h);
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(path, &tok));
    if (!tok) return;
    size_t nv = clft_tokenizer_vocab_size(tok);
    TU_CHECK(clft_tokenizer_bos_id(tok) == (int32_t)cJSON_GetObjectItem(ref, "bos_id")->valuedouble, "%s bos %d", name,
             (int)clft_tokenizer_bos_id(tok));
    TU_CHECK(clft_tokenizer_eos_id(tok) == (int32_t)cJSON_GetObjectItem(ref, "eos_id")->valuedouble, "%s eos %d", name,
             (int)clft_tokenizer_eos_id(tok));
    TU_CHECK(clft_tokenizer_pad_id(tok) == (int32_t)cJSON_GetObjectItem(ref, "pad_id")->valuedouble, "%s pad %d", name,
             (int)clft_tokenizer_pad_id(tok));
    int pass = 0, n = 0, skipped = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(c, "ids"), *want_sp = cJSON_GetObjectItem(c, "ids_special"), *e;
        const char *dec = cJSON_GetObjectItem(c, "decoded")->valuestring;
        /* transformers gives a vocabulary without an unknown token an extra <|endoftext|> past the
         * model's ids (llama3): not a token of the model, so not compared */
        int beyond = 0;
        cJSON_ArrayForEach(e, want_sp) beyond |= (size_t)e->valuedouble >= nv;
        if (beyond) {
            skipped++;
            printf("%s: case '%.40s' skipped: transformers gives an id past the vocabulary\n", name, text);
            continue;
        }
        n++;
        int32_t *ids = NULL, *ids2 = NULL;
        size_t ni = 0, n2 = 0;
        char *back = NULL;
        int ok = clft_tokenize(tok, text, strlen(text), 0, &ids, &ni) == CLFT_OK && ids_equal(ids, ni, want);
        ok = ok && clft_tokenize(tok, text, strlen(text), 1, &ids2, &n2) == CLFT_OK && ids_equal(ids2, n2, want_sp);
        ok = ok && clft_detokenize(tok, ids, ni, 0, &back, NULL) == CLFT_OK && !strcmp(back, dec);
        TU_CHECK(ok, "%s case %d '%.60s'", name, n, text);
        if (!ok) {
            print_ids("got", ids, ni);
            print_ids("got special", ids2, n2);
            fprintf(stderr, "    want:");
            cJSON_ArrayForEach(e, want) fprintf(stderr, " %d", (int)e->valuedouble);
            fprintf(stderr, "\n    decoded '%s' want '%s'\n", back ? back : "", dec);
        }
        pass += ok;
        clft_free(ids);
        clft_free(ids2);
        clft_free(back);
    }
    printf("%s: %d/%d texts match transformers' GGUF tokenizer (%d skipped)\n", name, pass, n, skipped);
    TU_CHECK(n >= 50, "%s: %d texts", name, n);
    clft_tokenizer_free(tok);
}

/* SmolLM2: the ChatML template and its end-of-turn token. */
static void smollm2_chat(const char *path) {
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(path, &tok));
    if (!tok) return;
    const char *tpl = clft_tokenizer_chat_template(tok), *name = NULL;
    TU_CHECK(tpl && strstr(tpl, "<|im_start|>"), "smollm2 chat template");
    if (tpl) TU_OK(clft_chat_template_detect(tpl, &name));
    TU_CHECK(name && !strcmp(name, "chatml"), "smollm2 template detected as %s", name ? name : "(none)");
    const char *eot = name ? clft_chat_end_of_turn(name) : NULL;
    TU_CHECK(eot && clft_tokenizer_token_to_id(tok, eot) == 2, "smollm2 end of turn %s", eot ? eot : "(none)");
    TU_CHECK(clft_tokenizer_is_special(tok, 2) && !clft_tokenizer_is_special(tok, 100), "smollm2 special flags");
    int32_t *ids = NULL;
    size_t n = 0;
    char *txt = NULL;
    TU_OK(clft_tokenize(tok, "<|im_start|>user\nhi<|im_end|>", 29, 0, &ids, &n));
    TU_OK(clft_detokenize(tok, ids, n, 1, &txt, NULL));
    TU_CHECK(txt && !strcmp(txt, "user\nhi"), "smollm2 skip special: '%s'", txt ? txt : "");
    clft_free(ids);
    clft_free(txt);
    clft_tokenizer_free(tok);
}

/* ---- bad metadata ----------------------------------------------------------------------------- */
enum {
    B_NONE,
    B_NO_MODEL,
    B_BERT,
    B_PRE,
    B_TOKENS_INT,
    B_TYPES_STR,
    B_TYPES_COUNT,
    B_SCORES_COUNT,
    B_NO_MERGES,
    B_EMPTY_MERGES,
    B_MERGE_UNKNOWN,
    B_MERGE_FORM,
    B_BOS_RANGE,
    B_SCORES_MISSING,
    B_BAD_UTF8
};

/* A tiny vocabulary: gpt2 (a, b, ab and the byte alphabet) or llama (<unk>, <s>, </s>, ▁, a, b, ab). */
static void tiny(const char *path, int llama, int bad) {
    char *toks[300];
    char buf[300][4];
    size_t n = 0;
    if (llama) {
        static char t[7][8] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "ab"};
        for (; n < 7; n++)
            toks[n] = t[n];
    } else {
        int k = 0;
        for (int c = 0; c < 256; c++) { /* bytes_to_unicode */
            int keep = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
            int32_t cp = keep ? c : 256 + k++;
            size_t l = cp < 0x80 ? 1 : 2;
            if (l == 1)
                buf[n][0] = (char)cp;
            else
                buf[n][0] = (char)(0xC0 | (cp >> 6)), buf[n][1] = (char)(0x80 | (cp & 0x3F));
            buf[n][l] = 0;
            toks[n] = buf[n];
            n++;
        }
        toks[n++] = "ab";
        toks[n++] = "<|end|>";
    }
    if (bad == B_BAD_UTF8) toks[n - 1] = "\xff\xfe";
    gbuf b = {0};
    kv_str(&b, "general.architecture", "llama");
    if (bad != B_NO_MODEL) kv_str(&b, "tokenizer.ggml.model", bad == B_BERT ? "bert" : llama ? "llama" : "gpt2");
    if (!llama) kv_str(&b, "tokenizer.ggml.pre", bad == B_PRE ? "made-up-pre" : g_pre);
    if (bad == B_TOKENS_INT) {
        kv_arr_head(&b, "tokenizer.ggml.tokens", 5, n);
        for (size_t i = 0; i < n; i++)
            gb_u32(&b, (uint32_t)i);
    } else
        kv_arr_str(&b, "tokenizer.ggml.tokens", toks, n);
    if (llama && bad != B_SCORES_MISSING) {
        size_t ns = bad == B_SCORES_COUNT ? n - 1 : n;
        kv_arr_head(&b, "tokenizer.ggml.scores", 6, ns);
        for (size_t i = 0; i < ns; i++) {
            float s = i < 3 ? 0.0f : -(float)i;
            gb_put(&b, &s, 4);
        }
    }
    if (bad == B_TYPES_STR)
        kv_arr_str(&b, "tokenizer.ggml.token_type", toks, n);
    else {
        size_t nt = bad == B_TYPES_COUNT ? n + 1 : n;
        kv_arr_head(&b, "tokenizer.ggml.token_type", 5, nt);
        for (size_t i = 0; i < nt; i++)
            gb_u32(&b, llama ? (i == 0 ? 2 : i < 3 ? 3 : 1) : i + 1 == n ? 3 : 1);
    }
    if (!llama && bad != B_NO_MERGES) {
        char *m[1] = {bad == B_MERGE_UNKNOWN ? "a zz" : bad == B_MERGE_FORM ? "ab" : "a b"};
        kv_arr_str(&b, "tokenizer.ggml.merges", m, bad == B_EMPTY_MERGES ? 0 : 1);
    }
    kv_u32(&b, "tokenizer.ggml.bos_token_id", bad == B_BOS_RANGE ? 100000 : llama ? 1 : (uint32_t)n - 1);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", llama ? 2 : (uint32_t)n - 1);
    size_t len;
    free(gb_file(&b, path, &len));
}

static void bad_inputs(void) {
    const char *path = "gguf_tok_bad.gguf";
    /* the tiny ones load and merge */
    for (int llama = 0; llama < 2; llama++) {
        tiny(path, llama, B_NONE);
        clft_tokenizer *tok = NULL;
        TU_OK(clft_tokenizer_load(path, &tok));
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok) TU_OK(clft_tokenize(tok, "ab ab<|end|>", llama ? 5 : 12, 1, &ids, &n));
        int32_t ab = tok ? clft_tokenizer_token_to_id(tok, "ab") : -1;
        if (llama) {
            /* <s> ▁ab ▁ ab: "▁ab" is no token, so "▁" + "ab" */
            TU_CHECK(n == 5 && ids[0] == 1 && ids[1] == 3 && ids[2] == ab && ids[3] == 3 && ids[4] == ab,
                     "tiny llama: n %zu", n);
        } else
            TU_CHECK(n == 4 && ids[0] == ab && ids[3] == 257, "tiny gpt2: n %zu", n);
        clft_free(ids);
        clft_tokenizer_free(tok);
    }
    /* an empty merges list (a byte-level vocabulary without merges, as `clft init` makes) loads: bytes */
    {
        tiny(path, 0, B_EMPTY_MERGES);
        clft_tokenizer *tok = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        TU_OK(clft_tokenizer_load(path, &tok));
        if (tok) TU_OK(clft_tokenize(tok, "ab ab", 5, 1, &ids, &n));
        TU_CHECK(n == 5, "empty merges: %zu tokens (want 5 bytes)", n);
        clft_free(ids);
        clft_tokenizer_free(tok);
    }
    /* every pre-tokenizer regex compiles and splits */
    static const char *const pres[] = {"default", "gpt2", "gpt-2", "llama-bpe", "qwen2", "qwen35", "tekken", "gpt-4o"};
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        g_pre = pres[i];
        tiny(path, 0, B_NONE);
        clft_tokenizer *tok = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        TU_OK(clft_tokenizer_load(path, &tok));
        if (tok) TU_OK(clft_tokenize(tok, "ab ab", 5, 1, &ids, &n));
        TU_CHECK(n == 3, "pre %s: %zu tokens", pres[i], n);
        clft_free(ids);
        clft_tokenizer_free(tok);
    }
    g_pre = "smollm";
    static const struct {
        int llama, bad;
        clft_status st;
        const char *msg;
    } B[] = {
        {0, B_NO_MODEL, CLFT_STATUS_FORMAT, "tokenizer.ggml.model is missing"},
        {0, B_BERT, CLFT_STATUS_UNSUPPORTED, "tokenizer.ggml.model 'bert' is not supported"},
        {0, B_PRE, CLFT_STATUS_UNSUPPORTED, "tokenizer.ggml.pre 'made-up-pre' is not supported"},
        {0, B_TOKENS_INT, CLFT_STATUS_FORMAT, "tokenizer.ggml.tokens is not an array of strings"},
        {0, B_TYPES_STR, CLFT_STATUS_FORMAT, "tokenizer.ggml.token_type is not an array of integers"},
        {0, B_TYPES_COUNT, CLFT_STATUS_FORMAT,
         "tokenizer.ggml.token_type has 259 entries but tokenizer.ggml.tokens has 258"},
        {1, B_SCORES_COUNT, CLFT_STATUS_FORMAT, "tokenizer.ggml.scores has 6 entries but tokenizer.ggml.tokens has 7"},
        {1, B_SCORES_MISSING, CLFT_STATUS_FORMAT, "tokenizer.ggml.scores is missing"},
        {0, B_NO_MERGES, CLFT_STATUS_FORMAT, "tokenizer.ggml.merges is missing"},
        {0, B_MERGE_UNKNOWN, CLFT_STATUS_FORMAT, "tokenizer.ggml.merges[0] ('a' + 'zz'): the right token is not in"},
        {0, B_MERGE_FORM, CLFT_STATUS_FORMAT, "tokenizer.ggml.merges[0] 'ab' is not \"left right\""},
        {0, B_BOS_RANGE, CLFT_STATUS_FORMAT, "tokenizer.ggml.bos_token_id = 100000 is not a token id (258 tokens)"},
        {1, B_BOS_RANGE, CLFT_STATUS_FORMAT, "tokenizer.ggml.bos_token_id = 100000 is not a token id (7 tokens)"},
        {0, B_BAD_UTF8, CLFT_STATUS_FORMAT, "tokenizer.ggml.tokens[257] is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        tiny(path, B[i].llama, B[i].bad);
        clft_tokenizer *tok = NULL;
        clft_status st = clft_tokenizer_load(path, &tok);
        const char *e = clft_last_error();
        TU_CHECK(st == B[i].st && !tok && strstr(e, path) && strstr(e, B[i].msg) && !strchr(e, '\n'),
                 "bad %zu: status %d, '%s' (want '%s')", i, (int)st, e, B[i].msg);
        clft_tokenizer_free(tok);
    }
    /* a truncated file is the reader's error, naming the file */
    tiny(path, 0, B_NONE);
    FILE *f = fopen(path, "r+b");
    if (f) {
        TU_CHECK(ftruncate(fileno(f), 100) == 0, "truncate");
        fclose(f);
    }
    clft_tokenizer *tok = NULL;
    TU_CHECK(clft_tokenizer_load(path, &tok) != CLFT_OK && !tok && strstr(clft_last_error(), path), "truncated: %s",
             clft_last_error());
    remove(path);
}

int main(int argc, char **argv) {
    g_dir = argc > 1 ? argv[1] : "tests/data/tokenizers";
    char p[1024];
    snprintf(p, sizeof p, "%s/gguf_cases.json", g_dir);
    char *txt = tu_read_file(p, NULL);
    TU_CHECK(txt != NULL, "read %s", p);
    cJSON *ref = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    const cJSON *toks = cJSON_GetObjectItem(ref, "tokenizers");
    /* SmolLM2 from its committed tokenizer-only GGUF */
    size_t len = 0;
    snprintf(p, sizeof p, "%s/smollm2.gguf", g_dir);
    unsigned char *img = (unsigned char *)read_maybe_zst(p, &len);
    FILE *f = fopen("gguf_tok_smollm2.gguf", "wb");
    TU_CHECK(f && img && fwrite(img, 1, len, f) == len, "write gguf_tok_smollm2.gguf");
    if (f) fclose(f);
    if (img) run_cases("smollm2", "gguf_tok_smollm2.gguf", cJSON_GetObjectItem(toks, "smollm2"), img, len);
    smollm2_chat("gguf_tok_smollm2.gguf");
    free(img);
    remove("gguf_tok_smollm2.gguf");
    static const char *const made[3][2] = {{"llama2", "llama"}, {"llama3", "llama"}, {"qwen3", "qwen2"}};
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "gguf_tok_%s.gguf", made[i][0]);
        img = make_gguf(made[i][0], made[i][1], path, &len);
        if (img) run_cases(made[i][0], path, cJSON_GetObjectItem(toks, made[i][0]), img, len);
        free(img);
        remove(path);
    }
    cJSON_Delete(ref);
    bad_inputs();
    return tu_finish("test_gguf_tokenizer");
}
