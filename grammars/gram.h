/* gram.h — syntax for completions, with tree-sitter.
 *
 * Four things, in the order a keystroke uses them:
 *   1. the language table: LSP languageId / file extension -> grammar, comment
 *      syntax and block rules (gram_lang_*);
 *   2. a document's parse tree, kept up to date incrementally on every edit
 *      (gram_doc_*);
 *   3. the cursor context: node at the cursor, enclosing function/class/block
 *      and its signature, comment/string/identifier, indentation, and whether
 *      a single- or multi-line suggestion fits (gram_context_*);
 *   4. completion post-processing: cut at the end of the enclosing block,
 *      balance brackets and quotes, drop what duplicates the text after the
 *      cursor, convert indentation to the file's style, and reject text that
 *      introduces a syntax error (gram_trim).
 * Beside them, symbols for the prompt's extra-context slots: the definitions
 * of a document and the identifiers the cursor's scope uses (gram_symbols_*).
 *
 * Independent of the server: byte offsets and (row, byte-column) points only,
 * rows counted by "\n" as tree-sitter does. Languages without a grammar (not
 * in the table, or grammars/vendor/ absent at build time) get plain-text
 * rules: indentation and bracket balance; nothing here fails for them.
 *
 * The server's part, per document: didOpen -> gram_doc_new; every change of
 * a didChange -> gram_doc_edit; when idle -> gram_doc_parse_for(d, ~2000)
 * until it returns 1; a completion -> gram_context_new (bounded: it parses
 * only the code around the cursor if the document's reparse is slow), the
 * engine (ctx->multiline, ctx->signature, gram_symbols_references(ctx) ranked
 * against other open files' gram_symbols_definitions, cached per version),
 * then gram_trim on its text.
 *
 * Ownership and threads: everything _new'd is freed by its _free. A gram_doc
 * is used by one thread at a time. A gram_ctx is a snapshot: it holds its own
 * reference to the tree and copies of the strings it reports, so it stays
 * valid after its document changes or is freed, and may be used on another
 * thread. The language table is immutable.
 */
#ifndef SPARKD_GRAM_H
#define SPARKD_GRAM_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- languages */

typedef enum {
    GRAM_BLOCKS_PLAIN,      /* unknown language: brackets and indentation */
    GRAM_BLOCKS_BRACES,     /* C family: a block is { ... } */
    GRAM_BLOCKS_INDENT,     /* Python: a block is its indentation */
    GRAM_BLOCKS_KEYWORDS,   /* Lua, bash: blocks end with end / fi / done / esac */
} gram_blocks;

typedef struct gram_syntax gram_syntax;     /* node-type tables, internal (gram_int.h) */

typedef struct {
    const char *name;                   /* "c", "cpp", "python", ..., "tsx"; "text" */
    const char *const *language_ids;    /* LSP languageIds, NULL-terminated */
    const char *const *extensions;      /* ".c", ".h", ... (or whole names: ".bashrc"), NULL-terminated */
    const char *line_comment;           /* "//", "#", "--"; NULL if none */
    const char *block_comment_open;     /* slash-star in C; NULL if none */
    const char *block_comment_close;
    const char *quotes;                 /* characters that delimit strings: "\"'`" */
    gram_blocks blocks;                 /* keyword pairs (do/end, then/fi...) are in syntax */
    const gram_syntax *syntax;          /* internal; NULL for "text" */
} gram_lang;

/* By LSP languageId ("python", "typescriptreact", ...). NULL if unknown. */
const gram_lang *gram_lang_for_id(const char *language_id);
/* By file path or URI: its extension, or its whole base name. NULL if unknown. */
const gram_lang *gram_lang_for_path(const char *path);
/* languageId first, then path (either may be NULL); the plain-text rules if
 * neither is known. Never NULL. */
const gram_lang *gram_lang_find(const char *language_id, const char *path);
/* The plain-text rules. */
const gram_lang *gram_lang_text(void);
/* 1 if lang's grammar was compiled in (vendored at build time), else 0. */
int gram_lang_has_grammar(const gram_lang *lang);
/* The table, for listings: i < gram_lang_count(); "text" is not in it. */
size_t gram_lang_count(void);
const gram_lang *gram_lang_at(size_t i);

