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
 *
 * Speed (the bodies sent and the checks are the same as when every message was parsed from
 * SESSION, dumped with json_dumps and judged anew): the session is parsed, dumped and judged
 * once, in LLVMFuzzerInitialize; an input copies only the messages it mutates; a message
 * sent twice is dumped and judged once, and judged on its tree rather than parsed again where
 * that gives the same verdict (can_tree); containers are dumped without jansson's per-level
 * loop check. Each input still gets a fresh server. tests/fuzz/corpus/fuzz_lsp.options caps
 * inputs at 8 KiB (64 records need about 5 KiB).
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

/* 1 if v, a parsed body, is a request that lsp_msg_decode accepts (see lsp_rpc.h). */
static int judge(const json_t *v)
{
    if (!json_is_object(v)) return 0;
    const char *ver = json_string_value(json_object_get(v, "jsonrpc"));
    json_t *id = json_object_get(v, "id"), *m = json_object_get(v, "method"),
           *p = json_object_get(v, "params");
    return ver && !strcmp(ver, "2.0") && (json_is_integer(id) || json_is_string(id)) &&
           json_is_string(m) && strlen(json_string_value(m)) == json_string_length(m) &&
           (!p || json_is_object(p) || json_is_array(p) || json_is_null(p));
}

/* 1 if body is a request; *root gets it parsed (owned; NULL if it does not parse). */
static int is_request(const char *body, size_t len, json_t **root)
{
    json_error_t e;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    return judge(*root);
}

/* Sends one body; request and id are what is_request says of it (id borrowed). */
static void send_checked(srv_lsp *s, sink *k, const char *body, size_t len, int request, json_t *id)
{
    int exited = srv_lsp_state(s) == SRV_EXITED;
    size_t before = k->responses;
    srv_lsp_handle(s, body, len);
    size_t got = k->responses - before;
    if (exited ? got != 0 : request ? got != 1 : got > 1) abort();
    if (request && !exited && !json_equal(k->last_id, id)) abort();
}

static void send_one(srv_lsp *s, sink *k, const char *body, size_t len)
{
    json_t *root;
    int request = is_request(body, len, &root);
    send_checked(s, k, body, len, request, json_object_get(root, "id"));
    json_decref(root);
}

/* A message whose bytes are known before the run (an unmutated session message, or the
 * raw mode's initialize and initialized): its body and is_request's verdict, computed
 * once. */
typedef struct {
    char *body;
    size_t len;
    int request;
    json_t *root;   /* the parsed body (owned), for the id */
} canned;

static void can(canned *c, char *body)
{
    c->body = body;
    c->len = strlen(body);
    c->request = is_request(body, c->len, &c->root);
}

/* 1 if no path in v is `limit` containers deep and no key holds a NUL. */
static int parses_back(const json_t *v, unsigned limit)
{
    if (!json_is_object(v) && !json_is_array(v)) return 1;
    if (!limit) return 0;
    const char *key;
    size_t klen, i;
    json_t *c;
    if (json_is_object(v)) {
        json_object_keylen_foreach((json_t *)v, key, klen, c)
            if (strlen(key) != klen || !parses_back(c, limit - 1)) return 0;
    } else {
        json_array_foreach(v, i, c) if (!parses_back(c, limit - 1)) return 0;
    }
    return 1;
}

/* can(c, body) for body = dump(m): judged on m itself, without parsing body again, where
 * that is sure to give the same verdict. A dump parses back to the tree it came from (no
 * duplicate keys, integers stay integers, reals keep a '.' or an exponent, NULs in strings
 * are allowed) unless it nests past jansson's parse limit (2048) or a key holds a NUL
 * (jansson refuses those): such trees are parsed. With FUZZ_LSP_CHECK_DUMP=1 the two
 * verdicts are compared. */
static int check_dump;

static void can_tree(canned *c, char *body, json_t *m)
{
    if (!parses_back(m, 1024)) { can(c, body); return; }
    c->body = body;
    c->len = strlen(body);
    c->request = judge(m);
    c->root = json_incref(m);
    if (check_dump) {
        json_t *parsed;
        if (is_request(body, c->len, &parsed) != c->request) {
            fprintf(stderr, "fuzz_lsp: the tree and its dump are judged differently: %s\n", body);
            abort();
        }
        if (c->request && !json_equal(json_object_get(parsed, "id"), json_object_get(m, "id")))
            abort();
        json_decref(parsed);
    }
}

