/* Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel over random subsets
 * (clean-fid's kernel_distance / torch-fidelity's kid), in float64. See copyscope/metrics.h. */
#include "copyscope/metrics.h"

#include "core/blas.h"
#include "core/common.h"
#include "core/np_random.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs_kid_opts_default(cs_kid_opts *o) {
    o->n_subsets = 100;
    o->subset_size = 1000;
    o->seed = 0;
    o->max_gram_rows = 4096;
    o->sampler = CS_KID_SAMPLER_COPYSCOPE;
}

/* The subsets of one run, drawn in order s = 0, 1, ... (the numpy sampler is one stream). */
typedef struct kid_draw {
    const cs_kid_opts *opts;
    cs_np_rng rng;   /* CS_KID_SAMPLER_NUMPY */
    int64_t *perm;   /* (max(n1, n2)) int64, the numpy sampler's permutation */
} kid_draw;

static cs_status kid_draw_init(kid_draw *k, const cs_kid_opts *opts, int64_t n1, int64_t n2) {
    memset(k, 0, sizeof *k);
    k->opts = opts;
    if (opts->sampler == CS_KID_SAMPLER_COPYSCOPE) return CS_OK;
    if (opts->sampler != CS_KID_SAMPLER_NUMPY) return CS_FAIL(CS_E_USAGE, "kid: unknown sampler %d", opts->sampler);
    if (opts->seed > 0xffffffffu)
        return CS_FAIL(CS_E_USAGE, "kid: the numpy sampler's seed must be below 2^32 (got %llu)",
                       (unsigned long long)opts->seed);
    cs_np_rng_seed(&k->rng, (uint32_t)opts->seed);
    k->perm = malloc((size_t)(n1 > n2 ? n1 : n2) * sizeof *k->perm);
    if (!k->perm) return CS_FAIL(CS_E_NOMEM, "kid: out of memory");
    return CS_OK;
}

/* Subset s's m indices of set `which` (0, then 1: the order numpy draws them) of n rows. */
static cs_status kid_draw_subset(kid_draw *k, int s, int which, int64_t n, int64_t m, int64_t *idx) {
    if (k->opts->sampler == CS_KID_SAMPLER_COPYSCOPE) return cs_kid_subset(k->opts->seed, s, which, n, m, idx);
    if (n < 1 || m < 1 || m > n) return CS_FAIL(CS_E_USAGE, "kid: subset of %lld from %lld rows", (long long)m, (long long)n);
    cs_np_rng_permutation(&k->rng, n, k->perm); /* RandomState.choice(n, m, replace=False) */
    memcpy(idx, k->perm, (size_t)m * sizeof *idx);
    return CS_OK;
}

static void kid_draw_free(kid_draw *k) { free(k->perm); }

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform integer in [0, n) without modulo bias (Lemire's rejection) */
static uint64_t uniform_below(uint64_t *s, uint64_t n) {
    uint64_t lim = (uint64_t)(-n) % n; /* 2^64 mod n */
    for (;;) {
        uint64_t r = splitmix64(s);
        unsigned __int128 p = (unsigned __int128)r * n;
        if ((uint64_t)p >= lim) return (uint64_t)(p >> 64);
    }
}

cs_status cs_kid_subset(uint64_t seed, int s, int which, int64_t n, int64_t m, int64_t *idx) {
    if (n < 1 || m < 1 || m > n) return CS_FAIL(CS_E_USAGE, "kid: subset of %lld from %lld rows", (long long)m, (long long)n);
    int64_t *perm = malloc((size_t)n * sizeof *perm); /* (n) int64 */
    if (!perm) return CS_FAIL(CS_E_NOMEM, "kid: out of memory");
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    uint64_t state = seed;
    state = splitmix64(&state) ^ ((uint64_t)(uint32_t)s << 1) ^ (uint64_t)(which & 1);
    state = splitmix64(&state);
    for (int64_t i = 0; i < m; i++) { /* partial Fisher-Yates */
        int64_t j = i + (int64_t)uniform_below(&state, (uint64_t)(n - i));
        int64_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
        idx[i] = perm[i];
    }
    free(perm);
    return CS_OK;
}

static inline double cube(double v) { return v * v * v; }

/* Gather rows idx (m) of x (n, d) float32 into a (m, d) float64 block. */
static void gather(const float *x, const int64_t *idx, int64_t m, int d, double *out) {
    for (int64_t i = 0; i < m; i++) {
        const float *row = x + (size_t)(idx ? idx[i] : i) * d;
        for (int k = 0; k < d; k++) out[(size_t)i * d + k] = row[k];
    }
}

/* MMD^2 from inner-product blocks: gxx (m, m), gyy (m, m) (upper triangles valid), gxy (m, m). */
static double mmd_from_gram(const double *gxx, const double *gyy, const double *gxy, int64_t m,
                            int64_t ld, int d) {
    double sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = i + 1; j < m; j++) {
            sxx += cube(gxx[i * ld + j] / d + 1);
            syy += cube(gyy[i * ld + j] / d + 1);
        }
        for (int64_t j = 0; j < m; j++) sxy += cube(gxy[i * ld + j] / d + 1);
    }
    double mm = (double)m;
    return 2 * (sxx + syy) / (mm * (mm - 1)) - 2 * sxy / (mm * mm);
}

