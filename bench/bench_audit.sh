#!/bin/bash
# Audit benchmark (CPU): 5 players = 32 coalitions x 200 feature rows + a 200-row reference, d = 2048,
# from features .h5 files (random; no network needed), with --bootstrap 1000.
#   bench/bench_audit.sh [COPYSCOPE_BINARY] [OUT_FILE]
# Peer: a Python loop over pytorch-fid's calculate_frechet_distance (scipy sqrtm per FID) doing the
# same bootstrap on the same features. A scipy sqrtm of a 2048 x 2048 product takes ~30 s on 2 cores,
# so the Python side runs PY_REPLICATES (default 1) replicate(s) of only PY_SETS (default 2) of the 32
# FIDs, and the time is extrapolated linearly to 32 FIDs x 1000 replicates (every FID is an
# independent sqrtm of the same size; the Shapley step is negligible).
# pytorch-fid is installed with pip --no-deps into a venv that sees Debian's torch/numpy/scipy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=${1:-$here/../build/copyscope}
out=${2:-$here/results/audit-cpu.txt}
work=${BENCH_WORK:-/tmp/copyscope-bench-audit}
venv=${BENCH_VENV:-/tmp/copyscope-bench-venv}
reps=${BOOTSTRAP:-1000}
pyreps=${PY_REPLICATES:-1}
pysets=${PY_SETS:-2}
py=/usr/bin/python3
mkdir -p "$work" "$(dirname "$out")"

if [ ! -x "$venv/bin/python" ]; then
  $py -m venv --system-site-packages "$venv" >/dev/null 2>&1 || {
    echo "bench_audit: python3 -m venv failed (Debian package python3-venv missing)" >&2; exit 1; }
fi
"$venv/bin/python" -c "import pytorch_fid" 2>/dev/null || "$venv/bin/pip" install -q --no-deps pytorch-fid
[ -f "$work/set31.h5" ] || $py "$here/bench_audit.py" data "$work" 5 200 2048

tmp=$(mktemp)
{
  echo "# copyscope audit benchmark (CPU), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# data: 5 players, 32 coalitions x 200 rows + 200 reference rows, d = 2048 (features .h5)"
  t0=$(date +%s.%N)
  "$cli" audit "$work/manifest.json" --bootstrap "$reps" --seed 1 --out "$work/report" --quiet > "$work/cs.txt"
  t1=$(date +%s.%N)
  cs=$(echo "$t1 - $t0" | bc -l)
  $py - "$work/report/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("# copyscope: seconds features %.2f, fid %.2f, bootstrap %.2f; FID method %s"
      % (r["seconds"]["features"], r["seconds"]["fid"], r["seconds"]["bootstrap"], r["fid_method"]))
inside = sum(lo <= r["values"][p] <= hi for p, (lo, hi) in r["ci95"].items())
print("# values whose 95%% interval contains the point estimate: %d of %d (max |bootstrap mean - value| "
      "/ std error = %.1f: FID's small-sample bias under resampling with replacement)"
      % (inside, len(r["players"]), max(abs(r["bootstrap_mean"][p] - r["values"][p]) / r["std_error"][p]
                                       for p in r["players"])))
PY
  printf "copyscope audit --bootstrap %d: %.2f s wall (whole command: read features, 32 FIDs, %d x 32 resampled FIDs, estimators, reports)\n" "$reps" "$cs" "$reps"
  "$venv/bin/python" "$here/bench_audit.py" pyboot "$work" "$pyreps" "$pysets" > "$work/py.txt"
  spr=$(awk '/seconds_per_replicate/ {print $2}' "$work/py.txt")
  pyt=$(echo "$spr * $reps" | bc -l)
  printf "python loop (pytorch-fid calculate_frechet_distance, scipy sqrtm): %.2f s per replicate (timed: %d FID(s) x %d replicate(s), extrapolated to 32 FIDs), x %d replicates: %.0f s\n" "$spr" "$pysets" "$pyreps" "$reps" "$pyt"
  printf "ratio (python / copyscope): %.0fx\n" "$(echo "$pyt / $cs" | bc -l)"
} | tee "$tmp"
mv "$tmp" "$out"
