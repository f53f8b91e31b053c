"""clean-fid's compute_fid (clean-fid 0.1.35 signature), computed by copyscope's engine, for the
modes the engine supports.

    from copyscope.compat.cleanfid import compute_fid
    score = compute_fid(dir_a, dir_b, mode="legacy_pytorch")

Modes, each an engine protocol (include/copyscope/protocol.h): "clean" (protocol clean-fid:
PIL bicubic resize of float planes, as clean-fid), "legacy_pytorch" (pytorch-fid), and
"legacy_tensorflow" (torch-fidelity: the TF1 bilinear resize). All run the FID Inception weights
file (clean-fid's TorchScript copy of the same network is not read). Dataset statistics (dataset_name=...) and gen= functions are not
supported (clean-fid downloads the former; the latter is a generator loop in Python)."""
from __future__ import annotations

import os
from typing import Any, Optional

from .._api import DEFAULT_CACHE, InputError, fid

# clean-fid's mode -> the engine's protocol (include/copyscope/protocol.h)
SUPPORTED_MODES = {"clean": "clean-fid", "legacy_pytorch": "pytorch-fid", "legacy_tensorflow": "torch-fidelity"}


def compute_fid(fdir1: Optional[str] = None, fdir2: Optional[str] = None, gen: Any = None, mode: str = "clean",
                model_name: str = "inception_v3", num_workers: int = 12, batch_size: int = 32,
                device: Any = "cuda", dataset_name: Optional[str] = "FFHQ", dataset_res: int = 1024,
                dataset_split: str = "train", num_gen: int = 50000, z_dim: int = 512, custom_feat_extractor: Any = None,
                verbose: bool = True, custom_image_tranform: Any = None, custom_fn_resize: Any = None,
                use_dataparallel: bool = True, *, weights: Optional[str] = None,
                cache: Any = DEFAULT_CACHE) -> float:
    """FID between two folders of images (clean-fid's first form), in a supported mode."""
    if mode not in SUPPORTED_MODES:
        raise InputError(f"clean-fid mode {mode!r} is unknown (supported: {', '.join(SUPPORTED_MODES)})")
    if model_name != "inception_v3" or custom_feat_extractor is not None or custom_image_tranform is not None \
            or custom_fn_resize is not None:
        raise InputError("copyscope.compat.cleanfid supports model_name='inception_v3' without custom "
                         "extractors, transforms or resizes")
    if gen is not None or fdir1 is None or fdir2 is None:
        raise InputError("copyscope.compat.cleanfid supports compute_fid(fdir1, fdir2) (two folders) only")
    for p in (fdir1, fdir2):
        if not os.path.isdir(os.fspath(p)):
            raise InputError(f"{os.fspath(p)}: not a directory")
    dev = "auto" if device is None else str(device)
    if dev == "cuda":
        dev = "auto"  # clean-fid's default; the engine falls back to the CPU without a GPU
    return fid(os.fspath(fdir1), os.fspath(fdir2), dims=2048, protocol=SUPPORTED_MODES[mode], weights=weights,
               device=dev, batch_size=batch_size, cache=cache)
