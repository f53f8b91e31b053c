/* CPU backend: the oracle. OpenBLAS sgemm for convolutions (1x1 stride-1 convs as a direct
 * GEMM on the NCHW input, others through im2col), OpenMP for im2col, bias+ReLU and pools.
 * Each op's plain reference (cs_ref_*, naive loops) is kept at the top of this file; the fast
 * versions below are checked against them by tests/test_backend_ops.c. */
#include "net/backend.h"
#include "core/blas.h"
#include "core/common.h"
#include "copyscope/model.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
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

#define CPU_MAX_THREADS 256

/* Threading. Every sgemm runs on one OpenBLAS thread (core/blas.h) and each image's convolution
 * is the same fixed sequence of calls (one per block of output rows, im2col_block_rows), so a
 * feature's bits never depend on --threads, the batch size or the mode below:
 *  - batch mode (one caller thread): the (image, row block) items of a layer are spread over
 *    OpenMP threads; pools split by planes;
 *  - worker mode (workers_begin/end): the caller runs up to `threads` workers in an OpenMP
 *    parallel region, each calling ops on its own images; every op then runs serially in the
 *    calling worker with that worker's workspace.
 * Workspaces are per thread and only ever touched by their thread (or by the caller before
 * a parallel loop), so they grow without locks. */
typedef struct cpu_ws {
    float *col;      /* im2col block (cin*kh*kw, rows*wout) float32 */
    size_t col_cap;  /* floats */
    float *row;      /* separable-pool row buffer (w) float32 */
    size_t row_cap;
} cpu_ws;

/* The testing aid cs_backend_cpu_opts.async_emulation (see cpu_iface_async): uploads on the "copy
 * queue" are deferred until the contract of backend.h forces them. */
typedef struct cpu_pending_copy {
    void *dst;
    const void *src;
    size_t bytes;
} cpu_pending_copy;

typedef struct cpu_ctx {
    int threads;
    int worker_mode;
    cpu_ws ws[CPU_MAX_THREADS];
    char name[160];
    /* deferred copy queue (testing aid): copies [done, n) not yet made */
    cpu_pending_copy *copies;
    size_t n_copies, cap_copies, copies_done;
    struct {
        int queue;  /* CS_QUEUE_COMPUTE or CS_QUEUE_COPY */
        size_t seq; /* copy queue: copies before the fence */
    } fence[CS_BACKEND_FENCES];
} cpu_ctx;

/* Grow a per-thread buffer to `need` floats; NULL (with CS_E_NOMEM recorded) on failure. */
static float *ws_grow(float **buf, size_t *cap, size_t need, const char *what) {
    if (need > *cap) {
        free(*buf);
        *cap = 0;
        *buf = cs_malloc(need * sizeof(float), what);
        if (*buf) *cap = need;
    }
    return *buf;
}

static void cpu_free(cs_backend *be) {
    if (!be) return;
    cpu_ctx *c = be->ctx;
    if (c) {
        for (int i = 0; i < CPU_MAX_THREADS; i++) {
            free(c->ws[i].col);
            free(c->ws[i].row);
        }
        free(c->copies);
    }
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
    *out = NULL;
    if (posix_memalign(out, 64, bytes ? bytes : 64) != 0) { /* 64 bytes: cache line, AVX-512 */
        *out = NULL;
        return CS_FAIL(CS_E_NOMEM, "out of memory allocating %zu bytes for a CPU tensor buffer", bytes);
    }
    return CS_OK;
}

/* Make the deferred copies up to sequence number seq (testing aid). */
static void cpu_run_copies(cpu_ctx *c, size_t seq) {
    for (; c->copies_done < seq && c->copies_done < c->n_copies; c->copies_done++) {
        const cpu_pending_copy *p = &c->copies[c->copies_done];
        memcpy(p->dst, p->src, p->bytes);
    }
    if (c->copies_done == c->n_copies) c->n_copies = c->copies_done = 0; /* queue empty: reuse */
}

