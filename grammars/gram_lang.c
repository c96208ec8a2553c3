/* gram_lang.c — the language table: LSP languageIds and file names to
 * grammars, comment and string syntax, block rules, and the node types each
 * grammar uses for definitions, blocks, strings and identifiers.
 *
 * A grammar is compiled in when grammars/vendor/ had it at build time
 * (GRAM_HAVE_<NAME>, set by grammars/meson.build); without it the language
 * still has its comment/string/block rules, only no tree.
 *
 * The per-grammar class tables (node symbol -> what the tables say) are
 * documented singletons: built once per language under pthread_once, never
 * changed afterwards, freed at exit by nobody (a few KB each).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "gram_int.h"

#define GRAMMAR(name) const TSLanguage *tree_sitter_##name(void);
#ifdef GRAM_HAVE_C
GRAMMAR(c)
#define LANG_C tree_sitter_c
#else
#define LANG_C NULL
#endif
#ifdef GRAM_HAVE_CPP
GRAMMAR(cpp)
#define LANG_CPP tree_sitter_cpp
#else
#define LANG_CPP NULL
#endif
#ifdef GRAM_HAVE_PYTHON
GRAMMAR(python)
#define LANG_PYTHON tree_sitter_python
#else
#define LANG_PYTHON NULL
#endif
#ifdef GRAM_HAVE_JAVASCRIPT
GRAMMAR(javascript)
#define LANG_JAVASCRIPT tree_sitter_javascript
#else
#define LANG_JAVASCRIPT NULL
#endif
#ifdef GRAM_HAVE_TYPESCRIPT
GRAMMAR(typescript)
#define LANG_TYPESCRIPT tree_sitter_typescript
#else
#define LANG_TYPESCRIPT NULL
#endif
#ifdef GRAM_HAVE_TSX
GRAMMAR(tsx)
#define LANG_TSX tree_sitter_tsx
#else
#define LANG_TSX NULL
#endif
#ifdef GRAM_HAVE_RUST
GRAMMAR(rust)
#define LANG_RUST tree_sitter_rust
#else
#define LANG_RUST NULL
#endif
#ifdef GRAM_HAVE_GO
GRAMMAR(go)
#define LANG_GO tree_sitter_go
#else
#define LANG_GO NULL
#endif
#ifdef GRAM_HAVE_JAVA
GRAMMAR(java)
#define LANG_JAVA tree_sitter_java
#else
#define LANG_JAVA NULL
#endif
#ifdef GRAM_HAVE_BASH
GRAMMAR(bash)
#define LANG_BASH tree_sitter_bash
#else
#define LANG_BASH NULL
#endif
#ifdef GRAM_HAVE_LUA
GRAMMAR(lua)
#define LANG_LUA tree_sitter_lua
#else
#define LANG_LUA NULL
#endif

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---------------------------------------------------------------- node rules */

#define C_RULES \
    { "function_definition", GRAM_SYM_FUNCTION, 0 }, \
    { "declaration", GRAM_SYM_FUNCTION, GRAM_RULE_PROTOTYPE | GRAM_RULE_NOT_SCOPE }, \
    { "struct_specifier", GRAM_SYM_TYPE, GRAM_RULE_NEEDS_BODY }, \
    { "union_specifier", GRAM_SYM_TYPE, GRAM_RULE_NEEDS_BODY }, \
    { "enum_specifier", GRAM_SYM_TYPE, GRAM_RULE_NEEDS_BODY }, \
    { "type_definition", GRAM_SYM_TYPE, GRAM_RULE_NOT_SCOPE }, \
    { "preproc_function_def", GRAM_SYM_MACRO, GRAM_RULE_NOT_SCOPE }, \
    { "preproc_def", GRAM_SYM_MACRO, GRAM_RULE_NOT_SCOPE }

