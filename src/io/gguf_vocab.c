/* gguf_vocab.c - the tokenizer.* metadata of a GGUF file made from a Hugging Face tokenizer.json (and
 * tokenizer_config.json), as llama.cpp's loader reads it (FORMATS.md 5; llama-vocab.cpp), for
 * `clft export --gguf merged` from a model folder.
 *
 * Two kinds of tokenizer.json are recognised:
 *  - byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM): tokenizer.ggml.model "gpt2", the tokens by id, their
 *    types (special added tokens CONTROL, other added tokens USER_DEFINED, the rest NORMAL), the merges
 *    as "left right" strings, and tokenizer.ggml.pre, the name llama.cpp gives the pre-tokenizer
 *    (llama.cpp's converter recognises it by hashing the ids of a test text; here it is read from the
 *    pre_tokenizer's structure: plain ByteLevel "gpt-2", Digits + ByteLevel "smollm", a Split on the
 *    Llama-3 regex "llama-bpe", on the Qwen2 one "qwen2"; anything else is refused by name);
 *  - SentencePiece BPE converted to tokenizer.json (Llama-2, Mistral; byte_fallback): "llama", the
 *    tokens with scores (llama.cpp merges the adjacent pair whose joined token scores highest, so a
 *    token made by merge k scores -k: the merge order of the BPE model), types (<0xXX> BYTE, unk
 *    UNKNOWN, specials CONTROL) and add_space_prefix from the normalizer or Metaspace.
 * Ids without a token up to the model's vocab_size become "[PAD<id>]" of type UNUSED, as the
 * converter pads them. BOS/EOS/PAD ids come from the model config, add_bos/add_eos from
 * tokenizer_config.json (else from the post-processor's template: always written, since llama.cpp's
 * default differs by pre-tokenizer) and the chat template from tokenizer_config.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/gguf.h"
#include "io/io_util.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

typedef struct vocab {
    int64_t n;
    char **tok;     /* by id (NULL: none yet) */
    int32_t *type;  /* by id */
    float *score;   /* by id */
    const char **merge_str;
    size_t nmerges;
    char *merge_buf; /* "left right" strings of pair-form merges */
} vocab;

static void vocab_free(vocab *v) {
    if (v->tok)
        for (int64_t i = 0; i < v->n; i++)
            free(v->tok[i]);
    free(v->tok);
    free(v->type);
    free(v->score);
    free(v->merge_str);
    free(v->merge_buf);
}

static cJSON *read_json(const char *dir, const char *name, int required, clft_status *st) {
    *st = CLFT_OK;
    char *path = clft_io_join(dir, name);
    if (!path) {
        *st = CLFT_STATUS_HOST_OOM;
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    if (clft_io_read_file(path, &text, &len) != CLFT_OK) {
        if (required)
            *st = clft_error(CLFT_STATUS_NOT_FOUND, "%s: cannot read it (a GGUF model needs the tokenizer)", path);
        else
            clft_error_clear();
        free(path);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) *st = clft_error(CLFT_STATUS_FORMAT, "%s: malformed JSON", path);
    free(text);
    free(path);
    return root;
}

static int is_type(const cJSON *o, const char *type) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) && !strcmp(t->valuestring, type);
}

static const cJSON *seq_items(const cJSON *o, const char *key, int *n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    *n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    return a;
}

