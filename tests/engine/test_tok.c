/* tests/engine/test_tok.c — the tokenizers (engine/tok*.c).
 *
 * Pre-tokenizer split vectors per tokenizer.ggml.pre kind (each worked out by hand from the
 * llama.cpp regexes, and checked against Python's `regex` module), BPE and SentencePiece
 * merging on small vocabularies whose answers are known, special tokens, invalid UTF-8,
 * round trips over source files on this machine with a vocabulary trained here, the
 * streaming decoder, and loading from GGUF metadata.
 */
#include "gguf.h"
#include "gguf_write.h"
#include "tok.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../check_run.h"

#define SP "\xE2\x96\x81"  /* "▁" */

/* ---- A vocabulary builder ----------------------------------------------------------- */

enum { MAXV = 2048 };

typedef struct {
    eng_tok_str tok[MAXV];
    int32_t type[MAXV];
    float score[MAXV];
    uint32_t n;
    eng_tok_str merge[MAXV];
    uint32_t nm;
} vocab;

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    ck_assert_ptr_nonnull(d);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static vocab *v_new(void)
{
    vocab *v = calloc(1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    return v;
}

static void v_free(vocab *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        free((char *)v->tok[i].ptr);
    for (uint32_t i = 0; i < v->nm; i++)
        free((char *)v->merge[i].ptr);
    free(v);
}

static int32_t v_find(const vocab *v, const char *s, size_t n)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->tok[i].len == n && memcmp(v->tok[i].ptr, s, n) == 0)
            return (int32_t)i;
    return -1;
}

static int32_t v_add(vocab *v, const char *s, int32_t type, float score)
{
    ck_assert_uint_lt(v->n, MAXV);
    v->tok[v->n] = (eng_tok_str){dup_n(s, strlen(s)), strlen(s)};
    v->type[v->n] = type;
    v->score[v->n] = score;
    return (int32_t)v->n++;
}

/* The GPT-2 stand-in of a byte, written independently of the library: printable bytes are
 * themselves, the others get 256, 257, ... in byte order (bytes_to_unicode in GPT-2). */
