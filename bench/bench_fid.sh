#!/bin/bash
# FID engine benchmark (CPU): copyscope vs pytorch-fid on the same synthetic inputs, one run.
#   bench/bench_fid.sh [COPYSCOPE_BINARY] [OUT_FILE]
# 1. one pair, d = 2048 full rank:   copyscope fid a.npz b.npz   vs   python -m pytorch_fid a.npz b.npz
# 2. 32 sets vs one reference:       copyscope fid REF S1..S32 (one process) vs pytorch-fid's
#                                    calculate_frechet_distance in a loop (timed on PYFID_SETS sets,
#                                    default 3, and scaled to 32: each call is an independent sqrtm)
# 3. low-rank path, 100 vs 100 feature rows (d = 2048): copyscope fid f100a.h5 f100b.h5
# pytorch-fid is installed with pip --no-deps into a venv that sees Debian's torch/numpy/scipy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=${1:-$here/../build/copyscope}
out=${2:-$here/results/fid-cpu.txt}
work=${BENCH_WORK:-/tmp/copyscope-bench-fid}
venv=${BENCH_VENV:-/tmp/copyscope-bench-venv}
nsets=32
pysets=${PYFID_SETS:-3}
py=/usr/bin/python3
mkdir -p "$work" "$(dirname "$out")"

if [ ! -x "$venv/bin/python" ]; then
  if ! $py -m venv --system-site-packages "$venv" >/dev/null 2>&1; then
    echo "bench_fid: python3 -m venv failed: the Debian package python3-venv is missing" >&2
    exit 1
  fi
fi
"$venv/bin/python" -c "import pytorch_fid" 2>/dev/null || "$venv/bin/pip" install -q --no-deps pytorch-fid

[ -f "$work/aset$(printf %02d $((nsets - 1))).npz" ] || $py "$here/fid_bench_data.py" "$work" $nsets

# `python -m pytorch_fid a.npz b.npz` builds the Inception model even for .npz inputs and downloads
# its weights when they are not in $TORCH_HOME. Offline, give it a file with the official layout
# (generated; its values do not matter for .npz inputs): BENCH_WEIGHTS, or tools/gen_test_weights.py.
export TORCH_HOME=$work/torch
wfile=$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth
if [ ! -s "$wfile" ]; then
  mkdir -p "$(dirname "$wfile")"
  if [ -n "${BENCH_WEIGHTS:-}" ]; then ln -sf "$BENCH_WEIGHTS" "$wfile"
  else $py "$here/../tools/gen_test_weights.py" --seed 1 --out "$wfile" >/dev/null; fi
fi

# timeit CMD...: sets $wall (seconds) and $cpu (user + sys seconds); stdout goes to $work/last.out
timeit() {
  local t0 t1 tf
  tf=$(mktemp)
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$tf" "$@" > "$work/last.out"
  t1=$(date +%s.%N)
  cpu=$(awk '{printf "%.3f", $1 + $2}' "$tf")
  wall=$(echo "$t1 - $t0" | bc -l | awk '{printf "%.3f", $1}')
  rm -f "$tf"
}
# best_of N CMD...: the fastest of N runs in $wall/$cpu
best_of() {
  local n=$1 bw="" bc=""
  shift
  for _ in $(seq "$n"); do
    timeit "$@"
    if [ -z "$bw" ] || [ "$(echo "$wall < $bw" | bc -l)" = 1 ]; then bw=$wall; bc=$cpu; fi
  done
  wall=$bw
  cpu=$bc
}
ratio() { echo "$1 / $2" | bc -l | awk '{printf "%.1f", $1}'; }

