/* bench_train.c - the training suite (`clft bench train`, the bench_train program): full training
 * steps of full fine-tuning, LoRA and QLoRA on a preset or a real model (--model FILE.gguf or a
 * folder; SmolLM2-135M-Instruct.Q4_1.gguf: QLoRA requantizes it to NF4 while loading), and per method:
 *   - tokens/s and model FLOP utilization against the fp32 FMA limit measured in the same process
 *     (the device section, bench_peak.c);
 *   - the time of a step split by op family from OpenCL profiling events (src/cl/profile.c): GEMM
 *     by the weight's storage type ("gemm act": products of activations, e.g. LoRA's), attention,
 *     norms, element-wise, loss, optimizer, host<->device transfers, and idle = wall - device busy
 *     (host work, launch gaps, and commands without an event: CLBlast's helper kernels);
 *   - peak device memory per class against the memory plan (clft_memory_plan_compute);
 *   - cold start-up (an empty kernel cache: a fresh temporary cache folder, so programs are compiled
 *     and GEMM paths timed) and warm start-up (that cache filled), each from context creation to the
 *     end of the first step.
 * Model FLOPs per token (PERF.md 4.4): LoRA/QLoRA 4*N_base + 6*N_adapter + attention, full 6*N +
 * attention, attention = 12 * layers * heads * head_dim * T (fwd+bwd, PaLM's convention); N excludes
 * the embedding table (a lookup) but includes the LM head. Recomputation for activation
 * checkpointing is not counted (MFU, not HFU). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static double flops_per_token(const clft_model_config *c, clft_method method, int64_t adapter, int64_t T) {
    int64_t per_layer = c->hidden_size * (c->num_heads * c->head_dim) * 2 +
                        c->hidden_size * (c->num_kv_heads * c->head_dim) * 2 +
                        3 * c->hidden_size * c->intermediate_size;
    double n = (double)(per_layer * c->num_layers + c->vocab_size * c->hidden_size);
    double attn = 12.0 * (double)c->num_layers * (double)(c->num_heads * c->head_dim) * (double)T;
    return (method == CLFT_METHOD_FULL ? 6.0 * n : 4.0 * n + 6.0 * (double)adapter) + attn;
}

/* ---- op families ------------------------------------------------------------------------------ */

