/* lsp_frame.c — incremental Content-Length framer (see lsp_frame.h).
 *
 * The framer owns one byte buffer. buf[start, end) holds bytes fed but not
 * yet consumed; a frame being read always begins at `start`, so a buffered
 * message never moves until it has been handed out. Memory stays bounded by
 * the largest acceptable frame (LSP_FRAME_MAX_HEADER + max_body) plus what
 * one feed() delivers, whatever the stream's length: consumed bytes are
 * reclaimed by compaction on the next feed(), oversize bodies are dropped as
 * they arrive, and resynchronisation discards garbage as it scans.
 *
 * The sequence of MESSAGE and ERROR events depends only on the bytes fed,
 * never on how the stream was split into feed() calls (the fuzzer checks it).
 */
#include "lsp_frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP  ((size_t)16 << 10)
#define SHRINK_ABOVE ((size_t)1 << 20)   /* give back a big buffer once empty */

typedef enum {
    ST_HEADER,   /* parsing header lines of the frame at start */
    ST_BODY,     /* header done; waiting for body_len bytes after it */
    ST_SKIP,     /* dropping skip_left bytes of an oversize body; buffer empty */
    ST_RESYNC,   /* after a bad header: looking for the next header name */
} frame_state;

struct lsp_framer {
    char *buf;
    size_t cap, start, end;
    size_t max_body;
    frame_state state;
    size_t hdr_len;     /* header bytes of the current frame parsed so far */
    size_t scan;        /* HEADER: bytes of the current line already searched */
    int have_len;       /* HEADER: a Content-Length line was seen */
    size_t body_len;    /* HEADER/BODY: its value */
    size_t skip_left;   /* SKIP: body bytes still to drop */
};

// ---------------------------------------------------------------- lifetime

lsp_framer *lsp_framer_new(size_t max_body)
{
    lsp_framer *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->buf = malloc(INITIAL_CAP);
    if (f->buf == NULL) {
        free(f);
        return NULL;
    }
    f->cap = INITIAL_CAP;
    if (max_body == 0)
        max_body = LSP_FRAME_DEFAULT_MAX;
    f->max_body = max_body < LSP_FRAME_LENGTH_LIMIT ? max_body : LSP_FRAME_LENGTH_LIMIT;
    f->state = ST_HEADER;
    return f;
}

void lsp_framer_free(lsp_framer *f)
{
    if (f == NULL)
        return;
    free(f->buf);
    free(f);
}

size_t lsp_framer_pending(const lsp_framer *f) { return f->end - f->start; }

size_t lsp_framer_capacity(const lsp_framer *f) { return f->cap; }

// ---------------------------------------------------------------- feeding

static void to_header(lsp_framer *f);

/* Makes room for `need` more bytes after the pending ones: reclaims consumed
 * space first, grows geometrically, and shrinks a large idle buffer back. */
static int reserve(lsp_framer *f, size_t need)
{
    size_t pending = f->end - f->start;
    if (need > SIZE_MAX - pending)
        return -1;
    size_t total = pending + need;
    int shrink = f->cap > SHRINK_ABOVE && total <= INITIAL_CAP;
    if (f->start > 0 && (need > f->cap - f->end || f->start >= f->cap / 2 || shrink)) {
        memmove(f->buf, f->buf + f->start, pending);
        f->start = 0;
        f->end = pending;
    }
    if (shrink) {
        char *small = realloc(f->buf, INITIAL_CAP);
        if (small != NULL) {   /* failing to shrink is harmless */
            f->buf = small;
            f->cap = INITIAL_CAP;
        }
    }
    if (need <= f->cap - f->end)
        return 0;
    size_t cap = f->cap;
    while (cap < total)
        cap = cap > SIZE_MAX / 2 ? total : cap * 2;
    char *nb = realloc(f->buf, cap);
    if (nb == NULL)
        return -1;
    f->buf = nb;
    f->cap = cap;
    return 0;
}

int lsp_framer_feed(lsp_framer *f, const void *buf, size_t len)
{
    const char *p = buf;
    if (f->state == ST_SKIP) {   /* the buffer is empty in this state */
        size_t drop = len < f->skip_left ? len : f->skip_left;
        f->skip_left -= drop;
        p += drop;
        len -= drop;
        if (f->skip_left == 0)
            to_header(f);
    }
    if (len == 0)
        return 0;
    if (reserve(f, len) != 0)
        return -1;
    memcpy(f->buf + f->end, p, len);
    f->end += len;
    return 0;
}

// ---------------------------------------------------------------- header lines

static int ieq_prefix(const char *s, size_t n, const char *lower_name)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower_name[i])
            return 0;
    }
    return 1;
}

static int is_tchar(unsigned char c)   /* RFC 9110 token characters */
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Parses a Content-Length value (already trimmed). Returns NULL or a reason. */
static const char *parse_length(const char *v, size_t n, size_t *out)
{
    if (n == 0)
        return "empty Content-Length";
    if (v[0] == '-')
        return "negative Content-Length";
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return "Content-Length is not a decimal number";
        x = x * 10 + (uint64_t)(v[i] - '0');
        if (x > LSP_FRAME_LENGTH_LIMIT)
            return "Content-Length is too large";
    }
    *out = (size_t)x;
    return NULL;
}

/* Checks one header line (without its "\r\n") and records what it says.
 * Returns NULL when the line is acceptable, else the reason. */
