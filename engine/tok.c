/* engine/tok.c — the vocabulary: building an eng_tok, its hash tables, queries.
 *
 * eng_tok_new copies the token strings, precomputes each token's decoded bytes (its piece),
 * hashes text -> id and (left id, right id) -> merge rank, finds the byte tokens, indexes the
 * special tokens the encoder looks for in raw text, and fills FIM/EOT ids by name. The
 * eng_tok owns all of it and is never written after eng_tok_new returns. Encoding is in
 * tok_enc.c, decoding in tok_dec.c.
 */
#define ENG_TOK_INTERNAL
#include "tok.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Hashing ------------------------------------------------------------------------ */

static uint32_t table_size(uint32_t n)  /* a power of two >= 2n */
{
    uint32_t sz = 16;
    while (sz < 2 * n)
        sz *= 2;
    return sz;
}

int32_t eng_tok_lookup(const eng_tok *t, const char *s, size_t n)
{
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & t->tok_mask;; i = (i + 1) & t->tok_mask) {
        int32_t id = t->tok_slot[i];
        if (id < 0)
            return -1;
        size_t len;
        const char *ts = tok_str(t, id, &len);
        if (len == n && memcmp(ts, s, n) == 0)
            return id;
    }
}

/* Later duplicates win, as in llama.cpp's token_to_id map. */
static void tok_insert(eng_tok *t, int32_t id)
{
    size_t n;
    const char *s = tok_str(t, id, &n);
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & t->tok_mask;; i = (i + 1) & t->tok_mask) {
        int32_t old = t->tok_slot[i];
        size_t len = 0;
        const char *os = old >= 0 ? tok_str(t, old, &len) : NULL;
        if (!os || (len == n && memcmp(os, s, n) == 0)) {
            t->tok_slot[i] = id;
            return;
        }
    }
}

static bool is_special_type(uint8_t ty)
{
    return ty == ENG_TOK_CONTROL || ty == ENG_TOK_UNKNOWN || ty == ENG_TOK_UNUSED;
}

/* ---- Construction ------------------------------------------------------------------- */

void eng_tok_params_init(eng_tok_params *p)
{
    memset(p, 0, sizeof *p);
    eng_tok_special *s = &p->special;
    s->bos = s->eos = s->eot = s->pad = s->unk = -1;
    s->fim_pre = s->fim_suf = s->fim_mid = s->fim_pad = s->fim_rep = s->fim_sep = -1;
    p->add_space_prefix = true;
}

static int copy_vocab(eng_tok *t, const eng_tok_params *p, char *err, size_t errlen)
{
    size_t total = 0;
    for (uint32_t i = 0; i < p->n_vocab; i++) {
        const eng_tok_str *s = &p->tokens[i];
        if (s->len > ENG_TOK_MAX_TOKEN_LEN || (s->len && !s->ptr)) {
            set_err(err, errlen, "token %u: length %zu over the limit of %u", i, s->len,
                    ENG_TOK_MAX_TOKEN_LEN);
            return -1;
        }
        total += s->len;
    }
    t->texts = malloc(total + 1);
    t->pieces = malloc(total + 1);
    t->text_off = malloc((p->n_vocab + 1) * sizeof *t->text_off);
    t->piece_off = malloc((p->n_vocab + 1) * sizeof *t->piece_off);
    t->types = malloc(p->n_vocab);
    t->scores = calloc(p->n_vocab, sizeof *t->scores);
    if (!t->texts || !t->pieces || !t->text_off || !t->piece_off || !t->types || !t->scores)
        goto oom;
    size_t o = 0;
    for (uint32_t i = 0; i < p->n_vocab; i++) {
        t->text_off[i] = (uint32_t)o;
        if (p->tokens[i].len)
            memcpy(t->texts + o, p->tokens[i].ptr, p->tokens[i].len);
        o += p->tokens[i].len;
        int32_t ty = p->types ? p->types[i] : ENG_TOK_NORMAL;
        t->types[i] = (uint8_t)(ty >= ENG_TOK_NORMAL && ty <= ENG_TOK_BYTE ? ty : ENG_TOK_NORMAL);
        if (p->scores)  /* a NaN would break the merge order: it ranks last */
            t->scores[i] = p->scores[i] == p->scores[i] ? p->scores[i] : -3.0e38f;
    }
    t->text_off[p->n_vocab] = (uint32_t)o;
    o = 0;
    for (uint32_t i = 0; i < p->n_vocab; i++) {
        t->piece_off[i] = (uint32_t)o;
        size_t n = eng_tok_str_bytes(t->model, (eng_tok_type)t->types[i], t->texts +
                                     t->text_off[i], t->text_off[i + 1] - t->text_off[i],
                                     t->pieces + o);
        if (n > t->max_piece)
            t->max_piece = n;
        o += n;
    }
    t->piece_off[p->n_vocab] = (uint32_t)o;
    t->tok_mask = table_size(p->n_vocab) - 1;
    t->tok_slot = malloc(((size_t)t->tok_mask + 1) * sizeof *t->tok_slot);
    if (!t->tok_slot)
        goto oom;
    memset(t->tok_slot, 0xFF, ((size_t)t->tok_mask + 1) * sizeof *t->tok_slot);
    for (uint32_t i = 0; i < p->n_vocab; i++)
        tok_insert(t, (int32_t)i);
    return 0;
oom:
    set_err(err, errlen, "out of memory for a vocabulary of %u tokens", p->n_vocab);
    return -1;
}

