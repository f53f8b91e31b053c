/* Inception Score as torch-fidelity 0.4.0 computes it (metric_isc.isc_features_to_metric); see
 * copyscope/metrics.h. Plain loops in float64: n x 1008 values, nothing here is costly. */
#include "copyscope/metrics.h"
#include "copyscope/weights.h"

#include "core/common.h"
#include "core/np_random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs_isc_opts_default(cs_isc_opts *o) {
    o->splits = 10;
    o->shuffle = 1;
    o->seed = 2020;
}

cs_status cs_isc_logits(const float *feat, int64_t n, int d, const float *fc_weight, int classes,
                        double *logits) {
    if (n < 0 || d < 1 || classes < 1) return CS_FAIL(CS_E_USAGE, "isc: bad logits shape (%lld, %d, %d)", (long long)n, d, classes);
    for (int64_t i = 0; i < n; i++) {
        const float *f = feat + (size_t)i * (size_t)d;
        for (int c = 0; c < classes; c++) {
            const float *w = fc_weight + (size_t)c * (size_t)d;
            double s = 0.0;
            for (int k = 0; k < d; k++) s += (double)f[k] * (double)w[k];
            logits[(size_t)i * (size_t)classes + (size_t)c] = s;
        }
    }
    return CS_OK;
}

/* p (classes) and log p (classes) of one row of logits: torch's (log_)softmax, max subtracted. */
static void softmax_row(const double *x, int classes, double *p, double *logp) {
    double mx = x[0];
    for (int c = 1; c < classes; c++)
        if (x[c] > mx) mx = x[c];
    double sum = 0.0;
    for (int c = 0; c < classes; c++) sum += exp(x[c] - mx);
    const double lse = log(sum);
    for (int c = 0; c < classes; c++) {
        p[c] = exp(x[c] - mx) / sum;
        logp[c] = x[c] - mx - lse;
    }
}

cs_status cs_isc_compute(const double *logits, int64_t n, int classes, const cs_isc_opts *opts_in,
                         cs_isc_result *res, double *per_split) {
    cs_isc_opts opts;
    if (opts_in) opts = *opts_in;
    else cs_isc_opts_default(&opts);
    if (opts.splits < 1 || classes < 1)
        return CS_FAIL(CS_E_USAGE, "isc: bad options (%d splits, %d classes)", opts.splits, classes);
    if (n < opts.splits)
        return CS_FAIL(CS_E_USAGE, "isc: needs at least %d images (one per split), got %lld", opts.splits, (long long)n);
    size_t cells;
    if (!cs_mul_size((size_t)n, (size_t)classes, &cells)) return CS_FAIL(CS_E_USAGE, "isc: too many rows");
    int64_t *order = malloc((size_t)n * sizeof *order); /* (n) row order */
    double *p = malloc(cells * sizeof *p), *logp = malloc(cells * sizeof *logp); /* (n, classes) */
    double *q = malloc((size_t)classes * sizeof *q);                              /* (classes) */
    double *scores = malloc((size_t)opts.splits * sizeof *scores);                /* (splits) */
    cs_status st = CS_OK;
    if (!order || !p || !logp || !q || !scores) {
        st = CS_FAIL(CS_E_NOMEM, "isc: out of memory for %lld rows", (long long)n);
        goto done;
    }
    if (opts.shuffle) { /* feature = feature[RandomState(seed).permutation(N)] */
        cs_np_rng rng;
        cs_np_rng_seed(&rng, opts.seed);
        cs_np_rng_permutation(&rng, n, order);
    } else {
        for (int64_t i = 0; i < n; i++) order[i] = i;
    }
    for (int64_t i = 0; i < n; i++)
        softmax_row(logits + (size_t)order[i] * (size_t)classes, classes, p + (size_t)i * (size_t)classes,
                    logp + (size_t)i * (size_t)classes);
    for (int k = 0; k < opts.splits; k++) {
        const int64_t a = (int64_t)k * n / opts.splits, b = (int64_t)(k + 1) * n / opts.splits;
        for (int c = 0; c < classes; c++) q[c] = 0.0;
        for (int64_t i = a; i < b; i++)
            for (int c = 0; c < classes; c++) q[c] += p[(size_t)i * (size_t)classes + (size_t)c];
        for (int c = 0; c < classes; c++) q[c] = log(q[c] / (double)(b - a));
        double kl_sum = 0.0;
        for (int64_t i = a; i < b; i++) {
            const double *pi = p + (size_t)i * (size_t)classes, *li = logp + (size_t)i * (size_t)classes;
            double kl = 0.0;
            for (int c = 0; c < classes; c++) kl += pi[c] * (li[c] - q[c]);
            kl_sum += kl;
        }
        scores[k] = exp(kl_sum / (double)(b - a));
        if (!isfinite(scores[k])) {
            st = CS_FAIL(CS_E_NUMERIC, "isc: split %d's score is not finite (NaN/inf logits?)", k);
            goto done;
        }
    }
    double mean = 0.0, var = 0.0;
    for (int k = 0; k < opts.splits; k++) mean += scores[k];
    mean /= opts.splits;
    for (int k = 0; k < opts.splits; k++) var += (scores[k] - mean) * (scores[k] - mean);
    res->isc = mean;
    res->isc_std = sqrt(var / opts.splits);
    res->splits = opts.splits;
    res->n = n;
    if (per_split) memcpy(per_split, scores, (size_t)opts.splits * sizeof *scores);
done:
    free(order), free(p), free(logp), free(q), free(scores);
    return st;
}

cs_status cs_isc_from_features(const float *feat, int64_t n, int d, const char *weights_path,
                               const cs_isc_opts *opts, cs_isc_result *res) {
    if (d != 2048) return CS_FAIL(CS_E_USAGE, "isc: needs the 2048-d pool3 features (got %d dims)", d);
    char wpath[4096];
    CS_TRY(cs_weights_find(weights_path, wpath, sizeof wpath));
    cs_weights *w = NULL;
    CS_TRY(cs_weights_load(wpath, &w));
    cs_tensor_view fc;
    cs_status st = cs_weights_tensor(w, "fc.weight", &fc);
    if (st == CS_OK && (fc.ndim != 2 || fc.shape[1] != d || fc.shape[0] < 1 || fc.shape[0] > 100000 || !fc.data))
        st = CS_FAIL(CS_E_MISMATCH, "%s: fc.weight is not a (classes, %d) float32 tensor", wpath, d);
    double *logits = NULL;
    size_t cells = 0;
    if (st == CS_OK && !cs_mul_size((size_t)n, (size_t)fc.shape[0], &cells)) st = CS_FAIL(CS_E_USAGE, "isc: too many rows");
    if (st == CS_OK && !(logits = malloc((cells ? cells : 1) * sizeof *logits))) /* (n, classes) float64 */
        st = CS_FAIL(CS_E_NOMEM, "isc: out of memory for %lld rows", (long long)n);
    if (st == CS_OK) st = cs_isc_logits(feat, n, d, fc.data, (int)fc.shape[0], logits);
    if (st == CS_OK) st = cs_isc_compute(logits, n, (int)fc.shape[0], opts, res, NULL);
    free(logits);
    cs_weights_free(w);
    return st;
}
