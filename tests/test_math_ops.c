/* Every op of every FID math backend (host/fid/math_backend.h) through the interface, and the FID
 * routes of host/fid/fid_many.h on each backend, against independent references:
 *
 *   stats_add            naive two-pass mean and co-moment in float64
 *   ref_*, pair, lowrank the readable Jacobi reference (cs_fid_compute with CS_FID_REFERENCE)
 *   boot_init/eval       cs_fid_lowrank of the explicitly gathered resampled rows
 *   kid                  the mean and std (ddof 0) of cs_kid_mmd2 over cs_kid_subset's subsets
 *   ssim_pairs           cs_ssim_same_size / cs_rgb_ssim_same_size
 *   desc_pairs           cs_metric_cosine / cs_metric_hist / cs_metric_dhash
 * and, on backends other than the CPU, against the CPU backend (the oracle): the same method
 * names and warning bits. Outputs written through pointers carry sentinels before and after them
 * (an out-of-bounds write fails), and non-finite results fail.
 *
 * Tolerances and why:
 *  - statistics: 1e-11 relative (norm-wise). Both sides sum <= 300 float32 rows in float64
 *    (chunked Chan merge / dsyrk vs two passes): ~n eps = 7e-14; any indexing or merge error is O(1).
 *  - FIDs and their terms: 1e-9 relative, as tests/test_gpu_stats_fid.c: every path is exact in
 *    float64 (the sets are well separated, so the FID is not small against the traces) and differs
 *    from the Jacobi reference only by LAPACK / cuSOLVER rounding (~1e-13 relative); a wrong scale,
 *    transposed factor or missed rank cap gives O(1) errors.
 *  - identical sets: exactly 0 (the documented clamp).
 *  - bootstrap FIDs: 1e-9 relative to the gathered rows' low-rank FID (Gram-matrix reduction with
 *    sqrt(count) weights vs repeated rows: ~1e-13 expected, test_audit.c allows 1e-10 on the CPU).
 *  - KID: 1e-9 relative, as tests/test_gpu_stats_metrics.c (the same kernel values summed in other
 *    orders, ~1e-13 relative; the sets differ enough that MMD^2 is not small against the sums).
 *  - SSIM: 1e-6 absolute (the bound for the GPU; window values are bit-identical, only the
 *    final mean is summed in another order); RGB-SSIM, hist, dhash: exact (identical integer sums and
 *    float64 operations); cosine: 1e-12 absolute (a 4096-term dot product summed in another order).
 *
 * Backends: "cpu" always; "cuda" when the build and machine have GPU math (else reported as
 * skipped). --gpu-only (ctest gpu_fid_math_ops): the cuda backend alone, exit 77 when it cannot run.
 * Exit 0 when all pass, 1 on any failure. */
#include "fid/fid_many.h"
#include "fid/gpu_math.h"
#include "fid/math_backend.h"

#include "core/common.h"
#include "copyscope/frechet.h"
#include "copyscope/metrics.h"
#include "copyscope/stats.h"

#include "check.h"
#include "gpu_required.h"
#include "test_rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 8
static const double SENTINEL = -77777.0;

/* ---- data --------------------------------------------------------------------------------- */

enum { D = 48, N1 = 300, N2 = 200, N3 = 20, NA = 15, NB = 20, NK = 200 };

typedef struct data {
    float *x1, *x2, *x3, *xa, *xb; /* (n, D) float32 rows */
    float *k1, *k2;                /* (NK, D) float32 rows for KID: clearly apart */
    cs_stats *s1, *s2, *s3, *sa, *sb;
    cs_fid_result t12, t13, tab;   /* the Jacobi reference's FIDs of (s1, s2), (s1, s3), (sa, sb) */
} data;

static cs_stats *stats_of(const float *x, int n) {
    cs_stats *s = NULL;
    if (cs_stats_init(&s, D) || cs_stats_add_f32(s, x, n)) abort();
    return s;
}

static void truth(const cs_stats *a, const cs_stats *b, cs_fid_result *t) {
    if (cs_fid_compute(a, NULL, b, NULL, CS_FID_REFERENCE, t) != CS_OK) {
        fprintf(stderr, "reference FID: %s\n", cs_last_error());
        abort();
    }
}

