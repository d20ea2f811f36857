/* model_config.c - Hugging Face config.json / generation_config.json for Llama, Mistral and Qwen2
 * (reading with strict key and type checks, writing as transformers' save_pretrained does), the HF
 * tensor names and shapes a config implies, and the check that a checkpoint holds all of them.
 * Declarations: src/model/config.h. Keys and real values: FORMATS.md section 7. */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/gguf_model.h"
#include "io/io_util.h"
#include "io/safetensors.h"

#define TRANSFORMERS_VERSION "4.46.3" /* written into config.json like save_pretrained does */

static const char *const ARCH_NAMES[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
static const char *const ARCH_TYPES[] = {"llama", "mistral", "qwen2"};
#define NARCH     3
#define SUPPORTED "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"

const char *clft_arch_name(clft_arch arch) { return (unsigned)arch < NARCH ? ARCH_NAMES[arch] : "unknown"; }
const char *clft_arch_model_type(clft_arch arch) { return (unsigned)arch < NARCH ? ARCH_TYPES[arch] : "unknown"; }

void clft_model_config_defaults(clft_arch arch, clft_model_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000.0;
    c->initializer_range = 0.02;
    c->bos_token_id = -1;
    c->pad_token_id = -1;
    c->rope_scaling.factor = 1.0;
    switch (arch) {
    case CLFT_ARCH_LLAMA: /* LlamaConfig() */
        c->vocab_size = 32000, c->hidden_size = 4096, c->intermediate_size = 11008, c->num_layers = 32;
        c->num_heads = 32, c->num_kv_heads = 32, c->max_position_embeddings = 2048;
        c->bos_token_id = 1, c->eos_token_ids[0] = 2, c->n_eos = 1;
        break;
    case CLFT_ARCH_MISTRAL: /* MistralConfig() */
        c->vocab_size = 32000, c->hidden_size = 4096, c->intermediate_size = 14336, c->num_layers = 32;
        c->num_heads = 32, c->num_kv_heads = 8, c->max_position_embeddings = 4096 * 32;
        c->bos_token_id = 1, c->eos_token_ids[0] = 2, c->n_eos = 1;
        c->sliding_window = 4096;
        break;
    case CLFT_ARCH_QWEN2: /* Qwen2Config() */
        c->vocab_size = 151936, c->hidden_size = 4096, c->intermediate_size = 22016, c->num_layers = 32;
        c->num_heads = 32, c->num_kv_heads = 32, c->max_position_embeddings = 32768;
        c->max_window_layers = 28;
        c->qkv_bias = 1;
        break;
    }
    c->head_dim = c->hidden_size / c->num_heads;
}

clft_status clft_model_config_validate(const clft_model_config *c, const char *what) {
    const struct {
        const char *key;
        int64_t v;
    } pos[] = {{"vocab_size", c->vocab_size},
               {"hidden_size", c->hidden_size},
               {"intermediate_size", c->intermediate_size},
               {"num_hidden_layers", c->num_layers},
               {"num_attention_heads", c->num_heads},
               {"num_key_value_heads", c->num_kv_heads},
               {"head_dim", c->head_dim},
               {"max_position_embeddings", c->max_position_embeddings}};
    if ((unsigned)c->arch >= NARCH) return clft_error(CLFT_STATUS_FORMAT, "%s: invalid architecture", what);
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0 || pos[i].v > (INT64_C(1) << 31))
            return clft_error(CLFT_STATUS_FORMAT, "%s: %s = %lld is not a positive size", what, pos[i].key,
                              (long long)pos[i].v);
    if (c->num_layers > 10000)
        return clft_error(CLFT_STATUS_FORMAT, "%s: num_hidden_layers = %lld is implausibly large", what,
                          (long long)c->num_layers);
    if (c->num_heads % c->num_kv_heads)
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", what,
                          (long long)c->num_heads, (long long)c->num_kv_heads);
    if (c->arch == CLFT_ARCH_QWEN2 && c->head_dim * c->num_heads != c->hidden_size)
        return clft_error(CLFT_STATUS_FORMAT, "%s: Qwen2 needs head_dim (%lld) = hidden_size / num_attention_heads",
                          what, (long long)c->head_dim);
    if (c->head_dim % 2)
        return clft_error(CLFT_STATUS_FORMAT, "%s: head_dim %lld is odd (RoPE rotates pairs)", what,
                          (long long)c->head_dim);
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0) || !(c->initializer_range >= 0))
        return clft_error(CLFT_STATUS_FORMAT, "%s: rms_norm_eps, rope_theta must be positive", what);
    if (c->rope_scaling.type != CLFT_ROPE_NONE && !(c->rope_scaling.factor > 0))
        return clft_error(CLFT_STATUS_FORMAT, "%s: rope_scaling.factor must be positive", what);
    if (c->rope_scaling.type == CLFT_ROPE_LLAMA3 &&
        (!(c->rope_scaling.high_freq_factor > c->rope_scaling.low_freq_factor) ||
         c->rope_scaling.original_max_position_embeddings <= 0))
        return clft_error(CLFT_STATUS_FORMAT,
                          "%s: rope_scaling llama3 needs high_freq_factor > low_freq_factor and "
                          "original_max_position_embeddings > 0",
                          what);
    if (c->sliding_window < 0) return clft_error(CLFT_STATUS_FORMAT, "%s: sliding_window is negative", what);
    const int64_t ids[2] = {c->bos_token_id, c->pad_token_id};
    for (int i = 0; i < 2; i++)
        if (ids[i] >= c->vocab_size)
            return clft_error(CLFT_STATUS_FORMAT, "%s: %s %lld is not below vocab_size %lld", what,
                              i ? "pad_token_id" : "bos_token_id", (long long)ids[i], (long long)c->vocab_size);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] < 0 || c->eos_token_ids[i] >= c->vocab_size)
            return clft_error(CLFT_STATUS_FORMAT, "%s: eos_token_id %lld is not below vocab_size %lld", what,
                              (long long)c->eos_token_ids[i], (long long)c->vocab_size);
    return CLFT_OK;
}

