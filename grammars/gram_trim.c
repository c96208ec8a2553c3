/* gram_trim.c — completion post-processing: where a careful programmer would
 * stop, and whether the result still parses.
 *
 * The steps, each of which only shortens the text (but the reindent):
 *   1. single line   — at a single-line position keep one line of new text;
 *   2. rest of line  — drop the tail that the cursor's line already has;
 *   3. next lines    — stop where the text repeats the lines below the cursor;
 *   4. structure     — scan with the lexer from the cursor's state: cut before a
 *                      closer that does not match, that closes more than the
 *                      context opened, or that closes what the suffix already
 *                      closes; after closing the enclosing block, stop at the
 *                      end of that line; a line dedented below the block (not
 *                      brace languages) ends it; a string broken across a line
 *                      is cut at the line end;
 *   5. trailing blank lines are dropped;
 *   6. indentation is converted to the file's tabs or spaces;
 *   7. parse check  — insert into a copy of the tree (with closers for what the
 *                      text leaves open) and reparse incrementally; a new
 *                      ERROR/MISSING node rejects it, after trying without the
 *                      unfinished last line and with the first line only.
 */
#include <stdlib.h>
#include <string.h>
#include "gram_int.h"

const char *gram_trim_reason_name(gram_trim_reason r)
{
    switch (r) {
    case GRAM_TRIM_KEPT: return "kept";
    case GRAM_TRIM_SINGLE_LINE: return "single line";
    case GRAM_TRIM_BLOCK_END: return "block end";
    case GRAM_TRIM_UNBALANCED: return "unbalanced";
    case GRAM_TRIM_SUFFIX_LINE: return "duplicates rest of line";
    case GRAM_TRIM_SUFFIX_LINES: return "duplicates following lines";
    case GRAM_TRIM_INCOMPLETE: return "incomplete last line";
    case GRAM_TRIM_SYNTAX_ERROR: return "syntax error";
    case GRAM_TRIM_EMPTY: return "empty";
    case GRAM_TRIM_NOMEM: return "out of memory";
    }
    return "?";
}

static size_t line_end(const char *s, size_t n, size_t k)
{
    const char *nl = memchr(s + k, '\n', n - k);
    return nl ? (size_t)(nl - s) : n;
}

/* [*s, *e) trimmed of blanks on both sides. */
static void trim(const char *t, size_t *s, size_t *e)
{
    while (*s < *e && gram_is_blank(t[*s])) (*s)++;
    while (*e > *s && gram_is_blank(t[*e - 1])) (*e)--;
}

/* ---------------------------------------------------------- 1. single line */

/* The end of the first line that has non-blank text. */
static size_t single_line_end(const char *s, size_t n)
{
    size_t k = 0;
    for (;;) {
        size_t e = line_end(s, n, k), a = k, b = e;
        trim(s, &a, &b);
        if (a < b || e == n) return e;
        k = e + 1;
    }
}

static int starts_with_closer(const gram_lang *lang, const char *s, size_t n, size_t k);

typedef struct {
    size_t cut;                 /* where the text ends (n if not cut) */
    gram_trim_reason reason;
    gram_lex lex;               /* state at cut */
    char open[GRAM_STACK_MAX];  /* brackets the text opened and left open */
    int n_open;
    int opened_here;            /* the string/comment open at cut began in the text */
} scan_out;

static void scan_structure(const gram_ctx *ctx, const char *s, size_t n, scan_out *o);

/* ---------------------------------------------------- 2, 3. suffix dedupe */

/* Drops the end of the first line that the rest of the cursor's line already
 * has ("x);" before ");"; partly: "x)" before ");"), unless what it would
 * drop closes brackets the completion itself opened ("foo()" before ")"):
 * those are the bracket scan's to judge. */
static size_t dedupe_rest_of_line(const gram_ctx *ctx, const char *s, size_t n, const char *suf,
                                  size_t slen)
{
    size_t rs = 0, re = line_end(suf, slen, 0);
    trim(suf, &rs, &re);
    if (rs == re) return n;
    size_t r = re - rs, le = line_end(s, n, 0), cut = n;
    while (le > 0 && gram_is_blank(s[le - 1])) le--;
    if (le >= r && memcmp(s + le - r, suf + rs, r) == 0) {
        cut = le - r;
    } else {
        for (size_t k = 1; k <= r && k <= le; k++) {
            if (memcmp(s + le - k, suf + rs, k) != 0) continue;
            int punct = 1;
            for (size_t j = 0; j < k; j++)
                if (gram_is_ident(suf[rs + j]) || gram_is_blank(suf[rs + j])) punct = 0;
            if (punct) cut = le - k;
        }
    }
    if (cut == n) return n;
    scan_out o;
    scan_structure(ctx, s, cut, &o);
    return o.cut == cut && o.n_open == 0 ? cut : n;
}