cs_status cs_kid_mmd2(const float *x, const int64_t *ix, const float *y, const int64_t *iy,
                      int64_t m, int d, double *out) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    if (m < 2 || d < 1) return CS_FAIL(CS_E_USAGE, "kid: subset size %lld < 2", (long long)m);
    size_t nxd, nmm;
    if (!cs_mul_size((size_t)m, (size_t)d, &nxd) || !cs_mul_size((size_t)m, (size_t)m, &nmm))
        return CS_FAIL(CS_E_USAGE, "kid: subset too large");
    double *bx = malloc(nxd * sizeof(double)), *by = malloc(nxd * sizeof(double)); /* (m, d) */
    double *g = malloc(3 * nmm * sizeof(double)); /* 3 x (m, m): xx, yy, xy */
    cs_status st = CS_OK;
    if (!bx || !by || !g) {
        st = CS_FAIL(CS_E_NOMEM, "kid: out of memory for a subset of %lld", (long long)m);
        goto done;
    }
    gather(x, ix, m, d, bx);
    gather(y, iy, m, d, by);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)m, d, 1.0, bx, d, 0.0, g, (int)m);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)m, d, 1.0, by, d, 0.0, g + nmm, (int)m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)m, d, 1.0, bx, d, by, d, 0.0,
                g + 2 * nmm, (int)m);
    *out = mmd_from_gram(g, g + nmm, g + 2 * nmm, m, m, d);
    if (!isfinite(*out)) st = CS_FAIL(CS_E_NUMERIC, "kid: MMD^2 is not finite (NaN/inf features?)");
done:
    free(bx), free(by), free(g);
    return st;
}

cs_status cs_kid_gram_build(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                            double **out) {
    cs_blas_serial(); /* one OpenBLAS thread: numbers independent of --threads */
    *out = NULL;
    int64_t nt = n1 + n2;
    size_t nd, nn;
    if (nt < 2 || d < 1 || !cs_mul_size((size_t)nt, (size_t)d, &nd) || !cs_mul_size((size_t)nt, (size_t)nt, &nn))
        return CS_FAIL(CS_E_USAGE, "kid: bad Gram size %lld x %d", (long long)nt, d);
    double *all = malloc(nd * sizeof(double));  /* (nt, d) float64 */
    double *gram = malloc(nn * sizeof(double)); /* (nt, nt) float64, full */
    if (!all || !gram) {
        free(all), free(gram);
        return CS_FAIL(CS_E_NOMEM, "kid: out of memory for a %lld x %lld kernel", (long long)nt, (long long)nt);
    }
    gather(x, NULL, n1, d, all);
    gather(y, NULL, n2, d, all + (size_t)n1 * d);
    cs_gram_rows(all, nt, d, d, 0.0, gram, 0); /* fixed tiles: the same bits for any thread count */
    free(all);
    *out = gram;
    return CS_OK;
}

/* Mean and standard deviation (ddof 0) of the subsets' MMD^2. */
static void kid_summary(const double *vals, int n_subsets, int64_t m, cs_kid_result *res) {
    double mean = 0, var = 0;
    for (int s = 0; s < n_subsets; s++) mean += vals[s];
    mean /= n_subsets;
    for (int s = 0; s < n_subsets; s++) var += (vals[s] - mean) * (vals[s] - mean);
    res->kid = mean;
    res->kid_std = sqrt(var / n_subsets);
    res->n_subsets = n_subsets;
    res->subset_size = m;
}

static cs_status kid_check(int64_t n1, int64_t n2, int d, const cs_kid_opts *opts, int64_t *m) {
    if (n1 < 2 || n2 < 2) return CS_FAIL(CS_E_USAGE, "kid: needs at least 2 images in each set (got %lld and %lld)", (long long)n1, (long long)n2);
    if (d < 1 || opts->n_subsets < 1 || opts->subset_size < 2)
        return CS_FAIL(CS_E_USAGE, "kid: bad options (d %d, %d subsets of %lld)", d, opts->n_subsets, (long long)opts->subset_size);
    *m = opts->subset_size;
    if (*m > n1) *m = n1;
    if (*m > n2) *m = n2;
    return CS_OK;
}

