#!/usr/bin/env python3
"""Hostile statistics, feature and image files (issue 20): each is refused with exit 2 and one line
naming the file and the problem, within 10 s, and nothing outside the file is read.

    hostile_files.py CLI WORKDIR [WEIGHTS]

Builds every hostile file with numpy/h5py in WORKDIR, runs the CLI on it and checks the exit code,
that stderr is one line naming the file, a phrase of the message, and the time. Cases needing
network weights (features/metrics of a FIFO named .png) run only when WEIGHTS exists. Valid
controls (rounding-level asymmetry and negative eigenvalues, float32 storage, a singular
covariance, compressed features) must still be accepted, so that the checks refuse nothing real."""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import h5py
import numpy as np

CLI, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WEIGHTS = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else ""
TIME_LIMIT = 10.0
failures = []


def run(args, rc=2, needles=(), name=None, timeout=TIME_LIMIT):
    """Run the CLI; check exit code rc, one stderr line naming `name` with every needle."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([CLI] + args, cwd=WORK, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        failures.append(f"{' '.join(args)}: did not finish within {timeout:.0f} s")
        print(f"FAIL {' '.join(args)}: timeout")
        return None
    dt = time.monotonic() - t0
    err = p.stderr.strip()
    problems = []
    if rc is not None and p.returncode != rc:
        problems.append(f"exit {p.returncode}, expected {rc}")
    if rc == 2:
        lines = [l for l in err.splitlines() if l.strip()]
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, expected 1")
        if name and name not in err:
            problems.append(f"message does not name {name}")
        for n in needles:
            if n not in err:
                problems.append(f"message lacks '{n}'")
    tag = "ok  " if not problems else "FAIL"
    print(f"{tag} [{dt:5.2f} s] rc={p.returncode} {' '.join(args)}\n       {err[:300]}")
    if problems:
        failures.append(f"{' '.join(args)}: {'; '.join(problems)} (stderr: {err[:300]!r})")
    return p


def savez(name, mu, sigma):
    np.savez(os.path.join(WORK, name), mu=mu, sigma=sigma)


def stats_h5(name, n, mean, co, key="comoment"):
    with h5py.File(os.path.join(WORK, name), "w") as f:
        f["n"] = np.int64(n)
        f["mean"] = mean
        f[key] = co
        f.attrs["kind"] = "stats"
        f.attrs["dims"] = np.int64(len(mean))


def features_h5(name, **kw):
    with h5py.File(os.path.join(WORK, name), "w") as f:
        f.create_dataset("features", **kw)
        f.attrs["kind"] = "features"


def write_png(path, rng, w=24, h=20):
    """A small RGB PNG of random pixels (no imaging library needed)."""
    import struct
    import zlib
    px = rng.integers(0, 256, (h, w * 3), dtype=np.uint8)
    raw = b"".join(b"\x00" + px[y].tobytes() for y in range(h))

    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    rng = np.random.default_rng(20)
    d, n = 16, 200
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    w, v = np.linalg.eigh(sigma)

    # ---- 1. impossible covariances (.npz, HDF5 statistics, merge) -----------------------------
    savez("ref.npz", mu, sigma)
    savez("neg.npz", mu, -sigma)
    w1 = w.copy()
    w1[0] = -0.05 * w[-1]  # one negative eigenvalue, every diagonal entry still positive
    neg1 = (v * w1) @ v.T
    assert np.all(np.diag(neg1) > 0)
    savez("negeig.npz", mu, (neg1 + neg1.T) / 2)
    a = sigma.copy()
    a[0, 1] += 0.25 * np.sqrt(a[0, 0] * a[1, 1])
    savez("asym.npz", mu, a)
    for bad, val in (("nan", np.nan), ("inf", np.inf), ("ninf", -np.inf)):
        a = sigma.copy()
        a[2, 3] = a[3, 2] = val
        savez(f"{bad}.npz", mu, a)
    m = mu.copy()
    m[5] = np.nan
    savez("nanmu.npz", m, sigma)
    # |s_01| > sqrt(s_00 s_11): a 2x2 minor that no covariance has
    a = sigma.copy()
    a[0, 1] = a[1, 0] = 2 * np.sqrt(a[0, 0] * a[1, 1])
    savez("minor.npz", mu, a)

    for args in (["fid", "ref.npz", "neg.npz"], ["fid", "neg.npz", "ref.npz"]):
        run(args, 2, ["diagonal entry", "negative"], "neg.npz")
    run(["fid", "ref.npz", "negeig.npz"], 2, ["not positive semi-definite"], "negeig.npz")
    run(["fid", "negeig.npz", "ref.npz"], 2, ["not positive semi-definite"], "negeig.npz")
    run(["fid", "ref.npz", "asym.npz"], 2, ["not symmetric", "(0, 1)"], "asym.npz")
    for bad in ("nan", "inf", "ninf"):
        run(["fid", "ref.npz", f"{bad}.npz"], 2, ["sigma row 2 column 3", "not finite"], f"{bad}.npz")
    run(["fid", "nanmu.npz", "ref.npz"], 2, ["mu column 5", "not finite"], "nanmu.npz")
    run(["fid", "ref.npz", "minor.npz"], 2, ["not positive semi-definite"], "minor.npz")

    stats_h5("ok.h5", n, mu, sigma * (n - 1))
    stats_h5("negco.h5", n, mu, -sigma * (n - 1))
    stats_h5("negeig.h5", n, mu, (neg1 + neg1.T) / 2 * (n - 1))
    stats_h5("negcov.h5", 0, mu, -sigma, key="covariance")
    a = sigma * (n - 1)
    a[7, 7] = np.nan
    stats_h5("nanco.h5", n, mu, a)
    stats_h5("bign.h5", 2**63 - 1, mu, sigma * (n - 1))
    stats_h5("big53.h5", 2**53, mu, sigma * (n - 1))
    stats_h5("negn.h5", -5, mu, sigma * (n - 1))
    run(["fid", "ref.npz", "negco.h5"], 2, ["diagonal entry", "negative"], "negco.h5")
    run(["fid", "negco.h5", "ref.npz"], 2, ["diagonal entry", "negative"], "negco.h5")
    run(["fid", "ref.npz", "negeig.h5"], 2, ["not positive semi-definite"], "negeig.h5")
    run(["fid", "ref.npz", "negcov.h5"], 2, ["negative"], "negcov.h5")
    run(["fid", "ref.npz", "nanco.h5"], 2, ["row 7 column 7", "not finite"], "nanco.h5")
    run(["fid", "ref.npz", "bign.h5"], 2, ["/n"], "bign.h5")
    run(["fid", "ref.npz", "negn.h5"], 2, ["/n"], "negn.h5")
    # merge: the sum of two counts must not overflow int64 (UBSan found 200 + (2^63 - 1))
    run(["merge", "ok.h5", "bign.h5", "--out", "m1.h5"], 2, ["/n"], "bign.h5")
    run(["merge", "ok.h5", "big53.h5", "--out", "m2.h5"], 2, ["2^53"], "big53.h5")
    run(["merge", "ok.h5", "negco.h5", "--out", "m3.h5"], 2, ["negative"], "negco.h5")
    for out in ("m1.h5", "m2.h5", "m3.h5"):
        if os.path.exists(os.path.join(WORK, out)):
            failures.append(f"merge wrote {out} after refusing its input")

    # valid controls: rounding must not be refused
    run(["fid", "ref.npz", "ok.h5"], 0)
    savez("f32.npz", mu.astype("<f4"), sigma.astype("<f4"))  # float32 storage: asymmetric? no, but rounded
    run(["fid", "ref.npz", "f32.npz"], 0)
    a = sigma * (1 + 1e-9 * rng.standard_normal(sigma.shape))  # rounding-level asymmetry
    savez("nearsym.npz", mu, a)
    run(["fid", "ref.npz", "nearsym.npz"], 0)
    xs = x[:8]  # n < d: a singular covariance with rounding-level negative eigenvalues
    savez("singular.npz", xs.mean(0), np.cov(xs, rowvar=False))
    p = run(["fid", "ref.npz", "singular.npz", "--json"], 0)
    if p is not None and p.returncode == 0:
        json.loads(p.stdout)
    w2 = w.copy()
    w2[0] = -1e-9 * w[-1]  # tiny negative eigenvalue: clamped (with a warning), not refused
    tiny = (v * w2) @ v.T
    savez("tinyneg.npz", mu, (tiny + tiny.T) / 2)
    run(["fid", "ref.npz", "tinyneg.npz"], 0)

    # a negative eigenvalue beyond the FID's warning level (1e-6 of the largest) but inside the
    # reader's tolerance (1e-6 of the trace): clamped, and --json says by how much
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    wc = np.linspace(1, 2, d)
    wc[0] = -6e-6
    sc = (q * wc) @ q.T
    savez("clamp.npz", np.zeros(d), (sc + sc.T) / 2)
    for args, side in ((["fid", "ref.npz", "clamp.npz", "--json"], 2),
                       (["fid", "clamp.npz", "ref.npz", "--json"], 1)):
        p = run(args, 0)
        if p is not None and p.returncode == 0:
            warns = json.loads(p.stdout)["warnings"]
            want = f"set {side}: covariance has negative eigenvalues (clamped to 0; the most negative was -3e-06 of the largest)"
            if want not in warns:
                failures.append(f"{' '.join(args)}: --json warnings {warns} lack '{want}'")

    # ---- 2. HDF5 files read nothing outside them -----------------------------------------------
    xf = x.astype("f4")
    with h5py.File(os.path.join(WORK, "good.h5"), "w") as f:
        f["features"] = xf
    fifo = os.path.join(WORK, "fifo")
    os.mkfifo(fifo)
    features_h5("ext.h5", shape=(4, d), dtype="f4", external=[("/etc/passwd", 0, h5py.h5f.UNLIMITED)])
    features_h5("extfifo.h5", shape=(4, d), dtype="f4", external=[(fifo, 0, h5py.h5f.UNLIMITED)])
    with h5py.File(os.path.join(WORK, "extlink.h5"), "w") as f:
        f["features"] = h5py.ExternalLink(os.path.join(WORK, "good.h5"), "/features")
    with h5py.File(os.path.join(WORK, "softlink.h5"), "w") as f:
        f["data"] = xf
        f["features"] = h5py.SoftLink("/data")
    lay = h5py.VirtualLayout(shape=(n, d), dtype="f4")
    lay[:] = h5py.VirtualSource(os.path.join(WORK, "good.h5"), "features", shape=(n, d))
    with h5py.File(os.path.join(WORK, "vds.h5"), "w") as f:
        f.create_virtual_dataset("features", lay)
    features_h5("lzf.h5", data=xf, compression="lzf")  # filter 32000: not one copyscope allows
    stats_h5("extstats.h5", n, mu, sigma * (n - 1))
    with h5py.File(os.path.join(WORK, "extstats.h5"), "a") as f:
        del f["comoment"]
        f.create_dataset("comoment", shape=(d, d), dtype="f8",
                         external=[("/etc/passwd", 0, h5py.h5f.UNLIMITED)])
    for name, needle in (("ext.h5", "external file"), ("extfifo.h5", "external file"),
                         ("extlink.h5", "external link"), ("softlink.h5", "soft link"),
                         ("vds.h5", "virtual dataset"), ("lzf.h5", "filter 32000")):
        run(["fid", "ref.npz", name], 2, [needle, "/features"], name)
    run(["fid", "ref.npz", "extstats.h5"], 2, ["external file", "/comoment"], "extstats.h5")
    run(["merge", "extstats.h5", "ok.h5", "--out", "m4.h5"], 2, ["external file"], "extstats.h5")
    # allowed: what copyscope and h5py write with deflate/shuffle/fletcher32
    features_h5("gzip.h5", data=xf, compression="gzip", shuffle=True, fletcher32=True)
    run(["fid", "ref.npz", "gzip.h5"], 0)
    run(["fid", "ref.npz", "good.h5"], 0)

    # ---- 3. tiny files that declare huge datasets ----------------------------------------------
    features_h5("huge.h5", shape=(2_000_000_000, 64), dtype="f4", fillvalue=1.0)
    features_h5("hugechunk.h5", shape=(2_000_000_000, 16), dtype="f4", chunks=(1024, 16),
                compression="gzip", fillvalue=1.0)
    with h5py.File(os.path.join(WORK, "hugechunk.h5"), "a") as f:
        f["features"][:1024] = 1.0  # one chunk written, the rest declared
    for name in ("huge.h5", "hugechunk.h5"):
        run(["fid", "ref.npz", name], 2, ["declares", "stores"], name)
        run(["fid", name, "ref.npz"], 2, ["declares", "stores"], name)
    with h5py.File(os.path.join(WORK, "paths.h5"), "w") as f:
        f["features"] = xf
        f["paths"] = np.array([b"a.png"] * 3)
    run(["fid", "ref.npz", "paths.h5"], 2, ["/paths has 3 entries", "200 rows"], "paths.h5")
    with h5py.File(os.path.join(WORK, "sha.h5"), "w") as f:
        f["features"] = xf
        f["sha256"] = np.array([b"0" * 64] * (n + 5))
    run(["fid", "ref.npz", "sha.h5"], 2, ["/sha256 has 205 entries"], "sha.h5")
    stats_h5("hugemean.h5", n, mu, sigma * (n - 1))
    with h5py.File(os.path.join(WORK, "hugemean.h5"), "a") as f:
        del f["comoment"]
        f.create_dataset("comoment", shape=(d, d), dtype="f8", fillvalue=0.0)
    run(["fid", "ref.npz", "hugemean.h5"], 2, ["declares", "/comoment"], "hugemean.h5")

    # dims are compared before any row is read: a 64-d features file with a NaN row against 16-d
    # statistics reports the mismatch, not the NaN (which it would meet reading the rows)
    x64 = rng.standard_normal((50, 64)).astype("f4")
    x64[5, 7] = np.nan
    with h5py.File(os.path.join(WORK, "nan64.h5"), "w") as f:
        f["features"] = x64
    run(["fid", "ref.npz", "nan64.h5"], 2, ["16-dimensional", "has 64"], "nan64.h5")
    run(["fid", "nan64.h5", "ref.npz"], 2, ["64-dimensional", "has 16"], "nan64.h5")
    run(["fid", "ref.npz", "good.h5", "nan64.h5"], 2, ["has 64"], "nan64.h5")
    run(["fid", "nan64.h5", "ok.h5", "--dims", "16"], 2, ["--dims says 16"], "nan64.h5")
    run(["stats", "good.h5", "nan64.h5", "--out", "s64.h5"], 2, ["has 64"], "nan64.h5")
    run(["merge", "nan64.h5", "good.h5", "--out", "s64.h5"], 2, ["has 16"], "nan64.h5")
    stats_h5("n1.h5", 1, mu, np.zeros((d, d)))
    run(["fid", "ref.npz", "n1.h5"], 2, ["1 sample", "at least 2"], "n1.h5")
    run(["fid", "n1.h5", "ref.npz"], 2, ["1 sample", "at least 2"], "n1.h5")

    # ---- 4. non-finite values: one rule, exit 2 with file, row and column ----------------------
    xn = xf.copy()
    xn[37, 5] = np.nan
    with h5py.File(os.path.join(WORK, "nanfeat.h5"), "w") as f:
        f["features"] = xn
    run(["fid", "ref.npz", "nanfeat.h5"], 2, ["row 37 column 5", "not finite"], "nanfeat.h5")
    run(["fid", "nanfeat.h5", "good.h5"], 2, ["row 37 column 5", "not finite"], "nanfeat.h5")
    big = np.tile(xf, (12, 1))  # 2400 rows: streamed in chunks, the row number stays absolute
    big[2100, 3] = np.inf
    with h5py.File(os.path.join(WORK, "infbig.h5"), "w") as f:
        f["features"] = big
    run(["fid", "ref.npz", "infbig.h5"], 2, ["row 2100 column 3", "not finite"], "infbig.h5")

    # ---- 5. non-regular files named explicitly -------------------------------------------------
    os.mkfifo(os.path.join(WORK, "fifo.npz"))
    os.mkfifo(os.path.join(WORK, "fifo.h5"))
    os.symlink("loop2", os.path.join(WORK, "loop1"))
    os.symlink("loop1", os.path.join(WORK, "loop2"))
    os.symlink("/dev/zero", os.path.join(WORK, "zero.npz"))
    os.symlink("nothing-here", os.path.join(WORK, "dangling.npz"))
    run(["fid", "fifo.npz", "ref.npz"], 2, ["FIFO"], "fifo.npz")
    run(["fid", "ref.npz", "fifo.h5"], 2, ["FIFO"], "fifo.h5")
    run(["merge", "fifo.h5", "--out", "m5.h5"], 2, ["FIFO"], "fifo.h5")
    run(["fid", "ref.npz", "/dev/zero"], 2, ["character device"], "/dev/zero")
    run(["fid", "ref.npz", "zero.npz"], 2, ["character device"], "zero.npz")
    run(["fid", "ref.npz", "loop1"], 2, ["symbolic link loop"], "loop1")
    run(["fid", "ref.npz", "dangling.npz"], 2, ["dangling symbolic link"], "dangling.npz")
    # an audit manifest whose reference is a FIFO (the manifest reader sniffs each path's kind)
    os.makedirs(os.path.join(WORK, "mset"), exist_ok=True)
    with open(os.path.join(WORK, "fifo-manifest.json"), "w") as f:
        json.dump({"name": "fifo", "reference": "fifo.npz", "baseline": "Base", "players": ["A"],
                   "sets": [{"coalition": [], "path": "mset"}, {"coalition": ["A"], "path": "mset"}]}, f)
    run(["audit", "fifo-manifest.json", "--utility", "rgb-ssim", "--out", "fifo-report"], 2, ["FIFO"], "fifo.npz")
    # strict JSON (host/io/json_strict.c): every manifest defect cJSON would let through is refused
    # before parsing, naming MANIFEST:LINE:COL. good is a valid manifest text; each case edits it.
    good = ('{"name": "j", "reference": "ref.npz", "baseline": "Base", "players": ["A"],\n'
            ' "sets": [{"coalition": [], "path": "mset"}, {"coalition": ["A"], "path": "mset"}]}')
    json_cases = [
        ("trailing", good.encode() + b"\n x", "3:2", "trailing data"),
        ("two-objects", good.encode() + b"\n{}", "3:1", "trailing data"),
        ("duplicate-key", good.replace('"baseline": "Base"', '"baseline": "Base",\n "baseline": "B2"').encode(),
         "2:2", "duplicate key"),
        ("nul-escape", good.replace('["A"]', '["A\\u0000B"]').encode(), "1:73", "\\u0000"),
        ("bad-utf8", good.replace('["A"]', '["A\xff"]').encode("latin-1"), "1:73", "invalid UTF-8"),
        ("overlong-utf8", good.encode().replace(b'["A"]', b'["A\xc0\xaf"]'), "1:73", "invalid UTF-8"),
        ("lone-surrogate", good.replace('["A"]', '["A\\ud800"]').encode(), "1:73", "surrogate"),
        ("truncated", good.encode()[:-3], "2:81", "truncated"),
        ("deep", b'{"name": ' + b"[" * 100000, "1:73", "nesting too deep"),
    ]
    for tag, text, where, needle in json_cases:
        fn = f"json-{tag}.json"
        with open(os.path.join(WORK, fn), "wb") as f:
            f.write(text)
        run(["audit", fn, "--utility", "rgb-ssim", "--out", f"json-{tag}-report"], 2, [f"{fn}:{where}:", needle], fn)
    with open(os.path.join(WORK, "json-good.json"), "w") as f:
        f.write(good)
    # the control: the same text unedited gets past the JSON check (then fails on the empty sets)
    p = run(["audit", "json-good.json", "--utility", "rgb-ssim", "--out", "json-good-report"], None)
    if p is not None and "json-good.json:" in p.stderr and ("duplicate" in p.stderr or "UTF-8" in p.stderr):
        failures.append(f"valid manifest refused by the JSON check: {p.stderr!r}")
    # a slurm job.json with trailing data
    os.makedirs(os.path.join(WORK, "slurmjob"), exist_ok=True)
    with open(os.path.join(WORK, "slurmjob", "job.json"), "w") as f:
        f.write('{"shards": 2, "array_job_id": 1}{"shards": 3}')
    run(["slurm", "status", "slurmjob"], 2, ["job.json:1:33:", "trailing data"], "job.json")
    if WEIGHTS and os.path.exists(WEIGHTS):
        os.mkfifo(os.path.join(WORK, "fifo.png"))
        os.makedirs(os.path.join(WORK, "imgs"))
        run(["features", "fifo.png", "--out", "feat.h5", "--weights", WEIGHTS, "--no-cache",
             "--device", "cpu"], 2, ["FIFO"], "fifo.png", timeout=60)
        run(["metrics", "fifo.png", "imgs"], 2, ["FIFO"], "fifo.png")
        run(["features", "zero.npz", "--out", "feat.h5", "--weights", WEIGHTS, "--no-cache",
             "--device", "cpu"], 2, ["character device"], "zero.npz", timeout=60)
        # image bombs and refusals (issue 21): headers that promise huge images in a few bytes,
        # each refused quickly with one line naming the file; a PIL-misread BMP variant refused
        bmp = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 65535, 4096, 1, 24, 0, 0,
                                                                              0, 0, 0, 0)
        rle = b"BM" + struct.pack("<IHHI", 1100, 0, 0, 1078) + struct.pack("<IiiHHIIiiII", 40, 60000, 4000, 1, 8, 1,
                                                                                 0, 0, 0, 0, 0) + bytes(1024) + b"\xff\x01\x00\x01"
        ramp4 = (b"BM" + struct.pack("<IHHI", 140, 0, 0, 118) + struct.pack("<IiiHHIIiiII", 40, 4, 4, 1, 4, 0, 0, 0, 0,
                                                                                  16, 0)
                 + b"".join(bytes([i, i, i, 0]) for i in range(16)) + bytes(8 * 4))
        # TIFF: 60000 x 4000 RGB in one LZW strip of 16 bytes
        ifd = [(256, 4, 60000), (257, 4, 4000), (258, 3, 8), (259, 3, 5), (262, 3, 2), (273, 4, 8 + 2 + 12 * 9 + 4),
               (277, 3, 3), (278, 4, 4000), (279, 4, 16)]
        tif = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(ifd)) + b"".join(
            struct.pack("<HHII", t, ty, 1, v) if ty == 4 else struct.pack("<HHIHH", t, ty, 1, v, 0) for t, ty, v in ifd
        ) + b"\0\0\0\0" + b"\x80" + bytes(15)
        webp = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\x10\0\0\0" + \
            (16383).to_bytes(3, "little") + (16383).to_bytes(3, "little") + b"ANMF" + struct.pack("<I", 0)
        cases = [("bomb.bmp", bmp, ["truncated BMP"]), ("bomb_rle.bmp", rle, ["RLE data ends"]),
                 ("ramp4.bmp", ramp4, ["grey palette", "misdecodes"]), ("bomb.tif", tif, ["TIFF"]),
                 ("bomb.webp", webp, ["WebP"])]
        for name, data, needles in cases:
            with open(os.path.join(WORK, name), "wb") as f:
                f.write(data)
            run(["features", name, "--out", "feat.h5", "--weights", WEIGHTS, "--no-cache", "--device", "cpu"], 2,
                needles, name, timeout=60)
        # a FIFO named like a part in the feature cache (shared storage) must not hang later runs
        for i in range(2):
            write_png(os.path.join(WORK, "imgs", f"{i}.png"), rng)
        common = ["--weights", WEIGHTS, "--cache", "cache", "--device", "cpu"]
        run(["features", "imgs", "--out", "f1.h5"] + common, 0, timeout=60)
        sub = [e for e in os.listdir(os.path.join(WORK, "cache"))]
        os.mkfifo(os.path.join(WORK, "cache", sub[0], "part-fifo.h5"))
        run(["features", "imgs", "--out", "f2.h5"] + common, 0, timeout=60)
    else:
        print("(features/metrics FIFO cases skipped: no weights file given)")
    # ViT weights files (--model): a FIFO, /dev/zero and a symbolic-link loop named as the weights,
    # and a safetensors header claiming 2^63 bytes; each refused at once, naming the file
    os.mkfifo(os.path.join(WORK, "w-fifo.safetensors"))
    os.symlink("w-loop.pth", os.path.join(WORK, "w-loop.pth"))
    with open(os.path.join(WORK, "w-huge.safetensors"), "wb") as f:
        f.write((1 << 63).to_bytes(8, "little") + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    os.makedirs(os.path.join(WORK, "vimgs"), exist_ok=True)
    write_png(os.path.join(WORK, "vimgs", "0.png"), rng)
    for model, wf, needle in (("clip-vitl14-336", "w-fifo.safetensors", "FIFO"),
                              ("dinov2-vits14", "/dev/zero", "character device"),
                              ("dinov2-vitl14", "w-loop.pth", "loop"),
                              ("dinov2-vitb14", "w-missing.pth", "w-missing.pth"),
                              ("clip-vitl14-336", "w-huge.safetensors", "header")):
        run(["features", "vimgs", "--model", model, "--weights", wf, "--out", "vf.h5", "--no-cache", "--device", "cpu"],
            2, [needle], wf)

    # ---- 7. temporary files of a killed writer are swept by the next write; disk full is said ----
    stale, fresh = os.path.join(WORK, "sw.h5.tmp-999999"), os.path.join(WORK, "sw.h5.tmp-999998")
    for f in (stale, fresh):
        with open(f, "w") as fh:
            fh.write("left by a writer killed during the final write")
    old = time.time() - 7200
    os.utime(stale, (old, old))  # dead pid, untouched for 2 h: stale; `fresh` may be another node's
    p = run(["stats", "ok.h5", "--out", "sw.h5"], 0)
    if os.path.exists(stale) or not os.path.exists(fresh):
        failures.append("stats --out sw.h5: stale sw.h5.tmp-999999 not swept, or recent tmp removed")
    small = os.path.join(WORK, "small")
    os.makedirs(small)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", small], capture_output=True).returncode == 0
    if mounted:
        try:
            with h5py.File(os.path.join(WORK, "ok128.h5"), "w") as f:
                x128 = rng.standard_normal((300, 128))
                f["n"] = np.int64(300)
                f["mean"] = x128.mean(0)
                f["comoment"] = np.cov(x128, rowvar=False) * 299
            for out in ("small/x.h5", "small/x.npz"):
                p = run(["stats", "ok128.h5", "--out", out], 1)
                if p is not None and "disk full" not in p.stderr:
                    failures.append(f"stats --out {out} on a full disk: no 'disk full' in {p.stderr!r}")
            if os.listdir(small):
                failures.append(f"files left on the full disk: {os.listdir(small)}")
        finally:
            subprocess.run(["umount", small])
    else:
        print("(disk-full cases skipped: cannot mount a small tmpfs)")

    # ---- 8. cmmd reads every feature row (cs_features_file_read): the same refusals -------------
    for name, needles in (("ext.h5", ["external file"]), ("extlink.h5", ["external link"]),
                          ("softlink.h5", ["soft link"]), ("vds.h5", ["virtual dataset"]),
                          ("lzf.h5", ["filter 32000"]), ("huge.h5", ["declares", "stores"]),
                          ("hugechunk.h5", ["declares", "stores"]), ("paths.h5", ["/paths has 3 entries"]),
                          ("nanfeat.h5", ["row 37 column 5", "not finite"]), ("fifo.h5", []),
                          ("ref.npz", ["statistics file"])):
        run(["cmmd", "good.h5", name], 2, needles, name)
        run(["cmmd", name, "good.h5"], 2, needles, name)
    run(["cmmd", "good.h5", "gzip.h5"], 0)

    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  " + f)
        return 1
    print("\nall hostile files refused; every valid control accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
