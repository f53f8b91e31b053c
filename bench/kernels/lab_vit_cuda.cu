// The kernel lab for the Vision Transformer ops on the GPU (kernels/cuda_vit.h), llm.c's dev/cuda
// manner (bench/kernels/lab.h): each op on the shapes of one image of DINOv2 ViT-S/14 at 224 px
// (257 tokens, width 384, 6 heads, MLP 1536) and of CLIP ViT-L/14 at 336 px (577 tokens, width
// 1024, 16 heads, MLP 4096), checked against its CPU reference (cs_ref_vit_*, naive loops in
// double, host/net/vit_ops_cpu.c), then timed with CUDA events (GB/s beside the peak, GFLOP/s for
// the GEMMs). cuBLAS in CUBLAS_PEDANTIC_MATH (fp32, no TF32). Exit 0 / 1; 77 without a CUDA
// device (1 under COPYSCOPE_REQUIRE_GPU=1).
//   bench_vit_kernels_cuda
// Tolerances (why): patchify and the residual without LayerScale exact (copies, one add);
// LayerScale residual 1e-6 relative (one multiply-add, contraction allowed); layer norm and the
// activations 1e-5 of the largest magnitude (float32 steps after double reductions; the GPU's
// erff/expf are within 2 ulp); linear and attention 2e-5 of the largest magnitude (float32 dot
// products of 64..4096 terms summed in cuBLAS's order: ~sqrt(K) 2^-24, the bound of
// tests/test_vit_ops.c for the CPU ops).
extern "C" {
#include "net/vit_ops.h"
}
#include "cuda_vit.h"

#include "gpu_required.h"
#include "lab.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

static int g_fail;
static double g_peak_gbs;
static const int LAB_REPS = 20;

