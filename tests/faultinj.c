/* faultinj.c — allocation-failure injection for unit tests (see faultinj.h).
 *
 * Why interposition, and why it is valid under ASan too: a symbol defined in
 * the executable comes first in the dynamic linker's search order, before
 * libasan (under ASan) and libc, so these definitions serve every malloc
 * call of the process, from libc, jansson and SQLite included (glibc
 * supports replacing malloc this way). Each wrapper forwards to the *next*
 * definition, found with dlsym(RTLD_NEXT): glibc's allocator in a plain
 * build, ASan's in a sanitized one, which then still checks every block. No
 * header is added to blocks, so pointers from any allocator can be freed by
 * any path, and malloc_usable_size keeps working.
 *
 * dlsym may itself allocate before the next allocator is known; those few
 * early requests are served from a static arena and never freed.
 *
 * The record of live blocks is an open-addressing pointer set behind a spin
 * lock (the cache's writer thread allocates too), sized for the tests'
 * working sets; overflow is reported, never silently ignored.
 */
#include "faultinj.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- the next allocator

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static void *(*next_aligned_alloc)(size_t, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static atomic_int resolved, resolving;

/* Bootstrap arena for allocations made while dlsym runs. Each block has a
 * 16-byte header holding its size (for realloc). */
static _Alignas(16) unsigned char boot[64 << 10];
static size_t boot_used;

static int in_boot(const void *p)
{
    return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof boot;
}

static void *boot_alloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    if (n > sizeof boot || need > sizeof boot - boot_used) return NULL;
    unsigned char *p = boot + boot_used;
    boot_used += need;
    memcpy(p, &n, sizeof n);
    memset(p + 16, 0, n);
    return p + 16;
}

static void resolve(void)
{
    atomic_store(&resolving, 1);
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    next_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
    if (!next_malloc || !next_calloc || !next_realloc || !next_free || !next_aligned_alloc ||
        !next_posix_memalign || !next_memalign)
        abort();   /* no allocator to forward to: nothing can work */
    atomic_store(&resolving, 0);
    atomic_store(&resolved, 1);
}

/* 1 when the caller must use the bootstrap arena (dlsym is running). */
static int bootstrapping(void)
{
    if (atomic_load_explicit(&resolved, memory_order_acquire)) return 0;
    if (atomic_load(&resolving)) return 1;
    resolve();
    return 0;
}

// ---------------------------------------------------------------- window and record

#define SLOTS ((size_t)1 << 17)       /* > 2 * FAULTINJ_MAX_LIVE */
#define TOMB ((uintptr_t)1)

static atomic_int window;             /* 1 between arm and disarm */
static atomic_size_t allocs, fail_at;
static atomic_int fired;
static atomic_flag lock = ATOMIC_FLAG_INIT;
static uintptr_t slots[SLOTS];         /* 0 empty, TOMB deleted, else a block */
static size_t n_live, n_used;          /* used = live + tombstones */
static int overflow;

static void lock_set(void) { while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire)) {} }
static void unlock_set(void) { atomic_flag_clear_explicit(&lock, memory_order_release); }

static size_t slot_of(uintptr_t p) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull) & (SLOTS - 1); }

/* Drops the tombstones by reinserting the live blocks (lock held). */
static void rehash(void)
{
    static uintptr_t keep[FAULTINJ_MAX_LIVE];
    size_t k = 0;
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i] > TOMB) keep[k++] = slots[i];
    memset(slots, 0, sizeof slots);
    for (size_t i = 0; i < k; i++) {
        size_t j = slot_of(keep[i]);
        while (slots[j]) j = (j + 1) & (SLOTS - 1);
        slots[j] = keep[i];
    }
    n_used = k;
}

static void record(void *p)
{
    lock_set();
    if (n_live >= FAULTINJ_MAX_LIVE) {
        overflow = 1;
    } else {
        if (n_used >= SLOTS * 3 / 4) rehash();
        size_t j = slot_of((uintptr_t)p);
        while (slots[j] > TOMB) j = (j + 1) & (SLOTS - 1);
        n_used += slots[j] == 0;
        slots[j] = (uintptr_t)p;
        n_live++;
    }
    unlock_set();
}

