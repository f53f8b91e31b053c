/* Bootstrap interval methods (include/copyscope/intervals.h). Pure functions of the replicates
 * and the point estimate: deterministic, no threads. */
#include "copyscope/intervals.h"
#include "copyscope/audit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cs_interval_names[CS_INTERVAL_N] = {
    "percentile", "basic", "debiased", "debiased-normal", "bc", "bca", "studentized", "subsample"};

const char *cs_interval_name(cs_interval_method m) {
    return (unsigned)m < CS_INTERVAL_N ? cs_interval_names[m] : "unknown";
}

const char *cs_interval_description(cs_interval_method m) {
    switch (m) {
    case CS_INTERVAL_PERCENTILE: return "percentile 95% (numpy linear interpolation at 2.5% and 97.5%)";
    case CS_INTERVAL_BASIC: return "basic 95% (2 T - q97.5%, 2 T - q2.5%)";
    case CS_INTERVAL_DEBIASED:
        return "debiased 95%: the percentile interval shifted by -2 (bootstrap mean - T), centred on the "
               "bootstrap bias-corrected estimate T - (bootstrap mean - T)";
    case CS_INTERVAL_DEBIASED_NORMAL: return "debiased normal 95%: (T - bias) +- 1.96 standard errors";
    case CS_INTERVAL_BC: return "Efron's bias-corrected percentile 95% (BCa with acceleration 0)";
    case CS_INTERVAL_BCA:
        return "Efron's BCa 95%, the acceleration from a delete-group jackknife over the images of every sample";
    case CS_INTERVAL_STUDENTIZED:
        return "bootstrap-t 95%: replicates studentized by their delete-group jackknife standard errors";
    case CS_INTERVAL_SUBSAMPLE:
        return "m-out-of-n subsampling without replacement 95%: bias scaled by f / (1 - f), spread by "
               "sqrt(f / (1 - f)), f = m / n";
    default: return "unknown";
    }
}

int cs_interval_parse(const char *name, cs_interval_method *out) {
    for (int m = 0; m < CS_INTERVAL_N; m++)
        if (!strcmp(name, cs_interval_names[m])) {
            *out = (cs_interval_method)m;
            return 1;
        }
    return 0;
}

double cs_normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

double cs_normal_quantile(double p) {
    if (!(p > 0.0)) return -INFINITY;
    if (!(p < 1.0)) return INFINITY;
    /* bisection to 1e-10 then two Newton steps on the cdf */
    double lo = -40.0, hi = 40.0;
    for (int i = 0; i < 200 && hi - lo > 1e-10; i++) {
        double mid = 0.5 * (lo + hi);
        if (cs_normal_cdf(mid) < p) lo = mid;
        else hi = mid;
    }
    double x = 0.5 * (lo + hi);
    for (int i = 0; i < 2; i++) {
        double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        if (pdf > 1e-300) x -= (cs_normal_cdf(x) - p) / pdf;
    }
    return x;
}

static int cs_cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cs_jackknife_accel(const double *u, size_t n) {
    double s2 = 0.0, s3 = 0.0;
    for (size_t i = 0; i < n; i++) s2 += u[i] * u[i], s3 += u[i] * u[i] * u[i];
    return s2 > 0.0 ? s3 / (6.0 * pow(s2, 1.5)) : 0.0;
}

/* z0 of Efron's BC and BCa: ties count half (a statistic identical in every replicate, e.g. a
 * null player with identical sets, gives p = 1/2 and the percentile interval); x sorted or not. */
static double cs_interval_z0(const double *x, size_t n, double point) {
    size_t below = 0, ties = 0;
    for (size_t i = 0; i < n; i++) below += x[i] < point, ties += x[i] == point;
    double p = ((double)below + 0.5 * (double)ties) / (double)n;
    const double pmin = 0.5 / (double)n; /* keep z0 finite: at most the replicates' resolution */
    p = p < pmin ? pmin : p > 1.0 - pmin ? 1.0 - pmin : p;
    return cs_normal_quantile(p);
}

