#!/usr/bin/python3
"""Independent references for copyscope's similarity metrics (tests/metrics.cmake).

  metrics_ref.py resize  TOOL WORK   PIL resize (LANCZOS/BICUBIC/BILINEAR) and convert("L"): bit-exact
  metrics_ref.py pixel   TOOL WORK   cosine/hist/dhash/ssim/rgb-ssim/fusion per pair vs PIL, OpenCV,
                                     scikit-image and numpy, on real photographs (scikit-image's data
                                     files) and generated images of several sizes and modes
  metrics_ref.py figure1 TOOL WORK   the same on ../shared/data/paper-figure1 (skipped when absent)
  metrics_ref.py kid     TOOL WORK   unbiased MMD^2 per subset vs numpy on the same subsets; subset
                                     sampling (distinct, in range, seeded, uniform)
  metrics_ref.py cli     CLI  WORK   `copyscope metrics --json` aggregation (mean/min/max, per image)
  metrics_ref.py setfeat CLI  WORK WEIGHTS  kid and fid through the CLI vs numpy/scipy on the
                                     features that `copyscope features` writes

Tolerances (why):
  resize, gray, dhash: exact (integer pipelines reproduced operation by operation).
  ssim 1e-6 absolute (the task's bar; both are float64 over the same integer data: the only
    differences are scipy's running-sum filter vs our exact integer window sums, ~1e-13).
  hist 1e-9 (OpenCV sums float32 counts in double; exact integers here, both exact to ~1e-15).
  cosine, rgb-ssim, fusion 1e-12 (float64 formulas on identical uint8 data; summation order only).
  kid per subset: 1e-9 relative to the mean kernel value (an MMD^2 is a difference of sums of
    ~m^2 kernel values; float64 dot products in another order change each by ~1e-16 relative).
Exit 77 = skipped.
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

SKIP = 77
FILTERS = {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}
SKDATA = "/usr/lib/python3/dist-packages/skimage/data"


def run(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: %s -> %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


# ---- the references, from the definitions ------------------------------------------------------
def ref_cosine(a, b):
    va = np.asarray(Image.fromarray(a).resize((64, 64), Image.LANCZOS)).mean(axis=2).ravel()
    vb = np.asarray(Image.fromarray(b).resize((64, 64), Image.LANCZOS)).mean(axis=2).ravel()
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0:  # documented convention for black images (numpy would give NaN)
        return 1.0 if na == nb else 0.0
    return float(va @ vb / (na * nb))


def ref_hist(a, b):
    import cv2
    s = 0.0
    for c in range(3):
        ha = cv2.calcHist([np.ascontiguousarray(a)], [c], None, [256], [0, 256])
        hb = cv2.calcHist([np.ascontiguousarray(b)], [c], None, [256], [0, 256])
        s += cv2.compareHist(ha, hb, cv2.HISTCMP_CORREL)
    return s / 3


def ref_dhash_bits(a):
    # the paper's DHash: image.resize((9, 8)) (PIL's default resample: BICUBIC), then convert("L")
    g = np.asarray(Image.fromarray(a).resize((9, 8)).convert("L")).astype(int)
    return (g[:, :-1] > g[:, 1:]).ravel()  # bit 8r+c: left > right


def ref_dhash(a, b):
    return 1.0 - np.count_nonzero(ref_dhash_bits(a) != ref_dhash_bits(b)) / 64.0


def resized_to(b, a):
    if b.shape[:2] == a.shape[:2]:
        return b
    return np.asarray(Image.fromarray(b).resize((a.shape[1], a.shape[0]), Image.LANCZOS))


def ref_ssim(a, b):
    from skimage.metrics import structural_similarity
    return float(structural_similarity(a, resized_to(b, a), win_size=7, channel_axis=2, data_range=255,
                                       gaussian_weights=False, use_sample_covariance=True))


def ref_rgb_ssim(a, b):
    x = a.astype(np.float64).ravel()
    y = resized_to(b, a).astype(np.float64).ravel()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = x.mean(), y.mean()
    cov = np.cov(x, y)  # ddof 1
    return float((2 * mx * my + c1) * (2 * cov[0, 1] + c2) / ((mx * mx + my * my + c1) * (cov[0, 0] + cov[1, 1] + c2)))


def ref_all(a, b):
    v = [ref_cosine(a, b), ref_hist(a, b), ref_dhash(a, b), ref_ssim(a, b), ref_rgb_ssim(a, b)]
    lo = [0, -1, 0, -1, -1]
    v.append(float(np.mean([(x - l) / (1 - l) for x, l in zip(v, lo)])))
    return v


NAMES = ["cosine", "hist", "dhash", "ssim", "rgb-ssim", "fusion"]
TOL = [1e-12, 1e-9, 0.0, 1e-6, 1e-12, 1e-6]  # fusion inherits ssim's tolerance / 5


# ---- test images ----------------------------------------------------------------------------------
def gen_images(work, rng):
    """Generated images: smooth fields + noise + shapes, various sizes and PIL modes."""
    os.makedirs(work, exist_ok=True)
    out = []
    sizes = [(64, 64), (7, 7), (8, 13), (100, 37), (141, 102), (299, 299), (33, 250), (512, 384)]
    modes = ["RGB", "L", "RGBA", "P", "RGB", "JPEG", "LA", "RGB"]
    for k, ((w, h), mode) in enumerate(zip(sizes, modes)):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([np.sin(xx / (3 + k) + c) * np.cos(yy / (5 + c)) for c in range(3)], axis=2)
        img = (127.5 + 100 * base + rng.normal(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
        img[h // 4:h // 2, w // 3:(2 * w) // 3] = rng.integers(0, 256, 3)
        im = Image.fromarray(img)
        p = os.path.join(work, "gen%02d.%s" % (k, "jpg" if mode == "JPEG" else "png"))
        if mode == "JPEG":
            im.save(p, quality=85)
        elif mode == "P":
            im.convert("P", palette=Image.ADAPTIVE, colors=64).save(p)
        elif mode == "RGBA":
            a = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
            im.putalpha(a)
            im.save(p)
        else:
            im.convert(mode).save(p)
        out.append(p)
    # a constant image and a black one (degenerate histograms/variances)
    for name, val in (("flat", 90), ("black", 0)):
        p = os.path.join(work, name + ".png")
        Image.fromarray(np.full((20, 30, 3), val, np.uint8)).save(p)
        out.append(p)
    return out


def real_images():
    names = ["astronaut.png", "coffee.png", "chelsea.png", "camera.png", "coins.png", "hubble_deep_field.jpg"]
    return [os.path.join(SKDATA, n) for n in names if os.path.exists(os.path.join(SKDATA, n))]


# ---- subcommands ------------------------------------------------------------------------------------
def cmd_resize(tool, work):
    rng = np.random.default_rng(1)
    imgs = gen_images(work, rng) + real_images()[:3]
    targets = [(64, 64), (9, 8), (1, 1), (299, 299), (3, 200), (1000, 17), (64, 500)]
    n = 0
    for p in imgs:
        a = rgb(p)
        for (w, h) in targets + [(a.shape[1], a.shape[0]), (a.shape[1] + 1, max(1, a.shape[0] // 2))]:
            for fname, f in FILTERS.items():
                if fname != "lanczos" and (w, h) not in [(64, 64), (299, 299)]:
                    continue
                out = os.path.join(work, "r.raw")
                run([tool, "resize", p, str(w), str(h), fname, out])
                got = np.fromfile(out, np.uint8).reshape(h, w, 3)
                want = np.asarray(Image.fromarray(a).resize((w, h), f))
                d = np.abs(got.astype(int) - want).max()
                if d != 0:
                    raise SystemExit("FAIL resize %s -> %dx%d %s: max |diff| %d" % (p, w, h, fname, d))
                n += 1
        out = os.path.join(work, "g.raw")
        run([tool, "gray", p, out])
        got = np.fromfile(out, np.uint8).reshape(a.shape[:2])
        if not np.array_equal(got, np.asarray(Image.fromarray(a).convert("L"))):
            raise SystemExit("FAIL gray %s" % p)
    print("resize: %d PIL resizes bit-identical (max |diff| 0), gray conversions identical" % n)


def check_pairs(tool, pairs, label):
    worst = [0.0] * 6
    for (pa, pb) in pairs:
        a, b = rgb(pa), rgb(pb)
        if min(a.shape[:2]) < 7:
            continue
        got = [float(v) for v in run([tool, "pair", pa, pb]).split()]
        want = ref_all(a, b)
        for i in range(6):
            d = abs(got[i] - want[i])
            worst[i] = max(worst[i], d)
            if not d <= TOL[i]:
                raise SystemExit("FAIL %s %s vs %s: %s got %.17g want %.17g (|diff| %.3g > %g)"
                                 % (label, pa, pb, NAMES[i], got[i], want[i], d, TOL[i]))
    print("%s: %d pairs; max |diff| %s" % (label, len(pairs), ", ".join(
        "%s %.2g" % (n, w) for n, w in zip(NAMES, worst))))


def cmd_pixel(tool, work):
    try:
        import cv2  # noqa: F401
        import skimage  # noqa: F401
    except ImportError as e:
        print("SKIP: %s (apt-get install python3-opencv python3-skimage)" % e)
        return SKIP
    rng = np.random.default_rng(2)
    gen = gen_images(work, rng)
    real = real_images()
    pairs = [(a, b) for a in gen for b in gen][::3] + [(a, a) for a in gen]
    pairs += [(a, b) for a in real for b in real] + [(a, b) for a in real[:2] for b in gen[:6]]
    # self-similarity is 1 for every metric
    for p in gen[:3] + real[:2]:
        got = [float(v) for v in run([tool, "pair", p, p]).split()]
        if any(abs(v - 1) > 1e-12 for v in got):
            raise SystemExit("FAIL self-similarity of %s: %s" % (p, got))
    check_pairs(tool, pairs, "pixel")
    # dhash against the definition, bit by bit
    for p in gen + real:
        a = rgb(p)
        bits = ref_dhash_bits(a)
        want = sum(1 << i for i in range(64) if bits[i])
        got = int(run([tool, "dhash", p]).strip(), 16)
        if got != want:
            raise SystemExit("FAIL dhash %s: %016x want %016x" % (p, got, want))
    print("dhash: %d hashes identical" % len(gen + real))


def cmd_figure1(tool, work):
    shared = os.environ.get("CS_SHARED") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
    d = os.path.join(shared, "data", "paper-figure1")
    files = sorted(glob.glob(os.path.join(d, "*.png")))
    if not files:
        print("SKIP: %s absent (the paper's Figure 1 images live in ../shared/data)" % d)
        return SKIP
    orig = [f for f in files if os.path.basename(f) == "original.png"]
    others = [f for f in files if f not in orig]
    pairs = [(o, g) for o in orig for g in others] + [(others[0], g) for g in others[1:]]
    check_pairs(tool, pairs, "figure1")


def cmd_kid(tool, work):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    worst = 0.0
    cases = [(40, 30, 16, 7, 10, 5, 0), (40, 30, 16, 7, 10, 5, 100000),  # full-Gram and per-subset paths
             (25, 60, 2048, 5, 1000, 11, 0), (300, 200, 64, 3, 50, 0, 0), (5, 9, 8, 20, 3, 2**40, 0)]
    for (n1, n2, d, nsub, msz, seed, maxgram) in cases:
        # relu-like non-negative features as Inception's pool3, with a shift between the sets
        x = np.abs(rng.normal(0.3, 0.5, (n1, d))).astype(np.float32)
        y = np.abs(rng.normal(0.35, 0.5, (n2, d))).astype(np.float32)
        x.tofile(os.path.join(work, "x.bin"))
        y.tofile(os.path.join(work, "y.bin"))
        out = os.path.join(work, "kid.bin")
        args = [tool, "kid", os.path.join(work, "x.bin"), os.path.join(work, "y.bin"), str(n1), str(n2), str(d),
                str(nsub), str(msz), str(seed), out]
        if maxgram:
            args.append(str(1))  # force the per-subset path
        run(args)
        m = min(msz, n1, n2)
        raw = np.fromfile(out, np.uint8)
        rec = 2 * m * 8 + 8
        if raw.size != nsub * rec + 16:
            raise SystemExit("FAIL kid output size")
        vals = []
        for s in range(nsub):
            blk = raw[s * rec:(s + 1) * rec]
            ix = blk[:m * 8].view(np.int64)
            iy = blk[m * 8:2 * m * 8].view(np.int64)
            got = blk[2 * m * 8:].view(np.float64)[0]
            if len(set(ix.tolist())) != m or len(set(iy.tolist())) != m or ix.min() < 0 or ix.max() >= n1 \
                    or iy.min() < 0 or iy.max() >= n2:
                raise SystemExit("FAIL kid subset %d: indices not distinct / out of range" % s)
            # numpy: the unbiased estimator (clean-fid's kernel_distance body), float64
            X, Y = x[ix].astype(np.float64), y[iy].astype(np.float64)
            a = (X @ X.T / d + 1) ** 3 + (Y @ Y.T / d + 1) ** 3
            b = (X @ Y.T / d + 1) ** 3
            want = (a.sum() - np.diag(a).sum()) / (m * (m - 1)) - b.sum() * 2 / (m * m)
            scale = abs(b).mean()
            if not abs(got - want) <= 1e-9 * scale:
                raise SystemExit("FAIL kid subset %d (n1 %d n2 %d d %d): %.17g vs %.17g" % (s, n1, n2, d, got, want))
            vals.append(want)
            worst = max(worst, abs(got - want) / scale)
        kid, std = raw[nsub * rec:].view(np.float64)
        if abs(kid - np.mean(vals)) > 1e-9 * abs(b).mean() or abs(std - np.std(vals)) > 1e-9 * abs(b).mean():
            raise SystemExit("FAIL kid mean/std %.17g %.17g vs %.17g %.17g" % (kid, std, np.mean(vals), np.std(vals)))
    # sampling: same seed -> same subsets; another seed -> others; every index drawn about equally
    n, m, nsub = 50, 10, 2000
    x = np.zeros((n, 1), np.float32)
    x.tofile(os.path.join(work, "x.bin"))
    outs = []
    for seed in (7, 7, 8):
        out = os.path.join(work, "kid%d.bin" % len(outs))
        run([tool, "kid", os.path.join(work, "x.bin"), os.path.join(work, "x.bin"), str(n), str(n), "1", str(nsub),
             str(m), str(seed), out])
        outs.append(np.fromfile(out, np.uint8))
    if not np.array_equal(outs[0], outs[1]) or np.array_equal(outs[0], outs[2]):
        raise SystemExit("FAIL kid seeding")
    rec = 2 * m * 8 + 8
    idx = np.concatenate([outs[0][s * rec:s * rec + m * 8].view(np.int64) for s in range(nsub)])
    counts = np.bincount(idx, minlength=n)
    expect = nsub * m / n  # 400 per index; binomial sd ~ 18.3
    if np.abs(counts - expect).max() > 6 * np.sqrt(expect * (1 - m / n)):
        raise SystemExit("FAIL kid sampling not uniform: counts %s" % counts)
    print("kid: %d cases, every subset equal to numpy (max |diff| %.2g of the kernel scale, bound 1e-9); "
          "sampling seeded and uniform" % (len(cases), worst))


def cmd_cli(cli, work):
    try:
        import cv2  # noqa: F401
        import skimage  # noqa: F401
    except ImportError as e:
        print("SKIP: %s" % e)
        return SKIP
    rng = np.random.default_rng(4)
    ref_dir, gen_dir = os.path.join(work, "ref"), os.path.join(work, "gen")
    gen_imgs = gen_images(gen_dir, rng)
    os.remove(gen_imgs[1])  # 7x7 is fine, but keep the set small: drop one
    for p in glob.glob(os.path.join(gen_dir, "gen0[3-7]*")):
        os.remove(p)
    os.makedirs(ref_dir, exist_ok=True)
    for k, p in enumerate(real_images()[:2]):
        Image.open(p).convert("RGB").resize((96 + 10 * k, 80)).save(os.path.join(ref_dir, "r%d.png" % k))
    out = run([cli, "metrics", ref_dir, gen_dir, "--json", "--threads", "2"])
    js = json.loads(out)
    refs = sorted(glob.glob(os.path.join(ref_dir, "*.png")))
    gens = sorted(glob.glob(os.path.join(gen_dir, "*")))
    table = np.array([[ref_all(rgb(r), rgb(g)) for r in refs] for g in gens])  # (ngen, nref, 6)
    for i, name in enumerate(NAMES):
        m = js["metrics"][name]
        for key, want in (("mean", table[:, :, i].mean()), ("min", table[:, :, i].min()), ("max", table[:, :, i].max())):
            if not abs(m[key] - want) <= TOL[i] + 1e-12:
                raise SystemExit("FAIL cli %s %s: %.17g vs %.17g" % (name, key, m[key], want))
        for g, row in enumerate(js["per_image"]):
            if not abs(row[name] - table[g, :, i].mean()) <= TOL[i] + 1e-12:
                raise SystemExit("FAIL cli per-image %s %s" % (row["path"], name))
    if [os.path.basename(r["path"]) for r in js["per_image"]] != [os.path.basename(g) for g in gens]:
        raise SystemExit("FAIL cli per-image order")
    # usage errors exit 2
    for bad in (["metrics", ref_dir], ["metrics", ref_dir, gen_dir, "--metric", "psnr"],
                ["metrics", ref_dir, os.path.join(work, "missing")]):
        r = subprocess.run([cli] + bad, capture_output=True, text=True)
        if r.returncode != 2:
            raise SystemExit("FAIL cli %s: exit %d, want 2\n%s" % (bad, r.returncode, r.stderr))
    print("cli: %d x %d pairs, mean/min/max and per-image scores equal to the references" % (len(gens), len(refs)))


def cmd_setfeat(cli, work, weights):
    import h5py
    from scipy import linalg
    if not os.path.exists(weights):
        print("SKIP: no test weights %s" % weights)
        return SKIP
    rng = np.random.default_rng(5)
    dirs = []
    for name, n, shift in (("a", 7, 0), ("b", 7, 60)):
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        for k in range(n):
            img = (rng.normal(120 + shift, 50, (40, 48, 3))).clip(0, 255).astype(np.uint8)
            Image.fromarray(img).save(os.path.join(d, "%02d.png" % k))
        dirs.append(d)
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache"))
    feats = []
    for d in dirs:
        h5 = d + ".h5"
        r = subprocess.run([cli, "features", d, "--weights", weights, "--device", "cpu", "--out", h5, "-q"],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise SystemExit("FAIL features: %s" % r.stderr)
        with h5py.File(h5, "r") as f:
            feats.append(np.asarray(f["features"], np.float64))
    r = subprocess.run([cli, "metrics", dirs[0], dirs[1], "--metric", "kid,fid", "--weights", weights, "--device",
                        "cpu", "--kid-subsets", "4", "--json"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("FAIL metrics kid,fid: %s" % r.stderr)
    js = json.loads(r.stdout)["metrics"]
    x, y = feats
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    fid = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    # scipy's sqrtm is inaccurate for these singular (n < d) covariances: 1e-3 relative is its accuracy here
    if not abs(js["fid"]["fid"] - fid) <= 1e-3 * abs(fid) + 1e-6:
        raise SystemExit("FAIL fid %.10g vs scipy %.10g" % (js["fid"]["fid"], fid))
    # kid: both sets have 7 images, so every subset (m = 7) is a whole set and the KID is the
    # unbiased MMD^2 of the full sets, exactly (1e-9 of the kernel scale; see the top), std 0
    d = x.shape[1]
    m = 7
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    want = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / (m * m)
    got = js["kid"]["kid"]
    if not abs(got - want) <= 1e-9 * abs(kxy).mean() or js["kid"]["subset_size"] != 7 or \
            not js["kid"]["std"] <= 1e-9 * abs(kxy).mean():
        raise SystemExit("FAIL kid %.17g vs numpy %.17g (std %g)" % (got, want, js["kid"]["std"]))
    print("setfeat: fid %.9g (scipy %.9g), kid %.12g (numpy %.12g)" % (js["fid"]["fid"], fid, got, want))


def main():
    cmd, tool, work = sys.argv[1], sys.argv[2], sys.argv[3]
    fn = {"resize": cmd_resize, "pixel": cmd_pixel, "figure1": cmd_figure1, "kid": cmd_kid, "cli": cmd_cli}
    if cmd == "setfeat":
        rc = cmd_setfeat(tool, work, sys.argv[4])
    else:
        rc = fn[cmd](tool, work)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
