/* test_cross_device.c - the same training run on two OpenCL implementations: 20 QLoRA and 20 LoRA
 * steps of a small Llama-family model whose sizes are not multiples of 64 (hidden 72, 3 heads of
 * 24 with 1 kv head, intermediate 100, vocab 203, sequence 37), from the same seed on two devices,
 * must give losses that agree to 1e-4 relative (fp32 on both; each device picks its own GEMM
 * paths, so only the rounding differs). Devices: the first two found, or
 * CLFT_TEST_CROSS_DEVICES="SPEC,SPEC" (indices or names, as --device). With one device the test
 * cannot run: it FAILS under CI (CI set and not "0"/"false") and reports "needs two devices" with
 * ctest's skip code (77) elsewhere, so that it never shows as passed. tools/test.sh runs it once,
 * not per device (label "cross"). */
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

#define STEPS     20
#define SKIP_CODE 77

static int in_ci(void) {
    const char *ci = getenv("CI");
    return ci && ci[0] && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
}

static clft_model_config small_config(void) {
    clft_model_config cfg;
    TU_OK(clft_model_preset_config("tiny", &cfg));
    cfg.vocab_size = 203;
    cfg.hidden_size = 72;
    cfg.num_heads = 3;
    cfg.head_dim = 24;
    cfg.num_kv_heads = 1;
    cfg.intermediate_size = 100;
    cfg.num_layers = 2;
    TU_OK(clft_model_config_validate(&cfg, "cross-device config"));
    return cfg;
}

/* STEPS training steps on one fixed batch on device `spec`; losses[STEPS]. */
static int run(const char *spec, clft_method method, double *losses, char *name, size_t name_cap) {
    clft_context_params cp = clft_context_default_params();
    cp.device = spec;
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&cp, &ctx);
    TU_CHECK(st == CLFT_OK, "context on device '%s': %s: %s", spec, clft_status_string(st), clft_last_error());
    if (st != CLFT_OK) return 0;
    clft_device_info info;
    TU_OK(clft_context_device_info(ctx, &info));
    snprintf(name, name_cap, "[%d] %s (%s)", info.index, info.name, info.platform);
    clft_model_config cfg = small_config();
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = 2;
    tp.seq_len = 37;
    tp.lora.r = 8;
    tp.lora.alpha = 16.0f;
    tp.lora.targets = CLFT_LORA_ALL;
    tp.lr = 3e-3f;
    tp.seed = 11;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    int ok = 0;
    TU_OK(st = clft_model_create(ctx, &cfg, &tp, &m));
    if (st == CLFT_OK) TU_OK(st = clft_model_init_random(m, 1234, 0.2f));
    if (st == CLFT_OK) TU_OK(st = clft_trainer_create(m, &tr));
    if (st == CLFT_OK) {
        const int n = tp.batch * tp.seq_len;
        int32_t ids[2 * 37];
        uint64_t s = 7;
        for (int i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            ids[i] = (int32_t)((s >> 33) % (uint64_t)cfg.vocab_size);
        }
        ok = 1;
        for (int i = 0; i < STEPS && ok; i++) {
            clft_step_stats stats;
            TU_OK(st = clft_trainer_step(tr, ids, ids, &stats));
            ok = st == CLFT_OK && !stats.skipped;
            losses[i] = stats.loss;
        }
    }
    clft_trainer_free(tr);
    clft_model_free(m);
    clft_context_free(ctx);
    return ok;
}

int main(void) {
    tu_init_seed();
    clft_set_log_callback(tu_log, NULL, getenv("CLFT_TEST_VERBOSE") ? CLFT_LOG_DEBUG : CLFT_LOG_WARN);
    char specs[2][64] = {"", ""};
    const char *env = getenv("CLFT_TEST_CROSS_DEVICES");
    if (env && env[0]) {
        const char *comma = strchr(env, ',');
        if (!comma || comma == env || !comma[1] || (size_t)(comma - env) >= sizeof specs[0] ||
            strlen(comma + 1) >= sizeof specs[1]) {
            fprintf(stderr, "FAIL: CLFT_TEST_CROSS_DEVICES='%s': expected two device specs, e.g. \"0,1\"\n", env);
            return 1;
        }
        memcpy(specs[0], env, (size_t)(comma - env));
        snprintf(specs[1], sizeof specs[1], "%s", comma + 1);
    } else {
        clft_device_info *devs = NULL;
        size_t n = 0;
        clft_status st = clft_devices_list(&devs, &n);
        if (st != CLFT_OK) {
            fprintf(stderr, "FAIL: no OpenCL device: %s: %s\n", clft_status_string(st), clft_last_error());
            return 1;
        }
        clft_devices_free(devs);
        if (n < 2) {
            if (in_ci()) {
                fprintf(stderr,
                        "FAIL: the cross-implementation test needs two OpenCL devices and found %zu; in CI "
                        "it must run (tools/install-deps.sh installs Intel's CPU runtime next to PoCL, "
                        "tools/ocl-env.sh registers it)\n",
                        n);
                return 1;
            }
            printf("test_cross_device: needs two devices (found %zu): not run\n", n);
            return SKIP_CODE;
        }
        snprintf(specs[0], sizeof specs[0], "0");
        snprintf(specs[1], sizeof specs[1], "1");
    }
    static const clft_method methods[] = {CLFT_METHOD_QLORA, CLFT_METHOD_LORA};
    for (size_t mi = 0; mi < sizeof methods / sizeof methods[0]; mi++) {
        double loss[2][STEPS];
        char name[2][300];
        int ok0 = run(specs[0], methods[mi], loss[0], name[0], sizeof name[0]);
        int ok1 = ok0 && run(specs[1], methods[mi], loss[1], name[1], sizeof name[1]);
        if (!ok1) continue;
        TU_CHECK(strcmp(name[0], name[1]) != 0, "both runs on the same device %s", name[0]);
        double worst = 0;
        int bad = 0;
        for (int i = 0; i < STEPS; i++) {
            const double rel = fabs(loss[0][i] - loss[1][i]) / fabs(loss[1][i]);
            if (rel > worst) worst = rel;
            if (!(rel <= 1e-4)) {
                if (bad++ < 5)
                    fprintf(stderr, "  %s step %d: loss %.9g on %s, %.9g on %s (relative %.3g)\n",
                            clft_method_name(methods[mi]), i + 1, loss[0][i], name[0], loss[1][i], name[1], rel);
            }
        }
        TU_CHECK(bad == 0, "%s: %d of %d step losses differ by more than 1e-4 relative", clft_method_name(methods[mi]),
                 bad, STEPS);
        TU_CHECK(loss[0][STEPS - 1] < loss[0][0], "%s: the loss falls (%.6g -> %.6g)", clft_method_name(methods[mi]),
                 loss[0][0], loss[0][STEPS - 1]);
        printf("%s, %d steps: loss %.6f -> %.6f on %s and %.6f -> %.6f on %s; largest relative difference %.3g\n",
               clft_method_name(methods[mi]), STEPS, loss[0][0], loss[0][STEPS - 1], name[0], loss[1][0],
               loss[1][STEPS - 1], name[1], worst);
    }
    return tu_finish("test_cross_device");
}
