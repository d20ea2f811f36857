/* generate.c - inference with a KV cache on the device: the generator (clft_generator_*) and the
 * text generation loop (clft_generate). A feed of n tokens runs every layer once over the n tokens
 * (the prompt's prefill is one pass; decoding is n = 1): the k and v projections write straight into
 * the layer's cache rows, RoPE rotates them there, and attention reads the cache
 * (clft_attention_kv_fwd: split over the keys when there are few queries). LoRA adapters run
 * unmerged on the base in the model's storage type; only the last token's hidden state goes through
 * the final norm and the head. Nothing is allocated after clft_generator_create. The generator
 * shares the model's weights and never touches the trainer's step buffers (m->sb). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/stream.h"
#include "ops/decode.h"

struct clft_generator {
    clft_model *m;
    int64_t cap;         /* tokens the cache holds */
    int64_t P;           /* tokens per pass */
    int64_t len;         /* tokens in the cache */
    clft_buf *kc, *vc;   /* per layer (cap, KD) */
    clft_buf tok;        /* (2P) int32: a pass's ids, then its positions (one upload) */
    clft_buf x, h;       /* (P,C) the residual stream, the normed input of a block */
    clft_buf rstd;       /* (P) */
    clft_buf q, att;     /* (P,QD) */
    clft_buf g, u, a;    /* (P,F) */
    clft_buf lu;         /* (P,3r) LoRA intermediates (of q, k and v side by side) */
    clft_buf ws;         /* attention workspace */
    clft_buf hf, logits; /* (C), (V) */
    int32_t *h_tok;      /* (2P) */
};

static clft_dv DV(const clft_buf *b) { return clft_dv_of(b, 0); }

clft_generator_params clft_generator_default_params(void) {
    clft_generator_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* The resolved context and pass sizes. */
static clft_status gen_sizes(const clft_model_config *cfg, const clft_generator_params *p, int64_t *cap, int64_t *P) {
    clft_generator_params d = clft_generator_default_params();
    if (!p) p = &d;
    if (p->max_context < 0 || p->max_prefill < 0)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "generator: max_context %d and max_prefill %d must be >= 0",
                          p->max_context, p->max_prefill);
    int64_t c = p->max_context;
    if (c == 0) {
        c = cfg->max_position_embeddings > 0 ? cfg->max_position_embeddings : 4096;
        if (c > 4096) c = 4096;
    }
    if (cfg->max_position_embeddings > 0 && c > cfg->max_position_embeddings)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "generator: a context of %lld tokens is above the model's %lld positions", (long long)c,
                          (long long)cfg->max_position_embeddings);
    int64_t n = p->max_prefill > 0 && p->max_prefill < c ? p->max_prefill : c;
    *cap = c;
    *P = n;
    return CLFT_OK;
}

static size_t ws_floats(const clft_model_config *cfg, int64_t cap, int64_t P) {
    /* the attention workspace of a pass of n queries (it depends on n, H and D, most for n = 1; the
     * largest prefill pass is asked too, so that the rule may change without this) */
    size_t w = 0;
    const int64_t ns[2] = {1, P};
    for (int i = 0; i < 2; i++) {
        clft_attn_kv_dims d = {ns[i], cap - ns[i], cfg->num_heads, cfg->num_kv_heads, cfg->head_dim, 0};
        size_t f = clft_attention_kv_workspace_floats(&d);
        if (f > w) w = f;
    }
    return w;
}

/* Bytes of every buffer clft_generator_create allocates, in its order (kept in one place). */
static uint64_t gen_bytes(const clft_model_config *cfg, int r, int64_t cap, int64_t P) {
    const uint64_t C = (uint64_t)cfg->hidden_size, QD = (uint64_t)(cfg->num_heads * cfg->head_dim),
                   KD = (uint64_t)(cfg->num_kv_heads * cfg->head_dim), F = (uint64_t)cfg->intermediate_size,
                   V = (uint64_t)cfg->vocab_size, L = (uint64_t)cfg->num_layers, n = (uint64_t)P;
    uint64_t b = 2 * L * (uint64_t)cap * KD * 4; /* K and V caches */
    b += 2 * n * 4;                              /* ids, positions */
    b += 2 * n * C * 4 + n * 4;                  /* x, h, rstd */
    b += 2 * n * QD * 4 + 3 * n * F * 4;         /* q, att, g, u, a */
    b += n * (uint64_t)(r > 0 ? 3 * r : 1) * 4;  /* LoRA intermediates */
    const uint64_t ws = (uint64_t)ws_floats(cfg, cap, P) * 4;
    b += ws ? ws : 4;   /* a buffer of 0 bytes is allocated with 4 (OpenCL has none of 0) */
    b += C * 4 + V * 4; /* last hidden state, logits */
    return b;
}

