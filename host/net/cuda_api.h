/* The CUDA module's entry points (internal).
 *
 * Everything CUDA (kernels/ *.cu: the cuda backend, the GPU statistics, FID and metrics) is built,
 * whenever nvcc is present, into a separate shared object, libcopyscope_cuda.so, which links the
 * CUDA libraries (cudart, cuBLAS, cuSOLVER, cuDNN). The programs do not: host/net/cuda_module.c loads
 * the module with dlopen the first time a GPU is asked about, and only on a machine that has an
 * NVIDIA device node. So a CUDA build
 *   - starts as fast as a CPU build (the CUDA libraries' load-time initialisation alone took
 *     0.16 s per process), and runs where the CUDA libraries are absent (a CPU node of a
 *     cluster): `auto` falls back to the CPU with a one-line notice, `cuda` is a usage-class
 *     error (exit 2) naming the reason, never a loader crash;
 *   - keeps one definition of each entry point: the module exports a single symbol,
 *     cs_cuda_module_api, a table of the functions below; host/net/cuda_module.c defines functions of
 *     the same names that forward through the table (CS_E_UNSUPPORTED, 0 or "" without it). The
 *     module binds its own calls internally (hidden visibility, -Bsymbolic) and takes the host
 *     library's functions (errors, statistics, FID helpers) from the program, which exports them
 *     (-rdynamic), so errors raised inside the module reach the caller's cs_last_error().
 *
 * X(return type, name, (parameters), (arguments), value without the module) for each function;
 * XV(name, (parameters), (arguments)) for those returning void. */
#ifndef CS_CUDA_API_H
#define CS_CUDA_API_H

#include "net/backend.h"
#include "net/vit_gpu.h"
#include "fid/gpu_math.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_CUDA_API_VERSION 1

#define CS_CUDA_API(X, XV)                                                                          \
    X(int, cs_cuda_device_count, (void), (), 0)                                                     \
    X(cs_status, cs_backend_cuda_create_ex, (int device, const char *precision, cs_backend **out),  \
      (device, precision, out), cs_cuda_unavailable("the cuda backend"))                            \
    X(cs_status, cs_gpu_open, (int device, cs_gpu **out), (device, out),                            \
      cs_cuda_unavailable("the GPU math"))                                                          \
    XV(cs_gpu_close, (cs_gpu * g), (g))                                                             \
    X(const char *, cs_gpu_name, (const cs_gpu *g), (g), "")                                        \
    X(cs_status, cs_gpu_buffer_upload, (cs_gpu * g, const void *host, size_t bytes, void **dev),    \
      (g, host, bytes, dev), cs_cuda_unavailable("cs_gpu_buffer_upload"))                           \
    XV(cs_gpu_buffer_free, (cs_gpu * g, void *dev), (g, dev))                                       \
    X(cs_status, cs_gpu_stats_add_f32, (cs_gpu * g, cs_stats *s, const float *x_host, int64_t n),   \
      (g, s, x_host, n), cs_cuda_unavailable("cs_gpu_stats_add_f32"))                               \
    X(cs_status, cs_gpu_stats_add_f32_device, (cs_gpu * g, cs_stats *s, const float *x_dev,         \
                                               int64_t n),                                          \
      (g, s, x_dev, n), cs_cuda_unavailable("cs_gpu_stats_add_f32_device"))                         \
    X(cs_status, cs_gpu_stats_from_features, (int device, const float *feat_host, size_t n, int d,  \
                                              cs_stats *out),                                       \
      (device, feat_host, n, d, out), cs_cuda_unavailable("cs_gpu_stats_from_features"))            \
    X(cs_status, cs_gpu_fid_ref_init, (cs_gpu * g, const cs_stats *ref, cs_gpu_fid_ref **out),      \
      (g, ref, out), cs_cuda_unavailable("cs_gpu_fid_ref_init"))                                    \
    XV(cs_gpu_fid_ref_free, (cs_gpu_fid_ref * r), (r))                                              \
    X(int, cs_gpu_fid_ref_rank, (const cs_gpu_fid_ref *r), (r), 0)                                  \
    X(cs_status, cs_gpu_fid_ref_compare, (cs_gpu_fid_ref * r, const cs_stats *s,                    \
                                          cs_fid_result *res),                                      \
      (r, s, res), cs_cuda_unavailable("cs_gpu_fid_ref_compare"))                                   \
    X(cs_status, cs_gpu_fid_ref_compare_features, (cs_gpu_fid_ref * r, const float *x_host,         \
                                                   int64_t n, int d, const cs_extractor_id *id,     \
                                                   cs_fid_result *res),                             \
      (r, x_host, n, d, id, res), cs_cuda_unavailable("cs_gpu_fid_ref_compare_features"))           \
    X(cs_status, cs_gpu_fid_lowrank, (cs_gpu * g, const float *x1, int64_t n1, const float *x2,     \
                                      int64_t n2, int d, cs_fid_result *res),                       \
      (g, x1, n1, x2, n2, d, res), cs_cuda_unavailable("cs_gpu_fid_lowrank"))                       \
    X(cs_status, cs_gpu_fid_compute, (cs_gpu * g, const cs_stats *s1, const float *x1,              \
                                      const cs_stats *s2, const float *x2, cs_fid_result *res),     \
      (g, s1, x1, s2, x2, res), cs_cuda_unavailable("cs_gpu_fid_compute"))                          \
    X(cs_status, cs_gpu_fid_boot_init, (cs_gpu * g, const float *x1, int64_t n1, const float *x2,   \
                                        int64_t n2, int d, cs_gpu_fid_boot **out),                  \
      (g, x1, n1, x2, n2, d, out), cs_cuda_unavailable("cs_gpu_fid_boot_init"))                     \
    XV(cs_gpu_fid_boot_free, (cs_gpu_fid_boot * b), (b))                                            \
    X(cs_status, cs_gpu_fid_boot_eval_batch, (cs_gpu_fid_boot * b, int R, const int64_t *idx1,      \
                                              int64_t m1, const int64_t *idx2, int64_t m2,          \
                                              cs_fid_result *res),                                  \
      (b, R, idx1, m1, idx2, m2, res), cs_cuda_unavailable("cs_gpu_fid_boot_eval_batch"))           \
    X(cs_status, cs_gpu_kid_compute, (cs_gpu * g, const float *x, int64_t n1, const float *y,       \
                                      int64_t n2, int d, const cs_kid_opts *opts,                   \
                                      cs_kid_result *res, double *per_subset),                      \
      (g, x, n1, y, n2, d, opts, res, per_subset), cs_cuda_unavailable("cs_gpu_kid_compute"))       \
    X(cs_status, cs_gpu_ssim_pairs, (cs_gpu * g, const cs_image *a, const cs_image *b,              \
                                     size_t npairs, double *ssim, double *rgb_ssim),                \
      (g, a, b, npairs, ssim, rgb_ssim), cs_cuda_unavailable("cs_gpu_ssim_pairs"))                  \
    X(cs_status, cs_gpu_metric_desc_pairs, (cs_gpu * g, const cs_metric_desc *dref, size_t nref,    \
                                            const cs_metric_desc *dgen, size_t ngen,                \
                                            const int *want, double *out),                          \
      (g, dref, nref, dgen, ngen, want, out), cs_cuda_unavailable("cs_gpu_metric_desc_pairs"))    \
    X(cs_status, cs_vit_gpu_create, (int device, const cs_vit_gpu_desc *desc, cs_vit_gpu **out),    \
      (device, desc, out), cs_cuda_unavailable("the Vision Transformer on a GPU"))                  \
    XV(cs_vit_gpu_free, (cs_vit_gpu * g), (g))                                                      \
    X(const char *, cs_vit_gpu_name, (const cs_vit_gpu *g), (g), "")                                \
    X(cs_status, cs_vit_gpu_forward, (cs_vit_gpu * g, const float *x, int n, float *out),           \
      (g, x, n, out), cs_cuda_unavailable("the Vision Transformer on a GPU"))

