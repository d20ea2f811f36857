/* dataset.c - reading a dataset: the input files (a JSONL file, .txt/.md files or a folder of them),
 * format detection from the keys of the first valid line, one tokenized example per line (text,
 * completion, alpaca, chat) with its loss mask, truncation/dropping, the bad-line policy, the cache
 * key and lookup, the validation split, and the public load/free/stats entry points. Rows and batches
 * are made in loader.c, the cache file in data_cache.c. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"
#include "io/io_util.h"
#include "tokenizer/tok_internal.h"

#define DATA_CACHE_VERSION 1u

static const char *FORMAT_NAMES[] = {"auto", "text", "completion", "alpaca", "chat"};

const char *clft_dataset_format_name(clft_dataset_format format) {
    return (unsigned)format < 5 ? FORMAT_NAMES[format] : "unknown";
}

clft_status clft_dataset_format_parse(const char *name, clft_dataset_format *out) {
    if (!name || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_dataset_format_parse: NULL argument");
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, FORMAT_NAMES[i])) {
            *out = (clft_dataset_format)i;
            return CLFT_OK;
        }
    return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                      "unknown dataset format '%s' (expected auto, text, completion, alpaca or chat)", name);
}

clft_dataset_params clft_dataset_default_params(void) {
    clft_dataset_params p;
    memset(&p, 0, sizeof p);
    p.seq_len = 512;
    p.shuffle = 1;
    p.group_by_length = 1;
    p.seed = 42;
    p.cache = 1;
    return p;
}

/* ---- examples ---------------------------------------------------------------------------------- */
void data_examples_free(data_examples *ex) {
    if (!ex) return;
    free(ex->ids);
    free(ex->lab);
    free(ex->off);
    free(ex->len);
    free(ex->flags);
    memset(ex, 0, sizeof *ex);
}

clft_status data_examples_push(data_examples *ex, const int32_t *ids, const uint8_t *lab, size_t n, uint8_t flags) {
    if (ex->n_tok + n > ex->cap_tok) {
        size_t cap = ex->cap_tok ? ex->cap_tok : 4096;
        while (cap < ex->n_tok + n)
            cap *= 2;
        int32_t *ni = realloc(ex->ids, cap * sizeof *ni);
        if (ni) ex->ids = ni;
        uint8_t *nl = ni ? realloc(ex->lab, cap) : NULL;
        if (!nl) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory holding %zu tokens", cap);
        ex->lab = nl;
        ex->cap_tok = cap;
    }
    if (ex->n == ex->cap) {
        size_t cap = ex->cap ? ex->cap * 2 : 256;
        uint64_t *no = realloc(ex->off, cap * sizeof *no);
        if (no) ex->off = no;
        uint32_t *nl = no ? realloc(ex->len, cap * sizeof *nl) : NULL;
        if (nl) ex->len = nl;
        uint8_t *nf = nl ? realloc(ex->flags, cap) : NULL;
        if (!nf) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory holding %zu examples", cap);
        ex->flags = nf;
        ex->cap = cap;
    }
    memcpy(ex->ids + ex->n_tok, ids, n * sizeof *ids);
    memcpy(ex->lab + ex->n_tok, lab, n);
    ex->off[ex->n] = ex->n_tok;
    ex->len[ex->n] = (uint32_t)n;
    ex->flags[ex->n] = flags;
    ex->n++;
    ex->n_tok += n;
    return CLFT_OK;
}

/* ---- input files ------------------------------------------------------------------------------- */
typedef struct data_file {
    char *path;
    char *text;
    size_t len;
} data_file;

typedef struct data_files {
    data_file *f;
    size_t n, cap;
} data_files;

static void files_free(data_files *fs) {
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->f[i].path);
        free(fs->f[i].text);
    }
    free(fs->f);
    memset(fs, 0, sizeof *fs);
}

