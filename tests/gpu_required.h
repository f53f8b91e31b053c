/* The skip rule of every gpu-labelled test (ctest -L gpu), in one place.
 *
 * Without COPYSCOPE_REQUIRE_GPU a GPU test that cannot run here (no CUDA build, no cuDNN, no
 * CUDA device, the module not loadable, a precision or tool missing) exits 77, which ctest
 * reports as "skipped", never as "passed". With COPYSCOPE_REQUIRE_GPU=1 (tools/device-run.sh
 * sets it on the lent GPU machine) the same situation is a FAILURE (exit 1): a device run whose
 * module lost cuDNN, or whose device list failed, must not come back green by skipping. This is
 * a test-harness variable: only tests/ reads it, never the library. The non-gpu test
 * gpu_require_no_skip (tests/gpu.cmake, tests/gpu_require.py) checks the rule on every
 * gpu-labelled test. */
#ifndef CS_TEST_GPU_REQUIRED_H
#define CS_TEST_GPU_REQUIRED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int cs_test_gpu_required(void) {
    const char *s = getenv("COPYSCOPE_REQUIRE_GPU");
    return s && *s && strcmp(s, "0") != 0;
}

/* The exit status for "this GPU test cannot run: why". Prints one line either way. */
static inline int cs_test_gpu_skip(const char *prog, const char *why) {
    if (cs_test_gpu_required()) {
        printf("%s: FAIL (COPYSCOPE_REQUIRE_GPU=1, so no skipping): cannot run: %s\n", prog, why ? why : "?");
        fflush(stdout);
        return 1;
    }
    printf("%s: skip: %s\n", prog, why ? why : "?");
    fflush(stdout);
    return 77;
}

#endif
