#!/usr/bin/env bash
# Install dependencies, build, and run the whole test suite (the README's test command).
# The numeric suites (ctest label "numeric") then run again under a second OpenBLAS kernel,
# CS_SECOND_KERNEL (default Haswell; "none" skips the pass): results must not hold only on the
# kernel this processor picks. The determinism tests force each kernel themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOPYSCOPE_WERROR=ON ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" ${CTEST_ARGS:-}
SECOND=${CS_SECOND_KERNEL:-Haswell}
if [ "$SECOND" != none ]; then
  echo "run-tests: the numeric suites again under OPENBLAS_CORETYPE=$SECOND" >&2
  OPENBLAS_CORETYPE=$SECOND ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" -L numeric -FS '.*' -FC '.*' \
    -E '^determinism_' ${CTEST_ARGS:-}
fi
