/* test_tokenizer.c - tokenizer.json BPE: the reference cases of the three real tokenizers in
 * tests/data/tokenizers (ids without special tokens), round trips, added tokens, BOS/EOS, offsets,
 * both merge forms on a tiny synthetic tokenizer, and bad inputs. argv[1]: tests/data/tokenizers. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zstd.h>

#include "clft.h"
#include "tok_cases.h"
#include "tutil.h"

static const char *g_dir;

static clft_tokenizer *load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(path, &tok));
    return tok;
}

/* Every case of a cases.json file; returns the number that matched. */
static int run_cases(clft_tokenizer *tok, const char *name, const char *file, int roundtrip, int *total) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    TU_CHECK(txt != NULL, "cannot read %s", path);
    if (!txt) return 0;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    const cJSON *cases = cJSON_GetObjectItem(j, "cases"), *c;
    int pass = 0, n = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        int32_t *ids = NULL;
        size_t nid = 0;
        n++;
        clft_status st = clft_tokenize(tok, text, strlen(text), 0, &ids, &nid);
        int ok = st == CLFT_OK && ids_equal(ids, nid, want);
        const cJSON *want_sp = cJSON_GetObjectItem(c, "ids_special"), *dec = cJSON_GetObjectItem(c, "decoded");
        if (ok && want_sp) { /* Hugging Face extra cases: with special tokens, and decoding */
            int32_t *ids2 = NULL;
            size_t n2 = 0;
            TU_OK(clft_tokenize(tok, text, strlen(text), 1, &ids2, &n2));
            TU_CHECK(ids_equal(ids2, n2, want_sp), "%s case %d with special tokens", name, n);
            if (!ids_equal(ids2, n2, want_sp)) print_ids("got", ids2, n2), ok = 0;
            clft_free(ids2);
            char *back = NULL;
            TU_OK(clft_detokenize(tok, ids, nid, 0, &back, NULL));
            TU_CHECK(back && !strcmp(back, dec->valuestring), "%s case %d decode: got '%s' want '%s'", name, n,
                     back ? back : "", dec->valuestring);
            if (!back || strcmp(back, dec->valuestring)) ok = 0;
            clft_free(back);
        }
        TU_CHECK(ok, "%s case %d %.60s", name, n, text);
        if (!ok && st == CLFT_OK) {
            print_ids("got ", ids, nid);
            fprintf(stderr, "    want:");
            const cJSON *e;
            cJSON_ArrayForEach(e, want) fprintf(stderr, " %d", (int)e->valuedouble);
            fprintf(stderr, "\n");
        }
        pass += ok;
        /* decode(encode(text)) == text where the normalizer keeps the text: llama2 (Prepend) puts a
         * "▁" after every added token, qwen3 composes to NFC */
        if (st == CLFT_OK && roundtrip &&
            !(roundtrip == 1 && (strstr(text, "<s>") || strstr(text, "</s>") || strstr(text, "<unk>")))) {
            char *back = NULL, *nfc = NULL;
            size_t bl = 0;
            if (roundtrip == 3) nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)text);
            const char *w = nfc ? nfc : text;
            TU_OK(clft_detokenize(tok, ids, nid, 0, &back, &bl));
            TU_CHECK(back && bl == strlen(w) && memcmp(back, w, bl) == 0, "%s round trip of case %d: '%s' -> '%s'",
                     name, n, w, back ? back : "(null)");
            clft_free(back);
            free(nfc);
        }
        clft_free(ids);
    }
    cJSON_Delete(j);
    printf("%s: %d/%d cases match\n", name, pass, n);
    *total = n;
    return pass;
}

