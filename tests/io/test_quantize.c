/* test_quantize.c - `clft quantize` against bitsandbytes itself, and loading model folders into the
 * training model: the fixtures in data/ were written by tests/reference/bnb_checkpoint_reference.py
 * with bitsandbytes 0.50.2 from the folders `clft init --preset tiny --seed 1` writes (bf16, f32);
 * every 4-bit tensor must match byte for byte. Then the folders are loaded into QLoRA (4-bit codes
 * uploaded as they are, or quantized while loading), LoRA and full models, and bad folders fail
 * with errors that name the tensor. usage: test_quantize DATA_DIR SCRATCH_DIR */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "tutil.h"

static const char *scratch;

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", scratch, name); }

static void compare_with_bnb(const char *fixture, const char *qdir, const char *srcdir) {
    clft_safetensors *ref = NULL, *got = NULL, *src = NULL;
    TU_OK(clft_st_open(fixture, &ref));
    TU_OK(clft_st_open(qdir, &got));
    TU_OK(clft_st_open(srcdir, &src));
    if (!ref || !got || !src) return;
    size_t same = 0;
    for (size_t i = 0; i < clft_st_count(ref); i++) {
        const clft_st_tensor *r = clft_st_at(ref, i), *g = clft_st_find(got, r->name);
        TU_CHECK(g != NULL, "tensor %s missing from clft quantize output", r->name);
        if (!g) continue;
        int ok = g->dtype == r->dtype && g->ndim == r->ndim && g->bytes == r->bytes &&
                 !memcmp(g->shape, r->shape, sizeof g->shape) && !memcmp(g->data, r->data, r->bytes);
        TU_CHECK(ok, "%s differs from bitsandbytes (dtype %s/%s, %zu/%zu bytes)", r->name, clft_st_dtype_name(g->dtype),
                 clft_st_dtype_name(r->dtype), g->bytes, r->bytes);
        same += ok;
    }
    TU_CHECK(same == 84, "%zu of 84 bitsandbytes tensors identical", same);
    /* everything that is not a projection is copied unchanged */
    for (size_t i = 0; i < clft_st_count(src); i++) {
        const clft_st_tensor *s = clft_st_at(src, i);
        if (clft_st_find(ref, s->name)) continue;
        const clft_st_tensor *g = clft_st_find(got, s->name);
        TU_CHECK(g && g->dtype == s->dtype && g->bytes == s->bytes && !memcmp(g->data, s->data, s->bytes),
                 "%s copied unchanged", s->name);
    }
    TU_CHECK(clft_st_count(got) == clft_st_count(ref) + clft_st_count(src) - 14, "tensor count %zu",
             clft_st_count(got));
    clft_safetensors_free(ref);
    clft_safetensors_free(got);
    clft_safetensors_free(src);
}

static float *weight(clft_model *m, const char *name, int64_t n) {
    float *w = malloc((size_t)n * 4);
    TU_OK(clft_model_get_weight(m, name, w, n));
    return w;
}

