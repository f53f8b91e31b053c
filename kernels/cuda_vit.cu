// Vision Transformer ops on the GPU (kernels/cuda_vit.h): custom kernels for the memory-bound
// steps, cuBLAS for the GEMMs. Each kernel is the CPU op's arithmetic (host/net/vit_ops_cpu.c):
// reductions in double, elementwise steps in float32.
#include "cuda_vit.h"

#include <math.h>

namespace {

constexpr int kThreads = 256;

// Sum of v over the block (all threads get it); sh: kThreads doubles of shared memory.
__device__ double block_sum(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

__device__ float block_max(float v, float *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

// One block per row.
__global__ void layernorm_kernel(int d, const float *x, const float *w, const float *b, float eps, float *y) {
    __shared__ double sh[kThreads];
    const float *xi = x + (size_t)blockIdx.x * d;
    float *yi = y + (size_t)blockIdx.x * d;
    double s = 0;
    for (int j = threadIdx.x; j < d; j += kThreads) s += xi[j];
    const double mean = block_sum(s, sh) / d;
    double q = 0;
    for (int j = threadIdx.x; j < d; j += kThreads) {
        double c = xi[j] - mean;
        q += c * c;
    }
    const double var = block_sum(q, sh) / d;
    const float inv = (float)(1.0 / sqrt(var + (double)eps)), mf = (float)mean;
    for (int j = threadIdx.x; j < d; j += kThreads) yi[j] = (xi[j] - mf) * inv * w[j] + b[j];
}

__global__ void act_kernel(int kind, size_t n, float *x) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float v = x[i];
        x[i] = kind == 0 ? 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)) : v / (1.0f + expf(-1.702f * v));
    }
}

__global__ void swiglu_kernel(int t, int h, const float *x, float *y) {
    const size_t n = (size_t)t * h;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / h, j = i % h;
        const float a = x[r * 2 * h + j], g = x[r * 2 * h + h + j];
        y[i] = a / (1.0f + expf(-a)) * g;
    }
}

__global__ void residual_kernel(int t, int d, float *x, const float *y, const float *gamma) {
    const size_t n = (size_t)t * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] += gamma ? gamma[i % d] * y[i] : y[i];
}

__global__ void patchify_kernel(const float *img, int s, int p, float *cols) {
    const int g = s / p, k = 3 * p * p;
    const size_t n = (size_t)g * g * k;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int patch = (int)(i / k), col = (int)(i % k);
        const int py = patch / g, px = patch % g, c = col / (p * p), ky = (col / p) % p, kx = col % p;
        cols[i] = img[((size_t)c * s + (size_t)py * p + ky) * s + (size_t)px * p + kx];
    }
}

__global__ void bias_rows_kernel(int t, int dout, const float *b, float *y, int ldy) {
    const size_t n = (size_t)t * dout;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[(i / dout) * ldy + i % dout] = b[i % dout];
}

// One block per row: max, exp, sum (double), scale (the CPU op's order of steps).
__global__ void softmax_rows_kernel(int n, float *x) {
    __shared__ double sh[kThreads];
    __shared__ float shf[kThreads];
    float *r = x + (size_t)blockIdx.x * n;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < n; j += kThreads) m = fmaxf(m, r[j]);
    m = block_max(m, shf);
    double s = 0;
    for (int j = threadIdx.x; j < n; j += kThreads) {
        r[j] = expf(r[j] - m);
        s += r[j];
    }
    const float inv = (float)(1.0 / block_sum(s, sh));
    for (int j = threadIdx.x; j < n; j += kThreads) r[j] *= inv;
}

// q (t, heads hd) = qkv[:, :heads hd] * scale
__global__ void scale_q_kernel(int t, int d, float scale, const float *qkv, float *q) {
    const size_t n = (size_t)t * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        q[i] = qkv[(i / d) * 3 * (size_t)d + i % d] * scale;
}

unsigned grid_for(size_t n) {
    size_t g = (n + kThreads - 1) / kThreads;
    return (unsigned)(g < 1 ? 1 : g > 65535 ? 65535 : g);
}

} // namespace

