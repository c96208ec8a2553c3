/* gram_int.h — what the grammars/ files share and nobody else sees: the
 * per-language syntax tables, the per-symbol class tables built from them, the
 * text lexer behind the plain-text rules, and the internals of gram_doc and
 * gram_ctx.
 */
#ifndef SPARKD_GRAM_INT_H
#define SPARKD_GRAM_INT_H

#include <stdbool.h>
#include <tree_sitter/api.h>
#include "gram.h"

/* ------------------------------------------------------------ syntax tables */

/* A node type that defines something (and so is a scope). */
enum {
    GRAM_RULE_ANON = 1,         /* a scope, not listed as a definition (lambdas) */
    GRAM_RULE_NOT_SCOPE = 2,    /* listed, never a scope (prototypes, type aliases) */
    GRAM_RULE_NEEDS_BODY = 4,   /* only with a body (C "struct S" uses are not definitions) */
    GRAM_RULE_PROTOTYPE = 8,    /* C/C++ declaration: only if it declares a function */
    GRAM_RULE_VAR_FUNC = 16,    /* JS/TS declaration: only if its value is a function */
};

typedef struct {
    const char *type;
    gram_sym_kind kind;
    unsigned flags;             /* GRAM_RULE_* */
} gram_rule;

/* Keyword blocks (Lua, bash): a word opens or closes a block of a class. */
typedef struct {
    const char *word;
    int opens;                  /* 1: opens; 0: closes */
    char cls;                   /* the opener/closer pair: same cls on both sides */
} gram_keyword;

enum {
    GRAM_SX_TRIPLE_QUOTES = 1,  /* """ / ''' strings (Python, Java text blocks) */
    GRAM_SX_LONG_BRACKETS = 2,  /* Lua [[ ]] strings and --[[ ]] comments */
    GRAM_SX_LIFETIMES = 4,      /* Rust: 'a is a lifetime, not a char literal */
    GRAM_SX_HASH_AT_WORD = 8,   /* bash: # starts a comment only at a word start */
    GRAM_SX_LOOSE_PARENS = 16,  /* bash: unmatched ')' (case patterns) is not an error */
    GRAM_SX_COLON_BLOCKS = 32,  /* Python: a line ending in ':' opens a block */
    GRAM_SX_ARROW_BLOCKS = 64,  /* JS/TS: '=>' at a line end opens a body */
};

struct gram_syntax {
    const TSLanguage *(*language)(void);    /* NULL: grammar not compiled in */
    unsigned flags;                         /* GRAM_SX_* */
    const char *ml_quotes;                  /* quotes whose strings may span lines */
    const char *raw_quotes;                 /* quotes without backslash escapes */
    const gram_keyword *keywords;           /* NULL-word terminated, or NULL */
    const gram_rule *rules;                 /* definitions and scopes, NULL-type terminated */
    const char *const *blocks;              /* block node types */
    const char *const *strings;             /* string-like node types */
    const char *const *idents;              /* identifier node types (references) */
    int index;                              /* position in the table (class-table slot) */
};

/* Per grammar symbol, what the tables say about it (built once per language). */
enum {
    GRAM_CLS_BLOCK = 2,
    GRAM_CLS_STRING = 4,
    GRAM_CLS_COMMENT = 8,
    GRAM_CLS_IDENT = 16,
};
typedef struct {
    const TSLanguage *language;
    uint32_t n_symbols;
    uint8_t *cls;               /* (n_symbols) GRAM_CLS_* bits */
    uint8_t *rule;              /* (n_symbols) 1 + index into syntax->rules, 0: none */
} gram_classes;

/* The class table of lang's grammar; NULL without a grammar or on OOM.
 * Built on first use under pthread_once; immutable afterwards. */
const gram_classes *gram_lang_classes(const gram_lang *lang);
const TSLanguage *gram_lang_ts(const gram_lang *lang);

/* The symbol of ERROR nodes (ts_builtin_sym_error, which api.h does not export). */
#define GRAM_SYM_ERROR ((TSSymbol)-1)

