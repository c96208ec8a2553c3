/* test_kern.c — the device layer: dtype tables and conversions, quantizers
 * against their documented bounds, every SIMD kernel against the scalar
 * reference, every op against straightforward double-precision code, the
 * thread pool, and the errors of dev_open and of the ops.
 */
#include "dev.h"
#include "kern.h"
#include "pool.h"

#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../check_run.h"

/* ---- helpers ------------------------------------------------------------ */

/* For hot loops: Check's ck_assert reports every success to the parent
 * process (a pipe write), which makes exhaustive loops take minutes. */
#define EXPECT(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static uint64_t rng_state = 88172645463325252ull;

static void rng_seed(uint64_t s) { rng_state = s * 2654435761u + 1; }

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd(void) { return (float)rng_u32() / 4294967296.0f * 2 - 1; }    /* [-1, 1) */

static float *rand_vec(size_t n, float scale)
{
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = rnd() * scale;
    return v;
}

static dev_device *open_dev(const char *spec)
{
    char err[256] = "";
    dev_device *d = dev_open(spec, err, sizeof err);
    EXPECT(d != NULL, "dev_open(%s): %s", spec, err);
    return d;
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* The kernel sets to compare against scalar: the best one this CPU has
 * ("avx2", "neon"), if that is not scalar itself. */
static const kern_ops *simd_set(void)
{
    const kern_ops *k = kern_select();
    return k == &kern_scalar ? NULL : k;
}
static const char *simd_name(int i) { return i == 0 ? "scalar" : simd_set()->name; }
static int have_simd(int i) { return i == 0 || simd_set() != NULL; }

/* Runs body once per (kernel set, thread count) with device `d`. */
#define FOR_EACH_DEVICE(d, ...)                                                      \
    for (int si_ = 0; si_ < 2; si_++)                                                \
        for (int th_ = 1; th_ <= 2; th_++) {                                         \
            if (!have_simd(si_))                                                     \
                continue;                                                            \
            char spec_[64];                                                          \
            snprintf(spec_, sizeof spec_, "cpu:threads=%d,simd=%s", th_, simd_name(si_)); \
            dev_device *d = open_dev(spec_);                                         \
            __VA_ARGS__;                                                             \
            dev_close(d);                                                            \
        }

static const dev_dtype all_dtypes[] = { DEV_F32, DEV_F16, DEV_BF16, DEV_Q8_0, DEV_Q4_0 };

/* ---- dtypes and conversions --------------------------------------------- */

START_TEST(test_dtype_tables_and_row_bytes)
{
    ck_assert_uint_eq(dev_dtype_block(DEV_Q8_0), 32);
    ck_assert_uint_eq(dev_dtype_block_bytes(DEV_Q8_0), 34);
    ck_assert_uint_eq(dev_dtype_block_bytes(DEV_Q4_0), 18);
    ck_assert_uint_eq(dev_dtype_block_bytes(DEV_BF16), 2);
    ck_assert_str_eq(dev_dtype_name(DEV_BF16), "BF16");
    ck_assert_uint_eq(dev_row_bytes(DEV_Q4_0, 64), 36);
    ck_assert_uint_eq(dev_row_bytes(DEV_F16, 7), 14);
    ck_assert_uint_eq(dev_row_bytes(DEV_Q8_0, 33), 0);
    ck_assert_uint_eq(dev_row_bytes((dev_dtype)99, 32), 0);
    ck_assert_uint_eq(dev_dtype_block((dev_dtype)99), 0);
}
END_TEST

/* The value of a half by its definition, independently of the converters. */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

START_TEST(test_f16_to_f32_exhaustive_incl_subnormal_inf_nan)
{
    const kern_ops *simd = simd_set();
    float hw[8];
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_f16_to_f32_1((uint16_t)h);
        int e = (h >> 10) & 0x1f;
        if (e == 0x1f && (h & 0x3ff))
            EXPECT(isnan(f), "h=%04x should be NaN", h);
        else if (e == 0x1f)
            EXPECT(isinf(f) && (signbit(f) != 0) == ((h & 0x8000) != 0), "h=%04x", h);
        else
            EXPECT((double)f == f16_value((uint16_t)h), "h=%04x", h);
        if (simd) {
            uint16_t hv = (uint16_t)h;
            simd->f16_to_f32(&hv, hw, 1);
            EXPECT(f32_bits(hw[0]) == f32_bits(f), "h=%04x simd %08x scalar %08x", h,
                          f32_bits(hw[0]), f32_bits(f));
            EXPECT(e == 0x1f || kern_f32_to_f16_1(f) == h, "h=%04x round trip", h);
        }
    }
}
END_TEST

