/* test_gram.c — cursor context and completion trimming, per language: real
 * snippets with the cursor at "@@", the context expected there, and what a
 * model's completion must be trimmed to (and why). Cases whose grammar was not
 * vendored (grammars/fetch.sh) are skipped with a message; with none vendored
 * the binary exits 77 (skip) once the plain-text cases pass.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gram_int.h"     /* white-box: forcing the local-tree path */
#include "../check_run.h"

enum { ANY = 0, YES = 1, NO = 2 };   /* tri-state expectations; ANY: not checked */

typedef struct {
    const char *name;           /* the behaviour pinned */
    const char *lang;           /* LSP languageId */
    const char *text;           /* "@@" marks the cursor */
    const char *scope;          /* expected scope name (NULL: not checked) */
    const char *signature;      /* expected signature (NULL: not checked) */
    int multiline, in_comment, in_string, in_identifier;
    const char *completion;     /* NULL: no trim step */
    const char *expect;         /* trimmed text */
    gram_trim_reason reason;
    int parse_checked;          /* tri-state */
} gcase;

static const gcase CASES[] = {
    /* ---- C */
    { "c_return_stops_at_function_end", "c",
      "int add(int a, int b)\n{\n    @@\n}\n\nint main(void) { return add(1, 2); }\n",
      "add", "int add(int a, int b)", YES, NO, NO, NO,
      "return a + b;\n}\n\nint sub(int a, int b)\n{\n    return a - b;\n}",
      "return a + b;", GRAM_TRIM_BLOCK_END, YES },
    { "c_call_drops_closing_paren_already_there", "c",
      "#include <stdio.h>\nint main(void) {\n    printf(@@);\n    return 0;\n}\n",
      "main", "int main(void)", NO, NO, NO, NO,
      "\"%d\\n\", 42);", "\"%d\\n\", 42", GRAM_TRIM_SUFFIX_LINE, YES },
    { "c_call_keeps_its_own_parens", "c", "int main(void) {\n    printf(@@);\n}\n",
      "main", NULL, NO, NO, NO, NO, "foo()", "foo()", GRAM_TRIM_KEPT, YES },
    { "c_call_arguments_before_existing_close", "c", "int main(void) {\n    printf(@@);\n}\n",
      "main", NULL, NO, NO, NO, NO, "foo(x));", "foo(x)", GRAM_TRIM_SUFFIX_LINE, YES },
    { "c_syntax_error_rejected", "c", "int f(int x) {\n    int y = x;\n    @@\n}\n",
      "f", NULL, YES, NO, NO, NO, "return (y + ;", "", GRAM_TRIM_SYNTAX_ERROR, YES },
    { "c_comment_is_single_line", "c", "/* compute the @@ */\nint x;\n",
      "", NULL, NO, YES, NO, NO, "sum of values\nint y;", "sum of values",
      GRAM_TRIM_SINGLE_LINE, ANY },
    { "c_inside_string_literal", "c", "const char *s = \"hel@@\";\n",
      NULL, NULL, NO, NO, YES, NO, "lo, world\";", "lo, world", GRAM_TRIM_SUFFIX_LINE, ANY },
    { "c_new_if_block_above_function_end_may_close_itself", "c",
      "int f(int x) {\n    if (x) {@@\n}\n", "f", NULL, YES, NO, NO, NO,
      "\n        return 1;\n    }\n    return 0;", "\n        return 1;\n    }",
      GRAM_TRIM_BLOCK_END, NO },
    { "c_identifier_being_typed", "c", "int main(void) {\n    int count = 0;\n    cou@@\n}\n",
      "main", NULL, NO, NO, NO, YES, "nt += 1;\n    count++;", "nt += 1;",
      GRAM_TRIM_SINGLE_LINE, ANY },
    { "c_struct_member_scope", "c", "struct point {\n    int x;\n    @@\n};\n",
      "point", "struct point", YES, NO, NO, NO, "int y;\n};", "int y;", GRAM_TRIM_BLOCK_END, YES },

    /* ---- C++ */
    { "cpp_method_body_block_end", "cpp",
      "#include <vector>\nclass Stack {\npublic:\n    void push(int v) {\n        @@\n    }\n"
      "private:\n    std::vector<int> data_;\n};\n",
      "push", "void push(int v)", YES, NO, NO, NO,
      "data_.push_back(v);\n    }\n    int pop();", "data_.push_back(v);", GRAM_TRIM_BLOCK_END, YES },
    { "cpp_qualified_method_name", "cpp",
      "int Widget::size() const {\n    return @@;\n}\n", "size", "int Widget::size() const",
      NO, NO, NO, NO, "items_.size();", "items_.size()", GRAM_TRIM_SUFFIX_LINE, ANY },
    { "cpp_lambda_named_by_its_variable", "cpp", "auto twice = [](int a) {\n    @@\n};\n",
      "twice", "twice = [](int a)", YES, NO, NO, NO, "return 2 * a;\n};", "return 2 * a;",
      GRAM_TRIM_BLOCK_END, YES },

    /* ---- Python */
    { "python_dedent_ends_block", "python",
      "import math\n\ndef area(r):\n    @@\n\nprint(area(2))\n", "area", "def area(r):",
      YES, NO, NO, NO, "return math.pi * r * r\n\ndef perimeter(r):\n    return 2 * math.pi * r",
      "return math.pi * r * r", GRAM_TRIM_BLOCK_END, YES },
    { "python_after_colon_is_multiline", "python", "class Shape:\n    def area(self):@@\n",
      NULL, NULL, YES, NO, NO, NO,
      "\n        return 0\n\n    def name(self):\n        return 'shape'\nprint(Shape())",
      "\n        return 0\n\n    def name(self):\n        return 'shape'", GRAM_TRIM_BLOCK_END, ANY },
    { "python_repeat_of_next_line_dropped", "python",
      "def total(items):\n    t = 0\n    @@\n    return t\n", "total", NULL, YES, NO, NO, NO,
      "for x in items:\n        t += x\n    return t", "for x in items:\n        t += x",
      GRAM_TRIM_SUFFIX_LINES, YES },
    { "python_comment_at_line_end", "python", "x = 1  # the @@\n", "", NULL, NO, YES, NO, NO,
      "answer\ny = 2", "answer", GRAM_TRIM_SINGLE_LINE, ANY },
    { "python_tab_file_gets_tabs", "python",
      "def f(x):\n\tif x:\n\t\treturn 1\n\t@@\n", "f", NULL, YES, NO, NO, NO,
      "for i in range(x):\n        print(i)", "for i in range(x):\n\t\tprint(i)", GRAM_TRIM_KEPT, YES },
    { "python_syntax_error_rejected", "python", "def f(x):\n    y = x\n    @@\n", "f", NULL,
      YES, NO, NO, NO, "return y +* 2", "", GRAM_TRIM_SYNTAX_ERROR, YES },
    { "python_unfinished_last_line_dropped", "python", "def f(x):\n    y = x\n    @@\n", "f",
      NULL, YES, NO, NO, NO, "z = y * 2\n    return z +", "z = y * 2", GRAM_TRIM_INCOMPLETE, YES },
    { "python_trailing_block_header_accepted", "python", "def f(xs):\n    @@\n", "f", NULL,
      YES, NO, NO, NO, "for x in xs:", "for x in xs:", GRAM_TRIM_KEPT, ANY },
    { "python_docstring_is_string", "python", "def f():\n    \"\"\"Return @@\"\"\"\n", "f",
      NULL, NO, NO, YES, NO, NULL, NULL, 0, ANY },

    /* ---- JavaScript */
    { "js_arrow_function_body_ends", "javascript", "const add = (a, b) => {\n  @@\n};\n",
      "add", "add = (a, b) =>", YES, NO, NO, NO,
      "return a + b;\n};\nmodule.exports = add;", "return a + b;", GRAM_TRIM_BLOCK_END, YES },
    { "js_after_arrow_is_multiline", "javascript", "items.forEach((item) =>@@\n", NULL, NULL,
      YES, NO, NO, NO, NULL, NULL, 0, ANY },
    { "js_template_string", "javascript", "const s = `hello ${name} @@`;\n", NULL, NULL,
      NO, NO, YES, NO, "and bye`;", "and bye", GRAM_TRIM_SUFFIX_LINE, ANY },
    { "js_class_method_scope", "javascript",
      "class Counter {\n  increment() {\n    @@\n  }\n}\n", "increment", "increment()",
      YES, NO, NO, NO, "this.n += 1;\n  }\n  reset() {}", "this.n += 1;", GRAM_TRIM_BLOCK_END, YES },
    { "js_tab_completion_gets_the_files_spaces", "javascript",
      "function f(xs) {\n  const out = [];\n  for (const x of xs) {\n    out.push(x);\n  }\n  @@\n}\n",
      "f", NULL, YES, NO, NO, NO, "if (out.length) {\n\t\treturn out;\n\t}",
      "if (out.length) {\n    return out;\n  }", GRAM_TRIM_KEPT, YES },
    { "js_string_broken_across_lines_cut", "javascript", "function f() {\n  @@\n}\n", "f", NULL,
      YES, NO, NO, NO, "log(\"hello\nworld\");", "log(\"hello", GRAM_TRIM_UNBALANCED, YES },
    { "js_extra_closer_cut", "javascript", "function f(a) {\n  return g(a@@);\n}\n", "f", NULL,
      NO, NO, NO, YES, ", 1)) + 2;", ", 1", GRAM_TRIM_UNBALANCED, ANY },

    /* ---- TypeScript */
    { "ts_function_with_types", "typescript",
      "interface Store {\n  get(key: string): number;\n}\n"
      "function load(store: Store): number {\n  @@\n}\n",
      "load", "function load(store: Store): number", YES, NO, NO, NO,
      "return store.get(\"a\");\n}\n", "return store.get(\"a\");", GRAM_TRIM_BLOCK_END, YES },
    { "ts_rest_of_line_already_there", "typescript",
      "const m = new Map<string, number>(@@);\n", NULL, NULL, NO, NO, NO, NO, ");", "",
      GRAM_TRIM_EMPTY, ANY },

    /* ---- TSX */
    { "tsx_jsx_expression", "typescriptreact",
      "export function Title(props: { text: string }) {\n  return <h1>{@@}</h1>;\n}\n",
      "Title", NULL, NO, NO, NO, NO, "props.text}</h1>;", "props.text", GRAM_TRIM_SUFFIX_LINE, YES },
    { "tsx_component_body", "typescriptreact",
      "export const App = () => {\n  @@\n};\n", "App", NULL, YES, NO, NO, NO,
      "return <div />;\n};\nexport default App;", "return <div />;", GRAM_TRIM_BLOCK_END, YES },

    /* ---- Rust */
    { "rust_fn_block_end", "rust", "fn square(x: i32) -> i32 {\n    @@\n}\n", "square",
      "fn square(x: i32) -> i32", YES, NO, NO, NO,
      "x * x\n}\n\nfn cube(x: i32) -> i32 {\n    x * x * x\n}", "x * x", GRAM_TRIM_BLOCK_END, YES },
    { "rust_impl_method_scope", "rust",
      "struct P { x: f64 }\nimpl P {\n    fn norm(&self) -> f64 {\n        @@\n    }\n}\n",
      "norm", "fn norm(&self) -> f64", YES, NO, NO, NO, "self.x.abs()\n    }\n}",
      "self.x.abs()", GRAM_TRIM_BLOCK_END, YES },
    { "rust_lifetime_is_not_a_char", "rust",
      "fn first<'a>(v: &'a [u8]) -> &'a u8 {\n    @@\n}\n", "first", NULL, YES, NO, NO, NO,
      "&v[0]\n}", "&v[0]", GRAM_TRIM_BLOCK_END, YES },

    /* ---- Go */
    { "go_func_block_end_tabs", "go", "package main\n\nfunc double(x int) int {\n\t@@\n}\n",
      "double", "func double(x int) int", YES, NO, NO, NO,
      "return x * 2\n}\n\nfunc main() {}", "return x * 2", GRAM_TRIM_BLOCK_END, YES },
    { "go_spaces_become_tabs", "go",
      "package main\n\nfunc sum(xs []int) int {\n\ts := 0\n\t@@\n}\n", "sum", NULL, YES, NO, NO, NO,
      "for _, x := range xs {\n        s += x\n    }\n    return s",
      "for _, x := range xs {\n\t\ts += x\n\t}\n\treturn s", GRAM_TRIM_KEPT, YES },
    { "go_line_comment_end", "go", "package main\n\n// Double returns twice @@\nfunc f() {}\n",
      "", NULL, NO, YES, NO, NO, "x.\nfunc g() {}", "x.", GRAM_TRIM_SINGLE_LINE, ANY },

    /* ---- Java */
    { "java_method_block_end", "java",
      "class Greeter {\n    String greet(String name) {\n        @@\n    }\n}\n", "greet",
      "String greet(String name)", YES, NO, NO, NO,
      "return \"Hello, \" + name;\n    }\n\n    void wave() {}", "return \"Hello, \" + name;",
      GRAM_TRIM_BLOCK_END, YES },
    { "java_class_body_scope", "java", "public class Point {\n    private int x;\n    @@\n}\n",
      "Point", "public class Point", YES, NO, NO, NO, "private int y;\n}", "private int y;",
      GRAM_TRIM_BLOCK_END, YES },

    /* ---- Bash */
    { "bash_then_opens_block", "shellscript", "if [ -f \"$1\" ]; then@@\n", NULL, NULL,
      YES, NO, NO, NO, "\n  cat \"$1\"\nfi\necho done", "\n  cat \"$1\"\nfi", GRAM_TRIM_BLOCK_END, NO },
    { "bash_function_body_end", "shellscript", "deploy() {\n  local target=$1\n  @@\n}\n",
      "deploy", "deploy()", YES, NO, NO, NO, "rsync -a build/ \"$target\"\n}\ndeploy prod",
      "rsync -a build/ \"$target\"", GRAM_TRIM_BLOCK_END, YES },
    { "bash_case_patterns_keep_parens", "shellscript", "case \"$1\" in\n  @@\nesac\n", NULL,
      NULL, YES, NO, NO, NO, "start) run ;;\n  stop) halt ;;",
      "start) run ;;\n  stop) halt ;;", GRAM_TRIM_KEPT, ANY },
    { "bash_comment_word", "shellscript", "echo $# # count @@\n", NULL, NULL, NO, YES, NO, NO,
      NULL, NULL, 0, ANY },

    /* ---- Lua */
    { "lua_function_end", "lua", "local function greet(name)\n  @@\nend\n\nreturn greet\n",
      "greet", "local function greet(name)", YES, NO, NO, NO,
      "print(\"hi \" .. name)\nend\n\nreturn greet", "print(\"hi \" .. name)", GRAM_TRIM_BLOCK_END, YES },
    { "lua_do_opens_block", "lua", "for i = 1, 10 do@@\n", NULL, NULL, YES, NO, NO, NO,
      "\n  print(i)\nend\nprint(\"done\")", "\n  print(i)\nend", GRAM_TRIM_BLOCK_END, ANY },
    { "lua_repeat_until_block", "lua", "local n = 0\nrepeat@@\n", NULL, NULL, YES, NO, NO, NO,
      "\n  n = n + 1\nuntil n > 3\nprint(n)", "\n  n = n + 1\nuntil n > 3", GRAM_TRIM_BLOCK_END, ANY },
    { "lua_long_string", "lua", "local s = [[\nhello @@\n]]\n", NULL, NULL, ANY, NO, YES, NO,
      NULL, NULL, 0, ANY },
    { "lua_method_scope", "lua", "function Account:deposit(v)\n  @@\nend\n", "deposit",
      "function Account:deposit(v)", YES, NO, NO, NO, "self.balance = self.balance + v\nend",
      "self.balance = self.balance + v", GRAM_TRIM_BLOCK_END, YES },

    /* ---- plain text (unknown language) */
    { "text_brackets_balance", "plaintext", "call foo(@@)\n", "", NULL, NO, NO, NO, NO,
      "a, b))", "a, b", GRAM_TRIM_UNBALANCED, NO },
    { "text_dedent_ends_block", "plaintext", "items:\n  - one\n  - @@\n\nother: 1\n", "", NULL,
      NO, NO, NO, NO, "two", "two", GRAM_TRIM_KEPT, NO },
    { "text_blank_line_block_by_indent", "plaintext", "items:\n  - one\n  @@\n", "", NULL,
      YES, NO, NO, NO, "- two\n  - three\nnext: 2", "- two\n  - three", GRAM_TRIM_BLOCK_END, NO },
    { "text_never_fails_on_garbage", "plaintext", "}}}((( \"@@", "", NULL, ANY, ANY, ANY, ANY,
      ")]}\"\n\n", ")]}\"", GRAM_TRIM_SINGLE_LINE, NO },
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static int skipped_for_grammar(const gram_lang *l)
{
    return strcmp(l->name, "text") != 0 && !gram_lang_has_grammar(l);
}

static void check_flag(const char *name, const char *what, int want, int got)
{
    if (want == ANY) return;
    ck_assert_msg((want == YES) == (got != 0), "%s: %s is %d, want %s", name, what, got,
                  want == YES ? "yes" : "no");
}

/* Runs case t. local: the context's tree is forced to be a parse of the code
 * around the cursor only (what a context gets when the document's reparse
 * does not fit the keystroke budget); every expectation must hold the same. */
static void run_case(const gcase *t, int local)
{
    const gram_lang *lang = gram_lang_find(t->lang, NULL);
    if (skipped_for_grammar(lang)) {
        if (!local) fprintf(stderr, "skip %s: grammar %s not vendored (grammars/fetch.sh)\n",
                            t->name, lang->name);
        return;
    }
    const char *mark = strstr(t->text, "@@");
    ck_assert_ptr_nonnull(mark);
    size_t off = (size_t)(mark - t->text), len = strlen(t->text) - 2;
    char *text = malloc(len + 1);
    memcpy(text, t->text, off);
    memcpy(text + off, mark + 2, len - off + 1);
    gram_doc *d = gram_doc_new(lang, text, len);
    ck_assert_ptr_nonnull(d);
    if (local) {
        gram_doc_parse(d);
        gram_doc_edit(d, 0, 0, "", 0);      /* not current any more */
        d->slow = 1;                        /* as after a reparse out of budget */
    }
    gram_ctx *c = gram_context_new(d, off);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->has_tree, strcmp(lang->name, "text") != 0);
    ck_assert_int_eq(c->local_tree, local && c->has_tree);
    if (t->scope) ck_assert_msg(strcmp(c->scope_name, t->scope) == 0, "%s: scope '%s', want '%s'",
                                t->name, c->scope_name, t->scope);
    if (t->signature) ck_assert_msg(strcmp(c->signature, t->signature) == 0,
                                    "%s: signature '%s', want '%s'", t->name, c->signature, t->signature);
    check_flag(t->name, "multiline", t->multiline, c->multiline);
    check_flag(t->name, "in_comment", t->in_comment, c->in_comment);
    check_flag(t->name, "in_string", t->in_string, c->in_string);
    check_flag(t->name, "in_identifier", t->in_identifier, c->in_identifier);
    if (t->completion) {
        gram_trim_result r;
        size_t n = gram_trim(c, text, off, text + off, len - off, t->completion,
                             strlen(t->completion), &r);
        ck_assert_ptr_nonnull(r.text);
        ck_assert_uint_eq(n, r.len);
        ck_assert_uint_eq(strlen(r.text), r.len);
        ck_assert_msg(strcmp(r.text, t->expect) == 0, "%s: trimmed to\n[%s]\nwant\n[%s] (reason %s)",
                      t->name, r.text, t->expect, gram_trim_reason_name(r.reason));
        ck_assert_msg(r.reason == t->reason, "%s: reason '%s', want '%s'", t->name,
                      gram_trim_reason_name(r.reason), gram_trim_reason_name(t->reason));
        check_flag(t->name, "parse_checked", t->parse_checked, r.parse_checked);
        free(r.text);
    }
    gram_context_free(c);
    gram_doc_free(d);
    free(text);
}