/* ---------------------------------------------------------------- documents */

typedef struct {
    uint32_t row;           /* 0-based, counted by "\n" */
    uint32_t column;        /* bytes from the start of the row */
} gram_point;

typedef struct gram_doc gram_doc;

/* Documents larger than this keep their text but get no tree (plain-text
 * rules): bounds the worst-case parse on the editor's keystroke path. */
#define GRAM_DOC_PARSE_MAX ((size_t)16 << 20)

/* New document holding a copy of text, in lang (NULL: plain text). Not
 * parsed yet (gram_doc_parse / gram_doc_parse_for). NULL on out of memory. */
gram_doc *gram_doc_new(const gram_lang *lang, const char *text, size_t len);
void gram_doc_free(gram_doc *d);

/* Replaces bytes [start, old_end) with text[0, len). Offsets are clamped to
 * the document; old_end < start means old_end = start. The tree is edited at
 * once (ts_tree_edit: cheap) and reparsed incrementally later (gram_doc_parse,
 * gram_doc_parse_for, or a context's bounded reparse), one reparse for any
 * number of edits. Returns 0, or -1 on out of memory (document unchanged). */
int gram_doc_edit(gram_doc *d, size_t start, size_t old_end, const char *text, size_t len);

/* Brings the tree up to date: an incremental reparse from the edited old tree
 * when there is one. Returns 1 if the document has a tree, 0 if it has none
 * (plain text, no grammar, too large, or the parse was abandoned: no parse
 * runs past 1 s + 10 us a byte, because tree-sitter 0.20 never finishes some
 * inputs; the next edit tries again). Not for the keystroke path: with
 * Debian's tree-sitter 0.20 some grammars (C above all) reparse everything
 * after the edit, tens of ms in a 5k-line file (gram_doc_parse_for). */
int gram_doc_parse(gram_doc *d);
/* The same within budget_us microseconds: 1 if the tree is now current; 0 if
 * the budget ran out (the parse resumes on the next call, or restarts after
 * an edit) or there is no grammar. For an idle watcher: call until it is 1. */
int gram_doc_parse_for(gram_doc *d, uint64_t budget_us);
/* 1 if the tree reflects every edit. */
int gram_doc_current(const gram_doc *d);

const gram_lang *gram_doc_lang(const gram_doc *d);
/* The text (borrowed, valid until the next edit; NUL-terminated). */
const char *gram_doc_text(const gram_doc *d, size_t *len);
/* Offset -> point (offset clamped to the document). */
gram_point gram_doc_point(gram_doc *d, size_t offset);
/* The tree as an S-expression (ts_node_string), malloc'd; NULL without a
 * tree. For tests and debugging. */
char *gram_doc_tree_string(gram_doc *d);
/* 1 if the current tree has an ERROR or MISSING node anywhere. */
int gram_doc_has_error(gram_doc *d);

typedef struct {
    uint64_t full_parses;           /* parses without an old tree */
    uint64_t incremental_parses;    /* parses reusing the edited old tree */
    uint64_t edits;
    uint64_t timeouts;              /* bounded parses that ran out of budget */
    uint64_t local_parses;          /* contexts served by a parse of the code around the cursor */
    uint64_t abandoned;             /* parses given up (1 s + 10 us a byte): no tree until
                                       the next edit */
    double last_parse_ms;           /* the last completed parse, all its slices */
} gram_doc_stats;
gram_doc_stats gram_doc_get_stats(const gram_doc *d);

/* ------------------------------------------------------------ symbol kinds */

typedef enum {
    GRAM_SYM_NONE = 0,
    GRAM_SYM_FUNCTION,      /* functions, methods, constructors, prototypes */
    GRAM_SYM_CLASS,         /* classes, interfaces, traits, impl blocks */
    GRAM_SYM_TYPE,          /* structs, enums, typedefs, type aliases */
    GRAM_SYM_MODULE,        /* namespaces, Rust modules */
    GRAM_SYM_MACRO,         /* C preprocessor macros, Rust macro_rules! */
} gram_sym_kind;

