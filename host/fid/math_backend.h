/* Math backends for the FID and its neighbours (internal; the network backends' style, net/backend.h).
 *
 * A math backend is an interface struct of function pointers (cs_math_i) plus an opaque context.
 * Two exist:
 *   "cpu"   math_cpu.c: wraps the CPU code (stats.c, frechet.c, metrics_kid.c, metrics_pixel.c).
 *           It is the oracle: every other backend's op is checked against it
 *           (tests/test_math_ops.c).
 *   "cuda"  math_cuda.c: wraps the cs_gpu_* routines (fid/gpu_math.h, the CUDA module); created
 *           only where GPU math can run, else CS_E_UNSUPPORTED with the reason.
 * The choice of backend for a command's --device and FID method, and the FID route of many sets
 * against one reference, live in fid/fid_many.h; callers never branch on CPU vs GPU.
 *
 * Ops (all host pointers; results are the CPU routine's to rounding, see gpu_math.h):
 *   stats_add            cs_stats_add_f32
 *   ref_init/free        a factored reference (cs_fid_ref_init; the GPU factors by eig-ref only)
 *   ref_compare          cs_fid_ref_compare_rows: x (s->n, d) rows of s or NULL
 *   ref_compare_features cs_fid_ref_compare_features
 *   pair                 cs_fid_compute (one pair, method AUTO .. on the CPU; AUTO/EIG_REF on the GPU)
 *   lowrank              cs_fid_lowrank
 *   boot_init/eval/free  resampled low-rank FIDs (cs_fid_boot), many resamples per call
 *   kid                  cs_kid_compute
 *   ssim_pairs           cs_ssim_same_size / cs_rgb_ssim_same_size over pairs of equal-size images
 *   desc_pairs           cs_metric_cosine / _hist / _dhash of every (generated, reference) pair
 * supports(op, method) says whether an op runs here (method: the FID method for REF and PAIR,
 * ignored otherwise). An op called anyway answers CS_E_UNSUPPORTED with a message.
 *
 * Threads: a backend is used from one host thread at a time (the GPU's stream and handles are not
 * thread-safe); the CPU backend parallelises boot_eval over its resamples itself. Objects made from
 * a backend (refs, boots) are freed through it, before it. Every *_free tolerates NULL. */
#ifndef CS_MATH_BACKEND_H
#define CS_MATH_BACKEND_H

#include "copyscope/frechet.h"
#include "copyscope/image.h"
#include "copyscope/metrics.h"
#include "copyscope/stats.h"
#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_math_op {
    CS_MATH_STATS_ADD = 0,
    CS_MATH_REF,        /* ref_init, ref_compare, ref_compare_features */
    CS_MATH_PAIR,
    CS_MATH_LOWRANK,
    CS_MATH_BOOT,       /* boot_init, boot_eval */
    CS_MATH_KID,
    CS_MATH_SSIM_PAIRS,
    CS_MATH_DESC_PAIRS,
    CS_MATH_OP_COUNT
} cs_math_op;

typedef struct cs_math cs_math;
typedef struct cs_math_ref cs_math_ref;   /* a factored reference of one backend */
typedef struct cs_math_boot cs_math_boot; /* a resampling Gram matrix of one backend */

