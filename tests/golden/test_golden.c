/* test_golden.c - the training core against an independent implementation: PyTorch autograd
 * (tests/golden/make_golden.py wrote the fixtures). For each tiny model: the same weights and
 * adapters are loaded, one forward + loss + backward runs on the OpenCL device, and logits, loss and
 * the LoRA gradients (every weight's gradient for full fine-tuning) must agree.
 * Tolerances (f32 end to end on both sides, different summation orders):
 *   logits  |d| <= 2e-4 + 2e-3|ref|,  loss rel 1e-5,  grads |d| <= 1e-3*max|ref| + 2e-3|ref|, NMSE <= 1e-6.
 * The NF4 variant also checks that clft's quantization reproduces the dequantized weights torch used.
 * Every grad.* tensor must name an adapter (a weight for full fine-tuning), and a fixture must hold a
 * gradient for every adapter (every weight). usage: test_golden [FIXTURE_DIR] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "."
#endif

typedef struct variant {
    const char *name;
    clft_arch arch;
    int64_t vocab, hidden, layers, heads, kv, inter;
    double eps, theta;
    int llama3; /* rope scaling factor 8, 1, 4, original 8 */
    int tied, bias, window, nf4, full;
    int B, T, r;
    float alpha;
} variant;

/* mirrors VARIANTS in make_golden.py */
static const variant VARIANTS[] = {
    {"llama_f32", CLFT_ARCH_LLAMA, 512, 64, 2, 4, 2, 128, 1e-5, 10000.0, 0, 0, 0, 0, 0, 0, 2, 16, 8, 16.0f},
    {"llama_full", CLFT_ARCH_LLAMA, 512, 64, 2, 4, 2, 128, 1e-5, 10000.0, 0, 0, 0, 0, 0, 1, 2, 16, 0, 0.0f},
    {"llama_nf4", CLFT_ARCH_LLAMA, 512, 64, 2, 4, 2, 128, 1e-5, 10000.0, 0, 0, 0, 0, 1, 0, 2, 16, 8, 16.0f},
    {"qwen2_f32", CLFT_ARCH_QWEN2, 384, 48, 2, 3, 1, 80, 1e-6, 1e6, 1, 1, 1, 5, 0, 0, 2, 13, 4, 8.0f},
};
static const char *TGT[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

/* PEFT name of layer l's adapter matrix ("A" or "B") on target t. */
static void lora_name(char *out, size_t cap, int l, int t, const char *ab) {
    snprintf(out, cap, "base_model.model.model.layers.%d.%s.%s.lora_%s.weight", l, t < 4 ? "self_attn" : "mlp", TGT[t],
             ab);
}

/* Layer, target and A/B of the adapter named pname; 0 when it names none of the model's adapters. */
static int lora_lookup(const char *pname, int layers, int *l, int *t, int *isA) {
    char want[160];
    for (int ll = 0; ll < layers; ll++)
        for (int tt = 0; tt < 7; tt++)
            for (int a = 0; a < 2; a++) {
                lora_name(want, sizeof want, ll, tt, a ? "A" : "B");
                if (!strcmp(pname, want)) {
                    *l = ll, *t = tt, *isA = a;
                    return 1;
                }
            }
    return 0;
}

static const float *f32(const clft_safetensors *st, const char *name, int64_t *n) {
    clft_tensor_view v;
    clft_status s = clft_safetensors_find(st, name, &v);
    TU_CHECK(s == CLFT_OK, "fixture tensor %s: %s", name, clft_last_error());
    if (s != CLFT_OK) return NULL;
    if (n) *n = (int64_t)(v.bytes / 4);
    return v.data;
}

static double maxabs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

static void run_variant(clft_context *ctx, const char *dir, const variant *vt, int ckpt) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden_%s.safetensors", dir, vt->name);
    clft_safetensors *st = NULL;
    TU_OK(clft_safetensors_open(path, &st));
    if (!st) return;
    fprintf(stderr, "golden %s (checkpointing %d)\n", vt->name, ckpt);
    clft_model_config cfg;
    clft_model_config_defaults(vt->arch, &cfg);
    cfg.vocab_size = vt->vocab;
    cfg.hidden_size = vt->hidden;
    cfg.num_layers = vt->layers;
    cfg.num_heads = vt->heads;
    cfg.num_kv_heads = vt->kv;
    cfg.head_dim = vt->hidden / vt->heads;
    cfg.intermediate_size = vt->inter;
    cfg.rms_norm_eps = vt->eps;
    cfg.rope_theta = vt->theta;
    cfg.tie_word_embeddings = vt->tied;
    cfg.qkv_bias = vt->bias;
    cfg.o_bias = 0;
    cfg.mlp_bias = 0;
    cfg.sliding_window = vt->window;
    cfg.max_window_layers = 0;
    if (vt->llama3) {
        cfg.rope_scaling.type = CLFT_ROPE_LLAMA3;
        cfg.rope_scaling.factor = 8.0;
        cfg.rope_scaling.low_freq_factor = 1.0;
        cfg.rope_scaling.high_freq_factor = 4.0;
        cfg.rope_scaling.original_max_position_embeddings = 8;
    }
    clft_train_params tp = clft_train_default_params(vt->full  ? CLFT_METHOD_FULL
                                                     : vt->nf4 ? CLFT_METHOD_QLORA
                                                               : CLFT_METHOD_LORA);
    tp.batch = vt->B;
    tp.seq_len = vt->T;
    tp.checkpointing = ckpt;
    tp.xent_chunk = 7; /* chunks that do not divide B*T */
    if (!vt->full) tp.embed_dtype = CLFT_DTYPE_F32; /* the fixtures' embeddings and head are f32 */
    if (!vt->full) {
        tp.lora.r = vt->r;
        tp.lora.alpha = vt->alpha;
    }
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    if (!m) {
        clft_safetensors_free(st);
        return;
    }
    /* weights */
    int nweights = 0;
    for (size_t i = 0; i < clft_safetensors_count(st); i++) {
        clft_tensor_view v;
        TU_OK(clft_safetensors_tensor(st, i, &v));
        if (strncmp(v.name, "model.", 6) && strcmp(v.name, "lm_head.weight")) continue;
        TU_OK(clft_model_set_weight(m, v.name, v.data, (int64_t)(v.bytes / 4)));
        nweights++;
    }
    char name[160];
    if (vt->nf4) { /* clft's NF4 + double quantization == the torch re-implementation of bitsandbytes */
        for (int l = 0; l < vt->layers; l++)
            for (int t = 0; t < 7; t++) {
                snprintf(name, sizeof name, "dequant.model.layers.%d.%s.%s.weight", l, t < 4 ? "self_attn" : "mlp",
                         TGT[t]);
                int64_t n = 0;
                const float *ref = f32(st, name, &n);
                float *got = malloc((size_t)n * 4);
                TU_OK(clft_model_get_weight(m, name + 8, got, n));
                if (ref) tu_close(name, got, ref, (size_t)n, 1e-7, 1e-6, 1e-12);
                free(got);
            }
    }
    if (!vt->full)
        for (int l = 0; l < vt->layers; l++)
            for (int t = 0; t < 7; t++) {
                char an[160], bn[160];
                lora_name(an, sizeof an, l, t, "A");
                lora_name(bn, sizeof bn, l, t, "B");
                TU_OK(clft_model_lora_set(m, l, 1u << t, f32(st, an, NULL), f32(st, bn, NULL)));
            }
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) {
        clft_model_free(m);
        clft_safetensors_free(st);
        return;
    }
    clft_tensor_view vi, vl;
    TU_OK(clft_safetensors_find(st, "input_ids", &vi));
    TU_OK(clft_safetensors_find(st, "labels", &vl));
    const int64_t N = (int64_t)vt->B * vt->T;
    float *logits = malloc((size_t)(N * vt->vocab) * 4);
    double loss = 0;
    TU_OK(clft_trainer_compute_grads(tr, vi.data, vl.data, &loss, logits));
    int64_t n = 0;
    const float *ref_logits = f32(st, "logits", &n);
    const float *ref_loss = f32(st, "loss", NULL);
    if (ref_logits) tu_close("logits", logits, ref_logits, (size_t)n, 2e-4, 2e-3, 1e-8);
    if (ref_loss)
        TU_CHECK(fabs(loss - ref_loss[0]) <= 1e-5 * fabs(ref_loss[0]), "loss %.8f vs torch %.8f", loss,
                 (double)ref_loss[0]);
    /* gradients: each grad.* names an adapter (full: a weight of the fixture); names are unique, so
     * the count of those compared says whether every adapter (weight) was */
    int ngrads = 0;
    for (size_t i = 0; i < clft_safetensors_count(st); i++) {
        clft_tensor_view v, w;
        TU_OK(clft_safetensors_tensor(st, i, &v));
        if (strncmp(v.name, "grad.", 5)) continue;
        const char *pname = v.name + 5;
        int l = -1, t = -1, isA = 0;
        const int known =
            vt->full ? clft_safetensors_find(st, pname, &w) == CLFT_OK : lora_lookup(pname, vt->layers, &l, &t, &isA);
        TU_CHECK(known, "%s: %s names no %s of the model", vt->name, v.name, vt->full ? "weight" : "adapter");
        if (!known) continue;
        const float *ref = v.data;
        int64_t cnt = (int64_t)(v.bytes / 4);
        float *got = malloc((size_t)cnt * 4);
        if (vt->full)
            TU_OK(clft_model_get_weight_grad(m, pname, got, cnt));
        else
            TU_OK(clft_model_lora_grad_get(m, l, 1u << t, isA ? got : NULL, isA ? NULL : got));
        double tol = 1e-3 * maxabs(ref, cnt);
        tu_close(v.name, got, ref, (size_t)cnt, tol, 2e-3, 1e-6);
        free(got);
        ngrads++;
    }
    const int want = vt->full ? nweights : vt->layers * 7 * 2;
    TU_CHECK(want > 0 && ngrads >= want, "%s: %d gradients compared, want %d (%s)", vt->name, ngrads, want,
             vt->full ? "every weight" : "every adapter's A and B");
    free(logits);
    clft_trainer_free(tr);
    clft_model_free(m);
    clft_safetensors_free(st);
}

int main(int argc, char **argv) {
    tu_init_seed();
    const char *dir = argc > 1 ? argv[1] : GOLDEN_DIR;
    clft_context *ctx = tu_context();
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++) {
        run_variant(ctx, dir, &VARIANTS[i], 0);
        if (!tu_tiny()) run_variant(ctx, dir, &VARIANTS[i], 1);
    }
    clft_context_free(ctx);
    return tu_finish("test_golden");
}
