#!/bin/sh
# cuda_preprocess_no_contraction: nvcc contracts nothing in the bit-exact preprocessing kernel.
# kernels/cuda_preprocess.cu is built with -fmad=false (CMakeLists.txt) and writes every
# floating-point step as an explicitly rounded intrinsic. This compiles it to PTX for sm_80 with
# -fmad=true and with -fmad=false and requires (1) the same PTX, and (2) an explicit rounding
# modifier on every float add/sub/mul/fma/div in it: ptxas never fuses instructions that carry
# one (PTX ISA: mul/add with .rn are not contracted), so the SASS cannot contract either. The
# kernel therefore equals the host code (host/net/preprocess.c) whatever the flag.
# Exit 77 (skipped) without nvcc.
#   cuda_fmad.sh NVCC SOURCE INCLUDE_DIRS...
nvcc=$1 src=$2
shift 2
[ -x "$nvcc" ] || { echo "skip: no nvcc at $nvcc"; exit 77; }
inc=
for d in "$@"; do inc="$inc -I$d"; done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for f in true false; do
  # shellcheck disable=SC2086
  "$nvcc" -ptx -O3 -arch=sm_80 -fmad=$f $inc -o "$tmp/$f.ptx" "$src" || { echo "FAIL: nvcc -fmad=$f"; exit 1; }
done
cmp -s "$tmp/true.ptx" "$tmp/false.ptx" || { echo "FAIL: -fmad changes the PTX:"; diff "$tmp/true.ptx" "$tmp/false.ptx" | head -20; exit 1; }
ops=$(grep -E '^\s*(add|sub|mul|fma|mad|div)\.[a-z0-9.]*f(32|64)' "$tmp/true.ptx" | awk '{print $1}')
n=$(printf '%s\n' "$ops" | grep -c .)
bad=$(printf '%s\n' "$ops" | grep -v -E '\.(rn|rz|rm|rp)\.' | sort | uniq -c)
[ "$n" -gt 0 ] || { echo "FAIL: no float instruction found in the PTX (parser out of date?)"; exit 1; }
[ -z "$bad" ] || { echo "FAIL: float instructions without explicit rounding (contractible):"; echo "$bad"; exit 1; }
echo "ok: -fmad=true and -fmad=false give the same PTX; all $n float instructions carry an explicit rounding modifier:"
printf '%s\n' "$ops" | sort | uniq -c
