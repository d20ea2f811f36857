/* test_plan_peak.c - the memory plan is the truth: a model and trainer on a fresh context, trained
 * for a few steps (the first one times the GEMM paths, so CLBlast's temporary and the autotune
 * output are requested then), hold at their peak what clft_memory_plan_compute says, class by
 * class, within 5% (frozen weights, trainable, gradients, optimizer state, activations, scratch),
 * and allocate nothing after clft_trainer_create. Presets that fit this machine: tiny with every
 * method, checkpointing on and off, 16-bit and f32 embeddings; `small` with QLoRA. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

static void fill_ids(int32_t *ids, int64_t n, int64_t V, uint64_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((seed >> 33) % (uint64_t)V);
    }
}

static void check_case(const char *preset, clft_method method, int ckpt, int embed, int B, int T, int steps) {
    clft_model_config cfg;
    TU_OK(clft_model_preset_config(preset, &cfg));
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = B;
    tp.seq_len = T;
    tp.checkpointing = ckpt;
    if (embed >= 0) tp.embed_dtype = embed;
    tp.lora.r = 16;
    tp.lora.alpha = 32;
    tp.lora.targets = CLFT_LORA_ALL;
    char what[128];
    snprintf(what, sizeof what, "%s %s ckpt %d embed %s B%d T%d", preset, clft_method_name(method), ckpt,
             clft_dtype_name(clft_train_embed_dtype(&tp)), B, T);
    clft_memory_plan plan;
    TU_OK(clft_memory_plan_compute(&cfg, &tp, &plan));
    clft_context *ctx = tu_context(); /* fresh: the GEMM layer's scratch starts empty */
    clft_mem_stats before, created, after;
    TU_OK(clft_context_mem_stats(ctx, &before));
    TU_OK(clft_context_reset_peak(ctx));
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    if (m) TU_OK(clft_model_init_random(m, 3, 0.05f));
    if (m) TU_OK(clft_trainer_create(m, &tr));
    if (!tr) goto done;
    TU_OK(clft_context_mem_stats(ctx, &created));
    const int64_t N = (int64_t)B * T;
    int32_t *ids = malloc((size_t)N * sizeof *ids);
    fill_ids(ids, N, cfg.vocab_size, 11);
    for (int s = 0; s < steps; s++) {
        clft_step_stats st;
        TU_OK(clft_trainer_step(tr, ids, ids, &st));
        TU_CHECK(isfinite(st.loss), "%s: step %d loss %g", what, s + 1, st.loss);
    }
    free(ids);
    TU_OK(clft_context_mem_stats(ctx, &after));
    TU_CHECK(after.allocations == created.allocations,
             "%s: %llu device allocations after clft_trainer_create (the plan reserves everything)", what,
             (unsigned long long)(after.allocations - created.allocations));
    uint64_t tp_total = 0, tg_total = 0;
    fprintf(stderr, "%s: plan %.2f MiB\n", what, (double)plan.total / 1048576.0);
    for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++) {
        const uint64_t peak = after.peak_bytes[c] - before.current_bytes[c], want = plan.bytes[c];
        tp_total += want;
        tg_total += peak;
        fprintf(stderr, "  %-12s plan %12llu  peak %12llu  (%.4f)\n", clft_mem_class_name((clft_mem_class)c),
                (unsigned long long)want, (unsigned long long)peak, want ? (double)peak / (double)want : 0.0);
        TU_CHECK(want ? fabs((double)peak - (double)want) <= 0.05 * (double)want : peak == 0,
                 "%s: %s peak %llu bytes, plan %llu (more than 5%% apart)", what,
                 clft_mem_class_name((clft_mem_class)c), (unsigned long long)peak, (unsigned long long)want);
    }
    TU_CHECK(fabs((double)tg_total - (double)tp_total) <= 0.05 * (double)tp_total,
             "%s: total peak %llu, plan %llu", what, (unsigned long long)tg_total, (unsigned long long)tp_total);
done:
    clft_trainer_free(tr);
    clft_model_free(m);
    clft_context_free(ctx);
}

int main(void) {
    tu_init_seed();
    const clft_method methods[3] = {CLFT_METHOD_FULL, CLFT_METHOD_LORA, CLFT_METHOD_QLORA};
    for (int i = 0; i < 3; i++)
        for (int ckpt = 0; ckpt < 2; ckpt++)
            check_case("tiny", methods[i], ckpt, -1, 2, 40, 2);
    check_case("tiny", CLFT_METHOD_QLORA, 1, CLFT_DTYPE_F32, 3, 24, 2);
    check_case("tiny", CLFT_METHOD_LORA, 0, CLFT_DTYPE_BF16, 1, 33, 2);
    if (!tu_tiny()) check_case("small", CLFT_METHOD_QLORA, 1, -1, 1, 64, 2);
    return tu_finish("test_plan_peak");
}
