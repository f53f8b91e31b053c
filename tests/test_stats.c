/* Statistics: batched adds and pairwise merges against a naive two-pass long-double reference,
 * and invariance of merged shards to split and order.
 *
 * Tolerances: the reference is computed in long double by the textbook two-pass formula; the
 * float64 streaming/merge results agree to ~1e-15 relative per entry, so 1e-12 (max abs diff over
 * max abs value, the brief's bound) leaves ample room yet fails on any algebra error (a wrong
 * weight in Chan's formula gives errors of order 1). */
#include "copyscope/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#include "test_rng.h"

/* max |a - b| / max |b| */
static double rel_diff(const double *a, const double *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return mb > 0 ? md / mb : md;
}

/* Naive two-pass reference in long double: mean (d), m2 (d, d). */
static void ref_stats(const float *x, int n, int d, double *mean, double *m2) {
    long double *mu = calloc((size_t)d, sizeof *mu);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mu[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mu[j] /= n;
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            long double s = 0;
            for (int i = 0; i < n; i++)
                s += ((long double)x[(size_t)i * d + a] - mu[a]) * ((long double)x[(size_t)i * d + b] - mu[b]);
            m2[(size_t)a * d + b] = (double)s;
        }
    for (int j = 0; j < d; j++) mean[j] = (double)mu[j];
    free(mu);
}

