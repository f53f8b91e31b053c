/* Preprocessing of the Vision Transformer feature spaces (see copyscope/model.h):
 *  - PIL's Image.resize(size, BICUBIC) on 8-bit RGB (Pillow 9.4 Resample.c semantics: an
 *    antialiased separable filter, support widened by the downscale factor, coefficients in
 *    fixed point with 22 fractional bits, horizontal pass first into a uint8 image restricted
 *    to the rows the vertical pass reads, then the vertical pass), byte for byte;
 *  - dgm-eval's DINOv2 transform: Resize((224, 224), BICUBIC) of the PIL image, ToTensor,
 *    Normalize(ImageNet mean, std), in torch's float32 arithmetic;
 *  - Hugging Face CLIPImageProcessor (openai/clip-vit-large-patch14-336): the short side
 *    resized to 336 (PIL bicubic), centre crop 336 x 336, rescale 1/255, CLIP mean/std. */
#include "copyscope/model.h"

#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PIL_PRECISION_BITS (32 - 8 - 2)

/* PIL's bicubic filter (a = -0.5), support 2. */
static double pil_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* PIL's precompute_coeffs (box = the whole input) followed by normalize_coeffs_8bpc: for each
 * output index, bounds (first input index, count) and ksize fixed-point weights. Returns ksize,
 * 0 when out of memory. */
static int pil_coeffs(int in_size, int out_size, int **bounds_out, int32_t **kk_out) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *pre = malloc((size_t)out_size * ksize * sizeof *pre);
    int *bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    int32_t *kk = malloc((size_t)out_size * ksize * sizeof *kk);
    if (!pre || !bounds || !kk) {
        free(pre);
        free(bounds);
        free(kk);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax;
        if (xmin < 0) xmin = 0;
        xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = pre + (size_t)xx * ksize;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = pil_bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++) /* normalize_coeffs_8bpc */
        kk[i] = pre[i] < 0 ? (int32_t)(-0.5 + pre[i] * (1 << PIL_PRECISION_BITS))
                           : (int32_t)(0.5 + pre[i] * (1 << PIL_PRECISION_BITS));
    free(pre);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t pil_clip8(int32_t in) {
    if (in >= (1 << PIL_PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PIL_PRECISION_BITS);
}

cs_status cs_pil_resize_bicubic(const uint8_t *rgb, int width, int height, int out_w, int out_h, uint8_t *out) {
    if (width < 1 || height < 1 || out_w < 1 || out_h < 1)
        return CS_FAIL(CS_E_USAGE, "resize of a %dx%d image to %dx%d", width, height, out_w, out_h);
    if (width == out_w && height == out_h) { /* PIL returns a copy */
        memcpy(out, rgb, (size_t)width * height * 3);
        return CS_OK;
    }
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    uint8_t *tmp = NULL;
    cs_status st = CS_OK;
    const int need_h = out_w != width, need_v = out_h != height;
    int ksh = need_h ? pil_coeffs(width, out_w, &bh, &kh) : 1;
    int ksv = pil_coeffs(height, out_h, &bv, &kv);
    if (!ksh || !ksv) {
        st = CS_FAIL(CS_E_NOMEM, "out of memory resizing a %dx%d image", width, height);
        goto done;
    }
    /* rows of the input the vertical pass reads */
    const int ybox_first = bv[0], ybox_last = bv[out_h * 2 - 2] + bv[out_h * 2 - 1];
    const uint8_t *src = rgb;
    int src_rows_off = 0; /* row of src that the vertical bounds count from */
    if (need_h) {
        const int th = ybox_last - ybox_first;
        tmp = cs_malloc((size_t)out_w * th * 3, "resize buffer");
        if (!tmp) {
            st = CS_E_NOMEM;
            goto done;
        }
        for (int yy = 0; yy < th; yy++) {
            const uint8_t *row = rgb + (size_t)(yy + ybox_first) * width * 3;
            for (int xx = 0; xx < out_w; xx++) {
                const int xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
                const int32_t *k = kh + (size_t)xx * ksh;
                int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++) {
                    const uint8_t *p = row + (size_t)(x + xmin) * 3;
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                uint8_t *o = tmp + ((size_t)yy * out_w + xx) * 3;
                o[0] = pil_clip8(s0);
                o[1] = pil_clip8(s1);
                o[2] = pil_clip8(s2);
            }
        }
        src = tmp;
        src_rows_off = ybox_first;
    }
    if (need_v) {
        for (int yy = 0; yy < out_h; yy++) {
            const int ymin = bv[yy * 2] - src_rows_off, ymax = bv[yy * 2 + 1];
            const int32_t *k = kv + (size_t)yy * ksv;
            for (int xx = 0; xx < out_w; xx++) {
                int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int y = 0; y < ymax; y++) {
                    const uint8_t *p = src + ((size_t)(y + ymin) * out_w + xx) * 3;
                    s0 += p[0] * k[y];
                    s1 += p[1] * k[y];
                    s2 += p[2] * k[y];
                }
                uint8_t *o = out + ((size_t)yy * out_w + xx) * 3;
                o[0] = pil_clip8(s0);
                o[1] = pil_clip8(s1);
                o[2] = pil_clip8(s2);
            }
        }
    } else {
        memcpy(out, src, (size_t)out_w * out_h * 3); /* only the horizontal pass (all rows kept) */
    }
done:
    free(bh);
    free(kh);
    free(bv);
    free(kv);
    free(tmp);
    return st;
}

