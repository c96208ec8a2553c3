/* test_kvc_alloc_faults.c — every allocation of the cache failing in turn
 * (tests/faultinj.c): the cache's own mallocs and SQLite's, on the caller's
 * thread and on the writer's. For n = 1, 2, ... the n-th allocation of an
 * operation (open, put + flush, lookup from the file, eviction) fails; the
 * cache must turn it into a miss, a dropped write or a weaker mode, never a
 * wrong block, a crash or a damaged file, and everything the operation
 * allocated must be freed by kvc_close. Each test prints the faults injected.
 *
 * The count is process-wide and the writer runs beside the caller, so which
 * allocation is the n-th may differ between runs; every n still fails
 * exactly one allocation.
 */
#include <dirent.h>
#include "faultinj.h"
#include "kvc_testlib.h"
#include "../check_run.h"

enum { B = KVC_BLOCK_TOKENS, NB = 4 };
#define BLK 4096

/* The store's warnings are expected here (that is the point); count them. */
static void quiet(void *ud, const char *msg) { (void)msg; ++*(int *)ud; }

static kvc_options fault_opts(int *warnings)
{
    kvc_options o = { .path = g_db, .touch_ms = -1, .busy_ms = 200, .log = quiet, .log_ud = warnings };
    return o;
}

static int corrupt_files(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strstr(e->d_name, ".corrupt-") != NULL;
    if (d) closedir(d);
    return n;
}

/* A store used once before the sweep, so SQLite's process-wide state (set
 * up on first use, kept until exit) is not counted as a leak. */
static void warm_up(void)
{
    int w = 0;
    kvc_options o = fault_opts(&w);
    int32_t t[NB * B];
    fill_tokens(t, NB * B, 99);
    kvc_store *s = open_store(&o);
    put_chain(s, "warm", t, 1, BLK, 0);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    ck_assert_int_eq(found(s, "warm", t, B), 1);
    kvc_close(s);
}

/* The file holds nb blocks of t (model "m", values seeded 100 + i) and is
 * sound; returns its block count. */
static long long check_file(const int32_t *t, int nb)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    long long rows = raw_int(db, "SELECT count(*) FROM blocks WHERE model='m'");
    long long usage = raw_int(db, "SELECT value FROM meta WHERE key='usage'");
    long long total = raw_int(db, "SELECT total(nbytes) FROM blocks");
    ck_assert_int_eq(usage, total);    /* the usage counter moved with the rows */
    sqlite3_close(db);
    if (nb >= 0) {                     /* every stored block reads back right */
        int w = 0;
        kvc_options o = fault_opts(&w);
        o.readonly = 1;
        kvc_store *s = open_store(&o);
        kvc_key keys[NB];
        kvc_block *out[NB];
        int k = kvc_lookup(s, keys, kvc_chain(s, "m", t, nb * B, keys, NB), out);
        ck_assert_int_le(k, rows);     /* a dropped write ends the chain early */
        for (int i = 0; i < k; i++) {
            ck_assert(block_matches(out[i], KVC_F16, BLK, 100 + (uint32_t)i));
            kvc_block_unref(out[i]);
        }
        kvc_close(s);
    }
    return rows;
}

/* The files live in /dev/shm when it exists: the sweeps open and write a
 * database thousands of times, and fsync on a disk would dominate. */
static void shm_setup(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/sparkd-kvc-XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_db, sizeof g_db, "%s/kv.sqlite3", g_dir);
}

static int window_done(const char *what, size_t n, size_t *faults)
{
    ck_assert_msg(faultinj_live() == 0, "%s, fault %zu: %ld blocks leaked", what, n, faultinj_live());
    if (!faultinj_fired()) {
        printf("faultinj: cache %s: %zu faults injected\n", what, *faults);
        return 0;
    }
    ++*faults;
    return 1;
}

