/* runtime.c - OpenCL platform/device discovery, device selection and the clft context. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/clrt.h"

const char *clft_cl_error_name(cl_int err) {
    switch (err) {
#define E(x)                                                                                                           \
    case x: return #x;
        E(CL_SUCCESS)
        E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
            E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
                E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
                    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
                        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE)
                            E(CL_LINK_PROGRAM_FAILURE) E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE)
                                E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
                                    E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
                                        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
                                            E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE)
                                                E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
                                                    E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE)
                                                        E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
                                                            E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
                                                                E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET)
                                                                    E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
                                                                        E(CL_INVALID_OPERATION)
                                                                            E(CL_INVALID_BUFFER_SIZE)
                                                                                E(CL_INVALID_GLOBAL_WORK_SIZE)
                                                                                    E(CL_INVALID_PROPERTY)
#undef E
                                                                                        case -1001
            : return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

clft_status clft_cl_fail(cl_int err, const char *what) {
    clft_status st = CLFT_STATUS_OPENCL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_INVALID_BUFFER_SIZE) st = CLFT_STATUS_DEVICE_OOM;
    return clft_error(st, "%s: %s (%d)", what, clft_cl_error_name(err), (int)err);
}

int clft_has_extension(const char *extensions, const char *ext) {
    size_t n = strlen(ext);
    for (const char *p = extensions; p && (p = strstr(p, ext)) != NULL; p += n) {
        int start_ok = (p == extensions) || p[-1] == ' ';
        int end_ok = p[n] == '\0' || p[n] == ' ';
        if (start_ok && end_ok) return 1;
    }
    return 0;
}

static const char *NO_PLATFORM_HELP = "no OpenCL platform found: install an OpenCL driver (ICD). On Debian/Ubuntu: "
                                      "'apt-get install pocl-opencl-icd' for CPUs, 'mesa-opencl-icd' or ROCm for AMD, "
                                      "'intel-opencl-icd' for Intel GPUs, the NVIDIA driver's OpenCL ICD for NVIDIA; "
                                      "check with 'clinfo'";

/* The platforms (*out, caller frees) and their count; on any error *out is NULL and *n 0, nothing
 * left allocated. */
static clft_status get_platforms(cl_platform_id **out, cl_uint *n) {
    *out = NULL;
    *n = 0;
    cl_uint count = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &count);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && count == 0))
        return clft_error(CLFT_STATUS_NO_PLATFORM, "%s", NO_PLATFORM_HELP);
    if (err != CL_SUCCESS) {
        clft_cl_fail(err, "clGetPlatformIDs");
        return clft_error_prefix(CLFT_STATUS_NO_PLATFORM, "%s", NO_PLATFORM_HELP);
    }
    cl_platform_id *plats = clft_calloc(count, sizeof *plats);
    if (!plats) return CLFT_STATUS_HOST_OOM;
    err = clGetPlatformIDs(count, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return clft_cl_fail(err, "clGetPlatformIDs");
    }
    *out = plats;
    *n = count;
    return CLFT_OK;
}

static void copy_str_info(cl_device_id d, cl_device_info param, char *dst, size_t cap) {
    size_t got = 0;
    dst[0] = '\0';
    if (clGetDeviceInfo(d, param, cap, dst, &got) != CL_SUCCESS) {
        /* value longer than our buffer: read into a temporary and truncate */
        size_t need = 0;
        if (clGetDeviceInfo(d, param, 0, NULL, &need) == CL_SUCCESS && need > 0) {
            char *tmp = malloc(need);
            if (tmp && clGetDeviceInfo(d, param, need, tmp, NULL) == CL_SUCCESS) {
                snprintf(dst, cap, "%s", tmp);
            }
            free(tmp);
        }
    }
    dst[cap - 1] = '\0';
    /* trim trailing spaces (some drivers pad names) */
    size_t n = strlen(dst);
    while (n > 0 && isspace((unsigned char)dst[n - 1]))
        dst[--n] = '\0';
}

