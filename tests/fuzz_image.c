/* libFuzzer target for the image decoder (built when COPYSCOPE_FUZZ=ON with clang):
 *   fuzz_image -max_total_time=60 CORPUS_DIR   (seed it with tools/make_test_images.py) */
#include "copyscope/image.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cs_image img;
    if (cs_image_decode(data, size, "fuzz", &img) == CS_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 3; i++) sum += img.rgb[i];
    }
    cs_image_free(&img);
    return 0;
}
