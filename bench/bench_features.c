/* Forward-pass throughput of the C FID Inception (cs_model_forward), for bench_network.py.
 *
 *   bench_features WEIGHTS [--device cpu] [--threads 2] [--batch 8] [--iters 3] [--dims 2048]
 *                          [--precision fp32|tf32|fp16]
 *
 * Input: seeded uniform values in [-1, 1] (the network's cost does not depend on them).
 * One warm-up forward (sizes the buffers), then `iters` timed forwards of `batch` images.
 * Prints one line: images/s, ms/image and achieved GFLOP/s (11.42 GFLOP per image at dims
 * 2048: 2 x multiply-accumulates of the 94 convolutions). */
#include "copyscope/model.h"
#include "copyscope/weights.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GFLOP_PER_IMAGE 11.422336192

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }

int main(int argc, char **argv) {
    const char *device = "cpu", *precision = NULL;
    int threads = 2, batch = 8, iters = 3, dims = 2048;
    static const struct option opts[] = {{"device", required_argument, 0, 'd'},
                                         {"threads", required_argument, 0, 't'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"iters", required_argument, 0, 'i'},
                                         {"dims", required_argument, 0, 'm'},
                                         {"precision", required_argument, 0, 'p'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'i': iters = atoi(optarg); break;
        case 'm': dims = atoi(optarg); break;
        case 'p': precision = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc - 1 || batch < 1 || iters < 1) {
        fprintf(stderr, "usage: %s WEIGHTS [--device D] [--threads N] [--batch B] [--iters K] [--dims D]"
                        " [--precision P]\n", argv[0]);
        return 2;
    }
    cs_weights *w = NULL;
    cs_model *m = NULL;
    if (cs_weights_load(argv[optind], &w) != CS_OK || cs_model_create_ex(w, device, precision, threads, &m) != CS_OK) {
        fprintf(stderr, "bench_features: %s\n", cs_last_error());
        cs_weights_free(w);
        return 1;
    }
    size_t nin = (size_t)batch * 3 * 299 * 299;
    float *x = malloc(nin * sizeof(float));                 /* (batch, 3, 299, 299) */
    float *out = malloc((size_t)batch * dims * sizeof(float)); /* (batch, dims) */
    uint32_t s = 1;
    for (size_t i = 0; i < nin; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    int rc = 0;
    if (cs_model_forward(m, x, batch, dims, out) != CS_OK) { /* warm-up */
        fprintf(stderr, "bench_features: %s\n", cs_last_error());
        rc = 1;
    } else {
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int k = 0; k < iters && rc == 0; k++)
            if (cs_model_forward(m, x, batch, dims, out) != CS_OK) rc = 1;
        double dt = now() - t0, dc = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        double ips = (double)batch * iters / dt;
        /* CPU seconds per image: on a shared, loaded machine the wall time is noisy, the CPU
         * time much less so (it still includes spin-waiting). */
        printf("C %s batch %d threads %d dims %d: %.2f images/s, %.1f ms/image, %.1f GFLOP/s, "
               "%.1f CPU ms/image\n", cs_model_device_name(m), batch, threads, dims, ips,
               1000.0 / ips, dims == 2048 ? ips * GFLOP_PER_IMAGE : 0.0,
               1000.0 * dc / ((double)batch * iters));
    }
    free(x);
    free(out);
    cs_model_free(m);
    cs_weights_free(w);
    return rc;
}
