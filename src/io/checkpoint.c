/* checkpoint.c - crash-safe checkpoint folders (layout and write order in checkpoint.h), and the
 * public helpers that find the newest complete checkpoint of a run and prune old ones. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/core.h"
#include "io/checkpoint.h"
#include "io/io_util.h"

#define CKPT_FORMAT  "clft-checkpoint-1"
#define CKPT_MAX     256
#define CKPT_ZLEVEL  3
#define CKPT_NAMELEN 96

typedef struct ckpt_entry {
    char name[CKPT_NAMELEN];
    uint64_t raw, packed, fnv;
    int plain; /* stored as is (NAME, not NAME.zst): files other programs read, e.g. a PEFT adapter */
} ckpt_entry;

struct clft_ckpt_writer {
    char dir[4096], tmp[4200];
    ckpt_entry e[CKPT_MAX];
    int n;
};

static int name_ok(const char *s) {
    if (!s || !s[0] || strlen(s) >= CKPT_NAMELEN - 5 || !strcmp(s, "manifest.json")) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* rm -r of a folder holding only files (what a checkpoint holds). */
static void remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    closedir(d);
    rmdir(dir);
}

static clft_status fsync_path(const char *path, int dir) {
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return clft_error(CLFT_STATUS_IO, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 && !(dir && (errno == EINVAL || errno == EBADF)))
        return clft_error(CLFT_STATUS_IO, "%s: fsync failed: %s", path, strerror(errno));
    return CLFT_OK;
}

static clft_status write_synced(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return clft_error(CLFT_STATUS_IO, "%s: cannot create: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int err = errno;
            close(fd);
            return clft_error(CLFT_STATUS_IO, "%s: write failed: %s", path, k < 0 ? strerror(err) : "no progress");
        }
        p += k;
        left -= (size_t)k;
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return clft_error(CLFT_STATUS_IO, "%s: fsync failed: %s", path, strerror(err));
    }
    if (close(fd) != 0) return clft_error(CLFT_STATUS_IO, "%s: close failed: %s", path, strerror(errno));
    return CLFT_OK;
}

clft_status clft_ckpt_begin(const char *dir, clft_ckpt_writer **out) {
    if (!out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: NULL output");
    *out = NULL;
    if (!dir || !dir[0] || strlen(dir) >= 4000)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: bad folder name");
    clft_ckpt_writer *w = calloc(1, sizeof *w);
    if (!w) return clft_error(CLFT_STATUS_HOST_OOM, "checkpoint: out of host memory");
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", dir);
    remove_flat_dir(w->tmp);
    if (mkdir(w->tmp, 0755) != 0) {
        clft_status st = clft_error(CLFT_STATUS_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w);
        return st;
    }
    *out = w;
    return CLFT_OK;
}

clft_status clft_ckpt_add(clft_ckpt_writer *w, const char *name, const void *data, size_t len) {
    if (!w || (!data && len)) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: NULL argument");
    if (!name_ok(name))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: bad file name '%s'", name ? name : "(null)");
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: file '%s' added twice", name);
    if (w->n == CKPT_MAX) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: more than %d files", CKPT_MAX);
    const size_t cap = ZSTD_compressBound(len);
    void *z = malloc(cap ? cap : 1);
    if (!z) return clft_error(CLFT_STATUS_HOST_OOM, "checkpoint: out of host memory compressing %s", name);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t zn = cc ? ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, CKPT_ZLEVEL) : 1;
    if (cc && !ZSTD_isError(zn)) zn = ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    if (cc && !ZSTD_isError(zn)) zn = ZSTD_compress2(cc, z, cap, data ? data : "", len);
    ZSTD_freeCCtx(cc);
    if (!cc || ZSTD_isError(zn)) {
        free(z);
        return clft_error(CLFT_STATUS_IO, "checkpoint: compressing %s failed: %s", name,
                          cc ? ZSTD_getErrorName(zn) : "no zstd context");
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.zst", w->tmp, name);
    clft_status st = write_synced(path, z, zn);
    free(z);
    CLFT_CHECK(st);
    ckpt_entry *e = &w->e[w->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->raw = len;
    e->packed = zn;
    e->fnv = clft_fnv1a(CLFT_FNV_INIT, data ? data : "", len);
    return CLFT_OK;
}

const char *clft_ckpt_tmpdir(const clft_ckpt_writer *w) { return w ? w->tmp : NULL; }

clft_status clft_ckpt_adopt(clft_ckpt_writer *w, const char *name) {
    if (!w) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: NULL writer");
    if (!name_ok(name))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: bad file name '%s'", name ? name : "(null)");
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name))
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: file '%s' added twice", name);
    if (w->n == CKPT_MAX) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: more than %d files", CKPT_MAX);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", w->tmp, name);
    char *data = NULL;
    size_t len = 0;
    CLFT_CHECK(clft_io_read_file(path, &data, &len));
    clft_status st = fsync_path(path, 0);
    if (st == CLFT_OK) {
        ckpt_entry *e = &w->e[w->n++];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->raw = e->packed = len;
        e->fnv = clft_fnv1a(CLFT_FNV_INIT, data, len);
        e->plain = 1;
    }
    free(data);
    return st;
}

