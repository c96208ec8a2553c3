/* lsp_pos.c — LSP positions <-> byte offsets (see lsp_pos.h for the rules).
 *
 * Everything here walks one line's bytes once, code point by code point, with
 * the strict UTF-8 decoder below. No allocation, no state.
 */
#include "lsp_pos.h"

#include <string.h>

// ---------------------------------------------------------------- encodings

static const char *const enc_names[] = {
    [LSP_ENC_UTF8] = "utf-8", [LSP_ENC_UTF16] = "utf-16", [LSP_ENC_UTF32] = "utf-32",
};

int lsp_encoding_parse(const char *name, lsp_encoding *out)
{
    if (name == NULL)
        return -1;
    for (int e = LSP_ENC_UTF8; e <= LSP_ENC_UTF32; e++) {
        if (strcmp(name, enc_names[e]) == 0) {
            if (out != NULL)
                *out = (lsp_encoding)e;
            return 0;
        }
    }
    return -1;
}

const char *lsp_encoding_name(lsp_encoding enc)
{
    if ((unsigned)enc > LSP_ENC_UTF32)
        return "unknown";
    return enc_names[enc];
}

// ---------------------------------------------------------------- UTF-8

static int is_cont(unsigned char b) { return (b & 0xC0) == 0x80; }

size_t lsp_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t dummy;
    if (cp == NULL)
        cp = &dummy;
    *cp = 0xFFFD;
    if (len == 0)
        return 0;
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    /* The second byte's range excludes overlongs (E0, F0), UTF-16 surrogates
     * (ED) and code points above U+10FFFF (F4); C0, C1 and F5..FF never start
     * a shortest-form sequence. */
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 1;
    for (size_t i = 2; i < n; i++)
        if (!is_cont(s[i]))
            return 1;
    uint32_t v = b & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++)
        v = (v << 6) | (s[i] & 0x3Fu);
    *cp = v;
    return n;
}

/* Code units of one decoded character of byte length n in encoding enc.
 * An invalid byte decodes as U+FFFD with n == 1: one unit everywhere. */
static unsigned units_of(uint32_t cp, size_t n, lsp_encoding enc)
{
    switch (enc) {
    case LSP_ENC_UTF8:  return (unsigned)n;
    case LSP_ENC_UTF32: return 1;
    default:            return cp > 0xFFFF ? 2 : 1;
    }
}

// ---------------------------------------------------------------- lines

size_t lsp_line_content_len(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            return i;
    return len;
}

size_t lsp_col_to_byte(const char *line, size_t len, lsp_encoding enc,
                       uint32_t col, int *clamped)
{
    const unsigned char *s = (const unsigned char *)line;
    size_t end = lsp_line_content_len(line, len);
    size_t pos = 0;
    uint64_t u = 0;
    while (pos < end && u < col) {
        uint32_t cp;
        size_t n = lsp_utf8_decode(s + pos, end - pos, &cp);
        uint64_t w = units_of(cp, n, enc);
        if (u + w > col)
            break;              /* col is inside this character: its start */
        u += w;
        pos += n;
    }
    if (clamped != NULL)
        *clamped = pos == end && u < col;
    return pos;
}

uint32_t lsp_byte_to_col(const char *line, size_t len, lsp_encoding enc, size_t byte)
{
    const unsigned char *s = (const unsigned char *)line;
    size_t end = lsp_line_content_len(line, len);
    if (byte > end)
        byte = end;
    size_t pos = 0;
    uint64_t u = 0;
    while (pos < byte) {
        uint32_t cp;
        size_t n = lsp_utf8_decode(s + pos, end - pos, &cp);
        if (pos + n > byte)
            break;              /* byte is inside this character */
        u += units_of(cp, n, enc);
        pos += n;
    }
    return u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
}

size_t lsp_units(const char *s, size_t len, lsp_encoding enc)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t pos = 0, u = 0;
    while (pos < len) {
        uint32_t cp;
        size_t n = lsp_utf8_decode(p + pos, len - pos, &cp);
        u += units_of(cp, n, enc);
        pos += n;
    }
    return u;
}
