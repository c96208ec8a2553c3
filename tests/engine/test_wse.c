/* test_wse.c — the emulated wafer-scale device: results bit-identical to
 * `cpu` for random op sequences and whole forward passes of both
 * architectures; placement that fits or not at the exact boundary, with
 * errors that say what is missing; the live device's projected step equal to
 * wse_project's; the published decode rates reproduced within 2x; statistics
 * that keep host and projected time apart; fences with eventfd completion,
 * cancel before start, busy errors; an injected fault and reset.
 */
#include <check.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dev.h"
#include "model.h"
#include "wse.h"
#include "../check_run.h"

#define EXPECT(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 2654435761u + 1; }
static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static int rnd_int(int lo, int hi) { return lo + (int)(rng_u32() % (uint32_t)(hi - lo + 1)); }
static float rnd(void) { return (float)rng_u32() / 4294967296.0f * 2 - 1; }

static float *rand_vec(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) v[i] = rnd();
    return v;
}

static dev_device *open_dev(const char *spec)
{
    char err[256] = "";
    dev_device *d = dev_open(spec, err, sizeof err);
    EXPECT(d != NULL, "dev_open(%s): %s", spec, err);
    return d;
}

static void expect_open_error(const char *spec, const char *want)
{
    char err[256] = "";
    dev_device *d = dev_open(spec, err, sizeof err);
    EXPECT(d == NULL, "dev_open(%s) should fail", spec);
    EXPECT(strstr(err, want) != NULL, "dev_open(%s): '%s' lacks '%s'", spec, err, want);
}

static void expect_same(const float *a, const float *b, size_t n, const char *what)
{
    EXPECT(!memcmp(a, b, n * sizeof *a), "%s: wse differs from cpu", what);
}

// ---------------------------------------------------------------- spec

START_TEST(test_open_options_info_and_errors)
{
    dev_device *d = open_dev("wse:geometry=16x8,sram_kb=4,clock_ghz=1.5,fma=2,ctx=128,wafers=2,threads=1");
    dev_info info;
    dev_get_info(d, &info);
    ck_assert_str_eq(info.name, "wse");
    ck_assert_int_eq(info.threads, 1);
    wse_config c;
    ck_assert_int_eq(wse_get_config(d, &c), 0);
    ck_assert_int_eq(c.width, 16);
    ck_assert_int_eq(c.height, 8);
    ck_assert_int_eq(c.wafers, 2);
    ck_assert_uint_eq(c.sram_bytes, 4096);
    ck_assert_int_eq(c.ctx, 128);
    EXPECT(fabs(c.clock_hz - 1.5e9) < 1 && c.fma_per_cycle == 2, "clock/fma not applied");
    dev_close(d);

    d = open_dev("wse:preset=wse2");
    ck_assert_int_eq(wse_get_config(d, &c), 0);
    ck_assert_str_eq(c.preset, "wse2");
    EXPECT(c.fma_per_cycle == 4 && (int64_t)c.width * c.height >= 849000, "wse2 preset");
    dev_close(d);
    d = open_dev("wse");
    ck_assert_int_eq(wse_get_config(d, &c), 0);
    EXPECT((int64_t)c.width * c.height >= 899000 && c.sram_bytes == 48 * 1024 && c.fma_per_cycle == 8,
           "wse3 default preset");
    dev_close(d);

    dev_device *cpu = open_dev("cpu:threads=1");
    wse_stats st;
    ck_assert_int_eq(wse_get_config(cpu, &c), -1);
    ck_assert_int_eq(wse_get_stats(cpu, &st), -1);
    dev_close(cpu);

    expect_open_error("wse:geometry=0x5", "geometry=0x5");
    expect_open_error("wse:geometry=12", "expected WxH");
    expect_open_error("wse:preset=wse9", "preset=wse9");
    expect_open_error("wse:sram_kb=0", "sram_kb=0");
    expect_open_error("wse:color=red", "unknown option 'color'");
    expect_open_error("wse:ctx", "needs a value");
    expect_open_error("wse:simd=nope", "host kernels");
}
END_TEST

// ---------------------------------------------------------------- bit identity

