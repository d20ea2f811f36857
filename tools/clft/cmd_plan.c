/* cmd_plan.c - `clft plan`: the device memory a training run needs, by class, computed from the model's
 * config alone (clft_memory_plan_compute, clft_generator_plan: no device, nothing allocated), for a
 * model folder, a .gguf file or a preset and the settings of `clft train` (the same flags, parsed by
 * train_config.c; those that do not change memory are accepted and ignored). --fit SIZE|DEVICE answers
 * the largest batch and sequence length within a budget and, when the settings do not fit, what to
 * change. --json prints the plan as one object (schema in the usage text and the README). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_config.h"

#define CMD "plan"

static void usage(void) {
    printf(
        "usage: clft plan (--model DIR|FILE.gguf | --preset NAME) [--method full|lora|qlora] [--rank R]\n"
        "                 [--targets LIST] [--seq-len T] [--batch B] [--grad-accum K] [--checkpointing -1|0|1]\n"
        "                 [--base-dtype D] [--fit SIZE|DEVICE] [--json]\n\n"
        "The device memory a `clft train` run with these settings allocates, by class, computed from the model's\n"
        "config (no device, nothing loaded or allocated). Every `clft train` flag is accepted (those that do not\n"
        "change memory are ignored), so a train command line with `train` replaced by `plan` gives its plan.\n"
        "Activations are shown with and without activation checkpointing; --checkpointing -1 (default) plans\n"
        "the library's choice (on for LoRA/QLoRA, off for full). The KV cache is what `clft generate` needs\n"
        "for a context of --seq-len tokens.\n\n"
        "  --preset NAME        a built-in model shape (tiny, small, llama-2-7b, mistral-7b, ...: clft init --help)\n"
        "  --fit SIZE|DEVICE    a budget: a size with a unit (8GiB, 7.5GiB, 512MiB, 8GB, 1000000B) or a device\n"
        "                       spec as --device takes (its global memory); prints the largest batch at --seq-len\n"
        "                       and the largest seq-len (powers of two, multiples of 64) at --batch that fit,\n"
        "                       and when the settings do not fit, what to change with the total each gives\n"
        "  --json               one JSON object: {\"total_bytes\", \"classes\": {weights, trainable, gradients,\n"
        "                       optimizer, activations, scratch} (they sum to total_bytes), \"activations\":\n"
        "                       {checkpointing_on, checkpointing_off}, \"total_checkpointing\": {on, off},\n"
        "                       \"generate_kv_cache_bytes\", \"settings\": {...}, \"params\": {base, trainable},\n"
        "                       \"fit\": {budget_bytes, fits, max_batch, max_seq_len, advice: [...]} with --fit}\n\n"
        "exit status: 0 printed; 2 bad options, unknown preset, unreadable model, bad size or device.\n");
}

static const char *const CLASS_NAMES[CLFT_MEM_CLASS_COUNT] = {"frozen weights",  "trainable",   "gradients",
                                                              "optimizer state", "activations", "scratch"};

/* "8GiB", "7.5 GiB", "512MiB", "8GB", "100B": 1 and *bytes; 0 when s starts like a number but is no
 * size; -1 when it is no number at all (then a device spec). A bare integer is a device index. */
