/* test_fim.c — FIM prompts: template detection, exact token sequences per family and order,
 * truncation (which end is kept, line boundaries, budgets), repository context, errors.
 *
 * The tokenizers are built here: byte-level BPE with the 256 byte tokens (id == byte value,
 * so the expected ids of a text are its bytes) plus each family's special tokens as control
 * tokens; one with a few merges for multi-byte tokens; and a SentencePiece one for CodeLlama. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fim.h"
#include "tok.h"
#include "../check_run.h"

#define DS_BAR "\xEF\xBD\x9C"  /* ｜ */
#define SP_US "\xE2\x96\x81"   /* ▁ */

/* ---- tokenizers ---- */

typedef struct {
    const char *bos, *eos, *pre, *suf, *mid, *pad, *rep, *sep;
    bool add_bos;
} family_def;

static const family_def QWEN = {NULL, "<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>",
                                "<|fim_middle|>", "<|fim_pad|>", "<|repo_name|>",
                                "<|file_sep|>", false};
static const family_def STARCODER = {NULL, "<|endoftext|>", "<fim_prefix>", "<fim_suffix>",
                                     "<fim_middle>", "<fim_pad>", "<repo_name>", "<file_sep>",
                                     false};
static const family_def DEEPSEEK = {"<" DS_BAR "begin" SP_US "of" SP_US "sentence" DS_BAR ">",
                                    "<" DS_BAR "end" SP_US "of" SP_US "sentence" DS_BAR ">",
                                    "<" DS_BAR "fim" SP_US "begin" DS_BAR ">",
                                    "<" DS_BAR "fim" SP_US "hole" DS_BAR ">",
                                    "<" DS_BAR "fim" SP_US "end" DS_BAR ">",
                                    NULL, NULL, NULL, true};
static const family_def PLAIN_ONLY = {NULL, "<|endoftext|>", NULL, NULL, NULL, NULL, NULL, NULL,
                                      false};
static const family_def GENERIC = {NULL, "</s>", "<PFX>", "<SFX>", "<MDL>", NULL, NULL, NULL,
                                   false};

