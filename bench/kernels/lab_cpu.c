/* The kernel lab's CPU half (bench/kernels/lab.h): every reference against the project's CPU
 * code for the same op (the CPU network backend's pools and global pool, the fast preprocessing,
 * the CPU math backend's statistics and bootstrap), then the time of each. Runs anywhere;
 * ctest kernel_lab_cpu (small batch), or by hand: bench_kernels_cpu [N]. Exit 0 / 1. */
#include "fid/math_backend.h"
#include "net/backend.h"
#include "copyscope/model.h"

#include "lab.h"

static int g_fail;

/* time fn(arg) over `reps` calls */
#define LAB_TIME(secs, reps, stmt)                                                                 \
    do {                                                                                           \
        double t0_ = lab_now();                                                                    \
        for (int r_ = 0; r_ < (reps); r_++) { stmt; }                                              \
        (secs) = (lab_now() - t0_) / (reps);                                                       \
    } while (0)

static void pools(cs_backend *cpu, int n) {
    const cs_pool_params pm = {.n = n, .c = 64, .h = 147, .w = 147, .stride = 2, .pad = 0, .hout = 73, .wout = 73,
                               .out_c_total = 64, .out_c_offset = 0};
    const cs_pool_params pa = {.n = n, .c = 288, .h = 35, .w = 35, .stride = 1, .pad = 1, .hout = 35, .wout = 35,
                               .out_c_total = 288, .out_c_offset = 0};
    const cs_pool_params *ps[2] = {&pm, &pa};
    for (int k = 0; k < 2; k++) {
        const cs_pool_params *p = ps[k];
        const size_t nx = (size_t)p->n * p->c * p->h * p->w, ny = (size_t)p->n * p->out_c_total * p->hout * p->wout;
        float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *want = malloc(ny * sizeof *want);
        lab_fill(x, nx, 11 + (uint64_t)k);
        const char *op = k == 0 ? "maxpool3" : "avgpool3";
        double t;
        LAB_TIME(t, 1, (k == 0 ? cs_ref_maxpool3 : cs_ref_avgpool3)(p, x, want));
        lab_report(op, "reference (cs_ref_*)", t, (double)(nx + ny) * 4, 9.0 * (double)ny, 0);
        cs_status st;
        LAB_TIME(t, 3, st = (k == 0 ? cpu->iface->maxpool3 : cpu->iface->avgpool3)(cpu, p, x, y));
        if (st != CS_OK) {
            printf("FAIL %s cpu backend: %s\n", op, cs_last_error());
            g_fail++;
        } else {
            g_fail += lab_check(op, "cpu backend", y, want, ny, k == 0 ? 0 : LAB_POOL_ATOL, k == 0 ? 0 : 1e-6);
            lab_report(op, "cpu backend", t, (double)(nx + ny) * 4, 9.0 * (double)ny, 0);
        }
        free(x), free(y), free(want);
    }
    /* global average pool */
    const size_t nx = (size_t)n * 2048 * 64, ny = (size_t)n * 2048;
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *want = malloc(ny * sizeof *want);
    lab_fill(x, nx, 21);
    double t;
    LAB_TIME(t, 3, cs_ref_global_avgpool(n, 2048, 8, 8, x, want));
    lab_report("gap", "reference", t, (double)(nx + ny) * 4, (double)nx, 0);
    cs_status st;
    LAB_TIME(t, 3, st = cpu->iface->global_avgpool(cpu, n, 2048, 8, 8, x, y));
    if (st == CS_OK) {
        g_fail += lab_check("gap", "cpu backend", y, want, ny, LAB_POOL_ATOL, 1e-6);
        lab_report("gap", "cpu backend", t, (double)(nx + ny) * 4, (double)nx, 0);
    } else {
        printf("FAIL gap cpu backend: %s\n", cs_last_error());
        g_fail++;
    }
    free(x), free(y), free(want);
}

static void bias_relu(int n) {
    const int total = 288, cout = 64, off = 64, hw = 35 * 35;
    const size_t ny = (size_t)n * total * hw, touched = (size_t)n * cout * hw;
    float *y = malloc(ny * sizeof *y), *bias = malloc((size_t)cout * sizeof *bias);
    lab_fill(y, ny, 31);
    lab_fill(bias, (size_t)cout, 32);
    double t;
    LAB_TIME(t, 3, lab_ref_bias_relu(n, cout, off, total, hw, bias, y));
    lab_report("bias_relu", "reference", t, (double)touched * 8, 2.0 * (double)touched, 0);
    free(y), free(bias);
}

