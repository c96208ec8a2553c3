/* kq_q5k.c — Q5_K weights (ggml's block_q5_K): 5.5 bits per weight.
 *
 * Q4_K with a fifth bit: value = d * sc_j * q - dmin * m_j, q = 0..31, whose
 * low 4 bits are stored as in Q4_K (qs[32k + l]: sub-block 2k low nibble,
 * 2k+1 high nibble) and whose bit 4 is bit j of qh[l]. See kq.h for the dot
 * product.
 */
#include "kq.h"
#include "kq_avx2.h"

#include <string.h>

typedef struct {
    uint16_t d, dmin;               /* F16 super-scales of the scales and minimums */
    uint8_t scales[KQ_SCALE_BYTES];
    uint8_t qh[KQ_K / 8];           /* bit j of qh[l]: bit 4 of element l of sub-block j */
    uint8_t qs[KQ_K / 2];           /* low 4 bits, as Q4_K */
} block_q5_k;
_Static_assert(sizeof(block_q5_k) == 176, "Q5_K block is 176 bytes");

/* Element l of sub-block j. */
static inline int q5(const block_q5_k *b, int j, int l)
{
    return (b->qs[32 * (j / 2) + l] >> 4 * (j & 1) & 0x0f) | (b->qh[l] >> j & 1) << 4;
}

static void quantize(const float *x, void *y, int64_t n)
{
    block_q5_k *b = y;
    uint8_t L[KQ_K];
    for (int64_t i = 0; i < n / KQ_K; i++, b++, x += KQ_K) {
        kq_quantize_affine(x, 31, &b->d, &b->dmin, b->scales, L);
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
    const block_q5_k *b = x;
    for (int64_t i = 0; i < n / KQ_K; i++, b++) {
        float d = kern_f16_to_f32_1(b->d), dmin = kern_f16_to_f32_1(b->dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            kq_scale_min(b->scales, j, &sc, &m);
            float step = d * (float)sc, off = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = step * (float)q5(b, j, l) - off;
        }
    }
}

/* ---- scalar reference --------------------------------------------------- */

static void mm_scalar(const kern_mm *a, int r0, int r1)
{
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    for (int r = r0; r < r1; r++) {
        const block_q5_k *w = (const block_q5_k *)((const char *)a->w + (size_t)r * a->row_bytes);
        for (int t = 0; t < a->batch; t++) {
            const int8_t *xq = a->xq.q + (size_t)t * a->n_in;
            const float *xd = a->xq.d + (size_t)t * nb, *xs = a->xq.s + (size_t)t * nb;
            float acc = 0, accm = 0;
            for (int s = 0; s < nsb; s++) {
                float d = kern_f16_to_f32_1(w[s].d), dmin = kern_f16_to_f32_1(w[s].dmin);
                for (int j = 0; j < 8; j++) {
                    int b = 8 * s + j, sc, m, isum = 0;
                    kq_scale_min(w[s].scales, j, &sc, &m);
                    for (int l = 0; l < 32; l++)
                        isum += q5(&w[s], j, l) * xq[32 * b + l];
                    acc += d * (float)sc * xd[b] * (float)isum;
                    accm += dmin * (float)m * xs[b];
                }
            }
            a->y[(size_t)t * a->n_out + r] = acc - accm;
        }
    }
}

/* ---- AVX2 --------------------------------------------------------------- */

#ifdef KQ_HAVE_AVX2

/* Bit j of each byte of qh, moved to bit 4 (16-bit shifts: the mask drops
 * what crosses from the neighbouring byte). */
KQ_AVX2_INLINE __m256i high_bit(__m256i qh, int j)
{
    return _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, j), 4), _mm256_set1_epi8(0x10));
}

/* As Q4_K's tile, with bit 4 or-ed into each sub-block's nibbles. */
KQ_AVX2_INLINE void tile(const kern_mm *a, int r, int t0, int C)
{
    const block_q5_k *w = (const block_q5_k *)((const char *)a->w + (size_t)r * a->row_bytes);
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    const int8_t *xq[KQ_TILE];
    const float *xd[KQ_TILE], *xs[KQ_TILE];
    __m256 acc[KQ_TILE], acc2[KQ_TILE], accm[KQ_TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        xs[c] = a->xq.s + (size_t)(t0 + c) * nb;
        acc[c] = acc2[c] = accm[c] = _mm256_setzero_ps();
    }
    const __m256i nib = _mm256_set1_epi8(0x0f);
    for (int s = 0; s < nsb; s++, w++) {
        float d = _cvtsh_ss(w->d);
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            kq_scale_min(w->scales, j, &sc[j], &m[j]);
        __m256 vm = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(w->dmin)),
                                  _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)m)));
        for (int c = 0; c < C; c++)
            accm[c] = _mm256_fmadd_ps(vm, _mm256_loadu_ps(xs[c] + 8 * s), accm[c]);
        __m256i qh = _mm256_loadu_si256((const __m256i *)w->qh);
        for (int k = 0; k < 4; k++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * k));
            __m256i lo = _mm256_or_si256(_mm256_and_si256(raw, nib), high_bit(qh, 2 * k));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), nib),
                                         high_bit(qh, 2 * k + 1));
            float d0 = d * (float)sc[2 * k], d1 = d * (float)sc[2 * k + 1];
            int b = 8 * s + 2 * k;
            for (int c = 0; c < C; c++) {
                acc[c] = _mm256_fmadd_ps(kq_dot_u8(lo, xq[c] + 32 * b),
                                         _mm256_set1_ps(d0 * xd[c][b]), acc[c]);
                acc2[c] = _mm256_fmadd_ps(kq_dot_u8(hi, xq[c] + 32 * b + 32),
                                          _mm256_set1_ps(d1 * xd[c][b + 1]), acc2[c]);
            }
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = kq_hsum(_mm256_add_ps(acc[c], acc2[c])) - kq_hsum(accm[c]);
}

KQ_AVX2_MM(mm_avx2, tile)
#define MM_AVX2 mm_avx2
#else
#define MM_AVX2 NULL
#endif

const kq_type kq_q5_k = {
    .type = DEV_Q5_K, .name = "Q5_K", .block_bytes = sizeof(block_q5_k), .needs_sums = 1,
    .quantize = quantize, .dequantize = dequantize,
    .mm = { [KERN_ISA_SCALAR] = mm_scalar, [KERN_ISA_AVX2] = MM_AVX2 },
};
