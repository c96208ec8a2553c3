/* bench_grammars.c — `sparkd bench grammars`: what syntax costs a keystroke.
 *
 * Per language, on a 5,000-line file: a full parse, the incremental reparse
 * after one keystroke (ts_tree_edit + reparse with the old tree), the cursor
 * context, and the whole post-processing of a multi-line completion
 * (gram_trim: dedupe, structure, reindent and the parse check, which is
 * itself an incremental reparse). Medians in ms; ratios to the full parse
 * measured in the same run. The files are generated (a realistic function
 * repeated with distinct names) so that every machine measures the same
 * text; --file benches a real file too. The issue's budget: keystroke reparse
 * and post-processing each <= 1 ms median.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "gram.h"

static const char USAGE[] =
    "usage: sparkd bench grammars [--out DIR] [--lang ID|all] [--lines N] [--iters N]\n"
    "                             [--file PATH]\n"
    "\n"
    "Full parse vs incremental reparse after a keystroke, cursor context, and the\n"
    "completion post-processing step, on an N-line file (default 5000) per\n"
    "language with a grammar; --file adds a real file (language from its name).\n"
    "Writes DIR/grammars.json (default bench/results/).\n";

#define BUDGET_MS 1.0

/* One function of each language; %d makes names distinct; the middle copy's
 * "@@" is the cursor (elsewhere it is removed). */
typedef struct {
    const char *lang;           /* LSP languageId */
    const char *unit;
    const char *completion;     /* what a model might propose at the cursor */
} bench_lang;

static const bench_lang LANGS[] = {
    { "c",
      "/* Weighted sum of the non-negative values (variant %d). */\n"
      "static long weighted_sum_%d(const int *values, size_t n, int weight)\n{\n"
      "    long total = 0;\n    for (size_t i = 0; i < n; i++) {\n        if (values[i] < 0)\n"
      "            continue;\n        total += (long)values[i] * weight;@@\n    }\n"
      "    return total;\n}\n\n",
      "if (total > LONG_MAX / 2)\n            break;\n    }\n    return total;\n}\n" },
    { "cpp",
      "// Registry of named counters (variant %d).\nclass Registry%d {\npublic:\n"
      "    void add(const std::string &name, int by) {\n        auto it = counts_.find(name);\n"
      "        if (it == counts_.end()) counts_.emplace(name, by);\n        else it->second += by;@@\n"
      "    }\nprivate:\n    std::map<std::string, int> counts_;\n};\n\n",
      "total_ += by;\n    }\n    int total() const { return total_; }\n" },
    { "python",
      "def weighted_sum_%d(values, weight):\n    \"\"\"Weighted sum of the non-negative values.\"\"\"\n"
      "    total = 0\n    for v in values:\n        if v < 0:\n            continue\n"
      "        total += v * weight@@\n    return total\n\n\n",
      "if total > LIMIT:\n            break\n    return total\n\n\ndef other():\n    pass\n" },
    { "javascript",
      "// Groups items by key (variant %d).\nfunction groupBy%d(items, key) {\n  const out = {};\n"
      "  for (const it of items) {\n    const k = it[key];\n    (out[k] = out[k] || []).push(it);@@\n"
      "  }\n  return out;\n}\n\n",
      "count += 1;\n  }\n  return out;\n}\n" },
    { "typescript",
      "// Groups items by key (variant %d).\nexport function groupBy%d<T>(items: T[], key: keyof T): "
      "Record<string, T[]> {\n  const out: Record<string, T[]> = {};\n  for (const it of items) {\n"
      "    const k = String(it[key]);\n    (out[k] = out[k] || []).push(it);@@\n  }\n  return out;\n}\n\n",
      "count += 1;\n  }\n  return out;\n}\n" },
    { "typescriptreact",
      "// A labelled list (variant %d).\nexport function List%d({ items }: { items: string[] }) {\n"
      "  const sorted = [...items].sort();\n  return (\n    <ul className=\"list\">\n"
      "      {sorted.map((s) => <li key={s}>{s}</li>)}@@\n    </ul>\n  );\n}\n\n",
      "<li>end</li>\n    </ul>\n  );\n}\n" },
    { "rust",
      "/// Weighted sum of the non-negative values (variant %d).\n"
      "pub fn weighted_sum_%d(values: &[i64], weight: i64) -> i64 {\n    let mut total = 0;\n"
      "    for v in values {\n        if *v < 0 {\n            continue;\n        }\n"
      "        total += v * weight;@@\n    }\n    total\n}\n\n",
      "if total > i64::MAX / 2 {\n            break;\n        }\n    }\n    total\n}\n" },
    { "go",
      "// WeightedSum%d sums the non-negative values.\nfunc WeightedSum%d(values []int, weight int) int {\n"
      "\ttotal := 0\n\tfor _, v := range values {\n\t\tif v < 0 {\n\t\t\tcontinue\n\t\t}\n"
      "\t\ttotal += v * weight@@\n\t}\n\treturn total\n}\n\n",
      "if total > limit {\n\t\t\tbreak\n\t\t}\n\t}\n\treturn total\n}\n" },
    { "java",
      "    /** Weighted sum of the non-negative values (variant %d). */\n"
      "    static long weightedSum%d(int[] values, int weight) {\n        long total = 0;\n"
      "        for (int v : values) {\n            if (v < 0) {\n                continue;\n"
      "            }\n            total += (long) v * weight;@@\n        }\n        return total;\n"
      "    }\n\n",
      "if (total > LIMIT) {\n                break;\n            }\n        }\n"
      "        return total;\n    }\n" },
    { "shellscript",
      "# Copies the sources of a target (variant %d).\ncopy_%d() {\n  local dest=$1\n"
      "  for f in src/*.c; do\n    if [ -f \"$f\" ]; then\n      cp \"$f\" \"$dest/\"@@\n"
      "    fi\n  done\n}\n\n",
      "echo \"copied $f\"\n    fi\n  done\n}\n" },
    { "lua",
      "-- Weighted sum of the non-negative values (variant %d).\n"
      "local function weighted_sum_%d(values, weight)\n  local total = 0\n"
      "  for _, v in ipairs(values) do\n    if v >= 0 then\n      total = total + v * weight@@\n"
      "    end\n  end\n  return total\nend\n\n",
      "count = count + 1\n    end\n  end\n  return total\nend\n" },
};

