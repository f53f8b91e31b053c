// Similarity metrics on the GPU: KID (twin of host/fid/metrics_kid.c) and the pixel metrics SSIM,
// RGB-SSIM, cosine, hist, dhash (twins of host/fid/metrics_pixel.c). See host/fid/gpu_math.h.
//
// Exactness: the per-element formulas use explicitly rounded double operations (no FMA
// contraction), so every kernel value, every SSIM window value, every histogram correlation and
// every dHash equals the CPU's bit for bit; only the order of the final sums differs (tree
// reductions here, sequential loops there), which moves results by a few ulps of the sums.
#include "cuda_math.cuh"

#include <float.h>

// ---- KID ------------------------------------------------------------------------------------

#define GK_KID_BLOCKS 8 // blocks per subset (grid.x); partial sums are added on the host
#define GK_KID_THREADS 256

// k(x, y) = (x.y / d + 1)^3 from the inner product, as metrics_kid.c's cube(g / d + 1)
static __device__ __forceinline__ double gk_kernel(double gv, double dd) {
    double v = __dadd_rn(__ddiv_rn(gv, dd), 1.0);
    return __dmul_rn(__dmul_rn(v, v), v);
}

// Block tree reduction of 3 doubles per thread; thread 0 writes them to out[0..2].
static __device__ void gk_reduce3(double a, double b, double c, double *out) {
    __shared__ double sh[3][GK_KID_THREADS];
    const int t = threadIdx.x;
    sh[0][t] = a, sh[1][t] = b, sh[2][t] = c;
    __syncthreads();
    for (int s = GK_KID_THREADS / 2; s > 0; s >>= 1) {
        if (t < s) {
            sh[0][t] = __dadd_rn(sh[0][t], sh[0][t + s]);
            sh[1][t] = __dadd_rn(sh[1][t], sh[1][t + s]);
            sh[2][t] = __dadd_rn(sh[2][t], sh[2][t + s]);
        }
        __syncthreads();
    }
    if (t == 0) out[0] = sh[0][0], out[1] = sh[1][0], out[2] = sh[2][0];
}

// Full-Gram path: subset s = blockIdx.y, rows ix/iy (m each) of x and y; G (nt, nt) the Gram
// matrix of [x; y]. partial (S, GK_KID_BLOCKS, 3): sxx (i < j), syy (i < j), sxy (all i, j).
static __global__ void gk_kid_gram_sums(const double *__restrict__ G, long long nt, long long n1,
                                        const int *__restrict__ ix, const int *__restrict__ iy, int m,
                                        double dd, double *partial) {
    const int s = blockIdx.y;
    const int *jx = ix + (size_t)s * m, *jy = iy + (size_t)s * m;
    double sxx = 0.0, syy = 0.0, sxy = 0.0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < m; i += gridDim.x * blockDim.x) {
        const double *rx = G + (size_t)jx[i] * nt, *ry = G + (size_t)(n1 + jy[i]) * nt;
        for (int j = i + 1; j < m; j++) {
            sxx = __dadd_rn(sxx, gk_kernel(rx[jx[j]], dd));
            syy = __dadd_rn(syy, gk_kernel(ry[n1 + jy[j]], dd));
        }
        for (int j = 0; j < m; j++) sxy = __dadd_rn(sxy, gk_kernel(rx[n1 + jy[j]], dd));
    }
    gk_reduce3(sxx, syy, sxy, partial + ((size_t)s * gridDim.x + blockIdx.x) * 3);
}

// Per-subset path: gxx, gyy (m, m) column-major upper triangles (i < j at i + j m), gxy (m, m)
// full. partial (GK_KID_BLOCKS, 3) for this subset.
static __global__ void gk_kid_block_sums(const double *__restrict__ gxx, const double *__restrict__ gyy,
                                         const double *__restrict__ gxy, int m, double dd, double *partial) {
    double sxx = 0.0, syy = 0.0, sxy = 0.0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < m; i += gridDim.x * blockDim.x) {
        for (int j = i + 1; j < m; j++) {
            sxx = __dadd_rn(sxx, gk_kernel(gxx[(size_t)i + (size_t)j * m], dd));
            syy = __dadd_rn(syy, gk_kernel(gyy[(size_t)i + (size_t)j * m], dd));
        }
        for (int j = 0; j < m; j++) sxy = __dadd_rn(sxy, gk_kernel(gxy[(size_t)i + (size_t)j * m], dd));
    }
    gk_reduce3(sxx, syy, sxy, partial + (size_t)blockIdx.x * 3);
}

