#!/usr/bin/python3
"""FID protocols, Inception Score and torch-fidelity's KID against the peer libraries themselves.

    protocols_ref.py MODE TEST_PROTOCOLS COPYSCOPE WEIGHTS WORKDIR

MODE:
  rng         numpy's legacy RandomState(seed).permutation(n) and random_interval, several (seed, n),
              against copyscope's MT19937 (host/core/np_random.c): identical integers.
  resize      the two resizers on float32 planes of assorted sizes (down, up, one axis, 1x1, 299):
              torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x and clean-fid's
              make_resizer("PIL", False, "bicubic", (299, 299)): bit-identical (max |diff| 0).
  preprocess  whole images (H, W, 3) uint8 -> network input, per protocol, against the peers'
              own steps (torch-fidelity: uint8 -> float -> its resize -> (x - 128) / 128;
              clean-fid: its resizer -> ToTensor -> (x - 128) / 128 as its TorchScript wrapper;
              pytorch-fid: pytorch-fid's own InceptionV3 input transform): bit-identical.
  features    `copyscope features --protocol P` on PNG files of assorted sizes vs the peer's
              features: torch-fidelity's FeatureExtractorInceptionV3 on the test weights file;
              clean-fid: its resizer, then its wrapper's (x - 128) / 128 and pytorch-fid's
              network architecture on the same weights (clean-fid's TorchScript model file cannot
              be fetched here; it is NVIDIA's conversion of the same TF graph); dims 64 and 2048:
              max |diff| <= 1e-4 of the feature scale.
  fid         `copyscope fid A B --protocol P` vs the peer's own FID on the same folders:
              torch_fidelity.calculate_metrics(fid=True) and clean-fid's compute_fid(mode="clean")
              (its folder listing, resizer and Frechet code; custom_feat_extractor = the network
              above), at 64 dims (70 images per set: full rank) and 2048 dims (12 per set),
              1e-5 relative.
  iscmath     cs_isc_compute vs torch-fidelity's isc_features_to_metric on the same float64 logits
              (N not a multiple of the splits, shuffled or not): 1e-12 relative.
  isc         `copyscope isc A --json` vs torch_fidelity.calculate_metrics(isc=True): 1e-6 relative.
  kid         `copyscope metrics -m kid --protocol torch-fidelity` (torch-fidelity's sampler) vs
              torch_fidelity.calculate_metrics(kid=True): the same subsets (float64 recomputation
              of torch-fidelity's formula on its features: 1e-9), and the peer's float32 number.
  cli         aliases, refusals (exit 2), the protocol in --json and in the cache key.
  listing     each protocol lists a directory as its peer does (`features`, `fid`, `audit` with
              --protocol and with options.protocol): the image paths equal the peer's own listing
              code on a folder with .PNG/.JPEG/.webp names, a subdirectory and a dotfile.

Exit 0 pass, 1 fail, 77 skip (the peers are not installed). Peers: $CS_PEERS
(/opt/copyscope-tools/pypeers by default), installed by tools/install-deps.sh.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

PEERS = os.environ.get("CS_PEERS", "/opt/copyscope-tools/pypeers")
OUT = 299


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def need_peers():
    for mod in ("torch_fidelity", "cleanfid", "pytorch_fid"):
        if not os.path.isdir(os.path.join(PEERS, mod)):
            skip(f"peer library {mod} not installed in {PEERS} (tools/install-deps.sh installs it)")
    if PEERS not in sys.path:
        sys.path.insert(0, PEERS)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, check=True, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {r.returncode}: {r.stderr.strip()}")
    return r


# ---- images none of the other tests use ----------------------------------------------------------
SIZES = [(64, 64), (300, 200), (299, 299), (299, 150), (150, 299), (500, 333), (37, 41), (128, 96),
         (640, 480), (1, 1), (3, 700), (301, 298)]


def make_image(w, h, seed):
    """Smooth colour fields, edges and noise: natural-ish statistics at any size."""
    rng = np.random.default_rng(seed + 7919)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.5, 6, 2).tolist() + [rng.uniform(0, 6.28)]
        img[..., c] = 127 + 80 * np.sin(2 * np.pi * (fx * x / max(w, 1) + fy * y / max(h, 1)) + ph)
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.5) * max(w, h)
    disk = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    img[disk] = rng.uniform(0, 255, 3)
    img += rng.normal(0, rng.uniform(2, 30), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_folder(path, sizes, seed0):
    from PIL import Image
    os.makedirs(path, exist_ok=True)
    files = []
    for i, (w, h) in enumerate(sizes):
        f = os.path.join(path, f"img{i:03d}.png")
        Image.fromarray(make_image(w, h, seed0 + i)).save(f)
        files.append(f)
    return files


# ---- the peers' preprocessing -----------------------------------------------------------------
def tf1_resize_peer(plane):
    import torch
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    x = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    return interpolate_bilinear_2d_like_tensorflow1x(x, size=(OUT, OUT), align_corners=False)[0, 0].numpy()


def clean_resizer():
    from cleanfid.resize import make_resizer
    return make_resizer("PIL", False, "bicubic", (OUT, OUT))


def peer_input(protocol, rgb):
    """(3, 299, 299) float32 network input of one (H, W, 3) uint8 image, by the peer's own code."""
    import torch
    if protocol == "torch-fidelity":
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float32)  # forward(): x.to(float32)
        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(OUT, OUT), align_corners=False)
        return ((x - 128) / 128)[0].numpy()
    if protocol == "clean-fid":
        import torchvision.transforms as T
        x = T.ToTensor()(clean_resizer()(rgb))  # float32 HWC -> CHW, no /255 for float input
        return ((x - 128) / 128).numpy()  # InceptionV3W.forward: x1 = x - 128; x2 = x1 / 128
    if protocol == "pytorch-fid":
        from pytorch_fid.inception import InceptionV3
        import torch.nn.functional as F
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float32) / 255  # ToTensor
        x = F.interpolate(x, size=(OUT, OUT), mode="bilinear", align_corners=False)
        return (2 * x - 1)[0].numpy()  # InceptionV3.forward with resize_input and normalize_input
    raise ValueError(protocol)


