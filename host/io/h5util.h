/* Small HDF5 helpers shared by the modules that read/write HDF5 files (cache, features). */
#ifndef CS_H5UTIL_H
#define CS_H5UTIL_H

#include "core/common.h"

#include <hdf5.h>

/* Turn off HDF5's automatic error stack printing (we report our own one-line errors). */
void cs_h5_quiet(void);

/* Write a string attribute on an object. */
cs_status cs_h5_write_attr_str(hid_t obj, const char *name, const char *value, const char *path);
/* Read a scalar string attribute (fixed or variable length, ASCII or UTF-8) into out (truncated to
 * out_size-1; bytes outside printable ASCII become '?'); CS_E_FORMAT if missing or not a string. */
cs_status cs_h5_read_attr_str(hid_t obj, const char *name, char *out, size_t out_size, const char *path);
cs_status cs_h5_write_attr_int(hid_t obj, const char *name, long long value, const char *path);
cs_status cs_h5_read_attr_int(hid_t obj, const char *name, long long *value, const char *path);

/* Create a dataset of rank 1 or 2 and write it in one go. */
cs_status cs_h5_write_2d(hid_t file, const char *name, hid_t mem_type, hid_t file_type, size_t rows,
                         size_t cols, const void *data, const char *path);

/* Write an array of C strings as a variable-length string dataset. */
cs_status cs_h5_write_strings(hid_t file, const char *name, char *const *strs, size_t n, const char *path);

/* Checks before any dataset is read (CS_E_FORMAT naming the file and the dataset): no external
 * raw storage, no virtual layout, only the deflate, shuffle and fletcher32 filters, and the
 * declared size (elements x type size) stored in the file (at most 1100:1 when compressed). */
cs_status cs_h5_check_dataset(hid_t ds, const char *name, const char *path);
/* Open the dataset /name for reading: a hard link to a dataset that passes cs_h5_check_dataset
 * (external, soft and user-defined links are refused). *ds is closed by the caller. */
cs_status cs_h5_open_dataset(hid_t file, const char *name, const char *path, hid_t *ds);
/* Open a file read-only after cs_check_regular_file (no FIFOs or devices); CS_E_FORMAT if not HDF5. */
cs_status cs_h5_open_file(const char *path, hid_t *file);

/* Rank and dims of a dataset (rank <= 2 accepted; opened by cs_h5_open_dataset, so every check
 * there applies); CS_E_FORMAT if missing or wrong rank. */
cs_status cs_h5_dims(hid_t file, const char *name, int *rank, hsize_t dims[2], const char *path);

/* " (disk full)" / " (disk quota exceeded)" when a write to path failed for lack of space (errno,
 * else statvfs of its directory), else "": appended to write-failure messages. */
const char *cs_write_fail_note(const char *path);
/* Remove "<path>.tmp-<pid>" files left by killed writers (pid not running here, file untouched for
 * a minute), saying so on stderr; called after each successful commit of path. */
void cs_tmp_sweep_stale(const char *path);

/* fsync a file by path, and the directory that holds it (after a rename). */
cs_status cs_fsync_path(const char *path);
cs_status cs_fsync_dir_of(const char *path);
/* Finish an HDF5 file written under the temporary name tmp and publish it atomically as path:
 * close it (*file = -1 afterwards, whatever happens), fsync it, rename it, fsync the directory,
 * then sweep stale temporary files of path (cs_tmp_sweep_stale).
 * On failure the caller removes tmp. */
cs_status cs_h5_commit(hid_t *file, const char *tmp, const char *path);

#endif
