/* copyscope: FID Inception-v3 weights (pytorch-fid's pt_inception-2015-12-05 layout).
 *
 * Loads torch's legacy (non-zip) format, with 4- or 8-byte longs, torch's zip format and
 * Hugging Face safetensors (the CLIP weights), through a restricted pickle interpreter that runs nothing from the file.
 * Every expected key and shape is checked. Tensors may be strided views of their storages
 * (the official file stores every conv weight as HWIO and views it as OIHW, and fc.weight
 * transposed); the loader copies each into a contiguous row-major (OIHW) buffer.
 * The cs_weights object owns all tensors;
 * pointers returned by the getters stay valid until cs_weights_free. */
#ifndef COPYSCOPE_WEIGHTS_H
#define COPYSCOPE_WEIGHTS_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_WEIGHTS_OFFICIAL_NAME "pt_inception-2015-12-05-6726825d.pth"
#define CS_WEIGHTS_OFFICIAL_URL                                                                    \
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"                      \
    "pt_inception-2015-12-05-6726825d.pth"
#define CS_WEIGHTS_OFFICIAL_SHA256                                                                 \
    "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
#define CS_WEIGHTS_TENSOR_COUNT 566
#define CS_WEIGHTS_MAX_NDIM 4

typedef struct cs_weights cs_weights;

typedef enum cs_weights_format {
    CS_WEIGHTS_LEGACY = 1, /* torch.save(..., _use_new_zipfile_serialization=False) */
    CS_WEIGHTS_ZIP = 2,    /* torch.save default since PyTorch 1.6 */
    CS_WEIGHTS_SAFETENSORS = 3 /* Hugging Face safetensors (io/safetensors.h); F16/BF16 become float32 */
} cs_weights_format;

typedef struct cs_tensor_view {
    const char *name;                  /* e.g. "Mixed_5b.branch1x1.conv.weight" */
    int ndim;                          /* 0..4 */
    int64_t shape[CS_WEIGHTS_MAX_NDIM];
    int is_int64;                      /* num_batches_tracked */
    const float *data;                 /* contiguous float32, row-major; NULL if is_int64 or header only */
    const int64_t *idata;              /* the int64 values if is_int64 (NULL if header only) */
    size_t numel;
} cs_tensor_view;

/* Flags of cs_weights_load_ex / cs_weights_load_memory. */
#define CS_WEIGHTS_HEADER_ONLY 1u /* parse the pickles (names, shapes, storages) and stop: no data,
                                     no truncation or expected-model check (works on a truncated file) */
#define CS_WEIGHTS_ANY_MODEL 2u   /* load any state dict of float32/int64 tensors (no expected-model
                                     check); for tools and fuzzing */

/* Load and validate a weights file. On failure *out is NULL and the message says which
 * problem: "truncated: N of M bytes", "missing tensor X", "shape of X is A, expected B", ... */
cs_status cs_weights_load(const char *path, cs_weights **out);
void cs_weights_free(cs_weights *w); /* NULL is fine */

/* Same with flags (CS_WEIGHTS_*); cs_weights_load(path, out) == cs_weights_load_ex(path, 0, out). */
cs_status cs_weights_load_ex(const char *path, unsigned flags, cs_weights **out);

/* From bytes in memory (not retained); name is used in messages and as cs_weights_path. */
cs_status cs_weights_load_memory(const void *data, size_t len, const char *name, unsigned flags,
                                 cs_weights **out);

cs_weights_format cs_weights_get_format(const cs_weights *w);
const char *cs_weights_format_name(cs_weights_format f); /* "torch legacy", "torch zip" */
int cs_weights_long_size(const cs_weights *w);           /* 4 or 8 for legacy; 8 for zip */
const char *cs_weights_describe_format(const cs_weights *w); /* "torch legacy, long = 4 bytes", "torch zip" */
uint64_t cs_weights_file_size(const cs_weights *w);      /* bytes of the file */
uint64_t cs_weights_implied_size(const cs_weights *w);   /* legacy: file size the header implies; zip: 0 */
int cs_weights_is_official(const cs_weights *w);         /* SHA-256 equals CS_WEIGHTS_OFFICIAL_SHA256 */
int cs_weights_has_data(const cs_weights *w);            /* 0 if loaded with CS_WEIGHTS_HEADER_ONLY */
const char *cs_weights_sha256(const cs_weights *w);      /* 64 lowercase hex chars */
const char *cs_weights_path(const cs_weights *w);
size_t cs_weights_tensor_count(const cs_weights *w);
uint64_t cs_weights_param_count(const cs_weights *w);    /* float32 values, int64 buffers excluded */

/* Tensor by index (file order) or by name; returns CS_E_NOTFOUND (with message) if absent. */
cs_status cs_weights_tensor_at(const cs_weights *w, size_t i, cs_tensor_view *out);
cs_status cs_weights_tensor(const cs_weights *w, const char *name, cs_tensor_view *out);

/* Resolve the weights path: explicit (may be NULL), then $COPYSCOPE_WEIGHTS, then
 * $TORCH_HOME/hub/checkpoints/<official name>, then ~/.cache/torch/hub/checkpoints/<official name>.
 * On failure: CS_E_NOTFOUND with one message listing the places searched and the official URL. */
cs_status cs_weights_find(const char *explicit_path, char *out, size_t out_size);

/* Resolve the weights of another model (a DINOv2 hub file, a CLIP safetensors file): explicit
 * (may be NULL), then $TORCH_HOME/hub/checkpoints/<file_name>, $XDG_CACHE_HOME/torch/hub/
 * checkpoints/<file_name>, ~/.cache/torch/hub/checkpoints/<file_name>. what names the model in the
 * CS_E_NOTFOUND message. */
cs_status cs_weights_find_named(const char *explicit_path, const char *file_name, const char *what, char *out,
                                size_t out_size);

/* The 566 expected (name, shape) pairs of the official file, in its key order (strcmp order),
 * derived from host/net/inception_arch.c. */
size_t cs_weights_expected_count(void);
const char *cs_weights_expected_name(size_t i);
int cs_weights_expected_shape(size_t i, int64_t shape[CS_WEIGHTS_MAX_NDIM]); /* returns ndim */
int cs_weights_expected_is_int64(size_t i); /* num_batches_tracked */
uint64_t cs_weights_expected_param_count(void); /* 23,885,392 */

/* SHA-256 of a file's bytes as 64 lowercase hex chars (+NUL); streams, bounded memory. */
cs_status cs_sha256_file(const char *path, char hex[65]);
void cs_sha256_bytes(const void *data, size_t len, char hex[65]);
/* The raw 32-byte digest of a buffer, and the hex form of a raw digest. */
void cs_sha256_digest(const void *data, size_t len, uint8_t md[32]);
void cs_sha256_hex(const uint8_t md[32], char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