const char *gram_sym_kind_name(gram_sym_kind k);

/* ----------------------------------------------------------- cursor context */

#define GRAM_SIGNATURE_MAX 512  /* bytes of signature text kept in a context */

typedef struct gram_ctx_state gram_ctx_state;   /* internal (gram_int.h) */

typedef struct {
    const gram_lang *lang;
    int has_tree;               /* 1: syntax from the grammar; 0: plain-text rules */
    int local_tree;             /* the tree covers only the code around the cursor
                                   (the document's reparse did not fit the keystroke
                                   budget): scope_end and block_end may then stop at
                                   the end of that code */
    size_t offset;              /* the cursor, clamped to the document */
    gram_point point;
    size_t doc_len;             /* the document's length when the context was taken */

    /* What the cursor touches. Node types are static strings of the grammar. */
    const char *node_type;      /* smallest named node at the cursor; "" if none */
    size_t node_start, node_end;
    int in_comment;             /* inside a comment (or at the end of a line comment) */
    int in_string;              /* inside a string/char literal */
    int in_identifier;          /* touching an identifier (cursor inside or at its end) */
    int error_near;             /* the tree has ERROR/MISSING in the cursor's block */

    /* The enclosing definition (innermost function, else class/type). */
    gram_sym_kind scope_kind;   /* GRAM_SYM_NONE at top level */
    const char *scope_type;     /* its node type, "" at top level */
    size_t scope_start, scope_end;
    char *scope_name;           /* owned; "" if none or anonymous */
    char *signature;            /* owned; its text before the body, whitespace
                                   collapsed, at most GRAM_SIGNATURE_MAX bytes; "" */
    /* The innermost enclosing block ({...}, an indented block, do...end). */
    const char *block_type;     /* "" if none (top level) */
    size_t block_start, block_end;

    /* The cursor's line and the file's indentation. */
    size_t line_start;          /* offset of the cursor's line */
    size_t line_indent;         /* bytes of leading blanks on it */
    uint32_t indent_columns;    /* their width (a tab counts indent_unit) */
    int indent_known;           /* the file has indented lines to tell the style from */
    int file_uses_tabs;         /* the file indents with tabs */
    int indent_unit;            /* columns per level (2, 4, 8...; 4 if unknown) */
    int prefix_blank;           /* only blanks between the line start and the cursor */
    int suffix_blank;           /* only blanks between the cursor and the line end */

    /* The suggestion's shape. */
    int multiline;              /* 1: a block may follow; 0: finish this line only */
    const char *multiline_why;  /* static text, e.g. "after '{'", "text after the cursor" */

    gram_ctx_state *state;      /* internal: tree snapshot, open brackets */
} gram_ctx;

/* How long gram_context_new lets the document's reparse run (microseconds). */
#define GRAM_CONTEXT_PARSE_US 300

/* The context at byte offset of d. Its tree: the document's, when a reparse
 * within GRAM_CONTEXT_PARSE_US brings it up to date; else a fresh parse of
 * the code around the cursor (local_tree; typically well under a
 * millisecond, whatever the file's size). A document never parsed gets its
 * full parse here, once (tens of ms at 5k lines: parse it when idle after
 * didOpen to keep that off a keystroke), if it takes no longer than 200 ms
 * (else the local parse). NULL on out of memory. The context
 * is a snapshot (see the file comment). */
gram_ctx *gram_context_new(gram_doc *d, size_t offset);
/* The same for a text given as the two halves around the cursor (parsed from
 * scratch): for callers without a gram_doc (tests, `sparkd complete`). */
gram_ctx *gram_context_from_text(const gram_lang *lang, const char *prefix, size_t prefix_len,
                                 const char *suffix, size_t suffix_len);
void gram_context_free(gram_ctx *c);

/* ------------------------------------------------------------------ trimming */

