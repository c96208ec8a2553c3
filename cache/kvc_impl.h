/* kvc_impl.h — internals shared by the cache's files: the block and store
 * structs, the memory tier, the SQLite layer and the writer's queue. Nothing
 * outside cache/ includes this (tests excepted, for the hash vectors).
 *
 * Locks, in the only order they nest: rd_mu (reader connection) before
 * mem.mu before q_mu. The writer thread owns wdb and takes rd_mu only to
 * swap connections during a rebuild.
 */
#ifndef SPARKD_KVC_IMPL_H
#define SPARKD_KVC_IMPL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/types.h>
#include "kvc.h"

struct kvc_block {
    atomic_int refs;
    kvc_dtype dtype;
    int index;                          /* block number in its chain */
    kvc_hash self, parent;
    int32_t tokens[KVC_BLOCK_TOKENS];
    size_t nbytes;
    _Alignas(16) unsigned char data[];  /* nbytes of values */
};

/* ---- hashing (kvc_hash.c) ------------------------------------------------ */

/* SipHash-2-4 with 128-bit output (Aumasson & Bernstein); key k[0], k[1] are
 * the little-endian halves of the 16-byte key; out[0] is the first 8 bytes. */
void kvc_siphash128(const uint64_t k[2], const void *data, size_t len, uint64_t out[2]);
/* Unkeyed 64-bit checksum of a value blob (4 independent bijective lanes,
 * ~7 GB/s here): detects any change confined to one 8-byte lane for sure, others
 * with probability 1 - 2^-64. */
uint64_t kvc_checksum(const void *data, size_t len);
int64_t kvc_now_ms(void);              /* unix time in ms */

/* ---- memory tier (kvc_mem.c) --------------------------------------------- */

typedef struct mem_ent mem_ent;
typedef struct {
    pthread_mutex_t mu;
    mem_ent **buckets;                  /* chained hash table on block key */
    size_t nbuckets, count;             /* nbuckets: a power of two */
    mem_ent *head, *tail;               /* LRU list, head = most recent */
    uint64_t bytes, cap;
} kvc_mem;

int kvc_mem_init(kvc_mem *m, uint64_t cap);
void kvc_mem_destroy(kvc_mem *m);
/* A new reference to key's block if present and its parent and tokens match,
 * else NULL. *touch is set when the block's SQLite last-used time is older
 * than touch_ms (and then considered refreshed). */
kvc_block *kvc_mem_get(kvc_mem *m, const kvc_key *key, int64_t now, int64_t touch_ms, int *touch);
int kvc_mem_has(kvc_mem *m, kvc_hash key);
/* Adds b (takes a new reference of its own) as the most recent block, or
 * just behind its parent when that is present; evicts the least recent
 * blocks beyond the cap. A block larger than the cap is not kept. */
void kvc_mem_put(kvc_mem *m, kvc_block *b, int64_t now);
/* Makes blocks[n-1] .. blocks[0] the most recent, block 0 first of all, so
 * a chain is evicted from its end, never from its root. */
void kvc_mem_promote(kvc_mem *m, kvc_block *const *blocks, int n);
void kvc_mem_remove(kvc_mem *m, kvc_hash key);
void kvc_mem_clear(kvc_mem *m);
void kvc_mem_usage(kvc_mem *m, uint64_t *blocks, uint64_t *bytes);

/* ---- the writer's queue -------------------------------------------------- */

enum { OP_PUT, OP_DOC, OP_DELETE, OP_BARRIER, OP_CLEAR, OP_VACUUM, OP_REBUILD };

typedef struct kvc_op {
    struct kvc_op *next;
    int kind;
    kvc_block *blk;                     /* OP_PUT (owned reference) */
    char model[KVC_MODEL_ID_MAX];
    kvc_hash hash, content;             /* OP_DELETE: hash; OP_DOC: tip, content */
    int n_blocks;
    char *uri;                          /* OP_DOC (owned) */
    /* OP_BARRIER/CLEAR/VACUUM: a waiter sleeps on done_cv until done. */
    int done, rc, abandoned;
} kvc_op;

