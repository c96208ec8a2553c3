/* test_rpc.c — JSON-RPC 2.0 decoding (every error path) and encoding. */
#include "lsp_rpc.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../check_run.h"

// ---------------------------------------------------------------- helpers

static int decode(const char *s, lsp_msg *m, lsp_rpc_error *e)
{
    return lsp_msg_decode(s, strlen(s), m, e);
}

static lsp_msg decode_ok(const char *s)
{
    lsp_msg m;
    lsp_rpc_error e;
    int rc = decode(s, &m, &e);
    ck_assert_msg(rc == 0, "decode failed (%d %s): %s", e.code, e.message, s);
    ck_assert_ptr_null(e.id);
    ck_assert_ptr_nonnull(m.root);
    return m;
}

/* Decoding must fail with code; want_id: -1 no id, else the integer id. */
static void expect_fail(const char *s, int code, long long want_id)
{
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_msg(decode(s, &m, &e) == -1, "accepted: %s", s);
    ck_assert_msg(e.code == code, "code %d (%s), want %d: %s", e.code, e.message, code, s);
    ck_assert_uint_gt(strlen(e.message), 0);
    ck_assert_ptr_null(m.root);
    if (want_id < 0) {
        ck_assert_msg(e.id == NULL, "unexpected id for %s", s);
    } else {
        ck_assert_msg(json_is_integer(e.id), "no id for %s", s);
        ck_assert_int_eq(json_integer_value(e.id), want_id);
    }
    lsp_rpc_error_clear(&e);
    ck_assert_ptr_null(e.id);
    lsp_msg_clear(&m);
}

static void expect_fail_msg(const char *s, int code, const char *substr)
{
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_int_eq(decode(s, &m, &e), -1);
    ck_assert_int_eq(e.code, code);
    ck_assert_msg(strstr(e.message, substr) != NULL, "message [%s] lacks [%s]", e.message,
                  substr);
    lsp_rpc_error_clear(&e);
}

// ---------------------------------------------------------------- requests

START_TEST(test_rpc_request_integer_id)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                          "\"params\":{\"processId\":null}}");
    ck_assert_int_eq(m.kind, LSP_MSG_REQUEST);
    ck_assert_int_eq(json_integer_value(m.id), 1);
    ck_assert_str_eq(m.method, "initialize");
    ck_assert(json_is_object(m.params));
    ck_assert_ptr_null(m.result);
    ck_assert_ptr_null(m.error);
    lsp_msg_clear(&m);
    ck_assert_ptr_null(m.root);
    lsp_msg_clear(&m);   /* twice is harmless */
}
END_TEST

START_TEST(test_rpc_request_string_id_and_member_order_free)
{
    lsp_msg m = decode_ok("{\"params\":[1,2],\"method\":\"m\",\"id\":\"abc-1\",\"jsonrpc\":\"2.0\"}");
    ck_assert_int_eq(m.kind, LSP_MSG_REQUEST);
    ck_assert_str_eq(json_string_value(m.id), "abc-1");
    ck_assert(json_is_array(m.params));
    lsp_msg_clear(&m);
    m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"\"}");
    ck_assert_str_eq(json_string_value(m.id), "");
    ck_assert_str_eq(m.method, "");
    lsp_msg_clear(&m);
}
END_TEST

START_TEST(test_rpc_request_ids_negative_zero_and_extreme)
{
    const char *ids[] = {"0", "-1", "-0", "9223372036854775807", "-9223372036854775808"};
    const long long want[] = {0, -1, 0, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < 5; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"x\"}", ids[i]);
        lsp_msg m = decode_ok(s);
        ck_assert(json_is_integer(m.id));
        ck_assert_int_eq(json_integer_value(m.id), want[i]);
        lsp_msg_clear(&m);
    }
}
END_TEST

START_TEST(test_rpc_id_beyond_int64_is_parse_error)
{
    expect_fail("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"x\"}",
                LSP_ERR_PARSE, -1);
    expect_fail("{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"x\"}", LSP_ERR_PARSE, -1);
}
END_TEST

