/* dev.h — the device driver API: every tensor operation of the engine goes
 * through a dev_device. Today: `cpu` (host kernels on a small fixed thread
 * pool). The emulated wafer-scale `wse` device (issue 4) implements the same
 * calls and adds placement, a cycle model and asynchronous submission.
 *
 * Tensors are plain row-major arrays. Weight matrices keep their GGUF storage
 * type and stay where they are (mmap'd file): W is (n_out, n_in) with rows of
 * n_in elements, i.e. GGUF ne[0] = n_in, ne[1] = n_out. Activations are F32.
 * "x(batch, n)" below means `batch` rows of `n` floats, row t at x + t*n.
 *
 * Results are deterministic on a given device (kernel set), and a token's
 * results depend neither on the thread count nor on the other tokens of its
 * batch, bit for bit: a batched forward (prefill, speculative verification)
 * gives each token exactly what a one-token step would, so greedy
 * speculative decoding is exact.
 *
 * Ops are synchronous: they return when the result is written. A device is
 * driven by one thread at a time (the engine's device thread); the cpu
 * device's pool threads work for that caller only. Ops return DEV_OK or a
 * negative DEV_E* code; dev_errmsg() says why. Output buffers must not
 * overlap inputs unless the op says so. Nothing here takes ownership of a
 * caller's buffer.
 *
 * One Llama/Qwen2 layer, in op order (x: residual stream (batch, dim)):
 *   dev_rmsnorm(xb = norm(x) * attn_norm)
 *   dev_matmul(q = xb·Wq^T)   dev_matmul(K row pos0.. = xb·Wk^T)   same for V
 *   [dev_add_bias(q/k/v, b) for Qwen2]
 *   dev_rope(q, n_heads)  dev_rope(k rows in the cache, n_kv_heads)
 *   dev_attention(att = softmax(q·K^T/sqrt(hd))·V)
 *   dev_matmul(xb = att·Wo^T)   dev_add(x += xb)
 *   dev_rmsnorm(xb = norm(x) * ffn_norm)
 *   dev_matmul(g = xb·Wgate^T)  dev_matmul(u = xb·Wup^T)
 *   dev_swiglu(g = silu(g) * u)  dev_matmul(xb = g·Wdown^T)  dev_add(x += xb)
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
    DEV_Q4_K = 12,      /* the K-quants: kq.h */
    DEV_Q5_K = 13,
    DEV_Q6_K = 14,
    DEV_BF16 = 30,
} dev_dtype;

/* Return codes of the ops. */
enum {
    DEV_OK = 0,
    DEV_EINVAL = -1,     /* bad argument: shape, type, NULL pointer */
    DEV_ENOMEM = -2,     /* scratch memory could not be allocated */
};

typedef struct dev_device dev_device;

typedef struct {
    const char *name;       /* "cpu" */
    int threads;            /* worker threads used by kernels (caller included) */
    const char *simd;       /* kernel set chosen at run time: "avx512", "avx2", "neon", "scalar" */
} dev_info;

/* Opens a device by spec: "cpu" or "cpu:OPT,OPT..." with options
 *   threads=N          N=0 (default): one per CPU this process may run on
 *   simd=auto|avx2|scalar   kernel set (default auto: the best this CPU has)
 * Returns NULL and writes a reason into err on failure (unknown device,
 * malformed option, unsupported kernel set, thread creation failure). */
dev_device *dev_open(const char *spec, char *err, size_t errlen);
/* Joins the device's threads and frees it. NULL is a no-op. */
void dev_close(dev_device *d);
void dev_get_info(const dev_device *d, dev_info *out);
/* The reason for the last failed op on d ("" if none). Owned by d, valid
 * until the next op. */
const char *dev_errmsg(const dev_device *d);

/* Storage helpers for a dtype: elements per block and bytes per block
 * (F32: 1/4, F16: 1/2, BF16: 1/2, Q8_0: 32/34, Q4_0: 32/18, Q4_K: 256/144,
 * Q5_K: 256/176, Q6_K: 256/210). Returns 0 for an unknown type. */
size_t dev_dtype_block(dev_dtype t);
size_t dev_dtype_block_bytes(dev_dtype t);
const char *dev_dtype_name(dev_dtype t);
/* Bytes of a row of n elements (n must be a multiple of the block size).
 * Returns 0 for an unknown type or a bad n. */
size_t dev_row_bytes(dev_dtype t, int64_t n);

/* Converts n F32 values to storage type t in dst (dev_row_bytes(t, n) bytes),
 * and back. Rounding is to nearest even for F16/BF16 (overflow -> inf, NaN
 * stays NaN). Quantization error bounds for finite input, per block of 32
 * with amax = the block's largest |x| (the 2^-17 covers scales too small for
 * F16's normal range):
 *   Q8_0: |x - x'| <= amax/254 * (1 + 2^-10) + 2^-17     (scale amax/127)
 *   Q4_0: |x - x'| <= amax/16  * (1 + 2^-10) + 2^-17     (scale -m/8, m the
 *         largest-magnitude value, which maps to -8 exactly), except values
 *         of the sign opposite to m beyond 7/8 amax: up to amax/8.
 *   Q4_K, Q5_K (per sub-block of 32, step = d*sc_j, qmax 15 / 31):
 *         |x - x'| <= step/2 (plus float rounding), step < (range + dmin)/qmax
 *         + d, range = max(x, 0) - min(x, 0) of the sub-block, d and dmin the
 *         stored F16 super-scales (~ the largest step/63 and minimum/63).
 *   Q6_K (per sub-block of 16, step = d*sc_j): |x - x'| <= step/2, step <
 *         amax/31 + d, d the stored F16 super-scale (~ largest amax/31/127).
 *   (Simple quantizers: the format is ggml's, the choice of scales is not
 *   llama.cpp's error-minimizing one.)
 * Returns the bytes written / elements read, 0 for a bad type or n. */