START_TEST(test_context_and_trim_per_language)
{
    run_case(&CASES[_i], 0);
}
END_TEST

START_TEST(test_context_and_trim_same_with_local_tree)
{
    run_case(&CASES[_i], 1);
}
END_TEST

/* ------------------------------------------------------------ language table */

START_TEST(test_lang_table_maps_ids_and_paths)
{
    ck_assert_str_eq(gram_lang_for_id("typescriptreact")->name, "tsx");
    ck_assert_str_eq(gram_lang_for_id("javascriptreact")->name, "javascript");
    ck_assert_str_eq(gram_lang_for_id("shellscript")->name, "bash");
    ck_assert_ptr_null(gram_lang_for_id("cobol"));
    ck_assert_ptr_null(gram_lang_for_id(NULL));
    ck_assert_str_eq(gram_lang_for_path("/src/x.h")->name, "c");
    ck_assert_str_eq(gram_lang_for_path("file:///a/b/Main.JAVA")->name, "java");
    ck_assert_str_eq(gram_lang_for_path("file:///a/b/tool.py?x=1#f")->name, "python");
    ck_assert_str_eq(gram_lang_for_path("/home/u/.bashrc")->name, "bash");
    ck_assert_str_eq(gram_lang_for_path("widget.hpp")->name, "cpp");
    ck_assert_ptr_null(gram_lang_for_path("README"));
    ck_assert_ptr_null(gram_lang_for_path(".c.orig"));
    ck_assert_str_eq(gram_lang_find("cobol", "x.rs")->name, "rust");
    ck_assert_str_eq(gram_lang_find("lua", "x.rs")->name, "lua");
    ck_assert_ptr_eq(gram_lang_find(NULL, NULL), gram_lang_text());
    ck_assert_int_eq(gram_lang_has_grammar(gram_lang_text()), 0);
    ck_assert_uint_ge(gram_lang_count(), 11);
    ck_assert_ptr_null(gram_lang_at(gram_lang_count()));
    for (size_t i = 0; i < gram_lang_count(); i++) {
        const gram_lang *l = gram_lang_at(i);
        ck_assert_ptr_nonnull(l->syntax);
        ck_assert_ptr_nonnull(l->language_ids[0]);
        ck_assert_ptr_nonnull(l->extensions[0]);
        ck_assert_ptr_nonnull(l->line_comment);
        ck_assert_ptr_eq(gram_lang_for_id(l->language_ids[0]), l);
        if (!gram_lang_has_grammar(l)) fprintf(stderr, "note: no grammar for %s\n", l->name);
    }
    ck_assert_int_eq(gram_lang_for_id("python")->blocks, GRAM_BLOCKS_INDENT);
    ck_assert_int_eq(gram_lang_for_id("lua")->blocks, GRAM_BLOCKS_KEYWORDS);
    ck_assert_int_eq(gram_lang_for_id("go")->blocks, GRAM_BLOCKS_BRACES);
    ck_assert_str_eq(gram_lang_for_id("lua")->line_comment, "--");
}
END_TEST

