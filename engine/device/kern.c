/* kern.c — the scalar reference kernels (kern_scalar), exact F16/BF16
 * conversions, GGUF block (de)quantizers, RoPE, and the run-time choice of
 * kernel set. Plain C on purpose: the SIMD sets are tested against this
 * file, so it favours obviousness over speed.
 */
#include "kern.h"

#include <math.h>
#include <string.h>

/* ---- F16 / BF16 --------------------------------------------------------- */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float kern_f16_to_f32_1(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f)              /* inf, or NaN made quiet (as F16C does) */
        return bits_f32(sign | 0x7f800000 | (m << 13) | (m ? 0x400000 : 0));
    if (e == 0) {
        if (m == 0)
            return bits_f32(sign);
        e = 113;                /* subnormal: normalize m * 2^-24 */
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        return bits_f32(sign | e << 23 | (m & 0x3ff) << 13);
    }
    return bits_f32(sign | (e + 112) << 23 | m << 13);
}

/* Rounds the value m * 2^-shift (shift >= 1) to nearest even. */
static uint32_t round_shift(uint32_t m, int shift)
{
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    return r + (rem > half || (rem == half && (r & 1)));
}

uint16_t kern_f32_to_f16_1(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (x >> 16) & 0x8000;
    int e = (x >> 23) & 0xff;
    uint32_t m = x & 0x7fffff;
    if (e == 0xff)              /* inf; NaN keeps its top payload, made quiet */
        return sign | 0x7c00 | (m ? 0x200 | (m >> 13) : 0);
    int he = e - 127 + 15;
    if (he >= 0x1f)
        return sign | 0x7c00;
    if (he <= 0) {              /* f16 subnormal (or zero): units of 2^-24 */
        if (he < -10)
            return sign;
        return sign | (uint16_t)round_shift(m | 0x800000, 14 - he);
    }
    /* A carry out of the mantissa correctly bumps the exponent (to inf). */
    return sign | (uint16_t)round_shift((uint32_t)he << 23 | m, 13);
}

