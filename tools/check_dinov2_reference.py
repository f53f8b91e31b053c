#!/usr/bin/python3
"""Check tools/vit_torch.py (the independent DINOv2 reference the tests use) against
facebookresearch/dinov2's own model code, once, by hand (the tests cannot fetch it):

    git clone https://github.com/facebookresearch/dinov2 && git -C dinov2 checkout 4d83ffd
    tools/check_dinov2_reference.py --dinov2 dinov2 --weights W.pth IMAGE_DIR_A IMAGE_DIR_B \
        [--copyscope build/copyscope]

4d83ffd (2025-05-19) is the last commit whose attention runs on PyTorch 1.13 (later ones call
F.scaled_dot_product_attention); its positional-embedding interpolation (scale factor with the
0.1 offset) is the one torch.hub.load('facebookresearch/dinov2', ...) uses today. xFormers is
absent here, so dinov2 falls back to its plain attention and SwiGLU. The model is built by the
hub's own builder (dinov2.hub.backbones, pretrained=False) and loads W with strict=True, so W
must be in the exact hub layout. Prints the largest feature difference (relative to the feature
scale) and the FD_DINOv2 of the two directories from each (pytorch-fid's formula, float64), and,
with --copyscope, the same for `copyscope features` / `copyscope fid`.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from scipy import linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_torch  # noqa: E402


def fd(f1, f2):
    """pytorch-fid's calculate_frechet_distance on feature rows (float64), as dgm-eval computes FD."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
    covmean = covmean.real
    d = mu1 - mu2
    return float(d.dot(d) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def images(d):
    return sorted(p for e in ("png", "jpg", "jpeg") for p in glob.glob(os.path.join(d, "*." + e)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dinov2", required=True, help="checkout of facebookresearch/dinov2")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--arch", default="dinov2-vits14")
    ap.add_argument("--copyscope")
    ap.add_argument("dirs", nargs=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, a.dinov2)
    from dinov2.hub import backbones  # their code

    build = {"dinov2-vits14": backbones.dinov2_vits14, "dinov2-vitb14": backbones.dinov2_vitb14,
             "dinov2-vitl14": backbones.dinov2_vitl14, "dinov2-vitg14": backbones.dinov2_vitg14}[a.arch]
    model = build(pretrained=False).eval()
    sd = vit_torch.load_state_dict(a.weights)
    model.load_state_dict(sd, strict=True)
    tf = vit_torch.dgm_transform()  # dgm-eval's transform (torchvision + PIL), as in its dinov2.py
    feats_theirs, feats_ref = [], []
    with torch.no_grad():
        for d in a.dirs:
            paths = images(d)
            x = torch.stack([tf(vit_torch.load_image(p)) for p in paths])
            feats_theirs.append(model(x).numpy().astype(np.float64))
            feats_ref.append(vit_torch.dinov2_features(sd, paths).astype(np.float64))
    scale = max(np.abs(f).max() for f in feats_theirs)
    diff = max(np.abs(t - r).max() for t, r in zip(feats_theirs, feats_ref))
    fd_theirs, fd_ref = fd(*feats_theirs), fd(*feats_ref)
    print("features: dinov2 code vs tools/vit_torch.py: max |diff| %.3g = %.3g of scale %.4g" % (diff, diff / scale, scale))
    print("FD_DINOv2: dinov2 code %.10g, tools/vit_torch.py %.10g, relative difference %.3g" %
          (fd_theirs, fd_ref, abs(fd_theirs - fd_ref) / fd_theirs))
    if a.copyscope:
        import h5py
        with tempfile.TemporaryDirectory() as tmp:
            ours = []
            for i, d in enumerate(a.dirs):
                out = os.path.join(tmp, "f%d.h5" % i)
                subprocess.run([a.copyscope, "features", d, "--model", a.arch, "--weights", a.weights, "--out", out,
                                "--no-cache", "--device", "cpu", "--quiet"], check=True)
                with h5py.File(out, "r") as f:
                    ours.append(f["features"][:].astype(np.float64))
            r = subprocess.run([a.copyscope, "fid", a.dirs[0], a.dirs[1], "--model", a.arch, "--weights", a.weights,
                                "--no-cache", "--device", "cpu", "--quiet"], check=True, capture_output=True, text=True)
            fd_cs = float(r.stdout.split()[-1])
        diff = max(np.abs(t - o).max() for t, o in zip(feats_theirs, ours))
        print("features: dinov2 code vs copyscope: max |diff| %.3g = %.3g of scale" % (diff, diff / scale))
        print("FD_DINOv2: copyscope fid %.10g, relative difference to dinov2 code %.3g" %
              (fd_cs, abs(fd_cs - fd_theirs) / fd_theirs))


if __name__ == "__main__":
    main()
