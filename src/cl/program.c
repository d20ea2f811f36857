/* program.c - OpenCL programs from embedded (or $CLFT_KERNEL_DIR) sources: build options composed
 * in one place, in-memory cache per context, on-disk binary cache across processes
 * (key: cache version + source + options + device + platform + driver; temp file then rename). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/clrt.h"
#include "cl/embedded.h"

#define CLFT_PROGCACHE_VERSION "clft-progcache-1"
#define CLFT_BIN_MAGIC         "CLFTBIN1"

clft_status clft_cl_source(const char *file, char **text, size_t *size) {
    *text = NULL;
    *size = 0;
    const char *dir = clft_env(CLFT_ENV_KERNEL_DIR);
    if (dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        FILE *f = fopen(path, "rb");
        if (!f)
            return clft_error(CLFT_STATUS_IO, "%s: cannot open kernel source (CLFT_KERNEL_DIR): %s", path,
                              strerror(errno));
        if (fseek(f, 0, SEEK_END) != 0) {
            fclose(f);
            return clft_error(CLFT_STATUS_IO, "%s: cannot seek", path);
        }
        long n = ftell(f);
        rewind(f);
        char *buf = n >= 0 ? clft_malloc((size_t)n + 1) : NULL;
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            fclose(f);
            return clft_error(CLFT_STATUS_IO, "%s: read failed", path);
        }
        fclose(f);
        buf[n] = '\0';
        *text = buf;
        *size = (size_t)n;
        return CLFT_OK;
    }
    for (const clft_embedded_source *s = clft_embedded_sources; s->name; s++) {
        if (!strcmp(s->name, file)) {
            *text = clft_malloc(s->size + 1);
            if (!*text) return CLFT_STATUS_HOST_OOM;
            memcpy(*text, s->text, s->size);
            (*text)[s->size] = '\0';
            *size = s->size;
            return CLFT_OK;
        }
    }
    return clft_error(CLFT_STATUS_KERNEL_NOT_FOUND, "kernel source cl/%s is not embedded in this build", file);
}

clft_status clft_cl_build_options(const clft_context *ctx, const char *defines, char **out) {
    const clft_caps *c = &ctx->caps;
    char buf[4096];
    /* OpenCL C 1.2 everywhere: the kernels use nothing newer, and every driver accepts it. No fast
     * math: training must see NaN and Inf. */
    int n =
        snprintf(buf, sizeof buf, "-cl-std=CL1.2 -DCLFT_DEVICE_%s=1%s%s%s%s%s%s%s%s %s",
                 c->is_gpu   ? "GPU"
                 : c->is_cpu ? "CPU"
                             : "OTHER",
                 c->info.fp16 ? " -DCLFT_HAS_FP16=1" : "", c->info.fp64 ? " -DCLFT_HAS_FP64=1" : "",
                 c->info.subgroups ? " -DCLFT_HAS_SUBGROUPS=1" : "", c->vendor_nvidia ? " -DCLFT_VENDOR_NVIDIA=1" : "",
                 c->vendor_amd ? " -DCLFT_VENDOR_AMD=1" : "", c->vendor_intel ? " -DCLFT_VENDOR_INTEL=1" : "",
                 c->vendor_pocl ? " -DCLFT_POCL=1" : "", c->is_oclgrind ? " -DCLFT_OCLGRIND=1" : "",
                 defines ? defines : "");
    if (n < 0 || (size_t)n >= sizeof buf) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "build options too long");
    *out = clft_strdup(buf);
    return *out ? CLFT_OK : CLFT_STATUS_HOST_OOM;
}

static void cache_key(const clft_context *ctx, const char *src, const char *opts, char hex[33]) {
    const clft_device_info *i = &ctx->caps.info;
    const char *parts[] = {CLFT_PROGCACHE_VERSION, src,      opts, i->name, i->platform, i->driver_version,
                           i->device_version,      i->vendor};
    uint64_t h1 = CLFT_FNV_INIT, h2 = 0x84222325cbf29ce4ULL;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        size_t n = strlen(parts[k]) + 1; /* include NUL as a separator */
        h1 = clft_fnv1a(h1, parts[k], n);
        h2 = clft_fnv1a(h2 ^ (uint64_t)(k + 1) * 0x9e3779b97f4a7c15ULL, parts[k], n);
    }
    snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

