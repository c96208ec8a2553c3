/* test_pos.c — LSP position <-> byte offset mapping in every encoding. */
#include "lsp_pos.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "../check_run.h"

#define C2B(s, enc, col) lsp_col_to_byte((s), strlen(s), (enc), (col), NULL)
#define B2C(s, enc, b)   lsp_byte_to_col((s), strlen(s), (enc), (b))

static const lsp_encoding all_encs[] = {LSP_ENC_UTF8, LSP_ENC_UTF16, LSP_ENC_UTF32};

// ---------------------------------------------------------------- encodings

START_TEST(test_encoding_parse_known_names)
{
    lsp_encoding e = LSP_ENC_UTF16;
    ck_assert_int_eq(lsp_encoding_parse("utf-8", &e), 0);
    ck_assert_int_eq(e, LSP_ENC_UTF8);
    ck_assert_int_eq(lsp_encoding_parse("utf-16", &e), 0);
    ck_assert_int_eq(e, LSP_ENC_UTF16);
    ck_assert_int_eq(lsp_encoding_parse("utf-32", &e), 0);
    ck_assert_int_eq(e, LSP_ENC_UTF32);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(lsp_encoding_parse(lsp_encoding_name(all_encs[i]), &e), 0);
}
END_TEST

START_TEST(test_encoding_parse_rejects_unknown_names)
{
    lsp_encoding e = LSP_ENC_UTF32;
    const char *bad[] = {"utf8", "UTF-8", "utf-16le", "", "utf-", "latin1", "utf-8 "};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_int_eq(lsp_encoding_parse(bad[i], &e), -1);
    ck_assert_int_eq(lsp_encoding_parse(NULL, &e), -1);
    ck_assert_int_eq(e, LSP_ENC_UTF32);   /* untouched on failure */
    ck_assert_str_eq(lsp_encoding_name((lsp_encoding)7), "unknown");
}
END_TEST

// ---------------------------------------------------------------- decoder

static void expect_decode(const char *s, size_t len, size_t n, uint32_t cp)
{
    uint32_t got = 0;
    ck_assert_uint_eq(lsp_utf8_decode((const unsigned char *)s, len, &got), n);
    ck_assert_uint_eq(got, cp);
}

