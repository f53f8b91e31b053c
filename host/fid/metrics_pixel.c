/* The paper's pixel similarity metrics (cosine, hist, dhash, ssim, rgb-ssim, fusion) and PIL's
 * resampling. See include/copyscope/metrics.h for the definitions. */
#include "copyscope/metrics.h"

#include "core/common.h"
#include "core/threadpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---------------------------------------------------------------------------------- */
static const char *const metric_names[CS_METRIC_COUNT] = {"cosine", "hist", "dhash", "ssim",   "rgb-ssim",
                                                          "fusion", "kid",  "fid",   "cmmd",   "nn-sim",
                                                          "copy-rate"};

const char *cs_metric_name(cs_metric m) {
    return (m >= 0 && m < CS_METRIC_COUNT) ? metric_names[m] : "?";
}

int cs_metric_name_valid(const char *name, cs_metric *out) {
    for (int i = 0; i < CS_METRIC_COUNT; i++)
        if (name && strcmp(name, metric_names[i]) == 0) {
            *out = (cs_metric)i;
            return 1;
        }
    return 0;
}

cs_status cs_metric_parse(const char *name, cs_metric *out) {
    for (int i = 0; i < CS_METRIC_COUNT; i++)
        if (name && strcmp(name, metric_names[i]) == 0) {
            *out = (cs_metric)i;
            return CS_OK;
        }
    return CS_FAIL(CS_E_USAGE,
                   "unknown metric '%s' (cosine, hist, dhash, ssim, rgb-ssim, fusion, kid, fid, cmmd, nn-sim, "
                   "copy-rate)",
                   name ? name : "(null)");
}

int cs_metric_is_pixel(cs_metric m) { return m >= CS_METRIC_COSINE && m <= CS_METRIC_FUSION; }
int cs_metric_is_distance(cs_metric m) {
    return m == CS_METRIC_KID || m == CS_METRIC_FID || m == CS_METRIC_CMMD;
}
int cs_metric_is_nearest(cs_metric m) { return m == CS_METRIC_NN_SIM || m == CS_METRIC_COPY_RATE; }

void cs_metric_range(cs_metric m, double *lo, double *hi) {
    /* cosine of non-negative vectors, dhash and fusion: [0, 1]; correlations and SSIMs: [-1, 1] */
    *lo = (m == CS_METRIC_COSINE || m == CS_METRIC_DHASH || m == CS_METRIC_FUSION) ? 0.0 : -1.0;
    *hi = 1.0;
}

/* ---- PIL resampling (Pillow 9.4 libImaging/Resample.c) ----------------------------------------- */
#define PIL_PRECISION_BITS (32 - 8 - 2)

static double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}
static double lanczos_filter(double x) {
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}
static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}
static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

