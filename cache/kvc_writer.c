/* kvc_writer.c — the write-behind thread: it owns the writer connection and
 * turns queued operations (block inserts, document records, deletions of bad
 * blocks, clear, vacuum, rebuild) and batched last-used updates into one
 * write transaction per batch, then evicts least-recently-used blocks down
 * to the size cap. Callers never wait for it, except kvc_flush, kvc_clear
 * and kvc_vacuum, which ask to.
 *
 * A batch that cannot take the write lock within busy_ms (another process
 * holds it) is dropped; disk full or I/O errors stop all writes for the
 * store's lifetime; corruption moves the file aside and starts a new one.
 */
#include "kvc_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 256          /* ops per transaction */
#define TOUCH_MAX 65536        /* pending last-used updates kept */
#define WRITER_NICE 10         /* the writer yields the CPU to everything else */

/* The writer's statements, indexed like WSQL. */
enum { S_INS, S_TOUCH, S_DEL, S_DOC, S_USAGE_ADD, S_USAGE_GET, S_LRU, S_DEL_ID, S_COUNT };
typedef struct { sqlite3_stmt *st[S_COUNT]; } wstmts;

static const char *const WSQL[] = {
    "INSERT OR IGNORE INTO blocks(hash, parent, model, depth, tokens, dtype, checksum,"
    " last_used, nbytes, kv) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "UPDATE blocks SET last_used=?1 WHERE hash=?2",
    "DELETE FROM blocks WHERE hash=?1 RETURNING nbytes",
    "INSERT OR REPLACE INTO docs(model, uri, content, tip, n_blocks, updated)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "UPDATE meta SET value=value+?1 WHERE key='usage'",
    "SELECT value FROM meta WHERE key='usage'",
    /* Oldest first; among equal times the deepest block first, so a chain
     * used at once loses its end before its root. */
    "SELECT id, nbytes FROM blocks ORDER BY last_used, depth DESC LIMIT 64",
    "DELETE FROM blocks WHERE id=?1",
};

static void finalize_all(wstmts *w)
{
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(w->st[i]);
        w->st[i] = NULL;
    }
}

static int prepare_all(sqlite3 *db, wstmts *w)
{
    _Static_assert(sizeof WSQL / sizeof *WSQL == S_COUNT, "one statement per WSQL entry");
    for (int i = 0; i < S_COUNT; i++) {
        int rc = sqlite3_prepare_v3(db, WSQL[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i], NULL);
        if (rc != SQLITE_OK) {
            finalize_all(w);
            return rc;
        }
    }
    return SQLITE_OK;
}

