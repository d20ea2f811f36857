/* test_generator.c - the generator (src/model/generate.c) against the training forward, whose logits
 * agree with transformers (tests/golden): for Llama (GQA, untied), Mistral (sliding window, tied) and
 * Qwen2 (q/k/v biases) shapes that are not multiples of anything, and every storage (full f32, LoRA on
 * f32 and bf16 with non-zero adapters, QLoRA NF4), the logits after feeding a sequence are those of
 * the training forward at the same position - prefilled in one pass, prefilled in passes of 5,
 * decoded one token at a time after a prefix -; the memory the generator allocates is its plan;
 * bad input (an overflowing context, ids outside the vocabulary, no tokens); clft_generate: greedy
 * ids are the argmax chain of the forward, max_tokens, stop ids, the model's EOS, a stop string,
 * the callback, the context filling up, and a prompt too long for the context. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

typedef struct shape {
    const char *name;
    clft_arch arch;
    int64_t hidden, inter, layers, heads, kv, vocab, window;
    int tied, bias;
} shape;

static clft_model_config make_cfg(const shape *s) {
    clft_model_config c;
    clft_model_config_defaults(s->arch, &c);
    c.vocab_size = s->vocab;
    c.hidden_size = s->hidden;
    c.intermediate_size = s->inter;
    c.num_layers = s->layers;
    c.num_heads = s->heads;
    c.num_kv_heads = s->kv;
    c.head_dim = s->hidden / s->heads;
    c.max_position_embeddings = 256;
    c.tie_word_embeddings = s->tied;
    c.sliding_window = s->window;
    if (s->arch == CLFT_ARCH_QWEN2) {
        c.qkv_bias = 1;
        c.max_window_layers = 0;
    }
    c.rope_theta = 10000.0;
    c.n_eos = 1;
    c.eos_token_ids[0] = 1;
    c.bos_token_id = 0;
    return c;
}

static void fill_ids(int32_t *ids, int n, int64_t V, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)(2 + (seed >> 33) % (uint64_t)(V - 2)); /* never BOS/EOS */
    }
}

/* biases and adapters non-zero, so that both count */
static void perturb(clft_model *m, const clft_model_config *c, int lora, uint64_t seed) {
    tu_rng r = tu_rng_make(seed);
    const int64_t QD = c->num_heads * c->head_dim, KD = c->num_kv_heads * c->head_dim;
    for (int64_t l = 0; l < c->num_layers; l++) {
        if (c->qkv_bias) {
            const char *nm[3] = {"q_proj", "k_proj", "v_proj"};
            const int64_t n[3] = {QD, KD, KD};
            for (int i = 0; i < 3; i++) {
                float *b = malloc((size_t)n[i] * 4);
                tu_fill(&r, b, (size_t)n[i], -0.2f, 0.2f);
                char name[128];
                snprintf(name, sizeof name, "model.layers.%lld.self_attn.%s.bias", (long long)l, nm[i]);
                TU_OK(clft_model_set_weight(m, name, b, n[i]));
                free(b);
            }
        }
        if (!lora) continue;
        const int64_t io[7][2] = {{c->hidden_size, QD},
                                  {c->hidden_size, KD},
                                  {c->hidden_size, KD},
                                  {QD, c->hidden_size},
                                  {c->hidden_size, c->intermediate_size},
                                  {c->hidden_size, c->intermediate_size},
                                  {c->intermediate_size, c->hidden_size}};
        for (int t = 0; t < 7; t++) {
            const size_t na = (size_t)(8 * io[t][0]), nb = (size_t)(io[t][1] * 8);
            float *A = malloc(na * 4), *B = malloc(nb * 4);
            tu_fill(&r, A, na, -0.3f, 0.3f);
            tu_fill(&r, B, nb, -0.1f, 0.1f);
            TU_OK(clft_model_lora_set(m, (int)l, 1u << t, A, B));
            free(A);
            free(B);
        }
    }
}

/* logits (T,V) of the training forward for ids (1,T) */
static float *forward_logits(clft_model *m, const int32_t *ids, int T, int64_t V) {
    clft_trainer *tr = NULL;
    TU_OK(clft_trainer_create(m, &tr));
    float *lg = malloc((size_t)T * (size_t)V * 4);
    int32_t *labels = malloc((size_t)T * 4);
    for (int i = 0; i < T; i++)
        labels[i] = ids[i];
    double loss = 0;
    if (tr) TU_OK(clft_trainer_compute_grads(tr, ids, labels, &loss, lg));
    clft_trainer_free(tr);
    free(labels);
    return lg;
}

/* logits of one position against the forward's: atol relative to the row's largest logit (the
 * golden tests' rule), rtol 2e-4 */
