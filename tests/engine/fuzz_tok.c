/* tests/engine/fuzz_tok.c — libFuzzer target for the tokenizers.
 *
 * Input: one selector byte, then the text. The selector picks the pre-tokenizer (low 3 bits)
 * and whether control tokens are parsed (bit 3). With bit 4 set the rest is not text but a
 * list of token ids (see decode_ids: arbitrary ids, out of range and negative included, so
 * byte tokens split UTF-8 characters anywhere). Otherwise, for every input:
 *   - the pre-tokenizer's words tile the text exactly;
 *   - byte-level BPE: decode(encode(text)) == text, byte for byte (with control tokens
 *     decoded as their text), and counting without a buffer gives the same count;
 *   - the streaming decoder emits only valid UTF-8, and exactly the text when it is valid;
 *   - SentencePiece with byte fallback: the same round trip (text without a literal "▁").
 * The tokenizers are built on the first call and kept for the process (a fuzzer singleton).
 */
#include "tok.h"

#include <stdlib.h>
#include <string.h>

static eng_tok *bpe[ENG_TOK_PRE_STARCODER + 1], *spm;

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

typedef struct {
    eng_tok_str tok[512];
    int32_t type[512];
    float score[512];
    uint32_t n;
} vocab;

static void add(vocab *v, const char *s, size_t n, int32_t type, float score)
{
    v->tok[v->n] = (eng_tok_str){dup_str(s, n), n};
    v->type[v->n] = type, v->score[v->n] = score;
    v->n++;
}

static void add_specials(vocab *v, bool user_defined)
{
    add(v, "<|endoftext|>", 13, ENG_TOK_CONTROL, 0);
    add(v, "<|fim_prefix|>", 14, ENG_TOK_CONTROL, 0);
    add(v, "<|fim", 5, ENG_TOK_CONTROL, 0);
    if (user_defined)   /* SPM puts a dummy "▁" after one: no round trip there */
        add(v, "<U>", 3, ENG_TOK_USER_DEFINED, 0);
}

static void build(void)
{
    /* GPT-2 spelled merges: "Ġ" is a space, "Ċ" a newline */
    static const char *const merges[] = {
        "\xC4\xA0 t", "h e", "i n", "e r", "\xC4\xA0t he", "\xC4\xA0 \xC4\xA0", "\xC4\xA0\xC4\xA0 \xC4\xA0\xC4\xA0",
        "r e", "o n", "\xC4\xA0 a", "\xC4\x8A \xC4\x8A", "in t", "( )", "= =", "d e", "de f", "\xC3\x83 \xC2\xA9",
    };
    vocab v = {0};
    for (int b = 0; b < 256; b++) {
        char c[2];
        add(&v, c, eng_tok_byte_char((uint8_t)b, c), ENG_TOK_NORMAL, 0);
    }
    eng_tok_str m[sizeof merges / sizeof merges[0]];
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        size_t n = strlen(merges[i]);
        m[i] = (eng_tok_str){merges[i], n};
        const char *sp = strchr(merges[i], ' ');
        char cat[32];
        size_t nl = (size_t)(sp - merges[i]);
        memcpy(cat, merges[i], nl);
        memcpy(cat + nl, sp + 1, n - nl - 1);
        add(&v, cat, n - 1, ENG_TOK_NORMAL, 0);   /* repeats are fine: later ids win */
    }
    add_specials(&v, true);
    eng_tok_params p;
    eng_tok_params_init(&p);
    p.model = ENG_TOK_MODEL_BPE, p.n_vocab = v.n, p.tokens = v.tok, p.types = v.type;
    p.n_merges = sizeof m / sizeof m[0], p.merges = m;
    for (int k = 0; k <= ENG_TOK_PRE_STARCODER; k++) {
        p.pre = eng_tok_pre_name((eng_tok_pre)k);
        if (!(bpe[k] = eng_tok_new(&p, NULL, 0)))
            abort();
    }
    for (uint32_t i = 0; i < v.n; i++)
        free((char *)v.tok[i].ptr);

    vocab s = {0};
    add(&s, "<unk>", 5, ENG_TOK_UNKNOWN, 0);
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        add(&s, name, 6, ENG_TOK_BYTE, 0);
    }
    static const char *const pieces[] = {"\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81\x61",
                                         "e", "he", "\xE2\x96\x81he", "\xC3\xA9", "in", "t"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        add(&s, pieces[i], strlen(pieces[i]), ENG_TOK_NORMAL, -(float)(i % 5));
    add_specials(&s, false);
    eng_tok_params_init(&p);
    p.model = ENG_TOK_MODEL_SPM, p.n_vocab = s.n, p.tokens = s.tok, p.types = s.type;
    p.scores = s.score;
    p.special.unk = 0;
    if (!(spm = eng_tok_new(&p, NULL, 0)))
        abort();
    for (uint32_t i = 0; i < s.n; i++)
        free((char *)s.tok[i].ptr);
}

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

