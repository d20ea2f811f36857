/* peft.c - PEFT LoRA adapter folders (FORMATS.md 2.4): adapter_config.json and
 * adapter_model.safetensors read and checked (clft_adapter_open, clft_adapter_info_read), loaded into
 * a model (clft_model_load_adapter) and written from one (clft_model_save_adapter).
 *
 * Reading resolves target_modules as PEFT does against the module names of a Llama-family model
 * ("model.layers.0.self_attn.q_proj", ...): a list matches a module whose name equals an entry or ends
 * with "." + entry, a string is a regular expression that must match the whole name (re.fullmatch;
 * PCRE2 here) unless it is "all-linear" (every projection, not lm_head); exclude_modules removes
 * modules the same way. Everything that changes what the adapter computes and that clft does not
 * implement is refused by name with CLFT_STATUS_UNSUPPORTED.
 *
 * Writing produces adapter_config.json byte for byte as PEFT's save_pretrained does
 * (json.dumps(asdict(LoraConfig), indent=2, sort_keys=True), the key set of PEFT CLFT_PEFT_VERSION)
 * and adapter_model.safetensors with PEFT's tensor names, F32, metadata {"format": "pt"} plus clft's
 * "clft.*" keys (how the adapter was trained; PEFT ignores them). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/clrt.h"
#include "core/core.h"
#include "io/io_util.h"
#include "lora/lora.h"
#include "model/model.h"
#include "ref/ops_ref.h"

const char *const CLFT_LORA_PROJ[CLFT_LORA_NT] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};
const char *const CLFT_LORA_BLOCK[CLFT_LORA_NT] = {"self_attn", "self_attn", "self_attn", "self_attn",
                                                   "mlp",       "mlp",       "mlp"};

void clft_lora_proj_dims(const clft_model_config *c, int t, int64_t *in, int64_t *out) {
    const int64_t h = c->hidden_size, q = c->num_heads * c->head_dim, kv = c->num_kv_heads * c->head_dim,
                  f = c->intermediate_size;
    const int64_t io[CLFT_LORA_NT][2] = {{h, q}, {h, kv}, {h, kv}, {q, h}, {h, f}, {h, f}, {f, h}};
    *in = io[t][0];
    *out = io[t][1];
}

/* ---- target_modules / exclude_modules ----------------------------------------------------------- */
typedef enum { MATCH_NONE = 0, MATCH_LIST, MATCH_REGEX, MATCH_ALL_LINEAR } match_kind;

typedef struct matcher {
    match_kind kind;
    const cJSON *list; /* MATCH_LIST: array of strings */
    pcre2_code *re;    /* MATCH_REGEX */
    pcre2_match_data *md;
} matcher;

static void matcher_free(matcher *m) {
    if (m->md) pcre2_match_data_free(m->md);
    if (m->re) pcre2_code_free(m->re);
    memset(m, 0, sizeof *m);
}

/* From the value of target_modules / exclude_modules (NULL or null: MATCH_NONE). */
static clft_status matcher_make(const char *path, const char *key, const cJSON *v, int allow_all_linear, matcher *m) {
    memset(m, 0, sizeof *m);
    if (!v || cJSON_IsNull(v)) return CLFT_OK;
    if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next)
            if (!cJSON_IsString(e))
                return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s': every entry must be a string", path, key);
        m->kind = MATCH_LIST;
        m->list = v;
        return CLFT_OK;
    }
    if (!cJSON_IsString(v))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' must be a list of names, a string or null", path, key);
    if (allow_all_linear && !strcmp(v->valuestring, "all-linear")) {
        m->kind = MATCH_ALL_LINEAR;
        return CLFT_OK;
    }
    int err = 0;
    PCRE2_SIZE off = 0;
    /* re.fullmatch: anchored at both ends; Python's str patterns are Unicode-aware */
    m->re = pcre2_compile((PCRE2_SPTR)v->valuestring, PCRE2_ZERO_TERMINATED,
                          PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!m->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s': the regular expression '%s' does not compile (at %zu): %s",
                          path, key, v->valuestring, (size_t)off, (const char *)msg);
    }
    m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
    if (!m->md) {
        matcher_free(m);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory for a regular expression");
    }
    m->kind = MATCH_REGEX;
    return CLFT_OK;
}

/* PEFT's check_target_module_exists for one module name; proj: the name is one of the projections */
static int matcher_hit(matcher *m, const char *name, int proj) {
    switch (m->kind) {
    case MATCH_NONE: return 0;
    case MATCH_ALL_LINEAR: return proj;
    case MATCH_REGEX: return pcre2_match(m->re, (PCRE2_SPTR)name, strlen(name), 0, 0, m->md, NULL) >= 0;
    case MATCH_LIST:
        for (const cJSON *e = m->list->child; e; e = e->next) {
            const char *k = e->valuestring;
            size_t n = strlen(name), kn = strlen(k);
            if (!strcmp(name, k)) return 1;
            if (kn + 1 <= n && name[n - kn - 1] == '.' && !strcmp(name + n - kn, k)) return 1;
        }
        return 0;
    }
    return 0;
}

/* The module names of a Llama/Mistral/Qwen2 *ForCausalLM (named_modules()), layer by layer; the
 * projections are flagged. */
