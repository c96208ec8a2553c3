/* wse_int.h — the wse device's insides, shared by its files (private to
 * engine/device/):
 *   wse_place.c   the registry of regions (weight matrices, KV caches) and
 *                 their placement on the mesh
 *   wse_cycle.c   the cycle model: projected cycles of each op, statistics
 *   wse_project.c model shapes walked through the cycle model, no host work
 *   dev_wse.c     the device: host kernels + the above
 *   wse_async.c   submission of programs with fences and an eventfd
 * An accounting state (wse_acct) is the emulated wafer: configuration,
 * placement and statistics. The live device and wse_project each own one.
 */
#ifndef SPARKD_WSE_INT_H
#define SPARKD_WSE_INT_H

#include "wse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "dev_impl.h"

#define WSE_ACT_BYTES 2         /* activations and KV travel and rest in 16 bits */
#define WSE_STALE_STEPS 256     /* a KV cache untouched this long belongs to a freed context */

/* Arithmetic per element of the element-wise ops (16-bit FMA-equivalents). */
#define WSE_FLOPS_ADD 1         /* add, add_bias */
#define WSE_FLOPS_ROPE 3        /* a*cos - b*sin from a table */
#define WSE_FLOPS_SWIGLU 6      /* g / (1 + exp(-g)) * u */

typedef enum { WSE_REG_MATRIX, WSE_REG_KV } wse_reg_kind;

/* A region: one weight matrix or one layer's KV cache (keys and values),
 * identified by its host pointer. */
typedef struct {
    const void *key;            /* W, or the layer's k_cache */
    wse_reg_kind kind;
    dev_dtype type;             /* matrix: storage type */
    int n_out, n_in;            /* matrix: (n_out, n_in) */
    int kv_dim, n_heads, n_kv_heads, head_dim;  /* KV: as dev_attention's */
    int kv_used;                /* KV: positions written so far (high water) */
    int kv_held;                /* KV: positions its PEs hold */
    uint64_t bytes;             /* SRAM bytes held */
    uint64_t last_step;         /* step of the last op on it */
    /* placement */
    int wafer;
    int cx, cy;                 /* centre of its first piece (PE coordinates) */
    int ph, pw;                 /* the rectangle the cycle model sees: rows x columns */
    int64_t pes;                /* PEs allocated (whole strip columns) */
} wse_region;

typedef struct {
    double c[WSE_N_BOUNDS];     /* projected cycles by what bounds them */
} wse_cost;

typedef struct wse_acct {
    wse_config cfg;
    uint64_t cap_bytes;         /* data bytes per PE: sram - reserve */
    int strip_h;                /* rows per strip (the last strip takes the remainder) */

    wse_region *regs;           /* (n_regs), in first-seen order */
    int n_regs, cap_regs;
    int32_t *hash;              /* (hash_cap) index+1 of the region per key, 0 empty */
    int hash_cap;

    /* placement */
    int planned;                /* 1 after a whole-model plan */
    int dirty;                  /* regions changed since the last plan */
    int kv_reserve;             /* positions per KV region in the plan */
    int cur_wafer, cur_strip, cur_col;  /* the next free strip column */
    int64_t pes_used;
    char err[512];              /* the last capacity failure */

    /* where the activations are */
    int prev;                   /* index+1 of the last matmul/attention region (0: I/O edge) */
    int vec_pes;                /* PEs a vector is spread over (the last GEMV's columns) */
    wse_op_class last_op;
    int any_op;
    uint64_t step_no;           /* steps since open: the age of regions */

    /* statistics */
    wse_stats st;
    double step_cycles, step_host_s;
    int step_tokens;
} wse_acct;

/* ---- the device (dev_wse.c) ---------------------------------------------- */

typedef struct wse_async wse_async;