clft_status clft_generator_plan(const clft_model_config *cfg, const clft_train_params *tp,
                                const clft_generator_params *params, uint64_t *bytes) {
    if (!cfg || !tp || !bytes) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_generator_plan: NULL argument");
    CLFT_CHECK(clft_model_config_validate(cfg, "model config"));
    int64_t cap = 0, P = 0;
    CLFT_CHECK(gen_sizes(cfg, params, &cap, &P));
    *bytes = gen_bytes(cfg, tp->method == CLFT_METHOD_FULL ? 0 : tp->lora.r, cap, P);
    return CLFT_OK;
}

void clft_generator_free(clft_generator *g) {
    if (!g) return;
    clft_context *ctx = g->m->ctx;
    for (int64_t l = 0; l < g->m->L; l++) {
        if (g->kc) clft_buf_free(ctx, &g->kc[l]);
        if (g->vc) clft_buf_free(ctx, &g->vc[l]);
    }
    free(g->kc);
    free(g->vc);
    clft_buf *bs[] = {&g->tok, &g->x, &g->h,  &g->rstd, &g->q,  &g->att,   &g->g,
                      &g->u,   &g->a, &g->lu, &g->ws,   &g->hf, &g->logits};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        clft_buf_free(ctx, bs[i]);
    free(g->h_tok);
    free(g);
}

clft_status clft_generator_create(clft_model *m, const clft_generator_params *params, clft_generator **out) {
    if (!m || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_generator_create: NULL argument");
    *out = NULL;
    int64_t cap = 0, P = 0;
    CLFT_CHECK(gen_sizes(&m->cfg, params, &cap, &P));
    const int r = m->tp.method == CLFT_METHOD_FULL ? 0 : m->tp.lora.r;
    const uint64_t need = gen_bytes(&m->cfg, r, cap, P);
    clft_device_info info;
    clft_mem_stats ms;
    CLFT_CHECK(clft_context_device_info(m->ctx, &info));
    CLFT_CHECK(clft_context_mem_stats(m->ctx, &ms));
    if (need + ms.current_total > info.global_mem_bytes)
        return clft_error(CLFT_STATUS_DEVICE_OOM,
                          "generator: a KV cache of %lld tokens and passes of %lld tokens need %.2f GiB on '%s', "
                          "which has %.2f GiB (%.2f GiB in use); use a shorter context",
                          (long long)cap, (long long)P, (double)need / 1073741824.0, info.name,
                          (double)info.global_mem_bytes / 1073741824.0, (double)ms.current_total / 1073741824.0);
    clft_generator *g = clft_calloc(1, sizeof *g);
    if (!g) return CLFT_STATUS_HOST_OOM;
    g->m = m;
    g->cap = cap;
    g->P = P;
    clft_context *ctx = m->ctx;
    const clft_mem_class A = CLFT_MEM_ACTIVATIONS;
    clft_status st = CLFT_OK;
#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        if (st == CLFT_OK) st = (x);                                                                                   \
    } while (0)
    g->kc = clft_calloc((size_t)m->L, sizeof *g->kc);
    g->vc = clft_calloc((size_t)m->L, sizeof *g->vc);
    g->h_tok = clft_malloc((size_t)(2 * P) * sizeof *g->h_tok);
    if (!g->kc || !g->vc || !g->h_tok) st = CLFT_STATUS_HOST_OOM;
    for (int64_t l = 0; l < m->L; l++) {
        TRY(clft_buf_alloc(ctx, A, (size_t)(cap * m->KD) * 4, &g->kc[l]));
        TRY(clft_buf_alloc(ctx, A, (size_t)(cap * m->KD) * 4, &g->vc[l]));
    }
    TRY(clft_buf_alloc(ctx, A, (size_t)(2 * P) * 4, &g->tok));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->C) * 4, &g->x));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->C) * 4, &g->h));
    TRY(clft_buf_alloc(ctx, A, (size_t)P * 4, &g->rstd));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->QD) * 4, &g->q));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->QD) * 4, &g->att));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->F) * 4, &g->g));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->F) * 4, &g->u));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * m->F) * 4, &g->a));
    TRY(clft_buf_alloc(ctx, A, (size_t)(P * (r > 0 ? 3 * r : 1)) * 4, &g->lu));
    TRY(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, ws_floats(&m->cfg, cap, P) * 4, &g->ws));
    TRY(clft_buf_alloc(ctx, A, (size_t)m->C * 4, &g->hf));
    TRY(clft_buf_alloc(ctx, A, (size_t)m->V * 4, &g->logits));
