/* gram_ctx.c — the cursor context: what the cursor touches, the enclosing
 * definition and block, the line's indentation and the file's style, the
 * brackets open at the cursor (and which of them the text after it closes),
 * and the single- vs multi-line decision.
 *
 * Two sources, each where it is right: the tree for the structure (scopes,
 * blocks, node types, strings and comments in well-formed code), the text
 * lexer for brackets and for the state at a cursor inside code the user is
 * still typing, where the tree is an ERROR node.
 */
#include <stdlib.h>
#include <string.h>
#include "gram_int.h"

/* How far the lexer scans around the cursor when the tree does not bound it,
 * and the size of a node it scans whole when the tree does. */
#define SCAN_MAX ((size_t)256 << 10)
#define SCAN_NODE ((size_t)16 << 10)

typedef struct {
    const char *text;
    size_t len, off;
    const gram_lang *lang;
    const gram_classes *cls;
    TSNode root;
    TSNode top;             /* the top-level node the cursor is in (or broke) */
    int have_top;
} ctx_in;

static size_t line_start_of(const char *t, size_t off)
{
    while (off > 0 && t[off - 1] != '\n') off--;
    return off;
}

static size_t line_end_of(const char *t, size_t len, size_t off)
{
    const char *nl = memchr(t + off, '\n', len - off);
    return nl ? (size_t)(nl - t) : len;
}

static TSNode touched(const ctx_in *in);

/* ------------------------------------------------------------------ lines */

static void line_facts(gram_ctx *c, const ctx_in *in)
{
    const char *t = in->text;
    size_t off = in->off;
    c->line_start = line_start_of(t, off);
    size_t end = line_end_of(t, in->len, off);
    c->prefix_blank = 1;
    for (size_t k = c->line_start; k < off; k++)
        if (!gram_is_blank(t[k])) { c->prefix_blank = 0; break; }
    c->suffix_blank = 1;
    for (size_t k = off; k < end; k++)
        if (!gram_is_blank(t[k])) { c->suffix_blank = 0; break; }
    gram_detect_indent(t, in->len, off, &c->file_uses_tabs, &c->indent_unit, &c->indent_known);
    if (c->file_uses_tabs) c->indent_unit = 4;
    size_t upto = c->prefix_blank ? off : end;
    c->indent_columns = gram_indent_columns(t + c->line_start, upto - c->line_start,
                                            c->indent_unit, &c->line_indent);
}

/* ------------------------------------------------------------ bracket scan */

static void push(gram_ctx_state *st, char cls, uint32_t cols)
{
    if (st->n_open == GRAM_STACK_MAX) {         /* keep the innermost */
        memmove(st->open, st->open + 1, GRAM_STACK_MAX - 1);
        memmove(st->closed, st->closed + 1, GRAM_STACK_MAX - 1);
        memmove(st->open_cols, st->open_cols + 1, (GRAM_STACK_MAX - 1) * sizeof st->open_cols[0]);
        st->n_open--;
    }
    st->open_cols[st->n_open] = cols;
    st->closed[st->n_open] = 0;
    st->open[st->n_open++] = cls;
}

/* A closer in the user's code: pops its opener if one of the innermost few
 * matches; a stray closer is ignored. */
static void pop(gram_ctx_state *st, char cls)
{
    for (int k = st->n_open - 1; k >= 0 && k >= st->n_open - 4; k--)
        if (st->open[k] == cls) { st->n_open = k; return; }
}

static uint32_t line_columns(const gram_ctx *c, const char *t, size_t line, size_t upto)
{
    return gram_indent_columns(t + line, upto - line, c->indent_unit, NULL);
}

/* Which of the open brackets does the text after the cursor close? Reading
 * as a person does: a closer that starts a line less indented than the
 * innermost opener's line closes an outer one, and the inner stays open
 * ("if (x) {|" typed above a function's "}"). */
