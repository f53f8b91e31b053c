/* The Fréchet distance (FID) between two Gaussians: every method in one file (see frechet.h).
 *
 *   1. the readable reference (Jacobi, naive loops)                   cs_fid_reference_cov
 *   2. the fast factor paths (Cholesky or eigendecomposition + SVD)   cs_fid_ref_*
 *   3. the low-rank path from feature rows (nuclear norm)            cs_fid_lowrank
 *   4. resampled low-rank FIDs from one Gram matrix (bootstrap)      cs_fid_boot_*
 *   5. the dispatcher                                                cs_fid_compute
 *
 * All methods use the identity tr((S1 S2)^(1/2)) = sum_i sqrt(ev_i(A S2 A)), A = S1^(1/2) (or the
 * congruent L^T S2 L with S1 = L L^T, or the singular values of C1 C2^T): the eigenvalues of S1 S2
 * are real and non-negative because S1 S2 is similar to the PSD matrix A S2 A. */
#include "copyscope/frechet.h"

#include "core/blas.h"
#include "core/common.h"
#include "fid/frechet_common.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------------------------ */

cs_status cs_fid_method_parse(const char *text, cs_fid_method *out) {
    static const struct {
        const char *name;
        cs_fid_method m;
    } tab[] = {{"auto", CS_FID_AUTO},       {"eig", CS_FID_EIG},
               {"eig-ref", CS_FID_EIG_REF}, {"chol", CS_FID_EIG},
               {"lowrank", CS_FID_LOWRANK}, {"reference", CS_FID_REFERENCE},
               {"svd", CS_FID_SVD}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(text, tab[i].name) == 0) {
            *out = tab[i].m;
            return CS_OK;
        }
    return CS_FAIL(CS_E_USAGE, "unknown FID method '%s' (auto, eig, eig-ref, svd, lowrank, reference)",
                   text);
}

const char *cs_fid_warning_text(unsigned bit) {
    switch (bit) {
    case CS_FID_WARN_SINGULAR1: return "set 1: covariance is singular (n < d); FID is biased, use >= d samples";
    case CS_FID_WARN_SINGULAR2: return "set 2: covariance is singular (n < d); FID is biased, use >= d samples";
    case CS_FID_WARN_NOT_PSD1: return "set 1: covariance has negative eigenvalues (clamped to 0)";
    case CS_FID_WARN_NOT_PSD2: return "set 2: covariance has negative eigenvalues (clamped to 0)";
    case CS_FID_WARN_EXTRACTOR: return "the two sets were produced by different feature extractors";
    }
    return "unknown warning";
}

cs_status cs_fid_check_finite(const double *x, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return CS_FAIL(CS_E_NUMERIC, "%s contains a non-finite value (%g at index %zu)", what,
                           x[i], i);
    return CS_OK;
}

static cs_status cs_check_finite_f32(const float *x, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return CS_FAIL(CS_E_NUMERIC, "%s contains a non-finite value (%g at index %zu)", what,
                           (double)x[i], i);
    return CS_OK;
}

static double cs_trace(const double *m, int d) {
    double t = 0.0;
    for (int i = 0; i < d; i++) t += m[(size_t)i * d + i];
    return t;
}

double cs_fid_mean_term(const double *mu1, const double *mu2, int d) {
    double s = 0.0;
    for (int i = 0; i < d; i++) {
        double t = mu1[i] - mu2[i];
        s += t * t;
    }
    return s;
}

/* The rank of a covariance from its eigenvalues w (d of them, ascending): eigenvalues at most
 * d * eps * max|w| are rounding noise (exact zeros), and a covariance of n samples has rank at most
 * n - 1, so only its largest min(n - 1, d) eigenvalues can be non-zero. Dropping the noise matters:
 * a square root turns an eigenvalue of 1e-16 into 1e-8. */
int cs_fid_eig_rank(const double *w, int d, int64_t n) {
    double mx = 0.0;
    for (int i = 0; i < d; i++) mx = fmax(mx, fabs(w[i]));
    double tol = CS_FID_EIG_RTOL * (double)d * mx;
    int r = 0;
    for (int i = d - 1; i >= 0 && w[i] > tol; i--) r++;
    if (n > 0 && n - 1 < r) r = (int)(n - 1);
    return r;
}

/* Assemble the result from its terms and apply the documented clamp around 0. */
cs_status cs_fid_finish(cs_fid_result *res) {
    double scale = res->trace1 + res->trace2 + res->mean_term;
    double fid = res->mean_term + res->trace1 + res->trace2 - 2.0 * res->trace_sqrt;
    if (!isfinite(fid)) return CS_FAIL(CS_E_NUMERIC, "the FID is not finite (%g)", fid);
    if (fabs(fid) <= CS_FID_ZERO_RTOL * scale) fid = 0.0;
    if (fid < 0.0)
        return CS_FAIL(CS_E_NUMERIC,
                       "the FID came out negative (%.17g, scale %.6g) beyond rounding: the "
                       "covariances are not valid (not positive semidefinite)",
                       fid, scale);
    res->fid = fid;
    return CS_OK;
}


static cs_status cs_nuclear_norm(double *k, int64_t m, int64_t n, double *out);

/* ---- 1. readable reference -------------------------------------------------------------------
 * tr((S1 S2)^(1/2)) = sum of the singular values of F1^T F2 for any factors S_i = F_i F_i^T, here
 * F_i = V_i diag(sqrt(l_i)) from Jacobi eigendecompositions, and the singular values by one-sided
 * Jacobi (column norms after orthogonalizing the columns): no LAPACK, no BLAS, no squaring. */

/* Cyclic Jacobi: rotate away each off-diagonal entry until the matrix is diagonal. a (n, n) is
 * destroyed; w gets the eigenvalues; v (n, n) the eigenvectors as columns. */