/* Warning kinds, each logged at most once per store. */
enum {
    W_OPEN = 1 << 0, W_READONLY = 1 << 1, W_SCHEMA = 1 << 2, W_CORRUPT = 1 << 3,
    W_BUSY = 1 << 4, W_FULL = 1 << 5, W_IOERR = 1 << 6, W_BADBLOCK = 1 << 7,
    W_QUEUE = 1 << 8, W_DB = 1 << 9,
};

struct kvc_store {
    kvc_options opt;                    /* defaults filled in; opt.path = path */
    char path[4096];
    _Atomic kvc_mode mode;
    uint64_t salt[2];                   /* SipHash key, from the database */
    int schema_version;
    dev_t dev;                          /* identity of the file we opened, so a */
    ino_t ino;                          /* rebuild never moves another's file */
    kvc_mem mem;

    pthread_mutex_t rd_mu;              /* the reader connection, for lookups */
    sqlite3 *rdb;
    sqlite3_stmt *st_get, *st_has, *st_doc;

    sqlite3 *wdb;                       /* the writer thread's connection */
    pthread_t writer;
    int have_writer;
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv, done_cv;
    kvc_op *q_head, *q_tail;
    uint64_t q_bytes;
    kvc_hash *touch;                    /* blocks used since the last batch */
    size_t n_touch, cap_touch;
    int stop;

    atomic_int writes_stopped;
    atomic_uint warned;
    atomic_uint_fast64_t hits_mem, hits_db, misses, bad_blocks, puts, written, dropped;
    atomic_uint_fast64_t evicted, rebuilds;
    _Atomic double check_ms;
};

/* Logs msg once per kind (printf-style). */
void kvc_warn(kvc_store *s, unsigned kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- SQLite (kvc_db.c) ---------------------------------------------------- */

/* Opens s->path for the store's mode: sets s->mode (RW, RO or MEMORY),
 * s->salt, s->schema_version, s->wdb (RW) and s->rdb. Never fails. */
void kvc_db_open(kvc_store *s);
/* Closes both connections (finalizing the reader's statements). */
void kvc_db_close(kvc_store *s);
/* On the writer thread: moves a corrupt file aside and opens a new one;
 * the reader connection is swapped under rd_mu. */
void kvc_db_rebuild(kvc_store *s, const char *why);
/* 1 if the file passes PRAGMA integrity_check (on wdb), 0 if corrupt. */
int kvc_db_check(kvc_store *s);
/* A verified copy of key's row (reader connection), or NULL (miss). A row
 * with a bad checksum or length is queued for deletion. */
kvc_block *kvc_db_get(kvc_store *s, const kvc_key *key);
int kvc_db_has(kvc_store *s, kvc_hash key);
int kvc_db_doc_get(kvc_store *s, const char *model, const char *uri, kvc_doc *out);
void kvc_db_counts(kvc_store *s, kvc_stats *st);
/* 1 for SQLite result codes meaning the file is damaged. */
int kvc_db_is_corrupt(int rc);

/* One stored block as SQLite gives it back (every pointer borrowed): the
 * parent hash, the 64 tokens, the value type, checksum and bytes. */
typedef struct {
    const void *parent;
    size_t parent_len;
    const void *tokens;
    size_t tokens_len;
    int dtype;
    uint64_t checksum;
    const void *kv;
    size_t kv_len;
} kvc_row;

/* Checks a row against key and copies it into a new block. NULL when the
 * parent or tokens do not match key (a hash collision or a damaged key: a
 * plain miss) or on out of memory; NULL with *bad = 1 when the value is
 * damaged: an unknown dtype, a length that is not a whole number of values,
 * or a checksum mismatch. Decodes untrusted bytes (tests/cache/fuzz_kvc_blob.c). */
kvc_block *kvc_row_decode(const kvc_row *r, const kvc_key *key, int *bad);

/* ---- writer (kvc_writer.c) ------------------------------------------------ */

int kvc_writer_start(kvc_store *s);
void kvc_writer_stop(kvc_store *s);        /* drains the queue, joins */
/* Appends op (consumed). KVC_ENOMEM (op freed) when there is no writer or
 * a put would take the queue past queue_bytes. */
int kvc_writer_push(kvc_store *s, kvc_op *op);
/* Pushes op and waits for it; returns op's rc or KVC_ETIMEDOUT. */
int kvc_writer_wait(kvc_store *s, kvc_op *op, int timeout_ms);
void kvc_writer_touch(kvc_store *s, const kvc_hash *h, int n);

#endif
