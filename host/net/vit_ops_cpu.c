/* Vision Transformer ops on the CPU: references (naive loops in double) first, then the fast
 * ops (OpenBLAS sgemm, fused loops). See net/vit_ops.h. */
#include "net/vit_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ======================= reference implementations (naive loops) ======================= */

void cs_ref_vit_layernorm(int t, int d, const float *x, const float *w, const float *b, float eps, float *y) {
    for (int i = 0; i < t; i++) {
        const float *xi = x + (size_t)i * d;
        double mean = 0, var = 0;
        for (int j = 0; j < d; j++) mean += xi[j];
        mean /= d;
        for (int j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
        var /= d; /* biased, as torch.nn.LayerNorm */
        double inv = 1.0 / sqrt(var + (double)eps);
        for (int j = 0; j < d; j++) y[(size_t)i * d + j] = (float)((xi[j] - mean) * inv * w[j] + b[j]);
    }
}

void cs_ref_vit_linear(int t, int din, int dout, const float *x, int ldx, const float *w, const float *b,
                       float *y, int ldy) {
    for (int i = 0; i < t; i++)
        for (int o = 0; o < dout; o++) {
            double acc = b ? b[o] : 0.0;
            for (int k = 0; k < din; k++) acc += (double)x[(size_t)i * ldx + k] * w[(size_t)o * din + k];
            y[(size_t)i * ldy + o] = (float)acc;
        }
}

void cs_ref_vit_gelu(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
}

void cs_ref_vit_quick_gelu(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / (1.0 + exp(-1.702 * x[i])));
}

void cs_ref_vit_swiglu(int t, int h, const float *x, float *y) {
    for (int i = 0; i < t; i++)
        for (int j = 0; j < h; j++) {
            double a = x[(size_t)i * 2 * h + j], g = x[(size_t)i * 2 * h + h + j];
            y[(size_t)i * h + j] = (float)(a / (1.0 + exp(-a)) * g);
        }
}

void cs_ref_vit_attention(int t, int heads, int hd, float scale, const float *qkv, float *out) {
    const int d = heads * hd;
    const size_t ld = (size_t)3 * d;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < t; i++) {
            const float *q = qkv + (size_t)i * ld + (size_t)h * hd;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < t; j++) { /* pass 1: the largest logit */
                const float *k = qkv + (size_t)j * ld + d + (size_t)h * hd;
                double l = 0;
                for (int c = 0; c < hd; c++) l += (double)(q[c] * scale) * k[c];
                if (l > mx) mx = l;
            }
            double acc[512]; /* hd <= 512 (the model checks: every ViT here has 64) */
            for (int c = 0; c < hd; c++) acc[c] = 0;
            for (int j = 0; j < t; j++) { /* pass 2: weights and the weighted sum of values */
                const float *k = qkv + (size_t)j * ld + d + (size_t)h * hd;
                const float *v = qkv + (size_t)j * ld + 2 * (size_t)d + (size_t)h * hd;
                double l = 0;
                for (int c = 0; c < hd; c++) l += (double)(q[c] * scale) * k[c];
                double p = exp(l - mx);
                sum += p;
                for (int c = 0; c < hd; c++) acc[c] += p * v[c];
            }
            for (int c = 0; c < hd; c++) out[(size_t)i * d + (size_t)h * hd + c] = (float)(acc[c] / sum);
        }
}

void cs_ref_vit_residual(int t, int d, float *x, const float *y, const float *gamma) {
    for (int i = 0; i < t; i++)
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = (float)((double)x[(size_t)i * d + j] +
                                           (gamma ? (double)gamma[j] : 1.0) * y[(size_t)i * d + j]);
}

/* Keys cubic convolution kernel with A = -0.75 (torch's upsample_bicubic2d). */
static double ref_cubic(double x) {
    const double A = -0.75;
    x = fabs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

void cs_ref_vit_interp_bicubic(int m, int d, const float *src, int oh, int ow, double sh, double sw,
                               float *dst) {
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            /* source coordinate of the output pixel centre, at the scale interpolate was given */
            double ry = (oy + 0.5) / sh - 0.5, rx = (ox + 0.5) / sw - 0.5;
            int iy = (int)floor(ry), ix = (int)floor(rx);
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int a = -1; a <= 2; a++)
                    for (int bb = -1; bb <= 2; bb++) {
                        int y = iy + a, x = ix + bb;
                        y = y < 0 ? 0 : y >= m ? m - 1 : y; /* border replicated */
                        x = x < 0 ? 0 : x >= m ? m - 1 : x;
                        acc += ref_cubic(ry - (iy + a)) * ref_cubic(rx - (ix + bb)) * src[((size_t)y * m + x) * d + c];
                    }
                dst[((size_t)oy * ow + ox) * d + c] = (float)acc;
            }
        }
}

/* ================================ the fast ops ================================ */

void cs_vit_layernorm(int t, int d, const float *x, const float *w, const float *b, float eps, float *y) {
    for (int i = 0; i < t; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double sum = 0, sq = 0;
        for (int j = 0; j < d; j++) sum += xi[j];
        const double mean = sum / d;
        for (int j = 0; j < d; j++) {
            double c = xi[j] - mean;
            sq += c * c;
        }
        const float inv = (float)(1.0 / sqrt(sq / d + (double)eps)), mf = (float)mean;
        for (int j = 0; j < d; j++) yi[j] = (xi[j] - mf) * inv * w[j] + b[j];
    }
}

