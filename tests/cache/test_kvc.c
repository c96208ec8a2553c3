/* test_kvc.c — the prefix-KV store on real SQLite files: hashes, keys,
 * bit-exact round trips, the memory tier, longest-prefix lookups after edits,
 * two processes sharing a file, LRU eviction order, documents, migrations,
 * clear/vacuum, the bounded queue, file modes and the CLI.
 * Faults are in test_kvc_faults.c; the engine glue in test_kvc_engine.c.
 */
#include <sys/wait.h>
#include <time.h>
#include "kvc_impl.h"
#include "kvc_testlib.h"
#include "../check_run.h"

#define BLK 4096   /* value bytes per test block */
enum { B = KVC_BLOCK_TOKENS };

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(test_siphash128_reference_vectors)
{
    /* veorq/SipHash vectors.h, vectors_sip128: key 00..0f, message 00..len-1. */
    static const struct { int len; const char *hex; } V[] = {
        { 0, "a3817f04ba25a8e66df67214c7550293" }, { 1, "da87c1d86b99af44347659119b22fc45" },
        { 7, "a1f1ebbed8dbc153c0b84aa61ff08239" }, { 8, "3b62a9ba6258f5610f83e264f31497b4" },
        { 15, "5493e99933b0a8117e08ec0f97cfc3d9" }, { 16, "6ee2a4ca67b054bbfd3315bf85230577" },
        { 63, "5150d1772f50834a503e069a973fbd7c" },
    };
    unsigned char key[16], msg[64];
    for (int i = 0; i < 64; i++) msg[i] = (unsigned char)i;
    for (int i = 0; i < 16; i++) key[i] = (unsigned char)i;
    uint64_t k[2];
    memcpy(k, key, 16);
    for (size_t v = 0; v < sizeof V / sizeof *V; v++) {
        uint64_t out[2];
        char hex[33];
        unsigned char bytes[16];
        kvc_siphash128(k, msg, (size_t)V[v].len, out);
        memcpy(bytes, out, 16);
        for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
        ck_assert_msg(!strcmp(hex, V[v].hex), "len %d: %s != %s", V[v].len, hex, V[v].hex);
    }
}
END_TEST

START_TEST(test_checksum_detects_every_single_byte_change)
{
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 7);
    uint64_t c = kvc_checksum(buf, sizeof buf);
    for (int i = 0; i < 1000; i++) {
        buf[i] ^= 0x10;
        ck_assert_msg(kvc_checksum(buf, sizeof buf) != c, "byte %d", i);
        buf[i] ^= 0x10;
    }
    ck_assert(kvc_checksum(buf, 999) != c);    /* truncation */
}
END_TEST

START_TEST(test_chain_keys_share_exactly_the_common_prefix)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.no_db = 1;
    kvc_store *s = open_store(&o);
    int32_t a[5 * B], b[5 * B];
    fill_tokens(a, 5 * B, 1);
    memcpy(b, a, sizeof a);
    b[2 * B + 10]++;                          /* differs inside block 2 */
    kvc_key ka[5], kb[5], kc[5];
    ck_assert_int_eq(kvc_chain(s, "m1", a, 5 * B + 3, ka, 5), 5);
    ck_assert_int_eq(kvc_chain(s, "m1", b, 5 * B, kb, 5), 5);
    ck_assert_int_eq(kvc_chain(s, "m2", a, 5 * B, kc, 5), 5);
    for (int i = 0; i < 5; i++) {
        int same = ka[i].self.lo == kb[i].self.lo && ka[i].self.hi == kb[i].self.hi;
        ck_assert_int_eq(same, i < 2);
        ck_assert(ka[i].self.lo != kc[i].self.lo);    /* the model is in the root */
        ck_assert_int_eq(ka[i].index, i);
        ck_assert_ptr_eq(ka[i].tokens, a + i * B);
    }
    ck_assert(ka[1].parent.lo == ka[0].self.lo && ka[1].parent.hi == ka[0].self.hi);
    ck_assert_int_eq(kvc_chain(s, "m1", a, B - 1, ka, 5), 0);
    ck_assert_int_eq(kvc_chain(s, "m1", a, 5 * B, ka, 2), 2);
    ck_assert_int_eq(kvc_chain(s, "", a, 5 * B, ka, 5), 0);
    kvc_close(s);
}
END_TEST

