/* bench_cache.c — `sparkd bench cache`: what the prefix-KV cache saves on
 * time to first token, and what its writes cost everybody else.
 *
 * For a file of N tokens (random-weight models of the bundled main model's
 * shape and of Qwen2.5-0.5B's, Q8_0 weights, cpu device, 2 threads; N not
 * a multiple of the 64-token block, so as in a real file the partial last
 * block is recomputed on every warm start):
 *   cold          prefill of all N tokens, no cache
 *   warm memory   kvc_restore from the memory tier + prefill of the rest
 *   warm sqlite   the same right after closing and reopening the store (a
 *                 restart; the OS page cache stays warm)
 *   edit          one token changed 100 tokens before the end (a keystroke at
 *                 the cursor): restore up to the changed block + prefill of
 *                 the rest, at most one block + the 100 tokens after it
 * and, on the main shape, a latency probe thread standing in for the event
 * loop (a 1 ms timer plus a memory-tier lookup per tick) measured idle and
 * while the writer thread stores several files' worth of blocks.
 * "Time to first token" is the prefill that yields the first token's logits.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "dev.h"
#include "kvc.h"
#include "model.h"

int bench_cache(int argc, char **argv);

static const bench_shape SHAPES[] = {
    { "main-12m", "qwen2", 384, 6, 6, 2, 1024, 8192, 1 },
    { "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 1 },
};

static const char USAGE[] =
    "usage: sparkd bench cache [--out DIR] [--shape main-12m|qwen2.5-0.5b|all]\n"
    "                          [--tokens N] [--tokens-0.5b N] [--reps N]\n"
    "\n"
    "Time to first token cold, warm from the memory tier, warm from SQLite after\n"
    "a restart, and after a one-token edit 100 tokens before the end, for an\n"
    "N-token file (default 2000; 1000 for the 0.5B shape, whose cold prefill is\n"
    "long on a small CPU); then event-loop latency while the cache writer is busy.\n"
    "Writes DIR/cache.json (default bench/results/).\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static double median(double *v, int n) { return pct(v, n, 0.5); }

typedef struct {
    eng_model *m;
    eng_ctx *c;
    char id[33];
    int n_vocab;
    float *logits;
} bench_model;

/* restore (optional) + prefill of the rest; returns ms and the positions restored. */
static double ttft(bench_model *bm, kvc_store *s, const int32_t *t, int n, int *restored,
                   double *restore_ms)
{
    double t0 = bench_now_ms();
    int k = s ? kvc_restore(s, bm->c, bm->id, t, n) : 0;
    double t1 = bench_now_ms();
    if (!s) eng_ctx_truncate(bm->c, 0);
    if (eng_forward(bm->c, t + k, n - k, bm->logits, 0)) {
        fprintf(stderr, "bench cache: forward failed: %s\n", eng_ctx_error(bm->c));
        return -1;
    }
    double t2 = bench_now_ms();
    if (restored) *restored = k;
    if (restore_ms) *restore_ms = t1 - t0;
    return t2 - t0;
}

/* Order-0 entropy of the low and high bytes of F16 values, as a fraction of
 * their size: no byte-wise coder can do better than this on these blobs. */
static double entropy_ratio(const uint16_t *h, size_t n)
{
    double cnt[2][256] = { { 0 } }, bits = 0;
    for (size_t i = 0; i < n; i++) {
        cnt[0][h[i] & 0xff]++;
        cnt[1][h[i] >> 8]++;
    }
    for (int b = 0; b < 2; b++)
        for (int v = 0; v < 256; v++)
            if (cnt[b][v] > 0) bits -= cnt[b][v] * log2(cnt[b][v] / (double)n);
    return bits / (16.0 * (double)n);
}

static kvc_store *store_open(const char *path)
{
    kvc_options o = { .path = path, .dtype = KVC_F16 };
    char err[256];
    kvc_store *s = kvc_open(&o, err, sizeof err);
    if (!s) fprintf(stderr, "bench cache: %s\n", err);
    return s;
}

/* ---- the latency probe --------------------------------------------------- */

