/* GPU statistics, Fréchet distances and similarity metrics (internal; declared and defined in
 * every build: see below).
 *
 * Each routine here is the GPU twin of a CPU routine and is defined to give the same numbers to
 * rounding (the CPU code is the oracle; tests/test_gpu_stats*.c compare the two):
 *
 *   cs_gpu_stats_add_f32          cs_stats_add_f32        (stats.c)     float64 mean + co-moment
 *   cs_gpu_fid_ref_*              cs_fid_ref_* "eig-ref"  (frechet.c)   one syevd per set
 *   cs_gpu_fid_lowrank            cs_fid_lowrank          (frechet.c)   ||C1 C2^T||_*
 *   cs_gpu_fid_boot_*             cs_fid_boot_*           (frechet.c)   many resamples per call
 *   cs_gpu_kid_compute            cs_kid_compute          (metrics_kid.c) same subsets (same RNG)
 *   cs_gpu_ssim_pairs             cs_ssim_same_size / cs_rgb_ssim_same_size (metrics_pixel.c)
 *   cs_gpu_metric_desc_pairs      cs_metric_cosine / _hist / _dhash over all pairs
 *
 * The definitions live in kernels/cuda_stats.cu (context + statistics), kernels/cuda_fid.cu and
 * kernels/cuda_metrics.cu, compiled only when nvcc is present, into the CUDA module
 * libcopyscope_cuda.so (host/net/cuda_api.h). In every build the library defines functions of these
 * names that forward to the module, loaded at run time (host/net/cuda_module.c), or return
 * CS_E_UNSUPPORTED with the reason when there is none; callers need no #ifdef:
 *
 *   if (!cs_gpu_math_available()) -> CS_E_UNSUPPORTED (no CUDA build, module or GPU node)
 *
 * A cs_gpu is one device with one CUDA stream, one cuBLAS and one cuSOLVER handle bound to it:
 * NOT thread-safe (one host thread per cs_gpu; open one per GPU/thread). Objects made from a
 * cs_gpu (cs_gpu_fid_ref, cs_gpu_fid_boot) keep a pointer to it and must be freed before it.
 * Failures of CUDA, cuBLAS or cuSOLVER calls return CS_E_DEVICE with a message naming the device,
 * the operation, the failing call and its source line; results are never silently replaced by
 * CPU numbers.
 *
 * Callers outside host/fid use these routines through the CUDA math backend (fid/math_backend.h,
 * fid/math_cuda.c) and the FID routes of fid/fid_many.h, not directly. */
#ifndef CS_GPU_MATH_H
#define CS_GPU_MATH_H

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


typedef struct cs_gpu cs_gpu;

/* ---- device context ----------------------------------------------------------------------- */

/* Open device `device` (0-based): stream + cuBLAS + cuSOLVER handles. */
cs_status cs_gpu_open(int device, cs_gpu **out);
void cs_gpu_close(cs_gpu *g); /* NULL is fine */
/* "cuda:0 (NVIDIA H100 80GB HBM3)" */
const char *cs_gpu_name(const cs_gpu *g);

/* Device buffers for callers that keep data on the GPU (e.g. features for
 * cs_gpu_stats_add_f32_device): a copy of `bytes` of host memory on g's device, and its release
 * (NULL is fine). */
cs_status cs_gpu_buffer_upload(cs_gpu *g, const void *host, size_t bytes, void **dev);
void cs_gpu_buffer_free(cs_gpu *g, void *dev);

/* 1 when the GPU math routines can run here: a CUDA build whose module loaded (they may still
 * fail: no free device). host/net/cuda_module.c. */
int cs_gpu_math_available(void);

/* The GPU that runs a command's math for its --device (host/net/gpu_select.c, every build): the
 * first device of the --device list as the feature pipeline resolves it (scheduler.h): *gpu = -1
 * for the CPU ("cpu", or "auto" without a GPU), else its CUDA ordinal; the list's errors otherwise
 * (CS_E_USAGE for bad syntax or an absent GPU number, CS_E_UNSUPPORTED when cuda is asked for and
 * this build or machine has none). */