void clft_ckpt_abort(clft_ckpt_writer *w) {
    if (!w) return;
    remove_flat_dir(w->tmp);
    free(w);
}

clft_status clft_ckpt_commit(clft_ckpt_writer *w) {
    if (!w) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint: NULL writer");
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_printf(&b, "{\n  \"format\": \"%s\",\n  \"files\": [", CKPT_FORMAT);
    for (int i = 0; i < w->n; i++)
        clft_sbuf_printf(
            &b, "%s\n    {\"name\": \"%s\", \"bytes\": %llu, \"compressed\": %llu, \"fnv1a64\": \"%016llx\"%s}",
            i ? "," : "", w->e[i].name, (unsigned long long)w->e[i].raw, (unsigned long long)w->e[i].packed,
            (unsigned long long)w->e[i].fnv, w->e[i].plain ? ", \"plain\": true" : "");
    clft_sbuf_puts(&b, "\n  ]\n}\n");
    clft_status st = clft_sbuf_status(&b);
    char path[4400], old[4300];
    snprintf(path, sizeof path, "%s/manifest.json", w->tmp);
    if (st == CLFT_OK) st = write_synced(path, b.data, b.len);
    clft_sbuf_free(&b);
    if (st == CLFT_OK) st = fsync_path(w->tmp, 1);
    /* an older folder of that name moves aside first (rename cannot replace a non-empty folder) */
    snprintf(old, sizeof old, "%s.old", w->dir);
    if (st == CLFT_OK && clft_io_is_dir(w->dir)) {
        remove_flat_dir(old);
        if (rename(w->dir, old) != 0)
            st = clft_error(CLFT_STATUS_IO, "%s: cannot move the older checkpoint aside: %s", w->dir, strerror(errno));
    }
    if (st == CLFT_OK && rename(w->tmp, w->dir) != 0)
        st = clft_error(CLFT_STATUS_IO, "%s: cannot rename the finished checkpoint into place: %s", w->dir,
                        strerror(errno));
    if (st == CLFT_OK) {
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", w->dir);
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            parent[1] = 0;
        else if (slash)
            *slash = 0;
        else
            snprintf(parent, sizeof parent, ".");
        st = fsync_path(parent, 1);
        remove_flat_dir(old);
        free(w);
        return st;
    }
    clft_ckpt_abort(w);
    return st;
}

/* ---- reading ---------------------------------------------------------------------------------- */