int cs_resample_coeffs(int in_size, int out_size, cs_resample filter, int **boundsp, double **kkp) {
    double (*fn)(double) = filter == CS_RESAMPLE_LANCZOS   ? lanczos_filter
                           : filter == CS_RESAMPLE_BICUBIC ? bicubic_filter
                                                           : bilinear_filter;
    double fsupport = filter == CS_RESAMPLE_LANCZOS ? 3.0 : filter == CS_RESAMPLE_BICUBIC ? 2.0 : 1.0;
    float in0 = 0.0f, in1 = (float)in_size; /* PIL's box is float */
    double scale = (double)(in1 - in0) / out_size, filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    double support = fsupport * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *pre = malloc((size_t)out_size * ksize * sizeof(double)); /* (out, ksize) float64 */
    int *bounds = malloc((size_t)out_size * 2 * sizeof(int));        /* (out, 2) */
    if (!pre || !bounds) {
        free(pre), free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5), x;
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &pre[(size_t)xx * ksize];
        for (x = 0; x < xmax; x++) {
            double w = fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    *boundsp = bounds;
    *kkp = pre;
    return ksize;
}

/* Coefficients of one axis for 8-bit images: cs_resample_coeffs in 22-bit fixed point
 * (PIL's normalize_coeffs_8bpc): kk (out, ksize) int32. Returns ksize, 0 on allocation failure. */
static int precompute_coeffs(int in_size, int out_size, cs_resample filter, int **boundsp,
                             int32_t **kkp) {
    double *pre = NULL;
    int ksize = cs_resample_coeffs(in_size, out_size, filter, boundsp, &pre);
    if (!ksize) return 0;
    int32_t *kk = malloc((size_t)out_size * ksize * sizeof(int32_t)); /* (out, ksize) int32 */
    if (!kk) {
        free(pre), free(*boundsp);
        *boundsp = NULL;
        return 0;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++) /* normalize_coeffs_8bpc */
        kk[i] = pre[i] < 0 ? (int32_t)(-0.5 + pre[i] * (1 << PIL_PRECISION_BITS))
                           : (int32_t)(0.5 + pre[i] * (1 << PIL_PRECISION_BITS));
    free(pre);
    *kkp = kk;
    return ksize;
}

static inline uint8_t clip8(int32_t in) {
    if (in >= (1 << PIL_PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PIL_PRECISION_BITS);
}

/* Resize interleaved uint8 (h, w, c) -> (oh, ow, c), c in 1..3. */
static cs_status resample_u8(const uint8_t *in, int w, int h, int c, int ow, int oh,
                             cs_resample filter, uint8_t *out) {
    if (w < 1 || h < 1 || ow < 1 || oh < 1 || ow > CS_IMAGE_MAX_SIDE || oh > CS_IMAGE_MAX_SIDE)
        return CS_FAIL(CS_E_USAGE, "resize: bad size %dx%d -> %dx%d", w, h, ow, oh);
    if (filter != CS_RESAMPLE_LANCZOS && filter != CS_RESAMPLE_BICUBIC &&
        filter != CS_RESAMPLE_BILINEAR)
        return CS_FAIL(CS_E_USAGE, "resize: unknown filter %d", (int)filter);
    if (w == ow && h == oh) {
        memcpy(out, in, (size_t)w * h * c);
        return CS_OK;
    }
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    uint8_t *tmp = NULL;
    cs_status st = CS_OK;
    int ksh = precompute_coeffs(w, ow, filter, &bh, &kh);
    int ksv = precompute_coeffs(h, oh, filter, &bv, &kv);
    if (!ksh || !ksv) {
        st = CS_FAIL(CS_E_NOMEM, "resize: out of memory");
        goto done;
    }
    const uint8_t *src = in;
    int y_first = bv[0], y_last = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    if (ow != w) { /* horizontal pass over the rows the vertical pass uses */
        int th = y_last - y_first;
        tmp = malloc((size_t)ow * th * c); /* (th, ow, c) uint8 */
        if (!tmp) {
            st = CS_FAIL(CS_E_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int yy = 0; yy < th; yy++) {
            const uint8_t *row = in + (size_t)(yy + y_first) * w * c;
            uint8_t *orow = tmp + (size_t)yy * ow * c;
            for (int xx = 0; xx < ow; xx++) {
                int xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
                const int32_t *k = &kh[(size_t)xx * ksh];
                for (int ch = 0; ch < c; ch++) {
                    int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) ss += row[(x + xmin) * c + ch] * k[x];
                    orow[xx * c + ch] = clip8(ss);
                }
            }
        }
        for (int i = 0; i < oh; i++) bv[i * 2] -= y_first;
        src = tmp;
    }
    if (oh != h) {
        /* PIL's vertical pass, accumulated row by row (the same exact integer sums) */
        size_t rowlen = (size_t)ow * c;
        int32_t *acc = malloc(rowlen * sizeof *acc); /* (ow * c) int32 */
        if (!acc) {
            st = CS_FAIL(CS_E_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int yy = 0; yy < oh; yy++) {
            int ymin = bv[yy * 2], ymax = bv[yy * 2 + 1];
            const int32_t *k = &kv[(size_t)yy * ksv];
            uint8_t *orow = out + (size_t)yy * rowlen;
            for (size_t xx = 0; xx < rowlen; xx++) acc[xx] = 1 << (PIL_PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) {
                const uint8_t *srow = src + (size_t)(y + ymin) * rowlen;
                int32_t ky = k[y];
                for (size_t xx = 0; xx < rowlen; xx++) acc[xx] += srow[xx] * ky;
            }
            for (size_t xx = 0; xx < rowlen; xx++) orow[xx] = clip8(acc[xx]);
        }
        free(acc);
    } else {
        memcpy(out, src, (size_t)ow * oh * c);
    }
done:
    free(bh), free(bv), free(kh), free(kv), free(tmp);
    return st;
}

cs_status cs_image_resize(const cs_image *in, int w, int h, cs_resample filter, cs_image *out) {
    memset(out, 0, sizeof *out);
    if (w < 1 || h < 1 || (uint64_t)w * h > CS_IMAGE_MAX_PIXELS)
        return CS_FAIL(CS_E_USAGE, "resize: bad target size %dx%d", w, h);
    uint8_t *px = malloc((size_t)w * h * 3); /* (h, w, 3) uint8 */
    if (!px) return CS_FAIL(CS_E_NOMEM, "resize: out of memory for %dx%d", w, h);
    cs_status st = resample_u8(in->rgb, in->width, in->height, 3, w, h, filter, px);
    if (st != CS_OK) {
        free(px);
        return st;
    }
    out->width = w, out->height = h, out->rgb = px;
    return CS_OK;
}

cs_status cs_plane_resize(const uint8_t *in, int w, int h, int ow, int oh, cs_resample filter,
                          uint8_t *out) {
    return resample_u8(in, w, h, 1, ow, oh, filter, out);
}

void cs_image_to_gray(const cs_image *in, uint8_t *gray) {
    size_t n = (size_t)in->width * in->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = in->rgb + 3 * i;
        gray[i] = (uint8_t)(((uint32_t)p[0] * 19595 + (uint32_t)p[1] * 38470 + (uint32_t)p[2] * 7471 +
                             0x8000) >> 16);
    }
}

/* ---- descriptors ---------------------------------------------------------------------------- */
cs_status cs_metric_desc_compute(const cs_image *img, cs_metric_desc *out) {
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return CS_FAIL(CS_E_USAGE, "metrics: empty image");
    size_t n = (size_t)img->width * img->height;
    uint8_t small[64 * 64 * 3]; /* (64, 64, 3) uint8 */
    uint8_t c9[8 * 9 * 3];      /* (8, 9, 3) uint8 */
    uint8_t g9[8 * 9];          /* (8, 9) uint8 */
    cs_status st = resample_u8(img->rgb, img->width, img->height, 3, 64, 64, CS_RESAMPLE_LANCZOS, small);
    if (st == CS_OK) /* the paper's dHash: im.resize((9, 8)) (PIL's default BICUBIC), then convert("L") */
        st = resample_u8(img->rgb, img->width, img->height, 3, 9, 8, CS_RESAMPLE_BICUBIC, c9);
    if (st != CS_OK) return st;
    cs_image_to_gray(&(cs_image){9, 8, c9}, g9);
    double ss = 0;
    for (int i = 0; i < 64 * 64; i++) {
        /* numpy's mean(axis=2) of uint8: (a + b + c) / 3 in float64 */
        double v = ((double)small[3 * i] + small[3 * i + 1] + small[3 * i + 2]) / 3.0;
        out->cos_vec[i] = v;
        ss += v * v;
    }
    out->cos_norm = sqrt(ss);
    memset(out->hist, 0, sizeof out->hist);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) out->hist[c][img->rgb[3 * i + c]]++;
    uint64_t h = 0;
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            if (g9[r * 9 + c] > g9[r * 9 + c + 1]) h |= (uint64_t)1 << (8 * r + c);
    out->dhash = h;
    return CS_OK;
}

double cs_metric_cosine(const cs_metric_desc *a, const cs_metric_desc *b) {
    double dot = 0;
    for (int i = 0; i < 64 * 64; i++) dot += a->cos_vec[i] * b->cos_vec[i];
    double den = a->cos_norm * b->cos_norm;
    /* two black images: identical, similarity 1; one black image: orthogonal to everything */
    if (den == 0) return (a->cos_norm == 0 && b->cos_norm == 0) ? 1.0 : 0.0;
    return dot / den;
}

double cs_hist_correl(const int32_t *h1, const int32_t *h2, int bins) {
    /* OpenCV 4 compareHist, HISTCMP_CORREL; the sums are exact integers here */
    int64_t s1 = 0, s2 = 0;
    double s11 = 0, s22 = 0, s12 = 0;
    for (int i = 0; i < bins; i++) {
        double a = h1[i], b = h2[i];
        s1 += h1[i], s2 += h2[i];
        s11 += a * a, s22 += b * b, s12 += a * b;
    }
    double scale = 1.0 / bins;
    double num = s12 - (double)s1 * (double)s2 * scale;
    double denom2 = (s11 - (double)s1 * (double)s1 * scale) * (s22 - (double)s2 * (double)s2 * scale);
    return fabs(denom2) > 2.220446049250313e-16 ? num / sqrt(denom2) : 1.0;
}

double cs_metric_hist(const cs_metric_desc *a, const cs_metric_desc *b) {
    double s = 0;
    for (int c = 0; c < 3; c++) s += cs_hist_correl(a->hist[c], b->hist[c], 256);
    return s / 3.0;
}

double cs_metric_dhash(const cs_metric_desc *a, const cs_metric_desc *b) {
    return 1.0 - (double)__builtin_popcountll(a->dhash ^ b->dhash) / 64.0;
}

/* ---- SSIM ------------------------------------------------------------------------------------ */
#define SSIM_WIN 7

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3"))) /* vectorizes the SSIM map loop: ~25% faster than -O2 */
#endif
cs_status cs_ssim_same_size(const cs_image *x, const cs_image *y, double *ssim) {
    int w = x->width, h = x->height;
    if (y->width != w || y->height != h)
        return CS_FAIL(CS_E_USAGE, "ssim: sizes differ (%dx%d vs %dx%d)", w, h, y->width, y->height);
    if (w < SSIM_WIN || h < SSIM_WIN)
        return CS_FAIL(CS_E_USAGE, "ssim: image %dx%d is smaller than the 7x7 window", w, h);
    const int pad = (SSIM_WIN - 1) / 2, np = SSIM_WIN * SSIM_WIN;
    const double cov_norm = (double)np / (np - 1), c1 = (0.01 * 255) * (0.01 * 255),
                 c2 = (0.03 * 255) * (0.03 * 255), inv = 1.0 / np;
    const size_t w3 = (size_t)w * 3, o3 = (size_t)(w - 2 * pad) * 3; /* interleaved row, valid row */
    /* Exact integer window sums (max 49 * 255^2 < 2^22, int32). col*: (w3) sums over the window's
     * 7 rows; win*: (o3) 7x7 window sums of the valid windows of the row; acc: (o3) float64 sums of
     * the SSIM map over the rows, per valid column and channel. */
    int32_t *mem = calloc(5 * w3 + 5 * o3, sizeof(int32_t));
    double *acc = calloc(o3, sizeof(double));
    if (!mem || !acc) {
        free(mem), free(acc);
        return CS_FAIL(CS_E_NOMEM, "ssim: out of memory for a %dx%d image", w, h);
    }
    int32_t *cx = mem, *cy = cx + w3, *cxx = cy + w3, *cyy = cxx + w3, *cxy = cyy + w3;
    int32_t *wx = cxy + w3, *wy = wx + o3, *wxx = wy + o3, *wyy = wxx + o3, *wxy = wyy + o3;
    for (int r = 0; r < h; r++) {
        const uint8_t *px = x->rgb + (size_t)r * w3, *py = y->rgb + (size_t)r * w3;
        for (size_t i = 0; i < w3; i++) {
            int32_t a = px[i], b = py[i];
            cx[i] += a, cy[i] += b, cxx[i] += a * a, cyy[i] += b * b, cxy[i] += a * b;
        }
        if (r >= SSIM_WIN) {
            const uint8_t *qx = px - SSIM_WIN * w3, *qy = py - SSIM_WIN * w3;
            for (size_t i = 0; i < w3; i++) {
                int32_t a = qx[i], b = qy[i];
                cx[i] -= a, cy[i] -= b, cxx[i] -= a * a, cyy[i] -= b * b, cxy[i] -= a * b;
            }
        }
        if (r < SSIM_WIN - 1) continue;
        /* horizontal 7-column sums: first window, then slide (stride 3 = one pixel) */
        for (size_t i = 0; i < 3; i++) {
            int32_t sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
            for (int k = 0; k < SSIM_WIN; k++) {
                size_t j = i + 3 * (size_t)k;
                sx += cx[j], sy += cy[j], sxx += cxx[j], syy += cyy[j], sxy += cxy[j];
            }
            wx[i] = sx, wy[i] = sy, wxx[i] = sxx, wyy[i] = syy, wxy[i] = sxy;
        }
        for (size_t i = 3; i < o3; i++) {
            size_t in = i + 3 * (SSIM_WIN - 1), out = i - 3;
            wx[i] = wx[i - 3] + cx[in] - cx[out];
            wy[i] = wy[i - 3] + cy[in] - cy[out];
            wxx[i] = wxx[i - 3] + cxx[in] - cxx[out];
            wyy[i] = wyy[i - 3] + cyy[in] - cyy[out];
            wxy[i] = wxy[i - 3] + cxy[in] - cxy[out];
        }
        /* skimage's formula, on the means of the window */
        for (size_t i = 0; i < o3; i++) {
            double ux = wx[i] * inv, uy = wy[i] * inv;
            double vx = cov_norm * (wxx[i] * inv - ux * ux), vy = cov_norm * (wyy[i] * inv - uy * uy),
                   vxy = cov_norm * (wxy[i] * inv - ux * uy);
            double a1 = 2 * ux * uy + c1, a2 = 2 * vxy + c2, b1 = ux * ux + uy * uy + c1,
                   b2 = vx + vy + c2;
            acc[i] += (a1 * a2) / (b1 * b2);
        }
    }
    double total[3] = {0, 0, 0};
    for (size_t i = 0; i < o3; i++) total[i % 3] += acc[i];
    free(mem), free(acc);
    double nvalid = (double)(w - 2 * pad) * (h - 2 * pad);
    *ssim = (total[0] / nvalid + total[1] / nvalid + total[2] / nvalid) / 3.0;
    return CS_OK;
}

cs_status cs_rgb_ssim_same_size(const cs_image *x, const cs_image *y, double *out) {
    if (y->width != x->width || y->height != x->height)
        return CS_FAIL(CS_E_USAGE, "rgb-ssim: sizes differ (%dx%d vs %dx%d)", x->width, x->height,
                       y->width, y->height);
    size_t n = (size_t)x->width * x->height * 3;
    if (n < 2) return CS_FAIL(CS_E_USAGE, "rgb-ssim: image too small");
    int64_t sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0; /* exact: <= 2^28 * 3 * 65025 < 2^63 */
    for (size_t i = 0; i < n; i++) {
        int64_t a = x->rgb[i], b = y->rgb[i];
        sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
    }
    *out = cs_rgb_ssim_from_sums((int64_t)n, sx, sy, sxx, syy, sxy);
    return CS_OK;
}

double cs_rgb_ssim_from_sums(int64_t n, int64_t sx, int64_t sy, int64_t sxx, int64_t syy, int64_t sxy) {
    double N = (double)n, mx = sx / N, my = sy / N;
    /* sample (co)variances from exact integer sums: (N sxx - sx^2) / (N (N - 1)) */
    double vx = (double)((__int128)n * sxx - (__int128)sx * sx) / (N * (N - 1));
    double vy = (double)((__int128)n * syy - (__int128)sy * sy) / (N * (N - 1));
    double cxy = (double)((__int128)n * sxy - (__int128)sx * sy) / (N * (N - 1));
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
}

/* ---- pairs and sets ----------------------------------------------------------------------------- */
static void fuse(double *out) {
    double s = 0;
    for (int m = 0; m < CS_METRIC_FUSION; m++) {
        double lo, hi;
        cs_metric_range((cs_metric)m, &lo, &hi);
        s += (out[m] - lo) / (hi - lo);
    }
    out[CS_METRIC_FUSION] = s / CS_METRIC_FUSION;
}

/* gen_rs: gen already resized to ref's size, or NULL */
static cs_status pair_impl(const cs_image *ref, const cs_metric_desc *dref, const cs_image *gen,
                           const cs_metric_desc *dgen, const cs_image *gen_rs, const int *want,
                           double *out) {
    cs_status st = CS_OK;
    cs_metric_desc *tmp = NULL;
    cs_image rs = {0};
    int all[CS_METRIC_N_PIXEL] = {1, 1, 1, 1, 1, 1};
    if (!want) want = all;
    int fusion = want[CS_METRIC_FUSION];
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) out[m] = NAN;
    if ((want[CS_METRIC_COSINE] || want[CS_METRIC_HIST] || want[CS_METRIC_DHASH] || fusion) &&
        (!dref || !dgen)) {
        tmp = malloc(2 * sizeof *tmp);
        if (!tmp) return CS_FAIL(CS_E_NOMEM, "metrics: out of memory");
        if (!dref) {
            CS_TRY_GOTO(st, cs_metric_desc_compute(ref, &tmp[0]), done);
            dref = &tmp[0];
        }
        if (!dgen) {
            CS_TRY_GOTO(st, cs_metric_desc_compute(gen, &tmp[1]), done);
            dgen = &tmp[1];
        }
    }
    if (want[CS_METRIC_COSINE] || fusion) out[CS_METRIC_COSINE] = cs_metric_cosine(dref, dgen);
    if (want[CS_METRIC_HIST] || fusion) out[CS_METRIC_HIST] = cs_metric_hist(dref, dgen);
    if (want[CS_METRIC_DHASH] || fusion) out[CS_METRIC_DHASH] = cs_metric_dhash(dref, dgen);
    if (want[CS_METRIC_SSIM] || want[CS_METRIC_RGB_SSIM] || fusion) {
        const cs_image *g = gen_rs ? gen_rs : gen;
        if (g->width != ref->width || g->height != ref->height) {
            CS_TRY_GOTO(st, cs_image_resize(gen, ref->width, ref->height, CS_RESAMPLE_LANCZOS, &rs), done);
            g = &rs;
        }
        if (want[CS_METRIC_SSIM] || fusion)
            CS_TRY_GOTO(st, cs_ssim_same_size(ref, g, &out[CS_METRIC_SSIM]), done);
        if (want[CS_METRIC_RGB_SSIM] || fusion)
            CS_TRY_GOTO(st, cs_rgb_ssim_same_size(ref, g, &out[CS_METRIC_RGB_SSIM]), done);
    }
    if (fusion) fuse(out);
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++)
        if (!want[m]) out[m] = NAN;
