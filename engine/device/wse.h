/* wse.h — what only the emulated wafer-scale device has, beside dev.h.
 *
 * The `wse` device (dev_wse.c) is opened like any other device:
 *   dev_open("wse", ...) or dev_open("wse:OPT,OPT...", ...) with options
 *     preset=wse3|wse2     published figures to start from (default wse3)
 *     geometry=WxH         PEs per wafer, W columns by H rows (tiny meshes are fine)
 *     wafers=N             wafers in a chain (default 1); layers go to them in order
 *     sram_kb=K            SRAM per PE in KiB (default 48)
 *     clock_ghz=F          PE clock (default 1.1)
 *     fma=N                16-bit FMAs per PE per cycle (wse3 8, wse2 4)
 *     ctx=N                KV-cache positions the placement reserves (default 4096;
 *                          grows on demand while SRAM lasts)
 *     threads=N, simd=S    passed to the host kernels (as for `cpu`)
 *     fault_after=N        test hook: the N-th op from now fails, device lost
 * It computes every result with the host kernels of the `cpu` device, so its
 * numbers are bit-identical to `cpu`'s, and beside them a cycle model of a
 * wafer (engine/device/README.md has the equations and every constant's
 * source) gives projected wafer time. Host time (measured) and projected
 * wafer time (modelled) are kept apart everywhere and never added.
 *
 * Placement: the device places a weight matrix on first sight of its
 * pointer (packed: each PE's data SRAM full), and at the start of the next
 * step, having seen the whole model, places everything again spread over the
 * mesh with room for `ctx` KV positions. A model, or a context, that does not
 * fit fails the op with WSE_ECAPACITY and a message that says how much is
 * missing and what geometry would hold it.
 *
 * The device sees ops, not steps: a step starts at the first dev_get_row
 * after any other op (the embedding lookup that opens every forward step of
 * model.c), and each row looked up is one token.
 */
#ifndef SPARKD_WSE_H
#define SPARKD_WSE_H

#include <stdint.h>
#include "dev.h"

/* Error codes of the wse device, beyond dev.h's. */
enum {
    WSE_ECAPACITY = -16,    /* the model or its KV cache does not fit in SRAM */
    WSE_ELOST = -17,        /* a fault: every op fails until wse_reset() */
    WSE_EBUSY = -18,        /* an op while a submitted program runs (wse_submit) */
};

/* A wafer's figures. Fields marked (published) come from Cerebras' public
 * material; the others are assumptions or derived (README.md says which). */
typedef struct {
    const char *preset;             /* "wse3" | "wse2" */
    int width, height;              /* PEs per wafer: columns, rows */
    int wafers;                     /* wafers chained (0 in wse_project: as many as needed) */
    uint32_t sram_bytes;            /* per PE (published: 48 KiB) */
    uint32_t reserve_bytes;         /* per PE, kept for code, stack and I/O buffers */
    double clock_hz;                /* PE clock */
    double fma_per_cycle;           /* 16-bit FMAs per PE per cycle (published SIMD width) */
    double sram_bytes_per_cycle;    /* SRAM read bandwidth per PE (from the published total) */
    double link_bytes_per_cycle;    /* one 32-bit wavelet per link per cycle (published) */
    double hop_cycles;              /* latency per mesh hop (published: one cycle) */
    double offwafer_latency_s;      /* wafer-to-wafer and host-to-wafer hop */
    double offwafer_bytes_per_s;    /* published CS-3 I/O: 1.2 Tb/s */
    int ctx;                        /* KV positions reserved at placement */
} wse_config;

/* The published-figure defaults of a preset ("wse3", "wse2"); -1 if unknown. */
int wse_config_preset(wse_config *c, const char *preset);
/* d's configuration; returns -1 (and leaves out alone) if d is not a wse device. */
int wse_get_config(const dev_device *d, wse_config *out);

/* ---- statistics: projected cycles, beside measured host time ------------ */

typedef enum {
    WSE_OP_MATMUL,          /* dev_matmul: MeshGEMV/GEMM on the matrix's PEs */
    WSE_OP_ATTENTION,       /* dev_attention: on the PEs holding the KV cache */
    WSE_OP_NORM,            /* dev_rmsnorm, dev_softmax: with a row reduction */
    WSE_OP_ELEMENTWISE,     /* dev_rope, dev_swiglu, dev_add, dev_add_bias */
    WSE_OP_EMBED,           /* dev_get_row */
    WSE_N_OPS
} wse_op_class;

/* What a projected cycle is spent on: PE arithmetic, PE SRAM reads, or the
 * fabric (hops, broadcasts, reductions, off-wafer links). */
typedef enum { WSE_BOUND_COMPUTE, WSE_BOUND_SRAM, WSE_BOUND_FABRIC, WSE_N_BOUNDS } wse_bound;

const char *wse_op_name(wse_op_class c);        /* "matmul" ... */
const char *wse_bound_name(wse_bound b);        /* "compute", "sram", "fabric" */

typedef struct {
    uint64_t ops;
    double cycles[WSE_N_BOUNDS];    /* projected cycles, by what bounds them */
} wse_op_stats;

typedef struct {
    uint64_t steps, tokens, ops;
    double host_s;                  /* MEASURED host wall time inside ops */
    double proj_cycles;             /* PROJECTED wafer cycles of all ops */
    double proj_s;                  /* PROJECTED wafer seconds: proj_cycles / clock */
    wse_op_stats by_op[WSE_N_OPS];
    wse_bound bound;                /* what most projected cycles are spent on */
    /* The last completed step (0 before the second step starts). */
    double last_step_cycles;        /* projected */
    double last_step_host_s;        /* measured */
    int last_step_tokens;
} wse_stats;

