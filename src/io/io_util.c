/* io_util.c - growable buffer, Python/serde-compatible JSON formatting, file helpers (see io_util.h). */
#include "io/io_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

void clft_sbuf_init(clft_sbuf *b) { memset(b, 0, sizeof *b); }

void clft_sbuf_free(clft_sbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int sbuf_reserve(clft_sbuf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void clft_sbuf_put(clft_sbuf *b, const void *data, size_t n) {
    if (!sbuf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void clft_sbuf_puts(clft_sbuf *b, const char *s) { clft_sbuf_put(b, s, strlen(s)); }

void clft_sbuf_printf(clft_sbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        clft_sbuf_put(b, small, (size_t)n);
        return;
    }
    if (!sbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

clft_status clft_sbuf_status(const clft_sbuf *b) {
    if (b->failed) return clft_error(CLFT_STATUS_HOST_OOM, "out of memory building a text buffer");
    return CLFT_OK;
}

/* Decode one UTF-8 sequence at s (n bytes left). Returns its length and the code point, or 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, c = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, c = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

static void json_escape_common(clft_sbuf *b, unsigned char c) {
    switch (c) {
    case '"': clft_sbuf_puts(b, "\\\""); break;
    case '\\': clft_sbuf_puts(b, "\\\\"); break;
    case '\n': clft_sbuf_puts(b, "\\n"); break;
    case '\r': clft_sbuf_puts(b, "\\r"); break;
    case '\t': clft_sbuf_puts(b, "\\t"); break;
    case '\b': clft_sbuf_puts(b, "\\b"); break;
    case '\f': clft_sbuf_puts(b, "\\f"); break;
    default:
        if (c < 0x20)
            clft_sbuf_printf(b, "\\u%04x", c);
        else
            clft_sbuf_put(b, &c, 1);
    }
}

void clft_json_py_string(clft_sbuf *b, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    clft_sbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            json_escape_common(b, s[i]);
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (!len) { /* not UTF-8: Python would have failed earlier; keep the byte visible */
            clft_sbuf_printf(b, "\\u%04x", s[i]);
            i++;
            continue;
        }
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            clft_sbuf_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
            clft_sbuf_printf(b, "\\u%04x", cp);
        }
        i += len;
    }
    clft_sbuf_put(b, "\"", 1);
}

void clft_json_serde_string(clft_sbuf *b, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    clft_sbuf_put(b, "\"", 1);
    for (; *s; s++)
        json_escape_common(b, *s);
    clft_sbuf_put(b, "\"", 1);
}

void clft_json_py_float(clft_sbuf *b, double v) {
    if (isnan(v)) {
        clft_sbuf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        clft_sbuf_puts(b, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (v == 0) {
        clft_sbuf_puts(b, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* shortest %.Ne that reads back exactly: digits and decimal exponent */
    char tmp[64];
    for (int p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        if (strtod(tmp, NULL) == v) break;
    }
    const char *t = tmp;
    int neg = 0;
    if (*t == '-') neg = 1, t++;
    char digits[32];
    int nd = 0;
    for (; *t && *t != 'e'; t++)
        if (*t >= '0' && *t <= '9') digits[nd++] = *t;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int exp = atoi(t + 1);
    if (neg) clft_sbuf_put(b, "-", 1);
    if (exp < -4 || exp >= 16) {
        clft_sbuf_put(b, digits, 1);
        if (nd > 1) {
            clft_sbuf_put(b, ".", 1);
            clft_sbuf_put(b, digits + 1, (size_t)nd - 1);
        }
        clft_sbuf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp >= 0) {
        for (int i = 0; i <= exp; i++)
            clft_sbuf_put(b, i < nd ? &digits[i] : "0", 1);
        clft_sbuf_put(b, ".", 1);
        if (nd > exp + 1)
            clft_sbuf_put(b, digits + exp + 1, (size_t)(nd - exp - 1));
        else
            clft_sbuf_put(b, "0", 1);
    } else {
        clft_sbuf_puts(b, "0.");
        for (int i = 0; i < -exp - 1; i++)
            clft_sbuf_put(b, "0", 1);
        clft_sbuf_put(b, digits, (size_t)nd);
    }
}

clft_status clft_io_read_file(const char *path, char **out, size_t *size) {
    *out = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return clft_error(CLFT_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    clft_sbuf b;
    clft_sbuf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        clft_sbuf_put(&b, chunk, n);
    int err = ferror(f);
    fclose(f);
    if (err) {
        clft_sbuf_free(&b);
        return clft_error(CLFT_STATUS_IO, "%s: read error", path);
    }
    if (b.failed) {
        clft_sbuf_free(&b);
        return clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory reading the file", path);
    }
    if (!b.data) clft_sbuf_put(&b, "", 0);
    if (b.failed) return clft_error(CLFT_STATUS_HOST_OOM, "%s: out of memory", path);
    *out = b.data;
    if (size) *size = b.len;
    return CLFT_OK;
}

clft_status clft_io_map_file(const char *path, const uint8_t **base, size_t *size) {
    *base = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return clft_error(CLFT_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    clft_status s = CLFT_OK;
    if (fstat(fd, &sb) != 0)
        s = clft_error(CLFT_STATUS_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        s = clft_error(CLFT_STATUS_IO, "%s: not a regular file", path);
    else if (sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            s = clft_error(CLFT_STATUS_IO, "%s: cannot map %zu bytes: %s", path, (size_t)sb.st_size, strerror(errno));
        else
            *base = p;
    }
    close(fd);
    if (!s) *size = (size_t)sb.st_size;
    return s;
}

clft_status clft_io_write_atomic(const char *path, const void *data, size_t size) {
    clft_io_afile f;
    clft_status st = clft_io_afile_open(&f, path);
    if (st) return st;
    st = clft_io_afile_write(&f, data, size);
    if (!st) st = clft_io_afile_commit(&f);
    if (st) clft_io_afile_abort(&f);
    return st;
}

clft_status clft_io_afile_open(clft_io_afile *f, const char *path) {
    f->fd = -1;
    f->path = path;
    f->written = 0;
    size_t n = strlen(path);
    f->tmp = clft_malloc(n + 16);
    if (!f->tmp) return CLFT_STATUS_HOST_OOM;
    memcpy(f->tmp, path, n);
    memcpy(f->tmp + n, ".tmp.XXXXXX", 12);
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        clft_status st = clft_error(CLFT_STATUS_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return st;
    }
    (void)fchmod(f->fd, 0644);
    return CLFT_OK;
}

clft_status clft_io_afile_write(clft_io_afile *f, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        size_t step = n > (1u << 30) ? (1u << 30) : n;
        ssize_t w = write(f->fd, p, step);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return clft_error(CLFT_STATUS_IO, "%s: write failed: %s", f->path, strerror(errno));
        p += w;
        n -= (size_t)w;
        f->written += (uint64_t)w;
    }
    return CLFT_OK;
}

clft_status clft_io_afile_commit(clft_io_afile *f) {
    clft_status st = CLFT_OK;
    if (fsync(f->fd) != 0) st = clft_error(CLFT_STATUS_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (close(f->fd) != 0 && !st) st = clft_error(CLFT_STATUS_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fd = -1;
    if (!st && rename(f->tmp, f->path) != 0)
        st = clft_error(CLFT_STATUS_IO, "%s: cannot rename the temporary file into place: %s", f->path,
                        strerror(errno));
    if (st) {
        unlink(f->tmp);
    } else { /* the rename itself made durable: fsync the folder (some file systems refuse: EINVAL) */
        const char *slash = strrchr(f->path, '/');
        char *dir = slash ? clft_strdup(f->path) : NULL;
        if (dir) dir[slash == f->path ? 1 : slash - f->path] = '\0';
        int dfd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            if (fsync(dfd) != 0 && errno != EINVAL)
                st = clft_error(CLFT_STATUS_IO, "%s: fsync of its folder failed: %s", f->path, strerror(errno));
            close(dfd);
        }
        free(dir);
    }
    free(f->tmp);
    f->tmp = NULL;
    return st;
}

void clft_io_afile_abort(clft_io_afile *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    f->tmp = NULL;
}

const char *clft_io_basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

char *clft_io_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = clft_malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int clft_io_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

clft_status clft_io_copy_if_present(const char *src_dir, const char *dst_dir, const char *name) {
    char *from = clft_io_join(src_dir, name), *to = clft_io_join(dst_dir, name);
    clft_status s = from && to ? CLFT_OK : CLFT_STATUS_HOST_OOM;
    if (!s && access(from, F_OK) == 0) {
        char *data = NULL;
        size_t n = 0;
        s = clft_io_read_file(from, &data, &n);
        if (!s) s = clft_io_write_atomic(to, data, n);
        free(data);
    }
    free(from);
    free(to);
    return s;
}
