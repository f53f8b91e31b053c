#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (tests/fuzz): small valid files the readers accept.

    fuzz_seeds.py OUTDIR     writes OUTDIR/npz/*, OUTDIR/h5/*, OUTDIR/json/*, OUTDIR/safetensors/*,
                             OUTDIR/image_formats/*

Valid inputs let libFuzzer start from the accepting paths (zip members, .npy headers, HDF5
datasets and attributes, every JSON construct) instead of having to discover the formats."""
import io
import json
import os
import sys

import h5py
import numpy as np

OUT = os.path.abspath(sys.argv[1])
rng = np.random.default_rng(7)


def spd(d):
    x = rng.standard_normal((4 * d, d))
    return np.cov(x, rowvar=False).reshape(d, d)


def npz_seeds(out):
    for d in (1, 3):
        np.savez(os.path.join(out, f"stats{d}.npz"), mu=rng.standard_normal(d), sigma=spd(d))
    np.savez_compressed(os.path.join(out, "compressed.npz"), mu=rng.standard_normal(2), sigma=spd(2))
    np.savez(os.path.join(out, "f32-fortran.npz"), mu=rng.standard_normal(2).astype(np.float32),
             sigma=np.asfortranarray(spd(2).astype(">f8")))
    buf = io.BytesIO()  # a bare .npy (the target also feeds every input to the .npy parser)
    np.save(buf, spd(2))
    with open(os.path.join(out, "bare.npy"), "wb") as f:
        f.write(buf.getvalue())


def h5_seeds(out):
    d = 3
    x = rng.standard_normal((8, d))
    with h5py.File(os.path.join(out, "stats.h5"), "w", libver="latest") as f:
        f["n"] = np.int64(8)
        f["mean"] = x.mean(0)
        f["comoment"] = np.cov(x, rowvar=False) * 7
        f.attrs["kind"] = "stats"
        f.attrs["dims"] = np.int64(d)
    with h5py.File(os.path.join(out, "cov.h5"), "w", libver="latest") as f:
        f["mean"] = x.mean(0)
        f["covariance"] = np.cov(x, rowvar=False)
        f.attrs["kind"] = "stats"
    for tag, kw in (("plain", {}), ("chunked", {"chunks": (2, d), "compression": "gzip", "shuffle": True})):
        with h5py.File(os.path.join(out, f"features-{tag}.h5"), "w", libver="latest") as f:
            f.create_dataset("features", data=x.astype(np.float32), **kw)
            f["paths"] = np.array([f"img{i}.png".encode() for i in range(8)], dtype=h5py.string_dtype())
            f["sha256"] = np.array([(b"%064x" % i) for i in range(8)], dtype=h5py.string_dtype())
            f.attrs["kind"] = "features"
            f.attrs["dims"] = np.int64(d)
            f.attrs["weights_sha256"] = "0" * 64
            f.attrs["preprocessing"] = "pytorch-fid"


def json_seeds(out):
    manifest = {"name": "audit", "reference": "ref.npz", "baseline": "Base", "players": ["A", "B"],
                "sets": [{"coalition": [], "path": "s0"}, {"coalition": ["A"], "path": "s1"},
                         {"coalition": ["B"], "path": "s2"}, {"coalition": ["A", "B"], "path": "s3"}],
                "options": {"seed": 1, "protocol": "clean"}}
    texts = {
        "manifest.json": json.dumps(manifest, indent=2),
        "unicode.json": json.dumps({"name": "caf\u00e9 \u20ac \U0001F600", "players": ["\u00c5"]}, ensure_ascii=False),
        "escapes.json": json.dumps({"s": "\"\\/\b\f\n\r\t\u00e9\U0001F600"}, ensure_ascii=True),
        "nested.json": "[[[[{}]]], [1, -2.5e-3, 0, true, false, null], {\"a\": {\"b\": [\"c\"]}}]",
        "numbers.json": "[0, -0, 1.5, 1e10, -1E-10, 123456789012345678901234567890]",
    }
    for name, text in texts.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(text)


def image_seeds(out):
    """Small valid WebP/TIFF/BMP variants (every decoder path), a PNG and a JPEG."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import make_format_images as mfi
    from PIL import Image

    n = 0
    for name, data, expected in mfi.corpus():
        if expected == "ok" and len(data) <= 6000:
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            n += 1
    im = Image.fromarray(mfi.structured_rgb(9, 7, 1))
    im.save(os.path.join(out, "rgb.png"))
    im.save(os.path.join(out, "rgb.jpg"), quality=80)
    if n < 50:
        raise SystemExit(f"only {n} image seeds")



def safetensors_seeds(out):
    """Small valid files (F32, F16, BF16, I64, 0-d and empty tensors, metadata) and near misses."""
    import struct

    def st(tensors, meta=None, pad=True):
        header, blobs, off = {}, [], 0
        if meta is not None:
            header["__metadata__"] = meta
        for name, (dt, shape, data) in tensors.items():
            header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
            blobs.append(data)
            off += len(data)
        h = json.dumps(header, separators=(",", ":")).encode()
        if pad:
            h += b" " * (-len(h) % 8)
        return struct.pack("<Q", len(h)) + h + b"".join(blobs)

    f32 = np.arange(6, dtype=np.float32).tobytes()
    seeds = {
        "basic.safetensors": st({"a.weight": ("F32", [2, 3], f32), "pos_ids": ("I64", [1, 2], np.arange(2).tobytes())},
                                {"format": "pt"}),
        "half.safetensors": st({"h": ("F16", [4], np.ones(4, np.float16).tobytes()),
                                "b": ("BF16", [2, 2], np.ones(4, np.int16).tobytes())}),
        "scalar_empty.safetensors": st({"logit_scale": ("F32", [], np.float32(4.6).tobytes()),
                                        "empty": ("F32", [0, 5], b"")}),
        "unpadded.safetensors": st({"x": ("F32", [1], np.float32(1).tobytes())}, pad=False),
        "gap.safetensors": st({"x": ("F32", [1], np.float32(1).tobytes())}) + b"\0\0\0\0",
        "dtype.safetensors": st({"x": ("F64", [1], np.float64(1).tobytes())}),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


for sub, fn in (("npz", npz_seeds), ("h5", h5_seeds), ("json", json_seeds), ("safetensors", safetensors_seeds),
                ("image_formats", image_seeds)):
    os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    fn(os.path.join(OUT, sub))
print(f"seeds written to {OUT}")
