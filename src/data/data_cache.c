/* data_cache.c - the on-disk cache of tokenized datasets: DIR/KEY.clftds holds the examples of one
 * (data files, tokenizer, settings) key, zstd-compressed. Layout (native byte order, the cache is
 * local to a machine):
 *   "CLFTDS01"  u64 key  u64 payload bytes  u64 FNV-1a of the payload  zstd frame (with checksum)
 * payload: u64 format, n, n_tok, lines, skipped, truncated, dropped_long, dropped_no_labels;
 *          char first_skipped[512]; u32 len[n]; u8 flags[n]; i32 ids[n_tok]; u8 lab[n_tok].
 * Written to a temporary name, fsynced and renamed (clft_io_write_atomic); anything that does not
 * check out on reading (short, wrong key, bad hash or frame, inconsistent counts) is a miss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "data/data_internal.h"
#include "io/io_util.h"

static const char MAGIC[8] = {'C', 'L', 'F', 'T', 'D', 'S', '0', '1'};
#define HDR_BYTES  32
#define HEAD_U64   8
#define SKIP_BYTES 512

static void cache_path(char *out, size_t cap, const char *dir, uint64_t key) {
    snprintf(out, cap, "%s/%016llx.clftds", dir, (unsigned long long)key);
}

static size_t payload_size(size_t n, size_t n_tok) { return HEAD_U64 * 8 + SKIP_BYTES + n * 5 + n_tok * 5; }

clft_status data_cache_write(const char *dir, uint64_t key, const data_examples *ex) {
    if (clft_mkdir_p(dir) != 0) return clft_error(CLFT_STATUS_IO, "%s: cannot create the cache folder", dir);
    size_t raw_n = payload_size(ex->n, ex->n_tok);
    uint8_t *raw = malloc(raw_n);
    size_t bound = ZSTD_compressBound(raw_n);
    uint8_t *file = malloc(HDR_BYTES + bound);
    if (!raw || !file) {
        free(raw);
        free(file);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory writing the dataset cache");
    }
    uint64_t head[HEAD_U64] = {(uint64_t)ex->format,
                               ex->n,
                               ex->n_tok,
                               (uint64_t)ex->lines,
                               (uint64_t)ex->skipped,
                               (uint64_t)ex->truncated,
                               (uint64_t)ex->dropped_long,
                               (uint64_t)ex->dropped_no_labels};
    uint8_t *q = raw;
    memcpy(q, head, sizeof head), q += sizeof head;
    memcpy(q, ex->first_skipped, SKIP_BYTES), q += SKIP_BYTES;
    memcpy(q, ex->len, ex->n * 4), q += ex->n * 4;
    memcpy(q, ex->flags, ex->n), q += ex->n;
    memcpy(q, ex->ids, ex->n_tok * 4), q += ex->n_tok * 4;
    memcpy(q, ex->lab, ex->n_tok);
    uint64_t hdr[4];
    memcpy(&hdr[0], MAGIC, 8);
    hdr[1] = key;
    hdr[2] = raw_n;
    hdr[3] = clft_fnv1a(CLFT_FNV_INIT, raw, raw_n);
    memcpy(file, hdr, HDR_BYTES);
    clft_status st = CLFT_OK;
    size_t zn = 0;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    if (!cc)
        st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory (zstd)");
    else {
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        zn = ZSTD_compress2(cc, file + HDR_BYTES, bound, raw, raw_n);
        if (ZSTD_isError(zn)) st = clft_error(CLFT_STATUS_IO, "zstd: %s", ZSTD_getErrorName(zn));
        ZSTD_freeCCtx(cc);
    }
    char path[1200];
    cache_path(path, sizeof path, dir, key);
    if (st == CLFT_OK) st = clft_io_write_atomic(path, file, HDR_BYTES + zn);
    if (st == CLFT_OK) clft_log(CLFT_LOG_INFO, "dataset cache written: %s (%zu bytes)", path, HDR_BYTES + zn);
    free(raw);
    free(file);
    return st;
}

/* Fill ex from a checked payload; 0 when the counts do not add up. */
static int unpack(const uint8_t *raw, size_t raw_n, data_examples *ex) {
    uint64_t head[HEAD_U64];
    if (raw_n < sizeof head + SKIP_BYTES) return 0;
    memcpy(head, raw, sizeof head);
    uint64_t n = head[1], n_tok = head[2];
    if (head[0] < CLFT_DATASET_TEXT || head[0] > CLFT_DATASET_CHAT || n > raw_n || n_tok > raw_n ||
        payload_size(n, n_tok) != raw_n)
        return 0;
    data_examples e;
    memset(&e, 0, sizeof e);
    e.format = (clft_dataset_format)head[0];
    e.lines = (int64_t)head[3];
    e.skipped = (int64_t)head[4];
    e.truncated = (int64_t)head[5];
    e.dropped_long = (int64_t)head[6];
    e.dropped_no_labels = (int64_t)head[7];
    const uint8_t *q = raw + sizeof head;
    memcpy(e.first_skipped, q, SKIP_BYTES);
    e.first_skipped[SKIP_BYTES - 1] = '\0';
    q += SKIP_BYTES;
    e.len = malloc(n * 4 + 1);
    e.flags = malloc(n + 1);
    e.off = malloc(n * 8 + 1);
    e.ids = malloc(n_tok * 4 + 1);
    e.lab = malloc(n_tok + 1);
    if (!e.len || !e.flags || !e.off || !e.ids || !e.lab) {
        data_examples_free(&e);
        return -1;
    }
    memcpy(e.len, q, n * 4), q += n * 4;
    memcpy(e.flags, q, n), q += n;
    memcpy(e.ids, q, n_tok * 4), q += n_tok * 4;
    memcpy(e.lab, q, n_tok);
    uint64_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        e.off[i] = at;
        at += e.len[i];
    }
    if (at != n_tok) {
        data_examples_free(&e);
        return 0;
    }
    e.n = e.cap = n;
    e.n_tok = e.cap_tok = n_tok;
    data_examples_free(ex);
    *ex = e;
    return 1;
}

