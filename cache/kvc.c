/* kvc.c — the store's public face: options, open/close, chained block keys,
 * lookups through the memory tier into SQLite, puts, documents, flush, clear,
 * vacuum and statistics. See kvc.h for the design; kvc_db.c, kvc_mem.c and
 * kvc_writer.c for the parts.
 */
#include "kvc_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the cache stores hashes and tokens in host order and assumes little-endian"
#endif

#define DEFAULT_CAP ((uint64_t)1 << 30)
#define DEFAULT_MEM ((uint64_t)256 << 20)
#define DEFAULT_QUEUE ((uint64_t)64 << 20)
#define DEFAULT_BUSY_MS 2000
#define DEFAULT_TOUCH_MS 30000

void kvc_warn(kvc_store *s, unsigned kind, const char *fmt, ...)
{
    if (atomic_fetch_or(&s->warned, kind) & kind) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->opt.log) s->opt.log(s->opt.log_ud, msg);
    else fprintf(stderr, "sparkd: cache: %s\n", msg);
}

int64_t kvc_parse_size(const char *s)
{
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (!strcmp(end, "iB") || !strcmp(end, "B"))) end += strlen(end);
    if (*end || v > (unsigned long long)(INT64_MAX >> shift)) return -1;
    return (int64_t)(v << shift);
}

/* ---- open / close ----------------------------------------------------------- */

static void random_salt(uint64_t salt[2])
{
    if (getrandom(salt, 16, 0) != 16) {     /* only for memory-only stores */
        salt[0] = (uint64_t)kvc_now_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        salt[1] = (uint64_t)(uintptr_t)salt * 0xc2b2ae3d27d4eb4full;
    }
}

