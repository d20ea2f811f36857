/* test_chat.c - built-in chat templates against the Jinja renderings of the real templates
 * (tests/data/tokenizers/chat_cases.json, from tests/reference/hf_tokenizers_chat.py), the exact
 * strings of shared/reference/FORMATS.md section 6, loss masks per byte and per token, template
 * recognition and errors. argv[1]: tests/data/tokenizers. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clft.h"
#include "tutil.h"

static const char *g_dir;

static const clft_chat_message CANON[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};

/* The bytes whose mask is 1, concatenated. */
static char *masked(const char *t, const uint8_t *m, size_t n) {
    char *o = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i]) o[k++] = t[i];
    o[k] = 0;
    return o;
}

static void check_render(const char *tpl, const clft_chat_message *ms, size_t n, int gen, const char *want,
                         const char *want_mask) {
    char *text = NULL;
    uint8_t *mask = NULL;
    size_t len = 0;
    clft_status st = clft_chat_render(tpl, ms, n, NULL, NULL, gen, &text, &len, &mask);
    TU_CHECK(st == CLFT_OK, "%s: %s", tpl, clft_last_error());
    if (st != CLFT_OK) return;
    TU_CHECK(len == strlen(want) && !strcmp(text, want), "%s render:\n got  '%s'\n want '%s'", tpl, text, want);
    if (want_mask) {
        char *mk = masked(text, mask, len);
        TU_CHECK(!strcmp(mk, want_mask), "%s mask: got '%s' want '%s'", tpl, mk, want_mask);
        free(mk);
    }
    clft_free(text);
    clft_free(mask);
}

/* FORMATS.md section 6, literally. */
static void formats_strings(void) {
    check_render("mistral-v0.1", CANON + 1, 5, 0,
                 "<s>[INST] Hello [/INST]Hi there</s> [INST] Who are you [/INST]   I am an assistant   </s> [INST] "
                 "Another question [/INST]",
                 "Hi there</s>   I am an assistant   </s>");
    check_render("mistral", CANON + 1, 5, 1,
                 "<s>[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] "
                 "Another question [/INST]",
                 "Hi there</s>   I am an assistant   </s>");
    check_render("llama2", CANON, 6, 0,
                 "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who "
                 "are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]",
                 "Hi there </s>I am an assistant </s>");
    check_render("llama3", CANON, 6, 1,
                 "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_"
                 "id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWho are "
                 "you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nAnother "
                 "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                 "Hi there<|eot_id|>I am an assistant<|eot_id|>");
    check_render("chatml", CANON, 2, 1,
                 "<|im_start|>system\nYou are a helpful "
                 "assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
                 "");
    check_render("qwen2", CANON + 1, 1, 1,
                 "<|im_start|>system\nYou are a helpful "
                 "assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
                 "");
    check_render("chatml", CANON, 6, 0,
                 "<|im_start|>system\nYou are a helpful "
                 "assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
                 "<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   "
                 "<|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n",
                 "Hi there<|im_end|>   I am an assistant   <|im_end|>");
    const clft_chat_message al[] = {{"user", "Add."}, {"input", "2 and 3"}, {"assistant", "5"}};
    check_render("alpaca", al, 3, 0,
                 "Below is an instruction that describes a task, paired with an input that provides further context. "
                 "Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### "
                 "Input:\n2 and 3\n\n### Response:5</s>",
                 "5</s>");
    const clft_chat_message pl[] = {{"user", "q"}, {"assistant", "a"}};
    check_render("plain", pl, 2, 0, "q\na</s>\n", "a</s>");
}

/* Every Jinja rendering of chat_cases.json. */
static void jinja_cases(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/chat_cases.json", g_dir);
    char *txt = tu_read_file(path, NULL);
    TU_CHECK(txt != NULL, "cannot read %s", path);
    if (!txt) return;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    const cJSON *c;
    int n = 0, pass = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        const char *tpl = cJSON_GetObjectItem(c, "template")->valuestring;
        const char *conv = cJSON_GetObjectItem(c, "conversation")->valuestring;
        const cJSON *msgs = cJSON_GetObjectItem(c, "messages"), *m;
        const cJSON *want = cJSON_GetObjectItem(c, "text"), *err = cJSON_GetObjectItem(c, "error");
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
        if (err && !strncmp(err->valuestring, "UndefinedError", 14))
            continue; /* Jinja fails on messages[0] of []: not a rule */
        clft_chat_message ms[16];
        size_t k = 0;
        cJSON_ArrayForEach(m, msgs) {
            ms[k].role = cJSON_GetObjectItem(m, "role")->valuestring;
            ms[k].content = cJSON_GetObjectItem(m, "content")->valuestring;
            k++;
        }
        const char *bos = !strcmp(tpl, "llama3") ? "<|begin_of_text|>" : "<s>";
        char *text = NULL;
        size_t len = 0;
        clft_status st = clft_chat_render(tpl, ms, k, bos, "</s>", gen, &text, &len, NULL);
        int ok;
        n++;
        if (err) {
            ok = st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), err->valuestring) != NULL;
            TU_CHECK(ok, "%s/%s: expected the error '%s', got %s '%s'", tpl, conv, err->valuestring,
                     clft_status_string(st), st == CLFT_OK ? text : clft_last_error());
        } else {
            ok = st == CLFT_OK && len == strlen(want->valuestring) && !strcmp(text, want->valuestring);
            TU_CHECK(ok, "%s/%s gen=%d:\n got  '%s'\n want '%s' (%s)", tpl, conv, gen, text ? text : "",
                     want->valuestring, clft_last_error());
        }
        pass += ok;
        clft_free(text);
    }
    printf("chat templates: %d/%d Jinja renderings match\n", pass, n);
    /* recognition of the real Jinja sources */
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "templates")) {
        const char *name = NULL;
        TU_OK(clft_chat_template_detect(t->valuestring, &name));
        TU_CHECK(name && !strcmp(name, t->string), "detect %s: got %s", t->string, name ? name : "(none)");
    }
    cJSON_Delete(j);
}

