/* train_config.c - the keys of `clft train` (train_config.h): one table drives the flag parser,
 * the --config JSON reader, the effective-config writer and the usage text. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_config.h"

typedef enum { K_STR, K_INT, K_I64, K_U64, K_DBL, K_BOOL, K_EVAL } key_type;

typedef struct key {
    const char *name; /* flag without "--"; JSON key (also with '_' for '-') */
    key_type type;
    size_t off, cap;
    const char *help;
} key;

#define S(f) offsetof(train_config, f), sizeof(((train_config *)0)->f)
#define N(f) offsetof(train_config, f), 0
static const key KEYS[] = {
    {"model", K_STR, S(model), "DIR  Hugging Face model folder (config.json, safetensors, tokenizer) - required"},
    {"data", K_STR, S(data), "FILE|DIR  training data: JSONL (text, prompt/completion, alpaca, messages) or .txt/.md"},
    {"eval-data", K_EVAL, 0, 0, "NAME=FILE  an evaluation set (repeatable, up to 8); the first drives --early-stop"},
    {"val-split", K_DBL, N(val_split), "F  hold out this fraction of --data as the eval set 'val' (0..0.5)"},
    {"format", K_STR, S(format), "auto|text|completion|alpaca|chat  data format (default: from the first line)"},
    {"chat-template", K_STR, S(chat_template), "NAME  chat template (default: the model's tokenizer_config.json)"},
    {"stride", K_I64, N(stride), "N  text: overlap windows by N tokens (default 0)"},
    {"pack", K_BOOL, N(pack), "  pack supervised/chat examples into full rows (attention stays within each)"},
    {"drop-long", K_BOOL, N(drop_long), "  drop examples longer than --seq-len instead of truncating them"},
    {"train-on-prompt", K_BOOL, N(train_on_prompt), "  loss on every token, prompts included"},
    {"skip-bad-lines", K_BOOL, N(skip_bad_lines), "  skip (and count) malformed JSONL lines instead of failing"},
    {"method", K_STR, S(method), "full|lora|qlora  (default qlora)"},
    {"adapter", K_STR, S(adapter),
     "DIR  start from this PEFT adapter (clft's or PEFT's): rank, alpha, rsLoRA and targets from its config"},
    {"base-dtype", K_STR, S(base_dtype),
     "f32|f16|bf16 (LoRA), nf4|fp4 (QLoRA) or q8_0|q4_0|q4_1 (either)  storage of the frozen base"},
    {"base-storage", K_STR, S(base_storage),
     "native  a GGUF base kept in its Q8_0/Q4_0/Q4_1 blocks on the device (the file's type)"},
    {"embed-dtype", K_STR, S(embed_dtype),
     "auto|f32|bf16|f16  storage of the frozen embeddings and LM head (default auto: bf16 for QLoRA and GGUF-native "
     "bases, the base's for f16/bf16 LoRA, else f32)"},
    {"rank", K_INT, N(rank), "R  LoRA rank (default 8)"},
    {"alpha", K_DBL, N(alpha), "A  LoRA alpha (default 2 x rank)"},
    {"dropout", K_DBL, N(dropout), "P  LoRA dropout (default 0)"},
    {"targets", K_STR, S(targets), "LIST  comma separated: q,k,v,o,gate,up,down or all (default all)"},
    {"rslora", K_BOOL, N(rslora), "  scale adapters by alpha/sqrt(r)"},
    {"qlora-blocksize", K_INT, N(qlora_blocksize), "N  4-bit block size (default 64)"},
    {"qlora-double-quant", K_INT, N(qlora_double_quant), "0|1  double quantization (default 1)"},
    {"checkpointing", K_INT, N(checkpointing), "-1|0|1  activation checkpointing (default -1: LoRA/QLoRA off when the plan without it fits the device - 85% of a GPU, half of a CPU device - else on; full off)"},
    {"seq-len", K_INT, N(seq_len), "T  tokens per row (default 512)"},
    {"batch", K_INT, N(batch), "B  rows per micro-batch (default 4)"},
    {"grad-accum", K_INT, N(grad_accum), "K  micro-batches per optimizer step (default 1)"},
    {"steps", K_I64, N(steps), "N  optimizer steps (default: --epochs)"},
    {"epochs", K_I64, N(epochs), "N  passes over the data (default 1 when --steps is not given)"},
    {"lr", K_DBL, N(lr), "LR  peak learning rate (default 2e-4)"},
    {"schedule", K_STR, S(schedule), "constant|linear|cosine  (default cosine)"},
    {"warmup", K_I64, N(warmup), "N  linear warmup steps (default 0)"},
    {"min-lr", K_DBL, N(min_lr), "LR  floor of the decay (default 0)"},
    {"weight-decay", K_DBL, N(weight_decay), "W  AdamW weight decay (default 0)"},
    {"max-grad-norm", K_DBL, N(max_grad_norm), "G  clip the global gradient norm (default 1; 0 disables)"},
    {"eval-every", K_I64, N(eval_every), "N  evaluate every N steps (default: 10 evaluations per run; 0: at the end)"},
    {"save-every", K_I64, N(save_every), "N  checkpoint every N steps (default: only at the end)"},
    {"log-every", K_I64, N(log_every), "N  a progress line every N steps when not on a terminal (default 1)"},
    {"keep", K_I64, N(keep), "N  keep the last N checkpoints (default 2)"},
    {"early-stop", K_I64, N(early_stop), "N  stop when the first eval set has not improved for N evaluations"},
    {"seed", K_U64, N(seed), "S  seed of adapters, dropout and shuffling (default 42)"},
    {"save-dtype", K_STR, S(save_dtype),
     "f32|bf16|f16  dtype of the model full fine-tuning writes (default: the model's torch_dtype, else f32)"},
    {"sample-every", K_I64, N(sample_every), "N  generate from --sample-prompt every N steps (and at the end)"},
    {"sample-prompt", K_STR, S(sample_prompt),
     "TEXT  prompt of the samples (chat data: the user message, rendered with the chat template)"},
    {"sample-tokens", K_I64, N(sample_tokens), "N  tokens per sample, greedy (default 48)"},
    {"device", K_STR, S(device), "SPEC  OpenCL device (index, gpu/cpu, or part of a name)"},
    {"devices", K_STR, S(devices),
     "SPEC[,SPEC...]  data parallel under mpirun: local rank i trains on the i-th device (built with CLFT_MPI)"},
    {"global-batch", K_INT, N(global_batch),
     "N  rows per micro-step over all ranks (default --batch x ranks; a resume keeps it, --batch follows)"},
    {"balance", K_STR, S(balance), "equal|speed  split of each global batch over the ranks (default equal)"},
    {"balance-every", K_I64, N(balance_every), "N  --balance speed: measure the ranks' speed again every N steps (50)"},
    {"dist-timeout", K_DBL, N(dist_timeout),
     "SEC  stop when another rank has not answered for SEC seconds (a dead or hung rank; default 300)"},
    {"out", K_STR, S(out), "DIR  output folder - required"},
    {"resume", K_BOOL, N(resume), "  continue the run in --out from its newest complete checkpoint"},
    {"overwrite", K_BOOL, N(overwrite), "  replace a previous run in --out"},
    {"dry-run", K_BOOL, N(dry_run), "  print the memory plan, token and example counts and steps, then exit"},
    {"quiet", K_BOOL, N(quiet), "  no progress output"},
};
#undef S
#undef N
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