static bool gpt2_printable(int b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* The GPT-2 stand-in character of byte b, as UTF-8. */
static size_t gpt2_char(int b, char *out)
{
    int cp = b;
    if (!gpt2_printable(b)) {
        cp = 256;
        for (int c = 0; c < b; c++)
            cp += !gpt2_printable(c);
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static eng_tok *build(eng_tok_params *p, eng_tok_str *v, int32_t *ty, uint32_t n)
{
    char err[256] = "";
    p->n_vocab = n;
    p->tokens = v;
    p->types = ty;
    eng_tok *t = eng_tok_new(p, err, sizeof err);
    ck_assert_msg(t != NULL, "eng_tok_new: %s", err);
    return t;
}

/* Adds the family's specials after v[0..*n) as control tokens and sets their ids. */
static void add_specials(const family_def *f, eng_tok_params *p, eng_tok_str *v, int32_t *ty,
                         uint32_t *n)
{
    const char *names[8] = {f->bos, f->eos, f->pre, f->suf, f->mid, f->pad, f->rep, f->sep};
    int32_t *ids[8] = {&p->special.bos, &p->special.eos, &p->special.fim_pre,
                       &p->special.fim_suf, &p->special.fim_mid, &p->special.fim_pad,
                       &p->special.fim_rep, &p->special.fim_sep};
    for (int i = 0; i < 8; i++) {
        if (!names[i])
            continue;
        v[*n] = (eng_tok_str){names[i], strlen(names[i])};
        ty[*n] = ENG_TOK_CONTROL;
        *ids[i] = (int32_t)(*n)++;
    }
    p->special.add_bos = f->add_bos;
}

/* Byte-level BPE: ids 0..255 are the bytes; with merges, "ĠĠ" (256) and "ĊĠĠ" (257) too. */
static eng_tok *make_bpe(const family_def *f, bool merges)
{
    static char chars[256][2];
    static char sp2[4], nlsp2[6];
    eng_tok_str v[280];
    int32_t ty[280];
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        v[n] = (eng_tok_str){chars[b], gpt2_char(b, chars[b])};
        ty[n++] = ENG_TOK_NORMAL;
    }
    eng_tok_params p;
    eng_tok_params_init(&p);
    p.model = ENG_TOK_MODEL_BPE;
    p.pre = "gpt2";
    eng_tok_str m[2];
    if (merges) {
        char g[2], c[2];
        size_t gl = gpt2_char(' ', g), cl = gpt2_char('\n', c);
        memcpy(sp2, g, gl), memcpy(sp2 + gl, g, gl);
        memcpy(nlsp2, c, cl), memcpy(nlsp2 + cl, sp2, 2 * gl);
        v[n] = (eng_tok_str){sp2, 2 * gl}, ty[n++] = ENG_TOK_NORMAL;
        v[n] = (eng_tok_str){nlsp2, cl + 2 * gl}, ty[n++] = ENG_TOK_NORMAL;
        static char m0[16], m1[16];
        snprintf(m0, sizeof m0, "%.*s %.*s", (int)gl, g, (int)gl, g);
        snprintf(m1, sizeof m1, "%.*s %.*s", (int)cl, c, (int)(2 * gl), sp2);
        m[0] = (eng_tok_str){m0, strlen(m0)};
        m[1] = (eng_tok_str){m1, strlen(m1)};
        p.n_merges = 2;
        p.merges = m;
    }
    add_specials(f, &p, v, ty, &n);
    return build(&p, v, ty, n);
}

/* CodeLlama-like SentencePiece: <unk> <s> </s>, <0x00>..<0xFF> (ids 3..258), "▁" (259), then
 * ▁<PRE> ▁<SUF> ▁<MID> ▁<EOT>. Everything but spaces falls back to byte tokens. */
enum { SPM_BYTE0 = 3, SPM_SPACE = 259 };
static eng_tok *make_codellama(void)
{
    static char bytes[256][8];
    eng_tok_str v[270];
    int32_t ty[270];
    uint32_t n = 0;
    const char *head[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        v[n] = (eng_tok_str){head[i], strlen(head[i])};
        ty[n++] = i ? ENG_TOK_CONTROL : ENG_TOK_UNKNOWN;
    }
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        v[n] = (eng_tok_str){bytes[b], 6};
        ty[n++] = ENG_TOK_BYTE;
    }
    v[n] = (eng_tok_str){SP_US, 3}, ty[n++] = ENG_TOK_NORMAL;
    eng_tok_params p;
    eng_tok_params_init(&p);
    p.model = ENG_TOK_MODEL_SPM;
    p.special.unk = 0;
    family_def f = {"<s>", "</s>", SP_US "<PRE>", SP_US "<SUF>", SP_US "<MID>", NULL, NULL,
                    NULL, true};
    /* <s> and </s> are already in; add only the markers and ▁<EOT> */
    family_def marks = f;
    marks.bos = marks.eos = NULL;
    add_specials(&marks, &p, v, ty, &n);
    v[n] = (eng_tok_str){SP_US "<EOT>", strlen(SP_US "<EOT>")}, ty[n] = ENG_TOK_CONTROL;
    p.special.eot = (int32_t)n++;
    p.special.bos = 1, p.special.eos = 2, p.special.add_bos = true;
    return build(&p, v, ty, n);
}

/* ---- expected sequences ---- */

typedef struct { int32_t v[8192]; size_t n; } seq;

static void s_id(seq *s, int32_t id) { s->v[s->n++] = id; }
static void s_bytes(seq *s, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        s_id(s, *p);
}

static void assert_tokens(const eng_fim_prompt *pr, const seq *want)
{
    size_t n = pr->n_tokens < want->n ? pr->n_tokens : want->n;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(pr->tokens[i] == want->v[i], "token %zu: got %d want %d", i,
                      pr->tokens[i], want->v[i]);
    ck_assert_uint_eq(pr->n_tokens, want->n);
}

/* The text tokens ids[0..n) stand for. */
static char *pieces(const eng_tok *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t cap = 16, o = 0;
    char *buf = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = eng_tok_piece(t, ids[i], &l);
        ck_assert_ptr_nonnull(p);
        while (o + l + 1 > cap)
            buf = realloc(buf, cap *= 2);
        memcpy(buf + o, p, l);
        o += l;
    }
    buf[o] = 0;
    *len = o;
    return buf;
}

static eng_fim_input input(eng_fim_order order, const char *prefix, const char *suffix)
{
    eng_fim_input in;
    eng_fim_input_init(&in);
    in.order = order;
    in.prefix = prefix;
    in.prefix_len = prefix ? strlen(prefix) : 0;
    in.suffix = suffix;
    in.suffix_len = suffix ? strlen(suffix) : 0;
    return in;
}

static void build_ok(const eng_tok *t, const eng_fim_input *in, eng_fim_prompt *pr)
{
    char err[256] = "";
    int rc = eng_fim_build(t, in, pr, err, sizeof err);
    ck_assert_msg(rc == 0, "eng_fim_build: %d %s", rc, err);
}

