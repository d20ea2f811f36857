/* blas.c - CLBlast lifetime glue: CLBlast caches programs per OpenCL context in process-wide
 * caches, so they are cleared when a clft context that used CLBlast goes away. */
#include <clblast_c.h>

#include "ops/gemm.h"

#include "cl/clrt.h"

void clft_blas_release(clft_context *ctx) {
    clft_gemm_release(ctx);
    if (ctx && ctx->blas_ready) {
        CLBlastClearCache();
        ctx->blas_ready = 0;
    }
}
