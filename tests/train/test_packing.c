/* test_packing.c - packing isolation: an example's logits and gradients are the same packed with
 * others into a row (clft_batch with position ids restarting at each example and a segment id per
 * token, padding at the end of the rows) as alone at the start of an otherwise padded batch
 * (plain ids and labels), to fp32 tolerance; for LoRA and full fine-tuning, with activation
 * checkpointing on and off, with and without a sliding window. Also: the label shift respects the
 * segments (the packed loss and gradients are the token-weighted sums of the examples' own), the
 * batch checks (shape, positions, NULL), and no device allocation in steps that mix packed and
 * plain batches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

enum { B = 2, T = 16, NEX = 4, V = 41, PAD = 0 };

/* examples: row, start in the row, length (row 0: 5 + 7 + 4 padding; row 1: 6 + 8 + 2 padding) */
static const int EX[NEX][3] = {{0, 0, 5}, {0, 5, 7}, {1, 0, 6}, {1, 6, 8}};
static const int32_t EX_SEG[NEX] = {10, 11, 3, 7}; /* any ids, not in order */

typedef struct packing {
    int32_t ids[B * T], labels[B * T], pos[B * T], seg[B * T];
} packing;

static clft_model_config small_config(int64_t window) {
    clft_model_config cfg;
    clft_model_config_defaults(window ? CLFT_ARCH_MISTRAL : CLFT_ARCH_LLAMA, &cfg);
    cfg.vocab_size = V;
    cfg.hidden_size = 32;
    cfg.num_layers = 2;
    cfg.num_heads = 4;
    cfg.num_kv_heads = 2;
    cfg.head_dim = 8;
    cfg.intermediate_size = 40;
    cfg.sliding_window = window;
    cfg.max_window_layers = 0;
    cfg.rope_theta = 10000.0;
    cfg.pad_token_id = PAD;
    return cfg;
}

/* The packed rows: every example's ids, labels (the first two tokens of examples 0 and 2 masked
 * as a prompt), positions from 0 and its segment id; padding ids PAD, labels -100, segment -1. */
static void make_packed(packing *p) {
    tu_rng r = tu_rng_make(4242);
    for (int n = 0; n < B * T; n++) {
        p->ids[n] = PAD;
        p->labels[n] = -100;
        p->pos[n] = 0;
        p->seg[n] = -1;
    }
    for (int e = 0; e < NEX; e++)
        for (int i = 0; i < EX[e][2]; i++) {
            int n = EX[e][0] * T + EX[e][1] + i;
            p->ids[n] = 1 + (int32_t)(tu_next(&r) % (V - 1));
            p->labels[n] = (e % 2 == 0 && i < 2) ? -100 : p->ids[n];
            p->pos[n] = i;
            p->seg[n] = EX_SEG[e];
        }
}

/* Keep only example `keep`'s labels (-1: all). */
static void only_labels(const packing *p, int keep, int32_t *labels) {
    for (int n = 0; n < B * T; n++)
        labels[n] = -100;
    for (int e = 0; e < NEX; e++)
        for (int i = 0; i < EX[e][2] && (keep < 0 || keep == e); i++) {
            int n = EX[e][0] * T + EX[e][1] + i;
            labels[n] = p->labels[n];
        }
}

/* Example e alone at the start of row 0, every other token padding (plain batch: no segments). */
static void make_alone(const packing *p, int e, int32_t *ids, int32_t *labels) {
    for (int n = 0; n < B * T; n++) {
        ids[n] = PAD;
        labels[n] = -100;
    }
    for (int i = 0; i < EX[e][2]; i++) {
        ids[i] = p->ids[EX[e][0] * T + EX[e][1] + i];
        labels[i] = p->labels[EX[e][0] * T + EX[e][1] + i];
    }
}

/* Targets of example e: its labels after the first token. */
static int64_t example_tokens(const packing *p, int e) {
    int64_t c = 0;
    for (int i = 1; i < EX[e][2]; i++)
        c += p->labels[EX[e][0] * T + EX[e][1] + i] != -100;
    return c;
}

