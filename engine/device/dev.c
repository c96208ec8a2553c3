/* dev.c — the device API's front: opening a device by spec, the dtype
 * tables and (de)quantizers, and argument checking for every op before it is
 * handed to the device implementation (dev_impl.h). Owns nothing itself.
 */
#include "dev_impl.h"
#include "kern.h"
#include "kq.h"

#include <stdio.h>
#include <string.h>

/* ---- devices ------------------------------------------------------------ */

static const dev_impl *const impls[] = { &dev_cpu_impl, &dev_wse_impl };
#define N_IMPLS (sizeof impls / sizeof impls[0])

dev_device *dev_open(const char *spec, char *err, size_t errlen)
{
    if (!spec || !*spec) {
        snprintf(err, errlen, "empty device spec (expected e.g. \"cpu\" or \"cpu:threads=2\")");
        return NULL;
    }
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    for (size_t i = 0; i < N_IMPLS; i++)
        if (strlen(impls[i]->name) == name_len && !strncmp(spec, impls[i]->name, name_len))
            return impls[i]->open(colon ? colon + 1 : "", err, errlen);
    char avail[128] = "";
    for (size_t i = 0; i < N_IMPLS; i++)
        snprintf(avail + strlen(avail), sizeof avail - strlen(avail), "%s%s", i ? ", " : "",
                 impls[i]->name);
    snprintf(err, errlen, "unknown device '%.*s' (available: %s)", (int)(name_len > 64 ? 64 : name_len),
             spec, avail);
    return NULL;
}

void dev_close(dev_device *d)
{
    if (d)
        d->impl->close(d);
}

void dev_get_info(const dev_device *d, dev_info *out)
{
    d->impl->info(d, out);
}

const char *dev_errmsg(const dev_device *d)
{
    return d->errmsg;
}

int dev_fail(dev_device *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof d->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- dtypes ------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t block, bytes;        /* elements and bytes per block */
} dtype_desc;

static const struct {
    dev_dtype t;
    dtype_desc d;
} dtypes[] = {
    { DEV_F32, { "F32", 1, 4 } },
    { DEV_F16, { "F16", 1, 2 } },
    { DEV_BF16, { "BF16", 1, 2 } },
    { DEV_Q8_0, { "Q8_0", KERN_QK, sizeof(kern_block_q8_0) } },
    { DEV_Q4_0, { "Q4_0", KERN_QK, sizeof(kern_block_q4_0) } },
};

/* The storage of t: the table above, else the K-quant's (kq.h). Returns 0
 * for an unknown type. */
static int dtype_get(dev_dtype t, dtype_desc *out)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].t == t) {
            *out = dtypes[i].d;
            return 1;
        }
    const kq_type *q = kq_find(t);
    if (q)
        *out = (dtype_desc){ q->name, KQ_K, q->block_bytes };
    return q != NULL;
}

size_t dev_dtype_block(dev_dtype t)
{
    dtype_desc d;
    return dtype_get(t, &d) ? d.block : 0;
}

size_t dev_dtype_block_bytes(dev_dtype t)
{
    dtype_desc d;
    return dtype_get(t, &d) ? d.bytes : 0;
}

const char *dev_dtype_name(dev_dtype t)
{
    dtype_desc d;
    return dtype_get(t, &d) ? d.name : "unknown";
}

size_t dev_row_bytes(dev_dtype t, int64_t n)
{
    dtype_desc d;
    if (!dtype_get(t, &d) || n < 0 || n % (int64_t)d.block || n > (INT64_MAX / 4))
        return 0;
    return (size_t)(n / (int64_t)d.block) * d.bytes;
}

size_t dev_quantize(dev_dtype t, const float *src, void *dst, int64_t n)
{
    size_t bytes = dev_row_bytes(t, n);
    if (!bytes || !src || !dst)
        return 0;
    switch (t) {
    case DEV_F32: memcpy(dst, src, bytes); break;
    case DEV_F16: kern_scalar.f32_to_f16(src, dst, n); break;   /* = F16C, bit for bit */
    case DEV_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = kern_f32_to_bf16_1(src[i]);
        break;
    case DEV_Q8_0: kern_quantize_q8_0(src, dst, n); break;
    case DEV_Q4_0: kern_quantize_q4_0(src, dst, n); break;
    default: kq_find(t)->quantize(src, dst, n); break;
    }
    return bytes;
}

size_t dev_dequantize(dev_dtype t, const void *src, float *dst, int64_t n)
{
    if (!dev_row_bytes(t, n) || !src || !dst)
        return 0;
    switch (t) {
    case DEV_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case DEV_F16: kern_scalar.f16_to_f32(src, dst, n); break;
    case DEV_BF16: kern_scalar.bf16_to_f32(src, dst, n); break;
    case DEV_Q8_0: kern_dequantize_q8_0(src, dst, n); break;
    case DEV_Q4_0: kern_dequantize_q4_0(src, dst, n); break;
    default: kq_find(t)->dequantize(src, dst, n); break;
    }
    return (size_t)n;
}

/* ---- ops: check, then dispatch ------------------------------------------ */

#define CHECK(d, cond, ...) \
    do { if (!(cond)) return dev_fail((d), DEV_EINVAL, __VA_ARGS__); } while (0)

