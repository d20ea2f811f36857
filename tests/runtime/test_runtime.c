/* test_runtime.c - device discovery and selection, program build and its cache, build-failure
 * messages, device-memory arenas and their OOM errors, the self-check entry point. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/clrt.h"
#include "tutil.h"

static void test_devices(void) {
    clft_device_info *d = NULL;
    size_t n = 0;
    TU_OK(clft_devices_list(&d, &n));
    TU_CHECK(n >= 1, "at least one device, got %zu", n);
    if (n == 0) return;
    TU_CHECK(d[0].name[0] != '\0', "device has a name");
    TU_CHECK(d[0].compute_units > 0, "compute units %u", d[0].compute_units);
    TU_CHECK(d[0].global_mem_bytes > 0 && d[0].max_alloc_bytes > 0, "memory sizes");
    TU_CHECK(!strcmp(d[0].type, "gpu") || !strcmp(d[0].type, "cpu") || !strcmp(d[0].type, "accelerator") ||
                 !strcmp(d[0].type, "other"),
             "type '%s'", d[0].type);
    int idx = -1;
    TU_OK(clft_device_find("0", &idx));
    TU_CHECK(idx == 0, "index 0 -> %d", idx);
    TU_OK(clft_device_find(d[0].type, &idx));
    /* a name substring in another case selects the device */
    char sub[8] = {0};
    for (int i = 0; i < 5 && d[0].name[i]; i++)
        sub[i] = (char)((d[0].name[i] >= 'a' && d[0].name[i] <= 'z') ? d[0].name[i] - 32 : d[0].name[i]);
    TU_OK(clft_device_find(sub, &idx));
    /* no match: an error that lists the devices */
    clft_status st = clft_device_find("no-such-device-xyz", &idx);
    TU_CHECK(st == CLFT_STATUS_NO_DEVICE, "status %d", st);
    TU_CHECK(strstr(clft_last_error(), d[0].name) != NULL, "error lists devices: %s", clft_last_error());
    TU_CHECK(strstr(clft_last_error(), "no-such-device-xyz") != NULL, "error names the spec");
    char num[16];
    snprintf(num, sizeof num, "%zu", n + 3);
    TU_CHECK(clft_device_find(num, &idx) == CLFT_STATUS_NO_DEVICE, "index past the end");
    /* environment variable is the default */
    setenv("CLFT_DEVICE", "definitely-not-a-device", 1);
    TU_CHECK(clft_device_find(NULL, &idx) == CLFT_STATUS_NO_DEVICE && strstr(clft_last_error(), "CLFT_DEVICE"),
             "CLFT_DEVICE honoured: %s", clft_last_error());
    unsetenv("CLFT_DEVICE");
    clft_devices_free(d);
    TU_CHECK(clft_has_extension("cl_khr_fp64 cl_khr_fp16", "cl_khr_fp16"), "whole-word match at end");
    TU_CHECK(!clft_has_extension("cl_khr_fp16x cl_khr_fp64", "cl_khr_fp16"), "no partial-word match");
}

