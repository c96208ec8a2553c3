/* engine/fim.c — FIM prompt building (fim.h): template detection, budgeted truncation,
 * repository context, assembly in PSM / SPM / SPM_PAPER / PLAIN order.
 *
 * Data flow of eng_fim_build: markers from eng_tok_specials -> [BOS] -> repository context
 * (each file cut to what is left of extra_max, last file first) -> prefix tokens (cut to keep
 * the end) -> suffix tokens (cut to keep the beginning) -> concatenation with the markers in
 * the order asked. Every piece of text is tokenized on its own, so budgets are exact.
 * Owns nothing beyond one call except the prompt's token array.
 */
#include "fim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Token vectors -------------------------------------------------------------------- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} tvec;

static int tv_reserve(tvec *t, size_t add)
{
    if (t->cap - t->n >= add)
        return 0;
    size_t cap = t->cap ? t->cap : 64;
    while (cap - t->n < add) {
        if (cap > SIZE_MAX / 2 / sizeof *t->v)
            return ENG_FIM_ENOMEM;
        cap *= 2;
    }
    int32_t *v = realloc(t->v, cap * sizeof *v);
    if (!v)
        return ENG_FIM_ENOMEM;
    t->v = v;
    t->cap = cap;
    return 0;
}

static int tv_push(tvec *t, int32_t id)
{
    if (tv_reserve(t, 1) != 0)
        return ENG_FIM_ENOMEM;
    t->v[t->n++] = id;
    return 0;
}

static int tv_append(tvec *t, const tvec *src)
{
    if (src->n == 0)
        return 0;
    if (tv_reserve(t, src->n) != 0)
        return ENG_FIM_ENOMEM;
    memcpy(t->v + t->n, src->v, src->n * sizeof *t->v);
    t->n += src->n;
    return 0;
}

static void tv_free(tvec *t)
{
    free(t->v);
    *t = (tvec){0};
}

/* ---- Tokenizing ------------------------------------------------------------------------ */

static size_t piece_len(const eng_tok *t, int32_t id, const char **p)
{
    size_t n = 0;
    *p = eng_tok_piece(t, id, &n);
    return *p ? n : 0;
}

/* Appends the tokens of s[0..n) to out. inner: the text continues text before it, so a
 * SentencePiece dummy "▁" the tokenizer put in front is dropped when it is a token of its own
 * (a dummy merged into the first word cannot be taken out: eng_tok has no switch for it). */
static int encode(const eng_tok *t, const char *s, size_t n, bool inner, tvec *out)
{
    if (n == 0)
        return 0;
    size_t cap = n + 2;  /* a token covers at least one byte; SPM may add one dummy */
    for (;;) {
        if (tv_reserve(out, cap) != 0)
            return ENG_FIM_ENOMEM;
        int64_t r = eng_tok_encode(t, s, n, false, out->v + out->n, cap);
        if (r < 0)
            return r == ENG_TOK_ENOMEM ? ENG_FIM_ENOMEM : ENG_FIM_ETOK;
        if ((size_t)r <= cap) {
            const char *p;
            size_t skip = 0;
            if (inner && r > 0 && eng_tok_model_kind(t) == ENG_TOK_MODEL_SPM && s[0] != ' ' &&
                piece_len(t, out->v[out->n], &p) == 1 && p[0] == ' ')
                skip = 1;
            memmove(out->v + out->n, out->v + out->n + skip, ((size_t)r - skip) * sizeof *out->v);
            out->n += (size_t)r - skip;
            return 0;
        }
        cap = (size_t)r;
    }
}

/* Encodes the concatenation of the NULL-terminated list of strings. */
static int encode_strs(const eng_tok *t, const char *const *strs, bool inner, tvec *out)
{
    size_t n = 0;
    for (size_t i = 0; strs[i]; i++)
        n += strlen(strs[i]);
    char *buf = malloc(n + 1);
    if (!buf)
        return ENG_FIM_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; strs[i]; i++) {
        size_t l = strlen(strs[i]);
        memcpy(buf + o, strs[i], l);
        o += l;
    }
    int rc = encode(t, buf, n, inner, out);
    free(buf);
    return rc;
}

/* ---- Truncation ------------------------------------------------------------------------ */

