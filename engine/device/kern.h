/* kern.h — host compute kernels, one table per instruction set.
 *
 * kern_scalar (kern.c) is the plain-C reference every other set is tested
 * against; kern_avx2 (kern_avx2.c: AVX2+FMA+F16C, compiled with per-function
 * target attributes so the rest of the build stays portable) is the fast
 * path on x86-64, kern_neon (kern_neon.c: Advanced SIMD, with the ARMv8.2
 * dot product where the CPU has it) on AArch64. kern_select() picks the best
 * set the running CPU supports.
 * An AVX-512 set would be one more table (kern_avx512.c) and one more line
 * in kern_select/kern_by_name; it is not written because it cannot be tested
 * on the machines this is developed on.
 *
 * Kernels are single-threaded; the device splits work across its pool and
 * calls them on disjoint parts. They never allocate.
 */
#ifndef SPARKD_KERN_H
#define SPARKD_KERN_H

#include <stddef.h>
#include <stdint.h>

#define KERN_QK 32              /* elements per Q8_0 / Q4_0 block */
#define KERN_MAX_HEAD_DIM 256   /* attention/rope head size limit (stack buffers) */

/* GGUF block layouts (ggml's block_q8_0 / block_q4_0). d is an F16 scale.
 * Q4_0 element j < 16 is the low nibble of qs[j], element j+16 its high
 * nibble; value = (nibble - 8) * d. */
