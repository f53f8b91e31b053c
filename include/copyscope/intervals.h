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
 *                    z0 = Phi^-1(#{x* < T} / B), percentiles Phi(2 z0 -+ 1.96). The acceleration
 *                    (a jackknife over images) is not computed: a = 0.
 *
 * Every method is computed for every quantity; one is primary (cs_audit_ci.lo/.hi). */
#ifndef COPYSCOPE_INTERVALS_H
#define COPYSCOPE_INTERVALS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_interval_method {
    CS_INTERVAL_PERCENTILE = 0,
    CS_INTERVAL_BASIC,
    CS_INTERVAL_DEBIASED,
    CS_INTERVAL_DEBIASED_NORMAL,
    CS_INTERVAL_BC,
    CS_INTERVAL_N
} cs_interval_method;

/* The default interval method of the audit (chosen by bench/coverage_study.py, see README). */
#define CS_INTERVAL_DEFAULT CS_INTERVAL_DEBIASED

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

#ifdef __cplusplus
}
#endif
#endif