typedef struct {
    char *text;
    size_t len, cursor;
} gen_file;

static int count_lines(const char *s) { int n = 0; for (; *s; s++) n += *s == '\n'; return n; }

/* Repeats the unit until `lines` lines; the cursor goes in the middle copy. */
static int generate(const bench_lang *b, int lines, gen_file *f)
{
    int per = count_lines(b->unit), copies = lines / (per ? per : 1) + 1;
    size_t cap = (strlen(b->unit) + 32) * (size_t)copies + 64;
    f->text = malloc(cap);
    if (!f->text) return -1;
    size_t w = 0;
    if (!strcmp(b->lang, "java")) w += (size_t)snprintf(f->text, cap, "class Bench {\n");
    if (!strcmp(b->lang, "go")) w += (size_t)snprintf(f->text, cap, "package bench\n\n");
    for (int i = 0; i < copies; i++) {
        char unit[2048];
        snprintf(unit, sizeof unit, b->unit, i, i);
        char *mark = strstr(unit, "@@");
        if (mark) {
            if (i == copies / 2) f->cursor = w + (size_t)(mark - unit);
            memmove(mark, mark + 2, strlen(mark + 2) + 1);
        }
        size_t l = strlen(unit);
        memcpy(f->text + w, unit, l);
        w += l;
    }
    if (!strcmp(b->lang, "java")) { memcpy(f->text + w, "}\n", 2); w += 2; }
    f->text[w] = 0;
    f->len = w;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

typedef struct {
    double full_ms, reparse_ms, context_ms, trim_ms, defs_ms, local_share;
    size_t trimmed_len;
    const char *trim_reason;
    int parse_checked, lines;
} result;

static int run(const gram_lang *lang, const char *text, size_t len, size_t cursor,
               const char *completion, int iters, result *r)
{
    double *t = malloc((size_t)iters * 2 * sizeof *t);
    char *cur = malloc(len + 64);
    if (!t || !cur) { free(t); free(cur); return -1; }
    int few = iters / 10 > 3 ? iters / 10 : 3;
    for (int i = 0; i < few; i++) {
        double t0 = bench_now_ms();
        gram_doc *d = gram_doc_new(lang, text, len);
        gram_doc_parse(d);
        t[i] = bench_now_ms() - t0;
        gram_doc_free(d);
    }
    r->full_ms = median(t, few);
    /* tree-sitter's incremental reparse after a keystroke: type one character
     * at the cursor, reparse; delete it, reparse */
    gram_doc *d = gram_doc_new(lang, text, len);
    gram_doc_parse(d);
    for (int i = 0; i < iters; i++) {
        double t0 = bench_now_ms();
        gram_doc_edit(d, cursor, cursor, "x", 1);
        gram_doc_parse(d);
        double t1 = bench_now_ms();
        gram_doc_edit(d, cursor, cursor + 1, "", 0);
        gram_doc_parse(d);
        t[2 * i] = t1 - t0;
        t[2 * i + 1] = bench_now_ms() - t1;
    }
    r->reparse_ms = median(t, 2 * iters);
    /* the keystroke path as the server runs it when a suggestion is due: the
     * user presses Enter (a new line, indented like the cursor's), then the
     * context (a reparse within budget, else a parse of the code around the
     * cursor), then the post-processing of a multi-line completion there */
    char key[64] = "\n";
    size_t ls = cursor, kl = 1;
    while (ls > 0 && text[ls - 1] != '\n') ls--;
    while (kl < sizeof key - 1 && (text[ls + kl - 1] == ' ' || text[ls + kl - 1] == '\t')) {
        key[kl] = text[ls + kl - 1];
        kl++;
    }
    key[kl] = 0;
    memcpy(cur, text, cursor);
    memcpy(cur + cursor, key, kl);
    memcpy(cur + cursor + kl, text + cursor, len - cursor);
    double *u = t + iters;
    uint64_t local0 = gram_doc_get_stats(d).local_parses;
    for (int i = 0; i < iters; i++) {
        gram_doc_edit(d, cursor, cursor, key, kl);
        double t0 = bench_now_ms();
        gram_ctx *c = gram_context_new(d, cursor + kl);
        double t1 = bench_now_ms();
        gram_trim_result tr;
        gram_trim(c, cur, cursor + kl, cur + cursor + kl, len - cursor, completion, strlen(completion), &tr);
        t[i] = t1 - t0;
        u[i] = bench_now_ms() - t1;
        r->trimmed_len = tr.len;
        r->trim_reason = gram_trim_reason_name(tr.reason);
        r->parse_checked = tr.parse_checked;
        free(tr.text);
        gram_context_free(c);
        gram_doc_edit(d, cursor, cursor + kl, "", 0);
    }
    r->local_share = (double)(gram_doc_get_stats(d).local_parses - local0) / iters;
    r->context_ms = median(t, iters);
    r->trim_ms = median(u, iters);
    for (int i = 0; i < few; i++) {
        gram_symbols s;
        double t0 = bench_now_ms();
        gram_symbols_definitions(d, &s);
        t[i] = bench_now_ms() - t0;
        gram_symbols_free(&s);
    }
    r->defs_ms = median(t, few);
    r->lines = 0;
    for (size_t k = 0; k < len; k++) r->lines += text[k] == '\n';
    gram_doc_free(d);
    free(t);
    free(cur);
    return 0;
}

static void report(json_t *rows, const char *name, const char *source, const result *r)
{
    double post = r->context_ms + r->trim_ms;
    printf("%-10s %6d %8.2f %9.3f %7.0fx %9.3f %4.0f%% %8.3f %8.3f %7.0fx %8.2f  %s\n", name,
           r->lines, r->full_ms, r->reparse_ms, r->full_ms / r->reparse_ms, r->context_ms,
           100 * r->local_share, r->trim_ms, post, r->full_ms / post, r->defs_ms, r->trim_reason);
    json_array_append_new(rows, json_pack(
        "{s:s,s:s,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:s,s:b,s:b,s:b}",
        "language", name, "source", source, "lines", r->lines,
        "full_parse_ms", r->full_ms, "keystroke_reparse_ms", r->reparse_ms,
        "full_over_reparse", r->full_ms / r->reparse_ms,
        "context_ms", r->context_ms, "context_local_share", r->local_share,
        "trim_ms", r->trim_ms, "postprocess_ms", post, "full_over_postprocess", r->full_ms / post,
        "definitions_ms", r->defs_ms,
        "trim_reason", r->trim_reason, "parse_checked", r->parse_checked,
        "reparse_within_budget", r->reparse_ms <= BUDGET_MS,
        "postprocess_within_budget", post <= BUDGET_MS));
    fflush(stdout);
}

int bench_grammars(int argc, char **argv)
{
    const char *out = "bench/results", *only = "all", *file = NULL;
    int lines = 5000, iters = 200;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "sparkd bench grammars: '%s' needs a value\n%s", argv[i], USAGE); return 2; }
        if (!strcmp(argv[i], "--out")) out = argv[++i];
        else if (!strcmp(argv[i], "--lang")) only = argv[++i];
        else if (!strcmp(argv[i], "--lines")) lines = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--file")) file = argv[++i];
        else { fprintf(stderr, "sparkd bench grammars: unknown option '%s'\n%s", argv[i], USAGE); return 2; }
    }
    if (lines < 10 || iters < 5) { fprintf(stderr, "sparkd bench grammars: --lines >= 10, --iters >= 5\n"); return 2; }
    json_t *root = json_object(), *rows = json_array();
    json_object_set_new(root, "bench", json_string("grammars"));
    json_object_set_new(root, "lines", json_integer(lines));
    json_object_set_new(root, "iterations", json_integer(iters));
    json_object_set_new(root, "budget_ms", json_real(BUDGET_MS));
    printf("%-10s %6s %8s %9s %8s %9s %5s %8s %8s %8s %8s  %s\n", "language", "lines", "full ms",
           "reparse", "full/rep", "context", "local", "trim", "post", "full/post", "defs ms",
           "trim result");
    int ok = 1, reparse_ok = 1, ran = 0;
    for (size_t i = 0; i < sizeof LANGS / sizeof LANGS[0]; i++) {
        const gram_lang *lang = gram_lang_for_id(LANGS[i].lang);
        if (strcmp(only, "all") && strcmp(only, LANGS[i].lang) && strcmp(only, lang->name)) continue;
        if (!gram_lang_has_grammar(lang)) { printf("%-16s (no grammar vendored)\n", lang->name); continue; }
        gen_file f = { 0 };
        result r;
        if (generate(&LANGS[i], lines, &f) != 0 ||
            run(lang, f.text, f.len, f.cursor, LANGS[i].completion, iters, &r) != 0) {
            free(f.text);
            fprintf(stderr, "sparkd bench grammars: out of memory\n");
            json_decref(root);
            return 1;
        }
        report(rows, lang->name, "generated", &r);
        ok &= r.context_ms + r.trim_ms <= BUDGET_MS;
        reparse_ok &= r.reparse_ms <= BUDGET_MS;
        ran++;
        free(f.text);
        fflush(stdout);
    }
    if (file) {
        FILE *fp = fopen(file, "rb");
        const gram_lang *lang = gram_lang_find(NULL, file);
        char *text = malloc((size_t)64 << 20);
        size_t len = fp && text ? fread(text, 1, ((size_t)64 << 20) - 1, fp) : 0;
        if (fp) fclose(fp);
        if (!len || !gram_lang_has_grammar(lang)) {
            fprintf(stderr, "sparkd bench grammars: cannot bench %s (unreadable or no grammar)\n", file);
        } else {
            text[len] = 0;
            size_t cursor = len / 2;
            while (cursor < len && text[cursor] != '\n') cursor++;    /* a line end mid-file */
            result r;
            if (run(lang, text, len, cursor, "x = 1\n", iters, &r) == 0) report(rows, lang->name, file, &r);
        }
        free(text);
    }
    json_object_set_new(root, "languages", rows);
    json_object_set_new(root, "postprocess_within_budget", json_boolean(ok && ran > 0));
    json_object_set_new(root, "reparse_within_budget", json_boolean(reparse_ok && ran > 0));
    printf("\nmedians; budget %.1f ms. post-processing (context + trim, the keystroke path): %s;"
           " tree-sitter's own reparse: %s\n", BUDGET_MS, ok && ran ? "met" : "NOT met",
           reparse_ok && ran ? "met" : "NOT met everywhere");
    printf("reparse: a letter typed at the cursor (a line end in a nested block), then\n"
           "ts_tree_edit + incremental ts_parser_parse of the whole file; context: Enter pressed\n"
           "there, then gram_context_new (a reparse within %d us, else a parse of the code\n"
           "around the cursor; local: share of contexts served that way); trim: gram_trim of a\n"
           "multi-line completion, parse check included.\n", GRAM_CONTEXT_PARSE_US);
    int rc = bench_save(out, "grammars", root);
    json_decref(root);
    return rc ? 1 : 0;
}