/* ---- parsing ----------------------------------------------------------------------------------- */
typedef struct jctx {
    const cJSON *root;
    const char *what;
} jctx;

static const cJSON *jget(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int is_integer(const cJSON *j) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    return fabs(v) <= 9007199254740992.0 && v == floor(v);
}

/* integer key: absent or null -> *out unchanged (error if required) */
static clft_status jint(const jctx *c, const cJSON *o, const char *prefix, const char *key, int required,
                        int64_t *out) {
    const cJSON *j = jget(o, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return clft_error(CLFT_STATUS_FORMAT, "%s: missing required key '%s%s'", c->what, prefix, key);
        return CLFT_OK;
    }
    if (!is_integer(j))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s%s' must be an integer", c->what, prefix, key);
    *out = (int64_t)j->valuedouble;
    return CLFT_OK;
}

static clft_status jnum(const jctx *c, const cJSON *o, const char *prefix, const char *key, int required, double *out) {
    const cJSON *j = jget(o, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return clft_error(CLFT_STATUS_FORMAT, "%s: missing required key '%s%s'", c->what, prefix, key);
        return CLFT_OK;
    }
    if (!cJSON_IsNumber(j))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s%s' must be a number", c->what, prefix, key);
    *out = j->valuedouble;
    return CLFT_OK;
}

static clft_status jbool(const jctx *c, const char *key, int *out) {
    const cJSON *j = jget(c->root, key);
    if (!j || cJSON_IsNull(j)) return CLFT_OK;
    if (!cJSON_IsBool(j)) return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' must be true or false", c->what, key);
    *out = cJSON_IsTrue(j) ? 1 : 0;
    return CLFT_OK;
}

static clft_status jstr(const jctx *c, const char *key, const char **out) {
    const cJSON *j = jget(c->root, key);
    if (!j || cJSON_IsNull(j)) return CLFT_OK;
    if (!cJSON_IsString(j)) return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' must be a string", c->what, key);
    *out = j->valuestring;
    return CLFT_OK;
}

