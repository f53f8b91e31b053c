#!/usr/bin/env bash
# copyscope features --model dinov2-vits14 vs the same network in PyTorch (tools/vit_torch.py: torch
# running DINOv2 ViT-S/14 under dgm-eval's transform, as dgm-eval does; its numbers equal
# facebookresearch/dinov2's code, docs/feature-spaces.md) on the same images, weights and thread count.
#
#   bench/bench_vit.sh [N_IMAGES=64] [THREADS=2] [SIZE=256x256]
#
# Needs a build in ./build. Prints images/s of both, the ratio and the features' agreement, and
# appends the line (with the load average: the machine may be shared) to bench/results/vit-cpu.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-64}; T=${2:-2}; SIZE=${3:-256x256}
WORK=${WORK:-/tmp/copyscope-bench-vit}
CLI=${CLI:-build/copyscope}
PY=/usr/bin/python3
mkdir -p "$WORK"
W=$WORK/dinov2_vits14_pretrain.pth
[ -f "$W" ] || $PY tools/gen_vit_weights.py --arch dinov2-vits14 --seed 1 --out "$W" >/dev/null
IMGS=$WORK/images-$N-$SIZE
[ -d "$IMGS" ] || $PY tools/make_test_images.py --set natural --count "$N" --size "$SIZE" --out "$IMGS" >/dev/null
FILES=$(ls "$IMGS"/*.png | sort)

echo "== $N images of $SIZE, $T threads each, dinov2-vits14, batch 50, same weights file =="
t0=$(date +%s.%N)
OMP_NUM_THREADS=$T "$CLI" features $FILES --model dinov2-vits14 --weights "$W" --threads "$T" --batch 50 \
  --no-cache --quiet --device cpu --out "$WORK/copyscope.h5"
t1=$(date +%s.%N)
OMP_NUM_THREADS=$T $PY - "$W" "$WORK/peer.npy" "$T" $FILES <<'PY'
import sys, numpy as np, torch
sys.path.insert(0, "tools")
import vit_torch
torch.set_num_threads(int(sys.argv[3]))
np.save(sys.argv[2], vit_torch.dinov2_features(vit_torch.load_state_dict(sys.argv[1]), sys.argv[4:], batch=50))
PY
t2=$(date +%s.%N)
$PY - "$WORK" "$N" "$t0" "$t1" "$t2" "$T" "$SIZE" <<'PY'
import sys, os, h5py, numpy as np, datetime
work, n, t0, t1, t2, t, size = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6], sys.argv[7]
cs_s, peer_s = t1 - t0, t2 - t1
a = h5py.File(f"{work}/copyscope.h5", "r")["features"][()]
b = np.load(f"{work}/peer.npy")
rel = float(np.abs(a - b).max() / np.abs(b).max())
cs_r, peer_r = n / cs_s, n / peer_s
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
load = os.getloadavg()[0]
line = (f"{datetime.date.today()} {cpu} (load {load:.1f}): {n} images {size}, {t} threads, dinov2-vits14 (files -> "
        f"features): copyscope {cs_r:.2f} img/s ({cs_s:.1f} s), PyTorch {peer_r:.2f} img/s ({peer_s:.1f} s), "
        f"ratio {cs_r / peer_r:.2f}x; max |diff| / scale = {rel:.2e}")
print(line)
open("bench/results/vit-cpu.txt", "a").write(line + "\n")
PY