static int has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    if (n < e) return 0;
    for (size_t i = 0; i < e; i++) {
        char c = path[n - e + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != ext[i]) return 0;
    }
    return 1;
}
static int is_doc_file(const char *path) { return has_ext(path, ".txt") || has_ext(path, ".md"); }

static clft_status files_add(data_files *fs, const char *path) {
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        data_file *nf = realloc(fs->f, cap * sizeof *nf);
        if (!nf) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        fs->f = nf;
        fs->cap = cap;
    }
    data_file *f = &fs->f[fs->n];
    memset(f, 0, sizeof *f);
    if (!(f->path = clft_strdup(path))) return CLFT_STATUS_HOST_OOM;
    fs->n++;
    return clft_io_read_file(path, &f->text, &f->len);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every .txt/.md file below dir, in name order (depth first). */
static clft_status files_scan(data_files *fs, const char *dir, int depth) {
    if (depth > 32) return clft_error(CLFT_STATUS_FORMAT, "%s: folders nested too deep", dir);
    DIR *d = opendir(dir);
    if (!d) return clft_error(CLFT_STATUS_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    clft_status st = CLFT_OK;
    struct dirent *e;
    while (st == CLFT_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = clft_io_join(dir, e->d_name)))
            st = CLFT_STATUS_HOST_OOM;
        else
            n++;
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && st == CLFT_OK; i++) {
        if (clft_io_is_dir(names[i]))
            st = files_scan(fs, names[i], depth + 1);
        else if (is_doc_file(names[i]))
            st = files_add(fs, names[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return st;
}

/* ---- loading state ----------------------------------------------------------------------------- */
typedef struct loader {
    const clft_tokenizer *tok;
    const clft_dataset_params *p;
    const char *tpl; /* chat template name */
    int32_t bos, eos;
    int add_bos; /* the tokenizer adds BOS */
    clft_dataset_format fmt;
    char fmt_from[1100]; /* ", detected from FILE:LINE" or "" when forced */
    data_examples *ex;
    /* scratch */
    int32_t *ids;
    uint8_t *lab;
    size_t cap;
} loader;

static clft_status scratch(loader *L, size_t n) {
    if (n <= L->cap) return CLFT_OK;
    size_t cap = L->cap ? L->cap : 1024;
    while (cap < n)
        cap *= 2;
    int32_t *ni = realloc(L->ids, cap * sizeof *ni);
    if (ni) L->ids = ni;
    uint8_t *nl = ni ? realloc(L->lab, cap) : NULL;
    if (!nl) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    L->lab = nl;
    L->cap = cap;
    return CLFT_OK;
}

/* Truncate / drop / check labels, then store L->ids/lab[0..n). */
static clft_status finish_example(loader *L, size_t n) {
    uint8_t flags = 0;
    if (L->p->train_on_prompt) memset(L->lab, 1, n);
    if (L->fmt != CLFT_DATASET_TEXT && n > (size_t)L->p->seq_len) {
        if (L->p->drop_long) {
            L->ex->dropped_long++;
            return CLFT_OK;
        }
        n = (size_t)L->p->seq_len;
        flags |= DATA_EX_TRUNCATED;
        L->ex->truncated++;
    }
    if (L->fmt != CLFT_DATASET_TEXT) {
        size_t labelled = 0;
        for (size_t i = 1; i < n; i++) /* the first token never has a label (see clft.h) */
            labelled += L->lab[i];
        if (!labelled) {
            L->ex->dropped_no_labels++;
            return CLFT_OK;
        }
    }
    return data_examples_push(L->ex, L->ids, L->lab, n, flags);
}

/* Tokenize text[0..len) into L->ids from position at, labels from the byte mask (NULL: lab = 1).
 * Returns the new token count in *n. */
static clft_status tokenize_into(loader *L, const char *text, size_t len, const uint8_t *bmask, size_t at, size_t *n) {
    int32_t *ids = NULL;
    size_t *offs = NULL, nt = 0;
    clft_status st = clft_tokenize_offsets(L->tok, text, len, 0, &ids, &offs, &nt);
    if (st == CLFT_OK) st = scratch(L, at + nt + 2);
    if (st == CLFT_OK) {
        memcpy(L->ids + at, ids, nt * sizeof *ids);
        if (bmask)
            clft_token_mask_from_bytes(offs, nt, bmask, len, L->lab + at);
        else
            memset(L->lab + at, 1, nt);
        *n = at + nt;
    }
    free(ids);
    free(offs);
    return st;
}

static size_t put_bos(loader *L) {
    if (!L->add_bos) return 0;
    L->ids[0] = L->bos;
    L->lab[0] = 0;
    return 1;
}

static clft_status add_text(loader *L, const char *text, size_t len) {
    CLFT_CHECK(scratch(L, 2));
    size_t n = put_bos(L);
    if (L->add_bos) L->lab[0] = 1;
    CLFT_CHECK(tokenize_into(L, text, len, NULL, n, &n));
    L->ids[n] = L->eos;
    L->lab[n++] = 1;
    return finish_example(L, n);
}

/* ---- JSONL lines ------------------------------------------------------------------------------- */
#define LINE_ERR(...) clft_error(CLFT_STATUS_FORMAT, __VA_ARGS__)

static const cJSON *jget(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static clft_dataset_format detect(const cJSON *o) {
    if (jget(o, "messages")) return CLFT_DATASET_CHAT;
    if (jget(o, "instruction") && jget(o, "output")) return CLFT_DATASET_ALPACA;
    if (jget(o, "prompt") && jget(o, "completion")) return CLFT_DATASET_COMPLETION;
    if (jget(o, "text")) return CLFT_DATASET_TEXT;
    return CLFT_DATASET_AUTO;
}

/* A string field: missing / not a string are errors. */
static clft_status jstring(const loader *L, const cJSON *o, const char *key, const char *file, int64_t line,
                           int optional, const char **out) {
    const cJSON *v = jget(o, key);
    *out = NULL;
    if (!v || (optional && cJSON_IsNull(v))) { /* an optional key may also be null */
        if (optional) return CLFT_OK;
        return LINE_ERR("%s:%lld: missing key \"%s\" (format %s%s)", file, (long long)line, key,
                        clft_dataset_format_name(L->fmt), L->fmt_from);
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return LINE_ERR("%s:%lld: \"%s\" is not a string", file, (long long)line, key);
    *out = v->valuestring;
    return CLFT_OK;
}

static int role_known(const char *r) {
    return !strcmp(r, "system") || !strcmp(r, "user") || !strcmp(r, "assistant") || !strcmp(r, "tool");
}
/* Templates that write any role text as it is (the others know user/assistant[/system] only). */
static int tpl_takes_tool(const char *t) {
    return !strcmp(t, "chatml") || !strcmp(t, "qwen2") || !strcmp(t, "qwen3") || !strcmp(t, "llama3");
}

static clft_status add_chat(loader *L, const cJSON *o, const char *file, int64_t line) {
    const cJSON *ms = jget(o, "messages");
    if (!cJSON_IsArray(ms)) return LINE_ERR("%s:%lld: \"messages\" is not an array", file, (long long)line);
    int n = cJSON_GetArraySize(ms);
    if (n == 0) return LINE_ERR("%s:%lld: \"messages\" is empty", file, (long long)line);
    clft_chat_message *m = calloc((size_t)n, sizeof *m);
    if (!m) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    clft_status st = CLFT_OK;
    int assistant = 0, i = 0;
    for (const cJSON *e = ms->child; e && st == CLFT_OK; e = e->next, i++) {
        const cJSON *r = cJSON_IsObject(e) ? jget(e, "role") : NULL, *c = cJSON_IsObject(e) ? jget(e, "content") : NULL;
        if (!cJSON_IsObject(e))
            st = LINE_ERR("%s:%lld: message %d is not an object", file, (long long)line, i);
        else if (!cJSON_IsString(r) || !cJSON_IsString(c))
            st = LINE_ERR("%s:%lld: message %d needs string \"role\" and \"content\"", file, (long long)line, i);
        else if (!role_known(r->valuestring))
            st = LINE_ERR("%s:%lld: message %d has unknown role '%s' (expected system, user, assistant or tool)", file,
                          (long long)line, i, r->valuestring);
        else if (!strcmp(r->valuestring, "tool") && !tpl_takes_tool(L->tpl))
            st = LINE_ERR("%s:%lld: chat template %s cannot render role 'tool' (message %d)", file, (long long)line,
                          L->tpl, i);
        else {
            m[i].role = r->valuestring;
            m[i].content = c->valuestring;
            assistant |= !strcmp(r->valuestring, "assistant");
        }
    }
    if (st == CLFT_OK && !assistant)
        st = LINE_ERR("%s:%lld: chat example has no assistant turn (nothing to learn from)", file, (long long)line);
    int32_t *ids = NULL;
    uint8_t *mask = NULL;
    size_t nt = 0;
    if (st == CLFT_OK) {
        st = clft_chat_tokenize(L->tok, L->tpl, m, (size_t)n, 0, &ids, &mask, &nt);
        if (st == CLFT_STATUS_INVALID_ARGUMENT)
            st = clft_error_prefix(CLFT_STATUS_FORMAT, "%s:%lld: chat template %s cannot render this conversation",
                                   file, (long long)line, L->tpl);
    }
    if (st == CLFT_OK) st = scratch(L, nt + 1);
    if (st == CLFT_OK) {
        memcpy(L->ids, ids, nt * sizeof *ids);
        memcpy(L->lab, mask, nt);
        st = finish_example(L, nt);
    }
    free(ids);
    free(mask);
    free(m);
    return st;
}

static clft_status add_completion(loader *L, const char *prompt, const char *completion) {
    size_t lp = strlen(prompt), lc = strlen(completion);
    char *text = malloc(lp + lc + 1);
    uint8_t *bm = malloc(lp + lc + 1);
    clft_status st = (text && bm) ? scratch(L, 2) : clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    size_t n = 0;
    if (st == CLFT_OK) {
        memcpy(text, prompt, lp);
        memcpy(text + lp, completion, lc);
        memset(bm, 0, lp);
        memset(bm + lp, 1, lc);
        n = put_bos(L);
        st = tokenize_into(L, text, lp + lc, bm, n, &n);
    }
    if (st == CLFT_OK) {
        L->ids[n] = L->eos; /* TRL appends EOS to the completion */
        L->lab[n++] = 1;
        st = finish_example(L, n);
    }
    free(text);
    free(bm);
    return st;
}

static clft_status add_alpaca(loader *L, const char *instr, const char *input, const char *output) {
    clft_chat_message m[3];
    size_t n = 0;
    m[n++] = (clft_chat_message){"user", instr};
    if (input && input[0]) m[n++] = (clft_chat_message){"input", input};
    m[n++] = (clft_chat_message){"assistant", output};
    char *text = NULL;
    uint8_t *bm = NULL;
    size_t len = 0, nt = 0;
    clft_status st = clft_chat_render("alpaca", m, n, clft_tokenizer_id_to_token(L->tok, L->bos),
                                      clft_tokenizer_id_to_token(L->tok, L->eos), 0, &text, &len, &bm);
    if (st == CLFT_OK) st = scratch(L, 2);
    if (st == CLFT_OK) st = tokenize_into(L, text, len, bm, put_bos(L), &nt);
    if (st == CLFT_OK) st = finish_example(L, nt);
    free(text);
    free(bm);
    return st;
}

/* Parse one line into an object (UTF-8 checked first). */
static clft_status parse_line(const char *file, int64_t line, const char *s, size_t n, size_t file_off, cJSON **out) {
    *out = NULL;
    size_t bad = tok_utf8_check((const unsigned char *)s, n);
    if (bad < n)
        return LINE_ERR("%s:%lld: invalid UTF-8 at byte offset %zu of the line (byte %zu of the file)", file,
                        (long long)line, bad, file_off + bad);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j) {
        const char *e = cJSON_GetErrorPtr();
        size_t off = (e && e >= s && e <= s + n) ? (size_t)(e - s) : n;
        return LINE_ERR("%s:%lld: not valid JSON (error near byte %zu of the line)", file, (long long)line, off);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return LINE_ERR("%s:%lld: not a JSON object", file, (long long)line);
    }
    *out = j;
    return CLFT_OK;
}

static clft_status add_object(loader *L, const cJSON *o, const char *file, int64_t line) {
    const char *a = NULL, *b = NULL, *c = NULL;
    switch (L->fmt) {
    case CLFT_DATASET_TEXT: CLFT_CHECK(jstring(L, o, "text", file, line, 0, &a)); return add_text(L, a, strlen(a));
    case CLFT_DATASET_COMPLETION:
        CLFT_CHECK(jstring(L, o, "prompt", file, line, 0, &a));
        CLFT_CHECK(jstring(L, o, "completion", file, line, 0, &b));
        return add_completion(L, a, b);
    case CLFT_DATASET_ALPACA:
        CLFT_CHECK(jstring(L, o, "instruction", file, line, 0, &a));
        CLFT_CHECK(jstring(L, o, "input", file, line, 1, &b));
        CLFT_CHECK(jstring(L, o, "output", file, line, 0, &c));
        return add_alpaca(L, a, b, c);
    case CLFT_DATASET_CHAT:
        if (!jget(o, "messages"))
            return LINE_ERR("%s:%lld: missing key \"messages\" (format chat%s)", file, (long long)line, L->fmt_from);
        return add_chat(L, o, file, line);
    case CLFT_DATASET_AUTO: break;
    }
    return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "internal: no dataset format");
}

/* A line error: skipped and counted with skip_bad_lines, else returned. */
static clft_status line_failed(loader *L, clft_status st) {
    if (st != CLFT_STATUS_FORMAT || !L->p->skip_bad_lines) return st;
    L->ex->skipped++;
    if (!L->ex->first_skipped[0]) snprintf(L->ex->first_skipped, sizeof L->ex->first_skipped, "%s", clft_last_error());
    clft_log(CLFT_LOG_WARN, "skipped: %s", clft_last_error());
    clft_error_clear();
    return CLFT_OK;
}

/* Walk the lines of a JSONL file. detect_only: stop at the first valid line once the format is known. */
static clft_status read_jsonl(loader *L, const data_file *f, int detect_only) {
    const char *s = f->text, *end = f->text + f->len;
    int64_t line = 0;
    if (f->len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3; /* BOM */
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        size_t n = (size_t)(e - s), off = (size_t)(s - f->text);
        line++;
        if (n && s[n - 1] == '\r') n--;
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t'))
            k++;
        if (k < n) {
            if (!detect_only) L->ex->lines++;
            cJSON *o = NULL;
            clft_status st = parse_line(f->path, line, s, n, off, &o);
            if (st == CLFT_OK && L->fmt == CLFT_DATASET_AUTO) {
                clft_dataset_format d = detect(o);
                if (d == CLFT_DATASET_AUTO)
                    st = LINE_ERR("%s:%lld: no known keys: expected \"text\", \"prompt\"+\"completion\", "
                                  "\"instruction\"+\"output\" (+\"input\") or \"messages\"",
                                  f->path, (long long)line);
                else {
                    L->fmt = d;
                    snprintf(L->fmt_from, sizeof L->fmt_from, ", detected from %s:%lld", f->path, (long long)line);
                }
            }
            if (st == CLFT_OK && detect_only) {
                cJSON_Delete(o);
                return CLFT_OK;
            }
            if (st == CLFT_OK) st = add_object(L, o, f->path, line);
            cJSON_Delete(o);
            if (st != CLFT_OK) {
                if (detect_only) {
                    if (st != CLFT_STATUS_FORMAT || !L->p->skip_bad_lines) return st;
                } else
                    CLFT_CHECK(line_failed(L, st));
            }
        }
        s = nl ? nl + 1 : end;
    }
    return CLFT_OK;
}

static clft_status read_doc(loader *L, const data_file *f) {
    size_t bad = tok_utf8_check((const unsigned char *)f->text, f->len);
    L->ex->lines++;
    if (bad < f->len) {
        size_t line = 1, col = 0;
        for (size_t i = 0; i < bad; i++)
            col = f->text[i] == '\n' ? (line++, 0) : col + 1;
        return line_failed(L, LINE_ERR("%s:%zu: invalid UTF-8 at byte offset %zu of the line (byte %zu of the file)",
                                       f->path, line, col, bad));
    }
    return add_text(L, f->text, f->len);
}

/* ---- cache key --------------------------------------------------------------------------------- */
/* The contents of the data files (and, for a folder, their paths: they order the documents; a single
 * file may be renamed or moved), the tokenizer and the settings the examples depend on. */
static uint64_t cache_key(const loader *L, const data_files *fs, const char *folder) {
    uint64_t h = CLFT_FNV_INIT, v[8];
    for (size_t i = 0; i < fs->n; i++) {
        if (folder) { /* the path inside the folder */
            const char *rel = fs->f[i].path + strlen(folder);
            h = clft_fnv1a(h, rel, strlen(rel) + 1);
        }
        h = clft_fnv1a(h, &fs->f[i].len, sizeof fs->f[i].len);
        h = clft_fnv1a(h, fs->f[i].text, fs->f[i].len);
    }
    v[0] = DATA_CACHE_VERSION;
    v[1] = clft_tokenizer_fingerprint(L->tok);
    v[2] = (uint64_t)L->fmt;
    v[3] = (uint64_t)L->p->seq_len;
    v[4] = (uint64_t)L->p->train_on_prompt;
    v[5] = (uint64_t)L->p->drop_long;
    v[6] = (uint64_t)L->p->skip_bad_lines;
    v[7] = (uint64_t)fs->n;
    h = clft_fnv1a(h, v, sizeof v);
    if (L->tpl) h = clft_fnv1a(h, L->tpl, strlen(L->tpl));
    return h;
}

/* ---- validation split -------------------------------------------------------------------------- */
static clft_status take_subset(data_examples *ex, const clft_dataset_params *p, const char *path) {
    if (p->subset == CLFT_DATASET_ALL) return CLFT_OK;
    if (!(p->val_split > 0))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: a train/validation subset needs val_split > 0", path);
    if (ex->n < 2)
        return clft_error(CLFT_STATUS_FORMAT, "%s: %zu example(s): too few to hold some out for validation", path,
                          ex->n);
    size_t n_val = (size_t)((double)ex->n * p->val_split + 0.5);
    if (n_val < 1) n_val = 1;
    if (n_val > ex->n - 1) n_val = ex->n - 1;
    uint64_t *idx = malloc(ex->n * sizeof *idx);
    uint8_t *in_val = calloc(ex->n, 1);
    if (!idx || !in_val) {
        free(idx);
        free(in_val);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    }
    for (size_t i = 0; i < ex->n; i++)
        idx[i] = i;
    data_shuffle(idx, ex->n, p->seed ^ 0x76616c73706c6974ULL); /* "valsplit" */
    for (size_t i = 0; i < n_val; i++)
        in_val[idx[i]] = 1;
    data_examples sub;
    memset(&sub, 0, sizeof sub);
    clft_status st = CLFT_OK;
    int want = p->subset == CLFT_DATASET_VAL;
    for (size_t i = 0; i < ex->n && st == CLFT_OK; i++)
        if (in_val[i] == want)
            st = data_examples_push(&sub, ex->ids + ex->off[i], ex->lab + ex->off[i], ex->len[i], ex->flags[i]);
    free(idx);
    free(in_val);
    if (st != CLFT_OK) {
        data_examples_free(&sub);
        return st;
    }
    sub.format = ex->format;
    sub.lines = ex->lines;
    sub.skipped = ex->skipped;
    sub.truncated = ex->truncated;
    sub.dropped_long = ex->dropped_long;
    sub.dropped_no_labels = ex->dropped_no_labels;
    memcpy(sub.first_skipped, ex->first_skipped, sizeof sub.first_skipped);
    data_examples_free(ex);
    *ex = sub;
    return CLFT_OK;
}

/* ---- load -------------------------------------------------------------------------------------- */
static clft_status check_params(const clft_dataset_params *p) {
    if (p->seq_len < 2 || p->seq_len > (1 << 24))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "dataset seq_len %d out of range (2 .. 16777216)", p->seq_len);
    if (p->stride < 0 || p->stride > p->seq_len)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "dataset stride %d out of range (0 .. seq_len %d)", p->stride,
                          p->seq_len);
    if (!(p->val_split >= 0 && p->val_split < 1))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "dataset val_split %g out of range [0, 1)", p->val_split);
    if ((unsigned)p->format > CLFT_DATASET_CHAT || (unsigned)p->subset > CLFT_DATASET_VAL)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "dataset format or subset out of range");
    return CLFT_OK;
}

