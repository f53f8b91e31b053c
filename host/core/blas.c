/* Thread-count-independent BLAS (see blas.h). */
#include "core/blas.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>

void cs_blas_serial(void) {
    /* A relaxed read first: openblas_set_num_threads takes a lock inside OpenBLAS. */
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* The upper tiles (I <= J) of an m x m output in CS_BLAS_TILE blocks, numbered row by row. */
static int64_t tile_count(int64_t m) {
    int64_t t = (m + CS_BLAS_TILE - 1) / CS_BLAS_TILE;
    return t * (t + 1) / 2;
}

static void tile_of(int64_t m, int64_t idx, int64_t *i0, int64_t *j0) {
    int64_t t = (m + CS_BLAS_TILE - 1) / CS_BLAS_TILE, ti = 0; /* tile row */
    while (idx >= t - ti) idx -= t - ti++;
    *i0 = ti * CS_BLAS_TILE;
    *j0 = (ti + idx) * CS_BLAS_TILE;
}

static void mirror_lower(double *g, int64_t m) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = i + 1; j < m; j++) g[(size_t)j * m + i] = g[(size_t)i * m + j];
}

/* One routine for both products: rows (A = Z, out = Z Z^T) or columns (A = C, out = C^T C). */
static void gram_tiled(const double *a, int64_t m, int64_t kdim, int64_t lda, int cols, double beta,
                       double *g, int threads) {
    cs_blas_serial();
    if (threads <= 0) threads = omp_get_max_threads();
    const int64_t ntiles = tile_count(m);
    if (threads > ntiles) threads = (int)ntiles;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int64_t t = 0; t < ntiles; t++) {
        int64_t i0, j0;
        tile_of(m, t, &i0, &j0);
        const int bi = (int)(m - i0 < CS_BLAS_TILE ? m - i0 : CS_BLAS_TILE);
        const int bj = (int)(m - j0 < CS_BLAS_TILE ? m - j0 : CS_BLAS_TILE);
        double *out = g + (size_t)i0 * m + j0;
        if (cols) /* C[:, I]^T C[:, J]: (bi, n) x (n, bj) */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi, bj, (int)kdim, 1.0, a + i0,
                        (int)lda, a + j0, (int)lda, beta, out, (int)m);
        else /* Z[I, :] Z[J, :]^T: (bi, k) x (k, bj) */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi, bj, (int)kdim, 1.0,
                        a + (size_t)i0 * lda, (int)lda, a + (size_t)j0 * lda, (int)lda, beta, out, (int)m);
    }
    mirror_lower(g, m);
}

void cs_gram_rows(const double *z, int64_t n, int k, int64_t ldz, double beta, double *g, int threads) {
    gram_tiled(z, n, k, ldz, 0, beta, g, threads);
}

void cs_gram_cols(const double *c, int64_t n, int d, double beta, double *m, int threads) {
    gram_tiled(c, d, n, d, 1, beta, m, threads);
}
