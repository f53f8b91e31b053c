# GPU tests (ctest -L gpu): the cuda backend on a real device. Each exits 77 (reported as
# skipped, never as passed) when the build has no cuda backend or the machine no CUDA GPU.
# tools/device-run.sh runs them on the lent GPU machine.
#
#  gpu_backend_ops              test_backend_ops --gpu-only: every op of the cuda backend (fp32,
#                               tf32, fp16 convs; pools; preprocessing kernel) vs the references
#  gpu_features                 cuda vs cpu features on the same images and weights (fp32 within
#                               1e-4 of the scale), device preprocessing, chunking, tf32/fp16
#                               deviation, NaN-poisoned buffers
#  gpu_sanitizer                compute-sanitizer memcheck of one batch (fp32 and fp16)
#  gpu_pipeline                 the feature pipeline on the GPU(s) (packed pixels resized on the
#                               device, two batches in flight, every GPU) vs the single-CPU
#                               rows within 1e-4; a forced failing batch and the rerun
add_test(NAME gpu_backend_ops COMMAND test_backend_ops --gpu-only) # target from network.cmake
set_tests_properties(gpu_backend_ops PROPERTIES SKIP_RETURN_CODE 77 LABELS gpu TIMEOUT 300)

cs_add_c_test(test_gpu_features ${CMAKE_CURRENT_SOURCE_DIR}/test_gpu_features.c)
add_test(NAME gpu_features COMMAND test_gpu_features ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(gpu_features PROPERTIES FIXTURES_REQUIRED test_weights SKIP_RETURN_CODE 77
                     LABELS gpu TIMEOUT 600)

find_program(CS_COMPUTE_SANITIZER compute-sanitizer
             HINTS /usr/local/cuda/bin ${CUDAToolkit_BIN_DIR} ENV CUDA_HOME PATH_SUFFIXES bin)
if(NOT CS_COMPUTE_SANITIZER)
  set(CS_COMPUTE_SANITIZER /usr/local/cuda/bin/compute-sanitizer) # the test skips when absent
endif()
add_test(NAME gpu_sanitizer
         COMMAND test_gpu_features --sanitizer ${CS_COMPUTE_SANITIZER} ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(gpu_sanitizer PROPERTIES FIXTURES_REQUIRED test_weights SKIP_RETURN_CODE 77
                     LABELS gpu TIMEOUT 900)

add_test(NAME gpu_pipeline
         COMMAND test_scheduler_pipeline ${CS_TESTDATA}/test-weights-seed1.pth ${CS_TESTDATA}/gpu-pipeline --gpu)
set_tests_properties(gpu_pipeline PROPERTIES FIXTURES_REQUIRED test_weights SKIP_RETURN_CODE 77
                     LABELS gpu TIMEOUT 600)

# gpu_require_no_skip (no label gpu: it runs on every machine without a GPU): every gpu-labelled
# test, run with COPYSCOPE_REQUIRE_GPU=1 (tests/gpu_required.h), fails instead of skipping, and
# skips without it (tests/gpu_require.py; itself skipped on a machine with a GPU device node).
add_test(NAME gpu_require_no_skip COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gpu_require.py
                                          ${CMAKE_CTEST_COMMAND} ${CMAKE_BINARY_DIR})
set_tests_properties(gpu_require_no_skip PROPERTIES FIXTURES_REQUIRED test_weights SKIP_RETURN_CODE 77 TIMEOUT 600)
