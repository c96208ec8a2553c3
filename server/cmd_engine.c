/* cmd_engine.c — `sparkd model info`, `sparkd tokenize`, `sparkd generate`:
 * the engine from the shell, for model checks and benchmarks. */
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "dev.h"
#include "model.h"
#include "sampler.h"
#include "complete.h"
#include "lsp_pos.h"
#include "srv_sched.h"
#include "gram.h"
#include "chat.h"

static const char MODEL_USAGE[] =
    "usage: sparkd model info [PATH] [--verbose]\n"
    "\n"
    "Print a GGUF model's metadata, tensor table (types, shapes, bytes),\n"
    "architecture, parameter count, tokenizer and FIM tokens.\n"
    "PATH defaults to the bundled main model (models/sparkd-main.gguf).\n";

static const char TOKENIZE_USAGE[] =
    "usage: sparkd tokenize [--model PATH] [--prompt TEXT] [--special]\n"
    "\n"
    "Print the token ids of TEXT (or of stdin when --prompt is absent),\n"
    "space-separated, on one line. --special matches control tokens such as\n"
    "<|fim_prefix|> in the text.\n";

static const char GENERATE_USAGE[] =
    "usage: sparkd generate [--prompt TEXT] [OPTIONS]\n"
    "\n"
    "Generate a continuation of TEXT (or of stdin) with the main model. The\n"
    "generated text goes to stdout, nothing else; timing goes to stderr.\n"
    "\n"
    "options:\n"
    "  --model PATH     main model GGUF (default: the bundled sparkd-main.gguf)\n"
    "  --device D       cpu[:threads=N] (default cpu)\n"
    "  --threads N      kernel threads (0 = all cores)\n"
    "  -n N             max new tokens (default 64)\n"
    "  --temp T         temperature, 0 = greedy (default 0)\n"
    "  --top-k K, --top-p P, --min-p P, --repeat-penalty R\n"
    "  --seed S         sampling seed (default 42)\n"
    "  --special        match control tokens (e.g. FIM markers) in the prompt\n";

/* Reads all of f into a malloc'd buffer; NULL on out of memory. */
static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) { char *nb = realloc(b, cap *= 2); if (!nb) { free(b); return NULL; } b = nb; }
    }
    if (b) *len = n;
    return b;
}

/* Opens the configured device. */
static dev_device *open_device(const srv_config *cfg)
{
    srv_engine_setup es;
    char err[256];
    srv_engine_setup_resolve(cfg, &es);
    dev_device *d = dev_open(es.device, err, sizeof err);
    if (!d) fprintf(stderr, "sparkd: cannot open device '%s': %s\n", es.device, err);
    return d;
}

static void print_token_info(const eng_tok *t)
{
    const eng_tok_special *s = eng_tok_specials(t);
    printf("tokenizer: %s, pre-tokenizer %s, %u tokens\n",
           eng_tok_model_kind(t) == ENG_TOK_MODEL_BPE ? "byte-level BPE (gpt2)" : "SentencePiece (llama)",
           eng_tok_pre_name(eng_tok_pre_kind(t)), eng_tok_n_vocab(t));
    const struct { const char *name; int32_t id; } roles[] = {
        { "bos", s->bos }, { "eos", s->eos }, { "eot", s->eot }, { "pad", s->pad },
        { "fim_prefix", s->fim_pre }, { "fim_suffix", s->fim_suf }, { "fim_middle", s->fim_mid },
        { "fim_pad", s->fim_pad }, { "repo_name", s->fim_rep }, { "file_sep", s->fim_sep },
    };
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        if (roles[i].id < 0) continue;
        size_t n;
        const char *txt = eng_tok_text(t, roles[i].id, &n);
        printf("  %-10s %6d  %.*s\n", roles[i].name, roles[i].id, (int)n, txt);
    }
    if (s->fim_pre < 0 || s->fim_suf < 0 || s->fim_mid < 0)
        printf("  (no FIM tokens: this model can only continue text, not fill in the middle)\n");
}

