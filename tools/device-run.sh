#!/usr/bin/env bash
# Build here, run on a lent GPU machine: copyscope's cuda backend tests and GPU benches in one call.
#
# Usage
#   1. On the development machine (no GPU needed: nvcc, cuDNN headers and libraries, the Debian
#      build dependencies of tools/install-deps.sh):
#
#        tools/device-run.sh pack
#
#      configures build-gpu/ (Release, the project's architectures: sm_80/86/89/90 SASS + compute_90
#      PTX, so whichever lent GPU it gets runs native code; COPYSCOPE_CUDA=ON), builds
#      the CLI, bench_features and every executable a ctest labelled `gpu` runs, strips them,
#      deletes the object files (the device runs no compiler), and packs the non-CUDA shared
#      libraries they load (Debian's HDF5, OpenBLAS, libpng, libjpeg, libzip, ...) into
#      .devlibs/libs.tar.xz (~15 MB; OpenBLAS alone is 35 MB unpacked). Both folders are
#      git-ignored (build-*/, .devlibs/). It prints what travels: the device tool carries the
#      working tree plus these two folders, 64 MiB in all (about 21 MiB today).
#      The CUDA libraries (cudart, cuBLAS, cuSOLVER, cuDNN: hundreds of MB) are NOT carried:
#      the run step finds the device's own.
#
#   2. The 15-minute recipe (a lent session has 15 minutes of device time, start included): after
#      `pack`, `tools/device-run.sh check --dry-run` lists here what travels (under 64 MiB) and
#      what runs; then ONE call does it all in ~8 minutes (stages with their own limits, see
#      run_check below), results under $OUT:
#
#        run(command="bash tools/device-run.sh run check", carry=["build-gpu", ".devlibs"],
#            timeout_s=600)
#
#      Otherwise, with more time, two calls (the build is for CUDA 13 / cuDNN 9, i.e. a
#      driver >= 580, which the lent H100/H200 images have; pack again after any source change):
#
#        run(command="bash tools/device-run.sh run gpu", carry=["build-gpu", ".devlibs"],
#            timeout_s=600)
#        run(command="bash tools/device-run.sh run bench", carry=["build-gpu", ".devlibs"],
#            timeout_s=600)
#
#      (`run all` does both in one call when 10 minutes suffice: the sanitizer test and the CPU
#      side of the end-to-end bench are the slow parts; the machine stays warm ~30 s between calls.)
#
#      Modes: `run probe` (environment report only), `run gpu` (probe + ctest -L gpu),
#      `run bench` (probe + benches, including `benchfid`: pytorch-fid side by side, FID per set,
#      a 32-coalition audit; bench-fid-gpu.txt), `run all` (probe + tests + benches). The files come back
#      from $OUT (at most 8): device.txt (the probe: GPU, driver, where CUDA/cuDNN live, the
#      library path used), device-run.log (everything), ctest-gpu.log, LastTest.log,
#      bench-gpu.txt (forward throughput: copyscope fp32/tf32/fp16, cuDNN heuristics vs find,
#      PyTorch with cudnn.benchmark on the same network and weights), precision.txt (features
#      end to end on generated images: images/s, and the feature/FID deviation of each
#      precision and of the CPU from GPU fp32).
#      Knobs (environment): CS_BENCH_IMAGES (default 200 per set), CS_BENCH_BATCH (64),
#      CS_SKIP_SANITIZER=1 (leaves gpu_sanitizer out of ctest), CS_CTEST_ARGS (extra ctest args).
#
# How the run step finds libraries: the test commands hold absolute paths of the packing
# machine (this checkout's root, recorded in build-gpu/.packed_root), so the device checkout is
# linked there (/work/main -> $PWD) when it lives elsewhere. Each library the binaries (and
# cuDNN's dlopen'ed sub-libraries) need is looked up in ld.so's cache, the CUDA toolkit folders,
# Python's nvidia/*/lib wheel folders (the torch cu13 install) and finally by `find /`; the
# carried .devlibs/ copy of a library is used only when the device has none of that soname.
# tests' Python (CS_PYTHON) is build-gpu/cs-python: `python3` on the device's PATH (with torch).
#
# Debugging a failure there: rerun with COPYSCOPE_CUDA_SYNC=1 (synchronise after every op, so
# the failing op is named), COPYSCOPE_CUDA_VERBOSE=1 (each cuDNN plan), CUDNN_LOGLEVEL_DBG=3
# CUDNN_LOGDEST_DBG=stderr (cuDNN's own log), COPYSCOPE_CUDA_CONV_PATH=scratch (bypass cuDNN's
# strided outputs), e.g.
#   run(command="bash tools/device-run.sh env COPYSCOPE_CUDA_SYNC=1 build-gpu/tests/test_gpu_features build-gpu/testdata/test-weights-seed1.pth", carry=[...])
# (`env ARGS...` sets up the paths, then runs ARGS.)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
BUILD=$ROOT/build-gpu
DEVLIBS=$ROOT/.devlibs
CUDNN_SUBLIBS="libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_cnn.so.9 libcudnn_adv.so.9
  libcudnn_engines_precompiled.so.9 libcudnn_engines_runtime_compiled.so.9 libcudnn_heuristic.so.9"

