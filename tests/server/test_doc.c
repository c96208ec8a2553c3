/* test_doc.c — the chunked document store against a naive flat-string model. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "srv_doc.h"
#include "../check_run.h"

/* ---- the naive reference: a flat string, positions by direct scanning ---- */

typedef struct { char *s; size_t n; } flat;

static void flat_replace(flat *f, size_t a, size_t b, const char *t, size_t n)
{
    char *s = malloc(f->n - (b - a) + n + 1);
    memcpy(s, f->s, a);
    memcpy(s + a, t, n);
    memcpy(s + a + n, f->s + b, f->n - b);
    f->n = f->n - (b - a) + n;
    free(f->s);
    f->s = s;
}

static size_t flat_line_start(const flat *f, size_t line, int *past)
{
    size_t l = 0, i = 0;
    *past = 0;
    while (l < line) {
        if (i >= f->n) { *past = 1; return f->n; }
        if (f->s[i] == '\r' && i + 1 < f->n && f->s[i + 1] == '\n') i += 2, l++;
        else if (f->s[i] == '\r' || f->s[i] == '\n') i++, l++;
        else i++;
    }
    return i;
}

static size_t flat_breaks(const flat *f)
{
    size_t l = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->s[i] == '\n' || (f->s[i] == '\r' && (i + 1 == f->n || f->s[i + 1] != '\n'))) l++;
    return l;
}

static void check_same(const srv_doc *d, const flat *f)
{
    size_t n;
    char *t = srv_doc_text(d, &n);
    ck_assert_uint_eq(n, f->n);
    ck_assert(memcmp(t, f->s, n) == 0);
    free(t);
    ck_assert_uint_eq(srv_doc_line_count(d), flat_breaks(f) + 1);
    ck_assert_uint_eq(srv_doc_hash(d), srv_doc_hash_bytes(f->s, f->n));
}

/* ---- tests ---- */

START_TEST(test_doc_empty)
{
    srv_doc *d = srv_doc_new("", 0);
    ck_assert_uint_eq(srv_doc_len(d), 0);
    ck_assert_uint_eq(srv_doc_line_count(d), 1);
    int cl = 0;
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 0, 5, &cl), 0);
    ck_assert_int_eq(cl, 1);
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 3, 0, &cl), 0);
    ck_assert_int_eq(cl, 1);
    uint32_t l, c;
    srv_doc_position(d, LSP_ENC_UTF16, 10, &l, &c);
    ck_assert_uint_eq(l, 0);
    ck_assert_uint_eq(c, 0);
    srv_doc_free(d);
}
END_TEST

START_TEST(test_doc_positions_utf16_surrogate_and_crlf)
{
    /* line 0: "a😀b\r\n", line 1: "é\r", line 2: "x\n", line 3: "" */
    const char *text = "a\xF0\x9F\x98\x80" "b\r\n\xC3\xA9\rx\n";
    srv_doc *d = srv_doc_new(text, strlen(text));
    ck_assert_uint_eq(srv_doc_line_count(d), 4);
    int cl;
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 0, 3, &cl), 5);   /* after the emoji */
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF32, 0, 2, &cl), 5);
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF8, 0, 5, &cl), 5);
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 0, 4, &cl), 6);   /* after b */
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 0, 99, &cl), 6);  /* clamped before \r\n */
    ck_assert_int_eq(cl, 1);
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 1, 1, &cl), 10);  /* after é */
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 2, 0, &cl), 11);
    ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF16, 3, 0, &cl), 13);
    ck_assert_int_eq(cl, 0);
    uint32_t l, c;
    srv_doc_position(d, LSP_ENC_UTF16, 5, &l, &c);
    ck_assert_uint_eq(l, 0); ck_assert_uint_eq(c, 3);
    srv_doc_position(d, LSP_ENC_UTF16, 10, &l, &c);
    ck_assert_uint_eq(l, 1); ck_assert_uint_eq(c, 1);
    srv_doc_position(d, LSP_ENC_UTF16, 13, &l, &c);
    ck_assert_uint_eq(l, 3); ck_assert_uint_eq(c, 0);
    srv_doc_free(d);
}
END_TEST

/* Random edits (inserts, deletes, replacements with CR/LF/multi-byte text)
 * against the flat model; every position round-trips. */