START_TEST(test_f32_to_f16_rounding_overflow_subnormal)
{
    ck_assert_uint_eq(kern_f32_to_f16_1(65504.0f), 0x7bff);
    ck_assert_uint_eq(kern_f32_to_f16_1(65519.0f), 0x7bff);
    ck_assert_uint_eq(kern_f32_to_f16_1(65520.0f), 0x7c00);     /* tie -> even = inf */
    ck_assert_uint_eq(kern_f32_to_f16_1(1e10f), 0x7c00);
    ck_assert_uint_eq(kern_f32_to_f16_1(-INFINITY), 0xfc00);
    ck_assert_uint_eq(kern_f32_to_f16_1(-0.0f), 0x8000);
    ck_assert_uint_eq(kern_f32_to_f16_1(1.0f + ldexpf(1, -11)), 0x3c00);     /* tie -> even */
    ck_assert_uint_eq(kern_f32_to_f16_1(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    ck_assert_uint_eq(kern_f32_to_f16_1(ldexpf(1, -24)), 0x0001);
    ck_assert_uint_eq(kern_f32_to_f16_1(ldexpf(1, -25)), 0x0000);          /* tie -> even */
    ck_assert_uint_eq(kern_f32_to_f16_1(ldexpf(1.0001f, -25)), 0x0001);
    ck_assert_uint_eq(kern_f32_to_f16_1(ldexpf(3, -25)), 0x0002);          /* 1.5 -> 2 */
    ck_assert_uint_eq(kern_f32_to_f16_1(ldexpf(1023.5f, -24)), 0x0400);    /* carry to normal */
    ck_assert_uint_eq(kern_f32_to_f16_1(1e-30f), 0);
    uint16_t nan = kern_f32_to_f16_1(NAN);
    ck_assert((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff));
    ck_assert((kern_f32_to_f16_1(bits_f32(0x7f800001)) & 0x3ff) != 0);    /* sNaN stays NaN */

    const kern_ops *simd = simd_set();
    if (!simd)
        return;
    rng_seed(1);                    /* random bit patterns: F16C agrees bit for bit */
    float src[8];
    uint16_t hw[8];
    for (int i = 0; i < 400000; i++) {
        for (int j = 0; j < 8; j++)
            src[j] = bits_f32(rng_u32() ^ (rng_u32() << 16));
        int n = i & 1 ? 7 : 8;      /* odd lengths go through the set's scalar tail */
        hw[7] = 0;
        simd->f32_to_f16(src, hw, n);
        if (n == 7)
            hw[7] = kern_f32_to_f16_1(src[7]);
        for (int j = 0; j < 8; j++)
            EXPECT(hw[j] == kern_f32_to_f16_1(src[j]), "%08x: hw %04x sw %04x",
                          f32_bits(src[j]), hw[j], kern_f32_to_f16_1(src[j]));
    }
}
END_TEST

START_TEST(test_bf16_rounding_inf_nan_and_simd)
{
    ck_assert_uint_eq(kern_f32_to_bf16_1(1.0f), 0x3f80);
    ck_assert_uint_eq(kern_f32_to_bf16_1(bits_f32(0x3f808000)), 0x3f80);   /* tie -> even */
    ck_assert_uint_eq(kern_f32_to_bf16_1(bits_f32(0x3f818000)), 0x3f82);   /* tie -> even */
    ck_assert_uint_eq(kern_f32_to_bf16_1(bits_f32(0x3f808001)), 0x3f81);
    ck_assert_uint_eq(kern_f32_to_bf16_1(bits_f32(0x7f7fffff)), 0x7f80);   /* overflow -> inf */
    ck_assert_uint_eq(kern_f32_to_bf16_1(-INFINITY), 0xff80);
    ck_assert_uint_eq(kern_f32_to_bf16_1(bits_f32(0x00010000)), 0x0001);   /* subnormal */
    ck_assert(isnan(kern_bf16_to_f32_1(kern_f32_to_bf16_1(bits_f32(0x7f800001)))));
    ck_assert(kern_bf16_to_f32_1(0xc040) == -3.0f);
    uint16_t all[65536];
    static float sw[65536], hw[65536];
    for (uint32_t h = 0; h < 65536; h++)
        all[h] = (uint16_t)h;
    kern_scalar.bf16_to_f32(all, sw, 65536);
    for (int i = 0; i < 2; i++) {
        if (!have_simd(i))
            continue;
        kern_by_name(simd_name(i))->bf16_to_f32(all + 3, hw, 65533);  /* odd length, tail */
        for (uint32_t h = 3; h < 65536; h++)
            EXPECT(f32_bits(hw[h - 3]) == f32_bits(sw[h]), "bf16 %04x", h);
    }
    uint16_t q[37];                 /* dev_quantize/dev_dequantize round trip */
    float x[37] = {0}, y[37];
    for (int i = 0; i < 37; i++)
        x[i] = kern_bf16_to_f32_1((uint16_t)(0x3f00 + i * 7));
    ck_assert_uint_eq(dev_quantize(DEV_BF16, x, q, 37), 74);
    ck_assert_uint_eq(dev_dequantize(DEV_BF16, q, y, 37), 37);
    ck_assert_mem_eq(x, y, sizeof x);
}
END_TEST

/* Blocks of 32 at several magnitudes, including a zero and a tiny block. */
static float *quant_input(int nb)
{
    float *x = rand_vec((size_t)nb * 32, 1);
    static const float scales[] = { 1, 1e-3f, 1e3f, 1e-7f, 0, 37.5f };
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < 32; i++)
            x[b * 32 + i] *= scales[b % 6];
    return x;
}

START_TEST(test_q8_0_round_trip_within_bound)
{
    rng_seed(2);
    int nb = 60;
    float *x = quant_input(nb), *y = malloc(nb * 32 * sizeof *y);
    kern_block_q8_0 *q = malloc(nb * sizeof *q);
    ck_assert_uint_eq(dev_quantize(DEV_Q8_0, x, q, nb * 32), nb * 34);
    ck_assert_uint_eq(dev_dequantize(DEV_Q8_0, q, y, nb * 32), nb * 32);
    for (int b = 0; b < nb; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        double bound = amax / 254.0 * (1 + ldexp(1, -10)) + ldexp(1, -17);
        for (int i = 0; i < 32; i++) {
            EXPECT(fabs((double)x[b * 32 + i] - y[b * 32 + i]) <= bound,
                          "block %d: %g -> %g (bound %g)", b, x[b * 32 + i], y[b * 32 + i], bound);
            EXPECT(q[b].qs[i] >= -127, "q = -128");
        }
    }
    free(x), free(y), free(q);
}
END_TEST

START_TEST(test_q4_0_round_trip_within_bound)
{
    rng_seed(3);
    int nb = 60;
    float *x = quant_input(nb), *y = malloc(nb * 32 * sizeof *y);
    kern_block_q4_0 *q = malloc(nb * sizeof *q);
    ck_assert_uint_eq(dev_quantize(DEV_Q4_0, x, q, nb * 32), nb * 18);
    ck_assert_uint_eq(dev_dequantize(DEV_Q4_0, q, y, nb * 32), nb * 32);
    for (int b = 0; b < nb; b++) {
        const float *xb = x + b * 32;
        float m = 0;
        for (int i = 0; i < 32; i++)
            if (fabsf(xb[i]) > fabsf(m))
                m = xb[i];
        double amax = fabsf(m), slack = 1 + ldexp(1, -10), tiny = ldexp(1, -17);
        for (int i = 0; i < 32; i++) {
            int far_side = (xb[i] > 0) != (m > 0) && fabs(xb[i]) > amax * 7 / 8;
            double bound = (far_side ? amax / 8 : amax / 16) * slack + tiny;
            EXPECT(fabs((double)xb[i] - y[b * 32 + i]) <= bound, "block %d: %g -> %g",
                          b, xb[i], y[b * 32 + i]);
        }
    }
    free(x), free(y), free(q);
}
END_TEST

/* The NEON set's Q8_0/Q4_0 matmuls with the dot-product instructions and
 * without (ARMv8.0): integer block sums are exact, so bit-identical, weights
 * of -128 included. Runs where the CPU (or qemu's) has them. */
START_TEST(test_neon_dotprod_matches_armv8_0)
{
    if (!kern_neon() || !kern_neon_dotprod())
        return;
    const kern_ops *dp = kern_neon();
    setenv("SPARKD_NO_DOTPROD", "1", 1);
    const kern_ops *base = kern_neon();
    unsetenv("SPARKD_NO_DOTPROD");
    ck_assert_ptr_ne(dp->mm_q8_0, base->mm_q8_0);
    enum { N_IN = 320, N_OUT = 37, BATCH = 6 };
    rng_seed(11);
    float *wf = rand_vec((size_t)N_OUT * N_IN, 1), *x = rand_vec((size_t)BATCH * N_IN, 3);
    kern_block_q8_0 w8[N_OUT * N_IN / 32];
    kern_block_q4_0 w4[N_OUT * N_IN / 32];
    kern_quantize_q8_0(wf, w8, (int64_t)N_OUT * N_IN);
    kern_quantize_q4_0(wf, w4, (int64_t)N_OUT * N_IN);
    for (int b = 0; b < N_OUT * N_IN / 32; b += 3)
        w8[b].qs[b % 32] = -128;
    int8_t xq[BATCH * N_IN];
    float xd[BATCH * N_IN / 32], y0[BATCH * N_OUT], y1[BATCH * N_OUT];
    for (int t = 0; t < BATCH; t++)
        dp->quantize_act(x + t * N_IN, N_IN, xq + t * N_IN, xd + t * N_IN / 32);
    for (int q4 = 0; q4 < 2; q4++) {
        kern_mm a = { .w = q4 ? (const void *)w4 : (const void *)w8,
                      .row_bytes = (N_IN / 32) * (q4 ? sizeof *w4 : sizeof *w8),
                      .n_in = N_IN, .n_out = N_OUT, .batch = BATCH,
                      .xq = { .q = xq, .d = xd }, .y = y0 };
        (q4 ? dp->mm_q4_0 : dp->mm_q8_0)(&a, 0, N_OUT);
        a.y = y1;
        (q4 ? base->mm_q4_0 : base->mm_q8_0)(&a, 0, N_OUT);
        ck_assert_mem_eq(y0, y1, sizeof y0);
    }
    free(wf), free(x);
}
END_TEST

START_TEST(test_quantize_act_simd_bit_identical)
{
    if (!simd_set())
        return;
    rng_seed(4);
    int n = 32 * 40;
    float *x = quant_input(40);
    int8_t q0[32 * 40], q1[32 * 40];
    float d0[40], d1[40];
    kern_scalar.quantize_act(x, n, q0, d0);
    simd_set()->quantize_act(x, n, q1, d1);
    ck_assert_mem_eq(q0, q1, sizeof q0);
    ck_assert_mem_eq(d0, d1, sizeof d0);
    for (int b = 0; b < 40; b++)
        for (int i = 0; i < 32; i++)
            EXPECT(fabsf(x[b * 32 + i] - q0[b * 32 + i] * d0[b]) <= d0[b] * 0.5001f + 1e-30f, "act %d", b);
    free(x);
}
END_TEST

/* ---- matmul ------------------------------------------------------------- */

/* W (n_out, n_in) of type t from random values; *wf gets the dequantized
 * F32 copy the references use. */
static void *make_weights(dev_dtype t, int n_out, int n_in, float **wf)
{
    float *src = rand_vec((size_t)n_out * n_in, 0.5f);
    size_t rb = dev_row_bytes(t, n_in);
    void *w = malloc(rb * (size_t)n_out);
    *wf = malloc((size_t)n_out * n_in * sizeof(float));
    for (int r = 0; r < n_out; r++) {
        ck_assert_uint_eq(dev_quantize(t, src + (size_t)r * n_in, (char *)w + r * rb, n_in), rb);
        dev_dequantize(t, (char *)w + r * rb, *wf + (size_t)r * n_in, n_in);
    }
    free(src);
    return w;
}

START_TEST(test_matmul_simd_matches_scalar_every_dtype_odd_sizes_threads)
{
    static const int n_outs[] = { 1, 3, 17, 37, 131 };
    static const int n_ins_f[] = { 1, 7, 37, 200 }, n_ins_q[] = { 32, 96, 320 };
    dev_device *ref = open_dev("cpu:threads=1,simd=scalar"), *dv[2][2] = {{0}};
    for (int si = 0; si < 2; si++)
        for (int th = 1; th <= 2; th++) {
            char spec[64];
            snprintf(spec, sizeof spec, "cpu:threads=%d,simd=%s", th, simd_name(si));
            dv[si][th - 1] = have_simd(si) ? open_dev(spec) : NULL;
        }
    for (size_t ti = 0; ti < 5; ti++) {
        dev_dtype t = all_dtypes[ti];
        int quant = dev_dtype_block(t) > 1;
        for (int ii = 0; ii < (quant ? 3 : 4); ii++)
            for (int oi = 0; oi < 5; oi++) {
                int n_in = quant ? n_ins_q[ii] : n_ins_f[ii], n_out = n_outs[oi];
                rng_seed((uint64_t)(ti * 100 + ii * 10 + oi));
                float *wf, *x = rand_vec((size_t)7 * n_in, 2);
                void *w = make_weights(t, n_out, n_in, &wf);
                float y0[7 * 131], y1[7 * 131], y2[7 * 131];
                for (int batch = 1; batch <= 7; batch++) {
                    ck_assert_int_eq(dev_matmul(ref, t, w, n_out, n_in, x, batch, y0), DEV_OK);
                    for (int si = 0; si < 2; si++) {
                        if (!dv[si][0])
                            continue;
                        ck_assert_int_eq(dev_matmul(dv[si][0], t, w, n_out, n_in, x, batch, y1), DEV_OK);
                        ck_assert_int_eq(dev_matmul(dv[si][1], t, w, n_out, n_in, x, batch, y2), DEV_OK);
                        /* The row split does not change a single bit. */
                        ck_assert_mem_eq(y1, y2, (size_t)batch * n_out * sizeof(float));
                        for (int b = 0; b < batch; b++)
                            for (int r = 0; r < n_out; r++) {
                                double mag = 0;
                                for (int i = 0; i < n_in; i++)
                                    mag += fabs((double)wf[(size_t)r * n_in + i] * x[b * n_in + i]);
                                float a = y1[b * n_out + r], e = y0[b * n_out + r];
                                EXPECT(fabs(a - e) <= 1e-5 * mag + 1e-6,
                                              "%s %s n_out=%d n_in=%d batch=%d [%d,%d]: %g vs %g",
                                              simd_name(si), dev_dtype_name(t), n_out, n_in,
                                              batch, b, r, a, e);
                            }
                    }
                }
                free(w), free(wf), free(x);
            }
    }
    for (int si = 0; si < 2; si++)
        for (int th = 0; th < 2; th++)
            dev_close(dv[si][th]);
    dev_close(ref);
}
END_TEST

/* The device result against sum(w*x) in double: float round-off for F32/F16/
 * BF16 weights; for quantized ones plus the activation bound amax/254 per
 * block, times that block's sum |w|. */
START_TEST(test_matmul_matches_double_within_documented_bound)
{
    int n_out = 45, n_in = 256, batch = 5;
    dev_device *d = open_dev("cpu:threads=2");
    for (size_t ti = 0; ti < 5; ti++) {
        dev_dtype t = all_dtypes[ti];
        rng_seed(50 + ti);
        float *wf, *x = rand_vec((size_t)batch * n_in, 3), y[5 * 45];
        void *w = make_weights(t, n_out, n_in, &wf);
        ck_assert_int_eq(dev_matmul(d, t, w, n_out, n_in, x, batch, y), DEV_OK);
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < n_out; r++) {
                double ref = 0, mag = 0, qerr = 0;
                for (int blk = 0; blk < n_in / 32; blk++) {
                    double amax = 0, wsum = 0;
                    for (int i = blk * 32; i < blk * 32 + 32; i++) {
                        double wi = wf[(size_t)r * n_in + i], xi = x[b * n_in + i];
                        ref += wi * xi;
                        mag += fabs(wi * xi);
                        wsum += fabs(wi);
                        amax = fmax(amax, fabs(xi));
                    }
                    qerr += wsum * amax / 254;
                }
                double bound = 1e-5 * mag + (dev_dtype_block(t) > 1 ? qerr : 0) + 1e-6;
                EXPECT(fabs(y[b * n_out + r] - ref) <= bound, "%s [%d,%d]: %g vs %g",
                              dev_dtype_name(t), b, r, y[b * n_out + r], ref);
            }
        free(w), free(wf), free(x);
    }
    dev_close(d);
}
END_TEST

