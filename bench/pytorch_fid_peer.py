#!/usr/bin/env python3
"""Run pytorch-fid itself (the peer) on a list of images and time it.

pytorch-fid loads its weights through torch.hub from $TORCH_HOME/hub/checkpoints/
pt_inception-2015-12-05-6726825d.pth; bench scripts point TORCH_HOME at a folder that holds the
same weights file copyscope uses, so both run the same network on the same bytes.

  pytorch_fid_peer.py features --threads T --batch B --dims D --out OUT.npy IMAGE...
prints one line: "pytorch-fid: N images in S s (R img/s)".
"""
import argparse
import sys
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["features"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--dims", type=int, default=2048)
    ap.add_argument("--out", required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    t0 = time.perf_counter()
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[a.dims]]).eval()
    act = get_activations(a.files, model, batch_size=a.batch, dims=a.dims, device="cpu",
                          num_workers=a.threads)
    dt = time.perf_counter() - t0
    np.save(a.out, act.astype(np.float32))
    print(f"pytorch-fid: {len(a.files)} images in {dt:.2f} s ({len(a.files) / dt:.2f} img/s)")


if __name__ == "__main__":
    sys.exit(main())