/* Totals since open or the last wse_reset_stats (the step in progress
 * included). Returns -1 if d is not a wse device. wse_get_stats and
 * wse_get_placement may be called from any thread while another drives d. */
int wse_get_stats(const dev_device *d, wse_stats *out);
void wse_reset_stats(dev_device *d);

/* ---- placement ----------------------------------------------------------- */

typedef struct {
    int planned;                    /* 1: spread over the mesh; 0: packed as first seen */
    int wafers_used;
    int64_t pes_total;              /* all wafers */
    int64_t pes_weights, pes_kv;    /* PEs holding weights / the KV cache */
    uint64_t weight_bytes;          /* weights placed */
    uint64_t kv_bytes;              /* KV cache reserved */
    int kv_positions;               /* positions the KV reservation holds */
    int n_matrices, n_kv;           /* regions */
    int strip_height;               /* rows per placement strip */
    double bytes_per_pe;            /* mean data bytes held by a used PE */
    double fill;                    /* bytes_per_pe / SRAM per PE */
    int capacity_limited;           /* 1: tiles are as large as SRAM allows */
    double mean_route_hops;         /* hops between consecutive regions of a layer */
    int max_bcast_hops;             /* widest row broadcast (columns of a region) */
    int max_reduce_hops;            /* tallest column reduction (rows of a region) */
} wse_placement;

/* d's current placement; -1 if d is not a wse device. */
int wse_get_placement(const dev_device *d, wse_placement *out);

/* ---- projection of a model shape, without running it --------------------- */

/* A Llama/Qwen2-family shape: what wse_project places and steps through. */
typedef struct {
    const char *name;
    int qwen2;                      /* 1: q/k/v biases */
    int dim, layers, heads, kv_heads, head_dim, ffn, vocab;
    int tied;                       /* output head = token embedding */
    dev_dtype wtype;                /* 2-D weights */
} wse_shape;

/* Built-in shapes: "llama-3.1-8b", "llama-3.1-70b" (BF16: Cerebras serves
 * them in 16 bits), "qwen2.5-0.5b"; NULL if unknown. */
const wse_shape *wse_shape_find(const char *name);
const wse_shape *wse_shape_at(int i);           /* i-th built-in, NULL past the end */

typedef struct {
    wse_config cfg;                 /* with wafers resolved */
    wse_placement place;
    wse_stats step;                 /* one decode step (one token) at position pos */
    double step_cycles;             /* PROJECTED */
    double tok_s;                   /* PROJECTED decode tokens/s for one user */
} wse_projection;

/* Places shape s on cfg's wafer(s) with room for cfg->ctx positions and
 * walks one decode step at position pos through the cycle model (the same
 * op sequence as model.c's forward step, the same accounting as the live
 * device). cfg->wafers = 0 picks the fewest wafers that hold it. Returns 0,
 * or WSE_ECAPACITY (with what is missing), DEV_EINVAL or DEV_ENOMEM, with a
 * reason in err. */
int wse_project(const wse_config *cfg, const wse_shape *s, int pos, wse_projection *out,
                char *err, size_t errlen);

/* ---- asynchronous submission (wse_async.c) ------------------------------- */

/* A program: a whole forward step (or any sequence of dev_* ops on d),
 * run on the device's own thread. Returns DEV_OK or a negative code. */
typedef int (*wse_program)(dev_device *d, void *arg);
typedef struct wse_fence wse_fence;

enum { WSE_FENCE_QUEUED, WSE_FENCE_RUNNING, WSE_FENCE_DONE, WSE_FENCE_CANCELLED };

/* Queues prog(d, arg) and returns its fence (owned by the caller: free it
 * with wse_fence_free, before dev_close), or NULL with err set. While
 * programs are queued or running, ops called from other threads fail with
 * WSE_EBUSY. dev_close cancels what has not started and joins the thread. */
wse_fence *wse_submit(dev_device *d, wse_program prog, void *arg, char *err, size_t errlen);
/* An eventfd, readable after any submitted program completes or is
 * cancelled (read it to clear it, then check the fences): what a libev loop
 * watches. Owned by d. -1 if d is not a wse device or it cannot be made. */
int wse_eventfd(dev_device *d);
/* WSE_FENCE_*; *rc gets the program's return code once DONE. */
int wse_fence_status(const wse_fence *f, int *rc);
/* Waits until done or cancelled, or timeout_ms (< 0: forever). Returns
 * the status. */
int wse_fence_wait(wse_fence *f, int timeout_ms);
/* Drops a program that has not started: returns 0, or -1 if it is running
 * or finished (it then completes normally). */
int wse_cancel(wse_fence *f);
/* Frees a fence that is done or cancelled (waits for it otherwise). */
void wse_fence_free(wse_fence *f);

/* ---- faults -------------------------------------------------------------- */

/* Test hook: the n-th op from now (1 = the next) fails with WSE_ELOST and
 * every later op fails too, until wse_reset. n = 0 cancels it. */
void wse_inject_fault(dev_device *d, uint64_t n);
/* 1 if d is a wse device lost to a fault (every op fails until wse_reset). */
int wse_lost(const dev_device *d);
/* Brings a lost device back: clears the fault and the placement (weights are
 * placed again on next sight); statistics are kept. Returns 0, or -1 if d is
 * not a wse device or programs are still queued. */
int wse_reset(dev_device *d);

#endif