/* Steps a statement to completion; SQLITE_OK or the error. */
static int run(sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int add_usage(wstmts *w, int64_t d)
{
    if (!d) return SQLITE_OK;
    sqlite3_bind_int64(w->st[S_USAGE_ADD], 1, d);
    return run(w->st[S_USAGE_ADD]);
}

static int do_put(kvc_store *s, wstmts *w, kvc_op *op, int64_t now, int *written)
{
    kvc_block *b = op->blk;
    sqlite3_stmt *st = w->st[S_INS];
    sqlite3_bind_blob(st, 1, &b->self, sizeof b->self, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, &b->parent, sizeof b->parent, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op->model, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, b->index);
    sqlite3_bind_blob(st, 5, b->tokens, sizeof b->tokens, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, (int)b->dtype);
    sqlite3_bind_int64(st, 7, (int64_t)kvc_checksum(b->data, b->nbytes));
    sqlite3_bind_int64(st, 8, now);
    sqlite3_bind_int64(st, 9, (int64_t)b->nbytes);
    sqlite3_bind_blob64(st, 10, b->data, b->nbytes, SQLITE_STATIC);
    int rc = run(st);
    if (rc != SQLITE_OK) return rc;
    if (sqlite3_changes(s->wdb) == 0) {      /* already there: just mark it used */
        sqlite3_bind_int64(w->st[S_TOUCH], 1, now);
        sqlite3_bind_blob(w->st[S_TOUCH], 2, &b->self, sizeof b->self, SQLITE_STATIC);
        return run(w->st[S_TOUCH]);
    }
    (*written)++;
    return add_usage(w, (int64_t)b->nbytes);
}

static int do_delete(wstmts *w, kvc_hash h)
{
    int64_t freed = 0;
    int rc;
    sqlite3_bind_blob(w->st[S_DEL], 1, &h, sizeof h, SQLITE_STATIC);
    while ((rc = sqlite3_step(w->st[S_DEL])) == SQLITE_ROW)
        freed += sqlite3_column_int64(w->st[S_DEL], 0);
    sqlite3_reset(w->st[S_DEL]);
    return rc == SQLITE_DONE ? add_usage(w, -freed) : rc;
}

static int do_doc(wstmts *w, kvc_op *op, int64_t now)
{
    sqlite3_stmt *st = w->st[S_DOC];
    sqlite3_bind_text(st, 1, op->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, op->uri, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, &op->content, sizeof op->content, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, &op->hash, sizeof op->hash, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, op->n_blocks);
    sqlite3_bind_int64(st, 6, now);
    return run(st);
}

/* Deletes least-recently-used blocks until the value bytes are at most
 * 15/16 of the cap (the slack keeps eviction from running every batch). */
static int evict(kvc_store *s, wstmts *w)
{
    int64_t usage = 0, cap = (int64_t)s->opt.cap_bytes, target = cap - cap / 16;
    int rc = sqlite3_step(w->st[S_USAGE_GET]);
    if (rc == SQLITE_ROW) usage = sqlite3_column_int64(w->st[S_USAGE_GET], 0);
    sqlite3_reset(w->st[S_USAGE_GET]);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
    if (usage <= cap) return SQLITE_OK;
    int64_t freed = 0;
    while (usage - freed > target) {
        int64_t ids[64], sizes[64];
        int n = 0;
        while ((rc = sqlite3_step(w->st[S_LRU])) == SQLITE_ROW && n < 64) {
            ids[n] = sqlite3_column_int64(w->st[S_LRU], 0);
            sizes[n++] = sqlite3_column_int64(w->st[S_LRU], 1);
        }
        sqlite3_reset(w->st[S_LRU]);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return rc;
        if (n == 0) break;
        for (int i = 0; i < n && usage - freed > target; i++) {
            sqlite3_bind_int64(w->st[S_DEL_ID], 1, ids[i]);
            if ((rc = run(w->st[S_DEL_ID])) != SQLITE_OK) return rc;
            freed += sizes[i];
            atomic_fetch_add(&s->evicted, 1);
        }
    }
    return add_usage(w, -freed);
}

/* Stops writing for good, or rebuilds, or just warns, by the error's kind. */
static void on_error(kvc_store *s, wstmts *w, int rc, int lost)
{
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) {
        kvc_warn(s, W_BUSY, "%s is locked by another process; skipping cache writes meanwhile",
                 s->path);
    } else if (prim == SQLITE_FULL) {
        kvc_warn(s, W_FULL, "disk full writing %s; cache writes stopped", s->path);
        atomic_store(&s->writes_stopped, 1);
    } else if (prim == SQLITE_IOERR || prim == SQLITE_READONLY || prim == SQLITE_CANTOPEN) {
        kvc_warn(s, W_IOERR, "writing %s: %s; cache writes stopped", s->path, sqlite3_errstr(rc));
        atomic_store(&s->writes_stopped, 1);
    } else if (kvc_db_is_corrupt(rc)) {
        finalize_all(w);
        kvc_db_rebuild(s, "database disk image is malformed");
        if (s->wdb && prepare_all(s->wdb, w) != SQLITE_OK) atomic_store(&s->writes_stopped, 1);
    } else {
        kvc_warn(s, W_DB, "writing %s: %s", s->path, sqlite3_errstr(rc));
    }
    atomic_fetch_add(&s->dropped, (uint64_t)lost);
}

static int count_puts(const kvc_op *ops)
{
    int n = 0;
    for (; ops; ops = ops->next) n += ops->kind == OP_PUT;
    return n;
}