void train_config_defaults(train_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->format, sizeof c->format, "auto");
    snprintf(c->method, sizeof c->method, "qlora");
    snprintf(c->targets, sizeof c->targets, "all");
    snprintf(c->schedule, sizeof c->schedule, "cosine");
    c->rank = 8;
    c->alpha = -1; /* 2 x rank */
    c->qlora_blocksize = 64;
    c->qlora_double_quant = 1;
    c->checkpointing = -1;
    c->seq_len = 512;
    c->batch = 4;
    c->grad_accum = 1;
    c->lr = 2e-4;
    c->max_grad_norm = 1.0;
    c->eval_every = -1;
    c->log_every = 1;
    c->keep = 2;
    c->seed = 42;
    c->sample_tokens = 48;
    snprintf(c->balance, sizeof c->balance, "equal");
    c->balance_every = 50;
    c->dist_timeout = 300;
}

_Static_assert(NKEYS <= sizeof((train_config *)0)->given, "train_config.given holds a flag per key");

static const key *find_key(const char *name, size_t n) {
    for (size_t i = 0; i < NKEYS; i++) {
        const char *k = KEYS[i].name;
        if (strlen(k) != n) continue;
        size_t j = 0;
        while (j < n && (k[j] == name[j] || (k[j] == '-' && name[j] == '_')))
            j++;
        if (j == n) return &KEYS[i];
    }
    return NULL;
}

