/* fuzz_replay_main.c - runs a libFuzzer harness (LLVMFuzzerTestOneInput) once on every file
 * given (or every file of a directory given), without libFuzzer: the seed corpora of
 * tests/fuzz/corpus/ become ordinary regression tests in every build (and under ASan with
 * CLFT_SANITIZE=ON). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz replay: cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0, r;
    uint8_t *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
            } else
                buf = p;
        }
    }
    fclose(f);
    if (!buf) return 1;
    /* an exact-size copy, so that ASan sees reads past the input */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return 1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    printf("ok %s (%zu bytes)\n", path, n);
    return 0;
}

int main(int argc, char **argv) {
    int fails = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
                fails += run_file(p);
            }
            if (d) closedir(d);
        } else
            fails += run_file(argv[i]);
    }
    return fails ? 1 : 0;
}