typedef struct module_name {
    char name[96];
    int layer;  /* -1: outside the layers */
    int target; /* projection index, -1 for any other module */
} module_name;

static size_t module_names(int64_t nlayers, module_name *out, size_t cap) {
    size_t n = 0;
#define ADD(layer_, target_, ...)                                                                                      \
    do {                                                                                                               \
        if (n < cap) {                                                                                                 \
            snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__);                                                    \
            out[n].layer = (int)(layer_);                                                                              \
            out[n].target = (target_);                                                                                 \
        }                                                                                                              \
        n++;                                                                                                           \
    } while (0)
    ADD(-1, -1, "%s", "");
    ADD(-1, -1, "model");
    ADD(-1, -1, "model.embed_tokens");
    ADD(-1, -1, "model.layers");
    for (int64_t l = 0; l < nlayers; l++) {
        ADD(l, -1, "model.layers.%lld", (long long)l);
        ADD(l, -1, "model.layers.%lld.self_attn", (long long)l);
        for (int t = 0; t < 4; t++)
            ADD(l, t, "model.layers.%lld.self_attn.%s", (long long)l, CLFT_LORA_PROJ[t]);
        ADD(l, -1, "model.layers.%lld.mlp", (long long)l);
        for (int t = 4; t < CLFT_LORA_NT; t++)
            ADD(l, t, "model.layers.%lld.mlp.%s", (long long)l, CLFT_LORA_PROJ[t]);
        ADD(l, -1, "model.layers.%lld.mlp.act_fn", (long long)l);
        ADD(l, -1, "model.layers.%lld.input_layernorm", (long long)l);
        ADD(l, -1, "model.layers.%lld.post_attention_layernorm", (long long)l);
    }
    ADD(-1, -1, "model.norm");
    ADD(-1, -1, "model.rotary_emb");
    ADD(-1, -1, "lm_head");
#undef ADD
    return n;
}

/* Resolve the targets per layer; they must be one of the seven projections and equal in every layer. */
static clft_status resolve_targets(const char *path, matcher *tm, matcher *ex, int64_t nlayers, uint32_t *mask) {
    size_t cap = 8 + (size_t)nlayers * 16;
    module_name *names = clft_calloc(cap, sizeof *names);
    if (!names) return CLFT_STATUS_HOST_OOM;
    size_t n = module_names(nlayers, names, cap);
    uint32_t *per = clft_calloc((size_t)(nlayers > 0 ? nlayers : 1), sizeof *per);
    clft_status s = per ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; i < n && !s; i++) {
        const module_name *mn = &names[i];
        if (!matcher_hit(tm, mn->name, mn->target >= 0) || matcher_hit(ex, mn->name, mn->target >= 0)) continue;
        if (mn->target < 0) {
            const char *what = strstr(mn->name, "lm_head")        ? "the output layer lm_head"
                               : strstr(mn->name, "embed_tokens") ? "the embedding embed_tokens"
                                                                  : NULL;
            if (what)
                s = clft_error(CLFT_STATUS_UNSUPPORTED,
                               "%s: target_modules selects %s: clft adapts only the seven projections "
                               "(q/k/v/o_proj, gate/up/down_proj)",
                               path, what);
            else
                s = clft_error(CLFT_STATUS_UNSUPPORTED,
                               "%s: target_modules selects the module '%s', which is not one of the seven projections "
                               "(q/k/v/o_proj, gate/up/down_proj) that clft adapts",
                               path, mn->name);
            break;
        }
        per[mn->layer] |= 1u << mn->target;
    }
    for (int64_t l = 1; l < nlayers && !s; l++)
        if (per[l] != per[0]) {
            char a[96] = "", b[96] = "";
            for (int t = 0; t < CLFT_LORA_NT; t++) {
                if (per[0] >> t & 1)
                    snprintf(a + strlen(a), sizeof a - strlen(a), "%s%s", a[0] ? "," : "", CLFT_LORA_PROJ[t]);
                if (per[l] >> t & 1)
                    snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", b[0] ? "," : "", CLFT_LORA_PROJ[t]);
            }
            s = clft_error(CLFT_STATUS_UNSUPPORTED,
                           "%s: target_modules adapts different projections in different layers (layer 0: %s; layer "
                           "%lld: %s): clft needs the same targets in every layer",
                           path, a[0] ? a : "none", (long long)l, b[0] ? b : "none");
        }
    if (!s && nlayers > 0 && per[0] == 0)
        s = clft_error(CLFT_STATUS_FORMAT, "%s: target_modules selects none of the projections", path);
    if (!s) *mask = nlayers > 0 ? per[0] : 0;
    free(per);
    free(names);
    return s;
}

/* ---- adapter_config.json --------------------------------------------------------------------------- */
typedef struct adapter_cfg {
    cJSON *root;
    int r;
    double alpha, dropout;
    int rslora;
    matcher tm, ex;
    char base_model[4096];
} adapter_cfg;

static void adapter_cfg_free(adapter_cfg *c) {
    matcher_free(&c->tm);
    matcher_free(&c->ex);
    cJSON_Delete(c->root);
    memset(c, 0, sizeof *c);
}

static clft_status unsupported(const char *path, const char *key, const char *what) {
    return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: key '%s': %s is not supported by clft", path, key, what);
}