START_TEST(test_rpc_notification_with_and_without_params)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
    ck_assert_int_eq(m.kind, LSP_MSG_NOTIFICATION);
    ck_assert_ptr_null(m.id);
    ck_assert(json_is_object(m.params));
    lsp_msg_clear(&m);
    m = decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ck_assert_int_eq(m.kind, LSP_MSG_NOTIFICATION);
    ck_assert_ptr_null(m.params);
    lsp_msg_clear(&m);
}
END_TEST

START_TEST(test_rpc_params_null_reads_as_absent)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\",\"params\":null}");
    ck_assert_int_eq(m.kind, LSP_MSG_REQUEST);
    ck_assert_ptr_null(m.params);
    lsp_msg_clear(&m);
}
END_TEST

START_TEST(test_rpc_unknown_members_ignored_and_method_wins)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"m\",\"x\":[1],"
                          "\"result\":5}");
    ck_assert_int_eq(m.kind, LSP_MSG_REQUEST);
    ck_assert_ptr_null(m.result);
    lsp_msg_clear(&m);
}
END_TEST

START_TEST(test_rpc_nul_in_strings_accepted_but_not_in_method)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\","
                          "\"params\":{\"text\":\"a\\u0000b\"}}");
    json_t *text = json_object_get(m.params, "text");
    ck_assert_uint_eq(json_string_length(text), 3);
    lsp_msg_clear(&m);
    expect_fail("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"a\\u0000b\"}",
                LSP_ERR_INVALID_REQUEST, 4);
    /* jansson cannot hold U+0000 in an object key. */
    expect_fail("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"a\\u0000\":1}}",
                LSP_ERR_PARSE, -1);
}
END_TEST

START_TEST(test_rpc_non_ascii_method_and_text)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"\xC3\xA9\\u00e9\xF0\x9F\x98\x80\"}");
    ck_assert_str_eq(m.method, "\xC3\xA9\xC3\xA9\xF0\x9F\x98\x80");
    lsp_msg_clear(&m);
    m = decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"\\ud83d\\ude00\"}");   /* escaped pair */
    ck_assert_str_eq(m.method, "\xF0\x9F\x98\x80");
    lsp_msg_clear(&m);
}
END_TEST

// ---------------------------------------------------------------- responses

START_TEST(test_rpc_response_with_result)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"ok\":true}}");
    ck_assert_int_eq(m.kind, LSP_MSG_RESPONSE);
    ck_assert_int_eq(json_integer_value(m.id), 7);
    ck_assert(json_is_object(m.result));
    ck_assert_ptr_null(m.error);
    ck_assert_ptr_null(m.method);
    lsp_msg_clear(&m);
    m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"result\":null}");
    ck_assert_int_eq(m.kind, LSP_MSG_RESPONSE);
    ck_assert(json_is_null(m.result));
    lsp_msg_clear(&m);
}
END_TEST

START_TEST(test_rpc_response_with_error_and_null_id)
{
    lsp_msg m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-32601,"
                          "\"message\":\"nope\",\"data\":[1]}}");
    ck_assert_int_eq(m.kind, LSP_MSG_RESPONSE);
    ck_assert_ptr_null(m.result);
    ck_assert_int_eq(json_integer_value(json_object_get(m.error, "code")), -32601);
    lsp_msg_clear(&m);
    m = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}");
    ck_assert_int_eq(m.kind, LSP_MSG_RESPONSE);
    ck_assert_ptr_null(m.id);
    lsp_msg_clear(&m);
}
END_TEST

START_TEST(test_rpc_response_needs_exactly_one_of_result_error)
{
    expect_fail("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1,\"message\":\"\"}}",
                LSP_ERR_INVALID_REQUEST, -1);
    expect_fail("{\"jsonrpc\":\"2.0\",\"id\":1}", LSP_ERR_INVALID_REQUEST, 1);
    expect_fail("{\"jsonrpc\":\"2.0\"}", LSP_ERR_INVALID_REQUEST, -1);
}
END_TEST

