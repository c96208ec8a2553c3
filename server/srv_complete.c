/* srv_complete.c — textDocument/inlineCompletion and textDocument/completion:
 * from a request to a scheduled engine job and back to an answer, plus the
 * forward-typing fast path and the acceptance notifications.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lsp_rpc.h"
#include "srv_internal.h"
#include "srv_log.h"


void srv_shown_clear(shown_suggestion *sh)
{
    free(sh->text);
    memset(sh, 0, sizeof *sh);
}

static void count_empty(srv_lsp *s, const char *reason)
{
    comp_stats *c = &s->comp;
    c->empty++;
    if (!c->empty_reasons) c->empty_reasons = json_object();
    json_t *n = json_object_get(c->empty_reasons, reason);
    json_object_set_new(c->empty_reasons, reason, json_integer(n ? json_integer_value(n) + 1 : 1));
}

static json_t *position(uint32_t line, uint32_t character)
{
    return json_pack("{s:i,s:i}", "line", (json_int_t)line, "character", (json_int_t)character);
}

/* The LSP answer for a suggestion text (or an empty one for text == NULL).
 * An inline answer under a selected popup item holds the item's text and then
 * the suggestion, over the item's range (LSP: inline completions must extend
 * the selected item's text and use its range, else editors do not show them). */
static json_t *answer(const comp_req *cr, const char *text, size_t len)
{
    json_t *items = json_array();
    if (cr->kind == KIND_INLINE) {
        const uint32_t here[4] = { cr->line, cr->character, cr->line, cr->character };
        const uint32_t *r = cr->sel_text ? cr->sel_range : here;
        size_t pre = cr->sel_text ? cr->sel_len : 0;
        char *t = text && len ? malloc(pre + len) : NULL;
        if (t) {
            if (pre) memcpy(t, cr->sel_text, pre);
            memcpy(t + pre, text, len);
            json_array_append_new(items, json_pack("{s:s%,s:{s:o,s:o}}", "insertText", t, pre + len,
                "range", "start", position(r[0], r[1]), "end", position(r[2], r[3])));
            free(t);
        }
        return json_pack("{s:o}", "items", items);
    }
    if (text && len) {
        /* label: the first line, shortened; the edit inserts the whole text */
        size_t first = 0;
        while (first < len && text[first] != '\n') first++;
        json_t *label = json_stringn(text, first > 60 ? 60 : first);
        json_array_append_new(items, json_pack("{s:o,s:i,s:s,s:s,s:i,s:{s:{s:o,s:o},s:o},s:s}",
            "label", label, "kind", 1, "detail", "sparkd", "sortText", "0", "insertTextFormat", 1,
            "textEdit", "range", "start", position(cr->line, cr->character),
                                 "end", position(cr->line, cr->character),
                        "newText", json_stringn(text, len),
            "filterText", ""));
    }
    return json_pack("{s:b,s:o}", "isIncomplete", 1, "items", items);
}

static void comp_free(void *p)
{
    comp_req *cr = p;
    if (cr) free(cr->sel_text);
    free(cr);
}

#define SELECTED_TEXT_MAX 4096      /* a completion item's text; longer is refused */

/* context.selectedCompletionInfo of an inline request: NULL when absent,
 * else its text (owned), range and the byte offsets of the range. */
static int selected_info(srv_lsp *s, open_doc *d, json_t *ctx, comp_req *out, size_t *a, size_t *b, fail *f)
{
    json_t *sel = json_is_object(ctx) ? json_object_get(ctx, "selectedCompletionInfo") : NULL;
    if (!sel || json_is_null(sel)) return 0;
    json_t *text = json_is_object(sel) ? json_object_get(sel, "text") : NULL;
    if (!json_is_string(text))
        return srv_failf(f, -32602, "params.context.selectedCompletionInfo must be an object with a range and "
                         "a string text");
    if (srv_parse_range(json_object_get(sel, "range"), out->sel_range, f)) return -1;
    if (json_string_length(text) > SELECTED_TEXT_MAX)
        return srv_failf(f, -32602, "params.context.selectedCompletionInfo.text is longer than %d bytes",
                         SELECTED_TEXT_MAX);
    int clamped = 0;
    *a = srv_doc_offset(d->doc, s->enc, out->sel_range[0], out->sel_range[1], &clamped);
    *b = srv_doc_offset(d->doc, s->enc, out->sel_range[2], out->sel_range[3], &clamped);
    if (*a > *b)
        return srv_failf(f, -32602, "params.context.selectedCompletionInfo.range ends before it starts");
    out->sel_len = json_string_length(text);
    if (!(out->sel_text = malloc(out->sel_len + 1))) return srv_failf(f, -32603, "out of memory");
    memcpy(out->sel_text, json_string_value(text), out->sel_len + 1);
    return 0;
}

