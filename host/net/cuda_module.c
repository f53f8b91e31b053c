/* Loading the CUDA module (libcopyscope_cuda.so) at run time, and the functions that forward to
 * it. See cuda_api.h. */
#include "net/cuda_api.h"

#include "core/common.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef COPYSCOPE_CUDA_MODULE_BUILD_PATH
#define COPYSCOPE_CUDA_MODULE_BUILD_PATH "" /* a build without CUDA */
#endif
#ifndef COPYSCOPE_CUDA_MODULE_INSTALL_PATH
#define COPYSCOPE_CUDA_MODULE_INSTALL_PATH ""
#endif
#define CS_CUDA_MODULE_NAME "libcopyscope_cuda.so"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const cs_cuda_api *g_api;
static char g_why[768];
static char g_path[PATH_MAX + 64];

static int has_nvidia_node(void) {
    return access("/dev/nvidiactl", F_OK) == 0 || access("/dev/nvidia0", F_OK) == 0 ||
           access("/dev/dxg", F_OK) == 0; /* WSL */
}

/* dlopen one candidate; 1 when it gave a usable table (g_api set), 0 otherwise (g_why set). */
static int try_load(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(g_why, sizeof g_why, "the CUDA module could not be loaded: %s", e ? e : path);
        return 0;
    }
    cs_cuda_module_api_fn get;
    *(void **)&get = dlsym(h, CS_CUDA_MODULE_SYMBOL);
    const cs_cuda_api *api = get ? get() : NULL;
    if (!api) {
        snprintf(g_why, sizeof g_why, "%s: not a copyscope CUDA module (no %s)", path, CS_CUDA_MODULE_SYMBOL);
        dlclose(h);
        return 0;
    }
    if (api->version != CS_CUDA_API_VERSION || api->size != sizeof(cs_cuda_api)) {
        snprintf(g_why, sizeof g_why, "%s: CUDA module of another copyscope build (interface %d, this program %d)",
                 path, api->version, CS_CUDA_API_VERSION);
        dlclose(h);
        return 0;
    }
    snprintf(g_path, sizeof g_path, "%s", path);
    g_api = api; /* the module stays loaded for the life of the process */
    return 1;
}

static void load_once(void) {
    const char *env = getenv("COPYSCOPE_CUDA_MODULE");
    if (env && *env) { /* explicit: load it whatever the device nodes say */
        try_load(env);
        return;
    }
    if (!COPYSCOPE_CUDA_MODULE_BUILD_PATH[0]) {
        snprintf(g_why, sizeof g_why,
                 "this build has no CUDA code (rebuild with nvcc and cuDNN present and -DCOPYSCOPE_CUDA=ON)");
        return;
    }
    if (!has_nvidia_node()) { /* no GPU: do not pay for loading the CUDA libraries */
        snprintf(g_why, sizeof g_why, "no CUDA GPU found on this machine (no /dev/nvidia* device)");
        return;
    }
    /* beside the program, then the build tree, then the install's library directory */
    char exe[PATH_MAX], cand[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(cand, sizeof cand, "%s/%s", exe, CS_CUDA_MODULE_NAME);
            if (access(cand, F_OK) == 0 && try_load(cand)) return;
        }
    }
    const char *fixed[2] = {COPYSCOPE_CUDA_MODULE_BUILD_PATH, COPYSCOPE_CUDA_MODULE_INSTALL_PATH};
    int tried = 0;
    for (int i = 0; i < 2; i++)
        if (fixed[i][0] && access(fixed[i], F_OK) == 0) {
            tried = 1;
            if (try_load(fixed[i])) return;
        }
    if (!tried && !g_why[0])
        snprintf(g_why, sizeof g_why, "the CUDA module %s was not found (beside the program, in %s%s%s; "
                 "set COPYSCOPE_CUDA_MODULE)", CS_CUDA_MODULE_NAME, COPYSCOPE_CUDA_MODULE_BUILD_PATH,
                 COPYSCOPE_CUDA_MODULE_INSTALL_PATH[0] ? " or " : "", COPYSCOPE_CUDA_MODULE_INSTALL_PATH);
}

const cs_cuda_api *cs_cuda_api_get(const char **why) {
    pthread_once(&g_once, load_once);
    if (why) *why = g_api ? "" : g_why;
    return g_api;
}

const char *cs_cuda_module_path(void) {
    pthread_once(&g_once, load_once);
    return g_path;
}

cs_status cs_cuda_unavailable(const char *what) {
    const char *why;
    cs_cuda_api_get(&why);
    return CS_FAIL(CS_E_UNSUPPORTED, "%s: %s", what, why[0] ? why : "not in this CUDA module (built without cuDNN)");
}

int cs_gpu_math_available(void) {
    const cs_cuda_api *a = cs_cuda_api_get(NULL);
    return a && a->cs_gpu_open;
}

/* ---- the forwarding functions --------------------------------------------------------------- */

#define CS_CUDA_FORWARD(ret, name, params, args, fallback)                                         \
    ret name params {                                                                              \
        const cs_cuda_api *cs_api_ = cs_cuda_api_get(NULL);                                        \
        return cs_api_ && cs_api_->name ? cs_api_->name args : (fallback);                         \
    }
#define CS_CUDA_FORWARD_V(name, params, args)                                                      \
    void name params {                                                                             \
        const cs_cuda_api *cs_api_ = cs_cuda_api_get(NULL);                                        \
        if (cs_api_ && cs_api_->name) cs_api_->name args;                                          \
    }
CS_CUDA_API(CS_CUDA_FORWARD, CS_CUDA_FORWARD_V)
