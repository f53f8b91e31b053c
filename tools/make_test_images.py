#!/usr/bin/python3
"""Deterministic image corpus for the decoder tests (and natural-looking sets for demos).

  /usr/bin/python3 tools/make_test_images.py --out DIR
      every PNG colour type / bit depth (hand-written encoder: 2/4-bit gray, 16-bit, Adam7,
      all five row filters, tRNS, short palettes), JPEG (4:2:0/4:2:2/4:4:4, progressive, gray,
      Adobe CMYK, CMYK without Adobe marker, YCCK, EXIF), binary PGM/PPM, odd sizes
      (1x1, 5x3, 2000x3, 3x700, 1411x1411) and bad files. DIR/manifest.tsv lists
      "name<TAB>expected" where expected is "ok" or the cs_status name the decoder must return.

  /usr/bin/python3 tools/make_test_images.py --set natural --count N --size WxH --out DIR
      N varied natural-looking RGB images (smooth colour fields, shapes, texture), seeded.

Same arguments -> same bytes (numpy RandomState, PIL's deterministic encoders).
"""
import argparse
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


# ----------------------------------------------------------------------------- content
def structured_rgb(w, h, seed):
    """Gradients + shapes + noise: (h, w, 3) uint8 with real structure at every size."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u = xx / max(w - 1, 1)
    v = yy / max(h - 1, 1)
    img = np.empty((h, w, 3))
    for c in range(3):
        a, b, f = rs.uniform(-1, 1), rs.uniform(-1, 1), rs.uniform(2, 9)
        img[..., c] = 128 + 80 * (a * u + b * v) + 40 * np.sin(f * (u * rs.uniform(0.5, 2) + v) + c)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, x1 = sorted(rs.randint(-w // 4, w + w // 4 + 1, 2))
        y0, y1 = sorted(rs.randint(-h // 4, h + h // 4 + 1, 2))
        col = tuple(int(t) for t in rs.randint(0, 256, 3))
        if rs.rand() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.rectangle([x0, y0, x1, y1], fill=col)
    arr = np.asarray(im).astype(np.int16) + rs.randint(-12, 13, (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def structured_gray16(w, h, seed, hi=65535):
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = (xx / max(w - 1, 1) * 0.7 + yy / max(h - 1, 1) * 0.3) * hi
    base += rs.uniform(-0.05, 0.05, (h, w)) * hi
    return np.clip(base, 0, hi).astype(np.uint16)


# ------------------------------------------------------------------------- PNG writer
def _chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _pack_rows(samples, depth):
    """samples (h, w*channels) ints -> list of packed row bytes (big-endian, MSB first)."""
    if depth == 16:
        return [r.astype(">u2").tobytes() for r in samples]
    if depth == 8:
        return [r.astype(np.uint8).tobytes() for r in samples]
    bits = (samples[..., None].astype(np.uint8) >> np.arange(depth - 1, -1, -1, dtype=np.uint8)) & 1
    bits = bits.reshape(samples.shape[0], -1)
    return [np.packbits(r).tobytes() for r in bits]


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filter_rows(rows, bpp, mode):
    """Apply PNG row filters: mode 'none' (type 0 everywhere) or 'all' (type y % 5)."""
    out, prior = [], None
    for y, r in enumerate(rows):
        raw = np.frombuffer(r, np.uint8).astype(np.int32)
        ft = (y % 5) if mode == "all" else 0
        up = prior if prior is not None else np.zeros_like(raw)
        left = np.concatenate([np.zeros(bpp, np.int32), raw[:-bpp]]) if len(raw) > bpp else np.zeros_like(raw)
        upleft = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]]) if len(raw) > bpp else np.zeros_like(raw)
        pred = [0, left, up, (left + up) // 2, _paeth(left, up, upleft)][ft]
        out.append(bytes([ft]) + ((raw - pred) & 0xFF).astype(np.uint8).tobytes())
        prior = raw
    return b"".join(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_bytes(arr, color_type, depth, palette=None, trns=None, interlace=False, filters="none",
              idat_split=0):
    """arr: (h, w) or (h, w, c) samples already in range for depth."""
    arr = np.asarray(arr)
    h, w = arr.shape[:2]
    ch = 1 if arr.ndim == 2 else arr.shape[2]
    bpp = max(1, ch * depth // 8)
    if interlace:
        raw = b""
        for xs, ys, xst, yst in ADAM7:
            sub = arr[ys::yst, xs::xst]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += _filter_rows(_pack_rows(sub.reshape(sub.shape[0], -1), depth), bpp, filters)
    else:
        raw = _filter_rows(_pack_rows(arr.reshape(h, -1), depth), bpp, filters)
    z = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    if idat_split:
        for i in range(0, len(z), idat_split):
            out += _chunk(b"IDAT", z[i:i + idat_split])
    else:
        out += _chunk(b"IDAT", z)
    return out + _chunk(b"IEND", b"")


def save_pil(im, **kw):
    buf = io.BytesIO()
    im.save(buf, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------- corpus
def corpus():
    """Yields (name, bytes, expected)."""
    rgb = structured_rgb(37, 23, 1)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    alpha = structured_rgb(37, 23, 2)[..., 0]
    rs = np.random.RandomState(3)

    # ---- PNG gray 1/2/4/8/16
    for d in (1, 2, 4):
        yield f"png_gray{d}.png", png_bytes(gray >> (8 - d), 0, d), "ok"
    yield "png_gray8.png", png_bytes(gray, 0, 8), "ok"
    yield "png_gray16.png", png_bytes(structured_gray16(37, 23, 4), 0, 16), "ok"
    # 16-bit values around 255, where PIL's I -> RGB clipping starts
    yield "png_gray16_low.png", png_bytes(structured_gray16(37, 23, 5, hi=400), 0, 16), "ok"
    yield "png_gray8_trns.png", png_bytes(gray, 0, 8, trns=struct.pack(">H", int(gray[0, 0]))), "ok"
    # ---- palette 1/2/4/8, with and without tRNS, and a short PLTE
    for d in (1, 2, 4, 8):
        n = 1 << d
        pal = rs.randint(0, 256, (n, 3))
        idx = (gray.astype(np.int32) * n // 256).astype(np.uint8)
        yield f"png_pal{d}.png", png_bytes(idx, 3, d, palette=pal), "ok"
        yield f"png_pal{d}_trns.png", png_bytes(idx, 3, d, palette=pal,
                                                 trns=bytes(rs.randint(0, 256, max(1, n // 2)).astype(np.uint8))), "ok"
    pal = rs.randint(0, 256, (10, 3))
    idx = (gray.astype(np.int32) * 16 // 256).astype(np.uint8)  # indices 10..15 are past PLTE
    yield "png_pal4_short.png", png_bytes(idx, 3, 4, palette=pal), "ok"
    # ---- gray+alpha, RGB, RGBA at 8 and 16 bits
    yield "png_la8.png", png_bytes(np.dstack([gray, alpha]), 4, 8), "ok"
    g16 = structured_gray16(37, 23, 6)
    yield "png_la16.png", png_bytes(np.dstack([g16, g16[::-1, ::-1]]), 4, 16), "ok"
    yield "png_rgb8.png", png_bytes(rgb, 2, 8), "ok"
    yield "png_rgb8_trns.png", png_bytes(rgb, 2, 8, trns=struct.pack(">HHH", *[int(t) for t in rgb[0, 0]])), "ok"
    rgb16 = rgb.astype(np.uint16) * 257 + rs.randint(0, 257, rgb.shape).astype(np.uint16)
    yield "png_rgb16.png", png_bytes(rgb16, 2, 16), "ok"
    yield "png_rgba8.png", png_bytes(np.dstack([rgb, alpha]), 6, 8), "ok"
    yield "png_rgba16.png", png_bytes(np.dstack([rgb16, g16]), 6, 16), "ok"
    # ---- filters, multiple IDAT chunks, interlacing
    yield "png_filters.png", png_bytes(rgb, 2, 8, filters="all", idat_split=97), "ok"
    yield "png_rgba16_filters.png", png_bytes(np.dstack([rgb16, g16]), 6, 16, filters="all"), "ok"
    big = structured_rgb(13, 11, 7)
    yield "png_rgb8_adam7.png", png_bytes(big, 2, 8, interlace=True, filters="all"), "ok"
    yield "png_gray1_adam7.png", png_bytes(gray >> 7, 0, 1, interlace=True), "ok"
    yield "png_pal4_adam7.png", png_bytes((gray >> 4), 3, 4, palette=rs.randint(0, 256, (16, 3)), interlace=True), "ok"
    yield "png_rgba16_adam7.png", png_bytes(np.dstack([rgb16, g16]), 6, 16, interlace=True, filters="all"), "ok"
    yield "png_1x1_adam7.png", png_bytes(big[:1, :1], 2, 8, interlace=True), "ok"
    yield "png_3x2_adam7.png", png_bytes(big[:2, :3], 2, 8, interlace=True), "ok"
    # ---- odd sizes (PIL's own encoder for speed)
    for w, h in ((1, 1), (5, 3), (2000, 3), (3, 700), (1411, 1411)):
        yield f"png_{w}x{h}.png", save_pil(Image.fromarray(structured_rgb(w, h, w * 7 + h)), format="PNG", compress_level=1), "ok"

    # ---- JPEG
    im = Image.fromarray(structured_rgb(127, 95, 11))
    yield "jpg_rgb420.jpg", save_pil(im, format="JPEG", quality=90), "ok"
    yield "jpg_rgb422.jpg", save_pil(im, format="JPEG", quality=90, subsampling=1), "ok"
    yield "jpg_rgb444.jpg", save_pil(im, format="JPEG", quality=95, subsampling=0), "ok"
    yield "jpg_progressive.jpg", save_pil(im, format="JPEG", quality=85, progressive=True), "ok"
    yield "jpg_progressive444.jpg", save_pil(im, format="JPEG", quality=85, progressive=True, subsampling=0), "ok"
    yield "jpg_gray.jpg", save_pil(im.convert("L"), format="JPEG", quality=90), "ok"
    yield "jpg_gray_progressive.jpg", save_pil(im.convert("L"), format="JPEG", quality=90, progressive=True), "ok"
    cmyk = save_pil(im.convert("CMYK"), format="JPEG", quality=90)  # Adobe APP14, inverted, as Photoshop
    yield "jpg_cmyk.jpg", cmyk, "ok"
    yield "jpg_cmyk_noadobe.jpg", _strip_app14(cmyk), "ok"
    yield "jpg_ycck.jpg", _set_adobe_transform(cmyk, 2), "ok"
    ex = Image.Exif()
    ex[0x0112] = 6  # orientation: rotate; PIL's open() does not apply it, nor do we
    yield "jpg_exif_orient6.jpg", save_pil(im, format="JPEG", quality=90, exif=ex.tobytes()), "ok"
    yield "jpg_optimize.jpg", save_pil(im, format="JPEG", quality=75, optimize=True), "ok"
    yield "jpg_q100_444.jpg", save_pil(im, format="JPEG", quality=100, subsampling=0), "ok"
    yield "jpg_q5.jpg", save_pil(im, format="JPEG", quality=5), "ok"
    # 3 components with an Adobe marker saying "no transform": libjpeg reads them as RGB
    yield "jpg_adobe_rgb.jpg", _insert_adobe(save_pil(im, format="JPEG", quality=90, subsampling=0), 0), "ok"
    # natural-looking pictures at a typical size, assorted encoder settings
    for i, (q, sub, prog) in enumerate([(95, 0, False), (90, 2, False), (75, 1, True), (60, 2, True)]):
        nat = Image.fromarray(natural_rgb(299 + 2 * i, 240 - 3 * i, 100 + i))
        yield f"jpg_natural{i}.jpg", save_pil(nat, format="JPEG", quality=q, subsampling=sub, progressive=prog), "ok"
    yield "png_natural.png", save_pil(Image.fromarray(natural_rgb(320, 240, 200)), format="PNG"), "ok"
    for w, h in ((1, 1), (5, 3), (2000, 3), (3, 700), (1411, 1411)):
        yield f"jpg_{w}x{h}.jpg", save_pil(Image.fromarray(structured_rgb(w, h, w * 13 + h)), format="JPEG", quality=92), "ok"

    # ---- PGM/PPM
    pim = structured_rgb(31, 17, 21)
    pg = np.asarray(Image.fromarray(pim).convert("L"))
    yield "ppm_p6.ppm", b"P6\n31 17\n255\n" + pim.tobytes(), "ok"
    yield "pgm_p5.pgm", b"P5 31 17 255\n" + pg.tobytes(), "ok"
    yield "pgm_p5_max100.pgm", b"P5\n31 17\n100\n" + (pg.astype(np.int32) * 100 // 255).astype(np.uint8).tobytes(), "ok"
    yield "ppm_p6_max15_comments.ppm", (b"P6\n# a comment\n31 # width\n17\n15\n" +
                                        (pim >> 4).astype(np.uint8).tobytes()), "ok"

    # 16-bit: PGM is PIL mode "I" (clipped to 255 on convert), PPM is scaled to 8 bits
    g16 = structured_gray16(31, 17, 22, hi=700)
    yield "pgm_p5_16bit.pgm", b"P5\n31 17\n65535\n" + g16.astype(">u2").tobytes(), "ok"
    yield "pgm_p5_max1000.pgm", b"P5\n31 17\n1000\n" + (g16 * 1000 // 700).astype(">u2").tobytes(), "ok"
    p16 = pim.astype(np.uint16) * 257 + np.random.RandomState(23).randint(0, 257, pim.shape).astype(np.uint16)
    yield "ppm_p6_16bit.ppm", b"P6\n31 17\n65535\n" + p16.astype(">u2").tobytes(), "ok"
    yield "ppm_p6_max4095.ppm", b"P6\n31 17\n4095\n" + (p16 >> 4).astype(">u2").tobytes(), "ok"

    # ---- bad files
    good_png = png_bytes(rgb, 2, 8)
    good_jpg = save_pil(im, format="JPEG", quality=90)
    yield "bad_truncated.png", good_png[: len(good_png) // 2], "truncated"
    yield "bad_truncated.jpg", good_jpg[: len(good_jpg) // 2], "truncated"
    yield "bad_truncated_progressive.jpg", save_pil(im, format="JPEG", progressive=True)[:1500], "truncated"
    yield "bad_sig_only.png", good_png[:8], "truncated"
    yield "bad_text.png", b"this is not an image, just text\n", "format"
    yield "bad_empty.png", b"", "format"
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    yield "bad_huge.png", b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b""), "format"
    yield "bad_huge.jpg", _set_sof_size(good_jpg, 60000, 60000), "format"
    yield "bad_crc.png", good_png[:29] + bytes([good_png[29] ^ 0xFF]) + good_png[30:], "format"
    yield "bad_gif.gif", save_pil(Image.fromarray(rgb).convert("P"), format="GIF"), "unsupported"
    yield "bmp_rgb24.bmp", save_pil(Image.fromarray(rgb), format="BMP"), "ok"  # more: make_format_images.py
    yield "bad_truncated.ppm", b"P6\n31 17\n255\n" + pim.tobytes()[:100], "truncated"


def _segments(data):
    """(marker, start, end) of each JPEG header segment before SOS."""
    pos = 2
    while pos + 4 <= len(data):
        m = data[pos + 1]
        n = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        yield m, pos, pos + 2 + n
        if m == 0xDA:
            return
        pos += 2 + n


def _strip_app14(data):
    for m, a, b in _segments(data):
        if m == 0xEE:
            return data[:a] + data[b:]
    raise RuntimeError("no APP14 marker")


def _set_adobe_transform(data, t):
    for m, a, b in _segments(data):
        if m == 0xEE:
            return data[:b - 1] + bytes([t]) + data[b:]
    raise RuntimeError("no APP14 marker")


def _insert_adobe(data, transform):
    app14 = b"\xff\xee" + struct.pack(">H", 14) + b"Adobe" + struct.pack(">HHHB", 100, 0, 0, transform)
    return data[:2] + app14 + data[2:]


def _set_sof_size(data, w, h):
    for m, a, b in _segments(data):
        if m in (0xC0, 0xC1, 0xC2):
            return data[:a + 5] + struct.pack(">HH", h, w) + data[a + 9:]
    raise RuntimeError("no SOF marker")


# ----------------------------------------------------------------------- natural set
def natural_rgb(w, h, seed):
    """A natural-looking picture: sky/ground colour field, smooth multi-scale blobs,
    soft-edged shapes, fine texture. (h, w, 3) uint8."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    v = yy / max(h - 1, 1)
    top, bottom = rs.uniform(0, 255, 3), rs.uniform(0, 255, 3)
    horizon = rs.uniform(0.3, 0.7)
    t = 1 / (1 + np.exp(-(v - horizon) * rs.uniform(5, 30)))
    img = top[None, None, :] * (1 - t[..., None]) + bottom[None, None, :] * t[..., None]
    # smooth noise at several scales (upsampled low-res noise), amplitude ~ scale as in
    # natural images' 1/f spectrum; mostly luminance, some colour
    for scale, amp in ((3, 0.06), (12, 0.15), (48, 0.35), (160, 0.5)):
        sh, sw = max(2, h // scale), max(2, w // scale)
        low = rs.uniform(-1, 1, (sh, sw, 1)) + 0.35 * rs.uniform(-1, 1, (sh, sw, 3))
        low8 = np.clip(low * 90 + 128, 0, 255).astype(np.uint8)
        up = np.asarray(Image.fromarray(low8).resize((w, h), Image.BICUBIC)).astype(np.float64)
        img += (up - 128) * amp
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    layer = Image.new("RGB", (w, h))
    mask = Image.new("L", (w, h), 0)
    dl, dm = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for _ in range(rs.randint(3, 12)):
        cx, cy = rs.uniform(0, w), rs.uniform(0, h)
        r = rs.uniform(0.03, 0.25) * min(w, h)
        col = tuple(int(c) for c in rs.randint(0, 256, 3))
        box = [cx - r, cy - r * rs.uniform(0.4, 1.5), cx + r, cy + r * rs.uniform(0.4, 1.5)]
        if rs.rand() < 0.6:
            dl.ellipse(box, fill=col)
            dm.ellipse(box, fill=255)
        else:
            pts = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.sort(rs.uniform(0, 2 * np.pi, 5))]
            dl.polygon(pts, fill=col)
            dm.polygon(pts, fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(rs.uniform(0.5, 3)))
    im = Image.composite(layer, im, mask)
    arr = np.asarray(im).astype(np.int16) + rs.randint(-6, 7, (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--set", default="corpus", choices=["corpus", "natural"])
    ap.add_argument("--count", type=int, default=10, help="natural set: number of images")
    ap.add_argument("--size", default="256x256", help="natural set: WxH")
    ap.add_argument("--format", default="png", choices=["png", "jpg"], help="natural set: file format")
    ap.add_argument("--seed", type=int, default=0, help="natural set: seed of image 0 (image i uses seed+i)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.set == "natural":
        try:
            w, h = (int(t) for t in a.size.lower().split("x"))
            assert w > 0 and h > 0
        except (ValueError, AssertionError):
            ap.error(f"--size must be WxH, got {a.size!r}")
        for i in range(a.count):
            im = Image.fromarray(natural_rgb(w, h, a.seed + i))
            path = os.path.join(a.out, f"natural_{i:05d}.{a.format}")
            if a.format == "png":
                im.save(path, compress_level=1)
            else:
                im.save(path, quality=90)
        print(f"wrote {a.count} images to {a.out}")
        return 0
    lines = []
    for name, data, expect in corpus():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}\t{expect}\n")
    with open(os.path.join(a.out, "manifest.tsv"), "w") as f:
        f.writelines(lines)
    print(f"wrote {len(lines)} files to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
