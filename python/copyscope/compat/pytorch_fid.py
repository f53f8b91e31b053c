"""pytorch-fid's fid_score functions (pytorch-fid 0.3.0 signatures and semantics), computed by
copyscope's engine: the same numbers (features match PyTorch to float32 rounding; the FID is
computed exactly, without scipy's sqrtm), features cached by file content.

    from copyscope.compat.pytorch_fid import calculate_fid_given_paths
    fid = calculate_fid_given_paths([dir_a, dir_b], batch_size=50, device="cpu", dims=2048)

Differences: the weights file is found as the CLI finds it ($COPYSCOPE_WEIGHTS, then
$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth, where pytorch-fid downloads
it), never downloaded; num_workers is ignored (the engine decodes on its own threads); bad
input raises copyscope.InputError (a ValueError) naming the file instead of a PIL or torch error.
The keyword-only extras weights=, cache= and threads= reach the engine."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .._api import DEFAULT_CACHE, InputError, _extract_opts, _side, fid, stats

IMAGE_EXTENSIONS = {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"}


def _device(device: Any) -> str:
    d = str(device) if device is not None else "auto"
    return d


def _check_path(p: str) -> None:
    if not os.path.exists(p):
        raise InputError(f"Invalid path: {p}")


def calculate_fid_given_paths(paths: Sequence[str], batch_size: int, device: Any, dims: int,
                              num_workers: int = 1, *, weights: Optional[str] = None,
                              cache: Any = DEFAULT_CACHE, threads: Optional[int] = None) -> float:
    """FID of the two paths (each a directory of images or a .npz with mu and sigma), as
    pytorch_fid.fid_score.calculate_fid_given_paths."""
    for p in paths:
        _check_path(os.fspath(p))
    a, b = (os.fspath(p) for p in paths)
    return fid(a, b, dims=dims, weights=weights, device=_device(device), batch_size=batch_size,
               threads=threads, cache=cache)


def save_fid_stats(paths: Sequence[str], batch_size: int, device: Any, dims: int, num_workers: int = 1, *,
                   weights: Optional[str] = None, cache: Any = DEFAULT_CACHE,
                   threads: Optional[int] = None) -> None:
    """Statistics (mu, sigma) of paths[0] saved to paths[1] as a pytorch-fid .npz, as
    pytorch_fid.fid_score.save_fid_stats (an existing output is refused; the write is atomic)."""
    src, dst = os.fspath(paths[0]), os.fspath(paths[1])
    _check_path(src)
    if os.path.exists(dst):
        raise InputError(f"Existing output file: {dst}")
    mu, sigma = stats(src, dims=dims, weights=weights, device=_device(device), batch_size=batch_size,
                      threads=threads, cache=cache)
    final = dst if dst.endswith(".npz") else dst + ".npz"  # numpy's savez naming
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=os.path.dirname(os.path.abspath(final)))
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, mu=mu, sigma=sigma)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        os.unlink(tmp)
        raise


def compute_statistics_of_path(path: str, model: Any = None, batch_size: int = 50, dims: int = 2048,
                               device: Any = "cpu", num_workers: int = 1, *, weights: Optional[str] = None,
                               cache: Any = DEFAULT_CACHE) -> Tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of a directory of images or a .npz (model is ignored: the engine's network)."""
    _check_path(os.fspath(path))
    return stats(os.fspath(path), dims=dims, weights=weights, device=_device(device), batch_size=batch_size,
                 cache=cache)


def calculate_frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                               eps: float = 1e-6) -> float:
    """The Fréchet distance of two Gaussians, as pytorch-fid's function (exactly, without sqrtm;
    eps is not needed: singular covariances are handled exactly)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape:
        raise InputError("Training and test mean vectors have different lengths")
    if sigma1.shape != sigma2.shape:
        raise InputError("Training and test covariances have different dimensions")
    return fid((mu1, sigma1), (mu2, sigma2))
