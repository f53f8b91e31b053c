#!/usr/bin/python3
"""Deterministic WebP, TIFF and BMP corpus for the decoder tests (issue 21, item 4).

  /usr/bin/python3 tools/make_format_images.py --out DIR

writes every variant below into DIR and DIR/manifest.tsv ("name<TAB>expected", expected "ok"
or the cs_status name the decoder must return). tests/image_ref.py then compares every "ok"
file with PIL's Image.open(f).convert('RGB'), byte for byte.

  WebP  (PIL's encoder, Debian libwebp): lossy, lossless, lossy/lossless with alpha, animated
        (first frame; frames of several sizes/alpha), odd sizes.
  TIFF  PIL's writer for its own modes (1, L, LA, P, I;16, I;16B, RGB, RGBA, CMYK) with none,
        LZW, deflate (both codes), packbits, CCITT G4, JPEG, multi-page; plus a hand-written
        writer (below) for what PIL cannot write: 16-bit RGB/RGBA/CMYK, associated alpha,
        2/4-bit gray, MinIsWhite, big-endian, tiles, FillOrder 2, predictor 2, short/palette
        sub-byte, separate planes, and refused variants (16-bit raw planes, LAB, float, YCbCr
        without JPEG).
  BMP   hand-written (every header type 12/40/64/108/124, 1/4/8-bit palettes incl. grey ramps
        and short palettes, 16-bit 5-5-5 and 5-6-5 over all 65536 values, 24/32-bit, bitfields,
        RLE4/RLE8 with every escape, bottom-up and top-down) and PIL's writer.

Same arguments -> same bytes (numpy RandomState, PIL's deterministic encoders).
"""
import argparse
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_test_images import natural_rgb, structured_rgb  # noqa: E402


def save_pil(im, **kw):
    b = io.BytesIO()
    im.save(b, **kw)
    return b.getvalue()


# ------------------------------------------------------------------------------ TIFF writer
def _pack_bits_rows(samples, bps):
    """(h, w*spp) ints -> bytes, each row packed MSB-first to whole bytes."""
    h, n = samples.shape
    if bps == 8:
        return samples.astype(np.uint8).tobytes()
    out = bytearray()
    for r in range(h):
        acc, nb = 0, 0
        row = bytearray()
        for v in samples[r]:
            acc = (acc << bps) | int(v)
            nb += bps
            if nb == 8:
                row.append(acc)
                acc, nb = 0, 0
        if nb:
            row.append(acc << (8 - nb))
        out += row
    return bytes(out)


def packbits(data):
    """Valid PackBits: literal runs of up to 128 bytes plus a repeat run where bytes repeat."""
    out, i = bytearray(), 0
    while i < len(data):
        j = i
        while j + 1 < len(data) and data[j + 1] == data[i] and j - i < 127:
            j += 1
        if j - i >= 2:
            out += bytes([257 - (j - i + 1)]) + data[i:i + 1]
            i = j + 1
            continue
        n = min(128, len(data) - i)
        out += bytes([n - 1]) + data[i:i + n]
        i += n
    return bytes(out)


def _reverse_bits(data):
    tab = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))
    return data.translate(tab)