/* Set one key from text; where names the source ("--lr", "config.json: lr"). */
static int set_value(train_config *c, const key *k, const char *v, const char *where, char *err, size_t errcap) {
    char *end = NULL;
    void *dst = (char *)c + k->off;
    errno = 0;
    c->given[k - KEYS] = 1;
    switch (k->type) {
    case K_STR:
        if (!v[0]) return snprintf(err, errcap, "%s: empty value", where), 0;
        if (strlen(v) >= k->cap) return snprintf(err, errcap, "%s: value too long", where), 0;
        memcpy(dst, v, strlen(v) + 1);
        return 1;
    case K_INT:
    case K_I64: {
        long long x = strtoll(v, &end, 10);
        if (!v[0] || *end || errno || (k->type == K_INT && (x < -2147483647LL || x > 2147483647LL)))
            return snprintf(err, errcap, "%s: '%s' is not an integer", where, v), 0;
        if (k->type == K_INT)
            *(int *)dst = (int)x;
        else
            *(int64_t *)dst = x;
        return 1;
    }
    case K_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (!v[0] || *end || errno || v[0] == '-')
            return snprintf(err, errcap, "%s: '%s' is not a non-negative integer", where, v), 0;
        *(uint64_t *)dst = x;
        return 1;
    }
    case K_DBL: {
        double x = strtod(v, &end);
        if (!v[0] || *end || errno || !isfinite(x))
            return snprintf(err, errcap, "%s: '%s' is not a number", where, v), 0;
        *(double *)dst = x;
        return 1;
    }
    case K_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true"))
            *(int *)dst = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false"))
            *(int *)dst = 0;
        else
            return snprintf(err, errcap, "%s: '%s' is not true or false", where, v), 0;
        return 1;
    case K_EVAL: {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1]) return snprintf(err, errcap, "%s: '%s' is not NAME=FILE", where, v), 0;
        if (c->n_eval == TC_MAX_EVAL) return snprintf(err, errcap, "%s: more than %d eval sets", where, TC_MAX_EVAL), 0;
        if ((size_t)(eq - v) >= sizeof c->eval_name[0] || strlen(eq + 1) >= sizeof c->eval_path[0])
            return snprintf(err, errcap, "%s: name or path too long", where), 0;
        for (int i = 0; i < c->n_eval; i++)
            if (!strncmp(c->eval_name[i], v, (size_t)(eq - v)) && !c->eval_name[i][eq - v])
                return snprintf(err, errcap, "%s: eval set '%.*s' given twice", where, (int)(eq - v), v), 0;
        memcpy(c->eval_name[c->n_eval], v, (size_t)(eq - v));
        c->eval_name[c->n_eval][eq - v] = 0;
        snprintf(c->eval_path[c->n_eval], sizeof c->eval_path[0], "%s", eq + 1);
        c->n_eval++;
        return 1;
    }
    }
    return 0;
}