static const gram_rule C_DEFS[] = { C_RULES, { NULL, 0, 0 } };
static const gram_rule CPP_DEFS[] = {
    C_RULES,
    { "class_specifier", GRAM_SYM_CLASS, GRAM_RULE_NEEDS_BODY },
    { "namespace_definition", GRAM_SYM_MODULE, 0 },
    { "alias_declaration", GRAM_SYM_TYPE, GRAM_RULE_NOT_SCOPE },
    { "field_declaration", GRAM_SYM_FUNCTION, GRAM_RULE_PROTOTYPE | GRAM_RULE_NOT_SCOPE },
    { "lambda_expression", GRAM_SYM_FUNCTION, GRAM_RULE_ANON },
    { NULL, 0, 0 },
};
static const gram_rule PYTHON_DEFS[] = {
    { "function_definition", GRAM_SYM_FUNCTION, 0 },
    { "class_definition", GRAM_SYM_CLASS, 0 },
    { "lambda", GRAM_SYM_FUNCTION, GRAM_RULE_ANON },
    { NULL, 0, 0 },
};
#define JS_RULES \
    { "function_declaration", GRAM_SYM_FUNCTION, 0 }, \
    { "generator_function_declaration", GRAM_SYM_FUNCTION, 0 }, \
    { "method_definition", GRAM_SYM_FUNCTION, 0 }, \
    { "class_declaration", GRAM_SYM_CLASS, 0 }, \
    { "variable_declarator", GRAM_SYM_FUNCTION, GRAM_RULE_VAR_FUNC }, \
    { "function_expression", GRAM_SYM_FUNCTION, GRAM_RULE_ANON }, \
    { "function", GRAM_SYM_FUNCTION, GRAM_RULE_ANON }, \
    { "generator_function", GRAM_SYM_FUNCTION, GRAM_RULE_ANON }, \
    { "arrow_function", GRAM_SYM_FUNCTION, GRAM_RULE_ANON }, \
    { "class", GRAM_SYM_CLASS, GRAM_RULE_ANON }
static const gram_rule JS_DEFS[] = { JS_RULES, { NULL, 0, 0 } };
static const gram_rule TS_DEFS[] = {
    JS_RULES,
    { "abstract_class_declaration", GRAM_SYM_CLASS, 0 },
    { "interface_declaration", GRAM_SYM_TYPE, 0 },
    { "type_alias_declaration", GRAM_SYM_TYPE, GRAM_RULE_NOT_SCOPE },
    { "enum_declaration", GRAM_SYM_TYPE, 0 },
    { "function_signature", GRAM_SYM_FUNCTION, GRAM_RULE_NOT_SCOPE },
    { "method_signature", GRAM_SYM_FUNCTION, GRAM_RULE_NOT_SCOPE },
    { "abstract_method_signature", GRAM_SYM_FUNCTION, GRAM_RULE_NOT_SCOPE },
    { "internal_module", GRAM_SYM_MODULE, 0 },
    { "module", GRAM_SYM_MODULE, 0 },
    { NULL, 0, 0 },
};
static const gram_rule RUST_DEFS[] = {
    { "function_item", GRAM_SYM_FUNCTION, 0 },
    { "function_signature_item", GRAM_SYM_FUNCTION, GRAM_RULE_NOT_SCOPE },
    { "closure_expression", GRAM_SYM_FUNCTION, GRAM_RULE_ANON },
    { "struct_item", GRAM_SYM_TYPE, 0 },
    { "enum_item", GRAM_SYM_TYPE, 0 },
    { "union_item", GRAM_SYM_TYPE, 0 },
    { "type_item", GRAM_SYM_TYPE, GRAM_RULE_NOT_SCOPE },
    { "trait_item", GRAM_SYM_CLASS, 0 },
    { "impl_item", GRAM_SYM_CLASS, 0 },
    { "mod_item", GRAM_SYM_MODULE, 0 },
    { "macro_definition", GRAM_SYM_MACRO, 0 },
    { NULL, 0, 0 },
};
static const gram_rule GO_DEFS[] = {
    { "function_declaration", GRAM_SYM_FUNCTION, 0 },
    { "method_declaration", GRAM_SYM_FUNCTION, 0 },
    { "func_literal", GRAM_SYM_FUNCTION, GRAM_RULE_ANON },
    { "type_spec", GRAM_SYM_TYPE, 0 },
    { "type_alias", GRAM_SYM_TYPE, GRAM_RULE_NOT_SCOPE },
    { NULL, 0, 0 },
};
static const gram_rule JAVA_DEFS[] = {
    { "class_declaration", GRAM_SYM_CLASS, 0 },
    { "interface_declaration", GRAM_SYM_CLASS, 0 },
    { "record_declaration", GRAM_SYM_CLASS, 0 },
    { "enum_declaration", GRAM_SYM_TYPE, 0 },
    { "annotation_type_declaration", GRAM_SYM_TYPE, 0 },
    { "method_declaration", GRAM_SYM_FUNCTION, 0 },
    { "constructor_declaration", GRAM_SYM_FUNCTION, 0 },
    { "lambda_expression", GRAM_SYM_FUNCTION, GRAM_RULE_ANON },
    { NULL, 0, 0 },
};
static const gram_rule BASH_DEFS[] = {
    { "function_definition", GRAM_SYM_FUNCTION, 0 },
    { NULL, 0, 0 },
};
static const gram_rule LUA_DEFS[] = {
    { "function_declaration", GRAM_SYM_FUNCTION, 0 },
    { "function_definition", GRAM_SYM_FUNCTION, GRAM_RULE_ANON },
    { NULL, 0, 0 },
};

