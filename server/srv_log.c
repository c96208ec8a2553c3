/* srv_log.c — leveled logging to stderr or a file; see srv_log.h. */
#include "srv_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The process-wide log (documented singleton). */
static struct {
    srv_log_level level;
    FILE *file;            /* NULL: stderr */
    srv_log_hook hook;
    void *hook_ud;
    pthread_t hook_thread;  /* the hook runs only on the thread that set it */
    int in_hook;           /* the hook may log; never recurse into it */
} g_log = { .level = SRV_LOG_INFO };

static const char *const LEVEL_NAMES[] = { "error", "warn", "info", "debug", "trace" };

int srv_log_level_parse(const char *name, srv_log_level *out)
{
    for (int i = 0; i < (int)(sizeof LEVEL_NAMES / sizeof *LEVEL_NAMES); i++)
        if (name && !strcmp(name, LEVEL_NAMES[i])) { *out = (srv_log_level)i; return 0; }
    if (name && !strcmp(name, "warning")) { *out = SRV_LOG_WARN; return 0; }
    return -1;
}

const char *srv_log_level_name(srv_log_level l)
{
    return (unsigned)l < sizeof LEVEL_NAMES / sizeof *LEVEL_NAMES ? LEVEL_NAMES[l] : "?";
}

void srv_log_set_level(srv_log_level l) { g_log.level = l; }
srv_log_level srv_log_get_level(void) { return g_log.level; }

int srv_log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    /* the log may quote code: an older log file of ours that others can
     * read is made private too (not a terminal or a pipe given as path) */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077))
        fchmod(fd, 0600);
    FILE *f = fdopen(fd, "a");
    if (!f) { int e = errno; close(fd); errno = e; return -1; }
    setvbuf(f, NULL, _IOLBF, 0);
    srv_log_close();
    g_log.file = f;
    return 0;
}

void srv_log_close(void)
{
    if (g_log.file) fclose(g_log.file);
    g_log.file = NULL;
}

void srv_log_set_hook(srv_log_hook fn, void *ud)
{
    g_log.hook = fn;
    g_log.hook_ud = ud;
    g_log.hook_thread = pthread_self();
}

void srv_logv(srv_log_level l, const char *fmt, va_list ap)
{
    if (l > g_log.level) return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    FILE *out = g_log.file ? g_log.file : stderr;
    fprintf(out, "%02d:%02d:%02d.%03ld sparkd %-5s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, srv_log_level_name(l), msg);
    if (g_log.hook && !g_log.in_hook && pthread_equal(pthread_self(), g_log.hook_thread)) {
        g_log.in_hook = 1;
        g_log.hook(g_log.hook_ud, l, msg);
        g_log.in_hook = 0;
    }
}

void srv_log(srv_log_level l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    srv_logv(l, fmt, ap);
    va_end(ap);
}
