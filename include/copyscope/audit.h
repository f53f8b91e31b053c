/* copyscope: a whole attribution audit, from image sets to a report.
 *
 *   manifest (JSON, or a directory tree)  ->  cs_audit_manifest   (validated, paths expanded)
 *   cs_audit_run                          ->  features per set (feature cache), FID of every
 *                                             set vs the reference, utilities, estimators,
 *                                             optional bootstrap                -> cs_audit
 *   cs_audit_write_reports                ->  report.json, values.csv, coalitions.csv, interactions.csv, report.html
 *
 * The manifest format is documented in docs/audit.md. Sign convention (shapley.h): a positive
 * value means the player pushes the generated images TOWARD the reference.
 *
 * Bootstrap (cs_audit_options.bootstrap = B > 0): replicate r draws, from its own random stream
 * splitmix64(seed, r), one resample with replacement of the reference rows (shared by all sets)
 * and then one resample of each set's rows, in manifest order; recomputes every FID exactly with
 * the low-rank Gram method (cs_fid_boot, frechet.h), every utility and every estimator. The result
 * depends only on (seed, B, the features), never on the number of threads. Intervals: every method
 * of intervals.h (default: debiased, the percentile interval moved by twice the bootstrap's bias
 * estimate; issue 22); standard errors are the replicates' standard deviation (ddof 1).
 *
 * Ownership: a cs_audit_manifest owns all its strings and path lists; a cs_audit owns its arrays
 * and the manifest copy it points to is NOT owned (keep the manifest alive while using the
 * audit). Every *_free accepts NULL. Errors: cs_status + a one-line message (cs_last_error()). */
#ifndef COPYSCOPE_AUDIT_H
#define COPYSCOPE_AUDIT_H

#include "copyscope/cmmd.h"
#include "copyscope/features.h"
#include "copyscope/intervals.h"
#include "copyscope/metrics.h"
#include "copyscope/nearest.h"
#include "copyscope/shapley.h"
#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_AUDIT_MAX_SETS 4096       /* coalitions in one audit */
#define CS_AUDIT_MAX_BOOTSTRAP 100000 /* replicates */
#define CS_AUDIT_MAX_MANIFEST (64u << 20) /* bytes */

/* ---- manifest ------------------------------------------------------------------------------ */

typedef enum cs_audit_source {
    CS_AUDIT_IMAGES = 0, /* image files (from directories and/or file lists) */
    CS_AUDIT_FEATURES,   /* one copyscope features .h5 (rows available) */
    CS_AUDIT_STATS       /* reference only: statistics (.npz or stats .h5), no rows */
} cs_audit_source;

typedef struct cs_audit_set_spec {
    uint64_t mask;         /* coalition bitmask over the manifest's players */
    char *label;           /* "<baseline>+<players in player order>" */
    cs_audit_source source;
    cs_pathlist files;     /* IMAGES: the expanded image files; else one path */
    int64_t n;             /* images / rows (known after validation) */
} cs_audit_set_spec;

typedef struct cs_audit_manifest {
    char *path;            /* manifest file, or "<generated root>" for the directory form */
    char *name;            /* audit name ("" if none) */
    char *baseline;        /* baseline pipeline name */
    int n_players;
    char **players;        /* (n_players) in manifest order (bit i = players[i]) */
    cs_audit_set_spec reference; /* mask unused */
    size_t n_sets;
    cs_audit_set_spec *sets; /* (n_sets), manifest order; exactly one has mask 0 */
    /* optional "options" object: 0 / NULL when absent (the CLI's flags take precedence) */
    int dims;
    char *model;           /* feature space ("dinov2-vitl14", ...; NULL: the CLI's, else Inception) */
    char *estimator;
    int bootstrap;
    int has_seed;
    uint64_t seed;
    char *utility;
    int has_protocol;      /* "protocol": pytorch-fid | clean-fid | torch-fidelity (or an alias) */
    int protocol;          /* cs_protocol */
} cs_audit_manifest;

/* Read and validate a JSON manifest; relative paths are relative to its directory. Every
 * problem is CS_E_FORMAT/CS_E_NOTFOUND/CS_E_USAGE with "MANIFEST: problem" (bad JSON with its
 * line and column, unknown player in a set, duplicate coalition, no baseline set, empty set,
 * a set of one image, missing reference, ...). */
cs_status cs_audit_manifest_read(const char *path, cs_audit_manifest **out);
/* Same from memory: name is used in messages, base_dir resolves relative paths. */
cs_status cs_audit_manifest_parse(const char *name, const char *base_dir, const char *text,
                                  size_t len, cs_audit_manifest **out);
/* Directory form: each subdirectory of generated_root is a set named like "SDv1-5+Depth+Davinci";
 * the name `baseline` alone is the empty coalition; players are the union of the other names
 * (first appearance in name order). reference: a directory, an image, or a features/stats file. */
