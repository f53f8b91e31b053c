# The FID math backends (host/fid/math_backend.h) and the FID routes on them (host/fid/fid_many.h):
#  fid_math_ops      every op of every backend present against independent references (CPU
#                    always; the cuda backend too when this machine has one)
#  gpu_fid_math_ops  the cuda backend alone; label gpu, exit 77 (skipped) without GPU math
# Tolerances are explained at the top of tests/test_math_ops.c.
cs_add_c_test(test_math_ops ${CMAKE_CURRENT_SOURCE_DIR}/test_math_ops.c)
add_test(NAME fid_math_ops COMMAND test_math_ops)
set_tests_properties(fid_math_ops PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME gpu_fid_math_ops COMMAND test_math_ops --gpu-only)
set_tests_properties(gpu_fid_math_ops PROPERTIES SKIP_RETURN_CODE 77 LABELS gpu TIMEOUT 300)
