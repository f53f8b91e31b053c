#!/usr/bin/env bash
# Install copyscope's build, test and reference dependencies on Debian 12 (all Debian packages).
# Usage: tools/install-deps.sh            (as root, or with sudo available)
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS=(
  # build
  build-essential cmake pkg-config
  libpng-dev libjpeg62-turbo-dev zlib1g-dev libhdf5-dev libopenblas-dev liblapacke-dev
  libcjson-dev libzip-dev libssl-dev libwebp-dev libtiff-dev
  # the Python package's extension (python/, pyproject.toml): Python's headers
  python3-dev
  # independent references used by the tests (PyTorch running the pytorch-fid architecture,
  # numpy/scipy/mpmath for linear algebra, PIL for decoding, h5py to read our HDF5 files)
  python3 python3-venv python3-numpy python3-scipy python3-mpmath python3-pil python3-h5py
  python3-torch python3-torchvision python3-skimage python3-opencv python3-tqdm python3-requests python3-pytest
  # headless Chromium renders report.html in the report tests (and --pdf prints it)
  chromium
  hdf5-tools bc time
  # a real single-node Slurm for the scale-out test (tests/scaleout.cmake; no service is started)
  slurmctld slurmd slurm-client munge
  # MPI mode (COPYSCOPE_MPI, --mpi; tests/scaleout_mpi.cmake): Open MPI, and libpmix-dev because
  # Slurm's mpi/pmix plugin (slurm-wlm-basic-plugins) dlopens the unversioned libpmix.so for
  # srun --mpi=pmix (Debian's Open MPI speaks PMIx only)
  openmpi-bin libopenmpi-dev libpmix-dev
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Where a CUDA build happens (nvcc present), cuobjdump for the test that lists the module's
# architectures (tests/cuda_module.cmake, cuda_module_archs): the NVIDIA wheel from PyPI, into its
# own folder (CS_TOOLS_DIR); a failed download leaves that test skipped, never the build broken.
CS_TOOLS_DIR=${CS_TOOLS_DIR:-/opt/copyscope-tools}
if { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; } &&
   ! command -v cuobjdump >/dev/null && [ ! -x /usr/local/cuda/bin/cuobjdump ] &&
   ! ls "$CS_TOOLS_DIR"/cuobjdump/nvidia/*/bin/cuobjdump >/dev/null 2>&1; then
  echo "install-deps: cuobjdump (PyPI nvidia-cuda-cuobjdump) into $CS_TOOLS_DIR/cuobjdump" >&2
  # a venv's pip (python3-venv above): Debian's own python3 refuses pip installs (PEP 668)
  { $SUDO /usr/bin/python3 -m venv "$CS_TOOLS_DIR/venv" &&
    $SUDO "$CS_TOOLS_DIR/venv/bin/pip" install -q --no-deps --target "$CS_TOOLS_DIR/cuobjdump" nvidia-cuda-cuobjdump
  } >/dev/null 2>&1 || echo "install-deps: cuobjdump not installed (cuda_module_archs will skip)" >&2
fi
# The peer libraries themselves, as independent references (pytorch-fid, clean-fid, torch-fidelity):
# pure Python from PyPI, pinned, without their dependencies (Debian's torch, torchvision, numpy,
# scipy, PIL, tqdm and requests above serve them), into CS_TOOLS_DIR/pypeers (tests add it to
# PYTHONPATH). A failed download leaves the peer tests skipped, never the build broken.
PEERS=(pytorch-fid==0.3.0 clean-fid==0.1.35 torch-fidelity==0.4.0)
if [ ! -f "$CS_TOOLS_DIR/pypeers/.pinned" ] || [ "$(cat "$CS_TOOLS_DIR/pypeers/.pinned")" != "${PEERS[*]}" ]; then
  echo "install-deps: peer libraries ${PEERS[*]} (PyPI, --no-deps) into $CS_TOOLS_DIR/pypeers" >&2
  { [ -x "$CS_TOOLS_DIR/venv/bin/pip" ] || $SUDO /usr/bin/python3 -m venv "$CS_TOOLS_DIR/venv"; } &&
  $SUDO rm -rf "$CS_TOOLS_DIR/pypeers" &&
  $SUDO "$CS_TOOLS_DIR/venv/bin/pip" install -q --no-deps --target "$CS_TOOLS_DIR/pypeers" "${PEERS[@]}" >/dev/null 2>&1 &&
  echo "${PEERS[*]}" | $SUDO tee "$CS_TOOLS_DIR/pypeers/.pinned" >/dev/null ||
  echo "install-deps: peer libraries not installed (the tests that compare with them will skip)" >&2
fi
# The Python package's build backend (pyproject.toml: scikit-build-core), as wheels for the offline
# venv test (tests/pytest/venv_install.sh, ctest python_venv); `pip install .` itself fetches it
# from PyPI. A failed download leaves that test skipped, never the build broken.
PYBUILD=(scikit-build-core==0.11.6 pathspec==1.1.1 packaging==26.4)
if [ ! -f "$CS_TOOLS_DIR/pybuild-wheels/.pinned" ] || [ "$(cat "$CS_TOOLS_DIR/pybuild-wheels/.pinned")" != "${PYBUILD[*]}" ]; then
  echo "install-deps: Python build backend ${PYBUILD[*]} (PyPI wheels) into $CS_TOOLS_DIR/pybuild-wheels" >&2
  { [ -x "$CS_TOOLS_DIR/venv/bin/pip" ] || $SUDO /usr/bin/python3 -m venv "$CS_TOOLS_DIR/venv"; } &&
  $SUDO rm -rf "$CS_TOOLS_DIR/pybuild-wheels" &&
  $SUDO "$CS_TOOLS_DIR/venv/bin/pip" download -q --no-deps -d "$CS_TOOLS_DIR/pybuild-wheels" "${PYBUILD[@]}" >/dev/null 2>&1 &&
  echo "${PYBUILD[*]}" | $SUDO tee "$CS_TOOLS_DIR/pybuild-wheels/.pinned" >/dev/null ||
  echo "install-deps: Python build backend not fetched (python_venv will skip)" >&2
fi
echo "install-deps: all dependencies present" >&2
