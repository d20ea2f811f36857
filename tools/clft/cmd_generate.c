/* cmd_generate.c - `clft generate`: text from a model folder (and a PEFT adapter) with a KV cache on
 * the device, streamed to stdout as it is made. --chat renders the model's chat template (a system
 * and a user message, the generation prompt) and stops at the template's end of turn. A one-line
 * summary (tokens, speeds, why it stopped) goes to stderr. --prompts FILE answers many prompts with
 * one model load and one KV cache (a JSON line per answer: what scripts that score answers read).
 * Exit codes: 0 done, 2 bad input, 1 a failure while running, 130 stopped by SIGINT/SIGTERM (the
 * text so far was written). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "infer_common.h"

#define CMD "generate"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static const char usage_text[] =
    "usage: clft generate --model DIR [--adapter DIR] (--prompt TEXT | --prompt-file FILE | --prompts FILE)\n"
    "                     [options]\n\n"
    "Generates text from a Hugging Face model folder (Llama, Mistral, Qwen2), optionally with a PEFT LoRA\n"
    "adapter (applied unmerged; an adapter clft trained with QLoRA runs on the NF4 base), streamed to stdout.\n\n"
    "options:\n"
    "  --chat                 render the model's chat template (system + user message, generation prompt)\n"
    "                         and stop at its end-of-turn token\n"
    "  --system TEXT          the system message (--chat)\n"
    "  --chat-template NAME   a built-in template instead of the model's (chatml, qwen2, qwen3, llama3,\n"
    "                         llama2, mistral, mistral-v0.1, alpaca, plain)\n"
    "  --prompt-file FILE     read the prompt from FILE ('-': standard input)\n"
    "  --prompts FILE         many prompts, one model load: a JSONL file of {\"prompt\": TEXT} or (with --chat)\n"
    "                         chat lines {\"messages\": [...]} (the messages up to the last user turn are the\n"
    "                         prompt, so a dataset's answers are left out); prints a JSON line per prompt:\n"
    "                         {\"i\": line index, \"text\", \"prompt_tokens\", \"generated_tokens\", \"stop\"}\n"
    "  --max-tokens N         tokens to generate at most (default 256)\n"
    "  --temperature T        0: greedy, deterministic (default 0.8)\n"
    "  --top-k K              keep the K most likely tokens, 0: off (default 40)\n"
    "  --top-p P              keep the smallest set reaching probability P, 1: off (default 0.95)\n"
    "  --min-p P              drop tokens below P x the top probability, 0: off (default 0.05)\n"
    "  --repetition-penalty R penalize tokens already seen, 1: off (default 1)\n"
    "  --seed N               seed of the draws (default 0)\n"
    "  --stop STR             stop when STR appears (repeatable, up to 16; STR is not printed)\n"
    "  --ignore-eos           do not stop at the end-of-sequence token\n"
    "  --context N            tokens the KV cache holds (default: prompt + --max-tokens, at most the model's)\n"
    "  --base-storage native  a GGUF base kept in its Q8_0/Q4_0/Q4_1 blocks on the device\n"
    "  --base-dtype D         storage of the base: f32, f16, bf16, nf4, fp4, q8_0, q4_0, q4_1 (default: as the adapter was\n"
    "                         trained, else f32; a bitsandbytes 4-bit folder: nf4)\n"
    "  --embed-dtype D        storage of the embeddings and head: auto (as clft train chooses), f32, bf16, f16\n"
    "  --device SPEC          OpenCL device (index, gpu/cpu, or part of a name)\n"
    "  --quiet                no summary line on stderr\n"
    "  --json                 print one JSON object at the end instead of streaming: text, ids (the stop\n"
    "                         token included), prompt_tokens, generated_tokens, speeds, stop\n\n"
    "exit status: 0 done; 2 bad input (flags, folders, an adapter for another base, a prompt longer than the\n"
    "context, --max-tokens 0, a negative temperature); 1 a failure while running; 130 interrupted.\n";

#define MAX_STOPS 16

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    if (!v || !v[0]) return cli_usage_error(CMD, "%s needs a value", flag), 0;
    const double x = strtod(v, &end);
    if (*end || errno || !isfinite(x)) return cli_usage_error(CMD, "%s: '%s' is not a number", flag, v), 0;
    if (x < lo || x > hi) return cli_usage_error(CMD, "%s %s: must be in [%g, %g]", flag, v, lo, hi), 0;
    *out = x;
    return 1;
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (size_t k; b && (k = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (cap - n - 1 == 0) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
    }
    if (b) b[n] = 0;
    *len = n;
    return b;
}

static int write_piece(const char *piece, size_t len, void *user) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return g_stop != 0;
}

static const char *stop_name(clft_stop_reason r) {
    switch (r) {
    case CLFT_STOP_MAX_TOKENS: return "max tokens";
    case CLFT_STOP_TOKEN: return "end token";
    case CLFT_STOP_STRING: return "stop string";
    case CLFT_STOP_CALLBACK: return "interrupted";
    case CLFT_STOP_CONTEXT: return "context full";
    }
    return "?";
}

/* The prompt of one --prompts line as ids: {"prompt": TEXT}, or with chat (tname) {"messages": [...]}
 * up to and including the last user message, a --system message first when the line has none. */