float kern_bf16_to_f32_1(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t kern_f32_to_bf16_1(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ---- GGUF block quantizers ---------------------------------------------- */

void kern_quantize_q8_0(const float *x, kern_block_q8_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / KERN_QK; b++, x += KERN_QK) {
        float amax = 0;
        for (int i = 0; i < KERN_QK; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        y[b].d = kern_f32_to_f16_1(amax / 127);
        float d = kern_f16_to_f32_1(y[b].d);    /* quantize with the stored scale */
        for (int i = 0; i < KERN_QK; i++) {
            long q = d != 0 ? lrintf(x[i] / d) : 0;
            y[b].qs[i] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
}

void kern_quantize_q4_0(const float *x, kern_block_q4_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / KERN_QK; b++, x += KERN_QK) {
        float m = 0;                    /* the value of largest magnitude */
        for (int i = 0; i < KERN_QK; i++)
            if (fabsf(x[i]) > fabsf(m))
                m = x[i];
        y[b].d = kern_f32_to_f16_1(m / -8);
        float d = kern_f16_to_f32_1(y[b].d);
        float id = d != 0 ? 1 / d : 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            int lo = (int)floorf(x[j] * id + 8.5f), hi = (int)floorf(x[j + 16] * id + 8.5f);
            lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
            hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
            y[b].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void kern_dequantize_q8_0(const kern_block_q8_0 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / KERN_QK; b++, y += KERN_QK) {
        float d = kern_f16_to_f32_1(x[b].d);
        for (int i = 0; i < KERN_QK; i++)
            y[i] = x[b].qs[i] * d;
    }
}

void kern_dequantize_q4_0(const kern_block_q4_0 *x, float *y, int64_t n)
{
    for (int64_t b = 0; b < n / KERN_QK; b++, y += KERN_QK) {
        float d = kern_f16_to_f32_1(x[b].d);
        for (int j = 0; j < KERN_QK / 2; j++) {
            y[j] = ((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ---- RoPE --------------------------------------------------------------- */

void kern_rope(float *x, int n_heads, int hd, const float *cs, int neox)
{
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++, x += hd) {
        for (int i = 0; i < half; i++) {
            int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1], a = x[i0], b = x[i1];
            x[i0] = a * c - b * s;
            x[i1] = a * s + b * c;
        }
    }
}

/* ---- scalar reference kernels ------------------------------------------- */

static const void *w_row(const kern_mm *a, int r)
{
    return (const char *)a->w + (size_t)r * a->row_bytes;
}

static void mm_f32(const kern_mm *a, int r0, int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *w = w_row(a, r);
        for (int t = 0; t < a->batch; t++) {
            const float *x = a->x + (size_t)t * a->n_in;
            float acc = 0;
            for (int i = 0; i < a->n_in; i++)
                acc += w[i] * x[i];
            a->y[(size_t)t * a->n_out + r] = acc;
        }
    }
}

/* F16/BF16 rows: widened into a stack buffer a piece at a time. */
static void mm_half(const kern_mm *a, int r0, int r1, float (*widen)(uint16_t))
{
    float wf[256];
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = w_row(a, r);
        for (int t = 0; t < a->batch; t++)
            a->y[(size_t)t * a->n_out + r] = 0;
        for (int i0 = 0; i0 < a->n_in; i0 += 256) {
            int n = a->n_in - i0 < 256 ? a->n_in - i0 : 256;
            for (int i = 0; i < n; i++)
                wf[i] = widen(w[i0 + i]);
            for (int t = 0; t < a->batch; t++) {
                const float *x = a->x + (size_t)t * a->n_in + i0;
                float acc = 0;
                for (int i = 0; i < n; i++)
                    acc += wf[i] * x[i];
                a->y[(size_t)t * a->n_out + r] += acc;
            }
        }
    }
}

static void mm_f16(const kern_mm *a, int r0, int r1) { mm_half(a, r0, r1, kern_f16_to_f32_1); }
static void mm_bf16(const kern_mm *a, int r0, int r1) { mm_half(a, r0, r1, kern_bf16_to_f32_1); }

static void mm_q8_0(const kern_mm *a, int r0, int r1)
{
    int nb = a->n_in / KERN_QK;
    for (int r = r0; r < r1; r++) {
        const kern_block_q8_0 *w = w_row(a, r);
        for (int t = 0; t < a->batch; t++) {
            const int8_t *xq = a->xq.q + (size_t)t * a->n_in;
            const float *xd = a->xq.d + (size_t)t * nb;
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                int isum = 0;
                for (int i = 0; i < KERN_QK; i++)
                    isum += w[b].qs[i] * xq[b * KERN_QK + i];
                acc += kern_f16_to_f32_1(w[b].d) * xd[b] * (float)isum;
            }
            a->y[(size_t)t * a->n_out + r] = acc;
        }
    }
}

static void mm_q4_0(const kern_mm *a, int r0, int r1)
{
    int nb = a->n_in / KERN_QK;
    for (int r = r0; r < r1; r++) {
        const kern_block_q4_0 *w = w_row(a, r);
        for (int t = 0; t < a->batch; t++) {
            const int8_t *xq = a->xq.q + (size_t)t * a->n_in;
            const float *xd = a->xq.d + (size_t)t * nb;
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                const int8_t *xb = xq + b * KERN_QK;
                int isum = 0;
                for (int j = 0; j < KERN_QK / 2; j++)
                    isum += ((w[b].qs[j] & 0x0f) - 8) * xb[j] + ((w[b].qs[j] >> 4) - 8) * xb[j + 16];
                acc += kern_f16_to_f32_1(w[b].d) * xd[b] * (float)isum;
            }
            a->y[(size_t)t * a->n_out + r] = acc;
        }
    }
}

static void quantize_act(const float *x, int n, int8_t *q, float *d)
{
    for (int b = 0; b < n / KERN_QK; b++, x += KERN_QK, q += KERN_QK) {
        float amax = 0;
        for (int i = 0; i < KERN_QK; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float id = amax != 0 ? 127.0f / amax : 0.0f;
        for (int i = 0; i < KERN_QK; i++)
            q[i] = (int8_t)lrintf(x[i] * id);
        d[b] = amax / 127.0f;
    }
}

static void f16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_f16_to_f32_1(src[i]);
}

static void f32_to_f16(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_f32_to_f16_1(src[i]);
}

static void bf16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_bf16_to_f32_1(src[i]);
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    float ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * (w ? w[i] : 1.0f);
}

static void attn_head(float *out, const float *q, const float *k, const float *v,
                      int n_keys, int stride, int hd, float scale)
{
    float acc[KERN_MAX_HEAD_DIM] = {0};
    float m = -INFINITY, l = 0;
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * stride, *vj = v + (size_t)j * stride;
        float s = 0;
        for (int i = 0; i < hd; i++)
            s += q[i] * kj[i];
        s *= scale;
        if (s > m) {            /* new maximum: rescale what is summed so far */
            float c = expf(m - s);
            l *= c;
            for (int i = 0; i < hd; i++)
                acc[i] *= c;
            m = s;
        }
        float p = expf(s - m);
        l += p;
        for (int i = 0; i < hd; i++)
            acc[i] += p * vj[i];
    }
    for (int i = 0; i < hd; i++)
        out[i] = acc[i] / l;
}

static void attn_heads(float *out, const float *q, int n_q, const float *k, const float *v,
                       int n_keys, int stride, int hd, float scale)
{
    for (int h = 0; h < n_q; h++)
        attn_head(out + (size_t)h * hd, q + (size_t)h * hd, k, v, n_keys, stride, hd, scale);
}

static void swiglu(float *out, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void add(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void softmax(float *x, int n)
{
    float m = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        m = fmaxf(m, x[i]);
    for (int i = 0; i < n; i++)
        sum += x[i] = expf(x[i] - m);
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

static uint64_t stream_read(const void *p, size_t bytes)
{
    const uint64_t *w = p;
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes / 8; i++)
        sum += w[i];
    return sum;
}

const kern_ops kern_scalar = {
    .name = "scalar", .isa = KERN_ISA_SCALAR,
    .mm_f32 = mm_f32, .mm_f16 = mm_f16, .mm_bf16 = mm_bf16,
    .mm_q8_0 = mm_q8_0, .mm_q4_0 = mm_q4_0,
    .quantize_act = quantize_act,
    .f16_to_f32 = f16_to_f32, .f32_to_f16 = f32_to_f16, .bf16_to_f32 = bf16_to_f32,
    .rmsnorm = rmsnorm, .attn_heads = attn_heads, .swiglu = swiglu, .add = add,
    .softmax = softmax, .stream_read = stream_read,
};

/* ---- choice ------------------------------------------------------------- */

const kern_ops *kern_select(void)
{
    /* Best first. An AVX-512 set would be tried here, before AVX2. */
    const kern_ops *k = kern_avx2();
    if (!k)
        k = kern_neon();
    return k ? k : &kern_scalar;
}

const kern_ops *kern_by_name(const char *name)
{
    if (!strcmp(name, "auto"))
        return kern_select();
    if (!strcmp(name, "scalar"))
        return &kern_scalar;
    if (!strcmp(name, "avx2"))
        return kern_avx2();
    if (!strcmp(name, "neon"))
        return kern_neon();
    return NULL;
}
