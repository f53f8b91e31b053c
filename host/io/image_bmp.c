/* BMP to RGB by hand, exactly as PIL 9.4's BmpImagePlugin + convert('RGB').
 *
 * Headers: OS/2 v1 (12 bytes), Windows v3 (40), OS/2 v2 (64), v4 (108), v5 (124); PIL's
 * field rules are followed to the letter (a height whose top byte is 0xFF means top-down and
 * is 2^32 - value; width is unsigned; the colour count defaults to 2^bits; an offset that
 * points right after the header skips 4 * colours bytes of palette). Pixels: 1/4/8-bit
 * palette (raw, RLE8, RLE4), 16-bit 5-5-5 (raw or bitfields) and 5-6-5 (bitfields),
 * 24-bit, 32-bit (BGRX and PIL's five bitfield layouts); alpha is dropped.
 *
 * Palettes as PIL reads them: `colours` entries of 4 bytes (3 for OS/2 v1) after the header;
 * more than 256 entries are refused (PIL's putpalette refuses them); indices past the
 * palette read PIL's default ramp (i, i, i). A palette equal to PIL's grey ramp (black and
 * white for 2 colours, (i, i, i) otherwise) makes PIL switch to mode "1"/"L" and read the
 * raw pixels with that mode: for 1-bit "1" and 8-bit "L" data this gives the palette's own
 * colours (so we decode them through the palette), for any other depth PIL misreads the
 * pixels and we refuse the file (CS_E_UNSUPPORTED), as we refuse RLE files that use a
 * delta escape (PIL 9.4's decoder reads two extra bytes for it) and RLE with a 2-colour
 * grey palette (PIL fails on it).
 *
 * RLE follows PIL's BmpRleDecoder byte for byte: encoded runs are clipped at the row end,
 * absolute runs are not, RLE4 absolute runs read count / 2 bytes, the word alignment is
 * taken on the absolute file offset, end-of-line pads the pixel stream to a row boundary,
 * and a stream that ends (end-of-bitmap or end of file) before width * height pixels is
 * refused, as PIL refuses it ("not enough image data").
 *
 * Every header field is bounded before use: dimensions by cs_image_check_size, offsets and
 * sizes by the file length (uint64 arithmetic), the RLE output by the image size. */
#include "core/common.h"
#include "io/image_decode.h"

#include <string.h>

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* How one raw row's pixels become RGB. */
typedef enum bmp_layout {
    BMP_INDEX, /* 1/4/8-bit palette indices, MSB first */
    BMP_555,   /* PIL "BGR;15" */
    BMP_565,   /* PIL "BGR;16" */
    BMP_BYTES  /* 24/32-bit: R, G, B at byte offsets roff, goff, boff */
} bmp_layout;

typedef struct bmp_info {
    uint64_t w, h, colors;
    unsigned bits;
    uint32_t comp;
    int topdown;
    bmp_layout layout;
    int roff, goff, boff;
    uint8_t pal[256][3];
} bmp_info;

/* The pixel stream of RLE8/RLE4 as PIL's BmpRleDecoder builds it: (w * h) indices in file row
 * order (only the first w * h count; PIL ignores what overflows). Returns CS_OK when the
 * stream filled the image. */
