/* kvc.h — the prefix-KV cache: the keys/values of token prefixes, kept in a
 * memory tier and in SQLite, so a file's prefix is computed once per model
 * and reused across keystrokes, restarts and sparkd processes.
 *
 * Keys. A token sequence is cut into blocks of KVC_BLOCK_TOKENS tokens; only
 * full blocks are cached. Block i's key is a 128-bit hash chained over the
 * prefix:  h[-1] = H("root" | model id),  h[i] = H(h[i-1] | tokens of block i).
 * Equal keys mean equal prefixes, so the longest cached prefix of a new
 * sequence is found block by block from the start, and an edit at token e
 * still reuses every block before e / KVC_BLOCK_TOKENS. H is SipHash-2-4
 * (128-bit output) keyed by a random salt kept in the database: collisions
 * cannot be crafted without reading the 0600 file, and accidental ones need
 * ~2^64 blocks. Each row also stores its parent hash and its tokens, checked
 * on every hit.
 *
 * Why 64 tokens: an edit loses at most the 63 tokens of its block before it
 * (~0.1 s of prefill on the main model; 256 would be ~0.5 s); a 2k-token file
 * is 32 rows, one indexed read each (~0.2 ms per 192 KiB block); per-row
 * overhead (key, parent, 256 bytes of tokens) is < 0.2% of a block. Blocks
 * of 16 would mean 4x the rows and reads to save 48 tokens at worst.
 *
 * Values. One block = the KV rows of its 64 positions for every layer, laid
 * out as eng_ctx_kv_read() gives them: (n_layers, 2 [k, v], 64, kv_dim).
 * Stored as F16 by default (half the bytes of F32; |error| <= 2^-11 relative,
 * which moved a test model's logits by 3e-5 of their range), or F32 for
 * bit-exact restores. Every stored blob carries a 64-bit checksum verified
 * on read. No compression: zlib saves 10% on F16 KV blocks (ratio 0.90, 0.82
 * with split byte planes) at 22-29 MB/s, while a restore reads ~1 GB/s.
 *
 * Tiers. Lookups first search a memory tier (LRU, bounded bytes) and then
 * SQLite (one indexed query per block) on the caller's thread; a block read
 * from SQLite is promoted to memory, so typing in one file never reads the
 * disk. Inserts, last-used updates, LRU eviction to the size cap, clear and
 * vacuum run on the store's write-behind thread with its own connection, in
 * batched transactions. Its queue is bounded: when full, new writes are
 * dropped (counted), never waited for.
 *
 * Faults. The cache is never the source of truth: every failure is a miss
 * (recompute) plus at most one warning per kind, and the daemon keeps going.
 * A corrupt file (integrity_check when the writer starts, so opening never
 * waits for it: ~0.3 s per GiB; SQLITE_CORRUPT on any later query) is moved
 * to PATH.corrupt-<unix time> and rebuilt; a lock held too long by another
 * process skips that batch; disk full or I/O errors stop writing; an
 * unwritable directory or file opens read-only; a schema newer than this
 * build, or a file SQLite cannot open, leaves the memory tier only; a blob
 * with a bad checksum or length is deleted.
 *
 * Threads. Every function may be called from any thread; a kvc_store may be
 * shared. Blocks are immutable once put and reference counted.
 */
#ifndef SPARKD_KVC_H
#define SPARKD_KVC_H

#include <stddef.h>
#include <stdint.h>

#define KVC_BLOCK_TOKENS 64        /* tokens per cached block */
#define KVC_MODEL_ID_MAX 64        /* longest model id accepted (gguf ids: 32) */
#define KVC_SCHEMA_VERSION 2       /* schema this build writes */

/* Return codes. */
enum {
    KVC_OK = 0,
    KVC_EINVAL = -1,      /* bad argument */
    KVC_ENOMEM = -2,
    KVC_EDB = -3,         /* SQLite error (message via the log) */
    KVC_ETIMEDOUT = -4,   /* kvc_flush: the writer did not finish in time */
    KVC_ENODB = -5,       /* no database (memory tier only, or read-only) */
};

/* Storage type of a block's values, numbered as ggml / dev_dtype number them. */
typedef enum { KVC_F32 = 0, KVC_F16 = 1 } kvc_dtype;

