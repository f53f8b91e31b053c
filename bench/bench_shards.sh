#!/bin/bash
# Scale-out benchmark (CPU): the same audit unsharded, as 1, 2 and 4 shards (separate processes
# started together, like the tasks of a Slurm array, then `audit --from-partials`), and under
# `mpirun -np 1/2/4 ... --mpi`. Prints wall time and total CPU time (user + sys of every process,
# from /usr/bin/time on the launching shell, which waits for all of them) and their ratios to the
# 1-shard run, so that the overhead of sharding and merging can be read off.
#   bench/bench_shards.sh [COPYSCOPE_BINARY] [OUT_FILE]
# Data: tools/make_synthetic_audit.py, the 8 coalitions of Palette/Layout/Texture (the null player
# Seed is left out: its sets are byte-identical to its partners', which the feature cache would
# deduplicate differently in each split) x PER_SET images + REF reference images, 128x128, d = 2048,
# test weights (same network cost as the official ones). Every run starts with an empty feature
# cache of its own (written by all its processes concurrently). Threads: the unsharded run uses all
# cores; each of N shard processes gets max(1, cores / N) (4 shards on 2 cores oversubscribe 2x);
# mpirun runs with --bind-to none and the MPI mode's own split (cores / ranks per node, at least 1).
# Each configuration runs REPEAT times (default 2; the machine is shared) and the run with the lowest
# wall time is kept (for shards: the lowest extraction and the lowest merge).
# The rows of different thread counts differ by float32 rounding (~1e-7), so the reports are
# compared to the unsharded one with that tolerance in mind (max relative FID difference printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=$(readlink -f "${1:-$here/../build/copyscope}")
out=${2:-$here/results/shards-cpu-2core.txt}
work=${BENCH_WORK:-/tmp/copyscope-bench-shards}
per_set=${PER_SET:-32}
nref=${REF:-16}
py=/usr/bin/python3
ncpu=$(nproc)
repeat=${REPEAT:-2}
mkdir -p "$work" "$(dirname "$out")"

weights=${WEIGHTS:-$work/test-weights-seed1.pth}
[ -f "$weights" ] || $py "$here/../tools/gen_test_weights.py" --seed 1 --out "$weights" >/dev/null
data=$work/data-$per_set-$nref
if [ ! -f "$data/manifest-3p.json" ]; then
  $py "$here/../tools/make_synthetic_audit.py" --out "$data" --per-set "$per_set" --reference "$nref" --size 128 >/dev/null
  $py - "$data" <<'PY'
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
m["players"] = [p for p in m["players"] if p != "Seed"]
m["sets"] = [s for s in m["sets"] if "Seed" not in s["coalition"]]
json.dump(m, open(os.path.join(d, "manifest-3p.json"), "w"), indent=1)
PY
fi
manifest=$data/manifest-3p.json
nimg=$(( 8 * per_set + nref ))
common=(--dims 2048 --weights "$weights" --quiet)

have_mpi=1
"$cli" features --mpi /dev/null -o /dev/null 2>&1 | grep -q "built without MPI" && have_mpi=0
command -v mpirun >/dev/null || have_mpi=0

# time_of LABEL CMD...: run CMD under /usr/bin/time; appends "LABEL wall user sys" to $work/times
time_of() {
  local label=$1; shift
  /usr/bin/time -f "$label %e %U %S" -a -o "$work/times" "$@"
}

run_unsharded() {
  rm -rf "$work/cache-0" "$work/report-0"
  time_of "unsharded" "$cli" audit "$manifest" "${common[@]}" --cache-dir "$work/cache-0" -o "$work/report-0" >/dev/null
}

