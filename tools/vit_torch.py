#!/usr/bin/python3
"""PyTorch reference of copyscope's Vision Transformer feature spaces, written from the papers and
model cards (not from copyscope's C code, and not a copy of facebookresearch/dinov2's code):

  DINOv2 (Oquab et al. 2023; model card: ViT-S/B/L/G with patch 14, pre-LN blocks, LayerScale,
  qkv bias, GELU MLP, SwiGLU MLP for ViT-g, LayerNorm eps 1e-6, learned positional embedding for
  518 px, 37 x 37 patches, resized bicubically to other grids with dinov2's scale factor
  (grid + 0.1) / 37; the feature is the final-normed CLS token), on dgm-eval's transform
  (Stein et al. 2023: Resize((224, 224), BICUBIC) of the PIL image, ToTensor, ImageNet mean/std).

  CLIP ViT-L/14 at 336 px (Radford et al. 2021; Hugging Face transformers' CLIPVisionModel and
  CLIPModel.get_image_features semantics for the openai/clip-vit-large-patch14-336 layout):
  patch conv without bias, class embedding, learned positions (577), pre_layrnorm, 24 pre-LN
  layers with separate q/k/v/out projections (q scaled by 64^-0.5), quick_gelu MLP, LayerNorm eps
  1e-5, post_layernorm of the CLS token, visual_projection, then L2 normalisation (as
  google-research's CMMD code normalises the embeddings); preprocessing as CLIPImageProcessor:
  PIL bicubic resize of the short side to 336 (long side int(336 * long / short)), centre crop
  336 ((h - 336) // 2, (w - 336) // 2), uint8 * (1/255) in float64 stored as float32, then
  (x - mean) / std in float32 with OpenAI's CLIP mean/std.

tools/check_dinov2_reference.py verifies the DINOv2 part against dinov2's own model code.

Command line (tests/vit_ref.py drives it through the functions):
    vit_torch.py --weights W.pth --model dinov2-vits14 IMAGE... --out feats.npy
"""
import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as TF

DINOV2 = {  # embed dim -> (name, heads, swiglu)
    384: ("dinov2-vits14", 6, False),
    768: ("dinov2-vitb14", 12, False),
    1024: ("dinov2-vitl14", 16, False),
    1536: ("dinov2-vitg14", 24, True),
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def dgm_transform():
    """dgm-eval's DINOv2 transform on a PIL RGB image -> (3, 224, 224) float32."""
    return TF.Compose([
        TF.Resize((224, 224), interpolation=TF.InterpolationMode.BICUBIC),
        TF.ToTensor(),
        TF.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def load_image(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def dinov2_pos_embed(pos_embed, grid):
    """(1, 1 + M*M, D) -> (1, 1 + grid*grid, D): the CLS position kept, the patch grid resized with
    bicubic interpolation (A = -0.75, no antialias) at scale factor (grid + 0.1) / M."""
    n = pos_embed.shape[1] - 1
    m = int(round(math.sqrt(n)))
    if m == grid:
        return pos_embed
    d = pos_embed.shape[2]
    patch = pos_embed[:, 1:].reshape(1, m, m, d).permute(0, 3, 1, 2)
    s = (grid + 0.1) / m
    patch = F.interpolate(patch, scale_factor=(s, s), mode="bicubic", align_corners=False)
    assert patch.shape[-2:] == (grid, grid)
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid * grid, d)
    return torch.cat([pos_embed[:, :1], patch], 1)


def dinov2_forward(sd, x):
    """sd: the hub state dict; x (n, 3, H, W) normalised images -> (n, D) normed CLS tokens."""
    d = sd["cls_token"].shape[-1]
    _, heads, swiglu = DINOV2[d]
    hd = d // heads
    n = x.shape[0]
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=14)
    grid = t.shape[-1]
    t = t.flatten(2).transpose(1, 2)                                  # (n, P, D)
    t = torch.cat([sd["cls_token"].expand(n, -1, -1), t], 1)
    t = t + dinov2_pos_embed(sd["pos_embed"], grid)
    depth = 0
    while "blocks.%d.norm1.weight" % depth in sd:
        depth += 1
    for i in range(depth):
        p = lambda k: sd["blocks.%d.%s" % (i, k)]  # noqa: E731
        h = F.layer_norm(t, (d,), p("norm1.weight"), p("norm1.bias"), eps=1e-6)
        qkv = F.linear(h, p("attn.qkv.weight"), p("attn.qkv.bias"))
        q, k, v = qkv.reshape(n, -1, 3, heads, hd).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q * hd ** -0.5) @ k.transpose(-2, -1), dim=-1)
        a = (att @ v).transpose(1, 2).reshape(n, -1, d)
        t = t + p("ls1.gamma") * F.linear(a, p("attn.proj.weight"), p("attn.proj.bias"))
        h = F.layer_norm(t, (d,), p("norm2.weight"), p("norm2.bias"), eps=1e-6)
        if swiglu:
            x1, x2 = F.linear(h, p("mlp.w12.weight"), p("mlp.w12.bias")).chunk(2, dim=-1)
            m = F.linear(F.silu(x1) * x2, p("mlp.w3.weight"), p("mlp.w3.bias"))
        else:
            m = F.linear(F.gelu(F.linear(h, p("mlp.fc1.weight"), p("mlp.fc1.bias"))),
                         p("mlp.fc2.weight"), p("mlp.fc2.bias"))
        t = t + p("ls2.gamma") * m
    t = F.layer_norm(t, (d,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)
    return t[:, 0]


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_safetensors(path):
    """A safetensors file into a dict of torch tensors (float32; I64 kept), by hand."""
    import json
    import struct
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = data[base + b:base + e]
        if v["dtype"] == "F32":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy())
        elif v["dtype"] == "F16":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.float16).astype(np.float32))
        elif v["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16).float()
        elif v["dtype"] == "I64":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int64).copy())
        else:
            raise ValueError(v["dtype"])
        out[k] = t.reshape(v["shape"])
    return out


