/* test_hf_reference.c - clft against Hugging Face transformers + PEFT + bitsandbytes on the matrix
 * of tests/reference/hf_reference.py (fixtures in tests/golden/hf, one per case; the case is
 * described in the file's metadata, the weights come from hf_gen.h on both sides).
 *
 * For every fixture, on the test device, with activation checkpointing off and on: the model is
 * built from the case (architecture, sizes, RoPE scaling, window, tied, biases; method full / LoRA
 * with an f32, f16 or bf16 base / QLoRA with NF4 or FP4, blocksize 64 or 128, double quantization
 * on or off), every weight set from the generator (QLoRA: quantized by clft while setting, which is
 * byte-identical to bitsandbytes), adapters set, one forward + loss + backward, and
 *   loss      |d| <= 1e-5 |ref|
 *   logits    |d| <= 2e-5 max|ref| + 1e-4 |ref|                       (elementwise)
 *   gradients |d| <= 2e-4 max|ref| + 1e-3 |ref|, NMSE <= 1e-8          (every trainable tensor)
 * QLoRA also checks clft's dequantized weights against bitsandbytes' (dequant.* tensors, exact
 * up to one rounding). f32 arithmetic on both sides, different summation orders. Where a device
 * takes the CLBlast HGEMM path (fp16 arithmetic, cl_khr_fp16 devices only) for an f16 base, the
 * tolerances are those of fp16 products (logits 2e-3, gradients 1e-2 of max) and the output says so.
 * Per case it prints the worst relative errors (max |d| / max |ref|): the numbers of the matrix.
 * CLFT_HF_CASE=substring runs the matching cases only; CLFT_HF_FIXTURES=DIR reads the fixtures
 * from DIR (tools/reference.sh regenerates them there). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_gen.h"
#include "cl/clrt.h"
#include "io/safetensors.h"
#include "ops/gemm.h"
#include "tutil.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "."
#endif

static const char *PROJ[7][2] = {{"self_attn", "q_proj"}, {"self_attn", "k_proj"}, {"self_attn", "v_proj"},
                                 {"self_attn", "o_proj"}, {"mlp", "gate_proj"},    {"mlp", "up_proj"},
                                 {"mlp", "down_proj"}};

typedef struct hf_case {
    char name[96], arch[16], method[8], dtype[8];
    int64_t vocab, hidden, inter, layers, heads, kv, window, pad;
    int tied, bias, blocksize, dq, B, T, r;
    double eps, theta, alpha;
    uint64_t seed;
    char rope_type[16];
    double rope_factor, rope_low, rope_high;
    int64_t rope_orig;
} hf_case;

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1 : 0;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
static void jstr(const cJSON *o, const char *k, char *dst, size_t n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int parse_case(const char *json, hf_case *c) {
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    if (!o) return 0;
    jstr(o, "name", c->name, sizeof c->name);
    jstr(o, "arch", c->arch, sizeof c->arch);
    jstr(o, "method", c->method, sizeof c->method);
    jstr(o, "dtype", c->dtype, sizeof c->dtype);
    c->vocab = (int64_t)jnum(o, "vocab");
    c->hidden = (int64_t)jnum(o, "hidden");
    c->inter = (int64_t)jnum(o, "inter");
    c->layers = (int64_t)jnum(o, "layers");
    c->heads = (int64_t)jnum(o, "heads");
    c->kv = (int64_t)jnum(o, "kv");
    c->window = (int64_t)jnum(o, "window");
    c->pad = (int64_t)jnum(o, "pad");
    c->tied = (int)jnum(o, "tied");
    c->bias = (int)jnum(o, "bias");
    c->blocksize = (int)jnum(o, "blocksize");
    c->dq = (int)jnum(o, "double_quant");
    c->B = (int)jnum(o, "B");
    c->T = (int)jnum(o, "T");
    c->r = (int)jnum(o, "r");
    c->eps = jnum(o, "eps");
    c->theta = jnum(o, "theta");
    c->alpha = jnum(o, "alpha");
    c->seed = (uint64_t)jnum(o, "seed");
    const cJSON *rope = cJSON_GetObjectItemCaseSensitive(o, "rope");
    jstr(rope, "rope_type", c->rope_type, sizeof c->rope_type);
    c->rope_factor = jnum(rope, "factor");
    c->rope_low = jnum(rope, "low_freq_factor");
    c->rope_high = jnum(rope, "high_freq_factor");
    c->rope_orig = (int64_t)jnum(rope, "original_max_position_embeddings");
    cJSON_Delete(o);
    return c->name[0] && c->vocab > 0 && c->hidden > 0 && c->layers > 0 && c->B > 0 && c->T > 0;
}

static void case_config(const hf_case *c, clft_model_config *cfg) {
    clft_model_config_defaults(!strcmp(c->arch, "mistral") ? CLFT_ARCH_MISTRAL
                               : !strcmp(c->arch, "qwen2") ? CLFT_ARCH_QWEN2
                                                           : CLFT_ARCH_LLAMA,
                               cfg);
    cfg->vocab_size = c->vocab;
    cfg->hidden_size = c->hidden;
    cfg->intermediate_size = c->inter;
    cfg->num_layers = c->layers;
    cfg->num_heads = c->heads;
    cfg->num_kv_heads = c->kv;
    cfg->head_dim = c->hidden / c->heads;
    cfg->rms_norm_eps = c->eps;
    cfg->rope_theta = c->theta;
    cfg->max_position_embeddings = 64;
    cfg->tie_word_embeddings = c->tied;
    cfg->qkv_bias = c->bias;
    cfg->attention_bias = !strcmp(c->arch, "qwen2") ? 0 : c->bias;
    cfg->o_bias = !strcmp(c->arch, "qwen2") ? 0 : c->bias;
    cfg->mlp_bias = 0;
    cfg->sliding_window = c->window;
    cfg->pad_token_id = c->pad;
    cfg->max_window_layers = 0;
    if (!strcmp(c->rope_type, "llama3")) {
        cfg->rope_scaling.type = CLFT_ROPE_LLAMA3;
        cfg->rope_scaling.factor = c->rope_factor;
        cfg->rope_scaling.low_freq_factor = c->rope_low;
        cfg->rope_scaling.high_freq_factor = c->rope_high;
        cfg->rope_scaling.original_max_position_embeddings = c->rope_orig;
    } else if (!strcmp(c->rope_type, "linear")) {
        cfg->rope_scaling.type = CLFT_ROPE_LINEAR;
        cfg->rope_scaling.factor = c->rope_factor;
    }
}

static clft_dtype parse_dtype(const char *s) {
    return !strcmp(s, "f16")    ? CLFT_DTYPE_F16
           : !strcmp(s, "bf16") ? CLFT_DTYPE_BF16
           : !strcmp(s, "nf4")  ? CLFT_DTYPE_NF4
           : !strcmp(s, "fp4")  ? CLFT_DTYPE_FP4
                                : CLFT_DTYPE_F32;
}

/* A tensor of the fixture copied to aligned f32 memory (NULL, with a failure, when absent). */
static float *fixture_f32(const clft_safetensors *st, const char *name, int64_t *n) {
    const clft_st_tensor *t = clft_st_find(st, name);
    TU_CHECK(t && t->dtype == CLFT_ST_F32, "fixture tensor %s missing or not F32", name);
    if (!t || t->dtype != CLFT_ST_F32) return NULL;
    float *x = malloc((size_t)t->numel * 4 + 4);
    memcpy(x, t->data, (size_t)t->numel * 4);
    if (n) *n = t->numel;
    return x;
}

