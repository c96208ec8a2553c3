/* srv_sched.h — the completion scheduler: one worker thread that owns the
 * engine and runs completion jobs step by step, and an eventfd through which
 * finished jobs come back to the event loop.
 *
 * The loop never blocks on the engine: it submits a request and returns;
 * when the request finishes (or is superseded, cancelled, or fails) the
 * worker queues the result and signals the eventfd; the loop then calls
 * srv_sched_drain(), which runs the done callback on the loop thread.
 *
 * Scheduling: requests run one at a time, oldest first, except that a newer
 * request for the same document replaces an older one, whether it is still
 * waiting (answered "superseded" at once) or running (preempted between two
 * engine steps, a few ms). A request waits out its debounce before it starts,
 * so a burst of keystrokes costs one job.
 *
 * Background requests (rewrites for code actions: seconds, not
 * milliseconds) yield to completions: a completion that is ready to run
 * while a rewrite runs is served between two of the rewrite's steps, and the
 * rewrite then resumes where it was (the engine parks it; see complete.h).
 * Supersession only happens within a class: a completion never ends a
 * rewrite of the same document, nor the reverse.
 */
#ifndef SPARKD_SRV_SCHED_H
#define SPARKD_SRV_SCHED_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "complete.h"
#include "gram.h"
#include "srv_config.h"

typedef struct srv_sched srv_sched;

/* Where the configured engine comes from: model files and device spec,
 * resolved from cfg (bundled models when unset; the draft is left out when
 * "none", or when it is the bundled one and absent). */
typedef struct {
    char model[SRV_PATH_MAX];
    char draft[SRV_PATH_MAX];   /* "" when there is no draft model */
    char device[160];
    int fim_order;              /* -1 auto, else an eng_fim_order */
} srv_engine_setup;

void srv_engine_setup_resolve(const srv_config *cfg, srv_engine_setup *out);

/* The length limits of a completion at a cursor, the same for the language
 * server and `sparkd complete`: invoked (the user asked) or automatic
 * (typing); suffix is the text after the cursor; gram the syntax there (may
 * be NULL). Defined in srv_complete.c. */
void srv_completion_limits(const srv_config *cfg, int invoked, const char *suffix, size_t suffix_len,
                           const gram_ctx *gram, int *max_tokens, int *max_lines);

struct srv_job_res;

/* A completion request. The scheduler owns it from submit to done. */
typedef struct srv_job_req {
    json_t *id;                 /* the LSP request id (owned reference) */
    char *uri;                  /* owned */
    char *prefix, *suffix;      /* owned copies of the text around the cursor */
    size_t prefix_len, suffix_len;
    char *path;                 /* file path for the prompt (owned, may be NULL) */
    eng_fim_file *files;        /* other open files as repo context (owned, with their
                                   path and text) */
    size_t n_files;
    int max_tokens, max_lines;
    float temperature;
    uint64_t seed;
    int debounce_ms;            /* wait this long for a newer request first */
    int deadline_ms;            /* budget from submission; 0 = none */
    uint64_t submitted_ns;
    void *user;                 /* the caller's (e.g. request kind, position) */
    void (*user_free)(void *);  /* frees user when the scheduler drops the request
                                   unanswered (shutting down); NULL: nothing to free */
    gram_ctx *gram;             /* syntax at the cursor, for trimming (owned, may be NULL) */
    int background;             /* 1: yields to completions (rewrites) */
    int quick_start;            /* eng_request.quick_start (automatic completions) */
    /* Rewrites (see eng_request): the region between prefix and suffix. */
    char *original;             /* owned; NULL: a completion */
    size_t original_len;
    char *instruction;          /* owned, may be NULL */
    char *language;             /* owned, may be NULL */
    const char *line_comment;   /* static, may be NULL */
    /* Runs on the worker when the engine's text is final and not empty, before
     * the result goes to the loop: may replace res->text or empty it with a
     * reason (a rewrite's parse check). Reads only req and res. NULL: none. */
    void (*post)(struct srv_job_req *req, struct srv_job_res *res);
    struct srv_job_req *next;   /* scheduler's list link */
} srv_job_req;