#define LAB_CU(stmt)                                                                               \
    do {                                                                                           \
        cudaError_t e_ = (stmt);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #stmt, cudaGetErrorString(e_));    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define LAB_BLAS(stmt)                                                                             \
    do {                                                                                           \
        cublasStatus_t s_ = (stmt);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            printf("FAIL %s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #stmt, (int)s_);      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static float *dev_copy(const float *h, size_t n) {
    float *d = NULL;
    LAB_CU(cudaMalloc(&d, n * sizeof(float) + 4));
    if (h) LAB_CU(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static float *host_rand(size_t n, uint64_t seed, float scale) {
    float *x = (float *)malloc(n * sizeof(float) + 4);
    lab_fill(x, n, seed);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
    return x;
}

template <typename F> static double time_op(F launch) {
    cudaEvent_t a, b;
    LAB_CU(cudaEventCreate(&a));
    LAB_CU(cudaEventCreate(&b));
    LAB_CU(launch());
    LAB_CU(cudaDeviceSynchronize());
    LAB_CU(cudaEventRecord(a, 0));
    for (int r = 0; r < LAB_REPS; r++) LAB_CU(launch());
    LAB_CU(cudaEventRecord(b, 0));
    LAB_CU(cudaEventSynchronize(b));
    float ms = 0;
    LAB_CU(cudaEventElapsedTime(&ms, a, b));
    LAB_CU(cudaEventDestroy(a));
    LAB_CU(cudaEventDestroy(b));
    return ms * 1e-3 / LAB_REPS;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

static void fetch(float *h, const float *d, size_t n) { LAB_CU(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost)); }

struct shape {
    const char *name;
    int t, d, heads, hidden, img, patch;
};

static void run_shape(cublasHandle_t blas, const shape &s) {
    const int t = s.t, d = s.d, H = s.hidden, hd = d / s.heads;
    const size_t td = (size_t)t * d;
    char op[64];
    printf("-- %s: %d tokens, width %d, %d heads, MLP %d --\n", s.name, t, d, s.heads, H);
    // layer norm
    {
        float *x = host_rand(td, 1, 3.0f), *w = host_rand(d, 2, 0.5f), *b = host_rand(d, 3, 0.1f);
        for (int j = 0; j < d; j++) w[j] += 1.0f;
        float *want = (float *)malloc(td * 4), *got = (float *)malloc(td * 4);
        cs_ref_vit_layernorm(t, d, x, w, b, 1e-6f, want);
        float *dx = dev_copy(x, td), *dw = dev_copy(w, d), *db = dev_copy(b, d), *dy = dev_copy(NULL, td);
        double sec = time_op([&] { return cs_cuda_vit_layernorm(0, t, d, dx, dw, db, 1e-6f, dy); });
        fetch(got, dy, td);
        snprintf(op, sizeof op, "layernorm");
        g_fail += lab_check(op, s.name, got, want, td, 1e-5 * max_abs(want, td), 0);
        lab_report(op, s.name, sec, 2.0 * td * 4, 0, g_peak_gbs);
        cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy), free(x), free(w), free(b), free(want), free(got);
    }
    // activations on the MLP's (t, hidden)
    for (int kind = 0; kind < 2; kind++) {
        const size_t n = (size_t)t * H;
        float *x = host_rand(n, 4 + kind, 6.0f), *want = (float *)malloc(n * 4), *got = (float *)malloc(n * 4);
        memcpy(want, x, n * 4);
        (kind == 0 ? cs_ref_vit_gelu : cs_ref_vit_quick_gelu)(n, want);
        float *dx = dev_copy(x, n);
        LAB_CU(cs_cuda_vit_act(0, kind, n, dx));
        fetch(got, dx, n);
        const char *name = kind == 0 ? "gelu" : "quick_gelu";
        g_fail += lab_check(name, s.name, got, want, n, 1e-5 * max_abs(want, n), 0);
        double sec = time_op([&] { return cs_cuda_vit_act(0, kind, n, dx); });
        lab_report(name, s.name, sec, 2.0 * n * 4, 0, g_peak_gbs);
        cudaFree(dx), free(x), free(want), free(got);
    }
    // SwiGLU gate (ViT-g's MLP form) on (t, 2 hidden)
    {
        const size_t n = (size_t)t * H;
        float *x = host_rand(2 * n, 6, 4.0f), *want = (float *)malloc(n * 4), *got = (float *)malloc(n * 4);
        cs_ref_vit_swiglu(t, H, x, want);
        float *dx = dev_copy(x, 2 * n), *dy = dev_copy(NULL, n);
        double sec = time_op([&] { return cs_cuda_vit_swiglu(0, t, H, dx, dy); });
        fetch(got, dy, n);
        g_fail += lab_check("swiglu", s.name, got, want, n, 1e-5 * max_abs(want, n), 0);
        lab_report("swiglu", s.name, sec, 3.0 * n * 4, 0, g_peak_gbs);
        cudaFree(dx), cudaFree(dy), free(x), free(want), free(got);
    }
    // residual with LayerScale, and without
    for (int ls = 1; ls >= 0; ls--) {
        float *x = host_rand(td, 7, 2.0f), *y = host_rand(td, 8, 2.0f), *g = host_rand(d, 9, 0.5f);
        float *want = (float *)malloc(td * 4), *got = (float *)malloc(td * 4);
        memcpy(want, x, td * 4);
        cs_ref_vit_residual(t, d, want, y, ls ? g : NULL);
        float *dx = dev_copy(x, td), *dy = dev_copy(y, td), *dg = dev_copy(g, d);
        LAB_CU(cs_cuda_vit_residual(0, t, d, dx, dy, ls ? dg : NULL));
        fetch(got, dx, td);
        const char *name = ls ? "layerscale" : "residual";
        g_fail += lab_check(name, s.name, got, want, td, 0, ls ? 1e-6 : 0);
        double sec = time_op([&] { return cs_cuda_vit_residual(0, t, d, dx, dy, ls ? dg : NULL); });
        lab_report(name, s.name, sec, 3.0 * td * 4, 0, g_peak_gbs);
        cudaFree(dx), cudaFree(dy), cudaFree(dg), free(x), free(y), free(g), free(want), free(got);
    }
    // patchify of the input image
    {
        const size_t ni = (size_t)3 * s.img * s.img, nc = (size_t)(t - 1) * 3 * s.patch * s.patch;
        float *img = host_rand(ni, 10, 2.0f), *want = (float *)malloc(nc * 4), *got = (float *)malloc(nc * 4);
        cs_vit_patchify(img, s.img, s.patch, want);
        float *di = dev_copy(img, ni), *dc = dev_copy(NULL, nc);
        double sec = time_op([&] { return cs_cuda_vit_patchify(0, di, s.img, s.patch, dc); });
        fetch(got, dc, nc);
        g_fail += lab_check("patchify", s.name, got, want, nc, 0, 0);
        lab_report("patchify", s.name, sec, 2.0 * nc * 4, 0, g_peak_gbs);
        cudaFree(di), cudaFree(dc), free(img), free(want), free(got);
    }
    // linear layers: qkv (d -> 3d) and fc1 (d -> hidden)
    for (int k = 0; k < 2; k++) {
        const int dout = k == 0 ? 3 * d : H;
        const size_t nw = (size_t)dout * d, ny = (size_t)t * dout;
        float *x = host_rand(td, 11, 1.0f), *w = host_rand(nw, 12, (float)(1.0 / sqrt((double)d)));
        float *b = host_rand(dout, 13, 0.05f), *want = (float *)malloc(ny * 4), *got = (float *)malloc(ny * 4);
        cs_ref_vit_linear(t, d, dout, x, d, w, b, want, dout);
        float *dx = dev_copy(x, td), *dw = dev_copy(w, nw), *db = dev_copy(b, dout), *dy = dev_copy(NULL, ny);
        cublasStatus_t bs;
        double sec = time_op([&] { return cs_cuda_vit_linear(blas, 0, t, d, dout, dx, d, dw, db, dy, dout, &bs); });
        fetch(got, dy, ny);
        const char *name = k == 0 ? "linear qkv" : "linear fc1";
        g_fail += lab_check(name, s.name, got, want, ny, 2e-5 * max_abs(want, ny), 0);
        lab_report(name, s.name, sec, (double)(td + nw + ny) * 4, 2.0 * t * d * dout, g_peak_gbs);
        cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy), free(x), free(w), free(b), free(want), free(got);
    }
    // attention
    {
        const size_t nq = (size_t)t * 3 * d;
        float *qkv = host_rand(nq, 14, 1.5f), *want = (float *)malloc(td * 4), *got = (float *)malloc(td * 4);
        const float scale = (float)(1.0 / sqrt((double)hd));
        cs_ref_vit_attention(t, s.heads, hd, scale, qkv, want);
        float *dq = dev_copy(qkv, nq), *dout = dev_copy(NULL, td);
        float *ds = dev_copy(NULL, cs_cuda_vit_attention_scratch(t, s.heads, hd));
        cublasStatus_t bs;
        double sec = time_op([&] { return cs_cuda_vit_attention(blas, 0, t, s.heads, hd, scale, dq, dout, ds, &bs); });
        fetch(got, dout, td);
        g_fail += lab_check("attention", s.name, got, want, td, 2e-5 * max_abs(want, td), 0);
        lab_report("attention", s.name, sec, (double)(nq + td + 2.0 * s.heads * t * t) * 4,
                   4.0 * s.heads * (double)t * t * hd, g_peak_gbs);
        cudaFree(dq), cudaFree(dout), cudaFree(ds), free(qkv), free(want), free(got);
    }
}

int main(void) {
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
        (void)cudaGetLastError();
        return cs_test_gpu_skip("gpu_vit_kernel_lab", "no CUDA device");
    }
    cudaDeviceProp prop;
    int clock_khz = 0, bus_bits = 0;
    LAB_CU(cudaGetDeviceProperties(&prop, 0));
    LAB_CU(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0));
    LAB_CU(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
    g_peak_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) * 1e-9;
    printf("ViT kernel lab: %s (sm_%d%d), peak memory bandwidth %.0f GB/s\n", prop.name, prop.major, prop.minor,
           g_peak_gbs);
    cublasHandle_t blas;
    LAB_BLAS(cublasCreate(&blas));
    LAB_BLAS(cublasSetMathMode(blas, CUBLAS_PEDANTIC_MATH)); // fp32: no TF32 tensor cores
    LAB_BLAS(cublasSetStream(blas, 0));
    const shape shapes[] = {{"dinov2-vits14", 257, 384, 6, 1536, 224, 14}, {"clip-vitl14-336", 577, 1024, 16, 4096, 336, 14}};
    for (const shape &s : shapes) run_shape(blas, s);
    LAB_BLAS(cublasDestroy(blas));
    printf("%s: %d failure(s)\n", g_fail ? "FAILED" : "PASSED", g_fail);
    return g_fail ? 1 : 0;
}
