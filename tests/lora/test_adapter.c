/* test_adapter.c - PEFT adapter folders written and read by clft (device models): save -> info ->
 * load into a fresh model gives the same A and B bit for bit; adapter_config.json byte for byte as
 * PEFT writes it; adapter_model.safetensors names, shapes, dtype and metadata; round trips with rank,
 * alpha, rsLoRA and target subsets, QLoRA metadata; target_modules as a list, a regular expression,
 * "all-linear", with exclude_modules; every refusal with its message (file and key); an adapter for
 * another base (CLFT_STATUS_SHAPE_MISMATCH naming tensor and shapes); a model of another rank,
 * targets or scale; F16 and BF16 adapters widened.
 * usage: test_adapter DATA_DIR SCRATCH_DIR */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "lora/lora.h"
#include "ref/ref.h"
#include "tutil.h"

static const char *g_data, *g_scratch;
static clft_context *g_ctx;
static clft_model_config g_cfg;

static char *sub(const char *name) { return clft_io_join(g_scratch, name); }

static clft_model *make_model(clft_method method, const clft_lora_params *lp, clft_dtype base_dtype, int bs, int dq) {
    clft_train_params tp = clft_train_default_params(method);
    if (lp) tp.lora = *lp;
    if (base_dtype != CLFT_DTYPE_U8) tp.base_dtype = base_dtype;
    tp.qlora_blocksize = bs;
    tp.qlora_double_quant = dq;
    tp.embed_dtype = CLFT_DTYPE_F32; /* merges compared with the f32 files' embeddings and head */
    tp.batch = 1;
    tp.seq_len = 8;
    tp.inference = 1;
    clft_model *m = NULL;
    TU_OK(clft_model_create(g_ctx, &g_cfg, &tp, &m));
    return m;
}

/* random non-zero adapters; the values are kept in A[l][t] / B[l][t] */
typedef struct ab {
    float *A[4][CLFT_LORA_NT], *B[4][CLFT_LORA_NT];
} ab;

static void ab_free(ab *x) {
    for (int l = 0; l < 4; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            free(x->A[l][t]);
            free(x->B[l][t]);
        }
    memset(x, 0, sizeof *x);
}

static void set_random(clft_model *m, uint32_t targets, int r, uint64_t salt, ab *keep) {
    tu_rng rng = tu_rng_make(salt);
    memset(keep, 0, sizeof *keep);
    for (int l = 0; l < (int)g_cfg.num_layers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!(targets >> t & 1)) continue;
            int64_t in, out;
            clft_lora_proj_dims(&g_cfg, t, &in, &out);
            keep->A[l][t] = malloc((size_t)(r * in) * 4);
            keep->B[l][t] = malloc((size_t)(r * out) * 4);
            tu_fill(&rng, keep->A[l][t], (size_t)(r * in), -0.5f, 0.5f);
            tu_fill(&rng, keep->B[l][t], (size_t)(r * out), -0.5f, 0.5f);
            TU_OK(clft_model_lora_set(m, l, 1u << t, keep->A[l][t], keep->B[l][t]));
        }
}

/* the model's adapters equal keep (bit for bit, or after rounding to F16/BF16) */
static void check_same(const char *what, clft_model *m, uint32_t targets, int r, const ab *keep, clft_st_dtype dt) {
    size_t bad = 0, n = 0;
    for (int l = 0; l < (int)g_cfg.num_layers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!(targets >> t & 1)) continue;
            int64_t in, out;
            clft_lora_proj_dims(&g_cfg, t, &in, &out);
            float *A = malloc((size_t)(r * in) * 4), *B = malloc((size_t)(r * out) * 4);
            TU_OK(clft_model_lora_get(m, l, 1u << t, A, B));
            for (int w = 0; w < 2; w++) {
                const float *got = w ? B : A, *want = w ? keep->B[l][t] : keep->A[l][t];
                const int64_t cnt = w ? r * out : r * in;
                for (int64_t i = 0; i < cnt; i++, n++) {
                    float x = want[i];
                    if (dt == CLFT_ST_BF16) x = clft_ref_bf16_to_f32(clft_ref_f32_to_bf16(x));
                    if (dt == CLFT_ST_F16) x = clft_ref_f16_to_f32(clft_ref_f32_to_f16(x));
                    bad += memcmp(&x, &got[i], 4) != 0;
                }
            }
            free(A);
            free(B);
        }
    TU_CHECK(bad == 0 && n > 0, "%s: %zu of %zu adapter values differ", what, bad, n);
}

static char *read_text(const char *dir, const char *name) {
    char *p = clft_io_join(dir, name);
    char *t = tu_read_file(p, NULL);
    free(p);
    return t;
}