# ---- modes ------------------------------------------------------------------------------------
def mode_rng(tp, **_):
    for seed, n in [(2020, 0), (2020, 1), (2020, 2), (2020, 10), (2020, 1000), (0, 1000), (123456789, 777),
                    (4294967295, 300), (2020, 70000)]:
        got = np.array([int(v) for v in run([tp, "perm", str(seed), str(n)]).stdout.split()], dtype=np.int64)
        want = np.random.RandomState(seed).permutation(n)
        if got.shape != want.shape or not np.array_equal(got, want):
            fail(f"permutation(seed {seed}, n {n}) differs from numpy")
        print(f"permutation seed {seed} n {n}: identical to numpy")
    # choice(n, m, replace=False) = permutation(n)[:m], drawn from one stream (torch-fidelity's KID)
    rs = np.random.RandomState(2020)
    a, b = rs.choice(50, 20, replace=False), rs.choice(40, 20, replace=False)
    rs2 = np.random.RandomState(2020)
    pa, pb = rs2.permutation(50)[:20], rs2.permutation(40)[:20]
    if not (np.array_equal(a, pa) and np.array_equal(b, pb)):
        fail("numpy's choice(replace=False) is not permutation()[:m] in this numpy")
    print("choice(n, m, replace=False) == permutation(n)[:m] in this numpy")


def mode_iscmath(tp, work, **_):
    import torch
    from torch_fidelity.metric_isc import isc_features_to_metric
    rng = np.random.default_rng(77)
    for n, c, splits, shuffle, scale in ((10, 1008, 10, 1, 1.0), (37, 1008, 10, 1, 3.0), (1234, 1008, 10, 1, 0.5),
                                         (250, 100, 7, 0, 5.0), (100, 1008, 10, 1, 30.0)):
        logits = rng.normal(0, scale, (n, c))
        src = os.path.join(work, "logits.f64")
        logits.tofile(src)
        got = [float(v) for v in run([tp, "isc", str(n), str(c), str(splits), str(shuffle), src]).stdout.split()]
        want = isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=bool(shuffle), rng_seed=2020)
        want = [want["inception_score_mean"], want["inception_score_std"]]
        rel = [abs(g - w) / abs(want[0]) for g, w in zip(got, want)]  # of the score's scale (std can be 0)
        print(f"n {n} classes {c} splits {splits} shuffle {shuffle} logit scale {scale}: isc {got[0]:.12g} vs "
              f"{want[0]:.12g}, std {got[1]:.12g} vs {want[1]:.12g} (differences {rel[0]:.2g}, {rel[1]:.2g} of the score)")
        # 1e-12: the same float64 operations, summed in another order (torch's vectorised sums)
        if not max(rel) <= 1e-12:
            fail(f"isc of n {n}: relative differences {rel} (bound 1e-12)")