static void cs_jacobi_eig(double *a, int n, double *v, double *w) {
#define A(i, j) a[(size_t)(i) * n + (j)]
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) v[(size_t)i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int i = 0; i < n; i++) {
            diag += A(i, i) * A(i, i);
            for (int j = i + 1; j < n; j++) off += A(i, j) * A(i, j);
        }
        if (off <= 1e-36 * diag || off == 0.0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (A(p, q) == 0.0) continue;
                double theta = (A(q, q) - A(p, p)) / (2.0 * A(p, q));
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = A(k, p), akq = A(k, q);
                    A(k, p) = c * akp - s * akq;
                    A(k, q) = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = A(p, k), aqk = A(q, k);
                    A(p, k) = c * apk - s * aqk;
                    A(q, k) = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = v[(size_t)k * n + p], vkq = v[(size_t)k * n + q];
                    v[(size_t)k * n + p] = c * vkp - s * vkq;
                    v[(size_t)k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) w[i] = A(i, i);
#undef A
}

/* One-sided Jacobi: singular values s (n) of a (m, n), destroyed. */
static void cs_jacobi_singular_values(double *a, int m, int n, double *s) {
#define A(i, j) a[(size_t)(i) * n + (j)]
    for (int sweep = 0; sweep < 100; sweep++) {
        int rotated = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double al = 0.0, be = 0.0, ga = 0.0;
                for (int k = 0; k < m; k++) {
                    al += A(k, p) * A(k, p);
                    be += A(k, q) * A(k, q);
                    ga += A(k, p) * A(k, q);
                }
                if (fabs(ga) <= 1e-15 * sqrt(al * be)) continue;
                rotated = 1;
                double zeta = (be - al) / (2.0 * ga);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                double c = 1.0 / sqrt(1.0 + t * t), sn = c * t;
                for (int k = 0; k < m; k++) {
                    double ap = A(k, p), aq = A(k, q);
                    A(k, p) = c * ap - sn * aq;
                    A(k, q) = sn * ap + c * aq;
                }
            }
        if (!rotated) break;
    }
    for (int j = 0; j < n; j++) {
        double t = 0.0;
        for (int k = 0; k < m; k++) t += A(k, j) * A(k, j);
        s[j] = sqrt(t);
    }
#undef A
}

/* f (d, d) = V diag(sqrt(l)) with noise eigenvalues dropped; uses scratch (d, d) and w (d). */
static void cs_reference_factor(const double *cov, int d, double *f, double *scratch, double *w) {
    memcpy(scratch, cov, (size_t)d * d * sizeof(double));
    cs_jacobi_eig(scratch, d, f, w);
    double mx = 0.0;
    for (int k = 0; k < d; k++) mx = fmax(mx, fabs(w[k]));
    for (int k = 0; k < d; k++) {
        double q = w[k] > CS_FID_EIG_RTOL * d * mx ? sqrt(w[k]) : 0.0;
        for (int i = 0; i < d; i++) f[(size_t)i * d + k] *= q;
    }
}

static cs_status cs_fid_reference_cov(int d, const double *mu1, const double *cov1,
                                      const double *mu2, const double *cov2, cs_fid_result *res) {
    size_t dd = (size_t)d * d;
    double *work = cs_malloc(4 * dd * sizeof(double), "reference FID scratch"); /* 4 x (d, d) */
    double *w = cs_malloc((size_t)d * sizeof(double), "eigenvalues");          /* (d) */
    if (!work || !w) {
        free(work);
        free(w);
        return CS_E_NOMEM;
    }
    double *f1 = work, *f2 = work + dd, *k = work + 2 * dd, *scratch = work + 3 * dd;
    cs_reference_factor(cov1, d, f1, scratch, w);
    cs_reference_factor(cov2, d, f2, scratch, w);
    for (int i = 0; i < d; i++) /* k = f1^T f2 */
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int t = 0; t < d; t++) s += f1[(size_t)t * d + i] * f2[(size_t)t * d + j];
            k[(size_t)i * d + j] = s;
        }
    cs_jacobi_singular_values(k, d, d, w);
    res->trace_sqrt = 0.0;
    for (int i = 0; i < d; i++) res->trace_sqrt += w[i];
    res->trace1 = cs_trace(cov1, d);
    res->trace2 = cs_trace(cov2, d);
    res->mean_term = cs_fid_mean_term(mu1, mu2, d);
    res->method = "reference";
    free(work);
    free(w);
    return cs_fid_finish(res);
}

/* ---- 2. factor paths with a reusable reference factor ------------------------------------------
 * S = F F^T with F the Cholesky factor L (d, d) when S is clearly positive definite, else
 * F = V_r diag(sqrt(l_r)) (d, r) from the symmetric eigendecomposition (r = numerical rank).
 * Fast: tr((S1 S2)^(1/2)) = sum sqrt(ev(F1^T S2 F1)) (one symmetric eigenvalue problem per set).
 * Accurate fallback, when the rounding bound of that exceeds 1e-11 of the scale: factor S2 too and
 * take ||F1^T F2||_* (singular values carry absolute errors eps * ||F1^T F2|| rather than
 * sqrt(eps * ||F1^T S2 F1||): small terms stay accurate, identical sets give 0 to ~1e-13). */

typedef struct cs_cov_factor {
    int d, r;  /* F is (d, r) */
    int chol;  /* 1: F = L, lower triangular, r = d */
    double *f; /* (d, r) float64 row-major */
    double clamped; /* with the not-PSD warning: -(most negative eigenvalue) / largest, else 0 */
} cs_cov_factor;

/* Cholesky S = L L^T, accepted only when every pivot^2 is at least 1e-10 of the largest (else
 * the eigendecomposition, which handles (near) rank deficiency, is used). */
static int cs_try_cholesky(double *l, const double *cov, int d) {
    memcpy(l, cov, (size_t)d * d * sizeof(double));
    /* column-major 'U' on row-major data is row-major 'L' without LAPACKE's transposing copy */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', d, l, d) != 0) return 0;
    double mn = INFINITY, mx = 0.0;
    for (int i = 0; i < d; i++) {
        double p = l[(size_t)i * d + i] * l[(size_t)i * d + i];
        mn = fmin(mn, p);
        mx = fmax(mx, p);
    }
    if (!(mn >= 1e-10 * mx)) return 0;
    for (int i = 0; i < d; i++) /* clear the upper triangle left from the input */
        for (int j = i + 1; j < d; j++) l[(size_t)i * d + j] = 0.0;
    return 1;
}