static void scan_suffix(gram_ctx *c, const ctx_in *in, gram_lex lx, size_t to, int loose)
{
    gram_ctx_state *st = c->state;
    int depth = 0, next = st->n_open - 1;
    size_t line = line_start_of(in->text, in->off);
    char cls = 0;
    for (size_t k = in->off; k < to && next >= 0;) {
        size_t at = k;
        gram_event ev = gram_lex_next(&lx, in->text, to, &k, &cls);
        if (ev == GRAM_EV_NEWLINE || ev == GRAM_EV_STRING_BROKEN) line = k;
        if (ev == GRAM_EV_OPEN) depth++;
        if (ev != GRAM_EV_CLOSE) continue;
        if (depth > 0) { depth--; continue; }
        int first_on_line = 1;
        for (size_t j = line; j < at; j++)
            if (!gram_is_blank(in->text[j])) { first_on_line = 0; break; }
        int target = next;
        if (first_on_line) {
            uint32_t cols = line_columns(c, in->text, line, at);
            if (cols < st->open_cols[next]) {
                for (int j = next - 1; j >= 0; j--)
                    if (st->open[j] == cls && st->open_cols[j] <= cols) { target = j; break; }
            }
        }
        if (st->open[target] == cls) {
            st->closed[target] = 1;
            next = target - 1;
        } else if (!(loose && cls == '(')) {
            break;
        }
    }
}

/* A token of the tree as a bracket or block keyword: 1 opens, -1 closes, 0
 * neither; *cls its class. */
static int token_event(const gram_lang *l, TSNode t, char *cls)
{
    const char *ty = ts_node_type(t);
    if (ty[0] && !ty[1] && strchr("([{", ty[0])) { *cls = ty[0]; return 1; }
    if (ty[0] && !ty[1] && strchr(")]}", ty[0])) { *cls = gram_bracket_open_of(ty[0]); return -1; }
    for (const gram_keyword *kw = l->syntax ? l->syntax->keywords : NULL; kw && kw->word; kw++)
        if (strcmp(kw->word, ty) == 0) { *cls = kw->cls; return kw->opens ? 1 : -1; }
    return 0;
}

/* The brackets of the ancestors (from node up) that enclose [from, to): their
 * tokens before from open or close, their closers from to on close them.
 * What the lexer does for the text, the tree does here for the rest of the
 * file, so that a 5,000-line class costs no 5,000-line scan. */
static void ancestor_brackets(gram_ctx *c, const ctx_in *in, TSNode node, size_t from, size_t to)
{
    gram_ctx_state *st = c->state;
    TSNode path[GRAM_UP_MAX];
    int np = 0;
    for (TSNode n = node; !ts_node_is_null(n) && np < GRAM_UP_MAX; n = ts_node_parent(n)) path[np++] = n;
    for (int k = np - 1; k >= 0; k--) {
        int base = st->n_open;
        TSTreeCursor cur = ts_tree_cursor_new(path[k]);
        for (int more = ts_tree_cursor_goto_first_child(&cur); more;
             more = ts_tree_cursor_goto_next_sibling(&cur)) {
            TSNode t = ts_tree_cursor_current_node(&cur);
            char cls = 0;
            if (ts_node_is_named(t) || ts_node_is_missing(t)) continue;
            size_t s = ts_node_start_byte(t), e = ts_node_end_byte(t);
            int ev = token_event(c->lang, t, &cls), opens = ev > 0;
            if (!ev || (e > from && s < to)) continue;      /* the lexer's part */
            if (e <= from && opens) {
                push(st, cls, line_columns(c, in->text, line_start_of(in->text, s), s));
            } else if (e <= from) {
                for (int j = st->n_open - 1; j >= base; j--)
                    if (st->open[j] == cls) { st->n_open = j; break; }
            } else if (!opens) {
                for (int j = st->n_open - 1; j >= base; j--)
                    if (st->open[j] == cls && !st->closed[j]) { st->closed[j] = 1; break; }
            }
        }
        ts_tree_cursor_delete(&cur);
    }
}

