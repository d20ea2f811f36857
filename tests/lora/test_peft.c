/* test_peft.c - clft against the real PEFT (fixtures of tests/interop/peft_fixtures.py in data/:
 * adapters PEFT made and saved on a base clft init writes, transformers+PEFT logits and PEFT's merged
 * weights). For every case (LoRA, rsLoRA, QLoRA on a bitsandbytes NF4 base), on the test device:
 *   - clft_adapter_info_read gives PEFT's r, lora_alpha, use_rslora and targets;
 *   - a clft model on the same base (regenerated with clft_model_init_write, checked against the
 *     fixture's checksum) with PEFT's adapter loaded gives PEFT's logits: max|d| <= 1e-4 max|ref|;
 *   - the adapter clft saves from that model has exactly the keys of PEFT's adapter_config.json with
 *     PEFT's values (base_model_name_or_path aside; target_modules as a set), and PEFT's tensor names,
 *     shapes, dtypes and values;
 *   - clft_export_merged gives PEFT's merged weights (merge_and_unload; for QLoRA PEFT's 4-bit merge
 *     before it re-quantizes, with --merge-base 4bit): max|d| <= 1e-6 max|ref|.
 * With CLFT_PEFT_OUT=DIR it also writes adapters of its own (random A and B; LoRA and QLoRA) and their
 * logits there, for peft_fixtures.py --verify to load in PEFT.
 * usage: test_peft DATA_DIR SCRATCH_DIR */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/io_util.h"
#include "io/safetensors.h"
#include "lora/lora.h"
#include "lora_tutil.h"

static const char *g_data, *g_scratch;
static clft_context *g_ctx;
static clft_model_config g_cfg;
static char *g_base;
static int32_t g_ids[64];
static int g_T;

static char *sub(const char *name) { return clft_io_join(g_scratch, name); }

static clft_model *make_model(const clft_lora_params *lp, int qlora) {
    clft_train_params tp = clft_train_default_params(qlora ? CLFT_METHOD_QLORA : CLFT_METHOD_LORA);
    tp.lora = *lp;
    tp.embed_dtype = CLFT_DTYPE_F32; /* PEFT's reference keeps the embeddings and head in f32 */
    tp.batch = 1;
    tp.seq_len = g_T;
    tp.checkpointing = 0;
    clft_model *m = NULL;
    TU_OK(clft_model_create(g_ctx, &g_cfg, &tp, &m));
    if (m) TU_OK(clft_model_load_weights(m, g_base));
    return m;
}

/* logits (T, V) of the model on the fixture's ids */
static float *logits_of(clft_model *m) {
    clft_trainer *tr = NULL;
    TU_OK(clft_trainer_create(m, &tr));
    if (!tr) return NULL;
    float *lg = malloc((size_t)g_T * (size_t)g_cfg.vocab_size * 4);
    double loss = 0;
    TU_OK(clft_trainer_compute_grads(tr, g_ids, g_ids, &loss, lg));
    clft_trainer_free(tr);
    return lg;
}

static uint32_t mask_of(const cJSON *targets) {
    uint32_t m = 0;
    for (const cJSON *e = targets ? targets->child : NULL; e; e = e->next)
        for (int t = 0; t < CLFT_LORA_NT; t++)
            if (cJSON_IsString(e) && !strcmp(e->valuestring, CLFT_LORA_PROJ[t])) m |= 1u << t;
    return m;
}

