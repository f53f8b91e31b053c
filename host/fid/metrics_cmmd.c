/* CMMD: the Gaussian-RBF MMD of google-research's cmmd/distance.py, in float64, tiled (see
 * include/copyscope/cmmd.h). cs_cmmd_compute_ref is the plain-loop reference of the tiled
 * cs_cmmd_compute; cs_cmmd_kernel_build / cs_cmmd_from_kernel serve the audit's bootstrap. */
#include "copyscope/cmmd.h"

#include "core/blas.h"
#include "core/common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CS_CMMD_MAX_DIMS (1 << 20)

void cs_cmmd_opts_default(cs_cmmd_opts *o) {
    o->sigma = CS_CMMD_SIGMA;
    o->scale = CS_CMMD_SCALE;
    o->normalize = 1;
    o->threads = 0;
}

static cs_status cmmd_check(int64_t n1, int64_t n2, int d, const cs_cmmd_opts *o) {
    if (n1 < 1 || n2 < 1 || n1 > CS_CMMD_MAX_ROWS || n2 > CS_CMMD_MAX_ROWS)
        return CS_FAIL(CS_E_USAGE, "cmmd: needs at least 1 feature row in each set (got %lld and %lld)",
                       (long long)n1, (long long)n2);
    if (d < 1 || d > CS_CMMD_MAX_DIMS) return CS_FAIL(CS_E_USAGE, "cmmd: bad feature dimension %d", d);
    if (!(o->sigma > 0) || !isfinite(o->sigma) || !isfinite(o->scale))
        return CS_FAIL(CS_E_USAGE, "cmmd: bad kernel options (sigma %g, scale %g)", o->sigma, o->scale);
    size_t nd;
    if (!cs_mul_size((size_t)(n1 > n2 ? n1 : n2), (size_t)d, &nd) || nd > SIZE_MAX / sizeof(double))
        return CS_FAIL(CS_E_USAGE, "cmmd: %lld x %d features is too large", (long long)(n1 > n2 ? n1 : n2), d);
    return CS_OK;
}

/* The divisor of each row: its Euclidean norm (normalize) or 1; CS_E_NUMERIC for a non-finite
 * value or a zero row (x / |x| is then undefined: NaN in distance.py's float32 as well). */
static cs_status cmmd_norms(const float *x, int64_t n, int d, int normalize, const char *which, double *nrm) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)d;
        double ss = 0.0;
        for (int k = 0; k < d; k++) {
            if (!isfinite(row[k]))
                return CS_FAIL(CS_E_NUMERIC, "cmmd: row %lld of the %s set has a non-finite feature", (long long)i,
                               which);
            ss += (double)row[k] * (double)row[k];
        }
        if (normalize && !(ss > 0))
            return CS_FAIL(CS_E_NUMERIC, "cmmd: row %lld of the %s set is all zeros and cannot be L2-normalised",
                           (long long)i, which);
        nrm[i] = normalize ? sqrt(ss) : 1.0;
    }
    return CS_OK;
}

/* Rows [i0, i0 + b) of x as float64 divided by their norms: out (b, d). */
static void cmmd_gather(const float *x, const double *nrm, int64_t i0, int64_t b, int d, double *out) {
    for (int64_t i = 0; i < b; i++) {
        const float *row = x + (size_t)(i0 + i) * (size_t)d;
        double *o = out + (size_t)i * (size_t)d;
        for (int k = 0; k < d; k++) o[k] = (double)row[k] / nrm[i0 + i];
    }
}

/* Squared norms of the gathered rows (distance.py takes them from diag(x x^T)). */
static void cmmd_sqnorms(const float *x, const double *nrm, int64_t n, int d, double *sq) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)d;
        double s = 0.0;
        for (int k = 0; k < d; k++) {
            double v = (double)row[k] / nrm[i];
            s += v * v;
        }
        sq[i] = s;
    }
}

/* distance.py's kernel of one pair, its operations in its order:
 * exp(-gamma * ((-2 * xy + sq_i) + sq_j)). */
static inline double cmmd_kernel(double gamma, double xy, double sq_i, double sq_j) {
    return exp(-gamma * (-2.0 * xy + sq_i + sq_j));
}