/* Returns a built program from the disk cache, or NULL. */
static cl_program load_cached(clft_context *ctx, const char *key, const char *opts) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.clbin", ctx->cache_dir, key);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char magic[8];
    uint64_t len = 0;
    cl_program prog = NULL;
    unsigned char *bin = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CLFT_BIN_MAGIC, 8) != 0) goto done;
    if (fread(&len, sizeof len, 1, f) != 1 || len == 0 || len > ((uint64_t)1 << 31)) goto done;
    bin = malloc((size_t)len);
    if (!bin || fread(bin, 1, (size_t)len, f) != (size_t)len) goto done;
    size_t blen = (size_t)len;
    const unsigned char *bins[1] = {bin};
    cl_int st = CL_SUCCESS, err = CL_SUCCESS;
    prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &blen, bins, &st, &err);
    if (err != CL_SUCCESS || st != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        prog = NULL;
        goto done;
    }
    if (clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        prog = NULL;
    }
done:
    free(bin);
    fclose(f);
    if (!prog) clft_log(CLFT_LOG_DEBUG, "program cache entry %s unusable; rebuilding", path);
    return prog;
}

static void store_cached(clft_context *ctx, const char *key, cl_program prog) {
    size_t len = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0) return;
    unsigned char *bin = malloc(len);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS ||
        clft_mkdir_p(ctx->cache_dir) != 0) {
        free(bin);
        return;
    }
    char path[1200], tmp[1300];
    snprintf(path, sizeof path, "%s/%s.clbin", ctx->cache_dir, key);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = 0;
    if (f) {
        uint64_t l64 = len;
        ok = fwrite(CLFT_BIN_MAGIC, 1, 8, f) == 8 && fwrite(&l64, sizeof l64, 1, f) == 1 &&
             fwrite(bin, 1, len, f) == len;
        ok = (fclose(f) == 0) && ok;
    }
    if (ok && rename(tmp, path) == 0)
        clft_log(CLFT_LOG_DEBUG, "cached program binary %s (%zu bytes)", path, len);
    else
        remove(tmp);
    free(bin);
}

static clft_status build_from_source(clft_context *ctx, const char *file, const char *src, const char *opts,
                                     cl_program *out) {
    cl_int err = CL_SUCCESS;
    const char *srcs[1] = {src};
    cl_program prog = clCreateProgramWithSource(ctx->cl, 1, srcs, NULL, &err);
    if (err != CL_SUCCESS) return clft_cl_fail(err, "clCreateProgramWithSource");
    err = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t loglen = 0;
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
        char *log = malloc(loglen + 1);
        if (log) {
            log[0] = '\0';
            clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, loglen, log, NULL);
            log[loglen] = '\0';
        }
        clft_status st =
            clft_error(CLFT_STATUS_KERNEL_BUILD, "building cl/%s failed (%s) on '%s' with options '%s'; build log:\n%s",
                       file, clft_cl_error_name(err), ctx->caps.info.name, opts, log ? log : "(unavailable)");
        free(log);
        clReleaseProgram(prog);
        return st;
    }
    *out = prog;
    return CLFT_OK;
}

clft_status clft_cl_program(clft_context *ctx, const char *file, const char *defines, cl_program *out) {
    const char *d = defines ? defines : "";
    for (size_t i = 0; i < ctx->nprograms; i++) {
        if (!strcmp(ctx->programs[i].file, file) && !strcmp(ctx->programs[i].options, d)) {
            *out = ctx->programs[i].program;
            return CLFT_OK;
        }
    }
    double t0 = clft_now_seconds();
    char *common = NULL, *body = NULL, *opts = NULL, *src = NULL;
    size_t ncommon = 0, nbody = 0;
    clft_status st = clft_cl_source("common.cl", &common, &ncommon);
    if (st == CLFT_OK) st = clft_cl_source(file, &body, &nbody);
    if (st == CLFT_OK) st = clft_cl_build_options(ctx, d, &opts);
    if (st == CLFT_OK) {
        size_t cap = ncommon + nbody + 128;
        src = clft_malloc(cap);
        if (!src)
            st = CLFT_STATUS_HOST_OOM;
        else
            snprintf(src, cap, "%s\n#line 1 \"%s\"\n%s", common, file, body);
    }
    cl_program prog = NULL;
    int from_disk = 0;
    if (st == CLFT_OK) {
        char key[33];
        cache_key(ctx, src, opts, key);
        if (ctx->disk_cache) prog = load_cached(ctx, key, opts);
        if (prog) {
            from_disk = 1;
        } else {
            st = build_from_source(ctx, file, src, opts, &prog);
            if (st == CLFT_OK && ctx->disk_cache) store_cached(ctx, key, prog);
        }
    }
    if (st == CLFT_OK && ctx->nprograms == ctx->capprograms) {
        size_t cap = ctx->capprograms ? ctx->capprograms * 2 : 8;
        clft_program_entry *a = realloc(ctx->programs, cap * sizeof *a);
        if (!a) {
            st = clft_error(CLFT_STATUS_HOST_OOM, "program table");
        } else {
            ctx->programs = a;
            ctx->capprograms = cap;
        }
    }
    if (st == CLFT_OK) {
        clft_program_entry *e = &ctx->programs[ctx->nprograms];
        memset(e, 0, sizeof *e);
        snprintf(e->file, sizeof e->file, "%s", file);
        e->options = clft_strdup(d);
        if (!e->options) {
            st = CLFT_STATUS_HOST_OOM;
        } else {
            e->program = prog;
            ctx->nprograms++;
            *out = prog;
            prog = NULL;
            if (from_disk)
                ctx->kstats.programs_from_disk++;
            else
                ctx->kstats.programs_built++;
            double dt = clft_now_seconds() - t0;
            ctx->kstats.build_seconds += dt;
            clft_log(CLFT_LOG_INFO, "program cl/%s [%s] %s in %.3f s", file, d,
                     from_disk ? "loaded from cache" : "built", dt);
        }
    }
    if (prog) clReleaseProgram(prog);
    free(common);
    free(body);
    free(opts);
    free(src);
    return st;
}

