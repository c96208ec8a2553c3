/* cmd_device.c — `sparkd device info` and `sparkd device project`: the
 * device's figures, and the emulated wafer's placement and PROJECTED decode
 * speed for a model shape (nothing is computed on the host for a
 * projection; see engine/device/README.md for the cycle model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include "dev.h"
#include "model.h"
#include "wse.h"

int cmd_device(int argc, char **argv);

static const char USAGE[] =
    "usage: sparkd device info [--device SPEC]\n"
    "       sparkd device project --shape SHAPE [--device wse[:OPTS]] [--pos N] [--ctx N] [--json]\n"
    "\n"
    "info      the device's figures (default device: wse). For wse: geometry, SRAM,\n"
    "          clock, SIMD width, memory and fabric bandwidth, with their sources.\n"
    "project   place a model on the emulated wafer(s) and project its single-user\n"
    "          decode speed. Nothing runs on the host: the numbers are PROJECTED\n"
    "          by the cycle model (engine/device/README.md), not measured.\n"
    "\n"
    "  --shape SHAPE   llama-3.1-8b | llama-3.1-70b | qwen2.5-0.5b (16-bit weights)\n"
    "                  or PATH.gguf (its hyper-parameters and weight type)\n"
    "  --device SPEC   wse options, e.g. wse:preset=wse2 or wse:geometry=948x950,wafers=2\n"
    "                  (without wafers=: the fewest wafers that hold the model)\n"
    "  --pos N         context position of the projected token (default 1024)\n"
    "  --ctx N         KV positions to reserve in SRAM (default: the device's ctx, 4096)\n"
    "  --json          print JSON instead of text\n"
    "\n"
    "wse options: preset=wse3|wse2, geometry=WxH, wafers=N, sram_kb=K, clock_ghz=F,\n"
    "fma=N, ctx=N, threads=N, simd=NAME (see `sparkd device info`).\n";

// ---------------------------------------------------------------- info

static void print_wse_info(const wse_config *c)
{
    double pes = (double)c->width * c->height;
    double sram = pes * c->sram_bytes;
    printf("wafer (preset %s; published figures unless marked derived/assumed):\n", c->preset);
    printf("  geometry        %d x %d PEs = %.0f PEs per wafer, %d wafer%s\n", c->width, c->height, pes,
           c->wafers, c->wafers > 1 ? "s" : "");
    printf("  SRAM            %u B per PE (%u B kept for code: assumed 1/12), %.1f GB per wafer\n",
           c->sram_bytes, c->reserve_bytes, sram / 1e9);
    printf("  clock           %.2f GHz\n", c->clock_hz / 1e9);
    printf("  compute         %.0f 16-bit FMAs per PE per cycle = %.1f PFLOP/s per wafer (derived)\n",
           c->fma_per_cycle, 2 * c->fma_per_cycle * pes * c->clock_hz / 1e15);
    printf("  SRAM bandwidth  %.1f B per PE per cycle = %.1f PB/s per wafer\n", c->sram_bytes_per_cycle,
           c->sram_bytes_per_cycle * pes * c->clock_hz / 1e15);
    printf("  fabric          %.0f B per link per cycle, %.0f cycle per hop; 4 links x 2 directions "
           "= %.0f Pb/s per wafer (derived)\n", c->link_bytes_per_cycle, c->hop_cycles,
           c->link_bytes_per_cycle * 8 * 8 * pes * c->clock_hz / 1e15);
    printf("  off-wafer link  %.0f GB/s, %.1f us per crossing (latency assumed)\n",
           c->offwafer_bytes_per_s / 1e9, c->offwafer_latency_s * 1e6);
    printf("  KV reservation  %d positions\n", c->ctx);
}

static int do_info(const char *spec)
{
    char err[512];
    dev_device *d = dev_open(spec, err, sizeof err);
    if (!d) { fprintf(stderr, "sparkd device: cannot open '%s': %s\n", spec, err); return 1; }
    dev_info info;
    dev_get_info(d, &info);
    printf("device %s: host kernels %s on %d thread%s\n", info.name, info.simd, info.threads,
           info.threads > 1 ? "s" : "");
    wse_config c;
    if (wse_get_config(d, &c) == 0) {
        print_wse_info(&c);
        printf("results are computed on the host (bit-identical to cpu); wafer times are projections\n");
    }
    dev_close(d);
    return 0;
}

// ---------------------------------------------------------------- project

/* Fills s from a GGUF model's hyper-parameters and its first layer's
 * weight type. name is copied into namebuf. */
