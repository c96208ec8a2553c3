/* dev_cpu.c — the `cpu` device: the host kernels of kern.h run on a fixed
 * thread pool (pool.h), no emulation. Owns its pool (joined on close) and
 * its scratch: the activations quantized for a quantized matmul, grown on
 * demand and kept, and RoPE's frequency table for the last (head_dim, base).
 *
 * Work splitting: matmul by output rows, attention by (head, token),
 * row-wise ops by rows, element-wise ops by ranges. Small ops run on the
 * caller alone (PAR_MIN_WORK) because waking the workers costs more.
 */
#include "dev_impl.h"
#include "kern.h"
#include "kq.h"
#include "pool.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define PAR_MIN_WORK 32768      /* multiply-adds (or elements) worth a wake-up */
#define ALIGN 64

typedef struct {
    dev_device base;
    dev_pool *pool;
    const kern_ops *k;
    int threads;

    void *act;                  /* quantized activations: q, then d */
    size_t act_cap;

    int rope_hd;                /* inv_freq is for this head_dim and base */
    float rope_base;
    double inv_freq[KERN_MAX_HEAD_DIM / 2];   /* base^(-2i/head_dim) */
} cpu_device;

static cpu_device *cpu(dev_device *d) { return (cpu_device *)d; }

/* Grain so a job of n items, `work` each, splits into a few chunks per thread
 * (dynamic balancing), a multiple of `mult`; or all of it when too small. */
static int64_t grain_for(const cpu_device *d, int64_t n, double work, int64_t mult)
{
    if (d->threads == 1 || (double)n * work < PAR_MIN_WORK)
        return n;
    int64_t g = (n + (int64_t)d->threads * 4 - 1) / ((int64_t)d->threads * 4);
    g = (g + mult - 1) / mult * mult;
    return g < 1 ? 1 : g;
}

/* ---- open / close ------------------------------------------------------- */

static int online_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > MAX_THREADS ? MAX_THREADS : n) : 1;
}

typedef struct { int *threads; const kern_ops **k; } cpu_opts;

/* One "threads=N" or "simd=NAME" option. */
static int cpu_opt(void *ud, const char *opt, const char *val, char *err, size_t errlen)
{
    cpu_opts *o = ud;
    int *threads = o->threads;
    const kern_ops **k = o->k;
    if (!strcmp(opt, "threads")) {
        char *end;
        errno = 0;
        long n = strtol(val, &end, 10);
        if (!*val || *end || errno || n < 0 || n > MAX_THREADS) {
            snprintf(err, errlen, "cpu: threads=%s: expected a number 0..%d (0 = all cores)",
                     val, MAX_THREADS);
            return -1;
        }
        *threads = (int)n;
    } else if (!strcmp(opt, "simd")) {
        if (!(*k = kern_by_name(val))) {
            const kern_ops *best = kern_select();
            snprintf(err, errlen, "cpu: simd=%s: not available here (choose auto, scalar%s%s)",
                     val, best != &kern_scalar ? ", " : "", best != &kern_scalar ? best->name : "");
            return -1;
        }
    } else {
        snprintf(err, errlen, "cpu: unknown option '%s' (known: threads, simd)", opt);
        return -1;
    }
    return 0;
}

/* Parses "threads=N,simd=NAME" into *threads / *k. */
static int parse_opts(const char *opts, int *threads, const kern_ops **k, char *err, size_t errlen)
{
    *threads = 0;
    *k = kern_select();
    cpu_opts o = { threads, k };
    return dev_parse_opts("cpu", opts, "threads=2", cpu_opt, &o, err, errlen);
}

static dev_device *cpu_open(const char *opts, char *err, size_t errlen)
{
    int threads;
    const kern_ops *k;
    if (parse_opts(opts, &threads, &k, err, errlen))
        return NULL;
    cpu_device *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "cpu: out of memory");
        return NULL;
    }
    d->base.impl = &dev_cpu_impl;
    d->k = k;
    d->threads = threads ? threads : online_cpus();
    if (!(d->pool = pool_new(d->threads, err, errlen))) {
        free(d);
        return NULL;
    }
    return &d->base;
}

static void cpu_close(dev_device *dd)
{
    cpu_device *d = cpu(dd);
    pool_free(d->pool);
    free(d->act);
    free(d);
}