static size_t t_gpt2(uint8_t b, char *out)
{
    uint32_t n = 0, cp = 0;
    for (uint32_t c = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        if (c == b) {
            cp = printable ? c : 256 + n;
            break;
        }
        n += !printable;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static size_t t_gpt2_str(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += t_gpt2((uint8_t)s[i], out + o);
    return o;
}

static void v_bytes(vocab *v)  /* the 256 byte tokens, ids 0..255 */
{
    for (int b = 0; b < 256; b++) {
        char c[3] = {0};
        t_gpt2((uint8_t)b, c);
        v_add(v, c, ENG_TOK_NORMAL, 0);
    }
}

/* A merge of two byte strings; adds the merged token when new. */
static void v_merge(vocab *v, const char *a, const char *b)
{
    char ea[64], eb[64], m[130];
    size_t na = t_gpt2_str(a, strlen(a), ea), nb = t_gpt2_str(b, strlen(b), eb);
    memcpy(m, ea, na);
    m[na] = ' ';
    memcpy(m + na + 1, eb, nb);
    v->merge[v->nm++] = (eng_tok_str){dup_n(m, na + nb + 1), na + nb + 1};
    memmove(m + na, m + na + 1, nb);
    m[na + nb] = 0;
    if (v_find(v, m, na + nb) < 0)
        v_add(v, m, ENG_TOK_NORMAL, 0);
}

static eng_tok *v_build(const vocab *v, eng_tok_model model, const char *pre, char *err)
{
    eng_tok_params p;
    eng_tok_params_init(&p);
    p.model = model, p.pre = pre, p.n_vocab = v->n, p.tokens = v->tok, p.types = v->type;
    p.scores = v->score, p.n_merges = v->nm, p.merges = v->merge;
    return eng_tok_new(&p, err, 256);
}

static eng_tok *v_build_ok(const vocab *v, eng_tok_model model, const char *pre)
{
    char err[256] = "";
    eng_tok *t = v_build(v, model, pre, err);
    ck_assert_msg(t != NULL, "eng_tok_new: %s", err);
    return t;
}

/* Encodes text and checks the pieces of the ids, given as a NULL-terminated list. */
static void expect_pieces(const eng_tok *t, const char *text, unsigned flags,
                          const char *const *want)
{
    int32_t ids[256];
    int64_t n = eng_tok_encode(t, text, strlen(text), flags, ids, 256);
    size_t k = 0;
    for (; want[k]; k++) {
        ck_assert_msg((int64_t)k < n, "\"%s\": %lld tokens, wanted more", text, (long long)n);
        size_t len;
        const char *p = eng_tok_piece(t, ids[k], &len);
        ck_assert_msg(len == strlen(want[k]) && memcmp(p, want[k], len) == 0,
                      "\"%s\" token %zu: \"%.*s\", wanted \"%s\"", text, k, (int)len, p, want[k]);
    }
    ck_assert_msg(n == (int64_t)k, "\"%s\": %lld tokens, wanted %zu", text, (long long)n, k);
}

/* ---- Unicode classes and UTF-8 ------------------------------------------------------ */

START_TEST(test_uclass_categories)
{
    const struct { uint32_t cp; uint8_t cls; } v[] = {
        {'a', ENG_TOK_UC_LETTER}, {'5', ENG_TOK_UC_NUMBER}, {'_', ENG_TOK_UC_PUNCT},
        {'+', ENG_TOK_UC_SYMBOL}, {' ', ENG_TOK_UC_SEPARATOR | ENG_TOK_UC_SPACE},
        {'\n', ENG_TOK_UC_OTHER | ENG_TOK_UC_SPACE}, {0x1C, ENG_TOK_UC_OTHER},
        {0xE9, ENG_TOK_UC_LETTER}, {0x4E2D, ENG_TOK_UC_LETTER}, {0x0663, ENG_TOK_UC_NUMBER},
        {0x2460, ENG_TOK_UC_NUMBER}, {0x0301, ENG_TOK_UC_MARK},
        {0x2028, ENG_TOK_UC_SEPARATOR | ENG_TOK_UC_SPACE}, {0x3000, ENG_TOK_UC_SEPARATOR |
        ENG_TOK_UC_SPACE}, {0x1F600, ENG_TOK_UC_SYMBOL}, {0x0378, ENG_TOK_UC_UNASSIGNED},
        {0x10FFFF, ENG_TOK_UC_UNASSIGNED}, {0x110000, 0}, {0xFFFFFFFF, 0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        ck_assert_msg(eng_tok_uclass(v[i].cp) == v[i].cls, "U+%04X: %u, wanted %u", v[i].cp,
                      eng_tok_uclass(v[i].cp), v[i].cls);
}
END_TEST

START_TEST(test_utf8_next_strict_with_maximal_subparts)
{
    const struct { const char *s; size_t n, len; uint32_t cp; } v[] = {
        {"a", 1, 1, 'a'}, {"\xC3\xA9", 2, 2, 0xE9}, {"\xE4\xB8\xAD", 3, 3, 0x4E2D},
        {"\xF0\x9F\x98\x80", 4, 4, 0x1F600},
        {"\xC0\x80", 2, 1, ENG_TOK_UTF8_BAD},          /* overlong lead */
        {"\xE0\x80\x80", 3, 1, ENG_TOK_UTF8_BAD},      /* overlong 3-byte */
        {"\xED\xA0\x80", 3, 1, ENG_TOK_UTF8_BAD},      /* surrogate */
        {"\xF4\x90\x80\x80", 4, 1, ENG_TOK_UTF8_BAD},  /* above U+10FFFF */
        {"\x80", 1, 1, ENG_TOK_UTF8_BAD}, {"\xFF", 1, 1, ENG_TOK_UTF8_BAD},
        {"\xE2\x82" "a", 3, 2, ENG_TOK_UTF8_BAD},     /* cut short by 'a': one subpart */
        {"\xE2\x82", 2, 2, ENG_TOK_UTF8_MORE}, {"\xF0\x9F\x98", 3, 3, ENG_TOK_UTF8_MORE},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t cp;
        size_t len = eng_tok_utf8_next(v[i].s, v[i].n, &cp);
        ck_assert_msg(len == v[i].len && cp == v[i].cp, "case %zu: len %zu cp %x", i, len, cp);
    }
}
END_TEST

/* ---- Pre-tokenizers ----------------------------------------------------------------- */

static void expect_split(const char *pre_name, const char *text, const char *const *want)
{
    eng_tok_pre pre;
    ck_assert_int_eq(eng_tok_pre_parse(pre_name, &pre), 0);
    uint32_t *ends;
    int64_t n = eng_tok_pre_split(pre, text, strlen(text), &ends);
    size_t k = 0;
    uint32_t s = 0;
    for (; want[k]; k++) {
        ck_assert_msg((int64_t)k < n, "%s \"%s\": only %lld pieces", pre_name, text, (long long)n);
        ck_assert_msg(ends[k] - s == strlen(want[k]) && memcmp(text + s, want[k], ends[k] - s) == 0,
                      "%s \"%s\" piece %zu: \"%.*s\", wanted \"%s\"", pre_name, text, k,
                      (int)(ends[k] - s), text + s, want[k]);
        s = ends[k];
    }
    ck_assert_msg(n == (int64_t)k, "%s \"%s\": %lld pieces, wanted %zu", pre_name, text,
                  (long long)n, k);
    free(ends);
}

#define SPLIT(pre, text, ...) expect_split(pre, text, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_pre_gpt2_vectors)
{
    SPLIT("gpt2", "Hello world's 12345 lives", "Hello", " world", "'s", " 12345", " lives");
    SPLIT("gpt2", "I'll've it'S", "I", "'ll", "'ve", " it", "'", "S");  /* case-sensitive */
    SPLIT("gpt2", "  x = 1;\n\n    return", " ", " x", " =", " 1", ";", "\n\n   ", " return");
    SPLIT("gpt2", "na\xC3\xAFve caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87", "na\xC3\xAFve",
          " caf\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87");
    SPLIT("gpt2", "a  \t", "a", "  \t");   /* trailing whitespace stays one piece */
    SPLIT("gpt2", "foo()->bar[0]++", "foo", "()->", "bar", "[", "0", "]++");
    SPLIT("gpt-2", "x", "x");
}
END_TEST

START_TEST(test_pre_llama3_vectors)
{
    SPLIT("llama3", "I'LL don'T", "I", "'LL", " don", "'T");          /* (?i:...) */
    SPLIT("llama-bpe", "12345 1234567", "123", "45", " ", "123", "456", "7");  /* \p{N}{1,3} */
    SPLIT("llama3", "(foo.bar)", "(foo", ".bar", ")");  /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    SPLIT("llama3", "x = 1;\n\n    return y", "x", " =", " ", "1", ";\n\n", "   ", " return",
          " y");
    SPLIT("llama3", "\t\tif x:\r\n\tpass", "\t", "\tif", " x", ":\r\n", "\tpass");
    SPLIT("llama3", "\xE4\xB8\xAD\xE6\x96\x87 text \xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4",
          "\xE4\xB8\xAD\xE6\x96\x87", " text", " ", "\xD9\xA1\xD9\xA2\xD9\xA3", "\xD9\xA4");
    SPLIT("llama3", "a \n\n b", "a", " \n\n", " b");    /* \s*[\r\n]+ */
}
END_TEST

START_TEST(test_pre_qwen2_vectors)
{
    SPLIT("qwen2", "x=12345;", "x", "=", "1", "2", "3", "4", "5", ";");  /* single digits */
    SPLIT("qwen2", "don't", "don", "'t");
    SPLIT("qwen2", "  foo\n", " ", " foo", "\n");
    SPLIT("qwen2", "if (a) {\n    return b;\n}\n", "if", " (", "a", ")", " {\n", "   ",
          " return", " b", ";\n", "}\n");
}
END_TEST

START_TEST(test_pre_starcoder_vectors)
{
    SPLIT("starcoder", "a 1", "a", " ", "1");   /* digits cut first: " 1" is not a piece */
    SPLIT("starcoder", "x = 12;", "x", " =", " ", "1", "2", ";");
    SPLIT("refact", "v2beta's", "v", "2", "beta", "'s");
}
END_TEST

START_TEST(test_pre_deepseek_coder_vectors)
{
    SPLIT("deepseek-coder", "  x = 1;", " ", " x", " = ", "1", ";");
    SPLIT("deepseek-coder", "a\r\nb", "a", "\r", "\n", "b");
    SPLIT("deepseek-coder", "foo(bar, 42)", "foo", "(", "bar", ",", " ", "4", "2", ")");
    /* 中文→→ ①②: letters; arrows and circled digits fall in the CJK range regex */
    SPLIT("deepseek-coder", "\xE4\xB8\xAD\xE6\x96\x87\xE2\x86\x92\xE2\x86\x92 \xE2\x91\xA0\xE2\x91\xA1",
          "\xE4\xB8\xAD\xE6\x96\x87", "\xE2\x86\x92\xE2\x86\x92", " ", "\xE2\x91\xA0",
          "\xE2\x91\xA1");
}
END_TEST

START_TEST(test_pre_default_vectors)
{
    SPLIT("default", "a+=b<<2 == 1000000", "a", "+=", "b", "<<", "2", " ", "==", " ", "100",
          "000", "0");
    SPLIT("", "x", "x");
}
END_TEST

START_TEST(test_pre_names)
{
    eng_tok_pre p;
    ck_assert_int_eq(eng_tok_pre_parse(NULL, &p), 0);
    ck_assert_int_eq(p, ENG_TOK_PRE_DEFAULT);
    ck_assert_int_eq(eng_tok_pre_parse("llama-v3", &p), 0);
    ck_assert_int_eq(p, ENG_TOK_PRE_LLAMA3);
    ck_assert_int_eq(eng_tok_pre_parse("qwen2", &p), 0);
    ck_assert_str_eq(eng_tok_pre_name(p), "qwen2");
    ck_assert_int_eq(eng_tok_pre_parse("no-such-pre", &p), -1);
}
END_TEST

static uint64_t rng_state = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

/* Random bytes biased to the interesting ones: ASCII, UTF-8 lead and continuation bytes. */
static void random_bytes(char *buf, size_t n)
{
    static const char pool[] = "ab Z9'\n\r\t.(_ \xC3\xA9\xE4\xB8\xAD\x80\xFF\xF0\x9F\x98\x80";
    for (size_t i = 0; i < n; i++)
        buf[i] = rnd() % 4 ? pool[rnd() % (sizeof pool - 1)] : (char)rnd();
}

START_TEST(test_pre_split_covers_any_bytes)
{
    char buf[300];
    for (int pre = ENG_TOK_PRE_DEFAULT; pre <= ENG_TOK_PRE_STARCODER; pre++) {
        for (int iter = 0; iter < 300; iter++) {
            size_t n = rnd() % sizeof buf;
            random_bytes(buf, n);
            uint32_t *ends;
            int64_t k = eng_tok_pre_split((eng_tok_pre)pre, buf, n, &ends);
            ck_assert_int_ge(k, n ? 1 : 0);
            for (int64_t i = 0; i < k; i++)
                ck_assert_uint_gt(ends[i], i ? ends[i - 1] : 0);
            if (k)
                ck_assert_uint_eq(ends[k - 1], n);
            free(ends);
        }
    }
}
END_TEST

/* ---- BPE ---------------------------------------------------------------------------- */

static vocab *hand_bpe_vocab(void)
{
    vocab *v = v_new();
    v_bytes(v);
    const char *m[][2] = {{"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"},
                          {"o", "r"}, {" w", "or"}, {"l", "d"}, {" wor", "ld"}, {"b", "c"},
                          {"a", "b"}, {"a", "a"}, {"aa", "aa"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        v_merge(v, m[i][0], m[i][1]);
    return v;
}

#define PIECES(t, text, flags, ...) expect_pieces(t, text, flags, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_bpe_merges_lowest_rank_first)
{
    vocab *v = hand_bpe_vocab();
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, "gpt2");
    PIECES(t, "hello world", 0, "hello", " world");
    PIECES(t, "hellworld", 0, "hell", "w", "or", "ld");  /* no "w or" merge, only " w" */
    PIECES(t, "abc", 0, "a", "bc");                      /* "b c" ranks before "a b" */
    PIECES(t, "ab", 0, "ab");
    PIECES(t, "aaa", 0, "aa", "a");                      /* equal ranks: leftmost first */
    PIECES(t, "aaaaa", 0, "aaaa", "a");
    PIECES(t, "\n\xFF", 0, "\n", "\xFF");
    ck_assert_int_eq(eng_tok_encode(t, "", 0, 0, NULL, 0), 0);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

START_TEST(test_bpe_llama3_word_that_is_a_token_skips_merges)
{
    vocab *v = v_new();
    v_bytes(v);
    v_merge(v, "a", "b");
    v_add(v, "abc", ENG_TOK_NORMAL, 0);   /* reachable by no merge */
    eng_tok *l3 = v_build_ok(v, ENG_TOK_MODEL_BPE, "llama3");
    eng_tok *q2 = v_build_ok(v, ENG_TOK_MODEL_BPE, "qwen2");
    PIECES(l3, "abc", 0, "abc");
    PIECES(q2, "abc", 0, "ab", "c");
    eng_tok_free(l3);
    eng_tok_free(q2);
    v_free(v);
}
END_TEST

START_TEST(test_encode_reports_needed_size_and_respects_cap)
{
    vocab *v = hand_bpe_vocab();
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, "gpt2");
    int32_t ids[4] = {-7, -7, -7, -7};
    ck_assert_int_eq(eng_tok_encode(t, "hello world!", 12, 0, NULL, 0), 3);
    ck_assert_int_eq(eng_tok_encode(t, "hello world!", 12, 0, ids, 2), 3);
    ck_assert_int_ne(ids[0], -7);
    ck_assert_int_eq(ids[2], -7);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

static void expect_build_error(vocab *v, eng_tok_model model, const char *pre, const char *msg)
{
    char err[256] = "";
    eng_tok *t = v_build(v, model, pre, err);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, msg) != NULL, "error \"%s\" lacks \"%s\"", err, msg);
}

START_TEST(test_bpe_bad_merges_name_their_index)
{
    vocab *v = v_new();
    v_bytes(v);
    v_merge(v, "a", "b");
    v->merge[v->nm++] = (eng_tok_str){dup_n("ab zz", 5), 5};   /* "zz" is no token */
    expect_build_error(v, ENG_TOK_MODEL_BPE, "gpt2", "merge 1 \"ab zz\": right part");
    free((char *)v->merge[--v->nm].ptr);
    v->merge[v->nm++] = (eng_tok_str){dup_n("abc", 3), 3};
    expect_build_error(v, ENG_TOK_MODEL_BPE, "gpt2", "merge 1: not two tokens");
    free((char *)v->merge[--v->nm].ptr);
    v->merge[v->nm++] = (eng_tok_str){dup_n("ab c", 4), 4};     /* "abc" is no token */
    expect_build_error(v, ENG_TOK_MODEL_BPE, "gpt2", "the merged token");
    v_free(v);
}
END_TEST

START_TEST(test_construction_bounds)
{
    vocab *v = v_new();
    expect_build_error(v, ENG_TOK_MODEL_BPE, "gpt2", "vocabulary size 0");
    v_bytes(v);
    expect_build_error(v, ENG_TOK_MODEL_BPE, "qwen3-unknown", "unknown pre-tokenizer");
    expect_build_error(v, (eng_tok_model)7, "gpt2", "unknown tokenizer model");
    char *big = calloc(1, ENG_TOK_MAX_TOKEN_LEN + 2);
    memset(big, 'x', ENG_TOK_MAX_TOKEN_LEN + 1);
    v_add(v, big, ENG_TOK_NORMAL, 0);
    free(big);
    expect_build_error(v, ENG_TOK_MODEL_BPE, "gpt2", "token 256: length 4097");
    v_free(v);

    v = v_new();
    v_bytes(v);
    eng_tok_params p;
    eng_tok_params_init(&p);
    p.model = ENG_TOK_MODEL_BPE, p.n_vocab = v->n, p.tokens = v->tok;
    p.special.eos = 256;
    char err[128];
    ck_assert_ptr_null(eng_tok_new(&p, err, sizeof err));
    ck_assert_str_eq(err, "eos token id 256 out of range (vocabulary of 256)");
    v_free(v);
}
END_TEST

/* ---- Special tokens ----------------------------------------------------------------- */

START_TEST(test_special_tokens_matched_only_when_asked)
{
    vocab *v = hand_bpe_vocab();
    int32_t eot = v_add(v, "<|endoftext|>", ENG_TOK_CONTROL, 0);
    int32_t fim = v_add(v, "<|fim_prefix|>", ENG_TOK_CONTROL, 0);
    v_add(v, "<|fim", ENG_TOK_CONTROL, 0);
    int32_t user = v_add(v, "<USER>", ENG_TOK_USER_DEFINED, 0);
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, "qwen2");
    const char *text = "<|fim_prefix|>hello<|endoftext|>";
    PIECES(t, text, ENG_TOK_ENCODE_SPECIAL, "<|fim_prefix|>", "hello", "<|endoftext|>");
    PIECES(t, "<|fim_pre", ENG_TOK_ENCODE_SPECIAL, "<|fim", "_", "p", "r", "e");  /* longest */
    int32_t ids[64];
    int64_t n = eng_tok_encode(t, text, strlen(text), 0, ids, 64);
    for (int64_t i = 0; i < n; i++)
        ck_assert(ids[i] != eot && ids[i] != fim && !eng_tok_is_special(t, ids[i]));
    char out[64];
    ck_assert_int_eq(eng_tok_decode(t, ids, (size_t)n, 0, out, sizeof out), strlen(text));
    ck_assert(memcmp(out, text, strlen(text)) == 0);
    PIECES(t, "a<USER>b", 0, "a", "<USER>", "b");      /* user-defined: always */
    ck_assert_int_eq(eng_tok_type_of(t, user), ENG_TOK_USER_DEFINED);
    ck_assert(eng_tok_is_special(t, eot));
    ck_assert_int_eq(eng_tok_lookup(t, "<|endoftext|>", 13), eot);
    /* FIM and EOT ids nobody gave are found by name */
    ck_assert_int_eq(eng_tok_specials(t)->fim_pre, fim);
    ck_assert_int_eq(eng_tok_specials(t)->eot, eot);
    ck_assert_int_eq(eng_tok_specials(t)->fim_suf, -1);
    /* decoding control tokens: their text only on request */
    int32_t two[2] = {eot, (int32_t)'x'};
    ck_assert_int_eq(eng_tok_decode(t, two, 2, 0, out, sizeof out), 1);
    ck_assert_int_eq(eng_tok_decode(t, two, 2, ENG_TOK_DECODE_SPECIAL, out, sizeof out), 14);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

START_TEST(test_fim_ids_found_by_family_names)
{
    vocab *v = v_new();
    v_bytes(v);
    int32_t b = v_add(v, "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", ENG_TOK_CONTROL, 0);
    int32_t h = v_add(v, "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>", ENG_TOK_CONTROL, 0);
    int32_t e = v_add(v, "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", ENG_TOK_CONTROL, 0);
    int32_t sep = v_add(v, "<file_sep>", ENG_TOK_CONTROL, 0);
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, "deepseek-coder");
    const eng_tok_special *s = eng_tok_specials(t);
    ck_assert_int_eq(s->fim_pre, b);
    ck_assert_int_eq(s->fim_suf, h);
    ck_assert_int_eq(s->fim_mid, e);
    ck_assert_int_eq(s->fim_sep, sep);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

/* ---- SentencePiece ------------------------------------------------------------------ */

static vocab *hand_spm_vocab(void)
{
    vocab *v = v_new();
    v_add(v, "<unk>", ENG_TOK_UNKNOWN, 0);
    v_add(v, "<s>", ENG_TOK_CONTROL, 0);
    v_add(v, "</s>", ENG_TOK_CONTROL, 0);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        v_add(v, name, ENG_TOK_BYTE, 0);
    }
    const struct { const char *s; float score; } n[] = {
        {SP, -10}, {"h", -20}, {"e", -20}, {"l", -20}, {"o", -20}, {"w", -20}, {"r", -20},
        {"d", -20}, {"a", -20}, {"b", -20}, {"c", -20}, {"ll", -1}, {"he", -2}, {"hell", -3},
        {"hello", -4}, {SP "hello", -5}, {SP "w", -6}, {"or", -7}, {SP "wor", -8}, {"ld", -9},
        {SP "world", -9.5f}, {"ab", -1}, {"bc", -0.5f},
    };
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
        v_add(v, n[i].s, ENG_TOK_NORMAL, n[i].score);
    return v;
}

START_TEST(test_spm_merges_highest_score_first_with_byte_fallback)
{
    vocab *v = hand_spm_vocab();
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_SPM, NULL);
    PIECES(t, "hello world", 0, " hello", " world");
    PIECES(t, "abc", 0, " ", "a", "bc");                /* "bc" (-0.5) beats "ab" (-1) */
    PIECES(t, "h\xC3\xA9", 0, " ", "h", "\xC3", "\xA9"); /* é: bytes <0xC3> <0xA9> */
    PIECES(t, "hello", ENG_TOK_ENCODE_NO_PREFIX, "hello");
    PIECES(t, "<s>hello", ENG_TOK_ENCODE_SPECIAL, "<s>", " hello");  /* prefix after specials */
    int32_t ids[16];
    int64_t n = eng_tok_encode(t, "h\xC3\xA9", 3, 0, ids, 16);
    ck_assert_int_eq(eng_tok_type_of(t, ids[2]), ENG_TOK_BYTE);
    size_t len;
    const char *txt = eng_tok_text(t, ids[2], &len);
    ck_assert(len == 6 && memcmp(txt, "<0xC3>", 6) == 0);
    n = eng_tok_encode(t, "hello world", 11, 0, ids, 16);
    char out[32];
    ck_assert_int_eq(eng_tok_decode(t, ids, (size_t)n, ENG_TOK_DECODE_STRIP_SPACE, out,
                                    sizeof out), 11);
    ck_assert(memcmp(out, "hello world", 11) == 0);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

/* ---- Round trips -------------------------------------------------------------------- */

static void check_round_trip(const eng_tok *t, const char *text, size_t n, unsigned dflags)
{
    int64_t k = eng_tok_encode(t, text, n, 0, NULL, 0);
    ck_assert_int_ge(k, 0);
    int32_t *ids = malloc(((size_t)k + 1) * sizeof *ids);
    char *out = malloc(n + 1);
    ck_assert_int_eq(eng_tok_encode(t, text, n, 0, ids, (size_t)k), k);
    ck_assert_int_eq(eng_tok_decode(t, ids, (size_t)k, dflags, out, n), n);
    ck_assert_msg(memcmp(out, text, n) == 0, "round trip differs (%s)",
                  eng_tok_pre_name(eng_tok_pre_kind(t)));
    free(ids);
    free(out);
}

START_TEST(test_invalid_utf8_round_trips_bytes)
{
    vocab *v = hand_bpe_vocab();
    vocab *sv = hand_spm_vocab();
    eng_tok *spm = v_build_ok(sv, ENG_TOK_MODEL_SPM, NULL);
    char buf[200];
    for (int pre = ENG_TOK_PRE_DEFAULT; pre <= ENG_TOK_PRE_STARCODER; pre++) {
        eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, eng_tok_pre_name((eng_tok_pre)pre));
        for (int iter = 0; iter < 200; iter++) {
            size_t n = rnd() % sizeof buf;
            random_bytes(buf, n);
            check_round_trip(t, buf, n, 0);
            for (size_t i = 0; i < n; i++)  /* no literal "▁" for SPM */
                buf[i] = buf[i] == '\xE2' ? 'E' : buf[i];
            check_round_trip(spm, buf, n, ENG_TOK_DECODE_STRIP_SPACE);
        }
        eng_tok_free(t);
    }
    eng_tok_free(spm);
    v_free(v);
    v_free(sv);
}
END_TEST

/* Up to max files under dir ending in ext, concatenated (each capped), or NULL. */
static char *read_files(const char *dir, const char *ext, int max, size_t cap, size_t *len)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), el = strlen(ext);
        if (l > el && strcmp(e->d_name + l - el, ext) == 0) {
            names = realloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, (int (*)(const void *, const void *))strcmp);
    char *all = malloc((size_t)max * cap + 1);
    *len = 0;
    for (int i = 0, used = 0; i < n && used < max; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[(i * 7) % n]);  /* a spread */
        FILE *f = fopen(path, "rb");
        if (f) {
            *len += fread(all + *len, 1, cap, f);
            fclose(f);
            used++;
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return all;
}

enum { TRAIN_MERGES = 300, TV = 256 + TRAIN_MERGES };

/* A tiny BPE trainer: the most frequent adjacent pair over the corpus' qwen2 words becomes
 * the next merge, TRAIN_MERGES times. Fills v (byte tokens + merges) and rank[a * TV + b]. */
static void train_bpe(const char *text, size_t n, vocab *v, int32_t *rank, int32_t *res)
{
    uint32_t *ends;
    int64_t nw = eng_tok_pre_split(ENG_TOK_PRE_QWEN2, text, n, &ends);
    int32_t *sym = malloc((n + (size_t)nw + 1) * sizeof *sym);
    size_t ns = 0;
    for (int64_t w = 0, s = 0; w < nw; s = ends[w++]) {
        for (uint32_t i = (uint32_t)s; i < ends[w]; i++)
            sym[ns++] = (uint8_t)text[i];
        sym[ns++] = -1;
    }
    free(ends);
    v_bytes(v);
    uint32_t *count = malloc((size_t)TV * TV * sizeof *count);
    for (int m = 0; m < TRAIN_MERGES; m++) {
        memset(count, 0, (size_t)TV * TV * sizeof *count);
        uint32_t best = 0, bi = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            if (sym[i] < 0 || sym[i + 1] < 0)
                continue;
            uint32_t k = (uint32_t)sym[i] * TV + (uint32_t)sym[i + 1];
            if (++count[k] > best || (count[k] == best && k < bi))
                best = count[k], bi = k;
        }
        if (best < 2)
            break;
        int32_t a = (int32_t)(bi / TV), b = (int32_t)(bi % TV);
        char tok[512], mrg[512];
        size_t la = v->tok[a].len, lb = v->tok[b].len;
        if (la + lb > 500)
            break;
        memcpy(tok, v->tok[a].ptr, la);
        memcpy(tok + la, v->tok[b].ptr, lb);
        tok[la + lb] = 0;
        int32_t r = v_find(v, tok, la + lb);
        if (r < 0)
            r = v_add(v, tok, ENG_TOK_NORMAL, 0);
        snprintf(mrg, sizeof mrg, "%.*s %.*s", (int)la, v->tok[a].ptr, (int)lb, v->tok[b].ptr);
        v->merge[v->nm++] = (eng_tok_str){dup_n(mrg, la + lb + 1), la + lb + 1};
        if (rank[bi] < 0)
            rank[bi] = m, res[bi] = r;
        size_t o = 0;
        for (size_t i = 0; i < ns; i++) {
            if (i + 1 < ns && sym[i] == a && sym[i + 1] == b)
                sym[o++] = r, i++;
            else
                sym[o++] = sym[i];
        }
        ns = o;
    }
    free(count);
    free(sym);
}