static cs_status cs_cov_factor_init(cs_cov_factor *fa, const double *cov, int d, int64_t n,
                                    int allow_chol, unsigned *warn, unsigned singular_bit,
                                    unsigned not_psd_bit) {
    memset(fa, 0, sizeof *fa);
    fa->d = d;
    fa->f = cs_malloc((size_t)d * d * sizeof(double), "covariance factor"); /* (d, d) */
    if (!fa->f) return CS_E_NOMEM;
    if (allow_chol && !cs_fid_singular_flag(n, d, 1) && cs_try_cholesky(fa->f, cov, d)) {
        fa->r = d;
        fa->chol = 1;
        return CS_OK;
    }
    double *w = cs_malloc((size_t)d * sizeof(double), "eigenvalues"); /* (d) */
    if (!w) return CS_E_NOMEM;
    double *v = fa->f; /* (d, d): eigenvectors as columns, then compacted in place to (d, r) */
    memcpy(v, cov, (size_t)d * d * sizeof(double));
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, v, d, w);
    if (info != 0) {
        free(w);
        return CS_FAIL(CS_E_NUMERIC, "symmetric eigendecomposition failed (LAPACK dsyevd info %d)",
                       (int)info);
    }
    if (w[0] < -1e-6 * fabs(w[d - 1])) {
        *warn |= not_psd_bit;
        fa->clamped = w[d - 1] > 0.0 ? -w[0] / w[d - 1] : 1.0;
    }
    int r = cs_fid_eig_rank(w, d, n);
    if (r < d) *warn |= singular_bit;
    /* F[i][k] = V[i][d - r + k] sqrt(w[d - r + k]); every write lands at or below its read, and
     * all later reads lie above, so the compaction is safe in place */
    for (int i = 0; i < d; i++)
        for (int k = 0; k < r; k++)
            v[(size_t)i * r + k] = v[(size_t)i * d + (d - r + k)] * sqrt(w[d - r + k]);
    fa->r = r;
    free(w);
    return CS_OK;
}

/* Sum of sqrt of the top r eigenvalues w (m, ascending) of F1^T S2 F1, and a bound on its rounding
 * error: a symmetric eigensolver returns each eigenvalue with an absolute error of about
 * delta = sqrt(m) * eps * max(w), which a square root turns into min(delta / (2 sqrt(l)), sqrt(delta)). */
double cs_fid_sum_sqrt_top(const double *w, int m, int r, double *err) {
    double mx = fmax(w[m - 1], 0.0), delta = sqrt((double)m) * DBL_EPSILON * mx, s = 0.0, e = 0.0;
    for (int i = m - 1; i >= m - r; i--) {
        double l = w[i] > 0.0 ? w[i] : 0.0;
        s += sqrt(l);
        e += l > delta ? delta / (2.0 * sqrt(l)) : sqrt(delta);
    }
    *err = e;
    return s;
}

/* Fast way: the eigenvalues of M = F1^T S2 F1 (r1, r1) are those of S1 S2, so
 * tr((S1 S2)^(1/2)) = sum sqrt(ev(M)) (at most rank(S2) <= n2 - 1 of them non-zero), with one
 * symmetric eigenvalue problem (values only) and no factorization of S2. *ok = 0 when the rounding
 * bound of this shortcut exceeds tol (small eigenvalues, whose square roots amplify rounding). */
static cs_status cs_eig_trace_sqrt(const cs_cov_factor *a, const double *cov, int64_t n2, double tol,
                                   double *out, int *ok) {
    *out = 0.0;
    *ok = 1;
    const int d = a->d, r1 = a->r;
    if (r1 == 0) return CS_OK;
    cs_status st = CS_OK;
    double *t = a->chol ? NULL : cs_malloc((size_t)d * r1 * sizeof(double), "S2 F1"); /* (d, r1) */
    double *m = cs_malloc((size_t)(a->chol ? d : r1) * (a->chol ? d : r1) * sizeof(double),
                          "F1^T S2 F1");                                            /* (r1, r1) */
    double *w = cs_malloc((size_t)r1 * sizeof(double), "eigenvalues");              /* (r1) */
    if ((!a->chol && !t) || !m || !w) {
        st = CS_E_NOMEM;
        goto done;
    }
    if (a->chol) { /* M = L^T S2 L: two triangular products in place */
        memcpy(m, cov, (size_t)d * d * sizeof(double));
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, d, d, 1.0,
                    a->f, d, m, d);
        cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, d, d, 1.0, a->f,
                    d, m, d);
    } else { /* T = S2 F1, M = F1^T T */
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, d, r1, 1.0, cov, d, a->f, r1, 0.0, t, r1);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, r1, d, 1.0, a->f, r1, t, r1, 0.0, m,
                    r1);
    }
    /* the upper triangle row-major is the lower one column-major (no transposing copy) */
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', r1, m, r1, w);
    if (info != 0) {
        st = CS_FAIL(CS_E_NUMERIC, "symmetric eigenvalues failed (LAPACK dsyevd info %d)", (int)info);
        goto done;
    }
    int r = (n2 > 0 && n2 - 1 < r1) ? (int)(n2 - 1) : r1;
    double err;
    *out = cs_fid_sum_sqrt_top(w, r1, r, &err);
    *ok = err <= tol;
done:
    free(t);
    free(m);
    free(w);
    return st;
}

/* Accurate way: ||K||_*, K = F1^T F2 (r1, r2), from the singular values of K (dgesdd, values only):
 * absolute errors eps * ||K|| instead of sqrt(eps * ||M||) for the small terms. */
static cs_status cs_svd_trace_sqrt(const cs_cov_factor *a, const cs_cov_factor *b, double *out) {
    *out = 0.0;
    if (a->r == 0 || b->r == 0) return CS_OK;
    const int d = a->d, r1 = a->r, r2 = b->r;
    double *k = cs_malloc((size_t)r1 * r2 * sizeof(double), "F1^T F2"); /* (r1, r2) */
    if (!k) return CS_E_NOMEM;
    if (a->chol) { /* K = L1^T F2 */
        memcpy(k, b->f, (size_t)d * r2 * sizeof(double));
        cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, d, r2, 1.0, a->f,
                    d, k, r2);
    } else {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, r2, d, 1.0, a->f, r1, b->f, r2, 0.0,
                    k, r2);
    }
    cs_status st = cs_nuclear_norm(k, r1, r2, out);
    free(k);
    return st;
}

