#!/usr/bin/python3
"""Independent references for copyscope's FID engine (numpy/scipy/mpmath/h5py), driving the CLI.

  fid_ref.py scipy     CLI vs pytorch-fid's scipy.linalg.sqrtm formula (full-rank, well conditioned)
  fid_ref.py singular  n < d: CLI vs an mpmath (50-digit) reference; prints scipy's own error
  fid_ref.py npz       .npz round trips both ways, byte orders, float32, Fortran order, versions
  fid_ref.py hostile   corrupt/hostile .npz/.npy/HDF5 inputs -> exit 2 with a message, no crash
  fid_ref.py cli       output format (pytorch-fid's "FID:  <repr>"), --json, identical sets -> 0,
                       stats/merge/--save-stats, extractor and dims checks

Usage: fid_ref.py MODE COPYSCOPE_BINARY WORKDIR [--big]
Exit 0 = pass, 1 = fail. Every comparison prints its numbers.
"""
import json
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np

FAILS = []


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg, flush=True)
    if not cond:
        FAILS.append(msg)


def run(args, expect_rc=0):
    p = subprocess.run([CLI] + args, capture_output=True, text=True, errors="replace")
    if expect_rc is not None and p.returncode != expect_rc:
        print("command:", " ".join(args), "rc", p.returncode, "stdout", p.stdout, "stderr", p.stderr)
    return p


def cli_fid(a, b, *extra):
    p = run(["fid", a, b, "--json", *extra])
    if p.returncode != 0:
        FAILS.append("fid %s %s failed: %s" % (a, b, p.stderr.strip()))
        return None
    return json.loads(p.stdout)


# ---- references --------------------------------------------------------------------------------

def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch_fid.fid_score.calculate_frechet_distance, verbatim in substance."""
    from scipy import linalg
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError("Imaginary component {}".format(np.max(np.abs(covmean.imag))))
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def mp_fid_from_rows(x1, x2, dps=50):
    """FID of two row sets in extended precision: centred rows C_i, the nuclear norm of
    C1 C2^T / sqrt((n1-1)(n2-1)) by mpmath's SVD (exact identity, no square root of a product)."""
    import mpmath as mp
    mp.mp.dps = dps
    x1 = [[mp.mpf(float(v)) for v in row] for row in x1]
    x2 = [[mp.mpf(float(v)) for v in row] for row in x2]
    n1, n2, d = len(x1), len(x2), len(x1[0])
    mu1 = [mp.fsum(r[j] for r in x1) / n1 for j in range(d)]
    mu2 = [mp.fsum(r[j] for r in x2) / n2 for j in range(d)]
    c1 = mp.matrix([[r[j] - mu1[j] for j in range(d)] for r in x1])
    c2 = mp.matrix([[r[j] - mu2[j] for j in range(d)] for r in x2])
    tr1 = mp.fsum(c1[i, j] ** 2 for i in range(n1) for j in range(d)) / (n1 - 1)
    tr2 = mp.fsum(c2[i, j] ** 2 for i in range(n2) for j in range(d)) / (n2 - 1)
    k = c1 * c2.T
    s = mp.svd_r(k, compute_uv=False)
    trs = mp.fsum(s) / mp.sqrt((n1 - 1) * (n2 - 1))
    mean = mp.fsum((mu1[j] - mu2[j]) ** 2 for j in range(d))
    return mean + tr1 + tr2 - 2 * trs


# ---- file writers (the copyscope layouts, written independently with h5py) --------------------

