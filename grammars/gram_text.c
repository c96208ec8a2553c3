/* gram_text.c — the plain-text layer: a lexer that separates code from
 * strings and comments and reports brackets and block keywords, and the
 * indentation helpers. Everything here works without a grammar; it is what
 * unknown languages get, and what the tree-based code falls back on where the
 * tree is broken (the user is in the middle of typing).
 */
#include <string.h>
#include "gram_int.h"

void gram_lex_init(gram_lex *lx, const gram_lang *lang)
{
    memset(lx, 0, sizeof *lx);
    lx->lang = lang ? lang : gram_lang_text();
    lx->sx = lx->lang->syntax;
    lx->state = GRAM_LX_CODE;
    lx->cmd_start = 1;
}

char gram_bracket_open_of(char close)
{
    switch (close) {
    case ')': return '(';
    case ']': return '[';
    case '}': return '{';
    default: return 0;
    }
}

const char *gram_closer_text(const gram_lang *lang, char cls)
{
    switch (cls) {
    case '(': return ")";
    case '[': return "]";
    case '{': return "}";
    default: break;
    }
    const gram_keyword *kw = lang && lang->syntax ? lang->syntax->keywords : NULL;
    for (; kw && kw->word; kw++)
        if (!kw->opens && kw->cls == cls) return kw->word;   /* the first closer is canonical */
    return "";
}

/* c is one of set's characters (never NUL, which strchr would find). */
static int in_set(const char *set, char c) { return c && set && strchr(set, c); }

static unsigned flags(const gram_lex *lx) { return lx->sx ? lx->sx->flags : 0; }

static int starts(const char *s, size_t n, size_t k, const char *p)
{
    if (!p) return 0;
    size_t l = strlen(p);
    return l && k + l <= n && memcmp(s + k, p, l) == 0;
}

/* Lua long bracket at s[k] ("[[", "[==["): its level, or -1. */
static int long_bracket(const char *s, size_t n, size_t k)
{
    if (k >= n || s[k] != '[') return -1;
    size_t j = k + 1;
    while (j < n && s[j] == '=') j++;
    return j < n && s[j] == '[' ? (int)(j - k - 1) : -1;
}

static int long_close_at(const char *s, size_t n, size_t k, int level)
{
    if (s[k] != ']') return 0;
    size_t j = k + 1;
    for (int l = 0; l < level; l++, j++)
        if (j >= n || s[j] != '=') return 0;
    return j < n && s[j] == ']';
}

static gram_event newline(gram_lex *lx, gram_event ev)
{
    lx->last = 0;
    lx->last_was_open_word = 0;
    lx->last_was_arrow = 0;
    lx->line_depth = 0;
    lx->cmd_start = 1;
    return ev;
}

/* Inside a comment: up to its end or the line end. */
static gram_event in_comment(gram_lex *lx, const char *s, size_t n, size_t *i)
{
    size_t k = *i;
    if (lx->state == GRAM_LX_LINE_COMMENT) {
        const char *nl = memchr(s + k, '\n', n - k);
        *i = nl ? (size_t)(nl - s) : n;
        return GRAM_EV_NONE;
    }
    const char *close = lx->lang->block_comment_close;
    for (; k < n && s[k] != '\n'; k++) {
        if (lx->quote == 'L' ? long_close_at(s, n, k, lx->level) : starts(s, n, k, close)) {
            *i = k + (lx->quote == 'L' ? (size_t)lx->level + 2 : strlen(close));
            lx->state = GRAM_LX_CODE;
            lx->quote = 0;
            return GRAM_EV_NONE;
        }
    }
    *i = k;
    return GRAM_EV_NONE;
}

/* Inside a string: up to its closing quote or the line end. */
static gram_event in_string(gram_lex *lx, const char *s, size_t n, size_t *i)
{
    size_t k = *i;
    char q = lx->quote;
    int raw = lx->sx && q != 'T' && q != 'L' && in_set(lx->sx->raw_quotes, q);
    if (q == 'L') raw = 1;
    while (k < n && s[k] != '\n') {
        char c = s[k];
        if (c == '\\' && !raw) {
            if (k + 1 < n && s[k + 1] == '\n') {    /* line continuation inside the string */
                *i = k + 2;
                return newline(lx, GRAM_EV_NEWLINE);
            }
            k += 2;
            continue;
        }
        if (q == 'T' && c == lx->quote_ch && starts(s, n, k, (char[]){ c, c, c, 0 })) {
            *i = k + 3;
            lx->state = GRAM_LX_CODE;
            return GRAM_EV_STRING_END;
        }
        if (q == 'L' && long_close_at(s, n, k, lx->level)) {
            *i = k + (size_t)lx->level + 2;
            lx->state = GRAM_LX_CODE;
            return GRAM_EV_STRING_END;
        }
        if (c == q) {
            *i = k + 1;
            lx->state = GRAM_LX_CODE;
            return GRAM_EV_STRING_END;
        }
        k++;
    }
    *i = k < n ? k : n;
    return GRAM_EV_NONE;
}

