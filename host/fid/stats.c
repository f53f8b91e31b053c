/* Mean and co-moment statistics in float64 with exact pairwise merging (see stats.h). */
#include "copyscope/stats.h"

#include "core/blas.h"
#include "core/common.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* CS_STATS_CHUNK_ROWS (stats.h) rows are converted to float64 at a time: the scratch is bounded
 * to ROWS * d doubles (16 MiB at d=2048). */

cs_status cs_stats_init(cs_stats **out, int d) {
    *out = NULL;
    if (d < 1 || d > CS_STATS_MAX_DIMS)
        return CS_FAIL(CS_E_USAGE, "statistics dimension %d is outside 1..%d", d, CS_STATS_MAX_DIMS);
    cs_blas_serial();
    cs_stats *s = cs_calloc(1, sizeof *s, "statistics");
    if (!s) return CS_E_NOMEM;
    s->d = d;
    s->mean = cs_calloc((size_t)d, sizeof(double), "mean");               /* (d) */
    s->m2 = cs_calloc((size_t)d * (size_t)d, sizeof(double), "co-moment"); /* (d, d) */
    if (!s->mean || !s->m2) {
        cs_stats_free(s);
        return CS_E_NOMEM;
    }
    *out = s;
    return CS_OK;
}

void cs_stats_free(cs_stats *s) {
    if (!s) return;
    free(s->mean);
    free(s->m2);
    free(s);
}

cs_status cs_stats_clone(const cs_stats *s, cs_stats **out) {
    CS_TRY(cs_stats_init(out, s->d));
    cs_stats *c = *out;
    c->n = s->n;
    c->cov_only = s->cov_only;
    c->id = s->id;
    memcpy(c->mean, s->mean, (size_t)s->d * sizeof(double));
    memcpy(c->m2, s->m2, (size_t)s->d * (size_t)s->d * sizeof(double));
    return CS_OK;
}

int cs_extractor_id_equal(const cs_extractor_id *a, const cs_extractor_id *b) {
    return strcmp(a->weights_sha256, b->weights_sha256) == 0 &&
           strcmp(a->preprocessing, b->preprocessing) == 0;
}

/* Copy the upper triangle of a (d, d) row-major matrix to the lower one. */
static void cs_sym_fill_lower(double *m, int d) {
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) m[(size_t)j * d + i] = m[(size_t)i * d + j];
}

/* Merge one batch already in float64: c (nb, d) is overwritten (centred in place). Updates the
 * upper triangle of s->m2 only. */
static void cs_stats_add_chunk(cs_stats *s, double *c, int64_t nb) {
    const int d = s->d;
    double *bmean = c + (size_t)nb * d; /* (d) scratch after the rows */
    for (int j = 0; j < d; j++) bmean[j] = 0.0;
    for (int64_t i = 0; i < nb; i++) {
        const double *row = c + (size_t)i * d;
        for (int j = 0; j < d; j++) bmean[j] += row[j];
    }
    for (int j = 0; j < d; j++) bmean[j] /= (double)nb;
    for (int64_t i = 0; i < nb; i++) {
        double *row = c + (size_t)i * d;
        for (int j = 0; j < d; j++) row[j] -= bmean[j];
    }
    /* m2 += C^T C (the batch's own centred co-moment), in fixed tiles (core/blas.h) */
    cs_gram_cols(c, nb, d, 1.0, s->m2, 0);
    const int64_t na = s->n, n = na + nb;
    /* delta = batch mean - running mean; m2 += delta delta^T * na nb / n; mean += delta nb / n */
    for (int j = 0; j < d; j++) bmean[j] -= s->mean[j];
    if (na > 0)
        cblas_dsyr(CblasRowMajor, CblasUpper, d, (double)na * (double)nb / (double)n, bmean, 1,
                   s->m2, d);
    for (int j = 0; j < d; j++) s->mean[j] += bmean[j] * ((double)nb / (double)n);
    s->n = n;
}

cs_status cs_stats_check_add(const cs_stats *s, int64_t n) {
    if (s->cov_only)
        return CS_FAIL(CS_E_UNSUPPORTED,
                       "cannot add rows to statistics with an unknown sample count (from .npz)");
    if (n < 0) return CS_FAIL(CS_E_USAGE, "negative row count %lld", (long long)n);
    return CS_OK;
}

/* Rows of x32 (float32) or x64 (float64), exactly one non-NULL, converted to float64 chunk by
 * chunk. */
