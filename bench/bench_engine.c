/* bench_engine.c — `sparkd bench engine`: prefill and decode throughput of the
 * engine on the cpu device, per weight type and thread count, against the
 * memory-bandwidth roofline measured in the same run.
 *
 * Then a matvec table: one weight matrix of Qwen2.5-1.5B's FFN shape (8960 x
 * 1536, rows a multiple of 256 so every type fits) per weight type, cold
 * (cycling over copies larger than the LLC, as a model's layers are), batch
 * 1: GB/s of weights read, against the probe and against Q8_0's time in the
 * same run. The bench models' shapes (dim 384, 896) have rows that are not a
 * multiple of 256, so the K-quants appear only here.
 *
 * Shapes: the bundled main model's (~12.6 M parameters) and Qwen2.5-0.5B's
 * (random weights). Decode is memory-bound: its roofline is bandwidth divided
 * by the bytes one token reads (every weight once, the KV cache so far).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "dev.h"
#include "model.h"

static const bench_shape SHAPES[] = {
    { "main-12m", "qwen2", 384, 6, 6, 2, 1024, 8192, 1 },
    { "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 1 },
};
static const struct { const char *name; gguf_type type; } TYPES[] = {
    { "F32", GGUF_F32 }, { "F16", GGUF_F16 }, { "Q8_0", GGUF_Q8_0 }, { "Q4_0", GGUF_Q4_0 },
};

static const struct { const char *name; dev_dtype type; } MV_TYPES[] = {
    { "Q8_0", DEV_Q8_0 }, { "Q4_0", DEV_Q4_0 }, { "Q4_K", DEV_Q4_K }, { "Q5_K", DEV_Q5_K },
    { "Q6_K", DEV_Q6_K }, { "F16", DEV_F16 },
};
#define MV_OUT 8960
#define MV_IN 1536
#define MV_COLD_BYTES ((size_t)160 << 20)   /* well past a 32 MiB L3 */

static const char USAGE[] =
    "usage: sparkd bench engine [--out DIR] [--shape main-12m|qwen2.5-0.5b|all|none]\n"
    "                           [--prefill N] [--decode N]\n"
    "\n"
    "Prefill and decode tokens/s per weight type (F32, F16, Q8_0, Q4_0) on 1 and\n"
    "2 threads, with the memory-bandwidth roofline measured in the same run; then\n"
    "matvec GB/s per weight type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, F16). --shape none:\n"
    "the bandwidth probe and the matvec table only.\n"
    "Writes DIR/engine.json (default bench/results/).\n";

typedef struct { double prefill_tok_s, decode_tok_s; int ok; } run_result;

static run_result run_one(const char *path, int threads, int n_prefill, int n_decode)
{
    run_result r = { 0, 0, 0 };
    char spec[32], err[512];
    snprintf(spec, sizeof spec, "cpu:threads=%d", threads);
    dev_device *d = dev_open(spec, err, sizeof err);
    eng_model *m = d ? eng_model_load(path, d, err, sizeof err) : NULL;
    eng_ctx *c = m ? eng_ctx_new(m, n_prefill + n_decode + 8, n_prefill, err, sizeof err) : NULL;
    if (!c) { fprintf(stderr, "bench: %s\n", err); goto out; }
    int V = eng_model_hparams(m)->n_vocab;
    float *logits = malloc((size_t)V * sizeof *logits);
    int32_t *toks = malloc((size_t)n_prefill * sizeof *toks);
    for (int i = 0; i < n_prefill; i++) toks[i] = (i * 37 + 11) % 256;
    /* warm-up: page the weights in */
    eng_forward(c, toks, 4, logits, 0);
    eng_ctx_truncate(c, 0);
    double t0 = bench_now_ms();
    int ok = eng_forward(c, toks, n_prefill, logits, 0) == 0;
    double t1 = bench_now_ms();
    for (int i = 0; ok && i < n_decode; i++) {
        int32_t t = (int32_t)(i * 13 % 256);
        ok = eng_forward(c, &t, 1, logits, 0) == 0;
    }
    double t2 = bench_now_ms();
    if (ok) {
        r.prefill_tok_s = n_prefill / ((t1 - t0) / 1e3);
        r.decode_tok_s = n_decode / ((t2 - t1) / 1e3);
        r.ok = 1;
    } else {
        fprintf(stderr, "bench: forward failed: %s\n", eng_ctx_error(c));
    }
    free(logits);
    free(toks);
out:
    eng_ctx_free(c);
    eng_model_free(m);
    dev_close(d);
    return r;
}