static const char *header_line(lsp_framer *f, const char *s, size_t n)
{
    size_t colon = 0;
    while (colon < n && s[colon] != ':') {
        if (!is_tchar((unsigned char)s[colon]))
            return "malformed header name";
        colon++;
    }
    if (colon == n)
        return "header line without ':'";
    if (colon == 0)
        return "empty header name";
    for (size_t i = colon + 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            return "bare CR in header";
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return "control character in header value";
    }
    const char *v = s + colon + 1, *ve = s + n;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    if (colon == 14 && ieq_prefix(s, 14, "content-length")) {
        if (f->have_len)
            return "duplicate Content-Length";
        const char *why = parse_length(v, (size_t)(ve - v), &f->body_len);
        if (why != NULL)
            return why;
        f->have_len = 1;
    }
    /* Content-Type and unknown fields are accepted and ignored, as the
     * reference client library does. */
    return NULL;
}

// ---------------------------------------------------------------- states

static void to_resync(lsp_framer *f, size_t new_start)
{
    f->start = new_start;
    f->state = ST_RESYNC;
}

static void to_header(lsp_framer *f)
{
    f->state = ST_HEADER;
    f->hdr_len = 0;
    f->scan = 0;
    f->have_len = 0;
    f->body_len = 0;
}

/* The blank line ended a header block of hdr_len bytes. */
static lsp_frame_status end_of_header(lsp_framer *f, const char **err)
{
    if (!f->have_len) {
        *err = "missing Content-Length header";
        to_resync(f, f->start + f->hdr_len);
        return LSP_FRAME_ERROR;
    }
    if (f->body_len > f->max_body) {
        *err = "message body larger than the maximum size: skipped";
        f->start += f->hdr_len;
        size_t avail = f->end - f->start;
        size_t drop = avail < f->body_len ? avail : f->body_len;
        f->start += drop;
        f->skip_left = f->body_len - drop;
        if (f->skip_left > 0)
            f->state = ST_SKIP;   /* the buffer is now empty */
        else
            to_header(f);
        return LSP_FRAME_ERROR;
    }
    f->state = ST_BODY;
    return LSP_FRAME_NEED_MORE;
}

/* Parses as many complete header lines as are buffered. Returns NEED_MORE
 * when it needs bytes or has moved to another state, ERROR with *err set. */
static lsp_frame_status step_header(lsp_framer *f, const char **err)
{
    for (;;) {
        size_t line = f->start + f->hdr_len;
        size_t room = LSP_FRAME_MAX_HEADER - f->hdr_len;   /* may be 0 */
        size_t limit = line + room;
        size_t stop = f->end < limit ? f->end : limit;
        size_t i = line + f->scan;
        const char *nl = i < stop ? memchr(f->buf + i, '\n', stop - i) : NULL;
        if (nl == NULL) {
            if (f->end >= limit) {
                /* Resync inside the overlong line; when the lines before it
                 * already fill the block, where the next line would start. */
                *err = "header block too long";
                to_resync(f, room > 0 ? line + 1 : line);
                return LSP_FRAME_ERROR;
            }
            f->scan = f->end - line;
            return LSP_FRAME_NEED_MORE;
        }
        size_t eol = (size_t)(nl - f->buf);
        const char *why = NULL;
        if (eol == line || f->buf[eol - 1] != '\r')
            why = "header line not terminated by CRLF";
        else if (eol - 1 == line) {       /* blank line: end of header */
            f->hdr_len += 2;
            return end_of_header(f, err);
        } else
            why = header_line(f, f->buf + line, eol - 1 - line);
        if (why != NULL) {
            *err = why;
            to_resync(f, line + 1);
            return LSP_FRAME_ERROR;
        }
        f->hdr_len += eol + 1 - line;
        f->scan = 0;
    }
}

/* Looks for the next header name anywhere in the buffer, case-insensitively.
 * A frame's header normally begins right after the previous body, mid-line,
 * so line starts alone would miss it. Bytes before a match are discarded. */
static int step_resync(lsp_framer *f)
{
    static const char *const names[] = {"content-length:", "content-type:"};
    for (size_t p = f->start; p < f->end; p++) {
        char c = f->buf[p];
        if (c != 'c' && c != 'C')
            continue;
        size_t avail = f->end - p;
        for (size_t k = 0; k < 2; k++) {
            size_t n = strlen(names[k]);
            if (!ieq_prefix(f->buf + p, avail < n ? avail : n, names[k]))
                continue;
            f->start = p;
            if (avail < n)
                return 0;       /* maybe a name: wait for the rest */
            to_header(f);
            return 1;
        }
    }
    f->start = f->end;
    return 0;
}

lsp_frame_status lsp_framer_next(lsp_framer *f, const char **body, size_t *len,
                                 const char **err)
{
    const char *dummy;
    if (err == NULL)
        err = &dummy;
    for (;;) {
        lsp_frame_status st;
        switch (f->state) {
        case ST_HEADER:
            st = step_header(f, err);
            if (st == LSP_FRAME_ERROR || f->state == ST_HEADER)
                return st;
            break;
        case ST_BODY:
            if (f->end - f->start - f->hdr_len < f->body_len)
                return LSP_FRAME_NEED_MORE;
            if (body != NULL)
                *body = f->buf + f->start + f->hdr_len;
            if (len != NULL)
                *len = f->body_len;
            f->start += f->hdr_len + f->body_len;
            to_header(f);
            return LSP_FRAME_MESSAGE;
        case ST_SKIP:
            return LSP_FRAME_NEED_MORE;
        case ST_RESYNC:
            if (!step_resync(f))
                return LSP_FRAME_NEED_MORE;
            break;
        }
    }
}

// ---------------------------------------------------------------- writing

size_t lsp_frame_header(char *out, size_t cap, size_t body_len)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, "Content-Length: %zu\r\n\r\n", body_len);
    if (n <= 0 || (size_t)n > cap)
        return 0;
    memcpy(out, tmp, (size_t)n);
    if ((size_t)n < cap)
        out[n] = '\0';
    return (size_t)n;
}