static clft_status parse_arch(const jctx *c, clft_arch *arch) {
    const cJSON *a = jget(c->root, "architectures");
    const char *name = NULL;
    if (a && !cJSON_IsNull(a)) {
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || !cJSON_IsString(cJSON_GetArrayItem(a, 0)))
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'architectures' must be a non-empty list of strings",
                              c->what);
        name = cJSON_GetArrayItem(a, 0)->valuestring;
        for (int i = 0; i < NARCH; i++)
            if (!strcmp(name, ARCH_NAMES[i])) {
                *arch = (clft_arch)i;
                return CLFT_OK;
            }
        return clft_error(CLFT_STATUS_FORMAT, "%s: architecture '%s' is not supported (supported: " SUPPORTED ")",
                          c->what, name);
    }
    const char *mt = NULL;
    CLFT_CHECK(jstr(c, "model_type", &mt));
    if (!mt)
        return clft_error(CLFT_STATUS_FORMAT, "%s: missing required key 'architectures' (or 'model_type')", c->what);
    for (int i = 0; i < NARCH; i++)
        if (!strcmp(mt, ARCH_TYPES[i])) {
            *arch = (clft_arch)i;
            return CLFT_OK;
        }
    return clft_error(CLFT_STATUS_FORMAT,
                      "%s: model_type '%s' is not supported (supported: llama, mistral, qwen2 - " SUPPORTED ")",
                      c->what, mt);
}

static clft_status parse_rope(const jctx *c, clft_model_config *cfg) {
    const cJSON *rs = jget(c->root, "rope_scaling");
    const char *key = "rope_scaling";
    if (!rs || cJSON_IsNull(rs)) {
        rs = jget(c->root, "rope_parameters"); /* transformers >= 4.57 */
        key = "rope_parameters";
    }
    if (!rs || cJSON_IsNull(rs)) return CLFT_OK;
    if (!cJSON_IsObject(rs)) return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' must be an object", c->what, key);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", key);
    const cJSON *t = jget(rs, "rope_type");
    if (!t || cJSON_IsNull(t)) t = jget(rs, "type");
    if (!t || !cJSON_IsString(t))
        return clft_error(CLFT_STATUS_FORMAT, "%s: missing required key '%s.rope_type'", c->what, key);
    if (!strcmp(key, "rope_parameters")) CLFT_CHECK(jnum(c, rs, prefix, "rope_theta", 0, &cfg->rope_theta));
    const char *type = t->valuestring;
    if (!strcmp(type, "default")) return CLFT_OK;
    if (!strcmp(type, "linear")) {
        cfg->rope_scaling.type = CLFT_ROPE_LINEAR;
        return jnum(c, rs, prefix, "factor", 1, &cfg->rope_scaling.factor);
    }
    if (!strcmp(type, "llama3")) {
        cfg->rope_scaling.type = CLFT_ROPE_LLAMA3;
        CLFT_CHECK(jnum(c, rs, prefix, "factor", 1, &cfg->rope_scaling.factor));
        CLFT_CHECK(jnum(c, rs, prefix, "low_freq_factor", 1, &cfg->rope_scaling.low_freq_factor));
        CLFT_CHECK(jnum(c, rs, prefix, "high_freq_factor", 1, &cfg->rope_scaling.high_freq_factor));
        return jint(c, rs, prefix, "original_max_position_embeddings", 1,
                    &cfg->rope_scaling.original_max_position_embeddings);
    }
    return clft_error(CLFT_STATUS_FORMAT, "%s: %s type '%s' is not supported (supported: default, linear, llama3)",
                      c->what, key, type);
}

static clft_status parse_ids(const jctx *c, clft_model_config *cfg) {
    CLFT_CHECK(jint(c, c->root, "", "bos_token_id", 0, &cfg->bos_token_id));
    const cJSON *b = jget(c->root, "bos_token_id");
    if (b && cJSON_IsNull(b)) cfg->bos_token_id = -1;
    const cJSON *p = jget(c->root, "pad_token_id");
    if (p && !cJSON_IsNull(p)) CLFT_CHECK(jint(c, c->root, "", "pad_token_id", 0, &cfg->pad_token_id));
    const cJSON *e = jget(c->root, "eos_token_id");
    if (!e) return CLFT_OK;
    cfg->n_eos = 0;
    if (cJSON_IsNull(e)) return CLFT_OK;
    if (is_integer(e)) {
        cfg->eos_token_ids[cfg->n_eos++] = (int64_t)e->valuedouble;
        return CLFT_OK;
    }
    if (!cJSON_IsArray(e))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'eos_token_id' must be an integer or a list of integers",
                          c->what);
    for (const cJSON *x = e->child; x; x = x->next) {
        if (!is_integer(x))
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'eos_token_id' must be an integer or a list of integers",
                              c->what);
        if (cfg->n_eos == CLFT_CONFIG_MAX_EOS)
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'eos_token_id' has more than %d ids", c->what,
                              CLFT_CONFIG_MAX_EOS);
        cfg->eos_token_ids[cfg->n_eos++] = (int64_t)x->valuedouble;
    }
    return CLFT_OK;
}