/* ------------------------------------------------------------- trim, general */

static gram_ctx *ctx_at(const char *lang, const char *text, size_t off, gram_doc **dp)
{
    gram_doc *d = gram_doc_new(gram_lang_find(lang, NULL), text, strlen(text));
    ck_assert_ptr_nonnull(d);
    gram_ctx *c = gram_context_new(d, off);
    ck_assert_ptr_nonnull(c);
    if (dp) *dp = d;
    else gram_doc_free(d);
    return c;
}

START_TEST(test_trim_blank_completion_is_empty)
{
    const char *text = "x = 1\n";
    gram_ctx *c = ctx_at("python", text, 6, NULL);
    gram_trim_result r;
    ck_assert_uint_eq(gram_trim(c, text, 6, "", 0, " \n\t\n", 4, &r), 0);
    ck_assert_int_eq(r.reason, GRAM_TRIM_EMPTY);
    ck_assert_str_eq(r.text, "");
    free(r.text);
    ck_assert_uint_eq(gram_trim(c, text, 6, "", 0, "", 0, &r), 0);
    ck_assert_int_eq(r.reason, GRAM_TRIM_EMPTY);
    free(r.text);
    gram_context_free(c);
}
END_TEST

START_TEST(test_trim_window_prefix_skips_parse_check)
{
    const char *text = "int f(int x) {\n    \n}\n";
    gram_ctx *c = ctx_at("c", text, 19, NULL);
    gram_trim_result r;
    /* the caller passed only part of the prefix: text rules only */
    gram_trim(c, text + 5, 14, text + 19, strlen(text) - 19, "return (x + ;", 13, &r);
    ck_assert_int_eq(r.parse_checked, 0);
    ck_assert_str_eq(r.text, "return (x + ;");
    free(r.text);
    gram_context_free(c);
}
END_TEST

