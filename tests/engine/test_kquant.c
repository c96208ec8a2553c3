/* test_kquant.c — the K-quant weight types (engine/device/kq*.c): the
 * dequantizers bit for bit against the independent numpy ones
 * (tools/kquant.py) on random blocks, the quantizers against the bounds
 * dev.h documents, the matmul of every kernel set against a double-precision
 * product of the dequantized weights, scalar against AVX2, thread and batch
 * invariance, get_row, and the argument errors.
 *
 * Matmul tolerance (as test_kern.c's for Q8_0/Q4_0): |y - ref| <= 1e-5 *
 * sum|w*x| + sum over activation blocks of sum|w| * amax/254 (the int8
 * activations' error) + 1e-6; scalar vs AVX2: 1e-5 * sum|w*x| + 1e-6.
 */
/* GCC 12 for arm64 crashes (internal compiler error in vect_transform_reduction) while
 * vectorizing one of this file's max-reductions; the test loses nothing without it. */
#if defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-vectorize")
#endif
#include "dev.h"
#include "kern.h"
#include "kq_affine.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../check_run.h"

#define EXPECT(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static const dev_dtype KTYPES[] = { DEV_Q4_K, DEV_Q5_K, DEV_Q6_K };
#define N_KTYPES 3

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s * 2654435761u + 88172645463325252ull; }

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd(void) { return (float)rng_u32() / 4294967296.0f * 2 - 1; }    /* [-1, 1) */

static dev_device *open_dev(const char *spec)
{
    char err[256] = "";
    dev_device *d = dev_open(spec, err, sizeof err);
    EXPECT(d != NULL, "dev_open(%s): %s", spec, err);
    return d;
}

/* Byte offsets of the F16 super-scales in a block (ggml's layouts). */
static void scale_offsets(dev_dtype t, int *d_off, int *dmin_off)
{
    *d_off = t == DEV_Q6_K ? 208 : 0;
    *dmin_off = t == DEV_Q6_K ? -1 : 2;
}

/* nb random blocks of t: random quants and sub-scales (every bit pattern),
 * finite F16 super-scales of either sign across magnitudes (subnormal, zero
 * and 2^-14 .. 2^3 included). */
static uint8_t *random_blocks(dev_dtype t, int nb)
{
    size_t bb = dev_dtype_block_bytes(t);
    uint8_t *w = malloc(bb * (size_t)nb);
    ck_assert_ptr_nonnull(w);
    for (size_t i = 0; i < bb * (size_t)nb; i++)
        w[i] = (uint8_t)rng_u32();
    int d_off, dmin_off;
    scale_offsets(t, &d_off, &dmin_off);
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < 2; k++) {
            int off = k ? dmin_off : d_off;
            if (off < 0)
                continue;
            uint16_t h;
            switch ((b + k) % 5) {
            case 0: h = 0; break;
            case 1: h = (uint16_t)(1 + rng_u32() % 0x3ff); break;                   /* subnormal */
            default: h = (uint16_t)(0x0400 + rng_u32() % (0x4800 - 0x0400)); break; /* 2^-14 .. 2^3 */
            }
            h |= (uint16_t)(rng_u32() & 0x8000);
            memcpy(w + (size_t)b * bb + off, &h, 2);
        }
    return w;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

START_TEST(test_kquant_dtype_tables_and_row_bytes)
{
    static const char *names[] = { "Q4_K", "Q5_K", "Q6_K" };
    static const size_t bytes[] = { 144, 176, 210 };
    for (int i = 0; i < N_KTYPES; i++) {
        ck_assert_uint_eq(dev_dtype_block(KTYPES[i]), 256);
        ck_assert_uint_eq(dev_dtype_block_bytes(KTYPES[i]), bytes[i]);
        ck_assert_str_eq(dev_dtype_name(KTYPES[i]), names[i]);
        ck_assert_uint_eq(dev_row_bytes(KTYPES[i], 768), 3 * bytes[i]);
        ck_assert_uint_eq(dev_row_bytes(KTYPES[i], 288), 0);
        ck_assert_uint_eq(dev_row_bytes(KTYPES[i], 32), 0);
    }
    ck_assert_uint_eq(dev_dtype_block((dev_dtype)11), 0);       /* Q3_K: not supported */
    ck_assert_str_eq(dev_dtype_name((dev_dtype)15), "unknown");  /* Q8_K */
}
END_TEST

