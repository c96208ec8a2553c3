/* srv_lsp.c — lifecycle, dispatch table, document sync and small requests.
 *
 * Every request gets exactly one response; every rejected notification gets a
 * logged warning naming the method and the reason. Nothing here blocks.
 */
#include "srv_lsp.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lsp_rpc.h"
#include "sparkd_config.h"
#include "srv_internal.h"
#include "srv_log.h"

int srv_failf(fail *f, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    f->code = code;
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return -1;
}

// ---------------------------------------------------------------- output

/* Sends and frees an encoded body (NULL: the encoder ran out of memory). */
static void send_body(srv_lsp *s, char *body, size_t len)
{
    if (!body) { srv_error("out of memory encoding a message"); return; }
    s->send(s->ud, body, len);
    free(body);
}

void srv_reply_result(srv_lsp *s, json_t *id, json_t *result)
{
    size_t len = 0;
    char *body = lsp_encode_result(id, result, &len);
    send_body(s, body, len);
    s->stats.requests++;
}

void srv_reply_error(srv_lsp *s, json_t *id, int code, const char *msg)
{
    size_t len = 0;
    char *body = lsp_encode_error(id, code, msg, NULL, &len);
    send_body(s, body, len);
    s->stats.requests++;
    s->stats.errors++;
}

void srv_send_notification(srv_lsp *s, const char *method, json_t *params)
{
    size_t len = 0;
    char *body = lsp_encode_notification(method, params, &len);
    send_body(s, body, len);
}

int srv_send_request(srv_lsp *s, const char *method, json_t *params, srv_reply_fn fn, void *ud)
{
    if (s->n_out == s->cap_out) {
        size_t cap = s->cap_out ? s->cap_out * 2 : 4;
        out_request *v = realloc(s->out_reqs, cap * sizeof *v);
        if (!v) return -1;
        s->out_reqs = v;
        s->cap_out = cap;
    }
    json_t *id = json_integer(++s->next_out_id);
    size_t len = 0;
    char *body = id ? lsp_encode_request(id, method, params, &len) : NULL;
    json_decref(id);
    if (!body) return -1;
    s->out_reqs[s->n_out++] = (out_request){ s->next_out_id, fn, ud };
    send_body(s, body, len);
    return 0;
}

/* Routes a reply to the request it answers. */
static void handle_response(srv_lsp *s, lsp_msg *m)
{
    for (size_t i = 0; m->id && json_is_integer(m->id) && i < s->n_out; i++) {
        if (s->out_reqs[i].id != json_integer_value(m->id)) continue;
        out_request r = s->out_reqs[i];
        s->out_reqs[i] = s->out_reqs[--s->n_out];
        if (m->error) {
            json_t *msg = json_object_get(m->error, "message");
            srv_debug("the client refused request %" JSON_INTEGER_FORMAT ": %s", r.id, json_string_value(msg));
        }
        r.fn(s, r.ud, m->error ? NULL : m->result, m->error);
        return;
    }
    srv_debug("ignored a response to no request of ours");
}

/* Mirrors log lines to the client as $/logTrace while tracing is on. */
static void trace_hook(void *ud, srv_log_level l, const char *msg)
{
    srv_lsp *s = ud;
    if (s->trace == TRACE_OFF || s->state == SRV_UNINITIALIZED) return;
    if (l > SRV_LOG_INFO && s->trace != TRACE_VERBOSE) return;
    json_t *p = json_pack("{s:s}", "message", msg);
    size_t len = 0;
    char *body = lsp_encode_notification("$/logTrace", p, &len);
    send_body(s, body, len);
    json_decref(p);
}

// ---------------------------------------------------------------- params

/* Member `key` of object o with the given jansson type; NULL (and *f set)
 * when missing or mistyped. `what` names the object for the message. */
