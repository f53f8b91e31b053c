/* Image decoding to 8-bit RGB, byte-identical to PIL 9.4's Image.open(f).convert('RGB').
 *
 * The format is detected from the first bytes. WebP, TIFF and BMP have their own files
 * (image_webp.c, image_tiff.c, image_bmp.c). PNG goes through libpng with no colour
 * transforms (only unpacking of sub-byte samples and de-interlacing); the PIL mode rules
 * (PngImagePlugin._MODES + Convert.c) are then applied here, row by row. JPEG goes through
 * libjpeg-turbo with the same settings PIL uses (default ISLOW DCT, fancy upsampling), so the
 * library produces the very same bytes; CMYK is converted with PIL's cmyk2rgb formula.
 * PPM/PGM (P5/P6) follow PpmImagePlugin. Every size comes from a hostile file: limits are
 * checked before allocating and every read is bounded by the buffer. */
#include "copyscope/image.h"
#include "core/common.h"
#include "core/threadpool.h"
#include "io/image_decode.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

/* Bigger files are refused before reading: 2 GiB covers a P6 PPM at CS_IMAGE_MAX_PIXELS. */
#define CS_IMAGE_MAX_FILE_BYTES ((size_t)1 << 31)

void cs_image_free(cs_image *img) {
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

static const char *const fid_exts[] = {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"};

static int has_extension(const char *path, int (*cmp)(const char *, const char *)) {
    if (!path) return 0;
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot || !dot[1]) return 0;
    for (size_t i = 0; i < sizeof fid_exts / sizeof fid_exts[0]; i++)
        if (cmp(dot + 1, fid_exts[i]) == 0) return 1;
    return 0;
}

int cs_image_has_known_extension(const char *path) { return has_extension(path, strcasecmp); }
int cs_image_has_fid_extension(const char *path) { return has_extension(path, strcmp); }

int cs_image_listed(const char *name, cs_image_listing rule) {
    if (!name) return 0;
    const char *dot = strrchr(name, '.');
    switch (rule) {
    case CS_LISTING_PYTORCH_FID:
        return has_extension(name, strcmp);
    case CS_LISTING_CLEAN_FID: {
        static const char *const ext[] = {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif",
                                          "tiff", "webp", "npy", "JPEG", "JPG", "PNG"};
        if (name[0] == '.' || !dot || !dot[1]) return 0; /* glob's '*' skips hidden names */
        for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
            if (strcmp(dot + 1, ext[i]) == 0) return 1;
        return 0;
    }
    case CS_LISTING_TORCH_FIDELITY: {
        /* os.path.splitext: leading dots belong to the name (".png" has no extension) */
        const char *p = name;
        while (*p == '.') p++;
        dot = strrchr(p, '.');
        if (!dot || !dot[1]) return 0;
        return !strcasecmp(dot + 1, "png") || !strcasecmp(dot + 1, "jpg") || !strcasecmp(dot + 1, "jpeg");
    }
    }
    return 0;
}

const char *cs_image_listing_name(cs_image_listing rule) {
    switch (rule) {
    case CS_LISTING_PYTORCH_FID: return "pytorch-fid";
    case CS_LISTING_CLEAN_FID: return "clean-fid";
    case CS_LISTING_TORCH_FIDELITY: return "torch-fidelity";
    }
    return "unknown";
}

const char *cs_image_listing_describe(cs_image_listing rule) {
    switch (rule) {
    case CS_LISTING_PYTORCH_FID:
        return "*.bmp *.jpg *.jpeg *.pgm *.png *.ppm *.tif *.tiff *.webp, lowercase, like pytorch-fid";
    case CS_LISTING_CLEAN_FID:
        return "**/*.bmp *.jpg *.jpeg *.pgm *.png *.ppm *.tif *.tiff *.webp *.JPEG *.JPG *.PNG, recursive, like clean-fid";
    case CS_LISTING_TORCH_FIDELITY:
        return "*.png *.jpg *.jpeg in any case, like torch-fidelity's defaults";
    }
    return "";
}

cs_status cs_image_check_size(const char *name, uint64_t w, uint64_t h, uint64_t max_pixels) {
    if (w == 0 || h == 0)
        return CS_FAIL(CS_E_FORMAT, "%s: image has zero size (%llux%llu)", name,
                       (unsigned long long)w, (unsigned long long)h);
    if (w > CS_IMAGE_MAX_SIDE || h > CS_IMAGE_MAX_SIDE || w * h > max_pixels)
        return CS_FAIL(CS_E_FORMAT,
                       "%s: image is %llux%llu, larger than the limit (side %d, %llu pixels)",
                       name, (unsigned long long)w, (unsigned long long)h, CS_IMAGE_MAX_SIDE,
                       (unsigned long long)max_pixels);
    return CS_OK;
}

cs_status cs_image_alloc(cs_image *out, const char *name, uint64_t w, uint64_t h,
                        uint64_t max_pixels) {
    CS_TRY(cs_image_check_size(name, w, h, max_pixels));
    out->rgb = cs_malloc((size_t)(w * h * 3), name); /* (h, w, 3) uint8 */
    if (!out->rgb) return CS_E_NOMEM;
    out->width = (int)w;
    out->height = (int)h;
    return CS_OK;
}

/* ======================================================================== PNG */

static uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

typedef struct png_src {
    const unsigned char *data;
    size_t len, pos;
    int truncated;
    jmp_buf jb;
    char msg[200];
} png_src;

static void png_read_cb(png_structp png, png_bytep dst, size_t n) {
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        s->truncated = 1;
        png_error(png, "truncated");
    }
    memcpy(dst, s->data + s->pos, n);
    s->pos += n;
}

