/* Bootstrap of an audit's FIDs: per-replicate random streams, resampled low-rank FIDs, percentile
 * intervals.
 *
 * Determinism: replicate r uses only its own stream (seed, r), and draws in a fixed order (the
 * reference resample first, then each set in manifest order), so the numbers do not depend on the
 * number of threads or on the order in which replicates run. */
#include "copyscope/audit.h"
#include "copyscope/frechet.h"
#include "fid/fid_many.h"

#include "core/common.h"

#include <math.h>
#include <omp.h>
#include <string.h>

static uint64_t cs_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cs_rng_init(cs_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t s = seed ^ (0x9E3779B97F4A7C15ull * (stream + 1));
    r->s = cs_splitmix64(&s); /* decorrelate neighbouring streams */
}

uint64_t cs_rng_next(cs_rng *r) { return cs_splitmix64(&r->s); }

void cs_rng_skip(cs_rng *r, uint64_t count) { r->s += 0x9E3779B97F4A7C15ull * count; }

void cs_rng_resample(cs_rng *r, int64_t n, int64_t *idx, int64_t m) {
    for (int64_t a = 0; a < m; a++) idx[a] = (int64_t)(cs_rng_next(r) % (uint64_t)n);
}

static int cs_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cs_percentile_sorted(const double *sorted, size_t n, double q) {
    if (n == 0) return NAN;
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo >= n - 1) return sorted[n - 1];
    double frac = pos - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

void cs_ci_compute(double *x, size_t n, cs_audit_ci *ci) {
    ci->lo = ci->hi = ci->se = ci->mean = NAN;
    if (n == 0) return;
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    ci->mean = mean;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    ci->se = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
    qsort(x, n, sizeof *x, cs_cmp_double);
    ci->lo = cs_percentile_sorted(x, n, 0.025);
    ci->hi = cs_percentile_sorted(x, n, 0.975);
}

/* Replicate r's draws for set k: the reference resample, then skip to set k's draws (offset =
 * n_ref + the sizes of sets 0..k-1), as cs_bootstrap_fids. */
static void cs_boot_draw(uint64_t seed, long r, int64_t n_ref, uint64_t offset, int64_t n_k,
                         int64_t *idx_ref, int64_t *idx_set) {
    cs_rng rng;
    cs_rng_init(&rng, seed, (uint64_t)r);
    cs_rng_resample(&rng, n_ref, idx_ref, n_ref);
    cs_rng_skip(&rng, offset - (uint64_t)n_ref);
    cs_rng_resample(&rng, n_k, idx_set, n_k);
}

/* The first failure inside an OpenMP team of replicates: the others stop taking replicates. */
typedef struct cs_boot_fail {
    volatile int failed;
    cs_status st;
    char msg[512];
} cs_boot_fail;

static void cs_boot_fail_note(cs_boot_fail *f, cs_status st, const char *msg) {
#pragma omp critical(cs_boot_fail)
    {
        if (!f->failed) {
            f->st = st;
            snprintf(f->msg, sizeof f->msg, "%s", msg);
        }
        f->failed = 1;
    }
}

static cs_status cs_boot_check(int B, int64_t n_ref, const int64_t *n_set, size_t n_sets, int64_t *n_max) {
    if (B < 1 || B > CS_AUDIT_MAX_BOOTSTRAP)
        return CS_FAIL(CS_E_USAGE, "bootstrap replicates must be 1..%d (got %d)", CS_AUDIT_MAX_BOOTSTRAP, B);
    if (n_ref < 2) return CS_FAIL(CS_E_USAGE, "the bootstrap needs at least 2 reference images");
    *n_max = n_ref;
    for (size_t k = 0; k < n_sets; k++) *n_max = n_set[k] > *n_max ? n_set[k] : *n_max;
    return CS_OK;
}