/* The C dequantizers and tools/kquant.py's agree on every bit. */
START_TEST(test_dequantize_matches_numpy_bit_for_bit)
{
    static const char *names[] = { "Q4_K", "Q5_K", "Q6_K" };
    char dir[] = "/tmp/sparkd-test-kquant-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *src = getenv("SPARKD_SRC");
    int nb = 200;
    for (int i = 0; i < N_KTYPES; i++) {
        rng_seed(10 + (uint64_t)i);
        dev_dtype t = KTYPES[i];
        uint8_t *w = random_blocks(t, nb);
        size_t n = (size_t)nb * 256;
        float *c = malloc(n * sizeof *c), *py = malloc(n * sizeof *py);
        ck_assert_uint_eq(dev_dequantize(t, w, c, (int64_t)n), n);
        char in[300], out[300], cmd[1024];
        snprintf(in, sizeof in, "%s/%s.raw", dir, names[i]);
        snprintf(out, sizeof out, "%s/%s.f32", dir, names[i]);
        write_file(in, w, dev_row_bytes(t, (int64_t)n));
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/kquant.py dequantize %s %s %s",
                 src ? src : ".", names[i], in, out);
        ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
        FILE *f = fopen(out, "rb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(py, sizeof *py, n, f), n);
        fclose(f);
        for (size_t e = 0; e < n; e++)
            EXPECT(!memcmp(c + e, py + e, sizeof *c), "%s element %zu (block %zu): C %a, numpy %a",
                   names[i], e, e / 256, c[e], py[e]);
        unlink(in);
        unlink(out);
        free(w), free(c), free(py);
    }
    rmdir(dir);
}
END_TEST

/* Super-blocks at several magnitudes: a zero one, an all-positive one, an
 * all-negative one, tiny and large ones. */
static float *quant_input(int nb)
{
    static const float scales[] = { 1, 0, 1e-3f, 1e3f, 1e-7f, 37.5f, 1, 1 };
    float *x = malloc((size_t)nb * 256 * sizeof *x);
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < 256; i++) {
            float v = rnd() * scales[b % 8] * (1 + (float)(i / 32));   /* sub-blocks differ */
            x[b * 256 + i] = b % 8 == 6 ? fabsf(v) : b % 8 == 7 ? -fabsf(v) : v;
        }
    return x;
}

static float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return kern_f16_to_f32_1(h);
}

/* dev.h's bound for element i of super-block x (its stored bytes blk). */
static double quant_bound(dev_dtype t, const float *x, const uint8_t *blk, int i)
{
    if (t == DEV_Q6_K) {
        const float *s = x + i / 16 * 16;
        double amax = 0;
        for (int l = 0; l < 16; l++)
            amax = fmax(amax, fabs(s[l]));
        return (amax / 31 + f16_at(blk + 208)) / 2;
    }
    const float *s = x + i / 32 * 32;
    double lo = 0, hi = 0;
    for (int l = 0; l < 32; l++)
        lo = fmin(lo, s[l]), hi = fmax(hi, s[l]);
    int qmax = t == DEV_Q4_K ? 15 : 31;
    return ((hi - lo + f16_at(blk + 2)) / qmax + f16_at(blk)) / 2;
}

START_TEST(test_quantize_round_trip_within_documented_bound)
{
    int nb = 40;
    for (int ti = 0; ti < N_KTYPES; ti++) {
        dev_dtype t = KTYPES[ti];
        rng_seed(20 + (uint64_t)ti);
        float *x = quant_input(nb), *y = malloc((size_t)nb * 256 * sizeof *y);
        size_t bb = dev_dtype_block_bytes(t);
        uint8_t *q = malloc(bb * (size_t)nb);
        ck_assert_uint_eq(dev_quantize(t, x, q, nb * 256), bb * (size_t)nb);
        ck_assert_uint_eq(dev_dequantize(t, q, y, nb * 256), (size_t)nb * 256);
        double worst = 0;           /* the largest error relative to the block's amax */
        for (int b = 0; b < nb; b++) {
            double amax = 0;
            for (int i = 0; i < 256; i++)
                amax = fmax(amax, fabs(x[b * 256 + i]));
            for (int i = 0; i < 256; i++) {
                double err = fabs((double)x[b * 256 + i] - y[b * 256 + i]);
                double bound = quant_bound(t, x + b * 256, q + (size_t)b * bb, i) * (1 + 1e-5) + 1e-6 * amax;
                EXPECT(err <= bound, "%s block %d [%d]: %g -> %g (error %g > bound %g)", dev_dtype_name(t),
                       b, i, x[b * 256 + i], y[b * 256 + i], err, bound);
                if (amax > 1e-3)    /* below, F16's super-scales run out of precision */
                    worst = fmax(worst, err / amax);
            }
            if (amax == 0)
                for (int i = 0; i < 256; i++)
                    EXPECT(y[b * 256 + i] == 0, "%s: zero block dequantizes to %g", dev_dtype_name(t), y[b * 256 + i]);
        }
        /* The bound is no licence to be coarse: about half a step of 4/5/6 bits. */
        double expect = t == DEV_Q4_K ? 1.0 / 12 : t == DEV_Q5_K ? 1.0 / 24 : 1.0 / 50;
        EXPECT(worst <= expect, "%s: worst error %g of amax > %g", dev_dtype_name(t), worst, expect);
        free(x), free(y), free(q);
    }
}
END_TEST