static int load_config_file(train_config *c, const char *path, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(err, errcap, "--config %s: cannot open: %s", path, strerror(errno)), 0;
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) {
        if (n + 2 > cap) {
            cap = cap ? 2 * cap : 4096;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return snprintf(err, errcap, "--config %s: out of memory", path), 0;
            }
            text = t;
        }
        text[n++] = (char)ch;
    }
    fclose(f);
    if (text) text[n] = 0;
    const char *eptr = NULL;
    cJSON *root = text ? cJSON_ParseWithOpts(text, &eptr, 1) : NULL;
    if (!cJSON_IsObject(root)) {
        int line = 1;
        for (const char *p = text; p && eptr && p < eptr; p++)
            line += *p == '\n';
        snprintf(err, errcap, "%s:%d: not a JSON object", path, text ? line : 1);
        cJSON_Delete(root);
        free(text);
        return 0;
    }
    free(text);
    const cJSON *it;
    int ok = 1;
    cJSON_ArrayForEach(it, root) {
        char where[4300];
        snprintf(where, sizeof where, "%s: key '%s'", path, it->string);
        const key *k = find_key(it->string, strlen(it->string));
        if (!k || !strcmp(k->name, "resume") || !strcmp(k->name, "overwrite") || !strcmp(k->name, "dry-run")) {
            snprintf(err, errcap, "%s: unknown key (see clft train --help)", where);
            ok = 0;
            break;
        }
        if (k->type == K_EVAL) { /* {"NAME": "FILE", ...} or ["NAME=FILE", ...] */
            const cJSON *e;
            cJSON_ArrayForEach(e, it) {
                char buf[4200];
                if (cJSON_IsString(e) && cJSON_IsObject(it))
                    snprintf(buf, sizeof buf, "%s=%s", e->string, e->valuestring);
                else if (cJSON_IsString(e))
                    snprintf(buf, sizeof buf, "%s", e->valuestring);
                else {
                    snprintf(err, errcap, "%s: expected {\"NAME\": \"FILE\"} or [\"NAME=FILE\"]", where);
                    ok = 0;
                    break;
                }
                if (!(ok = set_value(c, k, buf, where, err, errcap))) break;
            }
            if (!ok) break;
            continue;
        }
        char buf[4200];
        if (cJSON_IsString(it))
            snprintf(buf, sizeof buf, "%s", it->valuestring);
        else if (cJSON_IsBool(it))
            snprintf(buf, sizeof buf, "%s", cJSON_IsTrue(it) ? "true" : "false");
        else if (cJSON_IsNumber(it) && (k->type == K_DBL))
            snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
        else if (cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) && fabs(it->valuedouble) < 9e15)
            snprintf(buf, sizeof buf, "%.0f", it->valuedouble);
        else {
            snprintf(err, errcap, "%s: value of the wrong type", where);
            ok = 0;
            break;
        }
        if (!(ok = set_value(c, k, buf, where, err, errcap))) break;
    }
    cJSON_Delete(root);
    return ok;
}

