/* engine/tok_pre.c — pre-tokenizers: cut text into the words BPE merges run on.
 *
 * Each tokenizer.ggml.pre kind is llama.cpp's list of regexes, applied in turn: every regex
 * splits each piece the previous one left into its matches and the gaps between them. The two
 * big patterns (GPT-2, Llama-3/Qwen2) are written as one state machine each; the small ones
 * (\p{N}, [\r\n], \s?\p{L}+ ...) as "runs of a class" stages. No regex library.
 *
 * The text is decoded once into code points with their classes (unicode_tab.c). A byte that
 * is not part of valid UTF-8 is one code point of its own, of class \p{S} like the U+FFFD
 * llama.cpp puts there, but it keeps its byte: words are byte ranges of the original text.
 * Owns nothing beyond one call.
 */
#include "tok.h"

#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 -------------------------------------------------------------------------- */

size_t eng_tok_utf8_next(const char *str, size_t n, uint32_t *cp)
{
    const uint8_t *s = (const uint8_t *)str;
    uint8_t b = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    uint32_t v;

    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2, v = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3, v = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0;          /* no overlongs */
        else if (b == 0xED)
            hi = 0x9F;          /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4, v = b & 0x07;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;          /* nothing above U+10FFFF */
    } else {
        *cp = ENG_TOK_UTF8_BAD;
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) {
            *cp = ENG_TOK_UTF8_MORE;
            return n;
        }
        if (s[i] < lo || s[i] > hi) {
            *cp = ENG_TOK_UTF8_BAD;
            return i;
        }
        lo = 0x80, hi = 0xBF;
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return need;
}

/* ---- Decoded text ------------------------------------------------------------------- */

/* PRESENT marks a code point inside the piece being split, so that class 0 means "past the
 * end" (llama.cpp's empty flags) while unassigned code points still count as "other". */
enum { PRESENT = 0x10, BAD_CP = 0xFFFD };

typedef struct {
    uint32_t n;     /* code points */
    uint32_t *cp;   /* [n] code point (BAD_CP for an invalid byte) */
    uint32_t *off;  /* [n + 1] byte offset of each; off[n] = text length */
    uint8_t *cls;   /* [n] eng_tok_uclass() | PRESENT */
} text_cps;

typedef struct {
    uint32_t *v;    /* piece end indices (code points), increasing */
    size_t n, cap;
} seglist;

static int decode_text(text_cps *c, const char *text, size_t len)
{
    /* One block: cp and off (4 bytes each, off has one more), then cls. */
    char *mem = malloc(len * 9 + 4);
    if (!mem)
        return ENG_TOK_ENOMEM;
    c->cp = (uint32_t *)mem;
    c->off = c->cp + len;
    c->cls = (uint8_t *)(c->off + len + 1);
    uint32_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = eng_tok_utf8_next(text + i, len - i, &cp);
        uint8_t cl;
        if (cp >= ENG_TOK_UTF8_MORE) {
            cp = BAD_CP, k = 1, cl = ENG_TOK_UC_SYMBOL;
        } else {
            cl = eng_tok_uclass(cp);
        }
        c->cp[n] = cp;
        c->off[n] = (uint32_t)i;
        c->cls[n] = cl | PRESENT;
        n++, i += k;
    }
    c->off[n] = (uint32_t)len;
    c->n = n;
    return 0;
}

static int seg_grow(seglist *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    uint32_t *v = realloc(s->v, cap * sizeof *v);
    if (!v)
        return ENG_TOK_ENOMEM;
    s->v = v, s->cap = cap;
    return 0;
}

static inline int seg_push(seglist *s, uint32_t end)
{
    if (s->n == s->cap && seg_grow(s))
        return ENG_TOK_ENOMEM;
    s->v[s->n++] = end;
    return 0;
}

/* Class and code point of i inside the piece [.., e): 0 / ~0 past its end. */
static inline uint8_t cl_at(const text_cps *c, uint32_t i, uint32_t e)
{
    return i < e ? c->cls[i] : 0;
}

