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

#include <string.h>

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

/* The 8 scales (bytes 0-7) and 8 minimums (bytes 8-15) of the 12 packed
 * bytes, as kq_scale_min gives them one by one: the low six bits of bytes
 * 0-3 and 4-7 are scales and minimums 0-3; bytes 8-11 hold the low nibbles
 * of 4-7 (scales low, minimums high), whose top two bits are the top bits
 * of bytes 0-3 (scales) and 4-7 (minimums). Four 32-bit word operations. */
static inline void kq_unpack_scales(const uint8_t s[KQ_SCALE_BYTES], uint8_t out[16])
{
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    uint32_t v[4] = {
        w0 & 0x3f3f3f3fu,
        (w2 & 0x0f0f0f0fu) | (w0 >> 6 & 0x03030303u) << 4,
        w1 & 0x3f3f3f3fu,
        (w2 >> 4 & 0x0f0f0f0fu) | (w1 >> 6 & 0x03030303u) << 4,
    };
    memcpy(out, v, 16);
}

#ifdef KQ_HAVE_AVX2

/* Bit j of each byte of qh, moved to bit 4 (16-bit shifts: the mask drops
 * what crosses from the neighbouring byte). */
KQ_AVX2_INLINE __m256i kq_high_bit(__m256i qh, int j)
{
    return _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, j), 4), _mm256_set1_epi8(0x10));
}

/* Row r against tokens t0 .. t0+C-1. Per super-block the 8 weight
 * sub-blocks are unpacked once; for each token their 8 integer dot products
 * are summed across lanes into one vector (exact), converted once and
 * multiplied by d*sc_j*xd_b for the 8 sub-blocks at a time, the minimums'
 * term likewise: two FMAs per super-block and token, no scalar scale work.
 * qs_off, qh_off: byte offsets of qs and qh in a block (qh_off < 0: none). */
KQ_AVX2_INLINE void kq_affine_tile(const kern_mm *a, int r, int t0, int C, size_t bytes, int qs_off, int qh_off)
{
    const char *row = (const char *)a->w + (size_t)r * a->row_bytes;
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    const int8_t *xq[KQ_TILE];
    const float *xd[KQ_TILE], *xs[KQ_TILE];
    __m256 acc[KQ_TILE], accm[KQ_TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        xs[c] = a->xq.s + (size_t)(t0 + c) * nb;
        acc[c] = accm[c] = _mm256_setzero_ps();
    }
    const __m256i nib = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    for (int s = 0; s < nsb; s++) {
        const kq_affine_head *h = kq_affine_block(row, bytes, s);
        const uint8_t *qs = (const uint8_t *)h + qs_off;
        uint8_t scm[16];
        kq_unpack_scales(h->scales, scm);
        __m128i sm = _mm_loadu_si128((const __m128i *)scm);
        __m256 vsc = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h->d)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm)));
        __m256 vm = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h->dmin)),
                                  _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        __m256i qh = qh_off >= 0 ? _mm256_loadu_si256((const __m256i *)((const uint8_t *)h + qh_off))
                                 : _mm256_setzero_si256();
        __m256i w[8];           /* sub-block j's 32 values, 0..31 */
        for (int k = 0; k < 4; k++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
            w[2 * k] = _mm256_and_si256(raw, nib);
            w[2 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nib);
            if (qh_off >= 0) {
                w[2 * k] = _mm256_or_si256(w[2 * k], kq_high_bit(qh, 2 * k));
                w[2 * k + 1] = _mm256_or_si256(w[2 * k + 1], kq_high_bit(qh, 2 * k + 1));
            }
        }
        for (int c = 0; c < C; c++) {
            const int8_t *x = xq[c] + (size_t)KQ_K * s;
            __m256i p[8];
            for (int j = 0; j < 8; j++)
                p[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(w[j], _mm256_loadu_si256((const __m256i *)(x + 32 * j))),
                                         ones);
            __m256 f = _mm256_mul_ps(vsc, _mm256_loadu_ps(xd[c] + 8 * s));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_hsum8_epi32(p)), f, acc[c]);
            accm[c] = _mm256_fmadd_ps(vm, _mm256_loadu_ps(xs[c] + 8 * s), accm[c]);
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = kq_hsum(_mm256_sub_ps(acc[c], accm[c]));
}

