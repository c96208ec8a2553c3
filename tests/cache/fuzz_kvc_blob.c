/* tests/cache/fuzz_kvc_blob.c — libFuzzer target: decoding a stored KV block (cache/:
 * kvc_row_decode, the parent/tokens/dtype/checksum/value row that SQLite hands back) and
 * converting its F16 values as a restore does.
 *
 * Input: a flags byte, then the row's fields as a damaged file could hold them: the dtype
 * (4 bytes), the stored checksum (8), the parent's and the tokens' lengths (1 each, scaled),
 * then the value bytes (the rest). Flags:
 *   bit 0: seal the row as the writer would (the checksum of the values, the key's parent and
 *          tokens); the row must then decode to a block holding exactly those values;
 *   bit 1: after sealing, flip one bit of the values (position from the checksum field): the
 *          row must be rejected as damaged;
 *   bit 2: after sealing, change one token: the row must be a plain miss (not damage);
 *   bit 3: unsealed rows get a parent and tokens of their own (else the key's, when the
 *          lengths fit, so that the dtype, length and checksum checks are reached).
 * Any accepted block's F16 values are converted with the host's SIMD kernel and must match
 * the scalar converter bit for bit (NaNs: both NaN).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kern.h"
#include "kvc_impl.h"

typedef struct { const uint8_t *p; size_t n; } input;

static uint64_t take(input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes && in->n; i++, in->n--) v |= (uint64_t)*in->p++ << (8 * i);
    return v;
}

static void check_f16(const kvc_block *b)
{
    size_t n = kvc_block_size(b) / 2;
    const uint16_t *h = kvc_block_cdata(b);
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f) abort();
    kern_select()->f16_to_f32(h, f, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        float want = kern_f16_to_f32_1(h[i]);
        if (isnan(want) ? !isnan(f[i]) : memcmp(&want, &f[i], sizeof want)) abort();
    }
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = { data, size };
    unsigned flags = (unsigned)take(&in, 1);
    int32_t tokens[KVC_BLOCK_TOKENS];
    for (int i = 0; i < KVC_BLOCK_TOKENS; i++) tokens[i] = i * 7919;
    kvc_key key = { { 1, 2 }, { 3, 4 }, 5, tokens };

    kvc_row r;
    r.dtype = (int)(int32_t)take(&in, 4);
    r.checksum = take(&in, 8);
    size_t plen = take(&in, 1) * 4 / 16, tlen = take(&in, 1) * 16;  /* 16 and 256 reachable */
    /* The row's copies of the values, parent and tokens, each in its own allocation of
     * exactly its length, so that reading past one is a reported overflow. */
    size_t kvlen = in.n;
    uint8_t *kv = kvlen ? malloc(kvlen) : NULL, *parent = malloc(plen ? plen : 1),
            *toks = malloc(tlen ? tlen : 1);
    if ((kvlen && !kv) || !parent || !toks) abort();
    if (kvlen) memcpy(kv, in.p, kvlen);
    for (size_t i = 0; i < plen; i++) parent[i] = (uint8_t)(i * 37 + flags);
    for (size_t i = 0; i < tlen; i++) toks[i] = (uint8_t)(i * 11 + flags);
    if (!(flags & 8) && plen == sizeof key.parent) memcpy(parent, &key.parent, plen);
    if (!(flags & 8) && tlen == sizeof tokens) memcpy(toks, tokens, tlen);
    r.parent = parent, r.parent_len = plen;
    r.tokens = toks, r.tokens_len = tlen;
    r.kv = kv, r.kv_len = kvlen;

    int sealed = (flags & 1) && (r.dtype == KVC_F16 || r.dtype == KVC_F32) && kvlen &&
                 kvlen % (r.dtype == KVC_F16 ? 2 : 4) == 0;
    int expect = 0;     /* 0: anything but a crash; 1: accepted; 2: damaged; 3: miss */
    if (sealed) {
        uint8_t *p2 = realloc(parent, sizeof key.parent), *t2 = realloc(toks, sizeof tokens);
        if (!p2 || !t2) abort();
        memcpy(parent = p2, &key.parent, sizeof key.parent);
        memcpy(toks = t2, tokens, sizeof tokens);
        r.parent = parent, r.parent_len = sizeof key.parent;
        r.tokens = toks, r.tokens_len = sizeof tokens;
        r.checksum = kvc_checksum(kv, kvlen);
        expect = 1;
        if (flags & 2) {            /* one flipped bit anywhere in the values */
            size_t bit = (size_t)(r.checksum % (kvlen * 8));
            kv[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            expect = 2;
        } else if (flags & 4) {     /* a different block with the same hash */
            toks[flags % sizeof tokens] ^= 0x40;
            expect = 3;
        }
    }

    int bad = -1;
    kvc_block *b = kvc_row_decode(&r, &key, &bad);
    if (bad != 0 && bad != 1) abort();
    if ((expect == 1 && !b) || (expect == 2 && (b || !bad)) || (expect == 3 && (b || bad))) abort();
    if (b) {
        if (bad || kvc_block_size(b) != kvlen || memcmp(kvc_block_cdata(b), kv, kvlen) ||
            (int)kvc_block_dtype(b) != r.dtype)
            abort();
        if (kvc_block_dtype(b) == KVC_F16) check_f16(b);
        kvc_block_unref(b);
    }
    free(kv);
    free(parent);
    free(toks);
    return 0;
}
