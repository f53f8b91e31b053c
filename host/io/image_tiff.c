/* TIFF to RGB through libtiff, exactly as PIL 9.4's TiffImagePlugin + convert('RGB').
 *
 * PIL picks a mode from (byte order, photometric, sample format, fill order, bits per
 * sample, extra samples) in its OPEN_INFO table, reads the decoded samples of the first
 * page (through libtiff for every compression but "raw", with its own reader for raw:
 * the same bytes) and converts that mode to RGB. We read the first page's strips or tiles
 * with libtiff's TIFFReadEncodedStrip/Tile (decompression, predictor, fill order and
 * 16-bit byte order handled by libtiff, as in PIL) and apply the same per-mode rules:
 *  - 1/2/4/8-bit gray: 0/255, x85, x17, as is; MinIsWhite (photometric 0) inverted;
 *  - 16-bit gray (PIL "I;16", also photometric 0 little-endian, which PIL does not invert):
 *    clipped to 0..255 (PIL's I;16 -> RGB), so ordinary 16-bit gray is nearly all white;
 *    signed 16-bit ("I;16S", mode I) and 32-bit integers (mode I): clipped to 0..255;
 *    32-bit float (mode F): 0 unless > 0 (NaN too), 255 from 255 on, else truncated;
 *  - palette 1/2/4/8-bit (+ alpha): ColorMap entries >> 8 (PIL: b // 256);
 *  - RGB/RGBA/RGBX 8-bit: the first three samples; associated alpha (ExtraSamples 1, PIL
 *    "RGBa"): un-premultiplied first, c * 255 / a (integer division, 0 where a = 0);
 *  - 16-bit RGB/RGBA/CMYK: the high byte of each sample (then the 8-bit rule);
 *  - CMYK: PIL's cmyk2rgb; gray+alpha: the gray sample; alpha is always dropped;
 *  - YCbCr with JPEG compression: libjpeg converts to RGB (JPEGCOLORMODE_RGB), as in PIL.
 * Refused (CS_E_UNSUPPORTED, with the reason): layouts PIL has no mode for, 12-bit samples,
 * compressed big-endian 32-bit samples (PIL misreads them), LAB, YCbCr without JPEG, old-style JPEG, separate planes of 16-bit
 * uncompressed samples (PIL misreads them) or with associated alpha, and compressions PIL
 * does not know. Separate planes otherwise are read plane by plane and interleaved. Errors and warnings of libtiff are captured per handle
 * (never printed); libtiff's global handlers are silenced once, for codecs that still
 * report through them. Sizes are checked before any pixel buffer is allocated, libtiff's
 * own allocations are capped, and every strip/tile must lie inside the file. */
#include "core/common.h"
#include "io/image_decode.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <tiffio.h>

/* ------------------------------------------------------------------ memory client */

typedef struct tiff_mem {
    const unsigned char *data;
    size_t len;
    uint64_t pos;
    char msg[240]; /* the first libtiff error */
    int past_end;  /* a tag value of the first IFD lies past the end: failures are truncation */
} tiff_mem;

