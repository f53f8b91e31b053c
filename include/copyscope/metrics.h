/* copyscope: the CopyScope paper's image-similarity metrics, done right, and KID.
 *
 * Pixel metrics compare one generated image with one reference image (8-bit RGB as decoded by
 * cs_image_load). Every one is a similarity: larger = closer to the reference.
 *
 *  cosine    both images resized to 64x64 with PIL's LANCZOS (bit-exact, see cs_image_resize),
 *            pixel = mean of its 3 channels (float64), cosine of the two 4096-vectors. [0, 1].
 *  hist      per-channel 256-bin histograms, Pearson correlation as OpenCV's compareHist with
 *            HISTCMP_CORREL (a constant histogram pair gives 1, as OpenCV), mean over the 3 channels.
 *            Image sizes may differ (the correlation ignores the scale of a histogram). [-1, 1].
 *  dhash     as the paper's code: 9x8 resize with PIL's default filter (BICUBIC, antialiased),
 *            then PIL 'L' conversion (L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16), bit = left
 *            pixel > right pixel (64 bits), similarity 1 - Hamming / 64. [0, 1].
 *  ssim      Wang et al. with a 7x7 uniform window, K1 = 0.01, K2 = 0.03, data range 255, sample
 *            covariance (x 49/48), per channel then mean, averaged over the windows that lie inside
 *            the image (skimage.metrics.structural_similarity(..., win_size=7, channel_axis=2,
 *            data_range=255) crops (7-1)//2 = 3 pixels from each border before its mean). A
 *            generated image of another size is RESIZED to the reference size with PIL LANCZOS.
 *            Both images need sides >= 7. [-1, 1].
 *  rgb-ssim  one global SSIM over all pixels and channels (a single window = the whole image, as
 *            one sample of 3 H W values): C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2,
 *            ((2 mx my + C1)(2 cxy + C2)) / ((mx^2 + my^2 + C1)(vx + vy + C2)) with sample
 *            (N - 1) variances and covariance, sums exact in int64. Resizes as ssim. [-1, 1].
 *  fusion    mean of the five pixel similarities min-max normalised by their THEORETICAL ranges
 *            above ((s - lo) / (hi - lo) in [0, 1]); defined for every single pair (the paper's
 *            "fusion", a mean of PCA-centred scores, is 0 by construction). [0, 1].
 *
 * Set-level metrics on Inception features (n, d) float32 (cs_features_extract):
 *  kid       unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
 *            random subsets of size m = min(subset_size, n1, n2) drawn without replacement from
 *            each set (clean-fid / torch-fidelity: 100 subsets of at most 1000); mean and standard
 *            deviation (ddof 0, as torch-fidelity) over the subsets. A DISTANCE: the utility is -kid.
 *            The subsets come from copyscope's own sampler, or with CS_KID_SAMPLER_NUMPY from
 *            torch-fidelity's (numpy RandomState(2020)), which gives torch-fidelity's subsets.
 *  fid       cs_fid_compute (frechet.h). A DISTANCE: the utility is -fid.
 *  isc       Inception Score of one set, as torch-fidelity computes it (cs_isc_compute below).
 *  cmmd      google-research's CMMD (Gaussian RBF MMD, sigma 10, x 1000) on L2-normalised rows:
 *            copyscope/cmmd.h. A DISTANCE: the utility is -cmmd.
 */
#ifndef COPYSCOPE_METRICS_H
#define COPYSCOPE_METRICS_H

#include "copyscope/image.h"
#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_metric {
    CS_METRIC_COSINE = 0,
    CS_METRIC_HIST,
    CS_METRIC_DHASH,
    CS_METRIC_SSIM,
    CS_METRIC_RGB_SSIM,
    CS_METRIC_FUSION, /* pixel metrics above */
    CS_METRIC_KID,
    CS_METRIC_FID, /* set-level (features) */
    CS_METRIC_CMMD, /* set-level (features), copyscope/cmmd.h */
    CS_METRIC_NN_SIM,    /* nearest-reference similarity (nearest.h): audit utilities only */
    CS_METRIC_COPY_RATE,
    CS_METRIC_COUNT
} cs_metric;