done:
    cs_image_free(&rs);
    free(tmp);
    return st;
}

cs_status cs_metric_pair(const cs_image *ref, const cs_metric_desc *dref, const cs_image *gen,
                         const cs_metric_desc *dgen, const int *want, double *out) {
    return pair_impl(ref, dref, gen, dgen, NULL, want, out);
}

/* Generated images are resized once per distinct reference size (not once per pair) when the
 * resized copies fit in this many bytes. */
#define RESIZE_CACHE_MAX_SIZES 16
#define RESIZE_CACHE_MAX_BYTES ((size_t)1 << 30)

typedef struct set_ctx {
    const int *want;
    const cs_image *ref, *gen;
    size_t nref, ngen;
    cs_metric_desc *dref, *dgen;
    double *pair;     /* (ngen, nref, CS_METRIC_N_PIXEL) float64 */
    cs_status *st;    /* (ngen * nref) or (nref + ngen) per item */
    char **msg;       /* same, malloc'ed messages */
    int nsizes;       /* distinct reference sizes (0: no resize cache) */
    int sizes[RESIZE_CACHE_MAX_SIZES][2]; /* (nsizes, 2) width, height */
    int *ref_size;    /* (nref) index into sizes */
    cs_image *rs;     /* (ngen, nsizes) resized generated images (rgb NULL: same size) */
} set_ctx;

