/* Fréchet distance: every fast method (chol, eig-ref, lowrank, resampled lowrank) against the
 * readable Jacobi reference in host/fid/frechet.c, identical sets, warnings and errors.
 * (The comparison with scipy/pytorch-fid and mpmath is in tests/fid_ref.py.)
 *
 * Tolerances: all methods compute the same exact quantity in float64 by backward-stable
 * factorizations; on well-conditioned input they agree to ~1e-13 relative, so 1e-10 catches any
 * formula error (a missing factor, a wrong centring) while allowing for conditioning. On singular
 * input (n < d) the eigenvalue methods must sqrt eigenvalues near the noise floor: 1e-8, the bound
 * the brief sets against an extended-precision reference. */
#include "copyscope/frechet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define CS_TEST_RNG_SEED 0x9E3779B97F4A7C15ull
#include "test_rng.h"

/* Rows x (n, d) = z W + shift with a random mixing W (d, d) scaled per column by scale^(j/d). */
static float *make_rows(int n, int d, double shift, double scale) {
    float *x = malloc((size_t)n * d * sizeof(float));
    double *w = malloc((size_t)d * d * sizeof(double)), *z = malloc((size_t)d * sizeof(double));
    for (int i = 0; i < d * d; i++) w[i] = nrand() / sqrt((double)d);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < d; k++) z[k] = nrand() * pow(scale, (double)k / d);
        for (int j = 0; j < d; j++) {
            double s = shift + 0.1 * j;
            for (int k = 0; k < d; k++) s += z[k] * w[(size_t)k * d + j];
            x[(size_t)i * d + j] = (float)s;
        }
    }
    free(w);
    free(z);
    return x;
}

