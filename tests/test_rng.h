/* Shared by the C tests of statistics and FID: a seeded xorshift64* generator (uniform) and
 * Box-Muller normals. Define CS_TEST_RNG_SEED before including for another start state; tests
 * that need several streams set rng_state themselves. */
#ifndef CS_TEST_RNG_H
#define CS_TEST_RNG_H

#include <math.h>
#include <stdint.h>

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

#endif
