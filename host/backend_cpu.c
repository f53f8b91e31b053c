/* CPU backend: the oracle. OpenBLAS sgemm for convolutions (1x1 stride-1 convs as a direct
 * GEMM on the NCHW input, others through im2col), OpenMP for im2col, bias+ReLU and pools.
 * Each op's plain reference (cs_ref_*, naive loops) is kept at the top of this file; the fast
 * versions below are checked against them by tests/test_backend_ops.c. */
#include "backend.h"
#include "common.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

/* ======================= reference implementations (naive loops) ======================= */

void cs_ref_conv2d(const cs_conv2d_params *p, const float *x, const float *w, const float *bias,
                   float *y) {
    for (int b = 0; b < p->n; b++)
        for (int co = 0; co < p->cout; co++)
            for (int oy = 0; oy < p->hout; oy++)
                for (int ox = 0; ox < p->wout; ox++) {
                    double acc = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < p->cin; ci++)
                        for (int ky = 0; ky < p->kh; ky++)
                            for (int kx = 0; kx < p->kw; kx++) {
                                int iy = oy * p->stride - p->ph + ky;
                                int ix = ox * p->stride - p->pw + kx;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                                acc += (double)x[(((size_t)b * p->cin + ci) * p->h + iy) * p->w + ix] *
                                       (double)w[(((size_t)co * p->cin + ci) * p->kh + ky) * p->kw + kx];
                            }
                    if (p->relu && acc < 0) acc = 0;
                    y[(((size_t)b * p->out_c_total + p->out_c_offset + co) * p->hout + oy) * p->wout + ox] =
                        (float)acc;
                }
}

/* 3x3 pool window clipped to the image; max over it, or mean over its valid cells
 * (count_include_pad=False). */
static void ref_pool3(const cs_pool_params *p, const float *x, float *y, int is_max) {
    for (int b = 0; b < p->n; b++)
        for (int c = 0; c < p->c; c++)
            for (int oy = 0; oy < p->hout; oy++)
                for (int ox = 0; ox < p->wout; ox++) {
                    double acc = is_max ? -INFINITY : 0.0;
                    int cnt = 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = oy * p->stride - p->pad + ky, ix = ox * p->stride - p->pad + kx;
                            if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                            double v = x[(((size_t)b * p->c + c) * p->h + iy) * p->w + ix];
                            if (is_max) acc = v > acc || isnan(v) ? v : acc;
                            else acc += v;
                            cnt++;
                        }
                    y[(((size_t)b * p->out_c_total + p->out_c_offset + c) * p->hout + oy) * p->wout + ox] =
                        (float)(is_max ? acc : acc / cnt);
                }
}

void cs_ref_maxpool3(const cs_pool_params *p, const float *x, float *y) { ref_pool3(p, x, y, 1); }
void cs_ref_avgpool3(const cs_pool_params *p, const float *x, float *y) { ref_pool3(p, x, y, 0); }

void cs_ref_global_avgpool(int n, int c, int h, int w, const float *x, float *y) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            double acc = 0;
            for (int i = 0; i < h * w; i++) acc += x[((size_t)b * c + ch) * h * w + i];
            y[(size_t)b * c + ch] = (float)(acc / (h * w));
        }
}

/* ================================ the fast CPU backend ================================ */

typedef struct cpu_ctx {
    int threads;
    float *col;       /* im2col workspace (cin*kh*kw, hout*wout) float32, grown to the largest layer */
    size_t col_cap;   /* floats */
    char name[96];
} cpu_ctx;

static void cpu_free(cs_backend *be) {
    if (!be) return;
    cpu_ctx *c = be->ctx;
    if (c) free(c->col);
    free(c);
    free(be);
}

static const char *cpu_device_name(cs_backend *be) { return ((cpu_ctx *)be->ctx)->name; }

static int cpu_supports(cs_backend *be, cs_op op, const void *params) {
    (void)be;
    if (op == CS_OP_MAXPOOL3 || op == CS_OP_AVGPOOL3) {
        const cs_pool_params *p = params;
        return !p || (p->pad >= 0 && p->pad <= 2 && p->stride >= 1);
    }
    return op >= 0 && op < CS_OP_COUNT;
}