run_shards() { # N
  local n=$1 th=$(( ncpu / $1 )); [ "$th" -ge 1 ] || th=1
  rm -rf "$work/cache-s$n" "$work/parts-$n" "$work/report-s$n"
  time_of "shards$n-extract" bash -c '
    cli=$1; manifest=$2; n=$3; th=$4; work=$5; shift 5
    for i in $(seq 0 $((n - 1))); do
      "$cli" audit "$manifest" "$@" --threads "$th" --cache-dir "$work/cache-s$n" \
          --shard "$i/$n" --partials "$work/parts-$n" &
    done
    fail=0; for j in $(jobs -p); do wait "$j" || fail=1; done; exit $fail' _ "$cli" "$manifest" "$n" "$th" "$work" "${common[@]}"
  time_of "shards$n-merge" "$cli" audit "$manifest" --quiet --from-partials "$work/parts-$n" -o "$work/report-s$n" >/dev/null
}

run_mpi() { # K
  local k=$1
  rm -rf "$work/cache-m$k" "$work/report-m$k"
  time_of "mpi$k" mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$k" \
      "$cli" audit "$manifest" "${common[@]}" --cache-dir "$work/cache-m$k" --mpi -o "$work/report-m$k" >/dev/null
}

rm -f "$work/times"
echo "bench_shards: $nimg images; unsharded, shards 1 2 4, mpirun 1 2 4 (a few minutes)" >&2
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$repeat"); do
  run_unsharded
  for n in 1 2 4; do run_shards "$n"; done
  if [ "$have_mpi" = 1 ]; then for k in 1 2 4; do run_mpi "$k"; done; fi
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

tmp=$(mktemp)
$py - "$work" "$have_mpi" <<'PY' > "$tmp.body"
import json, os, sys
work, have_mpi = sys.argv[1], sys.argv[2] == "1"
t = {}
for line in open(os.path.join(work, "times")):
    label, wall, user, sys_ = line.split()
    run = (float(wall), float(user) + float(sys_))
    if label not in t or run[0] < t[label][0]:
        t[label] = run  # the fastest of the repeats
def fids(rep):
    r = json.load(open(os.path.join(work, rep, "report.json")))
    return [c["fid"] for c in r["coalitions"]]
f0 = fids("report-0")
def diff(rep):
    return max(abs(a - b) / abs(b) for a, b in zip(fids(rep), f0))
rows = [("unsharded (1 process)", t["unsharded"], "report-0")]
for n in (1, 2, 4):
    e, m = t[f"shards{n}-extract"], t[f"shards{n}-merge"]
    rows.append((f"{n} shard{'s' if n > 1 else ''} + merge", (e[0] + m[0], e[1] + m[1]), f"report-s{n}"))
if have_mpi:
    for k in (1, 2, 4):
        rows.append((f"mpirun -np {k} --mpi", t[f"mpi{k}"], f"report-m{k}"))
base = rows[1][1]
print(f"{'run':26s} {'wall s':>8s} {'CPU s':>8s} {'wall/1sh':>9s} {'CPU/1sh':>8s}  max rel FID diff vs unsharded")
for name, (wall, cpu), rep in rows:
    print(f"{name:26s} {wall:8.1f} {cpu:8.1f} {wall / base[0]:9.3f} {cpu / base[1]:8.3f}  {diff(rep):.1e}")
print()
for n in (1, 2, 4):
    e, m = t[f"shards{n}-extract"], t[f"shards{n}-merge"]
    print(f"shards {n}: extraction {e[0]:.1f} s wall / {e[1]:.1f} s CPU; merge-and-report (--from-partials) "
          f"{m[0]:.2f} s wall / {m[1]:.2f} s CPU")
PY
{
  echo "# copyscope scale-out benchmark (CPU), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# machine: $ncpu cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average at start: $load0, at the end: $load1"
  echo "# audit: 3 players, 8 coalitions x $per_set images + $nref reference = $nimg images (128x128), d = 2048, fresh feature cache per run, no bootstrap"
  echo "# shards run concurrently as separate processes (like array tasks) with --threads max(1, $ncpu/N); only $ncpu cores: 4 shards / 4 ranks oversubscribe"
  echo "# CPU = user + sys of all processes; ratios vs the 1-shard run; the fastest of $repeat runs of each"
  cat "$tmp.body"
} | tee "$tmp"
mv "$tmp" "$out"
rm -f "$tmp.body"