typedef struct {
    kvc_store *s;
    const kvc_key *keys;
    int nkeys;
    volatile int stop;
    double *late_us, *lookup_us;
    int n, cap;
} probe;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *probe_main(void *arg)
{
    probe *p = arg;
    kvc_block *out[64];
    while (!p->stop && p->n < p->cap) {
        double t0 = now_us();
        int k = kvc_lookup(p->s, p->keys, p->nkeys, out);
        double t1 = now_us();
        for (int i = 0; i < k; i++) kvc_block_unref(out[i]);
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
        double t2 = now_us();
        p->lookup_us[p->n] = t1 - t0;
        p->late_us[p->n++] = t2 - t1 - 1000.0;
    }
    return NULL;
}

/* Runs the probe for 400 ms idle (files == 0), or while `files` new files'
 * worth of blocks (copies of blob under new keys) go through the writer. */
static int run_probe(probe *p, kvc_store *s, const char *id, const void *blob, size_t nbytes,
                     const int32_t *t, int n, int files, double *written_mb, double *write_ms)
{
    p->stop = 0;
    p->n = 0;
    pthread_t th;
    if (pthread_create(&th, NULL, probe_main, p)) return -1;
    double t0 = bench_now_ms(), mb = 0;
    if (!files) {
        struct timespec d = { 0, 400 * 1000000L };
        nanosleep(&d, NULL);
    } else {
        int32_t *u = malloc((size_t)n * sizeof *u);
        kvc_key keys[64];
        for (int f = 0; f < files && u; f++) {
            memcpy(u, t, (size_t)n * sizeof *u);
            u[0] = (int32_t)(300 + f);               /* another file: a new chain */
            int nb = kvc_chain(s, id, u, n, keys, 64);
            for (int i = 0; i < nb; i++) {
                kvc_block *b = kvc_block_new(KVC_F16, nbytes);
                if (!b) break;
                memcpy(kvc_block_data(b), blob, nbytes);
                kvc_put(s, id, &keys[i], b);
                mb += (double)nbytes / 1e6;
            }
            kvc_flush(s, -1);        /* one file per batch: the queue never overflows */
        }
        free(u);
    }
    *write_ms = bench_now_ms() - t0;
    *written_mb = mb;
    p->stop = 1;
    pthread_join(th, NULL);
    return 0;
}

typedef struct { double *late, *look; int n; double p[2][3]; } samples;

/* Appends the probe's last run; then p[k] = p50, p99, max of late (k=0) and lookups (k=1). */
static void pool(samples *a, const probe *p)
{
    memcpy(a->late + a->n, p->late_us, (size_t)p->n * sizeof *a->late);
    memcpy(a->look + a->n, p->lookup_us, (size_t)p->n * sizeof *a->look);
    a->n += p->n;
}

static void summarize(samples *a)
{
    static const double q[3] = { 0.5, 0.99, 1.0 };
    for (int i = 0; i < 3; i++) {
        a->p[0][i] = pct(a->late, a->n, q[i]);
        a->p[1][i] = pct(a->look, a->n, q[i]);
    }
}

enum { ROUNDS = 3, FILES_PER_ROUND = 16 };

/* Idle and writing rounds alternate (the machine's own noise hits both
 * alike); samples are pooled per kind. */
