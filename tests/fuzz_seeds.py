#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (tests/fuzz): small valid files the readers accept.

    fuzz_seeds.py OUTDIR     writes OUTDIR/npz/*, OUTDIR/h5/*, OUTDIR/json/*

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


for sub, fn in (("npz", npz_seeds), ("h5", h5_seeds), ("json", json_seeds)):
    os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    fn(os.path.join(OUT, sub))
print(f"seeds written to {OUT}")
