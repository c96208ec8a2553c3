/* complete.c — completion jobs: prompt, KV reuse, speculative steps, stops. */
#include "complete.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sampler.h"
#include "spec.h"
#include "wse.h"

#define PREFILL_CHUNK 64     /* tokens per prefill step: a few ms, then a chance to cancel */
#define WARM_CHUNK 32        /* tokens per warming step: the next keystroke waits for at most one */
#define QUICK_CTX 512        /* the quick lane's context (its prompts are short) */

/* A lane: contexts that hold one sequence's KV, its decoder, and what it
 * holds. The full lane (main + draft model) serves every job; the quick
 * lane (main model only, small context) answers an automatic completion
 * from a short prompt when the full prompt would take long to prefill (see
 * eng_request.quick_start), while the full lane is warmed afterwards. */
typedef struct {
    eng_ctx *mc, *dc;        /* dc: NULL without a draft model (always on the quick lane) */
    eng_spec *spec;
    int32_t *held;           /* tokens whose KV the contexts hold (each a prefix of them) */
    int n_held, cap_held;
    char *last_path;         /* the previous prompt's file and where its prefix started: */
    size_t last_prefix_start;/* keeping that start keeps the KV of the whole prefix valid */
} lane;

#define ACCEPT_DOCS 32       /* documents whose drafters' acceptance is remembered */

typedef struct {
    uint64_t key;            /* the document (a hash of its path); 0: free */
    uint64_t used;           /* LRU clock */
    eng_spec_accept a;
} doc_accept;

struct eng_engine {
    dev_device *dev;
    eng_model *main, *draft;
    lane full, quick;        /* quick.mc is created on first use */
    int use_lookup;
    eng_fim_order order;
    eng_chat_format chat;    /* rewrites: instruction prompts when the model has a template */
    eng_job *job;            /* the running job, if any */
    uint64_t device_resets;  /* device faults recovered from (see recover_from_fault) */
    eng_prefix_store store;  /* restore/save NULL: no store (full lane only) */
    doc_accept accepts[ACCEPT_DOCS];   /* per document: what the full lane's decoder learnt */
    uint64_t accept_key, accept_clock; /* whose state the decoder holds now */
};

struct eng_job {
    eng_engine *e;
    lane *L;                 /* where it runs */
    uint64_t doc_key;        /* its document, for the drafters' acceptance */
    eng_request r;
    eng_fim_prompt prompt;
    eng_fim_prompt full;     /* quick jobs: the full prompt, for eng_job_warm_step */
    int decoding;
    eng_sampler *smp;
    char *text;
    size_t len, cap;
    int base_indent;         /* indentation of the cursor's line */
    char *suffix_line;       /* first non-blank line after the cursor, trimmed */
    size_t suffix_line_len;
    char *suffix_rest;       /* rest of the cursor's line after the cursor, trimmed */
    size_t suffix_rest_len;
    int fenced;              /* chat rewrite: a line opening with ``` ends the answer */
    int resumed;             /* parked once: the prompt now holds produced tokens too */
    size_t prompt_text_len;  /* of text, what the prompt holds (produced before parking) */
    int prompt_generated;    /* of generated_tokens, likewise */
    int restarted;           /* started over after a device fault (once at most) */
    int32_t *lookup;         /* rewrite: the original's tokens, the lookup draft source */
    int n_lookup;
    eng_stop reason;
    eng_spec_stats spec0;    /* decoder counters when the job started or resumed */
    eng_job_stats st;
    double t0;
    char err[256];
};

static const char *const STOP_NAMES[] = { "running", "end of text", "max lines", "end of block",
                                          "reached the suffix", "max tokens", "deadline", "context full" };
const char *eng_stop_name(eng_stop s) { return (unsigned)s < 8 ? STOP_NAMES[s] : "?"; }

// ---------------------------------------------------------------- engine

void eng_engine_params_init(eng_engine_params *p)
{
    *p = (eng_engine_params){ .device = "cpu", .fim_order = -1, .use_lookup = 1 };
}

/* sparkd's own models are trained suffix-first (SPM); others get PSM, the
 * order every FIM model knows. */
static eng_fim_order model_order(eng_model *m)
{
    const char *v;
    size_t len;
    gguf_ctx *g = eng_model_gguf(m);
    /* sparkd's exporter records the order its models were trained with */
    if (gguf_get_str(g, "sparkd.fim.order", &v, &len) == GGUF_OK)
        return len == 3 && !memcmp(v, "spm", 3) ? ENG_FIM_SPM : ENG_FIM_PSM;
    if (gguf_get_str(g, "general.name", &v, &len) == GGUF_OK && len >= 6 && !memcmp(v, "sparkd", 6))
        return ENG_FIM_SPM;
    return ENG_FIM_PSM;
}

