/* The feature pipeline on several devices, without a GPU: 2 or 3 CPU backends standing in for
 * GPUs (cs_features_testing.cpu_devices) run the multi-device scheduler (one thread per CPU
 * backend, batch slots, done queue) exactly as it runs GPUs, and testing.fail_batch = k makes the
 * device running batch k fail.
 *
 *   usage: test_scheduler_pipeline WEIGHTS WORKDIR [--only-multi | --gpu]
 *
 * Checks
 *  - 2 and 3 CPU workers give features bit-identical to the single-CPU (inline) pipeline with
 *    the same --batch, rows in input order (paths, digests). Bit-identical is the right bar:
 *    batch composition is the same, and the CPU backend computes each image of a batch serially
 *    in one worker (backend_cpu.c), so nothing depends on which device ran it.
 *  - a warm cache (hits and misses mixed within batches) and --skip-bad (rows compacted) with
 *    several workers: still the reference rows, in order.
 *  - a failing device: CS_E_DEVICE (exit code 1), one line naming the device (cpu#N [CPU ...]),
 *    the batch and its input image range; every batch before the failing one is in the cache
 *    (they were taken before it, FIFO, and running batches are saved before returning), the
 *    failing one is not; a rerun computes only what is missing and gives the reference rows.
 *    When the last batch fails the split is exact: all others cached.
 *  - the same on the inline single-CPU path (exact: the batches before k are cached).
 *  - the model's two-slot pipeline (tests/model_pipeline_check.h) on the CPU, plain and with
 *    the emulated asynchronous copy queue: bit-identical to cs_model_features_rgb of the same
 *    image pairs; misuse refused.
 *  - the GPU's whole route on the CPU (testing.cpu_async: lazily emulated copy queue,
 *    two batches in flight per device, packed pixels): bit-identical rows, inline, 2 and 3
 *    workers.
 *  - devices that preprocess (testing.cpu_preprocess, the GPU's route on the CPU):
 *    decoded pixels packed per batch, resized by the backend op: bit-identical rows, also with
 *    a corrupt file skipped inside a packed batch.
 * --gpu: the same pipeline on the machine's GPUs against the CPU rows instead (gpu_mode below;
 * ctest gpu_pipeline, label gpu, 77 = skipped without a GPU).
 * --only-multi skips the 2-thread single-CPU run (for ThreadSanitizer, which does not understand
 * the OpenMP teams of a multi-threaded CPU model; every other run has one thread per CPU model). */
#include "check.h"
#include "copyscope/features.h"
#include "copyscope/image.h"
#include "copyscope/model.h"
#include "copyscope/status.h"
#include "copyscope/weights.h"
#include "gpu_required.h"
#include "model_pipeline_check.h"
#include "features/scheduler.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_IMG 13 /* with --batch 3: batches of 3, 3, 3, 3 and 1 image(s) */
#define BATCH 3

static const char *g_weights;
static double g_worst_rel; /* worst row difference / row scale seen by expect_rows_tol */
static char g_imgdir[4200], g_work[4096];

static int write_ppm(const char *path, int w, int h, unsigned seed) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    uint32_t x = seed * 2654435761u + 1;
    for (int i = 0; i < w * h * 3; i++) {
        x = x * 1664525u + 1013904223u;
        /* smooth-ish content plus noise, so that activations are not degenerate */
        int v = (int)((i / 3 % w) * 255 / w + (x >> 27)) & 255;
        fputc(v, f);
    }
    return fclose(f);
}

/* threads: 2 for the multi-CPU runs (one per CPU backend), 1 for single-CPU references */
static void opts_for(cs_features_opts *o, int dims, const char *cache, int threads) {
    cs_features_opts_default(o);
    o->weights_path = g_weights;
    o->device = "cpu";
    o->dims = dims;
    o->batch = BATCH;
    o->threads = threads;
    o->use_cache = cache != NULL;
    o->cache_dir = cache;
    o->quiet = 1;
}

/* Extract with the testing aids: devices > 0 CPU backends standing in for GPUs (0: the --device
 * of o), the device running batch fail_batch failing (-1: none). */