static int prompt_line_ids(const char *file, size_t line, const char *text, const clft_tokenizer *tok,
                           const char *tname, const char *system, int32_t **ids, size_t *n_ids) {
    cJSON *j = cJSON_Parse(text);
    const cJSON *p = j ? cJSON_GetObjectItemCaseSensitive(j, "prompt") : NULL;
    const cJSON *ms = j ? cJSON_GetObjectItemCaseSensitive(j, "messages") : NULL;
    clft_chat_message msgs[64];
    size_t nm = 0, last_user = 0;
    int rc = 0;
    clft_status st = CLFT_OK;
    if (!cJSON_IsObject(j)) {
        rc = cli_usage_error(CMD, "--prompts %s:%zu: not a JSON object", file, line);
    } else if (cJSON_IsString(p)) {
        if (system && tname) msgs[nm++] = (clft_chat_message){"system", system};
        msgs[nm++] = (clft_chat_message){"user", p->valuestring};
        last_user = nm;
    } else if (!cJSON_IsArray(ms)) {
        rc = cli_usage_error(CMD, "--prompts %s:%zu: needs \"prompt\" (a string) or \"messages\" (an array)", file,
                             line);
    } else if (!tname) {
        rc = cli_usage_error(CMD, "--prompts %s:%zu: \"messages\" needs --chat", file, line);
    } else {
        const cJSON *m0 = cJSON_GetArrayItem(ms, 0), *r0 = m0 ? cJSON_GetObjectItemCaseSensitive(m0, "role") : NULL;
        if (system && !(cJSON_IsString(r0) && !strcmp(r0->valuestring, "system")))
            msgs[nm++] = (clft_chat_message){"system", system};
        const cJSON *m;
        cJSON_ArrayForEach(m, ms) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role"), *c = cJSON_GetObjectItemCaseSensitive(m, "content");
            if (!cJSON_IsString(r) || !cJSON_IsString(c)) {
                rc = cli_usage_error(CMD, "--prompts %s:%zu: a message without string \"role\" and \"content\"", file, line);
                break;
            }
            if (nm == sizeof msgs / sizeof msgs[0]) {
                rc = cli_usage_error(CMD, "--prompts %s:%zu: more than %zu messages", file, line, sizeof msgs / sizeof msgs[0]);
                break;
            }
            msgs[nm++] = (clft_chat_message){r->valuestring, c->valuestring};
            if (!strcmp(r->valuestring, "user")) last_user = nm;
        }
        if (!rc && !last_user) rc = cli_usage_error(CMD, "--prompts %s:%zu: no user message", file, line);
    }
    if (!rc) {
        if (tname) {
            uint8_t *mask = NULL;
            st = clft_chat_tokenize(tok, tname, msgs, last_user, 1, ids, &mask, n_ids);
            clft_free(mask);
        } else {
            st = clft_tokenize(tok, p->valuestring, strlen(p->valuestring), 1, ids, n_ids);
        }
        if (st != CLFT_OK) rc = cli_usage_error(CMD, "--prompts %s:%zu: %s", file, line, clft_last_error());
        else if (*n_ids == 0) rc = cli_usage_error(CMD, "--prompts %s:%zu: the prompt is empty (no tokens)", file, line);
    }
    cJSON_Delete(j);
    return rc;
}

