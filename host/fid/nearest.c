/* Nearest-reference similarity: cosine pairs of feature rows, per-image maxima, nn-sim and
 * copy-rate, and their bootstrap. See include/copyscope/nearest.h. */
#include "copyscope/nearest.h"
#include "copyscope/audit.h"

#include "core/blas.h"
#include "core/common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- cosine similarity of rows -------------------------------------------------------------- */

void cs_cosine_pairs_ref(const float *gen, int64_t n_gen, const float *ref, int64_t n_ref, int d, double *sim) {
    for (int64_t g = 0; g < n_gen; g++) {
        const float *x = gen + (size_t)g * (size_t)d;
        for (int64_t r = 0; r < n_ref; r++) {
            const float *y = ref + (size_t)r * (size_t)d;
            double xy = 0.0, xx = 0.0, yy = 0.0;
            for (int j = 0; j < d; j++) {
                xy += (double)x[j] * (double)y[j];
                xx += (double)x[j] * (double)x[j];
                yy += (double)y[j] * (double)y[j];
            }
            sim[(size_t)g * (size_t)n_ref + (size_t)r] = xx > 0.0 && yy > 0.0 ? xy / (sqrt(xx) * sqrt(yy)) : 0.0;
        }
    }
}

/* Rows (n, d) float32 -> unit rows (n, d) float64 (a zero row stays zero). */
static void cs_rows_unit(const float *x, int64_t n, int d, double *u) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)d;
        double *o = u + (size_t)i * (size_t)d, ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)row[j] * (double)row[j];
        const double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
        for (int j = 0; j < d; j++) o[j] = (double)row[j] * inv;
    }
}

cs_status cs_cosine_pairs(const float *gen, int64_t n_gen, const float *ref, int64_t n_ref, int d, int threads,
                          double *sim) {
    size_t np, ng, nr;
    if (n_gen < 1 || n_ref < 1 || d < 1 || !cs_mul_size((size_t)n_gen, (size_t)n_ref, &np) ||
        np > CS_NEAREST_MAX_PAIRS || !cs_mul_size((size_t)n_gen, (size_t)d, &ng) ||
        !cs_mul_size((size_t)n_ref, (size_t)d, &nr))
        return CS_FAIL(CS_E_USAGE, "cosine pairs: %lld x %lld rows of %d dims is out of range", (long long)n_gen,
                       (long long)n_ref, d);
    double *ug = cs_malloc(ng * sizeof(double), "unit rows"); /* (n_gen, d) float64 */
    double *ur = cs_malloc(nr * sizeof(double), "unit rows"); /* (n_ref, d) float64 */
    if (!ug || !ur) {
        free(ug), free(ur);
        return CS_E_NOMEM;
    }
    cs_rows_unit(gen, n_gen, d, ug);
    cs_rows_unit(ref, n_ref, d, ur);
    cs_blas_serial();
    if (threads <= 0) threads = omp_get_max_threads();
    const int64_t ntiles = (n_gen + CS_BLAS_TILE - 1) / CS_BLAS_TILE;
    if (threads > ntiles) threads = (int)ntiles;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int64_t t = 0; t < ntiles; t++) { /* (bi, d) x (d, n_ref) into rows [t * TILE, ...) */
        const int64_t i0 = t * CS_BLAS_TILE;
        const int bi = (int)(n_gen - i0 < CS_BLAS_TILE ? n_gen - i0 : CS_BLAS_TILE);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi, (int)n_ref, d, 1.0, ug + (size_t)i0 * (size_t)d, d,
                    ur, d, 0.0, sim + (size_t)i0 * (size_t)n_ref, (int)n_ref);
    }
    free(ug), free(ur);
    return CS_OK;
}

/* ---- per image and per set ----------------------------------------------------------------- */

void cs_nearest_rows(const double *sim, int64_t n_gen, int64_t n_ref, double *best, int64_t *arg) {
    for (int64_t g = 0; g < n_gen; g++) {
        const double *row = sim + (size_t)g * (size_t)n_ref;
        int64_t a = 0;
        for (int64_t r = 1; r < n_ref; r++)
            if (row[r] > row[a]) a = r;
        if (best) best[g] = row[a];
        if (arg) arg[g] = a;
    }
}

void cs_nearest_summary(const double *best, int64_t n_gen, double threshold, double *nn_sim, double *copy_rate) {
    double s = 0.0;
    int64_t above = 0;
    for (int64_t g = 0; g < n_gen; g++) {
        s += best[g];
        above += best[g] > threshold;
    }
    if (nn_sim) *nn_sim = n_gen ? s / (double)n_gen : NAN;
    if (copy_rate) *copy_rate = n_gen ? (double)above / (double)n_gen : NAN;
}

/* ---- bootstrap ----------------------------------------------------------------------------- */

/* The order of each generated row's references by decreasing similarity (ties by index):
 * order (n_gen, n_ref). A resampled reference's maximum is the first drawn one in this order. */