cudaError_t cs_cuda_vit_layernorm(cudaStream_t stream, int t, int d, const float *x, const float *w, const float *b,
                                  float eps, float *y) {
    if (t > 0) layernorm_kernel<<<t, kThreads, 0, stream>>>(d, x, w, b, eps, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_vit_act(cudaStream_t stream, int kind, size_t n, float *x) {
    if (n) act_kernel<<<grid_for(n), kThreads, 0, stream>>>(kind, n, x);
    return cudaGetLastError();
}

cudaError_t cs_cuda_vit_swiglu(cudaStream_t stream, int t, int h, const float *x, float *y) {
    if (t > 0 && h > 0) swiglu_kernel<<<grid_for((size_t)t * h), kThreads, 0, stream>>>(t, h, x, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_vit_residual(cudaStream_t stream, int t, int d, float *x, const float *y, const float *gamma) {
    if (t > 0 && d > 0) residual_kernel<<<grid_for((size_t)t * d), kThreads, 0, stream>>>(t, d, x, y, gamma);
    return cudaGetLastError();
}

cudaError_t cs_cuda_vit_patchify(cudaStream_t stream, const float *img, int s, int p, float *cols) {
    const size_t n = (size_t)(s / p) * (s / p) * 3 * p * p;
    if (n) patchify_kernel<<<grid_for(n), kThreads, 0, stream>>>(img, s, p, cols);
    return cudaGetLastError();
}

cudaError_t cs_cuda_vit_softmax_rows(cudaStream_t stream, int rows, int n, float *x) {
    if (rows > 0) softmax_rows_kernel<<<rows, kThreads, 0, stream>>>(n, x);
    return cudaGetLastError();
}

cudaError_t cs_cuda_vit_linear(cublasHandle_t blas, cudaStream_t stream, int t, int din, int dout, const float *x,
                               int ldx, const float *w, const float *b, float *y, int ldy, cublasStatus_t *blas_status) {
    *blas_status = CUBLAS_STATUS_SUCCESS;
    if (b) {
        bias_rows_kernel<<<grid_for((size_t)t * dout), kThreads, 0, stream>>>(t, dout, b, y, ldy);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    // row-major Y = X W^T is column-major Y^T (dout x t) = W (din x dout, transposed) X^T (din x t)
    const float one = 1.0f, beta = b ? 1.0f : 0.0f;
    *blas_status = cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, dout, t, din, &one, w, din, x, ldx, &beta, y, ldy);
    return *blas_status == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

size_t cs_cuda_vit_attention_scratch(int t, int heads, int hd) {
    return (size_t)t * heads * hd + (size_t)heads * t * t;
}

cudaError_t cs_cuda_vit_attention(cublasHandle_t blas, cudaStream_t stream, int t, int heads, int hd, float scale,
                                  const float *qkv, float *out, float *scratch, cublasStatus_t *blas_status) {
    const int d = heads * hd;
    float *q = scratch, *s = scratch + (size_t)t * d; // (t, d) scaled queries; (heads, t, t) logits
    *blas_status = CUBLAS_STATUS_SUCCESS;
    scale_q_kernel<<<grid_for((size_t)t * d), kThreads, 0, stream>>>(t, d, scale, qkv, q);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    const float one = 1.0f, zero = 0.0f;
    // per head: S (t x t, row-major) = Q_h K_h^T, i.e. column-major S^T = K_h^T' Q_h^T
    *blas_status = cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, t, t, hd, &one, qkv + d, 3 * d, hd, q, d,
                                             hd, &zero, s, t, (long long)t * t, heads);
    if (*blas_status != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    e = cs_cuda_vit_softmax_rows(stream, heads * t, t, s);
    if (e != cudaSuccess) return e;
    // per head: O_h (t x hd, row-major, row stride d) = P_h V_h
    *blas_status = cublasSgemmStridedBatched(blas, CUBLAS_OP_N, CUBLAS_OP_N, hd, t, t, &one, qkv + 2 * (size_t)d,
                                             3 * d, hd, s, t, (long long)t * t, &zero, out, d, hd, heads);
    return *blas_status == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}
