/* BLAS calls whose results do not depend on the thread count (internal).
 *
 * Why: OpenBLAS splits a threaded call differently for 1, 2 or 16 threads (level-2 routines such
 * as dsymv inside LAPACK's tridiagonal reduction sum per-thread partial vectors; level-3 routines
 * switch kernels and blockings with the split), so the last bits of a covariance, an eigenvalue or
 * a network feature moved with --threads. copyscope's rule, everywhere:
 *
 *   1. every BLAS/LAPACK call runs on ONE OpenBLAS thread (cs_blas_serial);
 *   2. parallelism comes from our own OpenMP loops over work items whose partition is fixed by
 *      the problem's shape only (images, fixed tiles of an output matrix, sets, replicates), each
 *      item written by exactly one call, reductions in a fixed order.
 *
 * Then the thread count only decides which thread computes an item, never how: outputs are
 * bit-identical for any --threads / OMP_NUM_THREADS on one machine. Across OpenBLAS kernels
 * (Haswell, SkylakeX, Cooperlake, Zen: OPENBLAS_CORETYPE) the arithmetic inside one call differs;
 * tests/determinism.cmake measures and bounds that. */
#ifndef CS_CORE_BLAS_H
#define CS_CORE_BLAS_H

#include <stdint.h>

/* Put OpenBLAS on one thread, process-wide (idempotent, cheap; called by every entry point that
 * reaches BLAS). Programs embedding copyscope next to other OpenBLAS users get the same setting. */
void cs_blas_serial(void);

/* Rows of a tile of the tiled products below: fixed, so the partition never depends on threads. */
#define CS_BLAS_TILE 256

/* G (n, n) row-major = beta * G + Z Z^T for Z (n, k) row-major (ldz >= k): the Gram matrix of
 * Z's rows, both triangles. Upper tiles (I <= J) are computed in parallel with `threads` OpenMP
 * threads (<= 0: the OpenMP default), one dgemm each; the lower triangle is mirrored. */
void cs_gram_rows(const double *z, int64_t n, int k, int64_t ldz, double beta, double *g, int threads);

/* M (d, d) row-major = beta * M + C^T C for C (n, d) row-major: the co-moment of C's columns,
 * both triangles, tiled and threaded as cs_gram_rows. */
void cs_gram_cols(const double *c, int64_t n, int d, double beta, double *m, int threads);

#endif