static int parse_size(const char *s, uint64_t *bytes) {
    if (!isdigit((unsigned char)s[0]) && s[0] != '.') return -1;
    char *end = NULL;
    const double x = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (!*end) return -1; /* a device index */
    static const struct {
        const char *unit;
        double mul;
    } U[] = {{"B", 1},         {"KiB", 1024.0},    {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
             {"KB", 1e3},      {"MB", 1e6},        {"GB", 1e9},        {"TB", 1e12},          {"K", 1024.0},
             {"M", 1048576.0}, {"G", 1073741824.0}};
    for (size_t i = 0; i < sizeof U / sizeof U[0]; i++)
        if (!strcmp(end, U[i].unit)) {
            const double b = x * U[i].mul;
            if (!(b >= 1) || b > 1.8e19) return 0;
            *bytes = (uint64_t)b;
            return 1;
        }
    return 0;
}

typedef struct plan_ctx {
    clft_model_config mcfg;
    clft_train_params tp;
} plan_ctx;

static uint64_t total_for(const plan_ctx *p, const clft_train_params *tp) {
    clft_memory_plan m;
    return clft_memory_plan_compute(&p->mcfg, tp, &m) == CLFT_OK ? m.total : UINT64_MAX;
}

/* The largest batch (up to 1 << 20) at tp's seq-len whose plan fits; 0 when batch 1 does not. */
static int max_batch(const plan_ctx *p, const clft_train_params *base, uint64_t budget) {
    clft_train_params tp = *base;
    tp.batch = 1;
    if (total_for(p, &tp) > budget) return 0;
    int lo = 1, hi = 2; /* lo fits; find hi that does not, then bisect */
    for (;; hi *= 2) {
        tp.batch = hi;
        if (hi > (1 << 20) || total_for(p, &tp) > budget) break;
        lo = hi;
    }
    if (hi > (1 << 20)) return lo;
    while (hi - lo > 1) {
        tp.batch = lo + (hi - lo) / 2;
        if (total_for(p, &tp) <= budget)
            lo = tp.batch;
        else
            hi = tp.batch;
    }
    return lo;
}

/* The largest seq-len among 2, 4, ..., 32 and the multiples of 64 up to the model's maximum (32768
 * when it states none) at tp's batch whose plan fits; 0 when none. The plan grows with seq-len. */
static int max_seq_len(const plan_ctx *p, const clft_train_params *base, uint64_t budget) {
    const int64_t maxpos = p->mcfg.max_position_embeddings > 0 ? p->mcfg.max_position_embeddings : 32768;
    clft_train_params tp = *base;
    int best = 0;
    for (int t = 2; t < 64 && t <= maxpos; t *= 2) {
        tp.seq_len = t;
        if (total_for(p, &tp) > budget) return best;
        best = t;
    }
    int64_t lo = 0, hi = maxpos / 64 + 1; /* multiples lo*64 fit (lo = 0: none yet), hi*64 does not */
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        tp.seq_len = (int)(mid * 64);
        if (total_for(p, &tp) <= budget)
            lo = mid;
        else
            hi = mid;
    }
    return lo ? (int)(lo * 64) : best;
}

typedef struct advice {
    char change[96];
    uint64_t total;
} advice;

/* The settings to change when tp does not fit: each alone, with the plan total it gives. */
static int make_advice(const plan_ctx *p, uint64_t budget, advice *a, int cap) {
    int n = 0;
    const clft_train_params *tp = &p->tp;
    clft_train_params t;
#define ADD(...)                                                                                                       \
    do {                                                                                                               \
        if (n < cap) {                                                                                                 \
            snprintf(a[n].change, sizeof a[n].change, __VA_ARGS__);                                                    \
            a[n++].total = total_for(p, &t);                                                                           \
        }                                                                                                              \
    } while (0)
    if (tp->checkpointing == 0) {
        t = *tp;
        t.checkpointing = 1;
        ADD("--checkpointing 1");
    }
    if (tp->method != CLFT_METHOD_QLORA) {
        t = clft_train_default_params(CLFT_METHOD_QLORA);
        t.lora = tp->lora;
        t.batch = tp->batch;
        t.seq_len = tp->seq_len;
        t.checkpointing = tp->checkpointing;
        ADD("--method qlora");
    }
    if (tp->method != CLFT_METHOD_FULL && tp->lora.r > 1) {
        t = *tp;
        t.lora.r = tp->lora.r > 8 ? 8 : tp->lora.r / 2;
        ADD("--rank %d", t.lora.r);
    }
    if (tp->method != CLFT_METHOD_FULL && (tp->lora.targets & ~(CLFT_LORA_Q | CLFT_LORA_V))) {
        t = *tp;
        t.lora.targets = CLFT_LORA_Q | CLFT_LORA_V;
        ADD("--targets q,v");
    }
    if (tp->batch > 1) {
        t = *tp;
        t.batch = 1;
        ADD("--batch 1");
    }
    t = *tp;
    const int s1 = max_seq_len(p, tp, budget);
    if (s1 > 0 && s1 < tp->seq_len) {
        t.seq_len = s1;
        ADD("--seq-len %d", s1);
    } else if (tp->batch > 1 && (t.batch = 1, (t.seq_len = max_seq_len(p, &t, budget)) > 0)) {
        ADD("--batch 1 --seq-len %d", t.seq_len);
    }
#undef ADD
    return n;
}

/* The advice of make_advice as one line for `clft train`'s refusal: "--checkpointing 1 (5.20 GiB),
 * --method qlora (4.10 GiB, fits), ..." (cli.h). */