static tmsize_t tiff_read_cb(thandle_t h, void *buf, tmsize_t n) {
    tiff_mem *m = (tiff_mem *)h;
    if (n < 0 || m->pos >= m->len) return 0;
    size_t k = (size_t)n < m->len - m->pos ? (size_t)n : (size_t)(m->len - m->pos);
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t tiff_write_cb(thandle_t h, void *buf, tmsize_t n) {
    (void)h, (void)buf, (void)n;
    return -1;
}

static toff_t tiff_seek_cb(thandle_t h, toff_t off, int whence) {
    tiff_mem *m = (tiff_mem *)h;
    uint64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
    if (off > UINT64_MAX / 2 || base + off > ((uint64_t)1 << 62)) return (toff_t)-1;
    m->pos = base + off;
    return m->pos;
}

static int tiff_close_cb(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t tiff_size_cb(thandle_t h) { return ((tiff_mem *)h)->len; }

static int tiff_map_cb(thandle_t h, void **base, toff_t *size) {
    tiff_mem *m = (tiff_mem *)h;
    *base = (void *)m->data;
    *size = m->len;
    return 1;
}

static void tiff_unmap_cb(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

static int tiff_error_cb(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    tiff_mem *m = user;
    if (m && !m->msg[0]) {
        char text[200];
        vsnprintf(text, sizeof text, fmt, ap);
        for (char *p = text; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        int prefix = module && strncmp(text, module, strlen(module)) != 0; /* codecs repeat it */
        snprintf(m->msg, sizeof m->msg, "%s%s%s", prefix ? module : "", prefix ? ": " : "", text);
    }
    return 1; /* handled: libtiff's global handler (stderr) is not called */
}

static int tiff_warning_cb(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1; /* PIL ignores libtiff's warnings too */
}

static pthread_once_t tiff_global_once = PTHREAD_ONCE_INIT;

static void tiff_silence_global(void) {
    /* Codecs that report through the process-wide handlers would print to stderr. */
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

/* ------------------------------------------------------------- first IFD presence */

static uint64_t tiff_uint(const unsigned char *p, size_t n, int be) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[be ? i : n - 1 - i] << (8 * (n - 1 - i));
    return v;
}

/* Scan the first IFD (classic or BigTIFF): whether it has a PhotometricInterpretation tag
 * (PIL's default for a missing one, 0 = MinIsWhite, differs from libtiff's guess) and whether
 * any out-of-line tag value lies past the end of the file (a truncated file, whatever libtiff
 * then says). Returns -1 when the IFD itself is not inside the file. */
static int tiff_scan_first_ifd(const unsigned char *d, size_t len, int *has_ph, int *past_end) {
    static const unsigned char tsize[19] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8, 8, 8};
    const int be = d[0] == 'M';
    const int big = (be ? d[3] : d[2]) == 0x2B;
    const size_t esize = big ? 20 : 12, csize = big ? 8 : 2, vsize = big ? 8 : 4;
    *has_ph = *past_end = 0;
    if (big && len < 16) return -1;
    uint64_t ifd = big ? tiff_uint(d + 8, 8, be) : tiff_uint(d + 4, 4, be);
    if (ifd > len || len - ifd < csize) return -1;
    uint64_t count = tiff_uint(d + ifd, csize, be);
    if (count > (len - ifd - csize) / esize) return -1;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *e = d + ifd + csize + i * esize;
        unsigned tag = (unsigned)tiff_uint(e, 2, be), type = (unsigned)tiff_uint(e + 2, 2, be);
        uint64_t n = tiff_uint(e + 4, big ? 8 : 4, be);
        if (tag == TIFFTAG_PHOTOMETRIC) *has_ph = 1;
        if (type >= sizeof tsize || !tsize[type] || n > ((uint64_t)1 << 40)) continue; /* libtiff judges it */
        uint64_t bytes = n * tsize[type];
        if (bytes <= vsize) continue;
        uint64_t off = tiff_uint(e + 4 + (big ? 8 : 4), vsize, be);
        if (off > len || bytes > len - off) *past_end = 1;
    }
    return 0;
}

/* ------------------------------------------------------------------- PIL's modes */

typedef enum tiff_kind {
    TK_GRAY,        /* 1/2/4/8-bit gray, optionally inverted */
    TK_GRAY16,      /* I;16 (unsigned), clipped */
    TK_GRAY16S,     /* I;16S (signed), clipped */
    TK_GRAY32,      /* I;32N / I;32S: int32, clipped */
    TK_FLOAT32,     /* F: float, truncated toward zero and clipped (NaN -> 0) */
    TK_PAL,         /* palette index (sample 0) */
    TK_RGB8,        /* first three samples */
    TK_RGBA8_ASSOC, /* RGBa: un-premultiplied */
    TK_RGB16,       /* high bytes */
    TK_RGBA16_ASSOC,
    TK_CMYK8,
    TK_CMYK16,
    TK_YCBCR_JPEG /* libjpeg gives RGB */
} tiff_kind;

typedef struct tiff_mode {
    tiff_kind kind;
    unsigned bps, spp, invert;
    uint8_t pal[256][3];
} tiff_mode;

/* Whether the ExtraSamples values are exactly `want` (terminated by -1). */
static int tiff_extra_is(const uint16_t *ex, unsigned nex, const int *want) {
    unsigned n = 0;
    while (want[n] >= 0) n++;
    if (n != nex) return 0;
    for (unsigned i = 0; i < n; i++)
        if (ex[i] != want[i]) return 0;
    return 1;
}

/* PIL's OPEN_INFO as rules; 0 when PIL has no mode for this layout (message in *why). */
static int tiff_pick_mode(tiff_mode *m, int be, unsigned ph, unsigned sf, unsigned fo, unsigned bps,
                          unsigned spp, const uint16_t *ex, unsigned nex, unsigned comp, const char **why) {
    *why = "PIL has no mode for this sample layout";
    m->bps = bps, m->spp = spp, m->invert = 0;
#define EX(...) tiff_extra_is(ex, nex, (const int[]){__VA_ARGS__, -1})
    if (fo != 1 && fo != 2) return 0;
    if (spp > 1 && sf != 1) return 0;
    /* FillOrder 2 exists in OPEN_INFO only for these (libtiff reverses the bits, as PIL) */
    if (fo == 2) {
        int ok = (nex == 0 && spp == 1 && (ph == 0 || ph == 1 || ph == 3) && sf == 1 &&
                  (bps == 1 || bps == 2 || bps == 4 || bps == 8)) ||
                 (nex == 0 && spp == 1 && ph == 1 && sf == 1 && bps == 16 && !be) ||
                 (nex == 0 && spp == 3 && ph == 2 && bps == 8);
        if (!ok) return 0;
    }
    switch (ph) {
    case 0:
    case 1:
        if (spp == 1 && nex == 0) {
            if (sf == 1 && (bps == 1 || bps == 2 || bps == 4 || bps == 8)) {
                m->kind = TK_GRAY;
                m->invert = ph == 0;
                return 1;
            }
            if (bps == 16 && sf == 1 && (!be || ph == 1)) { /* MM MinIsWhite 16-bit: no PIL mode */
                m->kind = TK_GRAY16;
                return 1;
            }
            if (bps == 16 && sf == 2 && ph == 1) {
                m->kind = TK_GRAY16S;
                return 1;
            }
            /* 32-bit: PIL modes I (I;32N little-endian unsigned, I;32S signed) and F; its libtiff
             * path keeps big-endian rawmodes for these and misreads compressed MM files */
            if (bps == 32 && (sf == 1 || sf == 2 || sf == 3) && (sf == 3 || ph == 1) && (sf != 1 || !be)) {
                if (be && comp != COMPRESSION_NONE) {
                    *why = "PIL 9.4 misreads compressed big-endian 32-bit samples";
                    return 0;
                }
                m->kind = sf == 3 ? TK_FLOAT32 : TK_GRAY32;
                return 1;
            }
            if (bps == 12) *why = "12-bit samples are not supported";
            return 0;
        }
        if (ph == 1 && spp == 2 && bps == 8 && EX(2)) { /* LA */
            m->kind = TK_GRAY;
            return 1;
        }
        return 0;
    case 2:
        if (bps == 8) {
            if ((spp == 3 && nex == 0) || (spp == 4 && (nex == 0 || EX(0) || EX(2) || EX(999))) ||
                (spp == 5 && (EX(0, 0) || EX(2, 0))) || (spp == 6 && (EX(0, 0, 0) || EX(2, 0, 0)))) {
                m->kind = TK_RGB8;
                return 1;
            }
            if ((spp == 4 && EX(1)) || (spp == 5 && EX(1, 0)) || (spp == 6 && EX(1, 0, 0))) {
                m->kind = TK_RGBA8_ASSOC;
                return 1;
            }
            return 0;
        }
        if (bps == 16) {
            if ((spp == 3 && nex == 0) || (spp == 4 && (nex == 0 || EX(0) || EX(2)))) {
                m->kind = TK_RGB16;
                return 1;
            }
            if (spp == 4 && EX(1)) {
                m->kind = TK_RGBA16_ASSOC;
                return 1;
            }
        }
        return 0;
    case 3:
        if (spp == 1 && nex == 0 && sf == 1 && (bps == 1 || bps == 2 || bps == 4 || bps == 8)) {
            m->kind = TK_PAL;
            return 1;
        }
        if (spp == 2 && bps == 8 && EX(2)) {
            m->kind = TK_PAL;
            return 1;
        }
        return 0;
    case 5:
        if (bps == 8 && ((spp == 4 && nex == 0) || (spp == 5 && EX(0)) || (spp == 6 && EX(0, 0)))) {
            m->kind = TK_CMYK8;
            return 1;
        }
        if (bps == 16 && spp == 4 && nex == 0 && !be) {
            m->kind = TK_CMYK16;
            return 1;
        }
        return 0;
    case 6:
        if (bps == 8 && spp == 3 && nex == 0 && comp == COMPRESSION_JPEG) {
            m->kind = TK_YCBCR_JPEG;
            return 1;
        }
        *why = "YCbCr is supported only with JPEG compression";
        return 0;
    case 8:
        *why = "CIE L*a*b* is not supported";
        return 0;
    default:
        return 0;
    }
#undef EX
}

/* PIL's unpackRGBa: premultiplied -> straight, CLIP8(c * 255 / a), all 0 where a = 0. */
static inline uint8_t tiff_unpremultiply(unsigned c, unsigned a) {
    if (a == 0) return 0;
    if (a == 255) return (uint8_t)c;
    unsigned v = c * 255 / a;
    return (uint8_t)(v > 255 ? 255 : v);
}

/* One row (or tile row) of n decoded pixels -> RGB. 16-bit samples are in host order. */
static void tiff_row_to_rgb(const tiff_mode *m, const uint8_t *src, size_t n, uint8_t *out) {
    const size_t spp = m->spp;
    const uint16_t *s16 = (const uint16_t *)(const void *)src;
    for (size_t x = 0; x < n; x++, out += 3) {
        unsigned v, a;
        switch (m->kind) {
        case TK_GRAY:
        case TK_PAL:
            if (m->bps == 8) {
                v = src[x * spp];
            } else { /* spp is 1 below 8 bits */
                size_t bit = x * m->bps;
                v = (src[bit / 8] >> (8 - m->bps - bit % 8)) & ((1u << m->bps) - 1);
            }
            if (m->kind == TK_PAL) {
                memcpy(out, m->pal[v], 3);
                continue;
            }
            v = m->bps == 1 ? (v ? 255u : 0u) : m->bps == 2 ? v * 85u : m->bps == 4 ? v * 17u : v;
            if (m->invert) v = 255u - v;
            out[0] = out[1] = out[2] = (uint8_t)v;
            break;
        case TK_GRAY16:
            v = s16[x];
            out[0] = out[1] = out[2] = (uint8_t)(v > 255 ? 255 : v);
            break;
        case TK_GRAY16S: {
            int sv = (int16_t)s16[x];
            out[0] = out[1] = out[2] = (uint8_t)(sv < 0 ? 0 : sv > 255 ? 255 : sv);
            break;
        }
        case TK_GRAY32: {
            int32_t iv;
            memcpy(&iv, src + 4 * x, 4);
            out[0] = out[1] = out[2] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
            break;
        }
        case TK_FLOAT32: { /* PIL's F -> L: 0 unless > 0, 255 from 255 on, else truncated */
            float fv;
            memcpy(&fv, src + 4 * x, 4);
            out[0] = out[1] = out[2] = (uint8_t)(!(fv > 0.0f) ? 0 : fv >= 255.0f ? 255 : (int)fv);
            break;
        }
        case TK_RGB8:
            memcpy(out, src + x * spp, 3);
            break;
        case TK_RGBA8_ASSOC:
            a = src[x * spp + 3];
            for (int c = 0; c < 3; c++) out[c] = tiff_unpremultiply(src[x * spp + (size_t)c], a);
            break;
        case TK_RGB16:
            for (int c = 0; c < 3; c++) out[c] = (uint8_t)(s16[x * spp + (size_t)c] >> 8);
            break;
        case TK_RGBA16_ASSOC:
            a = (unsigned)s16[x * spp + 3] >> 8;
            for (int c = 0; c < 3; c++) out[c] = tiff_unpremultiply((unsigned)s16[x * spp + (size_t)c] >> 8, a);
            break;
        case TK_CMYK8:
        case TK_CMYK16: {
            unsigned k[4];
            for (int c = 0; c < 4; c++)
                k[c] = m->kind == TK_CMYK8 ? src[x * spp + (size_t)c] : (unsigned)s16[x * spp + (size_t)c] >> 8;
            for (int c = 0; c < 3; c++) out[c] = cs_image_cmyk_channel(k[c], 255u - k[3]);
            break;
        }
        case TK_YCBCR_JPEG:
            memcpy(out, src + x * 3, 3);
            break;
        }
    }
}

/* PIL's COMPRESSION_INFO keys, minus old-style JPEG and the LogLuv codecs (no PIL mode). */
static int tiff_compression_known(unsigned c) {
    static const unsigned known[] = {1, 2, 3, 4, 5, 7, 8, 32771, 32773, 32809, 32946, 34925, 50000, 50001};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i] == c) return 1;
    return 0;
}