static cs_status cs_stats_add_rows(cs_stats *s, const float *x32, const double *x64, int64_t n) {
    CS_TRY(cs_stats_check_add(s, n));
    if (n == 0) return CS_OK;
    const int d = s->d;
    for (size_t k = 0; k < (size_t)n * d; k++) {
        double v = x32 ? (double)x32[k] : x64[k];
        if (!isfinite(v))
            return CS_FAIL(CS_E_NUMERIC, "feature row %lld column %d is not finite (%g)",
                           (long long)(k / (size_t)d), (int)(k % (size_t)d), v);
    }
    int64_t rows = n < CS_STATS_CHUNK_ROWS ? n : CS_STATS_CHUNK_ROWS;
    double *c = cs_malloc(((size_t)rows + 1) * d * sizeof(double), "feature batch"); /* (rows+1, d) */
    if (!c) return CS_E_NOMEM;
    for (int64_t i0 = 0; i0 < n; i0 += rows) {
        int64_t nb = n - i0 < rows ? n - i0 : rows;
        if (x32)
            for (size_t k = 0; k < (size_t)nb * d; k++) c[k] = (double)x32[(size_t)i0 * d + k];
        else
            memcpy(c, x64 + (size_t)i0 * d, (size_t)nb * d * sizeof(double));
        cs_stats_add_chunk(s, c, nb);
    }
    free(c);
    cs_sym_fill_lower(s->m2, d);
    return CS_OK;
}

cs_status cs_stats_add_f32(cs_stats *s, const float *x, int64_t n) { return cs_stats_add_rows(s, x, NULL, n); }

cs_status cs_stats_add_f64(cs_stats *s, const double *x, int64_t n) { return cs_stats_add_rows(s, NULL, x, n); }

cs_status cs_stats_merge(cs_stats *a, const cs_stats *b) {
    if (a->d != b->d)
        return CS_FAIL(CS_E_MISMATCH, "cannot merge statistics of %d and %d dimensions", a->d, b->d);
    if (a->cov_only || b->cov_only)
        return CS_FAIL(CS_E_UNSUPPORTED, "cannot merge statistics with an unknown sample count "
                                         "(.npz holds only mu and sigma)");
    if (a->n > 0 && b->n > 0 && !cs_extractor_id_equal(&a->id, &b->id))
        return CS_FAIL(CS_E_MISMATCH,
                       "cannot merge statistics from different feature extractors "
                       "(weights %s, preprocessing '%s' vs weights %s, preprocessing '%s')",
                       a->id.weights_sha256[0] ? a->id.weights_sha256 : "unknown",
                       a->id.preprocessing, b->id.weights_sha256[0] ? b->id.weights_sha256 : "unknown",
                       b->id.preprocessing);
    if (a->n < 0 || b->n < 0 || a->n > CS_STATS_MAX_N || b->n > CS_STATS_MAX_N - a->n)
        return CS_FAIL(CS_E_FORMAT,
                       "sample counts %lld + %lld are impossible (merged count above 2^53)",
                       (long long)a->n, (long long)b->n);
    if (b->n == 0) return CS_OK;
    const int d = a->d;
    const size_t dd = (size_t)d * d;
    if (a->n == 0) {
        memcpy(a->mean, b->mean, (size_t)d * sizeof(double));
        memcpy(a->m2, b->m2, dd * sizeof(double));
        a->n = b->n;
        a->id = b->id;
        return CS_OK;
    }
    const int64_t na = a->n, nb = b->n, n = na + nb;
    const double w = (double)na * (double)nb / (double)n, f = (double)nb / (double)n;
    double *delta = cs_malloc((size_t)d * sizeof(double), "mean difference"); /* (d) */
    if (!delta) return CS_E_NOMEM;
    for (int j = 0; j < d; j++) delta[j] = b->mean[j] - a->mean[j];
    for (int i = 0; i < d; i++) {
        double *ar = a->m2 + (size_t)i * d;
        const double *br = b->m2 + (size_t)i * d;
        const double wi = w * delta[i];
        for (int j = i; j < d; j++) ar[j] += br[j] + wi * delta[j];
    }
    for (int j = 0; j < d; j++) a->mean[j] += delta[j] * f;
    a->n = n;
    free(delta);
    cs_sym_fill_lower(a->m2, d);
    return CS_OK;
}

cs_status cs_stats_covariance(const cs_stats *s, double *cov) {
    const size_t dd = (size_t)s->d * s->d;
    if (s->cov_only) {
        memcpy(cov, s->m2, dd * sizeof(double));
        return CS_OK;
    }
    if (s->n < 2)
        return CS_FAIL(CS_E_USAGE, "the covariance needs at least 2 samples, the set has %lld",
                       (long long)s->n);
    const double f = 1.0 / (double)(s->n - 1);
    for (size_t k = 0; k < dd; k++) cov[k] = s->m2[k] * f;
    return CS_OK;
}