/* Where the lexer scans: the largest node around the cursor that is small
 * enough, or the part of a large one holding the cursor. Null: from the
 * cursor only (a gap in a large node). *outer is what encloses it. */
static TSNode scan_node(const ctx_in *in, TSNode at, TSNode *outer)
{
    static const TSNode NONE;
    TSNode n = at;
    for (int up = 0; up < GRAM_UP_MAX; up++) {
        TSNode p = ts_node_parent(n);
        if (ts_node_is_null(p) || ts_node_end_byte(p) - ts_node_start_byte(p) > SCAN_NODE) break;
        n = p;
    }
    *outer = ts_node_parent(n);
    if (ts_node_end_byte(n) - ts_node_start_byte(n) <= SCAN_NODE) return n;
    *outer = n;
    TSNode found = NONE;
    TSTreeCursor cur = ts_tree_cursor_new(n);
    for (int more = ts_tree_cursor_goto_first_child(&cur); more;
         more = ts_tree_cursor_goto_next_sibling(&cur)) {
        TSNode ch = ts_tree_cursor_current_node(&cur);
        if (ts_node_start_byte(ch) > in->off) break;
        if (ts_node_end_byte(ch) >= in->off) { found = ch; break; }
    }
    ts_tree_cursor_delete(&cur);
    return found;
}

static void scan_brackets(gram_ctx *c, const ctx_in *in)
{
    gram_ctx_state *st = c->state;
    int loose = c->lang->syntax && (c->lang->syntax->flags & GRAM_SX_LOOSE_PARENS);
    size_t off = in->off;
    size_t from = off > SCAN_MAX ? line_start_of(in->text, off - SCAN_MAX) : 0;
    size_t to = in->len - off > SCAN_MAX ? off + SCAN_MAX : in->len;
    if (c->has_tree) {
        TSNode outer, inner = scan_node(in, touched(in), &outer);
        if (ts_node_is_null(inner)) {
            from = to = off;
        } else {
            if (ts_node_start_byte(inner) > from) from = ts_node_start_byte(inner);
            if (ts_node_end_byte(inner) < to && !ts_node_has_error(inner)) to = ts_node_end_byte(inner);
        }
        ancestor_brackets(c, in, outer, from, to);
    }
    gram_lex lx;
    gram_lex_init(&lx, c->lang);
    char cls = 0;
    size_t line = line_start_of(in->text, from);
    for (size_t k = from; k < off;) {
        size_t at = k;
        gram_event ev = gram_lex_next(&lx, in->text, off, &k, &cls);
        if (ev == GRAM_EV_NEWLINE || ev == GRAM_EV_STRING_BROKEN) line = k;
        else if (ev == GRAM_EV_OPEN) push(st, cls, line_columns(c, in->text, line, at));
        else if (ev == GRAM_EV_CLOSE) pop(st, cls);
    }
    st->lex = lx;
    scan_suffix(c, in, lx, to > off ? to : off, loose);
}

/* ----------------------------------------------------------- tree queries */

static TSNode field(TSNode n, const char *name)
{
    return ts_node_child_by_field_name(n, name, (uint32_t)strlen(name));
}

static uint32_t node_columns(const ctx_in *in, TSNode n, int unit)
{
    size_t s = ts_node_start_byte(n), ls = line_start_of(in->text, s);
    return gram_indent_columns(in->text + ls, s - ls, unit, NULL);
}

static int is_line_comment(const gram_lang *l, const char *t, size_t s, size_t e)
{
    const char *lc = l->line_comment;
    if (!lc || e - s < strlen(lc) || memcmp(t + s, lc, strlen(lc)) != 0) return 0;
    return !(l->syntax && (l->syntax->flags & GRAM_SX_LONG_BRACKETS) && e - s >= 4 && t[s + 2] == '[');
}

