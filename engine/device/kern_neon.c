/* kern_neon.c — the NEON kernel set (AArch64, where Advanced SIMD and F16
 * conversion are part of the base architecture). On other architectures
 * kern_neon() returns NULL.
 *
 * The structure is kern_avx2.c's with 4-wide vectors: output rows in blocks
 * of ROW_BLOCK, tokens in tiles of up to 4 with accumulators of their own,
 * so a weight block loaded once serves the tile, and a token's products are
 * summed in one fixed order whatever the tile (batch invariance, dev.h).
 *
 * Quantized dot products: int8 x int8 widening multiplies (smull/smull2)
 * into 16 bits, pairwise-added to 16 bits (addp) and then to 32 (saddlp). A
 * pair of products cannot overflow int16: weights are >= -128, activations
 * |x| <= 127, so |w0 x0 + w1 x1| <= 32512. Where the CPU has the ARMv8.2
 * dot-product instructions (sdot), the same 32-bit lanes come from them
 * instead (the same four bytes in each lane, exact integer sums), so both
 * paths give bit-identical results.
 */
#include "kern.h"

#if defined(__aarch64__)

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "kq_neon.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

#define ROW_BLOCK 16        /* weight rows reused across one token tile */
#define TILE KERN_TILE       /* tokens per tile (one set of accumulators each) */
#define ATT_CHUNK 32        /* keys scored before each online-softmax update */
#define ATT_GROUP 4         /* query heads sharing a K/V head walk the keys together */

#define INLINE static inline __attribute__((always_inline))

enum { W_F32, W_F16, W_BF16, W_Q8_0, W_Q4_0 };

/* ---- helpers ------------------------------------------------------------ */

/* e^x as kern_avx2.c's exp256: x = n ln2 + r, e^r by its degree-7 Taylor
 * polynomial, 2^n by the exponent field; x clamped to [-87, 88]. */
INLINE float32x4_t exp4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.42860682028622680e-6f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* 4 weights starting at element i of a float-type row, widened to F32. */
INLINE float32x4_t load_w4(const void *w, int i, int wt)
{
    if (wt == W_F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
    if (wt == W_BF16)
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
    return vld1q_f32((const float *)w + i);
}

INLINE float load_w1(const void *w, int i, int wt)
{
    if (wt == W_F16)
        return kq_neon_h2f(((const uint16_t *)w)[i]);
    if (wt == W_BF16)
        return kern_bf16_to_f32_1(((const uint16_t *)w)[i]);
    return ((const float *)w)[i];
}

/* ---- matmul tiles: one weight row r against tokens t0 .. t0+C-1 -------- */

/* Four accumulators per token (a step of 16 elements keeps four FMA chains
 * in flight for a lone token), summed in one fixed order at the end. */
INLINE void tile_float(const kern_mm *a, int r, int t0, int C, int wt)
{
    const void *w = (const char *)a->w + (size_t)r * a->row_bytes;
    const float *x[TILE];
    float32x4_t acc[TILE][4];
    for (int c = 0; c < C; c++) {
        x[c] = a->x + (size_t)(t0 + c) * a->n_in;
        for (int s = 0; s < 4; s++)
            acc[c][s] = vdupq_n_f32(0);
    }
    int i = 0, n = a->n_in;
    for (; i + 16 <= n; i += 16) {
        float32x4_t w0 = load_w4(w, i, wt), w1 = load_w4(w, i + 4, wt);
        float32x4_t w2 = load_w4(w, i + 8, wt), w3 = load_w4(w, i + 12, wt);
        for (int c = 0; c < C; c++) {
            acc[c][0] = vfmaq_f32(acc[c][0], w0, vld1q_f32(x[c] + i));
            acc[c][1] = vfmaq_f32(acc[c][1], w1, vld1q_f32(x[c] + i + 4));
            acc[c][2] = vfmaq_f32(acc[c][2], w2, vld1q_f32(x[c] + i + 8));
            acc[c][3] = vfmaq_f32(acc[c][3], w3, vld1q_f32(x[c] + i + 12));
        }
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t w0 = load_w4(w, i, wt);
        for (int c = 0; c < C; c++)
            acc[c][0] = vfmaq_f32(acc[c][0], w0, vld1q_f32(x[c] + i));
    }
    for (int c = 0; c < C; c++) {
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[c][0], acc[c][1]), vaddq_f32(acc[c][2], acc[c][3])));
        for (int j = i; j < n; j++)
            s += load_w1(w, j, wt) * x[c][j];
        a->y[(size_t)(t0 + c) * a->n_out + r] = s;
    }
}

