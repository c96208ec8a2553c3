/* srv_internal.h — the language server's state, shared by the files that
 * implement its handlers (srv_lsp.c: lifecycle and sync; srv_complete.c:
 * completions). Not a public interface: nothing outside server/ includes it.
 */
#ifndef SPARKD_SRV_INTERNAL_H
#define SPARKD_SRV_INTERNAL_H

#include <jansson.h>
#include "srv_lsp.h"
#include "gram.h"
#include "srv_sched.h"

typedef enum { TRACE_OFF, TRACE_MESSAGES, TRACE_VERBOSE } trace_level;

/* The suggestion last shown for a document, for the forward-typing fast
 * path: when the user types its first characters, the rest is answered
 * without running the model. */
typedef struct {
    char *text;             /* owned; NULL: nothing shown */
    size_t len;
    size_t anchor;          /* byte offset where it was shown */
    char tail[128];         /* the bytes just before anchor, then */
    size_t tail_len;
} shown_suggestion;

typedef struct {
    char *uri;              /* may hold NUL bytes: compare with uri_len */
    size_t uri_len;
    char *language;
    int version;
    srv_doc *doc;
    gram_doc *gram;         /* its syntax tree, edited along (NULL: out of memory) */
    shown_suggestion shown;
} open_doc;

/* Completion counters for sparkd/stats: every empty answer has a reason. */
typedef struct {
    uint64_t requests;      /* inlineCompletion + completion requests */
    uint64_t answered;      /* with a non-empty suggestion */
    uint64_t fast_path;     /* of which from the shown suggestion (no model run) */
    uint64_t empty;
    json_t *empty_reasons;  /* reason -> count */
    uint64_t shown, partial_accepts, accepted_chars;
    uint64_t prompt_tokens, reused_tokens, restored_tokens, generated_tokens, steps, drafted, accepted;
    double queue_ms, prefill_ms, decode_ms;     /* sums, for the stage breakdown */
    srv_stats latency;      /* request -> answer (its histogram) */
} comp_stats;

struct srv_lsp {
    srv_config *cfg;
    srv_send_fn send;
    void *ud;
    srv_state state;
    int got_shutdown;
    lsp_encoding enc;
    trace_level trace;
    srv_stats stats;
    open_doc *docs;
    size_t n_docs, cap_docs;
    srv_sched *sched;       /* completions; NULL: none (unit tests, no engine) */
    int client_inline;      /* client advertised textDocument.inlineCompletion */
    comp_stats comp;
};

/* A handler's failure: the JSON-RPC error to answer with. */
typedef struct {
    int code;
    char msg[256];
} fail;

/* Sets *f and returns -1. */
int srv_failf(fail *f, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Replies (and counts) a result (borrowed) or an error. */
void srv_reply_result(srv_lsp *s, json_t *id, json_t *result);
void srv_reply_error(srv_lsp *s, json_t *id, int code, const char *msg);
/* Member `key` of o with jansson type t, or NULL with *f set ("what.key ..."). */
json_t *srv_member(json_t *o, const char *what, const char *key, json_type t, fail *f);
int srv_get_uint32(json_t *o, const char *what, const char *key, uint32_t *out, fail *f);
open_doc *srv_find_doc(const srv_lsp *s, const char *uri, size_t len);
/* params.textDocument with its uri, or NULL with *f set. */
json_t *srv_text_document(json_t *params, const char **uri, size_t *len, fail *f);

typedef enum { KIND_INLINE, KIND_COMPLETION, KIND_ACTION } comp_kind;

/* What the answer needs to know about its request (srv_job_req.user). */
typedef struct {
    comp_kind kind;
    uint32_t line, character;   /* the cursor, as the client sent it */
    size_t anchor;              /* cursor byte offset when asked */
    int version;                /* document version when asked */
    json_t *action;             /* KIND_ACTION: the CodeAction being resolved (owned) */
    uint32_t edit_line;         /* KIND_ACTION: where the edit goes (line start) */
    int action_kind;            /* KIND_ACTION: which action */
    char *indent;               /* KIND_ACTION: the indentation of inserted lines (owned) */
} comp_req;

/* Completion handlers (srv_complete.c). */
int srv_inline_completion(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
int srv_completion(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
int srv_did_show_completion(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
int srv_did_partially_accept(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
/* Code actions (srv_actions.c). */
int srv_code_action(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
int srv_code_action_resolve(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
void srv_action_done(srv_lsp *s, srv_job_req *req, srv_job_res *res);
/* The path part of a file:// URI (else the URI), malloc'd; NULL on OOM. */
char *srv_uri_path(const char *uri);
/* Copies doc[a, b) into a new NUL-terminated buffer (*len set); NULL on OOM. */
char *srv_copy_range(const srv_doc *doc, size_t a, size_t b, size_t *len);
/* The scheduler's done callback (loop thread). */
void srv_completion_done(void *ud, srv_job_req *req, srv_job_res *res);
json_t *srv_comp_stats_json(const comp_stats *c);
void srv_shown_clear(shown_suggestion *sh);

/* Handler return value meaning "the answer comes later" (deferred). */
#define SRV_DEFERRED 1

#endif
