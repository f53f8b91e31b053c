"""Fixtures of the Python package's tests (tests/python.cmake runs them with pytest).

Environment (set by tests/python.cmake): PYTHONPATH holds the package (the build's staged
python/ folder, or a venv's install), CS_CLI the copyscope program, CS_WEIGHTS the test weights
(tools/gen_test_weights.py), CS_WORK a scratch folder kept between runs (generated images)."""
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tools")


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.exit(f"{name} is not set (run through ctest: tests/python.cmake)", returncode=2)
    return v


@pytest.fixture(scope="session")
def cli():
    return _env("CS_CLI")


@pytest.fixture(scope="session")
def weights():
    w = _env("CS_WEIGHTS")
    if not os.path.exists(w):
        pytest.skip(f"{w}: test weights missing (fixture_test_weights)")
    return w


@pytest.fixture(scope="session")
def work():
    w = _env("CS_WORK")
    os.makedirs(w, exist_ok=True)
    return w


def make_natural(work, name, count, size="64x48", seed=0, fmt="png"):
    """count seeded natural-looking images (tools/make_test_images.py), generated once."""
    d = os.path.join(work, name)
    if not os.path.isdir(d):
        tmp = d + ".tmp"
        subprocess.check_call([sys.executable, os.path.join(TOOLS, "make_test_images.py"), "--set", "natural",
                               "--count", str(count), "--size", size, "--seed", str(seed), "--format", fmt,
                               "--out", tmp], stdout=subprocess.DEVNULL)
        os.rename(tmp, d)
    return d


def run_cli(cli, *args, check=True):
    p = subprocess.run([cli, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"copyscope {' '.join(args)}: exit {p.returncode}: {p.stderr}")
    return p


@pytest.fixture(scope="session")
def dirs(work):
    """Two small image sets (PNG 64x48 and JPEG 40x56) and a set of mixed sizes."""
    return (make_natural(work, "set_a", 8, "64x48", seed=1), make_natural(work, "set_b", 7, "40x56", seed=2, fmt="jpg"))


def read_h5_features(path):
    import h5py
    with h5py.File(path, "r") as f:
        return f["features"][()], [p.decode() if isinstance(p, bytes) else p for p in f["paths"][()]]


def pil_rgb(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
