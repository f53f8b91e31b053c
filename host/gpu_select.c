/* Which device runs the statistics/FID math of a command (`--device`): see gpu_math.h. */
#include "gpu_math.h"

#include "backend.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* weak: a build without CUDA has no definition (backend.c references it the same way) */
int cs_cuda_device_count(void) __attribute__((weak));

cs_status cs_gpu_math_select(const char *device, int *gpu) {
    *gpu = -1;
    if (!device || !strcmp(device, "cpu")) return CS_OK;
    int is_auto = !strcmp(device, "auto");
    int index = 0;
    if (!is_auto) {
        if (strcmp(device, "cuda") != 0) {
            /* "cuda:N" or "cuda:N,M,...": the math runs on the first listed GPU */
            char *end = NULL;
            if (strncmp(device, "cuda:", 5) != 0) return CS_FAIL(CS_E_USAGE, "unknown device '%s' (expected cpu, cuda, cuda:N or auto)", device);
            long v = strtol(device + 5, &end, 10);
            if (end == device + 5 || v < 0 || v > 4096 || (*end && *end != ','))
                return CS_FAIL(CS_E_USAGE, "unknown device '%s' (expected cpu, cuda, cuda:N or auto)", device);
            index = (int)v;
        }
    }
    int have = cs_gpu_math_available() && cs_cuda_device_count ? cs_cuda_device_count() : 0;
    if (have <= 0) {
        if (is_auto) return CS_OK; /* the CPU, as the feature extraction */
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: %s", device,
                       cs_gpu_math_available() ? "no CUDA GPU found on this machine"
                                               : "this build has no CUDA (rebuild with nvcc present)");
    }
    if (index >= have)
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: this machine has %d CUDA GPU(s)", device, have);
    *gpu = index;
    return CS_OK;
}
