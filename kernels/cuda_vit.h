// Vision Transformer ops on the GPU (internal): the CUDA counterparts of host/net/vit_ops.h, on
// device pointers, row-major float32, enqueued on `stream`. The custom kernels (layer norm, the
// activations, the row softmax, the LayerScale residual, patchify, bias rows) return
// cudaGetLastError() of their launch; the GEMM ops (linear, attention) use cuBLAS on `blas`,
// whose stream and math mode are the caller's (fp32: CUBLAS_PEDANTIC_MATH or DEFAULT_MATH
// without TF32), and return the first failing status as cudaErrorUnknown with the cuBLAS status
// in *blas_status. The kernel lab (bench/kernels/lab_vit_cuda.cu, ctest gpu_vit_kernel_lab)
// checks every op against its CPU reference (cs_ref_vit_*). Not yet used by the model: the
// Vision Transformers run on the CPU backend until these ops are checked on a device.
#ifndef CS_CUDA_VIT_H
#define CS_CUDA_VIT_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>

// y (t, d) = layer_norm(x) * w + b (mean and biased variance in double, eps inside the root).
cudaError_t cs_cuda_vit_layernorm(cudaStream_t stream, int t, int d, const float *x, const float *w, const float *b,
                                  float eps, float *y);
// In place over n values: kind 0 exact GELU (erff), 1 quick_gelu x sigmoid(1.702 x).
cudaError_t cs_cuda_vit_act(cudaStream_t stream, int kind, size_t n, float *x);
// y (t, h) = silu(x[:, :h]) * x[:, h:] for x (t, 2h).
cudaError_t cs_cuda_vit_swiglu(cudaStream_t stream, int t, int h, const float *x, float *y);
// x (t, d) += gamma (d) * y (t, d); gamma NULL: x += y.
cudaError_t cs_cuda_vit_residual(cudaStream_t stream, int t, int d, float *x, const float *y, const float *gamma);
// img (3, s, s) -> cols (g*g, 3*p*p), g = s / p (cs_vit_patchify's layout).
cudaError_t cs_cuda_vit_patchify(cudaStream_t stream, const float *img, int s, int p, float *cols);
// Softmax of each of the rows rows of x (rows, n) in place (max subtracted, sum in double).
cudaError_t cs_cuda_vit_softmax_rows(cudaStream_t stream, int rows, int n, float *x);

// y (t, dout) (row stride ldy) = x (t, din) (row stride ldx) W^T + b; W (dout, din); b may be NULL.
cudaError_t cs_cuda_vit_linear(cublasHandle_t blas, cudaStream_t stream, int t, int din, int dout, const float *x,
                               int ldx, const float *w, const float *b, float *y, int ldy, cublasStatus_t *blas_status);
// Multi-head attention of one image (cs_vit_attention's layout): qkv (t, 3 heads hd) -> out
// (t, heads hd). scratch: cs_cuda_vit_attention_scratch(t, heads, hd) floats.
size_t cs_cuda_vit_attention_scratch(int t, int heads, int hd);
cudaError_t cs_cuda_vit_attention(cublasHandle_t blas, cudaStream_t stream, int t, int heads, int hd, float scale,
                                  const float *qkv, float *out, float *scratch, cublasStatus_t *blas_status);

#endif
