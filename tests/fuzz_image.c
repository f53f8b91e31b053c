/* libFuzzer target for the image decoder (built when COPYSCOPE_FUZZ=ON with clang):
 *   fuzz_image -max_total_time=60 CORPUS_DIR   (seed it with tools/make_test_images.py) */
#include "copyscope/image.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cs_image img;
    /* 4 Mpixel: a few hundred bytes of progressive JPEG can legally describe a 65000x255
     * image; decoding those under ASan takes seconds and finds nothing new. */
    if (cs_image_decode_limited(data, size, "fuzz", (uint64_t)1 << 22, &img) == CS_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 3; i++) sum += img.rgb[i];
        (void)sum;
    }
    cs_image_free(&img);
    return 0;
}
