/* export.c - clft_export_merged: a base model folder plus a PEFT LoRA adapter merged into a Hugging
 * Face model folder on the host, without a device.
 *
 * Every adapted projection becomes W = W0 + scale * (B @ A) in fp32 (merge.c). W0 is what the
 * adapter was trained against: for a QLoRA adapter (clft metadata) or a bitsandbytes 4-bit base
 * folder, the 4-bit base dequantized - a float base is quantized exactly as training did (the
 * adapter's 4-bit type, block size and double quantization; clft_q4_quantize is byte-exact with
 * bitsandbytes), which is what PEFT's merge computes on a bitsandbytes model and what clft computes
 * while training and generating. The output holds the tensors of the config in dtype (F32, F16,
 * BF16), or with quantize the projections as bitsandbytes 4-bit (the writer of clft_model_quantize).
 *
 * Crash safety: everything is written into a sibling folder OUT.tmp-XXXXXX, fsynced, and renamed to
 * OUT; with force an existing OUT is first renamed to OUT.old-XXXXXX and removed after the switch.
 * OUT is therefore complete or absent (a SIGKILL leaves at most a .tmp-/.old- sibling behind). */
#define _XOPEN_SOURCE 700 /* nftw, realpath */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/bnb4.h"
#include "io/io_util.h"
#include "lora/lora.h"
#include "quant/quant.h"

clft_export_params clft_export_default_params(void) {
    clft_export_params p;
    memset(&p, 0, sizeof p);
    p.dtype = CLFT_DTYPE_F32;
    p.quantize = CLFT_DTYPE_F32;
    p.blocksize = 64;
    p.double_quant = 1;
    p.merge_base = -1;
    return p;
}

/* ---- folders ------------------------------------------------------------------------------------- */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf (0 on success) */
static int remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static clft_status fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return clft_error(CLFT_STATUS_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return clft_error(CLFT_STATUS_IO, "%s: fsync failed: %s", dir, strerror(e));
    return CLFT_OK;
}

/* path without trailing slashes into out (cap bytes); its parent folder into parent */
static clft_status split_out(const char *path, char *out, size_t cap, char *parent, size_t pcap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0 || n + 32 >= cap)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: bad output folder '%s'", path);
    memcpy(out, path, n);
    out[n] = '\0';
    const char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(parent, pcap, ".");
    else if (slash == out)
        snprintf(parent, pcap, "/");
    else
        snprintf(parent, pcap, "%.*s", (int)(slash - out), out);
    return CLFT_OK;
}

/* 1 when a (existing) is b or lies inside b */
static int inside(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    if (!realpath(a, ra) || !realpath(b, rb)) return 0;
    size_t n = strlen(rb);
    return !strncmp(ra, rb, n) && (ra[n] == '\0' || ra[n] == '/' || (n == 1 && rb[0] == '/'));
}

/* ---- the merge ------------------------------------------------------------------------------------ */
typedef struct export_ctx {
    const clft_safetensors *st;
    const clft_adapter *ad;
    const clft_model_config *cfg;
    const clft_hf_tensor *list;
    int use4;         /* W0 of the projections: the dequantized 4-bit base */
    clft_hf_q4 t4;    /* ... quantized with these settings (when not already so in the folder) */
    int keep_stored4; /* a 4-bit folder: its stored 4-bit weights are W0 whatever their settings */
    float scale;
    float *A, *B; /* one projection's adapter */
    size_t acap, bcap;
} export_ctx;

clft_status clft_lora_grow(float **p, size_t *cap, size_t n) {
    if (n <= *cap) return CLFT_OK;
    float *q = realloc(*p, n * sizeof(float));
    if (!q) return clft_error(CLFT_STATUS_HOST_OOM, "export: out of host memory for %zu floats", n);
    *p = q;
    *cap = n;
    return CLFT_OK;
}

/* x (n floats) := dequantize(quantize(x)) with the settings t4 */
static clft_status round_trip4(const clft_hf_q4 *t4, float *x, int64_t n) {
    clft_q4 q;
    CLFT_CHECK(clft_q4_quantize(x, n, t4->type, t4->blocksize, t4->double_quant, &q));
    clft_q4_dequantize(&q, x);
    clft_q4_free(&q);
    return CLFT_OK;
}

