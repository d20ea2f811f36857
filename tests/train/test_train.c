/* test_train.c - the trainer around the model: the memory plan equals what the arenas count
 * (every class but the GEMM layer's scratch, which the plan bounds), no device allocation inside
 * a step, plans of real model shapes without a device, bad inputs, NaN detection and the stop
 * after repeated non-finite steps, LoRA dropout determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref.h"
#include "tutil.h"

static clft_model_config tiny(void) {
    clft_model_config cfg;
    clft_status st = clft_model_preset_config("tiny", &cfg);
    TU_CHECK(st == CLFT_OK, "tiny preset: %s", clft_last_error());
    return cfg;
}

static void fill_ids(int32_t *ids, int n, int64_t V, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((seed >> 33) % (uint64_t)V);
    }
}

static void test_plan_matches(clft_context *ctx, clft_method method, clft_dtype base, int ckpt, float dropout) {
    clft_model_config cfg = tiny();
    clft_train_params tp = clft_train_default_params(method);
    if (method == CLFT_METHOD_LORA) tp.base_dtype = base;
    tp.batch = 2;
    tp.seq_len = 24;
    tp.checkpointing = ckpt;
    tp.lora.dropout = dropout;
    tp.lora.targets = CLFT_LORA_Q | CLFT_LORA_V | CLFT_LORA_DOWN;
    clft_memory_plan plan;
    TU_OK(clft_memory_plan_compute(&cfg, &tp, &plan));
    clft_mem_stats before, after, s1, s3;
    TU_OK(clft_context_reset_peak(ctx)); /* the context is shared: an earlier run's peak is not this one's */
    TU_OK(clft_context_mem_stats(ctx, &before));
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_init_random(m, 5, 0.1f));
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) {
        clft_model_free(m);
        return;
    }
    TU_OK(clft_context_mem_stats(ctx, &after));
    fprintf(stderr, "plan %s/%s ckpt %d dropout %.2f: total %.2f MiB\n", clft_method_name(method),
            clft_dtype_name(base), ckpt, (double)dropout, (double)plan.total / 1048576.0);
    for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++) {
        uint64_t got = after.current_bytes[c] - before.current_bytes[c];
        if (c == CLFT_MEM_SCRATCH) continue;
        TU_CHECK(got == plan.bytes[c], "%s: allocated %llu bytes, plan %llu", clft_mem_class_name((clft_mem_class)c),
                 (unsigned long long)got, (unsigned long long)plan.bytes[c]);
    }
    int32_t ids[48];
    fill_ids(ids, 48, cfg.vocab_size, 3);
    clft_step_stats st;
    TU_OK(clft_trainer_step(tr, ids, ids, &st));
    TU_CHECK(isfinite(st.loss) && st.tokens == 2 * 23 && !st.skipped, "step 1: loss %g tokens %lld", st.loss,
             (long long)st.tokens);
    TU_OK(clft_context_mem_stats(ctx, &s1));
    for (int i = 0; i < 3; i++)
        TU_OK(clft_trainer_step(tr, ids, ids, &st));
    TU_OK(clft_context_mem_stats(ctx, &s3));
    TU_CHECK(s3.allocations == s1.allocations, "device allocations inside steps: %llu after step 1, %llu after step 4",
             (unsigned long long)s1.allocations, (unsigned long long)s3.allocations);
    uint64_t scratch = s3.peak_bytes[CLFT_MEM_SCRATCH] - before.current_bytes[CLFT_MEM_SCRATCH];
    TU_CHECK(scratch <= plan.bytes[CLFT_MEM_SCRATCH], "scratch peak %llu above the plan %llu",
             (unsigned long long)scratch, (unsigned long long)plan.bytes[CLFT_MEM_SCRATCH]);
    TU_CHECK(st.step == 4, "4 optimizer steps, got %lld", (long long)st.step);
    clft_trainer_free(tr);
    clft_model_free(m);
    clft_mem_stats end;
    TU_OK(clft_context_mem_stats(ctx, &end));
    TU_CHECK(end.current_total <= before.current_total + (uint64_t)s3.current_bytes[CLFT_MEM_SCRATCH],
             "model and trainer free their buffers");
}

/* An inference model (clft_train_params.inference): the plan equals the allocation, nothing is
 * trainable, a trainer evaluates (the same loss as a trainable model with the same weights) and
 * refuses to step; LoRA/QLoRA without targets is the base alone. */
