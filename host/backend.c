/* Backend registry: "cpu", "cuda", "cuda:N", "auto"; precision fp32 / tf32 / fp16.
 *
 * The CUDA pieces are weak references, resolved only when the CUDA translation units
 * (kernels/ *.cu, built when nvcc is present) define them, so this file has no #ifdef:
 * a build without them answers "cuda" with CS_E_UNSUPPORTED and "auto" with the CPU. */
#include "backend.h"
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cs_cuda_device_count(void) __attribute__((weak));
cs_status cs_backend_cuda_create(int device, cs_backend **out) __attribute__((weak));
cs_status cs_backend_cuda_create_ex(int device, const char *precision, cs_backend **out)
    __attribute__((weak));

static void set_notice(char *notice, size_t size, const char *msg) {
    if (notice && size) snprintf(notice, size, "%s", msg);
}

static int precision_valid(const char *p) {
    return !p || !strcmp(p, "fp32") || !strcmp(p, "tf32") || !strcmp(p, "fp16");
}

static cs_status cpu_with_precision(const char *device, const char *precision, int threads,
                                    cs_backend **out) {
    if (precision && strcmp(precision, "fp32") != 0)
        return CS_FAIL(CS_E_USAGE,
                       "--precision %s needs a CUDA GPU (device %s runs on the CPU, which computes "
                       "in fp32 only)", precision, device);
    return cs_backend_cpu_create(threads, out);
}

/* "cuda" -> 0; "cuda:N" or "cuda:N,M,..." -> N (*is_list when more follow); -1 if malformed. */
static int parse_cuda_device(const char *device, int *is_list) {
    *is_list = 0;
    if (!strcmp(device, "cuda")) return 0;
    if (strncmp(device, "cuda:", 5) != 0) return -1;
    const char *p = device + 5;
    char *end;
    if (*p < '0' || *p > '9') return -1;
    long v = strtol(p, &end, 10);
    if (v > 1024) return -1;
    if (*end == ',') {
        *is_list = 1;
        for (const char *q = end; *q; q++) /* the rest must be a list of numbers too */
            if (!(*q == ',' || (*q >= '0' && *q <= '9')) || (*q == ',' && (q[1] < '0' || q[1] > '9')))
                return -1;
    } else if (*end) {
        return -1;
    }
    return (int)v;
}

cs_status cs_backend_create_ex(const char *device, const char *precision, int threads,
                               cs_backend **out, char *notice, size_t notice_size) {
    *out = NULL;
    set_notice(notice, notice_size, "");
    if (!precision_valid(precision))
        return CS_FAIL(CS_E_USAGE, "unknown precision '%s' (expected fp32, tf32 or fp16)", precision);
    if (!device || !strcmp(device, "cpu")) return cpu_with_precision("cpu", precision, threads, out);
    int is_auto = !strcmp(device, "auto"), is_list = 0;
    int gpu = is_auto ? 0 : parse_cuda_device(device, &is_list);
    if (gpu < 0)
        return CS_FAIL(CS_E_USAGE, "unknown device '%s' (expected cpu, cuda, cuda:N or auto)", device);

    int ngpu = cs_cuda_device_count ? cs_cuda_device_count() : 0;
    if (!cs_cuda_device_count || !cs_backend_cuda_create_ex) {
        if (is_auto) {
            set_notice(notice, notice_size,
                       "device auto: this build has no CUDA backend; using the CPU");
            return cpu_with_precision("auto", precision, threads, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED,
                       "device %s: this build has no CUDA backend (rebuild with nvcc and cuDNN "
                       "present and -DCOPYSCOPE_CUDA=ON), use --device cpu", device);
    }
    if (ngpu <= 0) {
        if (is_auto) {
            set_notice(notice, notice_size, "device auto: no CUDA GPU found; using the CPU");
            return cpu_with_precision("auto", precision, threads, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: no CUDA GPU found on this machine", device);
    }
    if (gpu >= ngpu)
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: this machine has %d CUDA GPU(s) (cuda:0..cuda:%d)",
                       device, ngpu, ngpu - 1);
    if (is_list) {
        char msg[256];
        snprintf(msg, sizeof msg, "device %s: one backend uses one GPU; using cuda:%d", device, gpu);
        set_notice(notice, notice_size, msg);
    }
    return cs_backend_cuda_create_ex(gpu, precision, out);
}

cs_status cs_backend_create(const char *device, int threads, cs_backend **out, char *notice,
                            size_t notice_size) {
    return cs_backend_create_ex(device, NULL, threads, out, notice, notice_size);
}

void cs_backend_cuda_probe(int *have_backend, int *ngpu) {
    *have_backend = cs_cuda_device_count && cs_backend_cuda_create_ex;
    *ngpu = *have_backend ? cs_cuda_device_count() : 0;
    if (*ngpu < 0) *ngpu = 0;
}

void cs_backend_free(cs_backend *be) {
    if (be && be->iface && be->iface->free) be->iface->free(be);
}