/* True when cutting between ids[k-1] and ids[k] splits no line: ids[k-1] ends a line, or
 * ids[k] starts with the line break that ends one. When the end is kept (keep_end), a token
 * that is only line breaks does not count: the cut after it keeps less and is as good. */
static bool line_boundary(const eng_tok *t, const int32_t *ids, size_t k, bool keep_end)
{
    const char *p;
    size_t n = piece_len(t, ids[k], &p);
    if (n && (p[0] == '\n' || p[0] == '\r') && !(keep_end && p[n - 1] == '\n'))
        return true;
    n = piece_len(t, ids[k - 1], &p);
    return n && p[n - 1] == '\n';
}

/* Bytes the tokens stand for beyond the window's own (SPM's dummy space), 0 if none. */
static size_t extra_bytes(const eng_tok *t, const tvec *v, size_t window)
{
    size_t sum = 0;
    const char *p;
    for (size_t i = 0; i < v->n; i++)
        sum += piece_len(t, v->v[i], &p);
    return sum > window ? sum - window : 0;
}

/* A first guess of the bytes that hold `budget` tokens (code runs 3-4 bytes a token). */
static size_t window_guess(size_t budget, size_t n)
{
    return budget >= n / 4 ? n : budget * 4 + 64;
}

/* Start of a window of about `want` bytes at the end of s[0..n): moved back to a line start
 * when one is within `want` more bytes, else forward to a UTF-8 character start. */
static size_t window_start(const char *s, size_t n, size_t want)
{
    size_t w0 = n - want;
    for (size_t i = w0; i > 0 && w0 - i < want; i--)
        if (s[i - 1] == '\n')
            return i;
    while (w0 < n && ((unsigned char)s[w0] & 0xC0) == 0x80)
        w0++;
    return w0;
}

/* End of a window of about `want` bytes at the start of s[0..n), moved likewise. */
static size_t window_end(const char *s, size_t n, size_t want)
{
    const char *nl = memchr(s + want, '\n', n - want < want ? n - want : want);
    if (nl)
        return (size_t)(nl - s) + 1;
    size_t e = want;
    while (e < n && ((unsigned char)s[e] & 0xC0) == 0x80)
        e++;
    return e;
}

/* Tokens of the end of s[0..n) within budget into out; *start receives the byte offset where
 * the kept text starts. hint: see eng_fim_input.prefix_keep_from. */
static int cut_keep_end(const eng_tok *t, const char *s, size_t n, size_t budget, size_t hint,
                        tvec *out, size_t *start)
{
    out->n = 0;
    *start = n;
    if (budget == 0 || n == 0)
        return 0;
    size_t want = window_guess(budget, n), w;
    for (;;) {
        w = want >= n ? 0 : window_start(s, n, want);
        out->n = 0;
        int rc = encode(t, s + w, n - w, false, out);
        if (rc != 0)
            return rc;
        if (out->n > budget || w == 0)
            break;
        want = want > n / 2 ? n : want * 2;
    }
    size_t c = out->n;
    if (c <= budget) {
        *start = 0;
        return 0;
    }
    /* Keep ids[k..c): k >= k0. A new start (no hint, or one that no longer
     * fits) leaves budget/8 free, so the next keystrokes, which add tokens at
     * the end, can keep it (and the KV computed from it) for a while. */
    size_t k0 = c - budget, lo = k0 + budget / 8;
    if (lo >= c)
        lo = k0;
    size_t hi = lo + budget / 2 + 1 < c ? lo + budget / 2 + 1 : c;
    size_t d = extra_bytes(t, out, n - w), cum = 0, k_hint = 0, k_line = 0;
    size_t off_hint = 0, off_line = 0, off_lo = w;
    for (size_t k = 0; k < c; k++) {
        size_t off = w + (cum > d ? cum - d : 0);  /* text offset where ids[k] starts */
        if (k == lo)
            off_lo = off;
        if (hint && k >= k0 && off == hint && !k_hint)
            k_hint = k, off_hint = off;
        if (k >= lo && k < hi && !k_line && line_boundary(t, out->v, k, true))
            k_line = k, off_line = off;
        if (off > hint && (k_line || k >= hi) && k >= lo)
            break;
        const char *p;
        cum += piece_len(t, out->v[k], &p);
    }
    size_t k = k_hint ? k_hint : k_line ? k_line : lo;
    *start = k_hint ? off_hint : k_line ? off_line : off_lo;
    memmove(out->v, out->v + k, (c - k) * sizeof *out->v);
    out->n = c - k;
    return 0;
}

