/* The CUDA math backend (fid/math_backend.h): each op forwards to its cs_gpu_* twin (fid/gpu_math.h,
 * the CUDA module), which gives the CPU's numbers to rounding. Every build compiles this file; without
 * GPU math cs_math_cuda_create answers CS_E_UNSUPPORTED with the reason. */
#include "fid/math_backend.h"

#include "core/common.h"
#include "fid/gpu_math.h"

#include <math.h>
#include <stdlib.h>

typedef struct cs_math_cuda {
    cs_math base;
    cs_gpu *g;
} cs_math_cuda;

static cs_gpu *cuda_gpu(cs_math *mb) { return ((cs_math_cuda *)mb->ctx)->g; }

static void cuda_free(cs_math *mb) {
    cs_math_cuda *c = mb->ctx;
    cs_gpu_close(c->g);
    free(c);
}

static const char *cuda_device_name(cs_math *mb) { return cs_gpu_name(cuda_gpu(mb)); }

static int cuda_supports(cs_math *mb, cs_math_op op, cs_fid_method method) {
    (void)mb;
    if (op == CS_MATH_REF || op == CS_MATH_PAIR) /* the GPU factors the reference by eig-ref only */
        return method == CS_FID_AUTO || method == CS_FID_EIG_REF;
    return op >= 0 && op < CS_MATH_OP_COUNT;
}

static int cuda_concurrency(cs_math *mb) {
    (void)mb;
    return 1; /* one stream, one set of handles */
}

static int cuda_preferred_batch(cs_math *mb) {
    (void)mb;
    return 256; /* replicates per cs_gpu_fid_boot_eval_batch call, as the GPU bootstrap always did */
}

static cs_status cuda_stats_add(cs_math *mb, cs_stats *s, const float *x, int64_t n) {
    return cs_gpu_stats_add_f32(cuda_gpu(mb), s, x, n);
}

static cs_status cuda_ref_init(cs_math *mb, const cs_stats *ref, cs_fid_method method, cs_math_ref **out) {
    *out = NULL;
    if (!cuda_supports(mb, CS_MATH_REF, method)) return cs_math_unsupported(mb, "FID reference of this method");
    cs_gpu_fid_ref *r = NULL;
    cs_status st = cs_gpu_fid_ref_init(cuda_gpu(mb), ref, &r);
    *out = (cs_math_ref *)r;
    return st;
}

static void cuda_ref_free(cs_math *mb, cs_math_ref *r) {
    (void)mb;
    if (r) cs_gpu_fid_ref_free((cs_gpu_fid_ref *)r);
}

/* With the rows of s: the GPU's row path (lowrank-ref when s has fewer rows than the rank, else
 * statistics accumulated on the GPU), as cs_fid_ref_compare_rows on the CPU. */
static cs_status cuda_ref_compare(cs_math *mb, cs_math_ref *r, const cs_stats *s, const float *x,
                                  cs_fid_result *res) {
    (void)mb;
    cs_gpu_fid_ref *gr = (cs_gpu_fid_ref *)r;
    return x ? cs_gpu_fid_ref_compare_features(gr, x, s->n, s->d, &s->id, res) : cs_gpu_fid_ref_compare(gr, s, res);
}

static cs_status cuda_ref_compare_features(cs_math *mb, cs_math_ref *r, const float *x, int64_t n, int d,
                                           const cs_extractor_id *id, cs_fid_result *res) {
    (void)mb;
    return cs_gpu_fid_ref_compare_features((cs_gpu_fid_ref *)r, x, n, d, id, res);
}

/* cs_gpu_fid_compute is the AUTO route (lowrank, else eig-ref from s1); without rows it is eig-ref. */
static cs_status cuda_pair(cs_math *mb, const cs_stats *s1, const float *x1, const cs_stats *s2,
                           const float *x2, cs_fid_method method, cs_fid_result *res) {
    if (!cuda_supports(mb, CS_MATH_PAIR, method)) return cs_math_unsupported(mb, "FID of this method");
    if (method != CS_FID_AUTO) x1 = x2 = NULL;
    return cs_gpu_fid_compute(cuda_gpu(mb), s1, x1, s2, x2, res);
}

static cs_status cuda_lowrank(cs_math *mb, const float *x1, int64_t n1, const float *x2, int64_t n2, int d,
                              cs_fid_result *res) {
    return cs_gpu_fid_lowrank(cuda_gpu(mb), x1, n1, x2, n2, d, res);
}

