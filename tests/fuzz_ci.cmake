# libFuzzer targets of the file readers (issue 20; tests/fuzz): fuzz_npz, fuzz_h5, fuzz_json, fuzz_safetensors
# and fuzz_image_formats (the image decoders, WebP/TIFF/BMP seeds; issue 21), run
# for a fixed budget (20 s each) on the seeds of tests/fuzz_seeds.py, after replaying the saved
# reproducers in tests/fuzz/regress; any finding fails. tests/fuzz_ci.sh configures and builds
# them with clang in build/fuzz (only those targets, ~20 s on 2 cores); skipped without clang.
# The longer runs (fuzz_image, fuzz_weights and these for minutes) are done by hand.
add_test(NAME fuzz_smoke
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_ci.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR} ${CS_PYTHON} 20)
set_tests_properties(fuzz_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE LABELS fuzz)