static json_t *interference(kvc_store *s, bench_model *bm, const int32_t *t, int n)
{
    size_t nf = eng_ctx_kv_floats(bm->c, KVC_BLOCK_TOKENS), nbytes = nf * 2;
    float *rows = malloc(nf * sizeof *rows);
    void *blob = malloc(nbytes);
    kvc_key keys[64];
    probe p = { .s = s, .keys = keys, .cap = 20000 };
    samples idle = { 0 }, busy = { 0 };
    size_t cap = (size_t)p.cap * ROUNDS;
    p.late_us = malloc((size_t)p.cap * sizeof *p.late_us);
    p.lookup_us = malloc((size_t)p.cap * sizeof *p.lookup_us);
    idle.late = malloc(cap * sizeof(double)); idle.look = malloc(cap * sizeof(double));
    busy.late = malloc(cap * sizeof(double)); busy.look = malloc(cap * sizeof(double));
    json_t *j = NULL;
    if (!rows || !blob || !p.late_us || !p.lookup_us || !idle.late || !idle.look || !busy.late ||
        !busy.look)
        goto out;
    eng_ctx_truncate(bm->c, 0);
    if (eng_forward(bm->c, t, KVC_BLOCK_TOKENS, NULL, 0) ||
        eng_ctx_kv_read(bm->c, 0, KVC_BLOCK_TOKENS, rows))
        goto out;
    dev_quantize(DEV_F16, rows, blob, (int64_t)nf);
    p.nkeys = kvc_chain(s, bm->id, t, n - 1, keys, 64);   /* the file's cached blocks */
    double mb = 0, ms = 0, total_mb = 0, total_ms = 0;
    kvc_stats st0, st1;
    kvc_get_stats(s, &st0);
    for (int r = 0; r < ROUNDS; r++) {
        if (run_probe(&p, s, bm->id, blob, nbytes, t, n, 0, &mb, &ms)) goto out;
        pool(&idle, &p);
        /* each round's files get new first tokens: all blocks are new */
        int32_t *u = malloc((size_t)n * sizeof *u);
        if (!u) goto out;
        memcpy(u, t, (size_t)n * sizeof *u);
        u[1] = (int32_t)(1000 + r);
        int rc = run_probe(&p, s, bm->id, blob, nbytes, u, n, FILES_PER_ROUND, &mb, &ms);
        free(u);
        if (rc) goto out;
        pool(&busy, &p);
        total_mb += mb;
        total_ms += ms;
    }
    kvc_get_stats(s, &st1);
    summarize(&idle);
    summarize(&busy);
    printf("\nevent-loop probe (1 ms timer + lookup of %d cached blocks per tick): %d ticks idle,"
           " %d while writing (%d rounds each, interleaved)\n", p.nkeys, idle.n, busy.n, ROUNDS);
    printf("  timer lateness  idle p50 %6.0f us  p99 %6.0f us  max %6.0f us\n", idle.p[0][0], idle.p[0][1], idle.p[0][2]);
    printf("                  busy p50 %6.0f us  p99 %6.0f us  max %6.0f us\n", busy.p[0][0], busy.p[0][1], busy.p[0][2]);
    printf("  lookup          idle p50 %6.1f us  p99 %6.1f us  max %6.1f us\n", idle.p[1][0], idle.p[1][1], idle.p[1][2]);
    printf("                  busy p50 %6.1f us  p99 %6.1f us  max %6.1f us\n", busy.p[1][0], busy.p[1][1], busy.p[1][2]);
    printf("  writer: %.1f MB in %.0f ms (%.1f MB/s), %llu blocks written, %llu dropped\n", total_mb,
           total_ms, total_mb / (total_ms / 1e3), (unsigned long long)(st1.written - st0.written),
           (unsigned long long)(st1.dropped - st0.dropped));
    fflush(stdout);
    j = json_object();
    json_object_set_new(j, "lookup_blocks", json_integer(p.nkeys));
    json_object_set_new(j, "rounds", json_integer(ROUNDS));
    json_object_set_new(j, "ticks_idle", json_integer(idle.n));
    json_object_set_new(j, "ticks_writing", json_integer(busy.n));
    static const char *const Q[3] = { "p50", "p99", "max" };
    for (int i = 0; i < 3; i++) {
        char k[64];
        snprintf(k, sizeof k, "idle_timer_late_%s_us", Q[i]);
        json_object_set_new(j, k, json_real(idle.p[0][i]));
        snprintf(k, sizeof k, "writing_timer_late_%s_us", Q[i]);
        json_object_set_new(j, k, json_real(busy.p[0][i]));
        snprintf(k, sizeof k, "idle_lookup_%s_us", Q[i]);
        json_object_set_new(j, k, json_real(idle.p[1][i]));
        snprintf(k, sizeof k, "writing_lookup_%s_us", Q[i]);
        json_object_set_new(j, k, json_real(busy.p[1][i]));
    }
    json_object_set_new(j, "written_mb", json_real(total_mb));
    json_object_set_new(j, "write_ms", json_real(total_ms));
    json_object_set_new(j, "write_mb_s", json_real(total_mb / (total_ms / 1e3)));
    json_object_set_new(j, "blocks_written", json_integer((json_int_t)(st1.written - st0.written)));
    json_object_set_new(j, "blocks_dropped", json_integer((json_int_t)(st1.dropped - st0.dropped)));
    json_object_set_new(j, "timer_late_p50_writing_vs_idle", json_real(busy.p[0][0] / fmax(idle.p[0][0], 1.0)));
    json_object_set_new(j, "timer_late_p99_writing_vs_idle", json_real(busy.p[0][1] / fmax(idle.p[0][1], 1.0)));
    json_object_set_new(j, "lookup_p99_writing_vs_idle", json_real(busy.p[1][1] / fmax(idle.p[1][1], 1e-3)));
out:
    free(rows);
    free(blob);
    free(p.late_us);
    free(p.lookup_us);
    free(idle.late); free(idle.look); free(busy.late); free(busy.look);
    return j;
}

