/* Helper driven by tests/metrics_ref.py: exposes the metrics library on files so that Python can
 * compare it with PIL, scikit-image, OpenCV and numpy.
 *   resize IN W H FILTER OUT   FILTER = lanczos|bicubic|bilinear; OUT gets (H, W, 3) uint8 raw
 *   gray IN OUT                PIL convert("L") of the decoded RGB image, (h, w) uint8 raw
 *   pair REF GEN               one line: cosine hist dhash ssim rgb-ssim fusion (%.17g each)
 *   dhash IN                   the 64-bit hash in hex
 *   kid X Y N1 N2 D NSUB M SEED OUT [MAXGRAM]
 *                              X, Y raw float32 (N1, D), (N2, D); OUT gets per subset the M int64
 *                              indices into X, the M into Y, then its float64 MMD^2; then the kid
 *                              and its std (float64). */
#include "copyscope/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "test_metrics_tool: %s: %s\n", what, cs_last_error());
    return 1;
}

static void *read_all(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *p = malloc(want ? want : 1);
    if (p && fread(p, 1, want, f) != want) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *op = argv[1];
    if (strcmp(op, "resize") == 0 && argc == 7) {
        cs_image in, out;
        cs_resample f = strcmp(argv[5], "bicubic") == 0    ? CS_RESAMPLE_BICUBIC
                        : strcmp(argv[5], "bilinear") == 0 ? CS_RESAMPLE_BILINEAR
                                                           : CS_RESAMPLE_LANCZOS;
        if (cs_image_load(argv[2], &in) != CS_OK) return fail("load");
        if (cs_image_resize(&in, atoi(argv[3]), atoi(argv[4]), f, &out) != CS_OK) return fail("resize");
        FILE *o = fopen(argv[6], "wb");
        fwrite(out.rgb, 1, (size_t)out.width * out.height * 3, o);
        fclose(o);
        cs_image_free(&in);
        cs_image_free(&out);
        return 0;
    }
    if (strcmp(op, "gray") == 0 && argc == 4) {
        cs_image in;
        if (cs_image_load(argv[2], &in) != CS_OK) return fail("load");
        unsigned char *g = malloc((size_t)in.width * in.height);
        cs_image_to_gray(&in, g);
        FILE *o = fopen(argv[3], "wb");
        fwrite(g, 1, (size_t)in.width * in.height, o);
        fclose(o);
        free(g);
        cs_image_free(&in);
        return 0;
    }
    if (strcmp(op, "pair") == 0 && argc == 4) {
        cs_image r, g;
        double v[CS_METRIC_N_PIXEL];
        if (cs_image_load(argv[2], &r) != CS_OK || cs_image_load(argv[3], &g) != CS_OK) return fail("load");
        if (cs_metric_pair(&r, NULL, &g, NULL, NULL, v) != CS_OK) return fail("pair");
        for (int m = 0; m < CS_METRIC_N_PIXEL; m++) printf("%.17g%c", v[m], m + 1 < CS_METRIC_N_PIXEL ? ' ' : '\n');
        cs_image_free(&r);
        cs_image_free(&g);
        return 0;
    }
    if (strcmp(op, "dhash") == 0 && argc == 3) {
        cs_image in;
        static cs_metric_desc d;
        if (cs_image_load(argv[2], &in) != CS_OK) return fail("load");
        if (cs_metric_desc_compute(&in, &d) != CS_OK) return fail("desc");
        printf("%016llx\n", (unsigned long long)d.dhash);
        cs_image_free(&in);
        return 0;
    }
    if (strcmp(op, "kid") == 0 && (argc == 11 || argc == 12)) {
        long n1 = atol(argv[4]), n2 = atol(argv[5]);
        int d = atoi(argv[6]);
        cs_kid_opts o;
        cs_kid_opts_default(&o);
        o.n_subsets = atoi(argv[7]);
        o.subset_size = atol(argv[8]);
        o.seed = strtoull(argv[9], NULL, 10);
        if (argc == 12) o.max_gram_rows = atol(argv[11]);
        float *x = read_all(argv[2], (size_t)n1 * d * 4), *y = read_all(argv[3], (size_t)n2 * d * 4);
        if (!x || !y) return fail("read features");
        double *per = malloc(o.n_subsets * sizeof(double));
        cs_kid_result res;
        if (cs_kid_compute(x, n1, y, n2, d, &o, &res, per) != CS_OK) return fail("kid");
        long m = (long)res.subset_size;
        int64_t *ix = malloc(m * sizeof(int64_t)), *iy = malloc(m * sizeof(int64_t));
        FILE *out = fopen(argv[10], "wb");
        for (int s = 0; s < o.n_subsets; s++) {
            if (cs_kid_subset(o.seed, s, 0, n1, m, ix) != CS_OK || cs_kid_subset(o.seed, s, 1, n2, m, iy) != CS_OK)
                return fail("subset");
            fwrite(ix, sizeof(int64_t), m, out);
            fwrite(iy, sizeof(int64_t), m, out);
            fwrite(&per[s], sizeof(double), 1, out);
        }
        fwrite(&res.kid, sizeof(double), 1, out);
        fwrite(&res.kid_std, sizeof(double), 1, out);
        fclose(out);
        free(x), free(y), free(per), free(ix), free(iy);
        return 0;
    }
    fprintf(stderr, "test_metrics_tool: bad arguments\n");
    return 2;
}
