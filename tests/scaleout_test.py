#!/usr/bin/python3
"""Scale-out tests: sharded features/stats/audits (`--shard I/N`), merged results vs unsharded runs,
and a real single-node Slurm (`copyscope slurm submit/status`).

    scaleout_test.py shard CLI WORKDIR WEIGHTS
    scaleout_test.py slurm CLI WORKDIR WEIGHTS

Tolerance: 1e-12 relative. Statistics merged with Chan's pairwise update differ from a one-pass
accumulation only by float64 rounding (~1e-15 relative for these sizes); features are the same
float32 rows (--batch 1 and no cache everywhere: every image is computed alone, so the rows do not
depend on which other images share its batch; across batch sizes the CPU backend's GEMM blocking
changes rows by ~6e-8, float32 rounding), and audit
values/FIDs computed from identical rows are identical up to summation order. 1e-12 catches any
lost, duplicated or reordered row (those change the mean at ~1e-2 relative).
Exit 77 = skipped (slurm mode: not root, or the Slurm binaries are absent).
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

REL = 1e-12


def run(args, expect=0, env=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if p.returncode != expect:
        sys.exit(f"FAIL: {' '.join(map(str, args))}: exit {p.returncode} (expected {expect})\n"
                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def close(a, b, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        sys.exit(f"FAIL: {what}: shape {a.shape} vs {b.shape}")
    scale = max(np.abs(b).max(initial=0.0), 1e-300)
    err = np.abs(a - b).max(initial=0.0) / scale
    if not err <= REL:
        sys.exit(f"FAIL: {what}: relative difference {err:.3e} > {REL}")
    return err


def read_stats(path):
    with h5py.File(path, "r") as h:
        n = int(h["n"][()])
        mean = h["mean"][()]
        cov = h["comoment"][()] / (n - 1)
    return n, mean, cov


def make_audit(work, per_set=6, ref=6, name="audit"):
    root = os.path.join(work, name)
    if not os.path.exists(os.path.join(root, "manifest.json")):
        here = os.path.dirname(os.path.abspath(__file__))
        run(["/usr/bin/python3", os.path.join(here, "..", "tools", "make_synthetic_audit.py"),
             "--out", root, "--per-set", per_set, "--reference", ref, "--size", 64])
    return root


def report_numbers(d):
    with open(os.path.join(d, "report.json")) as f:
        r = json.load(f)
    # the FIDs and every estimator's values, by walking the JSON for numbers under those keys
    out = {}

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("seconds", "timing", "timings", "from_cache", "computed", "version",
                         "copyscope_version", "created", "date"):
                    continue
                walk(v, path + "/" + k)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out[path] = float(x)
    walk(r, "")
    return out


def compare_reports(a, b, what):
    ra, rb = report_numbers(a), report_numbers(b)
    if set(ra) != set(rb):
        sys.exit(f"FAIL: {what}: report keys differ: {sorted(set(ra) ^ set(rb))[:10]}")
    fids = [k for k in ra if k.endswith("/fid")]
    if not fids:
        sys.exit(f"FAIL: {what}: no FIDs in report.json")
    worst = 0.0
    for k in ra:
        scale = max(abs(rb[k]), 1e-9)  # values near 0 (the null player): absolute 1e-21
        err = abs(ra[k] - rb[k]) / scale
        if not err <= REL:
            sys.exit(f"FAIL: {what}: {k}: {ra[k]!r} vs {rb[k]!r} (relative {err:.3e})")
        worst = max(worst, err)
    return len(fids), len(ra), worst


def test_shard(cli, work, weights):
    root = make_audit(work)
    inputs = [os.path.join(root, "reference"), os.path.join(root, "generated", "Base")]
    common = ["--dims", 64, "--weights", weights, "--no-cache", "--batch", 1]
    full_f = os.path.join(work, "full-features.h5")
    full_s = os.path.join(work, "full-stats.h5")
    run([cli, "features", *inputs, *common, "-q", "-o", full_f])
    run([cli, "stats", *inputs, *common, "--quiet", "-o", full_s])
    with h5py.File(full_f, "r") as h:
        X = h["features"][()]
        paths = [p.decode() if isinstance(p, bytes) else p for p in h["paths"][()]]
    nfiles = len(paths)
    assert nfiles == 12, nfiles
    n0, mean0, cov0 = read_stats(full_s)
    # the unsharded statistics themselves vs numpy on the rows (float64)
    close(mean0, X.astype(np.float64).mean(0), "unsharded mean vs numpy")
    close(cov0, np.cov(X.astype(np.float64), rowvar=False), "unsharded covariance vs numpy")
    for N in (1, 2, 3, 5, nfiles + 5):
        fparts, sparts = [], []
        for i in range(N):
            fp = os.path.join(work, f"f-{i}-of-{N}.h5")
            sp = os.path.join(work, f"s-{i}-of-{N}.h5")
            run([cli, "features", *inputs, *common, "-q", "--shard", f"{i}/{N}", "-o", fp])
            run([cli, "stats", *inputs, *common, "--quiet", "--shard", f"{i}/{N}", "-o", sp])
            fparts.append(fp)
            sparts.append(sp)
        rows, ppaths, sizes = [], [], []
        for fp in fparts:
            with h5py.File(fp, "r") as h:
                rows.append(h["features"][()])
                ppaths += [p.decode() if isinstance(p, bytes) else p for p in h["paths"][()]]
                sizes.append(h["features"].shape[0])
        # contiguous blocks floor(i n / N) .. floor((i + 1) n / N)
        want = [(i + 1) * nfiles // N - i * nfiles // N for i in range(N)]
        if sizes != want:
            sys.exit(f"FAIL: N={N}: shard sizes {sizes}, expected {want}")
        if ppaths != paths:
            sys.exit(f"FAIL: N={N}: concatenated shard paths differ from the unsharded order")
        close(np.concatenate(rows), X, f"N={N}: concatenated feature rows")
        merged = os.path.join(work, f"merged-{N}.h5")
        run([cli, "merge", *sparts, "-o", merged])
        n, mean, cov = read_stats(merged)
        if n != n0:
            sys.exit(f"FAIL: N={N}: merged n {n} vs {n0}")
        e1 = close(mean, mean0, f"N={N}: merged mean")
        e2 = close(cov, cov0, f"N={N}: merged covariance")
        # features parts merge too (empty ones included)
        mergedf = os.path.join(work, f"mergedf-{N}.h5")
        run([cli, "merge", *fparts, "-o", mergedf])
        _, meanf, covf = read_stats(mergedf)
        close(meanf, mean0, f"N={N}: merged features-part mean")
        close(covf, cov0, f"N={N}: merged features-part covariance")
        print(f"shard N={N}: sizes {sizes}, mean rel {e1:.1e}, cov rel {e2:.1e}")
    # an empty shard writes n = 0 statistics / 0 rows
    # (shard 0 of 17 over 12 files is [0, 0): empty)
    with h5py.File(os.path.join(work, f"s-0-of-{nfiles + 5}.h5"), "r") as h:
        n_e = int(h["n"][()])
    with h5py.File(os.path.join(work, f"f-0-of-{nfiles + 5}.h5"), "r") as h:
        if n_e != 0 or h["features"].shape != (0, 64):
            sys.exit("FAIL: empty shard files")
    # bad specs and --shard auto outside an array: exit 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    for bad in ("3/3", "-1/2", "1/0", "x", "1/2/3", "auto/0"):
        run([cli, "features", *inputs, *common, "--shard", bad, "-o", os.path.join(work, "bad.h5")], expect=2, env=env)
    p = run([cli, "stats", *inputs, *common, "--shard", "auto", "-o", os.path.join(work, "bad.h5")], expect=2, env=env)
    if "SLURM_ARRAY_TASK_ID" not in p.stderr:
        sys.exit(f"FAIL: --shard auto outside an array: unclear message: {p.stderr}")
    run([cli, "stats", full_s, "--shard", "0/2", "-o", os.path.join(work, "bad.h5")], expect=2)
    # auto inside a (simulated) array: I = ID - MIN, N = COUNT
    aenv = dict(env, SLURM_ARRAY_TASK_ID="7", SLURM_ARRAY_TASK_MIN="5", SLURM_ARRAY_TASK_COUNT="3")
    ap = os.path.join(work, "auto.h5")
    run([cli, "features", *inputs, *common, "-q", "--shard", "auto", "-o", ap], env=aenv)
    with h5py.File(ap, "r") as h:
        close(h["features"][()], X[8:12], "--shard auto (task 7 of 5..7 = shard 2/3)")

    # audits: --shard I/N --partials DIR, then --from-partials DIR, vs the unsharded audit
    # a small audit (16 sets of 2 images + 3 reference = 35 images) keeps 40 shards cheap
    manifest = os.path.join(make_audit(work, 2, 3, "audit-small"), "manifest.json")
    acommon = ["--dims", 64, "--weights", weights, "--no-cache", "--batch", 1, "-q"]
    full_r = os.path.join(work, "report-full")
    run([cli, "audit", manifest, *acommon, "-o", full_r])
    for N in (1, 3, 7, 40):  # 35 images: 40 shards leaves 5 empty
        parts = os.path.join(work, f"partials-{N}")
        shutil.rmtree(parts, ignore_errors=True)
        for i in range(N):
            run([cli, "audit", manifest, *acommon, "--shard", f"{i}/{N}", "--partials", parts])
        rep = os.path.join(work, f"report-{N}")
        # no --weights: nothing is extracted
        run([cli, "audit", manifest, "-q", "--from-partials", parts, "-o", rep])
        nf, nv, worst = compare_reports(rep, full_r, f"audit N={N}")
        print(f"audit N={N}: {nf} FIDs, {nv} numbers equal to the unsharded run (worst rel {worst:.1e})")
    # a missing part is named; a part of another split is refused
    parts = os.path.join(work, "partials-3")
    os.rename(os.path.join(parts, "part-1-of-3.h5"), os.path.join(work, "held.h5"))
    p = run([cli, "audit", manifest, "-q", "--from-partials", parts, "-o", os.path.join(work, "r")], expect=2)
    if "part-1-of-3.h5" not in p.stderr:
        sys.exit(f"FAIL: missing part not named: {p.stderr}")
    os.rename(os.path.join(work, "held.h5"), os.path.join(parts, "part-1-of-3.h5"))
    shutil.copy(os.path.join(work, "partials-7", "part-0-of-7.h5"), parts)
    p = run([cli, "audit", manifest, "-q", "--from-partials", parts, "-o", os.path.join(work, "r")], expect=2)
    if "different splits" not in p.stderr:
        sys.exit(f"FAIL: mixed splits not refused: {p.stderr}")
    os.remove(os.path.join(parts, "part-0-of-7.h5"))
    # a part of another manifest (rows of other images) is refused
    shutil.copy(os.path.join(work, "f-0-of-3.h5"), os.path.join(parts, "part-0-of-3.h5"))
    run([cli, "audit", manifest, "-q", "--from-partials", parts, "-o", os.path.join(work, "r")], expect=2)
    run([cli, "audit", manifest, "--shard", "0/2"], expect=2)  # --shard without --partials

    # copyscope slurm without a cluster: --dry-run writes the scripts and prints the sbatch calls
    job = os.path.join(work, "dry")
    shutil.rmtree(job, ignore_errors=True)
    p = run([cli, "slurm", "submit", manifest, "--shards", 3, "--out", job, "--dims", 64, "--partition", "gpu",
             "--gpus-per-task", 1, "--time", "1:00:00", "--dry-run", "-a", "--bootstrap", "-a", "10", "--",
             "--account=x y"])
    lines = p.stdout.strip().splitlines()
    if len(lines) != 2 or "--array=0-2" not in lines[0] or "--account=x y" not in lines[0] \
            or "--dependency=afterok:" not in lines[1]:
        sys.exit(f"FAIL: slurm --dry-run output: {p.stdout}")
    with open(os.path.join(job, "shards.sbatch")) as f:
        sh = f.read()
    for want in ("--shard auto/3", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1", "#SBATCH --time=1:00:00",
                 "'--bootstrap' '10'", "logs/shard-%a.out", os.path.abspath(manifest)):
        if want not in sh:
            sys.exit(f"FAIL: shards.sbatch lacks {want!r}:\n{sh}")
    with open(os.path.join(job, "merge.sbatch")) as f:
        if "--from-partials" not in f.read():
            sys.exit("FAIL: merge.sbatch does not merge")
    subprocess.run(["bash", "-n", os.path.join(job, "shards.sbatch")], check=True)
    # with parts 0 and 2 present only shard 1 is submitted; parts of another split are refused
    for i in (0, 2):
        shutil.copy(os.path.join(work, "partials-3", f"part-{i}-of-3.h5"), os.path.join(job, "partials"))
    p = run([cli, "slurm", "submit", manifest, "--shards", 3, "--out", job, "--dry-run"])
    if "--array=1 " not in p.stdout:
        sys.exit(f"FAIL: resume --dry-run: {p.stdout}")
    run([cli, "slurm", "submit", manifest, "--shards", 4, "--out", job, "--dry-run"], expect=2)
    run([cli, "slurm", "submit", manifest, "--out", job], expect=2)         # no --shards
    run([cli, "slurm", "submit", "--shards", 2, "--out", job], expect=2)    # no manifest
    run([cli, "slurm", "status", os.path.join(work, "nonexistent")], expect=2)
    run([cli, "slurm", "frobnicate"], expect=2)
    run([cli, "slurm", "--help"])
    print("shard: OK")


if __name__ == "__main__":
    mode, cli, work, weights = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    if mode == "shard":
        test_shard(cli, work, weights)
    elif mode == "slurm":
        import scaleout_slurm  # noqa: E402 (tests/scaleout_slurm.py)
        sys.exit(scaleout_slurm.main(cli, work, weights, make_audit, compare_reports, run))
    else:
        sys.exit(f"unknown mode {mode}")
