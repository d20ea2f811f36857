/* model_init.c - `clft init`: writes a complete, random-initialized Hugging Face model folder
 * (config.json, generation_config.json, model.safetensors or shards + index, tokenizer.json,
 * tokenizer_config.json) from a preset or a config.json, as transformers would save a freshly
 * constructed model: normal(0, initializer_range) for linear and embedding weights (the padding row
 * of the embedding zeroed), ones for RMSNorm weights, zeros for biases. The random numbers come from a
 * counter-based generator keyed by (seed, tensor name, element index), so the output does not depend
 * on chunking or threads. Without a tokenizer folder a byte-level BPE tokenizer (256 byte tokens, no
 * merges, the special tokens the built-in chat templates need) is written so every preset works alone. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "ref/ref.h"

/* ---- presets ----------------------------------------------------------------------------------- */
typedef enum chat_style { STYLE_LLAMA2 = 0, STYLE_MISTRAL, STYLE_LLAMA3, STYLE_CHATML } chat_style;

typedef struct preset {
    const char *name;
    clft_arch arch;
    int64_t vocab, hidden, inter, layers, heads, kv, max_pos;
    double rms_eps, rope_theta;
    int64_t sliding_window, bos, eos, pad;
    const char *torch_dtype;
    chat_style style;
} preset;

/* Real values from the models' config.json files (FORMATS.md section 7). bos/eos/pad are the real
 * tokenizers' ids; with the built-in byte tokenizer they are replaced by its ids. */
static const preset PRESETS[] = {
    {"tiny", CLFT_ARCH_LLAMA, 512, 64, 128, 2, 4, 2, 2048, 1e-5, 10000.0, 0, 1, 2, -1, "float32", STYLE_LLAMA2},
    {"small", CLFT_ARCH_LLAMA, 32000, 768, 2048, 12, 12, 4, 2048, 1e-5, 10000.0, 0, 1, 2, -1, "float32", STYLE_LLAMA2},
    {"llama-2-7b", CLFT_ARCH_LLAMA, 32000, 4096, 11008, 32, 32, 32, 4096, 1e-5, 10000.0, 0, 1, 2, -1, "float16",
     STYLE_LLAMA2},
    {"llama-2-13b", CLFT_ARCH_LLAMA, 32000, 5120, 13824, 40, 40, 40, 4096, 1e-5, 10000.0, 0, 1, 2, -1, "float16",
     STYLE_LLAMA2},
    {"mistral-7b", CLFT_ARCH_MISTRAL, 32000, 4096, 14336, 32, 32, 8, 32768, 1e-5, 10000.0, 4096, 1, 2, -1, "bfloat16",
     STYLE_MISTRAL},
    {"llama-3-8b", CLFT_ARCH_LLAMA, 128256, 4096, 14336, 32, 32, 8, 8192, 1e-5, 500000.0, 0, 128000, 128009, -1,
     "bfloat16", STYLE_LLAMA3},
    {"llama-3.1-8b", CLFT_ARCH_LLAMA, 128256, 4096, 14336, 32, 32, 8, 131072, 1e-5, 500000.0, 0, 128000, 128009, -1,
     "bfloat16", STYLE_LLAMA3},
    {"llama-3-70b", CLFT_ARCH_LLAMA, 128256, 8192, 28672, 80, 64, 8, 8192, 1e-5, 500000.0, 0, 128000, 128009, -1,
     "bfloat16", STYLE_LLAMA3},
    {"qwen2.5-7b", CLFT_ARCH_QWEN2, 152064, 3584, 18944, 28, 28, 4, 131072, 1e-6, 1000000.0, 0, 151643, 151643, -1,
     "bfloat16", STYLE_CHATML},
};
#define NPRESETS (sizeof PRESETS / sizeof PRESETS[0])

const char *clft_model_preset_name(size_t index) { return index < NPRESETS ? PRESETS[index].name : NULL; }

