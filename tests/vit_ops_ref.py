#!/usr/bin/python3
"""PyTorch / PIL goldens for the Vision Transformer ops (tests/test_vit_ops.c).

    vit_ops_ref.py --out FILE

FILE: b"CSVITOP1", then records until the end: u32 name length, name, u32 dtype (0 float32,
1 uint8), u32 ndim, ndim x i64 shape, the data (little-endian, row-major). Inputs are seeded;
each op's expected output comes from torch (F.layer_norm, F.linear, F.gelu, softmax attention
written as dinov2 writes it, F.interpolate bicubic with a scale factor), PIL (Image.resize
BICUBIC on uint8 RGB), torchvision (dgm-eval's transform) and tools/vit_torch.py's
CLIPImageProcessor steps (short side to 336, centre crop, rescale, CLIP mean/std).
"""
import argparse
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as TF

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import vit_torch  # noqa: E402  (CLIPImageProcessor's steps, as the reference writes them)

recs = []


def put(name, a):
    a = np.ascontiguousarray(a)
    dt = {np.dtype(np.float32): 0, np.dtype(np.uint8): 1}[a.dtype]
    recs.append(struct.pack("<I", len(name)) + name.encode() + struct.pack("<II", dt, a.ndim) +
                struct.pack("<%dq" % a.ndim, *a.shape) + a.tobytes())


def t2n(t):
    return t.detach().numpy().astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    rs = np.random.RandomState(5)

    # layer norm: tokens with a mean offset and a spread, as residual streams have
    x = torch.randn(257, 384, generator=g) * 3 + 0.5
    w, b = torch.rand(384, generator=g) + 0.5, torch.randn(384, generator=g) * 0.1
    put("ln.x", t2n(x)), put("ln.w", t2n(w)), put("ln.b", t2n(b))
    put("ln.y", t2n(F.layer_norm(x, (384,), w, b, eps=1e-6)))

    # linear (qkv shape), input stride = din
    x = torch.randn(257, 384, generator=g)
    W, bias = torch.randn(1152, 384, generator=g) / math.sqrt(384), torch.randn(1152, generator=g) * 0.05
    put("lin.x", t2n(x)), put("lin.w", t2n(W)), put("lin.b", t2n(bias)), put("lin.y", t2n(F.linear(x, W, bias)))

    # activations over [-8, 8] and a few large values
    x = torch.cat([torch.linspace(-8, 8, 4001), torch.randn(999, generator=g) * 20])
    put("act.x", t2n(x))
    put("gelu.y", t2n(F.gelu(x)))
    put("qgelu.y", t2n(x * torch.sigmoid(1.702 * x)))
    x = torch.randn(50, 2 * 96, generator=g) * 2
    x1, x2 = x.chunk(2, dim=-1)
    put("swiglu.x", t2n(x)), put("swiglu.y", t2n(F.silu(x1) * x2))

    # attention of one image, 257 tokens, 6 heads of 64 (dinov2's Attention.forward)
    heads, hd, n = 6, 64, 257
    qkv = torch.randn(n, 3 * heads * hd, generator=g) * 1.5
    q, k, v = qkv.reshape(1, n, 3, heads, hd).permute(2, 0, 3, 1, 4)
    att = ((q * hd ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    put("att.qkv", t2n(qkv)), put("att.y", t2n((att @ v).transpose(1, 2).reshape(n, heads * hd)))

    # positional-embedding interpolation, 37 x 37 -> 16 x 16 (224 px) and -> 24 x 24 (336 px)
    m, d = 37, 64
    src = torch.randn(m * m, d, generator=g)
    put("interp.src", t2n(src))
    for grid in (16, 24):
        s = (grid + 0.1) / m
        y = F.interpolate(src.reshape(1, m, m, d).permute(0, 3, 1, 2), scale_factor=(s, s), mode="bicubic",
                          align_corners=False)
        assert y.shape[-2:] == (grid, grid)
        put("interp.y%d" % grid, t2n(y.permute(0, 2, 3, 1).reshape(grid * grid, d)))

    # PIL bicubic resize of uint8 RGB: down, up, one axis only, extreme aspect ratios
    sizes = [(300, 200, 224, 224), (5, 3, 224, 224), (1, 1, 224, 224), (1000, 50, 224, 224), (50, 1000, 224, 224),
             (224, 500, 224, 224), (500, 224, 224, 224), (224, 224, 224, 224), (640, 480, 448, 336), (97, 131, 224, 224)]
    tf = TF.Compose([TF.Resize((224, 224), interpolation=TF.InterpolationMode.BICUBIC), TF.ToTensor(),
                     TF.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    for i, (w_, h_, ow, oh) in enumerate(sizes):
        img = rs.randint(0, 256, size=(h_, w_, 3)).astype(np.uint8)
        if i % 2 == 0:  # smooth content too, not only noise
            yy, xx = np.mgrid[0:h_, 0:w_]
            img = (127.5 + 127.5 * np.sin(xx[..., None] * 0.05 + yy[..., None] * 0.08 + np.arange(3))).astype(np.uint8)
        pil = Image.fromarray(img)
        put("pil%d.in" % i, img)
        put("pil%d.out" % i, np.asarray(pil.resize((ow, oh), Image.BICUBIC)))
        put("dgm%d.y" % i, t2n(tf(pil)))
        put("clip%d.y" % i, t2n(vit_torch.clip_preprocess(pil)))


    with open(a.out, "wb") as f:
        f.write(b"CSVITOP1")
        for r in recs:
            f.write(r)


if __name__ == "__main__":
    main()
