/* wse_project.c — projected decode speed of a model shape on the emulated
 * wafer, without computing anything on the host: the shape's regions are
 * declared in the order model.c's forward step first touches them, placed
 * (wse_place.c), and one decode step is walked through the same accounting
 * calls the live device makes (wse_cycle.c). test_wse pins the two equal on
 * a real model. Owns nothing beyond one call.
 */
#include "wse_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hyper-parameters from the models' published config.json files (see
 * README.md). 16-bit weights: Cerebras serves Llama 3.1 in 16 bits. */
static const wse_shape SHAPES[] = {
    { "llama-3.1-8b", 0, 4096, 32, 32, 8, 128, 14336, 128256, 0, DEV_BF16 },
    { "llama-3.1-70b", 0, 8192, 80, 64, 8, 128, 28672, 128256, 0, DEV_BF16 },
    { "qwen2.5-0.5b", 1, 896, 24, 14, 2, 64, 4864, 151936, 1, DEV_BF16 },
};
#define N_SHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

const wse_shape *wse_shape_at(int i) { return i >= 0 && i < N_SHAPES ? &SHAPES[i] : NULL; }

const wse_shape *wse_shape_find(const char *name)
{
    for (int i = 0; name && i < N_SHAPES; i++)
        if (!strcmp(SHAPES[i].name, name)) return &SHAPES[i];
    return NULL;
}

// ---------------------------------------------------------------- the walk

/* Stand-in host pointers: one distinct address per region. */
enum { K_EMBD, K_OUTPUT, K_LAYER0 };
enum { L_Q, L_K, L_V, L_KV, L_O, L_GATE, L_UP, L_DOWN, L_N };

typedef struct {
    wse_acct *a;
    const wse_shape *s;
    const char *keys;
    int declare;        /* 1: register regions; 0: account the ops */
} walk;

static const void *key(const walk *w, int layer, int which)
{
    return w->keys + K_LAYER0 + (size_t)layer * L_N + (size_t)which;
}

static const void *output_key(const walk *w) { return w->keys + (w->s->tied ? K_EMBD : K_OUTPUT); }

static int matmul(const walk *w, const void *k, int n_out, int n_in, int batch)
{
    if (w->declare) return wse_declare_matrix(w->a, k, w->s->wtype, n_out, n_in) ? 0 : -1;
    const wse_region *r = wse_matrix(w->a, k, w->s->wtype, n_out, n_in);
    if (!r) return -1;
    wse_acct_matmul(w->a, r, batch, 0);
    return 0;
}

static int attention(const walk *w, int l, int pos0, int batch)
{
    const wse_shape *s = w->s;
    if (w->declare)
        return wse_declare_kv(w->a, key(w, l, L_KV), s->heads, s->kv_heads, s->head_dim, pos0 + batch) ? 0 : -1;
    const wse_region *kv = wse_kv(w->a, key(w, l, L_KV), s->heads, s->kv_heads, s->head_dim, pos0 + batch);
    if (!kv) return -1;
    wse_acct_attention(w->a, kv, pos0, batch, 0);
    return 0;
}

static void vec(const walk *w, int n, int batch, double flops)
{
    if (!w->declare) wse_acct_elementwise(w->a, n, batch, flops, 0);
}

static void norm(const walk *w, int n, int batch)
{
    if (!w->declare) wse_acct_rmsnorm(w->a, n, batch, 0);
}

/* One forward step of `batch` tokens at positions pos0..., logits of the
 * last: model.c's forward_step, op for op. */