static cs_status extract(const cs_pathlist *files, const cs_features_opts *o, int devices, long fail_batch,
                         cs_features *f) {
    cs_features_opts t = *o;
    t.testing.cpu_devices = devices;
    t.testing.fail = fail_batch >= 0;
    t.testing.fail_batch = fail_batch >= 0 ? (size_t)fail_batch : 0;
    return cs_features_extract(files, &t, f);
}

/* f == ref row for row, same paths and digests; skip lists rows of ref that f must not have
 * (NULL: none). tol 0: bit for bit; else max |d| <= tol * max |ref row|. */
static void expect_rows_tol(const char *what, const cs_features *f, const cs_features *ref, const int *skip,
                            double tol) {
    size_t j = 0;
    CHECK(f->dims == ref->dims, "%s: dims %d vs %d", what, f->dims, ref->dims);
    for (size_t i = 0; i < ref->n; i++) {
        if (skip && skip[i]) continue;
        if (j >= f->n) {
            CHECK(0, "%s: %zu rows, expected more", what, f->n);
            return;
        }
        CHECK(!strcmp(f->paths.paths[j], ref->paths.paths[i]), "%s: row %zu is %s, want %s", what, j,
              f->paths.paths[j], ref->paths.paths[i]);
        CHECK(!strcmp(f->sha256[j], ref->sha256[i]), "%s: row %zu digest differs", what, j);
        const float *a = f->data + j * (size_t)f->dims, *b = ref->data + i * (size_t)ref->dims;
        if (tol > 0) {
            double dmax = 0, amax = 0;
            for (int k = 0; k < f->dims; k++) {
                double d = fabs((double)a[k] - b[k]);
                if (!(d <= dmax)) dmax = isnan(d) ? INFINITY : d;
                if (fabs(b[k]) > amax) amax = fabs(b[k]);
            }
            CHECK(dmax <= tol * amax, "%s: row %zu (%s) differs from the CPU reference by %.3g (%.3g of its scale)",
                  what, j, f->paths.paths[j], dmax, dmax / amax);
            if (dmax > g_worst_rel * amax) g_worst_rel = dmax / amax;
        } else if (memcmp(a, b, (size_t)f->dims * sizeof(float)) != 0) {
            size_t k = 0;
            while (a[k] == b[k]) k++;
            CHECK(0, "%s: row %zu (%s) differs from the single-CPU reference at %zu: %.9g vs %.9g", what, j,
                  f->paths.paths[j], k, a[k], b[k]);
        }
        j++;
    }
    CHECK(j == f->n, "%s: %zu rows, want %zu", what, f->n, j);
}

static void expect_rows(const char *what, const cs_features *f, const cs_features *ref, const int *skip) {
    expect_rows_tol(what, f, ref, skip, 0.0);
}

/* Every image through the devices' own preprocessing (route: testing.cpu_async, the emulated
 * asynchronous copies, or testing.cpu_preprocess), inline (devices 0: 1 thread) or on CPU
 * stand-ins (2 threads): all images went to the device and the rows are bit-identical to the
 * single-CPU reference. */
static void expect_device_route(const char *route, int async, const cs_pathlist *files, int devices,
                                const cs_features *ref) {
    char what[128];
    snprintf(what, sizeof what, "%s, %s%s", route, devices ? "stand-ins: " : "inline",
             devices == 3 ? "3" : devices == 2 ? "2" : "");
    cs_features_opts o;
    cs_features f;
    opts_for(&o, 2048, NULL, devices ? 2 : 1);
    o.testing.cpu_async = async;
    o.testing.cpu_preprocess = !async;
    cs_status st = extract(files, &o, devices, -1, &f);
    CHECK(st == CS_OK, "%s: %s", what, cs_last_error());
    if (st != CS_OK) return;
    CHECK(f.n_device_preprocessed == N_IMG, "%s: %zu of %d images went to the device", what, f.n_device_preprocessed,
          N_IMG);
    expect_rows(what, &f, ref, NULL);
    cs_features_free(&f);
}

/* The inputs with a corrupt file (written to bad) before input 4 and a missing one (gone)
 * before input 9; bad and gone hold 4200 bytes. */
