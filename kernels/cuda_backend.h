// Internal to the CUDA backend (kernels/cuda_backend*.cu, kernels/cuda_preprocess.cu): the custom
// kernels' launchers. Every launcher enqueues on `stream` and returns cudaGetLastError() of its
// launch (configuration errors show there; faults inside a kernel show at the next
// synchronisation). Tensors are float32 NCHW, contiguous, device pointers; "slice" outputs are
// channels [out_c_offset, out_c_offset + c) of an (n, out_c_total, hout, wout) tensor.
#ifndef CS_CUDA_BACKEND_H
#define CS_CUDA_BACKEND_H

#include "net/backend.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

// 3x3 pools (cs_pool_params): max (NaN-propagating, like torch) and average without the padding
// count. Both combine the window's rows column by column, then the columns, in the order of the
// CPU backend's separable loop, so the average matches the CPU bit for bit.
cudaError_t cs_cuda_maxpool3(cudaStream_t stream, const cs_pool_params *p, const float *x, float *y);
cudaError_t cs_cuda_avgpool3(cudaStream_t stream, const cs_pool_params *p, const float *x, float *y);

// x (n, c, h, w) -> y (n, c): mean over h*w, summed in double (as the CPU backend).
cudaError_t cs_cuda_global_avgpool(cudaStream_t stream, int n, int c, int h, int w, const float *x,
                                   float *y);

// In place on a slice written by cuDNN: y[b, off + co, i] = relu?(y + bias[co]).
cudaError_t cs_cuda_bias_act_slice(cudaStream_t stream, const cs_conv2d_params *p, const float *bias,
                                   float *y);

// From a contiguous convolution result t (n, cout, hout, wout), float32 or float16, into the
// slice: y[b, off + co, i] = relu?(t[b, co, i] + bias[co]) (float32 arithmetic).
cudaError_t cs_cuda_bias_act_scatter_f32(cudaStream_t stream, const cs_conv2d_params *p,
                                         const float *t, const float *bias, float *y);
cudaError_t cs_cuda_bias_act_scatter_f16(cudaStream_t stream, const cs_conv2d_params *p,
                                         const __half *t, const float *bias, float *y);

// dst[i] = (half)src[i] (round to nearest even; values beyond the half range become +-inf).
cudaError_t cs_cuda_f32_to_f16(cudaStream_t stream, const float *src, __half *dst, size_t count);

// pytorch-fid preprocessing of one image on the device: rgb (height, width, 3) uint8 ->
// out (3, 299, 299) float32, the arithmetic of host/net/preprocess.c operation for operation
// (explicitly rounded intrinsics, so no contraction can change a value).
cudaError_t cs_cuda_preprocess_rgb(cudaStream_t stream, const uint8_t *rgb, int width, int height,
                                   float *out);

#endif
