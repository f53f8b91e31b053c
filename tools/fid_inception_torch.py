#!/usr/bin/python3
"""PyTorch reference for copyscope's FID Inception-v3 (pytorch-fid's fid_inception_v3).

The network is written here from the architecture description (REFERENCE.md section 2) in
plain torch, with module names that match the official state dict, so that any weights file
with the official layout (the real pt_inception-2015-12-05 file or tools/gen_test_weights.py's
output) loads with strict=True. Preprocessing is pytorch-fid's: PIL convert('RGB') ->
ToTensor (uint8 / 255 in float32) -> F.interpolate(299x299, bilinear, align_corners=False)
-> 2x - 1. Features for dims 64/192/768/2048 are the global-average-pooled outputs of
pytorch-fid's blocks 0/1/2/3.

Module use:
    import fid_inception_torch as ref
    net = ref.load_network("weights.pth")
    feats = ref.features(net, [rgb_uint8_hwc, "img.png", ...], dims=2048)   # (n, dims) float32

CLI (writes a golden file that the C tests read):
    fid_inception_torch.py --weights W.pth --dims 2048 --out feats.bin IMAGE...
    [--preprocessed-out x.bin]  (the (n, 3, 299, 299) network input)
    [--rgb-dump]                (IMAGE files are raw RGB dumps, see read_rgb_dump)

Golden file: b"CSGOLDEN" | int32 version (1) | int32 n | int32 d | n*d float32, little-endian.
"""
import argparse
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GOLDEN_MAGIC = b"CSGOLDEN"
GOLDEN_VERSION = 1
RGB_DUMP_MAGIC = b"CSRGB001"
DIMS = (64, 192, 768, 2048)
DIM_TO_BLOCK = {64: 0, 192: 1, 768: 2, 2048: 3}