json_t *srv_member(json_t *o, const char *what, const char *key, json_type t, fail *f)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    static const char *const NAMES[] = { "an object", "an array", "a string", "an integer",
                                         "a number", "a boolean", "a boolean", "null" };
    if (!v) { srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s.%s is missing", what, key); return NULL; }
    int ok = json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v));
    if (!ok) {
        srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s.%s must be %s", what, key, NAMES[t]);
        return NULL;
    }
    return v;
}

int srv_get_uint32(json_t *o, const char *what, const char *key, uint32_t *out, fail *f)
{
    json_t *v = srv_member(o, what, key, JSON_INTEGER, f);
    if (!v) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > (json_int_t)UINT32_MAX)
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s.%s is out of range (%" JSON_INTEGER_FORMAT ")",
                     what, key, x);
    *out = (uint32_t)x;
    return 0;
}

/* Parses an LSP Range: start <= end, every field a uint32. */
int srv_parse_range(json_t *range, uint32_t v[4], fail *f)
{
    if (!json_is_object(range)) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "range must be an object");
    json_t *st = srv_member(range, "range", "start", JSON_OBJECT, f);
    json_t *en = st ? srv_member(range, "range", "end", JSON_OBJECT, f) : NULL;
    if (!en || srv_get_uint32(st, "range.start", "line", &v[0], f) ||
        srv_get_uint32(st, "range.start", "character", &v[1], f) ||
        srv_get_uint32(en, "range.end", "line", &v[2], f) ||
        srv_get_uint32(en, "range.end", "character", &v[3], f))
        return -1;
    if (v[2] < v[0] || (v[2] == v[0] && v[3] < v[1]))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "range end %u:%u is before its start %u:%u",
                     v[2], v[3], v[0], v[1]);
    return 0;
}

// ---------------------------------------------------------------- documents

open_doc *srv_find_doc(const srv_lsp *s, const char *uri, size_t len)
{
    for (size_t i = 0; i < s->n_docs; i++)
        if (s->docs[i].uri_len == len && !memcmp(s->docs[i].uri, uri, len)) return &s->docs[i];
    return NULL;
}

static void drop_doc(srv_lsp *s, open_doc *d)
{
    srv_shown_clear(&d->shown);
    gram_doc_free(d->gram);
    free(d->uri);
    free(d->language);
    srv_doc_free(d->doc);
    *d = s->docs[--s->n_docs];
}

static int grow_docs(srv_lsp *s)
{
    if (s->n_docs < s->cap_docs) return 0;
    size_t cap = s->cap_docs ? s->cap_docs * 2 : 16;
    open_doc *v = realloc(s->docs, cap * sizeof *v);
    if (!v) return -1;
    s->docs = v;
    s->cap_docs = cap;
    return 0;
}

// ---------------------------------------------------------------- limits

/* Bytes held by all open documents except `skip` (may be NULL). */
static size_t open_bytes(const srv_lsp *s, const open_doc *skip)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_docs; i++)
        if (&s->docs[i] != skip) n += srv_doc_len(s->docs[i].doc);
    return n;
}

/* Refuses a notification over a resource limit: the reason goes to the log
 * (through *f) and to the user as an error window/showMessage. Returns -1. */
static int refuse(srv_lsp *s, fail *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(srv_lsp *s, fail *f, const char *fmt, ...)
{
    char msg[768] = "sparkd: ";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + 8, sizeof msg - 8, fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:i,s:s}", "type", 1, "message", msg);   /* 1: Error */
    if (p) srv_send_notification(s, "window/showMessage", p);
    json_decref(p);
    return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s", msg + 8);
}

json_t *srv_text_document(json_t *params, const char **uri, size_t *len, fail *f)
{
    json_t *td = srv_member(params, "params", "textDocument", JSON_OBJECT, f);
    json_t *u = td ? srv_member(td, "textDocument", "uri", JSON_STRING, f) : NULL;
    if (!u) return NULL;
    *uri = json_string_value(u);
    *len = json_string_length(u);
    return td;
}