/* Best seconds of one cold matvec (batch 1) of type t on `threads`: copies
 * of W are cycled so each call reads its weights from memory. 0 on failure. */
static double matvec_cold_s(dev_dtype t, int threads, const float *src, const float *x, float *y)
{
    char spec[32], err[256];
    snprintf(spec, sizeof spec, "cpu:threads=%d", threads);
    dev_device *d = dev_open(spec, err, sizeof err);
    if (!d) { fprintf(stderr, "bench: %s\n", err); return 0; }
    size_t wbytes = dev_row_bytes(t, MV_IN) * MV_OUT;
    int copies = (int)(MV_COLD_BYTES / wbytes) + 1, made = 0;
    void **w = calloc((size_t)copies, sizeof *w);
    for (; w && made < copies; made++) {
        if (!(w[made] = malloc(wbytes))) break;
        if (made == 0) dev_quantize(t, src, w[0], (int64_t)MV_OUT * MV_IN);
        else memcpy(w[made], w[0], wbytes);
    }
    double best = 0;
    if (made == copies) {
        best = 1e30;
        for (int round = 0; round < 5; round++) {
            double t0 = bench_now_ms();
            for (int c = 0; c < copies; c++)
                if (dev_matmul(d, t, w[c], MV_OUT, MV_IN, x, 1, y)) { fprintf(stderr, "bench: %s\n", dev_errmsg(d)); best = 0; goto out; }
            double s = (bench_now_ms() - t0) / 1e3 / copies;
            if (s < best) best = s;
        }
    } else {
        fprintf(stderr, "bench: cannot allocate %d copies of %zu bytes\n", copies, wbytes);
    }
out:
    for (int c = 0; w && c < made; c++) free(w[c]);
    free(w);
    dev_close(d);
    return best;
}

/* The matvec table: GB/s per type and thread count, and the speed-up over
 * Q8_0 (its time / this type's) measured in the same run. */
static json_t *matvec_table(const double bandwidth[3])
{
    json_t *mv = json_object(), *runs = json_array();
    json_object_set_new(mv, "n_out", json_integer(MV_OUT));
    json_object_set_new(mv, "n_in", json_integer(MV_IN));
    float *src = malloc((size_t)MV_OUT * MV_IN * sizeof *src), *x = malloc(MV_IN * sizeof *x), *y = malloc(MV_OUT * sizeof *y);
    if (!src || !x || !y) { free(src); free(x); free(y); json_object_set_new(mv, "runs", runs); return mv; }
    uint64_t st = 12345;
    for (size_t i = 0; i < (size_t)MV_OUT * MV_IN; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        src[i] = (float)((double)(st >> 40) / (double)(1ull << 24) - 0.5) * 0.05f;
    }
    for (int i = 0; i < MV_IN; i++) x[i] = (float)((i * 37) % 101 - 50) / 50.0f;
    printf("\nmatvec %d x %d, batch 1, cold:\n%-5s %3s %9s %9s %9s %9s %10s\n", MV_OUT, MV_IN,
           "type", "thr", "MB", "ms", "GB/s", "of probe", "vs Q8_0");
    for (int th = 1; th <= 2; th++) {
        double q8 = 0;
        for (size_t i = 0; i < sizeof MV_TYPES / sizeof *MV_TYPES; i++) {
            double s = matvec_cold_s(MV_TYPES[i].type, th, src, x, y);
            if (s <= 0) continue;
            if (MV_TYPES[i].type == DEV_Q8_0) q8 = s;
            double mb = (double)(dev_row_bytes(MV_TYPES[i].type, MV_IN) * MV_OUT) / 1e6, gbs = mb / 1e3 / s;
            double speedup = q8 > 0 ? q8 / s : 0;
            printf("%-5s %3d %9.2f %9.3f %9.1f %8.0f%% %9.2fx\n", MV_TYPES[i].name, th, mb, s * 1e3, gbs,
                   100 * gbs / bandwidth[th], speedup);
            fflush(stdout);
            json_array_append_new(runs, json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:f}", "type", MV_TYPES[i].name,
                "threads", th, "weight_mb", mb, "matvec_ms", s * 1e3, "gb_s", gbs,
                "vs_probe", gbs / bandwidth[th], "speedup_vs_q8_0", speedup));
        }
    }
    free(src); free(x); free(y);
    json_object_set_new(mv, "runs", runs);
    return mv;
}

