/* copyscope: from image files to Inception features.
 *
 * The pipeline: expand inputs to a sorted list of image files -> read each file once
 * (SHA-256 of its bytes) -> look the hash up in the feature cache -> decode + preprocess
 * the misses in a thread pool -> forward pass in batches on the selected backend ->
 * store new features in the cache (crash-safe) -> one (n, dims) float32 matrix in input
 * order. */
#ifndef COPYSCOPE_FEATURES_H
#define COPYSCOPE_FEATURES_H

#include "copyscope/image.h"
#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Preprocessing identity of the pytorch-fid protocol, recorded in every features/stats file and
 * cache key; the other protocols' identities: cs_protocol_preprocess_id (protocol.h). */
#define CS_PREPROCESS_ID "pytorch-fid: PIL convert RGB, bilinear 299 align_corners=False, 2x-1"
#define CS_PATHLIST_MAX 50000000

/* ---- path lists -------------------------------------------------------------------------- */
typedef struct cs_pathlist {
    char **paths; /* owned */
    size_t n, cap;
} cs_pathlist;

/* Expand each input: a directory gives its files with a known image extension (not recursive,
 * sorted by name like pytorch-fid), a file is taken as is. Errors (exit 2): a missing path
 * ("<p>: no such file or directory"), a directory with no images ("<p>: no image files
 * (looked for .bmp .jpg ...)"). */
cs_status cs_pathlist_expand(const char *const *inputs, size_t n_inputs, cs_pathlist *out);
/* The same with another peer's listing rule for directories (cs_image_listing in
 * copyscope/image.h: which extensions, case, recursion); cs_pathlist_expand is
 * CS_LISTING_PYTORCH_FID. Under CLEAN_FID a listed .npy file is an error (CS_E_UNSUPPORTED). */
cs_status cs_pathlist_expand_listing(const char *const *inputs, size_t n_inputs, cs_image_listing rule,
                                     cs_pathlist *out);
cs_status cs_pathlist_push(cs_pathlist *pl, const char *path);
void cs_pathlist_free(cs_pathlist *pl);

/* ---- extraction ------------------------------------------------------------------------- */

/* Testing aids (zero in real runs): they make the multi-device and GPU routes of the pipeline run
 * on the CPU, so that tests exercise them on any machine. `copyscope features` sets them from
 * hidden options (--testing-*, docs/gpu.md). */
typedef struct cs_features_testing {
    int cpu_devices;        /* >= 1: that many CPU backends stand in for the --device list
                             * (threads split evenly; announced in a notice) */
    int fail;               /* 1: the device that runs batch fail_batch fails with CS_E_DEVICE */
    size_t fail_batch;      /* batches are numbered from 0 in input order, one per `batch` files */
    size_t rgb_batch_bytes; /* > 0: the pixel budget of a packed batch (default 256 MiB, also the
                             * largest allowed); batches over it go to the device as floats */
    int cpu_async;          /* CPU backends with a GPU's asynchronous copies, emulated lazily */
    int cpu_preprocess;     /* CPU backends take decoded pixels, as a GPU does */
    int vit_any_depth;      /* ViT weights with fewer blocks than the architecture (reduced-depth
                             * ViT-L/G test files) */
} cs_features_testing;