struct cs_fid_ref {
    int d;
    int allow_chol;
    int accurate; /* always take singular values (CS_FID_SVD) */
    cs_cov_factor fa; /* factor of S1 */
    double *mu;       /* (d) float64 */
    double trace;     /* tr S1 */
    unsigned warn;    /* set-1 warning bits */
    cs_extractor_id id;
    int has_id;
};

void cs_fid_ref_free(cs_fid_ref *r) {
    if (!r) return;
    free(r->mu);
    free(r->fa.f);
    free(r);
}

static cs_status cs_fid_ref_init_cov(cs_fid_ref **out, int d, const double *mu, const double *cov,
                                     int64_t n, cs_fid_method method) {
    *out = NULL;
    size_t dd = (size_t)d * d;
    CS_TRY(cs_fid_check_finite(mu, (size_t)d, "set 1 mean"));
    CS_TRY(cs_fid_check_finite(cov, dd, "set 1 covariance"));
    cs_fid_ref *r = cs_calloc(1, sizeof *r, "FID reference");
    if (!r) return CS_E_NOMEM;
    cs_status st = CS_OK;
    r->d = d;
    r->allow_chol = method != CS_FID_EIG_REF;
    r->accurate = method == CS_FID_SVD;
    r->mu = cs_malloc((size_t)d * sizeof(double), "reference mean"); /* (d) */
    if (!r->mu) {
        st = CS_E_NOMEM;
        goto fail;
    }
    memcpy(r->mu, mu, (size_t)d * sizeof(double));
    r->trace = cs_trace(cov, d);
    r->warn = cs_fid_singular_flag(n, d, CS_FID_WARN_SINGULAR1);
    CS_TRY_GOTO(st, cs_cov_factor_init(&r->fa, cov, d, n, r->allow_chol, &r->warn,
                                       CS_FID_WARN_SINGULAR1, CS_FID_WARN_NOT_PSD1), fail);
    *out = r;
    return CS_OK;
fail:
    cs_fid_ref_free(r);
    return st;
}

cs_status cs_fid_ref_init(cs_fid_ref **out, const cs_stats *ref, cs_fid_method method) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    *out = NULL;
    if (method != CS_FID_AUTO && method != CS_FID_EIG && method != CS_FID_EIG_REF && method != CS_FID_SVD)
        return CS_FAIL(CS_E_USAGE, "a FID reference supports the methods auto, eig, eig-ref and svd");
    size_t dd = (size_t)ref->d * ref->d;
    double *cov = cs_malloc(dd * sizeof(double), "set 1 covariance"); /* (d, d) */
    if (!cov) return CS_E_NOMEM;
    cs_status st = cs_stats_covariance(ref, cov);
    if (st == CS_OK) st = cs_fid_ref_init_cov(out, ref->d, ref->mean, cov, ref->cov_only ? 0 : ref->n, method);
    free(cov);
    if (st == CS_OK) {
        (*out)->id = ref->id;
        (*out)->has_id = ref->id.weights_sha256[0] != 0;
    }
    return st;
}

/* FID between the reference and (mu, cov). */
static cs_status cs_fid_ref_compare_cov(const cs_fid_ref *r, const double *mu, const double *cov,
                                        int64_t n, cs_fid_result *res) {
    const int d = r->d;
    memset(res, 0, sizeof *res);
    CS_TRY(cs_fid_check_finite(mu, (size_t)d, "set 2 mean"));
    CS_TRY(cs_fid_check_finite(cov, (size_t)d * d, "set 2 covariance"));
    res->warnings = r->warn | cs_fid_singular_flag(n, d, CS_FID_WARN_SINGULAR2);
    res->clamped[0] = r->fa.clamped;
    res->trace1 = r->trace;
    res->trace2 = cs_trace(cov, d);
    res->mean_term = cs_fid_mean_term(r->mu, mu, d);
    /* the eigenvalue shortcut must be accurate to 1e-11 of the scale of the result */
    double tol = 0.5e-11 * (res->trace1 + res->trace2 + res->mean_term);
    int svd = r->accurate, ok = 0;
    if (!svd) {
        CS_TRY(cs_eig_trace_sqrt(&r->fa, cov, n, tol, &res->trace_sqrt, &ok));
        svd = !ok;
    }
    if (svd) { /* factor S2 too (rank-truncated when singular) and take singular values */
        cs_cov_factor fb;
        cs_status st = cs_cov_factor_init(&fb, cov, d, n, r->allow_chol, &res->warnings,
                                          CS_FID_WARN_SINGULAR2, CS_FID_WARN_NOT_PSD2);
        if (st == CS_OK) st = cs_svd_trace_sqrt(&r->fa, &fb, &res->trace_sqrt);
        res->clamped[1] = fb.clamped;
        free(fb.f);
        CS_TRY(st);
    }
    res->method = r->fa.chol ? (svd ? "chol-svd" : "chol") : (svd ? "eig-svd" : "eig-ref");
    return cs_fid_finish(res);
}