static void special_ids(clft_tokenizer *tok, const char *name) {
    static const struct {
        const char *name;
        int32_t bos, eos, pad;
        size_t vocab;
    } W[] = {
        {"llama2", 1, 2, -1, 32000}, {"llama3", 128000, 128001, -1, 128256}, {"qwen3", -1, 151645, 151643, 151669}};
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, W[i].name)) continue;
        TU_CHECK(clft_tokenizer_bos_id(tok) == W[i].bos, "%s bos %d", name, (int)clft_tokenizer_bos_id(tok));
        TU_CHECK(clft_tokenizer_eos_id(tok) == W[i].eos, "%s eos %d", name, (int)clft_tokenizer_eos_id(tok));
        TU_CHECK(clft_tokenizer_pad_id(tok) == W[i].pad, "%s pad %d", name, (int)clft_tokenizer_pad_id(tok));
        TU_CHECK(clft_tokenizer_vocab_size(tok) == W[i].vocab, "%s vocab %zu", name, clft_tokenizer_vocab_size(tok));
    }
    /* token <-> id */
    for (int32_t id = 0; id < 50; id++) {
        const char *t = clft_tokenizer_id_to_token(tok, id);
        TU_CHECK(t && clft_tokenizer_token_to_id(tok, t) == id, "%s id %d <-> '%s'", name, (int)id, t ? t : "");
    }
    TU_CHECK(clft_tokenizer_id_to_token(tok, -1) == NULL && clft_tokenizer_id_to_token(tok, 1 << 30) == NULL,
             "%s bad ids", name);
    TU_CHECK(clft_tokenizer_token_to_id(tok, "no such token, surely") == -1, "%s unknown token", name);
    /* invalid UTF-8 names the byte offset */
    static const struct {
        const char *s;
        size_t n, off;
    } B[] = {{"ab\xff"
              "cd",
              5, 2},
             {"x\xc0\x80", 3, 1},
             {"hi \xed\xa0\x80", 6, 3},
             {"\xe2\x82", 2, 0},
             {"ok\x80", 3, 2}};
    for (int i = 0; i < 5; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        clft_status st = clft_tokenize(tok, B[i].s, B[i].n, 0, &ids, &n);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", B[i].off);
        TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), want), "%s invalid UTF-8 %d: %s", name,
                 i, clft_last_error());
        TU_CHECK(ids == NULL, "no result on error");
    }
    /* NUL bytes are text like any other; empty input gives no ids (and a freeable pointer) */
    int32_t *ids = NULL;
    size_t n = 9;
    TU_OK(clft_tokenize(tok, "a\0b", 3, 0, &ids, &n));
    char *back = NULL;
    size_t bl = 0;
    TU_OK(clft_detokenize(tok, ids, n, 0, &back, &bl));
    TU_CHECK(bl == 3 && back && !memcmp(back, "a\0b", 3), "%s NUL round trip (%zu bytes)", name, bl);
    clft_free(back);
    clft_free(ids);
    TU_OK(clft_tokenize(tok, "", 0, 0, &ids, &n));
    TU_CHECK(n == 0, "%s empty", name);
    clft_free(ids);
    int32_t bad = -5;
    TU_CHECK(clft_detokenize(tok, &bad, 1, 0, &back, NULL) == CLFT_STATUS_INVALID_ARGUMENT, "%s decode of a bad id",
             name);
}