static cs_status first_failure(set_ctx *c, size_t n);

static void record(set_ctx *c, size_t i, cs_status st) {
    c->st[i] = st;
    if (st != CS_OK) c->msg[i] = strdup(cs_last_error());
}

static void desc_job(void *vctx, size_t i, int worker) {
    (void)worker;
    set_ctx *c = vctx;
    const cs_image *img = i < c->nref ? &c->ref[i] : &c->gen[i - c->nref];
    cs_metric_desc *d = i < c->nref ? &c->dref[i] : &c->dgen[i - c->nref];
    record(c, i, cs_metric_desc_compute(img, d));
}

static void resize_job(void *vctx, size_t i, int worker) {
    (void)worker;
    set_ctx *c = vctx;
    size_t g = i / c->nsizes, s = i % c->nsizes;
    const cs_image *src = &c->gen[g];
    if (src->width == c->sizes[s][0] && src->height == c->sizes[s][1]) {
        record(c, i, CS_OK);
        return;
    }
    record(c, i, cs_image_resize(src, c->sizes[s][0], c->sizes[s][1], CS_RESAMPLE_LANCZOS, &c->rs[i]));
}

static void pair_job(void *vctx, size_t i, int worker) {
    (void)worker;
    set_ctx *c = vctx;
    size_t g = i / c->nref, r = i % c->nref;
    const cs_image *rs = NULL;
    if (c->rs) {
        const cs_image *cand = &c->rs[g * c->nsizes + c->ref_size[r]];
        if (cand->rgb) rs = cand;
    }
    record(c, i, pair_impl(&c->ref[r], &c->dref[r], &c->gen[g], &c->dgen[g], rs, c->want,
                           c->pair + i * CS_METRIC_N_PIXEL));
}

