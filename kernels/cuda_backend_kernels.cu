// The CUDA backend's custom kernels (launchers declared in cuda_backend.h): 3x3 max/avg pools and
// the global average pool written into channel slices, the bias + ReLU epilogues used when cuDNN's
// fused path is not taken, and the float32 -> float16 conversion of the fp16 mode.
//
// All are memory-bound one-pass kernels: a thread per output element (grid-stride loop, 64-bit
// indices), coalesced along the innermost (w) axis. Arithmetic uses explicitly rounded
// intrinsics (__fadd_rn, __fdiv_rn) where the result must equal the CPU backend's bit for bit.
#include "cuda_backend.h"

namespace {

constexpr int kThreads = 256;

unsigned grid_for(size_t total) {
    size_t blocks = (total + kThreads - 1) / kThreads;
    const size_t cap = (size_t)1 << 20; // grid-stride beyond ~268M elements
    if (blocks > cap) blocks = cap;
    return blocks ? (unsigned)blocks : 1u;
}

// NaN-propagating max, as torch's max_pool2d (and the CPU backend's max_nan).
__device__ __forceinline__ float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

// One output element per thread. The window is clipped to the image (count_include_pad=False
// for the average); rows are combined per column first, then the columns left to right: the
// CPU backend's separable order, so float sums round identically.
template <bool IS_MAX>
__global__ void pool3_kernel(cs_pool_params p, const float *__restrict__ x, float *__restrict__ y) {
    const size_t total = (size_t)p.n * p.c * p.hout * p.wout;
    const size_t hw_out = (size_t)p.hout * p.wout;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int ox = (int)(i % p.wout);
        size_t t = i / p.wout;
        const int oy = (int)(t % p.hout);
        t /= p.hout;
        const int ch = (int)(t % p.c);
        const int b = (int)(t / p.c);
        int y0 = oy * p.stride - p.pad, y1 = y0 + 3, x0 = ox * p.stride - p.pad, x1 = x0 + 3;
        if (y0 < 0) y0 = 0;
        if (y1 > p.h) y1 = p.h;
        if (x0 < 0) x0 = 0;
        if (x1 > p.w) x1 = p.w;
        const float *xc = x + ((size_t)b * p.c + ch) * p.h * p.w;
        float acc = 0.0f;
        for (int ix = x0; ix < x1; ix++) {
            float col = xc[(size_t)y0 * p.w + ix];
            for (int iy = y0 + 1; iy < y1; iy++) {
                const float v = xc[(size_t)iy * p.w + ix];
                col = IS_MAX ? max_nan(col, v) : __fadd_rn(col, v);
            }
            acc = ix == x0 ? col : (IS_MAX ? max_nan(acc, col) : __fadd_rn(acc, col));
        }
        if (!IS_MAX) acc = __fdiv_rn(acc, (float)((y1 - y0) * (x1 - x0)));
        y[((size_t)b * p.out_c_total + p.out_c_offset + ch) * hw_out + (size_t)oy * p.wout + ox] = acc;
    }
}

// One warp per (image, channel) plane; double accumulation like the CPU backend, so the
// float32 result is the correctly rounded mean in practice whatever the summation order.
__global__ void gap_kernel(int nc, int hw, const float *__restrict__ x, float *__restrict__ y) {
    const int lane = threadIdx.x & 31;
    const size_t warp = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t plane = warp; plane < (size_t)nc; plane += nwarps) { // uniform across the warp
        const float *xp = x + plane * (size_t)hw;
        double acc = 0.0;
        for (int k = lane; k < hw; k += 32) acc += (double)xp[k];
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) y[plane] = (float)(acc / (double)hw);
    }
}

__device__ __forceinline__ float act(float v, int relu) {
    return relu && v < 0.0f ? 0.0f : v; // NaN stays NaN, as torch's relu
}

__global__ void bias_act_slice_kernel(cs_conv2d_params p, const float *__restrict__ bias, float *y) {
    const size_t hw = (size_t)p.hout * p.wout, total = (size_t)p.n * p.cout * hw;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t k = i % hw, t = i / hw;
        const int co = (int)(t % p.cout), b = (int)(t / p.cout);
        float *dst = y + ((size_t)b * p.out_c_total + p.out_c_offset + co) * hw + k;
        *dst = act(__fadd_rn(*dst, bias ? bias[co] : 0.0f), p.relu);
    }
}

template <typename T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }

template <typename T>
__global__ void bias_act_scatter_kernel(cs_conv2d_params p, const T *__restrict__ t,
                                        const float *__restrict__ bias, float *__restrict__ y) {
    const size_t hw = (size_t)p.hout * p.wout, total = (size_t)p.n * p.cout * hw;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t k = i % hw, q = i / hw; // q = b * cout + co: t is (n, cout, hw) contiguous
        const int co = (int)(q % p.cout), b = (int)(q / p.cout);
        y[((size_t)b * p.out_c_total + p.out_c_offset + co) * hw + k] =
            act(__fadd_rn(to_f32(t[i]), bias ? bias[co] : 0.0f), p.relu);
    }
}

__global__ void f32_to_f16_kernel(const float *__restrict__ src, __half *__restrict__ dst, size_t count) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2half_rn(src[i]);
}

} // namespace

cudaError_t cs_cuda_maxpool3(cudaStream_t stream, const cs_pool_params *p, const float *x, float *y) {
    const size_t total = (size_t)p->n * p->c * p->hout * p->wout;
    if (!total) return cudaSuccess;
    pool3_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(*p, x, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_avgpool3(cudaStream_t stream, const cs_pool_params *p, const float *x, float *y) {
    const size_t total = (size_t)p->n * p->c * p->hout * p->wout;
    if (!total) return cudaSuccess;
    pool3_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(*p, x, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_global_avgpool(cudaStream_t stream, int n, int c, int h, int w, const float *x,
                                   float *y) {
    const size_t planes = (size_t)n * c;
    if (!planes || h * w <= 0) return cudaSuccess;
    gap_kernel<<<grid_for(planes * 32), kThreads, 0, stream>>>(n * c, h * w, x, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_bias_act_slice(cudaStream_t stream, const cs_conv2d_params *p, const float *bias,
                                   float *y) {
    const size_t total = (size_t)p->n * p->cout * p->hout * p->wout;
    if (!total) return cudaSuccess;
    bias_act_slice_kernel<<<grid_for(total), kThreads, 0, stream>>>(*p, bias, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_bias_act_scatter_f32(cudaStream_t stream, const cs_conv2d_params *p,
                                         const float *t, const float *bias, float *y) {
    const size_t total = (size_t)p->n * p->cout * p->hout * p->wout;
    if (!total) return cudaSuccess;
    bias_act_scatter_kernel<float><<<grid_for(total), kThreads, 0, stream>>>(*p, t, bias, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_bias_act_scatter_f16(cudaStream_t stream, const cs_conv2d_params *p,
                                         const __half *t, const float *bias, float *y) {
    const size_t total = (size_t)p->n * p->cout * p->hout * p->wout;
    if (!total) return cudaSuccess;
    bias_act_scatter_kernel<__half><<<grid_for(total), kThreads, 0, stream>>>(*p, t, bias, y);
    return cudaGetLastError();
}

cudaError_t cs_cuda_f32_to_f16(cudaStream_t stream, const float *src, __half *dst, size_t count) {
    if (!count) return cudaSuccess;
    f32_to_f16_kernel<<<grid_for(count), kThreads, 0, stream>>>(src, dst, count);
    return cudaGetLastError();
}
