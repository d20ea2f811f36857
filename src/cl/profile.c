/* profile.c - opt-in per-kernel device time, for benchmarks (clft bench train's op split, the device
 * and kernel suites' event timings). Only contexts created with profiling on (their queue has
 * CL_QUEUE_PROFILING_ENABLE) record anything: clft_cl_launch, the buffer transfers and the CLBlast
 * calls of the GEMM layer then keep each command's event here, and the events are resolved into
 * per-(tag, name) totals of launches and device seconds (END - START) when the totals are read, or
 * when too many are pending (a wait on the oldest, so that a long run holds a bounded number of
 * events). The tag is the caller's current scope (the GEMM layer sets the weight's storage type), so
 * that one kernel name can be split by what it worked on. Without profiling every entry point
 * returns at once: the launch paths pass NULL events as before. */
#include <stdlib.h>
#include <string.h>

#include "cl/clrt.h"

#define PROF_PENDING_MAX 4096 /* events held before the oldest are waited for and resolved */

typedef struct prof_pending {
    cl_event ev;
    int entry; /* index into entries */
} prof_pending;

struct clft_prof {
    const char *tag;   /* static string or NULL */
    const char *scope; /* an enclosing op family's tag (attention), which wins over tag */
    clft_prof_entry *entries;
    size_t nentries, capentries;
    prof_pending *pending;
    size_t npending, cappending;
};

static clft_prof *prof_of(clft_context *ctx) {
    if (!ctx->profiling) return NULL;
    if (!ctx->prof) ctx->prof = calloc(1, sizeof *ctx->prof);
    return ctx->prof;
}

const char *clft_cl_profile_set_tag(clft_context *ctx, const char *tag) {
    clft_prof *p = prof_of(ctx);
    if (!p) return NULL;
    const char *old = p->tag;
    p->tag = tag;
    return old;
}

const char *clft_cl_profile_set_scope(clft_context *ctx, const char *scope) {
    clft_prof *p = prof_of(ctx);
    if (!p) return NULL;
    const char *old = p->scope;
    p->scope = scope;
    return old;
}

static int entry_index(clft_prof *p, const char *name) {
    const char *tag = p->scope ? p->scope : p->tag ? p->tag : "";
    for (size_t i = 0; i < p->nentries; i++)
        if (!strcmp(p->entries[i].name, name) && !strcmp(p->entries[i].tag, tag)) return (int)i;
    if (p->nentries == p->capentries) {
        size_t cap = p->capentries ? 2 * p->capentries : 64;
        clft_prof_entry *e = realloc(p->entries, cap * sizeof *e);
        if (!e) return -1;
        p->entries = e;
        p->capentries = cap;
    }
    clft_prof_entry *e = &p->entries[p->nentries];
    memset(e, 0, sizeof *e);
    strncpy(e->name, name, sizeof e->name - 1);
    strncpy(e->tag, tag, sizeof e->tag - 1);
    return (int)p->nentries++;
}

/* Add the device time of pending events [0, n) to their entries and drop them. */
static clft_status resolve(clft_prof *p, size_t n) {
    clft_status st = CLFT_OK;
    if (n > 0) {
        cl_event evs[256];
        for (size_t i = 0; i < n; i += 256) { /* wait in slices: no variable-length array */
            size_t c = n - i < 256 ? n - i : 256;
            for (size_t j = 0; j < c; j++)
                evs[j] = p->pending[i + j].ev;
            cl_int err = clWaitForEvents((cl_uint)c, evs);
            if (err != CL_SUCCESS && st == CLFT_OK) st = clft_cl_fail(err, "clWaitForEvents (profiling)");
        }
    }
    for (size_t i = 0; i < n; i++) {
        cl_ulong t0 = 0, t1 = 0;
        if (clGetEventProfilingInfo(p->pending[i].ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(p->pending[i].ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS &&
            t1 >= t0)
            p->entries[p->pending[i].entry].device_seconds += (double)(t1 - t0) * 1e-9;
        p->entries[p->pending[i].entry].launches++;
        clReleaseEvent(p->pending[i].ev);
    }
    memmove(p->pending, p->pending + n, (p->npending - n) * sizeof *p->pending);
    p->npending -= n;
    return st;
}

cl_event *clft_cl_profile_event(clft_context *ctx, cl_event *slot) { return ctx->profiling ? slot : NULL; }

clft_status clft_cl_profile_record(clft_context *ctx, const char *name, cl_event ev) {
    if (!ev) return CLFT_OK;
    clft_prof *p = prof_of(ctx);
    if (!p) goto oom;
    if (p->npending == PROF_PENDING_MAX) {
        clft_status st = resolve(p, PROF_PENDING_MAX / 2);
        if (st != CLFT_OK) {
            clReleaseEvent(ev); /* ownership passed: not leaked on the error path either */
            return st;
        }
    }
    if (p->npending == p->cappending) {
        size_t cap = p->cappending ? 2 * p->cappending : 256;
        prof_pending *q = realloc(p->pending, cap * sizeof *q);
        if (!q) goto oom;
        p->pending = q;
        p->cappending = cap;
    }
    int e = entry_index(p, name);
    if (e < 0) goto oom;
    p->pending[p->npending].ev = ev;
    p->pending[p->npending].entry = e;
    p->npending++;
    return CLFT_OK;
oom:
    clReleaseEvent(ev);
    return clft_error(CLFT_STATUS_HOST_OOM, "profiling: out of host memory");
}

clft_status clft_cl_profile_collect(clft_context *ctx, const clft_prof_entry **entries, size_t *count) {
    *entries = NULL;
    *count = 0;
    if (!ctx->profiling)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "profiling: the context was created without profiling");
    clft_prof *p = prof_of(ctx);
    if (!p) return clft_error(CLFT_STATUS_HOST_OOM, "profiling: out of host memory");
    CLFT_CL_CHECK(clFinish(ctx->queue), "clFinish");
    CLFT_CHECK(resolve(p, p->npending));
    *entries = p->entries;
    *count = p->nentries;
    return CLFT_OK;
}

double clft_cl_profile_total(clft_context *ctx) {
    const clft_prof_entry *e = NULL;
    size_t n = 0;
    double s = 0;
    if (clft_cl_profile_collect(ctx, &e, &n) != CLFT_OK) return -1;
    for (size_t i = 0; i < n; i++)
        s += e[i].device_seconds;
    return s;
}

void clft_cl_profile_reset(clft_context *ctx) {
    clft_prof *p = ctx->prof;
    if (!p) return;
    if (ctx->queue) clFinish(ctx->queue);
    resolve(p, p->npending);
    p->nentries = 0;
}

void clft_cl_profile_release(clft_context *ctx) {
    clft_prof *p = ctx->prof;
    if (!p) return;
    for (size_t i = 0; i < p->npending; i++)
        clReleaseEvent(p->pending[i].ev);
    free(p->pending);
    free(p->entries);
    free(p);
    ctx->prof = NULL;
}
