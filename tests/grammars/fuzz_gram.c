/* fuzz_gram.c — libFuzzer target for grammars/: random edits applied to a
 * document incrementally, then the tree compared with a full parse of the
 * final text (identical but for where comments hang, whenever that parse
 * has no error and the text no control characters; see test_gram_parse.c
 * and plain_text), then the cursor context, trimming and symbols at a
 * position the input picks. Any crash, sanitizer report or property
 * violation (abort) is a finding.
 *
 * Input: [lang][seed length: 2][seed bytes]{[op][pos: 2][del][ins length][ins bytes]}*
 * and the remaining bytes (if any) as a completion.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gram_int.h"
#include "tree_same.h"

#define TEXT_MAX 16384      /* keeps each run fast; nesting depth is bounded by it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static int take(reader *r, size_t k, const uint8_t **out)
{
    if (r->n < k) return 0;
    *out = r->p;
    r->p += k;
    r->n -= k;
    return 1;
}

static unsigned u8(reader *r) { const uint8_t *b; return take(r, 1, &b) ? b[0] : 0; }
static unsigned u16(reader *r) { const uint8_t *b; return take(r, 2, &b) ? (unsigned)(b[0] | b[1] << 8) : 0; }

/* Whether text holds no control characters but tab, newline and CR. Lexers
 * and external scanners treat the others differently when lexing afresh and
 * when reusing a subtree (tree-sitter-bash joins a word with control bytes
 * and a following $(...) into one concatenation in a full parse, not after
 * edits), so the incremental-equals-full oracle is kept to such text. */
static int plain_text(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return 0;
    }
    return 1;
}

static void check_context(gram_doc *d, size_t off, const char *comp, size_t clen)
{
    size_t len;
    const char *text = gram_doc_text(d, &len);
    gram_ctx *c = gram_context_new(d, off);
    if (!c) return;
    if (c->offset > len || c->line_start > c->offset || c->signature == NULL ||
        strlen(c->signature) > GRAM_SIGNATURE_MAX)
        abort();
    gram_trim_result r;
    size_t n = gram_trim(c, text, c->offset, text + c->offset, len - c->offset, comp, clen, &r);
    if (r.text && (n != r.len || strlen(r.text) > r.len || n > clen * 8 + 1)) abort();
    free(r.text);
    gram_symbols s;
    if (gram_symbols_references(c, &s) == 0) {
        for (size_t i = 0; i < s.n; i++)
            if (s.items[i].end > len || !s.items[i].name) abort();
        gram_symbols_free(&s);
    }
    gram_context_free(c);
    if (gram_symbols_definitions(d, &s) == 0) {
        for (size_t i = 0; i < s.n; i++)
            if (s.items[i].sig_end > s.items[i].end || s.items[i].end > len) abort();
        gram_symbols_free(&s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size };
    unsigned which = u8(&r) % (unsigned)(gram_lang_count() + 1);
    const gram_lang *lang = which < gram_lang_count() ? gram_lang_at(which) : gram_lang_text();
    size_t seed_len = u16(&r) % (TEXT_MAX + 1);
    if (seed_len > r.n) seed_len = r.n;
    const uint8_t *seed;
    take(&r, seed_len, &seed);
    gram_doc *d = gram_doc_new(lang, (const char *)seed, seed_len);
    if (!d) return 0;
    d->limit_us = 20000;        /* some texts never finish parsing: keep runs quick */
    gram_doc_parse(d);
    size_t off = 0;
    for (int step = 0; r.n >= 5 && step < 64; step++) {
        unsigned op = u8(&r), pos = u16(&r), del = u8(&r), ilen = u8(&r);
        const uint8_t *ins = NULL;
        if (ilen > r.n) ilen = (unsigned)r.n;
        take(&r, ilen, &ins);
        size_t len;
        gram_doc_text(d, &len);
        if (len + ilen > TEXT_MAX) break;
        off = len ? pos % (len + 1) : 0;
        if (op & 1) {
            gram_doc_edit(d, off, off + del, (const char *)ins, ilen);
            off += ilen;
        }
        if (op & 2) gram_doc_parse(d);     /* several edits per reparse, sometimes */
        if (op & 4) gram_doc_parse_for(d, 1 + (op >> 4));
        if (op & 8) d->slow = 1;           /* the next context takes the local-tree path */
        if ((op & 0xf0) == 0xf0) break;    /* the rest is the completion */
    }
    size_t len;
    const char *text = gram_doc_text(d, &len);
    if (gram_doc_parse(d) && plain_text(text, len)) {
        gram_doc *fresh = gram_doc_new(lang, text, len);
        if (fresh) fresh->limit_us = 20000;
        if (fresh && gram_doc_parse(fresh) && !ts_node_has_error(ts_tree_root_node(fresh->tree)) &&
            !tree_same(d->tree, fresh->tree)) {
            char *a = ts_node_string(ts_tree_root_node(d->tree)), *b = ts_node_string(ts_tree_root_node(fresh->tree));
            fprintf(stderr, "fuzz_gram: %s: incremental tree differs from a full parse\n  incremental %s\n"
                    "  full        %s\n", lang->name, a, b);
            abort();
        }
        gram_doc_free(fresh);
    }
    check_context(d, off, (const char *)r.p, r.n);
    gram_doc_free(d);
    return 0;
}