typedef struct cs_math_i {
    const char *name; /* "cpu", "cuda" */
    void (*free)(cs_math *mb);
    /* For messages and reports: "cpu", or the GPU's name ("cuda:0 (NVIDIA H100 ...)"). */
    const char *(*device_name)(cs_math *mb);
    int (*supports)(cs_math *mb, cs_math_op op, cs_fid_method method);
    /* Resamples per boot_eval call this backend prefers. */
    int (*preferred_batch)(cs_math *mb);
    /* How many host threads may call the REF, PAIR and LOWRANK ops at once (cs_fid_many spreads
     * its sets over them): the CPU its thread count, a GPU 1 (its stream is not thread-safe). */
    int (*concurrency)(cs_math *mb);

    /* x (n, s->d) float32 */
    cs_status (*stats_add)(cs_math *mb, cs_stats *s, const float *x, int64_t n);

    cs_status (*ref_init)(cs_math *mb, const cs_stats *ref, cs_fid_method method, cs_math_ref **out);
    void (*ref_free)(cs_math *mb, cs_math_ref *r);
    /* x: (s->n, s->d) float32 rows of s, or NULL */
    cs_status (*ref_compare)(cs_math *mb, cs_math_ref *r, const cs_stats *s, const float *x,
                             cs_fid_result *res);
    /* x (n, d) float32; id may be NULL */
    cs_status (*ref_compare_features)(cs_math *mb, cs_math_ref *r, const float *x, int64_t n, int d,
                                      const cs_extractor_id *id, cs_fid_result *res);
    /* x1 (s1->n, d), x2 (s2->n, d) float32 or NULL */
    cs_status (*pair)(cs_math *mb, const cs_stats *s1, const float *x1, const cs_stats *s2,
                      const float *x2, cs_fid_method method, cs_fid_result *res);
    /* x1 (n1, d), x2 (n2, d) float32 */
    cs_status (*lowrank)(cs_math *mb, const float *x1, int64_t n1, const float *x2, int64_t n2, int d,
                         cs_fid_result *res);

    /* x1 (n1, d), x2 (n2, d) float32, n1 + n2 <= CS_FID_BOOT_MAX_ROWS; the rows are copied or
     * reduced to a Gram matrix: they need not outlive the call. */
    cs_status (*boot_init)(cs_math *mb, const float *x1, int64_t n1, const float *x2, int64_t n2,
                           int d, cs_math_boot **out);
    void (*boot_free)(cs_math *mb, cs_math_boot *b);
    /* R resamples: resample k is idx1[k m1 .. k m1 + m1) (indices into x1, repeats allowed) and
     * idx2[k m2 ..) (into x2); fid (R) float64 gets each resample's FID, NaN where its evaluation
     * failed numerically (the caller excludes it). Any other failure (memory, device) is returned. */
    cs_status (*boot_eval)(cs_math *mb, cs_math_boot *b, int R, const int64_t *idx1, int64_t m1,
                           const int64_t *idx2, int64_t m2, double *fid);

    /* x (n1, d), y (n2, d) float32; per_subset (opts->n_subsets) or NULL */
    cs_status (*kid)(cs_math *mb, const float *x, int64_t n1, const float *y, int64_t n2, int d,
                     const cs_kid_opts *opts, cs_kid_result *res, double *per_subset);
    /* a[i], b[i] of the same size; ssim, rgb_ssim (npairs) float64, either may be NULL */
    cs_status (*ssim_pairs)(cs_math *mb, const cs_image *a, const cs_image *b, size_t npairs,
                            double *ssim, double *rgb_ssim);
    /* want (CS_METRIC_N_PIXEL) or NULL; out (ngen, nref, 3) float64: cosine, hist, dhash (NaN
     * where not wanted) */
    cs_status (*desc_pairs)(cs_math *mb, const cs_metric_desc *dref, size_t nref,
                            const cs_metric_desc *dgen, size_t ngen, const int *want, double *out);
} cs_math_i;

struct cs_math {
    const cs_math_i *iface;
    void *ctx;
};

/* The CPU backend; threads <= 0: all cores (boot_eval's team). Fails only without memory. */
cs_status cs_math_cpu_create(int threads, cs_math **out);
/* The CUDA backend on GPU `device` (0-based): CS_E_UNSUPPORTED with the reason when this build,
 * module or machine has no GPU math; the open's error otherwise. */
cs_status cs_math_cuda_create(int device, cs_math **out);
void cs_math_free(cs_math *mb); /* NULL is fine */

/* CS_E_UNSUPPORTED naming the backend and op, for an op a backend lacks. */
cs_status cs_math_unsupported(cs_math *mb, const char *op);

#ifdef __cplusplus
}
#endif
#endif
