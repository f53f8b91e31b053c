# The Inception network: preprocessing, backend ops and the forward pass vs PyTorch.
#
#  backend_ops              every backend op vs its naive reference (NMSE / exact bounds,
#                           NaN checks, sentinels); CUDA part skipped without a GPU
#  preprocess_ref           fast preprocessing == plain reference, bit for bit, odd sizes
#  network_golden           fixture: tests/network_ref.py writes images + torch goldens
#  network_torch            C decode/preprocess/forward vs torch, dims 64/192/768/2048
#  network_torch_zip        the same from the zip-format copy of the weights
cs_add_c_test(test_backend_ops ${CMAKE_CURRENT_SOURCE_DIR}/test_backend_ops.c)
add_test(NAME backend_ops COMMAND test_backend_ops)
set_tests_properties(backend_ops PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

cs_add_c_test(test_network_preprocess ${CMAKE_CURRENT_SOURCE_DIR}/test_network_preprocess.c)
add_test(NAME preprocess_ref COMMAND test_network_preprocess)
set_tests_properties(preprocess_ref PROPERTIES TIMEOUT 120)

set(CS_NETWORK_GOLDEN ${CS_TESTDATA}/network)
add_test(NAME network_golden
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/network_ref.py
                 --weights ${CS_TESTDATA}/test-weights-seed1.pth --out ${CS_NETWORK_GOLDEN})
set_tests_properties(network_golden PROPERTIES FIXTURES_SETUP network_golden
                     FIXTURES_REQUIRED test_weights TIMEOUT 300)

add_test(NAME fixture_test_weights_zip
         COMMAND ${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_test_weights.py
                 --seed 1 --zip --out ${CS_TESTDATA}/test-weights-seed1-zip.pth)
set_tests_properties(fixture_test_weights_zip PROPERTIES FIXTURES_SETUP test_weights_zip TIMEOUT 300)

cs_add_c_test(test_network ${CMAKE_CURRENT_SOURCE_DIR}/test_network.c)
add_test(NAME network_torch
         COMMAND test_network ${CS_NETWORK_GOLDEN} ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(network_torch PROPERTIES FIXTURES_REQUIRED "test_weights;network_golden"
                     SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME network_torch_zip
         COMMAND test_network ${CS_NETWORK_GOLDEN} ${CS_TESTDATA}/test-weights-seed1-zip.pth)
set_tests_properties(network_torch_zip PROPERTIES FIXTURES_REQUIRED "test_weights_zip;network_golden"
                     SKIP_RETURN_CODE 77 TIMEOUT 300)

# Benchmark driver (not a test): bench/bench_network.py --bin $<TARGET_FILE:bench_features> ...
cs_add_c_test(bench_features ${PROJECT_SOURCE_DIR}/bench/bench_features.c)
