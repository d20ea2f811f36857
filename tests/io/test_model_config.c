/* test_model_config.c - config.json parsing for Llama, Mistral and Qwen2 (real configs in
 * tests/io/data/configs), error messages for unknown architectures, missing keys and wrong types, the
 * writer (parse(write(c)) == c), HF tensor names and shapes (parameter counts of the real models),
 * and the check that a checkpoint has every tensor. argv[1]: tests/io/data, argv[2]: scratch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_util.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "tutil.h"

static const char *g_data, *g_scratch;

static clft_status load_fixture(const char *name, clft_model_config *c) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/%s", g_data, name);
    return clft_model_config_load(path, c);
}

static void test_real_configs(void) {
    clft_model_config c;
    TU_OK(load_fixture("llama-2-7b.json", &c));
    TU_CHECK(c.arch == CLFT_ARCH_LLAMA && c.vocab_size == 32000 && c.hidden_size == 4096 &&
                 c.intermediate_size == 11008 && c.num_layers == 32 && c.num_heads == 32 && c.num_kv_heads == 32 &&
                 c.head_dim == 128 && c.max_position_embeddings == 4096,
             "llama-2-7b sizes");
    TU_CHECK(c.rms_norm_eps == 1e-5 && c.rope_theta == 10000.0 && c.rope_scaling.type == CLFT_ROPE_NONE &&
                 !c.tie_word_embeddings && c.bos_token_id == 1 && c.n_eos == 1 && c.eos_token_ids[0] == 2 &&
                 c.pad_token_id == -1 && !strcmp(c.torch_dtype, "float16") && !c.qkv_bias && !c.sliding_window &&
                 !c.has_quantization_config,
             "llama-2-7b details");
    TU_CHECK(clft_model_config_num_params(&c) == INT64_C(6738415616), "llama-2-7b params %lld",
             (long long)clft_model_config_num_params(&c));

    TU_OK(load_fixture("mistral-7b-v0.1.json", &c));
    TU_CHECK(c.arch == CLFT_ARCH_MISTRAL && c.num_kv_heads == 8 && c.sliding_window == 4096 &&
                 c.intermediate_size == 14336 && c.max_position_embeddings == 32768 &&
                 !strcmp(c.torch_dtype, "bfloat16"),
             "mistral");
    TU_CHECK(clft_model_config_num_params(&c) == INT64_C(7241732096), "mistral params %lld",
             (long long)clft_model_config_num_params(&c));

    TU_OK(load_fixture("qwen2.5-7b-instruct.json", &c));
    TU_CHECK(c.arch == CLFT_ARCH_QWEN2 && c.num_kv_heads == 4 && c.head_dim == 128 && c.qkv_bias && !c.o_bias &&
                 !c.mlp_bias && c.sliding_window == 0 && c.max_window_layers == 28 && c.rms_norm_eps == 1e-6 &&
                 c.rope_theta == 1e6 && c.bos_token_id == 151643 && c.eos_token_ids[0] == 151645,
             "qwen2.5");
    TU_CHECK(clft_model_config_num_params(&c) == INT64_C(7615616512), "qwen2.5-7b params %lld",
             (long long)clft_model_config_num_params(&c));

    TU_OK(load_fixture("llama-3.1-8b-instruct.json", &c));
    TU_CHECK(c.rope_scaling.type == CLFT_ROPE_LLAMA3 && c.rope_scaling.factor == 8.0 &&
                 c.rope_scaling.low_freq_factor == 1.0 && c.rope_scaling.high_freq_factor == 4.0 &&
                 c.rope_scaling.original_max_position_embeddings == 8192 && c.rope_theta == 500000.0,
             "llama-3.1 rope");
    TU_CHECK(c.n_eos == 3 && c.eos_token_ids[0] == 128001 && c.eos_token_ids[2] == 128009, "llama-3.1 eos list");
    TU_CHECK(clft_model_config_num_params(&c) == INT64_C(8030261248), "llama-3.1-8b params %lld",
             (long long)clft_model_config_num_params(&c));
}

static void expect_error(const char *what, const char *json, clft_status want, const char *n1, const char *n2) {
    clft_model_config c;
    clft_status s = clft_model_config_parse(json, strlen(json), "my/config.json", &c);
    const char *m = clft_last_error();
    TU_CHECK(s == want && strstr(m, "my/config.json") && (!n1 || strstr(m, n1)) && (!n2 || strstr(m, n2)),
             "%s: %s '%s'", what, clft_status_string(s), m);
    if (getenv("CLFT_TEST_VERBOSE")) printf("  %s -> %s\n", what, m);
}

#define BASE "\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4"

static void test_errors(void) {
    expect_error("unknown architecture", "{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 10, " BASE "}",
                 CLFT_STATUS_FORMAT, "GPT2LMHeadModel", "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
    expect_error("unknown model_type", "{\"model_type\": \"gemma\", \"vocab_size\": 10, " BASE "}", CLFT_STATUS_FORMAT,
                 "gemma", "Qwen2ForCausalLM");
    expect_error("no architecture", "{\"vocab_size\": 10, " BASE "}", CLFT_STATUS_FORMAT, "'architectures'", NULL);
    expect_error("missing vocab_size", "{\"architectures\": [\"LlamaForCausalLM\"], " BASE "}", CLFT_STATUS_FORMAT,
                 "missing required key 'vocab_size'", NULL);
    expect_error("missing intermediate_size",
                 "{\"architectures\": [\"MistralForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64, "
                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
                 CLFT_STATUS_FORMAT, "'intermediate_size'", NULL);
    expect_error("string size", "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": \"32000\", " BASE "}",
                 CLFT_STATUS_FORMAT, "'vocab_size'", "integer");
    expect_error("fractional size", "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10.5, " BASE "}",
                 CLFT_STATUS_FORMAT, "'vocab_size'", "integer");
    expect_error("bool as number",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"rms_norm_eps\": true, " BASE "}",
                 CLFT_STATUS_FORMAT, "'rms_norm_eps'", "number");
    expect_error("tie not bool",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"tie_word_embeddings\": 1, " BASE
                 "}",
                 CLFT_STATUS_FORMAT, "'tie_word_embeddings'", NULL);
    expect_error("kv heads",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"num_key_value_heads\": 3, " BASE
                 "}",
                 CLFT_STATUS_FORMAT, "num_key_value_heads", NULL);
    expect_error("gelu",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_act\": \"gelu\", " BASE "}",
                 CLFT_STATUS_FORMAT, "'gelu'", NULL);
    expect_error("yarn",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"rope_scaling\": {\"rope_type\": "
                 "\"yarn\", \"factor\": 4.0}, " BASE "}",
                 CLFT_STATUS_FORMAT, "'yarn'", NULL);
    expect_error("llama3 rope missing key",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"rope_scaling\": {\"rope_type\": "
                 "\"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0}, " BASE "}",
                 CLFT_STATUS_FORMAT, "'rope_scaling.original_max_position_embeddings'", NULL);
    expect_error("eos strings",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"eos_token_id\": [\"2\"], " BASE "}",
                 CLFT_STATUS_FORMAT, "'eos_token_id'", NULL);
    expect_error("eos out of vocab",
                 "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"eos_token_id\": 10, " BASE "}",
                 CLFT_STATUS_FORMAT, "eos_token_id", NULL);
    expect_error("not json", "{\"architectures\": [", CLFT_STATUS_FORMAT, "JSON", NULL);
    expect_error("array", "[]", CLFT_STATUS_FORMAT, "object", NULL);
    clft_model_config c;
    clft_status s = clft_model_config_load("/nonexistent/config.json", &c);
    TU_CHECK(s == CLFT_STATUS_IO && strstr(clft_last_error(), "/nonexistent/config.json"), "missing file: %s",
             clft_last_error());
    /* defaults of the transformers classes, quantization_config, rope_parameters */
    const char *j =
        "{\"model_type\": \"mistral\", \"vocab_size\": 100, \"sliding_window\": null, \"num_key_value_heads\": 2, "
        "\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true}, "
        "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}, " BASE "}";
    TU_OK(clft_model_config_parse(j, strlen(j), "q.json", &c));
    TU_CHECK(c.arch == CLFT_ARCH_MISTRAL && c.num_kv_heads == 2 && c.sliding_window == 0 && c.has_quantization_config &&
                 !strcmp(c.quant_method, "bitsandbytes") && c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6 &&
                 c.bos_token_id == 1,
             "mistral defaults / quantization / rope_parameters");
    /* qwen2 honours use_sliding_window */
    j = "{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 100, \"use_sliding_window\": true, "
        "\"sliding_window\": 256, \"max_window_layers\": 1, " BASE "}";
    TU_OK(clft_model_config_parse(j, strlen(j), "q.json", &c));
    TU_CHECK(c.sliding_window == 256 && c.max_window_layers == 1 && c.bos_token_id == -1 && c.n_eos == 0,
             "qwen2 sliding window");
}