void cs_interval_all_ex(double *x, size_t n, double point, const cs_interval_extra *ex, double *lo, double *hi,
                        double *mean, double *se, double *debiased) {
    for (int m = 0; m < CS_INTERVAL_N; m++) lo[m] = hi[m] = NAN;
    *mean = *se = *debiased = NAN;
    if (n == 0) return;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    const double mu = s / (double)n;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - mu) * (x[i] - mu);
    *mean = mu;
    *se = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
    const double b = mu - point;
    *debiased = point - b;
    const double z0 = cs_interval_z0(x, n, point);
    qsort(x, n, sizeof *x, cs_cmp_dbl);
    const double q_lo = cs_percentile_sorted(x, n, 0.025), q_hi = cs_percentile_sorted(x, n, 0.975);
    lo[CS_INTERVAL_PERCENTILE] = q_lo;
    hi[CS_INTERVAL_PERCENTILE] = q_hi;
    lo[CS_INTERVAL_BASIC] = 2.0 * point - q_hi;
    hi[CS_INTERVAL_BASIC] = 2.0 * point - q_lo;
    lo[CS_INTERVAL_DEBIASED] = q_lo - 2.0 * b;
    hi[CS_INTERVAL_DEBIASED] = q_hi - 2.0 * b;
    const double z = cs_normal_quantile(0.975);
    lo[CS_INTERVAL_DEBIASED_NORMAL] = *debiased - z * *se;
    hi[CS_INTERVAL_DEBIASED_NORMAL] = *debiased + z * *se;
    lo[CS_INTERVAL_BC] = cs_percentile_sorted(x, n, cs_normal_cdf(2.0 * z0 - z));
    hi[CS_INTERVAL_BC] = cs_percentile_sorted(x, n, cs_normal_cdf(2.0 * z0 + z));
    if (!ex) return;
    if (isfinite(ex->accel)) {
        /* BCa: 1 - a (z0 + z) <= 0 is past the limit where the level reaches 0 or 100%: the extreme
         * replicate there */
        const double a = ex->accel, zl = z0 - z, zh = z0 + z;
        const double dl = 1.0 - a * zl, dh = 1.0 - a * zh;
        lo[CS_INTERVAL_BCA] = dl > 0.0 ? cs_percentile_sorted(x, n, cs_normal_cdf(z0 + zl / dl)) : x[0];
        hi[CS_INTERVAL_BCA] = dh > 0.0 ? cs_percentile_sorted(x, n, cs_normal_cdf(z0 + zh / dh)) : x[n - 1];
    }
    if (ex->t && ex->n_t > 0 && isfinite(ex->se_jack)) {
        qsort(ex->t, ex->n_t, sizeof *ex->t, cs_cmp_dbl);
        lo[CS_INTERVAL_STUDENTIZED] = point - cs_percentile_sorted(ex->t, ex->n_t, 0.975) * ex->se_jack;
        hi[CS_INTERVAL_STUDENTIZED] = point - cs_percentile_sorted(ex->t, ex->n_t, 0.025) * ex->se_jack;
    }
    if (ex->sub && ex->n_sub > 0 && ex->sub_frac > 0.0 && ex->sub_frac < 1.0) {
        const double f = ex->sub_frac, sq = f / (1.0 - f), sl = sqrt(sq);
        double dm = 0.0;
        for (size_t i = 0; i < ex->n_sub; i++) dm += ex->sub[i];
        dm /= (double)ex->n_sub;
        qsort(ex->sub, ex->n_sub, sizeof *ex->sub, cs_cmp_dbl);
        const double c = point - sq * dm; /* the bias-corrected centre */
        lo[CS_INTERVAL_SUBSAMPLE] = c - sl * (cs_percentile_sorted(ex->sub, ex->n_sub, 0.975) - dm);
        hi[CS_INTERVAL_SUBSAMPLE] = c - sl * (cs_percentile_sorted(ex->sub, ex->n_sub, 0.025) - dm);
    }
}

void cs_interval_all(double *x, size_t n, double point, double *lo, double *hi, double *mean, double *se,
                     double *debiased) {
    cs_interval_all_ex(x, n, point, NULL, lo, hi, mean, se, debiased);
}

void cs_audit_ci_compute(double *x, size_t n, double point, cs_interval_method method, cs_audit_ci *ci) {
    cs_audit_ci_compute_ex(x, n, point, NULL, method, ci);
}

void cs_audit_ci_compute_ex(double *x, size_t n, double point, const cs_interval_extra *extra,
                            cs_interval_method method, cs_audit_ci *ci) {
    cs_interval_all_ex(x, n, point, extra, ci->lo_m, ci->hi_m, &ci->mean, &ci->se, &ci->debiased);
    if ((unsigned)method >= CS_INTERVAL_N) method = CS_INTERVAL_FALLBACK;
    ci->lo = ci->lo_m[method];
    ci->hi = ci->hi_m[method];
}

/* ---- what the intervals mean at this audit's d and n ------------------------------------------ */

/* Coverage of the population Shapley values by nominal 95% intervals, measured by
 * bench/coverage_study.py (bench/results/coverage-cpu.txt; Gaussian worlds, exact Shapley values).
 * ratio = d / n (n = images per set, reference the same). */
typedef struct {
    int d, n, fid_inf;
    cs_interval_method method;
    double coverage;     /* percent, Shapley values */
    int values;          /* number of (replicate, player) values behind it */
    double coverage_fid; /* percent, coalition FIDs (NaN: not measured) */
} cs_study_row;

static const cs_study_row cs_study[] = {
#include "attribution/coverage_table.h"
};

