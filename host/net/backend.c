/* Backend registry: "cpu", "cuda", "cuda:N", "auto" (the --device grammar of device_spec.h);
 * precision fp32 / tf32 / fp16.
 *
 * The CUDA pieces live in the CUDA module, loaded at run time (cuda_api.h), so this file has no
 * #ifdef: without the module (no CUDA build, no GPU, CUDA libraries missing) "cuda" is
 * CS_E_UNSUPPORTED with the reason and "auto" the CPU with a notice. */
#include "net/backend.h"
#include "core/common.h"
#include "net/cuda_api.h"
#include "net/device_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static cs_status cpu_with_precision(const char *device, const char *precision, const cs_backend_cpu_opts *cpu,
                                    cs_backend **out) {
    if (precision && strcmp(precision, "fp32") != 0)
        return CS_FAIL(CS_E_USAGE,
                       "--precision %s needs a CUDA GPU (device %s runs on the CPU, which computes "
                       "in fp32 only)", precision, device);
    return cs_backend_cpu_create_opts(cpu, out);
}

cs_status cs_backend_create_ex(const char *device, const char *precision, int threads,
                               cs_backend **out, char *notice, size_t notice_size) {
    const cs_backend_cpu_opts cpu = {.threads = threads};
    return cs_backend_create_opts(device, precision, &cpu, out, notice, notice_size);
}

cs_status cs_backend_create_opts(const char *device, const char *precision, const cs_backend_cpu_opts *cpu,
                                 cs_backend **out, char *notice, size_t notice_size) {
    *out = NULL;
    set_notice(notice, notice_size, "");
    if (!device) device = "cpu";
    if (!precision_valid(precision))
        return CS_FAIL(CS_E_USAGE, "unknown precision '%s' (expected fp32, tf32 or fp16)", precision);
    cs_device_spec spec;
    CS_TRY(cs_device_spec_parse(device, &spec));
    if (spec.kind == CS_DEVSPEC_CPU) return cpu_with_precision(spec.text, precision, cpu, out);
    const int is_auto = spec.kind == CS_DEVSPEC_AUTO;
    const int gpu = spec.kind == CS_DEVSPEC_CUDA_LIST ? spec.gpu[0] : 0;

    int have = 0, ngpu = 0;
    cs_backend_cuda_probe(&have, &ngpu);
    if (!have) {
        if (is_auto) {
            char msg[900];
            snprintf(msg, sizeof msg, "device auto: %s; using the CPU", cs_backend_cuda_why());
            set_notice(notice, notice_size, msg);
            return cpu_with_precision("auto", precision, cpu, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: %s; use --device cpu", spec.text, cs_backend_cuda_why());
    }
    if (ngpu <= 0) {
        if (is_auto) {
            set_notice(notice, notice_size, "device auto: no CUDA GPU found; using the CPU");
            return cpu_with_precision("auto", precision, cpu, out);
        }
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: no CUDA GPU found on this machine", spec.text);
    }
    if (gpu >= ngpu)
        return CS_FAIL(CS_E_UNSUPPORTED, "device %s: this machine has %d CUDA GPU(s) (cuda:0..cuda:%d)",
                       spec.text, ngpu, ngpu - 1);
    if (spec.kind == CS_DEVSPEC_CUDA_LIST && spec.n_gpu > 1) {
        char msg[256];
        snprintf(msg, sizeof msg, "device %s: one backend uses one GPU; using cuda:%d", spec.text, gpu);
        set_notice(notice, notice_size, msg);
    }
    return cs_backend_cuda_create_ex(gpu, precision, out);
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