static void send_canned(srv_lsp *s, sink *k, const canned *c)
{
    send_checked(s, k, c->body, c->len, c->request, json_object_get(c->root, "id"));
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

/* Up to 8 KiB: past every length limit of the server's own (4096 at most:
 * SRV_DOC_CHUNK_MAX, SELECTED_TEXT_MAX, SRV_PATH_MAX) with room to spare;
 * longer strings only cost jansson time (the 64 KiB strings of earlier
 * versions took ~40 % of every run). */
#define LONG_STRING_MAX 8192

static json_t *long_string(input *in)
{
    size_t n = (size_t)take_u16(in) % LONG_STRING_MAX + 1;
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

/* The session as parsed messages, built once: TEMPLATE[i] is SESSION[i] parsed, except
 * that message 0 comes in one variant per offered position encoding (ENC0[e]). Each has its
 * compact dump (the bytes the session sends when nothing mutated it) canned. Inputs never
 * change a template: a message is copied before its first mutation (copy-on-write). */
static const char *const ENC[] = { "utf-16", "utf-8", "utf-32" };
static json_t *TEMPLATE[N_SESSION], *ENC0[3];
static canned CANNED[N_SESSION], CANNED0[3], RAW[2];

/* dump(m) is json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY) byte for byte, without
 * jansson's loop check (a pointer printed and hashed for every container: most of the time
 * of dumping a 2100-level array). Scalars and keys are still written by jansson, through a
 * callback; build_session checks that the two agree. */
typedef struct { char *p; size_t n, cap; } text;

static int text_put(const char *s, size_t n, void *ud)
{
    text *t = ud;
    if (t->cap - t->n < n + 1) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap - t->n < n + 1) cap *= 2;
        if (!(t->p = realloc(t->p, cap))) abort();
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = 0;
    return 0;
}

static void text_scalar(text *t, json_t *v)
{
    if (json_dump_callback(v, text_put, t, JSON_COMPACT | JSON_ENCODE_ANY)) abort();
}

static void text_value(text *t, json_t *v)
{
    if (json_is_array(v)) {
        text_put("[", 1, t);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) text_put(",", 1, t);
            text_value(t, json_array_get(v, i));
        }
        text_put("]", 1, t);
    } else if (json_is_object(v)) {
        const char *key;
        size_t klen;
        json_t *c;
        int first = 1;
        text_put("{", 1, t);
        json_object_keylen_foreach(v, key, klen, c) {
            if (!first) text_put(",", 1, t);
            first = 0;
            json_t *k = json_stringn_nocheck(key, klen);
            if (!k) abort();
            text_scalar(t, k);
            json_decref(k);
            text_put(":", 1, t);
            text_value(t, c);
        }
        text_put("}", 1, t);
    } else {
        text_scalar(t, v);
    }
}

static char *dump(json_t *m)
{
    text t = { NULL, 0, 0 };
    text_value(&t, m);
    return t.p;
}

/* dump checked against jansson (and can_tree against parsing): always for the session's
 * templates (build_session), and for every message sent when the environment has
 * FUZZ_LSP_CHECK_DUMP=1. */

static char *dump_checked(json_t *m)
{
    char *body = dump(m);
    if (check_dump) {
        char *ref = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!ref || strcmp(ref, body)) {
            fprintf(stderr, "fuzz_lsp: dump differs from json_dumps:\n%s\n%s\n", body, ref);
            abort();
        }
        free(ref);
    }
    return body;
}

static void build_session(void)
{
    check_dump = 1;
    for (size_t i = 0; i < N_SESSION; i++) {
        json_error_t e;
        if (!(TEMPLATE[i] = json_loads(SESSION[i], 0, &e))) abort();
    }
    for (int e = 0; e < 3; e++) {
        ENC0[e] = json_deep_copy(TEMPLATE[0]);
        json_t *caps = json_object_get(json_object_get(ENC0[e], "params"), "capabilities");
        if (!caps || json_object_set_new(json_object_get(caps, "general"), "positionEncodings",
                                         json_pack("[s]", ENC[e])))
            abort();
        can(&CANNED0[e], dump_checked(ENC0[e]));
    }
    for (size_t i = 0; i < N_SESSION; i++) {
        can(&CANNED[i], dump_checked(TEMPLATE[i]));
        /* a copy must dump to the same bytes, or copy-on-write would change what is sent */
        json_t *c = json_deep_copy(TEMPLATE[i]);
        char *b = dump_checked(c);
        if (strcmp(b, CANNED[i].body)) abort();
        free(b);
        json_decref(c);
    }
    for (int i = 0; i < 2; i++) can(&RAW[i], strdup(SESSION[i]));
}

/* One input's session: the messages in order (a message sent twice is the same json_t in
 * two slots, so that later mutations change both, as they would in a JSON array); a slot
 * holds a reference. tmpl[i] is the template message i starts as (ENC0[e] for 0). */
