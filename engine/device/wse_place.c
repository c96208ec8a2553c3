/* wse_place.c — the wafer's regions and where they sit: presets, the
 * registry of weight matrices and KV caches (keyed by host pointer), and
 * placement on the mesh, with the capacity errors that say what is missing.
 *
 * Layout: each wafer's rows are cut into horizontal strips of strip_h rows
 * (about sqrt(H)); strips are filled column by column in snake order (left
 * to right, then right to left on the next strip), so consecutive regions
 * are neighbours. A region takes whole strip columns on one wafer and may
 * wrap onto the next strip. The cycle model sees it as a rectangle of strip_h
 * rows (its inputs) by pes/strip_h columns (its outputs). See README.md.
 */
#include "wse_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- presets

int wse_config_preset(wse_config *c, const char *preset)
{
    /* Figures: README.md, "Constants". */
    int wse2 = preset && !strcmp(preset, "wse2");
    if (preset && !wse2 && strcmp(preset, "wse3"))
        return -1;
    memset(c, 0, sizeof *c);
    c->preset = wse2 ? "wse2" : "wse3";
    c->width = wse2 ? 922 : 948;                /* 850,084 / 900,600 PEs */
    c->height = wse2 ? 922 : 950;
    c->wafers = 1;
    c->sram_bytes = 48 * 1024;
    c->reserve_bytes = c->sram_bytes / 12;
    c->clock_hz = 1.1e9;
    c->fma_per_cycle = wse2 ? 4 : 8;
    /* published memory bandwidth / published PE count / clock */
    c->sram_bytes_per_cycle = wse2 ? 20e15 / (850e3 * 1.1e9) : 21e15 / (900e3 * 1.1e9);
    c->link_bytes_per_cycle = 4;
    c->hop_cycles = 1;
    c->offwafer_latency_s = 2e-6;
    c->offwafer_bytes_per_s = 1.2e12 / 8;
    c->ctx = 4096;
    return 0;
}

// ---------------------------------------------------------------- registry

static uint32_t hash_of(const void *key, int cap)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32) & (uint32_t)(cap - 1);
}

static int rehash(wse_acct *a, int cap)
{
    int32_t *h = calloc((size_t)cap, sizeof *h);
    if (!h) return -1;
    for (int i = 0; i < a->n_regs; i++) {
        uint32_t j = hash_of(a->regs[i].key, cap);
        while (h[j]) j = (j + 1) & (uint32_t)(cap - 1);
        h[j] = i + 1;
    }
    free(a->hash);
    a->hash = h;
    a->hash_cap = cap;
    return 0;
}

wse_region *wse_find(const wse_acct *a, const void *key)
{
    if (!a->hash_cap) return NULL;
    for (uint32_t j = hash_of(key, a->hash_cap); a->hash[j]; j = (j + 1) & (uint32_t)(a->hash_cap - 1))
        if (a->regs[a->hash[j] - 1].key == key)
            return &a->regs[a->hash[j] - 1];
    return NULL;
}