static _Thread_local const double *cs_sort_row;
static int cs_nearest_cmp(const void *pa, const void *pb) {
    const int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    if (cs_sort_row[a] != cs_sort_row[b]) return cs_sort_row[a] > cs_sort_row[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

cs_status cs_bootstrap_nearest(const double *const *sims, int64_t n_ref, const int64_t *n_set, size_t n_sets,
                               double threshold, int B, uint64_t seed, int threads, double *rep_nn,
                               double *rep_copy) {
    if (B < 1 || B > CS_AUDIT_MAX_BOOTSTRAP)
        return CS_FAIL(CS_E_USAGE, "bootstrap replicates must be 1..%d (got %d)", CS_AUDIT_MAX_BOOTSTRAP, B);
    if (n_ref < 2) return CS_FAIL(CS_E_USAGE, "the bootstrap needs at least 2 reference images");
    int64_t n_max = n_ref;
    size_t total = 0;
    for (size_t k = 0; k < n_sets; k++) {
        size_t np;
        if (n_set[k] < 1 || !cs_mul_size((size_t)n_set[k], (size_t)n_ref, &np) || np > CS_NEAREST_MAX_PAIRS)
            return CS_FAIL(CS_E_USAGE, "bootstrap of nearest similarities: set %zu is out of range", k);
        total += np;
        n_max = n_set[k] > n_max ? n_set[k] : n_max;
    }
    /* orders of every set: (sum_k n_k, n_ref) indices */
    int64_t *order = cs_malloc(total * sizeof(int64_t), "similarity orders");
    int64_t **ord = cs_calloc(n_sets ? n_sets : 1, sizeof *ord, "similarity orders");
    if (!order || !ord) {
        free(order), free(ord);
        return CS_E_NOMEM;
    }
    size_t off = 0;
    for (size_t k = 0; k < n_sets; k++) {
        ord[k] = order + off;
        off += (size_t)n_set[k] * (size_t)n_ref;
    }
    if (threads <= 0) threads = omp_get_max_threads();
    for (size_t k = 0; k < n_sets; k++) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t g = 0; g < n_set[k]; g++) {
            int64_t *o = ord[k] + (size_t)g * (size_t)n_ref;
            for (int64_t r = 0; r < n_ref; r++) o[r] = r;
            cs_sort_row = sims[k] + (size_t)g * (size_t)n_ref;
            qsort(o, (size_t)n_ref, sizeof *o, cs_nearest_cmp);
        }
    }
    volatile int nomem = 0;
#pragma omp parallel num_threads(threads)
    {
        /* (n_ref) + (n_max) indices, then (n_ref) + (n_max) counts */
        int64_t *buf = malloc((size_t)(n_ref + n_max) * 2 * sizeof(int64_t));
        if (!buf) nomem = 1;
#pragma omp for schedule(dynamic, 8)
        for (long r = 0; r < (long)B; r++) {
            if (!buf) continue;
            int64_t *idx_ref = buf, *idx_set = buf + n_ref;
            int64_t *c_ref = idx_set + n_max, *c_set = c_ref + n_ref;
            cs_rng rng;
            cs_rng_init(&rng, seed, (uint64_t)r);
            cs_rng_resample(&rng, n_ref, idx_ref, n_ref); /* the reference, shared by all sets */
            memset(c_ref, 0, (size_t)n_ref * sizeof *c_ref);
            for (int64_t i = 0; i < n_ref; i++) c_ref[idx_ref[i]]++;
            for (size_t k = 0; k < n_sets; k++) {
                const int64_t nk = n_set[k];
                cs_rng_resample(&rng, nk, idx_set, nk); /* set k's draws follow sets 0..k-1's */
                memset(c_set, 0, (size_t)nk * sizeof *c_set);
                for (int64_t i = 0; i < nk; i++) c_set[idx_set[i]]++;
                double s = 0.0;
                int64_t above = 0;
                for (int64_t g = 0; g < nk; g++) {
                    if (!c_set[g]) continue;
                    const int64_t *o = ord[k] + (size_t)g * (size_t)n_ref;
                    int64_t j = 0;
                    while (!c_ref[o[j]]) j++; /* the resample holds at least one reference */
                    const double best = sims[k][(size_t)g * (size_t)n_ref + (size_t)o[j]];
                    s += (double)c_set[g] * best;
                    above += best > threshold ? c_set[g] : 0;
                }
                if (rep_nn) rep_nn[(size_t)r * n_sets + k] = s / (double)nk;
                if (rep_copy) rep_copy[(size_t)r * n_sets + k] = (double)above / (double)nk;
            }
        }
        free(buf);
    }
    free(order), free(ord);
    if (nomem) return CS_FAIL(CS_E_NOMEM, "bootstrap: out of memory for resampled indices");
    return CS_OK;
}
