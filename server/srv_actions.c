/* srv_actions.c — refactor suggestions as code actions.
 *
 * textDocument/codeAction answers at once with the actions that apply at the
 * range (no model run); codeAction/resolve computes the chosen one's edit
 * with the engine and answers when it is done. Two families:
 *   - insertions, fill-in-the-middle tasks shaped by what is put around the
 *     hole: a comment marker (explain the line), an opened docstring
 *     (document a function), an emptied body (write it);
 *   - rewrites of a region (the selected lines, or the enclosing function
 *     when nothing is selected): simplify, add type hints, add error
 *     handling, and "rewrite with instruction…", which carries the
 *     sparkd.rewrite command (srv_rewrite.c). They run in the background
 *     class of the scheduler (completions go first) with the region as the
 *     prompt-lookup draft source, and report $/progress.
 * Every result is checked on the worker: the document with the edit applied
 * must parse where it parsed before (tree-sitter), else the action yields no
 * edit. Edits are minimal: the changed lines only, never the whole file.
 *
 * An action that yields no edit (the document changed, the model wrote
 * nothing or the same code, the result does not parse) resolves to itself
 * without `edit`, which applies nothing (LSP: the edit is optional); the
 * reason is logged. Errors are kept for malformed requests and cancellation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lsp_rpc.h"
#include "srv_internal.h"
#include "srv_log.h"

enum { ACT_COMMENT, ACT_DOCSTRING, ACT_BODY, ACT_SIMPLIFY, ACT_TYPE_HINTS, ACT_ERRORS, ACT_REWRITE, ACT_COUNT };
#define FIRST_REWRITE ACT_SIMPLIFY
_Static_assert(ACT_REWRITE == SRV_ACT_REWRITE, "srv_internal.h names the rewrite action");

/* A rewrite's region: at most this many lines and bytes (the model's
 * context must hold it twice, as prompt and as answer). */
#define REGION_MAX_LINES SRV_REWRITE_MAX_LINES
#define REGION_MAX_BYTES (16u << 10)