// out (m, d) row-major float64 = rows idx (m) of x (n, d) float32 (metrics_kid.c gather).
static __global__ void gk_gather(const float *__restrict__ x, const int *__restrict__ idx, int m, int d,
                                 double *out) {
    size_t total = (size_t)m * d;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t i = t / (size_t)d, k = t % (size_t)d;
        out[t] = (double)x[(size_t)idx[i] * d + k];
    }
}

static cs_status gk_kid_run(cs_gpu *g, const float *x, int64_t n1, const float *y, int64_t n2, int d,
                            const cs_kid_opts *opts, int64_t m, double *vals) {
    const int S = opts->n_subsets;
    const int64_t nt = n1 + n2;
    const double dd = (double)d, one = 1.0, zero = 0.0;
    // ---- the subsets, drawn on the host exactly as the CPU draws them ----
    cs_host<int64_t> tmp;
    cs_host<int> hix, hiy;
    CS_HALLOC(tmp, m, "subset indices");
    CS_HALLOC(hix, (size_t)S * m, "subset indices");
    CS_HALLOC(hiy, (size_t)S * m, "subset indices");
    for (int s = 0; s < S; s++) {
        CS_TRY(cs_kid_subset(opts->seed, s, 0, n1, m, tmp.p));
        for (int64_t i = 0; i < m; i++) hix[(size_t)s * m + i] = (int)tmp[i];
        CS_TRY(cs_kid_subset(opts->seed, s, 1, n2, m, tmp.p));
        for (int64_t i = 0; i < m; i++) hiy[(size_t)s * m + i] = (int)tmp[i];
    }
    cs_dev<int> ix, iy;
    cs_dev<float> xf;
    cs_dev<double> partial;
    CS_DALLOC(g, ix, (size_t)S * m, "subset indices");
    CS_DALLOC(g, iy, (size_t)S * m, "subset indices");
    CS_DALLOC(g, xf, (size_t)nt * d, "float32 features");
    CS_DALLOC(g, partial, (size_t)S * GK_KID_BLOCKS * 3, "partial kernel sums");
    CS_UPLOAD(g, ix.p, hix.p, (size_t)S * m);
    CS_UPLOAD(g, iy.p, hiy.p, (size_t)S * m);
    CS_UPLOAD(g, xf.p, x, (size_t)n1 * d);
    CS_UPLOAD(g, xf.p + (size_t)n1 * d, y, (size_t)n2 * d);
    if (nt <= opts->max_gram_rows) {
        // one (nt, nt) Gram matrix of [x; y]; each subset then only gathers and sums kernels
        cs_dev<double> all, G;
        cs_dev<unsigned long long> bad;
        CS_DALLOC(g, all, (size_t)nt * d, "float64 features");
        CS_DALLOC(g, G, (size_t)nt * nt, "Gram matrix");
        CS_DALLOC(g, bad, 1, "non-finite flag");
        CS_CUDA(g, cudaMemsetAsync(bad.p, 0xff, sizeof(unsigned long long), g->stream));
        cs_k_f32_to_f64<<<cs_grid((size_t)nt * d, 256), 256, 0, g->stream>>>(xf.p, (size_t)nt * d, all.p,
                                                                             0ull, bad.p);
        CS_LAUNCHED(g, cs_k_f32_to_f64);
        // (nt, d) row-major = (d, nt) column-major: G = A^T A
        CS_CUBLAS(g, cublasDsyrk(g->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, (int)nt, d, &one, all.p, d,
                                 &zero, G.p, (int)nt));
        cs_k_sym_from_upper<<<cs_grid((size_t)nt * nt, 256), 256, 0, g->stream>>>(G.p, nt);
        CS_LAUNCHED(g, cs_k_sym_from_upper);
        dim3 grid(GK_KID_BLOCKS, (unsigned)S);
        gk_kid_gram_sums<<<grid, GK_KID_THREADS, 0, g->stream>>>(G.p, nt, n1, ix.p, iy.p, (int)m, dd,
                                                                 partial.p);
        CS_LAUNCHED(g, gk_kid_gram_sums);
        CS_CUDA(g, cudaStreamSynchronize(g->stream));
    } else {
        cs_dev<double> bx, by, gm;
        const size_t mm = (size_t)m * m;
        CS_DALLOC(g, bx, (size_t)m * d, "subset rows");
        CS_DALLOC(g, by, (size_t)m * d, "subset rows");
        CS_DALLOC(g, gm, 3 * mm, "subset Gram blocks");
        for (int s = 0; s < S; s++) {
            gk_gather<<<cs_grid((size_t)m * d, 256), 256, 0, g->stream>>>(xf.p, ix.p + (size_t)s * m, (int)m, d,
                                                                          bx.p);
            CS_LAUNCHED(g, gk_gather);
            gk_gather<<<cs_grid((size_t)m * d, 256), 256, 0, g->stream>>>(xf.p + (size_t)n1 * d,
                                                                          iy.p + (size_t)s * m, (int)m, d, by.p);
            CS_LAUNCHED(g, gk_gather);
            CS_CUBLAS(g, cublasDsyrk(g->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, (int)m, d, &one, bx.p, d,
                                     &zero, gm.p, (int)m));
            CS_CUBLAS(g, cublasDsyrk(g->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, (int)m, d, &one, by.p, d,
                                     &zero, gm.p + mm, (int)m));
            CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)m, (int)m, d, &one, bx.p, d, by.p,
                                     d, &zero, gm.p + 2 * mm, (int)m));
            gk_kid_block_sums<<<GK_KID_BLOCKS, GK_KID_THREADS, 0, g->stream>>>(
                gm.p, gm.p + mm, gm.p + 2 * mm, (int)m, dd, partial.p + (size_t)s * GK_KID_BLOCKS * 3);
            CS_LAUNCHED(g, gk_kid_block_sums);
        }
        CS_CUDA(g, cudaStreamSynchronize(g->stream));
    }
    cs_host<double> hp;
    CS_HALLOC(hp, (size_t)S * GK_KID_BLOCKS * 3, "partial kernel sums");
    CS_DOWNLOAD(g, hp.p, partial.p, (size_t)S * GK_KID_BLOCKS * 3);
    const double mmf = (double)m;
    for (int s = 0; s < S; s++) {
        double sxx = 0, syy = 0, sxy = 0;
        for (int b = 0; b < GK_KID_BLOCKS; b++) {
            const double *p = hp.p + ((size_t)s * GK_KID_BLOCKS + b) * 3;
            sxx += p[0], syy += p[1], sxy += p[2];
        }
        vals[s] = 2 * (sxx + syy) / (mmf * (mmf - 1)) - 2 * sxy / (mmf * mmf);
        if (!isfinite(vals[s])) return CS_FAIL(CS_E_NUMERIC, "kid: MMD^2 is not finite (NaN/inf features?)");
    }
    return CS_OK;
}