def mode_resize(tp, work, **_):
    os.makedirs(work, exist_ok=True)
    resizer = clean_resizer()
    rng = np.random.default_rng(20261207)
    for (w, h) in SIZES + [(1000, 17), (299, 1), (2000, 1500)]:
        plane = rng.integers(0, 256, (h, w)).astype(np.float32)
        src = os.path.join(work, "in.f32")
        plane.tofile(src)
        for kind in ("tf1", "clean"):
            dst = os.path.join(work, "out.f32")
            run([tp, "resize", kind, str(w), str(h), src, dst])
            got = np.fromfile(dst, dtype=np.float32).reshape(OUT, OUT)
            if kind == "tf1":
                want = tf1_resize_peer(plane)
            else:  # clean-fid resizes an (H, W, 3) array channel by channel
                want = resizer(np.repeat(plane.astype(np.uint8)[..., None], 3, axis=2))[..., 0]
            # Tolerance 0: both reproduce the peers' float operations in their order (torch: one
            # rounding per tensor op; PIL: float64 sums of float32 pixels stored as float32).
            d = float(np.max(np.abs(got.astype(np.float64) - want)))
            print(f"{kind:5s} {w}x{h}: max |diff| {d:.3g}")
            if d != 0.0:
                fail(f"{kind} resize of {w}x{h} differs from the peer by {d}")


def mode_preprocess(tp, work, **_):
    os.makedirs(work, exist_ok=True)
    for i, (w, h) in enumerate(SIZES):
        rgb = make_image(w, h, 500 + i)
        src = os.path.join(work, "in.u8")
        rgb.tofile(src)
        for proto in ("pytorch-fid", "clean-fid", "torch-fidelity"):
            dst = os.path.join(work, "out.f32")
            run([tp, "preprocess", proto, str(w), str(h), src, dst])
            got = np.fromfile(dst, dtype=np.float32).reshape(3, OUT, OUT)
            want = peer_input(proto, rgb)
            d = float(np.max(np.abs(got.astype(np.float64) - want)))
            print(f"{proto:14s} {w}x{h}: max |diff| {d:.3g}")
            # 0 for clean-fid and torch-fidelity (same operations, same order). pytorch-fid:
            # copyscope reproduces torch's AVX2 kernel (fused multiply-adds, preprocess.c) while
            # F.interpolate may take another kernel on this CPU: one float32 rounding, 2^-23 * 2.
            tol = 2.5e-7 if proto == "pytorch-fid" else 0.0
            if d > tol:
                fail(f"{proto} preprocessing of {w}x{h} differs from the peer by {d} (tolerance {tol})")


def load_weights_into(net, weights):
    import torch
    sd = torch.load(weights, map_location="cpu")
    net.load_state_dict(sd, strict=False)
    return net


def tf_extractor(weights, layers):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    return FeatureExtractorInceptionV3("inception-v3-compat", list(layers), feature_extractor_weights_path=weights)


