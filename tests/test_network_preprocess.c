/* The fast preprocessing (tables + byte LUT) against its plain per-pixel reference: both
 * evaluate the same float32 expression (torch's order), so they must agree bit for bit on
 * every size class: 1x1, single rows/columns, smaller and larger than 299 in each direction,
 * exactly 299, and non-integer ratios. Also: values stay in [-1, 1] and bad sizes are refused.
 * (Agreement with torch itself is checked by test_network on images of odd sizes.) */
#include "copyscope/model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTN ((size_t)3 * 299 * 299)

int main(void) {
    const int sizes[][2] = {{1, 1},     {5, 3},     {2000, 3},  {3, 700},   {299, 299}, {300, 298},
                            {598, 598}, {150, 151}, {1, 299},   {299, 1},   {2, 2},     {1411, 1411},
                            {897, 13},  {298, 300}, {17, 1001}, {4096, 2}};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    int fail = 0;
    uint32_t s = 12345;
    float *a = malloc(OUTN * sizeof(float)), *b = malloc(OUTN * sizeof(float)); /* (3, 299, 299) */
    for (int k = 0; k < ns; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        size_t np = (size_t)w * h * 3;
        uint8_t *rgb = malloc(np); /* (h, w, 3) */
        for (size_t i = 0; i < np; i++) {
            s = s * 1664525u + 1013904223u;
            rgb[i] = (uint8_t)(s >> 24);
        }
        rgb[0] = 0;
        rgb[np - 1] = 255;
        memset(a, 0xff, OUTN * sizeof(float)); /* NaN pattern: every output must be written */
        if (cs_preprocess_rgb(rgb, w, h, a) != CS_OK) {
            printf("FAIL %dx%d: %s\n", w, h, cs_last_error());
            fail++;
            free(rgb);
            continue;
        }
        cs_preprocess_rgb_ref(rgb, w, h, b);
        size_t bad = 0, outside = 0;
        for (size_t i = 0; i < OUTN; i++) {
            if (memcmp(&a[i], &b[i], sizeof(float)) != 0) bad++;
            if (!(a[i] >= -1.0f && a[i] <= 1.0f)) outside++;
        }
        printf("%s %dx%d: %zu of %zu values differ from the reference, %zu outside [-1, 1]\n",
               bad || outside ? "FAIL" : "ok  ", w, h, bad, OUTN, outside);
        if (bad || outside) fail++;
        free(rgb);
    }
    uint8_t px[3] = {0, 0, 0};
    if (cs_preprocess_rgb(px, 0, 1, a) != CS_E_USAGE || cs_preprocess_rgb(NULL, 1, 1, a) != CS_E_USAGE) {
        printf("FAIL: bad sizes not refused\n");
        fail++;
    }
    free(a);
    free(b);
    printf("%s: %d failure(s)\n", fail ? "FAILED" : "PASSED", fail);
    return fail ? 1 : 0;
}