/* 1 when v is neither absent, null, false, an empty list nor an empty object */
static int is_set(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child) return 0;
    return 1;
}

static clft_status bool_key(const char *path, const cJSON *root, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return CLFT_OK;
    if (!cJSON_IsBool(v)) return clft_error(CLFT_STATUS_FORMAT, "%s: key '%s' must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return CLFT_OK;
}

static clft_status parse_config(const char *path, const char *text, size_t len, adapter_cfg *c) {
    memset(c, 0, sizeof *c);
    c->root = cJSON_ParseWithLength(text, len);
    if (!c->root || !cJSON_IsObject(c->root)) {
        cJSON_Delete(c->root);
        c->root = NULL;
        return clft_error(CLFT_STATUS_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *root = c->root;
#define GET(k) cJSON_GetObjectItemCaseSensitive(root, k)
    const cJSON *v = GET("peft_type");
    if (!cJSON_IsString(v))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'peft_type' is missing or not a string", path);
    if (strcmp(v->valuestring, "LORA") != 0)
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "%s: key 'peft_type' is \"%s\": clft reads LoRA adapters only (peft_type \"LORA\")", path,
                          v->valuestring);
    v = GET("task_type");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !strcmp(v->valuestring, "CAUSAL_LM")))
        return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: key 'task_type' is %s%s%s: clft runs CAUSAL_LM adapters only",
                          path, cJSON_IsString(v) ? "\"" : "", cJSON_IsString(v) ? v->valuestring : "not a string",
                          cJSON_IsString(v) ? "\"" : "");
    /* what changes the computation and clft does not implement, by name */
    int flag = 0;
    CLFT_CHECK(bool_key(path, root, "use_dora", &flag));
    if (flag) return unsupported(path, "use_dora", "DoRA (use_dora true)");
    CLFT_CHECK(bool_key(path, root, "lora_bias", &flag));
    if (flag) return unsupported(path, "lora_bias", "a bias on lora_B (lora_bias true)");
    CLFT_CHECK(bool_key(path, root, "fan_in_fan_out", &flag));
    if (flag) return unsupported(path, "fan_in_fan_out", "a transposed (Conv1D) base layer (fan_in_fan_out true)");
    CLFT_CHECK(bool_key(path, root, "use_qalora", &flag));
    if (flag) return unsupported(path, "use_qalora", "QA-LoRA (use_qalora true)");
    v = GET("bias");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !strcmp(v->valuestring, "none")))
        return unsupported(path, "bias", "training biases (bias other than \"none\")");
    static const struct {
        const char *key, *what;
    } SET[] = {
        {"modules_to_save", "fully trained extra modules (modules_to_save)"},
        {"layers_to_transform", "adapting only some layers (layers_to_transform)"},
        {"layers_pattern", "a layers_pattern"},
        {"rank_pattern", "a rank per module (rank_pattern)"},
        {"alpha_pattern", "an alpha per module (alpha_pattern)"},
        {"trainable_token_indices", "trainable token embeddings (trainable_token_indices)"},
        {"layer_replication", "layer replication (layer_replication)"},
        {"alora_invocation_tokens", "activated LoRA (alora_invocation_tokens)"},
        {"target_parameters", "adapting parameters (target_parameters)"},
        {"use_bdlora", "block-diagonal LoRA (use_bdlora)"},
        {"arrow_config", "Arrow routing (arrow_config)"},
        {"kasa_config", "KaSA (kasa_config)"},
        {"monteclora_config", "MonteCLoRA (monteclora_config)"},
    };
    for (size_t i = 0; i < sizeof SET / sizeof SET[0]; i++)
        if (is_set(GET(SET[i].key))) return unsupported(path, SET[i].key, SET[i].what);
    v = GET("init_lora_weights");
    if (cJSON_IsString(v) && (!strncmp(v->valuestring, "pissa", 5) || !strcmp(v->valuestring, "olora") ||
                              !strcmp(v->valuestring, "corda") || !strcmp(v->valuestring, "loftq")))
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "%s: key 'init_lora_weights' is \"%s\": this adapter runs on a modified (residual) base; "
                          "convert it with PEFT (save_pretrained with path_initial_model_for_weight_conversion)",
                          path, v->valuestring);
    /* values */
    v = GET("r");
    if (!v) {
        c->r = 8; /* LoraConfig's default */
    } else if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
               v->valuedouble > 1e6) {
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'r' must be a positive integer", path);
    } else {
        c->r = (int)v->valuedouble;
    }
    v = GET("lora_alpha");
    if (!v)
        c->alpha = 8;
    else if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'lora_alpha' must be a positive number", path);
    else
        c->alpha = v->valuedouble;
    v = GET("lora_dropout");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1))
            return clft_error(CLFT_STATUS_FORMAT, "%s: key 'lora_dropout' must be a number in [0, 1)", path);
        c->dropout = v->valuedouble;
    }
    CLFT_CHECK(bool_key(path, root, "use_rslora", &c->rslora));
    v = GET("base_model_name_or_path");
    if (cJSON_IsString(v))
        snprintf(c->base_model, sizeof c->base_model, "%s", v->valuestring);
    else if (v && !cJSON_IsNull(v))
        return clft_error(CLFT_STATUS_FORMAT, "%s: key 'base_model_name_or_path' must be a string or null", path);
    v = GET("target_modules");
    if (!v || cJSON_IsNull(v)) {
        /* PEFT's default for llama / mistral / qwen2 (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) */
        static const char DEFAULT_TARGETS[] = "[\"q_proj\", \"v_proj\"]";
        cJSON *d = cJSON_Parse(DEFAULT_TARGETS);
        if (!d) return CLFT_STATUS_HOST_OOM;
        if (v)
            cJSON_ReplaceItemInObjectCaseSensitive(c->root, "target_modules", d);
        else
            cJSON_AddItemToObject(c->root, "target_modules", d);
        v = d;
    }
    CLFT_CHECK(matcher_make(path, "target_modules", v, 1, &c->tm));
    CLFT_CHECK(matcher_make(path, "exclude_modules", GET("exclude_modules"), 0, &c->ex));
