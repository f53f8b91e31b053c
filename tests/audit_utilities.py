#!/usr/bin/python3
"""Audit utilities other than FID (`copyscope audit --utility M`), against independent references.

  audit_utilities.py pixel CLI WORK   cosine, hist, dhash, ssim, rgb-ssim, fusion on generated images of
                                      several sizes and modes (2 players, 4 coalitions, 2 reference images):
                                      each coalition's score = the mean over all (generated, reference)
                                      pairs of the metric computed by PIL / OpenCV / scikit-image / numpy
                                      (tests/metrics_ref.py), its min and max; utilities (gain and -raw);
                                      exact Shapley values from the textbook formula on those scores; the
                                      bootstrap (same splitmix64 streams as the FID bootstrap, written in
                                      tests/audit_ref.py from the documented definition) recomputed in numpy.
  audit_utilities.py kid CLI WORK     kid on features files: the score = numpy's unbiased MMD^2 with the
                                      cubic kernel averaged over the subsets (the subset sampler ported from
                                      its definition in metrics.h), equal and unequal set sizes; the
                                      bootstrap's KIDs recomputed in numpy; neg-kid; bad combinations.

Tolerances: a score is a mean of per-pair values, so it inherits metrics_ref.py's per-metric tolerance
(TOL; dhash exact values -> 1e-15 for rounding of the mean); Shapley values and utilities are sums of
+-4 scores (4x the tolerance); bootstrap scores are means of the same values (TOL + 1e-12). KID: 1e-9 of
the mean kernel value (as metrics_ref.py: float64 dot products in another order). Exit 77 = skipped.
"""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_ref import M64, Stream, shapley_exact, sm64, write_features  # noqa: E402
from metrics_ref import NAMES, TOL, ref_all  # noqa: E402