/* Cuts before the first line that repeats the first non-blank line after the
 * cursor's line: the model re-typing code that is already there. */
static size_t dedupe_lines(const gram_ctx *ctx, const char *s, size_t n, const char *suf,
                           size_t slen)
{
    size_t ss = 0, se = 0;
    for (size_t k = line_end(suf, slen, 0); k < slen && ss == se;) {
        size_t a = k + 1, b = line_end(suf, slen, a);
        ss = a;
        se = b;
        trim(suf, &ss, &se);
        k = b;
    }
    if (ss == se) return n;
    for (size_t k = 0, line = 0;; line++) {
        size_t e = line_end(s, n, k), a = k, b = e;
        trim(s, &a, &b);
        /* lines that start with a closer are the bracket scan's business: a
         * "}" closing the completion's own block is no duplicate */
        if ((line > 0 || ctx->prefix_blank) && a < b && b - a == se - ss &&
            memcmp(s + a, suf + ss, b - a) == 0 && !starts_with_closer(ctx->lang, s, b, a))
            return k > 0 ? k - 1 : 0;
        if (e == n) return n;
        k = e + 1;
    }
}

/* ------------------------------------------------------------ 4. structure */

static int is_block_cls(char cls) { return cls != '(' && cls != '['; }

/* Does the line at s[k] start with a closer (bracket or closing keyword)? */
static int starts_with_closer(const gram_lang *lang, const char *s, size_t n, size_t k)
{
    if (k < n && gram_bracket_open_of(s[k])) return 1;
    const gram_keyword *kw = lang->syntax ? lang->syntax->keywords : NULL;
    for (; kw && kw->word; kw++) {
        size_t l = strlen(kw->word);
        if (!kw->opens && k + l <= n && memcmp(s + k, kw->word, l) == 0 &&
            (k + l == n || !gram_is_ident(s[k + l])))
            return 1;
    }
    return 0;
}

static void scan_structure(const gram_ctx *ctx, const char *s, size_t n, scan_out *o)
{
    const gram_ctx_state *st = ctx->state;
    int loose = ctx->lang->syntax && (ctx->lang->syntax->flags & GRAM_SX_LOOSE_PARENS);
    int by_indent = ctx->lang->blocks != GRAM_BLOCKS_BRACES;
    o->cut = n;
    o->reason = GRAM_TRIM_KEPT;
    o->lex = st->lex;
    o->n_open = 0;
    o->opened_here = 0;
    int ctx_closed = 0, block_closed = 0;
    size_t line_begin = 0;
    char cls = 0;
    for (size_t k = 0; k < n;) {
        if (k == line_begin && k > 0) {
            if (block_closed) { o->cut = k - 1; o->reason = GRAM_TRIM_BLOCK_END; return; }
            size_t blank;
            uint32_t cols = gram_indent_columns(s + k, n - k, ctx->indent_unit, &blank);
            size_t first = k + blank;
            if (by_indent && o->lex.state == GRAM_LX_CODE && first < n && s[first] != '\n' &&
                s[first] != '\r' && cols < st->base_columns &&
                !starts_with_closer(ctx->lang, s, n, first)) {
                o->cut = k - 1;
                o->reason = GRAM_TRIM_BLOCK_END;
                return;
            }
        }
        size_t at = k;
        int was_code = o->lex.state == GRAM_LX_CODE;
        gram_event ev = gram_lex_next(&o->lex, s, n, &k, &cls);
        if (was_code != (o->lex.state == GRAM_LX_CODE)) o->opened_here = was_code;
        if (ev == GRAM_EV_NEWLINE || ev == GRAM_EV_STRING_BROKEN) line_begin = k;
        if (ev == GRAM_EV_STRING_BROKEN) {
            o->cut = at;
            o->reason = GRAM_TRIM_UNBALANCED;
            return;
        }
        if (ev == GRAM_EV_OPEN) {
            if (o->n_open < GRAM_STACK_MAX) o->open[o->n_open++] = cls;
            continue;
        }
        if (ev != GRAM_EV_CLOSE) continue;
        if (o->n_open > 0) {
            if (o->open[o->n_open - 1] == cls) { o->n_open--; continue; }
            if (loose && cls == '(') continue;
            o->cut = at;
            o->reason = GRAM_TRIM_UNBALANCED;
            return;
        }
        int idx = st->n_open - 1 - ctx_closed;
        if (loose && cls == '(' && (idx < 0 || st->open[idx] != '(')) continue;
        if (idx < 0 || st->open[idx] != cls) {
            o->cut = at;
            o->reason = GRAM_TRIM_UNBALANCED;
            return;
        }
        if (st->closed[idx]) {     /* the code after the cursor closes it */
            o->cut = at;
            o->reason = is_block_cls(cls) ? GRAM_TRIM_BLOCK_END : GRAM_TRIM_UNBALANCED;
            return;
        }
        ctx_closed++;
        if (is_block_cls(cls)) block_closed = 1;
    }
}