START_TEST(test_rpc_response_id_rules)
{
    expect_fail_msg("{\"jsonrpc\":\"2.0\",\"result\":1}", LSP_ERR_INVALID_REQUEST,
                    "without \"id\"");
    expect_fail_msg("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":1}", LSP_ERR_INVALID_REQUEST,
                    "null");
    expect_fail("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"result\":1}", LSP_ERR_INVALID_REQUEST, -1);
    /* A response's own id is never echoed back in the error. */
    expect_fail("{\"jsonrpc\":\"1.0\",\"id\":5,\"result\":1}", LSP_ERR_INVALID_REQUEST, -1);
}
END_TEST

START_TEST(test_rpc_response_error_object_shape)
{
    const char *bad[] = {
        "\"oops\"", "null", "[]", "{\"message\":\"m\"}", "{\"code\":1.0,\"message\":\"m\"}",
        "{\"code\":\"1\",\"message\":\"m\"}", "{\"code\":1}", "{\"code\":1,\"message\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":%s}", bad[i]);
        expect_fail(s, LSP_ERR_INVALID_REQUEST, -1);
    }
}
END_TEST

// ---------------------------------------------------------------- parse errors

START_TEST(test_rpc_invalid_json_is_parse_error)
{
    const char *bad[] = {
        "", " ", "{", "{\"jsonrpc\":\"2.0\",}", "{\"jsonrpc\":'2.0'}", "{jsonrpc:1}",
        "{\"a\":1} x", "{\"a\":1}{\"b\":2}", "nul", "{\"a\":01}", "{\"a\":\"\t\"}",
        "{\"a\":\"\\x\"}", "{\"a\":NaN}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_fail(bad[i], LSP_ERR_PARSE, -1);
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_int_eq(lsp_msg_decode("{}\0", 3, &m, &e), -1);   /* NUL after the value */
    ck_assert_int_eq(e.code, LSP_ERR_PARSE);
    ck_assert_int_eq(lsp_msg_decode(NULL, 0, &m, &e), -1);
    ck_assert_int_eq(e.code, LSP_ERR_PARSE);
    expect_fail_msg("{\"a\":", LSP_ERR_PARSE, "byte");
}
END_TEST

START_TEST(test_rpc_invalid_utf8_body_is_parse_error)
{
    const char *bad[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"\xFF\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"\xC0\x80\"}",          /* overlong NUL */
        "{\"jsonrpc\":\"2.0\",\"method\":\"\xED\xA0\x80\"}",      /* encoded surrogate */
        "{\"jsonrpc\":\"2.0\",\"method\":\"\xE2\x82\"}",          /* truncated */
        "{\"jsonrpc\":\"2.0\",\"method\":\"\x80\"}",              /* lone continuation */
        "{\"jsonrpc\":\"2.0\",\"method\":\"\xF4\x90\x80\x80\"}",  /* above U+10FFFF */
        "{\"jsonrpc\":\"2.0\",\"method\":\"\\ud800\"}",          /* escaped lone surrogate */
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\xFF",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_fail(bad[i], LSP_ERR_PARSE, -1);
}
END_TEST

START_TEST(test_rpc_duplicate_keys_are_parse_error)
{
    expect_fail_msg("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"m\"}", LSP_ERR_PARSE,
                    "duplicate");
    expect_fail("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"method\":\"b\"}", LSP_ERR_PARSE, -1);
    expect_fail("{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"k\":1,\"k\":1}}",
                LSP_ERR_PARSE, -1);
}
END_TEST

START_TEST(test_rpc_deep_nesting_is_parse_error_not_crash)
{
    size_t depth = 100000;
    char *s = malloc(depth + 64);
    ck_assert_ptr_nonnull(s);
    int n = snprintf(s, 64, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":");
    memset(s + n, '[', depth);
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_int_eq(lsp_msg_decode(s, (size_t)n + depth, &m, &e), -1);
    ck_assert_int_eq(e.code, LSP_ERR_PARSE);
    free(s);
}
END_TEST

// ---------------------------------------------------------------- invalid requests

START_TEST(test_rpc_batch_rejected_as_invalid_request)
{
    expect_fail_msg("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}]", LSP_ERR_INVALID_REQUEST,
                    "batch");
    expect_fail("[]", LSP_ERR_INVALID_REQUEST, -1);
    expect_fail("[1]", LSP_ERR_INVALID_REQUEST, -1);
}
END_TEST

START_TEST(test_rpc_scalar_top_level_is_invalid_request)
{
    const char *bad[] = {"1", "\"2.0\"", "null", "true", "-0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_fail(bad[i], LSP_ERR_INVALID_REQUEST, -1);
}
END_TEST

START_TEST(test_rpc_wrong_jsonrpc_version_keeps_readable_id)
{
    expect_fail("{\"id\":1,\"method\":\"m\"}", LSP_ERR_INVALID_REQUEST, 1);
    expect_fail("{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"m\"}", LSP_ERR_INVALID_REQUEST, 2);
    expect_fail("{\"jsonrpc\":2.0,\"id\":3,\"method\":\"m\"}", LSP_ERR_INVALID_REQUEST, 3);
    expect_fail("{\"jsonrpc\":\"2.0 \",\"id\":4,\"method\":\"m\"}", LSP_ERR_INVALID_REQUEST, 4);
    expect_fail("{\"jsonrpc\":\"2.0\\u0000\",\"id\":5,\"method\":\"m\"}",
                LSP_ERR_INVALID_REQUEST, 5);
    expect_fail("{\"jsonrpc\":null,\"method\":\"m\"}", LSP_ERR_INVALID_REQUEST, -1);
    expect_fail("{\"jsonrpc\":\"1.0\",\"id\":1.5,\"method\":\"m\"}", LSP_ERR_INVALID_REQUEST, -1);
    /* A string id comes back as a string. */
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_int_eq(decode("{\"id\":\"q\",\"method\":\"m\"}", &m, &e), -1);
    ck_assert_str_eq(json_string_value(e.id), "q");
    lsp_rpc_error_clear(&e);
}
END_TEST

START_TEST(test_rpc_id_of_wrong_type_is_invalid_request)
{
    const char *bad[] = {"1.5", "1.0", "1e3", "-0.0", "true", "false", "{}", "[1]", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}", bad[i]);
        expect_fail(s, LSP_ERR_INVALID_REQUEST, -1);
    }
}
END_TEST

START_TEST(test_rpc_method_not_string_is_invalid_request)
{
    const char *bad[] = {"1", "null", "{}", "[\"m\"]", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":%s}", bad[i]);
        expect_fail(s, LSP_ERR_INVALID_REQUEST, 9);
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"method\":%s}", bad[i]);
        expect_fail(s, LSP_ERR_INVALID_REQUEST, -1);
    }
}
END_TEST