static void llama2_specifics(clft_tokenizer *tok) {
    /* BOS with add_special (add_bos_token true, add_eos_token false) */
    int32_t *ids = NULL;
    size_t n = 0;
    TU_OK(clft_tokenize(tok, "Hello", 5, 1, &ids, &n));
    TU_CHECK(n == 2 && ids[0] == 1 && ids[1] == 22557, "llama2 <s> Hello: n=%zu", n);
    clft_free(ids);
    /* byte fallback for a char outside the vocabulary, and its decoding */
    const char *t = "\xf0\x9f\xa6\x99"; /* U+1F999 */
    TU_OK(clft_tokenize(tok, t, strlen(t), 0, &ids, &n));
    TU_CHECK(n == 5 && ids[0] == 28705 && ids[1] == 3 + 0xF0 && ids[4] == 3 + 0x99, "llama2 byte fallback n=%zu", n);
    char *back = NULL;
    TU_OK(clft_detokenize(tok, ids, n, 0, &back, NULL));
    TU_CHECK(back && !strcmp(back, t), "llama2 byte fallback decode '%s'", back ? back : "");
    clft_free(back);
    /* a lone continuation byte token decodes to U+FFFD */
    int32_t lone[2] = {22557, 3 + 0x99};
    TU_OK(clft_detokenize(tok, lone, 2, 0, &back, NULL));
    TU_CHECK(back && !strcmp(back, "Hello\xef\xbf\xbd"), "llama2 lone byte '%s'", back ? back : "");
    clft_free(back);
    /* skip_special */
    int32_t sp[3] = {1, 22557, 2};
    TU_OK(clft_detokenize(tok, sp, 3, 1, &back, NULL));
    TU_CHECK(back && !strcmp(back, "Hello"), "llama2 skip special '%s'", back ? back : "");
    clft_free(back);
    TU_OK(clft_detokenize(tok, sp, 3, 0, &back, NULL));
    TU_CHECK(back && !strcmp(back, "<s> Hello</s>"), "llama2 keep special '%s'", back ? back : "");
    clft_free(back);
    TU_CHECK(clft_tokenizer_is_special(tok, 1) && !clft_tokenizer_is_special(tok, 22557), "is_special");
    clft_free(ids);
    /* offsets: "▁Hello" covers "Hello" (the "▁" was prepended), "▁world" covers " world" */
    size_t *offs = NULL;
    TU_OK(clft_tokenize_offsets(tok, "Hello world", 11, 1, &ids, &offs, &n));
    TU_CHECK(n == 3 && offs[0] == 0 && offs[1] == 0 && offs[2] == 0 && offs[3] == 5 && offs[4] == 5 && offs[5] == 11,
             "llama2 offsets n=%zu", n);
    clft_free(ids);
    clft_free(offs);
}

static void llama3_specifics(clft_tokenizer *tok) {
    /* added tokens are matched out of the text; neighbours are encoded separately */
    const char *t = "a<|eot_id|>b <|start_header_id|>";
    int32_t *ids = NULL;
    size_t n = 0, *offs = NULL;
    TU_OK(clft_tokenize_offsets(tok, t, strlen(t), 0, &ids, &offs, &n));
    TU_CHECK(n == 5 && ids[1] == 128009 && ids[4] == 128006, "llama3 added tokens n=%zu", n);
    if (n == 5)
        TU_CHECK(offs[2] == 1 && offs[3] == 11 && offs[8] == 13 && offs[9] == strlen(t), "llama3 added offsets");
    clft_free(ids);
    clft_free(offs);
    /* no BOS/EOS: the post-processor is ByteLevel and tokenizer_config.json has no add_bos_token */
    TU_OK(clft_tokenize(tok, "Hi", 2, 1, &ids, &n));
    TU_CHECK(n == 1, "llama3 add_special adds nothing (n=%zu)", n);
    clft_free(ids);
}

/* ---- synthetic tokenizers ---------------------------------------------------------------------- */
static clft_tokenizer *synth(const char *merges, const char *extra, const char *config, clft_status *st_out) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
             "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}%s],"
             "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":{\"type\":\"Fuse\"},"
             "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":false,"
             "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</"
             "s>\":2,\"a\":3,\"b\":4,\"c\":5,\"ab\":6,\"abc\":7,\"bc\":8,\"aa\":9,\" \":10},"
             "\"merges\":%s}}",
             extra ? extra : "", merges);
    clft_tokenizer *tok = NULL;
    clft_status st =
        clft_tokenizer_load_from_memory(json, strlen(json), config, config ? strlen(config) : 0, "synthetic", &tok);
    if (st_out)
        *st_out = st;
    else
        TU_CHECK(st == CLFT_OK, "synthetic load: %s", clft_last_error());
    return tok;
}

