/* wse_cycle.c — the cycle model: projected wafer cycles of each op, from
 * its shape and where its data sits (wse_place.c), and the statistics they
 * add up to. Pure arithmetic on a wse_acct; no host work, no clocks.
 *
 * Every formula here is written out, with the constants' sources, in
 * README.md ("The cycle model"); the names below match it:
 *   f   16-bit FMAs per PE per cycle      m   SRAM bytes per PE per cycle
 *   v   activation words per link-cycle   h   cycles per hop
 * An op's cycles = latency terms (fabric) + its streaming part, the larger
 * of compute, SRAM reads and fabric streaming (they overlap in a dataflow
 * PE); the streaming part is charged to whichever of the three is largest.
 */
#include "wse_int.h"

#include <math.h>
#include <string.h>

static const char *const OP_NAMES[WSE_N_OPS] = { "matmul", "attention", "norm", "elementwise", "embed" };
static const char *const BOUND_NAMES[WSE_N_BOUNDS] = { "compute", "sram", "fabric" };

const char *wse_op_name(wse_op_class c) { return (unsigned)c < WSE_N_OPS ? OP_NAMES[c] : "?"; }
const char *wse_bound_name(wse_bound b) { return (unsigned)b < WSE_N_BOUNDS ? BOUND_NAMES[b] : "?"; }

double wse_type_bytes(dev_dtype t)
{
    return (double)dev_dtype_block_bytes(t) / (double)dev_dtype_block(t);
}

/* Activation words (16-bit) a link carries per cycle: one per 32-bit wavelet. */
static double words_per_cycle(const wse_acct *a) { return a->cfg.link_bytes_per_cycle / 4.0; }

static double offwafer_cycles(const wse_acct *a, double bytes)
{
    return (a->cfg.offwafer_latency_s + bytes / a->cfg.offwafer_bytes_per_s) * a->cfg.clock_hz;
}

/* Moving n activation words from region `from`'s output edge to region
 * `to`'s input edge: hops between them, then the words over as many
 * parallel links as the narrower edge has; another wafer costs an off-wafer
 * transfer instead. NULL `from`: the I/O edge next to `to`, free. */
static double route(const wse_acct *a, const wse_region *from, const wse_region *to, double n)
{
    if (!from || !to || from == to) return 0;
    if (from->wafer != to->wafer) return offwafer_cycles(a, n * WSE_ACT_BYTES);
    int hops = (from->cx > to->cx ? from->cx - to->cx : to->cx - from->cx) +
               (from->cy > to->cy ? from->cy - to->cy : to->cy - from->cy);
    int lanes = from->pw < to->ph ? from->pw : to->ph;
    if (lanes < 1) lanes = 1;
    return hops * a->cfg.hop_cycles + ceil(n / lanes / words_per_cycle(a));
}

static const wse_region *prev_region(const wse_acct *a)
{
    return a->prev > 0 && a->prev <= a->n_regs ? &a->regs[a->prev - 1] : NULL;
}

/* Streaming part (charged to the largest of the three) + fabric latency. */
static wse_cost make_cost(double compute, double sram, double stream, double latency)
{
    wse_cost c = { { 0, 0, 0 } };
    if (compute >= sram && compute >= stream) c.c[WSE_BOUND_COMPUTE] = compute;
    else if (sram >= stream) c.c[WSE_BOUND_SRAM] = sram;
    else c.c[WSE_BOUND_FABRIC] = stream;
    c.c[WSE_BOUND_FABRIC] += latency;
    return c;
}

static void charge(wse_acct *a, wse_op_class op, wse_cost c, double host_s)
{
    double total = 0;
    for (int b = 0; b < WSE_N_BOUNDS; b++) {
        a->st.by_op[op].cycles[b] += c.c[b];
        total += c.c[b];
    }
    a->st.by_op[op].ops++;
    a->st.ops++;
    a->st.proj_cycles += total;
    a->st.host_s += host_s;
    a->step_cycles += total;
    a->step_host_s += host_s;
    a->last_op = op;
    a->any_op = 1;
}

// ---------------------------------------------------------------- steps

void wse_acct_end_step(wse_acct *a)
{
    if (!a->step_tokens && a->step_cycles == 0) return;
    a->st.last_step_cycles = a->step_cycles;
    a->st.last_step_host_s = a->step_host_s;
    a->st.last_step_tokens = a->step_tokens;
    a->step_cycles = a->step_host_s = 0;
    a->step_tokens = 0;
}

/* E's rows: in the wafer when E is also a placed matrix (a tied output
 * head), else streamed in from the host over the off-wafer link. */
int wse_acct_starts_step(const wse_acct *a) { return !a->any_op || a->last_op != WSE_OP_EMBED; }

void wse_acct_get_row(wse_acct *a, const void *E, int n, double host_s)
{
    if (wse_acct_starts_step(a)) {
        wse_acct_end_step(a);
        a->st.steps++;
        a->step_no++;
        a->prev = 0;
    }
    a->st.tokens++;
    a->step_tokens++;
    const wse_region *r = wse_find(a, E);
    if (r && r->kind != WSE_REG_MATRIX) r = NULL;
    double lat;
    if (r) {    /* the row is one output column's slice on each of the ph rows */
        lat = (r->ph - 1) * a->cfg.hop_cycles + ceil(n / (double)r->ph / words_per_cycle(a));
        a->prev = (int)(r - a->regs) + 1;
    } else {
        lat = offwafer_cycles(a, (double)n * WSE_ACT_BYTES);
    }
    a->vec_pes = (int)ceil(sqrt((double)n));
    charge(a, WSE_OP_EMBED, make_cost(0, 0, 0, lat), host_s);
}

