/* kq_affine.h — what Q4_K and Q5_K share (private to engine/device/): both
 * are value = d * sc_j * q - dmin * m_j over 8 sub-blocks of 32, with the
 * same super-block header and the same 4-bit low part (qs[32k + l]: sub-block
 * 2k in the low nibble, 2k+1 in the high one); Q5_K adds bit 4 of q in qh
 * (bit j of qh[l] for sub-block j). A type file gives its block size, where
 * qs (and qh) lie, and its element accessor; the dequantizer, the scalar
 * matmul and the AVX2 and NEON tiles here do the rest.
 */
#ifndef SPARKD_KQ_AFFINE_H
#define SPARKD_KQ_AFFINE_H

#include "kq.h"
#include "kq_avx2.h"
#include "kq_neon.h"

/* The start of every Q4_K/Q5_K super-block. */
typedef struct {
    uint16_t d, dmin;               /* F16 super-scales of the scales and minimums */
    uint8_t scales[KQ_SCALE_BYTES];
} kq_affine_head;

/* q (0..2^bits-1) of element l of sub-block j of the super-block at b. */
typedef int (*kq_affine_elem)(const void *b, int j, int l);

static inline const kq_affine_head *kq_affine_block(const void *row, size_t bytes, int s)
{
    return (const kq_affine_head *)((const char *)row + (size_t)s * bytes);
}

static inline void kq_affine_dequantize(const void *x, size_t bytes, kq_affine_elem q, float *y, int64_t n)
{
    for (int64_t i = 0; i < n / KQ_K; i++) {
        const kq_affine_head *b = kq_affine_block(x, bytes, (int)i);
        float d = kern_f16_to_f32_1(b->d), dmin = kern_f16_to_f32_1(b->dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            kq_scale_min(b->scales, j, &sc, &m);
            float step = d * (float)sc, off = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = step * (float)q(b, j, l) - off;
        }
    }
}

/* The scalar reference matmul (kern_mm_fn contract). */
static inline void kq_affine_mm_scalar(const kern_mm *a, int r0, int r1, size_t bytes, kq_affine_elem q)
{
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    for (int r = r0; r < r1; r++) {
        const void *w = (const char *)a->w + (size_t)r * a->row_bytes;
        for (int t = 0; t < a->batch; t++) {
            const int8_t *xq = a->xq.q + (size_t)t * a->n_in;
            const float *xd = a->xq.d + (size_t)t * nb, *xs = a->xq.s + (size_t)t * nb;
            float acc = 0, accm = 0;
            for (int s = 0; s < nsb; s++) {
                const kq_affine_head *h = kq_affine_block(w, bytes, s);
                float d = kern_f16_to_f32_1(h->d), dmin = kern_f16_to_f32_1(h->dmin);
                for (int j = 0; j < 8; j++) {
                    int b = 8 * s + j, sc, m, isum = 0;
                    kq_scale_min(h->scales, j, &sc, &m);
                    for (int l = 0; l < 32; l++)
                        isum += q(h, j, l) * xq[32 * b + l];
                    acc += d * (float)sc * xd[b] * (float)isum;
                    accm += dmin * (float)m * xs[b];
                }
            }
            a->y[(size_t)t * a->n_out + r] = acc - accm;
        }
    }
}

#ifdef KQ_HAVE_AVX2

/* Bit j of each byte of qh, moved to bit 4 (16-bit shifts: the mask drops
 * what crosses from the neighbouring byte). */
KQ_AVX2_INLINE __m256i kq_high_bit(__m256i qh, int j)
{
    return _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, j), 4), _mm256_set1_epi8(0x10));
}

/* Row r against tokens t0 .. t0+C-1: sub-blocks 2k and 2k+1 into two
 * accumulators (off one FMA latency chain), the minimums into a third.
 * qs_off, qh_off: byte offsets of qs and qh in a block (qh_off < 0: none). */
KQ_AVX2_INLINE void kq_affine_tile(const kern_mm *a, int r, int t0, int C, size_t bytes, int qs_off, int qh_off)
{
    const char *row = (const char *)a->w + (size_t)r * a->row_bytes;
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
    for (int s = 0; s < nsb; s++) {
        const kq_affine_head *h = kq_affine_block(row, bytes, s);
        const uint8_t *qs = (const uint8_t *)h + qs_off;
        float d = _cvtsh_ss(h->d);
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            kq_scale_min(h->scales, j, &sc[j], &m[j]);
        __m256 vm = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h->dmin)),
                                  _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)m)));
        for (int c = 0; c < C; c++)
            accm[c] = _mm256_fmadd_ps(vm, _mm256_loadu_ps(xs[c] + 8 * s), accm[c]);
        __m256i qh = qh_off >= 0 ? _mm256_loadu_si256((const __m256i *)((const uint8_t *)h + qh_off))
                                 : _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
            __m256i lo = _mm256_and_si256(raw, nib), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nib);
            if (qh_off >= 0) {
                lo = _mm256_or_si256(lo, kq_high_bit(qh, 2 * k));
                hi = _mm256_or_si256(hi, kq_high_bit(qh, 2 * k + 1));
            }
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

