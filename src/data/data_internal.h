/* data_internal.h - internal structures of the datasets module: the tokenized examples (what the
 * on-disk cache holds), the rows built from them (text windows, packed or single examples) and the
 * loader state. Shared by dataset.c (reading and tokenizing), data_cache.c (the zstd cache) and
 * loader.c (rows, shuffling, batches). */
#ifndef CLFT_DATA_INTERNAL_H
#define CLFT_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Tokenized examples back to back: example i is tokens [off[i], off[i] + len[i]) of ids/lab, lab[t]
 * = 1 when token t is in the loss. For text, examples are documents (EOS included). */
typedef struct data_examples {
    int32_t *ids;
    uint8_t *lab;
    size_t n_tok, cap_tok;
    uint64_t *off;
    uint32_t *len;
    uint8_t *flags; /* DATA_EX_TRUNCATED */
    size_t n, cap;
    /* counters of the whole file, kept in the cache with the tokens */
    clft_dataset_format format;
    int64_t lines, skipped, truncated, dropped_long, dropped_no_labels;
    char first_skipped[512];
} data_examples;
#define DATA_EX_TRUNCATED 1u

void data_examples_free(data_examples *ex);
/* Append one example (copies ids/lab). */
clft_status data_examples_push(data_examples *ex, const int32_t *ids, const uint8_t *lab, size_t n, uint8_t flags);

/* A piece of a row: tokens [start, start + len) of the examples; the first ctx tokens are context
 * only (label -100). */
typedef struct data_seg {
    uint64_t start;
    uint32_t len, ctx;
} data_seg;

struct clft_dataset {
    clft_dataset_params p; /* chat_template and cache_dir are not kept (NULL) */
    data_examples ex;      /* the served subset */
    data_seg *segs;        /* rows: segments row_seg[r] .. row_seg[r+1]-1 */
    size_t n_segs;
    uint64_t *row_seg; /* rows + 1 entries */
    uint32_t *row_len; /* tokens of each row (no padding) */
    size_t n_rows;
    int32_t pad_id;
    clft_dataset_stats stats;
    /* loader */
    uint64_t epoch, index;
    uint64_t *order; /* row order of order_epoch (for order_batch) */
    uint64_t order_epoch;
    int order_batch; /* 0: no order computed */
};

/* Cache (data_cache.c). key: computed by the caller. Read: CLFT_OK and *hit = 1 when a valid entry
 * was found (ex filled), else *hit = 0 and ex untouched (damaged entries are logged and ignored). */
clft_status data_cache_read(const char *dir, uint64_t key, data_examples *ex, int *hit);
/* Write ex under key (temp + fsync + rename); failures are returned (the caller logs them). */
clft_status data_cache_write(const char *dir, uint64_t key, const data_examples *ex);

/* Rows and stats of ds from ds->ex and ds->p (loader.c). */
clft_status data_build_rows(clft_dataset *ds);

/* Seeded Fisher-Yates shuffle of v[0..n). */
void data_shuffle(uint64_t *v, size_t n, uint64_t seed);

#endif