static cJSON *read_json(const char *dir, const char *name) {
    char *p = clft_io_join(dir, name);
    char *t = tu_read_file(p, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    TU_CHECK(j != NULL, "%s unreadable", p);
    free(t);
    free(p);
    return j;
}

/* clft's adapter folder against PEFT's: the same config keys and values, tensors and metadata */
static void compare_adapter(const char *name, const char *peft_dir, const char *clft_dir, const cJSON *keys) {
    cJSON *pc = read_json(peft_dir, "adapter_config.json"), *cc = read_json(clft_dir, "adapter_config.json");
    if (pc && cc) {
        int nk = cJSON_GetArraySize(keys), nc = cJSON_GetArraySize(cc), same = 0;
        TU_CHECK(nc == nk, "%s: clft writes %d keys, PEFT %d", name, nc, nk);
        for (const cJSON *k = keys->child; k; k = k->next) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(pc, k->valuestring),
                        *b = cJSON_GetObjectItemCaseSensitive(cc, k->valuestring);
            TU_CHECK(a && b, "%s: key %s in PEFT's and clft's adapter_config.json", name, k->valuestring);
            if (!a || !b) continue;
            int eq;
            if (!strcmp(k->valuestring, "base_model_name_or_path"))
                eq = cJSON_IsString(b); /* PEFT's is the path it loaded from, clft's the absolute folder */
            else if (!strcmp(k->valuestring, "target_modules"))
                eq = mask_of(a) == mask_of(b) && cJSON_GetArraySize(a) == cJSON_GetArraySize(b); /* a set */
            else
                eq = cJSON_Compare(a, b, 1);
            char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
            TU_CHECK(eq, "%s: key %s: PEFT %s, clft %s", name, k->valuestring, sa, sb);
            free(sa);
            free(sb);
            same += eq;
        }
        TU_CHECK(same == nk, "%s: %d of %d keys as PEFT writes them", name, same, nk);
    }
    cJSON_Delete(pc);
    cJSON_Delete(cc);
    char *pp = clft_io_join(peft_dir, "adapter_model.safetensors"),
         *cp = clft_io_join(clft_dir, "adapter_model.safetensors");
    clft_safetensors *ps = NULL, *cs = NULL;
    TU_OK(clft_st_open(pp, &ps));
    TU_OK(clft_st_open(cp, &cs));
    if (ps && cs) {
        TU_CHECK(clft_st_count(ps) == clft_st_count(cs), "%s: %zu tensors, PEFT %zu", name, clft_st_count(cs),
                 clft_st_count(ps));
        for (size_t i = 0; i < clft_st_count(ps); i++) {
            const clft_st_tensor *a = clft_st_at(ps, i), *b = clft_st_find(cs, a->name);
            int ok = b && a->dtype == b->dtype && a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof a->shape) &&
                     a->bytes == b->bytes && !memcmp(a->data, b->data, a->bytes);
            TU_CHECK(ok, "%s: tensor %s: name, dtype, shape or values differ from PEFT's", name, a->name);
        }
        const char *pf = clft_st_metadata(ps, 0, "format"), *cf = clft_st_metadata(cs, 0, "format");
        TU_CHECK(pf && cf && !strcmp(pf, "pt") && !strcmp(cf, "pt"), "%s: metadata format pt", name);
        TU_CHECK(clft_st_metadata(cs, 0, "clft.method") && !clft_st_metadata(ps, 0, "clft.method"),
                 "%s: clft.* metadata from clft only", name);
    }
    clft_safetensors_free(ps);
    clft_safetensors_free(cs);
    free(pp);
    free(cp);
}