static void test_inference(clft_context *ctx, const char *folder, clft_method method, uint32_t targets) {
    clft_model_config cfg = tiny();
    clft_train_params tp = clft_train_default_params(method), ti;
    tp.batch = 2;
    tp.seq_len = 24;
    tp.lora.targets = targets ? targets : CLFT_LORA_ALL;
    ti = tp;
    ti.inference = 1;
    ti.lora.targets = targets;
    clft_memory_plan plan;
    TU_OK(clft_memory_plan_compute(&cfg, &ti, &plan));
    TU_CHECK(plan.trainable_params == 0 && plan.bytes[CLFT_MEM_GRADIENTS] == 0 && plan.bytes[CLFT_MEM_OPTIMIZER] == 0 &&
                 plan.bytes[CLFT_MEM_TRAINABLE] == 0,
             "%s inference plan: %lld trainable, grads %llu, optimizer %llu", clft_method_name(method),
             (long long)plan.trainable_params, (unsigned long long)plan.bytes[CLFT_MEM_GRADIENTS],
             (unsigned long long)plan.bytes[CLFT_MEM_OPTIMIZER]);
    clft_mem_stats before, after;
    TU_OK(clft_context_mem_stats(ctx, &before));
    clft_model *mi = NULL, *mt = NULL;
    clft_trainer *ri = NULL, *rt = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &ti, &mi));
    TU_OK(clft_trainer_create(mi, &ri));
    TU_OK(clft_context_mem_stats(ctx, &after));
    for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++) {
        if (c == CLFT_MEM_SCRATCH) continue;
        uint64_t got = after.current_bytes[c] - before.current_bytes[c];
        TU_CHECK(got == plan.bytes[c], "%s inference: %s allocated %llu, plan %llu", clft_method_name(method),
                 clft_mem_class_name((clft_mem_class)c), (unsigned long long)got, (unsigned long long)plan.bytes[c]);
    }
    TU_OK(clft_model_create(ctx, &cfg, &tp, &mt));
    TU_OK(clft_trainer_create(mt, &rt));
    TU_OK(clft_model_load_weights(mt, folder)); /* the same base in both (a random init draws adapters too) */
    TU_OK(clft_model_load_weights(mi, folder));
    if (targets) { /* non-zero B, the same in both */
        float *A = malloc(64 * 64 * 4), *B = malloc(64 * 64 * 4);
        for (int t = 0; t < 7 && A && B; t++) {
            if (!(targets & (1u << t))) continue;
            TU_OK(clft_model_lora_get(mt, 1, 1u << t, A, B));
            for (int i = 0; i < 64 * 8; i++)
                B[i] = 0.01f * (float)((i * 7919) % 13 - 6);
            TU_OK(clft_model_lora_set(mt, 1, 1u << t, A, B));
            TU_OK(clft_model_lora_set(mi, 1, 1u << t, A, B));
        }
        free(A);
        free(B);
    }
    int32_t ids[48];
    fill_ids(ids, 48, cfg.vocab_size, 11);
    clft_batch b;
    memset(&b, 0, sizeof b);
    b.ids = ids;
    b.labels = ids;
    b.batch = 2;
    b.seq_len = 24;
    double si = 0, st = 0;
    int64_t ni = 0, nt = 0, ci = -1, ct = -1;
    TU_OK(clft_trainer_eval_batch_acc(ri, &b, &si, &ni, &ci));
    TU_OK(clft_trainer_eval_batch_acc(rt, &b, &st, &nt, &ct));
    TU_CHECK(ni == 46 && nt == 46 && si == st && ci == ct && ci >= 0 && ci <= ni,
             "%s inference eval equals the trainable model's: loss sum %.9g / %.9g, tokens %lld / %lld, correct "
             "%lld / %lld",
             clft_method_name(method), si, st, (long long)ni, (long long)nt, (long long)ci, (long long)ct);
    clft_step_stats s;
    TU_CHECK(clft_trainer_step(ri, ids, ids, &s) == CLFT_STATUS_INVALID_ARGUMENT &&
                 strstr(clft_last_error(), "inference"),
             "a step on an inference model is refused: %s", clft_last_error());
    clft_trainer_free(rt);
    clft_model_free(mt);
    clft_trainer_free(ri);
    clft_model_free(mi);
}