static void cpu_info(const dev_device *dd, dev_info *out)
{
    const cpu_device *d = (const cpu_device *)dd;
    out->name = "cpu";
    out->threads = d->threads;
    out->simd = d->k->name;
}

/* ---- matmul ------------------------------------------------------------- */

typedef struct {
    const kern_ops *k;
    const float *x;
    kern_mm *mm;
    kern_mm_fn fn;
    int sums;                   /* also fill mm->xq.s (kq_type.needs_sums) */
} mm_job;

static void quantize_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const mm_job *j = ctx;
    int n = j->mm->n_in, nb = n / KERN_QK;
    for (int64_t t = b; t < e; t++) {
        j->k->quantize_act(j->x + t * n, n, j->mm->xq.q + t * n, j->mm->xq.d + t * nb);
        if (j->sums)
            kq_act_sums(j->mm->xq.q + t * n, j->mm->xq.d + t * nb, n, j->mm->xq.s + t * nb);
    }
}

static void mm_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const mm_job *j = ctx;
    j->fn(j->mm, (int)b, (int)e);
}

/* Makes room for batch rows of n_in quantized activations: q, d and s. */
static int reserve_act(cpu_device *d, kern_mm *mm)
{
    size_t nq = (size_t)mm->batch * (size_t)mm->n_in;
    size_t qbytes = (nq + ALIGN - 1) / ALIGN * ALIGN;
    size_t fbytes = (nq / KERN_QK * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
    size_t need = qbytes + 2 * fbytes;
    if (need > d->act_cap) {
        free(d->act);
        d->act_cap = 0;
        if (!(d->act = aligned_alloc(ALIGN, need)))
            return dev_fail(&d->base, DEV_ENOMEM, "matmul: cannot allocate %zu bytes of activations", need);
        d->act_cap = need;
    }
    mm->xq.q = d->act;
    mm->xq.d = (float *)((char *)d->act + qbytes);
    mm->xq.s = (float *)((char *)d->act + qbytes + fbytes);
    return DEV_OK;
}

static int cpu_matmul(dev_device *dd, dev_dtype wt, const void *W, int n_out, int n_in,
                      const float *X, int batch, float *Y)
{
    cpu_device *d = cpu(dd);
    kern_mm mm = { .w = W, .row_bytes = dev_row_bytes(wt, n_in), .n_in = n_in,
                   .n_out = n_out, .batch = batch, .x = X, .y = Y };
    mm_job j = { .k = d->k, .x = X, .mm = &mm };
    const kq_type *kq = kq_find(wt);
    switch (wt) {
    case DEV_F32: j.fn = d->k->mm_f32; break;
    case DEV_F16: j.fn = d->k->mm_f16; break;
    case DEV_BF16: j.fn = d->k->mm_bf16; break;
    case DEV_Q8_0: j.fn = d->k->mm_q8_0; break;
    case DEV_Q4_0: j.fn = d->k->mm_q4_0; break;
    default: j.fn = kq_mm(kq, d->k); j.sums = kq->needs_sums; break;
    }
    if (wt == DEV_Q8_0 || wt == DEV_Q4_0 || kq) {
        int rc = reserve_act(d, &mm);
        if (rc)
            return rc;
        pool_for(d->pool, batch, grain_for(d, batch, n_in, 1), quantize_task, &j);
    }
    /* Rows in multiples of 16 keep the kernels' row blocks whole. */
    pool_for(d->pool, n_out, grain_for(d, n_out, (double)n_in * batch, 16), mm_task, &j);
    return DEV_OK;
}

static int cpu_get_row(dev_device *dd, dev_dtype t, const void *E, int n, int row, float *out)
{
    const kern_ops *k = cpu(dd)->k;
    const void *src = (const char *)E + (size_t)row * dev_row_bytes(t, n);
    switch (t) {
    case DEV_F32: memcpy(out, src, (size_t)n * sizeof *out); break;
    case DEV_F16: k->f16_to_f32(src, out, n); break;
    case DEV_BF16: k->bf16_to_f32(src, out, n); break;
    case DEV_Q8_0: kern_dequantize_q8_0(src, out, n); break;
    case DEV_Q4_0: kern_dequantize_q4_0(src, out, n); break;
    default: kq_find(t)->dequantize(src, out, n); break;
    }
    return DEV_OK;
}

/* ---- row-wise and element-wise ops -------------------------------------- */

typedef struct {
    const kern_ops *k;
    float *out;
    const float *a, *b;
    int n;
    float eps;
} row_job;

static void rmsnorm_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const row_job *j = ctx;
    for (int64_t t = b; t < e; t++)
        j->k->rmsnorm(j->out + t * j->n, j->a + t * j->n, j->b, j->n, j->eps);
}