static void preprocess(void) {
    const int w = 512, h = 384;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    const size_t no = (size_t)3 * 299 * 299;
    float *want = malloc(no * sizeof *want), *got = malloc(no * sizeof *got);
    uint64_t s = 41;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) rgb[i] = (uint8_t)(lab_rng(&s) >> 56);
    double t;
    LAB_TIME(t, 3, cs_preprocess_rgb_ref(rgb, w, h, want));
    const double bytes = (double)w * h * 3 + (double)no * 4;
    lab_report("preprocess", "reference", t, bytes, 0, 0);
    cs_status st;
    LAB_TIME(t, 10, st = cs_preprocess_rgb(rgb, w, h, got));
    if (st == CS_OK) {
        g_fail += lab_check("preprocess", "cs_preprocess_rgb", got, want, no, 0, 0);
        lab_report("preprocess", "cs_preprocess_rgb", t, bytes, 0, 0);
    } else {
        printf("FAIL preprocess: %s\n", cs_last_error());
        g_fail++;
    }
    free(rgb), free(want), free(got);
}

static void stats_boot(cs_math *cpu, int64_t n, int d) {
    float *x = malloc((size_t)n * d * sizeof *x);
    lab_fill(x, (size_t)n * d, 51);
    double *mean = malloc((size_t)d * sizeof *mean), *m2 = malloc((size_t)d * d * sizeof *m2);
    double t;
    LAB_TIME(t, 1, lab_ref_stats(x, n, d, mean, m2));
    const double flops = 2.0 * (double)n * d * d, bytes = (double)n * d * 4 + (double)d * d * 8;
    lab_report("stats", "reference (2-pass)", t, bytes, flops, 0);
    cs_stats *s = NULL;
    cs_status st = cs_stats_init(&s, d);
    if (st == CS_OK) LAB_TIME(t, 1, st = cpu->iface->stats_add(cpu, s, x, n));
    if (st == CS_OK) {
        g_fail += lab_check_f64("stats", "cpu math (mean)", s->mean, mean, (size_t)d, 1e-10);
        g_fail += lab_check_f64("stats", "cpu math (co-moment)", s->m2, m2, (size_t)d * d, 1e-10);
        lab_report("stats", "cpu math", t, bytes, flops, 0);
    } else {
        printf("FAIL stats: %s\n", cs_last_error());
        g_fail++;
    }
    cs_stats_free(s);
    /* bootstrap: R resamples of two sets of n/2 rows each */
    const int64_t m = n / 2;
    const int R = 16;
    int64_t *i1 = malloc((size_t)R * m * sizeof *i1), *i2 = malloc((size_t)R * m * sizeof *i2);
    uint64_t rs = 61;
    for (size_t i = 0; i < (size_t)R * m; i++) i1[i] = (int64_t)(lab_rng(&rs) % (uint64_t)m), i2[i] = (int64_t)(lab_rng(&rs) % (uint64_t)m);
    double *fid = malloc((size_t)R * sizeof *fid);
    cs_math_boot *b = NULL;
    st = cpu->iface->boot_init(cpu, x, m, x + (size_t)m * d, m, d, &b);
    if (st == CS_OK) LAB_TIME(t, 1, st = cpu->iface->boot_eval(cpu, b, R, i1, m, i2, m, fid));
    if (st == CS_OK) {
        int finite = 1;
        for (int r = 0; r < R; r++) finite &= isfinite(fid[r]) && fid[r] > 0;
        printf("%s bootstrap  cpu math               %d resamples of %lld + %lld rows, d %d: FIDs finite and > 0\n",
               finite ? "ok  " : "FAIL", R, (long long)m, (long long)m, d);
        g_fail += !finite;
        lab_report("bootstrap", "cpu math", t / R, (double)m * 2 * d * 4, 0, 0);
    } else {
        printf("FAIL bootstrap: %s\n", cs_last_error());
        g_fail++;
    }
    if (b) cpu->iface->boot_free(cpu, b);
    free(x), free(mean), free(m2), free(i1), free(i2), free(fid);
}

int main(int argc, char **argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 4;
    if (n < 1) {
        fprintf(stderr, "usage: %s [BATCH]\n", argv[0]);
        return 2;
    }
    cs_backend *cpu = NULL;
    cs_math *mcpu = NULL;
    if (cs_backend_create_ex("cpu", NULL, 2, &cpu, NULL, 0) != CS_OK || cs_math_cpu_create(2, &mcpu) != CS_OK) {
        printf("FAIL creating the CPU backends: %s\n", cs_last_error());
        return 1;
    }
    printf("kernel lab, CPU half: batch %d, %s (times: this machine, shared)\n", n, cpu->iface->device_name(cpu));
    pools(cpu, n);
    bias_relu(n);
    preprocess();
    stats_boot(mcpu, 1000, 256);
    cs_math_free(mcpu);
    cs_backend_free(cpu);
    printf("%s: %d failure(s)\n", g_fail ? "FAILED" : "PASSED", g_fail);
    return g_fail ? 1 : 0;
}
