/* state.c - save and restore of the whole training state in a checkpoint folder (src/io/checkpoint.h):
 *   trainer.json        format, optimizer step, bad-step count, and what the state belongs to (model
 *                       shape, method, storage, LoRA rank / alpha / targets / rsLoRA, seeds)
 *   params.safetensors  every trainable tensor by name (HF names, or PEFT's for adapters) with its
 *                       AdamW moments ("adamw_m.NAME", "adamw_v.NAME"), f32
 *   user.json           the caller's own state (data position, schedule, settings), opaque here
 *   gemm-paths.txt      the GEMM path per shape class the run used (put back on load: the same
 *                       rounding, so a resumed run's losses are bit for bit those of one run)
 *   adapter_config.json, adapter_model.safetensors  (LoRA/QLoRA) the adapters as a PEFT adapter, stored
 *                       uncompressed so that PEFT and clft's --adapter load the checkpoint folder
 * Dropout masks are a function of (seed, step, micro-batch, projection), so restoring the step
 * restores them. A checkpoint written for another model, method or rank is refused, saying what
 * differs. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "model/model.h"

#define STATE_FORMAT "clft-trainer-state-1"

/* ---- identity --------------------------------------------------------------------------------- */

static void identity_json(const clft_model *m, clft_sbuf *b) {
    const clft_model_config *c = &m->cfg;
    const clft_train_params *t = &m->tp;
    clft_sbuf_printf(b,
                     "\"model\": {\"arch\": \"%s\", \"vocab_size\": %lld, \"hidden_size\": %lld, "
                     "\"intermediate_size\": %lld, \"num_layers\": %lld, \"num_heads\": %lld, \"num_kv_heads\": %lld, "
                     "\"head_dim\": %lld, \"tied\": %d, \"qkv_bias\": %d},\n",
                     clft_arch_name(c->arch), (long long)c->vocab_size, (long long)c->hidden_size,
                     (long long)c->intermediate_size, (long long)c->num_layers, (long long)c->num_heads,
                     (long long)c->num_kv_heads, (long long)c->head_dim, c->tie_word_embeddings, c->qkv_bias);
    clft_sbuf_printf(b, "  \"method\": \"%s\",\n  \"base_dtype\": \"%s\",\n", clft_method_name(t->method),
                     t->method == CLFT_METHOD_FULL ? "f32" : clft_dtype_name(t->base_dtype));
    if (t->method != CLFT_METHOD_FULL)
        clft_sbuf_printf(
            b, "  \"lora\": {\"r\": %d, \"alpha\": %.9g, \"targets\": %u, \"rslora\": %d, \"dropout\": %.9g},\n",
            t->lora.r, (double)t->lora.alpha, t->lora.targets, t->lora.use_rslora, (double)t->lora.dropout);
    if (t->method == CLFT_METHOD_QLORA)
        clft_sbuf_printf(b, "  \"qlora\": {\"blocksize\": %d, \"double_quant\": %d},\n", t->qlora_blocksize,
                         t->qlora_double_quant);
    clft_sbuf_printf(b, "  \"seed\": %llu,\n", (unsigned long long)t->seed);
}

static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* CLFT_OK when the saved identity is this model's; else the first difference. */
static clft_status identity_check(const clft_model *m, const cJSON *root, const char *dir) {
    const clft_model_config *c = &m->cfg;
    const clft_train_params *t = &m->tp;
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (strcmp(jstr(mo, "arch"), clft_arch_name(c->arch)) || jnum(mo, "vocab_size", -1) != (double)c->vocab_size ||
        jnum(mo, "hidden_size", -1) != (double)c->hidden_size ||
        jnum(mo, "intermediate_size", -1) != (double)c->intermediate_size ||
        jnum(mo, "num_layers", -1) != (double)c->num_layers || jnum(mo, "num_heads", -1) != (double)c->num_heads ||
        jnum(mo, "num_kv_heads", -1) != (double)c->num_kv_heads || jnum(mo, "head_dim", -1) != (double)c->head_dim ||
        jnum(mo, "tied", -1) != (double)c->tie_word_embeddings)
        return clft_error(
            CLFT_STATUS_SHAPE_MISMATCH,
            "%s: written for another model (%s, hidden %g, %g layers, vocab %g); this run trains %s, hidden "
            "%lld, %lld layers, vocab %lld",
            dir, jstr(mo, "arch"), jnum(mo, "hidden_size", -1), jnum(mo, "num_layers", -1), jnum(mo, "vocab_size", -1),
            clft_arch_name(c->arch), (long long)c->hidden_size, (long long)c->num_layers, (long long)c->vocab_size);
    if (strcmp(jstr(root, "method"), clft_method_name(t->method)))
        return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: written for method %s; this run uses %s", dir,
                          jstr(root, "method"), clft_method_name(t->method));
    if (t->method != CLFT_METHOD_FULL) {
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(root, "lora");
        if (jnum(lo, "r", -1) != (double)t->lora.r)
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: written for LoRA rank %g; this run uses rank %d", dir,
                              jnum(lo, "r", -1), t->lora.r);
        if (jnum(lo, "targets", -1) != (double)t->lora.targets)
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                              "%s: written for LoRA targets 0x%x; this run adapts 0x%x (--targets differs)", dir,
                              (unsigned)jnum(lo, "targets", 0), t->lora.targets);
        if ((float)jnum(lo, "alpha", -1) != t->lora.alpha || jnum(lo, "rslora", -1) != (double)t->lora.use_rslora)
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: written with LoRA alpha %g%s; this run uses alpha %g%s",
                              dir, jnum(lo, "alpha", -1), jnum(lo, "rslora", 0) ? " (rsLoRA)" : "",
                              (double)t->lora.alpha, t->lora.use_rslora ? " (rsLoRA)" : "");
        if (strcmp(jstr(root, "base_dtype"), clft_dtype_name(t->base_dtype)))
            return clft_error(CLFT_STATUS_SHAPE_MISMATCH, "%s: written for a %s base; this run stores it as %s", dir,
                              jstr(root, "base_dtype"), clft_dtype_name(t->base_dtype));
    }
    return CLFT_OK;
}

