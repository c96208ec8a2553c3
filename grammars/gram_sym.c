/* gram_sym.c — symbols for the prompt's extra-context slots: the definitions
 * a document makes, the identifiers the cursor's scope uses, and the match
 * between the two (which definitions of other files the cursor needs).
 */
#include <stdlib.h>
#include <string.h>
#include "gram_int.h"

#define VISIT_MAX 500000        /* nodes visited per call: bounds pathological files */

const char *gram_sym_kind_name(gram_sym_kind k)
{
    switch (k) {
    case GRAM_SYM_NONE: return "reference";
    case GRAM_SYM_FUNCTION: return "function";
    case GRAM_SYM_CLASS: return "class";
    case GRAM_SYM_TYPE: return "type";
    case GRAM_SYM_MODULE: return "module";
    case GRAM_SYM_MACRO: return "macro";
    }
    return "?";
}

/* ---------------------------------------------------------------- builder */

typedef struct {
    gram_symbol *items;
    size_t n, cap;
    size_t *name_at;            /* (cap) offset of each name in names */
    char *names;
    size_t names_len, names_cap;
    int oom;
} builder;

static gram_symbol *add(builder *b, const char *name, size_t len)
{
    if (b->oom) return NULL;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        gram_symbol *it = realloc(b->items, cap * sizeof *it);
        if (it) b->items = it;
        size_t *na = it ? realloc(b->name_at, cap * sizeof *na) : NULL;
        if (!it || !na) { b->oom = 1; return NULL; }
        b->name_at = na;
        b->cap = cap;
    }
    if (b->names_len + len + 1 > b->names_cap) {
        size_t cap = b->names_cap ? b->names_cap : 1024;
        while (cap < b->names_len + len + 1) cap *= 2;
        char *nm = realloc(b->names, cap);
        if (!nm) { b->oom = 1; return NULL; }
        b->names = nm;
        b->names_cap = cap;
    }
    memcpy(b->names + b->names_len, name, len);
    b->names[b->names_len + len] = 0;
    b->name_at[b->n] = b->names_len;
    b->names_len += len + 1;
    gram_symbol *s = &b->items[b->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static int finish(builder *b, gram_symbols *out)
{
    if (b->oom) {
        free(b->items);
        free(b->names);
        free(b->name_at);
        memset(out, 0, sizeof *out);
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) b->items[i].name = b->names + b->name_at[i];
    free(b->name_at);
    out->items = b->items;
    out->n = b->n;
    out->names = b->names;
    return 0;
}

void gram_symbols_free(gram_symbols *s)
{
    if (!s) return;
    free(s->items);
    free(s->names);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ definitions */

int gram_symbols_definitions(gram_doc *d, gram_symbols *out)
{
    memset(out, 0, sizeof *out);
    const gram_classes *cls = gram_lang_classes(d->lang);
    if (!cls || !gram_doc_parse(d)) return 0;
    builder b = { 0 };
    const char *text = d->text;
    TSTreeCursor cur = ts_tree_cursor_new(ts_tree_root_node(d->tree));
    size_t visited = 0;
    for (;;) {
        TSNode n = ts_tree_cursor_current_node(&cur);
        int descend = !(gram_node_cls(cls, n) & (GRAM_CLS_STRING | GRAM_CLS_COMMENT));
        const gram_rule *r = ts_node_is_named(n) ? gram_node_rule(d->lang, cls, n, text) : NULL;
        size_t ns, ne;
        if (r && !(r->flags & GRAM_RULE_ANON) && gram_def_name(r, n, text, &ns, &ne)) {
            gram_symbol *s = add(&b, text + ns, ne - ns);
            if (s) {
                TSNode body = ts_node_child_by_field_name(n, "body", 4);
                s->kind = r->kind;
                s->start = ts_node_start_byte(n);
                s->end = ts_node_end_byte(n);
                s->sig_end = ts_node_is_null(body) ? s->end : ts_node_start_byte(body);
                s->row = ts_node_start_point(n).row;
                s->count = 1;
            }
        }
        if (r && r->kind == GRAM_SYM_FUNCTION) descend = 0;    /* not into function bodies */
        if (descend && ++visited < VISIT_MAX && ts_tree_cursor_goto_first_child(&cur)) continue;
        while (!ts_tree_cursor_goto_next_sibling(&cur))
            if (!ts_tree_cursor_goto_parent(&cur)) goto done;
    }
done:
    ts_tree_cursor_delete(&cur);
    return finish(&b, out);
}

/* ------------------------------------------------------------- references */

typedef struct {
    size_t *slot;               /* (cap) 1 + index into the builder, 0: empty */
    size_t cap;
} name_map;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Counts one use of name[0, len), found at [s, e) on row. */
static int count_ref(builder *b, name_map *m, const char *name, size_t len, size_t s, size_t e,
                     uint32_t row)
{
    if (2 * (b->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        size_t *slot = calloc(cap, sizeof *slot);
        if (!slot) return -1;
        for (size_t i = 0; i < b->n; i++) {
            const char *nm = b->names + b->name_at[i];
            size_t h = hash(nm, strlen(nm)) & (cap - 1);
            while (slot[h]) h = (h + 1) & (cap - 1);
            slot[h] = i + 1;
        }
        free(m->slot);
        m->slot = slot;
        m->cap = cap;
    }
    size_t h = hash(name, len) & (m->cap - 1);
    for (; m->slot[h]; h = (h + 1) & (m->cap - 1)) {
        const char *nm = b->names + b->name_at[m->slot[h] - 1];
        if (strlen(nm) == len && memcmp(nm, name, len) == 0) {
            b->items[m->slot[h] - 1].count++;
            return 0;
        }
    }
    gram_symbol *sym = add(b, name, len);
    if (!sym) return -1;
    sym->start = s;
    sym->end = e;
    sym->sig_end = e;
    sym->row = row;
    sym->count = 1;
    m->slot[h] = b->n;
    return 0;
}

static int by_count(const void *a, const void *b)
{
    const gram_symbol *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

int gram_symbols_references(const gram_ctx *ctx, gram_symbols *out)
{
    memset(out, 0, sizeof *out);
    const gram_ctx_state *st = ctx->state;
    const gram_classes *cls = gram_lang_classes(ctx->lang);
    if (!cls || !st->tree || !st->ref_text) return 0;
    /* positions are the document's; the text is the context's copy of [lo, hi) */
    size_t lo = st->ref_lo, hi = st->ref_lo + st->ref_len, offset = ctx->offset;
    builder b = { 0 };
    name_map m = { NULL, 0 };
    TSTreeCursor cur = ts_tree_cursor_new(ts_tree_root_node(st->tree));
    size_t visited = 0;
    int rc = 0;
    for (;;) {
        TSNode n = ts_tree_cursor_current_node(&cur);
        size_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
        int descend = e >= lo && s <= hi;
        if (descend && (gram_node_cls(cls, n) & GRAM_CLS_IDENT)) {
            descend = 0;
            int typing = s < offset && offset <= e;     /* the word being typed */
            if (s >= lo && e <= hi && e > s && !typing &&
                count_ref(&b, &m, st->ref_text + (s - lo), e - s, s, e,
                          ts_node_start_point(n).row) != 0) {
                rc = -1;
                break;
            }
        }
        if (descend && ++visited < VISIT_MAX && ts_tree_cursor_goto_first_child(&cur)) continue;
        while (!ts_tree_cursor_goto_next_sibling(&cur))
            if (!ts_tree_cursor_goto_parent(&cur)) goto done;
    }
done:
    ts_tree_cursor_delete(&cur);
    free(m.slot);
    if (rc != 0) b.oom = 1;
    if (finish(&b, out) != 0) return -1;
    /* sorting moves items, not names: names stay where finish() put them */
    if (out->n > 1) qsort(out->items, out->n, sizeof *out->items, by_count);
    return 0;
}

/* ---------------------------------------------------------------- ranking */

size_t gram_symbols_rank(const gram_symbols *refs, const gram_symbols *defs, size_t *idx,
                         size_t max)
{
    size_t w = 0;
    for (size_t r = 0; r < refs->n && w < max; r++) {
        for (size_t i = 0; i < defs->n && w < max; i++) {
            if (strcmp(refs->items[r].name, defs->items[i].name) != 0) continue;
            size_t j = 0;
            while (j < w && idx[j] != i) j++;
            if (j == w) idx[w++] = i;
        }
    }
    return w;
}
