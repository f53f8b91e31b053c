// The Vision Transformer forward pass on a GPU (net/vit_gpu.h; entry points in net/cuda_api.h):
// the parameters uploaded once, then for each chunk of at most kChunk images: the input uploaded,
// each image patchified and embedded (CLS + positions), every row-wise op (layer norm, linear
// layers, activations, residuals) run on the rows of all the chunk's images at once, attention
// image by image, the CLS rows gathered, normed (and for CLIP projected and L2-normalised) and
// downloaded. Ops: kernels/cuda_vit.h (checked against their CPU references by
// bench/kernels/lab_vit_cuda.cu). fp32 throughout; cuBLAS in CUBLAS_PEDANTIC_MATH (no TF32).
// Every CUDA and cuBLAS call is checked; a failure is CS_E_DEVICE naming the device, the model,
// the statement and the error.
#include "cuda_vit.h"

extern "C" {
#include "net/cuda_api.h"
#include "net/vit_gpu.h"
#include "core/common.h"
}

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

namespace {
constexpr int kChunk = 32; // images per forward chunk (CLIP-L: ~40 MB of activations each)
}

struct cs_vit_gpu {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cs_vit_gpu_desc d;
    float *params; // device copy of the parameter block
    float *x, *cols, *X, *H, *QKV, *A, *Y, *F, *G, *scratch, *cls, *hcls, *out; // device, kChunk images
    char name[192];
};

#define VG_CU(g, stmt)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (stmt);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return CS_FAIL(CS_E_DEVICE, "cuda:%d: %s forward: %s failed: %s", (g)->device,       \
                           (g)->d.name, #stmt, cudaGetErrorString(e_));                            \
    } while (0)