/* Distinct reference sizes and the resized generated images, when they fit the limits. */
static cs_status resize_cache(set_ctx *c, cs_threadpool *pool) {
    if (!c->want[CS_METRIC_SSIM] && !c->want[CS_METRIC_RGB_SSIM] && !c->want[CS_METRIC_FUSION]) return CS_OK;
    c->ref_size = malloc(c->nref * sizeof *c->ref_size);
    if (!c->ref_size) return CS_FAIL(CS_E_NOMEM, "metrics: out of memory");
    size_t bytes = 0;
    for (size_t r = 0; r < c->nref; r++) {
        int s;
        for (s = 0; s < c->nsizes; s++)
            if (c->sizes[s][0] == c->ref[r].width && c->sizes[s][1] == c->ref[r].height) break;
        if (s == c->nsizes) {
            if (c->nsizes == RESIZE_CACHE_MAX_SIZES) goto no_cache;
            c->sizes[s][0] = c->ref[r].width, c->sizes[s][1] = c->ref[r].height;
            c->nsizes++;
            bytes += (size_t)c->ref[r].width * c->ref[r].height * 3;
        }
        c->ref_size[r] = s;
    }
    if (bytes > RESIZE_CACHE_MAX_BYTES / c->ngen) goto no_cache;
    size_t n = c->ngen * (size_t)c->nsizes;
    c->rs = calloc(n, sizeof *c->rs);
    if (!c->rs) goto no_cache;
    CS_TRY(cs_threadpool_for(pool, n, resize_job, c));
    return first_failure(c, n);
no_cache:
    c->nsizes = 0;
    return CS_OK;
}