#define CS_METRIC_N_PIXEL 6 /* cosine .. fusion */

/* "cosine", "hist", "dhash", "ssim", "rgb-ssim", "fusion", "kid", "fid", "cmmd", "nn-sim",
 * "copy-rate" <-> cs_metric. */
const char *cs_metric_name(cs_metric m);
cs_status cs_metric_parse(const char *name, cs_metric *out); /* CS_E_USAGE on unknown names */
int cs_metric_name_valid(const char *name, cs_metric *out);  /* 1 and *out, or 0 (no error set) */
int cs_metric_is_pixel(cs_metric m);      /* 1 for cosine .. fusion */
int cs_metric_is_distance(cs_metric m);   /* 1 for kid, fid and cmmd (utility = -value) */
int cs_metric_is_nearest(cs_metric m);    /* 1 for nn-sim and copy-rate (nearest.h) */
/* The theoretical range of a pixel similarity (fusion's normalisation). */
void cs_metric_range(cs_metric m, double *lo, double *hi);

/* ---- resampling, exactly as PIL 9.4 (Image.resize -> ImagingResample, 8 bits per channel) ---- */
typedef enum cs_resample {
    CS_RESAMPLE_BILINEAR = 2, /* PIL's numbering: Image.BILINEAR, BICUBIC, LANCZOS */
    CS_RESAMPLE_BICUBIC = 3,
    CS_RESAMPLE_LANCZOS = 1
} cs_resample;

/* Resize an RGB image to (w, h) as PIL's im.resize((w, h), filter) does for mode RGB: separable
 * filters with support scaled by the downscale factor (antialiasing), float64 coefficients
 * normalised per output pixel, then 22-bit fixed point with PIL's rounding, horizontal pass first,
 * each pass rounded and clipped to uint8. Bit-identical to PIL (tests/metrics_ref.py). Same size:
 * a copy. out is a new image (free with cs_image_free). */
cs_status cs_image_resize(const cs_image *in, int w, int h, cs_resample filter, cs_image *out);
/* PIL's precompute_coeffs for one axis of a resize from in_size to out_size (box 0..in_size):
 * bounds (out_size, 2) = (first input index, count), kk (out_size, ksize) float64 normalised to
 * sum 1 per output pixel, as PIL's 32-bit-per-channel ('F', 'I') resampling uses them (the 8-bit
 * path of cs_image_resize turns them into fixed point). Returns ksize; 0 when out of memory (then
 * nothing is allocated). Free both with free(). */
int cs_resample_coeffs(int in_size, int out_size, cs_resample filter, int **bounds, double **kk);

/* The same on a single-channel (h, w) uint8 plane (PIL mode "L"). out: (oh, ow) uint8. */
cs_status cs_plane_resize(const uint8_t *in, int w, int h, int ow, int oh, cs_resample filter,
                          uint8_t *out);

/* PIL 9.4 convert("L") of an RGB image: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
 * gray: (h, w) uint8. */
void cs_image_to_gray(const cs_image *in, uint8_t *gray);

/* ---- per-image descriptors (computed once per image, compared per pair) ---- */
typedef struct cs_metric_desc {
    double cos_vec[64 * 64];  /* (64, 64) float64 channel means of the 64x64 LANCZOS resize */
    double cos_norm;          /* its Euclidean norm */
    int32_t hist[3][256];     /* (3, 256) per-channel counts */
    uint64_t dhash;           /* bit 8*r + c: row r, left pixel c > right pixel c + 1 */
} cs_metric_desc;

cs_status cs_metric_desc_compute(const cs_image *img, cs_metric_desc *out);

/* Pair similarities from descriptors. */
double cs_metric_cosine(const cs_metric_desc *ref, const cs_metric_desc *gen);
double cs_metric_hist(const cs_metric_desc *ref, const cs_metric_desc *gen);
double cs_metric_dhash(const cs_metric_desc *ref, const cs_metric_desc *gen);
/* compareHist(h1, h2, HISTCMP_CORREL) of two 256-bin histograms (OpenCV's formula). */
double cs_hist_correl(const int32_t *h1, const int32_t *h2, int bins);

