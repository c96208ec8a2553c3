/* kern_avx2.c — the AVX2+FMA+F16C kernel set (x86-64). Every function that
 * uses those instructions carries the target attribute, so this file builds
 * with the project's portable flags and nothing here runs until kern_avx2()
 * has checked the CPU. On other architectures kern_avx2() returns NULL.
 *
 * Matmul tiling: output rows are taken in blocks of ROW_BLOCK; within a
 * block, tokens go in tiles of up to 4 and each weight row is multiplied
 * against the whole tile with its own accumulators per token, so a weight
 * block loaded once serves 4 tokens while the tile's activations stay in L1
 * and the row block's weights in L2. A batch therefore reads W from memory
 * about once and is compute-bound. (A 2-row x 4-token register tile was ~5-15%
 * faster but cannot keep per-token accumulation order batch-invariant within
 * 16 registers; see the tiles' comment.)
 *
 * Quantized dot products (llama.cpp's approach): maddubs needs one unsigned
 * operand, so it gets |w| (<= 128) and x takes w's sign (|x| <= 127, so a
 * pair of products cannot saturate int16). Q4_0 is the same once its
 * nibbles are unpacked to nibble - 8.
 */
#include "kern.h"

#if defined(__x86_64__) || defined(__i386__)

#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

#define ROW_BLOCK 16        /* weight rows reused across one token tile */
#define TILE KERN_TILE       /* tokens per tile (one accumulator each) */
#define ATT_CHUNK 32        /* keys scored before each online-softmax update */

enum { W_F32, W_F16, W_BF16, W_Q8_0, W_Q4_0 };

/* ---- helpers ------------------------------------------------------------ */

AVX2_INLINE float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_INLINE float hmax(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* e^x, |relative error| ~ 1e-7 over the float range: x = n ln2 + r with
 * |r| <= ln2/2, e^r by its degree-7 Taylor polynomial, 2^n by the exponent
 * field. x is clamped to [-87, 88], so tiny results are ~1e-38, never 0. */
AVX2_INLINE __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);  /* ln2, high bits */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682028622680e-6f), r);   /* ln2, the rest */
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* 8 weights starting at element i of a float-type row, widened to F32. */
AVX2_INLINE __m256 load_w8(const void *w, int i, int wt)
{
    if (wt == W_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    if (wt == W_BF16) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    return _mm256_loadu_ps((const float *)w + i);
}

AVX2_INLINE float load_w1(const void *w, int i, int wt)
{
    if (wt == W_F16)
        return _cvtsh_ss(((const uint16_t *)w)[i]);
    if (wt == W_BF16)
        return kern_bf16_to_f32_1(((const uint16_t *)w)[i]);
    return ((const float *)w)[i];
}

/* ---- matmul tiles: one weight row r against tokens t0 .. t0+C-1 ----------
 *
 * Batch invariance: every tile accumulates a token's products in the same
 * order whatever C is (two accumulators, even and odd steps, added at the
 * end), so a token's result is bit-identical whether it is computed alone
 * (decode) or in any slot of any batch (prefill, speculative verification),
 * and greedy speculative decoding reproduces plain decoding exactly. The
 * two accumulators also keep a lone token off the FMA latency chain.
 */

AVX2_INLINE void tile_float(const kern_mm *a, int r, int t0, int C, int wt)
{
    const void *w = (const char *)a->w + (size_t)r * a->row_bytes;
    const float *x[TILE];
    __m256 acc[TILE], acc2[TILE];
    for (int c = 0; c < C; c++) {
        x[c] = a->x + (size_t)(t0 + c) * a->n_in;
        acc[c] = acc2[c] = _mm256_setzero_ps();
    }
    int i = 0, n = a->n_in;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = load_w8(w, i, wt), w1 = load_w8(w, i + 8, wt);
        for (int c = 0; c < C; c++) {
            acc[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[c] + i), acc[c]);
            acc2[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[c] + i + 8), acc2[c]);
        }
    }
    if (i + 8 <= n) {
        __m256 w0 = load_w8(w, i, wt);
        for (int c = 0; c < C; c++)
            acc[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[c] + i), acc[c]);
        i += 8;
    }
    for (int c = 0; c < C; c++) {
        float s = hsum(_mm256_add_ps(acc[c], acc2[c]));
        for (int j = i; j < n; j++)
            s += load_w1(w, j, wt) * x[c][j];
        a->y[(size_t)(t0 + c) * a->n_out + r] = s;
    }
}

