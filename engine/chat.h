/* engine/chat.h — instruction prompts for chat-tuned code models.
 *
 * A rewrite ("simplify this", "add type hints", a free-form instruction) is a
 * task for an instruction-tuned model when there is one: its GGUF carries the
 * Jinja chat template it was trained with in `tokenizer.chat_template`.
 * sparkd does not run Jinja; it recognises the template's family by its
 * markers and lays the turns out itself. Known: ChatML (Qwen2.5-Coder-Instruct
 * and most recent instruct models), recognised by "<|im_start|>":
 *
 *   <|im_start|>system\n SYSTEM <|im_end|>\n
 *   <|im_start|>user\n USER <|im_end|>\n
 *   <|im_start|>assistant\n REPLY_START
 *
 * The answer continues REPLY_START (an opened code fence keeps the model on
 * code) and ends with <|im_end|> (the tokenizer's end-of-turn token) or the
 * closing fence. Models without a template, or with another one, get
 * ENG_CHAT_NONE: the caller then uses a fill-in-the-middle prompt (fim.h).
 *
 * Tokens: each text part is encoded on its own without parsing special
 * tokens (a file containing "<|im_end|>" stays text), the markers are their
 * vocabulary ids, exactly as a Hugging Face tokenizer splits the rendered
 * template at its special tokens. BOS leads when the model asks for it.
 */
#ifndef SPARKD_ENGINE_CHAT_H
#define SPARKD_ENGINE_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "tok.h"

typedef enum {
    ENG_CHAT_NONE = 0,      /* no usable template: use FIM */
    ENG_CHAT_CHATML,        /* <|im_start|>role\n ... <|im_end|> */
} eng_chat_format;

/* Longest instruction a rewrite accepts (bytes); the server checks it. */
#define ENG_CHAT_INSTRUCTION_MAX 2000

/* The format a template text names (ChatML if it contains "<|im_start|>"). */
eng_chat_format eng_chat_format_of(const char *tmpl, size_t len);

/* The model's format: its tokenizer.chat_template's, provided the vocabulary
 * has the format's markers as tokens (else NONE). */
eng_chat_format eng_chat_detect(const gguf_ctx *g, const eng_tok *t);

const char *eng_chat_format_name(eng_chat_format f);   /* "chatml", "none" */

/* The turns of an instruction prompt; all borrowed, lengths in bytes. */
typedef struct {
    const char *system; size_t system_len;
    const char *user; size_t user_len;
    const char *reply_start; size_t reply_start_len;  /* the assistant's first words */
} eng_chat_input;

/* Builds the prompt into *tokens (malloc'd, *n of them). Returns 0, or -1
 * with a one-line reason in err (no format, a marker missing, out of memory,
 * text the tokenizer refuses). */
int eng_chat_build(const eng_tok *t, eng_chat_format f, const eng_chat_input *in,
                   int32_t **tokens, size_t *n, char *err, size_t errlen);

/* The user turn of a rewrite: the instruction, then the code in a fence
 * tagged with language (may be NULL or ""). malloc'd, NUL-terminated, *len
 * set; NULL on out of memory. */
char *eng_chat_rewrite_message(const char *instruction, const char *language, const char *code,
                               size_t code_len, size_t *len);

/* The system turn sparkd uses for rewrites (static). */
const char *eng_chat_rewrite_system(void);

#endif