static void data_make(data *g) {
    g->x1 = gen_rows(N1, D, 0.0, 30.0, 11);
    g->x2 = gen_rows(N2, D, 0.4, 8.0, 12);
    g->x3 = gen_rows(N3, D, -0.2, 5.0, 13);
    g->xa = gen_rows(NA, D, 0.0, 10.0, 14);
    g->xb = gen_rows(NB, D, 0.3, 4.0, 15);
    g->k1 = gen_rows(NK, D, 0.0, 2.0, 16);
    g->k2 = gen_rows(NK, D, 1.0, 2.0, 17);
    g->s1 = stats_of(g->x1, N1), g->s2 = stats_of(g->x2, N2), g->s3 = stats_of(g->x3, N3);
    g->sa = stats_of(g->xa, NA), g->sb = stats_of(g->xb, NB);
    truth(g->s1, g->s2, &g->t12);
    truth(g->s1, g->s3, &g->t13);
    truth(g->sa, g->sb, &g->tab);
}

static void data_free(data *g) {
    free(g->x1), free(g->x2), free(g->x3), free(g->xa), free(g->xb), free(g->k1), free(g->k2);
    cs_stats_free(g->s1), cs_stats_free(g->s2), cs_stats_free(g->s3);
    cs_stats_free(g->sa), cs_stats_free(g->sb);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static double rel1(double a, double b) { return b != 0 ? fabs(a - b) / fabs(b) : fabs(a - b); }

/* got against the reference t: value and every term within tol relative, finite. */
static void check_fid(const char *be, const char *what, const cs_fid_result *got, const cs_fid_result *t,
                      double tol) {
    double e = fmax(fmax(rel1(got->fid, t->fid), rel1(got->trace_sqrt, t->trace_sqrt)),
                    fmax(rel1(got->trace1, t->trace1), fmax(rel1(got->trace2, t->trace2),
                                                            rel1(got->mean_term, t->mean_term))));
    printf("%-5s %-46s FID %.12g (%s) ref %.12g  max rel %.2e\n", be, what, got->fid,
           got->method ? got->method : "?", t->fid, e);
    CHECK(isfinite(got->fid) && got->method, "%s %s: FID %g, method %s", be, what, got->fid,
          got->method ? got->method : "NULL");
    CHECK(e <= tol, "%s %s: differs from the reference by %.3e relative (FID %.17g vs %.17g)", be, what, e,
          got->fid, t->fid);
}

/* Method name and warning bits equal to the CPU oracle's. */
static void check_same(const char *be, const char *what, const cs_fid_result *got, const cs_fid_result *cpu) {
    CHECK(got->method && cpu->method && !strcmp(got->method, cpu->method), "%s %s: method %s, cpu %s", be,
          what, got->method ? got->method : "?", cpu->method ? cpu->method : "?");
    CHECK(got->warnings == cpu->warnings, "%s %s: warnings 0x%x, cpu 0x%x", be, what, got->warnings,
          cpu->warnings);
}

/* An output array of n doubles with GUARD sentinels on each side. */
static double *guarded(size_t n) {
    double *b = malloc((n + 2 * GUARD) * sizeof(double));
    if (!b) abort();
    for (size_t i = 0; i < n + 2 * GUARD; i++) b[i] = SENTINEL;
    return b + GUARD;
}

static void guarded_check(const char *be, const char *what, double *p, size_t n) {
    double *b = p - GUARD;
    for (size_t i = 0; i < GUARD; i++)
        CHECK(b[i] == SENTINEL && p[n + i] == SENTINEL, "%s %s: write outside the output (guard %zu)", be, what, i);
    free(b);
}

/* ---- ops ---------------------------------------------------------------------------------- */

static void op_stats(cs_math *mb, const data *g) {
    const char *be = mb->iface->name;
    cs_stats *s = NULL;
    if (cs_stats_init(&s, D)) abort();
    cs_status st = mb->iface->stats_add(mb, s, g->x1, 100);
    if (st == CS_OK) st = mb->iface->stats_add(mb, s, g->x1 + (size_t)100 * D, N1 - 100);
    CHECK(st == CS_OK, "%s stats_add: %s", be, cs_last_error());
    /* naive two passes in float64 */
    double mean[D], m2[D * D], em = 0, es = 0, mm = 0, ms = 0;
    for (int j = 0; j < D; j++) {
        double a = 0;
        for (int i = 0; i < N1; i++) a += g->x1[(size_t)i * D + j];
        mean[j] = a / N1;
    }
    for (int j = 0; j < D; j++)
        for (int k = 0; k < D; k++) {
            double a = 0;
            for (int i = 0; i < N1; i++)
                a += (g->x1[(size_t)i * D + j] - mean[j]) * (g->x1[(size_t)i * D + k] - mean[k]);
            m2[j * D + k] = a;
        }
    for (int j = 0; j < D; j++) em = fmax(em, fabs(s->mean[j] - mean[j])), mm = fmax(mm, fabs(mean[j]));
    for (int j = 0; j < D * D; j++) es = fmax(es, fabs(s->m2[j] - m2[j])), ms = fmax(ms, fabs(m2[j]));
    printf("%-5s stats_add %d rows in 2 calls: mean %.2e co-moment %.2e relative\n", be, N1, em / mm, es / ms);
    CHECK(s->n == N1, "%s stats_add: n = %lld", be, (long long)s->n);
    CHECK(em <= 1e-11 * mm && es <= 1e-11 * ms, "%s stats_add: mean %.3e, co-moment %.3e relative", be,
          em / mm, es / ms);
    /* a NaN is refused and leaves s unchanged */
    float bad[5 * D];
    memcpy(bad, g->x2, sizeof bad);
    bad[2 * D + 7] = NAN;
    CHECK(mb->iface->stats_add(mb, s, bad, 5) == CS_E_NUMERIC && s->n == N1, "%s stats_add: NaN accepted", be);
    cs_stats_free(s);
}

static void op_ref(cs_math *mb, cs_math *cpu, const data *g) {
    const char *be = mb->iface->name;
    static const cs_fid_method methods[] = {CS_FID_AUTO, CS_FID_EIG, CS_FID_EIG_REF, CS_FID_SVD};
    static const char *names[] = {"auto", "eig", "eig-ref", "svd"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (!mb->iface->supports(mb, CS_MATH_REF, methods[i])) continue;
        char what[96];
        cs_math_ref *r = NULL, *rc = NULL;
        cs_fid_result res, rcpu;
        cs_status st = mb->iface->ref_init(mb, g->s1, methods[i], &r);
        CHECK(st == CS_OK, "%s ref_init %s: %s", be, names[i], cs_last_error());
        if (st != CS_OK) continue;
        /* the GPU factors by eig-ref whatever the method: its oracle is the CPU's eig-ref */
        cs_fid_method om = strcmp(be, "cpu") ? CS_FID_EIG_REF : methods[i];
        if (cpu->iface->ref_init(cpu, g->s1, om, &rc) != CS_OK) abort();
        snprintf(what, sizeof what, "ref %s: s1 vs s2", names[i]);
        st = mb->iface->ref_compare(mb, r, g->s2, NULL, &res);
        CHECK(st == CS_OK, "%s %s: %s", be, what, cs_last_error());
        if (st == CS_OK && cpu->iface->ref_compare(cpu, rc, g->s2, NULL, &rcpu) == CS_OK) {
            check_fid(be, what, &res, &g->t12, 1e-9);
            check_same(be, what, &res, &rcpu);
        }
        snprintf(what, sizeof what, "ref %s: s1 vs rows of s3 (n < rank)", names[i]);
        st = mb->iface->ref_compare(mb, r, g->s3, g->x3, &res);
        CHECK(st == CS_OK, "%s %s: %s", be, what, cs_last_error());
        if (st == CS_OK && cpu->iface->ref_compare(cpu, rc, g->s3, g->x3, &rcpu) == CS_OK) {
            check_fid(be, what, &res, &g->t13, 1e-9);
            check_same(be, what, &res, &rcpu);
            if (methods[i] != CS_FID_SVD) /* svd always factors both sides */
                CHECK(!strcmp(res.method, "lowrank-ref"), "%s %s: method %s", be, what, res.method);
        }
        snprintf(what, sizeof what, "ref %s: s1 vs features of s3", names[i]);
        st = mb->iface->ref_compare_features(mb, r, g->x3, N3, D, NULL, &res);
        CHECK(st == CS_OK, "%s %s: %s", be, what, cs_last_error());
        if (st == CS_OK && cpu->iface->ref_compare_features(cpu, rc, g->x3, N3, D, NULL, &rcpu) == CS_OK) {
            check_fid(be, what, &res, &g->t13, 1e-9);
            check_same(be, what, &res, &rcpu);
        }
        st = mb->iface->ref_compare(mb, r, g->s1, NULL, &res);
        CHECK(st == CS_OK && res.fid == 0.0, "%s ref %s: identical sets give %.17g (%s), not 0", be, names[i],
              res.fid, st == CS_OK ? "ok" : cs_last_error());
        mb->iface->ref_free(mb, r);
        cpu->iface->ref_free(cpu, rc);
    }
    CHECK(mb->iface->supports(mb, CS_MATH_REF, CS_FID_AUTO) && mb->iface->supports(mb, CS_MATH_REF, CS_FID_EIG_REF),
          "%s: no reference for auto / eig-ref", be);
    mb->iface->ref_free(mb, NULL); /* NULL is fine */
}

static void op_pair(cs_math *mb, cs_math *cpu, const data *g) {
    const char *be = mb->iface->name;
    cs_fid_result res, rcpu;
    cs_status st = mb->iface->pair(mb, g->s1, g->x1, g->s2, g->x2, CS_FID_AUTO, &res);
    CHECK(st == CS_OK, "%s pair auto: %s", be, cs_last_error());
    if (st == CS_OK) check_fid(be, "pair auto: s1 vs s2 with rows", &res, &g->t12, 1e-9);
    st = mb->iface->pair(mb, g->sa, g->xa, g->sb, g->xb, CS_FID_AUTO, &res);
    CHECK(st == CS_OK, "%s pair auto small: %s", be, cs_last_error());
    if (st == CS_OK && cpu->iface->pair(cpu, g->sa, g->xa, g->sb, g->xb, CS_FID_AUTO, &rcpu) == CS_OK) {
        check_fid(be, "pair auto: n1 + n2 <= d", &res, &g->tab, 1e-9);
        check_same(be, "pair auto: n1 + n2 <= d", &res, &rcpu);
    }
    st = mb->iface->pair(mb, g->s1, NULL, g->s2, NULL, CS_FID_EIG_REF, &res);
    CHECK(st == CS_OK, "%s pair eig-ref: %s", be, cs_last_error());
    if (st == CS_OK && cpu->iface->pair(cpu, g->s1, NULL, g->s2, NULL, CS_FID_EIG_REF, &rcpu) == CS_OK) {
        check_fid(be, "pair eig-ref: s1 vs s2", &res, &g->t12, 1e-9);
        check_same(be, "pair eig-ref: s1 vs s2", &res, &rcpu);
    }
}

static void op_lowrank(cs_math *mb, const data *g) {
    const char *be = mb->iface->name;
    cs_fid_result res;
    cs_status st = mb->iface->lowrank(mb, g->xa, NA, g->xb, NB, D, &res);
    CHECK(st == CS_OK, "%s lowrank: %s", be, cs_last_error());
    if (st == CS_OK) {
        check_fid(be, "lowrank: 15 vs 20 rows, d = 48", &res, &g->tab, 1e-9);
        CHECK(!strcmp(res.method, "lowrank"), "%s lowrank: method %s", be, res.method);
        CHECK(res.warnings == (CS_FID_WARN_SINGULAR1 | CS_FID_WARN_SINGULAR2), "%s lowrank: warnings 0x%x", be,
              res.warnings);
    }
}

static void op_boot(cs_math *mb, const data *g) {
    const char *be = mb->iface->name;
    enum { R = 9 };
    const int64_t m1 = N3, m2 = NB;
    int64_t i1[R * N3], i2[R * NB];
    rng_state = 99;
    for (int k = 0; k < R; k++) {
        for (int64_t a = 0; a < m1; a++) i1[k * m1 + a] = (int64_t)(urand() * N3);
        for (int64_t a = 0; a < m2; a++) i2[k * m2 + a] = (int64_t)(urand() * NB);
    }
    for (int64_t a = 0; a < m1; a++) i1[a] = a; /* resample 0: the sets themselves */
    for (int64_t a = 0; a < m2; a++) i2[a] = a;
    cs_math_boot *b = NULL;
    cs_status st = mb->iface->boot_init(mb, g->x3, N3, g->xb, NB, D, &b);
    CHECK(st == CS_OK, "%s boot_init: %s", be, cs_last_error());
    if (st != CS_OK) return;
    double *fid = guarded(R);
    st = mb->iface->boot_eval(mb, b, R, i1, m1, i2, m2, fid);
    CHECK(st == CS_OK, "%s boot_eval: %s", be, cs_last_error());
    double worst = 0;
    float *y1 = malloc((size_t)m1 * D * sizeof(float)), *y2 = malloc((size_t)m2 * D * sizeof(float));
    if (!y1 || !y2) abort();
    for (int k = 0; k < R && st == CS_OK; k++) {
        for (int64_t a = 0; a < m1; a++) memcpy(y1 + a * D, g->x3 + i1[k * m1 + a] * D, D * sizeof(float));
        for (int64_t a = 0; a < m2; a++) memcpy(y2 + a * D, g->xb + i2[k * m2 + a] * D, D * sizeof(float));
        cs_fid_result t;
        if (cs_fid_lowrank(y1, m1, y2, m2, D, &t) != CS_OK) abort();
        CHECK(isfinite(fid[k]), "%s boot_eval: resample %d gives %g", be, k, fid[k]);
        worst = fmax(worst, rel1(fid[k], t.fid));
    }
    printf("%-5s boot_eval %d resamples of 20 + 20 rows: worst relative difference %.2e\n", be, R, worst);
    CHECK(worst <= 1e-9, "%s boot_eval: differs from the gathered rows by %.3e relative", be, worst);
    guarded_check(be, "boot_eval", fid, R);
    free(y1), free(y2);
    mb->iface->boot_free(mb, b);
    mb->iface->boot_free(mb, NULL);
}

static void op_kid(cs_math *mb, const data *g) {
    const char *be = mb->iface->name;
    cs_kid_opts o;
    cs_kid_opts_default(&o);
    o.n_subsets = 10, o.subset_size = 100, o.seed = 7;
    cs_kid_result res;
    double *per = guarded((size_t)o.n_subsets);
    cs_status st = mb->iface->kid(mb, g->k1, NK, g->k2, NK, D, &o, &res, per);
    CHECK(st == CS_OK, "%s kid: %s", be, cs_last_error());
    if (st == CS_OK) {
        int64_t ix[100], iy[100];
        double mean = 0, ss = 0, worst = 0, v[10];
        for (int s = 0; s < o.n_subsets; s++) {
            if (cs_kid_subset(o.seed, s, 0, NK, 100, ix) || cs_kid_subset(o.seed, s, 1, NK, 100, iy) ||
                cs_kid_mmd2(g->k1, ix, g->k2, iy, 100, D, &v[s]))
                abort();
            worst = fmax(worst, rel1(per[s], v[s]));
            mean += v[s];
        }
        mean /= o.n_subsets;
        for (int s = 0; s < o.n_subsets; s++) ss += (v[s] - mean) * (v[s] - mean);
        double sd = sqrt(ss / o.n_subsets);
        printf("%-5s kid 10 subsets of 100: %.6g +- %.3g  subset %.2e mean %.2e std %.2e relative\n", be, res.kid,
               res.kid_std, worst, rel1(res.kid, mean), rel1(res.kid_std, sd));
        CHECK(worst <= 1e-9 && rel1(res.kid, mean) <= 1e-9 && rel1(res.kid_std, sd) <= 1e-9,
              "%s kid: subset %.3e, mean %.3e, std %.3e relative", be, worst, rel1(res.kid, mean),
              rel1(res.kid_std, sd));
        CHECK(res.n_subsets == 10 && res.subset_size == 100, "%s kid: %d subsets of %lld", be, res.n_subsets,
              (long long)res.subset_size);
        CHECK(mean > 10 * sd / sqrt(10.0), "kid: test sets too similar for a relative check");
    }
    guarded_check(be, "kid per_subset", per, (size_t)o.n_subsets);
}

/* Random image and a noisy copy of it (correlated, so SSIM is far from 0). */
static void image_pair(int w, int h, cs_image *a, cs_image *b) {
    a->width = b->width = w, a->height = b->height = h;
    a->rgb = malloc((size_t)w * h * 3), b->rgb = malloc((size_t)w * h * 3);
    if (!a->rgb || !b->rgb) abort();
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        int v = (int)(urand() * 256), n = v + (int)(urand() * 61) - 30;
        a->rgb[i] = (uint8_t)v;
        b->rgb[i] = (uint8_t)(n < 0 ? 0 : n > 255 ? 255 : n);
    }
}