/* Sum of the 32 products w[i] * x[i] of a Q8_0 block, as 8 int32 lanes in
 * float: aw = |w|, w supplies the signs. */
AVX2_INLINE __m256 dot_q8_block(__m256i aw, __m256i w, const int8_t *xq)
{
    __m256i x = _mm256_loadu_si256((const __m256i *)xq);
    __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* A Q4_0 block's values (nibble - 8, in -8..7) as 32 signed bytes in
 * element order. */
AVX2_INLINE __m256i unpack_q4(const uint8_t *qs)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
}

/* Block b of a quantized row (Q8_0, or Q4_0 when q4) into acc[c] for each
 * token of the tile. q4 is a constant at every call, so each type gets its
 * own inlined loop. */
AVX2_INLINE void quant_step(const void *row, int b, int q4, const int8_t *const *xq,
                            const float *const *xd, int C, __m256 *acc)
{
    __m256i w;
    uint16_t d;
    if (q4) {
        const kern_block_q4_0 *wb = (const kern_block_q4_0 *)row + b;
        w = unpack_q4(wb->qs);
        d = wb->d;
    } else {
        const kern_block_q8_0 *wb = (const kern_block_q8_0 *)row + b;
        w = _mm256_loadu_si256((const __m256i *)wb->qs);
        d = wb->d;
    }
    __m256i aw = _mm256_sign_epi8(w, w);
    __m256 dw = _mm256_set1_ps(_cvtsh_ss(d));
    for (int c = 0; c < C; c++) {
        __m256 s = dot_q8_block(aw, w, xq[c] + b * KERN_QK);
        acc[c] = _mm256_fmadd_ps(s, _mm256_mul_ps(dw, _mm256_broadcast_ss(xd[c] + b)), acc[c]);
    }
}

AVX2_INLINE void tile_quant(const kern_mm *a, int r, int t0, int C, int q4)
{
    const void *w = (const char *)a->w + (size_t)r * a->row_bytes;
    int nb = a->n_in / KERN_QK;
    const int8_t *xq[TILE];
    const float *xd[TILE];
    __m256 acc[TILE], acc2[TILE];
    for (int c = 0; c < C; c++) {
        xq[c] = a->xq.q + (size_t)(t0 + c) * a->n_in;
        xd[c] = a->xq.d + (size_t)(t0 + c) * nb;
        acc[c] = acc2[c] = _mm256_setzero_ps();
    }
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        /* the same place 4 rows on: a single token streams W from DRAM, and
         * the hardware prefetcher alone left ~15 % of its bandwidth unused */
        _mm_prefetch((const char *)w + 4 * a->row_bytes + (size_t)b * (q4 ? 18 : 34), _MM_HINT_T0);
        quant_step(w, b, q4, xq, xd, C, acc);
        quant_step(w, b + 1, q4, xq, xd, C, acc2);
    }
    if (b < nb)
        quant_step(w, b, q4, xq, xd, C, acc);
    for (int c = 0; c < C; c++)
        a->y[(size_t)(t0 + c) * a->n_out + r] = hsum(_mm256_add_ps(acc[c], acc2[c]));
}

AVX2_INLINE void tile(const kern_mm *a, int r, int t0, int C, int wt)
{
    if (wt == W_Q8_0)
        tile_quant(a, r, t0, C, 0);
    else if (wt == W_Q4_0)
        tile_quant(a, r, t0, C, 1);
    else
        tile_float(a, r, t0, C, wt);
}

AVX2_INLINE void mm_drive(const kern_mm *a, int r0, int r1, int wt)
{
    KERN_FOR_TILES(a, r0, r1, ROW_BLOCK, tile, wt);
}

AVX2 static void mm_f32(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_F32); }
AVX2 static void mm_f16(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_F16); }
AVX2 static void mm_bf16(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_BF16); }
AVX2 static void mm_q8_0(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_Q8_0); }
AVX2 static void mm_q4_0(const kern_mm *a, int r0, int r1) { mm_drive(a, r0, r1, W_Q4_0); }

/* Bit-identical to the scalar version: same amax, same 127/amax, x*id
 * rounded to nearest even by cvtps (the default MXCSR mode, as lrintf). */
