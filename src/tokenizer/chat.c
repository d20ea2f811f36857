/* chat.c - built-in chat templates: renders a conversation byte-exactly as the Hugging Face Jinja
 * templates of those model families do (shared/reference/FORMATS.md section 6), and marks which
 * bytes belong to assistant turns (the loss mask: assistant content plus its end-of-turn token
 * text). No Jinja interpreter: each template is a small C function, recognised from the Jinja
 * source by distinctive substrings. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

static const char NAMES[] = "chatml, qwen2, qwen3, llama3, llama2, mistral, mistral-v0.1, alpaca, plain";
static const char ALTERNATE[] = "Conversation roles must alternate user/assistant/user/assistant/...";

typedef struct rbuf {
    char *t;
    uint8_t *m;
    size_t n, cap;
    int oom;
} rbuf;

static void put(rbuf *o, const char *s, size_t n, int mask) {
    if (o->oom) return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *t = realloc(o->t, cap);
        if (!t) {
            o->oom = 1;
            return;
        }
        o->t = t;
        uint8_t *m = realloc(o->m, cap);
        if (!m) {
            o->oom = 1;
            return;
        }
        o->m = m;
        o->cap = cap;
    }
    memcpy(o->t + o->n, s, n);
    memset(o->m + o->n, mask ? 1 : 0, n);
    o->n += n;
    o->t[o->n] = '\0';
}
static void puts_(rbuf *o, const char *s, int mask) { put(o, s, strlen(s), mask); }

/* Python str.strip() / Jinja trim: Unicode whitespace (str.isspace) at both ends. */
static int py_space(int32_t c) {
    if (c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f) || c == 0x85) return 1;
    if (c < 0x80) return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}
static void strip(const char *s, const char **a, size_t *n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, j = len;
    while (i < len) {
        int32_t c;
        size_t l = tok_utf8_decode(u + i, &c);
        if (!py_space(c)) break;
        i += l;
    }
    while (j > i) {
        size_t k = j - 1;
        while (k > i && (u[k] & 0xC0) == 0x80)
            k--;
        int32_t c;
        tok_utf8_decode(u + k, &c);
        if (!py_space(c)) break;
        j = k;
    }
    *a = s + i;
    *n = j - i;
}

static int is_role(const clft_chat_message *m, const char *r) { return m->role && !strcmp(m->role, r); }

static clft_status role_error(const char *tpl, const clft_chat_message *m, const char *msg) {
    int sys = is_role(m, "system");
    return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "chat template %s: %s%s", tpl, msg,
                      sys ? " (this template has no system role)" : "");
}

