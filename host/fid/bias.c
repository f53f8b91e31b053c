/* FID estimators with less small-sample bias: the exact mean-term correction and FID-infinity
 * (include/copyscope/bias.h). */
#include "copyscope/bias.h"
#include "copyscope/audit.h"

#include "core/common.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* the subset streams are disjoint from the resampling streams cs_rng_init(seed, r) */
#define CS_FID_INF_SALT 0xD1B54A32D192ED03ull

void cs_fid_inf_opts_default(cs_fid_inf_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_fracs = 2;
    o->fracs[0] = 0.5;
    o->fracs[1] = 1.0;
    o->permutations = 2;
}

double cs_fid_mean_bias(const cs_fid_result *r, int64_t n1, int64_t n2) {
    return r->trace1 / (double)n1 + r->trace2 / (double)n2;
}

static cs_status cs_fid_inf_check(const cs_fid_inf_opts *o) {
    if (o->n_fracs < 2 || o->n_fracs > CS_FID_INF_MAX_FRACS)
        return CS_FAIL(CS_E_USAGE, "FID-infinity needs 2..%d subset fractions (got %d)", CS_FID_INF_MAX_FRACS,
                       o->n_fracs);
    if (o->permutations < 1) return CS_FAIL(CS_E_USAGE, "FID-infinity needs at least one permutation");
    for (int i = 0; i < o->n_fracs; i++) {
        if (!(o->fracs[i] > 0.0 && o->fracs[i] <= 1.0))
            return CS_FAIL(CS_E_USAGE, "FID-infinity: subset fraction %g is not in (0, 1]", o->fracs[i]);
        for (int j = 0; j < i; j++)
            if (o->fracs[j] == o->fracs[i])
                return CS_FAIL(CS_E_USAGE, "FID-infinity: subset fraction %g given twice", o->fracs[i]);
    }
    return CS_OK;
}

