/* The --device grammar (internal): one parser for every place that reads a device name, the
 * single backend (backend.c) and the feature pipeline's device lists (features/scheduler.h).
 *
 *   auto        (or NULL / "") every CUDA GPU when the CUDA module has the cuda backend and the
 *               machine a GPU, else one CPU with a notice
 *   cpu         one CPU backend
 *   cuda        every CUDA GPU (cuda:0 .. cuda:N-1)
 *   cuda:0,2    those GPUs, in that order; a GPU listed twice is refused
 *
 * Parsing checks the syntax only (no GPU needed): a bad spec is CS_E_USAGE with one line
 * quoting it ("device 'cuda:0,0': GPU 0 is listed twice"). What a spec means on a machine
 * (GPU count, a build without CUDA) is the caller's (cs_device_list_resolve, cs_backend_create_ex). */
#ifndef CS_DEVICE_SPEC_H
#define CS_DEVICE_SPEC_H

#include "copyscope/status.h"

#define CS_DEVICES_MAX 64
#define CS_GPU_ORDINAL_MAX 1023

typedef enum cs_devspec_kind {
    CS_DEVSPEC_AUTO = 0, /* "auto" (or NULL / "") */
    CS_DEVSPEC_CPU,      /* "cpu"; n_cpu instances (more than 1 only from cs_device_spec_stand_in) */
    CS_DEVSPEC_CUDA_ALL, /* "cuda" */
    CS_DEVSPEC_CUDA_LIST /* "cuda:N[,M...]" */
} cs_devspec_kind;

typedef struct cs_device_spec {
    cs_devspec_kind kind;
    int n_cpu;                /* CS_DEVSPEC_CPU: CPU backends */
    int n_gpu;                /* CS_DEVSPEC_CUDA_LIST: GPU ordinals in gpu[], distinct */
    int gpu[CS_DEVICES_MAX];
    char text[96];            /* the spec as written (truncated), for messages */
} cs_device_spec;

/* Syntax of a --device value (NULL or "" = auto). Bad syntax: CS_E_USAGE, one line. */
cs_status cs_device_spec_parse(const char *text, cs_device_spec *out);

/* Testing aid (no GPU needed): n CPU backends standing in for a list of GPUs, so that the
 * multi-device path runs on any machine; n = 1 is the plain "cpu". n outside 1..CS_DEVICES_MAX:
 * CS_E_USAGE. */
cs_status cs_device_spec_stand_in(int n, cs_device_spec *out);

#endif
