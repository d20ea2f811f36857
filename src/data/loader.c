/* loader.c - rows and batches: text windows (with stride), best-fit-decreasing packing of examples
 * into rows, one example per row otherwise; the seeded per-epoch row order (grouped by length when
 * unpacked); filling clft_batch (ids, labels, position and segment ids, padding); the saved/restored
 * loader position; the dataset statistics of the rows. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

void data_shuffle(uint64_t *v, size_t n, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(clft_splitmix64(&s) % i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Label of token t of a segment (see clft.h: the first token of a segment and context tokens have none). */
static inline int32_t seg_label(const clft_dataset *ds, const data_seg *s, uint32_t t) {
    uint64_t k = s->start + t;
    return (t == 0 || t < s->ctx || !ds->ex.lab[k]) ? -100 : ds->ex.ids[k];
}

static clft_status alloc_rows(clft_dataset *ds, size_t rows, size_t segs) {
    ds->segs = malloc((segs ? segs : 1) * sizeof *ds->segs);
    ds->row_seg = malloc((rows + 1) * sizeof *ds->row_seg);
    ds->row_len = malloc((rows ? rows : 1) * sizeof *ds->row_len);
    if (!ds->segs || !ds->row_seg || !ds->row_len) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    ds->n_rows = rows;
    ds->n_segs = segs;
    return CLFT_OK;
}

static clft_status build_windows(clft_dataset *ds) {
    uint64_t T = ds->ex.n_tok, L = (uint64_t)ds->p.seq_len, S = ds->p.stride ? (uint64_t)ds->p.stride : L;
    size_t rows = T >= L ? (size_t)((T - L) / S + 1) : 0;
    CLFT_CHECK(alloc_rows(ds, rows, rows));
    for (size_t r = 0; r < rows; r++) {
        ds->segs[r] = (data_seg){r * S, (uint32_t)L, r ? (uint32_t)(L - S) : 0};
        ds->row_seg[r] = r;
        ds->row_len[r] = (uint32_t)L;
    }
    ds->row_seg[rows] = rows;
    ds->stats.unused_tokens = rows ? (int64_t)(T - ((rows - 1) * S + L)) : (int64_t)T;
    return CLFT_OK;
}

/* Sort v[0..n) (indices) by len[v[i]] descending, ties by index: stable and thread-safe (no qsort
 * context), through a (length, index) key array. */
typedef struct len_key {
    uint64_t len, idx;
} len_key;
static int cmp_key_desc(const void *a, const void *b) {
    const len_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static clft_status sort_by_len_desc(uint64_t *v, size_t n, const uint32_t *len) {
    len_key *k = malloc((n ? n : 1) * sizeof *k);
    if (!k) return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    for (size_t i = 0; i < n; i++)
        k[i] = (len_key){len[v[i]], v[i]};
    qsort(k, n, sizeof *k, cmp_key_desc);
    for (size_t i = 0; i < n; i++)
        v[i] = k[i].idx;
    free(k);
    return CLFT_OK;
}

/* Best-fit decreasing (as TRL's "bfd" packing): longest examples first, each into the row whose free
 * space is the smallest that holds it. Rows with free space f are listed in head[f] (next[] links);
 * bits[] marks the non-empty lists so the search skips 64 sizes at a time. */
static clft_status build_packed(clft_dataset *ds) {
    size_t n = ds->ex.n, L = (size_t)ds->p.seq_len, nw = L / 64 + 1;
    uint64_t *idx = malloc(n * sizeof *idx);
    int64_t *row_of = malloc(n * sizeof *row_of), *next = malloc(n * sizeof *next), *head = malloc((L + 1) * 8);
    uint32_t *free_of = malloc(n * sizeof *free_of);
    uint64_t *bits = calloc(nw, 8);
    clft_status st = CLFT_OK;
    if (!idx || !row_of || !next || !head || !free_of || !bits) st = clft_error(CLFT_STATUS_HOST_OOM, "out of memory");
    size_t rows = 0;
    if (st == CLFT_OK) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        st = sort_by_len_desc(idx, n, ds->ex.len);
    }
    if (st == CLFT_OK) {
        for (size_t f = 0; f <= L; f++)
            head[f] = -1;
        for (size_t k = 0; k < n; k++) {
            size_t len = ds->ex.len[idx[k]], f = len, w = f / 64;
            uint64_t m = bits[w] & (~0ULL << (f % 64));
            while (!m && ++w < nw)
                m = bits[w];
            int64_t row;
            if (m) {
                f = w * 64 + (size_t)__builtin_ctzll(m);
                row = head[f];
                head[f] = next[row];
                if (head[f] < 0) bits[f / 64] &= ~(1ULL << (f % 64));
            } else {
                row = (int64_t)rows++;
                f = L;
            }
            row_of[idx[k]] = row;
            f -= len;
            free_of[row] = (uint32_t)f;
            if (f > 0) {
                next[row] = head[f];
                head[f] = row;
                bits[f / 64] |= 1ULL << (f % 64);
            }
        }
        st = alloc_rows(ds, rows, n);
    }
    if (st == CLFT_OK) {
        /* segments of a row in placement order: counting sort by row */
        memset(ds->row_seg, 0, (rows + 1) * sizeof *ds->row_seg);
        for (size_t i = 0; i < n; i++)
            ds->row_seg[row_of[i] + 1]++;
        for (size_t r = 0; r < rows; r++) {
            ds->row_seg[r + 1] += ds->row_seg[r];
            ds->row_len[r] = (uint32_t)L - free_of[r];
        }
        for (size_t r = 0; r < rows; r++) /* next[] becomes the fill cursor of each row */
            next[r] = (int64_t)ds->row_seg[r];
        for (size_t k = 0; k < n; k++) {
            uint64_t e = idx[k];
            ds->segs[next[row_of[e]]++] = (data_seg){ds->ex.off[e], ds->ex.len[e], 0};
        }
    }
    free(idx);
    free(row_of);
    free(next);
    free(head);
    free(free_of);
    free(bits);
    return st;
}

