/* Decode every file named on the command line; write each RGB result to OUTDIR/<basename>.rgb
 * and one line per file to stdout: "<basename>\t<status>\t<width>\t<height>\t<message>".
 * tests/image_ref.py compares the bytes with PIL and the statuses with the corpus manifest.
 * The files are decoded twice, one by one (cs_image_load) and in parallel on a 3-thread pool
 * (cs_image_load_many); the two must agree exactly (status, message, pixels), else exit 1.
 *
 *   test_image_decode OUTDIR FILE... */
#include "copyscope/image.h"
#include "core/threadpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUTDIR FILE...\n", argv[0]);
        return 2;
    }
    const char *outdir = argv[1];
    size_t n = (size_t)(argc - 2);
    const char *const *paths = (const char *const *)(argv + 2);
    cs_image *many = calloc(n + 1, sizeof *many);
    cs_status *st_many = calloc(n + 1, sizeof *st_many);
    char **msg_many = calloc(n + 1, sizeof *msg_many);
    cs_threadpool *pool = cs_threadpool_create(3);
    if (!many || !st_many || !msg_many || !pool) return 1;
    cs_status st_all = cs_image_load_many(pool, paths, n, many, st_many, msg_many);
    int bad = 0;
    size_t first_fail = n;
    for (size_t i = 0; i < n; i++) {
        cs_image img;
        cs_status st = cs_image_load(paths[i], &img);
        const char *msg = st == CS_OK ? "" : cs_last_error();
        if (st != CS_OK && first_fail == n) first_fail = i;
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        printf("%s\t%s\t%d\t%d\t%s\n", base, cs_status_name(st), img.width, img.height, msg);
        /* the parallel decode must give the same result */
        if (st != st_many[i] || (st != CS_OK && strcmp(msg, msg_many[i] ? msg_many[i] : "")) ||
            (st == CS_OK && (img.width != many[i].width || img.height != many[i].height ||
                             memcmp(img.rgb, many[i].rgb, (size_t)img.width * img.height * 3)))) {
            fprintf(stderr, "MISMATCH between cs_image_load and cs_image_load_many on %s\n", paths[i]);
            bad = 1;
        }
        if (st == CS_OK) {
            char out[4096];
            snprintf(out, sizeof out, "%s/%s.rgb", outdir, base);
            FILE *f = fopen(out, "wb");
            if (!f || fwrite(img.rgb, 3, (size_t)img.width * img.height, f) !=
                          (size_t)img.width * img.height) {
                fprintf(stderr, "cannot write %s\n", out);
                bad = 1;
            }
            if (f) fclose(f);
        } else if (img.rgb || img.width || img.height) {
            fprintf(stderr, "%s: failed decode left a non-empty image\n", paths[i]);
            bad = 1;
        }
        cs_image_free(&img);
        cs_image_free(&many[i]);
        free(msg_many[i]);
    }
    /* load_many returns the first failure in index order */
    cs_status want = first_fail < n ? st_many[first_fail] : CS_OK;
    if (st_all != want) {
        fprintf(stderr, "cs_image_load_many returned %s, expected %s\n", cs_status_name(st_all),
                cs_status_name(want));
        bad = 1;
    }
    cs_threadpool_free(pool);
    free(many);
    free(st_many);
    free(msg_many);
    return bad;
}
