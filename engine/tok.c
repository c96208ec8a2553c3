/* engine/tok.c — the vocabulary, BPE and SentencePiece merging, special tokens, encode.
 *
 * Data flow of eng_tok_encode: raw text -> control/user-defined tokens cut out (leftmost-
 * longest) -> for each text fragment: BPE: words from the pre-tokenizer (tok_pre.c), each
 * word's bytes as their byte tokens, merged lowest rank first; SPM: "▁" for spaces, the
 * characters merged highest score first, leftovers as <0xXX> byte tokens.
 *
 * An eng_tok owns copies of every string it was built from (texts, decoded pieces) and its
 * hash tables; it is never written after eng_tok_new returns.
 */
#include "tok.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Structures --------------------------------------------------------------------- */

struct eng_tok {
    eng_tok_model model;
    eng_tok_pre pre;
    uint32_t n_vocab;
    bool ignore_merges;         /* Llama-3: a word that is a token is that token */
    bool add_space_prefix;      /* SPM dummy prefix */
    eng_tok_special special;

    char *texts;                /* vocabulary strings, back to back */
    uint32_t *text_off;         /* (n_vocab + 1) token i is texts[text_off[i] .. i+1] */
    char *pieces;               /* decoded bytes of each token, back to back */
    uint32_t *piece_off;        /* (n_vocab + 1) */
    size_t max_piece;
    uint8_t *types;             /* (n_vocab) eng_tok_type */
    float *scores;              /* (n_vocab) SPM scores */

    int32_t *tok_slot;          /* (tok_mask + 1) text -> id, open addressing, -1 empty */
    uint32_t tok_mask;

    uint32_t n_merges;
    int32_t *merge;             /* (n_merges, 3) left id, right id, result id */
    uint64_t *pair_key;         /* (pair_mask + 1) left << 32 | right, ~0 empty */
    int32_t *pair_rank;         /* (pair_mask + 1) */
    uint32_t pair_mask;

    int32_t byte_tok[256];      /* BPE: GPT-2 char of each byte; SPM: <0xXX>; -1 none */

    int32_t *sp_ids;            /* matchable special ids, by first byte then longest first */
    uint32_t n_user_defined;    /* of those, USER_DEFINED (matched even without parse_special) */
    uint32_t sp_first[257];     /* sp_ids[sp_first[b] .. sp_first[b+1]] start with byte b */
};

enum { DEAD = -2 };

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

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix64(h ^ w);
}

static uint32_t table_size(uint32_t n)  /* a power of two >= 2n */
{
    uint32_t sz = 16;
    while (sz < 2 * n)
        sz *= 2;
    return sz;
}

static inline const char *tok_str(const eng_tok *t, int32_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id];
    return t->texts + t->text_off[id];
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

static inline int32_t pair_lookup(const eng_tok *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t i = (uint32_t)mix64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pair_key[i] == key)
            return t->pair_rank[i];
        if (t->pair_key[i] == ~0ULL)
            return -1;
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
        if (p->scores)
            t->scores[i] = p->scores[i];
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

/* Specials that the text matcher looks for: control, unknown and user-defined tokens. */
static int index_specials(eng_tok *t)
{
    uint32_t n = 0, count[256] = {0};
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->types[i];
        size_t len;
        const char *s = tok_str(t, (int32_t)i, &len);
        if (len && (ty == ENG_TOK_CONTROL || ty == ENG_TOK_UNKNOWN || ty == ENG_TOK_USER_DEFINED))
            count[(uint8_t)s[0]]++, n++;
        if (len && ty == ENG_TOK_USER_DEFINED)
            t->n_user_defined++;
    }
    t->sp_ids = malloc((n + 1) * sizeof *t->sp_ids);
    if (!t->sp_ids)
        return -1;
    t->sp_first[0] = 0;
    for (int b = 0; b < 256; b++)
        t->sp_first[b + 1] = t->sp_first[b] + count[b];
    uint32_t fill[256];
    memcpy(fill, t->sp_first, sizeof fill);
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->types[i];
        size_t len;
        const char *s = tok_str(t, (int32_t)i, &len);
        if (!len || !(ty == ENG_TOK_CONTROL || ty == ENG_TOK_UNKNOWN || ty == ENG_TOK_USER_DEFINED))
            continue;
        /* insertion into the bucket, longest first: buckets are small */
        uint32_t lo = t->sp_first[(uint8_t)s[0]], j = fill[(uint8_t)s[0]]++;
        for (; j > lo; j--) {
            size_t ol;
            tok_str(t, t->sp_ids[j - 1], &ol);
            if (ol >= len)
                break;
            t->sp_ids[j] = t->sp_ids[j - 1];
        }
        t->sp_ids[j] = (int32_t)i;
    }
    return 0;
}