/* The manifest's entry for name (or, with name NULL, just a parse check); *n_files gets the count. */
static clft_status manifest_find(const char *dir, const char *name, ckpt_entry *out, int *n_files) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = NULL;
    size_t len = 0;
    if (clft_io_read_file(path, &text, &len) != CLFT_OK)
        return clft_error(CLFT_STATUS_IO, "%s: no manifest.json: not a complete checkpoint", dir);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!root || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, CKPT_FORMAT) || !cJSON_IsArray(files)) {
        cJSON_Delete(root);
        return clft_error(CLFT_STATUS_FORMAT, "%s: manifest.json is damaged or of another format", dir);
    }
    clft_status st =
        name ? clft_error(CLFT_STATUS_NOT_FOUND, "%s: the checkpoint has no file '%s'", dir, name) : CLFT_OK;
    int n = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        n++;
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name"),
                    *by = cJSON_GetObjectItemCaseSensitive(f, "bytes"),
                    *cp = cJSON_GetObjectItemCaseSensitive(f, "compressed"),
                    *h = cJSON_GetObjectItemCaseSensitive(f, "fnv1a64");
        if (!cJSON_IsString(nm) || !cJSON_IsNumber(by) || !cJSON_IsNumber(cp) || !cJSON_IsString(h)) {
            cJSON_Delete(root);
            return clft_error(CLFT_STATUS_FORMAT, "%s: manifest.json: entry %d is damaged", dir, n);
        }
        if (name && !strcmp(nm->valuestring, name) && out) {
            snprintf(out->name, sizeof out->name, "%s", nm->valuestring);
            out->raw = (uint64_t)by->valuedouble;
            out->packed = (uint64_t)cp->valuedouble;
            out->fnv = strtoull(h->valuestring, NULL, 16);
            out->plain = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "plain"));
            clft_error_clear();
            st = CLFT_OK;
        }
    }
    cJSON_Delete(root);
    if (n_files) *n_files = n;
    return st;
}

int clft_ckpt_has(const char *dir, const char *name) {
    ckpt_entry e;
    const int ok = dir && name && manifest_find(dir, name, &e, NULL) == CLFT_OK;
    clft_error_clear();
    return ok;
}

clft_status clft_ckpt_read(const char *dir, const char *name, void **data, size_t *len) {
    if (!dir || !name || !data) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "checkpoint read: NULL argument");
    *data = NULL;
    if (len) *len = 0;
    ckpt_entry e;
    CLFT_CHECK(manifest_find(dir, name, &e, NULL));
    char path[4300];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, e.plain ? "" : ".zst");
    char *z = NULL;
    size_t zn = 0;
    if (clft_io_read_file(path, &z, &zn) != CLFT_OK)
        return clft_error(CLFT_STATUS_IO, "%s: missing or unreadable: the checkpoint is damaged", path);
    if (e.plain) { /* stored as is: its size and checksum */
        if (zn != e.raw || clft_fnv1a(CLFT_FNV_INIT, z, zn) != e.fnv) {
            free(z);
            return clft_error(CLFT_STATUS_FORMAT, "%s: %zu bytes or checksum differ from the manifest: damaged", path,
                              zn);
        }
        *data = z; /* clft_io_read_file NUL-terminates */
        if (len) *len = zn;
        return CLFT_OK;
    }
    if (zn != e.packed) {
        free(z);
        return clft_error(CLFT_STATUS_FORMAT, "%s: %zu bytes, the manifest says %llu: truncated or damaged", path, zn,
                          (unsigned long long)e.packed);
    }
    char *raw = malloc(e.raw + 1);
    if (!raw) {
        free(z);
        return clft_error(CLFT_STATUS_HOST_OOM, "%s: out of host memory (%llu bytes)", path, (unsigned long long)e.raw);
    }
    const size_t got = ZSTD_decompress(raw, e.raw, z, zn);
    free(z);
    if (ZSTD_isError(got) || got != e.raw || clft_fnv1a(CLFT_FNV_INIT, raw, got) != e.fnv) {
        free(raw);
        return clft_error(CLFT_STATUS_FORMAT, "%s: %s: the checkpoint is damaged", path,
                          ZSTD_isError(got) ? ZSTD_getErrorName(got) : "checksum or size mismatch");
    }
    raw[got] = 0;
    *data = raw;
    if (len) *len = got;
    return CLFT_OK;
}

/* ---- public: verify, newest, prune ------------------------------------------------------------ */

clft_status clft_checkpoint_verify(const char *dir) {
    if (!dir) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_checkpoint_verify: NULL folder");
    int n = 0;
    CLFT_CHECK(manifest_find(dir, NULL, NULL, &n));
    /* every listed file decompresses to its size and checksum */
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = NULL;
    CLFT_CHECK(clft_io_read_file(path, &text, NULL));
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *f;
    clft_status st = CLFT_OK;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(root, "files")) {
        void *d = NULL;
        st = clft_ckpt_read(dir, cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring, &d, NULL);
        free(d);
        if (st != CLFT_OK) break;
    }
    cJSON_Delete(root);
    return st;
}

