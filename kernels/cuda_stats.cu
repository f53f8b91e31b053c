// GPU context (cs_gpu) and per-set statistics on the GPU: count, mean and co-moment in float64,
// the twin of cs_stats_add_f32 (host/fid/stats.c). See host/fid/gpu_math.h.
//
//   CPU (stats.c)                                  GPU (here)
//   chunk of 1024 rows -> float64                  chunk of CS_GPU_STATS_CHUNK rows -> float64 (kernel)
//   chunk mean, centre in place                    cs_k_col_mean, cs_k_center_cols
//   m2 += C^T C (cblas_dsyrk, upper)               cublasDsyrk (column-major upper)
//   delta = bmean - mean, m2 += w delta delta^T    cs_k_chan_mean + cublasDsyr
//   mean += delta nb / n                           (same kernel)
//   into s directly                                into a fresh device shard, downloaded and merged
//                                                  into s with cs_stats_merge (Chan's formula)
#include "cuda_math.cuh"

#include <stdio.h>

// Rows per chunk: (rows, d) float64 + float32 staging = 96 MiB at d = 2048.
#define CS_GPU_STATS_CHUNK 4096

// ---- context and errors ---------------------------------------------------------------------

static const char *cs_cusolver_status_text(cusolverStatus_t e) {
    switch (e) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED (out of device memory)";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default: return "unknown cuSOLVER status";
    }
}

static const char *cs_gpu_label(const cs_gpu *g) { return g ? g->name : "cuda"; }
static const char *cs_gpu_op(const cs_gpu *g) { return g && g->op ? g->op : "GPU math"; }

// The statement text of a failing call, cut to keep the message one readable line.
static void cs_call_text(char *buf, size_t size, const char *call) {
    snprintf(buf, size, "%s", call);
    if (strlen(call) >= size && size > 4) memcpy(buf + size - 4, "...", 4);
}

cs_status cs_gpu_fail_cuda(const cs_gpu *g, cudaError_t e, const char *call, const char *file, int line) {
    char c[128];
    cs_call_text(c, sizeof c, call);
    (void)cudaGetLastError(); // reported here: not left for the next launch check to report again
    return cs_error_set(CS_E_DEVICE, file, line, "%s, %s: %s failed: %s (%s)", cs_gpu_label(g),
                        cs_gpu_op(g), c, cudaGetErrorString(e), cudaGetErrorName(e));
}

cs_status cs_gpu_fail_cublas(const cs_gpu *g, cublasStatus_t e, const char *call, const char *file,
                             int line) {
    char c[128];
    cs_call_text(c, sizeof c, call);
    return cs_error_set(CS_E_DEVICE, file, line, "%s, %s: %s failed: %s", cs_gpu_label(g),
                        cs_gpu_op(g), c, cublasGetStatusString(e));
}

cs_status cs_gpu_fail_cusolver(const cs_gpu *g, cusolverStatus_t e, const char *call,
                               const char *file, int line) {
    char c[128];
    cs_call_text(c, sizeof c, call);
    return cs_error_set(CS_E_DEVICE, file, line, "%s, %s: %s failed: %s", cs_gpu_label(g),
                        cs_gpu_op(g), c, cs_cusolver_status_text(e));
}

cs_status cs_gpu_fail_info(const cs_gpu *g, const char *routine, int info, const char *file, int line) {
    if (info > 0)
        return cs_error_set(CS_E_NUMERIC, file, line, "%s, %s: %s did not converge (info %d)",
                            cs_gpu_label(g), cs_gpu_op(g), routine, info);
    return cs_error_set(CS_E_INTERNAL, file, line, "%s, %s: %s rejected argument %d", cs_gpu_label(g),
                        cs_gpu_op(g), routine, -info);
}

cs_status cs_gpu_alloc_bytes(const cs_gpu *g, void **p, size_t count, size_t elem, const char *what,
                             const char *file, int line) {
    *p = NULL;
    size_t bytes;
    if (!cs_mul_size(count, elem, &bytes))
        return cs_error_set(CS_E_DEVICE, file, line, "%s, %s: %s is too large (%zu x %zu bytes)",
                            cs_gpu_label(g), cs_gpu_op(g), what, count, elem);
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        (void)cudaGetLastError(); // an allocation failure is not sticky; clear it
        return cs_error_set(CS_E_DEVICE, file, line, "%s, %s: cannot allocate %s (%.1f MiB): %s",
                            cs_gpu_label(g), cs_gpu_op(g), what, (double)bytes / 1048576.0,
                            cudaGetErrorString(e));
    }
    return CS_OK;
}

