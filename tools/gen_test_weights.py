#!/usr/bin/python3
"""Deterministic FID-Inception test weights with the official file's layout.

    gen_test_weights.py --seed S --out FILE [--zip]

Writes a state dict of 566 tensors (the official keys, shapes and dtypes, in Python-sorted key
order like the official OrderedDict), in torch's legacy format by default (as the official
file) or the zip format with --zip. Conv weights are He-normal, BN gamma/beta are uniform in a
sane range, fc is small random. BN running_mean/running_var are *calibrated* on seeded
synthetic images (gradients, stripes, blobs, noise at 299x299): the network runs once in
train mode with momentum=None, so each BN's running statistics become the statistics of its
own input given the already-normalised layers before it. Activations then stay well scaled
through all 94 layers in eval mode and the features are not degenerate (the scale is printed).
"""
import argparse
import collections
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fid_inception_torch as ref  # noqa: E402


def synthetic_images(rng, n, size=299):
    """n (size, size, 3) uint8 images with structure: gradients, stripes, blobs and noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    imgs = []
    for i in range(n):
        chans = []
        for c in range(3):
            fx, fy = rng.uniform(1, 12, size=2)
            ph = rng.uniform(0, 2 * np.pi)
            v = 0.5 + 0.3 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
            v += rng.uniform(-0.3, 0.3) * (xx - 0.5) + rng.uniform(-0.3, 0.3) * (yy - 0.5)
            for _ in range(4):  # gaussian blobs
                cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2)
                v += rng.uniform(-0.5, 0.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            v += rng.normal(0, 0.04 * (i % 3), size=v.shape)
            chans.append(v)
        imgs.append((np.clip(np.stack(chans, -1), 0, 1) * 255 + 0.5).astype(np.uint8))
    return imgs


def make_state_dict(seed, n_images=6):
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    net = ref.FIDInceptionV3()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.6 + 0.7)   # gamma in [0.7, 1.3]
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 - 0.2)       # beta in [-0.2, 0.2]
                m.momentum = None  # cumulative average: after one batch, running = batch statistics
                m.reset_running_stats()
        net.fc.weight.copy_(torch.randn(net.fc.weight.shape, generator=g) * 0.02)
        net.fc.bias.copy_(torch.randn(net.fc.bias.shape, generator=g) * 0.02)
        x = torch.cat([ref.preprocess(im) for im in synthetic_images(rng, n_images)], 0)
        net.train()
        net.blocks(x, 3)  # one calibration pass
        net.eval()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.num_batches_tracked.zero_()
        feats = net(x, 2048)
    sd = net.state_dict()
    sd = collections.OrderedDict((k, sd[k].clone()) for k in sorted(sd.keys()))
    return sd, x, feats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--zip", action="store_true", help="torch's zip format instead of legacy")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    sd, _, feats = make_state_dict(a.seed)
    if len(sd) != 566:
        print("internal error: %d tensors, expected 566" % len(sd), file=sys.stderr)
        return 1
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(sd, f, _use_new_zipfile_serialization=bool(a.zip))
    os.replace(tmp, a.out)
    f = feats.numpy()
    print("%s: %d tensors, %s format, seed %d; calibration pool3 features: mean %.4g std %.4g "
          "max %.4g, per-image std over dims %.4g"
          % (a.out, len(sd), "zip" if a.zip else "legacy", a.seed, f.mean(), f.std(), np.abs(f).max(),
             f.std(axis=0).mean()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
