/* Shared by test_scheduler_pipeline.c (cpu) and test_gpu_features.c (cuda): the model's
 * two-batch pipeline (cs_model_submit / cs_model_submit_rgb / cs_model_collect).
 *
 * Four batches of two images go through the model's two slots interleaved as a device thread
 * of the scheduler runs them (A->0, B->1, collect A, C->0, collect B, D->1, collect C, collect
 * D): A and C from preprocessed floats, B and D from decoded pixels packed in one buffer (items
 * at increasing, unaligned offsets), all in cs_model_host_alloc memory. On a GPU the uploads
 * of B, C and D are on the copy queue while the previous batch computes; every host buffer is
 * rewritten with garbage right after its batch is collected, so a late read shows. Each
 * batch's rows must equal ref (the same images through the model's synchronous path) within
 * tol times the largest |ref|. Misuse: a submit into a slot in flight, a collect of an empty
 * slot, a slot number other than 0/1 and a packed item outside its buffer are CS_E_USAGE and
 * leave the pipeline usable. Returns the number of failed checks (messages on stdout). */
#ifndef CS_TEST_MODEL_PIPELINE_CHECK_H
#define CS_TEST_MODEL_PIPELINE_CHECK_H

#include "copyscope/image.h"
#include "copyscope/model.h"
#include "copyscope/status.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MPC_BATCHES 4
#define MPC_PER 2
#define MPC_IN ((size_t)3 * 299 * 299)

static int mpc_report(int ok, const char *what, const char *detail) {
    printf("%s %s: %s\n", ok ? "ok  " : "FAIL", what, detail);
    return ok ? 0 : 1;
}