cs_status cs_gpu_math_select(const char *device, int *gpu);

/* ---- statistics (stats.h) ------------------------------------------------------------------
 * Add n rows of x (n, d = s->d) float32 row-major to s, exactly as cs_stats_add_f32 would: the
 * rows are converted to float64 on the device, each chunk is centred by its own mean, its
 * co-moment accumulated with cublasDsyrk and merged with Chan's formula; the rows of this call
 * form one shard that is then merged into s on the host with cs_stats_merge (so s may already
 * hold rows from anywhere). NaN/inf: CS_E_NUMERIC naming the first bad row and column, s
 * unchanged. x_host is host memory; x_dev (the _device variant) device memory of g's device. */
cs_status cs_gpu_stats_add_f32(cs_gpu *g, cs_stats *s, const float *x_host, int64_t n);
cs_status cs_gpu_stats_add_f32_device(cs_gpu *g, cs_stats *s, const float *x_dev,
                                                  int64_t n);
/* One-call form: open `device`, add n rows of feat_host (n, d) to out (cs_stats_init'ed with
 * dimension d, possibly holding rows already), close. */
cs_status cs_gpu_stats_from_features(int device, const float *feat_host, size_t n, int d,
                                                 cs_stats *out);

/* ---- FID against one reference (frechet.h, method "eig-ref") --------------------------------
 * init: the reference covariance's eigendecomposition once (cuSOLVER Dsyevd, vectors), kept on
 * the device as the factor F = V_r diag(sqrt(l_r)) (d, r) (r = numerical rank, as the CPU's
 * cs_eig_rank). compare: per set, M = F^T S F (cublasDsymm + Dgemm, r x r), its eigenvalues only
 * (Dsyevd, jobz = N), tr((S_ref S)^(1/2)) = sum sqrt(top min(n - 1, r) eigenvalues) with the
 * CPU's rounding bound; when that bound exceeds 1e-11 of the scale, S is factored too and the
 * singular values of F^T F_S are used ("eig-svd"), exactly as cs_fid_ref_compare decides.
 * Results (method names, warnings, clamp around 0) are those of the CPU with CS_FID_EIG_REF. */
typedef struct cs_gpu_fid_ref cs_gpu_fid_ref;

cs_status cs_gpu_fid_ref_init(cs_gpu *g, const cs_stats *ref, cs_gpu_fid_ref **out);
void cs_gpu_fid_ref_free(cs_gpu_fid_ref *r); /* NULL is fine */
int cs_gpu_fid_ref_rank(const cs_gpu_fid_ref *r);
cs_status cs_gpu_fid_ref_compare(cs_gpu_fid_ref *r, const cs_stats *s,
                                             cs_fid_result *res);
/* From the rows x_host (n, d) float32 of set 2 (id may be NULL): when n - 1 < rank, the exact
 * one-sided low-rank form ||C F||_* / sqrt(n - 1) ("lowrank-ref", as
 * cs_fid_ref_compare_features); else the statistics are accumulated on the GPU and compared. */
cs_status cs_gpu_fid_ref_compare_features(cs_gpu_fid_ref *r, const float *x_host,
                                                      int64_t n, int d, const cs_extractor_id *id,
                                                      cs_fid_result *res);

/* Low-rank exact FID from rows x1 (n1, d), x2 (n2, d) float32 host (cs_fid_lowrank). */
cs_status cs_gpu_fid_lowrank(cs_gpu *g, const float *x1, int64_t n1, const float *x2,
                                         int64_t n2, int d, cs_fid_result *res);

/* The FID of two sets like cs_fid_compute(s1, x1, s2, x2, CS_FID_AUTO) but on the GPU: lowrank
 * when both row blocks are given and n1 + n2 <= d, else a reference from s1 and one compare
 * (lowrank-ref when x2 is given and s2 has fewer rows than the reference's rank). */