#define CS_CUDA_API_MEMBER(ret, name, params, args, fallback) ret(*name) params;
#define CS_CUDA_API_MEMBER_V(name, params, args) void(*name) params;

typedef struct cs_cuda_api {
    int version;  /* CS_CUDA_API_VERSION of the module */
    size_t size;  /* sizeof(cs_cuda_api) of the module */
    const char *build; /* "CUDA 13.0, cuDNN 9.19" (what the module was built with) */
    int has_backend;   /* 1: the cuda backend is in (the module was built with cuDNN) */
    CS_CUDA_API(CS_CUDA_API_MEMBER, CS_CUDA_API_MEMBER_V)
} cs_cuda_api;

/* The module's one exported symbol. */
#define CS_CUDA_MODULE_SYMBOL "cs_cuda_module_api"
typedef const cs_cuda_api *(*cs_cuda_module_api_fn)(void);

/* ---- host side (host/net/cuda_module.c) -------------------------------------------------------- */

/* The module's table, loading it on the first call (thread-safe); NULL when there is none, with
 * the reason in *why (one line, static storage; why may be NULL):
 *   - this build has no CUDA code;
 *   - no NVIDIA device node (/dev/nvidiactl, /dev/nvidia0, /dev/dxg): no GPU, so nothing is
 *     loaded (fast; COPYSCOPE_CUDA_MODULE set forces a load anyway);
 *   - dlopen/dlsym failed (a CUDA library missing, ...): the loader's message;
 *   - the module is from another copyscope version.
 * Where: $COPYSCOPE_CUDA_MODULE, else libcopyscope_cuda.so beside the program, else in the build
 * tree the program came from, else in the install's library directory. */
const cs_cuda_api *cs_cuda_api_get(const char **why);
/* The path the module was loaded from ("" when none). */
const char *cs_cuda_module_path(void);
/* CS_E_UNSUPPORTED with "<what>: <reason>" (the forwarding functions' value without a module). */
cs_status cs_cuda_unavailable(const char *what);

#ifdef __cplusplus
}
#endif
#endif