die() { echo "device-run: $*" >&2; exit 1; }

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# Executables of the build (CLI, tests, benches) and the CUDA module, which alone links the CUDA
# libraries (host/net/cuda_api.h).
build_exes() {
  local f
  for f in "$BUILD"/copyscope "$BUILD"/libcopyscope_cuda.so "$BUILD"/tests/*; do
    [ -x "$f" ] && is_elf "$f" && echo "$f"
  done
}

# ---------------------------------------------------------------------------------------- pack
pack() {
  cd "$ROOT" || exit 1
  local nvcc=${CUDACXX:-}
  [ -n "$nvcc" ] || nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  [ -x "$nvcc" ] || die "pack: nvcc not found (set CUDACXX)"
  mkdir -p "$BUILD"
  # the tests' Python on the device: python3 on its PATH (it holds torch there)
  cat >"$BUILD/cs-python" <<'EOF'
#!/bin/sh
# tools/device-run.sh: the Python of the GPU machine (python3 on its PATH holds torch).
exec "${CS_DEVICE_PYTHON:-python3}" "$@"
EOF
  chmod +x "$BUILD/cs-python"
  echo "== configure $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOPYSCOPE_CUDA=ON -DCOPYSCOPE_MPI=OFF \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCS_PYTHON="$BUILD/cs-python" \
    >"$BUILD/configure.log" 2>&1 || { tail -30 "$BUILD/configure.log"; die "configure failed"; }
  grep "copyscope:" "$BUILD/configure.log"
  grep -q "cuda backend ON" "$BUILD/configure.log" || die "the cuda backend is not configured (cuDNN missing?)"

  # targets: the CLI, bench_features, and every program under build-gpu that a gpu test runs
  # (read from the generated CTestTestfile.cmake: ctest cannot list commands not built yet)
  local targets
  targets=$(/usr/bin/python3 - "$BUILD" <<'PY'
import os, re, sys
build = sys.argv[1]
cmds, gpu = {}, set()
for line in open(os.path.join(build, "tests", "CTestTestfile.cmake")):
    m = re.match(r'add_test\(\[=\[(.*?)\]=\]\s+(.*)\)\s*$', line)
    if m:
        cmds[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    m = re.match(r'set_tests_properties\(\[=\[(.*?)\]=\]\s+PROPERTIES\s+(.*)\)\s*$', line)
    if m and re.search(r'LABELS\s+"([^"]*;)?gpu(;[^"]*)?"', m.group(2)):
        gpu.add(m.group(1))
for t in sorted(gpu):
    for a in cmds.get(t, []):
        if a.startswith(build + "/"):
            print(os.path.basename(a))
PY
)
  # keep the names that are targets (test programs are named after theirs; the CLI is copyscope_cli)
  local known
  known=$(cmake --build "$BUILD" --target help 2>/dev/null | awk '$1 == "..." {print $2}')
  targets=$(for t in copyscope_cli copyscope_cuda bench_features bench_kernels_cuda $targets; do echo "$known" | grep -qx "$t" && echo "$t"; done | sort -u)
  targets=$(echo $targets)
  echo "== build: $targets"
  cmake --build "$BUILD" -j"${JOBS:-2}" --target $targets || die "build failed"

  echo "== slim: strip executables, drop objects"
  local f
  for f in $(build_exes); do strip --strip-unneeded "$f" 2>/dev/null; done
  find "$BUILD" \( -name '*.o' -o -name '*.a' -o -name '*.o.d' -o -name '*.ii' -o -name 'a.out' \
    -o -name '*.cudafe1.*' -o -name 'compiler_depend.*' \) -delete
  rm -rf "$BUILD/testdata"/* "$BUILD/Testing" "$BUILD"/CMakeFiles/3.* "$BUILD"/CMakeFiles/hdf5
  echo "$ROOT" >"$BUILD/.packed_root"

  echo "== libraries to carry (.devlibs/libs.tar.xz)"
  rm -rf "$DEVLIBS"
  mkdir -p "$DEVLIBS/lib"
  local so path
  for f in $(build_exes); do ldd "$f" 2>/dev/null; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r so path; do
      case "$so" in
        linux-vdso* | ld-linux* | libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | \
          libresolv.so.* | libutil.so.* | libstdc++.so.* | libgcc_s.so.*) continue ;; # the device's own
        libcuda.so* | libcudart.so* | libcublas* | libcusolver* | libcusparse* | libcudnn* | \
          libnvJitLink* | libcufft* | libcurand* | libnvrtc*) continue ;; # CUDA: found on the device
      esac
      cp -L "$path" "$DEVLIBS/lib/$so" && echo "  $so ($(du -h "$DEVLIBS/lib/$so" | cut -f1), from $path)"
    done
  (cd "$DEVLIBS/lib" && ls) >"$DEVLIBS/MANIFEST"
  # compressed (OpenBLAS alone is 35 MB, 4 MB as xz): the run step unpacks it to /tmp
  tar -C "$DEVLIBS/lib" -cf - . | xz -T"${JOBS:-2}" -6 >"$DEVLIBS/libs.tar.xz" || die "xz failed"
  rm -rf "$DEVLIBS/lib"
  # pytorch-fid itself (pure Python, 15 kB) for the side-by-side bench: the device has torch but
  # no network; the wheel is a zip the run step unpacks onto PYTHONPATH
  if ! ls "$DEVLIBS"/pytorch_fid-*.whl >/dev/null 2>&1; then
    /usr/bin/python3 -m pip download --no-deps pytorch-fid==0.3.0 -d "$DEVLIBS" >/dev/null 2>&1 &&
      echo "  + $(ls "$DEVLIBS"/pytorch_fid-*.whl)" || echo "  (pytorch-fid wheel not downloaded: the peer bench will be skipped)"
  fi

  local tree b d
  tree=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  b=$(du -sb "$BUILD" | cut -f1)
  d=$(du -sb "$DEVLIBS" | cut -f1)
  awk -v t="$tree" -v b="$b" -v d="$d" 'BEGIN { m = 1048576;
    printf "== travels: working tree %.1f MiB + build-gpu %.1f MiB + .devlibs %.1f MiB = %.1f MiB (limit 64)\n",
           t / m, b / m, d / m, (t + b + d) / m }'
  [ $((tree + b + d)) -lt $((64 * 1048576)) ] || echo "WARNING: over the device tool's 64 MiB: carry less"
  echo "== next: run(command=\"bash tools/device-run.sh run gpu\", carry=[\"build-gpu\", \".devlibs\"], timeout_s=600)"
  echo "   then: run(command=\"bash tools/device-run.sh run bench\", carry=[\"build-gpu\", \".devlibs\"], timeout_s=600)"
}

# ------------------------------------------------------------------------------- device side
OUT=${OUT:-$ROOT/out}

probe() {
  echo "== $(date -u '+%F %T UTC') $(hostname) kernel $(uname -r) $(uname -m)"
  echo "== checkout $ROOT (packed at $(cat "$BUILD/.packed_root" 2>/dev/null || echo '?'))"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap,clocks.max.sm --format=csv
    nvidia-smi | sed -n '1,12p'
  else
    echo "nvidia-smi: not found"
  fi
  echo "== CUDA toolkits: $(ls -d /usr/local/cuda* 2>/dev/null | tr '\n' ' ')"
  [ -x /usr/local/cuda/bin/nvcc ] && /usr/local/cuda/bin/nvcc --version | tail -1
  echo "compute-sanitizer: $(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo none)"
  echo "== ld.so cache (CUDA, cuDNN, ours)"
  ldconfig -p 2>/dev/null | grep -E 'libcudnn\.|libcudnn_cnn|libcublas\.|libcudart\.|libcusolver\.|libhdf5|libopenblas|libgomp|libstdc\+\+' | sed 's/^/  /'
  echo "== python3: $(command -v python3)"
  python3 - <<'PY' 2>&1
import sys
try:
    import torch
    print("  torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
          "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
except Exception as e:
    print("  torch: not importable:", e)
import site, glob
for sp in site.getsitepackages():
    for d in sorted(glob.glob(sp + "/nvidia/*/lib")):
        print("  wheel libs:", d)
PY
}