static const gram_keyword LUA_KEYWORDS[] = {
    { "end", 0, 'f' }, { "until", 0, 'r' }, { "elseif", 0, 'f' },
    { "function", 1, 'f' }, { "do", 1, 'f' }, { "then", 1, 'f' }, { "repeat", 1, 'r' },
    { NULL, 0, 0 },
};
static const gram_keyword BASH_KEYWORDS[] = {
    { "fi", 0, 't' }, { "done", 0, 'd' }, { "esac", 0, 'c' }, { "elif", 0, 't' },
    { "then", 1, 't' }, { "do", 1, 'd' }, { "case", 1, 'c' },
    { NULL, 0, 0 },
};

/* ------------------------------------------------------------------- syntax */

enum { SX_C, SX_CPP, SX_PYTHON, SX_JS, SX_TS, SX_TSX, SX_RUST, SX_GO, SX_JAVA, SX_BASH, SX_LUA,
       SX_COUNT };

#define C_STRINGS "string_literal", "char_literal", "system_lib_string", "raw_string_literal"
#define C_IDENTS "identifier", "type_identifier", "field_identifier"
#define JS_STRINGS "string", "template_string", "regex"
#define JS_IDENTS "identifier", "property_identifier", "shorthand_property_identifier"
#define JS_BLOCKS "statement_block", "class_body", "switch_body"

static const gram_syntax SYNTAX[SX_COUNT] = {
    [SX_C] = { LANG_C, 0, "", "", NULL, C_DEFS,
        LIST("compound_statement", "field_declaration_list", "enumerator_list"),
        LIST(C_STRINGS), LIST(C_IDENTS), SX_C },
    [SX_CPP] = { LANG_CPP, 0, "", "", NULL, CPP_DEFS,
        LIST("compound_statement", "field_declaration_list", "enumerator_list", "declaration_list"),
        LIST(C_STRINGS), LIST(C_IDENTS, "namespace_identifier"), SX_CPP },
    [SX_PYTHON] = { LANG_PYTHON, GRAM_SX_TRIPLE_QUOTES | GRAM_SX_COLON_BLOCKS, "", "", NULL,
        PYTHON_DEFS, LIST("block"), LIST("string", "concatenated_string"), LIST("identifier"),
        SX_PYTHON },
    [SX_JS] = { LANG_JAVASCRIPT, GRAM_SX_ARROW_BLOCKS, "`", "", NULL, JS_DEFS, LIST(JS_BLOCKS),
        LIST(JS_STRINGS), LIST(JS_IDENTS), SX_JS },
    [SX_TS] = { LANG_TYPESCRIPT, GRAM_SX_ARROW_BLOCKS, "`", "", NULL, TS_DEFS,
        LIST(JS_BLOCKS, "interface_body", "enum_body"), LIST(JS_STRINGS),
        LIST(JS_IDENTS, "type_identifier"), SX_TS },
    [SX_TSX] = { LANG_TSX, GRAM_SX_ARROW_BLOCKS, "`", "", NULL, TS_DEFS,
        LIST(JS_BLOCKS, "interface_body", "enum_body"), LIST(JS_STRINGS),
        LIST(JS_IDENTS, "type_identifier"), SX_TSX },
    [SX_RUST] = { LANG_RUST, GRAM_SX_LIFETIMES, "\"", "", NULL, RUST_DEFS,
        LIST("block", "declaration_list", "field_declaration_list", "match_block",
             "enum_variant_list"),
        LIST("string_literal", "raw_string_literal", "char_literal"),
        LIST("identifier", "type_identifier", "field_identifier"), SX_RUST },
    [SX_GO] = { LANG_GO, 0, "`", "`", NULL, GO_DEFS,
        LIST("block", "field_declaration_list", "literal_value"),
        LIST("interpreted_string_literal", "raw_string_literal", "rune_literal"),
        LIST("identifier", "type_identifier", "field_identifier", "package_identifier"), SX_GO },
    [SX_JAVA] = { LANG_JAVA, GRAM_SX_TRIPLE_QUOTES, "", "", NULL, JAVA_DEFS,
        LIST("block", "class_body", "interface_body", "enum_body", "constructor_body",
             "switch_block"),
        LIST("string_literal", "character_literal"), LIST("identifier", "type_identifier"),
        SX_JAVA },
    [SX_BASH] = { LANG_BASH, GRAM_SX_HASH_AT_WORD | GRAM_SX_LOOSE_PARENS, "\"'", "'",
        BASH_KEYWORDS, BASH_DEFS,
        LIST("compound_statement", "do_group", "if_statement", "case_statement", "subshell"),
        LIST("string", "raw_string", "ansi_c_string", "heredoc_body"),
        LIST("variable_name", "command_name"), SX_BASH },
    [SX_LUA] = { LANG_LUA, GRAM_SX_LONG_BRACKETS, "", "", LUA_KEYWORDS, LUA_DEFS,
        LIST("block"), LIST("string"), LIST("identifier"), SX_LUA },
};

