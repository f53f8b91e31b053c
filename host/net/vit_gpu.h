/* The Vision Transformer forward pass on a GPU (internal): what host/net/vit.c hands the CUDA
 * module (kernels/cuda_vit_model.cu, entry points in net/cuda_api.h). The model's parameters
 * are one float block; every tensor is given as its offset in floats into it (CS_VIT_NONE when
 * the architecture has no such tensor: CLIP's LayerScale and patch bias, DINOv2's pre-norm and
 * projection). The module uploads the block once; ops are kernels/cuda_vit.h. */
#ifndef CS_NET_VIT_GPU_H
#define CS_NET_VIT_GPU_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_VIT_NONE ((size_t)-1)
#define CS_VIT_GPU_MAX_DEPTH 64

typedef struct cs_vit_gpu_block {
    size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ls1;
    size_t ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b, ls2;
} cs_vit_gpu_block;

typedef struct cs_vit_gpu_desc {
    const char *name;                /* "dinov2-vitl14", ... (messages) */
    int dim, depth, heads, hidden;   /* hidden: MLP width (SwiGLU: the gate's half) */
    int patch, input, tokens;        /* patch side, input side, 1 + (input / patch)^2 */
    int swiglu, clip, out_dim;
    float eps;
    const float *params;             /* host: the parameter block (read during create only) */
    size_t nparams;                  /* floats */
    size_t patch_w, patch_b, cls, pos, pre_w, pre_b, norm_w, norm_b, vproj;
    cs_vit_gpu_block blocks[CS_VIT_GPU_MAX_DEPTH];
} cs_vit_gpu_desc;

typedef struct cs_vit_gpu cs_vit_gpu;

/* In the CUDA module, reached through the forwarding functions of host/net/cuda_module.c
 * (CS_E_UNSUPPORTED without a module). create uploads desc->params (which may be freed after);
 * forward: x (n, 3, S, S) host float32 preprocessed -> out (n, out_dim) host; it returns when out
 * is filled. CS_E_DEVICE on a CUDA or cuBLAS failure, naming the device and the statement. */
cs_status cs_vit_gpu_create(int device, const cs_vit_gpu_desc *desc, cs_vit_gpu **out);
void cs_vit_gpu_free(cs_vit_gpu *g); /* NULL is fine */
const char *cs_vit_gpu_name(const cs_vit_gpu *g);
cs_status cs_vit_gpu_forward(cs_vit_gpu *g, const float *x, int n, float *out);

#ifdef __cplusplus
}
#endif
#endif
