/* The CPU math backend (fid/math_backend.h): each op is the CPU routine it is named after, called
 * as it is; the oracle of every other backend. */
#include "fid/math_backend.h"

#include "core/blas.h"
#include "core/common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct cs_math_cpu {
    cs_math base;
    int threads; /* boot_eval's OpenMP team */
} cs_math_cpu;

static int cpu_threads(cs_math *mb) { return ((cs_math_cpu *)mb->ctx)->threads; }

static void cpu_free(cs_math *mb) { free(mb->ctx); }

static const char *cpu_device_name(cs_math *mb) {
    (void)mb;
    return "cpu";
}

static int cpu_supports(cs_math *mb, cs_math_op op, cs_fid_method method) {
    (void)mb;
    if (op == CS_MATH_REF) /* cs_fid_ref_init's methods */
        return method == CS_FID_AUTO || method == CS_FID_EIG || method == CS_FID_EIG_REF || method == CS_FID_SVD;
    return op >= 0 && op < CS_MATH_OP_COUNT;
}

static int cpu_concurrency(cs_math *mb) { return cpu_threads(mb); }

static int cpu_preferred_batch(cs_math *mb) {
    int t = cpu_threads(mb);
    return t * 8 > 64 ? t * 8 : 64; /* enough resamples per call for dynamic scheduling */
}

static cs_status cpu_stats_add(cs_math *mb, cs_stats *s, const float *x, int64_t n) {
    (void)mb;
    return cs_stats_add_f32(s, x, n);
}

static cs_status cpu_ref_init(cs_math *mb, const cs_stats *ref, cs_fid_method method, cs_math_ref **out) {
    (void)mb;
    cs_fid_ref *r = NULL;
    cs_status st = cs_fid_ref_init(&r, ref, method);
    *out = (cs_math_ref *)r;
    return st;
}

static void cpu_ref_free(cs_math *mb, cs_math_ref *r) {
    (void)mb;
    cs_fid_ref_free((cs_fid_ref *)r);
}

static cs_status cpu_ref_compare(cs_math *mb, cs_math_ref *r, const cs_stats *s, const float *x,
                                 cs_fid_result *res) {
    (void)mb;
    return cs_fid_ref_compare_rows((const cs_fid_ref *)r, s, x, res);
}

static cs_status cpu_ref_compare_features(cs_math *mb, cs_math_ref *r, const float *x, int64_t n, int d,
                                          const cs_extractor_id *id, cs_fid_result *res) {
    (void)mb;
    return cs_fid_ref_compare_features((const cs_fid_ref *)r, x, n, d, id, res);
}

static cs_status cpu_pair(cs_math *mb, const cs_stats *s1, const float *x1, const cs_stats *s2,
                          const float *x2, cs_fid_method method, cs_fid_result *res) {
    (void)mb;
    return cs_fid_compute(s1, x1, s2, x2, method, res);
}

static cs_status cpu_lowrank(cs_math *mb, const float *x1, int64_t n1, const float *x2, int64_t n2, int d,
                             cs_fid_result *res) {
    (void)mb;
    return cs_fid_lowrank(x1, n1, x2, n2, d, res);
}

/* The Gram matrix in fixed tiles (core/blas.h) on the backend's threads: this thread's OpenMP
 * default is set for the call and restored. */
static cs_status cpu_boot_init(cs_math *mb, const float *x1, int64_t n1, const float *x2, int64_t n2,
                               int d, cs_math_boot **out) {
    cs_fid_boot *b = NULL;
    const int omp_threads = omp_get_max_threads();
    omp_set_num_threads(cpu_threads(mb));
    cs_status st = cs_fid_boot_init(&b, x1, n1, x2, n2, d);
    omp_set_num_threads(omp_threads);
    *out = (cs_math_boot *)b;
    return st;
}

static void cpu_boot_free(cs_math *mb, cs_math_boot *b) {
    (void)mb;
    cs_fid_boot_free((cs_fid_boot *)b);
}

/* Resamples in parallel (one BLAS thread each, core/blas.h), each result stored at its index: the
 * numbers do not depend on the team's size. A failed resample is NaN; out of memory is an error. */
