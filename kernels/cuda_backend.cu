// copyscope's CUDA backend (cs_backend_i of host/net/backend.h) for the FID Inception forward pass.
//
// Compiled whenever nvcc is present; the backend proper needs cuDNN (COPYSCOPE_HAVE_CUDNN, set by
// CMake when it finds cudnn.h and libcudnn), otherwise only the device probe is built and
// host/net/backend.c answers "cuda" with the reason (cs_backend_cuda_why: the CUDA module has no
// cuda backend).
//
// Design
//  - One compute stream and one cuDNN handle per backend (one backend per device and host
//    thread). Ops are enqueued asynchronously; upload/download return once the host buffer may
//    be reused / has been filled (they synchronise the stream). A second stream is the copy
//    queue of upload_async, and events are the fences of backend.h, with which the model keeps
//    two batches in flight: the next batch's upload overlaps this batch's compute.
//  - conv2d = cuDNN convolution of the BN-folded weights, bias, ReLU, output written straight
//    into its channel slice of the concatenated tensor. Three execution paths, tried in order
//    per layer geometry, the first that cuDNN accepts being kept:
//      fused   cudnnConvolutionBiasActivationForward (ReLU layers only: cuDNN's IDENTITY
//              activation is limited to the IMPLICIT_PRECOMP_GEMM algorithm), with a strided
//              output descriptor (nStride = out_c_total*hout*wout) at y + out_c_offset*hout*wout;
//              z = y with alpha2 = 0 (z is then ignored; XLA does the same);
//      slice   cudnnConvolutionForward into the same strided slice, then our bias (+ReLU)
//              kernel in place;
//      scratch cudnnConvolutionForward into a contiguous scratch tensor, then our
//              bias + ReLU + scatter kernel into the slice (for algorithms that refuse strided
//              outputs; always used by fp16, whose cuDNN output is half).
//    Each (geometry, batch) key gets a plan once: descriptors, algorithm (cuDNN heuristics,
//    cudnnGetConvolutionForwardAlgorithm_v7, in their order), math type and workspace size. The
//    plan is validated by its first execution (the real op); NOT_SUPPORTED moves on to the next
//    algorithm, then the next path; BAD_PARAM is reported at once as a descriptor error
//    (kernels/cudnn_status_class.h). COPYSCOPE_CUDNN_FIND=1 times every candidate on the call
//    that runs (fused call, fp16 conversion and epilogue included) and keeps the fastest. The
//    workspace grows to the largest layer.
//  - Precision: fp32 (default) runs CUDNN_FMA_MATH (no tensor cores, so no TF32 whatever
//    NVIDIA_TF32_OVERRIDE says; cuDNN's DEFAULT_MATH would allow TF32 on Ampere and later);
//    tf32 allows CUDNN_TENSOR_OP_MATH on float32 data (TF32 inputs, fp32 accumulation);
//    fp16 converts each conv's input (per call) and weights (once per model: the copies are
//    kept per weight buffer and dropped when it is freed) to float16 (round to nearest), convolves with
//    tensor cores and fp32 accumulation (cuDNN's PSEUDO_HALF config: compute type float),
//    gets a float16 result and adds the bias + ReLU in float32. Activations between layers,
//    pools and the global pool stay float32 in every mode.
//  - Pools, the global average pool, the epilogues and the preprocessing are custom kernels
//    (cuda_backend_kernels.cu, cuda_preprocess.cu).
//  - Every CUDA and cuDNN call is checked (CU_CHECK / DNN_CHECK): a failure becomes CS_E_DEVICE
//    with one line naming the device, the op and its geometry, the statement, the error and
//    the source location. Faults inside kernels surface at the next synchronisation, which
//    names the last op enqueued; COPYSCOPE_CUDA_SYNC=1 synchronises after every op to pin
//    them down.
//
// Debug environment variables (read at backend creation):
//   COPYSCOPE_CUDA_SYNC=1          synchronise and check after every op
//   COPYSCOPE_CUDA_POISON=1        fill new buffers with NaN (0xFF bytes): reads of memory no op
//                                  wrote show up as NaN features
//   COPYSCOPE_CUDA_CONV_PATH=P     only path P (fused, slice or scratch)
//   COPYSCOPE_CUDNN_FIND=1         time the heuristics' candidates on the real call, fastest first
//   COPYSCOPE_CUDNN_WORKSPACE_MB=N largest cuDNN workspace (default 1024)
//   COPYSCOPE_CUDA_BATCH=N         images per forward chunk (default 64; bounded by cuDNN's 2^31
//                                  elements and the free memory, cs_inception_batch_limit)
//   COPYSCOPE_CUDA_VERBOSE=1       print each new plan (path, algorithm, math, tensor cores, workspace)
#include <cuda_runtime.h>

#include "net/backend.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" int cs_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); // clear the error so that later probes start clean
        return 0;
    }
    return n;
}

#if defined(COPYSCOPE_HAVE_CUDNN)

#include "cuda_backend.h"
#include "cuda_release.cuh"
#include "cudnn_status_class.h"
extern "C" {
#include "net/inception_arch.h"
}

#include <cudnn.h>

#if CUDNN_MAJOR < 8
#error "the copyscope CUDA backend needs cuDNN 8 or later"
#endif

namespace {

enum precision_t { PREC_FP32 = 0, PREC_TF32, PREC_FP16 };
static const char *const kPrecisionNames[] = {"fp32", "tf32", "fp16"};

enum conv_path { PATH_FUSED = 0, PATH_SLICE, PATH_SCRATCH, PATH_COUNT };
static const char *const kPathNames[] = {"fused", "slice", "scratch"};
static const char *const kPathCalls[] = {"cudnnConvolutionBiasActivationForward (strided output)",
                                         "cudnnConvolutionForward (strided output)",
                                         "cudnnConvolutionForward (scratch output)"};

enum op_kind { OP_NONE = 0, OP_ALLOC, OP_UPLOAD, OP_DOWNLOAD, OP_SYNC, OP_CONV, OP_MAXPOOL, OP_AVGPOOL,
               OP_GAP, OP_PREPROCESS, OP_CREATE, OP_FENCE };

struct conv_plan {
    cs_conv2d_params key; // the whole geometry (ints only: compared with memcmp)
    int path;
    cudnnConvolutionFwdAlgo_t algo;
    cudnnMathType_t math;
    size_t ws_bytes;
    cudnnTensorDescriptor_t xd, yd, bd; // bd: (1, cout, 1, 1) float32 bias (fused path)
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
};

struct cuda_ctx {
    int device;
    int precision;
    int cc_major, cc_minor;
    cudaStream_t stream;         // compute queue: ops, download_async
    cudaStream_t copy;           // copy queue: upload_async
    cudaEvent_t fence[CS_BACKEND_FENCES];
    cudnnHandle_t dnn;
    cudnnActivationDescriptor_t relu;

    void *ws;          // cuDNN workspace
    size_t ws_cap;     // bytes
    size_t ws_limit;   // bytes; algorithms needing more are skipped
    void *scratch;     // contiguous conv result (n, cout, hout, wout), float32 or float16
    size_t scratch_cap;
    __half *xh;        // fp16: (n, cin, h, w) input copy
    size_t xh_cap;     // bytes
    // fp16: each layer's weights converted to float16 once per model (not per call), keyed by
    // the float32 weights' device address; entries inside a buffer are dropped when it is freed
    struct half_weights { const float *w; size_t count; __half *h; } *wc;
    int nwc, wc_cap;
    struct dev_alloc { void *p; size_t bytes; } *allocs; // buffer_alloc's live buffers
    int nallocs, allocs_cap;

