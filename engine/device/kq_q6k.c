/* kq_q6k.c — Q6_K weights (ggml's block_q6_K): 6.5625 bits per weight.
 *
 * A super-block of 256 is 16 sub-blocks of 16 with an int8 scale each:
 *   value = d * scales[e / 16] * (q - 32),   q = 0..63.
 * Each half h (128 elements, e = 128h + 32i + l, i = 0..3, l = 0..31) keeps
 * its low 4 bits in ql[64h ..]: i = 0, 1 in the low nibbles of ql[64h + l]
 * and ql[64h + 32 + l], i = 2, 3 in their high nibbles; and its top 2 bits
 * in bits 2i, 2i+1 of qh[32h + l]. See kq.h for the dot product.
 */
#include "kq.h"
#include "kq_avx2.h"
#include "kq_neon.h"

#include <math.h>

typedef struct {
    uint8_t ql[KQ_K / 2];           /* low 4 bits */
    uint8_t qh[KQ_K / 4];           /* high 2 bits */
    int8_t scales[KQ_K / 16];
    uint16_t d;                     /* F16 super-scale */
} block_q6_k;
_Static_assert(sizeof(block_q6_k) == 210, "Q6_K block is 210 bytes");

/* q (0..63) of element 32i + l of half h. */
static inline int q6(const block_q6_k *b, int h, int i, int l)
{
    int lo = b->ql[64 * h + 32 * (i & 1) + l] >> 4 * (i >> 1) & 0x0f;
    return lo | (b->qh[32 * h + l] >> 2 * i & 3) << 4;
}

/* Per sub-block of 16 a step s = amax/31 (so q - 32 stays in -31..31), then
 * d rounded up and each scale rounded up: |x - x'| <= d * |scale| / 2. */
static void quantize(const float *x, void *y, int64_t n)
{
    block_q6_k *b = y;
    for (int64_t i = 0; i < n / KQ_K; i++, b++, x += KQ_K) {
        float step[16], smax = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0;
            for (int l = 0; l < 16; l++)
                amax = fmaxf(amax, fabsf(x[16 * j + l]));
            step[j] = amax / 31;
            smax = fmaxf(smax, step[j]);
        }
        b->d = kq_f16_ceil(smax / 127);
        float d = kern_f16_to_f32_1(b->d);
        uint8_t L[KQ_K];
        for (int j = 0; j < 16; j++) {
            int sc = d > 0 ? (int)fminf(127, ceilf(step[j] / d)) : 0;
            b->scales[j] = (int8_t)sc;
            float inv = sc ? 1 / (d * (float)sc) : 0;
            for (int l = 0; l < 16; l++) {
                long q = lrintf(x[16 * j + l] * inv);
                L[16 * j + l] = (uint8_t)((q < -32 ? -32 : q > 31 ? 31 : q) + 32);
            }
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t *e = L + 128 * h + l;     /* e[32i]: element 32i + l */
                b->ql[64 * h + l] = (uint8_t)((e[0] & 0x0f) | (e[64] & 0x0f) << 4);
                b->ql[64 * h + 32 + l] = (uint8_t)((e[32] & 0x0f) | (e[96] & 0x0f) << 4);
                b->qh[32 * h + l] = (uint8_t)(e[0] >> 4 | (e[32] >> 4) << 2 | (e[64] >> 4) << 4 | (e[96] >> 4) << 6);
            }
    }
}

static void dequantize(const void *x, float *y, int64_t n)
{
    const block_q6_k *b = x;
    for (int64_t k = 0; k < n / KQ_K; k++, b++) {
        float d = kern_f16_to_f32_1(b->d);
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 4; i++)
                for (int l = 0; l < 32; l++)
                    *y++ = d * (float)b->scales[8 * h + 2 * i + l / 16] * (float)(q6(b, h, i, l) - 32);
    }
}

/* ---- scalar reference --------------------------------------------------- */

static void mm_scalar(const kern_mm *a, int r0, int r1)
{
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    for (int r = r0; r < r1; r++) {
        const block_q6_k *w = (const block_q6_k *)((const char *)a->w + (size_t)r * a->row_bytes);
        for (int t = 0; t < a->batch; t++) {
            const int8_t *xq = a->xq.q + (size_t)t * a->n_in;
            const float *xd = a->xq.d + (size_t)t * nb;
            float acc = 0;
            for (int s = 0; s < nsb; s++) {
                float d = kern_f16_to_f32_1(w[s].d);
                for (int h = 0; h < 2; h++)
                    for (int i = 0; i < 4; i++) {
                        int b = 8 * s + 4 * h + i, sum[2] = { 0, 0 };
                        for (int l = 0; l < 32; l++)
                            sum[l / 16] += (q6(&w[s], h, i, l) - 32) * xq[32 * b + l];
                        const int8_t *sc = w[s].scales + 8 * h + 2 * i;
                        acc += d * xd[b] * (float)(sc[0] * sum[0] + sc[1] * sum[1]);
                    }
            }
            a->y[(size_t)t * a->n_out + r] = acc;
        }
    }
}

/* ---- AVX2 --------------------------------------------------------------- */

#ifdef KQ_HAVE_AVX2

/* sum(sc_lo * w[l] * x[l], l < 16) + sum(sc_hi * w[l] * x[l], l >= 16) as 8
 * int32 lanes in float; w = q - 32 in -32..31. maddubs wants one unsigned
 * operand: it gets |w| and x takes w's sign (llama.cpp's trick). */
KQ_AVX2_INLINE __m256 dot_scaled(__m256i w, __m256i scales, const int8_t *x)
{
    __m256i xv = _mm256_loadu_si256((const __m256i *)x);
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, scales));
}