static void probe_device(cl_platform_id p, cl_device_id d, int index, clft_device_info *info) {
    memset(info, 0, sizeof *info);
    info->index = index;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL);
    info->platform[sizeof info->platform - 1] = '\0';
    copy_str_info(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    copy_str_info(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    copy_str_info(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    copy_str_info(d, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    copy_str_info(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);
    copy_str_info(d, CL_DEVICE_EXTENSIONS, info->extensions, sizeof info->extensions);
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    const char *t = (type & CL_DEVICE_TYPE_GPU)           ? "gpu"
                    : (type & CL_DEVICE_TYPE_CPU)         ? "cpu"
                    : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator"
                                                          : "other";
    snprintf(info->type, sizeof info->type, "%s", t);
    cl_uint u = 0;
    cl_ulong ul = 0;
    size_t sz = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS) info->compute_units = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS) info->clock_mhz = u;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->global_mem_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
        info->max_alloc_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->local_mem_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof sz, &sz, NULL) == CL_SUCCESS)
        info->max_work_group_size = sz;
    info->fp16 = clft_has_extension(info->extensions, "cl_khr_fp16");
    info->fp64 = clft_has_extension(info->extensions, "cl_khr_fp64");
    info->subgroups = clft_has_extension(info->extensions, "cl_khr_subgroups") ||
                      clft_has_extension(info->extensions, "cl_intel_subgroups");
}

/* Calls fn for each device in flattened order; stops early when fn returns nonzero. */
typedef int (*device_visit_fn)(cl_platform_id p, cl_device_id d, int index, void *user);
static clft_status visit_devices(device_visit_fn fn, void *user, int *total) {
    cl_platform_id *plats = NULL;
    cl_uint np = 0;
    CLFT_CHECK(get_platforms(&plats, &np));
    int index = 0, stop = 0;
    for (cl_uint i = 0; i < np && !stop; i++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id *devs = calloc(nd, sizeof *devs);
        if (!devs) {
            free(plats);
            return clft_error(CLFT_STATUS_HOST_OOM, "listing devices");
        }
        if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, nd, devs, NULL) == CL_SUCCESS) {
            for (cl_uint j = 0; j < nd && !stop; j++)
                stop = fn(plats[i], devs[j], index++, user);
        }
        free(devs);
    }
    free(plats);
    if (total) *total = index;
    return CLFT_OK;
}

typedef struct list_ctx {
    clft_device_info *arr;
    size_t n, cap;
    int oom;
} list_ctx;

static int list_visit(cl_platform_id p, cl_device_id d, int index, void *user) {
    list_ctx *lc = user;
    if (lc->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 4;
        clft_device_info *a = realloc(lc->arr, cap * sizeof *a);
        if (!a) {
            lc->oom = 1;
            return 1;
        }
        lc->arr = a;
        lc->cap = cap;
    }
    probe_device(p, d, index, &lc->arr[lc->n++]);
    return 0;
}

clft_status clft_devices_list(clft_device_info **out, size_t *count) {
    if (!out || !count) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_devices_list: NULL output");
    *out = NULL;
    *count = 0;
    list_ctx lc = {0};
    clft_status st = visit_devices(list_visit, &lc, NULL);
    if (st == CLFT_OK && lc.oom) st = clft_error(CLFT_STATUS_HOST_OOM, "listing devices");
    if (st != CLFT_OK) {
        free(lc.arr);
        return st;
    }
    if (lc.n == 0) {
        free(lc.arr);
        return clft_error(CLFT_STATUS_NO_DEVICE, "OpenCL platforms exist but report no devices; check 'clinfo'");
    }
    *out = lc.arr;
    *count = lc.n;
    return CLFT_OK;
}

void clft_devices_free(clft_device_info *devices) { free(devices); }

static int ci_contains(const char *hay, const char *needle) {
    size_t n = strlen(needle), h = strlen(hay);
    for (size_t i = 0; i + n <= h; i++) {
        size_t k = 0;
        while (k < n && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == n) return 1;
    }
    return 0;
}

