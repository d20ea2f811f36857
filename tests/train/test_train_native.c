/* test_train_native.c - LoRA training and generation on a GGUF base kept in its blocks (native
 * storage: CLFT_DTYPE_Q8_0 / Q4_0 / Q4_1, what `clft train --base-storage native` does) against the
 * same file dequantized to an f32 base (`--base-dtype f32`).
 *
 *   files: tests/gguf/data/tiny_llama.gguf (llama, hidden 64, 4 heads over 2 KV heads, intermediate
 *   96, 2 layers, tied embeddings) rewritten at test time with its seven projections quantized by
 *   clft_ggml_quantize to Q8_0, Q4_0, Q4_1, and one file that mixes the three (each projection keeps
 *   its own type); the other tensors are copied as they are.
 *   checks, per file: the base read back from the device equals the f32 base bit for bit (the same
 *   dequantized values, Q/K rows put back in Hugging Face order on both sides); STEPS LoRA steps
 *   (all seven targets, r 4) on one fixed batch: every step's loss equal within LOSS_RTOL relative,
 *   the adapters afterwards within ADAPTER_ATOL + ADAPTER_RTOL |ref|; then greedy decoding from the
 *   trained models (prefill of a prompt, then one token at a time: the GEMV paths): the same tokens,
 *   and the logits of every position within LOGIT_TOL of the largest logit.
 * The two bases hold the same numbers, so the only difference is fp32 rounding of the GEMM paths
 * (blocked vs dense summation orders).
 * usage: test_train_native GGUF_DATA_DIR SCRATCH_DIR (device: $CLFT_TEST_DEVICE) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "model/model.h"
#include "quant/ggml_blocks.h"
#include "tutil.h"

#define STEPS     3
#define BATCH     2
#define SEQ       24
#define PROMPT    6
#define GEN       12
#define LOSS_RTOL 1e-5
/* adapters: 5e-3 of the learning rate (5e-3). Adam's first steps move by about g / (|g| + eps): for
 * gradients near eps (B of a pair whose B starts at zero) rounding moves an element by a visible
 * part of a step; the NMSE bound (1e-9) stays tight */
#define ADAPTER_ATOL 2.5e-5
#define ADAPTER_RTOL 1e-4
#define LOGIT_TOL    1e-5

static const char *scratch;

static int is_projection(const char *name) {
    static const char *const kinds[] = {".attn_q.weight",   ".attn_k.weight", ".attn_v.weight",  ".attn_output.weight",
                                        ".ffn_gate.weight", ".ffn_up.weight", ".ffn_down.weight"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const size_t n = strlen(name), k = strlen(kinds[i]);
        if (n > k && !strcmp(name + n - k, kinds[i])) return (int)i + 1;
    }
    return 0;
}

/* src with its projections quantized to `type` (0: mixed - Q4_1, Q4_0, Q8_0 in turn) written to path */
static int write_quantized(const char *src, clft_ggml_type type, const char *path) {
    static const clft_ggml_type mixed[] = {CLFT_GGML_Q4_1, CLFT_GGML_Q4_0, CLFT_GGML_Q8_0};
    clft_gguf *g = NULL;
    clft_gguf_writer *w = NULL;
    TU_OK(clft_gguf_open(src, &g));
    TU_OK(clft_gguf_writer_create(&w));
    if (!g || !w) return 0;
    int ok = 1;
    for (size_t i = 0; i < clft_gguf_kv_count(g) && ok; i++) {
        const clft_gguf_kv *kv = clft_gguf_kv_at(g, i);
        if (strcmp(kv->key, "general.alignment")) ok = clft_gguf_add_kv(w, kv) == CLFT_OK;
    }
    const size_t nt = clft_gguf_tensor_count(g);
    void **bufs = calloc(nt, sizeof *bufs);
    ok = ok && bufs;
    for (size_t i = 0; i < nt && ok; i++) {
        const clft_gguf_tensor *t = clft_gguf_tensor_at(g, i);
        const int proj = is_projection(t->name);
        const void *data = t->data;
        clft_ggml_type tt = t->type;
        if (proj) {
            tt = type ? type : mixed[(size_t)(proj - 1 + 2 * (t->name[4] - '0')) % 3];
            float *x = malloc((size_t)t->numel * sizeof(float));
            bufs[i] = malloc(clft_ggml_row_bytes((int)tt, t->numel));
            ok = x && bufs[i] && clft_gguf_to_f32(g, t, x) == CLFT_OK &&
                 clft_ggml_quantize((int)tt, x, t->numel, bufs[i]) == CLFT_OK;
            free(x);
            data = bufs[i];
        }
        if (ok) TU_OK(clft_gguf_add_tensor(w, t->name, tt, t->ndim, t->ne, data));
    }
    TU_CHECK(ok, "%s: quantizing the projections to %s: %s", path, type ? clft_ggml_type_name((int)type) : "mixed",
             clft_last_error());
    if (ok) TU_OK(clft_gguf_writer_write(w, path, NULL, NULL));
    for (size_t i = 0; bufs && i < nt; i++)
        free(bufs[i]);
    free(bufs);
    clft_gguf_writer_free(w);
    clft_gguf_free(g);
    return ok;
}