cs_status cs_stats_from_mean_cov(int d, const double *mean, const double *cov, cs_stats **out) {
    CS_TRY(cs_stats_init(out, d));
    cs_stats *s = *out;
    s->cov_only = 1;
    memcpy(s->mean, mean, (size_t)d * sizeof(double));
    memcpy(s->m2, cov, (size_t)d * (size_t)d * sizeof(double));
    return CS_OK;
}

cs_status cs_stats_validate(const cs_stats *s, const char *what) {
    const int d = s->d;
    const size_t dd = (size_t)d * d;
    const char *name = s->cov_only ? "covariance" : "co-moment";
    if (s->cov_only ? s->n != 0 : (s->n < 0 || s->n > CS_STATS_MAX_N))
        return CS_FAIL(CS_E_FORMAT, "%s: impossible sample count n = %lld (expected 0..2^53)", what,
                       (long long)s->n);
    for (int j = 0; j < d; j++)
        if (!isfinite(s->mean[j]))
            return CS_FAIL(CS_E_FORMAT, "%s: mean column %d is not finite (%g)", what, j, s->mean[j]);
    for (size_t k = 0; k < dd; k++)
        if (!isfinite(s->m2[k]))
            return CS_FAIL(CS_E_FORMAT, "%s: %s row %zu column %zu is not finite (%g)", what, name,
                           k / (size_t)d, k % (size_t)d, s->m2[k]);
    double maxdiag = 0.0, trace = 0.0;
    for (int i = 0; i < d; i++) {
        double v = s->m2[(size_t)i * d + i];
        if (v < 0.0)
            return CS_FAIL(CS_E_FORMAT,
                           "%s: %s diagonal entry %d is negative (%g): not a covariance (a variance "
                           "cannot be negative)",
                           what, name, i, v);
        maxdiag = fmax(maxdiag, v);
        trace += v;
    }
    /* Symmetry: every entry of a PSD matrix is at most its largest diagonal entry in magnitude;
     * float32 storage makes the two triangles differ by ~1.2e-7 of that at most. */
    const double sym_tol = CS_STATS_SYM_RTOL * maxdiag;
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) {
            double a = s->m2[(size_t)i * d + j], b = s->m2[(size_t)j * d + i];
            if (!(fabs(a - b) <= sym_tol))
                return CS_FAIL(CS_E_FORMAT,
                               "%s: %s is not symmetric: entry (%d, %d) = %.17g but (%d, %d) = "
                               "%.17g (tolerance %.3g)",
                               what, name, i, j, a, j, i, b, sym_tol);
        }
    if (trace == 0.0) {
        for (size_t k = 0; k < dd; k++)
            if (s->m2[k] != 0.0)
                return CS_FAIL(CS_E_FORMAT, "%s: %s has a zero diagonal but non-zero entries: not "
                                            "positive semi-definite", what, name);
        return CS_OK;
    }
    /* PSD: a covariance M = M0 + E with M0 PSD and E the rounding of its entries (|E_ij| <= u
     * sqrt(M_ii M_jj)) has ||E||_2 <= ||E||_F <= u tr(M), so M + tol tr(M) I is positive definite
     * whenever tol > u: the Cholesky factorization of the shifted matrix succeeds. tol = 1e-6
     * covers float32 storage (u = 6e-8) 16 times over; a matrix it refuses has an eigenvalue below
     * -1e-6 tr(M), which no rounding explains. */
    const double shift = CS_STATS_PSD_RTOL * trace;
    double *l = cs_malloc(dd * sizeof(double), "covariance check"); /* (d, d) */
    if (!l) return CS_E_NOMEM;
    memcpy(l, s->m2, dd * sizeof(double));
    for (int i = 0; i < d; i++) l[(size_t)i * d + i] += shift;
    /* column-major 'U' on row-major data reads the lower triangle: the symmetry was checked */
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', d, l, d);
    free(l);
    if (info != 0)
        return CS_FAIL(CS_E_FORMAT,
                       "%s: %s is not positive semi-definite (it has an eigenvalue below -%.3g = "
                       "-%g x its trace; Cholesky fails at column %d): not a covariance",
                       what, name, shift, CS_STATS_PSD_RTOL, (int)info);
    return CS_OK;
}
