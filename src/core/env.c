/* env.c - the one place where environment variables are read: the CLFT_* ones (see README
 * "Environment") and XDG_CACHE_HOME / HOME for the default cache folder. */
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"

const char *clft_env(clft_env_var var) {
    static const char *names[CLFT_ENV_COUNT] = {
        "CLFT_DEVICE", "CLFT_CACHE_DIR", "CLFT_KERNEL_DIR", "CLFT_NO_DISK_CACHE", "CLFT_GEMM", "XDG_CACHE_HOME",
        "HOME"};
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