{
echo "# copyscope FID benchmark (CPU), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# copyscope: $cli; pytorch-fid $("$venv/bin/python" -c 'import pytorch_fid; print(pytorch_fid.__version__)'), scipy $($py -c 'import scipy; print(scipy.__version__)')"
echo "# times are wall seconds (cpu = user + sys seconds); the machine may be shared: see load average"
echo

best_of 3 "$cli" fid "$work/a.npz" "$work/b.npz"; t_cs=$wall; cpu_cs=$cpu
out_cs=$(cat "$work/last.out")
timeit "$venv/bin/python" -m pytorch_fid "$work/a.npz" "$work/b.npz"; t_py=$wall; cpu_py=$cpu
out_py=$(grep FID "$work/last.out")
echo "[1] one pair, d=2048 full rank (.npz statistics)"
echo "    copyscope   : ${t_cs} s (cpu ${cpu_cs} s)   $out_cs"
echo "    pytorch-fid : ${t_py} s (cpu ${cpu_py} s)   $out_py"
echo "    speed-up    : $(ratio "$t_py" "$t_cs")x wall, $(ratio "$cpu_py" "$cpu_cs")x cpu   (target >= 20x)"
echo

sets=$(ls "$work"/set*.npz | head -n $nsets)
timeit "$cli" fid "$work/a.npz" $sets; t_cs=$wall; cpu_cs=$cpu
cp "$work/last.out" "$work/multi_cs.out"
n_lines=$(grep -c FID "$work/multi_cs.out")
pyset=$(ls "$work"/set*.npz | head -n "$pysets")
timeit "$venv/bin/python" "$here/fid_bench_loop.py" "$work/a.npz" $pyset; cpu_py=$cpu
per=$(grep seconds_per_set "$work/last.out" | cut -d' ' -f2)
t_py32=$(echo "$per * $nsets" | bc -l | awk '{printf "%.1f", $1}')
cpu_py32=$(echo "$cpu_py * $nsets / $pysets" | bc -l | awk '{printf "%.1f", $1}')
agree=$($py -c '
import sys
a = [float(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("FID")]
b = [float(l.split()[-1]) for l in open(sys.argv[2]) if l.startswith("FID")]
print("%.1e" % max(abs(x - y) / abs(y) for x, y in zip(a, b)))' "$work/multi_cs.out" "$work/last.out")
echo "[2] $nsets sets vs one reference, d=2048"
echo "    copyscope   : ${t_cs} s (cpu ${cpu_cs} s) for $n_lines sets in one process"
echo "    pytorch-fid : ${per} s per set (timed on $pysets sets) -> ${t_py32} s for $nsets (cpu ~${cpu_py32} s)"
echo "    speed-up    : $(ratio "$t_py32" "$t_cs")x wall, $(ratio "$cpu_py32" "$cpu_cs")x cpu   (target >= 50x)"
echo "    max relative difference of the FIDs on the common sets: $agree"
echo

asets=$(ls "$work"/aset*.h5 | head -n $nsets)
timeit "$cli" fid "$work/a.npz" $asets; t_cs=$wall; cpu_cs=$cpu
cp "$work/last.out" "$work/amulti_cs.out"
n_lines=$(grep -c FID "$work/amulti_cs.out")
apyset=$(ls "$work"/aset*.npz | head -n "$pysets")
timeit "$venv/bin/python" "$here/fid_bench_loop.py" "$work/a.npz" $apyset; cpu_py=$cpu
per=$(grep seconds_per_set "$work/last.out" | cut -d' ' -f2)
t_py32=$(echo "$per * $nsets" | bc -l | awk '{printf "%.1f", $1}')
cpu_py32=$(echo "$cpu_py * $nsets / $pysets" | bc -l | awk '{printf "%.1f", $1}')
echo "[2b] the shape of an audit: $nsets sets of 500 images (features files, n < d) vs one full-rank reference"
echo "    copyscope   : ${t_cs} s (cpu ${cpu_cs} s) for $n_lines sets in one process (method lowrank-ref: exact)"
echo "    pytorch-fid : ${per} s per set (timed on $pysets sets, the same rows as .npz) -> ${t_py32} s for $nsets (cpu ~${cpu_py32} s)"
echo "    speed-up    : $(ratio "$t_py32" "$t_cs")x wall, $(ratio "$cpu_py32" "$cpu_cs")x cpu   (target >= 50x)"
echo

best_of 5 "$cli" fid "$work/f100a.h5" "$work/f100b.h5" --json; t_lr=$wall; cpu_lr=$cpu
echo "[3] low-rank path, 100 vs 100 feature rows, d=2048 (HDF5 features, whole process)"
echo "    copyscope   : ${t_lr} s (cpu ${cpu_lr} s)   $(cat "$work/last.out")   (target < 0.050 s)"
} | tee "$out"
