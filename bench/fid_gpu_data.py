#!/usr/bin/python3
"""Data for the GPU FID/audit bench (tools/device-run.sh benchfid): in DIR,
  ref.npz         full-rank 2048-d reference statistics (from 4,096 rows)
  set00..31.h5    32 copyscope features files of 1,000 rows each (d = 2048)
  ref_audit.h5    a 1,000-row reference for the audit (its bootstrap resamples rows)
  manifest.json   a 5-player audit: the 32 coalitions are set00..set31
Rows are relu'd mixtures with per-set shifts (Inception-like: non-negative, correlated)."""
import json
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
if os.path.exists(os.path.join(out, "manifest.json")):
    sys.exit(0)
rng = np.random.default_rng(7)
d = 2048
mix = (rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)).astype(np.float32)


def rows(n, shift):
    return np.maximum(rng.standard_normal((n, d)).astype(np.float32) @ mix + shift, 0).astype(np.float32)


def write_features(path, x):
    with h5py.File(path, "w") as f:
        f["features"] = x
        f["paths"] = np.array(["img%05d.png" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"
        f.attrs["dims"] = np.int64(d)
        f.attrs["weights_sha256"] = "ab" * 32
        f.attrs["preprocessing"] = "bench"


ref = rows(4096, 0.0).astype(np.float64)
np.savez(os.path.join(out, "ref.npz"), mu=ref.mean(0), sigma=np.cov(ref, rowvar=False))
write_features(os.path.join(out, "ref_audit.h5"), rows(1000, 0.0))
players = ["P0", "P1", "P2", "P3", "P4"]
sets = []
for m in range(32):
    p = os.path.join(out, "set%02d.h5" % m)
    write_features(p, rows(1000, 0.02 * bin(m).count("1") + 0.01 * (m & 1)))
    sets.append({"coalition": [q for i, q in enumerate(players) if m >> i & 1], "path": p})
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump({"baseline": "Base", "players": players, "reference": os.path.join(out, "ref_audit.h5"),
               "sets": sets}, f)
