/* WebP to RGB through libwebp, exactly as PIL 9.4's WebPImagePlugin + convert('RGB').
 *
 * PIL (built with libwebp's animation API, as Debian's is) decodes every WebP, animated or
 * not, with WebPAnimDecoder and its default options (MODE_RGBA, not premultiplied, one
 * thread) and Image.open shows the first frame: the first frame composited on a canvas that
 * starts transparent black. convert('RGB') drops alpha. We make the same calls on the same
 * library, so lossy, lossless, alpha and animated files give PIL's bytes. The canvas size
 * (WebPGetFeatures) is checked before libwebp allocates the canvas. libwebp prints nothing. */
#include "core/common.h"
#include "io/image_decode.h"

#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

cs_status cs_image_decode_webp(const unsigned char *data, size_t len, const char *name, uint64_t max_pixels,
                               cs_image *out) {
    /* PIL identifies a WebP by RIFF....WEBP and a VP8/VP8L/VP8X first chunk */
    if (len < 16) return CS_FAIL(CS_E_TRUNCATED, "%s: truncated WebP (%zu bytes)", name, len);
    if (memcmp(data + 12, "VP8 ", 4) && memcmp(data + 12, "VP8L", 4) && memcmp(data + 12, "VP8X", 4))
        return CS_FAIL(CS_E_FORMAT, "%s: corrupt WebP: first chunk is not VP8, VP8L or VP8X", name);
    const uint64_t riff = (uint64_t)data[4] | ((uint64_t)data[5] << 8) | ((uint64_t)data[6] << 16) |
                          ((uint64_t)data[7] << 24);
    const int short_file = riff + 8 > len;

    WebPBitstreamFeatures feat;
    VP8StatusCode vs = WebPGetFeatures(data, len, &feat);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA || (vs != VP8_STATUS_OK && short_file))
        return CS_FAIL(CS_E_TRUNCATED, "%s: truncated WebP (%zu bytes, the RIFF header says %llu)", name, len,
                       (unsigned long long)(riff + 8));
    if (vs != VP8_STATUS_OK)
        return CS_FAIL(CS_E_FORMAT, "%s: corrupt WebP: bad bitstream header (libwebp status %d)", name, (int)vs);
    CS_TRY(cs_image_check_size(name, (uint64_t)feat.width, (uint64_t)feat.height, max_pixels));

    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
        return CS_FAIL(CS_E_INTERNAL, "%s: libwebp version mismatch (WebPAnimDecoderOptionsInit)", name);
    /* the defaults PIL gets by passing NULL: MODE_RGBA, use_threads 0 */
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPData wd = {data, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opt);
    if (!dec) {
        if (short_file)
            return CS_FAIL(CS_E_TRUNCATED, "%s: truncated WebP (%zu bytes, the RIFF header says %llu)", name, len,
                           (unsigned long long)(riff + 8));
        return CS_FAIL(CS_E_FORMAT, "%s: corrupt WebP: libwebp cannot parse the container", name);
    }
    cs_status st = CS_OK;
    WebPAnimInfo info;
    uint8_t *rgba = NULL; /* (canvas_height, canvas_width, 4), owned by dec */
    int ts = 0;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        st = CS_FAIL(CS_E_FORMAT, "%s: corrupt WebP: no animation info", name);
    } else if (info.canvas_width != (uint32_t)feat.width || info.canvas_height != (uint32_t)feat.height) {
        st = CS_FAIL(CS_E_FORMAT, "%s: corrupt WebP: canvas %ux%u differs from the header's %dx%d", name,
                     info.canvas_width, info.canvas_height, feat.width, feat.height);
    } else if (!WebPAnimDecoderGetNext(dec, &rgba, &ts) || !rgba) {
        st = short_file ? CS_FAIL(CS_E_TRUNCATED, "%s: truncated WebP (first frame incomplete)", name)
                        : CS_FAIL(CS_E_FORMAT, "%s: corrupt WebP: cannot decode the first frame", name);
    } else {
        st = cs_image_alloc(out, name, info.canvas_width, info.canvas_height, max_pixels);
        if (st == CS_OK) {
            const size_t n = (size_t)info.canvas_width * info.canvas_height;
            for (size_t i = 0; i < n; i++) memcpy(out->rgb + 3 * i, rgba + 4 * i, 3); /* alpha dropped */
        }
    }
    WebPAnimDecoderDelete(dec);
    return st;
}