/* One write transaction for the batch; VACUUM (for clear and vacuum) after. */
static void run_batch(kvc_store *s, wstmts *w, kvc_op *ops, const kvc_hash *touch, size_t nt)
{
    int puts = count_puts(ops), written = 0, vacuum = 0;
    for (kvc_op *op = ops; op; op = op->next) {
        if (op->kind == OP_REBUILD && s->wdb) {
            finalize_all(w);
            kvc_db_rebuild(s, "database disk image is malformed");
            if (s->wdb && prepare_all(s->wdb, w) != SQLITE_OK) atomic_store(&s->writes_stopped, 1);
        }
    }
    if (!s->wdb || atomic_load(&s->writes_stopped) || !w->st[S_INS]) {
        atomic_fetch_add(&s->dropped, (uint64_t)puts);
        for (kvc_op *op = ops; op; op = op->next)
            if (op->kind == OP_CLEAR || op->kind == OP_VACUUM) op->rc = KVC_ENODB;
        return;
    }
    int64_t now = kvc_now_ms();
    int rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (kvc_op *op = ops; op && rc == SQLITE_OK; op = op->next) {
        switch (op->kind) {
        case OP_PUT: rc = do_put(s, w, op, now, &written); break;
        case OP_DOC: rc = do_doc(w, op, now); break;
        case OP_DELETE: rc = do_delete(w, op->hash); break;
        case OP_CLEAR:
            rc = sqlite3_exec(s->wdb, "DELETE FROM blocks; DELETE FROM docs;"
                                      " UPDATE meta SET value=0 WHERE key='usage'", NULL, NULL, NULL);
            vacuum = 1;
            break;
        case OP_VACUUM: vacuum = 1; break;
        default: break;
        }
    }
    for (size_t i = 0; i < nt && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(w->st[S_TOUCH], 1, now);
        sqlite3_bind_blob(w->st[S_TOUCH], 2, &touch[i], sizeof touch[i], SQLITE_STATIC);
        rc = run(w->st[S_TOUCH]);
    }
    if (rc == SQLITE_OK) rc = evict(s, w);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(s->wdb))
            sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
        for (kvc_op *op = ops; op; op = op->next)
            if (op->kind == OP_CLEAR || op->kind == OP_VACUUM) op->rc = KVC_EDB;
        on_error(s, w, rc, puts);
        return;
    }
    atomic_fetch_add(&s->written, (uint64_t)written);
    if (vacuum) {
        rc = sqlite3_exec(s->wdb, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"
                                  " PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            kvc_warn(s, W_DB, "vacuum of %s: %s", s->path, sqlite3_errstr(rc));
            for (kvc_op *op = ops; op; op = op->next)
                if (op->kind == OP_VACUUM) op->rc = KVC_EDB;
        }
    }
}

static int waitable(const kvc_op *op)
{
    return op->kind == OP_BARRIER || op->kind == OP_CLEAR || op->kind == OP_VACUUM;
}

static void free_op(kvc_op *op)
{
    kvc_block_unref(op->blk);
    free(op->uri);
    free(op);
}

/* Wakes the waiters of the batch's waitable ops (whose memory is theirs from
 * then on) and frees the rest. */
static void complete(kvc_store *s, kvc_op *ops)
{
    pthread_mutex_lock(&s->q_mu);
    for (kvc_op *op = ops, *next; op; op = next) {
        next = op->next;
        if (waitable(op) && !op->abandoned) op->done = 1;
        else free_op(op);
    }
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->q_mu);
}

/* Checks the file, heals the usage counter and applies the cap. */
static void startup(kvc_store *s, wstmts *w)
{
    if (!s->opt.no_check && !kvc_db_check(s)) {
        kvc_db_rebuild(s, "integrity check failed");
    }
    if (!s->wdb || prepare_all(s->wdb, w) != SQLITE_OK) {
        atomic_store(&s->writes_stopped, 1);
        return;
    }
    int rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE;"
                                  " UPDATE meta SET value=(SELECT total(nbytes) FROM blocks)"
                                  " WHERE key='usage'", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = evict(s, w);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(s->wdb))
        sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) on_error(s, w, rc, 0);
}

