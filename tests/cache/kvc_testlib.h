/* kvc_testlib.h — helpers shared by the cache tests: a fresh mkdtemp
 * directory per test, a log that counts warnings, deterministic tokens and
 * blocks, and raw SQLite access to the file under test. Header-only.
 */
#ifndef SPARKD_KVC_TESTLIB_H
#define SPARKD_KVC_TESTLIB_H

#include <check.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kvc.h"

static char g_dir[256], g_db[300];

static inline void dir_setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/sparkd-kvc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_db, sizeof g_db, "%s/kv.sqlite3", g_dir);
}

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

static inline void dir_teardown(void)
{
    chmod(g_dir, 0700);
    nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Counts warnings and keeps the last one. */
typedef struct { int n; char last[512]; } test_log;

static inline void log_count(void *ud, const char *msg)
{
    test_log *l = ud;
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

static inline kvc_options opts(test_log *log)
{
    kvc_options o = { .path = g_db, .touch_ms = -1, .busy_ms = 200, .log = log_count, .log_ud = log };
    return o;
}

static inline kvc_store *open_store(const kvc_options *o)
{
    char err[256];
    kvc_store *s = kvc_open(o, err, sizeof err);
    ck_assert_msg(s != NULL, "kvc_open: %s", err);
    return s;
}

/* n pseudo-random token ids in [0, 50000) from seed. */
static inline void fill_tokens(int32_t *t, int n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (int i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        t[i] = (int32_t)(x % 50000);
    }
}

/* A block of nbytes whose bytes are a function of (seed, i). */
static inline kvc_block *make_block(kvc_dtype t, size_t nbytes, uint32_t seed)
{
    kvc_block *b = kvc_block_new(t, nbytes);
    ck_assert_ptr_nonnull(b);
    unsigned char *p = kvc_block_data(b);
    uint32_t x = seed * 747796405u + 2891336453u;
    for (size_t i = 0; i < nbytes; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
    return b;
}

static inline int block_matches(const kvc_block *b, kvc_dtype t, size_t nbytes, uint32_t seed)
{
    kvc_block *want = make_block(t, nbytes, seed);
    int ok = kvc_block_dtype(b) == t && kvc_block_size(b) == nbytes &&
             !memcmp(kvc_block_cdata(b), kvc_block_cdata(want), nbytes);
    kvc_block_unref(want);
    return ok;
}

/* Puts the first nb blocks of tokens (block i's value seeded seed + i). */
static inline void put_chain(kvc_store *s, const char *model, const int32_t *tokens, int nb,
                      size_t nbytes, uint32_t seed)
{
    kvc_key keys[64];
    ck_assert_int_le(nb, 64);
    ck_assert_int_eq(kvc_chain(s, model, tokens, nb * KVC_BLOCK_TOKENS, keys, 64), nb);
    for (int i = 0; i < nb; i++)
        ck_assert_int_eq(kvc_put(s, model, &keys[i], make_block(KVC_F16, nbytes, seed + (uint32_t)i)),
                         KVC_OK);
}

/* Blocks of tokens[0, n) found, releasing them. */
static inline int found(kvc_store *s, const char *model, const int32_t *tokens, int n)
{
    kvc_key keys[64];
    kvc_block *out[64];
    int nb = kvc_chain(s, model, tokens, n, keys, 64);
    int k = kvc_lookup(s, keys, nb, out);
    for (int i = 0; i < k; i++) kvc_block_unref(out[i]);
    return k;
}

static inline sqlite3 *raw_open(void)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(g_db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static inline void raw_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

static inline long long raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static inline long long db_int(const char *sql)
{
    sqlite3 *db = raw_open();
    long long v = raw_int(db, sql);
    sqlite3_close(db);
    return v;
}

#endif