# Folders that may hold CUDA / cuDNN libraries on the device, most likely first.
candidate_dirs() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib \
    /usr/local/cuda-*/lib64 /usr/local/cuda-*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -d "$d" ] && echo "$d"
  done
  python3 -c 'import site, glob
for sp in site.getsitepackages():
    for d in sorted(glob.glob(sp + "/nvidia/*/lib")) + sorted(glob.glob(sp + "/nvidia/*/lib64")):
        print(d)' 2>/dev/null
}

# The folder of the CUDA folders holding soname $1, or nothing.
find_lib() {
  local d
  for d in $CANDIDATES; do
    [ -e "$d/$1" ] && { echo "$d"; return; }
  done
}

# Last resort: every shared library on the machine, listed once (one walk of the file system).
find_lib_anywhere() {
  if [ ! -f /tmp/cs-solist ]; then
    timeout 120 find / \( -path /proc -o -path /sys -o -path /dev -o -path "$ROOT" -o -path '/tmp/cs-*' \) -prune \
      -o -name '*.so*' -print 2>/dev/null >/tmp/cs-solist
  fi
  grep -m1 "/$1\$" /tmp/cs-solist | xargs -r dirname
}

add_path() {
  case ":${LD_LIBRARY_PATH:-}:" in *":$1:"*) ;; *) LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$1 ;; esac
  export LD_LIBRARY_PATH
}