START_TEST(test_context_is_a_snapshot)
{
    if (!gram_lang_has_grammar(gram_lang_for_id("c"))) return;
    const char *text = "int f(int x) {\n    \n}\n";
    gram_doc *d;
    gram_ctx *c = ctx_at("c", text, 19, &d);
    gram_doc_edit(d, 0, strlen(text), "garbage (((", 11);
    gram_doc_parse(d);
    gram_doc_free(d);       /* the context keeps its own tree */
    ck_assert_str_eq(c->scope_name, "f");
    gram_trim_result r;
    gram_trim(c, text, 19, text + 19, strlen(text) - 19, "return x;\n}", 11, &r);
    ck_assert_str_eq(r.text, "return x;");
    ck_assert_int_eq(r.parse_checked, 1);
    free(r.text);
    gram_context_free(c);
}
END_TEST

START_TEST(test_context_from_text_matches_doc)
{
    const char *pre = "def f(x):\n    ", *suf = "\n    return x\n";
    gram_ctx *a = gram_context_from_text(gram_lang_for_id("python"), pre, strlen(pre), suf,
                                         strlen(suf));
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->offset, strlen(pre));
    ck_assert_uint_eq(a->doc_len, strlen(pre) + strlen(suf));
    ck_assert_int_eq(a->multiline, 1);
    ck_assert_str_eq(a->multiline_why, "blank line");
    ck_assert_uint_eq(a->indent_columns, 4);
    ck_assert_uint_eq(a->point.row, 1);
    ck_assert_uint_eq(a->point.column, 4);
    gram_context_free(a);
    gram_context_free(NULL);
}
END_TEST

