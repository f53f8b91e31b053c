// The kernel lab's GPU half (bench/kernels/lab.h): the CUDA module's custom kernels launched
// directly (kernels/cuda_backend_kernels.cu and cuda_preprocess.cu are compiled into this
// program, with the module's flags) on the network's shapes, each checked against the CPU
// reference and then timed with CUDA events (warm-up, then the mean of LAB_REPS launches),
// GB/s beside the device's peak memory bandwidth (2 x memory clock x bus width). Statistics and
// bootstrap run through the GPU math backend (the module) against the CPU math backend, timed on
// the host clock. Exit 0 / 1; 77 without a CUDA device (1 under COPYSCOPE_REQUIRE_GPU=1).
//   bench_kernels_cuda [BATCH]      (default 64; ctest gpu_kernel_lab runs 8)
#include "cuda_backend.h"

extern "C" {
#include "copyscope/model.h"
#include "fid/math_backend.h"
#include "net/backend.h"
}

#include "gpu_required.h"
#include "lab.h"

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

template <typename T> static T *dev_copy(const T *h, size_t n) {
    T *d = NULL;
    LAB_CU(cudaMalloc(&d, n * sizeof(T) + 1));
    if (h) LAB_CU(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

// Launch `launch` once (checked), then time LAB_REPS launches; seconds per launch.
template <typename F> static double time_kernel(F launch) {
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

static void pools(int n) {
    cs_pool_params pm = {}, pa = {};
    pm.n = n, pm.c = 64, pm.h = 147, pm.w = 147, pm.stride = 2, pm.pad = 0, pm.hout = 73, pm.wout = 73;
    pm.out_c_total = 64;
    pa.n = n, pa.c = 288, pa.h = 35, pa.w = 35, pa.stride = 1, pa.pad = 1, pa.hout = 35, pa.wout = 35;
    pa.out_c_total = 288;
    const cs_pool_params *ps[2] = {&pm, &pa};
    for (int k = 0; k < 2; k++) {
        const cs_pool_params *p = ps[k];
        const size_t nx = (size_t)p->n * p->c * p->h * p->w, ny = (size_t)p->n * p->out_c_total * p->hout * p->wout;
        float *x = (float *)malloc(nx * 4), *y = (float *)malloc(ny * 4), *want = (float *)malloc(ny * 4);
        lab_fill(x, nx, 11 + (uint64_t)k);
        (k == 0 ? cs_ref_maxpool3 : cs_ref_avgpool3)(p, x, want);
        float *dx = dev_copy(x, nx), *dy = dev_copy<float>(NULL, ny);
        const char *op = k == 0 ? "maxpool3" : "avgpool3";
        auto launch = [&] { return (k == 0 ? cs_cuda_maxpool3 : cs_cuda_avgpool3)(0, p, dx, dy); };
        const double t = time_kernel(launch);
        LAB_CU(cudaMemcpy(y, dy, ny * 4, cudaMemcpyDeviceToHost));
        g_fail += lab_check(op, "cuda kernel", y, want, ny, k == 0 ? 0 : LAB_POOL_ATOL, k == 0 ? 0 : 1e-6);
        lab_report(op, "cuda kernel", t, (double)(nx + ny) * 4, 9.0 * (double)ny, g_peak_gbs);
        cudaFree(dx), cudaFree(dy), free(x), free(y), free(want);
    }
    const size_t nx = (size_t)n * 2048 * 64, ny = (size_t)n * 2048;
    float *x = (float *)malloc(nx * 4), *y = (float *)malloc(ny * 4), *want = (float *)malloc(ny * 4);
    lab_fill(x, nx, 21);
    cs_ref_global_avgpool(n, 2048, 8, 8, x, want);
    float *dx = dev_copy(x, nx), *dy = dev_copy<float>(NULL, ny);
    const double t = time_kernel([&] { return cs_cuda_global_avgpool(0, n, 2048, 8, 8, dx, dy); });
    LAB_CU(cudaMemcpy(y, dy, ny * 4, cudaMemcpyDeviceToHost));
    g_fail += lab_check("gap", "cuda kernel", y, want, ny, LAB_POOL_ATOL, 1e-6);
    lab_report("gap", "cuda kernel", t, (double)(nx + ny) * 4, (double)nx, g_peak_gbs);
    cudaFree(dx), cudaFree(dy), free(x), free(y), free(want);
}

static void bias_relu(int n) {
    cs_conv2d_params p = {};
    p.n = n, p.cout = 64, p.hout = 35, p.wout = 35, p.out_c_total = 288, p.out_c_offset = 64, p.relu = 1;
    const int hw = 35 * 35;
    const size_t ny = (size_t)n * 288 * hw, touched = (size_t)n * 64 * hw;
    float *y = (float *)malloc(ny * 4), *want = (float *)malloc(ny * 4), *bias = (float *)malloc(64 * 4);
    lab_fill(y, ny, 31);
    lab_fill(bias, 64, 32);
    memcpy(want, y, ny * 4);
    lab_ref_bias_relu(n, 64, 64, 288, hw, bias, want);
    float *dy = dev_copy(y, ny), *db = dev_copy(bias, 64);
    LAB_CU(cs_cuda_bias_act_slice(0, &p, db, dy)); // the checked launch: once on the input
    LAB_CU(cudaMemcpy(y, dy, ny * 4, cudaMemcpyDeviceToHost));
    g_fail += lab_check("bias_relu", "cuda kernel", y, want, ny, 0, 0);
    // timing: in place again and again (relu of relu + b: same traffic)
    const double t = time_kernel([&] { return cs_cuda_bias_act_slice(0, &p, db, dy); });
    lab_report("bias_relu", "cuda kernel", t, (double)touched * 8, 2.0 * (double)touched, g_peak_gbs);
    cudaFree(dy), cudaFree(db), free(y), free(want), free(bias);
}

static void preprocess(void) {
    const int w = 512, h = 384;
    const size_t nin = (size_t)w * h * 3, no = (size_t)3 * 299 * 299;
    uint8_t *rgb = (uint8_t *)malloc(nin);
    float *want = (float *)malloc(no * 4), *got = (float *)malloc(no * 4);
    uint64_t s = 41;
    for (size_t i = 0; i < nin; i++) rgb[i] = (uint8_t)(lab_rng(&s) >> 56);
    cs_preprocess_rgb_ref(rgb, w, h, want);
    uint8_t *drgb = dev_copy(rgb, nin);
    float *dout = dev_copy<float>(NULL, no);
    const double t = time_kernel([&] { return cs_cuda_preprocess_rgb(0, drgb, w, h, dout); });
    LAB_CU(cudaMemcpy(got, dout, no * 4, cudaMemcpyDeviceToHost));
    g_fail += lab_check("preprocess", "cuda kernel (bit-exact)", got, want, no, 0, 0);
    lab_report("preprocess", "cuda kernel", t, (double)nin + (double)no * 4, 0, g_peak_gbs);
    cudaFree(drgb), cudaFree(dout), free(rgb), free(want), free(got);
}

static void stats_boot(int64_t n, int d) {
    cs_math *cpu = NULL, *gpu = NULL;
    if (cs_math_cpu_create(0, &cpu) != CS_OK || cs_math_cuda_create(0, &gpu) != CS_OK) {
        printf("FAIL math backends: %s\n", cs_last_error());
        g_fail++;
        cs_math_free(cpu);
        return;
    }
    float *x = (float *)malloc((size_t)n * d * 4);
    lab_fill(x, (size_t)n * d, 51);
    cs_stats *sc = NULL, *sg = NULL;
    cs_status st = cs_stats_init(&sc, d);
    if (st == CS_OK) st = cs_stats_init(&sg, d);
    if (st == CS_OK) st = cpu->iface->stats_add(cpu, sc, x, n);
    double t = 0;
    if (st == CS_OK) st = gpu->iface->stats_add(gpu, sg, x, n); // warm-up (handles, first allocation)
    if (st == CS_OK) {
        cs_stats_free(sg);
        sg = NULL;
        st = cs_stats_init(&sg, d);
        const double t0 = lab_now();
        if (st == CS_OK) st = gpu->iface->stats_add(gpu, sg, x, n);
        t = lab_now() - t0;
    }
    if (st == CS_OK) {
        g_fail += lab_check_f64("stats", "cuda math (mean)", sg->mean, sc->mean, (size_t)d, 1e-10);
        g_fail += lab_check_f64("stats", "cuda math (co-moment)", sg->m2, sc->m2, (size_t)d * d, 1e-10);
        lab_report("stats", "cuda math (incl. upload)", t, (double)n * d * 4 + (double)d * d * 8,
                   2.0 * (double)n * d * d, g_peak_gbs);
    } else {
        printf("FAIL stats: %s\n", cs_last_error());
        g_fail++;
    }
    cs_stats_free(sc), cs_stats_free(sg);
    const int64_t m = n / 2 < 1000 ? n / 2 : 1000;
    const int R = 64;
    int64_t *i1 = (int64_t *)malloc((size_t)R * m * 8), *i2 = (int64_t *)malloc((size_t)R * m * 8);
    uint64_t rs = 61;
    for (size_t i = 0; i < (size_t)R * m; i++)
        i1[i] = (int64_t)(lab_rng(&rs) % (uint64_t)m), i2[i] = (int64_t)(lab_rng(&rs) % (uint64_t)m);
    double *fc = (double *)malloc(R * 8), *fg = (double *)malloc(R * 8);
    cs_math_boot *bc = NULL, *bg = NULL;
    st = cpu->iface->boot_init(cpu, x, m, x + (size_t)m * d, m, d, &bc);
    if (st == CS_OK) st = cpu->iface->boot_eval(cpu, bc, R, i1, m, i2, m, fc);
    if (st == CS_OK) st = gpu->iface->boot_init(gpu, x, m, x + (size_t)m * d, m, d, &bg);
    if (st == CS_OK) st = gpu->iface->boot_eval(gpu, bg, 2, i1, m, i2, m, fg); // warm-up
    if (st == CS_OK) {
        const double t0 = lab_now();
        st = gpu->iface->boot_eval(gpu, bg, R, i1, m, i2, m, fg);
        t = lab_now() - t0;
    }
    if (st == CS_OK) {
        g_fail += lab_check_f64("bootstrap", "cuda math vs cpu math", fg, fc, (size_t)R, 1e-9);
        printf("time bootstrap  cuda math                %9.3f ms per resample (%d resamples of %lld + %lld rows, d %d)\n",
               1e3 * t / R, R, (long long)m, (long long)m, d);
    } else {
        printf("FAIL bootstrap: %s\n", cs_last_error());
        g_fail++;
    }
    if (bc) cpu->iface->boot_free(cpu, bc);
    if (bg) gpu->iface->boot_free(gpu, bg);
    free(x), free(i1), free(i2), free(fc), free(fg);
    cs_math_free(gpu), cs_math_free(cpu);
}

int main(int argc, char **argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 64;
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
        (void)cudaGetLastError();
        return cs_test_gpu_skip("gpu_kernel_lab", "no CUDA device");
    }
    cudaDeviceProp prop;
    int clock_khz = 0, bus_bits = 0;
    LAB_CU(cudaGetDeviceProperties(&prop, 0));
    LAB_CU(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0));
    LAB_CU(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
    g_peak_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) * 1e-9; // double data rate
    printf("kernel lab, GPU half: %s (sm_%d%d, %d SMs), peak memory bandwidth %.0f GB/s (%d kHz x %d bits x 2), batch %d\n",
           prop.name, prop.major, prop.minor, prop.multiProcessorCount, g_peak_gbs, clock_khz, bus_bits, n);
    pools(n);
    bias_relu(n);
    preprocess();
    stats_boot(10000, 2048);
    printf("%s: %d failure(s)\n", g_fail ? "FAILED" : "PASSED", g_fail);
    return g_fail ? 1 : 0;
}
