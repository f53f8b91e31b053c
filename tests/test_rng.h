/* Shared by the C tests of statistics and FID: a seeded xorshift64* generator (uniform) and
 * Box-Muller normals. Define CS_TEST_RNG_SEED before including for another start state; tests
 * that need several streams set rng_state themselves. */
#ifndef CS_TEST_RNG_H
#define CS_TEST_RNG_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef CS_TEST_RNG_SEED
#define CS_TEST_RNG_SEED 88172645463325252ull
#endif

static uint64_t rng_state = CS_TEST_RNG_SEED;
static inline double urand(void) { /* xorshift64*, uniform in [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static inline double nrand(void) { return sqrt(-2.0 * log(1.0 - urand())) * cos(6.283185307179586 * urand()); }

/* Rows x (n, d) float32 = z W + shift, z ~ N(0, diag(scale^(k/d))), W a random mixing (d, d):
 * correlated features with a spread of eigenvalues, like Inception features. The caller frees x. */
static inline float *gen_rows(int n, int d, double shift, double scale, uint64_t seed) {
    rng_state = seed;
    double *w = malloc((size_t)d * d * sizeof(double)); /* (d, d) */
    double *z = malloc((size_t)d * sizeof(double));     /* (d) */
    float *x = malloc((size_t)n * d * sizeof(float));   /* (n, d) */
    if (!w || !z || !x) abort();
    for (size_t i = 0; i < (size_t)d * d; i++) w[i] = nrand() / sqrt((double)d);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < d; k++) z[k] = nrand() * pow(scale, (double)k / d);
        for (int j = 0; j < d; j++) {
            double s = shift + 0.1 * (j % 5);
            for (int k = 0; k < d; k++) s += z[k] * w[(size_t)k * d + j];
            x[(size_t)i * d + j] = (float)s;
        }
    }
    free(w);
    free(z);
    return x;
}

#endif