/* Compare ignoring case and any non-alphanumeric characters, so "rx7900" matches "RX 7900 XTX". */
static int loose_contains(const char *hay, const char *needle) {
    char a[256], b[256];
    size_t na = 0, nb = 0;
    for (const char *p = hay; *p && na < sizeof a - 1; p++)
        if (isalnum((unsigned char)*p)) a[na++] = (char)tolower((unsigned char)*p);
    for (const char *p = needle; *p && nb < sizeof b - 1; p++)
        if (isalnum((unsigned char)*p)) b[nb++] = (char)tolower((unsigned char)*p);
    a[na] = b[nb] = '\0';
    return nb > 0 && strstr(a, b) != NULL;
}

clft_status clft_device_find(const char *spec, int *index) {
    if (!index) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_device_find: NULL output");
    const char *from = "--device";
    if (!spec || !spec[0]) {
        spec = clft_env(CLFT_ENV_DEVICE);
        from = "CLFT_DEVICE";
    }
    clft_device_info *devs = NULL;
    size_t n = 0;
    CLFT_CHECK(clft_devices_list(&devs, &n));
    int found = -1;
    if (!spec) {
        for (size_t i = 0; i < n && found < 0; i++)
            if (!strcmp(devs[i].type, "gpu")) found = (int)i;
        if (found < 0) found = 0;
    } else {
        char *end = NULL;
        long v = strtol(spec, &end, 10);
        if (end != spec && *end == '\0') {
            if (v >= 0 && (size_t)v < n) found = (int)v;
        } else if (!strcmp(spec, "gpu") || !strcmp(spec, "cpu") || !strcmp(spec, "accelerator")) {
            for (size_t i = 0; i < n && found < 0; i++)
                if (!strcmp(devs[i].type, spec)) found = (int)i;
        } else {
            for (size_t i = 0; i < n && found < 0; i++)
                if (ci_contains(devs[i].name, spec) || loose_contains(devs[i].name, spec)) found = (int)i;
            for (size_t i = 0; i < n && found < 0; i++)
                if (ci_contains(devs[i].platform, spec) || ci_contains(devs[i].vendor, spec)) found = (int)i;
        }
    }
    if (found < 0) {
        char list[2048];
        size_t off = 0;
        for (size_t i = 0; i < n && off < sizeof list; i++) {
            int w = snprintf(list + off, sizeof list - off, "%s[%d] %s (%s, %s)", i ? "; " : "", devs[i].index,
                             devs[i].name, devs[i].type, devs[i].platform);
            if (w < 0) break;
            off += (size_t)w;
        }
        clft_devices_free(devs);
        return clft_error(CLFT_STATUS_NO_DEVICE,
                          "no OpenCL device matches %s '%s' (give an index, gpu/cpu/accelerator, or part "
                          "of a name); devices: %s",
                          from, spec, list);
    }
    *index = devs[found].index;
    clft_devices_free(devs);
    return CLFT_OK;
}

typedef struct pick_ctx {
    int want;
    cl_platform_id p;
    cl_device_id d;
} pick_ctx;

static int pick_visit(cl_platform_id p, cl_device_id d, int index, void *user) {
    pick_ctx *pc = user;
    if (index != pc->want) return 0;
    pc->p = p;
    pc->d = d;
    return 1;
}

clft_context_params clft_context_default_params(void) {
    clft_context_params p;
    memset(&p, 0, sizeof p);
    p.disk_cache = 1;
    return p;
}

static void fill_caps(clft_context *ctx) {
    clft_caps *c = &ctx->caps;
    c->is_cpu = !strcmp(c->info.type, "cpu");
    c->is_gpu = !strcmp(c->info.type, "gpu");
    c->vendor_nvidia = ci_contains(c->info.vendor, "nvidia");
    c->vendor_amd = ci_contains(c->info.vendor, "advanced micro") || ci_contains(c->info.platform, "amd");
    c->vendor_intel = ci_contains(c->info.vendor, "intel");
    c->vendor_pocl = ci_contains(c->info.platform, "portable computing");
    c->is_oclgrind = ci_contains(c->info.platform, "oclgrind");
    c->max_wg = (size_t)c->info.max_work_group_size;
    c->cl_c_major = 1;
    c->cl_c_minor = 2;
    int ma = 0, mi = 0;
    if (sscanf(c->info.opencl_c_version, "OpenCL C %d.%d", &ma, &mi) == 2) {
        c->cl_c_major = ma;
        c->cl_c_minor = mi;
    }
    cl_uint bits = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL) == CL_SUCCESS)
        c->mem_base_align_bytes = bits / 8;
}