static int did_open(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    const char *uri;
    size_t ulen;
    json_t *td = srv_text_document(params, &uri, &ulen, f);
    json_t *lang = td ? srv_member(td, "textDocument", "languageId", JSON_STRING, f) : NULL;
    json_t *ver = lang ? srv_member(td, "textDocument", "version", JSON_INTEGER, f) : NULL;
    json_t *text = ver ? srv_member(td, "textDocument", "text", JSON_STRING, f) : NULL;
    if (!text) return -1;
    open_doc *d = srv_find_doc(s, uri, ulen);     /* reopened: its text is replaced */
    size_t tlen = json_string_length(text), others = open_bytes(s, d);
    if (!d && s->n_docs >= (size_t)s->cfg->max_open_documents)
        return refuse(s, f, "cannot open %.200s: %zu documents are open, the most max_open_documents allows; "
                      "close some, or raise the max_open_documents setting (--max-open-documents)",
                      uri, s->n_docs);
    if (tlen > s->cfg->max_open_bytes || others > s->cfg->max_open_bytes - tlen)
        return refuse(s, f, "cannot open %.200s: its %zu bytes and the %zu of the other open documents are "
                      "over max_open_bytes (%zu); close some, or raise the max_open_bytes setting "
                      "(--max-open-bytes)", uri, tlen, others, s->cfg->max_open_bytes);
    srv_doc *doc = srv_doc_new(json_string_value(text), tlen);
    char *u = malloc(ulen + 1), *l = strdup(json_string_value(lang));
    if (u) { memcpy(u, uri, ulen); u[ulen] = 0; }
    if (!doc || !u || !l || (!d && grow_docs(s))) {
        srv_doc_free(doc); free(u); free(l);
        return srv_failf(f, LSP_ERR_INTERNAL, "out of memory opening %s", uri);
    }
    if (d) {
        srv_warn("didOpen: %s was already open; replacing its text", uri);
        free(d->uri); free(d->language); srv_doc_free(d->doc); srv_shown_clear(&d->shown);
        gram_doc_free(d->gram);
    } else {
        d = &s->docs[s->n_docs++];
    }
    *d = (open_doc){ u, ulen, l, (int)json_integer_value(ver), doc,
                     gram_doc_new(gram_lang_find(l, u), json_string_value(text), tlen),
                     { 0 }, 0 };
    srv_debug("opened %s (%s, %zu bytes, version %d)", uri, l, srv_doc_len(doc), d->version);
    (void)result;
    return 0;
}

/* Checks one contentChanges entry without applying it. */
static int check_change(json_t *ch, size_t i, fail *f)
{
    char what[48];
    snprintf(what, sizeof what, "contentChanges[%zu]", i);
    if (!json_is_object(ch)) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s must be an object", what);
    if (!srv_member(ch, what, "text", JSON_STRING, f)) return -1;
    json_t *range = json_object_get(ch, "range");
    uint32_t v[4];
    if (range && !json_is_object(range))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s.range must be an object", what);
    if (range && srv_parse_range(range, v, f)) {
        char inner[sizeof f->msg];
        snprintf(inner, sizeof inner, "%s", f->msg);
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s (in %s)", inner, what);
    }
    return 0;
}

/* Applies one (checked) contentChanges entry, unless the open documents
 * would then hold more than max_open_bytes (`others`: the bytes of all but d). */