static const dev_dtype DTYPES[] = { DEV_F32, DEV_F16, DEV_BF16, DEV_Q8_0, DEV_Q4_0,
                                    DEV_Q4_K, DEV_Q5_K, DEV_Q6_K };

/* Runs one random op on both devices and compares every output bit. */
static void random_op(dev_device *c, dev_device *w, int i)
{
    int op = rnd_int(0, 8), batch = rnd_int(1, 5);
    char what[64];
    snprintf(what, sizeof what, "op %d (kind %d)", i, op);
    if (op == 0 || op == 1) {                 /* matmul, get_row */
        dev_dtype t = DTYPES[rnd_int(0, 7)];
        int n_out = rnd_int(1, 70);
        int n_in = dev_dtype_block(t) == 256 ? 256 * rnd_int(1, 2) : 32 * rnd_int(1, 5);
        float *src = rand_vec((size_t)n_out * n_in);
        void *W = malloc(dev_row_bytes(t, n_in) * (size_t)n_out);
        dev_quantize(t, src, W, (int64_t)n_out * n_in);
        size_t ny = (size_t)batch * (n_out > n_in ? n_out : n_in);
        float *X = rand_vec((size_t)batch * n_in), *y1 = calloc(ny, 4), *y2 = calloc(ny, 4);
        if (op == 0) {
            ck_assert_int_eq(dev_matmul(c, t, W, n_out, n_in, X, batch, y1), DEV_OK);
            ck_assert_int_eq(dev_matmul(w, t, W, n_out, n_in, X, batch, y2), DEV_OK);
            expect_same(y1, y2, (size_t)batch * n_out, what);
        } else {
            int row = rnd_int(0, n_out - 1);
            ck_assert_int_eq(dev_get_row(c, t, W, n_in, row, y1), DEV_OK);
            ck_assert_int_eq(dev_get_row(w, t, W, n_in, row, y2), DEV_OK);
            expect_same(y1, y2, (size_t)n_in, what);
        }
        free(src); free(W); free(X); free(y1); free(y2);
        return;
    }
    if (op == 2) {                            /* attention */
        int kvh = rnd_int(1, 2), heads = kvh * rnd_int(1, 3), hd = 2 * rnd_int(1, 32), pos0 = rnd_int(0, 20);
        size_t rows = (size_t)pos0 + batch, kvd = (size_t)kvh * hd, qd = (size_t)heads * hd;
        float *q = rand_vec(batch * qd), *k = rand_vec(rows * kvd), *v = rand_vec(rows * kvd);
        float *o1 = calloc(batch * qd, 4), *o2 = calloc(batch * qd, 4);
        ck_assert_int_eq(dev_attention(c, o1, q, k, v, heads, kvh, hd, pos0, batch), DEV_OK);
        ck_assert_int_eq(dev_attention(w, o2, q, k, v, heads, kvh, hd, pos0, batch), DEV_OK);
        expect_same(o1, o2, batch * qd, what);
        free(q); free(k); free(v); free(o1); free(o2);
        return;
    }
    int n = op == 3 ? 2 * rnd_int(1, 4) * rnd_int(1, 32) : rnd_int(1, 300);
    size_t total = (size_t)batch * n;
    float *x = rand_vec(total), *y = rand_vec(total), *g = rand_vec(n);
    float *a1 = malloc(total * 4), *a2 = malloc(total * 4);
    memcpy(a1, x, total * 4);
    memcpy(a2, x, total * 4);
    int rc1 = DEV_OK, rc2 = DEV_OK;
    switch (op) {
    case 3: {                                 /* rope: n = heads * head_dim */
        int hd = 2 * rnd_int(1, 32), heads = 1 + n / hd, neox = rnd_int(0, 1);
        free(a1); free(a2);
        total = (size_t)batch * heads * hd;
        float *xr = rand_vec(total);
        a1 = malloc(total * 4); a2 = malloc(total * 4);
        memcpy(a1, xr, total * 4); memcpy(a2, xr, total * 4);
        free(xr);
        int32_t pos[5];
        for (int t = 0; t < batch; t++) pos[t] = rnd_int(0, 5000);
        rc1 = dev_rope(c, a1, heads, hd, pos, batch, 10000.0f, neox);
        rc2 = dev_rope(w, a2, heads, hd, pos, batch, 10000.0f, neox);
        break;
    }
    case 4: {
        const float *wg = rnd_int(0, 1) ? g : NULL;
        rc1 = dev_rmsnorm(c, a1, x, wg, n, 1e-5f, batch);
        rc2 = dev_rmsnorm(w, a2, x, wg, n, 1e-5f, batch);
        break;
    }
    case 5: rc1 = dev_swiglu(c, a1, a1, y, n, batch); rc2 = dev_swiglu(w, a2, a2, y, n, batch); break;
    case 6: rc1 = dev_add(c, a1, y, n, batch); rc2 = dev_add(w, a2, y, n, batch); break;
    case 7: rc1 = dev_add_bias(c, a1, g, n, batch); rc2 = dev_add_bias(w, a2, g, n, batch); break;
    default: rc1 = dev_softmax(c, a1, n, batch); rc2 = dev_softmax(w, a2, n, batch); break;
    }
    ck_assert_int_eq(rc1, DEV_OK);
    ck_assert_int_eq(rc2, DEV_OK);
    expect_same(a1, a2, total, what);
    free(x); free(y); free(g); free(a1); free(a2);
}

