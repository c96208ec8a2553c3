/* pool.h — a small fixed thread pool for the host kernels: n-1 persistent
 * worker threads plus the calling thread run a parallel-for over an index
 * range. Workers spin briefly after each job (the next op of a forward pass
 * follows within microseconds), then sleep on a futex until the next job.
 *
 * One thread submits at a time (the device's owner); pool_for does not
 * nest. The pool owns its threads: pool_free joins them.
 */
#ifndef SPARKD_POOL_H
#define SPARKD_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct dev_pool dev_pool;

/* Runs indices [begin, end) of a job on thread `tid` (0 = the caller,
 * 1..n_threads-1 = the workers), so per-thread scratch can be indexed by it. */
typedef void (*pool_fn)(void *ctx, int64_t begin, int64_t end, int tid);

/* A pool of n_threads threads in all (the caller counts as one; n_threads
 * >= 1, so 1 means no worker threads). Returns NULL with a reason in err. */
dev_pool *pool_new(int n_threads, char *err, size_t errlen);
/* Stops and joins the workers and frees the pool. NULL is a no-op. */
void pool_free(dev_pool *p);
int pool_threads(const dev_pool *p);

/* Calls fn over [0, n) in chunks of `grain` indices (the last one shorter),
 * handed out dynamically to all threads, and returns when every chunk is
 * done. n <= grain runs on the caller alone without waking anyone. */
void pool_for(dev_pool *p, int64_t n, int64_t grain, pool_fn fn, void *ctx);

#endif