/* ---- tests ---- */

START_TEST(test_fim_detects_each_family)
{
    const family_def *defs[5] = {&QWEN, &STARCODER, &DEEPSEEK, &PLAIN_ONLY, &GENERIC};
    const eng_fim_family want[5] = {ENG_FIM_QWEN, ENG_FIM_STARCODER, ENG_FIM_DEEPSEEK,
                                    ENG_FIM_NONE, ENG_FIM_GENERIC};
    for (int i = 0; i < 5; i++) {
        eng_tok *t = make_bpe(defs[i], false);
        ck_assert_int_eq(eng_fim_detect(t), want[i]);
        eng_tok_free(t);
    }
    eng_tok *t = make_codellama();
    ck_assert_int_eq(eng_fim_detect(t), ENG_FIM_CODELLAMA);
    ck_assert_str_eq(eng_fim_family_name(ENG_FIM_CODELLAMA), "codellama");
    ck_assert_str_eq(eng_fim_order_name(ENG_FIM_SPM), "spm");
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_psm_spm_exact_sequences_each_bpe_family)
{
    const family_def *defs[4] = {&QWEN, &STARCODER, &DEEPSEEK, &GENERIC};
    for (int d = 0; d < 4; d++) {
        eng_tok *t = make_bpe(defs[d], false);
        const eng_tok_special *sp = eng_tok_specials(t);
        const char *P = "def f(x):\n    return ", *S = "\n\nprint(f(2))\n";
        size_t lead = defs[d]->add_bos ? 1 : 0;
        for (int o = ENG_FIM_PSM; o <= ENG_FIM_SPM_PAPER; o++) {
            eng_fim_input in = input((eng_fim_order)o, P, S);
            eng_fim_prompt pr;
            build_ok(t, &in, &pr);
            seq want = {.n = 0};
            if (lead)
                s_id(&want, sp->bos);
            if (o == ENG_FIM_PSM) {         /* <pre> P <suf> S <mid> */
                s_id(&want, sp->fim_pre), s_bytes(&want, P);
                s_id(&want, sp->fim_suf), s_bytes(&want, S), s_id(&want, sp->fim_mid);
            } else if (o == ENG_FIM_SPM) {  /* <suf> S <pre> P <mid> */
                s_id(&want, sp->fim_suf), s_bytes(&want, S);
                s_id(&want, sp->fim_pre), s_bytes(&want, P), s_id(&want, sp->fim_mid);
            } else {                        /* <pre> <suf> S <mid> P */
                s_id(&want, sp->fim_pre), s_id(&want, sp->fim_suf), s_bytes(&want, S);
                s_id(&want, sp->fim_mid), s_bytes(&want, P);
            }
            assert_tokens(&pr, &want);
            ck_assert_int_eq(pr.order, o);
            ck_assert_uint_eq(pr.prefix_end - pr.prefix_begin, strlen(P));
            ck_assert_uint_eq(pr.suffix_end - pr.suffix_begin, strlen(S));
            ck_assert_int_eq(pr.tokens[pr.prefix_begin], (unsigned char)P[0]);
            ck_assert_int_eq(pr.tokens[pr.suffix_begin], (unsigned char)S[0]);
            ck_assert_uint_eq(pr.ctx_begin, lead);
            ck_assert_uint_eq(pr.ctx_end, lead);
            ck_assert_uint_eq(pr.prefix_text_start, 0);
            ck_assert_uint_eq(pr.suffix_text_end, strlen(S));
            eng_fim_prompt_free(&pr);
            ck_assert_ptr_null(pr.tokens);
        }
        eng_tok_free(t);
    }
}
END_TEST