#endif
#ifdef KQ_HAVE_NEON

/* The NEON tile, as the AVX2 one: per super-block the 8 weight sub-blocks
 * unpacked once (bit j of qh moves to bit 4 by a test against 1 << j); per
 * token their 8 integer dot products summed across lanes (exact) into two
 * vectors of 4, converted and multiplied by d*sc_j*xd_b, 4 sub-blocks at a
 * time. */
KQ_NEON_INLINE void kq_affine_tile_neon(const kern_mm *a, int r, int t0, int C, size_t bytes, int qs_off,
                                        int qh_off, int dp)
{
    const char *row = (const char *)a->w + (size_t)r * a->row_bytes;
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    const int8_t *xq[KQ_NEON_TILE];
    const float *xd[KQ_NEON_TILE], *xs[KQ_NEON_TILE];
    float32x4_t acc[KQ_NEON_TILE], accm[KQ_NEON_TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        xs[c] = a->xq.s + (size_t)(t0 + c) * nb;
        acc[c] = accm[c] = vdupq_n_f32(0);
    }
    const uint8x16_t nib = vdupq_n_u8(0x0f), bit4 = vdupq_n_u8(0x10);
    for (int s = 0; s < nsb; s++) {
        const kq_affine_head *h = kq_affine_block(row, bytes, s);
        const uint8_t *qs = (const uint8_t *)h + qs_off;
        uint8_t scm[16];
        kq_unpack_scales(h->scales, scm);
        uint16x8_t sc16 = vmovl_u8(vld1_u8(scm)), m16 = vmovl_u8(vld1_u8(scm + 8));
        float d = kq_neon_h2f(h->d), dmin = kq_neon_h2f(h->dmin);
        float32x4_t sc[2] = { vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(sc16))), d),
                              vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(sc16)), d) };
        float32x4_t mn[2] = { vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(m16))), dmin),
                              vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(m16)), dmin) };
        uint8x16_t qh[2] = { vdupq_n_u8(0), vdupq_n_u8(0) };
        if (qh_off >= 0) {
            qh[0] = vld1q_u8((const uint8_t *)h + qh_off);
            qh[1] = vld1q_u8((const uint8_t *)h + qh_off + 16);
        }
        int8x16_t w[8][2];      /* sub-block j's values 0..31, elements 0-15 and 16-31 */
        for (int k = 0; k < 4; k++)
            for (int half = 0; half < 2; half++) {
                uint8x16_t raw = vld1q_u8(qs + 32 * k + 16 * half);
                uint8x16_t lo = vandq_u8(raw, nib), hi = vshrq_n_u8(raw, 4);
                if (qh_off >= 0) {
                    lo = vorrq_u8(lo, vandq_u8(vtstq_u8(qh[half], vdupq_n_u8((uint8_t)(1u << (2 * k)))), bit4));
                    hi = vorrq_u8(hi, vandq_u8(vtstq_u8(qh[half], vdupq_n_u8((uint8_t)(2u << (2 * k)))), bit4));
                }
                w[2 * k][half] = vreinterpretq_s8_u8(lo);
                w[2 * k + 1][half] = vreinterpretq_s8_u8(hi);
            }
        for (int c = 0; c < C; c++) {
            const int8_t *x = xq[c] + (size_t)KQ_K * s;
            int32x4_t p[8];
            for (int j = 0; j < 8; j++)
                p[j] = vaddq_s32(kq_dot16(w[j][0], vld1q_s8(x + 32 * j), dp),
                                 kq_dot16(w[j][1], vld1q_s8(x + 32 * j + 16), dp));
            for (int g = 0; g < 2; g++) {
                int32x4_t sum = vpaddq_s32(vpaddq_s32(p[4 * g], p[4 * g + 1]), vpaddq_s32(p[4 * g + 2], p[4 * g + 3]));
                acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(sum), vmulq_f32(sc[g], vld1q_f32(xd[c] + 8 * s + 4 * g)));
                accm[c] = vfmaq_f32(accm[c], mn[g], vld1q_f32(xs[c] + 8 * s + 4 * g));
            }
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = vaddvq_f32(vsubq_f32(acc[c], accm[c]));
}

#endif
#endif
