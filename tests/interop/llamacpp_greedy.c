/* llamacpp_greedy.c - greedy generation with llama.cpp's C API (llama.h), for the GGUF-out checks of
 * tests/interop/llamacpp_check.sh: loads a GGUF model (and a LoRA GGUF adapter), feeds the prompt ids
 * given (those clft's tokenizer made, so both engines start from the same tokens) or tokenizes a
 * text with llama.cpp's own tokenizer, and takes the argmax of the logits N times. Prints one JSON
 * line: {"prompt_ids": [...], "ids": [...]}. Built by the script against a llama.cpp build (not part
 * of clft's build: CI has no llama.cpp).
 * usage: llamacpp_greedy MODEL.gguf [--lora FILE.gguf] [--n N] (--ids 1,2,3 | --text TEXT [--no-special])
 *        [--stop-eog] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *lora = NULL, *ids_arg = NULL, *text = NULL;
    int n_gen = 32, add_special = 1, stop_eog = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lora") && i + 1 < argc)
            lora = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n_gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc)
            ids_arg = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc)
            text = argv[++i];
        else if (!strcmp(argv[i], "--no-special"))
            add_special = 0;
        else if (!strcmp(argv[i], "--stop-eog"))
            stop_eog = 1;
        else if (!model_path && argv[i][0] != '-')
            model_path = argv[i];
        else {
            fprintf(stderr, "llamacpp_greedy: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model_path || (!ids_arg && !text)) {
        fprintf(stderr, "usage: llamacpp_greedy MODEL.gguf [--lora F] [--n N] (--ids 1,2 | --text T)\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) {
        fprintf(stderr, "llamacpp_greedy: llama.cpp cannot load %s\n", model_path);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token *prompt = malloc(sizeof(llama_token) * 8192);
    int n_prompt = 0;
    if (ids_arg) {
        for (const char *p = ids_arg; *p && n_prompt < 8192;) {
            prompt[n_prompt++] = (llama_token)strtol(p, (char **)&p, 10);
            while (*p == ',' || *p == ' ')
                p++;
        }
    } else {
        n_prompt = llama_tokenize(vocab, text, (int32_t)strlen(text), prompt, 8192, add_special, 1);
        if (n_prompt < 0) {
            fprintf(stderr, "llamacpp_greedy: tokenization failed\n");
            return 1;
        }
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_prompt + n_gen + 16);
    cp.n_batch = cp.n_ctx;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llamacpp_greedy: cannot create a context\n");
        return 1;
    }
    if (lora) {
        struct llama_adapter_lora *ad = llama_adapter_lora_init(model, lora);
        if (!ad) {
            fprintf(stderr, "llamacpp_greedy: llama.cpp cannot load the LoRA adapter %s\n", lora);
            return 1;
        }
        float scale = 1.0f;
        if (llama_set_adapters_lora(ctx, &ad, 1, &scale) != 0) {
            fprintf(stderr, "llamacpp_greedy: cannot set the LoRA adapter\n");
            return 1;
        }
    }
    printf("{\"prompt_ids\": [");
    for (int i = 0; i < n_prompt; i++)
        printf("%s%d", i ? ", " : "", prompt[i]);
    printf("], \"ids\": [");
    struct llama_batch batch = llama_batch_get_one(prompt, n_prompt);
    llama_token tok = 0;
    for (int k = 0; k < n_gen; k++) {
        if (llama_decode(ctx, batch) != 0) {
            fprintf(stderr, "llamacpp_greedy: decode failed\n");
            return 1;
        }
        const float *logits = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int j = 1; j < n_vocab; j++)
            if (logits[j] > logits[best]) best = j;
        tok = best;
        printf("%s%d", k ? ", " : "", tok);
        if (stop_eog && llama_vocab_is_eog(vocab, tok)) break;
        batch = llama_batch_get_one(&tok, 1);
    }
    printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    free(prompt);
    llama_backend_free();
    return 0;
}