static void run_case(const char *name, const cJSON *c, const cJSON *keys, const clft_safetensors *ref) {
    char adir[4200];
    snprintf(adir, sizeof adir, "%s/peft_%s", g_data, name);
    const int qlora = !strcmp(name, "qlora");
    clft_adapter_info info;
    TU_OK(clft_adapter_info_read(adir, &info));
    const double alpha = cJSON_GetObjectItemCaseSensitive(c, "lora_alpha")->valuedouble;
    const int r = cJSON_GetObjectItemCaseSensitive(c, "r")->valueint;
    const int rslora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "use_rslora"));
    const uint32_t mask = mask_of(cJSON_GetObjectItemCaseSensitive(c, "targets"));
    TU_CHECK(info.lora.r == r && info.lora.alpha == (float)alpha && info.lora.use_rslora == rslora &&
                 info.lora.targets == mask && !info.from_clft && !strcmp(info.dtype, "F32") &&
                 !strcmp(info.base_model, "base"),
             "%s: info r %d alpha %g rslora %d targets 0x%x (want 0x%x) from_clft %d dtype %s base '%s'", name,
             info.lora.r, (double)info.lora.alpha, info.lora.use_rslora, info.lora.targets, mask, info.from_clft,
             info.dtype, info.base_model);
    clft_model *m = make_model(&info.lora, qlora);
    if (!m) return;
    TU_OK(clft_model_load_adapter(m, adir));
    float *lg = logits_of(m);
    char key[256];
    snprintf(key, sizeof key, "%s.logits", name);
    int64_t n = 0;
    float *want = lt_tensor_f32(ref, key, &n);
    if (lg && want) {
        TU_CHECK(n == (int64_t)g_T * g_cfg.vocab_size, "%s: %lld logits", name, (long long)n);
        const double mr = lt_maxabs(want, n), md = lt_maxdiff(lg, want, n);
        printf("%-7s logits vs transformers+PEFT: max|d| %.3g, max|d|/max|ref| %.3g\n", name, md, md / mr);
        TU_CHECK(md <= 1e-4 * mr, "%s: logits differ from PEFT's: max|d| %.3g, max|ref| %.3g", name, md, mr);
        tu_close(name, lg, want, (size_t)n, 1e-5 * mr, 1e-4, 1e-10);
    }
    free(lg);
    free(want);
    /* greedy generation (the KV-cache generator, adapter unmerged) against transformers' generate */
    snprintf(key, sizeof key, "%s.greedy", name);
    const clft_st_tensor *gt = clft_st_find(ref, key);
    TU_CHECK(gt && gt->dtype == CLFT_ST_I32 && gt->numel > 0, "%s: the fixture has the greedy ids", name);
    clft_tokenizer *tok = NULL;
    TU_OK(clft_tokenizer_load(g_base, &tok));
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = g_T + 32;
    clft_generator *gen = NULL;
    TU_OK(clft_generator_create(m, &gp, &gen));
    if (gt && gen && tok) {
        clft_generate_params p = clft_generate_default_params();
        p.sampling.temperature = 0;
        p.max_tokens = 24;
        clft_generate_result res;
        TU_OK(clft_generate(gen, tok, g_ids, (size_t)g_T, &p, NULL, NULL, &res));
        const int32_t *want_ids = gt->data;
        int same = res.ids && res.generated_tokens == gt->numel;
        for (int64_t i = 0; same && i < gt->numel; i++)
            same = res.ids[i] == want_ids[i];
        printf("%-7s greedy generation vs transformers' generate: %lld tokens, %s\n", name,
               (long long)res.generated_tokens, same ? "identical" : "DIFFERENT");
        TU_CHECK(same, "%s: greedy ids differ from transformers' (%lld tokens, fixture %lld)", name,
                 (long long)res.generated_tokens, (long long)gt->numel);
        clft_generate_result_free(&res);
    }
    clft_generator_free(gen);
    clft_tokenizer_free(tok);
    /* clft's own adapter file of the same adapter */
    char cname[64];
    snprintf(cname, sizeof cname, "clft_%s", name);
    char *cdir = sub(cname);
    TU_OK(clft_model_save_adapter(m, cdir));
    compare_adapter(name, adir, cdir, keys);
    free(cdir);
    clft_model_free(m);
    /* the merge */
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "merged"))) return;
    snprintf(cname, sizeof cname, "merged_%s", name);
    char *out = sub(cname);
    clft_export_params ep = clft_export_default_params();
    ep.merge_base = qlora ? 1 : -1; /* PEFT's adapter has no clft metadata: say the base was 4-bit */
    TU_OK(clft_export_merged(g_base, adir, out, &ep));
    clft_safetensors *got = NULL;
    TU_OK(clft_st_open(out, &got));
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.merged.", name);
    size_t compared = 0;
    double worst = 0;
    for (size_t i = 0; got && i < clft_st_count(ref); i++) {
        const clft_st_tensor *t = clft_st_at(ref, i);
        if (strncmp(t->name, prefix, strlen(prefix)) != 0) continue;
        const char *w = t->name + strlen(prefix);
        float *a = lt_tensor_f32(ref, t->name, &n), *b = lt_tensor_f32(got, w, NULL);
        if (a && b) {
            const double mr = lt_maxabs(a, n), md = lt_maxdiff(a, b, n);
            worst = fmax(worst, md / mr);
            TU_CHECK(md <= 1e-6 * mr, "%s: merged %s: max|d| %.3g, max|ref| %.3g", name, w, md, mr);
            compared++;
        }
        free(a);
        free(b);
    }
    const int nt = __builtin_popcount(mask) * (int)g_cfg.num_layers;
    TU_CHECK(compared == (size_t)nt, "%s: %zu of %d merged projections compared", name, compared, nt);
    printf("%-7s merged weights vs PEFT's merge: max|d|/max|ref| %.3g over %zu projections\n", name, worst, compared);
    clft_safetensors_free(got);
    free(out);
}

