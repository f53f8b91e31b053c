/* Backend registry: "cpu", "cuda", "auto".
 *
 * The CUDA pieces are weak references, resolved only when the CUDA translation units
 * (kernels/ *.cu, built when nvcc is present) define them, so this file has no #ifdef:
 * a build without them answers "cuda" with CS_E_UNSUPPORTED and "auto" with the CPU. */
#include "backend.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

int cs_cuda_device_count(void) __attribute__((weak));
cs_status cs_backend_cuda_create(int device, cs_backend **out) __attribute__((weak));

static void set_notice(char *notice, size_t size, const char *msg) {
    if (notice && size) snprintf(notice, size, "%s", msg);
}

cs_status cs_backend_create(const char *device, int threads, cs_backend **out, char *notice,
                            size_t notice_size) {
    *out = NULL;
    set_notice(notice, notice_size, "");
    if (!device || !strcmp(device, "cpu")) return cs_backend_cpu_create(threads, out);
    int is_auto = !strcmp(device, "auto");
    if (!is_auto && strcmp(device, "cuda") != 0)
        return CS_FAIL(CS_E_USAGE, "unknown device '%s' (expected cpu, cuda or auto)", device);

    int ngpu = cs_cuda_device_count ? cs_cuda_device_count() : 0;
    if (!cs_cuda_device_count || !cs_backend_cuda_create) {
        if (is_auto) {
            set_notice(notice, notice_size,
                       "device auto: this build has no CUDA backend; using the CPU");
            return cs_backend_cpu_create(threads, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED,
                       "device cuda: this build has no CUDA backend (rebuild with nvcc present "
                       "and -DCOPYSCOPE_CUDA=ON), use --device cpu");
    }
    if (ngpu <= 0) {
        if (is_auto) {
            set_notice(notice, notice_size, "device auto: no CUDA GPU found; using the CPU");
            return cs_backend_cpu_create(threads, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED, "device cuda: no CUDA GPU found on this machine");
    }
    return cs_backend_cuda_create(0, out);
}

void cs_backend_free(cs_backend *be) {
    if (be && be->iface && be->iface->free) be->iface->free(be);
}