static void op_pixel(cs_math *mb) {
    const char *be = mb->iface->name;
    enum { NP = 4 };
    static const int wh[NP][2] = {{16, 12}, {9, 23}, {7, 7}, {31, 8}};
    cs_image a[NP], b[NP];
    rng_state = 5;
    for (int i = 0; i < NP; i++) image_pair(wh[i][0], wh[i][1], &a[i], &b[i]);
    double *ss = guarded(NP), *rs = guarded(NP);
    cs_status st = mb->iface->ssim_pairs(mb, a, b, NP, ss, rs);
    CHECK(st == CS_OK, "%s ssim_pairs: %s", be, cs_last_error());
    double es = 0, er = 0;
    for (int i = 0; i < NP && st == CS_OK; i++) {
        double s, r;
        if (cs_ssim_same_size(&a[i], &b[i], &s) || cs_rgb_ssim_same_size(&a[i], &b[i], &r)) abort();
        es = fmax(es, fabs(ss[i] - s)), er = fmax(er, fabs(rs[i] - r));
    }
    printf("%-5s ssim_pairs %d pairs: ssim %.2e rgb-ssim %.2e absolute\n", be, NP, es, er);
    CHECK(es <= 1e-6 && er == 0.0, "%s ssim_pairs: ssim %.3e, rgb-ssim %.3e", be, es, er);
    guarded_check(be, "ssim", ss, NP);
    guarded_check(be, "rgb-ssim", rs, NP);

    /* descriptors: the first 3 images as references, the 4 noisy copies as generated images */
    cs_metric_desc *dr = malloc(3 * sizeof *dr), *dg = malloc(NP * sizeof *dg);
    if (!dr || !dg) abort();
    for (int i = 0; i < 3; i++)
        if (cs_metric_desc_compute(&a[i], &dr[i])) abort();
    for (int i = 0; i < NP; i++)
        if (cs_metric_desc_compute(&b[i], &dg[i])) abort();
    double *out = guarded((size_t)NP * 3 * 3);
    st = mb->iface->desc_pairs(mb, dr, 3, dg, NP, NULL, out);
    CHECK(st == CS_OK, "%s desc_pairs: %s", be, cs_last_error());
    double ec = 0, eh = 0, ed = 0;
    for (int gi = 0; gi < NP && st == CS_OK; gi++)
        for (int ri = 0; ri < 3; ri++) {
            const double *o = out + ((size_t)gi * 3 + ri) * 3;
            ec = fmax(ec, fabs(o[0] - cs_metric_cosine(&dr[ri], &dg[gi])));
            eh = fmax(eh, fabs(o[1] - cs_metric_hist(&dr[ri], &dg[gi])));
            ed = fmax(ed, fabs(o[2] - cs_metric_dhash(&dr[ri], &dg[gi])));
        }
    printf("%-5s desc_pairs 4 x 3: cosine %.2e hist %.2e dhash %.2e absolute\n", be, ec, eh, ed);
    CHECK(ec <= 1e-12 && eh == 0.0 && ed == 0.0, "%s desc_pairs: cosine %.3e hist %.3e dhash %.3e", be, ec, eh, ed);
    guarded_check(be, "desc_pairs", out, (size_t)NP * 3 * 3);
    int want[CS_METRIC_N_PIXEL] = {0};
    want[CS_METRIC_DHASH] = 1;
    double one[3];
    st = mb->iface->desc_pairs(mb, dr, 1, dg, 1, want, one);
    CHECK(st == CS_OK && isnan(one[0]) && isnan(one[1]) && one[2] == cs_metric_dhash(&dr[0], &dg[0]),
          "%s desc_pairs: want flags not honoured", be);
    free(dr), free(dg);
    for (int i = 0; i < NP; i++) cs_image_free(&a[i]), cs_image_free(&b[i]);
}

