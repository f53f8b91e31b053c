/* copyscope: the Fréchet distance between two Gaussians fitted to feature sets (FID).
 *
 *   FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr((S1 S2)^(1/2))
 *
 * pytorch-fid evaluates the last term with scipy.linalg.sqrtm(S1 @ S2), a general (Schur) square
 * root of a non-symmetric product. copyscope never forms a matrix square root. For any factors
 * S1 = F1 F1^T, S2 = F2 F2^T, the eigenvalues of S1 S2 are the squared singular values of
 * K = F1^T F2, so tr((S1 S2)^(1/2)) = ||K||_* (the sum of its singular values) = sum sqrt(ev(K K^T)).
 * (With F1 = A = S1^(1/2) this is the sum of sqrt(eigenvalues of A S2 A).) Methods:
 *
 *  "chol"     S1 = L L^T (Cholesky, when S1 is clearly positive definite); the eigenvalues of the
 *             symmetric L^T S2 L (two triangular products, one symmetric eigenvalue problem with
 *             values only; S2 is not factored). Fastest.
 *  "eig-ref"  F1 = V diag(sqrt(l)) from the symmetric eigendecomposition of S1 (LAPACK dsyevd),
 *             keeping only its numerical rank r1; eigenvalues of the r1 x r1 matrix F1^T S2 F1.
 *             Works for singular covariances (n <= d); chosen automatically when S1 is singular
 *             or not clearly positive definite.
 *  "*-svd"    ("chol-svd", "eig-svd") S2 is factored too (F2: Cholesky or rank-truncated
 *             eigendecomposition) and ||F1^T F2||_* comes from the singular values (dgesdd, values
 *             only): absolute errors eps * ||K|| instead of sqrt(eps * ||M||) for the small terms.
 *             Used automatically whenever the rounding bound of the eigenvalue shortcut exceeds
 *             1e-11 of the result's scale (ill-conditioned covariances, nearly identical sets, a
 *             singular S2 of unknown n), or always with CS_FID_SVD.
 *  "lowrank-ref" One side factored (S1 = F F^T), the other given by its n2 < d centred rows C2:
 *             tr((S1 S2)^(1/2)) = ||C2 F||_* / sqrt(n2 - 1); exact, an (n2, d) problem per set.
 *  "lowrank"  With the feature rows at hand: C1 (n1, d), C2 (n2, d) centred rows,
 *             tr((S1 S2)^(1/2)) = ||C1 C2^T||_* / sqrt((n1 - 1)(n2 - 1)) (singular values of an
 *             n1 x n2 matrix). Exact; fast when n1, n2 << d; exactly right for singular covariances,
 *             where scipy's sqrtm is badly inaccurate.
 *  "reference" A short, readable implementation with no LAPACK/BLAS (Jacobi eigendecompositions for
 *             the factors, one-sided Jacobi singular values, naive loops): the oracle for tests;
 *             O(d^3) per sweep, meant for d <= 256.
 * A cs_fid_ref holds F1 so that many sets compare to one reference (one eigenvalue problem each).
 *
 * Rank: eigenvalues of a covariance at most CS_FID_EIG_RTOL * d * max|ev| are rounding noise and
 * are exact zeros, and a covariance of n samples has rank <= n - 1: only that many eigenvalues are
 * kept (a square root turns 1e-16 noise into 1e-8). Clamp: the result is set to 0 when
 * |FID| <= CS_FID_ZERO_RTOL * (tr S1 + tr S2 + |mu1 - mu2|^2): a value that small is below the
 * accuracy of a float64 evaluation, so identical sets give exactly 0, never a negative number.
 * A result more negative than that is an error (CS_E_NUMERIC: the inputs are not covariances).
 *
 * Errors: NaN/inf in the inputs (CS_E_NUMERIC), different dims (CS_E_MISMATCH), fewer than 2 samples
 * (CS_E_USAGE). Warnings (not errors) are bits in cs_fid_result.warnings; the CLI prints
 * cs_fid_warning_text() of each on stderr. */