void plan_advice_line(const clft_model_config *cfg, const clft_train_params *tp, uint64_t budget, char *out,
                      size_t cap) {
    plan_ctx p;
    p.mcfg = *cfg;
    p.tp = *tp;
    advice a[8];
    const int n = make_advice(&p, budget, a, 8);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len + 1 < cap; i++) {
        char h[32];
        cli_human_bytes(h, sizeof h, a[i].total);
        const int w = snprintf(out + len, cap - len, "%s%s (%s%s)", i ? ", " : "", a[i].change, h,
                               a[i].total <= budget ? ", fits" : "");
        if (w < 0) break;
        len += (size_t)w < cap - len ? (size_t)w : cap - len - 1;
    }
}

static const char *targets_text(uint32_t m, char *buf, size_t cap) {
    static const char *names[7] = {"q", "k", "v", "o", "gate", "up", "down"};
    if (m == CLFT_LORA_ALL) return "all";
    buf[0] = 0;
    for (int i = 0; i < 7; i++)
        if (m & (1u << i)) snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", buf[0] ? "," : "", names[i]);
    return buf;
}

int cmd_plan(int argc, char **argv) {
    const char *preset = NULL, *fit = NULL;
    int json = 0;
    /* plan's own options out; the rest is a train command line */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return cli_usage_error(CMD, "out of memory");
    int nrest = 0;
    rest[nrest++] = argv[0];
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (cli_opt(argc, argv, &i, "--preset", &v))
            rc = !v ? cli_usage_error(CMD, "--preset: missing NAME") : (preset = v, 0);
        else if (cli_opt(argc, argv, &i, "--fit", &v))
            rc = !v ? cli_usage_error(CMD, "--fit: missing SIZE or DEVICE") : (fit = v, 0);
        else
            rest[nrest++] = argv[i];
    }
    train_config c;
    train_config_defaults(&c);
    char err[4600];
    int help = 0;
    if (!rc && !train_config_parse(&c, nrest, rest, &help, err, sizeof err)) rc = cli_usage_error(CMD, "%s", err);
    free(rest);
    if (rc) return rc;
    if (help) {
        usage();
        return 0;
    }
    if (preset && c.model[0]) return cli_usage_error(CMD, "give --model or --preset, not both");
    if (!preset && !c.model[0]) return cli_usage_error(CMD, "--model DIR|FILE.gguf or --preset NAME is required");
    if (c.adapter[0]) return cli_usage_error(CMD, "--adapter: not planned; give its --rank and --targets instead");
    if (c.base_storage[0] && preset) return cli_usage_error(CMD, "--base-storage native needs --model FILE.gguf");
    if (c.seq_len < 2) return cli_usage_error(CMD, "--seq-len %d: must be at least 2", c.seq_len);
    if (c.batch < 1) return cli_usage_error(CMD, "--batch %d: must be at least 1", c.batch);
    if (c.grad_accum < 1) return cli_usage_error(CMD, "--grad-accum %d: must be at least 1", c.grad_accum);
    if (c.rank < 1) return cli_usage_error(CMD, "--rank %d: must be at least 1", c.rank);
    if (c.checkpointing < -1 || c.checkpointing > 1)
        return cli_usage_error(CMD, "--checkpointing %d: use -1, 0 or 1", c.checkpointing);
    plan_ctx P;
    memset(&P, 0, sizeof P);
    if (!train_config_params(&c, &P.tp, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
    if (preset ? clft_model_preset_config(preset, &P.mcfg) != CLFT_OK
               : clft_model_config_load(c.model, &P.mcfg) != CLFT_OK)
        return cli_usage_error(CMD, "%s %s: %s", preset ? "--preset" : "--model", preset ? preset : c.model,
                               clft_last_error());
    if (P.mcfg.max_position_embeddings > 0 && c.seq_len > P.mcfg.max_position_embeddings)
        return cli_usage_error(CMD, "--seq-len %d is above the model's maximum of %lld positions", c.seq_len,
                               (long long)P.mcfg.max_position_embeddings);
    /* budget */
    uint64_t budget = 0;
    char budget_from[200] = "";
    if (fit) {
        const int k = parse_size(fit, &budget);
        if (k == 0) return cli_usage_error(CMD, "--fit '%s': not a size (e.g. 8GiB, 512MiB, 8GB) or device", fit);
        if (k < 0) {
            int idx = -1;
            clft_device_info di;
            if (!cli_device_info(fit, &di, &idx))
                return cli_usage_error(CMD, "--fit '%s': not a size (e.g. 8GiB) nor a device: %s", fit,
                                       clft_last_error());
            budget = di.global_mem_bytes;
            snprintf(budget_from, sizeof budget_from, "device %d: %s", idx, di.name);
        }
    }
    /* the plan, the two checkpointing choices, the KV cache */
    if (P.tp.checkpointing < 0) P.tp.checkpointing = P.tp.method != CLFT_METHOD_FULL; /* the library's rule */
    clft_memory_plan plan, on, off;
    clft_train_params t = P.tp;
    clft_status st = clft_memory_plan_compute(&P.mcfg, &P.tp, &plan);
    t.checkpointing = 1;
    if (st == CLFT_OK) st = clft_memory_plan_compute(&P.mcfg, &t, &on);
    t.checkpointing = 0;
    if (st == CLFT_OK) st = clft_memory_plan_compute(&P.mcfg, &t, &off);
    uint64_t kv = 0;
    clft_generator_params gp = clft_generator_default_params();
    gp.max_context = c.seq_len;
    if (st == CLFT_OK) st = clft_generator_plan(&P.mcfg, &P.tp, &gp, &kv);
    if (st != CLFT_OK) return cli_usage_error(CMD, "%s", clft_last_error());
    /* fit */
    int mb = 0, ms = 0, fits = 0, nadv = 0;
    advice adv[8];
    if (fit) {
        fits = plan.total <= budget;
        mb = max_batch(&P, &P.tp, budget);
        ms = max_seq_len(&P, &P.tp, budget);
        if (!fits) nadv = make_advice(&P, budget, adv, 8);
    }
    char tbuf[64];
    const char *targets = targets_text(P.tp.lora.targets, tbuf, sizeof tbuf);
    const char *dtype = P.tp.method == CLFT_METHOD_FULL ? "f32" : clft_dtype_name(P.tp.base_dtype);
    const char *model = preset ? preset : c.model;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "total_bytes", (double)plan.total);
        cJSON *cl = cJSON_AddObjectToObject(o, "classes");
        for (int k = 0; k < CLFT_MEM_CLASS_COUNT; k++)
            cJSON_AddNumberToObject(cl, clft_mem_class_name((clft_mem_class)k), (double)plan.bytes[k]);
        cJSON *ac = cJSON_AddObjectToObject(o, "activations");
        cJSON_AddNumberToObject(ac, "checkpointing_on", (double)on.bytes[CLFT_MEM_ACTIVATIONS]);
        cJSON_AddNumberToObject(ac, "checkpointing_off", (double)off.bytes[CLFT_MEM_ACTIVATIONS]);
        cJSON *tc = cJSON_AddObjectToObject(o, "total_checkpointing");
        cJSON_AddNumberToObject(tc, "on", (double)on.total);
        cJSON_AddNumberToObject(tc, "off", (double)off.total);
        cJSON_AddNumberToObject(o, "generate_kv_cache_bytes", (double)kv);
        cJSON *s = cJSON_AddObjectToObject(o, "settings");
        cJSON_AddStringToObject(s, preset ? "preset" : "model", model);
        cJSON_AddStringToObject(s, "arch", clft_arch_name(P.mcfg.arch));
        cJSON_AddStringToObject(s, "method", clft_method_name(P.tp.method));
        cJSON_AddStringToObject(s, "base_dtype", dtype);
        cJSON_AddStringToObject(s, "embed_dtype", clft_dtype_name(clft_train_embed_dtype(&P.tp)));
        cJSON_AddNumberToObject(s, "rank", P.tp.method == CLFT_METHOD_FULL ? 0 : P.tp.lora.r);
        cJSON_AddStringToObject(s, "targets", P.tp.method == CLFT_METHOD_FULL ? "" : targets);
        cJSON_AddNumberToObject(s, "seq_len", c.seq_len);
        cJSON_AddNumberToObject(s, "batch", c.batch);
        cJSON_AddNumberToObject(s, "grad_accum", c.grad_accum);
        cJSON_AddBoolToObject(s, "checkpointing", P.tp.checkpointing);
        cJSON *pa = cJSON_AddObjectToObject(o, "params");
        cJSON_AddNumberToObject(pa, "base", (double)plan.base_params);
        cJSON_AddNumberToObject(pa, "trainable", (double)plan.trainable_params);
        if (fit) {
            cJSON *f = cJSON_AddObjectToObject(o, "fit");
            cJSON_AddNumberToObject(f, "budget_bytes", (double)budget);
            if (budget_from[0]) cJSON_AddStringToObject(f, "device", budget_from);
            cJSON_AddBoolToObject(f, "fits", fits);
            cJSON_AddNumberToObject(f, "max_batch", mb);
            cJSON_AddNumberToObject(f, "max_seq_len", ms);
            cJSON *a = cJSON_AddArrayToObject(f, "advice");
            for (int i = 0; i < nadv; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "change", adv[i].change);
                cJSON_AddNumberToObject(e, "total_bytes", (double)adv[i].total);
                cJSON_AddBoolToObject(e, "fits", adv[i].total <= budget);
                cJSON_AddItemToArray(a, e);
            }
        }
        char *text = cJSON_Print(o);
        cJSON_Delete(o);
        if (!text) return cli_usage_error(CMD, "out of memory");
        printf("%s\n", text);
        free(text);
        return 0;
    }
    char h[32], h2[32];
    printf("model: %s (%s, %.2f B parameters, %lld trainable)\n", model, clft_arch_name(P.mcfg.arch),
           (double)plan.base_params / 1e9, (long long)plan.trainable_params);
    if (P.tp.method == CLFT_METHOD_FULL)
        printf("settings: full, seq-len %d, batch %d, grad-accum %d, checkpointing %s\n", c.seq_len, c.batch,
               c.grad_accum, P.tp.checkpointing ? "on" : "off");
    else
        printf("settings: %s r%d targets %s, base %s, embeddings/head %s, seq-len %d, batch %d, grad-accum %d, "
               "checkpointing %s\n",
               clft_method_name(P.tp.method), P.tp.lora.r, targets, dtype,
               clft_dtype_name(clft_train_embed_dtype(&P.tp)), c.seq_len, c.batch, c.grad_accum,
               P.tp.checkpointing ? "on" : "off");
    printf("\n  %-34s %16s %12s\n", "class", "bytes", "");
    for (int k = 0; k < CLFT_MEM_CLASS_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", CLASS_NAMES[k],
                 k == CLFT_MEM_ACTIVATIONS ? (P.tp.checkpointing ? " (checkpointing on)" : " (checkpointing off)")
                                           : "");
        cli_human_bytes(h, sizeof h, plan.bytes[k]);
        printf("  %-34s %16llu %12s\n", name, (unsigned long long)plan.bytes[k], h);
    }
    cli_human_bytes(h, sizeof h, plan.total);
    printf("  %-34s %16llu %12s\n\n", "total", (unsigned long long)plan.total, h);
    const clft_memory_plan *other = P.tp.checkpointing ? &off : &on;
    cli_human_bytes(h, sizeof h, other->bytes[CLFT_MEM_ACTIVATIONS]);
    cli_human_bytes(h2, sizeof h2, other->total);
    printf("  activations with checkpointing %s: %s (total %s)\n", P.tp.checkpointing ? "off" : "on", h, h2);
    cli_human_bytes(h, sizeof h, kv);
    printf("  KV cache and buffers for generate (%d tokens): %s\n", c.seq_len, h);
    if (fit) {
        cli_human_bytes(h, sizeof h, budget);
        printf("\nfit in %s%s%s%s: the plan %s\n", h, budget_from[0] ? " (" : "", budget_from,
               budget_from[0] ? ")" : "", fits ? "fits" : "does not fit");
        if (mb)
            printf("  largest batch at seq-len %d: %d\n", c.seq_len, mb);
        else
            printf("  largest batch at seq-len %d: none (batch 1 does not fit)\n", c.seq_len);
        if (ms)
            printf("  largest seq-len at batch %d: %d\n", c.batch, ms);
        else
            printf("  largest seq-len at batch %d: none\n", c.batch);
        if (nadv) printf("  change one setting:\n");
        for (int i = 0; i < nadv; i++) {
            cli_human_bytes(h, sizeof h, adv[i].total);
            printf("    %-28s total %s%s\n", adv[i].change, h, adv[i].total <= budget ? " (fits)" : "");
        }
    }
    return 0;
}
