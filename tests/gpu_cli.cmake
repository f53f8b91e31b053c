# The FID math on the GPU through the CLI (fid and audit with --device cuda) against --device cpu
# (tests/gpu_cli.py). Label gpu; skipped (77) without a CUDA build and GPU.
add_test(NAME gpu_cli_fid COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gpu_cli.py ${CS_CLI}
                                  ${CS_TESTDATA}/gpu-cli)
set_tests_properties(gpu_cli_fid PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 600)