/* Templates of the test tokenizers' tokenizer_config.json; per-token masks from offsets. */
static void tokenizer_masks(void) {
    struct {
        const char *dir, *tpl, *want_detect, *want_masked;
    } T[] = {
        {"llama3", "llama3", "llama3", "Hi there<|eot_id|>I am an assistant<|eot_id|>"},
        {"qwen3", "qwen3", "qwen3", "Hi there<|im_end|><think>\n\n</think>\n\n   I am an assistant   <|im_end|>"},
        {"llama2", "llama2", NULL, NULL},
    };
    for (int i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", g_dir, T[i].dir);
        clft_tokenizer *tok = NULL;
        TU_OK(clft_tokenizer_load(path, &tok));
        if (!tok) continue;
        const char *jinja = clft_tokenizer_chat_template(tok), *name = NULL;
        if (T[i].want_detect) {
            TU_CHECK(jinja != NULL, "%s has a chat_template", T[i].dir);
            TU_OK(clft_chat_template_detect(jinja ? jinja : "", &name));
            TU_CHECK(name && !strcmp(name, T[i].want_detect), "%s template detected as %s", T[i].dir,
                     name ? name : "?");
        } else
            TU_CHECK(jinja == NULL, "%s has no chat_template", T[i].dir);
        char *text = NULL;
        uint8_t *bmask = NULL;
        size_t len = 0, n = 0;
        TU_OK(clft_chat_render(T[i].tpl, CANON, 5, NULL, NULL, 0, &text, &len, &bmask));
        int32_t *ids = NULL;
        size_t *offs = NULL;
        TU_OK(clft_tokenize_offsets(tok, text, len, 0, &ids, &offs, &n));
        uint8_t *tm = malloc(n ? n : 1);
        clft_token_mask_from_bytes(offs, n, bmask, len, tm);
        /* masked tokens, decoded */
        int32_t *sel = malloc(sizeof(int32_t) * (n ? n : 1));
        size_t k = 0, first = n;
        for (size_t q = 0; q < n; q++)
            if (tm[q]) {
                sel[k++] = ids[q];
                if (first == n) first = q;
            }
        char *dec = NULL;
        TU_OK(clft_detokenize(tok, sel, k, 0, &dec, NULL));
        if (T[i].want_masked)
            TU_CHECK(dec && !strcmp(dec, T[i].want_masked), "%s token mask decodes to '%s', want '%s'", T[i].dir,
                     dec ? dec : "", T[i].want_masked);
        else
            TU_CHECK(dec && strstr(dec, "Hi there") && strstr(dec, "I am an assistant") && !strstr(dec, "Hello") &&
                         !strstr(dec, "Who are you"),
                     "%s token mask decodes to '%s'", T[i].dir, dec ? dec : "");
        /* every token's span lies in the text, spans are ordered */
        int sane = 1;
        for (size_t q = 0; q < n; q++) {
            if (offs[2 * q] > offs[2 * q + 1] || offs[2 * q + 1] > len) sane = 0;
            if (q && offs[2 * q] < offs[2 * q - 2]) sane = 0;
        }
        TU_CHECK(sane, "%s token offsets are ordered and inside the text", T[i].dir);
        /* clft_chat_tokenize gives the same ids and mask */
        int32_t *ids2 = NULL;
        uint8_t *m2 = NULL;
        size_t n2 = 0;
        TU_OK(clft_chat_tokenize(tok, T[i].tpl, CANON, 5, 0, &ids2, &m2, &n2));
        TU_CHECK(n2 == n && ids2 && m2 && !memcmp(ids2, ids, n * sizeof *ids) && !memcmp(m2, tm, n),
                 "%s clft_chat_tokenize agrees (%zu vs %zu tokens)", T[i].dir, n2, n);
        clft_free(ids2);
        clft_free(m2);
        clft_free(dec);
        free(sel);
        free(tm);
        clft_free(ids);
        clft_free(offs);
        clft_free(text);
        clft_free(bmask);
        clft_tokenizer_free(tok);
    }
}

