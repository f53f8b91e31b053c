#!/bin/bash
# copyscope demo: a complete attribution audit on a synthetic problem whose answer is known.
#
#   tools/demo.sh [COPYSCOPE_BINARY]
#
# 1. Inception weights: the official pytorch-fid file if copyscope finds it ($COPYSCOPE_WEIGHTS,
#    $TORCH_HOME/hub/checkpoints, ~/.cache/torch/hub/checkpoints); otherwise deterministic TEST
#    weights are generated (tools/gen_test_weights.py --seed 1, ~95 MB, once) and the numbers are
#    NOT comparable to published FIDs.
# 2. A synthetic audit (tools/make_synthetic_audit.py): 4 players Palette, Layout, Texture, Seed,
#    all 16 coalitions; by construction Palette > Layout > Texture and Seed is a null player.
# 3. copyscope audit with a bootstrap; prints the values and where the report is.
# Environment: DEMO_DIR (default ${XDG_CACHE_HOME:-~/.cache}/copyscope/demo), DEMO_PER_SET (24),
# DEMO_DIMS (2048 with the official weights, 192 with test weights: the deep features of a random
# network are heavy-tailed and drown the effects), DEMO_BOOTSTRAP (1000). About 3-6 minutes on 2 cores the first time (feature
# extraction of ~400 images), seconds afterwards (feature cache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cli=${1:-}
if [ -z "$cli" ]; then
  for c in "$root/build/copyscope" "$(command -v copyscope 2>/dev/null || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then cli=$c; break; fi
  done
fi
if [ -z "$cli" ] || [ ! -x "$cli" ]; then
  echo "demo: no copyscope binary; build first: cmake -S . -B build && cmake --build build -j" >&2
  exit 1
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
cache=${XDG_CACHE_HOME:-$HOME/.cache}/copyscope
dir=${DEMO_DIR:-$cache/demo}
per_set=${DEMO_PER_SET:-24}
dims=${DEMO_DIMS:-}
boot=${DEMO_BOOTSTRAP:-1000}
mkdir -p "$dir"

banner() { printf '\n%s\n%s\n%s\n' "========================================================================" "$1" "========================================================================"; }

weights_args=()
if "$cli" weights >/dev/null 2>&1 && "$cli" weights --json 2>/dev/null | grep -Eq '"official":[[:space:]]*true'; then
  echo "demo: using the official pytorch-fid Inception weights"
else
  w=$cache/test-weights-seed1.pth
  if [ ! -s "$w" ]; then
    echo "demo: official weights not found; generating deterministic test weights -> $w"
    mkdir -p "$cache"
    "$py" "$root/tools/gen_test_weights.py" --seed 1 --out "$w.tmp" && mv "$w.tmp" "$w"
  fi
  weights_args=(-w "$w")
  dims=${dims:-192}
  banner "WARNING: TEST WEIGHTS (random, not the official Inception network).
The numbers below are NOT comparable to published FIDs."
fi
dims=${dims:-2048}

data=$dir/synthetic-$per_set-$(sha256sum "$root/tools/make_synthetic_audit.py" | cut -c1-12)
if [ ! -f "$data/manifest.json" ]; then
  "$py" "$root/tools/make_synthetic_audit.py" --out "$data" --per-set "$per_set" --reference "$per_set" --size 64 --seed 7
fi
out=$dir/report
"$cli" audit "$data/manifest.json" "${weights_args[@]}" --dims "$dims" --bootstrap "$boot" --seed 1 --out "$out"
echo
echo "Known answer, by construction: Palette > Layout > Texture > Seed = 0 (Seed is an inactive"
echo "component: its value is exactly 0 and its interval contains 0). tests/audit.cmake checks it."
echo "Report: $out/report.html  (also report.json, values.csv, coalitions.csv, interactions.csv)"
echo "  it shows the reference and every coalition's images, each coalition's nearest-reference pairs,"
echo "  the coalition lattice, the pairwise interaction indices and every estimator with its intervals;"
echo "  add --pdf to the audit for report.pdf (headless Chromium)."
if [ ${#weights_args[@]} -gt 0 ]; then
  echo "Reminder: test weights were used; the FIDs are not comparable to published FIDs."
fi