static gram_event word(gram_lex *lx, const char *s, size_t n, size_t *i, char *cls)
{
    size_t k = *i, w = k;
    while (k < n && gram_is_ident(s[k])) k++;
    *i = k;
    int at_cmd = lx->cmd_start;
    lx->cmd_start = 0;
    lx->last = 'w';
    lx->last_was_open_word = 0;
    const gram_keyword *kw = lx->sx ? lx->sx->keywords : NULL;
    if (!kw || (w > 0 && (s[w - 1] == '.' || s[w - 1] == ':' || s[w - 1] == '$'))) return GRAM_EV_NONE;
    int command_words = (flags(lx) & GRAM_SX_HASH_AT_WORD) != 0;    /* bash */
    size_t len = k - w;
    for (; kw->word; kw++) {
        if (strlen(kw->word) != len || memcmp(kw->word, s + w, len) != 0) continue;
        if (command_words && !at_cmd) return GRAM_EV_NONE;     /* "echo done" */
        *cls = kw->cls;
        lx->cmd_start = 1;
        lx->last_was_open_word = kw->opens;
        lx->line_depth += kw->opens ? 1 : -1;
        return kw->opens ? GRAM_EV_OPEN : GRAM_EV_CLOSE;
    }
    if (command_words) {
        static const char *const STARTERS[] = { "if", "while", "until", "else", "time", "!", NULL };
        for (const char *const *p = STARTERS; *p; p++)
            if (strlen(*p) == len && memcmp(*p, s + w, len) == 0) lx->cmd_start = 1;
    }
    return GRAM_EV_NONE;
}

gram_event gram_lex_next(gram_lex *lx, const char *s, size_t n, size_t *i, char *cls)
{
    size_t k = *i;
    if (k >= n) return GRAM_EV_NONE;
    char c = s[k];
    if (c == '\n') {
        *i = k + 1;
        if (lx->state == GRAM_LX_LINE_COMMENT) lx->state = GRAM_LX_CODE;
        if (lx->state == GRAM_LX_STRING && lx->quote != 'T' && lx->quote != 'L' &&
            !(lx->sx && in_set(lx->sx->ml_quotes, lx->quote))) {
            lx->state = GRAM_LX_CODE;
            return newline(lx, GRAM_EV_STRING_BROKEN);
        }
        return newline(lx, GRAM_EV_NEWLINE);
    }
    if (lx->state == GRAM_LX_LINE_COMMENT || lx->state == GRAM_LX_BLOCK_COMMENT)
        return in_comment(lx, s, n, i);
    if (lx->state == GRAM_LX_STRING) return in_string(lx, s, n, i);

    const gram_lang *L = lx->lang;
    unsigned f = flags(lx);
    if (gram_is_blank(c)) {
        while (k < n && gram_is_blank(s[k])) k++;
        *i = k;
        return GRAM_EV_NONE;
    }
    /* comments */
    if (L->line_comment && starts(s, n, k, L->line_comment) &&
        (!(f & GRAM_SX_HASH_AT_WORD) || k == 0 || gram_is_blank(s[k - 1]) || s[k - 1] == ';')) {
        size_t after = k + strlen(L->line_comment);
        int lvl = (f & GRAM_SX_LONG_BRACKETS) ? long_bracket(s, n, after) : -1;
        lx->tok_start = k;
        if (lvl >= 0) {
            lx->state = GRAM_LX_BLOCK_COMMENT;
            lx->quote = 'L';
            lx->level = lvl;
            *i = after + (size_t)lvl + 2;
        } else {
            lx->state = GRAM_LX_LINE_COMMENT;
            *i = after;
        }
        return GRAM_EV_NONE;
    }
    if (L->block_comment_open && starts(s, n, k, L->block_comment_open)) {
        lx->tok_start = k;
        lx->state = GRAM_LX_BLOCK_COMMENT;
        lx->quote = 0;
        *i = k + strlen(L->block_comment_open);
        return GRAM_EV_NONE;
    }
    /* strings */
    int lvl = (f & GRAM_SX_LONG_BRACKETS) ? long_bracket(s, n, k) : -1;
    if (lvl >= 0 || in_set(L->quotes, c)) {
        lx->cmd_start = 0;
        lx->last = c;
        lx->last_was_open_word = lx->last_was_arrow = 0;
        if (c == '\'' && (f & GRAM_SX_LIFETIMES) && k + 2 < n && gram_is_ident(s[k + 1]) &&
            s[k + 2] != '\'') {
            k++;                                    /* 'a: a lifetime */
            while (k < n && gram_is_ident(s[k])) k++;
            *i = k;
            return GRAM_EV_NONE;
        }
        lx->tok_start = k;
        lx->state = GRAM_LX_STRING;
        if (lvl >= 0) {
            lx->quote = 'L';
            lx->level = lvl;
            *i = k + (size_t)lvl + 2;
        } else if ((f & GRAM_SX_TRIPLE_QUOTES) && k + 2 < n && s[k + 1] == c && s[k + 2] == c) {
            lx->quote = 'T';
            lx->quote_ch = c;
            *i = k + 3;
        } else {
            lx->quote = c;
            *i = k + 1;
        }
        return GRAM_EV_NONE;
    }
    if (gram_is_ident(c)) return word(lx, s, n, i, cls);
    *i = k + 1;
    lx->last_was_open_word = 0;
    lx->last_was_arrow = 0;
    lx->last = c;
    if (c == '=' && k + 1 < n && s[k + 1] == '>') {
        *i = k + 2;
        lx->last = '>';
        lx->last_was_arrow = 1;
        return GRAM_EV_NONE;
    }
    if (c == '(' || c == '[' || c == '{') {
        lx->cmd_start = 1;
        lx->line_depth++;
        *cls = c;
        return GRAM_EV_OPEN;
    }
    if (c == ')' || c == ']' || c == '}') {
        lx->line_depth--;
        *cls = gram_bracket_open_of(c);
        return GRAM_EV_CLOSE;
    }
    lx->cmd_start = (c == ';' || c == '&' || c == '|');
    return GRAM_EV_NONE;
}