static int cpu_preferred_batch(cs_backend *be) {
    (void)be;
    return 8; /* activations ~24 MB per image; larger chunks gain nothing on CPU */
}

static cs_status cpu_buffer_alloc(cs_backend *be, size_t bytes, void **out) {
    (void)be;
    *out = cs_malloc(bytes, "CPU tensor buffer");
    return *out ? CS_OK : CS_E_NOMEM;
}

static void cpu_buffer_free(cs_backend *be, void *buf) {
    (void)be;
    free(buf);
}

static cs_status cpu_copy(cs_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memcpy(dst, src, bytes);
    return CS_OK;
}

static cs_status cpu_synchronize(cs_backend *be) {
    (void)be;
    return CS_OK;
}

/* col (cin*kh*kw, hout*wout) from one image x (cin, h, w); zero where the window is padding. */
static void im2col(const cs_conv2d_params *p, const float *x, float *col) {
    const int kk = p->kh * p->kw, hw_out = p->hout * p->wout;
    const int rows = p->cin * kk;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const int ci = r / kk, ky = (r % kk) / p->kw, kx = r % p->kw;
        const float *xc = x + (size_t)ci * p->h * p->w;
        float *dst = col + (size_t)r * hw_out;
        for (int oy = 0; oy < p->hout; oy++) {
            const int iy = oy * p->stride - p->ph + ky;
            float *d = dst + (size_t)oy * p->wout;
            if (iy < 0 || iy >= p->h) {
                memset(d, 0, sizeof(float) * (size_t)p->wout);
                continue;
            }
            const float *src = xc + (size_t)iy * p->w;
            if (p->stride == 1) {
                /* valid ox: 0 <= ox - pw + kx < w, i.e. ox in [lo, hi) */
                int lo = p->pw - kx, hi = p->w + p->pw - kx;
                if (lo < 0) lo = 0;
                if (lo > p->wout) lo = p->wout;
                if (hi > p->wout) hi = p->wout;
                if (hi < lo) hi = lo;
                for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                if (hi > lo) memcpy(d + lo, src + lo - p->pw + kx, sizeof(float) * (size_t)(hi - lo));
                for (int ox = hi; ox < p->wout; ox++) d[ox] = 0.0f;
            } else {
                for (int ox = 0; ox < p->wout; ox++) {
                    const int ix = ox * p->stride - p->pw + kx;
                    d[ox] = (ix >= 0 && ix < p->w) ? src[ix] : 0.0f;
                }
            }
        }
    }
}

