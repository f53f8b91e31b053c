/* The cuda backend against the cpu backend on the same images and weights (ctest label gpu).
 *
 *   test_gpu_features WEIGHTS                       the comparison below
 *   test_gpu_features --one-batch WEIGHTS           one small batch on the GPU only (fp32 and
 *                                                   fp16): the compute-sanitizer target
 *   test_gpu_features --sanitizer TOOL WEIGHTS      runs TOOL --tool memcheck on --one-batch
 *
 * Exit 0 pass, 1 fail, 77 skipped: no CUDA GPU, a build without the cuda backend, or (for
 * --sanitizer) no compute-sanitizer at TOOL.
 *
 * Images: 8 synthetic RGB images of odd sizes (1x1 to 2048x16, up- and downscaled, one 299x299
 * identity), smooth patterns plus noise, generated here from a fixed seed. The GPU models are
 * created with COPYSCOPE_CUDA_POISON=1: every device buffer starts as NaN, so an op that reads
 * memory no op wrote produces NaN features and fails the checks below.
 * Checks (scale = max |cpu feature| of the dims):
 *   1. fp32 cuda vs cpu, cs_model_features_rgb (device preprocessing kernel + forward) at dims
 *      64/192/768/2048: max |d| <= 1e-4 * scale. Both are float32 with different summation
 *      orders (cuDNN FMA kernels vs OpenBLAS; BN folded identically); rounding differences of
 *      ~1e-6 per layer grow through up to ~20 sequential convolutions to ~1e-5 of the scale
 *      (the same bound and reason as the torch comparison in test_network.c). TF32 sneaking
 *      in would give ~1e-3: this check also proves that fp32 mode has tensor-core TF32 off.
 *   2. host preprocessing + cs_model_forward on the GPU vs the device preprocessing path:
 *      max |d| <= 1e-6 * scale (the preprocessing kernel is bit-exact, so the forward inputs
 *      are identical; 1e-6 only allows a different cuDNN algorithm choice).
 *   3. chunking: a model with COPYSCOPE_CUDA_BATCH=3 (chunks 3, 3, 2: plans per batch shape)
 *      and a one-image forward vs the 8-image batch: max |d| <= 1e-5 * scale (per-image
 *      arithmetic may differ only by the algorithm cuDNN picks for another batch size).
 *   4. tf32 and fp16 vs fp32 cuda at dims 2048: the deviation is printed (the README's
 *      numbers come from the bench on real images) and bounded by 5e-2 * scale: a 10-bit
 *      mantissa gives ~1e-3 relative per layer, ~1e-2 after the network; a broken conversion
 *      or layout gives O(scale). The bound is only from above, so the plans the backend
 *      prints (COPYSCOPE_CUDA_VERBOSE=1, captured) must show tensor-core math for at least one
 *      layer in tf32 and fp16, and for none in fp32 (a fresh fp32 model, also within 1e-6).
 *   5. API: precision "bogus" -> CS_E_USAGE; device cuda:N past the last GPU -> CS_E_UNSUPPORTED.
 *   6. the two-batch pipeline (tests/model_pipeline_check.h: uploads on the copy queue during
 *      the other slot's compute, fences, packed RGB, buffers scribbled after collect) vs an
 *      independent reference: host preprocessing + cs_model_forward (synchronous copies) of the
 *      same image pairs on the same model: max |d| <= 1e-6 * scale (same batch shape, same
 *      plans: equal but for a cuDNN algorithm choice; the preprocessing is bit-exact).
 */
#include "net/backend.h"
#include "gpu_required.h"
#include "copyscope/image.h"
#include "copyscope/model.h"
#include "copyscope/status.h"
#include "copyscope/weights.h"
#include "model_pipeline_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


#define N_IMAGES 8

static int g_fail = 0;

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d; /* NaN counts as infinitely wrong */
    }
    return m;
}

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok) g_fail++;
}

/* Deterministic images: a smooth colour pattern plus noise (not all-noise: the network's
 * activations then look like those of photographs rather than of static). */
static int make_images(cs_image *imgs, int n) {
    static const int sizes[N_IMAGES][2] = {{333, 197}, {299, 299}, {64, 48}, {500, 375},
                                           {1, 1},     {2048, 16}, {150, 150}, {256, 256}};
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        const int w = sizes[i % N_IMAGES][0], h = sizes[i % N_IMAGES][1];
        imgs[i].width = w;
        imgs[i].height = h;
        imgs[i].rgb = malloc((size_t)w * h * 3);
        if (!imgs[i].rgb) return 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    s = s * 1664525u + 1013904223u;
                    double v = 128 + 90 * sin(0.05 * (x + 2 * c) + 0.03 * y * (i + 1)) +
                               30 * cos(0.011 * x * y / (1.0 + c)) + (double)((s >> 24) % 41) - 20;
                    imgs[i].rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    }
    return 1;
}