static void mixed_inputs(const cs_pathlist *files, char *bad, char *gone, cs_pathlist *mixed) {
    snprintf(bad, 4200, "%s/bad.ppm", g_work);
    snprintf(gone, 4200, "%s/missing.ppm", g_work);
    FILE *fb = fopen(bad, "wb");
    if (fb) {
        fputs("P6\n40 40\n255\nshort", fb);
        fclose(fb);
    }
    memset(mixed, 0, sizeof *mixed);
    for (size_t i = 0; i < files->n; i++) {
        if (i == 4) cs_pathlist_push(mixed, bad);
        if (i == 9) cs_pathlist_push(mixed, gone);
        cs_pathlist_push(mixed, files->paths[i]);
    }
}

static void fresh_cache(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", g_work, name);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    if (system(cmd) != 0) fprintf(stderr, "warning: %s failed\n", cmd);
}

/* Batch k fails on `devices` (NULL: the inline single CPU); then a rerun completes. The cache
 * must hold at least the batches before k (exactly them when exact), never batch k. */
static void failure_case(const cs_pathlist *files, const cs_features *ref, int devices, int k,
                         long exact_cached, const char *name) {
    char cache[4200], want[128];
    fresh_cache(cache, sizeof cache, name);
    cs_features_opts o;
    opts_for(&o, ref->dims, cache, devices ? 2 : 1);
    cs_features f;
    cs_error_clear();
    cs_status st = extract(files, &o, devices, k, &f);
    const char *msg = cs_last_error();
    CHECK(st == CS_E_DEVICE, "%s: status %s, want device (%s)", name, cs_status_name(st), msg);
    CHECK(cs_status_exit_code(st) == 1, "%s: exit code %d, want 1", name, cs_status_exit_code(st));
    CHECK(strstr(msg, devices ? "device cpu#" : "device cpu [CPU") != NULL, "%s: no device in '%s'", name, msg);
    int last = (k + 1) * BATCH - 1 < N_IMG - 1 ? (k + 1) * BATCH - 1 : N_IMG - 1;
    snprintf(want, sizeof want, "failed on batch %d (input images %d..%d", k, k * BATCH, last);
    CHECK(strstr(msg, want) != NULL, "%s: '%s' lacks '%s'", name, msg, want);
    CHECK(strstr(msg, "injected failure") && strstr(msg, "in the cache"), "%s: message '%s'", name, msg);
    CHECK(!strchr(msg, '\n'), "%s: message is not one line", name);
    CHECK(f.n == 0 && f.data == NULL, "%s: output left after a failure", name);

    /* the rerun: only the missing images are computed */
    st = extract(files, &o, devices, -1, &f);
    CHECK(st == CS_OK, "%s: rerun failed: %s", name, cs_last_error());
    if (st != CS_OK) return;
    const size_t before = (size_t)k * BATCH, failed = (size_t)last + 1 - before;
    CHECK(f.n_from_cache + f.n_computed == N_IMG, "%s: rerun %zu cached + %zu computed", name, f.n_from_cache,
          f.n_computed);
    CHECK(f.n_from_cache >= before && f.n_computed >= failed, "%s: rerun %zu cached (want >= %zu), %zu computed",
          name, f.n_from_cache, before, f.n_computed);
    if (exact_cached >= 0)
        CHECK(f.n_from_cache == (size_t)exact_cached, "%s: rerun %zu cached, want exactly %ld", name,
              f.n_from_cache, exact_cached);
    printf("%s: batch %d failed; rerun: %zu from cache, %zu computed\n", name, k, f.n_from_cache, f.n_computed);
    expect_rows(name, &f, ref, NULL);
    cs_features_free(&f);
}

/* --gpu (ctest gpu_pipeline): the whole feature pipeline on the GPU(s) of this machine (packed
 * pixels, device preprocessing, two batches in flight per GPU, every GPU with --device cuda)
 * against the single-CPU reference rows: within 1e-4 of each row's scale (float32 with other
 * summation orders, the bound of gpu_features), rows in input order; then a pixel budget that
 * sends some batches as floats, and a failing batch (named with its GPU; the rerun computes
 * only what the cache lacks). Exit 77 when the build or the machine has no CUDA GPU. */