/* llama.cpp's name of a byte-level pre-tokenizer (NULL when not recognised) */
static const char *pre_name(const cJSON *pre) {
    if (!pre || cJSON_IsNull(pre)) return NULL;
    if (is_type(pre, "ByteLevel")) return cJSON_IsFalse(cJSON_GetObjectItem(pre, "use_regex")) ? NULL : "gpt-2";
    if (!is_type(pre, "Sequence")) return NULL;
    int n = 0;
    const cJSON *a = seq_items(pre, "pretokenizers", &n);
    if (n == 2 && is_type(cJSON_GetArrayItem(a, 0), "Digits") && is_type(cJSON_GetArrayItem(a, 1), "ByteLevel") &&
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "individual_digits")))
        return "smollm";
    if (n == 2 && is_type(cJSON_GetArrayItem(a, 0), "Split") && is_type(cJSON_GetArrayItem(a, 1), "ByteLevel")) {
        const cJSON *pat = cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "pattern");
        const cJSON *re = pat ? cJSON_GetObjectItem(pat, "Regex") : NULL;
        if (!cJSON_IsString(re)) return NULL;
        const char *r = re->valuestring;
        if (strstr(r, "\\p{N}{1,3}") && strstr(r, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+")) return "llama-bpe";
        if (strstr(r, "\\p{N}") && !strstr(r, "\\p{N}{1,3}") && strstr(r, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"))
            return "qwen2";
    }
    return NULL;
}

static clft_status set_tok(vocab *v, const char *path, int64_t id, const char *s) {
    if (id < 0 || id >= v->n)
        return clft_error(CLFT_STATUS_FORMAT, "%s: token '%s' has id %lld outside the vocabulary of %lld", path, s,
                          (long long)id, (long long)v->n);
    free(v->tok[id]);
    v->tok[id] = clft_strdup(s);
    return v->tok[id] ? CLFT_OK : CLFT_STATUS_HOST_OOM;
}

/* the merges of model.merges ("a b" strings or [a, b] pairs) */
static clft_status read_merges(vocab *v, const cJSON *merges, const char *path) {
    int n = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    v->merge_str = clft_calloc(n ? (size_t)n : 1, sizeof *v->merge_str);
    size_t bytes = 1;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
            cJSON_IsString(cJSON_GetArrayItem(m, 1)))
            bytes += strlen(cJSON_GetArrayItem(m, 0)->valuestring) + strlen(cJSON_GetArrayItem(m, 1)->valuestring) + 2;
        else if (!cJSON_IsString(m))
            return clft_error(CLFT_STATUS_FORMAT, "%s: model.merges: an entry is neither \"a b\" nor [a, b]", path);
    }
    v->merge_buf = clft_malloc(bytes);
    if (!v->merge_str || !v->merge_buf) return CLFT_STATUS_HOST_OOM;
    char *at = v->merge_buf;
    cJSON_ArrayForEach(m, merges) {
        if (cJSON_IsString(m)) {
            if (m->valuestring[0] == '#' && v->nmerges == 0 && !strncmp(m->valuestring, "#version", 8)) continue;
            v->merge_str[v->nmerges++] = m->valuestring;
        } else {
            int k = sprintf(at, "%s %s", cJSON_GetArrayItem(m, 0)->valuestring, cJSON_GetArrayItem(m, 1)->valuestring);
            v->merge_str[v->nmerges++] = at;
            at += k + 1;
        }
    }
    return CLFT_OK;
}

/* SentencePiece scores: -k for the token made by merge k (the first merge making it), 0 otherwise */
static clft_status spm_scores(vocab *v, const cJSON *vmap) {
    for (int64_t i = 0; i < v->n; i++)
        v->score[i] = 0.0f;
    char *joined = NULL;
    size_t cap = 0;
    for (size_t k = v->nmerges; k-- > 0;) { /* last to first: the first merge wins */
        const char *s = v->merge_str[k], *sp = strchr(s, ' ');
        if (!sp) continue;
        size_t n = strlen(s);
        if (n > cap) {
            char *p = realloc(joined, n);
            if (!p) {
                free(joined);
                return clft_error(CLFT_STATUS_HOST_OOM, "GGUF vocab: out of host memory");
            }
            joined = p;
            cap = n;
        }
        memcpy(joined, s, (size_t)(sp - s));
        strcpy(joined + (sp - s), sp + 1);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(vmap, joined);
        if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < (double)v->n)
            v->score[(int64_t)id->valuedouble] = -(float)k;
    }
    free(joined);
    return CLFT_OK;
}

/* Whether a post-processor (TemplateProcessing, also inside a Sequence) puts a special token before
 * (*bos) and after (*eos: 1, else left as it was) a single sequence. */
static void template_specials(const cJSON *pp, int *bos, int *eos) {
    if (!pp || cJSON_IsNull(pp)) return;
    if (is_type(pp, "Sequence")) {
        int n = 0;
        const cJSON *a = seq_items(pp, "processors", &n);
        for (int i = 0; i < n; i++)
            template_specials(cJSON_GetArrayItem(a, i), bos, eos);
        return;
    }
    if (!is_type(pp, "TemplateProcessing")) return;
    const cJSON *single = cJSON_GetObjectItem(pp, "single");
    int n = cJSON_IsArray(single) ? cJSON_GetArraySize(single) : 0;
    if (n == 0) return;
    *bos = cJSON_GetObjectItem(cJSON_GetArrayItem(single, 0), "SpecialToken") != NULL;
    if (n > 1 && cJSON_GetObjectItem(cJSON_GetArrayItem(single, n - 1), "SpecialToken")) *eos = 1;
}