static clft_status parse_root(const jctx *c, clft_model_config *cfg) {
    clft_arch arch = CLFT_ARCH_LLAMA;
    CLFT_CHECK(parse_arch(c, &arch));
    clft_model_config_defaults(arch, cfg);
    const cJSON *r = c->root;
    CLFT_CHECK(jint(c, r, "", "vocab_size", 1, &cfg->vocab_size));
    CLFT_CHECK(jint(c, r, "", "hidden_size", 1, &cfg->hidden_size));
    CLFT_CHECK(jint(c, r, "", "intermediate_size", 1, &cfg->intermediate_size));
    CLFT_CHECK(jint(c, r, "", "num_hidden_layers", 1, &cfg->num_layers));
    CLFT_CHECK(jint(c, r, "", "num_attention_heads", 1, &cfg->num_heads));
    if (arch != CLFT_ARCH_MISTRAL) cfg->num_kv_heads = cfg->num_heads;
    CLFT_CHECK(jint(c, r, "", "num_key_value_heads", 0, &cfg->num_kv_heads));
    if (cfg->num_heads <= 0) return clft_error(CLFT_STATUS_FORMAT, "%s: num_attention_heads must be positive", c->what);
    cfg->head_dim = cfg->hidden_size / cfg->num_heads;
    const cJSON *hd = jget(r, "head_dim");
    if (hd && !cJSON_IsNull(hd))
        CLFT_CHECK(jint(c, r, "", "head_dim", 0, &cfg->head_dim));
    else if (cfg->hidden_size % cfg->num_heads)
        return clft_error(CLFT_STATUS_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                          c->what, (long long)cfg->hidden_size, (long long)cfg->num_heads);
    CLFT_CHECK(jnum(c, r, "", "rms_norm_eps", 0, &cfg->rms_norm_eps));
    CLFT_CHECK(jnum(c, r, "", "rope_theta", 0, &cfg->rope_theta));
    CLFT_CHECK(parse_rope(c, cfg));
    CLFT_CHECK(jint(c, r, "", "max_position_embeddings", 0, &cfg->max_position_embeddings));
    CLFT_CHECK(jnum(c, r, "", "initializer_range", 0, &cfg->initializer_range));
    CLFT_CHECK(jbool(c, "tie_word_embeddings", &cfg->tie_word_embeddings));
    const char *act = NULL;
    CLFT_CHECK(jstr(c, "hidden_act", &act));
    if (act && strcmp(act, "silu"))
        return clft_error(CLFT_STATUS_FORMAT, "%s: hidden_act '%s' is not supported (only silu)", c->what, act);
    if (arch == CLFT_ARCH_LLAMA) { /* LlamaConfig reads both; the others have fixed layouts */
        CLFT_CHECK(jbool(c, "attention_bias", &cfg->attention_bias));
        CLFT_CHECK(jbool(c, "mlp_bias", &cfg->mlp_bias));
        cfg->qkv_bias = cfg->o_bias = cfg->attention_bias;
    } else if (arch == CLFT_ARCH_QWEN2) {
        cfg->qkv_bias = 1;
    }
    if (arch == CLFT_ARCH_MISTRAL) {
        const cJSON *sw = jget(r, "sliding_window");
        if (sw && cJSON_IsNull(sw))
            cfg->sliding_window = 0;
        else
            CLFT_CHECK(jint(c, r, "", "sliding_window", 0, &cfg->sliding_window));
    } else if (arch == CLFT_ARCH_QWEN2) {
        int use = 0;
        CLFT_CHECK(jbool(c, "use_sliding_window", &use));
        int64_t sw = 4096;
        CLFT_CHECK(jint(c, r, "", "sliding_window", 0, &sw));
        CLFT_CHECK(jint(c, r, "", "max_window_layers", 0, &cfg->max_window_layers));
        cfg->sliding_window = use ? sw : 0;
    }
    CLFT_CHECK(parse_ids(c, cfg));
    const char *dt = NULL;
    CLFT_CHECK(jstr(c, "torch_dtype", &dt));
    if (!dt) CLFT_CHECK(jstr(c, "dtype", &dt));
    if (dt) snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", dt);
    const cJSON *q = jget(r, "quantization_config");
    if (q && !cJSON_IsNull(q)) {
        if (!cJSON_IsObject(q))
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'quantization_config' must be an object", c->what);
        cfg->has_quantization_config = 1;
        const cJSON *m = jget(q, "quant_method");
        if (m && cJSON_IsString(m)) snprintf(cfg->quant_method, sizeof cfg->quant_method, "%s", m->valuestring);
    }
    return clft_model_config_validate(cfg, c->what);
}

