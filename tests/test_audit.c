/* Unit tests of the audit bootstrap machinery (host/fid/bootstrap.c):
 *  1. the per-replicate streams are reproducible, distinct and uniform enough;
 *  2. percentiles follow numpy's default ('linear') definition (values computed by hand);
 *  3. cs_bootstrap_fids equals, replicate by replicate, the FID of the explicitly gathered
 *     resampled rows through an independent code path (cs_fid_lowrank on copies of the rows,
 *     not the shared Gram matrix), and is bitwise identical with 1 and 2 threads. */
#include "copyscope/audit.h"
#include "copyscope/frechet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void test_rng(void) {
    cs_rng a, b, c;
    cs_rng_init(&a, 42, 7);
    cs_rng_init(&b, 42, 7);
    cs_rng_init(&c, 42, 8);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = cs_rng_next(&a), y = cs_rng_next(&b), z = cs_rng_next(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same, "same (seed, stream) gave different numbers");
    CHECK(diff == 100, "neighbouring streams collide (%d of 100 differ)", diff);
    /* uniformity of resampled indices: chi-square with 9 degrees of freedom; 100000 draws.
     * The 99.99th percentile of chi2(9) is 33.7: a correct generator fails 1 time in 10^4 (and
     * the stream is fixed, so the test is deterministic). */
    enum { N = 10, M = 100000 };
    int64_t *idx = malloc(M * sizeof *idx);
    long cnt[N] = {0};
    cs_rng r;
    cs_rng_init(&r, 1, 0);
    cs_rng_resample(&r, N, idx, M);
    int in_range = 1;
    for (int i = 0; i < M; i++) {
        in_range &= idx[i] >= 0 && idx[i] < N;
        if (idx[i] >= 0 && idx[i] < N) cnt[idx[i]]++;
    }
    double chi2 = 0.0;
    for (int k = 0; k < N; k++) chi2 += (cnt[k] - M / (double)N) * (cnt[k] - M / (double)N) / (M / (double)N);
    CHECK(in_range, "resampled index out of range");
    CHECK(chi2 < 33.7, "resampled indices not uniform: chi2 = %g", chi2);
    free(idx);
}

static void test_percentile(void) {
    double x[5] = {5, 1, 4, 2, 3};
    cs_audit_ci ci;
    cs_ci_compute(x, 5, &ci);
    /* numpy: np.percentile([1,2,3,4,5], [2.5, 97.5]) = [1.1, 4.9]; np.std(ddof=1) = sqrt(2.5) */
    CHECK(fabs(ci.lo - 1.1) < 1e-14 && fabs(ci.hi - 4.9) < 1e-14, "percentiles [%g, %g]", ci.lo, ci.hi);
    CHECK(fabs(ci.se - sqrt(2.5)) < 1e-14, "std error %g", ci.se);
    double y[1] = {3};
    cs_ci_compute(y, 1, &ci);
    CHECK(ci.lo == 3 && ci.hi == 3 && isnan(ci.se), "one replicate");
}

static void test_bootstrap_fids(void) {
    enum { D = 48, NR = 20, NS = 3, B = 6 };
    const int64_t ns[NS] = {12, 17, 25};
    float *ref = malloc((size_t)NR * D * sizeof(float));
    float *sets[NS];
    cs_rng g;
    cs_rng_init(&g, 9, 0);
    for (int i = 0; i < NR * D; i++) ref[i] = (float)((double)(cs_rng_next(&g) >> 11) / 9007199254740992.0);
    for (int k = 0; k < NS; k++) {
        sets[k] = malloc((size_t)ns[k] * D * sizeof(float));
        for (int i = 0; i < ns[k] * D; i++)
            sets[k][i] = (float)((double)(cs_rng_next(&g) >> 11) / 9007199254740992.0 * (1 + k) + 0.1 * k);
    }
    double rep1[B * NS], rep2[B * NS];
    cs_status st = cs_bootstrap_fids(ref, NR, (const float *const *)sets, ns, NS, D, B, 77, 1, 0, rep1);
    CHECK(st == CS_OK, "cs_bootstrap_fids: %s", cs_last_error());
    st = cs_bootstrap_fids(ref, NR, (const float *const *)sets, ns, NS, D, B, 77, 2, 0, rep2);
    CHECK(st == CS_OK, "cs_bootstrap_fids (2 threads): %s", cs_last_error());
    CHECK(memcmp(rep1, rep2, sizeof rep1) == 0, "1 and 2 threads differ");
    /* independent: gather the rows of the documented streams and use cs_fid_lowrank */
    float *xr = malloc((size_t)NR * D * sizeof(float)), *xs = malloc((size_t)25 * D * sizeof(float));
    int64_t ir[NR], is[25];
    double worst = 0.0;
    for (int r = 0; r < B; r++) {
        cs_rng s;
        cs_rng_init(&s, 77, (uint64_t)r);
        cs_rng_resample(&s, NR, ir, NR);
        for (int a = 0; a < NR; a++) memcpy(xr + (size_t)a * D, ref + (size_t)ir[a] * D, D * sizeof(float));
        for (int k = 0; k < NS; k++) {
            cs_rng_resample(&s, ns[k], is, ns[k]);
            for (int a = 0; a < ns[k]; a++)
                memcpy(xs + (size_t)a * D, sets[k] + (size_t)is[a] * D, D * sizeof(float));
            cs_fid_result res;
            st = cs_fid_lowrank(xr, NR, xs, ns[k], D, &res);
            CHECK(st == CS_OK, "cs_fid_lowrank: %s", cs_last_error());
            double e = fabs(res.fid - rep1[r * NS + k]) / fabs(res.fid);
            worst = e > worst ? e : worst;
        }
    }
    /* both are exact float64 evaluations of the same FID (Gram vs centred rows): agreement to
     * ~1e-13 relative is expected; 1e-10 leaves room for ill-conditioned resamples */
    CHECK(worst < 1e-10, "bootstrap FID vs gathered rows: worst relative difference %.3g", worst);
    printf("bootstrap FIDs vs gathered rows: worst relative difference %.3g\n", worst);
    free(xr);
    free(xs);
    free(ref);
    for (int k = 0; k < NS; k++) free(sets[k]);
}

int main(void) {
    test_rng();
    test_percentile();
    test_bootstrap_fids();
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
