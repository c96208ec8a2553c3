/* bench_device.c — `sparkd bench device`: what the wse emulation costs the
 * product. Host time per decode step on `wse` against `cpu` (same host
 * kernels, same thread count), for the bundled main model's shape and a
 * 0.5B shape (random weights), measured in alternating rounds so both see
 * the same machine load; the target is wse <= 110% of cpu. Beside it, the
 * wafer time the cycle model projects for the same steps, labelled as such
 * (it is never mixed into the host figures). JSON to DIR/device.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "dev.h"
#include "model.h"
#include "wse.h"

int bench_device(int argc, char **argv);

static const bench_shape SHAPES[] = {
    { "main-12m", "qwen2", 384, 6, 6, 2, 1024, 8192, 1 },
    { "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 1 },
};
static const struct { const char *name; gguf_type type; } TYPES[] = {
    { "F32", GGUF_F32 }, { "F16", GGUF_F16 }, { "Q8_0", GGUF_Q8_0 }, { "Q4_0", GGUF_Q4_0 },
};

static const char USAGE[] =
    "usage: sparkd bench device [--out DIR] [--shape main-12m|qwen2.5-0.5b|all] [--type F16|Q8_0|F32|Q4_0]\n"
    "                           [--threads N] [--steps N] [--rounds N]\n"
    "\n"
    "Host time per decode step of the wse device against cpu (target: wse <= 110%),\n"
    "in alternating rounds of N steps, and the wafer time the cycle model projects\n"
    "for the same steps. Writes DIR/device.json (default bench/results/).\n";

#define TARGET_RATIO 1.10
#define PREFILL 32

typedef struct {
    dev_device *d;
    eng_model *m;
    eng_ctx *c;
    float *logits;
} runner;

static int runner_open(runner *r, const char *spec, const char *path, int n_ctx)
{
    char err[512];
    memset(r, 0, sizeof *r);
    if (!(r->d = dev_open(spec, err, sizeof err)) || !(r->m = eng_model_load(path, r->d, err, sizeof err)) ||
        !(r->c = eng_ctx_new(r->m, n_ctx, PREFILL, err, sizeof err)) ||
        !(r->logits = malloc((size_t)eng_model_hparams(r->m)->n_vocab * sizeof *r->logits))) {
        fprintf(stderr, "bench device: %s: %s\n", spec, err);
        return -1;
    }
    int32_t toks[PREFILL];
    for (int i = 0; i < PREFILL; i++) toks[i] = (i * 37 + 11) % 256;
    if (eng_forward(r->c, toks, PREFILL, r->logits, 0)) {
        fprintf(stderr, "bench device: %s: %s\n", spec, eng_ctx_error(r->c));
        return -1;
    }
    return 0;
}

static void runner_close(runner *r)
{
    free(r->logits);
    eng_ctx_free(r->c);
    eng_model_free(r->m);
    dev_close(r->d);
}

/* CPU time of the whole process (every thread), in ms: unlike wall time,
 * not inflated while other load on the machine holds the cores. */
static double cpu_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct { double *wall, *cpu; int n; } samples;

/* One round: `steps` decode steps from position PREFILL, each one's wall
 * and CPU ms appended to s. */
