"""copyscope: FID (pytorch-fid's numbers), KID and Shapley attribution of diffusion-pipeline
components, from Python. The C library does all the work (copyscope._core); this package turns
numpy arrays, paths and dicts into its calls.

    import copyscope
    x = copyscope.features("imgs/")                   # (n, 2048) float32, cached like the CLI
    d = copyscope.fid("imgs_a/", "imgs_b/")           # float, equal to `copyscope fid A B`
    mu, sigma = copyscope.stats(x)
    a = copyscope.shapley({(): 310.2, ("lora",): 290.0}, baseline=())

Bad input raises copyscope.InputError (a ValueError, the CLI's exit-2 class; the message names the
file and the problem); runtime failures raise copyscope.EngineError (a RuntimeError); engine
warnings are Python warnings (copyscope.CopyscopeWarning). Ctrl-C stops a long call between
batches (KeyboardInterrupt; features already computed are in the cache). Drop-ins for the peers:
copyscope.compat.pytorch_fid, copyscope.compat.cleanfid.
"""
import os as _os
import sys as _sys


def _load_core():
    here = _os.path.dirname(_os.path.abspath(__file__))
    # a wheel built with CUDA carries the CUDA module beside the extension; the library looks for
    # it where COPYSCOPE_CUDA_MODULE says (host/net/cuda_module.c)
    bundled = _os.path.join(here, "libcopyscope_cuda.so")
    if "COPYSCOPE_CUDA_MODULE" not in _os.environ and _os.path.exists(bundled):
        _os.environ["COPYSCOPE_CUDA_MODULE"] = bundled
    # RTLD_GLOBAL: the CUDA module takes the library's host functions from the global namespace
    old = _sys.getdlopenflags()
    try:
        _sys.setdlopenflags(old | _os.RTLD_GLOBAL)
        from . import _core
    finally:
        _sys.setdlopenflags(old)
    return _core


_core = _load_core()

from ._api import (  # noqa: E402
    CopyscopeWarning,
    EngineError,
    InputError,
    NonOfficialWeightsWarning,
    audit,
    features,
    fid,
    isc,
    kid,
    shapley,
    stats,
)
from . import compat  # noqa: E402,F401

__version__ = _core.VERSION
__all__ = [
    "features", "stats", "fid", "kid", "isc", "shapley", "audit",
    "InputError", "EngineError", "CopyscopeWarning", "NonOfficialWeightsWarning", "compat",
]
