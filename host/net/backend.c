/* Backend registry: "cpu", "cuda", "cuda:N", "auto"; precision fp32 / tf32 / fp16.
 *
 * The CUDA pieces live in the CUDA module, loaded at run time (cuda_api.h), so this file has no
 * #ifdef: without the module (no CUDA build, no GPU, CUDA libraries missing) "cuda" is
 * CS_E_UNSUPPORTED with the reason and "auto" the CPU with a notice. */
#include "net/backend.h"
#include "core/common.h"
#include "net/cuda_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cs_status cs_backend_cuda_create(int device, cs_backend **out) {
    return cs_backend_cuda_create_ex(device, "fp32", out);
}

const char *cs_backend_cuda_why(void) {
    const char *why;
    const cs_cuda_api *a = cs_cuda_api_get(&why);
    if (a && !a->has_backend)
        return "this build's CUDA module has no cuda backend (cuDNN was not found when it was built)";
    return why;
}

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

    int have = 0, ngpu = 0;
    cs_backend_cuda_probe(&have, &ngpu);
    if (!have) {
        if (is_auto) {
            char msg[900];
            snprintf(msg, sizeof msg, "device auto: %s; using the CPU", cs_backend_cuda_why());
            set_notice(notice, notice_size, msg);
            return cpu_with_precision("auto", precision, threads, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: %s; use --device cpu", device, cs_backend_cuda_why());
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
    const cs_cuda_api *a = cs_cuda_api_get(NULL);
    *have_backend = a && a->has_backend;
    *ngpu = *have_backend ? a->cs_cuda_device_count() : 0;
    if (*ngpu < 0) *ngpu = 0;
}

void cs_backend_free(cs_backend *be) {
    if (be && be->iface && be->iface->free) be->iface->free(be);
}