static clft_status render_chatml(rbuf *o, const clft_chat_message *ms, size_t n, int qwen2, int gen) {
    if (qwen2 && n && !is_role(&ms[0], "system"))
        puts_(o, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n", 0);
    for (size_t i = 0; i < n; i++) {
        int a = is_role(&ms[i], "assistant");
        puts_(o, "<|im_start|>", 0);
        puts_(o, ms[i].role, 0);
        puts_(o, "\n", 0);
        puts_(o, ms[i].content, a);
        puts_(o, "<|im_end|>", a);
        puts_(o, "\n", 0);
    }
    if (gen) puts_(o, "<|im_start|>assistant\n", 0);
    return CLFT_OK;
}

/* Last / first occurrence of needle in [s, s + n), or NULL. */
static const char *find_last(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
        if (!memcmp(s + i, needle, k)) return s + i;
    return NULL;
}
static const char *find_first(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return s + i;
    return NULL;
}
static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int ends(const char *s, const char *p) {
    size_t a = strlen(s), b = strlen(p);
    return a >= b && !memcmp(s + a - b, p, b);
}

/* Qwen3 (its tokenizer_config.json template, without tools): chatml, and the assistant turns after
 * the last user query carry a think block ("<think>\n\n</think>\n\n" when empty); an assistant
 * content holding "</think>" is split into reasoning and answer. The think block is part of the
 * assistant's output, so it is in the mask. */
static clft_status render_qwen3(rbuf *o, const clft_chat_message *ms, size_t n, int gen) {
    if (n && is_role(&ms[0], "system")) {
        puts_(o, "<|im_start|>system\n", 0);
        puts_(o, ms[0].content, 0);
        puts_(o, "<|im_end|>\n", 0);
    }
    size_t last_query = n ? n - 1 : 0;
    for (size_t k = n; k-- > 0;)
        if (is_role(&ms[k], "user") &&
            !(starts(ms[k].content, "<tool_response>") && ends(ms[k].content, "</tool_response>"))) {
            last_query = k;
            break;
        }
    for (size_t i = 0; i < n; i++) {
        const clft_chat_message *m = &ms[i];
        if (is_role(m, "user") || (is_role(m, "system") && i > 0)) {
            puts_(o, "<|im_start|>", 0);
            puts_(o, m->role, 0);
            puts_(o, "\n", 0);
            puts_(o, m->content, 0);
            puts_(o, "<|im_end|>\n", 0);
        } else if (is_role(m, "assistant")) {
            const char *c = m->content, *r = "";
            size_t cl = strlen(c), rl = 0;
            const char *end_tag = find_last(c, cl, "</think>");
            if (end_tag) {
                /* content = split('</think>')[-1].lstrip('\n') */
                const char *a = end_tag + 8;
                while (*a == '\n')
                    a++;
                /* reasoning = split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
                const char *first_end = find_first(c, cl, "</think>");
                size_t pl = (size_t)(first_end - c);
                while (pl && c[pl - 1] == '\n')
                    pl--;
                const char *open = find_last(c, pl, "<think>");
                r = open ? open + 7 : c;
                rl = pl - (size_t)(r - c);
                while (rl && *r == '\n')
                    r++, rl--;
                cl -= (size_t)(a - c);
                c = a;
            }
            puts_(o, "<|im_start|>assistant\n", 0);
            if (i > last_query && (i + 1 == n || rl)) {
                /* '<think>\n' + reasoning.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') */
                while (rl && r[rl - 1] == '\n')
                    rl--;
                while (cl && *c == '\n')
                    c++, cl--;
                puts_(o, "<think>\n", 1);
                put(o, r, rl, 1);
                puts_(o, "\n</think>\n\n", 1);
            }
            put(o, c, cl, 1);
            puts_(o, "<|im_end|>", 1);
            puts_(o, "\n", 0);
        } else if (is_role(m, "tool")) {
            if (i == 0 || !is_role(&ms[i - 1], "tool")) puts_(o, "<|im_start|>user", 0);
            puts_(o, "\n<tool_response>\n", 0);
            puts_(o, m->content, 0);
            puts_(o, "\n</tool_response>", 0);
            if (i + 1 == n || !is_role(&ms[i + 1], "tool")) puts_(o, "<|im_end|>\n", 0);
        }
    }
    if (gen) puts_(o, "<|im_start|>assistant\n", 0);
    return CLFT_OK;
}

static clft_status render_llama3(rbuf *o, const clft_chat_message *ms, size_t n, const char *bos, int gen) {
    for (size_t i = 0; i < n; i++) {
        int a = is_role(&ms[i], "assistant");
        const char *c;
        size_t cl;
        strip(ms[i].content, &c, &cl);
        if (i == 0) puts_(o, bos, 0);
        puts_(o, "<|start_header_id|>", 0);
        puts_(o, ms[i].role, 0);
        puts_(o, "<|end_header_id|>\n\n", 0);
        put(o, c, cl, a);
        puts_(o, "<|eot_id|>", a);
    }
    if (gen) puts_(o, "<|start_header_id|>assistant<|end_header_id|>\n\n", 0);
    return CLFT_OK;
}

static clft_status render_llama2(rbuf *o, const clft_chat_message *ms, size_t n, const char *bos, const char *eos) {
    const char *sys = NULL;
    if (n && is_role(&ms[0], "system")) {
        sys = ms[0].content;
        ms++, n--;
    }
    for (size_t i = 0; i < n; i++) {
        const clft_chat_message *m = &ms[i];
        if (is_role(m, "user") != (i % 2 == 0)) return role_error("llama2", m, ALTERNATE);
        /* content = '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content on the first turn, then .strip() */
        rbuf c = {0};
        if (i == 0 && sys) {
            puts_(&c, "<<SYS>>\n", 0);
            puts_(&c, sys, 0);
            puts_(&c, "\n<</SYS>>\n\n", 0);
        }
        puts_(&c, m->content, 0);
        if (c.oom) {
            free(c.t);
            free(c.m);
            return clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        }
        const char *s;
        size_t sl;
        strip(c.t ? c.t : "", &s, &sl);
        if (is_role(m, "user")) {
            puts_(o, bos, 0);
            puts_(o, "[INST] ", 0);
            put(o, s, sl, 0);
            puts_(o, " [/INST]", 0);
        } else if (is_role(m, "assistant")) {
            puts_(o, " ", 0);
            put(o, s, sl, 1);
            puts_(o, " ", 1);
            puts_(o, eos, 1);
        }
        free(c.t);
        free(c.m);
    }
    return CLFT_OK;
}

static clft_status render_mistral(rbuf *o, const clft_chat_message *ms, size_t n, const char *bos, const char *eos,
                                  int v01) {
    const char *name = v01 ? "mistral-v0.1" : "mistral";
    puts_(o, bos, 0);
    for (size_t i = 0; i < n; i++) {
        const clft_chat_message *m = &ms[i];
        if (is_role(m, "user") != (i % 2 == 0)) return role_error(name, m, ALTERNATE);
        if (is_role(m, "user")) {
            puts_(o, "[INST] ", 0);
            puts_(o, m->content, 0);
            puts_(o, " [/INST]", 0);
        } else if (is_role(m, "assistant")) {
            puts_(o, m->content, 1);
            puts_(o, eos, 1);
            if (v01) puts_(o, " ", 0);
        } else
            return role_error(name, m, "Only user and assistant roles are supported!");
    }
    return CLFT_OK;
}

/* Stanford Alpaca (train.py PROMPT_DICT): one instruction, an optional input, the response + EOS. */
static clft_status render_alpaca(rbuf *o, const clft_chat_message *ms, size_t n, const char *eos) {
    const char *sys = NULL, *instr = NULL, *input = NULL, *resp = NULL;
    size_t i = 0;
    if (i < n && is_role(&ms[i], "system")) sys = ms[i++].content;
    if (i < n && is_role(&ms[i], "user")) instr = ms[i++].content;
    if (i < n && is_role(&ms[i], "input")) input = ms[i++].content;
    if (i < n && is_role(&ms[i], "assistant")) resp = ms[i++].content;
    if (!instr || i < n)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                          "chat template alpaca: expected [system] user [input] [assistant] (one instruction), "
                          "got role '%s' at message %zu",
                          i < n ? (ms[i].role ? ms[i].role : "(null)") : "(none)", i);
    if (sys)
        puts_(o, sys, 0);
    else if (input)
        puts_(o,
              "Below is an instruction that describes a task, paired with an input that provides further context. "
              "Write a response that appropriately completes the request.",
              0);
    else
        puts_(
            o,
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
            0);
    puts_(o, "\n\n### Instruction:\n", 0);
    puts_(o, instr, 0);
    if (input) {
        puts_(o, "\n\n### Input:\n", 0);
        puts_(o, input, 0);
    }
    puts_(o, "\n\n### Response:", 0);
    if (resp) {
        puts_(o, resp, 1);
        puts_(o, eos, 1);
    }
    return CLFT_OK;
}