#undef GET
    return CLFT_OK;
}

/* ---- the folder ----------------------------------------------------------------------------------- */
void clft_adapter_close(clft_adapter *a) {
    if (!a) return;
    clft_safetensors_free(a->st);
    free(a->ab);
    free(a);
}

static int parse_tensor_name(const char *name, int64_t *layer, int *target, int *which) {
    int l = -1, off = 0;
    if (sscanf(name, "base_model.model.model.layers.%d.%n", &l, &off) != 1 || off == 0 || l < 0) return 0;
    const char *rest = name + off;
    for (int t = 0; t < CLFT_LORA_NT; t++) {
        char a[96], b[96];
        snprintf(a, sizeof a, "%s.%s.lora_A.weight", CLFT_LORA_BLOCK[t], CLFT_LORA_PROJ[t]);
        snprintf(b, sizeof b, "%s.%s.lora_B.weight", CLFT_LORA_BLOCK[t], CLFT_LORA_PROJ[t]);
        if (!strcmp(rest, a) || !strcmp(rest, b)) {
            *layer = l;
            *target = t;
            *which = !strcmp(rest, b);
            return 1;
        }
    }
    return 0;
}

static clft_status read_clft_metadata(clft_adapter *a) {
    const char *method = clft_st_metadata(a->st, 0, "clft.method");
    if (!method) return CLFT_OK;
    clft_adapter_info *in = &a->info;
    const char *p = a->weights_path;
    in->from_clft = 1;
    if (!strcmp(method, "lora"))
        in->method = CLFT_METHOD_LORA;
    else if (!strcmp(method, "qlora"))
        in->method = CLFT_METHOD_QLORA;
    else
        return clft_error(CLFT_STATUS_FORMAT, "%s: metadata 'clft.method' is \"%s\" (lora or qlora)", p, method);
    const char *bd = clft_st_metadata(a->st, 0, "clft.base_dtype");
    static const clft_dtype DT[] = {CLFT_DTYPE_F32, CLFT_DTYPE_F16,  CLFT_DTYPE_BF16, CLFT_DTYPE_NF4,
                                    CLFT_DTYPE_FP4, CLFT_DTYPE_Q8_0, CLFT_DTYPE_Q4_0, CLFT_DTYPE_Q4_1};
    int found = 0;
    for (size_t i = 0; bd && i < sizeof DT / sizeof *DT && !found; i++)
        if (!strcmp(bd, clft_dtype_name(DT[i]))) in->base_dtype = DT[i], found = 1;
    int q4 = in->base_dtype == CLFT_DTYPE_NF4 || in->base_dtype == CLFT_DTYPE_FP4;
    const int native = clft_dtype_is_ggml(in->base_dtype); /* GGUF blocks: either method */
    if (!found || (!native && q4 != (in->method == CLFT_METHOD_QLORA)))
        return clft_error(CLFT_STATUS_FORMAT, "%s: metadata 'clft.base_dtype' is %s%s%s for method %s", p,
                          bd ? "\"" : "", bd ? bd : "missing", bd ? "\"" : "", method);
    const char *bs = clft_st_metadata(a->st, 0, "clft.qlora_blocksize");
    const char *dq = clft_st_metadata(a->st, 0, "clft.qlora_double_quant");
    in->qlora_blocksize = 64;
    in->qlora_double_quant = 1;
    if (bs) {
        char *end = NULL;
        long v = strtol(bs, &end, 10);
        if (*end || v < 32 || v > 4096 || (v & (v - 1)))
            return clft_error(CLFT_STATUS_FORMAT, "%s: metadata 'clft.qlora_blocksize' is \"%s\"", p, bs);
        in->qlora_blocksize = (int)v;
    }
    if (dq) {
        if (strcmp(dq, "0") != 0 && strcmp(dq, "1") != 0)
            return clft_error(CLFT_STATUS_FORMAT, "%s: metadata 'clft.qlora_double_quant' is \"%s\" (0 or 1)", p, dq);
        in->qlora_double_quant = dq[0] == '1';
    }
    if (q4 && (!bs || !dq))
        return clft_error(CLFT_STATUS_FORMAT, "%s: metadata 'clft.qlora_%s' is missing for a QLoRA adapter", p,
                          bs ? "double_quant" : "blocksize");
    return CLFT_OK;
}

static void shape_str(char *buf, size_t cap, const clft_st_tensor *t) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