/* The named node the cursor touches: the one holding the byte before it when
 * that byte is code (the end of "foo|"), else the one at the cursor. */
static TSNode touched(const ctx_in *in)
{
    size_t off = in->off;
    if (off > 0 && !gram_is_blank(in->text[off - 1]) && in->text[off - 1] != '\n')
        return ts_node_named_descendant_for_byte_range(in->root, (uint32_t)(off - 1), (uint32_t)off);
    return ts_node_named_descendant_for_byte_range(in->root, (uint32_t)off, (uint32_t)off);
}

static void touch_facts(gram_ctx *c, const ctx_in *in)
{
    size_t off = in->off;
    TSNode named = touched(in);
    c->node_type = ts_node_type(named);
    c->node_start = ts_node_start_byte(named);
    c->node_end = ts_node_end_byte(named);
    c->in_identifier = ((gram_node_cls(in->cls, named) & GRAM_CLS_IDENT) ||
                        strstr(c->node_type, "identifier")) &&
                       c->node_start < off && off <= c->node_end;
    /* strings and block comments hold the cursor strictly inside; a line
     * comment also at its end (the line break is not part of it) */
    TSNode at = ts_node_descendant_for_byte_range(in->root, (uint32_t)off, (uint32_t)off);
    TSNode before = off > 0 ? ts_node_descendant_for_byte_range(in->root, (uint32_t)(off - 1),
                                                                (uint32_t)off)
                            : at;
    for (int pass = 0; pass < 2 && !c->in_string && !c->in_comment; pass++) {
        TSNode n = pass ? before : at;
        for (int up = 0; up < GRAM_UP_MAX && !ts_node_is_null(n); up++, n = ts_node_parent(n)) {
            unsigned k = gram_node_cls(in->cls, n);
            size_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
            if ((k & GRAM_CLS_STRING) && s < off && off < e) c->in_string = 1;
            else if ((k & GRAM_CLS_COMMENT) && s < off &&
                     (off < e || (off == e && is_line_comment(c->lang, in->text, s, e))))
                c->in_comment = 1;
            else continue;
            c->node_type = ts_node_type(n);     /* report the string/comment itself */
            c->node_start = s;
            c->node_end = e;
            break;
        }
    }
}

/* Name of an anonymous scope from what it is assigned to (const f = () =>):
 * the owning node, or a null node. */
static TSNode anon_name_owner(const ctx_in *in, TSNode scope, size_t *ns, size_t *ne)
{
    static const TSNode NONE;
    TSNode p = ts_node_parent(scope);
    if (ts_node_is_null(p)) return NONE;
    const gram_rule *r = gram_node_rule(in->lang, in->cls, p, in->text);
    if (r && gram_def_name(r, p, in->text, ns, ne)) return p;
    static const char *const FIELDS[] = { "left", "key", "name", "declarator" };
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        TSNode f = field(p, FIELDS[i]);
        if (ts_node_is_null(f)) continue;
        size_t s = ts_node_start_byte(f), e = ts_node_end_byte(f), k = e;
        while (k > s && gram_is_ident(in->text[k - 1])) k--;
        if (k < e) { *ns = k; *ne = e; return p; }
    }
    return NONE;
}

/* 1 if byte k is in the text the context's tree was parsed from. */
static int seen(const gram_ctx_state *st, size_t k)
{
    if (!st->local) return 1;
    for (uint32_t i = 0; i < st->n_ranges; i++)
        if (st->ranges[i].start_byte <= k && k < st->ranges[i].end_byte) return 1;
    return 0;
}

/* t[s, e) with runs of blanks and newlines collapsed to one space, trimmed,
 * at most max bytes, leaving out what a local tree did not see; malloc'd. */