setup_paths() {
  # 1. the packing machine's absolute paths must resolve to this checkout
  local packed
  packed=$(cat "$BUILD/.packed_root" 2>/dev/null) || die "no build-gpu/ here: run 'tools/device-run.sh pack' first and carry build-gpu and .devlibs"
  if [ "$(cd "$packed" 2>/dev/null && pwd -P)" != "$ROOT" ]; then
    [ -e "$packed" ] && [ ! -L "$packed" ] && die "$packed exists on this machine and is not this checkout"
    mkdir -p "$(dirname "$packed")" && ln -sfn "$ROOT" "$packed" || die "cannot link $packed -> $ROOT"
    echo "linked $packed -> $ROOT"
  fi
  # 2. libraries: anything ldd cannot resolve, plus cuDNN's dlopen'ed sub-libraries
  CANDIDATES=$(candidate_dirs)
  export CS_ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
  rm -rf /tmp/cs-devlibs /tmp/cs-devlibs-all /tmp/cs-solist && mkdir -p /tmp/cs-devlibs /tmp/cs-devlibs-all
  if [ -f "$DEVLIBS/libs.tar.xz" ]; then
    if command -v xz >/dev/null; then
      xz -dc "$DEVLIBS/libs.tar.xz" | tar -C /tmp/cs-devlibs-all -xf -
    else # no xz there: Python's lzma
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
        "$DEVLIBS/libs.tar.xz" /tmp/cs-devlibs-all
    fi || echo "WARNING: cannot unpack $DEVLIBS/libs.tar.xz"
  else
    echo "WARNING: no $DEVLIBS/libs.tar.xz (carry .devlibs)"
  fi
  local round so d missing exes
  exes=$(build_exes)
  [ -n "$exes" ] || die "no executables in $BUILD"
  for round in 1 2 3 4; do
    missing=$(for f in $exes; do ldd "$f" 2>/dev/null; done | awk '/not found/ {print $1}' | sort -u)
    [ "$round" = 1 ] && missing="$missing libcudnn.so.9"
    for so in $missing; do
      d=$(find_lib "$so")
      if [ -n "$d" ]; then
        add_path "$d"
        echo "  $so: $d"
      elif [ -e "/tmp/cs-devlibs-all/$so" ]; then
        ln -sf "/tmp/cs-devlibs-all/$so" "/tmp/cs-devlibs/$so"
        add_path /tmp/cs-devlibs
        echo "  $so: carried (.devlibs)"
      elif d=$(find_lib_anywhere "$so") && [ -n "$d" ]; then
        add_path "$d"
        echo "  $so: $d (found by walking /)"
      else
        echo "  $so: NOT FOUND"
      fi
    done
    [ -z "$missing" ] && break
  done
  # cuDNN 9 loads its sub-libraries by name at run time: they must be on the path too
  local cudnn_dir
  cudnn_dir=$(ldd "$BUILD/libcopyscope_cuda.so" 2>/dev/null | awk '$1 == "libcudnn.so.9" {print $3}' | xargs -r dirname)
  for so in $CUDNN_SUBLIBS; do
    if [ -n "$cudnn_dir" ] && [ -e "$cudnn_dir/$so" ]; then continue; fi
    d=$(find_lib "$so")
    [ -n "$d" ] || d=$(find_lib_anywhere "$so")
    if [ -n "$d" ]; then add_path "$d"; echo "  $so: $d"; else echo "  $so: NOT FOUND (cuDNN will fail to load it)"; fi
  done
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  local bad=0
  for f in $exes; do
    if ldd "$f" | grep -q "not found"; then
      echo "UNRESOLVED in $(basename "$f"): $(ldd "$f" | awk '/not found/ {print $1}' | tr '\n' ' ')"
      bad=1
    fi
  done
  echo "libraries used by test_gpu_features:"
  ldd "$BUILD/libcopyscope_cuda.so" "$BUILD/tests/test_gpu_features" 2>/dev/null | grep -E 'cud|cublas|cusolver|hdf5|openblas|devlibs|:$' | sed 's/^/  /'
  return $bad
}

run_ctest() {
  # COPYSCOPE_REQUIRE_GPU=1 (tests/gpu_required.h): on the GPU machine a gpu test that cannot run
  # (module without cuDNN, device list failing, tool missing) FAILS instead of skipping
  export COPYSCOPE_REQUIRE_GPU=1
  echo "== ctest -L gpu (COPYSCOPE_REQUIRE_GPU=1)"
  local args=(--test-dir "$BUILD" -L gpu --output-on-failure --timeout "${CS_TEST_TIMEOUT:-900}")
  [ "${CS_SKIP_SANITIZER:-0}" = 1 ] && args+=(-E gpu_sanitizer)
  # shellcheck disable=SC2206
  args+=(${CS_CTEST_ARGS:-})
  local log=${CS_CTEST_LOG:-ctest-gpu}
  ctest "${args[@]}" 2>&1 | tee "$OUT/$log.log"
  local rc=${PIPESTATUS[0]}
  cp "$BUILD/Testing/Temporary/LastTest.log" "$OUT/${log/ctest-gpu/LastTest}.log" 2>/dev/null
  echo "ctest exit $rc"
  return "$rc"
}