cs_status cs_fid_ref_compare(const cs_fid_ref *r, const cs_stats *s, cs_fid_result *res) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    memset(res, 0, sizeof *res);
    if (s->d != r->d)
        return CS_FAIL(CS_E_MISMATCH, "cannot compare features of %d and %d dimensions", r->d, s->d);
    size_t dd = (size_t)s->d * s->d;
    double *cov = cs_malloc(dd * sizeof(double), "set 2 covariance"); /* (d, d) */
    if (!cov) return CS_E_NOMEM;
    cs_status st = cs_stats_covariance(s, cov);
    if (st == CS_OK) st = cs_fid_ref_compare_cov(r, s->mean, cov, s->cov_only ? 0 : s->n, res);
    free(cov);
    if (st == CS_OK && r->has_id && s->id.weights_sha256[0] && !cs_extractor_id_equal(&r->id, &s->id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return st;
}

cs_status cs_fid_from_cov(int d, const double *mu1, const double *cov1, int64_t n1,
                          const double *mu2, const double *cov2, int64_t n2, cs_fid_method method,
                          cs_fid_result *res) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    memset(res, 0, sizeof *res);
    if (d < 1 || d > CS_STATS_MAX_DIMS)
        return CS_FAIL(CS_E_USAGE, "feature dimension %d is outside 1..%d", d, CS_STATS_MAX_DIMS);
    if (method == CS_FID_REFERENCE) {
        size_t dd = (size_t)d * d;
        CS_TRY(cs_fid_check_finite(mu1, (size_t)d, "set 1 mean"));
        CS_TRY(cs_fid_check_finite(cov1, dd, "set 1 covariance"));
        CS_TRY(cs_fid_check_finite(mu2, (size_t)d, "set 2 mean"));
        CS_TRY(cs_fid_check_finite(cov2, dd, "set 2 covariance"));
        CS_TRY(cs_fid_reference_cov(d, mu1, cov1, mu2, cov2, res));
        res->warnings = cs_fid_singular_flag(n1, d, CS_FID_WARN_SINGULAR1) |
                        cs_fid_singular_flag(n2, d, CS_FID_WARN_SINGULAR2);
        return CS_OK;
    }
    if (method == CS_FID_LOWRANK)
        return CS_FAIL(CS_E_USAGE, "the lowrank method needs the feature rows of both sets");
    cs_fid_ref *r = NULL;
    CS_TRY(cs_fid_ref_init_cov(&r, d, mu1, cov1, n1, method));
    cs_status st = cs_fid_ref_compare_cov(r, mu2, cov2, n2, res);
    cs_fid_ref_free(r);
    return st;
}

/* ---- 3. low-rank path ---------------------------------------------------------------------------
 * C1 (n1, d), C2 (n2, d): rows minus their set mean, in float64. S_i = C_i^T C_i / (n_i - 1) and
 * tr((S1 S2)^(1/2)) = ||C1 C2^T||_* / sqrt((n1 - 1)(n2 - 1)). */

/* x (n, d) float32 -> c (n, d) float64 centred, mean (d); returns sum of squares of c. */
static double cs_center_rows(const float *x, int64_t n, int d, double *c, double *mean) {
    for (int j = 0; j < d; j++) mean[j] = 0.0;
    for (size_t k = 0; k < (size_t)n * d; k++) c[k] = (double)x[k];
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += c[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= (double)n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = c[(size_t)i * d + j] - mean[j];
            c[(size_t)i * d + j] = v;
            ss += v * v;
        }
    return ss;
}

cs_status cs_fid_lowrank_check(int64_t n1, int64_t n2, int d) {
    if (d < 1 || d > CS_STATS_MAX_DIMS)
        return CS_FAIL(CS_E_USAGE, "feature dimension %d is outside 1..%d", d, CS_STATS_MAX_DIMS);
    if (n1 < 2 || n2 < 2)
        return CS_FAIL(CS_E_USAGE, "the FID needs at least 2 samples per set (got %lld and %lld)",
                       (long long)n1, (long long)n2);
    if (n1 > CS_FID_LOWRANK_MAX_ELEMS / n2)
        return CS_FAIL(CS_E_UNSUPPORTED,
                       "the lowrank method needs a %lld x %lld matrix; too large, use --method eig",
                       (long long)n1, (long long)n2);
    return CS_OK;
}

/* Sum of the singular values of k (m, n), destroyed. */
static cs_status cs_nuclear_norm(double *k, int64_t m, int64_t n, double *out) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    int64_t mn = m < n ? m : n;
    double *s = cs_malloc((size_t)mn * sizeof(double), "singular values"); /* (min(m, n)) */
    if (!s) return CS_E_NOMEM;
    /* k (m, n) row-major is k^T (n, m) column-major: same singular values, no transposing copy */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)m, k,
                                     (lapack_int)n, s, NULL, (lapack_int)n, NULL, (lapack_int)m);
    if (info != 0) {
        free(s);
        return CS_FAIL(CS_E_NUMERIC, "singular value decomposition failed (LAPACK dgesdd info %d)",
                       (int)info);
    }
    double t = 0.0;
    for (int64_t i = 0; i < mn; i++) t += s[i] > 0.0 ? s[i] : 0.0;
    free(s);
    *out = t;
    return CS_OK;
}

cs_status cs_fid_lowrank(const float *x1, int64_t n1, const float *x2, int64_t n2, int d,
                         cs_fid_result *res) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    memset(res, 0, sizeof *res);
    CS_TRY(cs_fid_lowrank_check(n1, n2, d));
    CS_TRY(cs_check_finite_f32(x1, (size_t)n1 * d, "set 1 features"));
    CS_TRY(cs_check_finite_f32(x2, (size_t)n2 * d, "set 2 features"));
    cs_status st = CS_OK;
    double *c1 = cs_malloc((size_t)n1 * d * sizeof(double), "set 1 centred features"); /* (n1, d) */
    double *c2 = cs_malloc((size_t)n2 * d * sizeof(double), "set 2 centred features"); /* (n2, d) */
    double *k = cs_malloc((size_t)n1 * n2 * sizeof(double), "C1 C2^T");               /* (n1, n2) */
    double *mu = cs_malloc(2 * (size_t)d * sizeof(double), "means");                  /* 2 x (d) */
    if (!c1 || !c2 || !k || !mu) {
        st = CS_E_NOMEM;
        goto done;
    }
    double ss1 = cs_center_rows(x1, n1, d, c1, mu);
    double ss2 = cs_center_rows(x2, n2, d, c2, mu + d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n1, (int)n2, d, 1.0, c1, d, c2, d, 0.0,
                k, (int)n2);
    double nuc = 0.0;
    CS_TRY_GOTO(st, cs_nuclear_norm(k, n1, n2, &nuc), done);
    res->trace_sqrt = nuc / sqrt((double)(n1 - 1) * (double)(n2 - 1));
    res->trace1 = ss1 / (double)(n1 - 1);
    res->trace2 = ss2 / (double)(n2 - 1);
    res->mean_term = cs_fid_mean_term(mu, mu + d, d);
    res->method = "lowrank";
    res->warnings = cs_fid_singular_flag(n1, d, CS_FID_WARN_SINGULAR1) |
                    cs_fid_singular_flag(n2, d, CS_FID_WARN_SINGULAR2);
    st = cs_fid_finish(res);