static void preset_to_config(const preset *p, clft_model_config *c) {
    clft_model_config_defaults(p->arch, c);
    c->vocab_size = p->vocab, c->hidden_size = p->hidden, c->intermediate_size = p->inter;
    c->num_layers = p->layers, c->num_heads = p->heads, c->num_kv_heads = p->kv;
    c->head_dim = p->hidden / p->heads;
    c->max_position_embeddings = p->max_pos;
    c->rms_norm_eps = p->rms_eps, c->rope_theta = p->rope_theta;
    c->sliding_window = p->sliding_window;
    c->bos_token_id = p->bos, c->pad_token_id = p->pad;
    c->eos_token_ids[0] = p->eos, c->n_eos = 1;
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", p->torch_dtype);
    if (!strcmp(p->name, "llama-3.1-8b")) { /* Meta-Llama-3.1-8B-Instruct */
        c->rope_scaling.type = CLFT_ROPE_LLAMA3;
        c->rope_scaling.factor = 8.0, c->rope_scaling.low_freq_factor = 1.0, c->rope_scaling.high_freq_factor = 4.0;
        c->rope_scaling.original_max_position_embeddings = 8192;
        c->eos_token_ids[0] = 128001, c->eos_token_ids[1] = 128008, c->eos_token_ids[2] = 128009, c->n_eos = 3;
    }
}

clft_status clft_model_preset_config(const char *name, clft_model_config *cfg) {
    for (size_t i = 0; i < NPRESETS; i++)
        if (name && !strcmp(name, PRESETS[i].name)) {
            preset_to_config(&PRESETS[i], cfg);
            return CLFT_OK;
        }
    char list[512];
    size_t k = 0;
    for (size_t i = 0; i < NPRESETS && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", PRESETS[i].name);
    return clft_error(CLFT_STATUS_NOT_FOUND, "no preset '%s' (presets: %s)", name ? name : "(null)", list);
}

/* ---- byte-level tokenizer ---------------------------------------------------------------------- */
/* ids 0..255 are the bytes (GPT-2 bytes_to_unicode characters); then these added special tokens */
static const char *const SPECIALS[] = {"<s>",
                                       "</s>",
                                       "<pad>",
                                       "<|im_start|>",
                                       "<|im_end|>",
                                       "<|endoftext|>",
                                       "<|begin_of_text|>",
                                       "<|end_of_text|>",
                                       "<|start_header_id|>",
                                       "<|end_header_id|>",
                                       "<|eot_id|>",
                                       "[INST]",
                                       "[/INST]"};
#define NSPECIALS           (sizeof SPECIALS / sizeof SPECIALS[0])
#define BYTE_TOKENIZER_SIZE (256 + (int64_t)NSPECIALS)

static int64_t special_id(const char *tok) {
    for (size_t i = 0; i < NSPECIALS; i++)
        if (!strcmp(SPECIALS[i], tok)) return 256 + (int64_t)i;
    return -1;
}

/* Jinja sources as they appear in the models' tokenizer_config.json (FORMATS.md section 6); "\\n" is
 * a backslash-n inside a Jinja string literal. */
static const char TPL_LLAMA2[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
static const char TPL_MISTRAL[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are "
    "supported!') }}{% endif %}{% endfor %}";
static const char TPL_LLAMA3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
static const char TPL_CHATML[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou "
    "are a helpful assistant<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' }}{% endif %}";

typedef struct style_tokens {
    const char *bos, *eos, *pad, *tpl;
} style_tokens;

static style_tokens style_of(chat_style s) {
    style_tokens t = {"<s>", "</s>", NULL, TPL_LLAMA2};
    if (s == STYLE_MISTRAL) t.tpl = TPL_MISTRAL;
    if (s == STYLE_LLAMA3) t = (style_tokens){"<|begin_of_text|>", "<|eot_id|>", NULL, TPL_LLAMA3};
    if (s == STYLE_CHATML) t = (style_tokens){NULL, "<|im_end|>", "<|endoftext|>", TPL_CHATML};
    return t;
}

static void utf8_put(char *dst, uint32_t cp) {
    if (cp < 0x80)
        dst[0] = (char)cp, dst[1] = 0;
    else
        dst[0] = (char)(0xC0 | (cp >> 6)), dst[1] = (char)(0x80 | (cp & 0x3F)), dst[2] = 0;
}

/* GPT-2 bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100 + n in order */
static uint32_t byte_char(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256u + (uint32_t)n;
}

static cJSON *added_token_json(int64_t id, const char *content, int with_id) {
    cJSON *o = cJSON_CreateObject();
    if (with_id) cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "content", content);
    cJSON_AddBoolToObject(o, "single_word", 0);
    cJSON_AddBoolToObject(o, "lstrip", 0);
    cJSON_AddBoolToObject(o, "rstrip", 0);
    cJSON_AddBoolToObject(o, "normalized", 0);
    cJSON_AddBoolToObject(o, "special", 1);
    return o;
}

static cJSON *byte_level(int prefix, int trim, int regex) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", prefix);
    cJSON_AddBoolToObject(o, "trim_offsets", trim);
    cJSON_AddBoolToObject(o, "use_regex", regex);
    return o;
}

static cJSON *special_piece(const char *tok, int type_id) {
    cJSON *p = cJSON_CreateObject(), *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "id", tok);
    cJSON_AddNumberToObject(in, "type_id", type_id);
    cJSON_AddItemToObject(p, "SpecialToken", in);
    return p;
}

static cJSON *seq_piece(const char *id, int type_id) {
    cJSON *p = cJSON_CreateObject(), *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "id", id);
    cJSON_AddNumberToObject(in, "type_id", type_id);
    cJSON_AddItemToObject(p, "Sequence", in);
    return p;
}