static inline unsigned gram_node_cls(const gram_classes *c, TSNode n)
{
    TSSymbol s = ts_node_symbol(n);
    return s < c->n_symbols ? c->cls[s] : 0;
}
/* The definition rule of n, or NULL. */
const gram_rule *gram_node_rule(const gram_lang *lang, const gram_classes *c, TSNode n,
                                const char *text);

/* -------------------------------------------------------------- text lexer */

/* A small lexer that knows where code is: strings, comments, brackets and
 * block keywords, per the language table. It runs on the prefix to find the
 * open brackets at the cursor, on the suffix to see which of them it closes,
 * and on completions. It is a heuristic (no regex literals, heredocs, raw
 * strings), used where the tree is absent or too broken to ask. */
enum { GRAM_LX_CODE, GRAM_LX_LINE_COMMENT, GRAM_LX_BLOCK_COMMENT, GRAM_LX_STRING };

typedef enum {
    GRAM_EV_NONE,
    GRAM_EV_OPEN,       /* bracket or keyword opened: tok.cls */
    GRAM_EV_CLOSE,      /* bracket or keyword closed: tok.cls */
    GRAM_EV_NEWLINE,    /* "\n" (in any state) */
    GRAM_EV_STRING_END, /* a string closed */
    GRAM_EV_STRING_BROKEN, /* a single-line string reached the line end unclosed */
} gram_event;

typedef struct {
    const gram_lang *lang;
    const gram_syntax *sx;      /* NULL for plain text */
    int state;                  /* GRAM_LX_* */
    char quote;                 /* GRAM_LX_STRING: the quote; 'T' triple, 'L' Lua long */
    char quote_ch;              /* triple: the quote character */
    int level;                  /* Lua long bracket level ([==[ is 2) */
    size_t tok_start;           /* offset (in the fed text) of the open string/comment */
    char last;                  /* last code byte on this line (0: none) */
    int last_was_open_word;     /* the last code token on this line was an opening keyword */
    int last_was_arrow;         /* ... was "=>" */
    int line_depth;             /* net opens-closes on this line so far */
    int cmd_start;              /* bash: the next word is in command position */
} gram_lex;

void gram_lex_init(gram_lex *lx, const gram_lang *lang);
/* Consumes the next token of s[*i, n) and advances *i past it. Returns the
 * event; for OPEN/CLOSE *cls is the bracket ('(', '[', '{') or keyword class. */
gram_event gram_lex_next(gram_lex *lx, const char *s, size_t n, size_t *i, char *cls);
/* The opener class a closer byte/keyword pairs with, for brackets. */
char gram_bracket_open_of(char close);
/* Text of the closer for an open class ("}", "end", "fi"...). */
const char *gram_closer_text(const gram_lang *lang, char cls);

/* ------------------------------------------------------------ text helpers */

static inline int gram_is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
static inline int gram_is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}
/* p moved over s[0, n) (rows counted by "\n"). */
gram_point gram_point_advance(gram_point p, const char *s, size_t n);
/* Columns of the leading blanks of s[0, n) (tabs count tab_width). */
uint32_t gram_indent_columns(const char *s, size_t n, int tab_width, size_t *blank_bytes);
/* The file's indentation style from the lines of text[0, len) around at:
 * tabs or spaces, the unit (most common indentation step), and whether any
 * line was indented at all (*known). */
void gram_detect_indent(const char *text, size_t len, size_t at, int *uses_tabs, int *unit,
                        int *known);

/* --------------------------------------------------------------- internals */

/* No parse of a document may run longer than this (microseconds, for len
 * bytes of text): tree-sitter 0.20 with some grammars never finishes on some
 * inputs (tsx on "(I" + 14 line breaks + "]", found by fuzz_gram), and a
 * daemon must not hang on what a user types. Generous (parsing runs at
 * megabytes a second, this allows ~100 KB/s): it only catches the hangs. */
static inline uint64_t gram_parse_limit_us(size_t len) { return 1000000 + 10 * (uint64_t)len; }
#define GRAM_LOCAL_PARSE_US 100000  /* a context's local parse */
/* A context's share of a document's first full parse: plenty for source
 * files (tens of ms at 5k lines); a huge or binary one goes local instead of
 * holding the event loop for up to its gram_parse_limit_us. */