int cmd_model(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    const char *verbose = NULL;
    cli_flag extras[] = { { "verbose", &verbose, 1 } };
    char *pos[2];
    int npos = cli_parse(&cfg, argc, argv, MODEL_USAGE, extras, 1, pos, 2);
    if (npos < 0) return 2;
    if (npos < 1 || strcmp(pos[0], "info")) { fputs(MODEL_USAGE, stderr); return 2; }
    char path[SRV_PATH_MAX];
    cli_model_path(npos > 1 ? pos[1] : cfg.model, "sparkd-main.gguf", path, sizeof path);
    char err[512];
    gguf_ctx *g = gguf_open(path, err, sizeof err);
    if (!g) { fprintf(stderr, "sparkd: %s\n", err); return 1; }
    gguf_print_info(g, stdout, verbose != NULL);
    gguf_close(g);

    dev_device *d = dev_open("cpu:threads=1", err, sizeof err);
    eng_model *m = d ? eng_model_load(path, d, err, sizeof err) : NULL;
    if (!m) {
        printf("\nsparkd cannot run this model: %s\n", err);
        dev_close(d);
        return 1;
    }
    const eng_hparams *hp = eng_model_hparams(m);
    printf("\narchitecture: %s, %d layers, dim %d, %d heads (%d kv, head dim %d), ffn %d, "
           "vocab %d, context %d, rope %s base %g%s\n",
           eng_arch_name(hp->arch), hp->n_layers, hp->dim, hp->n_heads, hp->n_kv_heads, hp->head_dim,
           hp->ffn_dim, hp->n_vocab, hp->n_ctx_train, hp->rope_neox ? "neox" : "normal",
           hp->rope_base, hp->tied_output ? ", tied output" : "");
    printf("parameters: %.2f M, weights %.2f MiB read per token\n", eng_model_n_params(m) / 1e6,
           eng_model_weight_bytes(m) / 1048576.0);
    print_token_info(eng_model_tok(m));
    eng_chat_format cf = eng_chat_detect(eng_model_gguf(m), eng_model_tok(m));
    printf("chat template: %s\n", cf == ENG_CHAT_NONE ? "none known (rewrites use FIM prompts)"
                                                     : eng_chat_format_name(cf));
    eng_model_free(m);
    dev_close(d);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    const char *prompt = NULL, *special = NULL;
    cli_flag extras[] = { { "prompt", &prompt, 0 }, { "special", &special, 1 } };
    if (cli_parse(&cfg, argc, argv, TOKENIZE_USAGE, extras, 2, NULL, 0) < 0) return 2;
    char path[SRV_PATH_MAX], err[512];
    cli_model_path(cfg.model, "sparkd-main.gguf", path, sizeof path);
    gguf_ctx *g = gguf_open(path, err, sizeof err);
    eng_tok *t = g ? eng_tok_from_gguf(g, err, sizeof err) : NULL;
    if (!t) { fprintf(stderr, "sparkd: %s\n", err); gguf_close(g); return 1; }
    size_t len = 0;
    char *owned = NULL;
    if (prompt) len = strlen(prompt);
    else if (!(owned = slurp(stdin, &len))) { fprintf(stderr, "sparkd: out of memory reading stdin\n"); return 1; }
    const char *text = prompt ? prompt : owned;
    int64_t need = eng_tok_encode(t, text, len, special != NULL, NULL, 0);
    int32_t *ids = need > 0 ? malloc((size_t)need * sizeof *ids) : NULL;
    int rc = 0;
    if (need < 0 || (need > 0 && !ids)) {
        fprintf(stderr, "sparkd: cannot tokenize (%s)\n", need < 0 ? "input too large" : "out of memory");
        rc = 1;
    } else {
        if (need) eng_tok_encode(t, text, len, special != NULL, ids, (size_t)need);
        for (int64_t i = 0; i < need; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
    free(ids);
    free(owned);
    eng_tok_free(t);
    gguf_close(g);
    return rc;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Parses a float option value; returns -1 on junk. */
static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *out = (float)v;
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    cfg.n_predict = 64;
    const char *prompt = NULL, *special = NULL, *top_k = NULL, *top_p = NULL, *min_p = NULL, *rep = NULL;
    cli_flag extras[] = { { "prompt", &prompt, 0 }, { "special", &special, 1 }, { "top_k", &top_k, 0 },
                          { "top_p", &top_p, 0 }, { "min_p", &min_p, 0 }, { "repeat_penalty", &rep, 0 } };
    if (cli_parse(&cfg, argc, argv, GENERATE_USAGE, extras, 6, NULL, 0) < 0) return 2;

    eng_sampler_params sp;
    eng_sampler_params_init(&sp);
    sp.temperature = (float)cfg.temp;
    sp.seed = cfg.seed;
    float v;
    if ((top_k && (parse_float(top_k, &v) || v < 0 || (sp.top_k = (int32_t)v, 0))) ||
        (top_p && parse_float(top_p, &sp.top_p)) || (min_p && parse_float(min_p, &sp.min_p)) ||
        (rep && parse_float(rep, &sp.repeat_penalty))) {
        fprintf(stderr, "sparkd generate: --top-k/--top-p/--min-p/--repeat-penalty need numbers\n");
        return 2;
    }
    if (rep) sp.repeat_last_n = 64;
    char err[512];
    if (eng_sampler_params_check(&sp, err, sizeof err)) { fprintf(stderr, "sparkd generate: %s\n", err); return 2; }

    char path[SRV_PATH_MAX];
    cli_model_path(cfg.model, "sparkd-main.gguf", path, sizeof path);
    size_t len = 0;
    char *owned = NULL;
    if (prompt) len = strlen(prompt);
    else if (!(owned = slurp(stdin, &len))) { fprintf(stderr, "sparkd: out of memory reading stdin\n"); return 1; }
    const char *text = prompt ? prompt : owned;

    int rc = 1;
    dev_device *d = open_device(&cfg);
    eng_model *m = d ? eng_model_load(path, d, err, sizeof err) : NULL;
    eng_sampler *smp = m ? eng_sampler_new(&sp, err, sizeof err) : NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    eng_ctx *c = NULL;
    eng_tok_stream *stream = NULL;
    if (!smp) { if (d) fprintf(stderr, "sparkd: %s\n", err); goto out; }
    const eng_tok *tok = eng_model_tok(m);
    const eng_tok_special *sps = eng_tok_specials(tok);
    int64_t n = eng_tok_encode(tok, text, len, special != NULL, NULL, 0);
    if (n < 0) { fprintf(stderr, "sparkd: cannot tokenize the prompt\n"); goto out; }
    int add_bos = sps->add_bos && sps->bos >= 0;
    int n_prompt = (int)n + add_bos;
    int n_ctx = eng_model_hparams(m)->n_ctx_train;
    if (n_prompt < 1 || n_prompt + cfg.n_predict > n_ctx) {
        fprintf(stderr, "sparkd: the prompt (%d tokens) plus -n %d must fit the model's context of %d tokens%s\n",
                n_prompt, cfg.n_predict, n_ctx, n_prompt < 1 ? " and be non-empty" : "");
        goto out;
    }
    ids = malloc((size_t)n_prompt * sizeof *ids);
    logits = malloc((size_t)eng_model_hparams(m)->n_vocab * sizeof *logits);
    c = eng_ctx_new(m, n_prompt + cfg.n_predict, 0, err, sizeof err);
    stream = eng_tok_stream_new(tok, 0);
    if (!ids || !logits || !c || !stream) { fprintf(stderr, "sparkd: %s\n", c ? "out of memory" : err); goto out; }
    if (add_bos) ids[0] = sps->bos;
    eng_tok_encode(tok, text, len, special != NULL, ids + add_bos, (size_t)n);

    double t0 = now_ms();
    if (eng_forward(c, ids, n_prompt, logits, 0)) { fprintf(stderr, "sparkd: %s\n", eng_ctx_error(c)); goto out; }
    double t1 = now_ms();
    int produced = 0;
    for (; produced < cfg.n_predict; produced++) {
        int32_t next = eng_sampler_sample(smp, logits, (size_t)eng_model_hparams(m)->n_vocab, NULL);
        if (next < 0) { fprintf(stderr, "sparkd: sampling failed\n"); goto out; }
        if (next == sps->eos || next == sps->eot) break;
        eng_sampler_accept(smp, next);
        size_t plen;
        const char *piece = eng_tok_stream_push(stream, next, &plen);
        fwrite(piece, 1, plen, stdout);
        fflush(stdout);
        if (produced + 1 < cfg.n_predict && eng_forward(c, &next, 1, logits, 0)) {
            fprintf(stderr, "sparkd: %s\n", eng_ctx_error(c));
            goto out;
        }
    }
    size_t plen;
    const char *rest = eng_tok_stream_flush(stream, &plen);
    fwrite(rest, 1, plen, stdout);
    fflush(stdout);
    double t2 = now_ms();
    fprintf(stderr, "\nprefill: %d tokens in %.1f ms (%.0f tok/s); decode: %d tokens in %.1f ms (%.1f tok/s)\n",
            n_prompt, t1 - t0, n_prompt / ((t1 - t0) / 1e3), produced, t2 - t1,
            produced ? produced / ((t2 - t1) / 1e3) : 0.0);
    rc = 0;
out:
    eng_tok_stream_free(stream);
    eng_ctx_free(c);
    free(logits);
    free(ids);
    eng_sampler_free(smp);
    eng_model_free(m);
    dev_close(d);
    free(owned);
    return rc;
}

static const char COMPLETE_USAGE[] =
    "usage: sparkd complete FILE LINE COL [OPTIONS]\n"
    "\n"
    "Print the completion sparkd would show at LINE:COL of FILE (both 1-based;\n"
    "COL counts characters). The insert text goes to stdout, nothing else;\n"
    "timing and the stop reason go to stderr.\n"
    "\n"
    "options:\n"
    "  --model PATH      main model (default: the bundled sparkd-main.gguf)\n"
    "  --draft PATH|none draft model (default: the bundled sparkd-draft.gguf)\n"
    "  --device D        cpu[:threads=N] (default cpu)\n"
    "  --threads N       kernel threads (0 = all cores)\n"
    "  -n N              max new tokens (default 64)\n"
    "  --max-lines N     max lines of the suggestion (default: as the editor's, 8,\n"
    "                    or 1 where the syntax says finish this line)\n"
    "  --temp T, --seed S\n"
    "  --no-lookup       no prompt-lookup drafting\n";

/* Reads a whole file; NULL with errno set on failure. */
static char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = slurp(f, len);
    fclose(f);
    return b;
}

/* Byte offset of 1-based line/col (col in code points), clamped to the line. */
static size_t offset_of(const char *text, size_t len, long line, long col, int *clamped)
{
    size_t pos = 0;
    for (long l = 1; l < line; l++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) { *clamped = 1; return len; }
        pos = (size_t)(nl - text) + 1;
    }
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    return pos + lsp_col_to_byte(text + pos, end - pos, LSP_ENC_UTF32, (uint32_t)(col - 1), clamped);
}