static int32_t find_named(const eng_tok *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = eng_tok_lookup(t, *names, strlen(*names));
        if (id >= 0)
            return id;
    }
    return -1;
}

/* FIM / EOT ids the metadata did not give, by the names the model families use. */
static void guess_specials(eng_tok *t)
{
    static const char *const pre[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
        "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>", "\xE2\x96\x81<PRE>", NULL};
    static const char *const suf[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
        "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>", NULL};
    static const char *const mid[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
        "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>", NULL};
    static const char *const pad[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", NULL};
    static const char *const rep[] = {"<|repo_name|>", "<repo_name>", "<reponame>",
                                      "<|fim_repo|>", NULL};
    static const char *const sep[] = {"<|file_sep|>", "<file_sep>", NULL};
    static const char *const eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<EOT>",
                                      "\xE2\x96\x81<EOT>", "<|endoftext|>", NULL};
    eng_tok_special *s = &t->special;
    int32_t *ids[] = {&s->fim_pre, &s->fim_suf, &s->fim_mid, &s->fim_pad, &s->fim_rep,
                      &s->fim_sep, &s->eot};
    const char *const *names[] = {pre, suf, mid, pad, rep, sep, eot};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] < 0)
            *ids[i] = find_named(t, names[i]);
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

/* ---- Encoding: shared parts --------------------------------------------------------- */

typedef struct {
    int32_t *out;
    size_t cap, n;
} sink;

static inline void emit(sink *o, int32_t id)
{
    if (o->n < o->cap)
        o->out[o->n] = id;
    o->n++;
}

/* One merge candidate: adjacent symbols left, right. BPE orders by rank (lower first), SPM
 * by score (higher first); ties go to the leftmost pair, as in llama.cpp. */
typedef struct {
    float key;          /* BPE: rank; SPM: -score. Lower pops first */
    int32_t left, right;
    uint32_t size;      /* SPM: byte length of the pair when queued (staleness check) */
} cand;

/* BPE words already merged in this call: source code repeats its identifiers and its
 * indentation, so most words come again. Direct-mapped; a clash replaces the old word. */
enum { CACHE_WORD_MAX = 32, CACHE_IDS_MAX = 1 << 20 };
typedef struct {
    uint64_t h;                 /* hash of the word | 1; 0 = empty */
    const char *word;           /* in the caller's text */
    uint32_t len, n, at;        /* word bytes; its ids: cache_ids[at .. at + n] */
} cache_slot;

typedef struct {
    int32_t *id, *prev, *next;  /* per symbol */
    uint32_t *start, *len;      /* SPM: byte span of each symbol */
    cand *heap;
    size_t nheap, cap;          /* cap: symbols the arrays hold */
    char *buf;                  /* SPM: the escaped text; BPE: a GPT-2 encoded word */
    size_t buf_cap;
    cache_slot *cache;          /* NULL for short texts */
    uint32_t cache_mask;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
} scratch;

static void scratch_free(scratch *w)
{
    free(w->id);
    free(w->start);
    free(w->heap);
    free(w->buf);
    free(w->cache);
    free(w->cache_ids);
}