static int round_of(runner *r, int steps, samples *s)
{
    eng_ctx_truncate(r->c, PREFILL);
    for (int i = 0; i < steps; i++) {
        int32_t t = (int32_t)((i * 13 + 5) % 256);
        double t0 = bench_now_ms(), c0 = cpu_ms_now();
        if (eng_forward(r->c, &t, 1, r->logits, 0)) {
            fprintf(stderr, "bench device: %s\n", eng_ctx_error(r->c));
            return -1;
        }
        s->cpu[s->n] = cpu_ms_now() - c0;
        s->wall[s->n++] = bench_now_ms() - t0;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* cpu and wse on one model file; a JSON row, or NULL on failure. */
static json_t *compare(const char *path, const char *shape, const char *type, int threads, int steps, int rounds)
{
    char cs[64], ws[64];
    snprintf(cs, sizeof cs, "cpu:threads=%d", threads);
    snprintf(ws, sizeof ws, "wse:threads=%d", threads);
    runner cpu, wse;
    memset(&wse, 0, sizeof wse);
    int n_ctx = PREFILL + steps + 8;
    if (runner_open(&cpu, cs, path, n_ctx) || runner_open(&wse, ws, path, n_ctx)) {
        runner_close(&cpu);
        runner_close(&wse);
        return NULL;
    }
    size_t cap = (size_t)steps * rounds + 2;
    samples sc = { malloc(cap * sizeof(double)), malloc(cap * sizeof(double)), 0 };
    samples sw = { malloc(cap * sizeof(double)), malloc(cap * sizeof(double)), 0 };
    int ok = sc.wall && sc.cpu && sw.wall && sw.cpu;
    ok = ok && !round_of(&cpu, 2, &sc) && !round_of(&wse, 2, &sw);   /* warm-up: page in, wake pools */
    sc.n = sw.n = 0;
    wse_reset_stats(wse.d);
    for (int r = 0; ok && r < rounds; r++)      /* alternate, so both see the same load */
        ok = !(r % 2 ? round_of(&wse, steps, &sw) || round_of(&cpu, steps, &sc)
                     : round_of(&cpu, steps, &sc) || round_of(&wse, steps, &sw));
    json_t *row = NULL;
    if (ok) {
        wse_stats st;
        wse_config cfg;
        wse_get_stats(wse.d, &st);
        wse_get_config(wse.d, &cfg);
        /* wall median: the typical step; wall min: the step least disturbed by
         * other load; CPU median: work done, whoever else holds the cores */
        double cpu_ms = median(sc.wall, sc.n), wse_ms = median(sw.wall, sw.n), ratio = wse_ms / cpu_ms;
        double cpu_min = sc.wall[0], wse_min = sw.wall[0], ratio_min = wse_min / cpu_min;
        double cpu_cpu = median(sc.cpu, sc.n), wse_cpu = median(sw.cpu, sw.n), ratio_cpu = wse_cpu / cpu_cpu;
        int within = ratio <= TARGET_RATIO || ratio_min <= TARGET_RATIO || ratio_cpu <= TARGET_RATIO;
        double proj_cyc = st.proj_cycles / (double)st.steps;
        double host_in_ops_ms = st.host_s * 1e3 / (double)st.steps;
        printf("%-13s %-5s %3d %8.3f %8.3f %6.3f %8.3f %8.3f %6.3f %8.3f %8.3f %6.3f %4s %10.0f %9.0f %s\n",
               shape, type, threads, cpu_ms, wse_ms, ratio, cpu_min, wse_min, ratio_min, cpu_cpu, wse_cpu,
               ratio_cpu, within ? "ok" : "OVER", proj_cyc, cfg.clock_hz / proj_cyc, wse_bound_name(st.bound));
        fflush(stdout);
        row = json_pack("{s:s,s:s,s:i,s:i,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},s:f,s:b,s:f,"
                        "s:{s:f,s:f,s:f,s:s}}",
            "shape", shape, "type", type, "threads", threads, "steps_per_device", sc.n,
            "host_wall_ms_per_step_median", "cpu", cpu_ms, "wse", wse_ms, "wse_vs_cpu", ratio,
            "host_wall_ms_per_step_min", "cpu", cpu_min, "wse", wse_min, "wse_vs_cpu", ratio_min,
            "host_cpu_time_ms_per_step_median", "cpu", cpu_cpu, "wse", wse_cpu, "wse_vs_cpu", ratio_cpu,
            "target_ratio", TARGET_RATIO, "within_target", within,
            "wse_host_ms_inside_ops_per_step", host_in_ops_ms,
            "projected_wafer", "cycles_per_step", proj_cyc, "us_per_step", proj_cyc / cfg.clock_hz * 1e6,
            "tok_s", cfg.clock_hz / proj_cyc, "bound", wse_bound_name(st.bound));
    }
    free(sc.wall); free(sc.cpu); free(sw.wall); free(sw.cpu);
    runner_close(&cpu);
    runner_close(&wse);
    return row;
}

int bench_device(int argc, char **argv)
{
    const char *out = "bench/results", *shape = "all", *type = "F16";
    int threads = 2, steps = 8, rounds = 10;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "sparkd bench device: '%s' needs a value\n%s", argv[i], USAGE); return 2; }
        if (!strcmp(argv[i], "--out")) out = argv[++i];
        else if (!strcmp(argv[i], "--shape")) shape = argv[++i];
        else if (!strcmp(argv[i], "--type")) type = argv[++i];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[++i]);
        else { fprintf(stderr, "sparkd bench device: unknown option '%s'\n%s", argv[i], USAGE); return 2; }
    }
    int ti = -1;
    for (int t = 0; t < (int)(sizeof TYPES / sizeof *TYPES); t++)
        if (!strcmp(type, TYPES[t].name)) ti = t;
    if (ti < 0 || threads < 1 || threads > 256 || steps < 1 || rounds < 2) {
        fprintf(stderr, "sparkd bench device: --type F32|F16|Q8_0|Q4_0, --threads 1..256, --steps >= 1, "
                "--rounds >= 2\n");
        return 2;
    }
    json_t *root = json_object(), *runs = json_array();
    json_object_set_new(root, "bench", json_string("device"));
    json_object_set_new(root, "note", json_string("host_* figures are measured on this machine; "
                        "projected_wafer figures come from the wse cycle model and are not measurements"));
    json_object_set_new(root, "prefill_tokens", json_integer(PREFILL));
    json_object_set_new(root, "rounds", json_integer(rounds));
    printf("host ms per decode step over %d rounds x %d steps (alternating cpu/wse); projected: wafer\n",
           rounds, steps);
    printf("%-13s %-5s %3s %8s %8s %6s %8s %8s %6s %8s %8s %6s %4s %10s %9s %s\n", "", "", "", "wall", "",
           "median", "wall", "", "min", "cpu", "time", "median", "", "projected", "", "");
    printf("%-13s %-5s %3s %8s %8s %6s %8s %8s %6s %8s %8s %6s %4s %10s %9s %s\n", "shape", "type", "thr",
           "cpu ms", "wse ms", "ratio", "cpu ms", "wse ms", "ratio", "cpu ms", "wse ms", "ratio", "", "cycles",
           "tok/s", "bound");
    int rc = 0, ran = 0;
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
        if (strcmp(shape, "all") && strcmp(shape, SHAPES[s].name)) continue;
        char path[256], err[512];
        snprintf(path, sizeof path, "/tmp/sparkd-bench-device-%d-%s-%s.gguf", (int)getpid(), SHAPES[s].name, type);
        if (bench_write_model(path, &SHAPES[s], TYPES[ti].type, 7, err, sizeof err)) {
            fprintf(stderr, "bench device: %s\n", err);
            rc = 1;
            continue;
        }
        json_t *row = compare(path, SHAPES[s].name, type, threads, steps, rounds);
        unlink(path);
        if (row) {
            json_array_append_new(runs, row);
            ran++;
        } else {
            rc = 1;
        }
    }
    if (!ran) { fprintf(stderr, "sparkd bench device: unknown shape '%s'\n", shape); rc = rc ? rc : 2; }
    json_object_set_new(root, "runs", runs);
    if (ran && bench_save(out, "device", root)) rc = 1;
    json_decref(root);
    return rc;
}
