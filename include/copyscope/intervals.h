/* copyscope: bootstrap interval methods for the audit (host/attribution/intervals.c).
 *
 * The bootstrap gives B replicates x*_r of a statistic whose point estimate is T (a coalition's
 * FID or utility, a Shapley value). FID is biased upward by O(1/n), differently per coalition,
 * and the bootstrap world repeats that bias (resampled FIDs sit about one bias above T): the
 * percentile interval is centred near T + bias while the population value is near T - bias
 * (issue 22; bench/coverage_study.py measures it). The methods:
 *
 *   percentile       [q(2.5%), q(97.5%)] of the replicates (numpy's linear interpolation).
 *   basic            [2T - q(97.5%), 2T - q(2.5%)] (the "basic"/reverse-percentile interval).
 *   debiased         the percentile interval shifted by -2b, b = mean(x*) - T, the bootstrap's
 *                    estimate of the bias: centred on the bias-corrected estimate T - b, same width.
 *   debiased-normal  (T - b) +- 1.96 se, se = the replicates' standard deviation (ddof 1).
 *   bc               Efron's bias-corrected percentile interval (BCa with acceleration a = 0):
 *                    z0 = Phi^-1(#{x* < T} / B), percentiles Phi(2 z0 -+ 1.96).
 *   bca              Efron's BCa: z0 as bc, percentiles Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for
 *                    z = -+1.96, the acceleration a from a delete-group jackknife over the images
 *                    of every sample (cs_jackknife_accel; audit: the reference and each set, rows
 *                    i mod G in group g).
 *   studentized      bootstrap-t: t*_r = (x*_r - T) / se*_r with se*_r the delete-group jackknife
 *                    standard error of replicate r (computed on its resampled rows), interval
 *                    [T - q(97.5%) se, T - q(2.5%) se] of t*, se = the jackknife standard error of
 *                    the sample. Costs 2 G FIDs per set per replicate (audit --studentized G).
 *   subsample        m-out-of-n subsampling without replacement (m = floor(f n) of every sample,
 *                    f = --subsample-frac, default 1/2), D_r = T_m,r - T. FID = linear part +
 *                    quadratic (degenerate, U-statistic-like) part + O(n^-3/2): against the
 *                    sample, a subsample's linear part varies with variance (1/m - 1/n) s^2 (not
 *                    s^2 / n) and its quadratic part has bias and spread c (1/m - 1/n) (not
 *                    c / n). So the bias is estimated by mean(D) f / (1 - f) and the spread by
 *                    (D - mean(D)) sqrt(f / (1 - f)): interval [T - bias - q(97.5%), T - bias -
 *                    q(2.5%)] of the scaled centred D. The quadratic part's spread is scaled by
 *                    sqrt(f / (1 - f)) instead of f / (1 - f): exact for both parts at f = 1/2.
 *
 * Every method is computed for every quantity; one is primary (cs_audit_ci.lo/.hi). */
#ifndef COPYSCOPE_INTERVALS_H
#define COPYSCOPE_INTERVALS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_interval_method {
    CS_INTERVAL_AUTO = -1, /* options only: CS_INTERVAL_DEFAULT where computed, else CS_INTERVAL_FALLBACK */
    CS_INTERVAL_PERCENTILE = 0,
    CS_INTERVAL_BASIC,
    CS_INTERVAL_DEBIASED,
    CS_INTERVAL_DEBIASED_NORMAL,
    CS_INTERVAL_BC,
    CS_INTERVAL_BCA,
    CS_INTERVAL_STUDENTIZED,
    CS_INTERVAL_SUBSAMPLE,
    CS_INTERVAL_N
} cs_interval_method;

/* The default interval method of the audit (chosen by bench/coverage_study.py, see README), and
 * the default where its inputs are not computed (fid-inf, KID and pixel utilities, sets too small
 * to halve, --subsample-frac 0). */
#define CS_INTERVAL_DEFAULT CS_INTERVAL_SUBSAMPLE
#define CS_INTERVAL_FALLBACK CS_INTERVAL_DEBIASED

const char *cs_interval_name(cs_interval_method m);
/* One line: what the interval is. */
const char *cs_interval_description(cs_interval_method m);
/* name -> method; 0 when unknown. */
int cs_interval_parse(const char *name, cs_interval_method *out);

/* Standard normal distribution function and its inverse (|error| < 1e-15 after refinement). */
double cs_normal_cdf(double x);
double cs_normal_quantile(double p);

/* Interval of one quantity: x (n replicates, finite; reordered), point = the point estimate.
 * lo[m], hi[m] (CS_INTERVAL_N each) get every method's 95% interval; *mean the replicates' mean,
 * *se their standard deviation (ddof 1), *debiased = point - (mean - point). */
void cs_interval_all(double *x, size_t n, double point, double *lo, double *hi, double *mean, double *se,
                     double *debiased);

/* What the methods beyond the bootstrap replicates need; a method whose inputs are absent gets
 * NaN. */
typedef struct cs_interval_extra {
    double accel;      /* bca: the acceleration (NaN: not computed) */
    double *t;         /* studentized: n_t pivots t*_r (reordered), NULL: not computed */
    size_t n_t;
    double se_jack;    /* studentized: the jackknife standard error of the point estimate */
    double *sub;       /* subsample: n_sub differences D_r = T_m,r - T (reordered), NULL: none */
    size_t n_sub;
    double sub_frac;   /* subsample: f = m / n */
} cs_interval_extra;

/* cs_interval_all plus the methods of extra (NULL: those are NaN). */
void cs_interval_all_ex(double *x, size_t n, double point, const cs_interval_extra *extra, double *lo,
                        double *hi, double *mean, double *se, double *debiased);

/* BCa acceleration from jackknife differences u[j] = mean of its sample's deletions - the value
 * without deletion j, pooled over every sample: a = sum u^3 / (6 (sum u^2)^(3/2)) (Efron 1987;
 * delete-group values estimate the same a: the cumulants of the groups' influence sums add up).
 * 0 when every u is 0. */
double cs_jackknife_accel(const double *u, size_t n);

#ifdef __cplusplus
}
#endif
#endif