START_TEST(test_roundtrip_blocks_bit_exact_across_reopen)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    ck_assert_int_eq(kvc_store_mode(s), KVC_MODE_RW);
    int32_t t[6 * B];
    fill_tokens(t, 6 * B, 2);
    kvc_key keys[6];
    kvc_chain(s, "model", t, 6 * B, keys, 6);
    /* F16 and F32 blocks, odd sizes included. */
    for (int i = 0; i < 6; i++) {
        kvc_dtype dt = i % 2 ? KVC_F32 : KVC_F16;
        ck_assert_int_eq(kvc_put(s, "model", &keys[i], make_block(dt, BLK + 4 * (size_t)i, 100 + i)), KVC_OK);
    }
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_close(s);

    s = open_store(&o);
    kvc_block *out[6];
    kvc_chain(s, "model", t, 6 * B, keys, 6);
    ck_assert_int_eq(kvc_lookup(s, keys, 6, out), 6);
    for (int i = 0; i < 6; i++) {
        kvc_dtype dt = i % 2 ? KVC_F32 : KVC_F16;
        ck_assert_msg(block_matches(out[i], dt, BLK + 4 * (size_t)i, 100 + i), "block %d", i);
        kvc_block_unref(out[i]);
    }
    kvc_stats st;
    kvc_get_stats(s, &st);
    ck_assert_uint_eq(st.hits_db, 6);
    ck_assert_uint_eq(st.db_blocks, 6);
    ck_assert_int_eq(log.n, 0);
    kvc_close(s);
}
END_TEST

START_TEST(test_memory_tier_serves_repeat_lookups_without_sqlite)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    int32_t t[4 * B];
    fill_tokens(t, 4 * B, 3);
    put_chain(s, "m", t, 4, BLK, 7);
    for (int r = 0; r < 10; r++) ck_assert_int_eq(found(s, "m", t, 4 * B), 4);
    kvc_stats st;
    kvc_get_stats(s, &st);
    ck_assert_uint_eq(st.hits_mem, 40);
    ck_assert_uint_eq(st.hits_db, 0);
    ck_assert_uint_eq(st.mem_blocks, 4);
    kvc_close(s);

    /* After a restart the first lookup reads SQLite once, then memory. */
    s = open_store(&o);
    ck_assert_int_eq(found(s, "m", t, 4 * B), 4);
    ck_assert_int_eq(found(s, "m", t, 4 * B), 4);
    kvc_get_stats(s, &st);
    ck_assert_uint_eq(st.hits_db, 4);
    ck_assert_uint_eq(st.hits_mem, 4);
    kvc_close(s);
}
END_TEST

START_TEST(test_memory_tier_evicts_chain_ends_first)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.no_db = 1;
    o.mem_bytes = 5 * BLK;
    kvc_store *s = open_store(&o);
    int32_t a[4 * B], b[2 * B];
    fill_tokens(a, 4 * B, 4);
    fill_tokens(b, 2 * B, 5);
    put_chain(s, "m", a, 4, BLK, 1);
    ck_assert_int_eq(found(s, "m", a, 4 * B), 4);   /* promotes block 0 to the front */
    put_chain(s, "m", b, 2, BLK, 9);                /* 6 blocks > 5: one must go */
    ck_assert_int_eq(found(s, "m", a, 4 * B), 3);   /* a lost its last block, not its root */
    ck_assert_int_eq(found(s, "m", b, 2 * B), 2);
    kvc_close(s);
}
END_TEST

