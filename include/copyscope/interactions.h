/* copyscope: pairwise Shapley interaction indices (Grabisch & Roubens 1999).
 *
 * For players i != j of a game v on N (n players),
 *
 *   I(i, j) = sum over S subset of N \ {i, j} of  |S|! (n - |S| - 2)! / (n - 1)!
 *                                               * [v(S + i + j) - v(S + i) - v(S + j) + v(S)]
 *
 * (the weight is 1 / ((n - 1) C(n - 2, |S|))). I(i, j) > 0: i and j are complements (together
 * they move the utility more than apart, e.g. a LoRA that matters only with the ControlNet);
 * I(i, j) < 0: substitutes. The index of a singleton is its Shapley value, so out[i, i] = phi_i.
 * Needs every coalition (n <= CS_GAME_MAX_FULL). Errors: cs_status + a one-line message. */
#ifndef COPYSCOPE_INTERACTIONS_H
#define COPYSCOPE_INTERACTIONS_H

#include "copyscope/shapley.h"

#ifdef __cplusplus
extern "C" {
#endif

/* From a full table v (2^n) indexed by coalition mask; out (n, n) row-major, symmetric. */
cs_status cs_interactions_table(int n, const double *v, double *out);
/* From a game with every coalition measured (CS_E_USAGE naming a missing one otherwise). */
cs_status cs_interactions(const cs_game *g, double *out);

#ifdef __cplusplus
}
#endif
#endif
