// Internal to kernels/cuda_{stats,fid,metrics}.cu: the cs_gpu context, checked CUDA / cuBLAS /
// cuSOLVER calls, RAII buffers and the small kernels the three files share. Not a public header.
//
// Error handling: every call that can fail goes through CS_CUDA / CS_CUBLAS / CS_CUSOLVER (or
// CS_LAUNCHED after a kernel launch), which return CS_E_DEVICE from the enclosing function with a
// message "cuda:0 (NVIDIA H100 ...), <operation>: <call> failed: <error>" recorded at the call's
// file and line. Functions using them return cs_status; buffers are RAII (cs_dev / cs_host), so an
// early return frees everything.
#ifndef CS_CUDA_MATH_CUH
#define CS_CUDA_MATH_CUH

#include "fid/gpu_math.h"

extern "C" {
#include "core/common.h"
}

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include "cuda_release.cuh"

#include <math.h>
#include <stdint.h>
#include <string.h>

struct cs_gpu {
    int device;
    cudaStream_t stream;        // every kernel, copy, cuBLAS and cuSOLVER call of this context
    cublasHandle_t blas;        // bound to stream
    cusolverDnHandle_t solver;  // bound to stream
    const char *op;             // the public operation in progress, for messages ("GPU statistics")
    char name[192];             // "cuda:0 (NVIDIA H100 80GB HBM3)"
};

// ---- error reporting (cuda_stats.cu) ------------------------------------------------------------
cs_status cs_gpu_fail_cuda(const cs_gpu *g, cudaError_t e, const char *call, const char *file, int line);
cs_status cs_gpu_fail_cublas(const cs_gpu *g, cublasStatus_t e, const char *call, const char *file,
                             int line);
cs_status cs_gpu_fail_cusolver(const cs_gpu *g, cusolverStatus_t e, const char *call,
                               const char *file, int line);
// cuSOLVER's devInfo: > 0 = no convergence (CS_E_NUMERIC), < 0 = bad argument (CS_E_INTERNAL).
cs_status cs_gpu_fail_info(const cs_gpu *g, const char *routine, int info, const char *file, int line);
cs_status cs_gpu_alloc_bytes(const cs_gpu *g, void **p, size_t count, size_t elem, const char *what,
                             const char *file, int line);
// Select g's device on this host thread and name the operation for messages.
cs_status cs_gpu_enter(cs_gpu *g, const char *op, const char *file, int line);