extern "C" cs_status cs_gpu_kid_compute(cs_gpu *g, const float *x, int64_t n1, const float *y, int64_t n2,
                                        int d, const cs_kid_opts *opts_in, cs_kid_result *res,
                                        double *per_subset) {
    CS_GPU_ENTER(g, "GPU KID");
    cs_kid_opts opts;
    if (opts_in) opts = *opts_in;
    else cs_kid_opts_default(&opts);
    if (n1 < 2 || n2 < 2)
        return CS_FAIL(CS_E_USAGE, "kid: needs at least 2 images in each set (got %lld and %lld)",
                       (long long)n1, (long long)n2);
    if (d < 1 || opts.n_subsets < 1 || opts.subset_size < 2)
        return CS_FAIL(CS_E_USAGE, "kid: bad options (d %d, %d subsets of %lld)", d, opts.n_subsets,
                       (long long)opts.subset_size);
    if (n1 + n2 > INT32_MAX / 2 || opts.n_subsets > 65535)
        return CS_FAIL(CS_E_UNSUPPORTED, "kid on the GPU: too many rows (%lld) or subsets (%d, at most 65535)",
                       (long long)(n1 + n2), opts.n_subsets);
    int64_t m = opts.subset_size;
    if (m > n1) m = n1;
    if (m > n2) m = n2;
    cs_host<double> vals;
    CS_HALLOC(vals, opts.n_subsets, "kid values");
    CS_TRY(gk_kid_run(g, x, n1, y, n2, d, &opts, m, vals.p));
    double mean = 0, var = 0;
    for (int s = 0; s < opts.n_subsets; s++) mean += vals[s];
    mean /= opts.n_subsets;
    for (int s = 0; s < opts.n_subsets; s++) var += (vals[s] - mean) * (vals[s] - mean);
    res->kid = mean;
    res->kid_std = sqrt(var / opts.n_subsets);
    res->n_subsets = opts.n_subsets;
    res->subset_size = m;
    if (per_subset) memcpy(per_subset, vals.p, (size_t)opts.n_subsets * sizeof(double));
    return CS_OK;
}