static int enc_is(clft_tokenizer *tok, const char *text, int add, const int32_t *want, size_t nw) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (clft_tokenize(tok, text, strlen(text), add, &ids, &n) != CLFT_OK) return 0;
    int ok = n == nw && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    if (!ok) print_ids(text, ids, n);
    clft_free(ids);
    return ok;
}

static void synthetic(void) {
    const char *forms[2] = {"[\"a b\",\"ab c\",\"a a\"]", "[[\"a\",\"b\"],[\"ab\",\"c\"],[\"a\",\"a\"]]"};
    for (int f = 0; f < 2; f++) {
        clft_tokenizer *tok = synth(forms[f], NULL, NULL, NULL);
        if (!tok) continue;
        TU_CHECK(enc_is(tok, "abcab", 0, (int32_t[]){7, 6}, 2), "merges form %d: abcab", f);
        TU_CHECK(enc_is(tok, "aaa", 0, (int32_t[]){9, 3}, 2), "merges form %d: leftmost tie", f);
        TU_CHECK(enc_is(tok, "axyzb", 0, (int32_t[]){3, 0, 4}, 3), "merges form %d: fused unk", f);
        TU_CHECK(enc_is(tok, "ab<s>c", 0, (int32_t[]){6, 1, 5}, 3), "merges form %d: added token", f);
        clft_tokenizer_free(tok);
    }
    /* rank decides: "b c" before "a b" */
    clft_tokenizer *tok = synth("[\"b c\",\"a b\"]", NULL, NULL, NULL);
    if (tok) TU_CHECK(enc_is(tok, "abc", 0, (int32_t[]){3, 8}, 2), "rank order");
    clft_tokenizer_free(tok);
    /* lstrip / rstrip / single_word added tokens, and BOS/EOS from tokenizer_config.json */
    const char *extra = ",{\"id\":11,\"content\":\"<x>\",\"lstrip\":true,\"rstrip\":true,\"special\":true},"
                        "{\"id\":12,\"content\":\"cab\",\"single_word\":true,\"normalized\":false}";
    const char *cfg =
        "{\"add_bos_token\":true,\"add_eos_token\":true,\"bos_token\":\"<s>\",\"eos_token\":{\"content\":\"</s>\"},"
        "\"pad_token\":null}";
    tok = synth("[\"a b\"]", extra, cfg, NULL);
    if (tok) {
        int32_t *ids = NULL;
        size_t n = 0, *offs = NULL;
        TU_OK(clft_tokenize_offsets(tok, "a <x>  b", 8, 0, &ids, &offs, &n));
        TU_CHECK(n == 3 && ids[0] == 3 && ids[1] == 11 && ids[2] == 4 && offs[2] == 1 && offs[3] == 7,
                 "lstrip/rstrip n=%zu", n);
        clft_free(ids);
        clft_free(offs);
        TU_CHECK(enc_is(tok, "cab", 0, (int32_t[]){12}, 1), "single word alone");
        TU_CHECK(enc_is(tok, "acab", 0, (int32_t[]){3, 5, 6}, 3), "single word inside a word");
        TU_CHECK(enc_is(tok, "c cab", 0, (int32_t[]){5, 10, 12}, 3), "single word after a space");
        TU_CHECK(enc_is(tok, "ab", 1, (int32_t[]){1, 6, 2}, 3), "add_bos_token + add_eos_token");
        TU_CHECK(clft_tokenizer_bos_id(tok) == 1 && clft_tokenizer_eos_id(tok) == 2 && clft_tokenizer_pad_id(tok) == -1,
                 "ids");
    }
    clft_tokenizer_free(tok);
    /* bad merges */
    clft_status st;
    tok = synth("[\"a q\"]", NULL, NULL, &st);
    TU_CHECK(st == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "merges[0]"), "merge out of vocab: %s",
             clft_last_error());
    tok = synth("[\"ab\"]", NULL, NULL, &st);
    TU_CHECK(st == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "merges[0]"), "merge without a space: %s",
             clft_last_error());
    tok = synth("[[\"a\"]]", NULL, NULL, &st);
    TU_CHECK(st == CLFT_STATUS_FORMAT, "merge pair of one: %s", clft_last_error());
}