typedef enum {
    GRAM_TRIM_KEPT = 0,         /* nothing cut */
    GRAM_TRIM_SINGLE_LINE,      /* cut at the end of the first line (single-line position) */
    GRAM_TRIM_BLOCK_END,        /* stopped at the end of the enclosing block */
    GRAM_TRIM_UNBALANCED,       /* cut before a bracket/quote that would unbalance the code */
    GRAM_TRIM_SUFFIX_LINE,      /* dropped what the rest of the cursor's line already has */
    GRAM_TRIM_SUFFIX_LINES,     /* stopped where it repeats the lines after the cursor */
    GRAM_TRIM_INCOMPLETE,       /* dropped an unfinished last line that did not parse */
    GRAM_TRIM_SYNTAX_ERROR,     /* rejected (length 0): introduces a syntax error */
    GRAM_TRIM_EMPTY,            /* nothing but blanks left (length 0) */
    GRAM_TRIM_NOMEM,            /* out of memory (length 0, text NULL) */
} gram_trim_reason;

const char *gram_trim_reason_name(gram_trim_reason r);   /* "kept", "syntax error", ... */

typedef struct {
    char *text;                 /* owned (free()): the result, NUL-terminated */
    size_t len;
    gram_trim_reason reason;    /* the last cut that shortened it */
    int reindented;             /* indentation converted to the file's tabs/spaces */
    int parse_checked;          /* the parse check ran (see gram_trim) */
} gram_trim_result;

/* Post-processes completion (to be inserted at ctx's cursor): single-line
 * cut, block end, bracket/quote balance, suffix dedupe, indentation style,
 * trailing blanks, then the parse check. prefix and suffix are the text
 * before and after the cursor as the model saw it. The parse check runs when
 * they are the whole document the context was taken from (prefix_len ==
 * ctx->offset, prefix_len + suffix_len == ctx->doc_len; their bytes must be
 * that document's), the language has a grammar, and the cursor's region had
 * no ERROR/MISSING node: the completion is inserted into a copy of the tree
 * and reparsed incrementally; new errors reject it (an unfinished last line
 * is dropped first and checked again). Fills res (res->text owned by the
 * caller) and returns res->len. */
size_t gram_trim(const gram_ctx *ctx, const char *prefix, size_t prefix_len,
                 const char *suffix, size_t suffix_len,
                 const char *completion, size_t len, gram_trim_result *res);

/* ------------------------------------------------------------------ symbols */

typedef struct {
    gram_sym_kind kind;     /* GRAM_SYM_NONE for references */
    const char *name;       /* NUL-terminated, owned by the list */
    size_t start, end;      /* definition: its whole text; reference: its first use */
    size_t sig_end;         /* definition: [start, sig_end) is the signature (the
                               text before the body; = end without a body) */
    uint32_t row;           /* row of start */
    uint32_t count;         /* references: uses in the scope; definitions: 1 */
} gram_symbol;

typedef struct {
    gram_symbol *items;     /* owned */
    size_t n;
    char *names;            /* owned: the names' storage */
} gram_symbols;

/* Definitions of d (functions, classes, types, modules, macros), in document
 * order, including those nested in classes/namespaces/impls but not those
 * inside function bodies. Brings the tree up to date first (gram_doc_parse:
 * unbounded; off the keystroke path, cache the list per document version).
 * No tree: an empty list. Returns 0, -1 on OOM (out is then empty). Free
 * with gram_symbols_free. */
int gram_symbols_definitions(gram_doc *d, gram_symbols *out);
/* Distinct identifiers used in the context's scope (the enclosing function or
 * class; at top level, the lines near the cursor), most used first (ties:
 * first use first), without the word being typed. Works on the context
 * alone (it keeps that text). Returns 0, -1 on OOM. */
int gram_symbols_references(const gram_ctx *ctx, gram_symbols *out);
/* Indexes of the definitions in defs whose name refs uses, most used first,
 * at most max of them. Returns how many were written to idx. */
size_t gram_symbols_rank(const gram_symbols *refs, const gram_symbols *defs, size_t *idx,
                         size_t max);
void gram_symbols_free(gram_symbols *s);

#endif