/* Tokens of the beginning of s[0..n) within budget into out; *end receives the byte offset
 * where the kept text ends. */
static int cut_keep_begin(const eng_tok *t, const char *s, size_t n, size_t budget, tvec *out,
                          size_t *end)
{
    out->n = 0;
    *end = 0;
    if (budget == 0 || n == 0)
        return 0;
    size_t want = window_guess(budget, n), e;
    for (;;) {
        e = want >= n ? n : window_end(s, n, want);
        out->n = 0;
        int rc = encode(t, s, e, true, out);
        if (rc != 0)
            return rc;
        if (out->n > budget || e == n)
            break;
        want = want > n / 2 ? n : want * 2;
    }
    if (out->n <= budget) {
        *end = e;
        return 0;
    }
    size_t k = budget;  /* keep ids[0..k) */
    for (size_t j = budget; j > 0 && budget - j <= budget / 2; j--) {
        if (line_boundary(t, out->v, j, false)) {
            k = j;
            break;
        }
    }
    size_t d = extra_bytes(t, out, e), cum = 0;
    const char *p;
    for (size_t i = 0; i < k; i++)
        cum += piece_len(t, out->v[i], &p);
    *end = cum > d ? cum - d : 0;
    out->n = k;
    return 0;
}

/* ---- Repository context ---------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The line that introduces a file: <file_sep>path\n, or "<comment> path\n" as text. */
static int file_header(const eng_tok *t, const eng_fim_input *in, const char *path, tvec *out)
{
    int32_t sep = eng_tok_specials(t)->fim_sep;
    if (sep >= 0) {
        const char *strs[] = {path, "\n", NULL};
        int rc = tv_push(out, sep);
        return rc ? rc : encode_strs(t, strs, true, out);
    }
    const char *strs[] = {in->line_comment, " ", path, "\n", NULL};
    return encode_strs(t, strs, true, out);
}

/* One context file within *left tokens: header, text (beginning kept), a closing newline
 * when the kept text lacks one. Returns 0 with out->n == 0 when it does not fit. */
static int context_file(const eng_tok *t, const eng_fim_input *in, const eng_fim_file *f,
                        const tvec *nl, size_t *left, tvec *out)
{
    tvec body = {0};
    size_t end;
    int rc = file_header(t, in, f->path, out);
    if (rc != 0 || out->n + (f->len ? nl->n + 1 : 0) > *left)
        goto none;
    size_t room = *left - out->n - (f->len ? nl->n : 0);
    if (in->file_max && room > in->file_max)
        room = in->file_max;
    rc = cut_keep_begin(t, f->text, f->len, room, &body, &end);
    if (rc != 0 || (f->len && body.n == 0))
        goto none;
    rc = tv_append(out, &body);
    if (rc == 0 && end > 0 && f->text[end - 1] != '\n')
        rc = tv_append(out, nl);
    if (rc != 0)
        goto none;
    tv_free(&body);
    *left -= out->n;
    return 0;
none:
    tv_free(&body);
    out->n = 0;
    return rc;
}

/* [ctx]: the repo line, the files that fit (budget spent last file first), the current
 * file's header. Nothing at all when even the repo line and header do not fit. */