/* llama2 in its legacy=False form (Metaspace pre-tokenizer and decoder), against the Hugging Face
 * library on the same modification (hf_metaspace_cases.json). */
static void metaspace_variants(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/llama2/tokenizer.json", g_dir);
    char *src = tu_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/llama2/hf_metaspace_cases.json", g_dir);
    char *cases_txt = tu_read_file(path, NULL);
    TU_CHECK(src && cases_txt, "read llama2 tokenizer.json and hf_metaspace_cases.json");
    if (!src || !cases_txt) return;
    cJSON *cases = cJSON_Parse(cases_txt), *c;
    const char *schemes[3] = {"first", "always", "never"};
    int splits[3] = {0, 1, 0};
    int pass = 0, n = 0;
    for (int v = 0; v < 3; v++) {
        cJSON *j = cJSON_Parse(src);
        cJSON_ReplaceItemInObject(j, "normalizer", cJSON_CreateNull());
        cJSON *pre = cJSON_CreateObject();
        cJSON_AddStringToObject(pre, "type", "Metaspace");
        cJSON_AddStringToObject(pre, "replacement", "\xe2\x96\x81");
        cJSON_AddStringToObject(pre, "prepend_scheme", schemes[v]);
        cJSON_AddBoolToObject(pre, "split", splits[v]);
        cJSON_ReplaceItemInObject(j, "pre_tokenizer", pre);
        cJSON *dec = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(dec, "decoders");
        cJSON_AddStringToObject(dec, "type", "Sequence");
        cJSON_AddItemToArray(arr, cJSON_Duplicate(pre, 1));
        cJSON *bf = cJSON_CreateObject(), *fu = cJSON_CreateObject();
        cJSON_AddStringToObject(bf, "type", "ByteFallback");
        cJSON_AddStringToObject(fu, "type", "Fuse");
        cJSON_AddItemToArray(arr, bf);
        cJSON_AddItemToArray(arr, fu);
        cJSON_ReplaceItemInObject(j, "decoder", dec);
        char *txt = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        clft_tokenizer *tok = NULL;
        TU_OK(clft_tokenizer_load_from_memory(txt, strlen(txt), NULL, 0, "llama2-metaspace", &tok));
        free(txt);
        if (!tok) continue;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(cases, "cases")) {
            if (strcmp(cJSON_GetObjectItem(c, "prepend_scheme")->valuestring, schemes[v])) continue;
            const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
            int32_t *ids = NULL;
            size_t nid = 0;
            n++;
            TU_OK(clft_tokenize(tok, text, strlen(text), 0, &ids, &nid));
            int ok = ids_equal(ids, nid, cJSON_GetObjectItem(c, "ids"));
            TU_CHECK(ok, "metaspace %s ids of '%s'", schemes[v], text);
            if (!ok) print_ids("got", ids, nid);
            char *back = NULL;
            TU_OK(clft_detokenize(tok, ids, nid, 0, &back, NULL));
            const char *want = cJSON_GetObjectItem(c, "decoded")->valuestring;
            TU_CHECK(back && !strcmp(back, want), "metaspace %s decode: got '%s' want '%s'", schemes[v],
                     back ? back : "", want);
            pass += ok && back && !strcmp(back, want);
            clft_free(back);
            clft_free(ids);
        }
        clft_tokenizer_free(tok);
    }
    printf("llama2 Metaspace variants (HF): %d/%d cases match\n", pass, n);
    cJSON_Delete(cases);
    free(src);
    free(cases_txt);
}

/* tokenizer.json text of a test tokenizer, plain or zstd-compressed; free(). */
static char *tokenizer_json(const char *name) {
    char tp[1024];
    snprintf(tp, sizeof tp, "%s/%s/tokenizer.json", g_dir, name);
    return read_maybe_zst(tp, NULL);
}