static void cpu_buffer_free(cs_backend *be, void *buf) {
    cpu_run_copies(be->ctx, (size_t)-1); /* like a GPU: waits for copies in flight */
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

/* ---- async_emulation (a testing aid): the asynchronous members, emulated lazily -------------
 * The compute queue is this thread (ops and download_async happen at once, in order). The copy
 * queue is a list of deferred memcpys made only when the contract of backend.h forces them: the
 * compute queue waiting for a fence recorded on the copy queue, the host waiting for one, or a
 * buffer being freed. So a model that reads uploaded data without waiting for its fence reads
 * stale data, and one that rewrites a source buffer before the copy's fence was passed uploads
 * the wrong data: the tests of the GPU pipeline's bookkeeping fail on the CPU. */

static cs_status cpu_upload_async(cs_backend *be, void *dst, const void *src, size_t bytes) {
    cpu_ctx *c = be->ctx;
    if (!bytes) return CS_OK;
    if (c->n_copies == c->cap_copies) {
        size_t nc = c->cap_copies ? 2 * c->cap_copies : 16;
        cpu_pending_copy *np = realloc(c->copies, nc * sizeof *np);
        if (!np) return CS_FAIL(CS_E_NOMEM, "out of memory queueing a copy");
        c->copies = np;
        c->cap_copies = nc;
    }
    c->copies[c->n_copies++] = (cpu_pending_copy){dst, src, bytes};
    return CS_OK;
}

static cs_status cpu_fence_check(int fence) {
    if (fence < 0 || fence >= CS_BACKEND_FENCES) return CS_FAIL(CS_E_INTERNAL, "cpu: fence %d out of range", fence);
    return CS_OK;
}

static cs_status cpu_fence_record(cs_backend *be, int fence, int queue) {
    cpu_ctx *c = be->ctx;
    CS_TRY(cpu_fence_check(fence));
    c->fence[fence].queue = queue;
    c->fence[fence].seq = queue == CS_QUEUE_COPY ? c->n_copies : 0;
    return CS_OK;
}

static cs_status cpu_queue_wait(cs_backend *be, int queue, int fence) {
    cpu_ctx *c = be->ctx;
    CS_TRY(cpu_fence_check(fence));
    /* the compute queue waiting for the copy queue: the copies before the fence happen now; the
     * copy queue waiting for the compute queue: compute is always done */
    if (queue == CS_QUEUE_COMPUTE && c->fence[fence].queue == CS_QUEUE_COPY) cpu_run_copies(c, c->fence[fence].seq);
    return CS_OK;
}

static cs_status cpu_fence_wait(cs_backend *be, int fence) {
    cpu_ctx *c = be->ctx;
    CS_TRY(cpu_fence_check(fence));
    if (c->fence[fence].queue == CS_QUEUE_COPY) cpu_run_copies(c, c->fence[fence].seq);
    return CS_OK;
}

/* col (cin*kh*kw, hout*wout) from one image x (cin, h, w); zero where the window is padding. */
/* Output rows [oy0, oy1) of the im2col matrix: col (cin*kh*kw, (oy1-oy0)*wout). */
static void im2col(const cs_conv2d_params *p, const float *x, float *col, int oy0, int oy1) {
    const int kk = p->kh * p->kw, ncols = (oy1 - oy0) * p->wout;
    const int rows = p->cin * kk;
    for (int r = 0; r < rows; r++) {
        const int ci = r / kk, ky = (r % kk) / p->kw, kx = r % p->kw;
        const float *xc = x + (size_t)ci * p->h * p->w;
        float *dst = col + (size_t)r * ncols;
        for (int oy = oy0; oy < oy1; oy++) {
            const int iy = oy * p->stride - p->ph + ky;
            float *d = dst + (size_t)(oy - oy0) * p->wout;
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

/* Output rows per im2col block: the whole image unless its matrix exceeds IM2COL_FULL floats,
 * else blocks of about IM2COL_BLOCK floats. */
#define IM2COL_FULL ((size_t)2 << 20)
#define IM2COL_BLOCK ((size_t)256 << 10)
static int im2col_block_rows(const cs_conv2d_params *p) {
    const size_t row = (size_t)p->cin * p->kh * p->kw * (size_t)p->wout; /* floats per output row */
    if (row * (size_t)p->hout <= IM2COL_FULL) return p->hout;
    size_t rb = IM2COL_BLOCK / row;
    return rb < 1 ? 1 : (int)rb;
}

/* Output rows [oy0, oy1) of one image: y_b (cout, hout*wout) rows slice = relu(w (cout, K) @
 * col (K, rows*wout) + bias). The unit of work: its arithmetic depends on the layer only. */
static void conv_block(const cs_conv2d_params *p, int direct, const float *xb, const float *w,
                       const float *bias, float *yb, float *col, int oy0, int oy1) {
    const int hw_out = p->hout * p->wout, K = p->cin * p->kh * p->kw, nc = (oy1 - oy0) * p->wout;
    float *yc = yb + (size_t)oy0 * p->wout;
    if (direct) { /* a 1x1 stride-1 conv reads the (cin, h*w) input directly */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->cout, nc, K, 1.0f, w, K,
                    xb + (size_t)oy0 * p->wout, hw_out, 0.0f, yc, hw_out);
    } else {
        /* blocks of output rows so that each im2col block (K, rows*wout) stays in cache between
         * its writing and the GEMM reading it (the stem's full matrix is 25 MB) */
        im2col(p, xb, col, oy0, oy1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->cout, nc, K, 1.0f, w, K, col, nc,
                    0.0f, yc, hw_out);
    }
    for (int co = 0; co < p->cout; co++) {
        float *row = yc + (size_t)co * hw_out;
        const float bv = bias ? bias[co] : 0.0f;
        if (p->relu) {
#pragma omp simd
            for (int i = 0; i < nc; i++) {
                float v = row[i] + bv;
                row[i] = v < 0.0f ? 0.0f : v; /* NaN stays NaN, as torch's relu */
            }
        } else {
#pragma omp simd
            for (int i = 0; i < nc; i++) row[i] += bv;
        }
    }
}

static cs_status cpu_conv2d(cs_backend *be, const cs_conv2d_params *p, const float *x,
                            const float *w, const float *bias, float *y) {
    cpu_ctx *c = be->ctx;
    const size_t in_img = (size_t)p->cin * p->h * p->w, hw_out = (size_t)p->hout * p->wout;
    const int direct = p->kh == 1 && p->kw == 1 && p->stride == 1 && p->ph == 0 && p->pw == 0;
    /* a 1x1 conv is one call per image; otherwise one per im2col block of output rows */
    const int rb = direct ? p->hout : im2col_block_rows(p), nblk = (p->hout + rb - 1) / rb;
    const int items = p->n * nblk; /* (image, row block) */
    size_t need = 0;                /* im2col workspace floats */
    if (!direct && !cs_mul_size((size_t)p->cin * p->kh * p->kw, (size_t)rb * (size_t)p->wout, &need))
        return CS_FAIL(CS_E_USAGE, "conv2d: im2col size overflows");
    cs_blas_serial();
    const int outer = c->worker_mode ? omp_get_thread_num() : -1; /* worker: serial, own workspace */
    const int nt = outer >= 0 ? 1 : (items < c->threads ? items : c->threads);
    for (int i = 0; i < nt && !direct; i++) {
        cpu_ws *ws = &c->ws[outer >= 0 ? outer : i];
        if (!ws_grow(&ws->col, &ws->col_cap, need, "im2col workspace")) return CS_E_NOMEM;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int it = 0; it < items; it++) {
        const int b = it / nblk, oy0 = (it % nblk) * rb, oy1 = oy0 + rb < p->hout ? oy0 + rb : p->hout;
        conv_block(p, direct, x + (size_t)b * in_img, w, bias,
                   y + ((size_t)b * p->out_c_total + p->out_c_offset) * hw_out,
                   c->ws[outer >= 0 ? outer : omp_get_thread_num()].col, oy0, oy1);
    }
    return CS_OK;
}

/* NaN-propagating max, as torch's max_pool2d. */
static inline float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

/* Separable 3x3 pool of one plane: the (clipped) rows of the window are combined into a row
 * buffer (vectorised), then the columns. Sum order differs from the reference's row-major
 * double sum by float rounding only; max is exact. */
static void pool3_plane(const cs_pool_params *p, const float *xc, float *yc, int is_max, float *v) {
    const int W = p->w;
    for (int oy = 0; oy < p->hout; oy++) {
        int y0 = oy * p->stride - p->pad, y1 = y0 + 3;
        if (y0 < 0) y0 = 0;
        if (y1 > p->h) y1 = p->h;
        const float *r0 = xc + (size_t)y0 * W;
        memcpy(v, r0, sizeof(float) * (size_t)W);
        for (int iy = y0 + 1; iy < y1; iy++) {
            const float *r = xc + (size_t)iy * W;
            if (is_max) {
#pragma omp simd
                for (int ix = 0; ix < W; ix++) v[ix] = max_nan(v[ix], r[ix]);
            } else {
#pragma omp simd
                for (int ix = 0; ix < W; ix++) v[ix] += r[ix];
            }
        }
        const int rows = y1 - y0;
        float *o = yc + (size_t)oy * p->wout;
        for (int ox = 0; ox < p->wout; ox++) {
            int x0 = ox * p->stride - p->pad, x1 = x0 + 3;
            if (x0 < 0) x0 = 0;
            if (x1 > W) x1 = W;
            float acc = v[x0];
            if (is_max) {
                for (int ix = x0 + 1; ix < x1; ix++) acc = max_nan(acc, v[ix]);
                o[ox] = acc;
            } else {
                for (int ix = x0 + 1; ix < x1; ix++) acc += v[ix];
                o[ox] = acc / (float)(rows * (x1 - x0));
            }
        }
    }
}

static cs_status cpu_pool3(cpu_ctx *c, const cs_pool_params *p, const float *x, float *y, int is_max) {
    const int nc = p->n * p->c;
    const int outer = c->worker_mode ? omp_get_thread_num() : -1; /* worker: serial, own buffer */
    for (int i = 0; i < (outer >= 0 ? 1 : c->threads); i++) {
        cpu_ws *ws = &c->ws[outer >= 0 ? outer : i];
        if (!ws_grow(&ws->row, &ws->row_cap, (size_t)p->w, "pool row buffer")) return CS_E_NOMEM;
    }
#pragma omp parallel for schedule(static) num_threads(c->threads) if (outer < 0)
    for (int i = 0; i < nc; i++) {
        const int b = i / p->c, ch = i % p->c;
        const float *xc = x + (size_t)i * p->h * p->w;
        float *yc = y + ((size_t)b * p->out_c_total + p->out_c_offset + ch) * p->hout * p->wout;
        pool3_plane(p, xc, yc, is_max, c->ws[outer >= 0 ? outer : omp_get_thread_num()].row);
    }
    return CS_OK;
}

static cs_status cpu_maxpool3(cs_backend *be, const cs_pool_params *p, const float *x, float *y) {
    return cpu_pool3(be->ctx, p, x, y, 1);
}

static cs_status cpu_avgpool3(cs_backend *be, const cs_pool_params *p, const float *x, float *y) {
    return cpu_pool3(be->ctx, p, x, y, 0);
}

static cs_status cpu_global_avgpool(cs_backend *be, int n, int c, int h, int w, const float *x,
                                    float *y) {
    const int nc = n * c, hw = h * w;
    const cpu_ctx *ctx = be->ctx;
#pragma omp parallel for schedule(static) num_threads(ctx->threads) if (!ctx->worker_mode)
    for (int i = 0; i < nc; i++) {
        const float *xc = x + (size_t)i * hw;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int k = 0; k < hw; k++) acc += xc[k];
        y[i] = (float)(acc / hw);
    }
    return CS_OK;
}

static int cpu_max_workers(cs_backend *be) { return ((cpu_ctx *)be->ctx)->threads; }

static cs_status cpu_workers_begin(cs_backend *be) {
    cpu_ctx *c = be->ctx;
    cs_blas_serial();
    c->worker_mode = 1;
    return CS_OK;
}

static void cpu_workers_end(cs_backend *be) { ((cpu_ctx *)be->ctx)->worker_mode = 0; }

/* "Device" buffers are host memory: the host preprocessing, into the backend buffer. */
static cs_status cpu_preprocess_rgb(cs_backend *be, const uint8_t *rgb, int width, int height,
                                    float *out) {
    (void)be;
    return cs_preprocess_rgb(rgb, width, height, out);
}

/* The members of both CPU interfaces. */
#define CPU_IFACE_OPS                                                                              \
    .name = "cpu", .free = cpu_free, .device_name = cpu_device_name, .supports = cpu_supports,    \
    .preferred_batch = cpu_preferred_batch, .max_workers = cpu_max_workers,                       \
    .workers_begin = cpu_workers_begin, .workers_end = cpu_workers_end,                           \
    .buffer_alloc = cpu_buffer_alloc, .buffer_free = cpu_buffer_free, .upload = cpu_copy,         \
    .download = cpu_copy, .synchronize = cpu_synchronize, .conv2d = cpu_conv2d,                   \
    .maxpool3 = cpu_maxpool3, .avgpool3 = cpu_avgpool3, .global_avgpool = cpu_global_avgpool,     \
    .preprocess_rgb = cpu_preprocess_rgb

static const cs_backend_i cpu_iface = {CPU_IFACE_OPS};

/* The same with the asynchronous members (the testing aid async_emulation). */
static const cs_backend_i cpu_iface_async = {
    CPU_IFACE_OPS,
    .upload_async = cpu_upload_async,
    .download_async = cpu_copy, /* the compute queue runs in order, at once */
    .fence_record = cpu_fence_record,
    .queue_wait = cpu_queue_wait,
    .fence_wait = cpu_fence_wait,
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
    if (threads <= 0) threads = omp_get_max_threads(); /* OMP_NUM_THREADS, else all cores */
    if (threads > CPU_MAX_THREADS) threads = CPU_MAX_THREADS;
    c->threads = threads;
    /* Process-wide settings: the last model created decides (documented in model.h). */
    omp_set_num_threads(threads);
    cs_blas_serial();
    snprintf(c->name, sizeof c->name, "CPU (%d thread%s, OpenBLAS sgemm)", threads, threads == 1 ? "" : "s");
    be->iface = &cpu_iface;
    be->ctx = c;
    *out = be;
    return CS_OK;
}

cs_status cs_backend_cpu_create_opts(const cs_backend_cpu_opts *o, cs_backend **out) {
    CS_TRY(cs_backend_cpu_create(o->threads, out));
    if (o->async_emulation) {
        cpu_ctx *c = (*out)->ctx;
        snprintf(c->name, sizeof c->name, "CPU (%d thread%s, OpenBLAS sgemm; lazily emulated copy queue, a testing aid)",
                 c->threads, c->threads == 1 ? "" : "s");
        (*out)->iface = &cpu_iface_async;
    }
    return CS_OK;
}