/* adapter_config.json of PEFT 0.21.2 for these values (json.dumps(indent=2, sort_keys=True)) */
static void expected_config(char *buf, size_t cap, const char *base, const char *alpha, const char *dropout, int r,
                            const char *targets_json, int rslora) {
    snprintf(buf, cap,
             "{\n  \"alora_invocation_tokens\": null,\n  \"alpha_pattern\": {},\n  \"arrow_config\": null,\n"
             "  \"auto_mapping\": null,\n  \"base_model_name_or_path\": %s,\n  \"bias\": \"none\",\n"
             "  \"corda_config\": null,\n  \"ensure_weight_tying\": false,\n  \"eva_config\": null,\n"
             "  \"exclude_modules\": null,\n  \"fan_in_fan_out\": false,\n  \"inference_mode\": true,\n"
             "  \"init_lora_weights\": true,\n  \"kasa_config\": null,\n  \"layer_replication\": null,\n"
             "  \"layers_pattern\": null,\n  \"layers_to_transform\": null,\n  \"loftq_config\": {},\n"
             "  \"lora_alpha\": %s,\n  \"lora_bias\": false,\n  \"lora_dropout\": %s,\n  \"lora_ga_config\": null,\n"
             "  \"megatron_config\": null,\n  \"megatron_core\": \"megatron.core\",\n  \"modules_to_save\": null,\n"
             "  \"monteclora_config\": null,\n  \"peft_type\": \"LORA\",\n  \"peft_version\": \"0.21.2\",\n"
             "  \"qalora_group_size\": 16,\n  \"r\": %d,\n  \"rank_pattern\": {},\n  \"revision\": null,\n"
             "  \"target_modules\": %s,\n  \"target_parameters\": null,\n  \"task_type\": \"CAUSAL_LM\",\n"
             "  \"trainable_token_indices\": null,\n  \"use_bdlora\": null,\n  \"use_dora\": false,\n"
             "  \"use_qalora\": false,\n  \"use_rslora\": %s,\n  \"velora_config\": null\n}",
             base, alpha, dropout, r, targets_json, rslora ? "true" : "false");
}

/* ---- bad folders ------------------------------------------------------------------------------------ */
static const char GOOD_TARGETS[] = "\"target_modules\": [\n    \"down_proj\",\n    \"q_proj\",\n    \"v_proj\"\n  ]";

/* A copy of adapter folder src with `from` replaced by `to` in its config (NULL: unchanged). */
static char *variant(const char *src, const char *name, const char *from, const char *to) {
    char *dir = sub(name);
    TU_CHECK(clft_mkdir_p(dir) == 0, "mkdir %s", dir);
    TU_OK(clft_io_copy_if_present(src, dir, "adapter_model.safetensors"));
    char *text = read_text(src, "adapter_config.json");
    if (!text) return dir;
    const char *at = from ? strstr(text, from) : NULL;
    TU_CHECK(!from || at, "variant %s: '%s' not in the config", name, from);
    char *out = malloc(strlen(text) + (to ? strlen(to) : 0) + 1);
    if (at) {
        size_t pre = (size_t)(at - text);
        memcpy(out, text, pre);
        strcpy(out + pre, to);
        strcat(out, at + strlen(from));
    } else {
        strcpy(out, text);
    }
    char *p = clft_io_join(dir, "adapter_config.json");
    TU_OK(clft_io_write_atomic(p, out, strlen(out)));
    free(p);
    free(out);
    free(text);
    return dir;
}

/* clft_adapter_info_read(dir) gives `want` and a message holding every needle */
static void expect_refused(const char *what, const char *dir, clft_status want, const char *n1, const char *n2) {
    clft_adapter_info info;
    clft_status s = clft_adapter_info_read(dir, &info);
    const char *e = clft_last_error();
    TU_CHECK(s == want && (!n1 || strstr(e, n1)) && (!n2 || strstr(e, n2)) && !strchr(e, '\n'),
             "%s: got %s: %s (want %s naming '%s' '%s')", what, clft_status_string(s), e, clft_status_string(want),
             n1 ? n1 : "", n2 ? n2 : "");
}

static void refused(const char *src, const char *name, const char *from, const char *to, clft_status want,
                    const char *key) {
    char *dir = variant(src, name, from, to);
    char cfgfile[4200];
    snprintf(cfgfile, sizeof cfgfile, "%s/adapter_config.json", dir);
    expect_refused(name, dir, want, cfgfile, key);
    free(dir);
}