def tiff_bytes(arr, bps, photometric, bo="<", compression=1, predictor=1, extra=None,
               sampleformat=None, colormap=None, tile=None, rows_per_strip=None, fillorder=1,
               planar=1):
    """arr: (h, w, spp) integers. Returns a baseline TIFF (strips or tiles) written by hand."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, spp = arr.shape
    dt = {8: np.uint8, 16: np.dtype(bo + "u2"), 32: np.dtype(bo + "u4")}

    def encode_block(block):  # (bh, bw, spp) -> encoded bytes
        bh, bw, nc = block.shape
        s = block.reshape(bh, bw * nc).astype(np.int64)
        if predictor == 2:
            d = s.copy()
            d[:, nc:] = (s[:, nc:] - s[:, :-nc]) % (1 << bps)
            s = d
        raw = s.astype(dt[bps]).tobytes() if bps >= 8 else _pack_bits_rows(s, bps)
        if compression == 8 or compression == 32946:
            raw = zlib.compress(raw, 6)
        elif compression == 32773:
            raw = packbits(raw)
        return _reverse_bits(raw) if fillorder == 2 else raw  # FillOrder applies to the stored bytes

    blocks = []
    if planar == 2:
        rps = rows_per_strip or h
        for c in range(spp):
            for y in range(0, h, rps):
                blocks.append(encode_block(arr[y:y + rps, :, c:c + 1]))
    elif tile:
        tw, th = tile
        for ty in range(0, h, th):
            for tx in range(0, w, tw):
                t = np.zeros((th, tw, spp), arr.dtype)
                part = arr[ty:ty + th, tx:tx + tw]
                t[:part.shape[0], :part.shape[1]] = part
                blocks.append(encode_block(t))
    else:
        rps = rows_per_strip or h
        for y in range(0, h, rps):
            blocks.append(encode_block(arr[y:y + rps]))

    e = "<" if bo == "<" else ">"
    header = (b"II" if bo == "<" else b"MM") + struct.pack(e + "HI", 42, 8)
    out = bytearray(header)
    data_start = len(out)
    offsets = []
    for b in blocks:
        offsets.append(len(out))
        out += b
        if len(out) % 2:
            out += b"\0"
    extra_data = bytearray()

    def ifd(entries, base):
        """entries: list of (tag, type, values). Returns IFD bytes placed at base."""
        entries = sorted(entries)
        n = len(entries)
        body = bytearray(struct.pack(e + "H", n))
        tail = bytearray()
        tail_base = base + 2 + 12 * n + 4
        for tag, typ, vals in entries:
            fmt = {3: "H", 4: "I"}[typ]
            raw = struct.pack(e + fmt * len(vals), *vals)
            if len(raw) <= 4:
                body += struct.pack(e + "HHI", tag, typ, len(vals)) + raw.ljust(4, b"\0")
            else:
                body += struct.pack(e + "HHII", tag, typ, len(vals), tail_base + len(tail))
                tail += raw
                if len(tail) % 2:
                    tail += b"\0"
        return body, tail

    entries = [(256, 4, [w]), (257, 4, [h]), (258, 3, [bps] * spp), (259, 3, [compression]),
               (262, 3, [photometric]), (277, 3, [spp]), (284, 3, [planar])]
    if fillorder != 1:
        entries.append((266, 3, [fillorder]))
    if predictor != 1:
        entries.append((317, 3, [predictor]))
    if extra is not None:
        entries.append((338, 3, list(extra)))
    if sampleformat is not None:
        entries.append((339, 3, [sampleformat] * spp))
    if colormap is not None:
        entries.append((320, 3, list(colormap)))
    counts = [len(b) for b in blocks]
    if tile and planar == 1:
        entries += [(322, 3, [tile[0]]), (323, 3, [tile[1]]), (324, 4, offsets), (325, 4, counts)]
    else:
        entries += [(273, 4, offsets), (278, 4, [rows_per_strip or h]), (279, 4, counts)]
    base = len(out)
    body, tail = ifd(entries, base)
    out += body + b"\0\0\0\0" + tail
    struct.pack_into(e + "I", out, 4, base)  # the first IFD follows the pixel data
    del data_start, extra_data
    return bytes(out)


# ------------------------------------------------------------------------------- BMP writer
def bmp_rows(arr, bits, topdown=False, order="BGR"):
    """(h, w) indices or (h, w, 3|4) channels -> pixel array rows, padded to 4 bytes."""
    h, w = arr.shape[:2]
    stride = ((w * bits + 31) >> 3) & ~3
    rows = []
    for y in (range(h) if topdown else range(h - 1, -1, -1)):
        r = arr[y]
        if bits <= 8:
            b = _pack_bits_rows(np.asarray(r, np.int64)[None, :], bits)
        elif bits == 16:
            b = np.asarray(r, "<u2").tobytes()
        else:
            b = np.asarray(r, np.uint8).tobytes()
        rows.append(b.ljust(stride, b"\0"))
    return b"".join(rows)


def bmp_file(w, h, bits, pixels, header=40, comp=0, palette=None, clr_used=0, topdown=False,
             masks=None, offset=None, masks_in_header=None):
    """A BMP with the given info header size (12/40/64/108/124) and pixel data bytes."""
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
        pal = b"".join(bytes([b, g, r]) for r, g, b in (palette or []))
    else:
        hh = (-h) & 0xFFFFFFFF if topdown else h
        info = struct.pack("<IiIHHIIiiII", header, w, hh, 1, bits, comp, len(pixels), 2835, 2835,
                           clr_used, 0)
        if header >= 56 and masks is not None:
            info += struct.pack("<IIII", *masks)
        info = info.ljust(header, b"\0")
        pal = b"".join(bytes([b, g, r, 0]) for r, g, b in (palette or []))
        if header == 40 and masks is not None:
            pal = struct.pack("<III", *masks[:3]) + pal
    off = 14 + len(info) + len(pal) if offset is None else offset
    size = off + len(pixels)
    fh = b"BM" + struct.pack("<IHHI", size, 0, 0, off)
    body = fh + info + pal
    body = body.ljust(off, b"\0") if off >= len(body) else body
    return body[:off] + pixels if off >= len(fh + info + pal) else body + pixels


def rle_encode(idx, rle4, topdown=False, use_delta=False, early_eob=False):
    """BMP RLE4/RLE8 stream for (h, w) indices with encoded runs, absolute runs (odd and even
    lengths), end-of-line, an optional delta over a zero area and end-of-bitmap."""
    h, w = idx.shape
    out = bytearray()
    rows = list(range(h)) if topdown else list(range(h - 1, -1, -1))
    for k, y in enumerate(rows):
        r = [int(v) for v in idx[y]]
        if use_delta and k == 1 and all(v == 0 for v in r[:5]):
            out += bytes([0, 2, 5, 0])  # skip 5 pixels (zeros)
            x = 5
        else:
            x = 0
        while x < w:
            j = x
            while j + 1 < w and r[j + 1] == r[x] and j + 1 - x < 254:
                j += 1
            run = j - x + 1
            if run >= 3 or w - x < 3:
                n = min(run, 255) if not rle4 else min(run, 255)
                out += bytes([n, (r[x] << 4 | r[x]) if rle4 else r[x]])
                x += n
                continue
            # absolute run: up to the next run of 3 (at least 3 pixels)
            e = x
            while e < w and e - x < 200 and not (e + 2 < w and r[e] == r[e + 1] == r[e + 2]):
                e += 1
            n = max(3, e - x)
            n = min(n, w - x)
            vals = r[x:x + n]
            if rle4:
                if n % 2:  # PIL reads n // 2 bytes in absolute RLE4: keep runs even
                    n -= 1
                    vals = vals[:n]
                    if n < 3:
                        out += bytes([1, r[x] << 4])
                        x += 1
                        continue
                data = bytes((vals[i] << 4) | vals[i + 1] for i in range(0, n, 2))
            else:
                data = bytes(vals)
            out += bytes([0, n]) + data
            if len(data) % 2:
                out += b"\0"
            x += n
        if early_eob and k == h // 2:
            out += bytes([0, 1])
            return bytes(out)
        out += bytes([0, 0])
    out += bytes([0, 1])
    return bytes(out)


def corpus():
    """Yields (name, bytes, expected)."""
    rs = np.random.RandomState(21)
    rgb = structured_rgb(41, 29, 31)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    alpha = structured_rgb(41, 29, 32)[..., 0]
    im = Image.fromarray(rgb)
    ima = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")

    # ================================================================== WebP
    yield "webp_lossy.webp", save_pil(im, format="WEBP", quality=80), "ok"
    yield "webp_lossy_q20_m6.webp", save_pil(im, format="WEBP", quality=20, method=6), "ok"
    yield "webp_lossless.webp", save_pil(im, format="WEBP", lossless=True), "ok"
    yield "webp_lossy_alpha.webp", save_pil(ima, format="WEBP", quality=85, alpha_quality=70), "ok"
    yield "webp_lossless_alpha.webp", save_pil(ima, format="WEBP", lossless=True), "ok"
    yield "webp_lossless_alpha_exact.webp", save_pil(ima, format="WEBP", lossless=True, exact=True), "ok"
    yield "webp_gray.webp", save_pil(im.convert("L"), format="WEBP", quality=90), "ok"
    frames = [Image.fromarray(structured_rgb(41, 29, 40 + i)) for i in range(3)]
    yield "webp_anim.webp", save_pil(frames[0], format="WEBP", save_all=True, append_images=frames[1:],
                                     duration=[50, 80, 120], quality=80), "ok"
    fa = [Image.fromarray(np.dstack([structured_rgb(41, 29, 50 + i), alpha]), "RGBA") for i in range(2)]
    yield "webp_anim_alpha_lossless.webp", save_pil(fa[0], format="WEBP", save_all=True, append_images=fa[1:],
                                                    lossless=True, duration=40), "ok"
    # an animation whose first frame is a sub-rectangle with alpha (mixed, minimize_size)
    sub = np.zeros((29, 41, 4), np.uint8)
    sub[5:20, 7:30] = np.dstack([rgb[5:20, 7:30], np.full((15, 23), 255, np.uint8)])
    yield "webp_anim_mixed.webp", save_pil(Image.fromarray(sub, "RGBA"), format="WEBP", save_all=True,
                                           append_images=[ima, im.convert("RGBA")], minimize_size=True,
                                           allow_mixed=True, background=(10, 200, 30, 128)), "ok"
    for w, h in ((1, 1), (5, 3), (299, 201)):
        yield f"webp_{w}x{h}.webp", save_pil(Image.fromarray(structured_rgb(w, h, w + h)), format="WEBP",
                                             quality=75), "ok"
    yield "webp_natural.webp", save_pil(Image.fromarray(natural_rgb(320, 240, 300)), format="WEBP",
                                        quality=82), "ok"
    good = save_pil(im, format="WEBP", quality=80)
    yield "bad_truncated.webp", good[: len(good) // 2], "truncated"
    yield "bad_riff_only.webp", good[:16], "truncated"
    bad = bytearray(good)
    bad[30:60] = b"\xff" * 30  # inside the VP8 frame header / first partition
    yield "bad_corrupt.webp", bytes(bad), "format"

    # ================================================================== TIFF (PIL's writer)
    pal_im = im.convert("P", palette=Image.ADAPTIVE, colors=200)
    g16 = (gray.astype(np.uint16) * 3 + rs.randint(0, 3, gray.shape)).astype(np.uint16)  # 0..767
    i16 = Image.frombytes("I;16", (41, 29), g16.astype("<u2").tobytes())
    i16b = Image.frombytes("I;16B", (41, 29), g16.astype(">u2").tobytes())
    modes = {"1": im.convert("1"), "L": im.convert("L"), "LA": ima.convert("LA"), "P": pal_im,
             "I16": i16, "I16B": i16b, "RGB": im, "RGBA": ima, "CMYK": im.convert("CMYK")}
    for mname, m in modes.items():
        for comp in (None, "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"):
            tag = comp or "raw"
            yield f"tif_pil_{mname}_{tag}.tif", save_pil(m, format="TIFF", compression=comp), "ok"
    yield "tif_pil_1_g4.tif", save_pil(modes["1"], format="TIFF", compression="group4"), "ok"
    yield "tif_pil_RGB_jpeg.tif", save_pil(im, format="TIFF", compression="jpeg"), "ok"
    yield "tif_pil_RGB_lzw_strips.tif", save_pil(Image.fromarray(natural_rgb(200, 150, 301)), format="TIFF",
                                                 compression="tiff_lzw", tiffinfo={278: 7}), "ok"
    pages = [Image.fromarray(structured_rgb(41, 29, 60 + i)) for i in range(3)]
    yield "tif_pil_multipage.tif", save_pil(pages[0], format="TIFF", save_all=True, append_images=pages[1:],
                                            compression="tiff_deflate"), "ok"
    yield "tif_pil_1x1.tif", save_pil(Image.fromarray(rgb[:1, :1]), format="TIFF"), "ok"

    # ================================================================== TIFF (hand-written)
    rgb16 = rgb.astype(np.uint16) * 257 + rs.randint(0, 257, rgb.shape).astype(np.uint16)
    a16 = alpha.astype(np.uint16) * 257
    cmyk = np.asarray(im.convert("CMYK"))
    for bo in ("<", ">"):
        e = "le" if bo == "<" else "be"
        yield f"tif_rgb8_{e}.tif", tiff_bytes(rgb, 8, 2, bo=bo), "ok"
        yield f"tif_rgb16_{e}.tif", tiff_bytes(rgb16, 16, 2, bo=bo), "ok"
        yield f"tif_rgb16_{e}_deflate_pred.tif", tiff_bytes(rgb16, 16, 2, bo=bo, compression=8, predictor=2), "ok"
        yield f"tif_rgba16_{e}.tif", tiff_bytes(np.dstack([rgb16, a16]), 16, 2, bo=bo, extra=[2]), "ok"
        yield f"tif_rgba16_noextra_{e}.tif", tiff_bytes(np.dstack([rgb16, a16]), 16, 2, bo=bo), "ok"
        yield f"tif_rgbx16_{e}.tif", tiff_bytes(np.dstack([rgb16, a16]), 16, 2, bo=bo, extra=[0]), "ok"
        yield f"tif_gray16_{e}.tif", tiff_bytes(g16, 16, 1, bo=bo), "ok"
        yield f"tif_gray16_{e}_deflate_pred.tif", tiff_bytes(g16, 16, 1, bo=bo, compression=8, predictor=2), "ok"
        yield f"tif_gray8_miniswhite_{e}.tif", tiff_bytes(gray, 8, 0, bo=bo), "ok"
        yield f"tif_cmyk8_{e}_packbits.tif", tiff_bytes(cmyk, 8, 5, bo=bo, compression=32773), "ok"
        yield f"tif_rgb8_{e}_tiled.tif", tiff_bytes(rgb, 8, 2, bo=bo, tile=(16, 16), compression=8), "ok"
    # associated (premultiplied) alpha: PIL un-premultiplies (RGBa) before dropping alpha
    pm = (rgb.astype(np.int32) * alpha[..., None] // 255).astype(np.uint8)
    yield "tif_rgba8_assoc.tif", tiff_bytes(np.dstack([pm, alpha]), 8, 2, extra=[1]), "ok"
    pm16 = (rgb16.astype(np.int64) * a16[..., None] // 65535).astype(np.uint16)
    yield "tif_rgba16_assoc_le.tif", tiff_bytes(np.dstack([pm16, a16]), 16, 2, extra=[1]), "ok"
    yield "tif_rgba16_assoc_be.tif", tiff_bytes(np.dstack([pm16, a16]), 16, 2, bo=">", extra=[1]), "ok"
    yield "tif_rgbxx8.tif", tiff_bytes(np.dstack([rgb, alpha, alpha[::-1]]), 8, 2, extra=[0, 0]), "ok"
    yield "tif_rgbax8.tif", tiff_bytes(np.dstack([rgb, alpha, alpha[::-1]]), 8, 2, extra=[2, 0]), "ok"
    yield "tif_cmyk16_le.tif", tiff_bytes(cmyk.astype(np.uint16) * 257 + 100, 16, 5), "ok"
    yield "tif_cmykx8.tif", tiff_bytes(np.dstack([cmyk, alpha]), 8, 5, extra=[0]), "ok"
    for d in (1, 2, 4):
        for ph in (0, 1):
            yield f"tif_gray{d}_ph{ph}.tif", tiff_bytes(gray >> (8 - d), d, ph, compression=5 if False else 1), "ok"
        yield f"tif_gray{d}_fill2_deflate.tif", tiff_bytes(gray >> (8 - d), d, 1, fillorder=2, compression=8), "ok"
        n = 1 << d
        cm = [int(v) for v in rs.randint(0, 65536, 3 * n)]
        yield f"tif_pal{d}.tif", tiff_bytes((gray >> (8 - d)), d, 3, colormap=cm), "ok"
        yield f"tif_pal{d}_tiled_deflate.tif", tiff_bytes((gray >> (8 - d)), d, 3, colormap=cm, tile=(16, 32),
                                                          compression=8), "ok"
    yield "tif_gray8_fill2.tif", tiff_bytes(gray, 8, 1, fillorder=2), "ok"
    yield "tif_rgb8_fill2_deflate.tif", tiff_bytes(rgb, 8, 2, fillorder=2, compression=8), "ok"
    yield "tif_gray16_fill2.tif", tiff_bytes(g16, 16, 1, fillorder=2), "ok"
    yield "tif_gray16_miniswhite_le.tif", tiff_bytes(g16, 16, 0), "ok"
    yield "tif_gray16s.tif", tiff_bytes((g16.astype(np.int32) - 300).astype(np.uint16), 16, 1,
                                        sampleformat=2), "ok"
    yield "tif_gray16s_be.tif", tiff_bytes((g16.astype(np.int32) - 300).astype(np.uint16), 16, 1, bo=">",
                                           sampleformat=2), "ok"
    yield "tif_la8.tif", tiff_bytes(np.dstack([gray, alpha]), 8, 1, extra=[2]), "ok"
    yield "tif_pa8.tif", tiff_bytes(np.dstack([gray, alpha]), 8, 3, extra=[2],
                                    colormap=[int(v) for v in rs.randint(0, 65536, 768)]), "ok"
    yield "tif_rgb8_strips3_lzwpred.tif", save_pil(im, format="TIFF", compression="tiff_lzw",
                                                   tiffinfo={317: 2, 278: 3}), "ok"
    # refused: PIL decodes them differently from their meaning, or not at all
    # separate planes: PIL reads them as interleaved samples (not 16-bit uncompressed ones)
    yield "tif_rgb8_planar.tif", tiff_bytes(rgb, 8, 2, planar=2), "ok"
    yield "tif_rgb8_planar_deflate_rps7.tif", tiff_bytes(rgb, 8, 2, planar=2, compression=8, rows_per_strip=7), "ok"
    yield "tif_cmyk8_planar_packbits.tif", tiff_bytes(cmyk, 8, 5, planar=2, compression=32773), "ok"
    yield "tif_rgba8_planar.tif", tiff_bytes(np.dstack([rgb, alpha]), 8, 2, planar=2, extra=[2]), "ok"
    yield "tif_rgb16_planar_deflate.tif", tiff_bytes(rgb16, 16, 2, planar=2, compression=8, predictor=2), "ok"
    yield "tif_rgb16_planar_raw.tif", tiff_bytes(rgb16, 16, 2, planar=2), "unsupported"
    yield "tif_rgba8_assoc_planar.tif", tiff_bytes(np.dstack([pm, alpha]), 8, 2, planar=2, extra=[1]), "unsupported"
    yield "tif_lab8.tif", tiff_bytes(rgb, 8, 8), "unsupported"
    yield "tif_ycbcr8_raw.tif", tiff_bytes(rgb, 8, 6), "unsupported"
    # 32-bit integers (mode I, clipped) and floats (mode F: truncated, clipped, NaN -> 0)
    i32 = np.array([[-5, 0, 1, 100, 255, 256, 1000, 2**31 - 1, -2**31, 70000]] * 3, np.int64)
    i32 = np.concatenate([i32, (g16[:3, :10].astype(np.int64) - 200)], 0)
    f32 = np.array([[-5.0, 0.0, 0.4, 0.6, 1.5, 100.7, 254.9, 255.0, 255.5, 300.0, np.nan, np.inf, -np.inf]] * 2,
                   np.float32)
    f32 = np.concatenate([f32, rgb[:4, :13, 0].astype(np.float32) * 1.37 - 20.25], 0)
    for bo in ("<", ">"):
        e = "le" if bo == "<" else "be"
        yield f"tif_int32s_{e}.tif", tiff_bytes((i32 % 2**32).astype(np.uint32), 32, 1, bo=bo, sampleformat=2), "ok"
        yield f"tif_float32_{e}.tif", tiff_bytes(f32.view(np.uint32), 32, 1, bo=bo, sampleformat=3), "ok"
    yield "tif_int32u_le.tif", tiff_bytes((i32 % 2**32).astype(np.uint32), 32, 1, sampleformat=1), "ok"
    yield "tif_float32_le_deflate.tif", tiff_bytes(f32.view(np.uint32), 32, 1, sampleformat=3,
                                                        compression=8), "ok"
    yield "tif_float32_be_deflate.tif", tiff_bytes(f32.view(np.uint32), 32, 1, bo=">", sampleformat=3,
                                                   compression=8), "unsupported"
    yield "tif_int32u_be.tif", tiff_bytes((i32 % 2**32).astype(np.uint32), 32, 1, bo=">"), "unsupported"
    yield "tif_gray16_be_miniswhite.tif", tiff_bytes(g16, 16, 0, bo=">"), "unsupported"
    good_t = tiff_bytes(rgb, 8, 2, compression=8)
    yield "bad_truncated.tif", good_t[: len(good_t) // 2], "truncated"
    yield "bad_header_only.tif", good_t[:8], "truncated"
    huge = bytearray(tiff_bytes(rgb[:2, :2], 8, 2))
    # width field of the first IFD entry (ImageWidth, LONG) -> 100000
    ifd = struct.unpack_from("<I", huge, 4)[0]
    struct.pack_into("<I", huge, ifd + 2 + 8, 100000)
    yield "bad_huge.tif", bytes(huge), "format"

    # ================================================================== BMP
    yield "bmp_pil_rgb24.bmp", save_pil(im, format="BMP"), "ok"
    yield "bmp_pil_rgba32.bmp", save_pil(ima, format="BMP"), "ok"
    yield "bmp_pil_L.bmp", save_pil(im.convert("L"), format="BMP"), "ok"
    yield "bmp_pil_P.bmp", save_pil(pal_im, format="BMP"), "ok"
    yield "bmp_pil_1.bmp", save_pil(im.convert("1"), format="BMP"), "ok"
    w, h = 41, 29
    for bits in (1, 4, 8):
        n = 1 << bits
        pal = [tuple(int(t) for t in rs.randint(0, 256, 3)) for _ in range(n)]
        idx = (gray.astype(np.int32) * n // 256)
        for hdr in (12, 40, 64, 108, 124):
            for td in ((False, True) if hdr != 12 else (False,)):
                name = f"bmp_pal{bits}_h{hdr}{'_topdown' if td else ''}.bmp"
                yield name, bmp_file(w, h, bits, bmp_rows(idx, bits, td), header=hdr, palette=pal, topdown=td), "ok"
        # short palette (clr_used < 2^bits): indices past it read PIL's default ramp (i, i, i)
        if bits > 1:
            yield f"bmp_pal{bits}_short.bmp", bmp_file(w, h, bits, bmp_rows(idx, bits), palette=pal[:n // 2 + 1],
                                                       clr_used=n // 2 + 1), "ok"
    # grey-ramp palettes: PIL replaces them by modes "1"/"L" (same pixels where meaningful)
    idx8 = gray.astype(np.int32)
    yield "bmp_gray8_ramp.bmp", bmp_file(w, h, 8, bmp_rows(idx8, 8), palette=[(i, i, i) for i in range(256)]), "ok"
    yield "bmp_gray8_ramp_short.bmp", bmp_file(w, h, 8, bmp_rows(idx8, 8), palette=[(i, i, i) for i in range(100)],
                                               clr_used=100), "ok"
    yield "bmp_bw1.bmp", bmp_file(w, h, 1, bmp_rows(idx8 >> 7, 1), palette=[(0, 0, 0), (255, 255, 255)]), "ok"
    # PIL misreads these (mode "L"/"1" on 4-bit or 8-bit data): refused
    yield "bmp_gray4_ramp.bmp", bmp_file(w, h, 4, bmp_rows(idx8 >> 4, 4), palette=[(i, i, i) for i in range(16)]), "unsupported"
    yield "bmp_bw8.bmp", bmp_file(w, h, 8, bmp_rows(idx8 >> 7, 8), palette=[(0, 0, 0), (255, 255, 255)],
                                  clr_used=2), "unsupported"
    # 16-bit over all 65536 values (256x256): 5-5-5 raw, 5-5-5 and 5-6-5 bitfields
    allv = np.arange(65536, dtype=np.uint32).reshape(256, 256)
    yield "bmp_rgb16_555.bmp", bmp_file(256, 256, 16, bmp_rows(allv, 16)), "ok"
    for hdr in (40, 124):
        yield f"bmp_rgb16_565_h{hdr}.bmp", bmp_file(256, 256, 16, bmp_rows(allv, 16), header=hdr, comp=3,
                                                    masks=(0xF800, 0x7E0, 0x1F, 0)), "ok"
        yield f"bmp_rgb16_555bf_h{hdr}.bmp", bmp_file(256, 256, 16, bmp_rows(allv, 16), header=hdr, comp=3,
                                                      masks=(0x7C00, 0x3E0, 0x1F, 0), topdown=True), "ok"
    yield "bmp_rgb16_badmask.bmp", bmp_file(w, h, 16, bmp_rows(gray.astype(np.uint32), 16), comp=3,
                                            masks=(0xF00, 0xF0, 0xF, 0)), "unsupported"
    # 24/32-bit
    bgr = rgb[..., ::-1]
    for hdr in (12, 40, 124):
        yield f"bmp_rgb24_h{hdr}.bmp", bmp_file(w, h, 24, bmp_rows(bgr, 24), header=hdr), "ok"
    yield "bmp_rgb24_topdown.bmp", bmp_file(w, h, 24, bmp_rows(bgr, 24, True), topdown=True), "ok"
    yield "bmp_rgb24_bitfields.bmp", bmp_file(w, h, 24, bmp_rows(bgr, 24), header=108, comp=3,
                                              masks=(0xFF0000, 0xFF00, 0xFF, 0)), "ok"
    bgra = np.dstack([bgr, alpha])
    yield "bmp_rgb32.bmp", bmp_file(w, h, 32, bmp_rows(bgra, 32)), "ok"
    for masks, order in (((0xFF0000, 0xFF00, 0xFF, 0), "BGRX"), ((0xFF000000, 0xFF0000, 0xFF00, 0), "XBGR"),
                         ((0xFF000000, 0xFF0000, 0xFF00, 0xFF), "ABGR"), ((0xFF, 0xFF00, 0xFF0000, 0xFF000000), "RGBA"),
                         ((0xFF0000, 0xFF00, 0xFF, 0xFF000000), "BGRA")):
        chan = {"B": rgb[..., 2], "G": rgb[..., 1], "R": rgb[..., 0], "X": alpha, "A": alpha}
        px = np.dstack([chan[c] for c in order])
        yield f"bmp_rgb32_bf_{order}.bmp", bmp_file(w, h, 32, bmp_rows(px, 32), header=124, comp=3, masks=masks), "ok"
    yield "bmp_rgb32_bf_40.bmp", bmp_file(w, h, 32, bmp_rows(bgra, 32), header=40, comp=3,
                                          masks=(0xFF0000, 0xFF00, 0xFF, 0)), "ok"
    # RLE
    pal16 = [tuple(int(t) for t in rs.randint(0, 256, 3)) for _ in range(16)]
    pal256 = [tuple(int(t) for t in rs.randint(0, 256, 3)) for _ in range(256)]
    blocky = (np.asarray(Image.fromarray(gray).resize((8, 6), Image.NEAREST).resize((w, h), Image.NEAREST))
              .astype(np.int32))
    blocky[1, :6] = 0  # a zero area for the delta escape
    blocky[h - 2, :6] = 0
    i4 = blocky >> 4
    i8 = blocky
    for td in (False, True):
        t = "_topdown" if td else ""
        yield f"bmp_rle8{t}.bmp", bmp_file(w, h, 8, rle_encode(i8, False, td), comp=1,
                                          palette=pal256, topdown=td), "ok"
        yield f"bmp_rle4{t}.bmp", bmp_file(w, h, 4, rle_encode(i4, True, td), comp=2,
                                          palette=pal16, topdown=td), "ok"
    # PIL 9.4 reads a delta escape's two bytes and then two more as (right, up): refused
    yield "bmp_rle8_delta.bmp", bmp_file(w, h, 8, rle_encode(i8, False, use_delta=True), comp=1,
                                         palette=pal256), "unsupported"
    yield "bmp_rle4_delta.bmp", bmp_file(w, h, 4, rle_encode(i4, True, use_delta=True), comp=2,
                                         palette=pal16), "unsupported"
    # RLE8 in a 4-bit-declared file: PIL reads it with the 16-entry palette (ramp past it)
    yield "bmp_rle8_bits4.bmp", bmp_file(w, h, 4, rle_encode(i8, False), comp=1, palette=pal16), "ok"
    yield "bmp_rle4_bw.bmp", bmp_file(w, h, 4, rle_encode(i4 & 1, True), comp=2,
                                      palette=[(0, 0, 0), (255, 255, 255)], clr_used=2), "unsupported"
    yield "bmp_rle8_gray_ramp.bmp", bmp_file(w, h, 8, rle_encode(i8, False), comp=1,
                                             palette=[(i, i, i) for i in range(256)]), "ok"
    yield "bmp_rle4_gray_ramp.bmp", bmp_file(w, h, 4, rle_encode(i4, True), comp=2,
                                             palette=[(i, i, i) for i in range(16)]), "ok"
    yield "bmp_rle8_noisy.bmp", bmp_file(w, h, 8, rle_encode(gray.astype(np.int32), False), comp=1,
                                         palette=pal256), "ok"
    yield "bmp_rle8_early_eob.bmp", bmp_file(w, h, 8, rle_encode(i8, False, early_eob=True), comp=1,
                                             palette=pal256), "format"
    rle = rle_encode(i8, False)
    yield "bad_truncated_rle8.bmp", bmp_file(w, h, 8, rle, comp=1, palette=pal256)[:-len(rle) // 2], "truncated"
    good_b = bmp_file(w, h, 24, bmp_rows(bgr, 24))
    yield "bad_truncated.bmp", good_b[: len(good_b) // 2], "truncated"
    yield "bad_header_only.bmp", good_b[:20], "truncated"
    yield "bad_huge.bmp", bmp_file(60000, 60000, 24, b""), "format"
    yield "bad_header_size.bmp", bmp_file(w, h, 24, bmp_rows(bgr, 24), header=56), "unsupported"
    yield "bad_bits.bmp", bmp_file(w, h, 7, b"\0" * 100), "unsupported"
    yield "bad_jpeg_bmp.bmp", bmp_file(w, h, 24, b"\0" * 100, comp=4), "unsupported"
    yield "bmp_natural.bmp", save_pil(Image.fromarray(natural_rgb(320, 240, 302)), format="BMP"), "ok"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    lines = []
    for name, data, expected in corpus():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}\t{expected}\n")
    with open(os.path.join(a.out, "manifest.tsv"), "w") as f:
        f.writelines(lines)
    print(f"{len(lines)} files in {a.out}")


if __name__ == "__main__":
    main()