static int row_close(const char *what, const float *got, const float *ref, int64_t V) {
    double mx = 0;
    for (int64_t v = 0; v < V; v++)
        mx = fabs(ref[v]) > mx ? fabs(ref[v]) : mx;
    return tu_close(what, got, ref, (size_t)V, 2e-5 * (mx > 1 ? mx : 1), 2e-4, 1e-9);
}

static void test_shape(clft_context *ctx, const shape *s, clft_method method, clft_dtype base) {
    const clft_model_config cfg = make_cfg(s);
    const int T = tu_tiny() ? 9 : 37;
    const int64_t V = cfg.vocab_size;
    char what[160];
    snprintf(what, sizeof what, "%s %s/%s", s->name, clft_method_name(method), clft_dtype_name(base));
    /* the reference: a trainable model's forward (batch 1 x T); then the same weights for inference */
    clft_train_params tp = clft_train_default_params(method);
    if (method != CLFT_METHOD_FULL) tp.base_dtype = base;
    tp.batch = 1;
    tp.seq_len = T;
    tp.checkpointing = 0;
    clft_model *m = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    if (!m) return;
    TU_OK(clft_model_init_random(m, 17, 0.25f));
    perturb(m, &cfg, method != CLFT_METHOD_FULL, 99);
    int32_t ids[64];
    fill_ids(ids, T, V, 5);
    float *ref = forward_logits(m, ids, T, V);
    float *got = malloc((size_t)V * 4);
    /* 1. prefill of all T in one pass: the last row */
    clft_mem_stats m0, m1;
    TU_OK(clft_context_mem_stats(ctx, &m0));
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = T + 3;
    clft_generator *g = NULL;
    TU_OK(clft_generator_create(m, &gp, &g));
    TU_OK(clft_context_mem_stats(ctx, &m1));
    uint64_t plan = 0;
    TU_OK(clft_generator_plan(&cfg, &tp, &gp, &plan));
    TU_CHECK(m1.current_total - m0.current_total == plan, "%s: generator allocated %llu bytes, plan %llu", what,
             (unsigned long long)(m1.current_total - m0.current_total), (unsigned long long)plan);
    char nm[200];
    TU_OK(clft_generator_feed(g, ids, (size_t)T, got));
    snprintf(nm, sizeof nm, "%s prefill(%d)", what, T);
    row_close(nm, got, ref + (size_t)(T - 1) * (size_t)V, V);
    TU_CHECK(clft_generator_length(g) == T, "%s: length %lld", what, (long long)clft_generator_length(g));
    /* the context is full but for 3 tokens: 4 more are refused and leave the cache as it was */
    TU_CHECK(clft_generator_feed(g, ids, 4, got) == CLFT_STATUS_INVALID_ARGUMENT && clft_generator_length(g) == T,
             "%s: overflowing the context is refused", what);
    /* 2. prefix of 11, then one token at a time: every row */
    TU_OK(clft_generator_reset(g));
    const int k = T / 3;
    TU_OK(clft_generator_feed(g, ids, (size_t)k, got));
    snprintf(nm, sizeof nm, "%s prefill(%d)", what, k);
    row_close(nm, got, ref + (size_t)(k - 1) * (size_t)V, V);
    int bad = 0;
    for (int t = k; t < T; t++) {
        TU_OK(clft_generator_feed(g, ids + t, 1, got));
        snprintf(nm, sizeof nm, "%s decode t=%d", what, t);
        bad += !row_close(nm, got, ref + (size_t)t * (size_t)V, V);
        if (bad > 2) break;
    }
    clft_generator_free(g);
    /* 3. passes of 5 tokens (max_prefill) */
    gp.max_prefill = 5;
    TU_OK(clft_generator_create(m, &gp, &g));
    TU_OK(clft_generator_feed(g, ids, (size_t)T, got));
    snprintf(nm, sizeof nm, "%s prefill in passes of 5", what);
    row_close(nm, got, ref + (size_t)(T - 1) * (size_t)V, V);
    /* bad input */
    TU_OK(clft_generator_reset(g));
    int32_t bad_ids[2] = {3, (int32_t)V};
    TU_CHECK(clft_generator_feed(g, bad_ids, 2, got) == CLFT_STATUS_INVALID_ARGUMENT && clft_generator_length(g) == 0,
             "%s: an id outside the vocabulary is refused", what);
    TU_CHECK(clft_generator_feed(g, ids, 0, got) == CLFT_STATUS_INVALID_ARGUMENT, "%s: no tokens", what);
    clft_generator_free(g);
    free(ref);
    free(got);
    clft_model_free(m);
}