static clft_status check_tensors(clft_adapter *a, adapter_cfg *c, int64_t nlayers_given) {
    const char *p = a->weights_path;
    const size_t n = clft_st_count(a->st);
    int64_t maxl = -1;
    for (size_t i = 0; i < n; i++) {
        const clft_st_tensor *t = clft_st_at(a->st, i);
        int64_t l;
        int tg, w;
        if (parse_tensor_name(t->name, &l, &tg, &w)) {
            if (l > maxl) maxl = l;
            continue;
        }
        if (strstr(t->name, "lm_head") || strstr(t->name, "embed_tokens"))
            return clft_error(CLFT_STATUS_UNSUPPORTED,
                              "%s: tensor '%s' adapts %s: clft adapts only the seven projections", p, t->name,
                              strstr(t->name, "lm_head") ? "the output layer lm_head" : "the embedding embed_tokens");
        if (strstr(t->name, "lora_magnitude_vector"))
            return clft_error(CLFT_STATUS_UNSUPPORTED, "%s: tensor '%s' is a DoRA magnitude: DoRA is not supported", p,
                              t->name);
        return clft_error(CLFT_STATUS_UNSUPPORTED,
                          "%s: tensor '%s' is not a LoRA matrix of a projection "
                          "(base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_A|lora_B.weight)",
                          p, t->name);
    }
    if (maxl < 0) return clft_error(CLFT_STATUS_FORMAT, "%s: no LoRA tensors", p);
    if (nlayers_given > 0 && maxl >= nlayers_given)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "%s: the adapter has layer %lld but the model has %lld layers (an adapter for another base)",
                          p, (long long)maxl, (long long)nlayers_given);
    a->nlayers = nlayers_given > 0 ? nlayers_given : maxl + 1;
    CLFT_CHECK(resolve_targets(a->config_path, &c->tm, &c->ex, a->nlayers, &a->targets));
    if (maxl + 1 < a->nlayers)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                          "%s: the adapter has layers 0..%lld, the model %lld layers (an adapter for another base)", p,
                          (long long)maxl, (long long)a->nlayers);
    a->ab = clft_calloc((size_t)a->nlayers, sizeof *a->ab);
    if (!a->ab) return CLFT_STATUS_HOST_OOM;
    for (size_t i = 0; i < n; i++) {
        const clft_st_tensor *t = clft_st_at(a->st, i);
        int64_t l;
        int tg, w;
        parse_tensor_name(t->name, &l, &tg, &w);
        if (!(a->targets >> tg & 1))
            return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s': target_modules of %s does not select %s", p,
                              t->name, a->config_path, CLFT_LORA_PROJ[tg]);
        if (t->dtype != CLFT_ST_F32 && t->dtype != CLFT_ST_F16 && t->dtype != CLFT_ST_BF16)
            return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s' has dtype %s (F32, F16 or BF16)", p, t->name,
                              clft_st_dtype_name(t->dtype));
        char sh[96];
        shape_str(sh, sizeof sh, t);
        if (t->ndim != 2 || t->shape[w ? 1 : 0] != c->r || t->shape[w ? 0 : 1] < 1)
            return clft_error(CLFT_STATUS_FORMAT, "%s: tensor '%s' has shape %s: expected [%s] with r = %d of %s", p,
                              t->name, sh, w ? "out, r" : "r, in", c->r, a->config_path);
        a->ab[l][tg][w] = t;
        if (!a->info.dtype[0]) snprintf(a->info.dtype, sizeof a->info.dtype, "%s", clft_st_dtype_name(t->dtype));
    }
    for (int64_t l = 0; l < a->nlayers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++)
            for (int w = 0; w < 2 && (a->targets >> t & 1); w++)
                if (!a->ab[l][t][w])
                    return clft_error(CLFT_STATUS_FORMAT,
                                      "%s: tensor 'base_model.model.model.layers.%lld.%s.%s.lora_%c.weight' is missing "
                                      "(target_modules selects %s in every layer)",
                                      p, (long long)l, CLFT_LORA_BLOCK[t], CLFT_LORA_PROJ[t], w ? 'B' : 'A',
                                      CLFT_LORA_PROJ[t]);
    return CLFT_OK;
}