/* SSIM and RGB-SSIM of two images OF THE SAME SIZE (sides >= 7 for ssim). */
cs_status cs_ssim_same_size(const cs_image *ref, const cs_image *gen, double *ssim);
cs_status cs_rgb_ssim_same_size(const cs_image *ref, const cs_image *gen, double *rgb_ssim);
/* RGB-SSIM from the exact integer sums over the n = 3 H W values: sx, sy, sxx, syy, sxy. */
double cs_rgb_ssim_from_sums(int64_t n, int64_t sx, int64_t sy, int64_t sxx, int64_t syy, int64_t sxy);

/* All pixel metrics of one pair; gen is LANCZOS-resized to ref's size for ssim/rgb-ssim when the
 * sizes differ. Descriptors may be NULL (computed here). out: (CS_METRIC_N_PIXEL) indexed by
 * cs_metric, fusion included. want[m] == 0 skips metric m (its out[m] is NaN; fusion needs all). */
cs_status cs_metric_pair(const cs_image *ref, const cs_metric_desc *dref, const cs_image *gen,
                         const cs_metric_desc *dgen, const int *want, double *out);

/* ---- set scores: every generated image against every reference image ---- */
typedef struct cs_metric_score {
    double mean, min, max; /* over all nref * ngen pairs */
    size_t n_pairs;
} cs_metric_score;

/* One pixel metric as a utility for the audit (larger = closer). pool may be NULL (inline).
 * per_gen: optional (ngen) float64, each generated image's mean over the references. */
typedef struct cs_threadpool cs_threadpool;
cs_status cs_metric_set_score(cs_metric m, const cs_image *ref, size_t nref, const cs_image *gen,
                              size_t ngen, cs_threadpool *pool, cs_metric_score *out,
                              double *per_gen);

/* Several pixel metrics at once (descriptors and resizes shared). want: (CS_METRIC_N_PIXEL) flags;
 * out: (CS_METRIC_N_PIXEL) scores; per_gen: optional (ngen, CS_METRIC_N_PIXEL) float64. */
cs_status cs_metric_set_scores(const int *want, const cs_image *ref, size_t nref,
                               const cs_image *gen, size_t ngen, cs_threadpool *pool,
                               cs_metric_score *out, double *per_gen);

/* The same, also returning every pair's similarities: per_pair (ngen, nref, CS_METRIC_N_PIXEL)
 * float64 (generated image g against reference r at [(g * nref + r) * CS_METRIC_N_PIXEL + m]),
 * NaN for unwanted metrics. per_gen and per_pair may be NULL. */
cs_status cs_metric_set_pairs(const int *want, const cs_image *ref, size_t nref,
                              const cs_image *gen, size_t ngen, cs_threadpool *pool,
                              cs_metric_score *out, double *per_gen, double *per_pair);

/* ---- KID ---- */
/* Subset samplers of KID. */
typedef enum cs_kid_sampler {
    CS_KID_SAMPLER_COPYSCOPE = 0, /* cs_kid_subset: splitmix64 per (seed, subset, set) */
    CS_KID_SAMPLER_NUMPY = 1      /* torch-fidelity's: one numpy RandomState(seed) stream, per
                                   * subset choice(n1, m, replace=False) then choice(n2, m, ...)
                                   * (= permutation(n)[:m]); seed < 2^32 (torch-fidelity: 2020) */
} cs_kid_sampler;

typedef struct cs_kid_opts {
    int n_subsets;        /* default 100 */
    int64_t subset_size;  /* default 1000; the size used is min(subset_size, n1, n2) */
    uint64_t seed;        /* default 0 */
    int64_t max_gram_rows;/* precompute the full (n1 + n2)^2 kernel when n1 + n2 <= this
                             (default 4096); else one Gram product per subset. Same numbers. */
    int sampler;          /* cs_kid_sampler, default CS_KID_SAMPLER_COPYSCOPE */
} cs_kid_opts;

typedef struct cs_kid_result {
    double kid;      /* mean of the subsets' unbiased MMD^2 (a distance; utility = -kid) */
    double kid_std;  /* standard deviation over the subsets (ddof 0) */
    int n_subsets;
    int64_t subset_size;
} cs_kid_result;