/* Forward typing: the text typed since the suggestion was shown is its start.
 * An invoked request is not answered from a typing suggestion (shorter). */
static int fast_path(open_doc *d, size_t off, int invoked, const char **rest, size_t *rest_len)
{
    shown_suggestion *sh = &d->shown;
    if (!sh->text || off < sh->anchor || off - sh->anchor >= sh->len || invoked > sh->invoked) return 0;
    size_t typed = off - sh->anchor;
    char buf[128 + 256];
    if (typed > 256 || sh->anchor < sh->tail_len) return 0;
    size_t got = srv_doc_copy(d->doc, sh->anchor - sh->tail_len, off, buf);
    if (got != sh->tail_len + typed || memcmp(buf, sh->tail, sh->tail_len) ||
        memcmp(buf + sh->tail_len, sh->text, typed))
        return 0;
    *rest = sh->text + typed;
    *rest_len = sh->len - typed;
    return 1;
}

static void remember_shown(open_doc *d, size_t anchor, int invoked, const char *text, size_t len)
{
    srv_shown_clear(&d->shown);
    char *t = malloc(len);
    if (!t) return;
    memcpy(t, text, len);
    shown_suggestion *sh = &d->shown;
    sh->text = t;
    sh->len = len;
    sh->anchor = anchor;
    sh->invoked = invoked;
    sh->tail_len = anchor < sizeof sh->tail ? anchor : sizeof sh->tail;
    srv_doc_copy(d->doc, anchor - sh->tail_len, anchor, sh->tail);
}

/* Copies doc[a, b) into a new NUL-terminated buffer. */
char *srv_copy_range(const srv_doc *doc, size_t a, size_t b, size_t *len)
{
    char *p = malloc(b - a + 1);
    if (!p) return NULL;
    *len = srv_doc_copy(doc, a, b, p);
    p[*len] = 0;
    return p;
}

char *srv_uri_path(const char *uri)
{
    return strdup(strncmp(uri, "file://", 7) ? uri : uri + 7);
}

/* Repository context: the other open documents (the most recently opened
 * last, where the prompt builder puts the most relevant), each cut to its
 * first CONTEXT_FILE_BYTES; the prompt builder then fits them to its token
 * budget. */
#define CONTEXT_FILES 3
#define CONTEXT_FILE_BYTES 8192
static void add_context_files(srv_lsp *s, const open_doc *self, srv_job_req *req)
{
    size_t n = 0;
    for (size_t i = s->n_docs; i-- > 0 && n < CONTEXT_FILES;)
        if (&s->docs[i] != self) n++;
    if (!n || !(req->files = calloc(n, sizeof *req->files))) return;
    size_t k = n;
    for (size_t i = s->n_docs; i-- > 0 && k > 0;) {
        const open_doc *d = &s->docs[i];
        if (d == self) continue;
        size_t len, end = srv_doc_len(d->doc) < CONTEXT_FILE_BYTES ? srv_doc_len(d->doc) : CONTEXT_FILE_BYTES;
        char *text = srv_copy_range(d->doc, 0, end, &len);
        char *path = srv_uri_path(d->uri);
        if (!text || !path) { free(text); free(path); break; }
        req->files[--k] = (eng_fim_file){ path, text, len };
        req->n_files++;
    }
    if (k) {   /* out of memory part-way: keep what was copied, in order */
        memmove(req->files, req->files + k, req->n_files * sizeof *req->files);
    }
}


