/* The FID's host-side decisions, shared by host/fid/frechet.c and its GPU twin kernels/cuda_fid.cu so
 * that both apply exactly the same rank cut, rounding bound, clamp and checks (internal header;
 * definitions in frechet.c). */
#ifndef CS_FRECHET_COMMON_H
#define CS_FRECHET_COMMON_H

#include "copyscope/frechet.h"
#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The low-rank method's n1 x n2 matrix is refused beyond this many elements (2 GiB of doubles). */
#define CS_FID_LOWRANK_MAX_ELEMS ((int64_t)1 << 28)

/* CS_E_NUMERIC naming `what` and the first non-finite value of x (n). */
cs_status cs_fid_check_finite(const double *x, size_t n, const char *what);
/* ||mu1 - mu2||^2 (d). */
double cs_fid_mean_term(const double *mu1, const double *mu2, int d);
/* The rank of a covariance of n samples from its d ascending eigenvalues w: eigenvalues at most
 * d * eps * max|w| are rounding noise, and at most min(n - 1, d) can be non-zero. */
int cs_fid_eig_rank(const double *w, int d, int64_t n);
/* Sum of sqrt of the top r of the m ascending eigenvalues w, and in *err the rounding bound of
 * that sum (each eigenvalue carries ~sqrt(m) eps max(w), amplified by the square root). */
double cs_fid_sum_sqrt_top(const double *w, int m, int r, double *err);
/* res->fid from its terms, with the documented clamp around 0; NaN or a negative FID beyond
 * rounding: CS_E_NUMERIC. */
cs_status cs_fid_finish(cs_fid_result *res);
/* Two statistics the FID can compare: equal dimensions (CS_E_MISMATCH), >= 2 samples in each
 * set that has rows (CS_E_USAGE); *have_rows = x1 and x2 given and both sets with rows. */
cs_status cs_fid_check_pair(const cs_stats *s1, const float *x1, const cs_stats *s2, const float *x2,
                            int *have_rows);
/* Sizes the low-rank method accepts (CS_E_USAGE / CS_E_UNSUPPORTED otherwise). */
cs_status cs_fid_lowrank_check(int64_t n1, int64_t n2, int d);
/* `bit` when a covariance of n samples in d dimensions is singular (n <= d), else 0. */
static inline unsigned cs_fid_singular_flag(int64_t n, int d, unsigned bit) {
    return (n > 0 && n <= d) ? bit : 0;
}

#ifdef __cplusplus
}
#endif
#endif
