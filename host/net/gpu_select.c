/* Which device runs the statistics/FID math of a command (`--device`): see gpu_math.h. The
 * --device grammar is net/device_spec.h, its checks against the machine the scheduler's
 * (features/scheduler.h); the math runs on the first device of the list. */
#include "fid/gpu_math.h"

#include "core/common.h"
#include "features/scheduler.h"

cs_status cs_gpu_math_select(const char *device, int *gpu) {
    *gpu = -1;
    cs_device_list dl;
    CS_TRY(cs_device_list_get(device, 0, 0, &dl));
    if (dl.n == 0 || dl.dev[0].gpu < 0) return CS_OK; /* the CPU ("cpu", or "auto" without a GPU) */
    if (!cs_gpu_math_available())
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: this build has no CUDA GPU math (rebuild with nvcc present)",
                       device);
    *gpu = dl.dev[0].gpu;
    return CS_OK;
}