void srv_completion_limits(const srv_config *cfg, int invoked, const char *suffix, size_t suffix_len,
                           const gram_ctx *gram, int *max_tokens, int *max_lines)
{
    int mid_line = 0;
    for (size_t i = 0; i < suffix_len && suffix[i] != '\n'; i++)
        if (suffix[i] != ' ' && suffix[i] != '\t' && suffix[i] != '\r') { mid_line = 1; break; }
    /* Automatic triggers (typing) want an answer within a keystroke: short,
     * one line when the cursor is mid-line; invoked ones may be longer. */
    *max_tokens = invoked || cfg->n_predict < 32 ? cfg->n_predict : 32;
    *max_lines = invoked ? 8 : mid_line ? 1 : 3;
    if (gram && !gram->multiline) *max_lines = 1;   /* the syntax says: finish this line only */
}

static int schedule(srv_lsp *s, comp_kind kind, json_t *id, json_t *params, json_t **result, fail *f)
{
    const char *uri;
    size_t ulen;
    json_t *td = srv_text_document(params, &uri, &ulen, f);
    json_t *pos = td ? srv_member(params, "params", "position", JSON_OBJECT, f) : NULL;
    uint32_t line, ch;
    if (!pos || srv_get_uint32(pos, "position", "line", &line, f) ||
        srv_get_uint32(pos, "position", "character", &ch, f))
        return -1;
    json_t *ctx = json_object_get(params, "context");
    json_t *tk = json_is_object(ctx) ? json_object_get(ctx, "triggerKind") : NULL;
    if (tk && !json_is_integer(tk))
        return srv_failf(f, -32602, "params.context.triggerKind must be an integer");
    /* inline: 1 Invoked, 2 Automatic; completion: 1 Invoked, 2 TriggerCharacter, 3 Incomplete */
    int invoked = !tk || json_integer_value(tk) == 1;
    open_doc *d = srv_find_doc(s, uri, ulen);
    if (!d) return srv_failf(f, -32602, "%s is not open", uri);
    s->comp.requests++;
    const comp_req at = { .kind = kind, .line = line, .character = ch };    /* answers given here */
    if (d->out_of_sync) {   /* its text is stale: no position in it can be trusted */
        count_empty(s, "document out of sync since a refused change");
        *result = answer(&at, NULL, 0);
        return 0;
    }
    int clamped = 0;
    size_t off = srv_doc_offset(d->doc, s->enc, line, ch, &clamped);
    if (clamped) srv_warn("%s: position %u:%u is past the end of the line or document; clamped", uri, line, ch);

    comp_req sel = { 0 };
    size_t sel_a = 0, sel_b = 0;
    if (kind == KIND_INLINE && selected_info(s, d, ctx, &sel, &sel_a, &sel_b, f)) return -1;
    const char *rest;
    size_t rest_len;
    if (!sel.sel_text && fast_path(d, off, invoked, &rest, &rest_len)) {
        s->comp.fast_path++;
        s->comp.answered++;
        *result = answer(&at, rest, rest_len);
        srv_debug("%s: answered from the shown suggestion (%zu bytes left)", uri, rest_len);
        return 0;
    }
    if (!s->sched) {
        free(sel.sel_text);
        count_empty(s, "no completion engine");
        *result = answer(&at, NULL, 0);
        return 0;
    }
    srv_job_req *req = calloc(1, sizeof *req);
    comp_req *cr = calloc(1, sizeof *cr);
    if (!req || !cr) { free(req); free(cr); free(sel.sel_text); return srv_failf(f, -32603, "out of memory"); }
    req->user = cr;
    req->user_free = comp_free;
    *cr = (comp_req){ .kind = kind, .line = line, .character = ch, .anchor = off, .version = d->version,
                      .invoked = invoked, .sel_text = sel.sel_text, .sel_len = sel.sel_len };
    memcpy(cr->sel_range, sel.sel_range, sizeof cr->sel_range);
    req->id = json_incref(id);
    req->uri = malloc(ulen + 1);
    if (req->uri) { memcpy(req->uri, uri, ulen); req->uri[ulen] = 0; }
    if (cr->sel_text) {     /* the model sees the document with the selected item applied */
        size_t pl;
        char *p = srv_copy_range(d->doc, 0, sel_a, &pl);
        req->prefix = p ? realloc(p, pl + cr->sel_len + 1) : NULL;
        if (!req->prefix) free(p);
        else {
            memcpy(req->prefix + pl, cr->sel_text, cr->sel_len + 1);
            req->prefix_len = pl + cr->sel_len;
        }
        off = sel_b;
    } else {
        req->prefix = srv_copy_range(d->doc, 0, off, &req->prefix_len);
    }
    req->suffix = srv_copy_range(d->doc, off, srv_doc_len(d->doc), &req->suffix_len);
    req->path = srv_uri_path(uri);
    add_context_files(s, d, req);
    if (!req->uri || !req->prefix || !req->suffix || !req->path) {
        comp_free(cr);
        req->user = NULL;
        srv_job_req_free(req);
        return srv_failf(f, -32603, "out of memory");
    }
    if (d->gram) {
        uint64_t g0 = srv_now_ns();
        req->gram = gram_context_new(d->gram, off);
        s->comp.gram_ms += (srv_now_ns() - g0) / 1e6;
    }
    srv_completion_limits(s->cfg, invoked, req->suffix, req->suffix_len, req->gram, &req->max_tokens,
                          &req->max_lines);
    req->temperature = (float)s->cfg->temp;
    req->seed = s->cfg->seed;
    /* Debounce a burst only: a keystroke after a pause starts at once (a
     * newer one still preempts it between engine steps, and the KV it
     * computed is kept), one that follows another within debounce_ms waits. */
    uint64_t now = srv_now_ns();
    int burst = now - s->last_typed_ns < (uint64_t)s->cfg->debounce_ms * 1000000u;
    if (!invoked) s->last_typed_ns = now;
    req->debounce_ms = !invoked && burst ? s->cfg->debounce_ms : 0;
    req->deadline_ms = invoked ? 3 * s->cfg->timeout_ms : s->cfg->timeout_ms;
    req->quick_start = invoked ? 0 : s->cfg->quick_start_tokens;
    srv_sched_submit(s->sched, req);
    return SRV_DEFERRED;
}

