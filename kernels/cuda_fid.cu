// Fréchet distances on the GPU: the twins of host/fid/frechet.c's "eig-ref" / "eig-svd" factor path
// (cs_fid_ref_*), the low-rank paths ("lowrank", "lowrank-ref") and the resampled low-rank FIDs
// of the bootstrap (cs_fid_boot_*). See host/fid/gpu_math.h for the API and frechet.h for the math.
//
// Layout: every device matrix is COLUMN-major (cuBLAS / cuSOLVER). A row-major (n, d) block of
// feature rows is therefore the column-major (d, n) matrix C^T with leading dimension d, and a
// symmetric matrix is the same in both orders.
//
// What runs where: the O(d^3) / O(m^3) work (syevd, symm, gemm, gesvd, Gram matrices) on the
// device; the decisions (rank, rounding bound, eig-ref vs eig-svd, clamp around 0) on the host
// with the CPU's own functions (host/fid/frechet.common.h).
#include "cuda_math.cuh"
#include "fid/frechet_common.h"

#include <float.h>
#include <new>

// ---- kernels ------------------------------------------------------------------------------

// a (count) *= f, elementwise (cov = m2 / (n - 1) as cs_stats_covariance: m2[k] * f).
static __global__ void gf_k_scale(double *a, size_t count, double f) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        a[i] = __dmul_rn(a[i], f);
}

// f (d, r) column-major: column k *= sq[k].
static __global__ void gf_k_scale_cols(double *f, int d, int r, const double *__restrict__ sq) {
    size_t total = (size_t)d * r;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        f[t] = __dmul_rn(f[t], sq[t / (size_t)d]);
}

// ---- nuclear norm ---------------------------------------------------------------------------

cs_status cs_gpu_nuclear_norm(cs_gpu *g, double *a, int m, int n, double *out) {
    *out = 0.0;
    if (m < n) return CS_FAIL(CS_E_INTERNAL, "cs_gpu_nuclear_norm needs m >= n (got %d x %d)", m, n);
    int lwork = 0;
    CS_CUSOLVER(g, cusolverDnDgesvd_bufferSize(g->solver, m, n, &lwork));
    cs_dev<double> work, s;
    cs_dev<int> info;
    CS_DALLOC(g, work, lwork, "SVD workspace");
    CS_DALLOC(g, s, n, "singular values");
    CS_DALLOC(g, info, 1, "SVD status");
    CS_CUSOLVER(g, cusolverDnDgesvd(g->solver, 'N', 'N', m, n, a, m, s.p, nullptr, m, nullptr, n,
                                    work.p, lwork, nullptr, info.p));
    cs_host<double> sh;
    CS_HALLOC(sh, n, "singular values");
    int hinfo = 0;
    CS_DOWNLOAD(g, &hinfo, info.p, 1);
    CS_INFO(g, "cusolverDnDgesvd", hinfo);
    CS_DOWNLOAD(g, sh.p, s.p, n);
    double t = 0.0;
    for (int i = 0; i < n; i++) t += sh[i] > 0.0 ? sh[i] : 0.0;
    *out = t;
    return CS_OK;
}

// ---- covariance factor: F = V_r diag(sqrt(l_r)) (as frechet.c cs_cov_factor_init, no Cholesky) --
// v (d, d) device holds the covariance; on return its last r columns (v + (d - r) d, column-major
// (d, r)) are the factor F.
static cs_status gf_factor(cs_gpu *g, double *v, int d, int64_t n, unsigned *warn, unsigned singular_bit,
                           unsigned not_psd_bit, int *r_out) {
    *r_out = 0;
    int lwork = 0;
    cs_dev<double> w, work, sq;
    cs_dev<int> info;
    CS_DALLOC(g, w, d, "eigenvalues");
    CS_CUSOLVER(g, cusolverDnDsyevd_bufferSize(g->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER,
                                               d, v, d, w.p, &lwork));
    CS_DALLOC(g, work, lwork, "eigensolver workspace");
    CS_DALLOC(g, info, 1, "eigensolver status");
    CS_CUSOLVER(g, cusolverDnDsyevd(g->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, d, v, d,
                                    w.p, work.p, lwork, info.p));
    int hinfo = 0;
    CS_DOWNLOAD(g, &hinfo, info.p, 1);
    CS_INFO(g, "cusolverDnDsyevd (covariance factor)", hinfo);
    cs_host<double> wh, sqh;
    CS_HALLOC(wh, d, "eigenvalues");
    CS_HALLOC(sqh, d, "square roots");
    CS_DOWNLOAD(g, wh.p, w.p, d);
    if (wh[0] < -1e-6 * fabs(wh[d - 1])) *warn |= not_psd_bit;
    int r = cs_fid_eig_rank(wh.p, d, n);
    if (r < d) *warn |= singular_bit;
    if (r > 0) {
        for (int k = 0; k < r; k++) sqh[k] = sqrt(wh[d - r + k]);
        CS_DALLOC(g, sq, r, "square roots");
        CS_UPLOAD(g, sq.p, sqh.p, r);
        double *f = v + (size_t)(d - r) * d;
        gf_k_scale_cols<<<cs_grid((size_t)d * r, 256), 256, 0, g->stream>>>(f, d, r, sq.p);
        CS_LAUNCHED(g, gf_k_scale_cols);
        CS_CUDA(g, cudaStreamSynchronize(g->stream)); // sq is freed on return
    }
    *r_out = r;
    return CS_OK;
}

// ---- reference ------------------------------------------------------------------------------

struct cs_gpu_fid_ref {
    cs_gpu *g;
    int d, r;
    cs_dev<double> v;     // (d, d): eigenvectors; the factor F (d, r) is its last r columns
    cs_dev<double> cov;   // (d, d) workspace: set 2's covariance
    cs_dev<double> t;     // (d, r) workspace: S2 F
    cs_dev<double> m;     // (r, r) workspace: F^T S2 F
    cs_dev<double> w;     // (r) eigenvalues of M
    cs_dev<double> work;  // syevd (values only) workspace, lwork doubles
    cs_dev<int> info;
    cs_dev<unsigned long long> bad;
    int lwork;
    cs_host<double> mu;   // (d) host
    cs_host<double> wh;   // (r) host
    double trace;
    unsigned warn;
    cs_extractor_id id;
    int has_id;
    const double *f() const { return v.p + (size_t)(d - r) * d; }
};

extern "C" void cs_gpu_fid_ref_free(cs_gpu_fid_ref *r) {
    if (!r) return;
    if (r->g) cs_cuda_released(cudaSetDevice(r->g->device)); // release path (kernels/cuda_release.cuh)
    delete r;
}

extern "C" int cs_gpu_fid_ref_rank(const cs_gpu_fid_ref *r) { return r ? r->r : 0; }