static cs_status cuda_boot_init(cs_math *mb, const float *x1, int64_t n1, const float *x2, int64_t n2,
                                int d, cs_math_boot **out) {
    cs_gpu_fid_boot *b = NULL;
    cs_status st = cs_gpu_fid_boot_init(cuda_gpu(mb), x1, n1, x2, n2, d, &b);
    *out = (cs_math_boot *)b;
    return st;
}

static void cuda_boot_free(cs_math *mb, cs_math_boot *b) {
    (void)mb;
    if (b) cs_gpu_fid_boot_free((cs_gpu_fid_boot *)b);
}

/* One batched call; when a resample fails numerically, the batch is evaluated again one resample
 * at a time to find which (those give NaN). */
static cs_status cuda_boot_eval(cs_math *mb, cs_math_boot *bp, int R, const int64_t *idx1, int64_t m1,
                                const int64_t *idx2, int64_t m2, double *fid) {
    (void)mb;
    cs_gpu_fid_boot *b = (cs_gpu_fid_boot *)bp;
    cs_fid_result *res = cs_malloc((size_t)R * sizeof *res, "resampled FIDs"); /* (R) */
    if (!res) return CS_E_NOMEM;
    cs_status st = cs_gpu_fid_boot_eval_batch(b, R, idx1, m1, idx2, m2, res);
    if (st == CS_E_NUMERIC) {
        st = CS_OK;
        for (int j = 0; j < R && st == CS_OK; j++) {
            cs_status s1 = cs_gpu_fid_boot_eval_batch(b, 1, idx1 + (size_t)j * (size_t)m1, m1,
                                                      idx2 + (size_t)j * (size_t)m2, m2, &res[j]);
            if (s1 == CS_E_NUMERIC) res[j].fid = NAN;
            else st = s1;
        }
    }
    if (st == CS_OK)
        for (int j = 0; j < R; j++) fid[j] = res[j].fid;
    free(res);
    return st;
}

static cs_status cuda_kid(cs_math *mb, const float *x, int64_t n1, const float *y, int64_t n2, int d,
                          const cs_kid_opts *opts, cs_kid_result *res, double *per_subset) {
    /* the device draws copyscope's subsets (cs_kid_subset); torch-fidelity's sampler (one numpy
     * stream) runs on the host, which is the oracle of the same numbers */
    if (opts && opts->sampler != CS_KID_SAMPLER_COPYSCOPE) return cs_kid_compute(x, n1, y, n2, d, opts, res, per_subset);
    return cs_gpu_kid_compute(cuda_gpu(mb), x, n1, y, n2, d, opts, res, per_subset);
}

static cs_status cuda_ssim_pairs(cs_math *mb, const cs_image *a, const cs_image *b, size_t npairs,
                                 double *ssim, double *rgb_ssim) {
    return cs_gpu_ssim_pairs(cuda_gpu(mb), a, b, npairs, ssim, rgb_ssim);
}

static cs_status cuda_desc_pairs(cs_math *mb, const cs_metric_desc *dref, size_t nref,
                                 const cs_metric_desc *dgen, size_t ngen, const int *want, double *out) {
    return cs_gpu_metric_desc_pairs(cuda_gpu(mb), dref, nref, dgen, ngen, want, out);
}

static const cs_math_i cs_math_cuda_iface = {
    .name = "cuda",
    .free = cuda_free,
    .device_name = cuda_device_name,
    .supports = cuda_supports,
    .preferred_batch = cuda_preferred_batch,
    .concurrency = cuda_concurrency,
    .stats_add = cuda_stats_add,
    .ref_init = cuda_ref_init,
    .ref_free = cuda_ref_free,
    .ref_compare = cuda_ref_compare,
    .ref_compare_features = cuda_ref_compare_features,
    .pair = cuda_pair,
    .lowrank = cuda_lowrank,
    .boot_init = cuda_boot_init,
    .boot_free = cuda_boot_free,
    .boot_eval = cuda_boot_eval,
    .kid = cuda_kid,
    .ssim_pairs = cuda_ssim_pairs,
    .desc_pairs = cuda_desc_pairs,
};

cs_status cs_math_cuda_create(int device, cs_math **out) {
    *out = NULL;
    cs_math_cuda *c = cs_calloc(1, sizeof *c, "CUDA math backend");
    if (!c) return CS_E_NOMEM;
    cs_status st = cs_gpu_open(device, &c->g); /* CS_E_UNSUPPORTED + why without GPU math */
    if (st != CS_OK) {
        free(c);
        return st;
    }
    c->base.iface = &cs_math_cuda_iface;
    c->base.ctx = c;
    *out = &c->base;
    return CS_OK;
}