static int scratch_reserve(scratch *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    size_t cap = n < 64 ? 64 : n + n / 2;
    int32_t *m = realloc(w->id, cap * 3 * sizeof *m);
    uint32_t *u = m ? realloc(w->start, cap * 2 * sizeof *u) : NULL;
    cand *h = u ? realloc(w->heap, cap * 3 * sizeof *h) : NULL;
    if (m)
        w->id = m;
    if (u)
        w->start = u;
    if (!h)
        return ENG_TOK_ENOMEM;
    w->heap = h;
    w->prev = w->id + cap, w->next = w->id + 2 * cap;
    w->len = w->start + cap;
    w->cap = cap;
    return 0;
}

static int buf_reserve(scratch *w, size_t n)
{
    if (n <= w->buf_cap)
        return 0;
    char *b = realloc(w->buf, n);
    if (!b)
        return ENG_TOK_ENOMEM;
    w->buf = b, w->buf_cap = n;
    return 0;
}

static inline bool cand_less(const cand *a, const cand *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(scratch *w, cand c)
{
    size_t i = w->nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_less(&c, &w->heap[up]))
            break;
        w->heap[i] = w->heap[up];
        i = up;
    }
    w->heap[i] = c;
}

static cand heap_pop(scratch *w)
{
    cand top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && cand_less(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!cand_less(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

/* ---- BPE ---------------------------------------------------------------------------- */

static void bpe_try_pair(const eng_tok *t, scratch *w, int32_t a, int32_t b)
{
    if (a < 0 || b < 0 || w->id[a] < 0 || w->id[b] < 0)
        return;
    int32_t rank = pair_lookup(t, w->id[a], w->id[b]);
    if (rank >= 0)
        heap_push(w, (cand){(float)rank, a, b, 0});
}

/* Merges the bytes of one word into tokens. Symbols are the word's bytes (as their byte
 * tokens); a merge joins a symbol with its right neighbour, which dies. */
static int bpe_word(const eng_tok *t, scratch *w, const uint8_t *s, size_t n, sink *o)
{
    if (n == 1 && t->byte_tok[s[0]] >= 0) {
        emit(o, t->byte_tok[s[0]]);
        return 0;
    }
    if (t->ignore_merges) {
        if (buf_reserve(w, 2 * n))
            return ENG_TOK_ENOMEM;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            m += eng_tok_byte_char(s[i], w->buf + m);
        int32_t id = eng_tok_lookup(t, w->buf, m);
        if (id >= 0 && (t->types[id] == ENG_TOK_NORMAL)) {
            emit(o, id);
            return 0;
        }
    }
    if (scratch_reserve(w, n))
        return ENG_TOK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        w->id[i] = t->byte_tok[s[i]];
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    w->nheap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        bpe_try_pair(t, w, (int32_t)i, (int32_t)i + 1);
    while (w->nheap) {
        cand c = heap_pop(w);
        int32_t l = c.left, r = c.right;
        const int32_t *m = &t->merge[3 * (size_t)c.key];
        if (w->next[l] != r || w->id[l] != m[0] || w->id[r] != m[1])
            continue;       /* stale: one side has merged since */
        w->id[l] = m[2];
        w->id[r] = DEAD;
        w->next[l] = w->next[r];
        if (w->next[r] >= 0)
            w->prev[w->next[r]] = l;
        bpe_try_pair(t, w, w->prev[l], l);
        bpe_try_pair(t, w, l, w->next[l]);
    }
    for (int32_t i = 0; i >= 0; i = w->next[i]) {
        if (w->id[i] >= 0)
            emit(o, w->id[i]);
        else if (t->special.unk >= 0)   /* a byte the vocabulary cannot spell */
            emit(o, t->special.unk);
    }
    return 0;
}

/* bpe_word through the cache (when there is one). */
static int bpe_word_cached(const eng_tok *t, scratch *w, const char *s, size_t n, sink *o)
{
    if (!w->cache || n > CACHE_WORD_MAX)
        return bpe_word(t, w, (const uint8_t *)s, n, o);
    uint64_t h = hash_bytes(s, n) | 1;
    cache_slot *c = &w->cache[h & w->cache_mask];
    if (c->h == h && c->len == n && memcmp(c->word, s, n) == 0) {
        for (uint32_t i = 0; i < c->n; i++)
            emit(o, w->cache_ids[c->at + i]);
        return 0;
    }
    int32_t ids[CACHE_WORD_MAX];
    sink tmp = {ids, CACHE_WORD_MAX, 0};
    int rc = bpe_word(t, w, (const uint8_t *)s, n, &tmp);
    for (size_t i = 0; i < tmp.n && !rc; i++)
        emit(o, ids[i]);
    if (rc || w->cache_n + tmp.n > w->cache_cap)
        return rc;
    memcpy(w->cache_ids + w->cache_n, ids, tmp.n * sizeof *ids);
    *c = (cache_slot){h, s, (uint32_t)n, (uint32_t)tmp.n, (uint32_t)w->cache_n};
    w->cache_n += tmp.n;
    return 0;
}

static int bpe_fragment(const eng_tok *t, scratch *w, const char *s, size_t n, sink *o)
{
    if (!w->cache && n >= 4096) {   /* worth a cache: about one slot per 32 bytes of text */
        uint32_t slots = 256;
        while (slots < 8192 && slots < n / 32)
            slots *= 2;
        w->cache_cap = n / 2 < CACHE_IDS_MAX ? n / 2 : CACHE_IDS_MAX;
        w->cache = calloc(slots, sizeof *w->cache);
        w->cache_ids = malloc(w->cache_cap * sizeof *w->cache_ids);
        if (!w->cache || !w->cache_ids)
            return ENG_TOK_ENOMEM;
        w->cache_mask = slots - 1;
    }
    uint32_t *ends;
    int64_t nw = eng_tok_pre_split(t->pre, s, n, &ends);
    if (nw < 0)
        return (int)nw;
    int rc = 0;
    uint32_t start = 0;
    for (int64_t i = 0; i < nw && !rc; i++) {
        rc = bpe_word_cached(t, w, s + start, ends[i] - start, o);
        start = ends[i];
    }
    free(ends);
    return rc;
}

/* ---- SentencePiece ------------------------------------------------------------------ */

/* Token of the byte span, if it is one the text may spell (not control/byte/unused). */
static int32_t spm_token(const eng_tok *t, const char *s, size_t n)
{
    int32_t id = eng_tok_lookup(t, s, n);
    if (id < 0)
        return -1;
    uint8_t ty = t->types[id];
    return ty == ENG_TOK_NORMAL || ty == ENG_TOK_USER_DEFINED ? id : -1;
}

static void spm_try_pair(const eng_tok *t, scratch *w, int32_t a, int32_t b)
{
    if (a < 0 || b < 0)
        return;
    uint32_t size = w->len[a] + w->len[b];
    int32_t id = spm_token(t, w->buf + w->start[a], size);
    if (id >= 0)
        heap_push(w, (cand){-t->scores[id], a, b, size});
}

static int spm_fragment(const eng_tok *t, scratch *w, const char *s, size_t n, bool prefix,
                        sink *o)
{
    /* escape: optional dummy "▁", then every ' ' as "▁" */
    if (buf_reserve(w, 3 * n + 3))
        return ENG_TOK_ENOMEM;
    size_t m = 0;
    if (prefix)
        memcpy(w->buf, "\xE2\x96\x81", 3), m = 3;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ')
            memcpy(w->buf + m, "\xE2\x96\x81", 3), m += 3;
        else
            w->buf[m++] = s[i];
    }
    if (scratch_reserve(w, m))
        return ENG_TOK_ENOMEM;
    int32_t ns = 0;
    for (size_t i = 0; i < m; ns++) {   /* one symbol per character (per invalid byte) */
        uint32_t cp;
        size_t k = eng_tok_utf8_next(w->buf + i, m - i, &cp);
        if (cp >= ENG_TOK_UTF8_MORE)
            k = 1;
        w->start[ns] = (uint32_t)i, w->len[ns] = (uint32_t)k;
        w->prev[ns] = ns - 1, w->next[ns] = ns + 1;
        i += k;
    }
    if (ns == 0)
        return 0;
    w->next[ns - 1] = -1;
    w->nheap = 0;
    for (int32_t i = 0; i + 1 < ns; i++)
        spm_try_pair(t, w, i, i + 1);
    while (w->nheap) {
        cand c = heap_pop(w);
        int32_t l = c.left, r = c.right;
        if (w->len[l] == 0 || w->len[r] == 0 || w->next[l] != r || w->len[l] + w->len[r] != c.size)
            continue;
        w->len[l] += w->len[r];
        w->len[r] = 0;
        w->next[l] = w->next[r];
        if (w->next[r] >= 0)
            w->prev[w->next[r]] = l;
        spm_try_pair(t, w, w->prev[l], l);
        spm_try_pair(t, w, l, w->next[l]);
    }
    for (int32_t i = 0; i >= 0; i = w->next[i]) {
        const char *p = w->buf + w->start[i];
        int32_t id = spm_token(t, p, w->len[i]);
        if (id >= 0) {
            emit(o, id);
            continue;
        }
        for (uint32_t k = 0; k < w->len[i]; k++) {  /* byte fallback */
            int32_t b = t->byte_tok[(uint8_t)p[k]];
            if (b >= 0 || (b = t->special.unk) >= 0)
                emit(o, b);
        }
    }
    return 0;
}

/* ---- Special tokens and the encode driver ------------------------------------------- */

/* The longest matchable special token at s, or -1. */
static int32_t match_special(const eng_tok *t, const char *s, size_t n, bool parse_special,
                             size_t *len)
{
    uint8_t b = (uint8_t)s[0];
    for (uint32_t j = t->sp_first[b]; j < t->sp_first[b + 1]; j++) {
        int32_t id = t->sp_ids[j];
        if (!parse_special && t->types[id] != ENG_TOK_USER_DEFINED)
            continue;
        const char *ts = tok_str(t, id, len);
        if (*len <= n && memcmp(ts, s, *len) == 0)
            return id;
    }
    return -1;
}

/* A text fragment: the whole text, or the text before, between or after special tokens. SPM
 * gives each its dummy prefix (llama.cpp: "prefix with space if previous is special"). */
static int encode_text(const eng_tok *t, scratch *w, const char *s, size_t n, bool prefix,
                       sink *o)
{
    if (n == 0)
        return 0;
    if (t->model == ENG_TOK_MODEL_SPM)
        return spm_fragment(t, w, s, n, prefix, o);
    return bpe_fragment(t, w, s, n, o);
}

int64_t eng_tok_encode(const eng_tok *t, const char *text, size_t len, unsigned flags,
                       int32_t *out, size_t cap)
{
    bool parse_special = flags & ENG_TOK_ENCODE_SPECIAL;
    bool prefix = t->add_space_prefix && !(flags & ENG_TOK_ENCODE_NO_PREFIX);
    if (len > ENG_TOK_MAX_TEXT)
        return ENG_TOK_E2BIG;
    sink o = {out, out ? cap : 0, 0};
    scratch w = {0};
    size_t raw = 0;
    int rc = 0;
    bool any = parse_special ? t->sp_first[256] > 0 : t->n_user_defined > 0;
    for (size_t i = 0; any && i < len && !rc;) {
        uint8_t b = (uint8_t)text[i];
        size_t mlen;
        int32_t id = t->sp_first[b] < t->sp_first[b + 1]
                   ? match_special(t, text + i, len - i, parse_special, &mlen) : -1;
        if (id < 0) {
            i++;
            continue;
        }
        rc = encode_text(t, &w, text + raw, i - raw, prefix, &o);
        emit(&o, id);
        i += mlen;
        raw = i;
    }
    if (!rc)
        rc = encode_text(t, &w, text + raw, len - raw, prefix, &o);
    scratch_free(&w);
    return rc ? rc : (int64_t)o.n;
}