/* (h, w, 3) uint8 -> (3, h, w) float32: ToTensor (byte / 255 in float) then (x - mean) / std. */
static void to_tensor_normalize(const uint8_t *rgb, int w, int h, const float mean[3], const float std[3],
                                float *out) {
    const size_t plane = (size_t)w * h;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float v = (float)rgb[i * 3 + c] / 255.0f;
            out[c * plane + i] = (v - mean[c]) / std[c];
        }
}

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f},
                   clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

cs_status cs_preprocess_rgb_dgm(const uint8_t *rgb, int width, int height, float *out) {
    const int s = CS_MODEL_DINOV2_INPUT_SIZE;
    uint8_t *r = cs_malloc((size_t)s * s * 3, "resized image");
    if (!r) return CS_E_NOMEM;
    cs_status st = cs_pil_resize_bicubic(rgb, width, height, s, s, r);
    if (st == CS_OK) to_tensor_normalize(r, s, s, imagenet_mean, imagenet_std, out);
    free(r);
    return st;
}

cs_status cs_preprocess_rgb_clip(const uint8_t *rgb, int width, int height, float *out) {
    const int s = CS_MODEL_CLIP_INPUT_SIZE;
    /* transformers' get_resize_output_image_size(default_to_square=False): the short side to s,
     * the long side to int(s * long / short) */
    int short_side = width < height ? width : height, long_side = width < height ? height : width;
    int new_long = (int)((double)s * long_side / short_side);
    if (new_long < s) new_long = s;
    const int rw = width <= height ? s : new_long, rh = width <= height ? new_long : s;
    size_t bytes;
    if (!cs_mul_size((size_t)rw * 3, (size_t)rh, &bytes) || bytes > ((size_t)1 << 31))
        return CS_FAIL(CS_E_USAGE, "image of %dx%d: aspect ratio too extreme for CLIP's resize", width, height);
    uint8_t *r = cs_malloc(bytes, "resized image");
    if (!r) return CS_E_NOMEM;
    cs_status st = cs_pil_resize_bicubic(rgb, width, height, rw, rh, r);
    if (st == CS_OK) {
        const int top = (rh - s) / 2, left = (rw - s) / 2; /* center_crop */
        const size_t plane = (size_t)s * s;
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++)
                for (int c = 0; c < 3; c++) {
                    /* rescale: uint8 * (1/255) in float64, stored as float32; normalize in float32 */
                    float v = (float)(r[((size_t)(y + top) * rw + x + left) * 3 + c] * (1.0 / 255.0));
                    out[c * plane + (size_t)y * s + x] = (v - clip_mean[c]) / clip_std[c];
                }
    }
    free(r);
    return st;
}
