/* embedded.h - the table of cl/NAME.cl sources embedded at build time (cmake/embed_kernels.cmake). */
#ifndef CLFT_CL_EMBEDDED_H
#define CLFT_CL_EMBEDDED_H
#include <stddef.h>
typedef struct clft_embedded_source {
    const char *name; /* file name, e.g. "nf4.cl" */
    const char *text; /* NUL-terminated */
    size_t size;      /* bytes, without the NUL */
} clft_embedded_source;
extern const clft_embedded_source clft_embedded_sources[]; /* ends with {NULL, NULL, 0} */
#endif