/* A token's output does not depend on the batch around it, bit for bit:
 * greedy speculative decoding (verify k tokens in one batch) must reproduce
 * one-token decoding exactly. */
START_TEST(test_matmul_and_attention_are_batch_invariant)
{
    int n_out = 37, n_in = 160, batch = 7, nh = 4, nkv = 2, hd = 40, pos0 = 40;
    FOR_EACH_DEVICE(d, {
        for (size_t ti = 0; ti < 5; ti++) {
            rng_seed(40 + ti);
            float *wf, *x = rand_vec((size_t)batch * n_in, 2), yb[7 * 37], y1[37];
            void *w = make_weights(all_dtypes[ti], n_out, n_in, &wf);
            ck_assert_int_eq(dev_matmul(d, all_dtypes[ti], w, n_out, n_in, x, batch, yb), DEV_OK);
            for (int t = 0; t < batch; t++) {
                ck_assert_int_eq(dev_matmul(d, all_dtypes[ti], w, n_out, n_in, x + t * n_in, 1, y1), DEV_OK);
                EXPECT(!memcmp(y1, yb + t * n_out, sizeof y1), "%s token %d", dev_dtype_name(all_dtypes[ti]), t);
            }
            free(w), free(wf), free(x);
        }
        size_t qn = (size_t)batch * nh * hd, cn = (size_t)(pos0 + batch) * nkv * hd;
        float *q = rand_vec(qn, 2), *k = rand_vec(cn, 2), *v = rand_vec(cn, 1);
        float *ob = malloc(qn * sizeof *ob), o1[4 * 40];
        ck_assert_int_eq(dev_attention(d, ob, q, k, v, nh, nkv, hd, pos0, batch), DEV_OK);
        for (int t = 0; t < batch; t++) {
            ck_assert_int_eq(dev_attention(d, o1, q + t * nh * hd, k, v, nh, nkv, hd, pos0 + t, 1), DEV_OK);
            EXPECT(!memcmp(o1, ob + t * nh * hd, sizeof o1), "attention token %d", t);
        }
        free(q), free(k), free(v), free(ob);
    });
}
END_TEST