static void errors(void) {
    char *text = NULL;
    clft_status st = clft_chat_render("vicuna", CANON, 2, NULL, NULL, 0, &text, NULL, NULL);
    TU_CHECK(st == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "chatml, qwen2, qwen3, llama3, llama2, mistral"),
             "unknown template: %s", clft_last_error());
    st = clft_chat_render("mistral", CANON, 6, NULL, NULL, 0, &text, NULL, NULL);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "no system role"), "mistral system: %s",
             clft_last_error());
    const clft_chat_message uu[] = {{"user", "a"}, {"user", "b"}};
    st = clft_chat_render("llama2", uu, 2, NULL, NULL, 0, &text, NULL, NULL);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "must alternate"), "llama2 user,user: %s",
             clft_last_error());
    st = clft_chat_render("alpaca", uu, 2, NULL, NULL, 0, &text, NULL, NULL);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT, "alpaca user,user: %s", clft_last_error());
    const clft_chat_message bad[] = {{"user", "\xff"}};
    st = clft_chat_render("chatml", bad, 1, NULL, NULL, 0, &text, NULL, NULL);
    TU_CHECK(st == CLFT_STATUS_INVALID_ARGUMENT && strstr(clft_last_error(), "offset 0"), "invalid UTF-8: %s",
             clft_last_error());
    const char *name = NULL;
    st = clft_chat_template_detect("{{ messages }}", &name);
    TU_CHECK(st == CLFT_STATUS_NOT_FOUND && strstr(clft_last_error(), "llama3"), "unknown jinja: %s",
             clft_last_error());
    TU_CHECK(strstr(clft_chat_template_names(), "mistral-v0.1") != NULL, "names");
}

int main(int argc, char **argv) {
    g_dir = argc > 1 ? argv[1] : "tests/data/tokenizers";
    formats_strings();
    jinja_cases();
    tokenizer_masks();
    errors();
    return tu_finish("test_chat");
}