// Upload statistics' co-moment as the covariance into cov (d, d) device (cs_stats_covariance's
// arithmetic), check it is finite. Host-side checks as cs_stats_covariance / cs_check_finite.
static cs_status gf_upload_cov(cs_gpu *g, const cs_stats *s, double *cov, unsigned long long *bad,
                               const char *what) {
    const int d = s->d;
    const size_t dd = (size_t)d * d;
    if (!s->cov_only && s->n < 2)
        return CS_FAIL(CS_E_USAGE, "the covariance needs at least 2 samples, the set has %lld",
                       (long long)s->n);
    const double f = s->cov_only ? 1.0 : 1.0 / (double)(s->n - 1);
    CS_UPLOAD(g, cov, s->m2, dd);
    if (!s->cov_only) {
        gf_k_scale<<<cs_grid(dd, 256), 256, 0, g->stream>>>(cov, dd, f);
        CS_LAUNCHED(g, gf_k_scale);
    }
    CS_CUDA(g, cudaMemsetAsync(bad, 0xff, sizeof *bad, g->stream));
    cs_k_check_f64<<<cs_grid(dd, 256), 256, 0, g->stream>>>(cov, dd, bad);
    CS_LAUNCHED(g, cs_k_check_f64);
    unsigned long long hb = 0;
    CS_DOWNLOAD(g, &hb, bad, 1);
    if (hb != ~0ull)
        return CS_FAIL(CS_E_NUMERIC, "%s contains a non-finite value (%g at index %zu)", what,
                       s->m2[hb] * f, (size_t)hb);
    return CS_OK;
}

// tr S as cs_trace(cov) on the CPU: sum of m2[i][i] * f in order.
static double gf_trace(const cs_stats *s) {
    const int d = s->d;
    const double f = s->cov_only ? 1.0 : 1.0 / (double)(s->n - 1);
    double t = 0.0;
    for (int i = 0; i < d; i++) t += s->cov_only ? s->m2[(size_t)i * d + i] : s->m2[(size_t)i * d + i] * f;
    return t;
}

static cs_status gf_ref_init(cs_gpu *g, const cs_stats *ref, cs_gpu_fid_ref *r) {
    const int d = ref->d;
    const size_t dd = (size_t)d * d;
    const int64_t n = ref->cov_only ? 0 : ref->n;
    r->g = g;
    r->d = d;
    CS_DALLOC(g, r->v, dd, "reference eigenvectors");
    CS_DALLOC(g, r->cov, dd, "covariance");
    CS_DALLOC(g, r->bad, 1, "non-finite flag");
    CS_DALLOC(g, r->info, 1, "eigensolver status");
    CS_HALLOC(r->mu, d, "reference mean");
    if (!ref->cov_only && ref->n < 2)
        return CS_FAIL(CS_E_USAGE, "the covariance needs at least 2 samples, the set has %lld",
                       (long long)ref->n);
    CS_TRY(cs_fid_check_finite(ref->mean, (size_t)d, "set 1 mean"));
    CS_TRY(gf_upload_cov(g, ref, r->v.p, r->bad.p, "set 1 covariance"));
    memcpy(r->mu.p, ref->mean, (size_t)d * sizeof(double));
    r->trace = gf_trace(ref);
    r->warn = cs_fid_singular_flag(n, d, CS_FID_WARN_SINGULAR1);
    CS_TRY(gf_factor(g, r->v.p, d, n, &r->warn, CS_FID_WARN_SINGULAR1, CS_FID_WARN_NOT_PSD1, &r->r));
    const int rk = r->r > 0 ? r->r : 1;
    CS_DALLOC(g, r->t, (size_t)d * rk, "S2 F workspace");
    CS_DALLOC(g, r->m, (size_t)rk * rk, "F^T S2 F workspace");
    CS_DALLOC(g, r->w, rk, "eigenvalues");
    CS_HALLOC(r->wh, rk, "eigenvalues");
    CS_CUSOLVER(g, cusolverDnDsyevd_bufferSize(g->solver, CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_LOWER,
                                               rk, r->m.p, rk, r->w.p, &r->lwork));
    CS_DALLOC(g, r->work, r->lwork, "eigensolver workspace");
    r->id = ref->id;
    r->has_id = ref->id.weights_sha256[0] != 0;
    return CS_OK;
}

extern "C" cs_status cs_gpu_fid_ref_init(cs_gpu *g, const cs_stats *ref, cs_gpu_fid_ref **out) {
    *out = NULL;
    CS_GPU_ENTER(g, "GPU FID reference");
    cs_gpu_fid_ref *r = new (std::nothrow) cs_gpu_fid_ref();
    if (!r) return CS_FAIL(CS_E_NOMEM, "out of memory for a GPU FID reference");
    cs_status st = gf_ref_init(g, ref, r);
    if (st != CS_OK) {
        cs_gpu_fid_ref_free(r);
        return st;
    }
    *out = r;
    return CS_OK;
}

// Fast way (frechet.c cs_eig_trace_sqrt): eigenvalues of M = F^T S2 F, S2 in r->cov.
static cs_status gf_eig_trace_sqrt(cs_gpu_fid_ref *r, int64_t n2, double tol, double *out, int *ok) {
    cs_gpu *g = r->g;
    *out = 0.0;
    *ok = 1;
    const int d = r->d, r1 = r->r;
    if (r1 == 0) return CS_OK;
    const double one = 1.0, zero = 0.0;
    // T = S2 F (d, r1); M = F^T T (r1, r1)
    CS_CUBLAS(g, cublasDsymm(g->blas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, d, r1, &one, r->cov.p, d,
                             r->f(), d, &zero, r->t.p, d));
    CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, r1, r1, d, &one, r->f(), d, r->t.p, d,
                             &zero, r->m.p, r1));
    CS_CUSOLVER(g, cusolverDnDsyevd(g->solver, CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_LOWER, r1,
                                    r->m.p, r1, r->w.p, r->work.p, r->lwork, r->info.p));
    int hinfo = 0;
    CS_DOWNLOAD(g, &hinfo, r->info.p, 1);
    CS_INFO(g, "cusolverDnDsyevd (F^T S F eigenvalues)", hinfo);
    CS_DOWNLOAD(g, r->wh.p, r->w.p, r1);
    int rr = (n2 > 0 && n2 - 1 < r1) ? (int)(n2 - 1) : r1;
    double err;
    *out = cs_fid_sum_sqrt_top(r->wh.p, r1, rr, &err);
    *ok = err <= tol;
    return CS_OK;
}

// Accurate way (frechet.c cs_svd_trace_sqrt after cs_cov_factor_init of S2): factor S2 (in r->cov,
// destroyed) and take ||F1^T F2||_*.
static cs_status gf_svd_trace_sqrt(cs_gpu_fid_ref *r, int64_t n2, unsigned *warn, double *out) {
    cs_gpu *g = r->g;
    *out = 0.0;
    const int d = r->d, r1 = r->r;
    int r2 = 0;
    CS_TRY(gf_factor(g, r->cov.p, d, n2, warn, CS_FID_WARN_SINGULAR2, CS_FID_WARN_NOT_PSD2, &r2));
    if (r1 == 0 || r2 == 0) return CS_OK;
    const double *f2 = r->cov.p + (size_t)(d - r2) * d;
    const double one = 1.0, zero = 0.0;
    const int mm = r1 >= r2 ? r1 : r2, nn = r1 >= r2 ? r2 : r1;
    cs_dev<double> k;
    CS_DALLOC(g, k, (size_t)mm * nn, "F1^T F2");
    if (r1 >= r2) // K = F1^T F2 (r1, r2)
        CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, r1, r2, d, &one, r->f(), d, f2, d,
                                 &zero, k.p, r1));
    else // K^T = F2^T F1 (r2, r1): the same singular values, m >= n for gesvd
        CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, r2, r1, d, &one, f2, d, r->f(), d,
                                 &zero, k.p, r2));
    return cs_gpu_nuclear_norm(g, k.p, mm, nn, out);
}