eng_engine *eng_engine_new(const eng_engine_params *p, char *err, size_t errlen)
{
    eng_engine *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, errlen, "out of memory"); return NULL; }
    if (!(e->dev = dev_open(p->device ? p->device : "cpu", err, errlen))) goto fail;
    if (p->on_stage) p->on_stage(p->stage_ud, "main model", p->model_path);
    if (!(e->main = eng_model_load(p->model_path, e->dev, err, errlen))) goto fail;
    if (p->draft_path && p->on_stage) p->on_stage(p->stage_ud, "draft model", p->draft_path);
    if (p->draft_path && !(e->draft = eng_model_load(p->draft_path, e->dev, err, errlen))) goto fail;
    lane *F = &e->full;
    if (!(F->mc = eng_ctx_new(e->main, p->n_ctx, 64, err, errlen))) goto fail;
    if (e->draft && !(F->dc = eng_ctx_new(e->draft, eng_ctx_n_ctx(F->mc), 64, err, errlen))) goto fail;
    e->use_lookup = p->use_lookup;
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.use_lookup = p->use_lookup;
    if (!(F->spec = eng_spec_new(F->mc, F->dc, &sp, err, errlen))) goto fail;
    e->order = p->fim_order >= 0 ? (eng_fim_order)p->fim_order : model_order(e->main);
    e->chat = eng_chat_detect(eng_model_gguf(e->main), eng_model_tok(e->main));
    if (e->order != ENG_FIM_PLAIN && eng_fim_detect(eng_model_tok(e->main)) == ENG_FIM_NONE) {
        e->order = ENG_FIM_PLAIN;      /* no FIM markers: plain continuation of the prefix */
    }
    return e;
fail:
    eng_engine_free(e);
    return NULL;
}

void eng_engine_free(eng_engine *e)
{
    if (!e) return;
    lane *lanes[2] = { &e->full, &e->quick };
    for (int i = 0; i < 2; i++) {
        eng_spec_free(lanes[i]->spec);
        eng_ctx_free(lanes[i]->dc);
        eng_ctx_free(lanes[i]->mc);
        free(lanes[i]->held);
        free(lanes[i]->last_path);
    }
    eng_model_free(e->draft);
    eng_model_free(e->main);
    dev_close(e->dev);
    free(e);
}

eng_model *eng_engine_model(const eng_engine *e) { return e->main; }

void eng_engine_set_store(eng_engine *e, const eng_prefix_store *st)
{
    if (st) e->store = *st;
    else memset(&e->store, 0, sizeof e->store);
}

/* When the contexts hold (almost) nothing of this prompt, ask the store: a
 * file reopened, or opened again after a restart, then costs one block of
 * prefill instead of all of it. */
#define STORE_BLOCK 64
static int restore_from_store(eng_engine *e, eng_ctx *c, const int32_t *tokens, int n, int keep)
{
    if (!e->store.restore || keep >= STORE_BLOCK || n - 1 - keep < STORE_BLOCK) return keep;
    /* c now holds exactly the r restored positions (fewer than keep on a
     * miss: the rest is recomputed by the prefill) */
    return e->store.restore(e->store.ud, c, tokens, n);
}
/* Offers the full lane's KV of tokens[0..n) to the store (queued there,
 * never blocks). */
static void save_to_store(eng_engine *e, const int32_t *tokens, int n)
{
    if (!e->store.save) return;
    e->store.save(e->store.ud, e->full.mc, tokens, n);
    if (e->full.dc) e->store.save(e->store.ud, e->full.dc, tokens, n);
}

int eng_engine_has_draft(const eng_engine *e) { return e->draft != NULL; }
eng_chat_format eng_engine_chat_format(const eng_engine *e) { return e->chat; }

// ---------------------------------------------------------------- job setup

void eng_request_init(eng_request *r)
{
    memset(r, 0, sizeof *r);
    r->max_tokens = 64;
    r->max_lines = 8;
}