static int apply_change(srv_lsp *s, open_doc *d, json_t *ch, size_t i, size_t others, fail *f)
{
    json_t *text = json_object_get(ch, "text");
    json_t *range = json_object_get(ch, "range");
    size_t a = 0, b = srv_doc_len(d->doc);
    if (range) {
        uint32_t v[4];
        int k0 = 0, k1 = 0;
        srv_parse_range(range, v, f);
        a = srv_doc_offset(d->doc, s->enc, v[0], v[1], &k0);
        b = srv_doc_offset(d->doc, s->enc, v[2], v[3], &k1);
        if (k0 || k1)
            srv_warn("didChange %s: contentChanges[%zu] range is past the end of the line or document; clamped",
                     d->uri, i);
    }
    size_t len = json_string_length(text), kept = srv_doc_len(d->doc) - (b > a ? b - a : 0);
    size_t cap = s->cfg->max_open_bytes;
    if (len > cap || others + kept > cap - len)
        return refuse(s, f, "change to %.200s refused: the open documents would hold %zu bytes, over "
                      "max_open_bytes (%zu). sparkd's copy of it is now stale (no completions there): close "
                      "other documents or raise the max_open_bytes setting (--max-open-bytes), then reopen it",
                      d->uri, others + kept + len, cap);
    if (srv_doc_replace(d->doc, a, b, json_string_value(text), json_string_length(text)))
        return srv_failf(f, LSP_ERR_INTERNAL, "out of memory applying contentChanges[%zu]", i);
    if (d->gram && gram_doc_edit(d->gram, a, b, json_string_value(text), json_string_length(text))) {
        gram_doc_free(d->gram);     /* out of sync: completions go on without syntax */
        d->gram = NULL;
    }
    return 0;
}

static int did_change(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    const char *uri;
    size_t ulen;
    json_t *td = srv_text_document(params, &uri, &ulen, f);
    json_t *ver = td ? srv_member(td, "textDocument", "version", JSON_INTEGER, f) : NULL;
    json_t *changes = ver ? srv_member(params, "params", "contentChanges", JSON_ARRAY, f) : NULL;
    if (!changes) return -1;
    open_doc *d = srv_find_doc(s, uri, ulen);
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", uri);
    if (d->out_of_sync) {
        srv_debug("didChange %s: ignored, the document is stale since a refused change", uri);
        return 0;
    }
    json_int_t v = json_integer_value(ver);
    if (v <= d->version)
        srv_warn("didChange %s: version %" JSON_INTEGER_FORMAT " does not increase on %d; applied anyway",
                 uri, v, d->version);
    /* All or nothing: a list with one malformed entry changes nothing. */
    size_t i;
    json_t *ch;
    json_array_foreach(changes, i, ch)
        if (check_change(ch, i, f)) return -1;
    /* Applying can still fail (over max_open_bytes, out of memory): the
     * client's text and ours then differ, and stay so until it reopens. */
    size_t others = open_bytes(s, d);
    json_array_foreach(changes, i, ch)
        if (apply_change(s, d, ch, i, others, f)) { d->out_of_sync = 1; return -1; }
    d->version = (int)v;
    (void)result;
    return 0;
}

static int did_close(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    const char *uri;
    size_t ulen;
    if (!srv_text_document(params, &uri, &ulen, f)) return -1;
    open_doc *d = srv_find_doc(s, uri, ulen);
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", uri);
    drop_doc(s, d);
    (void)result;
    return 0;
}

static int did_save(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    const char *uri;
    size_t ulen;
    if (!srv_text_document(params, &uri, &ulen, f)) return -1;
    if (!srv_find_doc(s, uri, ulen)) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", uri);
    (void)result;
    return 0;
}

// ---------------------------------------------------------------- lifecycle

static void apply_settings(srv_lsp *s, json_t *settings, const char *from)
{
    char warn[512];
    int n = srv_config_apply_json(s->cfg, settings, warn, sizeof warn);
    if (warn[0]) srv_warn("%s: ignored settings: %s", from, warn);
    srv_log_level l;
    if (srv_log_level_parse(s->cfg->log_level, &l) == 0) srv_log_set_level(l);
    if (n) srv_info("%s: %d setting%s applied", from, n, n == 1 ? "" : "s");
}

