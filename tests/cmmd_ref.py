#!/usr/bin/python3
"""CMMD (`copyscope cmmd`, `--utility cmmd`) against a numpy reimplementation of google-research's code.

  cmmd_ref.py cli CLI WORK            random features files, several (n1, n2, d) with n1 != n2, sets that
                                      span several 256-row tiles: `copyscope cmmd A B --json` (normalised
                                      rows, and --no-normalize) vs mmd() below; --threads 1 vs 2 give the
                                      same bits; the float32 evaluation of the same code is measured (what
                                      docs/metrics.md reports); bad inputs.
  cmmd_ref.py audit CLI WORK          `copyscope audit --utility cmmd` on features files (2 players, unequal
                                      set sizes): scores, utilities, exact Shapley values (textbook formula)
                                      and every bootstrap replicate (the resampled rows' mmd(), same streams
                                      as tests/audit_ref.py) vs numpy; neg-cmmd; --cmmd-no-normalize; -j 1
                                      and -j 2 give identical reports; a `cmmd` column in `copyscope shapley`.
  cmmd_ref.py images CLI WORK WEIGHTS image directories through the network (generated test weights):
                                      `copyscope cmmd DIR_A DIR_B` equals `copyscope cmmd` on the features
                                      files `copyscope features` writes for them, and mmd() on those rows;
                                      `copyscope metrics -m cmmd` gives the same value.

mmd() follows cmmd/distance.py (google-research/google-research) line by line, numpy in place of
jax.numpy; embed_normalize() is the L2 normalisation its embedding model applies (cmmd/embedding.py uses
scenic's CLIP, whose encode_image returns x / |x|).

Tolerances. Both sides compute in float64 from the same float32 rows; they differ only in summation
order (copyscope: 256 x 256 tiles, row sums, tiles in order; numpy: pairwise sums) and in the dot products'
order (dgemm kernels). Each kernel mean is a sum of up to 10^6 terms of size <= 1 divided by their count,
so its float64 error is below ~3e-14; CMMD = 1000 x (a sum of three means), hence |diff| <= 1e-10 absolute
(TOL_CMMD), 100x the measured worst (printed; <= 7e-13). Bootstrap replicates
use a kernel matrix instead of tiles: same bound. Shapley values and utilities are sums of +-4 scores (4x).
Exit 77 = skipped.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_ref import Stream, shapley_exact, write_features  # noqa: E402

SKIP = 77
TOL_CMMD = 1e-10

# ---- the reference: google-research cmmd/distance.py, line by line ---------------------------------
_SIGMA = 10
_SCALE = 1000


def mmd(x, y, dtype=np.float64):
    """cmmd/distance.py `mmd(x, y)`: jnp -> np; dtype float32 reproduces JAX's default precision."""
    x = np.asarray(x, dtype)
    y = np.asarray(y, dtype)

    # jnp.matmul(x, x.T) etc. are not cached to avoid OOM when x has many rows.
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))

    gamma = 1 / (2 * _SIGMA**2)
    k_xx = np.mean(
        np.exp(
            -gamma
            * (
                -2 * np.matmul(x, x.T)
                + np.expand_dims(x_sqnorms, 1)
                + np.expand_dims(x_sqnorms, 0)
            )
        )
    )
    k_xy = np.mean(
        np.exp(
            -gamma
            * (
                -2 * np.matmul(x, y.T)
                + np.expand_dims(x_sqnorms, 1)
                + np.expand_dims(y_sqnorms, 0)
            )
        )
    )
    k_yy = np.mean(
        np.exp(
            -gamma
            * (
                -2 * np.matmul(y, y.T)
                + np.expand_dims(y_sqnorms, 1)
                + np.expand_dims(y_sqnorms, 0)
            )
        )
    )

    return _SCALE * (k_xx + k_yy - 2 * k_xy), (k_xx, k_yy, k_xy)


def embed_normalize(x, dtype=np.float64):
    """scenic CLIP encode_image(normalize=True): x /= jnp.linalg.norm(x, axis=-1, keepdims=True)."""
    x = np.asarray(x, dtype)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cmmd_ref(x, y, normalize=True, dtype=np.float64):
    if normalize:
        x, y = embed_normalize(x, dtype), embed_normalize(y, dtype)
    return mmd(x, y, dtype)


