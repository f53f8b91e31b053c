#!/usr/bin/python3
"""Helpers for bench/bench_audit.sh.

  bench_audit.py data WORK [PLAYERS] [N] [D]
      random features .h5 files (no network needed): a reference of N rows and one set of N rows per
      coalition of PLAYERS players (2^PLAYERS sets), d = D, plus WORK/manifest.json.
  bench_audit.py pyboot WORK REPLICATES [SETS]
      the Python way: for each bootstrap replicate, resample the reference and every set with
      replacement (numpy), compute every FID with pytorch-fid's calculate_frechet_distance
      (scipy sqrtm of a d x d product) and the exact Shapley values; prints seconds per replicate.
      With SETS < number of sets, only the first SETS FIDs of each replicate are timed (a scipy
      sqrtm of a 2048 x 2048 product takes ~30 s on 2 cores) and the replicate time is
      extrapolated linearly (each FID is an independent sqrtm of the same size).
"""
import itertools
import json
import math
import os
import sys
import time

import numpy as np


def write_features(path, x):
    import h5py
    with h5py.File(path, "w") as f:
        f["features"] = x.astype(np.float32)
        f["paths"] = np.array(["img%05d.png" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"
        f.attrs["dims"] = np.int64(x.shape[1])
        f.attrs["weights_sha256"] = "00" * 32
        f.attrs["preprocessing"] = "bench"


def mode_data(work, n_players=5, n=200, d=2048):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    players = ["P%d" % i for i in range(n_players)]
    # Inception pool3 features are non-negative with a long tail: |gaussian| with a shift per player
    base = rng.standard_normal(d) * 0.3
    write_features(os.path.join(work, "ref.h5"), np.abs(rng.standard_normal((n, d)) + base + 0.5))
    sets = []
    for mask in range(1 << n_players):
        coal = [p for i, p in enumerate(players) if mask >> i & 1]
        shift = sum(0.1 * (n_players - i) for i in range(n_players) if mask >> i & 1)
        x = np.abs(rng.standard_normal((n, d)) + base * (1 + shift) + shift)
        name = "set%02d.h5" % mask
        write_features(os.path.join(work, name), x)
        sets.append({"coalition": coal, "path": name})
    with open(os.path.join(work, "manifest.json"), "w") as f:
        json.dump({"name": "bench", "reference": "ref.h5", "baseline": "Base", "players": players,
                   "sets": sets}, f, indent=1)


def mode_pyboot(work, reps, max_sets=None):
    import h5py
    from pytorch_fid.fid_score import calculate_frechet_distance
    man = json.load(open(os.path.join(work, "manifest.json")))
    players = man["players"]
    n = len(players)
    load = lambda p: h5py.File(os.path.join(work, p), "r")["features"][()].astype(np.float64)  # noqa: E731
    ref = load(man["reference"])
    sets = {sum(1 << players.index(p) for p in s["coalition"]): load(s["path"]) for s in man["sets"]}
    rng = np.random.default_rng(0)
    if max_sets is not None and max_sets < len(sets):
        t0 = time.perf_counter()
        for _ in range(reps):
            r = ref[rng.integers(0, len(ref), len(ref))]
            mu1, s1 = r.mean(0), np.cov(r, rowvar=False)
            for m in list(sets)[:max_sets]:
                x = sets[m]
                y = x[rng.integers(0, len(x), len(x))]
                f = calculate_frechet_distance(mu1, s1, y.mean(0), np.cov(y, rowvar=False))
                print("FID %.4f" % f, flush=True)
        dt = (time.perf_counter() - t0) / (reps * max_sets)
        print("seconds_per_fid %.3f" % dt)
        print("seconds_per_replicate %.3f" % (dt * len(sets)))
        return
    t0 = time.perf_counter()
    for _ in range(reps):
        r = ref[rng.integers(0, len(ref), len(ref))]
        mu1, s1 = r.mean(0), np.cov(r, rowvar=False)
        fid = {}
        for m, x in sets.items():
            y = x[rng.integers(0, len(x), len(x))]
            fid[m] = calculate_frechet_distance(mu1, s1, y.mean(0), np.cov(y, rowvar=False))
        v = {m: fid[0] - fid[m] for m in fid}
        phi = [sum(math.factorial(bin(s).count("1")) * math.factorial(n - bin(s).count("1") - 1) /
                   math.factorial(n) * (v[s | 1 << i] - v[s]) for s in range(1 << n) if not s >> i & 1)
               for i in range(n)]
        print("replicate values", ["%.3f" % p for p in phi], flush=True)
    dt = time.perf_counter() - t0
    print("seconds_per_replicate %.3f" % (dt / reps))


if __name__ == "__main__":
    if sys.argv[1] == "data":
        mode_data(sys.argv[2], *[int(a) for a in sys.argv[3:]])
    else:
        mode_pyboot(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
