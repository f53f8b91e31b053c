# Determinism (issue 14): the same numbers whatever --threads / -j, the batch size, and whether
# features were computed or read from the cache, under each of OpenBLAS's x86 kernels that
# Debian's dynamic-arch build can pick (OPENBLAS_CORETYPE forces one; a kernel this processor
# cannot run is skipped with the missing flags named), then the FID math compared across kernels
# (1e-12 relative) and the network features' spread across kernels bounded (tests/determinism.py).
set(CS_DET_WORK ${CS_TESTDATA}/determinism)
set(CS_DET_SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/determinism.py)
set(CS_DET_WEIGHTS ${CS_TESTDATA}/test-weights-seed1.pth)
add_test(NAME determinism_data COMMAND ${CS_PYTHON} ${CS_DET_SCRIPT} data ${CS_CLI} ${CS_DET_WORK} ${CS_DET_WEIGHTS})
set_tests_properties(determinism_data PROPERTIES FIXTURES_SETUP determinism_data FIXTURES_REQUIRED test_weights
                     TIMEOUT 120 LABELS "numeric")
set(CS_DET_RUNS "")
foreach(kernel Haswell SkylakeX Cooperlake Zen)
  add_test(NAME determinism_${kernel}
           COMMAND ${CS_PYTHON} ${CS_DET_SCRIPT} run ${CS_CLI} ${CS_DET_WORK} ${CS_DET_WEIGHTS} ${kernel})
  # OPENBLAS_L2_SIZE unset: some machines set it with a forced core type, and it would then
  # describe another processor than the kernel's.
  set_tests_properties(determinism_${kernel} PROPERTIES FIXTURES_REQUIRED "determinism_data;test_weights"
                       FIXTURES_SETUP determinism_runs ENVIRONMENT "OPENBLAS_CORETYPE=${kernel}"
                       ENVIRONMENT_MODIFICATION "OPENBLAS_L2_SIZE=unset:"
                       SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "numeric;determinism" RESOURCE_LOCK determinism_cpu)
endforeach()
add_test(NAME determinism_kernels COMMAND ${CS_PYTHON} ${CS_DET_SCRIPT} compare ${CS_DET_WORK})
set_tests_properties(determinism_kernels PROPERTIES FIXTURES_REQUIRED determinism_runs SKIP_RETURN_CODE 77
                     TIMEOUT 60 LABELS "numeric;determinism")