/* Bytes one decode step reads at context length pos. */
static double bytes_per_token(const char *path, int pos)
{
    char err[512];
    dev_device *d = dev_open("cpu:threads=1", err, sizeof err);
    eng_model *m = d ? eng_model_load(path, d, err, sizeof err) : NULL;
    double b = 0;
    if (m) {
        const eng_hparams *hp = eng_model_hparams(m);
        b = (double)eng_model_weight_bytes(m);
        if (!hp->tied_output) {   /* only one row of the embedding table is read */
            const gguf_tensor *t = gguf_find_tensor(eng_model_gguf(m), "token_embd.weight");
            b -= (double)t->nbytes * (1.0 - 1.0 / hp->n_vocab);
        }
        b += 2.0 * hp->n_layers * pos * hp->n_kv_heads * hp->head_dim * sizeof(float);
    }
    eng_model_free(m);
    dev_close(d);
    return b;
}

int bench_engine(int argc, char **argv)
{
    const char *out = "bench/results", *shape = "all";
    int n_prefill = 128, n_decode = 32;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "sparkd bench engine: '%s' needs a value\n%s", argv[i], USAGE); return 2; }
        if (!strcmp(argv[i], "--out")) out = argv[++i];
        else if (!strcmp(argv[i], "--shape")) shape = argv[++i];
        else if (!strcmp(argv[i], "--prefill")) n_prefill = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--decode")) n_decode = atoi(argv[++i]);
        else { fprintf(stderr, "sparkd bench engine: unknown option '%s'\n%s", argv[i], USAGE); return 2; }
    }
    if (n_prefill < 8 || n_decode < 1) { fprintf(stderr, "sparkd bench engine: --prefill >= 8, --decode >= 1\n"); return 2; }

    json_t *root = json_object(), *runs = json_array(), *bw = json_object();
    json_object_set_new(root, "bench", json_string("engine"));
    json_object_set_new(root, "device", json_string("cpu"));
    json_object_set_new(root, "prefill_tokens", json_integer(n_prefill));
    json_object_set_new(root, "decode_tokens", json_integer(n_decode));
    double bandwidth[3] = { 0, 0, 0 };
    for (int th = 1; th <= 2; th++) {
        char spec[32], err[256];
        snprintf(spec, sizeof spec, "cpu:threads=%d", th);
        dev_device *d = dev_open(spec, err, sizeof err);
        if (d) {
            dev_info info;
            dev_get_info(d, &info);
            json_object_set_new(root, "simd", json_string(info.simd));
            bandwidth[th] = dev_probe_bandwidth(d, (size_t)512 << 20);
        }
        dev_close(d);
        char k[32];
        snprintf(k, sizeof k, "threads_%d_gb_s", th);
        json_object_set_new(bw, k, json_real(bandwidth[th]));
    }
    json_object_set_new(root, "memory_bandwidth", bw);
    printf("memory read bandwidth: %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n\n", bandwidth[1], bandwidth[2]);
    printf("%-13s %-5s %3s %9s %10s %10s %10s %9s %9s\n", "shape", "type", "thr", "weights", "prefill",
           "decode", "roofline", "dec/roof", "pre/dec");

    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
        if (strcmp(shape, "all") && strcmp(shape, SHAPES[s].name)) continue;
        for (size_t t = 0; t < sizeof TYPES / sizeof *TYPES; t++) {
            char path[256], err[512];
            snprintf(path, sizeof path, "/tmp/sparkd-bench-%d-%s-%s.gguf", (int)getpid(), SHAPES[s].name, TYPES[t].name);
            if (bench_write_model(path, &SHAPES[s], TYPES[t].type, 7, err, sizeof err)) {
                fprintf(stderr, "bench: %s\n", err);
                continue;
            }
            double bpt = bytes_per_token(path, n_prefill + n_decode / 2);
            for (int th = 1; th <= 2; th++) {
                run_result r = run_one(path, th, n_prefill, n_decode);
                if (!r.ok) continue;
                double roof = bandwidth[th] * 1e9 / bpt;
                printf("%-13s %-5s %3d %7.1fMB %6.0ftok/s %6.1ftok/s %6.1ftok/s %8.0f%% %8.1fx\n",
                       SHAPES[s].name, TYPES[t].name, th, bpt / 1e6, r.prefill_tok_s, r.decode_tok_s, roof,
                       100 * r.decode_tok_s / roof, r.prefill_tok_s / r.decode_tok_s);
                fflush(stdout);
                json_array_append_new(runs, json_pack("{s:s,s:s,s:i,s:f,s:f,s:f,s:f,s:f,s:f}",
                    "shape", SHAPES[s].name, "type", TYPES[t].name, "threads", th,
                    "bytes_per_token_mb", bpt / 1e6, "prefill_tok_s", r.prefill_tok_s,
                    "decode_tok_s", r.decode_tok_s, "roofline_decode_tok_s", roof,
                    "decode_vs_roofline", r.decode_tok_s / roof,
                    "prefill_vs_decode", r.prefill_tok_s / r.decode_tok_s));
            }
            unlink(path);
        }
    }
    json_object_set_new(root, "runs", runs);
    json_object_set_new(root, "matvec", matvec_table(bandwidth));
    int rc = bench_save(out, "engine", root);
    json_decref(root);
    return rc ? 1 : 0;
}