AVX2 static void quantize_act(const float *x, int n, int8_t *q, float *d)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / KERN_QK; b++, x += KERN_QK, q += KERN_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                  _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        float amax = hmax(mx);
        __m256 id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
        /* packs interleave the 128-bit lanes; the permute restores order. */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(p, order));
        d[b] = amax / 127.0f;
    }
}

/* ---- conversions -------------------------------------------------------- */

AVX2 static void f16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = _cvtsh_ss(src[i]);
}

AVX2 static void f32_to_f16(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

AVX2 static void bf16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_w8(src + i, 0, W_BF16));
    for (; i < n; i++)
        dst[i] = kern_bf16_to_f32_1(src[i]);
}

/* ---- element-wise and row kernels --------------------------------------- */

AVX2 static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    float ss = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        _mm256_storeu_ps(out + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
    for (; i < n; i++)
        out[i] = x[i] * scale * (w ? w[i] : 1.0f);
}

AVX2_INLINE __m256 silu_mul(__m256 g, __m256 u)
{
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

AVX2 static void swiglu(float *out, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, silu_mul(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {        /* the tail through a padded vector: same math as above */
        float gt[8] = {0}, ut[8] = {0}, ot[8];
        memcpy(gt, g + i, (size_t)(n - i) * sizeof *g);
        memcpy(ut, u + i, (size_t)(n - i) * sizeof *u);
        _mm256_storeu_ps(ot, silu_mul(_mm256_loadu_ps(gt), _mm256_loadu_ps(ut)));
        memcpy(out + i, ot, (size_t)(n - i) * sizeof *out);
    }
}

AVX2 static void add(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

/* x[i] = e^(x[i] - m) for i < n; returns their sum. */
AVX2_INLINE float exp_shift_sum(float *x, int n, float m)
{
    __m256 vm = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float s = hsum(sum);
    if (i < n) {
        float t[8];
        for (int j = 0; j < 8; j++)
            t[j] = i + j < n ? x[i + j] : m;
        _mm256_storeu_ps(t, exp256(_mm256_sub_ps(_mm256_loadu_ps(t), vm)));
        for (int j = 0; i + j < n; j++)
            s += x[i + j] = t[j];
    }
    return s;
}

AVX2 static void softmax(float *x, int n)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m = hmax(vm);
    for (; i < n; i++)
        m = fmaxf(m, x[i]);
    __m256 inv = _mm256_set1_ps(1.0f / exp_shift_sum(x, n, m));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= _mm256_cvtss_f32(inv);
}

AVX2_INLINE float dot(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* acc(n) = acc * c + sum_j p[j] * v_j for nj rows v_j `stride` apart.
 * Enough independent accumulators (even and odd j, four 8-wide slabs at a
 * time; four j phases for a lone slab) that the sum over j never waits on
 * the FMA latency chain. */
AVX2_INLINE void scale_axpy(float *acc, float c, const float *p, const float *v,
                            int nj, int stride, int n)
{
    __m256 vc = _mm256_set1_ps(c);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 a[4], b[4];
        for (int s = 0; s < 4; s++) {
            a[s] = _mm256_mul_ps(_mm256_loadu_ps(acc + i + 8 * s), vc);
            b[s] = _mm256_setzero_ps();
        }
        int j = 0;
        for (; j + 2 <= nj; j += 2) {
            __m256 p0 = _mm256_set1_ps(p[j]), p1 = _mm256_set1_ps(p[j + 1]);
            const float *v0 = v + (size_t)j * stride + i, *v1 = v0 + stride;
            for (int s = 0; s < 4; s++) {
                a[s] = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8 * s), a[s]);
                b[s] = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 8 * s), b[s]);
            }
        }
        if (j < nj) {
            __m256 p0 = _mm256_set1_ps(p[j]);
            const float *v0 = v + (size_t)j * stride + i;
            for (int s = 0; s < 4; s++)
                a[s] = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8 * s), a[s]);
        }
        for (int s = 0; s < 4; s++)
            _mm256_storeu_ps(acc + i + 8 * s, _mm256_add_ps(a[s], b[s]));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a[4] = { _mm256_mul_ps(_mm256_loadu_ps(acc + i), vc), _mm256_setzero_ps(),
                        _mm256_setzero_ps(), _mm256_setzero_ps() };
        for (int j = 0; j < nj; j++)
            a[j & 3] = _mm256_fmadd_ps(_mm256_set1_ps(p[j]),
                                       _mm256_loadu_ps(v + (size_t)j * stride + i), a[j & 3]);
        _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
    }
    for (; i < n; i++) {
        float a = acc[i] * c;
        for (int j = 0; j < nj; j++)
            a += p[j] * v[(size_t)j * stride + i];
        acc[i] = a;
    }
}