static int same_config(const clft_model_config *a, const clft_model_config *b) {
    int ok = a->arch == b->arch && a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
             a->intermediate_size == b->intermediate_size && a->num_layers == b->num_layers &&
             a->num_heads == b->num_heads && a->num_kv_heads == b->num_kv_heads && a->head_dim == b->head_dim &&
             a->rms_norm_eps == b->rms_norm_eps && a->rope_theta == b->rope_theta &&
             a->rope_scaling.type == b->rope_scaling.type && a->rope_scaling.factor == b->rope_scaling.factor &&
             a->rope_scaling.original_max_position_embeddings == b->rope_scaling.original_max_position_embeddings &&
             a->max_position_embeddings == b->max_position_embeddings &&
             a->tie_word_embeddings == b->tie_word_embeddings && a->qkv_bias == b->qkv_bias && a->o_bias == b->o_bias &&
             a->mlp_bias == b->mlp_bias && a->sliding_window == b->sliding_window &&
             a->bos_token_id == b->bos_token_id && a->n_eos == b->n_eos && a->pad_token_id == b->pad_token_id &&
             a->initializer_range == b->initializer_range && !strcmp(a->torch_dtype, b->torch_dtype);
    for (int i = 0; ok && i < a->n_eos; i++)
        ok = a->eos_token_ids[i] == b->eos_token_ids[i];
    return ok;
}

