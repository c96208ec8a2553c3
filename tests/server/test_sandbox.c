/* test_sandbox.c — the seccomp filter of `sparkd lsp` refuses sockets and
 * exec with EPERM while what the daemon needs keeps working; its log file is
 * private.
 *
 * A filter cannot be removed, so every sandbox test installs it in a child
 * of its own (whether or not Check forks) and reports back through a pipe:
 * "" for success, else what went wrong.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kvc.h"
#include "srv_log.h"
#include "srv_sandbox.h"
#include "../check_run.h"

static char g_dir[256];
static int g_report = -1;       /* the child's end of the pipe */

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/sparkd-sandbox-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* In the child: reports a failure and exits. */
static void fail_child(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (write(g_report, msg, n < (int)sizeof msg ? (size_t)n : sizeof msg - 1) < 0) _exit(3);
    _exit(1);
}

#define CHILD_CHECK(cond, ...) do { if (!(cond)) fail_child(__VA_ARGS__); } while (0)

/* Runs body in a child with the filter installed (after `before`, which may
 * be NULL, ran there without it); fails the test with the child's report. */
static void run_sandboxed(void (*before)(void), void (*body)(void))
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        g_report = p[1];
        if (before) before();
        char err[256];
        if (srv_sandbox_install(err, sizeof err)) fail_child("srv_sandbox_install: %s", err);
        body();
        _exit(0);
    }
    close(p[1]);
    char msg[512] = "";
    ssize_t n = read(p[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    close(p[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sandboxed child: %s (status 0x%x)",
                  msg[0] ? msg : "died", st);
}

// ---------------------------------------------------------------- refused

static void expect_socket_refused(int domain, int type, const char *name)
{
    errno = 0;
    int fd = socket(domain, type, 0);
    CHILD_CHECK(fd < 0 && errno == EPERM, "socket(%s) gave fd %d, errno %d (%s); want -1 EPERM", name, fd,
                errno, strerror(errno));
}

static void sockets_refused(void)
{
    expect_socket_refused(AF_INET, SOCK_STREAM, "AF_INET, SOCK_STREAM");
    expect_socket_refused(AF_INET, SOCK_DGRAM, "AF_INET, SOCK_DGRAM");
    expect_socket_refused(AF_INET6, SOCK_STREAM, "AF_INET6");
    expect_socket_refused(AF_NETLINK, SOCK_RAW, "AF_NETLINK");
    expect_socket_refused(AF_PACKET, SOCK_RAW, "AF_PACKET");
    expect_socket_refused(AF_UNIX, SOCK_STREAM, "AF_UNIX");   /* nothing in sparkd needs one */
}

/* Without the filter the same call works: the test can tell the two apart. */
static void socket_works_before(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHILD_CHECK(fd >= 0, "socket(AF_UNIX) fails even without the filter: %s", strerror(errno));
    close(fd);
}

START_TEST(test_sandbox_refuses_sockets_with_eperm)
{
    run_sandboxed(socket_works_before, sockets_refused);
}
END_TEST

/* The program run if exec were allowed exits 1: the test fails either way. */
static void exec_refused(void)
{
    char *const argv[] = { "false", NULL }, *const envp[] = { NULL };
    errno = 0;
    int rc = execve("/bin/false", argv, envp);
    CHILD_CHECK(rc < 0 && errno == EPERM, "execve returned %d errno %d (%s); want EPERM", rc, errno, strerror(errno));
    errno = 0;
    rc = (int)syscall(SYS_execveat, AT_FDCWD, "/bin/false", argv, envp, 0);
    CHILD_CHECK(rc < 0 && errno == EPERM, "execveat returned %d errno %d (%s); want EPERM", rc, errno,
                strerror(errno));
    /* a child forked later inherits the filter */
    pid_t pid = fork();
    CHILD_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) { execve("/bin/false", argv, envp); _exit(errno == EPERM ? 42 : 43); }
    int st;
    CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 42,
                "a forked grandchild could exec (status 0x%x)", st);
}

START_TEST(test_sandbox_refuses_exec_with_eperm)
{
    run_sandboxed(NULL, exec_refused);
}
END_TEST

// ---------------------------------------------------------------- threads

/* A thread started before the filter is covered too (TSYNC). */
static pthread_t g_early;
static int g_go[2], g_result = -1;

static void *early_thread(void *arg)
{
    char c;
    (void)arg;
    if (read(g_go[0], &c, 1) != 1) return NULL;
    errno = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    g_result = fd < 0 && errno == EPERM ? 0 : 1;
    if (fd >= 0) close(fd);
    return NULL;
}

