/* cmd_tokenize.c - `clft tokenize` (UTF-8 text on stdin -> JSON array of ids or token strings)
 * and `clft detokenize` (JSON array of ids on stdin -> text). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    if (!p) return NULL;
    size_t r;
    while ((r = fread(p + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                return NULL;
            }
            p = q;
            cap *= 2;
        }
    }
    p[n] = '\0';
    *len = n;
    return p;
}

static int parse_common(const char *cmd, int argc, char **argv, const char **dir, int *tokens, int *special,
                        int *verbose, const char *usage) {
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cli_opt(argc, argv, &i, "--tokenizer", &v)) {
            if (!v) return cli_usage_error(cmd, "--tokenizer needs a directory or file (usage: %s)", usage);
            *dir = v;
        } else if (tokens && !strcmp(argv[i], "--tokens"))
            *tokens = 1;
        else if (special && (!strcmp(argv[i], "--add-special") || !strcmp(argv[i], "--skip-special")))
            *special = 1;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            (*verbose)++;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: %s\n", usage);
            return -1;
        } else
            return cli_usage_error(cmd, "unknown option '%s' (usage: %s)", argv[i], usage);
    }
    if (!*dir) return cli_usage_error(cmd, "--tokenizer is required (usage: %s)", usage);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    static const char usage[] = "clft tokenize --tokenizer DIR|FILE [--tokens] [--add-special] < text";
    const char *dir = NULL;
    int tokens = 0, special = 0, verbose = 0;
    int r = parse_common("tokenize", argc, argv, &dir, &tokens, &special, &verbose, usage);
    if (r) return r < 0 ? 0 : r;
    cli_enable_logging(verbose);
    clft_tokenizer *tok = NULL;
    clft_status st = clft_tokenizer_load(dir, &tok);
    if (st != CLFT_OK) return cli_fail("tokenize", st);
    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) {
        clft_tokenizer_free(tok);
        fprintf(stderr, "clft tokenize: cannot read stdin\n");
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    st = clft_tokenize(tok, text, len, special, &ids, &n);
    free(text);
    if (st != CLFT_OK) {
        clft_tokenizer_free(tok);
        return cli_fail("tokenize", st);
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, tokens ? cJSON_CreateString(clft_tokenizer_id_to_token(tok, ids[i]))
                                         : cJSON_CreateNumber(ids[i]));
    char *s = cJSON_PrintUnformatted(arr);
    if (s) printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(arr);
    clft_free(ids);
    clft_tokenizer_free(tok);
    return s ? 0 : 1;
}

int cmd_detokenize(int argc, char **argv) {
    static const char usage[] = "clft detokenize --tokenizer DIR|FILE [--skip-special] < ids.json";
    const char *dir = NULL;
    int skip = 0, verbose = 0;
    int r = parse_common("detokenize", argc, argv, &dir, NULL, &skip, &verbose, usage);
    if (r) return r < 0 ? 0 : r;
    cli_enable_logging(verbose);
    size_t len = 0;
    char *in = read_stdin(&len);
    if (!in) {
        fprintf(stderr, "clft detokenize: cannot read stdin\n");
        return 1;
    }
    cJSON *arr = cJSON_ParseWithLength(in, len);
    free(in);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        fprintf(stderr, "clft detokenize: stdin is not a JSON array of ids\n");
        return 1;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int32_t)e->valuedouble) {
            fprintf(stderr, "clft detokenize: element %zu of the array is not an integer id\n", i);
            free(ids);
            cJSON_Delete(arr);
            return 1;
        }
        ids[i++] = (int32_t)e->valuedouble;
    }
    cJSON_Delete(arr);
    clft_tokenizer *tok = NULL;
    clft_status st = clft_tokenizer_load(dir, &tok);
    if (st != CLFT_OK) {
        free(ids);
        return cli_fail("detokenize", st);
    }
    char *text = NULL;
    size_t tl = 0;
    st = clft_detokenize(tok, ids, n, skip, &text, &tl);
    free(ids);
    clft_tokenizer_free(tok);
    if (st != CLFT_OK) return cli_fail("detokenize", st);
    fwrite(text, 1, tl, stdout);
    clft_free(text);
    return 0;
}
