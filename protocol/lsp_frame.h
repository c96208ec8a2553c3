/* lsp_frame.h — Content-Length framing over a byte stream (LSP base protocol).
 *
 * A framer is fed whatever bytes the transport delivered (any split point,
 * several messages per read) and hands back complete message bodies, one at a
 * time. Header names are case-insensitive; `Content-Length` is required,
 * `Content-Type` is optional; lines must end in "\r\n". A frame whose header is
 * bad is reported as LSP_FRAME_ERROR and the framer resynchronises at the next
 * header name ("Content-Length:" or "Content-Type:", any case) in the stream.
 * That name may start mid-line: a frame's header begins right after the
 * previous body, which has no line terminator of its own. A body larger than
 * the configured maximum is reported once as an error and its bytes are
 * skipped as they arrive, never buffered.
 *
 * Header rules, each violation one LSP_FRAME_ERROR:
 *  - every line `name: value` + "\r\n"; name a token, value without control
 *    characters; a bare "\n" or "\r" is an error;
 *  - Content-Length exactly once, decimal digits only (leading/trailing spaces
 *    and tabs allowed), at most LSP_FRAME_LENGTH_LIMIT; Content-Type and
 *    unknown fields are ignored;
 *  - the header block, blank line included, is at most LSP_FRAME_MAX_HEADER.
 * After a bad line the search for the next header name starts one byte after
 * that line's start; after a complete header block without Content-Length it
 * starts after the block. One damaged frame can yield more than one error.
 * Which events come out depends only on the bytes, not on how they were split
 * into feed() calls.
 *
 * Memory: at most LSP_FRAME_MAX_HEADER + max_body plus one feed() worth of
 * bytes is buffered, provided next() is drained (until NEED_MORE) after each
 * feed(); a large buffer is given back once the stream is idle.
 */
#ifndef SPARKD_LSP_FRAME_H
#define SPARKD_LSP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define LSP_FRAME_DEFAULT_MAX  ((size_t)64 << 20)   /* 64 MiB */
#define LSP_FRAME_MAX_HEADER   ((size_t)8 << 10)    /* header block, 8 KiB */
/* Larger Content-Length values are treated as a bad header (resync), not as
 * an oversize body to skip: no client sends a 4 GiB message. */
#define LSP_FRAME_LENGTH_LIMIT ((size_t)UINT32_MAX)

typedef struct lsp_framer lsp_framer;

typedef enum {
    LSP_FRAME_NEED_MORE = 0,   /* no complete message buffered: feed more bytes */
    LSP_FRAME_MESSAGE   = 1,   /* *body and *len hold one message body */
    LSP_FRAME_ERROR     = 2,   /* *err says what was wrong; call next() again */
} lsp_frame_status;

/* New framer that accepts bodies of at most max_body bytes (0: the default;
 * values above LSP_FRAME_LENGTH_LIMIT are lowered to it).
 * Returns NULL on out of memory. */
lsp_framer *lsp_framer_new(size_t max_body);
void lsp_framer_free(lsp_framer *f);

/* Appends len bytes (a copy). Returns 0, or -1 on out of memory (bytes not
 * taken; the framer stays usable). Invalidates a body returned by next(). */
int lsp_framer_feed(lsp_framer *f, const void *buf, size_t len);

/* Takes the next event; call it until it returns LSP_FRAME_NEED_MORE. For
 * LSP_FRAME_MESSAGE, *body points at *len bytes owned by the framer (not
 * NUL-terminated; *len may be 0) valid until the next call on f. For
 * LSP_FRAME_ERROR, *err is a static human-readable reason. Any of body, len,
 * err may be NULL. */
lsp_frame_status lsp_framer_next(lsp_framer *f, const char **body, size_t *len,
                                 const char **err);

/* Bytes buffered but not yet returned (for tests and for EOF diagnostics):
 * non-zero after the last NEED_MORE means the stream ended mid-frame. */
size_t lsp_framer_pending(const lsp_framer *f);

/* Bytes currently allocated for the buffer (for tests of the memory bound). */
size_t lsp_framer_capacity(const lsp_framer *f);

/* Writes "Content-Length: N\r\n\r\n" into out (cap >= 40 is always enough),
 * NUL-terminated when there is room for it. Returns the header length, or 0
 * (nothing written) when cap is too small. */
size_t lsp_frame_header(char *out, size_t cap, size_t body_len);

#endif