// frechet.c cs_fid_ref_compare_cov with set 2 = statistics s (covariance uploaded here).
static cs_status gf_ref_compare_stats(cs_gpu_fid_ref *r, const cs_stats *s, cs_fid_result *res) {
    const int d = r->d;
    const int64_t n = s->cov_only ? 0 : s->n;
    memset(res, 0, sizeof *res);
    if (!s->cov_only && s->n < 2)
        return CS_FAIL(CS_E_USAGE, "the covariance needs at least 2 samples, the set has %lld",
                       (long long)s->n);
    CS_TRY(cs_fid_check_finite(s->mean, (size_t)d, "set 2 mean"));
    CS_TRY(gf_upload_cov(r->g, s, r->cov.p, r->bad.p, "set 2 covariance"));
    res->warnings = r->warn | cs_fid_singular_flag(n, d, CS_FID_WARN_SINGULAR2);
    res->trace1 = r->trace;
    res->trace2 = gf_trace(s);
    res->mean_term = cs_fid_mean_term(r->mu.p, s->mean, d);
    // the eigenvalue shortcut must be accurate to 1e-11 of the scale of the result (as frechet.c)
    double tol = 0.5e-11 * (res->trace1 + res->trace2 + res->mean_term);
    int ok = 0;
    CS_TRY(gf_eig_trace_sqrt(r, n, tol, &res->trace_sqrt, &ok));
    int svd = !ok;
    if (svd) CS_TRY(gf_svd_trace_sqrt(r, n, &res->warnings, &res->trace_sqrt));
    res->method = svd ? "eig-svd" : "eig-ref";
    CS_TRY(cs_fid_finish(res));
    if (r->has_id && s->id.weights_sha256[0] && !cs_extractor_id_equal(&r->id, &s->id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return CS_OK;
}

extern "C" cs_status cs_gpu_fid_ref_compare(cs_gpu_fid_ref *r, const cs_stats *s, cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    CS_GPU_ENTER(r->g, "GPU FID");
    if (s->d != r->d)
        return CS_FAIL(CS_E_MISMATCH, "cannot compare features of %d and %d dimensions", r->d, s->d);
    return gf_ref_compare_stats(r, s, res);
}

// ---- rows on the device -----------------------------------------------------------------------
// x_host (n, d) float32 -> c (n, d) float64 centred on the device; mean (d) device (computed, or
// uploaded from mean_host); colss (d) device: per-column sums of squares of the centred values.
static cs_status gf_rows_centred(cs_gpu *g, const float *x_host, int64_t n, int d, const char *what,
                                 const double *mean_host, cs_dev<double> &c, cs_dev<double> &mean,
                                 cs_dev<double> &colss) {
    const size_t cnt = (size_t)n * d;
    cs_dev<float> stage;
    cs_dev<unsigned long long> bad;
    CS_DALLOC(g, stage, cnt, "float32 feature rows");
    CS_DALLOC(g, bad, 1, "non-finite flag");
    CS_DALLOC(g, c, cnt, "float64 feature rows");
    CS_DALLOC(g, mean, d, "mean");
    CS_DALLOC(g, colss, d, "column sums of squares");
    CS_UPLOAD(g, stage.p, x_host, cnt);
    CS_CUDA(g, cudaMemsetAsync(bad.p, 0xff, sizeof(unsigned long long), g->stream));
    cs_k_f32_to_f64<<<cs_grid(cnt, 256), 256, 0, g->stream>>>(stage.p, cnt, c.p, 0ull, bad.p);
    CS_LAUNCHED(g, cs_k_f32_to_f64);
    unsigned long long hb = 0;
    CS_DOWNLOAD(g, &hb, bad.p, 1);
    if (hb != ~0ull)
        return CS_FAIL(CS_E_NUMERIC, "%s contains a non-finite value (%g at index %zu)", what,
                       (double)x_host[hb], (size_t)hb);
    if (mean_host) {
        CS_UPLOAD(g, mean.p, mean_host, d);
    } else {
        cs_k_col_mean<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(c.p, n, d, mean.p);
        CS_LAUNCHED(g, cs_k_col_mean);
    }
    cs_k_center_cols<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(c.p, n, d, mean.p, colss.p);
    CS_LAUNCHED(g, cs_k_center_cols);
    return CS_OK;
}

static double gf_sum(const double *v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}

// frechet.c cs_fid_ref_rows_trace_sqrt: ||C F||_* / sqrt(n - 1) from the centred rows c (n, d).
static cs_status gf_rows_trace_sqrt(cs_gpu_fid_ref *r, const double *c, int64_t n, double *out) {
    cs_gpu *g = r->g;
    const int d = r->d, r1 = r->r;
    *out = 0.0;
    if (r1 == 0) return CS_OK;
    const double one = 1.0, zero = 0.0;
    cs_dev<double> k;
    CS_DALLOC(g, k, (size_t)r1 * n, "C F");
    // (C F)^T = F^T C^T (r1, n); here n <= r1, so m >= n for gesvd
    CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, r1, (int)n, d, &one, r->f(), d, c, d,
                             &zero, k.p, r1));
    double nuc = 0.0;
    CS_TRY(cs_gpu_nuclear_norm(g, k.p, r1, (int)n, &nuc));
    *out = nuc / sqrt((double)(n - 1));
    return CS_OK;
}

