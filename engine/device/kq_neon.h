/* kq_neon.h — what the NEON kernels share (private to engine/device/,
 * AArch64 only): the 16-byte integer dot product with and without the
 * ARMv8.2 dot-product instructions, and the K-quant matmul driver. Same
 * tiling as kern_neon.c; every token has its own accumulators, so its result
 * does not depend on the tile it lands in (batch invariance).
 */
#ifndef SPARKD_KQ_NEON_H
#define SPARKD_KQ_NEON_H

#if defined(__aarch64__)
#define KQ_HAVE_NEON 1

#include <arm_neon.h>

#include "kern.h"

#define KQ_NEON_INLINE static inline __attribute__((always_inline))
/* Functions that may execute sdot: compiled for ARMv8.2+dotprod, called only
 * where kern_neon_dotprod() found the instructions. */
#define KQ_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

#define KQ_NEON_ROW_BLOCK 16
#define KQ_NEON_TILE KERN_TILE

/* acc + the four 4-byte dot products of w and x (sdot). Inline assembly, so
 * the files build for ARMv8.0; only KQ_DOTPROD functions reach it. */
KQ_NEON_INLINE int32x4_t kq_sdot(int32x4_t acc, int8x16_t w, int8x16_t x)
{
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
}

/* Lane k: bytes 4k..4k+3 of w and x multiplied and summed (what sdot adds),
 * by sdot when dp, else by widening multiplies and two pairwise adds. The
 * lanes hold the same exact sums either way, so results are bit-identical.
 * |w * x| pairs must fit int16: |w| <= 128 and |x| <= 127. */
KQ_NEON_INLINE int32x4_t kq_dot16(int8x16_t w, int8x16_t x, int dp)
{
    if (dp)
        return kq_sdot(vdupq_n_s32(0), w, x);
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x)), hi = vmull_high_s8(w, x);
    return vpaddlq_s16(vpaddq_s16(lo, hi));
}

/* Defines `static void name(const kern_mm *a, int r0, int r1)` (with `attr`:
 * nothing, or KQ_DOTPROD), calling tile(a, r, t0, C, dp) over kern.h's tiles. */
#define KQ_NEON_MM(name, tile, dp, attr)                                           \
    attr static void name(const kern_mm *a, int r0, int r1)                       \
    {                                                                              \
        KERN_FOR_TILES(a, r0, r1, KQ_NEON_ROW_BLOCK, tile, dp);                    \
    }

/* Both variants of a K-quant matmul: name and name##_dp. */
#define KQ_NEON_MM_PAIR(name, tile)          \
    KQ_NEON_MM(name, tile, 0, )              \
    KQ_NEON_MM(name##_dp, tile, 1, KQ_DOTPROD)

KQ_NEON_INLINE float kq_neon_h2f(uint16_t h)
{
    __fp16 f;
    __builtin_memcpy(&f, &h, sizeof f);
    return (float)f;
}

#endif

/* A kq_type's NEON entries (kq.h): name and name##_dp where they are built,
 * none elsewhere (NULL: the scalar matmul). */
#ifdef KQ_HAVE_NEON
#define KQ_NEON_TABLE(name) [KERN_ISA_NEON] = name, [KERN_ISA_NEON_DP] = name##_dp
#else
#define KQ_NEON_TABLE(name)
#endif

#endif