START_TEST(test_get_row_every_dtype)
{
    int rows = 5, n = 96;
    for (int si = 0; si < 2; si++) {
        if (!have_simd(si))
            continue;
        char spec[64];
        snprintf(spec, sizeof spec, "cpu:threads=1,simd=%s", simd_name(si));
        dev_device *d = open_dev(spec);
        for (size_t ti = 0; ti < 5; ti++) {
            float *wf, out[96];
            void *w = make_weights(all_dtypes[ti], rows, n, &wf);
            for (int r = 0; r < rows; r++) {
                ck_assert_int_eq(dev_get_row(d, all_dtypes[ti], w, n, r, out), DEV_OK);
                ck_assert_mem_eq(out, wf + r * n, sizeof out);
            }
            free(w), free(wf);
        }
        dev_close(d);
    }
}
END_TEST

/* ---- row and element-wise ops against double references ----------------- */

static void assert_close(const float *a, const double *e, size_t n, double rel, double abs_,
                         const char *what)
{
    for (size_t i = 0; i < n; i++)
        EXPECT(fabs(a[i] - e[i]) <= rel * fabs(e[i]) + abs_, "%s[%zu]: %.9g vs %.9g",
                      what, i, a[i], e[i]);
}

START_TEST(test_rmsnorm_matches_double)
{
    static const int ns[] = { 1, 7, 37, 896 };
    for (int ni = 0; ni < 4; ni++) {
        int n = ns[ni], batch = 3;
        rng_seed(60 + ni);
        float *x = rand_vec((size_t)batch * n, 4), *w = rand_vec(n, 1.5f);
        float *y = malloc((size_t)batch * n * sizeof *y);
        double *e = malloc((size_t)batch * n * sizeof *e), *e1 = malloc((size_t)batch * n * sizeof *e1);
        for (int b = 0; b < batch; b++) {
            double ss = 0;
            for (int i = 0; i < n; i++)
                ss += (double)x[b * n + i] * x[b * n + i];
            double s = 1 / sqrt(ss / n + 1e-6);
            for (int i = 0; i < n; i++) {
                e[b * n + i] = x[b * n + i] * s * w[i];
                e1[b * n + i] = x[b * n + i] * s;
            }
        }
        FOR_EACH_DEVICE(d, {
            ck_assert_int_eq(dev_rmsnorm(d, y, x, w, n, 1e-6f, batch), DEV_OK);
            assert_close(y, e, (size_t)batch * n, 1e-5, 1e-6, "rmsnorm");
            ck_assert_int_eq(dev_rmsnorm(d, y, x, NULL, n, 1e-6f, batch), DEV_OK);
            assert_close(y, e1, (size_t)batch * n, 1e-5, 1e-6, "rmsnorm without gain");
            memcpy(y, x, (size_t)batch * n * sizeof *y);         /* in place */
            ck_assert_int_eq(dev_rmsnorm(d, y, y, w, n, 1e-6f, batch), DEV_OK);
            assert_close(y, e, (size_t)batch * n, 1e-5, 1e-6, "rmsnorm in place");
        });
        free(x), free(w), free(y), free(e), free(e1);
    }
}
END_TEST

