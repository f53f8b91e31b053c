/* libFuzzer target for the image decoders, run in CI by tests/fuzz_ci.sh (fuzz_smoke): bytes ->
 * cs_image_decode_limited (format by signature: PNG, JPEG, PPM/PGM, WebP, TIFF, BMP). Seeds:
 * tests/fuzz_seeds.py (small WebP/TIFF/BMP variants from tools/make_format_images.py, a PNG,
 * a JPEG). The longer hand runs use tests/fuzz_image.c on the whole corpora. */
#include "copyscope/image.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cs_image img;
    /* 1 Mpixel: a few bytes of RLE, CCITT or lossless WebP can legally describe a large
     * image; decoding those under ASan takes long and finds nothing new. */
    if (cs_image_decode_limited(data, size, "fuzz", (uint64_t)1 << 20, &img) == CS_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 3; i++) sum += img.rgb[i];
        (void)sum;
    }
    cs_image_free(&img);
    return 0;
}
