/* Internal: a small pthread pool with a dynamically scheduled parallel-for.
 *
 * Workers take item indices one at a time from the oldest job that still has unclaimed
 * items (FIFO between jobs), so a slow item never holds up the others. A pool of
 * nthreads <= 1 starts no thread: every job runs inline in the caller, in index order.
 * Do not call cs_threadpool_for / _wait from inside a job's fn on the same pool (the
 * workers would wait for themselves). */
#ifndef CS_THREADPOOL_H
#define CS_THREADPOOL_H

#include "copyscope/status.h"

#include <stddef.h>

typedef struct cs_threadpool cs_threadpool;
typedef struct cs_threadpool_job cs_threadpool_job;

/* fn(ctx, i, worker): process item i (0 <= i < n); worker in [0, nthreads) identifies the
 * calling thread (for per-worker scratch); it is 0 when running inline. */
typedef void (*cs_threadpool_fn)(void *ctx, size_t i, int worker);

/* nthreads <= 0 means the number of online CPUs. Returns NULL (message recorded) on failure. */
cs_threadpool *cs_threadpool_create(int nthreads);
void cs_threadpool_free(cs_threadpool *pool); /* waits for queued jobs; NULL-safe */
int cs_threadpool_nthreads(const cs_threadpool *pool); /* 1 for NULL or an inline pool */

/* Run fn for every i in [0, n) and return when all are done. pool may be NULL (inline). */
cs_status cs_threadpool_for(cs_threadpool *pool, size_t n, cs_threadpool_fn fn, void *ctx);

/* Asynchronous variant: queue the job and return at once; *job must be passed to
 * cs_threadpool_wait exactly once, which blocks until all n items are done and frees it.
 * With an inline pool the items run inside submit. */
cs_status cs_threadpool_submit(cs_threadpool *pool, size_t n, cs_threadpool_fn fn, void *ctx,
                               cs_threadpool_job **job);
void cs_threadpool_wait(cs_threadpool_job *job); /* NULL-safe */

#endif
