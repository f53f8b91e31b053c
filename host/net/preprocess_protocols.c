/* The clean-fid and torch-fidelity preprocessing (copyscope/protocol.h); pytorch-fid's is in
 * preprocess.c. Both work channel by channel on a float32 plane, as the peers do (clean-fid hands
 * PIL one 'F' image per channel; torch-fidelity's resize is per channel by construction).
 *
 * Floating point: the host build targets x86-64 without FMA, so the compiler never contracts
 * a * b + c here (CMakeLists.txt); every expression below rounds exactly where the peers' code
 * rounds (PIL: float64 sums stored as float32; torch: each tensor operation in float32). */
#include "core/common.h"
#include "copyscope/features.h"
#include "copyscope/metrics.h"
#include "copyscope/model.h"
#include "copyscope/protocol.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OUT CS_MODEL_INPUT_SIZE

/* ---- names ------------------------------------------------------------------------------------- */

static const char *const protocol_names[CS_PROTOCOL_COUNT] = {"pytorch-fid", "clean-fid", "torch-fidelity"};
static const char *const protocol_ids[CS_PROTOCOL_COUNT] = {
    CS_PREPROCESS_ID,
    "clean-fid: PIL convert RGB, per-channel PIL 'F' bicubic 299 (antialiased), clip 0..255, (x-128)/128",
    "torch-fidelity: PIL convert RGB, TF1 bilinear 299 align_corners=False, (x-128)/128"};

static const struct {
    const char *name;
    cs_protocol p;
} protocol_aliases[] = {
    {"pytorch-fid", CS_PROTOCOL_PYTORCH_FID},       {"pytorch_fid", CS_PROTOCOL_PYTORCH_FID},
    {"legacy_pytorch", CS_PROTOCOL_PYTORCH_FID},    {"clean-fid", CS_PROTOCOL_CLEAN_FID},
    {"clean_fid", CS_PROTOCOL_CLEAN_FID},           {"clean", CS_PROTOCOL_CLEAN_FID},
    {"torch-fidelity", CS_PROTOCOL_TORCH_FIDELITY}, {"torch_fidelity", CS_PROTOCOL_TORCH_FIDELITY},
    {"tensorflow", CS_PROTOCOL_TORCH_FIDELITY},     {"legacy_tensorflow", CS_PROTOCOL_TORCH_FIDELITY},
};

cs_status cs_protocol_parse(const char *name, cs_protocol *out) {
    for (size_t i = 0; name && i < sizeof protocol_aliases / sizeof *protocol_aliases; i++)
        if (strcmp(name, protocol_aliases[i].name) == 0) {
            *out = protocol_aliases[i].p;
            return CS_OK;
        }
    return CS_FAIL(CS_E_USAGE,
                   "unknown protocol '%s' (pytorch-fid = legacy_pytorch, clean-fid = clean, "
                   "torch-fidelity = tensorflow = legacy_tensorflow)",
                   name ? name : "");
}

cs_image_listing cs_protocol_listing(cs_protocol p) {
    switch (p) {
    case CS_PROTOCOL_CLEAN_FID: return CS_LISTING_CLEAN_FID;
    case CS_PROTOCOL_TORCH_FIDELITY: return CS_LISTING_TORCH_FIDELITY;
    default: return CS_LISTING_PYTORCH_FID;
    }
}

const char *cs_protocol_name(cs_protocol p) {
    return (unsigned)p < CS_PROTOCOL_COUNT ? protocol_names[p] : NULL;
}

const char *cs_protocol_preprocess_id(cs_protocol p) {
    return (unsigned)p < CS_PROTOCOL_COUNT ? protocol_ids[p] : NULL;
}

int cs_protocol_from_preprocess_id(const char *id, cs_protocol *out) {
    for (int p = 0; id && p < CS_PROTOCOL_COUNT; p++)
        if (strcmp(id, protocol_ids[p]) == 0) {
            *out = (cs_protocol)p;
            return 1;
        }
    return 0;
}

/* ---- torch-fidelity: TF1-compatible bilinear ------------------------------------------------- */

