/* Preprocessing of the Vision Transformer feature spaces (see copyscope/model.h); the PIL resize
 * is cs_image_resize (copyscope/metrics.h: Pillow 9.4's ImagingResample, byte for byte):
 *  - dgm-eval's DINOv2 transform: Resize((224, 224), BICUBIC) of the PIL image, ToTensor,
 *    Normalize(ImageNet mean, std), in torch's float32 arithmetic;
 *  - Hugging Face CLIPImageProcessor (openai/clip-vit-large-patch14-336): the short side
 *    resized to 336 (PIL bicubic), centre crop 336 x 336, rescale 1/255, CLIP mean/std. */
#include "copyscope/metrics.h"
#include "copyscope/model.h"

#include "core/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* PIL's Image.resize((w, h), BICUBIC) of rgb (height, width, 3) into a new image. */
static cs_status pil_bicubic(const uint8_t *rgb, int width, int height, int w, int h, cs_image *out) {
    const cs_image in = {.width = width, .height = height, .rgb = (uint8_t *)rgb};
    return cs_image_resize(&in, w, h, CS_RESAMPLE_BICUBIC, out);
}

cs_status cs_preprocess_rgb_dgm(const uint8_t *rgb, int width, int height, float *out) {
    const int s = CS_MODEL_DINOV2_INPUT_SIZE;
    cs_image r;
    CS_TRY(pil_bicubic(rgb, width, height, s, s, &r));
    to_tensor_normalize(r.rgb, s, s, imagenet_mean, imagenet_std, out);
    cs_image_free(&r);
    return CS_OK;
}

cs_status cs_preprocess_rgb_clip(const uint8_t *rgb, int width, int height, float *out) {
    const int s = CS_MODEL_CLIP_INPUT_SIZE;
    /* transformers' get_resize_output_image_size(default_to_square=False): the short side to s,
     * the long side to int(s * long / short) */
    int short_side = width < height ? width : height, long_side = width < height ? height : width;
    const double nl = (double)s * long_side / short_side;
    if (nl * s > (double)((uint64_t)1 << 29)) /* bounded before the int conversion */
        return CS_FAIL(CS_E_USAGE, "image of %dx%d: aspect ratio too extreme for CLIP's resize", width, height);
    int new_long = (int)nl;
    if (new_long < s) new_long = s;
    const int rw = width <= height ? s : new_long, rh = width <= height ? new_long : s;
    cs_image ri;
    CS_TRY(pil_bicubic(rgb, width, height, rw, rh, &ri));
    const uint8_t *r = ri.rgb;
    {
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
    cs_image_free(&ri);
    return CS_OK;
}