int train_config_parse(train_config *c, int argc, char **argv, int *help, char *err, size_t errcap) {
    *help = 0;
    err[0] = 0;
    /* --config first, so that flags win */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strncmp(a, "--config=", 9))
            v = a + 9;
        else if (!strcmp(a, "--config"))
            v = i + 1 < argc ? argv[i + 1] : NULL;
        else
            continue;
        if (!v || !v[0]) return snprintf(err, errcap, "--config: missing FILE"), 0;
        if (!load_config_file(c, v, err, errcap)) return 0;
    }
    int flag_evals = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return 1;
        }
        if (strncmp(a, "--", 2)) return snprintf(err, errcap, "unexpected argument '%s'", a), 0;
        const char *name = a + 2, *eq = strchr(name, '=');
        const size_t n = eq ? (size_t)(eq - name) : strlen(name);
        if (n == 6 && !strncmp(name, "config", 6)) {
            if (!eq) i++;
            continue;
        }
        const key *k = find_key(name, n);
        if (!k || memchr(name, '_', n))
            return snprintf(err, errcap, "unknown option '--%.*s' (see --help)", (int)n, name), 0;
        char where[80];
        snprintf(where, sizeof where, "--%s", k->name);
        const char *v = NULL;
        if (eq) {
            v = eq + 1;
        } else if (k->type == K_BOOL) {
            v = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
            v = argv[++i];
        } else {
            return snprintf(err, errcap, "%s: missing value", where), 0;
        }
        /* the flags' eval sets replace those of a config file (or of the run resumed): the same command
         * line again with --resume must not name its sets twice */
        if (k->type == K_EVAL && !flag_evals++) c->n_eval = 0;
        if (!set_value(c, k, v, where, err, errcap)) return 0;
    }
    return 1;
}

int train_config_given(const train_config *c, const char *name) {
    const key *k = find_key(name, strlen(name));
    return k && c->given[k - KEYS];
}

char *train_config_json(const train_config *c) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < NKEYS; i++) {
        const key *k = &KEYS[i];
        const void *src = (const char *)c + k->off;
        /* the actions of one invocation are no settings (a config file may not hold them) */
        if (!strcmp(k->name, "resume") || !strcmp(k->name, "overwrite") || !strcmp(k->name, "dry-run")) continue;
        switch (k->type) {
        case K_STR: /* an unset optional string ("" = the default) is left out: the reader refuses "" */
            if (((const char *)src)[0]) cJSON_AddStringToObject(o, k->name, (const char *)src);
            break;
        case K_INT: cJSON_AddNumberToObject(o, k->name, *(const int *)src); break;
        case K_I64: cJSON_AddNumberToObject(o, k->name, (double)*(const int64_t *)src); break;
        case K_U64: cJSON_AddNumberToObject(o, k->name, (double)*(const uint64_t *)src); break;
        case K_DBL: cJSON_AddNumberToObject(o, k->name, *(const double *)src); break;
        case K_BOOL: cJSON_AddBoolToObject(o, k->name, *(const int *)src); break;
        case K_EVAL: {
            cJSON *e = cJSON_AddObjectToObject(o, k->name);
            for (int j = 0; j < c->n_eval; j++)
                cJSON_AddStringToObject(e, c->eval_name[j], c->eval_path[j]);
            break;
        }
        }
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

void train_config_usage(void) {
    printf("  %-30s %s\n", "--config FILE.json",
           "settings as a JSON object with the keys below (\"seq-len\" or "
           "\"seq_len\"); flags win");
    for (size_t i = 0; i < NKEYS; i++) {
        const char *h = KEYS[i].help, *gap = strstr(h, "  ");
        char left[96];
        const int arg = gap ? (int)(gap - h) : 0;
        snprintf(left, sizeof left, "--%s%s%.*s", KEYS[i].name, arg ? " " : "", arg, h);
        printf("  %-30s %s\n", left, gap ? gap + 2 : h);
    }
}

int train_config_targets(const char *s, uint32_t *mask) {
    static const char *names[7] = {"q", "k", "v", "o", "gate", "up", "down"};
    *mask = 0;
    if (!strcmp(s, "all")) {
        *mask = CLFT_LORA_ALL;
        return 1;
    }
    char buf[160];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < 7; i++) {
            char proj[16];
            snprintf(proj, sizeof proj, "%s_proj", names[i]);
            if (!strcmp(t, names[i]) || !strcmp(t, proj)) found = i;
        }
        if (found < 0) return 0;
        *mask |= 1u << found;
    }
    return *mask != 0;
}

clft_method train_config_method(const char *s) {
    return !strcmp(s, "full")    ? CLFT_METHOD_FULL
           : !strcmp(s, "lora")  ? CLFT_METHOD_LORA
           : !strcmp(s, "qlora") ? CLFT_METHOD_QLORA
                                 : (clft_method)-1;
}