// ---- SSIM and RGB-SSIM ---------------------------------------------------------------------------

#define GK_SSIM_WIN 7
#define GK_SSIM_BX 32
#define GK_SSIM_BY 8

struct gk_ssim_consts {
    double inv, cov_norm, c1, c2; // 1/49, 49/48, (0.01 * 255)^2, (0.03 * 255)^2 (computed on the host)
};

// One thread per valid window (top-left ox, oy; ow = w - 6, oh = h - 6), all 3 channels: exact
// int32 window sums, metrics_pixel.c's formula, block sums per channel into
// partial (blocks, 3) (block = blockIdx.y * gridDim.x + blockIdx.x).
static __global__ void gk_ssim_map(const uint8_t *__restrict__ x, const uint8_t *__restrict__ y, int w, int h,
                                   gk_ssim_consts k, double *partial) {
    __shared__ double sh[3][GK_SSIM_BX * GK_SSIM_BY];
    const int ox = blockIdx.x * GK_SSIM_BX + threadIdx.x, oy = blockIdx.y * GK_SSIM_BY + threadIdx.y;
    const int t = threadIdx.y * GK_SSIM_BX + threadIdx.x;
    const int ow = w - (GK_SSIM_WIN - 1), oh = h - (GK_SSIM_WIN - 1);
    double val[3] = {0.0, 0.0, 0.0};
    if (ox < ow && oy < oh) {
        for (int c = 0; c < 3; c++) {
            int32_t sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
            for (int r = 0; r < GK_SSIM_WIN; r++) {
                const size_t base = ((size_t)(oy + r) * w + ox) * 3 + c;
                for (int q = 0; q < GK_SSIM_WIN; q++) {
                    int32_t a = x[base + 3 * q], b = y[base + 3 * q];
                    sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
                }
            }
            double ux = __dmul_rn((double)sx, k.inv), uy = __dmul_rn((double)sy, k.inv);
            double vx = __dmul_rn(k.cov_norm, __dsub_rn(__dmul_rn((double)sxx, k.inv), __dmul_rn(ux, ux)));
            double vy = __dmul_rn(k.cov_norm, __dsub_rn(__dmul_rn((double)syy, k.inv), __dmul_rn(uy, uy)));
            double vxy = __dmul_rn(k.cov_norm, __dsub_rn(__dmul_rn((double)sxy, k.inv), __dmul_rn(ux, uy)));
            double a1 = __dadd_rn(__dmul_rn(__dmul_rn(2.0, ux), uy), k.c1);
            double a2 = __dadd_rn(__dmul_rn(2.0, vxy), k.c2);
            double b1 = __dadd_rn(__dadd_rn(__dmul_rn(ux, ux), __dmul_rn(uy, uy)), k.c1);
            double b2 = __dadd_rn(__dadd_rn(vx, vy), k.c2);
            val[c] = __ddiv_rn(__dmul_rn(a1, a2), __dmul_rn(b1, b2));
        }
    }
    sh[0][t] = val[0], sh[1][t] = val[1], sh[2][t] = val[2];
    __syncthreads();
    for (int s = GK_SSIM_BX * GK_SSIM_BY / 2; s > 0; s >>= 1) {
        if (t < s)
            for (int c = 0; c < 3; c++) sh[c][t] = __dadd_rn(sh[c][t], sh[c][t + s]);
        __syncthreads();
    }
    if (t == 0) {
        double *o = partial + ((size_t)blockIdx.y * gridDim.x + blockIdx.x) * 3;
        o[0] = sh[0][0], o[1] = sh[1][0], o[2] = sh[2][0];
    }
}

// RGB-SSIM's exact sums over all n bytes: sums (5) = sx, sy, sxx, syy, sxy (uint64 atomics: exact,
// independent of order).
static __global__ void gk_rgb_sums(const uint8_t *__restrict__ x, const uint8_t *__restrict__ y, size_t n,
                                   unsigned long long *sums) {
    unsigned long long s[5] = {0, 0, 0, 0, 0};
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned long long a = x[i], b = y[i];
        s[0] += a, s[1] += b, s[2] += a * a, s[3] += b * b, s[4] += a * b;
    }
    for (int q = 0; q < 5; q++) {
        unsigned long long v = s[q];
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if ((threadIdx.x & 31) == 0 && v) atomicAdd(&sums[q], v);
    }
}