START_TEST(test_utf8_decode_valid_boundaries)
{
    expect_decode("A", 1, 1, 'A');
    expect_decode("\0", 1, 1, 0);
    expect_decode("\x7F", 1, 1, 0x7F);
    expect_decode("\xC2\x80", 2, 2, 0x80);
    expect_decode("\xC3\xA9", 2, 2, 0xE9);
    expect_decode("\xDF\xBF", 2, 2, 0x7FF);
    expect_decode("\xE0\xA0\x80", 3, 3, 0x800);
    expect_decode("\xE2\x82\xAC", 3, 3, 0x20AC);
    expect_decode("\xED\x9F\xBF", 3, 3, 0xD7FF);
    expect_decode("\xEE\x80\x80", 3, 3, 0xE000);
    expect_decode("\xEF\xBF\xBD", 3, 3, 0xFFFD);   /* a real U+FFFD */
    expect_decode("\xEF\xBF\xBF", 3, 3, 0xFFFF);
    expect_decode("\xF0\x90\x80\x80", 4, 4, 0x10000);
    expect_decode("\xF0\x9F\x98\x80", 4, 4, 0x1F600);
    expect_decode("\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF);
    expect_decode("\xC3\xA9zz", 4, 2, 0xE9);       /* stops after one char */
}
END_TEST

START_TEST(test_utf8_decode_overlong_is_invalid)
{
    expect_decode("\xC0\x80", 2, 1, 0xFFFD);
    expect_decode("\xC1\xBF", 2, 1, 0xFFFD);
    expect_decode("\xE0\x80\x80", 3, 1, 0xFFFD);
    expect_decode("\xE0\x9F\xBF", 3, 1, 0xFFFD);
    expect_decode("\xF0\x80\x80\x80", 4, 1, 0xFFFD);
    expect_decode("\xF0\x8F\xBF\xBF", 4, 1, 0xFFFD);
}
END_TEST

START_TEST(test_utf8_decode_encoded_surrogates_are_invalid)
{
    expect_decode("\xED\xA0\x80", 3, 1, 0xFFFD);   /* U+D800 */
    expect_decode("\xED\xAF\xBF", 3, 1, 0xFFFD);   /* U+DBFF */
    expect_decode("\xED\xB0\x80", 3, 1, 0xFFFD);   /* U+DC00 */
    expect_decode("\xED\xBF\xBF", 3, 1, 0xFFFD);   /* U+DFFF */
    /* CESU-8 style pair for U+1F600: two invalid 3-byte groups. */
    ck_assert_uint_eq(lsp_units("\xED\xA0\xBD\xED\xB8\x80", 6, LSP_ENC_UTF16), 6);
}
END_TEST

START_TEST(test_utf8_decode_above_max_and_bad_lead_bytes)
{
    expect_decode("\xF4\x90\x80\x80", 4, 1, 0xFFFD);   /* U+110000 */
    expect_decode("\xF5\x80\x80\x80", 4, 1, 0xFFFD);
    expect_decode("\xF8\x88\x80\x80\x80", 5, 1, 0xFFFD);
    expect_decode("\xFE", 1, 1, 0xFFFD);
    expect_decode("\xFF", 1, 1, 0xFFFD);
}
END_TEST

START_TEST(test_utf8_decode_lone_continuation_and_truncation)
{
    expect_decode("\x80", 1, 1, 0xFFFD);
    expect_decode("\xBF", 1, 1, 0xFFFD);
    expect_decode("\xC3", 1, 1, 0xFFFD);
    expect_decode("\xE2\x82", 2, 1, 0xFFFD);
    expect_decode("\xF0\x9F\x98", 3, 1, 0xFFFD);
    /* Complete in memory but cut by len. */
    expect_decode("\xE2\x82\xAC", 2, 1, 0xFFFD);
    /* Bad continuation bytes. */
    expect_decode("\xC3\x28", 2, 1, 0xFFFD);
    expect_decode("\xE2\x28\xA1", 3, 1, 0xFFFD);
    expect_decode("\xE2\x82\x28", 3, 1, 0xFFFD);
    expect_decode("\xF0\x9F\x98\x28", 4, 1, 0xFFFD);
    uint32_t cp = 7;
    ck_assert_uint_eq(lsp_utf8_decode((const unsigned char *)"x", 0, &cp), 0);
    ck_assert_uint_eq(lsp_utf8_decode((const unsigned char *)"x", 1, NULL), 1);
}
END_TEST

/* Ours must call a string valid exactly when jansson's validator does. */
static void agree_with_jansson(const unsigned char *s, size_t n)
{
    int ours = 1;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = lsp_utf8_decode(s + i, n - i, &cp);
        if (k == 1 && cp == 0xFFFD)
            ours = 0;
        i += k;
    }
    json_t *j = json_stringn((const char *)s, n);
    int theirs = j != NULL;
    json_decref(j);
    if (ours != theirs)
        ck_abort_msg("validity differs for %02x %02x %02x %02x (len %zu)", s[0],
                     n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n);
}

START_TEST(test_utf8_decode_agrees_with_jansson_exhaustively)
{
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        agree_with_jansson(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            agree_with_jansson(s, 2);
            if (a < 0xE0 || a > 0xEF)
                continue;
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                agree_with_jansson(s, 3);
            }
        }
    }
    static const unsigned char thirds[] = {0x80, 0x8F, 0x90, 0xBF, 0x41, 0xC0};
    for (unsigned a = 0xF0; a <= 0xF7; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof thirds; c++)
                for (size_t d = 0; d < sizeof thirds; d++) {
                    unsigned char q[4] = {(unsigned char)a, (unsigned char)b, thirds[c],
                                          thirds[d]};
                    agree_with_jansson(q, 4);
                }
}
END_TEST

// ---------------------------------------------------------------- lines

START_TEST(test_line_content_len_stops_at_any_terminator)
{
    ck_assert_uint_eq(lsp_line_content_len("abc", 3), 3);
    ck_assert_uint_eq(lsp_line_content_len("abc\n", 4), 3);
    ck_assert_uint_eq(lsp_line_content_len("abc\r\n", 5), 3);
    ck_assert_uint_eq(lsp_line_content_len("abc\r", 4), 3);
    ck_assert_uint_eq(lsp_line_content_len("a\rb\n", 4), 1);
    ck_assert_uint_eq(lsp_line_content_len("\n", 1), 0);
    ck_assert_uint_eq(lsp_line_content_len("", 0), 0);
    ck_assert_uint_eq(lsp_line_content_len("a\0b\n", 4), 3);   /* NUL is content */
}
END_TEST

START_TEST(test_pos_ascii_column_equals_byte)
{
    const char *s = "int main(void) {";
    for (size_t e = 0; e < 3; e++)
        for (uint32_t c = 0; c <= strlen(s); c++) {
            ck_assert_uint_eq(C2B(s, all_encs[e], c), c);
            ck_assert_uint_eq(B2C(s, all_encs[e], c), c);
        }
}
END_TEST