static cs_status cmmd_finish(double sxx, double syy, double sxy, int64_t n1, int64_t n2, const cs_cmmd_opts *o,
                             cs_cmmd_result *res) {
    res->k_xx = sxx / ((double)n1 * (double)n1);
    res->k_yy = syy / ((double)n2 * (double)n2);
    res->k_xy = sxy / ((double)n1 * (double)n2);
    res->cmmd = o->scale * (res->k_xx + res->k_yy - 2.0 * res->k_xy);
    if (!isfinite(res->cmmd)) return CS_FAIL(CS_E_NUMERIC, "cmmd: the result is not finite");
    return CS_OK;
}

/* cs_cmmd_rows, naming the set in messages. */
static cs_status cmmd_rows_named(const float *x, int64_t n, int d, int normalize, const char *which, double *out) {
    double *nrm = cs_malloc((size_t)n * sizeof(double), "row norms"); /* (n) */
    if (!nrm) return CS_E_NOMEM;
    cs_status st = cmmd_norms(x, n, d, normalize, which, nrm);
    if (st == CS_OK) cmmd_gather(x, nrm, 0, n, d, out);
    free(nrm);
    return st;
}

cs_status cs_cmmd_rows(const float *x, int64_t n, int d, int normalize, double *out) {
    return cmmd_rows_named(x, n, d, normalize, "given", out);
}

/* ---- the readable reference ---------------------------------------------------------------- */

cs_status cs_cmmd_compute_ref(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                              const cs_cmmd_opts *o_in, cs_cmmd_result *res) {
    cs_cmmd_opts o;
    if (o_in) o = *o_in;
    else cs_cmmd_opts_default(&o);
    CS_TRY(cmmd_check(n1, n2, d, &o));
    double *zx = cs_malloc((size_t)n1 * (size_t)d * sizeof(double), "cmmd rows"); /* (n1, d) float64 */
    double *zy = cs_malloc((size_t)n2 * (size_t)d * sizeof(double), "cmmd rows"); /* (n2, d) float64 */
    cs_status st = zx && zy ? CS_OK : CS_E_NOMEM;
    if (st == CS_OK) st = cmmd_rows_named(x, n1, d, o.normalize, "first", zx);
    if (st == CS_OK) st = cmmd_rows_named(y, n2, d, o.normalize, "second", zy);
    if (st == CS_OK) {
        const double gamma = 1.0 / (2.0 * o.sigma * o.sigma);
        const double *set[2] = {zx, zy};
        const int64_t n[2] = {n1, n2};
        double sum[3] = {0, 0, 0}; /* xx, yy, xy */
        for (int p = 0; p < 3; p++) {
            const double *a = set[p == 1], *b = set[p >= 1];
            const int64_t na = n[p == 1], nb = n[p >= 1];
            for (int64_t i = 0; i < na; i++) {
                double row = 0; /* a sum per row first: a single running sum of n^2 terms would
                                 * lose ~sqrt(n^2) ulps, more than the tiled sums do */
                for (int64_t j = 0; j < nb; j++) {
                    double ab = 0, aa = 0, bb = 0;
                    for (int k = 0; k < d; k++) {
                        ab += a[i * d + k] * b[j * d + k];
                        aa += a[i * d + k] * a[i * d + k];
                        bb += b[j * d + k] * b[j * d + k];
                    }
                    row += cmmd_kernel(gamma, ab, aa, bb);
                }
                sum[p] += row;
            }
        }
        st = cmmd_finish(sum[0], sum[1], sum[2], n1, n2, &o, res);
    }
    free(zx), free(zy);
    return st;
}

/* ---- the tiled computation ------------------------------------------------------------------- */

/* One tile: rows [i0, i0 + bi) of set a against rows [j0, j0 + bj) of set b, counted `weight`
 * times (2 for an off-diagonal tile of a symmetric block). */
typedef struct cmmd_tile {
    int a, b; /* 0 = x, 1 = y */
    int64_t i0, j0;
    double weight;
} cmmd_tile;

static int64_t cmmd_ntiles(int64_t n) { return (n + CS_BLAS_TILE - 1) / CS_BLAS_TILE; }