cs_status cs_audit_manifest_from_dirs(const char *reference, const char *generated_root,
                                      const char *baseline, cs_audit_manifest **out);
/* The three with the command line's protocol (cs_protocol; -1: none): it overrides
 * options.protocol in m->protocol and decides how directories are listed, the peer's own rule
 * (cs_protocol_listing in protocol.h); without it the manifest's options.protocol decides. */
cs_status cs_audit_manifest_read_protocol(const char *path, int protocol, cs_audit_manifest **out);
cs_status cs_audit_manifest_parse_protocol(const char *name, const char *base_dir, const char *text, size_t len,
                                           int protocol, cs_audit_manifest **out);
cs_status cs_audit_manifest_from_dirs_protocol(const char *reference, const char *generated_root,
                                               const char *baseline, int protocol, cs_audit_manifest **out);
void cs_audit_manifest_free(cs_audit_manifest *m);

/* ---- audit --------------------------------------------------------------------------------- */

typedef struct cs_audit_options {
    cs_features_opts features; /* weights, device, dims, cache, threads for extraction */
    /* The utility (shapley.h): fid-gain by default. Its metric decides what is measured:
     *   fid        Inception features -> FID of every set vs the reference (as always);
     *   kid        Inception features -> KID (metrics.h, options in `kid`) and FID;
     *   cmmd       features -> CMMD (cmmd.h, options in `cmmd`) and FID;
     *   cosine, hist, dhash, ssim, rgb-ssim, fusion
     *              decoded images only (no network): the set score is the mean similarity over
     *              every (generated, reference) image pair (cs_metric_set_pairs); fid is NaN.
     * kind CS_UTILITY_GAIN or CS_UTILITY_ABS (RAW is refused). */
    cs_utility_spec utility;
    cs_kid_opts kid;           /* KID subsets (defaults: cs_kid_opts_default) */
    cs_cmmd_opts cmmd;         /* CMMD kernel and normalisation (defaults: cs_cmmd_opts_default) */
    int estimator;             /* primary estimator (cs_estimator) or -1 = automatic */
    int bootstrap;             /* replicates (0 = none) */
    uint64_t seed;             /* bootstrap seed */
    int threads;               /* bootstrap threads; 0 = all cores (results do not depend on it) */
    cs_interval_method interval; /* primary interval method (default CS_INTERVAL_DEFAULT, intervals.h) */
    int fid_inf;               /* utility fid-inf: every FID is FID-infinity (bias.h), bootstrap too */
    int progress;              /* progress lines on stderr */
    /* Optional precomputed rows of every image of the image sets in manifest order, then the
     * reference's images (cs_audit_image_list, shard.h); when set nothing is extracted. Not owned. */
    const cs_features *precomputed;
    /* issue 18/19: nearest-reference similarity (nearest.h) and the report's pictures */
    double copy_threshold;     /* copy-rate and the report's share above it (CS_COPY_THRESHOLD_DEFAULT) */
    int nearest_k;             /* nearest-reference pairs per coalition in the reports (default 3,
                                * 0..CS_AUDIT_MAX_NEAREST; 0 with a FID utility skips the similarities) */
    int thumbnails;            /* thumbnails per set in report.html (default 8, 0..CS_AUDIT_MAX_THUMBNAILS) */
} cs_audit_options;

void cs_audit_options_default(cs_audit_options *o);

/* Bootstrap summary of one quantity. */
typedef struct cs_audit_ci {
    double lo, hi; /* 95% interval of the audit's primary interval method (cs_audit.interval) */
    double se;     /* standard deviation of the replicates (ddof 1) */
    double mean;   /* mean of the replicates: mean - point estimate is the bootstrap's estimate of
                    * the estimator's bias (FID's small-sample bias grows when resampling with
                    * replacement repeats rows, so it can exceed se: then the interval may not
                    * contain the point estimate; report.html says so) */
    double debiased; /* bootstrap bias-corrected estimate: point - (mean - point) */
    double lo_m[CS_INTERVAL_N], hi_m[CS_INTERVAL_N]; /* every method's 95% interval (intervals.h) */
} cs_audit_ci;

typedef struct cs_audit_coalition {
    uint64_t mask;
    const char *label;   /* points into the manifest */
    int64_t n;           /* images */
    double fid;          /* FID vs the reference (NaN for pixel-metric utilities; FID-infinity
                          * with fid_inf) */
    double fid_plain;    /* the plain FID of the samples (= fid unless fid_inf) */
    double score;        /* the utility's metric: fid, kid, or the mean pair similarity */
    double score_min, score_max; /* pixel metrics: over the pairs (else NaN) */
    double score_std;    /* kid: standard deviation over its subsets (else NaN) */
    double utility;
    const char *method;  /* FID method used for the point estimate (static string) */
    cs_audit_ci fid_ci, utility_ci; /* valid when bootstrap > 0 (fid_ci: fid utilities only) */
    cs_audit_ci score_ci;           /* valid when bootstrap > 0 */
} cs_audit_coalition;