SKIP = 77


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def close(got, want, tol, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not np.all(np.isfinite(got)) or err > tol:
        fail("%s: max |difference| %.3g > %.3g\n  copyscope %s\n  reference %s" % (what, err, tol, got, want))
    return err


def audit(cli, manifest, args, expect_rc=0):
    # the percentile interval (checked below against numpy); the default moves it by the bias estimate
    r = subprocess.run([cli, "audit", manifest, "--json", "-q", "--interval", "percentile"] + args,
                       capture_output=True, text=True)
    if r.returncode != expect_rc:
        fail("audit %s -> %d (want %d)\n%s%s" % (" ".join(args), r.returncode, expect_rc, r.stdout, r.stderr))
    return json.loads(r.stdout) if expect_rc == 0 else r


def coalition_masks(rep, players):
    return [sum(1 << players.index(p) for p in c["coalition"]) for c in rep["coalitions"]]


def boot_draws(seed, r, n_ref, sizes, k):
    """Replicate r's draws for set k: the reference resample, then set k's (skipping sets 0..k-1)."""
    st = Stream(seed, r)
    iref = st.resample(n_ref, n_ref)
    for j in range(k):
        st.resample(sizes[j], sizes[j])
    return iref, st.resample(sizes[k], sizes[k])


def ci(x):
    x = np.asarray(x, float)
    return np.percentile(x, 2.5), np.percentile(x, 97.5), x.std(ddof=1)


# ---- pixel metrics -------------------------------------------------------------------------------
def make_image(path, w, h, mode, rng, shift):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / (4 + shift) + c) * np.cos(yy / (6 + c + shift)) for c in range(3)], axis=2)
    img = (127.5 + 90 * base + rng.normal(0, 25, (h, w, 3))).clip(0, 255).astype(np.uint8)
    img[h // 5:h // 2, w // 4:(3 * w) // 4] = rng.integers(0, 256, 3)
    im = Image.fromarray(img)
    if mode == "JPEG":
        im.save(path, quality=90)
    elif mode == "P":
        im.convert("P", palette=Image.ADAPTIVE, colors=48).save(path)
    else:
        im.convert(mode).save(path)


def mode_pixel(cli, work):
    try:
        import cv2  # noqa: F401
        import skimage  # noqa: F401
    except ImportError as e:
        print("SKIP: %s (install python3-opencv python3-skimage)" % e)
        return SKIP
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    players = ["A", "B"]
    sizes = [(48, 40), (60, 60), (33, 71), (48, 40)]
    modes = ["RGB", "L", "JPEG", "P", "RGBA"]
    sets, labels = {}, {0: "Base", 1: "Base+A", 2: "Base+B", 3: "Base+A+B"}
    for mask in range(4):
        d = os.path.join(work, "gen", labels[mask])
        os.makedirs(d, exist_ok=True)
        files = []
        for i in range(3 + mask % 2):  # 3 or 4 images per set
            w, h = sizes[(i + mask) % len(sizes)]
            ext = "jpg" if modes[(i + mask) % len(modes)] == "JPEG" else "png"
            p = os.path.join(d, "img%d.%s" % (i, ext))
            make_image(p, w, h, modes[(i + mask) % len(modes)], rng, shift=2 * (mask & 1) + 3 * (mask >> 1))
            files.append(p)
        sets[mask] = files
    refdir = os.path.join(work, "ref")
    os.makedirs(refdir, exist_ok=True)
    refs = [os.path.join(refdir, "r0.png"), os.path.join(refdir, "r1.jpg")]
    make_image(refs[0], 52, 44, "RGB", rng, shift=4)
    make_image(refs[1], 40, 64, "JPEG", rng, shift=5)
    manifest = os.path.join(work, "manifest.json")
    with open(manifest, "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": refdir,
                   "sets": [{"coalition": [p for i, p in enumerate(players) if m >> i & 1], "path": sets[m]}
                            for m in range(4)]}, f)
    # every pair's metrics, from the references: pairs[mask] (n_gen, n_ref, 6)
    arr = lambda p: np.asarray(Image.open(p).convert("RGB"))  # noqa: E731
    R = [arr(p) for p in refs]
    pairs = {m: np.array([[ref_all(a, arr(g)) for a in R] for g in sets[m]]) for m in range(4)}
    B, seed = 60, 9
    worst = {}
    for mi, name in enumerate(NAMES):
        tol = max(TOL[mi], 1e-15)
        rep = audit(cli, manifest, ["-u", name, "-B", str(B), "-s", str(seed), "-o", os.path.join(work, "rep")])
        if rep["metric"] != name or rep["utility"] != name + "-gain":
            fail("%s: metric/utility %s/%s" % (name, rep["metric"], rep["utility"]))
        masks = coalition_masks(rep, players)
        score = {m: pairs[m][:, :, mi].mean() for m in range(4)}
        err = 0.0
        for c, m in zip(rep["coalitions"], masks):
            if c["fid"] is not None:
                fail("%s: a pixel-metric audit reports a FID" % name)
            err = max(err, close(c["score"], score[m], tol, "%s score of %s" % (name, c["label"])))
            close(c["score_min"], pairs[m][:, :, mi].min(), tol, name + " min")
            close(c["score_max"], pairs[m][:, :, mi].max(), tol, name + " max")
            close(c["utility"], score[m] - score[0], 2 * tol, name + " utility")
        phi = shapley_exact(2, {m: score[m] - score[0] for m in range(4)})
        ex = [e for e in rep["estimators"] if e["estimator"] == "exact"][0]
        got = [ex["values"][p] if isinstance(ex["values"], dict) else ex["values"][i] for i, p in enumerate(players)]
        err = max(err, close(got, phi, 4 * tol, name + " exact Shapley"))
        # bootstrap
        n_ref = len(refs)
        order = masks  # manifest order == report order
        sizes_k = [len(sets[m]) for m in order]
        reps = np.zeros((B, 4))
        for r in range(B):
            for k, m in enumerate(order):
                iref, iset = boot_draws(seed, r, n_ref, sizes_k, k)
                reps[r, k] = pairs[m][np.ix_(iset, iref)][:, :, mi].mean()
        for k, c in enumerate(rep["coalitions"]):
            lo, hi, se = ci(reps[:, k])
            close(c["score_ci95"], [lo, hi], tol + 1e-12, name + " bootstrap interval")
            err = max(err, close(c["score_std_error"], se, tol + 1e-12, name + " bootstrap std. error"))
        worst[name] = err
    # the -raw form: utility = score, same values
    rep = audit(cli, manifest, ["-u", "ssim-raw", "-o", os.path.join(work, "rep")])
    for c, m in zip(rep["coalitions"], coalition_masks(rep, players)):
        close(c["utility"], pairs[m][:, :, 3].mean(), 1e-6, "ssim-raw utility")
    # bad combinations: a pixel metric on a features file; unknown utilities; neg- of a similarity
    feat = os.path.join(work, "ref.h5")
    write_features(feat, rng.random((5, 8)))
    bad = os.path.join(work, "bad.json")
    with open(bad, "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": feat,
                   "sets": [{"coalition": [p for i, p in enumerate(players) if m >> i & 1], "path": sets[m]}
                            for m in range(4)]}, f)
    r = audit(cli, bad, ["-u", "ssim", "-o", os.path.join(work, "rep")], expect_rc=2)
    if "compares images" not in r.stderr or "ref.h5" not in r.stderr or len(r.stderr.strip().splitlines()) != 1:
        fail("pixel metric on features: message %r" % r.stderr)
    for u in ("neg-ssim", "ssimm", "kid-raw", "raw"):
        r = audit(cli, manifest, ["-u", u], expect_rc=2)
        if "utility" not in r.stderr:
            fail("--utility %s: message %r" % (u, r.stderr))
    # `copyscope shapley` on a table with an `ssim` column: its gain by default, -raw gives the same values
    table = os.path.join(work, "ssim.csv")
    score = {m: pairs[m][:, :, 3].mean() for m in range(4)}
    with open(table, "w") as f:
        f.write("coalition,n,ssim\n")
        for m in range(4):
            f.write("%s,3,%.17g\n" % ("+".join(p for i, p in enumerate(players) if m >> i & 1), score[m]))
    phi = shapley_exact(2, {m: score[m] - score[0] for m in range(4)})
    for u in ([], ["-u", "ssim"], ["-u", "ssim-raw"]):
        r = subprocess.run([cli, "shapley", table, "--json"] + u, capture_output=True, text=True)
        if r.returncode != 0:
            fail("shapley %s: %s" % (u, r.stderr))
        js = json.loads(r.stdout)
        close([js["values"][p] for p in players], phi, 1e-12, "shapley on an ssim table %s" % u)
        want_u = "ssim-raw" if "ssim-raw" in u else "ssim-gain"
        if js["utility"] != want_u or abs(js["ssims"]["A"] - score[1]) > 1e-15:
            fail("shapley on an ssim table: utility %s, ssims %s" % (js["utility"], js["ssims"]))
    for u in ("fid-gain", "kid", "raw"):
        r = subprocess.run([cli, "shapley", table, "-u", u], capture_output=True, text=True)
        if r.returncode != 2 or "ssim" not in r.stderr:
            fail("shapley -u %s on an ssim table: rc %d %r" % (u, r.returncode, r.stderr))
    print("pixel utilities: scores, min/max, utilities, exact Shapley and %d bootstrap replicates equal the "
          "references; worst |diff| %s" % (B, ", ".join("%s %.1e" % kv for kv in worst.items())))
    return 0