int cmd_complete(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    const char *max_lines = NULL, *no_lookup = NULL;
    cli_flag extras[] = { { "max_lines", &max_lines, 0 }, { "no_lookup", &no_lookup, 1 } };
    char *pos[3];
    int npos = cli_parse(&cfg, argc, argv, COMPLETE_USAGE, extras, 2, pos, 3);
    if (npos < 0) return 2;
    if (npos != 3) { fputs(COMPLETE_USAGE, stderr); return 2; }
    char *end1, *end2;
    long line = strtol(pos[1], &end1, 10), col = strtol(pos[2], &end2, 10);
    long ml = max_lines ? strtol(max_lines, NULL, 10) : 0;   /* 0: the editor's limits */
    if (*end1 || *end2 || line < 1 || col < 1 || (max_lines && ml < 1)) {
        fprintf(stderr, "sparkd complete: LINE and COL must be positive integers (1-based), --max-lines >= 1\n");
        return 2;
    }
    size_t len;
    char *text = slurp_file(pos[0], &len);
    if (!text) { fprintf(stderr, "sparkd complete: cannot read %s: %s\n", pos[0], strerror(errno)); return 1; }
    int clamped = 0;
    size_t off = offset_of(text, len, line, col, &clamped);
    if (clamped) fprintf(stderr, "sparkd complete: %s has no %ld:%ld; using the end of that line/file\n",
                         pos[0], line, col);

    char err[512];
    srv_engine_setup es;
    srv_engine_setup_resolve(&cfg, &es);
    eng_engine_params ep;
    eng_engine_params_init(&ep);
    ep.model_path = es.model;
    ep.draft_path = es.draft[0] ? es.draft : NULL;
    ep.device = es.device;
    ep.use_lookup = !no_lookup;
    ep.fim_order = es.fim_order;
    double t0 = now_ms();
    eng_engine *e = eng_engine_new(&ep, err, sizeof err);
    if (!e) { fprintf(stderr, "sparkd complete: %s\n", err); free(text); return 1; }
    double t_load = now_ms() - t0;

    eng_request r;
    eng_request_init(&r);
    r.prefix = text;
    r.prefix_len = off;
    r.suffix = text + off;
    r.suffix_len = len - off;
    r.path = pos[0];
    /* the limits of an invoked completion in the editor, unless --max-lines says */
    gram_ctx *gc = gram_context_from_text(gram_lang_find(NULL, pos[0]), text, off, text + off, len - off);
    srv_completion_limits(&cfg, 1, text + off, len - off, gc, &r.max_tokens, &r.max_lines);
    if (max_lines) r.max_lines = (int)ml;
    r.temperature = (float)cfg.temp;
    r.seed = cfg.seed;
    int rc = 1;
    eng_job *j = eng_job_start(e, &r, err, sizeof err);
    if (!j) { fprintf(stderr, "sparkd complete: %s\n", err); goto out; }
    int st;
    while ((st = eng_job_step(j)) == 0) {}
    if (st < 0) { fprintf(stderr, "sparkd complete: %s\n", eng_job_error(j)); goto out; }
    size_t n;
    const char *out = eng_job_text(j, &n);
    /* the same syntax-aware trimming as the language server */
    gram_trim_result tr = { NULL, 0, GRAM_TRIM_KEPT, 0, 0 };
    if (gc && n) gram_trim(gc, text, off, text + off, len - off, out, n, &tr);
    if (tr.text) { out = tr.text; n = tr.len; }
    fwrite(out, 1, n, stdout);
    if (n && out[n - 1] != '\n') fputc('\n', stdout);
    const eng_job_stats *js = eng_job_get_stats(j);
    fprintf(stderr, "load %.0f ms; prompt %d tokens, prefill %.1f ms; %d tokens in %.1f ms (%llu steps, "
            "%llu/%llu drafts accepted); stop: %s\n", t_load, js->prompt_tokens, js->prefill_ms,
            js->generated_tokens, js->decode_ms, (unsigned long long)js->steps,
            (unsigned long long)js->accepted, (unsigned long long)js->drafted,
            eng_stop_name(eng_job_stop_reason(j)));
    if (tr.reason != GRAM_TRIM_KEPT) fprintf(stderr, "trimmed: %s\n", gram_trim_reason_name(tr.reason));
    free(tr.text);
    rc = 0;
out:
    gram_context_free(gc);
    eng_job_free(j);
    eng_engine_free(e);
    free(text);
    return rc;
}