START_TEST(test_open_survives_every_allocation_failure)
{
    warm_up();
    size_t faults = 0;
    for (size_t n = 1;; n++) {
        unlink(g_db);
        int w = 0;
        kvc_options o = fault_opts(&w);
        char err[256] = "";
        faultinj_arm(n);
        kvc_store *s = kvc_open(&o, err, sizeof err);
        kvc_mode mode = s ? kvc_store_mode(s) : KVC_MODE_MEMORY;
        int flushed = s ? kvc_flush(s, 10000) : KVC_OK;
        kvc_close(s);
        faultinj_disarm();
        ck_assert_msg(s || strstr(err, "out of memory"), "fault %zu: NULL store, error '%s'", n, err);
        ck_assert_msg(flushed == KVC_OK || flushed == KVC_ENOMEM, "fault %zu: kvc_flush %d", n, flushed);
        ck_assert_msg(mode != KVC_MODE_RO, "fault %zu: out of memory read as a read-only file", n);
        /* whatever happened, the next open finds a sound file */
        ck_assert_int_eq(corrupt_files(), 0);
        s = open_store(&o);
        ck_assert_int_eq(kvc_store_mode(s), KVC_MODE_RW);
        kvc_close(s);
        check_file(NULL, -1);
        if (!window_done("open", n, &faults)) break;
    }
    ck_assert_uint_ge(faults, 50);
}
END_TEST

START_TEST(test_put_and_flush_survive_every_allocation_failure)
{
    warm_up();
    int32_t t[NB * B];
    fill_tokens(t, NB * B, 7);
    size_t faults = 0;
    for (size_t n = 1;; n++) {
        unlink(g_db);
        int w = 0;
        kvc_options o = fault_opts(&w);
        kvc_store *s = open_store(&o);
        ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);   /* the writer's start-up is done */
        kvc_key keys[NB];
        kvc_block *blk[NB], *out[NB];
        ck_assert_int_eq(kvc_chain(s, "m", t, NB * B, keys, NB), NB);
        for (int i = 0; i < NB; i++) blk[i] = make_block(KVC_F16, BLK, 100 + (uint32_t)i);
        kvc_hash content = kvc_content_hash(s, "text", 4);

        faultinj_arm(n);
        int put_rc = 0;                  /* no ck_assert in a window: Check allocates */
        for (int i = 0; i < NB; i++) put_rc |= kvc_put(s, "m", &keys[i], blk[i]);
        int doc = kvc_doc_put(s, "m", "file:///a.py", content, keys[NB - 1].self, NB);
        int flushed = kvc_flush(s, 10000);
        int k = kvc_lookup(s, keys, NB, out);
        faultinj_disarm();

        ck_assert_int_eq(put_rc, KVC_OK);
        ck_assert_msg(doc == KVC_OK || doc == KVC_ENOMEM, "fault %zu: kvc_doc_put %d", n, doc);
        ck_assert_msg(flushed == KVC_OK || flushed == KVC_ENOMEM, "fault %zu: kvc_flush %d", n, flushed);
        for (int i = 0; i < k; i++) {
            ck_assert(block_matches(out[i], KVC_F16, BLK, 100 + (uint32_t)i));
            kvc_block_unref(out[i]);
        }
        /* still usable: a put now is found, from memory or the file */
        kvc_key more[NB];
        int32_t t2[B];
        fill_tokens(t2, B, 8);
        kvc_chain(s, "m2", t2, B, more, 1);
        ck_assert_int_eq(kvc_put(s, "m2", &more[0], make_block(KVC_F16, BLK, 5)), KVC_OK);
        ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
        ck_assert_int_eq(found(s, "m2", t2, B), 1);
        kvc_close(s);
        ck_assert_int_eq(corrupt_files(), 0);
        check_file(t, NB);
        if (!window_done("put+flush", n, &faults)) break;
    }
    ck_assert_uint_ge(faults, 10);
}
END_TEST

