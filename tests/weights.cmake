# FID Inception weights loader: restricted pickle interpreter, torch legacy + zip formats,
# validation, discovery, CLI. References: Python's pickle (restricted) and torch.load (torch 1.13).
cs_add_c_test(test_weights ${CMAKE_CURRENT_SOURCE_DIR}/test_weights.c)

set(CS_WREF ${CMAKE_CURRENT_SOURCE_DIR}/weights_ref.py)
set(CS_WDATA ${CS_TESTDATA}/weights)
set(CS_WFIX ${CS_SHARED}/fixtures/pt_inception-2015-12-05-truncated.pth)

# Test files written by PyTorch and by hand (about 5 s, 420 MB in ${CS_WDATA}).
add_test(NAME weights_gen COMMAND ${CS_PYTHON} ${CS_WREF} gen --seed 1 --outdir ${CS_WDATA})
set_tests_properties(weights_gen PROPERTIES FIXTURES_SETUP weights_data TIMEOUT 300)

# (a) the genuine, truncated official file (skipped when ../shared is absent)
add_test(NAME weights_fixture_header COMMAND test_weights fixture ${CS_WFIX})
add_test(NAME weights_fixture_vs_python
         COMMAND ${CS_PYTHON} ${CS_WREF} check-header --bin $<TARGET_FILE:test_weights> ${CS_WFIX})
add_test(NAME weights_fixture_cli
         COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 2 --skip-if-absent ${CS_WFIX}
                 --match "truncated: 818371 of 95628359 bytes" ${CS_WFIX})
add_test(NAME weights_fixture_cli_list
         COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 2 --skip-if-absent ${CS_WFIX}
                 --match "Mixed_7c.branch3x3_2a.conv.weight	float32	(384, 384, 1, 3)"
                 --match "fc.weight	float32	(1008, 2048)" --match "truncated" --list ${CS_WFIX})
set_tests_properties(weights_fixture_header weights_fixture_vs_python weights_fixture_cli
                     weights_fixture_cli_list PROPERTIES SKIP_RETURN_CODE 77)

# (b) files written by torch.save (legacy and zip) and by hand (legacy, long = 4 and 8, pickle
# protocols 4 and 5, shuffled storages, shared storage with offsets): values equal torch.load's
# exactly (SHA-256 of every tensor's bytes), file SHA-256 equals hashlib's.
add_test(NAME weights_torch_files COMMAND test_weights ref ${CS_WDATA} w.ref 0)
add_test(NAME weights_shared_storage COMMAND test_weights ref ${CS_WDATA} shared.ref 0)
add_test(NAME weights_small_any_model COMMAND test_weights ref ${CS_WDATA} small.ref any)
add_test(NAME weights_zip_deflated COMMAND test_weights ref ${CS_WDATA} small-deflate.ref any)
add_test(NAME weights_noncontiguous COMMAND test_weights expect ${CS_WDATA}/small-nc.pth ok "" any)
add_test(NAME weights_cli_ok
         COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 0 --sha-of ${CS_WDATA}/w-legacy.pth
                 --match "tensors:    566" --match "parameters: 23885392 float32"
                 --match "format:     torch legacy, long = 4 bytes" --match "official:   no"
                 ${CS_WDATA}/w-legacy.pth)
add_test(NAME weights_cli_json
         COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 0 --sha-of ${CS_WDATA}/w-zip.pth
                 --match "\"format\":\t\"torch zip\"" --match "\"tensors\":\t566"
                 --match "\"parameters\":\t23885392" --json ${CS_WDATA}/w-zip.pth)
add_test(NAME weights_cli_discovery
         COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 0 --match "w-long4.pth"
                 --match "torch legacy, long = 4 bytes")
set_tests_properties(weights_cli_discovery PROPERTIES ENVIRONMENT
                     "COPYSCOPE_WEIGHTS=${CS_WDATA}/w-long4.pth;TORCH_HOME=${CS_WDATA}/none")
add_test(NAME weights_cli_not_found
         COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 2 --match "not found"
                 --match "${CS_WDATA}/none/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth"
                 --match "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/")
set_tests_properties(weights_cli_not_found PROPERTIES ENVIRONMENT
                     "COPYSCOPE_WEIGHTS=;TORCH_HOME=${CS_WDATA}/none;HOME=${CS_WDATA}/none;XDG_CACHE_HOME=")
add_test(NAME weights_discover COMMAND test_weights discover ${CMAKE_CURRENT_BINARY_DIR}/weights-discover)

# (c) another model, wrong shapes/dtypes, truncation: exit 2 with the right message
function(cs_weights_cli_fail name file)
  add_test(NAME weights_cli_${name}
           COMMAND ${CS_PYTHON} ${CS_WREF} cli-expect --cli ${CS_CLI} --rc 2 ${ARGN} ${CS_WDATA}/${file})
  set_tests_properties(weights_cli_${name} PROPERTIES FIXTURES_REQUIRED weights_data)
endfunction()
cs_weights_cli_fail(extra extra-aux.pth --match "unexpected tensor AuxLogits.fc.weight")
cs_weights_cli_fail(missing missing.pth --match "missing tensor Mixed_6e.branch_pool.bn.running_var")
cs_weights_cli_fail(shape shape-fc.pth --match "shape of fc.weight is (1000, 2048), expected (1008, 2048)")
cs_weights_cli_fail(dtype double.pth --match "fc.bias has dtype float64, expected float32")
cs_weights_cli_fail(trunc_legacy trunc-legacy.pth --match-file ${CS_WDATA}/trunc-legacy.expect)
cs_weights_cli_fail(trunc_zip trunc-zip.pth --match "truncated")
# (d) hostile pickles: refused before anything runs (the payload would create PWNED)
foreach(evil system-legacy system-zip loadbytes-zip sysinfo-legacy)
  cs_weights_cli_fail(evil_${evil} evil-${evil}.pth --match "forbidden global" --no-file ${CS_WDATA}/PWNED)
endforeach()
add_test(NAME weights_zip_crc COMMAND test_weights expect ${CS_WDATA}/crc-zip.pth format "CRC error" any)
add_test(NAME weights_mutate COMMAND test_weights mutate ${CS_WDATA})

set_tests_properties(weights_torch_files weights_shared_storage weights_small_any_model
                     weights_zip_deflated weights_noncontiguous weights_cli_ok weights_cli_json
                     weights_cli_discovery weights_cli_not_found weights_zip_crc weights_mutate
                     PROPERTIES FIXTURES_REQUIRED weights_data)

# (e) libFuzzer target (clang): cmake -DCOPYSCOPE_FUZZ=ON -DCMAKE_C_COMPILER=clang
if(COPYSCOPE_FUZZ)
  add_executable(fuzz_weights ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_weights.c
                 ${PROJECT_SOURCE_DIR}/host/io/weights.c ${PROJECT_SOURCE_DIR}/host/io/pickle.c
                 ${PROJECT_SOURCE_DIR}/host/core/sha256.c ${PROJECT_SOURCE_DIR}/host/core/error.c
                 ${PROJECT_SOURCE_DIR}/host/core/util.c ${PROJECT_SOURCE_DIR}/host/net/inception_arch.c)
  target_include_directories(fuzz_weights PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/host)
  target_compile_definitions(fuzz_weights PRIVATE _GNU_SOURCE)
  target_compile_options(fuzz_weights PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(fuzz_weights PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_weights PRIVATE PkgConfig::LIBZIP OpenSSL::Crypto Threads::Threads m)
endif()
