/* test_export.c - clft_export_merged on the host (no device): a tiny ragged base written by
 * clft_model_init_write (tests/lora/data/base_config.json), adapters with random non-zero A and B
 * written by clft's adapter writer, merged into F32 / BF16 / F16 / NF4 / FP4 folders and compared
 * with a direct fp32 computation in the same order (so bit for bit): W = W0 + scale * (B @ A), W0 the
 * stored base, or for a QLoRA adapter (and merge_base 1, and a 4-bit base folder) the dequantized
 * 4-bit base quantized with the adapter's settings. Also: shards + index, config torch_dtype and
 * quantization_config, tokenizer and generation files copied, an existing folder refused and
 * replaced with force, nothing left behind when the adapter does not fit the base.
 * usage: test_export DATA_DIR SCRATCH_DIR */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/bnb4.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "lora/lora.h"
#include "model/config.h"
#include "quant/quant.h"
#include "ref/ref.h"
#include "lora_tutil.h"

static const char *g_data, *g_scratch;

static char *sub(const char *name) { return clft_io_join(g_scratch, name); }

/* ---- adapters held on the host ------------------------------------------------------------------- */
typedef struct host_adapter {
    clft_model_config cfg;
    int r;
    uint32_t targets;
    float alpha;
    int rslora;
    float *A[8][CLFT_LORA_NT], *B[8][CLFT_LORA_NT];
    const void *ptr[8 * CLFT_LORA_NT * 2]; /* in the writer's order */
} host_adapter;

static void adapter_make(host_adapter *h, const clft_model_config *cfg, int r, uint32_t targets, float alpha,
                         int rslora, uint64_t salt) {
    memset(h, 0, sizeof *h);
    h->cfg = *cfg;
    h->r = r;
    h->targets = targets;
    h->alpha = alpha;
    h->rslora = rslora;
    tu_rng rng = tu_rng_make(salt);
    size_t k = 0;
    for (int64_t l = 0; l < cfg->num_layers; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            if (!(targets >> t & 1)) continue;
            int64_t in, out;
            clft_lora_proj_dims(cfg, t, &in, &out);
            h->A[l][t] = malloc((size_t)(r * in) * 4);
            h->B[l][t] = malloc((size_t)(r * out) * 4);
            tu_fill(&rng, h->A[l][t], (size_t)(r * in), -0.3f, 0.3f);
            tu_fill(&rng, h->B[l][t], (size_t)(r * out), -0.2f, 0.2f);
            h->ptr[k++] = h->A[l][t];
            h->ptr[k++] = h->B[l][t];
        }
}

static void adapter_free(host_adapter *h) {
    for (int l = 0; l < 8; l++)
        for (int t = 0; t < CLFT_LORA_NT; t++) {
            free(h->A[l][t]);
            free(h->B[l][t]);
        }
}

static clft_status host_fill(void *user, size_t index, uint64_t offset, void *dst, size_t bytes) {
    const host_adapter *h = user;
    memcpy(dst, (const char *)h->ptr[index] + offset, bytes);
    return CLFT_OK;
}

/* method CLFT_METHOD_LORA with base_dtype F32, or QLoRA with a 4-bit type */
static void adapter_write(host_adapter *h, const char *dir, clft_method method, clft_dtype base_dtype, int bs, int dq) {
    clft_adapter_write_params p;
    memset(&p, 0, sizeof p);
    p.lora.r = h->r;
    p.lora.alpha = h->alpha;
    p.lora.use_rslora = h->rslora;
    p.lora.targets = h->targets;
    p.base_model = "/some/base";
    p.method = method;
    p.base_dtype = base_dtype;
    p.qlora_blocksize = bs;
    p.qlora_double_quant = dq;
    p.cfg = &h->cfg;
    TU_OK(clft_adapter_write(dir, &p, host_fill, h));
}

/* ---- the expected result ------------------------------------------------------------------------- */
typedef struct w0_mode {
    int q4; /* 0: W0 as stored; 1: quantized with (type, bs, dq) and dequantized */
    clft_dtype type;
    int bs, dq;
} w0_mode;

