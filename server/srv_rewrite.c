/* srv_rewrite.c — the instruction-driven rewrite and what every rewrite
 * shows while it runs.
 *
 * workspace/executeCommand "sparkd.rewrite" with arguments
 *   [{ "uri": ..., "range": Range, "instruction": "..." }]
 * rewrites the range's lines (the enclosing function for an empty range);
 * instruction is optional (the default asks for clearer code), at most
 * ENG_CHAT_INSTRUCTION_MAX bytes. When the rewrite is done the server sends
 * workspace/applyEdit with the minimal edit and answers the command after
 * the client's reply: {"applied": true}, or RequestFailed with the reason
 * (no rewrite, the editor declined the edit). Invalid arguments are
 * InvalidParams naming the argument.
 *
 * Progress: a rewrite (command or code action) is a work-done progress
 * (srv_progress.c): begin (cancellable), reports with percentage = tokens
 * written / the rewrite's token budget, end. The token is the command's
 * workDoneToken, else one the server asks the client to create.
 * window/workDoneProgress/cancel and $/cancelRequest both cancel the job
 * (between two engine steps). A comp_req holds its progress until
 * srv_rewrite_end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chat.h"
#include "lsp_rpc.h"
#include "srv_internal.h"
#include "srv_log.h"

void srv_rewrite_begin(srv_lsp *s, comp_req *cr, json_t *token, const char *title)
{
    work_progress *p = srv_progress_open(s, token, "rewrite");
    if (!p) return;
    cr->progress = p;
    cr->progress_pct = 0;
    srv_progress_send(s, p, json_pack("{s:s,s:s,s:b,s:i,s:s}", "kind", "begin", "title", title,
                                      "cancellable", 1, "percentage", 0, "message", "rewriting"));
}

void srv_rewrite_progress(void *ud, srv_job_req *req, int generated)
{
    srv_lsp *s = ud;
    comp_req *cr = req->user;
    if (!cr || !cr->progress || req->max_tokens <= 0) return;
    int pct = generated * 100 / req->max_tokens;
    if (pct > 99) pct = 99;
    if (pct <= cr->progress_pct) return;
    cr->progress_pct = pct;
    char msg[64];
    snprintf(msg, sizeof msg, "%d tokens", generated);
    srv_progress_send(s, cr->progress, json_pack("{s:s,s:i,s:s}", "kind", "report", "percentage", pct,
                                                 "message", msg));
}

void srv_rewrite_end(srv_lsp *s, comp_req *cr, const char *message)
{
    if (!cr->progress) return;
    srv_progress_send(s, cr->progress, json_pack("{s:s,s:s}", "kind", "end", "message", message ? message : "done"));
    srv_progress_close(s, cr->progress);
    cr->progress = NULL;
}

int srv_work_done_cancel(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)id; (void)result;
    json_t *token = json_is_object(params) ? json_object_get(params, "token") : NULL;
    if (!json_is_string(token) && !json_is_integer(token))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.token must be an integer or a string");
    for (comp_req *cr = s->rewrites; cr; cr = cr->next_rw)
        if (cr->progress && json_equal(srv_progress_token(cr->progress), token)) {
            s->stats.cancelled++;
            if (s->sched) srv_sched_cancel(s->sched, cr->job_id);
            return 0;
        }
    srv_debug("window/workDoneProgress/cancel: no rewrite runs with that token");
    return 0;
}

// ---------------------------------------------------------------- applyEdit

static void applied(srv_lsp *s, void *ud, json_t *result, json_t *error)
{
    json_t *id = ud;
    if (s->state == SRV_RUNNING && (result || error)) {
        json_t *ok = json_is_object(result) ? json_object_get(result, "applied") : NULL;
        if (json_is_true(ok)) {
            json_t *r = json_pack("{s:b}", "applied", 1);
            srv_reply_result(s, id, r);
            json_decref(r);
        } else {
            json_t *why = error ? json_object_get(error, "message")
                        : json_is_object(result) ? json_object_get(result, "failureReason") : NULL;
            char msg[400];
            snprintf(msg, sizeof msg, "the editor did not apply the rewrite%s%.300s", json_is_string(why) ? ": " : "",
                     json_is_string(why) ? json_string_value(why) : "");
            srv_warn("workspace/executeCommand: %s", msg);
            srv_reply_error(s, id, LSP_ERR_REQUEST_FAILED, msg);
        }
    }
    json_decref(id);
}

void srv_rewrite_apply(srv_lsp *s, comp_req *cr, json_t *edit, const char *label)
{
    json_t *params = json_pack("{s:s,s:O}", "label", label, "edit", edit);
    json_t *id = json_incref(cr->command_id);
    if (!params || srv_send_request(s, "workspace/applyEdit", params, applied, id)) {
        srv_reply_error(s, id, LSP_ERR_INTERNAL, "out of memory sending workspace/applyEdit");
        json_decref(id);
    }
    json_decref(params);
}

// ---------------------------------------------------------------- the command

int srv_execute_command(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f)
{
    (void)result;
    json_t *cmd = srv_member(params, "params", "command", JSON_STRING, f);
    if (!cmd) return -1;
    if (strcmp(json_string_value(cmd), SRV_REWRITE_COMMAND))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "unknown command '%.100s': sparkd offers %s",
                         json_string_value(cmd), SRV_REWRITE_COMMAND);
    json_t *args = srv_member(params, "params", "arguments", JSON_ARRAY, f);
    if (!args) return -1;
    json_t *arg = json_array_get(args, 0);
    if (json_array_size(args) != 1 || !json_is_object(arg))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "params.arguments must be one object {uri, range, instruction}");
    json_t *u = srv_member(arg, "arguments[0]", "uri", JSON_STRING, f);
    json_t *range = u ? srv_member(arg, "arguments[0]", "range", JSON_OBJECT, f) : NULL;
    uint32_t r[4];
    if (!range) return -1;
    if (srv_parse_range(range, r, f)) {
        char inner[sizeof f->msg];
        snprintf(inner, sizeof inner, "%s", f->msg);
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].%s", inner);
    }
    json_t *in = json_object_get(arg, "instruction");
    const char *instruction = NULL;
    if (in) {
        if (!json_is_string(in))
            return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].instruction must be a string");
        size_t n = json_string_length(in);
        instruction = json_string_value(in);
        size_t blank = 0;
        while (blank < n && strchr(" \t\r\n", instruction[blank])) blank++;
        if (blank == n)
            return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].instruction is empty: say what to change, "
                             "or leave it out for the default");
        if (n > ENG_CHAT_INSTRUCTION_MAX)
            return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].instruction is %zu bytes; at most %d",
                             n, ENG_CHAT_INSTRUCTION_MAX);
        if (strlen(instruction) != n)
            return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].instruction contains a NUL character");
    }
    open_doc *d = srv_find_doc(s, json_string_value(u), json_string_length(u));
    if (!d) return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].uri: %s is not open", json_string_value(u));
    if (!s->sched) return srv_failf(f, LSP_ERR_REQUEST_FAILED, "no engine: sparkd runs with --no-engine");
    if (d->out_of_sync)
        return srv_failf(f, LSP_ERR_REQUEST_FAILED, "%s is stale since a change over max_open_bytes was refused: "
                         "reopen it", json_string_value(u));
    uint32_t line, end;
    if (srv_rewrite_region(d, r, &line, &end))
        return srv_failf(f, LSP_ERR_INVALID_PARAMS, "arguments[0].range: nothing to rewrite there (an empty range "
                         "needs an enclosing function; at most %d lines)", SRV_REWRITE_MAX_LINES);
    json_t *token = json_object_get(params, "workDoneToken");
    return srv_rewrite_submit(s, d, SRV_ACT_REWRITE, line, end, instruction, id, NULL, id, token, f);
}