#undef TRY
    if (st != CLFT_OK) {
        clft_generator_free(g);
        return st;
    }
    *out = g;
    return CLFT_OK;
}

clft_status clft_generator_reset(clft_generator *g) {
    if (!g) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_generator_reset: NULL generator");
    g->len = 0;
    return CLFT_OK;
}

int64_t clft_generator_length(const clft_generator *g) { return g ? g->len : 0; }

/* Projections lins[0..nl) of the same input X (n,in) into Y[0..nl) (q, k and v; gate and up; or one):
 * Y_j = X W_j^T (+ bias_j) + scale * (X A_j^T) B_j^T, added to residual * Y_j (the block's residual
 * connection without an add of its own). The bases in one call (one launch when decoding), then the
 * biases; the adapters unmerged: their A products in one call too (u_j side by side in g->lu), then
 * their B products u_j B_j^T in one more, added with alpha = scale (no scale launch). */
static clft_status gen_linear_multi(clft_generator *g, int nl, const clft_linear *const *lins, const clft_mat *Y,
                                    clft_mat X, int64_t n, float residual) {
    clft_context *ctx = g->m->ctx;
    const clft_weight *W[CLFT_LINEAR_MULTI_MAX];
    const clft_mat Xs[CLFT_LINEAR_MULTI_MAX] = {X, X, X};
    for (int j = 0; j < nl; j++)
        W[j] = &lins[j]->base;
    CLFT_CHECK(clft_linear_fwd_multi(ctx, nl, Y, Xs, W, n, 1.0f, residual));
    int nlora = 0;
    for (int j = 0; j < nl; j++) {
        if (lins[j]->has_bias) {
            clft_dv y = clft_dv_of(Y[j].buf, Y[j].offset);
            CLFT_CHECK(clft_bias_add_fwd(ctx, y, y, DV(&lins[j]->bias), n, lins[j]->out));
        }
        nlora += lins[j]->has_lora;
    }
    if (!nlora) return CLFT_OK;
    /* (every adapter has the rank of tp.lora.r (model.c): g->lu holds 3 of them per token) */
    clft_weight A[CLFT_LINEAR_MULTI_MAX], B[CLFT_LINEAR_MULTI_MAX];
    const clft_weight *AW[CLFT_LINEAR_MULTI_MAX], *BW[CLFT_LINEAR_MULTI_MAX];
    clft_mat U[CLFT_LINEAR_MULTI_MAX], YL[CLFT_LINEAR_MULTI_MAX];
    int64_t ld = 0;
    for (int j = 0; j < nl; j++)
        ld += lins[j]->has_lora ? lins[j]->r : 0;
    int na = 0;
    float scale = 0.0f;
    for (int j = 0, off = 0; j < nl; j++)
        if (lins[j]->has_lora) {
            const clft_linear *lin = lins[j];
            A[na] = clft_weight_f32_view(&lin->A.w, lin->r, lin->in);
            B[na] = clft_weight_f32_view(&lin->B.w, lin->out, lin->r);
            AW[na] = &A[na];
            BW[na] = &B[na];
            U[na] = clft_mat_of(&g->lu, (size_t)off, ld);
            YL[na++] = Y[j];
            off += (int)lin->r;
            scale = lin->scale;
        }
    CLFT_CHECK(clft_linear_fwd_multi(ctx, na, U, Xs, AW, n, 1.0f, 0.0f));
    /* every adapter of the model has the same scale (alpha / r, or its rsLoRA form: model.c) */
    return clft_linear_fwd_multi(ctx, na, YL, U, BW, n, scale, 1.0f);
}