# ---- helpers -------------------------------------------------------------------------------------
def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def close(got, want, tol, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not np.all(np.isfinite(got)) or err > tol:
        fail("%s: max |difference| %.3g > %.3g\n  copyscope %s\n  reference %s" % (what, err, tol, got, want))
    return err


def features(rng, n, d, shift, spread=1.0):
    """CLIP-like rows: a shared direction plus noise, shifted per set (float32, as features files hold)."""
    base = np.linspace(-1, 1, d)
    return (base + shift * np.cos(np.arange(d) * (1 + shift)) + spread * rng.normal(0, 1, (n, d))).astype(np.float32)


def cli_cmmd(cli, a, b, extra=()):
    r = run([cli, "cmmd", a, b, "--json"] + list(extra))
    if r.returncode != 0:
        fail("cmmd %s %s %s -> %d\n%s" % (a, b, " ".join(extra), r.returncode, r.stderr))
    return json.loads(r.stdout), r.stdout


# ---- cli -----------------------------------------------------------------------------------------
def mode_cli(cli, work):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(19)
    worst, worst32 = 0.0, 0.0
    # (n1, n2, d, shift): n1 != n2, a 1-row set, sets spanning 2-3 tiles of 256 rows, CLIP's 768 dims
    cases = [(1, 5, 7, 0.3), (37, 53, 16, 0.2), (300, 257, 64, 0.05), (513, 260, 768, 0.1), (90, 90, 32, 0.0)]
    for ci, (n1, n2, d, shift) in enumerate(cases):
        x, y = features(rng, n1, d, 0.0), features(rng, n2, d, shift)
        pa, pb = os.path.join(work, "a%d.h5" % ci), os.path.join(work, "b%d.h5" % ci)
        write_features(pa, x)
        write_features(pb, y)
        for normalize in (True, False):
            extra = [] if normalize else ["--no-normalize"]
            js, out1 = cli_cmmd(cli, pa, pb, extra + ["--threads", "1"])
            _, out2 = cli_cmmd(cli, pa, pb, extra + ["--threads", "2"])
            if out1 != out2:
                fail("case %d: --threads 1 and 2 differ:\n%s%s" % (ci, out1, out2))
            want, ks = cmmd_ref(x, y, normalize)
            what = "case %d (n1 %d, n2 %d, d %d, %s)" % (ci, n1, n2, d, "normalised" if normalize else "raw")
            worst = max(worst, close(js["cmmd"], want, TOL_CMMD, what))
            close([js["k_xx"], js["k_yy"], js["k_xy"]], ks, TOL_CMMD / _SCALE, what + " kernel means")
            if js["n1"] != n1 or js["n2"] != n2 or js["dims"] != d or js["normalized"] != normalize \
                    or js["sigma"] != 10 or js["scale"] != 1000:
                fail("%s: JSON fields %s" % (what, js))
            if normalize:  # what google-research's float32 code would print, for docs/metrics.md
                w32, _ = cmmd_ref(x, y, True, np.float32)
                worst32 = max(worst32, abs(float(w32) - want))
            print("%s: CMMD %.9f, |copyscope - numpy float64| %.1e" % (what, js["cmmd"], abs(js["cmmd"] - want)))
    # the text output and identical sets
    r = run([cli, "cmmd", os.path.join(work, "a2.h5"), os.path.join(work, "a2.h5")])
    if r.returncode != 0 or not r.stdout.startswith("CMMD:  ") or abs(float(r.stdout.split()[1])) > TOL_CMMD:
        fail("identical sets: %r %r" % (r.stdout, r.stderr))
    # bad inputs: exit 2 (usage, statistics file, dims), 1 (a zero row cannot be normalised), one line each
    from audit_ref import write_features as wf
    wf(os.path.join(work, "d5.h5"), rng.random((4, 5)))
    z = rng.random((4, 7)).astype(np.float32)
    z[2] = 0
    wf(os.path.join(work, "zero.h5"), z)
    np.savez(os.path.join(work, "stats.npz"), mu=np.zeros(7), sigma=np.eye(7))
    bad = [([os.path.join(work, "a0.h5")], 2, "two inputs"),
           ([os.path.join(work, "a0.h5"), os.path.join(work, "stats.npz")], 2, "statistics file"),
           ([os.path.join(work, "a0.h5"), os.path.join(work, "d5.h5")], 2, "dimensional"),
           ([os.path.join(work, "a0.h5"), os.path.join(work, "missing.h5")], 2, "missing.h5"),
           ([os.path.join(work, "a0.h5"), os.path.join(work, "zero.h5")], 1, "normalised")]
    for args, rc, needle in bad:
        r = run([cli, "cmmd"] + args)
        if r.returncode != rc or needle not in r.stderr or len(r.stderr.strip().splitlines()) != 1:
            fail("cmmd %s: rc %d (want %d), stderr %r" % (args, r.returncode, rc, r.stderr))
    r = run([cli, "cmmd", os.path.join(work, "a0.h5"), os.path.join(work, "zero.h5"), "--no-normalize"])
    if r.returncode != 0:
        fail("--no-normalize accepts a zero row: %r" % r.stderr)
    if worst32 > 1e-2:
        fail("float32 evaluation differs by %.3g (docs/metrics.md says < 1e-2)" % worst32)
    print("cli: %d cases x 2 normalisations equal numpy float64 (worst |diff| %.1e, tol %.0e); threads 1 = 2 "
          "bit for bit; google-research's float32 arithmetic differs from float64 by up to %.1e here"
          % (len(cases), worst, TOL_CMMD, worst32))
    return 0


# ---- audit ---------------------------------------------------------------------------------------
def audit(cli, manifest, args, expect_rc=0):
    r = run([cli, "audit", manifest, "--json", "-q", "--interval", "percentile"] + args)
    if r.returncode != expect_rc:
        fail("audit %s -> %d (want %d)\n%s%s" % (" ".join(args), r.returncode, expect_rc, r.stdout, r.stderr))
    return (json.loads(r.stdout), r.stdout) if expect_rc == 0 else r


def boot_draws(seed, r, n_ref, sizes, k):
    """Replicate r's draws for set k: the reference resample, then set k's (skipping sets 0..k-1)."""
    st = Stream(seed, r)
    iref = st.resample(n_ref, n_ref)
    for j in range(k):
        st.resample(sizes[j], sizes[j])
    return iref, st.resample(sizes[k], sizes[k])


def strip_timing(js):
    js = dict(js)
    js.pop("seconds", None)
    return json.dumps(js, sort_keys=True)


def mode_audit(cli, work):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(23)
    players, d, n_ref = ["A", "B"], 24, 41
    n_sets = [35, 28, 50, 33]
    ref = features(rng, n_ref, d, 0.6)
    X = {m: features(rng, n_sets[m], d, 0.6 * (m & 1) + 0.3 * (m >> 1)) for m in range(4)}
    write_features(os.path.join(work, "ref.h5"), ref)
    for m in range(4):
        write_features(os.path.join(work, "s%d.h5" % m), X[m])
    manifest = os.path.join(work, "manifest.json")
    with open(manifest, "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": os.path.join(work, "ref.h5"),
                   "sets": [{"coalition": [p for i, p in enumerate(players) if m >> i & 1],
                             "path": os.path.join(work, "s%d.h5" % m)} for m in range(4)]}, f)
    B, seed = 40, 7
    args = ["-u", "cmmd", "-B", str(B), "-s", str(seed), "-o", os.path.join(work, "rep")]
    for normalize in (True, False):
        extra = [] if normalize else ["--cmmd-no-normalize"]
        rep, out1 = audit(cli, manifest, args + extra + ["-j", "1"])
        rep2, _ = audit(cli, manifest, args + extra + ["-j", "2"])
        if strip_timing(rep) != strip_timing(rep2):
            fail("-j 1 and -j 2 give different reports")
        if rep["metric"] != "cmmd" or rep["utility"] != "cmmd-gain":
            fail("metric/utility %s/%s" % (rep["metric"], rep["utility"]))
        masks = [sum(1 << players.index(p) for p in c["coalition"]) for c in rep["coalitions"]]
        score = {m: float(cmmd_ref(ref, X[m], normalize)[0]) for m in range(4)}
        for c, m in zip(rep["coalitions"], masks):
            close(c["score"], score[m], TOL_CMMD, "cmmd score of %s" % c["label"])
            close(c["utility"], score[0] - score[m], 2 * TOL_CMMD, "cmmd utility of %s" % c["label"])
            if c["fid"] is None:
                fail("cmmd audit lost the FID")
        phi = shapley_exact(2, {m: score[0] - score[m] for m in range(4)})
        ex = [e for e in rep["estimators"] if e["estimator"] == "exact"][0]
        got = [ex["values"][p] if isinstance(ex["values"], dict) else ex["values"][i] for i, p in enumerate(players)]
        err_phi = close(got, phi, 4 * TOL_CMMD, "cmmd exact Shapley")
        # bootstrap: mmd() of the resampled rows (repeated rows included, as the V-statistic counts them)
        sizes_k = [n_sets[m] for m in masks]
        reps = np.zeros((B, 4))
        for r in range(B):
            for k, m in enumerate(masks):
                iref, iset = boot_draws(seed, r, n_ref, sizes_k, k)
                reps[r, k] = cmmd_ref(ref[iref], X[m][iset], normalize)[0]
        err_boot = 0.0
        for k, c in enumerate(rep["coalitions"]):
            x = reps[:, k]
            err_boot = max(err_boot, close(c["score_ci95"], [np.percentile(x, 2.5), np.percentile(x, 97.5)],
                                           TOL_CMMD, "cmmd bootstrap interval"))
            close(c["score_std_error"], x.std(ddof=1), TOL_CMMD, "cmmd bootstrap std. error")
        # the values' intervals: each replicate's exact Shapley values from its utilities
        vb = np.array([shapley_exact(2, {m: reps[r, masks.index(0)] - reps[r, masks.index(m)] for m in range(4)})
                       for r in range(B)])
        ci95 = rep["ci95"]
        for i, p in enumerate(players):
            close(ci95[p], [np.percentile(vb[:, i], 2.5), np.percentile(vb[:, i], 97.5)], 4 * TOL_CMMD,
                  "interval of the Shapley value of %s" % p)
        print("audit (%s): scores, utilities, exact Shapley (|diff| %.1e) and %d bootstrap replicates (|diff| %.1e) "
              "equal numpy; -j 1 = -j 2" % ("normalised" if normalize else "raw rows", err_phi, B, err_boot))
    # neg-cmmd: -CMMD(S), same values
    rep3, _ = audit(cli, manifest, ["-u", "neg-cmmd", "-o", os.path.join(work, "rep3")])
    score = {m: float(cmmd_ref(ref, X[m])[0]) for m in range(4)}
    for c in rep3["coalitions"]:
        m = sum(1 << players.index(p) for p in c["coalition"])
        close(c["utility"], -score[m], TOL_CMMD, "neg-cmmd utility")
    # `copyscope shapley` on a table with a cmmd column: the gain by default
    table = os.path.join(work, "cmmd.csv")
    with open(table, "w") as f:
        f.write("coalition,cmmd\n")
        for m in range(4):
            f.write("%s,%.17g\n" % ("+".join(p for i, p in enumerate(players) if m >> i & 1), score[m]))
    r = run([cli, "shapley", table, "--json"])
    if r.returncode != 0:
        fail("shapley on a cmmd table: %s" % r.stderr)
    js = json.loads(r.stdout)
    close([js["values"][p] for p in players], shapley_exact(2, {m: score[0] - score[m] for m in range(4)}), 1e-12,
          "shapley on a cmmd table")
    if js["utility"] != "cmmd-gain":
        fail("shapley on a cmmd table: utility %s" % js["utility"])
    # a statistics reference has no rows: refused
    np.savez(os.path.join(work, "ref.npz"), mu=ref.mean(0).astype(np.float64), sigma=np.cov(ref, rowvar=False))
    bad = os.path.join(work, "bad.json")
    with open(bad, "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": os.path.join(work, "ref.npz"),
                   "sets": [{"coalition": [p for i, p in enumerate(players) if m >> i & 1],
                             "path": os.path.join(work, "s%d.h5" % m)} for m in range(4)]}, f)
    r = audit(cli, bad, ["-u", "cmmd", "-o", os.path.join(work, "rep4")], expect_rc=2)
    if "cmmd utility needs the reference's features" not in r.stderr:
        fail("cmmd with a statistics reference: %r" % r.stderr)
    return 0