static void test_writer(void) {
    const char *names[] = {"llama-2-7b.json", "mistral-7b-v0.1.json", "qwen2.5-7b-instruct.json",
                           "llama-3.1-8b-instruct.json"};
    for (int i = 0; i < 4; i++) {
        clft_model_config c, d;
        TU_OK(load_fixture(names[i], &c));
        char *json = NULL;
        TU_OK(clft_model_config_to_json(&c, &json));
        if (!json) continue;
        TU_OK(clft_model_config_parse(json, strlen(json), names[i], &d));
        TU_CHECK(same_config(&c, &d), "%s: parse(write(c)) == c", names[i]);
        free(json);
    }
    clft_model_config c;
    TU_OK(load_fixture("llama-3.1-8b-instruct.json", &c));
    char *json = NULL, *gen = NULL;
    TU_OK(clft_model_config_to_json(&c, &json));
    TU_OK(clft_generation_config_to_json(&c, &gen));
    TU_CHECK(json && strstr(json, "  \"rope_scaling\": {\n    \"factor\": 8.0,\n    \"high_freq_factor\": 4.0,\n"
                                  "    \"low_freq_factor\": 1.0,\n    \"original_max_position_embeddings\": 8192,\n"
                                  "    \"rope_type\": \"llama3\"\n  },\n  \"rope_theta\": 500000.0,\n"),
             "rope_scaling as json.dumps(indent=2): %s", json ? json : "");
    TU_CHECK(json && strstr(json, "\"rms_norm_eps\": 1e-05,\n") && strstr(json, "\"initializer_range\": 0.02,\n") &&
                 strstr(json, "\"eos_token_id\": [\n    128001,\n    128008,\n    128009\n  ],\n"),
             "python float repr and lists");
    const char *want_gen = "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": 128000,\n  \"eos_token_id\": [\n"
                           "    128001,\n    128008,\n    128009\n  ],\n  \"transformers_version\": \"4.46.3\"\n}\n";
    TU_CHECK(gen && !strcmp(gen, want_gen), "generation_config.json: %s", gen ? gen : "");
    free(json);
    free(gen);
}

