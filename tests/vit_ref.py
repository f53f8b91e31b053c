#!/usr/bin/python3
"""End-to-end tests of the Vision Transformer feature spaces against the PyTorch reference
(tools/vit_torch.py, itself checked against facebookresearch/dinov2's code: docs/feature-spaces.md).

    vit_ref.py MODE COPYSCOPE WEIGHTS WORKDIR

MODE
  features  `copyscope features --model dinov2-vits14` vs the reference on images of odd sizes,
            gray/RGBA/palette modes, PNG and JPEG: max |diff| <= 1e-4 of the feature scale; then the
            cache (a second run reads every row back, bit-identical) and --threads 1 vs 2
            (bit-identical); --json names the model
  fid       `copyscope fid A B --model dinov2-vits14` vs pytorch-fid's formula (scipy sqrtm,
            float64) on the reference's features: relative difference <= 1e-4; `stats` files
            carry the dgm-eval preprocessing identity and are refused against Inception statistics
  depth     the ViT-L/14 and ViT-g/14 (SwiGLU) code paths: WEIGHTS is a directory holding their
            reduced-depth test files (gen_vit_weights.py --depth), read with
            --testing-vit-any-depth; features vs the reference, 1e-4 of scale
  hostile   bad weights and options: exit 2 with one line naming the file or option
  gpu       (label gpu) the same features computed on a CUDA GPU (--device cuda: kernels/cuda_vit_model.cu)
            vs the reference and vs the CPU, for ViT-S/14, ViT-g/14 (2 blocks, SwiGLU) and CLIP (2
            layers); WEIGHTS: the ViT-S/14 file, the other files found beside it in testdata. Exit 77
            without a GPU (a failure under COPYSCOPE_REQUIRE_GPU=1, tests/gpu_required.h's rule)
  clip      `copyscope features --model clip-vitl14-336` on reduced-depth (2 layers) CLIP weights in the
            Hugging Face layout (WEIGHTS: a directory with the F32 and BF16 safetensors files) vs the
            reference (1e-4 of scale, unit norms); hostile safetensors files refused (exit 2, one line)
"""
import glob
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

import h5py  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import vit_torch  # noqa: E402

# Why 1e-4 of scale: copyscope and torch both compute in float32 but sum the 384..4096-term dot
# products and the attention softmax in other orders; over 12 blocks that drifts to ~1e-6 of the
# feature scale (measured 0.9e-6 .. 2e-6); 1e-4 is the bound, 50x above it, far below any
# real error (a wrong interpolation or eps moves features by > 1e-3).
FEAT_TOL = 1e-4
# Why 1e-4 relative for FD: the features' ~1e-6 drift moves FD by ~1e-7 relative (measured
# 1.4e-7); scipy's sqrtm on singular covariances (n < d) is itself accurate to ~1e-8 here.
FD_TOL = 1e-4

fails = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        fails.append(what)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def make_images(d, seed, n):
    """n images no other test uses: odd sizes, every PIL mode the decoder maps, PNG and JPEG."""
    os.makedirs(d, exist_ok=True)
    rs = np.random.RandomState(seed)
    for i in range(n):
        w, h = int(rs.randint(20, 330)), int(rs.randint(20, 330))
        yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
        img = np.stack([0.5 + 0.45 * np.sin(2 * np.pi * (rs.uniform(0.5, 5) * xx + rs.uniform(0.5, 5) * yy)
                                            + rs.uniform(0, 6)) for _ in range(3)], -1)
        img = np.clip(img + rs.normal(0, 0.04, img.shape), 0, 1)
        im = Image.fromarray((img * 255).astype(np.uint8))
        mode = i % 5
        if mode == 1:
            im = im.convert("L")
        elif mode == 2:
            im = im.convert("RGBA")
        elif mode == 3:
            im = im.convert("P", palette=Image.ADAPTIVE)
        ext = "jpg" if mode == 4 else "png"
        im.save(os.path.join(d, "v%02d.%s" % (i, ext)), **({"quality": 92} if ext == "jpg" else {}))
    return sorted(glob.glob(os.path.join(d, "*.png")) + glob.glob(os.path.join(d, "*.jpg")))


def cs_features(cs, d, weights, out, model="dinov2-vits14", extra=()):
    r = run([cs, "features", d, "--model", model, "--weights", weights, "--out", out, "--device", "cpu",
             "--json"] + list(extra))
    if r.returncode != 0:
        print(r.stderr)
        return None, None
    with h5py.File(out, "r") as f:
        return f["features"][:], f