static void start_early_thread(void)
{
    CHILD_CHECK(pipe(g_go) == 0, "pipe: %s", strerror(errno));
    CHILD_CHECK(pthread_create(&g_early, NULL, early_thread, NULL) == 0, "pthread_create failed");
}

static void early_thread_refused(void)
{
    CHILD_CHECK(write(g_go[1], "x", 1) == 1, "write: %s", strerror(errno));
    pthread_join(g_early, NULL);
    CHILD_CHECK(g_result == 0, "a thread started before the filter could still open an AF_INET socket");
}

START_TEST(test_sandbox_covers_threads_started_before_it)
{
    run_sandboxed(start_early_thread, early_thread_refused);
}
END_TEST

// ---------------------------------------------------------------- allowed

static void *thread_fn(void *arg) { return arg; }

static void cache_quiet(void *ud, const char *msg) { (void)ud; (void)msg; }

/* What the daemon does after start-up: model files (open, mmap), the SQLite
 * cache (WAL, locks, fsync, its writer thread), threads, eventfd. */
static void daemon_work_allowed(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/model.bin", g_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
    CHILD_CHECK(write(fd, "weights!", 8) == 8 && fsync(fd) == 0, "write/fsync: %s", strerror(errno));
    struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
    CHILD_CHECK(fcntl(fd, F_SETLK, &lk) == 0, "fcntl lock: %s", strerror(errno));
    void *m = mmap(NULL, 8, PROT_READ, MAP_SHARED, fd, 0);
    CHILD_CHECK(m != MAP_FAILED && !memcmp(m, "weights!", 8), "mmap: %s", strerror(errno));
    munmap(m, 8);
    close(fd);

    pthread_t th;
    void *ret = NULL;
    CHILD_CHECK(pthread_create(&th, NULL, thread_fn, path) == 0, "pthread_create failed");
    CHILD_CHECK(pthread_join(th, &ret) == 0 && ret == path, "pthread_join failed");
    int efd = eventfd(0, EFD_CLOEXEC);
    CHILD_CHECK(efd >= 0, "eventfd: %s", strerror(errno));
    close(efd);

    snprintf(path, sizeof path, "%s/cache/kv.sqlite3", g_dir);
    kvc_options o;
    memset(&o, 0, sizeof o);
    o.path = path;
    o.log = cache_quiet;
    char err[256];
    kvc_store *k = kvc_open(&o, err, sizeof err);
    CHILD_CHECK(k != NULL, "kvc_open: %s", err);
    CHILD_CHECK(kvc_store_mode(k) == KVC_MODE_RW, "the cache opened in mode %d, not read-write",
                (int)kvc_store_mode(k));
    kvc_close(k);
}

START_TEST(test_sandbox_allows_files_threads_and_the_cache)
{
    run_sandboxed(NULL, daemon_work_allowed);
}
END_TEST

// ---------------------------------------------------------------- log file

START_TEST(test_log_file_is_created_0600)
{
    char path[400];
    snprintf(path, sizeof path, "%s/new.log", g_dir);
    mode_t old = umask(0);      /* 0600 must come from sparkd, not the umask */
    int rc = srv_log_open_file(path);
    umask(old);
    ck_assert_int_eq(rc, 0);
    srv_log_close();
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_log_file_existing_readable_by_others_is_made_0600)
{
    char path[400];
    snprintf(path, sizeof path, "%s/old.log", g_dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    close(fd);
    ck_assert_int_eq(srv_log_open_file(path), 0);
    srv_log_close();
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_log_file_in_missing_directory_fails_with_errno)
{
    char path[400];
    snprintf(path, sizeof path, "%s/missing/x.log", g_dir);
    errno = 0;
    ck_assert_int_eq(srv_log_open_file(path), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_sandbox");
    TCase *tc = tcase_create("sandbox");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sandbox_refuses_sockets_with_eperm);
    tcase_add_test(tc, test_sandbox_refuses_exec_with_eperm);
    tcase_add_test(tc, test_sandbox_covers_threads_started_before_it);
    tcase_add_test(tc, test_sandbox_allows_files_threads_and_the_cache);
    tcase_add_test(tc, test_log_file_is_created_0600);
    tcase_add_test(tc, test_log_file_existing_readable_by_others_is_made_0600);
    tcase_add_test(tc, test_log_file_in_missing_directory_fails_with_errno);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
