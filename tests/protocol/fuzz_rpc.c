/* fuzz_rpc.c — libFuzzer target for JSON-RPC decoding and encoding.
 *
 * The input is one message body. A decoded message is re-encoded with the
 * encoder for its kind, and the encoding must decode to the same message; a
 * rejected one must carry a documented code, a bounded message and an id of
 * an allowed type, and the error response built from it must itself decode
 * as a response.
 */
#include "lsp_rpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Decodes body, which the encoders produced, and returns the message. */
static lsp_msg redecode(char *body, size_t len)
{
    lsp_msg m;
    lsp_rpc_error e;
    check(body != NULL);
    check(strlen(body) == len);
    check(lsp_msg_decode(body, len, &m, &e) == 0);
    free(body);
    return m;
}

static int same(json_t *a, json_t *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && json_equal(a, b));
}

static void round_trip(const lsp_msg *m)
{
    size_t len = 0;
    lsp_msg r;
    switch (m->kind) {
    case LSP_MSG_REQUEST:
    case LSP_MSG_NOTIFICATION:
        check(m->method != NULL);
        r = redecode(m->kind == LSP_MSG_REQUEST
                         ? lsp_encode_request(m->id, m->method, m->params, &len)
                         : lsp_encode_notification(m->method, m->params, &len),
                     len);
        check(r.kind == m->kind && strcmp(r.method, m->method) == 0);
        check(same(r.id, m->id) && same(r.params, m->params));
        break;
    case LSP_MSG_RESPONSE:
        check((m->result == NULL) != (m->error == NULL));
        if (m->result != NULL) {
            r = redecode(lsp_encode_result(m->id, m->result, &len), len);
            check(same(r.result, m->result));
        } else {
            json_int_t code = json_integer_value(json_object_get(m->error, "code"));
            if (code < INT32_MIN || code > INT32_MAX)
                return;
            const char *msg = json_string_value(json_object_get(m->error, "message"));
            r = redecode(lsp_encode_error(m->id, (int)code, msg,
                                          json_object_get(m->error, "data"), &len),
                         len);
            check(r.error != NULL && json_integer_value(json_object_get(r.error, "code")) == code);
        }
        check(r.kind == LSP_MSG_RESPONSE && same(r.id, m->id));
        break;
    default:
        abort();
    }
    lsp_msg_clear(&r);
}

static void check_rejection(const lsp_rpc_error *e)
{
    check(e->code == LSP_ERR_PARSE || e->code == LSP_ERR_INVALID_REQUEST ||
          e->code == LSP_ERR_INTERNAL);
    check(memchr(e->message, '\0', sizeof e->message) != NULL && e->message[0] != '\0');
    check(e->id == NULL || json_is_integer(e->id) || json_is_string(e->id));
    size_t len = 0;
    lsp_msg r = redecode(lsp_encode_error(e->id, e->code, e->message, NULL, &len), len);
    check(r.kind == LSP_MSG_RESPONSE && same(r.id, e->id));
    lsp_msg_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsp_msg m;
    lsp_rpc_error e;
    if (lsp_msg_decode((const char *)data, size, &m, &e) == 0) {
        check(e.id == NULL && m.root != NULL);
        round_trip(&m);
    } else {
        check(m.root == NULL);
        check_rejection(&e);
    }
    lsp_msg_clear(&m);
    lsp_rpc_error_clear(&e);
    return 0;
}