START_TEST(test_fim_no_fim_model_error_and_plain_continuation)
{
    eng_tok *t = make_bpe(&PLAIN_ONLY, false);
    eng_fim_input in = input(ENG_FIM_PSM, "int main", "}");
    in.model_name = "tiny-base";
    eng_fim_prompt pr;
    char err[256] = "";
    ck_assert_int_eq(eng_fim_build(t, &in, &pr, err, sizeof err), ENG_FIM_ENOFIM);
    ck_assert_str_eq(err, "model tiny-base has no FIM tokens; sparkd can only do plain "
                          "continuation with it");
    ck_assert_ptr_null(pr.tokens);
    in.order = ENG_FIM_SPM;
    ck_assert_int_eq(eng_fim_build(t, &in, &pr, NULL, 0), ENG_FIM_ENOFIM);

    in.order = ENG_FIM_PLAIN;
    build_ok(t, &in, &pr);
    seq want = {.n = 0};
    s_bytes(&want, "int main");
    assert_tokens(&pr, &want);
    ck_assert_int_eq(pr.family, ENG_FIM_NONE);
    ck_assert_uint_eq(pr.prefix_begin, 0);
    ck_assert_uint_eq(pr.prefix_end, 8);
    ck_assert_uint_eq(pr.suffix_begin, pr.suffix_end);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);

    /* PLAIN works with FIM models too: BOS (DeepSeek asks for it) and the prefix only. */
    t = make_bpe(&DEEPSEEK, false);
    in = input(ENG_FIM_PLAIN, "x = ", "y");
    build_ok(t, &in, &pr);
    want.n = 0;
    s_id(&want, eng_tok_specials(t)->bos), s_bytes(&want, "x = ");
    assert_tokens(&pr, &want);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_prefix_keeps_end_cut_at_line_start)
{
    eng_tok *t = make_bpe(&QWEN, false);
    const char *P = "aaaa\nbbbb\ncccc\ndd";  /* 17 bytes = 17 tokens */
    eng_fim_input in = input(ENG_FIM_PSM, P, "");
    eng_fim_prompt pr;
    in.prefix_max = 10;                         /* the last 10 start inside "bbbb\n" */
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.prefix_text_start, 10);
    ck_assert_uint_eq(pr.prefix_end - pr.prefix_begin, 7);  /* "cccc\ndd" */
    ck_assert_int_eq(pr.tokens[pr.prefix_begin], 'c');
    eng_fim_prompt_free(&pr);

    in.prefix_max = 17;
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.prefix_text_start, 0);
    ck_assert_uint_eq(pr.prefix_end - pr.prefix_begin, 17);
    eng_fim_prompt_free(&pr);

    /* One long line: a line cut would waste it all, so the cut is mid-line,
     * budget/8 (here 1 token) left free for what the user types next. */
    char line[101];
    memset(line, 'x', 100), line[100] = 0;
    in = input(ENG_FIM_PSM, line, "");
    in.prefix_max = 10;
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.prefix_end - pr.prefix_begin, 9);
    ck_assert_uint_eq(pr.prefix_text_start, 91);
    eng_fim_prompt_free(&pr);

    in.prefix_max = 0;                          /* no prefix at all */
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.prefix_end, pr.prefix_begin);
    ck_assert_uint_eq(pr.prefix_text_start, 100);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_suffix_keeps_beginning_cut_at_line_end)
{
    eng_tok *t = make_bpe(&STARCODER, false);
    eng_fim_input in = input(ENG_FIM_SPM, "p", "aa\nbbbb\ncc");
    eng_fim_prompt pr;
    in.suffix_max = 6;                          /* the first 6 end inside "bbbb" */
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.suffix_end - pr.suffix_begin, 3);  /* "aa\n" */
    ck_assert_uint_eq(pr.suffix_text_end, 3);
    const eng_tok_special *sp = eng_tok_specials(t);
    seq want = {.n = 0};
    s_id(&want, sp->fim_suf), s_bytes(&want, "aa\n");
    s_id(&want, sp->fim_pre), s_bytes(&want, "p"), s_id(&want, sp->fim_mid);
    assert_tokens(&pr, &want);
    eng_fim_prompt_free(&pr);

    in.suffix_max = 0;
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.suffix_end, pr.suffix_begin);
    ck_assert_uint_eq(pr.suffix_text_end, 0);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return rng_state >> 33;
}

/* Lines of 0..23 letters, each ended by "\n", "\n\n" or "\n  ", up to about n bytes. */
static size_t random_lines(char *buf, size_t n)
{
    size_t o = 0;
    while (o < n) {
        size_t len = rng() % 24;
        for (size_t i = 0; i < len; i++)
            buf[o++] = (char)('a' + rng() % 26);
        const char *end[3] = {"\n", "\n\n", "\n  "};
        for (const char *e = end[rng() % 3]; *e; e++)
            buf[o++] = *e;
    }
    return o;
}

/* Random multi-line texts and budgets, with multi-byte tokens (some spanning a line break):
 * budgets hold, the kept tokens spell exactly the reported text span, and with short lines
 * every cut falls on a line boundary. */
