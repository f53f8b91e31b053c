/* GPU statistics (kernels/cuda_stats.cu) against the CPU's cs_stats_add_f32 (host/fid/stats.c).
 *
 * Tolerance 1e-10, norm-wise relative (max abs difference over max abs value) for the mean and
 * the co-moment: both sides accumulate in float64 from the same float32 inputs, with different
 * chunking (1024 vs 4096 rows) and summation orders (OpenBLAS vs cuBLAS dsyrk), which moves
 * results by ~1e-15 relative; 1e-10 leaves room for that and still fails on any algebra error
 * (a wrong Chan weight or a missed chunk gives errors of order 1). Counts must be equal. */
#include "copyscope/stats.h"

#include "test_gpu_stats.h"

#include <string.h>

static void cmp_stats(const cs_stats *a, const cs_stats *b, const char *what) {
    const int d = b->d;
    CHECK(a->n == b->n, "%s: n %lld vs %lld", what, (long long)a->n, (long long)b->n);
    double em = rel_diff(a->mean, b->mean, (size_t)d);
    double ec = rel_diff(a->m2, b->m2, (size_t)d * d);
    printf("%-40s mean %.2e  co-moment %.2e\n", what, em, ec);
    CHECK(em <= 1e-10, "%s: mean differs by %.3e relative", what, em);
    CHECK(ec <= 1e-10, "%s: co-moment differs by %.3e relative", what, ec);
    /* symmetric, both triangles filled (as stats.h promises) */
    double asym = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++) asym = fmax(asym, fabs(a->m2[(size_t)i * d + j] - a->m2[(size_t)j * d + i]));
    CHECK(asym == 0.0, "%s: co-moment not symmetric (%.3e)", what, asym);
}

static void one_case(cs_gpu *g, int n, int d, double shift, uint64_t seed) {
    char what[96];
    float *x = gen_rows(n, d, shift, 50.0, seed); /* (n, d) */
    cs_stats *cpu = NULL, *gpu = NULL, *mix = NULL, *acc = NULL;
    if (cs_stats_init(&cpu, d) || cs_stats_init(&gpu, d) || cs_stats_init(&mix, d) || cs_stats_init(&acc, d))
        abort();
    CHECK(cs_stats_add_f32(cpu, x, n) == CS_OK, "cpu add: %s", cs_last_error());
    /* 1. all rows on the GPU */
    cs_status st = cs_gpu_stats_add_f32(g, gpu, x, n);
    CHECK(st == CS_OK, "gpu add: %s", cs_last_error());
    snprintf(what, sizeof what, "n=%d d=%d shift=%g: GPU vs CPU", n, d, shift);
    if (st == CS_OK) cmp_stats(gpu, cpu, what);
    /* 2. a GPU shard merged with a CPU shard = unsplit */
    int k = n / 3;
    cs_stats *cpu_part = NULL;
    if (cs_stats_init(&cpu_part, d)) abort();
    CHECK(cs_stats_add_f32(cpu_part, x + (size_t)k * d, n - k) == CS_OK, "cpu part: %s", cs_last_error());
    st = cs_gpu_stats_add_f32(g, mix, x, k);
    CHECK(st == CS_OK, "gpu part: %s", cs_last_error());
    CHECK(cs_stats_merge(mix, cpu_part) == CS_OK, "merge: %s", cs_last_error());
    snprintf(what, sizeof what, "n=%d d=%d: GPU shard + CPU shard", n, d);
    if (st == CS_OK) cmp_stats(mix, cpu, what);
    /* 3. GPU rows added to statistics that already hold CPU rows */
    CHECK(cs_stats_add_f32(acc, x, k) == CS_OK, "cpu first part: %s", cs_last_error());
    st = cs_gpu_stats_add_f32(g, acc, x + (size_t)k * d, n - k);
    CHECK(st == CS_OK, "gpu second part: %s", cs_last_error());
    snprintf(what, sizeof what, "n=%d d=%d: CPU rows, then GPU rows", n, d);
    if (st == CS_OK) cmp_stats(acc, cpu, what);
    /* 4. rows already on the device */
    cs_stats *dev = NULL;
    void *xd = NULL;
    if (cs_stats_init(&dev, d)) abort();
    st = cs_gpu_buffer_upload(g, x, (size_t)n * d * sizeof(float), &xd);
    CHECK(st == CS_OK, "upload: %s", cs_last_error());
    if (st == CS_OK) st = cs_gpu_stats_add_f32_device(g, dev, (const float *)xd, n);
    CHECK(st == CS_OK, "gpu add (device rows): %s", cs_last_error());
    snprintf(what, sizeof what, "n=%d d=%d: device rows vs CPU", n, d);
    if (st == CS_OK) cmp_stats(dev, cpu, what);
    cs_gpu_buffer_free(g, xd);
    cs_stats_free(dev);
    cs_stats_free(cpu_part);
    cs_stats_free(cpu);
    cs_stats_free(gpu);
    cs_stats_free(mix);
    cs_stats_free(acc);
    free(x);
}

int main(void) {
    cs_gpu *g = gpu_open_or_skip("test_gpu_stats");
    one_case(g, 3000, 48, 100.0, 1);   /* large common offset: the case Chan's update is for */
    one_case(g, 9000, 64, 0.0, 2);     /* more than 2 GPU chunks (4096 rows each) */
    one_case(g, 500, 256, 3.0, 3);     /* n > d, wide */
    one_case(g, 40, 300, -2.0, 4);     /* n < d */

    /* the one-call form */
    {
        const int n = 700, d = 32;
        float *x = gen_rows(n, d, 1.0, 10.0, 5);
        cs_stats *a = NULL, *b = NULL;
        if (cs_stats_init(&a, d) || cs_stats_init(&b, d)) abort();
        CHECK(cs_stats_add_f32(a, x, n) == CS_OK, "cpu: %s", cs_last_error());
        cs_status st = cs_gpu_stats_from_features(0, x, n, d, b);
        CHECK(st == CS_OK, "cs_gpu_stats_from_features: %s", cs_last_error());
        if (st == CS_OK) cmp_stats(b, a, "cs_gpu_stats_from_features");
        cs_stats_free(a);
        cs_stats_free(b);
        free(x);
    }
    /* NaN: CS_E_NUMERIC naming row and column, statistics unchanged */
    {
        const int n = 5000, d = 16;
        float *x = gen_rows(n, d, 0.0, 2.0, 6);
        x[(size_t)4321 * d + 7] = NAN;
        cs_stats *s = NULL;
        if (cs_stats_init(&s, d)) abort();
        cs_status st = cs_gpu_stats_add_f32(g, s, x, n);
        CHECK(st == CS_E_NUMERIC, "NaN: status %d (%s)", (int)st, cs_last_error());
        CHECK(strstr(cs_last_error(), "row 4321 column 7") != NULL, "NaN message: %s", cs_last_error());
        CHECK(s->n == 0, "NaN: statistics changed (n %lld)", (long long)s->n);
        cs_stats_free(s);
        free(x);
    }
    /* statistics from a .npz (cov_only) take no rows */
    {
        double mu[2] = {0, 0}, cov[4] = {1, 0, 0, 1};
        cs_stats *s = NULL;
        float x[4] = {1, 2, 3, 4};
        if (cs_stats_from_mean_cov(2, mu, cov, &s)) abort();
        CHECK(cs_gpu_stats_add_f32(g, s, x, 2) == CS_E_UNSUPPORTED, "cov_only add accepted");
        cs_stats_free(s);
    }
    cs_gpu_close(g);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
