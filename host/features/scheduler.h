/* Device lists and the multi-device batch scheduler of the feature pipeline (internal).
 *
 * Device lists (--device, grammar in net/device_spec.h): cs_device_spec_parse checks the syntax,
 * cs_device_list_resolve checks the spec against a machine (GPU count, whether the CUDA module
 * has the cuda backend), so both are unit-testable without a GPU: "cuda:9" on a machine with 2
 * GPUs is CS_E_USAGE, "cuda" on one without GPU or a build without CUDA is CS_E_UNSUPPORTED
 * (both exit 2).
 *
 * Testing aids (no GPU needed; cs_sched_opts and cs_features_testing, set by tests and by hidden
 * options of `copyscope features`): CPU backends standing in for the --device list
 * (cs_device_spec_stand_in, each with threads / count threads), so that the multi-device path
 * runs on any machine; a failing batch (cs_sched_opts.fail_batch: the device that runs batch k,
 * numbered from 0 in input order, fails with CS_E_DEVICE). Neither is meant for real runs; the
 * stand-ins announce themselves in the device notice.
 *
 * The scheduler: one host thread per device, each creating and owning its own cs_model (the
 * cs_weights are shared read-only; each device holds its own folded copy), taking submitted
 * batches from one FIFO queue (so faster devices take more batches) and handing finished ones
 * back on a done queue. A device thread keeps up to two batches on its model (cs_model_submit:
 * on a GPU the next batch's upload overlaps this one's compute), so the caller should have three
 * batch slots per device to keep it fed. The caller (the producer) is the only thread that touches its cache and
 * output; workers only read a batch's input and write its feat. A single CPU device runs
 * "inline": no thread, the batch runs inside cs_sched_submit (the producer's pool and the CPU
 * model would only compete for the same cores), which keeps the single-CPU pipeline exactly
 * what it was before the scheduler. */
#ifndef CS_SCHEDULER_H
#define CS_SCHEDULER_H

#include "copyscope/model.h"
#include "copyscope/status.h"
#include "copyscope/weights.h"
#include "net/device_spec.h"

#include <stddef.h>
#include <stdint.h>

/* ---- device lists ------------------------------------------------------------------------- */

typedef struct cs_device {
    int gpu;         /* CUDA ordinal; -1 for a CPU backend */
    char label[24];  /* "cuda:1", "cpu", "cpu#1" (CPU stand-ins) */
} cs_device;

typedef struct cs_device_list {
    int n;
    cs_device dev[CS_DEVICES_MAX];
    int threads_each;   /* threads per CPU backend (0: all cores) */
    char notice[256];   /* non-empty: one line for stderr (auto fell back to the CPU; CPU stand-ins) */
} cs_device_list;

/* The spec on a machine: have_cuda = the build has the cuda backend, ngpu = GPUs present.
 * threads (<= 0: ncores) is split evenly among CPU stand-ins (cs_device_spec_stand_in). */
cs_status cs_device_list_resolve(const cs_device_spec *spec, int have_cuda, int ngpu, int threads,
                                 int ncores, cs_device_list *out);

/* Both steps on this machine. stand_in > 0 (a testing aid): that many CPU backends instead of
 * text (cs_device_spec_stand_in). */
cs_status cs_device_list_get(const char *text, int stand_in, int threads, cs_device_list *out);

/* ---- the scheduler ------------------------------------------------------------------------ */

typedef struct cs_sched cs_sched;

typedef struct cs_sched_batch {
    /* set by the caller before cs_sched_submit; the buffers stay the caller's and must not be
     * touched until the batch comes back from cs_sched_next_done */
    size_t id;            /* batch number (input order), for messages and the failure hook */
    size_t first, count;  /* the input images [first, first + count) it was taken from */
    const float *input;   /* (m, 3, 299, 299) float32, preprocessed; or NULL, then: */
    const uint8_t *rgb;   /* m decoded images packed (cs_rgb_item), preprocessed by the device */
    size_t rgb_bytes;
    const cs_rgb_item *items; /* (m) */
    int m;                /* images to compute, >= 1 */
    float *feat;          /* (m, dims) float32, written by the device */
    void *user;
    /* set by the scheduler */
    cs_status st;         /* CS_OK; the device's error; CS_E_INTERRUPTED if cancelled unrun */
    int device;           /* index in the device list that ran it, -1 if it did not run */
    char msg[1024];       /* st != CS_OK: one line naming the device, the batch and its images */
    struct cs_sched_batch *next; /* the scheduler's queue link */
} cs_sched_batch;

typedef struct cs_sched_opts {
    const char *precision;    /* NULL or a string that outlives the scheduler */
    int dims;                 /* features per image */
    /* testing aids (zero in real runs) */
    int fail;                 /* 1: the device that runs batch fail_batch fails with CS_E_DEVICE */
    size_t fail_batch;        /* cs_sched_batch.id */
    cs_model_testing model;   /* every device's model (cs_model_create_testing) */
} cs_sched_opts;

/* Start one worker per device; each creates its model (device, o->precision, the list's threads,
 * o->model) from w, which must outlive the scheduler. Returns when every model exists, or the
 * first creation error (naming the device) after stopping the others. */
cs_status cs_sched_create(const cs_device_list *devs, const cs_weights *w, const cs_sched_opts *o,
                          cs_sched **out);
/* Free: cancels what is queued, waits for the running batches, frees the models and every
 * buffer from cs_sched_host_alloc. NULL is fine. */
void cs_sched_free(cs_sched *s);

/* Queue b for the next free device (inline scheduler: run it now). */
void cs_sched_submit(cs_sched *s, cs_sched_batch *b);
/* A finished batch (in completion order), or NULL when none is outstanding; with block = 0 also
 * NULL when none has finished yet. */
cs_sched_batch *cs_sched_next_done(cs_sched *s, int block);
/* Batches still queued come back unrun (st = CS_E_INTERRUPTED, device = -1). */
void cs_sched_cancel(cs_sched *s);

int cs_sched_inline(const cs_sched *s);     /* 1: no worker threads (a single CPU device) */
/* 1 if the devices preprocess (cs_model_preprocesses): submit rgb batches rather than input. */
int cs_sched_preprocesses(const cs_sched *s);
int cs_sched_devices(const cs_sched *s);
/* "cuda:1 (NVIDIA H100 80GB HBM3 (cuda:1, ...))": the list label and the backend's device_name */
const char *cs_sched_device_desc(const cs_sched *s, int i);

/* Host memory for batch inputs and outputs: pinned (page-locked, portable to every GPU) when the
 * first device is a GPU, else plain. Owned by the scheduler: cs_sched_free releases what
 * cs_sched_host_free has not (NULL is fine there). */
cs_status cs_sched_host_alloc(cs_sched *s, size_t bytes, void **out);
void cs_sched_host_free(cs_sched *s, void *p);

#endif