/* ---- matmul ------------------------------------------------------------- */

/* scalar, then the best set this CPU has ("avx2", "neon"; none: scalar only) */
static const char *SPECS[4] = { "cpu:threads=1,simd=scalar", "cpu:threads=2,simd=scalar" };
static int have_spec(int i)
{
    static char best[2][64];
    const kern_ops *k = kern_select();
    if (i < 2)
        return 1;
    if (k == &kern_scalar)
        return 0;
    snprintf(best[i - 2], sizeof best[i - 2], "cpu:threads=%d,simd=%s", i - 1, k->name);
    SPECS[i] = best[i - 2];
    return 1;
}

/* x(batch, n): random, with one block at full scale (int8 +-127 everywhere)
 * and one of zeros. */
static float *act_input(int batch, int n)
{
    float *x = malloc((size_t)batch * n * sizeof *x);
    for (int i = 0; i < batch * n; i++)
        x[i] = rnd() * 2;
    for (int i = 0; i < 32; i++) {
        x[i] = i & 1 ? -3.0f : 3.0f;
        x[32 + i] = 0;
    }
    return x;
}

/* The double-precision product of the dequantized weights and the bound. */
static void reference(const float *wf, const float *x, int n_out, int n_in, int batch,
                      double *ref, double *mag, double *bound)
{
    for (int t = 0; t < batch; t++)
        for (int r = 0; r < n_out; r++) {
            double s = 0, m = 0, q = 0;
            for (int b = 0; b < n_in / 32; b++) {
                double amax = 0, wsum = 0;
                for (int i = b * 32; i < b * 32 + 32; i++) {
                    double wi = wf[(size_t)r * n_in + i], xi = x[(size_t)t * n_in + i];
                    s += wi * xi;
                    m += fabs(wi * xi);
                    wsum += fabs(wi);
                    amax = fmax(amax, fabs(xi));
                }
                q += wsum * amax / 254;
            }
            ref[t * n_out + r] = s;
            mag[t * n_out + r] = m;
            bound[t * n_out + r] = 1e-5 * m + q + 1e-6;
        }
}

START_TEST(test_matmul_every_set_matches_double_and_scalar)
{
    static const int n_ins[] = { 256, 768 }, n_outs[] = { 1, 17, 37 };
    dev_device *dv[4];
    for (int s = 0; s < 4; s++)
        dv[s] = have_spec(s) ? open_dev(SPECS[s]) : NULL;
    for (int ti = 0; ti < N_KTYPES; ti++)
        for (int ii = 0; ii < 2; ii++)
            for (int oi = 0; oi < 3; oi++) {
                dev_dtype t = KTYPES[ti];
                int n_in = n_ins[ii], n_out = n_outs[oi], batch = 6;
                rng_seed(100 + (uint64_t)(ti * 10 + ii * 3 + oi));
                uint8_t *w = random_blocks(t, n_out * n_in / 256);
                float *wf = malloc((size_t)n_out * n_in * sizeof *wf), *x = act_input(batch, n_in);
                ck_assert_uint_eq(dev_dequantize(t, w, wf, (int64_t)n_out * n_in), (size_t)n_out * n_in);
                double ref[6 * 37], mag[6 * 37], bound[6 * 37];
                reference(wf, x, n_out, n_in, batch, ref, mag, bound);
                float y[4][6 * 37];
                for (int b = 1; b <= batch; b += 5)     /* batch 1 and 6 */
                    for (int s = 0; s < 4; s++) {
                        if (!dv[s])
                            continue;
                        ck_assert_int_eq(dev_matmul(dv[s], t, w, n_out, n_in, x, b, y[s]), DEV_OK);
                        for (int k = 0; k < b * n_out; k++) {
                            EXPECT(fabs(y[s][k] - ref[k]) <= bound[k], "%s %s n_in=%d n_out=%d batch=%d [%d]: %g vs %g",
                                   SPECS[s], dev_dtype_name(t), n_in, n_out, b, k, y[s][k], ref[k]);
                            EXPECT(fabs(y[s][k] - y[0][k]) <= 1e-5 * mag[k] + 1e-6, "%s %s [%d]: %g vs scalar %g",
                                   SPECS[s], dev_dtype_name(t), k, y[s][k], y[0][k]);
                        }
                        if (s & 1)  /* two threads: the same bits as one */
                            EXPECT(!memcmp(y[s], y[s - 1], (size_t)b * n_out * sizeof(float)), "%s %s: threads differ",
                                   SPECS[s], dev_dtype_name(t));
                    }
                free(w), free(wf), free(x);
            }
    for (int s = 0; s < 4; s++)
        dev_close(dv[s]);
}
END_TEST

