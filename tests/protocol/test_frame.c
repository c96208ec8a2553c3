/* test_frame.c — Content-Length framing: splits, errors, resync, memory. */
#include "lsp_frame.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../check_run.h"

// ---------------------------------------------------------------- helpers

/* Every event of a run, bodies copied: "M<len>:<body>" or "E:<reason>",
 * one per line, so two runs compare with one strcmp. */
typedef struct {
    char *log;
    size_t len, cap;
    int messages, errors;
} events;

static void ev_add(events *ev, const char *tag, const char *s, size_t n)
{
    char head[48];
    int h = snprintf(head, sizeof head, "%s%zu:", tag, n);
    size_t need = ev->len + (size_t)h + n + 2;
    if (need > ev->cap) {
        ev->cap = need * 2;
        ev->log = realloc(ev->log, ev->cap);
        ck_assert_ptr_nonnull(ev->log);
    }
    memcpy(ev->log + ev->len, head, (size_t)h);
    memcpy(ev->log + ev->len + h, s, n);
    ev->len += (size_t)h + n;
    ev->log[ev->len++] = '\n';
    ev->log[ev->len] = '\0';
}

/* Takes events until NEED_MORE. */
static void drain(lsp_framer *f, events *ev)
{
    for (;;) {
        const char *body = NULL, *err = NULL;
        size_t len = 0;
        lsp_frame_status st = lsp_framer_next(f, &body, &len, &err);
        if (st == LSP_FRAME_NEED_MORE)
            return;
        if (st == LSP_FRAME_MESSAGE) {
            ck_assert_ptr_nonnull(body);
            ev_add(ev, "M", body, len);
            ev->messages++;
        } else {
            ck_assert_int_eq(st, LSP_FRAME_ERROR);
            ck_assert_ptr_nonnull(err);
            ck_assert_uint_gt(strlen(err), 0);
            ev_add(ev, "E", err, strlen(err));
            ev->errors++;
        }
    }
}

static void feed(lsp_framer *f, events *ev, const char *s, size_t n)
{
    ck_assert_int_eq(lsp_framer_feed(f, s, n), 0);
    drain(f, ev);
}

/* Runs the whole stream through a new framer in pieces of at most `chunk`
 * bytes (0: one piece), with an extra cut at `cut`. */
static events run(const char *s, size_t n, size_t max_body, size_t chunk, size_t cut)
{
    events ev = {0};
    lsp_framer *f = lsp_framer_new(max_body);
    ck_assert_ptr_nonnull(f);
    size_t pos = 0;
    while (pos < n) {
        size_t step = n - pos;
        if (chunk != 0 && step > chunk)
            step = chunk;
        if (pos < cut && cut - pos < step)
            step = cut - pos;
        feed(f, &ev, s + pos, step);
        pos += step;
    }
    drain(f, &ev);
    lsp_framer_free(f);
    if (ev.log == NULL)
        ev_add(&ev, "", "", 0);
    return ev;
}

static void ev_free(events *ev) { free(ev->log); }

#define RUN(str, max) run((str), sizeof(str) - 1, (max), 0, 0)

static const char stream[] =
    "Content-Length: 2\r\n\r\n{}"
    "content-length: 16\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
    "{\"a\":\"\xC3\xA9\xF0\x9F\x98\x80\"}  "
    "Content-Type: x\r\nCONTENT-LENGTH:0\r\n\r\n"
    "CoNtEnT-LeNgTh:\t 36 \t\r\nX-Other: 1\r\n\r\n"
    "{\"t\":\"Content-Length: 5\\r\\n\\r\\nabc\"}"
    "Content-Length: 3\r\n\r\n\r\n\n";

static const char stream_expect[] =
    "M2:{}\n"
    "M16:{\"a\":\"\xC3\xA9\xF0\x9F\x98\x80\"}  \n"
    "M0:\n"
    "M36:{\"t\":\"Content-Length: 5\\r\\n\\r\\nabc\"}\n"
    "M3:\r\n\n\n";

// ---------------------------------------------------------------- good streams