static void png_error_cb(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown error");
    longjmp(s->jb, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg) {
    (void)png, (void)msg; /* PIL ignores what libpng warns about (bad ancillary chunks) */
}

/* One unpacked libpng row (1 byte per sample below 8 bits, big-endian 16-bit samples) to
 * RGB, with PIL's rules: 1-bit gray -> 0/255, 2/4-bit gray scaled by 85/17, 16-bit gray is
 * mode "I" and "I" -> RGB clips to 0..255, other 16-bit modes keep the high byte, alpha is
 * dropped, palette indices past the PLTE read PIL's default ramp (i, i, i). */
static void png_row_to_rgb(const uint8_t *in, uint8_t *out, int w, int color_type, int depth,
                           const uint8_t pal[256][3]) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        for (int x = 0; x < w; x++) {
            unsigned v;
            switch (depth) {
            case 1: v = in[x] ? 255 : 0; break;
            case 2: v = in[x] * 85u; break;
            case 4: v = in[x] * 17u; break;
            case 8: v = in[x]; break;
            default: v = ((unsigned)in[2 * x] << 8) | in[2 * x + 1]; v = v > 255 ? 255 : v; break;
            }
            out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = (uint8_t)v;
        }
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: {
        int step = depth == 16 ? 4 : 2;
        for (int x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[step * x];
        break;
    }
    case PNG_COLOR_TYPE_RGB:
    case PNG_COLOR_TYPE_RGB_ALPHA: {
        int nch = color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
        int bps = depth == 16 ? 2 : 1;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) out[3 * x + c] = in[(x * nch + c) * bps];
        break;
    }
    case PNG_COLOR_TYPE_PALETTE:
        for (int x = 0; x < w; x++) memcpy(out + 3 * x, pal[in[x]], 3);
        break;
    }
}