typedef struct run {
    clft_model *m;
    clft_trainer *tr;
    double loss[STEPS];
    int32_t tokens[GEN];
    float *logits; /* (PROMPT + GEN - 1, vocab): after the prompt and after each fed token */
} run;

static int train_and_generate(clft_context *ctx, const char *path, clft_dtype base, const clft_model_config *cfg,
                              run *r) {
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.base_dtype = base;
    tp.embed_dtype = CLFT_DTYPE_F32; /* the bases differ, the embeddings and head do not */
    tp.batch = BATCH;
    tp.seq_len = SEQ;
    tp.lora.r = 4;
    tp.lora.alpha = 8.0f;
    tp.lora.targets = CLFT_LORA_ALL;
    tp.lr = 5e-3f;
    tp.seed = 3;
    clft_status st;
    TU_OK(st = clft_model_create(ctx, cfg, &tp, &r->m));
    if (st == CLFT_OK) TU_OK(st = clft_model_load_weights(r->m, path));
    if (st == CLFT_OK) TU_OK(st = clft_trainer_create(r->m, &r->tr));
    if (st != CLFT_OK) return 0;
    int32_t ids[BATCH * SEQ];
    uint64_t s = 17;
    for (int i = 0; i < BATCH * SEQ; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)cfg->vocab_size);
    }
    for (int i = 0; i < STEPS; i++) {
        clft_step_stats stats;
        TU_OK(st = clft_trainer_step(r->tr, ids, ids, &stats));
        if (st != CLFT_OK || stats.skipped) return 0;
        r->loss[i] = stats.loss;
    }
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = PROMPT + GEN;
    clft_generator *gen = NULL;
    TU_OK(st = clft_generator_create(r->m, &gp, &gen));
    if (st != CLFT_OK) return 0;
    const size_t V = (size_t)cfg->vocab_size;
    r->logits = malloc((PROMPT + GEN - 1) * V * sizeof(float));
    float *work = malloc(V * sizeof(float));
    clft_sampling_params sp = clft_sampling_default_params();
    sp.temperature = 0;
    uint64_t rng = 0;
    int ok = r->logits && work;
    /* the prompt in one prefill (logits after its last token), then PROMPT - 1 more positions'
     * logits come from decoding: feed the prompt again one token at a time after a reset */
    for (int pass = 0; pass < 2 && ok; pass++) {
        ok = clft_generator_reset(gen) == CLFT_OK;
        if (pass == 0) {
            ok = ok && clft_generator_feed(gen, ids, PROMPT, r->logits) == CLFT_OK;
            int32_t cur = 0;
            for (int i = 0; i < GEN && ok; i++) {
                memcpy(work, r->logits + (size_t)i * V, V * sizeof(float));
                ok = clft_sample(work, V, NULL, 0, &sp, &rng, &cur) == CLFT_OK;
                r->tokens[i] = cur;
                if (ok && i + 1 < GEN)
                    ok = clft_generator_feed(gen, &cur, 1, r->logits + (size_t)(i + 1) * V) == CLFT_OK;
            }
        } else {
            for (int i = 0; i < PROMPT - 1 && ok; i++)
                ok = clft_generator_feed(gen, ids + i, 1, r->logits + (size_t)(GEN + i) * V) == CLFT_OK;
        }
    }
    TU_CHECK(ok, "generation: %s", clft_last_error());
    free(work);
    clft_generator_free(gen);
    return ok;
}

static void run_free(run *r) {
    clft_trainer_free(r->tr);
    clft_model_free(r->m);
    free(r->logits);
}