/* The latency benchmark drives `sparkd lsp` as an editor would, from Python
 * (bench/bench_latency.py beside the build); this runs it with this binary. */
static int bench_latency(int argc, char **argv)
{
    char exe[4096], script[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { perror("readlink /proc/self/exe"); return 1; }
    exe[n] = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", exe);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    snprintf(script, sizeof script, "%s/../bench/bench_latency.py", dir);
    if (access(script, R_OK)) {
        fprintf(stderr, "sparkd bench latency: %s not found (run it from a source checkout)\n", script);
        return 1;
    }
    char **av = calloc((size_t)argc + 5, sizeof *av);
    if (!av) return 1;
    int k = 0;
    av[k++] = "python3";
    av[k++] = script;
    av[k++] = "--bin";
    av[k++] = exe;
    for (int i = 0; i < argc; i++) av[k++] = argv[i];
    execv("/usr/bin/python3", av);
    perror("sparkd bench latency: /usr/bin/python3");
    free(av);
    return 1;
}

int cmd_bench(int argc, char **argv)
{
    static const char BUSAGE[] =
        "usage: sparkd bench NAME [OPTIONS]\n"
        "\n"
        "benchmarks (each writes bench/results/NAME.json and prints a table):\n"
        "  engine     prefill/decode tok/s per weight type and thread count vs the bandwidth roofline\n"
        "  spec       speculative decoding speed-up and acceptance on real code (bundled models)\n"
        "  device     wse vs cpu host time per decode step, and the wafer time it projects\n"
        "  rewrite    code-action rewrites with and without speculative edits (lookup on the original)\n"
        "  grammars   incremental reparse and post-processing vs a full parse (5k-line file)\n"
        "  cache      time to first token cold / warm from memory / warm from SQLite\n"
        "  latency    keystroke -> ghost text over a real LSP client (runs bench/bench_latency.py)\n";
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        fputs(BUSAGE, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "engine")) return bench_engine(argc - 1, argv + 1);
    if (!strcmp(argv[0], "spec")) return bench_spec(argc - 1, argv + 1);
    if (!strcmp(argv[0], "latency")) return bench_latency(argc - 1, argv + 1);
    if (!strcmp(argv[0], "cache")) return bench_cache(argc - 1, argv + 1);
    if (!strcmp(argv[0], "device")) return bench_device(argc - 1, argv + 1);
    if (!strcmp(argv[0], "grammars")) return bench_grammars(argc - 1, argv + 1);
    if (!strcmp(argv[0], "rewrite")) return bench_rewrite(argc - 1, argv + 1);
    fprintf(stderr, "sparkd bench: unknown benchmark '%s'\n%s", argv[0], BUSAGE);
    return 2;
}
