/* train_config.h - the settings of `clft train`: one table of keys shared by the command-line flags
 * (--seq-len 512, --seq-len=512) and the --config FILE.json keys ("seq-len" or "seq_len"); flags
 * win over the file. The effective settings are written to OUT/train_config.json. */
#ifndef CLFT_TOOL_TRAIN_CONFIG_H
#define CLFT_TOOL_TRAIN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

#define TC_MAX_EVAL 8

typedef struct train_config {
    /* model and data */
    char model[4096], data[4096], out[4096], format[32], chat_template[64], device[128];
    char eval_name[TC_MAX_EVAL][64], eval_path[TC_MAX_EVAL][4096];
    int n_eval;
    double val_split;
    int64_t stride;
    int pack, drop_long, train_on_prompt, skip_bad_lines;
    /* method */
    char method[16], base_dtype[16], embed_dtype[16], targets[160], adapter[4096];
    char base_storage[16]; /* "native" or "" */
    int rank, rslora, qlora_blocksize, qlora_double_quant, checkpointing;
    double alpha, dropout;
    /* shape and schedule */
    int seq_len, batch, grad_accum;
    int64_t steps, epochs;
    double lr, min_lr, weight_decay, max_grad_norm;
    char schedule[16];
    int64_t warmup;
    /* evaluation, saving, logging */
    int64_t eval_every, save_every, log_every, keep, early_stop;
    uint64_t seed;
    int resume, overwrite, dry_run, quiet;
    /* outputs and samples */
    char save_dtype[16], sample_prompt[4096];
    int64_t sample_every, sample_tokens;
    /* data parallel over MPI (train_dist.c) */
    char devices[512], balance[16];
    int global_batch;
    int64_t balance_every;
    double dist_timeout;
    unsigned char given[96]; /* per key of the table: set by a flag or a --config file (train_config_given) */
} train_config;

void train_config_defaults(train_config *c);
/* Parse argv[1..] (argv[0] is "train") into c: --config FILE first, then the flags over it (--eval-data
 * flags replace the file's eval sets).
 * Returns 0 and fills err (one line) on a bad flag, key or value; *help is set for --help. */
int train_config_parse(train_config *c, int argc, char **argv, int *help, char *err, size_t errcap);
/* 1 when the key (its flag name, e.g. "rank") was set by a flag or a config file, not defaulted. */
int train_config_given(const train_config *c, const char *name);
/* The effective settings as a JSON object (malloc'd). */
char *train_config_json(const train_config *c);
/* Usage text of every key. */
void train_config_usage(void);
/* --targets text ("all" or a comma separated list of q,k,v,o,gate,up,down, also as q_proj...) as a
 * CLFT_LORA_* mask; 0 when a name is unknown or the list is empty. */
int train_config_targets(const char *s, uint32_t *mask);
/* --method text as a clft_method; -1 when it is none of full, lora, qlora. */
clft_method train_config_method(const char *s);
/* --base-dtype text (f32, f16, bf16, nf4, fp4, q8_0, q4_0, q4_1) as a clft_dtype; -1 for any other. */
clft_dtype train_config_dtype(const char *s);
/* The clft_train_params the settings describe (method, base storage, adapters, checkpointing, batch
 * shape; the optimizer's values are the caller's): shared by `clft train` and `clft plan`. Returns 0
 * and fills err (one line, naming the flag) on a bad method, base dtype, storage or target list. */
int train_config_params(const train_config *c, clft_train_params *tp, char *err, size_t errcap);

#endif