static char *collapse(const gram_ctx_state *st, const char *t, size_t s, size_t e, size_t max)
{
    char *out = malloc(max + 1);
    if (!out) return NULL;
    size_t n = 0;
    int space = 0;
    for (size_t k = s; k < e && n < max; k++) {
        if (!seen(st, k)) { space = n > 0; continue; }
        char ch = t[k];
        if (gram_is_blank(ch) || ch == '\n') { space = n > 0; continue; }
        if (space && n + 1 < max) out[n++] = ' ';
        space = 0;
        out[n++] = ch;
    }
    out[n] = 0;
    return out;
}

/* The enclosing block and scope, walking up from start. by_columns: start is
 * the code above a blank Python line; the cursor's column decides which of
 * its ancestors still hold the cursor. */
static int scope_facts(gram_ctx *c, const ctx_in *in, TSNode start, int by_columns)
{
    const gram_rule *rule = NULL;
    TSNode scope = start, block = start;
    int have_block = 0;
    size_t off = in->off;
    uint32_t col = c->indent_columns;
    TSNode n = start;
    for (int up = 0; up < GRAM_UP_MAX && !ts_node_is_null(n); up++, n = ts_node_parent(n)) {
        size_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
        int inside = (s < off && off < e) ||
                     (c->lang->blocks == GRAM_BLOCKS_INDENT && s <= off && off <= e);
        uint32_t ncol = by_columns ? node_columns(in, n, c->indent_unit) : 0;
        if (!have_block && (gram_node_cls(in->cls, n) & GRAM_CLS_BLOCK) &&
            (by_columns ? ncol <= col : inside)) {
            block = n;
            have_block = 1;
        }
        const gram_rule *r = gram_node_rule(c->lang, in->cls, n, in->text);
        if (r && !(r->flags & GRAM_RULE_NOT_SCOPE) && (by_columns ? ncol < col : inside)) {
            scope = n;
            rule = r;
            break;
        }
    }
    if (have_block) {
        c->block_type = ts_node_type(block);
        c->block_start = ts_node_start_byte(block);
        c->block_end = ts_node_end_byte(block);
    }
    if (!rule) return 0;
    c->scope_kind = rule->kind;
    c->scope_type = ts_node_type(scope);
    c->scope_start = ts_node_start_byte(scope);
    c->scope_end = ts_node_end_byte(scope);
    size_t ns = 0, ne = 0, sig_start = c->scope_start;
    if (rule->flags & GRAM_RULE_ANON) {
        TSNode owner = anon_name_owner(in, scope, &ns, &ne);
        if (!ts_node_is_null(owner)) sig_start = ts_node_start_byte(owner);
    } else {
        gram_def_name(rule, scope, in->text, &ns, &ne);
    }
    TSNode body = field(scope, "body");
    size_t sig_end = ts_node_is_null(body) ? line_end_of(in->text, in->len, c->scope_start)
                                           : ts_node_start_byte(body);
    if (sig_end > c->scope_end) sig_end = c->scope_end;
    free(c->scope_name);
    free(c->signature);
    c->scope_name = collapse(c->state, in->text, ns, ne, 256);
    c->signature = collapse(c->state, in->text, sig_start, sig_end, GRAM_SIGNATURE_MAX);
    return c->scope_name && c->signature ? 0 : -1;
}

/* Python: on a blank line the tree has already closed the blocks the cursor's
 * indentation still belongs to; find them by columns from the code above. */
static TSNode indent_anchor(const gram_ctx *c, const ctx_in *in, int *by_columns)
{
    *by_columns = 0;
    TSNode at = touched(in);
    if (c->lang->blocks != GRAM_BLOCKS_INDENT || !c->prefix_blank) return at;
    size_t k = c->line_start;
    while (k > 0 && (gram_is_blank(in->text[k - 1]) || in->text[k - 1] == '\n')) k--;
    if (k == 0) return at;
    *by_columns = 1;
    return ts_node_named_descendant_for_byte_range(in->root, (uint32_t)(k - 1), (uint32_t)(k - 1));
}