static clft_status export_values(void *user, size_t index, float *dst) {
    export_ctx *c = user;
    const clft_hf_tensor *h = &c->list[index];
    const int64_t rows = h->shape[0], cols = h->ndim == 2 ? h->shape[1] : h->shape[0];
    const int64_t nrows = h->ndim == 2 ? rows : 1, numel = nrows * cols;
    if (h->role != CLFT_ROLE_LINEAR) { /* converted in threads */
        const clft_st_tensor *t = NULL;
        CLFT_CHECK(clft_st_get(c->st, h->name, &t));
        return clft_lora_merge(dst, t->data, t->dtype, NULL, NULL, nrows, cols, 0, 0.0f, 0);
    }
    int layer = -1;
    const int target = clft_lora_target_of(h->name, &layer);
    const int adapted = target >= 0 && c->ad && (c->ad->targets >> target & 1);
    const void *src = NULL;
    clft_st_dtype src_dt = CLFT_ST_F32;
    if (clft_bnb4_is_quantized(c->st, h->name)) {
        clft_q4 q;
        int64_t r = 0, k = 0;
        CLFT_CHECK(clft_bnb4_read(c->st, h->name, &q, &r, &k));
        clft_status s = r * k == numel ? CLFT_OK
                                       : clft_error(CLFT_STATUS_SHAPE_MISMATCH,
                                                    "4-bit weight '%s': %lld elements, %lld "
                                                    "expected",
                                                    h->name, (long long)(r * k), (long long)numel);
        if (!s) clft_q4_dequantize(&q, dst);
        const int same = q.type == c->t4.type && q.blocksize == c->t4.blocksize && q.double_quant == c->t4.double_quant;
        clft_q4_free(&q);
        CLFT_CHECK(s);
        if (c->use4 && !c->keep_stored4 && !same) CLFT_CHECK(round_trip4(&c->t4, dst, numel));
    } else {
        const clft_st_tensor *t = NULL;
        CLFT_CHECK(clft_st_get(c->st, h->name, &t));
        if (c->use4) {
            CLFT_CHECK(clft_lora_merge(dst, t->data, t->dtype, NULL, NULL, nrows, cols, 0, 0.0f, 0));
            CLFT_CHECK(round_trip4(&c->t4, dst, numel));
        } else {
            src = t->data; /* converted by the merge's threads */
            src_dt = t->dtype;
        }
    }
    if (!adapted) return src ? clft_lora_merge(dst, src, src_dt, NULL, NULL, nrows, cols, 0, 0.0f, 0) : CLFT_OK;
    const int64_t r = c->ad->info.lora.r;
    CLFT_CHECK(clft_lora_grow(&c->A, &c->acap, (size_t)(r * cols)));
    CLFT_CHECK(clft_lora_grow(&c->B, &c->bcap, (size_t)(r * rows)));
    CLFT_CHECK(clft_adapter_get(c->ad, layer, target, c->A, c->B));
    return clft_lora_merge(dst, src, src_dt, c->A, c->B, rows, cols, r, c->scale, 0);
}

/* ---- the merge source (also for export_gguf.c) ------------------------------------------------- */
struct clft_merge_src {
    clft_model_config cfg;
    clft_safetensors *st;
    clft_adapter *ad;
    clft_hf_tensor *list;
    size_t n;
    export_ctx c;
};

