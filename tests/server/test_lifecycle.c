/* test_lifecycle.c — the LSP state machine driven directly, replies captured. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "srv_log.h"
#include "srv_lsp.h"
#include "../check_run.h"

typedef struct { json_t *msgs; } sink;

static void capture(void *ud, const char *body, size_t len)
{
    sink *k = ud;
    json_error_t e;
    json_t *v = json_loadb(body, len, 0, &e);
    ck_assert_msg(v != NULL, "server sent invalid JSON: %.*s", (int)len, body);
    json_array_append_new(k->msgs, v);
}

typedef struct { srv_config cfg; sink k; srv_lsp *s; } fixture;

static void fx_init(fixture *f)
{
    srv_log_set_level(SRV_LOG_ERROR);
    srv_config_defaults(&f->cfg);
    f->k.msgs = json_array();
    f->s = srv_lsp_new(&f->cfg, capture, &f->k);
}

static void fx_free(fixture *f)
{
    srv_lsp_free(f->s);
    json_decref(f->k.msgs);
}

static void feed(fixture *f, const char *json)
{
    srv_lsp_handle(f->s, json, strlen(json));
}

/* The last reply (borrowed), or NULL. */
static json_t *last(fixture *f)
{
    size_t n = json_array_size(f->k.msgs);
    return n ? json_array_get(f->k.msgs, n - 1) : NULL;
}

static int last_error(fixture *f)
{
    json_t *e = json_object_get(last(f), "error");
    return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

static void do_init(fixture *f, const char *caps)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":%s}}", caps);
    feed(f, buf);
    ck_assert_ptr_nonnull(json_object_get(last(f), "result"));
    feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
}

START_TEST(test_request_before_initialize_is_32002)
{
    fixture f; fx_init(&f);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sparkd/stats\"}");
    ck_assert_int_eq(last_error(&f), -32002);
    ck_assert_int_eq(json_integer_value(json_object_get(last(&f), "id")), 7);
    /* notifications before initialize are dropped without a reply */
    size_t n = json_array_size(f.k.msgs);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{}}");
    ck_assert_uint_eq(json_array_size(f.k.msgs), n);
    fx_free(&f);
}
END_TEST

START_TEST(test_initialize_advertises_sync_and_encoding)
{
    fixture f; fx_init(&f);
    do_init(&f, "{\"general\":{\"positionEncodings\":[\"utf-16\",\"utf-8\"]}}");
    json_t *caps = json_object_get(json_object_get(json_array_get(f.k.msgs, 0), "result"), "capabilities");
    ck_assert_str_eq(json_string_value(json_object_get(caps, "positionEncoding")), "utf-8");
    json_t *sync = json_object_get(caps, "textDocumentSync");
    ck_assert_int_eq(json_integer_value(json_object_get(sync, "change")), 2);
    ck_assert(json_is_true(json_object_get(sync, "openClose")));
    ck_assert_int_eq(srv_lsp_state(f.s), SRV_RUNNING);
    fx_free(&f);
}
END_TEST

START_TEST(test_initialize_defaults_to_utf16)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    ck_assert_int_eq(srv_lsp_encoding(f.s), LSP_ENC_UTF16);
    fx_free(&f);
}
END_TEST

START_TEST(test_second_initialize_is_invalid_request)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{\"capabilities\":{}}}");
    ck_assert_int_eq(last_error(&f), -32600);
    fx_free(&f);
}
END_TEST

START_TEST(test_shutdown_then_requests_rejected_then_exit_0)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\"}");
    ck_assert(json_is_null(json_object_get(last(&f), "result")));
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sparkd/stats\"}");
    ck_assert_int_eq(last_error(&f), -32600);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ck_assert_int_eq(srv_lsp_state(f.s), SRV_EXITED);
    ck_assert_int_eq(srv_lsp_exit_code(f.s), 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_exit_without_shutdown_is_1)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ck_assert_int_eq(srv_lsp_state(f.s), SRV_EXITED);
    ck_assert_int_eq(srv_lsp_exit_code(f.s), 1);
    fx_free(&f);
}
END_TEST

START_TEST(test_unknown_method_and_notification_with_id)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"no/such\"}");
    ck_assert_int_eq(last_error(&f), -32601);
    ck_assert_str_eq(json_string_value(json_object_get(last(&f), "id")), "abc");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"textDocument/didSave\",\"params\":{}}");
    ck_assert_int_eq(last_error(&f), -32600);
    size_t n = json_array_size(f.k.msgs);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"$/unknownThing\"}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"shutdown\"}");   /* request without id: ignored */
    ck_assert_uint_eq(json_array_size(f.k.msgs), n);
    ck_assert_int_eq(srv_lsp_state(f.s), SRV_RUNNING);
    fx_free(&f);
}
END_TEST

START_TEST(test_parse_error_answers_with_null_id)
{
    fixture f; fx_init(&f);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,");
    ck_assert_int_eq(last_error(&f), -32700);
    ck_assert(json_is_null(json_object_get(last(&f), "id")));
    fx_free(&f);
}
END_TEST