/* Sets one at a time: only one Gram matrix ((n_ref + n_k)^2 doubles) is alive. Replicate r's draws
 * for set k are found again by jumping over the draws of the reference and of sets 0..k-1 in its
 * stream (cs_boot_draw), so the numbers are those of drawing everything in order; each batch of
 * replicates is drawn here and evaluated by the backend (in parallel on the CPU, batched on a GPU),
 * each result stored at its replicate's index. */
cs_status cs_bootstrap_fids_on(cs_math *mb, const float *ref, int64_t n_ref, const float *const *sets,
                               const int64_t *n_set, size_t n_sets, int d, int B, uint64_t seed,
                               int progress, double *rep_fid) {
    int64_t n_max;
    CS_TRY(cs_boot_check(B, n_ref, n_set, n_sets, &n_max));
    const cs_math_i *mi = mb->iface;
    if (!mi->supports(mb, CS_MATH_BOOT, CS_FID_LOWRANK)) return cs_math_unsupported(mb, "bootstrap");
    const char *dev = mi->device_name(mb);
    int chunk = mi->preferred_batch(mb);
    if (chunk < 1) chunk = 1;
    if (chunk > B) chunk = B;
    int64_t *idx1 = malloc((size_t)chunk * (size_t)n_ref * sizeof(int64_t)); /* (chunk, n_ref) */
    int64_t *idx2 = malloc((size_t)chunk * (size_t)n_max * sizeof(int64_t)); /* (chunk, n_k) */
    double *fid = malloc((size_t)chunk * sizeof *fid);                        /* (chunk) */
    cs_status st = CS_OK;
    double t0 = cs_now(), last = t0;
    if (!idx1 || !idx2 || !fid) st = CS_FAIL(CS_E_NOMEM, "bootstrap: out of memory for resampled indices");
    uint64_t offset = (uint64_t)n_ref;
    for (size_t k = 0; k < n_sets && st == CS_OK; k++) {
        const int64_t nk = n_set[k];
        cs_math_boot *b = NULL;
        st = mi->boot_init(mb, ref, n_ref, sets[k], nk, d, &b);
        if (st != CS_OK) st = CS_FAIL(st, "bootstrap on %s: %s", dev, cs_last_error());
        for (int r0 = 0; r0 < B && st == CS_OK; r0 += chunk) {
            const int nr = B - r0 < chunk ? B - r0 : chunk;
            for (int j = 0; j < nr; j++)
                cs_boot_draw(seed, r0 + j, n_ref, offset, nk, idx1 + (size_t)j * n_ref, idx2 + (size_t)j * nk);
            st = mi->boot_eval(mb, b, nr, idx1, n_ref, idx2, nk, fid);
            if (st != CS_OK) {
                st = CS_FAIL(st, "bootstrap on %s, set %zu, replicates %d..%d: %s", dev, k, r0, r0 + nr - 1,
                             cs_last_error());
                break;
            }
            for (int j = 0; j < nr; j++) rep_fid[(size_t)(r0 + j) * n_sets + k] = fid[j];
        }
        mi->boot_free(mb, b);
        offset += (uint64_t)nk;
        if (progress && st == CS_OK) {
            double now = cs_now();
            if (now - last > 0.5 || k + 1 == n_sets) {
                last = now;
                fprintf(stderr, "\rcopyscope audit: bootstrap on %s, %zu/%zu sets x %d replicates (%.1f s)%s", dev,
                        k + 1, n_sets, B, now - t0, k + 1 == n_sets ? "\n" : "");
                fflush(stderr);
            }
        }
    }
    free(idx1), free(idx2), free(fid);
    return st;
}

cs_status cs_bootstrap_fids(const float *ref, int64_t n_ref, const float *const *sets,
                            const int64_t *n_set, size_t n_sets, int d, int B, uint64_t seed,
                            int threads, int progress, double *rep_fid) {
    cs_math *mb = NULL;
    CS_TRY(cs_math_cpu_create(threads, &mb));
    cs_status st = cs_bootstrap_fids_on(mb, ref, n_ref, sets, n_set, n_sets, d, B, seed, progress, rep_fid);
    cs_math_free(mb);
    return st;
}