static int jfail(eng_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(eng_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Copies s[0..n) trimmed of blanks and "\r" at both ends. */
static char *trimmed_copy(const char *s, size_t n, size_t *out_len)
{
    while (n && (is_blank(*s) || *s == '\r')) s++, n--;
    while (n && (is_blank(s[n - 1]) || s[n - 1] == '\r')) n--;
    char *c = malloc(n + 1);
    if (c) { memcpy(c, s, n); c[n] = 0; *out_len = n; }
    return c;
}

/* Indentation width of a line (tabs count 4: only comparisons matter). */
static int indent_of(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n && is_blank(s[i]); i++) w += s[i] == '\t' ? 4 : 1;
    return w;
}

static int remember_context(eng_job *j)
{
    const eng_request *r = &j->r;
    /* the cursor's line: from the last newline of the prefix */
    size_t ls = r->prefix_len;
    while (ls && r->prefix[ls - 1] != '\n') ls--;
    j->base_indent = indent_of(r->prefix + ls, r->prefix_len - ls);
    /* the rest of the cursor's line, and the first non-blank line after it */
    size_t e = 0;
    while (e < r->suffix_len && r->suffix[e] != '\n') e++;
    if (!(j->suffix_rest = trimmed_copy(r->suffix, e, &j->suffix_rest_len))) return -1;
    size_t a = e;
    for (;;) {
        while (a < r->suffix_len && r->suffix[a] == '\n') a++;
        size_t b = a;
        while (b < r->suffix_len && r->suffix[b] != '\n') b++;
        free(j->suffix_line);
        if (!(j->suffix_line = trimmed_copy(r->suffix + a, b - a, &j->suffix_line_len))) return -1;
        if (j->suffix_line_len || b >= r->suffix_len) break;
        a = b;
    }
    return 0;
}

static void held_from_job(eng_job *j);

static int lcp(const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* The prompt of a rewrite: an instruction prompt for chat models, else a FIM
 * prompt whose hole is the region (see eng_request). */
static int rewrite_prompt(eng_job *j, eng_fim_input *in, char *err, size_t errlen)
{
    const eng_request *r = &j->r;
    const eng_tok *tok = eng_model_tok(j->e->main);
    const char *instr = r->instruction && *r->instruction ? r->instruction : "Improve this code.";
    if (strlen(instr) > ENG_CHAT_INSTRUCTION_MAX) {
        snprintf(err, errlen, "instruction longer than %d bytes", ENG_CHAT_INSTRUCTION_MAX);
        return -1;
    }
    if (j->e->chat != ENG_CHAT_NONE) {
        size_t ul;
        char *user = eng_chat_rewrite_message(instr, r->language, r->original, r->original_len, &ul);
        char fence[96];
        int fl = snprintf(fence, sizeof fence, "```%.80s\n", r->language ? r->language : "");
        eng_chat_input ci = { eng_chat_rewrite_system(), strlen(eng_chat_rewrite_system()), user, ul, fence,
                              (size_t)fl };
        int rc = user ? eng_chat_build(tok, j->e->chat, &ci, &j->prompt.tokens, &j->prompt.n_tokens, err, errlen)
                      : (snprintf(err, errlen, "out of memory"), -1);
        free(user);
        j->fenced = 1;
        return rc;
    }
    /* FIM: the earlier version of the region as context, the instruction as a
     * comment line (one line: its breaks become spaces) above the hole */
    size_t nf = r->n_files + 1, ind = 0, il = strlen(instr);
    while (ind < r->original_len && (r->original[ind] == ' ' || r->original[ind] == '\t')) ind++;
    eng_fim_file *files = malloc(nf * sizeof *files);
    const char *mark = r->line_comment;
    size_t ml = mark ? strlen(mark) : 0, plen = r->prefix_len + (mark ? ind + ml + il + 2 : 0);
    char *prefix = malloc(plen + 1);
    if (!files || !prefix) { free(files); free(prefix); snprintf(err, errlen, "out of memory"); return -1; }
    if (r->n_files) memcpy(files, r->files, r->n_files * sizeof *files);
    files[nf - 1] = (eng_fim_file){ r->path ? r->path : "untitled", r->original, r->original_len };
    memcpy(prefix, r->prefix, r->prefix_len);
    if (mark) {
        char *w = prefix + r->prefix_len;
        memcpy(w, r->original, ind), w += ind;
        memcpy(w, mark, ml), w += ml;
        *w++ = ' ';
        for (size_t i = 0; i < il; i++) *w++ = instr[i] == '\n' || instr[i] == '\r' ? ' ' : instr[i];
        *w++ = '\n';
    }
    in->prefix = prefix;
    in->prefix_len = plen;
    in->files = files;
    in->n_files = nf;
    in->line_comment = mark;
    int room = eng_ctx_n_ctx(j->e->full.mc) - j->r.max_tokens - 40;
    in->extra_max = (size_t)room / 2;       /* the original first: it is what gets rewritten */
    in->prefix_max = (size_t)room * 3 / 8;
    in->suffix_max = (size_t)room / 8;
    int rc = eng_fim_build(tok, in, &j->prompt, err, errlen);
    free(prefix);
    free(files);
    return rc ? -1 : 0;
}

/* The original's tokens: the prompt-lookup draft source of a rewrite. */
static int tokenize_lookup(eng_job *j)
{
    const eng_tok *tok = eng_model_tok(j->e->main);
    int64_t n = eng_tok_encode(tok, j->r.original, j->r.original_len, 0, NULL, 0);
    if (n < 0 || n > (1 << 24) || !(j->lookup = malloc(((size_t)n + 1) * sizeof *j->lookup))) return -1;
    if (eng_tok_encode(tok, j->r.original, j->r.original_len, 0, j->lookup, (size_t)n) != n) return -1;
    j->n_lookup = (int)n;
    return 0;
}

/* Adds the decoder's counters since spec0 to the job's statistics. */
static void count_spec(eng_job *j)
{
    const eng_spec_stats *st = eng_spec_get_stats(j->L->spec);
    j->st.steps += st->steps - j->spec0.steps;
    j->st.drafted += st->drafted[0] + st->drafted[1] - j->spec0.drafted[0] - j->spec0.drafted[1];
    j->st.accepted += st->accepted[0] + st->accepted[1] - j->spec0.accepted[0] - j->spec0.accepted[1];
    j->spec0 = *st;
}

/* Another job takes the engine: j keeps its place. The contexts' KV of j is
 * remembered as held (the next job reuses what it shares); a decoding job's
 * sequence so far becomes its prompt, evaluated again when it resumes. */
static void park(eng_job *j)
{
    eng_engine *e = j->e;
    e->job = NULL;
    if (j->reason != ENG_STOP_NONE) return;
    held_from_job(j);
    if (!j->decoding) return;
    count_spec(j);
    int n;
    const int32_t *seq = eng_spec_tokens(j->L->spec, &n);
    int32_t *t = realloc(j->prompt.tokens, (size_t)n * sizeof *t);
    if (!t) { snprintf(j->err, sizeof j->err, "out of memory parking a job"); j->reason = ENG_STOP_CONTEXT; return; }
    memcpy(t, seq, (size_t)n * sizeof *t);
    j->prompt.tokens = t;
    j->prompt.n_tokens = (size_t)n;
    j->decoding = 0;
    j->resumed = 1;
    j->prompt_text_len = j->len;
    j->prompt_generated = j->st.generated_tokens;
}

/* Makes j the engine's job: keeps what the contexts hold of its prompt (not
 * its last token), asks the prefix store for more, and the prefill steps
 * evaluate the rest. */
static doc_accept *accept_slot(eng_engine *e, uint64_t key, int create)
{
    doc_accept *lru = &e->accepts[0];
    for (int i = 0; i < ACCEPT_DOCS; i++) {
        if (e->accepts[i].key == key) return &e->accepts[i];
        if (e->accepts[i].used < lru->used) lru = &e->accepts[i];
    }
    if (!create) return NULL;
    lru->key = key;
    return lru;
}

/* Gives the full lane's decoder what it learnt of j's document's drafters
 * (acceptance, draft lengths), keeping the previous document's. */
static void swap_accept(eng_engine *e, eng_job *j)
{
    if (j->L != &e->full || j->doc_key == e->accept_key) return;
    if (e->accept_key) {
        doc_accept *d = accept_slot(e, e->accept_key, 1);
        eng_spec_get_accept(e->full.spec, &d->a);
        d->used = ++e->accept_clock;
    }
    doc_accept *d = accept_slot(e, j->doc_key, 0);
    eng_spec_set_accept(e->full.spec, d ? &d->a : NULL);
    if (d) d->used = ++e->accept_clock;
    e->accept_key = j->doc_key;
}

static void attach(eng_engine *e, eng_job *j)
{
    if (e->job && e->job != j) park(e->job);
    swap_accept(e, j);
    lane *L = j->L;
    int n = (int)j->prompt.n_tokens;
    int keep = lcp(L->held, L->n_held, j->prompt.tokens, n);
    if (keep > n - 1) keep = n - 1;
    eng_ctx_truncate(L->mc, keep);
    if (L->dc) eng_ctx_truncate(L->dc, keep);
    int reused = eng_ctx_pos(L->mc);    /* keep, or less when a prefill stopped early */
    int restored = keep;
    if (L == &e->full) {
        double t0 = eng_now_ms();
        restored = restore_from_store(e, L->mc, j->prompt.tokens, n, keep);
        if (L->dc) restore_from_store(e, L->dc, j->prompt.tokens, n, keep);
        j->st.restore_ms += eng_now_ms() - t0;
    }
    if (!j->resumed) {
        j->st.prompt_tokens = n;
        j->st.reused_tokens = reused;
        if (restored > keep) j->st.restored_tokens = restored - keep;
    }
    /* held[0..keep) is this prompt's start; each context prefills its own rest */
    L->n_held = restored < keep ? restored : keep;
    j->spec0 = *eng_spec_get_stats(L->spec);
    e->job = j;
}

/* A FIM prompt on lane L: keeps the lane's prefix window start when the file
 * is the same (the KV of the whole prefix stays valid), and remembers it. */
static int build_fim(lane *L, const eng_tok *tok, eng_fim_input *in, eng_fim_prompt *out,
                     char *err, size_t errlen)
{
    const char *path = in->path ? in->path : "";
    in->prefix_keep_from = L->last_path && !strcmp(L->last_path, path) ? L->last_prefix_start : 0;
    if (eng_fim_build(tok, in, out, err, errlen) != 0) return -1;
    if (!L->last_path || strcmp(L->last_path, path)) {
        free(L->last_path);
        L->last_path = strdup(path);
    }
    L->last_prefix_start = out->prefix_text_start;
    return 0;
}

/* The quick lane, created on first use: the main model alone (prompt lookup
 * still drafts) on a QUICK_CTX context. */
static int quick_lane(eng_engine *e)
{
    lane *Q = &e->quick;
    if (Q->mc) return 0;
    char err[256];
    int n = eng_ctx_n_ctx(e->full.mc) < QUICK_CTX ? eng_ctx_n_ctx(e->full.mc) : QUICK_CTX;
    if (!(Q->mc = eng_ctx_new(e->main, n, 64, err, sizeof err))) return -1;
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.use_lookup = e->use_lookup;
    if (!(Q->spec = eng_spec_new(Q->mc, NULL, &sp, err, sizeof err))) {
        eng_ctx_free(Q->mc);
        Q->mc = NULL;
        return -1;
    }
    return 0;
}

/* The prefill still to do on the full lane for a prompt of n tokens, in
 * main-model tokens (a draft-model token costs its share of the parameters). */
static double prefill_work(const eng_engine *e, int n)
{
    double w = n - 1 - eng_ctx_pos(e->full.mc);
    if (e->full.dc)
        w += (double)(n - 1 - eng_ctx_pos(e->full.dc)) * (double)eng_model_n_params(e->draft) /
             (double)eng_model_n_params(e->main);
    return w;
}

/* Moves a completion whose full prompt would take long to prefill to the
 * quick lane with a short prompt (quick_start tokens: 3/4 prefix, 1/4
 * suffix, no other files); the full prompt stays for eng_job_warm_step. On
 * any failure the job simply stays on the full lane. */
static void go_quick(eng_job *j, const eng_tok *tok, eng_fim_input *in)
{
    eng_engine *e = j->e;
    if (quick_lane(e)) return;
    int q = j->r.quick_start;
    if (q + j->r.max_tokens + 40 > eng_ctx_n_ctx(e->quick.mc)) return;
    in->prefix_max = (size_t)q * 3 / 4;
    in->suffix_max = (size_t)q / 4;
    in->extra_max = 0;
    in->files = NULL;
    in->n_files = 0;
    eng_fim_prompt short_prompt;
    char err[256];
    if (build_fim(&e->quick, tok, in, &short_prompt, err, sizeof err)) return;
    if (short_prompt.n_tokens < 1) { eng_fim_prompt_free(&short_prompt); return; }
    j->full = j->prompt;
    j->prompt = short_prompt;
    j->L = &e->quick;
    j->st.quick = 1;
    attach(e, j);
}

eng_job *eng_job_start(eng_engine *e, const eng_request *r, char *err, size_t errlen)
{
    eng_job *j = calloc(1, sizeof *j);
    if (!j) { snprintf(err, errlen, "out of memory"); return NULL; }
    if (errlen) err[0] = 0;
    j->e = e;
    j->r = *r;
    j->t0 = eng_now_ms();
    if (j->r.max_tokens <= 0) j->r.max_tokens = 64;
    if (j->r.max_lines <= 0) j->r.max_lines = 8;
    const eng_tok *tok = eng_model_tok(e->main);
    eng_fim_input in;
    eng_fim_input_init(&in);
    in.order = e->order;
    in.prefix = r->prefix;
    in.prefix_len = r->prefix_len;
    in.suffix = r->suffix;
    in.suffix_len = r->suffix_len;
    in.path = r->path;
    in.files = r->files;
    in.n_files = r->n_files;
    j->L = &e->full;
    uint64_t h = 1469598103934665603ull;        /* FNV-1a of the path; never 0 */
    for (const char *c = r->path ? r->path : ""; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    j->doc_key = h | 1;
    int room = eng_ctx_n_ctx(e->full.mc) - j->r.max_tokens - 40;
    if (room < 64) { snprintf(err, errlen, "context too small for max_tokens %d", j->r.max_tokens); goto fail; }
    if (r->original) {
        if (rewrite_prompt(j, &in, err, errlen) || tokenize_lookup(j)) {
            if (!err[0]) snprintf(err, errlen, "out of memory");
            goto fail;
        }
        int n_ctx = eng_ctx_n_ctx(e->full.mc);
        if (j->prompt.n_tokens + 40 + (size_t)j->r.max_tokens > (size_t)n_ctx) {
            snprintf(err, errlen, "the region is too long to rewrite: %zu prompt tokens + %d to write do "
                     "not fit the %d-token context", j->prompt.n_tokens, j->r.max_tokens, n_ctx);
            goto fail;
        }
    } else {
        if (in.prefix_max + in.suffix_max + in.extra_max > (size_t)room) {
            in.prefix_max = (size_t)room * 5 / 8;
            in.suffix_max = (size_t)room / 4;
            in.extra_max = (size_t)room / 8;
        }
        if (build_fim(&e->full, tok, &in, &j->prompt, err, errlen)) goto fail;
    }
    if (j->prompt.n_tokens < 1) { snprintf(err, errlen, "empty prompt"); goto fail; }
    if (remember_context(j)) { snprintf(err, errlen, "out of memory"); goto fail; }

    eng_sampler_params sp;
    eng_sampler_params_init(&sp);
    sp.temperature = r->temperature;
    sp.seed = r->seed;
    if (!(j->smp = eng_sampler_new(&sp, err, errlen))) goto fail;
    attach(e, j);
    if (r->quick_start > 0 && !r->original && prefill_work(e, (int)j->prompt.n_tokens) > r->quick_start)
        go_quick(j, tok, &in);
    return j;
fail:
    j->e = NULL;
    eng_job_free(j);
    return NULL;
}

void eng_job_free(eng_job *j)
{
    if (!j) return;
    if (j->e && j->e->job == j) {
        if (j->reason == ENG_STOP_NONE) held_from_job(j);
        j->e->job = NULL;
    }
    eng_fim_prompt_free(&j->prompt);
    eng_fim_prompt_free(&j->full);
    eng_sampler_free(j->smp);
    free(j->text);
    free(j->suffix_line);
    free(j->suffix_rest);
    free(j->lookup);
    free(j);
}

// ---------------------------------------------------------------- stepping

/* One prefill chunk into ctx; returns 1 when ctx holds all but the last. */
static int prefill_chunk(eng_job *j, eng_ctx *c)
{
    int target = (int)j->prompt.n_tokens - 1, have = eng_ctx_pos(c);
    if (have >= target) return 1;
    int n = target - have < PREFILL_CHUNK ? target - have : PREFILL_CHUNK;
    if (eng_forward(c, j->prompt.tokens + have, n, NULL, 0)) return jfail(j, "%s", eng_ctx_error(c));
    return have + n >= target;
}

static int append(eng_job *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 256;
        while (cap < j->len + n + 1) cap *= 2;
        char *t = realloc(j->text, cap);
        if (!t) return -1;
        j->text = t;
        j->cap = cap;
    }
    memcpy(j->text + j->len, s, n);
    j->len += n;
    j->text[j->len] = 0;
    return 0;
}

/* Text stop rules, checked after new text was appended. Returns the stop
 * (and cuts j->text) or ENG_STOP_NONE. */
static eng_stop text_rules(eng_job *j, size_t old_len)
{
    /* Look at every line completed by the new text. */
    size_t start = old_len;
    while (start && j->text[start - 1] != '\n') start--;
    int line_no = 0;
    for (size_t i = 0; i < start; i++) line_no += j->text[i] == '\n';
    for (size_t i = start; i < j->len; i++) {
        if (j->text[i] != '\n') continue;
        /* line [start, i) is complete */
        const char *ln = j->text + start;
        size_t n = i - start;
        size_t tl;
        char *t = trimmed_copy(ln, n, &tl);
        int dup = t && line_no > 0 && j->suffix_line_len >= 2 && tl == j->suffix_line_len &&
                  !memcmp(t, j->suffix_line, tl);
        int blank = t && tl == 0;
        int fence = j->fenced && t && tl >= 3 && !memcmp(t, "```", 3);
        free(t);
        if (fence) { j->len = start ? start - 1 : 0; return ENG_STOP_EOS; }
        if (dup) { j->len = start ? start - 1 : 0; return ENG_STOP_SUFFIX; }
        if (line_no > 0 && !blank && indent_of(ln, n) < j->base_indent) {
            j->len = start ? start - 1 : 0;
            return ENG_STOP_BLOCK;
        }
        line_no++;
        if (line_no >= j->r.max_lines) { j->len = i; return ENG_STOP_LINES; }
        start = i + 1;
    }
    return ENG_STOP_NONE;
}

/* Records that the contexts hold the KV of a prefix of tokens[0..n) each. */
static void set_held(lane *L, const int32_t *tokens, int n)
{
    if (n <= 0) { L->n_held = 0; return; }
    if (n > L->cap_held) {
        int32_t *h = realloc(L->held, (size_t)n * sizeof *h);
        if (!h) {   /* forget everything rather than mis-remember */
            L->n_held = 0;
            eng_ctx_truncate(L->mc, 0);
            if (L->dc) eng_ctx_truncate(L->dc, 0);
            return;
        }
        L->held = h;
        L->cap_held = n;
    }
    memmove(L->held, tokens, (size_t)n * sizeof *tokens);
    L->n_held = n;
}

/* What the contexts hold when job j stops now (finished or abandoned). */
static void held_from_job(eng_job *j)
{
    lane *L = j->L;
    if (j->decoding) {
        int n;
        const int32_t *seq = eng_spec_tokens(L->spec, &n);
        set_held(L, seq, n - 1);
    } else {
        /* Stopped in the prefill (deadline, preempted): each context keeps
         * what it computed, a prefix of the prompt (the main one prefills
         * first, so it is usually ahead): the next request resumes there
         * instead of starting over. */
        int n = eng_ctx_pos(L->mc);
        if (L->dc && eng_ctx_pos(L->dc) > n) n = eng_ctx_pos(L->dc);
        set_held(L, j->prompt.tokens, n);
    }
}

/* Length of the longest prefix of s[0..n) that is valid, complete UTF-8. */
static size_t utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!k || i + k > n) return i;
        for (size_t t = 1; t < k; t++)
            if ((u[i + t] & 0xC0) != 0x80) return i;
        if (k == 3 && ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] > 0x9F))) return i;
        if (k == 4 && ((c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] > 0x8F))) return i;
        i += k;
    }
    return n;
}

