/* wse_async.c — asynchronous submission on the wse device: programs (a
 * forward step, or any run of dev_* ops) queue to one thread the device
 * owns; each has a fence; every completion or cancellation writes the
 * device's eventfd, which an event loop (libev) can watch.
 *
 * Owns the thread (joined by wse_async_free at dev_close), the queue and the
 * eventfd. Fences belong to the caller once returned. Created on the first
 * wse_submit or wse_eventfd; a device never submitted to has no thread.
 */
#include "wse_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct wse_fence {
    wse_device *d;
    wse_program prog;
    void *arg;
    int status;                 /* WSE_FENCE_*, under the async mutex */
    int rc;
    wse_fence *next;            /* queue link */
};

struct wse_async {
    pthread_t thread;
    int has_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* queue changed, or a fence finished */
    wse_fence *head, *tail;
    int stop;
    int efd;
};

static void signal_done(wse_async *as)
{
    uint64_t one = 1;
    ssize_t n = write(as->efd, &one, sizeof one);
    (void)n;        /* EAGAIN: the counter is already readable, which is all that matters */
}

static void *worker(void *p)
{
    wse_device *d = p;
    wse_async *as = d->async;
    pthread_mutex_lock(&as->mu);
    for (;;) {
        while (!as->head && !as->stop) pthread_cond_wait(&as->cv, &as->mu);
        if (!as->head) break;
        wse_fence *f = as->head;
        as->head = f->next;
        if (!as->head) as->tail = NULL;
        f->status = WSE_FENCE_RUNNING;
        pthread_mutex_unlock(&as->mu);
        int rc = f->prog(&d->base, f->arg);
        pthread_mutex_lock(&as->mu);
        f->rc = rc;
        f->status = WSE_FENCE_DONE;
        atomic_fetch_sub(&d->busy, 1);
        signal_done(as);
        pthread_cond_broadcast(&as->cv);
    }
    pthread_mutex_unlock(&as->mu);
    return NULL;
}

/* Creates d's async state (not the thread); 0 or -1 with err. */
static int ensure_async(wse_device *d, char *err, size_t errlen)
{
    if (d->async) return 0;
    wse_async *as = calloc(1, sizeof *as);
    if (!as) { snprintf(err, errlen, "wse: out of memory"); return -1; }
    as->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (as->efd < 0) {
        snprintf(err, errlen, "wse: eventfd: %s", strerror(errno));
        free(as);
        return -1;
    }
    pthread_mutex_init(&as->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&as->cv, &ca);
    pthread_condattr_destroy(&ca);
    d->async = as;
    return 0;
}

int wse_eventfd(dev_device *dd)
{
    wse_device *d = wse_dev(dd);
    char err[128];
    if (!d || ensure_async(d, err, sizeof err)) return -1;
    return d->async->efd;
}

wse_fence *wse_submit(dev_device *dd, wse_program prog, void *arg, char *err, size_t errlen)
{
    wse_device *d = wse_dev(dd);
    if (!d || !prog) {
        snprintf(err, errlen, "wse_submit: %s", d ? "NULL program" : "not a wse device");
        return NULL;
    }
    if (ensure_async(d, err, errlen)) return NULL;
    wse_async *as = d->async;
    wse_fence *f = calloc(1, sizeof *f);
    if (!f) { snprintf(err, errlen, "wse: out of memory"); return NULL; }
    *f = (wse_fence){ .d = d, .prog = prog, .arg = arg, .status = WSE_FENCE_QUEUED };
    pthread_mutex_lock(&as->mu);
    if (!as->has_thread) {
        int rc = pthread_create(&as->thread, NULL, worker, d);
        if (rc) {
            pthread_mutex_unlock(&as->mu);
            snprintf(err, errlen, "wse: cannot start the device thread: %s", strerror(rc));
            free(f);
            return NULL;
        }
        as->has_thread = 1;
    }
    atomic_fetch_add(&d->busy, 1);
    if (as->tail) as->tail->next = f;
    else as->head = f;
    as->tail = f;
    pthread_cond_broadcast(&as->cv);
    pthread_mutex_unlock(&as->mu);
    return f;
}

int wse_fence_status(const wse_fence *f, int *rc)
{
    wse_async *as = f->d->async;
    pthread_mutex_lock(&as->mu);
    int st = f->status;
    if (rc && st == WSE_FENCE_DONE) *rc = f->rc;
    pthread_mutex_unlock(&as->mu);
    return st;
}

int wse_fence_wait(wse_fence *f, int timeout_ms)
{
    wse_async *as = f->d->async;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    }
    pthread_mutex_lock(&as->mu);
    while ((f->status == WSE_FENCE_QUEUED || f->status == WSE_FENCE_RUNNING) && timeout_ms != 0) {
        if (timeout_ms < 0) pthread_cond_wait(&as->cv, &as->mu);
        else if (pthread_cond_timedwait(&as->cv, &as->mu, &until) == ETIMEDOUT) break;
    }
    int st = f->status;
    pthread_mutex_unlock(&as->mu);
    return st;
}

/* Unlinks f from the queue (it must be queued); under the mutex. */
static void unlink_fence(wse_async *as, wse_fence *f)
{
    wse_fence **pp = &as->head, *prev = NULL;
    while (*pp && *pp != f) { prev = *pp; pp = &(*pp)->next; }
    if (!*pp) return;
    *pp = f->next;
    if (as->tail == f) as->tail = prev;
    f->next = NULL;
}

int wse_cancel(wse_fence *f)
{
    wse_async *as = f->d->async;
    pthread_mutex_lock(&as->mu);
    int ok = f->status == WSE_FENCE_QUEUED;
    if (ok) {
        unlink_fence(as, f);
        f->status = WSE_FENCE_CANCELLED;
        atomic_fetch_sub(&f->d->busy, 1);
        signal_done(as);
        pthread_cond_broadcast(&as->cv);
    }
    pthread_mutex_unlock(&as->mu);
    return ok ? 0 : -1;
}

void wse_fence_free(wse_fence *f)
{
    if (!f) return;
    wse_fence_wait(f, -1);
    free(f);
}

int wse_async_on_worker(const wse_device *d)
{
    return d->async && d->async->has_thread && pthread_equal(pthread_self(), d->async->thread);
}

void wse_async_free(wse_device *d)
{
    wse_async *as = d->async;
    if (!as) return;
    pthread_mutex_lock(&as->mu);
    for (wse_fence *f = as->head; f; f = f->next) {   /* queued programs never start */
        f->status = WSE_FENCE_CANCELLED;
        atomic_fetch_sub(&d->busy, 1);
    }
    as->head = as->tail = NULL;
    as->stop = 1;
    pthread_cond_broadcast(&as->cv);
    pthread_mutex_unlock(&as->mu);
    if (as->has_thread) pthread_join(as->thread, NULL);
    close(as->efd);
    pthread_cond_destroy(&as->cv);
    pthread_mutex_destroy(&as->mu);
    free(as);
    d->async = NULL;
}