static void test_alloc(clft_context *ctx) {
    clft_device_info info;
    TU_OK(clft_context_device_info(ctx, &info));
    clft_buf b = {0};
    clft_mem_stats m0, m1;
    TU_OK(clft_context_mem_stats(ctx, &m0));
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_ACTIVATIONS, 1 << 20, &b));
    TU_OK(clft_context_mem_stats(ctx, &m1));
    TU_CHECK(m1.current_bytes[CLFT_MEM_ACTIVATIONS] == m0.current_bytes[CLFT_MEM_ACTIVATIONS] + (1 << 20), "counted");
    TU_CHECK(m1.allocations == m0.allocations + 1, "allocation count");
    clft_buf_free(ctx, &b);
    TU_OK(clft_context_mem_stats(ctx, &m1));
    TU_CHECK(m1.current_bytes[CLFT_MEM_ACTIVATIONS] == m0.current_bytes[CLFT_MEM_ACTIVATIONS], "freed");
    TU_CHECK(m1.peak_bytes[CLFT_MEM_ACTIVATIONS] >= (1 << 20), "peak kept");
    /* larger than the device allows: a clear OOM status naming the sizes */
    clft_status st = clft_buf_alloc(ctx, CLFT_MEM_WEIGHTS, (size_t)info.max_alloc_bytes + 4096, &b);
    TU_CHECK(st == CLFT_STATUS_DEVICE_OOM, "status %d", st);
    TU_CHECK(strstr(clft_last_error(), "weights") && strstr(clft_last_error(), "limit"), "message: %s",
             clft_last_error());
    TU_CHECK(b.mem == NULL, "nothing allocated");
    /* write/read round trip and bounds */
    float x[64], y[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i - 3.5f;
    TU_OK(clft_buf_alloc(ctx, CLFT_MEM_SCRATCH, sizeof x, &b));
    TU_OK(clft_buf_write(ctx, &b, 0, x, sizeof x));
    TU_OK(clft_buf_read(ctx, &b, 0, y, sizeof y));
    TU_CHECK(!memcmp(x, y, sizeof x), "round trip");
    TU_CHECK(clft_buf_write(ctx, &b, 8, x, sizeof x) == CLFT_STATUS_INVALID_ARGUMENT, "write past end refused");
    clft_buf_free(ctx, &b);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A context on $CLFT_TEST_DEVICE whose program cache is a fresh folder made from the mkdtemp template
 * dir; *p gets its parameters for more contexts on the same cache. NULL (a failed check) without one. */
static clft_context *cache_context(char *dir, clft_context_params *p) {
    clft_context *ctx = NULL;
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp %s", dir);
    *p = clft_context_default_params();
    p->device = getenv("CLFT_TEST_DEVICE");
    p->cache_dir = dir;
    TU_OK(clft_context_create(p, &ctx));
    return ctx;
}

static void test_build_and_cache(void) {
    char dir[] = "/tmp/clft-test-cache-XXXXXX";
    clft_context_params p;
    clft_context *a = cache_context(dir, &p), *b = NULL;
    if (!a) return;
    cl_kernel k = NULL;
    TU_OK(clft_cl_kernel(a, "bench.cl", "-DBENCH_CHAINS=3", "bench_copy_f32", &k));
    cl_kernel k2 = NULL;
    TU_OK(clft_cl_kernel(a, "bench.cl", "-DBENCH_CHAINS=3", "bench_copy_f32", &k2));
    TU_CHECK(k == k2 && k != NULL, "kernel cached in memory");
    clft_kernel_stats ks;
    TU_OK(clft_context_kernel_stats(a, &ks));
    TU_CHECK(ks.programs_built == 1 && ks.programs_from_disk == 0, "built once (%u, %u)", ks.programs_built,
             ks.programs_from_disk);
    /* a second context (as a second process would) loads the binary from disk */
    TU_OK(clft_context_create(&p, &b));
    if (b) {
        TU_OK(clft_cl_kernel(b, "bench.cl", "-DBENCH_CHAINS=3", "bench_copy_f32", &k));
        TU_OK(clft_context_kernel_stats(b, &ks));
        TU_CHECK(ks.programs_from_disk == 1 && ks.programs_built == 0, "from disk (%u built, %u disk)",
                 ks.programs_built, ks.programs_from_disk);
        clft_selfcheck_result r;
        TU_OK(clft_selfcheck(b, &r));
        TU_CHECK(r.checks > 0 && r.failures == 0, "selfcheck %d/%d", r.failures, r.checks);
        /* a second run frees every buffer it allocates (more than 16 for the training ops alone); the
         * first may leave the context's grown GEMM scratch behind */
        clft_mem_stats m0, m1;
        TU_OK(clft_context_mem_stats(b, &m0));
        TU_OK(clft_selfcheck(b, &r));
        TU_CHECK(r.checks > 0 && r.failures == 0, "second selfcheck %d/%d", r.failures, r.checks);
        TU_OK(clft_context_mem_stats(b, &m1));
        TU_CHECK(m1.allocations - m0.allocations > 16, "selfcheck made %llu allocations",
                 (unsigned long long)(m1.allocations - m0.allocations));
        TU_CHECK(m1.current_total == m0.current_total, "selfcheck left %lld bytes allocated",
                 (long long)(m1.current_total - m0.current_total));
    }
    clft_context_free(b);
    /* a corrupted cache file is ignored and rebuilt, never fatal */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "for f in %s/*.clbin; do printf 'garbage' > \"$f\"; done", dir);
    TU_CHECK(system(cmd) == 0, "corrupt cache");
    b = NULL;
    TU_OK(clft_context_create(&p, &b));
    if (b) {
        TU_OK(clft_cl_kernel(b, "bench.cl", "-DBENCH_CHAINS=3", "bench_copy_f32", &k));
        TU_OK(clft_context_kernel_stats(b, &ks));
        TU_CHECK(ks.programs_built == 1, "rebuilt after corruption");
    }
    clft_context_free(b);
    /* unknown kernel name and unknown file */
    TU_CHECK(clft_cl_kernel(a, "bench.cl", "-DBENCH_CHAINS=3", "nope", &k) == CLFT_STATUS_KERNEL_NOT_FOUND,
             "bad kernel name");
    TU_CHECK(clft_cl_kernel(a, "nope.cl", "", "x", &k) == CLFT_STATUS_KERNEL_NOT_FOUND, "bad file");
    clft_context_free(a);

    /* a kernel that fails to build: the message has file, options and build log */
    char kdir[] = "/tmp/clft-test-kdir-XXXXXX";
    TU_CHECK(mkdtemp(kdir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/common.cl", kdir);
    write_file(path, "/* empty common */\n");
    snprintf(path, sizeof path, "%s/broken.cl", kdir);
    write_file(path, "__kernel void broken_fwd(__global float *x) { x[0] = undefined_symbol_q; }\n");
    setenv("CLFT_KERNEL_DIR", kdir, 1);
    p.disk_cache = 0;
    a = NULL;
    TU_OK(clft_context_create(&p, &a));
    if (a) {
        clft_status st = clft_cl_kernel(a, "broken.cl", "-DFOO=1", "broken_fwd", &k);
        TU_CHECK(st == CLFT_STATUS_KERNEL_BUILD, "status %d", st);
        const char *e = clft_last_error();
        TU_CHECK(strstr(e, "broken.cl") && strstr(e, "-DFOO=1") && strstr(e, "undefined_symbol_q"),
                 "message has file, options and log: %.300s", e);
    }
    clft_context_free(a);
    unsetenv("CLFT_KERNEL_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, kdir);
    TU_CHECK(system(cmd) == 0, "cleanup");
}

/* clft_context_prepare_kernels builds and caches the programs and runs no self-check: it allocates a
 * handful of buffers where the self-check allocates dozens, a second context loads every program from
 * the disk cache, and a self-check after it builds only programs specialised to its own shapes. */
static void test_prepare_kernels(void) {
    char dir[] = "/tmp/clft-test-prepare-XXXXXX";
    clft_context_params p;
    clft_context *a = cache_context(dir, &p), *b = NULL;
    TU_CHECK(clft_context_prepare_kernels(NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL context");
    if (!a) return;
    clft_mem_stats m0, m1;
    clft_kernel_stats ks, ks2;
    TU_OK(clft_context_mem_stats(a, &m0));
    TU_OK(clft_context_prepare_kernels(a));
    TU_OK(clft_context_mem_stats(a, &m1));
    TU_OK(clft_context_kernel_stats(a, &ks));
    TU_CHECK(ks.programs_built >= 12 && ks.programs_from_disk == 0, "prepare built %u programs (%u from disk)",
             ks.programs_built, ks.programs_from_disk);
    TU_CHECK(m1.allocations - m0.allocations <= 4, "prepare made %llu device allocations (a self-check?)",
             (unsigned long long)(m1.allocations - m0.allocations));
    /* again on the same context: everything is in memory already */
    TU_OK(clft_context_prepare_kernels(a));
    TU_OK(clft_context_kernel_stats(a, &ks2));
    TU_CHECK(ks2.programs_built == ks.programs_built && ks2.programs_from_disk == 0, "second prepare built %u",
             ks2.programs_built - ks.programs_built);
    /* the self-check's launchers find the prepared programs; it adds only shape-specialised ones */
    const size_t n0 = a->nprograms;
    clft_selfcheck_result r;
    TU_OK(clft_selfcheck(a, &r));
    for (size_t i = n0; i < a->nprograms; i++) {
        const clft_program_entry *e = &a->programs[i];
        int specialised = ((!strcmp(e->file, "attention.cl") || !strcmp(e->file, "attention_kv.cl")) &&
                           !strncmp(e->options, "-DATT_D=", 8)) ||
                          /* the GEMV kernels are built for the rows of X per pass, from the M of the call */
                          (!strcmp(e->file, "gemv.cl") && !strncmp(e->options, "-DGEMV_MT=", 10)) ||
                          !strcmp(e->file, "bench.cl") /* the runtime check's copy kernel */ ||
                          (!strcmp(e->file, "nf4.cl") && strstr(e->options, "NF4_GROUPS=2")) /* bs 32 on CPUs */;
        TU_CHECK(specialised, "cl/%s [%s] was not prepared", e->file, e->options);
    }
    /* a second context (a second process) loads every prepared program from the disk cache */
    TU_OK(clft_context_create(&p, &b));
    if (b) {
        TU_OK(clft_context_prepare_kernels(b));
        TU_OK(clft_context_kernel_stats(b, &ks2));
        TU_CHECK(ks2.programs_built == 0 && ks2.programs_from_disk == ks.programs_built,
                 "second context: %u built, %u of %u from disk", ks2.programs_built, ks2.programs_from_disk,
                 ks.programs_built);
    }
    clft_context_free(b);
    clft_context_free(a);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TU_CHECK(system(cmd) == 0, "cleanup");
}

/* Set (value non-NULL) or unset an environment variable. */
static void set_env(const char *name, const char *value) {
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

/* The default cache folder follows CLFT_CACHE_DIR, then $XDG_CACHE_HOME/clft, then $HOME/.cache/clft
 * (all read through src/core/env.c; an empty value counts as unset). */
static void test_default_cache_dir(void) {
    static const char *names[] = {"CLFT_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
    char *saved[3];
    for (int i = 0; i < 3; i++)
        saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    static const struct {
        const char *cache, *xdg, *home, *want;
    } cases[] = {
        {"/tmp/clft-env-cache", "/tmp/clft-env-xdg", "/tmp/clft-env-home", "/tmp/clft-env-cache"},
        {NULL, "/tmp/clft-env-xdg", "/tmp/clft-env-home", "/tmp/clft-env-xdg/clft"},
        {"", "", "/tmp/clft-env-home", "/tmp/clft-env-home/.cache/clft"},
        {NULL, NULL, NULL, ""},
    };
    clft_context_params p = clft_context_default_params();
    p.device = getenv("CLFT_TEST_DEVICE");
    p.disk_cache = 0; /* nothing is written */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        set_env("CLFT_CACHE_DIR", cases[c].cache);
        set_env("XDG_CACHE_HOME", cases[c].xdg);
        set_env("HOME", cases[c].home);
        clft_context *ctx = NULL;
        TU_OK(clft_context_create(&p, &ctx));
        if (ctx)
            TU_CHECK(!strcmp(ctx->cache_dir, cases[c].want), "case %zu: cache dir '%s', want '%s'", c, ctx->cache_dir,
                     cases[c].want);
        clft_context_free(ctx);
    }
    for (int i = 0; i < 3; i++) {
        set_env(names[i], saved[i]);
        free(saved[i]);
    }
}

int main(void) {
    tu_init_seed();
    test_devices();
    clft_context *ctx = tu_context();
    test_alloc(ctx);
    clft_context_free(ctx);
    test_build_and_cache();
    test_prepare_kernels();
    test_default_cache_dir();
    TU_CHECK(clft_context_create(NULL, NULL) == CLFT_STATUS_INVALID_ARGUMENT, "NULL out");
    clft_context_free(NULL);
    TU_CHECK(strcmp(clft_status_string(CLFT_STATUS_DEVICE_OOM), "out of device memory") == 0, "status text");
    return tu_finish("test_runtime");
}
