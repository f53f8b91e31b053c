/* Compute backends for the Inception forward pass (internal; ggml style).
 *
 * A backend is an interface struct of function pointers plus an opaque context. Buffers are
 * device memory owned by the backend that allocated them (plain host memory for the CPU
 * backend); every tensor is float32 NCHW, contiguous. The CPU backend (backend_cpu.c) is the
 * oracle: each of its ops has a plain reference implementation beside the fast one
 * (cs_ref_* below), and tests/test_backend_ops.c checks every backend's ops against them.
 *
 * Outputs go into a channel slice of a larger tensor: an op producing `cout` channels writes
 * channels [out_c_offset, out_c_offset + cout) of an (n, out_c_total, hout, wout) tensor, so
 * that Inception's branch concatenation needs no copy. Ops return a cs_status; they never
 * allocate per call once their workspace has grown to the largest layer. */
#ifndef CS_BACKEND_H
#define CS_BACKEND_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_op {
    CS_OP_CONV2D = 0,      /* conv (OIHW weights, folded-BN bias) + optional ReLU */
    CS_OP_MAXPOOL3,        /* 3x3 max pool, (stride 2, pad 0) or (stride 1, pad 1) */
    CS_OP_AVGPOOL3,        /* 3x3 avg pool, stride 1, pad 1, count_include_pad=False */
    CS_OP_GLOBAL_AVGPOOL,  /* (n, c, h, w) -> (n, c) mean over h*w */
    CS_OP_COUNT
} cs_op;

typedef struct cs_conv2d_params {
    int n, cin, h, w;                /* input (n, cin, h, w) */
    int cout, kh, kw, stride, ph, pw;
    int hout, wout;                  /* (h + 2 ph - kh) / stride + 1, ... */
    int out_c_total, out_c_offset;   /* output (n, out_c_total, hout, wout), slice of cout */
    int relu;                        /* 1: y = max(0, conv + bias) */
} cs_conv2d_params;

typedef struct cs_pool_params {
    int n, c, h, w;                  /* input (n, c, h, w) */
    int stride, pad;                 /* kernel is always 3x3 */
    int hout, wout;
    int out_c_total, out_c_offset;   /* output (n, out_c_total, hout, wout), slice of c */
} cs_pool_params;

typedef struct cs_backend cs_backend;

typedef struct cs_backend_i {
    const char *name; /* "cpu", "cuda" */
    void (*free)(cs_backend *be);
    /* Device description for messages ("CPU (2 threads, OpenBLAS)", "NVIDIA H100 ..."). */
    const char *(*device_name)(cs_backend *be);
    /* 1 if the backend runs op (params: cs_conv2d_params / cs_pool_params, or NULL for "any
     * geometry the network uses"); cs_model_create refuses a backend lacking one. */
    int (*supports)(cs_backend *be, cs_op op, const void *params);
    /* Images per forward chunk this backend prefers (memory vs efficiency). */
    int (*preferred_batch)(cs_backend *be);
    /* Worker mode (optional: NULL members or max_workers <= 1 mean "not supported"). Between
     * workers_begin and workers_end, up to max_workers threads of one OpenMP parallel region
     * may call ops concurrently, each on its own buffers; worker = omp_get_thread_num(). The
     * CPU backend then runs each op serially in its worker (no barrier per layer). */
    int (*max_workers)(cs_backend *be);
    cs_status (*workers_begin)(cs_backend *be);
    void (*workers_end)(cs_backend *be);

    /* Buffers of this backend (device memory on a GPU). buffer_free waits for the copies and
     * ops in flight that may still use the buffer. */
    cs_status (*buffer_alloc)(cs_backend *be, size_t bytes, void **out);
    void (*buffer_free)(cs_backend *be, void *buf); /* NULL is fine */
    /* Copies between host memory and this backend's buffers: the device side (dst of upload,
     * src of download) lies inside a buffer from buffer_alloc, at any offset; the host side is
     * any host memory (host_alloc memory copies faster on a GPU). Both run in order on the
     * compute queue, after the ops enqueued before them, and return when the copy is done: src
     * may be reused (upload), dst holds the data (download). */
    cs_status (*upload)(cs_backend *be, void *dst, const void *src, size_t bytes);
    cs_status (*download)(cs_backend *be, void *dst, const void *src, size_t bytes);
    cs_status (*synchronize)(cs_backend *be);

    /* x (n, cin, h, w); w (cout, cin, kh, kw); bias (cout); y: see cs_conv2d_params. */
    cs_status (*conv2d)(cs_backend *be, const cs_conv2d_params *p, const float *x,
                        const float *w, const float *bias, float *y);
    cs_status (*maxpool3)(cs_backend *be, const cs_pool_params *p, const float *x, float *y);
    cs_status (*avgpool3)(cs_backend *be, const cs_pool_params *p, const float *x, float *y);
    /* x (n, c, h, w) -> y (n, c) */
    cs_status (*global_avgpool)(cs_backend *be, int n, int c, int h, int w, const float *x,
                                float *y);
    /* Optional (NULL: preprocess on the host). pytorch-fid preprocessing of one image already
     * in a buffer of this backend: rgb (height, width, 3) uint8 -> out (3, 299, 299) float32,
     * equal to cs_preprocess_rgb (copyscope/model.h) on the same bytes. */
    cs_status (*preprocess_rgb)(cs_backend *be, const uint8_t *rgb, int width, int height,
                                float *out);
    /* Optional (NULL: malloc/free). Host memory for data to upload: page-locked on a GPU (so
     * copies run at full bus speed; portable to every device of the process). */
    cs_status (*host_alloc)(cs_backend *be, size_t bytes, void **out);
    void (*host_free)(cs_backend *be, void *p); /* NULL p is fine */

    /* Optional asynchronous transfers (all five NULL: upload/download complete before they
     * return and the model pipelines nothing; the CPU). A backend offering them has two
     * queues: CS_QUEUE_COMPUTE, where ops and download_async run in order, and CS_QUEUE_COPY,
     * where upload_async runs, so that the next batch's copy overlaps this batch's compute.
     * Fences 0 .. CS_BACKEND_FENCES-1 mark points in a queue (ggml's events). The device side
     * of both copies lies inside a buffer from buffer_alloc; the host side should be host_alloc
     * memory, without which a GPU copies correctly but synchronously (no overlap):
     *   upload_async   enqueue host src -> device dst on the copy queue and return. src must
     *                  stay unchanged until a fence recorded on the copy queue after it has been
     *                  waited for (the CPU's testing emulation copies only then); ops read dst
     *                  only after the compute queue waited for such a fence (queue_wait); and
     *                  dst must not be rewritten while compute ops enqueued earlier may still
     *                  read it (the copy queue waits for a compute fence first);
     *   download_async enqueue device src -> host dst on the compute queue (after the ops
     *                  before it); dst holds the data once a fence recorded on the compute queue
     *                  after it has been waited for (fence_wait);
     *   fence_record   fence marks everything enqueued on queue so far (recording again moves it);
     *   queue_wait     what is enqueued on queue from now on starts after fence (a fence never
     *                  recorded is passed at once);
     *   fence_wait     the host waits for fence; a failure of anything enqueued before it that
     *                  only shows asynchronously (a kernel fault) is returned here. */
    cs_status (*upload_async)(cs_backend *be, void *dst, const void *src, size_t bytes);
    cs_status (*download_async)(cs_backend *be, void *dst, const void *src, size_t bytes);
    cs_status (*fence_record)(cs_backend *be, int fence, int queue);
    cs_status (*queue_wait)(cs_backend *be, int queue, int fence);
    cs_status (*fence_wait)(cs_backend *be, int fence);
} cs_backend_i;

