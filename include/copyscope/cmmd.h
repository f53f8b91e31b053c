/* copyscope: CMMD (Jayasumana et al., CVPR 2024, "Rethinking FID"), the maximum mean discrepancy
 * between two sets of embeddings with a Gaussian RBF kernel, exactly as google-research's code
 * computes it (cmmd/distance.py, `mmd(x, y)`):
 *
 *   k(a, b)  = exp(-gamma |a - b|^2),  gamma = 1 / (2 sigma^2),  sigma = 10
 *   |a - b|^2 = |a|^2 + |b|^2 - 2 a.b  (squared norms from the Gram diagonal, as distance.py)
 *   CMMD     = scale * (mean_{i,j} k(x_i, x_j) + mean_{i,j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)),
 *              scale = 1000
 *
 * The means run over ALL n1^2, n2^2 and n1 n2 pairs, the diagonal (k = 1) included: the biased,
 * minimum-variance V-statistic of Gretton et al. (2012, Eq. 5), not the unbiased U-statistic that
 * KID uses. n1 and n2 may differ. CMMD's embeddings are L2-normalised (cmmd/embedding.py: scenic's
 * CLIP returns x / |x|); copyscope normalises every row by default so that the metric means the
 * same in any feature space (Inception, DINOv2, CLIP; a no-op up to rounding for CLIP embeddings),
 * and `normalize = 0` applies distance.py to the rows as given.
 *
 * Precision: google-research's code runs in JAX's default float32 (embeddings, matmuls, exp and the
 * means); copyscope computes everything in float64 from the float32 rows. On unit vectors the three
 * means are close to 1 and CMMD is their small difference (x 1000), so float32 loses about 3 of its
 * 7 digits there: docs/metrics.md gives the measured difference (tests/cmmd_ref.py).
 *
 * Cost O((n1 + n2)^2 d): fixed CS_BLAS_TILE x CS_BLAS_TILE tiles, one single-threaded dgemm each,
 * computed by an OpenMP loop and summed in tile order, so the value is bit-identical for any thread
 * count; memory O((n1 + n2) + threads * tile * (d + tile)) beyond the inputs (no n^2 matrix). */
#ifndef COPYSCOPE_CMMD_H
#define COPYSCOPE_CMMD_H

#include "copyscope/status.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_CMMD_SIGMA 10.0  /* distance.py's _SIGMA */
#define CS_CMMD_SCALE 1000.0 /* distance.py's _SCALE */
#define CS_CMMD_MAX_ROWS ((int64_t)1 << 31) /* per set */

typedef struct cs_cmmd_opts {
    double sigma;  /* kernel bandwidth (default CS_CMMD_SIGMA) */
    double scale;  /* factor of the result (default CS_CMMD_SCALE) */
    int normalize; /* 1 (default): L2-normalise every row first, as CMMD's CLIP embeddings are */
    int threads;   /* OpenMP threads over the tiles (<= 0: the OpenMP default); never changes a bit */
} cs_cmmd_opts;

typedef struct cs_cmmd_result {
    double cmmd;             /* scale * (k_xx + k_yy - 2 k_xy): a distance (utility = -cmmd) */
    double k_xx, k_yy, k_xy; /* the three kernel means */
} cs_cmmd_result;

void cs_cmmd_opts_default(cs_cmmd_opts *o);

/* CMMD between x (n1, d) and y (n2, d) float32 rows (n1, n2 >= 1). CS_E_USAGE for bad sizes or
 * options, CS_E_NUMERIC for non-finite features or (with normalize) a row of norm 0. */
cs_status cs_cmmd_compute(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                          const cs_cmmd_opts *o, cs_cmmd_result *res);

/* The same, computed the plain way (the readable reference of cs_cmmd_compute): every pair's dot
 * product by a loop, the three means by sums per row, then over the rows. O((n1 + n2)^2 d), one
 * thread; for tests. */
cs_status cs_cmmd_compute_ref(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                              const cs_cmmd_opts *o, cs_cmmd_result *res);

/* The rows of x (n, d) float32 as float64, L2-normalised when normalize (out (n, d) float64). */
cs_status cs_cmmd_rows(const float *x, int64_t n, int d, int normalize, double *out);

/* The kernel matrix K (nt, nt) float64, nt = n1 + n2, of the rows [x; y] (after cs_cmmd_rows):
 * K[i, j] = exp(-gamma (G[i, i] + G[j, j] - 2 G[i, j])) with G the Gram matrix (cs_gram_rows'
 * fixed tiles: the same bits for any thread count). *K is malloc'd (free()). */
cs_status cs_cmmd_kernel_build(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                               const cs_cmmd_opts *o, double **K);

/* CMMD of a resample from a kernel matrix: row i of [x; y] counted w[i] >= 0 times (w (nt), its
 * first n1 entries sum to m1 >= 1, the others to m2 >= 1):
 *   scale * (sum w_i w_j K_ij / m1^2 over x pairs + ... / m2^2 over y pairs - 2 ... / (m1 m2)).
 * Identity counts give cs_cmmd_compute's value up to summation order. */
double cs_cmmd_from_kernel(const double *K, int64_t nt, int64_t n1, const int64_t *w, double scale);

#ifdef __cplusplus
}
#endif
#endif