def cmp_features(ours, ref, what):
    scale = np.abs(ref).max()
    diff = np.abs(ours.astype(np.float64) - ref).max()
    check(ours.shape == ref.shape and diff <= FEAT_TOL * scale,
          "%s: max |diff| %.3g = %.3g of scale %.4g (bound %g)" % (what, diff, diff / scale, scale, FEAT_TOL))


def mode_features(cs, weights, work):
    paths = make_images(os.path.join(work, "imgs"), 1901, 7)
    sd = vit_torch.load_state_dict(weights)
    ref = vit_torch.dinov2_features(sd, paths).astype(np.float64)
    cache = os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    ours, _ = cs_features(cs, os.path.join(work, "imgs"), weights, os.path.join(work, "a.h5"),
                          extra=["--cache", cache, "--threads", "2"])
    check(ours is not None, "copyscope features --model dinov2-vits14 ran")
    if ours is None:
        return
    cmp_features(ours, ref, "features vs PyTorch reference")
    with h5py.File(os.path.join(work, "a.h5"), "r") as f:
        attr = lambda k: f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else str(f.attrs[k])  # noqa: E731
        check(attr("model") == "dinov2-vits14" and "dgm-eval" in attr("preprocessing") and
              int(f.attrs["dims"]) == 384, "features file names the model, dgm-eval preprocessing, 384 dims")
    r = run([cs, "features", os.path.join(work, "imgs"), "--model", "dinov2-vits14", "--weights", weights, "--out",
             os.path.join(work, "b.h5"), "--device", "cpu", "--json", "--cache", cache, "--threads", "1"])
    import json
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    with h5py.File(os.path.join(work, "b.h5"), "r") as f:
        b = f["features"][:]
    check(j.get("from_cache") == 7 and j.get("model") == "dinov2-vits14" and np.array_equal(b, ours),
          "second run: 7 rows from the cache, bit-identical, --json model = dinov2-vits14")
    c, _ = cs_features(cs, os.path.join(work, "imgs"), weights, os.path.join(work, "c.h5"),
                       extra=["--no-cache", "--threads", "1", "--batch", "3"])
    check(c is not None and np.array_equal(c, ours), "--threads 1 --batch 3 vs --threads 2: bit-identical")
    # the Inception namespace of the same cache is not reused by the ViT and vice versa: a ViT run
    # with other weights (other SHA-256) computes everything again
    r = run([cs, "features", os.path.join(work, "imgs"), "--out", os.path.join(work, "d.h5"), "--device", "cpu",
             "--json", "--cache", cache, "--model", "dinov2-vits14", "--weights", weights, "--dims", "2048"])
    check(r.returncode == 2 and "384" in r.stderr, "--dims 2048 with dinov2-vits14: exit 2 naming its 384 dims")