static clft_status build_single(clft_dataset *ds) {
    size_t n = ds->ex.n;
    CLFT_CHECK(alloc_rows(ds, n, n));
    for (size_t i = 0; i < n; i++) {
        ds->segs[i] = (data_seg){ds->ex.off[i], ds->ex.len[i], 0};
        ds->row_seg[i] = i;
        ds->row_len[i] = ds->ex.len[i];
    }
    ds->row_seg[n] = n;
    return CLFT_OK;
}

clft_status data_build_rows(clft_dataset *ds) {
    clft_dataset_format fmt = ds->ex.format;
    clft_status st = fmt == CLFT_DATASET_TEXT ? build_windows(ds) : ds->p.pack ? build_packed(ds) : build_single(ds);
    if (st != CLFT_OK) return st;
    clft_dataset_stats *s = &ds->stats;
    s->format = fmt;
    s->lines = ds->ex.lines;
    s->skipped_lines = ds->ex.skipped;
    s->truncated = ds->ex.truncated;
    s->dropped_long = ds->ex.dropped_long;
    s->dropped_no_labels = ds->ex.dropped_no_labels;
    memcpy(s->first_skipped, ds->ex.first_skipped, sizeof s->first_skipped);
    s->examples = (int64_t)ds->ex.n;
    s->rows = (int64_t)ds->n_rows;
    s->tokens = s->label_tokens = 0;
    for (size_t i = 0; i < ds->n_segs; i++) {
        const data_seg *g = &ds->segs[i];
        s->tokens += g->len;
        for (uint32_t t = 0; t < g->len; t++)
            s->label_tokens += seg_label(ds, g, t) != -100;
    }
    s->pad_tokens = (int64_t)ds->n_rows * ds->p.seq_len - s->tokens;
    s->masked_share = s->tokens ? 1.0 - (double)s->label_tokens / (double)s->tokens : 0.0;
    return CLFT_OK;
}

/* ---- loader ------------------------------------------------------------------------------------ */
#define MEGABATCH 50 /* as transformers' LengthGroupedSampler: sort by length within 50 batches */

static int grouping(const clft_dataset *ds) {
    return ds->p.shuffle && ds->p.group_by_length && !ds->p.pack && ds->ex.format != CLFT_DATASET_TEXT;
}

static clft_status make_order(clft_dataset *ds, int batch_size) {
    int key_batch = grouping(ds) ? batch_size : 1;
    if (ds->order && ds->order_epoch == ds->epoch && ds->order_batch == key_batch) return CLFT_OK;
    if (!ds->order && !(ds->order = malloc((ds->n_rows ? ds->n_rows : 1) * sizeof *ds->order)))
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
    for (size_t i = 0; i < ds->n_rows; i++)
        ds->order[i] = i;
    if (ds->p.shuffle) {
        uint64_t e[2] = {ds->p.seed, ds->epoch};
        data_shuffle(ds->order, ds->n_rows, clft_fnv1a(CLFT_FNV_INIT, e, sizeof e));
    }
    if (grouping(ds) && batch_size > 1) {
        size_t mb = (size_t)batch_size * MEGABATCH;
        for (size_t a = 0; a < ds->n_rows; a += mb)
            CLFT_CHECK(sort_by_len_desc(ds->order + a, ds->n_rows - a < mb ? ds->n_rows - a : mb, ds->row_len));
    }
    ds->order_epoch = ds->epoch;
    ds->order_batch = key_batch;
    return CLFT_OK;
}