static void compare(clft_context *ctx, const char *path, const char *label) {
    clft_model_config cfg;
    TU_OK(clft_model_config_load(path, &cfg));
    clft_dtype native;
    TU_OK(clft_gguf_native_dtype(path, &native));
    run nat = {0}, ref = {0};
    int ok =
        train_and_generate(ctx, path, native, &cfg, &nat) && train_and_generate(ctx, path, CLFT_DTYPE_F32, &cfg, &ref);
    if (!ok) {
        run_free(&nat);
        run_free(&ref);
        return;
    }
    static const char *const proj[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                       "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, Q = cfg.num_heads * cfg.head_dim,
                  KV = cfg.num_kv_heads * cfg.head_dim;
    const int64_t outs[] = {Q, KV, KV, H, I, I, H}, ins[] = {H, H, H, Q, H, H, I};
    const int r = 4;
    double worst_base = 0, worst_ad = 0, worst_loss = 0;
    for (int l = 0; l < cfg.num_layers; l++)
        for (int p = 0; p < 7; p++) {
            const size_t n = (size_t)(outs[p] * ins[p]);
            float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
            char name[128];
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, proj[p]);
            TU_CHECK(clft_model_weight_native(nat.m, name) && !clft_model_weight_native(ref.m, name),
                     "%s: %s kept in blocks by the native model only", label, name);
            TU_OK(clft_model_get_weight(nat.m, name, a, (int64_t)n));
            TU_OK(clft_model_get_weight(ref.m, name, b, (int64_t)n));
            for (size_t i = 0; i < n; i++)
                worst_base = fmax(worst_base, fabs((double)a[i] - b[i]));
            free(a);
            free(b);
            const size_t na = (size_t)(r * ins[p]), nb = (size_t)(outs[p] * r);
            float *A[2] = {malloc(na * 4), malloc(na * 4)}, *B[2] = {malloc(nb * 4), malloc(nb * 4)};
            TU_OK(clft_model_lora_get(nat.m, l, 1u << p, A[0], B[0]));
            TU_OK(clft_model_lora_get(ref.m, l, 1u << p, A[1], B[1]));
            snprintf(name, sizeof name, "%s: layer %d %s lora_A", label, l, proj[p]);
            tu_close(name, A[0], A[1], na, ADAPTER_ATOL, ADAPTER_RTOL, 1e-9);
            snprintf(name, sizeof name, "%s: layer %d %s lora_B", label, l, proj[p]);
            tu_close(name, B[0], B[1], nb, ADAPTER_ATOL, ADAPTER_RTOL, 1e-9);
            for (size_t i = 0; i < na; i++)
                worst_ad = fmax(worst_ad, fabs((double)A[0][i] - A[1][i]));
            for (size_t i = 0; i < nb; i++)
                worst_ad = fmax(worst_ad, fabs((double)B[0][i] - B[1][i]));
            free(A[0]), free(A[1]), free(B[0]), free(B[1]);
        }
    TU_CHECK(worst_base == 0, "%s: the native base differs from the f32 base by %.3g", label, worst_base);
    for (int i = 0; i < STEPS; i++) {
        const double rel = fabs(nat.loss[i] - ref.loss[i]) / fabs(ref.loss[i]);
        worst_loss = fmax(worst_loss, rel);
        TU_CHECK(rel <= LOSS_RTOL, "%s: step %d loss %.9g native, %.9g f32 (relative %.3g)", label, i + 1, nat.loss[i],
                 ref.loss[i], rel);
    }
    TU_CHECK(nat.loss[STEPS - 1] < nat.loss[0], "%s: the loss falls (%.6g -> %.6g)", label, nat.loss[0],
             nat.loss[STEPS - 1]);
    const size_t nl = (size_t)(PROMPT + GEN - 1) * (size_t)cfg.vocab_size;
    double big = 0, worst_logit = 0;
    for (size_t i = 0; i < nl; i++)
        big = fmax(big, fabs((double)ref.logits[i]));
    for (size_t i = 0; i < nl; i++)
        worst_logit = fmax(worst_logit, fabs((double)nat.logits[i] - ref.logits[i]));
    TU_CHECK(worst_logit <= LOGIT_TOL * big, "%s: logits differ by %.3g (largest %.3g)", label, worst_logit, big);
    TU_CHECK(!memcmp(nat.tokens, ref.tokens, sizeof nat.tokens), "%s: greedy tokens differ", label);
    printf("%-5s (base %s): loss %.6f -> %.6f, largest relative loss difference %.2g, adapters %.2g, logits %.2g "
           "of %.3g; greedy:",
           label, clft_dtype_name(native), nat.loss[0], nat.loss[STEPS - 1], worst_loss, worst_ad, worst_logit, big);
    for (int i = 0; i < GEN; i++)
        printf(" %d", nat.tokens[i]);
    printf("\n");
    run_free(&nat);
    run_free(&ref);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_train_native GGUF_DATA_DIR SCRATCH_DIR\n");
        return 2;
    }
    tu_init_seed();
    scratch = tu_scratch_dir(argv[2], "native");
    if (!scratch) return 1;
    clft_context *ctx = tu_context();
    char src[4096], path[4200];
    snprintf(src, sizeof src, "%s/tiny_llama.gguf", argv[1]);
    static const struct {
        clft_ggml_type type;
        const char *label;
    } files[] = {{CLFT_GGML_Q8_0, "q8_0"}, {CLFT_GGML_Q4_0, "q4_0"}, {CLFT_GGML_Q4_1, "q4_1"}, {0, "mixed"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/tiny_%s.gguf", scratch, files[i].label);
        if (write_quantized(src, files[i].type, path)) compare(ctx, path, files[i].label);
    }
    clft_context_free(ctx);
    tu_scratch_done(scratch);
    return tu_finish("test_train_native");
}