# ---- the network -------------------------------------------------------------------------
class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg3(x):
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):  # FIDInceptionA: avg pool without padding count
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg3(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class InceptionC(nn.Module):  # FIDInceptionC
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = m(bd)
        bp = self.branch_pool(_avg3(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for m in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = m(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """FIDInceptionE_1 (pool='avg', Mixed_7b) or FIDInceptionE_2 (pool='max', Mixed_7c)."""

    def __init__(self, cin, pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":
            bp = _avg3(x)
        else:
            bp = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b3, bd, bp], 1)


class FIDInceptionV3(nn.Module):
    """Module names match the official state dict (566 tensors incl. fc)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, "avg")
        self.Mixed_7c = InceptionE(2048, "max")
        self.fc = nn.Linear(2048, 1008)  # in the file, unused for features

    def blocks(self, x, last_block=3):
        """pytorch-fid's blocks 0..last_block on a preprocessed (n, 3, 299, 299) input;
        returns the list of block outputs (unpooled, block 3 is (n, 2048, 1, 1))."""
        outs = []
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        outs.append(x)
        if last_block == 0:
            return outs
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        outs.append(x)
        if last_block == 1:
            return outs
        for m in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                  self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = m(x)
        outs.append(x)
        if last_block == 2:
            return outs
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = F.adaptive_avg_pool2d(x, output_size=(1, 1))
        outs.append(x)
        return outs

    def forward(self, x, dims=2048):
        out = self.blocks(x, DIM_TO_BLOCK[dims])[-1]
        if out.size(2) != 1 or out.size(3) != 1:  # as pytorch-fid's fid_score.get_activations
            out = F.adaptive_avg_pool2d(out, output_size=(1, 1))
        return out.squeeze(3).squeeze(2)


def load_network(path):
    """Load a state dict (legacy or zip torch format) into an eval-mode network."""
    sd = torch.load(path, map_location="cpu")
    net = FIDInceptionV3()
    net.load_state_dict(sd, strict=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


# ---- preprocessing (pytorch-fid) ---------------------------------------------------------
def load_rgb(item):
    """An (h, w, 3) uint8 array from an array, a PIL image or a path (PIL convert('RGB'))."""
    if isinstance(item, np.ndarray):
        assert item.dtype == np.uint8 and item.ndim == 3 and item.shape[2] == 3
        return item
    from PIL import Image
    if isinstance(item, Image.Image):
        return np.asarray(item.convert("RGB"))
    with Image.open(item) as im:
        return np.asarray(im.convert("RGB"))


def to_tensor(rgb):
    """torchvision ToTensor on uint8 HWC: (3, h, w) float32 = uint8 / 255."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()
    return t.to(dtype=torch.float32).div(255)


def preprocess(rgb):
    """(1, 3, 299, 299) network input for one image, as pytorch-fid's InceptionV3.forward
    (resize_input=True, normalize_input=True) applies it to ToTensor output."""
    x = to_tensor(rgb).unsqueeze(0)
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return 2 * x - 1


def features(net, items, dims=2048, batch_size=8, return_input=False):
    """(n, dims) float32 features; items are uint8 HWC arrays, PIL images or paths. Images
    may differ in size: each is preprocessed alone (as pytorch-fid with batch size 1)."""
    if dims not in DIM_TO_BLOCK:
        raise ValueError("dims must be one of %s" % (DIMS,))
    xs = [preprocess(load_rgb(it)) for it in items]
    outs = []
    with torch.no_grad():
        for i in range(0, len(xs), batch_size):
            outs.append(net(torch.cat(xs[i:i + batch_size], 0), dims))
    feats = torch.cat(outs, 0).numpy().astype(np.float32) if outs else np.zeros((0, dims), np.float32)
    if return_input:
        return feats, torch.cat(xs, 0).numpy() if xs else np.zeros((0, 3, 299, 299), np.float32)
    return feats


def features_all_dims(net, items, batch_size=8):
    """{dims: (n, dims) float32} for all four dims from one pass, plus the (n, 3, 299, 299)
    input. Each block output is global-average-pooled as pytorch-fid does."""
    xs = [preprocess(load_rgb(it)) for it in items]
    outs = {d: [] for d in DIMS}
    with torch.no_grad():
        for i in range(0, len(xs), batch_size):
            for d, o in zip(DIMS, net.blocks(torch.cat(xs[i:i + batch_size], 0), 3)):
                if o.size(2) != 1 or o.size(3) != 1:
                    o = F.adaptive_avg_pool2d(o, output_size=(1, 1))
                outs[d].append(o.squeeze(3).squeeze(2))
    return {d: torch.cat(outs[d], 0).numpy() for d in DIMS}, torch.cat(xs, 0).numpy()


# ---- files -------------------------------------------------------------------------------
def write_golden(path, arr):
    arr = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
    n = arr.shape[0]
    d = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    with open(path, "wb") as f:
        f.write(GOLDEN_MAGIC + struct.pack("<iii", GOLDEN_VERSION, n, d))
        f.write(arr.tobytes())


def read_golden(path):
    with open(path, "rb") as f:
        head = f.read(20)
        if head[:8] != GOLDEN_MAGIC:
            raise ValueError("%s: not a golden file" % path)
        version, n, d = struct.unpack("<iii", head[8:])
        if version != GOLDEN_VERSION:
            raise ValueError("%s: golden version %d" % (path, version))
        return np.frombuffer(f.read(), dtype="<f4").reshape(n, d)


def write_rgb_dump(path, rgb):
    """Raw RGB dump: b"CSRGB001" | int32 width | int32 height | h*w*3 uint8 (HWC)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(RGB_DUMP_MAGIC + struct.pack("<ii", rgb.shape[1], rgb.shape[0]))
        f.write(rgb.tobytes())


def read_rgb_dump(path):
    with open(path, "rb") as f:
        head = f.read(16)
        if head[:8] != RGB_DUMP_MAGIC:
            raise ValueError("%s: not an RGB dump" % path)
        w, h = struct.unpack("<ii", head[8:])
        return np.frombuffer(f.read(w * h * 3), dtype=np.uint8).reshape(h, w, 3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--dims", type=int, default=2048, choices=DIMS)
    ap.add_argument("--out", required=True, help="golden file of (n, dims) features")
    ap.add_argument("--preprocessed-out", help="golden file of the (n, 3*299*299) network input")
    ap.add_argument("--rgb-dump", action="store_true", help="inputs are raw RGB dumps")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    net = load_network(a.weights)
    items = [read_rgb_dump(p) for p in a.images] if a.rgb_dump else a.images
    feats, x = features(net, items, a.dims, return_input=True)
    write_golden(a.out, feats)
    if a.preprocessed_out:
        write_golden(a.preprocessed_out, x.reshape(x.shape[0], -1))
    print("%d images, dims %d, max |feature| %.6g" % (feats.shape[0], a.dims, float(np.abs(feats).max())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