/* imgs: at least MPC_BATCHES * MPC_PER images; ref: (MPC_BATCHES * MPC_PER, dims). */
static int check_model_pipeline(cs_model *m, const cs_image *imgs, const float *ref, int dims, double tol,
                                const char *what) {
    int fails = 0;
    char msg[512];
    float *x[MPC_BATCHES] = {0}, *out[MPC_BATCHES] = {0};
    uint8_t *rgb[MPC_BATCHES] = {0};
    cs_rgb_item items[MPC_BATCHES][MPC_PER];
    size_t rgb_bytes[MPC_BATCHES] = {0};
    double scale = 0;
    for (size_t i = 0; i < (size_t)MPC_BATCHES * MPC_PER * dims; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (int t = 0; t < MPC_BATCHES; t++) {
        const cs_image *im = imgs + t * MPC_PER;
        if (cs_model_host_alloc(m, (size_t)MPC_PER * dims * sizeof(float), (void **)&out[t]) != CS_OK) goto oom;
        if (t % 2 == 0) { /* floats */
            if (cs_model_host_alloc(m, MPC_PER * MPC_IN * sizeof(float), (void **)&x[t]) != CS_OK) goto oom;
            for (int j = 0; j < MPC_PER; j++)
                if (cs_preprocess_rgb(im[j].rgb, im[j].width, im[j].height, x[t] + j * MPC_IN) != CS_OK) goto oom;
        } else { /* packed, 3 bytes of gap before each image: offsets are not aligned */
            size_t off = 0;
            for (int j = 0; j < MPC_PER; j++) {
                off += 3;
                items[t][j] = (cs_rgb_item){.offset = off, .width = im[j].width, .height = im[j].height};
                off += (size_t)im[j].width * im[j].height * 3;
            }
            rgb_bytes[t] = off;
            if (cs_model_host_alloc(m, off, (void **)&rgb[t]) != CS_OK) goto oom;
            memset(rgb[t], 0xA5, off);
            for (int j = 0; j < MPC_PER; j++)
                memcpy(rgb[t] + items[t][j].offset, im[j].rgb, (size_t)im[j].width * im[j].height * 3);
        }
    }
    {
        cs_status st;
#define MPC_SUBMIT(t, slot)                                                                                  \
    (x[t] ? cs_model_submit(m, slot, x[t], MPC_PER, dims, out[t])                                            \
          : cs_model_submit_rgb(m, slot, rgb[t], rgb_bytes[t], items[t], MPC_PER, dims, out[t]))
        /* the schedule of a device thread with the producer ahead */
        const struct { int submit, slot; } plan[] = {{0, 0}, {1, 1}, {-1, 0}, {2, 0}, {-1, 1}, {3, 1}, {-1, 0}, {-1, 1}};
        int in_slot[2] = {-1, -1};
        for (size_t k = 0; k < sizeof plan / sizeof plan[0]; k++) {
            const int slot = plan[k].slot;
            if (plan[k].submit >= 0) {
                const int t = plan[k].submit;
                st = MPC_SUBMIT(t, slot);
                snprintf(msg, sizeof msg, "submit batch %d into slot %d: %s", t, slot,
                         st == CS_OK ? "ok" : cs_last_error());
                fails += mpc_report(st == CS_OK, what, msg);
                if (st == CS_OK) in_slot[slot] = t;
                if (k == 1) { /* both slots busy: a third submit is refused */
                    st = MPC_SUBMIT(2, 0);
                    snprintf(msg, sizeof msg, "submit into the busy slot 0: %s", cs_status_name(st));
                    fails += mpc_report(st == CS_E_USAGE, what, msg);
                }
                continue;
            }
            const int t = in_slot[slot];
            st = cs_model_collect(m, slot);
            snprintf(msg, sizeof msg, "collect slot %d (batch %d): %s", slot, t, st == CS_OK ? "ok" : cs_last_error());
            fails += mpc_report(st == CS_OK && t >= 0, what, msg);
            in_slot[slot] = -1;
            if (st != CS_OK || t < 0) continue;
            double dmax = 0;
            for (size_t i = 0; i < (size_t)MPC_PER * dims; i++) {
                double d = fabs((double)out[t][i] - ref[(size_t)t * MPC_PER * dims + i]);
                if (!(d <= dmax)) dmax = isnan(d) ? INFINITY : d;
            }
            snprintf(msg, sizeof msg, "batch %d (%s) vs the synchronous path: max|d| %.3g = %.3g of the scale (tolerance %.0e)",
                     t, x[t] ? "floats" : "packed rgb", dmax, dmax / scale, tol);
            fails += mpc_report(dmax <= tol * scale, what, msg);
            /* the batch is done: its buffers are the caller's again */
            if (x[t]) memset(x[t], 0xFF, MPC_PER * MPC_IN * sizeof(float));
            if (rgb[t]) memset(rgb[t], 0x5A, rgb_bytes[t]);
        }
        st = cs_model_collect(m, 0);
        snprintf(msg, sizeof msg, "collect of an empty slot: %s", cs_status_name(st));
        fails += mpc_report(st == CS_E_USAGE, what, msg);
        st = cs_model_submit(m, 2, x[0], MPC_PER, dims, out[0]);
        snprintf(msg, sizeof msg, "slot 2: %s", cs_status_name(st));
        fails += mpc_report(st == CS_E_USAGE, what, msg);
        cs_rgb_item badit[MPC_PER];
        memcpy(badit, items[1], sizeof badit);
        badit[MPC_PER - 1].offset = rgb_bytes[1] - 2; /* runs past the end */
        st = cs_model_submit_rgb(m, 0, rgb[1], rgb_bytes[1], badit, MPC_PER, dims, out[1]);
        snprintf(msg, sizeof msg, "packed item outside its buffer: %s", cs_status_name(st));
        fails += mpc_report(st == CS_E_USAGE, what, msg);
        st = cs_model_collect(m, 0);
        fails += mpc_report(st == CS_E_USAGE, what, "nothing in flight after the refused submits");
#undef MPC_SUBMIT
    }
    goto done;
oom:
    fails += mpc_report(0, what, "out of memory or preprocessing failed setting up");
done:
    for (int t = 0; t < MPC_BATCHES; t++) {
        cs_model_host_free(m, x[t]);
        cs_model_host_free(m, rgb[t]);
        cs_model_host_free(m, out[t]);
    }
    return fails;
}

#endif
