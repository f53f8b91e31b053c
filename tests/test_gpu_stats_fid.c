/* GPU Fréchet distances (kernels/cuda_fid.cu) against the CPU (host/fid/frechet.c).
 *
 * Tolerance 1e-9 relative on the FID and on each of its terms (mean term, traces, trace of the
 * square root), the bound the issue sets: both sides compute in float64 with the same formulas and
 * the same decisions (rank, eig-ref vs eig-svd, clamp); they differ only in LAPACK/OpenBLAS vs
 * cuSOLVER/cuBLAS rounding (~1e-14 relative on these well-separated synthetic sets, where the FID is
 * not small against the traces), and any algebra error (a wrong scale, transposed factor, missed
 * rank cap, wrong resample weight) gives errors of order 1. Warning bits and method names must
 * match the CPU's CS_FID_EIG_REF / lowrank / lowrank-ref paths exactly. */
#include "copyscope/frechet.h"
#include "copyscope/stats.h"

#include "test_gpu_stats.h"

#include <string.h>

static void cmp_fid(const cs_fid_result *a, const cs_fid_result *b, const char *what, int same_method) {
    double e = fmax(fmax(rel1(a->fid, b->fid), rel1(a->trace_sqrt, b->trace_sqrt)),
                    fmax(rel1(a->trace1, b->trace1), fmax(rel1(a->trace2, b->trace2), rel1(a->mean_term, b->mean_term))));
    printf("%-44s FID gpu %.12g cpu %.12g  max rel %.2e  (%s / %s)\n", what, a->fid, b->fid, e,
           a->method ? a->method : "?", b->method ? b->method : "?");
    CHECK(e <= 1e-9, "%s: GPU and CPU differ by %.3e relative (FID %.17g vs %.17g)", what, e, a->fid, b->fid);
    CHECK(a->warnings == b->warnings, "%s: warnings 0x%x vs 0x%x", what, a->warnings, b->warnings);
    if (same_method)
        CHECK(a->method && b->method && strcmp(a->method, b->method) == 0, "%s: method %s vs %s", what,
              a->method ? a->method : "?", b->method ? b->method : "?");
}

static cs_stats *stats_of(const float *x, int n, int d) {
    cs_stats *s = NULL;
    if (cs_stats_init(&s, d) || cs_stats_add_f32(s, x, n)) abort();
    return s;
}

/* CPU eig-ref FID of (s1, s2) against the GPU reference of s1 compared with s2. */
static void ref_case(cs_gpu *g, const char *what, const cs_stats *s1, const cs_stats *s2) {
    cs_fid_result cpu, gpu;
    cs_status st = cs_fid_compute(s1, NULL, s2, NULL, CS_FID_EIG_REF, &cpu);
    CHECK(st == CS_OK, "%s: cpu: %s", what, cs_last_error());
    cs_gpu_fid_ref *r = NULL;
    cs_status gs = cs_gpu_fid_ref_init(g, s1, &r);
    CHECK(gs == CS_OK, "%s: gpu ref: %s", what, cs_last_error());
    if (gs == CS_OK) gs = cs_gpu_fid_ref_compare(r, s2, &gpu);
    CHECK(gs == CS_OK, "%s: gpu compare: %s", what, cs_last_error());
    if (st == CS_OK && gs == CS_OK) cmp_fid(&gpu, &cpu, what, 1);
    cs_gpu_fid_ref_free(r);
}