static int gpu_present(const char **why) {
    int have = 0, n = 0;
    cs_backend_cuda_probe(&have, &n);
    if (!have) {
        *why = cs_backend_cuda_why();
        return 0;
    }
    if (n <= 0) {
        *why = "no CUDA GPU on this machine";
        return 0;
    }
    return 1;
}

/* --one-batch: two images through the GPU in fp32 and fp16; features must be finite. */
static int one_batch(const cs_weights *w) {
    cs_image imgs[2];
    memset(imgs, 0, sizeof imgs);
    if (!make_images(imgs, 2)) return 1;
    const char *precs[2] = {"fp32", "fp16"};
    for (int k = 0; k < 2; k++) {
        cs_model *m = NULL;
        float feat[2 * 2048];
        if (cs_model_create_ex(w, "cuda", precs[k], 1, &m) != CS_OK ||
            cs_model_features_rgb(m, imgs, 2, 2048, feat) != CS_OK) {
            printf("FAIL one batch %s: %s\n", precs[k], cs_last_error());
            g_fail++;
        } else {
            int finite = 1;
            for (int i = 0; i < 2 * 2048; i++) finite &= isfinite(feat[i]) != 0;
            check(finite, "one batch of 2 images on %s, %s: features finite", cs_model_device_name(m), precs[k]);
        }
        cs_model_free(m);
    }
    for (int i = 0; i < 2; i++) cs_image_free(&imgs[i]);
    return g_fail ? 1 : 0;
}