/* llama3's vocabulary under other pre-tokenizers (Split behaviours, Whitespace, Digits,
 * Punctuation, ByteLevel with its regex), against the Hugging Face library. */
static void pretok_variants(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/llama3/hf_pretok_cases.json", g_dir);
    char *txt = tu_read_file(path, NULL), *src = tokenizer_json("llama3");
    TU_CHECK(txt != NULL, "read %s", path);
    if (!txt || !src) {
        free(txt);
        free(src);
        return;
    }
    cJSON *all = cJSON_Parse(txt), *base = cJSON_Parse(src), *v;
    free(txt);
    free(src);
    int pass = 0, n = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(all, "variants")) {
        cJSON_ReplaceItemInObject(base, "pre_tokenizer", cJSON_Duplicate(cJSON_GetObjectItem(v, "pre_tokenizer"), 1));
        char *js = cJSON_PrintUnformatted(base);
        clft_tokenizer *tok = NULL;
        TU_OK(clft_tokenizer_load_from_memory(js, strlen(js), NULL, 0, "llama3-variant", &tok));
        free(js);
        if (!tok) continue;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "cases")) {
            const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
            int32_t *ids = NULL;
            size_t nid = 0;
            n++;
            TU_OK(clft_tokenize(tok, text, strlen(text), 0, &ids, &nid));
            int ok = ids_equal(ids, nid, cJSON_GetObjectItem(c, "ids"));
            char *pre = cJSON_PrintUnformatted(cJSON_GetObjectItem(v, "pre_tokenizer"));
            TU_CHECK(ok, "pre_tokenizer %s: '%s'", pre, text);
            free(pre);
            if (!ok) print_ids("got", ids, nid);
            pass += ok;
            clft_free(ids);
        }
        clft_tokenizer_free(tok);
    }
    printf("llama3 pre-tokenizer variants (HF): %d/%d cases match\n", pass, n);
    cJSON_Delete(all);
    cJSON_Delete(base);
}

/* Extra added tokens (normalized ones are matched as their normalized text; lstrip, rstrip,
 * single_word), against the Hugging Face library (hf_added_cases.json). */
static void added_variants(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/hf_added_cases.json", g_dir);
    char *txt = tu_read_file(path, NULL);
    TU_CHECK(txt != NULL, "read %s", path);
    if (!txt) return;
    cJSON *all = cJSON_Parse(txt), *t;
    free(txt);
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(all, "tokenizers")) {
        const char *name = t->string;
        char *src = tokenizer_json(name);
        if (!src) continue;
        cJSON *j = cJSON_Parse(src), *a;
        free(src);
        cJSON *arr = cJSON_GetObjectItem(j, "added_tokens");
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(t, "added_tokens")) cJSON_AddItemToArray(arr, cJSON_Duplicate(a, 1));
        char *js = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        clft_tokenizer *tok = NULL;
        TU_OK(clft_tokenizer_load_from_memory(js, strlen(js), NULL, 0, name, &tok));
        free(js);
        if (!tok) continue;
        const cJSON *c;
        int pass = 0, n = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "cases")) {
            const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
            int32_t *ids = NULL;
            size_t nid = 0;
            n++;
            TU_OK(clft_tokenize(tok, text, strlen(text), 1, &ids, &nid));
            int ok = ids_equal(ids, nid, cJSON_GetObjectItem(c, "ids"));
            TU_CHECK(ok, "%s added tokens: '%s'", name, text);
            if (!ok) print_ids("got", ids, nid);
            pass += ok;
            clft_free(ids);
        }
        printf("%s extra added tokens (HF): %d/%d cases match\n", name, pass, n);
        clft_tokenizer_free(tok);
    }
    cJSON_Delete(all);
}

/* Several threads on one tokenizer (the shared word cache is locked; the others use private
 * caches): every result equals the single-threaded one. */
