/* bench_generate_main.c - generation benchmark: prompt tokens/s (one prefill pass) and generated
 * tokens/s at batch 1 through the generator (KV cache on the device), per storage of the base, against
 * the bandwidth limit of decoding: the bytes one generated token reads - every projection weight in
 * its storage (4-bit: packed codes and block scales), the LM head, the norms, the adapters, and the KV
 * cache at the average context - divided by the device's measured copy bandwidth (the kernel
 * benchmark's own copy kernels, measured in the same run). Prints JSON.
 *   bench_generate [--device SPEC] [--model PRESET|DIR|FILE.gguf] [--storage f32,bf16,nf4,...] [--prompt N]
 *                  [--tokens N] [--rank R] [--copy-gbs X] [--quick]
 * --model: a preset (default "small", random weights), a Hugging Face model folder (random weights
 * when it holds only a config.json) or a GGUF file (its weights; --storage q8_0|q4_0|q4_1 keeps a
 * file of that type in its blocks, as --base-storage native). --rank R > 0 adds
 * LoRA adapters of rank R on all seven projections (non-zero B, applied unmerged). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

static double now_s(void) { return clft_now_seconds(); }

/* Bytes of weights one decoded token reads. */
static double weight_bytes(const clft_model_config *c, clft_dtype dt, int rank, int blocksize, int dq) {
    const double C = (double)c->hidden_size, QD = (double)(c->num_heads * c->head_dim),
                 KD = (double)(c->num_kv_heads * c->head_dim), F = (double)c->intermediate_size;
    const double io[7][2] = {{C, QD}, {C, KD}, {C, KD}, {QD, C}, {C, F}, {C, F}, {F, C}};
    double b = 0;
    for (int t = 0; t < 7; t++) {
        const double n = io[t][0] * io[t][1], nb = ceil(n / blocksize);
        if (dt == CLFT_DTYPE_NF4 || dt == CLFT_DTYPE_FP4)
            b += n / 2 + (dq ? nb + ceil(nb / 256) * 4 : nb * 4);
        else if (dt == CLFT_DTYPE_Q8_0 || dt == CLFT_DTYPE_Q4_0 || dt == CLFT_DTYPE_Q4_1) /* GGUF blocks of 32 */
            b += n / 32 * (dt == CLFT_DTYPE_Q8_0 ? 34 : dt == CLFT_DTYPE_Q4_0 ? 18 : 20);
        else
            b += n * (dt == CLFT_DTYPE_F32 ? 4 : 2);
        if (rank > 0) b += (double)rank * (io[t][0] + io[t][1]) * 4;
    }
    b += (double)(c->qkv_bias ? QD + 2 * KD : 0) * 4 + 2 * C * 4; /* biases, norms */
    b *= (double)c->num_layers;
    b += (double)c->vocab_size * C * 4 + C * 4 + C * 4; /* head (f32), final norm, the embedding row */
    return b;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_gguf(const char *p) {
    const size_t n = strlen(p);
    struct stat st;
    return n > 5 && !strcmp(p + n - 5, ".gguf") && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* a model folder with weights or a GGUF file (a folder of clft init --config-only, or a preset: random
 * weights) */
static int has_weights(const char *dir) {
    char p[4200];
    struct stat st;
    if (is_gguf(dir)) return 1;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (stat(p, &st) == 0) return 1;
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    return stat(p, &st) == 0;
}

static int run_one(clft_context *ctx, const char *model, const clft_model_config *cfg, clft_dtype dt, int prompt,
                   int tokens, int rank, double copy_gbs, cJSON *arr) {
    const int q4 = dt == CLFT_DTYPE_NF4 || dt == CLFT_DTYPE_FP4;
    clft_train_params tp = clft_train_default_params(q4 ? CLFT_METHOD_QLORA : CLFT_METHOD_LORA);
    tp.inference = 1;
    tp.base_dtype = dt;
    tp.lora.targets = rank > 0 ? CLFT_LORA_ALL : 0;
    tp.lora.r = rank > 0 ? rank : 8;
    clft_model *m = NULL;
    clft_generator *g = NULL;
    clft_status st = clft_model_create(ctx, cfg, &tp, &m);
    if (st == CLFT_OK)
        st = has_weights(model) ? clft_model_load_weights(m, model) : clft_model_init_random(m, 1, 0.02f);
    for (int l = 0; st == CLFT_OK && rank > 0 && l < (int)cfg->num_layers; l++)
        for (int t = 0; st == CLFT_OK && t < 7; t++) { /* non-zero B so that the adapters compute */
            int64_t rows = cfg->hidden_size > cfg->intermediate_size ? cfg->hidden_size : cfg->intermediate_size;
            if (cfg->num_heads * cfg->head_dim > rows) rows = cfg->num_heads * cfg->head_dim;
            const size_t nb = (size_t)rows * (size_t)rank; /* B is (out, r) */
            float *B = malloc(nb * 4);
            for (size_t i = 0; B && i < nb; i++)
                B[i] = 1e-3f * (float)((int)(i % 7) - 3);
            st = B ? clft_model_lora_set(m, l, 1u << t, NULL, B) : CLFT_STATUS_HOST_OOM;
            free(B);
        }
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = prompt + tokens + 1;
    if (st == CLFT_OK) st = clft_generator_create(m, &gp, &g);
    if (st != CLFT_OK) {
        fprintf(stderr, "bench_generate: %s: %s: %s\n", clft_dtype_name(dt), clft_status_string(st), clft_last_error());
        clft_generator_free(g);
        clft_model_free(m);
        return 1;
    }
    int32_t *ids = malloc((size_t)prompt * sizeof *ids);
    float *logits = malloc((size_t)cfg->vocab_size * sizeof *logits);
    for (int i = 0; i < prompt; i++)
        ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)cfg->vocab_size);
    /* warm-up: builds every program and takes the GEMM decisions of both pass sizes */
    st = clft_generator_feed(g, ids, (size_t)prompt, logits);
    for (int i = 0; st == CLFT_OK && i < 3; i++)
        st = clft_generator_feed(g, &ids[i], 1, logits);
    double best_prefill = 1e30, decode = 0;
    for (int rep = 0; st == CLFT_OK && rep < 2; rep++) {
        clft_generator_reset(g);
        const double t0 = now_s();
        st = clft_generator_feed(g, ids, (size_t)prompt, logits);
        const double dt_s = now_s() - t0;
        if (dt_s < best_prefill) best_prefill = dt_s;
    }
    /* decoding: greedy, one token per step (the argmax on the host, as clft_generate's greedy) */
    const double t1 = now_s();
    for (int i = 0; st == CLFT_OK && i < tokens; i++) {
        int32_t best = 0;
        for (int64_t v = 1; v < cfg->vocab_size; v++)
            if (logits[v] > logits[best]) best = (int32_t)v;
        st = clft_generator_feed(g, &best, 1, logits);
    }
    decode = now_s() - t1;
    if (st != CLFT_OK) fprintf(stderr, "bench_generate: %s: %s\n", clft_dtype_name(dt), clft_last_error());
    const double wb = weight_bytes(cfg, dt, rank, tp.qlora_blocksize, tp.qlora_double_quant);
    /* the KV cache read per token at the average context of the decoded tokens */
    const double kvb =
        2.0 * (double)cfg->num_layers * (prompt + tokens / 2.0) * (double)(cfg->num_kv_heads * cfg->head_dim) * 4.0;
    const double tps = st == CLFT_OK && decode > 0 ? tokens / decode : 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "base", clft_dtype_name(dt));
    cJSON_AddNumberToObject(o, "lora_rank", rank);
    cJSON_AddNumberToObject(o, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(o, "prefill_tokens_per_s", round(prompt / best_prefill * 10) / 10);
    cJSON_AddNumberToObject(o, "generated_tokens", tokens);
    cJSON_AddNumberToObject(o, "decode_tokens_per_s", round(tps * 100) / 100);
    cJSON_AddNumberToObject(o, "ms_per_token", tps > 0 ? round(1e5 / tps) / 100 : 0);
    cJSON_AddNumberToObject(o, "weight_mb_per_token", round(wb / 1e4) / 100);
    cJSON_AddNumberToObject(o, "kv_mb_per_token", round(kvb / 1e4) / 100);
    if (copy_gbs > 0) {
        const double limit = copy_gbs * 1e9 / (wb + kvb);
        cJSON_AddNumberToObject(o, "bandwidth_limit_tokens_per_s", round(limit * 100) / 100);
        cJSON_AddNumberToObject(o, "fraction_of_limit", round(tps / limit * 1000) / 1000);
        cJSON_AddNumberToObject(o, "effective_gbs", round(tps * (wb + kvb) / 1e7) / 100);
    }
    cJSON_AddItemToArray(arr, o);
    free(ids);
    free(logits);
    clft_generator_free(g);
    clft_model_free(m);
    return st == CLFT_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *device = NULL, *model = "small", *storages = "f32,bf16,nf4";
    int prompt = 128, tokens = 64, rank = 0, quick = 0;
    double copy_gbs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--device") && v)
            device = v, i++;
        else if (!strcmp(a, "--model") && v)
            model = v, i++;
        else if (!strcmp(a, "--storage") && v)
            storages = v, i++;
        else if (!strcmp(a, "--prompt") && v)
            prompt = atoi(v), i++;
        else if (!strcmp(a, "--tokens") && v)
            tokens = atoi(v), i++;
        else if (!strcmp(a, "--rank") && v)
            rank = atoi(v), i++;
        else if (!strcmp(a, "--copy-gbs") && v)
            copy_gbs = atof(v), i++;
        else if (!strcmp(a, "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_generate [--device SPEC] [--model PRESET|DIR|FILE.gguf] [--storage f32,bf16,nf4,q4_1] "
                            "[--prompt N] [--tokens N] [--rank R] [--copy-gbs X] [--quick]\n");
            return 2;
        }
    }
    if (quick) prompt = 16, tokens = 8;
    if (prompt < 1 || tokens < 1) {
        fprintf(stderr, "bench_generate: --prompt and --tokens must be at least 1\n");
        return 2;
    }
    clft_model_config cfg;
    clft_status st = is_dir(model) || is_gguf(model) ? clft_model_config_load(model, &cfg)
                                                      : clft_model_preset_config(model, &cfg);
    if (st != CLFT_OK) {
        fprintf(stderr, "bench_generate: --model %s: %s\n", model, clft_last_error());
        return 2;
    }
    clft_context_params cp = clft_context_default_params();
    cp.device = device;
    clft_context *ctx = NULL;
    if (clft_context_create(&cp, &ctx) != CLFT_OK) {
        fprintf(stderr, "bench_generate: %s\n", clft_last_error());
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    clft_device_info di;
    clft_context_device_info(ctx, &di);
    cJSON_AddStringToObject(root, "device", di.name);
    cJSON_AddStringToObject(root, "platform", di.platform);
    cJSON_AddStringToObject(root, "model", model);
    if (copy_gbs <= 0) { /* the kernel benchmark's copy bandwidth, measured now on this device */
        bench_opts bo = {quick, quick ? 2 : 5, NULL};
        cJSON *peak = cJSON_CreateObject();
        if (bench_section_peak(ctx, &bo, root, peak) == CLFT_OK) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(peak, "copy_gbs");
            if (cJSON_IsNumber(c)) copy_gbs = c->valuedouble;
        }
        cJSON_Delete(peak);
    }
    cJSON_AddNumberToObject(root, "copy_gbs", round(copy_gbs * 100) / 100);
    cJSON *arr = cJSON_AddArrayToObject(root, "runs");
    int rc = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", storages);
    for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        clft_dtype dt = (clft_dtype)-1; /* the library's names; u8 and i32 store no weights */
        for (int d = CLFT_DTYPE_F32; d <= CLFT_DTYPE_Q4_1; d++)
            if (d != CLFT_DTYPE_U8 && d != CLFT_DTYPE_I32 && !strcmp(s, clft_dtype_name((clft_dtype)d))) dt = (clft_dtype)d;
        if ((int)dt < 0 || (dt >= CLFT_DTYPE_Q8_0 && dt <= CLFT_DTYPE_Q4_1 && !is_gguf(model))) {
            fprintf(stderr, "bench_generate: --storage %s: use f32, f16, bf16, nf4, fp4 (q8_0, q4_0, q4_1: a GGUF --model "
                            "in that type)\n", s);
            rc = 2;
            break;
        }
        rc |= run_one(ctx, model, &cfg, dt, prompt, tokens, rank, copy_gbs, arr);
    }
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    clft_context_free(ctx);
    return rc;
}
