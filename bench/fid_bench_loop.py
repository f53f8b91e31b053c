#!/usr/bin/env python3
"""pytorch-fid's way of comparing many sets to one reference: load the statistics and loop over
calculate_frechet_distance (scipy sqrtm each time). Prints the FIDs and the seconds per set."""
import sys
import time

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance

ref = np.load(sys.argv[1])
mu1, s1 = ref["mu"], ref["sigma"]
t0 = time.time()
for p in sys.argv[2:]:
    with np.load(p) as f:
        print("FID: ", calculate_frechet_distance(mu1, s1, f["mu"], f["sigma"]), flush=True)
dt = time.time() - t0
print("seconds_per_set %.3f" % (dt / max(1, len(sys.argv) - 2)))
