/* copyscope: image decoding to 8-bit RGB, as PIL's Image.open(f).convert('RGB').
 *
 * PNG (every color type and bit depth, palette with tRNS, interlaced) through libpng;
 * JPEG (baseline, progressive, grayscale, CMYK/YCCK incl. Adobe inverted) through
 * libjpeg-turbo. A cs_image owns its pixels; free with cs_image_free. */
#ifndef COPYSCOPE_IMAGE_H
#define COPYSCOPE_IMAGE_H

#include "copyscope/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Refuse images above these limits (absurd dimensions in hostile headers). */
#define CS_IMAGE_MAX_SIDE 65535
#define CS_IMAGE_MAX_PIXELS ((uint64_t)1 << 28) /* 268 Mpixel */

typedef struct cs_image {
    int width, height;
    uint8_t *rgb; /* (height, width, 3) uint8, row-major, owned */
} cs_image;

/* Decode one file (format detected from its bytes, not its name). Errors name the file:
 * "<path>: truncated PNG", "<path>: not an image (unknown signature)", ... */
cs_status cs_image_load(const char *path, cs_image *out);
/* Decode from memory; name is used in messages. */
cs_status cs_image_decode(const unsigned char *data, size_t len, const char *name, cs_image *out);
void cs_image_free(cs_image *img); /* frees pixels, zeroes the struct; NULL-safe */

/* Extensions pytorch-fid accepts: bmp jpg jpeg pgm png ppm tif tiff webp (any case). */
int cs_image_has_known_extension(const char *path);

#ifdef __cplusplus
}
#endif
#endif
