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
    int invoked;            /* it answered an invoked request (its longer limits) */
} shown_suggestion;

typedef struct {
    char *uri;              /* may hold NUL bytes: compare with uri_len */
    size_t uri_len;
    char *language;
    int version;
    srv_doc *doc;
    gram_doc *gram;         /* its syntax tree, edited along (NULL: out of memory) */
    shown_suggestion shown;
    int out_of_sync;        /* a change was refused (max_open_bytes): the text is stale, so
                               completions and actions are empty until the next didOpen */
} open_doc;

/* Completion counters for sparkd/stats: every empty answer has a reason. */
typedef struct {
    uint64_t requests;      /* inlineCompletion + completion requests */
    uint64_t answered;      /* with a non-empty suggestion */
    uint64_t fast_path;     /* of which from the shown suggestion (no model run) */
    uint64_t quick;         /* model answers from a short prompt (quick start) */
    uint64_t empty;
    json_t *empty_reasons;  /* reason -> count */
    uint64_t shown, partial_accepts, accepted_chars;
    uint64_t prompt_tokens, reused_tokens, restored_tokens, generated_tokens, steps, drafted, accepted;
    double queue_ms, prefill_ms, decode_ms;     /* sums, for the stage breakdown */
    double protocol_ms;     /* loop thread: decoding, edits, request set-up, the answer */
    double gram_ms;         /* syntax context at the cursor + trimming the answer */
    double cache_ms;        /* asking the SQLite cache for a prompt's KV */
    srv_stats latency;      /* request -> answer (its histogram) */
} comp_stats;

/* A reply to a request the server sent: result or error (the JSON-RPC error
 * object) is set, borrowed for the call; both NULL when no reply will come
 * (the server is closing). Runs exactly once per request. */
typedef void (*srv_reply_fn)(srv_lsp *s, void *ud, json_t *result, json_t *error);

/* A server -> client request waiting for its reply. */
typedef struct {
    json_int_t id;
    srv_reply_fn fn;
    void *ud;
} out_request;

typedef struct work_progress work_progress;     /* srv_progress.c */

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
    out_request *out_reqs;  /* server -> client requests awaiting replies */
    size_t n_out, cap_out;
    json_int_t next_out_id;
    int client_progress;    /* client advertised window.workDoneProgress */
    json_t *init_token;     /* initialize's workDoneToken, until the first load uses it (owned) */
    work_progress *progress;/* the model load being reported, or NULL */
    uint64_t last_typed_ns; /* when the last automatic completion was asked (debounce) */
    struct comp_req *rewrites;  /* rewrites running (srv_rewrite.c), for progress cancel */
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
/* Sends a notification (params borrowed, may be NULL). */
void srv_send_notification(srv_lsp *s, const char *method, json_t *params);
/* Sends a server -> client request (params borrowed); fn gets the reply.
 * Returns 0, or -1 when out of memory (then fn is never called). */
int srv_send_request(srv_lsp *s, const char *method, json_t *params, srv_reply_fn fn, void *ud);
/* Work-done progress ($/progress; srv_progress.c): on token (a client's
 * workDoneToken; NULL: one the server asks the client to create, named
 * sparkd/NAME/N, when it supports that), or NULL when the client cannot show
 * progress. Values before the client answers the create request wait;
 * they are dropped if it refuses. send steals value; close ends the
 * opener's use (no value after it). */
work_progress *srv_progress_open(srv_lsp *s, json_t *token, const char *name);
void srv_progress_send(srv_lsp *s, work_progress *p, json_t *value);
void srv_progress_close(srv_lsp *s, work_progress *p);
json_t *srv_progress_token(const work_progress *p);     /* borrowed */
/* The model-load progress, at exit. */
void srv_progress_free(srv_lsp *s);
/* Member `key` of o with jansson type t, or NULL with *f set ("what.key ..."). */
json_t *srv_member(json_t *o, const char *what, const char *key, json_type t, fail *f);
int srv_get_uint32(json_t *o, const char *what, const char *key, uint32_t *out, fail *f);
open_doc *srv_find_doc(const srv_lsp *s, const char *uri, size_t len);
/* params.textDocument with its uri, or NULL with *f set. */
json_t *srv_text_document(json_t *params, const char **uri, size_t *len, fail *f);