/* ---- saving ----------------------------------------------------------------------------------- */

typedef struct save_ctx {
    clft_st_out_tensor *t;
    float **host;
    char (*names)[200];
    size_t n, cap;
    clft_status st;
} save_ctx;

static clft_status count_param(clft_model *m, clft_param *p, const char *name, void *user) {
    (void)m, (void)p, (void)name;
    *(size_t *)user += 1;
    return CLFT_OK;
}

static clft_status gather_param(clft_model *m, clft_param *p, const char *name, void *user) {
    save_ctx *s = user;
    const clft_buf *bufs[3] = {&p->w, &p->m, &p->v};
    const char *prefix[3] = {"", "adamw_m.", "adamw_v."};
    for (int i = 0; i < 3; i++) {
        if (s->n == s->cap) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "trainer save: parameter count changed");
        float *h = malloc((size_t)p->n * 4 + 4);
        if (!h) return clft_error(CLFT_STATUS_HOST_OOM, "trainer save: out of host memory for %s", name);
        s->host[s->n] = h;
        CLFT_CHECK(clft_buf_read(m->ctx, bufs[i], 0, h, (size_t)p->n * 4));
        snprintf(s->names[s->n], sizeof s->names[0], "%s%s", prefix[i], name);
        clft_st_out_tensor *t = &s->t[s->n];
        memset(t, 0, sizeof *t);
        t->name = s->names[s->n];
        t->dtype = CLFT_ST_F32;
        t->ndim = 1;
        t->shape[0] = p->n;
        t->data = h;
        s->n++;
    }
    return CLFT_OK;
}

clft_status clft_trainer_save(clft_trainer *tr, const char *dir, const char *user_json) {
    if (!tr || !dir) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_save: NULL argument");
    clft_model *m = clft_trainer_model_of(tr);
    size_t np = 0;
    CLFT_CHECK(clft_model_each_param_named(m, count_param, &np));
    save_ctx s;
    memset(&s, 0, sizeof s);
    s.cap = 3 * np;
    s.t = calloc(s.cap + 1, sizeof *s.t);
    s.host = calloc(s.cap + 1, sizeof *s.host);
    s.names = calloc(s.cap + 1, sizeof *s.names);
    clft_status st =
        s.t && s.host && s.names ? CLFT_OK : clft_error(CLFT_STATUS_HOST_OOM, "trainer save: out of memory");
    if (st == CLFT_OK) st = clft_model_each_param_named(m, gather_param, &s);
    if (st == CLFT_OK) st = clft_context_finish(m->ctx);
    void *img = NULL;
    size_t img_len = 0;
    if (st == CLFT_OK) st = clft_st_build_image(s.t, s.n, NULL, 0, &img, &img_len);
    for (size_t i = 0; i < s.n; i++)
        free(s.host[i]);
    free(s.t), free(s.host), free(s.names);
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_printf(&b, "{\n  \"format\": \"%s\",\n  \"step\": %lld,\n  \"bad_steps\": %d,\n  \"tensors\": %zu,\n  ",
                     STATE_FORMAT, (long long)m->step, m->bad_steps, np);
    identity_json(m, &b);
    clft_sbuf_printf(&b, "  \"library\": \"%s\"\n}\n", clft_version_string());
    if (st == CLFT_OK) st = clft_sbuf_status(&b);
    clft_ckpt_writer *w = NULL;
    if (st == CLFT_OK) st = clft_ckpt_begin(dir, &w);
    if (st == CLFT_OK) st = clft_ckpt_add(w, "trainer.json", b.data, b.len);
    if (st == CLFT_OK) st = clft_ckpt_add(w, "params.safetensors", img, img_len);
    if (st == CLFT_OK && user_json) st = clft_ckpt_add(w, "user.json", user_json, strlen(user_json));
    /* the GEMM path of every shape class this run has used: a resumed run rounds as this one did */
    char *paths = st == CLFT_OK ? clft_gemm_decisions_export(m->ctx) : NULL;
    if (st == CLFT_OK && !paths) st = clft_error(CLFT_STATUS_HOST_OOM, "trainer save: GEMM decisions");
    if (st == CLFT_OK) st = clft_ckpt_add(w, "gemm-paths.txt", paths, strlen(paths));
    free(paths);
    /* the adapters of this step as a PEFT adapter, stored as is: PeftModel.from_pretrained(base,
     * checkpoint-STEP), clft generate/eval/export --adapter checkpoint-STEP */
    if (st == CLFT_OK && m->tp.method != CLFT_METHOD_FULL) st = clft_model_save_adapter(m, clft_ckpt_tmpdir(w));
    if (st == CLFT_OK && m->tp.method != CLFT_METHOD_FULL) st = clft_ckpt_adopt(w, "adapter_config.json");
    if (st == CLFT_OK && m->tp.method != CLFT_METHOD_FULL) st = clft_ckpt_adopt(w, "adapter_model.safetensors");
    free(img);
    clft_sbuf_free(&b);
    if (st == CLFT_OK) return clft_ckpt_commit(w);
    clft_ckpt_abort(w);
    return st;
}