clft_status clft_model_config_parse(const char *json, size_t len, const char *what, clft_model_config *cfg) {
    if (!what) what = "config.json";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return clft_error(CLFT_STATUS_FORMAT, "%s: not valid JSON (near byte %zu)", what, at);
    }
    clft_status s;
    if (!cJSON_IsObject(root))
        s = clft_error(CLFT_STATUS_FORMAT, "%s: not a JSON object", what);
    else {
        jctx c = {root, what};
        s = parse_root(&c, cfg);
    }
    cJSON_Delete(root);
    return s;
}

clft_status clft_model_config_load(const char *path, clft_model_config *cfg) {
    if (clft_gguf_is_model_file(path)) return clft_gguf_config_load(path, cfg); /* llama.cpp model file */
    char *file = clft_io_is_dir(path) ? clft_io_join(path, "config.json") : clft_strdup(path);
    if (!file) return CLFT_STATUS_HOST_OOM;
    char *text = NULL;
    size_t len = 0;
    clft_status s = clft_io_read_file(file, &text, &len);
    if (!s) s = clft_model_config_parse(text, len, file, cfg);
    free(text);
    free(file);
    return s;
}

/* ---- writing ----------------------------------------------------------------------------------- */
/* Keys with their rendered JSON values (at nesting level 1), emitted sorted: json.dumps(indent=2,
 * sort_keys=True). */
typedef struct kv_out {
    const char *key;
    char val[512];
} kv_out;

typedef struct kv_list {
    kv_out items[48];
    int n;
} kv_list;

static kv_out *kv_add(kv_list *l, const char *key) {
    kv_out *k = &l->items[l->n++];
    k->key = key;
    k->val[0] = '\0';
    return k;
}
static void kv_int(kv_list *l, const char *key, int64_t v) {
    snprintf(kv_add(l, key)->val, sizeof l->items[0].val, "%lld", (long long)v);
}
static void kv_raw(kv_list *l, const char *key, const char *raw) {
    snprintf(kv_add(l, key)->val, sizeof l->items[0].val, "%s", raw);
}
static void kv_float(kv_list *l, const char *key, double v) {
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_json_py_float(&b, v);
    kv_raw(l, key, b.data ? b.data : "null");
    clft_sbuf_free(&b);
}
static void kv_str(kv_list *l, const char *key, const char *v) {
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_json_py_string(&b, v);
    kv_raw(l, key, b.data ? b.data : "null");
    clft_sbuf_free(&b);
}
static void kv_bool(kv_list *l, const char *key, int v) { kv_raw(l, key, v ? "true" : "false"); }
static void kv_id(kv_list *l, const char *key, int64_t v) {
    if (v < 0)
        kv_raw(l, key, "null");
    else
        kv_int(l, key, v);
}
static void kv_eos(kv_list *l, const clft_model_config *c) {
    if (c->n_eos == 0)
        kv_raw(l, "eos_token_id", "null");
    else if (c->n_eos == 1)
        kv_int(l, "eos_token_id", c->eos_token_ids[0]);
    else {
        clft_sbuf b;
        clft_sbuf_init(&b);
        clft_sbuf_puts(&b, "[");
        for (int i = 0; i < c->n_eos; i++)
            clft_sbuf_printf(&b, "%s\n    %lld", i ? "," : "", (long long)c->eos_token_ids[i]);
        clft_sbuf_puts(&b, "\n  ]");
        kv_raw(l, "eos_token_id", b.data ? b.data : "null");
        clft_sbuf_free(&b);
    }
}

static int cmp_kv(const void *a, const void *b) { return strcmp(((const kv_out *)a)->key, ((const kv_out *)b)->key); }