START_TEST(test_longest_prefix_after_edits_at_start_middle_end)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    enum { N = 10 * B + 17 };
    int32_t t[N], e[N + 5];
    fill_tokens(t, N, 6);
    put_chain(s, "m", t, 10, BLK, 0);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_close(s);
    s = open_store(&o);       /* from SQLite, not memory */

    ck_assert_int_eq(found(s, "m", t, N), 10);
    memcpy(e, t, sizeof t);
    e[0]++;                                       /* edit at the start */
    ck_assert_int_eq(found(s, "m", e, N), 0);
    memcpy(e, t, sizeof t);
    e[4 * B + 30] = 1;                            /* middle: blocks 0-3 survive */
    ck_assert_int_eq(found(s, "m", e, N), 4);
    memcpy(e, t, sizeof t);
    e[10 * B - 1]++;                              /* last token of the last full block */
    ck_assert_int_eq(found(s, "m", e, N), 9);
    memcpy(e, t, sizeof t);
    e[N - 1]++;                                   /* in the partial tail: all 10 survive */
    ck_assert_int_eq(found(s, "m", e, N), 10);
    /* An insertion shifts everything after it. */
    memcpy(e, t, 3 * B * sizeof *t);
    e[3 * B] = 42;
    memcpy(e + 3 * B + 1, t + 3 * B, (N - 3 * B) * sizeof *t);
    ck_assert_int_eq(found(s, "m", e, N + 1), 3);
    ck_assert_int_eq(found(s, "other-model", t, N), 0);
    kvc_close(s);
}
END_TEST

/* A child process: writes its chain, signals, waits, then looks for the
 * parent's chain. Exit status 0 when everything held. */
static int child_share(int to_parent, int from_parent)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    char err[256], c = 0;
    kvc_store *s = kvc_open(&o, err, sizeof err);
    if (!s || kvc_store_mode(s) != KVC_MODE_RW) return 1;
    int32_t mine[3 * B], theirs[3 * B];
    fill_tokens(mine, 3 * B, 21);
    fill_tokens(theirs, 3 * B, 20);
    kvc_key keys[3];
    kvc_chain(s, "m", mine, 3 * B, keys, 3);
    for (int i = 0; i < 3; i++) kvc_put(s, "m", &keys[i], make_block(KVC_F16, BLK, 300 + (uint32_t)i));
    if (kvc_flush(s, 10000) != KVC_OK) return 2;
    if (write(to_parent, "w", 1) != 1 || read(from_parent, &c, 1) != 1) return 3;
    int k = found(s, "m", theirs, 3 * B);
    kvc_close(s);
    return k == 3 ? 0 : 10 + k;
}

START_TEST(test_two_processes_share_one_database)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    kvc_close(s);                       /* the file exists before the race */
    int up[2], down[2];
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(down), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) _exit(child_share(up[1], down[0]));

    s = open_store(&o);                 /* opened after fork: no shared handles */
    int32_t mine[3 * B], theirs[3 * B];
    fill_tokens(mine, 3 * B, 20);
    fill_tokens(theirs, 3 * B, 21);
    put_chain(s, "m", mine, 3, BLK, 200);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    char c;
    ck_assert_int_eq(read(up[0], &c, 1), 1);        /* the child's chain is written */
    ck_assert_int_eq(write(down[1], "g", 1), 1);
    kvc_key keys[3];
    kvc_block *out[3];
    kvc_chain(s, "m", theirs, 3 * B, keys, 3);
    ck_assert_int_eq(kvc_lookup(s, keys, 3, out), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert(block_matches(out[i], KVC_F16, BLK, 300 + (uint32_t)i));
        kvc_block_unref(out[i]);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    kvc_close(s);
    ck_assert_int_eq(db_int("SELECT count(*) FROM blocks"), 6);
    ck_assert_int_eq(db_int("SELECT value FROM meta WHERE key='usage'"), 6 * BLK);
}
END_TEST

START_TEST(test_eviction_removes_least_recently_used_first)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.cap_bytes = 5 * BLK;          /* evicts down to 15/16 of this: 4 blocks */
    kvc_store *s = open_store(&o);
    int32_t t[6][B];
    for (int i = 0; i < 6; i++) {   /* six one-block chains A..F, A oldest */
        fill_tokens(t[i], B, 40 + (uint32_t)i);
        if (i == 5) {               /* use A again just before F arrives */
            ck_assert_int_eq(found(s, "m", t[0], B), 1);
            ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
            sleep_ms(3);
        }
        put_chain(s, "m", t[i], 1, BLK, (uint32_t)i);
        ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
        sleep_ms(3);
    }
    kvc_stats st;
    kvc_get_stats(s, &st);
    ck_assert_uint_eq(st.evicted, 2);
    kvc_close(s);
    o.mem_bytes = 1;                /* nothing from memory: ask SQLite */
    s = open_store(&o);
    const int want[6] = { 1, 0, 0, 1, 1, 1 };   /* B and C were the oldest */
    for (int i = 0; i < 6; i++) {
        kvc_key k;
        kvc_chain(s, "m", t[i], B, &k, 1);
        ck_assert_msg(kvc_contains(s, &k) == want[i], "chain %c", 'A' + i);
    }
    kvc_close(s);
    ck_assert_int_eq(db_int("SELECT value FROM meta WHERE key='usage'"), 4 * BLK);
}
END_TEST

