/* test_kvc_kill.c — a process writing the cache killed at random points,
 * many times: SIGTERM (it then stops as sparkd does: kvc_close drains and
 * commits) and SIGKILL (no chance to do anything). After each kill the file
 * must pass PRAGMA integrity_check, its usage counter must match its rows,
 * every stored value must pass its checksum, every block the cache hands out
 * must be the one that was put, and the cache code must open it without
 * moving it aside.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "kvc_impl.h"
#include "kvc_testlib.h"
#include "../check_run.h"

enum { B = KVC_BLOCK_TOKENS, NB = 4, CHAINS_PER_CHILD = 1000, KILLS = 40 };
#define BLK 16384

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void chain_tokens(int32_t *t, int c) { fill_tokens(t, NB * B, 1000u + (uint32_t)c); }
static uint32_t value_seed(int c, int i) { return (uint32_t)c * 16u + (uint32_t)i; }

/* The child: puts chain after chain (flushing each) until told to stop. */
static void writer_child(int first_chain)
{
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.cap_bytes = 48 * BLK;           /* eviction runs in most batches */
    kvc_store *s = kvc_open(&o, NULL, 0);
    if (!s) _exit(3);
    for (int c = first_chain; c < first_chain + CHAINS_PER_CHILD && !stop; c++) {
        int32_t t[NB * B];
        kvc_key keys[NB];
        chain_tokens(t, c);
        kvc_chain(s, "m", t, NB * B, keys, NB);
        for (int i = 0; i < NB; i++) {
            kvc_block *b = kvc_block_new(KVC_F16, BLK);
            if (!b) _exit(3);
            unsigned char *p = kvc_block_data(b);
            kvc_block *want = make_block(KVC_F16, BLK, value_seed(c, i));
            memcpy(p, kvc_block_cdata(want), BLK);
            kvc_block_unref(want);
            kvc_put(s, "m", &keys[i], b);
        }
        kvc_doc_put(s, "m", "file:///x.py", kvc_content_hash(s, t, sizeof t), keys[NB - 1].self, NB);
        kvc_flush(s, 10000);
    }
    kvc_close(s);
    _exit(0);
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

/* Raw checks of the file; returns its rows. */
static long long check_raw(void)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    ck_assert_int_eq(raw_int(db, "SELECT value FROM meta WHERE key='usage'"),
                     raw_int(db, "SELECT total(nbytes) FROM blocks"));
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT checksum, nbytes, kv FROM blocks", -1, &st, NULL), SQLITE_OK);
    long long rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const void *kv = sqlite3_column_blob(st, 2);
        size_t n = (size_t)sqlite3_column_bytes(st, 2);
        ck_assert_int_eq(sqlite3_column_int64(st, 1), (long long)n);
        ck_assert_msg(kv && kvc_checksum(kv, n) == (uint64_t)sqlite3_column_int64(st, 0), "row %lld: checksum", rows);
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
}

/* Opens the file with the cache (integrity check included) and checks every
 * block it returns for chains [0, last). Returns the blocks found. */
static int check_with_cache(int last)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.cap_bytes = 48 * BLK;
    kvc_store *s = open_store(&o);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);     /* the writer's check is done */
    kvc_stats st;
    kvc_get_stats(s, &st);
    ck_assert_uint_eq(st.rebuilds, 0);
    ck_assert_int_eq(kvc_store_mode(s), KVC_MODE_RW);
    int blocks = 0;
    for (int c = 0; c < last; c++) {
        int32_t t[NB * B];
        kvc_key keys[NB];
        kvc_block *out[NB];
        chain_tokens(t, c);
        int k = kvc_lookup(s, keys, kvc_chain(s, "m", t, NB * B, keys, NB), out);
        for (int i = 0; i < k; i++) {
            ck_assert_msg(block_matches(out[i], KVC_F16, BLK, value_seed(c, i)), "chain %d block %d", c, i);
            kvc_block_unref(out[i]);
        }
        blocks += k;
    }
    kvc_close(s);
    ck_assert_int_eq(log.n, 0);
    return blocks;
}

START_TEST(test_killed_writer_leaves_a_consistent_file)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int terms = 0, kills = 0, found_total = 0;
    for (int round = 0; round < KILLS; round++) {
        int first = round * 8;            /* chains overlap the previous child's: updates too */
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) writer_child(first);
        struct timespec d = { 0, (long)(20 + rand() % 400) * 1000000L };
        nanosleep(&d, NULL);
        int sig = rand() % 2 ? SIGTERM : SIGKILL;
        kill(pid, sig);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        if (sig == SIGTERM) {
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: status %#x", status);
            terms++;
        } else {
            /* it may have finished all its chains first */
            ck_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
            kills++;
        }
        check_raw();
        found_total += check_with_cache(first + CHAINS_PER_CHILD);
        ck_assert_int_eq(corrupt_files(), 0);
    }
    long long rows = check_raw();
    printf("faultinj: cache kill: %d SIGTERM + %d SIGKILL mid-write, %d blocks verified, %lld rows at the end\n",
           terms, kills, found_total, rows);
    ck_assert_int_gt(rows, 0);
    ck_assert_int_gt(found_total, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kvc_kill");
    TCase *tc = tcase_create("kill");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_killed_writer_leaves_a_consistent_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(suite(), CK_ENV) ? EXIT_FAILURE : EXIT_SUCCESS;
}