static int tree_facts(gram_ctx *c, ctx_in *in)
{
    gram_ctx_state *st = c->state;
    in->root = ts_tree_root_node(st->tree);
    touch_facts(c, in);
    int by_columns;
    TSNode anchor = indent_anchor(c, in, &by_columns);
    if (scope_facts(c, in, anchor, by_columns) != 0) return -1;
    st->tree_has_error = ts_node_has_error(in->root);
    if (c->block_type[0]) {
        st->check_start = c->block_start;
        st->check_end = c->block_end;
    } else if (in->have_top) {
        st->check_start = ts_node_start_byte(in->top);
        st->check_end = ts_node_end_byte(in->top);
        if (st->check_end < in->off) st->check_end = in->off;
    } else {
        st->check_start = st->check_end = in->off;
    }
    c->error_near = st->tree_has_error && gram_tree_error_in(in->root, st->check_start, st->check_end);
    return 0;
}

/* The top-level node holding the cursor, or the one before it if that one is
 * broken (an unfinished definition the cursor is typing into). */
static void find_top(ctx_in *in)
{
    in->have_top = 0;
    TSTreeCursor cur = ts_tree_cursor_new(in->root);    /* ts_node_child is O(index) */
    for (int more = ts_tree_cursor_goto_first_child(&cur); more;
         more = ts_tree_cursor_goto_next_sibling(&cur)) {
        TSNode ch = ts_tree_cursor_current_node(&cur);
        if (ts_node_start_byte(ch) > in->off) break;
        if (ts_node_end_byte(ch) >= in->off || ts_node_has_error(ch)) {
            in->top = ch;
            in->have_top = 1;
        }
    }
    ts_tree_cursor_delete(&cur);
    if (in->have_top && ts_node_end_byte(in->top) < in->off && !ts_node_has_error(in->top))
        in->have_top = 0;
}

/* The text the scope's references are read from later (gram_symbols_references
 * works on the context alone): the scope, or lines around the cursor at top
 * level; at most GRAM_REF_MAX bytes around the cursor. */
static int capture_refs(gram_ctx *c, const ctx_in *in)
{
    gram_ctx_state *st = c->state;
    size_t lo = in->off, hi = in->off;
    if (c->scope_kind != GRAM_SYM_NONE) {
        lo = c->scope_start;
        hi = c->scope_end;
    } else {
        for (int l = 0; lo > 0 && l <= GRAM_REF_WINDOW_LINES; lo--) l += in->text[lo - 1] == '\n';
        for (int l = 0; hi < in->len && l <= GRAM_REF_WINDOW_LINES; hi++) l += in->text[hi] == '\n';
    }
    if (lo > in->off) lo = in->off;
    if (hi < in->off) hi = in->off;     /* a Python scope ends before its blank lines */
    if (in->off - lo > GRAM_REF_MAX / 2) lo = in->off - GRAM_REF_MAX / 2;
    if (hi - in->off > GRAM_REF_MAX / 2) hi = in->off + GRAM_REF_MAX / 2;
    if (hi > in->len) hi = in->len;
    st->ref_text = malloc(hi - lo + 1);
    if (!st->ref_text) return -1;
    memcpy(st->ref_text, in->text + lo, hi - lo);
    st->ref_text[hi - lo] = 0;
    st->ref_lo = lo;
    st->ref_len = hi - lo;
    return 0;
}

/* ------------------------------------------------------------------ shape */

