/* copyscope: image decoding to 8-bit RGB, as PIL's Image.open(f).convert('RGB').
 *
 * PNG (every color type and bit depth, palette with tRNS, interlaced) through libpng;
 * JPEG (baseline, progressive, grayscale, CMYK/YCCK incl. Adobe inverted) through
 * libjpeg-turbo; binary PGM/PPM (P5/P6, 8 and 16 bits). A cs_image owns its pixels; free
 * with cs_image_free.
 *
 * The output is byte-identical to PIL 9.4 (Debian python3-pil, same libjpeg-turbo) for
 * every input PIL and we both accept; tests/image_ref.py checks this on a generated corpus.
 * Follows PIL also where PIL is odd, because pytorch-fid numbers depend on it:
 *  - alpha is dropped without compositing; tRNS is ignored;
 *  - 1-bit gray -> 0/255, 2-bit gray x85, 4-bit gray x17 (PIL modes "1" and "L");
 *  - 16-bit RGB, RGBA and gray+alpha keep the high byte of each sample;
 *  - 16-bit gray becomes PIL mode "I" and "I" -> RGB CLIPS the 16-bit value to 0..255
 *    (so an ordinary 16-bit gray PNG decodes almost all white, exactly as in pytorch-fid);
 *  - palette indices beyond the PLTE entries read PIL's default grey ramp (i, i, i);
 *  - JPEG CMYK/YCCK is taken as Adobe-inverted (PIL "CMYK;I") and converted with PIL 9.4's
 *    cmyk2rgb: nk = 255 - K, X = nk - round(C * nk / 255);
 *  - PGM/PPM with maxval != 255 are scaled by round-half-even(v / maxval * 255), except
 *    16-bit PGM (maxval > 255): PIL mode "I" (scaled to 0..65535), then clipped to 0..255;
 *  - EXIF orientation is not applied;
 *  - PNG chunk CRCs are checked before the first IDAT only (IDAT and later: not checked);
 *    a JPEG whose scanlines are all decoded may lack its end (EOI), as in PIL.
 * Differences from PIL (errors only): plain PNM (P1-P4), BMP, TIFF, WebP and GIF are
 * CS_E_UNSUPPORTED; libpng and PIL's own PNG reader disagree on
 * some corrupt files (either may accept one the other refuses). Truncated files fail in
 * both (PIL: "image file is truncated"; here CS_E_TRUNCATED). */
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
/* Same with a lower pixel limit (0 or more than CS_IMAGE_MAX_PIXELS: that limit), for
 * callers that know their images are small (fuzzing, thumbnails): larger ones are refused
 * with CS_E_FORMAT before any pixel buffer is allocated. */
cs_status cs_image_decode_limited(const unsigned char *data, size_t len, const char *name,
                                  uint64_t max_pixels, cs_image *out);
void cs_image_free(cs_image *img); /* frees pixels, zeroes the struct; NULL-safe */

/* Decode n files in parallel on pool (NULL or a 1-thread pool: in the calling thread).
 * out[i] (n entries, zeroed on failure) and st_each[i] get each file's result; when
 * msg_each is not NULL, msg_each[i] gets a malloc'ed copy of its error message (NULL on
 * success; free() each). Returns CS_OK when all succeeded, else the status of the first
 * failed file (in index order) with its message recorded for cs_last_error(). */
typedef struct cs_threadpool cs_threadpool;
cs_status cs_image_load_many(cs_threadpool *pool, const char *const *paths, size_t n,
                             cs_image *out, cs_status *st_each, char **msg_each);

/* Extensions pytorch-fid accepts: bmp jpg jpeg pgm png ppm tif tiff webp (any case). */
int cs_image_has_known_extension(const char *path);
/* The same list matched exactly as pytorch-fid selects files on Linux: its
 * pathlib.Path.glob('*.png') etc. is case-sensitive, so "a.PNG" or "b.Jpg" are NOT part of
 * a pytorch-fid run (use this one to get the same file set; a dotfile such as ".png" has
 * no suffix for pathlib but still matches glob('*.png'), so it matches here too). */
int cs_image_has_fid_extension(const char *path);

#ifdef __cplusplus
}
#endif
#endif