static clft_status chat_template_name(loader *L) {
    if (L->p->chat_template && L->p->chat_template[0]) {
        L->tpl = L->p->chat_template;
        /* an unknown name fails here, before any line is read */
        char *t = NULL;
        clft_chat_message m = {"user", "x"};
        clft_status st = clft_chat_render(L->tpl, &m, 1, NULL, NULL, 0, &t, NULL, NULL);
        free(t);
        return st == CLFT_STATUS_NOT_FOUND ? st : CLFT_OK;
    }
    const char *jinja = clft_tokenizer_chat_template(L->tok);
    if (!jinja)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "chat dataset: the tokenizer has no chat_template; pick one by name (%s)",
                          clft_chat_template_names());
    return clft_chat_template_detect(jinja, &L->tpl);
}

static clft_status load_examples(const char *path, loader *L, data_files *fs, clft_dataset_stats *stats) {
    const clft_dataset_params *p = L->p;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return clft_error(CLFT_STATUS_IO, "%s: cannot open the dataset: %s", path, strerror(errno));
    int docs = 0;
    if (S_ISDIR(sb.st_mode)) {
        CLFT_CHECK(files_scan(fs, path, 0));
        if (!fs->n)
            return clft_error(CLFT_STATUS_FORMAT, "%s: empty dataset: the folder holds no .txt or .md file", path);
        docs = 1;
    } else {
        CLFT_CHECK(files_add(fs, path));
        docs = is_doc_file(path);
    }
    if (docs && p->format != CLFT_DATASET_AUTO && p->format != CLFT_DATASET_TEXT)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: .txt/.md files are text documents; format %s needs JSONL",
                          path, clft_dataset_format_name(p->format));
    L->fmt = docs ? CLFT_DATASET_TEXT : p->format;
    if (!docs && L->fmt == CLFT_DATASET_AUTO) {
        data_examples tmp, *keep = L->ex;
        memset(&tmp, 0, sizeof tmp);
        L->ex = &tmp;
        clft_status st = read_jsonl(L, &fs->f[0], 1);
        L->ex = keep;
        CLFT_CHECK(st);
        if (L->fmt == CLFT_DATASET_AUTO)
            return clft_error(CLFT_STATUS_FORMAT, "%s: empty dataset: no valid line to detect the format from", path);
    }
    if (L->fmt == CLFT_DATASET_CHAT) CLFT_CHECK(chat_template_name(L));
    if (L->fmt != CLFT_DATASET_CHAT && L->eos < 0)
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: the tokenizer has no EOS token (format %s needs one)", path,
                          clft_dataset_format_name(L->fmt));
    uint64_t key = cache_key(L, fs, S_ISDIR(sb.st_mode) ? path : NULL);
    stats->cache_key = key;
    char dir[1024];
    dir[0] = '\0';
    if (p->cache) {
        char base[900];
        if (p->cache_dir && p->cache_dir[0])
            snprintf(base, sizeof base, "%s", p->cache_dir);
        else
            clft_default_cache_dir(base, sizeof base);
        if (base[0]) snprintf(dir, sizeof dir, "%s/datasets", base);
    }
    int hit = 0;
    if (dir[0]) CLFT_CHECK(data_cache_read(dir, key, L->ex, &hit));
    if (hit) {
        stats->cache_hit = 1;
        return CLFT_OK;
    }
    L->ex->format = L->fmt;
    for (size_t i = 0; i < fs->n; i++)
        CLFT_CHECK(docs ? read_doc(L, &fs->f[i]) : read_jsonl(L, &fs->f[i], 0));
    if (!L->ex->n)
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: empty dataset: no usable example (%lld lines read, %lld skipped, %lld too long, %lld "
                          "without a labelled token)",
                          path, (long long)L->ex->lines, (long long)L->ex->skipped, (long long)L->ex->dropped_long,
                          (long long)L->ex->dropped_no_labels);
    if (dir[0]) {
        clft_status cs = data_cache_write(dir, key, L->ex);
        if (cs == CLFT_OK)
            stats->cache_written = 1;
        else if (cs == CLFT_STATUS_HOST_OOM)
            return cs;
        else {
            clft_log(CLFT_LOG_WARN, "dataset cache not written: %s", clft_last_error());
            clft_error_clear();
        }
    }
    return CLFT_OK;
}