/* Next-token accuracy against the logits: argmax of every counted row equals the target. */
static void test_accuracy(clft_context *ctx) {
    clft_model_config cfg = tiny();
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.batch = 2;
    tp.seq_len = 24;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_init_random(m, 4, 0.3f));
    TU_OK(clft_trainer_create(m, &tr));
    const int64_t V = cfg.vocab_size, N = 48;
    int32_t ids[48], labels[48];
    float *logits = malloc((size_t)(N * V) * 4);
    fill_ids(ids, 48, V, 21);
    double loss = 0;
    TU_OK(clft_trainer_compute_grads(tr, ids, ids, &loss, logits));
    /* labels: the argmax for half of the targets (so they count as correct), -100 for a few */
    for (int64_t n = 0; n < N; n++) {
        labels[n] = ids[n];
        if (n % 24 == 0) continue;
        const float *row = logits + (n - 1) * V;
        int32_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (row[v] > row[best]) best = (int32_t)v;
        if (n % 2 == 0) labels[n] = best;
        if (n % 7 == 3) labels[n] = -100;
    }
    int64_t expect = 0, counted = 0;
    for (int64_t n = 0; n < N; n++) {
        if (n % 24 == 0 || labels[n] == -100) continue;
        const float *row = logits + (n - 1) * V;
        int32_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (row[v] > row[best]) best = (int32_t)v;
        counted++;
        expect += best == labels[n];
    }
    clft_batch b;
    memset(&b, 0, sizeof b);
    b.ids = ids;
    b.labels = labels;
    b.batch = 2;
    b.seq_len = 24;
    double sum = 0;
    int64_t tok = 0, correct = 0;
    TU_OK(clft_trainer_eval_batch_acc(tr, &b, &sum, &tok, &correct));
    TU_CHECK(tok == counted && correct == expect && expect >= counted / 2 - 4,
             "accuracy: %lld of %lld correct, expected %lld of %lld", (long long)correct, (long long)tok,
             (long long)expect, (long long)counted);
    free(logits);
    clft_trainer_free(tr);
    clft_model_free(m);
}

/* Frozen embeddings and head in bf16 / f16 storage (QLoRA's default) compute exactly what f32
 * tables holding the same rounded values compute: the model with 16-bit storage against one with
 * f32 tables set to the rounded values - the tables read back, the logits, loss and LoRA gradients
 * of a step and the generator's logits. Tied and untied heads, LoRA and QLoRA. */