/* What the store could open. */
typedef enum {
    KVC_MODE_RW,          /* SQLite, read and write */
    KVC_MODE_RO,          /* SQLite read-only: lookups only, writes dropped */
    KVC_MODE_MEMORY,      /* no SQLite: the memory tier only */
} kvc_mode;

typedef struct { uint64_t lo, hi; } kvc_hash;

/* The key of one block of a sequence (see kvc_chain). */
typedef struct {
    kvc_hash parent;          /* key of the previous block (or the model root) */
    kvc_hash self;
    int index;                /* block number: positions [index*64, index*64+64) */
    const int32_t *tokens;    /* the block's 64 tokens (borrowed from the caller) */
} kvc_key;

typedef struct {
    const char *path;         /* database file; NULL: kvc_default_path() */
    uint64_t cap_bytes;       /* SQLite cap on stored value bytes; 0: 1 GiB */
    uint64_t mem_bytes;       /* memory tier cap; 0: 256 MiB */
    uint64_t queue_bytes;     /* write-behind queue bound; 0: 64 MiB */
    int busy_ms;              /* busy timeout of the writer; 0: 2000 (readers: 100) */
    int touch_ms;             /* minimum time between last-used updates of a block;
                               * 0: 30 s; < 0: every use (tests) */
    kvc_dtype dtype;          /* storage type used by kvc_save (KVC_F16 default) */
    int readonly;             /* open the database read-only */
    int no_db;                /* memory tier only */
    int no_check;             /* skip integrity_check on open */
    /* Warnings (each kind at most once per store); NULL: "sparkd: cache: ..." on stderr. */
    void (*log)(void *ud, const char *msg);
    void *log_ud;
} kvc_options;

typedef struct {
    kvc_mode mode;
    int writes_stopped;       /* 1: disk full, I/O error or read-only */
    int schema_version;       /* of the file (0: none) */
    uint64_t db_blocks, db_bytes;     /* rows and value bytes in SQLite */
    uint64_t db_models, db_docs;      /* distinct models, document records */
    uint64_t db_file_bytes;           /* database + WAL file sizes */
    uint64_t cap_bytes;
    uint64_t mem_blocks, mem_bytes, mem_cap_bytes;
    uint64_t queue_bytes;             /* waiting for the writer now */
    uint64_t hits_mem, hits_db, misses;   /* per block looked up */
    uint64_t bad_blocks;              /* checksum / length / header mismatches */
    uint64_t puts, written, dropped;  /* dropped: queue full, busy, or writes stopped */
    uint64_t evicted, rebuilds;
    double check_ms;                  /* last integrity_check duration */
} kvc_stats;

typedef struct kvc_store kvc_store;
typedef struct kvc_block kvc_block;

/* $XDG_CACHE_HOME/sparkd/kv.sqlite3, else $HOME/.cache/sparkd/kv.sqlite3.
 * Writes it into buf; returns buf, or NULL if neither variable is set or it
 * does not fit. */
char *kvc_default_path(char *buf, size_t len);
/* "1073741824", "512M", "1G", "64k" (powers of 1024) -> bytes; -1 if malformed. */
int64_t kvc_parse_size(const char *s);

/* ---- the store ----------------------------------------------------------- */

/* Opens (creating if needed: directory 0700, file 0600, WAL) the store
 * described by opt (NULL: defaults). Falls back to read-only or memory-only
 * (warning once) rather than failing; returns NULL, with a reason in err,
 * only for bad options or out of memory. */
kvc_store *kvc_open(const kvc_options *opt, char *err, size_t errlen);
/* Writes what is queued (waiting at most the busy timeout per batch), joins
 * the writer and frees everything. NULL is a no-op. */
void kvc_close(kvc_store *s);
kvc_mode kvc_store_mode(const kvc_store *s);
kvc_dtype kvc_store_dtype(const kvc_store *s);
const char *kvc_store_path(const kvc_store *s);   /* "" when memory-only by choice */

/* Keys of the full blocks of tokens[0, n): keys[i] for block i, at most max.
 * Returns the number of keys written (min(n / 64, max)). keys[i].tokens
 * points into tokens. model_id: NUL-terminated, < KVC_MODEL_ID_MAX bytes. */
int kvc_chain(const kvc_store *s, const char *model_id, const int32_t *tokens, int n,
              kvc_key *keys, int max);
