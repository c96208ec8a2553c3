/* gram_doc.c — a document's text and its parse tree, kept up to date
 * incrementally: every edit is applied to the old tree with ts_tree_edit at
 * once, and the next parse reuses that tree (ts_parser_parse keeps every
 * subtree the edits did not touch). Several edits between two parses (one
 * didChange with many changes) cost one reparse. Parses can run in slices
 * (gram_doc_parse_for) and none runs past its limit (gram_parse_limit_us).
 *
 * Owns: the text (one contiguous buffer: tree-sitter reads it in place), the
 * parser and the tree.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gram_int.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int reserve(gram_doc *d, size_t need)
{
    if (need + 1 <= d->cap) return 0;
    size_t cap = d->cap ? d->cap : 256;
    while (cap < need + 1) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    char *t = realloc(d->text, cap);
    if (!t) return -1;
    d->text = t;
    d->cap = cap;
    return 0;
}

gram_doc *gram_doc_new(const gram_lang *lang, const char *text, size_t len)
{
    gram_doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->lang = lang ? lang : gram_lang_text();
    if (reserve(d, len) != 0) { free(d); return NULL; }
    if (len) memcpy(d->text, text, len);
    d->text[len] = 0;
    d->len = len;
    const TSLanguage *tl = gram_lang_ts(d->lang);
    if (tl) {
        d->parser = ts_parser_new();
        if (!d->parser || !ts_parser_set_language(d->parser, tl)) {
            if (d->parser) ts_parser_delete(d->parser);
            d->parser = NULL;       /* plain-text rules: no failure for the caller */
        }
    }
    d->dirty = 1;
    return d;
}

void gram_doc_free(gram_doc *d)
{
    if (!d) return;
    if (d->tree) ts_tree_delete(d->tree);
    if (d->parser) ts_parser_delete(d->parser);
    free(d->text);
    free(d);
}

const gram_lang *gram_doc_lang(const gram_doc *d) { return d->lang; }

const char *gram_doc_text(const gram_doc *d, size_t *len)
{
    if (len) *len = d->len;
    return d->text;
}

gram_doc_stats gram_doc_get_stats(const gram_doc *d) { return d->stats; }

gram_point gram_point_advance(gram_point p, const char *s, size_t n)
{
    const char *end = s + n, *nl;
    while ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        p.row++;
        p.column = 0;
        s = nl + 1;
    }
    p.column += (uint32_t)(end - s);
    return p;
}

/* Points are counted from the nearest cached one (or the start), forwards
 * or backwards: a context asks for a few points around the cursor and a few
 * far ones (its ranges), and each costs only the distance to a known one. */
gram_point gram_doc_point(gram_doc *d, size_t offset)
{
    if (offset > d->len) offset = d->len;
    size_t best_off = 0, best_dist = offset;
    gram_point p = { 0, 0 };
    for (int i = 0; i < GRAM_POINT_CACHE; i++) {
        size_t o = d->pt_off[i], dist = o > offset ? o - offset : offset - o;
        if (o <= d->len && dist < best_dist) { best_dist = dist; best_off = o; p = d->pt[i]; }
    }
    if (best_off > offset) {        /* count back */
        const char *t = d->text;
        for (size_t k = offset; k < best_off; k++) p.row -= t[k] == '\n';
        size_t ls = offset;
        while (ls > 0 && t[ls - 1] != '\n') ls--;
        p.column = (uint32_t)(offset - ls);
    } else {
        p = gram_point_advance(p, d->text + best_off, offset - best_off);
    }
    if (best_dist > 0) {
        unsigned i = d->pt_next++ % GRAM_POINT_CACHE;
        d->pt_off[i] = offset;
        d->pt[i] = p;
    }
    return p;
}

static TSPoint ts_point(gram_point p) { return (TSPoint){ p.row, p.column }; }