cs_status cs_gpu_enter(cs_gpu *g, const char *op, const char *file, int line) {
    if (!g) return cs_error_set(CS_E_USAGE, file, line, "%s: no GPU context", op);
    g->op = op;
    cudaError_t e = cudaSetDevice(g->device);
    if (e != cudaSuccess) return cs_gpu_fail_cuda(g, e, "cudaSetDevice(device)", file, line);
    return CS_OK;
}

extern "C" void cs_gpu_close(cs_gpu *g) {
    if (!g) return;
    // release path: errors cleared, not left for the next op (kernels/cuda_release.cuh)
    cs_cuda_released(cudaSetDevice(g->device));
    if (g->solver) (void)cusolverDnDestroy(g->solver);
    if (g->blas) (void)cublasDestroy(g->blas);
    if (g->stream) cs_cuda_released(cudaStreamDestroy(g->stream));
    cs_cuda_clear_released();
    free(g);
}

static cs_status cs_gpu_open_impl(cs_gpu *g) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) (void)cudaGetLastError(); // reported below as "no CUDA GPU"; not left for later calls
    if (e != cudaSuccess || count == 0)
        return CS_FAIL(CS_E_UNSUPPORTED, "device cuda:%d: no CUDA GPU found on this machine (%s)",
                       g->device, e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    if (g->device < 0 || g->device >= count)
        return CS_FAIL(CS_E_USAGE, "device cuda:%d does not exist (this machine has %d CUDA GPU%s)",
                       g->device, count, count == 1 ? "" : "s");
    CS_CUDA(g, cudaSetDevice(g->device));
    cudaDeviceProp prop;
    CS_CUDA(g, cudaGetDeviceProperties(&prop, g->device));
    snprintf(g->name, sizeof g->name, "cuda:%d (%s)", g->device, prop.name);
    CS_CUDA(g, cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    CS_CUBLAS(g, cublasCreate(&g->blas));
    CS_CUBLAS(g, cublasSetStream(g->blas, g->stream));
    // float64 throughout: no reduced-precision or tensor-core emulation of DGEMM
    CS_CUBLAS(g, cublasSetMathMode(g->blas, CUBLAS_DEFAULT_MATH));
    CS_CUSOLVER(g, cusolverDnCreate(&g->solver));
    CS_CUSOLVER(g, cusolverDnSetStream(g->solver, g->stream));
    return CS_OK;
}

extern "C" cs_status cs_gpu_open(int device, cs_gpu **out) {
    *out = NULL;
    cs_gpu *g = (cs_gpu *)cs_calloc(1, sizeof *g, "GPU context");
    if (!g) return CS_E_NOMEM;
    g->device = device;
    g->op = "opening the device";
    snprintf(g->name, sizeof g->name, "cuda:%d", device);
    cs_status st = cs_gpu_open_impl(g);
    if (st != CS_OK) {
        cs_gpu_close(g);
        return st;
    }
    *out = g;
    return CS_OK;
}

extern "C" const char *cs_gpu_name(const cs_gpu *g) { return g ? g->name : "cuda"; }

extern "C" cs_status cs_gpu_buffer_upload(cs_gpu *g, const void *host, size_t bytes, void **dev) {
    *dev = NULL;
    CS_GPU_ENTER(g, "GPU upload");
    cs_dev<unsigned char> b;
    CS_DALLOC(g, b, bytes, "device buffer");
    CS_UPLOAD(g, b.p, (const unsigned char *)host, bytes);
    CS_CUDA(g, cudaStreamSynchronize(g->stream));
    *dev = b.release();
    return CS_OK;
}

extern "C" void cs_gpu_buffer_free(cs_gpu *g, void *dev) {
    if (!dev) return;
    if (g) cs_cuda_released(cudaSetDevice(g->device)); // release path (kernels/cuda_release.cuh)
    cs_cuda_released(cudaFree(dev));
}

// ---- statistics ----------------------------------------------------------------------------

// Chan's mean update of one chunk: delta = bmean - mean (written over bmean), mean += delta * f.
static __global__ void cs_k_chan_mean(double *__restrict__ mean, double *__restrict__ bmean, int d,
                                      double f) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    double delta = __dsub_rn(bmean[j], mean[j]);
    bmean[j] = delta;
    mean[j] = __dadd_rn(mean[j], __dmul_rn(delta, f));
}

