/* Nearest-reference similarity (include/copyscope/nearest.h) and interaction indices
 * (include/copyscope/interactions.h):
 *  - the tiled dgemm cosine equals the readable reference loops (1e-14: both float64, the
 *    normalisation order differs), zero rows give 0, sizes across tile boundaries (300 rows);
 *  - nearest rows / summary on a hand-made matrix (ties take the first index; strictly above);
 *  - the bootstrap is bit-identical for 1, 2 and 3 threads, equals an explicit resample
 *    (the documented splitmix64 draws) exactly, and B = 0 is refused;
 *  - interaction indices of a 3-player game by hand. */
#include "check.h"
#include "test_rng.h"

#include "copyscope/audit.h"
#include "copyscope/interactions.h"
#include "copyscope/nearest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    /* cosine: fast vs reference */
    const int d = 37;
    const int64_t ng = 300, nr = 11; /* 300 > CS_BLAS_TILE: two tiles */
    float *g = malloc((size_t)ng * d * sizeof(float)), *r = malloc((size_t)nr * d * sizeof(float));
    for (int64_t i = 0; i < ng * d; i++) g[i] = (float)urand();
    for (int64_t i = 0; i < nr * d; i++) r[i] = (float)(urand() - 0.3);
    memset(g + 5 * d, 0, (size_t)d * sizeof(float)); /* a zero generated row */
    double *fast = malloc((size_t)(ng * nr) * sizeof(double)), *ref = malloc((size_t)(ng * nr) * sizeof(double));
    double *fast2 = malloc((size_t)(ng * nr) * sizeof(double));
    CHECK(cs_cosine_pairs(g, ng, r, nr, d, 1, fast) == CS_OK, "cosine pairs");
    CHECK(cs_cosine_pairs(g, ng, r, nr, d, 3, fast2) == CS_OK, "cosine pairs, 3 threads");
    cs_cosine_pairs_ref(g, ng, r, nr, d, ref);
    double worst = 0;
    for (int64_t i = 0; i < ng * nr; i++) worst = fmax(worst, fabs(fast[i] - ref[i]));
    CHECK(worst < 1e-14, "fast cosine vs reference: %.3g", worst);
    CHECK(memcmp(fast, fast2, (size_t)(ng * nr) * sizeof(double)) == 0, "cosine pairs depend on the thread count");
    for (int64_t j = 0; j < nr; j++) CHECK(fast[5 * nr + j] == 0.0 && ref[5 * nr + j] == 0.0, "zero row");

    /* nearest rows and summary */
    const double m[2 * 3] = {0.5, 0.9, 0.9, 0.2, 0.1, 0.95};
    double best[2];
    int64_t arg[2];
    cs_nearest_rows(m, 2, 3, best, arg);
    CHECK(best[0] == 0.9 && arg[0] == 1 && best[1] == 0.95 && arg[1] == 2, "nearest rows");
    double nn, cr;
    cs_nearest_summary(best, 2, 0.9, &nn, &cr);
    CHECK(nn == (0.9 + 0.95) / 2 && cr == 0.5, "summary: %g %g (0.9 is not above 0.9)", nn, cr);

    /* bootstrap: thread independence and an explicit resample */
    const int B = 23;
    const int64_t n_set[2] = {7, 300};
    const double *sims[2] = {fast + 10 * nr, fast};
    double *a1 = malloc(2 * B * sizeof(double)), *a2 = malloc(2 * B * sizeof(double)), *a3 = malloc(2 * B * sizeof(double));
    double *c1 = malloc(2 * B * sizeof(double)), *c3 = malloc(2 * B * sizeof(double));
    CHECK(cs_bootstrap_nearest(sims, nr, n_set, 2, 0.8, B, 99, 1, a1, c1) == CS_OK, "bootstrap 1 thread");
    CHECK(cs_bootstrap_nearest(sims, nr, n_set, 2, 0.8, B, 99, 2, a2, NULL) == CS_OK, "bootstrap 2 threads");
    CHECK(cs_bootstrap_nearest(sims, nr, n_set, 2, 0.8, B, 99, 3, a3, c3) == CS_OK, "bootstrap 3 threads");
    CHECK(memcmp(a1, a2, 2 * B * sizeof(double)) == 0 && memcmp(a1, a3, 2 * B * sizeof(double)) == 0 &&
              memcmp(c1, c3, 2 * B * sizeof(double)) == 0, "bootstrap depends on the thread count");
    for (int rep = 0; rep < B; rep++) {
        cs_rng rng;
        cs_rng_init(&rng, 99, (uint64_t)rep);
        int64_t ir[11], is[300];
        cs_rng_resample(&rng, nr, ir, nr);
        for (int k = 0; k < 2; k++) {
            cs_rng_resample(&rng, n_set[k], is, n_set[k]);
            double sum = 0;
            int64_t above = 0;
            for (int64_t i = 0; i < n_set[k]; i++) {
                double b = -INFINITY;
                for (int64_t j = 0; j < nr; j++) b = fmax(b, sims[k][is[i] * nr + ir[j]]);
                sum += b;
                above += b > 0.8;
            }
            /* the same terms summed in another order (grouped by image): 1e-14 */
            CHECK(fabs(a1[rep * 2 + k] - sum / (double)n_set[k]) < 1e-14, "replicate %d set %d: %.17g vs %.17g", rep, k,
                  a1[rep * 2 + k], sum / (double)n_set[k]);
            CHECK(c1[rep * 2 + k] == (double)above / (double)n_set[k], "copy-rate replicate %d set %d", rep, k);
        }
    }
    CHECK(cs_bootstrap_nearest(sims, nr, n_set, 2, 0.8, 0, 99, 1, a1, c1) == CS_E_USAGE, "B = 0 refused");

    /* interactions of v(S) = |S|^2 on 3 players: every second difference is 2, so I(i, j) = 2;
     * Shapley values 9/3 = 3 each */
    double v[8], out[9];
    for (int S = 0; S < 8; S++) v[S] = (double)(__builtin_popcount((unsigned)S) * __builtin_popcount((unsigned)S));
    CHECK(cs_interactions_table(3, v, out) == CS_OK, "interactions");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            CHECK(fabs(out[i * 3 + j] - (i == j ? 3.0 : 2.0)) < 1e-15, "I(%d, %d) = %g", i, j, out[i * 3 + j]);
    CHECK(cs_interactions_table(21, v, out) == CS_E_USAGE, "21 players refused");

    free(g), free(r), free(fast), free(fast2), free(ref), free(a1), free(a2), free(a3), free(c1), free(c3);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    else printf("nearest: cosine max |fast - reference| %.2e; bootstrap thread-independent and equal to explicit "
                "resamples; interactions by hand\n", worst);
    return failures != 0;
}
