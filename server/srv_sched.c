/* srv_sched.c — the worker thread that owns the engine; see srv_sched.h. */
#include "srv_sched.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "complete.h"
#include "gram.h"
#include "kvc.h"
#include "srv_log.h"
#include "srv_stats.h"

enum { PREEMPT_NONE, PREEMPT_SUPERSEDED, PREEMPT_CANCELLED, PREEMPT_QUIT };

typedef struct done_item {
    srv_job_req *req;           /* NULL: a load event */
    srv_job_res res;
    srv_load_event load;
    int progress;               /* 1: how far req got (res.generated_tokens); req is not ours */
    struct done_item *next;
} done_item;

/* The prefix store handed to the engine: the SQLite cache and the model ids
 * of the contexts' models (computed once per model). */
typedef struct {
    kvc_store *kvc;
    const eng_model *models[2];
    char ids[2][33];
} store_glue;

struct srv_sched {
    pthread_t th;
    int started;
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_job_req *pending;       /* FIFO */
    srv_job_req *running[2];    /* [0] a completion, [1] a background request; both
                                   while a completion is served between two of its steps */
    atomic_int preempt[2];      /* PREEMPT_* for each running request */
    atomic_int fg_pending;      /* completions in pending: a background job yields */
    done_item *done_head, *done_tail;
    int quit;
    srv_config cfg;             /* under mu; the worker loads from a copy */
    unsigned cfg_gen;           /* bumped by srv_sched_configure */
    unsigned warm_gen;          /* cfg_gen when warming started: a change stops it */
    int trim_due;               /* work was done since the last release_free_memory */
    char status[512];
    eng_spec_stats spec;        /* the engine's decoder counters after the latest job */
    uint64_t device_resets;     /* device faults the engine recovered from (all engines) */
    uint64_t resets_base;       /* of engines already freed */
    srv_sched_done_fn done;
    srv_sched_load_fn load;
    srv_sched_progress_fn progress;
    void *ud;
    store_glue glue;        /* worker thread only */
};

static const char *model_id(store_glue *g, eng_ctx *c)
{
    eng_model *m = eng_ctx_model(c);
    for (int i = 0; i < 2; i++) {
        if (g->models[i] == m) return g->ids[i];
        if (!g->models[i]) {
            g->models[i] = m;
            gguf_model_id(eng_model_gguf(m), g->ids[i]);
            return g->ids[i];
        }
    }
    return NULL;
}

static int glue_restore(void *ud, eng_ctx *c, const int32_t *tokens, int n)
{
    store_glue *g = ud;
    const char *id = model_id(g, c);
    return id ? kvc_restore(g->kvc, c, id, tokens, n) : eng_ctx_pos(c);
}

static void glue_save(void *ud, eng_ctx *c, const int32_t *tokens, int n)
{
    store_glue *g = ud;
    const char *id = model_id(g, c);
    if (id) kvc_save(g->kvc, c, id, tokens, n);
}

static void cache_log(void *ud, const char *msg)
{
    (void)ud;
    srv_warn("cache: %s", msg);
}

/* Opens the KV cache unless disabled; failures mean running without it. */
static kvc_store *open_cache(const srv_config *cfg)
{
    if (cfg->no_cache) return NULL;
    kvc_options o;
    memset(&o, 0, sizeof o);
    o.path = cfg->cache[0] ? cfg->cache : NULL;
    o.cap_bytes = (uint64_t)kvc_parse_size(cfg->cache_size);
    o.mem_bytes = (uint64_t)kvc_parse_size(cfg->cache_mem);
    o.log = cache_log;
    char err[256];
    kvc_store *k = kvc_open(&o, err, sizeof err);
    if (!k) srv_warn("running without the KV cache: %s", err);
    else srv_info("KV cache: %s", kvc_store_path(k)[0] ? kvc_store_path(k) : "memory only");
    return k;
}