/* --------------------------------------------------- 5, 6. blanks, indent */

static size_t drop_trailing_blank_lines(const char *s, size_t n)
{
    size_t e = n;
    while (e > 0 && (gram_is_blank(s[e - 1]) || s[e - 1] == '\n')) e--;
    return memchr(s + e, '\n', n - e) ? e : n;
}

/* Rewrites leading indentation to the file's style. Returns a malloc'd
 * string (*out_len), or NULL on OOM; *changed set if anything changed. */
static char *reindent(const gram_ctx *ctx, const char *s, size_t n, size_t *out_len, int *changed)
{
    /* a tab is one level: indent_unit (4 in a tabs file) columns of spaces */
    size_t unit = (size_t)(ctx->indent_unit > 0 ? ctx->indent_unit : 4);
    size_t cap = n * (size_t)(ctx->indent_unit > 1 ? ctx->indent_unit : 1) + 1;
    char *o = malloc(cap);
    if (!o) return NULL;
    size_t w = 0;
    *changed = 0;
    for (size_t k = 0; k <= n;) {
        size_t e = line_end(s, n, k), lead = k;
        while (lead < e && (s[lead] == ' ' || s[lead] == '\t')) lead++;
        int convert = ctx->indent_known && (k > 0 || ctx->prefix_blank);
        if (convert && ctx->file_uses_tabs && memchr(s + k, ' ', lead - k)) {
            size_t tabs = 0, spaces = 0;
            for (size_t j = k; j < lead; j++) {
                if (s[j] == '\t') tabs++;
                else spaces++;
            }
            tabs += spaces / unit;
            spaces %= unit;
            memset(o + w, '\t', tabs), w += tabs;
            memset(o + w, ' ', spaces), w += spaces;
            *changed = 1;
        } else if (convert && !ctx->file_uses_tabs && memchr(s + k, '\t', lead - k)) {
            for (size_t j = k; j < lead; j++) {
                size_t m = s[j] == '\t' ? (size_t)ctx->indent_unit : 1;
                memset(o + w, ' ', m), w += m;
            }
            *changed = 1;
        } else {
            memcpy(o + w, s + k, lead - k), w += lead - k;
        }
        memcpy(o + w, s + lead, e - lead), w += e - lead;
        if (e == n) break;
        o[w++] = '\n';
        k = e + 1;
    }
    o[w] = 0;
    *out_len = w;
    return o;
}

/* ------------------------------------------------------- 7. parse check */

typedef struct {
    const char *part[4];
    size_t len[4];
} vtext;

static const char *vread(void *payload, uint32_t byte, TSPoint pt, uint32_t *read)
{
    (void)pt;
    const vtext *v = payload;
    size_t at = byte;
    for (int i = 0; i < 4; i++) {
        if (at < v->len[i]) {
            size_t left = v->len[i] - at;
            *read = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
            return v->part[i] + at;
        }
        at -= v->len[i];
    }
    *read = 0;
    return "";
}

/* Appends what text[0, n) leaves open, so that "would it parse once the user
 * finishes it" is the question asked. */