START_TEST(test_eviction_of_a_chain_used_at_once_starts_at_its_end)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.cap_bytes = 3 * BLK;
    kvc_store *s = open_store(&o);
    int32_t t[4 * B];
    fill_tokens(t, 4 * B, 50);
    put_chain(s, "m", t, 4, BLK, 0);    /* one batch: equal last-used times */
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_close(s);
    o.mem_bytes = 1;
    s = open_store(&o);
    ck_assert_int_eq(found(s, "m", t, 4 * B), 2);   /* 4 > 3 blocks: down to 2.8 */
    kvc_close(s);
}
END_TEST

START_TEST(test_document_record_round_trip)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    const char *text = "int main(void) { return 0; }\n";
    kvc_hash c = kvc_content_hash(s, text, strlen(text)), tip = { 5, 6 };
    kvc_doc d;
    ck_assert_int_eq(kvc_doc_get(s, "m", "file:///a.c", &d), KVC_EINVAL);
    ck_assert_int_eq(kvc_doc_put(s, "m", "file:///a.c", c, tip, 7), KVC_OK);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    ck_assert_int_eq(kvc_doc_get(s, "m", "file:///a.c", &d), KVC_OK);
    ck_assert(d.content.lo == c.lo && d.content.hi == c.hi && d.tip.lo == 5 && d.tip.hi == 6);
    ck_assert_int_eq(d.n_blocks, 7);
    ck_assert_int_le(llabs(d.updated_ms - kvc_now_ms()), 60000);
    tip.lo = 9;
    ck_assert_int_eq(kvc_doc_put(s, "m", "file:///a.c", c, tip, 8), KVC_OK);   /* replaces */
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    ck_assert_int_eq(kvc_doc_get(s, "m", "file:///a.c", &d), KVC_OK);
    ck_assert_int_eq(d.n_blocks, 8);
    ck_assert_int_eq(kvc_doc_get(s, "other", "file:///a.c", &d), KVC_EINVAL);
    kvc_close(s);
}
END_TEST

START_TEST(test_migrates_version_1_file_keeping_blocks)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    int32_t t[2 * B];
    fill_tokens(t, 2 * B, 60);
    put_chain(s, "m", t, 2, BLK, 3);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_close(s);
    sqlite3 *db = raw_open();           /* turn the file back into version 1 */
    raw_exec(db, "DROP TABLE docs; DROP INDEX blocks_lru;"
                 " UPDATE meta SET value=1 WHERE key='schema_version'");
    sqlite3_close(db);

    s = open_store(&o);
    kvc_stats st;
    kvc_get_stats(s, &st);
    ck_assert_int_eq(st.schema_version, KVC_SCHEMA_VERSION);
    ck_assert_int_eq(found(s, "m", t, 2 * B), 2);
    kvc_close(s);
    ck_assert_int_eq(db_int("SELECT value FROM meta WHERE key='schema_version'"), KVC_SCHEMA_VERSION);
    ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master WHERE name IN ('docs','blocks_lru')"), 2);
    ck_assert_int_eq(log.n, 0);
}
END_TEST

