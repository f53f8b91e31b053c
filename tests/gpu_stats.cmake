# GPU statistics, Fréchet distances, KID and pixel metrics (kernels/cuda_{stats,fid,metrics}.cu)
# against the CPU code they mirror. Label `gpu`; each program exits 77 (skipped, never "passed")
# in a build without CUDA or on a machine without a CUDA device. Tolerances are explained at the
# top of each source.
#
# Static-archive caveat: callers reference the GPU functions weakly (host/gpu_math.h), and the
# linker never extracts an archive member for a weak reference, so these programs force one
# symbol of each CUDA object in with --undefined (in a CUDA build only).
set(CS_GPU_LINK_ANCHORS cs_cuda_device_count cs_gpu_open cs_gpu_fid_ref_init cs_gpu_kid_compute)

foreach(t test_gpu_stats test_gpu_stats_fid test_gpu_stats_metrics)
  cs_add_c_test(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
  if(COPYSCOPE_HAVE_CUDA)
    foreach(sym ${CS_GPU_LINK_ANCHORS})
      target_link_options(${t} PRIVATE "LINKER:--undefined=${sym}")
    endforeach()
  endif()
endforeach()

add_test(NAME gpu_stats COMMAND test_gpu_stats)
add_test(NAME gpu_stats_fid COMMAND test_gpu_stats_fid)
add_test(NAME gpu_stats_metrics COMMAND test_gpu_stats_metrics)
set_tests_properties(gpu_stats gpu_stats_fid gpu_stats_metrics PROPERTIES
                     LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