cs_status cs_kid_gram(const double *gram, int64_t nt, int64_t n1, const int64_t *lx, int64_t m1,
                      const int64_t *ly, int64_t m2, int d, const cs_kid_opts *opts_in,
                      cs_kid_result *res, double *per_subset) {
    cs_kid_opts opts;
    if (opts_in) opts = *opts_in;
    else cs_kid_opts_default(&opts);
    if (n1 < 1 || n1 >= nt) return CS_FAIL(CS_E_USAGE, "kid: bad Gram split %lld of %lld", (long long)n1, (long long)nt);
    int64_t m;
    CS_TRY(kid_check(m1, m2, d, &opts, &m));
    for (int64_t i = 0; i < m1; i++)
        if (lx[i] < 0 || lx[i] >= n1) return CS_FAIL(CS_E_USAGE, "kid: index %lld out of range", (long long)lx[i]);
    for (int64_t i = 0; i < m2; i++)
        if (ly[i] < 0 || ly[i] >= nt - n1) return CS_FAIL(CS_E_USAGE, "kid: index %lld out of range", (long long)ly[i]);
    kid_draw draw = {0};
    int64_t *ix = malloc((size_t)m * 2 * sizeof *ix); /* (2, m): subset positions, then rows */
    int64_t *iy = malloc((size_t)m * 2 * sizeof *iy);
    double *vals = malloc((size_t)opts.n_subsets * sizeof *vals); /* (n_subsets) */
    cs_status st = CS_OK;
    if (!ix || !iy || !vals) {
        st = CS_FAIL(CS_E_NOMEM, "kid: out of memory");
        goto done;
    }
    int64_t *rx = ix + m, *ry = iy + m;
    CS_TRY_GOTO(st, kid_draw_init(&draw, &opts, m1, m2), done);
    for (int s = 0; s < opts.n_subsets; s++) {
        CS_TRY_GOTO(st, kid_draw_subset(&draw, s, 0, m1, m, ix), done);
        CS_TRY_GOTO(st, kid_draw_subset(&draw, s, 1, m2, m, iy), done);
        for (int64_t i = 0; i < m; i++) rx[i] = lx[ix[i]], ry[i] = n1 + ly[iy[i]];
        double sxx = 0, syy = 0, sxy = 0;
        for (int64_t i = 0; i < m; i++) {
            const double *gx = gram + rx[i] * nt, *gy = gram + ry[i] * nt;
            for (int64_t j = i + 1; j < m; j++) {
                sxx += cube(gx[rx[j]] / d + 1);
                syy += cube(gy[ry[j]] / d + 1);
            }
            for (int64_t j = 0; j < m; j++) sxy += cube(gx[ry[j]] / d + 1);
        }
        double mm = (double)m;
        vals[s] = 2 * (sxx + syy) / (mm * (mm - 1)) - 2 * sxy / (mm * mm);
        if (!isfinite(vals[s])) {
            st = CS_FAIL(CS_E_NUMERIC, "kid: MMD^2 is not finite (NaN/inf features?)");
            goto done;
        }
    }
    kid_summary(vals, opts.n_subsets, m, res);
    if (per_subset) memcpy(per_subset, vals, (size_t)opts.n_subsets * sizeof *vals);
done:
    kid_draw_free(&draw);
    free(ix), free(iy), free(vals);
    return st;
}

cs_status cs_kid_compute(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                         const cs_kid_opts *opts_in, cs_kid_result *res, double *per_subset) {
    cs_kid_opts opts;
    if (opts_in) opts = *opts_in;
    else cs_kid_opts_default(&opts);
    int64_t m;
    CS_TRY(kid_check(n1, n2, d, &opts, &m));
    int64_t nt = n1 + n2;
    if (nt <= opts.max_gram_rows) {
        /* one (nt, nt) Gram matrix of [x; y]; each subset then only gathers and sums kernels */
        double *gram = NULL;
        int64_t *id = malloc((size_t)(n1 > n2 ? n1 : n2) * sizeof *id); /* identity lists */
        cs_status st = cs_kid_gram_build(x, n1, y, n2, d, &gram);
        if (st == CS_OK && !id) st = CS_FAIL(CS_E_NOMEM, "kid: out of memory");
        if (st == CS_OK) {
            for (int64_t i = 0; i < (n1 > n2 ? n1 : n2); i++) id[i] = i;
            st = cs_kid_gram(gram, nt, n1, id, n1, id, n2, d, &opts, res, per_subset);
        }
        free(gram);
        free(id);
        return st;
    }
    kid_draw draw = {0};
    int64_t *ix = malloc((size_t)m * sizeof *ix), *iy = malloc((size_t)m * sizeof *iy); /* (m) */
    double *vals = malloc((size_t)opts.n_subsets * sizeof *vals); /* (n_subsets) */
    cs_status st = CS_OK;
    if (!ix || !iy || !vals) {
        st = CS_FAIL(CS_E_NOMEM, "kid: out of memory");
        goto done;
    }
    CS_TRY_GOTO(st, kid_draw_init(&draw, &opts, n1, n2), done);
    for (int s = 0; s < opts.n_subsets; s++) {
        CS_TRY_GOTO(st, kid_draw_subset(&draw, s, 0, n1, m, ix), done);
        CS_TRY_GOTO(st, kid_draw_subset(&draw, s, 1, n2, m, iy), done);
        CS_TRY_GOTO(st, cs_kid_mmd2(x, ix, y, iy, m, d, &vals[s]), done);
    }
    kid_summary(vals, opts.n_subsets, m, res);
    if (per_subset) memcpy(per_subset, vals, (size_t)opts.n_subsets * sizeof *vals);
done:
    kid_draw_free(&draw);
    free(ix), free(iy), free(vals);
    return st;
}