START_TEST(test_fim_truncation_random_texts_respect_budgets)
{
    eng_tok *t = make_bpe(&QWEN, true);
    char *P = malloc(20000), *S = malloc(20000);
    rng_state = 12345;
    for (int round = 0; round < 60; round++) {
        size_t np = random_lines(P, 1 + rng() % 8000), ns = random_lines(S, 1 + rng() % 4000);
        size_t bp = 1 + rng() % 1500, bs = 1 + rng() % 600;
        eng_fim_input in = input(round % 2 ? ENG_FIM_PSM : ENG_FIM_SPM, NULL, NULL);
        in.prefix = P, in.prefix_len = np, in.suffix = S, in.suffix_len = ns;
        in.prefix_max = bp, in.suffix_max = bs;
        eng_fim_prompt pr;
        build_ok(t, &in, &pr);
        size_t kp = pr.prefix_end - pr.prefix_begin, ks = pr.suffix_end - pr.suffix_begin, len;
        ck_assert_uint_le(kp, bp);
        ck_assert_uint_le(ks, bs);
        char *got = pieces(t, pr.tokens + pr.prefix_begin, kp, &len);
        ck_assert_uint_eq(len, np - pr.prefix_text_start);
        ck_assert(memcmp(got, P + pr.prefix_text_start, len) == 0);
        free(got);
        got = pieces(t, pr.tokens + pr.suffix_begin, ks, &len);
        ck_assert_uint_eq(len, pr.suffix_text_end);
        ck_assert(memcmp(got, S, len) == 0);
        free(got);
        size_t a = pr.prefix_text_start, b = pr.suffix_text_end;
        if (bp >= 64 && a > 0)
            ck_assert_msg(P[a - 1] == '\n' || P[a] == '\n', "prefix cut mid-line at %zu", a);
        if (bs >= 64 && b < ns)
            ck_assert_msg(S[b - 1] == '\n' || S[b] == '\n', "suffix cut mid-line at %zu", b);
        if (a > 0)  /* not much is wasted */
            ck_assert_uint_ge(kp, bp / 2);
        if (b < ns)
            ck_assert_uint_ge(ks, bs / 2);
        eng_fim_prompt_free(&pr);
    }
    free(P);
    free(S);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_huge_prefix_tokenizes_only_a_window)
{
    eng_tok *t = make_bpe(&QWEN, false);
    size_t n = 8u << 20;  /* 8 MB of short lines */
    char *P = malloc(n);
    for (size_t i = 0; i < n; i++)
        P[i] = i % 40 == 39 ? '\n' : (char)('a' + i % 26);
    eng_fim_input in = input(ENG_FIM_SPM, NULL, "tail\n");
    in.prefix = P, in.prefix_len = n, in.prefix_max = 1000;
    eng_fim_prompt pr;
    for (int i = 0; i < 50; i++) {  /* ~400 MB if the whole text were tokenized each time */
        build_ok(t, &in, &pr);
        ck_assert_uint_le(pr.prefix_end - pr.prefix_begin, 1000);
        ck_assert_uint_ge(pr.prefix_end - pr.prefix_begin, 1000 - 1000 / 8 - 40);  /* slack, a line */
        ck_assert_uint_eq(pr.prefix_text_start % 40, 0);
        ck_assert_uint_eq(n - pr.prefix_text_start, pr.prefix_end - pr.prefix_begin);
        eng_fim_prompt_free(&pr);
    }
    free(P);
    eng_tok_free(t);
}
END_TEST

/* Typing at the cursor with the previous start as the hint keeps the prompt's start (and so
 * its KV) until the budget is exceeded; the new cut then leaves room for more typing. */
