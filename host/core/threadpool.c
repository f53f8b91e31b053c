/* Small pthread pool: FIFO of jobs, each a range [0, n) whose indices workers claim one at
 * a time under the pool mutex (items here are whole images or batches: milliseconds each,
 * so a mutex per item costs nothing measurable). */
#include "core/threadpool.h"
#include "core/common.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

struct cs_threadpool_job {
    cs_threadpool *pool;
    cs_threadpool_fn fn;
    void *ctx;
    size_t n, next, done; /* items: total, claimed, finished (guarded by pool->mu) */
    struct cs_threadpool_job *qnext;
};

struct cs_threadpool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a job was queued or stop was set */
    pthread_cond_t done_cv; /* some job finished its last item */
    cs_threadpool_job *head, *tail; /* jobs with unclaimed items */
    int stop;
    int nthreads, nstarted;
    pthread_t *threads; /* (nthreads) */
};

typedef struct worker_arg {
    cs_threadpool *pool;
    int id;
} worker_arg;

static void *worker_main(void *varg) {
    worker_arg *arg = varg;
    cs_threadpool *pool = arg->pool;
    int id = arg->id;
    free(arg);
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->head && !pool->stop) pthread_cond_wait(&pool->work_cv, &pool->mu);
        if (!pool->head) break; /* stop, and nothing left to claim */
        cs_threadpool_job *job = pool->head;
        size_t i = job->next++;
        if (job->next == job->n) { /* last item claimed: dequeue */
            pool->head = job->qnext;
            if (!pool->head) pool->tail = NULL;
        }
        pthread_mutex_unlock(&pool->mu);
        job->fn(job->ctx, i, id);
        pthread_mutex_lock(&pool->mu);
        if (++job->done == job->n) pthread_cond_broadcast(&pool->done_cv);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

cs_threadpool *cs_threadpool_create(int nthreads) {
    if (nthreads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = ncpu > 0 ? (int)ncpu : 1;
    }
    cs_threadpool *pool = cs_calloc(1, sizeof *pool, "thread pool");
    if (!pool) return NULL;
    pool->nthreads = nthreads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    if (nthreads <= 1) return pool; /* inline pool */
    pool->threads = cs_calloc((size_t)nthreads, sizeof *pool->threads, "thread pool threads");
    if (!pool->threads) goto fail;
    for (int t = 0; t < nthreads; t++) {
        worker_arg *arg = cs_malloc(sizeof *arg, "thread pool worker");
        if (!arg) goto fail;
        arg->pool = pool;
        arg->id = t;
        int rc = pthread_create(&pool->threads[t], NULL, worker_main, arg);
        if (rc != 0) {
            free(arg);
            CS_FAIL(CS_E_INTERNAL, "thread pool: cannot start thread %d of %d: %s", t, nthreads,
                    strerror(rc));
            goto fail;
        }
        pool->nstarted++;
    }
    return pool;
fail:
    cs_threadpool_free(pool);
    return NULL;
}

void cs_threadpool_free(cs_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int t = 0; t < pool->nstarted; t++) pthread_join(pool->threads[t], NULL);
    pthread_cond_destroy(&pool->done_cv);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

int cs_threadpool_nthreads(const cs_threadpool *pool) {
    return pool && pool->nstarted > 1 ? pool->nstarted : 1;
}

cs_status cs_threadpool_submit(cs_threadpool *pool, size_t n, cs_threadpool_fn fn, void *ctx,
                               cs_threadpool_job **job) {
    *job = NULL;
    cs_threadpool_job *j = cs_calloc(1, sizeof *j, "thread pool job");
    if (!j) return CS_E_NOMEM;
    j->pool = pool;
    j->fn = fn;
    j->ctx = ctx;
    j->n = n;
    if (!pool || pool->nstarted <= 1 || n == 0) {
        for (size_t i = 0; i < n; i++) fn(ctx, i, 0);
        j->next = j->done = n;
        *job = j;
        return CS_OK;
    }
    pthread_mutex_lock(&pool->mu);
    if (pool->tail) pool->tail->qnext = j;
    else pool->head = j;
    pool->tail = j;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    *job = j;
    return CS_OK;
}

void cs_threadpool_wait(cs_threadpool_job *job) {
    if (!job) return;
    cs_threadpool *pool = job->pool;
    if (pool && pool->nstarted > 1) { /* inline jobs completed inside submit */
        pthread_mutex_lock(&pool->mu);
        while (job->done < job->n) pthread_cond_wait(&pool->done_cv, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
    free(job);
}

cs_status cs_threadpool_for(cs_threadpool *pool, size_t n, cs_threadpool_fn fn, void *ctx) {
    if (n == 0) return CS_OK;
    cs_threadpool_job *job;
    CS_TRY(cs_threadpool_submit(pool, n, fn, ctx, &job));
    cs_threadpool_wait(job);
    return CS_OK;
}