START_TEST(test_rpc_params_scalar_is_invalid_request)
{
    const char *bad[] = {"\"p\"", "1", "true", "false", "0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"m\",\"params\":%s}",
                 bad[i]);
        expect_fail(s, LSP_ERR_INVALID_REQUEST, 6);
        snprintf(s, sizeof s, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":%s}", bad[i]);
        expect_fail(s, LSP_ERR_INVALID_REQUEST, -1);
    }
}
END_TEST

START_TEST(test_rpc_decode_always_initialises_out_and_err)
{
    lsp_msg m;
    lsp_rpc_error e;
    memset(&m, 0xA5, sizeof m);
    memset(&e, 0xA5, sizeof e);
    ck_assert_int_eq(decode("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", &m, &e), 0);
    ck_assert_int_eq(e.code, 0);
    ck_assert_ptr_null(e.id);
    lsp_rpc_error_clear(&e);
    lsp_msg_clear(&m);
    memset(&m, 0xA5, sizeof m);
    ck_assert_int_eq(decode("]", &m, &e), -1);
    ck_assert_ptr_null(m.root);
    ck_assert_ptr_null(m.id);
    lsp_msg_clear(&m);
    lsp_rpc_error_clear(&e);
    lsp_msg_clear(NULL);
    lsp_rpc_error_clear(NULL);
}
END_TEST

START_TEST(test_rpc_error_message_is_bounded)
{
    char s[600];
    memset(s, ' ', sizeof s);
    memcpy(s + 400, "{\"a\":\x01}", 7);
    s[sizeof s - 1] = '\0';
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_int_eq(decode(s, &m, &e), -1);
    ck_assert_uint_lt(strlen(e.message), sizeof e.message);
}
END_TEST

