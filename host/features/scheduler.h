/* Device lists and the multi-device batch scheduler of the feature pipeline (internal).
 *
 * Device lists (--device):
 *   auto        every CUDA GPU when the build has the cuda backend and the machine a GPU, else
 *               one CPU with a one-line notice
 *   cpu         one CPU backend (all --threads)
 *   cuda        every CUDA GPU (cuda:0 .. cuda:N-1)
 *   cuda:0,2    those GPUs, in that order (no repeats)
 * Parsing is two steps so that both are unit-testable without a GPU: cs_device_spec_parse
 * checks the syntax only (a bad spec is CS_E_USAGE: "cuda:", "cuda:-1", "cuda:0,0", "gpu");
 * cs_device_list_resolve checks it against a machine (GPU count, whether the build has the cuda
 * backend): "cuda:9" on a machine with 2 GPUs is CS_E_USAGE, "cuda" on one without GPU or a build
 * without CUDA is CS_E_UNSUPPORTED (both exit 2).
 *
 * Testing aid (no GPU needed): COPYSCOPE_TEST_DEVICES=cpu,cpu[,cpu...] replaces the --device list
 * by that many CPU backends (each with threads / count threads), so that the multi-device path
 * runs on any machine; COPYSCOPE_TEST_FAIL_BATCH=k makes the device that runs batch k (numbered
 * from 0 in input order, one batch per --batch input files) fail with CS_E_DEVICE. Neither is
 * meant for real runs; both announce themselves in the device notice.
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

#include <stddef.h>
#include <stdint.h>

#define CS_DEVICES_MAX 64

/* ---- device lists ------------------------------------------------------------------------- */

typedef enum cs_devspec_kind {
    CS_DEVSPEC_AUTO = 0, /* "auto" (or NULL / "") */
    CS_DEVSPEC_CPU,      /* "cpu"; n_cpu instances (more than 1 only from the testing list) */
    CS_DEVSPEC_CUDA_ALL, /* "cuda" */
    CS_DEVSPEC_CUDA_LIST /* "cuda:N[,M...]" */
} cs_devspec_kind;

typedef struct cs_device_spec {
    cs_devspec_kind kind;
    int n_cpu;                /* CS_DEVSPEC_CPU: CPU backends */
    int n_gpu;                /* CS_DEVSPEC_CUDA_LIST: GPU ordinals in gpu[] */
    int gpu[CS_DEVICES_MAX];
    int testing;              /* 1: from COPYSCOPE_TEST_DEVICES */
    char text[96];            /* the spec as written (truncated), for messages */
} cs_device_spec;

typedef struct cs_device {
    int gpu;         /* CUDA ordinal; -1 for a CPU backend */
    char label[24];  /* "cuda:1", "cpu", "cpu#1" (testing lists) */
} cs_device;

typedef struct cs_device_list {
    int n;
    cs_device dev[CS_DEVICES_MAX];
    int threads_each;   /* threads per CPU backend (0: all cores) */
    char notice[256];   /* non-empty: one line for stderr (auto fell back to the CPU; testing list) */
} cs_device_list;

/* Syntax of a --device value (NULL or "" = auto). testing = 1 parses a COPYSCOPE_TEST_DEVICES
 * value instead ("cpu,cpu,..." only). Bad syntax: CS_E_USAGE, one line quoting the spec. */
cs_status cs_device_spec_parse(const char *text, int testing, cs_device_spec *out);

/* The spec on a machine: have_cuda = the build has the cuda backend, ngpu = GPUs present.
 * threads (<= 0: ncores) is split evenly among CPU backends of a testing list. */
cs_status cs_device_list_resolve(const cs_device_spec *spec, int have_cuda, int ngpu, int threads,
                                 int ncores, cs_device_list *out);

/* Both steps on this machine, with COPYSCOPE_TEST_DEVICES taking the place of text when set. */
cs_status cs_device_list_get(const char *text, int threads, cs_device_list *out);

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

/* Start one worker per device; each creates its model (device, precision, the list's threads)
 * from w, which must outlive the scheduler. Returns when every model exists, or the first
 * creation error (naming the device) after stopping the others. dims: features per image. */
cs_status cs_sched_create(const cs_device_list *devs, const cs_weights *w, const char *precision,
                          int dims, cs_sched **out);
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
