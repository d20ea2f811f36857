/* bench_train_main.c - training-step benchmark: tokens/s and model FLOP utilization of full
 * fine-tuning, LoRA and QLoRA steps against the device's measured fp32 peak (the kernel
 * benchmark's own microkernel), and peak device memory against the memory plan. Prints JSON.
 * --model FILE.gguf (or a model folder) trains that model's config from its real weights (e.g.
 * SmolLM2-135M-Instruct.Q4_1.gguf: QLoRA requantizes it to NF4 while loading; benchmarks/
 * bench_train_torch.py runs this next to transformers + PEFT on the same model and shape).
 *   bench_train [--device SPEC] [--model tiny|small|PRESET|FILE.gguf|DIR] [--method full|lora|qlora|all]
 *               [--steps N] [--batch B] [--seq T] [--peak-gflops X]
 * Model FLOPs per token (PERF.md 4.4): LoRA/QLoRA 4*N_base + 6*N_adapter + attention, full
 * 6*N + attention, attention = 12 * layers * heads * head_dim * T (fwd+bwd, PaLM's convention);
 * N excludes the embedding table (a lookup) but includes the LM head. Recomputation for
 * activation checkpointing is not counted (MFU, not HFU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static double flops_per_token(const clft_model_config *c, clft_method method, int64_t adapter, int64_t T) {
    int64_t per_layer = c->hidden_size * (c->num_heads * c->head_dim) * 2 +
                        c->hidden_size * (c->num_kv_heads * c->head_dim) * 2 +
                        3 * c->hidden_size * c->intermediate_size;
    double n = (double)(per_layer * c->num_layers + c->vocab_size * c->hidden_size);
    double attn = 12.0 * (double)c->num_layers * (double)(c->num_heads * c->head_dim) * (double)T;
    return (method == CLFT_METHOD_FULL ? 6.0 * n : 4.0 * n + 6.0 * (double)adapter) + attn;
}

static int run_one(clft_context *ctx, const char *model, clft_method method, int steps, int batch, int seq, double peak,
                   int checkpointing, cJSON *arr) {
    clft_model_config cfg;
    const int from_file = strchr(model, '/') != NULL || strstr(model, ".gguf") != NULL;
    clft_status st = from_file ? clft_model_config_load(model, &cfg) : clft_model_preset_config(model, &cfg);
    if (from_file) cfg.has_quantization_config = 0;
    if (st != CLFT_OK) {
        fprintf(stderr, "bench_train: %s\n", clft_last_error());
        return 1;
    }
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = batch;
    tp.seq_len = seq;
    tp.lr = 1e-4f;
    tp.checkpointing = checkpointing;
    clft_memory_plan plan;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    clft_mem_stats m0, m1;
    clft_context_reset_peak(ctx);
    clft_context_mem_stats(ctx, &m0);
    st = clft_memory_plan_compute(&cfg, &tp, &plan);
    if (st == CLFT_OK) st = clft_model_create(ctx, &cfg, &tp, &m);
    if (st == CLFT_OK) st = from_file ? clft_model_load_weights(m, model) : clft_model_init_random(m, 1, 0.02f);
    if (st == CLFT_OK) st = clft_trainer_create(m, &tr);
    if (st != CLFT_OK) {
        fprintf(stderr, "bench_train: %s/%s: %s: %s\n", model, clft_method_name(method), clft_status_string(st),
                clft_last_error());
        clft_model_free(m);
        return 1;
    }
    const int n = batch * seq;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)cfg.vocab_size);
    clft_step_stats s;
    double best = 1e30, sum = 0, loss = 0;
    int rc = 0;
    for (int i = 0; i < steps + 1 && rc == 0; i++) { /* step 0 warms up: kernel builds, GEMM path choice */
        st = clft_trainer_step(tr, ids, ids, &s);
        if (st != CLFT_OK) {
            fprintf(stderr, "bench_train: step: %s\n", clft_last_error());
            rc = 1;
            break;
        }
        fprintf(stderr, "  %s/%s step %d: %.3f s, loss %.4f\n", model, clft_method_name(method), i, s.seconds, s.loss);
        if (i == 0) continue;
        best = s.seconds < best ? s.seconds : best;
        sum += s.seconds;
        loss = s.loss;
    }
    clft_context_mem_stats(ctx, &m1);
    if (rc == 0) {
        double fpt = flops_per_token(&cfg, method, plan.trainable_params * (method != CLFT_METHOD_FULL), seq);
        double mean = sum / steps;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "method", clft_method_name(method));
        cJSON_AddNumberToObject(o, "batch", batch);
        cJSON_AddNumberToObject(o, "seq_len", seq);
        cJSON_AddNumberToObject(o, "steps", steps);
        cJSON_AddBoolToObject(o, "checkpointing", tp.checkpointing < 0 ? method != CLFT_METHOD_FULL : tp.checkpointing);
        cJSON_AddNumberToObject(o, "step_seconds_mean", mean);
        cJSON_AddNumberToObject(o, "step_seconds_best", best);
        cJSON_AddNumberToObject(o, "tokens_per_second", (double)n / mean);
        cJSON_AddNumberToObject(o, "model_gflop_per_step", fpt * n / 1e9);
        cJSON_AddNumberToObject(o, "model_gflops", fpt * n / mean / 1e9);
        if (peak > 0) cJSON_AddNumberToObject(o, "mfu", fpt * n / mean / 1e9 / peak);
        cJSON_AddNumberToObject(o, "trainable_params", (double)plan.trainable_params);
        cJSON_AddNumberToObject(o, "last_loss", loss);
        uint64_t peak_bytes = m1.peak_total - m0.current_total;
        cJSON_AddNumberToObject(o, "peak_device_bytes", (double)peak_bytes);
        cJSON_AddNumberToObject(o, "plan_bytes", (double)plan.total);
        cJSON_AddNumberToObject(o, "peak_over_plan", (double)peak_bytes / (double)plan.total);
        cJSON *pc = cJSON_AddObjectToObject(o, "by_class");
        for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++) {
            cJSON *e = cJSON_AddObjectToObject(pc, clft_mem_class_name((clft_mem_class)c));
            cJSON_AddNumberToObject(e, "peak_bytes", (double)(m1.peak_bytes[c] - m0.current_bytes[c]));
            cJSON_AddNumberToObject(e, "plan_bytes", (double)plan.bytes[c]);
        }
        cJSON_AddItemToArray(arr, o);
    }
    free(ids);
    clft_trainer_free(tr);
    clft_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    const char *device = NULL, *model = "tiny", *method = "all";
    int steps = 3, batch = -1, seq = -1, checkpointing = -1;
    double peak = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--method") && i + 1 < argc)
            method = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            seq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--checkpointing") && i + 1 < argc)
            checkpointing = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peak-gflops") && i + 1 < argc)
            peak = atof(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_train [--device SPEC] [--model tiny|small|PRESET|FILE.gguf|DIR] "
                    "[--method full|lora|qlora|all] "
                    "[--steps N] [--batch B] [--seq T] [--checkpointing -1|0|1] [--peak-gflops X]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    int tinyish = !strcmp(model, "tiny");
    if (batch < 1) batch = 4;
    if (seq < 1) seq = tinyish ? 64 : 512;
    clft_context_params p = clft_context_default_params();
    p.device = device;
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&p, &ctx);
    if (st != CLFT_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", clft_status_string(st), clft_last_error());
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "device", ctx->caps.info.name);
    cJSON_AddStringToObject(root, "platform", ctx->caps.info.platform);
    if (peak <= 0) { /* the kernel benchmark's measured fp32 peak */
        bench_opts o = {0, 3};
        cJSON *pk = cJSON_AddObjectToObject(root, "peak");
        if (bench_section_peak(ctx, &o, root, pk) == CLFT_OK) {
            cJSON *g = cJSON_GetObjectItem(pk, "fp32_gflops");
            if (g) peak = g->valuedouble;
        }
    }
    cJSON_AddNumberToObject(root, "fp32_peak_gflops", peak);
    cJSON *arr = cJSON_AddArrayToObject(root, "runs");
    int rc = 0;
    const clft_method all[3] = {CLFT_METHOD_FULL, CLFT_METHOD_LORA, CLFT_METHOD_QLORA};
    for (int i = 0; i < 3; i++)
        if (!strcmp(method, "all") || !strcmp(method, clft_method_name(all[i])))
            rc |= run_one(ctx, model, all[i], steps, batch, seq, peak, checkpointing, arr);
    char *s = cJSON_Print(root);
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(root);
    clft_context_free(ctx);
    return rc;
}