typedef struct thread_job {
    const clft_tokenizer *tok;
    const char **texts;
    int32_t **want;
    size_t *nwant;
    int ntexts, seed, bad;
} thread_job;

static void *thread_run(void *arg) {
    thread_job *j = arg;
    for (int r = 0; r < 200; r++) {
        int k = (j->seed * 7 + r * 13) % j->ntexts;
        int32_t *ids = NULL;
        size_t n = 0;
        if (clft_tokenize(j->tok, j->texts[k], strlen(j->texts[k]), 0, &ids, &n) != CLFT_OK || n != j->nwant[k] ||
            memcmp(ids, j->want[k], n * sizeof *ids) != 0)
            j->bad++;
        clft_free(ids);
    }
    return NULL;
}

static void threads(clft_tokenizer *tok, const char *name) {
    static const char *texts[] = {"The quick brown fox jumps over the lazy dog.",
                                  "Hello, world! Hello, world!",
                                  "日本語のテキストです。",
                                  "  leading and trailing  ",
                                  "int main(void) { return 0; }\n",
                                  "Ünïcödé àccénts naïve café",
                                  "<|im_start|>user\nHi<|im_end|>",
                                  "aaaaaaaaaaaaaaaaaaaaaaaa"};
    enum { NT = 8, NTH = 4 };
    int32_t *want[NT];
    size_t nwant[NT];
    for (int i = 0; i < NT; i++)
        TU_OK(clft_tokenize(tok, texts[i], strlen(texts[i]), 0, &want[i], &nwant[i]));
    pthread_t th[NTH];
    thread_job jobs[NTH];
    for (int t = 0; t < NTH; t++) {
        jobs[t] = (thread_job){tok, texts, want, nwant, NT, t, 0};
        pthread_create(&th[t], NULL, thread_run, &jobs[t]);
    }
    int bad = 0;
    for (int t = 0; t < NTH; t++) {
        pthread_join(th[t], NULL);
        bad += jobs[t].bad;
    }
    TU_CHECK(bad == 0, "%s: %d results differ under %d threads", name, bad, NTH);
    for (int i = 0; i < NT; i++)
        clft_free(want[i]);
}

