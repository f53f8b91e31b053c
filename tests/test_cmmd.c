/* Unit tests of CMMD (include/copyscope/cmmd.h): a hand-computed value, the tiled computation
 * against the plain-loop reference, thread-count independence (bit for bit), the kernel-matrix path
 * of the bootstrap against explicitly gathered resamples, invariances and errors. The comparison
 * with google-research's code (numpy, line by line) is tests/cmmd_ref.py.
 *
 * Tolerance 1e-11 absolute on CMMD (= 1e-14 on each kernel mean, x 1000): both sides compute in
 * float64 and differ only in summation and dot-product order over at most 600^2 terms <= 1. */
#include "copyscope/audit.h"
#include "copyscope/cmmd.h"
#include "copyscope/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, cs_last_error()); \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define TOL 1e-11

static float *rows(int64_t n, int d, unsigned seed, float shift) {
    float *x = malloc((size_t)n * (size_t)d * sizeof *x); /* (n, d) float32 */
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((double)(seed >> 8) / 16777216.0 - 0.5) + shift * (float)(i % (size_t)d) / (float)d;
    }
    return x;
}

int main(void) {
    cs_cmmd_opts o;
    cs_cmmd_opts_default(&o);
    CHECK(o.sigma == 10.0 && o.scale == 1000.0 && o.normalize == 1);
    cs_cmmd_result r, rr;

    /* names: cmmd is a set-level distance */
    cs_metric m;
    CHECK(cs_metric_parse("cmmd", &m) == CS_OK && m == CS_METRIC_CMMD && cs_metric_is_distance(m) &&
          !cs_metric_is_pixel(m));
    cs_utility_spec u;
    CHECK(cs_utility_parse("cmmd", &u) == CS_OK && u.is_distance && u.kind == CS_UTILITY_GAIN);
    CHECK(cs_utility_parse("neg-cmmd", &u) == CS_OK && u.kind == CS_UTILITY_ABS);
    CHECK(cs_utility_parse("cmmd-raw", &u) == CS_E_USAGE);

    /* by hand: x = {(3, 0)}, y = {(0, 2)}: unit vectors after normalisation, |a - b|^2 = 2, so
     * k_xx = k_yy = 1, k_xy = exp(-2 / 200), CMMD = 1000 (2 - 2 exp(-0.01)) */
    const float hx[2] = {3, 0}, hy[2] = {0, 2};
    CHECK(cs_cmmd_compute(hx, 1, hy, 1, 2, &o, &r) == CS_OK);
    CHECK(fabs(r.cmmd - 1000.0 * (2.0 - 2.0 * exp(-0.01))) < 1e-12 && r.k_xx == 1.0 && r.k_yy == 1.0);
    /* raw rows: |a - b|^2 = 13 */
    o.normalize = 0;
    CHECK(cs_cmmd_compute(hx, 1, hy, 1, 2, &o, &r) == CS_OK);
    CHECK(fabs(r.cmmd - 1000.0 * (2.0 - 2.0 * exp(-13.0 / 200.0))) < 1e-12);
    o.normalize = 1;

    /* tiled vs the reference, sets spanning 2 and 3 tiles, n1 != n2, both normalisations */
    const int64_t n1 = 300, n2 = 517;
    const int d = 20;
    float *x = rows(n1, d, 1, 0.0f), *y = rows(n2, d, 2, 0.3f);
    for (int norm = 0; norm < 2; norm++) {
        o.normalize = norm;
        o.threads = 1;
        CHECK(cs_cmmd_compute(x, n1, y, n2, d, &o, &r) == CS_OK);
        CHECK(cs_cmmd_compute_ref(x, n1, y, n2, d, &o, &rr) == CS_OK);
        printf("norm %d: tiled %.17g reference %.17g (kxx %.17g %.17g)\n", norm, r.cmmd, rr.cmmd, r.k_xx, rr.k_xx);
        CHECK(fabs(r.cmmd - rr.cmmd) < TOL && r.cmmd > 0.01);
        CHECK(fabs(r.k_xx - rr.k_xx) < TOL / 1000 && fabs(r.k_yy - rr.k_yy) < TOL / 1000 &&
              fabs(r.k_xy - rr.k_xy) < TOL / 1000);
        /* the same bits for 2 and 3 threads */
        for (int t = 2; t <= 3; t++) {
            cs_cmmd_result rt;
            o.threads = t;
            CHECK(cs_cmmd_compute(x, n1, y, n2, d, &o, &rt) == CS_OK);
            CHECK(memcmp(&rt, &r, sizeof r) == 0);
        }
        /* symmetric in its arguments (up to rounding) */
        cs_cmmd_result rs;
        CHECK(cs_cmmd_compute(y, n2, x, n1, d, &o, &rs) == CS_OK && fabs(rs.cmmd - r.cmmd) < TOL);
    }
    o.normalize = 1;
    o.threads = 0;
    /* normalised: invariant to each row's scale */
    float *x3 = malloc((size_t)n1 * d * sizeof *x3);
    for (size_t i = 0; i < (size_t)n1 * d; i++) x3[i] = x[i] * (float)(1u << (i / (size_t)d % 3)); /* exact */
    CHECK(cs_cmmd_compute(x, n1, y, n2, d, &o, &r) == CS_OK);
    CHECK(cs_cmmd_compute(x3, n1, y, n2, d, &o, &rr) == CS_OK && fabs(r.cmmd - rr.cmmd) < TOL);
    /* identical sets: 0 */
    CHECK(cs_cmmd_compute(x, n1, x, n1, d, &o, &r) == CS_OK && fabs(r.cmmd) < TOL);

    /* kernel matrix: identity counts give the tiled value; counts give the gathered resample's */
    const int64_t m1 = 40, m2 = 29, nt = m1 + m2;
    double *K = NULL;
    CHECK(cs_cmmd_kernel_build(x, m1, y, m2, d, &o, &K) == CS_OK && K);
    int64_t w[69];
    for (int64_t i = 0; i < nt; i++) w[i] = 1;
    CHECK(cs_cmmd_compute(x, m1, y, m2, d, &o, &r) == CS_OK);
    CHECK(fabs(cs_cmmd_from_kernel(K, nt, m1, w, 1000.0) - r.cmmd) < TOL);
    for (int64_t i = 0; i < nt; i++) CHECK(K[i * nt + i] > 1 - 1e-15 && K[i * nt + i] < 1 + 1e-15);
    /* bootstrap replicates = CMMD of explicitly gathered rows (same streams as the FID bootstrap) */
    const int B = 6;
    const uint64_t seed = 11;
    double rep[6], rep2[6];
    const float *sets[1] = {y};
    const int64_t ns[1] = {m2};
    CHECK(cs_bootstrap_cmmds(x, m1, sets, ns, 1, d, &o, B, seed, 1, rep) == CS_OK);
    CHECK(cs_bootstrap_cmmds(x, m1, sets, ns, 1, d, &o, B, seed, 2, rep2) == CS_OK);
    CHECK(memcmp(rep, rep2, sizeof rep) == 0);
    float *gx = malloc((size_t)m1 * d * sizeof *gx), *gy = malloc((size_t)m2 * d * sizeof *gy);
    for (int b = 0; b < B; b++) {
        cs_rng rng;
        int64_t ix[40], iy[29];
        cs_rng_init(&rng, seed, (uint64_t)b);
        cs_rng_resample(&rng, m1, ix, m1);
        cs_rng_resample(&rng, m2, iy, m2);
        for (int64_t i = 0; i < m1; i++) memcpy(gx + i * d, x + ix[i] * d, (size_t)d * sizeof *gx);
        for (int64_t i = 0; i < m2; i++) memcpy(gy + i * d, y + iy[i] * d, (size_t)d * sizeof *gy);
        CHECK(cs_cmmd_compute_ref(gx, m1, gy, m2, d, &o, &rr) == CS_OK);
        CHECK(fabs(rep[b] - rr.cmmd) < TOL);
    }
    free(gx), free(gy), free(K);

    /* errors */
    CHECK(cs_cmmd_compute(x, 0, y, n2, d, &o, &r) == CS_E_USAGE);
    CHECK(cs_cmmd_compute(x, n1, y, n2, 0, &o, &r) == CS_E_USAGE);
    cs_cmmd_opts bad = o;
    bad.sigma = 0;
    CHECK(cs_cmmd_compute(x, n1, y, n2, d, &bad, &r) == CS_E_USAGE);
    bad.sigma = NAN;
    CHECK(cs_cmmd_compute(x, n1, y, n2, d, &bad, &r) == CS_E_USAGE);
    float z[4] = {1, 2, 0, 0};
    CHECK(cs_cmmd_compute(z, 2, hy, 1, 2, &o, &r) == CS_E_NUMERIC && strstr(cs_last_error(), "row 1"));
    o.normalize = 0;
    CHECK(cs_cmmd_compute(z, 2, hy, 1, 2, &o, &r) == CS_OK);
    z[0] = NAN;
    CHECK(cs_cmmd_compute(z, 2, hy, 1, 2, &o, &r) == CS_E_NUMERIC && strstr(cs_last_error(), "non-finite"));

    free(x), free(y), free(x3);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("cmmd unit tests passed\n");
    return 0;
}