def write_features(path, x, weights="ab" * 32, prep="pytorch-fid test", dims=None):
    import h5py
    x = np.asarray(x, dtype=np.float32)
    with h5py.File(path, "w") as f:
        f["features"] = x
        f["paths"] = np.array(["img%05d.png" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"
        f.attrs["dims"] = np.int64(x.shape[1] if dims is None else dims)
        f.attrs["weights_sha256"] = weights
        f.attrs["preprocessing"] = prep
    return path


def write_npz(path, mu, sigma, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, mu=mu, sigma=sigma)
    return path


def rows(rng, n, d, scale=1.0, shift=0.0, mix=None):
    z = rng.standard_normal((n, d)) * scale
    if mix is not None:
        z = z @ mix
    return z + shift


# ---- modes --------------------------------------------------------------------------------------

def mode_scipy(work, big):
    import time
    from scipy import linalg  # noqa: F401
    rng = np.random.default_rng(7)
    cases = []
    # random full rank, well conditioned: S = A A^T / d + 0.1 I
    for d in ([2048] if big else [256]):
        mats = []
        for _ in range(2):
            a = rng.standard_normal((d, d))
            mats.append((rng.standard_normal(d), a @ a.T / d + 0.1 * np.eye(d)))
        cases.append(("random d=%d" % d, mats))
    # structured: AR(1) (Toeplitz) vs diagonal spectrum
    d = 128
    idx = np.arange(d)
    ar = 0.7 ** np.abs(idx[:, None] - idx[None, :])
    cases.append(("AR(1) vs diagonal d=128", [(np.zeros(d), ar), (np.full(d, 0.1), np.diag(np.linspace(0.5, 2, d)))]))
    # covariances of samples (n = 4d), close sets (small FID, strong cancellation)
    x1 = rng.standard_normal((1024, 256))
    x2 = x1[::-1] * 1.01 + 0.01
    cases.append(("sample covariances, close sets d=256",
                  [(x1.mean(0), np.cov(x1, rowvar=False)), (x2.mean(0), np.cov(x2, rowvar=False))]))
    if big:
        cases = cases[:1]
    for name, ((m1, s1), (m2, s2)) in cases:
        a = write_npz(os.path.join(work, "sc_a.npz"), m1, s1)
        b = write_npz(os.path.join(work, "sc_b.npz"), m2, s2)
        t = time.time()
        ref = pytorch_fid_distance(m1, s1, m2, s2)
        tref = time.time() - t
        t = time.time()
        got = cli_fid(a, b)
        tcs = time.time() - t
        if got is None:
            continue
        rel = abs(got["fid"] - ref) / abs(ref)
        # 1e-9: the two exact formulas differ only by float64 rounding (scipy's Schur sqrtm of a
        # non-symmetric product is the less accurate of the two, ~1e-12..1e-11 here)
        check(rel <= 1e-9, "%s: copyscope %.17g (%s, %.2fs) scipy %.17g (%.2fs) rel %.2e <= 1e-9"
              % (name, got["fid"], got["method"], tcs, ref, tref, rel))
        for m in ["svd", "eig-ref"]:
            g2 = cli_fid(a, b, "--method", m)
            if g2:
                r2 = abs(g2["fid"] - ref) / abs(ref)
                check(r2 <= 1e-9, "  --method %s (%s): %.17g rel %.2e" % (m, g2["method"], g2["fid"], r2))


def mode_singular(work, big):
    import mpmath  # noqa: F401
    rng = np.random.default_rng(11)
    d = 64
    for n1, n2, shift in [(20, 20, 0.0), (20, 30, 0.5), (40, 100, 0.2)]:
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        x1 = rows(rng, n1, d, mix=mix).astype(np.float32)
        x2 = rows(rng, n2, d, mix=mix, shift=shift).astype(np.float32)
        ref = float(mp_fid_from_rows(x1.astype(np.float64), x2.astype(np.float64)))
        fa = write_features(os.path.join(work, "sg_a.h5"), x1)
        fb = write_features(os.path.join(work, "sg_b.h5"), x2)
        x1d, x2d = x1.astype(np.float64), x2.astype(np.float64)
        m1, s1, m2, s2 = x1d.mean(0), np.cov(x1d, rowvar=False), x2d.mean(0), np.cov(x2d, rowvar=False)
        na = write_npz(os.path.join(work, "sg_a.npz"), m1, s1)
        nb = write_npz(os.path.join(work, "sg_b.npz"), m2, s2)
        try:
            sc = pytorch_fid_distance(m1, s1, m2, s2)
            sc_err = abs(sc - ref) / ref
        except ValueError as e:
            sc, sc_err = float("nan"), float("nan")
            print("      scipy/pytorch-fid raised:", e)
        tag = "n=%d,%d d=%d" % (n1, n2, d)
        print("      %s: mpmath reference %.17g; scipy sqrtm (pytorch-fid) %.17g, rel error %.3e"
              % (tag, ref, sc, sc_err))
        # 1e-8: the brief's bound for singular input against extended precision
        for label, a, b, extra in [("features auto", fa, fb, []), ("features eig", fa, fb, ["--method", "eig"]),
                                   ("features svd", fa, fb, ["--method", "svd"]),
                                   ("npz (n unknown)", na, nb, []), ("reference", fa, fb, ["--method", "reference"])]:
            got = cli_fid(a, b, *extra)
            if got is None:
                continue
            rel = abs(got["fid"] - ref) / ref
            check(rel <= 1e-8, "%s %s: %.17g (%s) rel %.2e <= 1e-8; warnings %s"
                  % (tag, label, got["fid"], got["method"], rel, got["warnings"]))
            if label.startswith("features"):
                check(any("singular" in w for w in got["warnings"]), "  singular warning reported")
        p = run(["fid", fa, fb])
        check("singular" in p.stderr, "  CLI prints the singular warning on stderr: %r" % p.stderr.strip()[:90])


def npy_bytes(arr, descr, fortran=False, version=(1, 0)):
    """A .npy image written by hand (to control byte order, order and version)."""
    a = np.asarray(arr).astype(np.dtype(descr))
    shape = a.shape
    data = (np.asfortranarray(a) if fortran else np.ascontiguousarray(a)).tobytes(order="F" if fortran else "C")
    hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(shape))
    pre = 10 if version == (1, 0) else 12
    pad = (64 - (pre + len(hdr) + 1) % 64) % 64
    hdr = hdr + " " * pad + "\n"
    lenfield = struct.pack("<H", len(hdr)) if version == (1, 0) else struct.pack("<I", len(hdr))
    return b"\x93NUMPY" + bytes(version) + lenfield + hdr.encode("latin1") + data


def write_npz_raw(path, mu_bytes, sigma_bytes, compressed=False):
    comp = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", comp) as z:
        if mu_bytes is not None:
            z.writestr("mu.npy", mu_bytes)
        if sigma_bytes is not None:
            z.writestr("sigma.npy", sigma_bytes)
    return path


def mode_npz(work, big):
    rng = np.random.default_rng(3)
    d = 40
    mu = rng.standard_normal(d)
    a = rng.standard_normal((d, d))
    sigma = a @ a.T / d
    # not exactly symmetric, so that a wrong Fortran-order transpose shows in the bit-exact check;
    # the difference (4e-7) survives float32 storage but stays inside the reader's symmetry
    # tolerance (1e-6 of the largest variance: a covariance must be symmetric, issue 20)
    sigma[0, 1] += 4e-7
    assert 4e-7 < 1e-6 * np.max(np.diag(sigma))
    variants = [("savez", None), ("savez_compressed", None),
                ("<f8", ("<f8", False, (1, 0))), (">f8", (">f8", False, (1, 0))),
                ("<f4", ("<f4", False, (1, 0))), (">f4", (">f4", False, (2, 0))),
                ("fortran <f8", ("<f8", True, (1, 0))), ("fortran >f4", (">f4", True, (3, 0))),
                ("v2.0 deflate", ("<f8", False, (2, 0)))]
    for name, spec in variants:
        src = os.path.join(work, "rt_in.npz")
        if name == "savez":
            write_npz(src, mu, sigma)
        elif name == "savez_compressed":
            write_npz(src, mu, sigma, compressed=True)
        else:
            descr, fortran, ver = spec
            write_npz_raw(src, npy_bytes(mu, descr, False, ver), npy_bytes(sigma, descr, fortran, ver),
                          compressed="deflate" in name or "fortran" in name)
        exp_mu, exp_sigma = mu, sigma
        if spec and spec[0].endswith("f4"):
            exp_mu, exp_sigma = mu.astype(np.float32).astype(np.float64), sigma.astype(np.float32).astype(np.float64)
        # numpy writes -> copyscope reads -> copyscope writes npz -> numpy reads (exact)
        out = os.path.join(work, "rt_out.npz")
        if os.path.exists(out):
            os.remove(out)
        p = run(["stats", src, "--out", out])
        if p.returncode != 0:
            check(False, "%s: copyscope stats failed: %s" % (name, p.stderr.strip()))
            continue
        with np.load(out) as f:
            ok = (f["mu"].dtype == np.float64 and f["sigma"].shape == (d, d) and
                  np.array_equal(f["mu"], exp_mu) and np.array_equal(f["sigma"], exp_sigma))
        check(ok, "%s: numpy -> copyscope -> numpy round trip is bit-exact" % name)
    # we write h5 -> read back -> npz: still exact; and fid of the copy against the source is 0
    out_h5 = os.path.join(work, "rt.h5")
    write_npz(os.path.join(work, "rt_in.npz"), mu, sigma @ sigma.T)
    p = run(["stats", os.path.join(work, "rt_in.npz"), "--out", out_h5])
    check(p.returncode == 0, "npz -> h5 stats: %s" % p.stderr.strip())
    g = cli_fid(os.path.join(work, "rt_in.npz"), out_h5)
    check(g is not None and g["fid"] == 0.0, "FID(npz, its h5 copy) == 0: %s" % (g and g["fid"]))
    import h5py
    with h5py.File(out_h5, "r") as f:
        check(np.array_equal(f["mean"][()], mu) and f["n"][()] == 0 and "covariance" in f,
              "h5 stats layout: /mean, /n = 0 and /covariance for npz input")


def mode_hostile(work, big):
    rng = np.random.default_rng(5)
    d = 16
    mu = rng.standard_normal(d)
    sigma = np.eye(d)
    good = write_npz(os.path.join(work, "good.npz"), mu, sigma)
    okmu = npy_bytes(mu, "<f8")
    oksig = npy_bytes(sigma, "<f8")
    cases = {
        "truncated zip": open(good, "rb").read()[:300],
        "not a zip": b"hello world, not an npz file at all",
    }
    raw = {
        "missing sigma": (okmu, None),
        "bad magic": (b"\x93NUMPX" + okmu[6:], oksig),
        "bad version": (okmu[:6] + b"\x09\x00" + okmu[8:], oksig),
        "header longer than entry": (okmu[:8] + b"\xff\xff" + okmu[10:], oksig),
        "malformed header": (okmu.replace(b"'descr'", b"'descX'"), oksig),
        "unclosed dict": (okmu.replace(b"}", b" "), oksig),
        "int dtype": (npy_bytes(mu, "<i8"), oksig),
        "complex dtype": (npy_bytes(mu, "<c16"), oksig),
        "object dtype": (okmu.replace(b"'<f8'", b"'|O8'"), oksig),
        "shape lies (too big)": (okmu.replace(b"(16,)", b"(17,)"), oksig),
        "shape lies (too small)": (okmu.replace(b"(16,)", b"(15,)"), oksig),
        "absurd shape": (okmu.replace(b"(16,)", b"(99999999999,)"), oksig),
        "huge sigma claim": (okmu, oksig.replace(b"(16, 16)", b"(16000, 16000)")),
        "sigma wrong shape": (okmu, npy_bytes(np.eye(15), "<f8")),
        "3-d sigma": (okmu, npy_bytes(np.zeros((2, 2, 2)), "<f8")),
        "scalar mu": (npy_bytes(np.float64(1.0), "<f8"), oksig),
        "truncated data": (okmu[:-8], oksig),
        "NaN in sigma": (okmu, npy_bytes(np.full((d, d), np.nan), "<f8")),
    }
    paths = {}
    for name, blob in cases.items():
        p = os.path.join(work, "bad_%d.npz" % len(paths))
        open(p, "wb").write(blob)
        paths[name] = p
    for name, (m, s) in raw.items():
        paths[name] = write_npz_raw(os.path.join(work, "bad_%d.npz" % len(paths)), m, s,
                                    compressed=(len(paths) % 2 == 1))
    # corrupt deflate stream (CRC / inflate error)
    cz = write_npz(os.path.join(work, "bad_deflate.npz"), mu, np.eye(d) * 3, compressed=True)
    blob = bytearray(open(cz, "rb").read())
    for i in range(60, 120):
        blob[i] ^= 0x5A
    open(cz, "wb").write(bytes(blob))
    paths["corrupt deflate data"] = cz
    # hostile HDF5 stats and features
    import h5py
    hp = os.path.join(work, "bad_stats.h5")
    with h5py.File(hp, "w") as f:
        f["mean"] = np.zeros(8)
        f["n"] = np.int64(10)
        f["comoment"] = np.zeros((7, 7))
    paths["h5 stats wrong comoment shape"] = hp
    hp2 = os.path.join(work, "bad_feat.h5")
    with h5py.File(hp2, "w") as f:
        f["features"] = np.zeros((4, 3, 2), np.float32)
    paths["h5 features rank 3"] = hp2
    hp3 = os.path.join(work, "bad_other.h5")
    with h5py.File(hp3, "w") as f:
        f["something"] = np.zeros(3)
    paths["h5 neither stats nor features"] = hp3
    hp4 = os.path.join(work, "bad_trunc.h5")
    write_features(hp4, rng.standard_normal((50, 8)))
    open(hp4, "r+b").truncate(1200)
    paths["truncated h5"] = hp4
    paths["missing file"] = os.path.join(work, "does_not_exist.npz")
    # random byte mutations of a small stored and a deflated .npz: never a crash or a sanitizer
    # report; any exit status 0 (harmless change), 1 (numeric) or 2 (bad input) is acceptable
    mrng = np.random.default_rng(1234)
    for k, comp in enumerate([False, True]):
        src = open(write_npz(os.path.join(work, "mut_src%d.npz" % k), mu, np.eye(d) + 0.1, compressed=comp), "rb").read()
        bad = 0
        for it in range(60):
            blob = bytearray(src)
            for _ in range(int(mrng.integers(1, 6))):
                blob[int(mrng.integers(0, len(blob)))] = int(mrng.integers(0, 256))
            mp = os.path.join(work, "mut.npz")
            open(mp, "wb").write(bytes(blob))
            r = run(["fid", mp, good], expect_rc=None)
            if (r.returncode not in (0, 1, 2) or "Sanitizer" in r.stderr or "runtime error" in r.stderr
                    or any(not (ch.isprintable() or ch == "\n") for ch in r.stderr)):
                bad += 1
                print("      mutation %d: rc %d %s" % (it, r.returncode, r.stderr[-300:]))
        check(bad == 0, "60 random mutations of a %s .npz: no crash (%d bad)" % ("deflated" if comp else "stored", bad))
    for name, p in paths.items():
        for order in ([p, good], [good, p]):
            r = run(["fid"] + order, expect_rc=None)
            msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            exp = 2
            check(r.returncode == exp and "copyscope fid:" in msg and len(r.stderr) < 2000
                  and (name == "missing file" or p in msg or "mu.npy" in msg or "sigma.npy" in msg),
                  "%-32s -> exit %d (want %d): %s" % (name, r.returncode, exp, msg[:110]))
            if order[0] != p:
                break


def mode_cli(work, big):
    import h5py
    rng = np.random.default_rng(9)
    d = 32
    # 1. output format: pytorch-fid prints print('FID: ', fid_value) -> "FID:  " + str(np.float64)
    for v in [0.5, 1e-5, 1.234e-4, 3.0, 12345.678, 99999999.5, 1e15 + 0.5, 2.5e16, 7.123456789012345e22]:
        a = write_npz(os.path.join(work, "fmt_a.npz"), np.array([np.sqrt(v)]), np.zeros((1, 1)))
        b = write_npz(os.path.join(work, "fmt_b.npz"), np.array([0.0]), np.zeros((1, 1)))
        exp_val = np.sqrt(v) ** 2
        p = run(["fid", a, b])
        want = "FID:  " + str(np.float64(exp_val)) + "\n"
        check(p.stdout == want, "format %r: got %r want %r" % (v, p.stdout, want))
    # 2. --json keys, identical sets -> exactly 0 (not negative), also through features files
    x1 = rows(rng, 300, d, mix=rng.standard_normal((d, d))).astype(np.float32)
    x2 = rows(rng, 200, d, shift=0.3).astype(np.float32)
    fa = write_features(os.path.join(work, "c_a.h5"), x1)
    fb = write_features(os.path.join(work, "c_b.h5"), x2)
    g = cli_fid(fa, fb)
    # "extractor": the inputs' recorded model and preprocessing (features files carry it)
    check(g is not None and set(g) == {"fid", "n1", "n2", "dims", "extractor", "method", "protocol", "warnings", "math_device"}
          and g["n1"] == 300 and g["n2"] == 200 and g["dims"] == d and g["math_device"] == "cpu"
          and g["extractor"] == "pytorch-fid test" and g["protocol"] is None, "--json keys and values: %s" % g)
    ref = pytorch_fid_distance(x1.astype(np.float64).mean(0), np.cov(x1.astype(np.float64), rowvar=False),
                               x2.astype(np.float64).mean(0), np.cov(x2.astype(np.float64), rowvar=False))
    check(g is not None and abs(g["fid"] - ref) / ref <= 1e-9, "features file FID vs scipy: %.17g vs %.17g" % (g["fid"], ref))
    p = run(["fid", fa, fb])
    check(p.stdout == "FID:  " + str(np.float64(g["fid"])) + "\n", "plain output matches json: %r" % p.stdout)
    for m in ["auto", "eig", "eig-ref", "svd", "lowrank", "reference"]:
        p = run(["fid", fa, fa, "--method", m])
        check(p.stdout == "FID:  0.0\n", "identical sets, --method %s: %r" % (m, p.stdout))
    lr = cli_fid(fa, fb, "--method", "lowrank")
    ei = cli_fid(fa, fb, "--method", "eig")
    check(lr and ei and abs(lr["fid"] - ei["fid"]) <= 1e-10 * ei["fid"],
          "lowrank == eig: %.17g vs %.17g" % (lr["fid"], ei["fid"]))
    # 3. one reference, several sets (one line each, same values as pairwise)
    p = run(["fid", fa, fb, fa, fb])
    lines = p.stdout.splitlines()
    check(len(lines) == 3 and lines[0] == lines[2] and lines[1] == "FID:  0.0", "REF A B C output: %r" % lines)
    # 4. stats / merge: shards of features in several splits -> the unsplit statistics
    x = rows(rng, 1000, d, scale=2.0, shift=50.0).astype(np.float32)
    full = write_features(os.path.join(work, "m_full.h5"), x)
    xd = x.astype(np.float64)
    mean = xd.mean(0)
    com = (xd - mean).T @ (xd - mean)
    for split in [[500, 500], [1, 999], [100, 250, 650], [3, 997]]:
        parts, o = [], 0
        for i, k in enumerate(split):
            parts.append(write_features(os.path.join(work, "m_part%d.h5" % i), x[o:o + k]))
            o += k
        # half of the parts as stats files: merge accepts both kinds
        stat_parts = []
        for i, pp in enumerate(parts):
            if i % 2 == 1:
                sp = os.path.join(work, "m_part%d_stats.h5" % i)
                run(["stats", pp, "--out", sp])
                stat_parts.append(sp)
            else:
                stat_parts.append(pp)
        for order in (stat_parts, stat_parts[::-1]):
            out = os.path.join(work, "m_out.h5")
            p = run(["merge", *order, "--out", out])
            if p.returncode != 0:
                check(False, "merge failed: " + p.stderr)
                continue
            with h5py.File(out, "r") as f:
                em = np.max(np.abs(f["mean"][()] - mean)) / np.max(np.abs(mean))
                ec = np.max(np.abs(f["comoment"][()] - com)) / np.max(np.abs(com))
                n = int(f["n"][()])
                wid = f.attrs["weights_sha256"]
                same_id = (wid.decode() if isinstance(wid, bytes) else wid) == "ab" * 32
            # 1e-12: the merge is exact up to float64 rounding (~1e-15 here)
            check(n == 1000 and em <= 1e-12 and ec <= 1e-12 and same_id,
                  "merge split %s (%s order): mean rel %.2e, comoment rel %.2e, n %d"
                  % (split, "fwd" if order is stat_parts else "rev", em, ec, n))
    g = cli_fid(os.path.join(work, "m_out.h5"), full)
    check(g is not None and g["fid"] == 0.0, "FID(merged shards, unsplit features) == 0: %s" % (g and g["fid"]))
    # 5. refusals: other extractor, other dims, --dims mismatch, directories, npz merge
    other = write_features(os.path.join(work, "m_other.h5"), x[:10], weights="cd" * 32)
    p = run(["merge", full, other, "--out", os.path.join(work, "m_bad.h5")], expect_rc=2)
    check(p.returncode == 2 and "extractor" in p.stderr, "merge of different extractors refused: %s" % p.stderr.strip())
    other_d = write_features(os.path.join(work, "m_d.h5"), x[:10, :16])
    p = run(["fid", full, other_d], expect_rc=2)
    check(p.returncode == 2 and "dimensional" in p.stderr, "different dims refused: %s" % p.stderr.strip())
    p = run(["fid", full, full, "--dims", "2048"], expect_rc=2)
    check(p.returncode == 2 and "--dims" in p.stderr, "--dims mismatch refused: %s" % p.stderr.strip())
    p = run(["fid", work, full], expect_rc=2)
    # a directory with no images (this one holds only .npz/.h5 files): exit 2, says so
    check(p.returncode == 2 and "no image files" in p.stderr, "directory without images: %s" % p.stderr.strip())
    npz = write_npz(os.path.join(work, "m.npz"), mean, np.cov(xd, rowvar=False))
    p = run(["merge", npz, npz, "--out", os.path.join(work, "m_bad.h5")], expect_rc=2)
    check(p.returncode == 2 and "sample count" in p.stderr, "npz merge refused: %s" % p.stderr.strip())
    p = run(["fid", full], expect_rc=2)
    check(p.returncode == 2, "one input -> usage error")
    p = run(["fid", full, full, "--method", "sqrtm"], expect_rc=2)
    check(p.returncode == 2, "bad --method -> usage error")
    # 6. --save-stats (pytorch-fid's option) writes numpy-readable statistics
    out = os.path.join(work, "saved.npz")
    if os.path.exists(out):
        os.remove(out)
    p = run(["fid", "--save-stats", full, out])
    with np.load(out) as f:
        ok = np.max(np.abs(f["mu"] - mean)) <= 1e-12 * np.max(np.abs(mean)) and \
            np.max(np.abs(f["sigma"] - np.cov(xd, rowvar=False))) <= 1e-12 * np.max(np.abs(com / 999))
    check(p.returncode == 0 and ok, "--save-stats npz equals numpy's mean/np.cov")
    p = run(["fid", "--save-stats", full, out], expect_rc=2)
    check(p.returncode == 2 and "existing" in p.stderr, "--save-stats refuses to overwrite")
    for sub in ["fid", "stats", "merge"]:
        p = run([sub, "--help"])
        check(p.returncode == 0 and "Usage" in p.stdout, "%s --help" % sub)


def main():
    global CLI
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    mode, CLI, work = sys.argv[1], sys.argv[2], sys.argv[3]
    big = "--big" in sys.argv
    os.makedirs(work, exist_ok=True)
    {"scipy": mode_scipy, "singular": mode_singular, "npz": mode_npz, "hostile": mode_hostile,
     "cli": mode_cli}[mode](work, big)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
