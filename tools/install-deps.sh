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
  libcjson-dev libzip-dev libssl-dev
  # independent references used by the tests (PyTorch running the pytorch-fid architecture,
  # numpy/scipy/mpmath for linear algebra, PIL for decoding, h5py to read our HDF5 files)
  python3 python3-venv python3-numpy python3-scipy python3-mpmath python3-pil python3-h5py
  python3-torch python3-torchvision python3-skimage python3-opencv
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
echo "install-deps: all dependencies present" >&2