START_TEST(test_fim_keep_from_hint_keeps_start_stable_while_typing)
{
    eng_tok *t = make_bpe(&QWEN, false);
    char P[4096];
    size_t n = 0;
    for (int i = 0; i < 30; i++)
        n += (size_t)sprintf(P + n, "line %02d\n", i);  /* 8 bytes a line */
    eng_fim_input in = input(ENG_FIM_SPM, NULL, "");
    in.prefix = P, in.prefix_max = 80;
    size_t start = 0, moves = 0, last_start = 0;
    for (int typed = 0; typed < 60; typed++) {
        P[n++] = (char)('a' + typed % 26);
        in.prefix_len = n;
        in.prefix_keep_from = start;
        eng_fim_prompt pr;
        build_ok(t, &in, &pr);
        ck_assert_uint_le(pr.prefix_end - pr.prefix_begin, 80);
        if (typed > 0 && pr.prefix_text_start != last_start) {
            moves++;
            /* after a move, at least 80/8 tokens are free */
            ck_assert_uint_le(pr.prefix_end - pr.prefix_begin, 70);
        }
        ck_assert(P[pr.prefix_text_start - 1] == '\n');
        last_start = start = pr.prefix_text_start;
        eng_fim_prompt_free(&pr);
    }
    ck_assert_uint_ge(moves, 1);
    ck_assert_uint_le(moves, 6);  /* not once per keystroke */
    /* A hint that is not a token start, or past the text, is ignored. */
    in.prefix_keep_from = n + 5;
    eng_fim_prompt pr;
    build_ok(t, &in, &pr);
    ck_assert_uint_le(pr.prefix_end - pr.prefix_begin, 80);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_repo_context_qwen_layout)
{
    const family_def *defs[2] = {&QWEN, &STARCODER};
    for (int d = 0; d < 2; d++) {
        eng_tok *t = make_bpe(defs[d], false);
        const eng_tok_special *sp = eng_tok_specials(t);
        eng_fim_file files[2] = {{"a.py", "import os\n", 10}, {"b.py", "x = 1", 5}};
        eng_fim_input in = input(ENG_FIM_PSM, "y = ", "\n");
        in.repo_name = "myrepo";
        in.path = "main.py";
        in.files = files;
        in.n_files = 2;
        eng_fim_prompt pr;
        build_ok(t, &in, &pr);
        seq want = {.n = 0};
        s_id(&want, sp->fim_rep), s_bytes(&want, "myrepo\n");
        s_id(&want, sp->fim_sep), s_bytes(&want, "a.py\nimport os\n");
        s_id(&want, sp->fim_sep), s_bytes(&want, "b.py\nx = 1\n");  /* newline added */
        s_id(&want, sp->fim_sep), s_bytes(&want, "main.py\n");
        size_t ctx = want.n;
        s_id(&want, sp->fim_pre), s_bytes(&want, "y = ");
        s_id(&want, sp->fim_suf), s_bytes(&want, "\n"), s_id(&want, sp->fim_mid);
        assert_tokens(&pr, &want);
        ck_assert_uint_eq(pr.ctx_begin, 0);
        ck_assert_uint_eq(pr.ctx_end, ctx);
        ck_assert_uint_eq(pr.n_files, 2);
        ck_assert_uint_eq(pr.prefix_begin, ctx + 1);
        eng_fim_prompt_free(&pr);

        /* No files, no repo name: no context at all, even with a path. */
        in.repo_name = NULL, in.n_files = 0;
        build_ok(t, &in, &pr);
        ck_assert_uint_eq(pr.ctx_end, pr.ctx_begin);
        ck_assert_int_eq(pr.tokens[0], sp->fim_pre);
        eng_fim_prompt_free(&pr);
        eng_tok_free(t);
    }
}
END_TEST

