/* bench_load_main.c - model loading time: a Hugging Face folder of the given preset (written with
 * clft init into a temporary folder unless --model DIR is given) read from the page cache, loaded
 * into a LoRA model (f32 base, no quantization), into a QLoRA model (NF4 quantization while
 * loading), and from a bitsandbytes 4-bit copy (clft quantize) into a QLoRA model. Prints JSON.
 * With --model FILE.gguf (e.g. SmolLM2-135M-Instruct.Q4_1.gguf, tools/fetch-smollm2.sh): the file's
 * page-cache read time against loading it into LoRA (f32 base), QLoRA (dequantized, requantized to
 * NF4) and native storage (its Q8_0/Q4_0/Q4_1 blocks kept as they are), each the best of 3.
 *   bench_load [--device SPEC] [--preset small] [--model DIR|FILE.gguf] [--keep] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static double read_file_seconds(const char *path, double *bytes) {
    static char buf[1 << 20];
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = clft_now_seconds(), n = 0;
        int fd = open(path, O_RDONLY);
        if (fd < 0) return -1;
        for (ssize_t k; (k = read(fd, buf, sizeof buf)) > 0;)
            n += (double)k;
        close(fd);
        double dt = clft_now_seconds() - t0;
        if (dt < best) best = dt;
        *bytes = n;
    }
    return best;
}

static double read_folder_seconds(const char *dir, double *bytes) {
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return read_file_seconds(path, bytes);
}

/* base: CLFT_DTYPE_F32 for the method's default storage, else that storage */
static int load_one(clft_context *ctx, const char *dir, clft_method method, clft_dtype base, double *seconds) {
    clft_model_config cfg;
    clft_train_params tp = clft_train_default_params(method);
    if (base != CLFT_DTYPE_F32) tp.base_dtype = base;
    tp.batch = 1;
    tp.seq_len = 16;
    clft_model *m = NULL;
    clft_status st = clft_model_config_load(dir, &cfg);
    if (st == CLFT_OK) {
        cfg.has_quantization_config = 0;
        st = clft_model_create(ctx, &cfg, &tp, &m);
    }
    double t0 = clft_now_seconds();
    if (st == CLFT_OK) st = clft_model_load_weights(m, dir);
    if (st == CLFT_OK) st = clft_context_finish(ctx);
    *seconds = clft_now_seconds() - t0;
    clft_model_free(m);
    if (st != CLFT_OK) fprintf(stderr, "bench_load: %s: %s\n", dir, clft_last_error());
    return st != CLFT_OK;
}

static clft_context *open_context(const char *device) {
    clft_context_params p = clft_context_default_params();
    p.device = device;
    clft_context *ctx = NULL;
    if (clft_context_create(&p, &ctx) != CLFT_OK) {
        fprintf(stderr, "bench_load: %s\n", clft_last_error());
        return NULL;
    }
    return ctx;
}

/* prints and frees root */
static void print_json(cJSON *root) {
    char *s = cJSON_Print(root);
    printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(root);
}

/* A GGUF file: best of 3 loads per storage after a warm-up load (kernels, page cache). */
static int bench_gguf(const char *device, const char *path) {
    clft_dtype native;
    if (clft_gguf_native_dtype(path, &native) != CLFT_OK) {
        fprintf(stderr, "bench_load: %s\n", clft_last_error());
        return 1;
    }
    clft_context *ctx = open_context(device);
    if (!ctx) return 1;
    static const struct {
        const char *key;
        clft_method method;
        int native;
    } runs[] = {{"load_f32_lora_seconds", CLFT_METHOD_LORA, 0},
                {"load_nf4_qlora_seconds", CLFT_METHOD_QLORA, 0},
                {"load_native_seconds", CLFT_METHOD_LORA, 1}};
    double bytes = 0, rd = read_file_seconds(path, &bytes), t[3], dt = 0;
    int rc = load_one(ctx, path, CLFT_METHOD_QLORA, CLFT_DTYPE_F32, &dt);
    for (int k = 0; k < 3 && !rc; k++) {
        t[k] = 1e30;
        for (int r = 0; r < 3 && !rc; r++) {
            rc |= load_one(ctx, path, runs[k].method, runs[k].native ? native : CLFT_DTYPE_F32, &dt);
            if (dt < t[k]) t[k] = dt;
        }
    }
    if (!rc) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", ctx->caps.info.name);
        cJSON_AddStringToObject(root, "model", path);
        cJSON_AddStringToObject(root, "native_storage", clft_dtype_name(native));
        cJSON_AddNumberToObject(root, "file_bytes", bytes);
        cJSON_AddNumberToObject(root, "page_cache_read_seconds", rd);
        cJSON_AddNumberToObject(root, "page_cache_read_gbs", bytes / rd / 1e9);
        for (int k = 0; k < 3; k++) {
            cJSON_AddNumberToObject(root, runs[k].key, t[k]);
            char key[80];
            snprintf(key, sizeof key, "%.*s_vs_read", (int)(strlen(runs[k].key) - 8), runs[k].key);
            cJSON_AddNumberToObject(root, key, t[k] / rd);
        }
        print_json(root);
    }
    clft_context_free(ctx);
    return rc;
}

