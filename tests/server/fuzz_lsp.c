/* tests/server/fuzz_lsp.c — libFuzzer target: the language server's message dispatch
 * (server/srv_lsp.c and its handlers) driven in-process without an engine, one decoded
 * message body at a time, as the event loop would after framing.
 *
 * The first byte picks the mode:
 *   bit 0 clear — raw: the rest is split at 0x1E bytes (the record separator of JSON text
 *       sequences, RFC 7464) into message bodies; bit 1 sends a valid initialize and
 *       initialized first, so that inputs reach the handlers without having to spell them.
 *   bit 0 set — structured: a valid session (initialize … inlineCompletion, codeAction …
 *       shutdown, exit; bits 1-2 pick the position encoding the client offers) is mutated by
 *       the rest of the input, record by record: one message, one of its JSON nodes, and what
 *       to do there (delete it, give it a wrong type, a huge or negative number, a long or
 *       deep value, a copy of another node, a new member, send the message twice). Then the
 *       session is sent.
 * Every reply must be a JSON-RPC 2.0 object. A message that is a well-formed request (by the
 * rules of protocol/lsp_rpc.h, checked here independently) gets exactly one response, with
 * its id; anything else gets at most one. Leaks and memory errors are the sanitizers' to find.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "srv_log.h"
#include "srv_lsp.h"

#define MAX_MESSAGES 48
#define MAX_RECORDS 64
#define MAX_NODES 512

// ---- replies

typedef struct {
    size_t responses;       /* bodies without "method": answers to the client's requests */
    json_t *last_id;        /* the last response's id (owned) */
} sink;

static void on_send(void *ud, const char *body, size_t len)
{
    sink *k = ud;
    json_error_t e;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!json_is_object(v)) {
        fprintf(stderr, "fuzz_lsp: the server sent %s: %.*s\n", e.text, (int)(len < 400 ? len : 400), body);
        abort();
    }
    const char *ver = json_string_value(json_object_get(v, "jsonrpc"));
    if (!ver || strcmp(ver, "2.0")) abort();
    if (!json_object_get(v, "method")) {
        json_t *id = json_object_get(v, "id");
        if (!id || (!json_object_get(v, "result") == !json_object_get(v, "error"))) abort();
        k->responses++;
        json_decref(k->last_id);
        k->last_id = json_incref(id);
    }
    json_decref(v);
}

/* 1 if body is a request that lsp_msg_decode accepts (see lsp_rpc.h); *id gets its id. */
static int is_request(const char *body, size_t len, json_t **root)
{
    json_error_t e;
    json_t *v = *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!json_is_object(v)) return 0;
    const char *ver = json_string_value(json_object_get(v, "jsonrpc"));
    json_t *id = json_object_get(v, "id"), *m = json_object_get(v, "method"),
           *p = json_object_get(v, "params");
    return ver && !strcmp(ver, "2.0") && (json_is_integer(id) || json_is_string(id)) &&
           json_is_string(m) && strlen(json_string_value(m)) == json_string_length(m) &&
           (!p || json_is_object(p) || json_is_array(p) || json_is_null(p));
}

static void send_one(srv_lsp *s, sink *k, const char *body, size_t len)
{
    int exited = srv_lsp_state(s) == SRV_EXITED;
    json_t *root;
    int request = is_request(body, len, &root);
    size_t before = k->responses;
    srv_lsp_handle(s, body, len);
    size_t got = k->responses - before;
    if (exited ? got != 0 : request ? got != 1 : got > 1) abort();
    if (request && !exited && !json_equal(k->last_id, json_object_get(root, "id"))) abort();
    json_decref(root);
}

// ---- the structured session