/* sum(w[i] * x[i]) over 32 int8 pairs (w in two halves) as 4 int32 lanes,
 * lane k holding bytes 4k..4k+3 of each half on both paths, so the float
 * sums that follow are the same with and without sdot. */
INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, const int8_t *xq, int dp)
{
    int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
    if (dp)
        return kq_sdot(kq_sdot(vdupq_n_s32(0), w0, x0), w1, x1);
    return vaddq_s32(kq_dot16(w0, x0, 0), kq_dot16(w1, x1, 0));
}

/* Block b of a quantized row (Q8_0, or Q4_0 when q4) into acc[c] for each
 * token of the tile. */
INLINE void quant_step(const void *row, int b, int q4, const int8_t *const *xq,
                       const float *const *xd, int C, float32x4_t *acc, int dp)
{
    int8x16_t w0, w1;
    uint16_t d;
    if (q4) {
        const kern_block_q4_0 *wb = (const kern_block_q4_0 *)row + b;
        uint8x16_t raw = vld1q_u8(wb->qs);
        w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
        w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), vdupq_n_s8(8));
        d = wb->d;
    } else {
        const kern_block_q8_0 *wb = (const kern_block_q8_0 *)row + b;
        w0 = vld1q_s8(wb->qs);
        w1 = vld1q_s8(wb->qs + 16);
        d = wb->d;
    }
    float dw = kq_neon_h2f(d);
    for (int c = 0; c < C; c++) {
        float32x4_t s = vcvtq_f32_s32(dot32(w0, w1, xq[c] + b * KERN_QK, dp));
        acc[c] = vfmaq_f32(acc[c], s, vdupq_n_f32(dw * xd[c][b]));
    }
}

INLINE void tile_quant(const kern_mm *a, int r, int t0, int C, int q4, int dp)
{
    const void *w = (const char *)a->w + (size_t)r * a->row_bytes;
    int nb = a->n_in / KERN_QK;
    const int8_t *xq[TILE];
    const float *xd[TILE];
    float32x4_t acc[TILE], acc2[TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        acc[c] = acc2[c] = vdupq_n_f32(0);
    }
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        quant_step(w, b, q4, xq, xd, C, acc, dp);
        quant_step(w, b + 1, q4, xq, xd, C, acc2, dp);
    }
    if (b < nb)
        quant_step(w, b, q4, xq, xd, C, acc, dp);
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = vaddvq_f32(vaddq_f32(acc[c], acc2[c]));
}

INLINE void tile(const kern_mm *a, int r, int t0, int C, int wt, int dp)
{
    if (wt == W_Q8_0)
        tile_quant(a, r, t0, C, 0, dp);
    else if (wt == W_Q4_0)
        tile_quant(a, r, t0, C, 1, dp);
    else
        tile_float(a, r, t0, C, wt);
}

INLINE void mm_drive(const kern_mm *a, int r0, int r1, int wt, int dp)
{
    KERN_FOR_TILES(a, r0, r1, ROW_BLOCK, tile, wt, dp);
}

static void mm_f32(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_F32, 0); }
static void mm_f16(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_F16, 0); }
static void mm_bf16(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_BF16, 0); }
static void mm_q8_0(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_Q8_0, 0); }
static void mm_q4_0(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_Q4_0, 0); }

KQ_DOTPROD static void mm_q8_0_dp(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_Q8_0, 1); }
KQ_DOTPROD static void mm_q4_0_dp(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_Q4_0, 1); }

/* Bit-identical to the scalar version: amax by maxnm (NaN ignored, as
 * fmaxf), the same 127/amax, x*id rounded to nearest even (as lrintf in the
 * default rounding mode), saturating narrows that never saturate. */
static void quantize_act(const float *x, int n, int8_t *q, float *d)
{
    for (int b = 0; b < n / KERN_QK; b++, x += KERN_QK, q += KERN_QK) {
        float32x4_t v[8], mx = vdupq_n_f32(0);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(x + 4 * i);
            mx = vmaxnmq_f32(mx, vabsq_f32(v[i]));
        }
        float amax = vmaxnmvq_f32(mx);
        float32x4_t id = vdupq_n_f32(amax != 0 ? 127.0f / amax : 0.0f);
        for (int h = 0; h < 2; h++) {
            int16x8_t s0 = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(v[4 * h], id))),
                                        vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(v[4 * h + 1], id))));
            int16x8_t s1 = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(v[4 * h + 2], id))),
                                        vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(v[4 * h + 3], id))));
            vst1q_s8(q + 16 * h, vcombine_s8(vqmovn_s16(s0), vqmovn_s16(s1)));
        }
        d[b] = amax / 127.0f;
    }
}

/* ---- conversions -------------------------------------------------------- */