int srv_inline_completion(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    return schedule(s, KIND_INLINE, id, params, result, f);
}

int srv_completion(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    return schedule(s, KIND_COMPLETION, id, params, result, f);
}

void srv_completion_done(void *ud, srv_job_req *req, srv_job_res *res)
{
    srv_lsp *s = ud;
    comp_req *cr = req->user;
    comp_stats *c = &s->comp;
    if (cr->kind == KIND_ACTION) {
        srv_action_done(s, req, res);
        return;
    }
    uint64_t us = (srv_now_ns() - req->submitted_ns) / 1000;
    srv_stats_latency(&c->latency, us);
    c->prompt_tokens += (uint64_t)res->prompt_tokens;
    c->reused_tokens += (uint64_t)res->reused_tokens;
    c->restored_tokens += (uint64_t)res->restored_tokens;
    c->generated_tokens += (uint64_t)res->generated_tokens;
    c->steps += res->steps;
    c->drafted += res->drafted;
    c->accepted += res->accepted;
    c->queue_ms += res->queue_ms;
    c->prefill_ms += res->prefill_ms;
    c->decode_ms += res->decode_ms;
    c->quick += (uint64_t)res->quick;
    c->gram_ms += res->gram_ms;
    c->cache_ms += res->cache_ms;
    uint64_t answer_t0 = srv_now_ns();
    if (s->state != SRV_RUNNING) {
        /* after shutdown nothing more is answered */
    } else if (res->cancelled) {
        srv_reply_error(s, req->id, LSP_ERR_REQUEST_CANCELLED, "cancelled by $/cancelRequest");
        count_empty(s, "cancelled");
    } else {
        json_t *ans;
        if (res->empty) {
            count_empty(s, res->reason);
            srv_log(res->detail[0] ? SRV_LOG_WARN : SRV_LOG_DEBUG, "%s: no suggestion: %s%s%s (%.1f ms; prefill "
                    "%d of %d prompt tokens in %.1f ms)", req->uri, res->reason, res->detail[0] ? ": " : "",
                    res->detail, us / 1e3, res->prompt_tokens - res->reused_tokens, res->prompt_tokens,
                    res->prefill_ms);
            ans = answer(cr, NULL, 0);
        } else {
            c->answered++;
            ans = answer(cr, res->text, res->len);
            open_doc *d = srv_find_doc(s, req->uri, strlen(req->uri));
            if (d && d->version == cr->version && !cr->sel_text)
                remember_shown(d, cr->anchor, cr->invoked, res->text, res->len);
            srv_debug("%s: suggestion of %zu bytes in %.1f ms (queue %.1f, prefill %.1f ms for %d of %d "
                      "%sprompt tokens, decode %.1f ms, %d tokens, %llu/%llu drafts)", req->uri, res->len,
                      us / 1e3, res->queue_ms, res->prefill_ms, res->prompt_tokens - res->reused_tokens,
                      res->prompt_tokens, res->quick ? "quick-start " : "", res->decode_ms,
                      res->generated_tokens, (unsigned long long)res->accepted, (unsigned long long)res->drafted);
        }
        srv_reply_result(s, req->id, ans);
        json_decref(ans);
    }
    c->protocol_ms += (srv_now_ns() - answer_t0) / 1e6;
    comp_free(cr);
    req->user = NULL;
    srv_job_req_free(req);
    srv_job_res_clear(res);
}