def fid_network(weights):
    """pytorch-fid's architecture on the weights file (tools/fid_inception_torch.py), for clean-fid."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import fid_inception_torch as ref
    return ref.load_network(weights)


def peer_features(protocol, files, weights, dims):
    import torch
    from PIL import Image
    rows = []
    with torch.no_grad():
        if protocol == "torch-fidelity":
            ex = tf_extractor(weights, [str(dims)])
            ex.eval()
            for f in files:
                x = torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None].contiguous()
                rows.append(ex(x)[0][0].numpy())
        else:
            net = fid_network(weights)
            for f in files:
                x = torch.from_numpy(peer_input(protocol, np.array(Image.open(f).convert("RGB"))))[None]
                rows.append(net(x, dims=dims)[0].numpy())
    return np.stack(rows).astype(np.float64)


def copyscope_features(cs, weights, work, folder, protocol, dims, extra=(), tag=""):
    import h5py
    out = os.path.join(work, f"feat-{protocol}-{dims}{tag}.h5")
    r = run([cs, "features", folder, "--out", out, "--weights", weights, "--dims", str(dims), "--protocol",
             protocol, "--cache", os.path.join(work, "cache"), "--json", "-q", *extra])
    meta = json.loads(r.stdout)
    if meta.get("protocol") != protocol:
        fail(f"features --json says protocol {meta.get('protocol')!r}, expected {protocol}")
    with h5py.File(out, "r") as h:
        return np.array(h["features"], dtype=np.float64), h.attrs["protocol"], meta


def mode_features(tp, cs, weights, work, **_):
    folder = os.path.join(work, "imgs")
    files = write_folder(folder, SIZES, 3100)
    for protocol in ("torch-fidelity", "clean-fid", "pytorch-fid"):
        for dims in (64, 2048):
            got, attr, _ = copyscope_features(cs, weights, work, folder, protocol, dims)
            attr = attr.decode() if isinstance(attr, bytes) else attr
            if attr != protocol:
                fail(f"features file says protocol {attr!r}")
            want = peer_features(protocol, files, weights, dims)
            scale = float(np.max(np.abs(want)))
            d = float(np.max(np.abs(got - want)))
            # 1e-4 of the feature scale: float32 convolutions summed in another order (OpenBLAS
            # sgemm vs torch's mkldnn/im2col) through 94 layers; the project's network bound.
            print(f"{protocol:14s} dims {dims:4d}: max |diff| {d:.3g}, scale {scale:.3g}, ratio {d / scale:.3g}")
            if not d <= 1e-4 * scale:
                fail(f"{protocol} features at {dims} dims differ by {d / scale:.3g} of scale (bound 1e-4)")


def _copyscope_fid(cs, weights, work, a, b, protocol, dims):
    r = run([cs, "fid", a, b, "--weights", weights, "--dims", str(dims), "--protocol", protocol, "--json",
             "--cache", os.path.join(work, "cache"), "--quiet"])
    j = json.loads(r.stdout)
    if j.get("protocol") != protocol:
        fail(f"fid --json says protocol {j.get('protocol')!r}, expected {protocol}")
    return float(j["fid"])


def _torch_fidelity_metrics(a, b, weights, **kw):
    import torch_fidelity
    return torch_fidelity.calculate_metrics(input1=a, input2=b, cuda=False, batch_size=1, cache=False,
                                            verbose=False, feature_extractor_weights_path=weights, **kw)


class CleanFidNet:
    """clean-fid's custom_feat_extractor: its InceptionV3W normalisation then the network."""

    def __init__(self, weights, dims):
        self.net, self.dims = fid_network(weights), dims

    def __call__(self, x):
        import torch
        with torch.no_grad():
            return self.net((x - 128) / 128, dims=self.dims)

    def eval(self):
        return self


def _clean_fid(a, b, weights, dims):
    import torch
    from cleanfid import fid as cfid
    return float(cfid.compute_fid(a, b, mode="clean", custom_feat_extractor=CleanFidNet(weights, dims),
                                  num_workers=0, batch_size=1, device=torch.device("cpu"), verbose=False))


def two_folders(work, n):
    rng = np.random.default_rng(n)
    sizes = [(int(w), int(h)) for w, h in rng.integers(30, 330, (2 * n, 2))]
    a = os.path.join(work, f"A{n}")
    b = os.path.join(work, f"B{n}")
    write_folder(a, sizes[:n], 7000 + n)
    write_folder(b, sizes[n:], 9000 + n)  # other seeds: another distribution of phases/colours
    return a, b


