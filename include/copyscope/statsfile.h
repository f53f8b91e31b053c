/* copyscope: statistics and feature files on disk.
 *
 * 1. pytorch-fid statistics, .npz (a zip of two .npy arrays, as np.savez / np.savez_compressed
 *    write them):  mu.npy (d,) and sigma.npy (d, d). Read: dtype '<f8', '>f8', '<f4' or '>f4'
 *    (converted to float64), C or Fortran order, .npy format versions 1.0, 2.0 and 3.0, stored or
 *    deflated entries. Written: float64 little-endian, C order, version 1.0, stored (like np.savez).
 *    The sample count is not in the file (statistics read from it have n = 0, cov_only = 1).
 *
 * 2. copyscope statistics, HDF5 (.h5):
 *      /n          scalar int64        number of samples (0 when unknown: then /covariance)
 *      /mean       (d)    float64
 *      /comoment   (d, d) float64      sum (x - mean)(x - mean)^T      (when n > 0)
 *      /covariance (d, d) float64      instead of /comoment when n is unknown (from a .npz)
 *      attributes on /: kind = "stats", dims (int64), weights_sha256 (string, "" if unknown),
 *                       preprocessing (string), copyscope_version (string)
 *
 * 3. copyscope features, HDF5 (.h5), written by `copyscope features` (cs_features_write_h5):
 *      /features (n, d) float32        one row per image, in /paths order
 *      /paths    (n)    strings        the image files (variable-length UTF-8)
 *      /sha256   (n)    strings        hex SHA-256 of each file's bytes
 *      attributes on /: kind = "features", dims (int64), weights_sha256 (string),
 *                       preprocessing (string), copyscope_version (string)
 *    /skipped (strings) may be present and is ignored here.
 *
 * Every reader treats the file as hostile: sizes are bounded by the file and by CS_STATS_MAX_DIMS,
 * shapes are checked against the data, and errors name the file (CS_E_FORMAT / CS_E_TRUNCATED,
 * exit code 2). In particular (issue 20):
 *   - a path that is not a regular file (FIFO, device, socket, symbolic link loop) is refused from
 *     stat before it is opened;
 *   - statistics must be possible (cs_stats_validate): finite, symmetric and positive
 *     semi-definite within rounding, 0 <= n <= 2^53;
 *   - every HDF5 dataset is checked before it is read (cs_h5_check_dataset): a hard link, no
 *     external raw storage, no virtual layout, only the deflate/shuffle/fletcher32 filters, and
 *     its declared size stored in the file (a tiny file cannot declare terabytes of fill value);
 *     /paths and /sha256 must have as many entries as /features has rows;
 *   - NaN or inf anywhere is CS_E_FORMAT naming the file, the row and the column. */
#ifndef COPYSCOPE_STATSFILE_H
#define COPYSCOPE_STATSFILE_H

#include "copyscope/features.h"
#include "copyscope/stats.h"
#include "copyscope/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_file_kind {
    CS_FILE_UNKNOWN = 0,
    CS_FILE_NPZ,         /* pytorch-fid .npz statistics */
    CS_FILE_H5_STATS,    /* copyscope HDF5 statistics */
    CS_FILE_H5_FEATURES, /* copyscope HDF5 features */
    CS_FILE_DIRECTORY    /* a directory (of images) */
} cs_file_kind;

/* What a path holds, from its content (zip or HDF5 signature, then the datasets present).
 * CS_E_NOTFOUND if it does not exist; CS_E_FORMAT (naming the file) if it is none of the above. */
cs_status cs_file_kind_detect(const char *path, cs_file_kind *kind);

/* ---- .npz (pytorch-fid) ---- */
cs_status cs_npz_read_stats(const char *path, cs_stats **out);
/* The dimension d of a .npz from mu.npy alone (sigma is not read). */
cs_status cs_npz_dims(const char *path, int *d);
/* Writes mu and sigma = covariance (needs n >= 2 or cov_only). */
cs_status cs_npz_write_stats(const char *path, const cs_stats *s);

/* ---- HDF5 statistics ---- */
cs_status cs_h5_read_stats(const char *path, cs_stats **out);
/* Written atomically (temporary file + rename). */
cs_status cs_h5_write_stats(const char *path, const cs_stats *s);

/* ---- HDF5 features ---- */
/* Read a features file into f (cs_features_free releases it): data (n, d) float32, dims, n,
 * weights_sha256; the paths and sha256 lists too when with_paths is non-zero. */
cs_status cs_features_file_read(const char *path, int with_paths, cs_features *f);
/* Shape and identity of a features file without reading its rows. */
cs_status cs_features_file_info(const char *path, int64_t *n, int *d, cs_extractor_id *id);
/* Statistics of a features file's rows, read in chunks (memory O(d^2), not O(n d)). */
cs_status cs_features_file_stats(const char *path, cs_stats **out);

/* ---- any of the above ---- */
/* Statistics from a .npz, HDF5 stats or HDF5 features file (by content). */
cs_status cs_stats_file_read(const char *path, cs_stats **out);
/* Write by extension: ".npz" -> pytorch-fid npz, ".h5"/".hdf5" -> HDF5 statistics. */
cs_status cs_stats_file_write(const char *path, const cs_stats *s);

#ifdef __cplusplus
}
#endif
#endif
