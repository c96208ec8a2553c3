/* srv_io.c — the event loop of `sparkd lsp`; see srv_io.h. */
#include "srv_io.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lsp_frame.h"
#include "srv_log.h"
#include "srv_lsp.h"

#define READ_CHUNK (64 * 1024)
/* Above this much unsent output the client is not reading: log it once. */
#define OUT_WARN_BYTES ((size_t)64 << 20)

typedef struct {
    struct ev_loop *loop;
    ev_io rd, wr, done;     /* stdin, stdout, finished completions */
    ev_signal term, intr;   /* SIGTERM, SIGINT: stop cleanly */
    int stop_signal;        /* the signal that ended the loop, or 0 */
    int in_fd, out_fd;
    lsp_framer *framer;
    srv_lsp *lsp;
    srv_sched *sched;
    char *out;              /* queued output bytes [out_head, out_len) */
    size_t out_len, out_head, out_cap;
    int out_dead;           /* the client stopped reading (EPIPE etc.) */
    size_t out_limit;       /* unread output beyond this: the client is stuck */
    int warned_backlog;
} io_ctx;

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Writes as much queued output as the fd takes now. */
static void flush_out(io_ctx *io)
{
    while (io->out_head < io->out_len && !io->out_dead) {
        ssize_t n = write(io->out_fd, io->out + io->out_head, io->out_len - io->out_head);
        if (n > 0) { io->out_head += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        srv_warn("output closed (%s): the client is gone", n < 0 ? strerror(errno) : "0 bytes written");
        io->out_dead = 1;
        ev_break(io->loop, EVBREAK_ALL);
    }
    if (io->out_head == io->out_len) {
        io->out_head = io->out_len = 0;
        ev_io_stop(io->loop, &io->wr);
    } else if (!io->out_dead) {
        ev_io_start(io->loop, &io->wr);
    }
}

static int queue_bytes(io_ctx *io, const char *p, size_t n)
{
    if (io->out_head && io->out_len + n > io->out_cap) {   /* compact first */
        memmove(io->out, io->out + io->out_head, io->out_len - io->out_head);
        io->out_len -= io->out_head;
        io->out_head = 0;
    }
    if (io->out_len + n > io->out_cap) {
        size_t cap = io->out_cap ? io->out_cap : 64 * 1024;
        while (cap < io->out_len + n) cap *= 2;
        char *b = realloc(io->out, cap);
        if (!b) return -1;
        io->out = b;
        io->out_cap = cap;
    }
    memcpy(io->out + io->out_len, p, n);
    io->out_len += n;
    return 0;
}

static void send_cb(void *ud, const char *body, size_t len)
{
    io_ctx *io = ud;
    if (io->out_dead) return;
    char hdr[64];
    size_t h = lsp_frame_header(hdr, sizeof hdr, len);
    if (queue_bytes(io, hdr, h) || queue_bytes(io, body, len)) {
        srv_error("out of memory queueing a %zu-byte reply; reply dropped", len);
        return;
    }
    size_t queued = io->out_len - io->out_head;
    if (!io->warned_backlog && queued > OUT_WARN_BYTES) {
        io->warned_backlog = 1;
        srv_warn("client is not reading: %zu bytes queued", queued);
    }
    if (queued > io->out_limit) {     /* memory is not unbounded: give up on this client */
        srv_error("the client has not read %zu MiB of replies (more than 16 x max_message): it is stuck; "
                  "exiting", queued >> 20);
        io->out_dead = 1;
        ev_break(io->loop, EVBREAK_ALL);
        return;
    }
    flush_out(io);
}

static void drain_frames(io_ctx *io)
{
    const char *body, *err;
    size_t len;
    for (;;) {
        lsp_frame_status st = lsp_framer_next(io->framer, &body, &len, &err);
        if (st == LSP_FRAME_NEED_MORE) return;
        if (st == LSP_FRAME_ERROR) { srv_lsp_bad_frame(io->lsp, err); continue; }
        srv_lsp_handle(io->lsp, body, len);
        if (srv_lsp_state(io->lsp) == SRV_EXITED) { ev_break(io->loop, EVBREAK_ALL); return; }
    }
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    io_ctx *io = w->data;
    char buf[READ_CHUNK];
    (void)loop; (void)revents;
    for (int rounds = 0; rounds < 16; rounds++) {   /* stay fair to the writer */
        ssize_t n = read(io->in_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            if (n < 0) srv_warn("input error: %s", strerror(errno));
            else if (lsp_framer_pending(io->framer))
                srv_warn("input ended inside a message (%zu bytes unread)", lsp_framer_pending(io->framer));
            if (srv_lsp_state(io->lsp) != SRV_SHUTDOWN)
                srv_info("input closed before shutdown: exiting");
            ev_break(io->loop, EVBREAK_ALL);
            return;
        }
        if (lsp_framer_feed(io->framer, buf, (size_t)n)) {
            srv_error("out of memory buffering input");
            ev_break(io->loop, EVBREAK_ALL);
            return;
        }
        drain_frames(io);
        if (srv_lsp_state(io->lsp) == SRV_EXITED || io->out_dead) return;
    }
}

static void done_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    io_ctx *io = w->data;
    (void)loop; (void)revents;
    srv_sched_drain(io->sched);
}

