"""Ctrl-C during a long call: KeyboardInterrupt between batches, the batches already computed in
the feature cache (complete parts, no temporary file), and a later call reuses them."""
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import copyscope
from conftest import make_natural

pytestmark = pytest.mark.filterwarnings("ignore::copyscope.NonOfficialWeightsWarning")

CHILD = r"""
import sys, warnings
warnings.simplefilter("ignore")
import copyscope
d, w, c = sys.argv[1:4]
try:
    copyscope.features(d, weights=w, cache=c, batch_size=1, threads=1)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_stops_between_batches(weights, work):
    d = make_natural(work, "interrupt_set", 40, "48x40", seed=31)
    cache = os.path.join(work, "interrupt_cache")
    for f in glob.glob(os.path.join(cache, "**", "*"), recursive=True):
        if os.path.isfile(f):
            os.unlink(f)
    p = subprocess.Popen([sys.executable, "-c", CHILD, d, weights, cache], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    # wait for the first batch's part in the cache (one image per batch), then Ctrl-C
    t0 = time.monotonic()
    while not glob.glob(os.path.join(cache, "**", "part-*.h5"), recursive=True):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t0 < 300, "no batch reached the cache in 300 s"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)  # one batch of one image at most, then out
    assert p.returncode == 0, err
    assert out.strip() == "interrupted", (out, err)
    parts = glob.glob(os.path.join(cache, "**", "part-*.h5"), recursive=True)
    assert parts and not glob.glob(os.path.join(cache, "**", "*.tmp"), recursive=True)
    # what was computed is reused: every row equals a fresh computation
    first = sorted(glob.glob(os.path.join(d, "*.png")))[:1]  # the first batch: in the cache
    x = copyscope.features(first, weights=weights, cache=cache)
    y = copyscope.features(first, weights=weights, cache=None)
    assert np.array_equal(x, y)