def mode_fid(cs, weights, work, **_):
    results = []
    for dims, n in ((64, 70), (2048, 12)):  # 64: full-rank covariances (n > d)
        a, b = two_folders(work, n)
        for protocol in ("torch-fidelity", "clean-fid"):
            ours = _copyscope_fid(cs, weights, work, a, b, protocol, dims)
            if protocol == "torch-fidelity":
                peer = float(_torch_fidelity_metrics(a, b, weights, fid=True, feature_layer_fid=str(dims))
                             ["frechet_inception_distance"])
            else:
                peer = _clean_fid(a, b, weights, dims)
            rel = abs(ours - peer) / abs(peer)
            print(f"{protocol:14s} dims {dims:4d} n {n}: copyscope {ours:.10g}, peer {peer:.10g}, rel diff {rel:.3g}")
            results.append((protocol, dims, rel))
    # 1e-5 relative: the features agree to ~1e-6 of scale (float32 network) and both FIDs are
    # float64 from there (the bound for FIDs from images).
    bad = [r for r in results if not r[2] <= 1e-5]
    if bad:
        fail(f"FID differs from the peer beyond 1e-5 relative: {bad}")


def mode_isc(cs, weights, work, **_):
    a, _ = two_folders(work, 24)
    r = run([cs, "isc", a, "--weights", weights, "--json", "--cache", os.path.join(work, "cache"), "--quiet"])
    j = json.loads(r.stdout)
    if j.get("protocol") != "torch-fidelity":
        fail(f"isc --json says protocol {j.get('protocol')!r}")
    m = _torch_fidelity_metrics(a, None, weights, isc=True)
    for key, ours in (("inception_score_mean", j["isc_mean"]), ("inception_score_std", j["isc_std"])):
        peer = float(m[key])
        rel = abs(ours - peer) / abs(peer)
        print(f"{key}: copyscope {ours:.12g}, torch-fidelity {peer:.12g}, rel diff {rel:.3g}")
        # 1e-6 (the bound): float32 features and logits agree to ~1e-6 relative; the
        # score is float64 from there in both, with the same shuffle and splits
        if not rel <= 1e-6:
            fail(f"{key} differs by {rel:.3g} relative (bound 1e-6)")