static clft_status write_json(const char *dir, const char *name, cJSON *root) {
    char *text = root ? cJSON_Print(root) : NULL;
    if (!text) return clft_error(CLFT_STATUS_HOST_OOM, "out of memory rendering %s", name);
    size_t n = strlen(text);
    char *withnl = clft_malloc(n + 2);
    clft_status s = CLFT_STATUS_HOST_OOM;
    if (withnl) {
        memcpy(withnl, text, n);
        withnl[n] = '\n';
        withnl[n + 1] = 0;
        char *p = clft_io_join(dir, name);
        s = p ? clft_io_write_atomic(p, withnl, n + 1) : CLFT_STATUS_HOST_OOM;
        free(p);
    }
    free(withnl);
    cJSON_free(text);
    return s;
}

static clft_status write_byte_tokenizer(const char *dir, chat_style style, int64_t max_len) {
    style_tokens st = style_of(style);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (size_t i = 0; i < NSPECIALS; i++)
        cJSON_AddItemToArray(added, added_token_json(256 + (int64_t)i, SPECIALS[i], 1));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", byte_level(0, 1, 1));
    if (st.bos) { /* prepend BOS like the Llama tokenizers' TemplateProcessing */
        cJSON *pp = cJSON_CreateObject();
        cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
        cJSON *single = cJSON_AddArrayToObject(pp, "single");
        cJSON_AddItemToArray(single, special_piece(st.bos, 0));
        cJSON_AddItemToArray(single, seq_piece("A", 0));
        cJSON *pair = cJSON_AddArrayToObject(pp, "pair");
        cJSON_AddItemToArray(pair, special_piece(st.bos, 0));
        cJSON_AddItemToArray(pair, seq_piece("A", 0));
        cJSON_AddItemToArray(pair, special_piece(st.bos, 1));
        cJSON_AddItemToArray(pair, seq_piece("B", 1));
        cJSON *sp = cJSON_AddObjectToObject(pp, "special_tokens");
        cJSON *e = cJSON_AddObjectToObject(sp, st.bos);
        cJSON_AddStringToObject(e, "id", st.bos);
        cJSON *ids = cJSON_AddArrayToObject(e, "ids");
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)special_id(st.bos)));
        cJSON *toks = cJSON_AddArrayToObject(e, "tokens");
        cJSON_AddItemToArray(toks, cJSON_CreateString(st.bos));
        cJSON_AddItemToObject(root, "post_processor", pp);
    } else {
        cJSON_AddItemToObject(root, "post_processor", byte_level(0, 0, 0));
    }
    cJSON_AddItemToObject(root, "decoder", byte_level(1, 1, 1));
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char ch[4];
        utf8_put(ch, byte_char(b));
        cJSON_AddNumberToObject(vocab, ch, b);
    }
    cJSON_AddArrayToObject(model, "merges");
    clft_status s = write_json(dir, "tokenizer.json", root);
    cJSON_Delete(root);
    if (s) return s;

    cJSON *tc = cJSON_CreateObject();
    cJSON_AddBoolToObject(tc, "add_bos_token", st.bos != NULL);
    cJSON_AddBoolToObject(tc, "add_eos_token", 0);
    cJSON *dec = cJSON_AddObjectToObject(tc, "added_tokens_decoder");
    for (size_t i = 0; i < NSPECIALS; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", 256 + (int)i);
        cJSON_AddItemToObject(dec, key, added_token_json(0, SPECIALS[i], 0));
    }
    if (st.bos)
        cJSON_AddStringToObject(tc, "bos_token", st.bos);
    else
        cJSON_AddNullToObject(tc, "bos_token");
    cJSON_AddStringToObject(tc, "chat_template", st.tpl);
    cJSON_AddBoolToObject(tc, "clean_up_tokenization_spaces", 0);
    cJSON_AddStringToObject(tc, "eos_token", st.eos);
    cJSON_AddNumberToObject(tc, "model_max_length", (double)max_len);
    if (st.pad)
        cJSON_AddStringToObject(tc, "pad_token", st.pad);
    else
        cJSON_AddNullToObject(tc, "pad_token");
    cJSON_AddStringToObject(tc, "tokenizer_class", "PreTrainedTokenizerFast");
    s = write_json(dir, "tokenizer_config.json", tc);
    cJSON_Delete(tc);
    return s;
}