/* ---- loading ---------------------------------------------------------------------------------- */

typedef struct load_ctx {
    clft_safetensors *st;
    const char *dir;
} load_ctx;

static clft_status restore_param(clft_model *m, clft_param *p, const char *name, void *user) {
    load_ctx *l = user;
    clft_buf *bufs[3] = {&p->w, &p->m, &p->v};
    const char *prefix[3] = {"", "adamw_m.", "adamw_v."};
    for (int i = 0; i < 3; i++) {
        char key[220];
        snprintf(key, sizeof key, "%s%s", prefix[i], name);
        const clft_st_tensor *t = clft_st_find(l->st, key);
        if (!t || t->dtype != CLFT_ST_F32 || t->numel != p->n)
            return clft_error(CLFT_STATUS_FORMAT, "%s: params.safetensors: %s %s (expected %lld f32 values)", l->dir,
                              key, t ? "has another size or type" : "is missing", (long long)p->n);
        CLFT_CHECK(clft_buf_write(m->ctx, bufs[i], 0, t->data, (size_t)p->n * 4));
    }
    return CLFT_OK;
}

clft_status clft_trainer_load(clft_trainer *tr, const char *dir, char **user_json) {
    if (user_json) *user_json = NULL;
    if (!tr || !dir) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_trainer_load: NULL argument");
    clft_model *m = clft_trainer_model_of(tr);
    CLFT_CHECK(clft_checkpoint_verify(dir));
    void *js = NULL;
    size_t jl = 0;
    CLFT_CHECK(clft_ckpt_read(dir, "trainer.json", &js, &jl));
    cJSON *root = cJSON_ParseWithLength(js, jl);
    free(js);
    clft_status st = CLFT_OK;
    if (!root || strcmp(jstr(root, "format"), STATE_FORMAT))
        st = clft_error(CLFT_STATUS_FORMAT, "%s: trainer.json is not a clft training state (%s)", dir,
                        root ? jstr(root, "format") : "not JSON");
    if (st == CLFT_OK) st = identity_check(m, root, dir);
    const int64_t step = (int64_t)jnum(root, "step", -1);
    const int bad = (int)jnum(root, "bad_steps", 0);
    cJSON_Delete(root);
    if (st == CLFT_OK && step < 0) st = clft_error(CLFT_STATUS_FORMAT, "%s: trainer.json has no step", dir);
    void *img = NULL;
    size_t il = 0;
    if (st == CLFT_OK) st = clft_ckpt_read(dir, "params.safetensors", &img, &il);
    load_ctx l = {NULL, dir};
    if (st == CLFT_OK) st = clft_st_open_memory("params.safetensors", img, il, &l.st);
    if (st == CLFT_OK) st = clft_model_each_param_named(m, restore_param, &l);
    if (st == CLFT_OK) st = clft_context_finish(m->ctx);
    clft_safetensors_free(l.st);
    free(img);
    if (st != CLFT_OK) return st;
    if (clft_ckpt_has(dir, "gemm-paths.txt")) {
        void *paths = NULL;
        CLFT_CHECK(clft_ckpt_read(dir, "gemm-paths.txt", &paths, NULL));
        st = clft_gemm_decisions_import(m->ctx, paths);
        free(paths);
        CLFT_CHECK(st);
    }
    m->step = step;
    m->bad_steps = bad;
    if (user_json && clft_ckpt_has(dir, "user.json")) {
        void *u = NULL;
        CLFT_CHECK(clft_ckpt_read(dir, "user.json", &u, NULL));
        *user_json = u;
    }
    return CLFT_OK;
}