#define FAM_MAX 24
typedef struct families {
    char name[FAM_MAX][32];
    double seconds[FAM_MAX];
    uint64_t launches[FAM_MAX];
    int n;
} families;

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* The family of a profiled command: its tag (the GEMM layer's weight storage, "attention") first,
 * then its name. */
static void family_of(const clft_prof_entry *e, char *out, size_t cap) {
    const char *n = e->name;
    if (starts(n, "write_buffer") || starts(n, "read_buffer") || starts(n, "copy_buffer"))
        snprintf(out, cap, "host<->device");
    else if (!strcmp(e->tag, "attention") || starts(n, "attention"))
        snprintf(out, cap, "attention");
    else if (e->tag[0])
        snprintf(out, cap, "gemm %s", e->tag);
    else if (starts(n, "gemm") || starts(n, "gemv") || starts(n, "clblast"))
        snprintf(out, cap, "gemm other");
    else if (strstr(n, "norm"))
        snprintf(out, cap, "norms");
    else if (strstr(n, "xent") || strstr(n, "loss") || strstr(n, "argmax"))
        snprintf(out, cap, "loss");
    else if (strstr(n, "adamw") || strstr(n, "sumsq") || strstr(n, "clip"))
        snprintf(out, cap, "optimizer");
    else
        snprintf(out, cap, "element-wise");
}

static void families_add(families *f, const char *name, double s, uint64_t launches) {
    int i = 0;
    while (i < f->n && strcmp(f->name[i], name) != 0)
        i++;
    if (i == f->n) {
        if (f->n == FAM_MAX)
            i = FAM_MAX - 1; /* cannot happen with the names above; fold into the last */
        else {
            snprintf(f->name[i], sizeof f->name[i], "%s", name);
            f->n++;
        }
    }
    f->seconds[i] += s;
    f->launches[i] += launches;
}

/* ---- one run ------------------------------------------------------------------------------------ */

typedef struct train_cfg {
    const char *model; /* preset name, FILE.gguf or folder */
    int from_file;
    int steps, batch, seq, checkpointing;
    const char *device;
} train_cfg;

typedef struct session {
    clft_context *ctx;
    clft_model *m;
    clft_trainer *tr;
    clft_model_config cfg;
    clft_train_params tp;
    clft_memory_plan plan;
    clft_mem_stats m0;
} session;

static void session_free(session *s) {
    clft_trainer_free(s->tr);
    clft_model_free(s->m);
    clft_context_free(s->ctx);
    memset(s, 0, sizeof *s);
}

static clft_status session_open(const train_cfg *c, clft_method method, const char *cache_dir, session *s) {
    memset(s, 0, sizeof *s);
    clft_context_params p = clft_context_default_params();
    p.device = c->device;
    p.cache_dir = cache_dir;
    p.profiling = 1;
    CLFT_CHECK(clft_context_create(&p, &s->ctx));
    CLFT_CHECK(c->from_file ? clft_model_config_load(c->model, &s->cfg) : clft_model_preset_config(c->model, &s->cfg));
    if (c->from_file) s->cfg.has_quantization_config = 0;
    s->tp = clft_train_default_params(method);
    s->tp.batch = c->batch;
    s->tp.seq_len = c->seq;
    s->tp.lr = 1e-4f;
    s->tp.checkpointing = c->checkpointing;
    CLFT_CHECK(clft_memory_plan_compute(&s->cfg, &s->tp, &s->plan));
    clft_context_reset_peak(s->ctx);
    clft_context_mem_stats(s->ctx, &s->m0);
    CLFT_CHECK(clft_model_create(s->ctx, &s->cfg, &s->tp, &s->m));
    CLFT_CHECK(c->from_file ? clft_model_load_weights(s->m, c->model) : clft_model_init_random(s->m, 1, 0.02f));
    return clft_trainer_create(s->m, &s->tr);
}

static int32_t *make_ids(const clft_model_config *cfg, int n) {
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; ids && i < n; i++)
        ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)cfg->vocab_size);
    return ids;
}

/* Context creation to the end of the first step, on the given cache folder. */
static clft_status startup(const train_cfg *c, clft_method method, const char *cache_dir, session *s, double *sec,
                           const int32_t **ids_out, int32_t **ids_keep) {
    const double t0 = clft_now_seconds();
    CLFT_CHECK(session_open(c, method, cache_dir, s));
    int32_t *ids = make_ids(&s->cfg, c->batch * c->seq);
    if (!ids) return clft_error(CLFT_STATUS_HOST_OOM, "bench train: out of host memory");
    clft_step_stats st;
    clft_status r = clft_trainer_step(s->tr, ids, ids, &st);
    *sec = clft_now_seconds() - t0;
    if (ids_keep) {
        *ids_keep = ids;
        *ids_out = ids;
    } else {
        free(ids);
    }
    return r;
}

