/* test_model_init.c - clft_model_init_write: a preset folder loads back (config, every tensor with the
 * config's shape, HF init statistics), determinism for a seed, refusal of a non-empty folder, sharding
 * (same tensors as the single file), f16/bf16, --config-only, the byte-level tokenizer, and copying a
 * tokenizer folder. argv[1]: tests/io/data, argv[2]: scratch. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_util.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "tutil.h"

static const char *g_data, *g_scratch;

static char *sub(const char *name) { return clft_io_join(g_scratch, name); }

static int file_exists(const char *dir, const char *name) {
    char *p = clft_io_join(dir, name);
    int e = access(p, F_OK) == 0;
    free(p);
    return e;
}

static int same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int ok = !clft_io_read_file(a, &x, &nx) && !clft_io_read_file(b, &y, &ny) && nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return ok;
}

static clft_status init(const char *dir, const char *preset, uint64_t seed, clft_dtype dt, uint64_t shard, int force) {
    clft_model_init_params p = clft_model_init_default_params();
    p.preset = preset;
    p.seed = seed;
    p.dtype = dt;
    p.max_shard_bytes = shard;
    p.force = force;
    return clft_model_init_write(dir, &p);
}

/* The folder holds the config's tensors with the right shapes and HF init statistics. */
static void check_folder(const char *dir, const char *what) {
    clft_model_config c;
    clft_safetensors *st = NULL;
    TU_OK(clft_model_folder_open(dir, &c, &st));
    if (!st) return;
    clft_hf_tensor *t = NULL;
    size_t n = 0;
    TU_OK(clft_hf_tensor_list(&c, &t, &n));
    TU_CHECK(clft_st_count(st) == n, "%s: %zu tensors, config implies %zu", what, clft_st_count(st), n);
    for (size_t i = 0; i < n; i++) {
        const clft_st_tensor *x = clft_st_find(st, t[i].name);
        if (!x) continue;
        float *v = malloc((size_t)x->numel * sizeof *v);
        TU_OK(clft_st_to_f32(st, x, v));
        double sum = 0, sq = 0;
        int ok = 1;
        for (int64_t k = 0; k < x->numel; k++) {
            sum += v[k];
            sq += (double)v[k] * v[k];
            if (t[i].role == CLFT_ROLE_NORM && v[k] != 1.0f) ok = 0;
            if (t[i].role == CLFT_ROLE_BIAS && v[k] != 0.0f) ok = 0;
        }
        if (t[i].role == CLFT_ROLE_NORM || t[i].role == CLFT_ROLE_BIAS)
            TU_CHECK(ok, "%s: %s constant", what, t[i].name);
        else {
            double mean = sum / (double)x->numel, sd = sqrt(sq / (double)x->numel - mean * mean);
            TU_CHECK(fabs(mean) < 0.002 && fabs(sd - 0.02) < 0.002, "%s: %s mean %g std %g (want 0, 0.02)", what,
                     t[i].name, mean, sd);
        }
        if (t[i].role == CLFT_ROLE_EMBEDDING && c.pad_token_id >= 0) {
            int zero = 1;
            for (int64_t k = 0; k < c.hidden_size; k++)
                zero &= v[c.pad_token_id * c.hidden_size + k] == 0.0f;
            TU_CHECK(zero, "%s: padding row of the embedding is zero", what);
        }
        free(v);
    }
    free(t);
    clft_safetensors_free(st);
}