static int parse_trace(json_t *v, trace_level *out)
{
    const char *t = json_string_value(v);
    if (!t) return -1;
    if (!strcmp(t, "off")) *out = TRACE_OFF;
    else if (!strcmp(t, "messages")) *out = TRACE_MESSAGES;
    else if (!strcmp(t, "verbose")) *out = TRACE_VERBOSE;
    else return -1;
    return 0;
}

/* Picks the cheapest encoding the client offers: utf-8 (no conversion), then
 * utf-32, else the mandatory utf-16. */
static lsp_encoding negotiate_encoding(json_t *caps)
{
    json_t *general = json_is_object(caps) ? json_object_get(caps, "general") : NULL;
    json_t *offered = json_is_object(general) ? json_object_get(general, "positionEncodings") : NULL;
    int have[3] = { 0, 0, 0 };
    size_t i;
    json_t *e;
    json_array_foreach(offered, i, e) {
        lsp_encoding enc;
        if (json_is_string(e) && lsp_encoding_parse(json_string_value(e), &enc) == 0) have[enc] = 1;
    }
    return have[LSP_ENC_UTF8] ? LSP_ENC_UTF8 : have[LSP_ENC_UTF32] ? LSP_ENC_UTF32 : LSP_ENC_UTF16;
}

static int initialize(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    if (!json_is_object(params))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "initialize needs params (an InitializeParams object)");
    json_t *caps = json_object_get(params, "capabilities");
    if (caps && !json_is_object(caps))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.capabilities must be an object");
    json_t *trace = json_object_get(params, "trace");
    if (trace && !json_is_null(trace) && parse_trace(trace, &s->trace))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.trace must be \"off\", \"messages\" or \"verbose\"");
    s->enc = negotiate_encoding(caps);
    json_t *opts = json_object_get(params, "initializationOptions");
    if (opts) apply_settings(s, opts, "initializationOptions");

    *result = json_pack("{s:{s:s,s:{s:b,s:i,s:{s:b}},s:{s:{s:b}}},s:{s:s,s:s}}",
        "capabilities",
          "positionEncoding", lsp_encoding_name(s->enc),
          "textDocumentSync", "openClose", 1, "change", 2, "save", "includeText", 0,
          "experimental", "sparkdStats", "supported", 1,
        "serverInfo", "name", "sparkd", "version", SPARKD_VERSION);
    if (!*result) return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    json_t *td = json_is_object(caps) ? json_object_get(caps, "textDocument") : NULL;
    s->client_inline = json_is_object(td) && json_object_get(td, "inlineCompletion") != NULL;
    json_t *win = json_is_object(caps) ? json_object_get(caps, "window") : NULL;
    s->client_progress = json_is_object(win) && json_is_true(json_object_get(win, "workDoneProgress"));
    json_t *tok = json_object_get(params, "workDoneToken");
    if (json_is_string(tok) || json_is_integer(tok)) s->init_token = json_incref(tok);
    if (s->sched) {
        json_t *c = json_object_get(*result, "capabilities");
        json_object_set_new(c, "inlineCompletionProvider", json_object());
        json_object_set_new(c, "codeActionProvider", json_pack("{s:[s],s:b}", "codeActionKinds",
                                                               "refactor.rewrite", "resolveProvider", 1));
        json_object_set_new(c, "executeCommandProvider", json_pack("{s:[s]}", "commands", SRV_REWRITE_COMMAND));
        /* the completion-list fallback, for clients without inline completion */
        if (!s->client_inline)
            json_object_set_new(c, "completionProvider", json_pack("{s:b,s:[s,s,s]}", "resolveProvider", 0,
                                                                  "triggerCharacters", ".", "(", " "));
    }
    s->state = SRV_RUNNING;
    if (s->sched) srv_sched_configure(s->sched, s->cfg);   /* loads the engine in the background */
    srv_info("initialized: position encoding %s", lsp_encoding_name(s->enc));
    return 0;
}

static int initialized(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)s; (void)params; (void)result; (void)f;
    return 0;
}