# ---- KID -----------------------------------------------------------------------------------------
def uniform_below(state, n):
    lim = ((1 << 64) - n) % n
    while True:
        state, r = sm64(state)
        p = r * n
        if (p & M64) >= lim:
            return state, p >> 64


def kid_subset(seed, s, which, n, m):
    """cs_kid_subset from metrics.h: partial Fisher-Yates driven by splitmix64 seeded with (seed, s, which)."""
    state, z = sm64(seed & M64)
    state = z ^ ((s & 0xFFFFFFFF) << 1) ^ (which & 1)
    state, z = sm64(state)
    state = z
    perm = list(range(n))
    out = []
    for i in range(m):
        state, u = uniform_below(state, n - i)
        j = i + u
        perm[i], perm[j] = perm[j], perm[i]
        out.append(perm[i])
    return np.array(out)


def mmd2(X, Y, d):
    m = len(X)
    a = (X @ X.T / d + 1) ** 3 + (Y @ Y.T / d + 1) ** 3
    b = (X @ Y.T / d + 1) ** 3
    return (a.sum() - np.diag(a).sum()) / (m * (m - 1)) - b.sum() * 2 / (m * m), np.abs(b).mean()


def kid_ref(x, y, d, nsub, msz, seed):
    m = min(msz, len(x), len(y))
    vals, scale = [], 0.0
    for s in range(nsub):
        v, sc = mmd2(x[kid_subset(seed, s, 0, len(x), m)], y[kid_subset(seed, s, 1, len(y), m)], d)
        vals.append(v)
        scale = max(scale, sc)
    return float(np.mean(vals)), float(np.std(vals)), scale


