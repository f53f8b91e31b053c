#!/bin/sh
# cuda_module_archs: the CUDA module carries SASS for every architecture CMake was asked for and
# PTX for the virtual ones (CMAKE_CUDA_ARCHITECTURES, CMakeLists.txt), in every one of its
# kernel files. Exit 77 (skipped) without cuobjdump or without a CUDA build.
#   cuda_archs.sh MODULE CUOBJDUMP "80-real;86-real;89-real;90-real;90-virtual"
# cuobjdump: the CUDA toolkit's, $CUOBJDUMP, or the PyPI wheel nvidia-cuda-cuobjdump
# (pip install --no-deps --target DIR nvidia-cuda-cuobjdump; DIR/nvidia/cu13/bin/cuobjdump).
mod=$1 tool=${CUOBJDUMP:-$2} archs=$3
[ -f "$mod" ] || { echo "skip: no CUDA module at $mod (a build without CUDA)"; exit 77; }
if [ ! -x "$tool" ]; then tool=$(command -v cuobjdump 2>/dev/null) || tool=; fi
[ -n "$tool" ] && [ -x "$tool" ] || { echo "skip: no cuobjdump (set CUOBJDUMP=PATH)"; exit 77; }
elf=$("$tool" --list-elf "$mod") || { echo "FAIL: $tool --list-elf $mod"; exit 1; }
ptx=$("$tool" --list-ptx "$mod") || { echo "FAIL: $tool --list-ptx $mod"; exit 1; }
echo "$elf"; echo "$ptx"
# kernel files = the distinct prefixes of the cubins ("cuda_fid.sm_90.cubin" -> cuda_fid)
files=$(printf '%s\n' "$elf" | sed -n 's/.*: *\([A-Za-z0-9_]*\)\.sm_[0-9a-z]*\.cubin$/\1/p' | sort -u)
[ -n "$files" ] || { echo "FAIL: no cubin in $mod"; exit 1; }
fail=0
for a in $(printf '%s' "$archs" | tr ';' ' '); do
  num=${a%%-*} kind=${a#*-}
  [ "$kind" = "$a" ] && kind=both # "90" = real + virtual
  for f in $files; do
    if [ "$kind" = real ] || [ "$kind" = both ]; then
      printf '%s\n' "$elf" | grep -q ": *$f\.sm_$num\.cubin\$" || { echo "FAIL: no sm_$num SASS for $f"; fail=1; }
    fi
    if [ "$kind" = virtual ] || [ "$kind" = both ]; then
      printf '%s\n' "$ptx" | grep -q ": *$f\.sm_$num\.ptx\$" || { echo "FAIL: no compute_$num PTX for $f"; fail=1; }
    fi
  done
done
[ $fail -eq 0 ] && echo "ok: every kernel file has SASS/PTX for $archs"
exit $fail