static const char *TGT[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

/* Every trainable gradient, concatenated (LoRA: A and B of every adapter; full: every weight). */
static int64_t read_grads(clft_model *m, const clft_model_config *cfg, int full, float *out) {
    const int64_t C = cfg->hidden_size, QD = cfg->num_heads * cfg->head_dim, KD = cfg->num_kv_heads * cfg->head_dim,
                  F = cfg->intermediate_size, r = 4;
    const int64_t io[7][2] = {{C, QD}, {C, KD}, {C, KD}, {QD, C}, {C, F}, {C, F}, {F, C}};
    int64_t n = 0;
    char name[160];
    if (full) {
        TU_OK(clft_model_get_weight_grad(m, "model.embed_tokens.weight", out + n, V * C));
        n += V * C;
        TU_OK(clft_model_get_weight_grad(m, "lm_head.weight", out + n, V * C));
        n += V * C;
        TU_OK(clft_model_get_weight_grad(m, "model.norm.weight", out + n, C));
        n += C;
    }
    for (int l = 0; l < cfg->num_layers; l++) {
        if (full) {
            snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
            TU_OK(clft_model_get_weight_grad(m, name, out + n, C));
            n += C;
            snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
            TU_OK(clft_model_get_weight_grad(m, name, out + n, C));
            n += C;
        }
        for (int t = 0; t < 7; t++) {
            if (full) {
                snprintf(name, sizeof name, "model.layers.%d.%s.%s.weight", l, t < 4 ? "self_attn" : "mlp", TGT[t]);
                TU_OK(clft_model_get_weight_grad(m, name, out + n, io[t][0] * io[t][1]));
                n += io[t][0] * io[t][1];
            } else {
                TU_OK(clft_model_lora_grad_get(m, l, 1u << t, out + n, out + n + r * io[t][0]));
                n += r * (io[t][0] + io[t][1]);
            }
        }
    }
    return n;
}

static void close_scaled(const char *what, const float *got, const float *want, int64_t n) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(want[i]));
    tu_close(what, got, want, (size_t)n, 1e-4 * mx + 1e-9, 1e-3, 1e-7);
}

/* A model (random weights; LoRA B filled so that the A gradients are not zero) and its trainer on
 * the B x T shape; NULL (model freed) when either fails. */
static clft_trainer *make_trainer(clft_context *ctx, clft_method method, int ckpt, int64_t window, clft_model **mo) {
    clft_model_config cfg = small_config(window);
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = B;
    tp.seq_len = T;
    tp.checkpointing = ckpt;
    tp.lora.r = 4;
    tp.lora.alpha = 8.0f;
    tp.xent_chunk = 7;
    clft_model *m = NULL;
    clft_trainer *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_init_random(m, 11, 0.2f));
    if (m && method != CLFT_METHOD_FULL)
        for (int l = 0; l < cfg.num_layers; l++)
            for (int t = 0; t < 7; t++) {
                int64_t out = t == 1 || t == 2 ? 16 : t == 4 || t == 5 ? 40 : 32;
                float *Bv = malloc((size_t)(out * 4) * sizeof *Bv);
                for (int64_t i = 0; i < out * 4; i++)
                    Bv[i] = 0.05f * (float)(((i + 1) * (t + 3) * (l + 2)) % 13 - 6);
                TU_OK(clft_model_lora_set(m, l, 1u << t, NULL, Bv));
                free(Bv);
            }
    if (m) TU_OK(clft_trainer_create(m, &tr));
    if (!tr) {
        clft_model_free(m);
        m = NULL;
    }
    *mo = m;
    return tr;
}