static cs_status cpu_conv2d(cs_backend *be, const cs_conv2d_params *p, const float *x,
                            const float *w, const float *bias, float *y) {
    cpu_ctx *c = be->ctx;
    const int hw_in = p->h * p->w, hw_out = p->hout * p->wout;
    const int K = p->cin * p->kh * p->kw;
    const int direct = p->kh == 1 && p->kw == 1 && p->stride == 1 && p->ph == 0 && p->pw == 0;
    if (!direct) {
        size_t need;
        if (!cs_mul_size((size_t)K, (size_t)hw_out, &need))
            return CS_FAIL(CS_E_USAGE, "conv2d: im2col size overflows");
        if (need > c->col_cap) {
            free(c->col);
            c->col_cap = 0;
            c->col = cs_malloc(need * sizeof(float), "im2col workspace");
            if (!c->col) return CS_E_NOMEM;
            c->col_cap = need;
        }
    }
    for (int b = 0; b < p->n; b++) {
        const float *xb = x + (size_t)b * p->cin * hw_in;
        float *yb = y + ((size_t)b * p->out_c_total + p->out_c_offset) * hw_out; /* (cout, hw_out) */
        const float *B = xb;
        if (!direct) {
            im2col(p, xb, c->col);
            B = c->col;
        }
        /* yb (cout, hw_out) = w (cout, K) @ B (K, hw_out) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->cout, hw_out, K, 1.0f, w, K, B,
                    hw_out, 0.0f, yb, hw_out);
        const int relu = p->relu;
#pragma omp parallel for schedule(static)
        for (int co = 0; co < p->cout; co++) {
            float *row = yb + (size_t)co * hw_out;
            const float bv = bias ? bias[co] : 0.0f;
            if (relu)
                for (int i = 0; i < hw_out; i++) {
                    float v = row[i] + bv;
                    row[i] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int i = 0; i < hw_out; i++) row[i] += bv;
        }
    }
    return CS_OK;
}

static cs_status cpu_pool3(const cs_pool_params *p, const float *x, float *y, int is_max) {
    const int nc = p->n * p->c;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < nc; i++) {
        const int b = i / p->c, ch = i % p->c;
        const float *xc = x + (size_t)i * p->h * p->w;
        float *yc = y + ((size_t)b * p->out_c_total + p->out_c_offset + ch) * p->hout * p->wout;
        for (int oy = 0; oy < p->hout; oy++) {
            int y0 = oy * p->stride - p->pad, y1 = y0 + 3;
            if (y0 < 0) y0 = 0;
            if (y1 > p->h) y1 = p->h;
            for (int ox = 0; ox < p->wout; ox++) {
                int x0 = ox * p->stride - p->pad, x1 = x0 + 3;
                if (x0 < 0) x0 = 0;
                if (x1 > p->w) x1 = p->w;
                float out;
                if (is_max) {
                    float m = -INFINITY;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) {
                            float v = xc[iy * p->w + ix];
                            m = (v > m || isnan(v)) ? v : m;
                        }
                    out = m;
                } else {
                    float s = 0.0f;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) s += xc[iy * p->w + ix];
                    out = s / (float)((y1 - y0) * (x1 - x0));
                }
                yc[oy * p->wout + ox] = out;
            }
        }
    }
    return CS_OK;
}

static cs_status cpu_maxpool3(cs_backend *be, const cs_pool_params *p, const float *x, float *y) {
    (void)be;
    return cpu_pool3(p, x, y, 1);
}

static cs_status cpu_avgpool3(cs_backend *be, const cs_pool_params *p, const float *x, float *y) {
    (void)be;
    return cpu_pool3(p, x, y, 0);
}

static cs_status cpu_global_avgpool(cs_backend *be, int n, int c, int h, int w, const float *x,
                                    float *y) {
    (void)be;
    const int nc = n * c, hw = h * w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < nc; i++) {
        const float *xc = x + (size_t)i * hw;
        double acc = 0.0;
        for (int k = 0; k < hw; k++) acc += xc[k];
        y[i] = (float)(acc / hw);
    }
    return CS_OK;
}

static const cs_backend_i cpu_iface = {
    .name = "cpu",
    .free = cpu_free,
    .device_name = cpu_device_name,
    .supports = cpu_supports,
    .preferred_batch = cpu_preferred_batch,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .synchronize = cpu_synchronize,
    .conv2d = cpu_conv2d,
    .maxpool3 = cpu_maxpool3,
    .avgpool3 = cpu_avgpool3,
    .global_avgpool = cpu_global_avgpool,
};

cs_status cs_backend_cpu_create(int threads, cs_backend **out) {
    *out = NULL;
    cs_backend *be = cs_calloc(1, sizeof *be, "CPU backend");
    cpu_ctx *c = cs_calloc(1, sizeof *c, "CPU backend context");
    if (!be || !c) {
        free(be);
        free(c);
        return CS_E_NOMEM;
    }
    if (threads <= 0) threads = omp_get_num_procs();
    c->threads = threads;
    /* Process-wide settings: the last model created decides (documented in model.h). */
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    snprintf(c->name, sizeof c->name, "CPU (%d thread%s, OpenBLAS sgemm)", threads,
             threads == 1 ? "" : "s");
    be->iface = &cpu_iface;
    be->ctx = c;
    *out = be;
    return CS_OK;
}