// frechet.c cs_fid_ref_compare_rows: set 2 = statistics s with its rows x (may be NULL).
static cs_status gf_ref_compare_rows(cs_gpu_fid_ref *r, const cs_stats *s, const float *x,
                                     cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    if (s->d != r->d)
        return CS_FAIL(CS_E_MISMATCH, "cannot compare features of %d and %d dimensions", r->d, s->d);
    if (!x || s->cov_only || s->n < 2 || s->n - 1 >= r->r) return gf_ref_compare_stats(r, s, res);
    const int d = r->d;
    CS_TRY(cs_fid_check_finite(s->mean, (size_t)d, "set 2 mean"));
    cs_dev<double> c, mean, colss;
    CS_TRY(gf_rows_centred(r->g, x, s->n, d, "set 2 features", s->mean, c, mean, colss));
    res->warnings = r->warn | cs_fid_singular_flag(s->n, d, CS_FID_WARN_SINGULAR2);
    res->trace1 = r->trace;
    double t2 = 0.0;
    for (int j = 0; j < d; j++) t2 += s->m2[(size_t)j * d + j];
    res->trace2 = t2 / (double)(s->n - 1);
    res->mean_term = cs_fid_mean_term(r->mu.p, s->mean, d);
    CS_TRY(gf_rows_trace_sqrt(r, c.p, s->n, &res->trace_sqrt));
    res->method = "lowrank-ref";
    if (r->has_id && s->id.weights_sha256[0] && !cs_extractor_id_equal(&r->id, &s->id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return cs_fid_finish(res);
}

extern "C" cs_status cs_gpu_fid_ref_compare_features(cs_gpu_fid_ref *r, const float *x, int64_t n, int d,
                                                     const cs_extractor_id *id, cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    cs_gpu *g = r->g;
    CS_GPU_ENTER(g, "GPU FID");
    if (d != r->d) return CS_FAIL(CS_E_MISMATCH, "cannot compare features of %d and %d dimensions", r->d, d);
    if (n < 2) return CS_FAIL(CS_E_USAGE, "set 2 has %lld samples; the FID needs at least 2", (long long)n);
    if (n - 1 >= r->r) { // full rank: the statistics way (accumulated on the GPU)
        cs_stats *s = NULL;
        CS_TRY(cs_stats_init(&s, d));
        cs_status st = cs_gpu_stats_add_f32(g, s, x, n);
        g->op = "GPU FID";
        if (st == CS_OK && id) s->id = *id;
        if (st == CS_OK) st = gf_ref_compare_stats(r, s, res);
        cs_stats_free(s);
        return st;
    }
    // only the mean and the trace of S2 besides ||C2 F||_*: no (d, d) matrix
    cs_dev<double> c, mean, colss;
    CS_TRY(gf_rows_centred(g, x, n, d, "set 2 features", nullptr, c, mean, colss));
    cs_host<double> mh, ssh;
    CS_HALLOC(mh, d, "set 2 mean");
    CS_HALLOC(ssh, d, "column sums of squares");
    CS_DOWNLOAD(g, mh.p, mean.p, d);
    CS_DOWNLOAD(g, ssh.p, colss.p, d);
    res->warnings = r->warn | cs_fid_singular_flag(n, d, CS_FID_WARN_SINGULAR2);
    res->trace1 = r->trace;
    res->trace2 = gf_sum(ssh.p, d) / (double)(n - 1);
    res->mean_term = cs_fid_mean_term(r->mu.p, mh.p, d);
    CS_TRY(gf_rows_trace_sqrt(r, c.p, n, &res->trace_sqrt));
    res->method = "lowrank-ref";
    if (r->has_id && id && id->weights_sha256[0] && !cs_extractor_id_equal(&r->id, id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return cs_fid_finish(res);
}

// ---- low-rank from both sets' rows (frechet.c cs_fid_lowrank) ------------------------------------

extern "C" cs_status cs_gpu_fid_lowrank(cs_gpu *g, const float *x1, int64_t n1, const float *x2,
                                        int64_t n2, int d, cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    CS_GPU_ENTER(g, "GPU FID (lowrank)");
    CS_TRY(cs_fid_lowrank_check(n1, n2, d));
    cs_dev<double> c1, mu1, ss1, c2, mu2, ss2, k;
    CS_TRY(gf_rows_centred(g, x1, n1, d, "set 1 features", nullptr, c1, mu1, ss1));
    CS_TRY(gf_rows_centred(g, x2, n2, d, "set 2 features", nullptr, c2, mu2, ss2));
    const double one = 1.0, zero = 0.0;
    const int64_t mm = n1 >= n2 ? n1 : n2, nn = n1 >= n2 ? n2 : n1;
    CS_DALLOC(g, k, (size_t)mm * nn, "C1 C2^T");
    if (n1 >= n2) // K = C1 C2^T (n1, n2)
        CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n1, (int)n2, d, &one, c1.p, d,
                                 c2.p, d, &zero, k.p, (int)n1));
    else // K^T = C2 C1^T (n2, n1)
        CS_CUBLAS(g, cublasDgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n2, (int)n1, d, &one, c2.p, d,
                                 c1.p, d, &zero, k.p, (int)n2));
    double nuc = 0.0;
    CS_TRY(cs_gpu_nuclear_norm(g, k.p, (int)mm, (int)nn, &nuc));
    cs_host<double> h;
    CS_HALLOC(h, 4 * (size_t)d, "means and sums of squares");
    CS_DOWNLOAD(g, h.p, mu1.p, d);
    CS_DOWNLOAD(g, h.p + d, mu2.p, d);
    CS_DOWNLOAD(g, h.p + 2 * (size_t)d, ss1.p, d);
    CS_DOWNLOAD(g, h.p + 3 * (size_t)d, ss2.p, d);
    res->trace_sqrt = nuc / sqrt((double)(n1 - 1) * (double)(n2 - 1));
    res->trace1 = gf_sum(h.p + 2 * (size_t)d, d) / (double)(n1 - 1);
    res->trace2 = gf_sum(h.p + 3 * (size_t)d, d) / (double)(n2 - 1);
    res->mean_term = cs_fid_mean_term(h.p, h.p + d, d);
    res->method = "lowrank";
    res->warnings = cs_fid_singular_flag(n1, d, CS_FID_WARN_SINGULAR1) |
                    cs_fid_singular_flag(n2, d, CS_FID_WARN_SINGULAR2);
    return cs_fid_finish(res);
}

// ---- dispatcher (frechet.c cs_fid_compute with CS_FID_AUTO) ----------------------------------------

extern "C" cs_status cs_gpu_fid_compute(cs_gpu *g, const cs_stats *s1, const float *x1, const cs_stats *s2,
                                        const float *x2, cs_fid_result *res) {
    memset(res, 0, sizeof *res);
    int have_rows;
    CS_TRY(cs_fid_check_pair(s1, x1, s2, x2, &have_rows));
    const int d = s1->d;
    cs_status st;
    if (have_rows && s1->n + s2->n <= d) {
        st = cs_gpu_fid_lowrank(g, x1, s1->n, x2, s2->n, d, res);
    } else {
        // factor the larger set; the other one, when its rows are at hand and it has fewer rows
        // than the reference's rank, takes the one-sided low-rank form
        const cs_stats *sa = s1, *sb = s2;
        const float *xb = x2;
        if (x1 && !s1->cov_only && (!x2 || s2->cov_only || s1->n < s2->n)) sa = s2, sb = s1, xb = x1;
        cs_gpu_fid_ref *r = NULL;
        CS_TRY(cs_gpu_fid_ref_init(g, sa, &r));
        g->op = "GPU FID";
        st = gf_ref_compare_rows(r, sb, xb, res);
        cs_gpu_fid_ref_free(r);
        if (st == CS_OK && sa != s1) cs_fid_result_swap_sides(res); // report in the caller's order
    }
    if (st == CS_OK && s1->id.weights_sha256[0] && s2->id.weights_sha256[0] &&
        !cs_extractor_id_equal(&s1->id, &s2->id))
        res->warnings |= CS_FID_WARN_EXTRACTOR;
    return st;
}

// ---- resampled low-rank FIDs (frechet.c cs_fid_boot_*) -------------------------------------------

#define GF_BOOT_STREAMS 4                      // concurrent per-resample SVDs (m > 32)
#define GF_BOOT_K_BYTES ((size_t)512 << 20)    // K blocks per batch (bounds the batch size)
#define GF_BOOT_JACOBI_MAX 32                  // gesvdjBatched's size limit

struct cs_gpu_fid_boot {
    cs_gpu *g;
    int64_t n1, n2, nt;
    int d;
    cs_dev<double> gram; // (nt, nt): Gram matrix of the rows minus the pooled mean (symmetric)
    // per-resample SVDs: one cuSOLVER handle per stream
    cudaStream_t streams[GF_BOOT_STREAMS];
    cusolverDnHandle_t solvers[GF_BOOT_STREAMS];
    cudaEvent_t ready, done[GF_BOOT_STREAMS];
    int nstreams;
    ~cs_gpu_fid_boot() {
        // release path: errors cleared, not left for the next op (kernels/cuda_release.cuh)
        for (int i = 0; i < nstreams; i++) {
            if (solvers[i]) (void)cusolverDnDestroy(solvers[i]);
            if (done[i]) cs_cuda_released(cudaEventDestroy(done[i]));
            if (streams[i]) cs_cuda_released(cudaStreamDestroy(streams[i]));
        }
        if (ready) cs_cuda_released(cudaEventDestroy(ready));
        cs_cuda_clear_released();
    }
};

extern "C" void cs_gpu_fid_boot_free(cs_gpu_fid_boot *b) {
    if (!b) return;
    if (b->g) cs_cuda_released(cudaSetDevice(b->g->device)); // release path (kernels/cuda_release.cuh)
    delete b;
}

static cs_status gf_boot_init(cs_gpu *g, const float *x1, int64_t n1, const float *x2, int64_t n2, int d,
                              cs_gpu_fid_boot *b) {
    b->g = g;
    b->n1 = n1;
    b->n2 = n2;
    b->nt = n1 + n2;
    b->d = d;
    const int64_t nt = b->nt;
    const size_t c1 = (size_t)n1 * d, cnt = (size_t)nt * d;
    cs_dev<float> stage;
    cs_dev<double> z, c;
    cs_dev<unsigned long long> bad;
    CS_DALLOC(g, stage, cnt, "float32 pooled features");
    CS_DALLOC(g, z, cnt, "float64 pooled features");
    CS_DALLOC(g, c, d, "pooled mean");
    CS_DALLOC(g, bad, 1, "non-finite flag");
    CS_DALLOC(g, b->gram, (size_t)nt * nt, "Gram matrix");
    CS_UPLOAD(g, stage.p, x1, c1);
    CS_UPLOAD(g, stage.p + c1, x2, (size_t)n2 * d);
    CS_CUDA(g, cudaMemsetAsync(bad.p, 0xff, sizeof(unsigned long long), g->stream));
    cs_k_f32_to_f64<<<cs_grid(cnt, 256), 256, 0, g->stream>>>(stage.p, cnt, z.p, 0ull, bad.p);
    CS_LAUNCHED(g, cs_k_f32_to_f64);
    unsigned long long hb = 0;
    CS_DOWNLOAD(g, &hb, bad.p, 1);
    if (hb != ~0ull) {
        int set2 = hb >= c1;
        size_t i = set2 ? hb - c1 : hb;
        return CS_FAIL(CS_E_NUMERIC, "set %d features contains a non-finite value (%g at index %zu)",
                       set2 ? 2 : 1, (double)(set2 ? x2[i] : x1[i]), i);
    }
    cs_k_col_mean<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(z.p, nt, d, c.p);
    CS_LAUNCHED(g, cs_k_col_mean);
    cs_k_center_cols<<<cs_grid((size_t)d, 128), 128, 0, g->stream>>>(z.p, nt, d, c.p, nullptr);
    CS_LAUNCHED(g, cs_k_center_cols);
    const double one = 1.0, zero = 0.0;
    // G = Z Z^T (nt, nt); Z (nt, d) row-major is Z^T (d, nt) column-major
    CS_CUBLAS(g, cublasDsyrk(g->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, (int)nt, d, &one, z.p, d, &zero,
                             b->gram.p, (int)nt));
    cs_k_sym_from_upper<<<cs_grid((size_t)nt * nt, 256), 256, 0, g->stream>>>(b->gram.p, nt);
    CS_LAUNCHED(g, cs_k_sym_from_upper);
    CS_CUDA(g, cudaEventCreateWithFlags(&b->ready, cudaEventDisableTiming));
    for (int i = 0; i < GF_BOOT_STREAMS; i++) {
        b->nstreams = i + 1;
        CS_CUDA(g, cudaStreamCreateWithFlags(&b->streams[i], cudaStreamNonBlocking));
        CS_CUDA(g, cudaEventCreateWithFlags(&b->done[i], cudaEventDisableTiming));
        CS_CUSOLVER(g, cusolverDnCreate(&b->solvers[i]));
        CS_CUSOLVER(g, cusolverDnSetStream(b->solvers[i], b->streams[i]));
    }
    CS_CUDA(g, cudaStreamSynchronize(g->stream)); // stage, z, c are freed on return
    return CS_OK;
}

extern "C" cs_status cs_gpu_fid_boot_init(cs_gpu *g, const float *x1, int64_t n1, const float *x2,
                                          int64_t n2, int d, cs_gpu_fid_boot **out) {
    *out = NULL;
    CS_GPU_ENTER(g, "GPU resampled FIDs");
    if (d < 1 || d > CS_STATS_MAX_DIMS)
        return CS_FAIL(CS_E_USAGE, "feature dimension %d is outside 1..%d", d, CS_STATS_MAX_DIMS);
    if (n1 < 2 || n2 < 2 || n1 + n2 > CS_FID_BOOT_MAX_ROWS)
        return CS_FAIL(CS_E_USAGE, "resampled FIDs need 2..%d rows in all (got %lld + %lld)",
                       CS_FID_BOOT_MAX_ROWS, (long long)n1, (long long)n2);
    cs_gpu_fid_boot *b = new (std::nothrow) cs_gpu_fid_boot();
    if (!b) return CS_FAIL(CS_E_NOMEM, "out of memory for GPU resampling state");
    cs_status st = gf_boot_init(g, x1, n1, x2, n2, d, b);
    if (st != CS_OK) {
        cs_gpu_fid_boot_free(b);
        return st;
    }
    *out = b;
    return CS_OK;
}

// Per-resample metadata of one batch (device arrays of B entries).
struct gf_boot_meta {
    const int *u1, *u2;          // distinct rows of each set
    const long long *off1, *off2; // offsets into the distinct-row arrays
    const long long *koff;        // offset of the resample's K block
    const int *ld;                // leading dimension of its K block (rows >= columns)
};

// Kernel 1: for each resample (blockIdx.y) and distinct row a / column b (thread):
//   rsum[a] = sum_b c2_b K[a, b], p11[a] = sum_a' c1_a' G[r_a, r_a']       (set-1 rows)
//   csum[b] = sum_a c1_a K[a, b], p22[b] = sum_b' c2_b' G[s_b, s_b']       (set-2 rows)
// with K[a, b] = G[r_a, n1 + s_b]; the K sums in the CPU's order (sequential over the other index).
static __global__ void gf_k_boot_sums(const double *__restrict__ G, long long nt, long long n1, gf_boot_meta meta,
                                      const int *__restrict__ r1, const double *__restrict__ c1,
                                      const int *__restrict__ r2, const double *__restrict__ c2,
                                      double *rsum, double *p11, double *csum, double *p22) {
    const int k = blockIdx.y;
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    const int u1 = meta.u1[k], u2 = meta.u2[k];
    const long long o1 = meta.off1[k], o2 = meta.off2[k];
    if (t < u1) {
        const double *row = G + (size_t)r1[o1 + t] * nt;
        double rs = 0.0, p = 0.0;
        for (int b = 0; b < u2; b++) rs = __dadd_rn(rs, __dmul_rn(c2[o2 + b], row[n1 + r2[o2 + b]]));
        for (int a = 0; a < u1; a++) p = __dadd_rn(p, __dmul_rn(c1[o1 + a], row[r1[o1 + a]]));
        rsum[o1 + t] = rs;
        p11[o1 + t] = p;
    }
    if (t < u2) {
        const double *row = G + (size_t)(n1 + r2[o2 + t]) * nt; // G symmetric: row = column
        double cs = 0.0, p = 0.0;
        for (int a = 0; a < u1; a++) cs = __dadd_rn(cs, __dmul_rn(c1[o1 + a], row[r1[o1 + a]]));
        for (int b = 0; b < u2; b++) p = __dadd_rn(p, __dmul_rn(c2[o2 + b], row[n1 + r2[o2 + b]]));
        csum[o2 + t] = cs;
        p22[o2 + t] = p;
    }
}

// Kernel 2 (one thread per resample): total, gmean, and the Gram sums s11, d11, s22, d22.
// scal (B, 5): gmean, s11, d11, s22, d22.
static __global__ void gf_k_boot_scalars(const double *__restrict__ G, long long nt, long long n1, gf_boot_meta meta,
                                         const int *__restrict__ r1, const double *__restrict__ c1,
                                         const int *__restrict__ r2, const double *__restrict__ c2,
                                         const double *rsum, const double *p11, const double *p22,
                                         double m1, double m2, int B, double *scal) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B) return;
    const int u1 = meta.u1[k], u2 = meta.u2[k];
    const long long o1 = meta.off1[k], o2 = meta.off2[k];
    double total = 0.0, s11 = 0.0, d11 = 0.0, s22 = 0.0, d22 = 0.0;
    for (int a = 0; a < u1; a++) {
        double w = c1[o1 + a];
        size_t r = (size_t)r1[o1 + a];
        total = __dadd_rn(total, __dmul_rn(w, rsum[o1 + a]));
        s11 = __dadd_rn(s11, __dmul_rn(w, p11[o1 + a]));
        d11 = __dadd_rn(d11, __dmul_rn(w, G[r * nt + r]));
    }
    for (int b = 0; b < u2; b++) {
        double w = c2[o2 + b];
        size_t s = (size_t)(n1 + r2[o2 + b]);
        s22 = __dadd_rn(s22, __dmul_rn(w, p22[o2 + b]));
        d22 = __dadd_rn(d22, __dmul_rn(w, G[s * nt + s]));
    }
    double *o = scal + (size_t)k * 5;
    o[0] = total / (m1 * m2);
    o[1] = s11;
    o[2] = d11;
    o[3] = s22;
    o[4] = d22;
}

