/* fuzz_frame.c — libFuzzer target for the Content-Length framer.
 *
 * Input: 3 control bytes, then the stream. Byte 0 picks max_body (small
 * values exercise the oversize path), byte 1 the chunk size, byte 2 where the
 * stream is cut. The stream goes through two framers: one fed it whole, one
 * fed it cut and in chunks. Both must produce the same events (the framer
 * promises independence from split points), every body must respect
 * max_body, the buffer must stay within its documented bound, and every body
 * is decoded with lsp_msg_decode.
 */
#include "lsp_frame.h"
#include "lsp_rpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    size_t len, cap;
} log_buf;

static void log_put(log_buf *b, const void *s, size_t n)
{
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1024;
        while (n > cap - b->len)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void check_body(const char *body, size_t len)
{
    lsp_msg m;
    lsp_rpc_error e;
    if (lsp_msg_decode(body, len, &m, &e) == 0) {
        if ((m.kind == LSP_MSG_REQUEST || m.kind == LSP_MSG_NOTIFICATION) && m.method == NULL)
            abort();
    } else if (e.code != LSP_ERR_PARSE && e.code != LSP_ERR_INVALID_REQUEST &&
               e.code != LSP_ERR_INTERNAL) {
        abort();
    }
    lsp_msg_clear(&m);
    lsp_rpc_error_clear(&e);
}

/* Takes every event until NEED_MORE, appending them to lg. */
static void drain(lsp_framer *f, log_buf *lg, size_t max_body, size_t fed_max, int decode)
{
    for (;;) {
        const char *body = NULL, *err = NULL;
        size_t len = 0;
        lsp_frame_status st = lsp_framer_next(f, &body, &len, &err);
        if (st == LSP_FRAME_NEED_MORE)
            break;
        if (st == LSP_FRAME_MESSAGE) {
            if (body == NULL || len > max_body)
                abort();
            log_put(lg, "M", 1);
            log_put(lg, &len, sizeof len);
            log_put(lg, body, len);
            if (decode)
                check_body(body, len);
        } else if (st == LSP_FRAME_ERROR) {
            if (err == NULL || err[0] == '\0')
                abort();
            log_put(lg, "E", 1);
            log_put(lg, err, strlen(err) + 1);
        } else {
            abort();
        }
    }
    /* Drained: what stays buffered is at most one incomplete frame. */
    if (lsp_framer_pending(f) > LSP_FRAME_MAX_HEADER + max_body)
        abort();
    size_t bound = 2 * (LSP_FRAME_MAX_HEADER + max_body + fed_max);
    if (lsp_framer_capacity(f) > (bound > (16u << 10) ? bound : (16u << 10)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max_body = data[0] < 64 ? (size_t)data[0] : (size_t)data[0] << 6;
    size_t chunk = 1 + data[1] % 97;
    const char *s = (const char *)data + 3;
    size_t n = size - 3;
    size_t cut = n * data[2] / 255;

    lsp_framer *a = lsp_framer_new(max_body);
    lsp_framer *b = lsp_framer_new(max_body);
    if (a == NULL || b == NULL)
        abort();
    if (max_body == 0)
        max_body = LSP_FRAME_DEFAULT_MAX;
    log_buf la = {0}, lb = {0};

    if (lsp_framer_feed(a, s, n) != 0)
        abort();
    drain(a, &la, max_body, n, 1);

    size_t pos = 0;
    while (pos < n) {
        size_t step = n - pos < chunk ? n - pos : chunk;
        if (pos < cut && cut - pos < step)
            step = cut - pos;
        if (lsp_framer_feed(b, s + pos, step) != 0)
            abort();
        drain(b, &lb, max_body, chunk, 0);
        pos += step;
    }
    if (la.len != lb.len || (la.len != 0 && memcmp(la.p, lb.p, la.len) != 0))
        abort();
    if (lsp_framer_pending(a) != lsp_framer_pending(b))
        abort();

    free(la.p);
    free(lb.p);
    lsp_framer_free(a);
    lsp_framer_free(b);
    return 0;
}