/* clft_generate with a byte-level tokenizer: greedy = the argmax chain, the stop rules. */
typedef struct collect {
    char buf[4096];
    size_t n;
    int stop_after;
    int calls;
} collect;
static int on_text(const char *p, size_t len, void *user) {
    collect *c = user;
    if (c->n + len < sizeof c->buf) {
        memcpy(c->buf + c->n, p, len);
        c->n += len;
        c->buf[c->n] = 0;
    }
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static void test_generate(clft_context *ctx, const char *scratch) {
    /* a clft init model folder with its byte-level tokenizer */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/tiny", scratch);
    clft_model_init_params ip = clft_model_init_default_params();
    ip.preset = "tiny";
    ip.seed = 3;
    TU_OK(clft_model_init_write(dir, &ip));
    clft_model_config cfg;
    TU_OK(clft_model_config_load(dir, &cfg));
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(dir, &tok));
    if (!tok) return;
    clft_train_params tp = clft_train_default_params(CLFT_METHOD_LORA);
    tp.inference = 1;
    tp.lora.targets = 0;
    clft_model *m = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, &m));
    TU_OK(clft_model_load_weights(m, dir));
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = 64;
    clft_generator *g = NULL;
    TU_OK(clft_generator_create(m, &gp, &g));
    if (!g) return;
    int32_t *prompt = NULL;
    size_t np = 0;
    TU_OK(clft_tokenize(tok, "Bees make honey", 15, 1, &prompt, &np));
    /* greedy: the argmax chain of the logits, step by step */
    const int64_t V = cfg.vocab_size;
    float *lg = malloc((size_t)V * 4);
    int32_t chain[20];
    TU_OK(clft_generator_feed(g, prompt, np, lg));
    for (int i = 0; i < 20; i++) {
        int32_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (lg[v] > lg[best]) best = (int32_t)v;
        chain[i] = best;
        TU_OK(clft_generator_feed(g, &best, 1, lg));
    }
    clft_generate_params p = clft_generate_default_params();
    p.sampling.temperature = 0;
    p.max_tokens = 20;
    p.ignore_eos = 1;
    clft_generate_result res;
    collect c;
    memset(&c, 0, sizeof c);
    TU_OK(clft_generate(g, tok, prompt, np, &p, on_text, &c, &res));
    TU_CHECK(res.generated_tokens == 20 && res.stop_reason == CLFT_STOP_MAX_TOKENS && res.prompt_tokens == (int64_t)np,
             "max_tokens: %lld generated, reason %d", (long long)res.generated_tokens, (int)res.stop_reason);
    TU_CHECK(res.ids && !memcmp(res.ids, chain, sizeof chain), "greedy generation is the argmax chain");
    char *dec = NULL;
    int32_t known[20]; /* ids past the tokenizer's vocabulary (the model's is padded) have no text */
    size_t nk = 0;
    for (int i = 0; res.ids && i < 20; i++)
        if (clft_tokenizer_id_to_token(tok, res.ids[i])) known[nk++] = res.ids[i];
    TU_OK(clft_detokenize(tok, known, nk, 1, &dec, NULL));
    TU_CHECK(dec && !strcmp(dec, res.text) && !strcmp(dec, c.buf), "the streamed text is the decoded ids: '%s' '%s'",
             res.text ? res.text : "", c.buf);
    clft_free(dec);
    /* the same again: deterministic */
    clft_generate_result res2;
    TU_OK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &res2));
    TU_CHECK(res2.ids && !memcmp(res2.ids, res.ids, 20 * 4), "greedy is deterministic");
    clft_generate_result_free(&res2);
    /* a stop id: the 5th token of the chain (its first occurrence) ends it, and is not in the text */
    int first = 4;
    for (int i = 0; i < 4; i++)
        if (chain[i] == chain[4]) first = i;
    p.stop_ids = &chain[4];
    p.n_stop_ids = 1;
    TU_OK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &res2));
    TU_CHECK(res2.stop_reason == CLFT_STOP_TOKEN && res2.generated_tokens == first + 1,
             "a stop id: reason %d after %lld tokens (expected %d)", (int)res2.stop_reason,
             (long long)res2.generated_tokens, first + 1);
    clft_generate_result_free(&res2);
    p.n_stop_ids = 0;
    /* the model's EOS stops unless ignore_eos: make the chain's 3rd token the EOS by config */
    p.ignore_eos = 0;
    TU_OK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &res2));
    int eos_at = -1;
    for (int i = 0; i < 20 && eos_at < 0; i++)
        for (int e = 0; e < cfg.n_eos; e++)
            if (chain[i] == cfg.eos_token_ids[e] || chain[i] == clft_tokenizer_eos_id(tok)) eos_at = i;
    TU_CHECK(eos_at < 0 ? res2.generated_tokens == 20 : res2.generated_tokens == eos_at + 1,
             "EOS: %lld tokens, EOS at %d", (long long)res2.generated_tokens, eos_at);
    clft_generate_result_free(&res2);
    p.ignore_eos = 1;
    /* a stop string: the first ASCII character of the generated text after its first byte */
    size_t at_i = 1;
    while (res.text && res.text[at_i] && ((unsigned char)res.text[at_i] >= 0x80 || res.text[at_i] < 0x20))
        at_i++;
    if (res.text && res.text[at_i]) {
        char stop[2] = {res.text[at_i], 0};
        const char *stops[1] = {stop};
        p.stop_strings = stops;
        p.n_stop_strings = 1;
        memset(&c, 0, sizeof c);
        TU_OK(clft_generate(g, tok, prompt, np, &p, on_text, &c, &res2));
        const char *at = strstr(res.text, stop);
        TU_CHECK(res2.stop_reason == CLFT_STOP_STRING && at && strlen(res2.text) == (size_t)(at - res.text) &&
                     !strncmp(res2.text, res.text, strlen(res2.text)) && !strcmp(c.buf, res2.text),
                 "a stop string '%s': reason %d, text '%s'", stop, (int)res2.stop_reason, res2.text);
        clft_generate_result_free(&res2);
        p.n_stop_strings = 0;
    }
    /* the callback stops it */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    TU_OK(clft_generate(g, tok, prompt, np, &p, on_text, &c, &res2));
    TU_CHECK(res2.stop_reason == CLFT_STOP_CALLBACK && c.calls == 2, "callback stop: reason %d, %d calls",
             (int)res2.stop_reason, c.calls);
    clft_generate_result_free(&res2);
    /* the context fills up: 64 tokens in all */
    p.max_tokens = 1000;
    TU_OK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &res2));
    TU_CHECK(res2.stop_reason == CLFT_STOP_CONTEXT && res2.generated_tokens == 64 - (int64_t)np + 1,
             "context full: reason %d after %lld tokens", (int)res2.stop_reason, (long long)res2.generated_tokens);
    clft_generate_result_free(&res2);
    /* bad input: a prompt as long as the context, max_tokens 0, a negative temperature */
    int32_t longp[64];
    fill_ids(longp, 64, V, 8);
    TU_CHECK(clft_generate(g, tok, longp, 64, &p, NULL, NULL, &res2) == CLFT_STATUS_INVALID_ARGUMENT &&
                 strstr(clft_last_error(), "context"),
             "a prompt that fills the context is refused: %s", clft_last_error());
    p.max_tokens = 0;
    TU_CHECK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &res2) == CLFT_STATUS_INVALID_ARGUMENT,
             "max_tokens 0 is refused");
    p.max_tokens = 5;
    p.sampling.temperature = -1;
    TU_CHECK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &res2) == CLFT_STATUS_INVALID_ARGUMENT,
             "a negative temperature is refused");
    /* sampling: reproducible for a seed */
    p.sampling = clft_sampling_default_params();
    p.sampling.seed = 7;
    clft_generate_result a, b;
    TU_OK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &a));
    TU_OK(clft_generate(g, tok, prompt, np, &p, NULL, NULL, &b));
    TU_CHECK(a.ids && b.ids && a.generated_tokens == b.generated_tokens &&
                 !memcmp(a.ids, b.ids, (size_t)a.generated_tokens * 4),
             "sampling with a seed is reproducible");
    clft_generate_result_free(&a);
    clft_generate_result_free(&b);
    clft_generate_result_free(&res);
    clft_free(prompt);
    free(lg);
    clft_generator_free(g);
    clft_model_free(m);
    clft_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    const char *scratch = tu_scratch_dir(argc > 1 ? argv[1] : "scratch", "gen");
    static const shape shapes[] = {
        {"llama gqa3", CLFT_ARCH_LLAMA, 72, 136, 2, 6, 2, 131, 0, 0, 0},
        {"mistral window5 tied", CLFT_ARCH_MISTRAL, 80, 160, 2, 5, 5, 131, 5, 1, 0},
        {"qwen2 bias gqa2", CLFT_ARCH_QWEN2, 96, 200, 2, 6, 3, 131, 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        test_shape(ctx, &shapes[i], CLFT_METHOD_FULL, CLFT_DTYPE_F32);
        test_shape(ctx, &shapes[i], CLFT_METHOD_LORA, CLFT_DTYPE_F32);
        test_shape(ctx, &shapes[i], CLFT_METHOD_QLORA, CLFT_DTYPE_NF4);
        if (i == 0) test_shape(ctx, &shapes[i], CLFT_METHOD_LORA, CLFT_DTYPE_BF16);
    }
    if (scratch) test_generate(ctx, scratch);
    tu_scratch_done(scratch);
    clft_context_free(ctx);
    return tu_finish("test_generator");
}