// ---------------------------------------------------------------- encoding

/* len is read after got was computed (argument order is unspecified). */
static void expect_body(char *got, const size_t *len, const char *want)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(*len, strlen(want));
    free(got);
}

START_TEST(test_rpc_encode_result_exact_bytes)
{
    size_t len = 0;
    json_t *id = json_integer(1);
    json_t *r = json_pack("{s:i, s:s}", "z", 1, "a", "\xC3\xA9");
    expect_body(lsp_encode_result(id, r, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"z\":1,\"a\":\"\xC3\xA9\"}}");
    expect_body(lsp_encode_result(id, NULL, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}");
    expect_body(lsp_encode_result(NULL, r, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{\"z\":1,\"a\":\"\xC3\xA9\"}}");
    ck_assert_int_eq(id->refcount, 1);   /* borrowed, not stolen */
    ck_assert_int_eq(r->refcount, 1);
    char *s = lsp_encode_result(id, r, NULL);
    ck_assert_ptr_nonnull(s);
    free(s);
    json_decref(id);
    json_decref(r);
}
END_TEST

START_TEST(test_rpc_encode_error_exact_bytes)
{
    size_t len = 0;
    json_t *id = json_string("req-1");
    json_t *data = json_pack("{s:b}", "retry", 1);
    expect_body(lsp_encode_error(id, LSP_ERR_METHOD_NOT_FOUND, "no such method", NULL, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"error\":{\"code\":-32601,"
                "\"message\":\"no such method\"}}");
    expect_body(lsp_encode_error(NULL, LSP_ERR_PARSE, "bad", data, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                "\"message\":\"bad\",\"data\":{\"retry\":true}}}");
    expect_body(lsp_encode_error(id, 0, NULL, NULL, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"error\":{\"code\":0,\"message\":\"\"}}");
    ck_assert_int_eq(data->refcount, 1);
    json_decref(id);
    json_decref(data);
}
END_TEST

START_TEST(test_rpc_encode_error_message_invalid_utf8_replaced)
{
    size_t len = 0;
    json_t *id = json_integer(2);
    expect_body(lsp_encode_error(id, -1, "a\xFF" "b\xE2\x82\xC3\xA9\"\n", NULL, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-1,"
                "\"message\":\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD\xC3\xA9\\\"\\n\"}}");
    json_decref(id);
}
END_TEST

START_TEST(test_rpc_encode_notification_exact_bytes)
{
    size_t len = 0;
    json_t *p = json_pack("{s:s,s:[i,i]}", "uri", "file:///a b", "v", 1, 2);
    expect_body(lsp_encode_notification("window/logMessage", p, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"method\":\"window/logMessage\","
                "\"params\":{\"uri\":\"file:///a b\",\"v\":[1,2]}}");
    expect_body(lsp_encode_notification("exit", NULL, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ck_assert_ptr_null(lsp_encode_notification(NULL, p, &len));
    ck_assert_ptr_null(lsp_encode_notification("\xFF", p, &len));
    json_decref(p);
}
END_TEST

START_TEST(test_rpc_encode_request_exact_bytes_and_id_rules)
{
    size_t len = 0;
    json_t *id = json_integer(-7), *sid = json_string("x"), *p = json_array();
    expect_body(lsp_encode_request(id, "workspace/configuration", p, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":-7,\"method\":\"workspace/configuration\","
                "\"params\":[]}");
    expect_body(lsp_encode_request(sid, "m", NULL, &len), &len,
                "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"m\"}");
    json_t *real = json_real(1.0), *tru = json_true();
    ck_assert_ptr_null(lsp_encode_request(NULL, "m", NULL, &len));
    ck_assert_ptr_null(lsp_encode_request(real, "m", NULL, &len));
    ck_assert_ptr_null(lsp_encode_request(tru, "m", NULL, &len));
    ck_assert_ptr_null(lsp_encode_request(id, NULL, NULL, &len));
    ck_assert_ptr_null(lsp_encode_request(id, "\xC0\x80", NULL, &len));
    json_decref(id);
    json_decref(sid);
    json_decref(p);
    json_decref(real);
}
END_TEST

START_TEST(test_rpc_encode_escapes_nul_and_controls)
{
    size_t len = 0;
    json_t *p = json_object();
    json_object_set_new(p, "t", json_stringn("a\0b\x01", 4));
    char *s = lsp_encode_notification("m", p, &len);
    ck_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"t\":\"a\\u0000b\\u0001\"}}");
    lsp_msg m = decode_ok(s);
    ck_assert(json_equal(m.params, p));
    lsp_msg_clear(&m);
    free(s);
    json_decref(p);
}
END_TEST

START_TEST(test_rpc_round_trip_every_kind)
{
    json_t *ids[] = {json_integer(0), json_integer(INT64_MAX), json_integer(INT64_MIN),
                     json_string("\xF0\x9F\x98\x80 id")};
    json_t *params = json_pack("{s:{s:s},s:[n,b,f]}", "textDocument", "uri", "file:///x",
                               "more", 1, 0.5);
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        char *s = lsp_encode_request(ids[i], "a/b", params, &len);
        lsp_msg m = decode_ok(s);
        ck_assert_int_eq(m.kind, LSP_MSG_REQUEST);
        ck_assert(json_equal(m.id, ids[i]));
        ck_assert_str_eq(m.method, "a/b");
        ck_assert(json_equal(m.params, params));
        /* Re-encoding the decoded message gives the same bytes. */
        char *again = lsp_encode_request(m.id, m.method, m.params, NULL);
        ck_assert_str_eq(again, s);
        free(again);
        lsp_msg_clear(&m);
        free(s);

        s = lsp_encode_result(ids[i], params, &len);
        m = decode_ok(s);
        ck_assert_int_eq(m.kind, LSP_MSG_RESPONSE);
        ck_assert(json_equal(m.id, ids[i]));
        ck_assert(json_equal(m.result, params));
        lsp_msg_clear(&m);
        free(s);

        s = lsp_encode_error(ids[i], LSP_ERR_REQUEST_CANCELLED, "cancelled", params, &len);
        m = decode_ok(s);
        ck_assert_int_eq(m.kind, LSP_MSG_RESPONSE);
        ck_assert(json_equal(m.id, ids[i]));
        ck_assert_int_eq(json_integer_value(json_object_get(m.error, "code")), -32800);
        ck_assert(json_equal(json_object_get(m.error, "data"), params));
        lsp_msg_clear(&m);
        free(s);
        json_decref(ids[i]);
    }
    char *s = lsp_encode_notification("$/progress", params, NULL);
    lsp_msg m = decode_ok(s);
    ck_assert_int_eq(m.kind, LSP_MSG_NOTIFICATION);
    ck_assert(json_equal(m.params, params));
    lsp_msg_clear(&m);
    free(s);
    json_decref(params);
}
END_TEST

START_TEST(test_rpc_decode_error_can_be_answered)
{
    lsp_msg m;
    lsp_rpc_error e;
    ck_assert_int_eq(decode("{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":7}", &m, &e), -1);
    char *s = lsp_encode_error(e.id, e.code, e.message, NULL, NULL);
    ck_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"id\":42,\"error\":{\"code\":-32600,"
                        "\"message\":\"\\\"method\\\" must be a string\"}}");
    lsp_rpc_error_clear(&e);
    lsp_msg r = decode_ok(s);
    ck_assert_int_eq(r.kind, LSP_MSG_RESPONSE);
    lsp_msg_clear(&r);
    free(s);
}
END_TEST

// ---------------------------------------------------------------- out of memory

static long alloc_budget;   /* allocations left before failing; test-local */

static void *failing_malloc(size_t n)
{
    if (alloc_budget-- <= 0)
        return NULL;
    return malloc(n);
}

START_TEST(test_rpc_out_of_memory_at_every_allocation)
{
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"m\","
                       "\"params\":{\"a\":[1,2,{\"b\":\"c\"}],\"d\":\"e\"}}";
    json_set_alloc_funcs(failing_malloc, free);
    int decoded = 0, encoded = 0, internal = 0;
    for (long budget = 0; budget < 200 && !(decoded && encoded); budget++) {
        lsp_msg m;
        lsp_rpc_error e;
        alloc_budget = budget;
        int rc = decode(body, &m, &e);
        if (rc == 0) {
            decoded = 1;
            alloc_budget = budget;
            char *s = lsp_encode_request(m.id, m.method, m.params, NULL);
            char *t = lsp_encode_error(m.id, 1, "m\xFF", m.params, NULL);
            if (s != NULL && t != NULL)
                encoded = 1;
            free(s);
            free(t);
            alloc_budget = 1000000;
        } else {
            ck_assert_msg(e.code == LSP_ERR_INTERNAL || e.code == LSP_ERR_PARSE,
                          "code %d under OOM", e.code);
            internal += e.code == LSP_ERR_INTERNAL;
        }
        lsp_msg_clear(&m);
        lsp_rpc_error_clear(&e);
    }
    json_set_alloc_funcs(malloc, free);
    ck_assert(decoded && encoded);
    ck_assert_int_gt(internal, 0);
}
END_TEST

// ---------------------------------------------------------------- main

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("lsp_rpc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rpc_request_integer_id);
    tcase_add_test(tc, test_rpc_request_string_id_and_member_order_free);
    tcase_add_test(tc, test_rpc_request_ids_negative_zero_and_extreme);
    tcase_add_test(tc, test_rpc_id_beyond_int64_is_parse_error);
    tcase_add_test(tc, test_rpc_notification_with_and_without_params);
    tcase_add_test(tc, test_rpc_params_null_reads_as_absent);
    tcase_add_test(tc, test_rpc_unknown_members_ignored_and_method_wins);
    tcase_add_test(tc, test_rpc_nul_in_strings_accepted_but_not_in_method);
    tcase_add_test(tc, test_rpc_non_ascii_method_and_text);
    tcase_add_test(tc, test_rpc_response_with_result);
    tcase_add_test(tc, test_rpc_response_with_error_and_null_id);
    tcase_add_test(tc, test_rpc_response_needs_exactly_one_of_result_error);
    tcase_add_test(tc, test_rpc_response_id_rules);
    tcase_add_test(tc, test_rpc_response_error_object_shape);
    tcase_add_test(tc, test_rpc_invalid_json_is_parse_error);
    tcase_add_test(tc, test_rpc_invalid_utf8_body_is_parse_error);
    tcase_add_test(tc, test_rpc_duplicate_keys_are_parse_error);
    tcase_add_test(tc, test_rpc_deep_nesting_is_parse_error_not_crash);
    tcase_add_test(tc, test_rpc_batch_rejected_as_invalid_request);
    tcase_add_test(tc, test_rpc_scalar_top_level_is_invalid_request);
    tcase_add_test(tc, test_rpc_wrong_jsonrpc_version_keeps_readable_id);
    tcase_add_test(tc, test_rpc_id_of_wrong_type_is_invalid_request);
    tcase_add_test(tc, test_rpc_method_not_string_is_invalid_request);
    tcase_add_test(tc, test_rpc_params_scalar_is_invalid_request);
    tcase_add_test(tc, test_rpc_decode_always_initialises_out_and_err);
    tcase_add_test(tc, test_rpc_error_message_is_bounded);
    tcase_add_test(tc, test_rpc_encode_result_exact_bytes);
    tcase_add_test(tc, test_rpc_encode_error_exact_bytes);
    tcase_add_test(tc, test_rpc_encode_error_message_invalid_utf8_replaced);
    tcase_add_test(tc, test_rpc_encode_notification_exact_bytes);
    tcase_add_test(tc, test_rpc_encode_request_exact_bytes_and_id_rules);
    tcase_add_test(tc, test_rpc_encode_escapes_nul_and_controls);
    tcase_add_test(tc, test_rpc_round_trip_every_kind);
    tcase_add_test(tc, test_rpc_decode_error_can_be_answered);
    tcase_add_test(tc, test_rpc_out_of_memory_at_every_allocation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(rpc_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