// Kernel 3: the double-centred, sqrt(count)-weighted K' of each resample, as frechet.c:
//   K'[a, b] = (K[a, b] + gmean - rmean[a] - cmean[b]) * sqrt(c1_a) * sqrt(c2_b),
// rmean = rsum / m2, cmean = csum / m1, stored column-major with rows >= columns (transposed when
// u1 < u2) at koff with leading dimension ld.
static __global__ void gf_k_boot_fill(const double *__restrict__ G, long long nt, long long n1, gf_boot_meta meta,
                                      const int *__restrict__ r1, const double *__restrict__ c1,
                                      const int *__restrict__ r2, const double *__restrict__ c2,
                                      const double *rsum, const double *csum, const double *scal,
                                      double m1, double m2, double *K) {
    const int k = blockIdx.y;
    const int u1 = meta.u1[k], u2 = meta.u2[k], ld = meta.ld[k];
    const long long o1 = meta.off1[k], o2 = meta.off2[k];
    const size_t cells = (size_t)u1 * u2;
    const double gmean = scal[(size_t)k * 5];
    double *kb = K + meta.koff[k];
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < cells;
         t += (size_t)gridDim.x * blockDim.x) {
        int a = (int)(t % (size_t)u1), b = (int)(t / (size_t)u1);
        double v = G[(size_t)r1[o1 + a] * nt + n1 + r2[o2 + b]];
        double rmean = rsum[o1 + a] / m2, cmean = csum[o2 + b] / m1;
        v = __dsub_rn(__dsub_rn(__dadd_rn(v, gmean), rmean), cmean);
        v = __dmul_rn(__dmul_rn(v, sqrt(c1[o1 + a])), sqrt(c2[o2 + b]));
        if (u1 >= u2) kb[(size_t)a + (size_t)b * ld] = v;
        else kb[(size_t)b + (size_t)a * ld] = v;
    }
}

