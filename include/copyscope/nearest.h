/* copyscope: per-image copy similarity (issue 19 item 4, issue 18's nearest-reference pairs).
 *
 * For a generated image g and the reference images r, the nearest-reference similarity is
 * s(g) = max_r sim(g, r), where sim is the cosine similarity of their feature rows (any feature
 * space the audit uses; a row of norm 0 has similarity 0 with everything) or, for pixel
 * utilities, the pixel metric of the pair (metrics.h). Over a set of generated images:
 *
 *   nn-sim     mean over g of s(g)                          (larger = closer to the reference)
 *   copy-rate  share of g with s(g) > threshold             (strictly greater; in [0, 1])
 *
 * Both are similarities (utility = gain over the baseline, like the pixel metrics). The bootstrap
 * resamples exactly as the other utilities (audit.h: per replicate, the reference rows once, then
 * each set's rows, from splitmix64(seed, r)); a resampled reference keeps the distinct images it
 * drew, so s(g) is the maximum over those; each generated image counts as often as it was drawn.
 * Deterministic for any thread count (one replicate = one thread, sums in a fixed order).
 *
 * Errors: cs_status + a one-line message (cs_last_error()). Outputs are caller-allocated. */
#ifndef COPYSCOPE_NEAREST_H
#define COPYSCOPE_NEAREST_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_NEAREST_MAX_PAIRS ((size_t)1 << 28) /* (generated x reference) pairs of one set */
#define CS_COPY_THRESHOLD_DEFAULT 0.9          /* --copy-threshold (docs/audit.md) */

/* sim (n_gen, n_ref) row-major = cosine similarity of every (generated, reference) pair of rows
 * (float32 rows, float64 arithmetic). Rows are normalised in float64 and multiplied in fixed tiles
 * of CS_BLAS_TILE generated rows, one single-threaded dgemm each, tiles in parallel on `threads`
 * OpenMP threads (<= 0: the OpenMP default): bit-identical for any thread count. */
cs_status cs_cosine_pairs(const float *gen, int64_t n_gen, const float *ref, int64_t n_ref, int d, int threads,
                          double *sim);
/* The readable reference: dot(g, r) / (|g| |r|) by plain loops (0 when a norm is 0). */
void cs_cosine_pairs_ref(const float *gen, int64_t n_gen, const float *ref, int64_t n_ref, int d, double *sim);

/* Per generated row of sim (n_gen, n_ref): best[g] = max_r sim[g, r], arg[g] = its first index. */
void cs_nearest_rows(const double *sim, int64_t n_gen, int64_t n_ref, double *best, int64_t *arg);

/* nn-sim and copy-rate of one set from its best similarities (n_gen). */
void cs_nearest_summary(const double *best, int64_t n_gen, double threshold, double *nn_sim, double *copy_rate);

/* Bootstrap replicates of nn-sim (rep_nn) and copy-rate (rep_copy), each (B, n_sets) row-major
 * (either may be NULL): sims[k] is set k's (n_set[k], n_ref) similarity matrix. */
cs_status cs_bootstrap_nearest(const double *const *sims, int64_t n_ref, const int64_t *n_set, size_t n_sets,
                               double threshold, int B, uint64_t seed, int threads, double *rep_nn,
                               double *rep_copy);

#ifdef __cplusplus
}
#endif
#endif
