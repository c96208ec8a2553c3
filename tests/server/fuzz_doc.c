/* tests/server/fuzz_doc.c — libFuzzer target: the chunked document (server/srv_doc.c) and
 * its LSP position mapping, against a flat buffer with an independent reference mapping.
 *
 * Input: one byte picks the position encoding (utf-8 / utf-16 / utf-32), two bytes give the
 * initial text's length, then the text, then operations, each picked by a byte (mod 3):
 *   0: a range edit as didChange sends it: start and end positions (line, character; any
 *      uint32, so past the end of the line or document), then the new text, repeated up to
 *      64 times so that documents span many chunks;
 *   1: a byte-offset replace (offsets past the end and end < start included);
 *   2: offset -> position, and back.
 * After every operation the document must hold exactly the reference's bytes, with the same
 * length, line count and content hash. Positions are mapped by the reference from the
 * Unicode well-formedness table (3-7) directly, not with protocol/lsp_pos.c, so the
 * mapping code is checked too. Any difference aborts (a crash libFuzzer reports).
 * The reference's line count and hash are recomputed only when its text changes, and the
 * reference is not coverage-instrumented (see REFERENCE).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "srv_doc.h"

#define DOC_MAX ((size_t)1 << 18)   /* keeps one input's work bounded */

/* The reference is built without coverage instrumentation (AddressSanitizer still checks
 * it): its per-byte loops are most of an input's time when instrumented, and its branches
 * are no signal about the code under test, whose own coverage steers the fuzzer. */
#if defined(__clang__)
#define REFERENCE __attribute__((no_sanitize("coverage")))
#else
#define REFERENCE
#endif

/* ---- input reader --------------------------------------------------------------------- */

typedef struct { const uint8_t *p; size_t n; } input;

static unsigned take_u8(input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static unsigned take_u16(input *in) { unsigned a = take_u8(in); return a | take_u8(in) << 8; }

/* A position component: small values mostly, and near UINT32_MAX when the top bit is set. */
static uint32_t take_pos(input *in)
{
    unsigned v = take_u16(in);
    return v & 0x8000 ? UINT32_MAX - (v & 0x7fff) : v;
}

static const char *take_bytes(input *in, size_t want, size_t *got)
{
    *got = want < in->n ? want : in->n;
    const char *s = (const char *)in->p;
    in->p += *got;
    in->n -= *got;
    return s;
}

// ---- the reference: a flat buffer, positions by direct scanning

typedef struct {
    char *s;
    size_t n;
    int known;              /* breaks and hash below are those of s (cleared by an edit) */
    size_t breaks;
    uint64_t hash;
} flat;

REFERENCE static void flat_replace(flat *f, size_t a, size_t b, const char *t, size_t n)
{
    char *s = malloc(f->n - (b - a) + n + 1);
    if (!s) abort();
    memcpy(s, f->s, a);
    memcpy(s + a, t, n);
    memcpy(s + a + n, f->s + b, f->n - b);
    f->n = f->n - (b - a) + n;
    free(f->s);
    f->s = s;
    f->known = 0;
}

REFERENCE static int is_break(const flat *f, size_t i)   /* a break ends at byte i (inclusive) */
{
    return f->s[i] == '\n' || (f->s[i] == '\r' && (i + 1 == f->n || f->s[i + 1] != '\n'));
}

REFERENCE static size_t flat_breaks(const flat *f)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) k += is_break(f, i);
    return k;
}

/* Start of line `line`, or f->n with *past set when there is no such line. */
REFERENCE static size_t flat_line_start(const flat *f, size_t line, int *past)
{
    *past = 0;
    size_t seen = 0;
    for (size_t i = 0; i < f->n && seen < line; i++)
        if (is_break(f, i) && ++seen == line) return i + 1;
    if (seen < line) *past = 1;
    return line ? f->n : 0;
}

REFERENCE static size_t flat_content_end(const flat *f, size_t start)
{
    while (start < f->n && f->s[start] != '\n' && f->s[start] != '\r') start++;
    return start;
}

/* Length of the character at s[0..n) (n > 0) per Table 3-7 of the Unicode standard; an
 * ill-formed byte is a character of length 1. */
REFERENCE static size_t char_len(const unsigned char *s, size_t n)
{
    static const struct { unsigned char lead_lo, lead_hi, lo, hi, len; } T[] = {
        { 0x00, 0x7F, 0, 0, 1 },       { 0xC2, 0xDF, 0x80, 0xBF, 2 },
        { 0xE0, 0xE0, 0xA0, 0xBF, 3 }, { 0xE1, 0xEC, 0x80, 0xBF, 3 },
        { 0xED, 0xED, 0x80, 0x9F, 3 }, { 0xEE, 0xEF, 0x80, 0xBF, 3 },
        { 0xF0, 0xF0, 0x90, 0xBF, 4 }, { 0xF1, 0xF3, 0x80, 0xBF, 4 },
        { 0xF4, 0xF4, 0x80, 0x8F, 4 },
    };
    for (size_t r = 0; r < sizeof T / sizeof *T; r++) {
        if (s[0] < T[r].lead_lo || s[0] > T[r].lead_hi) continue;
        if (T[r].len == 1) return 1;
        if (n < T[r].len || s[1] < T[r].lo || s[1] > T[r].hi) return 1;
        for (size_t k = 2; k < T[r].len; k++)
            if ((s[k] & 0xC0) != 0x80) return 1;
        return T[r].len;
    }
    return 1;
}

/* Code units of a character of byte length len in encoding enc. */
REFERENCE static uint32_t char_units(size_t len, lsp_encoding enc)
{
    if (enc == LSP_ENC_UTF8) return (uint32_t)len;
    if (enc == LSP_ENC_UTF16) return len == 4 ? 2 : 1;
    return 1;
}

