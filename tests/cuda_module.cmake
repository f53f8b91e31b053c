# The CUDA module (host/net/cuda_api.h, host/net/cuda_module.c): loaded at run time, never linked.
#
#  cuda_module_missing      COPYSCOPE_CUDA_MODULE=/nonexistent: "cuda" is exit-2 class with the
#                           loader's reason, "auto" the CPU with a notice, GPU math refused cleanly
#  cuda_module_default      no override: no NVIDIA device node -> nothing loaded (fast start)
#  cuda_module_cli          the same through the CLI: features --device auto works (notice),
#                           --device cuda exits 2 with one line naming the reason
#  cuda_module_load         (CUDA builds) the built module loads, its table is complete, errors
#                           raised inside it reach the program's cs_last_error()
#  cuda_module_symbols      (CUDA builds) it exports exactly cs_cuda_module_api, and every host
#                           function it needs is in CS_CUDA_MODULE_HOST_SYMBOLS (CMakeLists.txt),
#                           which every program links and exports
#  cuda_module_programs     (CUDA builds) the programs do not link any CUDA library
cs_add_c_test(test_cuda_module ${CMAKE_CURRENT_SOURCE_DIR}/test_cuda_module.c)
add_test(NAME cuda_module_missing COMMAND test_cuda_module missing)
add_test(NAME cuda_module_default COMMAND test_cuda_module default)
set_tests_properties(cuda_module_missing cuda_module_default PROPERTIES TIMEOUT 60)

