/* cli.h - shared helpers of the clft command line: errors, option parsing, command table. */
#ifndef CLFT_CLI_H
#define CLFT_CLI_H

#include <stdio.h>

#include "clft.h"

/* Print "clft <cmd>: <status text>: <detail>" to stderr and return exit code 1. */
int cli_fail(const char *cmd, clft_status st);
/* Print "clft <cmd>: <message>" to stderr and return exit code 2 (usage error). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int cli_usage_error(const char *cmd, const char *fmt, ...);
/* Matches "--name value" or "--name=value"; advances *i past consumed args. On a match *value is NULL
 * when the value is missing ("--name" last, or followed by an argument starting with "--"). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* Write text to path through path.tmp (fsynced, renamed): complete or absent. 1 on success, else 0
 * with errno set. */
int cli_write_atomic(const char *path, const char *text);
/* The device a spec names (as clft_device_find; NULL or "": the default): 1, its info and index,
 * else 0 (clft_last_error says why). */
int cli_device_info(const char *spec, clft_device_info *out, int *index);
/* bytes for people: "5.31 GiB", "597.0 MiB", "12.0 KiB", "100 B" (plan, train's progress line) */
void cli_human_bytes(char *buf, size_t cap, uint64_t b);
/* Installs a stderr logger when CLFT_LOG-style verbosity is requested with -v/--verbose. */
void cli_enable_logging(int verbosity);

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

int cmd_devices(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_plan(int argc, char **argv);
/* cmd_plan.c: the settings to change when a run's plan exceeds `budget` bytes, each with the plan
 * total it gives, as one line (empty when there is nothing to change). */
void plan_advice_line(const clft_model_config *cfg, const clft_train_params *tp, uint64_t budget, char *out,
                      size_t cap);

#endif