REFERENCE static size_t flat_offset(const flat *f, lsp_encoding enc, uint32_t line, uint32_t col, int *clamped)
{
    int past;
    size_t s = flat_line_start(f, line, &past);
    if (past) { *clamped = 1; return f->n; }
    size_t end = flat_content_end(f, s), pos = s;
    uint64_t u = 0;
    while (pos < end) {
        size_t l = char_len((const unsigned char *)f->s + pos, end - pos);
        uint32_t w = char_units(l, enc);
        if (u + w > col) { *clamped = 0; return pos; }   /* at or inside this character */
        u += w;
        pos += l;
    }
    *clamped = col > u;
    return end;
}

REFERENCE static void flat_position(const flat *f, lsp_encoding enc, size_t off, uint32_t *line, uint32_t *col)
{
    if (off > f->n) off = f->n;
    size_t breaks = 0, start = 0;
    for (size_t i = 0; i < off; i++)
        if (is_break(f, i)) { breaks++; start = i + 1; }
    size_t end = flat_content_end(f, start), stop = off < end ? off : end, pos = start;
    uint32_t u = 0;
    for (;;) {
        if (pos >= stop) break;
        size_t l = char_len((const unsigned char *)f->s + pos, end - pos);
        if (pos + l > stop) break;                         /* inside: count to its start */
        u += char_units(l, enc);
        pos += l;
    }
    *line = (uint32_t)breaks;
    *col = u;
}

// ---- the comparison

static void check_same(const srv_doc *d, flat *f)
{
    size_t n;
    char *text = srv_doc_text(d, &n);
    if (!text) abort();
    if (n != f->n || srv_doc_len(d) != f->n || memcmp(text, f->s, n)) abort();
    free(text);
    if (!f->known) {        /* the reference's figures change only when its text does */
        f->breaks = flat_breaks(f);
        f->hash = srv_doc_hash_bytes(f->s, f->n);
        f->known = 1;
    }
    if (srv_doc_line_count(d) != f->breaks + 1) abort();
    if (srv_doc_hash(d) != f->hash) abort();
    if (f->n && srv_doc_chunk_count(d) > 2 * (f->n / (SRV_DOC_CHUNK_MAX / 4)) + 2)
        abort();   /* edits must not fragment the document into tiny chunks */
}

static void range_edit(srv_doc *d, flat *f, lsp_encoding enc, input *in)
{
    uint32_t l0 = take_pos(in), c0 = take_pos(in), l1 = take_pos(in), c1 = take_pos(in);
    unsigned reps = take_u8(in) % 64 + 1;
    size_t tn;
    const char *t = take_bytes(in, take_u8(in), &tn);
    if (l1 < l0 || (l1 == l0 && c1 < c0)) return;          /* didChange rejects such a range */
    int k0, k1, r0, r1;
    size_t a = srv_doc_offset(d, enc, l0, c0, &k0), b = srv_doc_offset(d, enc, l1, c1, &k1);
    size_t ra = flat_offset(f, enc, l0, c0, &r0), rb = flat_offset(f, enc, l1, c1, &r1);
    if (a != ra || b != rb || k0 != r0 || k1 != r1 || b < a) abort();
    if (f->n - (b - a) + tn * reps > DOC_MAX) return;
    char *text = malloc(tn * reps + 1);
    if (!text) abort();
    for (unsigned r = 0; r < reps; r++) memcpy(text + r * tn, t, tn);
    if (srv_doc_replace(d, a, b, text, tn * reps)) abort();
    flat_replace(f, a, b, text, tn * reps);
    free(text);
}

static void byte_edit(srv_doc *d, flat *f, input *in)
{
    size_t a = take_u16(in) * 4, b = take_u16(in) * 4;
    size_t tn;
    const char *t = take_bytes(in, take_u8(in), &tn);
    /* srv_doc_replace clamps both offsets and reads end < start as end = start */
    size_t ra = a > f->n ? f->n : a, rb = b > f->n ? f->n : b;
    if (rb < ra) rb = ra;
    if (f->n - (rb - ra) + tn > DOC_MAX) return;
    if (srv_doc_replace(d, a, b, t, tn)) abort();
    flat_replace(f, ra, rb, t, tn);
}

static void position(const srv_doc *d, const flat *f, lsp_encoding enc, input *in)
{
    size_t off = take_u16(in) * 4 + take_u8(in) % 4;
    uint32_t line, col, rl, rc;
    srv_doc_position(d, enc, off, &line, &col);
    flat_position(f, enc, off, &rl, &rc);
    if (line != rl || col != rc) abort();
    /* Back again: a position the document produced maps to the start of the character
     * holding off (or the line's content end), never past off. */
    int k;
    size_t back = srv_doc_offset(d, enc, line, col, &k);
    if (k || back > (off < f->n ? off : f->n)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = { data, size };
    lsp_encoding enc = (lsp_encoding)(take_u8(&in) % 3);
    size_t n0;
    const char *t0 = take_bytes(&in, take_u16(&in), &n0);
    srv_doc *d = srv_doc_new(t0, n0);
    flat f = { malloc(n0 + 1), n0, 0, 0, 0 };
    if (!d || !f.s) abort();
    memcpy(f.s, t0, n0);
    check_same(d, &f);
    while (in.n) {
        switch (take_u8(&in) % 3) {
        case 0: range_edit(d, &f, enc, &in); break;
        case 1: byte_edit(d, &f, &in); break;
        default: position(d, &f, enc, &in); break;
        }
        check_same(d, &f);
    }
    srv_doc_free(d);
    free(f.s);
    return 0;
}
