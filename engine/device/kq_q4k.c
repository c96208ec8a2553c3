/* kq_q4k.c — Q4_K weights (ggml's block_q4_K): 4.5 bits per weight.
 *
 * A super-block of 256 is 8 sub-blocks of 32; sub-block j has a 6-bit scale
 * sc_j and minimum m_j (packed in 12 bytes, kq_scale_min), and
 *   value = d * sc_j * q - dmin * m_j,   q = 0..15.
 * Bytes qs[32k .. 32k+31] hold sub-block 2k in their low nibbles and
 * sub-block 2k+1 in their high nibbles. See kq.h for the dot product and
 * kq_affine.h for what Q5_K shares.
 */
#include <stddef.h>

#include "kq_affine.h"

typedef struct {
    kq_affine_head h;
    uint8_t qs[KQ_K / 2];
} block_q4_k;
_Static_assert(sizeof(block_q4_k) == 144, "Q4_K block is 144 bytes");

/* Element l of sub-block j. */
static inline int q4(const void *p, int j, int l)
{
    const block_q4_k *b = p;
    return b->qs[32 * (j / 2) + l] >> 4 * (j & 1) & 0x0f;
}

static void quantize(const float *x, void *y, int64_t n)
{
    block_q4_k *b = y;
    uint8_t L[KQ_K];
    for (int64_t i = 0; i < n / KQ_K; i++, b++, x += KQ_K) {
        kq_quantize_affine(x, 15, &b->h.d, &b->h.dmin, b->h.scales, L);
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * k + l] = (uint8_t)(L[64 * k + l] | L[64 * k + 32 + l] << 4);
    }
}

static void dequantize(const void *x, float *y, int64_t n)
{
    kq_affine_dequantize(x, sizeof(block_q4_k), q4, y, n);
}

static void mm_scalar(const kern_mm *a, int r0, int r1)
{
    kq_affine_mm_scalar(a, r0, r1, sizeof(block_q4_k), q4);
}

#ifdef KQ_HAVE_AVX2
KQ_AVX2_INLINE void tile(const kern_mm *a, int r, int t0, int C)
{
    kq_affine_tile(a, r, t0, C, sizeof(block_q4_k), offsetof(block_q4_k, qs), -1);
}

KQ_AVX2_MM(mm_avx2, tile)
#define MM_AVX2 mm_avx2
#else
#define MM_AVX2 NULL
#endif

#ifdef KQ_HAVE_NEON
KQ_NEON_INLINE void tile_neon(const kern_mm *a, int r, int t0, int C, int dp)
{
    kq_affine_tile_neon(a, r, t0, C, sizeof(block_q4_k), offsetof(block_q4_k, qs), -1, dp);
}

KQ_NEON_MM_PAIR(mm_neon, tile_neon)
#endif

const kq_type kq_q4_k = {
    .type = DEV_Q4_K, .name = "Q4_K", .block_bytes = sizeof(block_q4_k), .needs_sums = 1,
    .quantize = quantize, .dequantize = dequantize,
    .mm = { [KERN_ISA_SCALAR] = mm_scalar, [KERN_ISA_AVX2] = MM_AVX2, KQ_NEON_TABLE(mm_neon) },
};