def mode_kid(cs, weights, work, **_):
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric
    a, b = two_folders(work, 24)
    m, subsets = 16, 100  # torch-fidelity needs subset size <= both set sizes
    r = run([cs, "metrics", a, b, "-m", "kid", "--protocol", "torch-fidelity", "--weights", weights,
             "--kid-subset-size", str(m), "--json", "--cache", os.path.join(work, "cache")])
    j = json.loads(r.stdout)["metrics"]["kid"]
    if j.get("sampler") != "torch-fidelity" or j.get("seed") != 2020 or j.get("protocol") != "torch-fidelity":
        fail(f"metrics --json kid: sampler/seed/protocol {j.get('sampler')}/{j.get('seed')}/{j.get('protocol')}")
    # 1. the sampler: torch-fidelity's own kid_features_to_metric on copyscope's features (read
    # back from `copyscope features`, served by the same cache), in float64
    f1, _, _ = copyscope_features(cs, weights, work, a, "torch-fidelity", 2048)
    f2, _, _ = copyscope_features(cs, weights, work, b, "torch-fidelity", 2048, tag="-b")
    kw = dict(kid_subsets=subsets, kid_subset_size=m, verbose=False, rng_seed=2020, kid_kernel="poly",
              kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    same = kid_features_to_metric(torch.from_numpy(f1), torch.from_numpy(f2), **kw)
    # 2. torch-fidelity end to end (its features, its float32 kernels)
    peer = _torch_fidelity_metrics(a, b, weights, kid=True, kid_subset_size=m, kid_subsets=subsets)
    for key, ours, name in (("kernel_inception_distance_mean", j["kid"], "kid"),
                            ("kernel_inception_distance_std", j["std"], "std")):
        p64, pp = float(same[key]), float(peer[key])
        r64, rp = abs(ours - p64) / abs(p64), abs(ours - pp) / abs(pp)
        print(f"{name}: copyscope {ours:.12g}; torch-fidelity's formula on copyscope's features {p64:.12g} "
              f"(rel {r64:.3g}); torch-fidelity end to end {pp:.12g} (rel {rp:.3g})")
        # 1e-9: the same features and subsets, float64 sums in another order (other subsets move
        # KID by tens of percent at this size, so this checks the sampler)
        if not r64 <= 1e-9:
            fail(f"{name} differs from torch-fidelity's formula on the same features by {r64:.3g} (bound 1e-9)")
        # 1e-3 end to end: the features differ by ~7e-6 of scale (float32 network), the cubic
        # kernel triples that and the unbiased MMD^2 cancels most of its terms (measured 2.2e-4 at
        # m = 16); torch-fidelity's float32 kernels add ~5e-6
        if not rp <= 1e-3:
            fail(f"{name} differs from torch-fidelity by {rp:.3g} (bound 1e-3)")
    # and the default sampler is not torch-fidelity's: the check above can fail
    r = run([cs, "metrics", a, b, "-m", "kid", "--protocol", "torch-fidelity", "--kid-sampler", "copyscope",
             "--weights", weights, "--kid-subset-size", str(m), "--json", "--cache", os.path.join(work, "cache")])
    other = json.loads(r.stdout)["metrics"]["kid"]["kid"]
    print(f"copyscope's own sampler: kid {other:.12g} (rel {abs(other - float(same['kernel_inception_distance_mean'])) / abs(float(same['kernel_inception_distance_mean'])):.3g} from torch-fidelity's subsets)")


def mode_cli(cs, weights, work, **_):
    folder = os.path.join(work, "imgs")
    write_folder(folder, SIZES[:4], 4200)
    cache = os.path.join(work, "cache")
    outs = {}
    for alias, canon in (("legacy_pytorch", "pytorch-fid"), ("clean", "clean-fid"), ("tensorflow", "torch-fidelity"),
                         ("legacy_tensorflow", "torch-fidelity"), ("torch-fidelity", "torch-fidelity")):
        out = os.path.join(work, f"{alias}.h5")
        r = run([cs, "features", folder, "--out", out, "--weights", weights, "--dims", "64", "--protocol", alias,
                 "--cache", cache, "--json", "-q"])
        j = json.loads(r.stdout)
        if j["protocol"] != canon:
            fail(f"--protocol {alias}: json says {j['protocol']}, expected {canon}")
        import h5py
        with h5py.File(out, "r") as h:
            outs.setdefault(canon, []).append((np.array(h["features"]), j["computed"], j["from_cache"]))
    # the cache key holds the protocol: each protocol computed once, then served from the cache
    tf = outs["torch-fidelity"]
    if tf[0][1] != 4 or tf[1][2] != 4 or tf[2][2] != 4 or not all(np.array_equal(tf[0][0], t[0]) for t in tf):
        fail(f"torch-fidelity features: not cached per protocol ({[(t[1], t[2]) for t in tf]})")
    if outs["pytorch-fid"][0][1] != 4 or outs["clean-fid"][0][1] != 4:
        fail("a new protocol was served from another protocol's cache entries")
    d = [np.max(np.abs(outs[p][0][0] - outs["pytorch-fid"][0][0])) for p in ("clean-fid", "torch-fidelity")]
    if min(d) == 0:
        fail("two protocols gave identical features")
    # the GPU route (decoded pixels to the device, which preprocesses as pytorch-fid) run on the CPU
    # with the testing aid: other protocols must stay on the host and give the same features
    import h5py
    for proto, canon in (("clean", "clean-fid"), ("torch-fidelity", "torch-fidelity"), ("pytorch-fid", "pytorch-fid")):
        out = os.path.join(work, f"gpu-route-{proto}.h5")
        j = json.loads(run([cs, "features", folder, "--out", out, "--weights", weights, "--dims", "64", "--protocol",
                            proto, "--no-cache", "--json", "-q", "--testing-cpu-preprocess"]).stdout)
        with h5py.File(out, "r") as h:
            same = np.array_equal(np.array(h["features"]), outs[canon][0][0])
        want_dev = 4 if canon == "pytorch-fid" else 0
        if not same or j["device_preprocessed"] != want_dev:
            fail(f"{proto} through the GPU route: identical {same}, device-preprocessed {j['device_preprocessed']}")
    print("GPU route (testing aid): other protocols preprocessed on the host, identical features")
    print(f"aliases, cache per protocol: ok (features differ across protocols by {d[0]:.3g}, {d[1]:.3g})")
    for argv in ([cs, "features", folder, "--out", os.path.join(work, "x.h5"), "--protocol", "bogus"],
                 [cs, "fid", folder, folder, "--protocol", "bogus"],
                 [cs, "isc", folder, "--dims", "64"],
                 [cs, "metrics", folder, folder, "-m", "kid", "--kid-sampler", "bogus"]):
        r = run(argv, check=False)
        if r.returncode != 2 or len(r.stderr.strip().splitlines()) != 1:
            fail(f"{argv[1:]}: exit {r.returncode}, stderr {r.stderr!r} (expected exit 2, one line)")
    # FID between files of two protocols: the extractor warning
    r = run([cs, "fid", os.path.join(work, "clean.h5"), os.path.join(work, "tensorflow.h5"), "--json"])
    j = json.loads(r.stdout)
    if j.get("protocol1") != "clean-fid" or j.get("protocol2") != "torch-fidelity" or not j["warnings"]:
        fail(f"fid of two protocols' features: {j}")
    print("refusals and the mixed-protocol warning: ok")
    # stats: the protocol in the statistics file; fid of two clean-fid inputs says so, no warning
    st = os.path.join(work, "stats.h5")
    run([cs, "stats", folder, "--out", st, "--weights", weights, "--dims", "64", "--protocol", "clean",
         "--cache", cache, "--quiet"])
    j = json.loads(run([cs, "fid", st, os.path.join(work, "clean.h5"), "--json"]).stdout)
    if j.get("protocol") != "clean-fid" or any("extractor" in w for w in j["warnings"]) or abs(float(j["fid"])) > 1e-6:
        fail(f"fid of clean-fid statistics vs the same images' clean-fid features: {j}")
    print("stats --protocol: ok")
    # audit: the manifest's options.protocol, in report.json; a features file of another protocol
    # is refused (exit 2) like one of other dims
    sets = os.path.join(work, "sets")
    for k, name in enumerate(("base", "base+A")):
        write_folder(os.path.join(sets, name), [(48, 40)] * 3, 6100 + 10 * k)
    ref = os.path.join(work, "ref")
    write_folder(ref, [(50, 44)] * 3, 6300)
    manifest = os.path.join(work, "manifest.json")

    def audit(options, set0):
        with open(manifest, "w") as f:
            json.dump({"reference": ref, "baseline": "base", "players": ["A"],
                       "sets": [{"coalition": [], "path": set0},
                                {"coalition": ["A"], "path": os.path.join(sets, "base+A")}],
                       "options": options}, f)
        return run([cs, "audit", manifest, "--out", os.path.join(work, "report"), "--weights", weights,
                    "--cache", cache, "--json", "-q"], check=False)

    r = audit({"dims": 64, "protocol": "clean"}, os.path.join(sets, "base"))
    if r.returncode != 0 or json.loads(r.stdout).get("protocol") != "clean-fid":
        fail(f"audit with options.protocol clean: exit {r.returncode}, {r.stderr.strip()} {r.stdout[:200]}")
    r = audit({"dims": 64, "protocol": "torch-fidelity"}, os.path.join(work, "clean.h5"))
    if r.returncode != 2 or "protocol" not in r.stderr:
        fail(f"audit mixing a clean-fid features file into a torch-fidelity audit: exit {r.returncode}, {r.stderr!r}")
    r = audit({"dims": 64, "protocol": "nope"}, os.path.join(sets, "base"))
    if r.returncode != 2 or "options.protocol" not in r.stderr:
        fail(f"audit with options.protocol nope: exit {r.returncode}, {r.stderr!r}")
    print("audit: options.protocol in report.json, other protocols' features refused: ok")


def _peer_listing(protocol, d):
    """The peer's own listing code (as tests/image_listing_ref.py runs it)."""
    import glob
    import pathlib
    sys.path.insert(0, PEERS)
    if protocol == "pytorch-fid":
        from pytorch_fid.fid_score import IMAGE_EXTENSIONS
        return [str(f) for f in sorted(f for ext in IMAGE_EXTENSIONS for f in pathlib.Path(d).glob(f"*.{ext}"))]
    if protocol == "clean-fid":
        from cleanfid.utils import EXTENSIONS
        return sorted(f for ext in EXTENSIONS for f in glob.glob(os.path.join(d, f"**/*.{ext}"), recursive=True))
    from torch_fidelity.utils import glob_samples_paths
    from torch_fidelity.defaults import DEFAULTS
    return glob_samples_paths(d, DEFAULTS["samples_find_deep"], DEFAULTS["samples_find_ext"],
                              DEFAULTS["samples_ext_lossy"], verbose=False)


def mode_listing(cs, weights, work, **_):
    import h5py
    from PIL import Image
    d = os.path.join(work, "mixed")
    os.makedirs(os.path.join(d, "sub"))
    names = ["a.png", "b.PNG", "c.JPEG", "d.jpg", "e.webp", "f.Jpg", ".g.png", "sub/h.png", "sub/i.JPEG"]
    for i, n in enumerate(names):
        img = Image.fromarray(make_image(40 + 3 * i, 36 + 2 * i, 5100 + i))
        fmt = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}[n.rsplit(".", 1)[1].lower()]
        img.save(os.path.join(d, n), format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    cache = os.path.join(work, "cache")
    counts = {}
    for protocol in ("pytorch-fid", "clean-fid", "torch-fidelity"):
        want = [os.path.normpath(f) for f in _peer_listing(protocol, d)]
        out = os.path.join(work, f"list-{protocol}.h5")
        run([cs, "features", d, "--out", out, "--weights", weights, "--dims", "64", "--protocol", protocol,
             "--cache", cache, "-q"])
        with h5py.File(out, "r") as h:
            got = [os.path.normpath(p.decode() if isinstance(p, bytes) else p) for p in h["paths"][:]]
        if got != want:
            fail(f"features --protocol {protocol} listed {got}, the peer lists {want}")
        j = json.loads(run([cs, "fid", d, d, "--weights", weights, "--dims", "64", "--protocol", protocol,
                            "--cache", cache, "--json", "--quiet"]).stdout)
        if j.get("n1") != len(want) or j.get("n2") != len(want):
            fail(f"fid --protocol {protocol}: n1/n2 {j.get('n1')}/{j.get('n2')}, the peer lists {len(want)}")
        counts[protocol] = len(want)
        print(f"{protocol:14s} lists {len(want)} of {len(names)} files, as the peer: ok")
    if len(set(counts.values())) != 3:
        fail(f"the folder does not tell the three rules apart: {counts}")
    # an audit lists its directories by the protocol: --protocol on the command line, else options.protocol
    gen = os.path.join(work, "gen")
    for sub in ("Base", "Base+X"):
        shutil.copytree(d, os.path.join(gen, sub))
    for how, extra, manifest_opt in (("--protocol", ["--protocol", "clean-fid"], None),
                                     ("options.protocol", [], "clean-fid"),
                                     ("--protocol over options.protocol", ["--protocol", "torch-fidelity"], "clean-fid")):
        expect = "torch-fidelity" if "torch-fidelity" in extra else "clean-fid"
        mf = os.path.join(work, "manifest.json")
        man = {"reference": d, "baseline": "Base", "players": ["X"],
               "sets": [{"coalition": [], "path": os.path.join(gen, "Base")},
                        {"coalition": ["X"], "path": os.path.join(gen, "Base+X")}]}
        if manifest_opt:
            man["options"] = {"protocol": manifest_opt}
        with open(mf, "w") as f:
            json.dump(man, f)
        outdir = os.path.join(work, "report-" + str(len(extra)) + str(manifest_opt))
        run([cs, "audit", mf, "--out", outdir, "--weights", weights, "--dims", "64", "--cache", cache, "-q", *extra])
        with open(os.path.join(outdir, "report.json")) as f:
            rep = json.load(f)
        if rep.get("protocol") != expect:
            fail(f"audit ({how}): report.json protocol {rep.get('protocol')!r}, expected {expect}")
        ns = [c.get("n") for c in rep.get("coalitions", [])]
        if not ns or any(n != counts[expect] for n in ns):
            fail(f"audit ({how}): coalition sizes {ns}, the {expect} listing has {counts[expect]} files")
        print(f"audit ({how}): {expect} listing, {counts[expect]} images per set: ok")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    mode, tp, cs, weights, work = sys.argv[1:]
    need_peers()
    if mode not in ("rng", "iscmath", "resize", "preprocess") and not os.path.exists(weights):
        skip(f"{weights} missing")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    fn = {"rng": mode_rng, "iscmath": mode_iscmath, "resize": mode_resize, "preprocess": mode_preprocess, "features": mode_features,
          "fid": mode_fid, "isc": mode_isc, "kid": mode_kid, "cli": mode_cli, "listing": mode_listing}[mode]
    fn(tp=tp, cs=cs, weights=weights, work=work)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