def fd(f1, f2):
    from scipy import linalg
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
    d = mu1 - mu2
    return float(d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def mode_fid(cs, weights, work):
    pa = make_images(os.path.join(work, "A"), 2207, 9)
    pb = make_images(os.path.join(work, "B"), 3301, 8)
    sd = vit_torch.load_state_dict(weights)
    fa = vit_torch.dinov2_features(sd, pa).astype(np.float64)
    fb = vit_torch.dinov2_features(sd, pb).astype(np.float64)
    ref = fd(fa, fb)
    cache = os.path.join(work, "cache")  # later runs reuse the features (the cache is tested elsewhere)
    shutil.rmtree(cache, ignore_errors=True)
    r = run([cs, "fid", os.path.join(work, "A"), os.path.join(work, "B"), "--model", "dinov2-vits14", "--weights",
             weights, "--device", "cpu", "--no-cache"])
    ok = r.returncode == 0 and r.stdout.startswith("FID:")
    val = float(r.stdout.split()[-1]) if ok else float("nan")
    check(ok and abs(val - ref) <= FD_TOL * ref,
          "fid --model dinov2-vits14 %.10g vs reference FD_DINOv2 %.10g: relative %.3g (bound %g)" %
          (val, ref, abs(val - ref) / ref if ok else float("nan"), FD_TOL))
    st = os.path.join(work, "A.h5")
    r = run([cs, "stats", os.path.join(work, "A"), "--out", st, "--model", "dinov2-vits14", "--weights", weights,
             "--device", "cpu", "--cache", cache])
    ok = r.returncode == 0
    if ok:
        with h5py.File(st, "r") as f:
            ok = "dgm-eval" in str(f.attrs.get("preprocessing", ""))
    check(ok, "stats --model dinov2-vits14 records the dgm-eval preprocessing")
    r = run([cs, "fid", st, os.path.join(work, "B"), "--model", "dinov2-vits14", "--weights", weights,
             "--device", "cpu", "--cache", cache])
    val2 = float(r.stdout.split()[-1]) if r.returncode == 0 else float("nan")
    check(r.returncode == 0 and abs(val2 - val) <= 1e-9 * val, "fid from the stats file equals fid from images")
    # an audit in this feature space (manifest option "model"): U(S) = FD(base) - FD(S)
    pc = make_images(os.path.join(work, "C"), 4111, 6)
    fc = vit_torch.dinov2_features(sd, pc).astype(np.float64)
    want = ref - fd(fa, fc)
    import json
    man = os.path.join(work, "m.json")
    with open(man, "w") as f:
        json.dump({"baseline": "base", "players": ["P"], "reference": "A",
                   "sets": [{"coalition": [], "path": "B"}, {"coalition": ["P"], "path": "C"}],
                   "options": {"model": "dinov2-vits14", "estimator": "exact"}}, f)
    r = run([cs, "audit", man, "--weights", weights, "--device", "cpu", "--cache", cache, "--out",
             os.path.join(work, "audit"), "--quiet"])
    rep = {}
    if r.returncode == 0:
        with open(os.path.join(work, "audit", "report.json")) as f:
            rep = json.load(f)
    got = rep.get("values", {}).get("P", float("nan"))
    check(rep.get("model") == "dinov2-vits14" and rep.get("dims") == 384 and abs(got - want) <= FD_TOL * abs(want),
          "audit (manifest model dinov2-vits14): value %.8g vs reference FD difference %.8g, report names the model"
          % (got, want))


def mode_depth(cs, wdir, work):
    for arch in ("dinov2-vitl14", "dinov2-vitg14"):
        w = os.path.join(wdir, arch + "-depth2.pth")
        paths = make_images(os.path.join(work, "imgs"), 4409, 3)
        ref = vit_torch.dinov2_features(vit_torch.load_state_dict(w), paths).astype(np.float64)
        r = run([cs, "features", os.path.join(work, "imgs"), "--model", arch, "--weights", w, "--out",
                 os.path.join(work, arch + ".h5"), "--device", "cpu", "--no-cache"])
        check(r.returncode == 2 and "transformer blocks" in r.stderr,
              "%s with 2 of its blocks refused without the testing aid (exit %d)" % (arch, r.returncode))
        ours, _ = cs_features(cs, os.path.join(work, "imgs"), w, os.path.join(work, arch + ".h5"), model=arch,
                              extra=["--no-cache", "--testing-vit-any-depth"])
        check(ours is not None, "%s (2 blocks) ran" % arch)
        if ours is not None:
            cmp_features(ours, ref, "%s (2 blocks%s) vs PyTorch reference" %
                         (arch, ", SwiGLU" if arch.endswith("g14") else ""))


def mode_hostile(cs, weights, work):
    imgs = os.path.join(work, "imgs")
    make_images(imgs, 5501, 2)
    sd = torch.load(weights, map_location="cpu")

    def variant(name, mutate):
        d = dict(sd)
        mutate(d)
        p = os.path.join(work, name + ".pth")
        torch.save(d, p)
        return p

    cases = [
        ("missing block tensor", variant("missing", lambda d: d.pop("blocks.3.mlp.fc2.weight")), "blocks.3.mlp.fc2.weight"),
        ("extra tensor", variant("extra", lambda d: d.__setitem__("head.weight", torch.zeros(3, 3))), "unexpected"),
        ("pos_embed not a square grid", variant("pos", lambda d: d.__setitem__("pos_embed", d["pos_embed"][:, :1000])),
         "pos_embed"),
        ("qkv of the wrong shape", variant("qkv", lambda d: d.__setitem__("blocks.0.attn.qkv.weight",
                                                                         d["blocks.0.attn.qkv.weight"][:, :100])), "qkv"),
        ("registers", variant("reg", lambda d: d.__setitem__("register_tokens", torch.zeros(1, 4, 384))), "register"),
        ("NaN weight", variant("nan", lambda d: d.__setitem__("norm.bias", d["norm.bias"] * float("nan"))), "nan"),
    ]
    trunc = os.path.join(work, "trunc.pth")
    with open(weights, "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 2])
    cases.append(("truncated file", trunc, "trunc"))
    for what, path, needle in cases:
        r = run([cs, "features", imgs, "--model", "dinov2-vits14", "--weights", path, "--out",
                 os.path.join(work, "x.h5"), "--device", "cpu", "--no-cache"], timeout=60)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(lines) == 1 and path in lines[0] and needle.lower() in lines[0].lower(),
              "%s: exit %d, %r" % (what, r.returncode, lines[-1] if lines else ""))
    r = run([cs, "weights", "--model", "dinov2-vits14", weights])
    check(r.returncode == 0 and "model:      dinov2-vits14" in r.stdout, "weights --model dinov2-vits14 verifies the file")
    r = run([cs, "weights", "--model", "dinov2-vits14", cases[0][1]])
    check(r.returncode == 2 and cases[0][2] in r.stderr, "weights --model refuses a file with a missing tensor")
    opts = [
        (["--model", "dinov2-vitb14", "--weights", weights], "vits14"),
        (["--model", "dinov2-vits15", "--weights", weights], "--model"),
        # without a GPU the device list refuses first; with one, the ViT says it runs on the CPU only
        (["--model", "dinov2-vits14", "--weights", weights, "--device", "cuda"], ("CPU only", "no CUDA GPU")),
        (["--model", "dinov2-vits14", "--weights", weights, "--precision", "fp16", "--device", "cpu"], "fp32 only"),
    ]
    for args, needle in opts:
        r = run([cs, "features", imgs, "--out", os.path.join(work, "x.h5"), "--no-cache"] + args, timeout=60)
        lines = r.stderr.strip().splitlines()
        needles = needle if isinstance(needle, tuple) else (needle,)
        check(r.returncode == 2 and len(lines) == 1 and any(n in lines[0] for n in needles),
              "%s: exit %d, %r" % (" ".join(args[:2] + args[4:]), r.returncode, lines[-1] if lines else ""))


def st_file(path, header, data, raw_header=None):
    import json
    import struct
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    return path


def mode_clip(cs, wdir, work):
    imgs = os.path.join(work, "imgs")
    paths = make_images(imgs, 6607, 4)
    for dt in ("F32", "BF16"):
        w = os.path.join(wdir, "clip-vitl14-336-depth2-%s.safetensors" % dt)
        ref = vit_torch.clip_features(vit_torch.load_state_dict(w), paths).astype(np.float64)
        ours, _ = cs_features(cs, imgs, w, os.path.join(work, "clip-%s.h5" % dt), model="clip-vitl14-336",
                              extra=["--no-cache", "--testing-vit-any-depth"])
        check(ours is not None, "clip-vitl14-336 (%s, 2 layers) ran" % dt)
        if ours is None:
            continue
        cmp_features(ours, ref, "clip-vitl14-336 (%s weights, 2 layers) vs PyTorch reference" % dt)
        norms = np.linalg.norm(ours.astype(np.float64), axis=1)
        # float32 rows of unit norm: |norm - 1| is a few ulps of 768 summed squares
        check(np.abs(norms - 1).max() < 1e-6, "embeddings L2-normalised (max |norm - 1| %.2g)" % np.abs(norms - 1).max())
    w = os.path.join(wdir, "clip-vitl14-336-depth2-F32.safetensors")
    r = run([cs, "features", imgs, "--model", "clip-vitl14-336", "--weights", w, "--out", os.path.join(work, "x.h5"),
             "--device", "cpu", "--no-cache"])
    check(r.returncode == 2 and "transformer blocks" in r.stderr, "2-layer CLIP refused without the testing aid")
    # hostile safetensors files: each must be refused with exit 2 and one line naming the file
    f32 = np.zeros(4, np.float32).tobytes()
    ok_t = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
    cases = []
    def add(name, header, data, needle, raw=None):
        cases.append((name, st_file(os.path.join(work, name.replace(" ", "_") + ".safetensors"), header, data, raw),
                      needle))
    add("overlapping tensors", {"a": ok_t, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, f32, "overlap")
    add("bytes between tensors", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}, f32, "between")
    add("size not numel x dtype", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, f32, "bytes for")
    add("offset past the end", {"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, f32, "truncated")
    add("unknown dtype", {"a": {"dtype": "F33", "shape": [4], "data_offsets": [0, 16]}}, f32, "dtype")
    add("five dimensions", {"a": {"dtype": "F32", "shape": [1, 1, 1, 1, 4], "data_offsets": [0, 16]}}, f32,
        "dimensions")
    add("negative shape", {"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, f32, "shape")
    add("fractional offset", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 15.5]}}, f32, "data_offsets")
    add("duplicate name", None, f32, "duplicate", raw=b'{"a":%s,"a":%s}' % ((str(ok_t).replace("'", '"').encode(),) * 2))
    add("not JSON", None, f32, "invalid JSON", raw=b"{not json}")
    add("extra field", {"a": dict(ok_t, extra=1)}, f32, "unknown field")
    add("bad metadata", {"__metadata__": {"k": 1}, "a": ok_t}, f32, "metadata")
    add("not a CLIP model", {"a": ok_t}, f32, "neither")
    with open(os.path.join(work, "hugelen.safetensors"), "wb") as f:
        f.write((200 << 20).to_bytes(8, "little") + b"{}")
    cases.append(("header length over 100 MB", os.path.join(work, "hugelen.safetensors"), "header"))
    with open(w, "rb") as f:
        head = f.read(1 << 20)
    with open(os.path.join(work, "cut.safetensors"), "wb") as f:
        f.write(head)
    cases.append(("truncated CLIP file", os.path.join(work, "cut.safetensors"), "truncated"))
    for what, path, needle in cases:
        r = run([cs, "features", imgs, "--model", "clip-vitl14-336", "--weights", path, "--out",
                 os.path.join(work, "x.h5"), "--device", "cpu", "--no-cache"], timeout=60)
        lines = r.stderr.strip().splitlines()
        needle_ok = needle.lower() in (lines[0].lower() if lines else "")
        check(r.returncode == 2 and len(lines) == 1 and path in lines[0] and needle_ok,
              "%s: exit %d, %r" % (what, r.returncode, lines[-1] if lines else ""))


def mode_gpu(cs, weights, work):
    if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0")):
        if os.environ.get("COPYSCOPE_REQUIRE_GPU", "0") not in ("", "0"):
            print("vit_gpu: FAIL (COPYSCOPE_REQUIRE_GPU=1, so no skipping): cannot run: no NVIDIA device node")
            sys.exit(1)
        print("vit_gpu: skip: no NVIDIA device node")
        sys.exit(77)
    data = os.path.dirname(weights)
    runs = [("dinov2-vits14", weights, []),
            ("dinov2-vitg14", os.path.join(data, "vit-depth", "dinov2-vitg14-depth2.pth"), ["--testing-vit-any-depth"]),
            ("clip-vitl14-336", os.path.join(data, "vit-clip-weights", "clip-vitl14-336-depth2-F32.safetensors"),
             ["--testing-vit-any-depth"])]
    imgs = os.path.join(work, "imgs")
    paths = make_images(imgs, 7703, 37)  # more than one 32-image GPU chunk
    for model, w, extra in runs:
        if not os.path.exists(w):
            check(False, "%s: test weights %s missing (fixtures vit_depth / vit_clip)" % (model, w))
            continue
        sd = vit_torch.load_state_dict(w)
        ref = (vit_torch.clip_features if model.startswith("clip") else vit_torch.dinov2_features)(sd, paths)
        ours = {}
        for dev in ("cuda", "cpu"):
            r = run([cs, "features", imgs, "--model", model, "--weights", w, "--out", os.path.join(work, dev + ".h5"),
                     "--device", dev, "--no-cache", "--json"] + extra)
            check(r.returncode == 0, "%s --device %s ran (%s)" % (model, dev, r.stderr.strip()[-200:]))
            if r.returncode == 0:
                with h5py.File(os.path.join(work, dev + ".h5"), "r") as f:
                    ours[dev] = f["features"][:]
        if "cuda" in ours:
            cmp_features(ours["cuda"], ref.astype(np.float64), "%s on the GPU vs PyTorch reference" % model)
        if len(ours) == 2:
            cmp_features(ours["cuda"], ours["cpu"].astype(np.float64), "%s: GPU vs CPU" % model)


def main():
    mode, cs, weights, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    {"features": mode_features, "fid": mode_fid, "depth": mode_depth, "hostile": mode_hostile,
     "clip": mode_clip, "gpu": mode_gpu}[mode](cs, weights, work)
    print("FAILED: %d check(s)" % len(fails) if fails else "all checks passed")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