int gram_doc_edit(gram_doc *d, size_t start, size_t old_end, const char *text, size_t len)
{
    if (start > d->len) start = d->len;
    if (old_end > d->len) old_end = d->len;
    if (old_end < start) old_end = start;
    size_t new_len = d->len - (old_end - start) + len;
    if (new_len < d->len - (old_end - start) || reserve(d, new_len) != 0) return -1;
    gram_point sp = gram_doc_point(d, start);
    gram_point op = gram_point_advance(sp, d->text + start, old_end - start);
    memmove(d->text + start + len, d->text + old_end, d->len - old_end);
    if (len) memcpy(d->text + start, text, len);
    d->len = new_len;
    d->text[d->len] = 0;
    gram_point np = gram_point_advance(sp, d->text + start, len);
    for (int i = 0; i < GRAM_POINT_CACHE; i++) {     /* nothing before start changed */
        if (d->pt_off[i] > start) {
            d->pt_off[i] = start;
            d->pt[i] = sp;
        }
    }
    d->abandoned = 0;
    if (d->parsing) {       /* a bounded parse was under way on the old text */
        ts_parser_reset(d->parser);
        d->parsing = 0;
        d->slice_ms = 0;
    }
    if (d->tree) {
        TSInputEdit e = {
            (uint32_t)start, (uint32_t)old_end, (uint32_t)(start + len),
            ts_point(sp), ts_point(op), ts_point(np),
        };
        ts_tree_edit(d->tree, &e);
    }
    d->dirty = 1;
    d->stats.edits++;
    return 0;
}

/* The reparse, bounded by budget_us (0: none). A parse that runs out of
 * budget stays in the parser and resumes on the next call, unless an edit
 * comes first (gram_doc_edit resets it: the old tree, edited, is the base). */
static int parse(gram_doc *d, uint64_t budget_us)
{
    if (!d->parser) return 0;
    if (d->len > GRAM_DOC_PARSE_MAX || d->len > UINT32_MAX / 2) {
        if (d->tree) ts_tree_delete(d->tree);
        if (d->parsing) ts_parser_reset(d->parser);
        d->tree = NULL;
        d->parsing = 0;
        d->dirty = 1;
        return 0;
    }
    if (!d->dirty && d->tree) return 1;
    if (d->abandoned) return 0;         /* this text is hopeless; the next edit retries */
    double t0 = now_ms();
    TSTree *old = d->tree;
    if (!d->parsing) d->slice_ms = 0;
    uint64_t limit_us = d->limit_us ? d->limit_us : gram_parse_limit_us(d->len);
    uint64_t spent_us = (uint64_t)(d->slice_ms * 1000);
    uint64_t left = limit_us > spent_us ? limit_us - spent_us : 1;
    int last_slice = !budget_us || budget_us >= left;      /* this slice ends at the limit */
    ts_parser_set_timeout_micros(d->parser, last_slice ? left : budget_us);
    TSTree *t = ts_parser_parse_string(d->parser, old, d->text, (uint32_t)d->len);
    d->slice_ms += now_ms() - t0;
    if (!t && last_slice) {     /* give up on this text */
        ts_parser_reset(d->parser);
        d->parsing = 0;
        d->abandoned = 1;
        d->stats.abandoned++;
        return 0;
    }
    if (!t) {                   /* out of budget: resumes next time */
        d->parsing = 1;
        d->stats.timeouts++;
        return 0;
    }
    d->parsing = 0;
    d->slow = 0;
    if (old) {
        ts_tree_delete(old);
        d->stats.incremental_parses++;
    } else {
        d->stats.full_parses++;
    }
    d->tree = t;
    d->dirty = 0;
    d->stats.last_parse_ms = d->slice_ms;
    d->slice_ms = 0;
    return 1;
}

int gram_doc_parse(gram_doc *d) { return parse(d, 0); }

int gram_doc_parse_for(gram_doc *d, uint64_t budget_us)
{
    return parse(d, budget_us ? budget_us : 1);
}

int gram_doc_current(const gram_doc *d) { return d->tree && !d->dirty; }

char *gram_doc_tree_string(gram_doc *d)
{
    if (!gram_doc_parse(d)) return NULL;
    return ts_node_string(ts_tree_root_node(d->tree));
}

int gram_doc_has_error(gram_doc *d)
{
    return gram_doc_parse(d) && ts_node_has_error(ts_tree_root_node(d->tree));
}