static void run(clft_context *ctx, clft_method method, int ckpt, int64_t window) {
    const int full = method == CLFT_METHOD_FULL;
    clft_model_config cfg = small_config(window);
    fprintf(stderr, "packing isolation: %s checkpointing %d window %lld\n", clft_method_name(method), ckpt,
            (long long)window);
    clft_model *m = NULL;
    clft_trainer *tr = make_trainer(ctx, method, ckpt, window, &m);
    if (!tr) return;
    packing p;
    make_packed(&p);
    const size_t nlog = (size_t)B * T * V, ng = (size_t)(2 * V * 32 + 100000);
    float *lp = malloc(nlog * sizeof *lp), *la = malloc(nlog * sizeof *la);
    float *gp = malloc(ng * sizeof *gp), *ga = malloc(ng * sizeof *ga), *gsum = calloc(ng, sizeof *gsum);
    int32_t labels[B * T], ids_a[B * T], labels_a[B * T];
    /* all examples labelled: logits, loss and gradients of the packed batch */
    clft_batch bt = {.ids = p.ids, .labels = p.labels, .positions = p.pos, .segments = p.seg, .batch = B, .seq_len = T};
    double loss_all = 0;
    TU_OK(clft_trainer_compute_grads_batch(tr, &bt, &loss_all, lp));
    int64_t ngrad = read_grads(m, &cfg, full, gp);
    TU_CHECK(ngrad > 0 && (size_t)ngrad <= ng, "gradient count %lld", (long long)ngrad);
    float *g_all = malloc((size_t)ngrad * sizeof *g_all);
    memcpy(g_all, gp, (size_t)ngrad * sizeof *g_all);
    double weighted = 0;
    int64_t tokens_all = 0;
    char what[128];
    for (int e = 0; e < NEX; e++) {
        const int64_t row0 = (int64_t)EX[e][0] * T + EX[e][1], len = EX[e][2], ne = example_tokens(&p, e);
        /* alone: the plain API on a padded batch */
        make_alone(&p, e, ids_a, labels_a);
        double loss_a = 0;
        TU_OK(clft_trainer_compute_grads(tr, ids_a, labels_a, &loss_a, la));
        TU_CHECK((int64_t)read_grads(m, &cfg, full, ga) == ngrad, "gradient count");
        snprintf(what, sizeof what, "example %d logits packed vs alone", e);
        tu_close(what, lp + row0 * V, la, (size_t)(len * V), 2e-5, 1e-4, 1e-9);
        /* packed with only this example labelled: the same loss and gradients */
        only_labels(&p, e, labels);
        clft_batch b1 = {
            .ids = p.ids, .labels = labels, .positions = p.pos, .segments = p.seg, .batch = B, .seq_len = T};
        double loss_p = 0;
        TU_OK(clft_trainer_compute_grads_batch(tr, &b1, &loss_p, NULL));
        read_grads(m, &cfg, full, gp);
        TU_CHECK(fabs(loss_p - loss_a) <= 1e-5 * fabs(loss_a) + 1e-6, "example %d loss packed %.9f alone %.9f", e,
                 loss_p, loss_a);
        snprintf(what, sizeof what, "example %d gradients packed vs alone", e);
        close_scaled(what, gp, ga, ngrad);
        weighted += loss_a * (double)ne;
        tokens_all += ne;
        for (int64_t i = 0; i < ngrad; i++)
            gsum[i] += ga[i] * (float)ne;
    }
    /* the label shift stops at segment boundaries: the packed loss is the token-weighted mean of
     * the examples' own losses (a target across a boundary would add a term), and so are the grads */
    TU_CHECK(fabs(loss_all - weighted / (double)tokens_all) <= 1e-5 * fabs(loss_all), "packed loss %.9f vs %.9f",
             loss_all, weighted / (double)tokens_all);
    for (int64_t i = 0; i < ngrad; i++)
        gsum[i] /= (float)tokens_all;
    close_scaled("packed gradients = token-weighted sum of the examples'", g_all, gsum, ngrad);
    /* RoPE is relative: with positions NULL (the index in the row) each example's logits are the
     * same; positions that are not a shift (doubled) change them, so the positions are used */
    if (!ckpt) {
        const int64_t row0 = (int64_t)EX[1][0] * T + EX[1][1], nl = (int64_t)EX[1][2] * V;
        clft_batch b2 = {
            .ids = p.ids, .labels = p.labels, .positions = NULL, .segments = p.seg, .batch = B, .seq_len = T};
        TU_OK(clft_trainer_compute_grads_batch(tr, &b2, NULL, la));
        tu_close("example 1 logits, row positions vs restarted", la + row0 * V, lp + row0 * V, (size_t)nl, 2e-5, 1e-4,
                 1e-9);
        int32_t pos2[B * T];
        for (int n = 0; n < B * T; n++)
            pos2[n] = 2 * p.pos[n];
        b2.positions = pos2;
        TU_OK(clft_trainer_compute_grads_batch(tr, &b2, NULL, la));
        double diff = 0;
        for (int64_t i = 0; i < nl; i++)
            diff = fmax(diff, fabs(la[row0 * V + i] - lp[row0 * V + i]));
        TU_CHECK(diff > 1e-4, "positions are used (largest logit change %.3g)", diff);
    }
    free(lp), free(la), free(gp), free(ga), free(gsum), free(g_all);
    clft_trainer_free(tr);
    clft_model_free(m);
}

