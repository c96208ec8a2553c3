/* srv_actions.c — refactor suggestions as code actions.
 *
 * textDocument/codeAction answers at once with the actions that apply at the
 * range (no model run); codeAction/resolve computes the chosen one's edit
 * with the completion engine and answers when it is done. Every action is a
 * fill-in-the-middle task the code model was trained for, shaped by what is
 * put around the hole: a comment marker (explain the next line), an opened
 * docstring (document a function), an emptied body (write it). Edits are
 * minimal: an inserted or replaced line range, never the whole file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lsp_rpc.h"
#include "srv_internal.h"
#include "srv_log.h"

enum { ACT_COMMENT, ACT_DOCSTRING, ACT_BODY, ACT_COUNT };

static const struct {
    const char *title, *kind;
} ACTIONS[ACT_COUNT] = {
    [ACT_COMMENT] = { "sparkd: explain this line in a comment", "refactor.rewrite" },
    [ACT_DOCSTRING] = { "sparkd: add a docstring", "refactor.rewrite" },
    [ACT_BODY] = { "sparkd: write this body", "refactor.rewrite" },
};

/* The line's bytes [a, b) without its break. */
static void line_span(const srv_doc *d, uint32_t line, size_t *a, size_t *b)
{
    *a = srv_doc_offset(d, LSP_ENC_UTF8, line, 0, NULL);
    *b = srv_doc_offset(d, LSP_ENC_UTF8, line, UINT32_MAX, NULL);
}

static const char *comment_marker(const char *lang)
{
    static const char *const HASH[] = { "python", "shellscript", "sh", "bash", "ruby", "perl", "r", "yaml",
                                        "toml", "makefile", "cmake", "dockerfile", "elixir", "julia" };
    static const char *const DASH[] = { "lua", "sql", "haskell", "ada" };
    for (size_t i = 0; i < sizeof HASH / sizeof *HASH; i++) if (!strcmp(lang, HASH[i])) return "#";
    for (size_t i = 0; i < sizeof DASH / sizeof *DASH; i++) if (!strcmp(lang, DASH[i])) return "--";
    return "//";
}

static size_t indent_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    return i;
}

/* Which actions apply to a line of text (bit mask). */
static unsigned applicable(const char *lang, const char *ln, size_t n)
{
    size_t ind = indent_len(ln, n);
    const char *t = ln + ind;
    size_t tn = n - ind;
    while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\t' || t[tn - 1] == '\r')) tn--;
    unsigned m = 0;
    if (tn) m |= 1u << ACT_COMMENT;
    if (!strcmp(lang, "python") && tn && t[tn - 1] == ':' &&
        (!strncmp(t, "def ", 4) || !strncmp(t, "async def ", 10) || !strncmp(t, "class ", 6)))
        m |= 1u << ACT_DOCSTRING;
    if ((tn == 4 && !memcmp(t, "pass", 4)) || (tn == 3 && !memcmp(t, "...", 3)) ||
        (tn >= 4 && memmem(t, tn, "TODO", 4)))
        m |= 1u << ACT_BODY;
    return m;
}

/* Does an action kind pass the client's context.only filter? */
static int kind_wanted(json_t *only, const char *kind)
{
    if (!json_is_array(only) || !json_array_size(only)) return 1;
    size_t i;
    json_t *o;
    json_array_foreach(only, i, o) {
        const char *k = json_string_value(o);
        size_t n = k ? strlen(k) : 0;
        if (k && !strncmp(kind, k, n) && (kind[n] == 0 || kind[n] == '.')) return 1;
    }
    return 0;
}