clft_status clft_dataset_load(const char *path, const clft_tokenizer *tok, const clft_dataset_params *params,
                              clft_dataset **out) {
    if (!out || !path || !tok) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_dataset_load: NULL argument");
    *out = NULL;
    clft_dataset_params p = params ? *params : clft_dataset_default_params();
    CLFT_CHECK(check_params(&p));
    clft_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    loader L;
    memset(&L, 0, sizeof L);
    L.tok = tok;
    L.p = &p;
    L.bos = clft_tokenizer_bos_id(tok);
    L.eos = clft_tokenizer_eos_id(tok);
    L.ex = &ds->ex;
    int32_t *sp = NULL;
    size_t nsp = 0;
    clft_status st = clft_tokenize(tok, "", 0, 1, &sp, &nsp);
    if (st == CLFT_OK) L.add_bos = L.bos >= 0 && nsp > 0 && sp[0] == L.bos;
    free(sp);
    data_files fs;
    memset(&fs, 0, sizeof fs);
    if (st == CLFT_OK) st = load_examples(path, &L, &fs, &ds->stats);
    L.ex = &ds->ex;
    files_free(&fs);
    free(L.ids);
    free(L.lab);
    if (st == CLFT_OK) st = take_subset(&ds->ex, &p, path);
    ds->p = p;
    ds->p.chat_template = NULL;
    ds->p.cache_dir = NULL;
    ds->pad_id = clft_tokenizer_pad_id(tok) >= 0 ? clft_tokenizer_pad_id(tok) : L.eos >= 0 ? L.eos : 0;
    if (st == CLFT_OK) st = data_build_rows(ds);
    if (st == CLFT_OK && ds->n_rows == 0)
        st = clft_error(CLFT_STATUS_FORMAT,
                        "%s: empty dataset: %zu tokens in all, fewer than one full window of seq_len %d", path,
                        ds->ex.n_tok, p.seq_len);
    if (st != CLFT_OK) {
        clft_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CLFT_OK;
}

void clft_dataset_free(clft_dataset *ds) {
    if (!ds) return;
    data_examples_free(&ds->ex);
    free(ds->segs);
    free(ds->row_seg);
    free(ds->row_len);
    free(ds->order);
    free(ds);
}

clft_status clft_dataset_get_stats(const clft_dataset *ds, clft_dataset_stats *out) {
    if (!ds || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_dataset_get_stats: NULL argument");
    *out = ds->stats;
    return CLFT_OK;
}