static void finish(eng_job *j, eng_stop why)
{
    j->reason = why;
    if (j->fenced) {    /* a closing fence the model ended with, without its line break */
        size_t ls = j->len;
        while (ls && j->text[ls - 1] != '\n') ls--;
        size_t k = ls;
        while (k < j->len && (j->text[k] == ' ' || j->text[k] == '\t')) k++;
        if (j->len - k >= 3 && !memcmp(j->text + k, "```", 3)) j->len = ls ? ls - 1 : 0;
    }
    /* single-line answers drop what repeats the rest of the cursor's line */
    if (!memchr(j->text ? j->text : "", '\n', j->len) && j->suffix_rest_len && j->len >= j->suffix_rest_len &&
        !memcmp(j->text + j->len - j->suffix_rest_len, j->suffix_rest, j->suffix_rest_len))
        j->len -= j->suffix_rest_len;
    /* an editor can only show valid UTF-8: keep the text up to the first
     * invalid or incomplete sequence (models can emit stray bytes) */
    j->len = utf8_valid_prefix(j->text, j->len);
    /* nor control characters (a stray \x17 would land in the user's file) */
    for (size_t i = 0; i < j->len; i++) {
        unsigned char c = (unsigned char)j->text[i];
        if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f) { j->len = i; break; }
    }
    /* and no blanks hanging at the end of the last line */
    while (j->len && (j->text[j->len - 1] == ' ' || j->text[j->len - 1] == '\t') &&
           memchr(j->text, '\n', j->len))
        j->len--;
    if (j->text) j->text[j->len] = 0;
    /* remember what the contexts hold for the next request */
    held_from_job(j);
    count_spec(j);
}