cs_status cs_bootstrap_pair_means(const double *const *pairs, int64_t n_ref, const int64_t *n_set,
                                  size_t n_sets, int B, uint64_t seed, int threads, double *rep_score) {
    int64_t n_max;
    CS_TRY(cs_boot_check(B, n_ref, n_set, n_sets, &n_max));
    if (threads <= 0) threads = omp_get_max_threads(); /* OMP_NUM_THREADS, else all cores */
    cs_boot_fail fail = {0};
#pragma omp parallel num_threads(threads)
    {
        /* (n_ref) + (n_max) indices, then (n_ref) + (n_max) counts */
        int64_t *buf = malloc((size_t)(n_ref + n_max) * 2 * sizeof(int64_t));
        if (!buf) cs_boot_fail_note(&fail, CS_E_NOMEM, "out of memory for resampled indices");
#pragma omp for schedule(dynamic, 8)
        for (long r = 0; r < (long)B; r++) {
            if (fail.failed) continue;
            int64_t *idx_ref = buf, *idx_set = buf + n_ref;
            int64_t *c_ref = idx_set + n_max, *c_set = c_ref + n_ref;
            uint64_t offset = (uint64_t)n_ref;
            for (size_t k = 0; k < n_sets; k++) {
                const int64_t nk = n_set[k];
                cs_boot_draw(seed, r, n_ref, offset, nk, idx_ref, idx_set);
                offset += (uint64_t)nk;
                memset(c_ref, 0, (size_t)n_ref * sizeof *c_ref);
                memset(c_set, 0, (size_t)nk * sizeof *c_set);
                for (int64_t i = 0; i < n_ref; i++) c_ref[idx_ref[i]]++;
                for (int64_t i = 0; i < nk; i++) c_set[idx_set[i]]++;
                double sum = 0.0;
                for (int64_t g = 0; g < nk; g++) {
                    if (!c_set[g]) continue;
                    const double *row = pairs[k] + (size_t)g * (size_t)n_ref;
                    double rs = 0.0;
                    for (int64_t i = 0; i < n_ref; i++) rs += (double)c_ref[i] * row[i];
                    sum += (double)c_set[g] * rs;
                }
                rep_score[(size_t)r * n_sets + k] = sum / ((double)n_ref * (double)nk);
            }
        }
        free(buf);
    }
    if (fail.failed) return CS_FAIL(fail.st, "bootstrap: %s", fail.msg);
    return CS_OK;
}

cs_status cs_bootstrap_kids(const float *ref, int64_t n_ref, const float *const *sets,
                            const int64_t *n_set, size_t n_sets, int d, const cs_kid_opts *kid,
                            int B, uint64_t seed, int threads, double *rep_score) {
    int64_t n_max;
    CS_TRY(cs_boot_check(B, n_ref, n_set, n_sets, &n_max));
    if (threads <= 0) threads = omp_get_max_threads(); /* OMP_NUM_THREADS, else all cores */
    cs_kid_opts base = *kid;
    uint64_t offset = (uint64_t)n_ref;
    for (size_t k = 0; k < n_sets; k++) {
        const int64_t nk = n_set[k], nt = n_ref + nk;
        if (nt > CS_AUDIT_MAX_KID_BOOT_ROWS)
            return CS_FAIL(CS_E_USAGE, "bootstrap of KID: the reference and set %zu have %lld images, more than "
                           "the %d this bootstrap holds in one kernel matrix", k, (long long)nt,
                           CS_AUDIT_MAX_KID_BOOT_ROWS);
        double *gram = NULL;
        CS_TRY(cs_kid_gram_build(ref, n_ref, sets[k], nk, d, &gram));
        cs_kid_opts o = base;
        int64_t m = o.subset_size < n_ref ? o.subset_size : n_ref;
        if (m > nk) m = nk;
        if (m == n_ref && m == nk) o.n_subsets = 1; /* every subset is the whole resample */
        cs_boot_fail fail = {0};
#pragma omp parallel num_threads(threads)
        {
            int64_t *idx = malloc((size_t)(n_ref + nk) * sizeof(int64_t)); /* (n_ref) then (nk) */
            if (!idx) cs_boot_fail_note(&fail, CS_E_NOMEM, "out of memory for resampled indices");
#pragma omp for schedule(dynamic, 4)
            for (long r = 0; r < (long)B; r++) {
                if (fail.failed) continue;
                cs_boot_draw(seed, r, n_ref, offset, nk, idx, idx + n_ref);
                cs_kid_result res;
                cs_status s = cs_kid_gram(gram, nt, n_ref, idx, n_ref, idx + n_ref, nk, d, &o, &res, NULL);
                rep_score[(size_t)r * n_sets + k] = s == CS_OK ? res.kid : NAN;
                if (s == CS_E_NOMEM || s == CS_E_USAGE) cs_boot_fail_note(&fail, s, cs_last_error());
            }
            free(idx);
        }
        free(gram);
        if (fail.failed) return CS_FAIL(fail.st, "bootstrap of KID: %s", fail.msg);
        offset += (uint64_t)nk;
    }
    return CS_OK;
}