// The rows of one call, accumulated on the device: n rows so far, mean (d), m2 (d, d) (upper
// triangle, column-major; the full matrix after cs_gpu_shard_finish).
struct cs_gpu_shard {
    int d;
    int64_t n;
    cs_dev<double> mean, m2, chunk, bmean;
    cs_dev<float> stage;
    cs_dev<unsigned long long> bad;
};

static cs_status cs_gpu_shard_init(cs_gpu *g, cs_gpu_shard *sh, int d, int64_t n, int host_input) {
    sh->d = d;
    sh->n = 0;
    int64_t rows = n < CS_GPU_STATS_CHUNK ? n : CS_GPU_STATS_CHUNK;
    CS_DALLOC(g, sh->mean, d, "statistics mean");
    CS_DALLOC(g, sh->bmean, d, "chunk mean");
    CS_DALLOC(g, sh->m2, (size_t)d * d, "co-moment matrix");
    CS_DALLOC(g, sh->chunk, (size_t)rows * d, "float64 feature chunk");
    if (host_input) CS_DALLOC(g, sh->stage, (size_t)rows * d, "float32 feature chunk");
    CS_DALLOC(g, sh->bad, 1, "non-finite flag");
    CS_CUDA(g, cudaMemsetAsync(sh->mean.p, 0, (size_t)d * sizeof(double), g->stream));
    CS_CUDA(g, cudaMemsetAsync(sh->m2.p, 0, (size_t)d * d * sizeof(double), g->stream));
    CS_CUDA(g, cudaMemsetAsync(sh->bad.p, 0xff, sizeof(unsigned long long), g->stream));
    return CS_OK;
}

// Add rows x (nb, d) float32 (device memory); row0 = index of its first row in the caller's block.
static cs_status cs_gpu_shard_add(cs_gpu *g, cs_gpu_shard *sh, const float *x, int64_t nb, int64_t row0) {
    const int d = sh->d;
    const size_t cnt = (size_t)nb * d;
    const double one = 1.0;
    cs_k_f32_to_f64<<<cs_grid(cnt, 256), 256, 0, g->stream>>>(x, cnt, sh->chunk.p,
                                                              (unsigned long long)row0 * d, sh->bad.p);
    CS_LAUNCHED(g, cs_k_f32_to_f64);
    cs_k_col_mean<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(sh->chunk.p, nb, d, sh->bmean.p);
    CS_LAUNCHED(g, cs_k_col_mean);
    cs_k_center_cols<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(sh->chunk.p, nb, d, sh->bmean.p,
                                                                    nullptr);
    CS_LAUNCHED(g, cs_k_center_cols);
    // the chunk (nb, d) row-major is C^T (d, nb) column-major: m2 += C^T C is a no-transpose syrk
    CS_CUBLAS(g, cublasDsyrk(g->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, d, (int)nb, &one,
                             sh->chunk.p, d, &one, sh->m2.p, d));
    const int64_t na = sh->n, n = na + nb;
    cs_k_chan_mean<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(sh->mean.p, sh->bmean.p, d,
                                                                  (double)nb / (double)n);
    CS_LAUNCHED(g, cs_k_chan_mean);
    if (na > 0) {
        const double w = (double)na * (double)nb / (double)n;
        CS_CUBLAS(g, cublasDsyr(g->blas, CUBLAS_FILL_MODE_UPPER, d, &w, sh->bmean.p, 1, sh->m2.p, d));
    }
    sh->n = n;
    return CS_OK;
}