static const struct {
    const char *title, *kind, *instruction;
    int python_only;
} ACTIONS[ACT_COUNT] = {
    [ACT_COMMENT] = { "sparkd: explain this line in a comment", "refactor.rewrite", NULL, 0 },
    [ACT_DOCSTRING] = { "sparkd: add a docstring", "refactor.rewrite", NULL, 1 },
    [ACT_BODY] = { "sparkd: write this body", "refactor.rewrite", NULL, 0 },
    [ACT_SIMPLIFY] = { "sparkd: simplify", "refactor.rewrite",
                       "Simplify this code without changing what it does.", 0 },
    [ACT_TYPE_HINTS] = { "sparkd: add type hints", "refactor.rewrite",
                         "Add type hints to the function signatures and to variables where they help.", 1 },
    [ACT_ERRORS] = { "sparkd: add error handling", "refactor.rewrite",
                     "Add error handling: check what can fail and handle or report each failure.", 0 },
    [ACT_REWRITE] = { "sparkd: rewrite with instruction…", "refactor.rewrite",
                      "Improve this code: make it clearer without changing what it does.", 0 },
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

/* Which insertions apply to a line of text (bit mask). */
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

/* The byte span of lines [line, end_line): from the first's start to the
 * start of the line after the last (the document's end for the last line). */
static void lines_span(const srv_doc *d, uint32_t line, uint32_t end_line, size_t *a, size_t *b)
{
    *a = srv_doc_offset(d, LSP_ENC_UTF8, line, 0, NULL);
    *b = end_line >= srv_doc_line_count(d) ? srv_doc_len(d) : srv_doc_offset(d, LSP_ENC_UTF8, end_line, 0, NULL);
}

/* The region a rewrite of the range works on, as lines [*line, *end):
 * the selected lines; for an empty selection, the enclosing function (else
 * class) by the syntax tree. 0, or -1 when there is none or it is too big. */
int srv_rewrite_region(open_doc *d, const uint32_t r[4], uint32_t *line, uint32_t *end)
{
    size_t nl = srv_doc_line_count(d->doc);
    if (r[0] != r[2] || r[1] != r[3]) {
        *line = r[0];
        *end = r[3] == 0 && r[2] > r[0] ? r[2] : r[2] + 1;
    } else {
        size_t off = srv_doc_offset(d->doc, LSP_ENC_UTF8, r[0], r[1], NULL);
        gram_ctx *c = d->gram ? gram_context_new(d->gram, off) : NULL;
        int ok = c && c->has_tree && c->scope_kind != GRAM_SYM_NONE && !c->local_tree;
        uint32_t l0 = 0, l1 = 0, ch;
        if (ok) {
            srv_doc_position(d->doc, LSP_ENC_UTF8, c->scope_start, &l0, &ch);
            srv_doc_position(d->doc, LSP_ENC_UTF8, c->scope_end, &l1, &ch);
            if (ch) l1++;    /* the scope's last line, whole */
        }
        gram_context_free(c);
        if (!ok) return -1;
        *line = l0;
        *end = l1;
    }
    if (*end > nl) *end = (uint32_t)nl;
    if (*line >= *end || *end - *line > REGION_MAX_LINES) return -1;
    size_t a, b;
    lines_span(d->doc, *line, *end, &a, &b);
    return b - a == 0 || b - a > REGION_MAX_BYTES ? -1 : 0;
}

int srv_code_action(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)id;
    const char *uri;
    size_t ulen;
    json_t *td = srv_text_document(params, &uri, &ulen, f);
    json_t *range = td ? srv_member(params, "params", "range", JSON_OBJECT, f) : NULL;
    json_t *start = range ? srv_member(range, "range", "start", JSON_OBJECT, f) : NULL;
    json_t *end = start ? srv_member(range, "range", "end", JSON_OBJECT, f) : NULL;
    uint32_t r[4];
    if (!end || srv_get_uint32(start, "range.start", "line", &r[0], f) ||
        srv_get_uint32(start, "range.start", "character", &r[1], f) ||
        srv_get_uint32(end, "range.end", "line", &r[2], f) || srv_get_uint32(end, "range.end", "character", &r[3], f))
        return -1;
    if (r[2] < r[0] || (r[2] == r[0] && r[3] < r[1]))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "range end %u:%u is before its start %u:%u", r[2], r[3], r[0], r[1]);
    json_t *ctx = json_object_get(params, "context");
    if (ctx && !json_is_object(ctx)) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.context must be an object");
    open_doc *d = srv_find_doc(s, uri, ulen);
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", uri);
    json_t *list = json_array();
    *result = list;
    uint32_t line = r[0];
    if (!s->sched || d->out_of_sync || line >= srv_doc_line_count(d->doc)) return 0;
    size_t a, b, n;
    line_span(d->doc, line, &a, &b);
    char *ln = srv_copy_range(d->doc, a, b, &n);
    if (!ln) return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    unsigned m = applicable(d->language, ln, n);
    free(ln);
    uint32_t rl = 0, re = 0;
    if (!srv_rewrite_region(d, r, &rl, &re))
        for (int k = FIRST_REWRITE; k < ACT_COUNT; k++)
            if (!ACTIONS[k].python_only || !strcmp(d->language, "python")) m |= 1u << k;
    json_t *only = json_is_object(ctx) ? json_object_get(ctx, "only") : NULL;
    for (int k = 0; k < ACT_COUNT; k++) {
        if (!(m & (1u << k)) || !kind_wanted(only, ACTIONS[k].kind)) continue;
        json_t *act = json_pack("{s:s,s:s,s:{s:s%,s:i,s:i,s:i}}", "title", ACTIONS[k].title,
            "kind", ACTIONS[k].kind, "data", "uri", uri, ulen, "version", d->version, "action", k,
            "line", (json_int_t)(k >= FIRST_REWRITE ? rl : line));
        if (act && k >= FIRST_REWRITE)
            json_object_set_new(json_object_get(act, "data"), "end", json_integer(re));
        if (act && k == ACT_REWRITE)    /* editors may ask the user and fill in the instruction */
            json_object_set_new(act, "command", json_pack("{s:s,s:s,s:[{s:s%,s:{s:{s:i,s:i},s:{s:i,s:i}}}]}",
                "title", ACTIONS[k].title, "command", SRV_REWRITE_COMMAND, "arguments", "uri", uri, ulen,
                "range", "start", "line", (json_int_t)rl, "character", 0, "end", "line", (json_int_t)re,
                "character", 0));
        json_array_append_new(list, act);
    }
    return 0;
}

// ---------------------------------------------------------------- results (worker thread)

/* The edit's new text: every generated line indented like the hole. */
static char *edit_text(int act, const char *indent, const char *text, size_t len, size_t *out_len)
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
    *out_len = w;
    return out;
}