clft_status clft_context_create(const clft_context_params *params, clft_context **out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_create: NULL output");
    *out = NULL;
    clft_context_params p = params ? *params : clft_context_default_params();
    int index = -1;
    CLFT_CHECK(clft_device_find(p.device, &index));
    pick_ctx pc = {index, NULL, NULL};
    CLFT_CHECK(visit_devices(pick_visit, &pc, NULL));
    if (!pc.d) return clft_error(CLFT_STATUS_NO_DEVICE, "device %d disappeared while opening it", index);

    clft_context *ctx = clft_calloc(1, sizeof *ctx);
    if (!ctx) return CLFT_STATUS_HOST_OOM;
    ctx->platform = pc.p;
    ctx->device = pc.d;
    probe_device(pc.p, pc.d, index, &ctx->caps.info);
    fill_caps(ctx);
    ctx->profiling = p.profiling;
    ctx->disk_cache = p.disk_cache && !clft_env(CLFT_ENV_NO_DISK_CACHE);
    if (p.cache_dir && p.cache_dir[0])
        snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", p.cache_dir);
    else
        clft_default_cache_dir(ctx->cache_dir, sizeof ctx->cache_dir);
    if (!ctx->cache_dir[0]) ctx->disk_cache = 0;

    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)pc.p, 0};
    ctx->cl = clCreateContext(props, 1, &pc.d, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        clft_context_free(ctx);
        return clft_cl_fail(err, "clCreateContext");
    }
    cl_command_queue_properties qp = p.profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    ctx->queue = clCreateCommandQueue(ctx->cl, pc.d, qp, &err);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (err != CL_SUCCESS) {
        clft_context_free(ctx);
        return clft_cl_fail(err, "clCreateCommandQueue");
    }
    clft_log(CLFT_LOG_INFO, "device [%d] %s (%s), cache %s", index, ctx->caps.info.name, ctx->caps.info.platform,
             ctx->disk_cache ? ctx->cache_dir : "off");
    *out = ctx;
    return CLFT_OK;
}

void clft_context_free(clft_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    clft_blas_release(ctx);
    clft_programs_release(ctx);
    clft_cl_profile_release(ctx);
    for (size_t i = 0; i < ctx->ndeferred; i++)
        clReleaseMemObject(ctx->deferred[i]);
    free(ctx->deferred);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx);
}

clft_status clft_context_device_info(const clft_context *ctx, clft_device_info *out) {
    if (!ctx || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_device_info: NULL argument");
    *out = ctx->caps.info;
    return CLFT_OK;
}

clft_status clft_context_finish(clft_context *ctx) {
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_finish: NULL context");
    CLFT_CL_CHECK(clFinish(ctx->queue), "clFinish");
    return CLFT_OK;
}

clft_status clft_context_mem_stats(const clft_context *ctx, clft_mem_stats *out) {
    if (!ctx || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_mem_stats: NULL argument");
    *out = ctx->mem;
    return CLFT_OK;
}

clft_status clft_context_reset_peak(clft_context *ctx) {
    if (!ctx) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_reset_peak: NULL context");
    for (int c = 0; c < CLFT_MEM_CLASS_COUNT; c++)
        ctx->mem.peak_bytes[c] = ctx->mem.current_bytes[c];
    ctx->mem.peak_total = ctx->mem.current_total;
    return CLFT_OK;
}

clft_status clft_context_kernel_stats(const clft_context *ctx, clft_kernel_stats *out) {
    if (!ctx || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_context_kernel_stats: NULL argument");
    *out = ctx->kstats;
    return CLFT_OK;
}
