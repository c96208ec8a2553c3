/* srv_progress.c — model loading shown as work-done progress ($/progress).
 *
 * Each load of the engine (at initialize, and again when a setting the engine
 * is built from changes) is one progress: begin, a report per stage (main
 * model, draft model, cache), end with what was loaded or why not. Its token
 * is the initialize request's workDoneToken for the first load, when the
 * client gave one; otherwise, when the client advertised
 * window.workDoneProgress, one the server asks it to create
 * (window/workDoneProgress/create). Until that request is answered the
 * messages wait in a queue; they are dropped if the client refuses. Clients
 * with neither see nothing.
 *
 * Ownership: s->progress owns the load being reported until its end; a load
 * that ended while its create request is unanswered is owned by that request
 * (its reply callback frees it).
 */
#include <stdlib.h>
#include "srv_internal.h"
#include "srv_log.h"

struct load_progress {
    json_t *token;          /* owned */
    json_t *queue;          /* values waiting for the create reply (owned array) */
    int creating;           /* the create request is unanswered */
    int refused;            /* the client declined the token: send nothing */
    int ended;              /* the end value was sent, queued or dropped */
};

static void progress_delete(load_progress *p)
{
    json_decref(p->token);
    json_decref(p->queue);
    free(p);
}

/* Sends (or queues, or drops) one progress value; steals value. */
static void emit(srv_lsp *s, load_progress *p, json_t *value)
{
    if (!value || p->refused) { json_decref(value); return; }
    if (p->creating) { json_array_append_new(p->queue, value); return; }
    json_t *params = json_pack("{s:O,s:o}", "token", p->token, "value", value);
    if (params) srv_send_notification(s, "$/progress", params);
    else srv_warn("out of memory sending model-load progress");
    json_decref(params);
}

static void created(srv_lsp *s, void *ud, json_t *result, json_t *error)
{
    load_progress *p = ud;
    p->creating = 0;
    if (!result) {
        p->refused = 1;
        if (error) srv_info("the client declined the model-load progress token");
    }
    size_t i;
    json_t *v;
    json_array_foreach(p->queue, i, v) emit(s, p, json_incref(v));
    json_array_clear(p->queue);
    if (p->ended) progress_delete(p);
}

/* A new progress for a load that begins, or none (s->progress NULL). */
static void progress_start(srv_lsp *s)
{
    json_t *token = NULL;
    int create = 0;
    if (s->init_token) {
        token = s->init_token;      /* the client's own: no need to create it */
        s->init_token = NULL;
    } else if (s->client_progress) {
        token = json_sprintf("sparkd/load/%" JSON_INTEGER_FORMAT, s->next_out_id + 1);
        create = 1;
    }
    if (!token) return;
    load_progress *p = calloc(1, sizeof *p);
    json_t *params = p ? json_pack("{s:O}", "token", token) : NULL;
    if (p) { p->token = token; p->queue = json_array(); }
    if (!p || !params || !p->queue ||
        (create && srv_send_request(s, "window/workDoneProgress/create", params, created, p))) {
        srv_warn("out of memory starting model-load progress");
        if (p) progress_delete(p);
        else json_decref(token);
        json_decref(params);
        return;
    }
    json_decref(params);
    p->creating = create;
    s->progress = p;
}

/* Ends the current progress: nothing more is sent for it. */
static void progress_end(srv_lsp *s)
{
    load_progress *p = s->progress;
    s->progress = NULL;
    p->ended = 1;
    if (!p->creating) progress_delete(p);
}

void srv_load_progress(void *ud, const srv_load_event *ev)
{
    srv_lsp *s = ud;
    if (s->state != SRV_RUNNING) return;
    if (ev->phase == SRV_LOAD_BEGIN) {
        if (s->progress) progress_end(s);   /* a previous load lost its end (out of memory) */
        progress_start(s);
    }
    if (!s->progress) return;
    json_t *v = ev->phase == SRV_LOAD_BEGIN
        ? json_pack("{s:s,s:s,s:b,s:i}", "kind", "begin", "title", "sparkd", "cancellable", 0,
                    "percentage", ev->percentage)
        : ev->phase == SRV_LOAD_STAGE
        ? json_pack("{s:s,s:i}", "kind", "report", "percentage", ev->percentage)
        : json_pack("{s:s}", "kind", "end");
    if (v) json_object_set_new(v, "message", json_string(ev->message));
    emit(s, s->progress, v);
    if (ev->phase == SRV_LOAD_END) progress_end(s);
}

void srv_progress_free(srv_lsp *s)
{
    if (s->progress) progress_end(s);
    json_decref(s->init_token);
    s->init_token = NULL;
}