/* -------------------------------------------------------------------- table */

#define C_COMMENTS "//", "/*", "*/"
static const gram_lang LANGS[] = {
    { "c", LIST("c"), LIST(".c", ".h"), C_COMMENTS, "\"'", GRAM_BLOCKS_BRACES, &SYNTAX[SX_C] },
    { "cpp", LIST("cpp", "cuda-cpp"),
      LIST(".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp", ".inl", ".cu"),
      C_COMMENTS, "\"'", GRAM_BLOCKS_BRACES, &SYNTAX[SX_CPP] },
    { "python", LIST("python"), LIST(".py", ".pyi", ".pyw"), "#", NULL, NULL, "\"'",
      GRAM_BLOCKS_INDENT, &SYNTAX[SX_PYTHON] },
    { "javascript", LIST("javascript", "javascriptreact"), LIST(".js", ".mjs", ".cjs", ".jsx"),
      C_COMMENTS, "\"'`", GRAM_BLOCKS_BRACES, &SYNTAX[SX_JS] },
    { "typescript", LIST("typescript"), LIST(".ts", ".mts", ".cts"), C_COMMENTS, "\"'`",
      GRAM_BLOCKS_BRACES, &SYNTAX[SX_TS] },
    { "tsx", LIST("typescriptreact"), LIST(".tsx"), C_COMMENTS, "\"'`", GRAM_BLOCKS_BRACES,
      &SYNTAX[SX_TSX] },
    { "rust", LIST("rust"), LIST(".rs"), C_COMMENTS, "\"'", GRAM_BLOCKS_BRACES, &SYNTAX[SX_RUST] },
    { "go", LIST("go"), LIST(".go"), C_COMMENTS, "\"'`", GRAM_BLOCKS_BRACES, &SYNTAX[SX_GO] },
    { "java", LIST("java"), LIST(".java"), C_COMMENTS, "\"'", GRAM_BLOCKS_BRACES,
      &SYNTAX[SX_JAVA] },
    { "bash", LIST("shellscript", "bash", "sh"),
      LIST(".sh", ".bash", ".bashrc", ".bash_profile", ".profile"), "#", NULL, NULL, "\"'",
      GRAM_BLOCKS_KEYWORDS, &SYNTAX[SX_BASH] },
    { "lua", LIST("lua"), LIST(".lua"), "--", NULL, NULL, "\"'", GRAM_BLOCKS_KEYWORDS,
      &SYNTAX[SX_LUA] },
};
#define N_LANGS (sizeof LANGS / sizeof LANGS[0])

static const gram_lang TEXT = { "text", LIST("plaintext"), LIST(".txt"), NULL, NULL, NULL, "\"",
                                GRAM_BLOCKS_PLAIN, NULL };

