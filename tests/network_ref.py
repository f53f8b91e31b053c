#!/usr/bin/python3
"""Golden data for tests/test_network.c: an image set of odd sizes and PNG modes, and the
PyTorch reference (tools/fid_inception_torch.py) on it.

    network_ref.py --weights W.pth --out DIR

DIR/list.txt       image file names, one a line (PNG: decoded losslessly by both sides)
DIR/input.bin      golden (n, 3*299*299): pytorch-fid's preprocessed network input
DIR/feat_<d>.bin   golden (n, d) features for d in 64, 192, 768, 2048
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import fid_inception_torch as ref  # noqa: E402


def structured(w, h, seed):
    """(h, w, 3) uint8 with gradients, stripes and noise, so every resize tap matters."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = xx / max(w - 1, 1), yy / max(h - 1, 1)
    img = np.empty((h, w, 3))
    for c in range(3):
        a, b = rs.uniform(-1, 1, 2)
        f = rs.uniform(3, 40)
        img[..., c] = 128 + 70 * (a * u + b * v) + 45 * np.sin(f * (u + rs.uniform(0.2, 2) * v) + c)
    img += rs.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


# (file name, width, height, PIL mode): the sizes and modes the brief asks for.
IMAGES = [
    ("rgb_1x1.png", 1, 1, "RGB"),
    ("rgb_5x3.png", 5, 3, "RGB"),
    ("rgb_2000x3.png", 2000, 3, "RGB"),
    ("rgb_3x700.png", 3, 700, "RGB"),
    ("rgb_299x299.png", 299, 299, "RGB"),
    ("rgb_1411x1411.png", 1411, 1411, "RGB"),
    ("gray_120x97.png", 120, 97, "L"),
    ("palette_333x250.png", 333, 250, "P"),
    ("rgba_300x301.png", 300, 301, "RGBA"),
    ("rgb_600x450.png", 600, 450, "RGB"),
]


def make_images(out):
    names = []
    for i, (name, w, h, mode) in enumerate(IMAGES):
        arr = structured(w, h, 100 + i)
        im = Image.fromarray(arr, "RGB")
        if mode == "L":
            im = im.convert("L")
        elif mode == "P":
            im = im.quantize(colors=200, method=Image.Quantize.MEDIANCUT)
        elif mode == "RGBA":
            alpha = np.random.RandomState(i).randint(0, 256, (h, w), dtype=np.uint8)
            im = Image.fromarray(np.dstack([arr, alpha]), "RGBA")
        im.save(os.path.join(out, name))
        names.append(name)
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    names = make_images(a.out)
    paths = [os.path.join(a.out, n) for n in names]
    net = ref.load_network(a.weights)
    all_feats, x = ref.features_all_dims(net, paths)
    for d in ref.DIMS:
        feats = all_feats[d]
        ref.write_golden(os.path.join(a.out, "feat_%d.bin" % d), feats)
        print("dims %4d: max |feature| %.5g, mean %.5g" % (d, np.abs(feats).max(), feats.mean()))
    ref.write_golden(os.path.join(a.out, "input.bin"), x.reshape(x.shape[0], -1))
    with open(os.path.join(a.out, "list.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