static void f16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, load_w4(src + i, 0, W_F16));
    for (; i < n; i++)
        dst[i] = kq_neon_h2f(src[i]);
}

/* fcvtn rounds to nearest even (the default FPCR mode); NaNs stay NaN. */
static void f32_to_f16(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++) {
        __fp16 h = (__fp16)src[i];      /* fcvt, the same rounding */
        memcpy(dst + i, &h, sizeof h);
    }
}

static void bf16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, load_w4(src + i, 0, W_BF16));
    for (; i < n; i++)
        dst[i] = kern_bf16_to_f32_1(src[i]);
}

/* ---- element-wise and row kernels --------------------------------------- */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        s0 = vfmaq_f32(s0, a, a);
        s1 = vfmaq_f32(s1, b, b);
    }
    float ss = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    float32x4_t vs = vdupq_n_f32(scale);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_f32(vld1q_f32(x + i), vs);
        vst1q_f32(out + i, w ? vmulq_f32(v, vld1q_f32(w + i)) : v);
    }
    for (; i < n; i++)
        out[i] = x[i] * scale * (w ? w[i] : 1.0f);
}

INLINE float32x4_t silu_mul(float32x4_t g, float32x4_t u)
{
    float32x4_t e = exp4(vnegq_f32(g));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

static void swiglu(float *out, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, silu_mul(vld1q_f32(g + i), vld1q_f32(u + i)));
    if (i < n) {        /* the tail through a padded vector: same math as above */
        float gt[4] = {0}, ut[4] = {0}, ot[4];
        memcpy(gt, g + i, (size_t)(n - i) * sizeof *g);
        memcpy(ut, u + i, (size_t)(n - i) * sizeof *u);
        vst1q_f32(ot, silu_mul(vld1q_f32(gt), vld1q_f32(ut)));
        memcpy(out + i, ot, (size_t)(n - i) * sizeof *out);
    }
}

static void add(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

/* x[i] = e^(x[i] - m) for i < n; returns their sum. */
INLINE float exp_shift_sum(float *x, int n, float m)
{
    float32x4_t vm = vdupq_n_f32(m), sum = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vm));
        vst1q_f32(x + i, e);
        sum = vaddq_f32(sum, e);
    }
    float s = vaddvq_f32(sum);
    if (i < n) {
        float t[4];
        for (int j = 0; j < 4; j++)
            t[j] = i + j < n ? x[i + j] : m;
        vst1q_f32(t, exp4(vsubq_f32(vld1q_f32(t), vm)));
        for (int j = 0; i + j < n; j++)
            s += x[i + j] = t[j];
    }
    return s;
}

static void softmax(float *x, int n)
{
    float32x4_t vm = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vm = vmaxq_f32(vm, vld1q_f32(x + i));
    float m = vmaxvq_f32(vm);
    for (; i < n; i++)
        m = fmaxf(m, x[i]);
    float inv = 1.0f / exp_shift_sum(x, n, m);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), vdupq_n_f32(inv)));
    for (; i < n; i++)
        x[i] *= inv;
}

INLINE float dot(const float *a, const float *b, int n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* acc(n) = acc * c + sum_j p[j] * v_j for nj rows v_j `stride` apart; two
 * accumulators (even and odd j) per 4-wide slab, four slabs at a time. */
INLINE void scale_axpy(float *acc, float c, const float *p, const float *v, int nj, int stride, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a[4], b[4];
        for (int s = 0; s < 4; s++) {
            a[s] = vmulq_n_f32(vld1q_f32(acc + i + 4 * s), c);
            b[s] = vdupq_n_f32(0);
        }
        int j = 0;
        for (; j + 2 <= nj; j += 2) {
            const float *v0 = v + (size_t)j * stride + i, *v1 = v0 + stride;
            for (int s = 0; s < 4; s++) {
                a[s] = vfmaq_n_f32(a[s], vld1q_f32(v0 + 4 * s), p[j]);
                b[s] = vfmaq_n_f32(b[s], vld1q_f32(v1 + 4 * s), p[j + 1]);
            }
        }
        if (j < nj) {
            const float *v0 = v + (size_t)j * stride + i;
            for (int s = 0; s < 4; s++)
                a[s] = vfmaq_n_f32(a[s], vld1q_f32(v0 + 4 * s), p[j]);
        }
        for (int s = 0; s < 4; s++)
            vst1q_f32(acc + i + 4 * s, vaddq_f32(a[s], b[s]));
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t a0 = vmulq_n_f32(vld1q_f32(acc + i), c), a1 = vdupq_n_f32(0);
        for (int j = 0; j < nj; j++) {
            float32x4_t t = vld1q_f32(v + (size_t)j * stride + i);
            if (j & 1)
                a1 = vfmaq_n_f32(a1, t, p[j]);
            else
                a0 = vfmaq_n_f32(a0, t, p[j]);
        }
        vst1q_f32(acc + i, vaddq_f32(a0, a1));
    }
    for (; i < n; i++) {
        float a = acc[i] * c;
        for (int j = 0; j < nj; j++)
            a += p[j] * v[(size_t)j * stride + i];
        acc[i] = a;
    }
}