static int load_merges(eng_tok *t, const eng_tok_params *p, char *err, size_t errlen)
{
    t->n_merges = p->n_merges;
    t->merge = malloc(((size_t)p->n_merges * 3 + 1) * sizeof *t->merge);
    t->pair_mask = table_size(p->n_merges) - 1;
    t->pair_key = malloc(((size_t)t->pair_mask + 1) * sizeof *t->pair_key);
    t->pair_rank = malloc(((size_t)t->pair_mask + 1) * sizeof *t->pair_rank);
    char *cat = malloc(2 * ENG_TOK_MAX_TOKEN_LEN + 2);
    if (!t->merge || !t->pair_key || !t->pair_rank || !cat) {
        free(cat);
        set_err(err, errlen, "out of memory for %u merges", p->n_merges);
        return -1;
    }
    memset(t->pair_key, 0xFF, ((size_t)t->pair_mask + 1) * sizeof *t->pair_key);
    for (uint32_t r = 0; r < p->n_merges; r++) {
        const char *s = p->merges[r].ptr;
        size_t n = p->merges[r].len;
        /* llama.cpp splits at the first space after the first byte */
        const char *sp = n > 1 && s ? memchr(s + 1, ' ', n - 1) : NULL;
        if (!sp || n > 2 * ENG_TOK_MAX_TOKEN_LEN) {
            set_err(err, errlen, "merge %u: not two tokens separated by a space", r);
            free(cat);
            return -1;
        }
        size_t nl = (size_t)(sp - s), nr = n - nl - 1;
        int32_t l = eng_tok_lookup(t, s, nl), rt = eng_tok_lookup(t, sp + 1, nr);
        memcpy(cat, s, nl);
        memcpy(cat + nl, sp + 1, nr);
        int32_t res = eng_tok_lookup(t, cat, nl + nr);
        if (l < 0 || rt < 0 || res < 0) {
            set_err(err, errlen, "merge %u \"%.*s\": %s is not in the vocabulary", r,
                    (int)(n > 64 ? 64 : n), s, l < 0 ? "left part" : rt < 0 ? "right part"
                                                                  : "the merged token");
            free(cat);
            return -1;
        }
        int32_t *m = &t->merge[3 * (size_t)r];
        m[0] = l, m[1] = rt, m[2] = res;
        uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)rt;
        uint32_t i = (uint32_t)mix64(key) & t->pair_mask;
        while (t->pair_key[i] != ~0ULL && t->pair_key[i] != key)
            i = (i + 1) & t->pair_mask;
        if (t->pair_key[i] == ~0ULL) {  /* a repeated pair keeps its first (lowest) rank */
            t->pair_key[i] = key;
            t->pair_rank[i] = (int32_t)r;
        }
    }
    free(cat);
    return 0;
}

static void find_byte_tokens(eng_tok *t)
{
    for (int b = 0; b < 256; b++) {
        if (t->model == ENG_TOK_MODEL_BPE) {
            char c[2];
            t->byte_tok[b] = eng_tok_lookup(t, c, eng_tok_byte_char((uint8_t)b, c));
        } else {
            char name[7];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_tok[b] = eng_tok_lookup(t, name, 6);
        }
    }
}