weights() {
  W=$BUILD/testdata/test-weights-seed1.pth
  if [ ! -f "$W" ]; then
    mkdir -p "$BUILD/testdata"
    python3 "$ROOT/tools/gen_test_weights.py" --seed 1 --out "$W" >/dev/null || die "cannot generate test weights"
  fi
}

run_bench() {
  weights
  local BATCH=${CS_BENCH_BATCH:-64} B=$BUILD/tests/bench_features
  {
    echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null) $(date -u '+%F')"
    echo "== copyscope forward (cs_model_forward: host input uploaded each batch), dims 2048, batch $BATCH, test weights"
    for prec in fp32 tf32 fp16; do
      COPYSCOPE_CUDA_BATCH=$BATCH "$B" "$W" --device cuda --precision $prec --batch "$BATCH" --iters 10 2>&1
    done
    echo "-- cuDNN algorithms benchmarked (COPYSCOPE_CUDNN_FIND=1) instead of heuristics:"
    for prec in fp32 tf32 fp16; do
      COPYSCOPE_CUDNN_FIND=1 COPYSCOPE_CUDA_BATCH=$BATCH "$B" "$W" --device cuda --precision $prec --batch "$BATCH" --iters 10 2>&1
    done
    echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null), the same network (tools/fid_inception_torch.py) and weights, cudnn.benchmark=True, GPU-resident input"
    PYTHONPATH=$ROOT/tools python3 - "$W" "$BATCH" <<'PY' 2>&1
import sys, time, torch
import fid_inception_torch as ref
w, batch = sys.argv[1], int(sys.argv[2])
net = ref.load_network(w).cuda().eval()
torch.backends.cudnn.benchmark = True
x = torch.rand(batch, 3, 299, 299, device="cuda") * 2 - 1
for name, tf32, half in (("fp32 (TF32 off)", False, False), ("tf32", True, False), ("fp16 autocast", True, True)):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=half):
        for _ in range(3):
            net(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        iters = 10
        for _ in range(iters):
            net(x)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    ips = batch * iters / dt
    print(f"torch {name} batch {batch}: {ips:.1f} images/s, {1000 / ips:.3f} ms/image, "
          f"{ips * 11.422336192:.0f} GFLOP/s")
PY
  } 2>&1 | tee "$OUT/bench-gpu.txt"

  # end to end (files -> features) and the precisions' deviation, on generated photographs-like images
  local N=${CS_BENCH_IMAGES:-200} WORK=/tmp/cs-bench CLI=$BUILD/copyscope
  mkdir -p "$WORK"
  [ -d "$WORK/A" ] || python3 "$ROOT/tools/make_test_images.py" --set natural --count "$N" --size 256x256 --out "$WORK/A" >/dev/null
  [ -d "$WORK/B" ] || python3 "$ROOT/tools/make_test_images.py" --set natural --count "$N" --size 320x240 --seed 100000 --format jpg --out "$WORK/B" >/dev/null
  {
    echo "== end to end: copyscope features, $N PNGs 256x256 (set A) and $N JPEGs 320x240 (set B), dims 2048, batch $BATCH, no cache"
    local dev prec s t0 t1
    for dev in cuda cpu; do
      for prec in fp32 tf32 fp16; do
        [ $dev = cpu ] && [ $prec != fp32 ] && continue
        for s in A B; do
          t0=$(date +%s.%N)
          COPYSCOPE_CUDA_BATCH=$BATCH "$CLI" features "$WORK/$s" --out "$WORK/$s-$dev-$prec.h5" --weights "$W" \
            --device $dev --precision $prec --batch "$BATCH" --no-cache --quiet || {
            echo "FAILED: features $s $dev $prec"
            continue
          }
          t1=$(date +%s.%N)
          awk -v n="$N" -v a="$t0" -v b="$t1" -v what="features $s $dev $prec" \
            'BEGIN { printf "%s: %.1f images/s (%.2f s, incl. loading the weights and starting the device)\n", what, n / (b - a), b - a }'
        done
        echo "FID(A, B) $dev $prec: $("$CLI" fid "$WORK/A-$dev-$prec.h5" "$WORK/B-$dev-$prec.h5" 2>&1 | tail -1)"
      done
    done
    python3 - "$WORK" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
def f(s, dev, p):
    with h5py.File(f"{work}/{s}-{dev}-{p}.h5", "r") as h:
        return h["features"][()].astype(np.float64)
for s in ("A", "B"):
    try:
        ref = f(s, "cuda", "fp32")
    except Exception as e:
        print(f"set {s}: no cuda fp32 features to compare with ({e})")
        continue
    scale = np.abs(ref).max()
    for dev, p in (("cpu", "fp32"), ("cuda", "tf32"), ("cuda", "fp16")):
        try:
            x = f(s, dev, p)
        except Exception as e:
            print(f"set {s} {dev} {p}: {e}")
            continue
        d = np.abs(x - ref)
        print(f"set {s} {dev} {p} vs cuda fp32: max|d| {d.max():.3g} = {d.max() / scale:.3g} of the scale {scale:.4g}, "
              f"relative rms {np.sqrt((d ** 2).sum() / (ref ** 2).sum()):.3g}")
PY
  } 2>&1 | tee "$OUT/precision.txt"
}