#define CS_AUDIT_MAX_NEAREST 16
#define CS_AUDIT_MAX_THUMBNAILS 64

/* One coalition's nearest-reference similarities (nearest.h): over all its generated images, and
 * its k generated images closest to any reference image (decreasing similarity, ties by index). */
typedef struct cs_audit_nearest {
    double nn_sim;     /* mean nearest-reference similarity */
    double copy_rate;  /* share of images whose similarity exceeds the audit's copy_threshold */
    int k;
    int64_t gen[CS_AUDIT_MAX_NEAREST], ref[CS_AUDIT_MAX_NEAREST]; /* image indices in set / reference */
    double sim[CS_AUDIT_MAX_NEAREST];
} cs_audit_nearest;

typedef struct cs_audit_estimate {
    cs_attribution a;  /* the point estimate */
    cs_audit_ci *ci;   /* (n_players) when bootstrap > 0, else NULL */
} cs_audit_estimate;

typedef struct cs_audit {
    const cs_audit_manifest *m; /* not owned */
    int dims;
    int model;                  /* cs_model_kind of the features (0: Inception) */
    int64_t n_reference;
    char weights_sha256[65];    /* of the extractor ("" if unknown) */
    int comparable_to_published; /* weights are the official pytorch-fid file */
    const char *fid_method;     /* summary of the methods used ("lowrank", "chol", ...) */
    char math_device[128];      /* where the FID math ran: "cpu" or "cuda:0 (NVIDIA ...)" */
    cs_utility_spec utility;
    cs_metric metric;           /* the utility's metric */
    size_t n_coalitions;
    cs_audit_coalition *coalitions; /* (n_coalitions), manifest order */
    uint64_t *missing;              /* (n_missing) coalitions absent from the full table */
    size_t n_missing;               /* capped at 2^20 listed; count in n_missing_total */
    uint64_t n_missing_total;
    size_t n_estimates;
    cs_audit_estimate *estimates;   /* (n_estimates); estimates[primary] is the primary one */
    size_t primary;
    int bootstrap;
    uint64_t seed;
    cs_interval_method interval;    /* primary interval method */
    int fid_inf;                    /* FIDs are FID-infinity estimates (utility fid-inf) */
    int bootstrap_failed;           /* replicates whose evaluation failed (excluded) */
    size_t n_images_from_cache, n_images_computed;
    double seconds_features, seconds_fid, seconds_metric, seconds_bootstrap;
    /* issue 18/19: nearest-reference similarity, image paths for thumbnails, interactions */
    double copy_threshold;
    int thumbnails;                /* thumbnails per set in report.html */
    char similarity[96];           /* what the similarity is ("cosine of the 2048-d features", "ssim"); "" none */
    cs_audit_nearest *nearest;     /* (n_coalitions), or NULL when no similarity was computed */
    cs_pathlist *row_paths;        /* (n_coalitions + 1; [n_coalitions] = reference) image paths of
                                    * features-file sets (from the file's /paths), else empty */
    double *interactions;          /* (n_players, n_players) Grabisch-Roubens indices (interactions.h;
                                    * diagonal = Shapley value), or NULL (missing coalitions) */
    cs_audit_ci *interaction_ci;   /* (n_players, n_players) when bootstrapped (n_players <= 10), else NULL */
    int protocol;                   /* cs_protocol of the features (protocol.h) */
} cs_audit;

/* The path of image i of coalition k (k == n_coalitions: the reference), or NULL when unknown
 * (statistics, or a features file without paths). */
const char *cs_audit_image_path(const cs_audit *a, size_t k, int64_t i);

/* Run the audit. */
cs_status cs_audit_run(const cs_audit_manifest *m, const cs_audit_options *o, cs_audit **out);
void cs_audit_free(cs_audit *a);

/* ---- bootstrap (host/fid/bootstrap.c), exposed for tests ---------------------------------------- */

/* splitmix64 stream for replicate r: state = seed ^ (0x9E3779B97F4A7C15 * (r + 1)), advanced by
 * splitmix64; an index in [0, n) is next() % n (n << 2^64: the modulo bias is below 2^-40). */
typedef struct cs_rng {
    uint64_t s;
} cs_rng;
void cs_rng_init(cs_rng *r, uint64_t seed, uint64_t stream);
uint64_t cs_rng_next(cs_rng *r);
/* Jump over count draws (splitmix64's state advances by a constant per draw). */
void cs_rng_skip(cs_rng *r, uint64_t count);
/* Fill idx[0..m) with indices drawn uniformly from [0, n) with replacement. */
void cs_rng_resample(cs_rng *r, int64_t n, int64_t *idx, int64_t m);