START_TEST(test_random_op_sequences_bit_identical_to_cpu)
{
    for (int th = 1; th <= 2; th++) {
        char cs[32], ws[32];
        snprintf(cs, sizeof cs, "cpu:threads=%d", th);
        snprintf(ws, sizeof ws, "wse:threads=%d", th);
        dev_device *c = open_dev(cs), *w = open_dev(ws);
        rng_seed(1000 + (uint64_t)th);
        for (int i = 0; i < 400; i++) random_op(c, w, i);
        wse_stats st;
        ck_assert_int_eq(wse_get_stats(w, &st), 0);
        ck_assert_uint_eq(st.ops, 400);
        dev_close(c);
        dev_close(w);
    }
}
END_TEST

// ---------------------------------------------------------------- models

static char g_dir[256];

static void make_model(const char *arch, const char *type, const char *extra, char *path, size_t len)
{
    const char *src = getenv("SPARKD_SRC");
    snprintf(path, len, "%s/%s-%s.gguf", g_dir, arch, type);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/make_test_model.py --arch %s --type %s %s --out %s",
             src ? src : ".", arch, type, extra, path);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static eng_model *load(const char *path, dev_device *d)
{
    char err[512];
    eng_model *m = eng_model_load(path, d, err, sizeof err);
    EXPECT(m != NULL, "%s", err);
    return m;
}

static const int32_t SEQ[12] = { 262, 5, 77, 101, 32, 200, 9, 255, 31, 44, 120, 263 };

/* Prefill 7 (batch 4: two steps), decode 5, roll back to 4, prefill 3:
 * every logit of wse equal to cpu's, bit for bit. */
