/* lsp_frame.h — Content-Length framing over a byte stream (LSP base protocol).
 *
 * A framer is fed whatever bytes the transport delivered (any split point,
 * several messages per read) and hands back complete message bodies, one at a
 * time. Header names are case-insensitive; `Content-Length` is required,
 * `Content-Type` is optional; lines must end in "\r\n". A frame whose header is
 * bad is reported as LSP_FRAME_ERROR and the framer resynchronises at the next
 * line that starts a header ("Content-Length:" or "Content-Type:"). A body
 * larger than the configured maximum is reported once as an error and its
 * bytes are skipped as they arrive, never buffered.
 */
#ifndef SPARKD_LSP_FRAME_H
#define SPARKD_LSP_FRAME_H

#include <stddef.h>

#define LSP_FRAME_DEFAULT_MAX ((size_t)64 << 20)   /* 64 MiB */

typedef struct lsp_framer lsp_framer;

typedef enum {
    LSP_FRAME_NEED_MORE = 0,   /* no complete message buffered: feed more bytes */
    LSP_FRAME_MESSAGE   = 1,   /* *body/*len hold one message body */
    LSP_FRAME_ERROR     = 2,   /* *err says what was wrong; call next() again */
} lsp_frame_status;

/* New framer that accepts bodies of at most max_body bytes (0: the default).
 * Returns NULL on out of memory. */
lsp_framer *lsp_framer_new(size_t max_body);
void lsp_framer_free(lsp_framer *f);

/* Appends len bytes. Returns 0, or -1 on out of memory (bytes not taken). */
int lsp_framer_feed(lsp_framer *f, const void *buf, size_t len);

/* Takes the next event. For LSP_FRAME_MESSAGE, *body points at len bytes owned
 * by the framer (not NUL-terminated) valid until the next call on f. For
 * LSP_FRAME_ERROR, *err is a static human-readable reason. */
lsp_frame_status lsp_framer_next(lsp_framer *f, const char **body, size_t *len,
                                 const char **err);

/* Bytes buffered but not yet returned (for tests and for EOF diagnostics). */
size_t lsp_framer_pending(const lsp_framer *f);

/* Writes "Content-Length: N\r\n\r\n" into out (cap >= 40 is always enough).
 * Returns the header length. */
size_t lsp_frame_header(char *out, size_t cap, size_t body_len);

#endif
