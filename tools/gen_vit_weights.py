#!/usr/bin/python3
"""Deterministic Vision Transformer test weights in the layouts users download.

    gen_vit_weights.py --arch dinov2-vits14 --seed S --out FILE.pth [--depth N]
    gen_vit_weights.py --arch clip-vitl14-336 --seed S --out FILE.safetensors [--depth N] [--dtype F32|F16|BF16]

DINOv2 (torch hub `dinov2_<arch>_pretrain.pth`): a torch zip file holding the hub state dict,
exactly the keys and shapes of facebookresearch/dinov2's DinoVisionTransformer built by
hub/backbones.py (img_size 518 -> pos_embed (1, 1 + 37*37, D), patch 14, qkv bias, LayerScale
ls1/ls2.gamma, mask_token; vitg14 a SwiGLU MLP mlp.w12/mlp.w3 of width 4096), float32.
--depth N writes only the first N blocks (reduced-depth copies of ViT-L/G for tests, read with
copyscope's --testing-vit-any-depth); the default is the architecture's depth.

Scales are those of trained ViTs rather than of their initialisation, so the network computes
something non-degenerate: Linear weights N(0, 1/fan_in), LayerNorm gains 1 +- 0.2 and biases
+- 0.1, LayerScale gammas in [0.05, 0.5] (trained DINOv2 values are of that order), a smooth
positional embedding (low-frequency sinusoids over the 37 x 37 grid plus noise, so that its
bicubic interpolation matters) and a CLS token of norm about 1. Same seed -> same bytes.

CLIP (Hugging Face openai/clip-vit-large-patch14-336 `model.safetensors`): the CLIPModel keys of
the vision tower (vision_model.embeddings.{class_embedding, patch_embedding.weight (no bias),
position_embedding.weight (577, 1024), position_ids (int64)}, pre_layrnorm, encoder.layers.N.
{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}, post_layernorm),
visual_projection.weight (768, 1024) and, to be ignored by the reader, text_projection.weight
and logit_scale; written in the safetensors format by hand (the package is not installed here):
u64 header length, the JSON header (sorted keys, data_offsets tiling the data), the data.
"""
import argparse
import collections
import math

import torch

ARCHS = {  # dim, depth, heads, mlp hidden, swiglu
    "dinov2-vits14": (384, 12, 6, 1536, False),
    "dinov2-vitb14": (768, 12, 12, 3072, False),
    "dinov2-vitl14": (1024, 24, 16, 4096, False),
    "dinov2-vitg14": (1536, 40, 24, 4096, True),
}


def dinov2_state_dict(arch, seed, depth=None):
    dim, full_depth, _heads, hidden, swiglu = ARCHS[arch]
    depth = full_depth if depth is None else depth
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    def unif(lo, hi, *shape):
        return torch.rand(*shape, generator=g) * (hi - lo) + lo

    def linear(prefix, dout, din):
        sd[prefix + ".weight"] = randn(dout, din, std=1.0 / math.sqrt(din))
        sd[prefix + ".bias"] = randn(dout, std=0.05)

    def norm(prefix):
        sd[prefix + ".weight"] = unif(0.8, 1.2, dim)
        sd[prefix + ".bias"] = unif(-0.1, 0.1, dim)

    sd = collections.OrderedDict()
    sd["cls_token"] = randn(1, 1, dim, std=1.0 / math.sqrt(dim))
    m = 37  # 518 / 14
    yy, xx = torch.meshgrid(torch.arange(m, dtype=torch.float32) / m, torch.arange(m, dtype=torch.float32) / m,
                            indexing="ij")
    fx, fy, ph = unif(0.5, 3.0, dim), unif(0.5, 3.0, dim), unif(0, 2 * math.pi, dim)
    grid = torch.sin(2 * math.pi * (fx[None, None] * xx[..., None] + fy[None, None] * yy[..., None]) + ph)
    pos = 0.3 * grid.reshape(m * m, dim) + randn(m * m, dim, std=0.02)
    sd["pos_embed"] = torch.cat([randn(1, dim, std=0.1), pos], 0)[None].contiguous()
    sd["mask_token"] = torch.zeros(1, dim)
    sd["patch_embed.proj.weight"] = randn(dim, 3, 14, 14, std=2.0 / math.sqrt(3 * 14 * 14))
    sd["patch_embed.proj.bias"] = randn(dim, std=0.05)
    for i in range(depth):
        b = "blocks.%d." % i
        norm(b + "norm1")
        linear(b + "attn.qkv", 3 * dim, dim)
        linear(b + "attn.proj", dim, dim)
        sd[b + "ls1.gamma"] = unif(0.05, 0.5, dim)
        norm(b + "norm2")
        if swiglu:
            linear(b + "mlp.w12", 2 * hidden, dim)
            linear(b + "mlp.w3", dim, hidden)
        else:
            linear(b + "mlp.fc1", hidden, dim)
            linear(b + "mlp.fc2", dim, hidden)
        sd[b + "ls2.gamma"] = unif(0.05, 0.5, dim)
    norm("norm")
    return sd