static cs_status bmp_rle_expand(const unsigned char *d, size_t len, size_t pos, const bmp_info *bi,
                                const char *name, uint8_t *idx /* (w * h) zeroed */) {
    const uint64_t w = bi->w, total = bi->w * bi->h;
    const int rle4 = bi->comp == 2;
    uint64_t n = 0; /* pixels produced (may pass total: PIL's stream can overflow) */
    uint64_t x = 0;
    int eof = 0;
#define BMP_PUT(v)                                                                                 \
    do {                                                                                           \
        if (n < total) idx[n] = (uint8_t)(v);                                                      \
        n++;                                                                                       \
    } while (0)
    while (n < total) {
        if (len - pos < 2) { /* PIL: read(1) and read(1), break if either is empty */
            eof = 1;
            break;
        }
        unsigned cnt = d[pos], byte = d[pos + 1];
        pos += 2;
        if (cnt) { /* encoded run, clipped at the row end */
            uint64_t k = x + cnt > w ? (x < w ? w - x : 0) : cnt;
            for (uint64_t i = 0; i < k; i++) BMP_PUT(rle4 ? ((i % 2 == 0) ? byte >> 4 : byte & 15) : byte);
            x += k;
        } else if (byte == 0) { /* end of line: zeros up to the next row boundary */
            if (n % w) n += w - n % w;
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) {
            return CS_FAIL(CS_E_UNSUPPORTED,
                           "%s: BMP RLE delta escape at byte %zu: PIL 9.4 misreads it (reads 4 bytes "
                           "instead of 2), so the file is refused",
                           name, pos - 2);
        } else { /* absolute run of `byte` pixels; RLE4 reads byte / 2 bytes (PIL) */
            size_t want = rle4 ? byte / 2 : byte;
            size_t got = want < len - pos ? want : len - pos;
            for (size_t i = 0; i < got; i++) {
                unsigned v = d[pos + i];
                if (rle4) {
                    BMP_PUT(v >> 4);
                    BMP_PUT(v & 15);
                } else {
                    BMP_PUT(v);
                }
            }
            pos += got;
            if (got < want) {
                eof = 1;
                break;
            }
            x += byte;
            if (pos % 2) pos++; /* word alignment on the absolute file offset (may pass the end) */
            if (pos > len) pos = len;
        }
    }
#undef BMP_PUT
    if (n >= total) return CS_OK;
    if (eof)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated BMP (RLE data ends after %llu of %llu pixels)", name,
                       (unsigned long long)n, (unsigned long long)total);
    return CS_FAIL(CS_E_FORMAT,
                   "%s: BMP RLE data ends (end of bitmap) after %llu of %llu pixels; PIL refuses such "
                   "files (\"not enough image data\")",
                   name, (unsigned long long)n, (unsigned long long)total);
}

static void bmp_row_to_rgb(const bmp_info *bi, const unsigned char *row, uint8_t *out) {
    const size_t w = (size_t)bi->w;
    switch (bi->layout) {
    case BMP_INDEX: {
        const unsigned bits = bi->bits, per = 8 / bits, mask = (1u << bits) - 1;
        for (size_t x = 0; x < w; x++) {
            unsigned v = (row[x / per] >> (8 - bits * (x % per + 1))) & mask;
            memcpy(out + 3 * x, bi->pal[v], 3);
        }
        break;
    }
    case BMP_555:
    case BMP_565:
        for (size_t x = 0; x < w; x++) {
            unsigned p = le16(row + 2 * x);
            if (bi->layout == BMP_555) {
                out[3 * x] = (uint8_t)(((p >> 10) & 31) * 255 / 31);
                out[3 * x + 1] = (uint8_t)(((p >> 5) & 31) * 255 / 31);
            } else {
                out[3 * x] = (uint8_t)(((p >> 11) & 31) * 255 / 31);
                out[3 * x + 1] = (uint8_t)(((p >> 5) & 63) * 255 / 63);
            }
            out[3 * x + 2] = (uint8_t)((p & 31) * 255 / 31);
        }
        break;
    case BMP_BYTES: {
        const size_t step = bi->bits / 8;
        for (size_t x = 0; x < w; x++) {
            const unsigned char *p = row + step * x;
            out[3 * x] = p[bi->roff];
            out[3 * x + 1] = p[bi->goff];
            out[3 * x + 2] = p[bi->boff];
        }
        break;
    }
    }
}

/* PIL's BITFIELDS table (BmpImagePlugin.SUPPORTED / MASK_MODES): the byte offsets of R, G, B
 * in the little-endian pixel, or 0 when the layout is not one PIL reads. */
static int bmp_bitfields(bmp_info *bi, const uint32_t m[4]) {
    static const struct {
        unsigned bits;
        uint32_t r, g, b, a;
        int check_a;
        bmp_layout layout;
        int roff, goff, boff;
    } tab[] = {
        {32, 0xFF0000, 0xFF00, 0xFF, 0x0, 1, BMP_BYTES, 2, 1, 0},              /* BGRX */
        {32, 0xFF000000, 0xFF0000, 0xFF00, 0x0, 1, BMP_BYTES, 3, 2, 1},        /* XBGR */
        {32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF, 1, BMP_BYTES, 3, 2, 1},       /* ABGR */
        {32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000, 1, BMP_BYTES, 0, 1, 2},       /* RGBA */
        {32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000, 1, BMP_BYTES, 2, 1, 0},       /* BGRA */
        {32, 0x0, 0x0, 0x0, 0x0, 1, BMP_BYTES, 2, 1, 0},                       /* BGRA */
        {24, 0xFF0000, 0xFF00, 0xFF, 0, 0, BMP_BYTES, 2, 1, 0},                /* BGR */
        {16, 0xF800, 0x7E0, 0x1F, 0, 0, BMP_565, 0, 0, 0},                     /* BGR;16 */
        {16, 0x7C00, 0x3E0, 0x1F, 0, 0, BMP_555, 0, 0, 0},                     /* BGR;15 */
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].bits == bi->bits && tab[i].r == m[0] && tab[i].g == m[1] && tab[i].b == m[2] &&
            (!tab[i].check_a || tab[i].a == m[3])) {
            bi->layout = tab[i].layout;
            bi->roff = tab[i].roff;
            bi->goff = tab[i].goff;
            bi->boff = tab[i].boff;
            return 1;
        }
    return 0;
}