static const char *const SESSION[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"processId\":null,"
    "\"capabilities\":{\"general\":{\"positionEncodings\":[\"utf-16\"]},\"textDocument\":"
    "{\"inlineCompletion\":{}},\"window\":{\"workDoneProgress\":true}},\"initializationOptions\":"
    "{\"sparkd\":{\"n_predict\":16,\"debounce_ms\":0}},\"trace\":\"off\",\"workDoneToken\":\"w\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
    "{\"uri\":\"file:///a.py\",\"languageId\":\"python\",\"version\":1,\"text\":"
    "\"def mean(xs):\\n    pass\\n\\r\\nprint(mean([1, 2]))  # \\u00e9\\ud83d\\ude00\\n\"}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":"
    "{\"uri\":\"file:///a.py\",\"version\":2},\"contentChanges\":[{\"range\":{\"start\":{\"line\":1,"
    "\"character\":4},\"end\":{\"line\":1,\"character\":8}},\"text\":\"return sum(xs)\"},"
    "{\"range\":{\"start\":{\"line\":3,\"character\":24},\"end\":{\"line\":3,\"character\":27}},"
    "\"text\":\"\\u00fc\"},{\"text\":\"x = 1\\n\"}]}}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"textDocument/inlineCompletion\",\"params\":"
    "{\"textDocument\":{\"uri\":\"file:///a.py\"},\"position\":{\"line\":0,\"character\":4},"
    "\"context\":{\"triggerKind\":2,\"selectedCompletionInfo\":null}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"c3\",\"method\":\"textDocument/completion\",\"params\":"
    "{\"textDocument\":{\"uri\":\"file:///a.py\"},\"position\":{\"line\":0,\"character\":5},"
    "\"context\":{\"triggerKind\":1}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"textDocument/codeAction\",\"params\":"
    "{\"textDocument\":{\"uri\":\"file:///a.py\"},\"range\":{\"start\":{\"line\":0,\"character\":0},"
    "\"end\":{\"line\":0,\"character\":3}},\"context\":{\"diagnostics\":[],\"only\":[\"refactor\"]}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"codeAction/resolve\",\"params\":{\"title\":\"t\","
    "\"kind\":\"refactor.rewrite\",\"data\":{\"uri\":\"file:///a.py\",\"version\":2,\"action\":0,"
    "\"line\":0}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didShowCompletion\",\"params\":{\"item\":"
    "{\"insertText\":\"xs\",\"range\":{\"start\":{\"line\":0,\"character\":4},\"end\":{\"line\":0,"
    "\"character\":4}}}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didPartiallyAcceptCompletion\",\"params\":"
    "{\"item\":{\"insertText\":\"xs\"},\"acceptedLength\":1}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":2}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"$/setTrace\",\"params\":{\"value\":\"verbose\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"workspace/didChangeConfiguration\",\"params\":{\"settings\":"
    "{\"sparkd\":{\"n_predict\":8,\"temp\":0.5}}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"sparkd/stats\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didSave\",\"params\":{\"textDocument\":"
    "{\"uri\":\"file:///a.py\"}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":"
    "{\"uri\":\"file:///a.py\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"shutdown\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}",
};
#define N_SESSION (sizeof SESSION / sizeof *SESSION)

typedef struct { const uint8_t *p; size_t n; } input;

static unsigned take_u8(input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static unsigned take_u16(input *in) { unsigned a = take_u8(in); return a | take_u8(in) << 8; }

static uint64_t take_u64(input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)take_u8(in) << (8 * i);
    return v;
}

/* A JSON node and where it hangs: parent object member `key` or parent array slot `index`. */
typedef struct { json_t *node, *parent; const char *key; size_t index; } place;

static void collect(json_t *v, json_t *parent, const char *key, size_t index, place *out, size_t *n)
{
    if (*n == MAX_NODES) return;
    out[(*n)++] = (place){ v, parent, key, index };
    const char *k;
    json_t *c;
    size_t i;
    if (json_is_object(v)) json_object_foreach(v, k, c) collect(c, v, k, 0, out, n);
    else if (json_is_array(v)) json_array_foreach(v, i, c) collect(c, v, NULL, i, out, n);
}

/* Replaces the node at p with v (stolen); the root (no parent) is replaced in *root. */
static void put(json_t **root, const place *p, json_t *v)
{
    if (!v) return;
    if (!p->parent) { json_decref(*root); *root = v; }
    else if (p->key) json_object_set_new(p->parent, p->key, v);
    else json_array_set_new(p->parent, p->index, v);
}

static json_t *integer_from(input *in)
{
    static const json_int_t SPECIAL[] = { -1, 0, 1, 2, 3, INT32_MAX, (json_int_t)INT32_MAX + 1,
        UINT32_MAX, (json_int_t)UINT32_MAX + 1, INT64_MAX, INT64_MIN, (json_int_t)1 << 53, -65536 };
    unsigned sel = take_u8(in);
    if (sel < 2 * (sizeof SPECIAL / sizeof *SPECIAL))
        return json_integer(SPECIAL[sel % (sizeof SPECIAL / sizeof *SPECIAL)]);
    return json_integer((json_int_t)take_u64(in));
}

/* A string of the input's next bytes (invalid UTF-8 bytes are masked to ASCII). */
static json_t *string_from(input *in)
{
    char buf[64];
    size_t n = take_u8(in) % sizeof buf;
    for (size_t i = 0; i < n; i++) buf[i] = (char)take_u8(in);
    json_t *s = json_stringn(buf, n);
    if (s) return s;
    for (size_t i = 0; i < n; i++) buf[i] &= 0x7f;
    return json_stringn(buf, n);
}

static json_t *long_string(input *in)
{
    size_t n = (size_t)take_u16(in) + 1;
    char c = (char)(take_u8(in) & 0x7f), *buf = malloc(n);
    if (!buf) abort();
    memset(buf, c, n);
    json_t *s = json_stringn(buf, n);
    free(buf);
    return s;
}