static clft_status temp_cache(char *dir, size_t cap) {
    const char *tmp = clft_env(CLFT_ENV_TMPDIR);
    snprintf(dir, cap, "%s/clft-bench-cache-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return clft_error(CLFT_STATUS_IO, "bench train: cannot create a temporary folder %s", dir);
    return CLFT_OK;
}

/* Remove the temporary cache folder and what the run wrote into it (files and folders). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[2048];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
                remove_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int run_method(const train_cfg *c, clft_method method, double peak, cJSON *report) {
    char dir[1024];
    session s;
    double cold = 0, warm = 0;
    const char *mname = clft_method_name(method);
    clft_status st = temp_cache(dir, sizeof dir);
    if (st == CLFT_OK) st = startup(c, method, dir, &s, &cold, NULL, NULL);
    session_free(&s);
    int32_t *ids = NULL;
    const int32_t *idv = NULL;
    if (st == CLFT_OK) st = startup(c, method, dir, &s, &warm, &idv, &ids);
    remove_tree(dir);
    if (st != CLFT_OK) {
        fprintf(stderr, "bench train: %s/%s: %s: %s\n", c->model, mname, clft_status_string(st), clft_last_error());
        session_free(&s);
        free(ids);
        return 1;
    }
    /* timed steps, each split by op family */
    const int n = c->batch * c->seq;
    families fam = {0};
    double *secs = malloc((size_t)c->steps * sizeof *secs), wall = 0, loss = 0;
    for (int i = 0; st == CLFT_OK && secs && i < c->steps; i++) {
        clft_cl_profile_reset(s.ctx);
        clft_step_stats ss;
        const double t0 = clft_now_seconds();
        st = clft_trainer_step(s.tr, idv, idv, &ss);
        if (st == CLFT_OK) st = clft_context_finish(s.ctx);
        secs[i] = clft_now_seconds() - t0;
        const clft_prof_entry *e = NULL;
        size_t ne = 0;
        if (st == CLFT_OK) st = clft_cl_profile_collect(s.ctx, &e, &ne);
        for (size_t k = 0; st == CLFT_OK && k < ne; k++) {
            char f[32];
            family_of(&e[k], f, sizeof f);
            families_add(&fam, f, e[k].device_seconds, e[k].launches);
        }
        wall += secs[i];
        loss = ss.loss;
        fprintf(stderr, "  %s/%s step %d: %.3f s, loss %.4f\n", c->model, mname, i + 1, secs[i], ss.loss);
    }
    clft_mem_stats m1;
    clft_context_mem_stats(s.ctx, &m1);
    int rc = 0;
    if (st != CLFT_OK || !secs) {
        fprintf(stderr, "bench train: %s/%s: step: %s\n", c->model, mname, secs ? clft_last_error() : "out of memory");
        rc = 1;
    } else {
        char name[160];
        const double fpt =
            flops_per_token(&s.cfg, method, s.plan.trainable_params * (method != CLFT_METHOD_FULL), c->seq);
        bench_stats sec = bench_stats_of(secs, c->steps);
        bench_stats tps = bench_rate(sec, (double)n);
        const char *mlabel = strrchr(c->model, '/') ? strrchr(c->model, '/') + 1 : c->model;
        snprintf(name, sizeof name, "%s %s tokens/s", mlabel, mname);
        cJSON *e = bench_entry_add(report, name, "train", "tokens/s", tps, NULL, &sec);
        cJSON_AddStringToObject(e, "model", mlabel);
        cJSON_AddStringToObject(e, "method", mname);
        cJSON_AddStringToObject(e, "metric", "tokens_per_second");
        if (peak > 0) {
            bench_stats mfu = bench_rate(sec, fpt * n / 1e9 / peak);
            snprintf(name, sizeof name, "%s %s mfu", mlabel, mname);
            e = bench_entry_add(report, name, "train", "fraction", mfu, NULL, NULL);
            cJSON_AddStringToObject(e, "model", mlabel);
            cJSON_AddStringToObject(e, "method", mname);
            cJSON_AddStringToObject(e, "metric", "mfu");
            cJSON_AddNumberToObject(e, "fp32_gflops", peak);
        }
        bench_stats one = {cold, cold, cold, 1};
        snprintf(name, sizeof name, "%s %s start-up cold", mlabel, mname);
        bench_entry_add(report, name, "startup", "s", one, NULL, NULL);
        one.min = one.median = one.max = warm;
        snprintf(name, sizeof name, "%s %s start-up warm", mlabel, mname);
        bench_entry_add(report, name, "startup", "s", one, NULL, NULL);
        const uint64_t peak_bytes = m1.peak_total - s.m0.current_total;
        bench_stats mb = {(double)peak_bytes / 1048576.0, (double)peak_bytes / 1048576.0,
                          (double)peak_bytes / 1048576.0, 1};
        snprintf(name, sizeof name, "%s %s peak device memory", mlabel, mname);
        e = bench_entry_add(report, name, "memory", "MiB", mb, NULL, NULL);
        cJSON_AddStringToObject(e, "model", mlabel);
        cJSON_AddStringToObject(e, "method", mname);
        cJSON_AddStringToObject(e, "metric", "peak_memory");
        cJSON_AddNumberToObject(e, "plan_mib", (double)s.plan.total / 1048576.0);

        /* the run's details: settings, op split, memory by class */
        cJSON *runs = cJSON_GetObjectItemCaseSensitive(report, "runs");
        if (!runs) runs = cJSON_AddArrayToObject(report, "runs");
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToArray(runs, r);
        cJSON_AddStringToObject(r, "model", mlabel);
        cJSON_AddStringToObject(r, "method", mname);
        cJSON_AddNumberToObject(r, "batch", c->batch);
        cJSON_AddNumberToObject(r, "seq_len", c->seq);
        cJSON_AddNumberToObject(r, "steps", c->steps);
        cJSON_AddBoolToObject(r, "checkpointing",
                              s.tp.checkpointing < 0 ? method != CLFT_METHOD_FULL : s.tp.checkpointing);
        cJSON_AddNumberToObject(r, "tokens_per_second", tps.median);
        cJSON_AddNumberToObject(r, "step_seconds_median", sec.median);
        cJSON_AddNumberToObject(r, "model_gflop_per_step", fpt * n / 1e9);
        if (peak > 0) cJSON_AddNumberToObject(r, "mfu", fpt * n / sec.median / 1e9 / peak);
        cJSON_AddNumberToObject(r, "trainable_params", (double)s.plan.trainable_params);
        cJSON_AddNumberToObject(r, "last_loss", loss);
        cJSON_AddNumberToObject(r, "startup_cold_seconds", cold);
        cJSON_AddNumberToObject(r, "startup_warm_seconds", warm);
        /* op split over all timed steps: seconds per step of each family, idle = wall - busy */
        cJSON *split = cJSON_AddObjectToObject(r, "op_split");
        double busy = 0;
        for (int i = 0; i < fam.n; i++)
            busy += fam.seconds[i];
        cJSON_AddNumberToObject(split, "wall_seconds_per_step", wall / c->steps);
        cJSON *fo = cJSON_AddObjectToObject(split, "families");
        for (int i = 0; i < fam.n; i++) {
            cJSON *x = cJSON_AddObjectToObject(fo, fam.name[i]);
            cJSON_AddNumberToObject(x, "seconds_per_step", fam.seconds[i] / c->steps);
            cJSON_AddNumberToObject(x, "fraction_of_wall", fam.seconds[i] / wall);
            cJSON_AddNumberToObject(x, "launches_per_step", (double)fam.launches[i] / c->steps);
        }
        cJSON *idle = cJSON_AddObjectToObject(fo, "idle");
        cJSON_AddNumberToObject(idle, "seconds_per_step", (wall - busy) / c->steps);
        cJSON_AddNumberToObject(idle, "fraction_of_wall", (wall - busy) / wall);
        cJSON_AddNumberToObject(split, "device_busy_seconds_per_step", busy / c->steps);
        /* memory: peak per class against the plan */
        cJSON *mem = cJSON_AddObjectToObject(r, "memory");
        cJSON_AddNumberToObject(mem, "peak_bytes", (double)peak_bytes);
        cJSON_AddNumberToObject(mem, "plan_bytes", (double)s.plan.total);
        cJSON_AddNumberToObject(mem, "peak_over_plan", (double)peak_bytes / (double)s.plan.total);
        cJSON *pc = cJSON_AddObjectToObject(mem, "by_class");
        for (int k = 0; k < CLFT_MEM_CLASS_COUNT; k++) {
            cJSON *x = cJSON_AddObjectToObject(pc, clft_mem_class_name((clft_mem_class)k));
            cJSON_AddNumberToObject(x, "peak_bytes", (double)(m1.peak_bytes[k] - s.m0.current_bytes[k]));
            cJSON_AddNumberToObject(x, "plan_bytes", (double)s.plan.bytes[k]);
        }
        /* the split as entries too (seconds per step; compare matches them across devices) */
        for (int i = 0; i <= fam.n; i++) {
            const double v = i < fam.n ? fam.seconds[i] / c->steps : (wall - busy) / c->steps;
            bench_stats b = {v, v, v, c->steps};
            snprintf(name, sizeof name, "%s %s step split: %s", mlabel, mname, i < fam.n ? fam.name[i] : "idle");
            bench_entry_add(report, name, "op split", "s/step", b, NULL, NULL);
        }
    }
    free(secs);
    free(ids);
    session_free(&s);
    return rc;
}