/* ------------------------------------------------------------- indentation */

uint32_t gram_indent_columns(const char *s, size_t n, int tab_width, size_t *blank_bytes)
{
    uint32_t cols = 0;
    size_t k = 0;
    if (tab_width < 1) tab_width = 4;
    for (; k < n && (s[k] == ' ' || s[k] == '\t'); k++)
        cols = s[k] == '\t' ? cols + (uint32_t)tab_width - cols % (uint32_t)tab_width : cols + 1;
    if (blank_bytes) *blank_bytes = k;
    return cols;
}

void gram_detect_indent(const char *text, size_t len, size_t at, int *uses_tabs, int *unit,
                        int *known)
{
    enum { WINDOW = 16384 };
    size_t lo = at > WINDOW ? at - WINDOW : 0, hi = len - at > WINDOW ? at + WINDOW : len;
    while (lo > 0 && text[lo - 1] != '\n') lo--;
    size_t tabs = 0, spaces = 0, hist[9] = { 0 };
    size_t prev = 0;
    int have_prev = 0;
    for (size_t k = lo; k < hi;) {
        const char *nl = memchr(text + k, '\n', hi - k);
        size_t end = nl ? (size_t)(nl - text) : hi, blank;
        uint32_t cols = gram_indent_columns(text + k, end - k, 8, &blank);
        if (k + blank < end && text[k + blank] != '\r') {      /* a non-blank line */
            if (text[k] == '\t') tabs++;
            else if (cols > 0) spaces++;
            if (text[k] != '\t') {
                if (have_prev && cols > prev && cols - prev <= 8) hist[cols - prev]++;
                prev = cols;
                have_prev = 1;
            } else {
                have_prev = 0;
            }
        }
        k = end + 1;
    }
    static const int UNITS[] = { 4, 2, 8, 3 };
    int best = 4;
    size_t best_n = 0;
    for (size_t u = 0; u < sizeof UNITS / sizeof UNITS[0]; u++)
        if (hist[UNITS[u]] > best_n) { best = UNITS[u]; best_n = hist[UNITS[u]]; }
    *uses_tabs = tabs > spaces;
    *unit = best;
    *known = tabs + spaces > 0;
}