typedef struct { uint16_t d; int8_t qs[KERN_QK]; } kern_block_q8_0;
typedef struct { uint16_t d; uint8_t qs[KERN_QK / 2]; } kern_block_q4_0;
_Static_assert(sizeof(kern_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(kern_block_q4_0) == 18, "Q4_0 block is 18 bytes");

/* Activations quantized for the quantized matmul: per block of 32, int8
 * values q (|q| <= 127) and an F32 scale d = amax/127, so x ~ q*d. The
 * K-quants (kq.h) with per-sub-block minimums also read s, each block's sum
 * d * (q[0] + ... + q[31]) (kq_act_sums). */
typedef struct {
    int8_t *q;      /* (batch, n_in) */
    float *d;       /* (batch, n_in/32) */
    float *s;       /* (batch, n_in/32), only for kq_type.needs_sums */
} kern_q8act;

/* One matmul: Y(batch, n_out) = X(batch, n_in) · W(n_out, n_in)^T. */
typedef struct {
    const void *w;          /* W, rows of row_bytes in its storage type */
    size_t row_bytes;
    int n_in, n_out;        /* n_out is also Y's row stride */
    int batch;
    const float *x;         /* X for F32/F16/BF16 weights */
    kern_q8act xq;          /* X quantized, for Q8_0/Q4_0 and K-quant weights */
    float *y;
} kern_mm;

/* Computes the output columns r0 <= r < r1 of every row of Y. Each Y[t][r]
 * must be bit-identical whatever r0, r1, batch and t's place in the batch
 * (dev.h's batch invariance): accumulate a token's products in one fixed
 * order. */
typedef void (*kern_mm_fn)(const kern_mm *a, int r0, int r1);

/* Instruction sets, the index of a kernel in per-type tables (kq_type.mm). */
enum { KERN_ISA_SCALAR, KERN_ISA_AVX2, KERN_ISA_NEON, KERN_ISA_NEON_DP, KERN_ISA_COUNT };

typedef struct {
    const char *name;       /* "scalar", "avx2", "neon" */
    int isa;                /* KERN_ISA_* (NEON_DP: "neon" with sdot) */

    kern_mm_fn mm_f32, mm_f16, mm_bf16, mm_q8_0, mm_q4_0;
    /* One row of n (a multiple of 32) activations to int8 blocks: q(n) and
     * d(n/32) as in kern_q8act. Bit-identical across sets. */
    void (*quantize_act)(const float *x, int n, int8_t *q, float *d);

    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    void (*f32_to_f16)(const float *src, uint16_t *dst, int64_t n);
    void (*bf16_to_f32)(const uint16_t *src, float *dst, int64_t n);

    /* out(n) = x / sqrt(mean(x^2) + eps) * w (w may be NULL); out may be x. */
    void (*rmsnorm)(float *out, const float *x, const float *w, int n, float eps);
    /* n_q query heads (hd floats apart in q and out) against the same
     * n_keys keys/values, whose rows are `stride` floats apart:
     * out_h(hd) = softmax(q_h·k_j * scale) · v_j. Online softmax over
     * chunks of keys, no scratch; hd <= KERN_MAX_HEAD_DIM. A head's result
     * does not depend on n_q or on the other heads. */
    void (*attn_heads)(float *out, const float *q, int n_q, const float *k, const float *v,
                       int n_keys, int stride, int hd, float scale);
    void (*swiglu)(float *out, const float *g, const float *u, int64_t n);
    void (*add)(float *y, const float *x, int64_t n);
    void (*softmax)(float *x, int n);
    /* Reads `bytes` (a multiple of 128, 32-byte aligned) as fast as it can;
     * returns a checksum so the reads cannot be elided. */
    uint64_t (*stream_read)(const void *p, size_t bytes);
} kern_ops;

extern const kern_ops kern_scalar;
/* NULL when the set is not compiled in or the CPU lacks it. */
const kern_ops *kern_avx2(void);
const kern_ops *kern_neon(void);
/* 1 if kern_neon() uses the dot-product instructions (AArch64 CPUs with
 * them, unless the environment has SPARKD_NO_DOTPROD=1). */
int kern_neon_dotprod(void);
/* The best set for this CPU; never NULL. */
const kern_ops *kern_select(void);
/* "auto", "scalar", "avx2", "neon": the set, or NULL if unknown or
 * unsupported here. */
const kern_ops *kern_by_name(const char *name);

/* The loop of every SIMD matmul (kern_avx2.c, kern_neon.c, the K-quant
 * files): output rows r0 <= r < r1 in blocks of `rows`, tokens in tiles of 4
 * taken across each block, then the last 1-3 tokens; each call is
 * tile(a, r, t0, C, ...) with C a constant, so that an always-inline tile
 * keeps its C accumulators in registers. */
#define KERN_TILE 4
#define KERN_FOR_TILES(a, r0, r1, rows, tile, ...)                                 \
    for (int rb_ = (r0); rb_ < (r1); rb_ += (rows)) {                              \
        int re_ = rb_ + (rows) < (r1) ? rb_ + (rows) : (r1), t_ = 0;               \
        for (; t_ + KERN_TILE <= (a)->batch; t_ += KERN_TILE)                       \
            for (int r_ = rb_; r_ < re_; r_++)                                     \
                tile(a, r_, t_, KERN_TILE, ##__VA_ARGS__);                          \
        for (int r_ = rb_; r_ < re_; r_++)                                         \
            switch ((a)->batch - t_) {                                             \
            case 3: tile(a, r_, t_, 3, ##__VA_ARGS__); break;                      \
            case 2: tile(a, r_, t_, 2, ##__VA_ARGS__); break;                      \
            case 1: tile(a, r_, t_, 1, ##__VA_ARGS__); break;                      \
            default: break;                                                        \
            }                                                                      \
    }

/* ---- shared scalar helpers (kern.c) ------------------------------------- */

/* Exact IEEE conversions, round to nearest even; NaN stays NaN (quieted). */
float kern_f16_to_f32_1(uint16_t h);
uint16_t kern_f32_to_f16_1(float f);
float kern_bf16_to_f32_1(uint16_t h);
uint16_t kern_f32_to_bf16_1(float f);

/* GGUF block quantizers of n values (n a multiple of 32), and back. */
void kern_quantize_q8_0(const float *x, kern_block_q8_0 *y, int64_t n);
void kern_quantize_q4_0(const float *x, kern_block_q4_0 *y, int64_t n);
void kern_dequantize_q8_0(const kern_block_q8_0 *x, float *y, int64_t n);
void kern_dequantize_q4_0(const kern_block_q4_0 *x, float *y, int64_t n);

/* RoPE on one token's n_heads heads of x, pair i rotated by (cs[2i], cs[2i+1])
 * = (cos, sin) of its angle; layout as dev_rope. */
void kern_rope(float *x, int n_heads, int hd, const float *cs, int neox);

#endif