static clft_status render_plain(rbuf *o, const clft_chat_message *ms, size_t n, const char *eos) {
    for (size_t i = 0; i < n; i++) {
        int a = is_role(&ms[i], "assistant");
        puts_(o, ms[i].content, a);
        if (a) puts_(o, eos, 1);
        puts_(o, "\n", 0);
    }
    return CLFT_OK;
}

const char *clft_chat_template_names(void) { return NAMES; }

clft_status clft_chat_render(const char *template_name, const clft_chat_message *messages, size_t n, const char *bos,
                             const char *eos, int add_generation_prompt, char **text, size_t *len, uint8_t **mask) {
    if (!template_name || !text || (!messages && n))
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_chat_render: NULL argument");
    *text = NULL;
    if (mask) *mask = NULL;
    if (len) *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!messages[i].role || !messages[i].content)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_chat_render: message %zu has no role or content", i);
        size_t cl = strlen(messages[i].content);
        size_t bad = tok_utf8_check((const unsigned char *)messages[i].content, cl);
        if (bad < cl)
            return clft_error(CLFT_STATUS_INVALID_ARGUMENT,
                              "clft_chat_render: message %zu: invalid UTF-8 at byte offset %zu", i, bad);
    }
    const char *t = template_name;
    int l3 = !strcmp(t, "llama3");
    if (!bos) bos = l3 ? "<|begin_of_text|>" : "<s>";
    if (!eos) eos = "</s>";
    rbuf o = {0};
    clft_status st;
    if (!strcmp(t, "chatml"))
        st = render_chatml(&o, messages, n, 0, add_generation_prompt);
    else if (!strcmp(t, "qwen2"))
        st = render_chatml(&o, messages, n, 1, add_generation_prompt);
    else if (!strcmp(t, "qwen3"))
        st = render_qwen3(&o, messages, n, add_generation_prompt);
    else if (l3)
        st = render_llama3(&o, messages, n, bos, add_generation_prompt);
    else if (!strcmp(t, "llama2"))
        st = render_llama2(&o, messages, n, bos, eos);
    else if (!strcmp(t, "mistral"))
        st = render_mistral(&o, messages, n, bos, eos, 0);
    else if (!strcmp(t, "mistral-v0.1"))
        st = render_mistral(&o, messages, n, bos, eos, 1);
    else if (!strcmp(t, "alpaca"))
        st = render_alpaca(&o, messages, n, eos);
    else if (!strcmp(t, "plain"))
        st = render_plain(&o, messages, n, eos);
    else
        return clft_error(CLFT_STATUS_NOT_FOUND, "unknown chat template '%s' (built-in: %s)", t, NAMES);
    if (st == CLFT_OK && !o.t) put(&o, "", 0, 0);
    if (st == CLFT_OK && o.oom) st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory rendering a chat");
    if (st != CLFT_OK) {
        free(o.t);
        free(o.m);
        return st;
    }
    *text = o.t;
    if (len) *len = o.n;
    if (mask)
        *mask = o.m;
    else
        free(o.m);
    return CLFT_OK;
}