/* One axis of interpolate_bilinear_2d_like_tensorflow1x(align_corners=False), method "slow":
 *   scale = torch.tensor(in / out, float32)           python float64 quotient, rounded once
 *   g = arange(out, float32) * scale                  float32 product
 *   lo = g.long(), hi = (lo + 1).clamp_max(in - 1), d = g - lo.float()  float32 */
static void tf1_axis(int in, int *lo, int *hi, float *d) {
    const float scale = (float)((double)in / (double)OUT);
    for (int i = 0; i < OUT; i++) {
        const float g = (float)i * scale;
        int a = (int)g;
        if (a > in - 1) a = in - 1; /* g < in always (scale * 298 < in); kept in bounds anyway */
        lo[i] = a;
        hi[i] = a + 1 < in - 1 ? a + 1 : in - 1;
        d[i] = g - (float)a;
    }
}

cs_status cs_resize_tf1_bilinear_plane(const float *in, int width, int height, float *out) {
    if (!in || !out || width < 1 || height < 1 || width > CS_IMAGE_MAX_SIDE || height > CS_IMAGE_MAX_SIDE)
        return CS_FAIL(CS_E_USAGE, "tf1 resize: bad image (%dx%d)", width, height);
    int xl[OUT], xh[OUT], yl[OUT], yh[OUT];
    float dx[OUT], dy[OUT];
    tf1_axis(width, xl, xh, dx);
    tf1_axis(height, yl, yh, dy);
    for (int oy = 0; oy < OUT; oy++) {
        const float *r0 = in + (size_t)yl[oy] * width, *r1 = in + (size_t)yh[oy] * width;
        float *o = out + (size_t)oy * OUT;
        for (int ox = 0; ox < OUT; ox++) {
            /* in_0 = in_00 + (in_01 - in_00) * dx, in_1 likewise, out = in_0 + (in_1 - in_0) * dy:
             * three separate float32 tensor operations each (sub, mul, add) */
            const float a00 = r0[xl[ox]], a01 = r0[xh[ox]], a10 = r1[xl[ox]], a11 = r1[xh[ox]];
            const float t0 = (a01 - a00) * dx[ox];
            const float i0 = a00 + t0;
            const float t1 = (a11 - a10) * dx[ox];
            const float i1 = a10 + t1;
            const float t = (i1 - i0) * dy[oy];
            o[ox] = i0 + t;
        }
    }
    return CS_OK;
}

/* ---- clean-fid: PIL 9.4 ImagingResample on a mode 'F' image with BICUBIC ------------------- */

/* PIL's ImagingResampleInner for a mode 'F' image: the horizontal pass first, over the rows the
 * vertical pass needs (ybox_first .. ybox_last), then the vertical pass; an axis of the same size
 * is not resampled. Each output is a float64 sum of float32 pixels times float64 coefficients,
 * stored as float32. Both sizes 299: Image.resize returns a copy. */