static void test_tiny(void) {
    char *a = sub("tiny_a"), *b = sub("tiny_b"), *c = sub("tiny_c");
    TU_OK(init(a, "tiny", 1, CLFT_DTYPE_F32, 0, 0));
    TU_OK(init(b, "tiny", 1, CLFT_DTYPE_F32, 0, 0));
    TU_OK(init(c, "tiny", 2, CLFT_DTYPE_F32, 0, 0));
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json"};
    for (int i = 0; i < 5; i++) {
        TU_CHECK(file_exists(a, files[i]), "tiny has %s", files[i]);
        char *x = clft_io_join(a, files[i]), *y = clft_io_join(b, files[i]), *z = clft_io_join(c, files[i]);
        TU_CHECK(same_file(x, y), "same seed gives the same %s", files[i]);
        if (!strcmp(files[i], "model.safetensors")) TU_CHECK(!same_file(x, z), "another seed changes the weights");
        free(x);
        free(y);
        free(z);
    }
    check_folder(a, "tiny");
    clft_model_config cfg;
    TU_OK(clft_model_config_load(a, &cfg));
    TU_CHECK(cfg.vocab_size == 512 && cfg.hidden_size == 64 && cfg.num_layers == 2 && cfg.num_heads == 4 &&
                 cfg.num_kv_heads == 2 && cfg.intermediate_size == 128 && cfg.bos_token_id == 256 &&
                 cfg.eos_token_ids[0] == 257 && !strcmp(cfg.torch_dtype, "float32"),
             "tiny config");
    /* a non-empty folder is refused, --force overwrites */
    clft_status s = init(a, "tiny", 1, CLFT_DTYPE_F32, 0, 0);
    TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "not empty"), "non-empty refused: %s",
             clft_last_error());
    TU_OK(init(a, "tiny", 1, CLFT_DTYPE_F32, 0, 1));
    /* sharded: same tensors as the single file */
    char *sh = sub("tiny_sharded");
    TU_OK(init(sh, "tiny", 1, CLFT_DTYPE_F32, 100000, 0));
    TU_CHECK(file_exists(sh, "model.safetensors.index.json") && file_exists(sh, "model-00001-of-00006.safetensors") &&
                 !file_exists(sh, "model.safetensors"),
             "sharded layout");
    check_folder(sh, "tiny sharded");
    clft_safetensors *s1 = NULL, *s2 = NULL;
    TU_OK(clft_st_open(a, &s1));
    TU_OK(clft_st_open(sh, &s2));
    if (s1 && s2) {
        TU_CHECK(clft_st_count(s1) == clft_st_count(s2), "same count");
        for (size_t i = 0; i < clft_st_count(s1); i++) {
            const clft_st_tensor *x = clft_st_at(s1, i), *y = clft_st_find(s2, x->name);
            TU_CHECK(y && y->bytes == x->bytes && !memcmp(x->data, y->data, x->bytes), "%s identical when sharded",
                     x->name);
        }
    }
    clft_safetensors_free(s1);
    clft_safetensors_free(s2);
    /* --force with a single file removes the stale shards and index */
    TU_OK(init(sh, "tiny", 1, CLFT_DTYPE_F32, 0, 1));
    TU_CHECK(!file_exists(sh, "model.safetensors.index.json") && !file_exists(sh, "model-00001-of-00006.safetensors") &&
                 file_exists(sh, "model.safetensors"),
             "stale shards removed");
    /* f16 and bf16 */
    const clft_dtype dts[2] = {CLFT_DTYPE_F16, CLFT_DTYPE_BF16};
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "tiny_%s", clft_dtype_name(dts[k]));
        char *d = sub(name);
        TU_OK(init(d, "tiny", 1, dts[k], 0, 0));
        check_folder(d, name);
        clft_safetensors *st = NULL;
        TU_OK(clft_st_open(d, &st));
        const clft_st_tensor *t = clft_st_find(st, "model.norm.weight");
        TU_CHECK(t && t->dtype == (k ? CLFT_ST_BF16 : CLFT_ST_F16), "%s dtype", name);
        clft_safetensors_free(st);
        clft_model_config cc;
        TU_OK(clft_model_config_load(d, &cc));
        TU_CHECK(!strcmp(cc.torch_dtype, k ? "bfloat16" : "float16"), "%s torch_dtype", name);
        free(d);
    }
    free(sh);
    free(a);
    free(b);
    free(c);
}

