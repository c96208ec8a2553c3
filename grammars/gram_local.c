/* gram_local.c — a tree for one cursor, cheaply. The document's reparse is
 * usually a fraction of a millisecond, but with Debian's tree-sitter 0.20 some
 * grammars (C above all: its declarators are ambiguous, and nodes built while
 * the parser forks are never reused) reparse everything after the edit. When
 * the reparse does not fit its budget, the context parses only the code
 * around the cursor: the innermost node holding it that is small enough
 * (with a neighbour when it is only a comment or a blank line), plus, from
 * each of its ancestors, the tokens and small parts that frame it ("class
 * Foo {", "}"), each taken as whole lines. The region comes from the old
 * tree, kept in step with the text by ts_tree_edit. tree-sitter's included
 * ranges keep every position the document's, so nothing downstream knows.
 */
#include <stdlib.h>
#include <string.h>
#include "gram_int.h"

typedef struct {
    const char *text;
    size_t len;
    const gram_lang *lang;
    const gram_classes *cls;
    size_t lo[GRAM_LOCAL_RANGES], hi[GRAM_LOCAL_RANGES];
    int n;
} ranges;

/* Adds [s, e) grown to whole lines (a token cut from its neighbours would
 * lex differently; Python needs its line breaks and indentation), merged
 * with the previous range when they touch. Ranges come in document order.
 * The scans for line ends stop at the previous range's end, which is a line
 * end already: thousands of nodes on one long line (a 1 MB data literal)
 * cost one pass over it, not one per node. */
static void add(ranges *r, size_t s, size_t e)
{
    size_t prev = r->n > 0 ? r->hi[r->n - 1] : 0;
    if (r->n > 0 && e <= prev) return;          /* inside the previous range's lines */
    while (s > prev && r->text[s - 1] != '\n') s--;
    const char *nl = e < r->len ? memchr(r->text + e, '\n', r->len - e) : NULL;
    e = nl ? (size_t)(nl - r->text) + 1 : r->len;
    if (r->n > 0 && s <= r->hi[r->n - 1]) {
        if (e > r->hi[r->n - 1]) r->hi[r->n - 1] = e;
        return;
    }
    if (r->n == GRAM_LOCAL_RANGES) return;
    r->lo[r->n] = s;
    r->hi[r->n] = e;
    r->n++;
}

static void add_node(ranges *r, TSNode n) { add(r, ts_node_start_byte(n), ts_node_end_byte(n)); }

/* Parts of an ancestor that frame the cursor's node: its tokens ("class",
 * "{", "}") and its small named parts that have a field name (name,
 * parameters, superclasses), not the members of a body, which may be pieces
 * of something the local text would cut apart (a macro before a method). */
static int framing(const ranges *r, TSTreeCursor *cur, TSNode n)
{
    if (!ts_node_is_named(n)) return 1;
    if (ts_node_end_byte(n) - ts_node_start_byte(n) > GRAM_LOCAL_SMALL) return 0;
    if (gram_node_cls(r->cls, n) & GRAM_CLS_COMMENT) return 0;
    return r->n < GRAM_LOCAL_RANGES - 8 && ts_tree_cursor_current_field_name(cur) != NULL;
}

/* Small enough to parse whole (or no way or room to go deeper). */
static int fits(const ranges *r, TSNode k, int depth)
{
    return ts_node_end_byte(k) - ts_node_start_byte(k) <= GRAM_LOCAL_TARGET ||
           ts_node_child_count(k) == 0 || depth >= 32 || r->n >= GRAM_LOCAL_RANGES - 8;
}

/* A small neighbour of the innermost node (code, not a comment) keeps a block
 * from looking empty when the cursor's node is only a comment or a blank line. */
static void neighbour(ranges *r, TSNode n)
{
    if (!ts_node_is_null(n) && ts_node_end_byte(n) - ts_node_start_byte(n) <= GRAM_LOCAL_TARGET)
        add_node(r, n);
}

