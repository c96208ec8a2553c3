/* bench_spec.c — `sparkd bench spec`: what speculative decoding buys on real
 * code. For FIM cases at random cursor positions in real source files, the
 * same completion is decoded by the main model alone, with the draft model,
 * with prompt lookup, and with both; outputs must be identical (greedy), and
 * the decode speed-up and acceptance are reported as ratios in one run.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "bench.h"
#include "complete.h"
#include "device/dev.h"
#include "device/wse.h"
#include "model.h"
#include "srv_config.h"

static const char USAGE[] =
    "usage: sparkd bench spec [--model PATH] [--draft PATH] [--files DIR] [--cases N]\n"
    "                         [--tokens N] [--threads N] [--out DIR]\n"
    "\n"
    "Decode speed of the main model alone vs speculative decoding (draft model,\n"
    "prompt lookup, both) on FIM cases from real source files (default: the\n"
    "Python standard library in /usr/lib/python3.11). Writes DIR/spec.json.\n";

typedef struct { char *text; size_t len; } file_buf;

static int collect(const char *dir, file_buf *out, int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    char **names = NULL;
    int nn = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || (strcmp(e->d_name + l - 3, ".py") && strcmp(e->d_name + l - 2, ".c") &&
                      strcmp(e->d_name + l - 2, ".h") && strcmp(e->d_name + l - 3, ".js")))
            continue;
        char **nv = realloc(names, (size_t)(nn + 1) * sizeof *nv);
        if (!nv) break;
        names = nv;
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    /* sorted, so a run is reproducible */
    for (int i = 1; i < nn; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j]; names[j] = names[j - 1]; names[j - 1] = t;
        }
    for (int i = 0; i < nn && n < max; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        struct stat st;
        if (f && fstat(fileno(f), &st) == 0 && st.st_size > 2000 && st.st_size < 200000) {
            out[n].text = malloc((size_t)st.st_size + 1);
            if (out[n].text && fread(out[n].text, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
                out[n].len = (size_t)st.st_size;
                out[n].text[out[n].len] = 0;
                n++;
            } else {
                free(out[n].text);
            }
        }
        if (f) fclose(f);
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    return n;
}

/* Why speculation buys what it buys: the main model's forward time for a
 * batch of b tokens (pending token + b-1 drafts) at context position `at`,
 * relative to b = 1 (median of `reps`). With per-token acceptance a, k
 * drafts yield (1 - a^(k+1)) / (1 - a) tokens per verification, so
 * max_k tokens(k) / cost(k+1) bounds the speed-up any drafter with that
 * acceptance can reach on this machine. */
enum { NB = 6 };
static const int batch_sizes[NB] = { 1, 2, 3, 4, 6, 8 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* proj: on a wse device, the PROJECTED wafer time of each forward (ms)
 * rather than the host's wall time. */
static int verify_costs(const char *mpath, const char *spec, int at, int proj, double cost[NB])
{
    char err[512];
    dev_device *d = dev_open(spec, err, sizeof err);
    eng_model *m = d ? eng_model_load(mpath, d, err, sizeof err) : NULL;
    eng_ctx *c = m ? eng_ctx_new(m, at + 16, 8, err, sizeof err) : NULL;
    float *logits = c ? malloc(sizeof(float) * 8 * (size_t)eng_model_hparams(m)->n_vocab) : NULL;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(at + 8));
    int ok = logits && toks;
    if (ok) {
        for (int i = 0; i < at + 8; i++) toks[i] = 32 + (i * 37) % 200;
        ok = !eng_forward(c, toks, at, logits, 0);
    }
    enum { REPS = 15 };
    for (int b = 0; ok && b < NB; b++) {
        double t[REPS];
        for (int r = 0; ok && r < REPS; r++) {
            wse_stats s0, s1;
            double t0 = bench_now_ms();
            if (proj) wse_get_stats(d, &s0);
            ok = !eng_forward(c, toks + at, batch_sizes[b], logits, 1);
            t[r] = bench_now_ms() - t0;
            if (proj && wse_get_stats(d, &s1) == 0) t[r] = (s1.proj_s - s0.proj_s) * 1e3;
            eng_ctx_truncate(c, at);
        }
        qsort(t, REPS, sizeof *t, cmp_double);
        cost[b] = t[REPS / 2];
    }
    if (!ok) fprintf(stderr, "sparkd bench spec: verify-cost probe: %s\n", c ? eng_ctx_error(c) : err);
    free(toks);
    free(logits);
    eng_ctx_free(c);
    eng_model_free(m);
    if (d) dev_close(d);
    return ok ? 0 : -1;
}

/* The best tokens-per-cost over the measured batch sizes, as a speed-up;
 * draft: the cost of one draft token (0: free, as prompt lookup). */
static double spec_ceiling(const double cost[NB], double draft, double a)
{
    double best = 1;
    for (int b = 1; b < NB; b++) {
        int k = batch_sizes[b] - 1;
        double tokens = a >= 1 ? k + 1 : (1 - pow(a, k + 1)) / (1 - a);
        double s = tokens * cost[0] / (cost[b] + k * draft);
        if (s > best) best = s;
    }
    return best;
}

typedef struct {
    const char *name;
    int draft, lookup;
    double decode_ms, prefill_ms;
    long tokens, drafted, accepted, steps;
    eng_engine *e;
} config;

int bench_spec(int argc, char **argv)
{
    const char *model = NULL, *draft = NULL, *files = "/usr/lib/python3.11", *out = "bench/results";
    int cases = 40, tokens = 48, threads = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "sparkd bench spec: '%s' needs a value\n%s", argv[i], USAGE); return 2; }
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--model")) model = v;
        else if (!strcmp(argv[i - 1], "--draft")) draft = v;
        else if (!strcmp(argv[i - 1], "--files")) files = v;
        else if (!strcmp(argv[i - 1], "--out")) out = v;
        else if (!strcmp(argv[i - 1], "--cases")) cases = atoi(v);
        else if (!strcmp(argv[i - 1], "--tokens")) tokens = atoi(v);
        else if (!strcmp(argv[i - 1], "--threads")) threads = atoi(v);
        else { fprintf(stderr, "sparkd bench spec: unknown option '%s'\n%s", argv[i - 1], USAGE); return 2; }
    }
    if (cases < 1 || tokens < 1) { fprintf(stderr, "sparkd bench spec: --cases and --tokens must be >= 1\n"); return 2; }
    char mpath[4096], dpath[4096], spec[64], err[512];
    srv_model_path(model, "sparkd-main.gguf", mpath, sizeof mpath);
    srv_model_path(draft, "sparkd-draft.gguf", dpath, sizeof dpath);
    snprintf(spec, sizeof spec, "cpu:threads=%d", threads);

    file_buf fb[64];
    int nf = collect(files, fb, 64);
    if (nf == 0) { fprintf(stderr, "sparkd bench spec: no source files (2-200 KB .py/.c/.h/.js) in %s\n", files); return 1; }

    config cfgs[] = { { "main only", 0, 0, 0, 0, 0, 0, 0, 0, NULL }, { "draft model", 1, 0, 0, 0, 0, 0, 0, 0, NULL },
                      { "prompt lookup", 0, 1, 0, 0, 0, 0, 0, 0, NULL }, { "draft + lookup", 1, 1, 0, 0, 0, 0, 0, 0, NULL } };
    const int NC = 4;
    for (int c = 0; c < NC; c++) {
        eng_engine_params p;
        eng_engine_params_init(&p);
        p.model_path = mpath;
        p.draft_path = cfgs[c].draft ? dpath : NULL;
        p.device = spec;
        p.use_lookup = cfgs[c].lookup;
        if (!(cfgs[c].e = eng_engine_new(&p, err, sizeof err))) {
            fprintf(stderr, "sparkd bench spec: %s\n", err);
            for (int k = 0; k < c; k++) eng_engine_free(cfgs[k].e);
            return 1;
        }
    }
    int mismatches = 0;
    uint64_t rng = 12345;
    for (int k = 0; k < cases; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        file_buf *f = &fb[(rng >> 33) % (uint64_t)nf];
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t off = (size_t)((rng >> 33) % f->len);
        while (off > 0 && f->text[off - 1] != '\n') off--;          /* start of a line */
        while (off < f->len && (f->text[off] == ' ' || f->text[off] == '\t')) off++;  /* after its indent */
        eng_request r;
        eng_request_init(&r);
        r.prefix = f->text;
        r.prefix_len = off;
        r.suffix = f->text + off;
        r.suffix_len = f->len - off;
        r.max_tokens = tokens;
        r.max_lines = 1000;                 /* measure decoding, not the stop rules */
        r.ignore_eos = 1;
        char *first = NULL;
        for (int c = 0; c < NC; c++) {
            eng_job *j = eng_job_start(cfgs[c].e, &r, err, sizeof err);
            if (!j) { fprintf(stderr, "sparkd bench spec: %s\n", err); break; }
            int rc;
            while ((rc = eng_job_step(j)) == 0) {}
            size_t n;
            const char *t = eng_job_text(j, &n);
            if (!first) first = strndup(t, n);
            else if (strlen(first) != n || memcmp(first, t, n)) mismatches++;
            const eng_job_stats *st = eng_job_get_stats(j);
            cfgs[c].decode_ms += st->decode_ms;
            cfgs[c].prefill_ms += st->prefill_ms;
            cfgs[c].tokens += st->generated_tokens;
            cfgs[c].drafted += (long)st->drafted;
            cfgs[c].accepted += (long)st->accepted;
            cfgs[c].steps += (long)st->steps;
            eng_job_free(j);
        }
        free(first);
    }
    json_t *root = json_object(), *rows = json_array();
    json_object_set_new(root, "bench", json_string("spec"));
    json_object_set_new(root, "model", json_string(mpath));
    json_object_set_new(root, "draft", json_string(dpath));
    json_object_set_new(root, "files", json_string(files));
    json_object_set_new(root, "cases", json_integer(cases));
    json_object_set_new(root, "max_tokens", json_integer(tokens));
    json_object_set_new(root, "outputs_identical", json_boolean(mismatches == 0));
    double base = cfgs[0].tokens / (cfgs[0].decode_ms / 1e3);
    printf("%-15s %8s %10s %9s %10s %11s\n", "config", "tokens", "decode", "speed-up", "accepted", "tok/verify");
    for (int c = 0; c < NC; c++) {
        double tps = cfgs[c].tokens / (cfgs[c].decode_ms / 1e3);
        double acc = cfgs[c].drafted ? (double)cfgs[c].accepted / cfgs[c].drafted : 0;
        double per = cfgs[c].steps ? (double)cfgs[c].tokens / cfgs[c].steps : 0;
        printf("%-15s %8ld %6.0ftok/s %8.2fx %9.0f%% %11.2f\n", cfgs[c].name, cfgs[c].tokens, tps, tps / base,
               100 * acc, per);
        /* the decoder's cost model as it ended the run (ms) */
        const eng_spec_stats *ss = eng_engine_spec_stats(cfgs[c].e);
        json_array_append_new(rows, json_pack("{s:s,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:{s:f,s:f,s:f}}",
            "config", cfgs[c].name,
            "tokens", (json_int_t)cfgs[c].tokens, "decode_ms", cfgs[c].decode_ms, "decode_tok_s", tps,
            "speedup_vs_main_only", tps / base, "acceptance_rate", acc, "tokens_per_verification", per,
            "prefill_ms", cfgs[c].prefill_ms, "plain_steps", (json_int_t)ss->plain_steps,
            "cost_model_ms", "verify_1", ss->verify_1_ms, "verify_per_extra_token", ss->verify_slope_ms,
            "draft_forward", ss->draft_ms));
        printf("%15s cost model: verify %.3f ms + %.3f ms/extra token, draft %.3f ms; %llu of %ld steps plain\n", "",
               ss->verify_1_ms, ss->verify_slope_ms, ss->draft_ms, (unsigned long long)ss->plain_steps, cfgs[c].steps);
        eng_engine_free(cfgs[c].e);
    }
    printf("outputs identical across configs: %s\n", mismatches ? "NO" : "yes");
    double cost[NB];
    if (!verify_costs(mpath, spec, 512, 0, cost)) {
        json_t *vc = json_object(), *ceil = json_object();
        printf("main-model forward at position 512, batch b vs b = 1:");
        for (int b = 0; b < NB; b++) {
            char key[16];
            snprintf(key, sizeof key, "%d", batch_sizes[b]);
            json_object_set_new(vc, key, json_real(cost[b] / cost[0]));
            printf(" %s:%.2fx", key, cost[b] / cost[0]);
        }
        printf(" (b=1 %.2f ms)\nspeed-up ceiling from verify cost alone:", cost[0]);
        for (int c = 1; c < NC; c++) {
            double acc = cfgs[c].drafted ? (double)cfgs[c].accepted / cfgs[c].drafted : 0;
            json_object_set_new(ceil, cfgs[c].name, json_real(spec_ceiling(cost, 0, acc)));
            printf(" %s %.2fx;", cfgs[c].name, spec_ceiling(cost, 0, acc));
        }
        printf(" at acceptance 0.9: %.2fx\n", spec_ceiling(cost, 0, 0.9));
        json_object_set_new(root, "verify_cost_vs_batch1", vc);
        json_object_set_new(root, "verify_batch1_ms", json_real(cost[0]));
        json_object_set_new(root, "speedup_ceiling_at_measured_acceptance", ceil);
        json_object_set_new(root, "speedup_ceiling_at_acceptance_0_9", json_real(spec_ceiling(cost, 0, 0.9)));
    }
    /* The same pair on the wafer the product's `wse` device models: the
     * PROJECTED time of a verification batch and of a draft token, and the
     * speed-up they give at the acceptance measured above (which depends on
     * the models only). A projection, not a measurement. */
    double pcost[NB], pdraft[NB];
    char wspec[64];
    snprintf(wspec, sizeof wspec, "wse:threads=%d", threads);
    if (!verify_costs(mpath, wspec, 512, 1, pcost) && !verify_costs(dpath, wspec, 512, 1, pdraft)) {
        json_t *pv = json_object(), *pc = json_object();
        printf("PROJECTED on the wafer (wse3 model): batch b vs 1:");
        for (int b = 0; b < NB; b++) {
            char key[16];
            snprintf(key, sizeof key, "%d", batch_sizes[b]);
            json_object_set_new(pv, key, json_real(pcost[b] / pcost[0]));
            printf(" %s:%.2fx", key, pcost[b] / pcost[0]);
        }
        printf(" (b=1 %.3f ms, a draft token %.3f ms)\nPROJECTED speed-up at the measured acceptance:",
               pcost[0], pdraft[0]);
        for (int c = 1; c < NC; c++) {
            double acc = cfgs[c].drafted ? (double)cfgs[c].accepted / cfgs[c].drafted : 0;
            double sp = spec_ceiling(pcost, cfgs[c].draft && !cfgs[c].lookup ? pdraft[0] : 0, acc);
            json_object_set_new(pc, cfgs[c].name, json_real(sp));
            printf(" %s %.2fx;", cfgs[c].name, sp);
        }
        printf("\n");
        json_object_set_new(root, "projected_wafer", json_pack("{s:s,s:o,s:f,s:f,s:o}", "note",
            "PROJECTED by the wse device's cycle model (engine/device/README.md), not measured",
            "verify_cost_vs_batch1", pv, "verify_batch1_ms", pcost[0], "draft_token_ms", pdraft[0],
            "speedup_at_measured_acceptance", pc));
    }
    json_object_set_new(root, "runs", rows);
    int rc = bench_save(out, "spec", root);
    json_decref(root);
    for (int i = 0; i < nf; i++) free(fb[i].text);
    return rc || mismatches ? 1 : 0;
}