static clft_status kv_render(kv_list *l, char **out) {
    if (l->n > 1) qsort(l->items, (size_t)l->n, sizeof l->items[0], cmp_kv);
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_puts(&b, "{");
    for (int i = 0; i < l->n; i++) {
        clft_sbuf_puts(&b, i ? ",\n  " : "\n  ");
        clft_json_py_string(&b, l->items[i].key);
        clft_sbuf_puts(&b, ": ");
        clft_sbuf_puts(&b, l->items[i].val);
    }
    clft_sbuf_puts(&b, "\n}\n");
    clft_status s = clft_sbuf_status(&b);
    if (s) {
        clft_sbuf_free(&b);
        return s;
    }
    *out = b.data;
    return CLFT_OK;
}

static void rope_json(const clft_model_config *c, char *dst, size_t cap) {
    clft_sbuf b;
    clft_sbuf_init(&b);
    if (c->rope_scaling.type == CLFT_ROPE_NONE) {
        clft_sbuf_puts(&b, "null");
    } else if (c->rope_scaling.type == CLFT_ROPE_LINEAR) {
        clft_sbuf_puts(&b, "{\n    \"factor\": ");
        clft_json_py_float(&b, c->rope_scaling.factor);
        clft_sbuf_puts(&b, ",\n    \"rope_type\": \"linear\"\n  }");
    } else {
        clft_sbuf_puts(&b, "{\n    \"factor\": ");
        clft_json_py_float(&b, c->rope_scaling.factor);
        clft_sbuf_puts(&b, ",\n    \"high_freq_factor\": ");
        clft_json_py_float(&b, c->rope_scaling.high_freq_factor);
        clft_sbuf_puts(&b, ",\n    \"low_freq_factor\": ");
        clft_json_py_float(&b, c->rope_scaling.low_freq_factor);
        clft_sbuf_printf(&b, ",\n    \"original_max_position_embeddings\": %lld,\n    \"rope_type\": \"llama3\"\n  }",
                         (long long)c->rope_scaling.original_max_position_embeddings);
    }
    snprintf(dst, cap, "%s", b.data ? b.data : "null");
    clft_sbuf_free(&b);
}

clft_status clft_model_config_to_json(const clft_model_config *c, char **out) {
    *out = NULL;
    CLFT_CHECK(clft_model_config_validate(c, "model config"));
    kv_list l;
    l.n = 0;
    char arch[128];
    snprintf(arch, sizeof arch, "[\n    \"%s\"\n  ]", clft_arch_name(c->arch));
    kv_raw(&l, "architectures", arch);
    kv_float(&l, "attention_dropout", 0.0);
    /* save_pretrained drops None values that equal the class default (Qwen2Config has no bos/eos) */
    if (c->arch != CLFT_ARCH_QWEN2 || c->bos_token_id >= 0) kv_id(&l, "bos_token_id", c->bos_token_id);
    if (c->arch != CLFT_ARCH_QWEN2 || c->n_eos > 0) kv_eos(&l, c);
    kv_str(&l, "hidden_act", "silu");
    kv_int(&l, "hidden_size", c->hidden_size);
    kv_float(&l, "initializer_range", c->initializer_range);
    kv_int(&l, "intermediate_size", c->intermediate_size);
    kv_int(&l, "max_position_embeddings", c->max_position_embeddings);
    kv_str(&l, "model_type", clft_arch_model_type(c->arch));
    kv_int(&l, "num_attention_heads", c->num_heads);
    kv_int(&l, "num_hidden_layers", c->num_layers);
    kv_int(&l, "num_key_value_heads", c->num_kv_heads);
    if (c->pad_token_id >= 0) kv_int(&l, "pad_token_id", c->pad_token_id);
    kv_float(&l, "rms_norm_eps", c->rms_norm_eps);
    kv_float(&l, "rope_theta", c->rope_theta);
    kv_bool(&l, "tie_word_embeddings", c->tie_word_embeddings);
    kv_str(&l, "torch_dtype", c->torch_dtype[0] ? c->torch_dtype : "float32");
    kv_str(&l, "transformers_version", TRANSFORMERS_VERSION);
    kv_bool(&l, "use_cache", 1);
    kv_int(&l, "vocab_size", c->vocab_size);
    char rope[512];
    rope_json(c, rope, sizeof rope);
    switch (c->arch) {
    case CLFT_ARCH_LLAMA:
        kv_bool(&l, "attention_bias", c->attention_bias);
        kv_int(&l, "head_dim", c->head_dim);
        kv_bool(&l, "mlp_bias", c->mlp_bias);
        kv_int(&l, "pretraining_tp", 1);
        kv_raw(&l, "rope_scaling", rope);
        break;
    case CLFT_ARCH_MISTRAL:
        kv_int(&l, "head_dim", c->head_dim);
        if (c->sliding_window > 0)
            kv_int(&l, "sliding_window", c->sliding_window);
        else
            kv_raw(&l, "sliding_window", "null");
        if (c->rope_scaling.type != CLFT_ROPE_NONE) kv_raw(&l, "rope_scaling", rope);
        break;
    case CLFT_ARCH_QWEN2:
        kv_int(&l, "max_window_layers", c->max_window_layers);
        kv_raw(&l, "rope_scaling", rope);
        /* Qwen2Config (4.46) keeps sliding_window only when use_sliding_window is true */
        if (c->sliding_window > 0)
            kv_int(&l, "sliding_window", c->sliding_window);
        else
            kv_raw(&l, "sliding_window", "null");
        kv_bool(&l, "use_sliding_window", c->sliding_window > 0);
        break;
    }
    return kv_render(&l, out);
}