#define GRAM_FIRST_PARSE_US 200000
#define GRAM_CHECK_PARSE_US 100000  /* one parse check of gram_trim */

#define GRAM_STACK_MAX 128
#define GRAM_POINT_CACHE 4
/* Ancestor walks stop after this many levels: ts_node_parent costs O(depth)
 * in tree-sitter 0.20, and only pathological input nests this deep. */
#define GRAM_UP_MAX 256

struct gram_doc {
    const gram_lang *lang;
    char *text;                 /* (cap) NUL-terminated */
    size_t len, cap;
    TSParser *parser;           /* NULL without a grammar */
    TSTree *tree;               /* last parse (edited since when dirty); NULL: none */
    int dirty;                  /* edits since the last parse */
    int parsing;                /* a bounded parse ran out of budget; the parser holds it */
    double slice_ms;            /* time spent so far on the parse under way */
    int slow;                   /* a bounded reparse for a context ran out of budget */
    int abandoned;              /* a parse of this text ran past its limit */
    uint64_t limit_us;          /* that limit; 0: gram_parse_limit_us (tests set it) */
    size_t pt_off[GRAM_POINT_CACHE];    /* point cache: offset pt_off[i] is at pt[i] */
    gram_point pt[GRAM_POINT_CACHE];
    unsigned pt_next;           /* the slot the next new point replaces */
    gram_doc_stats stats;
};

/* A context's tree: the document's (copied) when it is current, or was never
 * parsed (then parsed whole, once), or a reparse within budget_us brings it
 * up to date; else a fresh parse of just the code around off (*local = 1):
 * tree-sitter's included ranges, so positions stay the document's; *ranges
 * (malloc'd, *n_ranges) says what it covers. NULL without a grammar, or if
 * even the local parse ran past GRAM_LOCAL_PARSE_US. (gram_local.c) */
#define GRAM_LOCAL_TARGET ((size_t)16 << 10)    /* a node this small is parsed whole */
#define GRAM_LOCAL_SMALL 256                    /* an ancestor's small parts come along */
#define GRAM_LOCAL_RANGES 48
#define GRAM_LOCAL_WINDOW ((size_t)8 << 10)     /* around the cursor when no tree */
#define GRAM_REF_WINDOW_LINES 40    /* references at top level: lines above and below */
#define GRAM_REF_MAX ((size_t)64 << 10)
TSTree *gram_doc_tree_for(gram_doc *d, size_t off, uint64_t budget_us, TSRange **ranges,
                          uint32_t *n_ranges, int *local);
/* r as an insertion of ins bytes at byte at (point p, ending at point end) moves it. */
void gram_range_insert(TSRange *r, uint32_t at, gram_point p, uint32_t ins, gram_point end);

struct gram_ctx_state {
    TSTree *tree;               /* the document's tree, or a local one; NULL: none */
    int local;                  /* tree covers ranges only */
    TSRange *ranges;            /* (n_ranges) */
    uint32_t n_ranges;
    char *ref_text;             /* text of [ref_lo, ref_lo + ref_len): references are read here */
    size_t ref_lo, ref_len;
    const TSLanguage *language;
    gram_lex lex;               /* lexer state at the cursor */
    char open[GRAM_STACK_MAX];  /* brackets/keyword blocks open at the cursor, innermost last */
    uint32_t open_cols[GRAM_STACK_MAX]; /* indentation of each opener's line */
    char closed[GRAM_STACK_MAX];    /* 1: the text after the cursor closes it */
    int n_open;
    uint32_t base_columns;      /* indentation that a completion's lines must not go below */
    size_t check_start, check_end;  /* the region the parse check watches */
    int tree_has_error;         /* the snapshot has ERROR/MISSING somewhere */
};

/* 1 if an ERROR/MISSING node of the tree under root intersects [start, end]
 * (zero-width MISSING nodes count at their position); pruned by has_error. */
bool gram_tree_error_in(TSNode root, size_t start, size_t end);
/* The name of definition node n under rule r, as [*start, *end) of text
 * (qualified names reduced to their last part). 0 if it has none. */
int gram_def_name(const gram_rule *r, TSNode n, const char *text, size_t *start, size_t *end);

#endif