/* What happened to a request. text is owned by the result. reason is a
 * static string naming why the answer is what it is ("" when the text is a
 * normal completion). */
typedef struct srv_job_res {
    char *text;
    size_t len;
    int empty;                  /* 1: no completion to show; reason says why */
    int cancelled;              /* 1: $/cancelRequest (answer RequestCancelled) */
    const char *reason;
    char detail[256];           /* an error message, when reason is "error" */
    int prompt_tokens, reused_tokens, restored_tokens, generated_tokens;
    double prefill_ms, decode_ms, queue_ms;
    uint64_t steps, drafted, accepted;
    int quick;                  /* answered from a short prompt (quick start) */
    double gram_ms, cache_ms;   /* syntax trimming; asking the SQLite cache */
} srv_job_res;

/* Called on the loop thread from srv_sched_drain(). Takes ownership of req
 * and res (free them with srv_job_req_free / srv_job_res_clear). */
typedef void (*srv_sched_done_fn)(void *ud, srv_job_req *req, srv_job_res *res);

/* How a model load goes, for work-done progress: one BEGIN, a STAGE before
 * each part (main model, draft model, cache), one END, in that order. */
typedef enum { SRV_LOAD_BEGIN, SRV_LOAD_STAGE, SRV_LOAD_END } srv_load_phase;
typedef struct {
    srv_load_phase phase;
    int percentage;             /* 0..100 */
    int ok;                     /* SRV_LOAD_END: 1 ready, 0 failed (message says why) */
    char message[600];
} srv_load_event;

/* Called on the loop thread from srv_sched_drain(), in order with the done
 * callbacks; ev is borrowed for the call. */
typedef void (*srv_sched_load_fn)(void *ud, const srv_load_event *ev);

/* Starts the worker. It loads the models in the background once
 * srv_sched_configure() was called (the server does at initialize, after the
 * client's initializationOptions), and again whenever a setting that the
 * engine is built from changes (model, draft, device, cache, threads...).
 * Each load is reported through load (NULL: not reported). cfg is copied.
 * NULL with err on failure to start (no thread, no eventfd). */
srv_sched *srv_sched_new(const srv_config *cfg, srv_sched_done_fn done, srv_sched_load_fn load,
                         void *ud, char *err, size_t errlen);
/* Stops the worker (answers nothing more), joins it, frees everything. */
void srv_sched_free(srv_sched *s);
int srv_sched_fd(const srv_sched *s);

void srv_sched_configure(srv_sched *s, const srv_config *cfg);
void srv_sched_submit(srv_sched *s, srv_job_req *req);
/* Cancels the request with this id, waiting or running (no-op if unknown).
 * Returns 1 if it was found. */
int srv_sched_cancel(srv_sched *s, json_t *id);
void srv_sched_drain(srv_sched *s);

/* How far a background request got: generated of max_tokens, reported on
 * the loop thread from srv_sched_drain() before its done callback (at most
 * about one call per 5 %). req is borrowed for the call. */
typedef void (*srv_sched_progress_fn)(void *ud, srv_job_req *req, int generated);
/* Sets the progress callback (NULL: none); before the first submit. */
void srv_sched_set_progress(srv_sched *s, srv_sched_progress_fn fn);

/* The speculative decoder's counters and cost model as of the latest job
 * (zeros before the first), and the device faults recovered from so far. */
void srv_sched_spec_stats(srv_sched *s, eng_spec_stats *out, uint64_t *device_resets);

/* Model status for logs and stats: "loading", "ready", or the load error. */
void srv_sched_status(srv_sched *s, char *out, size_t outlen);

void srv_job_req_free(srv_job_req *r);
void srv_job_res_clear(srv_job_res *r);

#endif