static int build_context(const eng_tok *t, const eng_fim_input *in, tvec *out, size_t *n_files)
{
    const eng_tok_special *sp = eng_tok_specials(t);
    bool sep = sp->fim_sep >= 0, text = !sep && in->line_comment && in->line_comment[0];
    bool repo = sep && sp->fim_rep >= 0 && in->repo_name && in->repo_name[0];
    bool files = in->n_files > 0 && (sep || text);
    *n_files = 0;
    if (!repo && !files)
        return 0;
    tvec head = {0}, tail = {0}, nl = {0}, *fv = calloc(in->n_files + 1, sizeof *fv);
    int rc = fv ? 0 : ENG_FIM_ENOMEM;
    if (rc == 0 && repo) {
        const char *strs[] = {in->repo_name, "\n", NULL};
        rc = tv_push(&head, sp->fim_rep);
        rc = rc ? rc : encode_strs(t, strs, true, &head);
    }
    rc = rc ? rc : file_header(t, in, in->path ? in->path : "untitled", &tail);
    rc = rc ? rc : encode(t, "\n", 1, true, &nl);
    if (rc != 0 || head.n + tail.n > in->extra_max)
        goto done;
    size_t left = in->extra_max - head.n - tail.n, first = in->n_files;
    for (size_t i = in->n_files; files && i-- > 0;) {
        rc = context_file(t, in, &in->files[i], &nl, &left, &fv[i]);
        if (rc != 0 || fv[i].n == 0)
            break;
        first = i;
    }
    if (rc != 0)
        goto done;
    rc = tv_append(out, &head);
    for (size_t i = first; rc == 0 && i < in->n_files; i++)
        rc = tv_append(out, &fv[i]);
    rc = rc ? rc : tv_append(out, &tail);
    *n_files = in->n_files - first;
done:
    for (size_t i = 0; fv && i < in->n_files; i++)
        tv_free(&fv[i]);
    free(fv);
    tv_free(&head);
    tv_free(&tail);
    tv_free(&nl);
    return rc;
}

/* ---- Templates ------------------------------------------------------------------------- */