static cs_status gk_ssim_pair(cs_gpu *g, const cs_image *a, const cs_image *b, const uint8_t *da,
                              const uint8_t *db, double *ssim, double *rgb, double *partial_d,
                              double *partial_h, unsigned long long *sums_d) {
    const int w = a->width, h = a->height;
    if (ssim) {
        const int np = GK_SSIM_WIN * GK_SSIM_WIN;
        gk_ssim_consts k;
        k.inv = 1.0 / np;
        k.cov_norm = (double)np / (np - 1);
        k.c1 = (0.01 * 255) * (0.01 * 255);
        k.c2 = (0.03 * 255) * (0.03 * 255);
        const int ow = w - (GK_SSIM_WIN - 1), oh = h - (GK_SSIM_WIN - 1);
        dim3 block(GK_SSIM_BX, GK_SSIM_BY), grid((ow + GK_SSIM_BX - 1) / GK_SSIM_BX, (oh + GK_SSIM_BY - 1) / GK_SSIM_BY);
        const size_t nb = (size_t)grid.x * grid.y;
        gk_ssim_map<<<grid, block, 0, g->stream>>>(da, db, w, h, k, partial_d);
        CS_LAUNCHED(g, gk_ssim_map);
        CS_DOWNLOAD(g, partial_h, partial_d, nb * 3);
        double total[3] = {0, 0, 0};
        for (size_t i = 0; i < nb; i++)
            for (int c = 0; c < 3; c++) total[c] += partial_h[i * 3 + c];
        double nvalid = (double)ow * oh;
        *ssim = (total[0] / nvalid + total[1] / nvalid + total[2] / nvalid) / 3.0;
    }
    if (rgb) {
        const size_t n = (size_t)w * h * 3;
        unsigned long long hs[5];
        CS_CUDA(g, cudaMemsetAsync(sums_d, 0, 5 * sizeof(unsigned long long), g->stream));
        gk_rgb_sums<<<cs_grid(n, 256) < 1024 ? cs_grid(n, 256) : 1024, 256, 0, g->stream>>>(da, db, n, sums_d);
        CS_LAUNCHED(g, gk_rgb_sums);
        CS_DOWNLOAD(g, hs, sums_d, 5);
        // the CPU's formula (metrics_pixel.c) from the same exact integer sums
        *rgb = cs_rgb_ssim_from_sums((int64_t)n, (int64_t)hs[0], (int64_t)hs[1], (int64_t)hs[2], (int64_t)hs[3],
                                     (int64_t)hs[4]);
    }
    return CS_OK;
}

extern "C" cs_status cs_gpu_ssim_pairs(cs_gpu *g, const cs_image *a, const cs_image *b, size_t npairs,
                                       double *ssim, double *rgb_ssim) {
    CS_GPU_ENTER(g, "GPU SSIM");
    if (npairs == 0) return CS_OK;
    size_t maxpx = 0, maxblocks = 1;
    for (size_t i = 0; i < npairs; i++) { // the CPU's checks, all pairs first
        int w = a[i].width, h = a[i].height;
        if (b[i].width != w || b[i].height != h)
            return CS_FAIL(CS_E_USAGE, "%s: sizes differ (%dx%d vs %dx%d)", ssim ? "ssim" : "rgb-ssim", w, h,
                           b[i].width, b[i].height);
        if (ssim && (w < GK_SSIM_WIN || h < GK_SSIM_WIN))
            return CS_FAIL(CS_E_USAGE, "ssim: image %dx%d is smaller than the 7x7 window", w, h);
        if (!ssim && (size_t)w * h * 3 < 2) return CS_FAIL(CS_E_USAGE, "rgb-ssim: image too small");
        size_t px = (size_t)w * h * 3;
        if (px > maxpx) maxpx = px;
        if (w >= GK_SSIM_WIN && h >= GK_SSIM_WIN) {
            size_t nb = (size_t)((w - 6 + GK_SSIM_BX - 1) / GK_SSIM_BX) * ((h - 6 + GK_SSIM_BY - 1) / GK_SSIM_BY);
            if (nb > maxblocks) maxblocks = nb;
        }
    }
    cs_dev<uint8_t> da, db;
    cs_dev<double> partial;
    cs_dev<unsigned long long> sums;
    cs_host<double> ph;
    CS_DALLOC(g, da, maxpx, "image");
    CS_DALLOC(g, db, maxpx, "image");
    CS_DALLOC(g, partial, maxblocks * 3, "SSIM partial sums");
    CS_DALLOC(g, sums, 5, "RGB-SSIM sums");
    CS_HALLOC(ph, maxblocks * 3, "SSIM partial sums");
    const uint8_t *loaded_a = nullptr; // the reference of consecutive pairs is often the same image
    for (size_t i = 0; i < npairs; i++) {
        size_t px = (size_t)a[i].width * a[i].height * 3;
        if (a[i].rgb != loaded_a || (i > 0 && (a[i].width != a[i - 1].width || a[i].height != a[i - 1].height))) {
            CS_UPLOAD(g, da.p, a[i].rgb, px);
            loaded_a = a[i].rgb;
        }
        CS_UPLOAD(g, db.p, b[i].rgb, px);
        CS_TRY(gk_ssim_pair(g, &a[i], &b[i], da.p, db.p, ssim ? &ssim[i] : nullptr,
                            rgb_ssim ? &rgb_ssim[i] : nullptr, partial.p, ph.p, sums.p));
    }
    return CS_OK;
}

