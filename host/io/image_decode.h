/* Private to the image decoders (host/io/image*.c): the per-format entry points that
 * cs_image_decode_limited dispatches to by signature, and the helpers they share. Each
 * decoder gets the whole file in memory, fills *out (zeroed by the caller) on success and
 * leaves it empty on failure, with a one-line message naming `name`. */
#ifndef CS_IO_IMAGE_DECODE_H
#define CS_IO_IMAGE_DECODE_H

#include "copyscope/image.h"

#include <stddef.h>
#include <stdint.h>

/* Refuse zero or absurd dimensions (before anything is allocated for them). */
cs_status cs_image_check_size(const char *name, uint64_t w, uint64_t h, uint64_t max_pixels);
/* Check dimensions and allocate out->rgb, (h, w, 3) uint8. */
cs_status cs_image_alloc(cs_image *out, const char *name, uint64_t w, uint64_t h, uint64_t max_pixels);

/* PIL 9.4 Convert.c cmyk2rgb for one channel: nk = 255 - K, X = nk - round(C * nk / 255),
 * with PIL's rounding division by 255 ((t >> 8) + t) >> 8, t = C * nk + 128. */
static inline uint8_t cs_image_cmyk_channel(unsigned c, unsigned nk) {
    unsigned t = c * nk + 128;
    int v = (int)nk - (int)(((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

cs_status cs_image_decode_bmp(const unsigned char *data, size_t len, const char *name,
                              uint64_t max_pixels, cs_image *out);
cs_status cs_image_decode_tiff(const unsigned char *data, size_t len, const char *name,
                               uint64_t max_pixels, cs_image *out);
cs_status cs_image_decode_webp(const unsigned char *data, size_t len, const char *name,
                               uint64_t max_pixels, cs_image *out);

#endif
