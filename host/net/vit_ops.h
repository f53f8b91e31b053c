/* Vision Transformer ops on the CPU (internal): the readable reference of each op (cs_ref_vit_*,
 * naive loops accumulating in double) beside the fast one (cs_vit_*: OpenBLAS sgemm, fused
 * loops). tests/test_vit_ops.c checks every fast op against its reference and both against
 * PyTorch (tests/vit_ops_ref.py).
 *
 * Every matrix is row-major float32, one row per token. The fast ops are serial: the model
 * (vit.c) runs one image per OpenMP thread, each op on one OpenBLAS thread (core/blas.h), so
 * a feature's bits never depend on the thread count. Scratch buffers are the caller's. */
#ifndef CS_NET_VIT_OPS_H
#define CS_NET_VIT_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y (t, d) = layer_norm(x (t, d)) * w + b, eps inside the square root (torch.nn.LayerNorm:
 * biased variance). y may equal x. */
void cs_vit_layernorm(int t, int d, const float *x, const float *w, const float *b, float eps, float *y);
void cs_ref_vit_layernorm(int t, int d, const float *x, const float *w, const float *b, float eps, float *y);

/* y (t, dout) = x (t, din) W^T + b, W (dout, din) as torch.nn.Linear stores it; b may be NULL.
 * ldx, ldy: row strides of x and y (>= din, >= dout). */
void cs_vit_linear(int t, int din, int dout, const float *x, int ldx, const float *w, const float *b,
                   float *y, int ldy);
void cs_ref_vit_linear(int t, int din, int dout, const float *x, int ldx, const float *w, const float *b,
                       float *y, int ldy);

/* Activations in place over n values: exact GELU 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU()),
 * quick_gelu x sigmoid(1.702 x) (OpenAI CLIP). */
void cs_vit_gelu(size_t n, float *x);
void cs_ref_vit_gelu(size_t n, float *x);
void cs_vit_quick_gelu(size_t n, float *x);
void cs_ref_vit_quick_gelu(size_t n, float *x);
/* SwiGLU gate: x (t, 2h) = [x1 | x2] -> y (t, h) = silu(x1) * x2 (dinov2's SwiGLUFFN). */
void cs_vit_swiglu(int t, int h, const float *x, float *y);
void cs_ref_vit_swiglu(int t, int h, const float *x, float *y);

/* Multi-head softmax attention of one image. qkv (t, 3d) = [q | k | v], each (t, heads * hd)
 * head-major (torch's reshape(t, 3, heads, hd)); out (t, d) = concat over heads of
 * softmax((q * scale) k^T) v. scratch: cs_vit_attention_scratch(t) floats. */
size_t cs_vit_attention_scratch(int t);
void cs_vit_attention(int t, int heads, int hd, float scale, const float *qkv, float *out, float *scratch);
void cs_ref_vit_attention(int t, int heads, int hd, float scale, const float *qkv, float *out);

/* Residual with LayerScale: x (t, d) += gamma (d) * y (t, d); gamma NULL means 1 (no LayerScale). */
void cs_vit_residual(int t, int d, float *x, const float *y, const float *gamma);
void cs_ref_vit_residual(int t, int d, float *x, const float *y, const float *gamma);

/* Patch embedding input: img (3, s, s) -> cols (g*g, 3*p*p), g = s / p, one row per patch in
 * row-major patch order, columns in conv-weight order (c, ky, kx). */
void cs_vit_patchify(const float *img, int s, int p, float *cols);

/* torch.nn.functional.interpolate(mode="bicubic", align_corners=False, antialias=False) of
 * src (m, m, d) (channels last) to dst (oh, ow, d) with the scale factors the caller gave
 * interpolate (scale_factor=(sh, sw), recompute_scale_factor unset): torch then maps output
 * index i to source coordinate (float)(1 / s) * (i + 0.5) - 0.5, cubic convolution A = -0.75
 * with clamped borders, float arithmetic, rows outer (torch 1.13's separable CPU kernel order). */
void cs_vit_interp_bicubic(int m, int d, const float *src, int oh, int ow, double sh, double sw, float *dst);
/* The same computed as its definition in double (the 16 taps of each output summed at once). */
void cs_ref_vit_interp_bicubic(int m, int d, const float *src, int oh, int ow, double sh, double sw,
                               float *dst);

#ifdef __cplusplus
}
#endif
#endif