START_TEST(test_frame_single_message)
{
    events ev = RUN("Content-Length: 5\r\n\r\nhello", 0);
    ck_assert_str_eq(ev.log, "M5:hello\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_many_messages_in_one_feed)
{
    events ev = RUN(stream, 0);
    ck_assert_str_eq(ev.log, stream_expect);
    ck_assert_int_eq(ev.errors, 0);
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_every_split_point)
{
    for (size_t cut = 1; cut < sizeof stream - 1; cut++) {
        events ev = run(stream, sizeof stream - 1, 0, 0, cut);
        ck_assert_msg(strcmp(ev.log, stream_expect) == 0, "cut at %zu", cut);
        ev_free(&ev);
    }
}
END_TEST

START_TEST(test_frame_every_pair_of_split_points)
{
    const char *s = stream;
    size_t n = 90;   /* the first two frames and a bit: keeps it quadratic-cheap */
    events whole = run(s, n, 0, 0, 0);
    lsp_framer *one = lsp_framer_new(0);
    ck_assert_int_eq(lsp_framer_feed(one, s, n), 0);
    while (lsp_framer_next(one, NULL, NULL, NULL) != LSP_FRAME_NEED_MORE)
        ;
    size_t whole_pending = lsp_framer_pending(one);
    ck_assert_uint_gt(whole_pending, 0);
    lsp_framer_free(one);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            events ev = {0};
            lsp_framer *f = lsp_framer_new(0);
            feed(f, &ev, s, a);
            feed(f, &ev, s + a, b - a);
            feed(f, &ev, s + b, n - b);
            ck_assert_msg(strcmp(ev.log, whole.log) == 0, "cuts %zu %zu", a, b);
            ck_assert_uint_eq(lsp_framer_pending(f), whole_pending);
            lsp_framer_free(f);
            ev_free(&ev);
        }
    ev_free(&whole);
}
END_TEST

START_TEST(test_frame_byte_by_byte)
{
    events ev = run(stream, sizeof stream - 1, 0, 1, 0);
    ck_assert_str_eq(ev.log, stream_expect);
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_header_names_case_insensitive)
{
    events ev = RUN("CONTENT-LENGTH: 1\r\n\r\nacontent-length: 1\r\n\r\nb"
                    "Content-length: 1\r\nCONTENT-TYPE: a\r\n\r\nc", 0);
    ck_assert_str_eq(ev.log, "M1:a\nM1:b\nM1:c\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_content_type_optional_in_either_order)
{
    events ev = RUN("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                    "Content-Length: 2\r\n\r\nab"
                    "Content-Length: 2\r\nContent-Type: application/json\r\n\r\ncd"
                    "Content-Length: 2\r\n\r\nef", 0);
    ck_assert_str_eq(ev.log, "M2:ab\nM2:cd\nM2:ef\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_unknown_headers_ignored)
{
    events ev = RUN("X-Trace: 1\r\nContent-Length: 2\r\nUser-Agent: vim/9 (x; y)\r\n\r\nok", 0);
    ck_assert_str_eq(ev.log, "M2:ok\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_length_value_whitespace_and_leading_zeros)
{
    events ev = RUN("Content-Length:2\r\n\r\nab"
                    "Content-Length: \t 2 \t \r\n\r\ncd"
                    "Content-Length: 0002\r\n\r\nef", 0);
    ck_assert_str_eq(ev.log, "M2:ab\nM2:cd\nM2:ef\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_zero_length_body)
{
    events ev = RUN("Content-Length: 0\r\n\r\nContent-Length: 1\r\n\r\nx", 0);
    ck_assert_str_eq(ev.log, "M0:\nM1:x\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_body_may_contain_anything)
{
    const char s[] = "Content-Length: 6\r\n\r\n\0\r\n\xFF\n\rContent-Length: 1\r\n\r\nz";
    events ev = run(s, sizeof s - 1, 0, 0, 0);
    ck_assert_int_eq(ev.messages, 2);
    ck_assert_int_eq(ev.errors, 0);
    ck_assert_int_eq(memcmp(ev.log, "M6:\0\r\n\xFF\n\r\nM1:z\n", 16), 0);
    ev_free(&ev);
}
END_TEST

// ---------------------------------------------------------------- bad headers

/* One bad header block, then a good frame: the error is reported (once or
 * more) and the good frame still comes out intact. */
static void expect_error_then_good(const char *bad, const char *why)
{
    char s[20000];
    int n = snprintf(s, sizeof s, "%sContent-Length: 4\r\n\r\ngood", bad);
    ck_assert_int_lt(n, (int)sizeof s);
    events ev = run(s, (size_t)n, 0, 0, 0);
    ck_assert_msg(ev.errors >= 1, "no error for %s", bad);
    ck_assert_msg(ev.messages == 1, "%d messages after [%s]: %s", ev.messages, bad, ev.log);
    ck_assert_msg(strstr(ev.log, "M4:good\n") != NULL, "lost frame after %s", bad);
    if (why != NULL) {
        const char *first = strchr(ev.log, ':') + 1;
        ck_assert_msg(ev.log[0] == 'E' && strncmp(first, why, strlen(why)) == 0,
                      "first error for [%s] is [%s], want [%s]", bad, ev.log, why);
    }
    /* And the same one byte at a time. */
    events slow = run(s, (size_t)n, 0, 1, 0);
    ck_assert_str_eq(slow.log, ev.log);
    ev_free(&slow);
    ev_free(&ev);
}

START_TEST(test_frame_missing_content_length_is_error)
{
    expect_error_then_good("Content-Type: a\r\n\r\n{}", NULL);
    expect_error_then_good("\r\n", NULL);
    events ev = RUN("Content-Type: a\r\n\r\n", 0);
    ck_assert_str_eq(ev.log, "E29:missing Content-Length header\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_duplicate_content_length_is_error)
{
    expect_error_then_good("Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", NULL);
    events ev = RUN("Content-Length: 2\r\ncontent-length: 3\r\n\r\n{}", 0);
    ck_assert_str_eq(ev.log, "E24:duplicate Content-Length\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_negative_content_length_is_error)
{
    expect_error_then_good("Content-Length: -1\r\n\r\n{}", NULL);
    events ev = RUN("Content-Length: -5\r\n\r\n", 0);
    ck_assert_str_eq(ev.log, "E23:negative Content-Length\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_non_numeric_content_length_is_error)
{
    const char *bad[] = {"abc", "12a", "1 2", "+5", "0x10", "5.0", "", " ", "1e3",
                         "\xEF\xBC\x95" /* fullwidth 5 */};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char h[64];
        snprintf(h, sizeof h, "Content-Length: %s\r\n\r\n{}", bad[i]);
        expect_error_then_good(h, NULL);
        events ev = run(h, strlen(h), 0, 0, 0);
        ck_assert_int_eq(ev.messages, 0);
        ck_assert_int_ge(ev.errors, 1);
        ev_free(&ev);
    }
}
END_TEST

START_TEST(test_frame_huge_content_length_is_error_not_skip)
{
    expect_error_then_good("Content-Length: 4294967296\r\n\r\n{}", NULL);
    expect_error_then_good("Content-Length: 99999999999999999999999999999\r\n\r\n", NULL);
    events ev = RUN("Content-Length: 18446744073709551616\r\n\r\n", 0);
    ck_assert_str_eq(ev.log, "E27:Content-Length is too large\n");
    ev_free(&ev);
    /* The limit itself is an oversize body, skipped, not a header error. */
    ev = RUN("Content-Length: 4294967295\r\n\r\n", 0);
    ck_assert_int_eq(ev.errors, 1);
    ck_assert_ptr_nonnull(strstr(ev.log, "maximum size"));
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_bare_lf_and_bare_cr_are_errors)
{
    expect_error_then_good("Content-Length: 2\n\n{}", "header line not terminated by CRLF");
    expect_error_then_good("Content-Length: 2\r\n\n{}", "header line not terminated by CRLF");
    expect_error_then_good("Content-Length: 2\r\r\n\r\n{}", NULL);
    events ev = RUN("\nContent-Length: 2\r\n\r\n{}", 0);   /* resync finds it */
    ck_assert_str_eq(ev.log, "E34:header line not terminated by CRLF\nM2:{}\n");
    ev_free(&ev);
    /* CR-only line endings run into the header bound, then resync. */
    char cr[9000];
    memset(cr, '\r', sizeof cr - 1);
    cr[sizeof cr - 1] = '\0';
    memcpy(cr, "Content-Length: 2\r\r", 19);
    expect_error_then_good(cr, "header block too long");
}
END_TEST

START_TEST(test_frame_malformed_header_lines_are_errors)
{
    expect_error_then_good("NoColonHere\r\n\r\n{}", "header line without ':'");
    expect_error_then_good("Content-Length 2\r\n\r\n{}", "malformed header name");
    expect_error_then_good("Content-Length : 2\r\n\r\n{}", "malformed header name");
    expect_error_then_good("\tX-Folded: 2\r\n\r\n{}", "malformed header name");
    expect_error_then_good(": 2\r\n\r\n{}", "empty header name");
    expect_error_then_good("Content-Length: 2\r\n continued\r\n\r\n{}", NULL);
    expect_error_then_good("Content-Type: a\x01" "b\r\n\r\n{}",
                           "control character in header value");
    expect_error_then_good("Content-Type: a\x7F\r\n\r\n{}",
                           "control character in header value");
    /* A bad first line; the rest of the block is a good header again. */
    events ev = RUN("Content-Type: a\x01\r\nContent-Length: 2\r\n\r\n{}", 0);
    ck_assert_str_eq(ev.log, "E33:control character in header value\nM2:{}\n");
    ev_free(&ev);
    const char nul[] = "Content-Length: 1\0\r\n\r\nxContent-Length: 1\r\n\r\ny";
    ev = run(nul, sizeof nul - 1, 0, 0, 0);
    ck_assert_str_eq(ev.log, "E33:control character in header value\nM1:y\n");
    ev_free(&ev);
    expect_error_then_good("GET / HTTP/1.1\r\n\r\n", NULL);
    expect_error_then_good("{\"jsonrpc\":\"2.0\"}\r\n", NULL);
    expect_error_then_good("garbage without newline", NULL);
    expect_error_then_good("\xFF\xFE\x00", NULL);
}
END_TEST

START_TEST(test_frame_header_block_too_long_is_error)
{
    char big[LSP_FRAME_MAX_HEADER + 100];
    int n = snprintf(big, sizeof big, "Content-Type: ");
    memset(big + n, 'a', sizeof big - (size_t)n - 1);
    big[sizeof big - 1] = '\0';
    expect_error_then_good(big, "header block too long");
    /* Many short lines adding up to more than the bound. */
    char lines[LSP_FRAME_MAX_HEADER + 200] = "";
    size_t used = 0;
    while (used + 20 < LSP_FRAME_MAX_HEADER + 100)
        used += (size_t)snprintf(lines + used, sizeof lines - used, "X-Pad: 0123456789\r\n");
    expect_error_then_good(lines, "header block too long");
}
END_TEST

START_TEST(test_frame_header_block_at_exact_bound_accepted)
{
    /* "Content-Length: 2\r\n" + "X: aaa...\r\n" + "\r\n" == LSP_FRAME_MAX_HEADER */
    char s[LSP_FRAME_MAX_HEADER + 64];
    size_t pad = LSP_FRAME_MAX_HEADER - 19 - 2 - 5;
    int n = snprintf(s, sizeof s, "Content-Length: 2\r\nX: ");
    memset(s + n, 'a', pad);
    memcpy(s + n + pad, "\r\n\r\nok", 6);
    size_t total = (size_t)n + pad + 6;
    events ev = run(s, total, 0, 0, 0);
    ck_assert_str_eq(ev.log, "M2:ok\n");
    ev_free(&ev);
    /* One byte more is too long. */
    memmove(s + n + 1, s + n, pad + 6);
    s[n] = 'a';
    ev = run(s, total + 1, 0, 0, 0);
    ck_assert_int_eq(ev.messages, 0);
    ck_assert_ptr_nonnull(strstr(ev.log, "header block too long"));
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_header_lines_filling_the_bound_exactly_then_more)
{
    /* Lines of exactly LSP_FRAME_MAX_HEADER bytes and no blank line yet: the
     * block cannot end within the bound, whatever comes next. */
    char s[LSP_FRAME_MAX_HEADER + 64];
    size_t n = 0;
    while (n < LSP_FRAME_MAX_HEADER) {
        size_t left = LSP_FRAME_MAX_HEADER - n, line = left < 100 ? left : 100;
        ck_assert_uint_ge(line, 5);
        memcpy(s + n, "X:", 2);
        memset(s + n + 2, 'v', line - 4);
        memcpy(s + n + line - 2, "\r\n", 2);
        n += line;
    }
    ck_assert_uint_eq(n, LSP_FRAME_MAX_HEADER);
    lsp_framer *f = lsp_framer_new(0);
    events ev = {0};
    feed(f, &ev, s, n);   /* ends exactly at the bound */
    ck_assert_str_eq(ev.log, "E21:header block too long\n");
    ck_assert_uint_le(lsp_framer_pending(f), n);
    feed(f, &ev, "Content-Length: 2\r\n\r\n{}", 23);
    ck_assert_str_eq(ev.log, "E21:header block too long\nM2:{}\n");
    ck_assert_uint_eq(lsp_framer_pending(f), 0);
    lsp_framer_free(f);
    ev_free(&ev);
    /* The next header may start right at the bound: it is found, split or not. */
    memcpy(s + n, "Content-Length: 2\r\n\r\n{}", 23);
    for (size_t cut = n - 3; cut < n + 23; cut++) {
        events e2 = run(s, n + 23, 0, 0, cut);
        ck_assert_str_eq(e2.log, "E21:header block too long\nM2:{}\n");
        ev_free(&e2);
    }
}
END_TEST

START_TEST(test_frame_bad_headers_then_good_frame_with_every_split)
{
    const char s[] = "Content-Length: x\r\n\r\n{\"a\":1}"
                     "Content-Type: t\r\n\r\n[]"
                     "Content-Length: 2\nContent-Length: 2\r\n\r\nzz"
                     "Content-Length: 5\r\n\r\nhello";
    events whole = run(s, sizeof s - 1, 0, 0, 0);
    ck_assert_ptr_nonnull(strstr(whole.log, "M5:hello\n"));
    ck_assert_int_ge(whole.errors, 3);
    for (size_t cut = 1; cut < sizeof s - 1; cut++) {
        events ev = run(s, sizeof s - 1, 0, 0, cut);
        ck_assert_msg(strcmp(ev.log, whole.log) == 0, "cut %zu", cut);
        ev_free(&ev);
    }
    events slow = run(s, sizeof s - 1, 0, 1, 0);
    ck_assert_str_eq(slow.log, whole.log);
    ev_free(&slow);
    ev_free(&whole);
}
END_TEST

// ---------------------------------------------------------------- resync

START_TEST(test_frame_resync_finds_header_mid_line)
{
    events ev = RUN("junk}Content-Length: 2\r\n\r\n{}", 0);
    ck_assert_str_eq(ev.log, "E21:malformed header name\nM2:{}\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_short_content_length_loses_only_that_frame)
{
    /* A client that counted characters, not bytes: é is 2 bytes. */
    events ev = RUN("Content-Length: 8\r\n\r\n{\"a\":\"\xC3\xA9\"}"
                    "Content-Length: 2\r\n\r\n{}", 0);
    ck_assert_int_eq(ev.messages, 2);
    ck_assert_int_eq(ev.errors, 1);
    ck_assert_ptr_nonnull(strstr(ev.log, "M2:{}\n"));
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_long_content_length_swallows_then_recovers)
{
    /* Too long by 4: the body eats the next header's start; the frame after
     * that decodes again. */
    events ev = RUN("Content-Length: 6\r\n\r\n{}"
                    "Content-Length: 2\r\n\r\n[]"
                    "Content-Length: 2\r\n\r\nok", 0);
    ck_assert_ptr_nonnull(strstr(ev.log, "M6:{}Cont\n"));
    ck_assert_ptr_nonnull(strstr(ev.log, "M2:ok\n"));
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_resync_partial_name_across_feeds)
{
    const char *parts[] = {"Content-Length: ?\r\n\r\nxx", "Cont", "ent-Le", "ngth: 2\r\n\r\n", "{}"};
    events ev = {0};
    lsp_framer *f = lsp_framer_new(0);
    for (size_t i = 0; i < 5; i++)
        feed(f, &ev, parts[i], strlen(parts[i]));
    ck_assert_str_eq(ev.log, "E38:Content-Length is not a decimal number\nM2:{}\n");
    lsp_framer_free(f);
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_resync_discards_garbage_without_buffering)
{
    events ev = {0};
    lsp_framer *f = lsp_framer_new(0);
    feed(f, &ev, "Content-Length: bad\r\n", 21);
    ck_assert_int_eq(ev.errors, 1);
    char junk[4096];
    memset(junk, 'c', sizeof junk);   /* 'c' starts a header name: worst case */
    for (int i = 0; i < 512; i++) {   /* 2 MiB */
        feed(f, &ev, junk, sizeof junk);
        ck_assert_uint_le(lsp_framer_pending(f), 1);
    }
    ck_assert_uint_le(lsp_framer_capacity(f), 16 << 10);
    feed(f, &ev, "Content-Length: 2\r\n\r\n{}", 23);
    ck_assert_int_eq(ev.errors, 1);
    ck_assert_int_eq(ev.messages, 1);
    lsp_framer_free(f);
    ev_free(&ev);
}
END_TEST

// ---------------------------------------------------------------- size limits

START_TEST(test_frame_oversize_skipped_then_resync)
{
    char s[400];
    int n = snprintf(s, sizeof s, "Content-Length: 100\r\n\r\n%0100d"
                                  "Content-Length: 16\r\n\r\n0123456789abcdef"
                                  "Content-Length: 2\r\n\r\n{}", 7);
    const char *expect = "E50:message body larger than the maximum size: skipped\n"
                         "M16:0123456789abcdef\nM2:{}\n";
    for (size_t cut = 0; cut < (size_t)n; cut++) {
        events ev = run(s, (size_t)n, 16, 0, cut);
        ck_assert_msg(strcmp(ev.log, expect) == 0, "cut %zu: %s", cut, ev.log);
        ev_free(&ev);
    }
    events slow = run(s, (size_t)n, 16, 1, 0);
    ck_assert_str_eq(slow.log, expect);
    ev_free(&slow);
}
END_TEST

START_TEST(test_frame_oversize_body_never_buffered)
{
    events ev = {0};
    lsp_framer *f = lsp_framer_new(1024);
    feed(f, &ev, "Content-Length: 10485760\r\n\r\n", 28);
    ck_assert_int_eq(ev.errors, 1);
    char chunk[4096];
    memset(chunk, '{', sizeof chunk);
    for (int i = 0; i < 2560; i++) {   /* exactly 10 MiB */
        feed(f, &ev, chunk, sizeof chunk);
        ck_assert_uint_eq(lsp_framer_pending(f), 0);
    }
    ck_assert_uint_le(lsp_framer_capacity(f), 16 << 10);
    feed(f, &ev, "Content-Length: 2\r\n\r\n{}", 23);
    ck_assert_int_eq(ev.errors, 1);
    ck_assert_int_eq(ev.messages, 1);
    lsp_framer_free(f);
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_body_at_exact_max_accepted)
{
    events ev = RUN("Content-Length: 4\r\n\r\nabcdContent-Length: 5\r\n\r\nabcde"
                    "Content-Length: 1\r\n\r\nz", 4);
    ck_assert_str_eq(ev.log, "M4:abcd\nE50:message body larger than the maximum size: skipped\n"
                             "M1:z\n");
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_max_zero_means_default_and_huge_max_is_capped)
{
    lsp_framer *f = lsp_framer_new(SIZE_MAX);
    ck_assert_ptr_nonnull(f);
    events ev = {0};
    feed(f, &ev, "Content-Length: 4294967296\r\n\r\n", 30);
    ck_assert_str_eq(ev.log, "E27:Content-Length is too large\n");
    lsp_framer_free(f);
    ev_free(&ev);
    ev = RUN("Content-Length: 67108865\r\n\r\n", 0);   /* default max + 1 */
    ck_assert_ptr_nonnull(strstr(ev.log, "maximum size"));
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_memory_bounded_by_largest_message)
{
    lsp_framer *f = lsp_framer_new(0);
    events ev = {0};
    char msg[128];
    int n = snprintf(msg, sizeof msg, "Content-Length: 90\r\n\r\n%090d", 1);
    char block[1000];   /* messages cut at arbitrary points by the chunking */
    size_t pos = 0;
    for (int i = 0; i < 20000; i++) {
        for (int k = 0; k < n; k++) {
            block[pos++] = msg[k];
            if (pos == sizeof block) {
                ck_assert_int_eq(lsp_framer_feed(f, block, pos), 0);
                const char *b;
                size_t l;
                while (lsp_framer_next(f, &b, &l, NULL) == LSP_FRAME_MESSAGE)
                    ck_assert_uint_eq(l, 90);
                pos = 0;
            }
        }
        ck_assert_uint_le(lsp_framer_capacity(f), 16 << 10);
        ck_assert_uint_lt(lsp_framer_pending(f), sizeof block + (size_t)n);
    }
    /* One 4 MiB message grows the buffer; the stream after it shrinks it. */
    size_t big = (size_t)4 << 20;
    char *m = malloc(big + 64);
    ck_assert_ptr_nonnull(m);
    int h = snprintf(m, 64, "Content-Length: %zu\r\n\r\n", big);
    memset(m + h, 'x', big);
    ck_assert_int_eq(lsp_framer_feed(f, block, pos), 0);
    feed(f, &ev, m, (size_t)h + big);
    ck_assert_uint_ge(lsp_framer_capacity(f), big);
    for (int i = 0; i < 10; i++)
        feed(f, &ev, msg, (size_t)n);
    ck_assert_uint_le(lsp_framer_capacity(f), 16 << 10);
    lsp_framer_free(f);
    free(m);
    ev_free(&ev);
}
END_TEST

// ---------------------------------------------------------------- misc API

START_TEST(test_frame_pending_reports_partial_frame)
{
    lsp_framer *f = lsp_framer_new(0);
    events ev = {0};
    ck_assert_uint_eq(lsp_framer_pending(f), 0);
    feed(f, &ev, "Content-Length: 5\r\n", 19);
    ck_assert_uint_eq(lsp_framer_pending(f), 19);
    feed(f, &ev, "\r\nhel", 5);
    ck_assert_uint_eq(lsp_framer_pending(f), 24);
    feed(f, &ev, "loConte", 7);
    ck_assert_str_eq(ev.log, "M5:hello\n");
    ck_assert_uint_eq(lsp_framer_pending(f), 5);
    lsp_framer_free(f);
    ev_free(&ev);
}
END_TEST

START_TEST(test_frame_next_accepts_null_out_params)
{
    lsp_framer *f = lsp_framer_new(0);
    const char s[] = "Content-Length: 1\r\n\r\nxbad\r\n";
    ck_assert_int_eq(lsp_framer_feed(f, s, sizeof s - 1), 0);
    ck_assert_int_eq(lsp_framer_next(f, NULL, NULL, NULL), LSP_FRAME_MESSAGE);
    ck_assert_int_eq(lsp_framer_next(f, NULL, NULL, NULL), LSP_FRAME_ERROR);
    ck_assert_int_eq(lsp_framer_next(f, NULL, NULL, NULL), LSP_FRAME_NEED_MORE);
    ck_assert_int_eq(lsp_framer_feed(f, "", 0), 0);
    lsp_framer_free(f);
    lsp_framer_free(NULL);
}
END_TEST

START_TEST(test_frame_header_writer)
{
    char out[64];
    ck_assert_uint_eq(lsp_frame_header(out, sizeof out, 0), 21);
    ck_assert_str_eq(out, "Content-Length: 0\r\n\r\n");
    ck_assert_uint_eq(lsp_frame_header(out, sizeof out, 1234), 24);
    ck_assert_str_eq(out, "Content-Length: 1234\r\n\r\n");
    char exact[40];
    ck_assert_uint_eq(lsp_frame_header(exact, sizeof exact, SIZE_MAX), 40);
    ck_assert_int_eq(memcmp(exact, "Content-Length: 18446744073709551615\r\n\r\n", 40), 0);
    memset(out, '#', sizeof out);
    ck_assert_uint_eq(lsp_frame_header(out, 20, 5), 0);
    ck_assert_int_eq(out[0], '#');
}
END_TEST

START_TEST(test_frame_header_writer_round_trips_through_framer)
{
    const char *bodies[] = {"{}", "", "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}"};
    char s[256];
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) {
        n += lsp_frame_header(s + n, sizeof s - n, strlen(bodies[i]));
        memcpy(s + n, bodies[i], strlen(bodies[i]));
        n += strlen(bodies[i]);
    }
    events ev = run(s, n, 0, 3, 0);
    ck_assert_str_eq(ev.log, "M2:{}\nM0:\nM33:{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}\n");
    ev_free(&ev);
}
END_TEST

/* xorshift: deterministic pseudo-random streams. */
static uint32_t rng(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

START_TEST(test_frame_events_independent_of_split_points_random)
{
    static const char *pieces[] = {
        "Content-Length: 2\r\n\r\n{}", "Content-Length: 3\r\n\r\nabc", "garbage",
        "Content-Length: -1\r\n\r\n", "content-type: x\r\n", "\r\n", "\n", "\r",
        "Content-Length: 40\r\n\r\n", "CONTENT-LENGTH:1\r\n\r\nZ", "Content-Le",
        "Content-Length: 2\r\nContent-Length: 2\r\n\r\n", ":", "cC", "X-A: b\r\n",
    };
    uint32_t seed = 0x9E3779B9u;
    for (int round = 0; round < 150; round++) {
        char s[2048];
        size_t n = 0;
        while (n < 1500) {
            const char *p = pieces[rng(&seed) % (sizeof pieces / sizeof *pieces)];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        }
        size_t max = rng(&seed) % 2 ? 0 : 8;
        events whole = run(s, n, max, 0, 0);
        for (int k = 0; k < 5; k++) {
            size_t chunk = 1 + rng(&seed) % 64, cut = rng(&seed) % n;
            events ev = run(s, n, max, chunk, cut);
            ck_assert_str_eq(ev.log, whole.log);
            ev_free(&ev);
        }
        ev_free(&whole);
    }
}
END_TEST

// ---------------------------------------------------------------- main

static Suite *frame_suite(void)
{
    Suite *s = suite_create("lsp_frame");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_frame_single_message);
    tcase_add_test(tc, test_frame_many_messages_in_one_feed);
    tcase_add_test(tc, test_frame_every_split_point);
    tcase_add_test(tc, test_frame_every_pair_of_split_points);
    tcase_add_test(tc, test_frame_byte_by_byte);
    tcase_add_test(tc, test_frame_header_names_case_insensitive);
    tcase_add_test(tc, test_frame_content_type_optional_in_either_order);
    tcase_add_test(tc, test_frame_unknown_headers_ignored);
    tcase_add_test(tc, test_frame_length_value_whitespace_and_leading_zeros);
    tcase_add_test(tc, test_frame_zero_length_body);
    tcase_add_test(tc, test_frame_body_may_contain_anything);
    tcase_add_test(tc, test_frame_missing_content_length_is_error);
    tcase_add_test(tc, test_frame_duplicate_content_length_is_error);
    tcase_add_test(tc, test_frame_negative_content_length_is_error);
    tcase_add_test(tc, test_frame_non_numeric_content_length_is_error);
    tcase_add_test(tc, test_frame_huge_content_length_is_error_not_skip);
    tcase_add_test(tc, test_frame_bare_lf_and_bare_cr_are_errors);
    tcase_add_test(tc, test_frame_malformed_header_lines_are_errors);
    tcase_add_test(tc, test_frame_header_block_too_long_is_error);
    tcase_add_test(tc, test_frame_header_block_at_exact_bound_accepted);
    tcase_add_test(tc, test_frame_header_lines_filling_the_bound_exactly_then_more);
    tcase_add_test(tc, test_frame_bad_headers_then_good_frame_with_every_split);
    tcase_add_test(tc, test_frame_resync_finds_header_mid_line);
    tcase_add_test(tc, test_frame_short_content_length_loses_only_that_frame);
    tcase_add_test(tc, test_frame_long_content_length_swallows_then_recovers);
    tcase_add_test(tc, test_frame_resync_partial_name_across_feeds);
    tcase_add_test(tc, test_frame_resync_discards_garbage_without_buffering);
    tcase_add_test(tc, test_frame_oversize_skipped_then_resync);
    tcase_add_test(tc, test_frame_oversize_body_never_buffered);
    tcase_add_test(tc, test_frame_body_at_exact_max_accepted);
    tcase_add_test(tc, test_frame_max_zero_means_default_and_huge_max_is_capped);
    tcase_add_test(tc, test_frame_memory_bounded_by_largest_message);
    tcase_add_test(tc, test_frame_pending_reports_partial_frame);
    tcase_add_test(tc, test_frame_next_accepts_null_out_params);
    tcase_add_test(tc, test_frame_header_writer);
    tcase_add_test(tc, test_frame_header_writer_round_trips_through_framer);
    tcase_add_test(tc, test_frame_events_independent_of_split_points_random);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(frame_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