static void forward_both(const char *arch, const char *type, const char *extra)
{
    char path[300], err[512];
    make_model(arch, type, extra, path, sizeof path);
    dev_device *dc = open_dev("cpu:threads=2"), *dw = open_dev("wse:threads=2,ctx=64");
    eng_model *mc = load(path, dc), *mw = load(path, dw);
    const int V = eng_model_hparams(mc)->n_vocab;
    eng_ctx *cc = eng_ctx_new(mc, 64, 4, err, sizeof err), *cw = eng_ctx_new(mw, 64, 4, err, sizeof err);
    ck_assert_ptr_nonnull(cc);
    ck_assert_ptr_nonnull(cw);
    float *l1 = malloc((size_t)7 * V * 4), *l2 = malloc((size_t)7 * V * 4);
    ck_assert_int_eq(eng_forward(cc, SEQ, 7, l1, 1), 0);
    ck_assert_int_eq(eng_forward(cw, SEQ, 7, l2, 1), 0);
    expect_same(l1, l2, (size_t)7 * V, "prefill");
    for (int t = 7; t < 12; t++) {
        ck_assert_int_eq(eng_forward(cc, SEQ + t, 1, l1, 0), 0);
        ck_assert_int_eq(eng_forward(cw, SEQ + t, 1, l2, 0), 0);
        expect_same(l1, l2, (size_t)V, "decode");
    }
    eng_ctx_truncate(cc, 4);
    eng_ctx_truncate(cw, 4);
    ck_assert_int_eq(eng_forward(cc, SEQ + 8, 3, l1, 1), 0);
    ck_assert_int_eq(eng_forward(cw, SEQ + 8, 3, l2, 1), 0);
    expect_same(l1, l2, (size_t)3 * V, "after rollback");

    wse_stats st;
    wse_placement pl;
    ck_assert_int_eq(wse_get_stats(dw, &st), 0);
    ck_assert_int_eq(wse_get_placement(dw, &pl), 0);
    ck_assert_uint_eq(st.tokens, 7 + 5 + 3);
    ck_assert_uint_eq(st.steps, 2 + 5 + 1);
    EXPECT(st.host_s > 0 && st.proj_cycles > 0, "host %g s, projected %g cycles", st.host_s, st.proj_cycles);
    EXPECT(pl.planned && pl.kv_positions >= 64 && pl.n_kv == eng_model_hparams(mc)->n_layers,
           "placement: planned %d, %d KV positions, %d KV regions", pl.planned, pl.kv_positions, pl.n_kv);
    free(l1); free(l2);
    eng_ctx_free(cc); eng_ctx_free(cw);
    eng_model_free(mc); eng_model_free(mw);
    dev_close(dc); dev_close(dw);
    unlink(path);
}

START_TEST(test_forward_bit_identical_to_cpu_both_archs)
{
    static const char *const TYPES[] = { "F32", "F16", "BF16", "Q8_0", "Q4_0" };
    forward_both(_i < 5 ? "llama" : "qwen2", TYPES[_i % 5], _i % 2 ? "--tied" : "");
}
END_TEST

/* K-quant models (rows of 256), and a Q4_K_M-like mix of types. */
START_TEST(test_forward_kquant_bit_identical_to_cpu)
{
    static const char *const TYPES[] = { "Q4_K", "Q5_K", "Q6_K", "Q4_K_M" };
    forward_both(_i < 4 ? "llama" : "qwen2", TYPES[_i % 4],
                 _i % 2 ? "--dim 256 --ffn 512 --tied" : "--dim 256 --ffn 512");
}
END_TEST

/* The live device's decode step and wse_project's walk of the same shape
 * at the same position: the same placement, the same cycles. */
START_TEST(test_live_decode_step_equals_projection)
{
    char path[300], err[512];
    make_model(_i ? "llama" : "qwen2", "F16", _i ? "--tied --kv-heads 4" : "", path, sizeof path);
    dev_device *d = open_dev("wse:threads=1,ctx=64");
    eng_model *m = load(path, d);
    const eng_hparams *hp = eng_model_hparams(m);
    eng_ctx *c = eng_ctx_new(m, 64, 8, err, sizeof err);
    float *logits = malloc((size_t)hp->n_vocab * 4);
    ck_assert_int_eq(eng_forward(c, SEQ, 7, logits, 0), 0);
    wse_reset_stats(d);
    ck_assert_int_eq(eng_forward(c, SEQ + 7, 1, logits, 0), 0);
    wse_stats live;
    wse_get_stats(d, &live);

    wse_shape s = { "test", hp->arch == ENG_ARCH_QWEN2, hp->dim, hp->n_layers, hp->n_heads, hp->n_kv_heads,
                    hp->head_dim, hp->ffn_dim, hp->n_vocab, hp->tied_output, DEV_F16 };
    wse_config cfg;
    wse_get_config(d, &cfg);
    wse_projection p;
    ck_assert_int_eq(wse_project(&cfg, &s, 7, &p, err, sizeof err), 0);
    EXPECT(fabs(live.proj_cycles - p.step_cycles) <= 1e-9 * p.step_cycles,
           "live step %.3f cycles, projection %.3f", live.proj_cycles, p.step_cycles);
    ck_assert_uint_eq(live.ops, p.step.ops);
    for (int o = 0; o < WSE_N_OPS; o++) ck_assert_uint_eq(live.by_op[o].ops, p.step.by_op[o].ops);
    free(logits);
    eng_ctx_free(c);
    eng_model_free(m);
    dev_close(d);
    unlink(path);
}
END_TEST