static void decide_shape(gram_ctx *c)
{
    const gram_lex *lx = &c->state->lex;
    unsigned f = c->lang->syntax ? c->lang->syntax->flags : 0;
    int m = 0;
    const char *why = "end of a line";
    if (c->in_comment) why = "in a comment";
    else if (c->in_string) why = "in a string";
    else if (!c->suffix_blank) why = "text after the cursor";
    else if (lx->last_was_open_word) m = 1, why = "after a block keyword";
    else if (lx->last == '{') m = 1, why = "after '{'";
    else if (lx->last == '(') m = 1, why = "after '('";
    else if (lx->last == '[') m = 1, why = "after '['";
    else if (lx->last_was_arrow && (f & GRAM_SX_ARROW_BLOCKS)) m = 1, why = "after '=>'";
    else if (lx->last == ':' && (f & GRAM_SX_COLON_BLOCKS) && c->state->n_open == 0)
        m = 1, why = "after ':'";
    else if (c->lang->blocks == GRAM_BLOCKS_KEYWORDS && lx->line_depth > 0)
        m = 1, why = "the line opens a block";
    else if (c->prefix_blank) m = 1, why = "blank line";
    c->multiline = m;
    c->multiline_why = why;
}

/* ------------------------------------------------------------------- API */

void gram_context_free(gram_ctx *c)
{
    if (!c) return;
    if (c->state) {
        if (c->state->tree) ts_tree_delete(c->state->tree);
        free(c->state->ref_text);
        free(c->state->ranges);
        free(c->state);
    }
    free(c->scope_name);
    free(c->signature);
    free(c);
}

gram_ctx *gram_context_new(gram_doc *d, size_t offset)
{
    gram_ctx *c = calloc(1, sizeof *c);
    gram_ctx_state *st = c ? calloc(1, sizeof *st) : NULL;
    if (!st) { free(c); return NULL; }
    c->state = st;
    size_t len;
    const char *text = gram_doc_text(d, &len);
    if (offset > len) offset = len;
    c->lang = gram_doc_lang(d);
    c->offset = offset;
    c->doc_len = len;
    c->node_type = c->scope_type = c->block_type = "";
    c->scope_name = calloc(1, 1);
    c->signature = calloc(1, 1);
    if (!c->scope_name || !c->signature) { gram_context_free(c); return NULL; }
    ctx_in in = { .text = text, .len = len, .off = offset, .lang = c->lang };
    in.cls = gram_lang_classes(c->lang);
    if (in.cls) {
        st->tree = gram_doc_tree_for(d, offset, GRAM_CONTEXT_PARSE_US, &st->ranges, &st->n_ranges,
                                     &st->local);
        if (st->tree) {
            st->language = gram_lang_ts(c->lang);
            c->has_tree = 1;
            c->local_tree = st->local;
            in.root = ts_tree_root_node(st->tree);
            find_top(&in);
        }
    }
    c->point = gram_doc_point(d, offset);
    line_facts(c, &in);
    scan_brackets(c, &in);
    if (c->has_tree && (tree_facts(c, &in) != 0 || capture_refs(c, &in) != 0)) {
        gram_context_free(c);
        return NULL;
    }
    /* where the tree is broken around the cursor, the lexer knows better */
    if (!c->has_tree || c->error_near) {
        if (st->lex.state == GRAM_LX_STRING) c->in_string = 1;
        if (st->lex.state == GRAM_LX_LINE_COMMENT || st->lex.state == GRAM_LX_BLOCK_COMMENT)
            c->in_comment = 1;
    }
    if (!c->has_tree) {
        st->check_start = st->check_end = offset;
        c->in_identifier = offset > 0 && gram_is_ident(text[offset - 1]) && !c->in_string &&
                           !c->in_comment;
    }
    st->base_columns = c->indent_columns;
    decide_shape(c);
    return c;
}

gram_ctx *gram_context_from_text(const gram_lang *lang, const char *prefix, size_t prefix_len,
                                 const char *suffix, size_t suffix_len)
{
    gram_doc *d = gram_doc_new(lang, prefix, prefix_len);
    if (!d) return NULL;
    if (suffix_len && gram_doc_edit(d, prefix_len, prefix_len, suffix, suffix_len) != 0) {
        gram_doc_free(d);
        return NULL;
    }
    gram_doc_parse(d);      /* one shot: the whole tree, whatever it costs */
    gram_ctx *c = gram_context_new(d, prefix_len);
    gram_doc_free(d);
    return c;
}
