/* cmd_train.c - `clft train`: a Hugging Face model folder and a data file to trained weights, with
 * full fine-tuning, LoRA or QLoRA. Settings: train_config.c. Per step one JSON line in
 * OUT/metrics.jsonl; a progress bar on a terminal (a plain line per --log-every steps otherwise);
 * evaluation on the eval sets; samples from --sample-prompt; crash-safe checkpoints
 * OUT/checkpoint-STEP (every --save-every steps, at the end, and on SIGINT/SIGTERM, which then exits
 * 130; LoRA/QLoRA checkpoints hold a PEFT adapter too); --resume continues bit for bit; at the end
 * the weights for the ecosystem: a PEFT adapter (LoRA/QLoRA) or a Hugging Face model folder (full)
 * in OUT, and OUT/report.html. Exit codes: 0 done, 1 a failure while running (device, disk), 2 bad
 * input (flags, config, model folder, data, adapter), 130 interrupted after saving. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "train_config.h"
#include "train_dist.h"

#define CMD "train"
#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        clft_status try_st_ = (x);                                                                                     \
        if (try_st_ != CLFT_OK) return try_st_;                                                                        \
    } while (0)

static volatile sig_atomic_t g_stop = 0;
static volatile sig_atomic_t g_signal = 0; /* a signal arrived (ranks of a data-parallel run agree on stopping) */
static int g_dist = 0;
static void on_signal(int sig) {
    (void)sig;
    g_signal = 1;
    if (!g_dist) g_stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* snprintf whose truncation is checked (a path longer than the buffer becomes "" and fails later) */
#define SNPRINTF(dst, cap, ...)                                                                                        \
    do {                                                                                                               \
        const int snp_n_ = snprintf((dst), (cap), __VA_ARGS__);                                                        \
        if (snp_n_ < 0 || (size_t)snp_n_ >= (size_t)(cap)) (dst)[0] = 0;                                               \
    } while (0)

static void join(char *dst, size_t cap, const char *dir, const char *name) { SNPRINTF(dst, cap, "%s/%s", dir, name); }

static void usage(void) {
    printf("usage: clft train --model DIR --data FILE --out DIR [options]\n\n"
           "Fine-tunes a Llama/Mistral/Qwen2 model folder on a JSONL (text, prompt/completion, alpaca or chat\n"
           "messages) or text data file with full fine-tuning, LoRA or QLoRA.\n\noptions:\n");
    train_config_usage();
    printf("\noutputs in --out: the trained weights - LoRA/QLoRA: adapter_config.json and adapter_model.safetensors\n"
           "(a PEFT adapter: PeftModel.from_pretrained, clft generate/eval/export --adapter; with --early-stop the\n"
           "best evaluation's), full: a Hugging Face model folder (config.json, model*.safetensors, tokenizer) -;\n"
           "train_config.json (effective settings), metrics.jsonl (a JSON line per step), checkpoint-STEP/ (training\n"
           "state and, for LoRA/QLoRA, the PEFT adapter of that step; the last --keep are kept), run.json,\n"
           "report.html\n\n"
           "exit status: 0 done; 2 bad input - an unknown flag or config key, a value that is not a number or out of\n"
           "range, a missing or unreadable data file, a JSONL line that is not JSON or lacks its format's keys\n"
           "(FILE:LINE: ...; --skip-bad-lines counts and skips them), invalid UTF-8, an empty dataset, a chat\n"
           "example without an assistant turn or with an unknown role, a template that cannot render the roles,\n"
           "--seq-len above the model's maximum, a model folder without a tokenizer, an --out folder holding\n"
           "another run (use --resume or --overwrite), a checkpoint of another model, method or rank, an --adapter\n"
           "for another base or with settings clft does not train (DoRA, modules_to_save, ...);\n"
           "1 a failure while running (device, out of memory, a full disk during a save: the previous\n"
           "checkpoint stays); 130 stopped by SIGINT/SIGTERM after the step in flight was saved.\n");
}

/* ---- settings checks -------------------------------------------------------------------------- */

typedef struct run {
    train_config c;
    clft_model_config mcfg;
    clft_train_params tp;
    clft_lr_schedule sched;
    clft_tokenizer *tok;
    clft_dataset *train, *evals[TC_MAX_EVAL + 1];
    char eval_names[TC_MAX_EVAL + 1][64];
    int n_evals;
    clft_dataset_stats train_stats;
    int64_t total_steps, batches_per_epoch, eval_every; /* eval_every resolved (c.eval_every may be -1: auto) */
    clft_context *ctx;
    clft_model *model;
    clft_trainer *tr;
    /* progress */
    int64_t step, tokens_seen, evals_since_best, best_step;
    int64_t saved_step; /* the step of the checkpoint this process last wrote or resumed from (-1: none) */
    double best_eval, elapsed_before, last_eval[TC_MAX_EVAL + 1];
    int have_eval;
    FILE *metrics;
    int tty;
    /* samples (--sample-every): the prompt's ids, the generator, the chat end of turn, the last text */
    clft_generator *gen;
    int32_t *sample_ids;
    size_t n_sample_ids;
    int32_t sample_stop[16];
    size_t n_sample_stop;
    char *last_sample;
    train_dist *dist; /* the ranks of a data-parallel run (size 1: one process) */
} run;

static int check_settings(run *r) {
    train_config *c = &r->c;
    if (!c->model[0]) return cli_usage_error(CMD, "--model DIR is required (a Hugging Face model folder)");
    if (!c->data[0]) return cli_usage_error(CMD, "--data FILE is required");
    if (!c->out[0]) return cli_usage_error(CMD, "--out DIR is required");
    if (c->seq_len < 2) return cli_usage_error(CMD, "--seq-len %g: must be at least 2", (double)(c->seq_len));
    if (c->batch < 1) return cli_usage_error(CMD, "--batch %g: must be at least 1", (double)(c->batch));
    if (c->grad_accum < 1) return cli_usage_error(CMD, "--grad-accum %g: must be at least 1", (double)(c->grad_accum));
    if (!(c->lr > 0)) return cli_usage_error(CMD, "--lr %g: must be a positive number", (double)(c->lr));
    if (c->min_lr < 0 || c->min_lr > c->lr)
        return cli_usage_error(CMD, "--min-lr %g: must be in [0, --lr]", (double)(c->min_lr));
    if (c->weight_decay < 0)
        return cli_usage_error(CMD, "--weight-decay %g: must not be negative", (double)(c->weight_decay));
    if (c->max_grad_norm < 0)
        return cli_usage_error(CMD, "--max-grad-norm %g: must not be negative (0 disables)",
                               (double)(c->max_grad_norm));
    if (c->val_split < 0 || c->val_split > 0.5)
        return cli_usage_error(CMD, "--val-split %g: must be in [0, 0.5]", (double)(c->val_split));
    if (c->steps < 0 || c->epochs < 0) return cli_usage_error(CMD, "--steps and --epochs must not be negative");
    if (c->steps && c->epochs) return cli_usage_error(CMD, "give --steps or --epochs, not both");
    if (c->warmup < 0) return cli_usage_error(CMD, "--warmup %g: must not be negative", (double)((double)c->warmup));
    if (c->keep < 1) return cli_usage_error(CMD, "--keep %g: must be at least 1", (double)((double)c->keep));
    if (c->early_stop < 0 || c->save_every < 0 || c->log_every < 1)
        return cli_usage_error(CMD, "--early-stop and --save-every must not be negative, --log-every at least 1");
    if (c->early_stop && !c->n_eval && !(c->val_split > 0))
        return cli_usage_error(CMD, "--early-stop needs an eval set (--eval-data NAME=FILE or --val-split)");
    if (c->rank < 1) return cli_usage_error(CMD, "--rank %g: must be at least 1", (double)(c->rank));
    if (c->dropout < 0 || c->dropout >= 1)
        return cli_usage_error(CMD, "--dropout %g: must be in [0, 1)", (double)(c->dropout));
    clft_dataset_format f;
    if (clft_dataset_format_parse(c->format, &f) != CLFT_OK)
        return cli_usage_error(CMD, "--format: %s", clft_last_error());
    if (clft_lr_schedule_parse(c->schedule, &r->sched.type) != CLFT_OK)
        return cli_usage_error(CMD, "--schedule: %s", clft_last_error());
    const clft_method method = train_config_method(c->method);
    if ((int)method < 0) return cli_usage_error(CMD, "--method '%s': use full, lora or qlora", c->method);
    if (c->adapter[0]) { /* the adapter's rank, alpha, rsLoRA and targets; flags may only agree with them */
        if (method == CLFT_METHOD_FULL)
            return cli_usage_error(CMD, "--adapter continues LoRA/QLoRA training; --method full trains every weight");
        clft_adapter_info ai;
        if (clft_adapter_info_read(c->adapter, &ai) != CLFT_OK)
            return cli_usage_error(CMD, "--adapter %s: %s", c->adapter, clft_last_error());
        uint32_t mask = 0;
        if (train_config_given(c, "rank") && c->rank != ai.lora.r)
            return cli_usage_error(CMD, "--rank %d differs from the adapter's r %d (%s)", c->rank, ai.lora.r,
                                   c->adapter);
        if (train_config_given(c, "alpha") && (float)c->alpha != ai.lora.alpha)
            return cli_usage_error(CMD, "--alpha %g differs from the adapter's lora_alpha %g (%s)", c->alpha,
                                   (double)ai.lora.alpha, c->adapter);
        if (train_config_given(c, "targets") && train_config_targets(c->targets, &mask) && mask != ai.lora.targets)
            return cli_usage_error(CMD, "--targets %s differs from the adapter's target_modules (%s)", c->targets,
                                   c->adapter);
        if (train_config_given(c, "rslora") && c->rslora != ai.lora.use_rslora)
            return cli_usage_error(CMD, "--rslora %s: the adapter %s was %strained with rsLoRA",
                                   c->rslora ? "true" : "false", c->adapter, ai.lora.use_rslora ? "" : "not ");
        c->rank = ai.lora.r;
        c->alpha = ai.lora.alpha;
        c->rslora = ai.lora.use_rslora;
        if (!train_config_given(c, "dropout")) c->dropout = ai.lora.dropout;
        static const char *names[7] = {"q", "k", "v", "o", "gate", "up", "down"};
        c->targets[0] = 0;
        for (int t = 0; t < 7; t++)
            if (ai.lora.targets & (1u << t))
                snprintf(c->targets + strlen(c->targets), sizeof c->targets - strlen(c->targets), "%s%s",
                         c->targets[0] ? "," : "", names[t]);
    }
    if (c->save_dtype[0] && strcmp(c->save_dtype, "f32") && strcmp(c->save_dtype, "bf16") &&
        strcmp(c->save_dtype, "f16"))
        return cli_usage_error(CMD, "--save-dtype '%s': use f32, bf16 or f16", c->save_dtype);
    if (c->sample_every < 0) return cli_usage_error(CMD, "--sample-every must not be negative");
    if (c->sample_every > 0 && !c->sample_prompt[0])
        return cli_usage_error(CMD, "--sample-every needs --sample-prompt TEXT");
    if (c->sample_tokens < 1 || c->sample_tokens > 100000)
        return cli_usage_error(CMD, "--sample-tokens %lld: must be in [1, 100000]", (long long)c->sample_tokens);
    char err[4400];
    if (!train_config_params(c, &r->tp, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
    r->tp.lr = (float)c->lr;
    r->tp.weight_decay = (float)c->weight_decay;
    r->tp.max_grad_norm = (float)c->max_grad_norm;
    r->tp.seed = c->seed;
    return 0;
}

/* ---- output folder ---------------------------------------------------------------------------- */

static int is_run_file(const char *n) {
    long long s;
    char t;
    char base[256];
    snprintf(base, sizeof base, "%s", n); /* the files' temporary names (name.tmp) belong to the run too */
    const size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".tmp")) base[len - 4] = 0;
    static const char *const files[] = {
        "train_config.json", "metrics.jsonl", "report.html", "run.json",
        /* the weights a run writes: a PEFT adapter, or (full) a Hugging Face model folder */
        "adapter_config.json", "adapter_model.safetensors", "config.json", "generation_config.json",
        "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "tokenizer.model", "added_tokens.json", "vocab.json", "merges.txt",
        "chat_template.jinja"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!strcmp(base, files[i])) return 1;
    int k = 0;
    if (sscanf(base, "model-%*5d-of-%*5d.safetensors%n", &k) == 0 && k > 0 && !base[k]) return 1;
    return sscanf(n, "checkpoint-%lld%c", &s, &t) >= 1;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        remove(path);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4400];
        join(p, sizeof p, path, e->d_name);
        remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

/* 0 ok; else an exit code. A folder holding a run needs --resume or --overwrite. */
static int prepare_out(run *r) {
    const char *out = r->c.out;
    char p[4400];
    join(p, sizeof p, out, "run.json");
    const int has_run = file_exists(p);
    DIR *d = opendir(out);
    int others = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !is_run_file(e->d_name)) others++;
    if (d) closedir(d);
    if (r->c.resume) {
        if (!has_run) return cli_usage_error(CMD, "--resume: %s holds no clft run (no run.json)", out);
        return 0;
    }
    if (has_run && !r->c.overwrite)
        return cli_usage_error(CMD, "%s holds another run: continue it with --resume, or replace it with --overwrite",
                               out);
    if (others && !r->c.overwrite)
        return cli_usage_error(CMD, "%s is not empty and holds no clft run; choose another --out (or --overwrite)",
                               out);
    if (d && r->c.overwrite) { /* remove only what a run writes */
        d = opendir(out);
        for (struct dirent *e; d && (e = readdir(d));)
            if (is_run_file(e->d_name)) {
                join(p, sizeof p, out, e->d_name);
                remove_tree(p);
            }
        if (d) closedir(d);
    }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s", out);
    for (char *s = cmd + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(cmd, 0755);
            *s = '/';
        }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "clft " CMD ": %s: cannot create: %s\n", out, strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- data ------------------------------------------------------------------------------------- */

static int load_data(run *r, const char *path, clft_dataset_subset subset, int shuffle, clft_dataset **out,
                     clft_dataset_stats *stats) {
    clft_dataset_params dp = clft_dataset_default_params();
    clft_dataset_format_parse(r->c.format, &dp.format);
    dp.seq_len = r->c.seq_len;
    dp.stride = (int)(r->c.stride > 0 ? r->c.seq_len - r->c.stride : 0);
    dp.pack = r->c.pack;
    dp.train_on_prompt = r->c.train_on_prompt;
    dp.drop_long = r->c.drop_long;
    dp.skip_bad_lines = r->c.skip_bad_lines;
    dp.shuffle = shuffle;
    dp.group_by_length = shuffle;
    dp.seed = r->c.seed;
    dp.chat_template = r->c.chat_template[0] ? r->c.chat_template : NULL;
    dp.val_split = subset == CLFT_DATASET_ALL ? 0.0 : r->c.val_split;
    dp.subset = subset;
    if (r->c.stride > 0 && r->c.stride >= r->c.seq_len)
        return cli_usage_error(CMD, "--stride %lld: must be below --seq-len %d", (long long)r->c.stride, r->c.seq_len);
    clft_status st = clft_dataset_load(path, r->tok, &dp, out);
    if (st != CLFT_OK) {
        fprintf(stderr, "clft " CMD ": %s\n", clft_last_error());
        return st == CLFT_STATUS_IO || st == CLFT_STATUS_FORMAT || st == CLFT_STATUS_INVALID_ARGUMENT ||
                       st == CLFT_STATUS_NOT_FOUND || st == CLFT_STATUS_UNSUPPORTED
                   ? 2
                   : 1;
    }
    if (stats) clft_dataset_get_stats(*out, stats);
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------------------- */

static clft_status evaluate(run *r, clft_dataset *ds, double *loss) {
    clft_dataset_position p0 = {0, 0};
    TRY(clft_dataset_set_position(ds, &p0));
    clft_batch b;
    memset(&b, 0, sizeof b);
    double sum = 0;
    int64_t tokens = 0;
    clft_status st = CLFT_OK;
    for (;;) {
        st = clft_dataset_next_batch(ds, r->c.batch, &b);
        if (st != CLFT_OK) break;
        double s = 0;
        int64_t n = 0;
        st = clft_trainer_eval_batch(r->tr, &b, &s, &n);
        if (st != CLFT_OK) break;
        sum += s;
        tokens += n;
        if (b.end_of_epoch) break;
    }
    clft_batch_free(&b);
    *loss = tokens > 0 ? sum / (double)tokens : NAN;
    return st;
}

/* ---- progress --------------------------------------------------------------------------------- */

static void fmt_time(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) s = 0;
    const long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

static void progress(run *r, const clft_step_stats *s, double lr, double tps, double elapsed) {
    if (r->c.quiet) return;
    clft_mem_stats ms;
    memset(&ms, 0, sizeof ms);
    clft_trainer_mem_stats(r->tr, &ms);
    const double done = (double)r->step / (double)r->total_steps;
    char eta[32], el[32];
    fmt_time(eta, sizeof eta, r->step > 0 ? elapsed / (double)r->step * (double)(r->total_steps - r->step) : 0);
    fmt_time(el, sizeof el, elapsed);
    char mem[32];
    cli_human_bytes(mem, sizeof mem, ms.current_total);
    char evs[160] = "";
    if (r->have_eval) snprintf(evs, sizeof evs, " eval %.4f", r->last_eval[0]);
    if (r->tty) {
        char bar[31];
        const int w = (int)(done * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < w ? '=' : i == w ? '>' : ' ';
        bar[30] = 0;
        fprintf(stderr, "\r[%s] %lld/%lld loss %.4f%s lr %.2e %.0f tok/s ETA %s mem %s%s   ", bar, (long long)r->step,
                (long long)r->total_steps, s->loss, evs, lr, tps, eta, mem, s->skipped ? " (skipped)" : "");
        fflush(stderr);
    } else if (r->step % r->c.log_every == 0 || r->step == r->total_steps) {
        fprintf(stderr, "step %lld/%lld loss %.4f%s lr %.3e grad_norm %.3f %.0f tok/s elapsed %s ETA %s mem %s%s\n",
                (long long)r->step, (long long)r->total_steps, s->loss, evs, lr, s->grad_norm, tps, el, eta, mem,
                s->skipped ? " skipped" : "");
    }
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

static clft_status save(run *r, char *dir_out, size_t cap) {
    clft_dataset_position pos;
    TRY(clft_dataset_get_position(r->train, &pos));
    char user[1024];
    snprintf(
        user, sizeof user,
        "{\"step\": %lld, \"data_epoch\": %llu, \"data_index\": %llu, \"tokens_seen\": %lld, \"best_eval\": %.17g, "
        "\"best_step\": %lld, \"evals_since_best\": %lld, \"elapsed\": %.3f}",
        (long long)r->step, (unsigned long long)pos.epoch, (unsigned long long)pos.index, (long long)r->tokens_seen,
        isfinite(r->best_eval) ? r->best_eval : -1.0, (long long)r->best_step, (long long)r->evals_since_best,
        r->elapsed_before);
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/checkpoint-%lld", r->c.out, (long long)r->step);
    if (r->metrics) fflush(r->metrics), fsync(fileno(r->metrics));
    if (dir_out) snprintf(dir_out, cap, "%s", dir);
    /* rank 0 (or the one process) writes the run's files; the other ranks of a data-parallel run wait for it.
     * Saved already: e.g. the best step's checkpoint, then the end at that step. */
    const clft_status st =
        r->dist->rank > 0 || r->saved_step == r->step ? CLFT_OK : clft_trainer_save(r->tr, dir, user);
    if (r->dist->size > 1) {
        int ok = st == CLFT_OK;
        TRY(train_dist_bcast(r->dist, &ok, sizeof ok, "rank 0's checkpoint save"));
        if (r->dist->rank > 0) {
            if (!ok)
                SNPRINTF(r->dist->err, sizeof r->dist->err,
                         "rank %d: rank 0 could not save the checkpoint of step %lld", r->dist->rank,
                         (long long)r->step);
            return ok ? CLFT_OK : CLFT_STATUS_IO;
        }
    }
    TRY(st);
    if (r->saved_step == r->step) return CLFT_OK;
    r->saved_step = r->step;
    char best[4300] = "";
    if (r->best_step > 0) snprintf(best, sizeof best, "checkpoint-%lld", (long long)r->best_step);
    return clft_checkpoint_prune(r->c.out, (int)r->c.keep, best[0] ? best : NULL);
}

static double jnum(const cJSON *o, const char *k, double d) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : d;
}

/* checkpoint-STEP folders in out, complete or not (their .tmp and .old leftovers not counted) */
static int count_checkpoints(const char *out) {
    DIR *d = opendir(out);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        long long step;
        char tail;
        n += sscanf(e->d_name, "checkpoint-%lld%c", &step, &tail) == 1;
    }
    if (d) closedir(d);
    return n;
}

/* Keep only the metrics lines up to step (a resumed run rewrites what came after). */
static int truncate_metrics(const char *path, int64_t step) {
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    char tmp[4400];
    SNPRINTF(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    char *line = NULL;
    size_t cap = 0;
    int ok = o != NULL;
    while (ok && getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const double s = jnum(j, "step", -1);
        cJSON_Delete(j);
        if (s >= 0 && s <= (double)step && strchr(line, '\n')) ok = fputs(line, o) >= 0;
    }
    free(line);
    fclose(f);
    if (!o) return 0;
    ok = ok && fflush(o) == 0 && fsync(fileno(o)) == 0;
    if (fclose(o) != 0 || !ok || rename(tmp, path) != 0) {
        remove(tmp);
        return 0;
    }
    return 1;
}

/* ---- samples ---------------------------------------------------------------------------------- */

/* The prompt of the samples as the data presents prompts: chat data renders it as a user message with
 * the chat template's generation prompt (and stops at its end of turn), alpaca data with the alpaca
 * template, text and completion data take the text as it is. 0 or an exit code. */
static int sampler_prepare(run *r) {
    const char *tname = NULL;
    if (r->train_stats.format == CLFT_DATASET_ALPACA) tname = "alpaca";
    if (r->train_stats.format == CLFT_DATASET_CHAT) {
        tname = r->c.chat_template[0] ? r->c.chat_template : NULL;
        if (!tname) clft_chat_template_detect(clft_tokenizer_chat_template(r->tok), &tname);
    }
    clft_status st;
    if (tname) {
        const clft_chat_message msg = {"user", r->c.sample_prompt};
        uint8_t *mask = NULL;
        st = clft_chat_tokenize(r->tok, tname, &msg, 1, 1, &r->sample_ids, &mask, &r->n_sample_ids);
        clft_free(mask);
        const char *eot = clft_chat_end_of_turn(tname);
        const int32_t id = eot ? clft_tokenizer_token_to_id(r->tok, eot) : -1;
        if (id >= 0) r->sample_stop[r->n_sample_stop++] = id;
    } else {
        st = clft_tokenize(r->tok, r->c.sample_prompt, strlen(r->c.sample_prompt), 1, &r->sample_ids, &r->n_sample_ids);
    }
    if (st != CLFT_OK) return cli_usage_error(CMD, "--sample-prompt: %s", clft_last_error());
    if (r->n_sample_ids == 0) return cli_usage_error(CMD, "--sample-prompt: no tokens");
    return 0;
}

static clft_generator_params sampler_params(const run *r) {
    clft_generator_params gp = clft_generator_default_params();
    int64_t ctx = (int64_t)r->n_sample_ids + r->c.sample_tokens;
    if (r->mcfg.max_position_embeddings > 0 && ctx > r->mcfg.max_position_embeddings)
        ctx = r->mcfg.max_position_embeddings;
    gp.max_context = (int)ctx;
    return gp;
}

/* A greedy sample of the model as it is now into r->last_sample. */
static clft_status sample(run *r) {
    clft_generate_params p = clft_generate_default_params();
    p.sampling.temperature = 0.0f;
    p.max_tokens = (int)r->c.sample_tokens;
    p.stop_ids = r->sample_stop;
    p.n_stop_ids = r->n_sample_stop;
    clft_generate_result res;
    TRY(clft_generate(r->gen, r->tok, r->sample_ids, r->n_sample_ids, &p, NULL, NULL, &res));
    free(r->last_sample);
    r->last_sample = res.text;
    res.text = NULL;
    clft_generate_result_free(&res);
    return CLFT_OK;
}

/* ---- the weights for the ecosystem ---------------------------------------------------------------- */

/* LoRA/QLoRA: the PEFT adapter in OUT; full: the model as a Hugging Face folder in OUT. With early
 * stopping, the best evaluation's weights (its checkpoint is loaded back first). *what says which. */
static clft_status write_outputs(run *r, char *what, size_t cap) {
    if (r->c.early_stop && r->best_step > 0 && r->best_step != r->step) {
        char best[4400];
        SNPRINTF(best, sizeof best, "%s/checkpoint-%lld", r->c.out, (long long)r->best_step);
        TRY(clft_trainer_load(r->tr, best, NULL));
    }
    const int64_t at = r->c.early_stop && r->best_step > 0 ? r->best_step : r->step;
    if (r->tp.method != CLFT_METHOD_FULL) {
        TRY(clft_model_save_adapter(r->model, r->c.out));
        snprintf(what, cap, "adapter:    %s (PEFT LoRA adapter, %s, step %lld)", r->c.out,
                 clft_method_name(r->tp.method), (long long)at);
        return CLFT_OK;
    }
    const char *d = r->c.save_dtype[0] ? r->c.save_dtype : r->mcfg.torch_dtype;
    const clft_dtype dt = !strcmp(d, "bf16") || !strcmp(d, "bfloat16") ? CLFT_DTYPE_BF16
                          : !strcmp(d, "f16") || !strcmp(d, "float16") ? CLFT_DTYPE_F16
                                                                       : CLFT_DTYPE_F32;
    TRY(clft_model_save_pretrained(r->model, r->c.out, dt, 0, 1));
    snprintf(what, cap, "model:      %s (Hugging Face folder, %s, step %lld)", r->c.out, clft_dtype_name(dt),
             (long long)at);
    return CLFT_OK;
}

/* ---- the run ---------------------------------------------------------------------------------- */

static void metrics_line(run *r, const clft_step_stats *s, double lr, double tps, double elapsed, int with_eval,
                         int with_sample) {
    if (!r->metrics) return;
    const double epoch =
        (double)(r->step * r->c.grad_accum) / (double)(r->batches_per_epoch > 0 ? r->batches_per_epoch : 1);
    fprintf(r->metrics,
            "{\"step\": %lld, \"epoch\": %.4f, \"loss\": %.8g, \"lr\": %.8g, \"grad_norm\": %.8g, \"tokens\": %lld, "
            "\"step_tokens\": %lld, \"tokens_per_s\": %.2f, \"skipped\": %d, \"time\": %.3f",
            (long long)r->step, epoch, s->loss, lr, s->grad_norm, (long long)r->tokens_seen, (long long)s->tokens, tps,
            s->skipped, elapsed);
    char dist[4096];
    train_dist_metrics(r->dist, dist, sizeof dist);
    fputs(dist, r->metrics);
    if (with_eval) {
        fputs(", \"eval\": {", r->metrics);
        for (int i = 0; i < r->n_evals; i++)
            fprintf(r->metrics, "%s\"%s\": %.8g", i ? ", " : "", r->eval_names[i], r->last_eval[i]);
        fputs("}", r->metrics);
    }
    if (with_sample && r->last_sample) { /* JSON-escaped by cJSON */
        cJSON *str = cJSON_CreateString(r->last_sample);
        char *t = str ? cJSON_PrintUnformatted(str) : NULL;
        if (t) fprintf(r->metrics, ", \"sample\": %s", t);
        free(t);
        cJSON_Delete(str);
    }
    fputs("}\n", r->metrics);
    fflush(r->metrics);
}

static int finish_report(run *r, double elapsed) {
    char mpath[4400], rpath[4400];
    join(mpath, sizeof mpath, r->c.out, "metrics.jsonl");
    join(rpath, sizeof rpath, r->c.out, "report.html");
    clft_device_info di;
    memset(&di, 0, sizeof di);
    clft_context_device_info(r->ctx, &di);
    char title[4400], device[512];
    SNPRINTF(title, sizeof title, "clft train: %s, %s", r->c.model, r->c.method);
    SNPRINTF(device, sizeof device, "%s (%s)", di.name, di.platform);
    /* built with cJSON: paths and device names may hold quotes or backslashes */
    cJSON *sum = cJSON_CreateObject(), *dso = cJSON_CreateObject();
    cJSON_AddStringToObject(sum, "model", r->c.model);
    cJSON_AddStringToObject(sum, "method", r->c.method);
    cJSON_AddStringToObject(sum, "device", device);
    cJSON_AddNumberToObject(sum, "steps", (double)r->step);
    cJSON_AddNumberToObject(sum, "tokens", (double)r->tokens_seen);
    cJSON_AddNumberToObject(sum, "seconds", round(elapsed * 10) / 10);
    cJSON_AddNumberToObject(sum, "tokens_per_s", elapsed > 0 ? round((double)r->tokens_seen / elapsed * 10) / 10 : 0);
    if (isfinite(r->best_eval)) {
        cJSON_AddNumberToObject(sum, "best_eval", r->best_eval);
        cJSON_AddNumberToObject(sum, "best_step", (double)r->best_step);
    }
    const clft_dataset_stats *s = &r->train_stats;
    cJSON_AddStringToObject(dso, "file", r->c.data);
    cJSON_AddStringToObject(dso, "format", clft_dataset_format_name(s->format));
    cJSON_AddNumberToObject(dso, "examples", (double)s->examples);
    cJSON_AddNumberToObject(dso, "rows", (double)s->rows);
    cJSON_AddNumberToObject(dso, "tokens", (double)s->tokens);
    cJSON_AddNumberToObject(dso, "label_tokens", (double)s->label_tokens);
    cJSON_AddNumberToObject(dso, "masked_share", round(s->masked_share * 1e4) / 1e4);
    cJSON_AddNumberToObject(dso, "truncated", (double)s->truncated);
    cJSON_AddNumberToObject(dso, "dropped_long", (double)s->dropped_long);
    cJSON_AddNumberToObject(dso, "skipped_lines", (double)s->skipped_lines);
    cJSON_AddNumberToObject(dso, "padding_tokens", (double)s->pad_tokens);
    cJSON_AddBoolToObject(dso, "cache_hit", s->cache_hit);
    char *summary = cJSON_PrintUnformatted(sum), *dataset = cJSON_PrintUnformatted(dso);
    cJSON_Delete(sum);
    cJSON_Delete(dso);
    char *settings = train_config_json(&r->c);
    char err[512];
    const int ok = report_write(rpath, mpath, title, summary, settings, dataset, err, sizeof err);
    free(settings);
    free(summary);
    free(dataset);
    if (!ok) fprintf(stderr, "clft " CMD ": %s\n", err);
    return ok;
}

/* A resumed run must keep what decides its data order, its shapes and its trainable state; the
 * length, the learning rate and the eval/save/log cadence may change. */
static int resume_settings_match(const train_config *a, const train_config *b, char *err, size_t cap) {
#define SAME_STR(f, flag)                                                                                              \
    do {                                                                                                               \
        if (!strcmp(a->f, b->f)) break;                                                                                \
        if (snprintf(err, cap,                                                                                         \
                     "--resume: --%.200s '%.1000s' differs from the run's '%.1000s' (its train_config.json)", flag,    \
                     b->f, a->f) < 0)                                                                                  \
            err[0] = 0;                                                                                                \
        return 0;                                                                                                      \
    } while (0)
#define SAME_NUM(f, flag)                                                                                              \
    do {                                                                                                               \
        if ((double)a->f == (double)b->f) break;                                                                       \
        snprintf(err, cap, "--resume: --%s %g differs from the run's %g (its train_config.json)", flag, (double)b->f,  \
                 (double)a->f);                                                                                        \
        return 0;                                                                                                      \
    } while (0)
    SAME_STR(model, "model");
    SAME_STR(data, "data");
    SAME_STR(format, "format");
    SAME_STR(chat_template, "chat-template");
    SAME_STR(method, "method");
    SAME_STR(base_dtype, "base-dtype");
    SAME_STR(embed_dtype, "embed-dtype");
    SAME_STR(targets, "targets");
    SAME_STR(adapter, "adapter");
    SAME_NUM(stride, "stride");
    SAME_NUM(pack, "pack");
    SAME_NUM(drop_long, "drop-long");
    SAME_NUM(train_on_prompt, "train-on-prompt");
    SAME_NUM(val_split, "val-split");
    SAME_NUM(rank, "rank");
    SAME_NUM(alpha, "alpha");
    SAME_NUM(dropout, "dropout");
    SAME_NUM(rslora, "rslora");
    SAME_NUM(qlora_blocksize, "qlora-blocksize");
    SAME_NUM(qlora_double_quant, "qlora-double-quant");
    SAME_NUM(seq_len, "seq-len");
    if (a->global_batch > 0 && a->global_batch != b->global_batch) { /* any rank count resumes: the rows stay */
        const int ranks = b->batch > 0 ? b->global_batch / b->batch : 1;
        if (ranks > 1)
            snprintf(err, cap,
                     "--resume: --batch %d x %d ranks = %d rows differs from the run's %d rows per micro-step",
                     b->batch, ranks, b->global_batch, a->global_batch);
        else
            snprintf(err, cap, "--resume: --batch %d differs from the run's %d (its train_config.json)", b->batch,
                     a->global_batch);
        return 0;
    }
    if (a->global_batch <= 0) SAME_NUM(batch, "batch");
    SAME_NUM(grad_accum, "grad-accum");
    SAME_NUM(seed, "seed");
#undef SAME_STR
#undef SAME_NUM
    return 1;
}

/* --checkpointing auto (the default, -1) for LoRA/QLoRA: the library's rule is "on" (activations of
 * one layer kept, the others recomputed in the backward: ~1.5x the arithmetic of a LoRA step). Here,
 * where the device is known, it is off when the plan without it fits the device with room to spare
 * (85% of a GPU's memory; half of a CPU device's, which is the host's RAM), as the faster choice; on
 * otherwise. Writes a note saying what was chosen and why into note; 0 when the user chose (or the
 * device is unknown: the library's default), else 1. */
static int resolve_checkpointing(run *r, const clft_device_info *dev, char *note, size_t cap) {
    if (r->c.checkpointing >= 0 || r->tp.method == CLFT_METHOD_FULL || !dev) return 0;
    const int gpu = !strcmp(dev->type, "gpu");
    const double budget = (double)dev->global_mem_bytes * (gpu ? 0.85 : 0.5);
    clft_train_params tp = r->tp;
    tp.checkpointing = 0;
    clft_memory_plan off;
    if (clft_memory_plan_compute(&r->mcfg, &tp, &off) != CLFT_OK) return 0;
    r->tp.checkpointing = (double)off.total > budget;
    snprintf(note, cap,
             "activation checkpointing: %s (auto: without it the plan is %.1f MiB, %s %.0f MiB of this %s device's "
             "memory; --checkpointing 0|1 chooses)",
             r->tp.checkpointing ? "on" : "off", (double)off.total / 1048576.0,
             r->tp.checkpointing ? "more than" : "within", budget / 1048576.0, gpu ? "GPU" : "non-GPU");
    return 1;
}

/* A run whose plan exceeds the device's global memory is refused before anything is allocated, with
 * the plan's numbers and the settings that would make it fit (as `clft plan --fit` says). 0 or 2. */
static int refuse_unfit(const run *r, const clft_device_info *dev, const clft_memory_plan *plan) {
    if (!dev || !dev->global_mem_bytes || plan->total <= dev->global_mem_bytes) return 0;
    char advice[1024];
    plan_advice_line(&r->mcfg, &r->tp, dev->global_mem_bytes, advice, sizeof advice);
    return cli_usage_error(CMD,
                           "the memory plan needs %.2f GiB (weights %.2f, trainable %.2f, grads %.2f, optimizer %.2f, "
                           "activations %.2f, scratch %.2f), more than the %.2f GiB of %s%s%s; see clft plan --fit",
                           (double)plan->total / 1073741824.0, (double)plan->bytes[CLFT_MEM_WEIGHTS] / 1073741824.0,
                           (double)plan->bytes[CLFT_MEM_TRAINABLE] / 1073741824.0,
                           (double)plan->bytes[CLFT_MEM_GRADIENTS] / 1073741824.0,
                           (double)plan->bytes[CLFT_MEM_OPTIMIZER] / 1073741824.0,
                           (double)plan->bytes[CLFT_MEM_ACTIVATIONS] / 1073741824.0,
                           (double)plan->bytes[CLFT_MEM_SCRATCH] / 1073741824.0,
                           (double)dev->global_mem_bytes / 1073741824.0, dev->name, advice[0] ? "; change: " : "",
                           advice);
}

/* Paths of existing files as absolute paths, so that train_config.json resumes from any folder. */
static void absolute_paths(train_config *c) {
    char buf[PATH_MAX];
    if (c->model[0] && realpath(c->model, buf) && strlen(buf) < sizeof c->model)
        snprintf(c->model, sizeof c->model, "%s", buf);
    if (c->data[0] && realpath(c->data, buf) && strlen(buf) < sizeof c->data)
        snprintf(c->data, sizeof c->data, "%s", buf);
    if (c->adapter[0] && realpath(c->adapter, buf) && strlen(buf) < sizeof c->adapter)
        snprintf(c->adapter, sizeof c->adapter, "%s", buf);
    for (int i = 0; i < c->n_eval; i++)
        if (realpath(c->eval_path[i], buf) && strlen(buf) < sizeof c->eval_path[i])
            snprintf(c->eval_path[i], sizeof c->eval_path[i], "%s", buf);
}

/* Rank 0's progress, data position and training state to every rank (a start or a resume). */
static clft_status dist_sync(run *r) {
    struct {
        int64_t step, tokens_seen, best_step, evals_since_best, saved_step;
        uint64_t epoch, index;
        double best_eval, elapsed_before;
    } p;
    memset(&p, 0, sizeof p);
    clft_dataset_position pos = {0, 0};
    TRY(clft_dataset_get_position(r->train, &pos));
    p.step = r->step, p.tokens_seen = r->tokens_seen, p.best_step = r->best_step;
    p.evals_since_best = r->evals_since_best, p.saved_step = r->saved_step;
    p.epoch = pos.epoch, p.index = pos.index, p.best_eval = r->best_eval, p.elapsed_before = r->elapsed_before;
    TRY(train_dist_bcast(r->dist, &p, sizeof p, "the start-up state"));
    r->step = p.step, r->tokens_seen = p.tokens_seen, r->best_step = p.best_step;
    r->evals_since_best = p.evals_since_best, r->saved_step = p.saved_step;
    r->best_eval = p.best_eval, r->elapsed_before = p.elapsed_before;
    pos.epoch = p.epoch, pos.index = p.index;
    TRY(clft_dataset_set_position(r->train, &pos));
    r->dist->phase = "the start-up state";
    return clft_trainer_broadcast_state(r->tr);
}

static int train_main(int argc, char **argv, train_dist *dist) {
    run R;
    memset(&R, 0, sizeof R);
    run *r = &R;
    r->dist = dist;
    r->best_eval = INFINITY;
    r->saved_step = -1;
    train_config_defaults(&r->c);
    char err[4600];
    int help = 0;
    /* --resume --out DIR: the run's own train_config.json first (flags still win) */
    train_config saved;
    int have_saved = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--resume")) {
            train_config probe;
            train_config_defaults(&probe);
            int h = 0;
            if (train_config_parse(&probe, argc, argv, &h, err, sizeof err) && probe.out[0]) {
                char p[4400];
                join(p, sizeof p, probe.out, "train_config.json");
                if (file_exists(p)) {
                    char *args[3] = {argv[0], "--config", p};
                    if (!train_config_parse(&r->c, 3, args, &h, err, sizeof err))
                        return cli_usage_error(CMD, "%s", err);
                    saved = r->c;
                    have_saved = 1;
                }
            }
        }
    if (!train_config_parse(&r->c, argc, argv, &help, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
    if (help) {
        usage();
        return 0;
    }
    int rc = train_dist_setup(r->dist, &r->c, argc, argv);
    if (rc) return rc;
    if (r->dist->rank > 0) r->c.quiet = 1; /* rank 0 reports */
    if (have_saved && !resume_settings_match(&saved, &r->c, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
    absolute_paths(&r->c);
    rc = check_settings(r);
    if (rc) return rc;
    /* model folder and tokenizer */
    clft_status st = clft_model_config_load(r->c.model, &r->mcfg);
    if (st != CLFT_OK) {
        fprintf(stderr, "clft " CMD ": --model %s: %s\n", r->c.model, clft_last_error());
        return 2;
    }
    if (r->c.seq_len > r->mcfg.max_position_embeddings && r->mcfg.max_position_embeddings > 0)
        return cli_usage_error(CMD, "--seq-len %d is above the model's maximum of %lld positions", r->c.seq_len,
                               (long long)r->mcfg.max_position_embeddings);
    st = clft_tokenizer_load(r->c.model, &r->tok);
    if (st != CLFT_OK) {
        fprintf(stderr, "clft " CMD ": --model %s: no usable tokenizer: %s\n", r->c.model, clft_last_error());
        return 2;
    }
    /* data */
    const int val = r->c.val_split > 0;
    rc = load_data(r, r->c.data, val ? CLFT_DATASET_TRAIN : CLFT_DATASET_ALL, 1, &r->train, &r->train_stats);
    for (int i = 0; !rc && i < r->c.n_eval; i++) {
        snprintf(r->eval_names[r->n_evals], sizeof r->eval_names[0], "%s", r->c.eval_name[i]);
        rc = load_data(r, r->c.eval_path[i], CLFT_DATASET_ALL, 0, &r->evals[r->n_evals++], NULL);
    }
    if (!rc && val) {
        snprintf(r->eval_names[r->n_evals], sizeof r->eval_names[0], "val");
        rc = load_data(r, r->c.data, CLFT_DATASET_VAL, 0, &r->evals[r->n_evals++], NULL);
    }
    if (rc) goto done;
    if ((rc = train_dist_handshake(r->dist, &r->c, &r->mcfg, &r->train_stats)) != 0) goto done;
    r->batches_per_epoch = clft_dataset_batches_per_epoch(r->train, r->c.global_batch);
    const int64_t steps_per_epoch = (r->batches_per_epoch + r->c.grad_accum - 1) / r->c.grad_accum;
    r->total_steps = r->c.steps ? r->c.steps : (r->c.epochs ? r->c.epochs : 1) * steps_per_epoch;
    if (r->total_steps < 1) r->total_steps = 1;
    r->sched.lr = r->c.lr;
    r->sched.min_lr = r->c.min_lr;
    r->sched.warmup_steps = r->c.warmup;
    r->sched.total_steps = r->total_steps;
    if (clft_lr_schedule_check(&r->sched) != CLFT_OK) {
        rc = cli_usage_error(CMD, "%s", clft_last_error());
        goto done;
    }
    /* resolved here, not in r->c: train_config.json keeps "auto" so that a resume with more --steps evaluates as a run
     * of that length would */
    r->eval_every = r->c.eval_every >= 0 ? r->c.eval_every : r->total_steps >= 10 ? r->total_steps / 10 : 1;
    clft_device_info dev; /* unknown here: the device error comes when the context is created */
    const int have_dev = cli_device_info(r->c.device, &dev, NULL);
    char ckpt_note[256];
    const int auto_ckpt = resolve_checkpointing(r, have_dev ? &dev : NULL, ckpt_note, sizeof ckpt_note);
    clft_memory_plan plan;
    st = clft_memory_plan_compute(&r->mcfg, &r->tp, &plan);
    if (st != CLFT_OK) {
        rc = cli_usage_error(CMD, "%s", clft_last_error());
        goto done;
    }
    if ((rc = refuse_unfit(r, have_dev ? &dev : NULL, &plan)) != 0) goto done;
    const clft_dataset_stats *ds = &r->train_stats;
    if (r->c.dry_run || !r->c.quiet) {
        printf("data: %s (%s): %lld examples, %lld rows of %d tokens, %lld tokens (%lld in the loss, %.1f%% masked), "
               "%lld truncated, %lld dropped, %lld bad lines skipped%s\n",
               r->c.data, clft_dataset_format_name(ds->format), (long long)ds->examples, (long long)ds->rows,
               r->c.seq_len, (long long)ds->tokens, (long long)ds->label_tokens, 100.0 * ds->masked_share,
               (long long)ds->truncated, (long long)(ds->dropped_long + ds->dropped_no_labels),
               (long long)ds->skipped_lines, ds->cache_hit ? " (cached)" : "");
        printf("steps: %lld (%lld per epoch: %lld micro-batches of %d x %d, %d per step); lr %s %.3g, warmup %lld\n",
               (long long)r->total_steps, (long long)steps_per_epoch, (long long)r->batches_per_epoch, r->c.batch,
               r->c.seq_len, r->c.grad_accum, r->c.schedule, r->c.lr, (long long)r->c.warmup);
        printf("memory plan: %.1f MiB on the device (weights %.1f, trainable %.1f, grads %.1f, optimizer %.1f, "
               "activations %.1f, scratch %.1f); %lld parameters, %lld trainable\n",
               (double)plan.total / 1048576.0, (double)plan.bytes[CLFT_MEM_WEIGHTS] / 1048576.0,
               (double)plan.bytes[CLFT_MEM_TRAINABLE] / 1048576.0, (double)plan.bytes[CLFT_MEM_GRADIENTS] / 1048576.0,
               (double)plan.bytes[CLFT_MEM_OPTIMIZER] / 1048576.0, (double)plan.bytes[CLFT_MEM_ACTIVATIONS] / 1048576.0,
               (double)plan.bytes[CLFT_MEM_SCRATCH] / 1048576.0, (long long)plan.base_params,
               (long long)plan.trainable_params);
        if (auto_ckpt) printf("%s\n", ckpt_note);
        if (r->dist->size > 1)
            printf("data parallel: %d ranks, global batch %d rows per micro-step (--balance %s)\n", r->dist->size,
                   r->c.global_batch, r->c.balance);
    }
    if (r->c.sample_every > 0) {
        rc = sampler_prepare(r);
        if (rc) goto done;
        uint64_t gb = 0;
        const clft_generator_params gp = sampler_params(r);
        if (clft_generator_plan(&r->mcfg, &r->tp, &gp, &gb) == CLFT_OK && (r->c.dry_run || !r->c.quiet))
            printf("samples: %lld prompt tokens + %lld generated every %lld steps; KV cache and buffers %.1f MiB\n",
                   (long long)r->n_sample_ids, (long long)r->c.sample_tokens, (long long)r->c.sample_every,
                   (double)gb / 1048576.0);
    }
    if (r->c.dry_run) goto done;
    rc = r->dist->rank == 0 ? prepare_out(r) : 0;
    if (rc) goto done;
    /* device, model, trainer */
    clft_context_params cp = clft_context_default_params();
    cp.device = r->c.device[0] ? r->c.device : NULL;
    if ((st = clft_context_create(&cp, &r->ctx)) != CLFT_OK ||
        (st = clft_model_create(r->ctx, &r->mcfg, &r->tp, &r->model)) != CLFT_OK ||
        (st = clft_model_load_weights(r->model, r->c.model)) != CLFT_OK) {
        rc = cli_fail(CMD, st);
        goto done;
    }
    if (r->c.adapter[0] && (st = clft_model_load_adapter(r->model, r->c.adapter)) != CLFT_OK) {
        rc = st == CLFT_STATUS_HOST_OOM || st == CLFT_STATUS_DEVICE_OOM || st == CLFT_STATUS_OPENCL
                 ? cli_fail(CMD, st)
                 : cli_usage_error(CMD, "--adapter %s: %s", r->c.adapter, clft_last_error());
        goto done;
    }
    if ((st = clft_trainer_create(r->model, &r->tr)) != CLFT_OK ||
        (r->dist->size > 1 && (st = clft_trainer_set_comm(r->tr, &r->dist->comm, 0)) != CLFT_OK)) {
        rc = cli_fail(CMD, st);
        goto done;
    }
    if (r->c.sample_every > 0 && r->dist->rank == 0) {
        const clft_generator_params gp = sampler_params(r);
        if ((st = clft_generator_create(r->model, &gp, &r->gen)) != CLFT_OK) {
            rc = cli_fail(CMD, st);
            goto done;
        }
    }
    char path[4400];
    /* resume */
    char ck[4400] = "";
    int64_t ckstep = -1;
    if (r->c.resume && r->dist->rank == 0 && clft_checkpoint_latest(r->c.out, ck, sizeof ck, &ckstep) != CLFT_OK) {
        if (count_checkpoints(r->c.out) > 0) { /* every one damaged: say so rather than start over */
            rc = cli_usage_error(CMD, "--resume: %s", clft_last_error());
            goto done;
        }
        ck[0] = 0; /* stopped (or killed) before its first checkpoint: the run starts over at step 0 */
        if (!r->c.quiet) printf("no checkpoint in %s yet: starting at step 0\n", r->c.out);
    }
    if (r->c.resume) join(path, sizeof path, r->c.out, "metrics.jsonl");
    if (r->c.resume && ck[0]) {
        char *user = NULL;
        st = clft_trainer_load(r->tr, ck, &user);
        if (st != CLFT_OK) {
            fprintf(stderr, "clft " CMD ": cannot resume from %s: %s\n", ck, clft_last_error());
            rc = st == CLFT_STATUS_SHAPE_MISMATCH ? 2 : 1;
            goto done;
        }
        cJSON *u = cJSON_Parse(user ? user : "{}");
        clft_free(user);
        r->step = (int64_t)jnum(u, "step", (double)ckstep);
        clft_dataset_position pos = {(uint64_t)jnum(u, "data_epoch", 0), (uint64_t)jnum(u, "data_index", 0)};
        r->tokens_seen = (int64_t)jnum(u, "tokens_seen", 0);
        r->best_eval = jnum(u, "best_eval", -1) >= 0 ? jnum(u, "best_eval", -1) : INFINITY;
        r->best_step = (int64_t)jnum(u, "best_step", 0);
        r->evals_since_best = (int64_t)jnum(u, "evals_since_best", 0);
        r->elapsed_before = jnum(u, "elapsed", 0);
        cJSON_Delete(u);
        r->saved_step = r->step; /* resuming a finished run does not write its last checkpoint again */
        if (clft_dataset_set_position(r->train, &pos) != CLFT_OK) { /* another --data or --batch than the run's */
            fprintf(stderr, "clft " CMD ": cannot resume from %s: %s\n", ck, clft_last_error());
            rc = 2;
            goto done;
        }
        if (!r->c.quiet) printf("resuming from %s (step %lld)\n", ck, (long long)r->step);
    }
    /* every rank starts from rank 0's state: weights, moments, step, data position, progress */
    if (r->dist->size > 1 && (st = dist_sync(r)) != CLFT_OK) {
        rc = train_dist_fail(r->dist, CMD, st);
        goto done;
    }
    if (r->dist->rank > 0) goto loop;
    /* the lines after the checkpoint's step (and a last line cut short by a kill) go */
    if (r->c.resume && !truncate_metrics(path, r->step)) {
        fprintf(stderr, "clft " CMD ": %s: cannot rewrite: %s\n", path, strerror(errno));
        rc = 1;
        goto done;
    }
    /* effective settings and the run marker */
    char *cj = train_config_json(&r->c);
    join(path, sizeof path, r->c.out, "train_config.json");
    int wrote = cj && cli_write_atomic(path, cj);
    free(cj);
    join(path, sizeof path, r->c.out, "run.json");
    char marker[512];
    snprintf(marker, sizeof marker, "{\"tool\": \"clft train\", \"version\": \"%s\", \"total_steps\": %lld}\n",
             clft_version_string(), (long long)r->total_steps);
    wrote = wrote && cli_write_atomic(path, marker);
    join(path, sizeof path, r->c.out, "metrics.jsonl");
    r->metrics = fopen(path, "a");
    if (!wrote || !r->metrics) {
        fprintf(stderr, "clft " CMD ": %s: cannot write the run files: %s\n", r->c.out, strerror(errno));
        rc = 1;
        goto done;
    }
loop:
    r->tty = isatty(2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a file-size limit (ulimit -f) makes writes fail with EFBIG, reported like a full disk,
     * instead of killing the process in the middle of a save */
    signal(SIGXFSZ, SIG_IGN);
    /* the loop */
    clft_batch *micro = calloc((size_t)r->c.grad_accum, sizeof *micro);
    const double t_start = now_s();
    int stopped_early = 0;
    while (r->step < r->total_steps && micro && !g_stop) { /* a signal during a save stops before the next step */
        for (int k = 0; k < r->c.grad_accum && st == CLFT_OK; k++) /* the global batch: every rank draws it */
            st = clft_dataset_next_batch(r->train, r->c.global_batch, &micro[k]);
        if (st != CLFT_OK) break;
        const double lr = clft_lr_at(&r->sched, r->step);
        clft_trainer_set_lr(r->tr, lr);
        const double t0 = now_s();
        clft_step_stats s;
        int stop_all = 0;
        st = r->dist->size > 1 ? train_dist_step(r->dist, r->tr, micro, r->c.grad_accum, r->c.batch, &stop_all, &s)
                               : clft_trainer_step_accum(r->tr, micro, r->c.grad_accum, &s);
        if (st != CLFT_OK) break;
        if (stop_all) g_stop = 1; /* a signal on any rank: every rank stops after this step */
        if (r->dist->changed && !r->c.quiet) {
            fprintf(stderr, "%sbalance after step %lld: rows of each global batch per rank", r->tty ? "\n" : "",
                    (long long)r->step + 1);
            for (int i = 0; i < r->dist->size; i++)
                fprintf(stderr, "%s%d (%.1f rows/s)", i ? ", " : " ", r->dist->rows[i], r->dist->rate[i]);
            fputc('\n', stderr);
        }
        r->step++;
        int64_t toks = 0;
        for (int k = 0; k < r->c.grad_accum; k++)
            toks += micro[k].tokens;
        r->tokens_seen += toks;
        const double dt = now_s() - t0, elapsed = r->elapsed_before + (now_s() - t_start);
        const double tps = dt > 0 ? (double)toks / dt : 0;
        int with_eval = 0;
        if (r->n_evals && ((r->eval_every && r->step % r->eval_every == 0) || r->step == r->total_steps)) {
            for (int i = 0; i < r->n_evals && st == CLFT_OK && r->dist->rank == 0; i++)
                st = evaluate(r, r->evals[i], &r->last_eval[i]);
            if (st == CLFT_OK) /* rank 0 evaluates; every rank takes the same early-stop decisions */
                st = train_dist_bcast(r->dist, r->last_eval, sizeof r->last_eval, "the evaluation results");
            if (st != CLFT_OK) break;
            with_eval = r->have_eval = 1;
            if (r->last_eval[0] < r->best_eval) {
                r->best_eval = r->last_eval[0];
                r->best_step = r->step;
                r->evals_since_best = 0;
            } else {
                r->evals_since_best++;
            }
        }
        /* the step's line before any checkpoint of it: a resume from checkpoint-STEP keeps lines up to STEP */
        int with_sample = 0;
        if (r->gen && (r->step % r->c.sample_every == 0 || r->step == r->total_steps)) {
            st = sample(r);
            if (st != CLFT_OK) break;
            with_sample = 1;
        }
        if (r->dist->size > 1 && r->c.sample_every > 0 &&
            (r->step % r->c.sample_every == 0 || r->step == r->total_steps)) { /* the others wait for rank 0's */
            int done = 1;
            st = train_dist_bcast(r->dist, &done, sizeof done, "rank 0's sample");
            if (st != CLFT_OK) break;
        }
        metrics_line(r, &s, lr, tps, elapsed, with_eval, with_sample);
        if (with_sample && !r->c.quiet)
            fprintf(stderr, "%ssample at step %lld: %s\n", r->tty ? "\n" : "", (long long)r->step, r->last_sample);
        progress(r, &s, lr, tps, elapsed);
        if (with_eval && r->c.early_stop && r->best_step == r->step) { /* the best weights: a checkpoint of their own */
            r->elapsed_before = elapsed;
            st = save(r, NULL, 0);
            if (st != CLFT_OK) break;
        }
        if (r->c.early_stop && r->evals_since_best >= r->c.early_stop) {
            stopped_early = 1;
            break;
        }
        if (g_stop) break;
        if (r->c.save_every && r->step % r->c.save_every == 0 && r->step < r->total_steps) {
            r->elapsed_before = elapsed;
            const double te = now_s();
            st = save(r, NULL, 0);
            r->elapsed_before += now_s() - te;
            if (st != CLFT_OK) break;
        }
    }
    for (int k = 0; micro && k < r->c.grad_accum; k++)
        clft_batch_free(&micro[k]);
    free(micro);
    if (r->tty && !r->c.quiet) fputc('\n', stderr);
    const double elapsed = r->elapsed_before + (now_s() - t_start);
    if (st != CLFT_OK) {
        rc = train_dist_fail(r->dist, CMD, st);
        goto done;
    }
    r->elapsed_before = elapsed;
    char last[4400];
    st = save(r, last, sizeof last);
    if (st != CLFT_OK) {
        fprintf(stderr, "clft " CMD ": saving the checkpoint failed (the previous one is kept): %s\n",
                clft_last_error());
        rc = 1;
        goto done;
    }
    char what[4600] = "";
    if (r->dist->rank > 0) goto done; /* rank 0 writes the weights and the report */
    st = write_outputs(r, what, sizeof what);
    if (st != CLFT_OK) {
        fprintf(stderr, "clft " CMD ": writing the trained weights to %s failed (checkpoint %s is complete): %s\n",
                r->c.out, last, clft_last_error());
        rc = 1;
        goto done;
    }
    finish_report(r, elapsed);
    if (g_stop && r->step < r->total_steps && !stopped_early) { /* a signal during the last step: the run is done */
        fprintf(stderr, "clft " CMD ": interrupted at step %lld; saved %s (continue with --resume)\n",
                (long long)r->step, last);
        rc = 130;
        goto done;
    }
    if (!r->c.quiet) {
        if (stopped_early)
            printf("early stop at step %lld: eval '%s' has not improved for %lld evaluations; best %.4f at step %lld "
                   "(%s/checkpoint-%lld)\n",
                   (long long)r->step, r->eval_names[0], (long long)r->c.early_stop, r->best_eval,
                   (long long)r->best_step, r->c.out, (long long)r->best_step);
        printf("trained %lld steps, %lld tokens in %.1f s (%.0f tokens/s)\n", (long long)r->step,
               (long long)r->tokens_seen, elapsed, elapsed > 0 ? (double)r->tokens_seen / elapsed : 0.0);
        printf("%s\ncheckpoint: %s\nmetrics:    %s/metrics.jsonl\nreport:     %s/report.html\n", what, last, r->c.out,
               r->c.out);
    }
done:
    if (r->metrics) fclose(r->metrics);
    clft_generator_free(r->gen);
    clft_free(r->sample_ids);
    free(r->last_sample);
    clft_trainer_free(r->tr);
    clft_model_free(r->model);
    clft_context_free(r->ctx);
    for (int i = 0; i < r->n_evals; i++)
        clft_dataset_free(r->evals[i]);
    clft_dataset_free(r->train);
    clft_tokenizer_free(r->tok);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_dist d;
    int rc = train_dist_start(&d, &g_signal);
    if (rc) return rc;
    g_dist = d.size > 1;
    rc = train_main(argc, argv, &d);
    train_dist_end(&d, rc);
    return rc;
}
