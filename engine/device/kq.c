/* kq.c — the table of K-quant types and what their files share: the
 * activation block sums and the affine (scale + minimum) super-block
 * quantizer of Q4_K/Q5_K with its 6-bit scale packing. See kq.h.
 */
#include "kq.h"

#include <math.h>

static const kq_type *const types[] = { &kq_q4_k, &kq_q5_k, &kq_q6_k };

const kq_type *kq_find(dev_dtype t)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i]->type == t)
            return types[i];
    return NULL;
}

kern_mm_fn kq_mm(const kq_type *q, const kern_ops *k)
{
    kern_mm_fn fn = k->isa >= 0 && k->isa < KERN_ISA_COUNT ? q->mm[k->isa] : NULL;
    return fn ? fn : q->mm[KERN_ISA_SCALAR];
}

void kq_act_sums(const int8_t *q, const float *d, int n, float *s)
{
    for (int b = 0; b < n / 32; b++, q += 32) {
        int sum = 0;
        for (int i = 0; i < 32; i++)
            sum += q[i];
        s[b] = d[b] * (float)sum;
    }
}

uint16_t kq_f16_ceil(float v)
{
    uint16_t h = kern_f32_to_f16_1(v);
    return kern_f16_to_f32_1(h) < v ? (uint16_t)(h + 1) : h;
}

/* The inverse of kq_scale_min. */
static void pack_scales(uint8_t s[KQ_SCALE_BYTES], const int sc[8], const int m[8])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | (m[j + 4] & 0x0f) << 4);
    }
}

/* Each sub-block of 32 gets a grid from -m' up to at least its maximum:
 * the minimum m' = dmin*m_j rounds up (so the grid reaches below every
 * value), then the step d*sc_j rounds up too (so its top reaches the
 * largest); both F16 super-scales round up for the same reason. A value is
 * then off by at most half a step, d*sc_j / 2 (plus float rounding). */
void kq_quantize_affine(const float *x, int qmax, uint16_t *d, uint16_t *dmin,
                        uint8_t scales[KQ_SCALE_BYTES], uint8_t *L)
{
    float lo[8], hi[8], mmax = 0;
    for (int j = 0; j < 8; j++) {
        lo[j] = 0;                      /* minimums are <= 0: m_j >= 0 */
        hi[j] = 0;
        for (int i = 0; i < 32; i++) {
            lo[j] = fminf(lo[j], x[32 * j + i]);
            hi[j] = fmaxf(hi[j], x[32 * j + i]);
        }
        mmax = fmaxf(mmax, -lo[j]);
    }
    *dmin = kq_f16_ceil(mmax / 63);
    float dm = kern_f16_to_f32_1(*dmin), need[8], smax = 0;
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        m[j] = dm > 0 ? (int)fminf(63, ceilf(-lo[j] / dm)) : 0;
        need[j] = (hi[j] + dm * (float)m[j]) / (float)qmax;
        smax = fmaxf(smax, need[j]);
    }
    *d = kq_f16_ceil(smax / 63);
    float df = kern_f16_to_f32_1(*d);
    for (int j = 0; j < 8; j++) {
        sc[j] = df > 0 ? (int)fminf(63, ceilf(need[j] / df)) : 0;
        float step = df * (float)sc[j], off = dm * (float)m[j];
        float inv = step > 0 ? 1 / step : 0;
        for (int i = 0; i < 32; i++) {
            long q = lrintf((x[32 * j + i] + off) * inv);
            L[32 * j + i] = (uint8_t)(q < 0 ? 0 : q > qmax ? qmax : q);
        }
    }
    pack_scales(scales, sc, m);
}
