/* dev_impl.h — what a device implementation provides behind dev.h (private
 * to engine/device/). dev.c parses the spec, checks every argument, then
 * calls the implementation through this table, so implementations may
 * assume valid shapes, known types and non-NULL buffers. A new device (the
 * emulated `wse`) is one more dev_impl and one more line in dev.c's list.
 */
#ifndef SPARKD_DEV_IMPL_H
#define SPARKD_DEV_IMPL_H

#include "dev.h"

#include <stdarg.h>

typedef struct dev_impl {
    const char *name;   /* the spec's device name: "cpu" */
    /* opts: the spec after "name:" ("" if none). NULL + err on failure. */
    dev_device *(*open)(const char *opts, char *err, size_t errlen);
    void (*close)(dev_device *d);
    void (*info)(const dev_device *d, dev_info *out);
    /* The ops of dev.h, same arguments, already validated. */
    int (*matmul)(dev_device *d, dev_dtype wt, const void *W, int n_out, int n_in,
                  const float *X, int batch, float *Y);
    int (*get_row)(dev_device *d, dev_dtype t, const void *E, int n, int row, float *out);
    int (*rmsnorm)(dev_device *d, float *out, const float *x, const float *w,
                   int n, float eps, int batch);
    int (*rope)(dev_device *d, float *x, int n_heads, int head_dim,
                const int32_t *pos, int batch, float freq_base, int neox);
    int (*attention)(dev_device *d, float *out, const float *q, const float *k_cache,
                     const float *v_cache, int n_heads, int n_kv_heads, int head_dim,
                     int pos0, int batch);
    int (*swiglu)(dev_device *d, float *out, const float *gate, const float *up, int n, int batch);
    int (*add)(dev_device *d, float *y, const float *x, int n, int batch);
    int (*add_bias)(dev_device *d, float *y, const float *b, int n, int batch);
    int (*softmax)(dev_device *d, float *x, int n, int batch);
    double (*probe_bandwidth)(dev_device *d, size_t bytes);
} dev_impl;

/* The head of every implementation's device struct. */
struct dev_device {
    const dev_impl *impl;
    char errmsg[256];   /* the last failure, for dev_errmsg */
};

/* Records a failure on d (printf-style) and returns code. */
int dev_fail(dev_device *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Splits a device's "key=value,key=value" options and calls fn for each, in
 * order. name is the device (for messages), example a valid option shown
 * when a value is missing. Returns 0, or -1 with err set (fn sets it when it
 * refuses an option). */
typedef int (*dev_opt_fn)(void *ud, const char *key, const char *val, char *err, size_t errlen);
int dev_parse_opts(const char *name, const char *opts, const char *example, dev_opt_fn fn, void *ud,
                   char *err, size_t errlen);

extern const dev_impl dev_cpu_impl;
extern const dev_impl dev_wse_impl;

#endif
