/* engine/tok_enc.c — text to token ids: special tokens, BPE and SentencePiece merging.
 *
 * Data flow of eng_tok_encode: raw text -> control/user-defined tokens cut out (leftmost-
 * longest) -> for each text fragment: BPE: words from the pre-tokenizer (tok_pre.c), each
 * word's bytes as their byte tokens, merged lowest rank first (priority queue of adjacent
 * pairs, O(n log n) per word), short words remembered for the rest of the call; SPM: "▁"
 * for spaces, characters merged highest score first, leftovers as <0xXX> byte tokens.
 *
 * Reads the eng_tok (tok.c) and never writes it; all scratch belongs to one call.
 */
#define ENG_TOK_INTERNAL
#include "tok.h"

#include <stdlib.h>
#include <string.h>

enum { DEAD = -2 };     /* id of a symbol merged into its left neighbour */

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