START_TEST(test_clear_and_vacuum_shrink_the_file)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    int32_t t[20 * B];
    fill_tokens(t, 20 * B, 70);
    put_chain(s, "m", t, 20, 64 * 1024, 0);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_stats before, after;
    kvc_get_stats(s, &before);
    ck_assert_uint_ge(before.db_file_bytes, 20 * 64 * 1024);
    ck_assert_int_eq(kvc_clear(s), KVC_OK);
    kvc_get_stats(s, &after);
    ck_assert_uint_eq(after.db_blocks, 0);
    ck_assert_uint_eq(after.mem_blocks, 0);
    ck_assert_uint_lt(after.db_file_bytes, 256 * 1024);
    ck_assert_int_eq(found(s, "m", t, 20 * B), 0);
    put_chain(s, "m", t, 2, BLK, 0);
    ck_assert_int_eq(kvc_vacuum(s), KVC_OK);
    ck_assert_int_eq(found(s, "m", t, 20 * B), 2);
    kvc_close(s);
    ck_assert_int_eq(db_int("SELECT value FROM meta WHERE key='usage'"), 2 * BLK);
}
END_TEST

START_TEST(test_full_queue_drops_writes_and_never_blocks)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    o.queue_bytes = 4 * BLK;
    o.busy_ms = 1000;               /* a blocking put would wait this long */
    kvc_store *s = open_store(&o);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);   /* past the startup check */
    sqlite3 *db = raw_open();
    raw_exec(db, "BEGIN IMMEDIATE");                   /* the writer will stall */
    int32_t t[40 * B];
    fill_tokens(t, 40 * B, 80);
    double worst = 0;
    kvc_key keys[40];
    kvc_chain(s, "m", t, 40 * B, keys, 40);
    for (int i = 0; i < 40; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        kvc_put(s, "m", &keys[i], make_block(KVC_F16, BLK, (uint32_t)i));
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
        if (ms > worst) worst = ms;
    }
    ck_assert_msg(worst < 150, "a put waited %.1f ms", worst);
    kvc_stats st;
    kvc_get_stats(s, &st);
    ck_assert_uint_ge(st.dropped, 30);
    ck_assert_int_eq(found(s, "m", t, 40 * B), 40);    /* memory still has them all */
    raw_exec(db, "COMMIT");
    sqlite3_close(db);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_close(s);
}
END_TEST

START_TEST(test_creates_directory_0700_and_file_0600)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    char path[400];
    snprintf(path, sizeof path, "%s/a/b/kv.sqlite3", g_dir);
    o.path = path;
    mode_t old = umask(022);
    kvc_store *s = open_store(&o);
    umask(old);
    ck_assert_int_eq(kvc_store_mode(s), KVC_MODE_RW);
    int32_t t[B];
    fill_tokens(t, B, 1);
    put_chain(s, "m", t, 1, BLK, 0);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    struct stat st;
    char p[450];
    snprintf(p, sizeof p, "%s/a/b", g_dir);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s-wal", path);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    kvc_close(s);
}
END_TEST

START_TEST(test_default_path_and_sizes)
{
    char buf[512];
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    ck_assert_str_eq(kvc_default_path(buf, sizeof buf), "/x/cache/sparkd/kv.sqlite3");
    setenv("XDG_CACHE_HOME", "relative", 1);         /* the spec says: ignore */
    setenv("HOME", "/home/u", 1);
    ck_assert_str_eq(kvc_default_path(buf, sizeof buf), "/home/u/.cache/sparkd/kv.sqlite3");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    ck_assert_ptr_null(kvc_default_path(buf, sizeof buf));
    ck_assert_int_eq(kvc_parse_size("1G"), 1LL << 30);
    ck_assert_int_eq(kvc_parse_size("512M"), 512LL << 20);
    ck_assert_int_eq(kvc_parse_size("64KiB"), 64LL << 10);
    ck_assert_int_eq(kvc_parse_size("12345"), 12345);
    ck_assert_int_eq(kvc_parse_size("1.5G"), -1);
    ck_assert_int_eq(kvc_parse_size("-1"), -1);
    ck_assert_int_eq(kvc_parse_size("G"), -1);
    ck_assert_int_eq(kvc_parse_size("99999999999T"), -1);
}
END_TEST

/* Runs cmd_cache in a child with stdout/stderr to a file; returns the exit
 * code and the output in out. */