# FID math and the peer, on the GPU: pytorch-fid end to end on the same images and weights (its
# torch is the device's; the wheel travels in .devlibs), FID per set against a full-rank 2048-d
# reference (target <= 10 ms), and a 32-coalition audit with 1,000 images per set from features.
run_bench_fid() {
  weights
  local N=${CS_BENCH_IMAGES:-200} WORK=/tmp/cs-bench CLI=$BUILD/copyscope t0 t1
  mkdir -p "$WORK"
  [ -d "$WORK/A" ] || python3 "$ROOT/tools/make_test_images.py" --set natural --count "$N" --size 256x256 --out "$WORK/A" >/dev/null
  [ -d "$WORK/B" ] || python3 "$ROOT/tools/make_test_images.py" --set natural --count "$N" --size 320x240 --seed 100000 --format jpg --out "$WORK/B" >/dev/null
  {
    echo "== copyscope fid A B (directories of $N images each, dims 2048, no cache) vs python -m pytorch_fid A B, same GPU, same weights"
    t0=$(date +%s.%N)
    "$CLI" fid "$WORK/A" "$WORK/B" --weights "$W" --device cuda --no-cache --batch 50 || echo "FAILED: copyscope fid --device cuda"
    t1=$(date +%s.%N)
    local tcs
    tcs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    echo "copyscope: $tcs s"
    local whl
    whl=$(ls "$DEVLIBS"/pytorch_fid-*.whl 2>/dev/null | head -1)
    if [ -n "$whl" ]; then
      rm -rf /tmp/pfid && mkdir -p /tmp/pfid/hub/checkpoints && python3 -m zipfile -e "$whl" /tmp/pfid/site
      ln -sf "$W" /tmp/pfid/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth
      t0=$(date +%s.%N)
      TORCH_HOME=/tmp/pfid PYTHONPATH=/tmp/pfid/site python3 -m pytorch_fid "$WORK/A" "$WORK/B" --device cuda \
        --batch-size 50 --num-workers 8 || echo "FAILED: pytorch-fid"
      t1=$(date +%s.%N)
      awk -v a="$t0" -v b="$t1" -v c="$tcs" 'BEGIN { printf "pytorch-fid: %.3f s\nspeed-up: %.2fx (target >= 5x)\n", b - a, (b - a) / c }'
    else
      echo "pytorch-fid wheel not carried (.devlibs): peer not measured"
    fi
    echo
    echo "== FID per set vs a full-rank 2048-d reference, and a 32-coalition audit (5 players) of 1,000 images per set, features files"
    python3 "$ROOT/bench/fid_gpu_data.py" "$WORK/fid" || echo "FAILED: bench data"
    local sets1 sets32 dev
    sets1=$(ls "$WORK"/fid/set*.h5 | head -1)
    sets32=$(ls "$WORK"/fid/set*.h5 | head -32)
    for dev in cuda cpu; do
      t0=$(date +%s.%N); "$CLI" fid "$WORK/fid/ref.npz" $sets1 --device $dev --method eig-ref >/dev/null || echo "FAILED"; t1=$(date +%s.%N)
      local one=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
      t0=$(date +%s.%N); "$CLI" fid "$WORK/fid/ref.npz" $sets32 --device $dev --method eig-ref --json >"$WORK/fid-$dev.json" || echo "FAILED"; t1=$(date +%s.%N)
      awk -v a="$t0" -v b="$t1" -v o="$one" -v d="$dev" 'BEGIN { printf "fid %s: 1 set %.3f s, 32 sets %.3f s -> %.1f ms per additional set (target <= 10 ms on cuda)\n", d, o, b - a, 1000 * (b - a - o) / 31 }'
    done
    python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
try:
    g = json.load(open(f"{w}/fid-cuda.json")); c = json.load(open(f"{w}/fid-cpu.json"))
    print("max relative difference GPU vs CPU over 32 sets: %.2e (tests require 1e-9)" %
          max(abs(a["fid"] - b["fid"]) / abs(b["fid"]) for a, b in zip(g, c)))
except Exception as e:
    print("no comparison:", e)
PY
    for dev in cuda cpu; do
      local B=1000
      [ $dev = cpu ] && B=${CS_BENCH_CPU_BOOT:-20}
      t0=$(date +%s.%N)
      "$CLI" audit "$WORK/fid/manifest.json" --device $dev -B $B -q -o "$WORK/fid/report-$dev" >/dev/null || echo "FAILED: audit $dev"
      t1=$(date +%s.%N)
      awk -v a="$t0" -v b="$t1" -v d="$dev" -v B="$B" 'BEGIN { printf "audit %s, 32 sets x 1000 features, --bootstrap %d: %.2f s\n", d, B, b - a }'
    done
  } 2>&1 | tee "$OUT/bench-fid-gpu.txt"
}

