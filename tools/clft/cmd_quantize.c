/* cmd_quantize.c - `clft quantize --model DIR --out DIR [--quant-type nf4|fp4] [--blocksize N]
 * [--no-double-quant] [--force]`: a bitsandbytes-layout 4-bit copy of a model folder. Each option is
 * matched where it is read; value options take `--opt value` or `--opt=value`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char quantize_usage[] =
    "clft quantize --model DIR --out DIR [--quant-type nf4|fp4] [--blocksize N] [--no-double-quant] [--force]";

int cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    clft_quantize_params p = clft_quantize_default_params();
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v || !v[0]) return cli_usage_error("quantize", "--model needs a folder");
            model = v;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            if (!v || !v[0]) return cli_usage_error("quantize", "--out needs a folder");
            out = v;
        } else if (cli_opt(argc, argv, &i, "--quant-type", &v)) {
            if (!v || !v[0]) return cli_usage_error("quantize", "--quant-type needs nf4 or fp4");
            if (!strcmp(v, "nf4"))
                p.quant_type = CLFT_DTYPE_NF4;
            else if (!strcmp(v, "fp4"))
                p.quant_type = CLFT_DTYPE_FP4;
            else
                return cli_usage_error("quantize", "--quant-type must be nf4 or fp4, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--blocksize", &v)) {
            char *end = NULL;
            if (!v || !v[0]) return cli_usage_error("quantize", "--blocksize needs a number");
            long bs = strtol(v, &end, 10);
            if (*end || bs <= 0 || bs > 1 << 20)
                return cli_usage_error("quantize", "--blocksize must be a positive number, not '%s'", v);
            p.blocksize = (int)bs;
        } else if (!strcmp(argv[i], "--no-double-quant"))
            p.double_quant = 0;
        else if (!strcmp(argv[i], "--force"))
            p.force = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: %s\n", quantize_usage);
            return 0;
        } else
            return cli_usage_error("quantize", "unknown option '%s' (usage: %s)", argv[i], quantize_usage);
    }
    if (!model || !out) return cli_usage_error("quantize", "--model DIR and --out DIR are required");
    cli_enable_logging(0);
    clft_status st = clft_model_quantize(model, out, &p);
    if (st != CLFT_OK) return cli_fail("quantize", st);
    printf("wrote a %s (blocksize %d%s) copy of %s to %s\n", p.quant_type == CLFT_DTYPE_FP4 ? "fp4" : "nf4",
           p.blocksize, p.double_quant ? ", double quantization" : "", model, out);
    return 0;
}