/* ---- copying a tokenizer folder ---------------------------------------------------------------- */
static const char *const TOKENIZER_FILES[] = {"tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
                                              "tokenizer.model", "added_tokens.json",     "vocab.json",
                                              "merges.txt"};

typedef struct tok_info {
    int64_t size;          /* highest id + 1 in tokenizer.json; 0 when unknown */
    int64_t bos, eos, pad; /* -2: not named by tokenizer_config.json; -1: named but not found; -3: null */
} tok_info;

static const char *token_string(const cJSON *j) {
    if (cJSON_IsString(j)) return j->valuestring;
    if (cJSON_IsObject(j)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static int64_t token_id(const cJSON *tok, const char *s) {
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content"),
                    *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (cJSON_IsString(c) && cJSON_IsNumber(id) && !strcmp(c->valuestring, s)) return (int64_t)id->valuedouble;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model");
    const cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    const cJSON *v = vocab && cJSON_IsObject(vocab) ? cJSON_GetObjectItemCaseSensitive(vocab, s) : NULL;
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static clft_status inspect_tokenizer(const char *src, tok_info *ti) {
    ti->size = 0;
    ti->bos = ti->eos = ti->pad = -2;
    char *path = clft_io_join(src, "tokenizer.json");
    if (!path) return CLFT_STATUS_HOST_OOM;
    char *text = NULL;
    size_t len = 0;
    clft_status s = CLFT_OK;
    if (access(path, F_OK) != 0) {
        free(path);
        char *model = clft_io_join(src, "tokenizer.model");
        int has = model && access(model, F_OK) == 0;
        free(model);
        if (!has)
            return clft_error(CLFT_STATUS_NOT_FOUND, "%s: no tokenizer.json or tokenizer.model in the tokenizer folder",
                              src);
        clft_log(CLFT_LOG_WARN, "%s: only tokenizer.model: vocab_size is not checked against the tokenizer", src);
        return CLFT_OK;
    }
    s = clft_io_read_file(path, &text, &len);
    cJSON *tok = s ? NULL : cJSON_ParseWithLength(text, len);
    if (!s && !cJSON_IsObject(tok)) s = clft_error(CLFT_STATUS_FORMAT, "%s: not a JSON object", path);
    if (!s) {
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model");
        const cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
        const cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
        for (const cJSON *v = vocab ? vocab->child : NULL; v; v = v->next) /* object (BPE) or list (Unigram) */
            if (cJSON_IsNumber(v) && v->valuedouble + 1 > (double)ti->size) ti->size = (int64_t)v->valuedouble + 1;
        if (cJSON_IsArray(vocab) && cJSON_GetArraySize(vocab) > ti->size) ti->size = cJSON_GetArraySize(vocab);
        for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
            if (cJSON_IsNumber(id) && id->valuedouble + 1 > (double)ti->size) ti->size = (int64_t)id->valuedouble + 1;
        }
        /* special tokens named by tokenizer_config.json */
        char *cpath = clft_io_join(src, "tokenizer_config.json");
        char *ctext = NULL;
        size_t clen = 0;
        if (cpath && access(cpath, F_OK) == 0 && clft_io_read_file(cpath, &ctext, &clen) == CLFT_OK) {
            cJSON *tc = cJSON_ParseWithLength(ctext, clen);
            const char *keys[3] = {"bos_token", "eos_token", "pad_token"};
            int64_t *dst[3] = {&ti->bos, &ti->eos, &ti->pad};
            for (int k = 0; k < 3 && tc; k++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(tc, keys[k]);
                const char *str = token_string(v);
                if (str)
                    *dst[k] = token_id(tok, str);
                else if (cJSON_IsNull(v))
                    *dst[k] = -3;
            }
            cJSON_Delete(tc);
        }
        free(ctext);
        free(cpath);
    }
    cJSON_Delete(tok);
    free(text);
    free(path);
    return s;
}

clft_status clft_io_copy_tokenizer(const char *src, const char *dir) {
    for (size_t i = 0; i < sizeof TOKENIZER_FILES / sizeof TOKENIZER_FILES[0]; i++)
        CLFT_CHECK(clft_io_copy_if_present(src, dir, TOKENIZER_FILES[i]));
    return CLFT_OK;
}

/* ---- weights ----------------------------------------------------------------------------------- */
static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

typedef struct init_ctx {
    const clft_hf_tensor *list;
    clft_st_dtype dtype;
    uint64_t seed;
    double std;
    int64_t pad_row; /* embedding row zeroed (padding_idx), -1: none */
    int64_t hidden;
    int threads;
} init_ctx;

/* element i of a normal(0,1) stream keyed by key: Box-Muller on the counter pair (2k, 2k+1) */
static double normal_at(uint64_t key, uint64_t i, double *cache_z1, uint64_t *cache_k) {
    uint64_t k = i >> 1;
    if (*cache_k != k || !(i & 1)) {
        double u1 = ((double)(splitmix(key + 2 * k) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double u2 = ((double)(splitmix(key + 2 * k + 1) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        *cache_k = k;
        *cache_z1 = r * sin(a);
        if (!(i & 1)) return r * cos(a);
    }
    return *cache_z1;
}

static void fill_range(const init_ctx *c, size_t index, uint64_t start, uint64_t n, unsigned char *out) {
    const clft_hf_tensor *t = &c->list[index];
    uint64_t key = splitmix(c->seed ^ clft_fnv1a(CLFT_FNV_INIT, t->name, strlen(t->name)));
    double z1 = 0;
    uint64_t ck = UINT64_MAX;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t i = start + j;
        float v;
        if (t->role == CLFT_ROLE_NORM)
            v = 1.0f;
        else if (t->role == CLFT_ROLE_BIAS)
            v = 0.0f;
        else if (t->role == CLFT_ROLE_EMBEDDING && c->pad_row >= 0 && i / (uint64_t)c->hidden == (uint64_t)c->pad_row)
            v = 0.0f;
        else
            v = (float)(c->std * normal_at(key, i, &z1, &ck));
        if (c->dtype == CLFT_ST_F32)
            memcpy(out + 4 * j, &v, 4);
        else {
            uint16_t h = c->dtype == CLFT_ST_F16 ? clft_ref_f32_to_f16(v) : clft_ref_f32_to_bf16(v);
            memcpy(out + 2 * j, &h, 2);
        }
    }
}

/* A chunk of tensor `index`: its elements start .. start+n-1 into out (threads take sub-ranges). */
typedef struct fill_job {
    const init_ctx *c;
    size_t index;
    uint64_t start;
    unsigned char *out;
    int es;
} fill_job;

static void fill_part(void *arg, int64_t a, int64_t b) {
    const fill_job *j = arg;
    fill_range(j->c, j->index, j->start + (uint64_t)a, (uint64_t)(b - a), j->out + (uint64_t)a * (uint64_t)j->es);
}

#define FILL_MAX_THREADS 32

/* The values depend only on (seed, name, element), so splitting a chunk over threads changes nothing
 * in the output. */
static clft_status init_fill(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    const init_ctx *c = user;
    const int es = clft_st_dtype_bits(c->dtype) / 8;
    const uint64_t n = bytes / (uint64_t)es;
    int nt = c->threads < 1 ? 1 : c->threads > FILL_MAX_THREADS ? FILL_MAX_THREADS : c->threads;
    if (n < 65536) nt = 1;
    fill_job job = {c, index, offset / (uint64_t)es, dst, es};
    clft_parallel_ranges((int64_t)n, nt, fill_part, &job);
    return CLFT_OK;
}

/* ---- folder ------------------------------------------------------------------------------------ */
static int is_weight_file(const char *n) {
    size_t len = strlen(n);
    if (!strcmp(n, "model.safetensors.index.json")) return 1;
    return strncmp(n, "model", 5) == 0 && len > 12 && !strcmp(n + len - 12, ".safetensors");
}

/* Create dir if needed; refuse a non-empty one unless force, and then remove stale weight files. */
clft_status clft_io_prepare_dir(const char *dir, int force) {
    struct stat sb;
    if (stat(dir, &sb) != 0) { /* mkdir -p */
        char *p = clft_strdup(dir);
        if (!p) return CLFT_STATUS_HOST_OOM;
        int rc = 0;
        for (char *q = p + 1; *q && rc == 0; q++)
            if (*q == '/') {
                *q = '\0';
                if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
                *q = '/';
            }
        if (rc == 0 && mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
        free(p);
        if (rc != 0) return clft_error(CLFT_STATUS_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
        return CLFT_OK;
    }
    if (!S_ISDIR(sb.st_mode)) return clft_error(CLFT_STATUS_IO, "%s: exists and is not a folder", dir);
    DIR *d = opendir(dir);
    if (!d) return clft_error(CLFT_STATUS_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
    int nonempty = 0;
    clft_status s = CLFT_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        nonempty = 1;
        if (force && is_weight_file(e->d_name)) {
            char *p = clft_io_join(dir, e->d_name);
            if (p && unlink(p) != 0) s = clft_error(CLFT_STATUS_IO, "%s: cannot remove: %s", p, strerror(errno));
            free(p);
        }
    }
    closedir(d);
    if (s) return s;
    if (nonempty && !force)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: the folder is not empty (use --force to write into it)",
                          dir);
    return CLFT_OK;
}

clft_model_init_params clft_model_init_default_params(void) {
    clft_model_init_params p;
    memset(&p, 0, sizeof p);
    p.dtype = CLFT_DTYPE_F32;
    return p;
}

static chat_style style_for_config(const clft_model_config *c, const char *preset_name) {
    for (size_t i = 0; preset_name && i < NPRESETS; i++)
        if (!strcmp(preset_name, PRESETS[i].name)) return PRESETS[i].style;
    if (c->arch == CLFT_ARCH_MISTRAL) return STYLE_MISTRAL;
    if (c->arch == CLFT_ARCH_QWEN2) return STYLE_CHATML;
    return c->vocab_size >= 128000 ? STYLE_LLAMA3 : STYLE_LLAMA2;
}

clft_status clft_model_init_write(const char *dir, const clft_model_init_params *params) {
    if (!dir || !params) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_init_write: NULL argument");
    const clft_model_init_params *p = params;
    if (!!p->preset == !!p->config_path)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "model init: give exactly one of a preset or a config file");
    clft_st_dtype dt;
    if (!(p->dtype == CLFT_DTYPE_F32 || p->dtype == CLFT_DTYPE_F16 || p->dtype == CLFT_DTYPE_BF16) ||
        !clft_st_dtype_from_clft(p->dtype, &dt))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "model init: dtype %s is not f32, f16 or bf16",
                          clft_dtype_name(p->dtype));
    clft_model_config cfg;
    if (p->preset)
        CLFT_CHECK(clft_model_preset_config(p->preset, &cfg));
    else
        CLFT_CHECK(clft_model_config_load(p->config_path, &cfg));
    chat_style style = style_for_config(&cfg, p->preset);
    snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "%s",
             dt == CLFT_ST_F32   ? "float32"
             : dt == CLFT_ST_F16 ? "float16"
                                 : "bfloat16");
    cfg.has_quantization_config = 0; /* a fresh model is not quantized */
    cfg.quant_method[0] = '\0';

    /* tokenizer: decides vocab_size (at least its size) and the special token ids */
    tok_info ti = {BYTE_TOKENIZER_SIZE, -2, -2, -2};
    if (p->tokenizer_dir) {
        CLFT_CHECK(inspect_tokenizer(p->tokenizer_dir, &ti));
        /* ids named by the tokenizer win; an explicit null clears; otherwise the preset's stay when
         * they fit the tokenizer */
        if (ti.bos >= 0 || ti.bos == -3) cfg.bos_token_id = ti.bos >= 0 ? ti.bos : -1;
        if (ti.eos >= 0) cfg.eos_token_ids[0] = ti.eos, cfg.n_eos = 1;
        if (ti.eos == -3) cfg.n_eos = 0;
        if (ti.pad >= 0 || ti.pad == -3) cfg.pad_token_id = ti.pad >= 0 ? ti.pad : -1;
        if (ti.size > 0) {
            if (cfg.bos_token_id >= ti.size) cfg.bos_token_id = -1;
            if (cfg.pad_token_id >= ti.size) cfg.pad_token_id = -1;
            if (cfg.n_eos > 0 && cfg.eos_token_ids[0] >= ti.size) cfg.n_eos = 0;
        }
    } else {
        style_tokens st = style_of(style);
        cfg.bos_token_id = st.bos ? special_id(st.bos) : -1;
        cfg.eos_token_ids[0] = special_id(st.eos), cfg.n_eos = 1;
        cfg.pad_token_id = st.pad ? special_id(st.pad) : -1;
    }
    if (ti.size > cfg.vocab_size) {
        clft_log(CLFT_LOG_INFO, "vocab_size raised from %lld to the tokenizer's %lld", (long long)cfg.vocab_size,
                 (long long)ti.size);
        cfg.vocab_size = ti.size;
    }
    CLFT_CHECK(clft_model_config_validate(&cfg, p->preset ? p->preset : p->config_path));
    CLFT_CHECK(clft_io_prepare_dir(dir, p->force));
    CLFT_CHECK(clft_model_config_write(dir, &cfg));
    if (p->tokenizer_dir)
        CLFT_CHECK(clft_io_copy_tokenizer(p->tokenizer_dir, dir));
    else
        CLFT_CHECK(write_byte_tokenizer(dir, style, cfg.max_position_embeddings));
    if (p->config_only) return CLFT_OK;

    clft_hf_tensor *list = NULL;
    size_t n = 0;
    CLFT_CHECK(clft_hf_tensor_list(&cfg, &list, &n));
    clft_st_out_tensor *out = clft_calloc(n, sizeof *out);
    if (!out) {
        free(list);
        return CLFT_STATUS_HOST_OOM;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].name = list[i].name;
        out[i].dtype = dt;
        out[i].ndim = list[i].ndim;
        out[i].shape[0] = list[i].shape[0];
        out[i].shape[1] = list[i].shape[1];
    }
    int threads = p->threads > 0 ? p->threads : clft_cpu_count();
    init_ctx ic = {list, dt, p->seed, cfg.initializer_range, cfg.pad_token_id, cfg.hidden_size, threads};
    clft_st_kv meta = {"format", "pt"};
    uint64_t max_shard = p->max_shard_bytes ? p->max_shard_bytes : 2000000000ULL;
    int nshards = 0;
    double t0 = clft_now_seconds();
    clft_status s = clft_st_write_model(dir, out, n, &meta, 1, max_shard, init_fill, &ic, &nshards);
    if (!s)
        clft_log(CLFT_LOG_INFO, "%s: %lld parameters in %d file(s), %.1f s", dir,
                 (long long)clft_model_config_num_params(&cfg), nshards, clft_now_seconds() - t0);
    free(out);
    free(list);
    return s;
}