static int step(const walk *w, int pos0, int batch)
{
    const wse_shape *s = w->s;
    const int dim = s->dim, q_dim = s->heads * s->head_dim, kv_dim = s->kv_heads * s->head_dim;
    for (int t = 0; t < batch && !w->declare; t++)
        wse_acct_get_row(w->a, w->keys + K_EMBD, dim, 0);
    for (int l = 0; l < s->layers; l++) {
        norm(w, dim, batch);
        if (matmul(w, key(w, l, L_Q), q_dim, dim, batch) || matmul(w, key(w, l, L_K), kv_dim, dim, batch) ||
            matmul(w, key(w, l, L_V), kv_dim, dim, batch))
            return -1;
        if (s->qwen2) {
            vec(w, q_dim, batch, WSE_FLOPS_ADD);
            vec(w, kv_dim, batch, WSE_FLOPS_ADD);
            vec(w, kv_dim, batch, WSE_FLOPS_ADD);
        }
        vec(w, q_dim, batch, WSE_FLOPS_ROPE);
        vec(w, kv_dim, batch, WSE_FLOPS_ROPE);
        if (attention(w, l, pos0, batch) || matmul(w, key(w, l, L_O), dim, q_dim, batch)) return -1;
        vec(w, dim, batch, WSE_FLOPS_ADD);
        norm(w, dim, batch);
        if (matmul(w, key(w, l, L_GATE), s->ffn, dim, batch) || matmul(w, key(w, l, L_UP), s->ffn, dim, batch))
            return -1;
        vec(w, s->ffn, batch, WSE_FLOPS_SWIGLU);
        if (matmul(w, key(w, l, L_DOWN), dim, s->ffn, batch)) return -1;
        vec(w, dim, batch, WSE_FLOPS_ADD);
    }
    norm(w, dim, 1);
    return matmul(w, output_key(w), s->vocab, dim, 1);
}

// ---------------------------------------------------------------- projection

static int check_shape(const wse_shape *s, int pos, char *err, size_t errlen)
{
    if (s->dim < 1 || s->layers < 1 || s->heads < 1 || s->kv_heads < 1 || s->heads % s->kv_heads ||
        s->head_dim < 1 || s->ffn < 1 || s->vocab < 1 || pos < 0 || !dev_row_bytes(s->wtype, s->dim) ||
        !dev_row_bytes(s->wtype, s->ffn) || !dev_row_bytes(s->wtype, s->heads * s->head_dim)) {
        snprintf(err, errlen, "wse_project: bad shape '%s' or position %d (dims must be positive, "
                 "heads a multiple of kv_heads, rows whole %s blocks)", s->name ? s->name : "?", pos,
                 dev_dtype_name(s->wtype));
        return -1;
    }
    return 0;
}

/* Declares s on a fresh acct for cfg and places it; 0, or the error code. */
static int place(wse_acct *a, const wse_config *cfg, const wse_shape *s, const char *keys, int pos,
                 char *err, size_t errlen)
{
    if (wse_acct_init(a, cfg, err, errlen)) return DEV_EINVAL;
    walk w = { a, s, keys, 1 };
    if (step(&w, pos, 1)) {
        snprintf(err, errlen, "wse_project: out of memory");
        return DEV_ENOMEM;
    }
    if (wse_plan(a, 1)) {
        snprintf(err, errlen, "wse: %s", a->err);
        return WSE_ECAPACITY;
    }
    return 0;
}

int wse_project(const wse_config *cfg, const wse_shape *s, int pos, wse_projection *out,
                char *err, size_t errlen)
{
    if (check_shape(s, pos, err, errlen)) return DEV_EINVAL;
    char *keys = calloc((size_t)K_LAYER0 + (size_t)s->layers * L_N, 1);
    if (!keys) {
        snprintf(err, errlen, "wse_project: out of memory");
        return DEV_ENOMEM;
    }
    wse_acct a;
    wse_config c = *cfg;
    int rc;
    if (cfg->wafers > 0) {
        rc = place(&a, &c, s, keys, pos, err, errlen);
    } else {        /* the fewest wafers that hold it */
        rc = WSE_ECAPACITY;
        for (c.wafers = 1; c.wafers <= 1024 && rc == WSE_ECAPACITY; c.wafers++) {
            rc = place(&a, &c, s, keys, pos, err, errlen);
            if (rc) wse_acct_free(&a);
            else break;
        }
    }
    if (rc) {
        if (cfg->wafers > 0) wse_acct_free(&a);
        free(keys);
        return rc;
    }
    walk w = { &a, s, keys, 0 };
    rc = step(&w, pos, 1);
    wse_acct_end_step(&a);
    if (rc) {
        snprintf(err, errlen, "wse: %s", a.err);
        rc = WSE_ECAPACITY;
    } else {
        memset(out, 0, sizeof *out);
        out->cfg = a.cfg;
        wse_placement_of(&a, &out->place);
        wse_acct_stats(&a, &out->step);
        out->step_cycles = out->step.proj_cycles;
        out->tok_s = out->step_cycles > 0 ? a.cfg.clock_hz / out->step_cycles : 0;
    }
    wse_acct_free(&a);
    free(keys);
    return rc;
}