START_TEST(test_rope_normal_and_neox_match_double)
{
    static const int hds[] = { 2, 8, 64, 128 };
    int32_t pos[4] = { 0, 1, 1000, 32000 };
    for (int hi = 0; hi < 4; hi++)
        for (int neox = 0; neox <= 1; neox++) {
            int hd = hds[hi], nh = 3, batch = 4, dim = nh * hd;
            rng_seed(70 + hi * 2 + neox);
            float *x = rand_vec((size_t)batch * dim, 1), *y = malloc((size_t)batch * dim * sizeof *y);
            double *e = malloc((size_t)batch * dim * sizeof *e);
            for (int t = 0; t < batch; t++)
                for (int h = 0; h < nh; h++)
                    for (int i = 0; i < hd / 2; i++) {
                        int i0 = neox ? i : 2 * i, i1 = neox ? i + hd / 2 : 2 * i + 1;
                        double th = pos[t] * pow(10000.0, -2.0 * i / hd);
                        const float *v = x + t * dim + h * hd;
                        e[t * dim + h * hd + i0] = v[i0] * cos(th) - v[i1] * sin(th);
                        e[t * dim + h * hd + i1] = v[i0] * sin(th) + v[i1] * cos(th);
                    }
            FOR_EACH_DEVICE(d, {
                memcpy(y, x, (size_t)batch * dim * sizeof *y);
                ck_assert_int_eq(dev_rope(d, y, nh, hd, pos, batch, 10000.0f, neox), DEV_OK);
                assert_close(y, e, (size_t)batch * dim, 1e-6, 1e-6, neox ? "rope neox" : "rope");
                ck_assert_mem_eq(y, x, dim * sizeof *y);          /* position 0: identity */
            });
            free(x), free(y), free(e);
        }
}
END_TEST