static clft_model *load(clft_context *ctx, const clft_model_config *cfg, clft_method method, const char *dir) {
    clft_train_params tp = clft_train_default_params(method);
    tp.batch = 1;
    tp.seq_len = 8;
    clft_model *m = NULL;
    TU_OK(clft_model_create(ctx, cfg, &tp, &m));
    if (m) TU_OK(clft_model_load_weights(m, dir));
    return m;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    tu_init_seed();
    scratch = tu_scratch_dir(argv[2], "quantize");
    if (!scratch) return 1;
    char src_bf16[4200], src_f32[4200], q_bf16[4200], q_f32[4200], fix[4200];
    path_of(src_bf16, sizeof src_bf16, "tiny-bf16");
    path_of(src_f32, sizeof src_f32, "tiny-f32");
    path_of(q_bf16, sizeof q_bf16, "tiny-bf16-nf4");
    path_of(q_f32, sizeof q_f32, "tiny-f32-nf4");
    clft_model_init_params ip = clft_model_init_default_params();
    ip.preset = "tiny";
    ip.seed = 1;
    ip.dtype = CLFT_DTYPE_BF16;
    ip.threads = 1;
    TU_OK(clft_model_init_write(src_bf16, &ip));
    ip.dtype = CLFT_DTYPE_F32;
    TU_OK(clft_model_init_write(src_f32, &ip));
    clft_quantize_params qp = clft_quantize_default_params();
    TU_OK(clft_model_quantize(src_bf16, q_bf16, &qp));
    TU_OK(clft_model_quantize(src_f32, q_f32, &qp));
    snprintf(fix, sizeof fix, "%s/bnb_tiny_bf16_nf4.safetensors", argv[1]);
    compare_with_bnb(fix, q_bf16, src_bf16);
    snprintf(fix, sizeof fix, "%s/bnb_tiny_f32_nf4.safetensors", argv[1]);
    compare_with_bnb(fix, q_f32, src_f32);
    /* config.json carries quantization_config; bad uses refused */
    clft_model_config cfg;
    TU_OK(clft_model_config_load(q_bf16, &cfg));
    TU_CHECK(cfg.has_quantization_config && !strcmp(cfg.quant_method, "bitsandbytes"), "quantization_config block");
    TU_CHECK(clft_model_quantize(q_bf16, src_f32, &qp) != CLFT_OK, "an already quantized model is refused");
    TU_CHECK(clft_model_quantize(src_bf16, q_bf16, &qp) == CLFT_STATUS_INVALID_ARGUMENT &&
                 strstr(clft_last_error(), "not empty"),
             "existing output refused: %s", clft_last_error());
    qp.force = 1;
    TU_OK(clft_model_quantize(src_bf16, q_bf16, &qp));

    /* loading into models */
    clft_context *ctx = tu_context();
    TU_OK(clft_model_config_load(src_bf16, &cfg));
    clft_model *qd = load(ctx, &cfg, CLFT_METHOD_QLORA, q_bf16);   /* 4-bit codes as they are */
    clft_model *qs = load(ctx, &cfg, CLFT_METHOD_QLORA, src_bf16); /* quantized while loading */
    clft_model *ld = load(ctx, &cfg, CLFT_METHOD_LORA, q_bf16);    /* dequantized to f32 */
    clft_model *fl = load(ctx, &cfg, CLFT_METHOD_FULL, src_bf16);  /* bf16 -> f32 */
    clft_safetensors *st = NULL;
    TU_OK(clft_st_open(src_bf16, &st));
    const char *names[] = {"model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.k_proj.weight"};
    for (int i = 0; i < 2 && qd && qs && ld && fl && st; i++) {
        const clft_st_tensor *t = clft_st_find(st, names[i]);
        float *ref = malloc((size_t)t->numel * 4);
        TU_OK(clft_st_to_f32(st, t, ref));
        float *a = weight(qd, names[i], t->numel), *b = weight(qs, names[i], t->numel),
              *c = weight(ld, names[i], t->numel), *d = weight(fl, names[i], t->numel);
        TU_CHECK(!memcmp(a, b, (size_t)t->numel * 4), "%s: loaded 4-bit codes == quantized while loading", names[i]);
        TU_CHECK(!memcmp(a, c, (size_t)t->numel * 4), "%s: LoRA model holds the dequantized 4-bit weight", names[i]);
        TU_CHECK(!memcmp(d, ref, (size_t)t->numel * 4), "%s: full model holds the bf16 weight exactly", names[i]);
        tu_close(names[i], a, ref, (size_t)t->numel, 0.1, 0.2, 2e-2); /* NF4 error is bounded, not small */
        free(ref), free(a), free(b), free(c), free(d);
    }
    float *e1 = weight(qd, "model.embed_tokens.weight", cfg.vocab_size * cfg.hidden_size);
    const clft_st_tensor *et = clft_st_find(st, "model.embed_tokens.weight");
    float *e2 = malloc((size_t)et->numel * 4);
    TU_OK(clft_st_to_f32(st, et, e2));
    TU_CHECK(!memcmp(e1, e2, (size_t)et->numel * 4), "embeddings keep their values");
    free(e1), free(e2);
    /* a folder that lacks a tensor: the error names it */
    {
        char bad[4200];
        path_of(bad, sizeof bad, "missing");
        mkdir(bad, 0755);
        clft_st_out_tensor *out = calloc(clft_st_count(st), sizeof *out);
        size_t n = 0;
        for (size_t i = 0; i < clft_st_count(st); i++) {
            const clft_st_tensor *t = clft_st_at(st, i);
            if (!strcmp(t->name, "model.layers.1.mlp.up_proj.weight")) continue;
            out[n].name = t->name;
            out[n].dtype = t->dtype;
            out[n].ndim = t->ndim;
            memcpy(out[n].shape, t->shape, sizeof out[n].shape);
            out[n].data = t->data;
            n++;
        }
        char file[4300];
        snprintf(file, sizeof file, "%s/model.safetensors", bad);
        TU_OK(clft_st_write_file(file, out, n, NULL, 0, NULL, NULL));
        free(out);
        clft_status s = clft_model_load_weights(qs, file);
        TU_CHECK(s == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "model.layers.1.mlp.up_proj.weight"),
                 "missing tensor named: %s", clft_last_error());
    }
    clft_safetensors_free(st);
    clft_model_free(qd);
    clft_model_free(qs);
    clft_model_free(ld);
    clft_model_free(fl);
    clft_context_free(ctx);
    tu_scratch_done(scratch);
    return tu_finish("test_quantize");
}