/* q·k_j for 8 keys `stride` apart, over the first hd8 (a multiple of 8)
 * elements, as one vector: eight accumulators reduced together by a
 * transposing hadd tree instead of eight horizontal sums. */
AVX2_INLINE __m256 dot8(const float *q, const float *k, int stride, int hd8)
{
    __m256 a[8];
    for (int j = 0; j < 8; j++)
        a[j] = _mm256_setzero_ps();
    for (int i = 0; i < hd8; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + (size_t)j * stride + i), a[j]);
    }
    __m256 s03 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    __m256 s47 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(s03, s47, 0x20),
                         _mm256_permute2f128_ps(s03, s47, 0x31));
}

/* p[j] = q·k_j * scale for the nj <= ATT_CHUNK keys of a chunk; returns
 * their maximum. Which keys take the 8-wide path depends only on the key's
 * index, so a query's scores never depend on how calls are batched. */
AVX2_INLINE float score_chunk(float *p, const float *q, const float *k, int stride,
                              int hd, int nj, float scale)
{
    int hd8 = hd & ~7, j = 0;
    __m256 vs = _mm256_set1_ps(scale), vmax = _mm256_set1_ps(-INFINITY);
    for (; j + 8 <= nj; j += 8) {
        __m256 s = dot8(q, k + (size_t)j * stride, stride, hd8);
        if (hd8 < hd) {
            float t[8];
            _mm256_storeu_ps(t, s);
            for (int jj = 0; jj < 8; jj++)
                for (int i = hd8; i < hd; i++)
                    t[jj] += q[i] * k[(size_t)(j + jj) * stride + i];
            s = _mm256_loadu_ps(t);
        }
        s = _mm256_mul_ps(s, vs);
        _mm256_storeu_ps(p + j, s);
        vmax = _mm256_max_ps(vmax, s);
    }
    float m = hmax(vmax);
    for (; j < nj; j++) {
        p[j] = dot(q, k + (size_t)j * stride, hd) * scale;
        m = p[j] > m ? p[j] : m;
    }
    return m;
}

/* Up to ATT_GROUP query heads that share one K/V head walk the keys
 * together, chunk by chunk, so each chunk of K and V is brought in from
 * L2 once and then read from L1 by every head. Each head's arithmetic is
 * the same whatever the group size (online softmax per chunk). */
#define ATT_GROUP 4

AVX2 static void attn_heads(float *out, const float *q, int n_q, const float *k,
                            const float *v, int n_keys, int stride, int hd, float scale)
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
                float cmax = score_chunk(p, q + (size_t)(h0 + h) * hd, kc, stride, hd, nj, scale);
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

AVX2 static uint64_t stream_read(const void *p, size_t bytes)
{
    const __m256i *v = p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 4 <= bytes / 32; i += 4) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + i));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + i + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + i + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + i + 3));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

static const kern_ops avx2_ops = {
    .name = "avx2", .isa = KERN_ISA_AVX2,
    .mm_f32 = mm_f32, .mm_f16 = mm_f16, .mm_bf16 = mm_bf16,
    .mm_q8_0 = mm_q8_0, .mm_q4_0 = mm_q4_0,
    .quantize_act = quantize_act,
    .f16_to_f32 = f16_to_f32, .f32_to_f16 = f32_to_f16, .bf16_to_f32 = bf16_to_f32,
    .rmsnorm = rmsnorm, .attn_heads = attn_heads, .swiglu = swiglu, .add = add,
    .softmax = softmax, .stream_read = stream_read,
};

const kern_ops *kern_avx2(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_F16C))
        return NULL;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return NULL;
    return &avx2_ops;
}

#else /* not x86 */

const kern_ops *kern_avx2(void)
{
    return NULL;
}

#endif