static int64_t cfg_id(int64_t id, int64_t n) { return id >= 0 && id < n ? id : -1; }

clft_status clft_gguf_add_hf_tokenizer(clft_gguf_writer *w, const char *dir, const clft_model_config *cfg) {
    clft_status s = CLFT_OK;
    cJSON *tj = read_json(dir, "tokenizer.json", 1, &s);
    if (!tj) return s;
    cJSON *tc = read_json(dir, "tokenizer_config.json", 0, &s);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    vocab v;
    memset(&v, 0, sizeof v);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
    const cJSON *vmap = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
    if (!s && (!is_type(model, "BPE") || !cJSON_IsObject(vmap)))
        s = clft_error(CLFT_STATUS_UNSUPPORTED, "%s: model.type is not BPE with a vocab (GGUF export writes BPE only)",
                       path);
    const int spm = !s && cJSON_IsTrue(cJSON_GetObjectItem(model, "byte_fallback"));
    const char *pre = NULL;
    if (!s && !spm) {
        pre = pre_name(cJSON_GetObjectItemCaseSensitive(tj, "pre_tokenizer"));
        if (!pre)
            s = clft_error(CLFT_STATUS_UNSUPPORTED,
                           "%s: pre_tokenizer not recognised (known: ByteLevel, Digits+ByteLevel, the Llama-3 and "
                           "Qwen2 splits): llama.cpp needs its tokenizer.ggml.pre name",
                           path);
    }
    /* the size: the model's vocab_size, or more when the tokenizer has more ids */
    if (!s) {
        int64_t n = cfg->vocab_size;
        const cJSON *e;
        cJSON_ArrayForEach(e, vmap) if (cJSON_IsNumber(e) && e->valuedouble + 1 > (double)n) n = (int64_t)e->valuedouble + 1;
        cJSON_ArrayForEach(e, added) {
            const cJSON *id = cJSON_GetObjectItem(e, "id");
            if (cJSON_IsNumber(id) && id->valuedouble + 1 > (double)n) n = (int64_t)id->valuedouble + 1;
        }
        if (n > cfg->vocab_size)
            s = clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: token ids up to %lld, the model's vocab_size is %lld", path,
                           (long long)(n - 1), (long long)cfg->vocab_size);
        v.n = n;
        v.tok = clft_calloc((size_t)n, sizeof *v.tok);
        v.type = clft_calloc((size_t)n, sizeof *v.type);
        v.score = clft_calloc((size_t)n, sizeof *v.score);
        if (!s && (!v.tok || !v.type || !v.score)) s = CLFT_STATUS_HOST_OOM;
    }
    if (!s) {
        const cJSON *e;
        cJSON_ArrayForEach(e, vmap) {
            if (!cJSON_IsNumber(e)) {
                s = clft_error(CLFT_STATUS_FORMAT, "%s: model.vocab['%s'] is not a number", path, e->string);
                break;
            }
            int64_t id = (int64_t)e->valuedouble;
            s = set_tok(&v, path, id, e->string);
            if (s) break;
            const size_t l = strlen(e->string);
            v.type[id] = spm && l == 6 && !strncmp(e->string, "<0x", 3) && e->string[5] == '>' ? TT_BYTE : TT_NORMAL;
        }
    }
    if (!s) {
        const cJSON *unk = cJSON_GetObjectItem(model, "unk_token");
        const cJSON *e;
        cJSON_ArrayForEach(e, added) {
            const cJSON *id = cJSON_GetObjectItem(e, "id"), *c = cJSON_GetObjectItem(e, "content");
            if (!cJSON_IsNumber(id) || !cJSON_IsString(c)) {
                s = clft_error(CLFT_STATUS_FORMAT, "%s: added_tokens: an entry without id or content", path);
                break;
            }
            int64_t i = (int64_t)id->valuedouble;
            s = set_tok(&v, path, i, c->valuestring);
            if (s) break;
            v.type[i] = cJSON_IsTrue(cJSON_GetObjectItem(e, "special")) ? TT_CONTROL : TT_USER_DEFINED;
            if (cJSON_IsString(unk) && !strcmp(unk->valuestring, c->valuestring)) v.type[i] = TT_UNKNOWN;
        }
    }
    for (int64_t i = 0; i < v.n && !s; i++) {
        if (v.tok[i]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
        s = set_tok(&v, path, i, pad);
        v.type[i] = TT_UNUSED;
    }
    if (!s) s = read_merges(&v, cJSON_GetObjectItemCaseSensitive(model, "merges"), path);
    if (!s && spm) s = spm_scores(&v, vmap);

    /* the metadata, in the order of llama.cpp's converter */
    if (!s) s = clft_gguf_add_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    if (!s && pre) s = clft_gguf_add_str(w, "tokenizer.ggml.pre", pre);
    if (!s) s = clft_gguf_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tok, NULL, (uint64_t)v.n);
    if (!s && spm) s = clft_gguf_add_arr(w, "tokenizer.ggml.scores", CLFT_GGUF_FLOAT32, v.score, (uint64_t)v.n);
    if (!s) s = clft_gguf_add_arr(w, "tokenizer.ggml.token_type", CLFT_GGUF_INT32, v.type, (uint64_t)v.n);
    if (!s && !spm) /* llama.cpp's SentencePiece tokenizer merges by the scores */
        s = clft_gguf_add_arr_str(w, "tokenizer.ggml.merges", v.merge_str, NULL, (uint64_t)v.nmerges);
    const int64_t bos = cfg_id(cfg->bos_token_id, v.n), eos = cfg->n_eos ? cfg_id(cfg->eos_token_ids[0], v.n) : -1;
    const int64_t pad = cfg_id(cfg->pad_token_id, v.n);
    if (!s && bos >= 0) s = clft_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (!s && eos >= 0) s = clft_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    for (int64_t i = 0; i < v.n && !s; i++)
        if (v.type[i] == TT_UNKNOWN) {
            s = clft_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)i);
            break;
        }
    if (!s && pad >= 0) s = clft_gguf_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    if (!s && spm) {
        /* add_space_prefix: the legacy Prepend normalizer or Metaspace with prepend_scheme first/always */
        const cJSON *norm = cJSON_GetObjectItemCaseSensitive(tj, "normalizer"),
                    *pt = cJSON_GetObjectItemCaseSensitive(tj, "pre_tokenizer");
        char *ns = norm ? cJSON_PrintUnformatted(norm) : NULL, *ps = pt ? cJSON_PrintUnformatted(pt) : NULL;
        int prefix = (ns && strstr(ns, "\"Prepend\"")) ||
                     (ps && strstr(ps, "\"Metaspace\"") && !strstr(ps, "\"prepend_scheme\":\"never\""));
        free(ns);
        free(ps);
        s = clft_gguf_add_bool(w, "tokenizer.ggml.add_space_prefix", prefix);
    }
    if (!s) {
        /* add_bos/add_eos: tokenizer_config.json's flags, else what tokenizer.json's post-processor adds
         * (llama.cpp's defaults differ by pre-tokenizer: llama-bpe adds a BOS the tokenizer may not) */
        int bos_add = 0, eos_add = -1;
        template_specials(cJSON_GetObjectItemCaseSensitive(tj, "post_processor"), &bos_add, &eos_add);
        const cJSON *b = tc ? cJSON_GetObjectItem(tc, "add_bos_token") : NULL;
        const cJSON *e = tc ? cJSON_GetObjectItem(tc, "add_eos_token") : NULL;
        if (cJSON_IsBool(b)) bos_add = cJSON_IsTrue(b);
        if (cJSON_IsBool(e)) eos_add = cJSON_IsTrue(e);
        s = clft_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", bos_add);
        if (!s && eos_add >= 0) s = clft_gguf_add_bool(w, "tokenizer.ggml.add_eos_token", eos_add);
    }
    if (!s && tc) {
        const cJSON *ct = cJSON_GetObjectItem(tc, "chat_template");
        if (!s && cJSON_IsArray(ct)) { /* [{"name": ..., "template": ...}]: the default one */
            const cJSON *t, *pick = NULL;
            cJSON_ArrayForEach(t, ct) {
                const cJSON *nm = cJSON_GetObjectItem(t, "name");
                if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default")) pick = t;
            }
            ct = pick ? cJSON_GetObjectItem(pick, "template") : NULL;
        }
        if (!s && cJSON_IsString(ct)) s = clft_gguf_add_str(w, "tokenizer.chat_template", ct->valuestring);
    }
    vocab_free(&v);
    cJSON_Delete(tj);
    cJSON_Delete(tc);
    return s;
}