enum { CS_QUEUE_COMPUTE = 0, CS_QUEUE_COPY = 1 };
#define CS_BACKEND_FENCES 8

/* 1 if be offers the five asynchronous members above. */
static inline int cs_backend_async(const cs_backend_i *i) {
    return i->upload_async && i->download_async && i->fence_record && i->queue_wait && i->fence_wait;
}

struct cs_backend {
    const cs_backend_i *iface;
    void *ctx;
};

/* The CPU backend's options. */
typedef struct cs_backend_cpu_opts {
    int threads;         /* <= 0: all cores */
    /* Testing aid (zero in real runs): the five asynchronous members above, with the copy queue
     * emulated lazily (backend_cpu.c), so that the GPU's pipeline runs, and fails visibly when it
     * breaks the contract, on the CPU. */
    int async_emulation;
} cs_backend_cpu_opts;

/* Create a backend by name, in the --device grammar (net/device_spec.h): "cpu", "cuda" (GPU 0),
 * "cuda:N", or "auto" (cuda:0 when a GPU is present, else cpu with a notice in *notice, which
 * may be NULL). threads <= 0 means all cores. precision: NULL or "fp32" (default), "tf32",
 * "fp16" (cuda only; see kernels/cuda_backend.cu); the CPU computes in fp32 only, so another
 * precision on the CPU (also when "auto" falls back to it) is CS_E_USAGE. "cuda" on a build or
 * machine without CUDA: CS_E_UNSUPPORTED with a message. A list "cuda:0,2" takes its first GPU
 * here, with a notice (the multi-GPU split is the caller's: the feature pipeline runs one
 * backend per device of the list, host/features/scheduler.h). */
cs_status cs_backend_create_ex(const char *device, const char *precision, int threads,
                               cs_backend **out, char *notice, size_t notice_size);
/* The same with the CPU backend's options (cpu->threads replaces threads), used when the device
 * is the CPU. */
cs_status cs_backend_create_opts(const char *device, const char *precision, const cs_backend_cpu_opts *cpu,
                                 cs_backend **out, char *notice, size_t notice_size);
void cs_backend_free(cs_backend *be); /* NULL is fine */

/* Individual constructors. The CUDA ones forward to the CUDA module (host/net/cuda_api.h: kernels/
 * built into libcopyscope_cuda.so when nvcc is present, loaded at run time) and answer
 * CS_E_UNSUPPORTED without it, so no caller needs an #ifdef. */
cs_status cs_backend_cpu_create(int threads, cs_backend **out);
cs_status cs_backend_cpu_create_opts(const cs_backend_cpu_opts *o, cs_backend **out);
int cs_cuda_device_count(void);
cs_status cs_backend_cuda_create_ex(int device, const char *precision, cs_backend **out);
/* What "cuda" can mean here: *have_backend = 1 when the CUDA module (host/net/cuda_api.h) loaded and
 * has the cuda backend, *ngpu the CUDA GPUs present (0 without the backend). Without it,
 * cs_backend_cuda_why() says why in one line (no CUDA build, no GPU device node, the loader's
 * error, a module without cuDNN). */
void cs_backend_cuda_probe(int *have_backend, int *ngpu);
const char *cs_backend_cuda_why(void);

/* Output size of a conv/pool window along one axis. */
static inline int cs_out_size(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

/* ---- plain reference implementations (naive loops, the definition of each op) --------- */
void cs_ref_conv2d(const cs_conv2d_params *p, const float *x, const float *w, const float *bias,
                   float *y);
void cs_ref_maxpool3(const cs_pool_params *p, const float *x, float *y);
void cs_ref_avgpool3(const cs_pool_params *p, const float *x, float *y);
void cs_ref_global_avgpool(int n, int c, int h, int w, const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif
