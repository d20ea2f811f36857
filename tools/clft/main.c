/* main.c - the `clft` command line: dispatches to subcommands (one file each). Uses only clft.h
 * (and cJSON for JSON output). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const cli_command COMMANDS[] = {
    {"devices", "list OpenCL devices (--json for machine-readable output)", cmd_devices},
    {"selfcheck", "run every kernel against its plain-C reference on a device", cmd_selfcheck},
    {"bench", "benchmarks: device limits, kernels, training steps (JSON + Markdown), compare (HTML)", cmd_bench},
    {"train", "fine-tune a model folder on a data file (full, LoRA, QLoRA): metrics, checkpoints, report", cmd_train},
    {"plan", "the device memory a training run needs, by class, without a device; --fit SIZE|DEVICE", cmd_plan},
    {"init", "write a random-initialized Hugging Face model folder from a preset or config.json", cmd_init},
    {"quantize", "write a 4-bit (NF4/FP4, bitsandbytes layout) copy of a model folder", cmd_quantize},
    {"generate", "generate text from a model folder (and a PEFT adapter) with a KV cache, streamed; --chat",
     cmd_generate},
    {"eval", "masked loss, perplexity and next-token accuracy of a model (and adapter) on a data file", cmd_eval},
    {"export", "merge a LoRA adapter (clft or PEFT) into its base model as a Hugging Face folder", cmd_export},
    {"tokenize", "UTF-8 text on stdin -> JSON array of token ids (--tokens: token strings)", cmd_tokenize},
    {"detokenize", "JSON array of token ids on stdin -> text", cmd_detokenize},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f,
            "clft %s - LLM fine-tuning (full, LoRA, QLoRA) on OpenCL\n\nusage: clft <command> [options]\n\ncommands:\n",
            clft_version_string());
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f,
            "\ncommon options: --device SPEC (index, gpu/cpu/accelerator, or part of a name; default $CLFT_DEVICE),\n"
            "                -v/--verbose (log to stderr)\n");
}

int cli_fail(const char *cmd, clft_status st) {
    const char *detail = clft_last_error();
    fprintf(stderr, "clft %s: %s%s%s\n", cmd, clft_status_string(st), detail[0] ? ": " : "", detail);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clft %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    /* "--name" last, or followed by another long option: the value is missing (the caller reports it)
     * rather than "--force" being taken as a folder name; "--name=--x" still passes any value. */
    if (*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2)) {
        *value = NULL;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

void cli_human_bytes(char *buf, size_t cap, uint64_t b) {
    if (b >= 1073741824ull)
        snprintf(buf, cap, "%.2f GiB", (double)b / 1073741824.0);
    else if (b >= 1048576ull)
        snprintf(buf, cap, "%.1f MiB", (double)b / 1048576.0);
    else if (b >= 1024ull)
        snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, cap, "%llu B", (unsigned long long)b);
}

int cli_device_info(const char *spec, clft_device_info *out, int *index) {
    int idx = -1;
    clft_device_info *devs = NULL;
    size_t n = 0;
    const int ok = clft_device_find(spec && spec[0] ? spec : NULL, &idx) == CLFT_OK &&
                   clft_devices_list(&devs, &n) == CLFT_OK && idx >= 0 && (size_t)idx < n;
    if (ok) {
        *out = devs[idx];
        if (index) *index = idx;
    }
    clft_devices_free(devs);
    return ok;
}

int cli_write_atomic(const char *path, const char *text) {
    char tmp[4400];
    const int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return 0;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) return 0;
    const int ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        const int e = errno;
        remove(tmp);
        errno = e;
        return 0;
    }
    return 1;
}

static void log_stderr(clft_log_level level, const char *msg, void *user) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    (void)user;
    fprintf(stderr, "[clft %s] %s\n", names[level], msg);
}

void cli_enable_logging(int verbosity) {
    if (verbosity > 0)
        clft_set_log_callback(log_stderr, NULL, verbosity > 1 ? CLFT_LOG_DEBUG : CLFT_LOG_INFO);
    else
        clft_set_log_callback(log_stderr, NULL, CLFT_LOG_WARN);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("clft %s\n", clft_version_string());
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "clft: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
