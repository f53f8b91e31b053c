/* copyscope: image decoding to 8-bit RGB, as PIL's Image.open(f).convert('RGB').
 *
 * PNG (every color type and bit depth, palette with tRNS, interlaced) through libpng;
 * JPEG (baseline, progressive, grayscale, CMYK/YCCK incl. Adobe inverted) through
 * libjpeg-turbo; binary PGM/PPM (P5/P6, 8 and 16 bits); WebP (lossy, lossless, alpha,
 * animated: the first frame) through libwebp; TIFF (1-32 bits, gray, RGB(A), palette, CMYK,
 * every compression PIL reads, strips or tiles, first page) through libtiff; BMP (1/4/8-bit
 * palette, RLE4/RLE8, 16/24/32-bit, bottom-up and top-down) by hand. The rules of the three
 * are in host/io/image_webp.c, image_tiff.c, image_bmp.c and docs/formats.md. A cs_image owns
 * its pixels; free with cs_image_free.
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
 * Differences from PIL (errors only): plain PNM (P1-P4) and GIF are CS_E_UNSUPPORTED, and so
 * are the WebP/TIFF/BMP variants PIL misdecodes or that are out of scope (docs/formats.md:
 * BMP grey-ramp palettes PIL reads with the wrong mode, BMP RLE delta escapes, 16-bit
 * uncompressed planar TIFF, compressed big-endian 32-bit TIFF, LAB and 12-bit TIFF, YCbCr TIFF
 * without JPEG); libpng and PIL's own PNG reader disagree on some corrupt files (either
 * may accept one the other refuses), and so do PIL's TIFF directory parser and libtiff. Truncated files fail in
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

/* Which files of a directory each peer reads (its own rule, so that copyscope and the peer
 * compute statistics over the same set; docs/formats.md):
 *  PYTORCH_FID     pytorch-fid 0.3.0: path.glob('*.<ext>') for bmp jpg jpeg pgm png ppm tif
 *                  tiff webp: lower-case only (a.PNG, b.JPEG are skipped), not recursive,
 *                  dotfiles included; the default.
 *  CLEAN_FID       clean-fid 0.1.35: glob('<dir>/ ** / *.<ext>', recursive) for bmp jpg jpeg pgm
 *                  png ppm tif tiff webp npy JPEG JPG PNG: exact case (a.JPEG yes, a.Jpg no),
 *                  recursive, names starting with '.' skipped (files and directories), whole
 *                  paths sorted; .npy arrays are refused (clean-fid reads them, copyscope not).
 *  TORCH_FIDELITY  torch-fidelity 0.4.0 defaults (samples_find_ext "png,jpg,jpeg",
 *                  samples_find_deep false): top level only, the lower-cased extension in
 *                  {png, jpg, jpeg} (a.PNG yes; .webp/.tif/.bmp are not read), a name that is
 *                  only ".png" has no extension (os.path.splitext). */
typedef enum cs_image_listing {
    CS_LISTING_PYTORCH_FID = 0,
    CS_LISTING_CLEAN_FID,
    CS_LISTING_TORCH_FIDELITY
} cs_image_listing;
/* Whether the directory entry `name` (no directory part) is listed under `rule`. */
int cs_image_listed(const char *name, cs_image_listing rule);
/* "pytorch-fid", "clean-fid", "torch-fidelity". */
const char *cs_image_listing_name(cs_image_listing rule);
/* The rule's extensions as text for messages ("*.bmp *.jpg ..., lowercase, like pytorch-fid"). */
const char *cs_image_listing_describe(cs_image_listing rule);

#ifdef __cplusplus
}
#endif
#endif