static int decode_step(eng_job *j)
{
    eng_spec *sp = j->L->spec;
    const eng_tok *tok = eng_model_tok(j->e->main);
    int n;
    eng_spec_tokens(sp, &n);
    if (eng_ctx_n_ctx(j->L->mc) - n < 40) { finish(j, ENG_STOP_CONTEXT); return 1; }
    int32_t out[40];
    int left = j->r.max_tokens - j->st.generated_tokens;    /* draft nothing past max_tokens */
    int got = eng_spec_step(sp, j->smp, out, left < 40 ? (left > 0 ? left : 1) : 40);
    if (got < 0) return jfail(j, "%s", eng_spec_error(sp));
    for (int i = 0; i < got; i++) {
        /* the end of the middle, or any other control token: nothing to show */
        if (eng_tok_is_special(tok, out[i])) {
            if (!j->r.ignore_eos) { eng_spec_keep(sp, i); finish(j, ENG_STOP_EOS); return 1; }
            if (++j->st.generated_tokens >= j->r.max_tokens) { eng_spec_keep(sp, i + 1); finish(j, ENG_STOP_TOKENS); return 1; }
            continue;
        }
        size_t plen;
        const char *piece = eng_tok_piece(tok, out[i], &plen);
        size_t old = j->len;
        if (piece && append(j, piece, plen)) return jfail(j, "out of memory");
        j->st.generated_tokens++;
        eng_stop why = text_rules(j, old);
        if (why == ENG_STOP_NONE && j->st.generated_tokens >= j->r.max_tokens) why = ENG_STOP_TOKENS;
        if (why != ENG_STOP_NONE) { eng_spec_keep(sp, i + 1); finish(j, why); return 1; }
    }
    if (j->r.deadline_ms > 0 && eng_now_ms() > j->r.deadline_ms) { finish(j, ENG_STOP_DEADLINE); return 1; }
    return 0;
}

