/* srv_sandbox.c — the seccomp filter (libseccomp); see srv_sandbox.h. */
#include "srv_sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

/* Nothing in sparkd opens a socket of any family (no AF_UNIX either: libev
 * wakes up through eventfd, SQLite uses file locks) or starts a program.
 * io_uring is denied because its SOCKET/CONNECT operations are not seen by
 * seccomp. */
static const char *const DENIED[] = { "socket", "execve", "execveat", "io_uring_setup" };

const char *srv_sandbox_summary(void)
{
    return "socket, execve, execveat and io_uring_setup fail with EPERM";
}

int srv_sandbox_install(char *err, size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) { snprintf(err, errlen, "seccomp_init failed (out of memory)"); return -1; }
    char what[64] = "seccomp_load";
    /* threads that already exist get the filter too (no_new_privs is set
     * by libseccomp's default attributes). Without the seccomp() syscall
     * (old kernels, valgrind) there is no TSYNC: then the filter covers the
     * calling thread and the threads it starts later, which is all of them
     * when the caller keeps to the rule in srv_sandbox.h. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == -EOPNOTSUPP) rc = 0;
    if (rc) snprintf(what, sizeof what, "seccomp_attr_set(TSYNC)");
    for (size_t i = 0; rc == 0 && i < sizeof DENIED / sizeof *DENIED; i++) {
        int nr = seccomp_syscall_resolve_name(DENIED[i]);
        if (nr == __NR_SCMP_ERROR) continue;   /* unknown to this arch: cannot be called */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (rc) snprintf(what, sizeof what, "seccomp_rule_add(%s)", DENIED[i]);
    }
    if (rc == 0) rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc) {
        snprintf(err, errlen, "%s: %s (does the kernel have seccomp-bpf? --no-sandbox serves without "
                 "the filter)", what, strerror(-rc));
        return -1;
    }
    return 0;
}