#define VG_BLAS(g, stmt)                                                                           \
    do {                                                                                           \
        cublasStatus_t s_ = (stmt);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return CS_FAIL(CS_E_DEVICE, "cuda:%d: %s forward: %s failed: cuBLAS status %d",       \
                           (g)->device, (g)->d.name, #stmt, (int)s_);                              \
    } while (0)
// a cuda_vit.h op that may fail in cuBLAS (linear, attention)
#define VG_OP(g, stmt)                                                                             \
    do {                                                                                           \
        cublasStatus_t bs_ = CUBLAS_STATUS_SUCCESS;                                                \
        cudaError_t e_ = (stmt);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return CS_FAIL(CS_E_DEVICE, "cuda:%d: %s forward: %s failed: %s (cuBLAS status %d)",  \
                           (g)->device, (g)->d.name, #stmt, cudaGetErrorString(e_), (int)bs_);     \
    } while (0)

namespace {

__global__ void l2norm_rows_kernel(int n, float *x) {
    __shared__ double sh[256];
    float *r = x + (size_t)blockIdx.x * n;
    double s = 0;
    for (int j = threadIdx.x; j < n; j += 256) s += (double)r[j] * r[j];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int k = 128; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) sh[threadIdx.x] += sh[threadIdx.x + k];
        __syncthreads();
    }
    const double inv = sh[0] > 0 ? 1.0 / sqrt(sh[0]) : 0.0;
    for (int j = threadIdx.x; j < n; j += 256) r[j] = (float)(r[j] * inv);
}

const float *P(const cs_vit_gpu *g, size_t off) { return off == CS_VIT_NONE ? NULL : g->params + off; }

void release(cs_vit_gpu *g) {
    float *bufs[] = {g->params, g->x, g->cols, g->X, g->H, g->QKV, g->A, g->Y, g->F, g->G, g->scratch, g->cls,
                     g->hcls, g->out};
    for (float *b : bufs)
        if (b) (void)cudaFree(b); // release path: nothing to report to
    if (g->blas) (void)cublasDestroy(g->blas);
    if (g->stream) (void)cudaStreamDestroy(g->stream);
}

cs_status alloc(cs_vit_gpu *g, float **p, size_t floats) {
    VG_CU(g, cudaMalloc((void **)p, (floats ? floats : 1) * sizeof(float)));
    return CS_OK;
}

// k images: x (k, 3, S, S) already on the device -> g->out (k, out_dim) on the device.
cs_status forward_chunk(cs_vit_gpu *g, int k) {
    const cs_vit_gpu_desc *d = &g->d;
    const int T = d->tokens, D = d->dim, Hd = d->hidden, Pn = T - 1, K = 3 * d->patch * d->patch;
    const int R = k * T, hd = D / d->heads;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const size_t in = (size_t)3 * d->input * d->input;
    cudaStream_t st = g->stream;
    for (int i = 0; i < k; i++) {
        float *Xi = g->X + (size_t)i * T * D;
        VG_CU(g, cs_cuda_vit_patchify(st, g->x + i * in, d->input, d->patch, g->cols));
        VG_OP(g, cs_cuda_vit_linear(g->blas, st, Pn, K, D, g->cols, K, P(g, d->patch_w), P(g, d->patch_b), Xi + D, D, &bs_));
        VG_CU(g, cudaMemcpyAsync(Xi, P(g, d->cls), (size_t)D * sizeof(float), cudaMemcpyDeviceToDevice, st));
        VG_CU(g, cs_cuda_vit_residual(st, T, D, Xi, P(g, d->pos), NULL));
    }
    if (d->clip) VG_CU(g, cs_cuda_vit_layernorm(st, R, D, g->X, P(g, d->pre_w), P(g, d->pre_b), d->eps, g->X));
    for (int b = 0; b < d->depth; b++) {
        const cs_vit_gpu_block *B = &d->blocks[b];
        VG_CU(g, cs_cuda_vit_layernorm(st, R, D, g->X, P(g, B->ln1_w), P(g, B->ln1_b), d->eps, g->H));
        VG_OP(g, cs_cuda_vit_linear(g->blas, st, R, D, 3 * D, g->H, D, P(g, B->qkv_w), P(g, B->qkv_b), g->QKV, 3 * D, &bs_));
        for (int i = 0; i < k; i++)
            VG_OP(g, cs_cuda_vit_attention(g->blas, st, T, d->heads, hd, scale, g->QKV + (size_t)i * T * 3 * D,
                                           g->A + (size_t)i * T * D, g->scratch, &bs_));
        VG_OP(g, cs_cuda_vit_linear(g->blas, st, R, D, D, g->A, D, P(g, B->proj_w), P(g, B->proj_b), g->Y, D, &bs_));
        VG_CU(g, cs_cuda_vit_residual(st, R, D, g->X, g->Y, P(g, B->ls1)));
        VG_CU(g, cs_cuda_vit_layernorm(st, R, D, g->X, P(g, B->ln2_w), P(g, B->ln2_b), d->eps, g->H));
        if (d->swiglu) {
            VG_OP(g, cs_cuda_vit_linear(g->blas, st, R, D, 2 * Hd, g->H, D, P(g, B->fc1_w), P(g, B->fc1_b), g->F, 2 * Hd, &bs_));
            VG_CU(g, cs_cuda_vit_swiglu(st, R, Hd, g->F, g->G));
            VG_OP(g, cs_cuda_vit_linear(g->blas, st, R, Hd, D, g->G, Hd, P(g, B->fc2_w), P(g, B->fc2_b), g->Y, D, &bs_));
        } else {
            VG_OP(g, cs_cuda_vit_linear(g->blas, st, R, D, Hd, g->H, D, P(g, B->fc1_w), P(g, B->fc1_b), g->F, Hd, &bs_));
            VG_CU(g, cs_cuda_vit_act(st, d->clip ? 1 : 0, (size_t)R * Hd, g->F));
            VG_OP(g, cs_cuda_vit_linear(g->blas, st, R, Hd, D, g->F, Hd, P(g, B->fc2_w), P(g, B->fc2_b), g->Y, D, &bs_));
        }
        VG_CU(g, cs_cuda_vit_residual(st, R, D, g->X, g->Y, P(g, B->ls2)));
    }
    // the CLS rows (k, D), normed
    VG_CU(g, cudaMemcpy2DAsync(g->cls, (size_t)D * sizeof(float), g->X, (size_t)T * D * sizeof(float),
                               (size_t)D * sizeof(float), (size_t)k, cudaMemcpyDeviceToDevice, st));
    if (!d->clip) {
        VG_CU(g, cs_cuda_vit_layernorm(st, k, D, g->cls, P(g, d->norm_w), P(g, d->norm_b), d->eps, g->out));
        return CS_OK;
    }
    VG_CU(g, cs_cuda_vit_layernorm(st, k, D, g->cls, P(g, d->norm_w), P(g, d->norm_b), d->eps, g->hcls));
    VG_OP(g, cs_cuda_vit_linear(g->blas, st, k, D, d->out_dim, g->hcls, D, P(g, d->vproj), NULL, g->out, d->out_dim, &bs_));
    l2norm_rows_kernel<<<k, 256, 0, st>>>(d->out_dim, g->out);
    VG_CU(g, cudaGetLastError());
    return CS_OK;
}

cs_status create(cs_vit_gpu *g, int device, const cs_vit_gpu_desc *desc) {
    g->device = device;
    g->d = *desc;
    g->d.params = NULL;
    snprintf(g->name, sizeof g->name, "cuda:%d", device);
    VG_CU(g, cudaSetDevice(device));
    cudaDeviceProp prop;
    VG_CU(g, cudaGetDeviceProperties(&prop, device));
    snprintf(g->name, sizeof g->name, "cuda:%d (%s, cuBLAS fp32)", device, prop.name);
    VG_CU(g, cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    VG_BLAS(g, cublasCreate(&g->blas));
    VG_BLAS(g, cublasSetStream(g->blas, g->stream));
    VG_BLAS(g, cublasSetMathMode(g->blas, CUBLAS_PEDANTIC_MATH)); // fp32, never TF32
    CS_TRY(alloc(g, &g->params, desc->nparams));
    VG_CU(g, cudaMemcpy(g->params, desc->params, desc->nparams * sizeof(float), cudaMemcpyHostToDevice));
    const size_t T = (size_t)desc->tokens, D = (size_t)desc->dim, H = (size_t)desc->hidden, C = kChunk;
    const size_t f = desc->swiglu ? 2 * H : H;
    CS_TRY(alloc(g, &g->x, C * 3 * (size_t)desc->input * desc->input));
    CS_TRY(alloc(g, &g->cols, (T - 1) * 3 * (size_t)desc->patch * desc->patch));
    CS_TRY(alloc(g, &g->X, C * T * D));
    CS_TRY(alloc(g, &g->H, C * T * D));
    CS_TRY(alloc(g, &g->QKV, C * T * 3 * D));
    CS_TRY(alloc(g, &g->A, C * T * D));
    CS_TRY(alloc(g, &g->Y, C * T * D));
    CS_TRY(alloc(g, &g->F, C * T * f));
    CS_TRY(alloc(g, &g->G, desc->swiglu ? C * T * H : 1));
    CS_TRY(alloc(g, &g->scratch, cs_cuda_vit_attention_scratch((int)T, desc->heads, desc->dim / desc->heads)));
    CS_TRY(alloc(g, &g->cls, C * D));
    CS_TRY(alloc(g, &g->hcls, C * D));
    CS_TRY(alloc(g, &g->out, C * (size_t)desc->out_dim));
    return CS_OK;
}

} // namespace

extern "C" cs_status cs_vit_gpu_create(int device, const cs_vit_gpu_desc *desc, cs_vit_gpu **out) {
    *out = NULL;
    if (desc->depth < 1 || desc->depth > CS_VIT_GPU_MAX_DEPTH || desc->dim % desc->heads != 0)
        return CS_FAIL(CS_E_USAGE, "ViT GPU model: bad architecture");
    cs_vit_gpu *g = (cs_vit_gpu *)cs_calloc(1, sizeof *g, "ViT GPU model");
    if (!g) return CS_E_NOMEM;
    cs_status st = create(g, device, desc);
    if (st != CS_OK) {
        release(g);
        free(g);
        return st;
    }
    *out = g;
    return CS_OK;
}

extern "C" void cs_vit_gpu_free(cs_vit_gpu *g) {
    if (!g) return;
    release(g);
    free(g);
}

extern "C" const char *cs_vit_gpu_name(const cs_vit_gpu *g) { return g->name; }

extern "C" cs_status cs_vit_gpu_forward(cs_vit_gpu *g, const float *x, int n, float *out) {
    const size_t in = (size_t)3 * g->d.input * g->d.input;
    VG_CU(g, cudaSetDevice(g->device));
    for (int i = 0; i < n; i += kChunk) {
        const int k = n - i < kChunk ? n - i : kChunk;
        VG_CU(g, cudaMemcpyAsync(g->x, x + (size_t)i * in, (size_t)k * in * sizeof(float), cudaMemcpyHostToDevice,
                                 g->stream));
        CS_TRY(forward_chunk(g, k));
        VG_CU(g, cudaMemcpyAsync(out + (size_t)i * g->d.out_dim, g->out, (size_t)k * g->d.out_dim * sizeof(float),
                                 cudaMemcpyDeviceToHost, g->stream));
        VG_CU(g, cudaStreamSynchronize(g->stream));
    }
    return CS_OK;
}
