/* test_runtime_faults.c - error paths of device discovery (src/cl/runtime.c) that a working driver
 * never takes. This program defines clGetPlatformIDs itself: the static library's calls bind to this
 * definition instead of the ICD loader's, so each call can be made to fail on purpose. Every failure
 * must come back as a status with its message and leave no host memory behind (glibc's mallinfo2;
 * sanitizer builds, where it reads 0, have LeakSanitizer instead). */
#include <CL/cl.h>
#include <malloc.h>
#include <string.h>

#include "tutil.h"

enum { FAKE_PLATFORMS = 4096 }; /* a leaked platform array would be 32 KiB */

static enum {
    FAKE_NO_PLATFORM, /* the count is 0 */
    FAKE_COUNT_FAILS, /* the first call (the count) fails */
    FAKE_LIST_FAILS,  /* the count succeeds, the second call (the list) fails */
} fake_mode;

CL_API_ENTRY cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries, cl_platform_id *platforms,
                                                 cl_uint *num_platforms) {
    (void)num_entries;
    if (platforms) return CL_OUT_OF_HOST_MEMORY;
    if (fake_mode == FAKE_COUNT_FAILS) return CL_OUT_OF_HOST_MEMORY;
    if (num_platforms) *num_platforms = fake_mode == FAKE_NO_PLATFORM ? 0 : FAKE_PLATFORMS;
    return CL_SUCCESS;
}

static size_t heap_in_use(void) { return mallinfo2().uordblks; }

/* Every entry point that discovers devices fails with `want` and a message containing `text`, and
 * the heap holds no more than before. */
static void expect_failure(const char *what, clft_status want, const char *text) {
    clft_device_info *devs = NULL;
    size_t n = 0;
    int index = -1;
    clft_context *ctx = NULL;
    const size_t before = heap_in_use();
    clft_status st = clft_devices_list(&devs, &n);
    TU_CHECK(st == want && devs == NULL && n == 0, "%s: clft_devices_list gave %d (%s)", what, st, clft_last_error());
    TU_CHECK(strstr(clft_last_error(), text) != NULL, "%s: message '%s' lacks '%s'", what, clft_last_error(), text);
    st = clft_device_find("0", &index);
    TU_CHECK(st == want, "%s: clft_device_find gave %d", what, st);
    st = clft_context_create(NULL, &ctx);
    TU_CHECK(st == want && ctx == NULL, "%s: clft_context_create gave %d", what, st);
    const size_t after = heap_in_use();
    TU_CHECK(after <= before + 1024, "%s: %zu bytes of host memory left behind", what, after - before);
}

int main(void) {
    tu_init_seed();
    /* a first failure, so that anything allocated once per process is in place before measuring */
    fake_mode = FAKE_LIST_FAILS;
    clft_device_info *devs = NULL;
    size_t n = 0;
    TU_CHECK(clft_devices_list(&devs, &n) != CLFT_OK, "warm-up fails");
    fake_mode = FAKE_NO_PLATFORM;
    expect_failure("no platform", CLFT_STATUS_NO_PLATFORM, "install an OpenCL driver");
    fake_mode = FAKE_COUNT_FAILS;
    expect_failure("count fails", CLFT_STATUS_NO_PLATFORM, "CL_OUT_OF_HOST_MEMORY");
    fake_mode = FAKE_LIST_FAILS;
    expect_failure("list fails", CLFT_STATUS_OPENCL, "clGetPlatformIDs: CL_OUT_OF_HOST_MEMORY");
    return tu_finish("test_runtime_faults");
}
