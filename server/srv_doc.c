/* srv_doc.c — chunked text document with line index and content hash.
 *
 * Invariants (checked by tests/server/test_doc.c):
 *   - every chunk holds 1..SRV_DOC_CHUNK_MAX bytes (an empty document has none);
 *   - a chunk never ends in '\r' when the next one starts with '\n';
 *   - chunk->breaks counts "\n", "\r\n" and lone "\r" inside the chunk, so a
 *     trailing '\r' is a complete break (by the invariant above).
 */
#include "srv_doc.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_TARGET (SRV_DOC_CHUNK_MAX * 3 / 4)
#define CHUNK_SMALL  (SRV_DOC_CHUNK_MAX / 4)

/* Polynomial hash modulo the Mersenne prime 2^61-1; bytes are hashed as b+1
 * so that leading zero bytes still change the value. */
#define HASH_P    ((UINT64_C(1) << 61) - 1)
#define HASH_BASE UINT64_C(0x1d4b6a2f3c5e7f1)

typedef struct {
    uint32_t len;
    uint32_t breaks;
    uint64_t hash;     /* hash of data[0..len) */
    uint64_t pow;      /* HASH_BASE^len mod HASH_P */
    char data[SRV_DOC_CHUNK_MAX];
} chunk;

struct srv_doc {
    chunk **c;         /* owned chunks, in order */
    size_t n, cap;
    size_t len;        /* total bytes */
    size_t breaks;     /* total line breaks */
};

// ---------------------------------------------------------------- hashing

static uint64_t mulmod(uint64_t a, uint64_t b)
{
    unsigned __int128 p = (unsigned __int128)a * b;
    uint64_t lo = (uint64_t)(p & HASH_P), hi = (uint64_t)(p >> 61);
    uint64_t r = lo + hi;
    return r >= HASH_P ? r - HASH_P : r;
}

static uint64_t addmod(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r >= HASH_P ? r - HASH_P : r;
}

static void hash_run(const char *s, size_t len, uint64_t *h, uint64_t *pw)
{
    uint64_t x = 0, p = 1;
    for (size_t i = 0; i < len; i++) {
        x = addmod(mulmod(x, HASH_BASE), (uint64_t)(unsigned char)s[i] + 1);
        p = mulmod(p, HASH_BASE);
    }
    *h = x;
    *pw = p;
}

uint64_t srv_doc_hash_bytes(const char *s, size_t len)
{
    uint64_t h, pw;
    hash_run(s, len, &h, &pw);
    return h;
}

uint64_t srv_doc_hash(const srv_doc *d)
{
    uint64_t h = 0;
    for (size_t i = 0; i < d->n; i++)
        h = addmod(mulmod(h, d->c[i]->pow), d->c[i]->hash);
    return h;
}

// ---------------------------------------------------------------- chunks

static uint32_t count_breaks(const char *s, size_t len)
{
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') n++;
        else if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n')) n++;
    }
    return n;
}

static chunk *chunk_make(const char *s, size_t len)
{
    chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->len = (uint32_t)len;
    memcpy(c->data, s, len);
    c->breaks = count_breaks(s, len);
    hash_run(s, len, &c->hash, &c->pow);
    return c;
}

/* Splits buf into evenly sized chunks (never between "\r\n"). Returns the
 * count and the chunks in *out (malloc'd array), or -1 on out of memory. */
static long chunk_split(const char *buf, size_t len, chunk ***out)
{
    size_t k = len ? (len + CHUNK_TARGET - 1) / CHUNK_TARGET : 0;
    chunk **v = malloc((k ? k : 1) * sizeof *v);
    if (!v) return -1;
    size_t pos = 0, made = 0;
    for (size_t i = 0; i < k; i++) {
        size_t end = i + 1 == k ? len : len * (i + 1) / k;
        if (end > pos && end < len && buf[end - 1] == '\r' && buf[end] == '\n') end++;
        if (end <= pos) continue;
        if (!(v[made] = chunk_make(buf + pos, end - pos))) {
            while (made) free(v[--made]);
            free(v);
            return -1;
        }
        made++;
        pos = end;
    }
    *out = v;
    return (long)made;
}

/* Index of the chunk holding byte `off` as its content or its end (the first
 * chunk i with start_i + len_i >= off); *start gets that chunk's offset. For
 * an empty document returns 0. */
static size_t chunk_at(const srv_doc *d, size_t off, size_t *start)
{
    size_t s = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (s + d->c[i]->len >= off) { *start = s; return i; }
        s += d->c[i]->len;
    }
    *start = s;
    return d->n;
}