static int shape_from_gguf(const char *path, wse_shape *s, char *namebuf, size_t namelen)
{
    char err[512];
    dev_device *d = dev_open("cpu:threads=1", err, sizeof err);
    eng_model *m = d ? eng_model_load(path, d, err, sizeof err) : NULL;
    if (!m) {
        fprintf(stderr, "sparkd device: %s\n", err);
        dev_close(d);
        return -1;
    }
    const eng_hparams *hp = eng_model_hparams(m);
    const gguf_tensor *t = gguf_find_tensor(eng_model_gguf(m), "blk.0.attn_q.weight");
    const char *slash = strrchr(path, '/');
    snprintf(namebuf, namelen, "%s", slash ? slash + 1 : path);
    *s = (wse_shape){ namebuf, hp->arch == ENG_ARCH_QWEN2, hp->dim, hp->n_layers, hp->n_heads, hp->n_kv_heads,
                      hp->head_dim, hp->ffn_dim, hp->n_vocab, hp->tied_output, (dev_dtype)t->type };
    eng_model_free(m);
    dev_close(d);
    return 0;
}

static const char *bytes_str(char *buf, size_t len, double b)
{
    if (b >= 1e9) snprintf(buf, len, "%.2f GB", b / 1e9);
    else snprintf(buf, len, "%.2f MB", b / 1e6);
    return buf;
}

static void print_projection(const wse_shape *s, const wse_projection *p, int pos)
{
    const wse_config *c = &p->cfg;
    const wse_placement *pl = &p->place;
    int64_t used = pl->pes_weights + pl->pes_kv;
    printf("%s on %s %dx%d x %d wafer%s: PROJECTED by the cycle model, not measured\n", s->name, c->preset,
           c->width, c->height, c->wafers, c->wafers > 1 ? "s" : "");
    printf("placement:\n");
    printf("  PEs used        %lld of %lld (%.1f%%): weights %lld, KV cache %lld\n", (long long)used,
           (long long)pl->pes_total, 100.0 * used / pl->pes_total, (long long)pl->pes_weights,
           (long long)pl->pes_kv);
    printf("  SRAM per PE     %.1f KiB of %.1f KiB used (%.0f%%)%s\n", pl->bytes_per_pe / 1024,
           c->sram_bytes / 1024.0, 100 * pl->fill, pl->capacity_limited ? "; capacity-limited: tiles are "
           "as large as SRAM allows" : "; not capacity-limited");
    char wb[32], kb[32];
    printf("  weights         %s in %d matrices (%s); KV cache %s for %d positions x %d layers\n",
           bytes_str(wb, sizeof wb, (double)pl->weight_bytes), pl->n_matrices, dev_dtype_name(s->wtype),
           bytes_str(kb, sizeof kb, (double)pl->kv_bytes), pl->kv_positions, pl->n_kv);
    printf("  hops            %.0f mean between consecutive regions; widest row broadcast %d, "
           "tallest column reduction %d (strips of %d rows)\n", pl->mean_route_hops, pl->max_bcast_hops,
           pl->max_reduce_hops, pl->strip_height);
    printf("projected decode, one user, token at position %d:\n", pos);
    printf("  per token       %.3f ms (%.0f cycles at %.2f GHz)\n", p->step_cycles / c->clock_hz * 1e3,
           p->step_cycles, c->clock_hz / 1e9);
    printf("  decode          %.0f tok/s (projected)\n", p->tok_s);
    printf("  bounded by      %s\n", wse_bound_name(p->step.bound));
    printf("  %-12s %5s %12s %6s %9s %9s %9s\n", "op", "ops", "cycles", "share", "compute", "sram", "fabric");
    for (int o = 0; o < WSE_N_OPS; o++) {
        const wse_op_stats *os = &p->step.by_op[o];
        double cyc = os->cycles[0] + os->cycles[1] + os->cycles[2];
        printf("  %-12s %5llu %12.0f %5.1f%% %8.0f%% %8.0f%% %8.0f%%\n", wse_op_name(o),
               (unsigned long long)os->ops, cyc, 100 * cyc / p->step_cycles,
               cyc > 0 ? 100 * os->cycles[0] / cyc : 0, cyc > 0 ? 100 * os->cycles[1] / cyc : 0,
               cyc > 0 ? 100 * os->cycles[2] / cyc : 0);
    }
}