cs_status cs_bootstrap_cmmds(const float *ref, int64_t n_ref, const float *const *sets, const int64_t *n_set,
                             size_t n_sets, int d, const cs_cmmd_opts *cmmd, int B, uint64_t seed, int threads,
                             double *rep_score) {
    int64_t n_max;
    CS_TRY(cs_boot_check(B, n_ref, n_set, n_sets, &n_max));
    if (threads <= 0) threads = omp_get_max_threads(); /* OMP_NUM_THREADS, else all cores */
    cs_cmmd_opts o = *cmmd;
    o.threads = threads;
    uint64_t offset = (uint64_t)n_ref;
    for (size_t k = 0; k < n_sets; k++) {
        const int64_t nk = n_set[k], nt = n_ref + nk;
        if (nt > CS_AUDIT_MAX_CMMD_BOOT_ROWS)
            return CS_FAIL(CS_E_USAGE, "bootstrap of CMMD: the reference and set %zu have %lld images, more than "
                           "the %d this bootstrap holds in one kernel matrix", k, (long long)nt,
                           CS_AUDIT_MAX_CMMD_BOOT_ROWS);
        double *K = NULL; /* (nt, nt) kernel of [reference; set k], computed once */
        CS_TRY(cs_cmmd_kernel_build(ref, n_ref, sets[k], nk, d, &o, &K));
        cs_boot_fail fail = {0};
#pragma omp parallel num_threads(threads)
        {
            /* (n_ref) + (nk) indices, then (nt) counts */
            int64_t *idx = malloc((size_t)(n_ref + nk + nt) * sizeof(int64_t));
            if (!idx) cs_boot_fail_note(&fail, CS_E_NOMEM, "out of memory for resampled indices");
#pragma omp for schedule(dynamic, 4)
            for (long r = 0; r < (long)B; r++) {
                if (fail.failed) continue;
                int64_t *w = idx + n_ref + nk;
                cs_boot_draw(seed, r, n_ref, offset, nk, idx, idx + n_ref);
                memset(w, 0, (size_t)nt * sizeof *w);
                for (int64_t i = 0; i < n_ref; i++) w[idx[i]]++;
                for (int64_t i = 0; i < nk; i++) w[n_ref + idx[n_ref + i]]++;
                rep_score[(size_t)r * n_sets + k] = cs_cmmd_from_kernel(K, nt, n_ref, w, o.scale);
            }
            free(idx);
        }
        free(K);
        if (fail.failed) return CS_FAIL(fail.st, "bootstrap of CMMD: %s", fail.msg);
        offset += (uint64_t)nk;
    }
    return CS_OK;
}
