#!/bin/sh
# Pixel metrics over 1,000 image pairs (20 reference x 50 generated images, 256x256 and 240x272
# PNGs, so every pair needs a resize for ssim/rgb-ssim): `copyscope metrics` vs the same
# computations in Python (PIL resizes, OpenCV calcHist/compareHist, scikit-image
# structural_similarity, numpy), per-image work done once per image on both sides.
# Usage: bench/bench_metrics.sh [BUILD_DIR]   (default /tmp/build-metrics)
# Writes bench/results/metrics-cpu.txt.
set -eu
BUILD=${1:-/tmp/build-metrics}
CLI=$BUILD/copyscope
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/bench-metrics.XXXXXX)
OUT=$HERE/results/metrics-cpu.txt
PY=/usr/bin/python3
trap 'rm -rf "$WORK"' EXIT

$PY - "$WORK" <<'PYEOF'
import os, sys
import numpy as np
from PIL import Image
w = sys.argv[1]
rng = np.random.default_rng(0)
for d, n, (W, H) in (("ref", 20, (256, 256)), ("gen", 50, (240, 272))):
    os.makedirs(os.path.join(w, d))
    yy, xx = np.mgrid[0:H, 0:W]
    for k in range(n):
        base = np.stack([np.sin(xx / (7 + k % 5) + c + k) * np.cos(yy / (9 + c)) for c in range(3)], 2)
        img = (127 + 90 * base + rng.normal(0, 25, (H, W, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(w, d, "%03d.png" % k))
PYEOF

cat > "$WORK/py_metrics.py" <<'PYEOF'
import glob, sys, time
import cv2
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity
refd, gend = sys.argv[1], sys.argv[2]
t0, c0 = time.time(), time.process_time()
load = lambda p: np.asarray(Image.open(p).convert("RGB"))
refs = [load(p) for p in sorted(glob.glob(refd + "/*.png"))]
gens = [load(p) for p in sorted(glob.glob(gend + "/*.png"))]
def desc(a):
    v = np.asarray(Image.fromarray(a).resize((64, 64), Image.LANCZOS)).mean(axis=2).ravel()
    h = [cv2.calcHist([a], [c], None, [256], [0, 256]) for c in range(3)]
    g = np.asarray(Image.fromarray(a).resize((9, 8), Image.BICUBIC).convert("L")).astype(int)
    return v / np.linalg.norm(v), h, (g[:, :-1] > g[:, 1:]).ravel()
dr, dg = [desc(a) for a in refs], [desc(a) for a in gens]
c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
acc = np.zeros(5)
for gi, b in enumerate(gens):
    for ri, a in enumerate(refs):
        bb = np.asarray(Image.fromarray(b).resize((a.shape[1], a.shape[0]), Image.LANCZOS))
        acc[0] += dr[ri][0] @ dg[gi][0]
        acc[1] += sum(cv2.compareHist(dr[ri][1][c], dg[gi][1][c], cv2.HISTCMP_CORREL) for c in range(3)) / 3
        acc[2] += 1 - np.count_nonzero(dr[ri][2] != dg[gi][2]) / 64
        acc[3] += structural_similarity(a, bb, win_size=7, channel_axis=2, data_range=255)
        x, y = a.astype(np.float64).ravel(), bb.astype(np.float64).ravel()
        cov = np.cov(x, y)
        acc[4] += (2 * x.mean() * y.mean() + c1) * (2 * cov[0, 1] + c2) / ((x.mean() ** 2 + y.mean() ** 2 + c1) * (cov[0, 0] + cov[1, 1] + c2))
n = len(refs) * len(gens)
print("python %d pairs %.3f s wall, %.3f s cpu, means %s" % (n, time.time() - t0, time.process_time() - c0,
                                                           " ".join("%.17g" % v for v in acc / n)))
PYEOF

{
  echo "# bench/bench_metrics.sh on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores (shared machine: other jobs may be running)"
  echo "# 20 reference (256x256) x 50 generated (240x272) PNGs = 1000 pairs; cosine hist dhash ssim rgb-ssim (+fusion)"
  for t in 1 2; do
    /usr/bin/time -f "%e %U %S" -o "$WORK/time$t" \
      "$CLI" metrics "$WORK/ref" "$WORK/gen" --threads $t --metric cosine,hist,dhash,ssim,rgb-ssim --json > "$WORK/cs$t.json"
    read -r wall usr sys < "$WORK/time$t"
    echo "copyscope --threads $t: $wall s wall, $(echo "$usr + $sys" | bc) s cpu"
  done
  $PY "$WORK/py_metrics.py" "$WORK/ref" "$WORK/gen" > "$WORK/py.txt"
  cat "$WORK/py.txt"
  $PY - "$WORK/cs1.json" "$WORK/py.txt" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
names = ["cosine", "hist", "dhash", "ssim", "rgb-ssim"]
cs = [m[n]["mean"] for n in names]
py = [float(v) for v in open(sys.argv[2]).read().split("means")[1].split()]
print("copyscope means " + " ".join("%.17g" % v for v in cs))
print("max |copyscope - python| over the 5 means: %.2g" % max(abs(a - b) for a, b in zip(cs, py)))
PYEOF
} | tee "$OUT.tmp"
PYT=$(sed -n 's/^python [0-9]* pairs \([0-9.]*\) s wall.*/\1/p' "$WORK/py.txt")
PYC=$(sed -n 's/^python .* s wall, \([0-9.]*\) s cpu.*/\1/p' "$WORK/py.txt")
C1=$(sed -n 's/^copyscope --threads 1: \([0-9.]*\) s wall.*/\1/p' "$OUT.tmp")
C1C=$(sed -n 's/^copyscope --threads 1: .* s wall, \([0-9.]*\) s cpu/\1/p' "$OUT.tmp")
C2=$(sed -n 's/^copyscope --threads 2: \([0-9.]*\) s wall.*/\1/p' "$OUT.tmp")
{
  echo "ratio python / copyscope, 1 thread: $(echo "scale=1; $PYT / $C1" | bc)x wall, $(echo "scale=1; $PYC / $C1C" | bc)x cpu"
  echo "ratio python / copyscope, 2 threads: $(echo "scale=1; $PYT / $C2" | bc)x wall"
} | tee -a "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