/* libtiff's largest single allocation: the biggest strip/tile buffer a valid image needs. */
#define CS_TIFF_MAX_BLOCK ((uint64_t)1 << 30)

static cs_status tiff_fail(tiff_mem *m, cs_status st, const char *name, const char *what) {
    if (m->past_end && st == CS_E_FORMAT) st = CS_E_TRUNCATED;
    if (m->msg[0]) return CS_FAIL(st, "%s: %s TIFF: %s: %s", name, st == CS_E_TRUNCATED ? "truncated" : "corrupt", what, m->msg);
    return CS_FAIL(st, "%s: %s TIFF: %s", name, st == CS_E_TRUNCATED ? "truncated" : "corrupt", what);
}

cs_status cs_image_decode_tiff(const unsigned char *data, size_t len, const char *name, uint64_t max_pixels,
                               cs_image *out) {
    pthread_once(&tiff_global_once, tiff_silence_global);
    if (len < 8) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated TIFF (%zu bytes)", name, len);
    int has_ph = 0, past_end = 0;
    if (tiff_scan_first_ifd(data, len, &has_ph, &past_end) < 0)
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated TIFF (first directory outside the file)", name);

    tiff_mem mem = {.data = data, .len = len, .past_end = past_end};
    cs_status st = CS_OK;
    TIFF *tif = NULL;
    uint8_t *buf = NULL;  /* (block bytes) one decoded strip or tile (one plane) */
    uint8_t *ibuf = NULL; /* separate planes: the block's samples interleaved */
    tiff_mode *mode = cs_calloc(1, sizeof *mode, name);
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!mode || !opts) {
        st = CS_FAIL(CS_E_NOMEM, "%s: out of memory opening the TIFF", name);
        goto done;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_error_cb, &mem);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_warning_cb, &mem);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)CS_TIFF_MAX_BLOCK);
    tif = TIFFClientOpenExt(name, "r", (thandle_t)&mem, tiff_read_cb, tiff_write_cb, tiff_seek_cb,
                            tiff_close_cb, tiff_size_cb, tiff_map_cb, tiff_unmap_cb, opts);
    if (!tif) {
        st = tiff_fail(&mem, CS_E_FORMAT, name, "cannot read the first directory");
        goto done;
    }
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, ph = 0, sf = 1, fo = 1, planar = 1, comp = 1, nex = 0;
    uint16_t *ex = NULL;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    st = cs_image_check_size(name, w, h, max_pixels);
    if (st != CS_OK) goto done;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &sf);
    TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &fo);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
    if (!TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &nex, &ex)) nex = 0;
    if (has_ph) TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &ph); /* PIL's default is 0 (MinIsWhite) */
    const int be = TIFFIsBigEndian(tif);
    if (!tiff_compression_known(comp)) {
        st = CS_FAIL(CS_E_UNSUPPORTED, "%s: unsupported TIFF compression %u", name, comp);
        goto done;
    }
    if (!TIFFIsCODECConfigured(comp)) {
        st = CS_FAIL(CS_E_UNSUPPORTED, "%s: TIFF compression %u is not built into this libtiff", name, comp);
        goto done;
    }
    if (spp > 6) { /* PIL: "Invalid value for samples per pixel" */
        st = CS_FAIL(CS_E_FORMAT, "%s: TIFF with %u samples per pixel (PIL reads at most 6)", name, spp);
        goto done;
    }
    const char *why = "";
    if (!tiff_pick_mode(mode, be, ph, sf, fo, bps, spp, ex, nex, comp, &why)) {
        st = CS_FAIL(CS_E_UNSUPPORTED,
                     "%s: unsupported TIFF layout (photometric %u, %u x %u-bit samples, sample format %u, "
                     "%u extra, fill order %u): %s",
                     name, ph, spp, bps, sf, nex, fo, why);
        goto done;
    }
    /* Separate planes: PIL reads them like interleaved samples, except 16-bit uncompressed
     * planes (its raw reader takes one byte per sample there) and associated alpha. */
    const int planes = planar == PLANARCONFIG_SEPARATE && spp > 1 ? spp : 1;
    if (planar != PLANARCONFIG_CONTIG && planar != PLANARCONFIG_SEPARATE) {
        st = CS_FAIL(CS_E_FORMAT, "%s: corrupt TIFF: PlanarConfiguration %u", name, planar);
        goto done;
    }
    if (planes > 1 && (mode->kind == TK_RGBA8_ASSOC || mode->kind == TK_RGBA16_ASSOC || mode->kind == TK_YCBCR_JPEG ||
                       (bps == 16 && comp == COMPRESSION_NONE))) {
        st = CS_FAIL(CS_E_UNSUPPORTED,
                     "%s: TIFF with separate sample planes and %s is not supported (PIL 9.4 misreads 16-bit "
                     "uncompressed planes)",
                     name, bps == 16 && comp == COMPRESSION_NONE ? "16-bit uncompressed samples" : "this layout");
        goto done;
    }
    if (mode->kind == TK_PAL) {
        uint16_t *r = NULL, *g = NULL, *b = NULL;
        if (!TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b) || !r || !g || !b) {
            st = tiff_fail(&mem, CS_E_FORMAT, name, "palette image without a ColorMap");
            goto done;
        }
        for (unsigned i = 0; i < (1u << bps) && i < 256; i++) {
            mode->pal[i][0] = (uint8_t)(r[i] >> 8);
            mode->pal[i][1] = (uint8_t)(g[i] >> 8);
            mode->pal[i][2] = (uint8_t)(b[i] >> 8);
        }
    }
    if (mode->kind == TK_YCBCR_JPEG) TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);

    /* every strip/tile the image needs must lie inside the file */
    const int tiled = TIFFIsTiled(tif);
    const uint32_t nblocks = tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
    for (uint32_t i = 0; i < nblocks; i++) {
        uint64_t off = TIFFGetStrileOffset(tif, i), cnt = TIFFGetStrileByteCount(tif, i);
        if (off > len || cnt > len - off) {
            st = CS_FAIL(CS_E_TRUNCATED, "%s: truncated TIFF (%s %u ends at byte %llu, the file has %zu)", name,
                         tiled ? "tile" : "strip", i, (unsigned long long)(off + cnt), len);
            goto done;
        }
    }
    const uint64_t block = tiled ? TIFFTileSize64(tif) : TIFFStripSize64(tif);
    if (block == 0 || block > CS_TIFF_MAX_BLOCK) {
        st = tiff_fail(&mem, CS_E_FORMAT, name, "strip/tile size out of range");
        goto done;
    }
    /* A codec that reports an error but returns data (CCITT on a bad code word) leaves rows
     * PIL fills from an uninitialised buffer: such files are refused, not guessed. Every
     * accepted strip/tile is written whole by its codec; the buffer starts zeroed (calloc: no
     * pages touched for a header that lies about a huge strip). */
    mem.msg[0] = 0;
    buf = cs_calloc(1, (size_t)block, name);
    if (!buf) {
        st = CS_E_NOMEM;
        goto done;
    }
    st = cs_image_alloc(out, name, w, h, max_pixels);
    if (st != CS_OK) goto done;

    /* (rows, cols) pixels of one strip or tile, all planes, interleaved: (rows, cols, spp) */
    const size_t bsz = bps / 8 ? bps / 8 : 1;
    uint32_t bw = w, bh = h; /* block width/height: tile, or the image width and rows per strip */
    if (tiled) {
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &bw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &bh);
    } else {
        TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &bh);
        if (bh == 0 || bh > h) bh = h;
    }
    const uint64_t line = tiled ? TIFFTileRowSize64(tif) : TIFFScanlineSize64(tif); /* one plane's row */
    if (bw == 0 || bh == 0 || line == 0 || line * bh > block) {
        st = tiff_fail(&mem, CS_E_FORMAT, name, "bad strip/tile size");
        goto done;
    }
    const uint64_t iline = planes > 1 ? (uint64_t)bw * spp * bsz : line; /* interleaved row bytes */
    if (planes > 1) {
        if (iline * bh > CS_TIFF_MAX_BLOCK || line < (uint64_t)bw * bsz) {
            st = tiff_fail(&mem, CS_E_FORMAT, name, "strip/tile size out of range");
            goto done;
        }
        ibuf = cs_calloc(1, (size_t)(iline * bh), name);
        if (!ibuf) {
            st = CS_E_NOMEM;
            goto done;
        }
    }
    for (uint64_t by = 0; by < h; by += bh)
        for (uint64_t bx = 0; bx < w; bx += bw) {
            const uint64_t rows = h - by < bh ? h - by : bh, cols = w - bx < bw ? w - bx : bw;
            for (int p = 0; p < planes; p++) {
                tmsize_t got;
                if (tiled)
                    got = TIFFReadEncodedTile(tif, TIFFComputeTile(tif, (uint32_t)bx, (uint32_t)by, 0, (uint16_t)p), buf,
                                              (tmsize_t)block);
                else
                    got = TIFFReadEncodedStrip(tif, TIFFComputeStrip(tif, (uint32_t)by, (uint16_t)p), buf, (tmsize_t)block);
                if (got < 0 || (uint64_t)got < (tiled ? bh : rows) * line || mem.msg[0]) {
                    st = tiff_fail(&mem, CS_E_FORMAT, name, tiled ? "cannot decode a tile" : "cannot decode a strip");
                    goto done;
                }
                if (planes > 1) /* scatter this plane's samples into the interleaved block */
                    for (uint64_t r = 0; r < rows; r++)
                        for (uint64_t x = 0; x < cols; x++)
                            memcpy(ibuf + r * iline + (x * spp + (uint64_t)p) * bsz, buf + r * line + x * bsz, bsz);
            }
            const uint8_t *src = planes > 1 ? ibuf : buf;
            for (uint64_t r = 0; r < rows; r++)
                tiff_row_to_rgb(mode, src + r * iline, (size_t)cols, out->rgb + ((size_t)(by + r) * w + (size_t)bx) * 3);
        }
done:
    if (tif) TIFFClose(tif);
    if (opts) TIFFOpenOptionsFree(opts);
    free(buf);
    free(ibuf);
    free(mode);
    if (st != CS_OK) cs_image_free(out);
    return st;
}
