// copyscope CUDA backend (issue: CUDA backend). Compiled whenever nvcc is present so that
// the build stays honest; the backend is selected at run time and a machine without a GPU
// falls back to the CPU backend. This translation unit currently only exposes the device
// probe used by that selection.
#include <cuda_runtime.h>

extern "C" int cs_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}