static cs_status pil_bicubic_resample(const float *in, int width, int height, float *out) {
    if (width == OUT && height == OUT) {
        memcpy(out, in, (size_t)OUT * OUT * sizeof *out);
        return CS_OK;
    }
    int *bh = NULL, *bv = NULL;
    double *kh = NULL, *kv = NULL;
    float *tmp = NULL;
    cs_status st = CS_OK;
    const int ksh = cs_resample_coeffs(width, OUT, CS_RESAMPLE_BICUBIC, &bh, &kh), /* PIL 9.4: a = -0.5 */
              ksv = cs_resample_coeffs(height, OUT, CS_RESAMPLE_BICUBIC, &bv, &kv);
    if (!ksh || !ksv) {
        st = CS_FAIL(CS_E_NOMEM, "bicubic resize: out of memory");
        goto done;
    }
    const float *src = in;
    size_t src_w = (size_t)width;
    if (width != OUT) {
        const int y_first = bv[0], y_last = bv[OUT * 2 - 2] + bv[OUT * 2 - 1];
        const int th = y_last - y_first;
        float *dst = out; /* (th, OUT) float32: the output itself when no vertical pass follows */
        if (height != OUT && !(dst = tmp = malloc((size_t)OUT * (size_t)th * sizeof *tmp))) {
            st = CS_FAIL(CS_E_NOMEM, "bicubic resize: out of memory");
            goto done;
        }
        for (int yy = 0; yy < th; yy++) {
            const float *row = in + (size_t)(yy + y_first) * (size_t)width;
            for (int xx = 0; xx < OUT; xx++) {
                const int xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
                const double *k = &kh[(size_t)xx * ksh];
                double ss = 0.0;
                for (int x = 0; x < xmax; x++) ss += row[x + xmin] * k[x];
                dst[(size_t)yy * OUT + xx] = (float)ss;
            }
        }
        for (int i = 0; i < OUT; i++) bv[i * 2] -= y_first;
        src = dst;
        src_w = OUT;
    }
    if (height != OUT) {
        for (int yy = 0; yy < OUT; yy++) {
            const int ymin = bv[yy * 2], ymax = bv[yy * 2 + 1];
            const double *k = &kv[(size_t)yy * ksv];
            for (int xx = 0; xx < OUT; xx++) {
                double ss = 0.0;
                for (int y = 0; y < ymax; y++) ss += src[(size_t)(y + ymin) * src_w + xx] * k[y];
                out[(size_t)yy * OUT + xx] = (float)ss;
            }
        }
    }
done:
    free(bh), free(bv), free(kh), free(kv), free(tmp);
    return st;
}

cs_status cs_resize_pil_bicubic_plane(const float *in, int width, int height, float *out) {
    if (!in || !out || width < 1 || height < 1 || width > CS_IMAGE_MAX_SIDE || height > CS_IMAGE_MAX_SIDE)
        return CS_FAIL(CS_E_USAGE, "bicubic resize: bad image (%dx%d)", width, height);
    CS_TRY(pil_bicubic_resample(in, width, height, out));
    for (size_t i = 0; i < (size_t)OUT * OUT; i++) { /* np.asarray(img).clip(0, 255) */
        if (out[i] < 0.0f) out[i] = 0.0f;
        else if (out[i] > 255.0f) out[i] = 255.0f;
    }
    return CS_OK;
}

/* ---- whole images ------------------------------------------------------------------------------ */

cs_status cs_preprocess_rgb_protocol(cs_protocol p, const uint8_t *rgb, int width, int height, float *out) {
    if (p == CS_PROTOCOL_PYTORCH_FID) return cs_preprocess_rgb(rgb, width, height, out);
    if (p != CS_PROTOCOL_CLEAN_FID && p != CS_PROTOCOL_TORCH_FIDELITY)
        return CS_FAIL(CS_E_USAGE, "preprocess: unknown protocol %d", (int)p);
    if (!rgb || !out || width < 1 || height < 1 || width > CS_IMAGE_MAX_SIDE || height > CS_IMAGE_MAX_SIDE)
        return CS_FAIL(CS_E_USAGE, "preprocess: bad image (%dx%d)", width, height);
    const size_t npx = (size_t)width * (size_t)height;
    float *plane = cs_malloc(npx * sizeof *plane, "preprocessing plane"); /* (height, width) float32 */
    if (!plane) return CS_E_NOMEM;
    cs_status st = CS_OK;
    for (int c = 0; c < 3 && st == CS_OK; c++) {
        for (size_t i = 0; i < npx; i++) plane[i] = (float)rgb[i * 3 + (size_t)c];
        float *o = out + (size_t)c * OUT * OUT;
        st = p == CS_PROTOCOL_CLEAN_FID ? cs_resize_pil_bicubic_plane(plane, width, height, o)
                                        : cs_resize_tf1_bilinear_plane(plane, width, height, o);
        /* (x - 128) / 128: float32 subtraction, then an exact division by a power of two */
        for (size_t i = 0; st == CS_OK && i < (size_t)OUT * OUT; i++) o[i] = (o[i] - 128.0f) / 128.0f;
    }
    free(plane);
    return st;
}
