/* How the cuda backend's plan search (kernels/cuda_backend.cu, plan_make) reads a cuDNN status:
 * plain C, so that tests/test_cuda_bounds.c checks it without a GPU.
 *
 *   CS_DNN_OK        success
 *   CS_DNN_REFUSED   this algorithm / layout / path is not supported for this geometry: try the
 *                    next one (NOT_SUPPORTED and its sub-codes, except those that mean "this
 *                    installation cannot work": driver, runtime, architecture, sub-library)
 *   CS_DNN_BAD_PARAM the call's parameters are wrong (BAD_PARAM and its sub-codes): a descriptor
 *                    bug of ours, reported at once as such, never taken for a refusal (it used
 *                    to surface as "no cuDNN algorithm accepted it")
 *   CS_DNN_FAILED    anything else (internal error, execution failed, out of memory, ...)
 * cuDNN 9 numbers its statuses by category (2000s BAD_PARAM, 3000s NOT_SUPPORTED); cuDNN 8 has
 * BAD_PARAM = 3 and NOT_SUPPORTED = 9. */
#ifndef CS_CUDNN_STATUS_CLASS_H
#define CS_CUDNN_STATUS_CLASS_H

enum { CS_DNN_OK = 0, CS_DNN_REFUSED, CS_DNN_BAD_PARAM, CS_DNN_FAILED };

static inline int cs_cudnn_status_class(int code, int cudnn_major) {
    if (code == 0) return CS_DNN_OK;
    if (cudnn_major < 9) return code == 9 ? CS_DNN_REFUSED : code == 3 ? CS_DNN_BAD_PARAM : CS_DNN_FAILED;
    if (code >= 2000 && code < 3000) return CS_DNN_BAD_PARAM;
    if (code >= 3005 && code <= 3009) return CS_DNN_FAILED; /* driver, cudart, arch, prerequisite, sub-library */
    if (code >= 3000 && code < 4000) return CS_DNN_REFUSED;
    return CS_DNN_FAILED;
}

#endif
