/* GPU KID and pixel metrics (kernels/cuda_metrics.cu) against the CPU (host/fid/metrics_kid.c,
 * host/fid/metrics_pixel.c).
 *
 * Tolerances and why:
 *  - KID, per subset and mean/std: 1e-9 relative. Same subsets (same RNG), same float64 kernel
 *    values from Gram matrices that differ by ~1e-16 relative (OpenBLAS vs cuBLAS); the sums of
 *    ~5e5 kernel values are added in other orders (GPU tree vs CPU sequential), ~1e-13 relative to
 *    the sums, and the sets here differ enough that MMD^2 is not small against them.
 *  - SSIM: 1e-6 absolute (the bound); the window values are bit-identical, only the final
 *    mean is summed in another order (expect ~1e-15).
 *  - RGB-SSIM, hist, dhash: exact (identical integer sums / identical float64 operations);
 *    cosine: 1e-12 (a 4096-term dot product summed in another order). */
#include "copyscope/image.h"
#include "copyscope/metrics.h"

#include "test_gpu_stats.h"

#include <string.h>

static void kid_case(cs_gpu *g, const char *what, int n1, int n2, int d, int64_t max_gram_rows,
                     int64_t subset_size, int n_subsets) {
    float *x = gen_rows(n1, d, 0.0, 5.0, 51), *y = gen_rows(n2, d, 0.25, 2.0, 52);
    cs_kid_opts o;
    cs_kid_opts_default(&o);
    o.max_gram_rows = max_gram_rows;
    o.subset_size = subset_size;
    o.n_subsets = n_subsets;
    o.seed = 7;
    cs_kid_result rc, rg;
    double *vc = malloc((size_t)n_subsets * sizeof(double)), *vg = malloc((size_t)n_subsets * sizeof(double));
    if (!vc || !vg) abort();
    cs_status st = cs_kid_compute(x, n1, y, n2, d, &o, &rc, vc);
    CHECK(st == CS_OK, "%s: cpu: %s", what, cs_last_error());
    cs_status gs = cs_gpu_kid_compute(g, x, n1, y, n2, d, &o, &rg, vg);
    CHECK(gs == CS_OK, "%s: gpu: %s", what, cs_last_error());
    if (st == CS_OK && gs == CS_OK) {
        double worst = 0;
        for (int s = 0; s < n_subsets; s++) worst = fmax(worst, rel1(vg[s], vc[s]));
        double em = rel1(rg.kid, rc.kid), es = rel1(rg.kid_std, rc.kid_std);
        printf("%-36s KID gpu %.12g cpu %.12g (std %.3g)  subsets %.2e mean %.2e std %.2e\n", what, rg.kid,
               rc.kid, rc.kid_std, worst, em, es);
        CHECK(worst <= 1e-9, "%s: a subset's MMD^2 differs by %.3e relative", what, worst);
        CHECK(em <= 1e-9, "%s: KID differs by %.3e relative", what, em);
        CHECK(es <= 1e-9 * fmax(1.0, fabs(rc.kid / (rc.kid_std > 0 ? rc.kid_std : 1.0))),
              "%s: KID std differs by %.3e relative", what, es);
        CHECK(rg.subset_size == rc.subset_size && rg.n_subsets == rc.n_subsets, "%s: subset shape", what);
        CHECK(rc.kid > 10 * rc.kid_std / sqrt((double)n_subsets), "%s: test sets too similar for a 1e-9 check", what);
    }
    free(vc);
    free(vg);
    free(x);
    free(y);
}

/* An image with structure (gradients, a disc) plus noise; `like` (may be NULL) mixes in another
 * image of the same size so that pairs are correlated, as real near-copies are. */
static cs_image make_image(int w, int h, const cs_image *like, double noise) {
    cs_image im = {w, h, malloc((size_t)w * h * 3)};
    if (!im.rgb) abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 40 + 150.0 * x / w * (c == 0) + 120.0 * y / h * (c == 1) +
                           ((x - w / 2) * (x - w / 2) + (y - h / 3) * (y - h / 3) < w * h / 10 ? 60 : 0);
                if (like) v = 0.5 * v + 0.5 * like->rgb[((size_t)y * w + x) * 3 + c];
                v += noise * nrand();
                im.rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return im;
}