#ifndef COPYSCOPE_FRECHET_H
#define COPYSCOPE_FRECHET_H

#include "copyscope/stats.h"
#include "copyscope/status.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_FID_EIG_RTOL 2.220446049250313e-16 /* DBL_EPSILON: eigenvalue noise floor per dim */
#define CS_FID_ZERO_RTOL 1e-9                 /* clamp band around 0, relative to the scale */

typedef enum cs_fid_method {
    CS_FID_AUTO = 0,   /* lowrank when features are given and n1 + n2 <= d, else chol, else eig-ref */
    CS_FID_EIG,        /* eigenvalue method from statistics: chol when possible, else eig-ref */
    CS_FID_EIG_REF,    /* force the eigendecomposition of S1 (no Cholesky) */
    CS_FID_LOWRANK,    /* needs the feature rows of both sets */
    CS_FID_REFERENCE,  /* readable Jacobi reference (slow; tests) */
    CS_FID_SVD         /* factor method, always with singular values (most accurate) */
} cs_fid_method;

/* Warning bits of cs_fid_result.warnings. */
#define CS_FID_WARN_SINGULAR1 (1u << 0) /* set 1 covariance is singular (n <= d) */
#define CS_FID_WARN_SINGULAR2 (1u << 1) /* set 2 covariance is singular (n <= d) */
#define CS_FID_WARN_NOT_PSD1 (1u << 2)  /* set 1 covariance had negative eigenvalues (clamped to 0) */
#define CS_FID_WARN_NOT_PSD2 (1u << 3)  /* set 2 covariance had negative eigenvalues (clamped to 0) */
#define CS_FID_WARN_EXTRACTOR (1u << 4) /* the two sets come from different or unknown extractors */
#define CS_FID_WARN_COUNT 5

typedef struct cs_fid_result {
    double fid;         /* the distance (>= 0) */
    double mean_term;   /* |mu1 - mu2|^2 */
    double trace1;      /* tr S1 */
    double trace2;      /* tr S2 */
    double trace_sqrt;  /* tr((S1 S2)^(1/2)) */
    const char *method; /* "chol", "eig-ref", "chol-svd", "eig-svd", "lowrank", "reference" (static) */
    unsigned warnings;  /* CS_FID_WARN_* bits */
    double clamped[2];  /* with CS_FID_WARN_NOT_PSD1/2: set 1's / set 2's most negative covariance
                           eigenvalue (clamped to 0) as a fraction of its largest; else 0 */
} cs_fid_result;

/* "auto", "eig" (= "chol"), "eig-ref", "svd", "lowrank", "reference" -> method (else CS_E_USAGE). */
cs_status cs_fid_method_parse(const char *text, cs_fid_method *out);

/* One-line text of one warning bit, e.g. "set 1: covariance is singular (n < d)". */
const char *cs_fid_warning_text(unsigned bit);

/* ---- one pair ----------------------------------------------------------------------------- */

/* Swap the sides of a result computed with the two sets exchanged (traces, singular/not-PSD
 * warnings), so that it reads in the caller's order. */
void cs_fid_result_swap_sides(cs_fid_result *res);

/* FID between two statistics; x1/x2 are the optional feature rows that produced them
 * ((s1->n, d) and (s2->n, d) float32, or NULL), needed only by the lowrank method. */
cs_status cs_fid_compute(const cs_stats *s1, const float *x1, const cs_stats *s2, const float *x2,
                         cs_fid_method method, cs_fid_result *res);

/* Same from raw means (d) and covariances (d, d) float64; n1/n2 are the sample counts (0 when
 * unknown; they bound the ranks). method: AUTO, EIG, EIG_REF, SVD or REFERENCE. */
cs_status cs_fid_from_cov(int d, const double *mu1, const double *cov1, int64_t n1,
                          const double *mu2, const double *cov2, int64_t n2, cs_fid_method method,
                          cs_fid_result *res);

