/* test_limits.c — max_open_documents and max_open_bytes, driven through the
 * LSP state machine directly: refusals come as an error window/showMessage
 * naming the setting, the documents stay as they were, serving goes on. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "srv_doc.h"
#include "srv_log.h"
#include "srv_lsp.h"
#include "../check_run.h"

typedef struct { srv_config cfg; json_t *msgs; srv_lsp *s; } fixture;

static void capture(void *ud, const char *body, size_t len)
{
    json_error_t e;
    json_t *v = json_loadb(body, len, 0, &e);
    ck_assert_msg(v != NULL, "server sent invalid JSON: %.*s", (int)len, body);
    json_array_append_new(ud, v);
}

static void feed(fixture *f, const char *json)
{
    srv_lsp_handle(f->s, json, strlen(json));
}

static void fx_init(fixture *f, int max_docs, size_t max_bytes)
{
    srv_log_set_level(SRV_LOG_ERROR);
    srv_config_defaults(&f->cfg);
    f->cfg.max_open_documents = max_docs;
    f->cfg.max_open_bytes = max_bytes;
    f->msgs = json_array();
    f->s = srv_lsp_new(&f->cfg, capture, f->msgs);
    feed(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":{}}}");
    feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
    json_array_clear(f->msgs);
}

static void fx_free(fixture *f)
{
    srv_lsp_free(f->s);
    json_decref(f->msgs);
}

/* didOpen of uri with n copies of c. */
static void open_doc(fixture *f, const char *uri, size_t n, char c)
{
    char *text = malloc(n + 1);
    memset(text, c, n);
    text[n] = 0;
    json_t *m = json_pack("{s:s,s:s,s:{s:{s:s,s:s,s:i,s:s}}}", "jsonrpc", "2.0", "method", "textDocument/didOpen",
                          "params", "textDocument", "uri", uri, "languageId", "plaintext", "version", 1, "text", text);
    char *body = json_dumps(m, JSON_COMPACT);
    feed(f, body);
    free(body);
    json_decref(m);
    free(text);
}

/* didChange inserting n copies of c at 0:0. */
static void insert(fixture *f, const char *uri, int version, size_t n, char c)
{
    char *text = malloc(n + 1);
    memset(text, c, n);
    text[n] = 0;
    json_t *m = json_pack("{s:s,s:s,s:{s:{s:s,s:i},s:[{s:{s:{s:i,s:i},s:{s:i,s:i}},s:s}]}}", "jsonrpc", "2.0",
                          "method", "textDocument/didChange", "params", "textDocument", "uri", uri, "version", version,
                          "contentChanges", "range", "start", "line", 0, "character", 0, "end", "line", 0,
                          "character", 0, "text", text);
    char *body = json_dumps(m, JSON_COMPACT);
    feed(f, body);
    free(body);
    json_decref(m);
    free(text);
}

/* The one window/showMessage sent since the last call (its message), or
 * NULL when none was; fails on anything else. */
static const char *shown_error(fixture *f)
{
    static char msg[1024];
    size_t n = json_array_size(f->msgs);
    ck_assert_msg(n <= 1, "%zu messages sent, want at most one", n);
    if (!n) return NULL;
    json_t *m = json_array_get(f->msgs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "method")), "window/showMessage");
    json_t *p = json_object_get(m, "params");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "type")), 1);   /* Error */
    snprintf(msg, sizeof msg, "%s", json_string_value(json_object_get(p, "message")));
    json_array_clear(f->msgs);
    return msg;
}

static size_t doc_len(fixture *f, const char *uri)
{
    const srv_doc *d = srv_lsp_document(f->s, uri, NULL);
    return d ? srv_doc_len(d) : (size_t)-1;
}

START_TEST(test_open_over_max_open_documents_is_refused_naming_the_setting)
{
    fixture f;
    fx_init(&f, 2, 1 << 20);
    open_doc(&f, "file:///a", 10, 'a');
    open_doc(&f, "file:///b", 10, 'b');
    ck_assert_ptr_null(shown_error(&f));
    open_doc(&f, "file:///c", 10, 'c');
    const char *msg = shown_error(&f);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "max_open_documents") && strstr(msg, "--max-open-documents") &&
                  strstr(msg, "file:///c"), "%s", msg);
    ck_assert_uint_eq(doc_len(&f, "file:///c"), (size_t)-1);
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 10);
    open_doc(&f, "file:///a", 20, 'A');         /* a reopen is no new document */
    ck_assert_ptr_null(shown_error(&f));
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 20);
    fx_free(&f);
}
END_TEST

START_TEST(test_open_over_max_open_bytes_is_refused_and_a_reopen_counts_once)
{
    fixture f;
    fx_init(&f, 100, 1024);
    open_doc(&f, "file:///a", 1000, 'a');
    open_doc(&f, "file:///b", 100, 'b');
    const char *msg = shown_error(&f);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "max_open_bytes (1024)") && strstr(msg, "--max-open-bytes"), "%s", msg);
    ck_assert_uint_eq(doc_len(&f, "file:///b"), (size_t)-1);
    open_doc(&f, "file:///a", 1024, 'a');       /* replaces its 1000 bytes: exactly at the limit */
    ck_assert_ptr_null(shown_error(&f));
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 1024);
    open_doc(&f, "file:///a", 1025, 'a');
    ck_assert_ptr_nonnull(shown_error(&f));
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 1024);   /* the refused reopen left it as it was */
    fx_free(&f);
}
END_TEST

