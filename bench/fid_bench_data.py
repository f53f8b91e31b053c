#!/usr/bin/python3
"""Synthetic inputs for bench/bench_fid.sh: full-rank d=2048 statistics (.npz, as pytorch-fid writes
them), NSETS more sets for the one-reference benchmark, and 100 + 100 feature rows (HDF5, copyscope
features layout) for the low-rank path."""
import os
import sys

import h5py
import numpy as np

out, nsets = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 32
os.makedirs(out, exist_ok=True)
d = 2048
rng = np.random.default_rng(2024)


def stats(seed):
    r = np.random.default_rng(seed)
    a = r.standard_normal((d, d)).astype(np.float64)
    # S = A A^T / d + 0.1 I: full rank, condition number ~ 40 (like a well-sampled Inception set)
    return r.standard_normal(d) * 0.1, a @ a.T / d + 0.1 * np.eye(d)


for name, seed in [("a", 1), ("b", 2)]:
    mu, sigma = stats(seed)
    np.savez(os.path.join(out, name + ".npz"), mu=mu, sigma=sigma)
for i in range(nsets):
    mu, sigma = stats(100 + i)
    np.savez(os.path.join(out, "set%02d.npz" % i), mu=mu, sigma=sigma)
for name in ["f100a", "f100b"]:
    x = np.abs(rng.standard_normal((100, d))).astype(np.float32)  # pool features are >= 0
    with h5py.File(os.path.join(out, name + ".h5"), "w") as f:
        f["features"] = x
        f["paths"] = np.array(["img%03d.png" % i for i in range(100)], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % i for i in range(100)], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"
        f.attrs["dims"] = np.int64(d)
        f.attrs["weights_sha256"] = "0" * 64
        f.attrs["preprocessing"] = "synthetic"

# The shape of an audit: NSETS coalition sets of 500 generated images each (features .h5, n < d),
# and the same sets as pytorch-fid statistics (.npz: mean and np.cov of the same rows).
for i in range(nsets):
    r = np.random.default_rng(500 + i)
    x = (np.abs(r.standard_normal((500, d))) + 0.05 * i * r.random(d)).astype(np.float32)
    with h5py.File(os.path.join(out, "aset%02d.h5" % i), "w") as f:
        f["features"] = x
        f["paths"] = np.array(["img%03d.png" % k for k in range(500)], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % k for k in range(500)], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"
        f.attrs["dims"] = np.int64(d)
        f.attrs["weights_sha256"] = "0" * 64
        f.attrs["preprocessing"] = "synthetic"
    x64 = x.astype(np.float64)
    np.savez(os.path.join(out, "aset%02d.npz" % i), mu=x64.mean(0), sigma=np.cov(x64, rowvar=False))