clft_status clft_merge_src_open(const char *model_dir, const char *adapter_dir, int merge_base, clft_merge_src **out) {
    *out = NULL;
    clft_merge_src *m = clft_calloc(1, sizeof *m);
    if (!m) return CLFT_STATUS_HOST_OOM;
    clft_status s = clft_model_folder_open(model_dir, &m->cfg, &m->st);
    if (!s && adapter_dir) {
        s = clft_adapter_open(adapter_dir, m->cfg.num_layers, &m->ad);
        if (!s) s = clft_adapter_check_config(m->ad, &m->cfg);
        if (s) clft_error_prefix(s, "adapter %s for the model %s", adapter_dir, model_dir);
    }
    if (!s) s = clft_hf_tensor_list(&m->cfg, &m->list, &m->n);
    if (s) {
        clft_merge_src_close(m);
        return s;
    }
    export_ctx *c = &m->c;
    const clft_adapter *ad = m->ad;
    c->st = m->st;
    c->ad = ad;
    c->cfg = &m->cfg;
    c->list = m->list;
    c->scale = ad ? (float)ad->scale : 0.0f;
    const int base4 = m->cfg.has_quantization_config;
    const int qlora = ad && ad->info.from_clft && ad->info.method == CLFT_METHOD_QLORA;
    c->use4 = merge_base == 1 || base4 || (merge_base == -1 && qlora);
    /* a 4-bit folder's weights are the base as they are, unless a QLoRA adapter trained on them
     * quantized otherwise (clft re-quantizes a 4-bit folder of other settings when it loads) */
    c->keep_stored4 = base4 && (!qlora || merge_base == 0);
    c->t4.type = qlora ? ad->info.base_dtype : CLFT_DTYPE_NF4;
    c->t4.blocksize = qlora ? ad->info.qlora_blocksize : 64;
    c->t4.double_quant = qlora ? ad->info.qlora_double_quant : 1;
    clft_log(CLFT_LOG_INFO, "export: merging %s into %s (W0: %s)", adapter_dir ? adapter_dir : "no adapter", model_dir,
             !c->use4          ? "as stored"
             : c->keep_stored4 ? "the folder's 4-bit weights"
                               : "4-bit round trip");
    *out = m;
    return CLFT_OK;
}

const clft_model_config *clft_merge_src_config(const clft_merge_src *m) { return &m->cfg; }
const clft_adapter *clft_merge_src_adapter(const clft_merge_src *m) { return m->ad; }
const clft_hf_tensor *clft_merge_src_tensors(const clft_merge_src *m, size_t *n) {
    *n = m->n;
    return m->list;
}
clft_status clft_merge_src_values(clft_merge_src *m, size_t index, float *dst) {
    if (index >= m->n) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: tensor index %zu of %zu", index, m->n);
    return export_values(&m->c, index, dst);
}

void clft_merge_src_close(clft_merge_src *m) {
    if (!m) return;
    free(m->c.A);
    free(m->c.B);
    free(m->list);
    clft_adapter_close(m->ad);
    clft_safetensors_free(m->st);
    free(m);
}

static clft_status check_params(const clft_export_params *p) {
    if (p->dtype != CLFT_DTYPE_F32 && p->dtype != CLFT_DTYPE_F16 && p->dtype != CLFT_DTYPE_BF16)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: dtype %s (f32, f16 or bf16)",
                          clft_dtype_name(p->dtype));
    if (p->quantize != CLFT_DTYPE_F32 && p->quantize != CLFT_DTYPE_NF4 && p->quantize != CLFT_DTYPE_FP4)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: quantize %s (nf4, fp4, or f32 for none)",
                          clft_dtype_name(p->quantize));
    if (p->quantize != CLFT_DTYPE_F32 &&
        (p->blocksize < 32 || p->blocksize > 4096 || (p->blocksize & (p->blocksize - 1))))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: 4-bit block size %d (32..4096, a power of two)",
                          p->blocksize);
    if (p->double_quant != 0 && p->double_quant != 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: double_quant %d (0 or 1)", p->double_quant);
    if (p->merge_base < -1 || p->merge_base > 1)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "export: merge_base %d (-1, 0 or 1)", p->merge_base);
    return CLFT_OK;
}

/* Everything into the folder tmp (which exists). */
static clft_status write_folder(const char *tmp, const char *model_dir, const clft_model_config *cfg, clft_hf_writer *w,
                                const clft_export_params *p, const clft_hf_q4 *q4) {
    CLFT_CHECK(clft_hf_writer_write(w, tmp, p->max_shard_bytes));
    CLFT_CHECK(clft_lora_folder_files(tmp, model_dir, cfg, p->dtype, q4));
    return fsync_dir(tmp);
}