/* Causal GQA in double, straight from the definition. */
static void attention_ref(double *out, const float *q, const float *k, const float *v,
                          int nh, int nkv, int hd, int pos0, int batch)
{
    int dim = nh * hd, kvd = nkv * hd;
    double *s = malloc((size_t)(pos0 + batch) * sizeof *s);
    for (int t = 0; t < batch; t++)
        for (int h = 0; h < nh; h++) {
            const float *qh = q + t * dim + h * hd;
            int kh = h / (nh / nkv), n = pos0 + t + 1;
            double m = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int i = 0; i < hd; i++)
                    acc += (double)qh[i] * k[(size_t)j * kvd + kh * hd + i];
                s[j] = acc / sqrt(hd);
                m = fmax(m, s[j]);
            }
            for (int j = 0; j < n; j++)
                sum += s[j] = exp(s[j] - m);
            for (int i = 0; i < hd; i++) {
                double acc = 0;
                for (int j = 0; j < n; j++)
                    acc += s[j] * v[(size_t)j * kvd + kh * hd + i];
                out[t * dim + h * hd + i] = acc / sum;
            }
        }
    free(s);
}

START_TEST(test_attention_gqa_matches_double)
{
    /* (n_heads, n_kv_heads): group sizes 1, 2 and 7. */
    static const int heads[][2] = { { 2, 2 }, { 4, 2 }, { 7, 1 }, { 14, 2 } };
    static const int hds[] = { 8, 20, 64 }, pos0s[] = { 0, 5, 70 }, batches[] = { 1, 3, 7 };
    for (int hi = 0; hi < 4; hi++)
        for (int di = 0; di < 3; di++)
            for (int pi = 0; pi < 3; pi++)
                for (int bi = 0; bi < 3; bi++) {
                    int nh = heads[hi][0], nkv = heads[hi][1], hd = hds[di];
                    int pos0 = pos0s[pi], batch = batches[bi], n_ctx = pos0 + batch + 4;
                    rng_seed((uint64_t)(hi * 1000 + di * 100 + pi * 10 + bi));
                    size_t qn = (size_t)batch * nh * hd, cn = (size_t)n_ctx * nkv * hd;
                    float *q = rand_vec(qn, 2), *k = rand_vec(cn, 2), *v = rand_vec(cn, 1);
                    /* Rows past the last token are poison: reading them shows. */
                    for (size_t i = (size_t)(pos0 + batch) * nkv * hd; i < cn; i++)
                        k[i] = v[i] = NAN;
                    float *out = malloc(qn * sizeof *out);
                    double *e = malloc(qn * sizeof *e);
                    attention_ref(e, q, k, v, nh, nkv, hd, pos0, batch);
                    FOR_EACH_DEVICE(d, {
                        ck_assert_int_eq(dev_attention(d, out, q, k, v, nh, nkv, hd, pos0, batch), DEV_OK);
                        assert_close(out, e, qn, 1e-5, 2e-6, "attention");
                    });
                    free(q), free(k), free(v), free(out), free(e);
                }
}
END_TEST