cs_status cs_cmmd_compute(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                          const cs_cmmd_opts *o_in, cs_cmmd_result *res) {
    cs_cmmd_opts o;
    if (o_in) o = *o_in;
    else cs_cmmd_opts_default(&o);
    CS_TRY(cmmd_check(n1, n2, d, &o));
    cs_blas_serial(); /* one OpenBLAS thread per tile: numbers independent of the thread count */
    const float *src[2] = {x, y};
    const int64_t n[2] = {n1, n2}, t1 = cmmd_ntiles(n1), t2 = cmmd_ntiles(n2);
    const int64_t ntiles = t1 * (t1 + 1) / 2 + t2 * (t2 + 1) / 2 + t1 * t2;
    double *nrm = cs_malloc((size_t)(n1 + n2) * 2 * sizeof(double), "cmmd norms"); /* (n1 + n2) x 2 */
    cmmd_tile *tiles = cs_malloc((size_t)ntiles * sizeof *tiles, "cmmd tiles");    /* (ntiles) */
    double *part = cs_malloc((size_t)ntiles * sizeof(double), "cmmd tiles");       /* (ntiles) */
    cs_status st = nrm && tiles && part ? CS_OK : CS_E_NOMEM;
    double *nr[2] = {nrm, nrm ? nrm + n1 : NULL};                       /* norms (n1), (n2) */
    double *sq[2] = {nrm ? nrm + n1 + n2 : NULL, nrm ? nrm + 2 * n1 + n2 : NULL}; /* squared norms */
    if (st == CS_OK) st = cmmd_norms(x, n1, d, o.normalize, "first", nr[0]);
    if (st == CS_OK) st = cmmd_norms(y, n2, d, o.normalize, "second", nr[1]);
    if (st != CS_OK) goto done;
    cmmd_sqnorms(x, nr[0], n1, d, sq[0]);
    cmmd_sqnorms(y, nr[1], n2, d, sq[1]);
    /* the tiles: upper triangle of xx, of yy, then all of xy (fixed by the sizes only) */
    int64_t nt = 0;
    for (int s = 0; s < 2; s++) {
        const int64_t t = cmmd_ntiles(n[s]);
        for (int64_t ti = 0; ti < t; ti++)
            for (int64_t tj = ti; tj < t; tj++)
                tiles[nt++] = (cmmd_tile){s, s, ti * CS_BLAS_TILE, tj * CS_BLAS_TILE, ti == tj ? 1.0 : 2.0};
    }
    for (int64_t ti = 0; ti < t1; ti++)
        for (int64_t tj = 0; tj < t2; tj++) tiles[nt++] = (cmmd_tile){0, 1, ti * CS_BLAS_TILE, tj * CS_BLAS_TILE, 1.0};
    CS_ASSERT(nt == ntiles);
    const double gamma = 1.0 / (2.0 * o.sigma * o.sigma);
    int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
    if (threads > ntiles) threads = (int)ntiles;
    volatile int nomem = 0;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* (T, d) rows of a, (T, d) rows of b, (T, T) their products, all float64 */
        double *buf = malloc(((size_t)2 * CS_BLAS_TILE * (size_t)d + (size_t)CS_BLAS_TILE * CS_BLAS_TILE) *
                             sizeof(double));
        if (!buf) nomem = 1;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntiles; t++) {
            if (!buf) continue;
            const cmmd_tile *tl = &tiles[t];
            const int64_t bi = n[tl->a] - tl->i0 < CS_BLAS_TILE ? n[tl->a] - tl->i0 : CS_BLAS_TILE;
            const int64_t bj = n[tl->b] - tl->j0 < CS_BLAS_TILE ? n[tl->b] - tl->j0 : CS_BLAS_TILE;
            double *ra = buf, *rb = buf + (size_t)CS_BLAS_TILE * d, *g = rb + (size_t)CS_BLAS_TILE * d;
            cmmd_gather(src[tl->a], nr[tl->a], tl->i0, bi, d, ra);
            cmmd_gather(src[tl->b], nr[tl->b], tl->j0, bj, d, rb);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bi, (int)bj, d, 1.0, ra, d, rb, d, 0.0, g,
                        (int)bj);
            const double *sa = sq[tl->a] + tl->i0, *sb = sq[tl->b] + tl->j0;
            double s = 0.0;
            for (int64_t i = 0; i < bi; i++) {
                double rs = 0.0;
                for (int64_t j = 0; j < bj; j++) rs += cmmd_kernel(gamma, g[i * bj + j], sa[i], sb[j]);
                s += rs;
            }
            part[t] = tl->weight * s;
        }
        free(buf);
    }
    if (nomem) {
        st = CS_FAIL(CS_E_NOMEM, "cmmd: out of memory for a tile");
        goto done;
    }
    double sum[3] = {0, 0, 0}; /* xx, yy, xy: in tile order */
    for (int64_t t = 0; t < ntiles; t++) sum[tiles[t].a != tiles[t].b ? 2 : tiles[t].a] += part[t];
    st = cmmd_finish(sum[0], sum[1], sum[2], n1, n2, &o, res);