/* Copilot-style notifications: statistics that also drive nothing yet. */
int srv_did_show_completion(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)id; (void)result;
    if (!json_is_object(params)) return srv_failf(f, -32602, "params must be an object");
    s->comp.shown++;
    return 0;
}

int srv_did_partially_accept(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)id; (void)result;
    json_t *n = json_is_object(params) ? json_object_get(params, "acceptedLength") : NULL;
    if (n && (!json_is_integer(n) || json_integer_value(n) < 0))
        return srv_failf(f, -32602, "params.acceptedLength must be a non-negative integer");
    s->comp.partial_accepts++;
    if (n) s->comp.accepted_chars += (uint64_t)json_integer_value(n);
    return 0;
}

json_t *srv_comp_stats_json(const comp_stats *c)
{
    json_t *lat = srv_stats_to_json(&c->latency);
    json_t *latency = json_incref(json_object_get(lat, "latency"));
    json_decref(lat);
    json_t *reasons = c->empty_reasons ? json_incref(c->empty_reasons) : json_object();
    json_t *r = json_pack("{s:I,s:I,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o}",
        "requests", (json_int_t)c->requests, "answered", (json_int_t)c->answered,
        "fast_path", (json_int_t)c->fast_path, "empty", (json_int_t)c->empty,
        "empty_reasons", reasons,
        "shown", (json_int_t)c->shown, "partial_accepts", (json_int_t)c->partial_accepts,
        "accepted_chars", (json_int_t)c->accepted_chars,
        "prompt_tokens", (json_int_t)c->prompt_tokens, "reused_tokens", (json_int_t)c->reused_tokens,
        "generated_tokens", (json_int_t)c->generated_tokens, "steps", (json_int_t)c->steps,
        "drafted", (json_int_t)c->drafted, "accepted", (json_int_t)c->accepted,
        "acceptance_rate", c->drafted ? (double)c->accepted / (double)c->drafted : 0.0,
        "latency", latency);
    if (r) json_object_set_new(r, "restored_tokens", json_integer((json_int_t)c->restored_tokens));
    if (r) json_object_set_new(r, "quick_start", json_integer((json_int_t)c->quick));
    if (r)   /* where the time went, summed over all jobs */
        json_object_set_new(r, "stage_ms", json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "protocol", c->protocol_ms,
                                                     "grammars", c->gram_ms, "cache", c->cache_ms,
                                                     "queue", c->queue_ms, "prefill", c->prefill_ms,
                                                     "decode", c->decode_ms));
    return r;
}