static int job_step(eng_job *j)
{
    eng_engine *e = j->e;
    if (j->reason != ENG_STOP_NONE) return j->err[0] ? -1 : 1;
    if (!e) return jfail(j, "the job has no engine");
    if (e->job != j) {      /* parked by another job: resume where it was */
        attach(e, j);
        j->st.resumes++;
    }
    if (!j->decoding) {
        double t = eng_now_ms();
        lane *L = j->L;
        int done = prefill_chunk(j, L->mc);
        if (done == 1 && L->dc) done = prefill_chunk(j, L->dc);
        j->st.prefill_ms += eng_now_ms() - t;
        if (done < 0) return -1;
        if (done == 1) {
            int n = (int)j->prompt.n_tokens;
            if (!j->resumed && L == &e->full) save_to_store(e, j->prompt.tokens, n - 1);
            if (eng_spec_begin(L->spec, j->prompt.tokens, n, n - 1, j->lookup, j->n_lookup) != 0)
                return jfail(j, "%s", eng_spec_error(L->spec));
            j->decoding = 1;
        }
        if (j->r.deadline_ms > 0 && eng_now_ms() > j->r.deadline_ms) { finish(j, ENG_STOP_DEADLINE); return 1; }
        return 0;
    }
    double t = eng_now_ms();
    int rc = decode_step(j);
    j->st.decode_ms += eng_now_ms() - t;
    return rc;
}

