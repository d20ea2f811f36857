/* test_state.c - clft_trainer_save / clft_trainer_load: N steps in one go give bit for bit the same
 * losses and weights as K steps, save, a fresh model + trainer, load, N-K steps (full, LoRA with
 * dropout, QLoRA); the caller's JSON comes back; a state of another rank / method / model and a
 * damaged checkpoint are refused with the reason; GEMM path decisions changed by another process
 * before the load are put back to the saved run's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "tutil.h"

#define STEPS 6
#define SPLIT 2

static void batch(int step, int B, int T, int V, int32_t *ids, int32_t *labels) {
    tu_rng r = tu_rng_make(1000 + (uint64_t)step);
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)(tu_next(&r) % (uint64_t)V);
        labels[i] = (i % T) < 2 ? -100 : ids[i];
    }
}

static clft_model_config config(void) {
    clft_model_config cfg;
    clft_model_config_defaults(CLFT_ARCH_LLAMA, &cfg);
    cfg.vocab_size = 97;
    cfg.hidden_size = 40;
    cfg.intermediate_size = 72;
    cfg.num_layers = 2;
    cfg.num_heads = 4;
    cfg.num_kv_heads = 2;
    cfg.head_dim = 10;
    return cfg;
}

static clft_train_params params(clft_method method, int r) {
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = 2;
    tp.seq_len = 9;
    tp.lr = 3e-3f;
    tp.lora.r = r;
    tp.lora.dropout = method == CLFT_METHOD_LORA ? 0.1f : 0.0f;
    tp.weight_decay = 0.01f;
    return tp;
}

static int make(clft_context *ctx, clft_method method, int r, clft_model **m, clft_trainer **tr) {
    clft_model_config cfg = config();
    clft_train_params tp = params(method, r);
    *m = NULL;
    *tr = NULL;
    TU_OK(clft_model_create(ctx, &cfg, &tp, m));
    if (!*m) return 0;
    TU_OK(clft_model_init_random(*m, 5, 0.05f));
    TU_OK(clft_trainer_create(*m, tr));
    return *tr != NULL;
}

static void run(clft_context *ctx, clft_method method, const char *dir) {
    int32_t ids[18], labels[18];
    double a[STEPS], b[STEPS];
    clft_model *m = NULL, *m2 = NULL;
    clft_trainer *tr = NULL, *tr2 = NULL;
    /* uninterrupted */
    if (!make(ctx, method, 4, &m, &tr)) return;
    for (int s = 0; s < STEPS; s++) {
        clft_step_stats st;
        batch(s, 2, 9, 97, ids, labels);
        TU_OK(clft_trainer_step(tr, ids, labels, &st));
        a[s] = st.loss;
    }
    float wa[40], wb[40];
    const char *probe = method == CLFT_METHOD_FULL ? "model.norm.weight" : NULL;
    if (probe) TU_OK(clft_model_get_weight(m, probe, wa, 40));
    float Aa[4 * 40], Ab[4 * 40];
    if (!probe) TU_OK(clft_model_lora_get(m, 1, CLFT_LORA_V, Aa, NULL));
    clft_trainer_free(tr);
    clft_model_free(m);
    /* K steps, save, new trainer, load, the rest */
    if (!make(ctx, method, 4, &m, &tr)) return;
    for (int s = 0; s < SPLIT; s++) {
        clft_step_stats st;
        batch(s, 2, 9, 97, ids, labels);
        TU_OK(clft_trainer_step(tr, ids, labels, &st));
        b[s] = st.loss;
    }
    TU_OK(clft_trainer_save(tr, dir, "{\"data_index\": 2}"));
    if (method != CLFT_METHOD_FULL) { /* the checkpoint is a PEFT adapter folder too, with this step's adapters */
        float As[4 * 40] = {0}, Bs[20 * 4] = {0}, Ar[4 * 40] = {0}, Br[20 * 4] = {0}; /* v_proj: (4,40), (20,4) */
        TU_OK(clft_model_lora_get(m, 1, CLFT_LORA_V, As, Bs));
        clft_adapter_info ai;
        TU_OK(clft_adapter_info_read(dir, &ai));
        TU_CHECK(ai.from_clft && ai.method == method && ai.lora.r == 4, "checkpoint adapter: method %d r %d",
                 (int)ai.method, ai.lora.r);
        clft_model *m3 = NULL;
        clft_trainer *tr3 = NULL;
        if (make(ctx, method, 4, &m3, &tr3)) {
            TU_OK(clft_model_load_adapter(m3, dir));
            TU_OK(clft_model_lora_get(m3, 1, CLFT_LORA_V, Ar, Br));
            TU_CHECK(!memcmp(As, Ar, sizeof As) && !memcmp(Bs, Br, sizeof Bs),
                     "%s: the checkpoint's PEFT adapter holds the step's adapters", clft_method_name(method));
            clft_trainer_free(tr3);
            clft_model_free(m3);
        }
        TU_OK(clft_checkpoint_verify(dir));
    }
    clft_trainer_free(tr);
    clft_model_free(m);
    if (!make(ctx, method, 4, &m2, &tr2)) return;
    /* another process may have decided other GEMM paths meanwhile: flip every decision (tiled <->
     * clblast, fused -> tiled); the load must put the saved run's paths back */
    char *dec = clft_gemm_decisions_export(ctx), *flip = malloc(dec ? strlen(dec) * 2 + 16 : 16);
    flip[0] = 0;
    int nflip = 0;
    for (char *line = dec ? strtok(dec, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char key[96], path[32];
        if (sscanf(line, "%95s %31s", key, path) != 2) continue;
        sprintf(flip + strlen(flip), "%s %s\n", key, !strcmp(path, "tiled") ? "clblast" : "tiled");
        nflip++;
    }
    TU_CHECK(nflip > 0, "the run took GEMM decisions (%d)", nflip);
    TU_OK(clft_gemm_decisions_import(ctx, flip));
    free(dec);
    free(flip);
    char *user = NULL;
    TU_OK(clft_trainer_load(tr2, dir, &user));
    TU_CHECK(user && !strcmp(user, "{\"data_index\": 2}"), "user JSON back: %s", user ? user : "(null)");
    clft_free(user);
    for (int s = SPLIT; s < STEPS; s++) {
        clft_step_stats st;
        batch(s, 2, 9, 97, ids, labels);
        TU_OK(clft_trainer_step(tr2, ids, labels, &st));
        b[s] = st.loss;
        TU_CHECK(st.step == s + 1, "step counter after resume: %lld", (long long)st.step);
    }
    for (int s = 0; s < STEPS; s++)
        TU_CHECK(memcmp(&a[s], &b[s], sizeof a[s]) == 0, "%s step %d: loss %.17g uninterrupted, %.17g resumed",
                 clft_method_name(method), s, a[s], b[s]);
    if (probe) {
        TU_OK(clft_model_get_weight(m2, probe, wb, 40));
        TU_CHECK(!memcmp(wa, wb, sizeof wa), "%s: weights after resume differ", clft_method_name(method));
    } else {
        TU_OK(clft_model_lora_get(m2, 1, CLFT_LORA_V, Ab, NULL));
        TU_CHECK(!memcmp(Aa, Ab, sizeof Aa), "%s: adapters after resume differ", clft_method_name(method));
    }
    clft_trainer_free(tr2);
    clft_model_free(m2);
    /* refusals */
    if (method == CLFT_METHOD_LORA) {
        if (make(ctx, CLFT_METHOD_LORA, 8, &m, &tr)) {
            TU_CHECK(clft_trainer_load(tr, dir, NULL) == CLFT_STATUS_SHAPE_MISMATCH &&
                         strstr(clft_last_error(), "rank 4") && strstr(clft_last_error(), "rank 8"),
                     "other rank refused: %s", clft_last_error());
            clft_trainer_free(tr);
            clft_model_free(m);
        }
        if (make(ctx, CLFT_METHOD_FULL, 4, &m, &tr)) {
            TU_CHECK(clft_trainer_load(tr, dir, NULL) == CLFT_STATUS_SHAPE_MISMATCH &&
                         strstr(clft_last_error(), "method"),
                     "other method refused: %s", clft_last_error());
            clft_trainer_free(tr);
            clft_model_free(m);
        }
        char p[4400];
        snprintf(p, sizeof p, "%s/params.safetensors.zst", dir);
        FILE *f = fopen(p, "r+b");
        if (f) {
            fseek(f, 40, SEEK_SET);
            fputc(0x5a, f);
            fputc(0xa5, f);
            fclose(f);
        }
        if (make(ctx, CLFT_METHOD_LORA, 4, &m, &tr)) {
            clft_status st = clft_trainer_load(tr, dir, NULL);
            TU_CHECK(st != CLFT_OK && strstr(clft_last_error(), "damaged"), "damaged checkpoint refused: %s",
                     clft_last_error());
            clft_trainer_free(tr);
            clft_model_free(m);
        }
    }
}

int main(void) {
    tu_init_seed();
    clft_context *ctx = tu_context();
    const char *root = tu_scratch_dir("state_tmp", "run");
    if (!root) return 1;
    const clft_method methods[3] = {CLFT_METHOD_FULL, CLFT_METHOD_LORA, CLFT_METHOD_QLORA};
    for (int i = 0; i < 3; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/checkpoint-%d", root, i);
        run(ctx, methods[i], dir);
    }
    clft_context_free(ctx);
    tu_scratch_done(root);
    return tu_finish("test_state");
}
