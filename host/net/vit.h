/* Vision Transformer forward pass on the CPU (internal): DINOv2 (facebookresearch/dinov2
 * hub backbones) and the vision tower of OpenAI CLIP ViT-L/14@336 (Hugging Face layout).
 *
 * A cs_vit owns a copy of its parameters (the cs_weights may be freed after creation) and one
 * workspace per thread. A batch runs one image per OpenMP thread, every op serial with
 * single-threaded OpenBLAS (core/blas.h): features are bit-identical for any thread count.
 * The ops are net/vit_ops.h. */
#ifndef CS_NET_VIT_H
#define CS_NET_VIT_H

#include "copyscope/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_vit cs_vit;

/* Architecture of a ViT kind (static table). */
typedef struct cs_vit_arch {
    cs_model_kind kind;
    const char *name;    /* "dinov2-vits14", ... */
    int dim, depth, heads, hidden; /* hidden: MLP width (SwiGLU: the gate's half) */
    int patch, input;    /* patch side, input side */
    int swiglu;          /* dinov2 vitg14: SwiGLUFFNFused (mlp.w12, mlp.w3) */
    int clip;            /* CLIP: pre_layrnorm, quick_gelu, post_layernorm, projection, no LayerScale */
    int out_dim;         /* feature size: dim, or the CLIP projection's 768 */
    float eps;           /* LayerNorm eps: 1e-6 (dinov2), 1e-5 (CLIP) */
} cs_vit_arch;

const cs_vit_arch *cs_vit_arch_get(cs_model_kind kind); /* NULL for Inception */

/* Validate w against the kind's layout (every tensor and shape; CS_E_MISMATCH naming the file
 * and tensor otherwise) and copy the parameters. The DINOv2 positional embedding is
 * interpolated once here from its grid (37 x 37 in the hub files) to the input's 16 x 16 as
 * dinov2's interpolate_pos_encoding does. any_depth: accept a depth other than the
 * architecture's (the tests' reduced-depth copies of ViT-L/G shapes); 0 in real runs.
 * threads <= 0: all cores. */
cs_status cs_vit_create(const cs_weights *w, cs_model_kind kind, int threads, int any_depth, cs_vit **out);
void cs_vit_free(cs_vit *v); /* NULL is fine */

/* Run the forward pass on CUDA GPU `device` from now on (the CUDA module's kernels/
 * cuda_vit_model.cu; the parameters are uploaded once): CS_E_UNSUPPORTED without the module,
 * CS_E_DEVICE when the GPU fails. */
cs_status cs_vit_to_gpu(cs_vit *v, int device);
/* "cuda:0 (NVIDIA H100 ..., cuBLAS fp32)" on a GPU, NULL on the CPU. */
const char *cs_vit_device_name(const cs_vit *v);

/* x (n, 3, S, S) float32 preprocessed (S = the arch's input) -> out (n, out_dim). */
cs_status cs_vit_forward(cs_vit *v, const float *x, int n, float *out);
const cs_vit_arch *cs_vit_get_arch(const cs_vit *v);
int cs_vit_depth(const cs_vit *v);

#ifdef __cplusplus
}
#endif
#endif