static cs_status png_decode(const unsigned char *data, size_t len, const char *name,
                            uint64_t max_pixels, cs_image *out) {
    /* Check the IHDR size before libpng reads further chunks (their errors would hide it). */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        CS_TRY(cs_image_check_size(name, be32(data + 16), be32(data + 20), max_pixels));
    }
    /* CRCs as PIL checks them: every chunk before the first IDAT must be intact (PIL refuses
     * the file otherwise), the IDAT and later chunks are not checked (PIL never looks). */
    for (size_t pos = 8; pos + 12 <= len;) {
        uint32_t n = be32(data + pos);
        const unsigned char *type = data + pos + 4;
        if (memcmp(type, "IDAT", 4) == 0 || n > len - pos - 12) break; /* libpng reports the rest */
        if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), type, n + 4) != be32(type + 4 + n))
            return CS_FAIL(CS_E_FORMAT, "%s: corrupt PNG: %.4s: CRC error", name, (const char *)type);
        pos += 12 + (size_t)n;
    }
    png_src src = {.data = data, .len = len};
    png_structp png = NULL;
    png_infop info = NULL;
    uint8_t *volatile raw = NULL;   /* (h, rowbytes) unpacked rows, interlaced images only */
    uint8_t *volatile row = NULL;   /* (rowbytes) one unpacked row */
    png_bytep *volatile rows = NULL; /* (h) pointers into raw */
    volatile cs_status st = CS_OK;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
    if (png) info = png_create_info_struct(png);
    if (!png || !info) {
        st = CS_FAIL(CS_E_NOMEM, "%s: out of memory creating the PNG decoder", name);
        goto done;
    }
    if (setjmp(src.jb)) {
        if (st != CS_OK) goto done; /* a failure recorded before the jump */
        if (src.truncated)
            st = CS_FAIL(CS_E_TRUNCATED, "%s: truncated PNG", name);
        else
            st = CS_FAIL(CS_E_FORMAT, "%s: corrupt PNG: %s", name, src.msg);
        goto done;
    }
    png_set_read_fn(png, &src, png_read_cb);
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE); /* checked above */
    /* libpng's own limit (1e6 per side) stays; ours, with a clearer message, is checked next */
    png_read_info(png, info);

    png_uint_32 w, h;
    int depth, color_type, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color_type, &interlace, NULL, NULL);
    st = cs_image_check_size(name, w, h, max_pixels);
    if (st != CS_OK) goto done;
    /* Deflate expands at most 1032:1, so a file of len bytes cannot hold more than about
     * 1032 * len bytes of rows: refuse before allocating for a header that lies. */
    uint64_t min_raw = (uint64_t)h * (((uint64_t)w * png_get_channels(png, info) * (uint64_t)depth + 7) / 8);
    if (min_raw > (uint64_t)len * 1032 + 4096) {
        st = CS_FAIL(CS_E_TRUNCATED, "%s: truncated PNG (%ux%u pixels cannot fit in %zu bytes)", name,
                     (unsigned)w, (unsigned)h, len);
        goto done;
    }
    st = cs_image_alloc(out, name, w, h, max_pixels);
    if (st != CS_OK) goto done;

    /* PIL's palette: the PLTE entries, then its default grey ramp for the rest. */
    uint8_t pal[256][3];
    for (int i = 0; i < 256; i++) pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp plte = NULL;
        int nplte = 0;
        if (!png_get_PLTE(png, info, &plte, &nplte) || !plte) {
            st = CS_FAIL(CS_E_FORMAT, "%s: corrupt PNG: palette image without PLTE", name);
            goto done;
        }
        for (int i = 0; i < nplte && i < 256; i++) {
            pal[i][0] = plte[i].red;
            pal[i][1] = plte[i].green;
            pal[i][2] = plte[i].blue;
        }
    }
    if (depth < 8) png_set_packing(png); /* one byte per sample, values not rescaled */
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    size_t need = (size_t)w * (size_t)png_get_channels(png, info) * (depth == 16 ? 2 : 1);
    if (rowbytes < need) {
        st = CS_FAIL(CS_E_INTERNAL, "%s: libpng row of %zu bytes, expected %zu", name, rowbytes, need);
        goto done;
    }
    if (color_type == PNG_COLOR_TYPE_RGB && depth == 8) {
        /* rows are already (w, 3) uint8: libpng writes straight into the output */
        rows = cs_malloc(h * sizeof *rows, name);
        if (!rows) {
            st = CS_E_NOMEM;
            goto done;
        }
        for (png_uint_32 y = 0; y < h; y++) rows[y] = out->rgb + (size_t)y * w * 3;
        png_read_image(png, rows);
    } else if (passes > 1) {
        size_t total;
        if (!cs_mul_size(rowbytes, h, &total)) {
            st = CS_FAIL(CS_E_FORMAT, "%s: PNG too large", name);
            goto done;
        }
        raw = cs_malloc(total, name);
        rows = cs_malloc(h * sizeof *rows, name);
        if (!raw || !rows) {
            st = CS_E_NOMEM;
            goto done;
        }
        for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + (size_t)y * rowbytes;
        png_read_image(png, rows);
        for (png_uint_32 y = 0; y < h; y++)
            png_row_to_rgb(rows[y], out->rgb + (size_t)y * w * 3, (int)w, color_type, depth, pal);
    } else {
        row = cs_malloc(rowbytes, name);
        if (!row) {
            st = CS_E_NOMEM;
            goto done;
        }
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, row, NULL);
            png_row_to_rgb(row, out->rgb + (size_t)y * w * 3, (int)w, color_type, depth, pal);
        }
    }
    /* No png_read_end: like PIL, what follows the image data (up to IEND) is not needed. */
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    free(raw);
    free(row);
    free(rows);
    if (st != CS_OK) cs_image_free(out);
    return st;
}