static void test_embed_storage(clft_context *ctx, clft_method method, clft_dtype edt, int tied) {
    clft_model_config cfg = tiny();
    cfg.tie_word_embeddings = tied;
    const int64_t V = cfg.vocab_size, C = cfg.hidden_size, N = 40;
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = 2;
    tp.seq_len = 20;
    tp.lora.targets = CLFT_LORA_Q | CLFT_LORA_V | CLFT_LORA_UP;
    clft_model *m[2] = {NULL, NULL};
    clft_trainer *tr[2] = {NULL, NULL};
    float *tab = malloc((size_t)(V * C) * 4), *got = malloc((size_t)(V * C) * 4);
    float *lg[2] = {malloc((size_t)(N * V) * 4), malloc((size_t)(N * V) * 4)};
    const char *names[2] = {"model.embed_tokens.weight", "lm_head.weight"};
    double loss[2] = {0, 0};
    int32_t ids[40];
    fill_ids(ids, 40, V, 77);
    for (int i = 0; i < 2; i++) {
        tp.embed_dtype = i == 0 ? CLFT_DTYPE_F32 : (int)edt;
        TU_OK(clft_model_create(ctx, &cfg, &tp, &m[i]));
        if (!m[i]) goto done;
        TU_OK(clft_model_init_random(m[i], 6, 0.2f));
        for (int t = 0; t < (tied ? 1 : 2); t++) { /* both hold the rounded tables */
            TU_OK(clft_model_get_weight(m[0], names[t], tab, V * C)); /* f32 values (rounded once set) */
            for (int64_t j = 0; j < V * C; j++)
                tab[j] = edt == CLFT_DTYPE_BF16 ? clft_ref_bf16_to_f32(clft_ref_f32_to_bf16(tab[j]))
                                                : clft_ref_f16_to_f32(clft_ref_f32_to_f16(tab[j]));
            TU_OK(clft_model_set_weight(m[i], names[t], tab, V * C));
            TU_OK(clft_model_get_weight(m[i], names[t], got, V * C));
            TU_CHECK(!memcmp(got, tab, (size_t)(V * C) * 4), "%s %s storage: %s reads back as set",
                     clft_method_name(method), clft_dtype_name(i ? edt : CLFT_DTYPE_F32), names[t]);
        }
        TU_OK(clft_trainer_create(m[i], &tr[i]));
        if (!tr[i]) goto done;
        TU_OK(clft_trainer_compute_grads(tr[i], ids, ids, &loss[i], lg[i]));
    }
    char what[96];
    snprintf(what, sizeof what, "%s %s embeddings (%s): logits", clft_method_name(method), clft_dtype_name(edt),
             tied ? "tied" : "untied");
    tu_close(what, lg[1], lg[0], (size_t)(N * V), 1e-5, 1e-5, 1e-11);
    TU_CHECK(fabs(loss[1] - loss[0]) <= 1e-6 * fabs(loss[0]), "%s: loss %.9g vs f32 tables %.9g", what, loss[1],
             loss[0]);
    const uint32_t tg[3] = {CLFT_LORA_Q, CLFT_LORA_V, CLFT_LORA_UP};
    for (int t = 0; t < 3; t++) {
        float *ga[2], *gb[2];
        const int64_t out = t == 0 ? cfg.num_heads * cfg.head_dim
                            : t == 1 ? cfg.num_kv_heads * cfg.head_dim
                                     : cfg.intermediate_size;
        const int64_t na = tp.lora.r * C, nb = out * tp.lora.r;
        for (int i = 0; i < 2; i++) {
            ga[i] = malloc((size_t)na * 4);
            gb[i] = malloc((size_t)nb * 4);
            TU_OK(clft_model_lora_grad_get(m[i], 0, tg[t], ga[i], gb[i]));
        }
        snprintf(what, sizeof what, "%s %s embeddings: layer 0 LoRA dB (target %u)", clft_method_name(method),
                 clft_dtype_name(edt), tg[t]);
        tu_close(what, gb[1], gb[0], (size_t)nb, 1e-6, 1e-4, 1e-9);
        for (int i = 0; i < 2; i++) {
            free(ga[i]);
            free(gb[i]);
        }
    }
    /* generation: embedding lookup and the head's GEMV from the 16-bit tables */
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = 32;
    float *gl[2] = {malloc((size_t)V * 4), malloc((size_t)V * 4)};
    for (int i = 0; i < 2; i++) {
        clft_generator *g = NULL;
        TU_OK(clft_generator_create(m[i], &gp, &g));
        if (g) TU_OK(clft_generator_feed(g, ids, 9, gl[i]));
        clft_generator_free(g);
    }
    snprintf(what, sizeof what, "%s %s embeddings: generator logits", clft_method_name(method), clft_dtype_name(edt));
    tu_close(what, gl[1], gl[0], (size_t)V, 1e-5, 1e-5, 1e-11);
    free(gl[0]);
    free(gl[1]);
done:
    for (int i = 0; i < 2; i++) {
        clft_trainer_free(tr[i]);
        clft_model_free(m[i]);
        free(lg[i]);
    }
    free(tab);
    free(got);
}