# ------------------------------------------------------------------- the 15-minute recipe
# `run check`: everything a lent session's first (and maybe only) device call must bring back,
# in one call of at most ~8 minutes (CS_CHECK_BUDGET seconds, default 480), each stage under
# its own time limit so that one hang cannot eat the rest; every result under $OUT:
#   device.txt        probe and library paths                                       (~30 s)
#   ctest-gpu.log     ctest -L gpu with COPYSCOPE_REQUIRE_GPU=1 (nothing skips) but the
#                     sanitizer: backend ops, features vs CPU (fp32/tf32/fp16, tensor-core
#                     plans), the pipeline, GPU math, the CLI, the kernel lab's checks
#                     (LastTest.log: their full output)                             (<= 220 s)
#   kernel-lab.txt    the kernel lab at batch 64: GB/s of each kernel beside the peak (<= 40 s)
#   bench-gpu.txt     forward images/s fp32/tf32/fp16, heuristics and find mode     (<= 70 s)
#   plans.txt         the cuDNN plan of every layer (path, algorithm, tensor cores) (<= 30 s)
#   ctest-sanitizer.log  compute-sanitizer memcheck of one batch, fp32 and fp16 (gpu_sanitizer;
#                     last: the slowest, and the one most likely to need more time) (<= 120 s)
#   summary.txt       each stage: exit status and seconds
CHECK_STAGES="ctest:220 lab:40 bench:70 plans:30 sanitizer:120"

stage_cmd() {
  case "$1" in
    ctest) echo "ctest --test-dir build-gpu -L gpu -E gpu_sanitizer --timeout 200 (COPYSCOPE_REQUIRE_GPU=1) > \$OUT/ctest-gpu.log" ;;
    sanitizer) echo "ctest --test-dir build-gpu -R gpu_sanitizer (COPYSCOPE_REQUIRE_GPU=1) > \$OUT/ctest-sanitizer.log" ;;
    lab) echo "$BUILD/tests/bench_kernels_cuda 64 > \$OUT/kernel-lab.txt" ;;
    bench) echo "bench_features WEIGHTS --device cuda --precision {fp32,tf32,fp16} --batch 64 --iters 5 [COPYSCOPE_CUDNN_FIND=1 too] > \$OUT/bench-gpu.txt" ;;
    plans) echo "COPYSCOPE_CUDA_VERBOSE=1 bench_features ... --iters 1 (fp32, fp16) > \$OUT/plans.txt" ;;
  esac
}

stage_run() {
  local B=$BUILD/tests/bench_features prec
  case "$1" in
    ctest) CS_TEST_TIMEOUT=200 CS_CTEST_ARGS="-E gpu_sanitizer" run_ctest ;;
    sanitizer) CS_TEST_TIMEOUT=115 CS_CTEST_LOG=ctest-sanitizer CS_CTEST_ARGS="-R gpu_sanitizer" run_ctest ;;
    lab) "$BUILD/tests/bench_kernels_cuda" 64 2>&1 | tee "$OUT/kernel-lab.txt"; return "${PIPESTATUS[0]}" ;;
    bench)
      weights
      {
        for prec in fp32 tf32 fp16; do
          COPYSCOPE_CUDA_BATCH=64 "$B" "$W" --device cuda --precision $prec --batch 64 --iters 5 2>&1
        done
        echo "-- COPYSCOPE_CUDNN_FIND=1 (candidates timed on the call that runs):"
        for prec in fp32 tf32 fp16; do
          COPYSCOPE_CUDNN_FIND=1 COPYSCOPE_CUDA_BATCH=64 "$B" "$W" --device cuda --precision $prec --batch 64 --iters 5 2>&1
        done
      } | tee "$OUT/bench-gpu.txt"
      return "${PIPESTATUS[0]}" ;;
    plans)
      weights
      for prec in fp32 fp16; do
        echo "== $prec"
        COPYSCOPE_CUDA_VERBOSE=1 COPYSCOPE_CUDA_BATCH=64 "$B" "$W" --device cuda --precision $prec --batch 64 --iters 1 2>&1
      done >"$OUT/plans.txt"
      grep -c "tensor cores yes" "$OUT/plans.txt" | sed 's/^/plans with tensor cores: /' ;;
  esac
}