/* After a failed step: if the device was lost to a fault, reset it. What it
 * held is gone, so both contexts forget their KV (the prefix store may give
 * some back). Returns 1 when job j starts over from its prompt (the first
 * fault of the job), 0 when the failure stands: no fault, a reset refused,
 * or a second fault in the same job. */
static int recover_from_fault(eng_job *j)
{
    eng_engine *e = j->e;
    if (!e || !wse_lost(e->dev) || wse_reset(e->dev) != 0) return 0;
    e->device_resets++;
    lane *lanes[2] = { &e->full, &e->quick };
    for (int i = 0; i < 2; i++) {
        lanes[i]->n_held = 0;
        if (lanes[i]->mc) eng_ctx_truncate(lanes[i]->mc, 0);
        if (lanes[i]->dc) eng_ctx_truncate(lanes[i]->dc, 0);
    }
    if (j->restarted) return 0;
    j->restarted = 1;
    j->err[0] = 0;
    j->decoding = 0;
    j->len = j->prompt_text_len;
    if (j->text) j->text[j->len] = 0;
    j->st.generated_tokens = j->prompt_generated;
    eng_sampler_reset(j->smp);
    int n = (int)j->prompt.n_tokens;
    if (j->L == &e->full) {
        restore_from_store(e, e->full.mc, j->prompt.tokens, n, 0);
        if (e->full.dc) restore_from_store(e, e->full.dc, j->prompt.tokens, n, 0);
    }
    return 1;
}