int main(void) {
    cs_gpu *g = gpu_open_or_skip("test_gpu_stats_fid");

    /* ---- full rank (n > d): eig-ref per set, and the AUTO dispatchers ---- */
    {
        const int d = 64, n1 = 600, n2 = 500;
        float *x1 = gen_rows(n1, d, 0.0, 30.0, 11), *x2 = gen_rows(n2, d, 0.4, 8.0, 12);
        cs_stats *s1 = stats_of(x1, n1, d), *s2 = stats_of(x2, n2, d);
        ref_case(g, "full rank d=64: ref(s1) vs s2", s1, s2);
        ref_case(g, "full rank d=64: ref(s2) vs s1", s2, s1);
        cs_fid_result cpu, gpu;
        CHECK(cs_fid_compute(s1, x1, s2, x2, CS_FID_AUTO, &cpu) == CS_OK, "cpu auto: %s", cs_last_error());
        cs_status st = cs_gpu_fid_compute(g, s1, x1, s2, x2, &gpu);
        CHECK(st == CS_OK, "gpu compute: %s", cs_last_error());
        if (st == CS_OK) cmp_fid(&gpu, &cpu, "full rank: cs_gpu_fid_compute vs auto (chol)", 0);
        /* identical sets: exactly 0 through the clamp (the eig-svd fallback on both sides) */
        ref_case(g, "identical sets", s1, s1);
        cs_gpu_fid_ref *r = NULL;
        if (cs_gpu_fid_ref_init(g, s1, &r) == CS_OK && cs_gpu_fid_ref_compare(r, s1, &gpu) == CS_OK)
            CHECK(gpu.fid == 0.0, "identical sets: GPU FID %.17g, not 0", gpu.fid);
        else
            CHECK(0, "identical sets: %s", cs_last_error());
        CHECK(cs_gpu_fid_ref_rank(r) == d, "full-rank reference has rank %d, not %d", cs_gpu_fid_ref_rank(r), d);
        /* lowrank-ref: set 2 with fewer rows than the reference's rank, from rows only */
        const int n3 = 30;
        float *x3 = gen_rows(n3, d, -0.2, 5.0, 13);
        cs_fid_ref *cr = NULL;
        CHECK(cs_fid_ref_init(&cr, s1, CS_FID_EIG_REF) == CS_OK, "cpu ref: %s", cs_last_error());
        st = cs_fid_ref_compare_features(cr, x3, n3, d, NULL, &cpu);
        CHECK(st == CS_OK, "cpu compare_features: %s", cs_last_error());
        cs_status gs = cs_gpu_fid_ref_compare_features(r, x3, n3, d, NULL, &gpu);
        CHECK(gs == CS_OK, "gpu compare_features: %s", cs_last_error());
        if (st == CS_OK && gs == CS_OK) cmp_fid(&gpu, &cpu, "lowrank-ref: 30 rows vs ref rank 64", 1);
        /* ... and with more rows than the rank: statistics on the GPU, then eig-ref */
        st = cs_fid_ref_compare_features(cr, x2, n2, d, NULL, &cpu);
        gs = cs_gpu_fid_ref_compare_features(r, x2, n2, d, NULL, &gpu);
        CHECK(st == CS_OK && gs == CS_OK, "compare_features (full): %s", cs_last_error());
        if (st == CS_OK && gs == CS_OK) cmp_fid(&gpu, &cpu, "compare_features: 500 rows (stats path)", 1);
        /* mismatched dimensions */
        cs_stats *s4 = NULL;
        if (cs_stats_init(&s4, d + 1) || cs_stats_add_f32(s4, x3, 20)) abort();
        CHECK(cs_gpu_fid_ref_compare(r, s4, &gpu) == CS_E_MISMATCH, "dimension mismatch accepted");
        cs_stats_free(s4);
        cs_fid_ref_free(cr);
        cs_gpu_fid_ref_free(r);
        free(x3);
        cs_stats_free(s1);
        cs_stats_free(s2);
        free(x1);
        free(x2);
    }

    /* ---- singular covariances (n < d): rank-capped eig-ref from statistics, and lowrank ---- */
    {
        const int d = 128, n1 = 100, n2 = 80;
        float *x1 = gen_rows(n1, d, 0.0, 20.0, 21), *x2 = gen_rows(n2, d, 0.5, 4.0, 22);
        cs_stats *s1 = stats_of(x1, n1, d), *s2 = stats_of(x2, n2, d);
        ref_case(g, "singular d=128 n=100/80: ref(s1) vs s2", s1, s2);
        cs_fid_result cpu, gpu;
        CHECK(cs_fid_compute(s1, x1, s2, x2, CS_FID_AUTO, &cpu) == CS_OK, "cpu auto: %s", cs_last_error());
        cs_status st = cs_gpu_fid_compute(g, s1, x1, s2, x2, &gpu);
        CHECK(st == CS_OK, "gpu compute: %s", cs_last_error());
        if (st == CS_OK) cmp_fid(&gpu, &cpu, "singular: cs_gpu_fid_compute vs auto", 1);
        cs_stats_free(s1);
        cs_stats_free(s2);
        free(x1);
        free(x2);
    }

    /* ---- lowrank from rows, both orientations of C1 C2^T ---- */
    {
        const int d = 200;
        float *x1 = gen_rows(50, d, 0.0, 10.0, 31), *x2 = gen_rows(70, d, 0.3, 3.0, 32);
        cs_fid_result cpu, gpu;
        for (int swap = 0; swap < 2; swap++) {
            const float *a = swap ? x2 : x1, *b = swap ? x1 : x2;
            int na = swap ? 70 : 50, nb = swap ? 50 : 70;
            cs_status st = cs_fid_lowrank(a, na, b, nb, d, &cpu);
            cs_status gs = cs_gpu_fid_lowrank(g, a, na, b, nb, d, &gpu);
            CHECK(st == CS_OK && gs == CS_OK, "lowrank: %s", cs_last_error());
            if (st == CS_OK && gs == CS_OK)
                cmp_fid(&gpu, &cpu, swap ? "lowrank 70 x 50 rows, d=200" : "lowrank 50 x 70 rows, d=200", 1);
        }
        free(x1);
        free(x2);
    }

    /* ---- bootstrap: batched resampled FIDs vs cs_fid_boot_eval, one per resample ---- */
    {
        const int d = 32, n1 = 60, n2 = 50, R = 16;
        float *x1 = gen_rows(n1, d, 0.0, 10.0, 41), *x2 = gen_rows(n2, d, 0.5, 3.0, 42);
        cs_fid_boot *cb = NULL;
        cs_gpu_fid_boot *gb = NULL;
        CHECK(cs_fid_boot_init(&cb, x1, n1, x2, n2, d) == CS_OK, "cpu boot: %s", cs_last_error());
        cs_status gs = cs_gpu_fid_boot_init(g, x1, n1, x2, n2, d, &gb);
        CHECK(gs == CS_OK, "gpu boot init: %s", cs_last_error());
        /* (m1, m2): n1 x n2 (per-resample gesvd), 24 x 24 (gesvdjBatched), 30 x 40 (mixed: gesvd) */
        const int ms[3][2] = {{n1, n2}, {24, 24}, {30, 40}};
        rng_state = 4242;
        for (int c = 0; c < 3 && gs == CS_OK; c++) {
            int m1 = ms[c][0], m2 = ms[c][1];
            int64_t *i1 = malloc((size_t)R * m1 * sizeof(int64_t)), *i2 = malloc((size_t)R * m2 * sizeof(int64_t));
            cs_fid_result *gr = calloc(R, sizeof *gr);
            if (!i1 || !i2 || !gr) abort();
            for (int k = 0; k < R * m1; k++) i1[k] = (int64_t)(urand() * n1);
            for (int k = 0; k < R * m2; k++) i2[k] = (int64_t)(urand() * n2);
            if (c == 0) /* resample 0: the identity (= plain lowrank of all rows) */
                for (int k = 0; k < m1; k++) i1[k] = k;
            if (c == 0)
                for (int k = 0; k < m2; k++) i2[k] = k;
            cs_status st = cs_gpu_fid_boot_eval_batch(gb, R, i1, m1, i2, m2, gr);
            CHECK(st == CS_OK, "gpu boot eval (%d x %d): %s", m1, m2, cs_last_error());
            double worst = 0;
            for (int k = 0; k < R && st == CS_OK; k++) {
                cs_fid_result cr;
                CHECK(cs_fid_boot_eval(cb, i1 + (size_t)k * m1, m1, i2 + (size_t)k * m2, m2, &cr) == CS_OK,
                      "cpu boot eval: %s", cs_last_error());
                char what[64];
                snprintf(what, sizeof what, "boot %dx%d resample %d", m1, m2, k);
                double e = fmax(rel1(gr[k].fid, cr.fid), rel1(gr[k].trace_sqrt, cr.trace_sqrt));
                worst = fmax(worst, e);
                if (e > 1e-9 || k == 0) cmp_fid(&gr[k], &cr, what, 1);
            }
            printf("boot %d x %d: %d resamples, worst relative difference %.2e\n", m1, m2, R, worst);
            free(i1);
            free(i2);
            free(gr);
        }
        /* out-of-range index */
        if (gs == CS_OK) {
            int64_t bad1[2] = {0, n1}, ok2[2] = {0, 1};
            cs_fid_result r1;
            CHECK(cs_gpu_fid_boot_eval_batch(gb, 1, bad1, 2, ok2, 2, &r1) == CS_E_USAGE, "bad index accepted");
        }
        cs_gpu_fid_boot_free(gb);
        cs_fid_boot_free(cb);
        free(x1);
        free(x2);
    }
    cs_gpu_close(g);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