START_TEST(test_incremental_sync_utf16_edit)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///a.py\",\"languageId\":\"python\",\"version\":1,"
             "\"text\":\"x = '\xF0\x9F\x98\x80'\\nprint(x)\\n\"}}}");
    /* replace "print" (line 1, chars 0-5) and insert after the emoji (UTF-16 col 7) */
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///a.py\",\"version\":2},\"contentChanges\":["
             "{\"range\":{\"start\":{\"line\":1,\"character\":0},\"end\":{\"line\":1,\"character\":5}},\"text\":\"len\"},"
             "{\"range\":{\"start\":{\"line\":0,\"character\":7},\"end\":{\"line\":0,\"character\":7}},\"text\":\"!\"}]}}");
    int version;
    const srv_doc *d = srv_lsp_document(f.s, "file:///a.py", &version);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(version, 2);
    char *t = srv_doc_text(d, NULL);
    ck_assert_str_eq(t, "x = '\xF0\x9F\x98\x80!'\nlen(x)\n");
    free(t);
    /* full sync replaces everything */
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///a.py\",\"version\":3},\"contentChanges\":[{\"text\":\"new\"}]}}");
    t = srv_doc_text(srv_lsp_document(f.s, "file:///a.py", NULL), NULL);
    ck_assert_str_eq(t, "new");
    free(t);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///a.py\"}}}");
    ck_assert_ptr_null(srv_lsp_document(f.s, "file:///a.py", NULL));
    fx_free(&f);
}
END_TEST

START_TEST(test_stats_counts_requests_and_latency)
{
    fixture f; fx_init(&f);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sparkd/stats\"}");
    json_t *r = json_object_get(last(&f), "result");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "requests")), 1);
    json_t *lat = json_object_get(r, "latency");
    ck_assert_int_ge(json_integer_value(json_object_get(lat, "count")), 1);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(r, "config"), "log_level"));
    fx_free(&f);
}
END_TEST

START_TEST(test_configuration_from_init_options_and_change)
{
    fixture f; fx_init(&f);
    feed(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":{},"
             "\"initializationOptions\":{\"debounce_ms\":40,\"threads\":\"x\"}}}");
    ck_assert_int_eq(f.cfg.debounce_ms, 40);
    ck_assert_int_eq(f.cfg.threads, 0);                     /* wrong type: unchanged */
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"workspace/didChangeConfiguration\","
             "\"params\":{\"settings\":{\"sparkd\":{\"n_predict\":12,\"temp\":0.5,\"debounce_ms\":-3}}}}");
    ck_assert_int_eq(f.cfg.n_predict, 12);
    ck_assert(f.cfg.temp == 0.5);
    ck_assert_int_eq(f.cfg.debounce_ms, 40);                /* out of range: unchanged */
    fx_free(&f);
}
END_TEST

START_TEST(test_cli_pinned_setting_wins_over_client)
{
    fixture f; fx_init(&f);
    char err[128];
    ck_assert_int_eq(srv_config_set(&f.cfg, "n_predict", "7", err, sizeof err), 0);
    ck_assert_int_ne(srv_config_set(&f.cfg, "n_predict", "lots", err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "n_predict"));
    ck_assert_int_ne(srv_config_set(&f.cfg, "bogus", "1", err, sizeof err), 0);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"workspace/didChangeConfiguration\","
             "\"params\":{\"settings\":{\"n_predict\":99}}}");
    ck_assert_int_eq(f.cfg.n_predict, 7);
    fx_free(&f);
}
END_TEST

START_TEST(test_trace_verbose_sends_log_trace)
{
    fixture f; fx_init(&f);
    srv_log_set_level(SRV_LOG_DEBUG);
    do_init(&f, "{}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"$/setTrace\",\"params\":{\"value\":\"verbose\"}}");
    feed(&f, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///nope\"}}}");
    json_t *m = last(&f);
    ck_assert_str_eq(json_string_value(json_object_get(m, "method")), "$/logTrace");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(m, "params"), "message")),
                                 "not open"));
    fx_free(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_lsp");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_test(tc, test_request_before_initialize_is_32002);
    tcase_add_test(tc, test_initialize_advertises_sync_and_encoding);
    tcase_add_test(tc, test_initialize_defaults_to_utf16);
    tcase_add_test(tc, test_second_initialize_is_invalid_request);
    tcase_add_test(tc, test_shutdown_then_requests_rejected_then_exit_0);
    tcase_add_test(tc, test_exit_without_shutdown_is_1);
    tcase_add_test(tc, test_unknown_method_and_notification_with_id);
    tcase_add_test(tc, test_parse_error_answers_with_null_id);
    tcase_add_test(tc, test_incremental_sync_utf16_edit);
    tcase_add_test(tc, test_stats_counts_requests_and_latency);
    tcase_add_test(tc, test_configuration_from_init_options_and_change);
    tcase_add_test(tc, test_cli_pinned_setting_wins_over_client);
    tcase_add_test(tc, test_trace_verbose_sends_log_trace);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