static clft_status gen_linear(clft_generator *g, const clft_linear *lin, clft_mat Y, clft_mat X, int64_t n,
                              float residual) {
    return gen_linear_multi(g, 1, &lin, &Y, X, n, residual);
}

/* One layer over the n tokens in g->x (positions g->len ...): x = block(x), the two residual
 * additions made by the o and down projections (beta 1). */
static clft_status gen_layer(clft_generator *g, int64_t l, int64_t n) {
    clft_model *m = g->m;
    clft_context *ctx = m->ctx;
    const clft_layer *ly = &m->layers[l];
    const int64_t C = m->C, past = g->len;
    const size_t koff = (size_t)(past * m->KD);
    const float eps = (float)m->cfg.rms_norm_eps;
    const clft_dv pos = clft_dv_of(&g->tok, (size_t)n);
    CLFT_CHECK(clft_rmsnorm_fwd(ctx, DV(&g->h), DV(&g->rstd), DV(&g->x), DV(&ly->ln1.w), n, C, eps));
    const clft_mat H = clft_mat_of(&g->h, 0, C), X = clft_mat_of(&g->x, 0, C);
    const clft_linear *qkv[3] = {&ly->lin[0], &ly->lin[1], &ly->lin[2]};
    const clft_mat qkv_out[3] = {clft_mat_of(&g->q, 0, m->QD), clft_mat_of(&g->kc[l], koff, m->KD), /* into the cache */
                                 clft_mat_of(&g->vc[l], koff, m->KD)};
    CLFT_CHECK(gen_linear_multi(g, 3, qkv, qkv_out, H, n, 0.0f));
    /* RoPE of the queries and of the new keys in the cache, one launch (cos and sin once per pair) */
    CLFT_CHECK(
        clft_rope_qk_fwd(ctx, DV(&g->q), clft_dv_of(&g->kc[l], koff), pos, DV(&m->inv_freq), n, m->H, m->KV, m->D));
    const clft_attn_kv_dims ad = {n, past, m->H, m->KV, m->D, ly->window};
    CLFT_CHECK(clft_attention_kv_fwd(ctx, DV(&g->att), DV(&g->q), DV(&g->kc[l]), DV(&g->vc[l]), &g->ws, &ad));
    CLFT_CHECK(gen_linear(g, &ly->lin[3], X, clft_mat_of(&g->att, 0, m->QD), n, 1.0f)); /* x += o(att) */
    CLFT_CHECK(clft_rmsnorm_fwd(ctx, DV(&g->h), DV(&g->rstd), DV(&g->x), DV(&ly->ln2.w), n, C, eps));
    const clft_linear *gu[2] = {&ly->lin[4], &ly->lin[5]};
    const clft_mat gu_out[2] = {clft_mat_of(&g->g, 0, m->F), clft_mat_of(&g->u, 0, m->F)};
    CLFT_CHECK(gen_linear_multi(g, 2, gu, gu_out, H, n, 0.0f));
    CLFT_CHECK(clft_swiglu_fwd(ctx, DV(&g->a), DV(&g->g), DV(&g->u), n * m->F));
    return gen_linear(g, &ly->lin[6], X, clft_mat_of(&g->a, 0, m->F), n, 1.0f); /* x += down(a) */
}