START_TEST(test_fim_repo_context_budget_drops_first_files_and_cuts_texts)
{
    eng_tok *t = make_bpe(&QWEN, false);
    const eng_tok_special *sp = eng_tok_specials(t);
    eng_fim_file files[3] = {{"one", "11111\n", 6}, {"two", "222\n2222\n", 9},
                             {"three", "33\n333\n3333\n", 12}};
    eng_fim_input in = input(ENG_FIM_PSM, "p", "s");
    in.path = "cur";
    in.files = files;
    in.n_files = 3;
    /* [sep]cur\n = 5; [sep]three\n = 7, text 12 (+1 newline reserve) -> 25 in all */
    in.extra_max = 25;
    eng_fim_prompt pr;
    build_ok(t, &in, &pr);
    seq want = {.n = 0};
    s_id(&want, sp->fim_sep), s_bytes(&want, "three\n33\n333\n3333\n");
    s_id(&want, sp->fim_sep), s_bytes(&want, "cur\n");
    s_id(&want, sp->fim_pre), s_bytes(&want, "p");
    s_id(&want, sp->fim_suf), s_bytes(&want, "s"), s_id(&want, sp->fim_mid);
    assert_tokens(&pr, &want);
    ck_assert_uint_eq(pr.n_files, 1);
    eng_fim_prompt_free(&pr);

    /* 5 + 7 + room 9 (+1): "three" is cut after its second line; "two" does not fit. */
    in.extra_max = 22;
    build_ok(t, &in, &pr);
    want.n = 0;
    s_id(&want, sp->fim_sep), s_bytes(&want, "three\n33\n333\n");
    s_id(&want, sp->fim_sep), s_bytes(&want, "cur\n");
    ck_assert_uint_eq(pr.ctx_end - pr.ctx_begin, want.n);
    for (size_t i = 0; i < want.n; i++)
        ck_assert_int_eq(pr.tokens[i], want.v[i]);
    ck_assert_uint_eq(pr.n_files, 1);
    eng_fim_prompt_free(&pr);

    /* file_max caps each file: all three fit, each cut to its first line. */
    in.extra_max = 1000;
    in.file_max = 6;
    build_ok(t, &in, &pr);
    want.n = 0;
    s_id(&want, sp->fim_sep), s_bytes(&want, "one\n11111\n");
    s_id(&want, sp->fim_sep), s_bytes(&want, "two\n222\n");
    s_id(&want, sp->fim_sep), s_bytes(&want, "three\n33\n333\n");
    s_id(&want, sp->fim_sep), s_bytes(&want, "cur\n");
    ck_assert_uint_eq(pr.ctx_end - pr.ctx_begin, want.n);
    for (size_t i = 0; i < want.n; i++)
        ck_assert_int_eq(pr.tokens[i], want.v[i]);
    ck_assert_uint_eq(pr.n_files, 3);
    eng_fim_prompt_free(&pr);

    /* Too small for even the current file's line: no context. */
    in.file_max = 0;
    in.extra_max = 4;
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.ctx_end, pr.ctx_begin);
    ck_assert_uint_eq(pr.n_files, 0);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_text_context_for_models_without_file_sep)
{
    eng_tok *t = make_bpe(&DEEPSEEK, false);
    const eng_tok_special *sp = eng_tok_specials(t);
    eng_fim_file files[1] = {{"utils.py", "def g(): pass", 13}};
    eng_fim_input in = input(ENG_FIM_PSM, "g()", "");
    in.repo_name = "ignored";  /* no <repo_name> token */
    in.path = "main.py";
    in.files = files;
    in.n_files = 1;
    eng_fim_prompt pr;
    build_ok(t, &in, &pr);       /* no comment marker: files are left out */
    ck_assert_uint_eq(pr.ctx_end, pr.ctx_begin);
    ck_assert_uint_eq(pr.n_files, 0);
    eng_fim_prompt_free(&pr);

    in.line_comment = "#";
    build_ok(t, &in, &pr);
    seq want = {.n = 0};
    s_id(&want, sp->bos);
    s_bytes(&want, "# utils.py\ndef g(): pass\n# main.py\n");
    s_id(&want, sp->fim_pre), s_bytes(&want, "g()");
    s_id(&want, sp->fim_suf), s_id(&want, sp->fim_mid);
    assert_tokens(&pr, &want);
    ck_assert_uint_eq(pr.ctx_begin, 1);
    ck_assert_uint_eq(pr.n_files, 1);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_codellama_sentencepiece_layout)
{
    eng_tok *t = make_codellama();
    const eng_tok_special *sp = eng_tok_specials(t);
    eng_fim_input in = input(ENG_FIM_PSM, "aa\nbb\ncc", "\n}");
    eng_fim_prompt pr;
    build_ok(t, &in, &pr);
    /* <s> ▁<PRE> ▁ a a \n b b \n c c ▁<SUF> \n } ▁<MID>: the prefix keeps SentencePiece's
     * dummy space (as CodeLlama's reference does), the suffix drops it. */
    seq want = {.n = 0};
    s_id(&want, 1), s_id(&want, sp->fim_pre), s_id(&want, SPM_SPACE);
    for (const char *c = "aa\nbb\ncc"; *c; c++)
        s_id(&want, SPM_BYTE0 + (unsigned char)*c);
    s_id(&want, sp->fim_suf);
    s_id(&want, SPM_BYTE0 + '\n'), s_id(&want, SPM_BYTE0 + '}'), s_id(&want, sp->fim_mid);
    assert_tokens(&pr, &want);
    eng_fim_prompt_free(&pr);

    /* Cut: the last 5 of 9 tokens start in "bb": the cut goes after "aa\n", and the reported
     * text offset does not count the dummy space. */
    in.prefix_max = 5;
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.prefix_text_start, 3);
    ck_assert_uint_eq(pr.prefix_end - pr.prefix_begin, 5);
    ck_assert_int_eq(pr.tokens[pr.prefix_begin], SPM_BYTE0 + 'b');
    eng_fim_prompt_free(&pr);

    in.order = ENG_FIM_SPM_PAPER;    /* <s> ▁<PRE> ▁<SUF> S ▁<MID> P */
    in.prefix_max = 100;
    build_ok(t, &in, &pr);
    ck_assert_int_eq(pr.tokens[1], sp->fim_pre);
    ck_assert_int_eq(pr.tokens[2], sp->fim_suf);
    ck_assert_int_eq(pr.tokens[5], sp->fim_mid);
    ck_assert_uint_eq(pr.prefix_begin, 6);
    ck_assert_uint_eq(pr.prefix_end, pr.n_tokens);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_special_token_text_stays_text)
{
    eng_tok *t = make_bpe(&QWEN, false);
    const char *P = "s = '<|fim_middle|>'";
    eng_fim_input in = input(ENG_FIM_PSM, P, "<|endoftext|>");
    eng_fim_prompt pr;
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.prefix_end - pr.prefix_begin, strlen(P));
    ck_assert_uint_eq(pr.suffix_end - pr.suffix_begin, 13);
    for (size_t i = pr.prefix_begin; i < pr.prefix_end; i++)
        ck_assert_int_lt(pr.tokens[i], 256);
    eng_fim_prompt_free(&pr);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_stop_tokens_are_eos_and_markers)
{
    eng_tok *t = make_bpe(&QWEN, false);
    const eng_tok_special *sp = eng_tok_specials(t);
    int32_t ids[8];
    size_t n = eng_fim_stop_tokens(t, ids, 8);
    ck_assert_uint_eq(n, 7);  /* eos (also found as eot), pre, suf, mid, pad, rep, sep */
    ck_assert_int_eq(ids[0], sp->eos);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            ck_assert_int_ne(ids[i], ids[j]);
    ck_assert_uint_eq(eng_fim_stop_tokens(t, NULL, 0), 7);
    eng_tok_free(t);
}
END_TEST

