/* train_tiny.c - the smallest complete use of the clft training API: a tiny random Llama-family
 * model (vocab 512, hidden 64, 2 layers, 4 heads, 2 kv heads, intermediate 128), adapters on all
 * seven projections, 150 steps on one fixed random batch (4 x 64 tokens), the loss printed each
 * step. Memorizing one batch drives the loss down by far more than 90% with every method.
 *   train_tiny [--method full|lora|qlora] [--steps N] [--lr X] [--device SPEC] [--quiet] */
#include <clft.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, clft_status st) {
    fprintf(stderr, "train_tiny: %s: %s: %s\n", what, clft_status_string(st), clft_last_error());
    return 1;
}

int main(int argc, char **argv) {
    clft_method method = CLFT_METHOD_QLORA;
    int steps = 150, quiet = 0;
    float lr = -1.0f, init_std = 0.2f;
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--method") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "full"))
                method = CLFT_METHOD_FULL;
            else if (!strcmp(m, "lora"))
                method = CLFT_METHOD_LORA;
            else if (!strcmp(m, "qlora"))
                method = CLFT_METHOD_QLORA;
            else {
                fprintf(stderr, "train_tiny: unknown method '%s' (full, lora, qlora)\n", m);
                return 2;
            }
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc)
            lr = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--init-std") && i + 1 < argc)
            init_std = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else {
            fprintf(stderr,
                    "usage: train_tiny [--method full|lora|qlora] [--steps N] [--lr X] [--device SPEC] [--quiet]\n");
            return 2;
        }
    }
    clft_context_params cp = clft_context_default_params();
    cp.device = device;
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&cp, &ctx);
    if (st != CLFT_OK) return fail("context", st);

    clft_model_config cfg;
    st = clft_model_preset_config("tiny", &cfg);
    if (st != CLFT_OK) return fail("config", st);
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = 4;
    tp.seq_len = 64;
    tp.lora.r = 8;
    tp.lora.alpha = 16.0f;
    tp.lora.targets = CLFT_LORA_ALL;
    tp.lr = lr > 0 ? lr : (method == CLFT_METHOD_FULL ? 1e-3f : 3e-3f);
    tp.max_grad_norm = 1.0f;

    clft_model *model = NULL;
    clft_trainer *tr = NULL;
    st = clft_model_create(ctx, &cfg, &tp, &model);
    if (st == CLFT_OK) st = clft_model_init_random(model, 1234, init_std);
    if (st == CLFT_OK) st = clft_trainer_create(model, &tr);
    if (st != CLFT_OK) return fail("model", st);

    const int n = tp.batch * tp.seq_len;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    uint64_t s = 7;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)cfg.vocab_size);
    }
    printf("method %s, %d steps, lr %g, device %s\n", clft_method_name(method), steps, (double)tp.lr,
           device ? device : "(default)");
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        clft_step_stats stats;
        st = clft_trainer_step(tr, ids, ids, &stats);
        if (st != CLFT_OK) return fail("step", st);
        if (step == 0) first = stats.loss;
        last = stats.loss;
        if (!quiet || step == 0 || step + 1 == steps)
            printf("step %4lld  loss %.6f  grad_norm %.4f  %.3f s%s\n", (long long)stats.step, stats.loss,
                   stats.grad_norm, stats.seconds, stats.skipped ? "  (skipped)" : "");
    }
    printf("loss %.6f -> %.6f (%.1f%% lower)\n", first, last, 100.0 * (1.0 - last / first));
    free(ids);
    clft_trainer_free(tr);
    clft_model_free(model);
    clft_context_free(ctx);
    return last <= 0.1 * first ? 0 : 3;
}
