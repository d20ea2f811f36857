/* gguf_out_tutil.h - helpers shared by the gguf_out tests. */
#ifndef CLFT_GGUF_OUT_TUTIL_H
#define CLFT_GGUF_OUT_TUTIL_H

#include <dirent.h>

/* entries of dir not starting with '.' (a failed write must leave no temporary file behind) */
static inline int go_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

#endif