START_TEST(test_pos_two_byte_utf8)
{
    const char *s = "h\xC3\xA9llo";   /* "héllo" */
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 2), 3);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF32, 2), 3);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, 3), 3);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, 2), 1);     /* inside é: its start */
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 3), 2);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF8, 3), 3);
    ck_assert_uint_eq(lsp_units(s, strlen(s), LSP_ENC_UTF16), 5);
}
END_TEST

START_TEST(test_pos_three_byte_utf8)
{
    const char *s = "a\xE2\x82\xAC" "b";   /* "a€b" */
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 1), 1);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 2), 4);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 3), 5);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, 2), 1);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, 3), 1);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, 4), 4);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 2), 1);    /* byte inside €: its start */
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 3), 1);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 4), 2);
}
END_TEST

START_TEST(test_pos_utf16_surrogate_pair_counts_two_units)
{
    const char *s = "a\xF0\x9F\x98\x80" "b";   /* "a😀b" */
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 3), 5);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 4), 6);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 5), 3);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 6), 4);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF32, 2), 5);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF32, 5), 2);
    ck_assert_uint_eq(lsp_units(s, strlen(s), LSP_ENC_UTF16), 4);
    ck_assert_uint_eq(lsp_units(s, strlen(s), LSP_ENC_UTF32), 3);
    ck_assert_uint_eq(lsp_units(s, strlen(s), LSP_ENC_UTF8), 6);
}
END_TEST

START_TEST(test_pos_utf16_surrogate_pair_middle_moves_to_start)
{
    const char *s = "a\xF0\x9F\x98\x80" "b";
    int clamped = 1;
    ck_assert_uint_eq(lsp_col_to_byte(s, strlen(s), LSP_ENC_UTF16, 2, &clamped), 1);
    ck_assert_int_eq(clamped, 0);
    /* Two emoji in a row: column 2 is between them, column 3 inside the 2nd. */
    const char *t = "\xF0\x9F\x98\x80\xF0\x9F\x98\x81";
    ck_assert_uint_eq(C2B(t, LSP_ENC_UTF16, 1), 0);
    ck_assert_uint_eq(C2B(t, LSP_ENC_UTF16, 2), 4);
    ck_assert_uint_eq(C2B(t, LSP_ENC_UTF16, 3), 4);
    ck_assert_uint_eq(C2B(t, LSP_ENC_UTF16, 4), 8);
}
END_TEST

START_TEST(test_pos_utf8_column_inside_sequence_moves_to_start)
{
    const char *s = "a\xF0\x9F\x98\x80" "b";
    for (uint32_t c = 2; c <= 4; c++)
        ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, c), 1);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF8, 5), 5);
    for (size_t b = 2; b <= 4; b++)
        ck_assert_uint_eq(B2C(s, LSP_ENC_UTF8, b), 1);
}
END_TEST

START_TEST(test_pos_combining_characters_count_separately)
{
    const char *s = "e\xCC\x81x";   /* e + U+0301 COMBINING ACUTE + x */
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 1), 1);    /* between base and mark */
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 2), 3);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF32, 2), 3);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 3), 2);
    ck_assert_uint_eq(lsp_units(s, strlen(s), LSP_ENC_UTF32), 3);
    /* A ZWJ emoji sequence is several code points too. */
    const char *fam = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9";   /* 👨‍👩 */
    ck_assert_uint_eq(lsp_units(fam, strlen(fam), LSP_ENC_UTF16), 5);
    ck_assert_uint_eq(lsp_units(fam, strlen(fam), LSP_ENC_UTF32), 3);
}
END_TEST

START_TEST(test_pos_crlf_terminator_never_counted)
{
    const char *s = "ab\r\n";
    int clamped = -1;
    ck_assert_uint_eq(lsp_col_to_byte(s, 4, LSP_ENC_UTF16, 2, &clamped), 2);
    ck_assert_int_eq(clamped, 0);
    ck_assert_uint_eq(lsp_col_to_byte(s, 4, LSP_ENC_UTF16, 3, &clamped), 2);
    ck_assert_int_eq(clamped, 1);
    ck_assert_uint_eq(lsp_byte_to_col(s, 4, LSP_ENC_UTF16, 3), 2);
    ck_assert_uint_eq(lsp_byte_to_col(s, 4, LSP_ENC_UTF16, 4), 2);
    ck_assert_uint_eq(lsp_col_to_byte("ab\n", 3, LSP_ENC_UTF8, 9, NULL), 2);
}
END_TEST

