"""The public functions of the copyscope package (re-exported by copyscope/__init__.py)."""
from __future__ import annotations

import os
import signal
import threading
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

InputError = _core.InputError
EngineError = _core.EngineError


class CopyscopeWarning(UserWarning):
    """An engine warning: singular covariance (n < d), clamped eigenvalues, mixed extractors."""


class NonOfficialWeightsWarning(CopyscopeWarning):
    """Features computed with weights that are not the official pt_inception-2015-12-05 file:
    valid for comparisons among themselves, not comparable to published FIDs."""


PathLike = Union[str, "os.PathLike[str]"]
Images = Union[PathLike, np.ndarray, Sequence[Union[PathLike, np.ndarray]]]
Stats = Tuple[np.ndarray, np.ndarray]
SetLike = Union[Images, np.ndarray, Stats]


class _DefaultCache:
    """The CLI's feature cache ($XDG_CACHE_HOME/copyscope, else ~/.cache/copyscope)."""

    def __repr__(self) -> str:
        return "<the CLI's default cache>"


DEFAULT_CACHE = _DefaultCache()

# the image extensions pytorch-fid lists in a directory (a file with one of these is an image)
_IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
# the engine's protocols and their aliases (include/copyscope/protocol.h)
_PROTOCOLS = ("pytorch-fid", "legacy_pytorch", "pytorch_fid", "clean-fid", "clean", "torch-fidelity",
              "tensorflow", "legacy_tensorflow", "torch_fidelity")


