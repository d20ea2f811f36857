/* clft_logits.c - a helper of tests/interop/peft_roundtrip.py: the logits clft computes for a model
 * folder (and a PEFT adapter) on given token ids, through the public API, written as raw little-endian
 * float32 (T x vocab) so that the script compares them with transformers + PEFT.
 *   clft_logits MODEL_DIR ADAPTER_DIR|- IDS OUT.bin [f32|bf16|f16|nf4|fp4]
 * IDS: comma separated token ids. The base storage defaults to how the adapter was trained (clft's
 * metadata), else f32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clft.h"

static int fail(const char *what) {
    fprintf(stderr, "clft_logits: %s: %s\n", what, clft_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: clft_logits MODEL_DIR ADAPTER_DIR|- IDS OUT.bin [base dtype]\n");
        return 2;
    }
    const char *model = argv[1], *adapter = strcmp(argv[2], "-") ? argv[2] : NULL;
    int32_t ids[4096];
    int T = 0;
    for (char *p = argv[3]; *p && T < 4096;) {
        ids[T++] = (int32_t)strtol(p, &p, 10);
        if (*p == ',') p++;
    }
    clft_model_config cfg;
    if (clft_model_config_load(model, &cfg) != CLFT_OK) return fail(model);
    clft_adapter_info ai;
    memset(&ai, 0, sizeof ai);
    if (adapter && clft_adapter_info_read(adapter, &ai) != CLFT_OK) return fail(adapter);
    clft_dtype base = ai.from_clft ? ai.base_dtype : CLFT_DTYPE_F32;
    if (argc > 5) {
        const char *d = argv[5];
        base = !strcmp(d, "nf4")    ? CLFT_DTYPE_NF4
               : !strcmp(d, "fp4")  ? CLFT_DTYPE_FP4
               : !strcmp(d, "bf16") ? CLFT_DTYPE_BF16
               : !strcmp(d, "f16")  ? CLFT_DTYPE_F16
                                    : CLFT_DTYPE_F32;
    }
    const int q4 = base == CLFT_DTYPE_NF4 || base == CLFT_DTYPE_FP4;
    clft_train_params tp = clft_train_default_params(q4 ? CLFT_METHOD_QLORA : CLFT_METHOD_LORA);
    tp.base_dtype = base;
    tp.embed_dtype = CLFT_DTYPE_F32; /* compared with PEFT on f32 embeddings and head */
    if (adapter) {
        tp.lora = ai.lora;
        tp.lora.dropout = 0;
        if (ai.from_clft && ai.method == CLFT_METHOD_QLORA) {
            tp.qlora_blocksize = ai.qlora_blocksize;
            tp.qlora_double_quant = ai.qlora_double_quant;
        }
    }
    tp.batch = 1;
    tp.seq_len = T;
    tp.checkpointing = 0;
    clft_context *ctx = NULL;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    clft_context_params cp = clft_context_default_params();
    if (clft_context_create(&cp, &ctx) != CLFT_OK) return fail("context");
    if (clft_model_create(ctx, &cfg, &tp, &m) != CLFT_OK) return fail("model");
    if (clft_model_load_weights(m, model) != CLFT_OK) return fail(model);
    /* without an adapter the (PEFT-initialized) adapters have B = 0: the base alone */
    if (adapter && clft_model_load_adapter(m, adapter) != CLFT_OK) return fail(adapter);
    if (clft_trainer_create(m, &tr) != CLFT_OK) return fail("trainer");
    float *lg = malloc((size_t)T * (size_t)cfg.vocab_size * 4);
    int32_t *labels = malloc((size_t)T * 4);
    for (int i = 0; i < T; i++)
        labels[i] = ids[i];
    double loss = 0;
    if (!lg || !labels || clft_trainer_compute_grads(tr, ids, labels, &loss, lg) != CLFT_OK) return fail("forward");
    FILE *f = fopen(argv[4], "wb");
    if (!f || fwrite(lg, 4, (size_t)T * (size_t)cfg.vocab_size, f) != (size_t)T * (size_t)cfg.vocab_size ||
        fclose(f) != 0) {
        fprintf(stderr, "clft_logits: cannot write %s\n", argv[4]);
        return 1;
    }
    free(lg);
    free(labels);
    clft_trainer_free(tr);
    clft_model_free(m);
    clft_context_free(ctx);
    return 0;
}