/* Percentile of sorted values (numpy 'linear': position q (n - 1)). */
double cs_percentile_sorted(const double *sorted, size_t n, double q);
/* 95% percentile interval and standard deviation (ddof 1) of x (n), NaN-free; x is reordered. */
void cs_ci_compute(double *x, size_t n, cs_audit_ci *ci);
/* Every interval method (intervals.h) of x (n replicates, NaN-free; reordered) around the point
 * estimate; lo/hi = method's interval. (host/attribution/intervals.c) */
void cs_audit_ci_compute(double *x, size_t n, double point, cs_interval_method method, cs_audit_ci *ci);

/* Bootstrap FIDs: rep_fid (B, n_sets) row-major gets FID(reference resample, set resample) of
 * replicate r for every set; sets[k] = (n_k, d) rows. Deterministic for (seed, B). Sets are
 * processed one at a time (one (n_ref + n_k)^2 Gram matrix in memory), replicates in parallel. */
cs_status cs_bootstrap_fids(const float *ref, int64_t n_ref, const float *const *sets,
                            const int64_t *n_set, size_t n_sets, int d, int B, uint64_t seed,
                            int threads, int progress, double *rep_fid);

/* The same resampling (same streams, same draws) for pixel-metric set scores: pairs[k] is set k's
 * (n_set[k], n_ref) matrix of pair similarities (generated image g against reference image r at
 * [g * n_ref + r]); replicate r's score of set k is the mean of the resampled pairs'
 * similarities, sum_g sum_r c_g c_r P[g, r] / (n_set[k] n_ref) with c the resample counts. */
cs_status cs_bootstrap_pair_means(const double *const *pairs, int64_t n_ref, const int64_t *n_set,
                                  size_t n_sets, int B, uint64_t seed, int threads, double *rep_score);

/* The same for KID: replicate r's KID of set k is cs_kid_gram on the resampled index lists (the
 * kernel of the original rows is computed once per set; (n_ref + n_k)^2 doubles, n_ref + n_k <=
 * CS_AUDIT_MAX_KID_BOOT_ROWS). When the subset size equals both set sizes every subset is the whole
 * resample, so one subset is evaluated (the same value up to rounding). */
#define CS_AUDIT_MAX_KID_BOOT_ROWS 16384
cs_status cs_bootstrap_kids(const float *ref, int64_t n_ref, const float *const *sets,
                            const int64_t *n_set, size_t n_sets, int d, const cs_kid_opts *kid,
                            int B, uint64_t seed, int threads, double *rep_score);

/* The same for CMMD: replicate r's CMMD of set k is the V-statistic of the resampled rows, from the
 * kernel matrix of the original rows computed once per set (cs_cmmd_kernel_build; (n_ref + n_k)^2
 * doubles, n_ref + n_k <= CS_AUDIT_MAX_CMMD_BOOT_ROWS) weighted by the resample counts
 * (cs_cmmd_from_kernel). Replicates in parallel; the numbers do not depend on threads. */
#define CS_AUDIT_MAX_CMMD_BOOT_ROWS 16384
cs_status cs_bootstrap_cmmds(const float *ref, int64_t n_ref, const float *const *sets, const int64_t *n_set,
                             size_t n_sets, int d, const cs_cmmd_opts *cmmd, int B, uint64_t seed, int threads,
                             double *rep_score);

/* ---- what the intervals mean (host/attribution/intervals.c) --------------------------------------- */

/* The intervals are validated (bench/coverage_study.py, host/attribution/coverage_table.h) when
 * dims / n (n = the smallest set or reference) is at most the largest studied ratio below which
 * every studied ratio reached 90% coverage of the population Shapley values, for the audit's
 * interval method and FID estimator. */
typedef struct cs_interval_validity {
    int validated;     /* inside the studied range with >= 90% coverage */
    double valid_ratio; /* the validated d/n (0: none) */
    double coverage;   /* the study's coverage (percent) nearest this d/n, NaN if none */
    int study_d, study_n;
    char note[768];    /* in words, for report.json / report.html / stderr */
} cs_interval_validity;
void cs_audit_interval_validity(const cs_audit *a, cs_interval_validity *v);

/* ---- reports (host/attribution/report.c) ---------------------------------------------------------------- */

/* report.json as a NUL-terminated string (malloc'd; free()). */
cs_status cs_audit_report_json(const cs_audit *a, char **json);
/* report.json, values.csv, coalitions.csv, interactions.csv, report.html into dir (created if
 * needed); each file is written atomically (temporary file + rename). */
cs_status cs_audit_write_reports(const cs_audit *a, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