typedef struct {
    json_t *m[MAX_MESSAGES];
    size_t n;
    json_t *tmpl[N_SESSION];
    const canned *canned[N_SESSION];
} session;

static const canned *canned_for(const session *ss, const json_t *m)
{
    for (size_t i = 0; i < N_SESSION; i++)
        if (ss->tmpl[i] == m) return ss->canned[i];
    return NULL;
}

/* Gives the message in slot mi a copy of its own before a mutation: every slot holding the
 * template gets the copy (they are the same message sent again). */
static void own(session *ss, size_t mi)
{
    json_t *t = ss->m[mi];
    if (!canned_for(ss, t)) return;
    json_t *c = json_deep_copy(t);
    if (!c) abort();
    for (size_t i = 0; i < ss->n; i++)
        if (ss->m[i] == t) { json_decref(t); ss->m[i] = json_incref(c); }
    json_decref(c);
}

/* Applies one mutation record to the session. */
static void mutate(session *ss, input *in)
{
    size_t mi = take_u8(in) % ss->n;
    place *nodes = malloc(MAX_NODES * sizeof *nodes);
    if (!nodes) abort();
    size_t n = 0;
    collect(ss->m[mi], NULL, NULL, 0, nodes, &n);
    size_t at = take_u16(in) % n;
    unsigned op = take_u8(in) % 12;
    if (op != 11 && canned_for(ss, ss->m[mi])) {   /* copy, and find the same node in it */
        own(ss, mi);
        n = 0;
        collect(ss->m[mi], NULL, NULL, 0, nodes, &n);
    }
    json_t *msg = json_incref(ss->m[mi]);
    const place *p = &nodes[at];
    json_t *root = msg;
    switch (op) {
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
    case 9:     /* a copy of a node, unless the message is already large: copies of
                   copies double it each time */
        if (n < MAX_NODES) put(&root, p, json_deep_copy(nodes[take_u16(in) % n].node));
        break;
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
        if (ss->n < MAX_MESSAGES) {
            memmove(&ss->m[mi + 1], &ss->m[mi], (ss->n - mi) * sizeof *ss->m);
            ss->m[mi] = json_incref(msg);
            ss->n++;
        }
        break;
    }
    if (root != msg) {          /* the whole message replaced: in this slot only */
        json_decref(ss->m[mi]);
        ss->m[mi] = json_incref(root);
    }
    json_decref(root);
    free(nodes);
}

static void run_structured(srv_lsp *s, sink *k, unsigned mode, input *in)
{
    session ss = { .n = N_SESSION };
    for (size_t i = 0; i < N_SESSION; i++) {
        ss.tmpl[i] = i ? TEMPLATE[i] : ENC0[(mode >> 1) % 3];
        ss.canned[i] = i ? &CANNED[i] : &CANNED0[(mode >> 1) % 3];
        ss.m[i] = json_incref(ss.tmpl[i]);
    }
    for (int r = 0; r < MAX_RECORDS && in->n; r++) mutate(&ss, in);
    /* A message sent again (the same json_t in a later slot) has the same bytes and the
     * same verdict: dumped and judged once, sent each time. */
    canned own_msgs[MAX_MESSAGES];
    const canned *sent[MAX_MESSAGES];
    size_t n_own = 0;
    for (size_t i = 0; i < ss.n; i++) {
        const canned *c = canned_for(&ss, ss.m[i]);
        for (size_t j = 0; !c && j < i; j++)
            if (ss.m[j] == ss.m[i]) c = sent[j];
        if (!c) {
            can_tree(&own_msgs[n_own], dump_checked(ss.m[i]), ss.m[i]);
            c = &own_msgs[n_own++];
        }
        send_canned(s, k, sent[i] = c);
    }
    for (size_t i = 0; i < n_own; i++) {
        free(own_msgs[i].body);
        json_decref(own_msgs[i].root);
    }
    for (size_t i = 0; i < ss.n; i++) json_decref(ss.m[i]);
}

static void run_raw(srv_lsp *s, sink *k, unsigned mode, const uint8_t *p, size_t n)
{
    if (mode & 2)
        for (int i = 0; i < 2; i++) send_canned(s, k, &RAW[i]);
    while (n) {
        const uint8_t *sep = memchr(p, 0x1E, n);
        size_t len = sep ? (size_t)(sep - p) : n;
        send_one(s, k, (const char *)p, len);
        p += len + (sep != NULL);
        n -= len + (sep != NULL);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* the log goes nowhere: output would only slow the fuzzer */
    if (srv_log_open_file("/dev/null")) abort();
    build_session();
    const char *cd = getenv("FUZZ_LSP_CHECK_DUMP");
    check_dump = cd && *cd == '1';
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