// Download the shard and merge it into s (cs_stats_merge). bad_value reads the offending input
// value for the message when a non-finite one was flagged.
static cs_status cs_gpu_shard_finish(cs_gpu *g, cs_gpu_shard *sh, cs_stats *s, const float *x_host,
                                     const float *x_dev) {
    const int d = sh->d;
    unsigned long long bad = 0;
    CS_DOWNLOAD(g, &bad, sh->bad.p, 1);
    if (bad != ~0ull) {
        float v = 0.0f;
        if (x_host) v = x_host[bad];
        else CS_DOWNLOAD(g, &v, x_dev + bad, 1);
        return CS_FAIL(CS_E_NUMERIC, "feature row %lld column %d is not finite (%g)",
                       (long long)(bad / (unsigned long long)d), (int)(bad % (unsigned long long)d),
                       (double)v);
    }
    cs_k_sym_from_upper<<<cs_grid((size_t)d * d, 256), 256, 0, g->stream>>>(sh->m2.p, d);
    CS_LAUNCHED(g, cs_k_sym_from_upper);
    cs_stats *shard = NULL;
    CS_TRY(cs_stats_init(&shard, d));
    shard->n = sh->n;
    shard->id = s->id;
    cs_status st = CS_OK;
    cudaError_t e = cudaMemcpyAsync(shard->mean, sh->mean.p, (size_t)d * sizeof(double),
                                    cudaMemcpyDeviceToHost, g->stream);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(shard->m2, sh->m2.p, (size_t)d * d * sizeof(double),
                            cudaMemcpyDeviceToHost, g->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(g->stream);
    if (e != cudaSuccess)
        st = cs_gpu_fail_cuda(g, e, "cudaMemcpyAsync(statistics to host)", __FILE__, __LINE__);
    if (st == CS_OK) st = cs_stats_merge(s, shard);
    cs_stats_free(shard);
    return st;
}

extern "C" cs_status cs_gpu_stats_add_f32(cs_gpu *g, cs_stats *s, const float *x_host, int64_t n) {
    CS_GPU_ENTER(g, "GPU statistics");
    CS_TRY(cs_stats_check_add(s, n));
    if (n == 0) return CS_OK;
    const int d = s->d;
    cs_gpu_shard sh;
    CS_TRY(cs_gpu_shard_init(g, &sh, d, n, 1));
    for (int64_t i0 = 0; i0 < n; i0 += CS_GPU_STATS_CHUNK) {
        int64_t nb = n - i0 < CS_GPU_STATS_CHUNK ? n - i0 : CS_GPU_STATS_CHUNK;
        CS_UPLOAD(g, sh.stage.p, x_host + (size_t)i0 * d, (size_t)nb * d);
        CS_TRY(cs_gpu_shard_add(g, &sh, sh.stage.p, nb, i0));
    }
    return cs_gpu_shard_finish(g, &sh, s, x_host, nullptr);
}

extern "C" cs_status cs_gpu_stats_add_f32_device(cs_gpu *g, cs_stats *s, const float *x_dev, int64_t n) {
    CS_GPU_ENTER(g, "GPU statistics");
    CS_TRY(cs_stats_check_add(s, n));
    if (n == 0) return CS_OK;
    const int d = s->d;
    cs_gpu_shard sh;
    CS_TRY(cs_gpu_shard_init(g, &sh, d, n, 0));
    for (int64_t i0 = 0; i0 < n; i0 += CS_GPU_STATS_CHUNK) {
        int64_t nb = n - i0 < CS_GPU_STATS_CHUNK ? n - i0 : CS_GPU_STATS_CHUNK;
        CS_TRY(cs_gpu_shard_add(g, &sh, x_dev + (size_t)i0 * d, nb, i0));
    }
    return cs_gpu_shard_finish(g, &sh, s, nullptr, x_dev);
}

extern "C" cs_status cs_gpu_stats_from_features(int device, const float *feat_host, size_t n, int d,
                                                cs_stats *out) {
    if (!out || out->d != d)
        return CS_FAIL(CS_E_MISMATCH, "GPU statistics: features of %d dimensions for statistics of %d",
                       d, out ? out->d : 0);
    cs_gpu *g = NULL;
    CS_TRY(cs_gpu_open(device, &g));
    cs_status st = cs_gpu_stats_add_f32(g, out, feat_host, (int64_t)n);
    cs_gpu_close(g);
    return st;
}
