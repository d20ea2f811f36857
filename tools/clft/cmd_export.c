/* cmd_export.c - `clft export --model DIR --adapter DIR --out DIR [--dtype f32|bf16|f16]
 * [--quantize nf4|fp4] [--blocksize N] [--no-double-quant] [--merge-base auto|stored|4bit] [--force]
 * [--max-shard-size BYTES]`: a LoRA adapter (clft's or PEFT's) merged into its base on the host, written
 * as a Hugging Face model folder (clft_export_merged); with `--gguf adapter|merged` one llama.cpp GGUF
 * file instead (clft_export_gguf): the adapter for `llama-cli --lora`, or the merged model (the base
 * alone without --adapter) in f32|f16|bf16|q8_0|q4_0; --model may then also be a .gguf file. Each option is matched where it is read; value
 * options take `--opt value` or `--opt=value`. Bad input (flags, values, folders, an adapter that does
 * not fit the base, an existing --out without --force) is one line on stderr and exit 2; a failure
 * while writing is exit 1, and the output folder is then absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char export_usage[] =
    "clft export --model DIR --adapter DIR --out DIR [--dtype f32|bf16|f16] [--quantize nf4|fp4] [--blocksize N]\n"
    "            [--no-double-quant] [--merge-base auto|stored|4bit] [--force] [--max-shard-size BYTES]\n"
    "       clft export --gguf adapter --model DIR|FILE.gguf --adapter DIR --out FILE.gguf [--dtype f32|f16|bf16] [--force]\n"
    "       clft export --gguf merged --model DIR|FILE.gguf [--adapter DIR] --out FILE.gguf\n"
    "            [--dtype f32|f16|bf16|q8_0|q4_0] [--merge-base auto|stored|4bit] [--force]";

static const char export_help[] =
    "merges a LoRA adapter (written by clft or PEFT) into its base model on the host and writes a Hugging Face\n"
    "model folder: W = W0 + scale * B A in fp32 for every adapted projection.\n"
    "  --dtype            storage of the weights (default: the base's torch_dtype, f32 when absent)\n"
    "  --quantize         store the projections as bitsandbytes 4-bit (nf4 or fp4) with quantization_config\n"
    "  --blocksize N      4-bit block size with --quantize (default 64); --no-double-quant: f32 absmax\n"
    "  --merge-base       W0: auto (default: the 4-bit base a QLoRA adapter was trained on, else as stored),\n"
    "                     stored (the base folder's weights as they are), 4bit (quantized and dequantized)\n"
    "  --force            replace an existing --out folder\n"
    "  --max-shard-size   bytes per safetensors file (default 5000000000)\n"
    "  --gguf KIND        write one llama.cpp GGUF file instead of a folder (--model may be a .gguf file):\n"
    "                     adapter: the LoRA adapter for `llama-cli -m BASE.gguf --lora FILE` (general.type\n"
    "                       adapter, adapter.lora.alpha - times sqrt(r) for rsLoRA -, blk.N.attn_q.weight.lora_a/_b;\n"
    "                       --dtype f32 (default), f16 or bf16);\n"
    "                     merged: the merged model (the base converted when there is no --adapter) with its\n"
    "                       tokenizer and chat template; --dtype f32 (default), f16, bf16, q8_0 or q4_0 (norms\n"
    "                       stay f32; with q4_0 the output weight is q8_0)\n";

/* statuses that mean the input was wrong (exit 2) rather than the writing (exit 1) */
static int bad_input(clft_status st) {
    return st == CLFT_STATUS_INVALID_ARGUMENT || st == CLFT_STATUS_NOT_FOUND || st == CLFT_STATUS_SHAPE_MISMATCH ||
           st == CLFT_STATUS_UNSUPPORTED || st == CLFT_STATUS_FORMAT;
}

static int parse_dtype(const char *v, clft_dtype *out) {
    if (!strcmp(v, "f32") || !strcmp(v, "float32"))
        *out = CLFT_DTYPE_F32;
    else if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16"))
        *out = CLFT_DTYPE_BF16;
    else if (!strcmp(v, "f16") || !strcmp(v, "float16"))
        *out = CLFT_DTYPE_F16;
    else if (!strcmp(v, "q8_0"))
        *out = CLFT_DTYPE_Q8_0;
    else if (!strcmp(v, "q4_0"))
        *out = CLFT_DTYPE_Q4_0;
    else
        return 0;
    return 1;
}