#define CS_CUDA(g, call)                                                                           \
    do {                                                                                           \
        cudaError_t cs_e_ = (call);                                                                \
        if (cs_e_ != cudaSuccess) return cs_gpu_fail_cuda((g), cs_e_, #call, __FILE__, __LINE__);  \
    } while (0)
#define CS_CUBLAS(g, call)                                                                         \
    do {                                                                                           \
        cublasStatus_t cs_e_ = (call);                                                             \
        if (cs_e_ != CUBLAS_STATUS_SUCCESS)                                                        \
            return cs_gpu_fail_cublas((g), cs_e_, #call, __FILE__, __LINE__);                      \
    } while (0)
#define CS_CUSOLVER(g, call)                                                                       \
    do {                                                                                           \
        cusolverStatus_t cs_e_ = (call);                                                           \
        if (cs_e_ != CUSOLVER_STATUS_SUCCESS)                                                      \
            return cs_gpu_fail_cusolver((g), cs_e_, #call, __FILE__, __LINE__);                    \
    } while (0)
// After a <<<...>>> launch: launch errors (bad configuration) now, execution errors at the next
// synchronising call (which is checked too).
#define CS_LAUNCHED(g, kernel)                                                                     \
    do {                                                                                           \
        cudaError_t cs_e_ = cudaGetLastError();                                                    \
        if (cs_e_ != cudaSuccess)                                                                  \
            return cs_gpu_fail_cuda((g), cs_e_, "launch of " #kernel, __FILE__, __LINE__);         \
    } while (0)
#define CS_INFO(g, routine, info)                                                                  \
    do {                                                                                           \
        int cs_i_ = (info);                                                                        \
        if (cs_i_ != 0) return cs_gpu_fail_info((g), routine, cs_i_, __FILE__, __LINE__);          \
    } while (0)
#define CS_GPU_ENTER(g, op) CS_TRY(cs_gpu_enter((g), (op), __FILE__, __LINE__))

// ---- RAII buffers ----------------------------------------------------------------------------
template <typename T> struct cs_dev { // device memory, cudaFree'd on scope exit
    T *p = nullptr;
    cs_dev() = default;
    cs_dev(const cs_dev &) = delete;
    cs_dev &operator=(const cs_dev &) = delete;
    ~cs_dev() { // a scope's exit: nobody to report to (kernels/cuda_release.cuh)
        if (p) cs_cuda_released(cudaFree(p));
    }
    T *release() {
        T *q = p;
        p = nullptr;
        return q;
    }
};
template <typename T> struct cs_host { // host memory, free'd on scope exit
    T *p = nullptr;
    cs_host() = default;
    cs_host(const cs_host &) = delete;
    cs_host &operator=(const cs_host &) = delete;
    ~cs_host() { free(p); }
    T &operator[](size_t i) { return p[i]; }
    const T &operator[](size_t i) const { return p[i]; }
};

// Allocate `count` elements (overflow-checked); CS_E_DEVICE naming the size and what on failure.
#define CS_DALLOC(g, buf, count, what)                                                             \
    CS_TRY(cs_gpu_alloc_bytes((g), (void **)&(buf).p, (size_t)(count), sizeof(*(buf).p), (what),  \
                              __FILE__, __LINE__))
#define CS_HALLOC(buf, count, what)                                                                \
    do {                                                                                           \
        size_t cs_n_;                                                                              \
        if (!cs_mul_size((size_t)(count), sizeof(*(buf).p), &cs_n_))                               \
            return CS_FAIL(CS_E_NOMEM, "%s: size overflow", (what));                               \
        (buf).p = (decltype((buf).p))cs_malloc(cs_n_ ? cs_n_ : 1, (what));                         \
        if (!(buf).p) return CS_E_NOMEM;                                                           \
    } while (0)

// Copies on g's stream; a download waits for its data (the stream is synchronised).
#define CS_UPLOAD(g, dst, src, count)                                                              \
    CS_CUDA(g, cudaMemcpyAsync((dst), (src), (size_t)(count) * sizeof(*(src)),                     \
                               cudaMemcpyHostToDevice, (g)->stream))
#define CS_DOWNLOAD(g, dst, src, count)                                                            \
    do {                                                                                           \
        CS_CUDA(g, cudaMemcpyAsync((dst), (src), (size_t)(count) * sizeof(*(dst)),                 \
                                   cudaMemcpyDeviceToHost, (g)->stream));                          \
        CS_CUDA(g, cudaStreamSynchronize((g)->stream));                                            \
    } while (0)

static inline unsigned cs_grid(size_t n, unsigned block) {
    size_t b = (n + block - 1) / block;
    return (unsigned)(b < 1 ? 1 : (b > 65535u * 32u ? 65535u * 32u : b));
}

// ---- shared kernels ------------------------------------------------------------------------
// Kernels and the functions they call use explicitly rounded double operations (__dadd_rn,
// __dmul_rn, ...) where the CPU's result is to be reproduced bit for bit: nvcc would otherwise
// contract a * b + c into an FMA, which the CPU build (x86-64 without -mfma) never does.

// y (count) float64 = x (count) float32; the smallest flat index (base + i) of a non-finite x goes
// to *bad (initialised to ~0ull by the caller).
static __global__ void cs_k_f32_to_f64(const float *__restrict__ x, size_t count,
                                       double *__restrict__ y, unsigned long long base,
                                       unsigned long long *bad) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i];
        if (!isfinite(v)) atomicMin(bad, base + (unsigned long long)i);
        y[i] = (double)v;
    }
}

// Non-finite check of float64 data (count), same contract as above.
static __global__ void cs_k_check_f64(const double *__restrict__ x, size_t count,
                                      unsigned long long *bad) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        if (!isfinite(x[i])) atomicMin(bad, (unsigned long long)i);
}

// Column means of x (n, d) row-major float64: one thread per column, rows summed in order (the
// CPU's sequential sum, bit for bit), then divided by n.
static __global__ void cs_k_col_mean(const double *__restrict__ x, int64_t n, int d,
                                     double *__restrict__ mean) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s = __dadd_rn(s, x[(size_t)i * d + j]);
    mean[j] = s / (double)n;
}

// x (n, d) row-major -= mean (d) per column; colss (d, may be NULL) = per-column sum of squares of
// the centred values.
static __global__ void cs_k_center_cols(double *__restrict__ x, int64_t n, int d,
                                        const double *__restrict__ mean, double *__restrict__ colss) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    double m = mean[j], ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = __dsub_rn(x[(size_t)i * d + j], m);
        x[(size_t)i * d + j] = v;
        ss = __dadd_rn(ss, __dmul_rn(v, v));
    }
    if (colss) colss[j] = ss;
}

// a (n, n) column-major: copy the upper triangle (i < j, at i + j n) to the lower one.
static __global__ void cs_k_sym_from_upper(double *a, int64_t n) {
    size_t total = (size_t)n * (size_t)n;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t i = t % (size_t)n, j = t / (size_t)n;
        if (i > j) a[t] = a[j + i * (size_t)n];
    }
}

// ---- shared host helpers (cuda_fid.cu) ---------------------------------------------------------
// Sum of the singular values (those > 0) of a (m, n) column-major, m >= n, on the device (a is
// destroyed): cusolverDnDgesvd, values only.
cs_status cs_gpu_nuclear_norm(cs_gpu *g, double *a, int m, int n, double *out);

#endif
