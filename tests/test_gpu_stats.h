/* Shared by tests/test_gpu_stats*.c: skip logic, a seeded RNG and comparison helpers.
 *
 * Skip (exit 77, never "passed"): no CUDA module here (cs_gpu_math_available() == 0: no CUDA
 * build, no GPU device node, CUDA libraries missing) or no CUDA device (cs_cuda_device_count() == 0). With a device present, failing
 * to open it is a failure, not a skip. */
#ifndef CS_TEST_GPU_STATS_H
#define CS_TEST_GPU_STATS_H

#include "net/backend.h"
#include "fid/gpu_math.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "gpu_required.h"

static cs_gpu *gpu_open_or_skip(const char *prog) {
    if (!cs_gpu_math_available()) {
        char why[600];
        snprintf(why, sizeof why, "no GPU math here: %s", cs_backend_cuda_why());
        exit(cs_test_gpu_skip(prog, why));
    }
    int n = cs_cuda_device_count();
    if (n <= 0) {
        exit(cs_test_gpu_skip(prog, "no CUDA device on this machine"));
    }
    cs_gpu *g = NULL;
    if (cs_gpu_open(0, &g) != CS_OK) {
        fprintf(stderr, "%s: FAIL: cannot open cuda:0: %s\n", prog, cs_last_error());
        exit(1);
    }
    printf("%s: on %s\n", prog, cs_gpu_name(g));
    return g;
}

#include "test_rng.h"


/* max |a - b| / max |b| (norm-wise relative difference of two arrays) */
static inline double rel_diff(const double *a, const double *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return mb > 0 ? md / mb : md;
}

/* |a - b| / |b| (|a - b| when b == 0) */
static inline double rel1(double a, double b) { return b != 0 ? fabs(a - b) / fabs(b) : fabs(a - b); }

#endif