int main(void) {
    const int d = 48, n = 3000;
    /* features with a large common offset (100) and unequal scales: the case where a one-pass
     * sum-of-squares formula loses digits and Chan's update does not */
    float *x = malloc((size_t)n * d * sizeof(float)); /* (n, d) float32 */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = (float)(100.0 + (1.0 + j % 7) * nrand() + 0.3 * (i % 11));
    double *rmean = malloc(d * sizeof(double)), *rm2 = malloc((size_t)d * d * sizeof(double));
    ref_stats(x, n, d, rmean, rm2);

    /* 1. one add of all rows, and adds in uneven batches (incl. 1-row batches) */
    cs_stats *all = NULL;
    CHECK(cs_stats_init(&all, d) == CS_OK, "init");
    CHECK(cs_stats_add_f32(all, x, n) == CS_OK, "add");
    double e1 = rel_diff(all->mean, rmean, d), e2 = rel_diff(all->m2, rm2, (size_t)d * d);
    printf("single add: mean rel %.3g, m2 rel %.3g\n", e1, e2);
    CHECK(e1 <= 1e-12 && e2 <= 1e-12, "single add differs from the reference");
    CHECK(all->n == n, "n = %lld", (long long)all->n);
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++)
            CHECK(all->m2[(size_t)a * d + b] == all->m2[(size_t)b * d + a], "m2 not symmetric");

    cs_stats *bat = NULL;
    cs_stats_init(&bat, d);
    int sizes[] = {1, 1, 7, 500, 1024, 1025, 13, 1};
    int off = 0;
    for (int k = 0; off < n; k++) {
        int nb = sizes[k % 8];
        if (nb > n - off) nb = n - off;
        CHECK(cs_stats_add_f32(bat, x + (size_t)off * d, nb) == CS_OK, "batched add");
        off += nb;
    }
    e1 = rel_diff(bat->mean, rmean, d);
    e2 = rel_diff(bat->m2, rm2, (size_t)d * d);
    printf("batched add: mean rel %.3g, m2 rel %.3g\n", e1, e2);
    CHECK(e1 <= 1e-12 && e2 <= 1e-12, "batched add differs from the reference");

    /* 1b. bit-identical, not just close: calls of whole CS_STATS_CHUNK_ROWS multiples (the cached
     * path reads 2 chunks at a time) give the same bits as one call (the computed path) */
    {
        cs_stats *ch = NULL;
        cs_stats_init(&ch, d);
        int steps[] = {CS_STATS_CHUNK_ROWS, 2 * CS_STATS_CHUNK_ROWS};
        for (int o = 0, k = 0; o < n; k++) {
            int nb = steps[k % 2] < n - o ? steps[k % 2] : n - o;
            CHECK(cs_stats_add_f32(ch, x + (size_t)o * d, nb) == CS_OK, "chunk-aligned add");
            o += nb;
        }
        CHECK(n > 2 * CS_STATS_CHUNK_ROWS, "the test needs more than two chunks (n = %d)", n);
        CHECK(!memcmp(ch->mean, all->mean, d * sizeof(double)) &&
                  !memcmp(ch->m2, all->m2, (size_t)d * d * sizeof(double)),
              "chunk-aligned calls are not bit-identical to one call");
        printf("chunk-aligned adds: bit-identical to one add\n");
        cs_stats_free(ch);
    }

    /* 2. shards in several splits, merged in several orders */
    int splits[][6] = {{1500, 1500}, {1, 2999}, {2999, 1}, {100, 900, 2000}, {700, 2, 298, 1000, 1000}, {2, 2, 2, 2, 2992}};
    int nsplit[] = {2, 2, 2, 3, 5, 5};
    for (int s = 0; s < 6; s++) {
        cs_stats *parts[6] = {0};
        int o = 0;
        for (int p = 0; p < nsplit[s]; p++) {
            cs_stats_init(&parts[p], d);
            cs_stats_add_f32(parts[p], x + (size_t)o * d, splits[s][p]);
            o += splits[s][p];
        }
        for (int order = 0; order < 2; order++) { /* forward and reverse */
            cs_stats *acc = NULL;
            cs_stats_init(&acc, d);
            for (int p = 0; p < nsplit[s]; p++) {
                int q = order ? nsplit[s] - 1 - p : p;
                CHECK(cs_stats_merge(acc, parts[q]) == CS_OK, "merge: %s", cs_last_error());
            }
            e1 = rel_diff(acc->mean, all->mean, d);
            e2 = rel_diff(acc->m2, all->m2, (size_t)d * d);
            printf("split %d order %d: mean rel %.3g, m2 rel %.3g\n", s, order, e1, e2);
            CHECK(e1 <= 1e-12 && e2 <= 1e-12, "merged shards differ from the unsplit statistics");
            CHECK(acc->n == n, "merged n");
            cs_stats_free(acc);
        }
        /* tree order: (p0 + p1) + (p2 + ...) */
        if (nsplit[s] >= 3) {
            cs_stats *l = NULL, *r = NULL;
            cs_stats_clone(parts[0], &l);
            cs_stats_merge(l, parts[1]);
            cs_stats_clone(parts[2], &r);
            for (int p = 3; p < nsplit[s]; p++) cs_stats_merge(r, parts[p]);
            cs_stats_merge(r, l);
            e2 = rel_diff(r->m2, all->m2, (size_t)d * d);
            CHECK(e2 <= 1e-12, "tree merge m2 rel %.3g", e2);
            cs_stats_free(l);
            cs_stats_free(r);
        }
        for (int p = 0; p < nsplit[s]; p++) cs_stats_free(parts[p]);
    }

    /* 3. covariance = m2 / (n - 1) */
    double *cov = malloc((size_t)d * d * sizeof(double));
    CHECK(cs_stats_covariance(all, cov) == CS_OK, "covariance");
    CHECK(fabs(cov[5] - all->m2[5] / (n - 1)) <= 1e-15 * fabs(cov[5]), "covariance scale");

    /* 4. errors: NaN rows, mismatched dims, different extractors, n < 2, cov_only merges */
    cs_stats *t = NULL, *u = NULL;
    cs_stats_init(&t, d);
    float bad[48 * 2];
    memcpy(bad, x, sizeof bad);
    bad[60] = NAN;
    CHECK(cs_stats_add_f32(t, bad, 2) == CS_E_NUMERIC, "NaN accepted");
    CHECK(t->n == 0, "a failed add changed the statistics");
    printf("NaN message: %s\n", cs_last_error());
    cs_stats_add_f32(t, x, 1);
    CHECK(cs_stats_covariance(t, cov) == CS_E_USAGE, "covariance of 1 sample accepted");
    cs_stats_init(&u, d + 1);
    CHECK(cs_stats_merge(t, u) == CS_E_MISMATCH, "dims mismatch accepted");
    cs_stats_free(u);
    cs_stats_clone(t, &u);
    strcpy(t->id.weights_sha256, "aa");
    strcpy(u->id.weights_sha256, "bb");
    CHECK(cs_stats_merge(t, u) == CS_E_MISMATCH, "different extractors merged");
    printf("extractor message: %s\n", cs_last_error());
    cs_stats_free(u);
    cs_stats_from_mean_cov(d, all->mean, cov, &u);
    CHECK(cs_stats_merge(t, u) == CS_E_UNSUPPORTED, "cov_only merged");
    cs_stats_free(t);
    cs_stats_free(u);

    cs_stats_free(all);
    cs_stats_free(bat);
    free(x);
    free(rmean);
    free(rm2);
    free(cov);
    printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