done:
    free(c1);
    free(c2);
    free(k);
    free(mu);
    return st;
}

/* One-sided low-rank form against a factored reference S1 = F F^T (F (d, r1)): with the centred
 * rows C (n2, d) of set 2, S2 = C^T C / (n2 - 1) and the non-zero eigenvalues of S1 S2 are those of
 * F^T C^T C F / (n2 - 1), so tr((S1 S2)^(1/2)) = ||C F||_* / sqrt(n2 - 1): the singular values of an
 * (n2, r1) matrix instead of a (d, d) eigenvalue problem per set. Exact, and as accurate as the
 * singular-value path (absolute errors eps * ||C F||). Used when n2 - 1 < r1, the shape of an
 * audit (a few hundred images per coalition against one reference). */
static cs_status cs_fid_ref_rows_trace_sqrt(const cs_fid_ref *r, const double *mean, const float *x,
                                            int64_t n, double *out) {
    const int d = r->d, r1 = r->fa.r;
    *out = 0.0;
    if (r1 == 0) return CS_OK;
    cs_status st = CS_OK;
    double *c = cs_malloc((size_t)n * d * sizeof(double), "centred rows");          /* (n, d) */
    double *k = cs_malloc((size_t)n * (r->fa.chol ? d : r1) * sizeof(double), "C F"); /* (n, r1) */
    if (!c || !k) {
        st = CS_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) c[(size_t)i * d + j] = (double)x[(size_t)i * d + j] - mean[j];
    if (r->fa.chol) { /* K = C L (L lower triangular, d x d) */
        memcpy(k, c, (size_t)n * d * sizeof(double));
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, d, 1.0,
                    r->fa.f, d, k, d);
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, r1, d, 1.0, c, d, r->fa.f, r1,
                    0.0, k, r1);
    }
    double nuc = 0.0;
    CS_TRY_GOTO(st, cs_nuclear_norm(k, n, r->fa.chol ? d : r1, &nuc), done);
    *out = nuc / sqrt((double)(n - 1));
done:
    free(c);
    free(k);
    return st;
}