static void test_byte_tokenizer(void) {
    char *d = sub("tok_byte");
    clft_model_init_params p = clft_model_init_default_params();
    p.preset = "qwen2.5-7b";
    p.config_only = 1;
    TU_OK(clft_model_init_write(d, &p));
    TU_CHECK(!file_exists(d, "model.safetensors") && file_exists(d, "tokenizer.json"), "config-only");
    clft_model_config c;
    TU_OK(clft_model_config_load(d, &c));
    TU_CHECK(c.arch == CLFT_ARCH_QWEN2 && c.hidden_size == 3584 && c.vocab_size == 152064 && c.bos_token_id == -1 &&
                 clft_model_config_num_params(&c) == INT64_C(7615616512),
             "qwen2.5-7b preset");
    char *tp = clft_io_join(d, "tokenizer.json"), *text = NULL;
    size_t len = 0;
    TU_OK(clft_io_read_file(tp, &text, &len));
    cJSON *tok = text ? cJSON_Parse(text) : NULL;
    TU_CHECK(tok != NULL, "tokenizer.json parses");
    if (tok) {
        const cJSON *model = cJSON_GetObjectItem(tok, "model");
        const cJSON *vocab = cJSON_GetObjectItem(model, "vocab");
        const cJSON *added = cJSON_GetObjectItem(tok, "added_tokens");
        TU_CHECK(cJSON_GetArraySize(vocab) == 256 && !strcmp(cJSON_GetObjectItem(model, "type")->valuestring, "BPE") &&
                     cJSON_GetArraySize(cJSON_GetObjectItem(model, "merges")) == 0,
                 "byte vocab");
        TU_CHECK(cJSON_GetObjectItem(vocab, "\xc4\xa0") && cJSON_GetObjectItem(vocab, "\xc4\xa0")->valueint == 32,
                 "space is U+0120 'G-dot'");
        TU_CHECK(cJSON_GetObjectItem(vocab, "A") && cJSON_GetObjectItem(vocab, "A")->valueint == 65, "A is 65");
        int found = 0;
        const char *need[] = {"<s>",
                              "</s>",
                              "<pad>",
                              "<|im_start|>",
                              "<|im_end|>",
                              "<|begin_of_text|>",
                              "<|start_header_id|>",
                              "<|end_header_id|>",
                              "<|eot_id|>",
                              "[INST]",
                              "[/INST]"};
        for (const cJSON *a = added ? added->child : NULL; a; a = a->next)
            for (size_t k = 0; k < sizeof need / sizeof need[0]; k++)
                if (!strcmp(cJSON_GetObjectItem(a, "content")->valuestring, need[k])) found++;
        TU_CHECK(found == 11, "chat special tokens present (%d)", found);
        TU_CHECK(c.eos_token_ids[0] >= 256 && c.eos_token_ids[0] < 256 + cJSON_GetArraySize(added), "eos is special");
        cJSON_Delete(tok);
    }
    free(text);
    free(tp);
    free(d);
}

static void test_copy_tokenizer(void) {
    /* a small tokenizer folder: 600-token vocab, special tokens in added_tokens */
    char *src = sub("tok_src");
    mkdir(src, 0755);
    clft_sbuf b;
    clft_sbuf_init(&b);
    clft_sbuf_puts(&b, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":600,\"content\":\"<bos>\",\"special\":true},"
                       "{\"id\":601,\"content\":\"<eos>\",\"special\":true}],\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int i = 0; i < 600; i++)
        clft_sbuf_printf(&b, "%s\"t%d\":%d", i ? "," : "", i, i);
    clft_sbuf_puts(&b, "},\"merges\":[]}}");
    char *p = clft_io_join(src, "tokenizer.json");
    TU_OK(clft_io_write_atomic(p, b.data, b.len));
    free(p);
    clft_sbuf_free(&b);
    const char *tc = "{\"bos_token\": \"<bos>\", \"eos_token\": {\"content\": \"<eos>\"}, \"pad_token\": \"t5\"}";
    p = clft_io_join(src, "tokenizer_config.json");
    TU_OK(clft_io_write_atomic(p, tc, strlen(tc)));
    free(p);
    char *d = sub("tok_copy");
    clft_model_init_params ip = clft_model_init_default_params();
    ip.preset = "tiny";
    ip.tokenizer_dir = src;
    TU_OK(clft_model_init_write(d, &ip));
    clft_model_config c;
    TU_OK(clft_model_config_load(d, &c));
    TU_CHECK(c.vocab_size == 602 && c.bos_token_id == 600 && c.eos_token_ids[0] == 601 && c.pad_token_id == 5,
             "vocab %lld bos %lld eos %lld pad %lld", (long long)c.vocab_size, (long long)c.bos_token_id,
             (long long)c.eos_token_ids[0], (long long)c.pad_token_id);
    char *x = clft_io_join(src, "tokenizer.json"), *y = clft_io_join(d, "tokenizer.json");
    TU_CHECK(same_file(x, y), "tokenizer.json copied");
    free(x);
    free(y);
    check_folder(d, "tiny with copied tokenizer");
    /* an explicit null bos_token clears the preset's bos */
    const char *tc2 = "{\"bos_token\": null, \"eos_token\": \"<eos>\"}";
    p = clft_io_join(src, "tokenizer_config.json");
    TU_OK(clft_io_write_atomic(p, tc2, strlen(tc2)));
    free(p);
    ip.force = 1;
    TU_OK(clft_model_init_write(d, &ip));
    TU_OK(clft_model_config_load(d, &c));
    TU_CHECK(c.bos_token_id == -1 && c.eos_token_ids[0] == 601 && c.pad_token_id == -1, "null bos: bos %lld pad %lld",
             (long long)c.bos_token_id, (long long)c.pad_token_id);
    ip.force = 0;
    /* no tokenizer in the folder */
    char *d2 = sub("tok_none");
    ip.tokenizer_dir = g_scratch;
    clft_status s = clft_model_init_write(d2, &ip);
    TU_CHECK(s == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "tokenizer"), "missing tokenizer: %s",
             clft_last_error());
    free(d2);
    free(d);
    free(src);
}