// ---------------------------------------------------------------- lifecycle

srv_doc *srv_doc_new(const char *text, size_t len)
{
    srv_doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    if (len && srv_doc_replace(d, 0, 0, text, len) != 0) { free(d); return NULL; }
    return d;
}

void srv_doc_free(srv_doc *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) free(d->c[i]);
    free(d->c);
    free(d);
}

size_t srv_doc_len(const srv_doc *d) { return d->len; }
size_t srv_doc_line_count(const srv_doc *d) { return d->breaks + 1; }
size_t srv_doc_chunk_count(const srv_doc *d) { return d->n; }

// ---------------------------------------------------------------- editing

int srv_doc_replace(srv_doc *d, size_t start, size_t end, const char *text, size_t len)
{
    if (start > d->len) start = d->len;
    if (end > d->len) end = d->len;
    if (end < start) end = start;
    if (start == end && len == 0) return 0;   /* nothing to do (and d->c may be NULL) */

    /* The chunks [lo, hi] are rebuilt from: their bytes before start, text,
     * their bytes after end. Neighbours join when the result would be small
     * or when a "\r" | "\n" pair would straddle the seam. */
    size_t lo_start, hi_start;
    size_t lo = chunk_at(d, start, &lo_start);
    size_t hi = chunk_at(d, end, &hi_start);
    if (lo == d->n && d->n) { lo = d->n - 1; lo_start -= d->c[lo]->len; }
    if (hi == d->n && d->n) { hi = d->n - 1; hi_start -= d->c[hi]->len; }
    size_t head = d->n ? start - lo_start : 0;
    size_t tail_from = d->n ? end - hi_start : 0;
    size_t tail = d->n ? d->c[hi]->len - tail_from : 0;
    size_t body = head + len + tail;

    int pre = 0, post = 0;
    if (lo > 0) {
        const chunk *p = d->c[lo - 1];
        char first = head ? d->c[lo]->data[0] : len ? text[0] : tail ? d->c[hi]->data[tail_from] : 0;
        pre = body < CHUNK_SMALL || (p->data[p->len - 1] == '\r' && first == '\n');
    }
    if (hi + 1 < d->n) {
        const chunk *q = d->c[hi + 1];
        char last = tail ? d->c[hi]->data[d->c[hi]->len - 1] : len ? text[len - 1]
                  : head ? d->c[lo]->data[head - 1] : 0;
        post = body < CHUNK_SMALL || (last == '\r' && q->data[0] == '\n');
    }
    size_t pre_len = pre ? d->c[lo - 1]->len : 0, post_len = post ? d->c[hi + 1]->len : 0;

    char *buf = malloc(pre_len + body + post_len + 1);
    if (!buf) return -1;
    size_t m = 0;
    if (pre) { memcpy(buf, d->c[lo - 1]->data, pre_len); m = pre_len; }
    if (head) { memcpy(buf + m, d->c[lo]->data, head); m += head; }
    if (len) { memcpy(buf + m, text, len); m += len; }
    if (tail) { memcpy(buf + m, d->c[hi]->data + tail_from, tail); m += tail; }
    if (post) { memcpy(buf + m, d->c[hi + 1]->data, post_len); m += post_len; }

    chunk **fresh;
    long k = chunk_split(buf, m, &fresh);
    free(buf);
    if (k < 0) return -1;

    size_t first = lo - (size_t)pre;
    size_t old = d->n ? hi + 1 + (size_t)post - first : 0;
    size_t need = d->n - old + (size_t)k;
    if (need > d->cap) {
        size_t cap = d->cap ? d->cap : 8;
        while (cap < need) cap *= 2;
        chunk **nc = realloc(d->c, cap * sizeof *nc);
        if (!nc) {
            for (long i = 0; i < k; i++) free(fresh[i]);
            free(fresh);
            return -1;
        }
        d->c = nc;
        d->cap = cap;
    }
    for (size_t i = first; i < first + old; i++) {
        d->breaks -= d->c[i]->breaks;
        free(d->c[i]);
    }
    memmove(d->c + first + k, d->c + first + old, (d->n - first - old) * sizeof *d->c);
    for (long i = 0; i < k; i++) {
        d->c[first + (size_t)i] = fresh[i];
        d->breaks += fresh[i]->breaks;
    }
    free(fresh);
    d->n = need;
    d->len = d->len - (end - start) + len;
    return 0;
}

// ---------------------------------------------------------------- reading