int main(int argc, char **argv) {
    const char *device = NULL, *preset = "small", *model = NULL;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--preset") && i + 1 < argc)
            preset = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else {
            fprintf(stderr, "usage: bench_load [--device SPEC] [--preset NAME] [--model DIR] [--keep]\n");
            return 2;
        }
    }
    const size_t ml = model ? strlen(model) : 0;
    if (ml > 5 && !strcmp(model + ml - 5, ".gguf")) return bench_gguf(device, model);
    char tmp[] = "/tmp/clft-bench-load-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char src[1100], q[1100];
    snprintf(src, sizeof src, "%s/model", tmp);
    snprintf(q, sizeof q, "%s/model-nf4", tmp);
    if (model) snprintf(src, sizeof src, "%s", model);
    int rc = 0;
    if (!model) {
        clft_model_init_params ip = clft_model_init_default_params();
        ip.preset = preset;
        ip.seed = 1;
        if (clft_model_init_write(src, &ip) != CLFT_OK) {
            fprintf(stderr, "bench_load: init: %s\n", clft_last_error());
            return 1;
        }
    }
    clft_quantize_params qp = clft_quantize_default_params();
    double tq0 = clft_now_seconds();
    if (clft_model_quantize(src, q, &qp) != CLFT_OK) {
        fprintf(stderr, "bench_load: quantize: %s\n", clft_last_error());
        return 1;
    }
    double quantize_s = clft_now_seconds() - tq0;
    clft_context *ctx = open_context(device);
    if (!ctx) return 1;
    double bytes = 0, rd = read_folder_seconds(src, &bytes), t_lora = 0, t_qlora = 0, t_q4 = 0;
    rc |= load_one(ctx, src, CLFT_METHOD_LORA, CLFT_DTYPE_F32, &t_lora); /* warm-up: kernels, page cache */
    rc |= load_one(ctx, src, CLFT_METHOD_LORA, CLFT_DTYPE_F32, &t_lora);
    rc |= load_one(ctx, src, CLFT_METHOD_QLORA, CLFT_DTYPE_F32, &t_qlora);
    rc |= load_one(ctx, q, CLFT_METHOD_QLORA, CLFT_DTYPE_F32, &t_q4);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "device", ctx->caps.info.name);
    cJSON_AddStringToObject(root, "model", model ? model : preset);
    cJSON_AddNumberToObject(root, "file_bytes", bytes);
    cJSON_AddNumberToObject(root, "page_cache_read_seconds", rd);
    cJSON_AddNumberToObject(root, "page_cache_read_gbs", bytes / rd / 1e9);
    cJSON_AddNumberToObject(root, "load_f32_lora_seconds", t_lora);
    cJSON_AddNumberToObject(root, "load_quantize_nf4_qlora_seconds", t_qlora);
    cJSON_AddNumberToObject(root, "load_bnb4_checkpoint_qlora_seconds", t_q4);
    cJSON_AddNumberToObject(root, "clft_quantize_folder_seconds", quantize_s);
    print_json(root);
    clft_context_free(ctx);
    if (!keep) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) rc = 1;
    }
    return rc;
}