// One batch of B resamples (k0 .. k0 + B - 1 of the caller's arrays).
static cs_status gf_boot_batch(cs_gpu_fid_boot *bt, int B, const int64_t *idx1, int64_t m1,
                               const int64_t *idx2, int64_t m2, cs_fid_result *res) {
    cs_gpu *g = bt->g;
    const int64_t n1 = bt->n1, n2 = bt->n2;
    // ---- host: distinct rows and multiplicities, exactly as cs_fid_boot_eval ----
    cs_host<int64_t> cnt;
    cs_host<int> hr1, hr2, hu1, hu2, hld;
    cs_host<double> hc1, hc2;
    cs_host<long long> ho1, ho2, hko, hso;
    CS_HALLOC(cnt, n1 + n2, "multiplicities");
    memset(cnt.p, 0, (size_t)(n1 + n2) * sizeof(int64_t));
    CS_HALLOC(hr1, (size_t)B * m1, "distinct rows");
    CS_HALLOC(hr2, (size_t)B * m2, "distinct rows");
    CS_HALLOC(hc1, (size_t)B * m1, "counts");
    CS_HALLOC(hc2, (size_t)B * m2, "counts");
    CS_HALLOC(hu1, B, "distinct counts");
    CS_HALLOC(hu2, B, "distinct counts");
    CS_HALLOC(hld, B, "leading dimensions");
    CS_HALLOC(ho1, B, "offsets");
    CS_HALLOC(ho2, B, "offsets");
    CS_HALLOC(hko, B, "offsets");
    CS_HALLOC(hso, B, "offsets");
    const int jacobi = m1 <= GF_BOOT_JACOBI_MAX && m2 <= GF_BOOT_JACOBI_MAX;
    long long o1 = 0, o2 = 0, ko = 0, so = 0;
    int P = 1, Q = 1; // padded shape of the batched (Jacobi) path
    for (int k = 0; k < B; k++) {
        const int64_t *i1 = idx1 + (size_t)k * m1, *i2 = idx2 + (size_t)k * m2;
        int64_t *ct1 = cnt.p, *ct2 = cnt.p + n1;
        int u1 = 0, u2 = 0;
        for (int64_t a = 0; a < m1; a++)
            if (ct1[i1[a]]++ == 0) hr1[o1 + u1++] = (int)i1[a];
        for (int64_t a = 0; a < m2; a++)
            if (ct2[i2[a]]++ == 0) hr2[o2 + u2++] = (int)i2[a];
        for (int a = 0; a < u1; a++) hc1[o1 + a] = (double)ct1[hr1[o1 + a]], ct1[hr1[o1 + a]] = 0;
        for (int b = 0; b < u2; b++) hc2[o2 + b] = (double)ct2[hr2[o2 + b]], ct2[hr2[o2 + b]] = 0;
        hu1[k] = u1, hu2[k] = u2, ho1[k] = o1, ho2[k] = o2;
        int rows = u1 >= u2 ? u1 : u2, cols = u1 >= u2 ? u2 : u1;
        if (rows > P) P = rows;
        if (cols > Q) Q = cols;
        hko[k] = ko, hso[k] = so, hld[k] = rows;
        ko += (long long)rows * cols;
        so += cols;
        o1 += u1, o2 += u2;
    }
    if (jacobi) { // one padded (P, Q) block per resample
        for (int k = 0; k < B; k++) hko[k] = (long long)k * P * Q, hld[k] = P, hso[k] = (long long)k * Q;
        ko = (long long)B * P * Q;
        so = (long long)B * Q;
    }
    // ---- device ----
    cs_dev<int> dr1, dr2, du1, du2, dld, info;
    cs_dev<double> dc1, dc2, rsum, p11, csum, p22, scal, K, S;
    cs_dev<long long> do1, do2, dko;
    CS_DALLOC(g, dr1, o1, "distinct rows");
    CS_DALLOC(g, dr2, o2, "distinct rows");
    CS_DALLOC(g, dc1, o1, "counts");
    CS_DALLOC(g, dc2, o2, "counts");
    CS_DALLOC(g, du1, B, "distinct counts");
    CS_DALLOC(g, du2, B, "distinct counts");
    CS_DALLOC(g, dld, B, "leading dimensions");
    CS_DALLOC(g, do1, B, "offsets");
    CS_DALLOC(g, do2, B, "offsets");
    CS_DALLOC(g, dko, B, "offsets");
    CS_DALLOC(g, rsum, o1, "row sums");
    CS_DALLOC(g, p11, o1, "Gram sums");
    CS_DALLOC(g, csum, o2, "column sums");
    CS_DALLOC(g, p22, o2, "Gram sums");
    CS_DALLOC(g, scal, (size_t)B * 5, "resample scalars");
    CS_DALLOC(g, K, ko, "resampled C1 C2^T blocks");
    CS_DALLOC(g, S, so, "singular values");
    CS_DALLOC(g, info, B, "SVD status");
    CS_UPLOAD(g, dr1.p, hr1.p, o1);
    CS_UPLOAD(g, dr2.p, hr2.p, o2);
    CS_UPLOAD(g, dc1.p, hc1.p, o1);
    CS_UPLOAD(g, dc2.p, hc2.p, o2);
    CS_UPLOAD(g, du1.p, hu1.p, B);
    CS_UPLOAD(g, du2.p, hu2.p, B);
    CS_UPLOAD(g, dld.p, hld.p, B);
    CS_UPLOAD(g, do1.p, ho1.p, B);
    CS_UPLOAD(g, do2.p, ho2.p, B);
    CS_UPLOAD(g, dko.p, hko.p, B);
    if (jacobi) CS_CUDA(g, cudaMemsetAsync(K.p, 0, (size_t)ko * sizeof(double), g->stream));
    gf_boot_meta meta = {du1.p, du2.p, do1.p, do2.p, dko.p, dld.p};
    const double dm1 = (double)m1, dm2 = (double)m2;
    const int64_t mmax = m1 > m2 ? m1 : m2;
    dim3 g1(cs_grid((size_t)mmax, 128), (unsigned)B);
    gf_k_boot_sums<<<g1, 128, 0, g->stream>>>(bt->gram.p, bt->nt, n1, meta, dr1.p, dc1.p, dr2.p, dc2.p,
                                             rsum.p, p11.p, csum.p, p22.p);
    CS_LAUNCHED(g, gf_k_boot_sums);
    gf_k_boot_scalars<<<cs_grid((size_t)B, 64), 64, 0, g->stream>>>(
        bt->gram.p, bt->nt, n1, meta, dr1.p, dc1.p, dr2.p, dc2.p, rsum.p, p11.p, p22.p, dm1, dm2, B, scal.p);
    CS_LAUNCHED(g, gf_k_boot_scalars);
    dim3 g3(cs_grid((size_t)m1 * m2, 256) < 1024 ? cs_grid((size_t)m1 * m2, 256) : 1024, (unsigned)B);
    gf_k_boot_fill<<<g3, 256, 0, g->stream>>>(bt->gram.p, bt->nt, n1, meta, dr1.p, dc1.p, dr2.p, dc2.p,
                                             rsum.p, csum.p, scal.p, dm1, dm2, K.p);
    CS_LAUNCHED(g, gf_k_boot_fill);
    // ---- singular values ----
    cs_host<int> hinfo;
    CS_HALLOC(hinfo, B, "SVD status");
    if (jacobi) {
        gesvdjInfo_t params = nullptr;
        CS_CUSOLVER(g, cusolverDnCreateGesvdjInfo(&params));
        cs_status st = CS_OK;
        cs_dev<double> U, V, work;
        int lwork = 0;
        // tolerance: machine precision (the default), as LAPACK's; at most 100 sweeps. U and V are
        // not computed (values only) but passed as valid buffers all the same.
        cusolverStatus_t e = cusolverDnXgesvdjSetMaxSweeps(params, 100);
        if (e != CUSOLVER_STATUS_SUCCESS)
            st = cs_gpu_fail_cusolver(g, e, "cusolverDnXgesvdjSetMaxSweeps", __FILE__, __LINE__);
        if (st == CS_OK)
            st = cs_gpu_alloc_bytes(g, (void **)&U.p, (size_t)B * P * P, sizeof(double), "SVD U", __FILE__, __LINE__);
        if (st == CS_OK)
            st = cs_gpu_alloc_bytes(g, (void **)&V.p, (size_t)B * Q * Q, sizeof(double), "SVD V", __FILE__, __LINE__);
        if (st == CS_OK) {
            e = cusolverDnDgesvdjBatched_bufferSize(g->solver, CUSOLVER_EIG_MODE_NOVECTOR, P, Q, K.p, P, S.p,
                                                    U.p, P, V.p, Q, &lwork, params, B);
            if (e != CUSOLVER_STATUS_SUCCESS)
                st = cs_gpu_fail_cusolver(g, e, "cusolverDnDgesvdjBatched_bufferSize", __FILE__, __LINE__);
        }
        if (st == CS_OK)
            st = cs_gpu_alloc_bytes(g, (void **)&work.p, (size_t)lwork, sizeof(double), "SVD workspace",
                                    __FILE__, __LINE__);
        if (st == CS_OK) {
            e = cusolverDnDgesvdjBatched(g->solver, CUSOLVER_EIG_MODE_NOVECTOR, P, Q, K.p, P, S.p, U.p, P,
                                         V.p, Q, work.p, lwork, info.p, params, B);
            if (e != CUSOLVER_STATUS_SUCCESS)
                st = cs_gpu_fail_cusolver(g, e, "cusolverDnDgesvdjBatched", __FILE__, __LINE__);
        }
        if (st == CS_OK) {
            cudaError_t ce = cudaStreamSynchronize(g->stream);
            if (ce != cudaSuccess) st = cs_gpu_fail_cuda(g, ce, "cudaStreamSynchronize(gesvdjBatched)", __FILE__, __LINE__);
        }
        (void)cusolverDnDestroyGesvdjInfo(params); // host memory only; st is the error that matters
        CS_TRY(st);
    } else {
        // one gesvd per resample, round-robin over the streams, after the fill kernel
        int lmax = 0;
        for (int k = 0; k < B; k++) {
            int rows = hld[k], cols = hu1[k] >= hu2[k] ? hu2[k] : hu1[k], lw = 0;
            CS_CUSOLVER(g, cusolverDnDgesvd_bufferSize(bt->solvers[0], rows, cols, &lw));
            if (lw > lmax) lmax = lw;
        }
        cs_dev<double> work[GF_BOOT_STREAMS];
        for (int i = 0; i < bt->nstreams; i++) CS_DALLOC(g, work[i], lmax, "SVD workspace");
        CS_CUDA(g, cudaEventRecord(bt->ready, g->stream));
        for (int i = 0; i < bt->nstreams; i++) CS_CUDA(g, cudaStreamWaitEvent(bt->streams[i], bt->ready, 0));
        for (int k = 0; k < B; k++) {
            int i = k % bt->nstreams;
            int rows = hld[k], cols = hu1[k] >= hu2[k] ? hu2[k] : hu1[k];
            CS_CUSOLVER(g, cusolverDnDgesvd(bt->solvers[i], 'N', 'N', rows, cols, K.p + hko[k], rows,
                                            S.p + hso[k], nullptr, rows, nullptr, cols, work[i].p, lmax,
                                            nullptr, info.p + k));
        }
        for (int i = 0; i < bt->nstreams; i++) {
            CS_CUDA(g, cudaEventRecord(bt->done[i], bt->streams[i]));
            CS_CUDA(g, cudaStreamWaitEvent(g->stream, bt->done[i], 0));
        }
    }
    cs_host<double> hS, hscal;
    CS_HALLOC(hS, so, "singular values");
    CS_HALLOC(hscal, (size_t)B * 5, "resample scalars");
    CS_DOWNLOAD(g, hinfo.p, info.p, B);
    CS_DOWNLOAD(g, hS.p, S.p, so);
    CS_DOWNLOAD(g, hscal.p, scal.p, (size_t)B * 5);
    // ---- host: the result of each resample, as cs_fid_boot_eval ----
    for (int k = 0; k < B; k++) {
        cs_fid_result *rk = &res[k];
        memset(rk, 0, sizeof *rk);
        CS_INFO(g, jacobi ? "cusolverDnDgesvdjBatched" : "cusolverDnDgesvd", hinfo[k]);
        // all values of the block: the padded (P, Q) Jacobi blocks add only zero singular values,
        // whatever order gesvdjBatched returns them in
        int cols = jacobi ? Q : (hu1[k] >= hu2[k] ? hu2[k] : hu1[k]);
        double nuc = 0.0;
        for (int i = 0; i < cols; i++) nuc += hS[hso[k] + i] > 0.0 ? hS[hso[k] + i] : 0.0;
        const double *sc = hscal.p + (size_t)k * 5;
        double gmean = sc[0], s11 = sc[1], d11 = sc[2], s22 = sc[3], d22 = sc[4];
        double mt = s11 / ((double)m1 * m1) + s22 / ((double)m2 * m2) - 2.0 * gmean;
        rk->mean_term = mt > 0.0 ? mt : 0.0;
        rk->trace1 = (d11 - s11 / (double)m1) / (double)(m1 - 1);
        rk->trace2 = (d22 - s22 / (double)m2) / (double)(m2 - 1);
        rk->trace_sqrt = nuc / sqrt((double)(m1 - 1) * (double)(m2 - 1));
        rk->method = "lowrank";
        rk->warnings = cs_fid_singular_flag(m1, bt->d, CS_FID_WARN_SINGULAR1) |
                       cs_fid_singular_flag(m2, bt->d, CS_FID_WARN_SINGULAR2);
        CS_TRY(cs_fid_finish(rk));
    }
    return CS_OK;
}