static inline uint32_t cp_at(const text_cps *c, uint32_t i, uint32_t e)
{
    return i < e ? c->cp[i] : 0xFFFFFFFFu;
}

static inline bool is_l(uint8_t k) { return (k & ENG_TOK_UC_GROUP) == ENG_TOK_UC_LETTER; }
static inline bool is_n(uint8_t k) { return (k & ENG_TOK_UC_GROUP) == ENG_TOK_UC_NUMBER; }
static inline bool is_p(uint8_t k) { return (k & ENG_TOK_UC_GROUP) == ENG_TOK_UC_PUNCT; }
static inline bool is_s(uint8_t k) { return (k & ENG_TOK_UC_SPACE) != 0; }

/* [^\s\p{L}\p{N}] for a code point that is there. */
static inline bool is_other(uint8_t k)
{
    return (k & PRESENT) && !is_s(k) && !is_l(k) && !is_n(k);
}

static inline uint32_t ascii_lower(uint32_t cp)
{
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

static inline bool is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/* 's|'t|'re|'ve|'m|'ll|'d at p (fold: case-insensitively): its end, or 0. */
static uint32_t contraction(const text_cps *c, uint32_t p, uint32_t e, bool fold)
{
    if (c->cp[p] != '\'' || p + 1 >= e)
        return 0;
    uint32_t a = cp_at(c, p + 1, e), b = cp_at(c, p + 2, e);
    if (fold)
        a = ascii_lower(a), b = ascii_lower(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return p + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return p + 3;
    return 0;
}

/* ---- GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ --- */

static uint32_t gpt2_next(const text_cps *c, uint32_t p, uint32_t e)
{
    uint32_t q = contraction(c, p, e, false);
    if (q)
        return q;
    bool sp = c->cp[p] == ' ';
    uint8_t k = sp ? cl_at(c, p + 1, e) : c->cls[p];
    if (is_l(k) || is_n(k) || is_other(k)) {
        /* " ?X+" for the class X of the first non-space: a run of exactly that class */
        bool (*same)(uint8_t) = is_l(k) ? is_l : is_n(k) ? is_n : is_other;
        q = p + sp;
        while (same(cl_at(c, q, e)))
            q++;
        return q;
    }
    uint32_t w = 0;
    while (is_s(cl_at(c, p + w, e)))
        w++;
    if (w > 1 && p + w < e)
        return p + w - 1;   /* \s+(?!\S): leave the last space to the word after it */
    return p + (w ? w : 1);
}

/* ---- Llama-3 / Qwen2: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}|
 *      ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+    (D = 3 Llama-3, 1 Qwen2) ---- */

static uint32_t llama3_next(const text_cps *c, uint32_t p, uint32_t e, uint32_t max_digits)
{
    uint32_t q = contraction(c, p, e, true);
    if (q)
        return q;
    uint32_t cp = c->cp[p];
    uint8_t k = c->cls[p];
    if (!is_crlf(cp) && !is_n(k) && (is_l(k) || is_l(cl_at(c, p + 1, e)))) {
        q = p + 1;
        while (is_l(cl_at(c, q, e)))
            q++;
        return q;
    }
    if (is_n(k)) {
        q = p + 1;
        while (q - p < max_digits && is_n(cl_at(c, q, e)))
            q++;
        return q;
    }
    uint8_t k2 = cp == ' ' ? cl_at(c, p + 1, e) : k;
    if (!is_s(k2) && !is_l(k2) && !is_n(k2)) {
        /* k2 may be 0 (a lone space at the end): the piece is then just that space */
        q = p + (cp == ' ');
        while (is_other(cl_at(c, q, e)))
            q++;
        while (is_crlf(cp_at(c, q, e)))
            q++;
        return q;
    }
    uint32_t w = 0, last_crlf = 0;
    while (is_s(cl_at(c, p + w, e))) {
        if (is_crlf(c->cp[p + w]))
            last_crlf = p + w + 1;
        w++;
    }
    if (last_crlf)
        return last_crlf;   /* \s*[\r\n]+ */
    if (w > 1 && p + w < e)
        return p + w - 1;
    return p + (w ? w : 1);
}

/* ---- Stages ------------------------------------------------------------------------- */

typedef enum {
    ST_GPT2,
    ST_LLAMA3,
    ST_QWEN2,
    ST_DIGIT,        /* \p{N}           each a piece */
    ST_NUMBERS,      /* \p{N}+ */
    ST_DIGITS3,      /* [0-9][0-9][0-9] */
    ST_CRLF,         /* [\r\n]          each a piece */
    ST_SP_LETTERS,   /* \s?\p{L}+ */
    ST_SP_PUNCT,     /* \s?\p{P}+ */
    ST_CJK,          /* [一-龥ࠀ-一가-퟿]+ = [U+0800-U+9FA5 U+AC00-U+D7FF]+ */
    ST_PUNCT_OPS,    /* [\p{P}\$\+<=>\^~\|]+ */
    ST_END,
} stage;

static bool in_class(stage st, const text_cps *c, uint32_t i)
{
    uint32_t cp = c->cp[i];
    uint8_t k = c->cls[i];
    switch (st) {
    case ST_DIGIT:
    case ST_NUMBERS:
        return is_n(k);
    case ST_CRLF:
        return is_crlf(cp);
    case ST_SP_LETTERS:
        return is_l(k);
    case ST_SP_PUNCT:
        return is_p(k);
    case ST_CJK:
        return (cp >= 0x0800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF);
    case ST_PUNCT_OPS:
        return is_p(k) || (cp != 0 && cp < 128 && strchr("$+<=>^~|", (int)cp));
    default:
        return false;
    }
}

/* The end of the match of stage st that starts at p, or p when none starts there. */
static uint32_t class_match(stage st, const text_cps *c, uint32_t p, uint32_t e)
{
    uint32_t q = p;
    if (st == ST_DIGITS3) {
        for (; q < p + 3 && q < e && c->cp[q] >= '0' && c->cp[q] <= '9'; q++) {}
        return q == p + 3 ? q : p;
    }
    if ((st == ST_SP_LETTERS || st == ST_SP_PUNCT) && is_s(c->cls[p]) && p + 1 < e &&
        in_class(st, c, p + 1))
        q = p + 1;          /* the optional leading space */
    if (!in_class(st, c, q))
        return p;
    if (st == ST_DIGIT || st == ST_CRLF)
        return q + 1;
    while (q < e && in_class(st, c, q))
        q++;
    return q;
}

/* Splits the piece [s, e) by stage st, appending the new piece ends to out. */
static int split_piece(stage st, const text_cps *c, uint32_t s, uint32_t e, seglist *out)
{
    uint32_t p = s, gap = s;
    while (p < e) {
        uint32_t q;
        switch (st) {
        case ST_GPT2:   q = gpt2_next(c, p, e); break;
        case ST_LLAMA3: q = llama3_next(c, p, e, 3); break;
        case ST_QWEN2:  q = llama3_next(c, p, e, 1); break;
        default:        q = class_match(st, c, p, e); break;
        }
        if (q == p) {       /* no match here: part of the gap */
            p++;
            continue;
        }
        if (gap < p && seg_push(out, p))
            return ENG_TOK_ENOMEM;
        if (seg_push(out, q))
            return ENG_TOK_ENOMEM;
        p = gap = q;
    }
    if (gap < e && seg_push(out, e))
        return ENG_TOK_ENOMEM;
    return 0;
}

static const stage *stages_of(eng_tok_pre pre)
{
    static const stage def[] = {ST_PUNCT_OPS, ST_GPT2, ST_NUMBERS, ST_DIGITS3, ST_END};
    static const stage gpt2[] = {ST_GPT2, ST_END};
    static const stage llama3[] = {ST_LLAMA3, ST_END};
    static const stage qwen2[] = {ST_QWEN2, ST_END};
    static const stage dsc[] = {ST_CRLF, ST_SP_LETTERS, ST_SP_PUNCT, ST_CJK, ST_DIGIT, ST_END};
    static const stage star[] = {ST_DIGIT, ST_GPT2, ST_END};
    switch (pre) {
    case ENG_TOK_PRE_GPT2:           return gpt2;
    case ENG_TOK_PRE_LLAMA3:         return llama3;
    case ENG_TOK_PRE_QWEN2:          return qwen2;
    case ENG_TOK_PRE_DEEPSEEK_CODER: return dsc;
    case ENG_TOK_PRE_STARCODER:      return star;
    case ENG_TOK_PRE_DEFAULT:
    default:                         return def;
    }
}

int64_t eng_tok_pre_split(eng_tok_pre pre, const char *text, size_t len, uint32_t **ends)
{
    *ends = NULL;
    if (len > ENG_TOK_MAX_TEXT)
        return ENG_TOK_E2BIG;
    if (len == 0)
        return 0;
    text_cps c;
    int rc = decode_text(&c, text, len);
    if (rc)
        return rc;
    /* code has a word every 3-4 bytes: start the lists at that size */
    seglist cur = {0}, next = {.cap = len / 3 + 16};
    next.v = malloc(next.cap * sizeof *next.v);
    rc = next.v ? seg_push(&cur, c.n) : ENG_TOK_ENOMEM;
    for (const stage *st = stages_of(pre); !rc && *st != ST_END; st++) {
        next.n = 0;
        uint32_t s = 0;
        for (size_t i = 0; !rc && i < cur.n; i++) {
            rc = split_piece(*st, &c, s, cur.v[i], &next);
            s = cur.v[i];
        }
        seglist tmp = cur;
        cur = next, next = tmp;
    }
    free(next.v);
    if (rc) {
        free(cur.v);
        free(c.cp);
        return rc;
    }
    for (size_t i = 0; i < cur.n; i++)    /* code point indices -> byte offsets */
        cur.v[i] = c.off[cur.v[i]];
    free(c.cp);
    *ends = cur.v;
    return (int64_t)cur.n;
}

/* ---- Names -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    eng_tok_pre pre;
} pre_names[] = {
    {"default", ENG_TOK_PRE_DEFAULT},
    {"gpt2", ENG_TOK_PRE_GPT2},             {"gpt-2", ENG_TOK_PRE_GPT2},
    {"llama3", ENG_TOK_PRE_LLAMA3},         {"llama-bpe", ENG_TOK_PRE_LLAMA3},
    {"llama-v3", ENG_TOK_PRE_LLAMA3},       {"dbrx", ENG_TOK_PRE_LLAMA3},
    {"smaug-bpe", ENG_TOK_PRE_LLAMA3},
    {"qwen2", ENG_TOK_PRE_QWEN2},           {"deepseek-r1-qwen", ENG_TOK_PRE_QWEN2},
    {"stablelm2", ENG_TOK_PRE_QWEN2},
    {"deepseek-coder", ENG_TOK_PRE_DEEPSEEK_CODER},
    {"starcoder", ENG_TOK_PRE_STARCODER},   {"refact", ENG_TOK_PRE_STARCODER},
    {"smollm", ENG_TOK_PRE_STARCODER},      {"codeshell", ENG_TOK_PRE_STARCODER},
};

int eng_tok_pre_parse(const char *name, eng_tok_pre *out)
{
    if (!name || !*name) {
        *out = ENG_TOK_PRE_DEFAULT;
        return 0;
    }
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strcmp(name, pre_names[i].name) == 0) {
            *out = pre_names[i].pre;
            return 0;
        }
    }
    return -1;
}

const char *eng_tok_pre_name(eng_tok_pre pre)
{
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
        if (pre_names[i].pre == pre)
            return pre_names[i].name;
    return "?";
}