cs_status cs_image_decode_bmp(const unsigned char *d, size_t len, const char *name, uint64_t max_pixels,
                              cs_image *out) {
    if (len < 18) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated BMP (%zu bytes, no header)", name, len);
    uint64_t offset = le32(d + 10);
    const uint32_t hsize = le32(d + 14);
    if (hsize != 12 && hsize != 40 && hsize != 64 && hsize != 108 && hsize != 124)
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: unsupported BMP header type (%u bytes; PIL reads 12, 40, 64, 108, 124)",
                       name, hsize);
    if (len < 14 + (size_t)hsize)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated BMP header (%zu bytes)", name, len);
    const unsigned char *hd = d + 18; /* the info header after its size field */
    bmp_info bi;
    memset(&bi, 0, sizeof bi);
    size_t pos = 14 + (size_t)hsize;
    uint32_t masks[4] = {0, 0, 0, 0};
    unsigned palpad;
    if (hsize == 12) {
        bi.w = le16(hd);
        bi.h = le16(hd + 2);
        bi.bits = le16(hd + 6);
        palpad = 3;
    } else {
        bi.topdown = hd[7] == 0xFF;
        bi.w = le32(hd);
        bi.h = bi.topdown ? ((uint64_t)1 << 32) - le32(hd + 4) : le32(hd + 4);
        bi.bits = le16(hd + 10);
        bi.comp = le32(hd + 12);
        bi.colors = le32(hd + 28);
        palpad = 4;
        if (bi.comp == 3) {
            if (hsize - 4 >= 52) {
                for (int i = 0; i < 4; i++) masks[i] = le32(hd + 36 + 4 * i);
            } else { /* 40-byte header: three masks follow it */
                if (len - pos < 12) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated BMP (bitfield masks)", name);
                for (int i = 0; i < 3; i++) masks[i] = le32(d + pos + 4 * (size_t)i);
                pos += 12;
            }
        }
    }
    CS_TRY(cs_image_check_size(name, bi.w, bi.h, max_pixels));
    if (bi.bits != 1 && bi.bits != 4 && bi.bits != 8 && bi.bits != 16 && bi.bits != 24 && bi.bits != 32)
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: unsupported BMP pixel depth (%u bits)", name, bi.bits);
    if (bi.colors == 0) bi.colors = (uint64_t)1 << (bi.bits <= 8 ? bi.bits : 0);
    if (offset == 14 + (uint64_t)hsize && bi.bits <= 8) offset += 4 * bi.colors;

    /* raw pixel layout (BmpImagePlugin.BIT2MODE, then BITFIELDS) */
    if (bi.bits <= 8) {
        bi.layout = BMP_INDEX;
    } else if (bi.bits == 16) {
        bi.layout = BMP_555;
    } else {
        bi.layout = BMP_BYTES;
        bi.roff = 2, bi.goff = 1, bi.boff = 0;
    }
    const int rle = bi.comp == 1 || bi.comp == 2;
    if (bi.comp == 3) {
        if (!bmp_bitfields(&bi, masks))
            return CS_FAIL(CS_E_UNSUPPORTED,
                           "%s: unsupported BMP bitfields layout (%u bits, masks %08x %08x %08x %08x)", name,
                           bi.bits, masks[0], masks[1], masks[2], masks[3]);
    } else if (bi.comp != 0 && !rle) {
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: unsupported BMP compression (%u)", name, bi.comp);
    }
    if (rle && bi.bits > 8)
        return CS_FAIL(CS_E_UNSUPPORTED, "%s: BMP RLE%s with %u-bit pixels (PIL cannot decode it)", name,
                       bi.comp == 2 ? "4" : "8", bi.bits);

    /* palette */
    for (int i = 0; i < 256; i++) bi.pal[i][0] = bi.pal[i][1] = bi.pal[i][2] = (uint8_t)i;
    if (bi.bits <= 8) {
        if (bi.colors > 65536)
            return CS_FAIL(CS_E_FORMAT, "%s: unsupported BMP palette size (%llu colours)", name,
                           (unsigned long long)bi.colors);
        uint64_t want = palpad * bi.colors;
        size_t got = want < len - pos ? (size_t)want : len - pos; /* PIL's read() may come short */
        const unsigned char *pal = d + pos;
        int grey = 1;
        for (uint64_t i = 0; i < (bi.colors == 2 ? 2 : bi.colors); i++) {
            unsigned v = bi.colors == 2 ? (i ? 255u : 0u) : (unsigned)(i & 255);
            if (i * palpad + 3 > got || pal[i * palpad] != v || pal[i * palpad + 1] != v || pal[i * palpad + 2] != v) {
                grey = 0;
                break;
            }
        }
        if (grey) {
            /* PIL reads the pixels as mode "1" (2 colours) or "L": right only for 1-bit "1" and
             * 8-bit "L" raw data, and for "L" RLE; the colours are then the ramp (below). */
            int ok = rle ? bi.colors != 2 : (bi.colors == 2 ? bi.bits == 1 : bi.bits == 8);
            if (!ok)
                return CS_FAIL(CS_E_UNSUPPORTED,
                               "%s: BMP with a %llu-entry grey palette and %u-bit %s pixels: PIL 9.4 reads "
                               "it as mode \"%s\" and misdecodes it, so the file is refused",
                               name, (unsigned long long)bi.colors, bi.bits, rle ? "RLE" : "raw",
                               bi.colors == 2 ? "1" : "L");
            if (bi.colors == 2) bi.pal[1][0] = bi.pal[1][1] = bi.pal[1][2] = 255; /* mode "1" */
        } else {
            size_t n = got / palpad; /* PIL's putpalette keeps whole entries */
            if (n > 256)
                return CS_FAIL(CS_E_FORMAT, "%s: BMP palette with %zu entries (PIL refuses more than 256)", name, n);
            for (size_t i = 0; i < n; i++) {
                bi.pal[i][0] = pal[i * palpad + 2];
                bi.pal[i][1] = pal[i * palpad + 1];
                bi.pal[i][2] = pal[i * palpad];
            }
        }
        pos += got;
    }
    const uint64_t start = offset ? offset : pos; /* PIL: `offset or fp.tell()` */
    if (start > len) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated BMP (pixel data at %llu, file has %zu bytes)",
                                    name, (unsigned long long)start, len);

    if (rle) {
        uint8_t *idx = cs_calloc((size_t)(bi.w * bi.h), 1, name); /* (h, w) indices, file row order */
        if (!idx) return CS_E_NOMEM;
        cs_status st = bmp_rle_expand(d, len, (size_t)start, &bi, name, idx);
        if (st == CS_OK) st = cs_image_alloc(out, name, bi.w, bi.h, max_pixels);
        if (st == CS_OK)
            for (uint64_t r = 0; r < bi.h; r++) {
                uint64_t y = bi.topdown ? r : bi.h - 1 - r;
                const uint8_t *src = idx + r * bi.w;
                uint8_t *dst = out->rgb + y * bi.w * 3;
                for (uint64_t x = 0; x < bi.w; x++) memcpy(dst + 3 * x, bi.pal[src[x]], 3);
            }
        free(idx);
        return st;
    }

    const uint64_t rowbytes = (bi.w * bi.bits + 7) / 8, stride = ((bi.w * bi.bits + 31) >> 3) & ~(uint64_t)3;
    const uint64_t need = start + stride * (bi.h - 1) + rowbytes; /* the last row needs no padding */
    if (need > len)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated BMP (%zu of %llu bytes)", name, len, (unsigned long long)need);
    CS_TRY(cs_image_alloc(out, name, bi.w, bi.h, max_pixels));
    for (uint64_t r = 0; r < bi.h; r++) {
        uint64_t y = bi.topdown ? r : bi.h - 1 - r;
        bmp_row_to_rgb(&bi, d + start + r * stride, out->rgb + y * bi.w * 3);
    }
    return CS_OK;
}