/* Removes p from the record; returns 1 if it was there. */
static int unrecord(const void *p)
{
    int found = 0;
    lock_set();
    if (n_live) {
        size_t j = slot_of((uintptr_t)p);
        for (size_t probes = 0; slots[j] && probes < SLOTS; probes++, j = (j + 1) & (SLOTS - 1)) {
            if (slots[j] == (uintptr_t)p) {
                slots[j] = TOMB;
                n_live--;
                found = 1;
                break;
            }
        }
    }
    unlock_set();
    return found;
}

/* ASan starts every thread with pthread_getattr_np, which allocates (itself
 * and through the pthread_attr_* helpers); a failure there makes ASan abort
 * or glibc 2.36 crash. That is the sanitizer runtime, not the code under
 * test, so allocations made by libc's pthread_* functions never fail (the
 * fault moves to the next allocation; thread creation itself allocates in
 * ld.so and still fails). Looked up only for the allocation about to fail;
 * dladdr names the nearest exported symbol, which for libc's internal
 * pthread helpers is a pthread_* one. */
static int exempt(const void *caller)
{
    Dl_info di;
    return dladdr(caller, &di) && di.dli_sname && !strncmp(di.dli_sname, "pthread_", 8);
}

/* Counts one allocation of the window; 1 if it is the one to fail. */
static int must_fail(const void *caller)
{
    if (!atomic_load_explicit(&window, memory_order_relaxed)) return 0;
    size_t k = atomic_fetch_add(&allocs, 1) + 1;
    if (k != atomic_load(&fail_at)) return 0;
    if (exempt(caller)) {
        atomic_store(&fail_at, k + 1);
        return 0;
    }
    atomic_store(&fired, 1);
    return 1;
}

#define CALLER __builtin_return_address(0)

static void *note(void *p)
{
    if (p && atomic_load_explicit(&window, memory_order_relaxed)) record(p);
    return p;
}

void faultinj_arm(size_t n)
{
    lock_set();
    memset(slots, 0, sizeof slots);
    n_live = n_used = 0;
    overflow = 0;
    unlock_set();
    atomic_store(&allocs, 0);
    atomic_store(&fired, 0);
    atomic_store(&fail_at, n);
    atomic_store(&window, 1);
}

void faultinj_disarm(void)
{
    atomic_store(&window, 0);
    atomic_store(&fail_at, 0);
}

int faultinj_fired(void) { return atomic_load(&fired); }
size_t faultinj_allocs(void) { return atomic_load(&allocs); }

long faultinj_live(void)
{
    lock_set();
    long n = overflow ? -1 : (long)n_live;
    unlock_set();
    return n;
}

// ---------------------------------------------------------------- the allocator

void *malloc(size_t n)
{
    if (bootstrapping()) return boot_alloc(n);
    return must_fail(CALLER) ? NULL : note(next_malloc(n));
}

void *calloc(size_t n, size_t size)
{
    if (bootstrapping()) return size && n > SIZE_MAX / size ? NULL : boot_alloc(n * size);
    return must_fail(CALLER) ? NULL : note(next_calloc(n, size));
}

void free(void *p)
{
    if (!p || in_boot(p)) return;
    unrecord(p);
    next_free(p);
}

void *realloc(void *p, size_t n)
{
    if (bootstrapping() || in_boot(p)) {
        void *q = malloc(n);
        if (q && p) {
            size_t old;
            memcpy(&old, (unsigned char *)p - 16, sizeof old);
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    if (must_fail(CALLER)) return NULL;
    void *q = next_realloc(p, n);
    /* A block recorded before stays recorded under its new address. */
    int was = 0;
    if (p && (q || n == 0) && q != p) was = unrecord(p);
    if (q && q != p && (was || atomic_load(&window))) record(q);
    return q;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (bootstrapping()) return align <= 16 ? boot_alloc(n) : NULL;
    return must_fail(CALLER) ? NULL : note(next_aligned_alloc(align, n));
}

void *memalign(size_t align, size_t n)
{
    if (bootstrapping()) return align <= 16 ? boot_alloc(n) : NULL;
    return must_fail(CALLER) ? NULL : note(next_memalign(align, n));
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (bootstrapping()) return (*out = align <= 16 ? boot_alloc(n) : NULL) ? 0 : ENOMEM;
    if (must_fail(CALLER)) return ENOMEM;
    int rc = next_posix_memalign(out, align, n);
    if (rc == 0) note(*out);
    return rc;
}

/* Defined here so that ASan's own strdup (which bypasses malloc) does not
 * hide these allocations from the countdown. */
char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