int clft_bench_train_main(int argc, char **argv) {
    bench_cli c = {0};
    const char *preset = NULL, *model = NULL, *methods = "full,lora,qlora";
    int steps = 3, batch = -1, seq = -1, checkpointing = -1;
    double peak = 0;
    for (int i = 1; i < argc; i++) {
        if (!bench_cli_arg(&c, argc, argv, &i)) continue;
        const int has = i + 1 < argc;
        if (!strcmp(argv[i], "--preset") && has)
            preset = argv[++i];
        else if (!strcmp(argv[i], "--model") && has)
            model = argv[++i];
        else if (!strcmp(argv[i], "--method") && has)
            methods = argv[++i];
        else if (!strcmp(argv[i], "--steps") && has)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && has)
            batch = atoi(argv[++i]);
        else if ((!strcmp(argv[i], "--seq-len") || !strcmp(argv[i], "--seq")) && has)
            seq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--checkpointing") && has)
            checkpointing = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peak-gflops") && has)
            peak = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: clft bench train [--device SPEC] [--preset NAME | --model DIR|FILE.gguf] "
                            "[--method full,lora,qlora] [--seq-len T] [--batch B] [--steps N] "
                            "[--checkpointing -1|0|1] [--peak-gflops X] [--quick] [--json FILE] [--md FILE]\n");
            return 2;
        }
    }
    if (preset && model) {
        fprintf(stderr, "bench train: --preset and --model exclude each other\n");
        return 2;
    }
    train_cfg tc = {0};
    tc.model = model ? model : preset ? preset : (c.quick ? "tiny" : "small");
    tc.from_file = model != NULL;
    tc.steps = steps < 1 ? 1 : steps;
    if (c.quick && tc.steps > 2) tc.steps = 2;
    tc.batch = batch > 0 ? batch : (c.quick ? 2 : 4);
    tc.seq = seq > 0 ? seq : (c.quick ? 32 : 256);
    tc.checkpointing = checkpointing;
    tc.device = c.device;
    clft_method list[3];
    int nm = 0;
    for (const char *p = methods; *p && nm < 3;) {
        size_t len = strcspn(p, ",");
        const clft_method all[3] = {CLFT_METHOD_FULL, CLFT_METHOD_LORA, CLFT_METHOD_QLORA};
        int found = 0;
        for (int k = 0; k < 3; k++)
            if (strlen(clft_method_name(all[k])) == len && !strncmp(p, clft_method_name(all[k]), len)) {
                list[nm++] = all[k];
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "bench train: --method %s: expected a comma-separated list of full, lora, qlora\n",
                    methods);
            return 2;
        }
        p += len + (p[len] == ',');
    }
    /* the fp32 limit for MFU and the report's limits, measured in this process */
    clft_context *ctx = bench_context(c.device, "bench train");
    if (!ctx) return 1;
    cJSON *report = bench_report_new(ctx, "train", c.quick, tc.steps, 1);
    cJSON *set = bench_report_settings(report);
    cJSON_AddStringToObject(set, "model", tc.model);
    cJSON_AddStringToObject(set, "methods", methods);
    cJSON_AddNumberToObject(set, "batch", tc.batch);
    cJSON_AddNumberToObject(set, "seq_len", tc.seq);
    cJSON_AddNumberToObject(set, "steps", tc.steps);
    cJSON_AddNumberToObject(set, "checkpointing", tc.checkpointing);
    int rc = 0;
    if (peak <= 0) {
        bench_opts o = {c.quick, 3, NULL};
        cJSON *pk = cJSON_CreateObject();
        clft_status st = bench_section_peak(ctx, &o, NULL, pk);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(pk, "fp32_gflops");
        const cJSON *cp = cJSON_GetObjectItemCaseSensitive(pk, "copy_gbs");
        if (st == CLFT_OK && cJSON_IsNumber(g)) peak = g->valuedouble;
        if (st == CLFT_OK && cJSON_IsNumber(cp)) bench_report_limit(report, "copy_gbs", cp->valuedouble, "GB/s");
        cJSON_Delete(pk);
        if (st != CLFT_OK) {
            fprintf(stderr, "bench train: device limits: %s\n", clft_last_error());
            rc = 1;
        }
    }
    clft_context_free(ctx);
    if (peak > 0) bench_report_limit(report, "fp32_gflops", peak, "GFLOP/s");
    for (int i = 0; rc == 0 && i < nm; i++)
        rc |= run_method(&tc, list[i], peak, report);
    if (rc == 0) rc = bench_report_finish(report, c.json, c.md, "bench train");
    cJSON_Delete(report);
    return rc;
}