static size_t closers_for(const gram_ctx *ctx, const char *s, size_t n, char *out, size_t cap)
{
    scan_out o;
    scan_structure(ctx, s, n, &o);
    size_t w = 0;
    if (!o.opened_here) o.lex.state = GRAM_LX_CODE;   /* the suffix closes what the cursor was in */
#define PUT(str) do { size_t l_ = strlen(str); if (w + l_ < cap) { memcpy(out + w, str, l_); w += l_; } } while (0)
    if (o.lex.state == GRAM_LX_STRING) {
        char q[16] = { 0 };
        if (o.lex.quote == 'T') memset(q, o.lex.quote_ch, 3);
        else if (o.lex.quote == 'L') {
            q[0] = ']';
            int l = o.lex.level < 10 ? o.lex.level : 10;
            memset(q + 1, '=', (size_t)l);
            q[l + 1] = ']';
        } else q[0] = o.lex.quote;
        PUT(q);
    } else if (o.lex.state == GRAM_LX_BLOCK_COMMENT) {
        PUT(o.lex.quote == 'L' ? "]]" : (ctx->lang->block_comment_close ? ctx->lang->block_comment_close : ""));
    } else if (o.lex.state == GRAM_LX_LINE_COMMENT) {
        PUT("\n");
    }
    for (int i = o.n_open - 1; i >= 0; i--) {
        char c = o.open[i];
        if (c != '(' && c != '[' && c != '{') PUT("\n");     /* a keyword: on its own line */
        PUT(gram_closer_text(ctx->lang, c));
        if (c == 'r') PUT(" true");     /* Lua repeat ... until <expr> */
    }
    if (ctx->lang->blocks == GRAM_BLOCKS_INDENT && o.n_open == 0 && o.lex.state == GRAM_LX_CODE) {
        size_t e = n;
        while (e > 0 && (gram_is_blank(s[e - 1]) || s[e - 1] == '\n')) e--;
        if (e > 0 && s[e - 1] == ':') {     /* a block header needs a body: deeper, then pass */
            size_t ls = e;
            while (ls > 0 && s[ls - 1] != '\n') ls--;
            uint32_t cols = ls == 0 && !ctx->prefix_blank
                                ? ctx->indent_columns
                                : gram_indent_columns(s + ls, e - ls, ctx->indent_unit, NULL) +
                                      (ls == 0 ? ctx->indent_columns : 0);
            PUT("\n");
            for (uint32_t i = 0; i <= cols && i < 256; i++) PUT(" ");
            PUT("pass");
        }
    }
#undef PUT
    out[w] = 0;
    return w;
}

/* 1: parses without new errors (or could not be checked), 0: new errors. */
static int parses(const gram_ctx *ctx, TSParser *parser, const char *prefix, size_t plen,
                  const char *suffix, size_t slen, const char *s, size_t n)
{
    const gram_ctx_state *st = ctx->state;
    char close[1024];
    size_t clen = closers_for(ctx, s, n, close, sizeof close);
    size_t ins = n + clen;
    gram_point end = gram_point_advance(gram_point_advance(ctx->point, s, n), close, clen);
    TSInputEdit e = {
        (uint32_t)plen, (uint32_t)plen, (uint32_t)(plen + ins),
        { ctx->point.row, ctx->point.column }, { ctx->point.row, ctx->point.column },
        { end.row, end.column },
    };
    if (st->local) {        /* parse the same ranges, moved by the insertion */
        TSRange r[GRAM_LOCAL_RANGES];
        uint32_t nr = st->n_ranges < GRAM_LOCAL_RANGES ? st->n_ranges : GRAM_LOCAL_RANGES;
        for (uint32_t i = 0; i < nr; i++) {
            r[i] = st->ranges[i];
            gram_range_insert(&r[i], (uint32_t)plen, ctx->point, (uint32_t)ins, end);
        }
        if (!ts_parser_set_included_ranges(parser, r, nr)) return 1;
    }
    TSTree *old = ts_tree_copy(st->tree);
    if (!old) return 1;
    ts_tree_edit(old, &e);
    vtext v = { { prefix, s, close, suffix }, { plen, n, clen, slen } };
    TSInput input = { &v, vread, TSInputEncodingUTF8 };
    TSTree *t = ts_parser_parse(parser, old, input);
    ts_tree_delete(old);
    if (!t) { ts_parser_reset(parser); return 1; }     /* timed out: not checked */
    TSNode root = ts_tree_root_node(t);
    int bad = st->tree_has_error ? gram_tree_error_in(root, st->check_start, st->check_end + ins)
                                 : ts_node_has_error(root);
    ts_tree_delete(t);
    return !bad;
}

