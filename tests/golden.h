/* Reader for the golden files written by tools/fid_inception_torch.py (write_golden):
 * b"CSGOLDEN" | int32 version (1) | int32 n | int32 d | n*d float32, little-endian.
 * Test-only helper (static functions in a header, included by one test each). */
#ifndef CS_TEST_GOLDEN_H
#define CS_TEST_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'ed (n, d) array or NULL (with a message on stdout). */
static float *golden_read(const char *path, int *n, int *d) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("cannot open golden file %s\n", path);
        return NULL;
    }
    char magic[8];
    int32_t hdr[3];
    float *data = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "CSGOLDEN", 8) != 0 || fread(hdr, 4, 3, f) != 3 ||
        hdr[0] != 1 || hdr[1] < 0 || hdr[2] < 1 || (int64_t)hdr[1] * hdr[2] > ((int64_t)1 << 30)) {
        printf("%s: not a version-1 golden file\n", path);
        goto done;
    }
    size_t count = (size_t)hdr[1] * (size_t)hdr[2];
    data = malloc((count ? count : 1) * sizeof(float));
    if (!data || fread(data, sizeof(float), count, f) != count) {
        printf("%s: truncated golden file\n", path);
        free(data);
        data = NULL;
        goto done;
    }
    *n = hdr[1];
    *d = hdr[2];
done:
    fclose(f);
    return data;
}

#endif
