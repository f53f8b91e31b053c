#!/bin/sh
# The Python package as a user gets it: a venv with Debian's numpy visible
# (python3 -m venv --system-site-packages), `pip install` of this source tree, then the issue's
# must-show tests run from that install (not from the build's staged package).
#
# To stay fast the install compiles only the extension, against this build's libcopyscope.a
# (python/CMakeLists.txt, standalone: cmake.source-dir=python, COPYSCOPE_PREBUILT_DIR); the
# venv and the extension's build folder are kept in the build directory between runs. The full
# `pip install .` (the whole CMake build) is the same CMake code with the library target.
# scikit-build-core comes from the wheels tools/install-deps.sh fetched (offline here); without
# them the test is skipped (77).
#
# usage: venv_install.sh SOURCE_DIR BUILD_DIR PYTHON
set -eu
src=$1 build=$2 py=$3
wheels=${CS_TOOLS_DIR:-/opt/copyscope-tools}/pybuild-wheels
venv=$build/pyvenv
if ! ls "$wheels"/scikit_build_core-*.whl >/dev/null 2>&1; then
  echo "SKIP: no scikit-build-core wheel in $wheels (tools/install-deps.sh fetches it)"
  exit 77
fi
[ -x "$venv/bin/python" ] || "$py" -m venv --system-site-packages "$venv"
"$venv/bin/python" -c "import scikit_build_core" 2>/dev/null ||
  "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir --no-index --find-links "$wheels" scikit-build-core
"$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir --no-deps --no-build-isolation --no-index --force-reinstall \
  --config-settings=cmake.source-dir=python --config-settings="cmake.define.COPYSCOPE_PREBUILT_DIR=$build" \
  --config-settings="build-dir=$build/pywheel" "$src"
cd "$build"  # not the source tree: `import copyscope` must find the venv's install
where=$("$venv/bin/python" -c "import copyscope, os; print(os.path.dirname(copyscope.__file__))")
case $where in
  "$venv"/*) echo "installed: $where" ;;
  *) echo "FAIL: copyscope imported from $where, not the venv"; exit 1 ;;
esac
PYTHONPATH=$src/tests/pytest exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$src/tests/pytest/test_api.py" \
  -k "fid_dirs_equals_cli or features_arrays_equal_cli or corrupt_image or bad_arrays"
