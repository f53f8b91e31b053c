/* The CUDA module (host/net/cuda_api.h) on any machine: loading, the forwarding functions, errors.
 *
 *   test_cuda_module load MODULE     COPYSCOPE_CUDA_MODULE=MODULE forces the load: the table is
 *                                    found, of this version, and every forwarding function reaches
 *                                    it; without a GPU cs_cuda_device_count() is 0 and cs_gpu_open
 *                                    fails cleanly with a message raised inside the module that
 *                                    this program's cs_last_error() shows (the module calls the
 *                                    program's error functions, not a copy)
 *   test_cuda_module missing         COPYSCOPE_CUDA_MODULE=/nonexistent: no table, the loader's
 *                                    reason in one line; "cuda" is CS_E_UNSUPPORTED naming it, "auto"
 *                                    the CPU with a notice naming it; the GPU math functions return
 *                                    CS_E_UNSUPPORTED (not a crash)
 *   test_cuda_module default         no override: without an NVIDIA device node nothing is loaded
 *                                    (the reason says so; a build without CUDA says that); with
 *                                    one the module loads
 * Exit 0 pass, 1 fail. */
#include "net/backend.h"
#include "check.h"
#include "net/cuda_api.h"
#include "fid/gpu_math.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int nvidia_node(void) {
    return access("/dev/nvidiactl", F_OK) == 0 || access("/dev/nvidia0", F_OK) == 0 || access("/dev/dxg", F_OK) == 0;
}

static void expect_no_module(const char *want) {
    const char *why = NULL;
    const cs_cuda_api *a = cs_cuda_api_get(&why);
    CHECK(!a && why && strstr(why, want) && !strchr(why, '\n'), "no module: table %p, reason '%s' (want '%s')",
          (const void *)a, why ? why : "(null)", want);
    CHECK(cs_cuda_device_count() == 0 && !cs_gpu_math_available(), "no module: 0 GPUs, no GPU math");
    cs_gpu *g = NULL;
    cs_status st = cs_gpu_open(0, &g);
    CHECK(st == CS_E_UNSUPPORTED && !g && strstr(cs_last_error(), want), "cs_gpu_open without module: %s: %s",
          cs_status_name(st), cs_last_error());
    cs_gpu_close(NULL); /* void forwarders are no-ops */
    cs_backend *be = NULL;
    char notice[512];
    st = cs_backend_create_ex("cuda", NULL, 1, &be, notice, sizeof notice);
    CHECK(st == CS_E_UNSUPPORTED && !be && strstr(cs_last_error(), want), "device cuda: %s: %s", cs_status_name(st),
          cs_last_error());
    st = cs_backend_create_ex("auto", NULL, 1, &be, notice, sizeof notice);
    CHECK(st == CS_OK && be && !strcmp(be->iface->name, "cpu") && strstr(notice, want),
          "device auto: %s, notice '%s'", cs_status_name(st), notice);
    cs_backend_free(be);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "load") && argc > 2) {
        setenv("COPYSCOPE_CUDA_MODULE", argv[2], 1);
        const char *why = NULL;
        const cs_cuda_api *a = cs_cuda_api_get(&why);
        CHECK(a != NULL, "the module did not load: %s", why);
        if (a) {
            printf("module %s: %s, cuda backend %s\n", cs_cuda_module_path(), a->build, a->has_backend ? "yes" : "no");
            CHECK(a->version == CS_CUDA_API_VERSION && a->size == sizeof *a, "table version %d size %zu", a->version,
                  a->size);
#define CS_T_PRESENT(ret, name, params, args, fallback) CHECK(a->name != NULL, "table: %s missing", #name);
#define CS_T_PRESENT_V(name, params, args) CHECK(a->name != NULL, "table: %s missing", #name);
            CS_CUDA_API(CS_T_PRESENT, CS_T_PRESENT_V)
            CHECK(cs_gpu_math_available(), "GPU math not available with the module loaded");
            const int n = cs_cuda_device_count();
            printf("CUDA GPUs: %d\n", n);
            if (n == 0) {
                /* the module's own error path: opening GPU 0 fails inside the module, and the
                 * message it raised with cs_error_set is this program's last error */
                cs_error_clear();
                cs_gpu *g = NULL;
                cs_status st = cs_gpu_open(0, &g);
                CHECK(st != CS_OK && !g && strstr(cs_last_error(), "cuda:0") && !strstr(cs_last_error(), "the GPU math"),
                      "cs_gpu_open(0) without a GPU: %s: '%s'", cs_status_name(st), cs_last_error());
                printf("cs_gpu_open(0): %s: %s\n", cs_status_name(st), cs_last_error());
                int have = -1, ng = -1;
                cs_backend_cuda_probe(&have, &ng);
                CHECK(have == a->has_backend && ng == 0, "probe: have %d, %d GPUs", have, ng);
                cs_backend *be = NULL;
                st = cs_backend_create_ex("cuda", NULL, 1, &be, NULL, 0);
                CHECK(st == CS_E_UNSUPPORTED && !be, "device cuda without a GPU: %s", cs_status_name(st));
            }
        }
    } else if (!strcmp(mode, "missing")) {
        setenv("COPYSCOPE_CUDA_MODULE", "/nonexistent/libcopyscope_cuda.so", 1);
        expect_no_module("could not be loaded");
    } else if (!strcmp(mode, "default")) {
        unsetenv("COPYSCOPE_CUDA_MODULE");
        if (nvidia_node()) {
            const char *why = NULL;
            CHECK(cs_cuda_api_get(&why) != NULL, "a GPU node and no module loaded: %s", why);
        } else {
            const char *why = NULL;
            cs_cuda_api_get(&why);
            /* a CUDA build: no device node, nothing loaded; a build without CUDA: says so */
            expect_no_module(strstr(why, "no CUDA code") ? "no CUDA code" : "no CUDA GPU found");
        }
    } else {
        fprintf(stderr, "usage: %s load MODULE | missing | default\n", argv[0]);
        return 2;
    }
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("cuda module (%s): all checks passed\n", mode);
    return failures ? 1 : 0;
}
