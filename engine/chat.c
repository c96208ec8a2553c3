/* engine/chat.c — instruction prompts (chat.h): template detection and the
 * ChatML layout. */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char IM_START[] = "<|im_start|>", IM_END[] = "<|im_end|>";

eng_chat_format eng_chat_format_of(const char *tmpl, size_t len)
{
    size_t m = sizeof IM_START - 1;
    for (size_t i = 0; tmpl && i + m <= len; i++)
        if (tmpl[i] == '<' && !memcmp(tmpl + i, IM_START, m)) return ENG_CHAT_CHATML;
    return ENG_CHAT_NONE;
}

eng_chat_format eng_chat_detect(const gguf_ctx *g, const eng_tok *t)
{
    const char *tmpl;
    size_t len;
    if (gguf_get_str(g, "tokenizer.chat_template", &tmpl, &len) != GGUF_OK) return ENG_CHAT_NONE;
    eng_chat_format f = eng_chat_format_of(tmpl, len);
    if (f == ENG_CHAT_CHATML && (eng_tok_lookup(t, IM_START, sizeof IM_START - 1) < 0 ||
                                 eng_tok_lookup(t, IM_END, sizeof IM_END - 1) < 0))
        return ENG_CHAT_NONE;   /* a template naming tokens the vocabulary lacks */
    return f;
}

const char *eng_chat_format_name(eng_chat_format f)
{
    return f == ENG_CHAT_CHATML ? "chatml" : "none";
}

const char *eng_chat_rewrite_system(void)
{
    return "You are a careful programming assistant. Rewrite the code the user gives as "
           "instructed. Keep its indentation, its names and everything the instruction does not "
           "ask to change. Answer with the rewritten code only, in one code block.";
}

char *eng_chat_rewrite_message(const char *instruction, const char *language, const char *code,
                               size_t code_len, size_t *len)
{
    if (!language) language = "";
    size_t il = strlen(instruction), ll = strlen(language);
    size_t cap = il + ll + code_len + 16;
    char *m = malloc(cap);
    if (!m) return NULL;
    size_t w = 0;
    memcpy(m + w, instruction, il), w += il;
    memcpy(m + w, "\n\n```", 5), w += 5;
    memcpy(m + w, language, ll), w += ll;
    m[w++] = '\n';
    memcpy(m + w, code, code_len), w += code_len;
    if (code_len && code[code_len - 1] != '\n') m[w++] = '\n';
    memcpy(m + w, "```", 3), w += 3;
    m[w] = 0;
    *len = w;
    return m;
}

// ---------------------------------------------------------------- building

typedef struct {
    int32_t *v;
    size_t n, cap;
} ids;

static int push(ids *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return -1;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

/* Appends the tokens of s[0..n) (no special-token parsing). */
static int text(const eng_tok *t, ids *o, const char *s, size_t n)
{
    if (!n) return 0;
    int64_t need = eng_tok_encode(t, s, n, ENG_TOK_ENCODE_NO_PREFIX, NULL, 0);
    if (need < 0) return -1;
    while (o->cap - o->n < (size_t)need) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return -1;
        o->v = v;
        o->cap = cap;
    }
    int64_t got = eng_tok_encode(t, s, n, ENG_TOK_ENCODE_NO_PREFIX, o->v + o->n, o->cap - o->n);
    if (got != need) return -1;
    o->n += (size_t)got;
    return 0;
}

/* <|im_start|>role\n BODY <|im_end|>\n, or without the end for the open turn. */
static int turn(const eng_tok *t, ids *o, int32_t start, int32_t end, const char *role,
                const char *body, size_t len)
{
    char head[32];
    int hl = snprintf(head, sizeof head, "%s\n", role);
    if (push(o, start) || text(t, o, head, (size_t)hl) || text(t, o, body, len)) return -1;
    if (end < 0) return 0;
    return push(o, end) || text(t, o, "\n", 1) ? -1 : 0;
}

int eng_chat_build(const eng_tok *t, eng_chat_format f, const eng_chat_input *in,
                   int32_t **tokens, size_t *n, char *err, size_t errlen)
{
    *tokens = NULL;
    *n = 0;
    if (f != ENG_CHAT_CHATML) {
        snprintf(err, errlen, "no chat template: the model has no tokenizer.chat_template sparkd knows");
        return -1;
    }
    int32_t start = eng_tok_lookup(t, IM_START, sizeof IM_START - 1);
    int32_t end = eng_tok_lookup(t, IM_END, sizeof IM_END - 1);
    if (start < 0 || end < 0) {
        snprintf(err, errlen, "the vocabulary has no %s token: not a ChatML model", start < 0 ? IM_START : IM_END);
        return -1;
    }
    ids o = { NULL, 0, 0 };
    const eng_tok_special *sp = eng_tok_specials(t);
    int rc = (sp->add_bos && sp->bos >= 0 && push(&o, sp->bos)) ||
             turn(t, &o, start, end, "system", in->system, in->system ? in->system_len : 0) ||
             turn(t, &o, start, end, "user", in->user, in->user ? in->user_len : 0) ||
             turn(t, &o, start, -1, "assistant", in->reply_start, in->reply_start ? in->reply_start_len : 0);
    if (rc) {
        free(o.v);
        snprintf(err, errlen, "cannot build the chat prompt: out of memory or text too long");
        return -1;
    }
    *tokens = o.v;
    *n = o.n;
    return 0;
}