/* The merged value of every config tensor (f32), as the test computes it. */
static float *expected(clft_safetensors *base, const host_adapter *h, const clft_hf_tensor *ht, w0_mode m) {
    int64_t n = 0;
    float *w = NULL;
    if (clft_bnb4_is_quantized(base, ht->name)) {
        clft_q4 q;
        int64_t r, c;
        TU_OK(clft_bnb4_read(base, ht->name, &q, &r, &c));
        n = r * c;
        w = malloc((size_t)n * 4);
        clft_q4_dequantize(&q, w);
        int same = q.type == m.type && q.blocksize == m.bs && q.double_quant == m.dq;
        clft_q4_free(&q);
        if (m.q4 && !same) {
            TU_OK(clft_q4_quantize(w, n, m.type, m.bs, m.dq, &q));
            clft_q4_dequantize(&q, w);
            clft_q4_free(&q);
        }
    } else {
        w = lt_tensor_f32(base, ht->name, &n);
        if (!w) return NULL;
        if (ht->role == CLFT_ROLE_LINEAR && m.q4) {
            clft_q4 q;
            TU_OK(clft_q4_quantize(w, n, m.type, m.bs, m.dq, &q));
            clft_q4_dequantize(&q, w);
            clft_q4_free(&q);
        }
    }
    int layer = -1, off = 0;
    if (ht->role != CLFT_ROLE_LINEAR || !h || sscanf(ht->name, "model.layers.%d.%n", &layer, &off) != 1) return w;
    for (int t = 0; t < CLFT_LORA_NT; t++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s.%s.weight", CLFT_LORA_BLOCK[t], CLFT_LORA_PROJ[t]);
        if (strcmp(ht->name + off, nm) != 0 || !(h->targets >> t & 1)) continue;
        const float scale = (float)(h->rslora ? h->alpha / sqrt((double)h->r) : (double)h->alpha / h->r);
        const int64_t out = ht->shape[0], in = ht->shape[1], r = h->r;
        const float *A = h->A[layer][t], *B = h->B[layer][t];
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < r; k++)
                    acc += B[o * r + k] * A[k * in + i];
                w[o * in + i] += acc * scale;
            }
    }
    return w;
}

/* Compare the exported folder with the expectation: every config tensor, in the stored dtype (or
 * 4-bit when q4out is set), bit for bit. */