clft_status clft_cl_kernel(clft_context *ctx, const char *file, const char *defines, const char *name, cl_kernel *out) {
    cl_program prog = NULL;
    CLFT_CHECK(clft_cl_program(ctx, file, defines, &prog));
    clft_program_entry *e = NULL;
    for (size_t i = 0; i < ctx->nprograms; i++)
        if (ctx->programs[i].program == prog) e = &ctx->programs[i];
    for (size_t i = 0; i < e->nkernels; i++) {
        if (!strcmp(e->kernels[i].name, name)) {
            *out = e->kernels[i].kernel;
            return CLFT_OK;
        }
    }
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(prog, name, &err);
    if (err != CL_SUCCESS) {
        clft_cl_fail(err, "clCreateKernel");
        return clft_error_prefix(CLFT_STATUS_KERNEL_NOT_FOUND, "kernel %s in cl/%s", name, file);
    }
    if (e->nkernels == e->capkernels) {
        size_t cap = e->capkernels ? e->capkernels * 2 : 8;
        clft_kernel_entry *a = realloc(e->kernels, cap * sizeof *a);
        if (!a) {
            clReleaseKernel(k);
            return clft_error(CLFT_STATUS_HOST_OOM, "kernel table");
        }
        e->kernels = a;
        e->capkernels = cap;
    }
    snprintf(e->kernels[e->nkernels].name, sizeof e->kernels[0].name, "%s", name);
    e->kernels[e->nkernels++].kernel = k;
    *out = k;
    return CLFT_OK;
}

void clft_programs_release(clft_context *ctx) {
    for (size_t i = 0; i < ctx->nprograms; i++) {
        clft_program_entry *e = &ctx->programs[i];
        for (size_t k = 0; k < e->nkernels; k++)
            clReleaseKernel(e->kernels[k].kernel);
        free(e->kernels);
        free(e->options);
        clReleaseProgram(e->program);
    }
    free(ctx->programs);
    ctx->programs = NULL;
    ctx->nprograms = ctx->capprograms = 0;
}

clft_status clft_cl_args(cl_kernel k, const char *what, ...) {
    va_list ap;
    va_start(ap, what);
    cl_uint idx = 0;
    for (;;) {
        size_t sz = va_arg(ap, size_t);
        if (sz == 0) break;
        const void *ptr = va_arg(ap, const void *);
        cl_int err = clSetKernelArg(k, idx, sz, ptr);
        if (err != CL_SUCCESS) {
            va_end(ap);
            char buf[160];
            snprintf(buf, sizeof buf, "clSetKernelArg(%s, arg %u)", what, idx);
            return clft_cl_fail(err, buf);
        }
        idx++;
    }
    va_end(ap);
    return CLFT_OK;
}

clft_status clft_cl_launch(clft_context *ctx, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                           const char *what) {
    size_t g[3] = {1, 1, 1};
    for (cl_uint i = 0; i < dims; i++) {
        g[i] = global[i];
        if (local && local[i] > 0) g[i] = (g[i] + local[i] - 1) / local[i] * local[i];
        if (g[i] == 0) return CLFT_OK; /* empty launch */
    }
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, local, 0, NULL, clft_cl_profile_event(ctx, &ev));
    if (err != CL_SUCCESS) {
        char buf[160];
        snprintf(buf, sizeof buf, "launching %s", what);
        return clft_cl_fail(err, buf);
    }
    return ev ? clft_cl_profile_record(ctx, what, ev) : CLFT_OK;
}