START_TEST(test_doc_random_edits_match_naive_reference)
{
    static const char *const PIECES[] = { "x", "\n", "\r", "\r\n", "hello", "\xC3\xA9", "\xF0\x9F\x98\x80",
                                          "int main(void) {\n\treturn 0;\n}\n", "" };
    srand(1234 + (unsigned)_i);
    flat f = { calloc(1, 1), 0 };
    srv_doc *d = srv_doc_new("", 0);
    char big[9000];
    for (int step = 0; step < 3000; step++) {
        size_t a = f.n ? (size_t)rand() % (f.n + 1) : 0;
        size_t b = a + (f.n > a ? (size_t)rand() % (f.n - a + 1) % 64 : 0);
        if (rand() % 50 == 0) b = f.n;                     /* big deletes too */
        size_t n = 0;
        int k = rand() % 12;
        if (k == 11) {                                     /* a multi-chunk paste */
            n = 5000 + (size_t)rand() % 4000;
            for (size_t i = 0; i < n; i++) big[i] = "ab\n\r "[rand() % 5];
        } else {
            int reps = 1 + rand() % 4;
            for (int r = 0; r < reps; r++) {
                const char *p = PIECES[rand() % (int)(sizeof PIECES / sizeof *PIECES)];
                memcpy(big + n, p, strlen(p));
                n += strlen(p);
            }
        }
        ck_assert_int_eq(srv_doc_replace(d, a, b, big, n), 0);
        flat_replace(&f, a, b, big, n);
        if (step % 50 == 0 || f.n < 200) check_same(d, &f);
        /* a random line start agrees with the reference */
        size_t line = (size_t)rand() % (flat_breaks(&f) + 2);
        int past, cl;
        size_t want = flat_line_start(&f, line, &past);
        ck_assert_uint_eq(srv_doc_offset(d, LSP_ENC_UTF8, (uint32_t)line, 0, &cl), want);
        /* offset -> position -> offset is the identity on line starts */
        uint32_t l, c;
        srv_doc_position(d, LSP_ENC_UTF16, want, &l, &c);
        if (!past) { ck_assert_uint_eq(l, line); ck_assert_uint_eq(c, 0); }
    }
    check_same(d, &f);
    srv_doc_free(d);
    free(f.s);
}
END_TEST

START_TEST(test_doc_chunks_bounded_and_crlf_never_split)
{
    /* 1 MB of CRLF lines, then typing in the middle keeps chunks sane. */
    size_t n = 1 << 20;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++) s[i] = (i % 40 == 38) ? '\r' : (i % 40 == 39) ? '\n' : 'a';
    srv_doc *d = srv_doc_new(s, n);
    ck_assert_uint_eq(srv_doc_line_count(d), n / 40 + 1);
    size_t chunks = srv_doc_chunk_count(d);
    ck_assert_uint_ge(chunks, n / SRV_DOC_CHUNK_MAX);
    for (int i = 0; i < 2000; i++) {
        size_t at = n / 2 + (size_t)i;
        ck_assert_int_eq(srv_doc_replace(d, at, at, "b", 1), 0);
    }
    for (int i = 0; i < 2000; i++) ck_assert_int_eq(srv_doc_replace(d, n / 2, n / 2 + 1, "", 0), 0);
    ck_assert_uint_le(srv_doc_chunk_count(d), chunks + 4);
    ck_assert_uint_eq(srv_doc_line_count(d), n / 40 + 1);
    ck_assert_uint_eq(srv_doc_hash(d), srv_doc_hash_bytes(s, n));
    srv_doc_free(d);
    free(s);
}
END_TEST

START_TEST(test_doc_hash_independent_of_history)
{
    srv_doc *a = srv_doc_new("hello world", 11);
    srv_doc *b = srv_doc_new("", 0);
    srv_doc_replace(b, 0, 0, "world", 5);
    srv_doc_replace(b, 0, 0, "hello ", 6);
    ck_assert_uint_eq(srv_doc_hash(a), srv_doc_hash(b));
    srv_doc_replace(b, 0, 1, "H", 1);
    ck_assert_uint_ne(srv_doc_hash(a), srv_doc_hash(b));
    ck_assert_uint_ne(srv_doc_hash_bytes("", 0), srv_doc_hash_bytes("\0", 1));
    srv_doc_free(a);
    srv_doc_free(b);
}
END_TEST

START_TEST(test_doc_replace_clamps_bad_offsets)
{
    srv_doc *d = srv_doc_new("abc", 3);
    ck_assert_int_eq(srv_doc_replace(d, 10, 20, "X", 1), 0);   /* append */
    ck_assert_int_eq(srv_doc_replace(d, 2, 1, "Y", 1), 0);     /* end < start: insert */
    char *t = srv_doc_text(d, NULL);
    ck_assert_str_eq(t, "abYcX");
    free(t);
    srv_doc_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_doc");
    TCase *tc = tcase_create("doc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_doc_empty);
    tcase_add_test(tc, test_doc_positions_utf16_surrogate_and_crlf);
    tcase_add_loop_test(tc, test_doc_random_edits_match_naive_reference, 0, 4);
    tcase_add_test(tc, test_doc_chunks_bounded_and_crlf_never_split);
    tcase_add_test(tc, test_doc_hash_independent_of_history);
    tcase_add_test(tc, test_doc_replace_clamps_bad_offsets);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