def mode_kid(cli, work):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(17)
    players, d = ["A", "B"], 24
    for case, (n_ref, n_sets, nsub, msz) in enumerate([(30, [30, 30, 30, 30], 7, 1000), (26, [31, 22, 40, 26], 9, 20)]):
        ref = np.abs(rng.normal(0.3, 0.5, (n_ref, d))).astype(np.float32)
        X = {m: np.abs(rng.normal(0.3 + 0.05 * (m & 1) + 0.12 * (m >> 1), 0.5, (n_sets[m], d))).astype(np.float32)
             for m in range(4)}
        cdir = os.path.join(work, "case%d" % case)
        os.makedirs(cdir, exist_ok=True)
        write_features(os.path.join(cdir, "ref.h5"), ref)
        for m in range(4):
            write_features(os.path.join(cdir, "s%d.h5" % m), X[m])
        manifest = os.path.join(cdir, "manifest.json")
        with open(manifest, "w") as f:
            json.dump({"baseline": "Base", "players": players, "reference": os.path.join(cdir, "ref.h5"),
                       "sets": [{"coalition": [p for i, p in enumerate(players) if m >> i & 1],
                                 "path": os.path.join(cdir, "s%d.h5" % m)} for m in range(4)]}, f)
        B, seed = 25, 4
        args = ["-u", "kid", "--kid-subsets", str(nsub), "--kid-subset-size", str(msz), "-B", str(B), "-s", str(seed),
                "-o", os.path.join(cdir, "rep")]
        rep = audit(cli, manifest, args)
        masks = coalition_masks(rep, players)
        score, scale = {}, 0.0
        for m in range(4):
            k, sd, sc = kid_ref(ref.astype(np.float64), X[m].astype(np.float64), d, nsub, msz, 0)
            score[m] = k
            scale = max(scale, sc)
        tol = 1e-9 * scale
        for c, m in zip(rep["coalitions"], masks):
            close(c["score"], score[m], tol, "kid score of %s" % c["label"])
            close(c["utility"], score[0] - score[m], 2 * tol, "kid utility")
            if c["fid"] is None:
                fail("kid audit lost the FID")
        ex = [e for e in rep["estimators"] if e["estimator"] == "exact"][0]
        phi = shapley_exact(2, {m: score[0] - score[m] for m in range(4)})
        got = [ex["values"][p] if isinstance(ex["values"], dict) else ex["values"][i] for i, p in enumerate(players)]
        close(got, phi, 4 * tol, "kid exact Shapley")
        # bootstrap: KID of the resampled rows with the same subsets (one subset when they are the whole sets)
        sizes_k = [n_sets[m] for m in masks]
        reps = np.zeros((B, 4))
        for r in range(B):
            for k, m in enumerate(masks):
                iref, iset = boot_draws(seed, r, n_ref, sizes_k, k)
                xr, xs = ref[iref].astype(np.float64), X[m][iset].astype(np.float64)
                mm = min(msz, n_ref, n_sets[m])
                ns = 1 if mm == n_ref == n_sets[m] else nsub
                reps[r, k] = kid_ref(xr, xs, d, ns, msz, 0)[0]
        for k, c in enumerate(rep["coalitions"]):
            lo, hi, se = ci(reps[:, k])
            close(c["score_ci95"], [lo, hi], tol, "kid bootstrap interval")
            close(c["score_std_error"], se, tol, "kid bootstrap std. error")
        # the report's coalitions.csv feeds `copyscope shapley` (its utility column wins over fid/kid)
        r = subprocess.run([cli, "shapley", os.path.join(cdir, "rep", "coalitions.csv"), "--baseline", "Base",
                            "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            fail("shapley on coalitions.csv: %s" % r.stderr)
        close([json.loads(r.stdout)["values"][p] for p in players], phi, 4 * tol, "shapley on coalitions.csv")
        # neg-kid: -KID, same values
        rep2 = audit(cli, manifest, args[:1] + ["neg-kid"] + args[2:])
        for c, m in zip(rep2["coalitions"], masks):
            close(c["utility"], -score[m], tol, "neg-kid utility")
        print("kid case %d (n_ref %d, sets %s, %d subsets of %d): scores, utilities, Shapley and %d bootstrap "
              "replicates equal numpy (tol %.1e)" % (case, n_ref, n_sets, nsub, min(msz, n_ref, min(n_sets)), B, tol))
    return 0


def main():
    mode, cli, work = sys.argv[1], sys.argv[2], sys.argv[3]
    rc = {"pixel": mode_pixel, "kid": mode_kid}[mode](cli, work)
    if rc == 0:
        print("PASS")
    sys.exit(rc)


if __name__ == "__main__":
    main()