typedef struct ckpt_dir {
    int64_t step;
    char path[4200];
} ckpt_dir;

static int cmp_step_desc(const void *a, const void *b) {
    const int64_t x = ((const ckpt_dir *)a)->step, y = ((const ckpt_dir *)b)->step;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* checkpoint-STEP folders of out_dir, newest first; *n entries, malloc'd. */
static clft_status list_checkpoints(const char *out_dir, ckpt_dir **out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(out_dir);
    if (!d) return clft_error(CLFT_STATUS_IO, "%s: cannot open: %s", out_dir, strerror(errno));
    size_t cap = 0;
    ckpt_dir *v = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        long long step = -1;
        char tail = 0;
        if (sscanf(e->d_name, "checkpoint-%lld%c", &step, &tail) != 1 || step < 0) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", out_dir, e->d_name);
        if (!clft_io_is_dir(p)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            ckpt_dir *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return clft_error(CLFT_STATUS_HOST_OOM, "checkpoints: out of host memory");
            }
            v = nv;
        }
        v[*n].step = step;
        snprintf(v[*n].path, sizeof v[*n].path, "%s", p);
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(v, *n, sizeof *v, cmp_step_desc);
    *out = v;
    return CLFT_OK;
}

clft_status clft_checkpoint_latest(const char *out_dir, char *path, size_t cap, int64_t *step) {
    if (!out_dir || !path || !cap)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_checkpoint_latest: NULL argument");
    path[0] = 0;
    if (step) *step = -1;
    ckpt_dir *v = NULL;
    size_t n = 0;
    CLFT_CHECK(list_checkpoints(out_dir, &v, &n));
    for (size_t i = 0; i < n; i++) {
        if (clft_checkpoint_verify(v[i].path) != CLFT_OK) {
            clft_log(CLFT_LOG_WARN, "skipping %s: %s", v[i].path, clft_last_error());
            continue;
        }
        snprintf(path, cap, "%s", v[i].path);
        if (step) *step = v[i].step;
        free(v);
        clft_error_clear();
        return CLFT_OK;
    }
    free(v);
    return clft_error(CLFT_STATUS_NOT_FOUND, "%s: no complete checkpoint-STEP folder", out_dir);
}

/* Remove a checkpoint folder so that it is never seen half-removed: renamed first (one atomic step,
 * after which it is no checkpoint-STEP folder), then emptied. */
static void remove_checkpoint(const char *path) {
    char gone[4300];
    snprintf(gone, sizeof gone, "%s.deleting", path);
    remove_flat_dir(gone);
    if (rename(path, gone) == 0)
        remove_flat_dir(gone);
    else
        clft_log(CLFT_LOG_WARN, "cannot remove %s: %s", path, strerror(errno));
}

/* Leftovers of interrupted saves and removals (checkpoint-STEP.tmp / .old / .deleting). */
static void remove_leftovers(const char *out_dir) {
    DIR *d = opendir(out_dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        long long step = -1;
        int n = 0;
        if (sscanf(e->d_name, "checkpoint-%lld%n", &step, &n) != 1 || step < 0) continue;
        const char *tail = e->d_name + n;
        if (strcmp(tail, ".tmp") && strcmp(tail, ".old") && strcmp(tail, ".deleting")) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", out_dir, e->d_name);
        remove_flat_dir(p);
    }
    closedir(d);
}

clft_status clft_checkpoint_prune(const char *out_dir, int keep, const char *protect) {
    if (!out_dir || keep < 1) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_checkpoint_prune: keep %d", keep);
    remove_leftovers(out_dir);
    ckpt_dir *v = NULL;
    size_t n = 0;
    CLFT_CHECK(list_checkpoints(out_dir, &v, &n));
    int kept = 0;
    for (size_t i = 0; i < n; i++) {
        const int prot = protect && !strcmp(clft_io_basename(v[i].path), clft_io_basename(protect));
        if (prot) continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        remove_checkpoint(v[i].path);
    }
    free(v);
    return CLFT_OK;
}