START_TEST(test_swiglu_add_bias_match_double)
{
    static const int ns[] = { 1, 9, 37, 4864 };
    for (int ni = 0; ni < 4; ni++) {
        int n = ns[ni], batch = 3;
        size_t tot = (size_t)n * batch;
        rng_seed(80 + ni);
        float *g = rand_vec(tot, 12), *u = rand_vec(tot, 2), *b = rand_vec(n, 1);
        g[0] = 100, g[tot - 1] = -100;          /* saturated silu on both sides */
        float *y = malloc(tot * sizeof *y);
        double *e = malloc(tot * sizeof *e), *ea = malloc(tot * sizeof *ea), *eb = malloc(tot * sizeof *eb);
        for (size_t i = 0; i < tot; i++) {
            e[i] = g[i] / (1 + exp(-(double)g[i])) * u[i];
            ea[i] = (double)g[i] + u[i];
            eb[i] = (double)g[i] + b[i % n];
        }
        FOR_EACH_DEVICE(d, {
            ck_assert_int_eq(dev_swiglu(d, y, g, u, n, batch), DEV_OK);
            assert_close(y, e, tot, 2e-6, 1e-30, "swiglu");
            memcpy(y, g, tot * sizeof *y);                         /* out == gate */
            ck_assert_int_eq(dev_swiglu(d, y, y, u, n, batch), DEV_OK);
            assert_close(y, e, tot, 2e-6, 1e-30, "swiglu in place");
            memcpy(y, g, tot * sizeof *y);
            ck_assert_int_eq(dev_add(d, y, u, n, batch), DEV_OK);
            assert_close(y, ea, tot, 1e-7, 0, "add");
            memcpy(y, g, tot * sizeof *y);
            ck_assert_int_eq(dev_add_bias(d, y, b, n, batch), DEV_OK);
            assert_close(y, eb, tot, 1e-7, 0, "add_bias");
        });
        free(g), free(u), free(b), free(y), free(e), free(ea), free(eb);
    }
}
END_TEST

START_TEST(test_softmax_matches_double_large_values)
{
    static const int ns[] = { 1, 7, 100, 1001 };
    for (int ni = 0; ni < 4; ni++) {
        int n = ns[ni], batch = 2;
        rng_seed(90 + ni);
        float *x = rand_vec((size_t)n * batch, 30), *y = malloc((size_t)n * batch * sizeof *y);
        x[0] += 1000;                           /* would overflow without the max shift */
        double *e = malloc((size_t)n * batch * sizeof *e);
        for (int b = 0; b < batch; b++) {
            double m = -INFINITY, s = 0;
            for (int i = 0; i < n; i++)
                m = fmax(m, x[b * n + i]);
            for (int i = 0; i < n; i++)
                s += e[b * n + i] = exp(x[b * n + i] - m);
            for (int i = 0; i < n; i++)
                e[b * n + i] /= s;
        }
        FOR_EACH_DEVICE(d, {
            memcpy(y, x, (size_t)n * batch * sizeof *y);
            ck_assert_int_eq(dev_softmax(d, y, n, batch), DEV_OK);
            assert_close(y, e, (size_t)n * batch, 1e-5, 1e-30, "softmax");
        });
        free(x), free(y), free(e);
    }
}
END_TEST

/* ---- pool, open errors, argument errors, probe -------------------------- */

typedef struct {
    _Atomic int *hits;
    _Atomic int bad_tid;
    int threads;
} pool_check;