static cs_status first_failure(set_ctx *c, size_t n) {
    cs_status st = CS_OK;
    for (size_t i = 0; i < n; i++) {
        if (c->st[i] != CS_OK && st == CS_OK) st = CS_FAIL(c->st[i], "%s", c->msg[i] ? c->msg[i] : "failed");
        free(c->msg[i]);
        c->msg[i] = NULL;
    }
    return st;
}

cs_status cs_metric_set_scores(const int *want_in, const cs_image *ref, size_t nref,
                               const cs_image *gen, size_t ngen, cs_threadpool *pool,
                               cs_metric_score *out, double *per_gen) {
    return cs_metric_set_pairs(want_in, ref, nref, gen, ngen, pool, out, per_gen, NULL);
}

cs_status cs_metric_set_pairs(const int *want_in, const cs_image *ref, size_t nref,
                              const cs_image *gen, size_t ngen, cs_threadpool *pool,
                              cs_metric_score *out, double *per_gen, double *per_pair) {
    if (nref == 0 || ngen == 0) return CS_FAIL(CS_E_USAGE, "metrics: empty image set");
    int want[CS_METRIC_N_PIXEL];
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) want[m] = want_in ? want_in[m] : 1;
    size_t npairs, nitems;
    if (!cs_mul_size(nref, ngen, &npairs) || !cs_mul_size(npairs, CS_METRIC_N_PIXEL, &nitems))
        return CS_FAIL(CS_E_USAGE, "metrics: too many pairs");
    set_ctx c = {want, ref, gen, nref, ngen, NULL, NULL, NULL, NULL, NULL, 0, {{0}}, NULL, NULL};
    size_t nst = npairs > nref + ngen ? npairs : nref + ngen;
    if (nst < ngen * RESIZE_CACHE_MAX_SIZES) nst = ngen * RESIZE_CACHE_MAX_SIZES;
    cs_status st = CS_OK;
    c.dref = malloc(nref * sizeof *c.dref);
    c.dgen = malloc(ngen * sizeof *c.dgen);
    c.pair = malloc(nitems * sizeof(double));
    c.st = calloc(nst, sizeof *c.st);
    c.msg = calloc(nst, sizeof *c.msg);
    if (!c.dref || !c.dgen || !c.pair || !c.st || !c.msg) {
        st = CS_FAIL(CS_E_NOMEM, "metrics: out of memory for %zu pairs", npairs);
        goto done;
    }
    /* descriptors only for the metrics that read them (an ssim-only run needs none) */
    if (want[CS_METRIC_COSINE] || want[CS_METRIC_HIST] || want[CS_METRIC_DHASH] || want[CS_METRIC_FUSION]) {
        CS_TRY_GOTO(st, cs_threadpool_for(pool, nref + ngen, desc_job, &c), done);
        CS_TRY_GOTO(st, first_failure(&c, nref + ngen), done);
    }
    CS_TRY_GOTO(st, resize_cache(&c, pool), done);
    CS_TRY_GOTO(st, cs_threadpool_for(pool, npairs, pair_job, &c), done);
    CS_TRY_GOTO(st, first_failure(&c, npairs), done);
    if (per_pair) memcpy(per_pair, c.pair, nitems * sizeof(double));
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) {
        cs_metric_score s = {0, INFINITY, -INFINITY, npairs};
        if (!want[m]) s.mean = s.min = s.max = NAN;
        for (size_t g = 0; g < ngen; g++) {
            double row = 0;
            for (size_t r = 0; r < nref; r++) {
                double v = c.pair[(g * nref + r) * CS_METRIC_N_PIXEL + m];
                row += v;
                if (v < s.min) s.min = v;
                if (v > s.max) s.max = v;
            }
            s.mean += row; /* NaN stays NaN for unwanted metrics */
            if (per_gen) per_gen[g * CS_METRIC_N_PIXEL + m] = row / nref;
        }
        s.mean /= (double)npairs;
        if (!want[m]) s.mean = s.min = s.max = NAN;
        out[m] = s;
    }