static void test_plan_real_shapes(void) {
    clft_model_config cfg;
    TU_OK(clft_model_preset_config("llama-2-7b", &cfg));
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_QLORA);
    tp.batch = 1;
    tp.seq_len = 1024;
    tp.lora.r = 8;
    clft_memory_plan p;
    TU_OK(clft_memory_plan_compute(&cfg, &tp, &p));
    /* 32 layers x r x ((in+out) summed over q,k,v,o,gate,up,down) */
    int64_t want = 32 * 8 * (4 * (4096 + 4096) + 2 * (4096 + 11008) + (11008 + 4096));
    TU_CHECK(p.trainable_params == want, "7B QLoRA r=8 trainable %lld, want %lld", (long long)p.trainable_params,
             (long long)want);
    TU_CHECK(p.base_params > 6700000000LL && p.base_params < 6800000000LL, "7B params %lld", (long long)p.base_params);
    /* NF4 + DQ projections (~6.48e9 weights x (0.5 + 1/64 + 4/16384) bytes = 3.34 GB) + bf16 embeddings
     * and head (2 x 32000 x 4096 x 2 = 0.52 GB) */
    double w = (double)p.bytes[CLFT_MEM_WEIGHTS] / 1e9;
    TU_CHECK(w > 3.8 && w < 3.95, "7B QLoRA frozen weights %.3f GB", w);
    clft_train_params t32 = tp;
    t32.embed_dtype = CLFT_DTYPE_F32;
    clft_memory_plan p32;
    TU_OK(clft_memory_plan_compute(&cfg, &t32, &p32));
    TU_CHECK(p32.bytes[CLFT_MEM_WEIGHTS] - p.bytes[CLFT_MEM_WEIGHTS] == 2ull * 32000 * 4096 * 2,
             "f32 embeddings and head: 2 bytes more per element than bf16");
    TU_CHECK(p.bytes[CLFT_MEM_OPTIMIZER] == 2 * p.bytes[CLFT_MEM_TRAINABLE], "AdamW state is two moments");
    clft_train_params full = clft_train_default_params(CLFT_METHOD_FULL);
    full.batch = 1;
    full.seq_len = 1024;
    clft_memory_plan pf;
    TU_OK(clft_memory_plan_compute(&cfg, &full, &pf));
    TU_CHECK(pf.trainable_params == pf.base_params, "full fine-tuning trains everything");
    TU_CHECK(pf.total > 4 * (uint64_t)pf.base_params * 4, "full: weights + grads + 2 moments (> 16 bytes/param)");
    const char *big[] = {"mistral-7b", "llama-3-8b", "qwen2.5-7b", "llama-2-13b", "llama-3-70b"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        TU_OK(clft_model_preset_config(big[i], &cfg));
        TU_OK(clft_memory_plan_compute(&cfg, &tp, &p));
        TU_CHECK(p.total > 0 && p.trainable_params > 0, "%s plan", big[i]);
    }
    /* the 8 GB-card goals: QLoRA r16 on all seven projections, seq 512, batch 1, checkpointing */
    const char *goal_model[4] = {"mistral-7b", "llama-3-8b", "llama-2-13b", "llama-3-70b"};
    const double goal_gib[4] = {6.0, 7.0, 10.0, 46.0};
    clft_train_params q = clft_train_default_params(CLFT_METHOD_QLORA);
    q.lora.r = 16;
    q.lora.targets = CLFT_LORA_ALL;
    q.batch = 1;
    q.seq_len = 512;
    q.checkpointing = 1;
    for (int i = 0; i < 4; i++) {
        TU_OK(clft_model_preset_config(goal_model[i], &cfg));
        TU_OK(clft_memory_plan_compute(&cfg, &q, &p));
        const double gib = (double)p.total / (double)(1 << 30);
        fprintf(stderr, "plan %s QLoRA r16 all seq 512: %.2f GiB\n", goal_model[i], gib);
        TU_CHECK(gib < goal_gib[i], "%s QLoRA plan %.2f GiB, goal below %.1f", goal_model[i], gib, goal_gib[i]);
    }
}