// ---------------------------------------------------------------- placement

/* sram_kb=1: 1024 B per PE, 1/12 kept, 939 B of data. A 32x32 F32 matrix
 * (4096 B) takes 5 PEs; a 1-row mesh has 1-row strips, so need is exact. */
static int matmul_on(dev_device *d, const void *W)
{
    float x[32] = { 0 }, y[32];
    return dev_matmul(d, DEV_F32, W, 32, 32, x, 1, y);
}

START_TEST(test_placement_fits_exactly_at_the_boundary)
{
    static float W1[32 * 32], W2[32 * 32];
    dev_device *d = open_dev("wse:geometry=10x1,sram_kb=1,threads=1");
    ck_assert_int_eq(matmul_on(d, W1), DEV_OK);
    ck_assert_int_eq(matmul_on(d, W2), DEV_OK);
    ck_assert_int_eq(matmul_on(d, W1), DEV_OK);          /* placed already */
    wse_placement p;
    wse_get_placement(d, &p);
    ck_assert_int_eq(p.pes_weights, 10);
    ck_assert_int_eq(p.n_matrices, 2);
    dev_close(d);

    d = open_dev("wse:geometry=9x1,sram_kb=1,threads=1");
    ck_assert_int_eq(matmul_on(d, W1), DEV_OK);
    ck_assert_int_eq(matmul_on(d, W2), WSE_ECAPACITY);
    const char *m = dev_errmsg(d);
    EXPECT(strstr(m, "needs") && strstr(m, "short") && strstr(m, "geometry 9x1") &&
           strstr(m, "try wse:wafers=2 or wse:geometry=9x2"), "message: %s", m);
    ck_assert_int_eq(matmul_on(d, W1), DEV_OK);          /* the first still runs */
    dev_close(d);

    /* KV: 16 floats of keys + values per position, 16-bit: 64 B; 14 per PE */
    d = open_dev("wse:geometry=1x1,sram_kb=1,threads=1");
    float q[16] = { 0 }, kv[16 * 16] = { 0 }, out[16];
    ck_assert_int_eq(dev_attention(d, out, q, kv, kv, 1, 1, 16, 13, 1), DEV_OK);
    ck_assert_int_eq(dev_attention(d, out, q, kv, kv, 1, 1, 16, 14, 1), WSE_ECAPACITY);
    EXPECT(strstr(dev_errmsg(d), "15 positions"), "message: %s", dev_errmsg(d));
    dev_close(d);
}
END_TEST

START_TEST(test_projection_capacity_errors_and_fewest_wafers)
{
    wse_config c;
    wse_config_preset(&c, "wse3");
    c.ctx = 8192;
    char err[512];
    wse_projection p;
    const wse_shape *s70 = wse_shape_find("llama-3.1-70b");
    ck_assert_ptr_nonnull(s70);
    ck_assert_int_eq(wse_project(&c, s70, 1024, &p, err, sizeof err), WSE_ECAPACITY);
    EXPECT(strstr(err, "short") && strstr(err, "try wse:wafers=4"), "%s", err);
    c.wafers = 3;
    ck_assert_int_eq(wse_project(&c, s70, 1024, &p, err, sizeof err), WSE_ECAPACITY);
    c.wafers = 0;
    ck_assert_int_eq(wse_project(&c, s70, 1024, &p, err, sizeof err), 0);
    ck_assert_int_eq(p.cfg.wafers, 4);      /* as Cerebras ran it: four CS-3 */
    ck_assert_int_eq(p.place.wafers_used, 4);
    EXPECT(p.place.pes_weights + p.place.pes_kv <= p.place.pes_total, "over-committed");
    ck_assert_ptr_null(wse_shape_find("gpt-5"));
}
END_TEST

