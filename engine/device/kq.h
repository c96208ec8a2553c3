/* kq.h — ggml's K-quant weight types: super-blocks of KQ_K = 256 elements
 * with a F16 scale (and minimum) and small per-sub-block scales.
 *
 * One file per type: kq_q4k.c, kq_q5k.c, kq_q6k.c. Each holds its block
 * layout, a reference quantizer, the dequantizer and its matmul for every
 * kernel set (the scalar reference, AVX2, NEON with and without sdot), and
 * exports one kq_type that kq.c's table lists. Adding a type (Q3_K, Q2_K, IQ4_XS...) is one more such
 * file, one line in that table and its number in dev.h's dev_dtype.
 *
 * Dot products. The activations are the int8 blocks of 32 of kern_q8act,
 * the same as for Q8_0/Q4_0 (llama.cpp quantizes them per 256 instead, Q8_K):
 * a finer activation scale, so the quantized matmul keeps dev_matmul's
 * documented bound (|x - x'| <= amax/254 per block of 32), and one
 * activation format for every quantized type. A 32-element activation block
 * b meets one Q4_K/Q5_K sub-block j (scale sc, minimum m) or two Q6_K
 * sub-blocks of 16; its contribution to y is, in exact integer sums,
 *   Q4_K/Q5_K:  xd_b * d*sc_j * sum(q * xq)  -  dmin*m_j * xs_b
 *   Q6_K:       xd_b * d * (sc_lo * sum_lo(q * xq) + sc_hi * sum_hi(q * xq))
 * with xs_b = xd_b * sum(xq) (kern_q8act.s, kq_act_sums). The sets differ
 * only in the order of the float sums; a token's result never depends on
 * the batch or the thread split.
 */
#ifndef SPARKD_KQ_H
#define SPARKD_KQ_H

#include "dev.h"
#include "kern.h"

#define KQ_K 256            /* elements per super-block (ggml's QK_K) */
#define KQ_SCALE_BYTES 12   /* Q4_K/Q5_K: 8 scales + 8 mins of 6 bits */

typedef struct {
    dev_dtype type;
    const char *name;           /* as ggml names it: "Q4_K" */
    size_t block_bytes;         /* bytes per KQ_K elements */
    int needs_sums;             /* the matmul reads kern_q8act.s */
    /* n (a multiple of KQ_K) values to blocks, and back. The quantizer is a
     * simple one (per sub-block range, then the scales quantized), not
     * llama.cpp's error-minimizing search: same format, larger error. */
    void (*quantize)(const float *x, void *y, int64_t n);
    void (*dequantize)(const void *x, float *y, int64_t n);
    kern_mm_fn mm[KERN_ISA_COUNT];  /* by kern_ops.isa; NULL: not built here */
} kq_type;

extern const kq_type kq_q4_k, kq_q5_k, kq_q6_k;

/* The K-quant type t, or NULL if t is not one. */
const kq_type *kq_find(dev_dtype t);

/* The matmul of q for kernel set k (the scalar one if k's is not built). */
kern_mm_fn kq_mm(const kq_type *q, const kern_ops *k);

/* s[b] = d[b] * (q[32b] + ... + q[32b+31]) for the n/32 blocks of a row. */
void kq_act_sums(const int8_t *q, const float *d, int n, float *s);

/* ---- helpers of the Q4_K/Q5_K files ------------------------------------ */

/* Sub-block j's 6-bit scale and minimum from the 12 packed bytes: j < 4 in
 * the low 6 bits of bytes j and j+4; j >= 4 in the nibbles of byte j+4 with
 * the top two bits in bytes j-4 (scale) and j (minimum). */
static inline void kq_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* The smallest F16 >= v (v >= 0 finite, below F16's max): a scale that
 * rounds up never clips the largest value of its block. */
uint16_t kq_f16_ceil(float v);

/* One super-block x(256) in the form value = d*sc_j * L - dmin*m_j with
 * 0 <= L <= qmax: writes d, dmin (F16), the packed scales and L(256). */
void kq_quantize_affine(const float *x, int qmax, uint16_t *d, uint16_t *dmin,
                        uint8_t scales[KQ_SCALE_BYTES], uint8_t *L);

#endif