START_TEST(test_lookup_from_the_file_survives_every_allocation_failure)
{
    warm_up();
    int32_t t[NB * B];
    fill_tokens(t, NB * B, 9);
    {
        int w = 0;
        kvc_options o = fault_opts(&w);
        kvc_store *s = open_store(&o);
        kvc_key keys[NB];
        kvc_chain(s, "m", t, NB * B, keys, NB);
        for (int i = 0; i < NB; i++)
            ck_assert_int_eq(kvc_put(s, "m", &keys[i], make_block(KVC_F16, BLK, 100 + (uint32_t)i)), KVC_OK);
        ck_assert_int_eq(kvc_doc_put(s, "m", "file:///a.py", kvc_content_hash(s, "x", 1), keys[NB - 1].self, NB),
                         KVC_OK);
        ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
        kvc_close(s);
    }
    size_t faults = 0;
    for (size_t n = 1;; n++) {
        int w = 0;
        kvc_options o = fault_opts(&w);
        kvc_block *out[NB];
        kvc_doc doc;
        faultinj_arm(n);
        kvc_store *s = kvc_open(&o, NULL, 0);   /* a cold store: every block from SQLite */
        int k = 0, d = KVC_ENODB;
        if (s) {
            kvc_key keys[NB];
            k = kvc_lookup(s, keys, kvc_chain(s, "m", t, NB * B, keys, NB), out);
            d = kvc_doc_get(s, "m", "file:///a.py", &doc);
        }
        faultinj_disarm();
        for (int i = 0; i < k; i++) {
            ck_assert(block_matches(out[i], KVC_F16, BLK, 100 + (uint32_t)i));
            kvc_block_unref(out[i]);
        }
        ck_assert_msg(d == KVC_OK || d == KVC_EINVAL || d == KVC_ENODB, "fault %zu: doc %d", n, d);
        ck_assert(d != KVC_OK || doc.n_blocks == NB);
        kvc_close(s);
        /* nothing was lost: a failed read is a miss, not a bad block */
        ck_assert_int_eq(corrupt_files(), 0);
        ck_assert_int_eq(check_file(t, NB), NB);
        if (!window_done("lookup", n, &faults)) break;
    }
    ck_assert_uint_ge(faults, 50);
}
END_TEST

START_TEST(test_eviction_survives_every_allocation_failure)
{
    warm_up();
    enum { MANY = 24 };
    int32_t t[MANY * B];
    fill_tokens(t, MANY * B, 11);
    size_t faults = 0;
    for (size_t n = 1;; n++) {
        unlink(g_db);
        int w = 0;
        kvc_options o = fault_opts(&w);
        o.cap_bytes = 8 * BLK;           /* 24 puts: eviction runs in most batches */
        kvc_store *s = open_store(&o);
        ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
        kvc_key keys[MANY];
        kvc_block *blk[MANY];
        ck_assert_int_eq(kvc_chain(s, "e", t, MANY * B, keys, MANY), MANY);
        for (int i = 0; i < MANY; i++) blk[i] = make_block(KVC_F16, BLK, (uint32_t)i);
        faultinj_arm(n);
        for (int i = 0; i < MANY; i++) {
            kvc_put(s, "e", &keys[i], blk[i]);
            if (i % 6 == 5) kvc_flush(s, 10000);
        }
        int vac = kvc_vacuum(s);
        faultinj_disarm();
        ck_assert_msg(vac == KVC_OK || vac == KVC_EDB || vac == KVC_ENOMEM, "fault %zu: vacuum %d", n, vac);
        kvc_close(s);
        ck_assert_int_eq(corrupt_files(), 0);
        check_file(NULL, -1);
        ck_assert_int_le(db_int("SELECT value FROM meta WHERE key='usage'"), 8 * BLK);
        if (!window_done("evict", n, &faults)) break;
    }
    ck_assert_uint_ge(faults, 10);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kvc_alloc_faults");
    TCase *tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, shm_setup, dir_teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_open_survives_every_allocation_failure);
    tcase_add_test(tc, test_put_and_flush_survive_every_allocation_failure);
    tcase_add_test(tc, test_lookup_from_the_file_survives_every_allocation_failure);
    tcase_add_test(tc, test_eviction_survives_every_allocation_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(suite(), CK_ENV) ? EXIT_FAILURE : EXIT_SUCCESS;
}
