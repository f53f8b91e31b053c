/* Internal: .npy array parsing and writing (used by the .npz statistics reader/writer). */
#ifndef CS_NPZ_H
#define CS_NPZ_H

#include "core/common.h"

/* Parse a whole .npy image buf (len bytes). Accepts format versions 1.0/2.0/3.0, dtypes '<f8',
 * '>f8', '<f4', '>f4', C or Fortran order, 1 <= ndim <= 2 and at most max_elems elements; the data
 * must fill the rest of the buffer exactly. On success *data is a new (shape[0], shape[1]) float64
 * C-order array (shape[1] = 1 when ndim = 1). name is used in messages ("x.npz: sigma.npy: ..."). */
cs_status cs_npy_parse(const unsigned char *buf, size_t len, const char *name, size_t max_elems,
                       double **data, int *ndim, int64_t shape[2]);

/* Serialize a float64 C-order array of ndim 1 (shape[0]) or 2 as .npy version 1.0 ('<f8').
 * *out is a new buffer of *out_len bytes. */
cs_status cs_npy_write(const double *data, int ndim, const int64_t shape[2], unsigned char **out,
                       size_t *out_len);

#endif