static bool text_is(const eng_tok *t, int32_t id, const char *s)
{
    size_t n;
    const char *p = eng_tok_text(t, id, &n);
    return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

eng_fim_family eng_fim_detect(const eng_tok *t)
{
    const eng_tok_special *sp = eng_tok_specials(t);
    if (sp->fim_pre < 0 || sp->fim_suf < 0 || sp->fim_mid < 0)
        return ENG_FIM_NONE;
    if (text_is(t, sp->fim_pre, "<|fim_prefix|>"))
        return ENG_FIM_QWEN;
    if (text_is(t, sp->fim_pre, "<fim_prefix>") || text_is(t, sp->fim_pre, "<fim-prefix>"))
        return ENG_FIM_STARCODER;
    if (text_is(t, sp->fim_pre, "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>"))
        return ENG_FIM_DEEPSEEK;
    if (text_is(t, sp->fim_pre, "<PRE>") || text_is(t, sp->fim_pre, "\xE2\x96\x81<PRE>"))
        return ENG_FIM_CODELLAMA;
    return ENG_FIM_GENERIC;
}

const char *eng_fim_family_name(eng_fim_family f)
{
    switch (f) {
    case ENG_FIM_NONE: return "none";
    case ENG_FIM_QWEN: return "qwen";
    case ENG_FIM_STARCODER: return "starcoder";
    case ENG_FIM_DEEPSEEK: return "deepseek-coder";
    case ENG_FIM_CODELLAMA: return "codellama";
    case ENG_FIM_GENERIC: return "generic";
    }
    return "unknown";
}

const char *eng_fim_order_name(eng_fim_order o)
{
    switch (o) {
    case ENG_FIM_PSM: return "psm";
    case ENG_FIM_SPM: return "spm";
    case ENG_FIM_SPM_PAPER: return "spm-paper";
    case ENG_FIM_PLAIN: return "plain";
    }
    return "unknown";
}

void eng_fim_input_init(eng_fim_input *in)
{
    memset(in, 0, sizeof *in);
    in->order = ENG_FIM_PSM;
    in->prefix_max = 1536;
    in->suffix_max = 512;
    in->extra_max = 1024;
}

static int check_input(const eng_fim_input *in, char *err, size_t errlen)
{
    if ((unsigned)in->order > ENG_FIM_PLAIN) {
        set_err(err, errlen, "fim: unknown order %d", (int)in->order);
        return ENG_FIM_EINVAL;
    }
    if ((!in->prefix && in->prefix_len) || (!in->suffix && in->suffix_len) ||
        (!in->files && in->n_files)) {
        set_err(err, errlen, "fim: NULL text with a nonzero length");
        return ENG_FIM_EINVAL;
    }
    for (size_t i = 0; i < in->n_files; i++) {
        if (!in->files[i].path || (!in->files[i].text && in->files[i].len)) {
            set_err(err, errlen, "fim: context file %zu has no path or a NULL text", i);
            return ENG_FIM_EINVAL;
        }
    }
    return 0;
}

/* Appends the FIM part in the order asked: markers, prefix tokens pv, suffix tokens sv. */
static int assemble(const eng_tok_special *sp, eng_fim_order order, const tvec *pv,
                    const tvec *sv, tvec *all, eng_fim_prompt *out)
{
    int rc = 0;
#define PUSH(id) (rc = rc ? rc : tv_push(all, (id)))
#define PART(v, b, e) (out->b = all->n, rc = rc ? rc : tv_append(all, (v)), out->e = all->n)
    switch (order) {
    case ENG_FIM_PSM:
        PUSH(sp->fim_pre), PART(pv, prefix_begin, prefix_end);
        PUSH(sp->fim_suf), PART(sv, suffix_begin, suffix_end), PUSH(sp->fim_mid);
        break;
    case ENG_FIM_SPM:
        PUSH(sp->fim_suf), PART(sv, suffix_begin, suffix_end);
        PUSH(sp->fim_pre), PART(pv, prefix_begin, prefix_end), PUSH(sp->fim_mid);
        break;
    case ENG_FIM_SPM_PAPER:
        PUSH(sp->fim_pre), PUSH(sp->fim_suf), PART(sv, suffix_begin, suffix_end);
        PUSH(sp->fim_mid), PART(pv, prefix_begin, prefix_end);
        break;
    case ENG_FIM_PLAIN:
        PART(pv, prefix_begin, prefix_end);
        out->suffix_begin = out->suffix_end = all->n;
        break;
    }
#undef PUSH
#undef PART
    return rc;
}

int eng_fim_build(const eng_tok *t, const eng_fim_input *in, eng_fim_prompt *out, char *err,
                  size_t errlen)
{
    if (!out)
        return ENG_FIM_EINVAL;
    memset(out, 0, sizeof *out);
    if (!t || !in) {
        set_err(err, errlen, "fim: no tokenizer or no input");
        return ENG_FIM_EINVAL;
    }
    int rc = check_input(in, err, errlen);
    if (rc != 0)
        return rc;
    out->family = eng_fim_detect(t);
    out->order = in->order;
    if (in->order != ENG_FIM_PLAIN && out->family == ENG_FIM_NONE) {
        set_err(err, errlen, "model %s has no FIM tokens; sparkd can only do plain "
                "continuation with it", in->model_name ? in->model_name : "(this model)");
        return ENG_FIM_ENOFIM;
    }
    const eng_tok_special *sp = eng_tok_specials(t);
    tvec all = {0}, pv = {0}, sv = {0};
    if (sp->add_bos && sp->bos >= 0)
        rc = tv_push(&all, sp->bos);
    out->ctx_begin = all.n;
    tvec ctx = {0};
    rc = rc ? rc : build_context(t, in, &ctx, &out->n_files);
    rc = rc ? rc : tv_append(&all, &ctx);
    out->ctx_end = all.n;
    tv_free(&ctx);
    rc = rc ? rc : cut_keep_end(t, in->prefix, in->prefix_len, in->prefix_max,
                                in->prefix_keep_from, &pv, &out->prefix_text_start);
    if (rc == 0 && in->order != ENG_FIM_PLAIN)
        rc = cut_keep_begin(t, in->suffix, in->suffix_len, in->suffix_max, &sv,
                            &out->suffix_text_end);
    rc = rc ? rc : assemble(sp, in->order, &pv, &sv, &all, out);
    tv_free(&pv);
    tv_free(&sv);
    if (rc != 0) {
        tv_free(&all);
        memset(out, 0, sizeof *out);
        set_err(err, errlen, "fim: %s", rc == ENG_FIM_ENOMEM ? "out of memory"
                : "the tokenizer refused the text (too long)");
        return rc;
    }
    out->tokens = all.v;
    out->n_tokens = all.n;
    return 0;
}

void eng_fim_prompt_free(eng_fim_prompt *p)
{
    if (!p)
        return;
    free(p->tokens);
    memset(p, 0, sizeof *p);
}

size_t eng_fim_stop_tokens(const eng_tok *t, int32_t *out, size_t cap)
{
    const eng_tok_special *sp = eng_tok_specials(t);
    const int32_t ids[] = {sp->eos, sp->eot, sp->fim_pre, sp->fim_suf, sp->fim_mid,
                           sp->fim_pad, sp->fim_rep, sp->fim_sep};
    size_t n = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        bool seen = ids[i] < 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = ids[j] == ids[i];
        if (seen)
            continue;
        if (n < cap)
            out[n] = ids[i];
        n++;
    }
    return n;
}