static int gpu_mode(const cs_pathlist *files, const cs_features *ref) {
    const double tol = 1e-4;
    cs_features_opts o;
    cs_features f;
    opts_for(&o, 2048, NULL, 0);
    o.device = "cuda";
    cs_status st = extract(files, &o, 0, -1, &f);
    CHECK(st == CS_OK, "gpu pipeline: %s", cs_last_error());
    if (st == CS_OK) {
        CHECK(f.n_computed == N_IMG && f.n_device_preprocessed == N_IMG, "gpu: %zu computed, %zu preprocessed on the GPU",
              f.n_computed, f.n_device_preprocessed);
        expect_rows_tol("gpu pipeline", &f, ref, NULL, tol);
        cs_features_free(&f);
    }
    o.testing.rgb_batch_bytes = 150000;
    st = extract(files, &o, 0, -1, &f);
    o.testing.rgb_batch_bytes = 0;
    CHECK(st == CS_OK, "gpu pipeline, small pixel budget: %s", cs_last_error());
    if (st == CS_OK) {
        CHECK(f.n_device_preprocessed > 0 && f.n_device_preprocessed < N_IMG, "gpu, small budget: %zu on the GPU",
              f.n_device_preprocessed);
        expect_rows_tol("gpu pipeline, small pixel budget", &f, ref, NULL, tol);
        cs_features_free(&f);
    }
    char cache[4200];
    fresh_cache(cache, sizeof cache, "gpu-fail");
    opts_for(&o, 2048, cache, 0);
    o.device = "cuda";
    st = extract(files, &o, 0, 2, &f);
    const char *msg = cs_last_error();
    CHECK(st == CS_E_DEVICE && strstr(msg, "device cuda:") && strstr(msg, "failed on batch 2 (input images 6..8") &&
              !strchr(msg, '\n'),
          "gpu failure: %s: %s", cs_status_name(st), msg);
    st = extract(files, &o, 0, -1, &f);
    CHECK(st == CS_OK, "gpu rerun: %s", cs_last_error());
    if (st == CS_OK) {
        CHECK(f.n_from_cache >= 2 * BATCH && f.n_from_cache + f.n_computed == N_IMG && f.n_computed >= BATCH,
              "gpu rerun: %zu from the cache, %zu computed", f.n_from_cache, f.n_computed);
        expect_rows_tol("gpu rerun", &f, ref, NULL, tol);
        cs_features_free(&f);
    }
    printf("gpu pipeline vs cpu: worst row difference %.3g of the row's scale (tolerance %.0e)\n", g_worst_rel, tol);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s WEIGHTS WORKDIR [--only-multi | --gpu]\n", argv[0]);
        return 2;
    }
    g_weights = argv[1];
    const int only_multi = argc > 3 && !strcmp(argv[3], "--only-multi");
    const int gpu = argc > 3 && !strcmp(argv[3], "--gpu");
    if (gpu) { /* skip before any CPU work */
        cs_device_list dl;
        if (cs_device_list_get("cuda", 0, 0, &dl) != CS_OK) return cs_test_gpu_skip("gpu_pipeline", cs_last_error());
        printf("GPUs: %d\n", dl.n);
    }
    snprintf(g_work, sizeof g_work, "%s", argv[2]);
    snprintf(g_imgdir, sizeof g_imgdir, "%s/img", g_work);
    mkdir(g_work, 0755);
    mkdir(g_imgdir, 0755);
    for (int i = 0; i < N_IMG; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/im%02d.ppm", g_imgdir, i);
        if (write_ppm(p, 37 + 11 * i, 301 - 17 * i, (unsigned)i + 1) != 0) {
            fprintf(stderr, "cannot write %s\n", p);
            return 1;
        }
    }
    cs_pathlist files;
    const char *in[1] = {g_imgdir};
    if (cs_pathlist_expand(in, 1, &files) != CS_OK || files.n != N_IMG) {
        fprintf(stderr, "cannot list %s: %s\n", g_imgdir, cs_last_error());
        return 1;
    }

    /* references: the single-CPU pipeline (inline: no device thread) with one thread, the
     * thread count each CPU stand-in gets from --threads 2 */
    cs_features ref, ref64, f;
    cs_features_opts o;
    opts_for(&o, 2048, NULL, 1);
    if (extract(&files, &o, 0, -1, &ref) != CS_OK) {
        fprintf(stderr, "reference extraction failed: %s\n", cs_last_error());
        return 1;
    }
    opts_for(&o, 64, NULL, 1);
    if (extract(&files, &o, 0, -1, &ref64) != CS_OK) {
        fprintf(stderr, "reference extraction (64) failed: %s\n", cs_last_error());
        return 1;
    }
    CHECK(ref.n == N_IMG && ref.n_computed == N_IMG, "reference: %zu rows, %zu computed", ref.n, ref.n_computed);
    if (gpu) {
        int rc = gpu_mode(&files, &ref);
        cs_features_free(&ref);
        cs_features_free(&ref64);
        cs_pathlist_free(&files);
        if (rc != 77) printf("%s\n", failures ? "gpu pipeline: FAILED" : "gpu pipeline: all checks passed");
        return rc;
    }

    /* The default single-CPU run with 2 threads. A batch of several images is computed image by
     * image, each in one OpenMP worker with single-threaded GEMMs (backend_cpu.c): bit-identical
     * to one thread. A batch of ONE image (the last: 13 = 4 x 3 + 1) runs its GEMMs on 2 OpenBLAS
     * threads instead, whose blocking sums in another order: that row agrees to float32 rounding
     * accumulated over the network's ~95 layers only. Bound: 1e-4 of the row's largest |value|
     * (observed about 3e-6); a wrong image or a mixed-up row is off by O(1). Not run under
     * --only-multi (an OpenMP team on this thread). */
    if (!only_multi) {
        cs_features ref2;
        opts_for(&o, 2048, NULL, 2);
        cs_status st = extract(&files, &o, 0, -1, &ref2);
        CHECK(st == CS_OK, "2-thread reference: %s", cs_last_error());
        if (st == CS_OK) {
            for (size_t i = 0; i < N_IMG; i++) {
                const float *a = ref2.data + i * 2048, *r = ref.data + i * 2048;
                if (i < N_IMG - 1) {
                    CHECK(!memcmp(a, r, 2048 * sizeof(float)), "2 threads vs 1: row %zu (batch of %d) differs", i,
                          BATCH);
                    continue;
                }
                double dmax = 0, amax = 0;
                for (int k = 0; k < 2048; k++) {
                    double dd = fabs((double)a[k] - r[k]);
                    dmax = dd > dmax ? dd : dmax;
                    amax = fabs(r[k]) > amax ? fabs(r[k]) : amax;
                }
                printf("single-image batch, 2 OpenBLAS threads vs 1: max |diff| %.3g of max |value| %.3g\n", dmax, amax);
                CHECK(dmax <= 1e-4 * amax, "2 threads vs 1: single-image row differs by %.3g (max |value| %.3g)", dmax,
                      amax);
            }
            cs_features_free(&ref2);
        }
    }

    /* several workers: bit-identical rows in input order */
    const char *lists[] = {"2 CPU stand-ins", "3 CPU stand-ins"};
    for (int li = 0; li < 2; li++) {
        opts_for(&o, 2048, NULL, 2);
        cs_status st = extract(&files, &o, 2 + li, -1, &f);
        CHECK(st == CS_OK, "%s: %s", lists[li], cs_last_error());
        if (st != CS_OK) continue;
        CHECK(f.n_computed == N_IMG && f.n_from_cache == 0 && f.n_device_preprocessed == 0,
              "%s: %zu computed, %zu preprocessed by the device", lists[li], f.n_computed, f.n_device_preprocessed);
        expect_rows(lists[li], &f, &ref, NULL);
        cs_features_free(&f);
    }

    /* a warm cache for every third image (written by a single-CPU run), then 2 workers on all:
     * hits and misses mixed within batches */
    {
        char cache[4200];
        fresh_cache(cache, sizeof cache, "cache-warm");
        cs_pathlist some = {0};
        for (size_t i = 0; i < files.n; i += 3) cs_pathlist_push(&some, files.paths[i]);
        opts_for(&o, 64, cache, 2);
        cs_status st = extract(&some, &o, 2, -1, &f);
        CHECK(st == CS_OK, "warm-up: %s", cs_last_error());
        if (st == CS_OK) cs_features_free(&f);
        st = extract(&files, &o, 2, -1, &f);
        CHECK(st == CS_OK, "warm cache: %s", cs_last_error());
        if (st == CS_OK) {
            CHECK(f.n_from_cache == some.n && f.n_computed == N_IMG - some.n, "warm cache: %zu cached, %zu computed",
                  f.n_from_cache, f.n_computed);
            expect_rows("warm cache, 2 workers", &f, &ref64, NULL);
            cs_features_free(&f);
        }
        cs_pathlist_free(&some);
    }

    /* --skip-bad with 2 workers: a corrupt file and a missing one among the inputs */
    {
        char bad[4200], gone[4200];
        cs_pathlist mixed;
        mixed_inputs(&files, bad, gone, &mixed);
        opts_for(&o, 64, NULL, 2);
        o.skip_bad = 1;
        cs_status st = extract(&mixed, &o, 2, -1, &f);
        CHECK(st == CS_OK, "skip-bad: %s", cs_last_error());
        if (st == CS_OK) {
            CHECK(f.skipped.n == 2 && !strcmp(f.skipped.paths[0], bad) && !strcmp(f.skipped.paths[1], gone),
                  "skip-bad: %zu skipped", f.skipped.n);
            expect_rows("skip-bad, 2 workers", &f, &ref64, NULL);
            cs_features_free(&f);
        }
        /* without --skip-bad the corrupt file stops the run with its name (usage-class error) */
        o.skip_bad = 0;
        st = extract(&mixed, &o, 2, -1, &f);
        CHECK(st != CS_OK && strstr(cs_last_error(), "bad.ppm") && strstr(cs_last_error(), "--skip-bad"),
              "bad file, 2 workers: %s", cs_last_error());
        cs_pathlist_free(&mixed);
    }

    /* Devices that preprocess (testing.cpu_preprocess: the CPU backend takes the GPU's route):
     * the decoded pixels of each batch, of 13 different sizes, packed into one buffer and resized
     * by the backend's preprocess_rgb op (on the CPU: cs_preprocess_rgb itself), so the rows must
     * be bit-identical; inline and with 2 workers, and with a corrupt and a missing file among
     * them (--skip-bad: the packed batch is compacted) */
    {
        expect_device_route("device preprocessing", 0, &files, 0, &ref);
        expect_device_route("device preprocessing", 0, &files, 2, &ref);
        char bad[4200], gone[4200];
        cs_pathlist mixed;
        mixed_inputs(&files, bad, gone, &mixed);
        opts_for(&o, 64, NULL, 2);
        o.skip_bad = 1;
        o.testing.cpu_preprocess = 1;
        cs_status st = extract(&mixed, &o, 2, -1, &f);
        CHECK(st == CS_OK, "device preprocessing, skip-bad: %s", cs_last_error());
        if (st == CS_OK) {
            CHECK(f.skipped.n == 2 && f.n_device_preprocessed == N_IMG, "device preprocessing, skip-bad: %zu skipped, "
                  "%zu preprocessed by the device", f.skipped.n, f.n_device_preprocessed);
            expect_rows("device preprocessing, skip-bad, 2 workers", &f, &ref64, NULL);
            cs_features_free(&f);
        }
        cs_pathlist_free(&mixed);
    }

    /* The GPU's asynchronous route on the CPU (testing.cpu_async: uploads on a lazily emulated
     * copy queue, made only when a fence forces them; two batches in flight per device; packed
     * pixels preprocessed by the backend): bit-identical rows, inline and with 2 and 3 workers */
    {
        expect_device_route("emulated async", 1, &files, 0, &ref);
        expect_device_route("emulated async", 1, &files, 2, &ref);
        expect_device_route("emulated async", 1, &files, 3, &ref);
        /* a pixel budget of 150 kB per batch (testing.rgb_batch_bytes): batches over it are
         * preprocessed by the decode pool and sent as floats, the others packed, mixed within
         * one run on the same slots */
        opts_for(&o, 2048, NULL, 2);
        o.testing.cpu_async = 1;
        o.testing.rgb_batch_bytes = 150000;
        cs_status st = extract(&files, &o, 2, -1, &f);
        CHECK(st == CS_OK, "emulated async, small pixel budget: %s", cs_last_error());
        if (st == CS_OK) {
            printf("pixel budget 150 kB: %zu of %d images preprocessed by the device\n", f.n_device_preprocessed, N_IMG);
            CHECK(f.n_device_preprocessed > 0 && f.n_device_preprocessed < N_IMG,
                  "small pixel budget: %zu of %d images went to the device (want some, not all)", f.n_device_preprocessed,
                  N_IMG);
            expect_rows("emulated async, small pixel budget", &f, &ref, NULL);
            cs_features_free(&f);
        }
    }

    /* the model's two-batch pipeline on the CPU, synchronous and with the emulated asynchronous
     * copy queue (the bookkeeping, packed batches, misuse), against cs_model_features_rgb of
     * the same pairs: bit-identical */
    for (int emu = 0; emu < 2; emu++) {
        const cs_model_testing mt = {.cpu_async = emu};
        cs_weights *w = NULL;
        cs_model *m = NULL;
        cs_image imgs[MPC_BATCHES * MPC_PER];
        static float ref_pairs[MPC_BATCHES * MPC_PER * 2048];
        memset(imgs, 0, sizeof imgs);
        int ok = cs_weights_load(g_weights, &w) == CS_OK &&
                 cs_model_create_testing(w, "cpu", NULL, 1, &mt, &m) == CS_OK;
        CHECK(!ok || cs_model_async(m) == emu, "cpu model async %d, want %d", cs_model_async(m), emu);
        for (int i = 0; ok && i < MPC_BATCHES * MPC_PER; i++) ok = cs_image_load(files.paths[i], &imgs[i]) == CS_OK;
        for (int t = 0; ok && t < MPC_BATCHES; t++)
            ok = cs_model_features_rgb(m, imgs + t * MPC_PER, MPC_PER, 2048, ref_pairs + (size_t)t * MPC_PER * 2048) == CS_OK;
        CHECK(ok, "model pipeline setup: %s", cs_last_error());
        if (ok) {
            int nf = check_model_pipeline(m, imgs, ref_pairs, 2048, 0.0,
                                          emu ? "cpu model pipeline (emulated async)" : "cpu model pipeline");
            CHECK(nf == 0, "cpu model pipeline: %d check(s) failed", nf);
        }
        for (int i = 0; i < MPC_BATCHES * MPC_PER; i++) cs_image_free(&imgs[i]);
        cs_model_free(m);
        cs_weights_free(w);
    }

    /* failing devices; the number cached is exact when the last batch fails (all others were
     * taken before it and are saved) and on the inline path (the batches before k) */
    failure_case(&files, &ref64, 2, 2, -1, "fail-middle-2dev");
    failure_case(&files, &ref64, 2, 4, N_IMG - 1, "fail-last-2dev");
    failure_case(&files, &ref64, 3, 0, -1, "fail-first-3dev");
    failure_case(&files, &ref64, 0, 2, 2 * BATCH, "fail-inline");

    /* a pixel budget over the largest allowed is a usage error, not a silent clamp */
    opts_for(&o, 64, NULL, 2);
    o.testing.rgb_batch_bytes = ((size_t)256 << 20) + 1;
    cs_status st = extract(&files, &o, 2, -1, &f);
    CHECK(st == CS_E_USAGE && strstr(cs_last_error(), "pixel budget"), "pixel budget too large: %s", cs_last_error());

    cs_features_free(&ref);
    cs_features_free(&ref64);
    cs_pathlist_free(&files);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("scheduler pipeline: all checks passed\n");
    return failures ? 1 : 0;
}