/* ---- the FID routes on this backend (fid_many.h) ------------------------------------------ */

static void routes(cs_math *mb, const data *g) {
    const char *be = mb->iface->name;
    const int gpu = strcmp(be, "cpu") != 0;
    cs_fid_set ref = {.label = "ref", .x = g->x1, .n = N1, .d = D};
    cs_fid_set sets[2] = {{.label = "small", .x = g->x3, .n = N3, .d = D},
                          {.label = "big", .x = g->x2, .n = N2, .d = D}};
    cs_fid_result res[2];
    size_t failed = 9;
    cs_fid_many_opts fo = {.method = CS_FID_AUTO, .rows_ref = 1};
    cs_status st = cs_fid_many(mb, &ref, sets, 2, &fo, res, &failed);
    CHECK(st == CS_OK, "%s fid_many rows_ref: %s", be, cs_last_error());
    if (st == CS_OK) {
        check_fid(be, "fid_many rows_ref: small set (rule 3)", &res[0], &g->t13, 1e-9);
        check_fid(be, "fid_many rows_ref: big set (rule 3)", &res[1], &g->t12, 1e-9);
        CHECK(!strcmp(res[0].method, "lowrank-ref"), "%s fid_many: small set by %s", be, res[0].method);
        CHECK(!strcmp(res[1].method, gpu ? "eig-ref" : "chol"), "%s fid_many: big set by %s", be, res[1].method);
    }
    fo.rows_ref = 0; /* the audit's route: statistics only */
    st = cs_fid_many(mb, &ref, sets, 2, &fo, res, &failed);
    CHECK(st == CS_OK, "%s fid_many statistics: %s", be, cs_last_error());
    if (st == CS_OK) {
        check_fid(be, "fid_many statistics: small set (rule 4)", &res[0], &g->t13, 1e-9);
        check_fid(be, "fid_many statistics: big set (rule 4)", &res[1], &g->t12, 1e-9);
        CHECK(strcmp(res[0].method, "lowrank-ref") != 0, "%s fid_many rows_ref = 0: small set by lowrank-ref", be);
    }
    /* one set: a pair; a reference given by its statistics only */
    cs_fid_set sref = {.label = "ref stats", .stats = g->s1, .n = N1, .d = D};
    st = cs_fid_many(mb, &sref, &sets[1], 1, &fo, res, &failed);
    CHECK(st == CS_OK, "%s fid_many one set: %s", be, cs_last_error());
    if (st == CS_OK) check_fid(be, "fid_many: one set vs statistics (pair)", &res[0], &g->t12, 1e-9);
    /* rule 2: lowrank from the rows */
    cs_fid_set lref = {.label = "a", .x = g->xa, .n = NA, .d = D}, lset = {.label = "b", .x = g->xb, .n = NB, .d = D};
    st = cs_fid_many(mb, &lref, &lset, 1, &fo, res, &failed);
    CHECK(st == CS_OK && !strcmp(res[0].method, "lowrank"), "%s fid_many: lowrank route: %s", be,
          st == CS_OK ? res[0].method : cs_last_error());
    if (st == CS_OK) check_fid(be, "fid_many: n1 + n2 <= d (rule 2)", &res[0], &g->tab, 1e-9);
    /* errors: other dimensions (naming the set), lowrank without rows */
    cs_fid_set other = {.label = "odd", .x = g->x3, .n = N3 * 2, .d = D / 2};
    st = cs_fid_many(mb, &ref, (cs_fid_set[]){sets[0], other}, 2, &fo, res, &failed);
    CHECK(st == CS_E_MISMATCH && failed == 1 && strstr(cs_last_error(), "odd"), "%s fid_many mismatch: %d %zu %s",
          be, (int)st, failed, cs_last_error());
    fo.method = CS_FID_LOWRANK;
    st = cs_fid_many(mb, &sref, &sets[1], 1, &fo, res, &failed);
    CHECK(st == CS_E_USAGE && failed == 0, "%s fid_many lowrank without rows: %d", be, (int)st);
}