run_check() {
  local budget=${CS_CHECK_BUDGET:-480} start=$SECONDS st name lim t0 rc left
  export COPYSCOPE_REQUIRE_GPU=1 # every stage: no skipping on the GPU machine (tests/gpu_required.h)
  : >"$OUT/summary.txt"
  for st in $CHECK_STAGES; do
    name=${st%%:*} lim=${st#*:}
    left=$((budget - (SECONDS - start)))
    if [ "$left" -lt 20 ]; then
      echo "$name: not run (budget of ${budget}s spent)" | tee -a "$OUT/summary.txt"
      continue
    fi
    [ "$lim" -gt "$left" ] && lim=$left
    echo "== stage $name (limit ${lim}s): $(stage_cmd "$name")"
    t0=$SECONDS
    # this script again (`_stage NAME`: the paths are in the environment), under its own limit
    OUT=$OUT timeout -k 10 "$lim" bash "$ROOT/tools/device-run.sh" _stage "$name"
    rc=$?
    echo "$name: exit $rc in $((SECONDS - t0)) s (limit $lim s)" | tee -a "$OUT/summary.txt"
  done
  echo "total: $((SECONDS - start)) s of ${budget} s" | tee -a "$OUT/summary.txt"
  ! grep -qv ": exit 0 \|^total:\|^plans" "$OUT/summary.txt"
}

# `check --dry-run` (here, after `pack`): what `run check` would carry and run, and the size.
dry_run() {
  cd "$ROOT" || exit 1
  [ -f "$BUILD/.packed_root" ] || die "no packed build-gpu/ here: run 'tools/device-run.sh pack' first"
  local tree b d total
  tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  b=$(du -sb "$BUILD" | cut -f1)
  d=$(du -sb "$DEVLIBS" 2>/dev/null | cut -f1)
  total=$((tree + b + ${d:-0}))
  echo "== carries (run's carry=[\"build-gpu\", \".devlibs\"], plus the working tree):"
  awk -v t="$tree" -v b="$b" -v d="${d:-0}" -v n="$total" 'BEGIN { m = 1048576;
    printf "  working tree %.1f MiB\n  build-gpu    %.1f MiB\n  .devlibs     %.1f MiB\n  total        %.1f MiB of 64 MiB\n",
           t / m, b / m, d / m, n / m }'
  echo "  the CUDA module: $(ls -la "$BUILD/libcopyscope_cuda.so" | awk '{print $5}') bytes, architectures:"
  local cuobj=${CUOBJDUMP:-$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)}
  [ -x "$cuobj" ] || cuobj=$(grep -s '^CS_CUOBJDUMP:' "$ROOT/build/CMakeCache.txt" | cut -d= -f2)
  if [ -x "$cuobj" ]; then
    "$cuobj" --list-elf --list-ptx "$BUILD/libcopyscope_cuda.so" | sed -n 's/.*\.\(sm_[0-9]*\)\.\(cubin\|ptx\)$/\1 \2/p' | sort | uniq -c | sed 's/^/   /'
  else
    echo "   (no cuobjdump here: set CUOBJDUMP)"
  fi
  echo "  executables: $(build_exes | xargs -n1 basename | tr '\n' ' ')"
  echo "  carried libraries: $(tr '\n' ' ' <"$DEVLIBS/MANIFEST" 2>/dev/null)"
  echo "== runs (one call, budget ${CS_CHECK_BUDGET:-480} s; results under \$OUT):"
  echo "  probe + library paths -> device.txt"
  local st
  for st in $CHECK_STAGES; do echo "  ${st%%:*} (<= ${st#*:} s): $(stage_cmd "${st%%:*}")"; done
  echo "  gpu tests: $(ctest --test-dir "$BUILD" -N -L gpu 2>/dev/null | awk '/Test +#/ {print $3}' | tr '\n' ' ')"
  echo "== the call:"
  echo "  run(command=\"bash tools/device-run.sh run check\", carry=[\"build-gpu\", \".devlibs\"], timeout_s=600)"
  [ "$total" -lt $((64 * 1048576)) ] || { echo "OVER 64 MiB: carry less"; return 1; }
}

device_run() {
  local what=${1:-all}
  mkdir -p "$OUT"
  cd "$ROOT" || exit 1
  exec > >(tee -a "$OUT/device-run.log") 2>&1
  probe | tee "$OUT/device.txt"
  echo "== library paths" | tee -a "$OUT/device.txt"
  # in this shell (not a pipeline's subshell): it exports LD_LIBRARY_PATH
  setup_paths > >(tee -a "$OUT/device.txt") 2>&1 ||
    echo "WARNING: unresolved libraries (see above); tests will fail to start"
  local rc=0
  case "$what" in
    probe) ;;
    gpu) run_ctest || rc=1 ;;
    bench) run_bench || rc=1; run_bench_fid || rc=1 ;;
    benchfid) run_bench_fid || rc=1 ;;
    all) run_ctest || rc=1; run_bench || rc=1; run_bench_fid || rc=1 ;;
    check) run_check || rc=1 ;;
    *) die "unknown mode '$what' (probe, gpu, bench, benchfid, all, check)" ;;
  esac
  echo "device-run: done (exit $rc)"
  return $rc
}

case "${1:-}" in
  pack) pack ;;
  _stage) # one stage of `run check`, in a fresh shell under `timeout` (run_check)
    cd "$ROOT" || exit 1
    mkdir -p "$OUT"
    stage_run "$2" ;;
  check) # here: check --dry-run (what `run check` carries and runs); the run itself is `run check`
    [ "${2:-}" = --dry-run ] || die "usage: tools/device-run.sh check --dry-run (the device call is 'run check')"
    dry_run ;;
  run) shift; device_run "$@" ;;
  env) # set up the library paths quietly, then run a command: tools/device-run.sh env CMD ARGS...
    shift
    cd "$ROOT" || exit 1
    setup_paths >/dev/null 2>&1 || setup_paths
    exec "$@" ;;
  *)
    sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
