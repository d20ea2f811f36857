/* core.h - internal core services: error reporting, logging, environment, small helpers.
 * Depends on nothing but libc (CONVENTIONS.md layering). */
#ifndef CLFT_CORE_H
#define CLFT_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "clft.h"

#if defined(__GNUC__)
#define CLFT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLFT_PRINTF(a, b)
#endif

/* Record a detailed message for clft_last_error() on this thread and return status. */
clft_status clft_error(clft_status status, const char *fmt, ...) CLFT_PRINTF(2, 3);
/* Prefix the current last-error message with more context ("loading x: <old>"); returns status. */
clft_status clft_error_prefix(clft_status status, const char *fmt, ...) CLFT_PRINTF(2, 3);
void clft_error_clear(void);

void clft_log(clft_log_level level, const char *fmt, ...) CLFT_PRINTF(2, 3);
int clft_log_enabled(clft_log_level level);

/* Environment: every variable the library reads is read through clft_env (src/core/env.c) and only
 * there: the CLFT_* ones (documented in README.md) and the two the default cache folder follows. */
typedef enum clft_env_var {
    CLFT_ENV_DEVICE = 0,     /* CLFT_DEVICE: default device spec */
    CLFT_ENV_CACHE_DIR,      /* CLFT_CACHE_DIR: program binary cache directory */
    CLFT_ENV_KERNEL_DIR,     /* CLFT_KERNEL_DIR: load cl/NAME.cl files from this directory */
    CLFT_ENV_NO_DISK_CACHE,  /* CLFT_NO_DISK_CACHE=1: disable the on-disk program cache */
    CLFT_ENV_GEMM,           /* CLFT_GEMM: force a GEMM path (clblast|tiled|fused|hgemm|auto) */
    CLFT_ENV_XDG_CACHE_HOME, /* XDG_CACHE_HOME: the cache default is $XDG_CACHE_HOME/clft */
    CLFT_ENV_HOME,           /* HOME: otherwise the cache default is $HOME/.cache/clft */
    /* set by MPI launchers for their ranks (clft_mpi_launch_size) */
    CLFT_ENV_OMPI_WORLD_SIZE, /* OMPI_COMM_WORLD_SIZE: Open MPI's mpirun */
    CLFT_ENV_PMI_SIZE,        /* PMI_SIZE: PMI launchers (MPICH's hydra, Slurm) */
    CLFT_ENV_PMI_RANK,        /* PMI_RANK */
    CLFT_ENV_PMIX_RANK,       /* PMIX_RANK: PMIx launchers */
    CLFT_ENV_TMPDIR,          /* TMPDIR: where the benchmarks make throw-away folders (else /tmp) */
    CLFT_ENV_COUNT
} clft_env_var;
/* Value of the variable, or NULL when unset or empty. */
const char *clft_env(clft_env_var var);
/* The default clft cache folder: $CLFT_CACHE_DIR, else $XDG_CACHE_HOME/clft, else $HOME/.cache/clft,
 * else "" (no cache). Used by the program-binary cache and the dataset cache. */
void clft_default_cache_dir(char *out, size_t cap);

/* Host allocation helpers that record CLFT_STATUS_HOST_OOM on failure. */
void *clft_malloc(size_t bytes);
void *clft_calloc(size_t n, size_t size);
char *clft_strdup(const char *s);

/* 64-bit FNV-1a, chained (start with CLFT_FNV_INIT). */
#define CLFT_FNV_INIT 0xcbf29ce484222325ULL
uint64_t clft_fnv1a(uint64_t h, const void *data, size_t n);

double clft_now_seconds(void);

/* splitmix64: the next 64-bit value of a one-word generator state (seeded shuffles, sampling, inits) */
static inline uint64_t clft_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Online CPU cores (1..256). */
int clft_cpu_count(void);
/* fn(user, begin, end) over [0, n) split into `threads` contiguous ranges (at most n), run at once on
 * as many threads, the first on the calling thread; a range whose thread cannot be started runs on
 * the calling thread, so this cannot fail. fn must not depend on how [0, n) was split. */
typedef void (*clft_range_fn)(void *user, int64_t begin, int64_t end);
void clft_parallel_ranges(int64_t n, int threads, clft_range_fn fn, void *user);

/* mkdir -p (mode 0755); 0 on success, -1 with errno set. */
int clft_mkdir_p(const char *path);

#define CLFT_CHECK(expr)                                                                                               \
    do {                                                                                                               \
        clft_status clft_check_s_ = (expr);                                                                            \
        if (clft_check_s_ != CLFT_OK) return clft_check_s_;                                                            \
    } while (0)

#endif