static void test_bad_inputs(clft_context *ctx) {
    clft_model_config cfg = tiny();
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_LORA);
    clft_model *m = NULL;
    clft_memory_plan p;
    tp.lora.r = 0;
    TU_CHECK(clft_model_create(ctx, &cfg, &tp, &m) == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "rank"),
             "rank 0: %s", clft_last_error());
    tp.lora.r = 65;
    TU_CHECK(clft_memory_plan_compute(&cfg, &tp, &p) == CLFT_STATUS_INVALID_ARGUMENT, "rank above the layer");
    tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.base_dtype = CLFT_DTYPE_NF4;
    TU_CHECK(clft_model_create(ctx, &cfg, &tp, &m) == CLFT_STATUS_UNSUPPORTED, "NF4 base for LoRA: %s",
             clft_last_error());
    tp = clft_train_default_params(CLFT_METHOD_QLORA);
    tp.qlora_blocksize = 48;
    TU_CHECK(clft_model_create(ctx, &cfg, &tp, &m) == CLFT_STATUS_INVALID_ARGUMENT, "bad NF4 block size");
    tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.lora.dropout = 1.0f;
    TU_CHECK(clft_model_create(ctx, &cfg, &tp, &m) == CLFT_STATUS_INVALID_ARGUMENT, "dropout 1");
    tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.lora.targets = 0;
    TU_CHECK(clft_model_create(ctx, &cfg, &tp, &m) == CLFT_STATUS_INVALID_ARGUMENT, "no targets");
    clft_model_config bad = cfg;
    bad.num_kv_heads = 3;
    tp = clft_train_default_params(CLFT_METHOD_LORA);
    TU_CHECK(clft_model_create(ctx, &bad, &tp, &m) != CLFT_OK, "heads not divisible by kv heads");
    TU_CHECK(m == NULL, "nothing returned on failure");
    /* a 7B model with full fine-tuning does not fit this device: refused before any allocation */
    clft_model_config big;
    TU_OK(clft_model_preset_config("llama-2-7b", &big));
    clft_mem_stats m0, m1;
    TU_OK(clft_context_mem_stats(ctx, &m0));
    tp = clft_train_default_params(CLFT_METHOD_FULL);
    TU_CHECK(clft_model_create(ctx, &big, &tp, &m) == CLFT_STATUS_DEVICE_OOM && strstr(clft_last_error(), "GiB"),
             "7B full refused up front: %s", clft_last_error());
    TU_OK(clft_context_mem_stats(ctx, &m1));
    TU_CHECK(m1.allocations == m0.allocations, "no allocation before the refusal");
    /* shapes that do not fit */
    tp.batch = 1;
    tp.seq_len = 8;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    if (!m) return;
    float w[10] = {0};
    TU_CHECK(clft_model_set_weight(m, "model.norm.weight", w, 10) == CLFT_STATUS_SHAPE_MISMATCH, "wrong numel");
    TU_CHECK(clft_model_set_weight(m, "model.layers.9.mlp.up_proj.weight", w, 10) == CLFT_STATUS_NOT_FOUND &&
                 strstr(clft_last_error(), "layers.9"),
             "unknown tensor: %s", clft_last_error());
    TU_CHECK(clft_model_lora_get(m, 0, 0x3, w, NULL) == CLFT_STATUS_INVALID_ARGUMENT, "two targets at once");
    clft_trainer *tr = NULL;
    TU_OK(clft_trainer_create(m, &tr));
    int32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 8}, labels[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    clft_step_stats s;
    ids[3] = 512;
    TU_CHECK(clft_trainer_step(tr, ids, labels, &s) == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "512"),
             "id outside the vocabulary: %s", clft_last_error());
    ids[3] = 4;
    labels[5] = -7;
    TU_CHECK(clft_trainer_step(tr, ids, labels, &s) == CLFT_STATUS_INVALID_ARGUMENT, "negative label");
    labels[5] = -100;
    TU_OK(clft_trainer_step(tr, ids, labels, &s));
    TU_CHECK(s.tokens == 6, "ignored labels are not counted (%lld)", (long long)s.tokens);
    for (int i = 0; i < 8; i++)
        labels[i] = -100;
    const int64_t before = s.step;
    TU_OK(clft_trainer_step(tr, ids, labels, &s));
    TU_CHECK(s.tokens == 0 && s.loss == 0.0 && s.skipped && s.step == before,
             "no counted token: loss 0, no NaN, the update skipped");
    clft_trainer_free(tr);
    clft_model_free(m);
}

static void test_nan(clft_context *ctx) {
    clft_model_config cfg = tiny();
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_QLORA);
    tp.batch = 1;
    tp.seq_len = 8;
    tp.max_bad_steps = 2;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_init_random(m, 9, 0.1f));
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) return;
    int32_t ids[8] = {5, 9, 200, 3, 7, 1, 400, 11};
    clft_step_stats s;
    TU_OK(clft_trainer_step(tr, ids, ids, &s));
    TU_CHECK(!s.skipped && s.step == 1, "healthy step");
    float *norm = malloc((size_t)cfg.hidden_size * 4);
    TU_OK(clft_model_get_weight(m, "model.layers.1.post_attention_layernorm.weight", norm, cfg.hidden_size));
    norm[3] = NAN;
    TU_OK(clft_model_set_weight(m, "model.layers.1.post_attention_layernorm.weight", norm, cfg.hidden_size));
    float A0[8 * 64], A1[8 * 64];
    TU_OK(clft_model_lora_get(m, 0, CLFT_LORA_Q, A0, NULL));
    TU_OK(clft_trainer_step(tr, ids, ids, &s));
    TU_CHECK(s.skipped && s.step == 1, "NaN step skipped (skipped %d, step %lld)", s.skipped, (long long)s.step);
    TU_OK(clft_model_lora_get(m, 0, CLFT_LORA_Q, A1, NULL));
    TU_CHECK(!memcmp(A0, A1, sizeof A0), "a skipped step leaves the adapters untouched");
    clft_status st = clft_trainer_step(tr, ids, ids, &s);
    TU_CHECK(st == CLFT_STATUS_NUMERICAL && strstr(clft_last_error(), "consecutive"), "stops after 2 bad steps: %s",
             clft_last_error());
    free(norm);
    clft_trainer_free(tr);
    clft_model_free(m);
}

