# The kernel lab (bench/kernels/, lab.h): each custom kernel's CPU reference, a check against
# it, then a timing with GB/s (or FLOP/s) beside the peak.
#  kernel_lab_cpu   the CPU half: every reference against the project's CPU code for the op, and
#                   their times (any machine; batch 2 to stay short)
#  gpu_kernel_lab   the GPU half (bench_kernels_cuda, built with the CUDA module in CMakeLists.txt):
#                   the module's kernels launched directly and the GPU math backend, checked and
#                   timed; label gpu, exit 77 without a device (a failure under
#                   COPYSCOPE_REQUIRE_GPU=1, tests/gpu_required.h)
cs_add_c_test(bench_kernels_cpu ${PROJECT_SOURCE_DIR}/bench/kernels/lab_cpu.c)
add_test(NAME kernel_lab_cpu COMMAND bench_kernels_cpu 2)
set_tests_properties(kernel_lab_cpu PROPERTIES TIMEOUT 300)
if(TARGET bench_kernels_cuda)
  add_test(NAME gpu_kernel_lab COMMAND bench_kernels_cuda 8)
  set_tests_properties(gpu_kernel_lab PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