void srv_job_req_free(srv_job_req *r)
{
    if (!r) return;
    if (r->user && r->user_free) r->user_free(r->user);
    json_decref(r->id);
    free(r->uri);
    free(r->prefix);
    free(r->suffix);
    free(r->path);
    free(r->original);
    free(r->instruction);
    free(r->language);
    for (size_t i = 0; i < r->n_files; i++) {
        free((char *)r->files[i].path);
        free((char *)r->files[i].text);
    }
    free(r->files);
    gram_context_free(r->gram);
    free(r);
}

void srv_job_res_clear(srv_job_res *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

static void signal_loop(srv_sched *s)
{
    uint64_t one = 1;
    ssize_t n = write(s->efd, &one, sizeof one);
    (void)n;   /* a full counter still wakes the loop */
}

/* Appends d to the loop's queue (s->mu held). */
static void enqueue(srv_sched *s, done_item *d)
{
    if (s->done_tail) s->done_tail->next = d;
    else s->done_head = d;
    s->done_tail = d;
}

/* Queues a finished request for the loop (s->mu held). */
static void push_done(srv_sched *s, srv_job_req *req, const srv_job_res *res)
{
    done_item *d = calloc(1, sizeof *d);
    if (!d) {   /* cannot even report: drop it, loudly */
        srv_error("out of memory reporting a completion result; request dropped");
        /* Progress reports still queued for req must not outlive it. */
        for (done_item **p = &s->done_head, *prev = NULL; *p;) {
            done_item *q = *p;
            if (q->progress && q->req == req) {
                *p = q->next;
                if (s->done_tail == q) s->done_tail = prev;
                free(q);
            } else {
                prev = q;
                p = &q->next;
            }
        }
        srv_job_req_free(req);
        free(res->text);
        return;
    }
    d->req = req;
    d->res = *res;
    enqueue(s, d);
}

/* Queues a load event for the loop (s->mu not held). */
static void push_load(srv_sched *s, srv_load_phase phase, int pct, int ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void push_load(srv_sched *s, srv_load_phase phase, int pct, int ok, const char *fmt, ...)
{
    if (!s->load) return;
    done_item *d = calloc(1, sizeof *d);
    if (!d) { srv_warn("out of memory reporting model-load progress"); return; }
    d->load = (srv_load_event){ phase, pct, ok, "" };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->load.message, sizeof d->load.message, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->mu);
    enqueue(s, d);
    signal_loop(s);
    pthread_mutex_unlock(&s->mu);
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void load_stage(void *ud, const char *stage, const char *path)
{
    push_load(ud, SRV_LOAD_STAGE, !strcmp(stage, "main model") ? 10 : 60, 0, "%s %s", stage, base_name(path));
}

static void empty_result(srv_job_res *res, const char *reason)
{
    memset(res, 0, sizeof *res);
    res->empty = 1;
    res->reason = reason;
}

// ---------------------------------------------------------------- worker

void srv_engine_setup_resolve(const srv_config *cfg, srv_engine_setup *out)
{
    srv_model_path(cfg->model, "sparkd-main.gguf", out->model, sizeof out->model);
    out->draft[0] = 0;
    if (strcmp(cfg->draft, "none")) {
        srv_model_path(cfg->draft, "sparkd-draft.gguf", out->draft, sizeof out->draft);
        if (!cfg->draft[0] && access(out->draft, R_OK) != 0) out->draft[0] = 0;
    }
    const char *dev = cfg->device;
    if (cfg->threads && !strchr(dev, ':')) snprintf(out->device, sizeof out->device, "%s:threads=%d", dev, cfg->threads);
    else snprintf(out->device, sizeof out->device, "%s", dev);
    out->fim_order = srv_config_fim_order(cfg);
}

static eng_engine *load_engine(srv_sched *s, const srv_config *cfg)
{
    srv_engine_setup es;
    char err[512];
    srv_engine_setup_resolve(cfg, &es);
    eng_engine_params p;
    eng_engine_params_init(&p);
    p.model_path = es.model;
    p.draft_path = es.draft[0] ? es.draft : NULL;
    p.device = es.device;
    p.fim_order = es.fim_order;
    p.on_stage = load_stage;
    p.stage_ud = s;
    double t0 = eng_now_ms();
    push_load(s, SRV_LOAD_BEGIN, 0, 0, "Loading sparkd model %s", base_name(es.model));
    eng_engine *e = eng_engine_new(&p, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    if (e) snprintf(s->status, sizeof s->status, "ready");
    else snprintf(s->status, sizeof s->status, "%s", err);
    pthread_mutex_unlock(&s->mu);
    if (e && !cfg->no_cache) push_load(s, SRV_LOAD_STAGE, 90, 0, "KV cache");
    if (e && (s->glue.kvc = open_cache(cfg))) {
        eng_prefix_store st = { &s->glue, glue_restore, glue_save };
        eng_engine_set_store(e, &st);
    }
    if (e) push_load(s, SRV_LOAD_END, 100, 1, "%s%s%s ready in %.0f ms on %s", base_name(es.model),
                     es.draft[0] ? " + draft " : "", es.draft[0] ? base_name(es.draft) : "", eng_now_ms() - t0,
                     es.device);
    else push_load(s, SRV_LOAD_END, 100, 0, "cannot load %s: %s", base_name(es.model), err);
    if (e) srv_info("engine ready in %.0f ms: %s%s%s on %s (rewrite prompts: %s)", eng_now_ms() - t0, es.model,
                    es.draft[0] ? " + draft " : "", es.draft, es.device,
                    eng_engine_chat_format(e) == ENG_CHAT_NONE ? "FIM" : eng_chat_format_name(eng_engine_chat_format(e)));
    else srv_error("cannot load the model: %s (completions will be empty; set --model or the "
                   "\"model\" setting)", err);
    return e;
}

static void serve(srv_sched *s, eng_engine *e, srv_job_req *req);

/* The first request in pending that is ready to run (debounce passed), of
 * the foreground class, else (unless fg_only) of the background one;
 * unlinked. *wake is set to the earliest time one becomes ready (s->mu held). */
static srv_job_req *take_ready(srv_sched *s, int fg_only, uint64_t *wake)
{
    uint64_t now = srv_now_ns();
    srv_job_req **pick = NULL;
    *wake = UINT64_MAX;
    for (srv_job_req **pp = &s->pending; *pp; pp = &(*pp)->next) {
        srv_job_req *r = *pp;
        uint64_t ready = r->submitted_ns + (uint64_t)r->debounce_ms * 1000000u;
        if (ready > now) {
            if (ready < *wake) *wake = ready;
        } else if (!r->background) {
            pick = pp;
            break;
        } else if (!pick && !fg_only) {
            pick = pp;
        }
    }
    if (!pick) return NULL;
    srv_job_req *r = *pick;
    *pick = r->next;
    r->next = NULL;
    if (!r->background) atomic_fetch_sub(&s->fg_pending, 1);
    return r;
}

/* Between two steps of a background job: serves the completions that are
 * ready; the engine parks the background job meanwhile. */
static void serve_foreground(srv_sched *s, eng_engine *e)
{
    for (;;) {
        uint64_t wake;
        pthread_mutex_lock(&s->mu);
        srv_job_req *r = s->quit ? NULL : take_ready(s, 1, &wake);
        pthread_mutex_unlock(&s->mu);
        if (!r) return;
        serve(s, e, r);
    }
}

/* Queues how far a background request got (s->mu not held). */
static void push_progress(srv_sched *s, srv_job_req *req, int generated)
{
    if (!s->progress) return;
    done_item *d = calloc(1, sizeof *d);
    if (!d) return;     /* a report less */
    d->req = req;
    d->progress = 1;
    d->res.generated_tokens = generated;
    pthread_mutex_lock(&s->mu);
    enqueue(s, d);
    signal_loop(s);
    pthread_mutex_unlock(&s->mu);
}

/* Runs one request to its end on the engine. A quick-start job that still
 * has its full prompt to warm is handed back in *warm instead of freed. */
static void run_job(srv_sched *s, eng_engine *e, srv_job_req *req, srv_job_res *res, eng_job **warm)
{
    atomic_int *preempt = &s->preempt[req->background];
    eng_request r;
    eng_request_init(&r);
    r.prefix = req->prefix;
    r.prefix_len = req->prefix_len;
    r.suffix = req->suffix;
    r.suffix_len = req->suffix_len;
    r.path = req->path;
    r.files = req->files;
    r.n_files = req->n_files;
    r.max_tokens = req->max_tokens;
    r.max_lines = req->max_lines;
    r.temperature = req->temperature;
    r.seed = req->seed;
    r.original = req->original;
    r.original_len = req->original_len;
    r.instruction = req->instruction;
    r.language = req->language;
    r.line_comment = req->line_comment;
    r.quick_start = req->quick_start;
    if (req->deadline_ms > 0) r.deadline_ms = req->submitted_ns / 1e6 + req->deadline_ms;
    char err[256];
    eng_job *j = eng_job_start(e, &r, err, sizeof err);
    if (!j) {
        empty_result(res, "error");
        snprintf(res->detail, sizeof res->detail, "%s", err);
        return;
    }
    int rc, reported = 0;
    while ((rc = eng_job_step(j)) == 0) {
        if (req->background) {
            int gen = eng_job_get_stats(j)->generated_tokens;
            if (gen * 20 / req->max_tokens > reported * 20 / req->max_tokens) {
                reported = gen;
                push_progress(s, req, gen);
            }
            if (atomic_load(&s->fg_pending) > 0) serve_foreground(s, e);
        }
        int p = atomic_load(preempt);
        if (p != PREEMPT_NONE) {
            empty_result(res, p == PREEMPT_CANCELLED ? "cancelled" :
                              p == PREEMPT_QUIT ? "shutting down" : "superseded by a newer request");
            res->cancelled = p == PREEMPT_CANCELLED;
            eng_job_free(j);
            return;
        }
    }
    memset(res, 0, sizeof *res);
    double gram_ms = 0;
    if (eng_job_get_stats(j)->device_restarts)
        srv_warn("device fault during a completion: the device was reset and the request started over%s",
                 rc < 0 ? ", and failed again" : "");
    if (rc < 0) {
        empty_result(res, "error");
        snprintf(res->detail, sizeof res->detail, "%s", eng_job_error(j));
    } else {
        size_t n;
        const char *t = eng_job_text(j, &n);
        eng_stop why = eng_job_stop_reason(j);
        gram_trim_result tr = { NULL, 0, GRAM_TRIM_KEPT, 0, 0 };
        if (req->gram && n) {     /* syntax-aware trimming: block end, balance, parse check */
            uint64_t t0 = srv_now_ns();
            gram_trim(req->gram, req->prefix, req->prefix_len, req->suffix, req->suffix_len, t, n, &tr);
            gram_ms = (srv_now_ns() - t0) / 1e6;
            if (tr.text) { t = tr.text; n = tr.len; }
        }
        res->text = malloc(n + 1);
        if (res->text) { memcpy(res->text, t, n); res->text[n] = 0; res->len = n; }
        int blank = 1;
        for (size_t i = 0; i < n; i++) blank &= t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r';
        free(tr.text);      /* t may point into it: used up to here */
        res->empty = blank;
        res->reason = !blank ? "" : tr.reason == GRAM_TRIM_SYNTAX_ERROR ? "filtered: introduces a syntax error"
                    : tr.reason == GRAM_TRIM_SUFFIX_LINE || tr.reason == GRAM_TRIM_SUFFIX_LINES
                        ? "filtered: duplicate of the code after the cursor"
                    : why == ENG_STOP_DEADLINE ? "deadline reached before any text"
                    : why == ENG_STOP_SUFFIX ? "filtered: duplicate of the code after the cursor"
                    : "model produced nothing";
        if (!blank && res->text && req->post) req->post(req, res);
    }
    const eng_job_stats *st = eng_job_get_stats(j);
    res->prompt_tokens = st->prompt_tokens;
    res->reused_tokens = st->reused_tokens;
    res->restored_tokens = st->restored_tokens;
    res->generated_tokens = st->generated_tokens;
    res->prefill_ms = st->prefill_ms;
    res->decode_ms = st->decode_ms;
    res->steps = st->steps;
    res->drafted = st->drafted;
    res->accepted = st->accepted;
    res->quick = st->quick;
    pthread_mutex_lock(&s->mu);
    s->spec = *eng_engine_spec_stats(e);
    s->device_resets = s->resets_base + eng_engine_device_resets(e);
    pthread_mutex_unlock(&s->mu);
    res->gram_ms = gram_ms;
    res->cache_ms = st->restore_ms;
    if (st->quick && rc == 1) *warm = j;
    else eng_job_free(j);
}

/* Whether the worker should stop warming: a request waits, or it must quit
 * or reload. */
static int warm_should_stop(srv_sched *s)
{
    pthread_mutex_lock(&s->mu);
    int stop = s->quit || s->pending || s->cfg_gen != s->warm_gen;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* After a quick answer went out: prefill the full prompt a chunk at a time
 * while nothing else is waiting, so the next keystroke finds it computed. */
static void warm(srv_sched *s, eng_job *j)
{
    int rc = 0;
    while (!warm_should_stop(s) && (rc = eng_job_warm_step(j)) == 0) {}
    if (rc < 0) srv_warn("warming the full prompt after a quick answer failed (device error); "
                         "the next request computes it");
    srv_debug("warmed the full prompt for %.1f ms%s", eng_job_get_stats(j)->warm_ms, rc == 1 ? "" : " (stopped early)");
    eng_job_free(j);
}

/* Waits on s->cv (s->mu held) for at most wait_ns; ETIMEDOUT when it ran out. */
static int wait_ns(srv_sched *s, uint64_t wait)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(wait / 1000000000u);
    ts.tv_nsec += (long)(wait % 1000000000u);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* This process's anonymous resident memory in KiB (/proc), or -1. */
static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* Gives the pages malloc holds free back to the system. A long session frees
 * as much as it allocates (heaptrack over a 10-minute soak: live heap 34 MB
 * after 30 s and after 570 s, 3 KB never freed), but glibc keeps freed pages
 * in its arenas, so RSS crept up by ~0.5-2 MB a minute. Called once the worker
 * has been idle for TRIM_IDLE_NS after some work: never between keystrokes,
 * and no wake-ups while the editor is idle. /proc is read only for the debug
 * log line. */
#define TRIM_IDLE_NS 1000000000u
static void release_free_memory(void)
{
#ifdef __GLIBC__
    int debug = srv_log_get_level() >= SRV_LOG_DEBUG;
    long before = debug ? rss_anon_kb() : -1;
    malloc_trim(0);
    if (debug)
        srv_debug("idle: returned free memory to the system (anonymous RSS %ld -> %ld KiB)", before, rss_anon_kb());
#endif
}

/* Waits for the next request whose debounce has passed (s->mu held);
 * returns it unlinked, or NULL when quitting or when the engine settings
 * changed from generation gen (reload at once: editors show its progress). */
static srv_job_req *next_request(srv_sched *s, unsigned gen)
{
    for (;;) {
        while (!s->quit && !s->pending && gen == s->cfg_gen) {
            if (!s->trim_due) {
                pthread_cond_wait(&s->cv, &s->mu);
            } else if (wait_ns(s, TRIM_IDLE_NS) == ETIMEDOUT && !s->pending && !s->quit) {
                s->trim_due = 0;
                pthread_mutex_unlock(&s->mu);
                release_free_memory();
                pthread_mutex_lock(&s->mu);
            }
        }
        if (s->quit || gen != s->cfg_gen) return NULL;
        uint64_t ready, now = srv_now_ns();
        srv_job_req *r = take_ready(s, 0, &ready);
        if (r) return r;
        wait_ns(s, ready > now ? ready - now : 0);     /* a newer request may replace the waiting one */
    }
}

/* (Re)loads the engine when the configuration changed (s->mu held on entry
 * and exit; released while loading). */
static eng_engine *reload(srv_sched *s, eng_engine *e, unsigned *gen)
{
    if (*gen == s->cfg_gen) return e;
    *gen = s->cfg_gen;
    srv_config cfg = s->cfg;
    snprintf(s->status, sizeof s->status, "loading");
    if (e) s->resets_base += eng_engine_device_resets(e);
    pthread_mutex_unlock(&s->mu);
    eng_engine_free(e);
    kvc_close(s->glue.kvc);
    memset(&s->glue, 0, sizeof s->glue);
    e = load_engine(s, &cfg);
    pthread_mutex_lock(&s->mu);
    return e;
}

/* Runs req (s->mu not held) and queues its result for the loop. */
static void serve(srv_sched *s, eng_engine *e, srv_job_req *req)
{
    int bg = req->background;
    pthread_mutex_lock(&s->mu);
    s->running[bg] = req;
    atomic_store(&s->preempt[bg], s->quit ? PREEMPT_QUIT : PREEMPT_NONE);
    pthread_mutex_unlock(&s->mu);

    srv_job_res res;
    eng_job *warm_job = NULL;
    double queued = (srv_now_ns() - req->submitted_ns) / 1e6;
    if (!e) {
        empty_result(&res, "model unavailable");
        pthread_mutex_lock(&s->mu);
        snprintf(res.detail, sizeof res.detail, "%.200s", s->status);
        pthread_mutex_unlock(&s->mu);
    } else {
        run_job(s, e, req, &res, &warm_job);
    }
    res.queue_ms = queued;

    pthread_mutex_lock(&s->mu);
    s->running[bg] = NULL;
    s->trim_due = 1;
    push_done(s, req, &res);
    signal_loop(s);
    s->warm_gen = s->cfg_gen;
    pthread_mutex_unlock(&s->mu);
    if (warm_job) warm(s, warm_job);
}

static void *worker(void *arg)
{
    srv_sched *s = arg;
    eng_engine *e = NULL;
    unsigned gen = 0;
    pthread_mutex_lock(&s->mu);
    /* wait for the configuration (the client's initialize may change it) */
    while (!s->quit && !s->cfg_gen) pthread_cond_wait(&s->cv, &s->mu);
    for (;;) {
        e = reload(s, e, &gen);
        srv_job_req *req = next_request(s, gen);
        if (s->quit) break;
        if (!req) continue;         /* settings changed: reload first */
        pthread_mutex_unlock(&s->mu);
        serve(s, e, req);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    eng_engine_free(e);
    kvc_close(s->glue.kvc);
    return NULL;
}

// ---------------------------------------------------------------- loop side

srv_sched *srv_sched_new(const srv_config *cfg, srv_sched_done_fn done, srv_sched_load_fn load, void *ud,
                         char *err, size_t errlen)
{
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    s->cfg = *cfg;
    s->done = done;
    s->load = load;
    s->ud = ud;
    snprintf(s->status, sizeof s->status, "loading");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) { snprintf(err, errlen, "eventfd: %s", strerror(errno)); srv_sched_free(s); return NULL; }
    int rc = pthread_create(&s->th, NULL, worker, s);
    if (rc) { snprintf(err, errlen, "cannot start the worker thread: %s", strerror(rc)); srv_sched_free(s); return NULL; }
    s->started = 1;
    return s;
}

int srv_sched_fd(const srv_sched *s) { return s->efd; }

void srv_sched_configure(srv_sched *s, const srv_config *cfg)
{
    pthread_mutex_lock(&s->mu);
    static const size_t LOAD_FIELDS[][2] = {
#define FLD(f) { offsetof(srv_config, f), sizeof(((srv_config *)0)->f) }
        FLD(model), FLD(draft), FLD(device), FLD(cache), FLD(no_cache), FLD(threads), FLD(fim_order),
        FLD(cache_size), FLD(cache_mem),
#undef FLD
    };
    int changed = !s->cfg_gen;
    for (size_t i = 0; i < sizeof LOAD_FIELDS / sizeof *LOAD_FIELDS; i++)
        changed |= memcmp((const char *)cfg + LOAD_FIELDS[i][0], (const char *)&s->cfg + LOAD_FIELDS[i][0],
                          LOAD_FIELDS[i][1]) != 0;
    s->cfg = *cfg;
    if (changed) {
        s->cfg_gen++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_submit(srv_sched *s, srv_job_req *req)
{
    req->submitted_ns = srv_now_ns();
    req->next = NULL;
    pthread_mutex_lock(&s->mu);
    int signalled = 0;
    for (srv_job_req **pp = &s->pending; *pp;) {
        srv_job_req *p = *pp;
        if (!strcmp(p->uri, req->uri) && p->background == req->background) {
            if (!p->background) atomic_fetch_sub(&s->fg_pending, 1);
            *pp = p->next;
            srv_job_res res;
            empty_result(&res, "superseded by a newer request");
            push_done(s, p, &res);
            signalled = 1;
        } else {
            pp = &p->next;
        }
    }
    srv_job_req *run = s->running[req->background];
    if (run && !strcmp(run->uri, req->uri))
        atomic_store(&s->preempt[req->background], PREEMPT_SUPERSEDED);
    if (!req->background) atomic_fetch_add(&s->fg_pending, 1);
    srv_job_req **tail = &s->pending;
    while (*tail) tail = &(*tail)->next;
    *tail = req;
    pthread_cond_signal(&s->cv);
    if (signalled) signal_loop(s);
    pthread_mutex_unlock(&s->mu);
}

int srv_sched_cancel(srv_sched *s, json_t *id)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (srv_job_req **pp = &s->pending; *pp; pp = &(*pp)->next) {
        srv_job_req *p = *pp;
        if (json_equal(p->id, id)) {
            *pp = p->next;
            if (!p->background) atomic_fetch_sub(&s->fg_pending, 1);
            srv_job_res res;
            empty_result(&res, "cancelled");
            res.cancelled = 1;
            push_done(s, p, &res);
            signal_loop(s);
            found = 1;
            break;
        }
    }
    for (int k = 0; k < 2 && !found; k++)
        if (s->running[k] && json_equal(s->running[k]->id, id)) {
            atomic_store(&s->preempt[k], PREEMPT_CANCELLED);
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void srv_sched_drain(srv_sched *s)
{
    uint64_t v;
    while (read(s->efd, &v, sizeof v) > 0) {}
    for (;;) {
        pthread_mutex_lock(&s->mu);
        done_item *d = s->done_head;
        if (d) {
            s->done_head = d->next;
            if (!s->done_head) s->done_tail = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (!d) return;
        if (d->progress) s->progress(s->ud, d->req, d->res.generated_tokens);
        else if (d->req) s->done(s->ud, d->req, &d->res);
        else s->load(s->ud, &d->load);
        free(d);
    }
}

void srv_sched_set_progress(srv_sched *s, srv_sched_progress_fn fn) { s->progress = fn; }

void srv_sched_status(srv_sched *s, char *out, size_t outlen)
{
    pthread_mutex_lock(&s->mu);
    snprintf(out, outlen, "%s", s->status);
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_spec_stats(srv_sched *s, eng_spec_stats *out, uint64_t *device_resets)
{
    pthread_mutex_lock(&s->mu);
    *out = s->spec;
    *device_resets = s->device_resets;
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_free(srv_sched *s)
{
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        atomic_store(&s->preempt[0], PREEMPT_QUIT);
        atomic_store(&s->preempt[1], PREEMPT_QUIT);
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
    }
    while (s->pending) { srv_job_req *p = s->pending; s->pending = p->next; srv_job_req_free(p); }
    while (s->done_head) {
        done_item *d = s->done_head;
        s->done_head = d->next;
        if (!d->progress) srv_job_req_free(d->req);
        free(d->res.text);
        free(d);
    }
    if (s->efd >= 0) close(s->efd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