typedef enum { KIND_INLINE, KIND_COMPLETION, KIND_ACTION } comp_kind;


/* What the answer needs to know about its request (srv_job_req.user). */
typedef struct comp_req {
    comp_kind kind;
    uint32_t line, character;   /* the cursor, as the client sent it */
    size_t anchor;              /* cursor byte offset when asked */
    int version;                /* document version when asked */
    int invoked;                /* the user asked (longer limits) rather than typing */
    /* KIND_INLINE with selectedCompletionInfo: the popup's selected item, whose
     * text the suggestion extends over its range */
    char *sel_text;             /* owned; NULL: none */
    size_t sel_len;
    uint32_t sel_range[4];
    json_t *action;             /* KIND_ACTION: the CodeAction being resolved (owned) */
    uint32_t edit_line;         /* KIND_ACTION: where the edit goes (line start) */
    int action_kind;            /* KIND_ACTION: which action */
    char *indent;               /* KIND_ACTION: the indentation of inserted lines (owned) */
    /* KIND_ACTION, for the parse check and the minimal edit: */
    char *doc;                  /* the document's text when asked (owned) */
    size_t doc_len, edit_a, edit_b;     /* the model's text replaces doc[edit_a, edit_b) */
    const gram_lang *lang;
    json_t *command_id;         /* workspace/executeCommand's id (owned): the edit goes out
                                   with workspace/applyEdit; NULL: codeAction/resolve */
    work_progress *progress;    /* $/progress of a rewrite, or NULL */
    int progress_pct;           /* the last percentage reported */
    struct comp_req *next_rw;   /* srv_lsp.rewrites: the rewrites running */
    json_t *job_id;             /* the scheduler's id of the job (borrowed from its req) */
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
/* Submits a rewrite of doc lines [line, end_line) with instruction (NULL:
 * action's own); id answers it (resolve) or command_id (executeCommand). */
int srv_rewrite_submit(srv_lsp *s, open_doc *d, int action, uint32_t line, uint32_t end_line,
                       const char *instruction, json_t *id, json_t *action_json, json_t *command_id,
                       json_t *work_token, fail *f);
/* Rewrites (srv_rewrite.c): the command, its progress and cancellation. */
#define SRV_REWRITE_COMMAND "sparkd.rewrite"
#define SRV_ACT_REWRITE 6           /* the action "rewrite with instruction…" */
#define SRV_REWRITE_MAX_LINES 200   /* the largest region a rewrite takes */
/* The lines [*line, *end) a rewrite of range r (start line, char, end line,
 * char) works on: the selected lines, or the enclosing function for an
 * empty range. 0, or -1 when there is none or it is too big. */
int srv_rewrite_region(open_doc *d, const uint32_t r[4], uint32_t *line, uint32_t *end);
/* Parses an LSP Range: start <= end, every field a uint32. */
int srv_parse_range(json_t *range, uint32_t v[4], fail *f);
int srv_execute_command(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
int srv_work_done_cancel(srv_lsp *s, json_t *id, json_t *params, json_t **result, fail *f);
/* Starts (token given, or created when the client supports it) / ends the
 * work-done progress of a rewrite; progress comes from the scheduler. */
void srv_rewrite_begin(srv_lsp *s, comp_req *cr, json_t *token, const char *title);
void srv_rewrite_end(srv_lsp *s, comp_req *cr, const char *message);
void srv_rewrite_progress(void *ud, srv_job_req *req, int generated);
/* Sends workspace/applyEdit for an executeCommand rewrite; answers the
 * command when the client replies. */
void srv_rewrite_apply(srv_lsp *s, comp_req *cr, json_t *edit, const char *label);
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