/* Low-rank exact FID from feature rows x1 (n1, d) and x2 (n2, d) float32 (n1, n2 >= 2). */
cs_status cs_fid_lowrank(const float *x1, int64_t n1, const float *x2, int64_t n2, int d,
                         cs_fid_result *res);

/* ---- many sets against one reference --------------------------------------------------------- */

typedef struct cs_fid_ref cs_fid_ref;

/* Factor the reference statistics once (Cholesky when clearly positive definite and method is
 * AUTO/EIG/SVD, else the eigendecomposition). method: AUTO, EIG, EIG_REF or SVD. */
cs_status cs_fid_ref_init(cs_fid_ref **out, const cs_stats *ref, cs_fid_method method);
void cs_fid_ref_free(cs_fid_ref *r);

/* FID between the reference (set 1) and s (set 2). Thread-safe on one cs_fid_ref. */
cs_status cs_fid_ref_compare(const cs_fid_ref *r, const cs_stats *s, cs_fid_result *res);

/* Same, given the feature rows x (s->n, d) float32 of set 2 (NULL allowed): when s has fewer rows
 * than the reference's rank, the exact one-sided low-rank form ||C2 F||_* / sqrt(n2 - 1) replaces the
 * (d, d) eigenvalue problem (method "lowrank-ref"): an (n2, d) problem per set, the fast path of an
 * audit. Otherwise the same as cs_fid_ref_compare. Thread-safe on one cs_fid_ref. */
cs_status cs_fid_ref_compare_rows(const cs_fid_ref *r, const cs_stats *s, const float *x,
                                  cs_fid_result *res);

/* Same from the feature rows x (n, d) float32 alone (id may be NULL): with n - 1 below the
 * reference's rank, lowrank-ref computes only the mean and trace of set 2 besides ||C2 F||_*
 * (no (d, d) co-moment matrix at all); otherwise the statistics are built and compared. */
cs_status cs_fid_ref_compare_features(const cs_fid_ref *r, const float *x, int64_t n, int d,
                                      const cs_extractor_id *id, cs_fid_result *res);

/* ---- resampled low-rank FIDs (bootstrap) -------------------------------------------------------
 *
 * cs_fid_boot keeps the float64 Gram matrix G = Z Z^T of the rows of both sets, Z = [x1; x2] - c
 * (c = the pooled mean), (n1 + n2)^2 doubles: meant for n1 + n2 <= CS_FID_BOOT_MAX_ROWS.
 * cs_fid_boot_eval then gives the exact FID between the multisets of rows idx1 (m1 indices into
 * x1, repeats allowed) and idx2 (m2 indices into x2) at the cost of gathering an m1 x m2 block,
 * double-centring it, and its singular values (dgesdd, values only): O(m1 m2 min(m1, m2)),
 * independent of d. Mean term and traces come from the same Gram matrix.
 *
 *   cs_fid_boot *b; cs_fid_boot_init(&b, x1, n1, x2, n2, d);
 *   for (r = 0; r < R; r++) { draw idx1[m1], idx2[m2]; cs_fid_boot_eval(b, idx1, m1, idx2, m2, &res); }
 *   cs_fid_boot_free(b);
 *
 * Evaluations on one cs_fid_boot may run concurrently (each allocates its own scratch). */
#define CS_FID_BOOT_MAX_ROWS 32768

typedef struct cs_fid_boot cs_fid_boot;

cs_status cs_fid_boot_init(cs_fid_boot **out, const float *x1, int64_t n1, const float *x2,
                           int64_t n2, int d);
void cs_fid_boot_free(cs_fid_boot *b);
cs_status cs_fid_boot_eval(const cs_fid_boot *b, const int64_t *idx1, int64_t m1,
                           const int64_t *idx2, int64_t m2, cs_fid_result *res);

#ifdef __cplusplus
}
#endif
#endif