/* SIGTERM/SIGINT: leave the loop; srv_sched_free then preempts a running
 * decode between two engine steps and closes the cache, so the process ends
 * within a step with the database consistent. */
static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    io_ctx *io = w->data;
    (void)revents;
    io->stop_signal = w->signum;
    srv_info("%s received: stopping", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
    ev_break(loop, EVBREAK_ALL);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop; (void)revents;
    flush_out(w->data);
}

/* On the way out, give queued replies (e.g. the shutdown result) a bounded
 * chance to reach the client. */
static void final_flush(io_ctx *io)
{
    for (int i = 0; i < 100 && io->out_head < io->out_len && !io->out_dead; i++) {
        flush_out(io);
        if (io->out_head < io->out_len) usleep(10000);
    }
}

int srv_io_run(srv_config *cfg, int in_fd, int out_fd)
{
    /* A client that stops reading must not kill us: writes then fail with
     * EPIPE and the loop ends (flush_out). */
    signal(SIGPIPE, SIG_IGN);
    io_ctx io = { .in_fd = in_fd, .out_fd = out_fd, .out_limit = 16 * cfg->max_message };
    io.loop = ev_default_loop(EVFLAG_AUTO);
    io.framer = lsp_framer_new(cfg->max_message);
    io.lsp = io.framer ? srv_lsp_new(cfg, send_cb, &io) : NULL;
    if (!io.loop || !io.lsp) {
        srv_error("cannot start the server: out of memory or no event loop");
        lsp_framer_free(io.framer);
        return 1;
    }
    if (!cfg->no_engine) {
        char err[256];
        io.sched = srv_sched_new(cfg, srv_completion_done, srv_load_progress, io.lsp, err, sizeof err);
        if (!io.sched) srv_error("completions disabled: %s", err);
        else {
            srv_lsp_set_sched(io.lsp, io.sched);
            ev_io_init(&io.done, done_cb, srv_sched_fd(io.sched), EV_READ);
            io.done.data = &io;
            ev_io_start(io.loop, &io.done);
        }
    }
    set_nonblock(in_fd);
    set_nonblock(out_fd);
    ev_io_init(&io.rd, read_cb, in_fd, EV_READ);
    ev_io_init(&io.wr, write_cb, out_fd, EV_WRITE);
    io.rd.data = io.wr.data = &io;
    ev_io_start(io.loop, &io.rd);
    ev_signal_init(&io.term, signal_cb, SIGTERM);
    ev_signal_init(&io.intr, signal_cb, SIGINT);
    io.term.data = io.intr.data = &io;
    ev_signal_start(io.loop, &io.term);
    ev_signal_start(io.loop, &io.intr);
    srv_info("sparkd lsp: serving on stdin/stdout (pid %d)", (int)getpid());

    ev_run(io.loop, 0);

    final_flush(&io);
    /* stopped by a signal: a requested stop, not a failure */
    int code = io.stop_signal ? 0 : srv_lsp_exit_code(io.lsp);
    srv_info("exiting with status %d", code);
    ev_io_stop(io.loop, &io.rd);
    ev_io_stop(io.loop, &io.wr);
    ev_signal_stop(io.loop, &io.term);
    ev_signal_stop(io.loop, &io.intr);
    if (io.sched) { ev_io_stop(io.loop, &io.done); srv_sched_free(io.sched); }
    srv_lsp_free(io.lsp);
    lsp_framer_free(io.framer);
    free(io.out);
    return code;
}
