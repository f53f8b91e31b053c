/* Pairwise Shapley interaction indices (Grabisch & Roubens). See include/copyscope/interactions.h. */
#include "copyscope/interactions.h"

#include "core/common.h"

#include <math.h>
#include <stdlib.h>

/* C(n, k) for n <= 20: exact in double. */
static double cs_binom(int n, int k) {
    double c = 1.0;
    for (int i = 1; i <= k; i++) c = c * (double)(n - k + i) / (double)i;
    return c;
}

cs_status cs_interactions_table(int n, const double *v, double *out) {
    if (n < 1 || n > CS_GAME_MAX_FULL)
        return CS_FAIL(CS_E_USAGE, "interaction indices need 1..%d players (got %d)", CS_GAME_MAX_FULL, n);
    const uint64_t full = 1ull << n;
    double wi[CS_GAME_MAX_FULL + 1], wij[CS_GAME_MAX_FULL + 1];
    for (int s = 0; s < n; s++) wi[s] = 1.0 / ((double)n * cs_binom(n - 1, s));
    for (int s = 0; s + 2 <= n; s++) wij[s] = 1.0 / ((double)(n - 1) * cs_binom(n - 2, s));
    for (int i = 0; i < n; i++) {
        const uint64_t bi = 1ull << i;
        double phi = 0.0;
        for (uint64_t S = 0; S < full; S++)
            if (!(S & bi)) phi += wi[__builtin_popcountll(S)] * (v[S | bi] - v[S]);
        out[(size_t)i * n + i] = phi;
        for (int j = i + 1; j < n; j++) {
            const uint64_t bj = 1ull << j;
            double acc = 0.0;
            for (uint64_t S = 0; S < full; S++)
                if (!(S & (bi | bj)))
                    acc += wij[__builtin_popcountll(S)] * (v[S | bi | bj] - v[S | bi] - v[S | bj] + v[S]);
            out[(size_t)i * n + j] = out[(size_t)j * n + i] = acc;
        }
    }
    return CS_OK;
}

cs_status cs_interactions(const cs_game *g, double *out) {
    const int n = cs_game_n_players(g);
    if (n < 1 || n > CS_GAME_MAX_FULL)
        return CS_FAIL(CS_E_USAGE, "interaction indices need every coalition of at most %d players (got %d)",
                       CS_GAME_MAX_FULL, n);
    const uint64_t full = 1ull << n;
    double *v = cs_malloc((size_t)full * sizeof(double), "coalition table"); /* (2^n) */
    if (!v) return CS_E_NOMEM;
    for (uint64_t S = 0; S < full; S++)
        if (!cs_game_get(g, S, &v[S])) {
            char buf[512];
            cs_status st = CS_FAIL(CS_E_USAGE, "interaction indices need every coalition; %s is missing",
                                   cs_game_coalition_str(g, S, buf, sizeof buf));
            free(v);
            return st;
        }
    cs_status st = cs_interactions_table(n, v, out);
    free(v);
    return st;
}
