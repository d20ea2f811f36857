/* parallel.c - the host thread helper the library's CPU loops share (4-bit quantization, the LoRA
 * merge, random weights for clft init): [0, n) in contiguous ranges, one per thread, the first on the
 * calling thread. A range whose thread cannot be started runs on the calling thread too, so the
 * helper cannot fail and the result never depends on how many threads ran. */
#include <pthread.h>
#include <unistd.h>

#include "core/core.h"

#define PARALLEL_MAX_THREADS 256

int clft_cpu_count(void) {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > PARALLEL_MAX_THREADS ? PARALLEL_MAX_THREADS : (int)n;
}

typedef struct par_range {
    clft_range_fn fn;
    void *user;
    int64_t begin, end;
} par_range;

static void *par_run(void *arg) {
    const par_range *r = arg;
    if (r->end > r->begin) r->fn(r->user, r->begin, r->end);
    return NULL;
}

void clft_parallel_ranges(int64_t n, int threads, clft_range_fn fn, void *user) {
    if (n <= 0) return;
    if (threads > PARALLEL_MAX_THREADS) threads = PARALLEL_MAX_THREADS;
    if ((int64_t)threads > n) threads = (int)n;
    if (threads <= 1) {
        fn(user, 0, n);
        return;
    }
    par_range parts[PARALLEL_MAX_THREADS];
    pthread_t tid[PARALLEL_MAX_THREADS];
    int started[PARALLEL_MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++)
        parts[t] = (par_range){fn, user, n * t / threads, n * (t + 1) / threads};
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, par_run, &parts[t]) == 0;
    par_run(&parts[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            par_run(&parts[t]);
    }
}