static void test_tensor_names(void) {
    clft_model_config c;
    TU_OK(load_fixture("qwen2.5-7b-instruct.json", &c));
    clft_hf_tensor *t = NULL;
    size_t n = 0;
    TU_OK(clft_hf_tensor_list(&c, &t, &n));
    TU_CHECK(n == 1 + 28 * 12 + 2, "qwen2 tensor count %zu", n);
    if (t && n > 12) {
        TU_CHECK(!strcmp(t[0].name, "model.embed_tokens.weight") && t[0].shape[0] == 152064 && t[0].shape[1] == 3584,
                 "embed");
        TU_CHECK(!strcmp(t[1].name, "model.layers.0.self_attn.q_proj.weight") && t[1].shape[0] == 3584, "q_proj");
        TU_CHECK(!strcmp(t[2].name, "model.layers.0.self_attn.q_proj.bias") && t[2].ndim == 1 && t[2].shape[0] == 3584,
                 "q bias");
        TU_CHECK(!strcmp(t[4].name, "model.layers.0.self_attn.k_proj.bias") && t[4].shape[0] == 512, "k bias");
        TU_CHECK(!strcmp(t[7].name, "model.layers.0.self_attn.o_proj.weight") && t[7].shape[1] == 3584, "o_proj");
        TU_CHECK(!strcmp(t[10].name, "model.layers.0.mlp.down_proj.weight") && t[10].shape[0] == 3584 &&
                     t[10].shape[1] == 18944,
                 "down_proj");
        TU_CHECK(!strcmp(t[12].name, "model.layers.0.post_attention_layernorm.weight"), "norm");
        TU_CHECK(!strcmp(t[n - 1].name, "lm_head.weight") && !strcmp(t[n - 2].name, "model.norm.weight"), "tail");
    }
    free(t);
    c.tie_word_embeddings = 1;
    TU_OK(clft_hf_tensor_list(&c, &t, &n));
    TU_CHECK(n == 1 + 28 * 12 + 1 && t && !strcmp(t[n - 1].name, "model.norm.weight"), "tied: no lm_head");
    free(t);
}