START_TEST(test_fim_rejects_bad_input)
{
    eng_tok *t = make_bpe(&QWEN, false);
    eng_fim_prompt pr;
    char err[256];
    eng_fim_input in = input(ENG_FIM_PSM, "a", "b");
    in.prefix = NULL;
    ck_assert_int_eq(eng_fim_build(t, &in, &pr, err, sizeof err), ENG_FIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "NULL"));
    in = input((eng_fim_order)7, "a", "b");
    ck_assert_int_eq(eng_fim_build(t, &in, &pr, err, sizeof err), ENG_FIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "order"));
    eng_fim_file f = {NULL, "x", 1};
    in = input(ENG_FIM_PSM, "a", "b");
    in.files = &f, in.n_files = 1;
    ck_assert_int_eq(eng_fim_build(t, &in, &pr, err, sizeof err), ENG_FIM_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "file 0"));
    ck_assert_int_eq(eng_fim_build(NULL, &in, &pr, err, sizeof err), ENG_FIM_EINVAL);
    ck_assert_int_eq(eng_fim_build(t, NULL, &pr, NULL, 0), ENG_FIM_EINVAL);
    ck_assert_int_eq(eng_fim_build(t, &in, NULL, NULL, 0), ENG_FIM_EINVAL);
    /* empty texts are fine */
    in = input(ENG_FIM_PSM, NULL, NULL);
    build_ok(t, &in, &pr);
    ck_assert_uint_eq(pr.n_tokens, 3);
    eng_fim_prompt_free(&pr);
    eng_fim_prompt_free(NULL);
    eng_tok_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eng_fim");
    TCase *tc = tcase_create("fim");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fim_detects_each_family);
    tcase_add_test(tc, test_fim_psm_spm_exact_sequences_each_bpe_family);
    tcase_add_test(tc, test_fim_no_fim_model_error_and_plain_continuation);
    tcase_add_test(tc, test_fim_prefix_keeps_end_cut_at_line_start);
    tcase_add_test(tc, test_fim_suffix_keeps_beginning_cut_at_line_end);
    tcase_add_test(tc, test_fim_truncation_random_texts_respect_budgets);
    tcase_add_test(tc, test_fim_huge_prefix_tokenizes_only_a_window);
    tcase_add_test(tc, test_fim_keep_from_hint_keeps_start_stable_while_typing);
    tcase_add_test(tc, test_fim_repo_context_qwen_layout);
    tcase_add_test(tc, test_fim_repo_context_budget_drops_first_files_and_cuts_texts);
    tcase_add_test(tc, test_fim_text_context_for_models_without_file_sep);
    tcase_add_test(tc, test_fim_codellama_sentencepiece_layout);
    tcase_add_test(tc, test_fim_special_token_text_stays_text);
    tcase_add_test(tc, test_fim_stop_tokens_are_eos_and_markers);
    tcase_add_test(tc, test_fim_rejects_bad_input);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