/* 1 when the document parsed and no longer does with doc[a, b) replaced by
 * text: an incremental reparse of the edited tree. */
static int breaks_parse(const gram_lang *lang, const char *doc, size_t len, size_t a, size_t b,
                        const char *text, size_t n)
{
    if (!lang || !gram_lang_has_grammar(lang)) return 0;
    gram_doc *g = gram_doc_new(lang, doc, len);
    int broke = 0;
    if (g && gram_doc_parse(g) && !gram_doc_has_error(g) && !gram_doc_edit(g, a, b, text, n) && gram_doc_parse(g))
        broke = gram_doc_has_error(g);
    gram_doc_free(g);
    return broke;
}

/* srv_job_req.post: the model's text becomes the final replacement of
 * doc[edit_a, edit_b), which must parse where the document did. */
static void action_post(srv_job_req *req, srv_job_res *res)
{
    comp_req *cr = req->user;
    size_t n = res->len;
    char *t = NULL;
    if (cr->action_kind >= FIRST_REWRITE) {     /* whole lines: keep the region's last break */
        int want_nl = cr->edit_b > cr->edit_a && cr->doc[cr->edit_b - 1] == '\n';
        t = malloc(n + 2);
        if (t) {
            memcpy(t, res->text, n);
            if (want_nl && (!n || t[n - 1] != '\n')) t[n++] = '\n';
            t[n] = 0;
        }
    } else {
        const char *marker = req->line_comment;
        char *body = res->text, *prefixed = NULL;
        size_t blen = res->len;
        if (cr->action_kind == ACT_COMMENT) {   /* the marker was in the prompt: put it back */
            prefixed = malloc(blen + strlen(marker) + 2);
            if (prefixed) blen = (size_t)sprintf(prefixed, "%s %.*s", marker, (int)blen, body);
            body = prefixed;
        }
        t = body ? edit_text(cr->action_kind, cr->indent, body, blen, &n) : NULL;
        free(prefixed);
    }
    free(res->text);
    res->text = t;
    res->len = t ? n : 0;
    if (!t) {
        res->empty = 1;
        res->reason = "out of memory";
    } else if (n == cr->edit_b - cr->edit_a && !memcmp(t, cr->doc + cr->edit_a, n)) {
        res->empty = 1;
        res->reason = "the model left the code unchanged";
    } else if (breaks_parse(cr->lang, cr->doc, cr->doc_len, cr->edit_a, cr->edit_b, t, n)) {
        res->empty = 1;
        res->reason = "filtered: the result does not parse (the original did)";
    }
}

// ---------------------------------------------------------------- resolve

/* Builds the fill-in-the-middle request of an insertion at `line`. */
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
        cut_pre = cut_suf = a;
        tail = "\n";
        req->max_lines = 1;
    } else if (act == ACT_DOCSTRING) {      /* def f():\n<indent+4>"""?"""\n */
        snprintf(head, sizeof head, "\"\"\"");
        cut_pre = cut_suf = next;
        tail = "\"\"\"\n";
        ind += 4;
        req->max_lines = 6;
    } else {                                /* the line `pass` becomes the body */
        head[0] = 0;
        cut_pre = a;
        cut_suf = next;
        tail = "\n";
        req->max_lines = 12;
    }
    cr->edit_a = cut_pre;
    cr->edit_b = cut_suf;
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

/* Builds a rewrite of doc[edit_a, edit_b): the region and what surrounds it. */
static int build_rewrite(open_doc *d, const char *instruction, srv_job_req *req, comp_req *cr)
{
    const char *doc = cr->doc;
    size_t rl = cr->edit_b - cr->edit_a;
    req->prefix = strndup(doc, cr->edit_a);
    req->prefix_len = cr->edit_a;
    req->original = strndup(doc + cr->edit_a, rl);
    req->original_len = rl;
    req->suffix = strndup(doc + cr->edit_b, cr->doc_len - cr->edit_b);
    req->suffix_len = cr->doc_len - cr->edit_b;
    req->instruction = strdup(instruction);
    req->language = strdup(d->language);
    size_t lines = 1;
    for (size_t i = 0; i < rl; i++) lines += doc[cr->edit_a + i] == '\n';
    /* room for a rewrite somewhat longer than the original (~3 bytes a token) */
    req->max_tokens = (int)(rl / 2 + 64 < 2048 ? rl / 2 + 64 : 2048);
    req->max_lines = (int)(lines * 2 + 8);
    req->background = 1;
    return req->prefix && req->original && req->suffix && req->instruction && req->language ? 0 : -1;
}

