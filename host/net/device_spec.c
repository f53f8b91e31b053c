/* The --device grammar. See device_spec.h. */
#include "net/device_spec.h"

#include "core/common.h"

#include <stdio.h>
#include <string.h>

static cs_status spec_usage(const cs_device_spec *s, const char *what) {
    return CS_FAIL(CS_E_USAGE, "device '%s': %s", s->text, what);
}

static cs_status not_a_number(const cs_device_spec *s, const char *p) {
    char what[160];
    snprintf(what, sizeof what, "'%.20s' is not a GPU number (expected cuda:N or cuda:N,M,... with N >= 0)", p);
    return spec_usage(s, what);
}

/* Append the GPU number at *p (up to ',' or the end) to out->gpu; *p moves past it. */
static cs_status parse_gpu_number(cs_device_spec *out, const char **p) {
    const char *q = *p;
    long v = 0;
    while (*q >= '0' && *q <= '9') {
        v = v * 10 + (*q - '0');
        if (v > CS_GPU_ORDINAL_MAX) return spec_usage(out, "GPU number out of range (0..1023)");
        q++;
    }
    if (q == *p) {
        if (**p == ',' || !**p) return spec_usage(out, "empty GPU number in the list");
        return not_a_number(out, *p);
    }
    if (*q != ',' && *q != '\0') return not_a_number(out, *p);
    for (int i = 0; i < out->n_gpu; i++)
        if (out->gpu[i] == (int)v) {
            char what[64];
            snprintf(what, sizeof what, "GPU %ld is listed twice", v);
            return spec_usage(out, what);
        }
    if (out->n_gpu == CS_DEVICES_MAX) return spec_usage(out, "too many devices (at most 64)");
    out->gpu[out->n_gpu++] = (int)v;
    *p = q;
    return CS_OK;
}

cs_status cs_device_spec_parse(const char *text, cs_device_spec *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->text, sizeof out->text, "%s", text ? text : "auto");
    if (!text || !*text || !strcmp(text, "auto")) {
        out->kind = CS_DEVSPEC_AUTO;
        return CS_OK;
    }
    if (!strcmp(text, "cpu")) {
        out->kind = CS_DEVSPEC_CPU;
        out->n_cpu = 1;
        return CS_OK;
    }
    if (!strcmp(text, "cuda")) {
        out->kind = CS_DEVSPEC_CUDA_ALL;
        return CS_OK;
    }
    if (strncmp(text, "cuda:", 5) != 0)
        return spec_usage(out, "unknown device (expected cpu, cuda, cuda:N, cuda:N,M,... or auto)");
    out->kind = CS_DEVSPEC_CUDA_LIST;
    const char *p = text + 5;
    if (!*p) return spec_usage(out, "expected GPU numbers after 'cuda:' (e.g. cuda:0 or cuda:0,2)");
    for (;;) {
        CS_TRY(parse_gpu_number(out, &p));
        if (*p == '\0') return CS_OK;
        p++; /* the ',' */
        if (!*p) return spec_usage(out, "empty GPU number in the list");
    }
}

cs_status cs_device_spec_stand_in(int n, cs_device_spec *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->text, sizeof out->text, "%d CPU stand-ins", n);
    if (n < 1 || n > CS_DEVICES_MAX)
        return CS_FAIL(CS_E_USAGE, "%d CPU devices standing in for GPUs (a testing aid): expected 1..%d", n,
                       CS_DEVICES_MAX);
    out->kind = CS_DEVSPEC_CPU;
    out->n_cpu = n;
    return CS_OK;
}
