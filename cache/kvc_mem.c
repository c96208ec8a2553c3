/* kvc_mem.c — the memory tier: hot blocks in a chained hash table threaded
 * on an LRU list, bounded in value bytes. Holds one reference per block; a
 * lookup hands out another, so eviction never frees a block in use.
 */
#include "kvc_impl.h"

#include <stdlib.h>
#include <string.h>

struct mem_ent {
    kvc_block *b;
    int64_t touched_ms;                 /* last SQLite last-used update queued */
    mem_ent *hnext;                     /* hash chain */
    mem_ent *prev, *next;               /* LRU list */
};

static size_t bucket(const kvc_mem *m, kvc_hash h) { return (size_t)(h.lo ^ h.hi) & (m->nbuckets - 1); }
static int heq(kvc_hash a, kvc_hash b) { return a.lo == b.lo && a.hi == b.hi; }

int kvc_mem_init(kvc_mem *m, uint64_t cap)
{
    memset(m, 0, sizeof *m);
    m->cap = cap;
    m->nbuckets = 256;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) return KVC_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    return KVC_OK;
}

static void lru_unlink(kvc_mem *m, mem_ent *e)
{
    if (e->prev) e->prev->next = e->next; else m->head = e->next;
    if (e->next) e->next->prev = e->prev; else m->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(kvc_mem *m, mem_ent *e)
{
    e->prev = NULL;
    e->next = m->head;
    if (m->head) m->head->prev = e; else m->tail = e;
    m->head = e;
}

static mem_ent **find_slot(kvc_mem *m, kvc_hash h)
{
    mem_ent **pp = &m->buckets[bucket(m, h)];
    while (*pp && !heq((*pp)->b->self, h))
        pp = &(*pp)->hnext;
    return pp;
}

static void drop_entry(kvc_mem *m, mem_ent **slot)
{
    mem_ent *e = *slot;
    *slot = e->hnext;
    lru_unlink(m, e);
    m->bytes -= e->b->nbytes;
    m->count--;
    kvc_block_unref(e->b);
    free(e);
}

/* Doubles the table when it is fuller than one entry per bucket; on
 * allocation failure the chains just get longer. */
static void maybe_grow(kvc_mem *m)
{
    if (m->count < m->nbuckets) return;
    size_t n = m->nbuckets * 2;
    mem_ent **nb = calloc(n, sizeof *nb);
    if (!nb) return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (mem_ent *e = m->buckets[i], *next; e; e = next) {
            next = e->hnext;
            size_t j = (size_t)(e->b->self.lo ^ e->b->self.hi) & (n - 1);
            e->hnext = nb[j];
            nb[j] = e;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->nbuckets = n;
}

void kvc_mem_destroy(kvc_mem *m)
{
    if (!m->buckets) return;
    kvc_mem_clear(m);
    free(m->buckets);
    m->buckets = NULL;
    pthread_mutex_destroy(&m->mu);
}

kvc_block *kvc_mem_get(kvc_mem *m, const kvc_key *key, int64_t now, int64_t touch_ms, int *touch)
{
    kvc_block *b = NULL;
    *touch = 0;
    pthread_mutex_lock(&m->mu);
    mem_ent *e = *find_slot(m, key->self);
    if (e && heq(e->b->parent, key->parent) &&
        !memcmp(e->b->tokens, key->tokens, sizeof e->b->tokens)) {
        b = e->b;
        atomic_fetch_add(&b->refs, 1);
        lru_unlink(m, e);
        lru_front(m, e);
        if (now - e->touched_ms >= touch_ms) {
            e->touched_ms = now;
            *touch = 1;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return b;
}

int kvc_mem_has(kvc_mem *m, kvc_hash key)
{
    pthread_mutex_lock(&m->mu);
    int r = *find_slot(m, key) != NULL;
    pthread_mutex_unlock(&m->mu);
    return r;
}

void kvc_mem_put(kvc_mem *m, kvc_block *b, int64_t now)
{
    if (b->nbytes > m->cap) return;
    mem_ent *e = malloc(sizeof *e);
    if (!e) return;
    atomic_fetch_add(&b->refs, 1);
    *e = (mem_ent){ .b = b, .touched_ms = now };
    pthread_mutex_lock(&m->mu);
    mem_ent **slot = find_slot(m, b->self);
    if (*slot) drop_entry(m, slot);      /* replaced by the newer copy */
    maybe_grow(m);
    slot = &m->buckets[bucket(m, b->self)];
    e->hnext = *slot;
    *slot = e;
    /* Right behind its parent if that is here: a block is never more recent
     * than its parent, so eviction takes a chain from its end. */
    mem_ent *p = b->index > 0 ? *find_slot(m, b->parent) : NULL;
    if (p && p != e) {
        e->prev = p;
        e->next = p->next;
        if (p->next) p->next->prev = e; else m->tail = e;
        p->next = e;
    } else {
        lru_front(m, e);
    }
    m->bytes += b->nbytes;
    m->count++;
    while (m->bytes > m->cap && m->tail)
        drop_entry(m, find_slot(m, m->tail->b->self));
    pthread_mutex_unlock(&m->mu);
}

void kvc_mem_promote(kvc_mem *m, kvc_block *const *blocks, int n)
{
    pthread_mutex_lock(&m->mu);
    for (int i = n - 1; i >= 0; i--) {
        mem_ent *e = *find_slot(m, blocks[i]->self);
        if (e && e->b == blocks[i]) {
            lru_unlink(m, e);
            lru_front(m, e);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void kvc_mem_remove(kvc_mem *m, kvc_hash key)
{
    pthread_mutex_lock(&m->mu);
    mem_ent **slot = find_slot(m, key);
    if (*slot) drop_entry(m, slot);
    pthread_mutex_unlock(&m->mu);
}

void kvc_mem_clear(kvc_mem *m)
{
    pthread_mutex_lock(&m->mu);
    while (m->head)
        drop_entry(m, find_slot(m, m->head->b->self));
    pthread_mutex_unlock(&m->mu);
}

void kvc_mem_usage(kvc_mem *m, uint64_t *blocks, uint64_t *bytes)
{
    pthread_mutex_lock(&m->mu);
    *blocks = m->count;
    *bytes = m->bytes;
    pthread_mutex_unlock(&m->mu);
}