/* The textbook BPE: rescan for the lowest-ranked pair (leftmost on ties) until none. */
static size_t naive_bpe(const char *text, size_t n, eng_tok_pre pre, const int32_t *rank,
                        const int32_t *res, int32_t *out)
{
    uint32_t *ends;
    int64_t nw = eng_tok_pre_split(pre, text, n, &ends);
    size_t no = 0;
    int32_t *sym = malloc((n + 1) * sizeof *sym);
    for (int64_t w = 0, s = 0; w < nw; s = ends[w++]) {
        size_t ns = 0;
        for (uint32_t i = (uint32_t)s; i < ends[w]; i++)
            sym[ns++] = (uint8_t)text[i];
        for (;;) {
            int32_t best = -1;
            size_t at = 0;
            for (size_t i = 0; i + 1 < ns; i++) {
                int32_t r = rank[sym[i] * TV + sym[i + 1]];
                if (r >= 0 && (best < 0 || r < best))
                    best = r, at = i;
            }
            if (best < 0)
                break;
            sym[at] = res[sym[at] * TV + sym[at + 1]];
            memmove(sym + at + 1, sym + at + 2, (ns - at - 2) * sizeof *sym);
            ns--;
        }
        memcpy(out + no, sym, ns * sizeof *sym);
        no += ns;
    }
    free(sym);
    free(ends);
    return no;
}

