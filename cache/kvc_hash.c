/* kvc_hash.c — the cache's hashes: SipHash-2-4-128 for block keys (keyed by
 * the database's salt, so collisions cannot be chosen by whoever writes the
 * source file) and a fast unkeyed checksum for value blobs. Written from the
 * SipHash paper; checked against its reference vectors in tests/cache.
 */
#include "kvc_impl.h"

#include <string.h>
#include <time.h>

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SIPROUND                                                                 \
    do {                                                                         \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                   \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                   \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                \
    } while (0)

void kvc_siphash128(const uint64_t k[2], const void *data, size_t len, uint64_t out[2])
{
    const unsigned char *p = data;
    uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
    uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
    v1 ^= 0xee;                         /* the 128-bit output variant */
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND; SIPROUND;
        v0 ^= m;
    }
    unsigned char last[8] = { 0 };
    memcpy(last, p + i, len - i);
    uint64_t m = load_le64(last) | (uint64_t)(len & 0xff) << 56;
    v3 ^= m;
    SIPROUND; SIPROUND;
    v0 ^= m;
    v2 ^= 0xee;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    v1 ^= 0xdd;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/* Each lane step x -> (x ^ w) * K, then x ^= x >> 29 is a bijection of the
 * lane for a fixed word, so two blobs differing only in one lane's words
 * always leave different lanes; the final fold mixes lanes and length. */
#define CK1 0x9fb21c651e98df25ull
#define CK2 0xc2b2ae3d27d4eb4full

static inline uint64_t lane(uint64_t x, uint64_t w)
{
    x = (x ^ w) * CK1;
    return x ^ (x >> 29);
}

static inline uint64_t fmix(uint64_t x)
{
    x ^= x >> 32; x *= CK2;
    x ^= x >> 29; x *= CK1;
    return x ^ (x >> 32);
}

uint64_t kvc_checksum(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h[4] = { CK1, CK2, ~CK1, ~CK2 };
    size_t i = 0;
    for (; len - i >= 32; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);           /* host order: checksums are per machine */
        h[0] = lane(h[0], w[0]);
        h[1] = lane(h[1], w[1]);
        h[2] = lane(h[2], w[2]);
        h[3] = lane(h[3], w[3]);
    }
    unsigned char tail[32] = { 0 };
    memcpy(tail, p + i, len - i);
    for (int j = 0; j < 4; j++) {
        uint64_t w;
        memcpy(&w, tail + 8 * j, 8);
        h[j] = lane(h[j], w);
    }
    uint64_t x = (uint64_t)len;
    for (int j = 0; j < 4; j++)
        x = fmix(x ^ h[j]) + rotl(h[j], 17 * j + 7);
    return fmix(x);
}

int64_t kvc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