static void bad_files(void) {
    clft_tokenizer *tok = NULL;
    const char *wp = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}";
    clft_status st = clft_tokenizer_load_from_memory(wp, strlen(wp), NULL, 0, "bert/tokenizer.json", &tok);
    TU_CHECK(st == CLFT_STATUS_UNSUPPORTED && strstr(clft_last_error(), "WordPiece") &&
                 strstr(clft_last_error(), "bert/tokenizer.json"),
             "WordPiece: %s", clft_last_error());
    /* the status text fits a tokenizer as well as a device */
    TU_CHECK(!strcmp(clft_status_string(st), "unsupported"), "status text '%s'", clft_status_string(st));
    const char *ug = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}";
    st = clft_tokenizer_load_from_memory(ug, strlen(ug), NULL, 0, "t5.json", &tok);
    TU_CHECK(st == CLFT_STATUS_UNSUPPORTED && strstr(clft_last_error(), "Unigram"), "Unigram: %s", clft_last_error());
    const char *pre = "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":"
                      "0},\"merges\":[]}}";
    st = clft_tokenizer_load_from_memory(pre, strlen(pre), NULL, 0, "x.json", &tok);
    TU_CHECK(st == CLFT_STATUS_UNSUPPORTED && strstr(clft_last_error(), "BertPreTokenizer"), "pre: %s",
             clft_last_error());
    /* truncated real file */
    char path[1024];
    snprintf(path, sizeof path, "%s/llama2/tokenizer.json", g_dir);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    TU_CHECK(txt != NULL, "read %s", path);
    if (txt) {
        size_t cuts[3] = {0, 1000, len / 2};
        for (int i = 0; i < 3; i++) {
            st = clft_tokenizer_load_from_memory(txt, cuts[i], NULL, 0, "cut.json", &tok);
            TU_CHECK(st == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "cut.json: malformed JSON"),
                     "truncated at %zu: %s", cuts[i], clft_last_error());
        }
        /* a broken tokenizer_config.json is reported as such */
        st = clft_tokenizer_load_from_memory(txt, len, "{\"bos_token\":", 13, "ok.json", &tok);
        TU_CHECK(st == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "tokenizer_config.json"), "bad config: %s",
                 clft_last_error());
        free(txt);
    }
    const char *notobj = "[1,2]";
    st = clft_tokenizer_load_from_memory(notobj, 5, NULL, 0, "arr.json", &tok);
    TU_CHECK(st == CLFT_STATUS_FORMAT, "array top level: %s", clft_last_error());
    st = clft_tokenizer_load("/nonexistent/dir", &tok);
    TU_CHECK(st == CLFT_STATUS_IO && strstr(clft_last_error(), "/nonexistent/dir"), "missing: %s", clft_last_error());
    TU_CHECK(tok == NULL, "no tokenizer on error");
    /* a corrupted .zst */
    FILE *f = fopen("bad_tokenizer.json.zst", "wb");
    if (f) {
        fwrite("\x28\xb5\x2f\xfd garbage", 1, 12, f);
        fclose(f);
        st = clft_tokenizer_load("bad_tokenizer.json.zst", &tok);
        TU_CHECK(st == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "zstd"), "bad zst: %s", clft_last_error());
        remove("bad_tokenizer.json.zst");
    }
    clft_tokenizer_free(NULL);
    /* special_tokens_map.json fills what tokenizer_config.json leaves unset */
    mkdir("tok_stmap", 0755);
    {
        const char *tj = "{\"added_tokens\":[{\"id\":0,\"content\":\"<pad>\",\"special\":true},"
                         "{\"id\":1,\"content\":\"<eos>\",\"special\":true}],"
                         "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<pad>\":0,\"<eos>\":1,\"a\":2},\"merges\":[]}}";
        const char *sm = "{\"eos_token\":{\"content\":\"<eos>\"},\"pad_token\":\"<pad>\"}";
        FILE *a = fopen("tok_stmap/tokenizer.json", "wb"), *b = fopen("tok_stmap/special_tokens_map.json", "wb");
        if (a) fputs(tj, a), fclose(a);
        if (b) fputs(sm, b), fclose(b);
        TU_OK(clft_tokenizer_load("tok_stmap", &tok));
        TU_CHECK(tok && clft_tokenizer_eos_id(tok) == 1 && clft_tokenizer_pad_id(tok) == 0 &&
                     clft_tokenizer_bos_id(tok) == -1,
                 "special_tokens_map.json ids");
        clft_tokenizer_free(tok);
        remove("tok_stmap/tokenizer.json");
        remove("tok_stmap/special_tokens_map.json");
        rmdir("tok_stmap");
    }
}

int main(int argc, char **argv) {
    g_dir = argc > 1 ? argv[1] : "tests/data/tokenizers";
    const char *names[3] = {"llama2", "llama3", "qwen3"};
    for (int t = 0; t < 3; t++) {
        clft_tokenizer *tok = load(names[t]);
        if (!tok) continue;
        int total = 0;
        char file[256];
        snprintf(file, sizeof file, "%s/cases.json", names[t]);
        run_cases(tok, names[t], file, t + 1, &total);
        snprintf(file, sizeof file, "%s/hf_extra_cases.json", names[t]);
        char hname[64];
        snprintf(hname, sizeof hname, "%s (HF extra)", names[t]);
        run_cases(tok, hname, file, 0, &total);
        if (t == 0) llama2_specifics(tok);
        if (t == 1) llama3_specifics(tok);
        special_ids(tok, names[t]);
        threads(tok, names[t]);
        clft_tokenizer_free(tok);
    }
    synthetic();
    metaspace_variants();
    added_variants();
    pretok_variants();
    bad_files();
    return tu_finish("test_tokenizer");
}