static bool matchable(uint8_t ty)  /* found in raw text by match_special */
{
    return ty == ENG_TOK_CONTROL || ty == ENG_TOK_UNKNOWN || ty == ENG_TOK_USER_DEFINED;
}

typedef struct {
    uint32_t key;   /* first byte << 24 | (MAX_TOKEN_LEN - length): by byte, longest first */
    int32_t id;
} sp_key;

static int sp_cmp(const void *a, const void *b)
{
    const sp_key *x = a, *y = b;
    return x->key != y->key ? (x->key < y->key ? -1 : 1) : (x->id > y->id) - (x->id < y->id);
}

/* Index of the matchable specials: bucketed by first byte, longest first in each. */
static int index_specials(eng_tok *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        n += matchable(t->types[i]) && t->text_off[i + 1] > t->text_off[i];
    sp_key *keys = malloc((n + 1) * sizeof *keys);
    t->sp_ids = malloc((n + 1) * sizeof *t->sp_ids);
    if (!keys || !t->sp_ids) {
        free(keys);
        return -1;
    }
    uint32_t k = 0, count[256] = {0};
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        size_t len;
        const char *s = tok_str(t, (int32_t)i, &len);
        if (!len || !matchable(t->types[i]))
            continue;
        keys[k++] = (sp_key){(uint32_t)(uint8_t)s[0] << 24 | (ENG_TOK_MAX_TOKEN_LEN - (uint32_t)len),
                             (int32_t)i};
        count[(uint8_t)s[0]]++;
        t->n_user_defined += t->types[i] == ENG_TOK_USER_DEFINED;
    }
    qsort(keys, n, sizeof *keys, sp_cmp);
    for (uint32_t i = 0; i < n; i++)
        t->sp_ids[i] = keys[i].id;
    for (int b = 0; b < 256; b++)
        t->sp_first[b + 1] = t->sp_first[b] + count[b];
    free(keys);
    return 0;
}

/* FIM / EOT ids the metadata did not give, found by the names the model families use:
 * Qwen2.5-Coder, StarCoder(2), DeepSeek-Coder (<｜fim▁begin｜>...), CodeLlama (▁<PRE>...). */
#define DS(w) "<\xEF\xBD\x9C" "fim\xE2\x96\x81" w "\xEF\xBD\x9C>"
#define SPM_SP "\xE2\x96\x81"
static void guess_specials(eng_tok *t)
{
    static const struct {
        size_t off;
        const char *names[7];
    } roles[] = {
        {offsetof(eng_tok_special, fim_pre), {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                                              DS("begin"), "<PRE>", SPM_SP "<PRE>"}},
        {offsetof(eng_tok_special, fim_suf), {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                                              DS("hole"), "<SUF>", SPM_SP "<SUF>"}},
        {offsetof(eng_tok_special, fim_mid), {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                                              DS("end"), "<MID>", SPM_SP "<MID>"}},
        {offsetof(eng_tok_special, fim_pad), {"<|fim_pad|>", "<fim-pad>", "<fim_pad>"}},
        {offsetof(eng_tok_special, fim_rep), {"<|repo_name|>", "<repo_name>", "<reponame>",
                                              "<|fim_repo|>"}},
        {offsetof(eng_tok_special, fim_sep), {"<|file_sep|>", "<file_sep>"}},
        {offsetof(eng_tok_special, eot), {"<|eot_id|>", "<|im_end|>", "<|end|>", "<EOT>",
                                          SPM_SP "<EOT>", "<|endoftext|>"}},
    };
    for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
        int32_t *id = (int32_t *)((char *)&t->special + roles[r].off);
        for (size_t j = 0; *id < 0 && j < 7 && roles[r].names[j]; j++)
            *id = eng_tok_lookup(t, roles[r].names[j], strlen(roles[r].names[j]));
    }
}

