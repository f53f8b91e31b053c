#!/usr/bin/python3
"""How far google-research's float32 CMMD is from the float64 value copyscope computes (docs/metrics.md).

    bench/cmmd_float32.py [--n 1000 3000] [--d 768] [--shift 0.05 0.3] [--cli BUILD/copyscope]

Random CLIP-like feature sets (tests/cmmd_ref.py's `features`: a shared direction plus noise, the second
set shifted), L2-normalised as CMMD's embedding is; cmmd/distance.py's `mmd` evaluated by numpy in float32
(JAX's default dtype) and in float64. With --cli the float64 value is also computed by `copyscope cmmd`
on the same rows written as features files. numpy's float32 reductions are not XLA's: the numbers show the
size of float32's error, not its exact value in JAX.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from audit_ref import write_features  # noqa: E402
from cmmd_ref import cmmd_ref, features  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--shift", type=float, nargs="+", default=[0.05, 0.3])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    print("%6s %6s %14s %14s %10s %9s%s" % ("n", "shift", "float64", "float32", "|diff|", "relative",
                                          "  copyscope - float64" if a.cli else ""))
    for n in a.n:
        for shift in a.shift:
            x, y = features(rng, n, a.d, 0.0), features(rng, n, a.d, shift)
            v64, v32 = float(cmmd_ref(x, y)[0]), float(cmmd_ref(x, y, True, np.float32)[0])
            extra = ""
            if a.cli:
                with tempfile.TemporaryDirectory() as t:
                    write_features(os.path.join(t, "x.h5"), x)
                    write_features(os.path.join(t, "y.h5"), y)
                    r = subprocess.run([a.cli, "cmmd", os.path.join(t, "x.h5"), os.path.join(t, "y.h5"), "--json"],
                                       capture_output=True, text=True, check=True)
                    extra = "  %.1e" % (json.loads(r.stdout)["cmmd"] - v64)
            print("%6d %6.2f %14.9f %14.9f %10.2e %9.2e%s" % (n, shift, v64, v32, abs(v64 - v32),
                                                             abs(v64 - v32) / abs(v64), extra))


if __name__ == "__main__":
    main()
