// CUDA calls on release paths (destructors, frees, closes), shared by every kernels/ file.
//
// The runtime keeps the last error of any call until cudaGetLastError() reads it, and the
// launch checks (CS_LAUNCHED, the backend's launchers) read it right after each launch. So an
// error left behind by an unchecked call would be charged to the next launch, an operation that
// did nothing wrong. Rule: every cuda*/cublas*/cusolver*/cudnn* call in kernels/ is either
// checked by the file's check macro (CU_CHECK / DNN_CHECK in cuda_backend.cu, CS_CUDA /
// CS_CUBLAS / CS_CUSOLVER in cuda_math.cuh, which name file, line and statement) or, where
// nobody can be told (a destructor), passed through cs_cuda_released(), which clears its error.
// A sticky error (a kernel fault: the context is lost) cannot be cleared; every later call
// reports it, which is then the truth.
#ifndef CS_CUDA_RELEASE_CUH
#define CS_CUDA_RELEASE_CUH

#include <cuda_runtime.h>

static inline void cs_cuda_released(cudaError_t e) {
    if (e != cudaSuccess) (void)cudaGetLastError(); // nobody to report to: do not leave it for the next op
}

// After library calls on a release path (cuBLAS/cuSOLVER/cuDNN destroys return their own status,
// which is ignored there, but may fail inside the CUDA runtime): clear what they left.
static inline void cs_cuda_clear_released(void) { (void)cudaGetLastError(); }

#endif
