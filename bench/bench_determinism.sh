#!/bin/bash
# What the determinism rule costs (README, "Determinism"): the same commands with this tree and
# with an earlier revision (default 2c9deee, the last one whose BLAS calls ran on --threads
# OpenBLAS threads), side by side in one run, on the same inputs and thread count.
#   bench/bench_determinism.sh [OLD_REV] [OUT_FILE]
# Cases (2 threads each):
#   [1] features of 64 PNGs (256x256) to 2048-d features, no cache, batch 50
#   [2] the same with --batch 1 (one image per forward pass: the old code split each sgemm over
#       OpenBLAS threads, the new one runs a row block per thread)
#   [3] fid of one full-rank pair, d = 2048, from features files (2300 and 2400 rows)
#   [4] fid REF + 8 full-rank sets, d = 2048 (features files)
#   [5] audit --bootstrap 200 of 8 sets of 300 rows, d = 2048, from features files
# Prints new/old wall-time ratios (> 1: the rule costs time). The old revision is built once with
# CUDA off in $BENCH_WORK/old (a git worktree, removed at the end).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
old_rev=${1:-2c9deee}
out=${2:-$here/results/determinism-cost-cpu.txt}
work=${BENCH_WORK:-/tmp/copyscope-bench-det}
new=${BENCH_CLI:-$root/build/copyscope}
py=/usr/bin/python3
mkdir -p "$work" "$(dirname "$out")"

if [ ! -x "$work/old/build/copyscope" ]; then
  git -C "$root" worktree remove --force "$work/old" 2>/dev/null || true
  git -C "$root" worktree add -q --detach "$work/old" "$old_rev"
  cmake -S "$work/old" -B "$work/old/build" -DCMAKE_BUILD_TYPE=Release -DCOPYSCOPE_CUDA=OFF \
        -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$work/old/build" -j"$(nproc)" --target copyscope_cli >/dev/null
fi
old=$work/old/build/copyscope
weights=$work/weights.pth
[ -s "$weights" ] || $py "$root/tools/gen_test_weights.py" --seed 1 --out "$weights" >/dev/null
[ -d "$work/img" ] || $py "$root/tools/make_test_images.py" --set natural --count 64 --size 256x256 \
                          --seed 3 --out "$work/img" >/dev/null
$py - "$work" <<'EOF'
import os, sys
import numpy as np
work = sys.argv[1]
import h5py
def write(path, x):
    if os.path.exists(path):
        return
    with h5py.File(path + ".tmp", "w") as f:
        f["features"] = x.astype(np.float32)
        f["paths"] = np.array(["r%06d" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"; f.attrs["dims"] = np.int64(x.shape[1])
        f.attrs["weights_sha256"] = "ab" * 32; f.attrs["preprocessing"] = "bench"
    os.replace(path + ".tmp", path)
rng = np.random.default_rng(5)
d = 2048
mix = (rng.standard_normal((d, d), dtype=np.float32) / np.sqrt(d) + np.eye(d, dtype=np.float32))
write(os.path.join(work, "ref.h5"), rng.standard_normal((2300, d), dtype=np.float32) @ mix)
for k in range(8):
    write(os.path.join(work, "full%d.h5" % k), rng.standard_normal((2400, d), dtype=np.float32) @ mix * (1 + 0.02 * k))
    write(os.path.join(work, "small%d.h5" % k), rng.standard_normal((300, d), dtype=np.float32) @ mix * (1 + 0.02 * k))
import json
sets = [{"coalition": [p for i, p in enumerate("ABC") if k >> i & 1], "path": "small%d.h5" % k} for k in range(8)]
with open(os.path.join(work, "audit.json"), "w") as f:
    json.dump({"name": "bench", "reference": "ref.h5", "baseline": "Base", "players": list("ABC"), "sets": sets}, f)
EOF

wall() { # wall seconds of the fastest of 2 runs
  local best="" t0 t1 w
  for _ in 1 2; do
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    w=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$w < $best" | bc -l)" = 1 ]; then best=$w; fi
  done
  printf "%.2f" "$best"
}
row() { # label, then the command after "--" with CLI standing for the binary
  local label=$1; shift; shift
  local a b
  a=$(wall "${@/#CLI/$old}")
  b=$(wall "${@/#CLI/$new}")
  printf "%-58s old %7s s   new %7s s   new/old %.2f\n" "$label" "$a" "$b" "$(echo "$b / $a" | bc -l)"
}
{
  echo "# cost of the determinism rule (one OpenBLAS thread per call, fixed work items), $(date -u +%FT%TZ)"
  echo "# host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OpenBLAS $(
    $py -c 'import ctypes; l=ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype=ctypes.c_char_p; print(l.openblas_get_corename().decode())')"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# old: $old_rev ($(git -C "$root" log -1 --format=%h "$old_rev")), new: $(git -C "$root" log -1 --format=%h HEAD)$(git -C "$root" diff --quiet || echo ' + local changes')"
  echo "# wall seconds, fastest of 2 runs, 2 threads"
  row "[1] features, 64 PNGs 256x256, batch 50" -- CLI features "$work/img" --out "$work/f.h5" --weights "$weights" --no-cache -t 2 -q
  row "[2] features, 64 PNGs 256x256, batch 1" -- CLI features "$work/img" --out "$work/f.h5" --weights "$weights" --no-cache -t 2 -q --batch 1
  row "[3] fid, one full-rank pair, d = 2048" -- CLI fid "$work/ref.h5" "$work/full0.h5" --threads 2
  row "[4] fid REF + 8 full-rank sets, d = 2048" -- CLI fid "$work/ref.h5" "$work"/full?.h5 --threads 2
  row "[5] audit --bootstrap 200, 8 sets x 300 rows, d = 2048" -- CLI audit "$work/audit.json" --bootstrap 200 -j 2 --out "$work/audit-out" -q --no-cache
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true