def clip_preprocess(img):
    """CLIPImageProcessor (openai/clip-vit-large-patch14-336) on a PIL RGB image -> (3, 336, 336)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(336 * long / short)
    size = (336, new_long) if w <= h else (new_long, 336)  # PIL (width, height)
    r = np.asarray(img.resize(size, Image.BICUBIC, reducing_gap=None))
    top, left = (r.shape[0] - 336) // 2, (r.shape[1] - 336) // 2
    r = r[top:top + 336, left:left + 336]
    x = (r.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def clip_forward(sd, x):
    """sd: the CLIPModel state dict; x (n, 3, 336, 336) -> (n, 768) L2-normalised image embeddings."""
    v = "vision_model."
    d, heads = 1024, 16
    hd = d // heads
    n = x.shape[0]
    t = F.conv2d(x, sd[v + "embeddings.patch_embedding.weight"], None, stride=14).flatten(2).transpose(1, 2)
    t = torch.cat([sd[v + "embeddings.class_embedding"].expand(n, 1, -1), t], 1)
    t = t + sd[v + "embeddings.position_embedding.weight"][None]
    t = F.layer_norm(t, (d,), sd[v + "pre_layrnorm.weight"], sd[v + "pre_layrnorm.bias"], eps=1e-5)
    i = 0
    while v + "encoder.layers.%d.layer_norm1.weight" % i in sd:
        p = lambda k: sd[v + "encoder.layers.%d.%s" % (i, k)]  # noqa: E731
        h = F.layer_norm(t, (d,), p("layer_norm1.weight"), p("layer_norm1.bias"), eps=1e-5)
        q = F.linear(h, p("self_attn.q_proj.weight"), p("self_attn.q_proj.bias")) * hd ** -0.5
        k = F.linear(h, p("self_attn.k_proj.weight"), p("self_attn.k_proj.bias"))
        val = F.linear(h, p("self_attn.v_proj.weight"), p("self_attn.v_proj.bias"))
        split = lambda z: z.reshape(n, -1, heads, hd).transpose(1, 2)  # noqa: E731
        att = torch.softmax(split(q) @ split(k).transpose(-2, -1), dim=-1)
        a = (att @ split(val)).transpose(1, 2).reshape(n, -1, d)
        t = t + F.linear(a, p("self_attn.out_proj.weight"), p("self_attn.out_proj.bias"))
        h = F.layer_norm(t, (d,), p("layer_norm2.weight"), p("layer_norm2.bias"), eps=1e-5)
        m = F.linear(h, p("mlp.fc1.weight"), p("mlp.fc1.bias"))
        m = m * torch.sigmoid(1.702 * m)
        t = t + F.linear(m, p("mlp.fc2.weight"), p("mlp.fc2.bias"))
        i += 1
    pooled = F.layer_norm(t[:, 0], (d,), sd[v + "post_layernorm.weight"], sd[v + "post_layernorm.bias"], eps=1e-5)
    e = F.linear(pooled, sd["visual_projection.weight"])
    return e / torch.linalg.norm(e, dim=-1, keepdim=True)


def clip_features(sd, paths, batch=4):
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.stack([clip_preprocess(load_image(p)) for p in paths[i:i + batch]])
            out.append(clip_forward(sd, x).numpy())
    return np.concatenate(out, 0).astype(np.float32)


def load_state_dict(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:2] != b"PK" and len(head) > 8 and head[8:9] == b"{":
        return load_safetensors(path)
    return torch.load(path, map_location="cpu")


def dinov2_features(sd, paths, batch=8):
    """Features of image files under dgm-eval's transform: (n, D) float32 numpy."""
    tf = dgm_transform()
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.stack([tf(load_image(p)) for p in paths[i:i + batch]])
            out.append(dinov2_forward(sd, x).numpy())
    return np.concatenate(out, 0).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(1)
    np.save(a.out, dinov2_features(load_state_dict(a.weights), a.images))


if __name__ == "__main__":
    main()