START_TEST(test_change_over_max_open_bytes_is_refused_and_the_document_stale_until_reopened)
{
    fixture f;
    fx_init(&f, 100, 1024);
    open_doc(&f, "file:///a", 1000, 'a');
    insert(&f, "file:///a", 2, 24, 'x');        /* up to the limit: fine */
    ck_assert_ptr_null(shown_error(&f));
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 1024);
    insert(&f, "file:///a", 3, 1, 'y');
    const char *msg = shown_error(&f);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "max_open_bytes") && strstr(msg, "reopen"), "%s", msg);
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 1024);
    open_doc(&f, "file:///b", 0, 'b');          /* room for an empty one */
    ck_assert_ptr_null(shown_error(&f));
    /* the client's text and ours differ now: later changes cannot apply */
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///b\"}}}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":{\"uri\":"
             "\"file:///a\",\"version\":4},\"contentChanges\":[{\"range\":{\"start\":{\"line\":0,\"character\":0},"
             "\"end\":{\"line\":0,\"character\":1}},\"text\":\"\"}]}}");
    ck_assert_ptr_null(shown_error(&f));
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 1024);
    open_doc(&f, "file:///a", 100, 'a');        /* the editor reopens it: in step again */
    insert(&f, "file:///a", 2, 5, 'z');
    ck_assert_ptr_null(shown_error(&f));
    ck_assert_uint_eq(doc_len(&f, "file:///a"), 105);
    fx_free(&f);
}
END_TEST

START_TEST(test_limit_settings_reject_values_out_of_range_naming_the_range)
{
    srv_config c;
    srv_config_defaults(&c);
    char err[256];
    ck_assert_int_eq(srv_config_set(&c, "max_open_documents", "0", err, sizeof err), -1);
    ck_assert_str_eq(err, "max_open_documents must be between 1 and 1000000");
    ck_assert_int_eq(srv_config_set(&c, "max_open_bytes", "1023", err, sizeof err), -1);
    ck_assert_str_eq(err, "max_open_bytes must be between 1024 and 1099511627776");
    ck_assert_int_eq(srv_config_set(&c, "cache_mem", "lots", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cache_mem must be a size"), "%s", err);
    json_t *j = json_pack("{s:i,s:i}", "max_open_documents", 5, "max_open_bytes", 2048);
    char warn[256];
    ck_assert_int_eq(srv_config_apply_json(&c, j, warn, sizeof warn), 2);
    ck_assert_int_eq(c.max_open_documents, 5);
    ck_assert_uint_eq(c.max_open_bytes, 2048);
    json_decref(j);
}
END_TEST

/* Found by fuzz_lsp: a number no long long holds (2^63 and up) or NaN (strtod reads "nan")
 * went through a (long long) cast, undefined behaviour that UBSan reports. Such values are
 * out of range (NaN too, for doubles), never silently stored. */
START_TEST(test_number_settings_beyond_long_long_or_nan_are_rejected)
{
    srv_config c;
    srv_config_defaults(&c);
    char err[256];
    static const char *const BIG[] = { "9223372036854775808", "1e19", "-1e300", "inf", "-inf" };
    for (size_t i = 0; i < sizeof BIG / sizeof *BIG; i++) {
        ck_assert_int_eq(srv_config_set(&c, "n_predict", BIG[i], err, sizeof err), -1);
        ck_assert_msg(strstr(err, "n_predict must be between"), "%s: %s", BIG[i], err);
        ck_assert_int_eq(srv_config_set(&c, "temp", BIG[i], err, sizeof err), -1);
        ck_assert_msg(strstr(err, "temp must be between"), "%s: %s", BIG[i], err);
    }
    ck_assert_int_eq(srv_config_set(&c, "n_predict", "nan", err, sizeof err), -1);
    ck_assert_str_eq(err, "n_predict must be an integer");
    ck_assert_int_eq(srv_config_set(&c, "temp", "nan", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "temp must be between"), "%s", err);
    json_t *j = json_pack("{s:f}", "n_predict", 9223372036854775808.0);
    char warn[256];
    ck_assert_int_eq(srv_config_apply_json(&c, j, warn, sizeof warn), 0);
    ck_assert_msg(strstr(warn, "n_predict must be between"), "%s", warn);
    ck_assert_int_eq(c.n_predict, 64);
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, test_open_over_max_open_documents_is_refused_naming_the_setting);
    tcase_add_test(tc, test_open_over_max_open_bytes_is_refused_and_a_reopen_counts_once);
    tcase_add_test(tc, test_change_over_max_open_bytes_is_refused_and_the_document_stale_until_reopened);
    tcase_add_test(tc, test_limit_settings_reject_values_out_of_range_naming_the_range);
    tcase_add_test(tc, test_number_settings_beyond_long_long_or_nan_are_rejected);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