void cs_vit_linear(int t, int din, int dout, const float *x, int ldx, const float *w, const float *b,
                   float *y, int ldy) {
    if (b) {
        for (int i = 0; i < t; i++) memcpy(y + (size_t)i * ldy, b, (size_t)dout * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, dout, din, 1.0f, x, ldx, w, din, b ? 1.0f : 0.0f,
                y, ldy);
}

void cs_vit_gelu(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void cs_vit_quick_gelu(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void cs_vit_swiglu(int t, int h, const float *x, float *y) {
    for (int i = 0; i < t; i++) {
        const float *a = x + (size_t)i * 2 * h, *g = a + h;
        float *yi = y + (size_t)i * h;
        for (int j = 0; j < h; j++) yi[j] = a[j] / (1.0f + expf(-a[j])) * g[j];
    }
}

size_t cs_vit_attention_scratch(int t) { return (size_t)t * (size_t)t + (size_t)t * 512; }

void cs_vit_attention(int t, int heads, int hd, float scale, const float *qkv, float *out, float *scratch) {
    const int d = heads * hd, ld = 3 * d;
    float *s = scratch;                  /* (t, t) logits, then probabilities */
    float *q = scratch + (size_t)t * t;  /* (t, hd) scaled queries */
    for (int h = 0; h < heads; h++) {
        for (int i = 0; i < t; i++)
            for (int c = 0; c < hd; c++) q[(size_t)i * hd + c] = qkv[(size_t)i * ld + (size_t)h * hd + c] * scale;
        /* S = (q scale) K^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, hd, 1.0f, q, hd, qkv + d + (size_t)h * hd, ld,
                    0.0f, s, t);
        for (int i = 0; i < t; i++) { /* row softmax, fused: max, exp, sum, scale */
            float *r = s + (size_t)i * t, mx = r[0];
            for (int j = 1; j < t; j++) mx = r[j] > mx ? r[j] : mx;
            double sum = 0;
            for (int j = 0; j < t; j++) {
                r[j] = expf(r[j] - mx);
                sum += r[j];
            }
            const float inv = (float)(1.0 / sum);
            for (int j = 0; j < t; j++) r[j] *= inv;
        }
        /* out[:, head] = P V */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, hd, t, 1.0f, s, t, qkv + 2 * (size_t)d + (size_t)h * hd,
                    ld, 0.0f, out + (size_t)h * hd, d);
    }
}

void cs_vit_residual(int t, int d, float *x, const float *y, const float *gamma) {
    const size_t n = (size_t)t * d;
    if (!gamma) {
        for (size_t i = 0; i < n; i++) x[i] += y[i];
        return;
    }
    for (int i = 0; i < t; i++)
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] += gamma[j] * y[(size_t)i * d + j];
}

void cs_vit_patchify(const float *img, int s, int p, float *cols) {
    const int g = s / p, k = 3 * p * p;
    for (int py = 0; py < g; py++)
        for (int px = 0; px < g; px++) {
            float *row = cols + ((size_t)py * g + px) * k;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(row + (c * p + ky) * p, img + ((size_t)c * s + (size_t)py * p + ky) * s + (size_t)px * p,
                           (size_t)p * sizeof(float));
        }
}

/* torch's upsample_bicubic2d index/weight computation for one axis, in float as torch does. */
static void interp_axis(int in, int out, double scale_factor, int idx[][4], float wt[][4]) {
    const float scale = (float)(1.0 / scale_factor); /* compute_scales_value: 1 / scale_factor */
    const float A = -0.75f;
    for (int i = 0; i < out; i++) {
        float real = scale * ((float)i + 0.5f) - 0.5f; /* area_pixel_compute_source_index, cubic */
        float fl = floorf(real);
        int i0 = (int)fl;
        float t = real - fl;
        float x1 = t + 1.0f, x2 = 1.0f - t, x3 = x2 + 1.0f;
        wt[i][0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
        wt[i][1] = ((A + 2) * t - (A + 3)) * t * t + 1;
        wt[i][2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
        wt[i][3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
        for (int j = 0; j < 4; j++) {
            int k = i0 - 1 + j;
            idx[i][j] = k < 0 ? 0 : k > in - 1 ? in - 1 : k;
        }
    }
}

void cs_vit_interp_bicubic(int m, int d, const float *src, int oh, int ow, double sh, double sw, float *dst) {
    int iy[64][4], ix[64][4];
    float wy[64][4], wx[64][4];
    if (oh > 64 || ow > 64) { /* the model's grids are at most 37 x 37: fall back to the definition */
        cs_ref_vit_interp_bicubic(m, d, src, oh, ow, sh, sw, dst);
        return;
    }
    interp_axis(m, oh, sh, iy, wy);
    interp_axis(m, ow, sw, ix, wx);
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int c = 0; c < d; c++) {
                float out = 0;
                for (int a = 0; a < 4; a++) { /* rows outer, as torch's generic N-d kernel nests them */
                    const float *r = src + (size_t)iy[oy][a] * m * d + c;
                    float inner = r[(size_t)ix[ox][0] * d] * wx[ox][0];
                    for (int b = 1; b < 4; b++) inner += r[(size_t)ix[ox][b] * d] * wx[ox][b];
                    out = a == 0 ? inner * wy[oy][0] : out + inner * wy[oy][a];
                }
                dst[((size_t)oy * ow + ox) * d + c] = out;
            }
}