int srv_code_action(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)id;
    const char *uri;
    size_t ulen;
    json_t *td = srv_text_document(params, &uri, &ulen, f);
    json_t *range = td ? srv_member(params, "params", "range", JSON_OBJECT, f) : NULL;
    json_t *start = range ? srv_member(range, "range", "start", JSON_OBJECT, f) : NULL;
    uint32_t line;
    if (!start || srv_get_uint32(start, "range.start", "line", &line, f)) return -1;
    json_t *ctx = json_object_get(params, "context");
    if (ctx && !json_is_object(ctx)) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.context must be an object");
    open_doc *d = srv_find_doc(s, uri, ulen);
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", uri);
    json_t *list = json_array();
    *result = list;
    if (!s->sched || line >= srv_doc_line_count(d->doc)) return 0;
    size_t a, b, n;
    line_span(d->doc, line, &a, &b);
    char *ln = srv_copy_range(d->doc, a, b, &n);
    if (!ln) return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    unsigned m = applicable(d->language, ln, n);
    free(ln);
    json_t *only = json_is_object(ctx) ? json_object_get(ctx, "only") : NULL;
    for (int k = 0; k < ACT_COUNT; k++) {
        if (!(m & (1u << k)) || !kind_wanted(only, ACTIONS[k].kind)) continue;
        json_array_append_new(list, json_pack("{s:s,s:s,s:{s:s%,s:i,s:i,s:i}}", "title", ACTIONS[k].title,
            "kind", ACTIONS[k].kind, "data", "uri", uri, ulen, "version", d->version, "action", k,
            "line", (json_int_t)line));
    }
    return 0;
}

/* Builds the fill-in-the-middle request of an action at `line`. */
static int build(srv_lsp *s, open_doc *d, int act, uint32_t line, srv_job_req *req, comp_req *cr)
{
    size_t a, b, n, plen, slen;
    line_span(d->doc, line, &a, &b);
    char *ln = srv_copy_range(d->doc, a, b, &n);
    size_t next = srv_doc_offset(d->doc, LSP_ENC_UTF8, line + 1, 0, NULL);
    if (!ln) return -1;
    size_t ind = indent_len(ln, n);
    const char *marker = comment_marker(d->language);
    char head[64];
    const char *tail;
    size_t cut_pre, cut_suf;
    if (act == ACT_COMMENT) {               /* <indent># ? \n<the line> */
        snprintf(head, sizeof head, "%s ", marker);
        cut_pre = a;
        cut_suf = a;
        tail = "\n";
        cr->edit_line = line;
        req->max_lines = 1;
    } else if (act == ACT_DOCSTRING) {      /* def f():\n<indent+4>"""?"""\n */
        snprintf(head, sizeof head, "\"\"\"");
        cut_pre = next;
        cut_suf = next;
        tail = "\"\"\"\n";
        cr->edit_line = line + 1;
        ind += 4;
        req->max_lines = 6;
    } else {                                /* the line `pass` becomes the body */
        head[0] = 0;
        cut_pre = a;
        cut_suf = next;
        tail = "\n";
        cr->edit_line = line;
        req->max_lines = 12;
    }
    char *pre = srv_copy_range(d->doc, 0, cut_pre, &plen);
    char *suf = srv_copy_range(d->doc, cut_suf, srv_doc_len(d->doc), &slen);
    size_t hl = strlen(head), tl = strlen(tail);
    req->prefix = pre ? malloc(plen + ind + hl + 1) : NULL;
    req->suffix = suf ? malloc(slen + tl + 1) : NULL;
    cr->indent = malloc(ind + 1);
    int ok = req->prefix && req->suffix && cr->indent;
    if (ok) {
        /* indentation: the line's own, or a level deeper for a docstring */
        for (size_t i = 0; i < ind; i++) cr->indent[i] = i < n && (ln[i] == ' ' || ln[i] == '\t') ? ln[i] : ' ';
        cr->indent[ind] = 0;
        req->prefix_len = (size_t)sprintf(req->prefix, "%.*s%s%s", (int)plen, pre, cr->indent, head);
        memcpy(req->suffix, tail, tl);
        memcpy(req->suffix + tl, suf, slen);
        req->suffix_len = tl + slen;
        req->suffix[req->suffix_len] = 0;
    }
    free(pre);
    free(suf);
    free(ln);
    req->max_tokens = act == ACT_COMMENT ? 32 : s->cfg->n_predict * 2;
    return ok ? 0 : -1;
}