static int shutdown_(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)params; (void)f;
    s->state = SRV_SHUTDOWN;
    s->got_shutdown = 1;
    *result = json_null();
    return 0;
}

static int set_trace(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    json_t *v = srv_member(params, "params", "value", JSON_STRING, f);
    if (!v) return -1;
    if (parse_trace(v, &s->trace))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.value must be \"off\", \"messages\" or \"verbose\"");
    (void)result;
    return 0;
}

static int cancel_request(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    json_t *target = json_is_object(params) ? json_object_get(params, "id") : NULL;
    (void)id;
    if (!json_is_integer(target) && !json_is_string(target))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.id must be an integer or a string");
    s->stats.cancelled++;
    if (!s->sched || !srv_sched_cancel(s->sched, target))
        srv_debug("$/cancelRequest: no request in flight with that id");
    (void)result;
    return 0;
}

static int did_change_configuration(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    json_t *settings = srv_member(params, "params", "settings", JSON_OBJECT, f);
    if (!settings) return -1;
    apply_settings(s, settings, "didChangeConfiguration");
    if (s->sched) srv_sched_configure(s->sched, s->cfg);   /* reloads if the model etc. changed */
    (void)result;
    return 0;
}

static int stats(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)params;
    json_t *r = srv_stats_to_json(&s->stats);
    if (!r) return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    json_object_set_new(r, "documents", json_integer((json_int_t)s->n_docs));
    json_object_set_new(r, "document_bytes", json_integer((json_int_t)open_bytes(s, NULL)));
    json_object_set_new(r, "position_encoding", json_string(lsp_encoding_name(s->enc)));
    json_object_set_new(r, "config", srv_config_to_json(s->cfg));
    json_object_set_new(r, "completions", srv_comp_stats_json(&s->comp));
    char status[512] = "no engine";
    if (s->sched) srv_sched_status(s->sched, status, sizeof status);
    json_object_set_new(r, "model", json_string(status));
    if (s->sched) {     /* speculative decoding: per drafter, and what it bought */
        eng_spec_stats sp;
        uint64_t resets;
        srv_sched_spec_stats(s->sched, &sp, &resets);
        json_object_set_new(r, "device_resets", json_integer((json_int_t)resets));
        const comp_stats *c = &s->comp;
        /* speed-up estimate: the tokens' time as plain steps (measured v1) over the decode time */
        double est = c->decode_ms > 0 && sp.verify_1_ms > 0 ? (double)c->generated_tokens * sp.verify_1_ms /
                                                               c->decode_ms : 0;
        json_object_set_new(r, "speculative", json_pack(
            "{s:I,s:I,s:I,s:f,s:{s:I,s:I},s:{s:I,s:I},s:f,s:{s:f,s:f,s:f}}",
            "steps", (json_int_t)sp.steps, "tokens", (json_int_t)sp.tokens,
            "plain_steps", (json_int_t)sp.plain_steps,
            "tokens_per_step", sp.steps ? (double)sp.tokens / (double)sp.steps : 0.0,
            "drafted", "draft_model", (json_int_t)sp.drafted[0], "lookup", (json_int_t)sp.drafted[1],
            "accepted", "draft_model", (json_int_t)sp.accepted[0], "lookup", (json_int_t)sp.accepted[1],
            "estimated_speedup", est,
            "cost_model_ms", "verify_1", sp.verify_1_ms, "verify_per_extra_token", sp.verify_slope_ms,
            "draft_forward", sp.draft_ms));
    }
    *result = r;
    return 0;
}

// ---------------------------------------------------------------- dispatch

typedef int (*handler)(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);

