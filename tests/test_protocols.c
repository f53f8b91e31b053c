/* Driver for tests/protocols_ref.py: runs copyscope's protocol resizers and numpy-compatible
 * generator on inputs the Python reference writes, and prints or writes the results.
 *   test_protocols perm SEED N              numpy RandomState(SEED).permutation(N), one per line
 *   test_protocols interval SEED MAX COUNT  COUNT draws of random_interval(MAX)
 *   test_protocols resize tf1|clean W H IN.f32 OUT.f32   one (H, W) float32 plane -> (299, 299)
 *   test_protocols preprocess P W H IN.u8 OUT.f32        (H, W, 3) uint8 -> (3, 299, 299) float32
 *   test_protocols isc N C SPLITS SHUFFLE IN.f64         Inception Score of (N, C) float64 logits:
 *                                                        prints "mean std" (%.17g)
 * Exit 0 on success, 2 on bad arguments or files. */
#include "core/np_random.h"
#include "copyscope/metrics.h"
#include "copyscope/protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_all(const char *path, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *p = malloc(bytes ? bytes : 1);
    if (p && fread(p, 1, bytes, f) != bytes) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static int write_all(const char *path, const void *p, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, bytes, f) == bytes;
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "perm") == 0) {
        cs_np_rng r;
        cs_np_rng_seed(&r, (uint32_t)strtoul(argv[2], NULL, 10));
        long long n = atoll(argv[3]);
        int64_t *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
        if (!p) return 2;
        cs_np_rng_permutation(&r, n, p);
        for (long long i = 0; i < n; i++) printf("%lld\n", (long long)p[i]);
        free(p);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "interval") == 0) {
        cs_np_rng r;
        cs_np_rng_seed(&r, (uint32_t)strtoul(argv[2], NULL, 10));
        unsigned long long mx = strtoull(argv[3], NULL, 10);
        for (long i = 0, n = atol(argv[4]); i < n; i++) printf("%llu\n", (unsigned long long)cs_np_rng_interval(&r, mx));
        return 0;
    }
    if (argc == 7 && (strcmp(argv[1], "resize") == 0 || strcmp(argv[1], "preprocess") == 0)) {
        const int w = atoi(argv[3]), h = atoi(argv[4]);
        if (w < 1 || h < 1) return 2;
        const int pre = strcmp(argv[1], "preprocess") == 0;
        const size_t npx = (size_t)w * (size_t)h, nout = (size_t)299 * 299 * (pre ? 3 : 1);
        void *in = read_all(argv[5], pre ? npx * 3 : npx * sizeof(float));
        float *out = malloc(nout * sizeof *out);
        if (!in || !out) return 2;
        cs_status st;
        if (pre) {
            cs_protocol p;
            if (cs_protocol_parse(argv[2], &p) != CS_OK) return 2;
            st = cs_preprocess_rgb_protocol(p, in, w, h, out);
        } else if (strcmp(argv[2], "tf1") == 0) {
            st = cs_resize_tf1_bilinear_plane(in, w, h, out);
        } else if (strcmp(argv[2], "clean") == 0) {
            st = cs_resize_pil_bicubic_plane(in, w, h, out);
        } else {
            return 2;
        }
        if (st != CS_OK || !write_all(argv[6], out, nout * sizeof *out)) return 2;
        free(in);
        free(out);
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "isc") == 0) {
        const long long n = atoll(argv[2]);
        const int c = atoi(argv[3]);
        if (n < 1 || c < 1) return 2;
        double *logits = read_all(argv[6], (size_t)n * (size_t)c * sizeof(double));
        if (!logits) return 2;
        cs_isc_opts o;
        cs_isc_opts_default(&o);
        o.splits = atoi(argv[4]);
        o.shuffle = atoi(argv[5]);
        cs_isc_result r;
        if (cs_isc_compute(logits, n, c, &o, &r, NULL) != CS_OK) return 2;
        printf("%.17g %.17g\n", r.isc, r.isc_std);
        free(logits);
        return 0;
    }
    fprintf(stderr, "usage: see the header of tests/test_protocols.c\n");
    return 2;
}