/* ---- one shape --------------------------------------------------------------- */

static int load(bench_model *bm, const char *path, dev_device *d, int n)
{
    char err[512];
    memset(bm, 0, sizeof *bm);
    bm->m = eng_model_load(path, d, err, sizeof err);
    if (bm->m) bm->c = eng_ctx_new(bm->m, n + KVC_BLOCK_TOKENS, 0, err, sizeof err);
    if (!bm->c) {
        fprintf(stderr, "bench cache: %s\n", err);
        return -1;
    }
    gguf_model_id(eng_model_gguf(bm->m), bm->id);
    bm->n_vocab = eng_model_hparams(bm->m)->n_vocab;
    bm->logits = malloc((size_t)bm->n_vocab * sizeof *bm->logits);
    return bm->logits ? 0 : -1;
}

static void unload(bench_model *bm)
{
    free(bm->logits);
    eng_ctx_free(bm->c);
    eng_model_free(bm->m);
}

/* Median over reps of ttft after `prep` (0: nothing, 1: close+reopen store). */
static double warm(bench_model *bm, kvc_store **s, const char *db, const int32_t *t, int n, int reps,
                   int reopen, double *restore_ms, int *restored, double *open_ms)
{
    double tt[16], rs[16], op[16];
    for (int r = 0; r < reps; r++) {
        op[r] = 0;
        if (reopen) {
            kvc_close(*s);
            double t0 = bench_now_ms();
            if (!(*s = store_open(db))) return -1;
            op[r] = bench_now_ms() - t0;
            kvc_flush(*s, -1);       /* the startup integrity check is done; not timed */
        }
        tt[r] = ttft(bm, *s, t, n, restored, &rs[r]);
        if (tt[r] < 0) return -1;
    }
    *restore_ms = median(rs, reps);
    if (open_ms) *open_ms = median(op, reps);
    return median(tt, reps);
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static void rm_db(const char *db)
{
    char p[600];
    unlink(db);
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
}

static json_t *run_shape(const bench_shape *sh, int n, int reps, const char *tmp, dev_device *d,
                         json_t **interf)
{
    char path[512], db[512], err[512];
    snprintf(path, sizeof path, "%s/%s.gguf", tmp, sh->name);
    snprintf(db, sizeof db, "%s/%s.sqlite3", tmp, sh->name);
    if (bench_write_model(path, sh, GGUF_Q8_0, 7, err, sizeof err)) {
        fprintf(stderr, "bench cache: %s\n", err);
        return NULL;
    }
    bench_model bm;
    json_t *j = NULL;
    kvc_store *s = NULL;
    int32_t *t = malloc((size_t)n * sizeof *t), *e = malloc((size_t)n * sizeof *t);
    if (!t || !e || load(&bm, path, d, n)) goto out;
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) { x = x * 1664525u + 1013904223u; t[i] = (int32_t)(x >> 24); }
    eng_forward(bm.c, t, 4, NULL, 0);                        /* page the weights in */

    double cold[16];
    int creps = sh == &SHAPES[0] ? reps : 1;
    for (int r = 0; r < creps; r++)
        if ((cold[r] = ttft(&bm, NULL, t, n, NULL, NULL)) < 0) goto out;
    double cold_ms = median(cold, creps);
    int cold_tok = argmax(bm.logits, bm.n_vocab);

    rm_db(db);
    if (!(s = store_open(db))) goto out;
    double t0 = bench_now_ms();
    int saved = kvc_save(s, bm.c, bm.id, t, n);
    double save_ms = bench_now_ms() - t0;
    kvc_flush(s, -1);
    double write_ms = bench_now_ms() - t0 - save_ms;
    size_t nf = eng_ctx_kv_floats(bm.c, KVC_BLOCK_TOKENS), bbytes = nf * 2;
    uint16_t *h = malloc(bbytes);
    float *rows = malloc(nf * sizeof *rows);
    double ent = 0;
    if (h && rows && !eng_ctx_kv_read(bm.c, KVC_BLOCK_TOKENS, 2 * KVC_BLOCK_TOKENS, rows)) {
        dev_quantize(DEV_F16, rows, h, (int64_t)nf);
        ent = entropy_ratio(h, nf);
    }
    free(h);
    free(rows);

    double rmem = 0, rsql = 0, redit = 0, open_ms = 0;
    int kmem = 0, ksql = 0, kedit = 0;
    double wmem = warm(&bm, &s, db, t, n, reps, 0, &rmem, &kmem, NULL);
    int mem_tok = argmax(bm.logits, bm.n_vocab);
    double wsql = warm(&bm, &s, db, t, n, reps, 1, &rsql, &ksql, &open_ms);
    int edit_at = n - 100;
    memcpy(e, t, (size_t)n * sizeof *e);
    e[edit_at] = (e[edit_at] + 1) % 256;
    double wedit = warm(&bm, &s, db, e, n, reps, 0, &redit, &kedit, NULL);
    if (wmem < 0 || wsql < 0 || wedit < 0 || !s) goto out;
    kvc_stats st;
    kvc_get_stats(s, &st);

    printf("%-13s %5d tok  cold %8.1f ms | memory %7.1f ms (%5.1fx, restore %5.1f ms) | "
           "sqlite %7.1f ms (%5.1fx, restore %5.1f ms) | edit %7.1f ms (%5.1fx, %d recomputed)\n",
           sh->name, n, cold_ms, wmem, cold_ms / wmem, rmem, wsql, cold_ms / wsql, rsql, wedit,
           cold_ms / wedit, n - kedit);
    printf("%-13s block %.0f KiB F16 (%d tokens), save %.1f ms on the caller + %.1f ms on the writer, "
           "file %.1f MB, integrity check %.0f ms, open %.1f ms\n", "", bbytes / 1024.0,
           KVC_BLOCK_TOKENS, save_ms, write_ms, st.db_file_bytes / 1e6, st.check_ms, open_ms);
    fflush(stdout);
    j = json_object();
    json_object_set_new(j, "shape", json_string(sh->name));
    json_object_set_new(j, "tokens", json_integer(n));
    json_object_set_new(j, "block_bytes", json_integer((json_int_t)bbytes));
    json_object_set_new(j, "kv_bytes_per_token", json_integer((json_int_t)(bbytes / KVC_BLOCK_TOKENS)));
    json_object_set_new(j, "blocks_saved", json_integer(saved));
    json_object_set_new(j, "cold_ttft_ms", json_real(cold_ms));
    json_object_set_new(j, "warm_memory_ttft_ms", json_real(wmem));
    json_object_set_new(j, "warm_memory_restore_ms", json_real(rmem));
    json_object_set_new(j, "warm_memory_restored_tokens", json_integer(kmem));
    json_object_set_new(j, "warm_sqlite_ttft_ms", json_real(wsql));
    json_object_set_new(j, "warm_sqlite_restore_ms", json_real(rsql));
    json_object_set_new(j, "warm_sqlite_restored_tokens", json_integer(ksql));
    json_object_set_new(j, "store_open_ms", json_real(open_ms));
    json_object_set_new(j, "integrity_check_ms", json_real(st.check_ms));
    json_object_set_new(j, "edit_position", json_integer(edit_at));
    json_object_set_new(j, "edit_ttft_ms", json_real(wedit));
    json_object_set_new(j, "edit_restore_ms", json_real(redit));
    json_object_set_new(j, "edit_recomputed_tokens", json_integer(n - kedit));
    json_object_set_new(j, "edit_bound_tokens", json_integer(KVC_BLOCK_TOKENS + (n - edit_at)));
    json_object_set_new(j, "save_caller_ms", json_real(save_ms));
    json_object_set_new(j, "save_writer_ms", json_real(write_ms));
    json_object_set_new(j, "db_file_bytes", json_integer((json_int_t)st.db_file_bytes));
    json_object_set_new(j, "first_token_same_as_cold", json_boolean(mem_tok == cold_tok));
    json_object_set_new(j, "f16_order0_entropy_ratio", json_real(ent));
    json_object_set_new(j, "warm_memory_vs_cold", json_real(cold_ms / wmem));
    json_object_set_new(j, "warm_sqlite_vs_cold", json_real(cold_ms / wsql));
    json_object_set_new(j, "edit_vs_cold", json_real(cold_ms / wedit));
    if (interf) *interf = interference(s, &bm, t, n);
out:
    kvc_close(s);
    if (t && e) unload(&bm);
    free(t);
    free(e);
    rm_db(db);
    unlink(path);
    return j;
}