/* Up to ATT_GROUP query heads that share one K/V head walk the keys
 * together, chunk by chunk (online softmax per chunk), so each chunk of K
 * and V comes from L2 once; a head's arithmetic does not depend on the
 * group. */
static void attn_heads(float *out, const float *q, int n_q, const float *k, const float *v,
                       int n_keys, int stride, int hd, float scale)
{
    for (int h0 = 0; h0 < n_q; h0 += ATT_GROUP) {
        int g = n_q - h0 < ATT_GROUP ? n_q - h0 : ATT_GROUP;
        float acc[ATT_GROUP][KERN_MAX_HEAD_DIM], m[ATT_GROUP], l[ATT_GROUP], p[ATT_CHUNK];
        for (int h = 0; h < g; h++) {
            memset(acc[h], 0, sizeof(float) * (size_t)hd);
            m[h] = -INFINITY;
            l[h] = 0;
        }
        for (int j0 = 0; j0 < n_keys; j0 += ATT_CHUNK) {
            int nj = n_keys - j0 < ATT_CHUNK ? n_keys - j0 : ATT_CHUNK;
            const float *kc = k + (size_t)j0 * stride, *vc = v + (size_t)j0 * stride;
            for (int h = 0; h < g; h++) {
                const float *qh = q + (size_t)(h0 + h) * hd;
                float cmax = -INFINITY;
                for (int j = 0; j < nj; j++) {
                    p[j] = dot(qh, kc + (size_t)j * stride, hd) * scale;
                    cmax = p[j] > cmax ? p[j] : cmax;
                }
                float mnew = m[h] > cmax ? m[h] : cmax;
                float c = expf(m[h] - mnew);        /* 0 on the first chunk */
                l[h] = l[h] * c + exp_shift_sum(p, nj, mnew);
                scale_axpy(acc[h], c, p, vc, nj, stride, hd);
                m[h] = mnew;
            }
        }
        for (int h = 0; h < g; h++) {
            float inv = 1.0f / l[h];
            float *o = out + (size_t)(h0 + h) * hd;
            for (int i = 0; i < hd; i++)
                o[i] = acc[h][i] * inv;
        }
    }
}

static uint64_t stream_read(const void *p, size_t bytes)
{
    const uint64_t *w = p;
    uint64x2_t a0 = vdupq_n_u64(0), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 8 <= bytes / 8; i += 8) {
        a0 = vaddq_u64(a0, vld1q_u64(w + i));
        a1 = vaddq_u64(a1, vld1q_u64(w + i + 2));
        a2 = vaddq_u64(a2, vld1q_u64(w + i + 4));
        a3 = vaddq_u64(a3, vld1q_u64(w + i + 6));
    }
    return vaddvq_u64(vaddq_u64(vaddq_u64(a0, a1), vaddq_u64(a2, a3)));
}

#define NEON_OPS(isa_, q8, q4)                                                         \
    .name = "neon", .isa = isa_,                                              \
    .mm_f32 = mm_f32, .mm_f16 = mm_f16, .mm_bf16 = mm_bf16, .mm_q8_0 = q8, .mm_q4_0 = q4, \
    .quantize_act = quantize_act,                                                      \
    .f16_to_f32 = f16_to_f32, .f32_to_f16 = f32_to_f16, .bf16_to_f32 = bf16_to_f32,    \
    .rmsnorm = rmsnorm, .attn_heads = attn_heads, .swiglu = swiglu, .add = add,        \
    .softmax = softmax, .stream_read = stream_read

static const kern_ops neon_ops = { NEON_OPS(KERN_ISA_NEON, mm_q8_0, mm_q4_0) };
static const kern_ops neon_dp_ops = { NEON_OPS(KERN_ISA_NEON_DP, mm_q8_0_dp, mm_q4_0_dp) };

int kern_neon_dotprod(void)
{
    const char *off = getenv("SPARKD_NO_DOTPROD");   /* to test the ARMv8.0 path */
    return !(off && *off == '1') && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}

const kern_ops *kern_neon(void)
{
    return kern_neon_dotprod() ? &neon_dp_ops : &neon_ops;
}

#else /* not AArch64 */

const kern_ops *kern_neon(void)
{
    return NULL;
}

int kern_neon_dotprod(void)
{
    return 0;
}

#endif