clft_dtype train_config_dtype(const char *s) {
    for (int d = CLFT_DTYPE_F32; d <= CLFT_DTYPE_Q4_1; d++) /* the library's names; u8 and i32 store no base */
        if (d != CLFT_DTYPE_U8 && d != CLFT_DTYPE_I32 && !strcmp(s, clft_dtype_name((clft_dtype)d))) return (clft_dtype)d;
    return (clft_dtype)-1;
}

int train_config_params(const train_config *c, clft_train_params *tp, char *err, size_t errcap) {
    const clft_method method = train_config_method(c->method);
    if ((int)method < 0) return snprintf(err, errcap, "--method '%s': use full, lora or qlora", c->method), 0;
    *tp = clft_train_default_params(method);
    if (c->base_dtype[0]) {
        const char *b = c->base_dtype;
        tp->base_dtype = train_config_dtype(b);
        const int native = tp->base_dtype == CLFT_DTYPE_Q8_0 || tp->base_dtype == CLFT_DTYPE_Q4_0 ||
                           tp->base_dtype == CLFT_DTYPE_Q4_1; /* GGUF blocks: LoRA or QLoRA */
        if ((int)tp->base_dtype < 0 || method == CLFT_METHOD_FULL ||
            (!native &&
             (method == CLFT_METHOD_LORA) != (tp->base_dtype == CLFT_DTYPE_F32 || tp->base_dtype == CLFT_DTYPE_F16 ||
                                              tp->base_dtype == CLFT_DTYPE_BF16)))
            return snprintf(err, errcap,
                            "--base-dtype '%s': LoRA takes f32, f16 or bf16, QLoRA nf4 or fp4, either q8_0, q4_0 or "
                            "q4_1 (GGUF blocks)",
                            b),
                   0;
    }
    if (c->embed_dtype[0] && strcmp(c->embed_dtype, "auto")) {
        const clft_dtype e = train_config_dtype(c->embed_dtype);
        if (e != CLFT_DTYPE_F32 && e != CLFT_DTYPE_BF16 && e != CLFT_DTYPE_F16)
            return snprintf(err, errcap, "--embed-dtype '%s': use auto, f32, bf16 or f16", c->embed_dtype), 0;
        if (method == CLFT_METHOD_FULL && e != CLFT_DTYPE_F32)
            return snprintf(err, errcap, "--embed-dtype %s: full fine-tuning trains the embeddings in f32",
                            c->embed_dtype),
                   0;
        tp->embed_dtype = (int)e;
    }
    if (c->base_storage[0]) { /* native: the GGUF file's own blocks */
        if (strcmp(c->base_storage, "native"))
            return snprintf(err, errcap, "--base-storage '%s': the only value is native", c->base_storage), 0;
        if (c->base_dtype[0] || method == CLFT_METHOD_FULL)
            return snprintf(err, errcap, "--base-storage native: not with --base-dtype or --method full"), 0;
        if (clft_gguf_native_dtype(c->model, &tp->base_dtype) != CLFT_OK)
            return snprintf(err, errcap, "--base-storage native: %s", clft_last_error()), 0;
    }
    if (!train_config_targets(c->targets, &tp->lora.targets))
        return snprintf(err, errcap, "--targets '%s': a comma separated list of q,k,v,o,gate,up,down, or all",
                        c->targets),
               0;
    tp->lora.r = c->rank;
    tp->lora.alpha = (float)(c->alpha >= 0 ? c->alpha : 2.0 * c->rank);
    tp->lora.dropout = (float)c->dropout;
    tp->lora.use_rslora = c->rslora;
    tp->qlora_blocksize = c->qlora_blocksize;
    tp->qlora_double_quant = c->qlora_double_quant;
    tp->checkpointing = c->checkpointing;
    tp->batch = c->batch;
    tp->seq_len = c->seq_len;
    return 1;
}
