/* bench_rewrite.c — `sparkd bench rewrite`: speculative edits. Top-level
 * Python functions of 20-100 lines from real files are rewritten (the code
 * action's prompt, greedy) by the main model alone and with prompt lookup on
 * the original region as the drafter, in the same run; the outputs must be
 * identical and the decode speed-up is the ratio of tokens/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "complete.h"
#include "srv_config.h"

static const char USAGE[] =
    "usage: sparkd bench rewrite [--model PATH] [--file PATH]... [--cases N] [--threads N] [--out DIR]\n"
    "\n"
    "Rewrite speed without and with speculative edits (prompt lookup on the\n"
    "original region) on 20-100-line Python functions (default files from\n"
    "/usr/lib/python3.11). Writes DIR/rewrite.json.\n";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) buf[*len] = 0;
    return buf;
}

/* The next top-level "def" of 20..100 lines at or after *pos: [*a, *b). */
static int next_function(const char *t, size_t n, size_t *pos, size_t *a, size_t *b)
{
    while (*pos < n) {
        size_t s = *pos;
        const char *d = strstr(t + s, "\ndef ");
        if (!d) return 0;
        size_t st = (size_t)(d - t) + 1, e = st, lines = 0;
        for (;;) {      /* to the next line that starts at column 0 with code */
            const char *nl = memchr(t + e, '\n', n - e);
            e = nl ? (size_t)(nl - t) + 1 : n;
            lines++;
            if (e >= n || (t[e] != ' ' && t[e] != '\t' && t[e] != '\n')) break;
        }
        while (e > st + 1 && t[e - 2] == '\n') e--, lines--;   /* no trailing blank lines */
        *pos = e;
        if (lines >= 20 && lines <= 100) { *a = st; *b = e; return 1; }
    }
    return 0;
}