static cs_status cpu_boot_eval(cs_math *mb, cs_math_boot *bp, int R, const int64_t *idx1, int64_t m1,
                               const int64_t *idx2, int64_t m2, double *fid) {
    const cs_fid_boot *b = (const cs_fid_boot *)bp;
    volatile int nomem = 0;
    cs_blas_serial();
#pragma omp parallel for schedule(dynamic) num_threads(cpu_threads(mb))
    for (int k = 0; k < R; k++) {
        if (nomem) continue;
        cs_fid_result res;
        cs_status s = cs_fid_boot_eval(b, idx1 + (size_t)k * (size_t)m1, m1, idx2 + (size_t)k * (size_t)m2, m2,
                                       &res);
        fid[k] = s == CS_OK ? res.fid : NAN;
        if (s == CS_E_NOMEM) nomem = 1;
    }
    return nomem ? CS_FAIL(CS_E_NOMEM, "out of memory evaluating resampled FIDs") : CS_OK;
}

static cs_status cpu_kid(cs_math *mb, const float *x, int64_t n1, const float *y, int64_t n2, int d,
                         const cs_kid_opts *opts, cs_kid_result *res, double *per_subset) {
    (void)mb;
    return cs_kid_compute(x, n1, y, n2, d, opts, res, per_subset);
}

static cs_status cpu_ssim_pairs(cs_math *mb, const cs_image *a, const cs_image *b, size_t npairs,
                                double *ssim, double *rgb_ssim) {
    (void)mb;
    for (size_t i = 0; i < npairs; i++) {
        if (ssim) CS_TRY(cs_ssim_same_size(&a[i], &b[i], &ssim[i]));
        if (rgb_ssim) CS_TRY(cs_rgb_ssim_same_size(&a[i], &b[i], &rgb_ssim[i]));
    }
    return CS_OK;
}

static cs_status cpu_desc_pairs(cs_math *mb, const cs_metric_desc *dref, size_t nref,
                                const cs_metric_desc *dgen, size_t ngen, const int *want, double *out) {
    (void)mb;
    if (nref == 0 || ngen == 0) return CS_FAIL(CS_E_USAGE, "metrics: empty image set");
    const int wc = !want || want[CS_METRIC_COSINE], wh = !want || want[CS_METRIC_HIST],
              wd = !want || want[CS_METRIC_DHASH];
    for (size_t g = 0; g < ngen; g++)
        for (size_t r = 0; r < nref; r++) {
            double *o = out + (g * nref + r) * 3;
            o[0] = wc ? cs_metric_cosine(&dref[r], &dgen[g]) : NAN;
            o[1] = wh ? cs_metric_hist(&dref[r], &dgen[g]) : NAN;
            o[2] = wd ? cs_metric_dhash(&dref[r], &dgen[g]) : NAN;
        }
    return CS_OK;
}

static const cs_math_i cs_math_cpu_iface = {
    .name = "cpu",
    .free = cpu_free,
    .device_name = cpu_device_name,
    .supports = cpu_supports,
    .preferred_batch = cpu_preferred_batch,
    .concurrency = cpu_concurrency,
    .stats_add = cpu_stats_add,
    .ref_init = cpu_ref_init,
    .ref_free = cpu_ref_free,
    .ref_compare = cpu_ref_compare,
    .ref_compare_features = cpu_ref_compare_features,
    .pair = cpu_pair,
    .lowrank = cpu_lowrank,
    .boot_init = cpu_boot_init,
    .boot_free = cpu_boot_free,
    .boot_eval = cpu_boot_eval,
    .kid = cpu_kid,
    .ssim_pairs = cpu_ssim_pairs,
    .desc_pairs = cpu_desc_pairs,
};

cs_status cs_math_cpu_create(int threads, cs_math **out) {
    *out = NULL;
    cs_math_cpu *c = cs_calloc(1, sizeof *c, "CPU math backend");
    if (!c) return CS_E_NOMEM;
    c->threads = threads > 0 ? threads : omp_get_max_threads(); /* OMP_NUM_THREADS, else all cores */
    c->base.iface = &cs_math_cpu_iface;
    c->base.ctx = c;
    *out = &c->base;
    return CS_OK;
}

void cs_math_free(cs_math *mb) {
    if (mb) mb->iface->free(mb);
}

cs_status cs_math_unsupported(cs_math *mb, const char *op) {
    return CS_FAIL(CS_E_UNSUPPORTED, "%s: not available on the %s math backend", op, mb->iface->name);
}