static const struct route {
    const char *method;
    int request;            /* 1: request (answered), 0: notification */
    handler fn;
} ROUTES[] = {
    { "initialize", 1, initialize },
    { "initialized", 0, initialized },
    { "shutdown", 1, shutdown_ },
    { "textDocument/didOpen", 0, did_open },
    { "textDocument/didChange", 0, did_change },
    { "textDocument/didClose", 0, did_close },
    { "textDocument/didSave", 0, did_save },
    { "$/cancelRequest", 0, cancel_request },
    { "$/setTrace", 0, set_trace },
    { "workspace/didChangeConfiguration", 0, did_change_configuration },
    { "sparkd/stats", 1, stats },
    { "textDocument/inlineCompletion", 1, srv_inline_completion },
    { "textDocument/codeAction", 1, srv_code_action },
    { "codeAction/resolve", 1, srv_code_action_resolve },
    { "workspace/executeCommand", 1, srv_execute_command },
    { "window/workDoneProgress/cancel", 0, srv_work_done_cancel },
    { "textDocument/completion", 1, srv_completion },
    { "textDocument/didShowCompletion", 0, srv_did_show_completion },
    { "textDocument/didPartiallyAcceptCompletion", 0, srv_did_partially_accept },
};

static const struct route *route_for(const char *method)
{
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++)
        if (!strcmp(ROUTES[i].method, method)) return &ROUTES[i];
    return NULL;
}

static void handle_request(srv_lsp *s, lsp_msg *m)
{
    const struct route *r = route_for(m->method);
    int is_init = !strcmp(m->method, "initialize");
    if (s->state == SRV_UNINITIALIZED && !is_init) {
        srv_reply_error(s, m->id, LSP_ERR_NOT_INITIALIZED, "server not initialized: send initialize first");
        return;
    }
    if (s->state == SRV_SHUTDOWN) {
        srv_reply_error(s, m->id, LSP_ERR_INVALID_REQUEST, "server is shut down: only exit is accepted");
        return;
    }
    if (is_init && s->state != SRV_UNINITIALIZED) {
        srv_reply_error(s, m->id, LSP_ERR_INVALID_REQUEST, "initialize may only be sent once");
        return;
    }
    if (!r && !strcmp(m->method, "exit")) {
        srv_reply_error(s, m->id, LSP_ERR_INVALID_REQUEST, "'exit' is a notification: it must not carry an id");
        return;
    }
    if (!r) {
        char msg[300];
        snprintf(msg, sizeof msg, "unknown method '%.200s'", m->method);
        srv_reply_error(s, m->id, LSP_ERR_METHOD_NOT_FOUND, msg);
        return;
    }
    if (!r->request) {
        char msg[300];
        snprintf(msg, sizeof msg, "'%.200s' is a notification: it must not carry an id", m->method);
        srv_reply_error(s, m->id, LSP_ERR_INVALID_REQUEST, msg);
        return;
    }
    uint64_t t0 = srv_now_ns();
    json_t *result = NULL;
    fail f = { 0, "" };
    int rc = r->fn(s, m->id, m->params, &result, &f);
    if (rc == SRV_DEFERRED) return;     /* answered when the work is done */
    if (rc == 0) {
        srv_reply_result(s, m->id, result);
    } else {
        srv_warn("%s: %s", m->method, f.msg);
        srv_reply_error(s, m->id, f.code, f.msg);
    }
    json_decref(result);
    srv_stats_latency(&s->stats, (srv_now_ns() - t0) / 1000);
}

static void handle_notification(srv_lsp *s, lsp_msg *m)
{
    s->stats.notifications++;
    if (!strcmp(m->method, "exit")) {
        s->state = SRV_EXITED;
        return;
    }
    if (s->state == SRV_UNINITIALIZED || s->state == SRV_SHUTDOWN) {
        srv_debug("dropped %s: server %s", m->method,
                  s->state == SRV_SHUTDOWN ? "is shut down" : "not initialized");
        return;
    }
    const struct route *r = route_for(m->method);
    if (!r) {
        /* $/ notifications are optional by spec: ignore them quietly. */
        if (strncmp(m->method, "$/", 2)) srv_warn("ignored unknown notification '%s'", m->method);
        return;
    }
    if (r->request) {
        srv_warn("ignored '%s' sent as a notification: it is a request and needs an id", m->method);
        return;
    }
    fail f = { 0, "" };
    json_t *unused = NULL;
    if (r->fn(s, NULL, m->params, &unused, &f)) srv_warn("%s: %s", m->method, f.msg);
    json_decref(unused);
}