static int cpu_rmsnorm(dev_device *dd, float *out, const float *x, const float *w,
                       int n, float eps, int batch)
{
    cpu_device *d = cpu(dd);
    row_job j = { .k = d->k, .out = out, .a = x, .b = w, .n = n, .eps = eps };
    pool_for(d->pool, batch, grain_for(d, batch, n, 1), rmsnorm_task, &j);
    return DEV_OK;
}

static void bias_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const row_job *j = ctx;
    for (int64_t t = b; t < e; t++)
        j->k->add(j->out + t * j->n, j->b, j->n);
}

static int cpu_add_bias(dev_device *dd, float *y, const float *b, int n, int batch)
{
    cpu_device *d = cpu(dd);
    row_job j = { .k = d->k, .out = y, .b = b, .n = n };
    pool_for(d->pool, batch, grain_for(d, batch, n, 1), bias_task, &j);
    return DEV_OK;
}

static void softmax_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const row_job *j = ctx;
    for (int64_t t = b; t < e; t++)
        j->k->softmax(j->out + t * j->n, j->n);
}

static int cpu_softmax(dev_device *dd, float *x, int n, int batch)
{
    cpu_device *d = cpu(dd);
    row_job j = { .k = d->k, .out = x, .n = n };
    pool_for(d->pool, batch, grain_for(d, batch, 4.0 * n, 1), softmax_task, &j);
    return DEV_OK;
}

/* Element ranges [b, e) of the flattened (batch, n) arrays. */
static void swiglu_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const row_job *j = ctx;
    j->k->swiglu(j->out + b, j->a + b, j->b + b, e - b);
}

static void add_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const row_job *j = ctx;
    j->k->add(j->out + b, j->a + b, e - b);
}

static int cpu_swiglu(dev_device *dd, float *out, const float *gate, const float *up, int n, int batch)
{
    cpu_device *d = cpu(dd);
    row_job j = { .k = d->k, .out = out, .a = gate, .b = up };
    int64_t total = (int64_t)n * batch;
    pool_for(d->pool, total, grain_for(d, total, 8, 64), swiglu_task, &j);
    return DEV_OK;
}

static int cpu_add(dev_device *dd, float *y, const float *x, int n, int batch)
{
    cpu_device *d = cpu(dd);
    row_job j = { .k = d->k, .out = y, .a = x };
    int64_t total = (int64_t)n * batch;
    pool_for(d->pool, total, grain_for(d, total, 1, 64), add_task, &j);
    return DEV_OK;
}

/* ---- rope --------------------------------------------------------------- */

typedef struct {
    const cpu_device *d;
    float *x;
    const int32_t *pos;
    int n_heads, hd, neox;
} rope_job;

static void rope_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const rope_job *j = ctx;
    float cs[KERN_MAX_HEAD_DIM];
    for (int64_t t = b; t < e; t++) {
        /* Angles in double: pos * freq loses bits in float at long contexts. */
        for (int i = 0; i < j->hd / 2; i++) {
            double th = (double)j->pos[t] * j->d->inv_freq[i];
            cs[2 * i] = (float)cos(th);
            cs[2 * i + 1] = (float)sin(th);
        }
        kern_rope(j->x + t * j->n_heads * j->hd, j->n_heads, j->hd, cs, j->neox);
    }
}

static int cpu_rope(dev_device *dd, float *x, int n_heads, int head_dim,
                    const int32_t *pos, int batch, float freq_base, int neox)
{
    cpu_device *d = cpu(dd);
    if (d->rope_hd != head_dim || d->rope_base != freq_base) {
        for (int i = 0; i < head_dim / 2; i++)
            d->inv_freq[i] = pow(freq_base, -2.0 * i / head_dim);
        d->rope_hd = head_dim;
        d->rope_base = freq_base;
    }
    rope_job j = { .d = d, .x = x, .pos = pos, .n_heads = n_heads, .hd = head_dim, .neox = neox };
    pool_for(d->pool, batch, grain_for(d, batch, 4.0 * n_heads * head_dim, 1), rope_task, &j);
    return DEV_OK;
}