int dev_matmul(dev_device *d, dev_dtype wt, const void *W, int n_out, int n_in,
               const float *X, int batch, float *Y)
{
    CHECK(d, W && X && Y, "matmul: NULL buffer");
    CHECK(d, dev_dtype_block(wt) > 0, "matmul: unsupported weight type %d", (int)wt);
    CHECK(d, n_out > 0 && n_in > 0 && batch > 0, "matmul: bad shape n_out=%d n_in=%d batch=%d",
          n_out, n_in, batch);
    CHECK(d, dev_row_bytes(wt, n_in), "matmul: n_in=%d is not a multiple of %s's block of %zu",
          n_in, dev_dtype_name(wt), dev_dtype_block(wt));
    return d->impl->matmul(d, wt, W, n_out, n_in, X, batch, Y);
}

int dev_get_row(dev_device *d, dev_dtype t, const void *E, int n, int row, float *out)
{
    CHECK(d, E && out, "get_row: NULL buffer");
    CHECK(d, dev_dtype_block(t) > 0, "get_row: unsupported type %d", (int)t);
    CHECK(d, n > 0 && row >= 0, "get_row: bad n=%d row=%d", n, row);
    CHECK(d, dev_row_bytes(t, n), "get_row: n=%d is not a multiple of %s's block of %zu",
          n, dev_dtype_name(t), dev_dtype_block(t));
    return d->impl->get_row(d, t, E, n, row, out);
}

int dev_rmsnorm(dev_device *d, float *out, const float *x, const float *w,
                int n, float eps, int batch)
{
    CHECK(d, out && x, "rmsnorm: NULL buffer");
    CHECK(d, n > 0 && batch > 0, "rmsnorm: bad shape n=%d batch=%d", n, batch);
    CHECK(d, eps >= 0, "rmsnorm: eps must be >= 0");
    return d->impl->rmsnorm(d, out, x, w, n, eps, batch);
}

int dev_rope(dev_device *d, float *x, int n_heads, int head_dim,
             const int32_t *pos, int batch, float freq_base, int neox)
{
    CHECK(d, x && pos, "rope: NULL buffer");
    CHECK(d, n_heads > 0 && batch > 0, "rope: bad shape n_heads=%d batch=%d", n_heads, batch);
    CHECK(d, head_dim > 0 && head_dim % 2 == 0 && head_dim <= KERN_MAX_HEAD_DIM,
          "rope: head_dim=%d must be even and <= %d", head_dim, KERN_MAX_HEAD_DIM);
    CHECK(d, freq_base > 0, "rope: freq_base must be > 0");
    return d->impl->rope(d, x, n_heads, head_dim, pos, batch, freq_base, neox != 0);
}

int dev_attention(dev_device *d, float *out, const float *q,
                  const float *k_cache, const float *v_cache,
                  int n_heads, int n_kv_heads, int head_dim, int pos0, int batch)
{
    CHECK(d, out && q && k_cache && v_cache, "attention: NULL buffer");
    CHECK(d, n_heads > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0,
          "attention: n_heads=%d must be a positive multiple of n_kv_heads=%d", n_heads, n_kv_heads);
    CHECK(d, head_dim > 0 && head_dim <= KERN_MAX_HEAD_DIM,
          "attention: head_dim=%d must be 1..%d", head_dim, KERN_MAX_HEAD_DIM);
    CHECK(d, pos0 >= 0 && batch > 0 && pos0 <= INT32_MAX - batch,
          "attention: bad pos0=%d batch=%d", pos0, batch);
    return d->impl->attention(d, out, q, k_cache, v_cache, n_heads, n_kv_heads, head_dim, pos0, batch);
}

int dev_swiglu(dev_device *d, float *out, const float *gate, const float *up, int n, int batch)
{
    CHECK(d, out && gate && up, "swiglu: NULL buffer");
    CHECK(d, n > 0 && batch > 0, "swiglu: bad shape n=%d batch=%d", n, batch);
    return d->impl->swiglu(d, out, gate, up, n, batch);
}

int dev_add(dev_device *d, float *y, const float *x, int n, int batch)
{
    CHECK(d, y && x, "add: NULL buffer");
    CHECK(d, n > 0 && batch > 0, "add: bad shape n=%d batch=%d", n, batch);
    return d->impl->add(d, y, x, n, batch);
}

int dev_add_bias(dev_device *d, float *y, const float *b, int n, int batch)
{
    CHECK(d, y && b, "add_bias: NULL buffer");
    CHECK(d, n > 0 && batch > 0, "add_bias: bad shape n=%d batch=%d", n, batch);
    return d->impl->add_bias(d, y, b, n, batch);
}

int dev_softmax(dev_device *d, float *x, int n, int batch)
{
    CHECK(d, x, "softmax: NULL buffer");
    CHECK(d, n > 0 && batch > 0, "softmax: bad shape n=%d batch=%d", n, batch);
    return d->impl->softmax(d, x, n, batch);
}

double dev_probe_bandwidth(dev_device *d, size_t bytes)
{
    return d->impl->probe_bandwidth(d, bytes);
}

int dev_parse_opts(const char *name, const char *opts, const char *example, dev_opt_fn fn, void *ud,
                   char *err, size_t errlen)
{
    for (const char *p = opts; *p;) {
        size_t len = strcspn(p, ",");
        char opt[96];
        if (len >= sizeof opt) {
            snprintf(err, errlen, "%s: option too long: '%.*s...'", name, 32, p);
            return -1;
        }
        memcpy(opt, p, len);
        opt[len] = 0;
        p += len + (p[len] == ',');
        char *val = strchr(opt, '=');
        if (!val) {
            snprintf(err, errlen, "%s: option '%s' needs a value (e.g. %s)", name, opt, example);
            return -1;
        }
        *val++ = 0;
        if (fn(ud, opt, val, err, errlen)) return -1;
    }
    return 0;
}
