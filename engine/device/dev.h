/* dev.h — the device driver API: every tensor operation of the engine goes
 * through a dev_device. Today: `cpu` (host kernels on a small fixed thread
 * pool). The emulated wafer-scale `wse` device (issue 4) implements the same
 * calls and adds placement, a cycle model and asynchronous submission.
 *
 * Tensors are plain row-major arrays. Weight matrices keep their GGUF storage
 * type and stay where they are (mmap'd file): W is (n_out, n_in) with rows of
 * n_in elements, i.e. GGUF ne[0] = n_in, ne[1] = n_out. Activations are F32.
 */
#ifndef SPARKD_DEV_H
#define SPARKD_DEV_H

#include <stddef.h>
#include <stdint.h>

/* Storage types, numbered as ggml numbers them (so GGUF values map 1:1). */
typedef enum {
    DEV_F32  = 0,
    DEV_F16  = 1,
    DEV_Q4_0 = 2,
    DEV_Q8_0 = 8,
    DEV_BF16 = 30,
} dev_dtype;

typedef struct dev_device dev_device;

typedef struct {
    const char *name;       /* "cpu" */
    int threads;            /* worker threads used by kernels */
    const char *simd;       /* kernel set chosen at run time: "avx512", "avx2", "neon", "scalar" */
} dev_info;

/* Opens a device by spec: "cpu" or "cpu:threads=N" (N=0: all cores).
 * Returns NULL and writes a reason into err on failure. */
dev_device *dev_open(const char *spec, char *err, size_t errlen);
void dev_close(dev_device *d);
void dev_get_info(const dev_device *d, dev_info *out);

/* Storage helpers for a dtype: elements per block and bytes per block
 * (F32: 1/4, F16: 1/2, BF16: 1/2, Q8_0: 32/34, Q4_0: 32/18). Returns 0 for an
 * unknown type. */
size_t dev_dtype_block(dev_dtype t);
size_t dev_dtype_block_bytes(dev_dtype t);
const char *dev_dtype_name(dev_dtype t);
/* Bytes of a row of n elements (n must be a multiple of the block size). */
size_t dev_row_bytes(dev_dtype t, int64_t n);

/* Y(batch, n_out) = X(batch, n_in) · W(n_out, n_in)^T, W of type wt.
 * Quantized weights multiply against activations quantized to Q8_0 blocks
 * (the documented accuracy bound of the quantized path). */
void dev_matmul(dev_device *d, dev_dtype wt, const void *W, int n_out, int n_in,
                const float *X, int batch, float *Y);

/* out(n) = row `row` of the table E(rows, n) of type t, converted to F32. */
void dev_get_row(dev_device *d, dev_dtype t, const void *E, int n, int row, float *out);

#endif
