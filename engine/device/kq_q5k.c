/* kq_q5k.c — Q5_K weights (ggml's block_q5_K): 5.5 bits per weight.
 *
 * Q4_K with a fifth bit: value = d * sc_j * q - dmin * m_j, q = 0..31, whose
 * low 4 bits are stored as in Q4_K (qs[32k + l]: sub-block 2k low nibble,
 * 2k+1 high nibble) and whose bit 4 is bit j of qh[l]. See kq.h for the dot
 * product.
 */
#include <stddef.h>
#include <string.h>

#include "kq_affine.h"

typedef struct {
    kq_affine_head h;
    uint8_t qh[KQ_K / 8];           /* bit j of qh[l]: bit 4 of element l of sub-block j */
    uint8_t qs[KQ_K / 2];           /* low 4 bits, as Q4_K */
} block_q5_k;
_Static_assert(sizeof(block_q5_k) == 176, "Q5_K block is 176 bytes");

/* Element l of sub-block j. */
static inline int q5(const void *p, int j, int l)
{
    const block_q5_k *b = p;
    return (b->qs[32 * (j / 2) + l] >> 4 * (j & 1) & 0x0f) | (b->qh[l] >> j & 1) << 4;
}

static void quantize(const float *x, void *y, int64_t n)
{
    block_q5_k *b = y;
    uint8_t L[KQ_K];
    for (int64_t i = 0; i < n / KQ_K; i++, b++, x += KQ_K) {
        kq_quantize_affine(x, 31, &b->h.d, &b->h.dmin, b->h.scales, L);
        memset(b->qh, 0, sizeof b->qh);
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++)
                b->qh[l] |= (uint8_t)((L[32 * j + l] >> 4) << j);
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * k + l] = (uint8_t)((L[64 * k + l] & 0x0f) | (L[64 * k + 32 + l] & 0x0f) << 4);
    }
}

static void dequantize(const void *x, float *y, int64_t n)
{
    kq_affine_dequantize(x, sizeof(block_q5_k), q5, y, n);
}

static void mm_scalar(const kern_mm *a, int r0, int r1)
{
    kq_affine_mm_scalar(a, r0, r1, sizeof(block_q5_k), q5);
}

#ifdef KQ_HAVE_AVX2
/* As Q4_K's tile, with bit 4 or-ed into each sub-block's nibbles. */
KQ_AVX2_INLINE void tile(const kern_mm *a, int r, int t0, int C)
{
    kq_affine_tile(a, r, t0, C, sizeof(block_q5_k), offsetof(block_q5_k, qs), offsetof(block_q5_k, qh));
}

KQ_AVX2_MM(mm_avx2, tile)
#define MM_AVX2 mm_avx2
#else
#define MM_AVX2 NULL
#endif

#ifdef KQ_HAVE_NEON
KQ_NEON_INLINE void tile_neon(const kern_mm *a, int r, int t0, int C, int dp)
{
    kq_affine_tile_neon(a, r, t0, C, sizeof(block_q5_k), offsetof(block_q5_k, qs), offsetof(block_q5_k, qh), dp);
}

KQ_NEON_MM_PAIR(mm_neon, tile_neon)
#endif

const kq_type kq_q5_k = {
    .type = DEV_Q5_K, .name = "Q5_K", .block_bytes = sizeof(block_q5_k), .needs_sums = 1,
    .quantize = quantize, .dequantize = dequantize,
    .mm = { [KERN_ISA_SCALAR] = mm_scalar, [KERN_ISA_AVX2] = MM_AVX2, KQ_NEON_TABLE(mm_neon) },
};