static int run_sanitizer(const char *tool, const char *weights) {
    static char found[4096];
    if (access(tool, X_OK) != 0) { /* configured path absent here: look on PATH */
        const char *path = getenv("PATH");
        while (path && *path) {
            const char *colon = strchr(path, ':');
            int len = colon ? (int)(colon - path) : (int)strlen(path);
            snprintf(found, sizeof found, "%.*s/compute-sanitizer", len, path);
            if (len > 0 && access(found, X_OK) == 0) {
                tool = found;
                break;
            }
            path = colon ? colon + 1 : NULL;
        }
    }
    if (access(tool, X_OK) != 0) {
        char why[4200];
        snprintf(why, sizeof why, "no compute-sanitizer at %s nor on PATH", tool);
        return cs_test_gpu_skip("gpu_sanitizer", why);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        /* memory errors in kernels are the point; CUDA API calls that libraries (cuDNN's
         * algorithm probing) make and handle themselves are not reported */
        char *argv[] = {(char *)tool, "--tool", "memcheck", "--error-exitcode", "1", "--print-limit", "20",
                        "--report-api-errors", "no", "/proc/self/exe", "--one-batch", (char *)weights, NULL};
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        if (len > 0) {
            self[len] = '\0';
            argv[9] = self;
        }
        execv(tool, argv);
        perror("execv compute-sanitizer");
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return 1;
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    printf("%s compute-sanitizer memcheck of one batch: exit %d\n", rc == 0 ? "ok  " : "FAIL", rc);
    return rc == 0 ? 0 : 1;
}

/* Capture the backend's plan lines (COPYSCOPE_CUDA_VERBOSE=1, read at backend creation) from
 * stderr into a temporary file while a model is made and run. */
static FILE *g_cap;
static int g_saved_err = -1;

static cs_status capture_plans_begin(void) {
    fflush(stderr);
    g_cap = tmpfile();
    g_saved_err = dup(2);
    if (!g_cap || g_saved_err < 0 || dup2(fileno(g_cap), 2) < 0) {
        if (g_cap) fclose(g_cap);
        g_cap = NULL;
        return cs_error_set(CS_E_IO, __FILE__, __LINE__, "cannot capture stderr");
    }
    setenv("COPYSCOPE_CUDA_VERBOSE", "1", 1);
    return CS_OK;
}

static void capture_plans_end(int *plans, int *tensor) {
    fflush(stderr);
    unsetenv("COPYSCOPE_CUDA_VERBOSE");
    dup2(g_saved_err, 2);
    close(g_saved_err);
    g_saved_err = -1;
    *plans = *tensor = 0;
    char line[1024];
    rewind(g_cap);
    while (fgets(line, sizeof line, g_cap)) {
        if (!strstr(line, " plan ") || !strstr(line, "tensor cores ")) {
            fputs(line, stderr); /* anything else the run printed */
            continue;
        }
        (*plans)++;
        *tensor += strstr(line, "tensor cores yes") != NULL;
    }
    fclose(g_cap);
    g_cap = NULL;
}

int main(int argc, char **argv) {
    int one = 0;
    const char *tool = NULL, *weights = NULL;
    if (argc == 2) {
        weights = argv[1];
    } else if (argc == 3 && !strcmp(argv[1], "--one-batch")) {
        one = 1;
        weights = argv[2];
    } else if (argc == 4 && !strcmp(argv[1], "--sanitizer")) {
        tool = argv[2];
        weights = argv[3];
    } else {
        fprintf(stderr, "usage: %s [--one-batch | --sanitizer TOOL] WEIGHTS\n", argv[0]);
        return 2;
    }
    const char *why = NULL;
    if (!gpu_present(&why)) return cs_test_gpu_skip("test_gpu_features", why);
    if (tool) return run_sanitizer(tool, weights);

    cs_weights *w = NULL;
    if (cs_weights_load(weights, &w) != CS_OK) {
        printf("FAIL loading weights: %s\n", cs_last_error());
        return 1;
    }
    setenv("COPYSCOPE_CUDA_POISON", "1", 1); /* read before write shows up as NaN */
    if (one) {
        int rc = one_batch(w);
        cs_weights_free(w);
        return rc;
    }

    cs_image imgs[N_IMAGES];
    memset(imgs, 0, sizeof imgs);
    cs_model *cpu = NULL, *gpu = NULL, *gpu3 = NULL;
    float *x = NULL;
    const size_t in1 = (size_t)3 * 299 * 299;
    static float fc[N_IMAGES * 2048], fg[N_IMAGES * 2048], f2[N_IMAGES * 2048], f1[2048];
    if (!make_images(imgs, N_IMAGES) || !(x = malloc(N_IMAGES * in1 * sizeof(float)))) {
        printf("FAIL: out of memory\n");
        g_fail++;
        goto done;
    }
    if (cs_model_create(w, "cpu", 0, &cpu) != CS_OK || cs_model_create_ex(w, "cuda", "fp32", 1, &gpu) != CS_OK) {
        printf("FAIL creating the models: %s\n", cs_last_error());
        g_fail++;
        goto done;
    }
    printf("cpu: %s\ngpu: %s\n", cs_model_device_name(cpu), cs_model_device_name(gpu));

    /* 1. features_rgb, every dims */
    const int dims_list[4] = {64, 192, 768, 2048};
    double scale2048 = 0;
    for (int k = 0; k < 4; k++) {
        const int d = dims_list[k];
        const size_t nf = (size_t)N_IMAGES * d;
        if (cs_model_features_rgb(cpu, imgs, N_IMAGES, d, fc) != CS_OK ||
            cs_model_features_rgb(gpu, imgs, N_IMAGES, d, fg) != CS_OK) {
            printf("FAIL features_rgb dims %d: %s\n", d, cs_last_error());
            g_fail++;
            goto done;
        }
        const double scale = max_abs(fc, nf), dd = max_diff(fg, fc, nf);
        check(scale > 0 && dd <= 1e-4 * scale,
              "fp32 cuda vs cpu, features_rgb dims %4d: max|d| %.3g = %.3g of the scale %.4g", d, dd,
              dd / scale, scale);
        if (d == 2048) scale2048 = scale;
    }
    /* fc, fg now hold dims 2048 */

    /* 2. host preprocessing + forward on the GPU */
    for (int i = 0; i < N_IMAGES; i++)
        if (cs_preprocess_rgb(imgs[i].rgb, imgs[i].width, imgs[i].height, x + (size_t)i * in1) != CS_OK) {
            printf("FAIL preprocess: %s\n", cs_last_error());
            g_fail++;
            goto done;
        }
    if (cs_model_forward(gpu, x, N_IMAGES, 2048, f2) != CS_OK) {
        printf("FAIL gpu forward: %s\n", cs_last_error());
        g_fail++;
        goto done;
    } else {
        const double dd = max_diff(f2, fg, (size_t)N_IMAGES * 2048);
        check(dd <= 1e-6 * scale2048, "gpu: host preprocessing + forward vs device preprocessing: max|d| %.3g", dd);
    }

    /* 3. chunks of 3 and one image */
    setenv("COPYSCOPE_CUDA_BATCH", "3", 1);
    if (cs_model_create_ex(w, "cuda:0", NULL, 1, &gpu3) != CS_OK ||
        cs_model_forward(gpu3, x, N_IMAGES, 2048, f2) != CS_OK) {
        printf("FAIL gpu forward in chunks of 3: %s\n", cs_last_error());
        g_fail++;
    } else {
        const double dd = max_diff(f2, fg, (size_t)N_IMAGES * 2048);
        check(dd <= 1e-5 * scale2048, "gpu: chunks of 3 (plans for n=3 and n=2) vs one batch of %d: max|d| %.3g",
              N_IMAGES, dd);
    }
    unsetenv("COPYSCOPE_CUDA_BATCH");
    if (cs_model_forward(gpu, x + 5 * in1, 1, 2048, f1) != CS_OK) {
        printf("FAIL gpu forward of one image: %s\n", cs_last_error());
        g_fail++;
    } else {
        const double dd = max_diff(f1, fg + 5 * 2048, 2048);
        check(dd <= 1e-5 * scale2048, "gpu: batch of 1 vs row 5 of the batch of %d: max|d| %.3g", N_IMAGES, dd);
    }

    /* 4. reduced precisions, and which math the convolutions ran with */
    const char *precs[3] = {"fp32", "tf32", "fp16"};
    for (int k = 0; k < 3; k++) {
        cs_model *mp = NULL;
        int plans = 0, tensor = 0;
        cs_status st4 = capture_plans_begin();
        if (st4 == CS_OK) {
            st4 = cs_model_create_ex(w, "cuda", precs[k], 1, &mp);
            if (st4 == CS_OK) st4 = cs_model_features_rgb(mp, imgs, N_IMAGES, 2048, f2);
            capture_plans_end(&plans, &tensor);
        }
        if (st4 == CS_OK) {
            /* tensor cores, from the plans the backend printed (COPYSCOPE_CUDA_VERBOSE=1: the
             * math of the cuDNN algorithm entry it chose per layer): fp32 none (TF32 off); tf32
             * and fp16 at least one, or their deviation bound says nothing about speed */
            if (k == 0)
                check(plans > 0 && tensor == 0, "fp32: %d of %d conv plans with tensor-core math (0 expected)", tensor,
                      plans);
            else
                check(plans > 0 && tensor > 0, "%s: %d of %d conv plans with tensor-core math (>= 1 expected)",
                      precs[k], tensor, plans);
        }
        if (st4 != CS_OK) {
            printf("FAIL %s: %s\n", precs[k], cs_last_error());
            g_fail++;
        } else if (k == 0) {
            const double dd = max_diff(f2, fg, (size_t)N_IMAGES * 2048);
            check(dd <= 1e-6 * scale2048, "fp32 again (new model, plans made anew) vs fp32: max|d| %.3g", dd);
        } else {
            const size_t nf = (size_t)N_IMAGES * 2048;
            const double dd = max_diff(f2, fg, nf);
            double num = 0, den = 0;
            for (size_t i = 0; i < nf; i++) {
                num += ((double)f2[i] - fg[i]) * ((double)f2[i] - fg[i]);
                den += (double)fg[i] * fg[i];
            }
            check(dd <= 5e-2 * scale2048,
                  "%s vs fp32 on the GPU, dims 2048: max|d| %.3g = %.3g of the scale, relative rms %.3g (%s)",
                  precs[k], dd, dd / scale2048, sqrt(num / den), cs_model_device_name(mp));
        }
        cs_model_free(mp);
    }

    /* 6. the two-batch pipeline: copies on the copy queue overlapping compute, fences, packed
     * RGB preprocessed on the device; vs a reference that shares none of that path: the host's
     * preprocessing (x, check 2) and cs_model_forward of the same pairs on this model (synchronous
     * upload and download, same batch shape so the same cuDNN plans) */
    {
        static float ref_pairs[MPC_BATCHES * MPC_PER * 2048];
        int ok = 1;
        for (int t = 0; ok && t < MPC_BATCHES; t++)
            ok = cs_model_forward(gpu, x + (size_t)t * MPC_PER * in1, MPC_PER, 2048, ref_pairs + (size_t)t * MPC_PER * 2048) ==
                 CS_OK;
        if (!ok) {
            printf("FAIL pipeline reference: %s\n", cs_last_error());
            g_fail++;
        } else {
            g_fail += check_model_pipeline(gpu, imgs, ref_pairs, 2048, 1e-6, "cuda model pipeline");
        }
    }

    /* 5. API */
    {
        cs_model *bad = NULL;
        cs_status st = cs_model_create_ex(w, "cuda", "bogus", 1, &bad);
        check(st == CS_E_USAGE && !bad, "precision bogus refused (%s)", cs_status_name(st));
        cs_model_free(bad);
        bad = NULL;
        st = cs_model_create_ex(w, "cuda:999", NULL, 1, &bad);
        check(st == CS_E_UNSUPPORTED && !bad, "device cuda:999 refused (%s): %s", cs_status_name(st),
              cs_last_error());
        cs_model_free(bad);
    }

done:
    cs_model_free(cpu);
    cs_model_free(gpu);
    cs_model_free(gpu3);
    for (int i = 0; i < N_IMAGES; i++) cs_image_free(&imgs[i]);
    free(x);
    cs_weights_free(w);
    printf("%s: %d failure(s)\n", g_fail ? "FAILED" : "PASSED", g_fail);
    return g_fail ? 1 : 0;
}