size_t gram_lang_count(void) { return N_LANGS; }
const gram_lang *gram_lang_at(size_t i) { return i < N_LANGS ? &LANGS[i] : NULL; }
const gram_lang *gram_lang_text(void) { return &TEXT; }

static int in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

const gram_lang *gram_lang_for_id(const char *language_id)
{
    if (!language_id) return NULL;
    for (size_t i = 0; i < N_LANGS; i++)
        if (in_list(LANGS[i].language_ids, language_id)) return &LANGS[i];
    return NULL;
}

const gram_lang *gram_lang_for_path(const char *path)
{
    if (!path) return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *end = base + strcspn(base, "?#");   /* URIs: no query or fragment */
    size_t blen = (size_t)(end - base);
    for (size_t i = 0; i < N_LANGS; i++) {
        for (const char *const *e = LANGS[i].extensions; *e; e++) {
            size_t el = strlen(*e);
            /* ".bashrc" names a whole file; ".c" is an extension of "x.c" */
            if (el < blen && base[blen - el] == '.' && strncasecmp(end - el, *e, el) == 0)
                return &LANGS[i];
            if (el == blen && strncmp(base, *e, el) == 0) return &LANGS[i];
        }
    }
    return NULL;
}

const gram_lang *gram_lang_find(const char *language_id, const char *path)
{
    const gram_lang *l = gram_lang_for_id(language_id);
    if (!l) l = gram_lang_for_path(path);
    return l ? l : &TEXT;
}

const TSLanguage *gram_lang_ts(const gram_lang *lang)
{
    if (!lang || !lang->syntax || !lang->syntax->language) return NULL;
    const TSLanguage *l = lang->syntax->language();
    if (!l) return NULL;
    uint32_t v = ts_language_version(l);
    if (v < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION || v > TREE_SITTER_LANGUAGE_VERSION)
        return NULL;
    return l;
}

int gram_lang_has_grammar(const gram_lang *lang) { return gram_lang_ts(lang) != NULL; }

/* ------------------------------------------------------------ class tables */

static gram_classes g_classes[SX_COUNT];
static pthread_once_t g_once[SX_COUNT] = {
    PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
    PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
    PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
};

static void build_classes(int slot)
{
    const gram_syntax *sx = &SYNTAX[slot];
    const TSLanguage *l = sx->language ? sx->language() : NULL;
    if (!l) return;
    uint32_t n = ts_language_symbol_count(l);
    uint8_t *cls = calloc(n ? n : 1, 1), *rule = calloc(n ? n : 1, 1);
    if (!cls || !rule) { free(cls); free(rule); return; }
    for (uint32_t s = 0; s < n; s++) {
        if (ts_language_symbol_type(l, (TSSymbol)s) != TSSymbolTypeRegular) continue;
        const char *name = ts_language_symbol_name(l, (TSSymbol)s);
        if (!name) continue;
        if (in_list(sx->blocks, name)) cls[s] |= GRAM_CLS_BLOCK;
        if (in_list(sx->strings, name)) cls[s] |= GRAM_CLS_STRING;
        if (in_list(sx->idents, name)) cls[s] |= GRAM_CLS_IDENT;
        if (strstr(name, "comment") && !strstr(name, "comment_content")) cls[s] |= GRAM_CLS_COMMENT;
        for (int r = 0; sx->rules[r].type; r++)
            if (strcmp(sx->rules[r].type, name) == 0 && r < 255) { rule[s] = (uint8_t)(r + 1); break; }
    }
    g_classes[slot] = (gram_classes){ l, n, cls, rule };
}

#define ONCE(k) static void once_##k(void) { build_classes(k); }
ONCE(0) ONCE(1) ONCE(2) ONCE(3) ONCE(4) ONCE(5) ONCE(6) ONCE(7) ONCE(8) ONCE(9) ONCE(10)
static void (*const ONCE_FN[SX_COUNT])(void) = {
    once_0, once_1, once_2, once_3, once_4, once_5, once_6, once_7, once_8, once_9, once_10,
};

const gram_classes *gram_lang_classes(const gram_lang *lang)
{
    if (!gram_lang_ts(lang)) return NULL;
    int slot = lang->syntax->index;
    pthread_once(&g_once[slot], ONCE_FN[slot]);
    return g_classes[slot].cls ? &g_classes[slot] : NULL;
}

