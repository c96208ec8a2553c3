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

/* Defines `static void name(const kern_mm *a, int r0, int r1)`, calling
 * tile(a, r, t0, C) over kern.h's tiles. */
#define KQ_AVX2_MM(name, tile)                                                  \
    KQ_AVX2 static void name(const kern_mm *a, int r0, int r1)                  \
    {                                                                           \
        KERN_FOR_TILES(a, r0, r1, KQ_ROW_BLOCK, tile);                          \
    }

#endif
#endif