static void check_export(const char *what, const char *out, const char *base_dir, const host_adapter *h, w0_mode m,
                         clft_dtype dtype, const clft_hf_q4 *q4out) {
    clft_model_config cfg;
    clft_safetensors *base = NULL, *got = NULL;
    TU_OK(clft_model_folder_open(base_dir, &cfg, &base));
    TU_OK(clft_st_open(out, &got));
    clft_hf_tensor *list = NULL;
    size_t n = 0;
    TU_OK(clft_hf_tensor_list(&cfg, &list, &n));
    if (!base || !got || !list) return;
    TU_CHECK(clft_st_count(got) == n * 1 + (q4out ? (size_t)cfg.num_layers * 7 * (q4out->double_quant ? 5 : 3) : 0),
             "%s: %zu tensors in the export", what, clft_st_count(got));
    size_t same = 0, linear_diff = 0;
    for (size_t i = 0; i < n; i++) {
        const clft_hf_tensor *ht = &list[i];
        float *want = expected(base, h, ht, m);
        if (!want) continue;
        const int64_t numel = ht->shape[0] * (ht->ndim == 2 ? ht->shape[1] : 1);
        if (q4out && ht->role == CLFT_ROLE_LINEAR) {
            clft_q4 q, r;
            int64_t rows = 0, cols = 0;
            TU_OK(clft_bnb4_read(got, ht->name, &q, &rows, &cols));
            TU_OK(clft_q4_quantize(want, numel, q4out->type, q4out->blocksize, q4out->double_quant, &r));
            int ok =
                rows == ht->shape[0] && cols == ht->shape[1] && q.type == r.type && q.blocksize == r.blocksize &&
                q.double_quant == r.double_quant && !memcmp(q.packed, r.packed, (size_t)(numel + 1) / 2) &&
                (r.double_quant ? !memcmp(q.qabsmax, r.qabsmax, (size_t)r.nblocks) && q.nested_offset == r.nested_offset
                                : !memcmp(q.absmax, r.absmax, (size_t)r.nblocks * 4));
            TU_CHECK(ok, "%s: 4-bit %s differs from the quantized expectation", what, ht->name);
            same += ok;
            char sj[256];
            snprintf(sj, sizeof sj, "%s.quant_state.bitsandbytes__%s", ht->name,
                     q4out->type == CLFT_DTYPE_FP4 ? "fp4" : "nf4");
            const clft_st_tensor *js = clft_st_find(got, sj);
            char want_dt[64];
            snprintf(want_dt, sizeof want_dt, "\"dtype\": \"%s\"",
                     dtype == CLFT_DTYPE_BF16  ? "bfloat16"
                     : dtype == CLFT_DTYPE_F16 ? "float16"
                                               : "float32");
            char text[600] = "";
            if (js && js->bytes < sizeof text) memcpy(text, js->data, js->bytes);
            TU_CHECK(js && strstr(text, want_dt), "%s: %s quant_state names the dtype (%s)", what, ht->name, text);
            clft_q4_free(&q);
            clft_q4_free(&r);
            free(want);
            continue;
        }
        const clft_st_tensor *g = clft_st_find(got, ht->name);
        clft_st_dtype want_dt = dtype == CLFT_DTYPE_BF16  ? CLFT_ST_BF16
                                : dtype == CLFT_DTYPE_F16 ? CLFT_ST_F16
                                                          : CLFT_ST_F32;
        TU_CHECK(g && g->dtype == want_dt && g->numel == numel, "%s: %s missing or of another dtype/size", what,
                 ht->name);
        if (g && g->dtype == want_dt && g->numel == numel) {
            int ok = 1;
            const unsigned char *p = g->data;
            for (int64_t k = 0; k < numel && ok; k++) {
                if (want_dt == CLFT_ST_F32) {
                    float v;
                    memcpy(&v, p + 4 * k, 4);
                    ok = !memcmp(&v, &want[k], 4);
                } else {
                    uint16_t v = (uint16_t)(p[2 * k] | p[2 * k + 1] << 8);
                    ok = v == (want_dt == CLFT_ST_BF16 ? clft_ref_f32_to_bf16(want[k]) : clft_ref_f32_to_f16(want[k]));
                }
            }
            TU_CHECK(ok, "%s: %s differs from the direct fp32 computation", what, ht->name);
            same += ok;
        }
        /* the merge changed the adapted weights (the adapter is not a no-op) */
        if (h && ht->role == CLFT_ROLE_LINEAR && !clft_bnb4_is_quantized(base, ht->name)) {
            float *w0 = lt_tensor_f32(base, ht->name, NULL);
            if (w0 && memcmp(w0, want, (size_t)numel * 4)) linear_diff++;
            free(w0);
        }
        free(want);
    }
    TU_CHECK(same == n, "%s: %zu of %zu tensors as expected", what, same, n);
    if (h && !q4out && !m.q4) TU_CHECK(linear_diff > 0, "%s: no merged weight differs from the base", what);
    free(list);
    clft_safetensors_free(base);
    clft_safetensors_free(got);
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    int ok = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return ok;
}

static int file_has(const char *path, const char *needle) {
    char *x = tu_read_file(path, NULL);
    int ok = x && strstr(x, needle);
    free(x);
    return ok;
}