/* encode -> decode must give the text back; returns the ids (caller frees) and count. */
static int32_t *round_trip(const eng_tok *t, const char *text, size_t n, unsigned eflags,
                           unsigned dflags, int64_t *count)
{
    int64_t k = eng_tok_encode(t, text, n, eflags, NULL, 0);
    if (k < 0)
        abort();
    int32_t *ids = malloc(((size_t)k + 1) * sizeof *ids);
    char *out = malloc(n + 1);
    if (!ids || !out || eng_tok_encode(t, text, n, eflags, ids, (size_t)k) != k)
        abort();
    if (eng_tok_decode(t, ids, (size_t)k, dflags, out, n) != (int64_t)n || memcmp(out, text, n))
        abort();
    free(out);
    *count = k;
    return ids;
}

/* Any id sequence: decode writes no more than cap bytes and the same prefix at any cap; the
 * streaming decoder emits only valid UTF-8, and exactly the decoded bytes when those are
 * valid UTF-8. Ids are 16-bit, mapped to [-8, n_vocab + 8), or raw 32-bit after a 0xFFFF. */
static void decode_ids(const eng_tok *t, const uint8_t *p, size_t n, unsigned flags)
{
    int32_t *ids = malloc((n / 2 + 1) * sizeof *ids);
    if (!ids)
        abort();
    size_t k = 0;
    int64_t span = (int64_t)eng_tok_n_vocab(t) + 16;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v = p[i] | (unsigned)p[i + 1] << 8;
        if (v == 0xFFFF && i + 5 < n) {
            uint32_t raw;
            memcpy(&raw, p + i + 2, 4);
            ids[k++] = (int32_t)raw;
            i += 4;
        } else {
            ids[k++] = (int32_t)((int64_t)v % span - 8);
        }
    }
    int64_t need = eng_tok_decode(t, ids, k, flags, NULL, 0);
    if (need < 0)
        abort();
    char *full = malloc((size_t)need + 1), *part = malloc((size_t)need / 2 + 1);
    char *all = malloc(3 * (size_t)need + 4);
    if (!full || !part || !all)
        abort();
    /* exact-size buffers: writing past cap is an ASan report */
    if (eng_tok_decode(t, ids, k, flags, full, (size_t)need) != need ||
        eng_tok_decode(t, ids, k, flags, part, (size_t)need / 2) != need ||
        memcmp(full, part, (size_t)need / 2))
        abort();
    eng_tok_stream *st = eng_tok_stream_new(t, flags);
    if (!st)
        abort();
    size_t total = 0, len;
    for (size_t i = 0; i < k; i++) {
        const char *o = eng_tok_stream_push(st, ids[i], &len);
        if (!valid_utf8(o, len) || total + len > 3 * (size_t)need + 3)
            abort();
        memcpy(all + total, o, len), total += len;
    }
    const char *o = eng_tok_stream_flush(st, &len);
    if (!valid_utf8(o, len) || total + len > 3 * (size_t)need + 3)
        abort();
    memcpy(all + total, o, len), total += len;
    if (valid_utf8(full, (size_t)need) && (total != (size_t)need || memcmp(all, full, total)))
        abort();
    eng_tok_stream_free(st);
    free(all);
    free(part);
    free(full);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!spm)
        build();
    if (size < 1)
        return 0;
    eng_tok_pre pre = (eng_tok_pre)((data[0] & 7) % (ENG_TOK_PRE_STARCODER + 1));
    bool special = data[0] & 8;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 16) {
        /* bit 5: the SentencePiece vocabulary; bit 6: strip SPM's leading space */
        unsigned flags = (special ? ENG_TOK_DECODE_SPECIAL : 0) |
                         (data[0] & 64 ? ENG_TOK_DECODE_STRIP_SPACE : 0);
        decode_ids(data[0] & 32 ? spm : bpe[pre], data + 1, n, flags);
        return 0;
    }

    uint32_t *ends;
    int64_t nw = eng_tok_pre_split(pre, text, n, &ends);
    if (nw < 0 || (n && (nw == 0 || ends[nw - 1] != n)))
        abort();
    for (int64_t i = 1; i < nw; i++)
        if (ends[i] <= ends[i - 1])
            abort();
    free(ends);

    int64_t k;
    int32_t *ids = round_trip(bpe[pre], text, n, special ? ENG_TOK_ENCODE_SPECIAL : 0,
                              ENG_TOK_DECODE_SPECIAL, &k);
    eng_tok_stream *st = eng_tok_stream_new(bpe[pre], ENG_TOK_DECODE_SPECIAL);
    char *all = malloc(3 * n + 4);
    if (!st || !all)
        abort();
    size_t total = 0, len;
    for (int64_t i = 0; i < k; i++) {
        const char *o = eng_tok_stream_push(st, ids[i], &len);
        if (!valid_utf8(o, len))
            abort();
        memcpy(all + total, o, len), total += len;
    }
    const char *o = eng_tok_stream_flush(st, &len);
    memcpy(all + total, o, len), total += len;
    if (valid_utf8(text, n) && (total != n || memcmp(all, text, n)))
        abort();
    free(all);
    eng_tok_stream_free(st);
    free(ids);

    if (!memmem(text, n, "\xE2\x96\x81", 3)) {
        ids = round_trip(spm, text, n, 0, ENG_TOK_DECODE_STRIP_SPACE, &k);
        free(ids);
    }
    return 0;
}