clft_status clft_generation_config_to_json(const clft_model_config *c, char **out) {
    *out = NULL;
    kv_list l;
    l.n = 0;
    kv_bool(&l, "_from_model_config", 1);
    if (c->bos_token_id >= 0) kv_int(&l, "bos_token_id", c->bos_token_id);
    if (c->n_eos > 0) kv_eos(&l, c);
    if (c->pad_token_id >= 0) kv_int(&l, "pad_token_id", c->pad_token_id);
    kv_str(&l, "transformers_version", TRANSFORMERS_VERSION);
    return kv_render(&l, out);
}

static clft_status write_text(const char *dir, const char *name, const char *text) {
    char *p = clft_io_join(dir, name);
    if (!p) return CLFT_STATUS_HOST_OOM;
    clft_status s = clft_io_write_atomic(p, text, strlen(text));
    free(p);
    return s;
}

clft_status clft_model_config_write(const char *dir, const clft_model_config *cfg) {
    char *a = NULL, *b = NULL;
    clft_status s = clft_model_config_to_json(cfg, &a);
    if (!s) s = clft_generation_config_to_json(cfg, &b);
    if (!s) s = write_text(dir, "config.json", a);
    if (!s) s = write_text(dir, "generation_config.json", b);
    free(a);
    free(b);
    return s;
}

/* ---- tensor names ------------------------------------------------------------------------------ */
static void add_t(clft_hf_tensor *t, size_t *n, const char *name, clft_tensor_role role, int layer, int64_t d0,
                  int64_t d1) {
    clft_hf_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->role = role;
    x->layer = layer;
    x->ndim = d1 > 0 ? 2 : 1;
    x->shape[0] = d0;
    x->shape[1] = d1 > 0 ? d1 : 0;
}

clft_status clft_hf_tensor_list(const clft_model_config *c, clft_hf_tensor **out, size_t *count) {
    *out = NULL;
    *count = 0;
    CLFT_CHECK(clft_model_config_validate(c, "model config"));
    size_t cap = 3 + (size_t)c->num_layers * 16;
    clft_hf_tensor *t = clft_calloc(cap, sizeof *t);
    if (!t) return CLFT_STATUS_HOST_OOM;
    size_t n = 0;
    int64_t h = c->hidden_size, q = c->num_heads * c->head_dim, kv = c->num_kv_heads * c->head_dim;
    int64_t f = c->intermediate_size;
    add_t(t, &n, "model.embed_tokens.weight", CLFT_ROLE_EMBEDDING, -1, c->vocab_size, h);
    for (int L = 0; L < (int)c->num_layers; L++) {
        char nm[96];
        const struct {
            const char *proj;
            int64_t out, in;
            int bias;
        } P[] = {{"self_attn.q_proj", q, h, c->qkv_bias},  {"self_attn.k_proj", kv, h, c->qkv_bias},
                 {"self_attn.v_proj", kv, h, c->qkv_bias}, {"self_attn.o_proj", h, q, c->o_bias},
                 {"mlp.gate_proj", f, h, c->mlp_bias},     {"mlp.up_proj", f, h, c->mlp_bias},
                 {"mlp.down_proj", h, f, c->mlp_bias}};
        for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", L, P[i].proj);
            add_t(t, &n, nm, CLFT_ROLE_LINEAR, L, P[i].out, P[i].in);
            if (P[i].bias) {
                snprintf(nm, sizeof nm, "model.layers.%d.%s.bias", L, P[i].proj);
                add_t(t, &n, nm, CLFT_ROLE_BIAS, L, P[i].out, 0);
            }
        }
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", L);
        add_t(t, &n, nm, CLFT_ROLE_NORM, L, h, 0);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", L);
        add_t(t, &n, nm, CLFT_ROLE_NORM, L, h, 0);
    }
    add_t(t, &n, "model.norm.weight", CLFT_ROLE_NORM, -1, h, 0);
    if (!c->tie_word_embeddings) add_t(t, &n, "lm_head.weight", CLFT_ROLE_LM_HEAD, -1, c->vocab_size, h);
    *out = t;
    *count = n;
    return CLFT_OK;
}

