/* The kernel lab (bench/kernels/, llm.c's dev/cuda manner): for each custom kernel of the CUDA
 * module, the CPU reference, a check of an implementation against it, then a timing with the
 * achieved GB/s (or FLOP/s) beside the hardware's peak. Shared by the CPU half (lab_cpu.c: the
 * references and the project's CPU code, runs anywhere) and the GPU half (lab_cuda.cu: the
 * module's kernels launched directly, built with the module, skipped without a device).
 *
 * Ops and their problems (the network's real shapes; batch LAB_N):
 *   maxpool3     3x3 stride 2, (N, 64, 147, 147) -> (N, 64, 73, 73)          (after Conv2d_2b)
 *   avgpool3     3x3 stride 1 pad 1, (N, 288, 35, 35), count_include_pad off (Mixed_5d's
 *                pool branch)
 *   gap          global average pool (N, 2048, 8, 8) -> (N, 2048), float64 sums
 *   bias_relu    y = max(y + b, 0) in place on channels 64..127 of (N, 288, 35, 35)
 *   preprocess   512x384 RGB8 -> (3, 299, 299), per image
 *   stats        mean and co-moment of (n, d) float32 rows in float64
 *   bootstrap    FIDs of R resamples of two feature sets (math backends' boot_eval)
 * Tolerances: maxpool, preprocessing and bias+ReLU are exact (no rounding choice: a max, the
 * bit-exact resize, one add and a max); avgpool and gap 1e-6 absolute + 1e-6 relative
 * (LAB_POOL_ATOL: inputs in [-1, 1]; the references sum in double, the kernels in float32 in the
 * CPU backend's order: at most 9 roundings of sums <= 9, ~5e-7; gap sums in float64, only the
 * final rounding); stats 1e-10 relative (float64 both, different summation
 * order over up to 10^4 rows); bootstrap 1e-9 relative (the tests' bound for GPU vs CPU FIDs). */
#ifndef CS_BENCH_KERNEL_LAB_H
#define CS_BENCH_KERNEL_LAB_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAB_POOL_ATOL 1e-6

static inline double lab_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline uint64_t lab_rng(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [-1, 1) */
static inline void lab_fill(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((double)(lab_rng(&seed) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Compare got with want: |got - want| <= atol + rtol |want| everywhere, no NaN where want has
 * none. Prints one line; returns 1 on failure. */
static inline int lab_check(const char *op, const char *impl, const float *got, const float *want, size_t n,
                            double atol, double rtol) {
    double maxd = 0;
    size_t differ = 0, bad = 0, nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(want[i])) {
            nan++;
            continue;
        }
        const double d = fabs((double)got[i] - (double)want[i]);
        if (d > maxd) maxd = d;
        differ += got[i] != want[i];
        bad += d > atol + rtol * fabs((double)want[i]);
    }
    const int fail = bad || nan;
    printf("%s %-10s %-22s max|d| %.3g, %zu of %zu values differ, %zu NaN mismatches (atol %g rtol %g)\n",
           fail ? "FAIL" : "ok  ", op, impl, maxd, differ, n, nan, atol, rtol);
    return fail;
}

static inline int lab_check_f64(const char *op, const char *impl, const double *got, const double *want, size_t n,
                                double rtol) {
    double maxr = 0;
    size_t bad = 0;
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        const double r = fabs(got[i] - want[i]) / (scale > 0 ? scale : 1);
        if (r > maxr || isnan(r)) maxr = isnan(r) ? INFINITY : r;
        bad += !(r <= rtol);
    }
    printf("%s %-10s %-22s max|d| %.3g of the scale %.4g (rtol %g)\n", bad ? "FAIL" : "ok  ", op, impl, maxr,
           scale, rtol);
    return bad != 0;
}

/* One timing line: seconds per call, the bytes it must move and the FLOPs it does. */
static inline void lab_report(const char *op, const char *impl, double sec, double bytes, double flops,
                              double peak_gbs) {
    printf("time %-10s %-22s %9.3f ms  %8.1f GB/s", op, impl, 1e3 * sec, bytes / sec * 1e-9);
    if (peak_gbs > 0) printf(" (%4.1f%% of %.0f GB/s peak)", 100.0 * bytes / sec * 1e-9 / peak_gbs, peak_gbs);
    if (flops > 0) printf("  %8.2f GFLOP/s", flops / sec * 1e-9);
    printf("\n");
}

/* bias+ReLU reference: in place on channels [off, off + cout) of y (n, total, hw) */
static inline void lab_ref_bias_relu(int n, int cout, int off, int total, int hw, const float *bias, float *y) {
    for (int b = 0; b < n; b++)
        for (int c = 0; c < cout; c++) {
            float *p = y + ((size_t)b * total + off + c) * (size_t)hw;
            for (int i = 0; i < hw; i++) {
                const float v = p[i] + bias[c];
                p[i] = v < 0.0f ? 0.0f : v; /* NaN stays NaN, as torch's relu and the kernel */
            }
        }
}

/* statistics reference: two-pass float64 mean and co-moment of x (n, d) */
static inline void lab_ref_stats(const float *x, int64_t n, int d, double *mean, double *m2) {
    for (int j = 0; j < d; j++) mean[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= (double)n;
    memset(m2, 0, (size_t)d * d * sizeof *m2);
    double *r = (double *)malloc((size_t)d * sizeof *r);
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) r[j] = x[(size_t)i * d + j] - mean[j];
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) m2[(size_t)a * d + b] += r[a] * r[b];
    }
    free(r);
}

#endif