/* Fisher-Yates permutation of 0..m-1 from the stream. */
static void cs_fid_inf_perm(uint64_t seed, uint64_t stream, int64_t *perm, int64_t m) {
    cs_rng r;
    cs_rng_init(&r, seed ^ CS_FID_INF_SALT, stream);
    for (int64_t i = 0; i < m; i++) perm[i] = i;
    for (int64_t i = m - 1; i > 0; i--) {
        int64_t j = (int64_t)(cs_rng_next(&r) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Mean-corrected FID of a pair of index lists. */
static cs_status cs_fid_inf_one(const cs_fid_boot *b, const int64_t *i1, int64_t k1, const int64_t *i2, int64_t k2,
                                double *out) {
    cs_fid_result res;
    CS_TRY(cs_fid_boot_eval(b, i1, k1, i2, k2, &res));
    *out = res.fid - cs_fid_mean_bias(&res, k1, k2);
    return CS_OK;
}

cs_status cs_fid_inf_eval(const cs_fid_boot *b, const int64_t *idx1, int64_t m1, const int64_t *idx2, int64_t m2,
                          const cs_fid_inf_opts *o, uint64_t seed, uint64_t stream1, uint64_t stream2,
                          int64_t *scratch, double *fid_inf, double *fid_m) {
    CS_TRY(cs_fid_inf_check(o));
    int64_t *perm1 = scratch, *perm2 = scratch + m1;           /* (m1), (m2) */
    int64_t *sub1 = perm2 + m2, *sub2 = sub1 + m1;             /* (m1), (m2) */
    double x[CS_FID_INF_MAX_FRACS], y[CS_FID_INF_MAX_FRACS];
    for (int f = 0; f < o->n_fracs; f++) {
        const double fr = o->fracs[f];
        /* floor: floor(1/f) blocks of k rows fit in m rows */
        int64_t k1 = (int64_t)floor(fr * (double)m1 + 1e-9), k2 = (int64_t)floor(fr * (double)m2 + 1e-9);
        if (k1 < 2 || k2 < 2)
            return CS_FAIL(CS_E_USAGE, "FID-infinity: a subset of %g of %lld and %lld rows has fewer than 2 rows", fr,
                           (long long)m1, (long long)m2);
        /* the abscissa: 1/f as realised after rounding (mean of the two sets' ratios) */
        x[f] = 0.5 * ((double)m1 / (double)k1 + (double)m2 / (double)k2);
        if (fr == 1.0) {
            CS_TRY(cs_fid_inf_one(b, idx1, m1, idx2, m2, &y[f]));
            continue;
        }
        const int64_t blocks = (int64_t)floor(1.0 / fr + 1e-9); /* disjoint blocks per permutation */
        double sum = 0.0;
        int64_t cnt = 0;
        for (int p = 0; p < o->permutations; p++) {
            /* permutation p of fraction f: streams distinct per (f, p) */
            const uint64_t sub = (uint64_t)f * 1024u + (uint64_t)p;
            cs_fid_inf_perm(seed, stream1 * 65536u + sub, perm1, m1);
            cs_fid_inf_perm(seed, stream2 * 65536u + sub, perm2, m2);
            for (int64_t bl = 0; bl < blocks; bl++) {
                for (int64_t i = 0; i < k1; i++) sub1[i] = idx1[perm1[bl * k1 + i]];
                for (int64_t i = 0; i < k2; i++) sub2[i] = idx2[perm2[bl * k2 + i]];
                double v;
                CS_TRY(cs_fid_inf_one(b, sub1, k1, sub2, k2, &v));
                sum += v;
                cnt++;
            }
        }
        y[f] = sum / (double)cnt;
    }
    /* least squares y = a + c x; FID-infinity = a */
    double mx = 0.0, my = 0.0;
    for (int f = 0; f < o->n_fracs; f++) mx += x[f], my += y[f];
    mx /= o->n_fracs;
    my /= o->n_fracs;
    double sxy = 0.0, sxx = 0.0;
    for (int f = 0; f < o->n_fracs; f++) sxy += (x[f] - mx) * (y[f] - my), sxx += (x[f] - mx) * (x[f] - mx);
    if (!(sxx > 0.0)) return CS_FAIL(CS_E_USAGE, "FID-infinity: the subset sizes do not differ");
    *fid_inf = my - sxy / sxx * mx;
    if (fid_m) memcpy(fid_m, y, (size_t)o->n_fracs * sizeof *y);
    return CS_OK;
}

cs_status cs_fid_inf_sets(const float *ref, int64_t n_ref, const float *const *sets, const int64_t *n_set,
                          size_t n_sets, int d, const cs_fid_inf_opts *o, uint64_t seed, int B, int threads,
                          double *point, double *plugin, double *rep) {
    CS_TRY(cs_fid_inf_check(o));
    if (B < 0 || B > CS_AUDIT_MAX_BOOTSTRAP) return CS_FAIL(CS_E_USAGE, "bootstrap replicates must be 0..%d", CS_AUDIT_MAX_BOOTSTRAP);
    int64_t n_max = n_ref;
    for (size_t k = 0; k < n_sets; k++) {
        if (n_ref + n_set[k] > CS_FID_BOOT_MAX_ROWS)
            return CS_FAIL(CS_E_USAGE, "FID-infinity: the reference and set %zu have %lld rows, more than the %d "
                           "one Gram matrix holds", k, (long long)(n_ref + n_set[k]), CS_FID_BOOT_MAX_ROWS);
        n_max = n_set[k] > n_max ? n_set[k] : n_max;
    }
    if (threads <= 0) threads = omp_get_num_procs();
    const size_t per_thread = (size_t)(n_ref + n_max) * 3; /* scratch (2 (m1 + m2)) + one index list */
    uint64_t offset = (uint64_t)n_ref;
    cs_status st = CS_OK;
    for (size_t k = 0; k < n_sets && st == CS_OK; k++) {
        const int64_t nk = n_set[k];
        cs_fid_boot *b = NULL;
        st = cs_fid_boot_init(&b, ref, n_ref, sets[k], nk, d);
        if (st != CS_OK) return CS_FAIL(st, "FID-infinity of set %zu: %s", k, cs_last_error());
        volatile int failed = 0;
        cs_status fst = CS_OK;
        char fmsg[512] = "";
        /* r = -1: the point estimate (identity index lists); r >= 0: replicate r */
#pragma omp parallel num_threads(threads)
        {
            int64_t *buf = malloc(per_thread * 2 * sizeof(int64_t));
            if (!buf) {
#pragma omp critical(cs_fid_inf_fail)
                {
                    if (!failed) fst = CS_E_NOMEM, snprintf(fmsg, sizeof fmsg, "out of memory for subsets");
                    failed = 1;
                }
            }
#pragma omp for schedule(dynamic, 2)
            for (long r = -1; r < (long)B; r++) {
                if (failed) continue;
                int64_t *idx1 = buf, *idx2 = buf + n_ref, *scratch = buf + n_ref + n_max;
                if (r < 0) {
                    for (int64_t i = 0; i < n_ref; i++) idx1[i] = i;
                    for (int64_t i = 0; i < nk; i++) idx2[i] = i;
                } else { /* the draws of cs_bootstrap_fids for replicate r and set k */
                    cs_rng rng;
                    cs_rng_init(&rng, seed, (uint64_t)r);
                    cs_rng_resample(&rng, n_ref, idx1, n_ref);
                    cs_rng_skip(&rng, offset - (uint64_t)n_ref);
                    cs_rng_resample(&rng, nk, idx2, nk);
                }
                const uint64_t s_ref = (uint64_t)(r + 1) * 8192u, s_set = s_ref + 1u + (uint64_t)k;
                double v = NAN;
                cs_status s = cs_fid_inf_eval(b, idx1, n_ref, idx2, nk, o, seed, s_ref, s_set, scratch, &v, NULL);
                if (r < 0 && s == CS_OK && plugin) { /* the plug-in FID: covariances divided by n */
                    cs_fid_result full;
                    s = cs_fid_boot_eval(b, idx1, n_ref, idx2, nk, &full);
                    const double c1 = (double)(n_ref - 1) / (double)n_ref, c2 = (double)(nk - 1) / (double)nk;
                    plugin[k] = full.mean_term + c1 * full.trace1 + c2 * full.trace2 - 2.0 * sqrt(c1 * c2) * full.trace_sqrt;
                }
                if (r < 0) {
                    point[k] = v;
                    if (s != CS_OK) {
#pragma omp critical(cs_fid_inf_fail)
                        {
                            if (!failed) fst = s, snprintf(fmsg, sizeof fmsg, "%s", cs_last_error());
                            failed = 1;
                        }
                    }
                } else {
                    rep[(size_t)r * n_sets + k] = s == CS_OK ? v : NAN;
                    if (s == CS_E_NOMEM || s == CS_E_USAGE) {
#pragma omp critical(cs_fid_inf_fail)
                        {
                            if (!failed) fst = s, snprintf(fmsg, sizeof fmsg, "%s", cs_last_error());
                            failed = 1;
                        }
                    }
                }
            }
            free(buf);
        }
        cs_fid_boot_free(b);
        if (failed) st = CS_FAIL(fst, "FID-infinity of set %zu: %s", k, fmsg);
        offset += (uint64_t)nk;
    }
    return st;
}