/* Weights from the quantizer (not random bits) against an F32 matmul of
 * their dequantized copy: the path a real model takes. */
START_TEST(test_matmul_of_quantized_weights_matches_f32_matmul)
{
    int n_out = 40, n_in = 512, batch = 3;
    dev_device *d = open_dev("cpu:threads=2");
    for (int ti = 0; ti < N_KTYPES; ti++) {
        dev_dtype t = KTYPES[ti];
        rng_seed(200 + (uint64_t)ti);
        float *src = malloc((size_t)n_out * n_in * sizeof *src), *wf = malloc((size_t)n_out * n_in * sizeof *wf);
        for (int i = 0; i < n_out * n_in; i++)
            src[i] = rnd() * 0.5f;
        void *w = malloc(dev_row_bytes(t, n_in) * (size_t)n_out);
        ck_assert_uint_eq(dev_quantize(t, src, w, (int64_t)n_out * n_in), dev_row_bytes(t, n_in) * (size_t)n_out);
        dev_dequantize(t, w, wf, (int64_t)n_out * n_in);
        float *x = act_input(batch, n_in), yq[3 * 40], yf[3 * 40];
        double ref[3 * 40], mag[3 * 40], bound[3 * 40];
        reference(wf, x, n_out, n_in, batch, ref, mag, bound);
        ck_assert_int_eq(dev_matmul(d, t, w, n_out, n_in, x, batch, yq), DEV_OK);
        ck_assert_int_eq(dev_matmul(d, DEV_F32, wf, n_out, n_in, x, batch, yf), DEV_OK);
        for (int k = 0; k < batch * n_out; k++)
            EXPECT(fabs(yq[k] - yf[k]) <= bound[k] + 1e-5 * mag[k], "%s [%d]: %g vs F32 %g",
                   dev_dtype_name(t), k, yq[k], yf[k]);
        free(src), free(wf), free(w), free(x);
    }
    dev_close(d);
}
END_TEST

/* A token's output does not depend on the batch around it, bit for bit. */
START_TEST(test_matmul_is_batch_invariant)
{
    int n_out = 21, n_in = 512, batch = 7;
    for (int s = 0; s < 4; s++) {
        if (!have_spec(s))
            continue;
        dev_device *d = open_dev(SPECS[s]);
        for (int ti = 0; ti < N_KTYPES; ti++) {
            rng_seed(300 + (uint64_t)ti);
            uint8_t *w = random_blocks(KTYPES[ti], n_out * n_in / 256);
            float *x = act_input(batch, n_in), yb[7 * 21], y1[21];
            ck_assert_int_eq(dev_matmul(d, KTYPES[ti], w, n_out, n_in, x, batch, yb), DEV_OK);
            for (int t = 0; t < batch; t++) {
                ck_assert_int_eq(dev_matmul(d, KTYPES[ti], w, n_out, n_in, x + t * n_in, 1, y1), DEV_OK);
                EXPECT(!memcmp(y1, yb + t * n_out, sizeof y1), "%s %s token %d", SPECS[s],
                       dev_dtype_name(KTYPES[ti]), t);
            }
            free(w), free(x);
        }
        dev_close(d);
    }
}
END_TEST

/* NEON with the dot-product instructions and without (ARMv8.0): the same
 * bits (kq_neon.h). Runs where the CPU (or qemu's) has them. */
