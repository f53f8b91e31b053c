/* Thumbnails for report.html: decode (the engine's decoder), shrink (PIL's bicubic, in C), JPEG
 * (libjpeg), base64 data URI. See report_visual.h. */
#include "attribution/report_visual.h"

#include "copyscope/metrics.h"

#include "core/common.h"

#include <jpeglib.h>
#include <setjmp.h>
#include <string.h>

#define CS_THUMB_MAX_BYTES ((size_t)256 << 20)    /* an image file to thumbnail */
#define CS_THUMB_MAX_PIXELS ((uint64_t)64 << 20)   /* 67 Mpixel: 200 MB decoded */

/* libjpeg reports errors by calling error_exit: jump back instead of exiting the process. */
typedef struct cs_jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} cs_jpeg_err;

static void cs_jpeg_error_exit(j_common_ptr cinfo) {
    cs_jpeg_err *e = (cs_jpeg_err *)cinfo->err;
    longjmp(e->jump, 1);
}

/* JPEG of an RGB image into *out (malloc'd by libjpeg's memory destination; free()). */
static cs_status cs_jpeg_encode(const cs_image *im, int quality, unsigned char **out, unsigned long *len) {
    struct jpeg_compress_struct c;
    cs_jpeg_err err;
    *out = NULL;
    *len = 0;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = cs_jpeg_error_exit;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&c);
        free(*out);
        *out = NULL;
        return CS_FAIL(CS_E_INTERNAL, "JPEG encoding of a thumbnail failed");
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, len);
    c.image_width = (JDIMENSION)im->width;
    c.image_height = (JDIMENSION)im->height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(im->rgb + (size_t)c.next_scanline * (size_t)im->width * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return CS_OK;
}

static char *cs_base64_uri(const char *prefix, const unsigned char *data, size_t len) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t pl = strlen(prefix), n = pl + (len + 2) / 3 * 4 + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    memcpy(s, prefix, pl);
    char *o = s + pl;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        const uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63], *o++ = tab[v >> 6 & 63], *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return s;
}

cs_status cs_thumbnail_data_uri(const char *path, int max_side, char **uri, int *w, int *h) {
    *uri = NULL;
    cs_image im = {0}, sm = {0};
    /* a path from a features file may name anything: a regular file only (cs_read_file), at most
     * CS_THUMB_MAX_BYTES, decoded only when it has at most CS_THUMB_MAX_PIXELS */
    unsigned char *data = NULL;
    size_t n = 0;
    CS_TRY(cs_read_file(path, CS_THUMB_MAX_BYTES, &data, &n));
    cs_status st0 = cs_image_decode_limited(data, n, path, CS_THUMB_MAX_PIXELS, &im);
    free(data);
    CS_TRY(st0);
    int tw = im.width, th = im.height;
    if (tw > max_side || th > max_side) { /* fit the box, keep the aspect ratio, at least 1 px */
        if (tw >= th) {
            th = (int)((double)th * max_side / tw + 0.5);
            tw = max_side;
        } else {
            tw = (int)((double)tw * max_side / th + 0.5);
            th = max_side;
        }
        tw = tw < 1 ? 1 : tw;
        th = th < 1 ? 1 : th;
    }
    cs_status st = cs_image_resize(&im, tw, th, CS_RESAMPLE_BICUBIC, &sm);
    cs_image_free(&im);
    CS_TRY(st);
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    st = cs_jpeg_encode(&sm, 80, &jpg, &len);
    cs_image_free(&sm);
    CS_TRY(st);
    *uri = cs_base64_uri("data:image/jpeg;base64,", jpg, len);
    free(jpg);
    if (!*uri) return CS_FAIL(CS_E_NOMEM, "out of memory encoding a thumbnail");
    *w = tw;
    *h = th;
    return CS_OK;
}