done:
    free(nrm), free(tiles), free(part);
    return st;
}

/* ---- kernel matrix and resamples (the audit's bootstrap) ---------------------------------------- */

cs_status cs_cmmd_kernel_build(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                               const cs_cmmd_opts *o_in, double **out) {
    cs_cmmd_opts o;
    if (o_in) o = *o_in;
    else cs_cmmd_opts_default(&o);
    *out = NULL;
    CS_TRY(cmmd_check(n1, n2, d, &o));
    const int64_t nt = n1 + n2;
    size_t nd, nn;
    if (!cs_mul_size((size_t)nt, (size_t)d, &nd) || !cs_mul_size((size_t)nt, (size_t)nt, &nn) ||
        nn > SIZE_MAX / sizeof(double))
        return CS_FAIL(CS_E_USAGE, "cmmd: a %lld x %lld kernel matrix is too large", (long long)nt, (long long)nt);
    double *z = cs_malloc(nd * sizeof(double), "cmmd rows");    /* (nt, d) float64 */
    double *K = cs_malloc(nn * sizeof(double), "cmmd kernel");  /* (nt, nt) float64 */
    double *sq = cs_malloc((size_t)nt * sizeof(double), "cmmd norms"); /* (nt) */
    cs_status st = z && K && sq ? CS_OK : CS_E_NOMEM;
    if (st == CS_OK) st = cmmd_rows_named(x, n1, d, o.normalize, "first", z);
    if (st == CS_OK) st = cmmd_rows_named(y, n2, d, o.normalize, "second", z + (size_t)n1 * d);
    if (st == CS_OK) {
        cs_gram_rows(z, nt, d, d, 0.0, K, o.threads); /* fixed tiles: the same bits for any thread count */
        for (int64_t i = 0; i < nt; i++) sq[i] = K[(size_t)i * nt + i]; /* distance.py: diag(x x^T) */
        const double gamma = 1.0 / (2.0 * o.sigma * o.sigma);
        int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
        for (int64_t i = 0; i < nt; i++)
            for (int64_t j = 0; j < nt; j++) K[(size_t)i * nt + j] = cmmd_kernel(gamma, K[(size_t)i * nt + j], sq[i], sq[j]);
    }
    free(z), free(sq);
    if (st != CS_OK) {
        free(K);
        return st;
    }
    *out = K;
    return CS_OK;
}

double cs_cmmd_from_kernel(const double *K, int64_t nt, int64_t n1, const int64_t *w, double scale) {
    double sxx = 0, syy = 0, sxy = 0, m1 = 0, m2 = 0;
    for (int64_t i = 0; i < nt; i++) {
        if (!w[i]) continue;
        const double *row = K + (size_t)i * (size_t)nt;
        double a = 0, b = 0; /* row i against the x rows, the y rows */
        for (int64_t j = 0; j < n1; j++)
            if (w[j]) a += (double)w[j] * row[j];
        for (int64_t j = n1; j < nt; j++)
            if (w[j]) b += (double)w[j] * row[j];
        if (i < n1) {
            sxx += (double)w[i] * a;
            sxy += (double)w[i] * b;
            m1 += (double)w[i];
        } else {
            syy += (double)w[i] * b;
            m2 += (double)w[i];
        }
    }
    return scale * (sxx / (m1 * m1) + syy / (m2 * m2) - 2.0 * (sxy / (m1 * m2)));
}