START_TEST(test_neon_dotprod_matches_armv8_0)
{
    if (!kern_neon() || !kern_neon_dotprod())
        return;
    int n_out = 19, n_in = 768, batch = 5;
    dev_device *dp = open_dev("cpu:threads=1,simd=neon");
    setenv("SPARKD_NO_DOTPROD", "1", 1);
    dev_device *base = open_dev("cpu:threads=1,simd=neon");
    unsetenv("SPARKD_NO_DOTPROD");
    for (int ti = 0; ti < N_KTYPES; ti++) {
        rng_seed(400 + (uint64_t)ti);
        uint8_t *w = random_blocks(KTYPES[ti], n_out * n_in / 256);
        float *x = act_input(batch, n_in), y0[5 * 19], y1[5 * 19];
        ck_assert_int_eq(dev_matmul(dp, KTYPES[ti], w, n_out, n_in, x, batch, y0), DEV_OK);
        ck_assert_int_eq(dev_matmul(base, KTYPES[ti], w, n_out, n_in, x, batch, y1), DEV_OK);
        EXPECT(!memcmp(y0, y1, sizeof y0), "%s: sdot and ARMv8.0 differ", dev_dtype_name(KTYPES[ti]));
        free(w), free(x);
    }
    dev_close(dp), dev_close(base);
}
END_TEST

/* The word-wise unpacking of Q4_K/Q5_K's 12 scale bytes (the AVX2 tile's)
 * against kq_scale_min, for random bytes. */
START_TEST(test_unpack_scales_matches_scale_min)
{
    rng_seed(500);
    for (int it = 0; it < 20000; it++) {
        uint8_t s[KQ_SCALE_BYTES], out[16];
        for (int i = 0; i < KQ_SCALE_BYTES; i++)
            s[i] = (uint8_t)rng_u32();
        kq_unpack_scales(s, out);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            kq_scale_min(s, j, &sc, &m);
            ck_assert_int_eq(out[j], sc);
            ck_assert_int_eq(out[8 + j], m);
        }
    }
}
END_TEST

START_TEST(test_get_row_equals_dequantize)
{
    int rows = 5, n = 512;
    for (int s = 0; s < 4; s += 2) {
        if (!have_spec(s))
            continue;
        dev_device *d = open_dev(SPECS[s]);
        for (int ti = 0; ti < N_KTYPES; ti++) {
            rng_seed(400 + (uint64_t)ti);
            uint8_t *w = random_blocks(KTYPES[ti], rows * n / 256);
            float all[5 * 512], row[512];
            dev_dequantize(KTYPES[ti], w, all, rows * n);
            for (int r = 0; r < rows; r++) {
                ck_assert_int_eq(dev_get_row(d, KTYPES[ti], w, n, r, row), DEV_OK);
                EXPECT(!memcmp(row, all + r * n, sizeof row), "%s row %d", dev_dtype_name(KTYPES[ti]), r);
            }
            free(w);
        }
        dev_close(d);
    }
}
END_TEST

START_TEST(test_kquant_argument_errors)
{
    dev_device *d = open_dev("cpu:threads=1");
    float buf[512] = {0};
    ck_assert_int_eq(dev_matmul(d, DEV_Q4_K, buf, 1, 288, buf, 1, buf), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "n_in=288 is not a multiple of Q4_K's block of 256"));
    ck_assert_int_eq(dev_matmul(d, DEV_Q6_K, buf, 1, 32, buf, 1, buf), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "Q6_K's block of 256"));
    ck_assert_int_eq(dev_get_row(d, DEV_Q5_K, buf, 128, 0, buf), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "n=128 is not a multiple of Q5_K's block of 256"));
    ck_assert_int_eq(dev_matmul(d, (dev_dtype)11, buf, 1, 256, buf, 1, buf), DEV_EINVAL);
    ck_assert_ptr_nonnull(strstr(dev_errmsg(d), "unsupported weight type 11"));
    ck_assert_uint_eq(dev_quantize(DEV_Q5_K, buf, buf, 100), 0);
    ck_assert_uint_eq(dev_dequantize(DEV_Q6_K, buf, buf, 255), 0);
    ck_assert_uint_eq(dev_quantize(DEV_Q4_K, NULL, buf, 256), 0);
    dev_close(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kquant");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kquant_dtype_tables_and_row_bytes);
    tcase_add_test(tc, test_dequantize_matches_numpy_bit_for_bit);
    tcase_add_test(tc, test_quantize_round_trip_within_documented_bound);
    tcase_add_test(tc, test_matmul_every_set_matches_double_and_scalar);
    tcase_add_test(tc, test_matmul_of_quantized_weights_matches_f32_matmul);
    tcase_add_test(tc, test_matmul_is_batch_invariant);
    tcase_add_test(tc, test_neon_dotprod_matches_armv8_0);
    tcase_add_test(tc, test_unpack_scales_matches_scale_min);
    tcase_add_test(tc, test_get_row_equals_dequantize);
    tcase_add_test(tc, test_kquant_argument_errors);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
