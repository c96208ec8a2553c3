/* kq_avx2.h — what the AVX2 kernels of the K-quant files share (private to
 * engine/device/, x86-64 only): the target attributes, the matmul driver and
 * the 32-element integer dot product. Same tiling as kern_avx2.c: output rows
 * in blocks of KQ_ROW_BLOCK, tokens in tiles of up to KQ_TILE, each weight
 * block unpacked once per tile; every token has its own accumulators, so its
 * result does not depend on the tile it lands in (batch invariance).
 */
#ifndef SPARKD_KQ_AVX2_H
#define SPARKD_KQ_AVX2_H

#if defined(__x86_64__) || defined(__i386__)
#define KQ_HAVE_AVX2 1

#include <immintrin.h>

#include "kq.h"

#define KQ_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KQ_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

#define KQ_ROW_BLOCK 16
#define KQ_TILE KERN_TILE

KQ_AVX2_INLINE float kq_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The eight int32 vectors' lane sums, in order, as one vector. */
KQ_AVX2_INLINE __m256i kq_hsum8_epi32(const __m256i p[8])
{
    __m256i h03 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i h47 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20), _mm256_permute2x128_si256(h03, h47, 0x31));
}

/* Defines `static void name(const kern_mm *a, int r0, int r1)`, calling
 * tile(a, r, t0, C) over kern.h's tiles. */
#define KQ_AVX2_MM(name, tile)                                                  \
    KQ_AVX2 static void name(const kern_mm *a, int r0, int r1)                  \
    {                                                                           \
        KERN_FOR_TILES(a, r0, r1, KQ_ROW_BLOCK, tile);                          \
    }

#endif
#endif