START_TEST(test_round_trip_real_source_files)
{
    size_t npy = 0, nh = 0;
    char *py = read_files("/usr/lib/python3.11", ".py", 6, 60000, &npy);
    char *h = read_files("/usr/include", ".h", 6, 30000, &nh);
    if (!py || !h || npy < 10000) {
        free(py);
        free(h);
        return;     /* no source files on this machine: nothing to learn from */
    }
    vocab *v = v_new();
    int32_t *rank = malloc((size_t)TV * TV * sizeof *rank), *res = malloc((size_t)TV * TV * sizeof *res);
    memset(rank, 0xFF, (size_t)TV * TV * sizeof *rank);
    train_bpe(py, npy < 100000 ? npy : 100000, v, rank, res);
    ck_assert_uint_gt(v->nm, 100);
    const char *const sources[] = {py, h};
    const size_t lens[] = {npy, nh};
    for (int pre = ENG_TOK_PRE_DEFAULT; pre <= ENG_TOK_PRE_STARCODER; pre++) {
        eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, eng_tok_pre_name((eng_tok_pre)pre));
        for (int f = 0; f < 2; f++) {
            check_round_trip(t, sources[f], lens[f], 0);
            if (pre == ENG_TOK_PRE_LLAMA3)
                continue;   /* ignore_merges: not the textbook algorithm */
            size_t n = lens[f] < 20000 ? lens[f] : 20000;
            int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
            int64_t k = eng_tok_encode(t, sources[f], n, 0, a, n);
            ck_assert_int_lt(k, (int64_t)n * 4 / 5);     /* the merges do compress */
            ck_assert_int_eq((size_t)k, naive_bpe(sources[f], n, (eng_tok_pre)pre, rank, res, b));
            ck_assert(memcmp(a, b, (size_t)k * sizeof *a) == 0);
            free(a);
            free(b);
        }
        eng_tok_free(t);
    }
    free(rank);
    free(res);
    v_free(v);
    free(py);
    free(h);
}
END_TEST