def _catch_sigint() -> bool:
    """Whether the engine may take SIGINT for the call (it then raises KeyboardInterrupt): only in
    the main thread, and only while Python's own default handler is installed."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


def _extract_opts(dims: int, protocol: str, weights: Optional[PathLike], device: Optional[str],
                  batch_size: int, threads: Optional[int], cache: Any, skip_bad: bool,
                  progress: bool) -> Dict[str, Any]:
    if protocol not in _PROTOCOLS:
        raise InputError(f"protocol {protocol!r} is not supported by this build "
                         f"(supported: {', '.join(_PROTOCOLS)})")
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or int(dims) not in (64, 192, 768, 2048):
        raise InputError(f"dims must be 64, 192, 768 or 2048 (got {dims!r})")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= 4096:
        raise InputError(f"batch_size must be an integer in 1..4096 (got {batch_size!r})")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                or not 0 <= threads <= 1024):
        raise InputError(f"threads must be None or an integer in 0..1024 (got {threads!r})")
    opts: Dict[str, Any] = {
        "dims": int(dims), "weights": os.fspath(weights) if weights is not None else None,
        "device": device, "batch_size": int(batch_size), "threads": int(threads or 0),
        "skip_bad": int(bool(skip_bad)), "progress": int(bool(progress)),
        "catch_sigint": int(_catch_sigint()),
        "protocol": protocol,
    }
    if cache is None:
        opts["use_cache"] = 0
    elif cache is DEFAULT_CACHE:
        opts["use_cache"] = 1
    else:
        opts["use_cache"] = 1
        opts["cache_dir"] = os.fspath(cache)
    return opts


def _as_image(a: Any, i: int) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise InputError(f"image {i}: expected a numpy array or a path, got {type(a).__name__}")
    if a.dtype != np.uint8:
        raise InputError(f"image {i}: dtype {a.dtype}, expected uint8 (H, W, 3) RGB")
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"image {i}: shape {a.shape}, expected (H, W, 3) with H, W >= 1")
    return np.ascontiguousarray(a)  # no copy when it already is


def _image_inputs(images: Any) -> Tuple[str, list]:
    """('files', [paths]) or ('arrays', [(H, W, 3) uint8 arrays])."""
    if isinstance(images, (str, os.PathLike)):
        return "files", [os.fspath(images)]
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise InputError(f"images: dtype {images.dtype}, expected uint8 (n, H, W, 3) RGB")
        if images.ndim != 4 or images.shape[3] != 3:
            raise InputError(f"images: shape {images.shape}, expected (n, H, W, 3) uint8 "
                             "(one image: pass [image])")
        if images.shape[0] == 0:
            raise InputError("images: no images (n = 0)")
        images = np.ascontiguousarray(images)
        return "arrays", [images[i] for i in range(images.shape[0])]
    if isinstance(images, (list, tuple)):
        items = list(images)
        if not items:
            raise InputError("images: an empty list")
        if all(isinstance(x, (str, os.PathLike)) for x in items):
            return "files", [os.fspath(x) for x in items]
        if all(isinstance(x, np.ndarray) for x in items):
            return "arrays", [_as_image(x, i) for i, x in enumerate(items)]
        raise InputError("images: a list must hold only paths or only uint8 (H, W, 3) arrays")
    raise InputError(f"images: expected a directory, files, or uint8 arrays, got {type(images).__name__}")


def _skip_bad_hint(e: InputError) -> InputError:
    """The engine's CLI wording (--skip-bad) in Python's (skip_bad=True)."""
    msg = str(e).replace("use --skip-bad", "use skip_bad=True")
    if msg == str(e):
        return e
    ne = InputError(msg)
    ne.status = getattr(e, "status", None)
    return ne


def _warn_weights(res: Dict[str, Any], stacklevel: int) -> None:
    if res["weights_sha256"] and res["weights_sha256"] != _core.OFFICIAL_WEIGHTS_SHA256:
        warnings.warn(f"features from non-official Inception weights (SHA-256 {res['weights_sha256'][:16]}...): "
                      "not comparable to published FIDs", NonOfficialWeightsWarning, stacklevel=stacklevel + 1)


def _features_raw(images: Any, opts: Dict[str, Any], stacklevel: int) -> Dict[str, Any]:
    kind, items = _image_inputs(images)
    try:
        if kind == "files":
            res = _core.features_files(items, opts)
        else:
            res = _core.features_arrays(items, opts)
    except InputError as e:
        raise _skip_bad_hint(e) from None
    for why in res["skipped"]:
        warnings.warn(f"skipped {why}", CopyscopeWarning, stacklevel=stacklevel + 1)
    _warn_weights(res, stacklevel + 1)
    res["array"] = np.asarray(res["data"])  # a view of the engine's matrix, no copy
    return res


def features(images: Images, *, dims: int = 2048, protocol: str = "pytorch-fid",
             weights: Optional[PathLike] = None, device: Optional[str] = "auto", batch_size: int = 50,
             threads: Optional[int] = None, cache: Any = DEFAULT_CACHE, skip_bad: bool = False,
             progress: bool = False) -> np.ndarray:
    """Inception features of images, as pytorch-fid computes them (and as `copyscope features`).

    images: a directory (its *.png, *.jpg, ... files, sorted, not recursive, like pytorch-fid), an
    image file, a list of files and/or directories, a uint8 array (n, H, W, 3), or a list of uint8
    (H, W, 3) arrays of any sizes (RGB, as PIL's convert('RGB') gives). Arrays are read in place.
    dims: 64, 192, 768 or 2048 (pool3). weights: the FID Inception weights file (default: the CLI's
    discovery: $COPYSCOPE_WEIGHTS, then the torch hub cache). device: "cpu", "cuda", "cuda:N",
    "auto". threads: None = all cores. cache: the CLI's feature cache by default, a directory, or
    None (no cache); arrays are never cached (there is no file to hash). skip_bad: skip files that
    cannot be decoded (a CopyscopeWarning for each) instead of raising.

    Returns an (n, dims) float32 array, rows in input order (directories sorted by name).
    Raises InputError (bad or missing file, corrupt image naming it, bad option, wrong array),
    EngineError, KeyboardInterrupt (Ctrl-C; what was computed is cached)."""
    opts = _extract_opts(dims, protocol, weights, device, batch_size, threads, cache, skip_bad, progress)
    return _features_raw(images, opts, 2)["array"]


def _is_stats_pair(x: Any) -> bool:
    return (isinstance(x, tuple) and len(x) == 2 and all(isinstance(v, np.ndarray) for v in x)
            and x[0].ndim == 1)


def _side(x: Any, opts: Dict[str, Any], what: str) -> tuple:
    """One set as a side spec of _core (fid, stats)."""
    if _is_stats_pair(x):
        mu = np.ascontiguousarray(x[0], dtype=np.float64)
        sigma = np.ascontiguousarray(x[1], dtype=np.float64)
        return ("meancov", mu, sigma)
    if isinstance(x, np.ndarray) and x.ndim == 2:
        if x.dtype == np.float32:
            return ("rows", np.ascontiguousarray(x), "")
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer):
            return ("rows64", np.ascontiguousarray(x, dtype=np.float64))
        raise InputError(f"{what}: features of dtype {x.dtype}, expected float32 or float64 (n, d)")
    if isinstance(x, (str, os.PathLike)):
        p = os.fspath(x)
        if not os.path.isdir(p) and not p.lower().endswith(_IMAGE_EXTENSIONS):
            return ("path", p)  # .npz / HDF5 statistics or features (kind read from the bytes)
    res = _features_raw(x, opts, 3)
    return ("rows", res["array"], res["weights_sha256"], res["protocol"])


def _warn_fid(res: Dict[str, Any]) -> None:
    for text in res["warnings"]:
        warnings.warn(text, CopyscopeWarning, stacklevel=3)


def stats(x: SetLike, *, dims: int = 2048, protocol: str = "pytorch-fid", weights: Optional[PathLike] = None,
          device: Optional[str] = "auto", batch_size: int = 50, threads: Optional[int] = None,
          cache: Any = DEFAULT_CACHE, skip_bad: bool = False, progress: bool = False) -> Stats:
    """Mean (d,) and covariance (d, d), float64, of a set: images (as features() takes them), a
    features array (n, d), a (mu, sigma) pair, or a .npz / .h5 statistics or features file.
    The covariance is pytorch-fid's np.cov (n - 1 in the denominator), accumulated in float64."""
    opts = _extract_opts(dims, protocol, weights, device, batch_size, threads, cache, skip_bad, progress)
    res = _core.stats(_side(x, opts, "x"))
    return np.asarray(res["mu"]), np.asarray(res["sigma"])


def fid(a: SetLike, b: SetLike, *, dims: int = 2048, protocol: str = "pytorch-fid",
        weights: Optional[PathLike] = None, device: Optional[str] = "auto", batch_size: int = 50,
        threads: Optional[int] = None, cache: Any = DEFAULT_CACHE, skip_bad: bool = False,
        progress: bool = False, method: str = "auto") -> float:
    """Fréchet Inception Distance between two sets, equal bit for bit to `copyscope fid A B`.

    Each side: images (a directory, files, uint8 arrays: see features()), a features array (n, d)
    (float32 as the engine makes them; other dtypes are taken as float64), a (mu, sigma) pair, or
    a pytorch-fid .npz / copyscope .h5 statistics or features file. method: "auto" (the CLI's
    rule: exact low-rank forms when the sets have fewer rows than dims), "eig", "eig-ref", "svd",
    "lowrank", "reference". Warnings (singular covariance when n < d, ...) are CopyscopeWarnings."""
    opts = _extract_opts(dims, protocol, weights, device, batch_size, threads, cache, skip_bad, progress)
    sa, sb = _side(a, opts, "a"), _side(b, opts, "b")
    res = _core.fid(sa, sb, str(method), device, opts["threads"])
    _warn_fid(res)
    return res["fid"]


def kid(a: Union[Images, np.ndarray], b: Union[Images, np.ndarray], *, n_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0, dims: int = 2048, protocol: str = "pytorch-fid",
        weights: Optional[PathLike] = None, device: Optional[str] = "auto", batch_size: int = 50,
        threads: Optional[int] = None, cache: Any = DEFAULT_CACHE, skip_bad: bool = False,
        progress: bool = False, return_std: bool = False) -> Union[float, Tuple[float, float]]:
    """Kernel Inception Distance (cubic polynomial kernel, mean unbiased MMD^2 over n_subsets
    random subsets of min(subset_size, n1, n2) rows), as `copyscope metrics`. Each side: images or a
    float32 features array (n, d). return_std: also the standard deviation over the subsets."""
    opts = _extract_opts(dims, protocol, weights, device, batch_size, threads, cache, skip_bad, progress)

    def rows(x: Any) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.ndim == 2:
            return np.ascontiguousarray(x, dtype=np.float32)
        return _features_raw(x, opts, 3)["array"]

    res = _core.kid(rows(a), rows(b), int(n_subsets), int(subset_size), int(seed))
    return (res["kid"], res["kid_std"]) if return_std else res["kid"]


def isc(images: Union[Images, np.ndarray], *, splits: int = 10, shuffle: bool = True, seed: int = 2020,
        protocol: str = "torch-fidelity", weights: Optional[PathLike] = None, device: Optional[str] = "auto",
        batch_size: int = 50, threads: Optional[int] = None, cache: Any = DEFAULT_CACHE, skip_bad: bool = False,
        progress: bool = False, return_std: bool = False) -> Union[float, Tuple[float, float]]:
    """Inception Score of one set, as torch-fidelity 0.4.0 computes it (and `copyscope isc`):
    softmax of the fc layer's logits without its bias, rows shuffled by numpy's
    RandomState(seed).permutation (shuffle=True), `splits` splits, float64. images: as features()
    takes them (the default protocol is torch-fidelity's preprocessing), or float32 (n, 2048) pool3
    features. return_std: also the standard deviation over the splits."""
    opts = _extract_opts(2048, protocol, weights, device, batch_size, threads, cache, skip_bad, progress)
    if isinstance(images, np.ndarray) and images.ndim == 2:
        x = np.ascontiguousarray(images, dtype=np.float32)
    else:
        x = _features_raw(images, opts, 2)["array"]
    res = _core.isc(x, opts["weights"], int(splits), int(bool(shuffle)), int(seed))
    return (res["isc"], res["isc_std"]) if return_std else res["isc"]


def _coalition_str(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (tuple, list, frozenset, set)):
        names = sorted(key) if isinstance(key, (set, frozenset)) else list(key)
        for n in names:
            if not isinstance(n, str) or not n or any(c in n for c in '+,"\n\r'):
                raise InputError(f"coalition {key!r}: player names must be non-empty strings without + , \" or newlines")
        return "+".join(names) if names else "(baseline)"
    raise InputError(f"coalition {key!r}: expected a tuple of player names")


def shapley(table: Union[PathLike, Mapping[Any, float]], *, baseline: Optional[str] = None,
            estimator: str = "exact", utility: str = "fid-gain", seed: int = 0,
            max_samples: int = 0) -> Dict[str, Any]:
    """Attribution of a table of coalition values, as `copyscope shapley TABLE.csv`.

    table: a CSV path (the CLI's format), or a mapping from coalitions (tuples of player names;
    () is the baseline pipeline) to the metric value of that coalition (a FID for the default
    utility, the utility itself for utility="raw"). baseline: the baseline pipeline's name when
    the table names it. estimator: exact, kernelshap, permutation, loo, banzhaf, paper.
    utility: fid-gain (U(S) = FID(baseline) - FID(S)), neg-fid, kid, cosine, ..., raw.

    Returns {"players": [...], "values": {player: value}, "normalized": {...}, "std_error":
    {...} or None, "efficiency_gap", "estimator", "utility", "n_samples", "note"}."""
    if isinstance(table, Mapping):
        spec = _core.utility_column(str(utility))
        lines = [f"coalition,{spec}"]
        for key, value in table.items():
            v = float(value)
            lines.append(f"{_coalition_str(key)},{v!r}")
        res = _core.shapley("<table>", "\n".join(lines) + "\n", baseline, str(estimator), str(utility),
                            int(seed), int(max_samples))
    elif isinstance(table, (str, os.PathLike)):
        res = _core.shapley(os.fspath(table), None, baseline, str(estimator), str(utility), int(seed),
                            int(max_samples))
    else:
        raise InputError(f"table: expected a CSV path or a mapping of coalitions, got {type(table).__name__}")
    players = res["players"]
    out = {
        "players": players,
        "values": dict(zip(players, res["values"])),
        "normalized": dict(zip(players, res["normalized"])),
        "std_error": dict(zip(players, res["std_error"])) if res["std_error"] is not None else None,
    }
    for k in ("efficiency_gap", "estimator", "utility", "n_samples", "note"):
        out[k] = res[k]
    return out


def audit(manifest: Union[PathLike, Mapping[str, Any]], *, bootstrap: Optional[int] = None,
          seed: Optional[int] = None, out: Optional[PathLike] = None, **options: Any) -> Dict[str, Any]:
    """The whole audit (docs/audit.md): images of each coalition to Shapley values with bootstrap
    intervals, as `copyscope audit MANIFEST`. manifest: a path or a dict in the same JSON format
    (relative paths from base_dir=, default the current directory). bootstrap, seed and the
    keywords dims, estimator, utility, weights, device, batch_size, threads, cache, progress
    override the manifest's "options" (None: the manifest's, else the CLI's default). out: a
    directory for report.json/.csv/.html. Returns report.json's content as a dict."""
    from ._audit import run_audit
    return run_audit(manifest, bootstrap=bootstrap, seed=seed, out=out, **options)