static void test_dropout(clft_context *ctx) {
    clft_model_config cfg = tiny();
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.batch = 2;
    tp.seq_len = 16;
    tp.lora.dropout = 0.25f;
    tp.lr = 3e-3f;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_init_random(m, 11, 0.2f));
    /* non-zero B so that the adapter branch (and its dropout) shapes the loss */
    float *B = calloc(128 * 8, 4);
    for (int i = 0; i < 128 * 8; i++)
        B[i] = 0.01f * (float)((i * 37) % 11 - 5);
    TU_OK(clft_model_lora_set(m, 0, CLFT_LORA_UP, NULL, B));
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) return;
    int32_t ids[32];
    fill_ids(ids, 32, cfg.vocab_size, 17);
    double l1 = 0, l2 = 0;
    float g1[8 * 64], g2[8 * 64];
    TU_OK(clft_trainer_compute_grads(tr, ids, ids, &l1, NULL));
    TU_OK(clft_model_lora_grad_get(m, 0, CLFT_LORA_UP, g1, NULL));
    TU_OK(clft_trainer_compute_grads(tr, ids, ids, &l2, NULL));
    TU_OK(clft_model_lora_grad_get(m, 0, CLFT_LORA_UP, g2, NULL));
    TU_CHECK(l1 == l2 && !memcmp(g1, g2, sizeof g1), "the dropout mask is the same within a step");
    clft_step_stats s, s0;
    TU_OK(clft_trainer_step(tr, ids, ids, &s0));
    for (int i = 0; i < 40; i++)
        TU_OK(clft_trainer_step(tr, ids, ids, &s));
    TU_CHECK(isfinite(s.loss) && s.loss < 0.8 * s0.loss, "training with dropout lowers the loss: %g -> %g", s0.loss,
             s.loss);
    free(B);
    clft_trainer_free(tr);
    clft_model_free(m);
}

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    test_plan_matches(ctx, CLFT_METHOD_FULL, CLFT_DTYPE_F32, 0, 0.0f);
    test_plan_matches(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 1, 0.0f);
    test_plan_matches(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_BF16, 0, 0.1f);
    test_plan_matches(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_F16, 1, 0.0f);
    test_plan_matches(ctx, CLFT_METHOD_QLORA, CLFT_DTYPE_NF4, 1, 0.0f);
    const char *scratch = tu_scratch_dir("scratch", "train");
    char folder[4200] = "";
    if (scratch) {
        snprintf(folder, sizeof folder, "%s/tiny", scratch);
        clft_model_init_params ip = clft_model_init_default_params();
        ip.preset = "tiny";
        ip.seed = 9;
        TU_OK(clft_model_init_write(folder, &ip));
        test_inference(ctx, folder, CLFT_METHOD_FULL, 0);
        test_inference(ctx, folder, CLFT_METHOD_LORA, CLFT_LORA_Q | CLFT_LORA_DOWN);
        test_inference(ctx, folder, CLFT_METHOD_LORA, 0);
        test_inference(ctx, folder, CLFT_METHOD_QLORA, CLFT_LORA_ALL);
        test_inference(ctx, folder, CLFT_METHOD_QLORA, 0);
    }
    test_accuracy(ctx);
    test_embed_storage(ctx, CLFT_METHOD_QLORA, CLFT_DTYPE_BF16, 1);
    test_embed_storage(ctx, CLFT_METHOD_QLORA, CLFT_DTYPE_BF16, 0);
    test_embed_storage(ctx, CLFT_METHOD_LORA, CLFT_DTYPE_F16, 0);
    test_plan_real_shapes();
    test_bad_inputs(ctx);
    test_nan(ctx);
    test_dropout(ctx);
    clft_context_free(ctx);
    tu_scratch_done(scratch);
    return tu_finish("test_train");
}