size_t dev_quantize(dev_dtype t, const float *src, void *dst, int64_t n);
size_t dev_dequantize(dev_dtype t, const void *src, float *dst, int64_t n);

/* ---- ops ---------------------------------------------------------------- */

/* Y(batch, n_out) = X(batch, n_in) · W(n_out, n_in)^T, W of type wt.
 * Quantized weights (Q8_0, Q4_0: n_in a multiple of 32; Q4_K, Q5_K, Q6_K: of
 * 256) multiply against activations quantized per block of 32 to int8 with an
 * F32 scale (|x - x'| <= amax/254): that is the accuracy bound of the
 * quantized path.
 * F32/F16/BF16 weights are widened to F32 and multiply F32 activations. Each
 * weight row is reused across the batch, so a batch costs about one pass over
 * W. Threads split the output rows. */
int dev_matmul(dev_device *d, dev_dtype wt, const void *W, int n_out, int n_in,
               const float *X, int batch, float *Y);

/* out(n) = row `row` of the table E(rows, n) of type t, converted to F32.
 * The caller bounds row (0 <= row < rows). */
int dev_get_row(dev_device *d, dev_dtype t, const void *E, int n, int row, float *out);

/* out(batch, n) = x / sqrt(mean(x^2) + eps) * w, per row; w(n) F32 or NULL
 * (no gain). out may equal x. */
int dev_rmsnorm(dev_device *d, float *out, const float *x, const float *w,
                int n, float eps, int batch);

/* Rotary position embedding, in place, on x(batch, n_heads*head_dim): token t
 * is at position pos[t]. Pair i (0 <= i < head_dim/2) of every head rotates
 * by angle pos[t] * freq_base^(-2i/head_dim):
 *   neox = 0 (Llama): the pair is (x[2i], x[2i+1])
 *   neox = 1 (Qwen2, NeoX): the pair is (x[i], x[i + head_dim/2])
 * (a, b) -> (a cos - b sin, a sin + b cos). head_dim even, <= 256. */
int dev_rope(dev_device *d, float *x, int n_heads, int head_dim,
             const int32_t *pos, int batch, float freq_base, int neox);

/* Causal grouped-query attention of `batch` new tokens at positions
 * pos0 .. pos0+batch-1.
 *   q(batch, n_heads*head_dim)          roped queries
 *   k_cache, v_cache (n_ctx, n_kv_heads*head_dim) F32: row p holds position
 *       p's keys (roped) / values, kv head j at columns j*head_dim. The
 *       caller has written rows 0 .. pos0+batch-1 (the new rows usually by
 *       dev_matmul straight into k_cache + pos0*n_kv_heads*head_dim).
 *       One such pair per layer; n_ctx is the caller's business.
 *   out(batch, n_heads*head_dim)
 * Token t attends to rows 0 .. pos0+t with scale 1/sqrt(head_dim), softmax in
 * F32. Query head h reads kv head h / (n_heads/n_kv_heads) (n_heads a
 * multiple of n_kv_heads; equal for plain multi-head attention).
 * head_dim <= 256. Threads split (head, token) pairs. */
int dev_attention(dev_device *d, float *out, const float *q,
                  const float *k_cache, const float *v_cache,
                  int n_heads, int n_kv_heads, int head_dim, int pos0, int batch);

/* out(batch, n) = silu(gate) * up, silu(g) = g / (1 + e^-g). out may equal
 * gate or up. */
int dev_swiglu(dev_device *d, float *out, const float *gate, const float *up,
               int n, int batch);

/* y(batch, n) += x(batch, n): the residual connection. */
int dev_add(dev_device *d, float *y, const float *x, int n, int batch);

/* y(batch, n) += b(n) on every row: projection biases (Qwen2 q/k/v). */
int dev_add_bias(dev_device *d, float *y, const float *b, int n, int batch);

/* x(batch, n) = softmax of each row, in place, in F32 (max subtracted). */
int dev_softmax(dev_device *d, float *x, int n, int batch);

/* ---- measurement -------------------------------------------------------- */

/* Streaming-read bandwidth in GB/s (1e9 bytes/s) over a buffer of `bytes`
 * (0: 256 MiB) read by all of the device's threads; the best of a few passes.
 * Pass bytes well above the last-level cache to measure memory, not cache:
 * it is the roofline of a memory-bound decode step. Returns a negative value
 * (dev_errmsg says why) if the buffer cannot be allocated. */
double dev_probe_bandwidth(dev_device *d, size_t bytes);

#endif