add_test(NAME cuda_module_cli
         COMMAND sh -c "rm -rf $1 && mkdir -p $1/img && for i in 0 1; do \
                          { printf 'P6\\n40 40\\n255\\n'; head -c 4800 /dev/urandom; } > $1/img/im$i.ppm; done; \
                        export COPYSCOPE_CUDA_MODULE=/nonexistent/libcopyscope_cuda.so; \
                        out=$($0 features $1/img --out $1/a.h5 --weights $2 --no-cache --dims 64 --device auto 2>&1); \
                        rc=$?; echo \"auto -> exit $rc: $out\"; [ $rc -eq 0 ] || exit 1; \
                        case \"$out\" in *'device auto: the CUDA module could not be loaded'*'using the CPU'*) ;; *) exit 1;; esac; \
                        out=$($0 features $1/img --out $1/b.h5 --weights $2 --no-cache --dims 64 --device cuda 2>&1); \
                        rc=$?; echo \"cuda -> exit $rc: $out\"; [ $rc -eq 2 ] || exit 1; \
                        [ $(printf '%s\\n' \"$out\" | wc -l) -eq 1 ] || exit 1; \
                        case \"$out\" in *'could not be loaded'*) ;; *) exit 1;; esac; [ ! -e $1/b.h5 ]"
                 ${CS_CLI} ${CS_TESTDATA}/cuda-module-cli ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(cuda_module_cli PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 120)

if(COPYSCOPE_HAVE_CUDA)
  add_test(NAME cuda_module_load COMMAND test_cuda_module load $<TARGET_FILE:copyscope_cuda>)
  set_tests_properties(cuda_module_load PROPERTIES TIMEOUT 120)
  string(REPLACE ";" " " CS_HOST_SYMS "${CS_CUDA_MODULE_HOST_SYMBOLS}")
  add_test(NAME cuda_module_symbols
           COMMAND sh -c "exp=$(nm -D --defined-only \"$0\" | awk '$2 == \"T\" {print $3}'); \
                          echo \"exported: $exp\"; [ \"$exp\" = cs_cuda_module_api ] || exit 1; \
                          for s in $(nm -D --undefined-only \"$0\" | awk '{print $2}' | grep '^cs_'); do \
                            case \" $1 \" in *\" $s \"*) ;; *) echo \"needs $s, not in CS_CUDA_MODULE_HOST_SYMBOLS\"; exit 1;; esac; \
                          done; echo ok"
                   $<TARGET_FILE:copyscope_cuda> "${CS_HOST_SYMS}")
  add_test(NAME cuda_module_programs
           COMMAND sh -c "for p in \"$@\"; do if ldd \"$p\" | grep -E 'libcuda|libcublas|libcusolver|libcudnn'; then \
                            echo \"$p links CUDA\"; exit 1; fi; done; echo ok" sh ${CS_CLI} $<TARGET_FILE:test_cuda_module>)
  set_tests_properties(cuda_module_symbols cuda_module_programs PROPERTIES TIMEOUT 60)
  # cuda_module_archs: SASS for every real architecture and PTX for every virtual one of
  # CMAKE_CUDA_ARCHITECTURES in every kernel file (tests/cuda_archs.sh; skipped without cuobjdump:
  # the toolkit's, -DCS_CUOBJDUMP=PATH, $CUOBJDUMP, or the PyPI wheel nvidia-cuda-cuobjdump)
  file(GLOB CS_CUOBJDUMP_WHEEL_BINS /opt/copyscope-tools/cuobjdump/nvidia/*/bin) # tools/install-deps.sh
  find_program(CS_CUOBJDUMP cuobjdump HINTS ${CUDAToolkit_BIN_DIR} /usr/local/cuda/bin ${CS_CUOBJDUMP_WHEEL_BINS}
               ENV CUDA_HOME PATH_SUFFIXES bin)
  if(NOT CS_CUOBJDUMP)
    set(CS_CUOBJDUMP cuobjdump) # the script looks on PATH and at $CUOBJDUMP, else skips
  endif()
  add_test(NAME cuda_module_archs COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cuda_archs.sh $<TARGET_FILE:copyscope_cuda>
                                          ${CS_CUOBJDUMP} "${CMAKE_CUDA_ARCHITECTURES}")
  set_tests_properties(cuda_module_archs PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
  # cuda_preprocess_no_contraction: the bit-exact preprocessing kernel's PTX is the same with
  # -fmad=true and -fmad=false and every float op in it is explicitly rounded (tests/cuda_fmad.sh)
  add_test(NAME cuda_preprocess_no_contraction
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cuda_fmad.sh ${CMAKE_CUDA_COMPILER}
                   ${PROJECT_SOURCE_DIR}/kernels/cuda_preprocess.cu ${PROJECT_SOURCE_DIR}/include
                   ${PROJECT_SOURCE_DIR}/host ${PROJECT_SOURCE_DIR}/kernels)
  set_tests_properties(cuda_preprocess_no_contraction PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()

# cuda_calls_checked (any build; reads kernels/ only): every cuda*/cublas*/cusolver*/cudnn* call
# has its status checked or, on a release path, cleared (kernels/cuda_release.cuh), so no error
# is left for the next launch check to charge to the wrong op (tests/cuda_calls_lint.py)
file(GLOB CS_KERNEL_SOURCES ${PROJECT_SOURCE_DIR}/kernels/*.cu ${PROJECT_SOURCE_DIR}/kernels/*.cuh)
add_test(NAME cuda_calls_checked COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cuda_calls_lint.py ${CS_KERNEL_SOURCES})
set_tests_properties(cuda_calls_checked PROPERTIES TIMEOUT 60)

# cuda_bounds (any build): the cuda backend's host-side rules: the batch bound from the network's
# largest activation and the device memory (host/net/inception_arch.c), and which cuDNN statuses
# are refusals and which are descriptor errors (kernels/cudnn_status_class.h)
cs_add_c_test(test_cuda_bounds ${CMAKE_CURRENT_SOURCE_DIR}/test_cuda_bounds.c)
target_include_directories(test_cuda_bounds PRIVATE ${PROJECT_SOURCE_DIR}/kernels)
add_test(NAME cuda_bounds COMMAND test_cuda_bounds)
set_tests_properties(cuda_bounds PROPERTIES TIMEOUT 60)
