#!/usr/bin/env bash
# copyscope features vs pytorch-fid on the same images, same weights file, same thread count.
#
#   bench/bench_features.sh [N_IMAGES=200] [THREADS=2] [SIZE=256x256]
#
# Needs a build in ./build and network access to PyPI once (pip install --no-deps pytorch-fid
# into a venv over Debian's python3-torch). Prints images/s of both and the ratio, checks that
# both produce the same features, and appends the result to bench/results/features-cpu.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}; T=${2:-2}; SIZE=${3:-256x256}
WORK=${WORK:-/tmp/copyscope-bench-features}
CLI=${CLI:-build/copyscope}
PY=/usr/bin/python3
mkdir -p "$WORK"
VENV=$WORK/venv
if [ ! -x "$VENV/bin/python" ]; then
  $PY -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q --no-deps pytorch-fid
fi
W=$WORK/torch_home/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth
if [ ! -f "$W" ]; then
  mkdir -p "$(dirname "$W")"
  $PY tools/gen_test_weights.py --seed 1 --out "$W" >/dev/null
fi
IMGS=$WORK/images-$N-$SIZE
[ -d "$IMGS" ] || $PY tools/make_test_images.py --set natural --count "$N" --size "$SIZE" --out "$IMGS" >/dev/null
FILES=$(ls "$IMGS"/*.png | sort)

echo "== $N images of $SIZE, $T threads each, dims 2048, batch 50, same weights file =="
t0=$(date +%s.%N)
OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T "$CLI" features $FILES --weights "$W" --threads "$T" --batch 50 \
  --no-cache --quiet --out "$WORK/copyscope.h5"
t1=$(date +%s.%N)
peer_line=$(TORCH_HOME=$WORK/torch_home OMP_NUM_THREADS=$T "$VENV/bin/python" bench/pytorch_fid_peer.py features \
  --threads "$T" --batch 50 --out "$WORK/peer.npy" $FILES 2>/dev/null | tail -1)
t2=$(date +%s.%N)
$PY - "$WORK" "$N" "$t0" "$t1" "$t2" "$T" "$SIZE" <<'PY'
import sys, h5py, numpy as np, platform, datetime
work, n, t0, t1, t2, t, size = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6], sys.argv[7]
cs_s, peer_s = t1 - t0, t2 - t1
a = h5py.File(f"{work}/copyscope.h5", "r")["features"][()]
b = np.load(f"{work}/peer.npy")
rel = float(np.abs(a - b).max() / np.abs(b).max())
cs_r, peer_r = n / cs_s, n / peer_s
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
line = (f"{datetime.date.today()} {cpu}: {n} images {size}, {t} threads, dims 2048 (end to end, files -> features): "
        f"copyscope {cs_r:.2f} img/s ({cs_s:.1f} s), pytorch-fid {peer_r:.2f} img/s ({peer_s:.1f} s), "
        f"ratio {cs_r / peer_r:.2f}x; max |diff| / scale = {rel:.2e}")
print(line)
open("bench/results/features-cpu.txt", "a").write(line + "\n")
PY
