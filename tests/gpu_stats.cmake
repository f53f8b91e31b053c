# GPU statistics, Fréchet distances, KID and pixel metrics (kernels/cuda_{stats,fid,metrics}.cu)
# against the CPU code they mirror. Label `gpu`; each program exits 77 (skipped, never "passed")
# in a build without CUDA or on a machine without a CUDA device. Tolerances are explained at the
# top of each source.

foreach(t test_gpu_stats test_gpu_stats_fid test_gpu_stats_metrics)
  cs_add_c_test(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
endforeach()

add_test(NAME gpu_stats COMMAND test_gpu_stats)
add_test(NAME gpu_stats_fid COMMAND test_gpu_stats_fid)
add_test(NAME gpu_stats_metrics COMMAND test_gpu_stats_metrics)
set_tests_properties(gpu_stats gpu_stats_fid gpu_stats_metrics PROPERTIES
                     LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