/* ---- attention ---------------------------------------------------------- */

typedef struct {
    const kern_ops *k;
    float *out;
    const float *q, *kc, *vc;
    int n_heads, n_kv_heads, hd, pos0, batch;
    float scale;
} attn_job;

/* Item i is (K/V head i / batch, token i % batch): the query heads that
 * share a K/V head are one kernel call. */
static void attn_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    const attn_job *j = ctx;
    int dim = j->n_heads * j->hd, kv_dim = j->n_kv_heads * j->hd;
    int group = j->n_heads / j->n_kv_heads;
    for (int64_t i = b; i < e; i++) {
        int g = (int)(i / j->batch), t = (int)(i % j->batch);
        size_t qo = (size_t)t * dim + (size_t)g * group * j->hd, ko = (size_t)g * j->hd;
        j->k->attn_heads(j->out + qo, j->q + qo, group, j->kc + ko, j->vc + ko,
                         j->pos0 + t + 1, kv_dim, j->hd, j->scale);
    }
}

static int cpu_attention(dev_device *dd, float *out, const float *q, const float *k_cache,
                         const float *v_cache, int n_heads, int n_kv_heads, int head_dim,
                         int pos0, int batch)
{
    cpu_device *d = cpu(dd);
    attn_job j = { .k = d->k, .out = out, .q = q, .kc = k_cache, .vc = v_cache,
                   .n_heads = n_heads, .n_kv_heads = n_kv_heads, .hd = head_dim,
                   .pos0 = pos0, .batch = batch, .scale = 1.0f / sqrtf((float)head_dim) };
    int64_t items = (int64_t)n_kv_heads * batch;
    double work = 2.0 * head_dim * (n_heads / n_kv_heads) * (pos0 + (batch + 1) / 2.0);
    int64_t grain = grain_for(d, items, work, 1);
    pool_for(d->pool, items, grain < items ? 1 : grain, attn_task, &j);
    return DEV_OK;
}

/* ---- bandwidth probe ---------------------------------------------------- */

#define PROBE_CHUNK (1 << 20)
#define PROBE_PASSES 5

typedef struct {
    const kern_ops *k;
    char *buf;
    _Atomic uint64_t sink;
} probe_job;

static void touch_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    probe_job *j = ctx;
    memset(j->buf + b * PROBE_CHUNK, (int)(b & 0xff), (size_t)(e - b) * PROBE_CHUNK);
}

static void read_task(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    probe_job *j = ctx;
    uint64_t s = j->k->stream_read(j->buf + b * PROBE_CHUNK, (size_t)(e - b) * PROBE_CHUNK);
    atomic_fetch_add_explicit(&j->sink, s, memory_order_relaxed);
}

static double cpu_probe_bandwidth(dev_device *dd, size_t bytes)
{
    cpu_device *d = cpu(dd);
    if (bytes == 0)
        bytes = (size_t)256 << 20;
    int64_t chunks = (int64_t)((bytes + PROBE_CHUNK - 1) / PROBE_CHUNK);
    probe_job j = { .k = d->k, .buf = aligned_alloc(4096, (size_t)chunks * PROBE_CHUNK) };
    if (!j.buf)
        return dev_fail(dd, DEV_ENOMEM, "probe_bandwidth: cannot allocate %lld MiB",
                        (long long)chunks);
    /* Touch in parallel so the pages exist before timing (and are spread as
     * the threads will read them). */
    pool_for(d->pool, chunks, 4, touch_task, &j);
    double best = 0;
    for (int pass = 0; pass < PROBE_PASSES; pass++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pool_for(d->pool, chunks, 4, read_task, &j);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        double gbs = (double)chunks * PROBE_CHUNK / s * 1e-9;
        if (gbs > best)
            best = gbs;
    }
    free(j.buf);
    return best;
}

/* ---- the table ---------------------------------------------------------- */

const dev_impl dev_cpu_impl = {
    .name = "cpu",
    .open = cpu_open, .close = cpu_close, .info = cpu_info,
    .matmul = cpu_matmul, .get_row = cpu_get_row,
    .rmsnorm = cpu_rmsnorm, .rope = cpu_rope, .attention = cpu_attention,
    .swiglu = cpu_swiglu, .add = cpu_add, .add_bias = cpu_add_bias, .softmax = cpu_softmax,
    .probe_bandwidth = cpu_probe_bandwidth,
};
