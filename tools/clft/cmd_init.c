/* cmd_init.c - `clft init`: write a random-initialized Hugging Face model folder from a preset or a
 * config.json (clft_model_init_write in include/clft.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void init_usage(FILE *f) {
    fprintf(f, "usage: clft init (--preset NAME | --config FILE) --out DIR [--tokenizer DIR | --byte-tokenizer]\n"
               "                 [--seed N] [--dtype f32|f16|bf16] [--config-only] [--force] [--shard-size BYTES]\n"
               "                 [--threads N]\n"
               "writes config.json, generation_config.json, model.safetensors (sharded above 2 GB),\n"
               "tokenizer.json and tokenizer_config.json; transformers can load the folder.\n"
               "  --tokenizer DIR    copy that folder's tokenizer files (vocab_size grows to fit them)\n"
               "  --byte-tokenizer   a byte-level tokenizer with the chat special tokens (the default)\n"
               "  --config-only      everything but the weights (for memory planning)\n"
               "  --force            write into a non-empty folder\n"
               "presets:");
    for (size_t i = 0; clft_model_preset_name(i); i++)
        fprintf(f, " %s", clft_model_preset_name(i));
    fprintf(f, "\n");
}

int cmd_init(int argc, char **argv) {
    clft_model_init_params p = clft_model_init_default_params();
    const char *out = NULL;
    int verbose = 0, byte_tok = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cli_opt(argc, argv, &i, "--preset", &v)) {
            if (!v) return cli_usage_error("init", "--preset needs a name");
            p.preset = v;
        } else if (cli_opt(argc, argv, &i, "--config", &v)) {
            if (!v) return cli_usage_error("init", "--config needs a file");
            p.config_path = v;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            if (!v) return cli_usage_error("init", "--out needs a folder");
            out = v;
        } else if (cli_opt(argc, argv, &i, "--tokenizer", &v)) {
            if (!v) return cli_usage_error("init", "--tokenizer needs a folder");
            p.tokenizer_dir = v;
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            char *end = NULL;
            if (!v || !v[0]) return cli_usage_error("init", "--seed needs a number");
            p.seed = strtoull(v, &end, 0);
            if (*end) return cli_usage_error("init", "--seed '%s' is not a number", v);
        } else if (cli_opt(argc, argv, &i, "--shard-size", &v)) {
            char *end = NULL;
            if (!v || !v[0]) return cli_usage_error("init", "--shard-size needs a number of bytes");
            p.max_shard_bytes = strtoull(v, &end, 0);
            if (*end || !p.max_shard_bytes) return cli_usage_error("init", "--shard-size '%s' is not a byte count", v);
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            char *end = NULL;
            if (!v || !v[0]) return cli_usage_error("init", "--threads needs a number");
            long t = strtol(v, &end, 10);
            if (*end || t < 0 || t > 1024) return cli_usage_error("init", "--threads '%s' is not a thread count", v);
            p.threads = (int)t;
        } else if (cli_opt(argc, argv, &i, "--dtype", &v)) {
            if (!v) return cli_usage_error("init", "--dtype needs f32, f16 or bf16");
            if (!strcmp(v, "f32") || !strcmp(v, "float32"))
                p.dtype = CLFT_DTYPE_F32;
            else if (!strcmp(v, "f16") || !strcmp(v, "float16"))
                p.dtype = CLFT_DTYPE_F16;
            else if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16"))
                p.dtype = CLFT_DTYPE_BF16;
            else
                return cli_usage_error("init", "--dtype '%s': use f32, f16 or bf16", v);
        } else if (!strcmp(argv[i], "--byte-tokenizer"))
            byte_tok = 1;
        else if (!strcmp(argv[i], "--config-only"))
            p.config_only = 1;
        else if (!strcmp(argv[i], "--force"))
            p.force = 1;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose++;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            init_usage(stdout);
            return 0;
        } else {
            init_usage(stderr);
            return cli_usage_error("init", "unknown option '%s'", argv[i]);
        }
    }
    if (!p.preset == !p.config_path)
        return cli_usage_error("init", "give exactly one of --preset NAME or --config FILE");
    if (!out) return cli_usage_error("init", "--out DIR is required");
    if (byte_tok && p.tokenizer_dir)
        return cli_usage_error("init", "--tokenizer and --byte-tokenizer exclude each other");
    cli_enable_logging(verbose > 0 ? verbose : 1);
    clft_status st = clft_model_init_write(out, &p);
    if (st != CLFT_OK) return cli_fail("init", st);
    printf("wrote %s\n", out);
    return 0;
}