// ---------------------------------------------------------------- GEMV

/* MeshGEMV on r's ph x pw rectangle: input segment i (n_in/ph words) is
 * broadcast along row i, each PE multiplies its (n_in/ph) x (n_out/pw) tile,
 * partial sums are reduced down each column. A batch streams through it. */
void wse_acct_matmul(wse_acct *a, const wse_region *r, int batch, double host_s)
{
    const wse_config *c = &a->cfg;
    double B = batch, v = words_per_cycle(a);
    double seg_in = ceil((double)r->n_in / r->ph), seg_out = ceil((double)r->n_out / r->pw);
    double macs = seg_in * seg_out;
    double lanes = c->fma_per_cycle * (r->type == DEV_F32 ? 0.5 : 1.0);
    double compute = B * macs / lanes;
    double sram = B * macs * wse_type_bytes(r->type) / c->sram_bytes_per_cycle;
    double stream = B * seg_in / v;
    double latency = route(a, prev_region(a), r, B * r->n_in)
                   + (r->pw - 1) * c->hop_cycles            /* row broadcast */
                   + (r->ph - 1) * (c->hop_cycles + 1)      /* column reduction: hop + add */
                   + B * seg_out / v;                       /* results leave the column */
    a->prev = (int)(r - a->regs) + 1;
    a->vec_pes = r->pw;
    charge(a, WSE_OP_MATMUL, make_cost(compute, sram, stream, latency), host_s);
}

// ---------------------------------------------------------------- attention

/* The KV cache of a layer: positions spread over g = pes / n_kv_heads PEs
 * per KV head, a square of side s = ceil(sqrt(g)). The group's queries are
 * broadcast over it, each PE scores and weights its keys (online softmax),
 * and (max, sum, vector) are reduced back over the square. */
void wse_acct_attention(wse_acct *a, const wse_region *kv, int pos0, int batch, double host_s)
{
    const wse_config *c = &a->cfg;
    double v = words_per_cycle(a), hd = kv->head_dim;
    double g = (double)(kv->pes / kv->n_kv_heads);
    if (g < 1) g = 1;
    double side = ceil(sqrt(g)), group = (double)kv->n_heads / kv->n_kv_heads;
    double compute = 0, sram = 0;
    for (int t = 0; t < batch; t++) {
        double keys_pe = ceil((pos0 + t + 1) / g);
        compute += group * keys_pe * (2 * hd + 4) / c->fma_per_cycle;   /* q.k, p.v, exp/max/sum */
        sram += keys_pe * 2 * hd * WSE_ACT_BYTES / c->sram_bytes_per_cycle;
    }
    double stream = batch * group * hd / v;
    double latency = route(a, prev_region(a), kv, (double)batch * kv->n_heads * hd)
                   + 2 * (side - 1) * c->hop_cycles                  /* query broadcast */
                   + 2 * (side - 1) * (c->hop_cycles + 1)            /* reduction */
                   + batch * group * (hd + 2) / v;                   /* results leave */
    a->prev = (int)(kv - a->regs) + 1;
    a->vec_pes = kv->n_kv_heads;
    charge(a, WSE_OP_ATTENTION, make_cost(compute, sram, stream, latency), host_s);
}

// ---------------------------------------------------------------- vectors

/* A vector of n lives on the k PEs the last op left it on. */
static double vec_pes(const wse_acct *a, int n)
{
    double k = a->vec_pes > 0 ? a->vec_pes : ceil(sqrt((double)n));
    return k > n ? n : k;
}

/* `reductions` all-reduces along the k PEs (reduce, then broadcast back). */
static void row_op(wse_acct *a, wse_op_class op, int n, int batch, double flops, int reductions,
                   double host_s)
{
    const wse_config *c = &a->cfg;
    double k = vec_pes(a, n);
    double compute = batch * ceil(n / k) * flops / c->fma_per_cycle;
    double latency = reductions * ((k - 1) * (c->hop_cycles + 1) + (k - 1) * c->hop_cycles + (batch - 1));
    charge(a, op, make_cost(compute, 0, 0, latency), host_s);
}

void wse_acct_rmsnorm(wse_acct *a, int n, int batch, double host_s)
{
    row_op(a, WSE_OP_NORM, n, batch, 3, 1, host_s);        /* x*x, x*r, *w */
}

void wse_acct_softmax(wse_acct *a, int n, int batch, double host_s)
{
    row_op(a, WSE_OP_NORM, n, batch, 6, 2, host_s);        /* max, exp, sum, scale */
}

void wse_acct_elementwise(wse_acct *a, int n, int batch, double flops, double host_s)
{
    row_op(a, WSE_OP_ELEMENTWISE, n, batch, flops, 0, host_s);
}

// ---------------------------------------------------------------- stats

void wse_acct_stats(const wse_acct *a, wse_stats *out)
{
    *out = a->st;
    out->proj_s = a->st.proj_cycles / a->cfg.clock_hz;
    double by[WSE_N_BOUNDS] = { 0, 0, 0 };
    for (int o = 0; o < WSE_N_OPS; o++)
        for (int b = 0; b < WSE_N_BOUNDS; b++)
            by[b] += a->st.by_op[o].cycles[b];
    out->bound = WSE_BOUND_COMPUTE;
    for (int b = 1; b < WSE_N_BOUNDS; b++)
        if (by[b] > by[out->bound]) out->bound = (wse_bound)b;
}

void wse_acct_reset_stats(wse_acct *a)
{
    memset(&a->st, 0, sizeof a->st);
    a->step_cycles = a->step_host_s = 0;
    a->step_tokens = 0;
}