/* no OUT.tmp-* / OUT.old-* left beside the outputs */
static int leftovers(void) {
    DIR *d = opendir(g_scratch);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp-") || strstr(e->d_name, ".old-")) {
            fprintf(stderr, "  leftover %s\n", e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static clft_status export_to(const char *base, const char *ad, const char *out, clft_dtype dtype, clft_dtype quantize,
                             int bs, int dq, int merge_base, int force, uint64_t shard) {
    clft_export_params p = clft_export_default_params();
    p.dtype = dtype;
    p.quantize = quantize;
    p.blocksize = bs;
    p.double_quant = dq;
    p.merge_base = merge_base;
    p.force = force;
    p.max_shard_bytes = shard;
    return clft_export_merged(base, ad, out, &p);
}

/* clft_lora_merge alone: ragged sizes (register tiles and edges, column tiles of 1024), thread
 * counts, W0 from F32/F16/BF16 (special values included) - bit for bit the plain loop */
static void test_merge_kernel(void) {
    const int64_t shapes[][3] = {{37, 1029, 3}, {5, 7, 1}, {130, 2100, 16}, {8, 8, 8}, {1, 3000, 5}, {64, 48, 64}};
    tu_rng rng = tu_rng_make(99);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t out = shapes[s][0], in = shapes[s][1], r = shapes[s][2], n = out * in;
        float *A = malloc((size_t)(r * in) * 4), *B = malloc((size_t)(out * r) * 4), *w0 = malloc((size_t)n * 4);
        float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
        uint16_t *h16 = malloc((size_t)n * 2), *hbf = malloc((size_t)n * 2);
        tu_fill(&rng, A, (size_t)(r * in), -1.0f, 1.0f);
        tu_fill(&rng, B, (size_t)(out * r), -1.0f, 1.0f);
        tu_fill(&rng, w0, (size_t)n, -2.0f, 2.0f);
        const float special[] = {0.0f, -0.0f, 1e-6f, -3e-8f, 65504.0f, 1e30f, INFINITY, -INFINITY, NAN};
        for (size_t k = 0; k < sizeof special / sizeof special[0] && k < (size_t)n; k++)
            w0[k * 7 % (size_t)n] = special[k];
        for (int64_t i = 0; i < n; i++) {
            h16[i] = clft_ref_f32_to_f16(w0[i]);
            hbf[i] = clft_ref_f32_to_bf16(w0[i]);
        }
        const float scale = 0.37f;
        for (int dt = 0; dt < 3; dt++) {
            for (int64_t i = 0; i < n; i++)
                want[i] = dt == 0 ? w0[i] : dt == 1 ? clft_ref_f16_to_f32(h16[i]) : clft_ref_bf16_to_f32(hbf[i]);
            for (int64_t o = 0; o < out; o++)
                for (int64_t i = 0; i < in; i++) {
                    float acc = 0.0f;
                    for (int64_t k = 0; k < r; k++)
                        acc += B[o * r + k] * A[k * in + i];
                    want[o * in + i] += acc * scale;
                }
            const void *src = dt == 0 ? (const void *)w0 : dt == 1 ? (const void *)h16 : (const void *)hbf;
            const clft_st_dtype sdt = dt == 0 ? CLFT_ST_F32 : dt == 1 ? CLFT_ST_F16 : CLFT_ST_BF16;
            const int threads[] = {1, 3, 0};
            for (int t = 0; t < 3; t++) {
                memset(got, 0xff, (size_t)n * 4);
                TU_OK(clft_lora_merge(got, src, sdt, A, B, out, in, r, scale, threads[t]));
                TU_CHECK(!memcmp(got, want, (size_t)n * 4),
                         "merge %lldx%lld r %lld, W0 %s, %d threads: not the plain loop", (long long)out, (long long)in,
                         (long long)r, clft_st_dtype_name(sdt), threads[t]);
            }
        }
        free(A);
        free(B);
        free(w0);
        free(want);
        free(got);
        free(h16);
        free(hbf);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_export DATA_DIR SCRATCH_DIR\n");
        return 2;
    }
    tu_init_seed();
    clft_set_log_callback(tu_log, NULL, getenv("CLFT_TEST_VERBOSE") ? CLFT_LOG_DEBUG : CLFT_LOG_WARN);
    g_data = argv[1];
    g_scratch = tu_scratch_dir(argv[2], "export");
    if (!g_scratch) return 1;
    test_merge_kernel();
    char *cfg_path = clft_io_join(g_data, "base_config.json");
    char *base = sub("base"), *base16 = sub("base_bf16"), *qbase = sub("base_nf4");
    clft_model_init_params ip = clft_model_init_default_params();
    ip.config_path = cfg_path;
    ip.seed = 7;
    TU_OK(clft_model_init_write(base, &ip));
    ip.dtype = CLFT_DTYPE_BF16;
    TU_OK(clft_model_init_write(base16, &ip));
    clft_quantize_params qp = clft_quantize_default_params();
    TU_OK(clft_model_quantize(base, qbase, &qp));
    clft_model_config cfg;
    TU_OK(clft_model_config_load(base, &cfg));

    /* adapters: LoRA on q, v, down (r 4, alpha 8); rsLoRA on every projection; QLoRA ones */
    host_adapter h1, h2, h3;
    adapter_make(&h1, &cfg, 4, CLFT_LORA_Q | CLFT_LORA_V | CLFT_LORA_DOWN, 8.0f, 0, 1);
    adapter_make(&h2, &cfg, 3, CLFT_LORA_ALL, 6.0f, 1, 2);
    adapter_make(&h3, &cfg, 4, CLFT_LORA_K | CLFT_LORA_O | CLFT_LORA_GATE | CLFT_LORA_UP, 16.0f, 0, 3);
    char *a1 = sub("ad_lora"), *a2 = sub("ad_rslora"), *a3 = sub("ad_qlora"), *a4 = sub("ad_qlora_fp4");
    adapter_write(&h1, a1, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 64, 1);
    adapter_write(&h2, a2, CLFT_METHOD_LORA, CLFT_DTYPE_BF16, 64, 1);
    adapter_write(&h3, a3, CLFT_METHOD_QLORA, CLFT_DTYPE_NF4, 64, 1);
    adapter_write(&h3, a4, CLFT_METHOD_QLORA, CLFT_DTYPE_FP4, 128, 0);
    const w0_mode stored = {0, CLFT_DTYPE_NF4, 64, 1}, nf4_64 = {1, CLFT_DTYPE_NF4, 64, 1},
                  fp4_128 = {1, CLFT_DTYPE_FP4, 128, 0};

    /* f32, bf16, f16 outputs of a LoRA adapter on the f32 base */
    char *o1 = sub("out_f32"), *o2 = sub("out_bf16"), *o3 = sub("out_f16"), *o4 = sub("out_rslora");
    TU_OK(export_to(base, a1, o1, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("lora f32", o1, base, &h1, stored, CLFT_DTYPE_F32, NULL);
    TU_OK(export_to(base, a1, o2, CLFT_DTYPE_BF16, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("lora bf16", o2, base, &h1, stored, CLFT_DTYPE_BF16, NULL);
    TU_OK(export_to(base, a1, o3, CLFT_DTYPE_F16, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("lora f16", o3, base, &h1, stored, CLFT_DTYPE_F16, NULL);
    TU_OK(export_to(base16, a2, o4, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("rslora all targets on a bf16 base", o4, base16, &h2, stored, CLFT_DTYPE_F32, NULL);

    /* the folder around the weights */
    {
        const char *files[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json"};
        for (int i = 0; i < 3; i++) {
            char *x = clft_io_join(base, files[i]), *y = clft_io_join(o2, files[i]);
            TU_CHECK(same_file(x, y), "%s copied", files[i]);
            free(x);
            free(y);
        }
        clft_model_config c2;
        TU_OK(clft_model_config_load(o2, &c2));
        TU_CHECK(!strcmp(c2.torch_dtype, "bfloat16") && !c2.has_quantization_config, "bf16 config: torch_dtype %s",
                 c2.torch_dtype);
        TU_OK(clft_model_config_load(o3, &c2));
        TU_CHECK(!strcmp(c2.torch_dtype, "float16"), "f16 config: torch_dtype %s", c2.torch_dtype);
        char *cj = clft_io_join(o1, "config.json");
        TU_CHECK(file_has(cj, "\"torch_dtype\": \"float32\"") && !file_has(cj, "quantization_config"),
                 "f32 config.json");
        free(cj);
        char *mf = clft_io_join(o1, "model.safetensors");
        clft_safetensors *st = NULL;
        TU_OK(clft_st_open(mf, &st));
        const char *fmt = st ? clft_st_metadata(st, 0, "format") : NULL;
        TU_CHECK(fmt && !strcmp(fmt, "pt"), "metadata format pt");
        clft_safetensors_free(st);
        free(mf);
    }

    /* QLoRA adapters: W0 is the base quantized as training did, then dequantized */
    char *o5 = sub("out_qlora"), *o6 = sub("out_qlora_stored"), *o7 = sub("out_qlora_fp4"), *o8 = sub("out_mb1");
    TU_OK(export_to(base, a3, o5, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("qlora nf4/64/dq", o5, base, &h3, nf4_64, CLFT_DTYPE_F32, NULL);
    TU_OK(export_to(base, a3, o6, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, 0, 0, 0));
    check_export("qlora, merge_base 0 (as stored)", o6, base, &h3, stored, CLFT_DTYPE_F32, NULL);
    TU_OK(export_to(base, a4, o7, CLFT_DTYPE_BF16, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("qlora fp4/128/no dq", o7, base, &h3, fp4_128, CLFT_DTYPE_BF16, NULL);
    TU_OK(export_to(base, a1, o8, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, 1, 0, 0));
    check_export("lora, merge_base 1 (nf4/64/dq)", o8, base, &h1, nf4_64, CLFT_DTYPE_F32, NULL);

    /* a bitsandbytes 4-bit base folder: its weights as stored (dequantized), or re-quantized for a
     * QLoRA adapter of other settings */
    char *o9 = sub("out_qbase"), *o10 = sub("out_qbase_fp4");
    TU_OK(export_to(qbase, a1, o9, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("4-bit base folder", o9, qbase, &h1, nf4_64, CLFT_DTYPE_F32, NULL);
    TU_OK(export_to(qbase, a4, o10, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0));
    check_export("4-bit base folder, fp4/128 adapter", o10, qbase, &h3, fp4_128, CLFT_DTYPE_F32, NULL);

    /* 4-bit outputs: the merged weights quantized, bitsandbytes layout, quantization_config */
    char *o11 = sub("out_nf4"), *o12 = sub("out_fp4");
    TU_OK(export_to(base, a1, o11, CLFT_DTYPE_BF16, CLFT_DTYPE_NF4, 64, 1, -1, 0, 0));
    const clft_hf_q4 qa = {CLFT_DTYPE_NF4, 64, 1}, qb = {CLFT_DTYPE_FP4, 128, 0};
    check_export("nf4 output", o11, base, &h1, stored, CLFT_DTYPE_BF16, &qa);
    TU_OK(export_to(base, a3, o12, CLFT_DTYPE_F32, CLFT_DTYPE_FP4, 128, 0, -1, 0, 0));
    check_export("fp4 output of a qlora merge", o12, base, &h3, nf4_64, CLFT_DTYPE_F32, &qb);
    {
        char *cj = clft_io_join(o11, "config.json");
        TU_CHECK(file_has(cj, "\"bnb_4bit_compute_dtype\": \"bfloat16\"") &&
                     file_has(cj, "\"bnb_4bit_quant_type\": \"nf4\"") &&
                     file_has(cj, "\"bnb_4bit_use_double_quant\": true") &&
                     file_has(cj, "\"torch_dtype\": \"bfloat16\""),
                 "nf4 config.json quantization_config");
        free(cj);
        clft_model_config c2;
        clft_safetensors *st = NULL;
        TU_OK(clft_model_folder_open(o11, &c2, &st)); /* loads as a 4-bit model folder */
        clft_safetensors_free(st);
        cj = clft_io_join(o12, "config.json");
        TU_CHECK(file_has(cj, "\"bnb_4bit_quant_type\": \"fp4\"") &&
                     file_has(cj, "\"bnb_4bit_use_double_quant\": false"),
                 "fp4 config.json");
        free(cj);
    }

    /* shards + index */
    char *o13 = sub("out_sharded");
    TU_OK(export_to(base, a1, o13, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 60000));
    {
        char *idx = clft_io_join(o13, "model.safetensors.index.json"), *one = clft_io_join(o13, "model.safetensors");
        char *s1 = clft_io_join(o13, "model-00001-of-00005.safetensors");
        TU_CHECK(exists(idx) && !exists(one) && exists(s1), "sharded export: an index and 5 shards");
        TU_CHECK(file_has(idx, "\"total_size\": 272832"), "index total_size");
        check_export("sharded", o13, base, &h1, stored, CLFT_DTYPE_F32, NULL);
        free(idx);
        free(one);
        free(s1);
    }

    /* an existing folder: refused, untouched; force replaces it */
    {
        char *marker = clft_io_join(o1, "marker.txt");
        TU_OK(clft_io_write_atomic(marker, "x", 1));
        clft_status s = export_to(base, a3, o1, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0);
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "exists"),
                 "existing out refused: %s: %s", clft_status_string(s), clft_last_error());
        TU_CHECK(exists(marker), "the refused folder is untouched");
        check_export("refused folder unchanged", o1, base, &h1, stored, CLFT_DTYPE_F32, NULL);
        TU_OK(export_to(base, a3, o1, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 1, 0));
        TU_CHECK(!exists(marker), "force replaced the folder (marker gone)");
        check_export("forced", o1, base, &h3, nf4_64, CLFT_DTYPE_F32, NULL);
        free(marker);
    }

    /* an adapter for another base: refused before anything is written */
    {
        clft_model_config other = cfg;
        other.hidden_size = 64;
        other.head_dim = 16;
        host_adapter h4;
        adapter_make(&h4, &other, 4, CLFT_LORA_Q | CLFT_LORA_V, 8.0f, 0, 4);
        char *a5 = sub("ad_other"), *o14 = sub("out_mismatch");
        adapter_write(&h4, a5, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 64, 1);
        clft_status s = export_to(base, a5, o14, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0);
        TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH && strstr(clft_last_error(), "q_proj.lora_A.weight") &&
                     strstr(clft_last_error(), "[4, 64]") && strstr(clft_last_error(), "[4, 48]"),
                 "adapter for another base: %s: %s", clft_status_string(s), clft_last_error());
        TU_CHECK(!exists(o14), "nothing written for a mismatched adapter");
        s = export_to(base, a5, o2, CLFT_DTYPE_BF16, CLFT_DTYPE_F32, 64, 1, -1, 1, 0);
        TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH, "mismatch with force: %s", clft_status_string(s));
        check_export("kept after a failed forced export", o2, base, &h1, stored, CLFT_DTYPE_BF16, NULL);
        /* a layer count that differs */
        other = cfg;
        other.num_layers = 3;
        host_adapter h5;
        adapter_make(&h5, &other, 4, CLFT_LORA_Q, 8.0f, 0, 5);
        char *a6 = sub("ad_layers");
        adapter_write(&h5, a6, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 64, 1);
        s = export_to(base, a6, o14, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0);
        TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH && strstr(clft_last_error(), "layer 2"),
                 "adapter with more layers: %s: %s", clft_status_string(s), clft_last_error());
        TU_CHECK(!exists(o14), "nothing written");
        other.num_layers = 1;
        host_adapter h6;
        adapter_make(&h6, &other, 4, CLFT_LORA_Q, 8.0f, 0, 6);
        char *a7 = sub("ad_fewer_layers");
        adapter_write(&h6, a7, CLFT_METHOD_LORA, CLFT_DTYPE_F32, 64, 1);
        s = export_to(base, a7, o14, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0);
        TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH && strstr(clft_last_error(), "layers 0..0"),
                 "adapter with fewer layers: %s: %s", clft_status_string(s), clft_last_error());
        TU_CHECK(!exists(o14), "nothing written");
        adapter_free(&h6);
        free(a7);
        adapter_free(&h4);
        adapter_free(&h5);
        free(a5);
        free(a6);
        free(o14);
    }
    /* bad parameters and folders */
    {
        char *o15 = sub("out_bad");
        TU_CHECK(export_to(base, a1, o15, CLFT_DTYPE_NF4, CLFT_DTYPE_F32, 64, 1, -1, 0, 0) ==
                     CLFT_STATUS_INVALID_ARGUMENT,
                 "dtype nf4 refused");
        TU_CHECK(export_to(base, a1, o15, CLFT_DTYPE_F32, CLFT_DTYPE_NF4, 48, 1, -1, 0, 0) ==
                     CLFT_STATUS_INVALID_ARGUMENT,
                 "blocksize 48 refused");
        TU_CHECK(export_to(base, a1, o15, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, 2, 0, 0) ==
                     CLFT_STATUS_INVALID_ARGUMENT,
                 "merge_base 2 refused");
        clft_status s = export_to("/nonexistent/base", a1, o15, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0);
        TU_CHECK(s == CLFT_STATUS_IO, "missing base folder: %s", clft_status_string(s));
        s = export_to(base, "/nonexistent/adapter", o15, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 0, 0);
        TU_CHECK(s == CLFT_STATUS_IO, "missing adapter folder: %s", clft_status_string(s));
        s = export_to(base, a1, base, CLFT_DTYPE_F32, CLFT_DTYPE_F32, 64, 1, -1, 1, 0);
        TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT, "out = the base refused even with force: %s",
                 clft_status_string(s));
        TU_CHECK(!exists(o15), "nothing written on bad parameters");
        free(o15);
    }
    TU_CHECK(leftovers() == 0, "no temporary or replaced folders left behind");

    adapter_free(&h1);
    adapter_free(&h2);
    adapter_free(&h3);
    char *all[] = {cfg_path, base, base16, qbase, a1, a2, a3,  a4,  o1,  o2, o3,
                   o4,       o5,   o6,     o7,    o8, o9, o10, o11, o12, o13};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    tu_scratch_done(g_scratch);
    return tu_finish("test_export");
}
