/* test_chat.c — instruction prompts: template detection, the ChatML layout
 * token by token, user text that holds marker names, and the errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chat.h"
#include "../check_run.h"

/* A byte-level BPE vocabulary: ids 0..255 the bytes (eng_tok_byte_char),
 * then the specials given as control tokens. */
static eng_tok *make_tok(const char *const *specials, int n_specials)
{
    static char chars[256][2];
    eng_tok_str v[300];
    int32_t ty[300];
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        v[n] = (eng_tok_str){ chars[b], eng_tok_byte_char((uint8_t)b, chars[b]) };
        ty[n++] = ENG_TOK_NORMAL;
    }
    for (int i = 0; i < n_specials; i++) {
        v[n] = (eng_tok_str){ specials[i], strlen(specials[i]) };
        ty[n++] = ENG_TOK_CONTROL;
    }
    eng_tok_params p;
    eng_tok_params_init(&p);
    p.model = ENG_TOK_MODEL_BPE;
    p.pre = "gpt2";
    p.n_vocab = n;
    p.tokens = v;
    p.types = ty;
    char err[256] = "";
    eng_tok *t = eng_tok_new(&p, err, sizeof err);
    ck_assert_msg(t != NULL, "eng_tok_new: %s", err);
    return t;
}

static const char *const CHATML[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };

START_TEST(test_chat_format_from_template_text)
{
    const char *qwen = "{%- for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}";
    ck_assert_int_eq(eng_chat_format_of(qwen, strlen(qwen)), ENG_CHAT_CHATML);
    const char *llama3 = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}";
    ck_assert_int_eq(eng_chat_format_of(llama3, strlen(llama3)), ENG_CHAT_NONE);
    ck_assert_int_eq(eng_chat_format_of(qwen, 10), ENG_CHAT_NONE);     /* bounded by len */
    ck_assert_int_eq(eng_chat_format_of(NULL, 0), ENG_CHAT_NONE);
    ck_assert_str_eq(eng_chat_format_name(ENG_CHAT_CHATML), "chatml");
}
END_TEST

/* The prompt decodes to exactly the rendered ChatML template, the markers
 * are single tokens, and marker names inside user text stay text. */
START_TEST(test_chat_chatml_layout_token_by_token)
{
    eng_tok *t = make_tok(CHATML, 3);
    int32_t start = eng_tok_lookup(t, "<|im_start|>", 12), end = eng_tok_lookup(t, "<|im_end|>", 10);
    size_t ul;
    const char *code = "x = '<|im_end|>'\n";
    char *user = eng_chat_rewrite_message("Simplify.", "python", code, strlen(code), &ul);
    ck_assert_str_eq(user, "Simplify.\n\n```python\nx = '<|im_end|>'\n```");
    eng_chat_input in = { "SYS", 3, user, ul, "```python\n", 10 };
    int32_t *ids;
    size_t n;
    char err[256];
    ck_assert_int_eq(eng_chat_build(t, ENG_CHAT_CHATML, &in, &ids, &n, err, sizeof err), 0);
    int starts = 0, ends = 0;
    for (size_t i = 0; i < n; i++) starts += ids[i] == start, ends += ids[i] == end;
    ck_assert_int_eq(starts, 3);
    ck_assert_int_eq(ends, 2);      /* the one in the code is text */
    ck_assert_int_eq(ids[0], start);
    char out[512];
    int64_t len = eng_tok_decode(t, ids, n, ENG_TOK_DECODE_SPECIAL, out, sizeof out - 1);
    ck_assert(len > 0 && len < (int64_t)sizeof out);
    out[len] = 0;
    ck_assert_str_eq(out, "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nSimplify.\n\n```python\n"
                          "x = '<|im_end|>'\n```<|im_end|>\n<|im_start|>assistant\n```python\n");
    free(ids);
    free(user);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_chat_errors_name_the_cause)
{
    eng_tok *t = make_tok(CHATML, 1);      /* no <|im_start|> */
    eng_chat_input in = { "s", 1, "u", 1, "", 0 };
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    char err[256];
    ck_assert_int_eq(eng_chat_build(t, ENG_CHAT_CHATML, &in, &ids, &n, err, sizeof err), -1);
    ck_assert_ptr_null(ids);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(err, "<|im_start|>"));
    ck_assert_int_eq(eng_chat_build(t, ENG_CHAT_NONE, &in, &ids, &n, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "chat_template"));
    eng_tok_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chat");
    TCase *tc = tcase_create("chat");
    tcase_add_test(tc, test_chat_format_from_template_text);
    tcase_add_test(tc, test_chat_chatml_layout_token_by_token);
    tcase_add_test(tc, test_chat_errors_name_the_cause);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