def clip_state_dict(seed, depth=None):
    dim, full_depth, hidden, tokens, proj = 1024, 24, 4096, 577, 768
    depth = full_depth if depth is None else depth
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    def unif(lo, hi, *shape):
        return torch.rand(*shape, generator=g) * (hi - lo) + lo

    sd = collections.OrderedDict()

    def linear(prefix, dout, din, bias=True):
        sd[prefix + ".weight"] = randn(dout, din, std=1.0 / math.sqrt(din))
        if bias:
            sd[prefix + ".bias"] = randn(dout, std=0.05)

    def norm(prefix):
        sd[prefix + ".weight"] = unif(0.8, 1.2, dim)
        sd[prefix + ".bias"] = unif(-0.1, 0.1, dim)

    v = "vision_model."
    sd[v + "embeddings.class_embedding"] = randn(dim, std=1.0 / math.sqrt(dim))
    sd[v + "embeddings.patch_embedding.weight"] = randn(dim, 3, 14, 14, std=2.0 / math.sqrt(3 * 14 * 14))
    sd[v + "embeddings.position_embedding.weight"] = randn(tokens, dim, std=0.2)
    sd[v + "embeddings.position_ids"] = torch.arange(tokens, dtype=torch.int64)[None]
    norm(v + "pre_layrnorm")
    for i in range(depth):
        b = v + "encoder.layers.%d." % i
        for k in ("q", "k", "v", "out"):
            linear(b + "self_attn.%s_proj" % k, dim, dim)
        norm(b + "layer_norm1")
        linear(b + "mlp.fc1", hidden, dim)
        linear(b + "mlp.fc2", dim, hidden)
        norm(b + "layer_norm2")
    norm(v + "post_layernorm")
    linear("visual_projection", proj, dim, bias=False)
    linear("text_projection", proj, proj, bias=False)
    sd["logit_scale"] = torch.tensor(4.6052)
    return sd


def save_safetensors(sd, path, dtype="F32"):
    """The safetensors format: u64 little-endian header size, JSON header, data (keys sorted, as the
    safetensors package writes them; int64 tensors stay I64)."""
    import json
    import struct
    conv = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    header, blobs, off = {}, [], 0
    for k in sorted(sd):
        t = sd[k].contiguous()
        if t.dtype == torch.int64:
            dt, data = "I64", t.numpy().tobytes()
        else:
            t = t.to(conv[dtype])
            dt = dtype
            data = (t.view(torch.int16) if dtype != "F32" else t).numpy().tobytes()
        header[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the package pads the header to 8 bytes with spaces
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS) + ["clip-vitl14-336"], default="dinov2-vits14")
    ap.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32", help="CLIP: storage dtype")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.arch == "clip-vitl14-336":
        sd = clip_state_dict(a.seed, a.depth)
        save_safetensors(sd, a.out, a.dtype)
    else:
        sd = dinov2_state_dict(a.arch, a.seed, a.depth)
        torch.save(sd, a.out)  # torch zip format, like the hub files
    n = sum(t.numel() for t in sd.values())
    print("%s: %s, %d tensors, %d parameters" % (a.out, a.arch, len(sd), n))


if __name__ == "__main__":
    main()