int64_t clft_dataset_rows(const clft_dataset *ds) { return ds ? (int64_t)ds->n_rows : 0; }

int64_t clft_dataset_batches_per_epoch(const clft_dataset *ds, int batch_size) {
    if (!ds || batch_size < 1) return 0;
    return (int64_t)((ds->n_rows + (size_t)batch_size - 1) / (size_t)batch_size);
}

void clft_batch_free(clft_batch *b) {
    if (!b) return;
    free(b->ids);
    free(b->labels);
    free(b->positions);
    free(b->segments);
    memset(b, 0, sizeof *b);
}

static clft_status batch_shape(clft_batch *b, int batch, int seq_len) {
    if (b->ids && b->labels && b->positions && b->segments && b->batch == batch && b->seq_len == seq_len)
        return CLFT_OK;
    clft_batch_free(b);
    size_t n = (size_t)batch * (size_t)seq_len;
    b->ids = malloc(n * 4);
    b->labels = malloc(n * 4);
    b->positions = malloc(n * 4);
    b->segments = malloc(n * 4);
    if (!b->ids || !b->labels || !b->positions || !b->segments) {
        clft_batch_free(b);
        return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory for a %d x %d batch", batch, seq_len);
    }
    b->batch = batch;
    b->seq_len = seq_len;
    return CLFT_OK;
}

/* Row r of ds (or a padding row when r == SIZE_MAX) into row `at` of b. Returns its length. */
static uint32_t fill_row(const clft_dataset *ds, size_t r, clft_batch *b, int at) {
    size_t L = (size_t)ds->p.seq_len, base = (size_t)at * L, k = 0;
    int32_t *ids = b->ids + base, *lab = b->labels + base, *pos = b->positions + base, *seg = b->segments + base;
    int32_t next_pos = 0;
    if (r != SIZE_MAX)
        for (uint64_t s = ds->row_seg[r]; s < ds->row_seg[r + 1]; s++) {
            const data_seg *g = &ds->segs[s];
            for (uint32_t t = 0; t < g->len; t++, k++) {
                ids[k] = ds->ex.ids[g->start + t];
                lab[k] = seg_label(ds, g, t);
                pos[k] = (int32_t)t;
                seg[k] = (int32_t)(s - ds->row_seg[r]);
            }
            next_pos = (int32_t)g->len;
        }
    uint32_t len = (uint32_t)k;
    for (; k < L; k++) {
        ids[k] = ds->pad_id;
        lab[k] = -100;
        pos[k] = next_pos++;
        seg[k] = -1;
    }
    return len;
}

clft_status clft_dataset_next_batch(clft_dataset *ds, int batch_size, clft_batch *batch) {
    if (!ds || !batch || batch_size < 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_dataset_next_batch: NULL argument or batch_size < 1");
    if (ds->index >= ds->n_rows) {
        ds->epoch++;
        ds->index = 0;
    }
    CLFT_CHECK(make_order(ds, batch_size));
    CLFT_CHECK(batch_shape(batch, batch_size, ds->p.seq_len));
    size_t left = ds->n_rows - ds->index, k = left < (size_t)batch_size ? left : (size_t)batch_size;
    batch->epoch = ds->epoch;
    batch->index = ds->index;
    batch->rows = (int)k;
    batch->max_len = 0;
    batch->tokens = batch->label_tokens = 0;
    for (int i = 0; i < batch_size; i++) {
        uint32_t len = fill_row(ds, (size_t)i < k ? ds->order[ds->index + (size_t)i] : SIZE_MAX, batch, i);
        if ((int)len > batch->max_len) batch->max_len = (int)len;
        batch->tokens += len;
    }
    size_t n = (size_t)batch_size * (size_t)ds->p.seq_len;
    for (size_t i = 0; i < n; i++)
        batch->label_tokens += batch->labels[i] != -100;
    ds->index += k;
    batch->end_of_epoch = ds->index >= ds->n_rows;
    return CLFT_OK;
}

clft_status clft_dataset_get_position(const clft_dataset *ds, clft_dataset_position *out) {
    if (!ds || !out) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_dataset_get_position: NULL argument");
    out->epoch = ds->epoch;
    out->index = ds->index;
    return CLFT_OK;
}

clft_status clft_dataset_set_position(clft_dataset *ds, const clft_dataset_position *pos) {
    if (!ds || !pos) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_dataset_set_position: NULL argument");
    if (pos->index > ds->n_rows)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "dataset position: row %llu is past the %zu rows of an epoch (another dataset?)",
                          (unsigned long long)pos->index, ds->n_rows);
    ds->epoch = pos->epoch;
    ds->index = pos->index;
    return CLFT_OK;
}