/* ---- main ----------------------------------------------------------------------------------- */

static void run_all(cs_math *mb, cs_math *cpu, const data *g) {
    printf("== %s math backend: %s\n", mb->iface->name, mb->iface->device_name(mb));
    for (int op = 0; op < CS_MATH_OP_COUNT; op++)
        CHECK(op == CS_MATH_REF || op == CS_MATH_PAIR || mb->iface->supports(mb, (cs_math_op)op, CS_FID_AUTO),
              "%s: op %d not supported", mb->iface->name, op);
    op_stats(mb, g);
    op_ref(mb, cpu, g);
    op_pair(mb, cpu, g);
    op_lowrank(mb, g);
    op_boot(mb, g);
    op_kid(mb, g);
    op_pixel(mb);
    routes(mb, g);
}

/* The backend choice for --device and method (cs_math_for_fid) as today's commands make it. */
static void device_choice(void) {
    cs_math *mb = NULL;
    CHECK(cs_math_for_fid("cpu", CS_FID_AUTO, 2, &mb) == CS_OK && !strcmp(mb->iface->name, "cpu"),
          "cpu: %s", cs_last_error());
    cs_math_free(mb), mb = NULL;
    CHECK(cs_math_for_fid("cuda", CS_FID_EIG, 2, &mb) == CS_OK && !strcmp(mb->iface->name, "cpu"),
          "method eig runs on the CPU whatever the device: %s", cs_last_error());
    cs_math_free(mb), mb = NULL;
    CHECK(cs_math_for_fid("cuda:x", CS_FID_AUTO, 2, &mb) == CS_E_USAGE && !mb, "a bad device list accepted");
    cs_status st = cs_math_for_fid("cuda", CS_FID_LOWRANK, 2, &mb);
    if (cs_gpu_math_available())
        CHECK(st == CS_OK && !strcmp(mb->iface->name, "cuda"), "cuda with GPU math: %s", cs_last_error());
    else
        CHECK(st == CS_E_UNSUPPORTED && !mb, "cuda without GPU math: %d", (int)st);
    cs_math_free(mb);
    cs_math_free(NULL);
}

int main(int argc, char **argv) {
    const int gpu_only = argc > 1 && !strcmp(argv[1], "--gpu-only");
    data g;
    data_make(&g);
    cs_math *cpu = NULL;
    if (cs_math_cpu_create(2, &cpu) != CS_OK) abort();
    if (!gpu_only) {
        device_choice();
        run_all(cpu, cpu, &g);
    }
    cs_math *cuda = NULL;
    int ran_gpu = 0;
    cs_status st = cs_math_cuda_create(0, &cuda);
    if (st == CS_E_UNSUPPORTED) {
        printf("skip cuda math backend: %s\n", cs_last_error());
    } else if (st != CS_OK) {
        CHECK(0, "creating the cuda math backend: %s", cs_last_error());
    } else {
        run_all(cuda, cpu, &g);
        ran_gpu = 1;
        cs_math_free(cuda);
    }
    cs_math_free(cpu);
    data_free(&g);
    if (gpu_only && !ran_gpu && !failures) return cs_test_gpu_skip("gpu_fid_math_ops", "no cuda math backend ran");
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
