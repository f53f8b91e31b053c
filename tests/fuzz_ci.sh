#!/bin/sh
# CI run of the libFuzzer targets of tests/fuzz (ctest fuzz_smoke, tests/fuzz_ci.cmake):
#   fuzz_ci.sh SRC_DIR BUILD_DIR PYTHON [SECONDS]
# Configures and builds (clang, only the fuzz targets) a separate build in BUILD_DIR/fuzz, writes
# the seed corpora (tests/fuzz_seeds.py), replays the saved reproducers (tests/fuzz/regress/<t>/),
# then runs each target for SECONDS (default 20) on its seeds. Any crash, leak, sanitizer report,
# timeout or out-of-memory fails the test and leaves the input in BUILD_DIR/fuzz/artifacts.
# Exits 77 (skipped) when clang is absent.
set -u
SRC=$1 BUILD=$2 PY=$3 SECONDS_EACH=${4:-20}
CLANG=$(command -v clang || true)
[ -x /usr/bin/clang ] && CLANG=/usr/bin/clang
if [ -z "$CLANG" ]; then
    echo "fuzz_smoke: skipped (no clang)"
    exit 77
fi
F=$BUILD/fuzz
mkdir -p "$F"
cmake -S "$SRC" -B "$F" -DCOPYSCOPE_FUZZ=ON -DCMAKE_C_COMPILER="$CLANG" -DCOPYSCOPE_CUDA=OFF \
      -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$F/configure.log" 2>&1 \
    || { tail -20 "$F/configure.log"; echo "fuzz_smoke: configure failed"; exit 1; }
cmake --build "$F" -j2 --target fuzz_npz fuzz_h5 fuzz_json fuzz_safetensors fuzz_image_formats >"$F/build.log" 2>&1 \
    || { grep -E "error" "$F/build.log" | head -20; echo "fuzz_smoke: build failed"; exit 1; }
rm -rf "$F/seeds" "$F/units" "$F/artifacts" "$F/tmp"
mkdir -p "$F/artifacts" "$F/tmp"
"$PY" "$SRC/tests/fuzz_seeds.py" "$F/seeds" || { echo "fuzz_smoke: seed generation failed"; exit 1; }
export TMPDIR="$F/tmp" # the targets' temp files
# libhdf5's own leaks on corrupt files (tests/fuzz/lsan_hdf5.supp); ours are still reported
export LSAN_OPTIONS="suppressions=$SRC/tests/fuzz/lsan_hdf5.supp:print_suppressions=0"
status=0
for t in npz h5 json safetensors image_formats; do
    exe=$F/tests/fuzz/fuzz_$t
    regress=$SRC/tests/fuzz/regress/$t
    if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
        if ! "$exe" -rss_limit_mb=2048 -timeout=10 "$regress"/* >"$F/regress_$t.log" 2>&1; then
            tail -30 "$F/regress_$t.log"
            echo "FAIL fuzz_$t: a saved reproducer ($regress) fails again"
            status=1
            continue
        fi
        echo "ok   fuzz_$t: $(ls "$regress" | wc -l) saved reproducer(s) pass"
    fi
    mkdir -p "$F/units/$t" # new units go here, so the seeds stay as generated
    "$exe" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$F/artifacts/$t-" \
        "$F/units/$t" "$F/seeds/$t" >"$F/fuzz_$t.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        tail -40 "$F/fuzz_$t.log"
        echo "FAIL fuzz_$t: exit $rc; input(s): $(ls "$F/artifacts" | grep "^$t-" | tr '\n' ' ')"
        status=1
    else
        echo "ok   fuzz_$t: $(grep -Eo '^#[0-9]+' "$F/fuzz_$t.log" | tail -1 | tr -d '#') runs in ${SECONDS_EACH} s, no finding"
    fi
done
rm -rf "$F/tmp"
exit $status
