#!/usr/bin/python3
"""A folder of WebP, TIFF and BMP files (alpha, 16-bit, palette, CMYK, compressed, animated,
RLE variants) through `copyscope features DIR` vs pytorch-fid 0.3.0 itself (its listing, its
ImagePathDataset: PIL decoding, its InceptionV3 on the same weights file).

  image_formats_features.py CLI WEIGHTS CORPUS WORK

CORPUS is tools/make_format_images.py's output. Exit 77 when pytorch-fid is not installed in
/opt/copyscope-tools/pypeers (tools/install-deps.sh). Checks:
  - copyscope lists exactly the files pytorch-fid lists (its case-sensitive lower-case globs;
    "UPPER.TIF" and "x.gif" are in the folder and must be skipped by both);
  - the 2048-d features agree to 1e-4 of the feature scale (max |feature|).
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

PEERS = "/opt/copyscope-tools/pypeers"

# One file per decoding path that matters (alpha, animation, CMYK, 16-bit gray and RGB, palette
# tiles, RLE, 5-6-5), few enough to keep the test under a minute on 2 cores.
FILES = ["webp_lossless_alpha.webp", "webp_anim_mixed.webp", "tif_pil_CMYK_tiff_deflate.tif",
         "tif_pil_I16_tiff_adobe_deflate.tif", "tif_rgb16_be_deflate_pred.tif", "tif_pal4_tiled_deflate.tif",
         "bmp_rle4_topdown.bmp", "bmp_rgb16_565_h124.bmp"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    cli, weights, corpus, work = sys.argv[1:5]
    if not os.path.isdir(os.path.join(PEERS, "pytorch_fid")):
        print(f"SKIP: pytorch-fid is not installed in {PEERS} (tools/install-deps.sh installs it)")
        return 77
    sys.path.insert(0, PEERS)
    import torch
    import pytorch_fid.fid_score as fs
    import pytorch_fid.inception as inc

    folder = os.path.join(work, "folder")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for i, name in enumerate(FILES):  # names sort differently from the corpus order on purpose
        shutil.copy(os.path.join(corpus, name), os.path.join(folder, f"{(i * 7) % len(FILES):02d}_{name}"))
    shutil.copy(os.path.join(corpus, "tif_pil_RGB_raw.tif"), os.path.join(folder, "UPPER.TIF"))
    with open(os.path.join(folder, "x.gif"), "wb") as f:
        f.write(b"GIF89a")

    out = os.path.join(work, "features.h5")
    p = subprocess.run([cli, "features", folder, "--weights", weights, "--dims", "2048", "--no-cache",
                        "--device", "cpu", "--batch", "4", "--out", out], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"copyscope features exit {p.returncode}: {p.stderr}")
    with h5py.File(out, "r") as f:
        got = f["features"][()].astype(np.float64)
        paths = [x.decode() if isinstance(x, bytes) else x for x in f["paths"][()]]

    # pytorch-fid's own listing (fid_score.calculate_activation_statistics's caller)
    import pathlib
    path = pathlib.Path(folder)
    files = sorted([file for ext in fs.IMAGE_EXTENSIONS for file in path.glob("*.{}".format(ext))])
    files = [str(x) for x in files]
    if [os.path.basename(x) for x in paths] != [os.path.basename(x) for x in files]:
        fail(f"file lists differ:\n copyscope  {[os.path.basename(x) for x in paths]}\n "
             f"pytorch-fid {[os.path.basename(x) for x in files]}")
    print(f"listing: copyscope and pytorch-fid both take the same {len(files)} files (UPPER.TIF, x.gif skipped)")

    # pytorch-fid's network on the same weights file (it would download them otherwise)
    inc.load_state_dict_from_url = lambda *a, **k: torch.load(weights, map_location="cpu")
    model = inc.InceptionV3([inc.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    torch.set_num_threads(2)
    # batch 1: pytorch-fid stacks a batch, so different sizes need one image per batch
    want = fs.get_activations(files, model, batch_size=1, dims=2048, device="cpu", num_workers=0)
    want = np.asarray(want, np.float64)
    scale = float(np.abs(want).max())
    worst = 0.0
    for i, f in enumerate(files):
        e = float(np.abs(got[i] - want[i]).max())
        worst = max(worst, e)
        print(f"  {os.path.basename(f):40s} max |copyscope - pytorch-fid| = {e:.3e}")
    rel = worst / scale
    print(f"{len(files)} images, feature scale {scale:.3e}, worst {worst:.3e}, relative {rel:.3e}")
    # Tolerance 1e-4 of the feature scale: decoding is byte-exact (tests image_formats_ref), so
    # what remains is float32 summation order (im2col+sgemm vs torch's conv), ~1e-6 relative
    # as in features_torch; a wrong pixel anywhere moves features by far more than 1e-4.
    if not rel <= 1e-4:
        fail(f"relative error {rel:.3e} > 1e-4")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