static void comp_req_free(comp_req *cr)
{
    json_decref(cr->action);
    json_decref(cr->command_id);
    free(cr->indent);
    free(cr->doc);
    free(cr);
}

static void comp_req_free_user(void *cr) { comp_req_free(cr); }

/* Submits action `act` on d: an insertion at line, or a rewrite of lines
 * [line, end_line). */
int srv_rewrite_submit(srv_lsp *s, open_doc *d, int act, uint32_t line, uint32_t end_line,
                       const char *instruction, json_t *id, json_t *action_json, json_t *command_id,
                       json_t *work_token, fail *f)
{
    srv_job_req *req = calloc(1, sizeof *req);
    comp_req *cr = calloc(1, sizeof *cr);
    if (!req || !cr) { free(req); free(cr); return srv_failf(f, LSP_ERR_INTERNAL, "out of memory"); }
    *cr = (comp_req){ .kind = KIND_ACTION, .line = line, .version = d->version, .action = json_incref(action_json),
                      .edit_line = line, .action_kind = act, .lang = gram_lang_find(d->language, d->uri),
                      .command_id = json_incref(command_id) };
    req->user = cr;
    req->user_free = comp_req_free_user;
    req->id = json_incref(id);
    req->uri = strndup(d->uri, d->uri_len);
    req->path = req->uri ? srv_uri_path(req->uri) : NULL;
    req->temperature = (float)s->cfg->temp;
    req->seed = s->cfg->seed;
    req->deadline_ms = act >= FIRST_REWRITE ? 0 : 10000;    /* rewrites: progress and cancel instead */
    req->post = action_post;
    req->line_comment = comment_marker(d->language);
    cr->doc = srv_doc_text(d->doc, &cr->doc_len);
    int bad = !req->uri || !req->path || !cr->doc;
    if (!bad && act >= FIRST_REWRITE) {
        lines_span(d->doc, line, end_line, &cr->edit_a, &cr->edit_b);
        bad = build_rewrite(d, instruction ? instruction : ACTIONS[act].instruction, req, cr);
    } else if (!bad) {
        bad = build(s, d, act, line, req, cr);
    }
    if (bad) {
        comp_req_free(cr);
        req->user = NULL;
        srv_job_req_free(req);
        return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    }
    if (req->background) {
        cr->job_id = req->id;
        cr->next_rw = s->rewrites;
        s->rewrites = cr;
        srv_rewrite_begin(s, cr, work_token, ACTIONS[act].title);
    }
    srv_sched_submit(s->sched, req);
    return SRV_DEFERRED;
}

int srv_code_action_resolve(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    json_t *data = srv_member(params, "params", "data", JSON_OBJECT, f);
    json_t *u = data ? srv_member(data, "data", "uri", JSON_STRING, f) : NULL;
    json_t *v = u ? srv_member(data, "data", "version", JSON_INTEGER, f) : NULL;
    json_t *k = v ? srv_member(data, "data", "action", JSON_INTEGER, f) : NULL;
    uint32_t line, end = 0;
    if (!k || srv_get_uint32(data, "data", "line", &line, f)) return -1;
    json_int_t act = json_integer_value(k);
    if (act < 0 || act >= ACT_COUNT) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "data.action %lld is not a sparkd action", (long long)act);
    if (act >= FIRST_REWRITE && srv_get_uint32(data, "data", "end", &end, f)) return -1;
    if (act >= FIRST_REWRITE && (end <= line || end - line > REGION_MAX_LINES))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "data.end must be after data.line, at most %d lines", REGION_MAX_LINES);
    open_doc *d = srv_find_doc(s, json_string_value(u), json_string_length(u));
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "%s is not open", json_string_value(u));
    if (json_integer_value(v) != d->version || d->out_of_sync || line >= srv_doc_line_count(d->doc) || !s->sched) {
        /* the document moved on: the action no longer knows where to go */
        srv_warn("codeAction/resolve: %s changed since the action was offered; no edit", json_string_value(u));
        *result = json_incref(params);
        return 0;
    }
    json_t *copy = json_deep_copy(params);
    if (!copy) return srv_failf(f, LSP_ERR_INTERNAL, "out of memory");
    int rc = srv_rewrite_submit(s, d, (int)act, line, end, NULL, id, copy, NULL, NULL, f);
    json_decref(copy);
    return rc;
}

