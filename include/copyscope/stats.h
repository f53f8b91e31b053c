/* copyscope: mean and co-moment statistics of a feature set, in float64.
 *
 * A cs_stats holds, for n feature vectors of dimension d:
 *   mean (d)       = (1/n) sum x_i
 *   m2   (d, d)    = sum (x_i - mean)(x_i - mean)^T       (the co-moment; both triangles filled)
 * and the covariance is m2 / (n - 1) (unbiased, like np.cov and pytorch-fid).
 *
 * Rows are added in batches (cs_stats_add_f32), each call's rows in chunks of CS_STATS_CHUNK_ROWS:
 * each chunk is converted to float64, its own mean and centred co-moment are computed (fixed
 * 256-column tiles, core/blas.h: the same bits for any thread count), and the chunk is merged into
 * the running result with Chan, Golub and LeVeque's pairwise formula
 *   n = na + nb,  delta = mean_b - mean_a,
 *   mean = mean_a + delta * nb / n,
 *   m2 = m2_a + m2_b + delta delta^T * na nb / n.
 * The bits depend on where the chunks start: adding n rows in one call, or in calls of any multiple
 * of CS_STATS_CHUNK_ROWS rows (the last call any size), gives bit-identical statistics; that is
 * how the computed path (one call per set) and the cached path (statsfile.c reads
 * 2 * CS_STATS_CHUNK_ROWS rows at a time) agree bit for bit.
 * cs_stats_merge uses the same formula, so shards computed anywhere (other processes, nodes) merge
 * into the unsplit statistics to rounding (about 1e-13 relative) whatever the split and order.
 *
 * Statistics read from a pytorch-fid .npz carry only mean and covariance: their sample count is
 * unknown (n == 0, cov_only == 1, m2 holds the covariance itself). They can be compared but not
 * merged.
 *
 * Ownership: a cs_stats owns its mean and m2 buffers; cs_stats_free releases them. */
#ifndef COPYSCOPE_STATS_H
#define COPYSCOPE_STATS_H

#include "copyscope/status.h"

#include <stdint.h>

/* Rows per chunk of cs_stats_add_f32/_f64 (see above). */
#define CS_STATS_CHUNK_ROWS 1024

#ifdef __cplusplus
extern "C" {
#endif

/* Largest feature dimension accepted anywhere (a (d, d) float64 matrix is then 2 GiB). */
#define CS_STATS_MAX_DIMS 16384
/* Largest sample count accepted anywhere (2^53: every count is exact as a double, and a merge of
 * two valid counts cannot overflow int64; cs_stats_merge refuses a sum above it). */
#define CS_STATS_MAX_N ((int64_t)1 << 53)
/* Tolerances of cs_stats_validate, relative to the covariance's scale (see there). */
#define CS_STATS_SYM_RTOL 1e-6
#define CS_STATS_PSD_RTOL 1e-6

/* Identity of the feature extractor that produced a set of features or statistics.
 * Empty strings mean "unknown" (e.g. statistics read from a pytorch-fid .npz). */
typedef struct cs_extractor_id {
    char weights_sha256[65]; /* hex SHA-256 of the Inception weights file, or "" */
    char preprocessing[256]; /* preprocessing description, e.g. "pytorch-fid:bilinear-299", or "" */
} cs_extractor_id;

typedef struct cs_stats {
    int64_t n;          /* number of rows added; 0 when unknown (cov_only) */
    int d;              /* feature dimension */
    int cov_only;       /* 1: m2 holds the covariance and n is unknown (from .npz) */
    double *mean;       /* (d) float64 */
    double *m2;         /* (d, d) float64 row-major, symmetric: co-moment (or covariance if cov_only) */
    cs_extractor_id id; /* who produced the features */
} cs_stats;

/* New empty statistics of dimension d (1 <= d <= CS_STATS_MAX_DIMS). */
cs_status cs_stats_init(cs_stats **out, int d);
void cs_stats_free(cs_stats *s);

/* Deep copy. */
cs_status cs_stats_clone(const cs_stats *s, cs_stats **out);

/* Add n rows of a row-major float32 matrix x (n, d) (row stride d). NaN/inf in x is an error
 * (CS_E_NUMERIC, naming the row) and leaves s unchanged. n == 0 is a no-op. */
cs_status cs_stats_add_f32(cs_stats *s, const float *x, int64_t n);

/* Same for float64 rows (n, d). */
cs_status cs_stats_add_f64(cs_stats *s, const double *x, int64_t n);
/* Whether n rows may be added to s (the check every add function, CPU or GPU, starts with):
 * CS_E_UNSUPPORTED for covariance-only statistics (.npz), CS_E_USAGE for n < 0. */
cs_status cs_stats_check_add(const cs_stats *s, int64_t n);

/* a <- statistics of the union of a's and b's rows (exact pairwise merge). Fails with
 * CS_E_MISMATCH on different dims or extractor identities, CS_E_UNSUPPORTED for cov_only. */
cs_status cs_stats_merge(cs_stats *a, const cs_stats *b);

/* Write the covariance (d, d) float64: m2 / (n - 1), or m2 itself when cov_only.
 * Fails (CS_E_USAGE) when n < 2 and the covariance is undefined. */
cs_status cs_stats_covariance(const cs_stats *s, double *cov);

/* Statistics that hold only a mean (d) and covariance (d, d) (copied), n unknown. */
cs_status cs_stats_from_mean_cov(int d, const double *mean, const double *cov, cs_stats **out);

/* Whether s can be the statistics of real samples; `what` (usually the file) starts each message.
 * CS_E_FORMAT when: n is outside 0..CS_STATS_MAX_N (or not 0 for covariance-only statistics); the
 * mean or co-moment holds NaN/inf (row and column named); a diagonal entry is negative; the matrix
 * is not symmetric within CS_STATS_SYM_RTOL of its largest diagonal entry; or it is not positive
 * semi-definite within CS_STATS_PSD_RTOL of its trace (Cholesky of M + tol * tr(M) * I fails).
 * Rounding (float32 storage of the entries moves every eigenvalue by at most 6e-8 tr(M)) stays far
 * inside both tolerances; the FID's eigenvalue clamp handles what remains. Cost at d = 2048: one
 * Cholesky on one OpenBLAS thread, 0.13-0.17 s measured on the project's 2-core machine (load 4.5),
 * about 2% of a full-rank FID there. */
cs_status cs_stats_validate(const cs_stats *s, const char *what);

/* 1 when two extractor identities are the same (both strings equal). */
int cs_extractor_id_equal(const cs_extractor_id *a, const cs_extractor_id *b);

#ifdef __cplusplus
}
#endif
#endif