#endif
#ifdef KQ_HAVE_NEON

/* The NEON tile: as the AVX2 one, 4-wide. Bit j of qh moves to bit 4 by a
 * test against 1 << j. */
KQ_NEON_INLINE void kq_affine_tile_neon(const kern_mm *a, int r, int t0, int C, size_t bytes, int qs_off,
                                        int qh_off, int dp)
{
    const char *row = (const char *)a->w + (size_t)r * a->row_bytes;
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    const int8_t *xq[KQ_NEON_TILE];
    const float *xd[KQ_NEON_TILE], *xs[KQ_NEON_TILE];
    float32x4_t acc[KQ_NEON_TILE], acc2[KQ_NEON_TILE], accm[KQ_NEON_TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        xs[c] = a->xq.s + (size_t)(t0 + c) * nb;
        acc[c] = acc2[c] = accm[c] = vdupq_n_f32(0);
    }
    const uint8x16_t nib = vdupq_n_u8(0x0f), bit4 = vdupq_n_u8(0x10);
    for (int s = 0; s < nsb; s++) {
        const kq_affine_head *h = kq_affine_block(row, bytes, s);
        const uint8_t *qs = (const uint8_t *)h + qs_off;
        float d = kq_neon_h2f(h->d), dmin = kq_neon_h2f(h->dmin);
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            kq_scale_min(h->scales, j, &sc[j], &m[j]);
        float32x4_t m0 = vmulq_n_f32(vcvtq_f32_s32(vld1q_s32(m)), dmin);
        float32x4_t m1 = vmulq_n_f32(vcvtq_f32_s32(vld1q_s32(m + 4)), dmin);
        for (int c = 0; c < C; c++)
            accm[c] = vfmaq_f32(vfmaq_f32(accm[c], m0, vld1q_f32(xs[c] + 8 * s)), m1, vld1q_f32(xs[c] + 8 * s + 4));
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = qh0;
        if (qh_off >= 0) {
            qh0 = vld1q_u8((const uint8_t *)h + qh_off);
            qh1 = vld1q_u8((const uint8_t *)h + qh_off + 16);
        }
        for (int k = 0; k < 4; k++) {
            uint8x16_t r0 = vld1q_u8(qs + 32 * k), r1 = vld1q_u8(qs + 32 * k + 16);
            uint8x16_t lo0 = vandq_u8(r0, nib), lo1 = vandq_u8(r1, nib);
            uint8x16_t hi0 = vshrq_n_u8(r0, 4), hi1 = vshrq_n_u8(r1, 4);
            if (qh_off >= 0) {
                uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * k))), bh = vdupq_n_u8((uint8_t)(2u << (2 * k)));
                lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(qh0, bl), bit4));
                lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(qh1, bl), bit4));
                hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(qh0, bh), bit4));
                hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(qh1, bh), bit4));
            }
            float d0 = d * (float)sc[2 * k], d1 = d * (float)sc[2 * k + 1];
            int b = 8 * s + 2 * k;
            for (int c = 0; c < C; c++) {
                const int8_t *x = xq[c] + 32 * b;
                int32x4_t s0 = vaddq_s32(kq_dot16(vreinterpretq_s8_u8(lo0), vld1q_s8(x), dp),
                                         kq_dot16(vreinterpretq_s8_u8(lo1), vld1q_s8(x + 16), dp));
                int32x4_t s1 = vaddq_s32(kq_dot16(vreinterpretq_s8_u8(hi0), vld1q_s8(x + 32), dp),
                                         kq_dot16(vreinterpretq_s8_u8(hi1), vld1q_s8(x + 48), dp));
                acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(s0), d0 * xd[c][b]);
                acc2[c] = vfmaq_n_f32(acc2[c], vcvtq_f32_s32(s1), d1 * xd[c][b + 1]);
            }
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = vaddvq_f32(vaddq_f32(acc[c], acc2[c])) - vaddvq_f32(accm[c]);
}

#endif
#endif
