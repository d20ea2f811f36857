/* train_tutil.h - helpers shared by the trainer tests that compare steps on one tiny model
 * (test_accum, test_dist): its config, a model + trainer with non-zero LoRA B, and a batch whose
 * rows have 9, 7, 5 and 3 labelled tokens. */
#ifndef CLFT_TRAIN_TUTIL_H
#define CLFT_TRAIN_TUTIL_H

#include "tutil.h"

#define TT_ROWS  4  /* rows of the whole batch */
#define TT_SEQ   10 /* tokens per row */
#define TT_VOCAB 61

static inline clft_model_config tt_config(clft_arch arch) {
    clft_model_config cfg;
    clft_model_config_defaults(arch, &cfg);
    cfg.vocab_size = TT_VOCAB;
    cfg.hidden_size = 24;
    cfg.intermediate_size = 40;
    cfg.num_layers = 2;
    cfg.num_heads = 3;
    cfg.num_kv_heads = 1;
    cfg.head_dim = 8;
    return cfg;
}

/* A model of tt_config(arch) for `batch` rows, weights from init_seed, every adapter's B non-zero
 * (salted, so that every adapter gradient is exercised), and its trainer. 0 on a failure. */
static inline int tt_make(clft_context *ctx, clft_arch arch, clft_method method, int batch, uint64_t init_seed,
                          int b_salt, float max_grad_norm, clft_model **m, clft_trainer **tr) {
    clft_model_config cfg = tt_config(arch);
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = batch;
    tp.seq_len = TT_SEQ;
    tp.lr = 1e-2f;
    tp.lora.r = 4;
    tp.max_grad_norm = max_grad_norm;
    *m = NULL;
    *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, m));
    if (!*m) return 0;
    TU_OK(clft_model_init_random(*m, init_seed, 0.1f));
    if (method != CLFT_METHOD_FULL) {
        float Bv[40 * 4];
        for (int i = 0; i < 40 * 4; i++)
            Bv[i] = 0.01f * (float)((i * 7 + b_salt) % 11 - 5);
        for (int l = 0; l < 2; l++)
            for (int t = 0; t < 7; t++)
                TU_OK(clft_model_lora_set(*m, l, 1u << t, NULL, Bv));
    }
    TU_OK(clft_trainer_create(*m, tr));
    return *tr != NULL;
}

/* TT_ROWS rows of random ids; row r's first 1 + 2r labels masked (rows with 9, 7, 5, 3 labels, so
 * that a mean of per-row means would differ from the mean). */
static inline void tt_fill(int32_t *ids, int32_t *labels) {
    tu_rng r = tu_rng_make(77);
    for (int i = 0; i < TT_ROWS * TT_SEQ; i++) {
        ids[i] = (int32_t)(tu_next(&r) % TT_VOCAB);
        labels[i] = i % TT_SEQ < 1 + 2 * (i / TT_SEQ) ? -100 : ids[i];
    }
}

#endif