extern "C" cs_status cs_gpu_fid_boot_eval_batch(cs_gpu_fid_boot *b, int R, const int64_t *idx1, int64_t m1,
                                                const int64_t *idx2, int64_t m2, cs_fid_result *res) {
    cs_gpu *g = b->g;
    CS_GPU_ENTER(g, "GPU resampled FIDs");
    if (R < 0) return CS_FAIL(CS_E_USAGE, "negative resample count %d", R);
    if (R == 0) return CS_OK;
    memset(res, 0, (size_t)R * sizeof *res);
    CS_TRY(cs_fid_lowrank_check(m1, m2, b->d));
    for (size_t a = 0; a < (size_t)R * m1; a++)
        if (idx1[a] < 0 || idx1[a] >= b->n1)
            return CS_FAIL(CS_E_USAGE, "set 1 row index %lld is outside 0..%lld", (long long)idx1[a],
                           (long long)(b->n1 - 1));
    for (size_t a = 0; a < (size_t)R * m2; a++)
        if (idx2[a] < 0 || idx2[a] >= b->n2)
            return CS_FAIL(CS_E_USAGE, "set 2 row index %lld is outside 0..%lld", (long long)idx2[a],
                           (long long)(b->n2 - 1));
    // batch size: K blocks of at most GF_BOOT_K_BYTES (each at most m1 m2 doubles), grid.y <= 65535
    size_t per = (size_t)m1 * m2 * sizeof(double);
    int64_t bmax = (int64_t)(GF_BOOT_K_BYTES / (per ? per : 1));
    if (bmax < 1) bmax = 1;
    if (bmax > 4096) bmax = 4096;
    for (int k0 = 0; k0 < R; k0 += (int)bmax) {
        int B = R - k0 < bmax ? R - k0 : (int)bmax;
        CS_TRY(gf_boot_batch(b, B, idx1 + (size_t)k0 * m1, m1, idx2 + (size_t)k0 * m2, m2, res + k0));
    }
    return CS_OK;
}