/* the weights do not depend on the thread count (chunks above 65536 elements are split) */
static void test_threads(void) {
    char *cfgp = sub("threads.json"), *d1 = sub("thr1"), *d3 = sub("thr3");
    const char *j = "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 4096, \"hidden_size\": 64, "
                    "\"intermediate_size\": 96, \"num_hidden_layers\": 1, \"num_attention_heads\": 4}";
    TU_OK(clft_io_write_atomic(cfgp, j, strlen(j)));
    clft_model_init_params p = clft_model_init_default_params();
    p.config_path = cfgp;
    p.seed = 99;
    p.dtype = CLFT_DTYPE_BF16;
    p.threads = 1;
    TU_OK(clft_model_init_write(d1, &p));
    p.threads = 3;
    TU_OK(clft_model_init_write(d3, &p));
    char *a = clft_io_join(d1, "model.safetensors"), *b = clft_io_join(d3, "model.safetensors");
    TU_CHECK(same_file(a, b), "1 and 3 threads give the same weights");
    check_folder(d3, "threaded");
    free(a);
    free(b);
    free(cfgp);
    free(d1);
    free(d3);
}

static void test_errors(void) {
    char *d = sub("err");
    clft_status s = init(d, "gpt-5", 0, CLFT_DTYPE_F32, 0, 0);
    TU_CHECK(s == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "gpt-5") && strstr(clft_last_error(), "tiny"),
             "unknown preset: %s", clft_last_error());
    s = init(d, "tiny", 0, CLFT_DTYPE_NF4, 0, 0);
    TU_CHECK(s == CLFT_STATUS_INVALID_ARGUMENT, "nf4 refused");
    clft_model_init_params p = clft_model_init_default_params();
    p.config_path = "/nonexistent/config.json";
    s = clft_model_init_write(d, &p);
    TU_CHECK(s == CLFT_STATUS_IO, "missing config");
    /* from a real config file, config only */
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s/configs/llama-3.1-8b-instruct.json", g_data);
    p.config_path = cfg;
    p.config_only = 1;
    TU_OK(clft_model_init_write(d, &p));
    clft_model_config c;
    TU_OK(clft_model_config_load(d, &c));
    TU_CHECK(c.rope_scaling.type == CLFT_ROPE_LLAMA3 && c.vocab_size == 128256 && c.bos_token_id == 262,
             "llama-3.1 from config: byte tokenizer ids (bos %lld)", (long long)c.bos_token_id);
    free(d);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    tu_init_seed();
    g_data = argv[1];
    g_scratch = tu_scratch_dir(argv[2], "init");
    if (!g_scratch) return 1;
    test_tiny();
    test_byte_tokenizer();
    test_copy_tokenizer();
    test_threads();
    test_errors();
    tu_scratch_done(g_scratch);
    return tu_finish("test_model_init");
}