typedef struct {
    dev_device base;
    dev_device *host;           /* a `cpu` device: computes every result (owned) */
    wse_acct acct;              /* the emulated wafer */
    pthread_mutex_t mu;         /* guards acct against readers on other threads */
    uint64_t fault_in;          /* ops until the injected fault; 0: none */
    int lost;                   /* 1 after a fault, until wse_reset */
    char lost_why[96];
    atomic_int busy;            /* submitted programs queued or running */
    wse_async *async;           /* wse_async.c; NULL until the first submit */
} wse_device;

/* d as a wse device, or NULL if it is another kind. */
wse_device *wse_dev(const dev_device *d);

/* ---- wse_async.c ---------------------------------------------------------- */

/* 1 if the calling thread is d's program thread. */
int wse_async_on_worker(const wse_device *d);
/* Cancels what is queued, joins the thread, closes the eventfd. */
void wse_async_free(wse_device *d);

/* ---- wse_place.c --------------------------------------------------------- */

/* Sets a up for cfg (copied); 0, or -1 with a reason in err. */
int wse_acct_init(wse_acct *a, const wse_config *cfg, char *err, size_t errlen);
void wse_acct_free(wse_acct *a);
/* Forgets every region (placement starts over). Statistics stay. */
void wse_acct_clear(wse_acct *a);

/* The region of a weight matrix, registered and placed (packed) on first
 * sight; re-registered if the pointer now carries another shape. NULL with
 * a->err set when it does not fit. */
wse_region *wse_matrix(wse_acct *a, const void *W, dev_dtype t, int n_out, int n_in);
/* The region registered under key, or NULL. */
wse_region *wse_find(const wse_acct *a, const void *key);
/* Registers a region without placing it (wse_plan places it): what a
 * projection declares up front. NULL when out of memory. */
wse_region *wse_declare_matrix(wse_acct *a, const void *W, dev_dtype t, int n_out, int n_in);
wse_region *wse_declare_kv(wse_acct *a, const void *k_cache, int n_heads, int n_kv_heads, int head_dim,
                           int used);
/* The region of a layer's KV cache, grown to hold `used` positions. */
wse_region *wse_kv(wse_acct *a, const void *k_cache, int n_heads, int n_kv_heads, int head_dim,
                   int used);
/* Places every region again, spread over the mesh, with room for
 * max(cfg.ctx, the longest KV in use) positions; drops KV caches unused for
 * WSE_STALE_STEPS steps. Unless `strict`, a reservation that does not fit is
 * halved down to the positions in use. 0, or -1 with a->err set (the packed
 * placement stays). */
int wse_plan(wse_acct *a, int strict);
void wse_placement_of(const wse_acct *a, wse_placement *out);
/* PE-clean SRAM bytes the whole mesh holds for data. */
uint64_t wse_capacity_bytes(const wse_acct *a);

/* ---- wse_cycle.c --------------------------------------------------------- */

/* Accounts one op (projected cycles) and returns its cost; host_s is the
 * measured host time of the op (0 in projections). A get_row that follows
 * any other op opens a new step (and re-plans if regions changed). */
void wse_acct_get_row(wse_acct *a, const void *E, int n, double host_s);
void wse_acct_matmul(wse_acct *a, const wse_region *r, int batch, double host_s);
void wse_acct_attention(wse_acct *a, const wse_region *kv, int pos0, int batch, double host_s);
void wse_acct_rmsnorm(wse_acct *a, int n, int batch, double host_s);
void wse_acct_softmax(wse_acct *a, int n, int batch, double host_s);
/* Element-wise ops: `flops` per element (add 1, swiglu 6, rope 2 ...). */
void wse_acct_elementwise(wse_acct *a, int n, int batch, double flops, double host_s);
/* 1 if a get_row now opens a new step (the moment to re-plan). */
int wse_acct_starts_step(const wse_acct *a);
/* Closes the step in progress (its figures become last_step_*). */
void wse_acct_end_step(wse_acct *a);
void wse_acct_stats(const wse_acct *a, wse_stats *out);
void wse_acct_reset_stats(wse_acct *a);

/* Bytes per element of storage type t (Q8_0: 34/32). */
double wse_type_bytes(dev_dtype t);

#endif
