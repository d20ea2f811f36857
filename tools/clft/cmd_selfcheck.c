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
    printf("GEMM paths checked: %s\n", r.gemm_paths[0] ? r.gemm_paths : "none");
    if (!r.fp16)
        printf("fp16: no cl_khr_fp16: f16 weights are read with vload_half into the f32 GEMM paths; no HGEMM\n");
    else if (r.hgemm == 1)
        printf("fp16: cl_khr_fp16; CLBlast HGEMM probe NMSE %.3g (<= 1e-5): HGEMM is a measured candidate for f16 "
               "weights\n",
               r.hgemm_nmse);
    else if (r.hgemm == 0)
        printf("fp16: cl_khr_fp16; CLBlast HGEMM runs, but its probe NMSE %.3g is above 1e-5 (fp16 accumulation): "
               "only CLFT_GEMM=hgemm uses it; f16 weights otherwise go through the f32 paths\n",
               r.hgemm_nmse);
    else
        printf("fp16: cl_khr_fp16, but the CLBlast HGEMM probe did not run (see -v): f16 weights go through the f32 "
               "paths\n");
    clft_context_free(ctx);
    if (st != CLFT_OK) return cli_fail("selfcheck", st);
    printf("OK\n");
    return 0;
}