static void collect(ranges *r, TSNode n, size_t off, int depth)
{
    /* one pass over the children (ts_node_child is O(index) in tree-sitter
     * 0.20): the one(s) holding off, the code before and after, and the
     * framing parts before off (a few suffice) */
    enum { FRAMES = 16 };
    static const TSNode NONE;
    TSNode first = NONE, last = NONE, before = NONE, after = NONE, code_before = NONE;
    size_t fs[FRAMES], fe[FRAMES];
    int nf = 0, frame = depth > 0;      /* top-level siblings are independent: no framing */
    TSTreeCursor cur = ts_tree_cursor_new(n);
    int more = ts_tree_cursor_goto_first_child(&cur);
    for (; more; more = ts_tree_cursor_goto_next_sibling(&cur)) {
        TSNode ch = ts_tree_cursor_current_node(&cur);
        size_t s = ts_node_start_byte(ch), e = ts_node_end_byte(ch);
        int comment = (gram_node_cls(r->cls, ch) & GRAM_CLS_COMMENT) != 0;
        if (s > off) {      /* the first code after the cursor */
            if (comment) continue;
            after = ch;
            break;
        }
        if (off <= e) {
            if (ts_node_is_null(first)) first = ch;
            last = ch;
            continue;
        }
        before = ch;
        if (!comment) code_before = ch;
        if (frame && nf < FRAMES && framing(r, &cur, ch)) { fs[nf] = s; fe[nf] = e; nf++; }
    }
    int in_node = !ts_node_is_null(first), pair = in_node && !ts_node_eq(first, last);
    TSNode k = in_node ? first : before;
    int whole = pair || ts_node_is_null(k) || fits(r, k, depth);
    /* a comment or a blank line alone would leave its block looking empty */
    int lonely = !in_node || (gram_node_cls(r->cls, first) & GRAM_CLS_COMMENT);
    for (int i = 0; i < nf; i++) add(r, fs[i], fe[i]);
    if (whole && frame && lonely && in_node) neighbour(r, code_before);
    if (pair)
        add(r, ts_node_start_byte(first), ts_node_end_byte(last));
    else if (!ts_node_is_null(k) && whole)
        add_node(r, k);
    else if (!ts_node_is_null(k))
        collect(r, k, off < ts_node_end_byte(k) ? off : ts_node_end_byte(k), depth + 1);
    if (!in_node) add(r, off, off);             /* the cursor's own (blank) line */
    if (whole && frame && lonely) neighbour(r, after);
    for (; frame && more; more = ts_tree_cursor_goto_next_sibling(&cur)) {
        TSNode ch = ts_tree_cursor_current_node(&cur);
        if (framing(r, &cur, ch)) add_node(r, ch);
    }
    ts_tree_cursor_delete(&cur);
}

TSTree *gram_doc_tree_for(gram_doc *d, size_t off, uint64_t budget_us, TSRange **out,
                          uint32_t *n_out, int *local)
{
    *local = 0;
    *out = NULL;
    *n_out = 0;
    if (!d->parser || d->len > GRAM_DOC_PARSE_MAX || d->len > UINT32_MAX / 2) return NULL;
    if (gram_doc_current(d)) return ts_tree_copy(d->tree);
    /* never parsed: a local parse needs the old tree's structure, so the
     * first context of a document pays for its full parse, once, up to
     * GRAM_FIRST_PARSE_US (then it is slow: local parses from now on) */
    if (!d->tree && !d->slow && gram_doc_parse_for(d, GRAM_FIRST_PARSE_US)) return ts_tree_copy(d->tree);
    if (!d->slow) {
        if (gram_doc_parse_for(d, budget_us)) return ts_tree_copy(d->tree);
        d->slow = 1;        /* until a parse completes, go straight to a local one */
    }
    ranges r = { .text = d->text, .len = d->len, .lang = d->lang, .cls = gram_lang_classes(d->lang) };
    if (d->tree) {
        collect(&r, ts_tree_root_node(d->tree), off, 0);    /* the edited old tree */
    } else {                /* its first parse was abandoned: lines around the cursor */
        add(&r, off > GRAM_LOCAL_WINDOW ? off - GRAM_LOCAL_WINDOW : 0,
            d->len - off > GRAM_LOCAL_WINDOW ? off + GRAM_LOCAL_WINDOW : d->len);
    }
    TSRange *tr = calloc((size_t)(r.n ? r.n : 1), sizeof *tr);
    if (!tr) return NULL;
    for (int i = 0; i < r.n; i++) {
        gram_point a = gram_doc_point(d, r.lo[i]), b = gram_doc_point(d, r.hi[i]);
        tr[i] = (TSRange){ { a.row, a.column }, { b.row, b.column }, (uint32_t)r.lo[i], (uint32_t)r.hi[i] };
    }
    TSParser *p = ts_parser_new();
    TSTree *t = NULL;
    if (p && ts_parser_set_language(p, gram_lang_ts(d->lang)) &&
        ts_parser_set_included_ranges(p, tr, (uint32_t)r.n)) {
        ts_parser_set_timeout_micros(p, GRAM_LOCAL_PARSE_US);   /* NULL then: plain text */
        t = ts_parser_parse_string(p, NULL, d->text, (uint32_t)d->len);
    }
    if (p) ts_parser_delete(p);
    if (!t) { free(tr); return NULL; }
    *local = 1;
    *out = tr;
    *n_out = (uint32_t)r.n;
    d->stats.local_parses++;
    return t;
}

void gram_range_insert(TSRange *r, uint32_t at, gram_point p, uint32_t ins, gram_point end)
{
    TSPoint *pts[2] = { &r->start_point, &r->end_point };
    uint32_t *bytes[2] = { &r->start_byte, &r->end_byte };
    for (int i = 0; i < 2; i++) {
        if (*bytes[i] < at || (i == 0 && *bytes[i] == at && r->end_byte > at)) continue;
        *bytes[i] += ins;
        if (pts[i]->row == p.row)
            *pts[i] = (TSPoint){ end.row, end.column + (pts[i]->column - p.column) };
        else
            pts[i]->row += end.row - p.row;
    }
}