static cs_stats *stats_of(const float *x, int n, int d) {
    cs_stats *s = NULL;
    cs_stats_init(&s, d);
    cs_stats_add_f32(s, x, n);
    return s;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

static void check_case(const char *name, int d, int n1, int n2, double shift2, double scale, double tol,
                       unsigned want_warn) {
    float *x1 = make_rows(n1, d, 0.0, scale), *x2 = make_rows(n2, d, shift2, scale);
    cs_stats *s1 = stats_of(x1, n1, d), *s2 = stats_of(x2, n2, d);
    cs_fid_result ref, r;
    CHECK(cs_fid_compute(s1, NULL, s2, NULL, CS_FID_REFERENCE, &ref) == CS_OK, "%s reference: %s", name,
          cs_last_error());
    printf("%-22s d=%d n=%d,%d reference FID %.17g\n", name, d, n1, n2, ref.fid);
    cs_fid_method methods[] = {CS_FID_EIG, CS_FID_EIG_REF, CS_FID_SVD, CS_FID_LOWRANK, CS_FID_AUTO};
    for (int m = 0; m < 5; m++) {
        CHECK(cs_fid_compute(s1, x1, s2, x2, methods[m], &r) == CS_OK, "%s: %s", name, cs_last_error());
        printf("  %-8s %.17g  rel %.3g  warnings %#x\n", r.method, r.fid, rel(r.fid, ref.fid), r.warnings);
        CHECK(rel(r.fid, ref.fid) <= tol, "%s: %s differs from the reference by %.3g", name, r.method,
              rel(r.fid, ref.fid));
        CHECK((r.warnings & 3u) == want_warn, "%s: warnings %#x, expected %#x", name, r.warnings, want_warn);
    }
    /* resampled low-rank: identity indices = lowrank; random indices = lowrank of gathered rows */
    cs_fid_boot *b = NULL;
    CHECK(cs_fid_boot_init(&b, x1, n1, x2, n2, d) == CS_OK, "boot init: %s", cs_last_error());
    int64_t *i1 = malloc((size_t)n1 * sizeof(int64_t)), *i2 = malloc((size_t)n2 * sizeof(int64_t));
    for (int i = 0; i < n1; i++) i1[i] = i;
    for (int i = 0; i < n2; i++) i2[i] = i;
    cs_fid_result lr;
    cs_fid_lowrank(x1, n1, x2, n2, d, &lr);
    CHECK(cs_fid_boot_eval(b, i1, n1, i2, n2, &r) == CS_OK, "boot eval: %s", cs_last_error());
    printf("  boot-id  %.17g  rel %.3g\n", r.fid, rel(r.fid, lr.fid));
    CHECK(rel(r.fid, lr.fid) <= 1e-10, "%s: boot identity differs by %.3g", name, rel(r.fid, lr.fid));
    for (int rep = 0; rep < 3; rep++) {
        int m1 = n1 - rep, m2 = n2 / 2 + rep + 2;
        float *g1 = malloc((size_t)m1 * d * sizeof(float)), *g2 = malloc((size_t)m2 * d * sizeof(float));
        for (int i = 0; i < m1; i++) {
            i1[i] = (int64_t)(urand() * n1);
            memcpy(g1 + (size_t)i * d, x1 + (size_t)i1[i] * d, d * sizeof(float));
        }
        for (int i = 0; i < m2; i++) {
            i2[i] = (int64_t)(urand() * n2);
            memcpy(g2 + (size_t)i * d, x2 + (size_t)i2[i] * d, d * sizeof(float));
        }
        CHECK(cs_fid_boot_eval(b, i1, m1, i2, m2, &r) == CS_OK, "boot eval: %s", cs_last_error());
        CHECK(cs_fid_lowrank(g1, m1, g2, m2, d, &lr) == CS_OK, "lowrank: %s", cs_last_error());
        printf("  boot-rs  %.17g  rel %.3g\n", r.fid, rel(r.fid, lr.fid));
        CHECK(rel(r.fid, lr.fid) <= 1e-9, "%s: resampled boot differs by %.3g", name, rel(r.fid, lr.fid));
        free(g1);
        free(g2);
    }
    i1[0] = n1; /* out of range */
    CHECK(cs_fid_boot_eval(b, i1, 2, i2, 2, &r) == CS_E_USAGE, "bad index accepted");
    /* one reference, several sets */
    cs_fid_ref *fr = NULL;
    CHECK(cs_fid_ref_init(&fr, s1, CS_FID_AUTO) == CS_OK, "ref init");
    CHECK(cs_fid_ref_compare(fr, s2, &r) == CS_OK && rel(r.fid, ref.fid) <= tol, "ref compare");
    CHECK(cs_fid_ref_compare(fr, s1, &r) == CS_OK && r.fid == 0.0, "ref vs itself: %.17g", r.fid);
    cs_fid_ref_free(fr);
    /* identical sets: exactly 0 for every method, never negative */
    cs_fid_method all[] = {CS_FID_EIG, CS_FID_EIG_REF, CS_FID_SVD, CS_FID_LOWRANK, CS_FID_REFERENCE};
    for (int m = 0; m < 5; m++) {
        CHECK(cs_fid_compute(s2, x2, s2, x2, all[m], &r) == CS_OK, "identical: %s", cs_last_error());
        CHECK(r.fid == 0.0 && !signbit(r.fid), "%s: identical sets gave %.17g with %s", name, r.fid, r.method);
    }
    cs_fid_boot_free(b);
    free(i1);
    free(i2);
    cs_stats_free(s1);
    cs_stats_free(s2);
    free(x1);
    free(x2);
}

int main(void) {
    check_case("full rank", 32, 400, 300, 0.5, 1.0, 1e-10, 0);
    check_case("full rank, cond ~1e4", 48, 500, 700, 0.2, 1e-2, 1e-10, 0);
    check_case("singular (n < d)", 64, 20, 25, 0.3, 1.0, 1e-8, CS_FID_WARN_SINGULAR1 | CS_FID_WARN_SINGULAR2);
    check_case("one singular", 40, 30, 200, 1.0, 1.0, 1e-8, CS_FID_WARN_SINGULAR1);

    /* errors */
    int d = 8;
    float *x = make_rows(10, d, 0, 1);
    cs_stats *s = stats_of(x, 10, d), *t = stats_of(x, 10, d + 1 > 8 ? 8 : 8), *u = NULL;
    cs_fid_result r;
    cs_stats_init(&u, d + 1);
    CHECK(cs_fid_compute(s, NULL, u, NULL, CS_FID_AUTO, &r) == CS_E_MISMATCH, "dims mismatch accepted");
    cs_stats_free(u);
    cs_stats_init(&u, d);
    cs_stats_add_f32(u, x, 1);
    CHECK(cs_fid_compute(s, NULL, u, NULL, CS_FID_AUTO, &r) == CS_E_USAGE, "n = 1 accepted");
    printf("n<2 message: %s\n", cs_last_error());
    CHECK(cs_fid_compute(s, NULL, t, NULL, CS_FID_LOWRANK, &r) == CS_E_USAGE, "lowrank without rows");
    t->mean[3] = NAN;
    CHECK(cs_fid_compute(s, NULL, t, NULL, CS_FID_EIG, &r) == CS_E_NUMERIC, "NaN mean accepted");
    printf("NaN message: %s\n", cs_last_error());
    t->mean[3] = 0;
    t->m2[9] = INFINITY;
    CHECK(cs_fid_compute(t, NULL, s, NULL, CS_FID_EIG, &r) == CS_E_NUMERIC, "inf covariance accepted");
    cs_fid_method mm;
    CHECK(cs_fid_method_parse("lowrank", &mm) == CS_OK && mm == CS_FID_LOWRANK, "parse");
    CHECK(cs_fid_method_parse("sqrtm", &mm) == CS_E_USAGE, "parse bad");
    cs_stats_free(s);
    cs_stats_free(t);
    cs_stats_free(u);
    free(x);
    printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