// ---- cosine, hist, dhash over all (generated, reference) pairs ------------------------------------

#define GK_COS_N (64 * 64)

// One warp per pair: cosine of the two 4096-vectors (metrics_pixel.c cs_metric_cosine's rules for
// zero norms). out (ngen, nref, 3) [..][0].
static __global__ void gk_cosine(const double *__restrict__ vref, const double *__restrict__ nref_norm,
                                 const double *__restrict__ vgen, const double *__restrict__ ngen_norm,
                                 int nref, long long npairs, double *out) {
    const long long warp = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x & 31;
    if (warp >= npairs) return;
    const int gi = (int)(warp / nref), ri = (int)(warp % nref);
    const double *a = vref + (size_t)ri * GK_COS_N, *b = vgen + (size_t)gi * GK_COS_N;
    double dot = 0.0;
    for (int i = lane; i < GK_COS_N; i += 32) dot = __dadd_rn(dot, __dmul_rn(a[i], b[i]));
    for (int off = 16; off > 0; off >>= 1) dot += __shfl_down_sync(0xffffffffu, dot, off);
    if (lane == 0) {
        double na = nref_norm[ri], nb = ngen_norm[gi], den = __dmul_rn(na, nb), v;
        if (den == 0) v = (na == 0 && nb == 0) ? 1.0 : 0.0;
        else v = __ddiv_rn(dot, den);
        out[(size_t)warp * 3] = v;
    }
}

// metrics_pixel.c cs_hist_correl, operation for operation.
static __device__ double gk_hist_correl(const int32_t *h1, const int32_t *h2, int bins) {
    long long s1 = 0, s2 = 0;
    double s11 = 0, s22 = 0, s12 = 0;
    for (int i = 0; i < bins; i++) {
        double a = h1[i], b = h2[i];
        s1 += h1[i], s2 += h2[i];
        s11 = __dadd_rn(s11, __dmul_rn(a, a));
        s22 = __dadd_rn(s22, __dmul_rn(b, b));
        s12 = __dadd_rn(s12, __dmul_rn(a, b));
    }
    double scale = 1.0 / bins;
    double num = __dsub_rn(s12, __dmul_rn(__dmul_rn((double)s1, (double)s2), scale));
    double denom2 = __dmul_rn(__dsub_rn(s11, __dmul_rn(__dmul_rn((double)s1, (double)s1), scale)),
                              __dsub_rn(s22, __dmul_rn(__dmul_rn((double)s2, (double)s2), scale)));
    return fabs(denom2) > 2.220446049250313e-16 ? __ddiv_rn(num, sqrt(denom2)) : 1.0;
}