/* ---- Streaming decode --------------------------------------------------------------- */

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += eng_tok_utf8_next(s + i, n - i, &cp);
        if (cp >= ENG_TOK_UTF8_MORE)
            return false;
    }
    return true;
}

START_TEST(test_stream_split_at_every_byte_of_multibyte_chars)
{
    const char *s = "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";  /* é 中 😀: 2 + 3 + 4 bytes */
    const size_t n = 9, char_end[] = {2, 5, 9};
    vocab *v = v_new();
    v_bytes(v);
    char part[16];
    for (size_t k = 1; k < n; k++) {     /* each cut as two user-defined tokens */
        memcpy(part, s, k), part[k] = 0;
        v_add(v, part, ENG_TOK_USER_DEFINED, 0);
        memcpy(part, s + k, n - k), part[n - k] = 0;
        v_add(v, part, ENG_TOK_USER_DEFINED, 0);
    }
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, "qwen2");
    eng_tok_stream *st = eng_tok_stream_new(t, 0);
    for (size_t k = 1; k < n; k++) {
        size_t l1, l2, lf;
        const char *o1 = eng_tok_stream_push(st, 256 + 2 * ((int32_t)k - 1), &l1);
        size_t whole = 0;       /* bytes of the characters complete within s[0..k) */
        for (int c = 0; c < 3; c++)
            whole = char_end[c] <= k ? char_end[c] : whole;
        ck_assert_uint_eq(l1, whole);
        ck_assert(memcmp(o1, s, l1) == 0);
        const char *o2 = eng_tok_stream_push(st, 256 + 2 * ((int32_t)k - 1) + 1, &l2);
        ck_assert_uint_eq(l1 + l2, n);
        ck_assert(memcmp(o2, s + l1, l2) == 0);
        eng_tok_stream_flush(st, &lf);
        ck_assert_uint_eq(lf, 0);
    }
    /* one token per byte (byte b is token b): every push is whole characters */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *o = eng_tok_stream_push(st, (uint8_t)s[i], &l);
        ck_assert(valid_utf8(o, l));
        ck_assert(memcmp(o, s + total, l) == 0);
        total += l;
    }
    ck_assert_uint_eq(total, n);
    eng_tok_stream_free(st);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

