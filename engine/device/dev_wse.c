/* dev_wse.c — the `wse` device: an emulated wafer-scale processor.
 *
 * Every op is computed by a `cpu` device it owns (same kernels, so results
 * are bit-identical to `cpu`), timed on the host, and accounted by the
 * cycle model (wse_cycle.c) against the placement of its data (wse_place.c).
 * Measured host time and projected wafer time go to separate counters.
 * Owns: the host device, the accounting state, the async thread (wse_async.c).
 */
#include "wse_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const dev_impl dev_wse_impl;

wse_device *wse_dev(const dev_device *d)
{
    return d && d->impl == &dev_wse_impl ? (wse_device *)d : NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------- options

/* Parses val as a number in [lo, hi] into *out; -1 with err on failure. */
static int parse_num(const char *key, const char *val, double lo, double hi, double *out,
                     char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (!*val || *end || errno || !(v >= lo && v <= hi)) {
        snprintf(err, errlen, "wse: %s=%s: expected a number in [%g, %g]", key, val, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Applies one "key=val" to c (preset is applied before, by the caller). */
static int apply_opt(wse_config *c, const char *key, const char *val, char *host, size_t hostlen,
                     uint64_t *fault, char *err, size_t errlen)
{
    double v;
    if (!strcmp(key, "preset")) return 0;
    if (!strcmp(key, "geometry")) {
        int w, h, n;
        if (sscanf(val, "%dx%d%n", &w, &h, &n) != 2 || val[n] || w < 1 || h < 1 || w > 65536 || h > 65536) {
            snprintf(err, errlen, "wse: geometry=%s: expected WxH, e.g. 948x950 (1..65536 each)", val);
            return -1;
        }
        c->width = w;
        c->height = h;
        return 0;
    }
    if (!strcmp(key, "threads") || !strcmp(key, "simd")) {
        size_t len = strlen(host);
        snprintf(host + len, hostlen - len, "%s%s=%s", len > 4 ? "," : "", key, val);
        return 0;
    }
    if (!strcmp(key, "wafers")) {
        if (parse_num(key, val, 1, 1024, &v, err, errlen)) return -1;
        c->wafers = (int)v;
    } else if (!strcmp(key, "sram_kb")) {
        if (parse_num(key, val, 1, 1024, &v, err, errlen)) return -1;
        c->sram_bytes = (uint32_t)(v * 1024);
        c->reserve_bytes = c->sram_bytes / 12;
    } else if (!strcmp(key, "clock_ghz")) {
        if (parse_num(key, val, 0.001, 100, &v, err, errlen)) return -1;
        c->clock_hz = v * 1e9;
    } else if (!strcmp(key, "fma")) {
        if (parse_num(key, val, 0.01, 4096, &v, err, errlen)) return -1;
        c->fma_per_cycle = v;
    } else if (!strcmp(key, "ctx")) {
        if (parse_num(key, val, 1, 1 << 24, &v, err, errlen)) return -1;
        c->ctx = (int)v;
    } else if (!strcmp(key, "fault_after")) {
        if (parse_num(key, val, 0, 1e15, &v, err, errlen)) return -1;
        *fault = (uint64_t)v;
    } else {
        snprintf(err, errlen, "wse: unknown option '%s' (known: preset, geometry, wafers, sram_kb, "
                 "clock_ghz, fma, ctx, threads, simd, fault_after)", key);
        return -1;
    }
    return 0;
}

typedef struct { wse_config *c; char *host; size_t hostlen; uint64_t *fault; } wse_opts;

static int wse_opt(void *ud, const char *key, const char *val, char *err, size_t errlen)
{
    wse_opts *o = ud;
    return apply_opt(o->c, key, val, o->host, o->hostlen, o->fault, err, errlen);
}

/* Parses "k=v,k=v" into c and the host device's spec ("cpu:..."). */
static int parse_opts(const char *opts, wse_config *c, char *host, size_t hostlen, uint64_t *fault,
                      char *err, size_t errlen)
{
    const char *preset = "wse3";
    char presetbuf[16];
    for (const char *p = strstr(opts, "preset="); p; p = strstr(p + 1, "preset="))
        if (p == opts || p[-1] == ',') {
            size_t len = strcspn(p + 7, ",");
            snprintf(presetbuf, sizeof presetbuf, "%.*s", (int)(len < 15 ? len : 15), p + 7);
            preset = presetbuf;
        }
    if (wse_config_preset(c, preset)) {
        snprintf(err, errlen, "wse: preset=%s: unknown (choose wse3 or wse2)", preset);
        return -1;
    }
    snprintf(host, hostlen, "cpu:");
    *fault = 0;
    wse_opts o = { c, host, hostlen, fault };
    if (dev_parse_opts("wse", opts, "geometry=948x950", wse_opt, &o, err, errlen)) return -1;
    if (!strcmp(host, "cpu:")) host[3] = 0;
    return 0;
}

// ---------------------------------------------------------------- open / close

static dev_device *wse_open(const char *opts, char *err, size_t errlen)
{
    wse_config cfg;
    char host_spec[128];
    uint64_t fault;
    if (parse_opts(opts, &cfg, host_spec, sizeof host_spec, &fault, err, errlen)) return NULL;
    wse_device *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "wse: out of memory");
        return NULL;
    }
    d->base.impl = &dev_wse_impl;
    if (wse_acct_init(&d->acct, &cfg, err, errlen)) {
        free(d);
        return NULL;
    }
    char herr[256];
    if (!(d->host = dev_open(host_spec, herr, sizeof herr))) {
        snprintf(err, errlen, "wse: host kernels: %s", herr);
        wse_acct_free(&d->acct);
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    atomic_init(&d->busy, 0);
    d->fault_in = fault;
    return &d->base;
}

static void wse_close(dev_device *dd)
{
    wse_device *d = (wse_device *)dd;
    wse_async_free(d);
    dev_close(d->host);
    wse_acct_free(&d->acct);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static void wse_info(const dev_device *dd, dev_info *out)
{
    dev_get_info(((const wse_device *)dd)->host, out);
    out->name = "wse";
}

// ---------------------------------------------------------------- op frame

/* Checks the device may run an op now: not lost, not busy with programs on
 * another thread, no injected fault due. */
static int op_begin(wse_device *d, const char *op)
{
    if (atomic_load_explicit(&d->busy, memory_order_acquire) && !wse_async_on_worker(d))
        return dev_fail(&d->base, WSE_EBUSY, "wse: %s: programs are running on the device; "
                        "wait for their fences first", op);
    if (d->lost)
        return dev_fail(&d->base, WSE_ELOST, "wse: %s: device lost (%s); wse_reset() brings it back",
                        op, d->lost_why);
    if (d->fault_in && --d->fault_in == 0) {
        d->lost = 1;
        snprintf(d->lost_why, sizeof d->lost_why, "injected fault at %s", op);
        return dev_fail(&d->base, WSE_ELOST, "wse: %s: device lost (%s); wse_reset() brings it back",
                        op, d->lost_why);
    }
    return DEV_OK;
}

/* The host op's code, with its message carried over on failure. */
static int host_rc(wse_device *d, int rc)
{
    return rc == DEV_OK ? rc : dev_fail(&d->base, rc, "%s", dev_errmsg(d->host));
}

static int capacity_fail(wse_device *d, const char *op)
{
    int rc = dev_fail(&d->base, WSE_ECAPACITY, "wse: %s: %s", op, d->acct.err);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

#define BEGIN(name) wse_device *d = (wse_device *)dd; \
    int rc_ = op_begin(d, name); if (rc_) return rc_; double t0_ = now_s()
#define HOST(call) int rc = host_rc(d, (call)); double host_ = now_s() - t0_; if (rc) return rc

// ---------------------------------------------------------------- ops

static int wse_matmul(dev_device *dd, dev_dtype wt, const void *W, int n_out, int n_in,
                      const float *X, int batch, float *Y)
{
    BEGIN("matmul");
    pthread_mutex_lock(&d->mu);
    const wse_region *r = wse_matrix(&d->acct, W, wt, n_out, n_in);
    if (!r) return capacity_fail(d, "matmul");
    pthread_mutex_unlock(&d->mu);
    t0_ = now_s();
    HOST(dev_matmul(d->host, wt, W, n_out, n_in, X, batch, Y));
    pthread_mutex_lock(&d->mu);
    wse_acct_matmul(&d->acct, r, batch, host_);
    pthread_mutex_unlock(&d->mu);
    return DEV_OK;
}

static int wse_get_row(dev_device *dd, dev_dtype t, const void *E, int n, int row, float *out)
{
    BEGIN("get_row");
    HOST(dev_get_row(d->host, t, E, n, row, out));
    pthread_mutex_lock(&d->mu);
    if (wse_acct_starts_step(&d->acct) && d->acct.dirty)
        wse_plan(&d->acct, 0);      /* if it fails, the packed placement stays */
    wse_acct_get_row(&d->acct, E, n, host_);
    pthread_mutex_unlock(&d->mu);
    return DEV_OK;
}

static int wse_attention(dev_device *dd, float *out, const float *q, const float *k_cache,
                         const float *v_cache, int n_heads, int n_kv_heads, int head_dim,
                         int pos0, int batch)
{
    BEGIN("attention");
    pthread_mutex_lock(&d->mu);
    const wse_region *kv = wse_kv(&d->acct, k_cache, n_heads, n_kv_heads, head_dim, pos0 + batch);
    if (!kv) return capacity_fail(d, "attention");
    pthread_mutex_unlock(&d->mu);
    t0_ = now_s();
    HOST(dev_attention(d->host, out, q, k_cache, v_cache, n_heads, n_kv_heads, head_dim, pos0, batch));
    pthread_mutex_lock(&d->mu);
    wse_acct_attention(&d->acct, kv, pos0, batch, host_);
    pthread_mutex_unlock(&d->mu);
    return DEV_OK;
}

/* Element-wise and row ops: host op, then the vector op's cycles. */
#define ROW_ACCT(call) do { pthread_mutex_lock(&d->mu); call; pthread_mutex_unlock(&d->mu); } while (0)

static int wse_rmsnorm(dev_device *dd, float *out, const float *x, const float *w, int n, float eps, int batch)
{
    BEGIN("rmsnorm");
    HOST(dev_rmsnorm(d->host, out, x, w, n, eps, batch));
    ROW_ACCT(wse_acct_rmsnorm(&d->acct, n, batch, host_));
    return DEV_OK;
}

static int wse_rope(dev_device *dd, float *x, int n_heads, int head_dim, const int32_t *pos, int batch,
                    float freq_base, int neox)
{
    BEGIN("rope");
    HOST(dev_rope(d->host, x, n_heads, head_dim, pos, batch, freq_base, neox));
    ROW_ACCT(wse_acct_elementwise(&d->acct, n_heads * head_dim, batch, WSE_FLOPS_ROPE, host_));
    return DEV_OK;
}

static int wse_swiglu(dev_device *dd, float *out, const float *gate, const float *up, int n, int batch)
{
    BEGIN("swiglu");
    HOST(dev_swiglu(d->host, out, gate, up, n, batch));
    ROW_ACCT(wse_acct_elementwise(&d->acct, n, batch, WSE_FLOPS_SWIGLU, host_));
    return DEV_OK;
}

static int wse_add(dev_device *dd, float *y, const float *x, int n, int batch)
{
    BEGIN("add");
    HOST(dev_add(d->host, y, x, n, batch));
    ROW_ACCT(wse_acct_elementwise(&d->acct, n, batch, WSE_FLOPS_ADD, host_));
    return DEV_OK;
}

static int wse_add_bias(dev_device *dd, float *y, const float *b, int n, int batch)
{
    BEGIN("add_bias");
    HOST(dev_add_bias(d->host, y, b, n, batch));
    ROW_ACCT(wse_acct_elementwise(&d->acct, n, batch, WSE_FLOPS_ADD, host_));
    return DEV_OK;
}

static int wse_softmax(dev_device *dd, float *x, int n, int batch)
{
    BEGIN("softmax");
    HOST(dev_softmax(d->host, x, n, batch));
    ROW_ACCT(wse_acct_softmax(&d->acct, n, batch, host_));
    return DEV_OK;
}

/* The host's memory, which is what feeds the host kernels. */
static double wse_probe_bandwidth(dev_device *dd, size_t bytes)
{
    wse_device *d = (wse_device *)dd;
    double gbs = dev_probe_bandwidth(d->host, bytes);
    if (gbs < 0) dev_fail(dd, DEV_ENOMEM, "%s", dev_errmsg(d->host));
    return gbs;
}

// ---------------------------------------------------------------- wse.h

int wse_get_config(const dev_device *dd, wse_config *out)
{
    const wse_device *d = wse_dev(dd);
    if (!d) return -1;
    *out = d->acct.cfg;
    return 0;
}

int wse_get_stats(const dev_device *dd, wse_stats *out)
{
    wse_device *d = wse_dev(dd);
    if (!d) return -1;
    pthread_mutex_lock(&d->mu);
    wse_acct_stats(&d->acct, out);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void wse_reset_stats(dev_device *dd)
{
    wse_device *d = wse_dev(dd);
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    wse_acct_reset_stats(&d->acct);
    pthread_mutex_unlock(&d->mu);
}

int wse_get_placement(const dev_device *dd, wse_placement *out)
{
    wse_device *d = wse_dev(dd);
    if (!d) return -1;
    pthread_mutex_lock(&d->mu);
    wse_placement_of(&d->acct, out);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void wse_inject_fault(dev_device *dd, uint64_t n)
{
    wse_device *d = wse_dev(dd);
    if (d) d->fault_in = n;
}

int wse_lost(const dev_device *dd)
{
    const wse_device *d = wse_dev(dd);
    return d && d->lost;
}

int wse_reset(dev_device *dd)
{
    wse_device *d = wse_dev(dd);
    if (!d || atomic_load(&d->busy)) return -1;
    pthread_mutex_lock(&d->mu);
    wse_acct_clear(&d->acct);
    pthread_mutex_unlock(&d->mu);
    d->lost = 0;
    d->fault_in = 0;
    d->lost_why[0] = 0;
    d->base.errmsg[0] = 0;
    return 0;
}

// ---------------------------------------------------------------- the table

const dev_impl dev_wse_impl = {
    .name = "wse",
    .open = wse_open, .close = wse_close, .info = wse_info,
    .matmul = wse_matmul, .get_row = wse_get_row,
    .rmsnorm = wse_rmsnorm, .rope = wse_rope, .attention = wse_attention,
    .swiglu = wse_swiglu, .add = wse_add, .add_bias = wse_add_bias, .softmax = wse_softmax,
    .probe_bandwidth = wse_probe_bandwidth,
};
