/* env.c - the one place where environment variables are read: the CLFT_* ones (see README
 * "Environment"), XDG_CACHE_HOME / HOME for the default cache folder, and the variables MPI launchers
 * give their ranks (clft_mpi_launch_size: is this process one rank of a data-parallel run). */
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"

const char *clft_env(clft_env_var var) {
    static const char *names[CLFT_ENV_COUNT] = {
        "CLFT_DEVICE", "CLFT_CACHE_DIR",       "CLFT_KERNEL_DIR", "CLFT_NO_DISK_CACHE", "CLFT_GEMM", "XDG_CACHE_HOME",
        "HOME",        "OMPI_COMM_WORLD_SIZE", "PMI_SIZE",        "PMI_RANK",           "PMIX_RANK", "TMPDIR"};
    if ((unsigned)var >= CLFT_ENV_COUNT) return NULL;
    const char *v = getenv(names[var]);
    return (v && v[0]) ? v : NULL;
}

void clft_default_cache_dir(char *out, size_t cap) {
    const char *env = clft_env(CLFT_ENV_CACHE_DIR);
    const char *xdg = clft_env(CLFT_ENV_XDG_CACHE_HOME);
    const char *home = clft_env(CLFT_ENV_HOME);
    if (env)
        snprintf(out, cap, "%s", env);
    else if (xdg)
        snprintf(out, cap, "%s/clft", xdg);
    else if (home)
        snprintf(out, cap, "%s/.cache/clft", home);
    else
        snprintf(out, cap, "%s", "");
}

int clft_mpi_launch_size(void) {
    const char *n = clft_env(CLFT_ENV_OMPI_WORLD_SIZE);
    if (!n) n = clft_env(CLFT_ENV_PMI_SIZE);
    if (n) {
        const int size = atoi(n);
        return size > 0 ? size : 1;
    }
    return clft_env(CLFT_ENV_PMI_RANK) || clft_env(CLFT_ENV_PMIX_RANK) ? 1 : 0;
}