/* CLFT_PEFT_OUT: clft's own adapters (random, LoRA and QLoRA) and their logits, for PEFT to check */
static void write_for_peft(const char *dir) {
    clft_st_out_tensor ts[3];
    memset(ts, 0, sizeof ts);
    float *lg[2] = {NULL, NULL};
    int64_t ids64[64];
    const struct {
        const char *name;
        int qlora;
        clft_lora_params lp;
    } C[2] = {{"clft_lora", 0, {4, 8.0f, 0.0f, 0, CLFT_LORA_Q | CLFT_LORA_V | CLFT_LORA_DOWN}},
              {"clft_qlora", 1, {4, 12.0f, 0.0f, 1, CLFT_LORA_Q | CLFT_LORA_O | CLFT_LORA_DOWN}}};
    TU_CHECK(clft_mkdir_p(dir) == 0, "mkdir %s", dir);
    tu_rng rng = tu_rng_make(77);
    for (int i = 0; i < 2; i++) {
        clft_model *m = make_model(&C[i].lp, C[i].qlora);
        if (!m) return;
        for (int l = 0; l < (int)g_cfg.num_layers; l++)
            for (int t = 0; t < CLFT_LORA_NT; t++) {
                if (!(C[i].lp.targets >> t & 1)) continue;
                int64_t in, out;
                clft_lora_proj_dims(&g_cfg, t, &in, &out);
                float *A = malloc((size_t)(4 * in) * 4), *B = malloc((size_t)(4 * out) * 4);
                tu_fill(&rng, A, (size_t)(4 * in), -0.3f, 0.3f);
                tu_fill(&rng, B, (size_t)(4 * out), -0.3f, 0.3f);
                TU_OK(clft_model_lora_set(m, l, 1u << t, A, B));
                free(A);
                free(B);
            }
        char *ad = clft_io_join(dir, C[i].name);
        TU_OK(clft_model_save_adapter(m, ad));
        free(ad);
        lg[i] = logits_of(m);
        clft_model_free(m);
    }
    char names[2][64];
    for (int t = 0; t < g_T; t++)
        ids64[t] = g_ids[t];
    ts[0].name = "ids";
    ts[0].dtype = CLFT_ST_I64;
    ts[0].ndim = 2;
    ts[0].shape[0] = 1;
    ts[0].shape[1] = g_T;
    ts[0].data = ids64;
    for (int i = 0; i < 2; i++) {
        snprintf(names[i], sizeof names[i], "%s.logits", C[i].name);
        ts[1 + i].name = names[i];
        ts[1 + i].dtype = CLFT_ST_F32;
        ts[1 + i].ndim = 3;
        ts[1 + i].shape[0] = 1;
        ts[1 + i].shape[1] = g_T;
        ts[1 + i].shape[2] = g_cfg.vocab_size;
        ts[1 + i].data = lg[i];
    }
    char *p = clft_io_join(dir, "clft_logits.safetensors");
    clft_st_kv meta = {"format", "pt"};
    if (lg[0] && lg[1]) TU_OK(clft_st_write_file(p, ts, 3, &meta, 1, NULL, NULL));
    printf("wrote clft's adapters and logits to %s\n", dir);
    free(p);
    free(lg[0]);
    free(lg[1]);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_peft DATA_DIR SCRATCH_DIR\n");
        return 2;
    }
    tu_init_seed();
    g_ctx = tu_context();
    g_data = argv[1];
    g_scratch = tu_scratch_dir(argv[2], "peft");
    if (!g_scratch) return 1;
    cJSON *man = read_json(g_data, "peft_reference.json");
    if (!man) return tu_finish("test_peft");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(man, "base"),
                *cases = cJSON_GetObjectItemCaseSensitive(man, "cases"),
                *keys = cJSON_GetObjectItemCaseSensitive(man, "adapter_config_keys");
    g_T = cJSON_GetObjectItemCaseSensitive(man, "T")->valueint;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(man, "versions");
    printf("fixtures of PEFT %s, transformers %s, bitsandbytes %s\n",
           cJSON_GetObjectItemCaseSensitive(ver, "peft")->valuestring,
           cJSON_GetObjectItemCaseSensitive(ver, "transformers")->valuestring,
           cJSON_GetObjectItemCaseSensitive(ver, "bitsandbytes")->valuestring);
    /* the base, as peft_fixtures.py made it with clft init */
    char *cfgp = clft_io_join(g_data, "base_config.json");
    g_base = sub("base");
    clft_model_init_params ip = clft_model_init_default_params();
    ip.config_path = cfgp;
    ip.seed = (uint64_t)cJSON_GetObjectItemCaseSensitive(base, "seed")->valuedouble;
    TU_OK(clft_model_init_write(g_base, &ip));
    TU_OK(clft_model_config_load(g_base, &g_cfg));
    {
        char *mp = clft_io_join(g_base, "model.safetensors");
        size_t len = 0;
        char *bytes = tu_read_file(mp, &len);
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)clft_fnv1a(CLFT_FNV_INIT, bytes, len));
        const char *want = cJSON_GetObjectItemCaseSensitive(base, "model_fnv1a64")->valuestring;
        TU_CHECK(bytes && !strcmp(hex, want),
                 "the base clft init writes changed (FNV-1a %s, fixtures %s): regenerate the fixtures with "
                 "tests/interop/peft_fixtures.py",
                 hex, want);
        free(bytes);
        free(mp);
    }
    char *refp = clft_io_join(g_data, "peft_reference.safetensors");
    clft_safetensors *ref = NULL;
    TU_OK(clft_st_open(refp, &ref));
    int64_t n = 0;
    float *ids = ref ? lt_tensor_f32(ref, "ids", &n) : NULL;
    TU_CHECK(ids && n == g_T && g_T <= 64, "ids");
    for (int64_t i = 0; ids && i < n && i < 64; i++)
        g_ids[i] = (int32_t)ids[i];
    free(ids);
    for (const cJSON *c = ref && cases ? cases->child : NULL; c; c = c->next)
        run_case(c->string, c, keys, ref);
    TU_CHECK(cJSON_GetArraySize(cases) == 3, "3 cases");
    const char *out = getenv("CLFT_PEFT_OUT");
    if (out && out[0]) write_for_peft(out);
    clft_safetensors_free(ref);
    cJSON_Delete(man);
    free(refp);
    free(cfgp);
    free(g_base);
    clft_context_free(g_ctx);
    tu_scratch_done(g_scratch);
    return tu_finish("test_peft");
}
