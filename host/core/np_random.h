/* numpy's legacy random generator (np.random.RandomState), the parts the peers' metrics use:
 * MT19937 seeded with a 32-bit integer (mt19937_seed: Knuth's initialisation, as init_genrand),
 * 32-bit outputs with MT's tempering, random_interval (the smallest all-ones mask >= max, draws
 * rejected above max; 64-bit draws = high word first when max >= 2^32), and the legacy
 * shuffle / permutation / choice(replace=False):
 *   permutation(n)          = arange(n) shuffled: for i = n-1 down to 1, swap(i, interval(i))
 *   choice(n, m, False)     = permutation(n)[:m]
 * torch-fidelity draws its Inception Score shuffle (RandomState(2020).permutation(N)) and its KID
 * subsets (one RandomState(2020), choice(n1, m) then choice(n2, m) per subset) this way.
 * tests/protocols_ref.py checks the sequences against numpy itself. */
#ifndef CS_NP_RANDOM_H
#define CS_NP_RANDOM_H

#include <stdint.h>

typedef struct cs_np_rng {
    uint32_t key[624];
    int pos;
} cs_np_rng;

void cs_np_rng_seed(cs_np_rng *r, uint32_t seed);
uint32_t cs_np_rng_next32(cs_np_rng *r);
uint64_t cs_np_rng_interval(cs_np_rng *r, uint64_t max);
/* out (n): numpy's RandomState.permutation(n) from the generator's current state. */
void cs_np_rng_permutation(cs_np_rng *r, int64_t n, int64_t *out);

#endif