/* Rewrite src's tensors into dir in another dtype, optionally with one extra tensor. */
static void rewrite_tensors(const char *src, const char *dir, clft_st_dtype dt, const char *extra) {
    char *in = clft_io_join(src, "adapter_model.safetensors"), *out = clft_io_join(dir, "adapter_model.safetensors");
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open(in, &st));
    size_t n = st ? clft_st_count(st) : 0;
    clft_st_out_tensor *ts = calloc(n + 1, sizeof *ts);
    void **bufs = calloc(n + 1, sizeof *bufs);
    for (size_t i = 0; i < n; i++) {
        const clft_st_tensor *t = clft_st_at(st, i);
        ts[i].name = t->name;
        ts[i].dtype = dt;
        ts[i].ndim = t->ndim;
        memcpy(ts[i].shape, t->shape, sizeof ts[i].shape);
        float *f = malloc((size_t)t->numel * 4);
        TU_OK(clft_st_to_f32(st, t, f));
        if (dt == CLFT_ST_F32) {
            bufs[i] = f;
        } else {
            uint16_t *h = malloc((size_t)t->numel * 2);
            for (int64_t k = 0; k < t->numel; k++)
                h[k] = dt == CLFT_ST_F16 ? clft_ref_f32_to_f16(f[k]) : clft_ref_f32_to_bf16(f[k]);
            free(f);
            bufs[i] = h;
        }
        ts[i].data = bufs[i];
    }
    if (extra) {
        ts[n].name = extra;
        ts[n].dtype = CLFT_ST_F32;
        ts[n].ndim = 2;
        ts[n].shape[0] = 4;
        ts[n].shape[1] = g_cfg.hidden_size;
        bufs[n] = calloc((size_t)(4 * g_cfg.hidden_size), 4);
        ts[n].data = bufs[n];
        n++;
    }
    clft_st_kv meta = {"format", "pt"};
    TU_CHECK(clft_mkdir_p(dir) == 0, "mkdir");
    TU_OK(clft_st_write_file(out, ts, n, &meta, 1, NULL, NULL));
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(ts);
    clft_safetensors_free(st);
    free(in);
    free(out);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_adapter DATA_DIR SCRATCH_DIR\n");
        return 2;
    }
    tu_init_seed();
    g_ctx = tu_context();
    g_data = argv[1];
    g_scratch = tu_scratch_dir(argv[2], "adapter");
    if (!g_scratch) return 1;
    char *cfgp = clft_io_join(g_data, "base_config.json"), *base = sub("base");
    clft_model_init_params ip = clft_model_init_default_params();
    ip.config_path = cfgp;
    ip.seed = 7;
    TU_OK(clft_model_init_write(base, &ip));
    TU_OK(clft_model_config_load(base, &g_cfg));
    char base_abs[PATH_MAX];
    TU_CHECK(realpath(base, base_abs) != NULL, "realpath");

    /* 1. LoRA r 4, alpha 8, dropout 0.05 on q, v, down; weights loaded from the base folder */
    const uint32_t T1 = CLFT_LORA_Q | CLFT_LORA_V | CLFT_LORA_DOWN;
    clft_lora_params lp = {4, 8.0f, 0.05f, 0, T1};
    clft_model *m1 = make_model(CLFT_METHOD_LORA, &lp, CLFT_DTYPE_U8, 64, 1);
    if (!m1) return tu_finish("test_adapter");
    TU_OK(clft_model_load_weights(m1, base));
    ab k1;
    set_random(m1, T1, 4, 1, &k1);
    char *a1 = sub("a1");
    TU_OK(clft_model_save_adapter(m1, a1));
    {
        char want[16384], quoted[PATH_MAX + 8];
        snprintf(quoted, sizeof quoted, "\"%s\"", base_abs);
        expected_config(want, sizeof want, quoted, "8", "0.05", 4,
                        "[\n    \"down_proj\",\n    \"q_proj\",\n    \"v_proj\"\n  ]", 0);
        char *got = read_text(a1, "adapter_config.json");
        TU_CHECK(got && !strcmp(got, want), "adapter_config.json as PEFT writes it:\n%s\n--- want ---\n%s",
                 got ? got : "(none)", want);
        free(got);
    }
    {
        char *p = clft_io_join(a1, "adapter_model.safetensors");
        clft_safetensors *st = NULL;
        TU_OK(clft_st_open(p, &st));
        if (st) {
            const char *meta[][2] = {{"format", "pt"},
                                     {"clft.method", "lora"},
                                     {"clft.base_dtype", "f32"},
                                     {"clft.qlora_blocksize", "64"},
                                     {"clft.qlora_double_quant", "1"},
                                     {"clft.version", clft_version_string()}};
            for (int i = 0; i < 6; i++) {
                const char *v = clft_st_metadata(st, 0, meta[i][0]);
                TU_CHECK(v && !strcmp(v, meta[i][1]), "metadata %s = %s", meta[i][0], v ? v : "(none)");
            }
            TU_CHECK(clft_st_count(st) == 12, "12 tensors, got %zu", clft_st_count(st));
            const struct {
                const char *name;
                int64_t d0, d1;
            } want[] = {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", 4, 48},
                        {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", 48, 4},
                        {"base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight", 4, 48},
                        {"base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", 24, 4},
                        {"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", 4, 88},
                        {"base_model.model.model.layers.0.mlp.down_proj.lora_B.weight", 48, 4}};
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                const clft_st_tensor *t = clft_st_find(st, want[i].name);
                TU_CHECK(t && t->dtype == CLFT_ST_F32 && t->ndim == 2 && t->shape[0] == want[i].d0 &&
                             t->shape[1] == want[i].d1,
                         "tensor %s F32 [%lld, %lld]", want[i].name, (long long)want[i].d0, (long long)want[i].d1);
            }
        }
        clft_safetensors_free(st);
        free(p);
    }
    clft_adapter_info info;
    TU_OK(clft_adapter_info_read(a1, &info));
    TU_CHECK(info.lora.r == 4 && info.lora.alpha == 8.0f && info.lora.dropout == 0.05f && !info.lora.use_rslora &&
                 info.lora.targets == T1,
             "info: r %d alpha %g dropout %g rslora %d targets 0x%x", info.lora.r, (double)info.lora.alpha,
             (double)info.lora.dropout, info.lora.use_rslora, info.lora.targets);
    TU_CHECK(!strcmp(info.base_model, base_abs) && !strcmp(info.dtype, "F32"), "info: base '%s' dtype %s",
             info.base_model, info.dtype);
    TU_CHECK(info.from_clft && info.method == CLFT_METHOD_LORA && info.base_dtype == CLFT_DTYPE_F32 &&
                 info.qlora_blocksize == 64 && info.qlora_double_quant == 1,
             "info: clft metadata");
    clft_model *m2 = make_model(CLFT_METHOD_LORA, &info.lora, CLFT_DTYPE_BF16, 64, 1);
    if (m2) {
        TU_OK(clft_model_load_adapter(m2, a1));
        check_same("save -> load", m2, T1, 4, &k1, CLFT_ST_F32);
    }

    /* 2. rsLoRA, every projection, r 3, alpha 0.5; a model without a source folder */
    {
        clft_lora_params l2 = {3, 0.5f, 0.0f, 1, CLFT_LORA_ALL};
        clft_model *m = make_model(CLFT_METHOD_LORA, &l2, CLFT_DTYPE_F16, 64, 1);
        ab k;
        char *a = sub("a2");
        if (m) {
            set_random(m, CLFT_LORA_ALL, 3, 2, &k);
            TU_OK(clft_model_save_adapter(m, a));
            char want[16384];
            expected_config(want, sizeof want, "null", "0.5", "0.0", 3,
                            "[\n    \"down_proj\",\n    \"gate_proj\",\n    \"k_proj\",\n    \"o_proj\",\n    "
                            "\"q_proj\",\n    \"up_proj\",\n    \"v_proj\"\n  ]",
                            1);
            char *got = read_text(a, "adapter_config.json");
            TU_CHECK(got && !strcmp(got, want), "rslora adapter_config.json:\n%s", got ? got : "(none)");
            free(got);
            clft_adapter_info in2;
            TU_OK(clft_adapter_info_read(a, &in2));
            TU_CHECK(in2.lora.r == 3 && in2.lora.alpha == 0.5f && in2.lora.use_rslora &&
                         in2.lora.targets == CLFT_LORA_ALL && in2.base_model[0] == '\0' &&
                         in2.base_dtype == CLFT_DTYPE_F16,
                     "rslora info");
            clft_model *mm = make_model(CLFT_METHOD_QLORA, &in2.lora, CLFT_DTYPE_NF4, 64, 1);
            if (mm) {
                TU_OK(clft_model_load_adapter(mm, a)); /* the base storage does not matter to the adapter */
                check_same("rslora all targets", mm, CLFT_LORA_ALL, 3, &k, CLFT_ST_F32);
                clft_model_free(mm);
            }
            ab_free(&k);
            clft_model_free(m);
        }
        free(a);
    }
    /* 3. QLoRA: the metadata says how the base was stored */
    {
        clft_lora_params l3 = {2, 16.0f, 0.1f, 0, CLFT_LORA_K | CLFT_LORA_GATE};
        clft_model *m = make_model(CLFT_METHOD_QLORA, &l3, CLFT_DTYPE_FP4, 128, 0);
        char *a = sub("a3");
        if (m) {
            ab k;
            set_random(m, l3.targets, 2, 3, &k);
            TU_OK(clft_model_save_adapter(m, a));
            clft_adapter_info in3;
            TU_OK(clft_adapter_info_read(a, &in3));
            TU_CHECK(in3.from_clft && in3.method == CLFT_METHOD_QLORA && in3.base_dtype == CLFT_DTYPE_FP4 &&
                         in3.qlora_blocksize == 128 && in3.qlora_double_quant == 0 && in3.lora.dropout == 0.1f,
                     "qlora info: method %d base %s bs %d dq %d", (int)in3.method, clft_dtype_name(in3.base_dtype),
                     in3.qlora_blocksize, in3.qlora_double_quant);
            clft_model *mm = make_model(CLFT_METHOD_LORA, &in3.lora, CLFT_DTYPE_F32, 64, 1);
            if (mm) {
                TU_OK(clft_model_load_adapter(mm, a));
                check_same("qlora round trip", mm, l3.targets, 2, &k, CLFT_ST_F32);
                clft_model_free(mm);
            }
            ab_free(&k);
            clft_model_free(m);
        }
        free(a);
    }

    /* 4. target_modules forms PEFT accepts */
    {
        struct {
            const char *name, *to;
            uint32_t mask;
        } ok[] = {
            {"re_targets", "\"target_modules\": \".*\\\\.(q_proj|v_proj|down_proj)\"", T1},
            {"re_self_attn_mlp",
             "\"target_modules\": \"model\\\\.layers\\\\.\\\\d+\\\\.(self_attn\\\\.[qv]|mlp\\\\.down)_proj\"", T1},
            {"list_suffix", "\"target_modules\": [\"self_attn.q_proj\", \"v_proj\", \"mlp.down_proj\", \"foo\"]", T1},
            {"exclude", "\"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"down_proj\"]", T1},
        };
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
            char *d = variant(a1, ok[i].name, GOOD_TARGETS, ok[i].to);
            if (!strcmp(ok[i].name, "exclude")) { /* k_proj listed, then excluded */
                char *d2 = variant(d, "exclude_k", "\"exclude_modules\": null", "\"exclude_modules\": [\"k_proj\"]");
                free(d);
                d = d2;
            }
            clft_adapter_info in;
            TU_OK(clft_adapter_info_read(d, &in));
            TU_CHECK(in.lora.targets == ok[i].mask, "%s: targets 0x%x", ok[i].name, in.lora.targets);
            if (m2 && !strcmp(ok[i].name, "re_targets")) {
                TU_OK(clft_model_load_adapter(m2, d));
                check_same("regex targets", m2, T1, 4, &k1, CLFT_ST_F32);
            }
            free(d);
        }
        /* all-linear needs every projection's tensors */
        char *d = variant(a1, "all_linear", GOOD_TARGETS, "\"target_modules\": \"all-linear\"");
        expect_refused("all-linear without k_proj tensors", d, CLFT_STATUS_FORMAT, "k_proj.lora_A.weight", "missing");
        free(d);
        char *a2 = sub("a2");
        d = variant(a2, "all_linear_ok",
                    "\"target_modules\": [\n    \"down_proj\",\n    \"gate_proj\",\n    \"k_proj\",\n    \"o_proj\",\n "
                    "   \"q_proj\",\n    \"up_proj\",\n    \"v_proj\"\n  ]",
                    "\"target_modules\": \"all-linear\"");
        clft_adapter_info in;
        TU_OK(clft_adapter_info_read(d, &in));
        TU_CHECK(in.lora.targets == CLFT_LORA_ALL, "all-linear: targets 0x%x", in.lora.targets);
        free(d);
        free(a2);
        /* a plain name as a string is a regex that must match the whole module name: nothing */
        d = variant(a1, "string_name", GOOD_TARGETS, "\"target_modules\": \"q_proj\"");
        expect_refused("target_modules \"q_proj\" (a regex)", d, CLFT_STATUS_FORMAT, "target_modules", "none");
        free(d);
        /* null: PEFT's default for llama (q_proj, v_proj), which leaves down_proj's tensors unselected */
        d = variant(a1, "null_targets", GOOD_TARGETS, "\"target_modules\": null");
        expect_refused("target_modules null", d, CLFT_STATUS_FORMAT, "down_proj", "does not select");
        free(d);
        d = variant(a1, "bad_regex", GOOD_TARGETS, "\"target_modules\": \"(q_proj\"");
        expect_refused("a regex that does not compile", d, CLFT_STATUS_FORMAT, "target_modules", "compile");
        free(d);
    }

    /* 5. refusals, by name */
    {
        const struct {
            const char *name, *from, *to, *key;
            clft_status st;
        } R[] = {
            {"peft_type", "\"peft_type\": \"LORA\"", "\"peft_type\": \"LOHA\"", "'peft_type'", CLFT_STATUS_UNSUPPORTED},
            {"task_type", "\"task_type\": \"CAUSAL_LM\"", "\"task_type\": \"SEQ_CLS\"", "'task_type'",
             CLFT_STATUS_UNSUPPORTED},
            {"use_dora", "\"use_dora\": false", "\"use_dora\": true", "'use_dora'", CLFT_STATUS_UNSUPPORTED},
            {"modules_to_save", "\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]", "'modules_to_save'",
             CLFT_STATUS_UNSUPPORTED},
            {"layers_to_transform", "\"layers_to_transform\": null", "\"layers_to_transform\": [0]",
             "'layers_to_transform'", CLFT_STATUS_UNSUPPORTED},
            {"layers_pattern", "\"layers_pattern\": null", "\"layers_pattern\": \"layers\"", "'layers_pattern'",
             CLFT_STATUS_UNSUPPORTED},
            {"rank_pattern", "\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 8}", "'rank_pattern'",
             CLFT_STATUS_UNSUPPORTED},
            {"alpha_pattern", "\"alpha_pattern\": {}", "\"alpha_pattern\": {\"q_proj\": 32}", "'alpha_pattern'",
             CLFT_STATUS_UNSUPPORTED},
            {"bias", "\"bias\": \"none\"", "\"bias\": \"lora_only\"", "'bias'", CLFT_STATUS_UNSUPPORTED},
            {"lora_bias", "\"lora_bias\": false", "\"lora_bias\": true", "'lora_bias'", CLFT_STATUS_UNSUPPORTED},
            {"fan_in_fan_out", "\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true", "'fan_in_fan_out'",
             CLFT_STATUS_UNSUPPORTED},
            {"trainable_token_indices", "\"trainable_token_indices\": null", "\"trainable_token_indices\": [1, 2]",
             "'trainable_token_indices'", CLFT_STATUS_UNSUPPORTED},
            {"layer_replication", "\"layer_replication\": null", "\"layer_replication\": [[0, 2]]",
             "'layer_replication'", CLFT_STATUS_UNSUPPORTED},
            {"use_qalora", "\"use_qalora\": false", "\"use_qalora\": true", "'use_qalora'", CLFT_STATUS_UNSUPPORTED},
            {"alora", "\"alora_invocation_tokens\": null", "\"alora_invocation_tokens\": [5, 6]",
             "'alora_invocation_tokens'", CLFT_STATUS_UNSUPPORTED},
            {"pissa", "\"init_lora_weights\": true", "\"init_lora_weights\": \"pissa\"", "'init_lora_weights'",
             CLFT_STATUS_UNSUPPORTED},
            {"lm_head_target", GOOD_TARGETS, "\"target_modules\": [\"q_proj\", \"v_proj\", \"down_proj\", \"lm_head\"]",
             "lm_head", CLFT_STATUS_UNSUPPORTED},
            {"embed_target", GOOD_TARGETS,
             "\"target_modules\": [\"embed_tokens\", \"q_proj\", \"v_proj\", \"down_proj\"]", "embed_tokens",
             CLFT_STATUS_UNSUPPORTED},
            {"norm_target", GOOD_TARGETS, "\"target_modules\": \".*(q_proj|v_proj|down_proj|input_layernorm)\"",
             "input_layernorm", CLFT_STATUS_UNSUPPORTED},
            {"per_layer", GOOD_TARGETS,
             "\"target_modules\": \"model\\\\.layers\\\\.0\\\\.self_attn\\\\.(q|v)_proj|.*down_proj\"",
             "different layers", CLFT_STATUS_UNSUPPORTED},
            {"r_string", "\"r\": 4", "\"r\": \"4\"", "'r'", CLFT_STATUS_FORMAT},
            {"r_other", "\"r\": 4", "\"r\": 5", "r = 5", CLFT_STATUS_FORMAT},
            {"alpha_negative", "\"lora_alpha\": 8", "\"lora_alpha\": -8", "'lora_alpha'", CLFT_STATUS_FORMAT},
            {"malformed", "\"r\": 4,", "\"r\": 4,,", "not a JSON object", CLFT_STATUS_FORMAT},
        };
        for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
            if (!strcmp(R[i].name, "r_other")) { /* a message about the tensors of the safetensors file */
                char *d = variant(a1, R[i].name, R[i].from, R[i].to);
                expect_refused(R[i].name, d, R[i].st, "adapter_model.safetensors", R[i].key);
                free(d);
                continue;
            }
            refused(a1, R[i].name, R[i].from, R[i].to, R[i].st, R[i].key);
        }
        /* a lm_head adapter found only among the tensors */
        char *d = variant(a1, "lm_head_tensor", NULL, NULL);
        rewrite_tensors(a1, d, CLFT_ST_F32, "base_model.model.lm_head.lora_A.weight");
        expect_refused("lm_head tensor", d, CLFT_STATUS_UNSUPPORTED, "lm_head.lora_A.weight", "lm_head");
        free(d);
        d = variant(a1, "embed_tensor", NULL, NULL);
        rewrite_tensors(a1, d, CLFT_ST_F32, "base_model.model.model.embed_tokens.lora_embedding_A");
        expect_refused("embed_tokens tensor", d, CLFT_STATUS_UNSUPPORTED, "embed_tokens", NULL);
        free(d);
        /* adapter_model.bin only */
        d = variant(a1, "bin_only", NULL, NULL);
        char *st = clft_io_join(d, "adapter_model.safetensors"), *bin = clft_io_join(d, "adapter_model.bin");
        TU_CHECK(rename(st, bin) == 0, "rename");
        expect_refused("adapter_model.bin only", d, CLFT_STATUS_UNSUPPORTED, "pickle", "PEFT");
        TU_CHECK(unlink(bin) == 0, "unlink");
        expect_refused("no weights", d, CLFT_STATUS_IO, "adapter_model.safetensors", "missing");
        free(st);
        free(bin);
        free(d);
        d = sub("no_config");
        TU_CHECK(clft_mkdir_p(d) == 0, "mkdir");
        TU_OK(clft_io_copy_if_present(a1, d, "adapter_model.safetensors"));
        expect_refused("no adapter_config.json", d, CLFT_STATUS_IO, "adapter_config.json", "missing");
        free(d);
        expect_refused("no folder", "/nonexistent/adapter", CLFT_STATUS_IO, "/nonexistent/adapter", NULL);
    }

    /* 6. F16 / BF16 tensors are widened */
    if (m2) {
        const clft_st_dtype dts[2] = {CLFT_ST_F16, CLFT_ST_BF16};
        for (int i = 0; i < 2; i++) {
            char *d = variant(a1, i ? "bf16" : "f16", NULL, NULL);
            rewrite_tensors(a1, d, dts[i], NULL);
            clft_adapter_info in;
            TU_OK(clft_adapter_info_read(d, &in));
            TU_CHECK(!strcmp(in.dtype, i ? "BF16" : "F16") && !in.from_clft, "dtype %s, no clft metadata", in.dtype);
            TU_OK(clft_model_load_adapter(m2, d));
            check_same(i ? "bf16 adapter" : "f16 adapter", m2, T1, 4, &k1, dts[i]);
            free(d);
        }
    }

    /* 7. an adapter for another base, another rank / targets / scale, a full model */
    if (m2) {
        clft_model_config saved = g_cfg;
        clft_model_config other = g_cfg;
        other.intermediate_size = 96;
        g_cfg = other;
        clft_model *mo = make_model(CLFT_METHOD_LORA, &lp, CLFT_DTYPE_U8, 64, 1);
        g_cfg = saved;
        char *ao = sub("a_other");
        if (mo) {
            ab k;
            g_cfg = other;
            set_random(mo, T1, 4, 9, &k);
            g_cfg = saved;
            TU_OK(clft_model_save_adapter(mo, ao));
            ab_free(&k);
            clft_model_free(mo);
        }
        clft_status s = clft_model_load_adapter(m2, ao);
        const char *e = clft_last_error();
        TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH && strstr(e, "mlp.down_proj.lora_A.weight") && strstr(e, "[4, 96]") &&
                     strstr(e, "[4, 88]"),
                 "adapter for another base: %s: %s", clft_status_string(s), e);
        check_same("unchanged after a refused load", m2, T1, 4, &k1, CLFT_ST_BF16);
        free(ao);
        clft_lora_params l8 = lp;
        l8.r = 8;
        clft_model *m8 = make_model(CLFT_METHOD_LORA, &l8, CLFT_DTYPE_U8, 64, 1);
        s = m8 ? clft_model_load_adapter(m8, a1) : CLFT_OK;
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "rank 4") &&
                     strstr(clft_last_error(), "rank 8"),
                 "another rank: %s: %s", clft_status_string(s), clft_last_error());
        clft_model_free(m8);
        clft_lora_params lq = lp;
        lq.targets = CLFT_LORA_Q | CLFT_LORA_V;
        clft_model *mq = make_model(CLFT_METHOD_LORA, &lq, CLFT_DTYPE_U8, 64, 1);
        s = mq ? clft_model_load_adapter(mq, a1) : CLFT_OK;
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "q_proj,v_proj,down_proj"),
                 "other targets: %s: %s", clft_status_string(s), clft_last_error());
        clft_model_free(mq);
        clft_lora_params la = lp;
        la.alpha = 16.0f;
        clft_model *ma = make_model(CLFT_METHOD_LORA, &la, CLFT_DTYPE_U8, 64, 1);
        s = ma ? clft_model_load_adapter(ma, a1) : CLFT_OK;
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "scale"), "another alpha: %s: %s",
                 clft_status_string(s), clft_last_error());
        clft_model_free(ma);
        clft_model *mf = make_model(CLFT_METHOD_FULL, NULL, CLFT_DTYPE_U8, 64, 1);
        s = mf ? clft_model_load_adapter(mf, a1) : CLFT_OK;
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT, "full model: %s", clft_status_string(s));
        char *af = sub("a_full");
        s = mf ? clft_model_save_adapter(mf, af) : CLFT_OK;
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT, "save from a full model: %s", clft_status_string(s));
        free(af);
        clft_model_free(mf);
    }

    /* 8. clft_model_save_pretrained: full weights as they are; adapters merged as clft export does */
    {
        clft_model *mf = make_model(CLFT_METHOD_FULL, NULL, CLFT_DTYPE_U8, 64, 1);
        char *o = sub("pre_full");
        if (mf) {
            TU_OK(clft_model_load_weights(mf, base));
            TU_OK(clft_model_save_pretrained(mf, o, CLFT_DTYPE_F32, 0, 0));
            const char *files[] = {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                                   "tokenizer_config.json"};
            for (int i = 0; i < 5; i++) { /* the same bytes clft init wrote */
                char *x = clft_io_join(base, files[i]);
                char *y = clft_io_join(o, files[i]);
                size_t nx = 0, ny = 0;
                char *a = tu_read_file(x, &nx), *b = tu_read_file(y, &ny);
                TU_CHECK(a && b && nx == ny && !memcmp(a, b, nx), "full save_pretrained: %s identical to the base's",
                         files[i]);
                free(a);
                free(b);
                free(x);
                free(y);
            }
            clft_status s = clft_model_save_pretrained(mf, o, CLFT_DTYPE_F32, 0, 0);
            TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "holds a model"),
                     "a folder holding a model is refused: %s", clft_status_string(s));
            TU_OK(clft_model_save_pretrained(mf, o, CLFT_DTYPE_BF16, 30000, 1));
            char *idx = clft_io_join(o, "model.safetensors.index.json"), *one = clft_io_join(o, "model.safetensors");
            TU_CHECK(access(idx, F_OK) == 0 && access(one, F_OK) != 0, "force: shards replace model.safetensors");
            clft_model_config c2;
            TU_OK(clft_model_config_load(o, &c2));
            TU_CHECK(!strcmp(c2.torch_dtype, "bfloat16"), "torch_dtype %s", c2.torch_dtype);
            free(idx);
            free(one);
            /* a folder with other files (a training run's output) is fine */
            char *o2 = sub("pre_run"), *mj = clft_io_join(o2, "metrics.jsonl");
            TU_CHECK(clft_mkdir_p(o2) == 0, "mkdir");
            TU_OK(clft_io_write_atomic(mj, "{}\n", 3));
            TU_OK(clft_model_save_pretrained(mf, o2, CLFT_DTYPE_F16, 0, 0));
            free(mj);
            free(o2);
            clft_model_free(mf);
        }
        free(o);
        /* LoRA (f32 base) and QLoRA models: the folder equals clft export of their saved adapters */
        const struct {
            clft_method method;
            clft_dtype base_dtype, out;
        } M[] = {{CLFT_METHOD_LORA, CLFT_DTYPE_F32, CLFT_DTYPE_BF16},
                 {CLFT_METHOD_QLORA, CLFT_DTYPE_NF4, CLFT_DTYPE_F32}};
        for (int i = 0; i < 2; i++) {
            clft_lora_params l = {4, 8.0f, 0.0f, i, CLFT_LORA_Q | CLFT_LORA_O | CLFT_LORA_UP};
            clft_model *m = make_model(M[i].method, &l, M[i].base_dtype, 64, 1);
            if (!m) continue;
            char name[32];
            snprintf(name, sizeof name, "pre_%d", i);
            char *ad = sub("pre_adapter"), *po = sub(name), *eo = sub("pre_export");
            ab k;
            TU_OK(clft_model_load_weights(m, base));
            set_random(m, l.targets, 4, 20 + (uint64_t)i, &k);
            TU_OK(clft_model_save_pretrained(m, po, M[i].out, 0, 0));
            TU_OK(clft_model_save_adapter(m, ad));
            clft_export_params ep = clft_export_default_params();
            ep.dtype = M[i].out;
            ep.force = 1;
            TU_OK(clft_export_merged(base, ad, eo, &ep));
            char *x = clft_io_join(po, "model.safetensors"), *y = clft_io_join(eo, "model.safetensors");
            size_t nx = 0, ny = 0;
            char *a = tu_read_file(x, &nx), *b = tu_read_file(y, &ny);
            TU_CHECK(a && b && nx == ny && !memcmp(a, b, nx), "%s save_pretrained equals clft export (%zu/%zu bytes)",
                     clft_method_name(M[i].method), nx, ny);
            /* and the merge changed something */
            char *z = clft_io_join(base, "model.safetensors");
            size_t nz = 0;
            char *c = tu_read_file(z, &nz);
            TU_CHECK(c && M[i].out == CLFT_DTYPE_F32 ? memcmp(a, c, nx < nz ? nx : nz) != 0 : 1, "merged differs");
            free(c);
            free(z);
            free(a);
            free(b);
            free(x);
            free(y);
            ab_free(&k);
            free(ad);
            free(po);
            free(eo);
            clft_model_free(m);
        }
        /* tied embeddings: no lm_head tensor */
        clft_model_config saved = g_cfg;
        g_cfg.tie_word_embeddings = 1;
        clft_model *mt = make_model(CLFT_METHOD_FULL, NULL, CLFT_DTYPE_U8, 64, 1);
        g_cfg = saved;
        char *ot = sub("pre_tied");
        if (mt) {
            TU_OK(clft_model_init_random(mt, 5, 0.02f));
            TU_OK(clft_model_save_pretrained(mt, ot, CLFT_DTYPE_F32, 0, 0));
            clft_safetensors *st = NULL;
            TU_OK(clft_st_open(ot, &st));
            TU_CHECK(st && !clft_st_find(st, "lm_head.weight") && clft_st_find(st, "model.embed_tokens.weight"),
                     "tied: no lm_head.weight");
            clft_safetensors_free(st);
            clft_model_config c2;
            TU_OK(clft_model_config_load(ot, &c2));
            TU_CHECK(c2.tie_word_embeddings, "tied config");
            clft_model_free(mt);
        }
        free(ot);
    }

    ab_free(&k1);
    clft_model_free(m1);
    clft_model_free(m2);
    free(a1);
    free(base);
    free(cfgp);
    clft_context_free(g_ctx);
    tu_scratch_done(g_scratch);
    return tu_finish("test_adapter");
}
