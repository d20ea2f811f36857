/* log.c - the process-wide log callback; the library itself never prints. */
#include <stdatomic.h>
#include <stdio.h>

#include "core/core.h"

static clft_log_fn g_log_fn;
static void *g_log_user;
static _Atomic int g_log_max = -1;

void clft_set_log_callback(clft_log_fn fn, void *user, clft_log_level max_level) {
    g_log_fn = fn;
    g_log_user = user;
    atomic_store(&g_log_max, fn ? (int)max_level : -1);
}

int clft_log_enabled(clft_log_level level) { return (int)level <= atomic_load(&g_log_max); }

void clft_log(clft_log_level level, const char *fmt, ...) {
    if (!clft_log_enabled(level) || !g_log_fn) return;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}