int main(void) {
    cs_gpu *g = gpu_open_or_skip("test_gpu_stats_metrics");

    /* ---- KID: the full-Gram path and the per-subset path, subsets smaller than and equal to n ---- */
    kid_case(g, "kid full Gram 300/250 d=64", 300, 250, 64, 4096, 100, 50);
    kid_case(g, "kid per subset 300/250 d=64", 300, 250, 64, 0, 100, 50);
    kid_case(g, "kid m = min(n1, n2) d=2048", 120, 90, 2048, 4096, 1000, 10);

    /* ---- SSIM / RGB-SSIM on image pairs of several sizes (7x7 is the smallest SSIM accepts) ---- */
    {
        rng_state = 99;
        const int sizes[][2] = {{64, 48}, {37, 53}, {7, 7}, {300, 200}, {8, 130}};
        const int np = (int)(sizeof sizes / sizeof sizes[0]);
        cs_image a[5], b[5];
        double sg[5], rg[5];
        for (int i = 0; i < np; i++) {
            a[i] = make_image(sizes[i][0], sizes[i][1], NULL, 20.0);
            b[i] = make_image(sizes[i][0], sizes[i][1], i == 3 ? NULL : &a[i], 30.0);
        }
        cs_status gs = cs_gpu_ssim_pairs(g, a, b, (size_t)np, sg, rg);
        CHECK(gs == CS_OK, "gpu ssim: %s", cs_last_error());
        for (int i = 0; i < np && gs == CS_OK; i++) {
            double sc = 0, rc = 0;
            CHECK(cs_ssim_same_size(&a[i], &b[i], &sc) == CS_OK, "cpu ssim: %s", cs_last_error());
            CHECK(cs_rgb_ssim_same_size(&a[i], &b[i], &rc) == CS_OK, "cpu rgb-ssim: %s", cs_last_error());
            printf("ssim %3dx%-3d gpu %.15f cpu %.15f (%.1e) | rgb-ssim gpu %.15f cpu %.15f\n", a[i].width,
                   a[i].height, sg[i], sc, fabs(sg[i] - sc), rg[i], rc);
            CHECK(fabs(sg[i] - sc) <= 1e-6, "ssim %dx%d: %.17g vs %.17g", a[i].width, a[i].height, sg[i], sc);
            CHECK(rg[i] == rc, "rgb-ssim %dx%d: %.17g vs %.17g", a[i].width, a[i].height, rg[i], rc);
        }
        /* identical images: 1 */
        double one = 0;
        CHECK(cs_gpu_ssim_pairs(g, &a[0], &a[0], 1, &one, NULL) == CS_OK && fabs(one - 1.0) < 1e-12,
              "ssim of an image with itself: %.17g", one);
        /* different sizes are refused, like the CPU */
        CHECK(cs_gpu_ssim_pairs(g, &a[0], &b[1], 1, sg, NULL) == CS_E_USAGE, "size mismatch accepted");

        /* ---- cosine, hist, dhash over all pairs from host descriptors ---- */
        cs_metric_desc *d = malloc((size_t)2 * np * sizeof *d);
        double *out = malloc((size_t)np * np * 3 * sizeof(double));
        if (!d || !out) abort();
        for (int i = 0; i < np; i++) {
            CHECK(cs_metric_desc_compute(&a[i], &d[i]) == CS_OK, "desc: %s", cs_last_error());
            CHECK(cs_metric_desc_compute(&b[i], &d[np + i]) == CS_OK, "desc: %s", cs_last_error());
        }
        memset(&d[np + 4], 0, sizeof d[0]); /* a black image's descriptor: cosine's zero-norm rule */
        d[np + 4].hist[0][0] = d[np + 4].hist[1][0] = d[np + 4].hist[2][0] = 8 * 130;
        gs = cs_gpu_metric_desc_pairs(g, d, (size_t)np, d + np, (size_t)np, NULL, out);
        CHECK(gs == CS_OK, "gpu desc pairs: %s", cs_last_error());
        double ec = 0, eh = 0, ed = 0;
        for (int gi = 0; gi < np && gs == CS_OK; gi++)
            for (int ri = 0; ri < np; ri++) {
                const double *o = out + ((size_t)gi * np + ri) * 3;
                ec = fmax(ec, fabs(o[0] - cs_metric_cosine(&d[ri], &d[np + gi])));
                eh = fmax(eh, fabs(o[1] - cs_metric_hist(&d[ri], &d[np + gi])));
                ed = fmax(ed, fabs(o[2] - cs_metric_dhash(&d[ri], &d[np + gi])));
            }
        printf("descriptor pairs (%d x %d): cosine %.1e hist %.1e dhash %.1e\n", np, np, ec, eh, ed);
        CHECK(ec <= 1e-12, "cosine differs by %.3e", ec);
        CHECK(eh == 0.0, "hist differs by %.3e", eh);
        CHECK(ed == 0.0, "dhash differs by %.3e", ed);
        int want[CS_METRIC_N_PIXEL] = {0};
        want[CS_METRIC_DHASH] = 1;
        CHECK(cs_gpu_metric_desc_pairs(g, d, 1, d + np, 1, want, out) == CS_OK && isnan(out[0]) && isnan(out[1]) &&
                  out[2] == cs_metric_dhash(&d[0], &d[np]),
              "want flags not honoured");
        free(d);
        free(out);
        for (int i = 0; i < np; i++) {
            cs_image_free(&a[i]);
            cs_image_free(&b[i]);
        }
    }
    cs_gpu_close(g);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
