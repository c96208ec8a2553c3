/* pool.c — the fixed thread pool behind pool.h.
 *
 * A job is published by writing its fields, setting `open` and bumping `gen`.
 * A worker that sees `gen` move enters (in_job++), works only if the job is
 * still open, claiming chunks from the shared `next` counter, and leaves
 * (in_job--). The caller works on the job too; once every chunk is claimed
 * it closes the job and waits for in_job to reach 0. So the caller never
 * waits for a worker that is asleep or descheduled (2 cores, other
 * processes), only for chunks in progress, and no worker can be reading a
 * job's fields when the next job writes them: `open` and `in_job` form a
 * Dekker pair (worker: in_job++ then read open; caller: open=0 then read
 * in_job), all seq_cst.
 *
 * Waiting is spin-then-sleep on both sides: spin for POOL_SPIN_NS (the gap
 * between two ops of a forward pass is far shorter), yielding the core after
 * the first microseconds so an oversubscribed machine still makes progress,
 * then futex-wait. A worker announces itself in `sleepers` before it
 * re-checks `gen`, and the caller bumps `gen` before it reads `sleepers`, so
 * a wake-up is never lost.
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <sched.h>

#define POOL_SPIN_NS 300000     /* 0.3 ms: covers the gaps inside a forward pass */
#define POOL_SPIN_PAUSES 2048   /* ~20-50 us of pause before yielding the core */

struct dev_pool {
    int n_threads;              /* caller included */
    pthread_t *workers;         /* n_threads - 1, owned, joined by pool_free */
    int n_started;              /* workers actually running */

    /* The current job: written by the caller before `gen` moves. */
    pool_fn fn;
    void *ctx;
    int64_t n, grain;
    _Atomic int64_t next;       /* first unclaimed index */

    _Atomic int open;           /* the job may be joined */
    _Atomic uint32_t gen;       /* job generation: workers wake when it moves */
    _Atomic uint32_t in_job;    /* workers inside the current job */
    _Atomic int sleepers;       /* workers (about to be) asleep on `gen` */
    _Atomic int caller_waiting; /* the caller is (about to be) asleep on `in_job` */
    _Atomic bool stop;
};

typedef struct {
    dev_pool *pool;
    int tid;
} worker_arg;

/* ---- waiting ------------------------------------------------------------ */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps while *addr == val (may return spuriously; callers re-check). */
static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)addr; (void)val;
    sched_yield();
#endif
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)addr;
#endif
}

/* Spins until *addr != val or the spin budget runs out; returns the value
 * last seen. */
static uint32_t spin_while_equal(_Atomic uint32_t *addr, uint32_t val)
{
    int64_t deadline = 0;
    for (unsigned i = 1;; i++) {
        uint32_t v = atomic_load_explicit(addr, memory_order_acquire);
        if (v != val)
            return v;
        if (i < POOL_SPIN_PAUSES)
            cpu_relax();
        else
            sched_yield();
        if ((i & 63) == 0) {
            int64_t t = now_ns();
            if (deadline == 0)
                deadline = t + POOL_SPIN_NS;
            else if (t > deadline)
                return v;
        }
    }
}

/* ---- jobs --------------------------------------------------------------- */

static void run_chunks(dev_pool *p, int tid)
{
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&p->next, p->grain, memory_order_relaxed);
        if (b >= p->n)
            return;
        int64_t e = b + p->grain < p->n ? b + p->grain : p->n;
        p->fn(p->ctx, b, e, tid);
    }
}

static void *worker_main(void *argp)
{
    worker_arg a = *(worker_arg *)argp;
    free(argp);
    dev_pool *p = a.pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = spin_while_equal(&p->gen, seen);
        while (g == seen) {
            atomic_fetch_add(&p->sleepers, 1);
            if (atomic_load(&p->gen) == seen)
                futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            g = atomic_load(&p->gen);
        }
        seen = g;
        if (atomic_load(&p->stop))
            return NULL;
        atomic_fetch_add(&p->in_job, 1);
        if (atomic_load(&p->open))
            run_chunks(p, a.tid);
        if (atomic_fetch_sub(&p->in_job, 1) == 1 && atomic_load(&p->caller_waiting))
            futex_wake_all(&p->in_job);
    }
}

/* Closes the job and returns once no worker is inside it. */
static void close_job(dev_pool *p)
{
    atomic_store(&p->open, 0);
    for (;;) {
        uint32_t left = atomic_load(&p->in_job);
        if (left == 0)
            return;
        if (spin_while_equal(&p->in_job, left) != left)
            continue;
        atomic_store(&p->caller_waiting, 1);
        if (atomic_load(&p->in_job) == left)
            futex_wait(&p->in_job, left);
        atomic_store(&p->caller_waiting, 0);
    }
}

void pool_for(dev_pool *p, int64_t n, int64_t grain, pool_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (n <= grain || p->n_started == 0) {
        fn(ctx, 0, n, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->grain = grain;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store(&p->open, 1);          /* seq_cst: publishes the fields */
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0)
        futex_wake_all(&p->gen);
    run_chunks(p, 0);
    close_job(p);
}

/* ---- lifetime ----------------------------------------------------------- */

dev_pool *pool_new(int n_threads, char *err, size_t errlen)
{
    if (n_threads < 1) {
        snprintf(err, errlen, "thread pool: need at least 1 thread, got %d", n_threads);
        return NULL;
    }
    dev_pool *p = calloc(1, sizeof *p);
    if (!p || (n_threads > 1 && !(p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers)))) {
        free(p);
        snprintf(err, errlen, "thread pool: out of memory");
        return NULL;
    }
    p->n_threads = n_threads;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        int rc = a ? 0 : ENOMEM;
        if (a) {
            a->pool = p;
            a->tid = i;
            rc = pthread_create(&p->workers[i - 1], NULL, worker_main, a);
            if (rc)
                free(a);
        }
        if (rc) {
            snprintf(err, errlen, "thread pool: cannot start thread %d of %d: %s",
                     i + 1, n_threads, strerror(rc));
            pool_free(p);
            return NULL;
        }
        p->n_started++;
    }
    return p;
}

void pool_free(dev_pool *p)
{
    if (!p)
        return;
    if (p->n_started > 0) {
        atomic_store_explicit(&p->stop, true, memory_order_release);
        atomic_fetch_add(&p->gen, 1);
        futex_wake_all(&p->gen);
        for (int i = 0; i < p->n_started; i++)
            pthread_join(p->workers[i], NULL);
    }
    free(p->workers);
    free(p);
}

int pool_threads(const dev_pool *p)
{
    return p->n_threads;
}
