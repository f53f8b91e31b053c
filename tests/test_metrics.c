/* Unit tests of the metrics library: hand-computed values, degenerate inputs, errors, set
 * aggregation and KID sampling invariants. The comparisons with PIL, OpenCV, scikit-image and
 * numpy are in tests/metrics_ref.py. */
#include "copyscope/metrics.h"

#include "core/threadpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, cs_last_error()); \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static cs_image make(int w, int h, unsigned seed, int flat) {
    cs_image im = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        im.rgb[i] = flat >= 0 ? (uint8_t)flat : (uint8_t)((seed >> 16) & 255);
    }
    return im;
}

int main(void) {
    /* names */
    for (int m = 0; m < CS_METRIC_COUNT; m++) {
        cs_metric back;
        CHECK(cs_metric_parse(cs_metric_name((cs_metric)m), &back) == CS_OK && back == (cs_metric)m);
    }
    cs_metric bad;
    CHECK(cs_metric_parse("psnr", &bad) == CS_E_USAGE);
    CHECK(cs_metric_is_distance(CS_METRIC_KID) && !cs_metric_is_distance(CS_METRIC_SSIM));

    /* compareHist CORREL by hand: h1 = (1, 2, 3, 0), h2 = (2, 4, 6, 0) -> 1; h2 reversed -> r */
    int32_t h1[4] = {1, 2, 3, 0}, h2[4] = {2, 4, 6, 0}, h3[4] = {0, 3, 2, 1}, hc[4] = {5, 5, 5, 5};
    CHECK(fabs(cs_hist_correl(h1, h2, 4) - 1.0) < 1e-15);
    /* means 1.5, 1.5: dev (-.5, .5, 1.5, -1.5), (-1.5, 1.5, .5, -.5); num = .75+.75+.75+.75 = 3;
     * ss = 5, 5 -> 3/5 */
    CHECK(fabs(cs_hist_correl(h1, h3, 4) - 0.6) < 1e-15);
    CHECK(cs_hist_correl(hc, hc, 4) == 1.0); /* OpenCV: zero variance -> 1 */

    /* identical images: every similarity is 1 */
    cs_image a = make(40, 31, 1, -1), b = make(40, 31, 2, -1), c = make(23, 50, 3, -1);
    double v[CS_METRIC_N_PIXEL];
    CHECK(cs_metric_pair(&a, NULL, &a, NULL, NULL, v) == CS_OK);
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) CHECK(fabs(v[m] - 1.0) < 1e-12);
    /* different sizes are resized (not reshaped): works, and values are in range */
    CHECK(cs_metric_pair(&a, NULL, &c, NULL, NULL, v) == CS_OK);
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) {
        double lo, hi;
        cs_metric_range((cs_metric)m, &lo, &hi);
        CHECK(v[m] >= lo && v[m] <= hi);
    }
    /* independent noise: ssim near 0, rgb-ssim near 0 */
    CHECK(cs_metric_pair(&a, NULL, &b, NULL, NULL, v) == CS_OK);
    CHECK(fabs(v[CS_METRIC_SSIM]) < 0.1 && fabs(v[CS_METRIC_RGB_SSIM]) < 0.1);
    CHECK(v[CS_METRIC_FUSION] > 0.2); /* not zero by construction */

    /* rgb-ssim by hand: x = (0, 2), y = (2, 0) on a 1x1... needs 2 values: a 1x1 RGB has 3 */
    cs_image p = {1, 1, (uint8_t[]){0, 10, 20}}, q = {1, 1, (uint8_t[]){20, 10, 0}};
    double r;
    CHECK(cs_rgb_ssim_same_size(&p, &q, &r) == CS_OK);
    {
        double c1 = 6.5025, c2 = 58.5225; /* mx = my = 10, vx = vy = 100, cxy = -100 */
        double want = ((200 + c1) * (-200 + c2)) / ((200 + c1) * (200 + c2));
        CHECK(fabs(r - want) < 1e-15);
    }
    /* ssim: windows need 7x7; sizes must match in the same-size entry */
    cs_image tiny = make(6, 9, 4, -1);
    CHECK(cs_ssim_same_size(&tiny, &tiny, &r) == CS_E_USAGE);
    CHECK(cs_ssim_same_size(&a, &c, &r) == CS_E_USAGE);
    /* constant images: SSIM 1 between equal constants, < 1 between different ones */
    cs_image k1 = make(9, 9, 0, 100), k2 = make(9, 9, 0, 200), k0 = make(9, 9, 0, 0);
    CHECK(cs_ssim_same_size(&k1, &k1, &r) == CS_OK && fabs(r - 1) < 1e-15);
    CHECK(cs_ssim_same_size(&k1, &k2, &r) == CS_OK && r < 0.9);
    /* black images: cosine 1 with black, 0 with anything else */
    CHECK(cs_metric_pair(&k0, NULL, &k0, NULL, NULL, v) == CS_OK && v[CS_METRIC_COSINE] == 1.0);
    CHECK(cs_metric_pair(&k0, NULL, &k1, NULL, NULL, v) == CS_OK && v[CS_METRIC_COSINE] == 0.0);

    /* resize: same size copies; a constant stays constant (normalised filters, PIL rounding) */
    cs_image out;
    CHECK(cs_image_resize(&a, 40, 31, CS_RESAMPLE_LANCZOS, &out) == CS_OK &&
          memcmp(out.rgb, a.rgb, (size_t)40 * 31 * 3) == 0);
    cs_image_free(&out);
    CHECK(cs_image_resize(&k1, 300, 7, CS_RESAMPLE_LANCZOS, &out) == CS_OK);
    for (int i = 0; i < 300 * 7 * 3; i++) CHECK(out.rgb[i] == 100);
    cs_image_free(&out);
    CHECK(cs_image_resize(&a, 0, 7, CS_RESAMPLE_LANCZOS, &out) == CS_E_USAGE);

    /* sets: mean/min/max over all pairs equal the pair values; per_gen = row means */
    cs_image refs[2] = {a, c}, gens[3] = {b, a, k1};
    cs_metric_score sc[CS_METRIC_N_PIXEL], one;
    double per[3 * CS_METRIC_N_PIXEL], per1[3];
    cs_threadpool *pool = cs_threadpool_create(2);
    CHECK(cs_metric_set_scores(NULL, refs, 2, gens, 3, pool, sc, per) == CS_OK);
    for (int m = 0; m < CS_METRIC_N_PIXEL; m++) {
        double sum = 0, mn = INFINITY, mx = -INFINITY;
        for (int g = 0; g < 3; g++) {
            double row = 0;
            for (int rr = 0; rr < 2; rr++) {
                CHECK(cs_metric_pair(&refs[rr], NULL, &gens[g], NULL, NULL, v) == CS_OK);
                row += v[m], sum += v[m];
                mn = fmin(mn, v[m]), mx = fmax(mx, v[m]);
            }
            CHECK(fabs(per[g * CS_METRIC_N_PIXEL + m] - row / 2) < 1e-15);
        }
        CHECK(fabs(sc[m].mean - sum / 6) < 1e-15 && sc[m].min == mn && sc[m].max == mx && sc[m].n_pairs == 6);
        CHECK(cs_metric_set_score((cs_metric)m, refs, 2, gens, 3, NULL, &one, per1) == CS_OK);
        CHECK(fabs(one.mean - sc[m].mean) < 1e-15 && one.min == sc[m].min && one.max == sc[m].max);
        CHECK(fabs(per1[1] - per[CS_METRIC_N_PIXEL + m]) < 1e-15);
    }
    CHECK(cs_metric_set_score(CS_METRIC_KID, refs, 2, gens, 3, NULL, &one, NULL) == CS_E_USAGE);
    /* a reference below 7x7 fails the set (ssim) with a message; a small generated image is
     * resized to the reference size and works */
    cs_image small[1] = {tiny};
    CHECK(cs_metric_set_scores(NULL, small, 1, refs, 2, pool, sc, NULL) == CS_E_USAGE);
    CHECK(cs_metric_set_scores(NULL, refs, 2, small, 1, pool, sc, NULL) == CS_OK);
    int only_cos[CS_METRIC_N_PIXEL] = {1, 0, 0, 0, 0, 0};
    CHECK(cs_metric_set_scores(only_cos, small, 1, refs, 2, pool, sc, NULL) == CS_OK && isnan(sc[CS_METRIC_SSIM].mean));
    cs_threadpool_free(pool);

    /* KID: constant features -> every kernel equal -> MMD^2 = 0; m > n refused; sampling */
    enum { N = 12, D = 5 };
    float fx[N * D];
    for (int i = 0; i < N * D; i++) fx[i] = 0.5f;
    cs_kid_opts ko;
    cs_kid_opts_default(&ko);
    ko.n_subsets = 3;
    cs_kid_result kr;
    CHECK(cs_kid_compute(fx, N, fx, N, D, &ko, &kr, NULL) == CS_OK && fabs(kr.kid) < 1e-13 && kr.subset_size == N);
    CHECK(cs_kid_compute(fx, 1, fx, N, D, &ko, &kr, NULL) == CS_E_USAGE);
    int64_t idx[N];
    CHECK(cs_kid_subset(1, 0, 0, 5, 6, idx) == CS_E_USAGE);
    CHECK(cs_kid_subset(1, 0, 0, N, N, idx) == CS_OK);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) seen[idx[i]]++;
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1);

    free(a.rgb), free(b.rgb), free(c.rgb), free(tiny.rgb), free(k1.rgb), free(k2.rgb), free(k0.rgb);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("metrics unit tests passed\n");
    return 0;
}