/* Bad batches are refused; steps mixing packed and plain batches allocate nothing on the device. */
static void test_batch_checks(clft_context *ctx) {
    clft_model *m = NULL;
    clft_trainer *tr = make_trainer(ctx, CLFT_METHOD_LORA, 1, 0, &m);
    if (!tr) return;
    packing p;
    make_packed(&p);
    clft_batch bt = {
        .ids = p.ids, .labels = p.labels, .positions = p.pos, .segments = p.seg, .batch = B, .seq_len = T - 1};
    clft_step_stats st;
    TU_CHECK(clft_trainer_step_batch(tr, &bt, &st) == CLFT_STATUS_SHAPE_MISMATCH, "shorter rows refused");
    bt.seq_len = T;
    bt.batch = B + 1;
    TU_CHECK(clft_trainer_compute_grads_batch(tr, &bt, NULL, NULL) == CLFT_STATUS_SHAPE_MISMATCH, "more rows refused");
    bt.batch = B;
    TU_CHECK(clft_trainer_step_batch(tr, NULL, &st) == CLFT_STATUS_INVALID_ARGUMENT, "NULL batch refused");
    bt.ids = NULL;
    TU_CHECK(clft_trainer_step_batch(tr, &bt, &st) == CLFT_STATUS_INVALID_ARGUMENT, "NULL ids refused");
    bt.ids = p.ids;
    p.pos[3] = -1;
    TU_CHECK(clft_trainer_step_batch(tr, &bt, &st) == CLFT_STATUS_INVALID_ARGUMENT, "negative position refused");
    p.pos[3] = 3;
    TU_CHECK(clft_trainer_step_batch(tr, &bt, NULL) == CLFT_OK, "stats may be NULL");
    /* a packed step counts the targets within segments only */
    TU_OK(clft_trainer_step_batch(tr, &bt, &st));
    int64_t want = 0;
    for (int e = 0; e < NEX; e++)
        want += example_tokens(&p, e);
    TU_CHECK(st.tokens == want && !st.skipped, "packed step: %lld tokens, want %lld", (long long)st.tokens,
             (long long)want);
    TU_OK(clft_trainer_step(tr, p.ids, p.labels, &st));
    clft_mem_stats s1, s2;
    TU_OK(clft_context_mem_stats(ctx, &s1));
    for (int i = 0; i < 2; i++) {
        TU_OK(clft_trainer_step_batch(tr, &bt, &st));
        TU_OK(clft_trainer_step(tr, p.ids, p.labels, &st));
    }
    TU_OK(clft_context_mem_stats(ctx, &s2));
    TU_CHECK(s2.allocations == s1.allocations, "device allocations inside packed and plain steps: %llu then %llu",
             (unsigned long long)s1.allocations, (unsigned long long)s2.allocations);
    clft_trainer_free(tr);
    clft_model_free(m);
}

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    run(ctx, CLFT_METHOD_LORA, 0, 0);
    run(ctx, CLFT_METHOD_LORA, 1, 4);
    run(ctx, CLFT_METHOD_FULL, 0, 4);
    run(ctx, CLFT_METHOD_FULL, 1, 0);
    test_batch_checks(ctx);
    clft_context_free(ctx);
    return tu_finish("test_packing");
}
