/* kvc_cli.c — `sparkd cache stats|clear|vacuum`: look at, empty or compact
 * the KV cache file. Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "kvc.h"

static const char USAGE[] =
    "usage: sparkd cache stats|clear|vacuum [--cache PATH] [--cache-size N]\n"
    "\n"
    "The SQLite file of cached prompt prefixes (KV states), shared by every\n"
    "sparkd of this user. It is only a cache: clearing it is always safe.\n"
    "\n"
    "  stats    where it is, its size, blocks, models and documents\n"
    "  clear    delete every cached block and document, then compact the file\n"
    "  vacuum   evict the least recently used blocks down to the size cap,\n"
    "           then compact the file\n"
    "\n"
    "options:\n"
    "  --cache PATH      the cache file (default $XDG_CACHE_HOME/sparkd/kv.sqlite3,\n"
    "                    else ~/.cache/sparkd/kv.sqlite3)\n"
    "  --cache-size N    size cap in bytes, K/M/G suffixes allowed (default 1G)\n"
    "  -h, --help        this text\n";

typedef struct { char msg[512]; } cli_log;

static void log_first(void *ud, const char *msg)
{
    cli_log *l = ud;
    if (!l->msg[0]) snprintf(l->msg, sizeof l->msg, "%s", msg);
    fprintf(stderr, "sparkd cache: warning: %s\n", msg);
}

static const char *human(uint64_t b, char *buf, size_t len)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) { v /= 1024; u++; }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

static const char *mode_name(kvc_mode m)
{
    return m == KVC_MODE_RW ? "read-write" : m == KVC_MODE_RO ? "read-only" : "unusable";
}

static int do_stats(kvc_store *s)
{
    kvc_stats st;
    char a[32], b[32], c[32];
    kvc_get_stats(s, &st);
    printf("cache       %s (%s)\n", kvc_store_path(s), mode_name(st.mode));
    printf("schema      version %d (this sparkd: %d)\n", st.schema_version, KVC_SCHEMA_VERSION);
    printf("file        %s (database + WAL)\n", human(st.db_file_bytes, a, sizeof a));
    printf("blocks      %llu, %s of KV values, %llu model%s\n", (unsigned long long)st.db_blocks,
           human(st.db_bytes, b, sizeof b), (unsigned long long)st.db_models,
           st.db_models == 1 ? "" : "s");
    printf("documents   %llu\n", (unsigned long long)st.db_docs);
    printf("cap         %s\n", human(st.cap_bytes, c, sizeof c));
    printf("block       %d tokens\n", KVC_BLOCK_TOKENS);
    return 0;
}

int cmd_cache(int argc, char **argv)
{
    const char *action = NULL, *path = NULL;
    int64_t cap = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!strcmp(a, "--cache") || !strcmp(a, "--cache-size")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sparkd cache: '%s' needs a value\n%s", a, USAGE);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--cache")) {
                path = v;
            } else if ((cap = kvc_parse_size(v)) <= 0) {
                fprintf(stderr, "sparkd cache: --cache-size '%s' is not a size (try 512M, 2G)\n", v);
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "sparkd cache: unknown option '%s'\n%s", a, USAGE);
            return 2;
        } else if (!action) {
            action = a;
        } else {
            fprintf(stderr, "sparkd cache: unexpected argument '%s'\n%s", a, USAGE);
            return 2;
        }
    }
    if (!action) {
        fputs(USAGE, stderr);
        return 2;
    }
    int stats = !strcmp(action, "stats");
    if (!stats && strcmp(action, "clear") && strcmp(action, "vacuum")) {
        fprintf(stderr, "sparkd cache: unknown action '%s' (stats, clear or vacuum)\n", action);
        return 2;
    }
    char def[4096];
    if (!path && !(path = kvc_default_path(def, sizeof def))) {
        fprintf(stderr, "sparkd cache: no --cache given and neither XDG_CACHE_HOME nor HOME is set\n");
        return 1;
    }
    if (access(path, F_OK)) {
        printf("no cache at %s%s\n", path, stats ? "" : "; nothing to do");
        return 0;
    }

    cli_log log = { { 0 } };
    kvc_options o = { .path = path, .cap_bytes = (uint64_t)cap, .readonly = stats,
                      .no_check = 1, .log = log_first, .log_ud = &log };
    char err[256];
    kvc_store *s = kvc_open(&o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sparkd cache: %s\n", err);
        return 1;
    }
    int rc = 0;
    kvc_mode m = kvc_store_mode(s);
    if (m == KVC_MODE_MEMORY || (!stats && m != KVC_MODE_RW)) {
        fprintf(stderr, "sparkd cache: cannot %s %s%s%s\n", stats ? "read" : "write", path,
                log.msg[0] ? ": " : "", log.msg);
        rc = 1;
    } else if (stats) {
        rc = do_stats(s);
    } else {
        kvc_stats before, after;
        char a[32], b[32];
        kvc_get_stats(s, &before);
        int r = !strcmp(action, "clear") ? kvc_clear(s) : kvc_vacuum(s);
        kvc_get_stats(s, &after);
        if (r != KVC_OK) {
            fprintf(stderr, "sparkd cache: %s of %s failed%s%s\n", action, path,
                    log.msg[0] ? ": " : "", log.msg);
            rc = 1;
        } else {
            printf("%s: %s -> %s, %llu blocks left\n", action, human(before.db_file_bytes, a, sizeof a),
                   human(after.db_file_bytes, b, sizeof b), (unsigned long long)after.db_blocks);
        }
    }
    kvc_close(s);
    return rc;
}