static double maxabs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    return m;
}
static double maxdiff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

/* How the weights reach the model: set one by one, loaded from a Hugging Face folder written with
 * transformers' config.json, or (QLoRA) loaded from the 4-bit folder `clft quantize` makes of it. */
enum { MODE_SET = 0, MODE_FOLDER = 1, MODE_QFOLDER = 2 };
static const char *MODE_NAME[3] = {"set", "folder", "4bit-folder"};

#define MAX_W 64
typedef struct weights {
    int n;
    char names[MAX_W][96];
    int64_t rows[MAX_W], cols[MAX_W];
    float *data[MAX_W];
} weights;

/* Add one weight (rows, cols; cols 0 for a vector) with the generator's values. */
static void add_gen(weights *w, const hf_case *c, const char *name, int64_t rows, int64_t cols) {
    if (w->n == MAX_W) return;
    snprintf(w->names[w->n], sizeof w->names[0], "%s", name);
    const int64_t n = rows * (cols ? cols : 1);
    w->rows[w->n] = rows;
    w->cols[w->n] = cols;
    w->data[w->n] = malloc((size_t)n * 4);
    hfg_weight(name, n, c->seed, w->data[w->n]);
    w->n++;
}

/* Write config.json (from the fixture) and model.safetensors into dir. */
static int write_folder(const char *dir, const char *config_json, const weights *w) {
    char path[4400];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(config_json, f) < 0 || fclose(f) != 0) return 0;
    clft_st_out_tensor t[MAX_W];
    memset(t, 0, sizeof t);
    for (int i = 0; i < w->n; i++) {
        t[i].name = w->names[i];
        t[i].dtype = CLFT_ST_F32;
        t[i].ndim = w->cols[i] ? 2 : 1;
        t[i].shape[0] = w->rows[i];
        t[i].shape[1] = w->cols[i];
        t[i].data = w->data[i];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    clft_status st = clft_st_write_file(path, t, (size_t)w->n, NULL, 0, NULL, NULL);
    TU_CHECK(st == CLFT_OK, "writing %s: %s", path, clft_last_error());
    return st == CLFT_OK;
}