/* One pass over n <= P tokens; with logits, the head's output for the last one. */
static clft_status gen_pass(clft_generator *g, const int32_t *ids, int64_t n, float *logits) {
    clft_model *m = g->m;
    clft_context *ctx = m->ctx;
    memcpy(g->h_tok, ids, (size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        g->h_tok[n + i] = (int32_t)(g->len + i);
    CLFT_CHECK(clft_buf_write(ctx, &g->tok, 0, g->h_tok, (size_t)(2 * n) * 4));
    CLFT_CHECK(clft_embedding_fwd(ctx, DV(&g->x), DV(&g->tok), DV(&m->embed_w.data), m->embed_w.dtype, n, m->V, m->C));
    for (int64_t l = 0; l < m->L; l++)
        CLFT_CHECK(gen_layer(g, l, n));
    g->len += n; /* the cache now holds these tokens' keys and values */
    if (!logits) return CLFT_OK;
    const size_t last = (size_t)((n - 1) * m->C);
    CLFT_CHECK(clft_rmsnorm_fwd(ctx, DV(&g->hf), DV(&g->rstd), clft_dv_of(&g->x, last), DV(&m->norm_f.w), 1, m->C,
                                (float)m->cfg.rms_norm_eps));
    CLFT_CHECK(
        clft_linear_fwd(ctx, clft_mat_of(&g->logits, 0, m->V), clft_mat_of(&g->hf, 0, m->C), &m->head_w, 1, 0.0f));
    return clft_buf_read(ctx, &g->logits, 0, logits, (size_t)m->V * 4);
}

clft_status clft_generator_feed(clft_generator *g, const int32_t *ids, size_t n, float *logits) {
    if (!g || (!ids && n)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_generator_feed: NULL argument");
    if (n == 0) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_generator_feed: no tokens");
    if ((int64_t)n > g->cap - g->len)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "generator: %zu more tokens do not fit the context of %lld tokens (%lld in the cache)", n,
                          (long long)g->cap, (long long)g->len);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= g->m->V)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "generator: token id %d at %zu is outside the vocabulary (%lld)", ids[i], i,
                              (long long)g->m->V);
    const int64_t len0 = g->len;
    clft_status st = CLFT_OK;
    for (size_t done = 0; done < n && st == CLFT_OK;) {
        const size_t k = n - done < (size_t)g->P ? n - done : (size_t)g->P;
        st = gen_pass(g, ids + done, (int64_t)k, done + k == n ? logits : NULL);
        done += k;
    }
    if (st != CLFT_OK) g->len = len0; /* a failed pass leaves the cache as it was (rows past len are ignored) */
    return st;
}

/* ---- text generation ---------------------------------------------------------------------------- */

clft_generate_params clft_generate_default_params(void) {
    clft_generate_params p;
    memset(&p, 0, sizeof p);
    p.sampling = clft_sampling_default_params();
    p.max_tokens = 256;
    p.skip_special = 1;
    return p;
}

void clft_generate_result_free(clft_generate_result *r) {
    if (!r) return;
    free(r->ids);
    free(r->text);
    r->ids = NULL;
    r->text = NULL;
}

static int is_stop_id(const clft_generator *g, const clft_tokenizer *tok, const clft_generate_params *p, int32_t id) {
    for (size_t i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] == id) return 1;
    if (p->ignore_eos) return 0;
    for (int i = 0; i < g->m->cfg.n_eos; i++)
        if (g->m->cfg.eos_token_ids[i] == id) return 1;
    return tok && clft_tokenizer_eos_id(tok) == id;
}