/* Cerebras' published single-user decode rates (Aug 2024, WSE-3, 16-bit
 * weights, 8B on one CS-3, 70B on four): within 2x, one set of constants. */
START_TEST(test_projection_reproduces_published_decode_rates)
{
    static const struct { const char *shape; double published; } TABLE[] = {
        { "llama-3.1-8b", 1800 }, { "llama-3.1-70b", 450 },
    };
    for (size_t i = 0; i < 2; i++) {
        wse_config c;
        wse_config_preset(&c, "wse3");
        c.wafers = 0;
        c.ctx = 8192;
        wse_projection p;
        char err[512];
        ck_assert_int_eq(wse_project(&c, wse_shape_find(TABLE[i].shape), 1024, &p, err, sizeof err), 0);
        double r = p.tok_s / TABLE[i].published;
        EXPECT(r >= 0.5 && r <= 2.0, "%s: projected %.0f tok/s vs published %.0f (x%.2f)", TABLE[i].shape,
               p.tok_s, TABLE[i].published, r);
        double sum = 0;
        for (int o = 0; o < WSE_N_OPS; o++)
            for (int b = 0; b < WSE_N_BOUNDS; b++) sum += p.step.by_op[o].cycles[b];
        EXPECT(fabs(sum - p.step_cycles) < 1e-6 * sum, "by-op cycles do not add up");
        ck_assert_uint_eq(p.step.tokens, 1);
    }
}
END_TEST

// ---------------------------------------------------------------- async

typedef struct {
    atomic_int gate;        /* program waits while 0 */
    atomic_int ran;
    const float *W;
    float y[32];
} prog_arg;

static int prog_matmul(dev_device *d, void *p)
{
    prog_arg *a = p;
    while (!atomic_load(&a->gate)) usleep(200);
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)i / 7;
    atomic_fetch_add(&a->ran, 1);
    return dev_matmul(d, DEV_F32, a->W, 32, 32, x, 1, a->y);
}

START_TEST(test_fences_eventfd_cancel_and_busy)
{
    static float W[32 * 32];
    for (int i = 0; i < 32 * 32; i++) W[i] = (float)(i % 13) / 5;
    dev_device *d = open_dev("wse:threads=1");
    int efd = wse_eventfd(d);
    ck_assert_int_ge(efd, 0);
    char err[256];
    prog_arg a1 = { .W = W }, a2 = { .W = W };
    atomic_init(&a1.gate, 0);
    atomic_init(&a2.gate, 1);
    wse_fence *f1 = wse_submit(d, prog_matmul, &a1, err, sizeof err);
    wse_fence *f2 = wse_submit(d, prog_matmul, &a2, err, sizeof err);
    ck_assert_ptr_nonnull(f1);
    ck_assert_ptr_nonnull(f2);

    float x[32] = { 0 }, y[32];
    ck_assert_int_eq(dev_matmul(d, DEV_F32, W, 32, 32, x, 1, y), WSE_EBUSY);   /* not our thread */
    ck_assert_int_eq(wse_cancel(f2), 0);                /* queued behind f1: dropped */
    ck_assert_int_eq(wse_fence_status(f2, NULL), WSE_FENCE_CANCELLED);
    ck_assert_int_eq(wse_fence_wait(f1, 20), WSE_FENCE_RUNNING);
    ck_assert_int_eq(wse_cancel(f1), -1);               /* started: runs to the end */

    atomic_store(&a1.gate, 1);
    struct pollfd pfd = { .fd = efd, .events = POLLIN };
    int rc = -1, done = 0;
    for (int tries = 0; tries < 100 && !done; tries++) {
        ck_assert_int_ge(poll(&pfd, 1, 100), 0);
        uint64_t n;
        if (pfd.revents & POLLIN) ck_assert_int_eq(read(efd, &n, sizeof n), (ssize_t)sizeof n);
        done = wse_fence_status(f1, &rc) == WSE_FENCE_DONE;
    }
    ck_assert(done);
    ck_assert_int_eq(rc, DEV_OK);
    ck_assert_int_eq(atomic_load(&a1.ran), 1);
    ck_assert_int_eq(atomic_load(&a2.ran), 0);

    /* the program's result is what a direct call gives, on cpu too */
    dev_device *c = open_dev("cpu:threads=1");
    for (int i = 0; i < 32; i++) x[i] = (float)i / 7;
    ck_assert_int_eq(dev_matmul(c, DEV_F32, W, 32, 32, x, 1, y), DEV_OK);
    expect_same(y, a1.y, 32, "program result");
    ck_assert_int_eq(dev_matmul(d, DEV_F32, W, 32, 32, x, 1, y), DEV_OK);     /* idle again */
    wse_fence_free(f1);
    wse_fence_free(f2);

    /* a queued program is cancelled by dev_close; a running one finishes */
    prog_arg a3 = { .W = W };
    atomic_init(&a3.gate, 1);
    wse_fence *f3 = wse_submit(d, prog_matmul, &a3, err, sizeof err);
    ck_assert_int_eq(wse_fence_wait(f3, -1), WSE_FENCE_DONE);
    wse_fence_free(f3);
    dev_close(c);
    dev_close(d);
}
END_TEST

