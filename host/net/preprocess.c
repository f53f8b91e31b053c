/* pytorch-fid preprocessing: ToTensor (uint8 / 255 in float32) -> F.interpolate(size=(299,
 * 299), mode='bilinear', align_corners=False) -> 2x - 1, reproducing the arithmetic of torch
 * 1.13's CPU float32 kernel (UpSample.h, cpu/UpSampleKernel.cpp) bit for bit:
 *   scale = (float)in / (float)out                             float (area_pixel_compute_scale)
 *   src   = scale * (dst + 0.5) - 0.5, 0 if negative           double: dst + 0.5 is a double
 *   i0 = (int64)src; i1 = i0 + (i0 < in - 1); l1 = (float)clamp(src - i0, 0, 1); l0 = 1.0f - l1
 *   t0  = fma(x[y0][x0], l0x, x[y0][x1] * l1x), t1 likewise on row y1
 *   out = fma(t0, l0y, t1 * l1y)            rows are the outer interpolation
 * The fused multiply-adds are what GCC makes of `t0 * w0 + t1 * w1` in torch's AVX2 kernel
 * (the one Debian's torch runs on this hardware); tests/test_network.c checks the result
 * against torch itself on images of odd sizes, where it matches exactly. fmaf is exact
 * everywhere, so the result does not depend on the CPU; the FMA-enabled clone is for speed. */
#include "core/common.h"
#include "copyscope/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OUT CS_MODEL_INPUT_SIZE

/* One axis of torch's linear interpolation weights. */
static void axis_weights(int in, int dst, int *i0, int *i1, float *l0, float *l1) {
    if (in == OUT) { /* torch's identity special case (same result as the formula) */
        *i0 = *i1 = dst;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    const float scale = (float)in / (float)OUT;
    double src = (double)scale * ((double)dst + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    int a = (int)src;
    *i0 = a;
    *i1 = a + (a < in - 1 ? 1 : 0);
    double lam = src - (double)a;
    if (lam < 0.0) lam = 0.0;
    if (lam > 1.0) lam = 1.0;
    *l1 = (float)lam;
    *l0 = 1.0f - *l1;
}

void cs_preprocess_rgb_ref(const uint8_t *rgb, int width, int height, float *out) {
    for (int c = 0; c < 3; c++)
        for (int oy = 0; oy < OUT; oy++)
            for (int ox = 0; ox < OUT; ox++) {
                int y0, y1, x0, x1;
                float wy0, wy1, wx0, wx1;
                axis_weights(height, oy, &y0, &y1, &wy0, &wy1);
                axis_weights(width, ox, &x0, &x1, &wx0, &wx1);
                float a = (float)rgb[((size_t)y0 * width + x0) * 3 + c] / 255.0f;
                float b = (float)rgb[((size_t)y0 * width + x1) * 3 + c] / 255.0f;
                float d = (float)rgb[((size_t)y1 * width + x0) * 3 + c] / 255.0f;
                float e = (float)rgb[((size_t)y1 * width + x1) * 3 + c] / 255.0f;
                float t0 = fmaf(a, wx0, b * wx1);
                float t1 = fmaf(d, wx0, e * wx1);
                float v = fmaf(t0, wy0, t1 * wy1);
                out[((size_t)c * OUT + oy) * OUT + ox] = 2.0f * v - 1.0f;
            }
}

/* Per-axis tables: byte offsets of the two source pixels/rows and their weights. */
typedef struct pp_tables {
    float lut[256]; /* byte -> float (ToTensor) */
    size_t xo0[OUT], xo1[OUT], yo0[OUT], yo1[OUT];
    float wx0[OUT], wx1[OUT], wy0[OUT], wy1[OUT];
} pp_tables;

/* The resize loop, compiled twice: with hardware FMA (inlined vfmadd) and generic (libm fmaf,
 * the same exactly rounded result). */
#define PP_BODY                                                                                    \
    for (int oy = 0; oy < OUT; oy++) {                                                             \
        const uint8_t *r0 = rgb + t->yo0[oy], *r1 = rgb + t->yo1[oy];                               \
        const float a0 = t->wy0[oy], a1 = t->wy1[oy];                                              \
        for (int c = 0; c < 3; c++) {                                                              \
            float *o = out + ((size_t)c * OUT + oy) * OUT;                                         \
            for (int ox = 0; ox < OUT; ox++) {                                                     \
                const float t0 = fmaf(t->lut[r0[t->xo0[ox] + c]], t->wx0[ox],                      \
                                      t->lut[r0[t->xo1[ox] + c]] * t->wx1[ox]);                    \
                const float t1 = fmaf(t->lut[r1[t->xo0[ox] + c]], t->wx0[ox],                      \
                                      t->lut[r1[t->xo1[ox] + c]] * t->wx1[ox]);                    \
                o[ox] = 2.0f * fmaf(t0, a0, t1 * a1) - 1.0f;                                       \
            }                                                                                      \
        }                                                                                          \
    }

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("fma"))) static void resize_fma(const pp_tables *t, const uint8_t *rgb,
                                                      float *out) {
    PP_BODY
}
#endif

static void resize_generic(const pp_tables *t, const uint8_t *rgb, float *out) { PP_BODY }

cs_status cs_preprocess_rgb(const uint8_t *rgb, int width, int height, float *out) {
    if (!rgb || !out || width < 1 || height < 1)
        return CS_FAIL(CS_E_USAGE, "preprocess: bad image (%dx%d)", width, height);
    pp_tables *t = cs_malloc(sizeof *t, "preprocessing tables");
    if (!t) return CS_E_NOMEM;
    for (int v = 0; v < 256; v++) t->lut[v] = (float)v / 255.0f;
    for (int i = 0; i < OUT; i++) {
        int a, b;
        axis_weights(width, i, &a, &b, &t->wx0[i], &t->wx1[i]);
        t->xo0[i] = (size_t)a * 3;
        t->xo1[i] = (size_t)b * 3;
        axis_weights(height, i, &a, &b, &t->wy0[i], &t->wy1[i]);
        t->yo0[i] = (size_t)a * (size_t)width * 3;
        t->yo1[i] = (size_t)b * (size_t)width * 3;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("fma")) resize_fma(t, rgb, out);
    else resize_generic(t, rgb, out);
#else
    resize_generic(t, rgb, out);
#endif
    free(t);
    return CS_OK;
}
