/* test_dataset_examples.c - the example datasets of examples/data (text, completion, alpaca, chat) load
 * with every test tokenizer and with the byte-level tokenizer of a `clft init` model folder (what the
 * demo trains on), packed and unpacked, with a validation split; the rows hold what the stats say.
 * argv[1]: tests/data/tokenizers, argv[2]: examples/data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tutil.h"

static void check_rows(const char *what, clft_dataset *ds, int seq_len) {
    clft_dataset_stats s;
    TU_OK(clft_dataset_get_stats(ds, &s));
    clft_batch b = {0};
    int64_t tokens = 0, labels = 0, rows = 0;
    int ok = 1;
    do {
        TU_OK(clft_dataset_next_batch(ds, 4, &b));
        rows += b.rows;
        tokens += b.tokens;
        labels += b.label_tokens;
        for (int i = 0; i < 4 * seq_len; i++) {
            if (b.segments[i] < 0 && b.labels[i] != -100) ok = 0;
            if (b.labels[i] != -100 && b.labels[i] != b.ids[i]) ok = 0;
            int t = i % seq_len;
            if (t > 0 && b.segments[i] >= 0 && b.segments[i] == b.segments[i - 1] &&
                b.positions[i] != b.positions[i - 1] + 1)
                ok = 0;
            if (b.segments[i] >= 0 && (t == 0 || b.segments[i] != b.segments[i - 1]) && b.positions[i] != 0)
                ok = 0;
        }
    } while (!b.end_of_epoch);
    clft_batch_free(&b);
    TU_CHECK(ok, "%s: labels, positions and segments consistent", what);
    TU_CHECK(rows == s.rows && tokens == s.tokens && labels == s.label_tokens, "%s: an epoch holds the stats' rows",
             what);
    TU_CHECK(s.skipped_lines == 0 && s.examples > 0, "%s: %lld examples", what, (long long)s.examples);
}

static void load_all(const char *tname, const clft_tokenizer *tok, const char *dir, const char *tpl, int seq_len) {
    static const char *files[4] = {"text.jsonl", "completion.jsonl", "alpaca.jsonl", "chat.jsonl"};
    static const clft_dataset_format fmts[4] = {CLFT_DATASET_TEXT, CLFT_DATASET_COMPLETION, CLFT_DATASET_ALPACA,
                                                CLFT_DATASET_CHAT};
    for (int f = 0; f < 4; f++)
        for (int pack = 0; pack < 2; pack++)
            for (int sub = 0; sub < 3; sub++) {
                char path[1024], what[256];
                snprintf(path, sizeof path, "%s/%s", dir, files[f]);
                snprintf(what, sizeof what, "%s %s pack %d subset %d", tname, files[f], pack, sub);
                clft_dataset_params p = clft_dataset_default_params();
                p.seq_len = seq_len;
                p.pack = pack;
                p.cache = 0;
                p.chat_template = tpl;
                p.val_split = sub ? 0.1 : 0;
                p.subset = (clft_dataset_subset)sub;
                clft_dataset *ds = NULL;
                clft_status st = clft_dataset_load(path, tok, &p, &ds);
                TU_CHECK(st == CLFT_OK, "%s: %s", what, clft_last_error());
                if (!ds) continue;
                clft_dataset_stats s;
                clft_dataset_get_stats(ds, &s);
                TU_CHECK(s.format == fmts[f], "%s: detected %s", what, clft_dataset_format_name(s.format));
                if (f == 0)
                    TU_CHECK(s.masked_share < 0.05, "%s: text is almost all labelled (%g)", what, s.masked_share);
                else
                    TU_CHECK(s.masked_share > 0.2 && s.masked_share < 0.95, "%s: masked share %g", what,
                             s.masked_share);
                if (pack && f > 0 && sub == 0)
                    TU_CHECK(s.pad_tokens < s.tokens / 2, "%s: packing fills rows (%lld pad, %lld tokens)", what,
                             (long long)s.pad_tokens, (long long)s.tokens);
                check_rows(what, ds, seq_len);
                clft_dataset_free(ds);
            }
}

int main(int argc, char **argv) {
    const char *tdir = argc > 1 ? argv[1] : "tests/data/tokenizers";
    const char *ddir = argc > 2 ? argv[2] : "examples/data";
    static const char *names[3] = {"llama2", "llama3", "qwen3"};
    static const char *tpls[3] = {"llama2", NULL, NULL}; /* llama2's tokenizer_config has no chat_template */
    for (int i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", tdir, names[i]);
        clft_tokenizer *tok = NULL;
        TU_OK(clft_tokenizer_load(path, &tok));
        if (tok) load_all(names[i], tok, ddir, tpls[i], 128);
        clft_tokenizer_free(tok);
    }
    /* the byte-level tokenizer `clft init` writes (no chat template: chatml by name) */
    char dir[] = "/tmp/clft-test-dsex-XXXXXX";
    if (mkdtemp(dir)) {
        clft_model_init_params ip = clft_model_init_default_params();
        ip.preset = "tiny";
        ip.config_only = 1;
        ip.force = 1;
        clft_tokenizer *tok = NULL;
        TU_OK(clft_model_init_write(dir, &ip));
        TU_OK(clft_tokenizer_load(dir, &tok));
        /* one token per byte: the Alpaca preamble alone is ~200 tokens */
        if (tok) load_all("clft-init byte-level", tok, ddir, "chatml", 512);
        clft_tokenizer_free(tok);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    printf("test_dataset_examples: %d passed, %d failed\n", tu_passes, tu_failures);
    return tu_failures ? 1 : 0;
}
