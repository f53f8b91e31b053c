#!/usr/bin/env python3
"""Generate a synthetic copyright audit whose answer is known by construction.

The "artwork" is a set of reference images with a distinctive look made of independent
attributes: a sepia palette, a dark central oval on a banded landscape (the layout), and a fine
craquelure texture. Each player of the synthetic pipeline moves generated images toward exactly
one attribute, with a player-specific strength:

    Palette  (strong)  colour transfer toward the sepia palette
    Layout   (medium)  blends in the oval-on-bands composition
    Texture  (weak)    adds the craquelure texture
    Seed     (null)    an inactive component (like a LoRA loaded at weight 0): the images are
                       exactly those of the coalition without it

For every coalition S (all 2^4 of them, the baseline "Base" being the empty one), the image set
ROOT/<Base+players> holds the same base contents transformed by the players in S. The ranking of
Shapley values is therefore Palette > Layout > Texture > Seed ~ 0, which tests/demo check.

Writes: OUT/reference/*.png, OUT/generated/<coalition>/*.png, OUT/manifest.json, OUT/truth.json.
Deterministic for a given --seed. Needs only numpy and PIL (Debian python3-numpy, python3-pil).
"""
import argparse
import itertools
import json
import os

import numpy as np
from PIL import Image

PLAYERS = ["Palette", "Layout", "Texture", "Seed"]
STRENGTH = {"Palette": 0.8, "Layout": 0.35, "Texture": 0.5, "Seed": 0.0}
BASELINE = "Base"


def sepia(img):
    g = img.mean(axis=2, keepdims=True)
    tone = np.array([1.0, 0.78, 0.52])[None, None, :]
    return np.clip(g * tone * 1.1 + np.array([0.06, 0.03, 0.0]), 0, 1)


def layout(size, rng):
    h = w = size
    y, x = np.mgrid[0:h, 0:w] / size
    bands = 0.45 + 0.25 * np.sin(2 * np.pi * (y * 3 + 0.1 * rng.standard_normal()))
    img = np.stack([bands * 0.9, bands * 0.8, bands * 0.6], axis=2)
    cy, cx = 0.45 + 0.04 * rng.standard_normal(), 0.5 + 0.04 * rng.standard_normal()
    oval = ((x - cx) / 0.22) ** 2 + ((y - cy) / 0.3) ** 2 < 1.0
    img[oval] = img[oval] * 0.25 + np.array([0.25, 0.18, 0.1])
    return np.clip(img, 0, 1)


def craquelure(size, rng):
    t = np.zeros((size, size))
    for _ in range(max(40, size * size // 60)):
        r, c = rng.integers(0, size, 2)
        length = rng.integers(size // 8, size // 3)
        dr, dc = rng.standard_normal(2)
        n = np.hypot(dr, dc) + 1e-9
        for k in range(length):
            rr, cc = int(r + k * dr / n) % size, int(c + k * dc / n) % size
            t[rr, cc] = 1.0
            t[(rr + 1) % size, cc] = 1.0  # 2 px wide: visible at the network's resolution
    return t[:, :, None]


def base_content(size, rng):
    y, x = np.mgrid[0:size, 0:size] / size
    c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    a = rng.uniform(0, 2 * np.pi)
    t = (np.cos(a) * x + np.sin(a) * y)[:, :, None]
    img = c1 * (1 - t) + c2 * t
    for _ in range(rng.integers(3, 8)):
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        m = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[m] = rng.uniform(0, 1, 3)
    img += 0.03 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1)


def reference_image(size, rng):
    img = sepia(layout(size, rng))
    img = img * (1 - 0.5 * craquelure(size, rng))
    img += 0.02 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1)


def apply_players(base, coalition, size, rng_look):
    img = base.copy()
    lay = layout(size, rng_look)
    crq = craquelure(size, rng_look)
    if "Layout" in coalition:
        s = STRENGTH["Layout"]
        img = (1 - s) * img + s * lay
    if "Palette" in coalition:
        s = STRENGTH["Palette"]
        img = (1 - s) * img + s * sepia(img)
    if "Texture" in coalition:
        s = STRENGTH["Texture"]
        img = img * (1 - s * crq)
    return np.clip(img, 0, 1)


def save(img, path):
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-set", type=int, default=40, help="images per coalition (default 40)")
    ap.add_argument("--reference", type=int, default=40, help="reference images (default 40)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--strengths", default="", help="override, e.g. Palette=0.8,Layout=0.35,Texture=0.3")
    a = ap.parse_args()
    for kv in filter(None, a.strengths.split(",")):
        k, v = kv.split("=")
        if k not in STRENGTH:
            ap.error(f"unknown player {k}")
        STRENGTH[k] = float(v)
    os.makedirs(os.path.join(a.out, "reference"), exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for i in range(a.reference):
        save(reference_image(a.size, rng), os.path.join(a.out, "reference", f"ref{i:04d}.png"))
    coalitions = []
    for k in range(len(PLAYERS) + 1):
        for S in itertools.combinations(PLAYERS, k):
            coalitions.append(S)
    sets = {}
    for S in coalitions:
        name = "+".join((BASELINE,) + S)
        d = os.path.join(a.out, "generated", name)
        os.makedirs(d, exist_ok=True)
        for i in range(a.per_set):
            # the same base content for every coalition (a paired design: coalitions differ only
            # by what their players do); the null player Seed changes nothing
            content_seed = a.seed * 100003 + i
            base = base_content(a.size, np.random.default_rng(content_seed))
            look = np.random.default_rng(a.seed * 7919 + i)
            save(apply_players(base, S, a.size, look), os.path.join(d, f"img{i:04d}.png"))
        sets[name] = os.path.join("generated", name)
    manifest = {
        "name": "synthetic audit (known answer)",
        "reference": "reference",
        "baseline": BASELINE,
        "players": PLAYERS,
        "sets": [{"coalition": [p for p in name.split("+")[1:]], "path": path} for name, path in sets.items()],
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump({"strength": STRENGTH, "expected_ranking": ["Palette", "Layout", "Texture", "Seed"],
                   "null_player": "Seed"}, f, indent=2)
    print(f"synthetic audit: {len(coalitions)} coalitions x {a.per_set} images + {a.reference} reference -> {a.out}")


if __name__ == "__main__":
    main()