int bench_cache(int argc, char **argv)
{
    const char *out = "bench/results", *shape = "all";
    int n_main = 2000, n_big = 1000, reps = 3;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (i + 1 >= argc) { fprintf(stderr, "sparkd bench cache: '%s' needs a value\n%s", argv[i], USAGE); return 2; }
        if (!strcmp(argv[i], "--out")) out = argv[++i];
        else if (!strcmp(argv[i], "--shape")) shape = argv[++i];
        else if (!strcmp(argv[i], "--tokens")) n_main = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens-0.5b")) n_big = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else { fprintf(stderr, "sparkd bench cache: unknown option '%s'\n%s", argv[i], USAGE); return 2; }
    }
    if (n_main < 256 || n_big < 256 || n_main > 4000 || n_big > 4000 || reps < 1 || reps > 16) {
        fprintf(stderr, "sparkd bench cache: --tokens in [256, 4000], --reps in [1, 16]\n");
        return 2;
    }
    if (strcmp(shape, "all") && strcmp(shape, SHAPES[0].name) && strcmp(shape, SHAPES[1].name)) {
        fprintf(stderr, "sparkd bench cache: unknown shape '%s'\n%s", shape, USAGE);
        return 2;
    }
    char tmp[] = "/tmp/sparkd-bench-cache-XXXXXX", err[256];
    if (!mkdtemp(tmp)) { perror("sparkd bench cache: mkdtemp"); return 1; }
    dev_device *d = dev_open("cpu:threads=2", err, sizeof err);
    if (!d) { fprintf(stderr, "sparkd bench cache: %s\n", err); rmdir(tmp); return 1; }
    json_t *root = json_object(), *runs = json_array(), *interf = NULL;
    json_object_set_new(root, "bench", json_string("cache"));
    json_object_set_new(root, "device", json_string("cpu:threads=2"));
    json_object_set_new(root, "weights", json_string("Q8_0"));
    json_object_set_new(root, "storage", json_string("F16"));
    json_object_set_new(root, "block_tokens", json_integer(KVC_BLOCK_TOKENS));
    json_object_set_new(root, "reps", json_integer(reps));
    double load[1] = { -1 };
    if (getloadavg(load, 1) == 1)      /* this host is shared: say how busy it was */
        json_object_set_new(root, "host_load_1m_at_start", json_real(load[0]));
    int rc = 0;
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        if (strcmp(shape, "all") && strcmp(shape, SHAPES[i].name)) continue;
        json_t *r = run_shape(&SHAPES[i], i == 0 ? n_main : n_big, i == 0 ? reps : (reps < 2 ? reps : 2),
                              tmp, d, i == 0 ? &interf : NULL);
        if (r) json_array_append_new(runs, r);
        else rc = 1;
    }
    json_object_set_new(root, "runs", runs);
    if (interf) json_object_set_new(root, "writer_interference", interf);
    dev_close(d);
    rmdir(tmp);
    if (bench_save(out, "cache", root)) rc = 1;
    json_decref(root);
    return rc;
}