/* Appends a zeroed region for key; NULL when out of memory. */
static wse_region *add_region(wse_acct *a, const void *key)
{
    if (a->n_regs == a->cap_regs) {
        int cap = a->cap_regs ? a->cap_regs * 2 : 64;
        wse_region *r = realloc(a->regs, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        a->regs = r;
        a->cap_regs = cap;
    }
    if ((a->n_regs + 1) * 2 > a->hash_cap && rehash(a, a->hash_cap ? a->hash_cap * 2 : 128))
        return NULL;
    wse_region *r = &a->regs[a->n_regs++];
    memset(r, 0, sizeof *r);
    r->key = key;
    uint32_t j = hash_of(key, a->hash_cap);
    while (a->hash[j]) j = (j + 1) & (uint32_t)(a->hash_cap - 1);
    a->hash[j] = a->n_regs;
    return r;
}

int wse_acct_init(wse_acct *a, const wse_config *cfg, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    if (cfg->width < 1 || cfg->height < 1 || cfg->wafers < 1 || cfg->sram_bytes <= cfg->reserve_bytes ||
        !(cfg->clock_hz > 0) || !(cfg->fma_per_cycle > 0) || !(cfg->sram_bytes_per_cycle > 0) ||
        !(cfg->link_bytes_per_cycle > 0) || cfg->ctx < 1) {
        snprintf(err, errlen, "wse: bad configuration (geometry %dx%d, %d wafers, %u B SRAM per PE)",
                 cfg->width, cfg->height, cfg->wafers, cfg->sram_bytes);
        return -1;
    }
    a->cap_bytes = cfg->sram_bytes - cfg->reserve_bytes;
    a->strip_h = (int)lround(sqrt((double)cfg->height));
    if (a->strip_h < 1) a->strip_h = 1;
    a->kv_reserve = cfg->ctx;
    return 0;
}

void wse_acct_free(wse_acct *a)
{
    free(a->regs);
    free(a->hash);
    a->regs = NULL;
    a->hash = NULL;
}

void wse_acct_clear(wse_acct *a)
{
    a->n_regs = 0;
    if (a->hash) memset(a->hash, 0, (size_t)a->hash_cap * sizeof *a->hash);
    a->planned = a->dirty = 0;
    a->cur_wafer = a->cur_strip = a->cur_col = 0;
    a->pes_used = 0;
    a->kv_reserve = a->cfg.ctx;
    a->prev = 0;
    a->vec_pes = 0;
}

uint64_t wse_capacity_bytes(const wse_acct *a)
{
    return (uint64_t)a->cfg.width * a->cfg.height * a->cfg.wafers * a->cap_bytes;
}

// ---------------------------------------------------------------- strips

static int n_strips(const wse_acct *a) { int n = a->cfg.height / a->strip_h; return n < 1 ? 1 : n; }

static int strip_rows(const wse_acct *a, int s)
{
    return s == n_strips(a) - 1 ? a->cfg.height - s * a->strip_h : a->strip_h;
}

/* Takes whole strip columns from the cursor until `need` PEs are covered,
 * all on one wafer (moving to the next wafer if the rest of this one is too
 * small). Writes r's position and rectangle. -1 if no wafer has room. */
static int alloc_pes(wse_acct *a, wse_region *r, int64_t need)
{
    const int W = a->cfg.width;
    for (;;) {
        if (a->cur_wafer >= a->cfg.wafers) return -1;
        int s = a->cur_strip, c = a->cur_col;
        int64_t got = 0;
        int first_take = 0, rows = 0;
        while (got < need && s < n_strips(a)) {
            int h = strip_rows(a, s);
            int64_t cols = (need - got + h - 1) / h;
            int take = cols < W - c ? (int)cols : W - c;
            if (!got) first_take = take;
            got += (int64_t)take * h;
            rows += h;
            c += take;
            if (c == W) { s++; c = 0; }
        }
        if (got >= need) {
            /* seen as one rectangle: the rows of every strip it touches */
            int h = strip_rows(a, a->cur_strip);
            int mid = a->cur_col + first_take / 2;
            r->wafer = a->cur_wafer;
            r->cx = a->cur_strip % 2 ? W - 1 - mid : mid;
            r->cy = a->cur_strip * a->strip_h + (rows > h ? rows : h) / 2;
            r->ph = rows;
            r->pw = (int)((got + rows - 1) / rows);
            r->pes = got;
            a->pes_used += got;
            a->cur_strip = s;
            a->cur_col = c;
            return 0;
        }
        if (a->cur_strip == 0 && a->cur_col == 0) return -1;   /* too big for any wafer */
        a->cur_wafer++;
        a->cur_strip = a->cur_col = 0;
    }
}

// ---------------------------------------------------------------- sizes

static uint64_t kv_pos_bytes(const wse_region *r) { return (uint64_t)r->kv_dim * 2 * WSE_ACT_BYTES; }

static uint64_t matrix_bytes(dev_dtype t, int n_out, int n_in)
{
    return (uint64_t)n_out * dev_row_bytes(t, n_in);
}

/* Positions a KV region of `pes` PEs holds at `per_pe` bytes each. */
static int kv_positions(const wse_region *r, int64_t pes, uint64_t per_pe)
{
    uint64_t p = (uint64_t)pes * per_pe / kv_pos_bytes(r);
    return p > INT32_MAX ? INT32_MAX : (int)p;
}

/* The PE count past which spreading a region further makes its op slower
 * (compute saved < span added): the minimum of the GEMV cost of wse_cycle.c
 * over P for rows fixed at strip_h, T(P) ~ macs/(f P) + P/h + n_out h/P:
 * P = sqrt(h (macs/f + n_out h)). */
static int64_t pes_useful(const wse_acct *a, const wse_region *r, int positions)
{
    double h = a->strip_h, f = a->cfg.fma_per_cycle, macs, outs;
    if (r->kind == WSE_REG_MATRIX) {
        macs = (double)r->n_out * r->n_in;
        outs = r->n_out;
    } else {
        macs = 2.0 * r->n_heads * (double)positions * r->head_dim;
        outs = (double)r->n_heads * r->head_dim;
    }
    double p = sqrt(h * (macs / f + outs * h));
    return p < 1 ? 1 : (int64_t)ceil(p);
}

// ---------------------------------------------------------------- errors

static void gb(char *buf, size_t len, double bytes)
{
    if (bytes >= 1e9) snprintf(buf, len, "%.1f GB", bytes / 1e9);
    else if (bytes >= 1e6) snprintf(buf, len, "%.1f MB", bytes / 1e6);
    else if (bytes >= 1e3) snprintf(buf, len, "%.1f KB", bytes / 1e3);
    else snprintf(buf, len, "%.0f B", bytes);
}

/* Writes the capacity error: what is needed (need_pes PEs, holding
 * w_bytes of weights and kv_bytes of KV cache), what the geometry has, by
 * how much it is short, what would hold it. `what` says whose need it is. */
static void capacity_error(wse_acct *a, const char *what, double need_pes, uint64_t w_bytes,
                           uint64_t kv_bytes, int kv_pos)
{
    const wse_config *c = &a->cfg;
    double cap = (double)a->cap_bytes, pes = (double)c->width * c->height * c->wafers;
    /* what would hold it: whole strip columns waste up to a column per region, so 5% slack */
    double want = need_pes + floor(need_pes * 0.05);
    int wafers = (int)ceil(want / ((double)c->width * c->height));
    long rows = (long)ceil(want / c->width);
    if (wafers <= c->wafers) wafers = c->wafers + 1;
    if (rows <= c->height) rows = c->height + 1;
    char sn[24], sw[24], sk[24], sh[24], sd[24], sx[24] = "";
    gb(sn, sizeof sn, need_pes * cap);
    gb(sw, sizeof sw, (double)w_bytes);
    gb(sk, sizeof sk, (double)kv_bytes);
    gb(sh, sizeof sh, pes * cap);
    if (c->wafers > 1) snprintf(sx, sizeof sx, " x %d wafers", c->wafers);
    if (need_pes <= pes) {      /* enough PEs in all, but not in one piece where needed */
        snprintf(a->err, sizeof a->err,
                 "%s needs %.0f PEs (%s: weights %s + KV %s for %d positions), wse geometry %dx%d%s has "
                 "%.0f PEs (%s) but not in one wafer's remaining strips; try wse:wafers=%d",
                 what, need_pes, sn, sw, sk, kv_pos, c->width, c->height, sx, pes, sh, wafers);
        return;
    }
    gb(sd, sizeof sd, (need_pes - pes) * cap);
    snprintf(a->err, sizeof a->err,
             "%s needs %.0f PEs (%s: weights %s + KV %s for %d positions), wse geometry %dx%d%s has "
             "%.0f PEs (%s): %.0f PE%s (%s) short; try wse:wafers=%d or wse:geometry=%dx%ld",
             what, need_pes, sn, sw, sk, kv_pos, c->width, c->height, sx, pes, sh, need_pes - pes,
             need_pes - pes == 1 ? "" : "s", sd, wafers, c->width, rows);
}

static void totals(const wse_acct *a, uint64_t *w, uint64_t *kv, int *kv_pos)
{
    *w = *kv = 0;
    *kv_pos = 0;
    for (int i = 0; i < a->n_regs; i++) {
        const wse_region *r = &a->regs[i];
        if (r->kind == WSE_REG_MATRIX) *w += r->bytes;
        else { *kv += r->bytes; if (r->kv_held > *kv_pos) *kv_pos = r->kv_held; }
    }
}

/* Capacity error for `need` more PEs in the packed placement (extra_w / extra_kv bytes). */
static void packed_error(wse_acct *a, int64_t need, uint64_t extra_w, uint64_t extra_kv, int kv_pos)
{
    uint64_t w, kv;
    int pos;
    totals(a, &w, &kv, &pos);
    capacity_error(a, a->planned ? "the model" : "the model so far", (double)(a->pes_used + need),
                   w + extra_w, kv + extra_kv, kv_pos > pos ? kv_pos : pos);
}

// ---------------------------------------------------------------- regions

wse_region *wse_matrix(wse_acct *a, const void *W, dev_dtype t, int n_out, int n_in)
{
    wse_region *r = wse_find(a, W);
    if (r && r->kind == WSE_REG_MATRIX && r->type == t && r->n_out == n_out && r->n_in == n_in)
        return r;
    uint64_t bytes = matrix_bytes(t, n_out, n_in);
    int64_t need = (int64_t)((bytes + a->cap_bytes - 1) / a->cap_bytes);
    if (r && r->pes >= need) {      /* the pointer now holds another matrix that fits its PEs */
        r->kind = WSE_REG_MATRIX;
        r->type = t; r->n_out = n_out; r->n_in = n_in; r->bytes = bytes;
        a->dirty = 1;
        return r;
    }
    wse_region tmp = { .key = W, .kind = WSE_REG_MATRIX, .type = t, .n_out = n_out, .n_in = n_in,
                       .bytes = bytes };
    if (alloc_pes(a, &tmp, need)) {
        packed_error(a, need, bytes, 0, 0);
        return NULL;
    }
    if (!r && !(r = add_region(a, W))) {
        snprintf(a->err, sizeof a->err, "wse: out of memory for the placement");
        return NULL;
    }
    tmp.last_step = a->step_no;
    *r = tmp;       /* a re-registered pointer's old PEs stay used until the next plan */
    a->dirty = 1;
    return r;
}

wse_region *wse_kv(wse_acct *a, const void *k_cache, int n_heads, int n_kv_heads, int head_dim, int used)
{
    wse_region *r = wse_find(a, k_cache);
    if (r && (r->kind != WSE_REG_KV || r->n_heads != n_heads || r->n_kv_heads != n_kv_heads ||
              r->head_dim != head_dim)) {
        /* another shape under this pointer: start it over (old PEs freed at the next plan) */
        r->kind = WSE_REG_KV;
        r->n_heads = n_heads; r->n_kv_heads = n_kv_heads; r->head_dim = head_dim;
        r->kv_dim = n_kv_heads * head_dim;
        r->kv_used = r->kv_held = 0;
        r->pes = 0;
        r->bytes = 0;
        a->dirty = 1;
    }
    if (!r) {
        if (!(r = add_region(a, k_cache))) {
            snprintf(a->err, sizeof a->err, "wse: out of memory for the placement");
            return NULL;
        }
        r->kind = WSE_REG_KV;
        r->n_heads = n_heads; r->n_kv_heads = n_kv_heads; r->head_dim = head_dim;
        r->kv_dim = n_kv_heads * head_dim;
        a->dirty = 1;
    }
    r->last_step = a->step_no;
    if (used > r->kv_used) r->kv_used = used;
    if (r->kv_used <= r->kv_held) return r;
    /* grow: whole columns at the cursor, packed full */
    uint64_t extra = (uint64_t)(r->kv_used - r->kv_held) * kv_pos_bytes(r);
    int64_t need = (int64_t)((extra + a->cap_bytes - 1) / a->cap_bytes);
    wse_region piece = *r;
    if (alloc_pes(a, &piece, need)) {
        packed_error(a, need, 0, extra, r->kv_used);
        return NULL;
    }
    if (r->pes == 0) {
        *r = piece;
    } else {
        r->pes += piece.pes;
        r->pw = (int)((r->pes + r->ph - 1) / r->ph);
    }
    /* positions held: what the PEs already had plus the packed new columns */
    r->kv_held += kv_positions(r, piece.pes, a->cap_bytes);
    r->bytes = (uint64_t)r->kv_held * kv_pos_bytes(r);
    if (a->planned) a->dirty = 1;       /* the next plan reserves more */
    return r;
}

wse_region *wse_declare_matrix(wse_acct *a, const void *W, dev_dtype t, int n_out, int n_in)
{
    wse_region *r = wse_find(a, W);
    if (!r && !(r = add_region(a, W))) return NULL;
    *r = (wse_region){ .key = W, .kind = WSE_REG_MATRIX, .type = t, .n_out = n_out, .n_in = n_in,
                       .bytes = matrix_bytes(t, n_out, n_in), .last_step = a->step_no };
    a->dirty = 1;
    return r;
}

wse_region *wse_declare_kv(wse_acct *a, const void *k_cache, int n_heads, int n_kv_heads, int head_dim,
                           int used)
{
    wse_region *r = wse_find(a, k_cache);
    if (!r && !(r = add_region(a, k_cache))) return NULL;
    *r = (wse_region){ .key = k_cache, .kind = WSE_REG_KV, .n_heads = n_heads, .n_kv_heads = n_kv_heads,
                       .head_dim = head_dim, .kv_dim = n_kv_heads * head_dim, .kv_used = used,
                       .last_step = a->step_no };
    a->dirty = 1;
    return r;
}

// ---------------------------------------------------------------- the plan

/* Drops KV regions not used for WSE_STALE_STEPS steps and rebuilds the hash. */
static void drop_stale(wse_acct *a)
{
    int n = 0;
    for (int i = 0; i < a->n_regs; i++) {
        wse_region *r = &a->regs[i];
        if (r->kind == WSE_REG_KV && r->last_step + WSE_STALE_STEPS < a->step_no) continue;
        a->regs[n++] = *r;
    }
    if (n != a->n_regs) {
        a->n_regs = n;
        rehash(a, a->hash_cap);
    }
}

/* One packing pass at `tile` bytes per PE; 0 if every region fits. */
static int pack(wse_acct *a, uint64_t tile, int reserve)
{
    a->cur_wafer = a->cur_strip = a->cur_col = 0;
    a->pes_used = 0;
    for (int i = 0; i < a->n_regs; i++) {
        wse_region *r = &a->regs[i];
        if (r->kind == WSE_REG_KV) r->bytes = (uint64_t)reserve * kv_pos_bytes(r);
        int64_t min = (int64_t)((r->bytes + a->cap_bytes - 1) / a->cap_bytes);
        int64_t want = (int64_t)((r->bytes + tile - 1) / tile);
        int64_t useful = pes_useful(a, r, reserve);
        if (want > useful) want = useful;
        if (want < min) want = min;
        if (want < 1) want = 1;
        if (alloc_pes(a, r, want)) return -1;
        if (r->kind == WSE_REG_KV) r->kv_held = reserve;
    }
    return 0;
}

/* The plan at one KV reservation; 0, or -1 with a->err set and the
 * placement as it was. */
static int plan_at(wse_acct *a, int reserve)
{
    uint64_t w = 0, kv = 0;
    for (int i = 0; i < a->n_regs; i++) {
        const wse_region *r = &a->regs[i];
        if (r->kind == WSE_REG_MATRIX) w += r->bytes;
        else kv += (uint64_t)reserve * kv_pos_bytes(r);
    }
    double need_pes = ceil((double)(w + kv) / (double)a->cap_bytes);
    if (w + kv > wse_capacity_bytes(a)) {
        capacity_error(a, "the model", need_pes, w, kv, reserve);
        return -1;
    }
    /* keep the current placement to fall back on */
    size_t sz = (size_t)a->n_regs * sizeof *a->regs;
    wse_region *saved = malloc(sz ? sz : 1);
    if (!saved) { snprintf(a->err, sizeof a->err, "wse: out of memory for the placement"); return -1; }
    memcpy(saved, a->regs, sz);
    int cw = a->cur_wafer, cs = a->cur_strip, cc = a->cur_col;
    int64_t used = a->pes_used;

    /* the thinnest tile that packs: from an even spread up to full PEs */
    uint64_t pes = (uint64_t)a->cfg.width * a->cfg.height * a->cfg.wafers;
    uint64_t tile = (w + kv + pes - 1) / pes;
    if (tile < 1) tile = 1;
    int ok = 0;
    for (int it = 0; it < 400 && !ok; it++) {
        if (tile > a->cap_bytes) tile = a->cap_bytes;
        ok = pack(a, tile, reserve) == 0;
        if (tile == a->cap_bytes) break;
        tile = tile + tile / 32 + 1;
    }
    if (!ok) {
        memcpy(a->regs, saved, sz);
        a->cur_wafer = cw; a->cur_strip = cs; a->cur_col = cc;
        a->pes_used = used;
        free(saved);
        capacity_error(a, "the model", need_pes, w, kv, reserve);
        return -1;
    }
    free(saved);
    a->kv_reserve = reserve;
    return 0;
}

int wse_plan(wse_acct *a, int strict)
{
    drop_stale(a);
    a->prev = 0;
    int in_use = 0;
    for (int i = 0; i < a->n_regs; i++)
        if (a->regs[i].kind == WSE_REG_KV && a->regs[i].kv_used > in_use)
            in_use = a->regs[i].kv_used;
    int reserve = a->cfg.ctx > in_use ? a->cfg.ctx : in_use;
    int rc = plan_at(a, reserve);
    while (rc && !strict && reserve > in_use) {
        reserve = reserve / 2 > in_use ? reserve / 2 : in_use;
        rc = plan_at(a, reserve);
    }
    a->dirty = 0;       /* failed or not: try again only when something changes */
    if (rc) return -1;
    a->planned = 1;
    a->prev = 0;
    return 0;
}

// ---------------------------------------------------------------- summary

void wse_placement_of(const wse_acct *a, wse_placement *p)
{
    memset(p, 0, sizeof *p);
    const wse_config *c = &a->cfg;
    p->planned = a->planned;
    p->pes_total = (int64_t)c->width * c->height * c->wafers;
    p->strip_height = a->strip_h;
    p->kv_positions = 0;
    double hops = 0;
    int n_hops = 0;
    const wse_region *last = NULL;
    for (int i = 0; i < a->n_regs; i++) {
        const wse_region *r = &a->regs[i];
        if (r->kind == WSE_REG_MATRIX) {
            p->n_matrices++;
            p->pes_weights += r->pes;
            p->weight_bytes += r->bytes;
        } else {
            p->n_kv++;
            p->pes_kv += r->pes;
            p->kv_bytes += r->bytes;
            if (r->kv_held > p->kv_positions) p->kv_positions = r->kv_held;
        }
        if (r->wafer + 1 > p->wafers_used) p->wafers_used = r->wafer + 1;
        if (r->pw > p->max_bcast_hops) p->max_bcast_hops = r->pw;
        if (r->ph > p->max_reduce_hops) p->max_reduce_hops = r->ph;
        if (last && last->wafer == r->wafer) {
            hops += abs(last->cx - r->cx) + abs(last->cy - r->cy);
            n_hops++;
        }
        last = r;
    }
    int64_t used = p->pes_weights + p->pes_kv;
    p->bytes_per_pe = used ? (double)(p->weight_bytes + p->kv_bytes) / (double)used : 0;
    p->fill = p->bytes_per_pe / c->sram_bytes;
    p->capacity_limited = used && p->bytes_per_pe >= 0.9 * (double)a->cap_bytes;
    p->mean_route_hops = n_hops ? hops / n_hops : 0;
}