void cs_kid_opts_default(cs_kid_opts *o);

/* The subset indices of subset s (0-based) for a set of n rows: m distinct indices in [0, n),
 * drawn without replacement by a partial Fisher-Yates shuffle driven by splitmix64 seeded with
 * (seed, s, which) (which = 0: set 1, 1: set 2). Deterministic on every platform. */
cs_status cs_kid_subset(uint64_t seed, int s, int which, int64_t n, int64_t m, int64_t *idx);

/* Unbiased MMD^2 of rows ix (m) of x (n1, d) and iy (m) of y (n2, d), float32 rows, in float64:
 *   [sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2 */
cs_status cs_kid_mmd2(const float *x, const int64_t *ix, const float *y, const int64_t *iy,
                      int64_t m, int d, double *out);

/* KID between x (n1, d) and y (n2, d) (n1, n2 >= 2). per_subset: optional (n_subsets) MMD^2s. */
cs_status cs_kid_compute(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                         const cs_kid_opts *opts, cs_kid_result *res, double *per_subset);

/* The (n1 + n2)^2 inner-product matrix of [x; y] in float64 (malloc'd, free()). */
cs_status cs_kid_gram_build(const float *x, int64_t n1, const float *y, int64_t n2, int d,
                            double **gram);

/* KID from a precomputed inner-product matrix: gram (nt, nt) float64, full (both triangles), of
 * the rows [x; y] (x = rows 0..n1-1, y = rows n1..nt-1). The two sets are index lists ix (m1
 * entries in [0, n1)) and iy (m2 entries in [0, nt - n1)) that may repeat rows (a bootstrap
 * resample); subsets are drawn from the list positions exactly as cs_kid_compute draws them from
 * rows, so identity lists give cs_kid_compute's numbers bit for bit. per_subset as there. */
cs_status cs_kid_gram(const double *gram, int64_t nt, int64_t n1, const int64_t *ix, int64_t m1,
                      const int64_t *iy, int64_t m2, int d, const cs_kid_opts *opts,
                      cs_kid_result *res, double *per_subset);

/* ---- Inception Score (torch-fidelity 0.4.0's isc_features_to_metric) ----
 * logits = the pool3 features times the fc weight without its bias ('logits_unbiased'); rows
 * shuffled by numpy's RandomState(seed).permutation(n) (np_random.h) when shuffle is set; in
 * float64: p = softmax, log p = log_softmax; split k of `splits` = rows [k n / splits,
 * (k + 1) n / splits); score_k = exp(mean over its rows of sum_c p (log p - log q)), q = the split's
 * mean of p; isc = mean of the scores, isc_std = their population standard deviation. */
typedef struct cs_isc_opts {
    int splits;    /* default 10 */
    int shuffle;   /* default 1 */
    uint32_t seed; /* default 2020 */
} cs_isc_opts;

typedef struct cs_isc_result {
    double isc, isc_std;
    int splits;
    int64_t n;
} cs_isc_result;

void cs_isc_opts_default(cs_isc_opts *o);

/* logits (n, classes) float64 = feat (n, d) float32 times fc_weight (classes, d) float32
 * transposed, each dot product summed in float64. */
cs_status cs_isc_logits(const float *feat, int64_t n, int d, const float *fc_weight, int classes,
                        double *logits);

/* The Inception Score of logits (n, classes) float64 (n >= splits >= 1). per_split: optional
 * (splits) scores. */
cs_status cs_isc_compute(const double *logits, int64_t n, int classes, const cs_isc_opts *opts,
                         cs_isc_result *res, double *per_split);

/* The Inception Score of pool3 features feat (n, 2048) float32 with the fc weight of the weights
 * file (weights_path NULL: discovery, cs_weights_find). d != 2048: CS_E_USAGE. */
cs_status cs_isc_from_features(const float *feat, int64_t n, int d, const char *weights_path,
                               const cs_isc_opts *opts, cs_isc_result *res);

#ifdef __cplusplus
}
#endif
#endif