/* A keyed 128-bit hash of any bytes (a document's text for kvc_doc_put). */
kvc_hash kvc_content_hash(const kvc_store *s, const void *data, size_t len);

/* The longest run keys[0 .. k) found (memory tier, then SQLite), stopping at
 * the first miss. out[i] receives a reference to block i (release with
 * kvc_block_unref). Returns k (0 .. nkeys). Never fails: errors are misses. */
int kvc_lookup(kvc_store *s, const kvc_key *keys, int nkeys, kvc_block **out);
/* 1 if the block is in the memory tier or SQLite, else 0. */
int kvc_contains(kvc_store *s, const kvc_key *key);
/* Stores b (value of key, for model_id) in the memory tier and queues it for
 * SQLite. Consumes the caller's reference to b, even on failure. Returns
 * KVC_OK (also when the SQLite write is dropped) or KVC_EINVAL. */
int kvc_put(kvc_store *s, const char *model_id, const kvc_key *key, kvc_block *b);

/* The last prefix recorded for a document: content hash of its text, the key
 * of its last cached block, and how many blocks. */
typedef struct {
    kvc_hash content;
    kvc_hash tip;
    int n_blocks;
    int64_t updated_ms;       /* unix time */
} kvc_doc;
/* Records (queued) that uri's text with hash content has its first n_blocks
 * blocks cached, the last one being tip. */
int kvc_doc_put(kvc_store *s, const char *model_id, const char *uri, kvc_hash content,
                kvc_hash tip, int n_blocks);
/* One indexed read. KVC_OK, KVC_EINVAL for no record, KVC_ENODB without SQLite. */
int kvc_doc_get(kvc_store *s, const char *model_id, const char *uri, kvc_doc *out);

/* Waits until everything queued before the call is written (or dropped).
 * KVC_OK, or KVC_ETIMEDOUT after timeout_ms (< 0: no limit). */
int kvc_flush(kvc_store *s, int timeout_ms);
/* Deletes every block and document (memory and SQLite); then VACUUMs. */
int kvc_clear(kvc_store *s);
/* Evicts to the cap, checkpoints the WAL and VACUUMs (file shrinks). */
int kvc_vacuum(kvc_store *s);
/* Counters, and (unless memory-only) row counts read from SQLite. */
void kvc_get_stats(kvc_store *s, kvc_stats *out);

/* ---- blocks --------------------------------------------------------------- */

/* A new block of nbytes value bytes (uninitialised) of type dtype, with one
 * reference held by the caller. NULL on allocation failure. */
kvc_block *kvc_block_new(kvc_dtype dtype, size_t nbytes);
void kvc_block_unref(kvc_block *b);          /* NULL is a no-op */
void *kvc_block_data(kvc_block *b);          /* write only before kvc_put */
const void *kvc_block_cdata(const kvc_block *b);
size_t kvc_block_size(const kvc_block *b);
kvc_dtype kvc_block_dtype(const kvc_block *b);

/* ---- engine glue (kvc_engine.c; links the engine) ------------------------ */

struct eng_ctx;
/* Fills ctx (from position 0) with the longest cached prefix of tokens[0, n)
 * for model_id, at most n - 1 positions, so the caller still evaluates the
 * last token and gets its logits. Returns the positions restored (= eng_ctx_pos(ctx)
 * on return: a multiple of 64, or n - 1 when the blocks cover all n tokens;
 * 0 also truncates ctx to 0). s may be NULL (no cache: returns 0). */
int kvc_restore(kvc_store *s, struct eng_ctx *ctx, const char *model_id,
                const int32_t *tokens, int n);
/* Queues every full block of tokens[0, min(n, eng_ctx_pos(ctx))) that the
 * store lacks, converted to the store's dtype; ctx must hold the KV of
 * exactly those tokens. Returns the number of blocks queued. */
int kvc_save(kvc_store *s, struct eng_ctx *ctx, const char *model_id,
             const int32_t *tokens, int n);

/* ---- command line (kvc_cli.c) --------------------------------------------- */

/* `sparkd cache stats|clear|vacuum [--cache PATH] [--cache-size N]`; argv[0]
 * is the action. Returns 0 ok, 1 runtime error, 2 usage error. */
int cmd_cache(int argc, char **argv);

#endif
