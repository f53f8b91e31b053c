/* copyscope: FID estimators with less small-sample bias (host/fid/bias.c), issue 22.
 *
 * With n1, n2 iid rows and unbiased covariances S1, S2, the FID computed from the samples
 * overestimates the population FID by O(1/n):
 *   mean term   E|m1 - m2|^2 = |mu1 - mu2|^2 + tr(Sigma1)/n1 + tr(Sigma2)/n2   (exact), and
 *               tr(S) is unbiased, so subtracting tr(S1)/n1 + tr(S2)/n2 makes it unbiased;
 *   trace-root  -2 tr((S1 S2)^1/2) is biased upward too (Jensen), by c/n to first order, with c
 *               depending on both covariances.
 *
 * FID-infinity (Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find
 * them", CVPR 2020): FID_m is close to linear in 1/m, so FID values of subsets of m = f n rows
 * (both sets scaled by the same fraction f) are fitted by least squares against 1/f and the line
 * is read at 1/f = 0. Here every subset FID is exact (cs_fid_boot: the Gram matrix of the rows is
 * computed once; a subset is an index list) and has its mean term corrected exactly first, so the
 * fit only extrapolates the trace-root term. Subsets: for each of `permutations` random
 * permutations of the rows, floor(1/f) disjoint consecutive blocks of floor(f m) rows (f = 1/2:
 * two complementary halves); the fraction 1 is the whole multiset (no randomness). With the
 * fractions {1/2, 1} the fit is Richardson's extrapolation 2 FID_n - mean FID_{n/2}.
 *
 * Works on multisets too: idx lists may repeat rows (a bootstrap resample), and a random subset
 * of an iid resample is an iid resample of the smaller size, so the bootstrap of FID-infinity is
 * the same estimator in the bootstrap world. */
#ifndef COPYSCOPE_BIAS_H
#define COPYSCOPE_BIAS_H

#include "copyscope/frechet.h"
#include "copyscope/status.h"

#include <stddef.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_FID_INF_MAX_FRACS 8

typedef struct cs_fid_inf_opts {
    int n_fracs;                           /* fractions used, 2..CS_FID_INF_MAX_FRACS */
    double fracs[CS_FID_INF_MAX_FRACS];    /* in (0, 1], distinct; 1 = the whole set */
    int permutations;                      /* random permutations per fraction < 1 (>= 1) */
} cs_fid_inf_opts;

/* Defaults: fractions {1/2, 1}, 2 permutations (4 half-subsets). */
void cs_fid_inf_opts_default(cs_fid_inf_opts *o);

/* Exact expectation of the mean term's bias for rows summarised by r (unbiased covariances):
 * tr(S1)/n1 + tr(S2)/n2. r->fid - this is unbiased in its mean term. */
double cs_fid_mean_bias(const cs_fid_result *r, int64_t n1, int64_t n2);

/* FID-infinity of the multisets idx1 (m1 indices into b's first set) and idx2 (m2 indices into
 * its second set). Subset permutations come from rng streams: the first set's from
 * (seed, stream1), the second set's from (seed, stream2) (pass the same stream1 for every set
 * compared to one reference so that they share its subsets). scratch: 2 (m1 + m2) int64.
 * *fid_inf gets the extrapolated value; fid_m (n_fracs, optional) the mean-corrected mean FID at
 * each fraction, in the order of o->fracs. Deterministic; thread-safe on one cs_fid_boot. */
cs_status cs_fid_inf_eval(const cs_fid_boot *b, const int64_t *idx1, int64_t m1, const int64_t *idx2, int64_t m2,
                          const cs_fid_inf_opts *o, uint64_t seed, uint64_t stream1, uint64_t stream2,
                          int64_t *scratch, double *fid_inf, double *fid_m);

/* plugin[k] (optional, n_sets): the plug-in FID of set k, the FID of the empirical distributions
 * (covariances divided by n, not n - 1): the population FID of the bootstrap world, which the
 * replicates of an (almost) unbiased estimator scatter around. The audit re-centres them on the
 * estimate (rep - plugin + point) before taking intervals.
 *
 * FID-infinity of every set against the reference (point[k], n_sets), and, when B > 0, of every
 * bootstrap replicate (rep[r * n_sets + k]; the replicates draw exactly the resamples of
 * cs_bootstrap_fids for (seed, r), then their subsets from their own streams). Replicates in
 * parallel (threads; 0 = all cores); every result is stored by index: bit-identical for any
 * number of threads. A failed replicate evaluation is NaN. */
cs_status cs_fid_inf_sets(const float *ref, int64_t n_ref, const float *const *sets, const int64_t *n_set,
                          size_t n_sets, int d, const cs_fid_inf_opts *o, uint64_t seed, int B, int threads,
                          double *point, double *plugin, double *rep);

#ifdef __cplusplus
}
#endif
#endif