START_TEST(test_pos_lone_cr_ends_the_line)
{
    const char *s = "ab\rcd";
    int clamped = 0;
    ck_assert_uint_eq(lsp_col_to_byte(s, 5, LSP_ENC_UTF16, 4, &clamped), 2);
    ck_assert_int_eq(clamped, 1);
    ck_assert_uint_eq(lsp_byte_to_col(s, 5, LSP_ENC_UTF16, 4), 2);
}
END_TEST

START_TEST(test_pos_column_past_end_is_clamped)
{
    const char *s = "h\xC3\xA9";
    int clamped = 0;
    for (size_t e = 0; e < 3; e++) {
        ck_assert_uint_eq(lsp_col_to_byte(s, 3, all_encs[e], UINT32_MAX, &clamped), 3);
        ck_assert_int_eq(clamped, 1);
    }
    ck_assert_uint_eq(lsp_col_to_byte(s, 3, LSP_ENC_UTF16, 2, &clamped), 3);
    ck_assert_int_eq(clamped, 0);   /* exactly the end is not clamping */
    ck_assert_uint_eq(lsp_col_to_byte("", 0, LSP_ENC_UTF16, 0, &clamped), 0);
    ck_assert_int_eq(clamped, 0);
    ck_assert_uint_eq(lsp_col_to_byte("", 0, LSP_ENC_UTF16, 1, &clamped), 0);
    ck_assert_int_eq(clamped, 1);
    ck_assert_uint_eq(lsp_byte_to_col(s, 3, LSP_ENC_UTF16, 1000), 2);
    ck_assert_uint_eq(lsp_byte_to_col(s, 3, LSP_ENC_UTF16, SIZE_MAX), 2);
}
END_TEST

START_TEST(test_pos_invalid_bytes_count_one_unit_each)
{
    const char *s = "a\x80\xFF" "b";
    for (size_t e = 0; e < 3; e++) {
        ck_assert_uint_eq(C2B(s, all_encs[e], 3), 3);
        ck_assert_uint_eq(B2C(s, all_encs[e], 2), 2);
        ck_assert_uint_eq(lsp_units(s, 4, all_encs[e]), 4);
    }
}
END_TEST

START_TEST(test_pos_overlong_and_truncated_count_per_byte)
{
    const char *over = "\xC0\x80x";
    ck_assert_uint_eq(C2B(over, LSP_ENC_UTF16, 2), 2);
    ck_assert_uint_eq(lsp_units(over, 3, LSP_ENC_UTF16), 3);
    const char *trunc = "a\xE2\x82";   /* € cut at the end of the line */
    ck_assert_uint_eq(lsp_units(trunc, 3, LSP_ENC_UTF16), 3);
    ck_assert_uint_eq(C2B(trunc, LSP_ENC_UTF16, 2), 2);
    ck_assert_uint_eq(C2B(trunc, LSP_ENC_UTF16, 3), 3);
    const char *cut = "\xF0\x9F\x98\r\n";   /* terminator cuts the sequence */
    ck_assert_uint_eq(lsp_byte_to_col(cut, 5, LSP_ENC_UTF16, 3), 3);
}
END_TEST

START_TEST(test_pos_encoded_surrogate_is_three_invalid_bytes)
{
    const char *s = "\xED\xA0\x80z";
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 1), 1);
    ck_assert_uint_eq(C2B(s, LSP_ENC_UTF16, 3), 3);
    ck_assert_uint_eq(B2C(s, LSP_ENC_UTF16, 3), 3);
    ck_assert_uint_eq(lsp_units(s, 4, LSP_ENC_UTF32), 4);
}
END_TEST

START_TEST(test_pos_nul_byte_is_a_character)
{
    const char s[] = {'a', '\0', 'b'};
    ck_assert_uint_eq(lsp_col_to_byte(s, 3, LSP_ENC_UTF16, 2, NULL), 2);
    ck_assert_uint_eq(lsp_byte_to_col(s, 3, LSP_ENC_UTF16, 3), 3);
}
END_TEST

START_TEST(test_units_counts_terminators_and_all_bytes)
{
    ck_assert_uint_eq(lsp_units("ab\r\n", 4, LSP_ENC_UTF16), 4);
    ck_assert_uint_eq(lsp_units("", 0, LSP_ENC_UTF8), 0);
    ck_assert_uint_eq(lsp_units("\xF0\x9F\x98\x80", 4, LSP_ENC_UTF16), 2);
    ck_assert_uint_eq(lsp_units("\xF0\x9F\x98\x80", 4, LSP_ENC_UTF8), 4);
    ck_assert_uint_eq(lsp_units("\xF0\x9F\x98\x80", 4, LSP_ENC_UTF32), 1);
    ck_assert_uint_eq(lsp_units("\xF0\x9F\x98\x80", 3, LSP_ENC_UTF16), 3);   /* cut */
}
END_TEST