    conv_plan *plans;
    int nplans, plans_cap;

    int sync_debug, poison, find_mode, verbose, batch;
    int batch_bound; // largest chunk: cuDNN's element limit and the free memory (creation)
    int forced_path; // -1: any

    // the op being run, for error messages
    int cur_kind;
    cs_conv2d_params cur_conv;
    cs_pool_params cur_pool;
    int cur_dims[4];
    size_t cur_bytes;
    int last_kind; // last op enqueued (asynchronous faults surface later)
    cs_conv2d_params last_conv;
    cs_pool_params last_pool;
    int last_dims[4];

    // an error of a release call (buffer_free, host_free), which cannot return one: reported by
    // the next entry point as what it is, not as a failure of that op
    cudaError_t released_err;
    const char *released_stmt;
    int released_line;

    char gpu[256];  // "NVIDIA H100 80GB HBM3"
    char name[512]; // device_name()
};

// ---- errors --------------------------------------------------------------------------------

void describe(int kind, const cs_conv2d_params *cp, const cs_pool_params *pp, const int *dims,
              size_t bytes, char *buf, size_t size) {
    switch (kind) {
    case OP_CONV:
        snprintf(buf, size,
                 "conv2d n=%d %dx%dx%d -> %d (k%dx%d s%d p%d,%d relu%d) into channels %d+%d of %d, %dx%d",
                 cp->n, cp->cin, cp->h, cp->w, cp->cout, cp->kh, cp->kw, cp->stride, cp->ph, cp->pw,
                 cp->relu, cp->out_c_offset, cp->cout, cp->out_c_total, cp->hout, cp->wout);
        break;
    case OP_MAXPOOL:
    case OP_AVGPOOL:
        snprintf(buf, size, "%s n=%d %dx%dx%d (s%d p%d) into channels %d+%d of %d",
                 kind == OP_MAXPOOL ? "maxpool3" : "avgpool3", pp->n, pp->c, pp->h, pp->w, pp->stride,
                 pp->pad, pp->out_c_offset, pp->c, pp->out_c_total);
        break;
    case OP_GAP:
        snprintf(buf, size, "global_avgpool n=%d %dx%dx%d", dims[0], dims[1], dims[2], dims[3]);
        break;
    case OP_PREPROCESS: snprintf(buf, size, "preprocess_rgb %dx%d", dims[0], dims[1]); break;
    case OP_ALLOC: snprintf(buf, size, "buffer_alloc of %zu bytes", bytes); break;
    case OP_UPLOAD: snprintf(buf, size, "upload of %zu bytes", bytes); break;
    case OP_DOWNLOAD: snprintf(buf, size, "download of %zu bytes", bytes); break;
    case OP_SYNC: snprintf(buf, size, "synchronize"); break;
    case OP_FENCE: snprintf(buf, size, "fence %d", dims[0]); break;
    case OP_CREATE: snprintf(buf, size, "backend creation"); break;
    default: snprintf(buf, size, "(no op)"); break;
    }
}

cs_status fail_common(cuda_ctx *c, const char *what, const char *stmt, const char *file, int line) {
    char op[256], last[320] = "";
    describe(c->cur_kind, &c->cur_conv, &c->cur_pool, c->cur_dims, c->cur_bytes, op, sizeof op);
    if (c->cur_kind == OP_SYNC || c->cur_kind == OP_DOWNLOAD || c->cur_kind == OP_FENCE) {
        // a fault inside an earlier kernel surfaces here: name the last op enqueued
        char d[200];
        describe(c->last_kind, &c->last_conv, &c->last_pool, c->last_dims, 0, d, sizeof d);
        snprintf(last, sizeof last, " (last op enqueued: %s; COPYSCOPE_CUDA_SYNC=1 locates faults)", d);
    }
    return cs_error_set(CS_E_DEVICE, file, line, "cuda:%d (%s): %s: %s failed: %s%s [%s:%d]", c->device,
                        c->gpu, op, stmt, what, last, file, line);
}

cs_status cuda_fail(cuda_ctx *c, cudaError_t e, const char *stmt, const char *file, int line) {
    (void)cudaGetLastError(); // reported here: not left for the next op's launch check to report again
    char what[256];
    snprintf(what, sizeof what, "%s (%s)%s", cudaGetErrorName(e), cudaGetErrorString(e),
             e == cudaErrorMemoryAllocation ? ": out of GPU memory (try a smaller --batch)" : "");
    return fail_common(c, what, stmt, file, line);
}

cs_status dnn_fail(cuda_ctx *c, cudnnStatus_t s, const char *stmt, const char *file, int line) {
    char detail[512] = "", what[700];
#if CUDNN_MAJOR >= 9
    cudnnGetLastErrorString(detail, sizeof detail);
#endif
    snprintf(what, sizeof what, "%s%s%s", cudnnGetErrorString(s), detail[0] ? ": " : "", detail);
    return fail_common(c, what, stmt, file, line);
}

#define CU_CHECK(c, stmt)                                                                          \
    do {                                                                                           \
        cudaError_t cu_e_ = (stmt);                                                                \
        if (cu_e_ != cudaSuccess) return cuda_fail((c), cu_e_, #stmt, __FILE__, __LINE__);         \
    } while (0)

#define DNN_CHECK(c, stmt)                                                                         \
    do {                                                                                           \
        cudnnStatus_t dnn_s_ = (stmt);                                                             \
        if (dnn_s_ != CUDNN_STATUS_SUCCESS) return dnn_fail((c), dnn_s_, #stmt, __FILE__, __LINE__); \
    } while (0)

#define TRY(stmt)                                                                                  \
    do {                                                                                           \
        cs_status try_s_ = (stmt);                                                                 \
        if (try_s_ != CS_OK) return try_s_;                                                        \
    } while (0)

cuda_ctx *ctx_of(cs_backend *be) { return (cuda_ctx *)be->ctx; }

void plan_destroy(conv_plan *pl);

// Every entry point: make this backend's device current for the calling thread (one process
// may drive several GPUs, one host thread each) and remember the op for messages.
cs_status enter(cuda_ctx *c, int kind) {
    if (c->released_err != cudaSuccess) { // an earlier free failed: say so, not "this op failed"
        const cudaError_t e = c->released_err;
        c->released_err = cudaSuccess;
        return cs_error_set(CS_E_DEVICE, __FILE__, c->released_line,
                            "cuda:%d (%s): an earlier release failed: %s: %s (%s) [%s:%d]", c->device, c->gpu,
                            c->released_stmt, cudaGetErrorName(e), cudaGetErrorString(e), __FILE__,
                            c->released_line);
    }
    c->cur_kind = kind;
    CU_CHECK(c, cudaSetDevice(c->device));
    return CS_OK;
}

// A release call's error (cs_cuda_released's rule, kernels/cuda_release.cuh), kept for the next
// entry point to report under its own name.
void released(cuda_ctx *c, cudaError_t e, const char *stmt, int line) {
    if (e == cudaSuccess) return;
    (void)cudaGetLastError();
    if (c->released_err == cudaSuccess) {
        c->released_err = e;
        c->released_stmt = stmt;
        c->released_line = line;
    }
}
#define RELEASED(c, stmt) released((c), (stmt), #stmt, __LINE__)

// After an op has been enqueued: check the launch, and in debug mode run it to completion.
cs_status leave(cuda_ctx *c) {
    c->last_kind = c->cur_kind;
    c->last_conv = c->cur_conv;
    c->last_pool = c->cur_pool;
    memcpy(c->last_dims, c->cur_dims, sizeof c->last_dims);
    // No cudaGetLastError() here: it would return the error of any earlier call and charge it to
    // this op. Every call of the op was checked where it was made (its launcher returns its own
    // launch's error, cuDNN returns a status); faults inside kernels show at synchronisation.
    if (c->sync_debug) CU_CHECK(c, cudaStreamSynchronize(c->stream));
    return CS_OK;
}

int env_int(const char *name, int def) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long v = strtol(s, &end, 10);
    return *end ? def : (int)v;
}

// ---- buffers ---------------------------------------------------------------------------------

// Grow a device buffer to at least `bytes` (contents are not kept). cudaFree waits for the
// device, so no op still in flight uses the old buffer.
cs_status grow(cuda_ctx *c, void **buf, size_t *cap, size_t bytes, const char *what) {
    if (bytes <= *cap && *buf) return CS_OK;
    if (*buf) {
        CU_CHECK(c, cudaStreamSynchronize(c->stream)); // ops in flight may still use it
        CU_CHECK(c, cudaFree(*buf));
    }
    *buf = NULL;
    *cap = 0;
    cudaError_t e = cudaMalloc(buf, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        *buf = NULL;
        char stmt[96];
        snprintf(stmt, sizeof stmt, "cudaMalloc(%s, %zu bytes)", what, bytes);
        return cuda_fail(c, e, stmt, __FILE__, __LINE__);
    }
    *cap = bytes;
    return CS_OK;
}

void cuda_free(cs_backend *be) {
    if (!be) return;
    cuda_ctx *c = ctx_of(be);
    if (c) {
        // the destructor: nobody to report to; every error is cleared (kernels/cuda_release.cuh)
        cs_cuda_released(cudaSetDevice(c->device));
        if (c->stream) cs_cuda_released(cudaStreamSynchronize(c->stream));
        if (c->copy) cs_cuda_released(cudaStreamSynchronize(c->copy));
        for (int i = 0; i < c->nplans; i++) plan_destroy(&c->plans[i]);
        free(c->plans);
        cs_cuda_released(cudaFree(c->ws));
        cs_cuda_released(cudaFree(c->scratch));
        cs_cuda_released(cudaFree(c->xh));
        for (int i = 0; i < c->nwc; i++) cs_cuda_released(cudaFree(c->wc[i].h));
        free(c->wc);
        free(c->allocs);
        if (c->relu) (void)cudnnDestroyActivationDescriptor(c->relu);
        if (c->dnn) (void)cudnnDestroy(c->dnn);
        for (int i = 0; i < CS_BACKEND_FENCES; i++)
            if (c->fence[i]) cs_cuda_released(cudaEventDestroy(c->fence[i]));
        if (c->copy) cs_cuda_released(cudaStreamDestroy(c->copy));
        if (c->stream) cs_cuda_released(cudaStreamDestroy(c->stream));
        cs_cuda_clear_released(); // what the cuDNN destroys left
        free(c);
    }
    free(be);
}

const char *cuda_device_name(cs_backend *be) { return ctx_of(be)->name; }

int cuda_supports(cs_backend *be, cs_op op, const void *params) {
    (void)be;
    if (op == CS_OP_MAXPOOL3 || op == CS_OP_AVGPOOL3) {
        const cs_pool_params *p = (const cs_pool_params *)params;
        return !p || (p->pad >= 0 && p->pad <= 2 && p->stride >= 1); // windows never empty
    }
    if (op == CS_OP_CONV2D) {
        const cs_conv2d_params *p = (const cs_conv2d_params *)params;
        return !p || (p->stride >= 1 && p->kh >= 1 && p->kw >= 1 && p->ph >= 0 && p->pw >= 0);
    }
    return op >= 0 && op < CS_OP_COUNT;
}

int cuda_preferred_batch(cs_backend *be) { return ctx_of(be)->batch; }

cs_status cuda_buffer_alloc(cs_backend *be, size_t bytes, void **out) {
    cuda_ctx *c = ctx_of(be);
    *out = NULL;
    TRY(enter(c, OP_ALLOC));
    c->cur_bytes = bytes;
    CU_CHECK(c, cudaMalloc(out, bytes ? bytes : 256));
    if (c->nallocs == c->allocs_cap) {
        const int cap = c->allocs_cap ? 2 * c->allocs_cap : 16;
        cuda_ctx::dev_alloc *na = (cuda_ctx::dev_alloc *)realloc(c->allocs, (size_t)cap * sizeof *na);
        if (!na) {
            cs_cuda_released(cudaFree(*out));
            *out = NULL;
            return cs_error_set(CS_E_NOMEM, __FILE__, __LINE__, "out of memory for the buffer list");
        }
        c->allocs = na;
        c->allocs_cap = cap;
    }
    c->allocs[c->nallocs].p = *out;
    c->allocs[c->nallocs++].bytes = bytes ? bytes : 256;
    if (c->poison) { // NaN everywhere: reads of never-written memory become visible
        cudaError_t e = cudaMemsetAsync(*out, 0xFF, bytes, c->stream);
        if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
        if (e != cudaSuccess) {
            cs_cuda_released(cudaFree(*out)); // the poison error is the one reported
            *out = NULL;
            return cuda_fail(c, e, "cudaMemsetAsync(poison)", __FILE__, __LINE__);
        }
    }
    return CS_OK;
}

void cuda_buffer_free(cs_backend *be, void *buf) {
    if (!buf) return;
    cuda_ctx *c = ctx_of(be);
    // errors here cannot be returned: kept and reported by the next entry point as a failed
    // release, not charged to that op (RELEASED)
    RELEASED(c, cudaSetDevice(c->device));
    RELEASED(c, cudaStreamSynchronize(c->copy)); // copies and ops in flight may still use it
    RELEASED(c, cudaStreamSynchronize(c->stream));
    RELEASED(c, cudaFree(buf));
    // float16 weight copies made from inside this buffer are stale now
    size_t lo = 0, hi = SIZE_MAX; // unknown buffer: drop them all
    for (int i = 0; i < c->nallocs; i++)
        if (c->allocs[i].p == buf) {
            lo = (size_t)buf;
            hi = lo + c->allocs[i].bytes;
            c->allocs[i] = c->allocs[--c->nallocs];
            break;
        }
    for (int i = 0; i < c->nwc;)
        if ((size_t)c->wc[i].w >= lo && (size_t)c->wc[i].w < hi) {
            RELEASED(c, cudaFree(c->wc[i].h));
            c->wc[i] = c->wc[--c->nwc];
        } else {
            i++;
        }
}

// One copy on a stream; sync: wait for it (the host buffer may then be reused / is filled).
cs_status cuda_copy(cs_backend *be, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, int copy_queue,
                    int sync) {
    cuda_ctx *c = ctx_of(be);
    if (!bytes) return CS_OK;
    TRY(enter(c, kind == cudaMemcpyHostToDevice ? OP_UPLOAD : OP_DOWNLOAD));
    c->cur_bytes = bytes;
    cudaStream_t stream = copy_queue ? c->copy : c->stream;
    CU_CHECK(c, cudaMemcpyAsync(dst, src, bytes, kind, stream));
    if (sync) CU_CHECK(c, cudaStreamSynchronize(stream));
    return CS_OK;
}

cs_status cuda_upload(cs_backend *be, void *dst, const void *src, size_t bytes) {
    return cuda_copy(be, dst, src, bytes, cudaMemcpyHostToDevice, 0, 1);
}

cs_status cuda_download(cs_backend *be, void *dst, const void *src, size_t bytes) {
    return cuda_copy(be, dst, src, bytes, cudaMemcpyDeviceToHost, 0, 1);
}

// ---- asynchronous transfers and fences (the model's two-batch pipeline, backend.h) -----------

cs_status cuda_upload_async(cs_backend *be, void *dst, const void *src, size_t bytes) {
    return cuda_copy(be, dst, src, bytes, cudaMemcpyHostToDevice, 1, 0);
}

cs_status cuda_download_async(cs_backend *be, void *dst, const void *src, size_t bytes) {
    return cuda_copy(be, dst, src, bytes, cudaMemcpyDeviceToHost, 0, 0);
}

cs_status cuda_fence_check(cuda_ctx *c, int fence) {
    c->cur_dims[0] = fence;
    TRY(enter(c, OP_FENCE));
    if (fence < 0 || fence >= CS_BACKEND_FENCES)
        return cs_error_set(CS_E_INTERNAL, __FILE__, __LINE__, "cuda:%d: fence %d out of range", c->device, fence);
    return CS_OK;
}

cs_status cuda_fence_record(cs_backend *be, int fence, int queue) {
    cuda_ctx *c = ctx_of(be);
    TRY(cuda_fence_check(c, fence));
    CU_CHECK(c, cudaEventRecord(c->fence[fence], queue == CS_QUEUE_COPY ? c->copy : c->stream));
    return CS_OK;
}

cs_status cuda_queue_wait(cs_backend *be, int queue, int fence) {
    cuda_ctx *c = ctx_of(be);
    TRY(cuda_fence_check(c, fence));
    CU_CHECK(c, cudaStreamWaitEvent(queue == CS_QUEUE_COPY ? c->copy : c->stream, c->fence[fence], 0));
    return CS_OK;
}

cs_status cuda_fence_wait(cs_backend *be, int fence) {
    cuda_ctx *c = ctx_of(be);
    TRY(cuda_fence_check(c, fence));
    CU_CHECK(c, cudaEventSynchronize(c->fence[fence])); // returns the faults of the work it waited for
    return CS_OK;
}

// Page-locked host memory for batches to upload (the scheduler's batch slots): portable, so
// pinned for every device of the process whichever thread or device allocated it.
cs_status cuda_host_alloc(cs_backend *be, size_t bytes, void **out) {
    cuda_ctx *c = ctx_of(be);
    *out = NULL;
    TRY(enter(c, OP_ALLOC));
    c->cur_bytes = bytes;
    CU_CHECK(c, cudaHostAlloc(out, bytes ? bytes : 256, cudaHostAllocPortable));
    return CS_OK;
}

void cuda_host_free(cs_backend *be, void *p) {
    if (p) RELEASED(ctx_of(be), cudaFreeHost(p)); // reported by the next entry point
}

cs_status cuda_synchronize(cs_backend *be) {
    cuda_ctx *c = ctx_of(be);
    TRY(enter(c, OP_SYNC));
    CU_CHECK(c, cudaStreamSynchronize(c->stream)); // returns the faults of the work it waited for
    return CS_OK;
}

// ---- convolution -------------------------------------------------------------------------------

size_t conv_out_elems(const cs_conv2d_params *p) { return (size_t)p->n * p->cout * p->hout * p->wout; }

// fp16: the float16 copy of a layer's weights w (count values), made on first use and kept
// (round to nearest, cs_cuda_f32_to_f16, enqueued on the compute stream before its first use).
cudaError_t fp16_weights(cuda_ctx *c, const float *w, size_t count, const __half **out) {
    for (int i = 0; i < c->nwc; i++)
        if (c->wc[i].w == w && c->wc[i].count == count) {
            *out = c->wc[i].h;
            return cudaSuccess;
        }
    if (c->nwc == c->wc_cap) {
        const int cap = c->wc_cap ? 2 * c->wc_cap : 128; // 94 layers
        cuda_ctx::half_weights *n = (cuda_ctx::half_weights *)realloc(c->wc, (size_t)cap * sizeof *n);
        if (!n) return cudaErrorMemoryAllocation;
        c->wc = n;
        c->wc_cap = cap;
    }
    __half *h = NULL;
    cudaError_t e = cudaMalloc(&h, count * sizeof(__half));
    if (e != cudaSuccess) return e;
    if ((e = cs_cuda_f32_to_f16(c->stream, w, h, count)) != cudaSuccess) {
        cs_cuda_released(cudaFree(h)); // e is the error reported
        return e;
    }
    c->wc[c->nwc].w = w;
    c->wc[c->nwc].count = count;
    c->wc[c->nwc++].h = h;
    *out = h;
    return cudaSuccess;
}

// Enqueue one convolution with a made plan. Returns the cuDNN status (NOT_SUPPORTED etc. while
// a plan is being validated); failures of our own kernels go to *kerr.
cudnnStatus_t conv_exec(cuda_ctx *c, const conv_plan *pl, const cs_conv2d_params *p, const float *x,
                        const float *w, const float *bias, float *y, cudaError_t *kerr) {
    const float one = 1.0f, zero = 0.0f;
    const size_t hw = (size_t)p->hout * p->wout;
    float *yslice = y + (size_t)p->out_c_offset * hw; // strided descriptor takes it from there
    *kerr = cudaSuccess;
    cudnnStatus_t s;
    if (c->precision == PREC_FP16) {
        const size_t nx = (size_t)p->n * p->cin * p->h * p->w, nw = (size_t)p->cout * p->cin * p->kh * p->kw;
        const __half *wh = NULL;
        if ((*kerr = fp16_weights(c, w, nw, &wh)) != cudaSuccess) return CUDNN_STATUS_SUCCESS;
        if ((*kerr = cs_cuda_f32_to_f16(c->stream, x, c->xh, nx)) != cudaSuccess) return CUDNN_STATUS_SUCCESS;
        s = cudnnConvolutionForward(c->dnn, &one, pl->xd, c->xh, pl->wd, wh, pl->cd, pl->algo, c->ws,
                                    pl->ws_bytes, &zero, pl->yd, c->scratch);
        if (s == CUDNN_STATUS_SUCCESS)
            *kerr = cs_cuda_bias_act_scatter_f16(c->stream, p, (const __half *)c->scratch, bias, y);
        return s;
    }
    switch (pl->path) {
    case PATH_FUSED:
        // y = relu(1 * conv(x) + 0 * z + bias); z = y is not read with alpha2 = 0
        s = cudnnConvolutionBiasActivationForward(c->dnn, &one, pl->xd, x, pl->wd, w, pl->cd, pl->algo,
                                                  c->ws, pl->ws_bytes, &zero, pl->yd, yslice, pl->bd,
                                                  bias, c->relu, pl->yd, yslice);
        return s;
    case PATH_SLICE:
        s = cudnnConvolutionForward(c->dnn, &one, pl->xd, x, pl->wd, w, pl->cd, pl->algo, c->ws,
                                    pl->ws_bytes, &zero, pl->yd, yslice);
        if (s == CUDNN_STATUS_SUCCESS) *kerr = cs_cuda_bias_act_slice(c->stream, p, bias, y);
        return s;
    default:
        s = cudnnConvolutionForward(c->dnn, &one, pl->xd, x, pl->wd, w, pl->cd, pl->algo, c->ws,
                                    pl->ws_bytes, &zero, pl->yd, c->scratch);
        if (s == CUDNN_STATUS_SUCCESS)
            *kerr = cs_cuda_bias_act_scatter_f32(c->stream, p, (const float *)c->scratch, bias, y);
        return s;
    }
}

// Descriptor destroys free host memory only (no CUDA call): their status is ignored.
void plan_destroy(conv_plan *pl) {
    if (pl->xd) (void)cudnnDestroyTensorDescriptor(pl->xd);
    if (pl->yd) (void)cudnnDestroyTensorDescriptor(pl->yd);
    if (pl->bd) (void)cudnnDestroyTensorDescriptor(pl->bd);
    if (pl->wd) (void)cudnnDestroyFilterDescriptor(pl->wd);
    if (pl->cd) (void)cudnnDestroyConvolutionDescriptor(pl->cd);
    memset(pl, 0, sizeof *pl);
}

// Descriptors of a plan for one path (y descriptor: the strided slice or the contiguous scratch).
cs_status plan_descriptors(cuda_ctx *c, conv_plan *pl, const cs_conv2d_params *p, int path) {
    const cudnnDataType_t dt = c->precision == PREC_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    if (!pl->xd) {
        DNN_CHECK(c, cudnnCreateTensorDescriptor(&pl->xd));
        DNN_CHECK(c, cudnnCreateTensorDescriptor(&pl->yd));
        DNN_CHECK(c, cudnnCreateTensorDescriptor(&pl->bd));
        DNN_CHECK(c, cudnnCreateFilterDescriptor(&pl->wd));
        DNN_CHECK(c, cudnnCreateConvolutionDescriptor(&pl->cd));
        DNN_CHECK(c, cudnnSetTensor4dDescriptor(pl->xd, CUDNN_TENSOR_NCHW, dt, p->n, p->cin, p->h, p->w));
        DNN_CHECK(c, cudnnSetFilter4dDescriptor(pl->wd, dt, CUDNN_TENSOR_NCHW, p->cout, p->cin, p->kh, p->kw));
        DNN_CHECK(c, cudnnSetTensor4dDescriptor(pl->bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, p->cout, 1, 1));
        // compute type float in every mode: fp32 accumulation (fp16: cuDNN's PSEUDO_HALF config)
        DNN_CHECK(c, cudnnSetConvolution2dDescriptor(pl->cd, p->ph, p->pw, p->stride, p->stride, 1, 1,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        // cuDNN's own idea of the output shape must agree with ours
        int on, oc, oh, ow;
        DNN_CHECK(c, cudnnGetConvolution2dForwardOutputDim(pl->cd, pl->xd, pl->wd, &on, &oc, &oh, &ow));
        if (on != p->n || oc != p->cout || oh != p->hout || ow != p->wout)
            return cs_error_set(CS_E_INTERNAL, __FILE__, __LINE__,
                                "cuda:%d: conv2d output %dx%dx%dx%d from cuDNN, %dx%dx%dx%d expected",
                                c->device, on, oc, oh, ow, p->n, p->cout, p->hout, p->wout);
    }
    // the heuristics are asked under the mode's math type (fp32: FMA only, no TF32)
    const cudnnMathType_t math = c->precision == PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    DNN_CHECK(c, cudnnSetConvolutionMathType(pl->cd, math));
    const int hw = p->hout * p->wout;
    if (path == PATH_SCRATCH)
        DNN_CHECK(c, cudnnSetTensor4dDescriptor(pl->yd, CUDNN_TENSOR_NCHW, dt, p->n, p->cout, p->hout, p->wout));
    else
        DNN_CHECK(c, cudnnSetTensor4dDescriptorEx(pl->yd, dt, p->n, p->cout, p->hout, p->wout,
                                                  p->out_c_total * hw, hw, p->wout, 1));
    pl->path = path;
    return CS_OK;
}

// A refusal of this algorithm/layout for this geometry (try the next one), as opposed to a
// failure (reported at once): kernels/cudnn_status_class.h. BAD_PARAM is no refusal: wrong
// parameters are a descriptor bug, and reported as one (dnn_fail_call).
int refused(cudnnStatus_t s) { return cs_cudnn_status_class((int)s, CUDNN_MAJOR) == CS_DNN_REFUSED; }

// A failed cuDNN call of the plan search, named for what it is.
cs_status dnn_fail_call(cuda_ctx *c, cudnnStatus_t s, const char *call, const char *file, int line) {
    char stmt[200];
    if (cs_cudnn_status_class((int)s, CUDNN_MAJOR) == CS_DNN_BAD_PARAM)
        snprintf(stmt, sizeof stmt, "%s (parameters rejected: a descriptor error, not an algorithm refusal)", call);
    else
        snprintf(stmt, sizeof stmt, "%s", call);
    return dnn_fail(c, s, stmt, file, line);
}

// Append to the list of what plan_make tried (for its error message); truncates silently.
void tried_add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tried_add(char *buf, size_t size, const char *fmt, ...) {
    const size_t len = strlen(buf);
    if (len + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

int math_allowed(const cuda_ctx *c, cudnnMathType_t m) {
    if (c->precision == PREC_FP32) return m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
    return m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION || c->precision == PREC_FP16;
}

// Set the plan up for one heuristics entry: math type, workspace (grown). *usable = 0 when the
// entry is not for this mode or needs more workspace than allowed (noted in tried).
cs_status plan_candidate(cuda_ctx *c, conv_plan *pl, int path, const cudnnConvolutionFwdAlgoPerf_t *pf, char *tried,
                         size_t tried_size, int *usable) {
    *usable = 0;
    if (pf->status != CUDNN_STATUS_SUCCESS || !math_allowed(c, pf->mathType)) return CS_OK;
    // fp32: always FMA math, whatever the heuristics' entry says (no TF32)
    const cudnnMathType_t math = c->precision == PREC_FP32 ? CUDNN_FMA_MATH : pf->mathType;
    if (cudnnSetConvolutionMathType(pl->cd, math) != CUDNN_STATUS_SUCCESS) return CS_OK; // host-side: not this entry
    size_t need = pf->memory;
    size_t q = 0;
    // the perf entry's size is the answer; this query only ever raises it (its failure leaves the
    // entry's size, and the execution validates the pair)
    if (cudnnGetConvolutionForwardWorkspaceSize(c->dnn, pl->xd, pl->wd, pl->cd, pl->yd, pf->algo, &q) ==
            CUDNN_STATUS_SUCCESS && q > need)
        need = q;
    if (need > c->ws_limit) {
        tried_add(tried, tried_size, " %s/algo%d: workspace %zu MB over the limit;", kPathNames[path], (int)pf->algo,
                  need >> 20);
        return CS_OK;
    }
    TRY(grow(c, &c->ws, &c->ws_cap, need, "cuDNN workspace"));
    pl->algo = pf->algo;
    pl->math = math;
    pl->ws_bytes = need;
    *usable = 1;
    return CS_OK;
}

// Find mode: time each usable candidate (1 warm-up + 3 timed runs of conv_exec, the call that
// will run) and keep them in order of time; refused ones drop out. Writes y (the real op, run
// by the caller afterwards, overwrites it).
cs_status plan_benchmark(cuda_ctx *c, conv_plan *pl, const cs_conv2d_params *p, int path, const float *x,
                         const float *w, const float *bias, float *y, cudnnConvolutionFwdAlgoPerf_t *perf, int *nperf,
                         char *tried, size_t tried_size) {
    cudaEvent_t ev[2] = {NULL, NULL};
    cs_status st = CS_OK;
    cudaError_t e = cudaEventCreate(&ev[0]);
    if (e == cudaSuccess) e = cudaEventCreate(&ev[1]);
    if (e != cudaSuccess) st = cuda_fail(c, e, "cudaEventCreate (find mode)", __FILE__, __LINE__);
    int kept = 0;
    for (int k = 0; k < *nperf && st == CS_OK; k++) {
        int usable = 0;
        if ((st = plan_candidate(c, pl, path, &perf[k], tried, tried_size, &usable)) != CS_OK || !usable) continue;
        cudaError_t kerr = cudaSuccess;
        cudnnStatus_t s = conv_exec(c, pl, p, x, w, bias, y, &kerr); // warm-up (and validation)
        float ms = 0.0f;
        for (int r = 0; r < 3 && s == CUDNN_STATUS_SUCCESS && kerr == cudaSuccess; r++) {
            if ((e = cudaEventRecord(ev[0], c->stream)) != cudaSuccess) break;
            s = conv_exec(c, pl, p, x, w, bias, y, &kerr);
            if (s != CUDNN_STATUS_SUCCESS || kerr != cudaSuccess) break;
            float t = 0.0f;
            if ((e = cudaEventRecord(ev[1], c->stream)) != cudaSuccess || (e = cudaEventSynchronize(ev[1])) != cudaSuccess ||
                (e = cudaEventElapsedTime(&t, ev[0], ev[1])) != cudaSuccess)
                break;
            ms += t;
        }
        if (e != cudaSuccess) st = cuda_fail(c, e, "timing a convolution (find mode)", __FILE__, __LINE__);
        else if (kerr != cudaSuccess) st = cuda_fail(c, kerr, "conv2d fp16 conversion or epilogue kernel", __FILE__, __LINE__);
        else if (s != CUDNN_STATUS_SUCCESS && refused(s))
            tried_add(tried, tried_size, " %s/algo%d: %s;", kPathNames[path], (int)perf[k].algo, cudnnGetErrorString(s));
        else if (s != CUDNN_STATUS_SUCCESS) st = dnn_fail_call(c, s, kPathCalls[path], __FILE__, __LINE__);
        else {
            perf[kept] = perf[k];
            perf[kept].time = ms / 3.0f;
            kept++;
        }
    }
    for (int i = 1; i < kept; i++) // insertion sort by time: at most 8 entries
        for (int j = i; j > 0 && perf[j].time < perf[j - 1].time; j--) {
            cudnnConvolutionFwdAlgoPerf_t t = perf[j];
            perf[j] = perf[j - 1];
            perf[j - 1] = t;
        }
    *nperf = st == CS_OK ? kept : 0;
    for (int i = 0; i < 2; i++)
        if (ev[i]) cs_cuda_released(cudaEventDestroy(ev[i])); // nothing to report beyond st
    return st;
}

// Make, validate (by running it: this is the op itself) and store the plan for p.
cs_status plan_make(cuda_ctx *c, const cs_conv2d_params *p, const float *x, const float *w,
                    const float *bias, float *y, conv_plan **out) {
    conv_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.key = *p;
    char tried[1024] = "";
    cs_status st = CS_OK;
    int found = 0;
    for (int path = 0; path < PATH_COUNT && !found && st == CS_OK; path++) {
        if (c->precision == PREC_FP16 && path != PATH_SCRATCH) continue;
        if (path == PATH_FUSED && !p->relu) continue; // IDENTITY: one algorithm only; slice is as good
        if (c->forced_path >= 0 && path != c->forced_path) continue;
        if ((st = plan_descriptors(c, &pl, p, path)) != CS_OK) break;
        const size_t out_elems = conv_out_elems(p);
        if (path == PATH_SCRATCH) {
            const size_t esz = c->precision == PREC_FP16 ? sizeof(__half) : sizeof(float);
            if ((st = grow(c, &c->scratch, &c->scratch_cap, out_elems * esz, "conv scratch")) != CS_OK) break;
        }
        if (c->precision == PREC_FP16) { // the input's float16 copy (the weights': once, fp16_weights)
            size_t nx = (size_t)p->n * p->cin * p->h * p->w;
            if ((st = grow(c, (void **)&c->xh, &c->xh_cap, nx * sizeof(__half), "fp16 input")) != CS_OK) break;
        }
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int nperf = 0;
        {
            cudnnStatus_t s = cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, pl.xd, pl.wd, pl.cd, pl.yd,
                                                                     CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &nperf, perf);
            if (refused(s)) {
                tried_add(tried, sizeof tried, " %s: %s;", kPathNames[path], cudnnGetErrorString(s));
                continue;
            }
            if (s != CUDNN_STATUS_SUCCESS) {
                st = dnn_fail_call(c, s, "cudnnGetConvolutionForwardAlgorithm_v7", __FILE__, __LINE__);
                break;
            }
        }
        // COPYSCOPE_CUDNN_FIND=1: time every candidate on the call that will run (conv_exec: the
        // fused call on the fused path, the fp16 conversion of the input and the epilogue
        // included), not cuDNN's plain convolution on unconverted buffers; fastest first.
        if (c->find_mode && (st = plan_benchmark(c, &pl, p, path, x, w, bias, y, perf, &nperf, tried,
                                                 sizeof tried)) != CS_OK)
            break;
        for (int k = 0; k < nperf && !found; k++) {
            const cudnnConvolutionFwdAlgoPerf_t *pf = &perf[k];
            int usable = 0;
            if ((st = plan_candidate(c, &pl, path, pf, tried, sizeof tried, &usable)) != CS_OK) break;
            if (!usable) continue;
            cudaError_t kerr;
            cudnnStatus_t s = conv_exec(c, &pl, p, x, w, bias, y, &kerr);
            if (s == CUDNN_STATUS_SUCCESS && kerr == cudaSuccess) {
                found = 1;
            } else if (kerr != cudaSuccess) {
                st = cuda_fail(c, kerr, "conv2d fp16 conversion or epilogue kernel", __FILE__, __LINE__);
            } else if (refused(s)) {
                tried_add(tried, sizeof tried, " %s/algo%d: %s;", kPathNames[path], (int)pf->algo,
                          cudnnGetErrorString(s));
            } else {
                st = dnn_fail_call(c, s, kPathCalls[path], __FILE__, __LINE__);
            }
            if (st != CS_OK) break;
        }
    }
    if (st == CS_OK && !found) {
        char op[256];
        describe(OP_CONV, p, NULL, NULL, 0, op, sizeof op);
        st = cs_error_set(CS_E_DEVICE, __FILE__, __LINE__,
                          "cuda:%d (%s): %s: no cuDNN algorithm accepted it (%s) [precision %s%s%s]", c->device,
                          c->gpu, op, tried[0] ? tried + 1 : "none tried", kPrecisionNames[c->precision],
                          c->forced_path >= 0 ? ", COPYSCOPE_CUDA_CONV_PATH=" : "",
                          c->forced_path >= 0 ? kPathNames[c->forced_path] : "");
    }
    if (st != CS_OK) {
        plan_destroy(&pl);
        return st;
    }
    if (c->nplans == c->plans_cap) {
        int cap = c->plans_cap ? 2 * c->plans_cap : 128;
        conv_plan *np = (conv_plan *)realloc(c->plans, (size_t)cap * sizeof *np);
        if (!np) {
            plan_destroy(&pl);
            return cs_error_set(CS_E_NOMEM, __FILE__, __LINE__, "out of memory for cuDNN plans");
        }
        c->plans = np;
        c->plans_cap = cap;
    }
    c->plans[c->nplans] = pl;
    *out = &c->plans[c->nplans++];
    if (c->verbose) {
        char op[256];
        describe(OP_CONV, p, NULL, NULL, 0, op, sizeof op);
        // "tensor cores yes": the algorithm entry cuDNN chose runs with tensor-op math (TF32 on
        // float32 data, float16 in fp16 mode); tests/test_gpu_features.c check 4 counts these lines
        const int tc = pl.math == CUDNN_TENSOR_OP_MATH || pl.math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
        fprintf(stderr,
                "copyscope cuda:%d plan %d: %s: path %s, algo %d, math %s, tensor cores %s, workspace %zu bytes%s\n",
                c->device, c->nplans, op, kPathNames[pl.path], (int)pl.algo,
                pl.math == CUDNN_FMA_MATH ? "FMA" : pl.math == CUDNN_TENSOR_OP_MATH ? "TENSOR_OP"
                : pl.math == CUDNN_DEFAULT_MATH ? "DEFAULT" : "TENSOR_OP_ALLOW_CONVERSION",
                tc ? "yes" : "no", pl.ws_bytes, c->find_mode ? " (timed: find mode)" : "");
    }
    return CS_OK;
}

cs_status cuda_conv2d(cs_backend *be, const cs_conv2d_params *p, const float *x, const float *w,
                      const float *bias, float *y) {
    cuda_ctx *c = ctx_of(be);
    c->cur_conv = *p;
    TRY(enter(c, OP_CONV));
    if (p->n <= 0 || p->cout <= 0 || p->hout <= 0 || p->wout <= 0) return CS_OK;
    if (p->out_c_offset < 0 || p->out_c_offset + p->cout > p->out_c_total)
        return cs_error_set(CS_E_INTERNAL, __FILE__, __LINE__, "cuda:%d: conv2d slice %d+%d outside %d channels",
                            c->device, p->out_c_offset, p->cout, p->out_c_total);
    conv_plan *pl = NULL;
    for (int i = c->nplans - 1; i >= 0 && !pl; i--) // newest first: the current batch shape
        if (!memcmp(&c->plans[i].key, p, sizeof *p)) pl = &c->plans[i];
    if (!pl) {
        TRY(plan_make(c, p, x, w, bias, y, &pl)); // also runs the op
    } else {
        cudaError_t kerr;
        cudnnStatus_t s = conv_exec(c, pl, p, x, w, bias, y, &kerr);
        if (s != CUDNN_STATUS_SUCCESS) return dnn_fail_call(c, s, kPathCalls[pl->path], __FILE__, __LINE__);
        if (kerr != cudaSuccess)
            return cuda_fail(c, kerr, "conv2d fp16 conversion or epilogue kernel", __FILE__, __LINE__);
    }
    return leave(c);
}

// ---- pools, preprocessing ------------------------------------------------------------------------

cs_status cuda_pool(cs_backend *be, const cs_pool_params *p, const float *x, float *y, int is_max) {
    cuda_ctx *c = ctx_of(be);
    c->cur_pool = *p;
    TRY(enter(c, is_max ? OP_MAXPOOL : OP_AVGPOOL));
    if (!cuda_supports(be, is_max ? CS_OP_MAXPOOL3 : CS_OP_AVGPOOL3, p))
        return cs_error_set(CS_E_UNSUPPORTED, __FILE__, __LINE__, "cuda:%d: 3x3 pool with pad %d stride %d",
                            c->device, p->pad, p->stride);
    CU_CHECK(c, is_max ? cs_cuda_maxpool3(c->stream, p, x, y) : cs_cuda_avgpool3(c->stream, p, x, y));
    return leave(c);
}

cs_status cuda_maxpool3(cs_backend *be, const cs_pool_params *p, const float *x, float *y) {
    return cuda_pool(be, p, x, y, 1);
}

cs_status cuda_avgpool3(cs_backend *be, const cs_pool_params *p, const float *x, float *y) {
    return cuda_pool(be, p, x, y, 0);
}

cs_status cuda_global_avgpool(cs_backend *be, int n, int ch, int h, int w, const float *x, float *y) {
    cuda_ctx *c = ctx_of(be);
    c->cur_dims[0] = n, c->cur_dims[1] = ch, c->cur_dims[2] = h, c->cur_dims[3] = w;
    TRY(enter(c, OP_GAP));
    CU_CHECK(c, cs_cuda_global_avgpool(c->stream, n, ch, h, w, x, y));
    return leave(c);
}

cs_status cuda_preprocess_rgb(cs_backend *be, const uint8_t *rgb, int width, int height, float *out) {
    cuda_ctx *c = ctx_of(be);
    c->cur_dims[0] = width, c->cur_dims[1] = height;
    TRY(enter(c, OP_PREPROCESS));
    if (!rgb || !out || width < 1 || height < 1)
        return cs_error_set(CS_E_USAGE, __FILE__, __LINE__, "preprocess: bad image (%dx%d)", width, height);
    CU_CHECK(c, cs_cuda_preprocess_rgb(c->stream, rgb, width, height, out));
    return leave(c);
}

const cs_backend_i cuda_iface = {
    /* name */ "cuda",
    /* free */ cuda_free,
    /* device_name */ cuda_device_name,
    /* supports */ cuda_supports,
    /* preferred_batch */ cuda_preferred_batch,
    /* max_workers */ NULL, // batches run as one stream of ops; no worker mode
    /* workers_begin */ NULL,
    /* workers_end */ NULL,
    /* buffer_alloc */ cuda_buffer_alloc,
    /* buffer_free */ cuda_buffer_free,
    /* upload */ cuda_upload,
    /* download */ cuda_download,
    /* synchronize */ cuda_synchronize,
    /* conv2d */ cuda_conv2d,
    /* maxpool3 */ cuda_maxpool3,
    /* avgpool3 */ cuda_avgpool3,
    /* global_avgpool */ cuda_global_avgpool,
    /* preprocess_rgb */ cuda_preprocess_rgb,
    /* host_alloc */ cuda_host_alloc,
    /* host_free */ cuda_host_free,
    /* upload_async */ cuda_upload_async,
    /* download_async */ cuda_download_async,
    /* fence_record */ cuda_fence_record,
    /* queue_wait */ cuda_queue_wait,
    /* fence_wait */ cuda_fence_wait,
};

int parse_precision(const char *s) {
    if (!s || !strcmp(s, "fp32")) return PREC_FP32;
    if (!strcmp(s, "tf32")) return PREC_TF32;
    if (!strcmp(s, "fp16")) return PREC_FP16;
    return -1;
}

} // namespace

extern "C" cs_status cs_backend_cuda_create_ex(int device, const char *precision, cs_backend **out) {
    *out = NULL;
    const int prec = parse_precision(precision);
    if (prec < 0)
        return cs_error_set(CS_E_USAGE, __FILE__, __LINE__, "unknown precision '%s' (expected fp32, tf32 or fp16)",
                            precision);
    const int ngpu = cs_cuda_device_count();
    if (device < 0 || device >= ngpu)
        return cs_error_set(CS_E_UNSUPPORTED, __FILE__, __LINE__, "device cuda:%d: %d CUDA GPU(s) on this machine",
                            device, ngpu);
    cs_backend *be = (cs_backend *)calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return cs_error_set(CS_E_NOMEM, __FILE__, __LINE__, "out of memory creating the CUDA backend");
    }
    be->iface = &cuda_iface;
    be->ctx = c;
    c->device = device;
    c->precision = prec;
    snprintf(c->gpu, sizeof c->gpu, "GPU %d", device);
    c->cur_kind = OP_CREATE;
    c->sync_debug = env_int("COPYSCOPE_CUDA_SYNC", 0);
    c->poison = env_int("COPYSCOPE_CUDA_POISON", 0);
    c->find_mode = env_int("COPYSCOPE_CUDNN_FIND", 0);
    c->verbose = env_int("COPYSCOPE_CUDA_VERBOSE", 0);
    c->batch = env_int("COPYSCOPE_CUDA_BATCH", 64);
    if (c->batch < 1) c->batch = 1;
    int ws_mb = env_int("COPYSCOPE_CUDNN_WORKSPACE_MB", 1024);
    c->ws_limit = (size_t)(ws_mb > 0 ? ws_mb : 0) << 20;
    c->forced_path = -1;
    const char *fp = getenv("COPYSCOPE_CUDA_CONV_PATH");
    for (int i = 0; fp && *fp && i < PATH_COUNT; i++)
        if (!strcmp(fp, kPathNames[i])) c->forced_path = i;
    if (fp && *fp && c->forced_path < 0) {
        free(c);
        free(be);
        return cs_error_set(CS_E_USAGE, __FILE__, __LINE__,
                            "COPYSCOPE_CUDA_CONV_PATH=%s: expected fused, slice or scratch", fp);
    }

    cs_status st = CS_OK;
    cudaDeviceProp prop;
    size_t free_b = 0, total_b = 0;
    const size_t rt_dnn = cudnnGetVersion();
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) {
        st = cuda_fail(c, e, "cudaGetDeviceProperties", __FILE__, __LINE__);
        goto fail;
    }
    snprintf(c->gpu, sizeof c->gpu, "%s", prop.name);
    c->cc_major = prop.major;
    c->cc_minor = prop.minor;
    if (rt_dnn / 10000 != CUDNN_MAJOR && rt_dnn / 1000 != CUDNN_MAJOR) { // 9.x: 90xxx; 8.x: 8xxx
        st = cs_error_set(CS_E_UNSUPPORTED, __FILE__, __LINE__,
                          "cuda:%d: the cuDNN library loaded is version %zu, this build needs major %d "
                          "(check LD_LIBRARY_PATH)", device, rt_dnn, CUDNN_MAJOR);
        goto fail;
    }
    e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking);
    for (int i = 0; i < CS_BACKEND_FENCES && e == cudaSuccess; i++)
        e = cudaEventCreateWithFlags(&c->fence[i], cudaEventDisableTiming);
    if (e != cudaSuccess) {
        st = cuda_fail(c, e, "cudaStreamCreateWithFlags/cudaEventCreateWithFlags", __FILE__, __LINE__);
        goto fail;
    }
    {
        cudnnStatus_t s = cudnnCreate(&c->dnn);
        if (s == CUDNN_STATUS_SUCCESS) s = cudnnSetStream(c->dnn, c->stream);
        if (s == CUDNN_STATUS_SUCCESS) s = cudnnCreateActivationDescriptor(&c->relu);
        if (s == CUDNN_STATUS_SUCCESS)
            s = cudnnSetActivationDescriptor(c->relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0);
        if (s != CUDNN_STATUS_SUCCESS) {
            st = dnn_fail(c, s, "cudnnCreate/cudnnSetStream/activation descriptor", __FILE__, __LINE__);
            goto fail;
        }
    }
    e = cudaMemGetInfo(&free_b, &total_b);
    if (e != cudaSuccess) {
        st = cuda_fail(c, e, "cudaMemGetInfo", __FILE__, __LINE__);
        goto fail;
    }
    {
        // Images per forward chunk: COPYSCOPE_CUDA_BATCH (default 64), bounded so that no tensor
        // exceeds cuDNN's 2^31 - 1 elements (1552 images at Conv2d_2b's 64x147x147 output) and the
        // chunk's activations fit 90% of the free memory less the cuDNN workspace limit and
        // 256 MiB for weights and plans (host/net/inception_arch.c, cs_inception_batch_limit).
        const size_t reserve = c->ws_limit + ((size_t)256 << 20), budget = free_b / 10 * 9;
        const int bound = cs_inception_batch_limit((size_t)INT32_MAX, budget > reserve ? budget - reserve : 0,
                                                   prec == PREC_FP16);
        c->batch_bound = bound;
        if (c->batch > bound) {
            if (c->verbose)
                fprintf(stderr, "copyscope cuda:%d: COPYSCOPE_CUDA_BATCH=%d bounded to %d images per chunk\n",
                        device, c->batch, bound);
            c->batch = bound;
        }
    }
    {
        const char *tf = getenv("NVIDIA_TF32_OVERRIDE");
        int rt = 0, drv = 0;
        e = cudaRuntimeGetVersion(&rt);
        if (e == cudaSuccess) e = cudaDriverGetVersion(&drv);
        if (e != cudaSuccess) {
            st = cuda_fail(c, e, "cudaRuntimeGetVersion/cudaDriverGetVersion", __FILE__, __LINE__);
            goto fail;
        }
        snprintf(c->name, sizeof c->name,
                 "%s (cuda:%d, sm_%d%d, %.1f GiB, CUDA runtime %d driver %d, cuDNN %zu, %s, chunk %d of at most %d%s)",
                 prop.name, device, prop.major, prop.minor, (double)total_b / (1024.0 * 1024.0 * 1024.0), rt, drv,
                 rt_dnn, kPrecisionNames[prec], c->batch, c->batch_bound,
                 prec == PREC_TF32 && tf && !strcmp(tf, "0") ? ", TF32 disabled by NVIDIA_TF32_OVERRIDE=0" : "");
    }
    *out = be;
    return CS_OK;
fail:
    cuda_free(be);
    return st;
}

#else // !COPYSCOPE_HAVE_CUDNN: the module exists (GPU math) but has no cuda backend

extern "C" cs_status cs_backend_cuda_create_ex(int device, const char *precision, cs_backend **out) {
    (void)precision;
    *out = NULL;
    return cs_error_set(CS_E_UNSUPPORTED, __FILE__, __LINE__,
                        "device cuda:%d: this CUDA module was built without cuDNN (no cuda backend)", device);
}

#endif // COPYSCOPE_HAVE_CUDNN