clft_status clft_adapter_open(const char *dir, int64_t nlayers, clft_adapter **out) {
    if (!dir || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "adapter: NULL argument");
    *out = NULL;
    if (!clft_io_is_dir(dir)) return clft_error(CLFT_STATUS_IO, "%s: no such adapter folder", dir);
    clft_adapter *a = clft_calloc(1, sizeof *a);
    if (!a) return CLFT_STATUS_HOST_OOM;
    snprintf(a->config_path, sizeof a->config_path, "%s%sadapter_config.json", dir,
             dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/");
    snprintf(a->weights_path, sizeof a->weights_path, "%s%sadapter_model.safetensors", dir,
             dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/");
    clft_status s = CLFT_OK;
    if (access(a->config_path, F_OK) != 0)
        s = clft_error(CLFT_STATUS_IO, "%s: missing (not a PEFT adapter folder)", a->config_path);
    if (!s && access(a->weights_path, F_OK) != 0) {
        char bin[4200];
        snprintf(bin, sizeof bin, "%s%sadapter_model.bin", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/");
        if (access(bin, F_OK) == 0)
            s = clft_error(CLFT_STATUS_UNSUPPORTED,
                           "%s: only adapter_model.bin (a pickle, which clft does not read): convert it with PEFT: "
                           "PeftModel.from_pretrained(base, DIR).save_pretrained(DIR, safe_serialization=True)",
                           dir);
        else
            s = clft_error(CLFT_STATUS_IO, "%s: missing", a->weights_path);
    }
    char *text = NULL;
    size_t len = 0;
    adapter_cfg c;
    memset(&c, 0, sizeof c);
    if (!s) s = clft_io_read_file(a->config_path, &text, &len);
    if (!s) s = parse_config(a->config_path, text, len, &c);
    free(text);
    if (!s) s = clft_st_open(a->weights_path, &a->st);
    if (!s) s = read_clft_metadata(a);
    if (!s) s = check_tensors(a, &c, nlayers);
    if (!s) {
        clft_adapter_info *in = &a->info;
        in->lora.r = c.r;
        in->lora.alpha = (float)c.alpha;
        in->lora.dropout = (float)c.dropout;
        in->lora.use_rslora = c.rslora;
        in->lora.targets = a->targets;
        snprintf(in->base_model, sizeof in->base_model, "%s", c.base_model);
        a->scale = clft_ref_lora_scale(c.alpha, c.r, c.rslora);
    }
    adapter_cfg_free(&c);
    if (s) {
        clft_adapter_close(a);
        return s;
    }
    *out = a;
    return CLFT_OK;
}

clft_status clft_adapter_check_config(const clft_adapter *a, const clft_model_config *cfg) {
    if (a->nlayers != cfg->num_layers)
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: the adapter has %lld layers, the model %lld",
                          a->weights_path, (long long)a->nlayers, (long long)cfg->num_layers);
    for (int64_t l = 0; l < a->nlayers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!(a->targets >> t & 1)) continue;
            int64_t in, out;
            clft_lora_proj_dims(cfg, t, &in, &out);
            for (int w = 0; w < 2; w++) {
                const clft_st_tensor *x = a->ab[l][t][w];
                int64_t want0 = w ? out : a->info.lora.r, want1 = w ? a->info.lora.r : in;
                if (x->shape[0] != want0 || x->shape[1] != want1) {
                    char sh[96];
                    shape_str(sh, sizeof sh, x);
                    return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                                      "%s: tensor '%s' has shape %s, the model needs [%lld, %lld] (an adapter for "
                                      "another base?)",
                                      a->weights_path, x->name, sh, (long long)want0, (long long)want1);
                }
            }
        }
    return CLFT_OK;
}

clft_status clft_adapter_get(const clft_adapter *a, int64_t layer, int target, float *A, float *B) {
    if (layer < 0 || layer >= a->nlayers || target < 0 || target >= CLFT_LORA_NT || !a->ab[layer][target][0])
        return clft_error(CLFT_STATUS_NOT_FOUND, "%s: no adapter for layer %lld target %d", a->weights_path,
                          (long long)layer, target);
    if (A) CLFT_CHECK(clft_st_to_f32(a->st, a->ab[layer][target][0], A));
    if (B) CLFT_CHECK(clft_st_to_f32(a->st, a->ab[layer][target][1], B));
    return CLFT_OK;
}

clft_status clft_adapter_info_read(const char *dir, clft_adapter_info *out) {
    if (!dir || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_adapter_info_read: NULL argument");
    memset(out, 0, sizeof *out);
    clft_adapter *a = NULL;
    CLFT_CHECK(clft_adapter_open(dir, 0, &a));
    *out = a->info;
    clft_adapter_close(a);
    return CLFT_OK;
}

/* ---- into a model ------------------------------------------------------------------------------------ */
static uint32_t model_targets(const clft_model *m) {
    uint32_t mask = 0;
    for (int t = 0; t < CLFT_NTARGETS && m->L > 0; t++)
        if (m->layers[0].lin[t].has_lora) mask |= 1u << t;
    return mask;
}

static void mask_names(uint32_t mask, char *buf, size_t cap) {
    buf[0] = '\0';
    for (int t = 0; t < CLFT_LORA_NT; t++)
        if (mask >> t & 1) snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", buf[0] ? "," : "", CLFT_LORA_PROJ[t]);
    if (!buf[0]) snprintf(buf, cap, "none");
}

clft_status clft_model_load_adapter(clft_model *m, const char *dir) {
    if (!m || !dir) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_load_adapter: NULL argument");
    if (m->tp.method != CLFT_METHOD_LORA && m->tp.method != CLFT_METHOD_QLORA)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "%s: the model is method %s: an adapter needs a LoRA or QLoRA model (create it with the "
                          "lora parameters of clft_adapter_info_read)",
                          dir, clft_method_name(m->tp.method));
    clft_adapter *a = NULL;
    CLFT_CHECK(clft_adapter_open(dir, m->L, &a));
    clft_status s = clft_adapter_check_config(a, &m->cfg);
    const uint32_t mt = model_targets(m);
    if (!s && (mt != a->targets || m->tp.lora.r != a->info.lora.r)) {
        char am[96], mm[96];
        mask_names(a->targets, am, sizeof am);
        mask_names(mt, mm, sizeof mm);
        s = clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                       "%s: the adapter has rank %d on %s, the model rank %d on %s: create the model with the lora "
                       "parameters of clft_adapter_info_read",
                       dir, a->info.lora.r, am, m->tp.lora.r, mm);
    }
    if (!s) {
        const float want = (float)a->scale;
        for (int64_t l = 0; l < m->L && !s; l++)
            for (int t = 0; t < CLFT_NTARGETS && !s; t++) {
                const clft_linear *lin = &m->layers[l].lin[t];
                if (lin->has_lora && !(fabsf(lin->scale - want) <= 1e-6f * fabsf(want)))
                    s = clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                                   "%s: the adapter's scale is %.9g (lora_alpha %g, r %d%s), the model's %.9g: create "
                                   "the model with the lora parameters of clft_adapter_info_read",
                                   dir, (double)want, (double)a->info.lora.alpha, a->info.lora.r,
                                   a->info.lora.use_rslora ? ", rsLoRA" : "", (double)lin->scale);
            }
    }
    float *A = NULL, *B = NULL;
    for (int64_t l = 0; l < m->L && !s; l++)
        for (int t = 0; t < CLFT_NTARGETS && !s; t++) {
            const clft_linear *lin = &m->layers[l].lin[t];
            if (!lin->has_lora) continue;
            float *na = realloc(A, (size_t)lin->A.n * 4), *nb = na ? realloc(B, (size_t)lin->B.n * 4) : NULL;
            if (na) A = na;
            if (nb) B = nb;
            if (!na || !nb) {
                s = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory reading an adapter");
                break;
            }
            s = clft_adapter_get(a, l, t, A, B);
            if (!s) s = clft_model_lora_set(m, (int)l, 1u << t, A, B);
        }
    free(A);
    free(B);
    clft_adapter_close(a);
    return s;
}

/* ---- writing ----------------------------------------------------------------------------------------- */
/* The shortest decimal that reads back as the same float32, as a double (0.05f -> 0.05). */
static double f32_decimal(float f) {
    char buf[48];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

/* adapter_config.json as PEFT's save_pretrained writes it (the key set of PEFT CLFT_PEFT_VERSION). */
static clft_status adapter_config_json(const clft_lora_params *lp, const char *base_model, clft_sbuf *b) {
    clft_sbuf_puts(b, "{\n  \"alora_invocation_tokens\": null,\n  \"alpha_pattern\": {},\n  \"arrow_config\": null,\n"
                      "  \"auto_mapping\": null,\n  \"base_model_name_or_path\": ");
    if (base_model && base_model[0])
        clft_json_py_string(b, base_model);
    else
        clft_sbuf_puts(b, "null");
    clft_sbuf_puts(b, ",\n  \"bias\": \"none\",\n  \"corda_config\": null,\n  \"ensure_weight_tying\": false,\n"
                      "  \"eva_config\": null,\n  \"exclude_modules\": null,\n  \"fan_in_fan_out\": false,\n"
                      "  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n  \"kasa_config\": null,\n"
                      "  \"layer_replication\": null,\n  \"layers_pattern\": null,\n  \"layers_to_transform\": null,\n"
                      "  \"loftq_config\": {},\n  \"lora_alpha\": ");
    const double alpha = f32_decimal(lp->alpha);
    if (alpha == floor(alpha) && fabs(alpha) < 1e15)
        clft_sbuf_printf(b, "%lld", (long long)alpha); /* an int, as usually given */
    else
        clft_json_py_float(b, alpha);
    clft_sbuf_puts(b, ",\n  \"lora_bias\": false,\n  \"lora_dropout\": ");
    clft_json_py_float(b, f32_decimal(lp->dropout));
    clft_sbuf_puts(
        b, ",\n  \"lora_ga_config\": null,\n  \"megatron_config\": null,\n"
           "  \"megatron_core\": \"megatron.core\",\n  \"modules_to_save\": null,\n"
           "  \"monteclora_config\": null,\n  \"peft_type\": \"LORA\",\n  \"peft_version\": \"" CLFT_PEFT_VERSION
           "\",\n  \"qalora_group_size\": 16,\n");
    clft_sbuf_printf(b, "  \"r\": %d,\n  \"rank_pattern\": {},\n  \"revision\": null,\n  \"target_modules\": [", lp->r);
    /* a set in PEFT (written in arbitrary order); sorted here */
    int idx[CLFT_LORA_NT], n = 0;
    for (int t = 0; t < CLFT_LORA_NT; t++)
        if (lp->targets >> t & 1) idx[n++] = t;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(CLFT_LORA_PROJ[idx[j - 1]], CLFT_LORA_PROJ[idx[j]]) > 0; j--) {
            int x = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = x;
        }
    for (int i = 0; i < n; i++)
        clft_sbuf_printf(b, "%s\n    \"%s\"", i ? "," : "", CLFT_LORA_PROJ[idx[i]]);
    clft_sbuf_puts(b, n ? "\n  ],\n" : "],\n");
    clft_sbuf_printf(b,
                     "  \"target_parameters\": null,\n  \"task_type\": \"CAUSAL_LM\",\n"
                     "  \"trainable_token_indices\": null,\n  \"use_bdlora\": null,\n  \"use_dora\": false,\n"
                     "  \"use_qalora\": false,\n  \"use_rslora\": %s,\n  \"velora_config\": null\n}",
                     lp->use_rslora ? "true" : "false");
    return clft_sbuf_status(b);
}

clft_status clft_adapter_write(const char *dir, const clft_adapter_write_params *p, clft_st_fill_fn fill, void *user) {
    if (!dir || !p || !p->cfg || !fill)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "adapter writer: NULL argument");
    const clft_model_config *cfg = p->cfg;
    const uint32_t mask = p->lora.targets & ((1u << CLFT_LORA_NT) - 1);
    if (!mask || p->lora.r < 1) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: no LoRA targets or rank", dir);
    if (clft_mkdir_p(dir) != 0) return clft_error(CLFT_STATUS_IO, "%s: cannot create the folder", dir);
    int nt = 0;
    for (int t = 0; t < CLFT_LORA_NT; t++)
        nt += (int)(mask >> t & 1);
    const size_t n = (size_t)cfg->num_layers * (size_t)nt * 2;
    char(*names)[160] = clft_calloc(n, sizeof *names);
    clft_st_out_tensor *ts = clft_calloc(n, sizeof *ts);
    clft_status s = names && ts ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    size_t k = 0;
    for (int64_t l = 0; l < cfg->num_layers && !s; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!(mask >> t & 1)) continue;
            int64_t in, out;
            clft_lora_proj_dims(cfg, t, &in, &out);
            for (int w = 0; w < 2 && k < n; w++, k++) {
                snprintf(names[k], sizeof names[k], "base_model.model.model.layers.%lld.%s.%s.lora_%c.weight",
                         (long long)l, CLFT_LORA_BLOCK[t], CLFT_LORA_PROJ[t], w ? 'B' : 'A');
                ts[k].name = names[k];
                ts[k].dtype = CLFT_ST_F32;
                ts[k].ndim = 2;
                ts[k].shape[0] = w ? out : p->lora.r;
                ts[k].shape[1] = w ? p->lora.r : in;
            }
        }
    char bs[16], dq[4];
    snprintf(bs, sizeof bs, "%d", p->qlora_blocksize);
    snprintf(dq, sizeof dq, "%d", p->qlora_double_quant ? 1 : 0);
    const clft_st_kv meta[6] = {{"format", "pt"},
                                {"clft.method", clft_method_name(p->method)},
                                {"clft.base_dtype", clft_dtype_name(p->base_dtype)},
                                {"clft.qlora_blocksize", bs},
                                {"clft.qlora_double_quant", dq},
                                {"clft.version", clft_version_string()}};
    char *path = s ? NULL : clft_io_join(dir, "adapter_model.safetensors");
    if (!s && !path) s = CLFT_STATUS_HOST_OOM;
    if (!s) s = clft_st_write_file(path, ts, k, meta, 6, fill, user);
    free(path);
    /* the config last: a folder whose config is new has its tensors */
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_lora_params lp = p->lora;
    lp.targets = mask;
    if (!s) s = adapter_config_json(&lp, p->base_model, &b);
    path = s ? NULL : clft_io_join(dir, "adapter_config.json");
    if (!s && !path) s = CLFT_STATUS_HOST_OOM;
    if (!s) s = clft_io_write_atomic(path, b.data, b.len);
    free(path);
    clft_sbuf_free(&b);
    free(names);
    free(ts);
    return s;
}

typedef struct save_ctx {
    clft_model *m;
    clft_buf **bufs; /* lora_A / lora_B device buffers in the writer's order */
} save_ctx;

static clft_status save_fill(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    save_ctx *c = user;
    return clft_buf_read(c->m->ctx, c->bufs[index], (size_t)offset, dst, bytes);
}

clft_status clft_model_save_adapter(clft_model *m, const char *dir) {
    if (!m || !dir) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_model_save_adapter: NULL argument");
    const uint32_t mask = model_targets(m);
    if ((m->tp.method != CLFT_METHOD_LORA && m->tp.method != CLFT_METHOD_QLORA) || !mask)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s: the model has no LoRA adapters (method %s)", dir,
                          clft_method_name(m->tp.method));
    clft_buf **bufs = clft_calloc((size_t)m->L * CLFT_NTARGETS * 2, sizeof *bufs);
    if (!bufs) return CLFT_STATUS_HOST_OOM;
    size_t k = 0;
    for (int64_t l = 0; l < m->L; l++) /* the writer's order: layer, target, A then B */
        for (int t = 0; t < CLFT_NTARGETS; t++) {
            clft_linear *lin = &m->layers[l].lin[t];
            if (!lin->has_lora) continue;
            bufs[k++] = &lin->A.w;
            bufs[k++] = &lin->B.w;
        }
    clft_adapter_write_params p;
    memset(&p, 0, sizeof p);
    p.lora = m->tp.lora;
    p.lora.targets = mask;
    p.base_model = m->source[0] ? m->source : NULL;
    p.method = m->tp.method;
    p.base_dtype = m->tp.base_dtype;
    p.qlora_blocksize = m->tp.qlora_blocksize;
    p.qlora_double_quant = m->tp.qlora_double_quant;
    p.cfg = &m->cfg;
    save_ctx sc = {m, bufs};
    clft_status s = clft_adapter_write(dir, &p, save_fill, &sc);
    free(bufs);
    if (s) clft_error_prefix(s, "saving the adapter to %s", dir);
    return s;
}
