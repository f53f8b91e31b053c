"""A loop of copyscope calls for the leak check (tests/python.cmake, python_leaks: valgrind).

Every entry point runs, successes and failures (InputError); a buffer lost by a call is then
"definitely lost" in valgrind's report, with a frame of the extension or the library in its
stack (python_leak_check.py fails on those; the interpreter's own exit-time losses have none). Usage: leak_loop.py WEIGHTS WORKDIR [N]."""
import os
import sys
import warnings

import numpy as np

import copyscope

warnings.simplefilter("ignore")
weights, work = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 3
rs = np.random.RandomState(0)
x = rs.randn(40, 16).astype(np.float32)
y = (rs.randn(30, 16) + 0.5).astype(np.float32)
img = [rs.randint(0, 256, (9, 7, 3), dtype=np.uint8), rs.randint(0, 256, (5, 6, 3), dtype=np.uint8)]
bad = os.path.join(work, "leak_corrupt.png")
with open(bad, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")  # truncated
csv = os.path.join(work, "leak_table.csv")
with open(csv, "w") as f:
    f.write("coalition,fid\n(baseline),10\na,8\nb,7\na+b,4\n")
for i in range(n):
    copyscope.fid(x, y)                       # full rank (n > d)
    copyscope.fid(x[:5], y[:6])               # low rank
    copyscope.fid(copyscope.stats(x), (y.mean(0).astype(np.float64), np.cov(y, rowvar=False)))
    copyscope.kid(x, y, n_subsets=3, subset_size=10)
    copyscope.shapley(csv, estimator="exact")
    copyscope.shapley({(): 1.0, ("a",): 2.0}, utility="raw")
    if i == 0:  # the network under valgrind is slow: once is enough for a definite leak
        f = copyscope.features(img, weights=weights, dims=64)
        assert f.shape == (2, 64)
        del f
    for call in (lambda: copyscope.features([bad], weights=weights, cache=None),
                 lambda: copyscope.fid(x, np.full((5, 16), np.nan, np.float32)),
                 lambda: copyscope.shapley({(): 0.0, ("a", "b"): 1.0}, utility="raw"),
                 lambda: copyscope.features(img, weights=os.path.join(work, "missing.pth"))):
        try:
            call()
            raise SystemExit("an error was expected")
        except copyscope.InputError:
            pass
print("leak loop: done", n)