static json_t *projection_json(const wse_shape *s, const wse_projection *p, int pos)
{
    const wse_placement *pl = &p->place;
    json_t *by = json_object();
    for (int o = 0; o < WSE_N_OPS; o++) {
        const wse_op_stats *os = &p->step.by_op[o];
        json_object_set_new(by, wse_op_name(o), json_pack("{s:I,s:f,s:f,s:f}", "ops", (json_int_t)os->ops,
            "compute_cycles", os->cycles[0], "sram_cycles", os->cycles[1], "fabric_cycles", os->cycles[2]));
    }
    return json_pack("{s:s,s:b,s:s,s:i,s:i,s:i,s:i,s:{s:I,s:I,s:I,s:f,s:f,s:f,s:i,s:b,s:f,s:i,s:i},"
                     "s:{s:f,s:f,s:f,s:s,s:o}}",
        "shape", s->name, "projected", 1, "preset", p->cfg.preset, "width", p->cfg.width,
        "height", p->cfg.height, "wafers", p->cfg.wafers, "pos", pos,
        "placement", "pes_total", (json_int_t)pl->pes_total, "pes_weights", (json_int_t)pl->pes_weights,
        "pes_kv", (json_int_t)pl->pes_kv, "weight_gb", pl->weight_bytes / 1e9, "kv_gb", pl->kv_bytes / 1e9,
        "sram_bytes_per_pe", pl->bytes_per_pe, "kv_positions", pl->kv_positions,
        "capacity_limited", pl->capacity_limited, "mean_route_hops", pl->mean_route_hops,
        "max_bcast_hops", pl->max_bcast_hops, "max_reduce_hops", pl->max_reduce_hops,
        "projected_decode", "cycles_per_token", p->step_cycles, "ms_per_token",
        p->step_cycles / p->cfg.clock_hz * 1e3, "tok_s", p->tok_s, "bound", wse_bound_name(p->step.bound),
        "by_op", by);
}

static int do_project(const char *spec, const char *shape, const char *pos_s, const char *ctx_s, int json)
{
    wse_shape gs;
    char namebuf[256];
    const wse_shape *s = wse_shape_find(shape);
    if (!s) {
        size_t n = strlen(shape);
        if (n < 5 || strcmp(shape + n - 5, ".gguf")) {
            fprintf(stderr, "sparkd device: unknown shape '%s' (llama-3.1-8b, llama-3.1-70b, qwen2.5-0.5b "
                    "or a .gguf file)\n", shape);
            return 2;
        }
        if (shape_from_gguf(shape, &gs, namebuf, sizeof namebuf)) return 1;
        s = &gs;
    }
    char err[512];
    dev_device *d = dev_open(spec, err, sizeof err);
    if (!d) { fprintf(stderr, "sparkd device: cannot open '%s': %s\n", spec, err); return 2; }
    wse_config c;
    int is_wse = wse_get_config(d, &c) == 0;
    dev_close(d);
    if (!is_wse) { fprintf(stderr, "sparkd device: project needs a wse device, not '%s'\n", spec); return 2; }
    if (!strstr(spec, "wafers=")) c.wafers = 0;
    char *end;
    long pos = pos_s ? strtol(pos_s, &end, 10) : 1024;
    long ctx = ctx_s ? strtol(ctx_s, &end, 10) : c.ctx;
    if (pos < 0 || pos >= (1 << 24) || ctx < 1 || ctx > (1 << 24)) {
        fprintf(stderr, "sparkd device: --pos must be 0..16777215 and --ctx 1..16777216\n");
        return 2;
    }
    c.ctx = (int)(ctx > pos + 1 ? ctx : pos + 1);
    wse_projection p;
    int rc = wse_project(&c, s, (int)pos, &p, err, sizeof err);
    if (rc) { fprintf(stderr, "sparkd device: %s\n", err); return rc == WSE_ECAPACITY ? 1 : 2; }
    if (json) {
        json_t *j = projection_json(s, &p, (int)pos);
        char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(txt ? txt : "{}");
        free(txt);
        json_decref(j);
    } else {
        print_projection(s, &p, (int)pos);
    }
    return 0;
}

int cmd_device(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    const char *device = NULL, *shape = NULL, *pos_s = NULL, *ctx_s = NULL, *json = NULL;
    cli_flag extras[] = { { "device", &device, 0 }, { "shape", &shape, 0 }, { "pos", &pos_s, 0 },
                          { "ctx", &ctx_s, 0 }, { "json", &json, 1 } };
    char *pos[2];
    int npos = cli_parse(&cfg, argc, argv, USAGE, extras, 5, pos, 2);
    if (npos < 0) return 2;
    if (npos != 1) { fputs(USAGE, stderr); return 2; }
    if (!device) device = "wse";
    if (!strcmp(pos[0], "info")) return do_info(device);
    if (!strcmp(pos[0], "project")) {
        if (!shape) { fprintf(stderr, "sparkd device project: --shape is required\n%s", USAGE); return 2; }
        return do_project(device, shape, pos_s, ctx_s, json != NULL);
    }
    fprintf(stderr, "sparkd device: unknown subcommand '%s'\n%s", pos[0], USAGE);
    return 2;
}
