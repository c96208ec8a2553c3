/* srv_lsp.h — the language server's state machine, independent of I/O.
 *
 * srv_lsp_handle() takes one message body (as the framer delivered it) and
 * emits zero or more outgoing bodies through the send callback: responses,
 * $/logTrace notifications. It owns the lifecycle (initialize → initialized →
 * shutdown → exit), the open documents and the statistics. The event loop in
 * srv_io.c feeds it; tests drive it directly.
 */
#ifndef SPARKD_SRV_LSP_H
#define SPARKD_SRV_LSP_H

#include <stddef.h>
#include "srv_config.h"
#include "srv_doc.h"
#include "srv_sched.h"
#include "srv_stats.h"

typedef struct srv_lsp srv_lsp;

/* Receives one outgoing JSON body (no frame header), borrowed for the call. */
typedef void (*srv_send_fn)(void *ud, const char *body, size_t len);

typedef enum {
    SRV_UNINITIALIZED,   /* waiting for `initialize` */
    SRV_RUNNING,         /* initialize answered */
    SRV_SHUTDOWN,        /* `shutdown` answered; only `exit` matters now */
    SRV_EXITED,          /* `exit` received: stop the loop */
} srv_state;

/* cfg is borrowed and updated in place by client settings. NULL on OOM. */
srv_lsp *srv_lsp_new(srv_config *cfg, srv_send_fn send, void *ud);
void srv_lsp_free(srv_lsp *s);

void srv_lsp_handle(srv_lsp *s, const char *body, size_t len);
/* Records a framing error (the framer skipped bytes) and logs it. */
void srv_lsp_bad_frame(srv_lsp *s, const char *reason);

srv_state srv_lsp_state(const srv_lsp *s);
/* Process exit status the spec asks for: 0 if `shutdown` came before the end
 * (exit notification or EOF), 1 otherwise. */
int srv_lsp_exit_code(const srv_lsp *s);
const srv_stats *srv_lsp_stats(const srv_lsp *s);
/* The open document with this URI, or NULL (borrowed). */
const srv_doc *srv_lsp_document(const srv_lsp *s, const char *uri, int *version);
lsp_encoding srv_lsp_encoding(const srv_lsp *s);
/* Gives the server its completion scheduler (borrowed; before initialize).
 * Without one, completion capabilities are not advertised. The scheduler's
 * callbacks must be srv_completion_done and srv_load_progress with this
 * srv_lsp as ud. */
void srv_lsp_set_sched(srv_lsp *s, srv_sched *sched);
void srv_completion_done(void *ud, srv_job_req *req, srv_job_res *res);
/* The scheduler's load callback (ud: this srv_lsp): reports the model load
 * as work-done progress when the client supports it. */
void srv_load_progress(void *ud, const srv_load_event *ev);

#endif