static int run_cli(char **argv, int argc, char *out, size_t len)
{
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s/cli.out", g_dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(tmp, "w", stdout)) _exit(99);
        dup2(fileno(stdout), 2);
        int rc = cmd_cache(argc, argv);
        fflush(stdout);
        _exit(rc);
    }
    int status;
    waitpid(pid, &status, 0);
    FILE *f = fopen(tmp, "r");
    size_t n = f ? fread(out, 1, len - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_cli_stats_clear_vacuum_and_exit_codes)
{
    test_log log = { 0 };
    kvc_options o = opts(&log);
    kvc_store *s = open_store(&o);
    int32_t t[3 * B];
    fill_tokens(t, 3 * B, 90);
    put_chain(s, "m", t, 3, BLK, 0);
    ck_assert_int_eq(kvc_flush(s, 10000), KVC_OK);
    kvc_close(s);
    char out[4096];
    char *a1[] = { "stats", "--cache", g_db };
    ck_assert_int_eq(run_cli(a1, 3, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "blocks      3,") && strstr(out, "1 model"), "%s", out);
    char *a2[] = { "vacuum", "--cache", g_db, "--cache-size", "8K" };
    ck_assert_int_eq(run_cli(a2, 5, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "1 blocks left"), "%s", out);
    char *a3[] = { "clear", "--cache", g_db };
    ck_assert_int_eq(run_cli(a3, 3, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "0 blocks left"), "%s", out);
    char *a4[] = { "--help" };
    ck_assert_int_eq(run_cli(a4, 1, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: sparkd cache"));
    char *a5[] = { "frobnicate" };
    ck_assert_int_eq(run_cli(a5, 1, out, sizeof out), 2);
    ck_assert_int_eq(run_cli(a5, 0, out, sizeof out), 2);
    char *a6[] = { "stats", "--cache" };
    ck_assert_int_eq(run_cli(a6, 2, out, sizeof out), 2);
    char *a7[] = { "vacuum", "--cache-size", "lots" };
    ck_assert_int_eq(run_cli(a7, 3, out, sizeof out), 2);
    char *a8[] = { "stats", "--bogus" };
    ck_assert_int_eq(run_cli(a8, 2, out, sizeof out), 2);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.sqlite3", g_dir);
    char *a9[] = { "stats", "--cache", missing };
    ck_assert_int_eq(run_cli(a9, 3, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "no cache at"));
    ck_assert_int_eq(access(missing, F_OK), -1);      /* stats never creates it */
    sqlite3 *db = raw_open();
    raw_exec(db, "UPDATE meta SET value=99 WHERE key='schema_version'");
    sqlite3_close(db);
    ck_assert_int_eq(run_cli(a3, 3, out, sizeof out), 1);     /* newer schema: refuse */
    ck_assert_msg(strstr(out, "schema version 99"), "%s", out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kvc");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_siphash128_reference_vectors);
    tcase_add_test(tc, test_checksum_detects_every_single_byte_change);
    tcase_add_test(tc, test_chain_keys_share_exactly_the_common_prefix);
    tcase_add_test(tc, test_roundtrip_blocks_bit_exact_across_reopen);
    tcase_add_test(tc, test_memory_tier_serves_repeat_lookups_without_sqlite);
    tcase_add_test(tc, test_memory_tier_evicts_chain_ends_first);
    tcase_add_test(tc, test_longest_prefix_after_edits_at_start_middle_end);
    tcase_add_test(tc, test_two_processes_share_one_database);
    tcase_add_test(tc, test_eviction_removes_least_recently_used_first);
    tcase_add_test(tc, test_eviction_of_a_chain_used_at_once_starts_at_its_end);
    tcase_add_test(tc, test_document_record_round_trip);
    tcase_add_test(tc, test_migrates_version_1_file_keeping_blocks);
    tcase_add_test(tc, test_clear_and_vacuum_shrink_the_file);
    tcase_add_test(tc, test_full_queue_drops_writes_and_never_blocks);
    tcase_add_test(tc, test_creates_directory_0700_and_file_0600);
    tcase_add_test(tc, test_default_path_and_sizes);
    tcase_add_test(tc, test_cli_stats_clear_vacuum_and_exit_codes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(suite(), CK_ENV) ? EXIT_FAILURE : EXIT_SUCCESS;
}