kvc_store *kvc_open(const kvc_options *opt, char *err, size_t errlen)
{
    kvc_options o = { 0 };
    if (opt) o = *opt;
    if (o.dtype != KVC_F16 && o.dtype != KVC_F32) {
        if (err) snprintf(err, errlen, "cache: unknown storage type %d", (int)o.dtype);
        return NULL;
    }
    kvc_store *s = calloc(1, sizeof *s);
    if (!s || kvc_mem_init(&s->mem, o.mem_bytes ? o.mem_bytes : DEFAULT_MEM)) {
        free(s);
        if (err) snprintf(err, errlen, "cache: out of memory");
        return NULL;
    }
    if (!o.cap_bytes) o.cap_bytes = DEFAULT_CAP;
    if (!o.mem_bytes) o.mem_bytes = DEFAULT_MEM;
    if (!o.queue_bytes) o.queue_bytes = DEFAULT_QUEUE;
    if (o.busy_ms <= 0) o.busy_ms = DEFAULT_BUSY_MS;
    if (o.touch_ms == 0) o.touch_ms = DEFAULT_TOUCH_MS;
    s->opt = o;
    pthread_mutex_init(&s->rd_mu, NULL);
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_cond_init(&s->q_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    random_salt(s->salt);

    if (!o.no_db) {
        if (o.path && (!o.path[0] || strlen(o.path) >= sizeof s->path - 16)) {
            kvc_warn(s, W_OPEN, "cache path '%.200s' is empty or too long; running without it", o.path);
            s->opt.no_db = 1;
        } else if (o.path) {
            snprintf(s->path, sizeof s->path, "%s", o.path);
        } else if (!kvc_default_path(s->path, sizeof s->path - 16)) {
            kvc_warn(s, W_OPEN, "neither XDG_CACHE_HOME nor HOME is set; running without a cache file");
            s->opt.no_db = 1;
        }
    }
    s->opt.path = s->path;
    kvc_db_open(s);
    if (s->mode == KVC_MODE_RW && kvc_writer_start(s) != KVC_OK) {
        kvc_warn(s, W_OPEN, "cannot start the cache writer thread; running without %s", s->path);
        kvc_db_close(s);
        s->mode = KVC_MODE_MEMORY;
    }
    return s;
}

void kvc_close(kvc_store *s)
{
    if (!s) return;
    kvc_writer_stop(s);
    kvc_db_close(s);
    kvc_mem_destroy(&s->mem);
    free(s->touch);
    pthread_mutex_destroy(&s->rd_mu);
    pthread_mutex_destroy(&s->q_mu);
    pthread_cond_destroy(&s->q_cv);
    pthread_cond_destroy(&s->done_cv);
    free(s);
}

kvc_mode kvc_store_mode(const kvc_store *s) { return s->mode; }
kvc_dtype kvc_store_dtype(const kvc_store *s) { return s->opt.dtype; }
const char *kvc_store_path(const kvc_store *s) { return s->path; }

/* ---- keys ---------------------------------------------------------------------- */

static int model_ok(const char *model_id)
{
    return model_id && model_id[0] && strnlen(model_id, KVC_MODEL_ID_MAX) < KVC_MODEL_ID_MAX;
}

int kvc_chain(const kvc_store *s, const char *model_id, const int32_t *tokens, int n,
              kvc_key *keys, int max)
{
    if (!s || !model_ok(model_id) || n < 0 || (n > 0 && !tokens) || !keys) return 0;
    unsigned char buf[sizeof(kvc_hash) + KVC_BLOCK_TOKENS * sizeof(int32_t)];
    uint64_t h[2];
    size_t ml = strlen(model_id);
    memcpy(buf, "sparkd-kv-root", 15);
    memcpy(buf + 15, model_id, ml);
    kvc_siphash128(s->salt, buf, 15 + ml, h);
    kvc_hash parent = { h[0], h[1] };
    int nb = n / KVC_BLOCK_TOKENS;
    if (nb > max) nb = max;
    for (int i = 0; i < nb; i++) {
        const int32_t *t = tokens + (size_t)i * KVC_BLOCK_TOKENS;
        memcpy(buf, &parent, sizeof parent);
        memcpy(buf + sizeof parent, t, KVC_BLOCK_TOKENS * sizeof(int32_t));
        kvc_siphash128(s->salt, buf, sizeof buf, h);
        keys[i] = (kvc_key){ .parent = parent, .self = { h[0], h[1] }, .index = i, .tokens = t };
        parent = keys[i].self;
    }
    return nb;
}

kvc_hash kvc_content_hash(const kvc_store *s, const void *data, size_t len)
{
    uint64_t h[2];
    kvc_siphash128(s->salt, data, len, h);
    return (kvc_hash){ h[0], h[1] };
}

/* ---- lookups and puts ------------------------------------------------------------ */

int kvc_lookup(kvc_store *s, const kvc_key *keys, int nkeys, kvc_block **out)
{
    if (!s || !keys || !out || nkeys <= 0) return 0;
    int64_t now = kvc_now_ms();
    kvc_hash touch[64];
    int k = 0, nt = 0;
    for (; k < nkeys; k++) {
        int t = 0;
        kvc_block *b = kvc_mem_get(&s->mem, &keys[k], now, s->opt.touch_ms, &t);
        if (b) {
            atomic_fetch_add(&s->hits_mem, 1);
        } else if (s->mode != KVC_MODE_MEMORY && (b = kvc_db_get(s, &keys[k]))) {
            atomic_fetch_add(&s->hits_db, 1);
            kvc_mem_put(&s->mem, b, now);
            t = 1;
        }
        if (!b) {
            atomic_fetch_add(&s->misses, 1);
            break;
        }
        out[k] = b;
        if (t && s->mode == KVC_MODE_RW) {
            touch[nt++] = keys[k].self;
            if (nt == 64) { kvc_writer_touch(s, touch, nt); nt = 0; }
        }
    }
    kvc_writer_touch(s, touch, nt);
    kvc_mem_promote(&s->mem, out, k);
    return k;
}

int kvc_contains(kvc_store *s, const kvc_key *key)
{
    if (!s || !key) return 0;
    if (kvc_mem_has(&s->mem, key->self)) return 1;
    return s->mode != KVC_MODE_MEMORY && kvc_db_has(s, key->self);
}

int kvc_put(kvc_store *s, const char *model_id, const kvc_key *key, kvc_block *b)
{
    if (!s || !b || !key || !key->tokens || !model_ok(model_id)) {
        kvc_block_unref(b);
        return KVC_EINVAL;
    }
    b->self = key->self;
    b->parent = key->parent;
    b->index = key->index;
    memcpy(b->tokens, key->tokens, sizeof b->tokens);
    atomic_fetch_add(&s->puts, 1);
    kvc_mem_put(&s->mem, b, kvc_now_ms());
    if (s->mode != KVC_MODE_RW || atomic_load(&s->writes_stopped)) {
        if (s->mode != KVC_MODE_MEMORY) atomic_fetch_add(&s->dropped, 1);
        kvc_block_unref(b);
        return KVC_OK;
    }
    kvc_op *op = calloc(1, sizeof *op);
    if (!op) {
        atomic_fetch_add(&s->dropped, 1);
        kvc_block_unref(b);
        return KVC_OK;
    }
    op->kind = OP_PUT;
    op->blk = b;
    snprintf(op->model, sizeof op->model, "%s", model_id);
    if (kvc_writer_push(s, op) != KVC_OK) {
        atomic_fetch_add(&s->dropped, 1);
        kvc_warn(s, W_QUEUE, "cache writer is behind; dropping cache writes until it catches up");
    }
    return KVC_OK;
}

/* ---- documents --------------------------------------------------------------------- */

int kvc_doc_put(kvc_store *s, const char *model_id, const char *uri, kvc_hash content,
                kvc_hash tip, int n_blocks)
{
    if (!s || !model_ok(model_id) || !uri || n_blocks < 0) return KVC_EINVAL;
    if (s->mode != KVC_MODE_RW) return KVC_ENODB;
    kvc_op *op = calloc(1, sizeof *op);
    if (!op || !(op->uri = strdup(uri))) {
        free(op);
        return KVC_ENOMEM;
    }
    op->kind = OP_DOC;
    snprintf(op->model, sizeof op->model, "%s", model_id);
    op->content = content;
    op->hash = tip;
    op->n_blocks = n_blocks;
    return kvc_writer_push(s, op) == KVC_OK ? KVC_OK : KVC_ENOMEM;
}

int kvc_doc_get(kvc_store *s, const char *model_id, const char *uri, kvc_doc *out)
{
    if (!s || !model_ok(model_id) || !uri || !out) return KVC_EINVAL;
    if (s->mode == KVC_MODE_MEMORY) return KVC_ENODB;
    return kvc_db_doc_get(s, model_id, uri, out);
}

/* ---- maintenance ------------------------------------------------------------------- */

static int wait_op(kvc_store *s, int kind, int timeout_ms)
{
    kvc_op *op = calloc(1, sizeof *op);
    if (!op) return KVC_ENOMEM;
    op->kind = kind;
    return kvc_writer_wait(s, op, timeout_ms);
}

int kvc_flush(kvc_store *s, int timeout_ms)
{
    return s ? wait_op(s, OP_BARRIER, timeout_ms) : KVC_EINVAL;
}

int kvc_clear(kvc_store *s)
{
    if (!s) return KVC_EINVAL;
    kvc_mem_clear(&s->mem);
    return s->mode == KVC_MODE_MEMORY ? KVC_OK : wait_op(s, OP_CLEAR, -1);
}

int kvc_vacuum(kvc_store *s)
{
    if (!s) return KVC_EINVAL;
    return s->mode == KVC_MODE_MEMORY ? KVC_OK : wait_op(s, OP_VACUUM, -1);
}

void kvc_get_stats(kvc_store *s, kvc_stats *st)
{
    memset(st, 0, sizeof *st);
    st->mode = s->mode;
    st->writes_stopped = atomic_load(&s->writes_stopped);
    st->schema_version = s->schema_version;
    st->cap_bytes = s->opt.cap_bytes;
    st->mem_cap_bytes = s->opt.mem_bytes;
    kvc_mem_usage(&s->mem, &st->mem_blocks, &st->mem_bytes);
    pthread_mutex_lock(&s->q_mu);
    st->queue_bytes = s->q_bytes;
    pthread_mutex_unlock(&s->q_mu);
    st->hits_mem = atomic_load(&s->hits_mem);
    st->hits_db = atomic_load(&s->hits_db);
    st->misses = atomic_load(&s->misses);
    st->bad_blocks = atomic_load(&s->bad_blocks);
    st->puts = atomic_load(&s->puts);
    st->written = atomic_load(&s->written);
    st->dropped = atomic_load(&s->dropped);
    st->evicted = atomic_load(&s->evicted);
    st->rebuilds = atomic_load(&s->rebuilds);
    st->check_ms = s->check_ms;
    if (s->mode != KVC_MODE_MEMORY) kvc_db_counts(s, st);
}

/* ---- blocks ------------------------------------------------------------------------- */

kvc_block *kvc_block_new(kvc_dtype dtype, size_t nbytes)
{
    if (dtype != KVC_F16 && dtype != KVC_F32) return NULL;
    size_t size = sizeof(kvc_block) + nbytes;
    if (size < nbytes) return NULL;
    size = (size + 15) & ~(size_t)15;
    kvc_block *b = aligned_alloc(16, size);
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    atomic_init(&b->refs, 1);
    b->dtype = dtype;
    b->nbytes = nbytes;
    return b;
}

void kvc_block_unref(kvc_block *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

void *kvc_block_data(kvc_block *b) { return b->data; }
const void *kvc_block_cdata(const kvc_block *b) { return b->data; }
size_t kvc_block_size(const kvc_block *b) { return b->nbytes; }
kvc_dtype kvc_block_dtype(const kvc_block *b) { return b->dtype; }
