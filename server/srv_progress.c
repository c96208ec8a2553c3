/* srv_progress.c — work-done progress ($/progress): one implementation for
 * everything the server shows as progress (model loading, rewrites).
 *
 * A progress runs on a token: the client's own (a request's workDoneToken,
 * or initialize's for the first model load), or, when the client
 * advertised window.workDoneProgress, one the server asks it to create
 * (window/workDoneProgress/create). Until that request is answered the
 * values wait in a queue; they go out in order when the client accepts and
 * are dropped if it refuses. Clients with neither see nothing.
 *
 * Ownership: the opener owns a progress until srv_progress_close; one closed
 * while its create request is unanswered belongs to that request's reply
 * callback, which flushes what is queued (if accepted) and frees it.
 *
 * Model loading: each load of the engine (at initialize, and again when a
 * setting the engine is built from changes) is one progress: begin, a
 * report per stage (main model, draft model, cache), end with what was
 * loaded or why not.
 */
#include <stdio.h>
#include <stdlib.h>
#include "srv_internal.h"
#include "srv_log.h"

struct work_progress {
    json_t *token;          /* owned */
    json_t *queue;          /* values waiting for the create reply (owned array) */
    int creating;           /* the create request is unanswered */
    int refused;            /* the client declined the token: send nothing */
    int closed;             /* the opener is done with it */
    char name[32];          /* what it shows, for the log ("model-load") */
};

static void progress_delete(work_progress *p)
{
    json_decref(p->token);
    json_decref(p->queue);
    free(p);
}

void srv_progress_send(srv_lsp *s, work_progress *p, json_t *value)
{
    if (!p || !value || p->refused || s->state != SRV_RUNNING) { json_decref(value); return; }
    if (p->creating) { json_array_append_new(p->queue, value); return; }
    json_t *params = json_pack("{s:O,s:o}", "token", p->token, "value", value);
    if (params) srv_send_notification(s, "$/progress", params);
    else srv_warn("out of memory sending progress");
    json_decref(params);
}

static void created(srv_lsp *s, void *ud, json_t *result, json_t *error)
{
    work_progress *p = ud;
    p->creating = 0;
    if (!result) {
        p->refused = 1;
        if (error) srv_info("the client declined the %s progress token", p->name);
    }
    size_t i;
    json_t *v;
    json_array_foreach(p->queue, i, v) srv_progress_send(s, p, json_incref(v));
    json_array_clear(p->queue);
    if (p->closed) progress_delete(p);
}

work_progress *srv_progress_open(srv_lsp *s, json_t *token, const char *name)
{
    static unsigned long long seq;      /* created token names, unique per process */
    int given = json_is_string(token) || json_is_integer(token);
    if (!given && !s->client_progress) return NULL;
    work_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->token = given ? json_incref(token) : json_sprintf("sparkd/%s/%llu", name, ++seq);
    p->queue = json_array();
    snprintf(p->name, sizeof p->name, "%s", name);
    json_t *params = p->token && !given ? json_pack("{s:O}", "token", p->token) : NULL;
    if (!p->token || !p->queue ||
        (!given && (!params || srv_send_request(s, "window/workDoneProgress/create", params, created, p)))) {
        srv_warn("out of memory starting a progress");
        json_decref(params);
        progress_delete(p);
        return NULL;
    }
    json_decref(params);
    p->creating = !given;
    return p;
}

json_t *srv_progress_token(const work_progress *p) { return p->token; }

void srv_progress_close(srv_lsp *s, work_progress *p)
{
    (void)s;
    if (!p) return;
    p->closed = 1;
    if (!p->creating) progress_delete(p);
}

// ---------------------------------------------------------------- model load

void srv_load_progress(void *ud, const srv_load_event *ev)
{
    srv_lsp *s = ud;
    if (s->state != SRV_RUNNING) return;
    if (ev->phase == SRV_LOAD_BEGIN) {
        srv_progress_close(s, s->progress);     /* a previous load lost its end (out of memory) */
        s->progress = srv_progress_open(s, s->init_token, "model-load");
        json_decref(s->init_token);             /* the client's token serves the first load only */
        s->init_token = NULL;
    }
    if (!s->progress) return;
    json_t *v = ev->phase == SRV_LOAD_BEGIN
        ? json_pack("{s:s,s:s,s:b,s:i}", "kind", "begin", "title", "sparkd", "cancellable", 0,
                    "percentage", ev->percentage)
        : ev->phase == SRV_LOAD_STAGE
        ? json_pack("{s:s,s:i}", "kind", "report", "percentage", ev->percentage)
        : json_pack("{s:s}", "kind", "end");
    if (v) json_object_set_new(v, "message", json_string(ev->message));
    srv_progress_send(s, s->progress, v);
    if (ev->phase == SRV_LOAD_END) {
        srv_progress_close(s, s->progress);
        s->progress = NULL;
    }
}

void srv_progress_free(srv_lsp *s)
{
    srv_progress_close(s, s->progress);
    s->progress = NULL;
    json_decref(s->init_token);
    s->init_token = NULL;
}
