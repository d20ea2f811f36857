/* test_checkpoint.c - checkpoint folders (src/io/checkpoint.c): round trip of several files
 * (empty, text, 3 MB of floats), manifest and checksums, a truncated / bit-flipped / missing file
 * and a missing manifest refused with the reason, the newest complete one found past damaged ones,
 * pruning with a protected folder, bad names; and SIGKILL: a child writes checkpoints in a loop
 * and is killed at random moments, after which every checkpoint-STEP folder verifies and the
 * newest one is complete. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "tutil.h"

static void write_ckpt(const char *dir, uint64_t salt, size_t nfloat) {
    clft_ckpt_writer *w = NULL;
    TU_OK(clft_ckpt_begin(dir, &w));
    if (!w) return;
    tu_rng r = tu_rng_make(salt);
    float *x = malloc(nfloat * 4 + 4);
    for (size_t i = 0; i < nfloat; i++)
        x[i] = tu_uniform(&r, -1, 1);
    char state[64];
    snprintf(state, sizeof state, "{\"salt\": %llu}", (unsigned long long)salt);
    TU_OK(clft_ckpt_add(w, "state.json", state, strlen(state)));
    TU_OK(clft_ckpt_add(w, "weights.bin", x, nfloat * 4));
    TU_OK(clft_ckpt_add(w, "empty", "", 0));
    TU_OK(clft_ckpt_commit(w));
    free(x);
}

static void check_ckpt(const char *dir, uint64_t salt, size_t nfloat) {
    TU_OK(clft_checkpoint_verify(dir));
    void *d = NULL;
    size_t n = 0;
    TU_OK(clft_ckpt_read(dir, "weights.bin", &d, &n));
    TU_CHECK(n == nfloat * 4, "weights.bin: %zu bytes", n);
    tu_rng r = tu_rng_make(salt);
    int same = d != NULL;
    for (size_t i = 0; same && i < nfloat; i++)
        same = ((float *)d)[i] == tu_uniform(&r, -1, 1);
    TU_CHECK(same, "weights.bin content");
    free(d);
    TU_OK(clft_ckpt_read(dir, "empty", &d, &n));
    TU_CHECK(n == 0 && d && ((char *)d)[0] == 0, "empty file");
    free(d);
}

static void put_bytes(const char *path, long at, const char *bytes, size_t n, int truncate_to) {
    FILE *f = fopen(path, "r+b");
    TU_CHECK(f != NULL, "open %s", path);
    if (!f) return;
    if (truncate_to >= 0) {
        TU_CHECK(ftruncate(fileno(f), truncate_to) == 0, "truncate");
    } else {
        fseek(f, at, SEEK_SET);
        fwrite(bytes, 1, n, f);
    }
    fclose(f);
}

static int expect_bad(const char *dir, const char *needle) {
    clft_status st = clft_checkpoint_verify(dir);
    TU_CHECK(st != CLFT_OK && strstr(clft_last_error(), needle), "%s refused with '%s': got %s: %s", dir, needle,
             clft_status_string(st), clft_last_error());
    return st != CLFT_OK;
}

int main(void) {
    tu_init_seed();
    const char *root = tu_scratch_dir("ckpt_tmp", "run");
    if (!root) return 1;
    char a[4200], b[4200], c[4200], p[4400], latest[4300];
    snprintf(a, sizeof a, "%s/checkpoint-10", root);
    snprintf(b, sizeof b, "%s/checkpoint-20", root);
    snprintf(c, sizeof c, "%s/checkpoint-30", root);
    write_ckpt(a, 1, 1000);
    write_ckpt(b, 2, 750000); /* 3 MB */
    write_ckpt(c, 3, 10);
    check_ckpt(a, 1, 1000);
    check_ckpt(b, 2, 750000);
    check_ckpt(c, 3, 10);
    write_ckpt(c, 4, 33); /* rewriting a folder replaces it */
    check_ckpt(c, 4, 33);
    snprintf(p, sizeof p, "%s.tmp", c);
    struct stat sb;
    TU_CHECK(stat(p, &sb) != 0, "no .tmp folder left behind");
    int64_t step = 0;
    TU_OK(clft_checkpoint_latest(root, latest, sizeof latest, &step));
    TU_CHECK(step == 30 && !strcmp(latest, c), "latest %s step %lld", latest, (long long)step);
    /* damage: a flipped byte in the newest, truncation in the middle one */
    snprintf(p, sizeof p, "%s/weights.bin.zst", c);
    put_bytes(p, 20, "\x55\xaa", 2, -1);
    expect_bad(c, "damaged");
    snprintf(p, sizeof p, "%s/weights.bin.zst", b);
    put_bytes(p, 0, NULL, 0, 1000);
    expect_bad(b, "truncated");
    TU_OK(clft_checkpoint_latest(root, latest, sizeof latest, &step));
    TU_CHECK(step == 10, "latest past two damaged ones: step %lld", (long long)step);
    /* a folder without its manifest (killed before the end) is no checkpoint */
    snprintf(p, sizeof p, "%s/manifest.json", a);
    remove(p);
    expect_bad(a, "manifest");
    TU_CHECK(clft_checkpoint_latest(root, latest, sizeof latest, &step) == CLFT_STATUS_NOT_FOUND, "none left");
    /* a file missing from a complete manifest */
    write_ckpt(a, 5, 100);
    snprintf(p, sizeof p, "%s/empty.zst", a);
    remove(p);
    expect_bad(a, "missing");
    /* names */
    clft_ckpt_writer *w = NULL;
    TU_OK(clft_ckpt_begin(c, &w));
    TU_CHECK(clft_ckpt_add(w, "../x", "a", 1) == CLFT_STATUS_INVALID_ARGUMENT, "path in a name refused");
    TU_CHECK(clft_ckpt_add(w, "manifest.json", "a", 1) == CLFT_STATUS_INVALID_ARGUMENT, "manifest name refused");
    TU_OK(clft_ckpt_add(w, "x", "a", 1));
    TU_CHECK(clft_ckpt_add(w, "x", "b", 1) == CLFT_STATUS_INVALID_ARGUMENT, "duplicate refused");
    clft_ckpt_abort(w);
    TU_CHECK(!clft_ckpt_has(c, "x"), "aborted checkpoint leaves the old one");
    /* a file written into the temporary folder by another writer, adopted as is (not compressed) */
    TU_OK(clft_ckpt_begin(c, &w));
    if (w) {
        char q[4400];
        snprintf(q, sizeof q, "%s/adapter_config.json", clft_ckpt_tmpdir(w));
        FILE *f = fopen(q, "wb");
        if (f) fputs("{\"peft_type\": \"LORA\"}\n", f), fclose(f);
        TU_OK(clft_ckpt_add(w, "state.json", "{}", 2));
        TU_OK(clft_ckpt_adopt(w, "adapter_config.json"));
        TU_CHECK(clft_ckpt_adopt(w, "adapter_config.json") == CLFT_STATUS_INVALID_ARGUMENT, "adopted twice refused");
        TU_CHECK(clft_ckpt_adopt(w, "absent.json") == CLFT_STATUS_IO, "adopting a missing file fails");
        TU_OK(clft_ckpt_commit(w));
    }
    TU_OK(clft_checkpoint_verify(c));
    void *ad = NULL;
    size_t dn = 0;
    TU_OK(clft_ckpt_read(c, "adapter_config.json", &ad, &dn));
    TU_CHECK(ad && dn == 22 && !memcmp(ad, "{\"peft_type\": \"LORA\"}\n", 22), "the adopted file reads back as is");
    free(ad);
    snprintf(p, sizeof p, "%s/adapter_config.json", c);
    TU_CHECK(stat(p, &sb) == 0, "the adopted file keeps its name in the folder (readable by other programs)");
    put_bytes(p, 3, "X", 1, -1);
    expect_bad(c, "damaged");
    /* prune: keep 2 newest + a protected one */
    for (int s = 1; s <= 6; s++) {
        snprintf(p, sizeof p, "%s/checkpoint-%d", root, s * 100);
        write_ckpt(p, (uint64_t)s, 10);
    }
    snprintf(p, sizeof p, "%s/checkpoint-200", root);
    TU_OK(clft_checkpoint_prune(root, 2, p));
    int present = 0;
    for (int s = 1; s <= 6; s++) {
        char q[4400];
        snprintf(q, sizeof q, "%s/checkpoint-%d", root, s * 100);
        const int exists = stat(q, &sb) == 0;
        present += exists;
        TU_CHECK(exists == (s >= 5 || s == 2), "after prune, checkpoint-%d exists %d", s * 100, exists);
    }
    TU_CHECK(present == 3, "%d kept", present);
    /* SIGKILL during saves: every folder left is complete (or absent), the newest verifies */
    char kd[4200];
    snprintf(kd, sizeof kd, "%s/killed", root);
    mkdir(kd, 0755);
    srand((unsigned)time(NULL));
    int saves_seen = 0;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int s = 1;; s++) {
                char q[4400];
                snprintf(q, sizeof q, "%s/checkpoint-%d", kd, round * 1000 + s);
                write_ckpt(q, (uint64_t)s, 200000 + (size_t)s);
            }
        }
        const struct timespec ts = {0, 20000000L + (long)(rand() % 150) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        DIR *d = opendir(kd);
        for (struct dirent *e; d && (e = readdir(d));) {
            long long st = -1;
            char tail = 0;
            if (sscanf(e->d_name, "checkpoint-%lld%c", &st, &tail) != 1) continue;
            char q[4600];
            snprintf(q, sizeof q, "%s/%s", kd, e->d_name);
            TU_OK(clft_checkpoint_verify(q));
            saves_seen++;
        }
        if (d) closedir(d);
    }
    TU_CHECK(saves_seen > 0, "the child completed at least one save before a kill (%d seen)", saves_seen);
    TU_OK(clft_checkpoint_latest(kd, latest, sizeof latest, &step));
    tu_scratch_done(root);
    return tu_finish("test_checkpoint");
}