typedef struct cs_features_opts {
    const char *weights_path; /* NULL: discovery (cs_weights_find) */
    const char *device;       /* "cpu", "cuda" (all GPUs), "cuda:0,2", "auto" (all GPUs, else cpu);
                               * NULL = "auto"; several devices: one thread each (docs/gpu.md) */
    const char *precision;    /* "fp32" (NULL), "tf32", "fp16" (GPU only); part of the cache key */
    int dims;                 /* 64, 192, 768, 2048 (Inception); a ViT: its feature size */
    const char *model;        /* feature space (cs_model_kind_parse): NULL or "inception", "dinov2-vits14",
                               * "dinov2-vitb14", "dinov2-vitl14", "dinov2-vitg14", "clip-vitl14-336";
                               * part of the cache key */
    int batch;                /* images per forward pass (default 50 like pytorch-fid) */
    int threads;              /* decode + compute threads; 0 = all cores */
    int skip_bad;             /* continue past undecodable images, listing them */
    int use_cache;            /* read/write the feature cache */
    const char *cache_dir;    /* NULL: $XDG_CACHE_HOME/copyscope or ~/.cache/copyscope */
    int progress;             /* progress on stderr (CLI sets it when stderr is a terminal) */
    int quiet;                /* no summary line on stderr */
    cs_features_testing testing; /* testing aids, zero in real runs */
    int protocol;             /* cs_protocol (protocol.h): 0 = pytorch-fid; part of the cache key.
                               * Only pytorch-fid is preprocessed on a GPU; the other protocols
                               * are preprocessed by the host decode pool on every device */
} cs_features_opts;

void cs_features_opts_default(cs_features_opts *o);

typedef struct cs_features {
    size_t n;            /* images that produced a row */
    int dims;
    int model;           /* cs_model_kind of the features (0: Inception) */
    float *data;         /* (n, dims) float32, row i <-> paths.paths[i] */
    cs_pathlist paths;   /* the images, in row order */
    char (*sha256)[65];  /* (n) hex digests of the files' bytes */
    cs_pathlist skipped; /* files skipped with --skip-bad */
    char **skipped_why;  /* (skipped.n) messages */
    char weights_sha256[65];
    /* counters for the log line and tests */
    size_t n_from_cache, n_computed;
    size_t n_device_preprocessed; /* computed images whose decoded pixels the device resized
                                   * (GPU; the rest were preprocessed by the host decode pool) */
    double seconds;
    int protocol;                 /* cs_protocol the rows were computed with */
} cs_features;

/* Extract features of the expanded inputs. A bad image fails the whole call unless
 * opts->skip_bad. A failing device fails it too (CS_E_DEVICE, naming the device and the batch's
 * images; no fallback to another device). Features computed before a failure or an
 * interruption are already in the cache. */
cs_status cs_features_extract(const cs_pathlist *files, const cs_features_opts *opts, cs_features *out);
void cs_features_free(cs_features *f);

struct cs_image;
/* Features of images already decoded in memory: imgs[i].rgb is (height, width, 3) uint8 (not
 * owned, not modified; any sizes). Each is preprocessed and run exactly as cs_features_extract
 * runs a computed image, so the rows equal those of files that decode to these pixels, whatever
 * opts->batch or opts->threads. Uses opts->weights_path, device (one device: "cpu", "cuda",
 * "cuda:N", "auto"), precision, protocol, dims, batch and threads (the Inception network only: another
 * opts->model is CS_E_UNSUPPORTED); there is no feature cache (no file to
 * hash) and out->paths, out->sha256 stay empty. Cancellation (cancel.h) is polled between batches:
 * CS_E_INTERRUPTED. Errors: CS_E_USAGE (n == 0, bad dims or device, an image with a zero side
 * or NULL pixels, naming its index), the weights' errors, the device's. */
cs_status cs_features_extract_rgb(const struct cs_image *imgs, size_t n, const cs_features_opts *opts,
                                  cs_features *out);

/* Statistics (count, mean, co-moments in float64) of extracted features, with the extractor
 * identity (weights SHA-256, cs_protocol_preprocess_id(f->protocol)) set so that merges and comparisons can check it. */
struct cs_stats;
cs_status cs_features_to_stats(const cs_features *f, struct cs_stats **out);

/* Write /features (n, d) float32, /paths, /sha256 and the identity attributes
 * (weights_sha256, dims, preprocessing, protocol, copyscope_version) to an HDF5 file, atomically
 * (temporary file + rename). */
cs_status cs_features_write_h5(const cs_features *f, const char *path);

#ifdef __cplusplus
}
#endif
#endif