/* ======================================================================= JPEG */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated;
    int eof_ok; /* every scanline is out: the end of data may be missing (PIL agrees) */
} jpeg_err;

static void jpeg_error_exit_cb(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    longjmp(e->jb, 1);
}

/* libjpeg fills a truncated stream with grey and only warns (JWRN_JPEG_EOF); PIL fails with
 * "image file is truncated", so do we, unless every scanline has already been decoded
 * (PIL's JpegDecode.c then ignores a jpeg_finish_decompress that runs out of data, e.g. a
 * missing EOI). Other warnings (corrupt entropy data) are ignored as PIL ignores them. */
static void jpeg_emit_message_cb(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0 && e->pub.msg_code == JWRN_JPEG_EOF && !e->eof_ok) {
        e->truncated = 1;
        longjmp(e->jb, 1);
    }
}

static void jpeg_output_message_cb(j_common_ptr cinfo) { (void)cinfo; }

static cs_status jpeg_decode(const unsigned char *data, size_t len, const char *name,
                             uint64_t max_pixels, cs_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    uint8_t *volatile row = NULL; /* (w * 4) one CMYK row */
    volatile cs_status st = CS_OK;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_error_exit_cb;
    jerr.pub.emit_message = jpeg_emit_message_cb;
    jerr.pub.output_message = jpeg_output_message_cb;
    jerr.truncated = 0;
    jerr.eof_ok = 0;
    if (setjmp(jerr.jb)) {
        if (st == CS_OK) {
            if (jerr.truncated) {
                st = CS_FAIL(CS_E_TRUNCATED, "%s: truncated JPEG", name);
            } else {
                char msg[JMSG_LENGTH_MAX];
                jerr.pub.format_message((j_common_ptr)&cinfo, msg);
                st = CS_FAIL(CS_E_FORMAT, "%s: corrupt JPEG: %s", name, msg);
            }
        }
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    /* A hostile header can ask for huge coefficient buffers (progressive); cap libjpeg's
     * memory at what the largest allowed image needs. */
    cinfo.mem->max_memory_to_use = (long)(CS_IMAGE_MAX_PIXELS * 8);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    st = cs_image_alloc(out, name, cinfo.image_width, cinfo.image_height, max_pixels);
    if (st != CS_OK) goto done;
    int ncomp = cinfo.num_components;
    if (ncomp == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (ncomp == 3) {
        cinfo.out_color_space = JCS_RGB;
    } else if (ncomp == 4) {
        cinfo.out_color_space = JCS_CMYK; /* from CMYK or YCCK, as PIL asks */
    } else {
        st = CS_FAIL(CS_E_UNSUPPORTED, "%s: JPEG with %d components is not supported", name, ncomp);
        goto done;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, nout = cinfo.output_components;
    if ((int)cinfo.output_width != out->width || (int)cinfo.output_height != out->height) {
        st = CS_FAIL(CS_E_INTERNAL, "%s: libjpeg output size differs from the header", name);
        goto done;
    }
    row = cs_malloc((size_t)w * (size_t)nout, name);
    if (!row) {
        st = CS_E_NOMEM;
        goto done;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out->rgb + (size_t)cinfo.output_scanline * (size_t)w * 3;
        JSAMPROW rp = nout == 3 ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
            st = CS_FAIL(CS_E_TRUNCATED, "%s: truncated JPEG", name);
            goto done;
        }
        if (nout == 1) {
            for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (nout == 4) {
            for (int x = 0; x < w; x++) {
                const uint8_t *p = row + 4 * x; /* stored inverted: PIL's C = 255 - p[0] */
                unsigned nk = p[3];             /* 255 - K */
                for (int c = 0; c < 3; c++) dst[3 * x + c] = cs_image_cmyk_channel(255u - p[c], nk);
            }
        }
    }
    jerr.eof_ok = 1;
    jpeg_finish_decompress(&cinfo);
done:
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (st != CS_OK) cs_image_free(out);
    return st;
}

/* ======================================================================== PPM */

static int ppm_is_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }

/* One header token as PpmImagePlugin._read_token reads it: skips leading whitespace and
 * '#' comments (to CR/LF), stops after the single whitespace byte that ends it.
 * Returns 1 with *val, 0 for a bad token, -1 when the data ends first. */
static int ppm_token(const unsigned char *d, size_t len, size_t *pos, unsigned long *val) {
    char tok[12];
    size_t n = 0, p = *pos;
    for (;;) {
        if (p >= len) return -1; /* also a token not yet ended by whitespace: no pixels follow */
        unsigned char c = d[p++];
        if (ppm_is_space(c)) {
            if (n == 0) continue;
            break;
        }
        if (c == '#') {
            while (p < len && d[p] != '\r' && d[p] != '\n') p++;
            if (p < len) p++;
            continue;
        }
        if (n >= 10 || c < '0' || c > '9') return 0;
        tok[n++] = (char)c;
    }
    tok[n] = 0;
    *val = strtoul(tok, NULL, 10);
    *pos = p;
    return 1;
}

static cs_status ppm_decode(const unsigned char *d, size_t len, const char *name,
                            uint64_t max_pixels, cs_image *out) {
    int nch = d[1] == '6' ? 3 : 1;
    size_t pos = 3; /* magic + one whitespace byte (checked by the caller) */
    unsigned long w, h, maxval;
    unsigned long *vals[3] = {&w, &h, &maxval};
    for (int k = 0; k < 3; k++) {
        int r = ppm_token(d, len, &pos, vals[k]);
        if (r < 0) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated PPM header", name);
        if (r == 0) return CS_FAIL(CS_E_FORMAT, "%s: corrupt PPM header (expected a decimal number)", name);
    }
    if (maxval == 0 || maxval > 65535)
        return CS_FAIL(CS_E_FORMAT, "%s: PPM maxval %lu is outside 1..65535", name, maxval);
    CS_TRY(cs_image_check_size(name, w, h, max_pixels));
    size_t bps = maxval > 255 ? 2 : 1; /* bytes per sample, big-endian */
    size_t npix = (size_t)w * h, need = npix * (size_t)nch * bps;
    if (len - pos < need)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated PPM (%zu of %zu pixel bytes)", name,
                       len - pos, need);
    /* Sample -> byte, as PpmImagePlugin: maxval 255 is raw; otherwise PpmDecoder's
     * min(out_max, round(v / maxval * out_max)) (Python round: half to even = nearbyint).
     * 16-bit PGM is PIL mode "I" (out_max 65535; raw when maxval is 65535), and "I" -> RGB
     * clips to 0..255; every other case has out_max 255. */
    size_t nlut = bps == 2 ? 65536 : 256;
    uint8_t *lut = cs_malloc(nlut, "PPM sample table"); /* (nlut) uint8 */
    if (!lut) return CS_E_NOMEM;
    int mode_i = nch == 1 && maxval > 255;
    double out_max = mode_i ? 65535.0 : 255.0;
    for (size_t v = 0; v < nlut; v++) {
        double r = (maxval == 255 && !mode_i) || (maxval == 65535 && mode_i)
                       ? (double)v
                       : nearbyint((double)v / (double)maxval * out_max);
        if (r > out_max) r = out_max;
        lut[v] = (uint8_t)(r > 255.0 ? 255 : r);
    }
    cs_status st = cs_image_alloc(out, name, w, h, max_pixels);
    if (st == CS_OK) {
        const unsigned char *p = d + pos;
        for (size_t i = 0; i < npix; i++)
            for (int c = 0; c < 3; c++) {
                const unsigned char *q = p + (i * (size_t)nch + (size_t)(nch == 3 ? c : 0)) * bps;
                out->rgb[3 * i + (size_t)c] = lut[bps == 2 ? ((size_t)q[0] << 8 | q[1]) : q[0]];
            }
    }
    free(lut);
    return st;
}

/* ===================================================================== common */

cs_status cs_image_decode(const unsigned char *data, size_t len, const char *name, cs_image *out) {
    return cs_image_decode_limited(data, len, name, CS_IMAGE_MAX_PIXELS, out);
}

cs_status cs_image_decode_limited(const unsigned char *data, size_t len, const char *name,
                                  uint64_t max_pixels, cs_image *out) {
    memset(out, 0, sizeof *out);
    if (max_pixels == 0 || max_pixels > CS_IMAGE_MAX_PIXELS) max_pixels = CS_IMAGE_MAX_PIXELS;
    if (!name) name = "<memory>";
    if (len == 0) return CS_FAIL(CS_E_FORMAT, "%s: empty file (0 bytes), not an image", name);
    if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return png_decode(data, len, name, max_pixels, out);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return jpeg_decode(data, len, name, max_pixels, out);
    if (len >= 3 && data[0] == 'P' && (data[1] == '5' || data[1] == '6') && ppm_is_space(data[2]))
        return ppm_decode(data, len, name, max_pixels, out);

    if (len >= 2 && data[0] == 'B' && data[1] == 'M') return cs_image_decode_bmp(data, len, name, max_pixels, out);
    if (len >= 4 && (memcmp(data, "II*\0", 4) == 0 || memcmp(data, "MM\0*", 4) == 0 ||
                     memcmp(data, "II+\0", 4) == 0 || memcmp(data, "MM\0+", 4) == 0))
        return cs_image_decode_tiff(data, len, name, max_pixels, out);
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return cs_image_decode_webp(data, len, name, max_pixels, out);

    const char *fmt = NULL;
    if (len >= 4 && memcmp(data, "GIF8", 4) == 0) fmt = "GIF";
    else if (len >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '4') fmt = "plain/bitmap PNM";
    else if (len >= 4 && (memcmp(data, "II\0*", 4) == 0 || memcmp(data, "MM*\0", 4) == 0)) fmt = "TIFF (invalid byte-order header)";
    if (fmt)
        return CS_FAIL(CS_E_UNSUPPORTED,
                       "%s: unsupported format %s (supported: PNG, JPEG, binary PPM/PGM, WebP, TIFF, BMP)", name, fmt);
    if (len < 8 && ((data[0] == 0x89 && memcmp(data, "\x89PNG\r\n\x1a\n", len) == 0) ||
                    (data[0] == 0xFF && memcmp(data, "\xFF\xD8\xFF", len < 3 ? len : 3) == 0)))
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated %s", name, data[0] == 0x89 ? "PNG" : "JPEG");
    /* a cut inside the WebP (RIFF....WEBP) or TIFF (II*\0, MM\0*) signature */
    if (len >= 2 && len < 12 && memcmp(data, "RIFF", len < 4 ? len : 4) == 0 &&
        (len <= 8 || memcmp(data + 8, "WEBP", len - 8) == 0))
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated WebP", name);
    if (len >= 2 && len < 4 && (memcmp(data, "II*", len) == 0 || memcmp(data, "MM\0", len) == 0))
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated TIFF", name);
    return CS_FAIL(CS_E_FORMAT, "%s: not an image (unknown signature)", name);
}

cs_status cs_image_load(const char *path, cs_image *out) {
    unsigned char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    CS_TRY(cs_read_file(path, CS_IMAGE_MAX_FILE_BYTES, &data, &len));
    cs_status st = cs_image_decode(data, len, path, out);
    free(data);
    return st;
}

/* ================================================================ batch load */

typedef struct load_many_ctx {
    const char *const *paths;
    cs_image *out;
    cs_status *st_each;
    char **msg_each;
} load_many_ctx;

static void load_many_one(void *vctx, size_t i, int worker) {
    (void)worker;
    load_many_ctx *c = vctx;
    cs_status st = cs_image_load(c->paths[i], &c->out[i]);
    c->st_each[i] = st;
    if (c->msg_each) c->msg_each[i] = st == CS_OK ? NULL : strdup(cs_last_error());
}

cs_status cs_image_load_many(cs_threadpool *pool, const char *const *paths, size_t n, cs_image *out,
                             cs_status *st_each, char **msg_each) {
    /* messages are thread-local: keep each worker's, so the first failure is reported in full */
    char **own = msg_each ? NULL : cs_calloc(n, sizeof *own, "image messages");
    if (!msg_each && !own) return CS_E_NOMEM;
    char **msg = msg_each ? msg_each : own;
    load_many_ctx c = {paths, out, st_each, msg};
    cs_status st = cs_threadpool_for(pool, n, load_many_one, &c);
    for (size_t i = 0; i < n && st == CS_OK; i++) {
        if (st_each[i] == CS_OK) continue;
        if (msg[i]) st = CS_FAIL(st_each[i], "%s", msg[i]);
        else st = CS_FAIL(st_each[i], "%s: %s", paths[i], cs_status_name(st_each[i]));
    }
    if (own)
        for (size_t i = 0; i < n; i++) free(own[i]);
    free(own);
    return st;
}
