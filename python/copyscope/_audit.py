"""copyscope.audit: the audit engine (host/attribution/audit.c) from Python."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from . import _core
from ._api import DEFAULT_CACHE, InputError, _extract_opts, _warn_weights

_OPTIONS = ("dims", "protocol", "weights", "device", "batch_size", "threads", "cache", "estimator", "utility")


def run_audit(manifest: Union[str, "os.PathLike[str]", Mapping[str, Any]], *, bootstrap: Optional[int] = None,
              seed: Optional[int] = None, out: Optional[Union[str, "os.PathLike[str]"]] = None,
              dims: Optional[int] = None, protocol: str = "pytorch-fid", weights: Any = None,
              device: Optional[str] = "auto", batch_size: int = 50, threads: Optional[int] = None,
              cache: Any = DEFAULT_CACHE, estimator: Optional[str] = None, utility: Optional[str] = None,
              progress: bool = False, base_dir: Optional[Union[str, "os.PathLike[str]"]] = None) -> Dict[str, Any]:
    """Run `copyscope audit` on a manifest (a path, or a dict in the manifest's JSON format whose
    relative paths are relative to base_dir, default the current directory). Options given here
    take precedence over the manifest's "options" (None: the manifest's, else the CLI's default).
    out: a directory that gets report.json, report.csv and report.html (created; atomic writes).
    Returns report.json's content."""
    opts = _extract_opts(dims or 2048, protocol, weights, device, batch_size, threads, cache, False, progress)
    opts["dims_given"] = int(dims is not None)
    opts["bootstrap"] = -1 if bootstrap is None else int(bootstrap)
    if bootstrap is not None and not 0 <= int(bootstrap) <= 1000000:
        raise InputError(f"bootstrap must be 0..1000000 (got {bootstrap})")
    opts["seed"] = None if seed is None else int(seed)
    opts["estimator"] = estimator
    opts["utility"] = utility
    out_dir = os.fspath(out) if out is not None else None
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    if isinstance(manifest, Mapping):
        try:
            text = json.dumps(manifest, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise InputError(f"manifest: not JSON-serializable ({e})") from None
        base = os.fspath(base_dir) if base_dir is not None else os.getcwd()
        report = _core.audit("<manifest>", text, base, opts, out_dir)
    elif isinstance(manifest, (str, os.PathLike)):
        report = _core.audit(os.fspath(manifest), None, "", opts, out_dir)
    else:
        raise InputError(f"manifest: expected a path or a dict, got {type(manifest).__name__}")
    res = json.loads(report)
    sha = res.get("weights_sha256") or ""
    _warn_weights({"weights_sha256": sha}, 2)
    return res