int64_t clft_model_config_num_params(const clft_model_config *c) {
    clft_hf_tensor *t = NULL;
    size_t n = 0;
    if (clft_hf_tensor_list(c, &t, &n)) return 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
    free(t);
    return total;
}

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

clft_status clft_model_check_tensors(const clft_model_config *c, const clft_safetensors *st) {
    clft_hf_tensor *t = NULL;
    size_t n = 0;
    CLFT_CHECK(clft_hf_tensor_list(c, &t, &n));
    clft_status s = CLFT_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const clft_st_tensor *x = clft_st_find(st, t[i].name);
        char want[64], got[256];
        fmt_shape(want, sizeof want, t[i].ndim, t[i].shape);
        if (!x) {
            s = clft_error(CLFT_STATUS_NOT_FOUND, "model weights: missing tensor '%s' (expected shape %s)", t[i].name,
                           want);
            break;
        }
        const char *file = clft_st_file_name(st, x->file);
        fmt_shape(got, sizeof got, x->ndim, x->shape);
        if (c->has_quantization_config && t[i].role == CLFT_ROLE_LINEAR && x->dtype == CLFT_ST_U8) {
            int64_t packed = (t[i].shape[0] * t[i].shape[1] + 1) / 2;
            if (!(x->ndim == 2 && x->shape[0] == packed && x->shape[1] == 1)) {
                s = clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                               "%s: tensor '%s': 4-bit shape %s, expected [%lld, 1] for a %s weight", file, t[i].name,
                               got, (long long)packed, want);
                break;
            }
            const char *sfx[] = {".absmax", ".quant_map"};
            for (int k = 0; k < 2 && !s; k++) {
                char nm[128];
                snprintf(nm, sizeof nm, "%s%s", t[i].name, sfx[k]);
                if (!clft_st_find(st, nm))
                    s = clft_error(CLFT_STATUS_NOT_FOUND, "%s: missing tensor '%s' of the 4-bit weight '%s'", file, nm,
                                   t[i].name);
            }
            continue;
        }
        int same = x->ndim == t[i].ndim;
        for (int d = 0; same && d < x->ndim; d++)
            same = x->shape[d] == t[i].shape[d];
        if (!same) {
            s = clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: tensor '%s' has shape %s, the config implies %s", file,
                           t[i].name, got, want);
            break;
        }
        if (x->dtype != CLFT_ST_F32 && x->dtype != CLFT_ST_F16 && x->dtype != CLFT_ST_BF16)
            s = clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s' has dtype %s (expected F32, F16 or BF16)", file,
                           t[i].name, clft_st_dtype_name(x->dtype));
    }
    free(t);
    return s;
}

clft_status clft_model_folder_open(const char *dir, clft_model_config *cfg, clft_safetensors **st) {
    *st = NULL;
    if (!clft_io_is_dir(dir)) return clft_error(CLFT_STATUS_IO, "%s: not a folder", dir);
    CLFT_CHECK(clft_model_config_load(dir, cfg));
    CLFT_CHECK(clft_st_open(dir, st));
    clft_status s = clft_model_check_tensors(cfg, *st);
    if (s) {
        clft_error_prefix(s, "%s", dir);
        clft_safetensors_free(*st);
        *st = NULL;
    }
    return s;
}
