/* cmd_eval.c - `clft eval`: the masked loss, perplexity and next-token accuracy of a model folder
 * (and a PEFT adapter) on a data file, over exactly the tokens `clft train` counts for that file with
 * the same data settings (format, sequence length, packing, masking): the same dataset loader and the
 * trainer's evaluation pass. --run OUT takes the model, adapter and data settings of a `clft train`
 * output folder. Prints a summary and writes it as JSON (--out FILE, or stdout with --json).
 * Exit codes: 0 done, 2 bad input, 1 a failure while running. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "infer_common.h"
#include "train_config.h"

#define CMD "eval"

static const char usage_text[] =
    "usage: clft eval --model DIR [--adapter DIR] --data FILE [options]\n"
    "       clft eval --run OUT [--data FILE] [options]\n\n"
    "The masked loss, perplexity (exp of the loss) and next-token accuracy (argmax = target) over the tokens\n"
    "clft train counts in FILE: the same formats and masks (loss on completions, outputs and assistant turns),\n"
    "the same sequence length, truncation and packing.\n\n"
    "options:\n"
    "  --run OUT              a clft train output folder: its model, its adapter (OUT, for LoRA/QLoRA) or its\n"
    "                         trained model (OUT, full fine-tuning), its data settings and (without --data) its\n"
    "                         training data; flags override\n"
    "  --format F             auto|text|completion|alpaca|chat (default auto)\n"
    "  --chat-template NAME   chat template (default: the model's)\n"
    "  --seq-len T            tokens per row (default 512)\n"
    "  --batch B              rows per pass (default 4)\n"
    "  --stride N             text: overlap windows by N tokens\n"
    "  --pack                 pack supervised/chat examples into rows\n"
    "  --train-on-prompt      count every token, prompts included\n"
    "  --drop-long            drop examples longer than --seq-len instead of truncating them\n"
    "  --skip-bad-lines       skip malformed JSONL lines\n"
    "  --base-dtype D         storage of the base (default: as the adapter was trained, else f32)\n"
    "  --base-storage native  a GGUF base kept in its Q8_0/Q4_0/Q4_1 blocks on the device\n"
    "  --device SPEC          OpenCL device\n"
    "  --embed-dtype D        storage of the embeddings and head: auto (as clft train chooses), f32, bf16, f16\n"
    "  --out FILE             write the result as JSON to FILE\n"
    "  --json                 print the result as JSON instead of text\n\n"
    "exit status: 0 done; 2 bad input (flags, folders, data file, an adapter for another base); 1 a failure\n"
    "while running.\n";

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cmd_eval(int argc, char **argv) {
    /* the data settings are train's keys (train_config.c), so that --run reads a run's config as is */
    train_config c;
    train_config_defaults(&c);
    const char *run = NULL, *adapter = NULL, *base_dtype = NULL, *embed_dtype = NULL, *out = NULL, *model = NULL, *data = NULL;
    int json = 0;
    char err[4600];
    /* pass 1: --run (its train_config.json under the flags) */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cli_opt(argc, argv, &i, "--run", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--run needs a clft train output folder");
            run = v;
        }
    }
    char run_cfg[4200] = "", run_abs[PATH_MAX] = "";
    if (run) {
        snprintf(run_cfg, sizeof run_cfg, "%s/train_config.json", run);
        if (!file_exists(run_cfg))
            return cli_usage_error(CMD, "--run %s: no train_config.json (not a clft train output folder)", run);
        char *args[3] = {"eval", "--config", run_cfg};
        int help = 0;
        if (!train_config_parse(&c, 3, args, &help, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
        if (!realpath(run, run_abs)) snprintf(run_abs, sizeof run_abs, "%s", run);
    }
    /* pass 2: the flags */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        char *end = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
#define STRFLAG(name, var)                                                                                             \
    if (cli_opt(argc, argv, &i, name, &v)) {                                                                           \
        if (!v || !v[0]) return cli_usage_error(CMD, "%s needs a value", name);                                        \
        var = v;                                                                                                       \
        continue;                                                                                                      \
    }
#define INTFLAG(name, var, lo)                                                                                         \
    if (cli_opt(argc, argv, &i, name, &v)) {                                                                           \
        errno = 0;                                                                                                     \
        long long x_ = v ? strtoll(v, &end, 10) : 0;                                                                   \
        if (!v || !v[0] || *end || errno || x_ < (lo) || x_ > 100000000)                                               \
            return cli_usage_error(CMD, "%s: '%s' is not a whole number >= %d", name, v ? v : "", (int)(lo));          \
        var = x_;                                                                                                      \
        continue;                                                                                                      \
    }
        if (cli_opt(argc, argv, &i, "--run", &v)) continue;
        STRFLAG("--model", model)
        STRFLAG("--adapter", adapter)
        STRFLAG("--data", data)
        STRFLAG("--base-dtype", base_dtype)
        STRFLAG("--embed-dtype", embed_dtype)
        if (cli_opt(argc, argv, &i, "--base-storage", &v)) {
            if (!v || strcmp(v, "native")) return cli_usage_error(CMD, "--base-storage: the only value is native");
            base_dtype = "native"; /* the GGUF file's Q8_0/Q4_0/Q4_1 blocks (infer_prepare) */
            continue;
        }
        STRFLAG("--out", out)
        if (cli_opt(argc, argv, &i, "--format", &v)) {
            if (!v || !v[0] || strlen(v) >= sizeof c.format) return cli_usage_error(CMD, "--format needs a value");
            snprintf(c.format, sizeof c.format, "%s", v);
            continue;
        }
        if (cli_opt(argc, argv, &i, "--chat-template", &v)) {
            if (!v || !v[0] || strlen(v) >= sizeof c.chat_template)
                return cli_usage_error(CMD, "--chat-template needs a name");
            snprintf(c.chat_template, sizeof c.chat_template, "%s", v);
            continue;
        }
        if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!v || !v[0] || strlen(v) >= sizeof c.device) return cli_usage_error(CMD, "--device needs a value");
            snprintf(c.device, sizeof c.device, "%s", v);
            continue;
        }
        INTFLAG("--seq-len", c.seq_len, 2)
        INTFLAG("--batch", c.batch, 1)
        INTFLAG("--stride", c.stride, 0)
        if (!strcmp(argv[i], "--pack"))
            c.pack = 1;
        else if (!strcmp(argv[i], "--train-on-prompt"))
            c.train_on_prompt = 1;
        else if (!strcmp(argv[i], "--drop-long"))
            c.drop_long = 1;
        else if (!strcmp(argv[i], "--skip-bad-lines"))
            c.skip_bad_lines = 1;
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return cli_usage_error(CMD, "unknown option '%s' (clft eval --help)", argv[i]);
#undef STRFLAG
#undef INTFLAG
    }
    /* what --run stands for: the run's base (or, full fine-tuning, its trained model) and adapter */
    char run_model[4200] = "";
    if (run) {
        const int full = !strcmp(c.method, "full");
        snprintf(run_model, sizeof run_model, "%s/config.json", run_abs);
        if (full && !model) {
            if (!file_exists(run_model))
                return cli_usage_error(CMD, "--run %s: no trained model in it yet (config.json)", run);
            snprintf(run_model, sizeof run_model, "%s", run_abs);
            model = run_model;
        }
        if (!model) model = c.model;
        if (!full && !adapter) {
            char ap[4300];
            snprintf(ap, sizeof ap, "%s/adapter_config.json", run_abs);
            if (!file_exists(ap))
                return cli_usage_error(CMD, "--run %s: no adapter in it yet (adapter_config.json)", run);
            adapter = run_abs;
        }
        if (!data) data = c.data;
        if (!base_dtype && c.base_dtype[0]) base_dtype = c.base_dtype;
        if (!embed_dtype && c.embed_dtype[0]) embed_dtype = c.embed_dtype;
    }
    if (!model) return cli_usage_error(CMD, "--model DIR (or --run OUT) is required");
    if (!data) return cli_usage_error(CMD, "--data FILE is required");
    clft_dataset_params dp = clft_dataset_default_params();
    if (clft_dataset_format_parse(c.format, &dp.format) != CLFT_OK)
        return cli_usage_error(CMD, "--format: %s", clft_last_error());
    if (c.stride > 0 && c.stride >= c.seq_len)
        return cli_usage_error(CMD, "--stride %lld: must be below --seq-len %d", (long long)c.stride, c.seq_len);
    cli_enable_logging(0);
    infer_opts o = {model, adapter, base_dtype, c.device[0] ? c.device : NULL, c.batch, c.seq_len, embed_dtype};
    infer_model im;
    /* the host side and the data first: bad input is reported before any device work */
    int rc = infer_prepare(CMD, &o, &im);
    if (rc) {
        infer_close(&im);
        return rc;
    }
    dp.seq_len = c.seq_len;
    dp.stride = (int)(c.stride > 0 ? c.seq_len - c.stride : 0);
    dp.pack = c.pack;
    dp.train_on_prompt = c.train_on_prompt;
    dp.drop_long = c.drop_long;
    dp.skip_bad_lines = c.skip_bad_lines;
    dp.shuffle = 0;
    dp.group_by_length = 0;
    dp.chat_template = c.chat_template[0] ? c.chat_template : NULL;
    clft_dataset *ds = NULL;
    clft_status st = clft_dataset_load(data, im.tok, &dp, &ds);
    if (st != CLFT_OK) {
        fprintf(stderr, "clft " CMD ": %s\n", clft_last_error());
        infer_close(&im);
        return st == CLFT_STATUS_HOST_OOM ? 1 : 2;
    }
    clft_dataset_stats dstats;
    clft_dataset_get_stats(ds, &dstats);
    rc = infer_open(CMD, &o, &im);
    if (rc) {
        clft_dataset_free(ds);
        infer_close(&im);
        return rc;
    }
    const double t0 = now_s();
    clft_batch b;
    memset(&b, 0, sizeof b);
    double sum = 0;
    int64_t tokens = 0, correct = 0, batches = 0;
    for (;;) {
        st = clft_dataset_next_batch(ds, c.batch, &b);
        if (st != CLFT_OK) break;
        double s = 0;
        int64_t n = 0, k = 0;
        st = clft_trainer_eval_batch_acc(im.tr, &b, &s, &n, &k);
        if (st != CLFT_OK) break;
        sum += s;
        tokens += n;
        correct += k;
        batches++;
        if (b.end_of_epoch) break;
    }
    clft_batch_free(&b);
    const double secs = now_s() - t0;
    if (st != CLFT_OK) {
        rc = cli_fail(CMD, st);
        goto done;
    }
    const double loss = tokens > 0 ? sum / (double)tokens : NAN;
    cJSON *j = cJSON_CreateObject();
    char abs[PATH_MAX];
    cJSON_AddStringToObject(j, "model", realpath(model, abs) ? abs : model);
    if (adapter)
        cJSON_AddStringToObject(j, "adapter", realpath(adapter, abs) ? abs : adapter);
    else
        cJSON_AddNullToObject(j, "adapter");
    cJSON_AddStringToObject(j, "data", realpath(data, abs) ? abs : data);
    cJSON_AddStringToObject(j, "format", clft_dataset_format_name(dstats.format));
    cJSON_AddStringToObject(j, "base", im.storage);
    cJSON_AddNumberToObject(j, "seq_len", c.seq_len);
    cJSON_AddNumberToObject(j, "examples", (double)dstats.examples);
    cJSON_AddNumberToObject(j, "rows", (double)dstats.rows);
    cJSON_AddNumberToObject(j, "tokens", (double)tokens);
    cJSON_AddNumberToObject(j, "correct", (double)correct);
    if (tokens > 0) {
        cJSON_AddNumberToObject(j, "loss", loss);
        cJSON_AddNumberToObject(j, "perplexity", exp(loss));
        cJSON_AddNumberToObject(j, "accuracy", (double)correct / (double)tokens);
    } else {
        cJSON_AddNullToObject(j, "loss");
        cJSON_AddNullToObject(j, "perplexity");
        cJSON_AddNullToObject(j, "accuracy");
    }
    cJSON_AddNumberToObject(j, "seconds", round(secs * 1000) / 1000);
    cJSON_AddNumberToObject(j, "tokens_per_s", secs > 0 ? round((double)tokens / secs * 10) / 10 : 0);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) {
        rc = cli_fail(CMD, CLFT_STATUS_HOST_OOM);
        goto done;
    }
    if (json)
        printf("%s\n", text);
    else if (tokens > 0)
        printf("loss %.6f  perplexity %.4f  accuracy %.4f (%lld of %lld tokens; %lld examples, %lld rows of %d)\n",
               loss, exp(loss), (double)correct / (double)tokens, (long long)correct, (long long)tokens,
               (long long)dstats.examples, (long long)dstats.rows, c.seq_len);
    else
        printf("no token of %s is counted in the loss\n", data);
    if (out) {
        char *t2 = malloc(strlen(text) + 2);
        if (t2) sprintf(t2, "%s\n", text);
        if (!t2 || !cli_write_atomic(out, t2)) {
            fprintf(stderr, "clft " CMD ": --out %s: cannot write: %s\n", out, strerror(errno));
            rc = 1;
        }
        free(t2);
    }
    free(text);
done:
    clft_dataset_free(ds);
    infer_close(&im);
    return rc;
}
