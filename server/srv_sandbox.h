/* srv_sandbox.h — the seccomp-bpf filter of `sparkd lsp`.
 *
 * Once installed, the process (every thread, and any thread started later)
 * can no longer create sockets or run programs: socket(), execve(),
 * execveat() and io_uring_setup() (whose rings could open sockets behind the
 * filter's back) fail with EPERM instead of killing the daemon, so the
 * attempt is logged and serving goes on. Everything else stays allowed (a
 * deny-list, not an allow-list): opening and mapping model files, the SQLite
 * cache and its locks, threads, eventfd, the event loop.
 *
 * A filter cannot be removed; install it after start-up work that needs the
 * denied calls (none does today) and before any thread is started.
 */
#ifndef SPARKD_SRV_SANDBOX_H
#define SPARKD_SRV_SANDBOX_H

#include <stddef.h>

/* Installs the filter on the calling process. Returns 0, or -1 with the
 * reason in err. */
int srv_sandbox_install(char *err, size_t errlen);

/* One line naming what the filter refuses, for the start-up log. */
const char *srv_sandbox_summary(void);

#endif