static json_t *deep(input *in)
{
    unsigned depth = take_u16(in) % 2100 + 1;   /* past jansson's parse limit of 2048 */
    json_t *v = json_integer(0);
    for (unsigned i = 0; i < depth && v; i++) {
        json_t *a = json_array();
        if (!a || json_array_append_new(a, v)) abort();
        v = a;
    }
    return v;
}

/* Applies one mutation record to msgs (a JSON array of messages). */
static void mutate(json_t *msgs, input *in)
{
    size_t mi = take_u8(in) % json_array_size(msgs);
    json_t *msg = json_incref(json_array_get(msgs, mi));
    place *nodes = malloc(MAX_NODES * sizeof *nodes);
    if (!nodes) abort();
    size_t n = 0;
    collect(msg, NULL, NULL, 0, nodes, &n);
    const place *p = &nodes[take_u16(in) % n];
    json_t *root = msg;
    switch (take_u8(in) % 12) {
    case 0:     /* missing member or element */
        if (p->parent && p->key) json_object_del(p->parent, p->key);
        else if (p->parent) json_array_remove(p->parent, p->index);
        break;
    case 1: put(&root, p, json_null()); break;
    case 2: put(&root, p, json_boolean(take_u8(in) & 1)); break;
    case 3: put(&root, p, integer_from(in)); break;
    case 4: put(&root, p, json_real((double)(int64_t)take_u64(in) / 1e3)); break;
    case 5: put(&root, p, string_from(in)); break;
    case 6: put(&root, p, take_u8(in) & 1 ? json_object() : json_array()); break;
    case 7: put(&root, p, long_string(in)); break;
    case 8: put(&root, p, deep(in)); break;
    case 9: put(&root, p, json_deep_copy(nodes[take_u16(in) % n].node)); break;
    case 10: {  /* a new member (objects) or element (arrays) */
        json_t *key = string_from(in), *v = integer_from(in);
        if (json_is_object(p->node) && key) json_object_setn(p->node, json_string_value(key),
                                                             json_string_length(key), v);
        else if (json_is_array(p->node)) json_array_append(p->node, v);
        json_decref(key);
        json_decref(v);
        break;
    }
    default:    /* the message twice */
        if (json_array_size(msgs) < MAX_MESSAGES) json_array_insert(msgs, mi, msg);
        break;
    }
    if (root != msg) json_array_set(msgs, mi, root);
    json_decref(root);
    free(nodes);
}

static void run_structured(srv_lsp *s, sink *k, unsigned mode, input *in)
{
    static const char *const ENC[] = { "utf-16", "utf-8", "utf-32" };
    json_t *msgs = json_array();
    for (size_t i = 0; i < N_SESSION; i++) {
        json_error_t e;
        json_t *m = json_loads(SESSION[i], 0, &e);
        if (!m || json_array_append_new(msgs, m)) abort();
    }
    json_t *offered = json_pack("[s]", ENC[(mode >> 1) % 3]);
    json_t *caps = json_object_get(json_object_get(json_array_get(msgs, 0), "params"), "capabilities");
    json_object_set_new(json_object_get(caps, "general"), "positionEncodings", offered);
    for (int r = 0; r < MAX_RECORDS && in->n; r++) mutate(msgs, in);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        char *body = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!body) abort();
        send_one(s, k, body, strlen(body));
        free(body);
    }
    json_decref(msgs);
}

static void run_raw(srv_lsp *s, sink *k, unsigned mode, const uint8_t *p, size_t n)
{
    if (mode & 2)
        for (int i = 0; i < 2; i++) send_one(s, k, SESSION[i], strlen(SESSION[i]));
    while (n) {
        const uint8_t *sep = memchr(p, 0x1E, n);
        size_t len = sep ? (size_t)(sep - p) : n;
        send_one(s, k, (const char *)p, len);
        p += len + (sep != NULL);
        n -= len + (sep != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int logging;
    if (!logging) {            /* the log goes nowhere: output would only slow the fuzzer */
        if (srv_log_open_file("/dev/null")) abort();
        logging = 1;
    }
    if (!size) return 0;
    srv_log_set_level(SRV_LOG_ERROR);   /* a client's log_level does not carry over */
    srv_config cfg;
    srv_config_defaults(&cfg);
    cfg.no_engine = 1;
    sink k = { 0, NULL };
    srv_lsp *s = srv_lsp_new(&cfg, on_send, &k);
    if (!s) abort();
    input in = { data + 1, size - 1 };
    if (data[0] & 1) run_structured(s, &k, data[0], &in);
    else run_raw(s, &k, data[0], data + 1, size - 1);
    srv_lsp_free(s);
    json_decref(k.last_id);
    return 0;
}
