/* engine/tok_dec.c — token ids back to text: what each vocabulary string stands for, exact
 * decode, and the streaming decoder.
 *
 * Built on eng_tok_piece() only. The stream owns two buffers sized from the longest piece,
 * so a push never allocates and never fails.
 */
#include "tok.h"

#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 byte <-> character mapping ----------------------------------------------- */
/* Printable bytes stand for themselves; the 68 others (0x00-0x20, 0x7F-0xA0, 0xAD) are
 * U+0100.. in byte order, so every byte is one visible character. */

static inline bool gpt2_printable(uint32_t b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

size_t eng_tok_byte_char(uint8_t b, char out[2])
{
    uint32_t cp = gpt2_printable(b) ? b : b <= 0x20 ? 0x100u + b
                : b <= 0xA0 ? 0x100u + 33 + (b - 0x7Fu) : 0x100u + 67;  /* 0xAD */
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static int gpt2_cp_to_byte(uint32_t cp)  /* -1: not a byte stand-in */
{
    if (cp < 0x100)
        return gpt2_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68)
        return -1;
    uint32_t k = cp - 0x100;
    return k < 33 ? (int)k : k < 67 ? (int)(0x7F + k - 33) : 0xAD;
}

/* ---- Vocabulary strings to bytes ---------------------------------------------------- */

static int parse_byte_token(const char *s, size_t n)  /* "<0xXX>" -> XX, else -1 */
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

size_t eng_tok_str_bytes(eng_tok_model model, eng_tok_type type, const char *s, size_t n,
                         char *out)
{
    size_t o = 0;
    if (type == ENG_TOK_CONTROL || type == ENG_TOK_UNKNOWN || type == ENG_TOK_UNUSED ||
        type == ENG_TOK_USER_DEFINED) {
        memcpy(out, s, n);
        return n;
    }
    if (model == ENG_TOK_MODEL_SPM) {
        int b = type == ENG_TOK_BYTE ? parse_byte_token(s, n) : -1;
        if (b >= 0) {
            out[0] = (char)b;
            return 1;
        }
        for (size_t i = 0; i < n;) {
            bool sp = i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0;
            out[o++] = sp ? ' ' : s[i];
            i += sp ? 3 : 1;
        }
        return o;
    }
    for (size_t i = 0; i < n;) {    /* BPE: GPT-2 characters back to bytes */
        uint32_t cp;
        size_t k = eng_tok_utf8_next(s + i, n - i, &cp);
        int b = cp < ENG_TOK_UTF8_MORE ? gpt2_cp_to_byte(cp) : -1;
        if (b >= 0) {
            out[o++] = (char)b;
        } else {                    /* not a stand-in: keep as written */
            memcpy(out + o, s + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

/* ---- Decoding ----------------------------------------------------------------------- */

/* The bytes id contributes under flags (NULL/0 when none); *strip is cleared once a piece
 * with bytes has gone by, after dropping its leading space if it was set. */
static const char *piece_for(const eng_tok *t, int32_t id, unsigned flags, bool *strip,
                             size_t *len)
{
    *len = 0;
    if (eng_tok_is_special(t, id) && !(flags & ENG_TOK_DECODE_SPECIAL))
        return NULL;
    const char *p = eng_tok_piece(t, id, len);
    if (p && *len && *strip) {
        *strip = false;
        if (p[0] == ' ')
            p++, (*len)--;
    }
    return p;
}

int64_t eng_tok_decode(const eng_tok *t, const int32_t *ids, size_t n, unsigned flags,
                       char *out, size_t cap)
{
    bool strip = (flags & ENG_TOK_DECODE_STRIP_SPACE) != 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = piece_for(t, ids[i], flags, &strip, &len);
        if (total < cap && len)
            memcpy(out + total, p, len <= cap - total ? len : cap - total);
        total += len;
    }
    return (int64_t)total;
}

/* ---- Streaming ---------------------------------------------------------------------- */

struct eng_tok_stream {
    const eng_tok *t;
    unsigned flags;
    bool strip;         /* STRIP_SPACE still to apply */
    char *in;           /* held bytes + the new piece: max_piece + 4 */
    size_t nheld;       /* bytes of an incomplete character carried over (<= 3) */
    char *out;          /* 3 * (max_piece + 4): every bad byte may become U+FFFD */
};

static const char REPLACEMENT[3] = {'\xEF', '\xBF', '\xBD'};

eng_tok_stream *eng_tok_stream_new(const eng_tok *t, unsigned flags)
{
    eng_tok_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t n = eng_tok_max_piece_len(t) + 4;
    s->t = t;
    s->flags = flags;
    s->in = malloc(n);
    s->out = malloc(3 * n);
    if (!s->in || !s->out) {
        eng_tok_stream_free(s);
        return NULL;
    }
    eng_tok_stream_reset(s);
    return s;
}

void eng_tok_stream_free(eng_tok_stream *s)
{
    if (!s)
        return;
    free(s->in);
    free(s->out);
    free(s);
}

void eng_tok_stream_reset(eng_tok_stream *s)
{
    s->nheld = 0;
    s->strip = (s->flags & ENG_TOK_DECODE_STRIP_SPACE) != 0;
}

const char *eng_tok_stream_push(eng_tok_stream *s, int32_t id, size_t *len)
{
    size_t n;
    const char *p = piece_for(s->t, id, s->flags, &s->strip, &n);
    if (n)
        memcpy(s->in + s->nheld, p, n);
    n += s->nheld;
    s->nheld = 0;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = eng_tok_utf8_next(s->in + i, n - i, &cp);
        if (cp == ENG_TOK_UTF8_MORE) {      /* may still complete: keep for next time */
            memmove(s->in, s->in + i, k);
            s->nheld = k;
            break;
        }
        if (cp == ENG_TOK_UTF8_BAD) {
            memcpy(s->out + o, REPLACEMENT, 3);
            o += 3;
        } else {
            memcpy(s->out + o, s->in + i, k);
            o += k;
        }
        i += k;
    }
    *len = o;
    return s->out;
}

const char *eng_tok_stream_flush(eng_tok_stream *s, size_t *len)
{
    *len = 0;
    if (s->nheld) {     /* a valid start that never finished: one maximal subpart */
        memcpy(s->out, REPLACEMENT, 3);
        *len = 3;
    }
    s->nheld = 0;
    return s->out;
}