typedef struct case_result {
    double loss_rel, logits_rel, grad_rel, dequant_rel;
    char worst_grad[160];
    int hgemm, skipped;
} case_result;

static void run_case(clft_context *ctx, const char *path, int ckpt, int mode, const char *scratch, case_result *res) {
    memset(res, 0, sizeof *res);
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open(path, &st));
    if (!st) return;
    hf_case c;
    const char *meta = clft_st_metadata(st, 0, "case");
    int ok = meta && parse_case(meta, &c);
    TU_CHECK(ok, "%s: no valid 'case' metadata", path);
    if (!ok) {
        clft_safetensors_free(st);
        return;
    }
    clft_model_config cfg;
    case_config(&c, &cfg);
    if (mode == MODE_QFOLDER && strcmp(c.method, "qlora")) {
        clft_safetensors_free(st);
        res->skipped = 1;
        return;
    }
    const int full = !strcmp(c.method, "full"), qlora = !strcmp(c.method, "qlora");
    clft_train_params tp = clft_train_default_params(full    ? CLFT_METHOD_FULL
                                                     : qlora ? CLFT_METHOD_QLORA
                                                             : CLFT_METHOD_LORA);
    tp.batch = c.B;
    tp.seq_len = c.T;
    tp.checkpointing = ckpt;
    tp.xent_chunk = 7; /* chunks that do not divide B*T */
    if (!full) tp.embed_dtype = CLFT_DTYPE_F32; /* the reference's embeddings and head are f32 */
    if (!full) {
        tp.base_dtype = parse_dtype(c.dtype);
        tp.lora.r = c.r;
        tp.lora.alpha = (float)c.alpha;
    }
    if (qlora) {
        tp.qlora_blocksize = c.blocksize;
        tp.qlora_double_quant = c.dq;
    }
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    if (!m) {
        clft_safetensors_free(st);
        return;
    }
    /* weights, in the names transformers uses */
    const int64_t H = c.hidden, D = c.hidden / c.heads, QD = c.heads * D, KD = c.kv * D, F = c.inter, V = c.vocab;
    const int64_t io[7][2] = {{H, QD}, {H, KD}, {H, KD}, {QD, H}, {H, F}, {H, F}, {F, H}}; /* (in, out) */
    char name[200];
    weights w;
    memset(&w, 0, sizeof w);
    add_gen(&w, &c, "model.embed_tokens.weight", V, H);
    add_gen(&w, &c, "model.norm.weight", H, 0);
    if (!c.tied) add_gen(&w, &c, "lm_head.weight", V, H);
    int64_t expected_grads = full ? 2 + !c.tied : 0;
    for (int64_t l = 0; l < c.layers; l++) {
        snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
        add_gen(&w, &c, name, H, 0);
        snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        add_gen(&w, &c, name, H, 0);
        if (full) expected_grads += 2;
        for (int t = 0; t < 7; t++) {
            snprintf(name, sizeof name, "model.layers.%lld.%s.%s.weight", (long long)l, PROJ[t][0], PROJ[t][1]);
            add_gen(&w, &c, name, io[t][1], io[t][0]);
            const int has_bias = t < 3 ? cfg.qkv_bias : t == 3 ? cfg.o_bias : 0;
            if (has_bias) {
                snprintf(name, sizeof name, "model.layers.%lld.%s.%s.bias", (long long)l, PROJ[t][0], PROJ[t][1]);
                add_gen(&w, &c, name, io[t][1], 0);
            }
            expected_grads += full ? 1 + has_bias : 2;
        }
    }
    TU_CHECK(w.n < MAX_W, "%s: too many weights for the test's table", c.name);
    if (mode == MODE_SET) {
        for (int i = 0; i < w.n; i++)
            TU_OK(clft_model_set_weight(m, w.names[i], w.data[i], w.rows[i] * (w.cols[i] ? w.cols[i] : 1)));
    } else {
        /* the user's way: a folder with transformers' config.json, read back by clft */
        const char *cj = clft_st_metadata(st, 0, "config_json");
        TU_CHECK(cj != NULL, "%s: no config_json metadata", c.name);
        char dir[4200], qdir[4210];
        snprintf(dir, sizeof dir, "%s/%s", scratch, c.name);
        snprintf(qdir, sizeof qdir, "%s-4bit", dir);
        mkdir(dir, 0755);
        if (cj && write_folder(dir, cj, &w)) {
            clft_model_config lc;
            TU_OK(clft_model_config_load(dir, &lc));
            TU_CHECK(lc.arch == cfg.arch && lc.hidden_size == cfg.hidden_size && lc.num_kv_heads == cfg.num_kv_heads &&
                         lc.tie_word_embeddings == cfg.tie_word_embeddings && lc.qkv_bias == cfg.qkv_bias &&
                         lc.sliding_window == cfg.sliding_window && lc.pad_token_id == cfg.pad_token_id &&
                         lc.rope_scaling.type == cfg.rope_scaling.type && lc.rope_theta == cfg.rope_theta,
                     "%s: config.json of transformers read as another model", c.name);
            clft_model_free(m);
            m = NULL;
            TU_OK(clft_model_create(ctx, &lc, &tp, &m));
            if (mode == MODE_QFOLDER) {
                clft_quantize_params qp = clft_quantize_default_params();
                qp.quant_type = tp.base_dtype;
                qp.blocksize = c.blocksize;
                qp.double_quant = c.dq;
                qp.force = 1;
                TU_OK(clft_model_quantize(dir, qdir, &qp));
            }
            if (m) TU_OK(clft_model_load_weights(m, mode == MODE_QFOLDER ? qdir : dir));
        }
    }
    for (int i = 0; i < w.n; i++)
        free(w.data[i]);
    if (!m) {
        clft_safetensors_free(st);
        return;
    }
    for (int64_t l = 0; !full && l < c.layers; l++) {
        for (int t = 0; t < 7; t++) {
            char an[220], bn[220];
            snprintf(an, sizeof an, "base_model.model.model.layers.%lld.%s.%s.lora_A.weight", (long long)l, PROJ[t][0],
                     PROJ[t][1]);
            snprintf(bn, sizeof bn, "base_model.model.model.layers.%lld.%s.%s.lora_B.weight", (long long)l, PROJ[t][0],
                     PROJ[t][1]);
            float *A = malloc((size_t)(c.r * io[t][0]) * 4), *Bm = malloc((size_t)(io[t][1] * c.r) * 4);
            hfg_weight(an, c.r * io[t][0], c.seed, A);
            hfg_weight(bn, io[t][1] * c.r, c.seed, Bm);
            TU_OK(clft_model_lora_set(m, (int)l, 1u << t, A, Bm));
            free(A);
            free(Bm);
        }
    }
    /* QLoRA: clft's dequantized weights against bitsandbytes' */
    for (size_t i = 0; qlora && i < clft_st_count(st); i++) {
        const clft_st_tensor *t = clft_st_at(st, i);
        if (strncmp(t->name, "dequant.", 8)) continue;
        float *ref = fixture_f32(st, t->name, NULL), *got = malloc((size_t)t->numel * 4);
        TU_OK(clft_model_get_weight(m, t->name + 8, got, t->numel));
        tu_close(t->name, got, ref, (size_t)t->numel, 1e-7, 1e-6, 1e-14);
        res->dequant_rel = fmax(res->dequant_rel, maxdiff(got, ref, t->numel) / maxabs(ref, t->numel));
        free(ref);
        free(got);
    }
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) {
        clft_model_free(m);
        clft_safetensors_free(st);
        return;
    }
    const clft_st_tensor *ti = clft_st_find(st, "input_ids"), *tl = clft_st_find(st, "labels");
    TU_CHECK(ti && tl && ti->dtype == CLFT_ST_I32 && tl->dtype == CLFT_ST_I32 && ti->numel == (int64_t)c.B * c.T &&
                 tl->numel == ti->numel,
             "%s: input_ids/labels missing or not I32 (%d, %d)", path, c.B, c.T);
    if (!ti || !tl || ti->numel != (int64_t)c.B * c.T || tl->numel != ti->numel) {
        clft_trainer_free(tr);
        clft_model_free(m);
        clft_safetensors_free(st);
        return;
    }
    const int64_t N = (int64_t)c.B * c.T;
    int32_t *ids = malloc((size_t)N * 4), *labels = malloc((size_t)N * 4);
    memcpy(ids, ti->data, (size_t)N * 4);
    memcpy(labels, tl->data, (size_t)N * 4);
    float *logits = malloc((size_t)(N * V) * 4);
    double loss = 0;
    clft_gemm_counts_reset(ctx);
    TU_OK(clft_trainer_compute_grads(tr, ids, labels, &loss, logits));
    int64_t counts[CLFT_GEMM_PATH_COUNT];
    clft_gemm_counts(ctx, counts);
    res->hgemm = counts[CLFT_GEMM_HGEMM] > 0;
    const double lt = res->hgemm ? 2e-3 : 2e-5, gt = res->hgemm ? 1e-2 : 2e-4, gn = res->hgemm ? 1e-4 : 1e-8;
    int64_t n = 0;
    float *ref_logits = fixture_f32(st, "logits", &n), *ref_loss = fixture_f32(st, "loss", NULL);
    if (ref_logits && n == N * V) {
        const double mx = maxabs(ref_logits, n);
        tu_close("logits", logits, ref_logits, (size_t)n, lt * mx, 1e-4, 1e-10 + gn);
        res->logits_rel = maxdiff(logits, ref_logits, n) / mx;
    } else {
        TU_CHECK(0, "%s: logits of %lld values, expected %lld", path, (long long)n, (long long)(N * V));
    }
    if (ref_loss) {
        res->loss_rel = fabs(loss - ref_loss[0]) / fabs(ref_loss[0]);
        TU_CHECK(res->loss_rel <= (res->hgemm ? 1e-3 : 1e-5), "%s: loss %.8f vs transformers %.8f", c.name, loss,
                 (double)ref_loss[0]);
    }
    /* gradients: every grad.* tensor, and exactly as many as the model trains */
    int64_t ngrads = 0;
    for (size_t i = 0; i < clft_st_count(st); i++) {
        const clft_st_tensor *t = clft_st_at(st, i);
        if (strncmp(t->name, "grad.", 5)) continue;
        ngrads++;
        float *ref = fixture_f32(st, t->name, NULL), *got = calloc((size_t)t->numel, 4);
        const char *pname = t->name + 5;
        int found = 1;
        if (full) {
            TU_OK(clft_model_get_weight_grad(m, pname, got, t->numel));
        } else {
            int l = -1, tgt = -1;
            for (int k = 0; k < 7; k++) {
                char pat[40];
                snprintf(pat, sizeof pat, ".%s.", PROJ[k][1]);
                if (strstr(pname, pat)) tgt = k;
            }
            const int isA = strstr(pname, ".lora_A.") != NULL, isB = strstr(pname, ".lora_B.") != NULL;
            found = sscanf(pname, "base_model.model.model.layers.%d.", &l) == 1 && l >= 0 && l < c.layers && tgt >= 0 &&
                    isA != isB;
            TU_CHECK(found, "%s: gradient %s names no adapter of this model", c.name, pname);
            if (found) TU_OK(clft_model_lora_grad_get(m, l, 1u << tgt, isA ? got : NULL, isA ? NULL : got));
        }
        if (found && ref) {
            const double mx = maxabs(ref, t->numel);
            tu_close(t->name, got, ref, (size_t)t->numel, gt * mx, 1e-3, 1e-8 + gn);
            const double rel = maxdiff(got, ref, t->numel) / (mx > 0 ? mx : 1);
            if (rel >= res->grad_rel) {
                res->grad_rel = rel;
                snprintf(res->worst_grad, sizeof res->worst_grad, "%s", pname);
            }
        }
        free(ref);
        free(got);
    }
    TU_CHECK(ngrads == expected_grads, "%s: %lld gradients in the fixture, the model trains %lld", c.name,
             (long long)ngrads, (long long)expected_grads);
    free(ref_logits);
    free(ref_loss);
    free(ids);
    free(labels);
    free(logits);
    clft_trainer_free(tr);
    clft_model_free(m);
    clft_safetensors_free(st);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    const clft_device_info info = ctx->caps.info;
    const char *only = getenv("CLFT_HF_CASE");
    /* CLFT_HF_FIXTURES: a folder of freshly generated fixtures (tools/reference.sh) instead of the
     * committed ones */
    const char *dir =
        getenv("CLFT_HF_FIXTURES") && getenv("CLFT_HF_FIXTURES")[0] ? getenv("CLFT_HF_FIXTURES") : GOLDEN_DIR "/hf";
    const char *scratch = tu_scratch_dir("hf_reference_tmp", "run");
    DIR *d = opendir(dir);
    TU_CHECK(d != NULL, "cannot open %s", dir);
    char *files[256];
    int nf = 0;
    for (struct dirent *e; d && (e = readdir(d)) && nf < 256;) {
        const size_t len = strlen(e->d_name);
        if (len < 13 || strcmp(e->d_name + len - 12, ".safetensors")) continue;
        if (only && !strstr(e->d_name, only)) continue;
        files[nf] = malloc(strlen(dir) + len + 2);
        sprintf(files[nf], "%s/%s", dir, e->d_name);
        nf++;
    }
    if (d) closedir(d);
    qsort(files, (size_t)nf, sizeof files[0], cmp_str);
    TU_CHECK(nf >= (only ? 1 : 20), "%d fixtures in %s (the matrix has more: regenerate with hf_reference.py)", nf,
             dir);
    printf("device: %s (%s); fixtures: %s\n", info.name, info.platform, dir);
    printf("%-30s %-11s %4s %9s %9s %9s %9s  %s\n", "case", "weights", "ckpt", "loss", "logits", "grads", "dequant",
           "worst gradient / path");
    /* mode 0: weights set, no checkpointing; 1: f32 folder loaded, checkpointing; 2 (QLoRA): the
     * 4-bit folder of clft quantize loaded, checkpointing */
    for (int i = 0; i < nf; i++) {
        for (int mode = 0; mode < 3; mode++) {
            if (mode && tu_tiny()) break;
            const int before = tu_failures, ckpt = mode > 0;
            case_result r;
            run_case(ctx, files[i], ckpt, mode, scratch, &r);
            if (r.skipped) continue;
            const char *base = strrchr(files[i], '/') + 1;
            printf("%-30.*s %-11s %4d %9.2e %9.2e %9.2e %9.2e  %s%s%s\n", (int)(strlen(base) - 12), base,
                   MODE_NAME[mode], ckpt, r.loss_rel, r.logits_rel, r.grad_rel, r.dequant_rel, r.worst_grad,
                   r.hgemm ? " [CLBlast HGEMM: fp16 tolerances]" : "", tu_failures > before ? "  FAILED" : "");
            fflush(stdout);
        }
        free(files[i]);
    }
    clft_context_free(ctx);
    tu_scratch_done(scratch);
    return tu_finish("test_hf_reference");
}