/* The longest of: the text, the text without its last line, its first line,
 * that parses; *why says which (KEPT, INCOMPLETE) or SYNTAX_ERROR (0). */
static size_t parse_check(const gram_ctx *ctx, const char *prefix, size_t plen, const char *suffix,
                          size_t slen, const char *s, size_t n, gram_trim_reason *why,
                          int *checked)
{
    const gram_ctx_state *st = ctx->state;
    *why = GRAM_TRIM_KEPT;
    *checked = 0;
    if (!ctx->has_tree || !st->tree || ctx->error_near || n == 0 || plen != ctx->offset ||
        plen + slen != ctx->doc_len || ctx->doc_len + n > UINT32_MAX / 2)
        return n;
    TSParser *parser = ts_parser_new();
    if (!parser) return n;
    if (!ts_parser_set_language(parser, st->language)) { ts_parser_delete(parser); return n; }
    ts_parser_set_timeout_micros(parser, GRAM_CHECK_PARSE_US);
    *checked = 1;
    size_t cand[3] = { n, 0, 0 };
    int nc = 1;
    size_t last_nl = n;
    while (last_nl > 0 && s[last_nl - 1] != '\n') last_nl--;
    if (last_nl > 0) {
        size_t m = drop_trailing_blank_lines(s, last_nl - 1);
        if (m > 0) cand[nc++] = m;
        size_t first = line_end(s, n, 0);
        if (first > 0 && first < m) cand[nc++] = first;
    }
    size_t out = 0;
    *why = GRAM_TRIM_SYNTAX_ERROR;
    for (int i = 0; i < nc; i++) {
        if (parses(ctx, parser, prefix, plen, suffix, slen, s, cand[i])) {
            out = cand[i];
            *why = i == 0 ? GRAM_TRIM_KEPT : GRAM_TRIM_INCOMPLETE;
            break;
        }
    }
    ts_parser_delete(parser);
    return out;
}

/* ------------------------------------------------------------------- API */

size_t gram_trim(const gram_ctx *ctx, const char *prefix, size_t prefix_len,
                 const char *suffix, size_t suffix_len,
                 const char *completion, size_t len, gram_trim_result *res)
{
    memset(res, 0, sizeof *res);
    if (!suffix) suffix_len = 0;
    if (!prefix) prefix_len = 0;
    gram_trim_reason why = GRAM_TRIM_KEPT;
    size_t n = len, m;
#define CUT(expr, r) do { m = (expr); if (m < n) { n = m; why = (r); } } while (0)
    if (!ctx->multiline) CUT(single_line_end(completion, n), GRAM_TRIM_SINGLE_LINE);
    CUT(dedupe_rest_of_line(ctx, completion, n, suffix, suffix_len), GRAM_TRIM_SUFFIX_LINE);
    CUT(dedupe_lines(ctx, completion, n, suffix, suffix_len), GRAM_TRIM_SUFFIX_LINES);
    scan_out o;
    scan_structure(ctx, completion, n, &o);
    CUT(o.cut, o.reason);
    CUT(drop_trailing_blank_lines(completion, n), why);
#undef CUT
    size_t k = 0;
    while (k < n && (gram_is_blank(completion[k]) || completion[k] == '\n')) k++;
    if (k == n) {
        res->text = calloc(1, 1);
        res->reason = res->text ? GRAM_TRIM_EMPTY : GRAM_TRIM_NOMEM;
        return 0;
    }
    size_t out_len;
    char *text = reindent(ctx, completion, n, &out_len, &res->reindented);
    if (!text) { res->reason = GRAM_TRIM_NOMEM; return 0; }
    gram_trim_reason check_why;
    size_t kept = parse_check(ctx, prefix, prefix_len, suffix, suffix_len, text, out_len,
                              &check_why, &res->parse_checked);
    text[kept] = 0;
    res->text = text;
    res->len = kept;
    res->reason = check_why == GRAM_TRIM_KEPT ? why : check_why;
    return kept;
}