/* A line with every kind of character, valid and invalid. */
static const char mixed[] = "x\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xCC\x81"
                            "\x80\xC0\x80\xED\xA0\x80\xE2\x82!\xF4\x8F\xBF\xBF\xFF"
                            "\xEF\xBB\xBF\t\r\n";

START_TEST(test_pos_round_trip_byte_col_byte_on_every_boundary)
{
    size_t len = sizeof mixed - 1, content = lsp_line_content_len(mixed, len);
    size_t char_start[sizeof mixed];   /* start of the character holding byte i */
    for (size_t p = 0; p < content;) {
        size_t n = lsp_utf8_decode((const unsigned char *)mixed + p, content - p, NULL);
        for (size_t q = p; q < p + n; q++)
            char_start[q] = p;
        p += n;
    }
    char_start[content] = content;
    for (size_t e = 0; e < 3; e++) {
        lsp_encoding enc = all_encs[e];
        for (size_t b = 0; b <= content; b++) {
            uint32_t col = lsp_byte_to_col(mixed, len, enc, b);
            int clamped = 1;
            size_t back = lsp_col_to_byte(mixed, len, enc, col, &clamped);
            ck_assert_int_eq(clamped, 0);
            ck_assert_uint_eq(back, char_start[b]);   /* == b on every boundary */
            ck_assert_uint_eq(col, lsp_units(mixed, back, enc));
        }
    }
}
END_TEST

START_TEST(test_pos_col_to_byte_monotonic_for_every_column)
{
    size_t len = sizeof mixed - 1, content = lsp_line_content_len(mixed, len);
    for (size_t e = 0; e < 3; e++) {
        lsp_encoding enc = all_encs[e];
        size_t units = lsp_units(mixed, content, enc), prev = 0;
        for (uint32_t c = 0; c <= units + 3; c++) {
            int clamped;
            size_t b = lsp_col_to_byte(mixed, len, enc, c, &clamped);
            ck_assert_uint_ge(b, prev);
            ck_assert_uint_le(b, content);
            ck_assert_int_eq(clamped, c > units);
            ck_assert_uint_le(lsp_byte_to_col(mixed, len, enc, b), c);
            prev = b;
        }
    }
}
END_TEST

// ---------------------------------------------------------------- main

static Suite *pos_suite(void)
{
    Suite *s = suite_create("lsp_pos");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_encoding_parse_known_names);
    tcase_add_test(tc, test_encoding_parse_rejects_unknown_names);
    tcase_add_test(tc, test_utf8_decode_valid_boundaries);
    tcase_add_test(tc, test_utf8_decode_overlong_is_invalid);
    tcase_add_test(tc, test_utf8_decode_encoded_surrogates_are_invalid);
    tcase_add_test(tc, test_utf8_decode_above_max_and_bad_lead_bytes);
    tcase_add_test(tc, test_utf8_decode_lone_continuation_and_truncation);
    tcase_add_test(tc, test_utf8_decode_agrees_with_jansson_exhaustively);
    tcase_add_test(tc, test_line_content_len_stops_at_any_terminator);
    tcase_add_test(tc, test_pos_ascii_column_equals_byte);
    tcase_add_test(tc, test_pos_two_byte_utf8);
    tcase_add_test(tc, test_pos_three_byte_utf8);
    tcase_add_test(tc, test_pos_utf16_surrogate_pair_counts_two_units);
    tcase_add_test(tc, test_pos_utf16_surrogate_pair_middle_moves_to_start);
    tcase_add_test(tc, test_pos_utf8_column_inside_sequence_moves_to_start);
    tcase_add_test(tc, test_pos_combining_characters_count_separately);
    tcase_add_test(tc, test_pos_crlf_terminator_never_counted);
    tcase_add_test(tc, test_pos_lone_cr_ends_the_line);
    tcase_add_test(tc, test_pos_column_past_end_is_clamped);
    tcase_add_test(tc, test_pos_invalid_bytes_count_one_unit_each);
    tcase_add_test(tc, test_pos_overlong_and_truncated_count_per_byte);
    tcase_add_test(tc, test_pos_encoded_surrogate_is_three_invalid_bytes);
    tcase_add_test(tc, test_pos_nul_byte_is_a_character);
    tcase_add_test(tc, test_units_counts_terminators_and_all_bytes);
    tcase_add_test(tc, test_pos_round_trip_byte_col_byte_on_every_boundary);
    tcase_add_test(tc, test_pos_col_to_byte_monotonic_for_every_column);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(pos_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
