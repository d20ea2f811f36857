/* bench_memory_main.c - a real model's training step against its memory plan (JSON on stdout): the
 * plan per class (clft_memory_plan_compute, no device), the device arena's peak per class over
 * model creation, weight loading, trainer creation and the steps, host RSS before and after loading
 * (anonymous - on a CPU device the device buffers are host memory too - and file-backed: the
 * safetensors the loader maps; the peak of both as the kernel counts it),
 * seconds of loading and of each step.
 *   bench_memory --model DIR|PRESET [--device SPEC] [--method full|lora|qlora] [--rank R]
 *                [--seq-len T] [--batch B] [--steps N] [--checkpointing -1|0|1]
 * e.g. a Mistral-7B-shaped QLoRA step on a CPU device:
 *   clft init --preset mistral-7b --dtype bf16 --out /big/mistral-7b
 *   bench_memory --model /big/mistral-7b --device 1 --method qlora --rank 16 --seq-len 512 --steps 2 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "clft.h"
#include "core/core.h"

static double rss_peak_bytes(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss * 1024.0; /* Linux: KiB */
}

/* A field of /proc/self/status in bytes (kB there): RssAnon (private memory: the host's own copies
 * and, on a CPU device, the device buffers) and RssFile (pages of mapped files: the safetensors the
 * loader maps, page cache the kernel can drop). */
static double status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = 0;
    const size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = atof(line + n + 1) * 1024.0;
    if (f) fclose(f);
    return v;
}
static double rss_now_bytes(void) { return status_bytes("RssAnon"); }

static int fail(const char *what) {
    fprintf(stderr, "bench_memory: %s: %s\n", what, clft_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *model = "small", *device = NULL, *method = "qlora";
    int rank = 16, seq = 512, batch = 1, steps = 2, ckpt = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_memory: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--method"))
            method = v;
        else if (!strcmp(a, "--rank"))
            rank = atoi(v);
        else if (!strcmp(a, "--seq-len"))
            seq = atoi(v);
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--checkpointing"))
            ckpt = atoi(v);
        else {
            fprintf(stderr, "bench_memory: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    const clft_method m = !strcmp(method, "full")   ? CLFT_METHOD_FULL
                          : !strcmp(method, "lora") ? CLFT_METHOD_LORA
                                                    : CLFT_METHOD_QLORA;
    struct stat sb;
    const int from_dir = stat(model, &sb) == 0;
    clft_model_config cfg;
    if ((from_dir ? clft_model_config_load(model, &cfg) : clft_model_preset_config(model, &cfg)) != CLFT_OK)
        return fail(model);
    cfg.has_quantization_config = 0;
    clft_train_params tp = clft_train_default_params(m);
    tp.lora.r = rank;
    tp.lora.alpha = 2.0f * (float)rank;
    tp.lora.targets = CLFT_LORA_ALL;
    tp.seq_len = seq;
    tp.batch = batch;
    tp.checkpointing = ckpt;
    clft_memory_plan plan;
    if (clft_memory_plan_compute(&cfg, &tp, &plan) != CLFT_OK) return fail("plan");
    clft_context_params cp = clft_context_default_params();
    cp.device = device;
    clft_context *ctx = NULL;
    if (clft_context_create(&cp, &ctx) != CLFT_OK) return fail("context");
    clft_device_info di;
    clft_context_device_info(ctx, &di);
    clft_mem_stats m0, m1;
    clft_context_mem_stats(ctx, &m0);
    clft_context_reset_peak(ctx);
    const double rss0 = rss_now_bytes();
    double t0 = clft_now_seconds();
    clft_model *mod = NULL;
    clft_trainer *tr = NULL;
    if (clft_model_create(ctx, &cfg, &tp, &mod) != CLFT_OK) return fail("model");
    if ((from_dir ? clft_model_load_weights(mod, model) : clft_model_init_random(mod, 1, 0.02f)) != CLFT_OK)
        return fail("weights");
    const double t_load = clft_now_seconds() - t0, rss_load_peak = rss_peak_bytes(), rss_load = rss_now_bytes();
    const double rss_file = status_bytes("RssFile");
    t0 = clft_now_seconds();
    if (clft_trainer_create(mod, &tr) != CLFT_OK) return fail("trainer");
    const double t_trainer = clft_now_seconds() - t0;
    const int n = batch * seq;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)cfg.vocab_size);
    printf("{\n  \"benchmark\": \"memory\",\n  \"model\": \"%s\",\n  \"device\": \"%s\",\n  \"driver\": \"%s\",\n", model,
           di.name, di.driver_version);
    printf("  \"settings\": {\"method\": \"%s\", \"rank\": %d, \"targets\": \"all\", \"seq_len\": %d, \"batch\": %d, "
           "\"checkpointing\": %d, \"embed_dtype\": \"%s\"},\n",
           clft_method_name(m), rank, seq, batch, ckpt, clft_dtype_name(clft_train_embed_dtype(&tp)));
    printf("  \"load_seconds\": %.1f, \"trainer_create_seconds\": %.2f,\n", t_load, t_trainer);
    printf("  \"host_rss_bytes\": {\"anon_before_load\": %.0f, \"anon_after_load\": %.0f, \"file_after_load\": %.0f, "
           "\"peak_through_load\": %.0f},\n",
           rss0, rss_load, rss_file, rss_load_peak);
    printf("  \"steps\": [");
    int rc = 0;
    for (int s = 0; s < steps; s++) {
        clft_step_stats st;
        t0 = clft_now_seconds();
        if (clft_trainer_step(tr, ids, ids, &st) != CLFT_OK) {
            rc = fail("step");
            break;
        }
        const double sec = clft_now_seconds() - t0;
        printf("%s{\"seconds\": %.1f, \"loss\": %.5f, \"tokens_per_s\": %.2f}", s ? ", " : "", sec, st.loss,
               (double)n / sec);
        fflush(stdout);
    }
    printf("],\n");
    clft_context_mem_stats(ctx, &m1);
    printf("  \"classes\": {");
    uint64_t peak_total = 0;
    for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++) {
        const uint64_t peak = m1.peak_bytes[c] - m0.current_bytes[c];
        peak_total += peak;
        printf("%s\"%s\": {\"plan\": %llu, \"peak\": %llu, \"peak_over_plan\": %.4f}", c ? ", " : "",
               clft_mem_class_name((clft_mem_class)c), (unsigned long long)plan.bytes[c], (unsigned long long)peak,
               plan.bytes[c] ? (double)peak / (double)plan.bytes[c] : 0.0);
    }
    printf("},\n  \"plan_total_bytes\": %llu, \"peak_total_bytes\": %llu, \"peak_all_at_once_bytes\": %llu,\n",
           (unsigned long long)plan.total, (unsigned long long)peak_total,
           (unsigned long long)(m1.peak_total - m0.current_total));
    printf("  \"host_rss_peak_bytes\": %.0f\n}\n", rss_peak_bytes());
    free(ids);
    clft_trainer_free(tr);
    clft_model_free(mod);
    clft_context_free(ctx);
    return rc;
}