clft_status data_cache_read(const char *dir, uint64_t key, data_examples *ex, int *hit) {
    *hit = 0;
    char path[1200];
    cache_path(path, sizeof path, dir, key);
    FILE *f = fopen(path, "rb");
    if (!f) return CLFT_OK;
    fclose(f);
    char *file = NULL;
    size_t fn = 0;
    clft_status st = clft_io_read_file(path, &file, &fn);
    if (st != CLFT_OK) {
        clft_error_clear();
        return st == CLFT_STATUS_HOST_OOM ? st : CLFT_OK;
    }
    const char *why = NULL;
    uint64_t hdr[4];
    uint8_t *raw = NULL;
    if (fn < HDR_BYTES)
        why = "shorter than its header";
    else {
        memcpy(hdr, file, HDR_BYTES);
        if (memcmp(&hdr[0], MAGIC, 8) != 0)
            why = "not a clft dataset cache";
        else if (hdr[1] != key)
            why = "another key";
        else if (hdr[2] > ((uint64_t)1 << 40))
            why = "implausible size";
    }
    if (!why) {
        unsigned long long fcs = ZSTD_getFrameContentSize(file + HDR_BYTES, fn - HDR_BYTES);
        if (fcs != hdr[2]) why = "truncated or damaged zstd frame";
    }
    if (!why) {
        raw = malloc((size_t)hdr[2] + 1);
        if (!raw) {
            free(file);
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory reading the dataset cache");
        }
        size_t dn = ZSTD_decompress(raw, (size_t)hdr[2], file + HDR_BYTES, fn - HDR_BYTES);
        if (ZSTD_isError(dn) || dn != hdr[2])
            why = "damaged zstd frame";
        else if (clft_fnv1a(CLFT_FNV_INIT, raw, dn) != hdr[3])
            why = "payload checksum mismatch";
    }
    if (!why) {
        int u = unpack(raw, (size_t)hdr[2], ex);
        if (u < 0) st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory reading the dataset cache");
        if (u == 0) why = "inconsistent contents";
        if (u == 1) *hit = 1;
    }
    if (why) clft_log(CLFT_LOG_WARN, "dataset cache %s ignored (%s); rebuilding it", path, why);
    if (*hit) clft_log(CLFT_LOG_INFO, "dataset cache hit: %s", path);
    free(raw);
    free(file);
    return st;
}