START_TEST(test_stream_invalid_bytes_become_replacement_when_final)
{
    vocab *v = v_new();
    v_bytes(v);
    eng_tok *t = v_build_ok(v, ENG_TOK_MODEL_BPE, "qwen2");
    eng_tok_stream *st = eng_tok_stream_new(t, 0);
    size_t l;
    const char *o = eng_tok_stream_push(st, 0xE2, &l);
    ck_assert_uint_eq(l, 0);
    eng_tok_stream_push(st, 0x82, &l);
    ck_assert_uint_eq(l, 0);
    o = eng_tok_stream_push(st, 'a', &l);           /* E2 82 can no longer complete */
    ck_assert_uint_eq(l, 4);
    ck_assert(memcmp(o, "\xEF\xBF\xBD" "a", 4) == 0);
    o = eng_tok_stream_push(st, 0xFF, &l);          /* never valid: out at once */
    ck_assert(l == 3 && memcmp(o, "\xEF\xBF\xBD", 3) == 0);
    eng_tok_stream_push(st, 0xC3, &l);
    o = eng_tok_stream_push(st, 0xC3, &l);          /* C3 C3: the first is done for */
    ck_assert(l == 3 && memcmp(o, "\xEF\xBF\xBD", 3) == 0);
    o = eng_tok_stream_push(st, 0xA9, &l);
    ck_assert(l == 2 && memcmp(o, "\xC3\xA9", 2) == 0);
    eng_tok_stream_push(st, 0xF0, &l);
    eng_tok_stream_push(st, 0x9F, &l);
    o = eng_tok_stream_flush(st, &l);               /* end of stream: one U+FFFD */
    ck_assert(l == 3 && memcmp(o, "\xEF\xBF\xBD", 3) == 0);
    eng_tok_stream_flush(st, &l);
    ck_assert_uint_eq(l, 0);
    eng_tok_stream_push(st, 0xE4, &l);
    eng_tok_stream_reset(st);                       /* forgets the held byte */
    o = eng_tok_stream_push(st, 'z', &l);
    ck_assert(l == 1 && o[0] == 'z');
    eng_tok_stream_free(st);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

/* ---- GGUF --------------------------------------------------------------------------- */

/* Writes v's tokenizer as GGUF metadata, lets edit change the writer, then loads it. */
static eng_tok *load_gguf(const vocab *v, const char *model, void (*edit)(gguf_writer *),
                          char *err, size_t errlen)
{
    gguf_writer *w = gguf_writer_new();
    const char *strs[MAXV];
    size_t lens[MAXV];
    gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2");
    for (uint32_t i = 0; i < v->n; i++)
        strs[i] = v->tok[i].ptr, lens[i] = v->tok[i].len;
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, lens, v->n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VAL_I32, v->type, v->n);
    if (strcmp(model, "llama") == 0)
        gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VAL_F32, v->score, v->n);
    for (uint32_t i = 0; i < v->nm; i++)
        strs[i] = v->merge[i].ptr, lens[i] = v->merge[i].len;
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", strs, lens, v->nm);
    if (edit)
        edit(w);
    void *buf;
    size_t len;
    ck_assert_int_eq(gguf_writer_write_mem(w, &buf, &len), 0);
    gguf_writer_free(w);
    gguf_ctx *g = gguf_open_mem(buf, len, "test.gguf", err, errlen);
    ck_assert_msg(g != NULL, "%s", err);
    eng_tok *t = eng_tok_from_gguf(g, err, errlen);
    gguf_close(g);
    free(buf);
    return t;
}