int bench_rewrite(int argc, char **argv)
{
    const char *model = NULL, *out = "bench/results", *files[16];
    int nfiles = 0, cases = 8, threads = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "sparkd bench rewrite: '%s' needs a value\n%s", argv[i], USAGE); return 2; }
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--model")) model = v;
        else if (!strcmp(argv[i - 1], "--file") && nfiles < 16) files[nfiles++] = v;
        else if (!strcmp(argv[i - 1], "--out")) out = v;
        else if (!strcmp(argv[i - 1], "--cases")) cases = atoi(v);
        else if (!strcmp(argv[i - 1], "--threads")) threads = atoi(v);
        else { fprintf(stderr, "sparkd bench rewrite: unknown option '%s'\n%s", argv[i - 1], USAGE); return 2; }
    }
    if (cases < 1) { fprintf(stderr, "sparkd bench rewrite: --cases must be >= 1\n"); return 2; }
    static const char *const DEFAULT_FILES[] = { "/usr/lib/python3.11/textwrap.py", "/usr/lib/python3.11/shlex.py",
                                                 "/usr/lib/python3.11/difflib.py", "/usr/lib/python3.11/argparse.py" };
    if (!nfiles) for (; nfiles < 4; nfiles++) files[nfiles] = DEFAULT_FILES[nfiles];
    char mpath[4096], spec[64], err[512];
    srv_model_path(model, "sparkd-main.gguf", mpath, sizeof mpath);
    snprintf(spec, sizeof spec, "cpu:threads=%d", threads);
    eng_engine *eng[2] = { NULL, NULL };
    for (int c = 0; c < 2; c++) {
        eng_engine_params p;
        eng_engine_params_init(&p);
        p.model_path = mpath;
        p.device = spec;
        p.use_lookup = c;
        if (!(eng[c] = eng_engine_new(&p, err, sizeof err))) {
            fprintf(stderr, "sparkd bench rewrite: %s\n", err);
            eng_engine_free(eng[0]);
            return 1;
        }
    }
    double ms[2] = { 0, 0 };
    long toks[2] = { 0, 0 }, drafted = 0, accepted = 0, steps[2] = { 0, 0 };
    int done = 0, mismatches = 0, skipped = 0;
    json_t *rows = json_array();
    for (int f = 0; f < nfiles && done < cases; f++) {
        size_t n, pos = 0, a, b;
        char *t = slurp(files[f], &n);
        if (!t) { fprintf(stderr, "sparkd bench rewrite: cannot read %s\n", files[f]); continue; }
        while (done < cases && next_function(t, n, &pos, &a, &b)) {
            eng_request r;
            eng_request_init(&r);
            r.prefix = t;
            r.prefix_len = a;
            r.original = t + a;
            r.original_len = b - a;
            r.suffix = t + b;
            r.suffix_len = n - b;
            r.instruction = "Simplify this code without changing what it does.";
            r.language = "python";
            r.line_comment = "#";
            r.path = files[f];
            r.max_tokens = (int)((b - a) / 2 + 64);
            r.max_lines = 300;
            char *text[2] = { NULL, NULL };
            eng_job_stats st[2];
            int ok = 1;
            for (int c = 0; c < 2 && ok; c++) {
                eng_job *j = eng_job_start(eng[c], &r, err, sizeof err);
                if (!j) { ok = 0; break; }
                int rc;
                while ((rc = eng_job_step(j)) == 0) {}
                size_t len;
                const char *s = eng_job_text(j, &len);
                text[c] = strndup(s, len);
                st[c] = *eng_job_get_stats(j);
                ok = rc == 1;
                eng_job_free(j);
            }
            if (!ok) { skipped++; free(text[0]); free(text[1]); continue; }     /* too long for the context */
            mismatches += strcmp(text[0], text[1]) != 0;
            for (int c = 0; c < 2; c++) {
                ms[c] += st[c].decode_ms;
                toks[c] += st[c].generated_tokens;
                steps[c] += (long)st[c].steps;
            }
            drafted += (long)st[1].drafted;
            accepted += (long)st[1].accepted;
            json_array_append_new(rows, json_pack("{s:s,s:I,s:I,s:I,s:f,s:f,s:b}", "file", files[f],
                "bytes", (json_int_t)(b - a), "tokens", (json_int_t)st[1].generated_tokens,
                "accepted", (json_int_t)st[1].accepted, "plain_tok_s", st[0].generated_tokens / (st[0].decode_ms / 1e3),
                "lookup_tok_s", st[1].generated_tokens / (st[1].decode_ms / 1e3), "identical", !strcmp(text[0], text[1])));
            free(text[0]);
            free(text[1]);
            done++;
        }
        free(t);
    }
    eng_engine_free(eng[0]);
    eng_engine_free(eng[1]);
    double tps0 = toks[0] / (ms[0] / 1e3), tps1 = toks[1] / (ms[1] / 1e3);
    printf("%d functions (%d too long for the context), %ld tokens\n", done, skipped, toks[1]);
    printf("%-22s %10.0f tok/s %8.2f tokens/verify\n", "main model alone", tps0, steps[0] ? (double)toks[0] / steps[0] : 0);
    printf("%-22s %10.0f tok/s %8.2f tokens/verify  acceptance %.0f%%\n", "speculative edits", tps1,
           steps[1] ? (double)toks[1] / steps[1] : 0, drafted ? 100.0 * accepted / drafted : 0);
    printf("speed-up %.2fx; outputs identical: %s\n", tps1 / tps0, mismatches ? "NO" : "yes");
    json_t *root = json_pack("{s:s,s:s,s:i,s:i,s:I,s:f,s:f,s:f,s:f,s:f,s:b,s:o}", "bench", "rewrite", "model", mpath,
        "functions", done, "skipped_too_long", skipped, "tokens", (json_int_t)toks[1], "plain_tok_s", tps0,
        "speculative_edits_tok_s", tps1, "speedup", tps1 / tps0, "acceptance_rate", drafted ? (double)accepted / drafted : 0.0,
        "tokens_per_verification", steps[1] ? (double)toks[1] / steps[1] : 0.0, "outputs_identical", !mismatches,
        "runs", rows);
    int rc = bench_save(out, "rewrite", root);
    json_decref(root);
    return rc || mismatches || !done ? 1 : 0;
}