cs_status cs_fid_ref_compare_features(const cs_fid_ref *r, const float *x, int64_t n, int d,
                                      const cs_extractor_id *id, cs_fid_result *res) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    memset(res, 0, sizeof *res);
    if (d != r->d) return CS_FAIL(CS_E_MISMATCH, "cannot compare features of %d and %d dimensions", r->d, d);
    if (n < 2) return CS_FAIL(CS_E_USAGE, "set 2 has %lld samples; the FID needs at least 2", (long long)n);
    CS_TRY(cs_check_finite_f32(x, (size_t)n * d, "set 2 features"));
    if (n - 1 >= r->fa.r || r->accurate) { /* full rank: the statistics way */
        cs_stats *s = NULL;
        CS_TRY(cs_stats_init(&s, d));
        cs_status st = cs_stats_add_f32(s, x, n);
        if (st == CS_OK && id) s->id = *id;
        if (st == CS_OK) st = cs_fid_ref_compare(r, s, res);
        cs_stats_free(s);
        return st;
    }
    /* only the mean and the trace of S2 are needed besides ||C2 F||_*: no (d, d) matrix */
    double *mean = cs_calloc((size_t)d, sizeof(double), "set 2 mean"); /* (d) */
    if (!mean) return CS_E_NOMEM;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += (double)x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= (double)n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = (double)x[(size_t)i * d + j] - mean[j];
            ss += v * v;
        }
    res->warnings = r->warn | cs_fid_singular_flag(n, d, CS_FID_WARN_SINGULAR2);
    res->clamped[0] = r->fa.clamped;
    res->trace1 = r->trace;
    res->trace2 = ss / (double)(n - 1);
    res->mean_term = cs_fid_mean_term(r->mu, mean, d);
    cs_status st = cs_fid_ref_rows_trace_sqrt(r, mean, x, n, &res->trace_sqrt);
    free(mean);
    CS_TRY(st);
    res->method = "lowrank-ref";
    if (r->has_id && id && id->weights_sha256[0] && !cs_extractor_id_equal(&r->id, id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return cs_fid_finish(res);
}

cs_status cs_fid_ref_compare_rows(const cs_fid_ref *r, const cs_stats *s, const float *x,
                                  cs_fid_result *res) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    if (!x || s->cov_only || s->n < 2 || s->n - 1 >= r->fa.r || s->d != r->d || r->accurate)
        return cs_fid_ref_compare(r, s, res);
    memset(res, 0, sizeof *res);
    const int d = r->d;
    CS_TRY(cs_fid_check_finite(s->mean, (size_t)d, "set 2 mean"));
    CS_TRY(cs_check_finite_f32(x, (size_t)s->n * d, "set 2 features"));
    res->warnings = r->warn | cs_fid_singular_flag(s->n, d, CS_FID_WARN_SINGULAR2);
    res->trace1 = r->trace;
    double t2 = 0.0;
    for (int j = 0; j < d; j++) t2 += s->m2[(size_t)j * d + j];
    res->trace2 = t2 / (double)(s->n - 1);
    res->mean_term = cs_fid_mean_term(r->mu, s->mean, d);
    CS_TRY(cs_fid_ref_rows_trace_sqrt(r, s->mean, x, s->n, &res->trace_sqrt));
    res->method = "lowrank-ref";
    if (r->has_id && s->id.weights_sha256[0] && !cs_extractor_id_equal(&r->id, &s->id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return cs_fid_finish(res);
}

/* ---- 4. resampled low-rank FIDs --------------------------------------------------------------- */

struct cs_fid_boot {
    int64_t n1, n2, nt; /* nt = n1 + n2 */
    int d;
    double *g; /* (nt, nt) float64: Gram matrix of the rows minus the pooled mean */
};

void cs_fid_boot_free(cs_fid_boot *b) {
    if (!b) return;
    free(b->g);
    free(b);
}

cs_status cs_fid_boot_init(cs_fid_boot **out, const float *x1, int64_t n1, const float *x2,
                           int64_t n2, int d) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    *out = NULL;
    if (d < 1 || d > CS_STATS_MAX_DIMS)
        return CS_FAIL(CS_E_USAGE, "feature dimension %d is outside 1..%d", d, CS_STATS_MAX_DIMS);
    if (n1 < 2 || n2 < 2 || n1 + n2 > CS_FID_BOOT_MAX_ROWS)
        return CS_FAIL(CS_E_USAGE, "resampled FIDs need 2..%d rows in all (got %lld + %lld)",
                       CS_FID_BOOT_MAX_ROWS, (long long)n1, (long long)n2);
    CS_TRY(cs_check_finite_f32(x1, (size_t)n1 * d, "set 1 features"));
    CS_TRY(cs_check_finite_f32(x2, (size_t)n2 * d, "set 2 features"));
    int64_t nt = n1 + n2;
    cs_status st = CS_OK;
    cs_fid_boot *b = cs_calloc(1, sizeof *b, "resampling state");
    double *z = cs_malloc((size_t)nt * d * sizeof(double), "pooled features"); /* (nt, d) */
    double *c = cs_calloc((size_t)d, sizeof(double), "pooled mean");           /* (d) */
    if (!b || !z || !c) {
        st = CS_E_NOMEM;
        goto fail;
    }
    b->n1 = n1;
    b->n2 = n2;
    b->nt = nt;
    b->d = d;
    b->g = cs_malloc((size_t)nt * nt * sizeof(double), "Gram matrix"); /* (nt, nt) */
    if (!b->g) {
        st = CS_E_NOMEM;
        goto fail;
    }
    for (size_t k = 0; k < (size_t)n1 * d; k++) z[k] = (double)x1[k];
    for (size_t k = 0; k < (size_t)n2 * d; k++) z[(size_t)n1 * d + k] = (double)x2[k];
    for (int64_t i = 0; i < nt; i++)
        for (int j = 0; j < d; j++) c[j] += z[(size_t)i * d + j];
    for (int j = 0; j < d; j++) c[j] /= (double)nt;
    for (int64_t i = 0; i < nt; i++)
        for (int j = 0; j < d; j++) z[(size_t)i * d + j] -= c[j];
    cs_gram_rows(z, nt, d, d, 0.0, b->g, 0); /* fixed tiles: the same bits for any thread count */
    free(z);
    free(c);
    *out = b;
    return CS_OK;
fail:
    free(z);
    free(c);
    cs_fid_boot_free(b);
    return st;
}

/* sum over a, a' of G[o + idx[a], o + idx[a']] and sum over a of G[o + idx[a], o + idx[a]]. */
static void cs_gram_sums(const cs_fid_boot *b, int64_t o, const int64_t *idx, int64_t m, double *all,
                         double *diag) {
    double s = 0.0, t = 0.0;
    for (int64_t a = 0; a < m; a++) {
        const double *row = b->g + (size_t)(o + idx[a]) * b->nt + o;
        for (int64_t a2 = 0; a2 < m; a2++) s += row[idx[a2]];
        t += row[idx[a]];
    }
    *all = s;
    *diag = t;
}

cs_status cs_fid_boot_eval(const cs_fid_boot *b, const int64_t *idx1, int64_t m1,
                           const int64_t *idx2, int64_t m2, cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    CS_TRY(cs_fid_lowrank_check(m1, m2, b->d));
    for (int64_t a = 0; a < m1; a++)
        if (idx1[a] < 0 || idx1[a] >= b->n1)
            return CS_FAIL(CS_E_USAGE, "set 1 row index %lld is outside 0..%lld", (long long)idx1[a],
                           (long long)(b->n1 - 1));
    for (int64_t a = 0; a < m2; a++)
        if (idx2[a] < 0 || idx2[a] >= b->n2)
            return CS_FAIL(CS_E_USAGE, "set 2 row index %lld is outside 0..%lld", (long long)idx2[a],
                           (long long)(b->n2 - 1));
    /* A resample repeats rows (about 37% of the draws). Repeated rows and columns of the
     * double-centred K = C1 C2^T change nothing but multiplicities: with distinct rows u weighted by
     * sqrt(count), K' = diag(sqrt(c1)) K_u diag(sqrt(c2)) has K'^T K' = K^T K, so the same singular
     * values, from a (u1, u2) matrix (u ~ 0.63 m): about 4x less work in the SVD. */
    int64_t *cnt = cs_calloc((size_t)(b->n1 + b->n2), sizeof(int64_t), "multiplicities"); /* (n1 + n2) */
    int64_t *u = cs_malloc(((size_t)m1 + m2) * sizeof(int64_t), "distinct rows");          /* (u1 + u2) */
    double *k = cs_malloc((size_t)m1 * m2 * sizeof(double), "C1 C2^T");                  /* (u1, u2) */
    double *rc = cs_malloc(((size_t)m1 + m2) * sizeof(double), "row/col means");           /* (u1 + u2) */
    if (!cnt || !u || !k || !rc) {
        free(cnt), free(u), free(k), free(rc);
        return CS_E_NOMEM;
    }
    int64_t *c1 = cnt, *c2 = cnt + b->n1, u1 = 0, u2 = 0;
    int64_t *d1 = u, *d2 = u + m1;
    for (int64_t a = 0; a < m1; a++)
        if (c1[idx1[a]]++ == 0) d1[u1++] = idx1[a];
    for (int64_t a = 0; a < m2; a++)
        if (c2[idx2[a]]++ == 0) d2[u2++] = idx2[a];
    double *rmean = rc, *cmean = rc + u1, total = 0.0;
    for (int64_t b2 = 0; b2 < u2; b2++) cmean[b2] = 0.0;
    for (int64_t a = 0; a < u1; a++) { /* K_u = G[d1, n1 + d2]; means weighted by multiplicity */
        const double *row = b->g + (size_t)d1[a] * b->nt + b->n1;
        double *kr = k + (size_t)a * u2, rs = 0.0, w1 = (double)c1[d1[a]];
        for (int64_t b2 = 0; b2 < u2; b2++) {
            kr[b2] = row[d2[b2]];
            double w2 = (double)c2[d2[b2]];
            rs += w2 * kr[b2];
            cmean[b2] += w1 * kr[b2];
        }
        rmean[a] = rs / (double)m2;
        total += w1 * rs;
    }
    for (int64_t b2 = 0; b2 < u2; b2++) cmean[b2] /= (double)m1;
    double gmean = total / ((double)m1 * (double)m2);
    for (int64_t a = 0; a < u1; a++) { /* double centring, then the sqrt(count) weights */
        double s1 = sqrt((double)c1[d1[a]]);
        for (int64_t b2 = 0; b2 < u2; b2++)
            k[(size_t)a * u2 + b2] = (k[(size_t)a * u2 + b2] + gmean - rmean[a] - cmean[b2]) * s1 *
                                     sqrt((double)c2[d2[b2]]);
    }
    free(cnt);
    free(u);
    double s11, d11, s22, d22, nuc = 0.0;
    cs_gram_sums(b, 0, idx1, m1, &s11, &d11);
    cs_gram_sums(b, b->n1, idx2, m2, &s22, &d22);
    cs_status st = cs_nuclear_norm(k, u1, u2, &nuc);
    free(k);
    free(rc);
    CS_TRY(st);
    double mt = s11 / ((double)m1 * m1) + s22 / ((double)m2 * m2) - 2.0 * gmean;
    res->mean_term = mt > 0.0 ? mt : 0.0;
    res->trace1 = (d11 - s11 / (double)m1) / (double)(m1 - 1);
    res->trace2 = (d22 - s22 / (double)m2) / (double)(m2 - 1);
    res->trace_sqrt = nuc / sqrt((double)(m1 - 1) * (double)(m2 - 1));
    res->method = "lowrank";
    res->warnings = cs_fid_singular_flag(m1, b->d, CS_FID_WARN_SINGULAR1) |
                    cs_fid_singular_flag(m2, b->d, CS_FID_WARN_SINGULAR2);
    return cs_fid_finish(res);
}

/* ---- 5. dispatcher --------------------------------------------------------------------------- */

void cs_fid_result_swap_sides(cs_fid_result *res) {
    double t = res->trace1;
    res->trace1 = res->trace2;
    res->trace2 = t;
    t = res->clamped[0];
    res->clamped[0] = res->clamped[1];
    res->clamped[1] = t;
    unsigned w = res->warnings;
    res->warnings = (w & ~(CS_FID_WARN_SINGULAR1 | CS_FID_WARN_SINGULAR2 | CS_FID_WARN_NOT_PSD1 | CS_FID_WARN_NOT_PSD2)) |
                    ((w & CS_FID_WARN_SINGULAR1) ? CS_FID_WARN_SINGULAR2 : 0) |
                    ((w & CS_FID_WARN_SINGULAR2) ? CS_FID_WARN_SINGULAR1 : 0) |
                    ((w & CS_FID_WARN_NOT_PSD1) ? CS_FID_WARN_NOT_PSD2 : 0) |
                    ((w & CS_FID_WARN_NOT_PSD2) ? CS_FID_WARN_NOT_PSD1 : 0);
}

cs_status cs_fid_check_pair(const cs_stats *s1, const float *x1, const cs_stats *s2, const float *x2,
                            int *have_rows) {
    *have_rows = 0;
    if (s1->d != s2->d)
        return CS_FAIL(CS_E_MISMATCH, "cannot compare features of %d and %d dimensions", s1->d, s2->d);
    for (int i = 0; i < 2; i++) {
        const cs_stats *s = i ? s2 : s1;
        if (!s->cov_only && s->n < 2)
            return CS_FAIL(CS_E_USAGE, "set %d has %lld samples; the FID needs at least 2", i + 1,
                           (long long)s->n);
    }
    *have_rows = x1 && x2 && !s1->cov_only && !s2->cov_only;
    return CS_OK;
}

cs_status cs_fid_compute(const cs_stats *s1, const float *x1, const cs_stats *s2, const float *x2,
                         cs_fid_method method, cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    int have_rows;
    CS_TRY(cs_fid_check_pair(s1, x1, s2, x2, &have_rows));
    const int d = s1->d;
    if (method == CS_FID_AUTO && have_rows && s1->n + s2->n <= d) method = CS_FID_LOWRANK;
    cs_status st;
    if (method == CS_FID_LOWRANK) {
        if (!have_rows)
            return CS_FAIL(CS_E_USAGE, "the lowrank method needs the feature rows of both sets "
                                       "(features files, not statistics files)");
        st = cs_fid_lowrank(x1, s1->n, x2, s2->n, d, res);
    } else if (method == CS_FID_REFERENCE) {
        size_t dd = (size_t)d * d;
        double *cov = cs_malloc(2 * dd * sizeof(double), "covariances"); /* 2 x (d, d) */
        if (!cov) return CS_E_NOMEM;
        st = cs_stats_covariance(s1, cov);
        if (st == CS_OK) st = cs_stats_covariance(s2, cov + dd);
        if (st == CS_OK)
            st = cs_fid_from_cov(d, s1->mean, cov, s1->n, s2->mean, cov + dd, s2->n, method, res);
        free(cov);
    } else {
        /* factor the larger set; the other one, when its rows are at hand and it has fewer rows
         * than dimensions, takes the one-sided low-rank form (method AUTO only) */
        const cs_stats *sa = s1, *sb = s2;
        const float *xb = method == CS_FID_AUTO ? x2 : NULL;
        if (method == CS_FID_AUTO && x1 && !s1->cov_only && (!x2 || s2->cov_only || s1->n < s2->n)) {
            sa = s2, sb = s1, xb = x1;
        }
        cs_fid_ref *r = NULL;
        CS_TRY(cs_fid_ref_init(&r, sa, method));
        st = cs_fid_ref_compare_rows(r, sb, xb, res);
        cs_fid_ref_free(r);
        if (st == CS_OK && sa != s1) cs_fid_result_swap_sides(res); /* report in the caller's order */
    }
    if (st == CS_OK && s1->id.weights_sha256[0] && s2->id.weights_sha256[0] &&
        !cs_extractor_id_equal(&s1->id, &s2->id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return st;
}