/* a tiny model written by hand: check_tensors finds missing/mis-shaped/mis-typed tensors */
static void test_check_tensors(void) {
    clft_model_config c;
    const char *j = "{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 32, \"hidden_size\": 8, "
                    "\"intermediate_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                    "\"num_key_value_heads\": 1}";
    TU_OK(clft_model_config_parse(j, strlen(j), "tiny.json", &c));
    clft_hf_tensor *t = NULL;
    size_t n = 0;
    TU_OK(clft_hf_tensor_list(&c, &t, &n));
    clft_st_out_tensor *o = calloc(n, sizeof *o);
    static float zeros[32 * 16];
    for (size_t i = 0; i < n; i++) {
        o[i].name = t[i].name;
        o[i].dtype = CLFT_ST_F32;
        o[i].ndim = t[i].ndim;
        o[i].shape[0] = t[i].shape[0];
        o[i].shape[1] = t[i].shape[1];
        o[i].data = zeros;
    }
    char *p = clft_io_join(g_scratch, "check.safetensors");
    clft_safetensors *st = NULL;
    TU_OK(clft_st_write_file(p, o, n, NULL, 0, NULL, NULL));
    TU_OK(clft_st_open(p, &st));
    TU_OK(clft_model_check_tensors(&c, st));
    clft_safetensors_free(st);
    /* drop k_proj.bias */
    size_t kb = 0;
    for (size_t i = 0; i < n; i++)
        if (strstr(t[i].name, "k_proj.bias")) kb = i;
    clft_st_out_tensor saved = o[kb];
    o[kb] = o[n - 1];
    TU_OK(clft_st_write_file(p, o, n - 1, NULL, 0, NULL, NULL));
    TU_OK(clft_st_open(p, &st));
    clft_status s = clft_model_check_tensors(&c, st);
    TU_CHECK(s == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "'model.layers.0.self_attn.k_proj.bias'"),
             "missing tensor: %s", clft_last_error());
    clft_safetensors_free(st);
    o[kb] = saved;
    /* wrong shape */
    o[kb].shape[0] = 5;
    TU_OK(clft_st_write_file(p, o, n, NULL, 0, NULL, NULL));
    TU_OK(clft_st_open(p, &st));
    s = clft_model_check_tensors(&c, st);
    TU_CHECK(s == CLFT_STATUS_SHAPE_MISMATCH && strstr(clft_last_error(), "k_proj.bias") &&
                 strstr(clft_last_error(), "[5]") && strstr(clft_last_error(), "check.safetensors"),
             "wrong shape: %s", clft_last_error());
    clft_safetensors_free(st);
    o[kb].shape[0] = saved.shape[0];
    /* wrong dtype */
    o[0].dtype = CLFT_ST_I32;
    TU_OK(clft_st_write_file(p, o, n, NULL, 0, NULL, NULL));
    TU_OK(clft_st_open(p, &st));
    s = clft_model_check_tensors(&c, st);
    TU_CHECK(s == CLFT_STATUS_FORMAT && strstr(clft_last_error(), "embed_tokens") && strstr(clft_last_error(), "I32"),
             "wrong dtype: %s", clft_last_error());
    clft_safetensors_free(st);
    o[0].dtype = CLFT_ST_F32;
    /* bitsandbytes 4-bit layout (FORMATS.md 1.7): linear weights U8 [(n+1)/2, 1] + absmax + quant_map */
    c.has_quantization_config = 1;
    clft_st_out_tensor *q = calloc(3 * n, sizeof *q);
    char(*names)[128] = calloc(2 * n, sizeof *names);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        q[m] = o[i];
        if (t[i].role == CLFT_ROLE_LINEAR) {
            q[m].dtype = CLFT_ST_U8;
            q[m].shape[0] = (t[i].shape[0] * t[i].shape[1] + 1) / 2;
            q[m].shape[1] = 1;
            m++;
            snprintf(names[2 * i], 128, "%s.absmax", t[i].name);
            snprintf(names[2 * i + 1], 128, "%s.quant_map", t[i].name);
            q[m] = (clft_st_out_tensor){
                .name = names[2 * i], .dtype = CLFT_ST_F32, .ndim = 1, .shape = {2}, .data = zeros};
            m++;
            if (!strstr(t[i].name, "down_proj")) /* leave one quant_map out */
                q[m++] = (clft_st_out_tensor){
                    .name = names[2 * i + 1], .dtype = CLFT_ST_F32, .ndim = 1, .shape = {16}, .data = zeros};
        } else
            m++;
    }
    TU_OK(clft_st_write_file(p, q, m, NULL, 0, NULL, NULL));
    TU_OK(clft_st_open(p, &st));
    s = clft_model_check_tensors(&c, st);
    TU_CHECK(s == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "'model.layers.0.mlp.down_proj.weight.quant_map'"),
             "4-bit: missing quant_map: %s", clft_last_error());
    clft_safetensors_free(st);
    free(q);
    free(names);
    free(p);
    free(o);
    free(t);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    tu_init_seed();
    g_data = argv[1];
    g_scratch = tu_scratch_dir(argv[2], "cfg");
    if (!g_scratch) return 1;
    test_real_configs();
    test_errors();
    test_writer();
    test_tensor_names();
    test_check_tensors();
    tu_scratch_done(g_scratch);
    return tu_finish("test_model_config");
}
