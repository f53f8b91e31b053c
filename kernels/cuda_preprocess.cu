// pytorch-fid preprocessing on the GPU: rgb (height, width, 3) uint8 -> (3, 299, 299) float32
// = 2 * bilinear_resize_299(rgb / 255, align_corners=False) - 1.
//
// The arithmetic is host/net/preprocess.c's (torch 1.13's CPU float32 kernel) operation for
// operation; every floating-point step is an explicitly rounded intrinsic, so nvcc cannot
// contract or reorder anything and the result equals cs_preprocess_rgb bit for bit:
//   scale = (float)in / 299.0f                                      float division
//   src   = (double)scale * ((double)dst + 0.5) - 0.5, 0 if negative  double, two roundings
//   i0 = (int)src; i1 = i0 + (i0 < in - 1); l1 = (float)clamp(src - i0, 0, 1); l0 = 1 - l1
//   t0 = fmaf(p00, l0x, p01 * l1x); t1 = fmaf(p10, l0x, p11 * l1x); v = fmaf(t0, l0y, t1 * l1y)
//   out = 2 v - 1     (2 v is exact, so contracting this one would not matter either)
// One thread per output pixel computes its two axis weights (cheap) and the three channels.
#include "cuda_backend.h"

namespace {

constexpr int kOut = 299; // CS_MODEL_INPUT_SIZE

__device__ __forceinline__ void axis_weights(int in, int dst, int *i0, int *i1, float *l0, float *l1) {
    if (in == kOut) { // torch's identity special case (same result as the formula)
        *i0 = *i1 = dst;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    const float scale = __fdiv_rn((float)in, (float)kOut);
    double src = __dadd_rn(__dmul_rn((double)scale, __dadd_rn((double)dst, 0.5)), -0.5);
    if (src < 0.0) src = 0.0;
    const int a = (int)src; // truncation, as the C cast
    *i0 = a;
    *i1 = a + (a < in - 1 ? 1 : 0);
    double lam = __dsub_rn(src, (double)a);
    if (lam < 0.0) lam = 0.0;
    if (lam > 1.0) lam = 1.0;
    *l1 = __double2float_rn(lam);
    *l0 = __fsub_rn(1.0f, *l1);
}

__device__ __forceinline__ float to_unit(uint8_t v) { return __fdiv_rn((float)v, 255.0f); } // ToTensor

__global__ void preprocess_kernel(const uint8_t *__restrict__ rgb, int width, int height,
                                  float *__restrict__ out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= kOut * kOut) return;
    const int oy = i / kOut, ox = i % kOut;
    int y0, y1, x0, x1;
    float wy0, wy1, wx0, wx1;
    axis_weights(height, oy, &y0, &y1, &wy0, &wy1);
    axis_weights(width, ox, &x0, &x1, &wx0, &wx1);
    const uint8_t *r0 = rgb + (size_t)y0 * width * 3, *r1 = rgb + (size_t)y1 * width * 3;
    for (int c = 0; c < 3; c++) {
        const float a = to_unit(r0[(size_t)x0 * 3 + c]), b = to_unit(r0[(size_t)x1 * 3 + c]);
        const float d = to_unit(r1[(size_t)x0 * 3 + c]), e = to_unit(r1[(size_t)x1 * 3 + c]);
        const float t0 = __fmaf_rn(a, wx0, __fmul_rn(b, wx1));
        const float t1 = __fmaf_rn(d, wx0, __fmul_rn(e, wx1));
        const float v = __fmaf_rn(t0, wy0, __fmul_rn(t1, wy1));
        out[(size_t)c * kOut * kOut + i] = __fsub_rn(__fmul_rn(2.0f, v), 1.0f);
    }
}

} // namespace

cudaError_t cs_cuda_preprocess_rgb(cudaStream_t stream, const uint8_t *rgb, int width, int height,
                                   float *out) {
    if (width < 1 || height < 1) return cudaErrorInvalidValue;
    const int threads = 256, blocks = (kOut * kOut + threads - 1) / threads;
    preprocess_kernel<<<blocks, threads, 0, stream>>>(rgb, width, height, out);
    return cudaGetLastError();
}