done:
    if (c.msg)
        for (size_t i = 0; i < nst; i++) free(c.msg[i]);
    if (c.rs)
        for (size_t i = 0; i < ngen * (size_t)c.nsizes; i++) cs_image_free(&c.rs[i]);
    free(c.rs), free(c.ref_size);
    free(c.dref), free(c.dgen), free(c.pair), free(c.st), free(c.msg);
    return st;
}

cs_status cs_metric_set_score(cs_metric m, const cs_image *ref, size_t nref, const cs_image *gen,
                              size_t ngen, cs_threadpool *pool, cs_metric_score *out,
                              double *per_gen) {
    if (!cs_metric_is_pixel(m))
        return CS_FAIL(CS_E_USAGE, "metrics: '%s' is not a pixel metric (use cs_kid_compute / "
                       "cs_fid_compute on features)", cs_metric_name(m));
    int want[CS_METRIC_N_PIXEL] = {0};
    want[m] = 1;
    cs_metric_score all[CS_METRIC_N_PIXEL];
    double *pg = NULL;
    if (per_gen) {
        size_t n;
        if (!cs_mul_size(ngen, CS_METRIC_N_PIXEL * sizeof(double), &n) || !(pg = malloc(n)))
            return CS_FAIL(CS_E_NOMEM, "metrics: out of memory");
    }
    cs_status st = cs_metric_set_scores(want, ref, nref, gen, ngen, pool, all, pg);
    if (st == CS_OK) {
        *out = all[m];
        if (per_gen)
            for (size_t g = 0; g < ngen; g++) per_gen[g] = pg[g * CS_METRIC_N_PIXEL + m];
    }
    free(pg);
    return st;
}
