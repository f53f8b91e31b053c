/* Thread pool test: every index of a parallel-for runs exactly once (n = 0, 1, fewer and
 * far more items than threads, uneven item costs), worker ids stay in range, results
 * (sums) match the serial ones exactly (integers), and async jobs can be waited in any
 * order. Pool sizes 0 (CPU count), 1 (inline), 2, 4, 7. */
#include "core/threadpool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct ctx {
    atomic_int *hits;       /* (n) times each index ran */
    atomic_llong sum;       /* sum of i*i */
    int nthreads;
    atomic_int bad_worker;
    int slow;               /* sleep on some items to unbalance the load */
} ctx;

static void item(void *vc, size_t i, int worker) {
    ctx *c = vc;
    atomic_fetch_add(&c->hits[i], 1);
    atomic_fetch_add(&c->sum, (long long)(i * i));
    if (worker < 0 || worker >= c->nthreads) atomic_store(&c->bad_worker, 1);
    if (c->slow && i % 17 == 0) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

#include "check.h"

static ctx *ctx_new(size_t n, int nthreads, int slow) {
    ctx *c = calloc(1, sizeof *c);
    c->hits = calloc(n + 1, sizeof *c->hits);
    c->nthreads = nthreads;
    c->slow = slow;
    return c;
}

static void ctx_check(ctx *c, size_t n, const char *what) {
    long long want = 0;
    for (size_t i = 0; i < n; i++) {
        want += (long long)(i * i);
        CHECK(c->hits[i] == 1, "%s: item %zu ran %d times", what, i, (int)c->hits[i]);
    }
    CHECK(c->sum == want, "%s: sum %lld, expected %lld", what, (long long)c->sum, want);
    CHECK(!c->bad_worker, "%s: worker id out of range", what);
    free(c->hits);
    free(c);
}

int main(void) {
    const int sizes[] = {0, 1, 2, 4, 7};
    const size_t ns[] = {0, 1, 3, 1000, 100000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        cs_threadpool *pool = cs_threadpool_create(sizes[s]);
        CHECK(pool != NULL, "create(%d) failed", sizes[s]);
        if (!pool) continue;
        int nt = cs_threadpool_nthreads(pool);
        CHECK(sizes[s] <= 1 ? nt >= 1 : nt == sizes[s], "nthreads %d for create(%d)", nt, sizes[s]);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            for (int slow = 0; slow < 2; slow++) {
                if (slow && ns[k] > 1000) continue;
                char what[64];
                snprintf(what, sizeof what, "pool %d, n %zu, slow %d", sizes[s], ns[k], slow);
                ctx *c = ctx_new(ns[k], nt, slow);
                CHECK(cs_threadpool_for(pool, ns[k], item, c) == CS_OK, "%s: for failed", what);
                ctx_check(c, ns[k], what);
            }
        }
        /* async: three jobs in flight, waited in reverse order, plus an empty one */
        ctx *a = ctx_new(5000, nt, 0), *b = ctx_new(300, nt, 1), *e = ctx_new(0, nt, 0);
        ctx *d = ctx_new(7, nt, 0);
        cs_threadpool_job *ja, *jb, *je;
        CHECK(cs_threadpool_submit(pool, 5000, item, a, &ja) == CS_OK, "submit a");
        CHECK(cs_threadpool_submit(pool, 300, item, b, &jb) == CS_OK, "submit b");
        CHECK(cs_threadpool_submit(pool, 0, item, e, &je) == CS_OK, "submit e");
        CHECK(cs_threadpool_for(pool, 7, item, d) == CS_OK, "for d behind async jobs");
        cs_threadpool_wait(je);
        cs_threadpool_wait(jb);
        cs_threadpool_wait(ja);
        cs_threadpool_wait(NULL);
        ctx_check(a, 5000, "async a");
        ctx_check(b, 300, "async b");
        ctx_check(e, 0, "async empty");
        ctx_check(d, 7, "for behind async");
        cs_threadpool_free(pool);
    }
    /* NULL pool runs inline */
    ctx *c = ctx_new(10, 1, 0);
    CHECK(cs_threadpool_for(NULL, 10, item, c) == CS_OK, "for on NULL pool");
    ctx_check(c, 10, "NULL pool");
    cs_threadpool_free(NULL);
    printf("thread pool: %s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
