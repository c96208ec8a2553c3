/* faultinj.h — allocation-failure injection for unit tests (tests/faultinj.c).
 *
 * Linking faultinj.c into a test executable replaces malloc, calloc,
 * realloc, free, aligned_alloc, posix_memalign, memalign, strdup and strndup
 * for the whole process (the program, libc, jansson, SQLite). Each call goes
 * to the next allocator in symbol order (glibc's, or ASan's under ASan), so
 * the product code runs unchanged; the wrapper only adds two things:
 *
 *  - a countdown: faultinj_arm(n) makes the n-th allocation from now return
 *    NULL (one failure, then allocations succeed again);
 *  - a record of the blocks allocated while armed and not yet freed, so a
 *    test can tell whether an operation that failed half-way leaked.
 *
 * The sweep every test runs, for n = 1, 2, 3, ...: arm n, run the operation,
 * disarm; assert the result is a clean error or a clean success, that the
 * state is still usable, and that nothing allocated during the operation is
 * still live; stop at the first n whose operation made fewer than n
 * allocations (no fault fired). Counts are process-wide (every thread).
 */
#ifndef SPARKD_FAULTINJ_H
#define SPARKD_FAULTINJ_H

#include <stddef.h>

/* Starts a window: the n-th allocation from now fails (n = 0: none fails),
 * and blocks allocated from now on are recorded until freed (the record of
 * the previous window is dropped). */
void faultinj_arm(size_t n);
/* Ends the window: no more failures, no more recording. The recorded blocks
 * still live stay recorded, so faultinj_live() can be checked after the
 * caller frees what the operation returned. */
void faultinj_disarm(void);
/* 1 if the armed failure fired since the last faultinj_arm(). */
int faultinj_fired(void);
/* Allocations attempted since the last faultinj_arm() (failed one included). */
size_t faultinj_allocs(void);
/* Blocks allocated inside the last window and not freed since; -1 when the
 * record overflowed (more than FAULTINJ_MAX_LIVE blocks live at once). */
long faultinj_live(void);

#define FAULTINJ_MAX_LIVE 60000

#endif
