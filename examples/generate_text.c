/* generate_text.c - the smallest complete use of the clft generation API: a Hugging Face model folder
 * (and optionally a PEFT adapter, run on the storage it was trained with), a KV-cache generator, and
 * greedy text streamed to stdout as it is made.
 *   generate_text MODEL_DIR [ADAPTER_DIR] [--prompt TEXT] [--tokens N] [--device SPEC] */
#include <clft.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, clft_status st) {
    fprintf(stderr, "generate_text: %s: %s: %s\n", what, clft_status_string(st), clft_last_error());
    return 1;
}

/* each new piece of text, whole UTF-8 characters */
static int print_piece(const char *piece, size_t len, void *user) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* nonzero would stop the generation */
}

int main(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *prompt = "The honey bee", *device = NULL;
    int tokens = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--prompt") && i + 1 < argc)
            prompt = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!model)
            model = argv[i];
        else if (!adapter)
            adapter = argv[i];
        else {
            fprintf(stderr,
                    "usage: generate_text MODEL_DIR [ADAPTER_DIR] [--prompt TEXT] [--tokens N] [--device SPEC]\n");
            return 2;
        }
    }
    if (!model || tokens < 1) {
        fprintf(stderr, "usage: generate_text MODEL_DIR [ADAPTER_DIR] [--prompt TEXT] [--tokens N] [--device SPEC]\n");
        return 2;
    }
    clft_model_config cfg;
    clft_status st = clft_model_config_load(model, &cfg);
    if (st) return fail(model, st);
    clft_tokenizer *tok = NULL;
    if ((st = clft_tokenizer_load(model, &tok))) return fail(model, st);
    /* an inference-only model: the base alone (f32), or the adapter's rank/targets on the storage the
     * adapter was trained with (clft writes it into the adapter's metadata; PEFT's adapters: f32) */
    clft_adapter_info ai;
    memset(&ai, 0, sizeof ai);
    if (adapter && (st = clft_adapter_info_read(adapter, &ai))) return fail(adapter, st);
    const clft_dtype base = ai.from_clft ? ai.base_dtype : CLFT_DTYPE_F32;
    const int q4 = base == CLFT_DTYPE_NF4 || base == CLFT_DTYPE_FP4;
    clft_train_params tp = clft_train_default_params(q4 ? CLFT_METHOD_QLORA : CLFT_METHOD_LORA);
    tp.inference = 1;
    tp.base_dtype = base;
    tp.lora.targets = 0;
    if (adapter) {
        tp.lora = ai.lora;
        if (ai.from_clft && q4) {
            tp.qlora_blocksize = ai.qlora_blocksize;
            tp.qlora_double_quant = ai.qlora_double_quant;
        }
    }
    clft_context_params cp = clft_context_default_params();
    cp.device = device;
    clft_context *ctx = NULL;
    clft_model *m = NULL;
    clft_generator *gen = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    if ((st = clft_context_create(&cp, &ctx))) return fail("context", st);
    if ((st = clft_model_create(ctx, &cfg, &tp, &m))) return fail("model", st);
    if ((st = clft_model_load_weights(m, model))) return fail(model, st);
    if (adapter && (st = clft_model_load_adapter(m, adapter))) return fail(adapter, st);
    if ((st = clft_tokenize(tok, prompt, strlen(prompt), 1, &ids, &n))) return fail("prompt", st);
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = (int)n + tokens; /* the KV cache: the prompt and what is generated */
    if ((st = clft_generator_create(m, &gp, &gen))) return fail("generator", st);
    clft_generate_params p = clft_generate_default_params();
    p.sampling.temperature = 0; /* greedy */
    p.max_tokens = tokens;
    clft_generate_result r;
    fputs(prompt, stdout);
    if ((st = clft_generate(gen, tok, ids, n, &p, print_piece, NULL, &r))) return fail("generate", st);
    fprintf(stderr, "\n[%lld prompt tokens in %.3f s, %lld generated in %.3f s]\n", (long long)r.prompt_tokens,
            r.prefill_seconds, (long long)r.generated_tokens, r.decode_seconds);
    clft_generate_result_free(&r);
    clft_free(ids);
    clft_generator_free(gen);
    clft_model_free(m);
    clft_context_free(ctx);
    clft_tokenizer_free(tok);
    return 0;
}