/* Put the finished folder tmp in place of out (moving an existing out aside and removing it). */
static clft_status switch_in(const char *tmp, const char *out, const char *parent, int exists) {
    char old[PATH_MAX + 32];
    if (exists) {
        snprintf(old, sizeof old, "%s.old-XXXXXX", out);
        if (!mkdtemp(old)) return clft_error(CLFT_STATUS_IO, "%s: cannot create a folder: %s", old, strerror(errno));
        if (rename(out, old) != 0) { /* onto the empty folder just made */
            clft_status s = clft_error(CLFT_STATUS_IO, "%s: cannot move it aside: %s", out, strerror(errno));
            rmdir(old);
            return s;
        }
    }
    if (rename(tmp, out) != 0) {
        clft_status s = clft_error(CLFT_STATUS_IO, "%s: cannot rename %s into place: %s", out, tmp, strerror(errno));
        if (exists) rename(old, out); /* put the old one back */
        return s;
    }
    clft_status s = fsync_dir(parent);
    if (exists && remove_tree(old) != 0)
        clft_log(CLFT_LOG_WARN, "%s: could not remove the replaced folder: %s", old, strerror(errno));
    return s;
}

clft_status clft_export_merged(const char *model_dir, const char *adapter_dir, const char *out_dir,
                               const clft_export_params *params) {
    if (!model_dir || !adapter_dir || !out_dir)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_export_merged: NULL folder");
    const clft_export_params p = params ? *params : clft_export_default_params();
    CLFT_CHECK(check_params(&p));
    char out[PATH_MAX], parent[PATH_MAX];
    CLFT_CHECK(split_out(out_dir, out, sizeof out, parent, sizeof parent));
    struct stat sb;
    const int exists = lstat(out, &sb) == 0;
    if (exists && !p.force)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s already exists (force replaces it)", out);
    if (exists && !S_ISDIR(sb.st_mode))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s exists and is not a folder", out);
    if (exists && (inside(model_dir, out) || inside(adapter_dir, out)))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "%s holds the base model or the adapter: write elsewhere", out);
    if (!clft_io_is_dir(model_dir)) return clft_error(CLFT_STATUS_IO, "%s: no such model folder", model_dir);

    /* everything is checked before anything is written */
    clft_merge_src *m = NULL;
    CLFT_CHECK(clft_merge_src_open(model_dir, adapter_dir, p.merge_base, &m));
    const clft_model_config cfg = m->cfg;
    const clft_hf_tensor *list = m->list;
    const size_t n = m->n;
    clft_status s = CLFT_OK;
    clft_st_dtype odt = CLFT_ST_F32;
    if (!s) clft_st_dtype_from_clft(p.dtype, &odt);
    const clft_hf_q4 q4 = {p.quantize, p.blocksize, p.double_quant};
    const int quantize = p.quantize != CLFT_DTYPE_F32;
    clft_hf_out *outs = NULL;
    if (!s) s = clft_lora_outs(list, n, odt, quantize, &outs);

    char tmp[PATH_MAX + 32];
    int made_tmp = 0;
    if (!s && clft_mkdir_p(parent) != 0)
        s = clft_error(CLFT_STATUS_IO, "%s: cannot create the folder: %s", parent, strerror(errno));
    if (!s) {
        snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
        if (!mkdtemp(tmp))
            s = clft_error(CLFT_STATUS_IO, "%s: cannot create a temporary folder: %s", tmp, strerror(errno));
        else
            made_tmp = 1;
    }
    if (!s) (void)chmod(tmp, 0755);
    clft_hf_writer *w = NULL;
    double t0 = clft_now_seconds();
    if (!s) s = clft_hf_writer_create(outs, n, quantize ? &q4 : NULL, 0, export_values, &m->c, &w);
    if (!s) s = write_folder(tmp, model_dir, &cfg, w, &p, quantize ? &q4 : NULL);
    if (!s) s = switch_in(tmp, out, parent, exists);
    if (s && made_tmp) remove_tree(tmp);
    if (!s) clft_log(CLFT_LOG_INFO, "export: wrote %s in %.1f s", out, clft_now_seconds() - t0);
    clft_hf_writer_free(w);
    free(outs);
    clft_merge_src_close(m);
    return s;
}