// One thread per pair: hist (mean of 3 channel correlations) and dhash (1 - Hamming / 64).
static __global__ void gk_hist_dhash(const int32_t *__restrict__ href, const unsigned long long *__restrict__ dref,
                                     const int32_t *__restrict__ hgen, const unsigned long long *__restrict__ dgen,
                                     int nref, long long npairs, int want_hist, int want_dhash, double *out) {
    const long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (p >= npairs) return;
    const int gi = (int)(p / nref), ri = (int)(p % nref);
    if (want_hist) {
        double s = 0;
        for (int c = 0; c < 3; c++)
            s = __dadd_rn(s, gk_hist_correl(href + ((size_t)ri * 3 + c) * 256, hgen + ((size_t)gi * 3 + c) * 256, 256));
        out[(size_t)p * 3 + 1] = s / 3.0;
    }
    if (want_dhash) out[(size_t)p * 3 + 2] = 1.0 - (double)__popcll(dref[ri] ^ dgen[gi]) / 64.0;
}

extern "C" cs_status cs_gpu_metric_desc_pairs(cs_gpu *g, const cs_metric_desc *dref, size_t nref,
                                              const cs_metric_desc *dgen, size_t ngen, const int *want,
                                              double *out) {
    CS_GPU_ENTER(g, "GPU pixel metrics");
    if (nref == 0 || ngen == 0) return CS_FAIL(CS_E_USAGE, "metrics: empty image set");
    if (nref > INT32_MAX || ngen > INT32_MAX) return CS_FAIL(CS_E_USAGE, "metrics: too many images");
    size_t npairs;
    if (!cs_mul_size(nref, ngen, &npairs) || npairs > ((size_t)1 << 33))
        return CS_FAIL(CS_E_USAGE, "metrics: too many pairs");
    const int wc = !want || want[CS_METRIC_COSINE], wh = !want || want[CS_METRIC_HIST],
              wd = !want || want[CS_METRIC_DHASH];
    const size_t nimg = nref + ngen;
    cs_host<double> hv, hn;
    cs_host<int32_t> hh;
    cs_host<unsigned long long> hd;
    CS_HALLOC(hv, wc ? nimg * GK_COS_N : 1, "cosine vectors");
    CS_HALLOC(hn, nimg, "norms");
    CS_HALLOC(hh, nimg * 3 * 256, "histograms");
    CS_HALLOC(hd, nimg, "hashes");
    for (size_t i = 0; i < nimg; i++) { // (nref rows, then ngen rows)
        const cs_metric_desc *m = i < nref ? &dref[i] : &dgen[i - nref];
        if (wc) memcpy(hv.p + i * GK_COS_N, m->cos_vec, GK_COS_N * sizeof(double));
        hn[i] = m->cos_norm;
        memcpy(hh.p + i * 768, m->hist, 768 * sizeof(int32_t));
        hd[i] = m->dhash;
    }
    cs_dev<double> dv, dn, dout;
    cs_dev<int32_t> dh;
    cs_dev<unsigned long long> dd;
    CS_DALLOC(g, dout, npairs * 3, "pair metrics");
    CS_DALLOC(g, dn, nimg, "norms");
    CS_DALLOC(g, dh, nimg * 768, "histograms");
    CS_DALLOC(g, dd, nimg, "hashes");
    CS_UPLOAD(g, dn.p, hn.p, nimg);
    CS_UPLOAD(g, dh.p, hh.p, nimg * 768);
    CS_UPLOAD(g, dd.p, hd.p, nimg);
    if (wc) {
        CS_DALLOC(g, dv, nimg * GK_COS_N, "cosine vectors");
        CS_UPLOAD(g, dv.p, hv.p, nimg * GK_COS_N);
        const size_t threads = npairs * 32;
        gk_cosine<<<(unsigned)((threads + 255) / 256), 256, 0, g->stream>>>(
            dv.p, dn.p, dv.p + nref * GK_COS_N, dn.p + nref, (int)nref, (long long)npairs, dout.p);
        CS_LAUNCHED(g, gk_cosine);
    }
    if (wh || wd) {
        gk_hist_dhash<<<(unsigned)((npairs + 127) / 128), 128, 0, g->stream>>>(
            dh.p, dd.p, dh.p + nref * 768, dd.p + nref, (int)nref, (long long)npairs, wh, wd, dout.p);
        CS_LAUNCHED(g, gk_hist_dhash);
    }
    CS_DOWNLOAD(g, out, dout.p, npairs * 3);
    for (size_t p = 0; p < npairs; p++) {
        if (!wc) out[p * 3] = NAN;
        if (!wh) out[p * 3 + 1] = NAN;
        if (!wd) out[p * 3 + 2] = NAN;
    }
    return CS_OK;
}