static void *writer_main(void *arg)
{
    kvc_store *s = arg;
    wstmts w = { 0 };
    /* Below the event loop and the engine: on Linux nice is per thread. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE);
    startup(s, &w);
    for (;;) {
        pthread_mutex_lock(&s->q_mu);
        while (!s->q_head && !s->n_touch && !s->stop)
            pthread_cond_wait(&s->q_cv, &s->q_mu);
        if (!s->q_head && !s->n_touch) {
            pthread_mutex_unlock(&s->q_mu);
            break;
        }
        kvc_op *ops = s->q_head, *last = NULL;
        int n = 0;
        for (kvc_op *op = ops; op && n < BATCH_MAX; op = op->next, n++) {
            if (op->kind == OP_PUT) s->q_bytes -= op->blk->nbytes;
            last = op;
        }
        if (last) {
            s->q_head = last->next;
            if (!s->q_head) s->q_tail = NULL;
            last->next = NULL;
        }
        kvc_hash *touch = s->touch;
        size_t nt = s->n_touch;
        s->touch = NULL;
        s->n_touch = s->cap_touch = 0;
        pthread_mutex_unlock(&s->q_mu);

        run_batch(s, &w, ops, touch, nt);
        free(touch);
        complete(s, ops);
    }
    finalize_all(&w);
    return NULL;
}

/* ---- the callers' side ----------------------------------------------------- */

int kvc_writer_start(kvc_store *s)
{
    if (pthread_create(&s->writer, NULL, writer_main, s)) return KVC_ENOMEM;
    s->have_writer = 1;
    return KVC_OK;
}

void kvc_writer_stop(kvc_store *s)
{
    if (!s->have_writer) return;
    pthread_mutex_lock(&s->q_mu);
    s->stop = 1;
    pthread_cond_signal(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    pthread_join(s->writer, NULL);
    s->have_writer = 0;
}

int kvc_writer_push(kvc_store *s, kvc_op *op)
{
    int rc = KVC_OK;
    pthread_mutex_lock(&s->q_mu);
    uint64_t add = op->kind == OP_PUT ? op->blk->nbytes : 0;
    if (!s->have_writer || s->stop || (add && s->q_bytes + add > s->opt.queue_bytes)) {
        rc = KVC_ENOMEM;
    } else {
        op->next = NULL;
        if (s->q_tail) s->q_tail->next = op; else s->q_head = op;
        s->q_tail = op;
        s->q_bytes += add;
        pthread_cond_signal(&s->q_cv);
    }
    pthread_mutex_unlock(&s->q_mu);
    if (rc != KVC_OK) free_op(op);
    return rc;
}

int kvc_writer_wait(kvc_store *s, kvc_op *op, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    }
    pthread_mutex_lock(&s->q_mu);
    if (!s->have_writer || s->stop) {
        pthread_mutex_unlock(&s->q_mu);
        int rc = op->kind == OP_BARRIER ? KVC_OK : KVC_ENODB;
        free_op(op);
        return rc;
    }
    op->next = NULL;
    op->rc = KVC_OK;
    if (s->q_tail) s->q_tail->next = op; else s->q_head = op;
    s->q_tail = op;
    pthread_cond_signal(&s->q_cv);
    while (!op->done) {
        int e = timeout_ms < 0 ? pthread_cond_wait(&s->done_cv, &s->q_mu)
                               : pthread_cond_timedwait(&s->done_cv, &s->q_mu, &dl);
        if (e == ETIMEDOUT && !op->done) {
            op->abandoned = 1;          /* the writer frees it */
            pthread_mutex_unlock(&s->q_mu);
            return KVC_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&s->q_mu);
    int rc = op->rc;
    free_op(op);
    return rc;
}

void kvc_writer_touch(kvc_store *s, const kvc_hash *h, int n)
{
    if (n <= 0) return;
    pthread_mutex_lock(&s->q_mu);
    if (s->have_writer && !s->stop && s->n_touch + (size_t)n <= TOUCH_MAX) {
        if (s->n_touch + (size_t)n > s->cap_touch) {
            size_t cap = s->cap_touch ? s->cap_touch * 2 : 256;
            while (cap < s->n_touch + (size_t)n) cap *= 2;
            kvc_hash *t = realloc(s->touch, cap * sizeof *t);
            if (t) { s->touch = t; s->cap_touch = cap; }
        }
        if (s->n_touch + (size_t)n <= s->cap_touch) {
            memcpy(s->touch + s->n_touch, h, (size_t)n * sizeof *h);
            s->n_touch += (size_t)n;
            pthread_cond_signal(&s->q_cv);
        }
    }
    pthread_mutex_unlock(&s->q_mu);
}