/* ---------------------------------------------------------- rule checks */

static TSNode field(TSNode n, const char *name)
{
    return ts_node_child_by_field_name(n, name, (uint32_t)strlen(name));
}

static int type_is(TSNode n, const char *t) { return strcmp(ts_node_type(n), t) == 0; }

/* C declarators nest (pointer, array, parenthesized, init); follow them. */
static TSNode innermost_declarator(TSNode n, int *saw_function)
{
    for (int guard = 0; guard < 32 && !ts_node_is_null(n); guard++) {
        if (type_is(n, "function_declarator")) *saw_function = 1;
        TSNode d = field(n, "declarator");
        if (ts_node_is_null(d)) break;
        n = d;
    }
    return n;
}

const gram_rule *gram_node_rule(const gram_lang *lang, const gram_classes *c, TSNode n,
                                const char *text)
{
    (void)text;
    TSSymbol s = ts_node_symbol(n);
    if (s >= c->n_symbols || !c->rule[s]) return NULL;
    const gram_rule *r = &lang->syntax->rules[c->rule[s] - 1];
    if ((r->flags & GRAM_RULE_NEEDS_BODY) && ts_node_is_null(field(n, "body"))) return NULL;
    if (r->flags & GRAM_RULE_PROTOTYPE) {
        int fn = 0;
        TSNode d = field(n, "declarator");
        if (ts_node_is_null(d)) return NULL;
        innermost_declarator(d, &fn);
        if (!fn) return NULL;
    }
    if (r->flags & GRAM_RULE_VAR_FUNC) {
        TSNode v = field(n, "value");
        if (ts_node_is_null(v)) return NULL;
        TSSymbol vs = ts_node_symbol(v);
        if (vs >= c->n_symbols || !c->rule[vs]) return NULL;
        const gram_rule *vr = &lang->syntax->rules[c->rule[vs] - 1];
        if (!(vr->flags & GRAM_RULE_ANON) || vr->kind != GRAM_SYM_FUNCTION) return NULL;
    }
    return r;
}

int gram_def_name(const gram_rule *r, TSNode n, const char *text, size_t *start, size_t *end)
{
    TSNode name = field(n, "name");
    if (ts_node_is_null(name) && (r->flags & GRAM_RULE_PROTOTYPE || type_is(n, "function_definition"))) {
        int fn = 0;
        name = innermost_declarator(field(n, "declarator"), &fn);
    }
    if (ts_node_is_null(name) && type_is(n, "type_definition")) {
        int fn = 0;
        name = innermost_declarator(field(n, "declarator"), &fn);
    }
    if (ts_node_is_null(name) && type_is(n, "impl_item")) name = field(n, "type");
    if (ts_node_is_null(name)) return 0;
    size_t s = ts_node_start_byte(name), e = ts_node_end_byte(name);
    /* qualified names (a::b, M.f, M:f, generic<T>): keep the last identifier */
    size_t k = s, best_s = s, best_e = s;
    while (k < e) {
        while (k < e && !gram_is_ident(text[k])) k++;
        size_t w = k;
        while (k < e && gram_is_ident(text[k])) k++;
        if (k > w && !(w > s && text[w - 1] == '<')) { best_s = w; best_e = k; }
        if (k < e && text[k] == '<') break;     /* stop before template arguments */
    }
    if (best_e == best_s) return 0;
    *start = best_s;
    *end = best_e;
    return 1;
}

bool gram_tree_error_in(TSNode root, size_t start, size_t end)
{
    if (!ts_node_has_error(root)) return false;
    /* iterative: fuzzed or generated input can nest deeper than the stack */
    TSTreeCursor cur = ts_tree_cursor_new(root);
    bool found = false;
    for (;;) {
        TSNode n = ts_tree_cursor_current_node(&cur);
        size_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
        bool hit = !(e < start || s > end);
        if (hit && (ts_node_is_missing(n) || ts_node_symbol(n) == GRAM_SYM_ERROR)) { found = true; break; }
        if (hit && ts_node_has_error(n) && ts_tree_cursor_goto_first_child(&cur)) continue;
        while (!ts_tree_cursor_goto_next_sibling(&cur))
            if (!ts_tree_cursor_goto_parent(&cur)) goto done;
    }
done:
    ts_tree_cursor_delete(&cur);
    return found;
}