START_TEST(test_cursor_clamped_to_document)
{
    gram_ctx *c = ctx_at("plaintext", "abc", 99, NULL);
    ck_assert_uint_eq(c->offset, 3);
    ck_assert_int_eq(c->in_identifier, 1);
    gram_context_free(c);
    c = ctx_at("c", "", 0, NULL);
    ck_assert_uint_eq(c->offset, 0);
    ck_assert_int_eq(c->multiline, 1);
    gram_context_free(c);
}
END_TEST

START_TEST(test_reason_names_distinct)
{
    for (int a = GRAM_TRIM_KEPT; a <= GRAM_TRIM_NOMEM; a++)
        for (int b = a + 1; b <= GRAM_TRIM_NOMEM; b++)
            ck_assert_str_ne(gram_trim_reason_name(a), gram_trim_reason_name(b));
    ck_assert_str_eq(gram_trim_reason_name(GRAM_TRIM_SYNTAX_ERROR), "syntax error");
    ck_assert_str_eq(gram_trim_reason_name((gram_trim_reason)99), "?");
}
END_TEST

static Suite *gram_suite(void)
{
    Suite *s = suite_create("gram");
    TCase *tc = tcase_create("cases");
    tcase_add_loop_test(tc, test_context_and_trim_per_language, 0, (int)N_CASES);
    tcase_add_loop_test(tc, test_context_and_trim_same_with_local_tree, 0, (int)N_CASES);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_test(tc, test_lang_table_maps_ids_and_paths);
    tcase_add_test(tc, test_trim_blank_completion_is_empty);
    tcase_add_test(tc, test_trim_window_prefix_skips_parse_check);
    tcase_add_test(tc, test_context_is_a_snapshot);
    tcase_add_test(tc, test_context_from_text_matches_doc);
    tcase_add_test(tc, test_cursor_clamped_to_document);
    tcase_add_test(tc, test_reason_names_distinct);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = check_failed(gram_suite(), CK_NORMAL);
    int any = 0;
    for (size_t i = 0; i < gram_lang_count(); i++) any |= gram_lang_has_grammar(gram_lang_at(i));
    if (failed) return EXIT_FAILURE;
    if (!any) {
        fprintf(stderr, "test_gram: no grammar vendored (run grammars/fetch.sh): skipped\n");
        return 77;
    }
    return EXIT_SUCCESS;
}