static void edit_ids(gguf_writer *w)
{
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 256);
    gguf_writer_set_u32(w, "tokenizer.ggml.prefix_token_id", 257);  /* older key */
    gguf_writer_set_u32(w, "tokenizer.ggml.fim_suf_token_id", 258);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 99999);  /* ignored */
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
}
static void edit_bad_eos(gguf_writer *w) { gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 99999); }
static void edit_bad_types(gguf_writer *w)
{
    int32_t ty[3] = {1, 1, 1};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VAL_I32, ty, 3);
}

START_TEST(test_gguf_loads_bpe_tokenizer_and_ids)
{
    vocab *v = hand_bpe_vocab();
    char err[256] = "";
    eng_tok *t = load_gguf(v, "gpt2", edit_ids, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(eng_tok_pre_kind(t), ENG_TOK_PRE_QWEN2);
    ck_assert_uint_eq(eng_tok_n_vocab(t), v->n);
    PIECES(t, "hello world", 0, "hello", " world");
    const eng_tok_special *s = eng_tok_specials(t);
    ck_assert_int_eq(s->eos, 256);
    ck_assert_int_eq(s->fim_pre, 257);
    ck_assert_int_eq(s->fim_suf, 258);
    ck_assert_int_eq(s->pad, -1);
    ck_assert(s->add_bos);
    eng_tok_free(t);

    ck_assert_ptr_null(load_gguf(v, "gpt2", edit_bad_eos, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "eos_token_id: id outside the vocabulary"));
    ck_assert_ptr_null(load_gguf(v, "gpt2", edit_bad_types, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "scores has 3 entries"));
    ck_assert_ptr_null(load_gguf(v, "bert", NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "\"bert\" is not supported"));
    v->merge[v->nm++] = (eng_tok_str){dup_n("q zz", 4), 4};
    ck_assert_ptr_null(load_gguf(v, "gpt2", NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "test.gguf: merge 13"));
    v_free(v);
}
END_TEST

START_TEST(test_gguf_loads_spm_tokenizer_with_defaults)
{
    vocab *v = hand_spm_vocab();
    char err[256] = "";
    eng_tok *t = load_gguf(v, "llama", NULL, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_int_eq(eng_tok_model_kind(t), ENG_TOK_MODEL_SPM);
    PIECES(t, "hello world", 0, " hello", " world");   /* the scores came through */
    const eng_tok_special *s = eng_tok_specials(t);
    ck_assert(s->unk == 0 && s->bos == 1 && s->eos == 2 && s->add_bos);
    eng_tok_free(t);
    v_free(v);
}
END_TEST

static Suite *tok_suite(void)
{
    Suite *s = suite_create("tok");
    TCase *c = tcase_create("core");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, test_uclass_categories);
    tcase_add_test(c, test_utf8_next_strict_with_maximal_subparts);
    tcase_add_test(c, test_pre_gpt2_vectors);
    tcase_add_test(c, test_pre_llama3_vectors);
    tcase_add_test(c, test_pre_qwen2_vectors);
    tcase_add_test(c, test_pre_starcoder_vectors);
    tcase_add_test(c, test_pre_deepseek_coder_vectors);
    tcase_add_test(c, test_pre_default_vectors);
    tcase_add_test(c, test_pre_names);
    tcase_add_test(c, test_pre_split_covers_any_bytes);
    tcase_add_test(c, test_bpe_merges_lowest_rank_first);
    tcase_add_test(c, test_bpe_llama3_word_that_is_a_token_skips_merges);
    tcase_add_test(c, test_encode_reports_needed_size_and_respects_cap);
    tcase_add_test(c, test_bpe_bad_merges_name_their_index);
    tcase_add_test(c, test_construction_bounds);
    tcase_add_test(c, test_special_tokens_matched_only_when_asked);
    tcase_add_test(c, test_fim_ids_found_by_family_names);
    tcase_add_test(c, test_spm_merges_highest_score_first_with_byte_fallback);
    tcase_add_test(c, test_invalid_utf8_round_trips_bytes);
    tcase_add_test(c, test_round_trip_real_source_files);
    tcase_add_test(c, test_stream_split_at_every_byte_of_multibyte_chars);
    tcase_add_test(c, test_stream_invalid_bytes_become_replacement_when_final);
    tcase_add_test(c, test_gguf_loads_bpe_tokenizer_and_ids);
    tcase_add_test(c, test_gguf_loads_spm_tokenizer_with_defaults);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return check_failed(tok_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
