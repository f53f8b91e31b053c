/* numpy's legacy RandomState generator and permutation (see np_random.h). */
#include "core/np_random.h"

#define MT_N 624
#define MT_M 397

void cs_np_rng_seed(cs_np_rng *r, uint32_t seed) {
    for (int pos = 0; pos < MT_N; pos++) {
        r->key[pos] = seed;
        seed = 1812433253u * (seed ^ (seed >> 30)) + (uint32_t)pos + 1u;
    }
    r->pos = MT_N;
}

static void mt_generate(cs_np_rng *r) {
    uint32_t *k = r->key, y;
    int i;
    for (i = 0; i < MT_N - MT_M; i++) {
        y = (k[i] & 0x80000000u) | (k[i + 1] & 0x7fffffffu);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    }
    for (; i < MT_N - 1; i++) {
        y = (k[i] & 0x80000000u) | (k[i + 1] & 0x7fffffffu);
        k[i] = k[i + (MT_M - MT_N)] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    }
    y = (k[MT_N - 1] & 0x80000000u) | (k[0] & 0x7fffffffu);
    k[MT_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    r->pos = 0;
}

uint32_t cs_np_rng_next32(cs_np_rng *r) {
    if (r->pos == MT_N) mt_generate(r);
    uint32_t y = r->key[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t cs_np_rng_interval(cs_np_rng *r, uint64_t max) {
    if (max == 0) return 0;
    uint64_t mask = max, v;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    if (max <= 0xffffffffu) {
        while ((v = (cs_np_rng_next32(r) & mask)) > max) {}
    } else {
        for (;;) {
            uint64_t hi = cs_np_rng_next32(r);
            v = ((hi << 32) | cs_np_rng_next32(r)) & mask;
            if (v <= max) break;
        }
    }
    return v;
}

void cs_np_rng_permutation(cs_np_rng *r, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)cs_np_rng_interval(r, (uint64_t)i);
        int64_t t = out[j];
        out[j] = out[i];
        out[i] = t;
    }
}