static int check_specials(const eng_tok_special *s, uint32_t n_vocab, char *err, size_t errlen)
{
    const int32_t ids[] = {s->bos, s->eos, s->eot, s->pad, s->unk, s->fim_pre, s->fim_suf,
                           s->fim_mid, s->fim_pad, s->fim_rep, s->fim_sep};
    static const char *const names[] = {"bos", "eos", "eot", "pad", "unk", "fim_pre",
                                        "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (ids[i] < -1 || (ids[i] >= 0 && (uint32_t)ids[i] >= n_vocab)) {
            set_err(err, errlen, "%s token id %d out of range (vocabulary of %u)", names[i],
                    ids[i], n_vocab);
            return -1;
        }
    }
    return 0;
}

eng_tok *eng_tok_new(const eng_tok_params *p, char *err, size_t errlen)
{
    if (p->model != ENG_TOK_MODEL_BPE && p->model != ENG_TOK_MODEL_SPM) {
        set_err(err, errlen, "unknown tokenizer model kind %d", (int)p->model);
        return NULL;
    }
    if (p->n_vocab == 0 || p->n_vocab > ENG_TOK_MAX_VOCAB || !p->tokens) {
        set_err(err, errlen, "vocabulary size %u not in 1..%u", p->n_vocab, ENG_TOK_MAX_VOCAB);
        return NULL;
    }
    if (p->n_merges > ENG_TOK_MAX_MERGES || (p->n_merges && !p->merges)) {
        set_err(err, errlen, "%u merges: over the limit of %u", p->n_merges, ENG_TOK_MAX_MERGES);
        return NULL;
    }
    eng_tok_pre pre = ENG_TOK_PRE_DEFAULT;
    if (p->model == ENG_TOK_MODEL_BPE && eng_tok_pre_parse(p->pre, &pre) != 0) {
        set_err(err, errlen, "unknown pre-tokenizer \"%.64s\"", p->pre);
        return NULL;
    }
    if (check_specials(&p->special, p->n_vocab, err, errlen))
        return NULL;
    eng_tok *t = calloc(1, sizeof *t);
    if (!t) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    t->model = p->model;
    t->pre = pre;
    t->n_vocab = p->n_vocab;
    t->ignore_merges = p->model == ENG_TOK_MODEL_BPE && pre == ENG_TOK_PRE_LLAMA3;
    t->add_space_prefix = p->add_space_prefix;
    t->special = p->special;
    if (copy_vocab(t, p, err, errlen) ||
        (p->model == ENG_TOK_MODEL_BPE && load_merges(t, p, err, errlen)))
        goto fail;
    if (index_specials(t)) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    find_byte_tokens(t);
    guess_specials(t);
    return t;
fail:
    eng_tok_free(t);
    return NULL;
}

void eng_tok_free(eng_tok *t)
{
    if (!t)
        return;
    free(t->texts);
    free(t->text_off);
    free(t->pieces);
    free(t->piece_off);
    free(t->types);
    free(t->scores);
    free(t->tok_slot);
    free(t->merge);
    free(t->pair_key);
    free(t->pair_rank);
    free(t->sp_ids);
    free(t);
}

/* ---- Queries ------------------------------------------------------------------------ */

uint32_t eng_tok_n_vocab(const eng_tok *t) { return t->n_vocab; }
eng_tok_model eng_tok_model_kind(const eng_tok *t) { return t->model; }
eng_tok_pre eng_tok_pre_kind(const eng_tok *t) { return t->pre; }
const eng_tok_special *eng_tok_specials(const eng_tok *t) { return &t->special; }
size_t eng_tok_max_piece_len(const eng_tok *t) { return t->max_piece; }

static inline bool id_ok(const eng_tok *t, int32_t id)
{
    return id >= 0 && (uint32_t)id < t->n_vocab;
}

const char *eng_tok_text(const eng_tok *t, int32_t id, size_t *len)
{
    *len = 0;
    return id_ok(t, id) ? tok_str(t, id, len) : NULL;
}

const char *eng_tok_piece(const eng_tok *t, int32_t id, size_t *len)
{
    *len = 0;
    if (!id_ok(t, id))
        return NULL;
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->pieces + t->piece_off[id];
}

eng_tok_type eng_tok_type_of(const eng_tok *t, int32_t id)
{
    return id_ok(t, id) ? (eng_tok_type)t->types[id] : (eng_tok_type)0;
}

bool eng_tok_is_special(const eng_tok *t, int32_t id)
{
    return id_ok(t, id) && is_special_type(t->types[id]);
}