clft_status clft_chat_template_detect(const char *jinja, const char **name) {
    if (!jinja || !name) return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_chat_template_detect: NULL argument");
    *name = NULL;
    if (strstr(jinja, "<|im_start|>") && strstr(jinja, "<think>") && strstr(jinja, "last_query_index")) {
        *name = "qwen3";
    } else if (strstr(jinja, "<|im_start|>")) {
        *name =
            strstr(jinja, "You are a helpful assistant<|im_end|>") && strstr(jinja, "loop.first") ? "qwen2" : "chatml";
    } else if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|eot_id|>")) {
        *name = "llama3";
    } else if (strstr(jinja, "<<SYS>>") && strstr(jinja, "[INST]")) {
        *name = "llama2";
    } else if (strstr(jinja, "' [/INST]'") || strstr(jinja, "\" [/INST]\"")) {
        *name = strstr(jinja, "eos_token + ' '") || strstr(jinja, "eos_token + \" \"") ? "mistral-v0.1" : "mistral";
    } else if (strstr(jinja, "### Instruction:") && strstr(jinja, "### Response:")) {
        *name = "alpaca";
    }
    if (!*name)
        return clft_error(CLFT_STATUS_NOT_FOUND,
                          "chat_template not recognised as one of the built-in templates (%s); pick one by name",
                          NAMES);
    return CLFT_OK;
}

const char *clft_chat_end_of_turn(const char *template_name) {
    if (!template_name) return NULL;
    if (!strcmp(template_name, "chatml") || !strcmp(template_name, "qwen2") || !strcmp(template_name, "qwen3"))
        return "<|im_end|>";
    if (!strcmp(template_name, "llama3")) return "<|eot_id|>";
    return NULL; /* llama2, mistral*, alpaca, plain end a turn with EOS; unknown names */
}

void clft_token_mask_from_bytes(const size_t *offsets, size_t n, const uint8_t *byte_mask, size_t text_len,
                                uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        size_t a = offsets[2 * i], b = offsets[2 * i + 1];
        uint8_t m = 0;
        if (b > text_len) b = text_len;
        if (a >= b)
            m = a < text_len ? byte_mask[a] : 0;
        else
            for (size_t k = a; k < b && !m; k++)
                m = byte_mask[k] != 0;
        out[i] = m;
    }
}

clft_status clft_chat_tokenize(const clft_tokenizer *tok, const char *template_name, const clft_chat_message *messages,
                               size_t n, int add_generation_prompt, int32_t **ids, uint8_t **mask, size_t *n_tokens) {
    if (!tok || !ids || !mask || !n_tokens)
        return clft_error(CLFT_STATUS_INVALID_ARGUMENT, "clft_chat_tokenize: NULL argument");
    *ids = NULL;
    *mask = NULL;
    *n_tokens = 0;
    const char *bos = clft_tokenizer_id_to_token(tok, clft_tokenizer_bos_id(tok));
    const char *eos = clft_tokenizer_id_to_token(tok, clft_tokenizer_eos_id(tok));
    char *text = NULL;
    uint8_t *bmask = NULL;
    size_t len = 0, nt = 0, *offs = NULL;
    clft_status st = clft_chat_render(template_name, messages, n, bos, eos, add_generation_prompt, &text, &len, &bmask);
    if (st == CLFT_OK) st = clft_tokenize_offsets(tok, text, len, 0, ids, &offs, &nt);
    if (st == CLFT_OK) {
        *mask = malloc(nt ? nt : 1);
        if (!*mask)
            st = clft_error(CLFT_STATUS_HOST_OOM, "out of host memory");
        else
            clft_token_mask_from_bytes(offs, nt, bmask, len, *mask);
    }
    if (st != CLFT_OK) {
        free(*ids);
        *ids = NULL;
    } else
        *n_tokens = nt;
    free(offs);
    free(text);
    free(bmask);
    return st;
}