// ---------------------------------------------------------------- answer (loop thread)

/* The edit as LSP wants it: only the lines that changed between
 * doc[edit_a, edit_b) and text; one TextEdit (or none when nothing did). */
static json_t *minimal_edit(srv_lsp *s, open_doc *d, const comp_req *cr, const char *text, size_t n)
{
    const char *old = cr->doc + cr->edit_a;
    size_t on = cr->edit_b - cr->edit_a, p = 0, q = 0;
    for (size_t i = 0; i < on && i < n && old[i] == text[i]; i++)   /* common whole lines in front */
        if (old[i] == '\n') p = i + 1;
    while (q < on - p && q < n - p && old[on - 1 - q] == text[n - 1 - q]) q++;     /* ... and behind, */
    while (q && !((on - q == p || old[on - q - 1] == '\n') && (n - q == p || text[n - q - 1] == '\n')))
        q--;                                                    /* from a line start in both */
    uint32_t l0, c0, l1, c1;
    srv_doc_position(d->doc, s->enc, cr->edit_a + p, &l0, &c0);
    srv_doc_position(d->doc, s->enc, cr->edit_b - q, &l1, &c1);
    json_t *changes = json_object();
    json_object_set_new(changes, d->uri, json_pack("[{s:{s:{s:i,s:i},s:{s:i,s:i}},s:s%}]",
        "range", "start", "line", (json_int_t)l0, "character", (json_int_t)c0,
                 "end", "line", (json_int_t)l1, "character", (json_int_t)c1,
        "newText", text + p, n - p - q));
    return json_pack("{s:o}", "changes", changes);
}

static void unlink_rewrite(srv_lsp *s, comp_req *cr)
{
    for (comp_req **pp = &s->rewrites; *pp; pp = &(*pp)->next_rw)
        if (*pp == cr) { *pp = cr->next_rw; break; }
}

void srv_action_done(srv_lsp *s, srv_job_req *req, srv_job_res *res)
{
    comp_req *cr = req->user;
    json_t *action = cr->action;
    json_t *answer_id = cr->command_id ? cr->command_id : req->id;
    unlink_rewrite(s, cr);
    if (s->state == SRV_RUNNING) {     /* the progress ends before the answer */
        if (res->cancelled) {
            srv_rewrite_end(s, cr, "cancelled");
            srv_reply_error(s, answer_id, LSP_ERR_REQUEST_CANCELLED, "cancelled by $/cancelRequest");
        } else {
            open_doc *d = srv_find_doc(s, req->uri, strlen(req->uri));
            int stale = !d || d->version != cr->version;
            if (res->empty || stale) {
                const char *why = res->empty ? res->reason : "the document changed meanwhile";
                srv_rewrite_end(s, cr, why);
                srv_info("%s %s: no edit (%s%s%s)", cr->command_id ? "workspace/executeCommand" : "codeAction/resolve",
                         req->uri, why, res->detail[0] ? ": " : "", res->detail);
                if (cr->command_id) {
                    char msg[400];
                    snprintf(msg, sizeof msg, "no rewrite: %s%s%.200s", why, res->detail[0] ? ": " : "", res->detail);
                    srv_reply_error(s, answer_id, LSP_ERR_REQUEST_FAILED, msg);
                } else {
                    srv_reply_result(s, answer_id, action);
                }
            } else {
                json_t *edit = minimal_edit(s, d, cr, res->text, res->len);
                srv_info("%s %s: %d tokens in %.0f ms (%llu of %llu drafted accepted, %llu steps)",
                         ACTIONS[cr->action_kind].title, req->uri, res->generated_tokens, res->decode_ms + res->prefill_ms,
                         (unsigned long long)res->accepted, (unsigned long long)res->drafted,
                         (unsigned long long)res->steps);
                srv_rewrite_end(s, cr, "done");
                if (cr->command_id) {
                    srv_rewrite_apply(s, cr, edit, ACTIONS[cr->action_kind].title);
                } else {
                    json_object_set(action, "edit", edit);
                    srv_reply_result(s, answer_id, action);
                }
                json_decref(edit);
            }
        }
    }
    srv_rewrite_end(s, cr, NULL);
    comp_req_free(cr);
    req->user = NULL;
    srv_job_req_free(req);
    srv_job_res_clear(res);
}