// ---------------------------------------------------------------- faults

START_TEST(test_injected_fault_loses_device_until_reset)
{
    static float W[32 * 32];
    for (int i = 0; i < 32 * 32; i++) W[i] = (float)(i % 11) / 3;
    dev_device *d = open_dev("wse:threads=1,fault_after=3"), *c = open_dev("cpu:threads=1");
    float x[32], y[32], yc[32];
    for (int i = 0; i < 32; i++) x[i] = (float)i / 9;
    ck_assert_int_eq(dev_matmul(d, DEV_F32, W, 32, 32, x, 1, y), DEV_OK);
    ck_assert_int_eq(dev_add(d, y, x, 32, 1), DEV_OK);
    ck_assert_int_eq(dev_matmul(d, DEV_F32, W, 32, 32, x, 1, y), WSE_ELOST);
    EXPECT(strstr(dev_errmsg(d), "injected fault at matmul") && strstr(dev_errmsg(d), "wse_reset"),
           "message: %s", dev_errmsg(d));
    ck_assert_int_eq(dev_add(d, y, x, 32, 1), WSE_ELOST);          /* stays lost */
    ck_assert_int_eq(wse_reset(d), 0);
    ck_assert_int_eq(dev_matmul(d, DEV_F32, W, 32, 32, x, 1, y), DEV_OK);
    ck_assert_int_eq(dev_matmul(c, DEV_F32, W, 32, 32, x, 1, yc), DEV_OK);
    expect_same(y, yc, 32, "after reset");
    wse_placement p;
    wse_get_placement(d, &p);
    ck_assert_int_eq(p.n_matrices, 1);                              /* placed again */
    wse_inject_fault(d, 1);
    ck_assert_int_eq(dev_softmax(d, y, 32, 1), WSE_ELOST);
    ck_assert_int_eq(wse_reset(d), 0);
    ck_assert_int_eq(wse_reset(c), -1);                             /* not a wse device */
    dev_close(c);
    dev_close(d);
}
END_TEST

// ---------------------------------------------------------------- main

static Suite *wse_suite(void)
{
    Suite *s = suite_create("wse");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_open_options_info_and_errors);
    tcase_add_test(tc, test_random_op_sequences_bit_identical_to_cpu);
    tcase_add_loop_test(tc, test_forward_bit_identical_to_cpu_both_archs, 0, 10);
    tcase_add_loop_test(tc, test_forward_kquant_bit_identical_to_cpu, 0, 8);
    tcase_add_loop_test(tc, test_live_decode_step_equals_projection, 0, 2);
    tcase_add_test(tc, test_placement_fits_exactly_at_the_boundary);
    tcase_add_test(tc, test_projection_capacity_errors_and_fewest_wafers);
    tcase_add_test(tc, test_projection_reproduces_published_decode_rates);
    tcase_add_test(tc, test_fences_eventfd_cancel_and_busy);
    tcase_add_test(tc, test_injected_fault_loses_device_until_reset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/sparkd-test-wse-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return EXIT_FAILURE;
    int failed = check_failed(wse_suite(), CK_NORMAL);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) failed++;
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