/* Every prompt of a --prompts file as ids (prompt k at ids[k], n[k] tokens; blank lines skipped but
 * counted, so "i" is the line's index among the non-blank lines). */
typedef struct prompt_set {
    int32_t **ids;
    size_t *n, count, longest;
} prompt_set;

static void prompt_set_free(prompt_set *ps) {
    for (size_t k = 0; k < ps->count; k++)
        clft_free(ps->ids[k]);
    free(ps->ids);
    free(ps->n);
    memset(ps, 0, sizeof *ps);
}

static int prompt_set_read(const char *file, const char *text, const clft_tokenizer *tok, const char *tname,
                           const char *system, prompt_set *ps) {
    size_t line = 0, cap = 0;
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        line++;
        char *l = malloc(len + 1);
        if (!l) return cli_usage_error(CMD, "--prompts %s: out of memory", file);
        memcpy(l, s, len);
        l[len] = 0;
        s += len + (e ? 1 : 0);
        size_t k = 0;
        while (l[k] == ' ' || l[k] == '\t' || l[k] == '\r')
            k++;
        if (!l[k]) {
            free(l);
            continue;
        }
        if (ps->count == cap) {
            cap = cap ? 2 * cap : 64;
            int32_t **ni = realloc(ps->ids, cap * sizeof *ni);
            if (ni) ps->ids = ni;
            size_t *nn = ni ? realloc(ps->n, cap * sizeof *nn) : NULL;
            if (nn) ps->n = nn;
            if (!ni || !nn) {
                free(l);
                return cli_usage_error(CMD, "--prompts %s: out of memory", file);
            }
        }
        ps->ids[ps->count] = NULL;
        int rc = prompt_line_ids(file, line, l, tok, tname, system, &ps->ids[ps->count], &ps->n[ps->count]);
        free(l);
        if (rc) return rc;
        if (ps->n[ps->count] > ps->longest) ps->longest = ps->n[ps->count];
        ps->count++;
    }
    if (!ps->count) return cli_usage_error(CMD, "--prompts %s: no prompts", file);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    infer_opts o;
    memset(&o, 0, sizeof o);
    const char *prompt = NULL, *prompt_file = NULL, *prompts_file = NULL, *system = NULL, *tpl = NULL, *stops[MAX_STOPS];
    size_t n_stops = 0;
    int chat = 0, quiet = 0, ignore_eos = 0, json = 0;
    long long context = 0;
    clft_generate_params gp = clft_generate_default_params();
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        double x = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--model needs a folder");
            o.model = v;
        } else if (cli_opt(argc, argv, &i, "--adapter", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--adapter needs a folder");
            o.adapter = v;
        } else if (cli_opt(argc, argv, &i, "--base-dtype", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--base-dtype needs a value");
            o.base_dtype = v;
        } else if (cli_opt(argc, argv, &i, "--embed-dtype", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--embed-dtype needs a value");
            o.embed_dtype = v;
        } else if (cli_opt(argc, argv, &i, "--base-storage", &v)) {
            if (!v || strcmp(v, "native")) return cli_usage_error(CMD, "--base-storage: the only value is native");
            o.base_dtype = "native"; /* the GGUF file's Q8_0/Q4_0/Q4_1 blocks (infer_prepare) */
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--device needs a value");
            o.device = v;
        } else if (cli_opt(argc, argv, &i, "--prompt", &v)) {
            if (!v) return cli_usage_error(CMD, "--prompt needs a text");
            prompt = v;
        } else if (cli_opt(argc, argv, &i, "--prompt-file", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--prompt-file needs a file");
            prompt_file = v;
        } else if (cli_opt(argc, argv, &i, "--prompts", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--prompts needs a file");
            prompts_file = v;
        } else if (cli_opt(argc, argv, &i, "--system", &v)) {
            if (!v) return cli_usage_error(CMD, "--system needs a text");
            system = v;
        } else if (cli_opt(argc, argv, &i, "--chat-template", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--chat-template needs a name");
            tpl = v;
        } else if (!strcmp(argv[i], "--chat")) {
            chat = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--ignore-eos")) {
            ignore_eos = 1;
        } else if (cli_opt(argc, argv, &i, "--stop", &v)) {
            if (!v || !v[0]) return cli_usage_error(CMD, "--stop needs a non-empty text");
            if (n_stops == MAX_STOPS) return cli_usage_error(CMD, "--stop: at most %d stop strings", MAX_STOPS);
            stops[n_stops++] = v;
        } else if (cli_opt(argc, argv, &i, "--max-tokens", &v)) {
            if (!parse_num("--max-tokens", v, -1e18, 1e18, &x)) return 2;
            if (x < 1 || x != floor(x) || x > 1e7)
                return cli_usage_error(CMD, "--max-tokens %s: must be a whole number of at least 1", v);
            gp.max_tokens = (int)x;
        } else if (cli_opt(argc, argv, &i, "--temperature", &v)) {
            if (!parse_num("--temperature", v, -1e30, 1e30, &x)) return 2;
            if (x < 0) return cli_usage_error(CMD, "--temperature %s: must not be negative (0 is greedy)", v);
            gp.sampling.temperature = (float)x;
        } else if (cli_opt(argc, argv, &i, "--top-k", &v)) {
            if (!parse_num("--top-k", v, 0, 1e9, &x)) return 2;
            if (x != floor(x)) return cli_usage_error(CMD, "--top-k %s: must be a whole number", v);
            gp.sampling.top_k = (int)x;
        } else if (cli_opt(argc, argv, &i, "--top-p", &v)) {
            if (!parse_num("--top-p", v, 0, 1, &x)) return 2;
            if (x <= 0) return cli_usage_error(CMD, "--top-p %s: must be in (0, 1]", v);
            gp.sampling.top_p = (float)x;
        } else if (cli_opt(argc, argv, &i, "--min-p", &v)) {
            if (!parse_num("--min-p", v, 0, 1, &x)) return 2;
            gp.sampling.min_p = (float)x;
        } else if (cli_opt(argc, argv, &i, "--repetition-penalty", &v)) {
            if (!parse_num("--repetition-penalty", v, 0, 1e9, &x)) return 2;
            if (x <= 0) return cli_usage_error(CMD, "--repetition-penalty %s: must be positive (1 is off)", v);
            gp.sampling.repetition_penalty = (float)x;
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            char *end = NULL;
            if (!v || !v[0] || v[0] == '-') return cli_usage_error(CMD, "--seed needs a non-negative integer");
            errno = 0;
            gp.sampling.seed = strtoull(v, &end, 10);
            if (*end || errno) return cli_usage_error(CMD, "--seed '%s' is not a non-negative integer", v);
        } else if (cli_opt(argc, argv, &i, "--context", &v)) {
            if (!parse_num("--context", v, 1, 1e9, &x)) return 2;
            context = (long long)x;
        } else {
            return cli_usage_error(CMD, "unknown option '%s' (clft generate --help)", argv[i]);
        }
    }
    if (!o.model) return cli_usage_error(CMD, "--model DIR is required");
    if (!!prompt + !!prompt_file + !!prompts_file != 1)
        return cli_usage_error(CMD, "give one of --prompt TEXT, --prompt-file FILE or --prompts FILE");
    if ((system || tpl) && !chat) return cli_usage_error(CMD, "--system and --chat-template need --chat");
    char *text = NULL;
    size_t text_len = 0;
    if (prompt_file || prompts_file) {
        const char *flag = prompt_file ? "--prompt-file" : "--prompts", *fname = prompt_file ? prompt_file : prompts_file;
        FILE *f = strcmp(fname, "-") ? fopen(fname, "rb") : stdin;
        if (!f) return cli_usage_error(CMD, "%s %s: %s", flag, fname, strerror(errno));
        text = read_all(f, &text_len);
        if (f != stdin) fclose(f);
        if (!text) return cli_usage_error(CMD, "%s %s: cannot read", flag, fname);
        if (prompt_file) prompt = text;
    } else {
        text_len = strlen(prompt);
    }
    cli_enable_logging(0);
    infer_model im;
    int rc = 0;
    /* the host side first (config, tokenizer, adapter): the prompt is checked before any device work */
    memset(&im, 0, sizeof im);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    const char *tname = NULL;
    prompt_set ps;
    memset(&ps, 0, sizeof ps);
    rc = infer_prepare(CMD, &o, &im);
    if (rc) goto done;
    clft_tokenizer *tok = im.tok;
    const clft_model_config cfg = im.cfg;
    if (chat) {
        tname = tpl;
        if (!tname && clft_chat_template_detect(clft_tokenizer_chat_template(tok), &tname) != CLFT_OK) {
            rc = cli_usage_error(CMD, "--chat: %s has no chat template clft knows (give --chat-template NAME: %s)",
                                 o.model, clft_chat_template_names());
            goto done;
        }
    }
    if (prompts_file) {
        rc = prompt_set_read(prompts_file, text, tok, tname, system, &ps);
        if (rc) goto done;
        n_ids = ps.longest;
    } else if (chat) {
        clft_chat_message msgs[2];
        size_t nm = 0;
        if (system) msgs[nm++] = (clft_chat_message){"system", system};
        msgs[nm++] = (clft_chat_message){"user", prompt};
        uint8_t *mask = NULL;
        clft_status st = clft_chat_tokenize(tok, tname, msgs, nm, 1, &ids, &mask, &n_ids);
        clft_free(mask);
        if (st != CLFT_OK) {
            rc = cli_usage_error(CMD, "--chat: %s", clft_last_error());
            goto done;
        }
    } else if (clft_tokenize(tok, prompt, text_len, 1, &ids, &n_ids) != CLFT_OK) {
        rc = cli_usage_error(CMD, "the prompt: %s", clft_last_error());
        goto done;
    }
    if (n_ids == 0) {
        rc = cli_usage_error(CMD, "the prompt is empty (no tokens)");
        goto done;
    }
    const long long maxpos = cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : (long long)1 << 30;
    long long ctx_len = context ? context : (long long)n_ids + gp.max_tokens;
    if (ctx_len > maxpos) ctx_len = maxpos;
    if ((long long)n_ids >= ctx_len) {
        rc = cli_usage_error(CMD,
                             "the prompt has %zu tokens; the context holds %lld (%s), with room for none to "
                             "generate",
                             n_ids, ctx_len, context ? "--context" : "the model's max_position_embeddings");
        goto done;
    }
    rc = infer_open(CMD, &o, &im);
    if (rc) goto done;
    /* stop tokens: the chat template's end of turn, generation_config.json's EOS ids */
    int32_t stop_ids[24];
    size_t n_stop_ids = 0;
    const char *eot = tname ? clft_chat_end_of_turn(tname) : NULL;
    if (eot && clft_tokenizer_token_to_id(im.tok, eot) >= 0)
        stop_ids[n_stop_ids++] = clft_tokenizer_token_to_id(im.tok, eot);
    if (!ignore_eos) infer_generation_eos(o.model, stop_ids, &n_stop_ids, sizeof stop_ids / sizeof stop_ids[0]);
    gp.stop_ids = stop_ids;
    gp.n_stop_ids = n_stop_ids;
    gp.stop_strings = stops;
    gp.n_stop_strings = n_stops;
    gp.ignore_eos = ignore_eos;
    clft_generator_params genp = clft_generator_default_params();
    genp.max_context = (int)ctx_len;
    clft_generator *gen = NULL;
    clft_status st = clft_generator_create(im.model, &genp, &gen);
    if (st != CLFT_OK) {
        rc = cli_fail(CMD, st);
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    clft_generate_result res;
    if (prompts_file) {
        /* one answer per prompt from the same cache (clft_generate resets it), a JSON line each */
        int64_t gen_tokens = 0;
        double secs = 0;
        for (size_t k = 0; k < ps.count && st == CLFT_OK && !g_stop; k++) {
            st = clft_generate(gen, im.tok, ps.ids[k], ps.n[k], &gp, NULL, NULL, &res);
            if (st != CLFT_OK) break;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "i", (double)k);
            cJSON_AddStringToObject(j, "text", res.text);
            cJSON_AddNumberToObject(j, "prompt_tokens", (double)res.prompt_tokens);
            cJSON_AddNumberToObject(j, "generated_tokens", (double)res.generated_tokens);
            cJSON_AddStringToObject(j, "stop", stop_name(res.stop_reason));
            char *t = cJSON_PrintUnformatted(j);
            if (t) printf("%s\n", t);
            fflush(stdout);
            free(t);
            cJSON_Delete(j);
            gen_tokens += res.generated_tokens;
            secs += res.prefill_seconds + res.decode_seconds;
            clft_generate_result_free(&res);
        }
        clft_generator_free(gen);
        if (st != CLFT_OK) {
            rc = cli_fail(CMD, st);
        } else if (g_stop) {
            rc = 130;
        } else if (!quiet) {
            fprintf(stderr, "[%s, %s] %zu prompts, %lld tokens generated in %.1f s\n", im.storage, chat ? tname : "plain",
                    ps.count, (long long)gen_tokens, secs);
        }
        goto done;
    }
    st = clft_generate(gen, im.tok, ids, n_ids, &gp, json ? NULL : write_piece, NULL, &res);
    clft_generator_free(gen);
    if (!json) fputc('\n', stdout);
    fflush(stdout);
    if (st != CLFT_OK) {
        rc = cli_fail(CMD, st);
        goto done;
    }
    const double dt = res.decode_seconds, pt = res.prefill_seconds;
    if (json) {
        cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "ids"),
              *pa = cJSON_AddArrayToObject(j, "prompt_ids");
        cJSON_AddStringToObject(j, "text", res.text);
        for (int64_t k = 0; k < res.generated_tokens; k++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(res.ids[k]));
        for (size_t k = 0; k < n_ids; k++)
            cJSON_AddItemToArray(pa, cJSON_CreateNumber(ids[k]));
        cJSON_AddNumberToObject(j, "prompt_tokens", (double)res.prompt_tokens);
        cJSON_AddNumberToObject(j, "generated_tokens", (double)res.generated_tokens);
        cJSON_AddNumberToObject(j, "prefill_seconds", res.prefill_seconds);
        cJSON_AddNumberToObject(j, "decode_seconds", res.decode_seconds);
        cJSON_AddNumberToObject(j, "decode_tokens_per_s",
                                dt > 0 && res.generated_tokens > 1 ? (double)(res.generated_tokens - 1) / dt : 0.0);
        cJSON_AddStringToObject(j, "stop", stop_name(res.stop_reason));
        cJSON_AddStringToObject(j, "base", im.storage);
        char *t = cJSON_Print(j);
        if (t) printf("%s\n", t);
        free(t);
        cJSON_Delete(j);
    }
    if (!quiet && !json) {
        fprintf(stderr, "[%s, %s] prompt %lld tokens (%.1f tok/s), generated %lld tokens (%.2f tok/s), stop: %s\n",
                im.storage, chat ? tname : "plain", (long long)res.prompt_tokens,
                pt > 0 ? (double)res.prompt_tokens / pt : 0.0, (long long)res.generated_tokens,
                dt > 0 && res.generated_tokens > 1 ? (double)(res.generated_tokens - 1) / dt : 0.0,
                stop_name(res.stop_reason));
    }
    if (res.stop_reason == CLFT_STOP_CALLBACK && g_stop) rc = 130;
    clft_generate_result_free(&res);
done:
    infer_close(&im);
    prompt_set_free(&ps);
    clft_free(ids);
    free(text);
    return rc;
}
