/* srv_io.h — `sparkd lsp`: the libev loop that connects a byte stream to the
 * LSP state machine.
 *
 * Reads are non-blocking and fed to the framer as they arrive; replies go to
 * a write queue drained when the output is writable, so a slow client never
 * blocks the loop. The loop ends on `exit`, on EOF of the input, when the
 * output is gone (client died; SIGPIPE is ignored), or on SIGTERM/SIGINT
 * (a running decode is stopped between two engine steps, the cache closed).
 */
#ifndef SPARKD_SRV_IO_H
#define SPARKD_SRV_IO_H

#include "srv_config.h"

/* Serves LSP on in_fd/out_fd until the client leaves. Returns the process
 * exit status: 0 after a proper shutdown or on SIGTERM/SIGINT, 1 otherwise. */
int srv_io_run(srv_config *cfg, int in_fd, int out_fd);

#endif