cs_status cs_gpu_fid_compute(cs_gpu *g, const cs_stats *s1, const float *x1,
                                         const cs_stats *s2, const float *x2, cs_fid_result *res);

/* ---- resampled low-rank FIDs (cs_fid_boot) ---------------------------------------------------
 * init: the pooled-centred Gram matrix G = Z Z^T (nt, nt) float64 (nt = n1 + n2 <=
 * CS_FID_BOOT_MAX_ROWS) computed and kept on the device. eval_batch: R resamples at once, resample
 * k given by idx1[k * m1 .. k * m1 + m1) (indices into x1, repeats allowed) and
 * idx2[k * m2 ..) (into x2); res (R). Each result is cs_fid_boot_eval's (same distinct-row
 * reduction, double centring, sqrt(count) weights, same traces and mean term), the singular values
 * from cusolverDnDgesvdjBatched when both distinct-row counts are <= 32, else from
 * cusolverDnDgesvd per resample over several streams. The first failing resample's status is
 * returned (all results before it are valid). */
typedef struct cs_gpu_fid_boot cs_gpu_fid_boot;

cs_status cs_gpu_fid_boot_init(cs_gpu *g, const float *x1, int64_t n1, const float *x2,
                                           int64_t n2, int d, cs_gpu_fid_boot **out);
void cs_gpu_fid_boot_free(cs_gpu_fid_boot *b); /* NULL is fine */
cs_status cs_gpu_fid_boot_eval_batch(cs_gpu_fid_boot *b, int R, const int64_t *idx1,
                                                 int64_t m1, const int64_t *idx2, int64_t m2,
                                                 cs_fid_result *res);

/* ---- KID (metrics.h) ------------------------------------------------------------------------
 * cs_kid_compute on the GPU: the same subsets (cs_kid_subset, same seed), the same kernel
 * (x.y / d + 1)^3 in float64 from a cuBLAS Dsyrk/Dgemm Gram matrix (the full (n1 + n2)^2 one when
 * n1 + n2 <= opts->max_gram_rows, else per subset), the same unbiased MMD^2, mean and std. */
cs_status cs_gpu_kid_compute(cs_gpu *g, const float *x, int64_t n1, const float *y,
                                         int64_t n2, int d, const cs_kid_opts *opts,
                                         cs_kid_result *res, double *per_subset);

/* ---- pixel metrics (metrics.h) --------------------------------------------------------------
 * SSIM and RGB-SSIM of npairs pairs (a[i], b[i]) of images OF THE SAME SIZE (sides >= 7 for
 * ssim), as cs_ssim_same_size / cs_rgb_ssim_same_size: exact integer window sums, the same
 * float64 formula per window (no FMA contraction), rgb-ssim's sums exact in int64. ssim and/or
 * rgb_ssim (npairs) may be NULL. Resize first (cs_image_resize, LANCZOS) as cs_metric_pair does. */
cs_status cs_gpu_ssim_pairs(cs_gpu *g, const cs_image *a, const cs_image *b,
                                        size_t npairs, double *ssim, double *rgb_ssim);

/* cosine, hist and dhash of every (generated, reference) pair from descriptors computed on the
 * host (cs_metric_desc_compute). want: (CS_METRIC_N_PIXEL) flags, only COSINE/HIST/DHASH are
 * read (NULL: all three). out: (ngen, nref, 3) float64, [..][..][0] cosine, [1] hist, [2] dhash
 * (NaN where not wanted). hist and dhash are bit-identical to the CPU; cosine agrees to ~1e-15. */
cs_status cs_gpu_metric_desc_pairs(cs_gpu *g, const cs_metric_desc *dref, size_t nref,
                                               const cs_metric_desc *dgen, size_t ngen,
                                               const int *want, double *out);

#ifdef __cplusplus
}
#endif
#endif