# ---- images --------------------------------------------------------------------------------------
def mode_images(cli, work, weights):
    if not os.path.exists(weights):
        print("SKIP: no test weights at %s" % weights)
        return SKIP
    from PIL import Image
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(29)
    dirs = []
    for s, (n, tint) in enumerate([(5, 0), (4, 60)]):
        d = os.path.join(work, "set%d" % s)
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            yy, xx = np.mgrid[0:48, 0:56]
            img = 120 + 60 * np.sin(xx / (3 + i) + s)[..., None] * np.cos(yy / 5)[..., None] + rng.normal(0, 20, (48, 56, 3))
            img[..., 0] += tint
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(os.path.join(d, "img%d.png" % i))
        dirs.append(d)
    common = ["--weights", weights, "--dims", "64", "--cache", os.path.join(work, "cache"), "--device", "cpu"]
    h5 = []
    for s, d in enumerate(dirs):
        out = os.path.join(work, "f%d.h5" % s)
        if os.path.exists(out):
            os.remove(out)
        r = run([cli, "features", d, "--out", out, "-q", "--weights", weights, "--dims", "64", "--cache",
                 os.path.join(work, "cache"), "--device", "cpu"])
        if r.returncode != 0:
            fail("features %s: %s" % (d, r.stderr))
        h5.append(out)
    js_dir, _ = cli_cmmd(cli, dirs[0], dirs[1], common + ["--quiet"])
    js_h5, _ = cli_cmmd(cli, h5[0], h5[1])
    if js_dir["cmmd"] != js_h5["cmmd"]:
        fail("cmmd of the directories %r != cmmd of their features files %r" % (js_dir["cmmd"], js_h5["cmmd"]))
    import h5py
    with h5py.File(h5[0]) as f0, h5py.File(h5[1]) as f1:
        x, y = f0["features"][()], f1["features"][()]
    want = float(cmmd_ref(x, y)[0])
    err = close(js_dir["cmmd"], want, TOL_CMMD, "cmmd of image directories")
    # `copyscope metrics -m cmmd` (2048-d features, its own cache under XDG_CACHE_HOME) = `copyscope cmmd`
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "xdg"))
    r = subprocess.run([cli, "metrics", dirs[0], dirs[1], "-m", "cmmd", "--json", "--weights", weights, "--device",
                        "cpu"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail("metrics -m cmmd: %s" % r.stderr)
    got = json.loads(r.stdout)["metrics"]["cmmd"]
    r = subprocess.run([cli, "cmmd", dirs[0], dirs[1], "--json", "--weights", weights, "--device", "cpu", "--quiet"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail("cmmd (2048-d): %s" % r.stderr)
    js2048 = json.loads(r.stdout)
    if got["cmmd"] != js2048["cmmd"] or got["utility"] != -js2048["cmmd"] or js2048["dims"] != 2048:
        fail("metrics -m cmmd %s != copyscope cmmd %s" % (got, js2048))
    print("images: cmmd of two directories (Inception 64-d features) = %.9f = cmmd of their features files; "
          "numpy |diff| %.1e" % (js_dir["cmmd"], err))
    return 0


def main():
    mode, cli, work = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "images":
        rc = mode_images(cli, work, sys.argv[4])
    else:
        rc = {"cli": mode_cli, "audit": mode_audit}[mode](cli, work)
    if rc == 0:
        print("PASS")
    sys.exit(rc)


if __name__ == "__main__":
    main()
