/* bench_tokenizer_main.c - `bench_tokenizer [DATA_DIR] [TEXT_FILE...]`: encoding throughput of
 * the test tokenizers (tests/data/tokenizers: llama2, llama3, qwen3) on English text, one core,
 * printed as JSON. The text is the files given, or the licence texts of /usr/share/common-licenses
 * (about 260 KB of English), tokenized in 16 KB documents (cut at whitespace) as a data loader
 * would. mb_per_s is the cold figure: a freshly loaded tokenizer (empty word cache) going once over
 * the text, best of 5; mb_per_s_warm is the steady state over the text repeated to 4 MB. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clft.h"

#ifndef CLFT_SOURCE_DIR
#define CLFT_SOURCE_DIR "."
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int append_file(const char *path, char **buf, size_t *n, size_t *cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (*n + r + 1 > *cap) {
            *cap = (*n + r + 1) * 2;
            *buf = realloc(*buf, *cap);
            if (!*buf) exit(1);
        }
        memcpy(*buf + *n, chunk, r);
        *n += r;
    }
    fclose(f);
    return 1;
}

/* Tokenize text[0, n) in documents of about doc bytes; seconds, or -1 on error. */
static double run(const clft_tokenizer *tok, const char *text, size_t n, size_t doc, size_t *tokens) {
    *tokens = 0;
    double t0 = now();
    size_t a = 0;
    while (a < n) {
        size_t b = a + doc < n ? a + doc : n;
        while (b < n && text[b] != ' ' && text[b] != '\n')
            b++;
        int32_t *ids = NULL;
        size_t m = 0;
        if (clft_tokenize(tok, text + a, b - a, 0, &ids, &m) != CLFT_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", clft_last_error());
            return -1;
        }
        *tokens += m;
        clft_free(ids);
        a = b;
    }
    return now() - t0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : CLFT_SOURCE_DIR "/tests/data/tokenizers";
    char *text = NULL;
    size_t n = 0, cap = 0;
    if (argc > 2) {
        for (int i = 2; i < argc; i++)
            if (!append_file(argv[i], &text, &n, &cap)) fprintf(stderr, "bench_tokenizer: cannot read %s\n", argv[i]);
    } else {
        const char *lic = "/usr/share/common-licenses";
        DIR *d = opendir(lic);
        char *names[256];
        int k = 0;
        struct dirent *e;
        while (d && (e = readdir(d)) && k < 256) {
            char p[1024];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", lic, e->d_name);
            if (e->d_name[0] != '.' && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) names[k++] = strdup(p);
        }
        if (d) closedir(d);
        qsort(names, (size_t)k, sizeof names[0], cmp_str);
        for (int i = 0; i < k; i++) {
            append_file(names[i], &text, &n, &cap);
            free(names[i]);
        }
    }
    if (!n) {
        fprintf(stderr, "bench_tokenizer: no text (give files as arguments)\n");
        return 1;
    }
    size_t base = n;
    while (n < ((size_t)4 << 20)) {
        if (n + base + 1 > cap) {
            cap = (n + base + 1) * 2;
            text = realloc(text, cap);
            if (!text) return 1;
        }
        memcpy(text + n, text, base);
        n += base;
    }
    /* 16 KB documents cut at whitespace */
    const size_t doc = 16384;
    const char *names[3] = {"llama2", "llama3", "qwen3"};
    printf(
        "{\"benchmark\": \"tokenizer\", \"text_bytes\": %zu, \"document_bytes\": %zu, \"threads\": 1, \"results\": [\n",
        n, doc);
    int first = 1, rc = 0;
    for (int t = 0; t < 3; t++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[t]);
        clft_tokenizer *tok = NULL;
        double t0 = now();
        clft_status st = clft_tokenizer_load(path, &tok);
        double load_s = now() - t0;
        if (st != CLFT_OK) {
            fprintf(stderr, "bench_tokenizer: %s: %s\n", path, clft_last_error());
            rc = 1;
            continue;
        }
        size_t tokens = 0, cold_tokens = 0;
        double cold = 1e30, warm = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            clft_tokenizer *fresh = NULL;
            if (clft_tokenizer_load(path, &fresh) != CLFT_OK) return 1;
            double s = run(fresh, text, base, doc, &cold_tokens);
            if (s < 0) return 1;
            if (s < cold) cold = s;
            clft_tokenizer_free(fresh);
        }
        for (int rep = 0; rep < 3; rep++) {
            double s = run(tok, text, n, doc, &tokens);
            if (s < 0) return 1;
            if (s < warm) warm = s;
        }
        printf("%s  {\"tokenizer\": \"%s\", \"load_seconds\": %.3f, \"tokens\": %zu, \"bytes_per_token\": %.3f, "
               "\"cold_bytes\": %zu, \"cold_seconds\": %.4f, \"mb_per_s\": %.2f, \"mb_per_s_warm\": %.2f}",
               first ? "" : ",\n", names[t], load_s, tokens, (double)n / (double)tokens, base, cold,
               (double)base / cold / 1e6, (double)n / warm / 1e6);
        first = 0;
        clft_tokenizer_free(tok);
    }
    printf("\n]}\n");
    free(text);
    return rc;
}