size_t srv_doc_copy(const srv_doc *d, size_t start, size_t end, char *out)
{
    if (end > d->len) end = d->len;
    if (start >= end) return 0;
    size_t s = 0, w = 0;
    for (size_t i = 0; i < d->n && s < end; i++) {
        const chunk *c = d->c[i];
        size_t cs = s, ce = s + c->len;
        s = ce;
        if (ce <= start) continue;
        size_t a = start > cs ? start - cs : 0;
        size_t b = (end < ce ? end : ce) - cs;
        memcpy(out + w, c->data + a, b - a);
        w += b - a;
    }
    return w;
}

char *srv_doc_text(const srv_doc *d, size_t *len)
{
    char *s = malloc(d->len + 1);
    if (!s) return NULL;
    srv_doc_copy(d, 0, d->len, s);
    s[d->len] = 0;
    if (len) *len = d->len;
    return s;
}

/* Byte offset of the start of line `line` (0-based); d->len when the line is
 * past the last one (then *past = 1). */
static size_t line_start(const srv_doc *d, size_t line, int *past)
{
    *past = 0;
    if (line == 0) return 0;
    if (line > d->breaks) { *past = 1; return d->len; }
    size_t seen = 0, s = 0;
    for (size_t i = 0; i < d->n; i++) {
        const chunk *c = d->c[i];
        if (seen + c->breaks < line) { seen += c->breaks; s += c->len; continue; }
        for (size_t j = 0; j < c->len; j++) {
            char ch = c->data[j];
            if (ch == '\n' || (ch == '\r' && (j + 1 == c->len || c->data[j + 1] != '\n')))
                if (++seen == line) return s + j + 1;
        }
        break;   /* unreachable while the break counts are right */
    }
    return d->len;
}

/* Bytes of the line starting at `start`, up to (not including) its break or
 * the document end. Returns a view into a chunk when the line lies in one,
 * otherwise a malloc'd copy in *owned (caller frees; NULL on OOM => len 0). */
static const char *line_bytes(const srv_doc *d, size_t start, size_t *len, char **owned)
{
    *owned = NULL;
    *len = 0;
    size_t cs;
    size_t i = chunk_at(d, start + 1, &cs);
    if (i >= d->n) return "";
    const chunk *c = d->c[i];
    size_t a = start - cs, j = a;
    while (j < c->len && c->data[j] != '\n' && c->data[j] != '\r') j++;
    if (j < c->len || i + 1 == d->n) { *len = j - a; return c->data + a; }
    /* The line continues into later chunks: measure, then copy. */
    size_t end = cs + c->len;
    for (size_t k = i + 1; k < d->n; k++) {
        const chunk *q = d->c[k];
        size_t t = 0;
        while (t < q->len && q->data[t] != '\n' && q->data[t] != '\r') t++;
        end += t;
        if (t < q->len) break;
    }
    if (!(*owned = malloc(end - start + 1))) return "";
    *len = srv_doc_copy(d, start, end, *owned);
    return *owned;
}

size_t srv_doc_offset(const srv_doc *d, lsp_encoding enc, uint32_t line, uint32_t character,
                      int *clamped)
{
    int past;
    size_t s = line_start(d, line, &past);
    if (past) { if (clamped) *clamped = 1; return d->len; }
    size_t n;
    char *owned;
    const char *bytes = line_bytes(d, s, &n, &owned);
    int cl = 0;
    size_t b = lsp_col_to_byte(bytes, n, enc, character, &cl);
    free(owned);
    if (clamped) *clamped = cl;
    return s + b;
}

void srv_doc_position(const srv_doc *d, lsp_encoding enc, size_t offset,
                      uint32_t *line, uint32_t *character)
{
    if (offset > d->len) offset = d->len;
    /* Count the breaks that end at or before offset. */
    size_t seen = 0, s = 0;
    for (size_t i = 0; i < d->n && s < offset; i++) {
        const chunk *c = d->c[i];
        if (s + c->len <= offset) { seen += c->breaks; s += c->len; continue; }
        for (size_t j = 0; j < offset - s; j++) {
            char ch = c->data[j];
            if (ch == '\n' || (ch == '\r' && (j + 1 == c->len || c->data[j + 1] != '\n'))) seen++;
        }
        break;
    }
    int past;
    size_t ls = line_start(d, seen, &past);
    size_t n;
    char *owned;
    const char *bytes = line_bytes(d, ls, &n, &owned);
    *line = (uint32_t)seen;
    *character = lsp_byte_to_col(bytes, n, enc, offset - ls);
    free(owned);
}
