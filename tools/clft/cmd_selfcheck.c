/* cmd_selfcheck.c - `clft selfcheck [--device SPEC]`: every kernel against its C reference. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_selfcheck(int argc, char **argv) {
    const char *device = NULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!v) return cli_usage_error("selfcheck", "--device needs a value");
            device = v;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose++;
        else
            return cli_usage_error("selfcheck", "unknown option '%s' (usage: clft selfcheck [--device SPEC])", argv[i]);
    }
    cli_enable_logging(verbose);
    clft_context_params p = clft_context_default_params();
    p.device = device;
    clft_context *ctx = NULL;
    clft_status st = clft_context_create(&p, &ctx);
    if (st != CLFT_OK) return cli_fail("selfcheck", st);
    clft_device_info info;
    clft_context_device_info(ctx, &info);
    printf("device: [%d] %s (%s, %s)\n", info.index, info.name, info.platform, info.driver_version);
    clft_selfcheck_result r;
    st = clft_selfcheck(ctx, &r);
    clft_kernel_stats ks;
    clft_context_kernel_stats(ctx, &ks);
    printf("self-check: %d checks, %d failures, %.2f s (programs: %u built, %u from cache, %.2f s)\n", r.checks,
           r.failures, r.seconds, ks.programs_built, ks.programs_from_disk, ks.build_seconds);
    clft_context_free(ctx);
    if (st != CLFT_OK) return cli_fail("selfcheck", st);
    printf("OK\n");
    return 0;
}