/* --gguf adapter|merged: one GGUF file (the options were checked by cmd_export) */
static int export_gguf(const char *model, const char *adapter, const char *out, const clft_gguf_export_params *g) {
    struct stat sb;
    if (stat(model, &sb) != 0) return cli_usage_error("export", "--model %s: no such folder or file", model);
    if (adapter && (stat(adapter, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return cli_usage_error("export", "--adapter %s: no such folder", adapter);
    if (!g->force && stat(out, &sb) == 0)
        return cli_usage_error("export", "--out %s already exists (--force replaces it)", out);
    clft_status st = clft_export_gguf(model, adapter, out, g);
    if (st != CLFT_OK) {
        if (bad_input(st)) return cli_usage_error("export", "%s", clft_last_error());
        return cli_fail("export", st);
    }
    if (g->kind == CLFT_GGUF_EXPORT_ADAPTER)
        printf("wrote %s: the LoRA adapter %s for %s as a llama.cpp GGUF adapter (%s)\n", out, adapter, model,
               clft_dtype_name(g->dtype));
    else
        printf("wrote %s: %s%s%s as a llama.cpp GGUF model (%s)\n", out, model, adapter ? " merged with " : "",
               adapter ? adapter : "", clft_dtype_name(g->dtype));
    return 0;
}

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *out = NULL, *dtype = NULL;
    int verbose = 0, blocksize_set = 0, dq_set = 0, quantize_set = 0, shard_set = 0;
    int gguf = -1; /* -1: a folder; else clft_gguf_export_kind */
    clft_export_params p = clft_export_default_params();
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--model needs a folder");
            model = v;
        } else if (cli_opt(argc, argv, &i, "--adapter", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--adapter needs a folder");
            adapter = v;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--out needs a folder");
            out = v;
        } else if (cli_opt(argc, argv, &i, "--dtype", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--dtype needs f32, bf16 or f16");
            if (!parse_dtype(v, &p.dtype))
                return cli_usage_error("export", "--dtype must be f32, bf16 or f16 (q8_0, q4_0 with --gguf merged), not '%s'",
                                       v);
            dtype = v;
        } else if (cli_opt(argc, argv, &i, "--gguf", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--gguf needs adapter or merged");
            if (!strcmp(v, "adapter"))
                gguf = CLFT_GGUF_EXPORT_ADAPTER;
            else if (!strcmp(v, "merged"))
                gguf = CLFT_GGUF_EXPORT_MERGED;
            else
                return cli_usage_error("export", "--gguf must be adapter or merged, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--quantize", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--quantize needs nf4 or fp4");
            if (!strcmp(v, "nf4"))
                p.quantize = CLFT_DTYPE_NF4;
            else if (!strcmp(v, "fp4"))
                p.quantize = CLFT_DTYPE_FP4;
            else
                return cli_usage_error("export", "--quantize must be nf4 or fp4, not '%s'", v);
            quantize_set = 1;
        } else if (cli_opt(argc, argv, &i, "--blocksize", &v)) {
            char *end = NULL;
            if (!v || !v[0]) return cli_usage_error("export", "--blocksize needs a number");
            long bs = strtol(v, &end, 10);
            if (*end || bs < 32 || bs > 4096 || (bs & (bs - 1)))
                return cli_usage_error("export", "--blocksize must be a power of two in 32..4096, not '%s'", v);
            p.blocksize = (int)bs;
            blocksize_set = 1;
        } else if (cli_opt(argc, argv, &i, "--merge-base", &v)) {
            if (!v || !v[0]) return cli_usage_error("export", "--merge-base needs auto, stored or 4bit");
            if (!strcmp(v, "auto"))
                p.merge_base = -1;
            else if (!strcmp(v, "stored"))
                p.merge_base = 0;
            else if (!strcmp(v, "4bit"))
                p.merge_base = 1;
            else
                return cli_usage_error("export", "--merge-base must be auto, stored or 4bit, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--max-shard-size", &v)) {
            char *end = NULL;
            if (!v || !v[0]) return cli_usage_error("export", "--max-shard-size needs a number of bytes");
            unsigned long long n = strtoull(v, &end, 10);
            if (*end || n == 0 || v[0] == '-')
                return cli_usage_error("export", "--max-shard-size must be a positive number of bytes, not '%s'", v);
            p.max_shard_bytes = (uint64_t)n;
            shard_set = 1;
        } else if (!strcmp(argv[i], "--no-double-quant")) {
            p.double_quant = 0;
            dq_set = 1;
        } else if (!strcmp(argv[i], "--force")) {
            p.force = 1;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose++;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: %s\n%s", export_usage, export_help);
            return 0;
        } else {
            return cli_usage_error("export",
                                   "unknown option '%s' (usage: clft export --model DIR --adapter DIR --out "
                                   "DIR [options]; --help lists them)",
                                   argv[i]);
        }
    }
    if (gguf >= 0) {
        if (!model || !out) return cli_usage_error("export", "--gguf needs --model and --out FILE.gguf");
        if (gguf == CLFT_GGUF_EXPORT_ADAPTER && !adapter)
            return cli_usage_error("export", "--gguf adapter needs --adapter DIR");
        if (quantize_set || blocksize_set || dq_set || shard_set)
            return cli_usage_error("export", "%s does not apply to --gguf",
                                   quantize_set    ? "--quantize"
                                   : blocksize_set ? "--blocksize"
                                   : dq_set        ? "--no-double-quant"
                                                   : "--max-shard-size");
        if (gguf == CLFT_GGUF_EXPORT_ADAPTER && (p.dtype == CLFT_DTYPE_Q8_0 || p.dtype == CLFT_DTYPE_Q4_0))
            return cli_usage_error("export", "--gguf adapter: --dtype must be f32, f16 or bf16, not '%s'", dtype);
        cli_enable_logging(verbose);
        clft_gguf_export_params g = clft_gguf_export_default_params();
        g.kind = (clft_gguf_export_kind)gguf;
        g.dtype = dtype ? p.dtype : CLFT_DTYPE_F32;
        g.merge_base = p.merge_base;
        g.force = p.force;
        return export_gguf(model, adapter, out, &g);
    }
    if (!model || !adapter || !out)
        return cli_usage_error("export", "--model DIR, --adapter DIR and --out DIR are required");
    if (p.dtype == CLFT_DTYPE_Q8_0 || p.dtype == CLFT_DTYPE_Q4_0)
        return cli_usage_error("export", "--dtype %s applies to --gguf merged only", dtype);
    if ((blocksize_set || dq_set) && p.quantize == CLFT_DTYPE_F32)
        return cli_usage_error("export", "%s applies to --quantize only",
                               blocksize_set ? "--blocksize" : "--no-double-quant");
    cli_enable_logging(verbose);
    /* the inputs, checked before anything is read in full */
    struct stat sb;
    if (stat(model, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_usage_error("export", "--model %s: no such folder", model);
    if (stat(adapter, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_usage_error("export", "--adapter %s: no such folder", adapter);
    clft_model_config cfg;
    clft_status st = clft_model_config_load(model, &cfg);
    if (st != CLFT_OK) return cli_usage_error("export", "--model %s: %s", model, clft_last_error());
    if (!dtype && !parse_dtype(cfg.torch_dtype[0] ? cfg.torch_dtype : "f32", &p.dtype))
        p.dtype = CLFT_DTYPE_F32; /* a torch_dtype clft does not write: f32 */
    clft_adapter_info info;
    st = clft_adapter_info_read(adapter, &info);
    if (st != CLFT_OK) return cli_usage_error("export", "--adapter %s: %s", adapter, clft_last_error());
    if (!p.force && stat(out, &sb) == 0)
        return cli_usage_error("export", "--out %s already exists (--force replaces it)", out);
    st = clft_export_merged(model, adapter, out, &p);
    if (st != CLFT_OK) {
        if (bad_input(st)) return cli_usage_error("export", "%s", clft_last_error());
        return cli_fail("export", st);
    }
    printf("merged %s (r %d, %s) into %s: wrote %s (%s%s)\n", adapter, info.lora.r,
           info.from_clft ? (info.method == CLFT_METHOD_QLORA ? "clft qlora" : "clft lora") : "peft", model, out,
           p.dtype == CLFT_DTYPE_BF16  ? "bf16"
           : p.dtype == CLFT_DTYPE_F16 ? "f16"
                                       : "f32",
           p.quantize == CLFT_DTYPE_NF4   ? ", nf4 projections"
           : p.quantize == CLFT_DTYPE_FP4 ? ", fp4 projections"
                                          : "");
    return 0;
}