/* The methods of typing, whose loop-thread time is the "protocol" stage of
 * a keystroke (sparkd/stats completions.stage_ms). */
static int typing_method(const char *m)
{
    return !strcmp(m, "textDocument/didChange") || !strcmp(m, "textDocument/inlineCompletion") ||
           !strcmp(m, "textDocument/completion");
}

void srv_lsp_handle(srv_lsp *s, const char *body, size_t len)
{
    if (s->state == SRV_EXITED) return;
    uint64_t t0 = srv_now_ns();
    double gram0 = s->comp.gram_ms;
    lsp_msg m;
    lsp_rpc_error e;
    if (lsp_msg_decode(body, len, &m, &e) != 0) {
        srv_warn("rejected message: %s", e.message);
        srv_reply_error(s, e.id, e.code, e.message);
        lsp_rpc_error_clear(&e);
        return;
    }
    switch (m.kind) {
    case LSP_MSG_REQUEST: handle_request(s, &m); break;
    case LSP_MSG_NOTIFICATION: handle_notification(s, &m); break;
    case LSP_MSG_RESPONSE: handle_response(s, &m); break;
    }
    if (m.method && typing_method(m.method))     /* less the syntax context, counted as grammars */
        s->comp.protocol_ms += (srv_now_ns() - t0) / 1e6 - (s->comp.gram_ms - gram0);
    lsp_msg_clear(&m);
}

void srv_lsp_bad_frame(srv_lsp *s, const char *reason)
{
    s->stats.bad_frames++;
    srv_warn("bad frame: %s; skipped to the next header", reason);
}

// ---------------------------------------------------------------- object

srv_lsp *srv_lsp_new(srv_config *cfg, srv_send_fn send, void *ud)
{
    srv_lsp *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = cfg;
    s->send = send;
    s->ud = ud;
    s->enc = LSP_ENC_UTF16;
    srv_stats_init(&s->stats);
    srv_stats_init(&s->comp.latency);
    srv_log_set_hook(trace_hook, s);
    return s;
}

void srv_lsp_free(srv_lsp *s)
{
    if (!s) return;
    srv_log_set_hook(NULL, NULL);
    while (s->n_out) {      /* no reply will come: let each owner clean up */
        out_request r = s->out_reqs[--s->n_out];
        r.fn(s, r.ud, NULL, NULL);
    }
    free(s->out_reqs);
    srv_progress_free(s);
    while (s->n_docs) drop_doc(s, &s->docs[s->n_docs - 1]);
    json_decref(s->comp.empty_reasons);
    free(s->docs);
    free(s);
}

srv_state srv_lsp_state(const srv_lsp *s) { return s->state; }
int srv_lsp_exit_code(const srv_lsp *s) { return s->got_shutdown ? 0 : 1; }
const srv_stats *srv_lsp_stats(const srv_lsp *s) { return &s->stats; }
lsp_encoding srv_lsp_encoding(const srv_lsp *s) { return s->enc; }

const srv_doc *srv_lsp_document(const srv_lsp *s, const char *uri, int *version)
{
    open_doc *d = srv_find_doc(s, uri, strlen(uri));
    if (d && version) *version = d->version;
    return d ? d->doc : NULL;
}

void srv_lsp_set_sched(srv_lsp *s, srv_sched *sched)
{
    s->sched = sched;
    if (sched) srv_sched_set_progress(sched, srv_rewrite_progress);   /* rewrites' $/progress */
}