void cs_audit_interval_validity(const cs_audit *a, cs_interval_validity *v) {
    memset(v, 0, sizeof *v);
    v->coverage = NAN;
    if (!a->bootstrap) {
        snprintf(v->note, sizeof v->note, "no bootstrap: no intervals");
        return;
    }
    if (a->metric != CS_METRIC_FID) {
        snprintf(v->note, sizeof v->note, "the coverage of the %s intervals of the %s utility has not been "
                 "studied (bench/coverage_study.py covers FID utilities)", cs_interval_name(a->interval),
                 cs_metric_name(a->metric));
        return;
    }
    int64_t n_min = a->n_reference;
    for (size_t k = 0; k < a->n_coalitions; k++) n_min = a->coalitions[k].n < n_min ? a->coalitions[k].n : n_min;
    const double ratio = n_min > 0 ? (double)a->dims / (double)n_min : INFINITY;
    /* nearest study row (in log d/n) of the same method and FID estimator; of several rows at that
     * d/n (cells with other players), the one with the most values */
    const cs_study_row *best = NULL;
    double bd = INFINITY;
    for (size_t i = 0; i < sizeof cs_study / sizeof cs_study[0]; i++) {
        const cs_study_row *s = &cs_study[i];
        if (s->method != a->interval || s->fid_inf != a->fid_inf) continue;
        double dist = fabs(log(ratio) - log((double)s->d / (double)s->n));
        if (dist < bd - 1e-12 || (dist <= bd + 1e-12 && best && s->values > best->values)) bd = dist, best = s;
    }
    if (best) {
        v->coverage = best->coverage;
        v->study_d = best->d;
        v->study_n = best->n;
    }
    /* the validated range: d/n up to the largest studied ratio below which every studied ratio
     * (same method and FID estimator) reached 90% coverage of the Shapley values, the cells at one
     * ratio pooled (coverage weighted by their numbers of values) */
    double r_max = 0.0;
    for (;;) {
        double next = INFINITY;
        for (size_t i = 0; i < sizeof cs_study / sizeof cs_study[0]; i++) {
            const cs_study_row *s = &cs_study[i];
            double rr = (double)s->d / (double)s->n;
            if (s->method == a->interval && s->fid_inf == a->fid_inf && rr > r_max && rr < next) next = rr;
        }
        if (!isfinite(next)) break;
        double covered = 0.0, values = 0.0;
        for (size_t i = 0; i < sizeof cs_study / sizeof cs_study[0]; i++) {
            const cs_study_row *s = &cs_study[i];
            if (s->method != a->interval || s->fid_inf != a->fid_inf || (double)s->d / (double)s->n != next) continue;
            covered += s->coverage * s->values;
            values += s->values;
        }
        if (!(values > 0.0 && covered / values >= 90.0)) break;
        r_max = next;
    }
    v->valid_ratio = r_max;
    const int ok_method = r_max > 0.0; /* the method reached 90% somewhere (from the smallest d/n up) */
    v->validated = best && ok_method && ratio <= r_max * (1.0 + 1e-12);
    char cov[256] = "";
    if (best && isnan(best->coverage_fid))
        snprintf(cov, sizeof cov, "; at d = %d, n = %d the study measured %.1f%% coverage of the population "
                 "Shapley values by nominal 95%% %s intervals (%d values)", best->d, best->n, best->coverage,
                 cs_interval_name(a->interval), best->values);
    else if (best)
        snprintf(cov, sizeof cov, "; at d = %d, n = %d the study measured %.1f%% coverage of the population "
                 "Shapley values by nominal 95%% %s intervals (%d values), %.0f%% of the population coalition FIDs",
                 best->d, best->n, best->coverage, cs_interval_name(a->interval), best->values, best->coverage_fid);
    if (v->validated)
        snprintf(v->note, sizeof v->note, "validated range: %lld images per set >= %.2f x %d dims%s", (long long)n_min,
                 1.0 / r_max, a->dims, cov);
    else if (!best)
        snprintf(v->note, sizeof v->note, "the %s intervals%s have not been studied: treat them as indicative, not "
                 "as 95%% intervals", cs_interval_name(a->interval), a->fid_inf ? " of FID-infinity" : "");
    else if (!ok_method)
        snprintf(v->note, sizeof v->note, "the %s intervals%s do not reach 90%% coverage in the study%s: they are "
                 "not 95%% intervals (use the default, --interval %s)", cs_interval_name(a->interval),
                 a->fid_inf ? " of FID-infinity" : "", cov,
                 cs_interval_name(a->metric == CS_METRIC_FID && !a->fid_inf ? CS_INTERVAL_DEFAULT : CS_INTERVAL_FALLBACK));
    else
        snprintf(v->note, sizeof v->note, "OUTSIDE the validated range: %lld images per set for %d dims (the "
                 "study validated n >= %.2f x dims); FID's small-sample bias is then too large for the "
                 "bias correction to be trusted, so these are NOT 95%% intervals, only indications%s",
                 (long long)n_min, a->dims, r_max > 0.0 ? 1.0 / r_max : INFINITY, cov);
}
