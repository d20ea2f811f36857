/* test_accum.c - gradient accumulation, learning-rate setting and evaluation of the trainer:
 * 4 micro-batches of 1 row in one clft_trainer_step_accum = one step on a batch of 4 rows (loss,
 * token count, grad norm and the updated weights to fp32 tolerance; rows with different numbers of
 * labelled tokens, so a mean of means would differ), for LoRA and full fine-tuning; a step whose
 * batches have no labelled token is skipped; clft_trainer_set_lr changes the update (LR 0: none);
 * clft_trainer_eval_batch gives the loss of compute_grads without touching the weights. */
#include <math.h>
#include <string.h>

#include "train_tutil.h"

#define B TT_ROWS
#define T TT_SEQ
#define V TT_VOCAB

/* Qwen2 (q/k/v biases), no clipping: the raw updates are compared */
static int make(clft_context *ctx, clft_method method, int batch, clft_model **m, clft_trainer **tr) {
    return tt_make(ctx, CLFT_ARCH_QWEN2, method, batch, 9, 0, 0.0f, m, tr);
}

static void run(clft_context *ctx, clft_method method) {
    int32_t ids[B * T], labels[B * T];
    tt_fill(ids, labels);
    clft_model *m4, *m1;
    clft_trainer *t4, *t1;
    if (!make(ctx, method, B, &m4, &t4) || !make(ctx, method, 1, &m1, &t1)) return;
    clft_step_stats s4, s1;
    TU_OK(clft_trainer_step(t4, ids, labels, &s4));
    clft_batch micro[B];
    memset(micro, 0, sizeof micro);
    for (int k = 0; k < B; k++) {
        micro[k].ids = ids + k * T;
        micro[k].labels = labels + k * T;
        micro[k].batch = 1;
        micro[k].seq_len = T;
    }
    TU_OK(clft_trainer_step_accum(t1, micro, B, &s1));
    TU_CHECK(s4.tokens == 24 && s1.tokens == 24, "tokens %lld / %lld", (long long)s4.tokens, (long long)s1.tokens);
    TU_CHECK(fabs(s4.loss - s1.loss) <= 1e-6 * fabs(s4.loss), "%s loss: batch of 4 %.9g, 4 micro-batches %.9g",
             clft_method_name(method), s4.loss, s1.loss);
    TU_CHECK(fabs(s4.grad_norm - s1.grad_norm) <= 1e-5 * s4.grad_norm, "grad norm %.9g vs %.9g", s4.grad_norm,
             s1.grad_norm);
    TU_CHECK(s1.step == 1 && !s1.skipped, "one optimizer step (%lld, skipped %d)", (long long)s1.step, s1.skipped);
    float a[40 * 24], b[40 * 24];
    if (method == CLFT_METHOD_FULL) {
        TU_OK(clft_model_get_weight(m4, "model.layers.1.mlp.up_proj.weight", a, 40 * 24));
        TU_OK(clft_model_get_weight(m1, "model.layers.1.mlp.up_proj.weight", b, 40 * 24));
        tu_close("full: up_proj after the step", b, a, 40 * 24, 1e-6, 1e-5, 1e-12);
    } else {
        TU_OK(clft_model_lora_get(m4, 0, CLFT_LORA_GATE, a, NULL));
        TU_OK(clft_model_lora_get(m1, 0, CLFT_LORA_GATE, b, NULL));
        tu_close("lora: gate A after the step", b, a, 4 * 24, 1e-6, 1e-5, 1e-12);
    }
    /* evaluation = the loss of compute_grads, weights untouched */
    double sum = 0, gl = 0;
    int64_t tok = 0;
    clft_batch full = {.ids = ids, .labels = labels, .batch = B, .seq_len = T};
    TU_OK(clft_trainer_eval_batch(t4, &full, &sum, &tok));
    TU_OK(clft_trainer_compute_grads(t4, ids, labels, &gl, NULL));
    TU_CHECK(tok == 24 && fabs(sum / (double)tok - gl) <= 1e-6 * gl, "eval %.9g (%lld tokens) vs %.9g",
             tok ? sum / (double)tok : 0.0, (long long)tok, gl);
    /* learning rate 0: no change; a step without labels: skipped */
    float before[40 * 24], after[40 * 24];
    const char *w = method == CLFT_METHOD_FULL ? "model.norm.weight" : NULL;
    if (w) TU_OK(clft_model_get_weight(m4, w, before, 24));
    if (!w) TU_OK(clft_model_lora_get(m4, 1, CLFT_LORA_Q, before, NULL));
    TU_OK(clft_trainer_set_lr(t4, 0.0));
    TU_OK(clft_trainer_step(t4, ids, labels, &s4));
    if (w) TU_OK(clft_model_get_weight(m4, w, after, 24));
    if (!w) TU_OK(clft_model_lora_get(m4, 1, CLFT_LORA_Q, after, NULL));
    TU_CHECK(!memcmp(before, after, (size_t)(w ? 24 : 4 * 24) * 4), "LR 0 leaves the weights");
    TU_OK(clft_trainer_set_lr(t4, 1e-2));
    TU_OK(clft_trainer_step(t4, ids, labels, &s4));
    if (w) TU_OK(clft_model_get_weight(m4, w, after, 24));
    if (!w) TU_OK(clft_model_lora_get(m4, 1, CLFT_LORA_Q, after, NULL));
    TU_CHECK(memcmp(before, after, (size_t)(w ? 24 : 4 * 24) * 4) != 0, "LR 1e-2 changes the weights");
    int32_t none[B * T];
    for (int i = 0; i < B * T; i++)
        none[i] = -100;
    const int64_t step_before = s4.step;
    TU_OK(clft_trainer_step(t4, ids, none, &s4));
    TU_CHECK(s4.skipped && s4.step == step_before && s4.tokens == 0, "a step without labels is skipped");
    TU_CHECK(clft_trainer_set_lr(t4, NAN) == CLFT_STATUS_INVALID_ARGUMENT, "NaN LR refused");
    TU_CHECK(clft_trainer_step_accum(t1, micro, 0, &s1) == CLFT_STATUS_INVALID_ARGUMENT, "0 micro-batches refused");
    micro[2].batch = 2;
    TU_CHECK(clft_trainer_step_accum(t1, micro, B, &s1) == CLFT_STATUS_SHAPE_MISMATCH, "a wrong micro-batch refused");
    clft_trainer_free(t4);
    clft_trainer_free(t1);
    clft_model_free(m4);
    clft_model_free(m1);
}

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    run(ctx, CLFT_METHOD_LORA);
    run(ctx, CLFT_METHOD_FULL);
    clft_context_free(ctx);
    return tu_finish("test_accum");
}