int srv_code_action_resolve(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    json_t *data = srv_member(params, "params", "data", JSON_OBJECT, f);
    json_t *u = data ? srv_member(data, "data", "uri", JSON_STRING, f) : NULL;
    json_t *v = u ? srv_member(data, "data", "version", JSON_INTEGER, f) : NULL;
    json_t *k = v ? srv_member(data, "data", "action", JSON_INTEGER, f) : NULL;
    uint32_t line;
    if (!k || srv_get_uint32(data, "data", "line", &line, f)) return -1;
    json_int_t act = json_integer_value(k);
    if (act < 0 || act >= ACT_COUNT) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "data.action %lld is not a sparkd action", (long long)act);
    open_doc *d = srv_find_doc(s, json_string_value(u), json_string_length(u));
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", json_string_value(u));
    if (json_integer_value(v) != d->version || line >= srv_doc_line_count(d->doc) || !s->sched) {
        /* the document moved on: the action no longer knows where to go */
        srv_warn("codeAction/resolve: %s changed since the action was offered; no edit", json_string_value(u));
        *result = json_incref(params);
        return 0;
    }
    srv_job_req *req = calloc(1, sizeof *req);
    comp_req *cr = calloc(1, sizeof *cr);
    if (!req || !cr) { free(req); free(cr); return srv_failf(f, LSP_ERR_INTERNAL, "out of memory"); }
    *cr = (comp_req){ KIND_ACTION, line, 0, 0, d->version, json_deep_copy(params), 0, (int)act, NULL };
    req->user = cr;
    req->id = json_incref(id);
    req->uri = strndup(json_string_value(u), json_string_length(u));
    req->path = req->uri ? srv_uri_path(req->uri) : NULL;
    req->temperature = (float)s->cfg->temp;
    req->seed = s->cfg->seed;
    req->deadline_ms = 10000;
    if (!req->uri || !req->path || !cr->action || build(s, d, (int)act, line, req, cr)) {
        json_decref(cr->action);
        free(cr->indent);
        free(cr);
        req->user = NULL;
        srv_job_req_free(req);
        return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    }
    srv_sched_submit(s->sched, req);
    return SRV_DEFERRED;
}

/* The edit's new text: every generated line indented like the hole. */
static char *edit_text(int act, const char *indent, const char *text, size_t len)
{
    size_t il = strlen(indent), lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    char *out = malloc(len + lines * (il + 4) + 16);
    if (!out) return NULL;
    size_t w = 0;
    w += (size_t)sprintf(out + w, "%s%s", indent, act == ACT_DOCSTRING ? "\"\"\"" : "");
    memcpy(out + w, text, len);
    w += len;
    if (act == ACT_DOCSTRING) {
        if (memchr(text, '\n', len)) w += (size_t)sprintf(out + w, "\n%s", indent);
        w += (size_t)sprintf(out + w, "\"\"\"");
    }
    out[w++] = '\n';
    out[w] = 0;
    return out;
}

void srv_action_done(srv_lsp *s, srv_job_req *req, srv_job_res *res)
{
    comp_req *cr = req->user;
    json_t *action = cr->action;
    if (s->state == SRV_RUNNING) {
        if (res->cancelled) {
            srv_reply_error(s, req->id, LSP_ERR_REQUEST_CANCELLED, "cancelled by $/cancelRequest");
        } else {
            open_doc *d = srv_find_doc(s, req->uri, strlen(req->uri));
            if (res->empty || !d || d->version != cr->version) {
                srv_info("codeAction/resolve %s: no edit (%s)", req->uri,
                         res->empty ? res->reason : "the document changed meanwhile");
            } else {
                const char *marker = comment_marker(d->language);
                char *body = res->text;
                char *prefixed = NULL;
                size_t blen = res->len;
                if (cr->action_kind == ACT_COMMENT) {     /* the marker was in the prompt: put it back */
                    prefixed = malloc(blen + strlen(marker) + 2);
                    if (prefixed) blen = (size_t)sprintf(prefixed, "%s %.*s", marker, (int)blen, body);
                    body = prefixed;
                }
                char *nt = body ? edit_text(cr->action_kind, cr->indent, body, blen) : NULL;
                uint32_t end_line = cr->action_kind == ACT_BODY ? cr->edit_line + 1 : cr->edit_line;
                json_t *changes = json_object();
                json_object_set_new(changes, req->uri, json_pack("[{s:{s:{s:i,s:i},s:{s:i,s:i}},s:s}]",
                    "range", "start", "line", (json_int_t)cr->edit_line, "character", 0,
                             "end", "line", (json_int_t)end_line, "character", 0, "newText", nt ? nt : ""));
                json_object_set_new(action, "edit", json_pack("{s:o}", "changes", changes));
                free(nt);
                free(prefixed);
            }
            srv_reply_result(s, req->id, action);
        }
    }
    json_decref(action);
    free(cr->indent);
    free(cr);
    req->user = NULL;
    srv_job_req_free(req);
    srv_job_res_clear(res);
}