/* Row r against tokens t0 .. t0+C-1; groups i = 0, 2 and 1, 3 of each half
 * go to two accumulators. */
KQ_AVX2_INLINE void tile(const kern_mm *a, int r, int t0, int C)
{
    const block_q6_k *w = (const block_q6_k *)((const char *)a->w + (size_t)r * a->row_bytes);
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    const int8_t *xq[KQ_TILE];
    const float *xd[KQ_TILE];
    __m256 acc[KQ_TILE], acc2[KQ_TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        acc[c] = acc2[c] = _mm256_setzero_ps();
    }
    const __m256i nib = _mm256_set1_epi8(0x0f), top = _mm256_set1_epi8(0x30), off = _mm256_set1_epi8(32);
    for (int s = 0; s < nsb; s++, w++) {
        float d = _cvtsh_ss(w->d);
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
            /* group i: its nibble, or-ed with bits 2i, 2i+1 of qh moved to 4, 5 */
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, nib), _mm256_and_si256(_mm256_slli_epi16(qh, 4), top)),
                _mm256_or_si256(_mm256_and_si256(l1, nib), _mm256_and_si256(_mm256_slli_epi16(qh, 2), top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), nib), _mm256_and_si256(qh, top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), nib),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), top)),
            };
            const int8_t *sc = w->scales + 8 * h;
            for (int i = 0; i < 4; i++) {
                __m256i wi = _mm256_sub_epi8(q[i], off);
                __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[2 * i + 1]), _mm_set1_epi16(sc[2 * i]));
                int b = 8 * s + 4 * h + i;
                for (int c = 0; c < C; c++) {
                    __m256 p = dot_scaled(wi, scales, xq[c] + 32 * b);
                    __m256 f = _mm256_set1_ps(d * xd[c][b]);
                    if (i & 1)
                        acc2[c] = _mm256_fmadd_ps(p, f, acc2[c]);
                    else
                        acc[c] = _mm256_fmadd_ps(p, f, acc[c]);
                }
            }
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = kq_hsum(_mm256_add_ps(acc[c], acc2[c]));
}

KQ_AVX2_MM(mm_avx2, tile)
#define MM_AVX2 mm_avx2
#else
#define MM_AVX2 NULL
#endif

/* ---- NEON --------------------------------------------------------------- */

#ifdef KQ_HAVE_NEON

/* Row r against tokens t0 .. t0+C-1, as the AVX2 tile: each group of 32 is
 * two sub-blocks of 16 (one 16-byte dot product each, times its scale);
 * groups i = 0, 2 and 1, 3 of each half go to two accumulators. */
KQ_NEON_INLINE void tile_neon(const kern_mm *a, int r, int t0, int C, int dp)
{
    const block_q6_k *w = (const block_q6_k *)((const char *)a->w + (size_t)r * a->row_bytes);
    int nsb = a->n_in / KQ_K, nb = a->n_in / 32;
    const int8_t *xq[KQ_NEON_TILE];
    const float *xd[KQ_NEON_TILE];
    float32x4_t acc[KQ_NEON_TILE], acc2[KQ_NEON_TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        acc[c] = acc2[c] = vdupq_n_f32(0);
    }
    const uint8x16_t nib = vdupq_n_u8(0x0f), top = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    for (int s = 0; s < nsb; s++, w++) {
        float d = kq_neon_h2f(w->d);
        for (int h = 0; h < 2; h++) {
            for (int half = 0; half < 2; half++) {      /* elements l = 16 half .. 16 half + 15 */
                uint8x16_t l0 = vld1q_u8(w->ql + 64 * h + 16 * half);
                uint8x16_t l1 = vld1q_u8(w->ql + 64 * h + 32 + 16 * half);
                uint8x16_t qh = vld1q_u8(w->qh + 32 * h + 16 * half);
                uint8x16_t q[4] = {
                    vorrq_u8(vandq_u8(l0, nib), vandq_u8(vshlq_n_u8(qh, 4), top)),
                    vorrq_u8(vandq_u8(l1, nib), vandq_u8(vshlq_n_u8(qh, 2), top)),
                    vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(qh, top)),
                    vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(qh, 2), top)),
                };
                const int8_t *sc = w->scales + 8 * h;
                for (int i = 0; i < 4; i++) {
                    int8x16_t wi = vsubq_s8(vreinterpretq_s8_u8(q[i]), off);
                    int b = 8 * s + 4 * h + i;
                    for (int c = 0; c < C; c++) {
                        int32x4_t p = vmulq_n_s32(kq_dot16(wi, vld1q_s8(xq[c] + 32 * b + 16 * half), dp),
                                                  sc[2 * i + half]);
                        float32x4_t f = vcvtq_f32_s32(p);
                        if (i & 1)
                            acc2[c] = vfmaq_n_f32(acc2[c], f, d * xd[c][b]);
                        else
                            acc[c] = vfmaq_n_f32(acc[c], f, d * xd[c][b]);
                    }
                }
            }
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = vaddvq_f32(vaddq_f32(acc[c], acc2[c]));
}

KQ_NEON_MM_PAIR(mm_neon, tile_neon)
#endif

const kq_type kq_q6_k = {
    .type = DEV_Q6_K, .name = "Q6_K", .block_bytes = sizeof(block_q6_k), .needs_sums = 0,
    .quantize = quantize, .dequantize = dequantize,
    .mm = { [KERN_ISA_SCALAR] = mm_scalar, [KERN_ISA_AVX2] = MM_AVX2, KQ_NEON_TABLE(mm_neon) },
};