int eng_job_step(eng_job *j)
{
    int rc = job_step(j);
    if (rc < 0 && recover_from_fault(j)) {
        j->st.device_restarts++;
        return 0;
    }
    return rc;
}

int eng_job_warm_step(eng_job *j)
{
    eng_engine *e = j->e;
    if (!e || !j->st.quick || j->reason == ENG_STOP_NONE || j->full.n_tokens < 2) return 1;
    if (e->job && e->job != j) return 1;        /* another job has the engine now */
    lane *F = &e->full;
    const int32_t *t = j->full.tokens;
    int target = (int)j->full.n_tokens - 1;     /* the KV of all but the last token, as a job leaves it */
    int keep = lcp(F->held, F->n_held, t, target);
    eng_ctx_truncate(F->mc, keep);
    if (F->dc) eng_ctx_truncate(F->dc, keep);
    eng_ctx *c = eng_ctx_pos(F->mc) < target ? F->mc : F->dc && eng_ctx_pos(F->dc) < target ? F->dc : NULL;
    if (c) {
        int have = eng_ctx_pos(c), n = target - have < WARM_CHUNK ? target - have : WARM_CHUNK;
        double t0 = eng_now_ms();
        if (eng_forward(c, t + have, n, NULL, 0)) {
            set_held(F, t, 0);      /* its state is unknown now: forget it */
            eng_ctx_truncate(F->mc, 0);
            if (F->dc) eng_ctx_truncate(F->dc, 0);
            return -1;
        }
        j->st.warm_ms += eng_now_ms() - t0;
    }
    int m = eng_ctx_pos(F->mc);
    if (F->dc && eng_ctx_pos(F->dc) > m) m = eng_ctx_pos(F->dc);
    set_held(F, t, m);
    if (eng_ctx_pos(F->mc) < target || (F->dc && eng_ctx_pos(F->dc) < target)) return 0;
    save_to_store(e, t, target);    /* warm now, and after a restart too */
    return 1;
}

uint64_t eng_engine_device_resets(const eng_engine *e) { return e->device_resets; }
const eng_spec_stats *eng_engine_spec_stats(const eng_engine *e) { return eng_spec_get_stats(e->full.spec); }
double eng_engine_acceptance(const eng_engine *e, int drafter) { return eng_spec_acceptance(e->full.spec, drafter); }

const char *eng_job_text(const eng_job *j, size_t *len)
{
    *len = j->len;
    return j->text ? j->text : "";
}

eng_stop eng_job_stop_reason(const eng_job *j) { return j->reason; }
const eng_job_stats *eng_job_get_stats(const eng_job *j) { return &j->st; }
const char *eng_job_error(const eng_job *j) { return j->err; }