static void pool_count(void *ctx, int64_t b, int64_t e, int tid)
{
    pool_check *c = ctx;
    if (tid < 0 || tid >= c->threads)
        atomic_store(&c->bad_tid, 1);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

START_TEST(test_pool_runs_every_index_exactly_once)
{
    static const int64_t ns[] = { 0, 1, 5, 1000, 100003 }, grains[] = { 1, 7, 1000 };
    char err[128];
    for (int th = 1; th <= 3; th++) {
        dev_pool *p = pool_new(th, err, sizeof err);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(pool_threads(p), th);
        for (int ni = 0; ni < 5; ni++)
            for (int gi = 0; gi < 3; gi++) {
                _Atomic int *hits = calloc((size_t)ns[ni] + 1, sizeof *hits);
                pool_check c = { .hits = hits, .threads = th };
                pool_for(p, ns[ni], grains[gi], pool_count, &c);
                for (int64_t i = 0; i < ns[ni]; i++)
                    EXPECT(hits[i] == 1, "index %lld ran %d times", (long long)i, (int)hits[i]);
                ck_assert_int_eq(c.bad_tid, 0);
                free(hits);
            }
        _Atomic int hits[64] = {0};         /* many tiny jobs back to back */
        pool_check c = { .hits = hits, .threads = th };
        for (int rep = 0; rep < 20000; rep++)
            pool_for(p, 64, 1, pool_count, &c);
        for (int i = 0; i < 64; i++)
            ck_assert_int_eq(hits[i], 20000);
        pool_free(p);
    }
    ck_assert_ptr_null(pool_new(0, err, sizeof err));
    pool_free(NULL);
}
END_TEST

static void assert_open_fails(const char *spec, const char *want)
{
    char err[256] = "";
    dev_device *d = dev_open(spec, err, sizeof err);
    EXPECT(d == NULL, "dev_open(%s) should fail", spec);
    EXPECT(strstr(err, want) != NULL, "dev_open(%s): '%s' lacks '%s'", spec, err, want);
}

START_TEST(test_dev_open_errors_are_clear)
{
    assert_open_fails("cpu:threads=abc", "threads=abc: expected a number");
    assert_open_fails("cpu:threads=", "threads=: expected a number");
    assert_open_fails("cpu:threads=-1", "expected a number 0..256");
    assert_open_fails("cpu:threads=100000", "expected a number 0..256");
    assert_open_fails("gpu", "unknown device 'gpu' (available: cpu, wse)");
    assert_open_fails("gpu:threads=2", "unknown device 'gpu'");
    assert_open_fails("", "empty device spec");
    assert_open_fails("cpu:threads", "needs a value");
    assert_open_fails("cpu:fast=1", "unknown option 'fast'");
    assert_open_fails(kern_avx2() ? "cpu:simd=neon" : "cpu:simd=avx2",
                      kern_avx2() ? "simd=neon: not available" : "simd=avx2: not available");
    assert_open_fails("cpu:simd=sse9", "simd=sse9: not available");

    dev_info info;
    dev_device *d = open_dev("cpu");
    dev_get_info(d, &info);
    ck_assert_str_eq(info.name, "cpu");
    ck_assert_int_ge(info.threads, 1);
    ck_assert_str_eq(info.simd, kern_select()->name);
    dev_close(d);
    d = open_dev("cpu:threads=3,simd=scalar");
    dev_get_info(d, &info);
    ck_assert_int_eq(info.threads, 3);
    ck_assert_str_eq(info.simd, "scalar");
    dev_close(d);
    dev_close(NULL);
}
END_TEST

START_TEST(test_op_argument_errors_have_codes_and_messages)
{
    dev_device *d = open_dev("cpu:threads=1");
    float buf[64] = {0};
    int32_t pos[1] = {0};
    ck_assert_str_eq(dev_errmsg(d), "");
    ck_assert_int_eq(dev_matmul(d, DEV_Q8_0, buf, 1, 33, buf, 1, buf), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "not a multiple of Q8_0's block of 32"));
    ck_assert_int_eq(dev_matmul(d, (dev_dtype)7, buf, 1, 32, buf, 1, buf), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "unsupported weight type 7"));
    ck_assert_int_eq(dev_matmul(d, DEV_F32, buf, 0, 4, buf, 1, buf), DEV_EINVAL);
    ck_assert_int_eq(dev_matmul(d, DEV_F32, NULL, 1, 4, buf, 1, buf), DEV_EINVAL);
    ck_assert_int_eq(dev_get_row(d, DEV_Q4_0, buf, 16, 0, buf), DEV_EINVAL);
    ck_assert_int_eq(dev_get_row(d, DEV_F32, buf, 4, -1, buf), DEV_EINVAL);
    ck_assert_int_eq(dev_rope(d, buf, 1, 7, pos, 1, 10000, 0), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "head_dim=7 must be even"));
    ck_assert_int_eq(dev_rope(d, buf, 1, 512, pos, 1, 10000, 0), DEV_EINVAL);
    ck_assert_int_eq(dev_rope(d, buf, 1, 8, pos, 1, 0, 0), DEV_EINVAL);
    ck_assert_int_eq(dev_attention(d, buf, buf, buf, buf, 6, 4, 8, 0, 1), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "n_heads=6 must be a positive multiple of n_kv_heads=4"));
    ck_assert_int_eq(dev_attention(d, buf, buf, buf, buf, 2, 2, 8, -1, 1), DEV_EINVAL);
    ck_assert_int_eq(dev_rmsnorm(d, buf, buf, NULL, 0, 1e-5f, 1), DEV_EINVAL);
    ck_assert_int_eq(dev_swiglu(d, buf, buf, NULL, 4, 1), DEV_EINVAL);
    ck_assert_int_eq(dev_add(d, buf, buf, 4, 0), DEV_EINVAL);
    ck_assert_int_eq(dev_add_bias(d, buf, NULL, 4, 1), DEV_EINVAL);
    ck_assert_int_eq(dev_softmax(d, NULL, 4, 1), DEV_EINVAL);
    ck_assert_uint_eq(dev_quantize(DEV_Q4_0, buf, buf, 31), 0);
    ck_assert_uint_eq(dev_dequantize((dev_dtype)99, buf, buf, 4), 0);
    dev_close(d);
}
END_TEST

START_TEST(test_probe_bandwidth_reports_positive_rate)
{
    dev_device *d = open_dev("cpu:threads=2");
    double gbs = dev_probe_bandwidth(d, (size_t)8 << 20);   /* small: cache speed, fast */
    EXPECT(gbs > 0.1 && gbs < 10000, "%g GB/s", gbs);
    dev_close(d);
}
END_TEST

static Suite *kern_suite(void)
{
    Suite *s = suite_create("kern");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dtype_tables_and_row_bytes);
    tcase_add_test(tc, test_f16_to_f32_exhaustive_incl_subnormal_inf_nan);
    tcase_add_test(tc, test_f32_to_f16_rounding_overflow_subnormal);
    tcase_add_test(tc, test_bf16_rounding_inf_nan_and_simd);
    tcase_add_test(tc, test_q8_0_round_trip_within_bound);
    tcase_add_test(tc, test_q4_0_round_trip_within_bound);
    tcase_add_test(tc, test_quantize_act_simd_bit_identical);
    tcase_add_test(tc, test_neon_dotprod_matches_armv8_0);
    tcase_add_test(tc, test_matmul_simd_matches_scalar_every_dtype_odd_sizes_threads);
    tcase_add_test(tc, test_matmul_matches_double_within_documented_bound);
    tcase_add_test(tc, test_matmul_and_attention_are_batch_invariant);
    tcase_add_test(tc, test_get_row_every_dtype);
    tcase_add_test(tc, test_rmsnorm_matches_double);
    tcase_add_test(tc, test_rope_normal_and_neox_match_double);
    tcase_add_test(tc, test_attention_gqa_matches_double);
    tcase_add_test(tc, test_swiglu_add_bias_match_double);
    tcase_add_test(tc, test_softmax_matches_double_large_values);
    tcase_add_test(tc, test_pool_runs_every_index_exactly_once);
    tcase_add_test(tc, test_dev_open_errors_are_clear);
    tcase_add_test(tc, test_op_argument_errors_have_codes_and_messages);
    tcase_add_test(tc, test_probe_bandwidth_reports_positive_rate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(kern_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