clft_status clft_generate(clft_generator *g, const clft_tokenizer *tok, const int32_t *prompt, size_t n_prompt,
                          const clft_generate_params *params, clft_text_fn on_text, void *user,
                          clft_generate_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!g || !tok || !prompt || !params)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_generate: NULL argument");
    if (n_prompt == 0) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "generate: the prompt has no tokens");
    if (params->max_tokens < 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "generate: max_tokens %d must be at least 1",
                          params->max_tokens);
    if ((params->n_stop_ids && !params->stop_ids) || (params->n_stop_strings && !params->stop_strings))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "generate: NULL stop list");
    CLFT_CHECK(clft_sampling_check(&params->sampling));
    if ((int64_t)n_prompt >= g->cap)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "generate: the prompt of %zu tokens does not fit the context of %lld tokens with room to "
                          "generate",
                          n_prompt, (long long)g->cap);
    clft_model *m = g->m;
    const size_t V = (size_t)m->V;
    const size_t cap_hist = n_prompt + (size_t)params->max_tokens;
    float *logits = clft_malloc(V * sizeof(float));
    int32_t *hist = clft_malloc(cap_hist * sizeof(int32_t));
    clft_streamer *sm = NULL;
    clft_status st = logits && hist ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    if (st == CLFT_OK)
        st = clft_streamer_create(tok, params->skip_special, params->stop_strings, params->n_stop_strings, &sm);
    if (st == CLFT_OK) {
        memcpy(hist, prompt, n_prompt * sizeof(int32_t));
        st = clft_generator_reset(g);
    }
    clft_generate_result r;
    memset(&r, 0, sizeof r);
    r.prompt_tokens = (int64_t)n_prompt;
    r.stop_reason = CLFT_STOP_MAX_TOKENS;
    const double t0 = clft_now_seconds();
    if (st == CLFT_OK) st = clft_generator_feed(g, prompt, n_prompt, logits);
    uint64_t rng = params->sampling.seed;
    size_t nh = n_prompt;
    double t1 = t0;
    int stop = 0;
    while (st == CLFT_OK && !stop) {
        int32_t id = 0;
        st = clft_sample(logits, V, hist, nh, &params->sampling, &rng, &id);
        if (st != CLFT_OK) break;
        if (r.generated_tokens == 0) t1 = clft_now_seconds(); /* the prompt's pass and the first token */
        hist[nh++] = id;
        r.generated_tokens++;
        if (is_stop_id(g, tok, params, id)) {
            r.stop_reason = CLFT_STOP_TOKEN;
            break;
        }
        const char *piece = NULL;
        size_t plen = 0;
        int stopped = 0;
        /* the model's vocabulary may be larger than the tokenizer's (padded embeddings): such an id has
         * no text, as Hugging Face's decode skips it */
        if (clft_tokenizer_id_to_token(tok, id)) st = clft_streamer_push(sm, id, &piece, &plen, &stopped);
        if (st != CLFT_OK) break;
        if (plen && on_text && on_text(piece, plen, user)) {
            r.stop_reason = CLFT_STOP_CALLBACK;
            stop = 1;
        } else if (stopped) {
            r.stop_reason = CLFT_STOP_STRING;
            stop = 1;
        } else if (r.generated_tokens >= params->max_tokens) {
            stop = 1; /* the last token is not fed: nothing would read its logits */
        } else if (g->len >= g->cap) {
            r.stop_reason = CLFT_STOP_CONTEXT;
            stop = 1;
        } else {
            st = clft_generator_feed(g, &id, 1, logits);
        }
    }
    if (st == CLFT_OK && r.stop_reason != CLFT_STOP_STRING && r.stop_reason != CLFT_STOP_CALLBACK) {
        const char *piece = NULL;
        size_t plen = 0;
        int stopped = 0; /* a stop string may be completed by the text held back until now */
        st = clft_streamer_finish(sm, &piece, &plen, &stopped);
        if (st == CLFT_OK && plen && on_text) on_text(piece, plen, user);
        if (st == CLFT_OK && stopped) r.stop_reason = CLFT_STOP_STRING;
    }
    const double t2 = clft_now_seconds();
    r.prefill_seconds = t1 - t0;
    r.decode_seconds = t2 - t1;
    if (st == CLFT_OK && out) {
        size_t tlen = 0;
        const char *text = clft_streamer_text(sm, &tlen);
        r.ids = clft_malloc((size_t)(r.generated_tokens > 0 ? r.generated_tokens : 1) * sizeof(int32_t));
        r.text = clft_malloc(tlen + 1);
        if (!r.ids || !r.text) {
            clft_generate_result_free(&r);
            st = CLFT_STATUS_HOST_OOM;
        } else {
            memcpy(r.ids, hist + n_prompt, (size_t)r.generated_tokens * sizeof(int32_t));
            memcpy(r.text, text, tlen);
            r.text[tlen] = '\0';
            *out = r;
        }
    }
    clft_streamer_free(sm);
    free(hist);
    free(logits);
    return st;
}
