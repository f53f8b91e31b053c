#!/usr/bin/python3
"""The FID math on the GPU through the CLI (`copyscope fid/audit --device cuda`) against the CPU.

  gpu_cli.py CLI WORK

* `copyscope fid A.npz B.npz`, `fid REF.h5 S1.h5 S2.h5 S3.h5` (features: low-rank-ref and full
  sets) and the low-rank pair: FIDs from --device cuda equal --device cpu to 1e-9 relative (both
  are float64; the GPU uses cuSOLVER syevd / gesvd instead of LAPACK: rounding only).
* `copyscope audit` on features files with --bootstrap 64: every coalition's FID, every value and
  every bootstrap interval equal to 1e-9 relative (the same resampled indices are drawn on the
  host for both).
Exit 77 when the build or the machine has no CUDA GPU (ctest reports it as skipped).
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_ref import write_features  # noqa: E402

SKIP = 77
TOL = 1e-9


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(cli, args):
    r = subprocess.run([cli] + args, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s -> %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def save_npz(path, x):
    np.savez(path, mu=x.mean(0), sigma=np.cov(x, rowvar=False))


def main():
    cli, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(21)
    d = 256
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    rows = lambda n, shift: (np.abs(rng.standard_normal((n, d)) @ mix + shift)).astype(np.float32)  # noqa: E731
    a, b = rows(600, 0.0), rows(700, 0.2)
    save_npz(os.path.join(work, "a.npz"), a.astype(np.float64))
    save_npz(os.path.join(work, "b.npz"), b.astype(np.float64))
    probe = subprocess.run([cli, "fid", os.path.join(work, "a.npz"), os.path.join(work, "b.npz"), "--device", "cuda"],
                           capture_output=True, text=True)
    if probe.returncode == 2 and ("no CUDA GPU" in probe.stderr or "no CUDA" in probe.stderr):
        # tests/gpu_required.h: with COPYSCOPE_REQUIRE_GPU=1 a GPU test that cannot run fails
        if os.environ.get("COPYSCOPE_REQUIRE_GPU", "") not in ("", "0"):
            print("FAIL (COPYSCOPE_REQUIRE_GPU=1, so no skipping): cannot run: %s" % probe.stderr.strip())
            return 1
        print("SKIP: %s" % probe.stderr.strip())
        return SKIP
    worst = 0.0
    # 1. a pair of full-rank statistics
    out = {}
    for dev in ("cpu", "cuda"):
        out[dev] = json.loads(run(cli, ["fid", os.path.join(work, "a.npz"), os.path.join(work, "b.npz"), "--json",
                                        "--device", dev]))
    if not out["cuda"]["math_device"].startswith("cuda"):
        fail("the GPU run reports math_device %s" % out["cuda"]["math_device"])
    worst = max(worst, rel(out["cuda"]["fid"], out["cpu"]["fid"]))
    # 2. one reference, several feature sets: low-rank-ref (n < d) and full (n > d)
    write_features(os.path.join(work, "ref.h5"), a)
    sets = []
    for k, n in enumerate((40, 180, 900)):
        p = os.path.join(work, "s%d.h5" % k)
        write_features(p, rows(n, 0.1 * k))
        sets.append(p)
    many = {dev: json.loads(run(cli, ["fid", os.path.join(work, "ref.h5")] + sets + ["--json", "--device", dev]))
            for dev in ("cpu", "cuda")}
    worst = max(worst, rel([r["fid"] for r in many["cuda"]], [r["fid"] for r in many["cpu"]]))
    # 3. the low-rank pair (n1 + n2 <= d)
    write_features(os.path.join(work, "x1.h5"), rows(60, 0.0))
    write_features(os.path.join(work, "x2.h5"), rows(90, 0.3))
    lr = {dev: json.loads(run(cli, ["fid", os.path.join(work, "x1.h5"), os.path.join(work, "x2.h5"), "--json",
                                    "--device", dev])) for dev in ("cpu", "cuda")}
    worst = max(worst, rel(lr["cuda"]["fid"], lr["cpu"]["fid"]))
    if worst > TOL:
        fail("fid: GPU vs CPU relative difference %.3g > %.1g" % (worst, TOL))
    print("fid: GPU = CPU to %.2e relative (pair, 3 sets vs a reference, low-rank)" % worst)
    # 4. an audit with a bootstrap
    players = ["A", "B"]
    sets = []
    for m in range(4):
        p = os.path.join(work, "c%d.h5" % m)
        write_features(p, rows(120 + 10 * m, 0.15 * (m & 1) + 0.3 * (m >> 1)))
        sets.append({"coalition": [q for i, q in enumerate(players) if m >> i & 1], "path": p})
    man = os.path.join(work, "manifest.json")
    with open(man, "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": os.path.join(work, "ref.h5"), "sets": sets}, f)
    rep = {}
    for dev in ("cpu", "cuda"):
        rep[dev] = json.loads(run(cli, ["audit", man, "--json", "-q", "-B", "64", "-s", "3", "--device", dev,
                                        "-o", os.path.join(work, "rep-" + dev)]))
    if not rep["cuda"]["math_device"].startswith("cuda"):
        fail("audit: math_device %s" % rep["cuda"]["math_device"])
    fc = [c["fid"] for c in rep["cpu"]["coalitions"]]
    fg = [c["fid"] for c in rep["cuda"]["coalitions"]]
    w2 = rel(fg, fc)
    ci_c = [x for c in rep["cpu"]["coalitions"] for x in c["fid_ci95"] + [c["fid_std_error"]]]
    ci_g = [x for c in rep["cuda"]["coalitions"] for x in c["fid_ci95"] + [c["fid_std_error"]]]
    w3 = rel(ci_g, ci_c)
    vals = rel([rep["cuda"]["values"][p] for p in players], [rep["cpu"]["values"][p] for p in players])
    if max(w2, w3) > TOL or vals > 1e-7:
        fail("audit: GPU vs CPU FIDs %.3g, bootstrap intervals %.3g, values %.3g" % (w2, w3, vals))
    print("audit: FIDs %.2e, bootstrap intervals/std errors %.2e, values %.2e relative" % (w2, w3, vals))
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
