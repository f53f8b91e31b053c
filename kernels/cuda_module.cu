// The CUDA module's one exported symbol: the table of its entry points (host/net/cuda_api.h), which
// host/net/cuda_module.c finds with dlsym after loading libcopyscope_cuda.so. Everything else in the
// module has hidden visibility and binds internally (-Bsymbolic), so the program's forwarding
// functions of the same names are never called from here.
#include "net/cuda_api.h"

#include <cuda_runtime.h>
#if defined(COPYSCOPE_HAVE_CUDNN)
#include <cudnn.h>
#endif

#include <stdio.h>

#define CS_MODULE_SET(ret, name, params, args, fallback) t.name = name;
#define CS_MODULE_SET_V(name, params, args) t.name = name;

extern "C" __attribute__((visibility("default"))) const cs_cuda_api *cs_cuda_module_api(void) {
    static cs_cuda_api t;
    static char build[96];
    if (!t.version) { // the loader calls this once, from one thread (pthread_once)
        CS_CUDA_API(CS_MODULE_SET, CS_MODULE_SET_V)
#if defined(COPYSCOPE_HAVE_CUDNN)
        snprintf(build, sizeof build, "CUDA %d.%d, cuDNN %d.%d", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10,
                 CUDNN_MAJOR, CUDNN_MINOR);
        t.has_backend = 1;
#else
        snprintf(build, sizeof build, "CUDA %d.%d, no cuDNN", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
#endif
        t.build = build;
        t.size = sizeof t;
        t.version = CS_CUDA_API_VERSION;
    }
    return &t;
}
